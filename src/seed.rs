//! The seed document's worked examples (`shared/seed/`, a Korean blog post on the
//! convolutional layer), recomputed by the reference engine, with what the seed got wrong.
//!
//! The seed's claims are kept here as data, verbatim; the correct values are computed by the
//! engine (and the tests check them against values derived by hand).

use crate::geometry::{ConvGeometry, Padding};
use crate::reference::numpy::Mode;
use crate::reference::{convolve, correlate};
use crate::scalar::Integer;
use crate::symbolic::Polynomial;
use crate::toeplitz::{array_mode_padding, convolve_matrix, correlate_matrix, MatrixLimit};
use nalgebra::DMatrix;
use ndarray::{ArrayD, IxDyn};
use num_traits::Zero;

/// The seed's input x = [2, -1, 1].
pub const X: [i64; 3] = [2, -1, 1];
/// The seed's kernel w = [1, 1, 2].
pub const W: [i64; 3] = [1, 1, 2];

/// The seed's full convolution x * w (correct).
pub const SEED_CONVOLUTION: [i64; 5] = [2, 1, 4, -1, 2];
/// The seed's convolution matrix, which multiplies x (correct).
pub const SEED_CONVOLUTION_MATRIX: [[i64; 3]; 5] =
    [[1, 0, 0], [1, 1, 0], [2, 1, 1], [0, 2, 1], [0, 0, 2]];
/// The seed's cross-correlation matrix for x ⋆ w (wrong: its first column starts 1 where the
/// reversed kernel [2, 1, 1] puts a 2, so the matrix is not even Toeplitz).
pub const SEED_CORRELATION_MATRIX: [[i64; 3]; 5] =
    [[1, 0, 0], [1, 2, 0], [1, 1, 2], [0, 1, 1], [0, 0, 1]];
/// The seed's x ⋆ w (wrong in its first element, a consequence of the matrix).
pub const SEED_CORRELATION: [i64; 5] = [2, 0, 3, 0, 1];

/// The seed's matrix for its 2-D example (a 3x3 input convolved with a 2x2 kernel), verbatim
/// from its LaTeX: 8 rows of 16 entries.
pub const SEED_2D_MATRIX: [[&str; 16]; 8] = [
    [
        "k_{22}", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0",
    ],
    [
        "k_{21}", "k_{22}", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0",
    ],
    [
        "0", "k_{21}", "k_{22}", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0",
    ],
    [
        "0", "0", "0", "k_{21}", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0",
    ],
    [
        "k_{12}", "0", "0", "k_{22}", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0",
    ],
    [
        "k_{11}", "k_{12}", "0", "k_{21}", "k_{22}", "0", "0", "0", "0", "0", "0", "0", "0", "0",
        "0", "0",
    ],
    [
        "0", "k_{11}", "k_{12}", "0", "k_{21}", "k_{22}", "0", "0", "0", "0", "0", "0", "0", "0",
        "0", "0",
    ],
    [
        "0", "0", "k_{11}", "0", "0", "k_{21}", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0",
    ],
];
/// The vector the seed multiplies [`SEED_2D_MATRIX`] by: 8 entries (x_{33} is missing).
pub const SEED_2D_VECTOR: [&str; 8] = [
    "x_{11}", "x_{12}", "x_{13}", "x_{21}", "x_{22}", "x_{23}", "x_{31}", "x_{32}",
];

/// An entry of the seed's LaTeX: `0` or a variable `k_{ij}` / `x_{ij}`.
pub fn seed_entry(text: &str) -> Polynomial {
    if text == "0" {
        return Polynomial::zero();
    }
    let (symbol, rest) = text.split_once("_{").expect("entries are 0 or s_{ij}");
    let indices: Vec<usize> = rest
        .trim_end_matches('}')
        .chars()
        .map(|c| c.to_digit(10).expect("single-digit indices") as usize)
        .collect();
    Polynomial::variable(symbol, &indices)
}

/// The seed's 2-D example by the Toeplitz builders, with symbolic k_{ij} (1-based): the true
/// convolution x * k of a 3x3 input with a 2x2 kernel, as a matrix acting on vec(x) =
/// (x_{11}, x_{12}, ..., x_{33}), in `mode` full (16 x 9, output 4x4) or valid (4 x 9, output
/// 2x2); with `correlate`, the cross-correlation instead.
pub fn seed_2d_matrix(mode: Mode, correlate: bool) -> DMatrix<Polynomial> {
    let kernel = ArrayD::from_shape_fn(IxDyn(&[1, 1, 2, 2]), |i| {
        Polynomial::variable("k", &[i[2] + 1, i[3] + 1])
    });
    let geometry = ConvGeometry::new(2).with_padding(array_mode_padding(mode));
    let build = if correlate {
        correlate_matrix
    } else {
        convolve_matrix
    };
    build(&kernel, &[1, 3, 3], &geometry, MatrixLimit::DEFAULT).expect("small valid geometry")
}

/// Which rows of the seed's 2-D matrix are rows of `correct` (comparing the seed's 16 columns
/// with the 9 columns of `correct`, the extra columns having to be zero): row numbers from 0.
pub fn seed_2d_rows_matching(correct: &DMatrix<Polynomial>) -> Vec<(usize, usize)> {
    let mut matches = Vec::new();
    for (r, row) in SEED_2D_MATRIX.iter().enumerate() {
        let seed_row: Vec<Polynomial> = row.iter().map(|e| seed_entry(e)).collect();
        for c in 0..correct.nrows() {
            let agrees = (0..seed_row.len()).all(|j| {
                let expected = if j < correct.ncols() {
                    correct[(c, j)].clone()
                } else {
                    Polynomial::zero()
                };
                seed_row[j] == expected
            });
            if agrees {
                matches.push((r, c));
            }
        }
    }
    matches
}

/// One claim of the seed and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Where in the seed.
    pub section: &'static str,
    /// What the seed says.
    pub seed_says: String,
    /// What is correct.
    pub correct: String,
    /// Whether the seed is right.
    pub seed_is_right: bool,
}

fn vector(values: &[i64]) -> ArrayD<Integer> {
    ArrayD::from_shape_vec(
        IxDyn(&[1, 1, values.len()]),
        values.iter().map(|&v| Integer::from(v)).collect(),
    )
    .expect("1-D")
}

fn as_i64(values: ArrayD<Integer>) -> Vec<i64> {
    values
        .iter()
        .map(|v| i64::try_from(v).expect("small"))
        .collect()
}

/// Full 1-D true convolution x * w by the reference engine.
pub fn full_convolution(x: &[i64], w: &[i64]) -> Vec<i64> {
    let geometry = ConvGeometry::new(1).with_padding(Padding::Full);
    as_i64(convolve(&vector(x), &vector(w), None, &geometry).expect("valid geometry"))
}

/// Full 1-D cross-correlation x ⋆ w by the reference engine (`np.correlate(x, w, 'full')`).
pub fn full_correlation(x: &[i64], w: &[i64]) -> Vec<i64> {
    let geometry = ConvGeometry::new(1).with_padding(Padding::Full);
    as_i64(correlate(&vector(x), &vector(w), None, &geometry).expect("valid geometry"))
}

/// The matrix A with A x = op(x) for a linear map of 1-D vectors of length n, found by probing
/// with the unit vectors (column j is op(e_j)).
pub fn matrix_by_probing(n: usize, op: impl Fn(&[i64]) -> Vec<i64>) -> Vec<Vec<i64>> {
    let columns: Vec<Vec<i64>> = (0..n)
        .map(|j| op(&(0..n).map(|i| i64::from(i == j)).collect::<Vec<_>>()))
        .collect();
    (0..columns[0].len())
        .map(|r| columns.iter().map(|c| c[r]).collect())
        .collect()
}

fn show_matrix<const C: usize>(m: &[[i64; C]]) -> String {
    m.iter()
        .map(|row| format!("{row:?}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn show_rows(m: &[Vec<i64>]) -> String {
    m.iter()
        .map(|row| format!("{row:?}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the seed's 2-D rows are: which rows of the full convolution and cross-correlation
/// matrices they reproduce (1-based in the text).
fn seed_2d_verdict(conv_full: &DMatrix<Polynomial>, corr_full: &DMatrix<Polynomial>) -> String {
    let conv = seed_2d_rows_matching(conv_full);
    let corr = seed_2d_rows_matching(corr_full);
    let same_row = |m: &[(usize, usize)]| m.iter().filter(|(r, c)| r == c).count();
    let wrong: Vec<String> = (0..SEED_2D_MATRIX.len())
        .filter(|r| !corr.iter().any(|(s, c)| s == r && c == r))
        .map(|r| (r + 1).to_string())
        .collect();
    format!(
        "The seed's rows are not the convolution's ({} of 8 rows agree with the rows of x * k in place); {} of 8 are the first rows of the full cross-correlation matrix (the kernel flipped); row(s) {} match neither (k_{{21}} one column too far right).",
        same_row(&conv),
        same_row(&corr),
        wrong.join(", ")
    )
}

/// Every checked claim of the seed.
pub fn findings() -> Vec<Finding> {
    let conv = full_convolution(&X, &W);
    let conv_matrix = matrix_by_probing(3, |x| full_convolution(x, &W));
    let corr = full_correlation(&X, &W);
    let corr_matrix = matrix_by_probing(3, |x| full_correlation(x, &W));
    let seed_conv_matrix: Vec<Vec<i64>> =
        SEED_CONVOLUTION_MATRIX.iter().map(|r| r.to_vec()).collect();
    let seed_corr_matrix: Vec<Vec<i64>> =
        SEED_CORRELATION_MATRIX.iter().map(|r| r.to_vec()).collect();
    let conv_full = seed_2d_matrix(Mode::Full, false);
    let conv_valid = seed_2d_matrix(Mode::Valid, false);
    let corr_full = seed_2d_matrix(Mode::Full, true);
    vec![
        Finding {
            section: "1-D convolution: [2,-1,1] * [1,1,2] (padding 2 each side)",
            seed_says: format!("{SEED_CONVOLUTION:?}"),
            correct: format!("{conv:?}"),
            seed_is_right: conv == SEED_CONVOLUTION,
        },
        Finding {
            section: "1-D convolution as a matrix (5x3 Toeplitz matrix of w times x)",
            seed_says: show_matrix(&SEED_CONVOLUTION_MATRIX),
            correct: show_rows(&conv_matrix),
            seed_is_right: conv_matrix == seed_conv_matrix,
        },
        Finding {
            section: "cross-correlation matrix for [2,-1,1] ⋆ [1,1,2]",
            seed_says: show_matrix(&SEED_CORRELATION_MATRIX),
            correct: format!("{} (Toeplitz in the reversed kernel [2,1,1]; the seed's entry (1,1) is 1, not 2)", show_rows(&corr_matrix)),
            seed_is_right: corr_matrix == seed_corr_matrix,
        },
        Finding {
            section: "cross-correlation [2,-1,1] ⋆ [1,1,2] (np.correlate(x, w, 'full'))",
            seed_says: format!("{SEED_CORRELATION:?}"),
            correct: format!("{corr:?}"),
            seed_is_right: corr == SEED_CORRELATION,
        },
        Finding {
            section: "2-D example: 3x3 input * 2x2 kernel as a matrix",
            seed_says: format!(
                "an 8x16 matrix times an 8-vector ({}..{}, x_{{33}} missing)",
                SEED_2D_VECTOR[0], SEED_2D_VECTOR[7]
            ),
            correct: format!(
                "full mode: a {}x{} doubly block Toeplitz matrix times vec(x) (9 entries, output 4x4); valid mode: {}x{} (output 2x2). {}",
                conv_full.nrows(), conv_full.ncols(), conv_valid.nrows(), conv_valid.ncols(),
                seed_2d_verdict(&conv_full, &corr_full)
            ),
            seed_is_right: false,
        },
        Finding {
            section: "properties: commutativity",
            seed_says: "u*v = v*w".into(),
            correct: "u*v = v*u (a typo; convolution is commutative, cross-correlation is not: x⋆w is the reversal of w⋆x)".into(),
            seed_is_right: false,
        },
        Finding {
            section: "properties: linearity in the first argument",
            seed_says: "(ax+b')*w = ax*w + bx'*w".into(),
            correct: "(ax+bx')*w = a(x*w) + b(x'*w)".into(),
            seed_is_right: false,
        },
        Finding {
            section: "feature map size",
            seed_says: "(W + 2P - K)/S + 1".into(),
            correct: "floor((W + 2P - D(K-1) - 1)/S) + 1: the seed has no floor (W=6, K=3, P=0, S=2 gives 2.5, the layer gives 2) and no dilation D".into(),
            seed_is_right: false,
        },
        Finding {
            section: "parameter count",
            seed_says: "K_w K_h C_in C_out + C_out".into(),
            correct: "K_w K_h (C_in/G) C_out + C_out: right for groups G = 1 with bias; a grouped or depthwise layer has G times fewer weights".into(),
            seed_is_right: true,
        },
    ]
}
