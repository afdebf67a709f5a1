//! Symbolic proofs: the laws run on polynomial variables for every shape up to a bound.
//!
//! With every input element a distinct variable (x_{1}, x_{2}, ..., w_{1}, ...) and the
//! scalars a, b variables too, both sides of a law are polynomials computed by the reference
//! engine. Equal polynomials (canonical form, [`Polynomial`]) mean the law holds for *all*
//! values at that shape and geometry, over any commutative ring: a proof by computation for
//! each finite shape, which sampling cannot give.
//!
//! Shapes are enumerated by level: level b holds the cases whose largest size parameter is
//! exactly b, so levels 1..=B together cover every shape up to B once. Two-dimensional cases
//! use square signals of side up to ceil(b / 2). Laws that need an order (max pooling) or a
//! division (average pooling) are not proved here: polynomials are neither ordered nor a field.

use super::{adjoint, algebra, shift, LawResult, Reference};
use crate::geometry::{ConvGeometry, ConvShape, Padding, PaddingMode};
use crate::symbolic::{variable_tensor, Polynomial};
use ndarray::ArrayD;
use std::time::Instant;

/// A tensor of distinct variables over every axis (see [`variable_tensor`]).
pub fn variables(symbol: &str, shape: &[usize]) -> ArrayD<Polynomial> {
    variable_tensor(symbol, shape, 0)
}

/// A signal (1, 1, sizes...) of variables.
fn signal(symbol: &str, sizes: &[usize]) -> ArrayD<Polynomial> {
    let mut shape = vec![1, 1];
    shape.extend(sizes);
    variable_tensor(symbol, &shape, 2)
}

/// One case of a symbolic proof.
pub struct ProofTask {
    /// The law.
    pub law: &'static str,
    /// The shape and geometry of this case.
    pub case: String,
    /// Runs the law on polynomial variables.
    pub run: Box<dyn Fn() -> LawResult + Send>,
}

/// What was proved for one law.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofRow {
    /// The law.
    pub law: &'static str,
    /// Cases proved (distinct shapes and geometries).
    pub cases: usize,
    /// The highest level whose cases were all run.
    pub level: usize,
    /// The last case proved.
    pub largest: String,
    /// The first failure, if any (a bug in the engine or in the law).
    pub failure: Option<String>,
}

fn cases_up_to(bound: usize) -> impl Iterator<Item = usize> {
    1..=bound
}

/// The layer geometries tried at level b for one-dimensional layers: stride and dilation 1-2,
/// padding (0,0), (1,0), (1,1), every padding mode; kernels and inputs up to b.
fn layer_geometries() -> Vec<(ConvGeometry, String)> {
    let mut out = Vec::new();
    for stride in [1, 2] {
        for dilation in [1, 2] {
            for pads in [(0, 0), (1, 0), (1, 1)] {
                for mode in [
                    PaddingMode::Zeros,
                    PaddingMode::Reflect,
                    PaddingMode::Replicate,
                    PaddingMode::Circular,
                ] {
                    if pads == (0, 0) && mode != PaddingMode::Zeros {
                        continue;
                    }
                    let g = ConvGeometry::new(1)
                        .with_stride(vec![stride])
                        .with_dilation(vec![dilation])
                        .with_padding(Padding::Explicit(vec![pads]))
                        .with_padding_mode(mode);
                    out.push((
                        g,
                        format!("s={stride} d={dilation} p={pads:?} {}", mode.name()),
                    ));
                }
            }
        }
    }
    out
}

fn accepted(x: &[usize], w: &[usize], g: &ConvGeometry) -> bool {
    ConvShape::new(x, w, None, g).is_ok()
}

/// The proof cases at `level` (largest size parameter exactly `level`).
pub fn tasks_at_level(level: usize) -> Vec<ProofTask> {
    let b = level;
    let mut tasks: Vec<ProofTask> = Vec::new();
    let side = |n: usize| n.div_ceil(2);
    // Pairs (L, k) with max = b, and 2-D square sides with max side = ceil(b/2) reached at b.
    let pairs: Vec<(usize, usize)> = cases_up_to(b)
        .flat_map(|l| cases_up_to(b).map(move |k| (l, k)))
        .filter(|&(l, k)| l.max(k) == b)
        .collect();
    let square_pairs: Vec<(usize, usize)> = if b % 2 == 1 {
        let s = side(b);
        cases_up_to(s)
            .flat_map(|l| cases_up_to(s).map(move |k| (l, k)))
            .filter(|&(l, k)| l.max(k) == s)
            .collect()
    } else {
        Vec::new()
    };
    let signals: Vec<(Vec<usize>, Vec<usize>)> = pairs
        .iter()
        .map(|&(l, k)| (vec![l], vec![k]))
        .chain(square_pairs.iter().map(|&(l, k)| (vec![l, l], vec![k, k])))
        .collect();

    for (xs, ws) in &signals {
        let (xs, ws) = (xs.clone(), ws.clone());
        let case = format!("x {xs:?}, w {ws:?}");
        let (a, b2) = (xs.clone(), ws.clone());
        tasks.push(ProofTask {
            law: "convolution is commutative",
            case: case.clone(),
            run: Box::new(move || {
                algebra::commutativity(&Reference, &signal("x", &a), &signal("w", &b2))
            }),
        });
        let (a, b2) = (xs.clone(), ws.clone());
        tasks.push(ProofTask {
            law: "x corr w = reverse(w corr x)",
            case: case.clone(),
            run: Box::new(move || {
                algebra::correlation_reversal(&Reference, &signal("x", &a), &signal("w", &b2))
            }),
        });
        if ws.iter().all(|&k| k == 1) {
            let a = xs.clone();
            tasks.push(ProofTask {
                law: "delta is the identity",
                case: format!("x {xs:?}"),
                run: Box::new(move || algebra::delta_identity(&Reference, &signal("x", &a))),
            });
        }
        for shift in [1usize, 2] {
            let (a, b2) = (xs.clone(), ws.clone());
            let t = vec![shift; xs.len()];
            tasks.push(ProofTask {
                law: "full convolution commutes with shifts",
                case: format!("{case}, shift {shift}"),
                run: Box::new(move || {
                    shift::full_equivariance(&Reference, &signal("x", &a), &signal("w", &b2), &t)
                }),
            });
        }
        // Associativity: a third signal of every size up to the level (1-D) or side (2-D).
        let third = if xs.len() == 1 { b } else { side(b) };
        for v in cases_up_to(third) {
            let vs = vec![v; xs.len()];
            let (a, b2, c) = (xs.clone(), ws.clone(), vs.clone());
            tasks.push(ProofTask {
                law: "convolution is associative",
                case: format!("{case}, v {vs:?}"),
                run: Box::new(move || {
                    algebra::associativity(
                        &Reference,
                        &signal("x", &a),
                        &signal("v", &c),
                        &signal("w", &b2),
                    )
                }),
            });
        }
    }

    // One-dimensional layers with every geometry: bilinearity, distributivity, the flip,
    // adjointness and the gradients.
    for &(l, k) in &pairs {
        for (g, name) in layer_geometries() {
            for (c_in, c_out, groups) in [(1, 1, 1), (2, 2, 1), (2, 2, 2)] {
                let x_shape = vec![1, c_in, l];
                let w_shape = vec![c_out, c_in / groups, k];
                let g = g.clone().with_groups(groups);
                if !accepted(&x_shape, &w_shape, &g) {
                    continue;
                }
                let case = format!("x {x_shape:?}, w {w_shape:?}, {name}, groups {groups}");
                let (xa, wa, ga) = (x_shape.clone(), w_shape.clone(), g.clone());
                tasks.push(ProofTask {
                    law: "correlation and convolution are bilinear",
                    case: case.clone(),
                    run: Box::new(move || {
                        algebra::bilinearity(
                            &Reference,
                            &Polynomial::variable("a", &[]),
                            &variables("x", &xa),
                            &Polynomial::variable("b", &[]),
                            &variables("y", &xa),
                            &variables("w", &wa),
                            &variables("v", &wa),
                            &ga,
                        )
                    }),
                });
                let (xa, wa, ga) = (x_shape.clone(), w_shape.clone(), g.clone());
                tasks.push(ProofTask {
                    law: "x corr w = x * flip(w)",
                    case: case.clone(),
                    run: Box::new(move || {
                        algebra::correlation_is_flipped_convolution(
                            &Reference,
                            &variables("x", &xa),
                            &variables("w", &wa),
                            &ga,
                        )
                    }),
                });
                let y_shape = ConvShape::new(&x_shape, &w_shape, None, &g)
                    .and_then(|s| s.output_shape())
                    .expect("accepted");
                let (xa, wa, ga, ya) = (x_shape.clone(), w_shape.clone(), g.clone(), y_shape);
                tasks.push(ProofTask {
                    law: "gradients are the transposed Toeplitz forms",
                    case: case.clone(),
                    run: Box::new(move || {
                        adjoint::gradients_are_toeplitz_transposes(
                            &variables("x", &xa),
                            &variables("w", &wa),
                            &variables("g", &ya),
                            &ga,
                        )
                    }),
                });
                if g.padding_mode == PaddingMode::Zeros {
                    let (xa, wa, ga) = (x_shape.clone(), w_shape.clone(), g.clone());
                    let ya = ConvShape::new(&x_shape, &w_shape, None, &g)
                        .and_then(|s| s.output_shape())
                        .expect("accepted");
                    tasks.push(ProofTask {
                        law: "transposed convolution is the adjoint of correlation",
                        case,
                        run: Box::new(move || {
                            adjoint::transpose_is_adjoint(
                                &Reference,
                                &variables("x", &xa),
                                &variables("w", &wa),
                                &variables("g", &ya),
                                &ga,
                            )
                        }),
                    });
                }
            }
        }
        // Circular equivariance for strides dividing L, shifts by multiples of the stride.
        for stride in [1usize, 2] {
            for dilation in [1usize, 2] {
                if l % stride != 0 || dilation * (k - 1) > 2 * l {
                    continue;
                }
                for shift in (0..l).step_by(stride) {
                    tasks.push(ProofTask {
                        law: "circular correlation commutes with circular shifts",
                        case: format!("x [{l}], w [{k}], s={stride} d={dilation}, shift {shift}"),
                        run: Box::new(move || {
                            shift::circular_equivariance(
                                &Reference,
                                &signal("x", &[l]),
                                &signal("w", &[k]),
                                &[stride],
                                &[dilation],
                                &[shift],
                            )
                        }),
                    });
                }
            }
        }
    }
    tasks
}

/// Runs the proof levels 1..=`bound` (stopping at `deadline` between cases), calling
/// `progress(done, total, law)` after each case of a level. Returns one row per law.
pub fn prove(
    bound: usize,
    deadline: Option<Instant>,
    mut progress: impl FnMut(usize, usize, usize, &str),
) -> Vec<ProofRow> {
    let mut rows: Vec<ProofRow> = Vec::new();
    'levels: for level in 1..=bound {
        let tasks = tasks_at_level(level);
        let total = tasks.len();
        for (done, task) in tasks.iter().enumerate() {
            if deadline.is_some_and(|d| Instant::now() > d) {
                break 'levels;
            }
            let outcome = (task.run)();
            let row = match rows.iter_mut().find(|r| r.law == task.law) {
                Some(row) => row,
                None => {
                    rows.push(ProofRow {
                        law: task.law,
                        cases: 0,
                        level: 0,
                        largest: String::new(),
                        failure: None,
                    });
                    rows.last_mut().expect("just pushed")
                }
            };
            match outcome {
                Ok(()) => {
                    row.cases += 1;
                    row.largest = task.case.clone();
                }
                Err(counterexample) => {
                    if row.failure.is_none() {
                        row.failure = Some(format!("{}: {counterexample}", task.case));
                    }
                }
            }
            progress(level, done + 1, total, task.law);
        }
        for row in &mut rows {
            row.level = level;
        }
    }
    rows
}

/// The table `convspec prove` prints.
pub fn table(rows: &[ProofRow]) -> String {
    let width = rows.iter().map(|r| r.law.len()).max().unwrap_or(3).max(3);
    let mut out = format!(
        "{:<width$}  {:>6}  {:>5}  {:<6}  last case proved\n",
        "law", "cases", "level", "result"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<width$}  {:>6}  {:>5}  {:<6}  {}\n",
            r.law,
            r.cases,
            r.level,
            if r.failure.is_none() {
                "proved"
            } else {
                "FAILED"
            },
            r.largest
        ));
        if let Some(f) = &r.failure {
            out.push_str(&format!("    {f}\n"));
        }
    }
    out
}
