//! The `route_server_inputs` fuzz target's body, here so a stable test runs it too.
//!
//! [`route_server_inputs`] reads its bytes as a program run against a [`Lab`]: four NVAs
//! and an ExpressRoute gateway (real `bgp_fsm` sessions) announce, withdraw and re-send
//! routes drawn from a small pool (own-ASN and AS 0 paths, VNet subnets, NO_ADVERTISE
//! included), connections reset, garbage bytes arrive, time jumps, and the operator
//! changes the VNet ranges, branch-to-branch, the hub routing preference, and shuts peers
//! down. After every step it checks:
//!
//! * what the fabric was told ([`Output::Program`](crate::Output::Program) changes, in
//!   order) equals the route server's own view of it, and both equal what the current
//!   Adj-RIBs-In imply under the policy (with Azure's non-reverting failover, given the
//!   selection memory the server keeps);
//! * every speaker whose session is established holds exactly what the route server says
//!   it advertised to it (prefix, AS path, next hop);
//! * nothing panics.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_fsm::State;
use bgp_wire::{Community, PathAttribute};
use ipnet::IpNet;

use crate::config::{Config, HubRoutingPreference, LimitCounting, PeerConfig, PeerKind};
use crate::policy::{self, Candidate};
use crate::testing::{nva_session, route, Lab};

struct Program<'a> {
    data: &'a [u8],
}

impl Program<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (first, rest) = self.data.split_first()?;
        self.data = rest;
        Some(*first)
    }
}

const POOL: [&str; 16] = [
    "0.0.0.0/0",
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.5.0/24",
    "10.2.0.0/16",
    "10.250.0.0/16",
    "10.250.1.0/24",
    "172.16.0.0/16",
    "172.16.1.0/24",
    "192.168.0.0/16",
    "192.168.1.0/24",
    "10.11.0.0/16",
    "10.11.3.0/24",
    "100.64.0.0/10",
    "203.0.113.0/24",
    "198.51.100.0/24",
];

fn pool(i: u8) -> IpNet {
    POOL[usize::from(i) % POOL.len()]
        .parse()
        .expect("pool prefixes parse")
}

const SPEAKERS: [(u8, u32); 5] = [(4, 65001), (5, 65002), (6, 65003), (7, 65004), (68, 65515)];

fn address(i: usize) -> Ipv4Addr {
    let (last, _) = SPEAKERS[i % SPEAKERS.len()];
    if last == 68 {
        Ipv4Addr::new(10, 1, 0, 68)
    } else {
        Ipv4Addr::new(10, 1, 2, last)
    }
}

/// What one run did, so tests can tell a program exercised something.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct RunSummary {
    /// Steps run.
    pub steps: usize,
    /// The most prefixes programmed at once.
    pub max_programmed: usize,
    /// Events of the route server, all kinds.
    pub events: usize,
    /// Route-limit teardowns.
    pub limit_teardowns: usize,
    /// Routes rejected on import.
    pub rejected: usize,
    /// Routes received by the speakers, summed over the steps.
    pub received: usize,
}

/// Runs `data` as a program against a lab; panics when an invariant breaks.
pub fn route_server_inputs(data: &[u8]) -> RunSummary {
    let mut program = Program { data };
    let flags = program.byte().unwrap_or(0);
    let mut config = Config::azure(
        Ipv4Addr::new(10, 1, 1, 4),
        vec!["10.1.0.0/16".parse().expect("range")],
    );
    config.branch_to_branch = flags & 1 != 0;
    config.extensions.revertive_preference = flags & 2 != 0;
    config.extensions.per_client_best_path = flags & 4 != 0;
    config.extensions.graceful_restart_helper = flags & 8 != 0;
    config.limits.counting = match (flags >> 4) & 3 {
        0 => LimitCounting::HeldPlusBatch,
        1 => LimitCounting::HeldPlusMessage,
        _ => LimitCounting::UniquePrefixes,
    };
    config.limits.max_routes_per_peer = Some(12);
    config.limits.ecmp_width = usize::from(program.byte().unwrap_or(0) % 8) + 1;
    for (i, (_, asn)) in SPEAKERS.iter().enumerate() {
        let kind = if *asn == 65515 {
            PeerKind::ExpressRoute
        } else {
            PeerKind::Nva
        };
        let mut peer = PeerConfig::nva(IpAddr::V4(address(i)), *asn);
        peer.kind = kind;
        config.peers.push(peer);
    }
    let mut lab = Lab::new(config);
    for (i, (_, asn)) in SPEAKERS.iter().enumerate() {
        lab.add_speaker(IpAddr::V4(address(i)), nva_session(address(i), *asn));
    }
    check(&lab);
    let mut summary = RunSummary::default();
    for _ in 0..64 {
        let Some(op) = program.byte() else { break };
        let arg = program.byte().unwrap_or(0);
        let speaker = usize::from(arg) % SPEAKERS.len();
        match op % 12 {
            0..=3 => {
                let count = usize::from(program.byte().unwrap_or(1) % 4) + 1;
                let prefixes: Vec<IpNet> = (0..count)
                    .map(|_| pool(program.byte().unwrap_or(0)))
                    .collect();
                let attrs = attributes(&mut program, speaker);
                lab.announce(speaker, &prefixes, &attrs);
            }
            4 | 5 => {
                let prefixes: Vec<IpNet> =
                    (0..2).map(|_| pool(program.byte().unwrap_or(0))).collect();
                lab.withdraw(speaker, &prefixes);
            }
            6 => {
                let all: Vec<IpNet> = lab.speakers[speaker].announced.keys().copied().collect();
                lab.reannounce(speaker, &all);
            }
            7 => lab.reset_connection(speaker),
            8 => lab.run_for(Duration::from_secs(u64::from(arg) * 4)),
            9 => {
                let now = lab.now;
                match arg % 4 {
                    0 => lab.server.set_branch_to_branch(now, arg & 4 != 0),
                    1 => {
                        let preference = match (arg >> 2) % 3 {
                            0 => HubRoutingPreference::ExpressRoute,
                            1 => HubRoutingPreference::VpnGateway,
                            _ => HubRoutingPreference::AsPath,
                        };
                        lab.server.set_hub_routing_preference(now, preference);
                    }
                    2 => {
                        let ranges = vec![pool(arg >> 2), "10.1.0.0/16".parse().expect("range")];
                        lab.server.set_vnet_prefixes(now, ranges);
                    }
                    _ => {
                        if let Some(peer) = lab.server.peer_by_address(IpAddr::V4(address(speaker)))
                        {
                            if arg & 4 != 0 {
                                lab.server.shutdown_peer(now, peer, Some("fuzz"));
                            } else {
                                lab.server.start_peer(now, peer);
                            }
                        }
                    }
                }
                lab.settle();
            }
            10 => {
                let len = usize::from(program.byte().unwrap_or(0) % 48);
                let bytes: Vec<u8> = (0..len).map(|_| program.byte().unwrap_or(0xff)).collect();
                lab.inject(speaker, bytes);
            }
            _ => lab.run_for(Duration::from_secs(200)),
        }
        check(&lab);
        summary.steps += 1;
        summary.max_programmed = summary.max_programmed.max(lab.fabric.len());
        summary.received += lab.speakers.iter().map(|s| s.received.len()).sum::<usize>();
    }
    summary.events = lab.events.len();
    summary.limit_teardowns = lab
        .events
        .iter()
        .filter(|e| matches!(e, crate::Event::RouteLimitExceeded { .. }))
        .count();
    summary.rejected = lab
        .events
        .iter()
        .map(|e| match e {
            crate::Event::RoutesRejected { count, .. } => *count,
            _ => 0,
        })
        .sum();
    summary
}

fn attributes(program: &mut Program<'_>, speaker: usize) -> Vec<PathAttribute> {
    let shape = program.byte().unwrap_or(0);
    let own = SPEAKERS[speaker].1;
    let mut path = vec![own; usize::from(shape % 3) + 1];
    match (shape >> 2) % 8 {
        0 => path.push(65515),
        1 => path.push(0),
        2 => path.push(12076),
        _ => {}
    }
    if own == 65515 {
        // A gateway speaks iBGP: the path starts with the on-premises side.
        path.retain(|a| *a != 65515);
    }
    let next_hop = match (shape >> 5) % 4 {
        0 => Ipv4Addr::new(10, 1, 2, 100),
        _ => address(speaker),
    };
    let communities = if shape & 0x80 != 0 {
        vec![Community::NO_ADVERTISE]
    } else {
        Vec::new()
    };
    route(&path, next_hop, &communities)
}

/// The invariants of the module documentation.
fn check(lab: &Lab) {
    let server = &lab.server;
    assert_eq!(
        &lab.fabric,
        server.fabric(),
        "fabric outputs and the server's view differ"
    );
    let config = server.config();
    let mut expected: BTreeMap<IpNet, Vec<IpAddr>> = BTreeMap::new();
    for (prefix, paths) in server.adj_ribs_in() {
        let candidates: Vec<Candidate<'_>> = paths
            .iter()
            .map(|(peer, kind, attrs)| Candidate {
                peer: *peer,
                kind: *kind,
                attrs,
            })
            .collect();
        let revertive = config.extensions.revertive_preference;
        let previous = if revertive {
            None
        } else {
            server.selection_tier(prefix)
        };
        let selection = policy::select(
            config.hub_routing_preference,
            revertive,
            previous,
            &candidates,
        );
        if policy::is_programmable(config, prefix) {
            let hops = policy::ecmp_next_hops(&candidates, &selection, config.limits.ecmp_width);
            if !hops.is_empty() {
                expected.insert(prefix, hops);
            }
        }
    }
    assert_eq!(
        &lab.fabric, &expected,
        "the fabric is not what the Adj-RIBs-In imply"
    );
    for s in &lab.speakers {
        let Some(peer) = s.peer else { continue };
        let both_up = s.alive && s.connected && s.session.state() == State::Established;
        if !both_up || server.peer_state(peer) != Some(State::Established) {
            continue;
        }
        let advertised: BTreeMap<IpNet, (String, IpAddr)> = server
            .advertised_routes(peer)
            .into_iter()
            .map(|r| (r.network, (r.as_path, r.next_hop)))
            .collect();
        let received: BTreeMap<IpNet, (String, IpAddr)> = s
            .received
            .iter()
            .map(|(p, a)| (*p, (crate::server::as_path_text(&a.as_path), a.next_hop)))
            .collect();
        assert_eq!(
            received, advertised,
            "speaker {} holds other routes than advertised to it",
            s.address
        );
    }
}
