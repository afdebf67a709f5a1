//! `convspec demo`: the seed's examples and a small layer, computed exactly.

use crate::common::render;
use convspec::geometry::{ConvGeometry, Padding};
use convspec::io::{read_npy_bytes, Dtype};
use convspec::reference::correlate;
use convspec::scalar::round_to_f32;
use convspec::seed::findings;
use std::path::Path;

const LAYER_INPUT: &[u8] = include_bytes!("../../../examples/data/layer_x.npy");
const LAYER_WEIGHT: &[u8] = include_bytes!("../../../examples/data/layer_w.npy");
const LAYER_BIAS: &[u8] = include_bytes!("../../../examples/data/layer_b.npy");

/// Runs the demo.
pub fn run() -> Result<(), String> {
    println!("== The seed's worked examples, recomputed exactly ==\n");
    for f in findings() {
        println!(
            "{} {}",
            if f.seed_is_right {
                "[right]"
            } else {
                "[WRONG]"
            },
            f.section
        );
        println!("    seed:    {}", f.seed_says);
        if !f.seed_is_right {
            println!("    correct: {}", f.correct);
        }
    }
    println!("\n== A small layer: torch.nn.functional.conv2d(x, w, b, stride=1, padding=1) on float32 data ==\n");
    let read = |bytes: &[u8], name: &str| {
        read_npy_bytes(bytes, Path::new(name)).map_err(|e| e.to_string())
    };
    let x = read(LAYER_INPUT, "examples/data/layer_x.npy")?;
    let w = read(LAYER_WEIGHT, "examples/data/layer_w.npy")?;
    let b = read(LAYER_BIAS, "examples/data/layer_b.npy")?;
    let geometry = ConvGeometry::new(2).with_padding(Padding::uniform(1, 2));
    let y =
        correlate(&x.values, &w.values, Some(&b.values), &geometry).map_err(|e| e.to_string())?;
    println!(
        "input {:?} {}, weight {:?} {}, bias {:?} {}",
        x.values.shape(),
        x.dtype,
        w.values.shape(),
        w.dtype,
        b.values.shape(),
        Dtype::F32
    );
    println!(
        "\nexact output (every float32 input is a dyadic rational, so the exact result is too):"
    );
    print!("{}", render(&y));
    println!("\ncorrectly rounded to float32 (what an ideal float32 kernel would return):");
    let rounded: Vec<String> = y.iter().map(|q| format!("{:e}", round_to_f32(q))).collect();
    println!("{}", rounded.join(" "));
    Ok(())
}
