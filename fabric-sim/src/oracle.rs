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
//! 3. Per prefix, ranking and non-reverting failover memory are those of
//!    `route_server::reference::Model`, a model of the route server written from the
//!    spec alone (spec 1.8 and scenario 22; it never calls route-server code): hub
//!    routing preference, then the shortest AS path, ties ECMP up to 8 lowest addresses
//!    first; a prefix whose preferred (e.g. ExpressRoute) routes all went stays on the
//!    others when they come back, unless they come back strictly shorter. Failover
//!    memory depends on the order of events, so the oracle is fed after every step of
//!    the simulator ([`Oracle::observe`] with [`Sim::run_until_observed`]): each
//!    instance's model sees a session go up or down when that instance's session state
//!    does (the model takes sessions as inputs, it does not model the FSM), and a read of
//!    the speaker's announcements whenever they change while the session is up. A fresh
//!    model replaces an instance's when it goes down (it comes back with empty tables).
//! 4. The VMs served by one route server alternate IN_0, IN_1 in scenario order; while
//!    one instance is down the other serves all; with both down, none.
//! 5. At a NIC: longest prefix first; at equal prefix user route > BGP > system;
//!    BGP routes equal to or inside the VNet's or a peered VNet's range are not
//!    injected; propagate gateway routes = No drops BGP routes.
//! 6. Every NVA with an Established session to an instance receives from it the route
//!    server's VNet ranges and the ranges of peered VNets that use the route server, each
//!    with AS path `65515` and the instance's own address as next hop (spec 1.6), and
//!    never the ranges of peered VNets that do not use it.
//! 7. A VPN gateway that runs programs its point-to-site pools itself (they are never
//!    announced over BGP, spec 1.7) at the NICs of its VNet and of VNets peered with it
//!    that use its gateway, next hop the gateway; where the serving instance programs the
//!    same prefix, the instance's route is the one shown (both are
//!    VirtualNetworkGateway routes; the simulator's choice, documented in
//!    `scenarios/README.md`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use route_server::reference::{Counting, Kind, Message, Model, ModelConfig, Preference, Route};
use route_server::HubRoutingPreference;

use crate::engine::Sim;
use crate::model::{Announcement, SpeakerKind, UserNextHop};

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

/// The IPv4 routes of a programmed table with their IPv4 next hops, in the table's order:
/// the form both the reference model's table and the simulator's are compared in.
fn ipv4_table(table: &BTreeMap<IpNet, Vec<IpAddr>>) -> BTreeMap<Ipv4Net, Vec<Ipv4Addr>> {
    table
        .iter()
        .filter_map(|(prefix, hops)| {
            let hops = hops
                .iter()
                .filter_map(|h| match h {
                    IpAddr::V4(a) => Some(*a),
                    IpAddr::V6(_) => None,
                })
                .collect();
            Some((v4(prefix)?, hops))
        })
        .collect()
}

/// One instance's reference model and what it was fed.
#[derive(Debug)]
struct InstanceModel {
    model: Model,
    /// Per speaker: the announcements last fed while its session was up.
    fed: BTreeMap<usize, BTreeMap<IpNet, Announcement>>,
    /// The configuration last fed (ranges, peered ranges, branch-to-branch, preference).
    vnet: Vec<IpNet>,
    peered: Vec<(IpNet, bool)>,
    branch_to_branch: bool,
}

/// The oracle: one `route_server::reference::Model` per route-server instance, fed by
/// observing the simulator after every step (rule 3), and rules 4 to 6 on top.
#[derive(Debug, Default)]
pub struct Oracle {
    models: BTreeMap<(usize, usize), InstanceModel>,
}

fn kind_of(kind: SpeakerKind) -> Kind {
    match kind {
        SpeakerKind::Nva => Kind::Nva,
        SpeakerKind::ExpressRoute => Kind::ExpressRoute,
        SpeakerKind::VpnGateway => Kind::VpnGateway,
    }
}

fn preference_of(preference: HubRoutingPreference) -> Preference {
    match preference {
        HubRoutingPreference::ExpressRoute => Preference::ExpressRoute,
        HubRoutingPreference::VpnGateway => Preference::VpnGateway,
        HubRoutingPreference::AsPath => Preference::AsPath,
    }
}

/// VNet `v`'s peered ranges, each with whether that peering uses `v`'s route server.
fn peered_of(sim: &Sim, v: usize) -> Vec<(IpNet, bool)> {
    let mut out = Vec::new();
    for p in &sim.topology.peerings {
        let (other, uses) = if p.b == v {
            (p.a, p.a_uses_remote_gateway)
        } else if p.a == v {
            (p.b, p.b_uses_remote_gateway)
        } else {
            continue;
        };
        out.extend(sim.topology.vnets[other].ranges.iter().map(|r| (*r, uses)));
    }
    out
}

fn model_route(a: &Announcement) -> Route {
    Route {
        as_path: a.as_path.clone(),
        next_hop: IpAddr::V4(a.next_hop),
        communities: a
            .communities
            .iter()
            .map(|(asn, value)| (u32::from(*asn) << 16) | u32::from(*value))
            .collect(),
    }
}

impl Oracle {
    /// An oracle that has observed nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the models what changed since the last observation: instances going down
    /// (a fresh model) or up, configuration switches, sessions going up or down (as the
    /// instance's session state says) and the announcements of speakers whose session is
    /// up (one read each time they change). Call it after every step of the simulator.
    pub fn observe(&mut self, sim: &Sim) {
        let topo = &sim.topology;
        let now_ms = u64::try_from(
            sim.now()
                .saturating_duration_since(crate::Instant::ZERO)
                .as_millis(),
        )
        .unwrap_or(u64::MAX);
        for (v, vnet) in topo.vnets.iter().enumerate() {
            let Some(rs) = &vnet.route_server else {
                continue;
            };
            for (i, address) in rs.instances.iter().enumerate() {
                if !sim.instance_up((v, i)) {
                    self.models.remove(&(v, i));
                    continue;
                }
                let peered = peered_of(sim, v);
                let entry = self.models.entry((v, i)).or_insert_with(|| InstanceModel {
                    model: Model::new(ModelConfig {
                        local_asn: route_server::AZURE_ASN,
                        local_address: *address,
                        vnet: vnet.ranges.clone(),
                        peered: peered.clone(),
                        peers: topo.speakers.iter().map(|s| kind_of(s.kind)).collect(),
                        branch_to_branch: rs.branch_to_branch,
                        preference: preference_of(rs.preference),
                        revertive: false,
                        ecmp_width: route_server::AZURE_ECMP_WIDTH,
                        // Rule 1: a session over the limit is treated as down below.
                        route_limit: None,
                        counting: Counting::HeldPlusBatch,
                        batch_window_ms: 0,
                    }),
                    fed: BTreeMap::new(),
                    vnet: vnet.ranges.clone(),
                    peered: peered.clone(),
                    branch_to_branch: rs.branch_to_branch,
                });
                let model = &mut entry.model;
                if entry.vnet != vnet.ranges {
                    entry.vnet.clone_from(&vnet.ranges);
                    model.set_vnet(vnet.ranges.clone());
                }
                if entry.peered != peered {
                    model.set_peered(peered.clone());
                    entry.peered = peered;
                }
                if entry.branch_to_branch != rs.branch_to_branch {
                    entry.branch_to_branch = rs.branch_to_branch;
                    model.set_branch_to_branch(rs.branch_to_branch);
                }
                model.set_preference(preference_of(rs.preference));
                for (k, spec) in topo.speakers.iter().enumerate() {
                    let table = sim.announced(k, (v, i));
                    let over_limit = rs
                        .max_routes_per_peer
                        .zip(table)
                        .is_some_and(|(limit, t)| t.len() > limit as usize);
                    let up =
                        table.is_some() && !over_limit && sim.peer_status((v, i), spec.ip) == 1;
                    if !up {
                        if entry.fed.remove(&k).is_some() {
                            model.session_down(k);
                        }
                        continue;
                    }
                    let table = table.expect("up implies a table");
                    let fed = match entry.fed.get_mut(&k) {
                        Some(fed) => fed,
                        None => {
                            model.session_up(k);
                            entry.fed.entry(k).or_default()
                        }
                    };
                    if fed == table {
                        continue;
                    }
                    let mut messages = Vec::new();
                    let gone: Vec<IpNet> = fed
                        .keys()
                        .filter(|p| !table.contains_key(p))
                        .copied()
                        .collect();
                    if !gone.is_empty() {
                        messages.push(Message::Withdraw(gone));
                    }
                    for (prefix, a) in table {
                        if fed.get(prefix) != Some(a) {
                            messages.push(Message::Announce(vec![*prefix], model_route(a)));
                        }
                    }
                    model.read(k, now_ms, &messages);
                    fed.clone_from(table);
                }
            }
        }
    }

    /// Whether the oracle holds speaker `k`'s session to `rs` as up.
    fn session_up(&self, k: usize, rs: (usize, usize)) -> bool {
        self.models.get(&rs).is_some_and(|m| m.fed.contains_key(&k))
    }

    /// How many `(instance, prefix)` pairs the oracle holds failed over now: programmed
    /// via routes of the non-preferred kind although a route of the preferred kind
    /// (ExpressRoute, or VPN and NVA) is announced on an up session and accepted. For
    /// generators to show they reach non-reverting failover.
    pub fn failovers_in_effect(&self, sim: &Sim) -> usize {
        let topo = &sim.topology;
        let mut count = 0;
        for ((v, _), m) in &self.models {
            let Some(rs) = &topo.vnets[*v].route_server else {
                continue;
            };
            let preferred = |kind: SpeakerKind| match rs.preference {
                HubRoutingPreference::ExpressRoute => kind == SpeakerKind::ExpressRoute,
                HubRoutingPreference::VpnGateway => kind != SpeakerKind::ExpressRoute,
                HubRoutingPreference::AsPath => false,
            };
            for (prefix, hops) in m.model.programmed() {
                let mut preferred_hops = Vec::new();
                let mut preferred_announced = false;
                for (k, table) in &m.fed {
                    let spec = &topo.speakers[*k];
                    if !preferred(spec.kind) {
                        continue;
                    }
                    preferred_hops.push(IpAddr::V4(spec.ip));
                    preferred_announced |= table.get(prefix).is_some_and(|a| {
                        !a.as_path.contains(&route_server::AZURE_ASN) && !a.as_path.contains(&0)
                    });
                }
                if preferred_announced && !hops.iter().any(|h| preferred_hops.contains(h)) {
                    count += 1;
                }
            }
        }
        count
    }

    /// What each up instance should program, by rules 1 to 3.
    pub fn expected_programming(&self, sim: &Sim) -> Programming {
        let mut out = BTreeMap::new();
        for (rs, m) in &self.models {
            if !sim.instance_up(*rs) {
                continue;
            }
            out.insert(*rs, ipv4_table(m.model.programmed()));
        }
        out
    }
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
        let prog = expected_instance(sim, vm).and_then(|rs| programming.get(&rs));
        if let Some(prog) = prog {
            for (prefix, hops) in prog {
                let hidden = own.iter().chain(&peered).any(|r| r.contains(prefix));
                if !hidden && prefix.contains(&destination) {
                    offer(prefix.prefix_len(), 1, Expected::Via(hops.clone()));
                }
            }
        }
        for (prefix, hops) in point_to_site_pools(sim, m.vnet) {
            let hidden = own.iter().chain(&peered).any(|r| r.contains(&prefix));
            let shadowed = prog.is_some_and(|p| p.contains_key(&prefix));
            if !hidden && !shadowed && prefix.contains(&destination) {
                offer(prefix.prefix_len(), 1, Expected::Via(hops));
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

/// Rule 7: the point-to-site pools programmed at VNet `v`'s NICs, with their next hops.
fn point_to_site_pools(sim: &Sim, v: usize) -> BTreeMap<Ipv4Net, Vec<Ipv4Addr>> {
    let topo = &sim.topology;
    let serving = |g: usize| {
        g == v
            || topo.peerings.iter().any(|p| {
                (p.a == v && p.b == g && p.a_uses_remote_gateway)
                    || (p.b == v && p.a == g && p.b_uses_remote_gateway)
            })
    };
    let mut out: BTreeMap<Ipv4Net, Vec<Ipv4Addr>> = BTreeMap::new();
    for (k, spec) in topo.speakers.iter().enumerate() {
        if spec.kind != SpeakerKind::VpnGateway || !serving(spec.vnet) || !sim.speaker_running(k) {
            continue;
        }
        for pool in &spec.p2s_pools {
            out.entry(*pool).or_default().push(spec.ip);
        }
    }
    for hops in out.values_mut() {
        hops.sort();
        hops.dedup();
    }
    out
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
///
/// Also: a speaker that is not live (crashed or silent) must not keep a session up at an
/// instance (the oracle's session inputs come from the instances, so this holds them to
/// the speakers).
pub fn disagreements(oracle: &Oracle, sim: &Sim, extra_destinations: &[Ipv4Addr]) -> Vec<String> {
    let programming = oracle.expected_programming(sim);
    let mut out = Vec::new();
    for (k, spec) in sim.topology.speakers.iter().enumerate() {
        if sim.speaker_live(k) {
            continue;
        }
        for rs in sim.speaker_instances(k) {
            if oracle.session_up(k, rs) {
                out.push(format!(
                    "{} is not live but its session to {}/IN_{} is up",
                    spec.name, sim.topology.vnets[rs.0].name, rs.1
                ));
            }
        }
    }
    for (rs, expected) in &programming {
        let actual = sim.programmed(*rs).map(ipv4_table).unwrap_or_default();
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
    for spec in &sim.topology.speakers {
        for pool in &spec.p2s_pools {
            destinations.push(pool.network());
            destinations.push(pool.broadcast());
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
            for (range, uses) in peered_of(sim, v) {
                let Some(range) = v4(&range) else { continue };
                if uses {
                    advertised.push(range);
                } else {
                    withheld.push(range);
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
