//! `convspec`: the command line of the exact convolution specification.
//!
//! One file per subcommand; argument parsing only, the math lives in the library.

mod args;
mod bench;
mod check;
mod common;
mod conv;
mod demo;
mod layers;
mod prove;
mod size;
mod toeplitz;
mod vectors;

use clap::{ArgMatches, Command};
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

  check another library's output (oracle)    convspec check --input X --weight W [flags] --candidate Y.npy --precision fp64|fp32|tf32|fp16|bf16 [--round-inputs fp16|bf16] [--algorithm direct|winograd|winograd4|winograd-s2|fft] [--report R.json]
                                             convspec check pool|conv-transpose|grad ... (the flags of that command)
  time the float kernels (f32/f64)           convspec bench [--threads 1,2] [--dtype float32|float64|all] [--algorithm direct|im2col|implicit|winograd|winograd4|winograd-s2|fft|all] [--json]
  conformance suite (as ONNX's node tests)   convspec vectors --out DIR (manifest.json names each case's PyTorch/ONNX/NumPy/SciPy call)

Exit codes: 0 success, 1 a check failed (convspec check, convspec prove), 2 unusable input.
Errors: one line on stderr, `convspec: error: ...`, naming the file, argument or element (multi-index);
no output file is written on error (outputs are written to a temporary file, then renamed); memory
estimated above --memory-limit (default 8G) is refused before allocation. README, \"Errors\", lists every case.";

/// The command line: one subcommand per operation, each defined by its argument group.
fn cli() -> Command {
    // Each subcommand's arguments are defined only when it is the one parsed (or its help is
    // printed): building every subcommand's arguments took 0.1-0.3 ms of each command's start.
    let sub = |name: &'static str, about: &'static str, define: fn(Command) -> Command| {
        Command::new(name)
            .about(about)
            .after_help(MAPPING)
            .defer(define)
    };
    let plain = |name: &'static str, about: &'static str, define: fn(Command) -> Command| {
        Command::new(name).about(about).defer(define)
    };
    Command::new("convspec")
        .version(env!("CARGO_PKG_VERSION"))
        .about("The exact, executable specification of the convolutional layer")
        .after_help(MAPPING)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .arg(
            clap::Arg::new("memory-limit")
                .long("memory-limit")
                .value_name("SIZE")
                .global(true)
                .help("Most memory a command may plan to use (bytes, or with K, M, G, T); inputs, outputs and exact intermediates estimated above it are refused before allocation with exit 2. Default 8G."),
        )
        .subcommands([
            sub("correlate", "Cross-correlation: what PyTorch, ONNX, JAX and TensorFlow call convolution (no kernel flip).", conv::ConvArgs::define),
            sub("convolve", "True convolution (kernel flipped in every spatial dimension): the seed's operation, np.convolve.", conv::ConvArgs::define),
            sub("conv-transpose", "Transposed convolution (PyTorch conv_transpose1d/2d/3d, ONNX ConvTranspose).", layers::TransposeArgs::define),
            sub("pool", "Pooling: max, avg, adaptive-avg, adaptive-max, global-avg, global-max.", layers::PoolArgs::define),
            sub("grad", "Gradients of the correlation layer (conv2d backward): dL/dx, dL/dw, dL/db.", layers::GradArgs::define),
            sub("unfold", "im2col: torch.nn.functional.unfold.", layers::UnfoldArgs::define),
            sub("fold", "col2im: torch.nn.functional.fold.", layers::UnfoldArgs::define),
            sub("toeplitz", "An operator as an explicit matrix A with A vec(x) = vec(op(x)): numeric or symbolic (k_{ij}), as text, LaTeX or .npy.", toeplitz::ToeplitzArgs::define),
            check::command(),
            plain("bench", "Time the float kernels (f32/f64: direct, im2col + GEMM, Winograd F(2x2,3x3) and F(4x4,3x3), FFT) on the ResNet-50, depthwise and 1-D benchmark layers: a table or JSON lines (--json) for side-by-side runs with scripts/anchors.", bench::BenchArgs::define),
            plain("vectors", "Write the conformance suite: per case the inputs (.npy and exact JSON), the exact outputs (JSON) and correctly rounded .npy, and a manifest naming each call in PyTorch, ONNX, NumPy or SciPy.", vectors::VectorsArgs::define),
            plain("prove", "Symbolic proofs of the laws for every shape up to --bound (a table of what was proved).", prove::ProveArgs::define),
            plain("size", "Output shape, parameter count and multiply-accumulates of a layer or a stack of layers.", size::SizeArgs::define),
            Command::new("demo").about("The seed's worked examples (and where it is wrong) and a small layer, computed exactly."),
        ])
}

/// Runs the subcommand that `matches` names.
fn dispatch(name: &str, m: &ArgMatches) -> Result<bool, String> {
    match name {
        "correlate" => conv::run(conv::ConvArgs::from_matches(m), conv::Operation::Correlate),
        "convolve" => conv::run(conv::ConvArgs::from_matches(m), conv::Operation::Convolve),
        "conv-transpose" => layers::run_transpose(layers::TransposeArgs::from_matches(m)),
        "pool" => layers::run_pool(layers::PoolArgs::from_matches(m)),
        "grad" => layers::run_grad(layers::GradArgs::from_matches(m)),
        "unfold" => layers::run_unfold(layers::UnfoldArgs::from_matches(m), false),
        "fold" => layers::run_unfold(layers::UnfoldArgs::from_matches(m), true),
        "toeplitz" => toeplitz::run(toeplitz::ToeplitzArgs::from_matches(m)),
        "prove" => return prove::run(prove::ProveArgs::from_matches(m)),
        "check" => return check::run(m),
        "bench" => bench::run(bench::BenchArgs::from_matches(m)),
        "vectors" => vectors::run(vectors::VectorsArgs::from_matches(m)),
        "size" => size::run(size::SizeArgs::from_matches(m)),
        "demo" => demo::run(),
        other => Err(format!("unknown subcommand '{other}'")),
    }
    .map(|()| true)
}

/// mimalloc commits memory in large steps and keeps freed memory for the next allocation, so
/// the engines' and the oracle's large buffers are not faulted in page by page (see
/// Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's option `mi_option_destroy_on_exit`: its place in `mi_option_t` (mimalloc.h of
/// versions 2 and 3, as built by libmimalloc-sys 0.1.49; the Rust bindings name only the options
/// before it). At 2 or more mimalloc's exit handler returns at once: it no longer frees and
/// returns to the system, page range by page range (`madvise`, a TLB shootdown each), the memory
/// that the process's exit unmaps in one go anyway.
const MI_OPTION_DESTROY_ON_EXIT: libmimalloc_sys::mi_option_t = 22;

fn main() -> ExitCode {
    // SAFETY: sets an integer option of the allocator; read only by its exit handler.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_DESTROY_ON_EXIT, 2) };
    // Usage errors in one line, as every other error (clap prints a usage block); help and
    // version go to standard output with exit 0.
    let matches = match cli().try_get_matches() {
        Ok(matches) => matches,
        Err(error) => {
            use clap::error::ErrorKind;
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = error.print();
                return if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            let text = error.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("convspec: error: {first} (see --help)");
            return ExitCode::from(2);
        }
    };
    let Some((name, sub)) = matches.subcommand() else {
        eprintln!("convspec: error: a subcommand is required (see --help)");
        return ExitCode::from(2);
    };
    if let Some(text) = sub.get_one::<String>("memory-limit") {
        match convspec::limits::parse_size(text) {
            Ok(bytes) => convspec::limits::set_memory_limit(bytes),
            Err(message) => {
                eprintln!("convspec: error: --memory-limit: {message}");
                return ExitCode::from(2);
            }
        }
    }
    // --threads bounds every parallel loop of the command (the oracle's decisions as well as
    // the engine's own pool), not only the engine.
    let threads = [Some(sub), sub.subcommand().map(|(_, m)| m)]
        .into_iter()
        .flatten()
        .find_map(|m| m.try_get_one::<usize>("threads").ok().flatten().copied());
    let count = threads.unwrap_or_else(convspec::parallel::available_threads);
    common::set_threads(count);
    // The command's thread works in the pool of its thread count (`bench` joins its own):
    // the engines and the oracle's parallel loops then start on a worker of that pool,
    // instead of each loop being handed to the global pool while this thread sleeps until it
    // ends (a wake-up per loop on this project's virtual machines).
    let joined = count > 1 && name != "bench" && convspec::parallel::join_pool(count).is_ok();
    // Rayon's global pool of the given size only where no pool was joined: one set of worker
    // threads per command (each started thread costs its start and its allocator's pages).
    if let Some(threads) = threads.filter(|&t| t >= 1 && !joined) {
        // Fails only when a global pool already exists, which nothing here starts earlier.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global();
    }
    match dispatch(name, sub) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("convspec: error: {message}");
            ExitCode::from(2)
        }
    }
}
