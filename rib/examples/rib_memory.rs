//! Prints how many bytes the RIB spends per route, for a few synthetic tables.
//!
//! `cargo run --release -p bgp-rib --example rib_memory`
//!
//! Two measures: the heap the RIB's own tables asked for ([`rib::Rib::memory_usage`], from
//! their capacities), and the growth of the process's resident memory while loading
//! (read from `/proc/self/statm`; includes allocator overhead and is 0 where that file
//! does not exist), and the live heap bytes counted by a global allocator wrapped
//! around the system one (everything the RIB holds, attribute sets included).

#[path = "../benches/support/synth.rs"]
mod synth;

use rib::{PeerId, Rib, RibConfig};
use synth::Synth;

#[path = "support/counting_allocator.rs"]
mod counting_allocator;

/// CPU time of this thread in nanoseconds (0 where `/proc` is missing): the machine may
/// be shared, so wall time would say little.
fn cpu_nanos() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/schedstat") else {
        return 0;
    };
    stat.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn resident_bytes() -> usize {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn cases() -> [(&'static str, usize, usize, RibConfig); 4] {
    [
        ("8 peers x 125k, default", 8, 125_000, RibConfig::default()),
        (
            "8 peers x 125k, azure ECMP x8",
            8,
            125_000,
            RibConfig::azure(),
        ),
        ("2 peers x 500k, default", 2, 500_000, RibConfig::default()),
        ("1 peer x 1M, default", 1, 1_000_000, RibConfig::default()),
    ]
}

fn run_case(case: usize) {
    let (name, peers, prefixes, config) = cases()[case].clone();
    let synth = Synth::new(peers, prefixes, 300);
    let before = resident_bytes();
    let heap_before = counting_allocator::live_bytes();
    let start = cpu_nanos();
    let mut rib = Rib::new(config);
    let ids: Vec<PeerId> = synth
        .peers
        .iter()
        .map(|p| rib.add_peer(*p).unwrap())
        .collect();
    for (b, batch) in synth.batches.iter().enumerate() {
        for (k, id) in ids.iter().enumerate() {
            let _ = rib.announce(*id, batch, synth.set_for(k, b)).unwrap();
        }
    }
    let seconds = (cpu_nanos().saturating_sub(start)) as f64 / 1e9;
    let rss = resident_bytes().saturating_sub(before);
    let heap = counting_allocator::live_bytes().saturating_sub(heap_before);
    let routes: usize = ids.iter().map(|id| rib.route_counts(*id).total()).sum();
    assert_eq!(routes, synth.routes(), "every synthetic route is stored");
    let usage = rib.memory_usage();
    let per = |bytes: usize| bytes as f64 / routes as f64;
    println!(
        "{:<34} {:>9} {:>8} {:>6} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.2}",
        name,
        routes,
        rib.prefix_counts().total(),
        rib.attr_set_count(),
        per(usage.adj_rib_in),
        per(usage.loc_rib),
        per(usage.adj_rib_in + usage.loc_rib),
        usage.attr_sets as f64 / 1024.0,
        per(rss),
        per(heap),
        routes as f64 / seconds / 1e6,
    );
}

fn main() {
    // Each table is loaded in a fresh child process so that resident-memory growth is
    // not hidden by memory a previous table freed.
    if let Some(case) = std::env::args()
        .nth(1)
        .and_then(|a| a.parse::<usize>().ok())
    {
        run_case(case);
        return;
    }
    println!(
        "{:<34} {:>9} {:>8} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "table",
        "routes",
        "prefixes",
        "sets",
        "adj B/rt",
        "loc B/rt",
        "route B/rt",
        "sets KiB",
        "RSS B/rt",
        "heap B/rt",
        "Mroutes/s"
    );
    let exe = std::env::current_exe().expect("the example knows its own path");
    for case in 0..cases().len() {
        let status = std::process::Command::new(&exe)
            .arg(case.to_string())
            .status()
            .expect("child runs");
        assert!(status.success(), "case {case} failed");
    }
    println!("route B/rt = Adj-RIB-In + Loc-RIB heap per route, beyond the shared attribute sets.");
    println!("heap B/rt = live heap bytes (counting allocator) after loading, per route: the whole RIB, attribute sets included.");
    println!("Mroutes/s = load rate per second of CPU time on one core, UPDATEs of 8 prefixes (a rough figure; see the criterion benches).");
}
