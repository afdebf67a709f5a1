//! `convspec size`.

use crate::args::{get_path, get_text, path, text};
use crate::common::GeometryArgs;
use clap::{ArgMatches, Command};
use convspec::geometry::parse::{parse_bool, parse_list};
use convspec::geometry::stack::{analyse_stack, parse_stack_json, parse_stack_text};
use convspec::geometry::ConvShape;
use std::path::PathBuf;

/// A layer given by its shapes, or a stack of layers given in a file.
#[derive(Debug)]
pub struct SizeArgs {
    input_shape: Option<String>,
    weight_shape: Option<String>,
    bias: Option<String>,
    geometry: GeometryArgs,
    stack: Option<PathBuf>,
}

impl SizeArgs {
    /// Adds the flags of `size` to a subcommand.
    pub fn define(cmd: Command) -> Command {
        let cmd = cmd.args([
            text("input-shape", "Input shape N,C_in,spatial... (one layer).")
                .required_unless_present("stack"),
            text(
                "weight-shape",
                "Weight shape C_out,C_in/groups,k... (one layer).",
            )
            .required_unless_present("stack"),
            text(
                "bias",
                "Whether the layer has a bias: true | false (PyTorch's default true).",
            ),
        ]);
        GeometryArgs::define(cmd).arg(
            path("stack", "A stack of layers: text (`input 1,3,224,224` then `conv out_channels=64 kernel=7 stride=2 padding=3` ... one layer a line) or JSON (.json).")
                .conflicts_with_all(["input-shape", "weight-shape", "bias"]),
        )
    }

    /// The flags given.
    pub fn from_matches(m: &ArgMatches) -> Self {
        SizeArgs {
            input_shape: get_text(m, "input-shape"),
            weight_shape: get_text(m, "weight-shape"),
            bias: get_text(m, "bias"),
            geometry: GeometryArgs::from_matches(m),
            stack: get_path(m, "stack"),
        }
    }
}

/// Runs the subcommand.
pub fn run(args: SizeArgs) -> Result<(), String> {
    if let Some(path) = &args.stack {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let stack = if path.extension().is_some_and(|e| e == "json") {
            parse_stack_json(&text)
        } else {
            parse_stack_text(&text)
        }
        .map_err(|e| format!("{}: {e}", path.display()))?;
        let reports = analyse_stack(&stack).map_err(|e| format!("{}: {e}", path.display()))?;
        println!(
            "{:<4} {:<9} {:<24} {:>12} {:>16}  receptive field (size/jump/start per dim)",
            "#", "layer", "output shape", "parameters", "MACs"
        );
        println!(
            "{:<4} {:<9} {:<24}",
            "0",
            "input",
            format!("{:?}", stack.input)
        );
        for (i, r) in reports.iter().enumerate() {
            let rf: Vec<String> = r
                .receptive_field
                .iter()
                .map(|f| format!("{}/{}/{}", f.size, f.jump, f.start))
                .collect();
            println!(
                "{:<4} {:<9} {:<24} {:>12} {:>16}  {}",
                i + 1,
                r.name,
                format!("{:?}", r.output_shape),
                r.parameters,
                r.macs,
                rf.join(" ")
            );
        }
        let params: u64 = reports.iter().map(|r| r.parameters).sum();
        let macs: u64 = reports.iter().map(|r| r.macs).sum();
        println!("total parameters {params}, total MACs {macs}");
        return Ok(());
    }
    let input = parse_list(
        "--input-shape",
        args.input_shape.as_deref().unwrap_or_default(),
    )
    .map_err(|e| e.to_string())?;
    let weight = parse_list(
        "--weight-shape",
        args.weight_shape.as_deref().unwrap_or_default(),
    )
    .map_err(|e| e.to_string())?;
    let bias = args
        .bias
        .as_deref()
        .map(|b| parse_bool("--bias", b))
        .transpose()
        .map_err(|e| e.to_string())?
        .unwrap_or(true);
    let rank = weight.len().checked_sub(2).filter(|r| *r >= 1).ok_or_else(|| format!("--weight-shape {weight:?}: expected C_out,C_in/groups,k... with at least one spatial dimension"))?;
    let geometry = args.geometry.geometry(rank)?;
    let shape = ConvShape::new(&input, &weight, None, &geometry).map_err(|e| e.to_string())?;
    let pads: Vec<String> = shape
        .dims
        .iter()
        .map(|d| format!("({}, {})", d.pad_begin, d.pad_end))
        .collect();
    println!(
        "output shape      {:?}",
        shape.output_shape().map_err(|e| e.to_string())?
    );
    println!("padding (b, e)    {}", pads.join(" "));
    println!(
        "parameters        {} ({} weights{})",
        shape.parameter_count(bias).map_err(|e| e.to_string())?,
        shape.parameter_count(false).map_err(|e| e.to_string())?,
        if bias {
            format!(" + {} biases", shape.out_channels)
        } else {
            String::new()
        }
    );
    println!(
        "MACs              {}",
        shape.macs().map_err(|e| e.to_string())?
    );
    println!(
        "reduction length  {} (C_in/groups * prod(k))",
        shape.reduction_length()
    );
    Ok(())
}
