//! `convspec vectors`: write the conformance suite for other implementations.

use crate::args::{get_path, path};
use clap::{Arg, ArgAction, ArgMatches, Command};
use convspec::vectors::{suite, write_suite};
use std::path::PathBuf;

/// Arguments of `convspec vectors`.
#[derive(Debug)]
pub struct VectorsArgs {
    out: Option<PathBuf>,
    list: bool,
}

impl VectorsArgs {
    /// Adds the flags of `vectors` to a subcommand.
    pub fn define(cmd: Command) -> Command {
        cmd.args([
            path("out", "Directory to create (must not exist, or be empty): one directory per case and manifest.json.")
                .required_unless_present("list"),
            Arg::new("list")
                .long("list")
                .help("List the cases (name and what each exercises) instead of writing them.")
                .action(ArgAction::SetTrue),
        ])
    }

    /// The flags given.
    pub fn from_matches(m: &ArgMatches) -> Self {
        VectorsArgs {
            out: get_path(m, "out"),
            list: m.get_flag("list"),
        }
    }
}

/// Runs `convspec vectors`.
pub fn run(args: VectorsArgs) -> Result<(), String> {
    let cases = suite();
    if args.list {
        let width = cases.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for case in &cases {
            println!(
                "{:<width$}  {:<19} {}",
                case.name,
                case.layer.operation(),
                case.about
            );
        }
        return Ok(());
    }
    let out = args.out.expect("required unless --list");
    let summary = write_suite(&out, &cases).map_err(|e| e.to_string())?;
    println!(
        "wrote {} cases ({} files) to {}; see {}",
        summary.cases,
        summary.files,
        out.display(),
        out.join("manifest.json").display()
    );
    Ok(())
}
