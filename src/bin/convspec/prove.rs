//! `convspec prove`: symbolic proofs of the laws for every shape up to a bound.

use clap::Args;
use convspec::laws::prove::{prove, table};
use std::io::Write;
use std::time::{Duration, Instant};

/// Arguments of `convspec prove`.
#[derive(Args, Debug)]
pub struct ProveArgs {
    /// Largest size parameter (signal and kernel length in 1-D; 2-D squares use half of it): levels 1..=bound are proved.
    #[arg(long, default_value_t = 4)]
    bound: usize,
    /// Stop after this many seconds (between cases) and report the levels completed.
    #[arg(long)]
    seconds: Option<u64>,
}

/// Runs `convspec prove`: a progress bar on standard error, the table on standard output.
/// Exit code 1 when a law fails (a counterexample is printed), 0 otherwise.
pub fn run(args: ProveArgs) -> Result<bool, String> {
    if args.bound == 0 {
        return Err("--bound must be at least 1".into());
    }
    let start = Instant::now();
    let deadline = args.seconds.map(|s| start + Duration::from_secs(s));
    let bound = args.bound;
    let rows = prove(bound, deadline, |level, done, total, law| {
        if done == total || done % 25 == 0 {
            let width = 30;
            let filled = done * width / total.max(1);
            eprint!(
                "\rlevel {level}/{bound} [{}{}] {done:>6}/{total:<6} {:<55.55}",
                "#".repeat(filled),
                " ".repeat(width - filled),
                law
            );
            let _ = std::io::stderr().flush();
        }
    });
    eprintln!();
    print!("{}", table(&rows));
    let level = rows.iter().map(|r| r.level).min().unwrap_or(0);
    let cases: usize = rows.iter().map(|r| r.cases).sum();
    println!(
        "levels completed: 1..={level} of {bound}; {cases} cases proved in {:.1} s{}",
        start.elapsed().as_secs_f64(),
        if level < bound {
            " (stopped by --seconds)"
        } else {
            ""
        }
    );
    Ok(rows.iter().all(|r| r.failure.is_none()))
}
