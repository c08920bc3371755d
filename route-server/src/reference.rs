//! A reference model of the route server's routing rules, written from the spec
//! (`spec/azure-route-server.md` sections 1.2, 1.4-1.8 and 4) and the choices the crate
//! documentation states where Azure is silent, never from the server's code: an oracle
//! for differential tests and fuzzing (the `fuzzing` module, feature `fuzzing`), and for the fabric simulator.
//!
//! **Independence.** This module uses only `std` and `ipnet`: no type, function or
//! constant of the rest of the crate (a test, `reference_model_is_independent`, checks
//! its source for `crate::` and `super::`). It is slow and obvious on purpose: a
//! selection pass ranks each prefix it covers from scratch out of plain maps. A prefix's
//! outcome (its best set, failover memory, what is programmed and what each peer is
//! sent) depends only on its own candidates, its own memory, the configuration and
//! which sessions are up, and a pass over unchanged inputs changes nothing (rule 4's
//! memory is a fixed point of its own rule); so a read's pass covers the prefixes its
//! UPDATEs named, a session end's the prefixes the peer had, and a session start or a
//! configuration change every prefix. [`Model::with_full_passes`] makes every pass cover
//! every prefix: the stable tests run both and compare them after every step.
//!
//! **What it models.** Per prefix, the candidates are the routes the peers whose
//! sessions are up announced and import accepted; they are ranked by hub routing
//! preference, then AS path length, ties kept as ECMP up to the width; Azure's
//! non-reverting failover; what is programmed (nothing equal to or inside a VNet range);
//! what each peer is sent (VNet ranges to NVAs, NO_ADVERTISE, branch-to-branch, 65515
//! prepended and next-hop-self toward NVAs, path and next hop unchanged toward the iBGP
//! gateways); the route limit under its three counting rules. Sessions coming up and
//! going down are inputs ([`Model::session_up`], [`Model::session_down`]): the model
//! predicts which announcements tear a session down for its route limit, not the BGP
//! state machine.
//!
//! **The rules, one by one** (each names where it comes from):
//!
//! 1. Import (spec 1.2): a route whose AS path holds the local ASN is refused (the
//!    session stays up); a route whose path holds AS 0 comes in an UPDATE RFC 7607 and
//!    RFC 7606 treat as withdrawn, so it withdraws the prefix and announces nothing. A
//!    refused route also withdraws what the peer had sent for the prefix.
//! 2. Candidates (spec 4 step 2): every accepted route of a peer whose session is up.
//! 3. Ranking (spec 1.8): `ExpressRoute` preference puts ExpressRoute routes first,
//!    `VpnGateway` puts VPN and NVA routes first; then the shortest AS path wins; the
//!    routes left tied are the best set. `ASPath`: shortest path first, then among equal
//!    paths ExpressRoute before VPN and NVA (crate docs, from Virtual WAN's rules).
//! 4. Failover (spec 1.8, scenario 22): a prefix fails over when its last best set held a
//!    route of the preferred kind and no such route is left; it then uses the best of the
//!    other kind. While failed over, a preferred route takes over again only when its
//!    path is strictly shorter than the best of the other kind, or when none of the
//!    routes it failed over to is among the best of their kind any more. A preference
//!    change forgets every failover (crate docs: a fresh ranking). Not under `ASPath`,
//!    and not with the revertive option.
//! 5. Programming (spec 1.5): the best set's distinct next hops, lowest first, at most
//!    the ECMP width; nothing for a prefix equal to or inside a VNet range, own or
//!    peered.
//! 6. Export (spec 1.6, 1.7, 4 step 6; crate docs for the silent parts): a VNet range
//!    (own, or of a peered network that uses this route server) goes to every NVA as
//!    `65515`, ORIGIN IGP, next hop the instance; to no gateway; a learned route for
//!    such a range is not sent. Otherwise the receiver is offered the
//!    first route (in peer configuration order) of the best set that is not its own; an
//!    NVA receiver with branch-to-branch off ranks the NVA routes alone. Nothing is sent
//!    when that route has NO_ADVERTISE, or when it crosses between a gateway and anyone
//!    else with branch-to-branch off. Toward an NVA (eBGP) 65515 is prepended and the
//!    next hop is the instance; toward a gateway (iBGP in 65515) both are unchanged.
//!    Communities pass unchanged.
//! 7. Route limit (spec 1.4, crate docs for the batch): `HeldPlusBatch` counts the routes
//!    held when the batch opened plus every route the batch's UPDATEs announced (accepted
//!    or refused); a batch opens at an UPDATE while none is open and lasts the window or
//!    until End-of-RIB. `HeldPlusMessage`: routes held plus routes of the one UPDATE.
//!    `UniquePrefixes`: distinct prefixes held once the UPDATE is applied. Over the limit
//!    the session is torn down: the UPDATEs before the one that went over are applied,
//!    the rest of the read is ignored, and then the peer's routes go.
//! 8. Passes: selection runs once per read of a peer's bytes (the UPDATEs of one read
//!    are applied together), once when a session ends, and once per configuration
//!    change; failover memory moves only at a pass.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

/// NO_ADVERTISE (RFC 1997), as a 32-bit community.
pub const NO_ADVERTISE: u32 = 0xFFFF_FF02;

/// The kind of a peer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Kind {
    /// A network virtual appliance (eBGP).
    Nva,
    /// The ExpressRoute gateway (iBGP, in the local ASN).
    ExpressRoute,
    /// The VPN gateway (iBGP, in the local ASN).
    VpnGateway,
}

impl Kind {
    fn is_gateway(self) -> bool {
        self != Self::Nva
    }
}

/// Hub routing preference.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Preference {
    /// ExpressRoute routes first.
    ExpressRoute,
    /// VPN and NVA routes first.
    VpnGateway,
    /// Shortest AS path first.
    AsPath,
}

/// How routes count against a peer's limit.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Counting {
    /// Held when the batch opened plus announced in the batch.
    HeldPlusBatch,
    /// Held plus announced in the one UPDATE.
    HeldPlusMessage,
    /// Distinct prefixes held after the UPDATE.
    UniquePrefixes,
}

/// The model's configuration.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// The local ASN (65515).
    pub local_asn: u32,
    /// The instance's address (next hop toward NVAs).
    pub local_address: Ipv4Addr,
    /// The virtual network's ranges.
    pub vnet: Vec<IpNet>,
    /// Peered virtual networks' ranges, each with whether the peering uses this route
    /// server ("use the remote virtual network's gateway or Route Server").
    pub peered: Vec<(IpNet, bool)>,
    /// The peers, in configuration order: kind of each.
    pub peers: Vec<Kind>,
    /// Branch-to-branch.
    pub branch_to_branch: bool,
    /// Hub routing preference.
    pub preference: Preference,
    /// Failover reverts at once.
    pub revertive: bool,
    /// ECMP width.
    pub ecmp_width: usize,
    /// Route limit per peer.
    pub route_limit: Option<usize>,
    /// How routes count against it.
    pub counting: Counting,
    /// The batch window of `HeldPlusBatch`, in milliseconds.
    pub batch_window_ms: u64,
}

/// A route's attributes as the model sees them (one AS_SEQUENCE).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Route {
    /// The AS path, first AS first.
    pub as_path: Vec<u32>,
    /// The next hop.
    pub next_hop: IpAddr,
    /// Communities, as sent.
    pub communities: Vec<u32>,
}

/// One UPDATE a peer sends.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Message {
    /// Withdraws these prefixes.
    Withdraw(Vec<IpNet>),
    /// Announces these prefixes with these attributes.
    Announce(Vec<IpNet>, Route),
    /// End-of-RIB.
    EndOfRib,
}

/// What one read of a peer's UPDATEs did.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ReadOutcome {
    /// The route limit was exceeded: the count that went over.
    pub limit_exceeded: Option<usize>,
    /// Routes refused on import (own ASN in the path, or an UPDATE treated as withdrawn).
    pub refused: usize,
}

#[derive(Clone, Copy, Debug)]
struct Batch {
    opened_ms: u64,
    held: usize,
    announced: usize,
}

/// The reference model. See the module documentation.
#[derive(Clone, Debug)]
pub struct Model {
    config: ModelConfig,
    up: Vec<bool>,
    learned: Vec<BTreeMap<IpNet, Route>>,
    batch: Vec<Option<Batch>>,
    /// Per prefix: the kinds of its last best set.
    last_kinds: BTreeMap<IpNet, BTreeSet<Kind>>,
    /// Per prefix failed over: the peers of its best set.
    failed_over_to: BTreeMap<IpNet, BTreeSet<usize>>,
    programmed: BTreeMap<IpNet, Vec<IpAddr>>,
    advertised: Vec<BTreeMap<IpNet, Route>>,
    /// Every pass covers every prefix (see the module documentation).
    full_passes: bool,
}

impl Model {
    /// A model with every session down.
    pub fn new(config: ModelConfig) -> Self {
        let n = config.peers.len();
        Self {
            config,
            up: vec![false; n],
            learned: vec![BTreeMap::new(); n],
            batch: vec![None; n],
            last_kinds: BTreeMap::new(),
            failed_over_to: BTreeMap::new(),
            programmed: BTreeMap::new(),
            advertised: vec![BTreeMap::new(); n],
            full_passes: false,
        }
    }

    /// A model whose every pass ranks every prefix, not only those whose inputs changed:
    /// the same predictions, more slowly (a self-check of the narrower passes).
    pub fn with_full_passes(config: ModelConfig) -> Self {
        Self {
            full_passes: true,
            ..Self::new(config)
        }
    }

    /// Whether `other` predicts the same as this model: programmed, sent, learned,
    /// sessions up, failover memory.
    pub fn same_predictions(&self, other: &Self) -> bool {
        self.programmed == other.programmed
            && self.advertised == other.advertised
            && self.learned == other.learned
            && self.up == other.up
            && self.last_kinds == other.last_kinds
            && self.failed_over_to == other.failed_over_to
    }

    /// What is programmed: prefix to next hops.
    pub fn programmed(&self) -> &BTreeMap<IpNet, Vec<IpAddr>> {
        &self.programmed
    }

    /// What peer `i` was sent and holds.
    pub fn advertised(&self, i: usize) -> &BTreeMap<IpNet, Route> {
        &self.advertised[i]
    }

    /// How many routes peer `i` has that were learned.
    pub fn learned_count(&self, i: usize) -> usize {
        self.learned[i].len()
    }

    /// Whether peer `i`'s session is up.
    pub fn is_up(&self, i: usize) -> bool {
        self.up[i]
    }

    /// Peer `i`'s session came up (it then sends its routes: [`Model::read`]).
    pub fn session_up(&mut self, i: usize) {
        self.up[i] = true;
        self.batch[i] = None;
        self.pass();
    }

    /// Peer `i`'s session went down: its routes go.
    pub fn session_down(&mut self, i: usize) {
        if !self.up[i] {
            return;
        }
        self.up[i] = false;
        let had: BTreeSet<IpNet> = std::mem::take(&mut self.learned[i]).into_keys().collect();
        self.batch[i] = None;
        self.advertised[i].clear();
        self.pass_over(had);
    }

    /// Branch-to-branch switched.
    pub fn set_branch_to_branch(&mut self, on: bool) {
        self.config.branch_to_branch = on;
        self.pass();
    }

    /// A new hub routing preference: a fresh ranking (failovers forgotten). The one in
    /// force again changes nothing.
    pub fn set_preference(&mut self, preference: Preference) {
        if self.config.preference == preference {
            return;
        }
        self.config.preference = preference;
        self.last_kinds.clear();
        self.failed_over_to.clear();
        self.pass();
    }

    /// New VNet ranges (the peers' refresh answers then come as reads).
    pub fn set_vnet(&mut self, vnet: Vec<IpNet>) {
        self.config.vnet = vnet;
        self.pass();
    }

    /// New peered networks (the peers' refresh answers then come as reads).
    pub fn set_peered(&mut self, peered: Vec<(IpNet, bool)>) {
        self.config.peered = peered;
        self.pass();
    }

    /// Ranges advertised to NVAs (spec 1.6): the VNet's own, and those of peered
    /// networks that use this route server.
    fn is_advertised_range(&self, prefix: IpNet) -> bool {
        self.config.vnet.contains(&prefix)
            || self
                .config
                .peered
                .iter()
                .any(|(range, uses)| *uses && *range == prefix)
    }

    /// One read of peer `i`'s bytes at `now_ms`: its UPDATEs in order, then one pass.
    /// Ignored when the session is down.
    pub fn read(&mut self, i: usize, now_ms: u64, messages: &[Message]) -> ReadOutcome {
        let mut outcome = ReadOutcome::default();
        if !self.up[i] {
            return outcome;
        }
        // The prefixes whose candidates this read changed.
        let mut named = BTreeSet::new();
        for message in messages {
            if let Some(counted) = self.count(i, now_ms, message) {
                outcome.limit_exceeded = Some(counted);
                break;
            }
            match message {
                Message::EndOfRib => {}
                Message::Withdraw(prefixes) => {
                    for p in prefixes {
                        self.learned[i].remove(p);
                        named.insert(*p);
                    }
                }
                Message::Announce(prefixes, route) => {
                    // Rule 1: AS 0 (an UPDATE treated as withdrawn) or the local ASN.
                    if route.as_path.contains(&0) || self.refuses(route) {
                        outcome.refused += prefixes.len();
                        for p in prefixes {
                            self.learned[i].remove(p);
                        }
                    } else {
                        for p in prefixes {
                            self.learned[i].insert(*p, route.clone());
                        }
                    }
                    named.extend(prefixes.iter().copied());
                }
            }
        }
        self.pass_over(named);
        if outcome.limit_exceeded.is_some() {
            self.session_down(i);
        }
        outcome
    }

    fn refuses(&self, route: &Route) -> bool {
        route.as_path.contains(&self.config.local_asn)
    }

    /// The count that goes over the limit when `message` is counted, if it does.
    fn count(&mut self, i: usize, now_ms: u64, message: &Message) -> Option<usize> {
        let limit = self.config.route_limit?;
        // An UPDATE RFC 7606 treats as withdrawn announces nothing.
        let announced = match message {
            Message::Announce(prefixes, route) if !route.as_path.contains(&0) => prefixes.len(),
            _ => 0,
        };
        let held = self.learned[i].len();
        let counted = match self.config.counting {
            Counting::HeldPlusBatch => {
                if *message == Message::EndOfRib {
                    self.batch[i] = None;
                    return None;
                }
                let window = self.config.batch_window_ms;
                let mut batch = match self.batch[i] {
                    Some(b) if now_ms.saturating_sub(b.opened_ms) < window => b,
                    _ => Batch {
                        opened_ms: now_ms,
                        held,
                        announced: 0,
                    },
                };
                batch.announced += announced;
                self.batch[i] = Some(batch);
                batch.held + batch.announced
            }
            Counting::HeldPlusMessage => held + announced,
            Counting::UniquePrefixes => {
                let mut after: BTreeSet<IpNet> = self.learned[i].keys().copied().collect();
                match message {
                    Message::Withdraw(prefixes) => {
                        for p in prefixes {
                            after.remove(p);
                        }
                    }
                    Message::Announce(prefixes, route) => {
                        let kept = !route.as_path.contains(&0) && !self.refuses(route);
                        for p in prefixes {
                            if kept {
                                after.insert(*p);
                            } else {
                                after.remove(p);
                            }
                        }
                    }
                    Message::EndOfRib => {}
                }
                after.len()
            }
        };
        (counted > limit).then_some(counted)
    }

    fn is_preferred(&self, kind: Kind) -> Option<bool> {
        match self.config.preference {
            Preference::ExpressRoute => Some(kind == Kind::ExpressRoute),
            Preference::VpnGateway => Some(kind != Kind::ExpressRoute),
            Preference::AsPath => None,
        }
    }

    /// The routes of the peers that are up for `prefix`: (peer, route), peer order.
    fn candidates(&self, prefix: IpNet) -> Vec<(usize, &Route)> {
        (0..self.config.peers.len())
            .filter(|&i| self.up[i])
            .filter_map(|i| self.learned[i].get(&prefix).map(|r| (i, r)))
            .collect()
    }

    /// The shortest path among `routes`, and every route at that length.
    fn shortest<'a>(routes: &[(usize, &'a Route)]) -> Vec<(usize, &'a Route)> {
        let Some(min) = routes.iter().map(|(_, r)| r.as_path.len()).min() else {
            return Vec::new();
        };
        routes
            .iter()
            .filter(|(_, r)| r.as_path.len() == min)
            .copied()
            .collect()
    }

    /// Ranks `routes` without memory (rule 3).
    fn fresh_best<'a>(&self, routes: &[(usize, &'a Route)]) -> Vec<(usize, &'a Route)> {
        let kind = |i: usize| self.config.peers[i];
        match self.config.preference {
            Preference::AsPath => {
                let tied = Self::shortest(routes);
                if tied.iter().any(|(i, _)| kind(*i) == Kind::ExpressRoute) {
                    tied.into_iter()
                        .filter(|(i, _)| kind(*i) == Kind::ExpressRoute)
                        .collect()
                } else {
                    tied
                }
            }
            _ => {
                let preferred: Vec<_> = routes
                    .iter()
                    .filter(|(i, _)| self.is_preferred(kind(*i)) == Some(true))
                    .copied()
                    .collect();
                if preferred.is_empty() {
                    Self::shortest(routes)
                } else {
                    Self::shortest(&preferred)
                }
            }
        }
    }

    /// Ranks `prefix`, whose candidates are `routes`, with the failover memory (rules 3
    /// and 4); the best set and whether it is a failover.
    fn best_with_memory<'a>(
        &self,
        prefix: IpNet,
        routes: &[(usize, &'a Route)],
    ) -> (Vec<(usize, &'a Route)>, bool) {
        let fresh = self.fresh_best(routes);
        if self.config.revertive || self.config.preference == Preference::AsPath {
            return (fresh, false);
        }
        let kind = |i: usize| self.config.peers[i];
        let (preferred, other): (Vec<_>, Vec<_>) = routes
            .iter()
            .partition(|(i, _)| self.is_preferred(kind(*i)) == Some(true));
        let best_other = Self::shortest(&other);
        let failed_over = self.failed_over_to.get(&prefix);
        if preferred.is_empty() {
            if best_other.is_empty() {
                return (Vec::new(), false);
            }
            let had_preferred = self
                .last_kinds
                .get(&prefix)
                .is_some_and(|kinds| kinds.iter().any(|k| self.is_preferred(*k) == Some(true)));
            return (best_other, had_preferred || failed_over.is_some());
        }
        let Some(failed_over) = failed_over else {
            return (fresh, false);
        };
        let still_in_use = best_other.iter().any(|(i, _)| failed_over.contains(i));
        let preferred_len = preferred.iter().map(|(_, r)| r.as_path.len()).min();
        let other_len = best_other.iter().map(|(_, r)| r.as_path.len()).min();
        match (preferred_len, other_len) {
            (Some(p), Some(o)) if still_in_use && p >= o => (best_other, true),
            _ => (fresh, false),
        }
    }

    /// Every prefix the model knows.
    fn prefixes(&self) -> BTreeSet<IpNet> {
        let mut all: BTreeSet<IpNet> = self.config.vnet.iter().copied().collect();
        all.extend(self.config.peered.iter().map(|(range, _)| *range));
        for table in &self.learned {
            all.extend(table.keys().copied());
        }
        all.extend(self.last_kinds.keys().copied());
        all.extend(self.failed_over_to.keys().copied());
        // And what was programmed or sent, so that what no longer has a source goes.
        all.extend(self.programmed.keys().copied());
        for table in &self.advertised {
            all.extend(table.keys().copied());
        }
        all
    }

    /// Equal to or inside a VNet range, own or peered, whatever the peering's setting
    /// (spec 1.5: their system routes win).
    fn in_vnet(&self, prefix: IpNet) -> bool {
        self.config.vnet.iter().any(|range| range.contains(&prefix))
            || self
                .config
                .peered
                .iter()
                .any(|(range, _)| range.contains(&prefix))
    }

    /// One selection pass over every prefix (rule 8): memory, programming, export.
    fn pass(&mut self) {
        let all = self.prefixes();
        self.pass_over(all);
    }

    /// One selection pass over `prefixes` (every prefix with [`Model::with_full_passes`]):
    /// each is ranked afresh and its memory, programming and export replaced.
    fn pass_over(&mut self, prefixes: BTreeSet<IpNet>) {
        let prefixes = if self.full_passes {
            self.prefixes()
        } else {
            prefixes
        };
        for prefix in prefixes {
            self.rank(prefix);
        }
    }

    /// Ranks `prefix` from scratch (rules 3 to 6) and records the outcome.
    fn rank(&mut self, prefix: IpNet) {
        let n = self.config.peers.len();
        let routes = self.candidates(prefix);
        let (best, failed_over) = self.best_with_memory(prefix, &routes);
        let kinds: BTreeSet<Kind> = best.iter().map(|(i, _)| self.config.peers[*i]).collect();
        let failed_over_to: Option<BTreeSet<usize>> =
            failed_over.then(|| best.iter().map(|(i, _)| *i).collect());
        // Rule 5.
        let mut hops: Vec<IpAddr> = Vec::new();
        if !self.in_vnet(prefix) {
            hops = best.iter().map(|(_, r)| r.next_hop).collect();
            hops.sort();
            hops.dedup();
            hops.truncate(self.config.ecmp_width);
        }
        // Rule 6.
        let nva_best = self.fresh_best(
            &routes
                .iter()
                .filter(|(i, _)| !self.config.peers[*i].is_gateway())
                .copied()
                .collect::<Vec<_>>(),
        );
        let advertised_range = self.is_advertised_range(prefix);
        let mut sent: Vec<Option<Route>> = vec![None; n];
        for to in (0..n).filter(|&i| self.up[i]) {
            let to_kind = self.config.peers[to];
            if advertised_range {
                if !to_kind.is_gateway() {
                    sent[to] = Some(Route {
                        as_path: vec![self.config.local_asn],
                        next_hop: IpAddr::V4(self.config.local_address),
                        communities: Vec::new(),
                    });
                }
                continue;
            }
            let offered = if !to_kind.is_gateway() && !self.config.branch_to_branch {
                &nva_best
            } else {
                &best
            };
            let Some((from, route)) = offered.iter().find(|(i, _)| *i != to) else {
                continue;
            };
            if route.communities.contains(&NO_ADVERTISE) {
                continue;
            }
            let crosses = self.config.peers[*from].is_gateway() || to_kind.is_gateway();
            if crosses && !self.config.branch_to_branch {
                continue;
            }
            sent[to] = Some(if to_kind.is_gateway() {
                (*route).clone()
            } else {
                let mut as_path = vec![self.config.local_asn];
                as_path.extend(&route.as_path);
                Route {
                    as_path,
                    next_hop: IpAddr::V4(self.config.local_address),
                    communities: route.communities.clone(),
                }
            });
        }
        replace(
            &mut self.last_kinds,
            prefix,
            (!kinds.is_empty()).then_some(kinds),
        );
        replace(&mut self.failed_over_to, prefix, failed_over_to);
        replace(
            &mut self.programmed,
            prefix,
            (!hops.is_empty()).then_some(hops),
        );
        for (table, route) in self.advertised.iter_mut().zip(sent) {
            replace(table, prefix, route);
        }
    }
}

/// Sets or removes `map`'s entry for `prefix`.
fn replace<V>(map: &mut BTreeMap<IpNet, V>, prefix: IpNet, value: Option<V>) {
    match value {
        Some(value) => {
            map.insert(prefix, value);
        }
        None => {
            map.remove(&prefix);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reference_model_is_independent() {
        let source = include_str!("reference.rs");
        let code = source.split("#[cfg(test)]").next().unwrap_or(source);
        for forbidden in ["crate::", "super::"] {
            let uses = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .filter(|l| l.contains(forbidden))
                .count();
            assert_eq!(uses, 0, "the reference model uses `{forbidden}`");
        }
    }
}
