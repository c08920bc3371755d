//! Interleaved best-of-N timing, printed beside criterion's numbers.
//!
//! On a loaded machine (these benches share two cores with builds) criterion's medians
//! move with whatever else runs. Running every contender once per round, in turn, and
//! keeping each one's fastest round exposes them all to the same disturbances and keeps
//! the least disturbed measurement of each: the ratios between them hold up better.

use std::time::Instant;

/// One contender: its name and one full run of its work.
pub type Job<'a> = (&'a str, &'a mut dyn FnMut());

/// Runs every job once per round for `rounds` rounds, in turn, and returns the fastest
/// round of each, in seconds, in job order.
pub fn interleaved_minimums(rounds: usize, jobs: &mut [Job<'_>]) -> Vec<f64> {
    let mut best = vec![f64::INFINITY; jobs.len()];
    for _ in 0..rounds {
        for (slot, (_, run)) in best.iter_mut().zip(jobs.iter_mut()) {
            let start = Instant::now();
            run();
            *slot = slot.min(start.elapsed().as_secs_f64());
        }
    }
    best
}

/// Formats the result of [`interleaved_minimums`] as a table: time per element (an
/// element is what one run does `elements` of: messages, RIB entries, prefixes),
/// elements per second, and the ratio to the first job.
pub fn minimums_table(title: &str, elements: u64, names: &[&str], best: &[f64]) -> String {
    let n = elements as f64;
    let mut out = format!(
        "\n{title}\n{:<22} {:>12} {:>14} {:>10}\n",
        "", "ns/element", "elements/s", "ratio"
    );
    for (name, secs) in names.iter().zip(best) {
        out.push_str(&format!(
            "{:<22} {:>12.1} {:>14.0} {:>10.2}\n",
            name,
            secs / n * 1e9,
            n / secs,
            secs / best[0]
        ));
    }
    out
}

/// Whether the bench binary runs as `cargo bench` runs it (criterion's `--bench` flag),
/// not in the quick test mode of `cargo test --benches`.
pub fn is_bench_run() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// [`interleaved_minimums`] then [`minimums_table`], printed; skipped outside
/// [`is_bench_run`], where one pass of each bench is all that is wanted.
pub fn print_interleaved(title: &str, elements: u64, rounds: usize, jobs: &mut [Job<'_>]) {
    if !is_bench_run() {
        return;
    }
    let names: Vec<&str> = jobs.iter().map(|(name, _)| *name).collect();
    let best = interleaved_minimums(rounds, jobs);
    println!("{}", minimums_table(title, elements, &names, &best));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_runs_once_per_round_and_gets_a_time() {
        let (mut a, mut b) = (0, 0);
        let mut run_a = || a += 1;
        let mut run_b = || b += 1;
        let best = interleaved_minimums(3, &mut [("a", &mut run_a), ("b", &mut run_b)]);
        assert_eq!((a, b), (3, 3));
        assert_eq!(best.len(), 2);
        assert!(best.iter().all(|t| t.is_finite() && *t >= 0.0));
    }

    #[test]
    fn table_has_a_line_per_job_and_ratio_one_for_the_first() {
        let table = minimums_table("t", 10, &["x", "y"], &[1e-6, 2e-6]);
        let lines: Vec<&str> = table
            .lines()
            .filter(|l| l.starts_with('x') || l.starts_with('y'))
            .collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].contains("100.0") && lines[0].ends_with("1.00"),
            "{table}"
        );
        assert!(
            lines[1].contains("200.0") && lines[1].ends_with("2.00"),
            "{table}"
        );
    }
}
