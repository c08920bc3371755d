//! Loads real RIB dumps (every peer of each) into the RIB and prints what it costs: load
//! rate, heap bytes per stored route, and the rates of churn (withdraw and re-announce
//! every tenth prefix) and of dropping the peer with the most routes.
//!
//! `cargo run --release -p bgp-rib --example rib_real`
//!
//! The dumps are those of `benches/support/real.rs`: the cut-short RouteViews 2014 file in
//! the repository, and the two whole RIPE rrc00 bviews of the shared reference folder when
//! it is present. They are decoded before anything is measured; rates are routes per
//! second of this thread's CPU time, one `announce`/`withdraw` call per route.

#[path = "../benches/support/real.rs"]
mod real;

use rib::RibConfig;

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

fn main() {
    println!(
        "{:<52} {:>5} {:>8} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9}",
        "dump",
        "peers",
        "routes",
        "prefixes",
        "sets",
        "load Mr/s",
        "heap B/rt",
        "rt B/rt",
        "sets KiB",
        "B/set",
        "churn Mr/s",
        "dropped",
        "drop Mr/s",
        "back Mr/s"
    );
    for dump in real::available_dumps() {
        let heap_before = counting_allocator::live_bytes();
        let start = cpu_nanos();
        let (mut rib, ids) = real::load(&dump, RibConfig::azure());
        let load_seconds = seconds_since(start);
        let heap = counting_allocator::live_bytes().saturating_sub(heap_before);
        let routes: usize = ids.iter().map(|id| rib.route_counts(*id).total()).sum();
        let prefixes = rib.prefix_counts().total();
        let sets = rib.attr_set_count();
        let usage = rib.memory_usage();
        let per_route = |bytes: usize| bytes as f64 / routes as f64;

        let churned = dump.every_tenth_prefix();
        let start = cpu_nanos();
        real::withdraw(&mut rib, &ids, &churned);
        real::announce(&mut rib, &ids, &dump, &churned);
        let churn_seconds = seconds_since(start);
        let after_churn: usize = ids.iter().map(|id| rib.route_counts(*id).total()).sum();
        assert_eq!(after_churn, routes, "churn leaves the table as it was");

        let (victim, _) = dump.biggest_peer();
        let held = rib.route_counts(ids[victim]).total();
        let start = cpu_nanos();
        let changes = rib.drop_peer(ids[victim]).expect("the peer is registered");
        let drop_seconds = seconds_since(start);
        drop(changes);
        assert_eq!(rib.route_counts(ids[victim]).total(), 0);
        let comeback = dump.routes_of(victim);
        let start = cpu_nanos();
        real::announce(&mut rib, &ids, &dump, &comeback);
        let comeback_seconds = seconds_since(start);
        assert_eq!(rib.route_counts(ids[victim]).total(), held);

        println!(
            "{:<52} {:>5} {:>8} {:>8} {:>7} {:>9.2} {:>9.1} {:>9.1} {:>9.0} {:>9.0} {:>9.2} {:>8} {:>9.2} {:>9.2}",
            dump.name,
            dump.peers.len(),
            routes,
            prefixes,
            sets,
            routes as f64 / load_seconds / 1e6,
            per_route(heap),
            per_route(heap.saturating_sub(usage.attr_sets)),
            usage.attr_sets as f64 / 1024.0,
            usage.attr_sets as f64 / sets as f64,
            2.0 * churned.len() as f64 / churn_seconds / 1e6,
            held,
            held as f64 / drop_seconds / 1e6,
            held as f64 / comeback_seconds / 1e6,
        );
        if dump.skipped > 0 {
            println!(
                "    ({} dump entries skipped: attributes RFC 7606 treats as withdrawn)",
                dump.skipped
            );
        }
    }
    println!("heap B/rt = live heap bytes (counting allocator) after loading, per route: the whole RIB, attribute sets included.");
    println!("rt B/rt = the same less the attribute sets (Rib::memory_usage().attr_sets, from capacities).");
    println!("sets KiB, B/set = the interned attribute sets (Rib::memory_usage().attr_sets), in all and per set.");
    println!("load / churn / drop Mr/s = million routes per second of CPU time, one call per route, RibConfig::azure().");
    println!("churn = withdraw then re-announce every route of every tenth prefix (counted twice); dropped = routes of the peer with the most;");
    println!("back = that peer announcing them all again.");
}

fn seconds_since(start_nanos: u64) -> f64 {
    cpu_nanos().saturating_sub(start_nanos) as f64 / 1e9
}
