//! Prints the heap a route server holds per learned route, for a few loads.
//!
//! `cargo run --release -p route-server --example route_server_memory`
//!
//! The NVAs' sessions are brought up in the in-memory lab; their UPDATEs are then fed to
//! the route server directly and its outputs dropped, so only the route server's own
//! tables grow (learned routes, selection memory, fabric, what was advertised to each
//! peer). Live heap bytes are counted by a global allocator wrapped around the system
//! one.

use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::{Message, Nlri, UpdatePacker};
use ipnet::{IpNet, Ipv4Net};
use route_server::testing::{route, Lab};
use route_server::{Config, Input, PeerConfig};

#[path = "../../rib/examples/support/counting_allocator.rs"]
mod counting_allocator;

fn nva(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 2, 10 + i as u8)
}

fn slash24(index: usize, base: u32) -> IpNet {
    let addr = base + ((index as u32) << 8);
    IpNet::V4(Ipv4Net::new(Ipv4Addr::from(addr), 24).expect("length 24"))
}

/// Loads `nvas` NVAs announcing `routes(i)` each; prints heap bytes per route learned.
fn measure(name: &str, nvas: usize, routes: impl Fn(usize) -> Vec<IpNet>) {
    let mut config = Config::azure(
        Ipv4Addr::new(10, 1, 1, 4),
        vec!["10.1.0.0/16".parse().expect("range")],
    );
    config.limits.max_routes_per_peer = None;
    for i in 0..nvas {
        config
            .peers
            .push(PeerConfig::nva(IpAddr::V4(nva(i)), 65001 + i as u32));
    }
    let mut lab = Lab::new(config);
    let mut bursts = Vec::new();
    let mut learned = 0;
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
        learned += prefixes.len();
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

fn main() {
    measure("8 NVAs x 4,000 distinct routes", 8, |i| {
        (0..4000)
            .map(|k| slash24(k, 0x0A80_0000 + ((i as u32) << 20)))
            .collect()
    });
    measure("8 NVAs x the same 50,000 routes (ECMP)", 8, |_| {
        (0..50_000).map(|k| slash24(k, 0x1000_0000)).collect()
    });
    measure("1 NVA x 100,000 routes, 7 receivers", 8, |i| {
        if i == 0 {
            (0..100_000).map(|k| slash24(k, 0x1000_0000)).collect()
        } else {
            Vec::new()
        }
    });
}
