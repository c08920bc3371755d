//! Prints the heap a route server holds per learned route, for a few loads, then the
//! peak memory, wall time and CPU time of each case of the route-server bench.
//!
//! `cargo run --release -p route-server --example route_server_memory`
//! (`-- --cases-only` skips the first table; `-- --case NAME` runs one case and prints its
//! row, which is how the table is made: each case runs in a process of its own, so that
//! one case's peak RSS is not another's; `-- --late-receiver N` measures a receiver coming
//! up after one NVA's N routes were learned, which sends it the whole table at once).
//!
//! The NVAs' sessions are brought up in the in-memory lab; their UPDATEs are then fed to
//! the route server directly and its outputs dropped, so only the route server's own
//! tables grow (learned routes, selection memory, fabric, what was advertised to each
//! peer). Live heap bytes are counted by a global allocator wrapped around the system
//! one.

use ipnet::IpNet;
use route_server::Input;

#[path = "../../rib/examples/support/counting_allocator.rs"]
mod counting_allocator;

#[path = "../benches/support/workload.rs"]
mod workload;

/// Loads `nvas` NVAs announcing `routes(i)` each; prints heap bytes per route learned.
fn measure(name: &str, nvas: usize, routes: impl Fn(usize) -> Vec<IpNet>) {
    let learned: usize = (0..nvas).map(|i| routes(i).len()).sum();
    let workload::Setup { mut lab, bursts } = workload::setup(nvas, routes, true);
    let before = counting_allocator::live_bytes();
    let now = lab.now;
    let mut out_messages = 0usize;
    for (connection, bytes) in &bursts {
        lab.server.handle_input(
            now,
            Input::Received {
                connection: *connection,
                bytes,
            },
        );
        while lab.server.poll_output().is_some() {
            out_messages += 1;
        }
    }
    drop(bursts);
    let after = counting_allocator::live_bytes();
    let held = after.saturating_sub(before);
    println!(
        "{name:<40} {learned:>8} routes learned, {:>7} prefixes in the fabric, {out_messages:>7} outputs, {:>7.1} heap bytes per route learned",
        lab.server.fabric().len(),
        held as f64 / learned as f64,
    );
}

/// A field of `/proc/self/status` in kB (`VmRSS`, `VmHWM`); 0 where there is no procfs.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix(field)?.strip_prefix(':')?;
                rest.trim().trim_end_matches("kB").trim().parse().ok()
            })
        })
        .unwrap_or(0)
}

/// CPU time of this (single-threaded) process so far, from `/proc/self/schedstat` (ns on
/// the CPU); zero where there is no procfs.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |ns| ns as f64 / 1e9)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Runs one bench case in this process and prints its row: the peak RSS counts from
/// just before the measured step (the kernel's high-water mark reset through
/// `/proc/self/clear_refs`), so it holds what the lab and its input already took.
fn run_case(name: &str) {
    let Some(case) = workload::CASES.iter().find(|c| c.name == name) else {
        eprintln!("no case named {name}");
        std::process::exit(2);
    };
    let mut setup = case.prepare();
    // Resets VmHWM to the current RSS (Linux 4.0 and later).
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss_before = status_kib("VmRSS");
    let heap_before = counting_allocator::live_bytes();
    counting_allocator::reset_peak();
    let load = load_average();
    let cpu = cpu_seconds();
    let start = std::time::Instant::now();
    let tally = case.measure(&mut setup, false);
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let heap_peak = counting_allocator::peak_bytes();
    let heap_after = counting_allocator::live_bytes();
    let rss_peak = if reset { status_kib("VmHWM") } else { 0 };
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mb = |bytes: usize| bytes as f64 / (1024.0 * 1024.0);
    println!(
        "| {name} | {wall:.3} | {cpu:.3} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {load} |",
        mib(rss_before),
        mib(rss_peak),
        mb(heap_before),
        mb(heap_peak),
        mb(heap_after),
        tally.updates_out,
        tally.fabric_changes,
    );
}

/// Runs every bench case, each in a child process (this example again, with `--case`).
fn run_cases() {
    println!(
        "\n| case | wall s | CPU s | RSS before MiB | peak RSS MiB | heap before MiB | peak heap MiB | heap after MiB | UPDATEs out | fabric changes | load average |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let me = std::env::current_exe().expect("the example's own path");
    for case in workload::CASES {
        let status = std::process::Command::new(&me)
            .args(["--case", case.name])
            .status()
            .expect("the example runs itself");
        if !status.success() {
            eprintln!("case {} failed: {status}", case.name);
        }
    }
}

/// One NVA announces `count` /24s (256 KiB reads, outputs dropped); then a second NVA comes
/// up and is sent the whole table. Prints the heap the route server held before it came
/// up and the peak while it did. The lab's receiving speaker decodes and keeps every route
/// too (a `BTreeMap` of 1M routes): run under heaptrack to tell the route server's share
/// apart (allocation sites in `route_server::server` against `route_server::testing`).
fn late_receiver(count: usize) {
    let workload::Setup { mut lab, bursts } = workload::setup(1, workload::one_sender(count), true);
    // The receiver is configured, not connected: `setup` made one peer; add another.
    let receiver = workload::nva(1);
    lab.server
        .add_peer(
            lab.now,
            route_server::PeerConfig::nva(std::net::IpAddr::V4(receiver), 65002),
        )
        .expect("a valid peer");
    let now = lab.now;
    for (connection, bytes) in &bursts {
        for read in bytes.chunks(workload::BENCH_RECEIVE_CHUNK) {
            lab.server.handle_input(
                now,
                Input::Received {
                    connection: *connection,
                    bytes: read,
                },
            );
            while lab.server.poll_output().is_some() {}
        }
    }
    drop(bursts);
    let mb = |bytes: usize| bytes as f64 / (1024.0 * 1024.0);
    // A pass over the whole table, the route server alone: a new hub routing preference
    // re-ranks every prefix (nothing changes with one NVA, nothing is sent).
    let before = counting_allocator::live_bytes();
    counting_allocator::reset_peak();
    lab.server
        .set_hub_routing_preference(now, route_server::HubRoutingPreference::AsPath);
    while lab.server.poll_output().is_some() {}
    println!(
        "whole-table pass after {count} routes (hub routing preference changed): heap before {:.0} MiB, peak {:.0} MiB",
        mb(before),
        mb(counting_allocator::peak_bytes()),
    );
    let before = counting_allocator::live_bytes();
    counting_allocator::reset_peak();
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss_before = status_kib("VmRSS");
    lab.add_nva(receiver, 65002);
    let peak = counting_allocator::peak_bytes();
    let rss_peak = if reset { status_kib("VmHWM") } else { 0 };
    let received = lab.speakers.last().map_or(0, |s| s.received.len());
    println!(
        "late receiver after {count} routes: heap before {:.0} MiB, peak {:.0} MiB (the receiving speaker's copy included); RSS {} -> {} MiB; {received} routes received",
        mb(before),
        mb(peak),
        rss_before / 1024,
        rss_peak / 1024,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--case", name] => return run_case(name),
        ["--cases-only"] => return run_cases(),
        ["--late-receiver", count] => {
            return late_receiver(count.parse().expect("a number of routes"));
        }
        _ => {}
    }
    measure("8 NVAs x 4,000 distinct routes", 8, |i| {
        (0..4000)
            .map(|k| workload::slash24(k, 0x0A80_0000 + ((i as u32) << 20)))
            .collect()
    });
    measure("8 NVAs x the same 50,000 routes (ECMP)", 8, |_| {
        (0..50_000)
            .map(|k| workload::slash24(k, 0x1000_0000))
            .collect()
    });
    measure("1 NVA x 100,000 routes, 7 receivers", 8, |i| {
        if i == 0 {
            (0..100_000)
                .map(|k| workload::slash24(k, 0x1000_0000))
                .collect()
        } else {
            Vec::new()
        }
    });
    run_cases();
}
