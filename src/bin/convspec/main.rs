//! `convspec`: the command line of the exact convolution specification.
//!
//! One file per subcommand; argument parsing only, the math lives in the library.

mod common;
mod conv;
mod demo;
mod size;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

const MAPPING: &str = "\
Mapping to other libraries (every result is exact; .npy outputs are correctly rounded):
  torch.nn.functional.conv1d/conv2d/conv3d   convspec correlate --input X --weight W [--bias B] --stride --padding --dilation --groups
  torch.nn.Conv2d(..., padding_mode=M)       convspec correlate ... --padding-mode zeros|reflect|replicate|circular
  onnx Conv (pads, auto_pad)                 convspec correlate ... --pads b1,b2,e1,e2 | --auto-pad same-upper|same-lower
  true convolution (kernel flipped)          convspec convolve ... (same flags as correlate)
  np.convolve(a, v, mode)                    convspec convolve --input a.npy --weight v.npy --mode full|same|valid
  np.correlate(a, v, mode)                   convspec correlate --input a.npy --weight v.npy --mode full|same|valid
  scipy.signal.convolve/correlate(in1, in2)  convspec convolve|correlate --input in1 --weight in2 --mode M --library scipy
                                             (N-D arrays of rank > 1 use SciPy's rules without --library)
  scipy.signal.convolve2d/correlate2d        convspec convolve|correlate --input in1 --weight in2 --mode M --boundary fill|wrap|symm [--fillvalue V]

Exit codes: 0 success, 2 unusable input (the message names the file or argument).";

#[derive(Parser)]
#[command(name = "convspec", version, about = "The exact, executable specification of the convolutional layer", after_help = MAPPING)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Cross-correlation: what PyTorch, ONNX, JAX and TensorFlow call convolution (no kernel flip).
    #[command(after_help = MAPPING)]
    Correlate(conv::ConvArgs),
    /// True convolution (kernel flipped in every spatial dimension): the seed's operation, np.convolve.
    #[command(after_help = MAPPING)]
    Convolve(conv::ConvArgs),
    /// Output shape, parameter count and multiply-accumulates of a layer or a stack of layers.
    Size(size::SizeArgs),
    /// The seed's worked examples (and where it is wrong) and a small layer, computed exactly.
    Demo,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Correlate(args) => conv::run(args, conv::Operation::Correlate),
        Command::Convolve(args) => conv::run(args, conv::Operation::Convolve),
        Command::Size(args) => size::run(args),
        Command::Demo => demo::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("convspec: error: {message}");
            ExitCode::from(2)
        }
    }
}
