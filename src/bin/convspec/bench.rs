//! `convspec bench`: the float kernels on the benchmark layers, as a table or JSON lines.

use crate::args::{get_text, text};
use clap::{Arg, ArgAction, ArgMatches, Command};
use convspec::float::bench::{layers, time};
use convspec::float::{Algorithm, FloatEngine};

/// Arguments of `convspec bench`.
#[derive(Debug)]
pub struct BenchArgs {
    threads: Option<String>,
    algorithm: Option<String>,
    dtype: Option<String>,
    shapes: Option<String>,
    runs: Option<String>,
    json: bool,
}

impl BenchArgs {
    /// Adds the flags of `bench` to a subcommand.
    pub fn define(cmd: Command) -> Command {
        cmd.args([
            text("threads", "Thread counts, a comma list (default 1,2)."),
            text("algorithm", "direct | im2col | implicit | winograd | winograd4 | winograd-s2 | fft | all (default: each layer's planned algorithm; winograd only where it applies)."),
            text("dtype", "float32 | float64 | all (default float32)."),
            text("shapes", "Only these layers, a comma list of names (default: every one)."),
            text("runs", "Timed runs per measurement after 3 warm-ups; the median is reported (default 10)."),
            Arg::new("json")
                .long("json")
                .help("One JSON object per line: shape, dtype, algorithm, threads, ms (median), gflops.")
                .action(ArgAction::SetTrue),
        ])
    }

    /// The flags given.
    pub fn from_matches(m: &ArgMatches) -> Self {
        BenchArgs {
            threads: get_text(m, "threads"),
            algorithm: get_text(m, "algorithm"),
            dtype: get_text(m, "dtype"),
            shapes: get_text(m, "shapes"),
            runs: get_text(m, "runs"),
            json: m.get_flag("json"),
        }
    }
}

fn list<T>(
    flag: &str,
    text: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    text.split(',')
        .map(|s| parse(s.trim()).map_err(|e| format!("{flag}: {e}")))
        .collect()
}

/// Runs `convspec bench`.
pub fn run(args: BenchArgs) -> Result<(), String> {
    let threads = list("--threads", args.threads.as_deref().unwrap_or("1,2"), |s| {
        s.parse::<usize>()
            .ok()
            .filter(|&t| t >= 1)
            .ok_or_else(|| format!("invalid thread count '{s}'"))
    })?;
    let algorithms: Vec<Option<Algorithm>> = match args.algorithm.as_deref() {
        None => vec![None],
        Some("all") => Algorithm::ALL.into_iter().map(Some).collect(),
        Some(text) => list("--algorithm", text, |s| s.parse::<Algorithm>().map(Some))?,
    };
    let dtypes: Vec<&str> = match args.dtype.as_deref().unwrap_or("float32") {
        "all" => vec!["float32", "float64"],
        "float32" | "f32" => vec!["float32"],
        "float64" | "f64" => vec!["float64"],
        other => {
            return Err(format!(
                "--dtype: invalid value '{other}': expected float32, float64 or all"
            ))
        }
    };
    let runs = match &args.runs {
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|&r| r >= 1)
            .ok_or_else(|| {
                format!("--runs: invalid value '{text}': expected a positive integer")
            })?,
        None => 10,
    };
    let all = layers();
    let chosen: Vec<_> = match &args.shapes {
        None => all,
        Some(text) => {
            let names: Vec<&str> = text.split(',').map(str::trim).collect();
            if let Some(unknown) = names.iter().find(|n| !all.iter().any(|l| l.name == **n)) {
                let known: Vec<&str> = all.iter().map(|l| l.name).collect();
                return Err(format!(
                    "--shapes: unknown layer '{unknown}' (known: {})",
                    known.join(", ")
                ));
            }
            all.into_iter()
                .filter(|l| names.contains(&l.name))
                .collect()
        }
    };
    if !args.json {
        println!(
            "{:<26} {:<8} {:<11} {:>7} {:>11} {:>9}",
            "shape", "dtype", "algorithm", "threads", "ms (median)", "GFLOP/s"
        );
    }
    // The command's thread works in the pool of the largest thread count, as the calling
    // thread of PyTorch's and ONNX Runtime's thread teams does (one thread runs on it alone).
    if let Some(&most) = threads.iter().filter(|&&t| t > 1).max() {
        convspec::parallel::join_pool(most)?;
    }
    for &t in &threads {
        let engine = FloatEngine::new(t);
        for layer in &chosen {
            for &dtype in &dtypes {
                for &algorithm in &algorithms {
                    if algorithm.is_some_and(|a| !layer.supports(a)) {
                        continue;
                    }
                    let timing = if dtype == "float32" {
                        time(&engine, layer, algorithm, runs, |v| v as f32)
                    } else {
                        time(&engine, layer, algorithm, runs, |v| v)
                    }
                    .map_err(|e| format!("{}: {e}", layer.name))?;
                    if args.json {
                        println!(
                            "{}",
                            serde_json::json!({
                                "engine": format!("convspec {}", env!("CARGO_PKG_VERSION")),
                                "shape": layer.name,
                                "dtype": dtype,
                                "algorithm": timing.algorithm.name(),
                                "threads": t,
                                "ms": (timing.ms * 1e3).round() / 1e3,
                                "gflops": (timing.gflops * 10.0).round() / 10.0,
                            })
                        );
                    } else {
                        println!(
                            "{:<26} {:<8} {:<11} {:>7} {:>11.3} {:>9.1}",
                            layer.name,
                            dtype,
                            timing.algorithm.name(),
                            t,
                            timing.ms,
                            timing.gflops
                        );
                    }
                }
            }
        }
    }
    Ok(())
}
