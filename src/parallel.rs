//! The engines' parallel machinery, in one room: explicit thread pools (the caller's thread
//! count, as faer does), the output buffer that tiles write at disjoint indices, and the
//! recycled scratch buffers. The exact engine and the float kernels both stand on it.

/// A rayon pool of exactly `threads` threads.
pub(crate) fn thread_pool(threads: usize) -> Result<rayon::ThreadPool, String> {
    placed(threads.max(1), false).map_err(|e| format!("cannot start {threads} threads: {e}"))
}

/// A rayon pool of `threads` threads, each started on a processor of its own: the calling
/// thread counts as the pool's place 0 (its first thread when `use_current_thread`, else the
/// one that sleeps while the pool works), and the thread of place p starts on the p-th
/// processor after the caller's among those the process may use (cyclically). Only the start
/// is placed: once running, a thread may run on any of them.
///
/// Without this, a new thread waits on a processor's queue chosen by the kernel, which may be
/// its caller's busy one; a kernel that does not preempt at once (this project's virtual
/// machines: `PREEMPT_NONE`, a tick of 4 ms) leaves it there until the caller sleeps or the
/// tick's balancing moves it, while the other processor idles, and the caller does the pool's
/// first loops alone. In `convspec correlate` at two threads the new worker waited 0.8-3.7 ms
/// in 5 runs of 10 (`perf sched timehist`); placed, the command's median went from 12.5 to
/// 10.2 ms (40 paired runs).
fn placed(
    threads: usize,
    use_current_thread: bool,
) -> Result<rayon::ThreadPool, rayon::ThreadPoolBuildError> {
    let builder = rayon::ThreadPoolBuilder::new().num_threads(threads);
    let builder = if use_current_thread {
        builder.use_current_thread()
    } else {
        builder
    };
    #[cfg(target_os = "linux")]
    {
        let Some(placement) = Placement::of_caller() else {
            return builder.build();
        };
        let start = placement.clone();
        let first = usize::from(!use_current_thread);
        builder
            .spawn_handler(move |thread| {
                let mut spawn = std::thread::Builder::new();
                if let Some(name) = thread.name() {
                    spawn = spawn.name(name.to_owned());
                }
                if let Some(size) = thread.stack_size() {
                    spawn = spawn.stack_size(size);
                }
                let place = thread.index() + first;
                let handle = spawn.spawn(move || thread.run())?;
                placement.start_on(&handle, place);
                Ok(())
            })
            .start_handler(move |_| start.release())
            .build()
    }
    #[cfg(not(target_os = "linux"))]
    {
        builder.build()
    }
}

/// The processors the calling thread may run on, and the one it runs on ([`placed`]).
#[cfg(target_os = "linux")]
#[derive(Clone)]
struct Placement {
    allowed: libc::cpu_set_t,
    processors: Vec<usize>,
    caller: usize,
}

#[cfg(target_os = "linux")]
impl Placement {
    /// The calling thread's; None when it may run on one processor only (nothing to place)
    /// or the system does not say.
    fn of_caller() -> Option<Placement> {
        // SAFETY: cpu_set_t is plain bits (all-zero is the empty set); sched_getaffinity
        // writes at most the size given; sched_getcpu reads nothing of ours.
        let (allowed, current) = unsafe {
            let mut allowed: libc::cpu_set_t = std::mem::zeroed();
            let size = std::mem::size_of::<libc::cpu_set_t>();
            if libc::sched_getaffinity(0, size, &mut allowed) != 0 {
                return None;
            }
            (allowed, libc::sched_getcpu())
        };
        let processors: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            // SAFETY: c is below CPU_SETSIZE, within the set.
            .filter(|&c| unsafe { libc::CPU_ISSET(c, &allowed) })
            .collect();
        let caller = usize::try_from(current)
            .ok()
            .and_then(|c| processors.iter().position(|&p| p == c))
            .unwrap_or(0);
        (processors.len() > 1).then_some(Placement {
            allowed,
            processors,
            caller,
        })
    }

    /// Puts the new thread `handle` on the processor of place `place`, until it runs
    /// [`Placement::release`].
    fn start_on<T>(&self, handle: &std::thread::JoinHandle<T>, place: usize) {
        use std::os::unix::thread::JoinHandleExt;
        let processor = self.processors[(self.caller + place) % self.processors.len()];
        // SAFETY: a set of one processor, below CPU_SETSIZE; the thread is alive (joinable,
        // its handle held), and a failure leaves it where the kernel put it.
        unsafe {
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(processor, &mut one);
            libc::pthread_setaffinity_np(
                handle.as_pthread_t(),
                std::mem::size_of::<libc::cpu_set_t>(),
                &one,
            );
        }
    }

    /// Lets the calling thread run on every processor the caller could.
    fn release(&self) {
        // SAFETY: the set read by sched_getaffinity, of its size.
        unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.allowed);
        }
    }
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

/// The processor's available threads (`std::thread::available_parallelism`; 1 when unknown):
/// the engines' thread count where none is given.
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Whether an elementwise pass over `len` values is worth handing to the rayon pool: always
/// from one of its threads (the others steal what they can), and from a thread outside it
/// only above [`OUTSIDE_A_POOL`] values. A thread outside the pool pays for the hand-over
/// and for being woken when the pool is done (70-100 us on this project's virtual machines),
/// more than a second thread saves on a pass of a few hundred microseconds.
pub(crate) fn worth_a_pool(len: usize) -> bool {
    rayon::current_thread_index().is_some() || len > OUTSIDE_A_POOL
}

/// The most values a thread outside a rayon pool converts by itself: 2^18 float32 values
/// take about 0.3 ms per pass of `ScaledTensor::from_le_bytes` on one core.
const OUTSIDE_A_POOL: usize = 1 << 18;

/// `map` of every `grain`-sized chunk of `data`, joined in order from `identity`: in parallel
/// on the current rayon pool where that pays ([`worth_a_pool`]), else on the calling thread.
pub(crate) fn fold_chunks<T: Sync, R: Send + Sync + Copy>(
    data: &[T],
    grain: usize,
    identity: R,
    map: impl Fn(&[T]) -> R + Sync + Send,
    join: impl Fn(R, R) -> R + Sync + Send,
) -> R {
    use rayon::prelude::*;
    if worth_a_pool(data.len()) {
        data.par_chunks(grain).map(map).reduce(|| identity, join)
    } else {
        data.chunks(grain).map(map).fold(identity, join)
    }
}

/// The pool a thread joined ([`join_pool`]).
static JOINED: std::sync::OnceLock<&'static rayon::ThreadPool> = std::sync::OnceLock::new();

/// Makes the calling thread a worker of the process's pool of `threads` threads (it and
/// `threads - 1` started ones), as an OpenMP program's first thread belongs to its team: an
/// engine of that thread count called from it then runs there and shares the work, where a
/// thread outside the pool hands the call over and sleeps until woken (70-100 us per call on
/// this project's virtual machines). Once per process, for a thread of the program's own
/// (`convspec bench`'s main thread, timing one layer after another): every rayon loop started
/// on this thread afterwards, inside an engine or not, runs on this pool. Other threads and
/// thread counts keep using [`shared_pool`].
pub fn join_pool(threads: usize) -> Result<(), String> {
    if JOINED.get().is_some() {
        return Err("a thread has joined a pool already".into());
    }
    let pool =
        placed(threads.max(1), true).map_err(|e| format!("cannot start {threads} threads: {e}"))?;
    JOINED
        .set(Box::leak(Box::new(pool)))
        .map_err(|_| "a thread has joined a pool already".to_string())
}

/// An engine's pool: the joined pool ([`join_pool`]) for one of its threads and its thread
/// count, else the one in `cell`, else [`shared_pool`]`(threads)` put there.
pub(crate) fn engine_pool(
    cell: &std::sync::OnceLock<std::sync::Arc<rayon::ThreadPool>>,
    threads: usize,
) -> Result<&rayon::ThreadPool, String> {
    if let Some(&pool) = JOINED.get() {
        if pool.current_num_threads() == threads && pool.current_thread_index().is_some() {
            return Ok(pool);
        }
    }
    if cell.get().is_none() {
        let _ = cell.set(shared_pool(threads)?);
    }
    Ok(cell.get().expect("set above"))
}

thread_local! {
    /// Set while [`on_this_thread`] runs an engine's work on the calling thread.
    static ALONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `op` with `threads` threads: on the calling thread when `threads` is 1 (every loop
/// marked [`EngineThreads::engine_threads`] inside it then runs in order there, as a
/// one-thread pool would run it, without handing the work to a pool thread and waiting to be
/// woken), else on the engine's pool ([`engine_pool`]).
///
/// Handing a call to a pool and sleeping until it ends costs the caller a wake-up: measured
/// 70-100 us per call on this project's virtual machines (a sleeping virtual CPU is woken
/// through the host), about a tenth of a one-thread ResNet layer's time.
pub(crate) fn run_with<R: Send>(
    cell: &std::sync::OnceLock<std::sync::Arc<rayon::ThreadPool>>,
    threads: usize,
    op: impl FnOnce() -> R + Send,
) -> Result<R, String> {
    if threads <= 1 {
        Ok(on_this_thread(op))
    } else {
        Ok(install_warm(engine_pool(cell, threads)?, op))
    }
}

/// `op` on `pool` (rayon's `install`), the pool then kept warm for the next call
/// ([`keep_warm`]).
pub(crate) fn install_warm<R: Send>(pool: &rayon::ThreadPool, op: impl FnOnce() -> R + Send) -> R {
    let result = pool.install(op);
    keep_warm(pool);
    result
}

/// How long a pool's threads keep looking for work after an engine call on it ends, before
/// rayon lets them sleep: the next call's work is then taken within a microsecond instead of
/// after a sleeping thread's wake-up (30-50 us measured on this project's virtual machines
/// when the caller is itself a pool thread, 70-100 us when it is not; a two-thread ResNet
/// layer takes about a millisecond). OpenMP runtimes do the same (libgomp spins for up to
/// `GOMP_SPINCOUNT` polls before it sleeps), and PyTorch's and ONNX Runtime's thread teams
/// with them. The cost: the pool's idle threads poll (yielding the processor to any other
/// runnable thread between polls) for at most this long after the last call.
pub const WARM: std::time::Duration = std::time::Duration::from_millis(1);

/// The longest one thread keeps polling after engine calls, however many end meanwhile (each
/// extends the polling by [`WARM`]): a pool thread that took the polling job while it was
/// itself waiting for a join (rayon runs other jobs while it waits) returns to its own work
/// within this time.
pub const WARM_MOST: std::time::Duration = std::time::Duration::from_millis(10);

fn nanos(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Nanoseconds since [`warm_epoch`] until which the pools' threads keep looking for work.
static WARM_UNTIL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn warm_epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

fn warm_now() -> u64 {
    nanos(warm_epoch().elapsed())
}

thread_local! {
    /// Set while this thread polls for work in [`keep_warm`] (a poll that takes the next
    /// call's own keep-warm job then returns at once instead of nesting).
    static POLLING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(test)]
thread_local! {
    /// How many times this thread started polling in [`keep_warm`].
    static POLLS_STARTED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// After an engine call on `pool`: its threads other than the calling one look for work
/// (rayon's `yield_now`: the pool's queues, then the jobs injected from outside) for
/// [`WARM`] from now (a thread already polling polls on, for at most [`WARM_MOST`] in all),
/// then sleep as rayon's idle threads do. Does nothing for one-thread pools.
pub(crate) fn keep_warm(pool: &rayon::ThreadPool) {
    use std::sync::atomic::Ordering;
    if pool.current_num_threads() < 2 {
        return;
    }
    let until = warm_now().saturating_add(nanos(WARM));
    WARM_UNTIL.fetch_max(until, Ordering::Relaxed);
    let caller = pool.current_thread_index();
    pool.spawn_broadcast(move |context| {
        if Some(context.index()) == caller || POLLING.with(|p| p.replace(true)) {
            return;
        }
        #[cfg(test)]
        POLLS_STARTED.with(|n| n.set(n.get() + 1));
        let most = warm_now().saturating_add(nanos(WARM_MOST));
        let mut polls = 0u32;
        while !polls.is_multiple_of(64) || warm_now() < WARM_UNTIL.load(Ordering::Relaxed).min(most)
        {
            if let Some(rayon::Yield::Idle) | None = rayon::yield_now() {
                polls = polls.wrapping_add(1);
                if polls.is_multiple_of(16) {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }
        POLLING.with(|p| p.set(false));
    });
}

/// `op` on the calling thread, its marked loops in order ([`run_with`] with one thread).
pub(crate) fn on_this_thread<R>(op: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ALONE.with(|alone| alone.set(self.0));
        }
    }
    let _restore = Restore(ALONE.with(|alone| alone.replace(true)));
    op()
}

/// The threads the current engine call runs on: 1 inside [`on_this_thread`], else the
/// current rayon pool's.
pub(crate) fn threads() -> usize {
    if ALONE.with(|alone| alone.get()) {
        1
    } else {
        rayon::current_num_threads()
    }
}

/// The engines' parallel loops, marked so that [`on_this_thread`] runs them in order on the
/// calling thread: an indexed iterator whose pieces are at least the whole length there is
/// never split, and rayon then folds it where it is (no job for any pool).
pub(crate) trait EngineThreads: rayon::iter::IndexedParallelIterator + Sized {
    /// This loop, split over the current pool's threads, or whole on the calling thread.
    fn engine_threads(self) -> rayon::iter::MinLen<Self> {
        let alone = ALONE.with(|alone| alone.get());
        self.with_min_len(if alone { usize::MAX } else { 1 })
    }
}

impl<I: rayon::iter::IndexedParallelIterator> EngineThreads for I {}

/// `each(state, item)` for every item of `items` on the current pool's threads, `state` made
/// by `init` once per thread that takes part. Thread r of T (the calling thread first, then
/// `T - 1` helpers) owns the r-th of T contiguous ranges of the items, as rayon's halving of
/// an indexed loop would give it, and takes them from its front; a thread whose range is
/// empty takes the last item of the next non-empty range (work stealing, for a processor that
/// runs one thread slower). When no item is left, the calling thread polls (rayon's
/// `yield_now`) until the last one is done, where a rayon loop's caller that finishes first
/// sleeps in its join and is woken when the other thread ends: 40-60 us per call measured on
/// this project's virtual machines, 5 % of a two-thread ResNet layer. On one thread
/// ([`on_this_thread`]) the items run in order on the caller. Which thread computes an item
/// is not fixed, so `each` must not make an item's result depend on `state`'s history
/// (scratch buffers only).
pub(crate) fn for_each_item<I: Copy + Sync, S>(
    items: &[I],
    init: impl Fn() -> S + Sync,
    each: impl Fn(&mut S, I) + Sync,
) {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    let teams = threads().min(items.len());
    if teams <= 1 || u32::try_from(items.len()).is_err() {
        let mut state = init();
        items.iter().for_each(|&item| each(&mut state, item));
        return;
    }
    // Range r as (front << 32) | back: items front..back are left in it.
    let ranges: Vec<AtomicU64> = (0..teams)
        .map(|r| {
            let (front, back) = (items.len() * r / teams, items.len() * (r + 1) / teams);
            AtomicU64::new(((front as u64) << 32) | back as u64)
        })
        .collect();
    // The next item of range r: its front (for its owner) or its back (for a thief).
    let take = |r: usize, owner: bool| -> Option<usize> {
        let range = &ranges[r];
        let mut now = range.load(Ordering::Relaxed);
        loop {
            let (front, back) = (now >> 32, now & u64::from(u32::MAX));
            if front >= back {
                return None;
            }
            let (next, item) = if owner {
                (now + (1 << 32), front)
            } else {
                (now - 1, back - 1)
            };
            match range.compare_exchange_weak(now, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some(item as usize),
                Err(seen) => now = seen,
            }
        }
    };
    let done = AtomicUsize::new(0);
    // Counts an item done when it ends, a panicking one too (its panic then reaches the
    // caller through the scope, after the wait below ends).
    struct Done<'a>(&'a AtomicUsize);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Release);
        }
    }
    let work = |r: usize| {
        let mut state = None;
        let own = std::iter::from_fn(|| take(r, true));
        let stolen = std::iter::from_fn(|| (1..teams).find_map(|d| take((r + d) % teams, false)));
        for k in own.chain(stolen) {
            let _done = Done(&done);
            each(state.get_or_insert_with(&init), items[k]);
        }
    };
    rayon::in_place_scope(|scope| {
        for r in 1..teams {
            let work = &work;
            scope.spawn(move |_| work(r));
        }
        work(0);
        while done.load(Ordering::Acquire) < items.len() {
            if let Some(rayon::Yield::Idle) | None = rayon::yield_now() {
                std::hint::spin_loop();
            }
        }
    });
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
    use rayon::prelude::*;
    use std::sync::Arc;

    /// The threads that ran a marked loop's items, in the order of the items.
    fn runners(items: usize) -> Vec<std::thread::ThreadId> {
        let mut ran = vec![None; items];
        ran.par_iter_mut()
            .engine_threads()
            .for_each(|r| *r = Some(std::thread::current().id()));
        ran.into_iter().map(Option::unwrap).collect()
    }

    /// One thread: every item of a marked loop on the calling thread, [`threads`] 1 there and
    /// again what it was after; more threads: the loop on the engine's pool (its workers,
    /// not the caller) and [`threads`] the pool's count, also for a one-thread call made
    /// inside it (which runs on that worker).
    /// The processors the calling thread may run on.
    #[cfg(target_os = "linux")]
    fn affinity() -> Vec<usize> {
        // SAFETY: as in `Placement::of_caller`.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set),
                0
            );
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| libc::CPU_ISSET(c, &set))
                .collect()
        }
    }

    /// A placed thread starts on its place's processor alone, and runs anywhere once released;
    /// the pools' threads (started, then released by their start handler) may all run wherever
    /// their caller may.
    #[cfg(target_os = "linux")]
    #[test]
    fn pool_threads_start_placed_then_run_anywhere() {
        let caller = affinity();
        for pool in [
            thread_pool(3).expect("a pool"),
            thread_pool(1).expect("a pool"),
        ] {
            for seen in pool.broadcast(|_| affinity()) {
                assert_eq!(seen, caller, "a pool thread kept its start's processor");
            }
        }
        let Some(placement) = Placement::of_caller() else {
            return; // one processor: nothing is placed
        };
        for place in 1..=placement.processors.len() {
            let (go, wait) = std::sync::mpsc::channel::<()>();
            let released = placement.clone();
            let handle = std::thread::spawn(move || {
                wait.recv().expect("placed");
                let placed = affinity();
                released.release();
                (placed, affinity())
            });
            placement.start_on(&handle, place);
            go.send(()).expect("the thread waits");
            let (placed, after) = handle.join().expect("no panic");
            let n = placement.processors.len();
            let expected = placement.processors[(placement.caller + place) % n];
            // Negative control: before its release the thread may run on one processor only,
            // which the check above would reject.
            assert_eq!(placed, vec![expected]);
            assert_ne!(placed, caller);
            assert_eq!(after, caller);
        }
    }

    #[test]
    fn one_thread_runs_on_the_caller_and_more_on_the_pool() {
        let me = std::thread::current().id();
        let cell = std::sync::OnceLock::new();
        let (count, ran) = run_with(&cell, 1, || (threads(), runners(1000))).unwrap();
        assert_eq!(count, 1);
        assert!(ran.iter().all(|&t| t == me));
        assert!(cell.get().is_none(), "no pool started for one thread");
        assert_eq!(threads(), rayon::current_num_threads());
        let (count, ran, inner) = run_with(&cell, 2, || {
            let inner = run_with(&std::sync::OnceLock::new(), 1, || {
                (threads(), std::thread::current().id(), runners(100))
            })
            .unwrap();
            (threads(), runners(1000), inner)
        })
        .unwrap();
        assert_eq!(count, 2);
        assert!(ran.iter().all(|&t| t != me));
        assert_eq!(inner.0, 1);
        assert!(inner.2.iter().all(|&t| t == inner.1) && inner.1 != me);
    }

    /// A thread that joined the pool of 2 runs a two-thread call itself (no pool taken for
    /// the engine, [`threads`] 2 inside), refuses a second join, and sends other thread counts
    /// to the shared pools; another thread's two-thread call goes to the shared pool. The only
    /// test that joins (once per process).
    #[test]
    fn a_joined_thread_works_in_its_pool() {
        std::thread::spawn(|| {
            join_pool(2).unwrap();
            assert!(join_pool(2).is_err());
            let me = std::thread::current().id();
            let cell = std::sync::OnceLock::new();
            let (caller, count, ran) = run_with(&cell, 2, || {
                (std::thread::current().id(), threads(), runners(1000))
            })
            .unwrap();
            assert_eq!((caller, count, ran.len()), (me, 2, 1000));
            assert!(cell.get().is_none(), "no shared pool for the joined count");
            let three = std::sync::OnceLock::new();
            let count = run_with(&three, 3, threads).unwrap();
            assert_eq!(count, 3);
            assert!(three.get().is_some());
            let elsewhere = std::thread::spawn(|| {
                let cell = std::sync::OnceLock::new();
                let caller = run_with(&cell, 2, || std::thread::current().id()).unwrap();
                (caller != std::thread::current().id(), cell.get().is_some())
            });
            assert_eq!(elsewhere.join().unwrap(), (true, true));
        })
        .join()
        .unwrap();
    }

    /// Every parallel loop of the float kernels is marked [`EngineThreads::engine_threads`]
    /// before it runs (an unmarked one would hand a one-thread engine's work to rayon's
    /// global pool): read from their source, where each loop's start (`par_iter`,
    /// `into_par_iter`, `par_chunks`) must be followed by the mark before its first consuming
    /// call.
    #[test]
    fn the_float_kernels_loops_are_marked() {
        let sources = [
            ("direct.rs", include_str!("float/direct.rs")),
            ("fft.rs", include_str!("float/fft.rs")),
            ("im2col.rs", include_str!("float/im2col.rs")),
            ("implicit.rs", include_str!("float/implicit.rs")),
            ("winograd.rs", include_str!("float/winograd.rs")),
            ("mod.rs", include_str!("float/mod.rs")),
        ];
        let consumers = [
            ".for_each",
            ".map(",
            ".flat_map(",
            ".collect",
            ".sum(",
            ".reduce(",
        ];
        let mut loops = 0;
        for (name, source) in sources {
            for start in ["par_iter", "par_chunks"].iter().flat_map(|pattern| {
                source
                    .match_indices(pattern)
                    .map(|(i, _)| i)
                    .collect::<Vec<_>>()
            }) {
                let rest = &source[start..];
                let end = consumers
                    .iter()
                    .filter_map(|c| rest.find(c))
                    .min()
                    .unwrap_or(rest.len());
                let line = source[..start].lines().count();
                assert!(
                    rest[..end].contains(".engine_threads()"),
                    "{name}:{line}: a parallel loop without .engine_threads()"
                );
                loops += 1;
            }
        }
        assert!(loops >= 12, "{loops} loops found");
    }

    /// [`for_each_item`]: every item exactly once with its thread's own state, all on
    /// the caller at one thread; on a pool of 3, the caller's range (items 0-9), held up by
    /// its first item, is stolen from: item 0 waits until 21 other items have run, so that
    /// either another thread took item 0 or, while the caller waits in it, another thread
    /// took some of items 1-9 (the other ranges hold 20); without stealing all ten run on the
    /// caller. An item's panic reaches the caller.
    #[test]
    fn items_run_once_and_a_slow_range_is_stolen_from() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Mutex;
        let items: Vec<usize> = (0..30).collect();
        let run = |threads: usize| {
            let ran = Mutex::new(vec![Vec::new(); items.len()]);
            let others = AtomicUsize::new(0);
            let body = || {
                let caller = std::thread::current().id();
                for_each_item(
                    &items,
                    || std::thread::current().id(),
                    |me, k| {
                        assert_eq!(*me, std::thread::current().id(), "a state per thread");
                        if k == 0 && threads > 1 {
                            let start = std::time::Instant::now();
                            while others.load(Ordering::SeqCst) < 21
                                && start.elapsed() < std::time::Duration::from_secs(5)
                            {
                                std::thread::sleep(std::time::Duration::from_millis(1));
                            }
                        } else {
                            others.fetch_add(1, Ordering::SeqCst);
                        }
                        ran.lock().unwrap()[k].push(*me);
                    },
                );
                caller
            };
            let caller = run_with(&std::sync::OnceLock::new(), threads, body).unwrap();
            (ran.into_inner().unwrap(), caller)
        };
        let me = std::thread::current().id();
        let (alone, _) = run(1);
        assert!(alone.iter().all(|r| r.as_slice() == [me]));
        let (three, owner) = run(3);
        assert!(
            three.iter().all(|r| r.len() == 1),
            "every item once: {three:?}"
        );
        assert!(
            three[..10].iter().any(|r| r[0] != owner),
            "the slow range stolen from: {three:?}"
        );
        let caught = std::panic::catch_unwind(|| {
            run_with(&std::sync::OnceLock::new(), 2, || {
                for_each_item(&items, || (), |_, k| assert_ne!(k, 17, "item 17"))
            })
        });
        assert!(caught.is_err());
    }

    /// [`keep_warm`]: after a two-thread call the pool's other thread polls for work and
    /// stops within a few [`WARM`]s of the last call; calls in a row (each starting a
    /// keep-warm job, taken by the polling thread) neither nest nor hold up the caller.
    #[test]
    fn a_pool_kept_warm_polls_then_sleeps() {
        let pool = thread_pool(2).unwrap();
        let polling = || pool.broadcast(|_| POLLING.with(|p| p.get()));
        for _ in 0..200 {
            pool.install(|| runners(64));
            keep_warm(&pool);
        }
        let start = std::time::Instant::now();
        while polling().iter().any(|&p| p) {
            assert!(start.elapsed() < 100 * WARM, "still polling");
            std::thread::sleep(WARM);
        }
    }

    /// [`WARM_MOST`]: while calls keep ending (each extending the polling), a polling thread
    /// still stops within WARM_MOST and starts again at the next call: over five WARM_MOSTs
    /// of calls every 200 us, the pool's threads each start polling at least three times
    /// (once, without the bound).
    #[test]
    fn polling_stops_within_its_bound_while_calls_go_on() {
        let pool = thread_pool(2).unwrap();
        let start = std::time::Instant::now();
        while start.elapsed() < 5 * WARM_MOST {
            keep_warm(&pool);
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        let started = pool.broadcast(|_| POLLS_STARTED.with(|n| n.get()));
        assert!(started.iter().all(|&n| n >= 3), "{started:?}");
    }

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
