//! Route server throughput.
//!
//! * `eight_nvas_4000_routes`: 8 NVAs, each announcing 4,000 routes (the Azure limit),
//!   from the first byte in to the last fabric change and the last UPDATE out.
//! * `one_peer_to_seven`: limits lifted, one peer announces N prefixes which go to seven
//!   others (N = 100,000 here; set `ROUTE_SERVER_BENCH_PREFIXES=1000000` to measure a
//!   million once, outside criterion).
//!
//! Before the criterion runs each scenario is run once and reported: wall time, UPDATE
//! messages out, bytes out per route advertised, fabric changes.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant as WallClock;

use bgp_wire::{Message, Nlri, UpdatePacker};
use criterion::{BatchSize, Criterion};
use ipnet::{IpNet, Ipv4Net};
use route_server::testing::{route, Lab};
use route_server::{Config, ConnectionId, Input, Output, PeerConfig};

/// A lab with `n` NVAs up, and for each the bytes of its UPDATEs announcing its routes.
struct Setup {
    lab: Lab,
    bursts: Vec<(ConnectionId, Vec<u8>)>,
}

fn nva(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 2, 10 + i as u8)
}

fn setup(nvas: usize, routes: impl Fn(usize) -> Vec<IpNet>, lift_limits: bool) -> Setup {
    let mut config = Config::azure(
        Ipv4Addr::new(10, 1, 1, 4),
        vec!["10.1.0.0/16".parse().unwrap()],
    );
    if lift_limits {
        config.limits.max_routes_per_peer = None;
    }
    for i in 0..nvas {
        config
            .peers
            .push(PeerConfig::nva(IpAddr::V4(nva(i)), 65001 + i as u32));
    }
    let mut lab = Lab::new(config);
    let mut bursts = Vec::new();
    for i in 0..nvas {
        lab.add_nva(nva(i), 65001 + i as u32);
        let speaker = &lab.speakers[i];
        let params = speaker
            .session
            .negotiated()
            .expect("established")
            .send
            .clone();
        let prefixes = routes(i);
        if prefixes.is_empty() {
            continue;
        }
        let mut packer = UpdatePacker::new(params.clone());
        packer.announce(
            &route(&[65001 + i as u32], nva(i), &[]),
            prefixes.into_iter().map(Nlri::new),
        );
        let mut bytes = Vec::new();
        for update in packer.finish_updates() {
            Message::Update(update).emit(&mut bytes, &params);
        }
        bursts.push((speaker.connection.expect("accepted"), bytes));
    }
    Setup { lab, bursts }
}

#[derive(Debug, Default)]
struct Tally {
    updates_out: usize,
    bytes_out: usize,
    fabric_changes: usize,
}

/// Feeds every burst and drains the route server: the measured work.
fn run(setup: &mut Setup) -> Tally {
    let mut tally = Tally::default();
    let now = setup.lab.now;
    let server = &mut setup.lab.server;
    for (connection, bytes) in &setup.bursts {
        server.handle_input(
            now,
            Input::Received {
                connection: *connection,
                bytes,
            },
        );
        while let Some(output) = server.poll_output() {
            match output {
                Output::Transmit { bytes, .. } if bytes.get(18) == Some(&2) => {
                    tally.updates_out += 1;
                    tally.bytes_out += bytes.len();
                }
                Output::Program(changes) => tally.fabric_changes += changes.len(),
                _ => {}
            }
        }
    }
    tally
}

fn slash24(index: usize, base: u32) -> IpNet {
    let addr = base + ((index as u32) << 8);
    IpNet::V4(Ipv4Net::new(Ipv4Addr::from(addr), 24).unwrap())
}

fn eight_nvas(i: usize) -> Vec<IpNet> {
    // 10.(16 i + k / 256).(k % 256).0/24 for k < 4000: distinct per NVA, outside 10.1/16.
    (0..4000)
        .map(|k| slash24(k, 0x0A80_0000 + ((i as u32) << 20)))
        .collect()
}

fn one_to_seven(count: usize) -> impl Fn(usize) -> Vec<IpNet> {
    move |i| {
        if i == 0 {
            (0..count).map(|k| slash24(k, 0x1000_0000)).collect()
        } else {
            Vec::new()
        }
    }
}

fn report(name: &str, routes_out: usize, build: impl FnOnce() -> Setup) {
    let mut setup = build();
    let start = WallClock::now();
    let tally = run(&mut setup);
    let elapsed = start.elapsed();
    eprintln!(
        "{name}: {:.3} s, {} UPDATEs out, {} bytes out = {:.2} bytes per route advertised ({routes_out}), {} fabric changes",
        elapsed.as_secs_f64(),
        tally.updates_out,
        tally.bytes_out,
        tally.bytes_out as f64 / routes_out as f64,
        tally.fabric_changes,
    );
}

fn benches(c: &mut Criterion) {
    // Each NVA's 4,000 routes go to the 7 others.
    report("eight_nvas_4000_routes", 8 * 4000 * 7, || {
        setup(8, eight_nvas, false)
    });
    let mut group = c.benchmark_group("route_server");
    group.sample_size(10);
    group.bench_function("eight_nvas_4000_routes", |b| {
        b.iter_batched(
            || setup(8, eight_nvas, false),
            |mut s| black_box(run(&mut s)),
            BatchSize::LargeInput,
        )
    });
    let count = 100_000;
    report("one_peer_to_seven_100k", count * 7, || {
        setup(8, one_to_seven(count), true)
    });
    group.bench_function("one_peer_to_seven_100k", |b| {
        b.iter_batched(
            || setup(8, one_to_seven(count), true),
            |mut s| black_box(run(&mut s)),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn million() {
    let Some(count) = std::env::var("ROUTE_SERVER_BENCH_PREFIXES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        return;
    };
    report(&format!("one_peer_to_seven_{count}"), count * 7, || {
        setup(8, one_to_seven(count), true)
    });
}

fn main() {
    million();
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
