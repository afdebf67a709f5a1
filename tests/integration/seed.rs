//! The seed's worked examples (shared/seed/), checked against values derived by hand.
//! Where the seed is wrong, the test asserts the correct value and says what the seed got wrong.

use crate::common;

use common::ints;
use convspec::geometry::{parameter_count, ConvGeometry, DimGeometry, Padding};
use convspec::reference::numpy::{np_convolve, np_correlate, Mode};
use convspec::reference::{convolve, correlate};
use convspec::seed::{self, findings, full_convolution, full_correlation, matrix_by_probing};

#[test]
fn one_dimensional_convolution_matches_the_seed() {
    // By hand: x = [2, -1, 1], w = [1, 1, 2], (x * w)[t] = sum_tau x[t - tau] w[tau]:
    // t=0: 2*1 = 2; t=1: 2*1 + (-1)*1 = 1; t=2: 2*2 + (-1)*1 + 1*1 = 4; t=3: (-1)*2 + 1*1 = -1; t=4: 1*2 = 2.
    assert_eq!(full_convolution(&seed::X, &seed::W), vec![2, 1, 4, -1, 2]);
    assert_eq!(
        seed::SEED_CONVOLUTION.to_vec(),
        vec![2, 1, 4, -1, 2],
        "the seed is right here"
    );
    // The same through the layer API with a (1, 1, 3) tensor and np.convolve.
    let x = ints(&[1, 1, 3], &seed::X);
    let w = ints(&[1, 1, 3], &seed::W);
    let y = convolve(
        &x,
        &w,
        None,
        &ConvGeometry::new(1).with_padding(Padding::Full),
    )
    .unwrap();
    assert_eq!(y, ints(&[1, 1, 5], &[2, 1, 4, -1, 2]));
    let flat = |v: &[i64]| ints(&[v.len()], v).iter().cloned().collect::<Vec<_>>();
    assert_eq!(
        np_convolve(&flat(&seed::X), &flat(&seed::W), Mode::Full).unwrap(),
        flat(&[2, 1, 4, -1, 2])
    );
}

#[test]
fn one_dimensional_convolution_matrix_matches_the_seed() {
    // Column j of the matrix is w shifted down by j: the seed's 5x3 Toeplitz matrix is right.
    let m = matrix_by_probing(3, |x| full_convolution(x, &seed::W));
    let expected: Vec<Vec<i64>> = vec![
        vec![1, 0, 0],
        vec![1, 1, 0],
        vec![2, 1, 1],
        vec![0, 2, 1],
        vec![0, 0, 2],
    ];
    assert_eq!(m, expected);
    let seed_matrix: Vec<Vec<i64>> = seed::SEED_CONVOLUTION_MATRIX
        .iter()
        .map(|r| r.to_vec())
        .collect();
    assert_eq!(m, seed_matrix);
}

#[test]
fn cross_correlation_example_is_wrong_in_the_seed() {
    // By hand: (x ⋆ w)[t] = sum_n x[n + t - 2] w[n] (full mode), equal to x * reversed(w) = x * [2, 1, 1]:
    // t=0: 2*2 = 4; t=1: 2*1 + (-1)*2 = 0; t=2: 2*1 + (-1)*1 + 1*2 = 3; t=3: (-1)*1 + 1*1 = 0; t=4: 1*1 = 1.
    // np.correlate([2, -1, 1], [1, 1, 2], 'full') gives [4, 0, 3, 0, 1] as well.
    assert_eq!(full_correlation(&seed::X, &seed::W), vec![4, 0, 3, 0, 1]);
    // The seed says [2, 0, 3, 0, 1]: its matrix has 1 where the reversed kernel puts 2 (row 1, column 1).
    assert_ne!(seed::SEED_CORRELATION.to_vec(), vec![4, 0, 3, 0, 1]);
    let m = matrix_by_probing(3, |x| full_correlation(x, &seed::W));
    let correct: Vec<Vec<i64>> = vec![
        vec![2, 0, 0],
        vec![1, 2, 0],
        vec![1, 1, 2],
        vec![0, 1, 1],
        vec![0, 0, 1],
    ];
    assert_eq!(m, correct);
    let seed_matrix: Vec<Vec<i64>> = seed::SEED_CORRELATION_MATRIX
        .iter()
        .map(|r| r.to_vec())
        .collect();
    let differing: Vec<(usize, usize)> = (0..5)
        .flat_map(|r| (0..3).map(move |c| (r, c)))
        .filter(|&(r, c)| m[r][c] != seed_matrix[r][c])
        .collect();
    assert_eq!(
        differing,
        vec![(0, 0)],
        "exactly one entry of the seed's matrix is wrong"
    );
    // The seed's arithmetic is right for its own (wrong) matrix: [1,0,0]·x = 2, and so on.
    let seed_product: Vec<i64> = seed_matrix
        .iter()
        .map(|row| row.iter().zip(seed::X).map(|(a, b)| a * b).sum())
        .collect();
    assert_eq!(seed_product, seed::SEED_CORRELATION.to_vec());
    // The seed's remark that correlation does not commute is right: w ⋆ x is the reversal.
    let flat = |v: &[i64]| ints(&[v.len()], v).iter().cloned().collect::<Vec<_>>();
    assert_eq!(
        np_correlate(&flat(&seed::W), &flat(&seed::X), Mode::Full).unwrap(),
        flat(&[1, 0, 3, 0, 4])
    );
}

#[test]
fn two_dimensional_example_has_the_right_output_shape() {
    // A 3x3 input convolved with a 2x2 kernel: full output 4x4 (16 = rows of the matrix), valid 2x2.
    // The seed writes an 8x16 matrix times an 8-vector (x33 is missing); the matrix must be 16x9.
    let x = ints(&[1, 1, 3, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let k = ints(&[1, 1, 2, 2], &[1, 2, 3, 4]);
    let full = convolve(
        &x,
        &k,
        None,
        &ConvGeometry::new(2).with_padding(Padding::Full),
    )
    .unwrap();
    assert_eq!(full.shape(), &[1, 1, 4, 4]);
    // By hand, full convolution of [[1,2,3],[4,5,6],[7,8,9]] with [[1,2],[3,4]]:
    assert_eq!(
        full,
        ints(
            &[1, 1, 4, 4],
            &[1, 4, 7, 6, 7, 23, 33, 24, 19, 53, 63, 42, 21, 52, 59, 36]
        )
    );
    let valid = correlate(&x, &k, None, &ConvGeometry::new(2)).unwrap();
    // Valid correlation: [[1+4+12+20, 2+6+15+24], [4+10+21+32, 5+12+24+36]] = [[37, 47], [67, 77]].
    assert_eq!(valid, ints(&[1, 1, 2, 2], &[37, 47, 67, 77]));
    let matrix_rows = full.len();
    let matrix_cols = x.len();
    assert_eq!((matrix_rows, matrix_cols), (16, 9));
    assert!(findings()
        .iter()
        .any(|f| f.section.starts_with("2-D") && !f.seed_is_right));
}

#[test]
fn output_size_formula_needs_a_floor_and_dilation() {
    // The seed: (W + 2P - K)/S + 1. W=6, K=3, P=0, S=2 gives 2.5; the layer has 2 outputs.
    let seed_formula = (6.0 + 0.0 - 3.0) / 2.0 + 1.0;
    assert_eq!(seed_formula, 2.5);
    let g = DimGeometry {
        input: 6,
        kernel: 3,
        stride: 2,
        dilation: 1,
        pad_begin: 0,
        pad_end: 0,
    };
    assert_eq!(g.output_size(0).unwrap(), 2);
    // Where the division is exact and d = 1, the seed's formula agrees: W=7 -> (7-3)/2+1 = 3.
    let g = DimGeometry { input: 7, ..g };
    assert_eq!(g.output_size(0).unwrap(), 3);
    // With dilation 2 the kernel spans 5: W=7 -> 2, which the seed's formula cannot give.
    let g = DimGeometry { dilation: 2, ..g };
    assert_eq!(g.output_size(0).unwrap(), 2);
}

#[test]
fn parameter_count_formula_holds_for_ungrouped_layers() {
    // The seed: K_w K_h C_in C_out + C_out. 3x3, 16 -> 32: 9*16*32 + 32 = 4640.
    assert_eq!(parameter_count(16, 32, 1, &[3, 3], true).unwrap(), 4640);
    // With groups it overcounts by the group factor: groups 4 gives 9*4*32 + 32 = 1184.
    assert_eq!(parameter_count(16, 32, 4, &[3, 3], true).unwrap(), 1184);
}

#[test]
fn the_findings_list_marks_every_mistake() {
    let wrong: Vec<&str> = findings()
        .iter()
        .filter(|f| !f.seed_is_right)
        .map(|f| f.section)
        .collect();
    assert_eq!(wrong.len(), 6, "{wrong:?}");
}
