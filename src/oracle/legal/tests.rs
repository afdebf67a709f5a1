//! The oracle against the legal-output generator: every generated output passes (O1-O4 of
//! `proofs/oracle.md`), outputs just beyond the bound fail.

use super::*;
use crate::exact::ExactEngine;
use crate::geometry::{ConvGeometry, Padding, PaddingMode, PoolParams, TransposeGeometry};
use crate::oracle::contract::{Accumulation, TensorCore};
use crate::oracle::{check, contract_for, CheckOptions, Reference};
use crate::reference::pool::pool_windows;
use crate::reference::AvgOptions;
use crate::scalar::rational_from_f64;
use crate::symbolic::variable_tensor;
use ndarray::IxDyn;
use std::collections::BTreeMap;

/// The operators the generator covers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Correlate,
    ConvTranspose,
    AvgPool,
    GradInput,
    GradWeight,
    GradBias,
    /// One long dot product (huge n).
    Dot(usize),
}

/// How the data are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Data {
    Random,
    /// Terms of both signs with a bias that cancels most of the sum.
    Cancellation,
    /// One large term, then many just under its ulp.
    BigThenSmall,
    /// Products and sums in the output format's subnormal range.
    Subnormal,
    /// Exponents spread over a wide range.
    Wide,
}

const DATA: [Data; 5] = [
    Data::Random,
    Data::Cancellation,
    Data::BigThenSmall,
    Data::Subnormal,
    Data::Wide,
];

/// A tensor of f32 values drawn for `data` (the scale `scale` applied exactly).
fn draw(
    rng: &mut Rng,
    shape: &[usize],
    data: Data,
    scale: i32,
    first_big: bool,
) -> ArrayD<Rational> {
    let len: usize = shape.iter().product();
    let values: Vec<Rational> = (0..len)
        .map(|i| {
            let sign = if rng.below(2) == 0 { 1.0 } else { -1.0 };
            let v: f64 = match data {
                // Eight significant bits: in every input format, so no cut hides the rest.
                Data::Random | Data::Cancellation => {
                    sign * (1 + rng.below(1 << 8)) as f64 * 2f64.powi(-8)
                }
                // Twenty: cut to every narrow format.
                Data::Subnormal => sign * (1 + rng.below(1 << 20)) as f64 * 2f64.powi(-20),
                // The first operand: 1, then terms just under half an ulp of 1 in the
                // accumulator, each lost by a rounding in the same direction; the second: 1.
                Data::BigThenSmall => {
                    if !first_big || i == 0 {
                        1.0
                    } else {
                        (1.0 - 2f64.powi(-(3 + rng.below(8) as i32))) * 2f64.powi(-24)
                    }
                }
                Data::Wide => {
                    sign * (1 + rng.below(1 << 12)) as f64 * 2f64.powi(rng.below(40) as i32 - 30)
                }
            };
            let v = (v as f32) as f64 * 2f64.powi(scale);
            rational_from_f64(((v as f32) as f64).max(f32::MIN as f64)).expect("finite")
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), values).expect("shape")
}

/// One generated case: its exact inputs, its reference, its elements' symbolic forms.
struct Case {
    op: Op,
    precision: Precision,
    reference: Reference,
    /// Elements computed from the cut inputs, in the reference's C order.
    elements: Vec<Element>,
    has_bias: bool,
}

fn value_of(tensors: &BTreeMap<String, ArrayD<Rational>>) -> impl Fn(&Variable) -> Value + '_ {
    move |v: &Variable| {
        let t = &tensors[&v.symbol];
        let index: Vec<usize> = v.indices.iter().map(|i| i - 1).collect();
        Value::from_rational(&t[IxDyn(&index)]).expect("dyadic")
    }
}

fn symbols(t: &ArrayD<Rational>, symbol: &str) -> ArrayD<Polynomial> {
    variable_tensor(symbol, t.shape(), 0)
}

fn random_geometry(rng: &mut Rng, rank: usize, padding_modes: bool) -> ConvGeometry {
    let mode = if padding_modes {
        [
            PaddingMode::Zeros,
            PaddingMode::Reflect,
            PaddingMode::Replicate,
            PaddingMode::Circular,
        ][rng.below(4)]
    } else {
        PaddingMode::Zeros
    };
    ConvGeometry::new(rank)
        .with_stride(vec![1 + rng.below(2); rank])
        .with_dilation(vec![1 + usize::from(rng.below(4) == 0); rank])
        .with_padding(Padding::Explicit(vec![(rng.below(2), rng.below(3)); rank]))
        .with_padding_mode(mode)
}

/// Builds a case; None when the drawn layer is invalid (the reference refuses it).
fn make_case(seed: u64, op: Op, precision: Precision, data: Data) -> Option<Case> {
    let mut rng = Rng::new(seed);
    let engine = ExactEngine::new(1);
    let rank = 1 + rng.below(2);
    let groups = 1 + rng.below(2);
    let (c_in, c_out) = (groups * (1 + rng.below(2)), groups * (1 + rng.below(2)));
    let spatial: Vec<usize> = (0..rank).map(|_| 3 + rng.below(4)).collect();
    let kernel: Vec<usize> = (0..rank).map(|_| 1 + rng.below(3)).collect();
    let out_format = precision.output_format();
    // Scales that put products (and pooled sums) near the output's subnormal range.
    let (sx, sw) = match data {
        Data::Subnormal => {
            let e = out_format.min_exponent() as i32 - out_format.precision as i32 + 6;
            (e / 2, e - e / 2)
        }
        _ => (0, 0),
    };
    let mut x_shape = vec![1 + rng.below(2), c_in];
    x_shape.extend(&spatial);
    let mut w_shape = vec![c_out, c_in / groups];
    w_shape.extend(&kernel);
    let mut tensors = BTreeMap::new();
    let cut_all =
        |t: &BTreeMap<String, ArrayD<Rational>>| -> Option<BTreeMap<String, ArrayD<Rational>>> {
            t.iter()
                .map(|(k, v)| Some((k.clone(), cut(v, precision, Cut::Truncation)?)))
                .collect()
        };
    let bias_for = |rng: &mut Rng, n: usize, reference_sum: Option<Vec<Rational>>| {
        let mut b = draw(rng, &[n], data, sx + sw, false);
        if let (Data::Cancellation, Some(sums)) = (data, reference_sum) {
            for (bi, s) in b.iter_mut().zip(sums) {
                let v = crate::scalar::round_to_f32(&s);
                *bi = -rational_from_f64(f64::from(v)).expect("finite");
            }
        }
        b
    };
    let (reference, polys, has_bias, cut_tensors) = match op {
        Op::Correlate | Op::ConvTranspose => {
            let transpose = op == Op::ConvTranspose;
            let geometry = random_geometry(&mut rng, rank, !transpose);
            let (x, w) = if transpose {
                // conv_transpose's weight is (C_in, C_out/groups, k...).
                let mut tw = vec![c_in, c_out / groups];
                tw.extend(&kernel);
                (
                    draw(&mut rng, &x_shape, data, sx, true),
                    draw(&mut rng, &tw, data, sw, data != Data::BigThenSmall),
                )
            } else {
                (
                    draw(&mut rng, &x_shape, data, sx, true),
                    draw(&mut rng, &w_shape, data, sw, data != Data::BigThenSmall),
                )
            };
            let with_bias = rng.below(3) != 0 || data == Data::Cancellation;
            let tgeom = TransposeGeometry::new(rank)
                .with_stride(geometry.stride.clone())
                .with_groups(groups);
            let geometry = geometry.with_groups(groups);
            // For cancellation: a bias near minus each output channel's first sum.
            let b = if with_bias {
                let probe = if transpose {
                    crate::reference::conv_transpose(&x, &w, None, &tgeom).ok()?
                } else {
                    crate::reference::correlate(&x, &w, None, &geometry).ok()?
                };
                let firsts: Vec<Rational> = (0..probe.shape()[1])
                    .map(|o| {
                        probe
                            .index_axis(ndarray::Axis(1), o)
                            .iter()
                            .next()
                            .cloned()
                            .unwrap_or_default()
                    })
                    .collect();
                Some(bias_for(&mut rng, probe.shape()[1], Some(firsts)))
            } else {
                None
            };
            tensors.insert("x".to_string(), x.clone());
            tensors.insert("w".to_string(), w.clone());
            if let Some(b) = &b {
                tensors.insert("b".to_string(), b.clone());
            }
            let cut_t = cut_all(&tensors)?;
            let (xs, ws) = (symbols(&x, "x"), symbols(&w, "w"));
            let bs = b.as_ref().map(|b| symbols(b, "b"));
            let (reference, polys) = if transpose {
                (
                    Reference::conv_transpose(&engine, &x, &w, b.as_ref(), &tgeom).ok()?,
                    crate::reference::conv_transpose(&xs, &ws, bs.as_ref(), &tgeom).ok()?,
                )
            } else {
                (
                    Reference::correlate(&engine, &x, &w, b.as_ref(), &geometry).ok()?,
                    crate::reference::correlate(&xs, &ws, bs.as_ref(), &geometry).ok()?,
                )
            };
            (reference, vec![polys], with_bias, cut_t)
        }
        Op::AvgPool => {
            let x = draw(&mut rng, &x_shape, data, sx + sw, true);
            let k: Vec<usize> = (0..rank).map(|_| 1 + rng.below(3)).collect();
            let mut params = PoolParams::new(k.clone())
                .with_padding(k.iter().map(|&k| rng.below(k / 2 + 1)).collect());
            params.stride = (0..rank).map(|_| 1 + rng.below(2)).collect();
            params.ceil_mode = rng.below(2) == 0;
            let options = AvgOptions {
                count_include_pad: rng.below(2) == 0,
                divisor_override: (rng.below(4) == 0).then(|| 1 + rng.below(5)),
            };
            let reference = Reference::avg_pool(&x, &params, &options).ok()?;
            tensors.insert("x".to_string(), x.clone());
            let cut_t = cut_all(&tensors)?;
            // The elements straight from the windows: summands x, divisor d.
            let (windows, _) = pool_windows(&x.shape()[2..], &params).ok()?;
            let cx = &cut_t["x"];
            let mut elements = Vec::new();
            for n in 0..x.shape()[0] {
                for c in 0..x.shape()[1] {
                    for window in &windows {
                        let terms = window
                            .positions
                            .iter()
                            .map(|p| {
                                let mut index = vec![n, c];
                                index.extend(p);
                                Term::Single(
                                    Value::from_rational(&cx[IxDyn(&index)]).expect("dyadic"),
                                )
                            })
                            .collect();
                        elements.push(Element {
                            groups: vec![terms],
                            bias: None,
                            divisor: Some(Rational::from_integer(options.divisor(window).into())),
                        });
                    }
                }
            }
            return Some(Case {
                op,
                precision,
                reference,
                elements,
                has_bias: false,
            });
        }
        Op::GradInput | Op::GradWeight | Op::GradBias => {
            let geometry = random_geometry(&mut rng, rank, true).with_groups(groups);
            let x = draw(&mut rng, &x_shape, data, sx, true);
            let w = draw(&mut rng, &w_shape, data, sw, data != Data::BigThenSmall);
            let shape =
                crate::geometry::ConvShape::new(x.shape(), w.shape(), None, &geometry).ok()?;
            let mut g_shape = vec![x_shape[0], c_out];
            g_shape.extend(shape.output_spatial());
            let g = draw(
                &mut rng,
                &g_shape,
                data,
                if op == Op::GradInput { sx } else { sw },
                true,
            );
            let references = Reference::correlate_backward(&engine, &x, &w, &g, &geometry).ok()?;
            tensors.insert("x".to_string(), x.clone());
            tensors.insert("w".to_string(), w.clone());
            tensors.insert("g".to_string(), g.clone());
            let cut_t = cut_all(&tensors)?;
            let value = value_of(&cut_t);
            let (xs, ws, gs) = (symbols(&x, "x"), symbols(&w, "w"), symbols(&g, "g"));
            let (reference, elements) = match op {
                Op::GradInput => (
                    references[0].clone(),
                    padded_gradient_elements(&x_shape, &ws, &gs, &geometry, &value)?,
                ),
                Op::GradWeight => {
                    let grads =
                        crate::reference::correlate_backward(&xs, &ws, &gs, &geometry).ok()?;
                    (references[1].clone(), elements(&grads.weight, &value))
                }
                _ => {
                    // The bias gradient is the sum of g over batch and positions.
                    let mut sums = vec![Element::default(); c_out];
                    for (flat, q) in cut_t["g"].iter().enumerate() {
                        let channel = crate::index::unravel(flat, &g_shape)[1];
                        if sums[channel].groups.is_empty() {
                            sums[channel].groups.push(Vec::new());
                        }
                        sums[channel].groups[0]
                            .push(Term::Single(Value::from_rational(q).expect("dyadic")));
                    }
                    (references[2].clone(), sums)
                }
            };
            return Some(Case {
                op,
                precision,
                reference,
                elements,
                has_bias: false,
            });
        }
        Op::Dot(n) => {
            let x = draw(&mut rng, &[1, 1, n], data, sx, true);
            let w = draw(&mut rng, &[1, 1, n], data, sw, data != Data::BigThenSmall);
            let geometry = ConvGeometry::new(1);
            let reference = Reference::correlate(&engine, &x, &w, None, &geometry).ok()?;
            tensors.insert("x".to_string(), x.clone());
            tensors.insert("w".to_string(), w.clone());
            let cut_t = cut_all(&tensors)?;
            let terms = cut_t["w"]
                .iter()
                .zip(cut_t["x"].iter())
                .map(|(w, x)| {
                    Term::Product(
                        Value::from_rational(w).expect("dyadic"),
                        Value::from_rational(x).expect("dyadic"),
                    )
                })
                .collect();
            let element = Element {
                groups: vec![terms],
                bias: None,
                divisor: None,
            };
            return Some(Case {
                op,
                precision,
                reference,
                elements: vec![element],
                has_bias: false,
            });
        }
    };
    let value = value_of(&cut_tensors);
    let elements = elements(&polys[0], &value);
    Some(Case {
        op,
        precision,
        reference,
        elements,
        has_bias,
    })
}

/// The input gradient's elements in PyTorch's order for padding modes: the padded input's
/// gradient (a correlation layer without padding), then F.pad's backward, which sums the copies
/// (one group per padded position that reads the element).
fn padded_gradient_elements(
    x_shape: &[usize],
    ws: &ArrayD<Polynomial>,
    gs: &ArrayD<Polynomial>,
    geometry: &ConvGeometry,
    value: &dyn Fn(&Variable) -> Value,
) -> Option<Vec<Element>> {
    let rank = x_shape.len() - 2;
    let shape = crate::geometry::ConvShape::new(x_shape, ws.shape(), None, geometry).ok()?;
    let dims = &shape.dims;
    let mut padded = x_shape.to_vec();
    for (p, d) in padded[2..].iter_mut().zip(dims) {
        *p = d.input + d.pad_begin + d.pad_end;
    }
    let zero_pad = geometry
        .clone()
        .with_padding(Padding::Explicit(vec![(0, 0); rank]))
        .with_padding_mode(PaddingMode::Zeros);
    let xp = variable_tensor("x", &padded, 0);
    let grads = crate::reference::correlate_backward(&xp, ws, gs, &zero_pad).ok()?;
    let per_position = elements(&grads.input, value);
    let mut out = vec![Element::default(); x_shape.iter().product()];
    for (flat, element) in per_position.into_iter().enumerate() {
        let index = crate::index::unravel(flat, &padded);
        let mut source = index[..2].to_vec();
        for (k, d) in dims.iter().enumerate() {
            let j = index[2 + k] as i64 - d.pad_begin as i64;
            source.push(geometry.padding_mode.source_index(j, d.input)?);
        }
        let target = source.iter().zip(x_shape).fold(0, |f, (&i, &n)| f * n + i);
        out[target].groups.extend(element.groups);
    }
    Some(out)
}

/// The arithmetic variants tried on every case.
fn arithmetics(precision: Precision, has_bias: bool, pooling: bool) -> Vec<Arithmetic> {
    let tc = |block, extra_bits, alignment, normalisation, flush| Order::TensorCore {
        block,
        fma: BlockFma {
            extra_bits,
            alignment,
            normalisation,
            flush_subnormals: flush,
        },
    };
    let mut orders = vec![
        Order::Sequential,
        Order::Reverse,
        Order::Shuffled(7),
        Order::Pairwise,
        Order::SplitK(3),
        Order::Fma,
    ];
    let matrix_precision = matches!(
        precision,
        Precision::Tf32 | Precision::Fp16 | Precision::Bf16
    );
    if matrix_precision && !pooling {
        orders.extend([
            tc(4, 0, Rounding::TowardZero, Rounding::TowardZero, false),
            tc(8, 0, Rounding::Down, Rounding::TowardZero, true),
            tc(16, 2, Rounding::TowardZero, Rounding::TowardZero, false),
            tc(2, 3, Rounding::TowardZero, Rounding::Nearest, false),
        ]);
    }
    let placements: &[BiasPlacement] = if has_bias {
        &[
            BiasPlacement::First,
            BiasPlacement::Last,
            BiasPlacement::AfterRounding,
        ]
    } else {
        &[BiasPlacement::First]
    };
    let divisions: &[Division] = if pooling {
        &[
            Division::Divide,
            Division::Reciprocal,
            Division::ReciprocalEach,
        ]
    } else {
        &[Division::Divide]
    };
    let mut out = Vec::new();
    for &order in &orders {
        for &bias in placements {
            for &division in divisions {
                out.push(Arithmetic {
                    precision,
                    order,
                    bias,
                    division,
                });
            }
        }
    }
    out
}

/// The worst |error| / B a legal output reached, per (precision, accumulation model).
type Tightness = BTreeMap<(String, String), f64>;

/// Runs `cases` random cases from `seed`; panics on the first legal output that fails, or on
/// an output beyond the bound that passes. Returns the tightness table and the outputs judged.
fn sweep(seed: u64, cases: usize, long_dots: &[usize]) -> (Tightness, usize) {
    let mut rng = Rng::new(seed);
    let ops = [
        Op::Correlate,
        Op::ConvTranspose,
        Op::AvgPool,
        Op::GradInput,
        Op::GradWeight,
        Op::GradBias,
    ];
    let mut tightness = Tightness::new();
    let mut judged = 0;
    let mut planned: Vec<Op> = (0..cases).map(|i| ops[i % ops.len()]).collect();
    planned.extend(long_dots.iter().map(|&n| Op::Dot(n)));
    for (i, op) in planned.into_iter().enumerate() {
        let precision = Precision::ALL[rng.below(5)];
        let data = DATA[rng.below(DATA.len())];
        let case_seed = rng.next_u64();
        let Some(case) = make_case(case_seed, op, precision, data) else {
            continue;
        };
        let pooling = case.op == Op::AvgPool;
        for arithmetic in arithmetics(precision, case.has_bias, pooling) {
            let values: Option<Vec<f64>> = case
                .elements
                .iter()
                .map(|e| compute(e, &arithmetic).map(|v| v.to_f64()))
                .collect();
            let Some(values) = values else { continue };
            let candidate = ArrayD::from_shape_vec(IxDyn(case.reference.exact.shape()), values)
                .expect("one value per element");
            let models: Vec<(Accumulation, &str)> = if arithmetic.order.is_ieee() {
                vec![(Accumulation::Any, "any"), (Accumulation::Ieee, "ieee")]
            } else {
                vec![
                    (Accumulation::Any, "any"),
                    (Accumulation::TensorCore(TensorCore::GENERIC), "tensor-core"),
                ]
            };
            for (accumulation, name) in models {
                let options = CheckOptions {
                    accumulation,
                    ..CheckOptions::default()
                };
                let report = check(&case.reference, candidate.view(), precision, &options)
                    .expect("shapes agree");
                judged += 1;
                assert!(
                    report.passed(),
                    "case {i} (seed {case_seed}): {op:?} {precision} {data:?} {arithmetic:?} under {name}: a legal output fails\n{}",
                    report.render()
                );
                let key = (precision.name().to_string(), name.to_string());
                let worst = tightness.entry(key).or_insert(0.0);
                *worst = worst.max(worst_ratio(&report));
                if name == "any" && arithmetic == arithmetics(precision, case.has_bias, pooling)[0]
                {
                    beyond_the_bound_fails(&case, &candidate, &options);
                }
            }
        }
    }
    (tightness, judged)
}

/// The negative control: an element moved to the first output-format value beyond y + B
/// (or y - B) fails, at that element.
fn beyond_the_bound_fails(case: &Case, candidate: &ArrayD<f64>, options: &CheckOptions) {
    let contract = contract_for(&case.reference, case.precision, options);
    let out = case.precision.output_format();
    let flat = candidate.len() / 2;
    let y = case.reference.exact.value(flat);
    let s = case.reference.magnitude.value(flat);
    let bound = contract.bound(&y, &s);
    for direction in [1, -1] {
        let target = if direction == 1 {
            &y + &bound
        } else {
            &y - &bound
        };
        let Some(r) = next_above(&target.abs(), out) else {
            continue;
        };
        let moved_value = if target.is_negative() { r.neg() } else { r };
        let moved = moved_value.to_f64();
        if !moved.is_finite() || (moved_value.to_rational() - &y).abs() <= bound {
            continue;
        }
        let mut shifted = candidate.clone();
        shifted.as_slice_mut().expect("standard layout")[flat] = moved;
        let report =
            check(&case.reference, shifted.view(), case.precision, options).expect("shapes");
        assert!(
            !report.passed(),
            "{:?} {}: {moved} beyond the bound passes",
            case.op,
            case.precision
        );
        assert_eq!(report.failed, 1, "only the moved element fails");
    }
}

/// Theorems O1-O4 (`proofs/oracle.md`): every legal output of every generated case passes
/// under the default contract and under the model that produced it; outputs just beyond the
/// bound fail. Fixed seed, 2000 cases in `cargo test`.
#[test]
fn every_legal_output_passes_and_one_beyond_fails() {
    let (tightness, judged) = sweep(20, 2000, &[1024, 3000]);
    assert!(judged > 30000, "{judged} outputs judged");
    eprintln!("{judged} outputs judged");
    for ((precision, model), worst) in &tightness {
        eprintln!("{precision:5} {model:12} worst |error|/B {worst:.4}");
    }
}

/// The long sweep (30000 cases, n up to 20000): `cargo test --release -- --ignored
/// legal_outputs_long_sweep --nocapture` prints the tightness table.
#[test]
#[ignore]
fn legal_outputs_long_sweep() {
    let (tightness, judged) = sweep(2026, 30000, &[4096, 20000, 20000]);
    eprintln!("{judged} outputs judged");
    for ((precision, model), worst) in &tightness {
        eprintln!("{precision:5} {model:12} worst |error|/B {worst:.4}");
    }
}

/// The examples, by hand: PyTorch's fp16 bias after rounding and its replicate-padding
/// gradient pass.
#[test]
fn the_reported_false_failures_pass() {
    let engine = ExactEngine::new(1);
    // fp16: x = 2047, w = 1 + 2^-10, b = -2047 -> PyTorch's 1.0 (exact 1.99902).
    let q = |v: f64| rational_from_f64(v).unwrap();
    let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, 1]), vec![q(2047.0)]).unwrap();
    let w = ArrayD::from_shape_vec(IxDyn(&[1, 1, 1]), vec![q(1.0 + 2f64.powi(-10))]).unwrap();
    let b = ArrayD::from_shape_vec(IxDyn(&[1]), vec![q(-2047.0)]).unwrap();
    let reference = Reference::correlate(&engine, &x, &w, Some(&b), &ConvGeometry::new(1)).unwrap();
    let candidate = ArrayD::from_elem(IxDyn(&[1, 1, 1]), 1.0);
    let report = check(
        &reference,
        candidate.view(),
        Precision::Fp16,
        &CheckOptions::default(),
    )
    .unwrap();
    assert!(report.passed(), "{}", report.render());
    // Without the bias the same error is condemned (the negative control).
    let far = ArrayD::from_elem(IxDyn(&[1, 1, 1]), 2048.0 + 6.0);
    let unbiased = Reference::correlate(&engine, &x, &w, None, &ConvGeometry::new(1)).unwrap();
    let report = check(
        &unbiased,
        far.view(),
        Precision::Fp16,
        &CheckOptions::default(),
    )
    .unwrap();
    assert!(!report.passed());
}

/// proofs/oracle.md O4, the replicate-padding gradient: 1-D, k = 1, replicate padding
/// (3, 0), four output channels. x_0 is read through four padded positions; its gradient is
/// 1 + 6 s (s just under half an ulp of 1), which PyTorch's order (each copy's inner product,
/// then F.pad's backward adding the copies) rounds six times toward 1: an error of nearly 6 u,
/// over the bound of n = C_out k = 4 products (5 u) and within that of the 16 products.
#[test]
fn a_gradient_through_replicate_padding_passes() {
    let engine = ExactEngine::new(1);
    let q = |v: f64| rational_from_f64(v).unwrap();
    let s = (1.0 - 2f64.powi(-6)) * 2f64.powi(-24);
    let x = ArrayD::from_elem(IxDyn(&[1, 1, 4]), q(0.5));
    let w = ArrayD::from_elem(IxDyn(&[4, 1, 1]), q(1.0));
    let mut g = ArrayD::from_elem(IxDyn(&[1, 4, 7]), q(0.0));
    g[[0, 0, 0]] = q(1.0);
    for o in 1..4 {
        g[[0, o, 0]] = q(s);
    }
    for j in 1..4 {
        g[[0, 0, j]] = q(s);
    }
    let geometry = ConvGeometry::new(1)
        .with_padding(Padding::Explicit(vec![(3, 0)]))
        .with_padding_mode(PaddingMode::Replicate);
    let [reference, _, _] = Reference::correlate_backward(&engine, &x, &w, &g, &geometry).unwrap();
    assert_eq!(reference.reduction.terms, 16, "4 copies of 4 products");
    let tensors: BTreeMap<String, ArrayD<Rational>> = [("x", &x), ("w", &w), ("g", &g)]
        .iter()
        .map(|(k, v)| (k.to_string(), (*v).clone()))
        .collect();
    let value = value_of(&tensors);
    let elements = padded_gradient_elements(
        &[1, 1, 4],
        &symbols(&w, "w"),
        &symbols(&g, "g"),
        &geometry,
        &value,
    )
    .unwrap();
    let arithmetic = Arithmetic {
        precision: Precision::Fp32,
        order: Order::Sequential,
        bias: BiasPlacement::First,
        division: Division::Divide,
    };
    let values: Vec<f64> = elements
        .iter()
        .map(|e| compute(e, &arithmetic).unwrap().to_f64())
        .collect();
    assert_eq!(values[0], 1.0, "six roundings toward 1");
    let candidate = ArrayD::from_shape_vec(IxDyn(&[1, 1, 4]), values).unwrap();
    for accumulation in [Accumulation::Ieee, Accumulation::Any] {
        let options = CheckOptions {
            accumulation,
            ..CheckOptions::default()
        };
        let report = check(&reference, candidate.view(), Precision::Fp32, &options).unwrap();
        assert!(report.passed(), "{}", report.render());
        // The negative control: the count of one copy's products alone condemns it.
        let mut one_copy = reference.clone();
        one_copy.reduction.terms = 4;
        let report = check(&one_copy, candidate.view(), Precision::Fp32, &options).unwrap();
        assert!(!report.passed(), "n = 4 must be too small");
    }
}
