//! Operators as values: one type per family that owns its parameters, its names, its exact
//! evaluation and its oracle reference, so that the command line, the checks and other callers
//! dispatch on it instead of each keeping its own match (tract's ops, one struct an op).

pub mod conv;
pub mod pool;

pub use conv::{Conv, ConvGradients, ConvTranspose};
pub use pool::{Pool, Pooled};
