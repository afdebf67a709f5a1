//! The bridge between the Coq definitions (proofs/coq) and the reference engine: Coq evaluates
//! its definitions on small integer cases (proofs/coq/Bridge.v, with each evaluated function
//! proved equal to the definition its theorems are about) and writes the results to
//! tests/fixtures/coq/; these tests recompute every case with `src/reference` and require the
//! same integers. A change to either side that breaks the correspondence fails here (or, on
//! the Coq side, in CI, which regenerates the files and compares them with the committed ones).

use convspec::geometry::{
    pool_output_size, ConvGeometry, DimGeometry, Padding, PoolGeometry, TransposeGeometry,
    TransposePadding,
};
use convspec::ndarray::{ArrayD, IxDyn};
use convspec::reference::numpy::{np_convolve, np_correlate, Mode};
use convspec::reference::scipy::{convolve2d, Boundary};
use convspec::reference::{conv_transpose, correlate, correlate_backward};
use convspec::scalar::Integer;

/// A value printed by Coq: an integer, a sequence `[:: a; b]` or a tuple `(a, b, c)`.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Int(i64),
    Seq(Vec<Value>),
    Tuple(Vec<Value>),
}

impl Value {
    fn ints(&self) -> Vec<i64> {
        match self {
            Value::Seq(items) => items
                .iter()
                .map(|v| match v {
                    Value::Int(i) => *i,
                    other => panic!("an integer, not {other:?}"),
                })
                .collect(),
            other => panic!("a sequence of integers, not {other:?}"),
        }
    }

    fn number(&self) -> usize {
        match self {
            Value::Int(v) => usize::try_from(*v).expect("a natural number"),
            other => panic!("a number, not {other:?}"),
        }
    }

    /// A nested sequence of integers as an array of the given shape (C order).
    fn array(&self, shape: &[usize]) -> ArrayD<Integer> {
        fn flatten(v: &Value, out: &mut Vec<Integer>) {
            match v {
                Value::Int(i) => out.push(Integer::from(*i)),
                Value::Seq(items) => items.iter().for_each(|item| flatten(item, out)),
                Value::Tuple(_) => panic!("a sequence, not a tuple"),
            }
        }
        let mut flat = Vec::new();
        flatten(self, &mut flat);
        ArrayD::from_shape_vec(IxDyn(shape), flat).expect("the case's shape")
    }
}

/// Parses the value of `Redirect "f" Eval vm_compute in t.` (the text between `=` and the
/// type after `:`): integers `3%Z` or `(-3)%Z`, `[:: ...; ...]`, `(.., ..)`.
fn parse_coq_output(text: &str) -> Value {
    let body = text.trim_start();
    let body = body
        .strip_prefix('=')
        .expect("an evaluation's output starts with =");
    let cleaned = body.replace("%Z", "").replace("%N", "");
    let tokens: Vec<char> = cleaned.chars().filter(|c| !c.is_whitespace()).collect();
    let mut at = 0;
    let value = parse_value(&tokens, &mut at);
    assert_eq!(tokens.get(at), Some(&':'), "the type follows the value");
    value
}

fn parse_value(t: &[char], at: &mut usize) -> Value {
    if t[*at..].starts_with(&['[', ':', ':']) {
        *at += 3;
        let mut items = Vec::new();
        while t[*at] != ']' {
            items.push(parse_value(t, at));
            if t[*at] == ';' {
                *at += 1;
            }
        }
        *at += 1;
        return Value::Seq(items);
    }
    if t[*at] == '(' {
        *at += 1;
        let mut items = vec![parse_value(t, at)];
        while t[*at] == ',' {
            *at += 1;
            items.push(parse_value(t, at));
        }
        assert_eq!(t[*at], ')', "a closing parenthesis at {}", *at);
        *at += 1;
        // (-3) is a parenthesised integer, not a tuple.
        return if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Value::Tuple(items)
        };
    }
    let start = *at;
    if t[*at] == '-' {
        *at += 1;
    }
    while t[*at].is_ascii_digit() {
        *at += 1;
    }
    let digits: String = t[start..*at].iter().collect();
    Value::Int(
        digits
            .parse()
            .unwrap_or_else(|_| panic!("an integer at {start}: {digits:?}")),
    )
}

fn coq_output(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/coq/{name}.out",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse_coq_output(&text)
}

/// The cases of tests/fixtures/coq/`name`.out, each as the parts of its tuple (`layout` names
/// them in the message when a case is not a tuple); at least `at_least` of them, so that an
/// empty or truncated file fails.
fn coq_cases(name: &str, at_least: usize, layout: &str) -> Vec<Vec<Value>> {
    let Value::Seq(cases) = coq_output(name) else {
        panic!("{name}: a sequence of cases");
    };
    assert!(
        cases.len() >= at_least,
        "{name}: the committed cases, not an empty file"
    );
    cases
        .into_iter()
        .map(|case| match case {
            Value::Tuple(parts) => parts,
            other => panic!("{name}: {layout}, not {other:?}"),
        })
        .collect()
}

fn integers(values: &[i64]) -> Vec<Integer> {
    values.iter().map(|&v| Integer::from(v)).collect()
}

/// Coq's `conv` (proofs/coq/Conv1D.v) is `np_convolve(a, v, 'full')` on every case.
#[test]
fn coq_full_convolution_is_the_reference_np_convolve() {
    for parts in coq_cases("conv1d", 30, "(a, v, y)") {
        let (a, v, y) = (parts[0].ints(), parts[1].ints(), parts[2].ints());
        let expected = np_convolve(&integers(&a), &integers(&v), Mode::Full).expect("non-empty");
        assert_eq!(integers(&y), expected, "np.convolve({a:?}, {v:?})");
    }
}

/// Coq's `corr` (proofs/coq/Corr1D.v, the core formula) is `np_correlate(a, v, 'full')` on
/// every case, those where NumPy swaps the arguments (len v > len a) included.
#[test]
fn coq_correlation_is_the_reference_np_correlate() {
    let mut swapped = 0;
    for parts in coq_cases("corr1d", 30, "(a, v, c)") {
        let (a, v, c) = (parts[0].ints(), parts[1].ints(), parts[2].ints());
        swapped += usize::from(v.len() > a.len());
        let expected = np_correlate(&integers(&a), &integers(&v), Mode::Full).expect("non-empty");
        assert_eq!(integers(&c), expected, "np.correlate({a:?}, {v:?})");
    }
    assert!(swapped > 0, "some cases take NumPy's swap rule");
}

/// Coq's `output_size` (proofs/coq/Sizes.v, proved to count the valid window positions) and
/// its count of them one by one are `DimGeometry::output_size` on every case.
#[test]
fn coq_output_sizes_are_the_geometry_output_sizes() {
    for parts in coq_cases("sizes", 40, "(L, p_b, p_e, k, s, d, O, count)") {
        let n: Vec<usize> = parts.iter().map(Value::number).collect();
        let geometry = DimGeometry {
            input: n[0],
            pad_begin: n[1],
            pad_end: n[2],
            kernel: n[3],
            stride: n[4],
            dilation: n[5],
        };
        let size = geometry.output_size(0).expect("the kernel fits");
        assert_eq!((size, size), (n[6], n[7]), "{geometry:?}");
    }
}

/// Coq's correlation layer, its transpose and its weight and bias gradients
/// (proofs/coq/Layer1D.v, where the transpose is proved to be the layer's adjoint and the three
/// the gradients of <y, correlate(x, w) + b>, for every size) are `correlate`, `conv_transpose` and
/// `correlate_backward` of the reference engine on every case: groups, stride, dilation,
/// asymmetric padding.
#[test]
fn coq_layer_transpose_and_gradients_are_the_reference_ones() {
    for parts in coq_cases(
        "layer1d",
        20,
        "(G, C_in/G, C_out/G, L, k, s, d, p_b, p_e, x, w, y, layer, transposed, dw, db)",
    ) {
        let n: Vec<usize> = parts[..9].iter().map(Value::number).collect();
        let (groups, cin, cout, length, k, s, d, pb, pe) =
            (n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7], n[8]);
        let out = (length + pb + pe - (d * (k - 1) + 1)) / s + 1;
        let x = parts[9].array(&[1, groups * cin, length]);
        let w = parts[10].array(&[groups * cout, cin, k]);
        let y = parts[11].array(&[1, groups * cout, out]);
        let layer = parts[12].array(&[1, groups * cout, out]);
        let transposed = parts[13].array(&[1, groups * cin, length]);
        let weight_grad = parts[14].array(&[groups * cout, cin, k]);
        let bias_grad = parts[15].array(&[groups * cout]);
        let geometry = ConvGeometry::new(1)
            .with_stride(vec![s])
            .with_dilation(vec![d])
            .with_padding(Padding::Explicit(vec![(pb, pe)]))
            .with_groups(groups);
        assert_eq!(
            correlate(&x, &w, None, &geometry).expect("a valid layer"),
            layer,
            "correlate, case {n:?}"
        );
        // The transpose's output padding restores the input length L.
        let output_padding = length + pb + pe - ((out - 1) * s + d * (k - 1) + 1);
        let transpose = TransposeGeometry::new(1)
            .with_stride(vec![s])
            .with_dilation(vec![d])
            .with_padding(TransposePadding::Explicit(vec![(pb, pe)]))
            .with_output_padding(vec![output_padding])
            .with_groups(groups);
        assert_eq!(
            conv_transpose(&y, &w, None, &transpose).expect("a valid transpose"),
            transposed,
            "conv_transpose, case {n:?}"
        );
        // The gradients of <y, correlate(x, w) + b>: the transpose, the weight gradient and
        // the bias gradient.
        let gradients = correlate_backward(&x, &w, &y, &geometry).expect("a valid layer");
        assert_eq!(gradients.input, transposed, "input gradient, case {n:?}");
        assert_eq!(gradients.weight, weight_grad, "weight gradient, case {n:?}");
        assert_eq!(gradients.bias, bias_grad, "bias gradient, case {n:?}");
    }
}

/// Coq's ceil-mode pooling size (proofs/coq/Sizes.v, proved to count the windows that start
/// before P - span + s and inside the input or the left padding) and its count of them are
/// `pool_output_size` with `ceil_mode` on every case.
#[test]
fn coq_ceil_mode_pool_sizes_are_the_geometry_pool_sizes() {
    for parts in coq_cases("pool_sizes", 40, "(L, p_b, p_e, k, s, d, O, count)") {
        let n: Vec<usize> = parts.iter().map(Value::number).collect();
        let geometry = PoolGeometry {
            kernel: n[3],
            stride: n[4],
            pad_begin: n[1],
            pad_end: n[2],
            dilation: n[5],
            ceil_mode: true,
        };
        let size = pool_output_size(0, n[0], &geometry).expect("a valid pooling");
        assert_eq!((size, size), (n[6], n[7]), "L = {}, {geometry:?}", n[0]);
    }
}

/// Coq's full 2-D convolution (proofs/coq/Conv2D.v, commutative and associative for every
/// shape) is `scipy.signal.convolve2d(x, w, 'full')` on every case.
#[test]
fn coq_2d_convolution_is_the_reference_convolve2d() {
    for parts in coq_cases("conv2d", 16, "(H_x, W_x, x, H_w, W_w, w, y)") {
        let (hx, wx, hw, ww) = (
            parts[0].number(),
            parts[1].number(),
            parts[3].number(),
            parts[4].number(),
        );
        let x = parts[2].array(&[hx, wx]);
        let w = parts[5].array(&[hw, ww]);
        let y = parts[6].array(&[hx + hw - 1, wx + ww - 1]);
        let zero = Integer::from(0);
        let expected = convolve2d(&x, &w, Mode::Full, Boundary::Fill, &zero).expect("2-D");
        assert_eq!(expected, y, "convolve2d of {x} and {w}");
    }
}

/// The parser reads what Coq prints, and refuses what it does not.
#[test]
fn coq_output_parser_reads_integers_sequences_and_tuples() {
    let value = parse_coq_output(
        "     = [:: ([:: 1%Z; (-2)%Z], [::\n  3%Z], [::])]\n     : seq (seq Z * seq Z * seq Z)\n",
    );
    assert_eq!(
        value,
        Value::Seq(vec![Value::Tuple(vec![
            Value::Seq(vec![Value::Int(1), Value::Int(-2)]),
            Value::Seq(vec![Value::Int(3)]),
            Value::Seq(vec![]),
        ])])
    );
    assert!(std::panic::catch_unwind(|| parse_coq_output("[:: 1%Z]")).is_err());
}
