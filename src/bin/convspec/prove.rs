//! `convspec prove`: symbolic proofs of the laws for every shape up to a bound.

use crate::args::{get, given, number, number_u64};
use clap::{ArgMatches, Command};
use convspec::laws::prove::{prove, table};
use std::io::Write;
use std::time::{Duration, Instant};

/// Arguments of `convspec prove`.
#[derive(Debug)]
pub struct ProveArgs {
    bound: usize,
    seconds: Option<u64>,
}

impl ProveArgs {
    /// Adds the flags of `prove` to a subcommand.
    pub fn define(cmd: Command) -> Command {
        cmd.args([
            number("bound", "Largest size parameter (signal and kernel length in 1-D; 2-D squares use half of it): levels 1..=bound are proved.").default_value("4"),
            number_u64("seconds", "Stop after this many seconds (between cases) and report the levels completed."),
        ])
    }

    /// The flags given.
    pub fn from_matches(m: &ArgMatches) -> Self {
        ProveArgs {
            bound: given(m, "bound"),
            seconds: get(m, "seconds"),
        }
    }
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
