//! Ranking: the pass over the prefixes a change touched (selection by hub routing preference,
//! AS path length and the failover memory; then the fabric and the export of each prefix),
//! and the changes of the virtual network that re-run it.

#[allow(clippy::wildcard_imports)]
use super::*;
use smallvec::SmallVec;

/// Receivers (by their slot in a pass's list) whose route one prefix's outcome withdrew.
type EmptiedSlots = SmallVec<[usize; 4]>;

/// A pass's outcome for a prefix that lost its last path: the state it left (`None`:
/// none) and the receivers whose route it withdrew.
type EmptiedOutcome = (Option<SetId>, EmptiedSlots);

/// Each receiver's (by its slot in a pass's list) change in one prefix's outcome: the
/// exported attribute set announced, or `None`: withdrawn.
type SlotChanges = SmallVec<[(usize, Option<AttrId>); 4]>;

/// What a prefix's outcome depends on in a pass that may replay outcomes
/// ([`PrefixPass::replay`](fabric::PrefixPass::replay)): its state before, its candidates
/// (each peer's path by its attribute set, in peer order), whether it is outside the
/// protected ranges (programmable), and whether it is IPv6.
type ReplayKey = (
    Option<SetId>,
    SmallVec<[(PeerId, AttrHandle); 2]>,
    bool,
    bool,
);

/// The state a prefix's outcome left and the receivers' changes.
type ReplayedOutcome = (Option<SetId>, SlotChanges);

/// The lists [`RouteServer::process_pass`] fills for each prefix in turn, kept (empty)
/// between passes so that their allocations are reused.
#[derive(Default)]
pub(super) struct PassLists {
    /// Each path's source, received prefix, attribute set and source kind (found with
    /// the source, so that no second search of the peers is needed).
    paths: Vec<(PeerId, IpNet, AttrHandle, PeerKind)>,
    /// One path per source: source, kind, attribute set.
    held: Vec<(PeerId, PeerKind, AttrHandle)>,
    /// Each receiver's wanted export (by its slot in the pass's list of receivers).
    wanted: Vec<(usize, PeerId, Desired)>,
}

/// Empty between passes: a clone is a fresh set of lists.
impl Clone for PassLists {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl fmt::Debug for PassLists {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassLists").finish_non_exhaustive()
    }
}

impl RouteServer {
    /// Replaces the virtual network's own ranges. Every established NVA is asked to
    /// re-send its routes (ROUTE-REFRESH), or has its session reset when it does not
    /// support route refresh, as Azure does; the gateways are left alone.
    pub fn set_vnet_prefixes(&mut self, now: Instant, prefixes: Vec<IpNet>) {
        let mut dirty: BTreeSet<IpNet> = self.config.vnet_prefixes.iter().copied().collect();
        dirty.extend(prefixes.iter().copied());
        self.config.vnet_prefixes = prefixes;
        self.vnet_changed(now, dirty);
    }

    /// Replaces the peered virtual networks (with their use-remote-route-server setting);
    /// refreshes or resets every established NVA like
    /// [`set_vnet_prefixes`](Self::set_vnet_prefixes).
    pub fn set_peered_vnets(&mut self, now: Instant, peered: Vec<PeeredVnet>) {
        let mut dirty: BTreeSet<IpNet> = self
            .config
            .peered_vnets
            .iter()
            .flat_map(|v| v.prefixes.iter().copied())
            .collect();
        dirty.extend(peered.iter().flat_map(|v| v.prefixes.iter().copied()));
        self.config.peered_vnets = peered;
        self.vnet_changed(now, dirty);
    }

    /// Switches branch-to-branch (`allowBranchToBranchTraffic`).
    pub fn set_branch_to_branch(&mut self, now: Instant, on: bool) {
        self.config.branch_to_branch = on;
        let all = self.all_prefixes([]);
        self.process_sorted(now, all, None);
        self.drain_all(now);
    }

    /// Changes the hub routing preference. A new preference is a fresh ranking: every
    /// prefix is ranked under it as if no failover had happened (failovers under the old
    /// preference are forgotten; see [`policy::select`] for why). Setting the preference
    /// in force changes nothing.
    pub fn set_hub_routing_preference(&mut self, now: Instant, preference: HubRoutingPreference) {
        if self.config.hub_routing_preference == preference {
            return;
        }
        self.config.hub_routing_preference = preference;
        self.failover_peers.clear();
        let all = self.all_prefixes([]);
        self.process_sorted(now, all, None);
        self.drain_all(now);
    }

    pub(super) fn vnet_changed(&mut self, now: Instant, dirty: BTreeSet<IpNet>) {
        let all = self.all_prefixes(dirty);
        self.process_sorted(now, all, None);
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for id in ids {
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            // Azure refreshes every NVA (spec section 1.3); the gateways are Azure's own
            // and are neither refreshed nor reset (see the crate docs).
            if peer.config.kind.is_gateway() {
                continue;
            }
            let Some(established) = &peer.established else {
                continue;
            };
            if established.route_refresh {
                let families = established.families.clone();
                for family in families {
                    let _ = peer.session.request_refresh(now, family);
                }
                self.outputs
                    .push_back(Output::Event(Event::RouteRefreshSent { peer: id }));
            } else {
                peer.session.handle_input(
                    now,
                    SessionInput::AutomaticStop(StopReason::OtherConfigurationChange),
                );
                peer.session.handle_input(now, SessionInput::AutomaticStart);
                self.outputs
                    .push_back(Output::Event(Event::SessionReset { peer: id }));
            }
            self.sessions_to_drain.insert(id);
        }
        self.drain_all(now);
    }

    /// Every prefix the server knows of (learned, selected, programmed, advertised,
    /// originated) and `more`, sorted, once each: a vector of 18 bytes a prefix, where a
    /// copy of the Loc-RIB with its paths and a tree of prefixes took about 100 (a
    /// whole-table pass at 1M peaked 78 MiB above what the server holds, 34 now). The
    /// prefixes with state are in the Loc-RIB too (their state is its entries' tags), so
    /// one listing of it covers both.
    pub(super) fn all_prefixes(&self, more: impl IntoIterator<Item = IpNet>) -> Vec<IpNet> {
        let key = |prefix: &IpNet| store::order_key(*prefix);
        // The prefixes with state are in the Loc-RIB too (as entries' tags).
        let mut all: Vec<IpNet> = self.learned.prefixes_or_tagged().collect();
        all.sort_unstable_by_key(key);
        let learned = all.len();
        all.extend(self.prefix_states.untruncated_prefixes());
        all.extend(self.config.advertised_prefixes().copied());
        all.extend(more);
        if all.len() > learned {
            all.sort_unstable_by_key(key);
            all.dedup();
        }
        all.shrink_to_fit();
        all
    }

    /// Re-runs selection, programming and export for `dirty` prefixes. With `only`, just
    /// the export to that peer (it has just come up).
    pub(super) fn process(&mut self, now: Instant, dirty: BTreeSet<IpNet>, only: Option<PeerId>) {
        self.process_sorted(now, dirty.into_iter().collect(), only);
    }

    /// [`process`](Self::process) for prefixes already sorted and without duplicates.
    pub(super) fn process_sorted(&mut self, now: Instant, dirty: Vec<IpNet>, only: Option<PeerId>) {
        self.process_pass(now, &dirty, &mut [], only);
    }

    /// [`process_sorted`](Self::process_sorted), given for some prefixes their paths as
    /// the Rib handed them back when they were stored (`known[i]` for `dirty[i]`; the
    /// others, and all when `known` is short, are looked up; the paths are taken).
    pub(super) fn process_pass(
        &mut self,
        now: Instant,
        dirty: &[IpNet],
        known: &mut [Option<PathSet>],
        only: Option<PeerId>,
    ) {
        // The states the Rib handed back with the withdrawals of the reads just imported.
        for peer in self.peers.values_mut() {
            peer.rib_in.take_dropped_tags(self.prefix_states.orphans());
        }
        if dirty.is_empty() {
            return;
        }
        debug_assert!(
            dirty.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicates"
        );
        // With the peer itself: the loops below visit every receiver for every prefix,
        // where a search of the peers' tree for each cost tens of instructions.
        // Inline, as the other per-pass lists below: a pass's few receivers, paths and
        // ranges cost no allocation (a small pass's lists were a third of its allocations).
        let receivers: SmallVec<[(PeerId, &Peer); 8]> = self
            .peers
            .iter()
            .filter(|(id, p)| p.established.is_some() && only.map_or(true, |o| o == **id))
            .map(|(id, peer)| (*id, peer))
            .collect();
        // Per receiver, in `receivers` order (peer order): `None` until something changes.
        let mut pending: SmallVec<[Option<PendingOut>; 8]> =
            SmallVec::from_elem(None, receivers.len());
        let mut memo: HashMap<ExportKey, Option<AttrId>, FoldState> = HashMap::default();
        // The ranges the server originates, by their sort keys: a binary search of a few
        // integers per prefix, where a tree of `IpNet`s cost some 120 instructions.
        let mut advertised: SmallVec<[(bool, u128, u8); 8]> = self
            .config
            .advertised_prefixes()
            .map(|prefix| store::order_key(*prefix))
            .collect();
        advertised.sort_unstable();
        let PassLists {
            mut paths,
            mut held,
            mut wanted,
        } = std::mem::take(&mut self.pass_lists);
        // The route server's view of the Rib's attribute sets met in this pass.
        let mut decoded: HashMap<AttrHandle, RouteAttrs, FoldState> = HashMap::default();
        // States whose prefixes' entries the Rib dropped, sorted: a cursor follows `dirty`.
        let mut orphans: Vec<(IpNet, Option<SetId>)> = self
            .prefix_states
            .take_orphans()
            .into_iter()
            .map(|(prefix, id)| (prefix, Some(id)))
            .collect();
        let mut orphan_at = 0;
        // Per state a prefix had before it lost its last path: the state the pass left it
        // and the receivers (`receivers` slots) whose route it withdrew.
        let mut emptied_outcomes: HashMap<Option<SetId>, EmptiedOutcome, FoldState> =
            HashMap::default();
        let mut withdrawn_slots: EmptiedSlots = SmallVec::new();
        // A prefix's outcome depends on its state, its candidates, its family and whether
        // it is programmable, and on nothing else of the prefix, unless a receiver's
        // outbound route map or per-client best paths make export depend on the prefix,
        // or the failover memory (kept per prefix) is in play. In such a pass each
        // outcome is computed once and replayed for the other prefixes with the same
        // inputs: a read's thousands of routes from one peer mostly share one.
        let replayable = only.is_none()
            && !self.config.extensions.per_client_best_path
            && receivers
                .iter()
                .all(|(_, peer)| peer.config.outbound_map.is_none());
        let mut outcomes: HashMap<ReplayKey, ReplayedOutcome, FoldState> = HashMap::default();
        // The outcome replayed or made last: consecutive prefixes mostly share it, and a
        // comparison of keys costs less than hashing one.
        let mut last_outcome: Option<(ReplayKey, ReplayedOutcome)> = None;
        // The protected ranges as spans of integers: a prefix is programmable when no
        // span holds its own (`policy::is_programmable`, in two comparisons a range).
        let protected: SmallVec<[(bool, u128, u128); 4]> =
            self.config.protected_prefixes().map(|r| span(*r)).collect();
        let programmable = |prefix: IpNet| {
            let (v6, low, high) = span(prefix);
            let outside = !protected
                .iter()
                .any(|&(r6, r_low, r_high)| r6 == v6 && r_low <= low && high <= r_high);
            debug_assert_eq!(outside, policy::is_programmable(&self.config, prefix));
            outside
        };
        let mut slot_changes: SlotChanges = SmallVec::new();
        for (index, &prefix) in dirty.iter().enumerate() {
            paths.clear();
            withdrawn_slots.clear();
            slot_changes.clear();
            // Any order: the paths are sorted by (peer, received prefix) below, a key no two
            // share.
            let handed_back = known.get_mut(index).and_then(Option::take);
            // Handed back without paths: the prefix has no Loc-RIB entry now (a removal
            // that empties one drops it, its tag handed back), so the pass need not look.
            let entry_gone = handed_back.as_ref().is_some_and(|paths| paths.is_empty());
            // The state the Rib handed back if it dropped the prefix's entry.
            while orphans
                .get(orphan_at)
                .is_some_and(|(at, _)| store::order_key(*at) < store::order_key(prefix))
            {
                orphan_at += 1;
            }
            let state_before = match orphans.get_mut(orphan_at) {
                Some((at, id)) if *at == prefix => id.take(),
                _ => None,
            };
            let is_advertised = advertised.binary_search(&store::order_key(prefix)).is_ok();
            // Its last path gone, and not a range the server originates: no candidate,
            // so no selection, no next hops and nothing for any receiver, whatever the
            // prefix. The outcome then depends on the state alone: computed once per
            // distinct state below, replayed for the other prefixes (a withdrawn table's
            // million prefixes mostly share one state).
            let emptied = only.is_none() && entry_gone && !is_advertised;
            if emptied {
                if let Some((after, withdrawn)) = emptied_outcomes.get(&state_before) {
                    let replayed = self.prefix_states.replay_emptied(
                        &mut self.learned,
                        prefix,
                        state_before,
                        *after,
                        withdrawn
                            .iter()
                            .filter_map(|&slot| receivers.get(slot).map(|&(id, _)| id)),
                        &mut self.fabric_changes,
                    );
                    if replayed {
                        if !self.failover_peers.is_empty() {
                            self.failover_peers.remove(&prefix);
                        }
                        for &slot in withdrawn {
                            if let Some(entry) = pending.get_mut(slot) {
                                entry
                                    .get_or_insert_with(PendingOut::default)
                                    .withdraw_at(index);
                            }
                        }
                        continue;
                    }
                }
            }
            let looked_up = match handed_back {
                Some(_) => None,
                None => Some(self.learned.paths_unordered(prefix)),
            };
            for path in handed_back
                .iter()
                .flatten()
                .copied()
                .chain(looked_up.into_iter().flatten())
            {
                let Some(&Some(source)) = self.peer_of_rib_peer.get(path.peer.as_u32() as usize)
                else {
                    continue;
                };
                let Some(peer) = self.peers.get(&source) else {
                    continue;
                };
                if let Some(received) = peer.rib_in.received(prefix, path.path_id) {
                    paths.push((source, received, path.attrs, peer.config.kind));
                }
            }
            // One path per peer, in peer order: the lowest received prefix's (a peer has
            // several only when an inbound route map summarised routes into `prefix`).
            paths.sort_unstable_by_key(|(peer, received, _, _)| (*peer, *received));
            paths.dedup_by_key(|(peer, _, _, _)| *peer);
            held.clear();
            for &(source, _, handle, kind) in &paths {
                if let std::collections::hash_map::Entry::Vacant(slot) = decoded.entry(handle) {
                    let Some(attrs) = self.learned.attrs(handle).and_then(store::decode) else {
                        continue;
                    };
                    slot.insert(attrs);
                }
                held.push((source, kind, handle));
            }
            // Inline: one per peer holding the prefix, rarely more than a few.
            let candidates: SmallVec<[Candidate<'_>; 8]> = held
                .iter()
                .filter_map(|(peer, kind, handle)| {
                    Some(Candidate {
                        peer: *peer,
                        kind: *kind,
                        attrs: decoded.get(handle)?,
                    })
                })
                .collect();
            // Selection, failover memory, fabric and export in one search of the
            // per-prefix state.
            let (config, failover_peers) = (&self.config, &mut self.failover_peers);
            let mut state = self.prefix_states.open(
                &mut self.learned,
                prefix,
                &mut self.export_pool,
                state_before,
                entry_gone,
            );
            let replay_key: Option<ReplayKey> =
                (replayable && !entry_gone && !is_advertised && failover_peers.is_empty()).then(
                    || {
                        (
                            state.old_id(),
                            held.iter()
                                .map(|&(peer, _, handle)| (peer, handle))
                                .collect(),
                            programmable(prefix),
                            prefix.addr().is_ipv6(),
                        )
                    },
                );
            if let Some(key) = &replay_key {
                if last_outcome.as_ref().is_none_or(|(last, _)| last != key) {
                    if let Some(outcome) = outcomes.get(key) {
                        last_outcome = Some((key.clone(), outcome.clone()));
                    }
                }
            }
            let replayed = last_outcome
                .as_ref()
                .filter(|(last, _)| Some(last) == replay_key.as_ref());
            if let Some((_, (after, changes))) = replayed {
                if state.replay(*after, &mut self.fabric_changes) {
                    for &(slot, change) in changes {
                        if let Some(entry) = pending.get_mut(slot) {
                            let entry = entry.get_or_insert_with(PendingOut::default);
                            match change {
                                Some(attrs) => entry.announce_at(index, attrs),
                                None => entry.withdraw_at(index),
                            }
                        }
                    }
                    continue;
                }
            }
            let selection = state.decide_and_settle(&mut self.fabric_changes, |previous_kinds| {
                let selection = policy::select(
                    config.hub_routing_preference,
                    config.extensions.revertive_preference,
                    Previous {
                        kinds: previous_kinds.unwrap_or_default(),
                        failed_over_to: failover_peers.get(&prefix).map_or(&[], Vec::as_slice),
                    },
                    &candidates,
                );
                if only.is_some() {
                    return (selection, None);
                }
                let kinds = (!selection.best.is_empty()).then_some(selection.kinds);
                if selection.failed_over {
                    let to: Vec<PeerId> =
                        selection.best.iter().map(|&i| candidates[i].peer).collect();
                    if failover_peers.get(&prefix) != Some(&to) {
                        failover_peers.insert(prefix, to);
                    }
                } else if !failover_peers.is_empty() {
                    failover_peers.remove(&prefix);
                }
                // No best path, no next hops (the withdrawals' common case: no range test).
                let hops = if !selection.best.is_empty() && programmable(prefix) {
                    policy::ecmp_next_hops(&candidates, &selection, config.limits.ecmp_width)
                } else {
                    policy::NextHops::new()
                };
                (selection, Some((kinds, hops)))
            });
            // Branch-to-branch off: gateway routes are no candidates for the NVAs (spec
            // section 4, step 2), which get the best NVA route even when a gateway route
            // is the best for the prefix.
            let any_gateway = |best: &[usize]| {
                best.iter()
                    .any(|&i| candidates.get(i).is_some_and(|c| c.kind.is_gateway()))
            };
            // `None`: the best set holds no gateway route, so it is the NVAs' best too.
            let nva_best: Option<policy::CandidateIndices> =
                if !self.config.branch_to_branch && any_gateway(&selection.best) {
                    let nvas: policy::CandidateIndices = (0..candidates.len())
                        .filter(|&i| !candidates[i].kind.is_gateway())
                        .collect();
                    let among: SmallVec<[Candidate<'_>; 8]> =
                        nvas.iter().map(|&i| candidates[i]).collect();
                    let best = policy::select(
                        self.config.hub_routing_preference,
                        true,
                        Previous::default(),
                        &among,
                    )
                    .best;
                    Some(best.into_iter().map(|i| nvas[i]).collect())
                } else {
                    None
                };
            wanted.clear();
            for (slot, &(to, peer)) in receivers.iter().enumerate() {
                let best = match &nva_best {
                    Some(nva_best) if !peer.config.kind.is_gateway() => nva_best,
                    _ => &selection.best,
                };
                let desired = desired_export(
                    &self.config,
                    peer,
                    to,
                    prefix,
                    is_advertised,
                    &candidates,
                    &held,
                    best,
                    &memo,
                );
                wanted.push((slot, to, desired));
            }
            drop(candidates);
            // Every receiver's route of this prefix, in the state found above.
            state.with_routes(|routes_out| {
                for (slot, to, desired) in wanted.drain(..) {
                    let pool = routes_out.pool();
                    let desired = match desired {
                        Desired::Nothing => None,
                        Desired::Known(id) => {
                            if let Some(id) = id {
                                pool.retain(id);
                            }
                            id
                        }
                        Desired::Fresh(attrs, key) => {
                            let id = pool.intern(*attrs);
                            if let Some(key) = key {
                                pool.retain(id);
                                memo.insert(key, Some(id));
                            }
                            Some(id)
                        }
                        Desired::Refused(key) => {
                            memo.insert(key, None);
                            None
                        }
                    };
                    let changed = match (routes_out.update(to, desired), desired) {
                        (OutChange::Announce, Some(d)) => Some(d),
                        (OutChange::Withdraw, _) => None,
                        _ => continue,
                    };
                    let Some(entry) = pending.get_mut(slot) else {
                        continue;
                    };
                    let entry = entry.get_or_insert_with(PendingOut::default);
                    match changed {
                        Some(attrs) => entry.announce_at(index, attrs),
                        None => {
                            entry.withdraw_at(index);
                            withdrawn_slots.push(slot);
                        }
                    }
                    slot_changes.push((slot, changed));
                }
            });
            let after = state.finish();
            // Not when this prefix failed over: its outcome then rests on memory of its own.
            if let Some(key) = replay_key.filter(|_| self.failover_peers.is_empty()) {
                let outcome = (after, slot_changes.clone());
                outcomes
                    .entry(key.clone())
                    .or_insert_with(|| outcome.clone());
                last_outcome = Some((key, outcome));
            }
            if emptied {
                emptied_outcomes
                    .entry(state_before)
                    .or_insert_with(|| (after, std::mem::take(&mut withdrawn_slots)));
            }
        }
        let leftover = orphans
            .into_iter()
            .filter_map(|(prefix, id)| Some((prefix, id?)));
        PrefixStates::readopt(&mut self.learned, leftover);
        self.prefix_states.collect(&mut self.export_pool);
        for id in memo.into_values().flatten() {
            self.export_pool.release(id);
        }
        if !self.fabric_changes.is_empty() {
            let changes = std::mem::take(&mut self.fabric_changes);
            self.outputs.push_back(Output::Program(changes));
        }
        let changed: SmallVec<[(PeerId, PendingOut); 8]> = receivers
            .iter()
            .zip(pending)
            .filter_map(|(&(to, _), out)| Some((to, out?)))
            .collect();
        drop(receivers);
        paths.clear();
        held.clear();
        wanted.clear();
        self.pass_lists = PassLists {
            paths,
            held,
            wanted,
        };
        for (to, out) in changed {
            self.send_changes(now, to, dirty, &out);
        }
        self.check_expressroute_limit();
    }
}

/// A prefix's addresses as integers, first and last, with its family: one prefix holds
/// another when their families match and its span holds the other's (prefixes nest or
/// are apart).
fn span(prefix: IpNet) -> (bool, u128, u128) {
    match prefix {
        IpNet::V4(net) => (
            false,
            u128::from(u32::from(net.network())),
            u128::from(u32::from(net.broadcast())),
        ),
        IpNet::V6(net) => (true, u128::from(net.network()), u128::from(net.broadcast())),
    }
}
