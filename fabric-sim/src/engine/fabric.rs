//! The parts of the fabric around the route servers: gateways that program NICs
//! themselves (no route server yet, point-to-site pools), ExpressRoute circuits that
//! reflect routes between the gateways connected to them, NVA-to-NVA tunnels, and the
//! deployment of a route server on the timeline.
//!
//! Routes that a speaker learns from elsewhere and passes on (a gateway from its
//! circuits, an NVA from its tunnels) are its *derived* announcements. After every step
//! of the event loop the simulator recomputes them from what the speakers currently hold
//! and sends the difference through the speaker's real sessions, so they travel as
//! encoded UPDATEs like every other route.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::instance::{Instance, InstancePeer, InstanceSettings};
use super::tunnel::{TunnelAction, TunnelLink};
use super::{splitmix, Delivery, Message, Sim};
use crate::model::{Announcement, SpeakerKind};
use crate::Instant;

/// The MSEE's ASN (ExpressRoute private peering), prepended toward every gateway.
pub const MSEE_ASN: u32 = 12076;

/// Flattens a received AS path.
fn flat_path(attrs: &route_server::RouteAttrs) -> Vec<u32> {
    attrs
        .as_path
        .segments
        .iter()
        .flat_map(|s| s.asns.iter().copied())
        .collect()
}

/// Keeps, per prefix, the candidate with the shortest AS path (the first among equals):
/// one path per prefix, as a BGP speaker without ADD-PATH advertises.
fn keep_shortest(table: &mut BTreeMap<IpNet, Announcement>, candidate: Announcement) {
    match table.get(&candidate.prefix) {
        Some(old) if old.as_path.len() <= candidate.as_path.len() => {}
        _ => {
            table.insert(candidate.prefix, candidate);
        }
    }
}

impl Sim {
    /// Starts the two instances of VNet `v`'s route server with the peers configured for
    /// them.
    pub(super) fn start_route_server(&mut self, v: usize) {
        let Some(rs) = self.topology.vnets[v].route_server.clone() else {
            return;
        };
        for (i, address) in rs.instances.iter().enumerate() {
            let settings = InstanceSettings {
                address: *address,
                vnet_prefixes: self.topology.vnets[v].ranges.clone(),
                peered: self.peered_of(v),
                branch_to_branch: rs.branch_to_branch,
                preference: rs.preference,
                max_routes_per_peer: rs.max_routes_per_peer,
                peers: self
                    .topology
                    .speakers
                    .iter()
                    .filter(|s| s.peers.contains(&(v, i)))
                    .map(|s| InstancePeer {
                        address: s.ip,
                        asn: s.asn,
                        kind: s.kind,
                        inbound_map: s.inbound_map.clone(),
                        outbound_map: s.outbound_map.clone(),
                    })
                    .collect(),
                seed: splitmix(self.seed ^ ((v as u64) << 8 | i as u64)),
            };
            let mut out = Vec::new();
            let instance = Instance::new(settings, self.now, &mut out);
            self.instances.insert((v, i), instance);
            self.instance_actions((v, i), out);
        }
    }

    /// Deploys VNet `v`'s route server now: its instances start, the VNet's gateways get
    /// a session to each and from then on reach the NICs through it.
    pub(super) fn deploy_route_server(&mut self, v: usize) {
        let Some(rs) = self.topology.vnets[v].route_server.as_mut() else {
            return;
        };
        if rs.deployed {
            return;
        }
        rs.deployed = true;
        let addresses = rs.instances.clone();
        let gateways: Vec<usize> = (0..self.topology.speakers.len())
            .filter(|k| {
                let s = &self.topology.speakers[*k];
                s.vnet == v && s.kind != SpeakerKind::Nva
            })
            .collect();
        for &k in &gateways {
            for i in 0..addresses.len() {
                if !self.topology.speakers[k].peers.contains(&(v, i)) {
                    self.topology.speakers[k].peers.push((v, i));
                }
            }
        }
        // Derived routes (from circuits) go out again, on the new sessions too.
        for &k in &gateways {
            self.derived[k].clear();
        }
        self.recompute_placement();
        self.start_route_server(v);
        let now = self.now;
        for &k in &gateways {
            let spec = self.topology.speakers[k].clone();
            for (i, address) in addresses.iter().enumerate() {
                if self.speakers[k].links.iter().any(|l| l.rs == (v, i)) {
                    continue;
                }
                let seed = splitmix(self.seed ^ 0x5eed ^ ((k as u64) << 8 | i as u64));
                let mut out = Vec::new();
                if let Err(e) =
                    self.speakers[k].add_link(&spec, (v, i), *address, seed, now, &mut out)
                {
                    self.note(spec.name.clone(), format!("cannot add the session: {e}"));
                }
                self.speaker_actions(k, out);
            }
        }
        // Route servers peered with it now see a VNet that uses a route server.
        let others: Vec<usize> = self
            .topology
            .peerings
            .iter()
            .filter_map(|p| match (p.a == v, p.b == v) {
                (true, _) => Some(p.b),
                (_, true) => Some(p.a),
                _ => None,
            })
            .collect();
        self.refresh_peered(&others);
    }

    /// Leaves out what a topology built by hand (not through the scenario parser) gets
    /// wrong: a tunnel whose ends are not two different NVAs, a connection to a circuit
    /// that does not exist. Each is said so in the log.
    pub(super) fn drop_invalid_fabric(&mut self) {
        let speakers = &self.topology.speakers;
        let is_nva = |k: usize| speakers.get(k).is_some_and(|s| s.kind == SpeakerKind::Nva);
        let (kept, left): (Vec<_>, Vec<_>) = std::mem::take(&mut self.topology.tunnels)
            .into_iter()
            .partition(|t| t.a != t.b && is_nva(t.a) && is_nva(t.b));
        self.topology.tunnels = kept;
        for t in left {
            self.note(
                t.name.clone(),
                "its ends are not two different NVAs: tunnel left out".into(),
            );
        }
        let circuits = self.topology.circuits.len();
        for k in 0..self.topology.speakers.len() {
            let before = self.topology.speakers[k].circuits.len();
            self.topology.speakers[k].circuits.retain(|c| *c < circuits);
            if self.topology.speakers[k].circuits.len() != before {
                let name = self.topology.speakers[k].name.clone();
                self.note(name, "a connection to no circuit left out".into());
            }
        }
    }

    /// Builds the tunnels of the topology, starting the ends whose NVA runs.
    pub(super) fn build_tunnels(&mut self) {
        let now = self.now;
        for t in 0..self.topology.tunnels.len() {
            let spec = self.topology.tunnels[t].clone();
            let a = &self.topology.speakers[spec.a];
            let b = &self.topology.speakers[spec.b];
            let seed = splitmix(self.seed ^ 0x7e11 ^ t as u64);
            match TunnelLink::new((spec.a, a), (spec.b, b), spec.up, seed, now) {
                Ok(mut link) => {
                    link.spec_index = t;
                    self.tunnels.push(link);
                }
                Err(e) => {
                    self.note(spec.name.clone(), format!("cannot run: {e}"));
                    continue;
                }
            }
            let index = self.tunnels.len() - 1;
            for e in 0..2 {
                let k = self.tunnels[index].ends[e].speaker;
                if self.topology.speakers[k].running {
                    let mut out = Vec::new();
                    self.tunnels[index].start(now, e, &mut out);
                    self.tunnel_actions(index, out);
                }
            }
        }
    }

    /// NVA `k` crashed (`alive` false) or booted: its tunnel ends follow.
    pub(super) fn tunnel_ends_follow(&mut self, k: usize, alive: bool) {
        let now = self.now;
        for t in 0..self.tunnels.len() {
            for e in 0..2 {
                if self.tunnels[t].ends[e].speaker != k {
                    continue;
                }
                if alive {
                    let mut out = Vec::new();
                    self.tunnels[t].start(now, e, &mut out);
                    self.tunnel_actions(t, out);
                } else {
                    self.tunnels[t].crash(e);
                }
            }
        }
    }

    /// The link of the topology's tunnel `t`, if it runs.
    fn link_of_tunnel(&self, t: usize) -> Option<usize> {
        self.tunnels.iter().position(|l| l.spec_index == t)
    }

    /// The timeline takes the topology's tunnel `t` down or brings it back.
    pub(super) fn set_tunnel(&mut self, t: usize, up: bool) {
        let Some(t) = self.link_of_tunnel(t) else {
            return;
        };
        let link = &mut self.tunnels[t];
        let now = self.now;
        let mut out = Vec::new();
        if up {
            link.up = true;
        } else {
            link.go_down(now, &mut out);
        }
        self.tunnel_actions(t, out);
    }

    pub(super) fn tunnel_actions(&mut self, t: usize, actions: Vec<TunnelAction>) {
        let at = self.now + self.latency();
        for action in actions {
            match action {
                TunnelAction::Connect { end } => {
                    let conn = self.next_conn;
                    self.next_conn += 1;
                    self.tunnels[t].ends[end].attempt = Some(conn);
                    if self.speakers[self.tunnels[t].ends[end].speaker].muted {
                        continue;
                    }
                    self.push(
                        at,
                        Delivery::Tunnel {
                            tunnel: t,
                            end: 1 - end,
                            conn,
                            message: Message::Offer,
                        },
                    );
                }
                TunnelAction::Send { end, bytes } => {
                    let Some(conn) = self.tunnels[t].ends[end].conn else {
                        continue;
                    };
                    if self.speakers[self.tunnels[t].ends[end].speaker].muted {
                        self.tunnel_stalled.push((t, end, conn, bytes));
                        continue;
                    }
                    self.bytes_carried += bytes.len() as u64;
                    self.push(
                        at,
                        Delivery::Tunnel {
                            tunnel: t,
                            end: 1 - end,
                            conn,
                            message: Message::Bytes(bytes),
                        },
                    );
                }
                TunnelAction::Close { end } => {
                    // The connection id was cleared by the end; the other end holds it.
                    if let Some(conn) = self.tunnels[t].ends[1 - end].conn {
                        self.push(
                            at,
                            Delivery::Tunnel {
                                tunnel: t,
                                end: 1 - end,
                                conn,
                                message: Message::Closed,
                            },
                        );
                    }
                }
                TunnelAction::Log { end, text } => {
                    let k = self.tunnels[t].ends[end].speaker;
                    let who = self.topology.speakers[k].name.clone();
                    let peer = self.tunnels[t].address(1 - end);
                    let name = &self.topology.tunnels[self.tunnels[t].spec_index].name;
                    self.note(who, format!("{text} ({name}, to {peer})"));
                }
            }
        }
    }

    /// NVA `k` sends again: what it wrote on its tunnels meanwhile goes out now, on the
    /// connections still open.
    pub(super) fn flush_tunnel_stalled(&mut self, k: usize) {
        let at = self.now + self.latency();
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.tunnel_stalled)
            .into_iter()
            .partition(|(t, end, _, _)| self.tunnels[*t].ends[*end].speaker == k);
        self.tunnel_stalled = rest;
        for (t, end, conn, bytes) in mine {
            if self.tunnels[t].ends[end].conn == Some(conn) {
                self.bytes_carried += bytes.len() as u64;
                self.push(
                    at,
                    Delivery::Tunnel {
                        tunnel: t,
                        end: 1 - end,
                        conn,
                        message: Message::Bytes(bytes),
                    },
                );
            }
        }
    }

    /// Delivers a message to end `end` of tunnel `t`.
    pub(super) fn deliver_tunnel(&mut self, t: usize, end: usize, conn: u64, message: Message) {
        let now = self.now;
        let mut out = Vec::new();
        let at = now + self.latency();
        match message {
            Message::Offer => {
                let accepted = self.tunnels[t].offer(now, end, conn, &mut out);
                let answer = if accepted {
                    Message::Accepted
                } else {
                    Message::Refused
                };
                self.push(
                    at,
                    Delivery::Tunnel {
                        tunnel: t,
                        end: 1 - end,
                        conn,
                        message: answer,
                    },
                );
            }
            Message::Accepted => {
                if !self.tunnels[t].accepted(now, end, conn, &mut out) {
                    self.push(
                        at,
                        Delivery::Tunnel {
                            tunnel: t,
                            end: 1 - end,
                            conn,
                            message: Message::Closed,
                        },
                    );
                }
            }
            Message::Refused => self.tunnels[t].refused(now, end, conn, &mut out),
            Message::Bytes(bytes) => self.tunnels[t].received(now, end, conn, &bytes, &mut out),
            Message::Closed => self.tunnels[t].closed(now, end, conn, &mut out),
        }
        self.tunnel_actions(t, out);
    }

    /// Fires the tunnel timers due at `now`.
    pub(super) fn tunnel_timeouts(&mut self, now: Instant) {
        for t in 0..self.tunnels.len() {
            if self.tunnels[t].poll_timeout().is_some_and(|x| x <= now) {
                let mut out = Vec::new();
                self.tunnels[t].timeout(now, &mut out);
                self.tunnel_actions(t, out);
            }
        }
    }

    /// The earliest tunnel timer.
    pub(super) fn tunnel_poll_timeout(&self) -> Option<Instant> {
        self.tunnels
            .iter()
            .filter_map(TunnelLink::poll_timeout)
            .min()
    }

    /// Whether the topology has anything whose routes are derived or programmed
    /// outside the route servers (so that quiet topologies pay nothing for it).
    pub(super) fn has_fabric_extras(&self) -> bool {
        let topo = &self.topology;
        !topo.circuits.is_empty()
            || !topo.tunnels.is_empty()
            || topo.speakers.iter().any(|s| {
                s.kind != SpeakerKind::Nva && (s.peers.is_empty() || !s.p2s_pools.is_empty())
            })
    }

    /// What speaker `k` received from its route server: one path per prefix (the
    /// shortest over its sessions), path and communities as received.
    fn route_server_routes(&self, k: usize) -> BTreeMap<IpNet, Announcement> {
        let mut out: BTreeMap<IpNet, Announcement> = BTreeMap::new();
        for l in &self.speakers[k].links {
            for (prefix, attrs) in &l.received {
                let IpAddr::V4(next_hop) = attrs.next_hop else {
                    continue;
                };
                keep_shortest(
                    &mut out,
                    Announcement {
                        prefix: *prefix,
                        as_path: flat_path(attrs),
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

    /// What ExpressRoute gateway `k` advertises into its circuits, as it sends it (its
    /// AS 65515 first): its VNet's ranges, those of peered VNets that use it, and what its
    /// route server sent it.
    fn advertised_to_circuits(&self, k: usize) -> BTreeMap<IpNet, Vec<u32>> {
        let spec = &self.topology.speakers[k];
        let mut out = BTreeMap::new();
        if !self.speakers[k].alive {
            return out;
        }
        for r in self.gateway_local_ranges(k) {
            out.insert(r, vec![spec.asn]);
        }
        for (prefix, a) in self.route_server_routes(k) {
            out.entry(prefix)
                .or_insert_with(|| std::iter::once(spec.asn).chain(a.as_path).collect());
        }
        out
    }

    /// The ranges gateway `k` advertises as its own: its VNet's, and those of VNets
    /// peered with it that use its gateway.
    pub(super) fn gateway_local_ranges(&self, k: usize) -> Vec<IpNet> {
        let spec = &self.topology.speakers[k];
        let mut local: Vec<IpNet> = self.topology.vnets[spec.vnet].ranges.clone();
        for p in &self.topology.peerings {
            if p.b == spec.vnet && p.a_uses_remote_gateway {
                local.extend(self.topology.vnets[p.a].ranges.iter().copied());
            } else if p.a == spec.vnet && p.b_uses_remote_gateway {
                local.extend(self.topology.vnets[p.b].ranges.iter().copied());
            }
        }
        local
    }

    /// What circuit `c`'s MSEE sends gateway `k`: on-premises routes and what the other
    /// gateways on the circuit advertise, 12076 prepended, private ASNs kept (spec 1.7:
    /// the reflected path still carries 65515).
    fn circuit_routes_for(&self, c: usize, k: usize) -> Vec<Announcement> {
        let circuit = &self.topology.circuits[c];
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
        for other in 0..self.topology.speakers.len() {
            if other == k || !self.topology.speakers[other].circuits.contains(&c) {
                continue;
            }
            for (prefix, path) in self.advertised_to_circuits(other) {
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

    /// The routes speaker `k` passes on from its circuits or tunnels, as it announces
    /// them to its route server (next hop itself).
    fn derived_for(&self, k: usize) -> BTreeMap<IpNet, Announcement> {
        let spec = &self.topology.speakers[k];
        let mut out = BTreeMap::new();
        if !self.speakers[k].alive {
            return out;
        }
        for &c in &spec.circuits {
            for mut a in self.circuit_routes_for(c, k) {
                a.next_hop = spec.ip;
                keep_shortest(&mut out, a);
            }
        }
        for link in &self.tunnels {
            for end in &link.ends {
                if end.speaker != k {
                    continue;
                }
                for r in end.received.values() {
                    let path = r.as_path.iter().map(|&a| {
                        if spec.as_override && a == route_server::AZURE_ASN {
                            spec.asn
                        } else {
                            a
                        }
                    });
                    keep_shortest(
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
        }
        out
    }

    /// Brings every derived announcement, tunnel advertisement and gateway-programmed
    /// table up to date with what the speakers hold now.
    pub(super) fn settle_fabric(&mut self) {
        let now = self.now;
        // Tunnels: each NVA sends what its route server sent it, its ASN prepended,
        // except what it never accepted: routes whose path already holds its ASN (RFC
        // 4271 9.1.2; found by the DST, which saw them go round two hubs).
        for t in 0..self.tunnels.len() {
            for e in 0..2 {
                let k = self.tunnels[t].ends[e].speaker;
                let spec = &self.topology.speakers[k];
                let (asn, ip) = (spec.asn, spec.ip);
                let table: BTreeMap<IpNet, Announcement> = self
                    .route_server_routes(k)
                    .into_iter()
                    .filter(|(_, a)| !a.as_path.contains(&asn))
                    .map(|(prefix, a)| {
                        (
                            prefix,
                            Announcement {
                                prefix,
                                as_path: std::iter::once(asn).chain(a.as_path).collect(),
                                next_hop: ip,
                                communities: a.communities,
                            },
                        )
                    })
                    .collect();
                let mut out = Vec::new();
                self.tunnels[t].advertise(now, e, table, &mut out);
                self.tunnel_actions(t, out);
            }
        }
        // Derived announcements toward the route servers.
        for k in 0..self.topology.speakers.len() {
            let spec = &self.topology.speakers[k];
            if spec.circuits.is_empty()
                && !self
                    .tunnels
                    .iter()
                    .any(|t| t.ends.iter().any(|e| e.speaker == k))
            {
                continue;
            }
            let wanted = self.derived_for(k);
            // A timeline announce, prepend or communities change on a prefix the
            // speaker passes on alters what its sessions carry without changing what it
            // derives: the derived route replaces it again (see `scenarios/README.md`).
            let overwritten = |p: &IpNet, a: &Announcement| {
                self.speakers[k]
                    .links
                    .iter()
                    .any(|l| l.announced.get(p) != Some(a))
            };
            if wanted == self.derived[k] && !wanted.iter().any(|(p, a)| overwritten(p, a)) {
                continue;
            }
            let changed: Vec<Announcement> = wanted
                .iter()
                .filter(|(p, a)| self.derived[k].get(*p) != Some(*a) || overwritten(p, a))
                .map(|(_, a)| a.clone())
                .collect();
            let gone: Vec<IpNet> = self.derived[k]
                .keys()
                .filter(|p| !wanted.contains_key(*p))
                .copied()
                .collect();
            let name = spec.name.clone();
            if !changed.is_empty() {
                let list: Vec<String> = changed
                    .iter()
                    .map(|a| {
                        let path: Vec<String> = a.as_path.iter().map(ToString::to_string).collect();
                        format!("{} [{}]", a.prefix, path.join(" "))
                    })
                    .collect();
                self.note(name.clone(), format!("passes on {}", list.join(", ")));
            }
            if !gone.is_empty() {
                let list: Vec<String> = gone.iter().map(ToString::to_string).collect();
                self.note(name, format!("no longer passes on {}", list.join(", ")));
            }
            self.derived[k] = wanted;
            let mut out = Vec::new();
            if !changed.is_empty() {
                self.speakers[k].announce(now, None, &changed, &mut out);
            }
            if !gone.is_empty() {
                self.speakers[k].withdraw(now, None, &gone, &mut out);
            }
            self.speaker_actions(k, out);
        }
        // Gateways that program NICs themselves.
        let direct: Vec<BTreeMap<IpNet, Vec<IpAddr>>> = (0..self.topology.vnets.len())
            .map(|v| self.gateway_programmed(v))
            .collect();
        if direct != self.direct {
            self.direct = direct;
            self.generation += 1;
            self.program_changes += 1;
        }
    }

    /// The gateways whose routes reach VNet `v`'s NICs: its own and those of VNets it
    /// peers with using the remote gateway.
    fn gateways_serving(&self, v: usize) -> Vec<usize> {
        let mut vnets = vec![v];
        for p in &self.topology.peerings {
            if p.a == v && p.a_uses_remote_gateway {
                vnets.push(p.b);
            } else if p.b == v && p.b_uses_remote_gateway {
                vnets.push(p.a);
            }
        }
        (0..self.topology.speakers.len())
            .filter(|k| {
                let s = &self.topology.speakers[*k];
                s.kind != SpeakerKind::Nva && vnets.contains(&s.vnet)
            })
            .collect()
    }

    /// What gateways program into VNet `v`'s NICs themselves, outside any route
    /// server: point-to-site pools always; and, for a gateway whose VNet has no
    /// deployed route server, its on-premises routes, ExpressRoute ones with one next
    /// hop per circuit connection that offers the shortest AS path (ECMP). Where several
    /// gateways offer a prefix, ExpressRoute beats VPN, then the shorter path wins.
    pub(super) fn gateway_programmed(&self, v: usize) -> BTreeMap<IpNet, Vec<IpAddr>> {
        let mut out: BTreeMap<IpNet, Vec<IpAddr>> = BTreeMap::new();
        // Per prefix over every gateway: (ExpressRoute first, AS path length, next hops).
        let mut across: BTreeMap<IpNet, (bool, usize, Vec<Ipv4Addr>)> = BTreeMap::new();
        for k in self.gateways_serving(v) {
            if !self.speakers[k].alive {
                continue;
            }
            let spec = &self.topology.speakers[k];
            for pool in &spec.p2s_pools {
                out.entry(IpNet::V4(*pool))
                    .or_default()
                    .push(IpAddr::V4(spec.ip));
            }
            if !spec.peers.is_empty() {
                continue;
            }
            // Shortest path per prefix over every source of this gateway, with the next
            // hops that offer it.
            let mut best: BTreeMap<IpNet, (usize, Vec<Ipv4Addr>)> = BTreeMap::new();
            let mut offer = |prefix: IpNet, len: usize, hop: Ipv4Addr| {
                let entry = best.entry(prefix).or_insert((len, Vec::new()));
                if len < entry.0 {
                    *entry = (len, vec![hop]);
                } else if len == entry.0 && !entry.1.contains(&hop) {
                    entry.1.push(hop);
                }
            };
            for r in &spec.routes {
                offer(r.prefix, r.as_path.len(), r.next_hop);
            }
            for &c in &spec.circuits {
                for a in self.circuit_routes_for(c, k) {
                    offer(a.prefix, a.as_path.len(), a.next_hop);
                }
            }
            // Between gateways, ExpressRoute routes beat VPN ones (the default hub
            // routing preference, spec 1.8), then the shorter AS path; ties are ECMP.
            let vpn = spec.kind != SpeakerKind::ExpressRoute;
            for (prefix, (len, hops)) in best {
                let entry = across.entry(prefix).or_insert((vpn, len, Vec::new()));
                if (vpn, len) < (entry.0, entry.1) {
                    *entry = (vpn, len, hops);
                } else if (vpn, len) == (entry.0, entry.1) {
                    entry.2.extend(hops);
                }
            }
        }
        for (prefix, (_, _, hops)) in across {
            let entry = out.entry(prefix).or_default();
            for h in hops {
                if !entry.contains(&IpAddr::V4(h)) {
                    entry.push(IpAddr::V4(h));
                }
            }
        }
        for hops in out.values_mut() {
            hops.sort();
        }
        out
    }

    /// What on-premises sees behind circuit `c`: what each connected gateway
    /// advertises, 12076 prepended and private ASNs stripped (the first gateway in
    /// scenario order gives the path when several advertise a prefix).
    pub fn circuit_onprem_view(&self, c: usize) -> BTreeMap<IpNet, Vec<u32>> {
        let mut out = BTreeMap::new();
        for k in 0..self.topology.speakers.len() {
            if !self.topology.speakers[k].circuits.contains(&c) {
                continue;
            }
            for (prefix, path) in self.onprem_view(k) {
                out.entry(prefix).or_insert(path);
            }
        }
        out
    }

    /// The routes gateways program into VNet `v`'s NICs themselves, as of the last step:
    /// point-to-site pools, and the on-premises routes of gateways whose VNet has no
    /// deployed route server (one next hop per circuit connection with the shortest AS
    /// path).
    pub fn gateway_routes(&self, v: usize) -> Option<&BTreeMap<IpNet, Vec<IpAddr>>> {
        self.direct.get(v)
    }

    /// The state of NVA `k`'s end of tunnel `t`'s session (`crashed` when it is down).
    pub fn tunnel_state(&self, t: usize, k: usize) -> Option<String> {
        let link = &self.tunnels[self.link_of_tunnel(t)?];
        let end = link.ends.iter().find(|e| e.speaker == k)?;
        Some(if end.alive {
            format!("{:?}", end.session.state())
        } else {
            "crashed".into()
        })
    }

    /// Whether tunnel `t` carries packets now (the timeline takes it down and up); a
    /// tunnel that cannot run never does.
    pub fn tunnel_up(&self, t: usize) -> bool {
        self.link_of_tunnel(t).is_some_and(|l| self.tunnels[l].up)
    }

    /// What NVA `k` received over tunnel `t`, loops dropped.
    pub fn tunnel_received(&self, t: usize, k: usize) -> Option<&BTreeMap<IpNet, Announcement>> {
        let link = &self.tunnels[self.link_of_tunnel(t)?];
        link.ends
            .iter()
            .find(|e| e.speaker == k)
            .map(|e| &e.received)
    }

    /// Whether NVA `k` holds a route over an up tunnel covering `destination`, and to
    /// which NVA it leads: its traffic there goes through the tunnel, not its NIC.
    pub fn tunnel_toward(&self, k: usize, destination: Ipv4Addr) -> Option<usize> {
        let mut best: Option<(u8, usize)> = None;
        for link in self.tunnels.iter().filter(|l| l.up) {
            for e in 0..2 {
                if link.ends[e].speaker != k || !link.ends[e].alive {
                    continue;
                }
                for prefix in link.ends[e].received.keys() {
                    if prefix.contains(&IpAddr::V4(destination))
                        && best.map_or(true, |(len, _)| prefix.prefix_len() > len)
                    {
                        best = Some((prefix.prefix_len(), link.ends[1 - e].speaker));
                    }
                }
            }
        }
        best.map(|(_, other)| other)
    }

    /// Each tunnel end as a session row: `instance` names the tunnel, the address is
    /// the other end's.
    pub(super) fn tunnel_session_rows(&self) -> Vec<super::SessionRow> {
        let mut rows = Vec::new();
        for link in &self.tunnels {
            for e in 0..2 {
                let end = &link.ends[e];
                let spec = &self.topology.speakers[end.speaker];
                rows.push(super::SessionRow {
                    speaker: spec.name.clone(),
                    kind: spec.kind,
                    asn: spec.asn,
                    address: spec.ip,
                    instance: format!("tunnel {}", self.topology.tunnels[link.spec_index].name),
                    instance_address: link.address(1 - e),
                    state: self
                        .tunnel_state(link.spec_index, end.speaker)
                        .unwrap_or_default(),
                    announced: end.advertised.len(),
                    received: end.received.len(),
                });
            }
        }
        rows
    }

    /// Whether NVA `k` has a tunnel at all.
    pub fn has_tunnel(&self, k: usize) -> bool {
        self.topology.tunnels.iter().any(|t| t.a == k || t.b == k)
    }
}
