//! glibc's allocator, set for a process that holds one large table and passes small
//! chunks through it. The crate's only other `unsafe` is in [`super::socket`].
#![allow(unsafe_code)]

/// Allocations of this many bytes or more get their own mapping, given back to the
/// kernel when freed: 128 KiB, glibc's default, but fixed.
///
/// glibc starts at 128 KiB and raises the threshold to the size of each mapped block
/// that is freed, up to 32 MiB. The route server's tables grow by doubling (the Loc-RIB's
/// hash shards, the Adj-RIB-In log, a pass's lists): once an old copy is freed, later
/// blocks of that size come from the heap instead, whose freed middle is not given back.
/// In memory (`route_server_memory`, BENCHMARKS.md "Loc-RIB insert and memory") that
/// cost up to 15 MiB of RSS when withdrawing a million routes. End to end
/// (`tools/bench/e2e.sh`, 100,000 routes) the fixed threshold took serve's peak from
/// 15.1 to 14.7 MiB to one receiver and 15.3 to 14.9 to three, alternating runs; at a
/// million routes the peak (87 MiB) and CPU did not move.
pub const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Fixes glibc's mmap threshold at [`MMAP_THRESHOLD`] for the whole process (once, at
/// start, before the runtime allocates). Elsewhere (musl, other systems) it does nothing.
/// An explicit `MALLOC_MMAP_THRESHOLD_` in the environment still wins: nothing is set
/// then.
pub fn fix_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt takes two integers and only changes the allocator's parameters;
        // it is called before the runtime starts any task, from the only thread.
        let _ = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// glibc accepts the value (mallopt returns 1 on success, 0 on error; the threshold
    /// may be at most HEAP_MAX_SIZE / 2, 32 MiB on 64-bit).
    #[test]
    fn glibc_accepts_the_threshold() {
        // SAFETY: as in fix_mmap_threshold; a test process only changes its own allocator.
        let accepted = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
        assert_eq!(accepted, 1);
    }
}
