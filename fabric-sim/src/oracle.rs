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
//!
//! Circuits, self-programming gateways and tunnels (spec 1.2, 1.5, 1.7, scenarios 25,
//! 27 and 31; RFC 4271 9.1.2). Each rule is computed from what the simulator's
//! speakers hold one hop upstream, and that upstream table is itself checked (rule 12,
//! rule 11), so the whole chain is held to the spec at every quiet point:
//!
//! 8. **Circuits.** A running ExpressRoute gateway advertises into each circuit its
//!    VNet's ranges and those of VNets peered with it that use its gateway, AS path
//!    `[65515]` (spec 1.7: the gateway advertises them itself), then what its route
//!    server sent it with 65515 prepended (one path per prefix: the shortest over its
//!    sessions, the first session's among equals). The MSEE sends each gateway the
//!    circuit's on-premises routes, then what every *other* running gateway on the
//!    circuit advertises, 12076 prepended and private ASNs kept (spec 1.7: the bow-tie
//!    path still holds 65515), next hop the MSEE. The gateway, AS 65515, does not apply
//!    RFC 4271 loop detection to these (*choice*: spec 1.7 says the second route server
//!    drops the reflected route, so the gateway must have passed it on); the route
//!    server's own-ASN rule (rule 1) then refuses it, which is scenario 27. What the
//!    gateway passes on to its route server is the shortest path per prefix over its
//!    circuits (first among equals, circuits in connection order), next hop itself.
//! 9. **Gateways programming NICs.** A running gateway whose VNet has no deployed route
//!    server programs, at the NICs of its VNet and of VNets peered with it that use its
//!    gateway, its configured routes (next hop as configured) and each circuit's offers
//!    of rule 8, next hop the connection's MSEE: per prefix the shortest AS path, every
//!    connection tying on it (ECMP, scenario 31). Between gateways offering one prefix,
//!    ExpressRoute beats VPN, then the shorter path, ties ECMP (*choice*: the spec ranks
//!    sources only for the route server, spec 1.8, whose default preference is
//!    ExpressRoute; the same order is taken here). These routes sit with the pools of
//!    rule 7 and, like them, give way to a route-server route for the same prefix.
//! 10. **Tunnels toward the route server.** An NVA announces to its route server what
//!     it holds over its tunnels: with AS override every 65515 replaced by its own ASN
//!     (spec 1.2), its ASN prepended, next hop itself, communities kept; the shortest
//!     path per prefix, first among equals in tunnel order. Such a route replaces a
//!     timeline announcement of the same prefix on that NVA (`scenarios/README.md`).
//! 11. **Over a tunnel.** A tunnel that is up between two live NVAs is Established at
//!     both ends. NVA `k` then holds from NVA `o` what `o`'s route server sent `o` (rule
//!     8's one path per prefix), except routes whose path holds `o`'s own ASN (RFC 4271
//!     9.1.2: `o` would not have accepted them), `o`'s ASN prepended, next hop `o`; and
//!     nothing whose path holds `k`'s own ASN (RFC 4271 9.1.2 at `k`). An end that is
//!     not Established holds nothing.
//! 12. **What speakers hold from route servers.** On every session up at an instance
//!     and Established at the speaker, the speaker holds what the instance's reference
//!     model advertises to that peer (rule 3's model: VNet ranges, NO_ADVERTISE,
//!     branch-to-branch, 65515 and next-hop-self toward NVAs), prefix for prefix. Where
//!     the best set holds several routes, which one is sent on is not in the spec: the
//!     route sent may be any announced by an up peer of the same class (ExpressRoute, or
//!     VPN and NVA, which spec 1.8 never ranks against each other) with the same path
//!     length as the model's choice (*choice*: the model takes the first in peer
//!     configuration order; the server's order is its own).
//! 13. **On-premises behind a circuit** sees what every running gateway connected to
//!     it advertises into it (rule 8), 12076 prepended and private ASNs (RFC 6996)
//!     stripped (spec 1.2, 1.5: prepends of private ASNs vanish); where several
//!     gateways advertise one prefix, the first in scenario order gives the path
//!     (*choice*: the spec has one VNet per circuit in view).

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

    /// Rule 12: on every session the oracle holds up and the speaker sees
    /// Established, the speaker holds exactly what the instance's reference model
    /// advertises to it (path, next hop, communities).
    fn advertisement_disagreements(&self, sim: &Sim) -> Vec<String> {
        let topo = &sim.topology;
        let mut out = Vec::new();
        for (rs, m) in &self.models {
            if !sim.instance_up(*rs) {
                continue;
            }
            for k in m.fed.keys() {
                if sim.session_state(*k, *rs).as_deref() != Some("Established") {
                    continue;
                }
                let expected: BTreeMap<IpNet, Route> = m
                    .model
                    .advertised(*k)
                    .iter()
                    .filter(|(p, _)| p.addr().is_ipv4())
                    .map(|(p, r)| (*p, r.clone()))
                    .collect();
                let actual: BTreeMap<IpNet, Route> = sim
                    .received(*k, *rs)
                    .into_iter()
                    .flatten()
                    .filter(|(p, _)| p.addr().is_ipv4())
                    .map(|(p, attrs)| {
                        (
                            *p,
                            Route {
                                as_path: attrs
                                    .as_path
                                    .segments
                                    .iter()
                                    .flat_map(|s| s.asns.iter().copied())
                                    .collect(),
                                next_hop: attrs.next_hop,
                                communities: attrs.communities.iter().map(|c| c.0).collect(),
                            },
                        )
                    })
                    .collect();
                let receiver_is_nva = topo.speakers[*k].kind == SpeakerKind::Nva;
                // The ranking class (ExpressRoute or not: spec 1.8 never ranks VPN
                // against NVA) and path length of the announcement a sent route carries
                // on, if an up peer announced it.
                let source = |prefix: &IpNet, r: &Route| -> Option<(bool, usize)> {
                    let path = if receiver_is_nva {
                        r.as_path.get(1..)?
                    } else {
                        &r.as_path[..]
                    };
                    m.fed.iter().find_map(|(p, table)| {
                        let a = table.get(prefix)?;
                        let same = a.as_path == path
                            && (receiver_is_nva || r.next_hop == IpAddr::V4(a.next_hop));
                        same.then_some((
                            topo.speakers[*p].kind == SpeakerKind::ExpressRoute,
                            path.len(),
                        ))
                    })
                };
                // Which route of an ECMP set is sent on is the spec's silence: any route
                // of the same class and path length as the model's choice will do.
                let tied = actual.len() == expected.len()
                    && actual.iter().all(|(prefix, got)| {
                        expected.get(prefix).is_some_and(|want| {
                            got == want
                                || source(prefix, got)
                                    .is_some_and(|s| Some(s) == source(prefix, want))
                        })
                    });
                if actual != expected && !tied {
                    out.push(format!(
                        "{} from {}/IN_{}: received {actual:?}, the oracle expects {expected:?}",
                        topo.speakers[*k].name, topo.vnets[rs.0].name, rs.1
                    ));
                }
            }
        }
        out
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
        for (prefix, hops) in gateway_table(sim, m.vnet) {
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
/// up to 16, the first and last 8 of a larger one), of VNet ranges, of circuit routes
/// and of what gateways program themselves, as the oracle says; speakers must hold and
/// pass on what rules 8, 10, 11 and 12 say. Empty when they agree.
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
    out.extend(oracle.advertisement_disagreements(sim));
    out.extend(derived_disagreements(sim));
    out.extend(tunnel_disagreements(sim));
    out.extend(onprem_disagreements(sim));
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
    for v in 0..sim.topology.vnets.len() {
        for prefix in gateway_table(sim, v).keys() {
            destinations.push(prefix.network());
            destinations.push(prefix.broadcast());
        }
        for r in sim.topology.vnets[v].ranges.iter().filter_map(v4) {
            destinations.push(r.network());
            destinations.push(r.broadcast());
        }
    }
    for circuit in &sim.topology.circuits {
        for r in circuit.routes.iter().filter_map(|r| v4(&r.prefix)) {
            destinations.push(r.network());
            destinations.push(r.broadcast());
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

/// The MSEE's ASN (ExpressRoute private peering, spec 1.2), written here again rather
/// than taken from the engine.
const MSEE_ASN: u32 = 12076;

/// Keeps, per prefix, the candidate with the shortest AS path, the first among equals
/// (rule 8: one path per prefix, as a speaker without ADD-PATH sends).
fn keep_first_shortest(table: &mut BTreeMap<IpNet, Announcement>, candidate: Announcement) {
    match table.get(&candidate.prefix) {
        Some(old) if old.as_path.len() <= candidate.as_path.len() => {}
        _ => {
            table.insert(candidate.prefix, candidate);
        }
    }
}

/// What speaker `k` holds from its route server, one path per prefix (rule 8): the
/// shortest over its sessions, the first session's among equals; path, next hop and
/// communities as received. Read from the simulator; [`disagreements`] checks each
/// session's table against the reference model separately (rule 12).
fn route_server_sent(sim: &Sim, k: usize) -> BTreeMap<IpNet, Announcement> {
    let mut out = BTreeMap::new();
    for rs in sim.speaker_instances(k) {
        for (prefix, attrs) in sim.received(k, rs).into_iter().flatten() {
            let IpAddr::V4(next_hop) = attrs.next_hop else {
                continue;
            };
            keep_first_shortest(
                &mut out,
                Announcement {
                    prefix: *prefix,
                    as_path: attrs
                        .as_path
                        .segments
                        .iter()
                        .flat_map(|s| s.asns.iter().copied())
                        .collect(),
                    next_hop,
                    communities: attrs
                        .communities
                        .iter()
                        .map(|c| ((c.0 >> 16) as u16, (c.0 & 0xffff) as u16))
                        .collect(),
                },
            );
        }
    }
    out
}

/// Rule 8: what running gateway `g` advertises into its circuits, as it sends it: its
/// VNet's ranges and those of VNets peered with it that use its gateway (spec 1.7: the
/// gateway advertises them itself) as `[65515]`, then what its route server sent it
/// with its own 65515 prepended (a range keeps the gateway's own path).
fn advertised_into_circuit(sim: &Sim, g: usize) -> BTreeMap<IpNet, Vec<u32>> {
    let topo = &sim.topology;
    let spec = &topo.speakers[g];
    let mut out = BTreeMap::new();
    if !sim.speaker_running(g) {
        return out;
    }
    let mut local: Vec<IpNet> = topo.vnets[spec.vnet].ranges.clone();
    for p in &topo.peerings {
        if p.b == spec.vnet && p.a_uses_remote_gateway {
            local.extend(topo.vnets[p.a].ranges.iter().copied());
        } else if p.a == spec.vnet && p.b_uses_remote_gateway {
            local.extend(topo.vnets[p.b].ranges.iter().copied());
        }
    }
    for r in local {
        out.insert(r, vec![spec.asn]);
    }
    for (prefix, a) in route_server_sent(sim, g) {
        out.entry(prefix)
            .or_insert_with(|| std::iter::once(spec.asn).chain(a.as_path).collect());
    }
    out
}

/// Rule 8: what circuit `c`'s MSEE sends gateway `k`, in order: the on-premises routes,
/// then what every other running gateway connected to `c` advertises into it (in
/// scenario order); 12076 prepended, private ASNs kept, next hop the MSEE. The MSEE
/// never sends a gateway its own routes back.
fn circuit_offers(sim: &Sim, c: usize, k: usize) -> Vec<Announcement> {
    let topo = &sim.topology;
    let circuit = &topo.circuits[c];
    let mut out: Vec<Announcement> = circuit
        .routes
        .iter()
        .map(|r| Announcement {
            prefix: r.prefix,
            as_path: std::iter::once(MSEE_ASN)
                .chain(r.as_path.iter().copied())
                .collect(),
            next_hop: circuit.msee,
            communities: r.communities.clone(),
        })
        .collect();
    for g in 0..topo.speakers.len() {
        if g == k || !topo.speakers[g].circuits.contains(&c) {
            continue;
        }
        for (prefix, path) in advertised_into_circuit(sim, g) {
            out.push(Announcement {
                prefix,
                as_path: std::iter::once(MSEE_ASN).chain(path).collect(),
                next_hop: circuit.msee,
                communities: Vec::new(),
            });
        }
    }
    out
}

/// Rules 8 and 10: what running speaker `k` passes on to its route server from its
/// circuits (a gateway) or its tunnels (an NVA), next hop itself.
pub fn expected_derived(sim: &Sim, k: usize) -> BTreeMap<IpNet, Announcement> {
    let topo = &sim.topology;
    let spec = &topo.speakers[k];
    let mut out = BTreeMap::new();
    if !sim.speaker_running(k) {
        return out;
    }
    for &c in &spec.circuits {
        for mut a in circuit_offers(sim, c, k) {
            a.next_hop = spec.ip;
            keep_first_shortest(&mut out, a);
        }
    }
    for (t, tunnel) in topo.tunnels.iter().enumerate() {
        if tunnel.a != k && tunnel.b != k {
            continue;
        }
        for r in sim
            .tunnel_received(t, k)
            .into_iter()
            .flat_map(BTreeMap::values)
        {
            let path = r.as_path.iter().map(|&a| {
                if spec.as_override && a == route_server::AZURE_ASN {
                    spec.asn
                } else {
                    a
                }
            });
            keep_first_shortest(
                &mut out,
                Announcement {
                    prefix: r.prefix,
                    as_path: std::iter::once(spec.asn).chain(path).collect(),
                    next_hop: spec.ip,
                    communities: r.communities.clone(),
                },
            );
        }
    }
    out
}

/// Rule 11: what NVA `k` should hold from NVA `other` over an Established tunnel: what
/// `other`'s route server sent `other` (rule 8's one path per prefix), except routes
/// whose path holds `other`'s own ASN (RFC 4271 9.1.2: `other` never accepted them),
/// `other`'s ASN prepended, next hop `other`, communities kept; then RFC 4271 9.1.2 at
/// `k`: nothing whose path holds `k`'s ASN.
pub fn expected_tunnel_received(
    sim: &Sim,
    k: usize,
    other: usize,
) -> BTreeMap<IpNet, Announcement> {
    let topo = &sim.topology;
    let (own_asn, sender) = (topo.speakers[k].asn, &topo.speakers[other]);
    route_server_sent(sim, other)
        .into_values()
        .filter(|a| !a.as_path.contains(&sender.asn))
        .map(|a| Announcement {
            prefix: a.prefix,
            as_path: std::iter::once(sender.asn).chain(a.as_path).collect(),
            next_hop: sender.ip,
            communities: a.communities,
        })
        .filter(|a| !a.as_path.contains(&own_asn))
        .map(|a| (a.prefix, a))
        .collect()
}

/// Whether VNet `v`'s route server is deployed now (a VNet without one never is).
fn route_server_deployed(sim: &Sim, v: usize) -> bool {
    sim.topology.vnets[v]
        .route_server
        .as_ref()
        .is_some_and(|rs| rs.deployed)
}

/// Rules 7 and 9: what gateways program into VNet `v`'s NICs themselves, with their
/// next hops: point-to-site pools always (rule 7), and the routes of gateways whose
/// VNet has no deployed route server (rule 9).
fn gateway_table(sim: &Sim, v: usize) -> BTreeMap<Ipv4Net, Vec<Ipv4Addr>> {
    let topo = &sim.topology;
    let mut out = point_to_site_pools(sim, v);
    let serving = |g: usize| {
        g == v
            || topo.peerings.iter().any(|p| {
                (p.a == v && p.b == g && p.a_uses_remote_gateway)
                    || (p.b == v && p.a == g && p.b_uses_remote_gateway)
            })
    };
    // Per prefix: (kind rank, AS path length, next hops) of the best so far.
    let mut best: BTreeMap<Ipv4Net, (u8, usize, Vec<Ipv4Addr>)> = BTreeMap::new();
    for (k, spec) in topo.speakers.iter().enumerate() {
        if spec.kind == SpeakerKind::Nva
            || !serving(spec.vnet)
            || route_server_deployed(sim, spec.vnet)
            || !sim.speaker_running(k)
        {
            continue;
        }
        let rank = u8::from(spec.kind != SpeakerKind::ExpressRoute);
        let mut offers: Vec<(IpNet, usize, Ipv4Addr)> = spec
            .routes
            .iter()
            .map(|r| (r.prefix, r.as_path.len(), r.next_hop))
            .collect();
        for &c in &spec.circuits {
            offers.extend(
                circuit_offers(sim, c, k)
                    .into_iter()
                    .map(|a| (a.prefix, a.as_path.len(), a.next_hop)),
            );
        }
        for (prefix, len, hop) in offers {
            let Some(prefix) = v4(&prefix) else { continue };
            let entry = best.entry(prefix).or_insert((rank, len, Vec::new()));
            if (rank, len) < (entry.0, entry.1) {
                *entry = (rank, len, vec![hop]);
            } else if (rank, len) == (entry.0, entry.1) && !entry.2.contains(&hop) {
                entry.2.push(hop);
            }
        }
    }
    for (prefix, (_, _, hops)) in best {
        let entry = out.entry(prefix).or_default();
        entry.extend(hops);
        entry.sort();
        entry.dedup();
    }
    out
}

/// Rules 8 and 10: on each Established session of a running speaker with circuits or
/// tunnels, every route it should pass on is announced as the oracle computes it.
fn derived_disagreements(sim: &Sim) -> Vec<String> {
    let topo = &sim.topology;
    let mut out = Vec::new();
    for (k, spec) in topo.speakers.iter().enumerate() {
        let tunnelled = topo.tunnels.iter().any(|t| t.a == k || t.b == k);
        if (spec.circuits.is_empty() && !tunnelled) || !sim.speaker_running(k) {
            continue;
        }
        let expected = expected_derived(sim, k);
        for rs in sim.speaker_instances(k) {
            if sim.session_state(k, rs).as_deref() != Some("Established") {
                continue;
            }
            let announced = sim.announced(k, rs);
            for (prefix, want) in &expected {
                let got = announced.and_then(|t| t.get(prefix));
                if got != Some(want) {
                    out.push(format!(
                        "{} to {}/IN_{}: passes on {prefix} as {got:?}, the oracle expects {want:?}",
                        spec.name, topo.vnets[rs.0].name, rs.1
                    ));
                }
            }
        }
    }
    out
}

/// Rule 11: a tunnel that is up between two live NVAs is Established at both ends, and
/// each end holds what the oracle expects; an end that is not Established holds nothing.
fn tunnel_disagreements(sim: &Sim) -> Vec<String> {
    let topo = &sim.topology;
    let mut out = Vec::new();
    for (t, tunnel) in topo.tunnels.iter().enumerate() {
        let both_live =
            sim.tunnel_up(t) && sim.speaker_live(tunnel.a) && sim.speaker_live(tunnel.b);
        for (k, other) in [(tunnel.a, tunnel.b), (tunnel.b, tunnel.a)] {
            let Some(state) = sim.tunnel_state(t, k) else {
                continue;
            };
            let name = &topo.speakers[k].name;
            if both_live && state != "Established" {
                out.push(format!(
                    "tunnel {}: {name} is {state} though the tunnel is up and both ends live",
                    tunnel.name
                ));
            }
            let received = sim.tunnel_received(t, k).cloned().unwrap_or_default();
            let expected = if state == "Established" {
                expected_tunnel_received(sim, k, other)
            } else {
                BTreeMap::new()
            };
            if received != expected {
                out.push(format!(
                    "tunnel {}: {name} ({state}) holds {received:?}, the oracle expects {expected:?}",
                    tunnel.name
                ));
            }
        }
    }
    out
}

/// Rule 13: what on-premises sees behind circuit `c`.
pub fn expected_onprem(sim: &Sim, c: usize) -> BTreeMap<IpNet, Vec<u32>> {
    // RFC 6996 private ranges.
    let private =
        |asn: u32| (64512..=65534).contains(&asn) || (4_200_000_000..=4_294_967_294).contains(&asn);
    let mut out = BTreeMap::new();
    for (g, spec) in sim.topology.speakers.iter().enumerate() {
        if !spec.circuits.contains(&c) {
            continue;
        }
        for (prefix, path) in advertised_into_circuit(sim, g) {
            out.entry(prefix).or_insert_with(|| {
                std::iter::once(MSEE_ASN)
                    .chain(path.into_iter().filter(|a| !private(*a)))
                    .collect()
            });
        }
    }
    out
}

/// Rule 13 against the simulator's view of every circuit.
fn onprem_disagreements(sim: &Sim) -> Vec<String> {
    let mut out = Vec::new();
    for (c, circuit) in sim.topology.circuits.iter().enumerate() {
        let expected = expected_onprem(sim, c);
        let actual = sim.circuit_onprem_view(c);
        if actual != expected {
            out.push(format!(
                "on-premises behind {} sees {actual:?}, the oracle expects {expected:?}",
                circuit.name
            ));
        }
    }
    out
}
