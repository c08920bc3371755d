//! Import and limits: decoded UPDATEs through the import policy into the Rib, the route
//! limit counted per batch, refused routes gathered into one event.

#[allow(clippy::wildcard_imports)]
use super::*;

impl RouteServer {
    /// Applies UPDATEs from one peer, in order: each is counted against the route limit,
    /// then imported. Over the limit the session is torn down and the rest ignored.
    pub(super) fn apply_updates(&mut self, now: Instant, id: PeerId, updates: Vec<Update>) {
        if updates.is_empty() {
            return;
        }
        // One entry per route touched (a summarised route adds one more): sized once, so
        // that a large read's list does not double past what it needs (at 65,000 routes a
        // read, the doubling held up to 4.5 MiB more at the peak).
        let routes: usize = updates
            .iter()
            .map(|update| update.withdrawn_routes().count() + update.announced().count())
            .sum();
        let mut dirty: Vec<Touched> = Vec::with_capacity(routes);
        let mut torn_down = false;
        // Each UPDATE is dropped once imported: a large read's decoded prefixes need not
        // live through the selection pass.
        for update in updates {
            let Some(peer) = self.peers.get(&id) else {
                break;
            };
            if peer.established.is_none() || peer.limit_hit {
                break;
            }
            if let Some((counted, limit)) = self.count_against_limit(now, id, &update) {
                self.limit_exceeded(now, id, counted, limit);
                torn_down = true;
                break;
            }
            self.import_update(id, &update, &mut dirty);
        }
        for (peer, reason, count, examples) in self.rejected_pending.drain(..) {
            self.outputs.push_back(Output::Event(Event::RoutesRejected {
                peer,
                reason,
                count,
                examples,
            }));
        }
        // A sort of the touched prefixes costs less than keeping them in a tree as they
        // come. Stable: of a prefix touched more than once, the last entry is current (every
        // change to a prefix's paths adds one).
        // Routes usually come in order (a speaker sends its table sorted, and a read's
        // UPDATEs follow one another): then there is nothing to sort, and no scratch
        // buffer for the sort to allocate (as large as the list).
        if !dirty.is_sorted_by_key(|&(prefix, _)| store::order_key(prefix)) {
            dirty.sort_by_key(|&(prefix, _)| store::order_key(prefix));
        }
        let mut prefixes: Vec<IpNet> = Vec::with_capacity(dirty.len());
        let mut known: Vec<Option<PathSet>> = Vec::with_capacity(dirty.len());
        for (prefix, paths) in dirty {
            if prefixes.last() == Some(&prefix) {
                if let Some(last) = known.last_mut() {
                    *last = paths;
                }
            } else {
                prefixes.push(prefix);
                known.push(paths);
            }
        }
        if torn_down {
            // The teardown changed the Rib after the entries were handed back.
            known.clear();
        }
        self.process_pass(now, &prefixes, &mut known, None);
    }

    /// Counts one UPDATE against the peer's route limit, as
    /// [`Limits::counting`](crate::Limits::counting) says; the count and the limit when
    /// it goes over.
    pub(super) fn count_against_limit(
        &mut self,
        now: Instant,
        id: PeerId,
        update: &Update,
    ) -> Option<(usize, u32)> {
        let counting = self.config.limits.counting;
        let window = self.config.limits.batch_window;
        let peer = self.peers.get_mut(&id)?;
        // Without a limit nothing is counted (counting may scan the routes held).
        let limit = peer
            .config
            .max_routes
            .or(self.config.limits.max_routes_per_peer)?;
        let announced = update.routes_to_announce().count();
        let (held, in_batch, unique) = match counting {
            LimitCounting::HeldPlusBatch => {
                if update.end_of_rib().is_some() {
                    // End-of-RIB closes the batch: the peer's table (or refresh answer)
                    // is complete, and what follows counts against what it then holds.
                    peer.limit_batch = None;
                    return None;
                }
                let open = peer
                    .limit_batch
                    .filter(|b| now.saturating_duration_since(b.started) < window);
                let mut batch = open.unwrap_or(LimitBatch {
                    started: now,
                    held: peer.rib_in.held_fresh(&self.learned),
                    announced: 0,
                });
                batch.announced = batch.announced.saturating_add(announced);
                peer.limit_batch = Some(batch);
                (batch.held, batch.announced, 0)
            }
            LimitCounting::HeldPlusMessage => (peer.rib_in.held_fresh(&self.learned), announced, 0),
            LimitCounting::UniquePrefixes => {
                let as_path = peer
                    .established
                    .as_ref()
                    .map(|e| update.effective_as_path(&e.receive))
                    .unwrap_or_default();
                let (config, from) = (&self.config, &peer.config);
                let learned = |prefix: IpNet, next_hop: IpAddr| {
                    let mut attrs = RouteAttrs::from_wire(&update.attributes, next_hop, true);
                    attrs.as_path = as_path.clone();
                    policy::import(config, from, prefix, &attrs).is_ok()
                };
                (
                    0,
                    0,
                    unique_after(&peer.rib_in, &self.learned, update, learned),
                )
            }
        };
        if !policy::exceeds_route_limit(counting, Some(limit), held, in_batch, unique) {
            return None;
        }
        let counted = match counting {
            LimitCounting::UniquePrefixes => unique,
            _ => held.saturating_add(in_batch),
        };
        Some((counted, limit))
    }

    pub(super) fn limit_exceeded(&mut self, now: Instant, id: PeerId, counted: usize, limit: u32) {
        self.outputs
            .push_back(Output::Event(Event::RouteLimitExceeded {
                peer: id,
                counted,
                limit,
            }));
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.limit_hit = true;
            peer.limit_batch = None;
            let stop = StopReason::MaxPrefixes {
                family: Family::IPV4_UNICAST,
                limit,
            };
            peer.session
                .handle_input(now, SessionInput::AutomaticStop(stop));
            // Azure keeps accepting the NVA again: the teardown shows as flapping.
            peer.session
                .handle_input(now, SessionInput::AutomaticStartWithDampPeerOscillations);
            self.sessions_to_drain.insert(id);
        }
    }

    /// Imports one UPDATE's routes into the peer's Adj-RIB-In (the Rib).
    pub(super) fn import_update(&mut self, id: PeerId, update: &Update, dirty: &mut Vec<Touched>) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(established) = &peer.established else {
            return;
        };
        let rib = &mut self.learned;
        if !peer.refreshes.is_empty() {
            // Re-sent (or withdrawn) during an enhanced route refresh: not stale.
            for (family, nlri) in update
                .routes_to_withdraw()
                .chain(update.routes_to_announce())
            {
                if let Some(mark) = peer.refreshes.iter_mut().find(|r| r.family == family) {
                    mark.unrefreshed.remove(&nlri.prefix);
                }
            }
        }
        // One Rib call for the UPDATE's withdrawals, which hands back each prefix's paths
        // left: the pass need not look the prefixes up again. A route is withdrawn by its
        // prefix: the path identifiers the Rib holds are the server's own (summaries).
        let withdrawn: Vec<Nlri> = update
            .routes_to_withdraw()
            .filter(|(family, _)| {
                *family == Family::IPV4_UNICAST || *family == Family::IPV6_UNICAST
            })
            // Without `Nlri::new`'s truncation: decoding cleared the host bits, and the Rib
            // clears them again when it builds its key.
            .map(|(_, nlri)| Nlri {
                prefix: nlri.prefix,
                path_id: None,
            })
            .collect();
        if !withdrawn.is_empty() {
            let mut entries = Vec::with_capacity(withdrawn.len());
            peer.rib_in
                .withdraw_many(rib, &withdrawn, dirty, &mut entries);
        }
        if update.treatment() >= Some(bgp_wire::Treatment::TreatAsWithdraw) {
            for (_, nlri) in update.announced() {
                let reason = RejectReason::MalformedAttributes;
                note_rejected(&mut self.rejected_pending, id, reason, nlri.prefix);
            }
        }
        if let Some(family) = update.end_of_rib() {
            if family == Family::IPV4_UNICAST && peer.stale_deadline.is_some() {
                peer.stale_deadline = None;
                dirty.extend(paths_unknown(peer.rib_in.sweep_stale(rib)));
            }
            return;
        }
        let as_path = update.effective_as_path(&established.receive);
        let aggregator = update.effective_aggregator(&established.receive);
        let config = &self.config;
        for (family, next_hop, routes) in announced_groups(update) {
            let Some(next_hop) = next_hop else {
                // No next hop of the route's family: nothing to program or advertise.
                // The route replaces (withdraws) what the peer sent before for the prefix,
                // as RFC 7606 treats an UPDATE it cannot use.
                for prefix in routes {
                    dirty.extend(paths_unknown(peer.rib_in.withdraw(rib, prefix)));
                    note_rejected(
                        &mut self.rejected_pending,
                        id,
                        RejectReason::NoNextHop,
                        prefix,
                    );
                }
                continue;
            };
            let mut routes = routes.into_iter().peekable();
            if routes.peek().is_none() {
                continue;
            }
            let mut attrs = RouteAttrs::from_wire(&update.attributes, next_hop, true);
            attrs.as_path = as_path.clone();
            attrs.aggregator = aggregator;
            let v6 = family == Family::IPV6_UNICAST;
            if peer.config.inbound_map.is_none() {
                // Without a route map the verdict and attributes do not depend on the
                // prefix: the accepted routes go to the Rib in one call.
                let first = routes.peek().copied().expect("peeked above");
                match policy::import(config, &peer.config, first, &attrs) {
                    Ok((_, imported)) => {
                        // Without `Nlri::new`'s truncation, as for the withdrawals above.
                        let nlri: Vec<Nlri> = routes
                            .map(|prefix| Nlri {
                                prefix,
                                path_id: None,
                            })
                            .collect();
                        let wire = store::rib_attributes(&imported, v6);
                        peer.rib_in.announce_many(rib, &nlri, &wire, dirty);
                    }
                    Err(reason) => {
                        for prefix in routes {
                            dirty.extend(paths_unknown(peer.rib_in.withdraw(rib, prefix)));
                            note_rejected(&mut self.rejected_pending, id, reason, prefix);
                        }
                    }
                }
                continue;
            }
            for prefix in routes {
                match policy::import(config, &peer.config, prefix, &attrs) {
                    Ok((stored, imported)) => {
                        let wire = store::rib_attributes(&imported, v6);
                        dirty.extend(paths_unknown(
                            peer.rib_in.announce(rib, prefix, stored, &wire),
                        ));
                    }
                    Err(reason) => {
                        dirty.extend(paths_unknown(peer.rib_in.withdraw(rib, prefix)));
                        note_rejected(&mut self.rejected_pending, id, reason, prefix);
                    }
                }
            }
        }
    }
}

/// Counts one rejected route into the pending [`Event::RoutesRejected`] of its peer and
/// reason.
pub(super) fn note_rejected(
    rejected: &mut Vec<(PeerId, RejectReason, usize, Vec<IpNet>)>,
    peer: PeerId,
    reason: RejectReason,
    prefix: IpNet,
) {
    match rejected
        .iter_mut()
        .find(|(p, r, _, _)| *p == peer && *r == reason)
    {
        Some((_, _, count, examples)) => {
            *count += 1;
            if examples.len() < REJECTED_EXAMPLES {
                examples.push(prefix);
            }
        }
        None => rejected.push((peer, reason, 1, vec![prefix])),
    }
}

/// The routes an UPDATE announces (none when RFC 7606 treats it as withdrawn), by where
/// they travel: the NLRI field (IPv4 unicast, next hop in NEXT_HOP), then MP_REACH_NLRI
/// (IPv4 or IPv6 unicast, next hop in MP_REACH_NLRI, RFC 4760 section 3; NEXT_HOP does
/// not apply to them). The next hop is `None` when the UPDATE has none of the routes'
/// family (an IPv6 next hop for IPv4 routes needs RFC 8950, not negotiated). Other
/// families are left out: they are never negotiated.
pub(super) fn announced_groups(update: &Update) -> Vec<(Family, Option<IpAddr>, Vec<IpNet>)> {
    let mut groups = Vec::with_capacity(2);
    if update.treatment() >= Some(bgp_wire::Treatment::TreatAsWithdraw) {
        return groups;
    }
    if !update.nlri.is_empty() {
        let next_hop = update.next_hop().map(IpAddr::V4);
        let prefixes = update.nlri.iter().map(|n| n.prefix).collect();
        groups.push((Family::IPV4_UNICAST, next_hop, prefixes));
    }
    if let Some(reach) = update.mp_reach() {
        let prefixes: Vec<IpNet> = match &reach.nlri {
            bgp_wire::MpNlri::Prefixes(list) => list.iter().map(|n| n.prefix).collect(),
            bgp_wire::MpNlri::Opaque(_) => Vec::new(),
        };
        let next_hop = match (reach.family, &reach.next_hop) {
            (Family::IPV4_UNICAST, MpNextHop::Ipv4(a)) => Some(IpAddr::V4(*a)),
            (Family::IPV6_UNICAST, MpNextHop::Ipv6 { global, .. }) => Some(IpAddr::V6(*global)),
            _ => None,
        };
        let unicast = reach.family == Family::IPV4_UNICAST || reach.family == Family::IPV6_UNICAST;
        if unicast && !prefixes.is_empty() {
            groups.push((reach.family, next_hop, prefixes));
        }
    }
    groups
}

/// Distinct prefixes a peer would hold once `update` is applied (the `UniquePrefixes`
/// count): routes import refuses (`learned` says no) or that have no next hop are not
/// held, so they do not count.
pub(super) fn unique_after(
    adj: &AdjRibIn,
    rib: &Rib,
    update: &Update,
    learned: impl Fn(IpNet, IpAddr) -> bool,
) -> usize {
    let mut overlay: BTreeMap<IpNet, bool> = BTreeMap::new();
    for (_, nlri) in update.routes_to_withdraw() {
        overlay.insert(nlri.prefix, false);
    }
    for (_, next_hop, prefixes) in announced_groups(update) {
        for prefix in prefixes {
            let held = next_hop.is_some_and(|hop| learned(prefix, hop));
            overlay.insert(prefix, held);
        }
    }
    let mut count = adj.held(rib);
    for (prefix, present) in overlay {
        match (present, adj.holds(rib, prefix)) {
            (true, false) => count += 1,
            (false, true) => count = count.saturating_sub(1),
            _ => {}
        }
    }
    count
}
