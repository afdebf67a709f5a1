//! Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, "Fast algorithms for
//! convolutional neural networks", 2016) for 3x3 layers at stride 1 and dilation 1 with zero
//! padding: each 2x2 block of outputs is
//!
//! ```text
//! Y = A^T [ sum_c (G g_c G^T) (.) (B^T d_c B) ] A + b
//! ```
//!
//! with d_c the 4x4 input tile of channel c (zeros outside the input), g_c the 3x3 kernel and
//! (.) the elementwise product: 16 multiplications per channel and tile instead of 36. The
//! transforms are evaluated in this order: U = (G g) G^T, V = (B^T d) B, the 16 channel sums
//! M = sum_c U (.) V as matrix products (the `gemm` crate), Y = (A^T M) A, then + b.
//!
//! Error bound (see `proofs/exact.md`, W1, and [`crate::oracle::Reference::winograd`]): for
//! every output, |Y_hat - Y| <= gamma_(C+11) S_W + (underflow), where S_W = |A^T| sum_c
//! (|G||g_c||G^T|) (.) (|B^T||d_c||B|) |A| + |b| and C = C_in/G: the transforms' magnitudes, not
//! S = sum |w||x|, are what the rounding errors scale with.
//!
//! Matrices (rows of B^T, G, A^T):
//!
//! ```text
//! B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//! G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//! A^T = [1 1 1 0; 0 1 -1 -1]
//! ```

use super::{FloatScalar, Layer};
use crate::exact::engine::SharedOutput;
use rayon::prelude::*;

/// B^T.
pub const B_T: [[i8; 4]; 4] = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]];
/// 2 G (integers; G = this / 2).
pub const G_TWICE: [[i8; 3]; 4] = [[2, 0, 0], [1, 1, 1], [1, -1, 1], [0, 0, 2]];
/// A^T.
pub const A_T: [[i8; 4]; 2] = [[1, 1, 1, 0], [0, 1, -1, -1]];

/// Whether the layer is one F(2x2, 3x3) computes: 2-D, 3x3 kernel, stride 1, dilation 1,
/// zero padding.
pub fn applies<T: FloatScalar>(layer: &Layer<'_, T>) -> bool {
    layer.shape.dims.len() == 2
        && layer.zero_padding
        && layer
            .shape
            .dims
            .iter()
            .all(|d| d.kernel == 3 && d.stride == 1 && d.dilation == 1)
}

fn half<T: FloatScalar>() -> T {
    <T as FloatScalar>::from_f64(0.5)
}

/// U = (G g) G^T for a 3x3 kernel g (row-major), in T.
fn transform_kernel<T: FloatScalar>(g: &[T]) -> [T; 16] {
    let h = half::<T>();
    // G g: 4x3. Row a of G: (1,0,0), (1/2,1/2,1/2), (1/2,-1/2,1/2), (0,0,1).
    let mut gg = [T::zero(); 12];
    for l in 0..3 {
        let (g0, g1, g2) = (g[l], g[3 + l], g[6 + l]);
        gg[l] = g0;
        gg[3 + l] = h * g0 + h * g1 + h * g2;
        gg[6 + l] = h * g0 - h * g1 + h * g2;
        gg[9 + l] = g2;
    }
    // (G g) G^T: 4x4.
    let mut u = [T::zero(); 16];
    for a in 0..4 {
        let (t0, t1, t2) = (gg[3 * a], gg[3 * a + 1], gg[3 * a + 2]);
        u[4 * a] = t0;
        u[4 * a + 1] = h * t0 + h * t1 + h * t2;
        u[4 * a + 2] = h * t0 - h * t1 + h * t2;
        u[4 * a + 3] = t2;
    }
    u
}

/// V = (B^T d) B for a 4x4 tile d (row-major).
#[inline(always)]
fn transform_tile<T: FloatScalar>(d: &[T; 16]) -> [T; 16] {
    // B^T d: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3.
    let mut t = [T::zero(); 16];
    for j in 0..4 {
        let (d0, d1, d2, d3) = (d[j], d[4 + j], d[8 + j], d[12 + j]);
        t[j] = d0 - d2;
        t[4 + j] = d1 + d2;
        t[8 + j] = d2 - d1;
        t[12 + j] = d1 - d3;
    }
    let mut v = [T::zero(); 16];
    for a in 0..4 {
        let (r0, r1, r2, r3) = (t[4 * a], t[4 * a + 1], t[4 * a + 2], t[4 * a + 3]);
        v[4 * a] = r0 - r2;
        v[4 * a + 1] = r1 + r2;
        v[4 * a + 2] = r2 - r1;
        v[4 * a + 3] = r1 - r3;
    }
    v
}

/// Y = (A^T m) A for a 4x4 m: 2x2.
#[inline(always)]
fn transform_output<T: FloatScalar>(m: &[T; 16]) -> [T; 4] {
    let mut t = [T::zero(); 8];
    for j in 0..4 {
        let (m0, m1, m2, m3) = (m[j], m[4 + j], m[8 + j], m[12 + j]);
        t[j] = m0 + m1 + m2;
        t[4 + j] = m1 - m2 - m3;
    }
    let mut y = [T::zero(); 4];
    for r in 0..2 {
        let (s0, s1, s2, s3) = (t[4 * r], t[4 * r + 1], t[4 * r + 2], t[4 * r + 3]);
        y[2 * r] = s0 + s1 + s2;
        y[2 * r + 1] = s1 - s2 - s3;
    }
    y
}

/// The layer's output (N, C_out, H_out, W_out) in C order (the layer must satisfy
/// [`applies`]).
pub fn correlate<T: FloatScalar>(layer: &Layer<'_, T>) -> Vec<T> {
    let s = &layer.shape;
    let (dh, dw) = (s.dims[0], s.dims[1]);
    let (out_h, out_w) = (layer.output_shape[2], layer.output_shape[3]);
    let (tiles_h, tiles_w) = (out_h.div_ceil(2), out_w.div_ceil(2));
    let tiles = tiles_h * tiles_w;
    let (in_per_group, out_per_group) = (s.in_channels / s.groups, s.out_channels / s.groups);
    // U[g][e][o][c] for each of the 16 transform positions e: (C_out/G) x (C_in/G) matrices.
    let u: Vec<Vec<T>> = (0..s.groups)
        .map(|g| {
            let mut u = vec![T::zero(); 16 * out_per_group * in_per_group];
            for o in 0..out_per_group {
                for c in 0..in_per_group {
                    let at = ((g * out_per_group + o) * in_per_group + c) * 9;
                    let ug = transform_kernel(&layer.weight[at..at + 9]);
                    for (e, &v) in ug.iter().enumerate() {
                        u[(e * out_per_group + o) * in_per_group + c] = v;
                    }
                }
            }
            u
        })
        .collect();
    let positions = layer.positions;
    let mut out = vec![T::zero(); s.batch * s.out_channels * positions];
    let shared = SharedOutput::new(&mut out);
    // Jobs: (batch element, group, a run of tiles), so that one image uses every thread, with
    // runs of at least 256 tiles (the 16 products are GEMMs with that many columns).
    let threads = rayon::current_num_threads();
    let chunk = tiles.div_ceil(2 * threads).max(256);
    let jobs: Vec<(usize, usize, usize, usize)> = (0..s.batch)
        .flat_map(|n| (0..s.groups).map(move |g| (n, g)))
        .flat_map(|(n, g)| {
            (0..tiles)
                .step_by(chunk)
                .map(move |t0| (n, g, t0, (t0 + chunk).min(tiles)))
        })
        .collect();
    jobs.into_par_iter().for_each(|(n, g, t0, t1)| {
        let count = t1 - t0;
        // V[e][c][tile - t0].
        let mut v = vec![T::zero(); 16 * in_per_group * count];
        for c in 0..in_per_group {
            let channel = &layer.input
                [(n * s.in_channels + g * in_per_group + c) * layer.spatial..][..layer.spatial];
            for tile in t0..t1 {
                let (th, tw) = (tile / tiles_w, tile % tiles_w);
                let mut d = [T::zero(); 16];
                for i in 0..4 {
                    let row = (2 * th + i) as i64 - dh.pad_begin as i64;
                    if row < 0 || row >= dh.input as i64 {
                        continue;
                    }
                    for j in 0..4 {
                        let col = (2 * tw + j) as i64 - dw.pad_begin as i64;
                        if col >= 0 && col < dw.input as i64 {
                            d[4 * i + j] = channel[row as usize * dw.input + col as usize];
                        }
                    }
                }
                let vt = transform_tile(&d);
                for (e, &x) in vt.iter().enumerate() {
                    v[(e * in_per_group + c) * count + tile - t0] = x;
                }
            }
        }
        // M[e] = U[e] V[e]: (C_out/G) x count, for each e.
        let mut m = vec![T::zero(); 16 * out_per_group * count];
        if in_per_group > 0 && out_per_group > 0 && count > 0 {
            for e in 0..16 {
                let lhs = &u[g][e * out_per_group * in_per_group..][..out_per_group * in_per_group];
                let rhs = &v[e * in_per_group * count..][..in_per_group * count];
                let dst = &mut m[e * out_per_group * count..][..out_per_group * count];
                // SAFETY: dst is out_per_group x count (row stride count), lhs out_per_group
                // x in_per_group (row stride in_per_group), rhs in_per_group x count (row
                // stride count), all within their slices; T is f32 or f64.
                unsafe {
                    gemm::gemm(
                        out_per_group,
                        count,
                        in_per_group,
                        dst.as_mut_ptr(),
                        1,
                        count as isize,
                        false,
                        lhs.as_ptr(),
                        1,
                        in_per_group as isize,
                        rhs.as_ptr(),
                        1,
                        count as isize,
                        T::zero(),
                        T::ONE,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            }
        }
        for o in 0..out_per_group {
            let channel = g * out_per_group + o;
            let bias = layer.bias[channel];
            let first = (n * s.out_channels + channel) * positions;
            for tile in t0..t1 {
                let (th, tw) = (tile / tiles_w, tile % tiles_w);
                let mut mt = [T::zero(); 16];
                for (e, x) in mt.iter_mut().enumerate() {
                    *x = m[(e * out_per_group + o) * count + tile - t0];
                }
                let y = transform_output(&mt);
                for r in 0..2 {
                    for q in 0..2 {
                        let (row, col) = (2 * th + r, 2 * tw + q);
                        if row < out_h && col < out_w {
                            // SAFETY: this output belongs to tile `tile`, which only this job
                            // computes.
                            let cell = unsafe { shared.range(first + row * out_w + col, 1) };
                            cell[0] = y[2 * r + q] + bias;
                        }
                    }
                }
            }
        }
    });
    out
}
