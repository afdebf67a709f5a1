//! The bodies of the fuzz targets (`fuzz/`, cargo-fuzz and libFuzzer): each takes arbitrary
//! bytes, feeds them to one entry point that takes outside input, and must return without
//! panicking, whatever the bytes; errors are the expected outcome for most inputs. The same
//! functions run inside `cargo test` (`tests/integration/fuzzing.rs`) on the committed corpora
//! (`fuzz/corpus/<target>/`) and on random and mutated inputs, so a crash found once stays a
//! regression test.
//!
//! Sizes are bounded by the harness where a valid input would only be slow (the exact engine
//! on a large layer), not where the library is expected to refuse.

use crate::exact::ExactEngine;
use crate::float::Algorithm;
use crate::geometry::parse::{
    parse_auto_pad, parse_bool, parse_list, parse_onnx_pads, parse_padding, parse_padding_mode,
    parse_per_dim,
};
use crate::geometry::{
    ConvGeometry, ConvShape, Padding, PaddingMode, PoolParams, TransposeGeometry, TransposePadding,
    TransposeShape,
};
use crate::oracle::{check as oracle_check, CheckOptions, Precision};
use crate::scalar::{rational_from_f64, Rational};
use ndarray::{ArrayD, IxDyn};
use std::path::Path;

/// `.npy` bytes, read as exact values and as a candidate's f64 values.
pub fn npy(data: &[u8]) {
    let path = Path::new("fuzz.npy");
    let _ = crate::io::npy::read_npy_bytes(data, path);
    let _ = crate::io::npy::read_npy_f64_bytes(data, path);
}

/// Exact JSON (`{"shape": [...], "data": ["p/q", ...]}`) text.
pub fn exact_json(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::io::json::parse_exact_json(text, Path::new("fuzz.json"));
    }
}

/// Command-line geometry strings, one per line: rank byte, then --stride, --dilation,
/// --padding, --pads, --auto-pad, --padding-mode, --groups, --ceil-mode, the input shape and
/// the kernel size; the parsed values are then resolved against the shapes as a correlation,
/// a transposed convolution and a pooling window (sizes, parameter counts).
pub fn geometry(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let rank = 1 + usize::from(first % 3);
    let text = String::from_utf8_lossy(rest);
    let mut fields = text.split('\n');
    let mut next = || fields.next().unwrap_or("");
    let stride = parse_per_dim("--stride", next(), rank).ok();
    let dilation = parse_per_dim("--dilation", next(), rank).ok();
    let padding = parse_padding("--padding", next(), rank).ok();
    let pads = parse_onnx_pads("--pads", next(), rank).ok();
    let auto_pad = parse_auto_pad("--auto-pad", next()).ok();
    let mode = parse_padding_mode("--padding-mode", next()).ok();
    let groups = parse_list("--groups", next())
        .ok()
        .and_then(|g| g.first().copied());
    let ceil = parse_bool("--ceil-mode", next()).unwrap_or(false);
    let input = parse_list("--input-shape", next()).ok();
    let kernel = parse_per_dim("--kernel-size", next(), rank).ok();
    let (Some(input), Some(kernel)) = (input, kernel) else {
        return;
    };
    let mut geometry = ConvGeometry::new(rank);
    if let Some(s) = stride.clone() {
        geometry = geometry.with_stride(s);
    }
    if let Some(d) = dilation.clone() {
        geometry = geometry.with_dilation(d);
    }
    if let Some(p) = padding.clone().or(pads).or(auto_pad) {
        geometry = geometry.with_padding(p);
    }
    if let Some(m) = mode {
        geometry = geometry.with_padding_mode(m);
    }
    if let Some(g) = groups {
        geometry = geometry.with_groups(g);
    }
    if input.len() == rank + 2 {
        let c_in = input[1];
        let per_group = groups.filter(|&g| g > 0).map_or(c_in, |g| c_in / g);
        let mut weight = vec![input[1].max(1), per_group];
        weight.extend(&kernel);
        if let Ok(shape) = ConvShape::new(&input, &weight, Some(weight[0]), &geometry) {
            let _ = shape.output_shape();
            let _ = shape.parameter_count(true);
            let _ = shape.macs();
        }
        let mut transpose = TransposeGeometry::new(rank);
        if let Some(s) = stride.clone() {
            transpose = transpose.with_stride(s);
        }
        if let Some(d) = dilation.clone() {
            transpose = transpose.with_dilation(d);
        }
        if let Some(Padding::Explicit(p)) = padding {
            transpose = transpose.with_padding(TransposePadding::Explicit(p));
        }
        if let Some(g) = groups {
            transpose = transpose.with_groups(g);
        }
        let mut t_weight = vec![input[1], 1];
        t_weight.extend(&kernel);
        if let Ok(shape) = TransposeShape::new(&input, &t_weight, None, &transpose) {
            let _ = shape.output_shape();
        }
    }
    let mut pool = PoolParams::new(kernel).with_ceil_mode(ceil);
    if let Some(s) = stride {
        pool = pool.with_stride(s);
    }
    if let Some(d) = dilation {
        pool = pool.with_dilation(d);
    }
    if input.len() >= rank {
        let _ = pool.resolve(&input[input.len() - rank..]);
    }
}

/// A layer-stack description of `convspec size`, as text and as JSON, analysed.
pub fn stack(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for stack in [
        crate::geometry::stack::parse_stack_text(text),
        crate::geometry::stack::parse_stack_json(text),
    ]
    .into_iter()
    .flatten()
    {
        let _ = crate::geometry::stack::analyse_stack(&stack);
    }
}

fn engine() -> &'static ExactEngine {
    static ENGINE: std::sync::OnceLock<ExactEngine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| ExactEngine::new(1))
}

/// The `check` path end to end on small tensors: header bytes choose the layer (rank 1 or 2,
/// stride, dilation, padding and mode, groups, channels, sizes, the claimed precision and the
/// bound's algorithm), the rest are f32 bit patterns (NaN, infinities and subnormals
/// included) for the input, weight, bias and candidate; then the exact reference and the
/// oracle's verdict, as `convspec check` computes them.
pub fn check(data: &[u8]) {
    if data.len() < 12 {
        return;
    }
    let (h, body) = data.split_at(12);
    let rank = 1 + usize::from(h[0] % 2);
    let stride = 1 + usize::from(h[1] % 3);
    let dilation = 1 + usize::from(h[2] % 2);
    let pad = usize::from(h[3] % 3);
    let groups = 1 + usize::from(h[4] % 2);
    let (c_in, c_out) = (
        groups * (1 + usize::from(h[5] % 2)),
        groups * (1 + usize::from(h[6] % 2)),
    );
    let precision = Precision::ALL[usize::from(h[7]) % Precision::ALL.len()];
    let length = 1 + usize::from(h[8] % 7);
    let kernel = 1 + usize::from(h[9] % 3);
    let mode = [
        PaddingMode::Zeros,
        PaddingMode::Reflect,
        PaddingMode::Replicate,
        PaddingMode::Circular,
    ][usize::from(h[10] % 4)];
    let algorithm = h[11] % 3;
    let mut values = body
        .chunks(4)
        .map(|b| {
            let mut bytes = [0u8; 4];
            bytes[..b.len()].copy_from_slice(b);
            f64::from(f32::from_le_bytes(bytes))
        })
        .cycle();
    if body.len() < 4 {
        return;
    }
    let mut take = |shape: &[usize]| -> ArrayD<f64> {
        ArrayD::from_shape_fn(IxDyn(shape), |_| values.next().unwrap_or(0.0))
    };
    let spatial = vec![length; rank];
    let mut x_shape = vec![1, c_in];
    x_shape.extend(&spatial);
    let mut w_shape = vec![c_out, c_in / groups];
    w_shape.extend(vec![kernel; rank]);
    let (x, w, b) = (take(&x_shape), take(&w_shape), take(&[c_out]));
    let mut geometry = ConvGeometry::new(rank)
        .with_stride(vec![stride; rank])
        .with_dilation(vec![dilation; rank])
        .with_padding(Padding::uniform(pad, rank))
        .with_padding_mode(mode)
        .with_groups(groups);
    if h[3] % 5 == 4 {
        geometry = geometry.with_padding(Padding::Same);
    }
    // Inputs with NaN or infinity have no exact value: the CLI refuses them (exit 2).
    let exact = |t: &ArrayD<f64>| -> Option<ArrayD<Rational>> {
        let values: Result<Vec<Rational>, _> = t.iter().map(|&v| rational_from_f64(v)).collect();
        ArrayD::from_shape_vec(t.raw_dim(), values.ok()?).ok()
    };
    let (Some(xq), Some(wq), Some(bq)) = (exact(&x), exact(&w), exact(&b)) else {
        return;
    };
    let algorithm = match algorithm {
        1 if rank == 2 && kernel == 3 && stride == 1 && dilation == 1 => Algorithm::WINOGRAD4,
        2 => Algorithm::FFT,
        _ => Algorithm::DIRECT,
    };
    let reference = algorithm.reference(
        engine(),
        crate::oracle::Operands {
            input: &xq,
            weight: &wq,
            bias: Some(&bq),
            geometry: &geometry,
        },
        precision,
    );
    let Ok(reference) = reference else {
        return;
    };
    let candidate = take(reference.exact.shape());
    let _ = oracle_check(
        &reference,
        candidate.view(),
        precision,
        &CheckOptions::default(),
    );
}
