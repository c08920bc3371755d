//! Helpers shared by the route-server integration tests: the spec's hub addresses, the
//! two-NVA-and-two-gateway lab several files build, and the pseudo-random program source
//! the fuzz-program tests sum over.
//!
//! Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};

use bgp_fsm::State;
use fabric_sim::lab::{nva_session, Lab};
use ipnet::IpNet;
use route_server::fuzzing::{route_server_inputs, RunSummary};
use route_server::{Config, PeerConfig, PeerKind};

/// The route-server instance's address in the spec's hub (10.1.0.0/16).
pub(crate) const RS: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 4);
/// The ExpressRoute gateway's next hop.
pub(crate) const ER_NH: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 68);
/// The VPN gateway's next hop.
pub(crate) const VPN_NH: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 69);

/// `s` parsed as a prefix.
pub(crate) fn net(s: &str) -> IpNet {
    s.parse().expect("test prefix")
}

/// The NVA subnet's address 10.1.2.`last`.
pub(crate) fn nva(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 2, last)
}

/// `a` as an `IpAddr`.
pub(crate) fn ip(a: Ipv4Addr) -> IpAddr {
    IpAddr::V4(a)
}

/// The hub's configuration with NVAs 10.1.2.4 (65001) and 10.1.2.5 (65002), the
/// ExpressRoute and the VPN gateway as peers, branch-to-branch set to `b2b`.
pub(crate) fn two_nvas_and_gateways(b2b: bool) -> Config {
    let mut config = Config::azure(RS, vec![net("10.1.0.0/16")]);
    config.branch_to_branch = b2b;
    config.peers.push(PeerConfig::nva(ip(nva(4)), 65001));
    config.peers.push(PeerConfig::nva(ip(nva(5)), 65002));
    config
        .peers
        .push(PeerConfig::gateway(ip(ER_NH), PeerKind::ExpressRoute));
    config
        .peers
        .push(PeerConfig::gateway(ip(VPN_NH), PeerKind::VpnGateway));
    config
}

/// A lab on `config` (built by [`two_nvas_and_gateways`]) with the four peers connected,
/// in the order NVA .4, NVA .5, ExpressRoute, VPN; each must reach Established.
pub(crate) fn connect_two_nvas_and_gateways(config: Config) -> Lab {
    let mut lab = Lab::new(config);
    lab.add_nva(nva(4), 65001);
    lab.add_nva(nva(5), 65002);
    lab.add_speaker(ip(ER_NH), nva_session(ER_NH, 65515));
    lab.add_speaker(ip(VPN_NH), nva_session(VPN_NH, 65515));
    for s in &lab.speakers {
        assert_eq!(s.session.state(), State::Established, "{}", s.address);
    }
    lab
}

/// `length` bytes from the xorshift64 source `state` (advanced), for programs that need no
/// proptest shrinking, only many cheap distinct inputs.
pub(crate) fn pseudo_random_program(state: &mut u64, length: usize) -> Vec<u8> {
    (0..length)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            (*state >> 24) as u8
        })
        .collect()
}

/// Runs `programs` programs of `length` bytes each from an xorshift64 source seeded with
/// `seed` through `route_server_inputs`, and returns their summaries summed (steps,
/// refusals, teardowns and routes added; the largest programmed count kept).
pub(crate) fn run_pseudo_random_programs(seed: u64, programs: usize, length: usize) -> RunSummary {
    let mut state = seed;
    let mut total = RunSummary::default();
    for _ in 0..programs {
        let program = pseudo_random_program(&mut state, length);
        let run = route_server_inputs(&program);
        total.steps += run.steps;
        total.max_programmed = total.max_programmed.max(run.max_programmed);
        total.limit_teardowns += run.limit_teardowns;
        total.rejected += run.rejected;
        total.received += run.received;
    }
    total
}
