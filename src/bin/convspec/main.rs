//! `convspec`: the command line of the exact convolution specification.
//!
//! One file per subcommand; argument parsing only, the math lives in the library.

mod common;
mod conv;
mod demo;
mod layers;
mod prove;
mod size;
mod toeplitz;

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
  F.conv_transpose1d/2d/3d                   convspec conv-transpose --input X --weight W [--bias B] --stride --padding --output-padding --dilation --groups
  onnx ConvTranspose (output_shape, auto_pad) convspec conv-transpose ... --output-shape H,W | --auto-pad same-upper|same-lower | --pads
  F.max_pool{1,2,3}d(return_indices=True)    convspec pool max --input X --kernel-size K --stride --padding --dilation --ceil-mode true|false --indices I.npy
  F.avg_pool{1,2,3}d                         convspec pool avg ... --count-include-pad true|false --divisor-override D
  F.adaptive_avg/max_pool{1,2,3}d            convspec pool adaptive-avg|adaptive-max --input X --output-size O
  onnx GlobalAveragePool / GlobalMaxPool     convspec pool global-avg|global-max --input X
  conv2d backward (autograd)                 convspec grad --input X --weight W --grad-output G [flags] --grad-input --grad-weight --grad-bias
  F.unfold / F.fold                          convspec unfold --input X --kernel-size K | convspec fold --input C --output-size H,W --kernel-size K
  scipy.linalg.convolution_matrix(a, n, mode) convspec toeplitz --op convolve --kernel a.npy --input-shape n --mode full|same|valid (n >= len(a))
  the seed's doubly block Toeplitz matrix    convspec toeplitz --symbolic --kernel-shape 2,2 --input-shape 3,3 --mode full [--format latex]

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
    /// Transposed convolution (PyTorch conv_transpose1d/2d/3d, ONNX ConvTranspose).
    #[command(after_help = MAPPING)]
    ConvTranspose(layers::TransposeArgs),
    /// Pooling: max, avg, adaptive-avg, adaptive-max, global-avg, global-max.
    #[command(after_help = MAPPING)]
    Pool(layers::PoolArgs),
    /// Gradients of the correlation layer (conv2d backward): dL/dx, dL/dw, dL/db.
    #[command(after_help = MAPPING)]
    Grad(layers::GradArgs),
    /// im2col: torch.nn.functional.unfold.
    #[command(after_help = MAPPING)]
    Unfold(layers::UnfoldArgs),
    /// col2im: torch.nn.functional.fold.
    #[command(after_help = MAPPING)]
    Fold(layers::UnfoldArgs),
    /// An operator as an explicit matrix A with A vec(x) = vec(op(x)): numeric or symbolic (k_{ij}), as text, LaTeX or .npy.
    #[command(after_help = MAPPING)]
    Toeplitz(toeplitz::ToeplitzArgs),
    /// Symbolic proofs of the laws for every shape up to --bound (a table of what was proved).
    Prove(prove::ProveArgs),
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
        Command::ConvTranspose(args) => layers::run_transpose(args),
        Command::Pool(args) => layers::run_pool(args),
        Command::Grad(args) => layers::run_grad(args),
        Command::Unfold(args) => layers::run_unfold(args, false),
        Command::Fold(args) => layers::run_unfold(args, true),
        Command::Toeplitz(args) => toeplitz::run(args),
        Command::Prove(args) => match prove::run(args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
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
