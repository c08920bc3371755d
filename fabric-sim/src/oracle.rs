//! An independent model of what every NIC should route, computed only from what the live
//! NVAs and gateways announce and from the spec's rules: it never calls route-server
//! code, nor the simulator's own effective-route or instance-split functions. Simulation
//! tests compare the simulator with it after every quiet period.
//!
//! Rules (spec 1.2, 1.5, 1.8, 2 and the crate docs' split rule), written from the spec:
//! 1. An instance that is up learns, from every live speaker peering with it, what that
//!    speaker announces on that session, minus routes whose AS path holds 65515 or 0;
//!    nothing from a session announcing more routes than the limit (spec 1.4: torn down
//!    every time it sends them).
//! 2. It programs a learned prefix unless it is equal to or inside its VNet's ranges or a
//!    peered VNet's ranges.
//! 3. Per prefix, the candidates of the best source tier win (hub routing preference:
//!    ExpressRoute routes over the others under `ExpressRoute`, the others over
//!    ExpressRoute under `VpnGateway`, one tier under `ASPath`), then the shortest AS
//!    path; the remaining next hops are ECMP, at most 8, lowest addresses first.
//!    (Non-reverting failover memory is out of this model: generators that use it must
//!    not put ExpressRoute and other sources on one prefix.)
//! 4. The VMs served by one route server alternate IN_0, IN_1 in scenario order; while
//!    one instance is down the other serves all; with both down, none.
//! 5. At a NIC: longest prefix first; at equal prefix user route > BGP > system;
//!    BGP routes equal to or inside the VNet's or a peered VNet's range are not
//!    injected; propagate gateway routes = No drops BGP routes.
//! 6. Every NVA with an Established session to an instance receives from it the route
//!    server's VNet ranges and the ranges of peered VNets that use the route server, each
//!    with AS path `65515` and the instance's own address as next hop (spec 1.6), and
//!    never the ranges of peered VNets that do not use it.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use route_server::HubRoutingPreference;

use crate::engine::Sim;
use crate::model::{SpeakerKind, UserNextHop};

/// The expected forwarding decision for one destination at one NIC.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expected {
    /// Inside the VNet.
    VnetLocal,
    /// Into a peered VNet.
    VnetPeering,
    /// To the internet.
    Internet,
    /// Dropped.
    Drop,
    /// To these next hops (BGP or a user route to an appliance).
    Via(Vec<Ipv4Addr>),
}

/// What each up instance should program: `(VNet, instance) -> prefix -> next hops`.
pub type Programming = BTreeMap<(usize, usize), BTreeMap<Ipv4Net, Vec<Ipv4Addr>>>;

fn v4(n: &IpNet) -> Option<Ipv4Net> {
    match n {
        IpNet::V4(n) => Some(*n),
        IpNet::V6(_) => None,
    }
}

/// What each up instance should program, by rules 1 to 3.
pub fn expected_programming(sim: &Sim) -> Programming {
    let topo = &sim.topology;
    let mut out = BTreeMap::new();
    for (v, vnet) in topo.vnets.iter().enumerate() {
        let Some(rs) = &vnet.route_server else {
            continue;
        };
        let mut protected: Vec<Ipv4Net> = vnet.ranges.iter().filter_map(v4).collect();
        for p in &topo.peerings {
            let other = if p.a == v {
                p.b
            } else if p.b == v {
                p.a
            } else {
                continue;
            };
            protected.extend(topo.vnets[other].ranges.iter().filter_map(v4));
        }
        for i in 0..rs.instances.len() {
            if !sim.instance_up((v, i)) {
                continue;
            }
            // prefix -> (tier, path length, next hop)
            let mut candidates: BTreeMap<Ipv4Net, Vec<(u8, usize, Ipv4Addr)>> = BTreeMap::new();
            for (k, spec) in topo.speakers.iter().enumerate() {
                if !spec.peers.contains(&(v, i)) || !sim.speaker_live(k) {
                    continue;
                }
                let Some(table) = sim.announced(k, (v, i)) else {
                    continue;
                };
                // Over the route limit the session is torn down whenever it sends its
                // table (spec 1.4): none of its routes stays.
                if rs
                    .max_routes_per_peer
                    .is_some_and(|limit| table.len() > limit as usize)
                {
                    continue;
                }
                for a in table.values() {
                    let Some(prefix) = v4(&a.prefix) else {
                        continue;
                    };
                    if a.as_path.contains(&route_server::AZURE_ASN) || a.as_path.contains(&0) {
                        continue;
                    }
                    if protected.iter().any(|r| r.contains(&prefix)) {
                        continue;
                    }
                    let is_er = spec.kind == SpeakerKind::ExpressRoute;
                    let tier = match rs.preference {
                        HubRoutingPreference::ExpressRoute => u8::from(!is_er),
                        HubRoutingPreference::VpnGateway => u8::from(is_er),
                        HubRoutingPreference::AsPath => 0,
                    };
                    candidates
                        .entry(prefix)
                        .or_default()
                        .push((tier, a.as_path.len(), a.next_hop));
                }
            }
            let mut programmed = BTreeMap::new();
            for (prefix, list) in candidates {
                let Some(best) = list.iter().map(|(t, l, _)| (*t, *l)).min() else {
                    continue;
                };
                let mut hops: Vec<Ipv4Addr> = list
                    .iter()
                    .filter(|(t, l, _)| (*t, *l) == best)
                    .map(|(_, _, h)| *h)
                    .collect();
                hops.sort();
                hops.dedup();
                hops.truncate(route_server::AZURE_ECMP_WIDTH);
                programmed.insert(prefix, hops);
            }
            out.insert((v, i), programmed);
        }
    }
    out
}

/// The instance serving VM `vm`, by rule 4.
pub fn expected_instance(sim: &Sim, vm: usize) -> Option<(usize, usize)> {
    let topo = &sim.topology;
    let rs_of = |v: usize| -> Option<usize> {
        if topo.vnets[v].route_server.is_some() {
            return Some(v);
        }
        topo.peerings.iter().find_map(|p| {
            (p.a == v && p.a_uses_remote_gateway)
                .then_some(p.b)
                .or_else(|| (p.b == v && p.b_uses_remote_gateway).then_some(p.a))
        })
    };
    let rs = rs_of(topo.vms[vm].vnet)?;
    let position = (0..vm)
        .filter(|m| rs_of(topo.vms[*m].vnet) == Some(rs))
        .count();
    match (sim.instance_up((rs, 0)), sim.instance_up((rs, 1))) {
        (true, true) => Some((rs, position % 2)),
        (true, false) => Some((rs, 0)),
        (false, true) => Some((rs, 1)),
        (false, false) => None,
    }
}

/// The expected decision for a packet from VM `vm` to `destination`, by rule 5.
pub fn expected_route(
    sim: &Sim,
    programming: &Programming,
    vm: usize,
    destination: Ipv4Addr,
) -> Expected {
    let topo = &sim.topology;
    let m = &topo.vms[vm];
    let vnet = &topo.vnets[m.vnet];
    let own: Vec<Ipv4Net> = vnet.ranges.iter().filter_map(v4).collect();
    let mut peered: Vec<Ipv4Net> = Vec::new();
    for p in &topo.peerings {
        let other = if p.a == m.vnet {
            p.b
        } else if p.b == m.vnet {
            p.a
        } else {
            continue;
        };
        peered.extend(topo.vnets[other].ranges.iter().filter_map(v4));
    }
    let table = vnet.subnets[m.subnet]
        .route_table
        .map(|t| &topo.route_tables[t]);
    // (prefix length, source rank: 2 user, 1 BGP, 0 system, decision)
    let mut best: Option<(u8, u8, Expected)> = None;
    let mut offer = |len: u8, rank: u8, e: Expected| {
        if best
            .as_ref()
            .map_or(true, |(l, r, _)| (len, rank) > (*l, *r))
        {
            best = Some((len, rank, e));
        }
    };
    for r in own.iter().filter(|r| r.contains(&destination)) {
        offer(r.prefix_len(), 0, Expected::VnetLocal);
    }
    for r in peered.iter().filter(|r| r.contains(&destination)) {
        offer(r.prefix_len(), 0, Expected::VnetPeering);
    }
    offer(0, 0, Expected::Internet);
    if table.map_or(true, |t| t.propagate_gateway_routes) {
        if let Some(prog) = expected_instance(sim, vm).and_then(|rs| programming.get(&rs)) {
            for (prefix, hops) in prog {
                let hidden = own.iter().chain(&peered).any(|r| r.contains(prefix));
                if !hidden && prefix.contains(&destination) {
                    offer(prefix.prefix_len(), 1, Expected::Via(hops.clone()));
                }
            }
        }
    }
    if let Some(t) = table {
        for udr in t.routes.iter().filter(|u| u.prefix.contains(&destination)) {
            let e = match udr.next_hop {
                UserNextHop::VirtualAppliance(a) => Expected::Via(vec![a]),
                UserNextHop::Internet => Expected::Internet,
                UserNextHop::Drop | UserNextHop::VirtualNetworkGateway => Expected::Drop,
                UserNextHop::VnetLocal => Expected::VnetLocal,
            };
            offer(udr.prefix.prefix_len(), 2, e);
        }
    }
    best.map_or(Expected::Drop, |(_, _, e)| e)
}

/// The simulator's decision for the same packet, in the oracle's terms.
pub fn simulated_route(sim: &Sim, vm: usize, destination: Ipv4Addr) -> Expected {
    use crate::effective::NextHopType;
    let routes = sim.effective_routes(vm);
    match crate::effective::lookup(&routes, destination) {
        None => Expected::Drop,
        Some(r) => match r.next_hop_type {
            NextHopType::VnetLocal => Expected::VnetLocal,
            NextHopType::VNetPeering => Expected::VnetPeering,
            NextHopType::Internet => Expected::Internet,
            NextHopType::None => Expected::Drop,
            NextHopType::VirtualAppliance | NextHopType::VirtualNetworkGateway => {
                if r.next_hops.is_empty() {
                    Expected::Drop
                } else {
                    Expected::Via(r.next_hops.clone())
                }
            }
        },
    }
}

/// Every disagreement between the simulator and the oracle now: each up instance must
/// program exactly what the oracle expects, and every VM must route the destinations
/// given, and the first and last address of announced prefixes (every one of a table of
/// up to 16, the first and last 8 of a larger one), as the oracle says.
/// Empty when they agree.
pub fn disagreements(sim: &Sim, extra_destinations: &[Ipv4Addr]) -> Vec<String> {
    let programming = expected_programming(sim);
    let mut out = Vec::new();
    for (rs, expected) in &programming {
        let actual: BTreeMap<Ipv4Net, Vec<Ipv4Addr>> = sim
            .programmed(*rs)
            .map(|p| {
                p.iter()
                    .filter_map(|(prefix, hops)| {
                        let hops: Vec<Ipv4Addr> = hops
                            .iter()
                            .filter_map(|h| match h {
                                IpAddr::V4(a) => Some(*a),
                                IpAddr::V6(_) => None,
                            })
                            .collect();
                        Some((v4(prefix)?, hops))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if actual != *expected {
            out.push(format!(
                "instance {}/IN_{} programs {actual:?}, the oracle expects {expected:?}",
                sim.topology.vnets[rs.0].name, rs.1
            ));
        }
    }
    out.extend(advertised_ranges_disagreements(sim));
    let mut destinations: Vec<Ipv4Addr> = extra_destinations.to_vec();
    for k in 0..sim.topology.speakers.len() {
        for rs in sim.speaker_instances(k) {
            if let Some(table) = sim.announced(k, rs) {
                // A large table (an NVA over the route limit) is sampled at both ends.
                let sample = table.keys().take(8).chain(table.keys().rev().take(8));
                for p in sample.filter_map(v4) {
                    destinations.push(p.network());
                    destinations.push(p.broadcast());
                }
            }
        }
    }
    destinations.sort();
    destinations.dedup();
    for vm in 0..sim.topology.vms.len() {
        for d in &destinations {
            let want = expected_route(sim, &programming, vm, *d);
            let got = simulated_route(sim, vm, *d);
            if want != got {
                out.push(format!(
                    "{} -> {d}: simulator {got:?}, oracle {want:?}",
                    sim.topology.vms[vm].name
                ));
            }
        }
    }
    out
}

/// Rule 6: what NVAs receive of the virtual network ranges.
fn advertised_ranges_disagreements(sim: &Sim) -> Vec<String> {
    let topo = &sim.topology;
    let mut out = Vec::new();
    for (k, spec) in topo.speakers.iter().enumerate() {
        if spec.kind != SpeakerKind::Nva || !sim.speaker_live(k) {
            continue;
        }
        for (v, i) in sim.speaker_instances(k) {
            if sim.session_state(k, (v, i)).as_deref() != Some("Established") {
                continue;
            }
            let Some(rs) = &topo.vnets[v].route_server else {
                continue;
            };
            let instance_address = rs.instances[i];
            let mut advertised: Vec<Ipv4Net> = topo.vnets[v].ranges.iter().filter_map(v4).collect();
            let mut withheld: Vec<Ipv4Net> = Vec::new();
            for p in &topo.peerings {
                let (other, uses) = if p.b == v {
                    (p.a, p.a_uses_remote_gateway)
                } else if p.a == v {
                    (p.b, p.b_uses_remote_gateway)
                } else {
                    continue;
                };
                let ranges = topo.vnets[other].ranges.iter().filter_map(v4);
                if uses {
                    advertised.extend(ranges);
                } else {
                    withheld.extend(ranges);
                }
            }
            let received = sim.received(k, (v, i));
            for r in &advertised {
                let got = received.and_then(|t| t.get(&IpNet::V4(*r)));
                let ok = got.is_some_and(|a| {
                    let path: Vec<u32> = a
                        .as_path
                        .segments
                        .iter()
                        .flat_map(|s| s.asns.iter().copied())
                        .collect();
                    path == [route_server::AZURE_ASN] && a.next_hop == IpAddr::V4(instance_address)
                });
                if !ok {
                    out.push(format!(
                        "{} from {}/IN_{i}: VNet range {r} expected with path [65515] via {instance_address}, got {got:?}",
                        spec.name, topo.vnets[v].name
                    ));
                }
            }
            for r in &withheld {
                // A peered range an NVA itself announces may come back from another NVA;
                // only the route server's own advertisement (path 65515 alone) is wrong.
                let own = received
                    .and_then(|t| t.get(&IpNet::V4(*r)))
                    .is_some_and(|a| {
                        a.as_path
                            .segments
                            .iter()
                            .flat_map(|s| s.asns.iter())
                            .count()
                            == 1
                    });
                if own {
                    out.push(format!(
                        "{} from {}/IN_{i}: range {r} of a VNet not using the route server was advertised",
                        spec.name, topo.vnets[v].name
                    ));
                }
            }
        }
    }
    out
}
