//! Every integration test in one test binary: CI builds from clean on two slow cores, where each
//! separate test binary cost its own compilation and link.

mod cli;
mod common;
mod coq_bridge;
mod errors;
mod fixtures;
mod fuzzing;
mod layers;
mod oracle;
mod seed;
mod toeplitz;
mod vectors;
