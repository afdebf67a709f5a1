//! The engines' parallel machinery, in one room: explicit thread pools (the caller's thread
//! count, as faer does), the output buffer that tiles write at disjoint indices, and the
//! recycled scratch buffers. The exact engine and the float kernels both stand on it.

/// A rayon pool of exactly `threads` threads.
pub(crate) fn thread_pool(threads: usize) -> Result<rayon::ThreadPool, String> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| format!("cannot start {threads} threads: {e}"))
}

/// The process's pool of exactly `threads` threads (at least 1), started on first use and
/// shared by every engine of that thread count: one set of worker threads per process, whose
/// stacks and allocator arenas (already mapped pages) serve every call, instead of a fresh set
/// per engine. The [`SHARED_POOLS`] most recently started are kept; an older one lives on
/// while an engine holds it.
pub fn shared_pool(threads: usize) -> Result<std::sync::Arc<rayon::ThreadPool>, String> {
    use std::sync::{Arc, Mutex, PoisonError};
    static POOLS: Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>> = Mutex::new(Vec::new());
    let threads = threads.max(1);
    let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, pool)) = pools.iter().find(|(t, _)| *t == threads) {
        return Ok(pool.clone());
    }
    let pool = Arc::new(thread_pool(threads)?);
    if pools.len() == SHARED_POOLS {
        pools.remove(0);
    }
    pools.push((threads, pool.clone()));
    Ok(pool)
}

/// How many pools [`shared_pool`] keeps (of distinct thread counts).
pub const SHARED_POOLS: usize = 4;

/// An engine's pool: the one in `cell`, else [`shared_pool`]`(threads)` put there.
pub(crate) fn engine_pool(
    cell: &std::sync::OnceLock<std::sync::Arc<rayon::ThreadPool>>,
    threads: usize,
) -> Result<&rayon::ThreadPool, String> {
    if cell.get().is_none() {
        let _ = cell.set(shared_pool(threads)?);
    }
    Ok(cell.get().expect("set above"))
}

/// Large buffers reused from call to call: free lists (one per element type) shared by the
/// engines of the process. A fresh buffer of megabytes is mapped page by page on first touch,
/// and the allocator returns it to the system when it is freed; for the ResNet-50 conv2 layer
/// that was about a sixth of a call here (page faults). Bounded: at most [`recycle::KEPT`]
/// buffers and [`recycle::KEPT_BYTES`] bytes are kept per list; the values of a taken buffer
/// are unspecified (every user overwrites or clears what it reads).
pub(crate) mod recycle {
    use std::sync::Mutex;

    /// The most buffers kept.
    pub const KEPT: usize = 32;
    /// The most bytes kept.
    pub const KEPT_BYTES: usize = 64 << 20;

    /// A free list of buffers of T.
    pub struct Pool<T>(Mutex<Vec<Vec<T>>>);

    impl<T> Pool<T> {
        /// An empty list.
        pub const fn new() -> Pool<T> {
            Pool(Mutex::new(Vec::new()))
        }

        /// An empty vector with room for `len` values (the smallest kept one that is large
        /// enough, or a new one).
        pub fn take(&self, len: usize) -> Vec<T> {
            let mut free = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let best = free
                .iter()
                .enumerate()
                .filter(|(_, v)| v.capacity() >= len)
                .min_by_key(|(_, v)| v.capacity())
                .map(|(i, _)| i);
            match best {
                Some(i) => {
                    let mut v = free.swap_remove(i);
                    v.clear();
                    v
                }
                None => Vec::with_capacity(len),
            }
        }

        /// Gives a buffer back (dropped when it is small or the list is full).
        pub fn give(&self, v: Vec<T>) {
            let size = std::mem::size_of::<T>();
            if v.capacity() * size < 1 << 15 {
                return;
            }
            let mut free = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let bytes: usize = free.iter().map(|v| v.capacity() * size).sum();
            if free.len() < KEPT && bytes + v.capacity() * size <= KEPT_BYTES {
                free.push(v);
            }
        }
    }

    impl<T: Clone> Pool<T> {
        /// A vector of `len` copies of `value`.
        pub fn filled(&self, len: usize, value: T) -> Vec<T> {
            let mut v = self.take(len);
            v.resize(len, value);
            v
        }
    }

    /// The list of f64 buffers.
    pub static F64: Pool<f64> = Pool::new();
    /// The list of f32 buffers.
    pub static F32: Pool<f32> = Pool::new();

    /// An empty f64 vector with room for `len` values ([`Pool::take`]).
    pub fn take(len: usize) -> Vec<f64> {
        F64.take(len)
    }

    /// A zero-filled f64 vector of `len` values.
    pub fn zeros(len: usize) -> Vec<f64> {
        F64.filled(len, 0.0)
    }

    /// Gives an f64 buffer back ([`Pool::give`]).
    pub fn give(v: Vec<f64>) {
        F64.give(v)
    }
}

/// An output buffer written by many threads at disjoint indices (the exact engine's tiles, the
/// float kernels' tiles and planes).
#[derive(Clone, Copy)]
pub(crate) struct SharedOutput<T> {
    start: *mut T,
    len: usize,
}

// SAFETY: the buffer outlives the parallel loop that writes it, and every index is written by
// exactly one tile (tiles partition the outputs), so no two threads touch the same element.
unsafe impl<T: Send> Send for SharedOutput<T> {}
unsafe impl<T: Send> Sync for SharedOutput<T> {}

impl<T> SharedOutput<T> {
    pub(crate) fn new(values: &mut [T]) -> SharedOutput<T> {
        SharedOutput {
            start: values.as_mut_ptr(),
            len: values.len(),
        }
    }

    /// values[start..start + len] as a slice.
    ///
    /// # Safety
    /// No other thread writes or reads that range while the slice lives.
    #[allow(clippy::mut_from_ref)] // disjoint ranges per tile, see the Send/Sync impls
    pub(crate) unsafe fn range(&self, start: usize, len: usize) -> &mut [T] {
        assert!(start + len <= self.len, "output range in bounds");
        std::slice::from_raw_parts_mut(self.start.add(start), len)
    }

    /// A pointer to values[start], checked to have `span` elements from there on (for a
    /// kernel that writes rows of a tile, which interleave with other tiles' rows).
    ///
    /// # Safety
    /// Nothing is written through it that another thread reads or writes meanwhile.
    pub(crate) unsafe fn pointer(&self, start: usize, span: usize) -> *mut T {
        assert!(start + span <= self.len, "output range in bounds");
        self.start.add(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// One pool per thread count while it is kept (a pool started per call would fail the
    /// identity); another count gets its own pool of exactly that many threads. The counts
    /// here and the engines' 1 and 2 of the other tests in this process stay within
    /// [`SHARED_POOLS`], so no pool this test holds is dropped from the list while it runs.
    #[test]
    fn one_thread_count_gives_one_pool() {
        let (a, b) = (shared_pool(3).unwrap(), shared_pool(3).unwrap());
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.current_num_threads(), 3);
        let other = shared_pool(5).unwrap();
        assert!(!Arc::ptr_eq(&a, &other));
        assert_eq!(other.current_num_threads(), 5);
        assert_eq!(shared_pool(0).unwrap().current_num_threads(), 1);
        assert!(Arc::ptr_eq(&shared_pool(3).unwrap(), &a));
    }
}
