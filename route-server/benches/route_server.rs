//! Route server throughput, from the first byte in to the last fabric change and the last
//! UPDATE out (workloads in `support/workload.rs`):
//!
//! * `eight_nvas_4000_routes`: 8 NVAs, each announcing 4,000 routes (the Azure limit).
//! * `one_peer_to_seven_100k`: limits lifted, one peer announces 100,000 prefixes which
//!   go to seven others.
//! * `one_to_one_{100k,1m}`, `one_to_three_{100k,1m}`: one sender to one or three
//!   receivers (the BIRD comparison is one to one).
//! * `withdraw_all_one_to_one_{100k,1m}`: after the sender's prefixes went out (not
//!   measured), its connection closes (the sender killed): every route is withdrawn from
//!   the fabric and the receiver.
//! * `withdraw_by_update_one_to_one_{100k,1m}`: after the sender's prefixes went out (not
//!   measured), it withdraws them all in full-size UPDATEs (read in 256 KiB chunks): every
//!   route leaves the fabric and the receiver, the session stays up.
//!
//! Before the criterion runs each case is run once and reported: wall time, UPDATE
//! messages out, bytes out per route, fabric changes, and a hash of every output (the
//! same hash `tests/bench_outputs.rs` pins). Filter cases as usual, e.g.
//! `cargo bench -p route-server --bench route_server -- 100k`. Peak memory is measured by
//! `cargo run --release -p route-server --example route_server_memory`.

use std::hint::black_box;
use std::time::{Duration, Instant as WallClock};

use criterion::{BatchSize, Criterion, SamplingMode};

#[path = "support/workload.rs"]
mod workload;

use workload::{Case, CASES};

fn report(case: &Case) {
    let mut setup = case.prepare();
    let start = WallClock::now();
    let tally = case.measure(&mut setup, true);
    let elapsed = start.elapsed();
    let routes_out = case.routes_out();
    eprintln!(
        "{}: {:.3} s, {} UPDATEs out, {} bytes out = {:.2} bytes per route ({routes_out}), {} fabric changes, output hash {:016x}",
        case.name,
        elapsed.as_secs_f64(),
        tally.updates_out,
        tally.bytes_out,
        tally.bytes_out as f64 / routes_out as f64,
        tally.fabric_changes,
        tally.hash,
    );
}

fn main() {
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .configure_from_args();
    let filter: Option<String> = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-') && a != "route_server");
    let mut group = criterion.benchmark_group("route_server");
    // Ten samples of one iteration each: with the default linear sampling a 1M case
    // would run its two-second setup 55 times.
    group.sampling_mode(SamplingMode::Flat);
    for case in CASES {
        if filter.as_deref().is_some_and(|f| !case.name.contains(f)) {
            continue;
        }
        report(case);
        group.bench_function(case.name, |b| {
            b.iter_batched(
                || case.prepare(),
                // The lab is handed back so that dropping it is not timed.
                |mut setup| {
                    let tally = black_box(case.measure(&mut setup, false));
                    (setup, tally)
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
    criterion.final_summary();
}
