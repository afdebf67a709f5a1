//! Multi-indices in C order (NumPy's default layout): the flat position of a multi-index in a
//! shape, its inverse, and every multi-index of a box. One room for what every operator, the
//! Toeplitz builders, the oracle and the readers share.

/// The C-order flat position of `index` in an array of `shape`: sum_k i_k prod_{l > k} n_l
/// (NumPy's `np.ravel_multi_index`). O(rank).
pub fn ravel(index: &[usize], shape: &[usize]) -> usize {
    index
        .iter()
        .zip(shape)
        .fold(0, |flat, (&i, &size)| flat * size + i)
}

/// The multi-index of flat C-order position `flat` in `shape` (NumPy's `np.unravel_index`); the
/// inverse of [`ravel`]. O(rank).
pub fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (slot, &size) in index.iter_mut().zip(shape).rev() {
        if size > 0 {
            *slot = flat % size;
            flat /= size;
        }
    }
    index
}

/// All multi-indices of a box of the given sizes, in C order (`np.ndindex`). O(prod(sizes)
/// rank) time and memory.
pub fn multi_indices(sizes: &[usize]) -> Vec<Vec<usize>> {
    let mut all = vec![Vec::new()];
    for &size in sizes {
        all = all
            .into_iter()
            .flat_map(|prefix| {
                (0..size).map(move |i| {
                    let mut next = prefix.clone();
                    next.push(i);
                    next
                })
            })
            .collect();
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unravel_is_c_order() {
        assert_eq!(unravel(5, &[2, 3]), vec![1, 2]);
        assert_eq!(unravel(0, &[]), Vec::<usize>::new());
    }

    #[test]
    fn ravel_inverts_unravel() {
        let shape = [3, 1, 4, 2];
        for flat in 0..24 {
            assert_eq!(ravel(&unravel(flat, &shape), &shape), flat);
        }
    }

    #[test]
    fn multi_indices_are_c_order() {
        assert_eq!(
            multi_indices(&[2, 2]),
            vec![vec![0, 0], vec![0, 1], vec![1, 0], vec![1, 1]]
        );
        assert_eq!(multi_indices(&[]), vec![Vec::<usize>::new()]);
        assert!(multi_indices(&[3, 0]).is_empty());
    }
}
