//! The simulator at Azure Route Server's limits: 500 VNets (a hub with the route server
//! and 499 spokes using it), 4,000 VMs, 8 NVAs announcing 4,000 routes each, two
//! instances. Prints the wall time to converge (every instance programs every route),
//! the virtual time it took, the time to look up routes for every VM, and the peak
//! resident memory (VmHWM). Run it once per size, so that peaks do not mix:
//!
//! ```text
//! cargo run --release -p fabric-sim --example scale -- --vms 4000 --routes 4000
//! cargo run --release -p fabric-sim --example scale -- --vms 8000 --routes 4000
//! cargo run --release -p fabric-sim --example scale -- --vms 4000 --routes 8000
//! ```
//!
//! `--replay all|report|run` instead times a whole replay with expectations, keeping
//! the effective routes `fabric-sim run` (`run`) or `report` (`report`) keep, or every
//! VM's at every stop (`all`).

use std::net::Ipv4Addr;
use std::time::Duration;

use clap::Parser;
use fabric_sim::engine::Sim;
use fabric_sim::model::{
    Announcement, Peering, RouteServerSpec, SpeakerKind, SpeakerSpec, Subnet, Topology, Vm, Vnet,
};
use fabric_sim::run::{self, RunOptions};
use fabric_sim::scenario::{Check, Expectation, Scenario};
use fabric_sim::Instant;
use ipnet::{IpNet, Ipv4Net};
use route_server::HubRoutingPreference;

#[derive(Parser, Debug)]
struct Args {
    /// VNets in all (one hub with the route server, the rest spokes using it).
    #[arg(long, default_value_t = 500)]
    vnets: usize,
    /// VMs, spread over the spokes.
    #[arg(long, default_value_t = 4000)]
    vms: usize,
    /// NVAs in the hub, each peering with both instances.
    #[arg(long, default_value_t = 8)]
    nvas: usize,
    /// Distinct /24 routes each NVA announces.
    #[arg(long, default_value_t = 4000)]
    routes: usize,
    /// Also time whole replays as `fabric-sim run` and `report` do them (expectations on
    /// the first and last VM at 60, 120 and 180 s): `all` keeps every VM's routes at every stop (what
    /// both did before they kept only what they show), `report` the report's snapshots,
    /// `run` the run's.
    #[arg(long, value_parser = ["all", "report", "run"])]
    replay: Option<String>,
}

fn net(a: Ipv4Addr, len: u8) -> Ipv4Net {
    Ipv4Net::new(a, len).expect("valid length")
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let args = Args::parse();
    assert!(args.vnets >= 2 && args.vnets <= 1000, "2 to 1000 VNets");
    assert!(args.nvas >= 1 && args.nvas <= 8, "1 to 8 NVAs");
    let mut vnets = vec![Vnet {
        name: "hub".into(),
        region: "r1".into(),
        ranges: vec![IpNet::V4(net(Ipv4Addr::new(10, 1, 0, 0), 16))],
        subnets: vec![
            Subnet {
                name: "RouteServerSubnet".into(),
                prefix: net(Ipv4Addr::new(10, 1, 1, 0), 26),
                route_table: None,
            },
            Subnet {
                name: "nva".into(),
                prefix: net(Ipv4Addr::new(10, 1, 2, 0), 24),
                route_table: None,
            },
        ],
        route_server: Some(RouteServerSpec {
            instances: vec![Ipv4Addr::new(10, 1, 1, 4), Ipv4Addr::new(10, 1, 1, 5)],
            branch_to_branch: false,
            preference: HubRoutingPreference::ExpressRoute,
            max_routes_per_peer: None,
            deployed: true,
        }),
    }];
    let mut peerings = Vec::new();
    let spokes = args.vnets - 1;
    for s in 0..spokes {
        // Spoke s: 10.(16 + s / 16).((s % 16) * 16).0/20, one /24 subnet.
        let base = Ipv4Addr::new(10, 16 + (s / 16) as u8, ((s % 16) * 16) as u8, 0);
        vnets.push(Vnet {
            name: format!("spoke{s}"),
            region: "r1".into(),
            ranges: vec![IpNet::V4(net(base, 20))],
            subnets: vec![Subnet {
                name: "app".into(),
                prefix: net(base, 22),
                route_table: None,
            }],
            route_server: None,
        });
        peerings.push(Peering {
            a: s + 1,
            b: 0,
            a_uses_remote_gateway: true,
            b_uses_remote_gateway: false,
        });
    }
    let mut vms = Vec::new();
    for m in 0..args.vms {
        let s = m % spokes;
        let nth = (m / spokes) as u32;
        let base = u32::from(Ipv4Addr::new(
            10,
            16 + (s / 16) as u8,
            ((s % 16) * 16) as u8,
            0,
        ));
        vms.push(Vm {
            name: format!("vm{m}"),
            vnet: s + 1,
            subnet: 0,
            ip: Ipv4Addr::from(base + 4 + nth),
            speaker: None,
        });
    }
    let mut speakers = Vec::new();
    for k in 0..args.nvas {
        let ip = Ipv4Addr::new(10, 1, 2, 4 + k as u8);
        let routes = (0..args.routes)
            .map(|j| {
                let index = (k * args.routes + j) as u32;
                Announcement {
                    prefix: IpNet::V4(net(
                        Ipv4Addr::from(u32::from(Ipv4Addr::new(20, 0, 0, 0)) + index * 256),
                        24,
                    )),
                    as_path: vec![65001 + k as u32],
                    next_hop: ip,
                    communities: Vec::new(),
                }
            })
            .collect();
        speakers.push(SpeakerSpec {
            name: format!("nva{k}"),
            kind: SpeakerKind::Nva,
            vnet: 0,
            ip,
            asn: 65001 + k as u32,
            peers: vec![(0, 0), (0, 1)],
            route_refresh: true,
            hold_time: 180,
            offers_ipv6: false,
            running: true,
            routes,
            inbound_map: None,
            outbound_map: None,
            as_override: false,
            p2s_pools: Vec::new(),
            circuits: Vec::new(),
        });
        vms.push(Vm {
            name: format!("nva{k}"),
            vnet: 0,
            subnet: 1,
            ip,
            speaker: Some(k),
        });
    }
    vms.sort_by_key(|v| v.vnet);
    let scenario = Scenario {
        name: "scale".into(),
        description: String::new(),
        choices: Vec::new(),
        seed: 1,
        duration: Duration::from_secs(600),
        topology: Topology {
            vnets,
            route_tables: Vec::new(),
            peerings,
            vms,
            speakers,
            load_balancers: Vec::new(),
            link_latency: Duration::from_millis(2),
            circuits: Vec::new(),
            tunnels: Vec::new(),
        },
        timeline: Vec::new(),
        expectations: Vec::new(),
    };
    let total_routes = args.nvas * args.routes;
    if let Some(mode) = args.replay.as_deref() {
        replay(scenario, mode);
        return;
    }
    let start = std::time::Instant::now();
    let mut sim = Sim::new(&scenario);
    let mut virtual_ms = 0u64;
    let converged = loop {
        virtual_ms += 100;
        sim.run_until(Instant::from_millis(virtual_ms))
            .expect("no livelock");
        let done = (0..2).all(|i| {
            sim.programmed((0, i))
                .is_some_and(|p| p.len() == total_routes)
        });
        if done {
            break true;
        }
        if virtual_ms > 600_000 {
            break false;
        }
    };
    let converge = start.elapsed();
    let lookups_start = std::time::Instant::now();
    let mut lookups = 0u64;
    let mut via_nva = 0u64;
    let probes = [
        Ipv4Addr::new(20, 0, 0, 1),
        Ipv4Addr::new(20, 0, 200, 1),
        Ipv4Addr::new(8, 8, 8, 8),
    ];
    for vm in 0..sim.topology.vms.len() {
        for d in probes {
            lookups += 1;
            if sim.lookup(vm, d).is_some_and(|r| !r.next_hops.is_empty()) {
                via_nva += 1;
            }
        }
    }
    let lookup_time = lookups_start.elapsed();
    println!(
        "vnets={} vms={} nvas={} routes/nva={} converged={converged} virtual={:.1}s wall={:.2}s program_changes={} bytes={} lookups={lookups} ({via_nva} via an NVA) in {:.1} ms peak_rss={} MiB",
        args.vnets,
        args.vms,
        args.nvas,
        args.routes,
        virtual_ms as f64 / 1000.0,
        converge.as_secs_f64(),
        sim.program_changes,
        sim.bytes_carried,
        lookup_time.as_secs_f64() * 1000.0,
        peak_rss_kib().map_or_else(|| "?".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
    );
}

/// Times one whole replay with expectations, as the CLI runs it.
fn replay(mut scenario: Scenario, mode: &str) {
    for at in [60, 120, 180] {
        for vm in [0, scenario.topology.vms.len() - 1] {
            scenario.expectations.push(Expectation {
                at: Duration::from_secs(at),
                location: format!("scale:vm{vm}@{at}s"),
                check: Check::Route {
                    vm,
                    prefix: net(Ipv4Addr::new(20, 0, 0, 0), 24),
                    present: true,
                    via: None,
                    next_hop_type: None,
                },
            });
        }
    }
    let options = match mode {
        "all" => RunOptions::default(),
        "report" => RunOptions {
            end_only: false,
            vms: RunOptions::vms_for(&scenario, 64),
        },
        _ => RunOptions {
            end_only: true,
            vms: RunOptions::vms_for(&scenario, 64),
        },
    };
    let start = std::time::Instant::now();
    let outcome = run::run_with(&scenario, &options, |_| {}).expect("no livelock");
    let wall = start.elapsed();
    let mut tables: Vec<*const Vec<fabric_sim::effective::EffectiveRoute>> = outcome
        .snapshots
        .iter()
        .flat_map(|s| s.routes.iter().map(|(_, t)| std::rc::Rc::as_ptr(t)))
        .collect();
    tables.sort_unstable();
    tables.dedup();
    println!(
        "replay={mode} vms={} snapshots={} distinct_tables={} expectations_passed={} wall={:.2}s peak_rss={} MiB",
        scenario.topology.vms.len(),
        outcome.snapshots.len(),
        tables.len(),
        outcome.passed(),
        wall.as_secs_f64(),
        peak_rss_kib().map_or_else(|| "?".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
    );
}
