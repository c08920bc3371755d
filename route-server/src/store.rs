//! Storage: each peer's learned routes as a view on the route server's `rib::Rib`, and the
//! Adj-RIBs-Out (what was sent to each peer, as interned sets for all peers at once) with
//! their own small attribute pool.
//!
//! The `Rib` holds every learned route once, with its attributes interned. What it does
//! not know stays here, keyed by the Rib's own identifiers: which received prefix an
//! inbound route map summarised into which stored prefix (such routes are Rib paths of the
//! stored prefix with a path identifier of our choosing), and whether a graceful restart
//! left routes stale. The ranking (hub routing preference, the non-reverting failover
//! memory) is the server's, run over [`Rib::paths_unordered`].
//!
//! The Adj-RIB-Out keeps exported attribute sets in [`AttrPool`]: they are not routes of
//! any peer, and the Rib interns only the routes it stores (storing exports there would
//! make them candidates of their prefixes).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;

use bgp_wire::{AttrValue, Family, MpNextHop, MpNlri, MpReach, Nlri, PathAttribute};
use ipnet::IpNet;
use rib::{AttrHandle, AttrSet, PathSet, PeerInfo, Rib, RibError};
use smallvec::SmallVec;

use crate::policy::PeerId;
use crate::route::RouteAttrs;

/// Hashing for the server's own tables (attribute handles, peer ids, next-hop sets,
/// exported attribute sets): `foldhash`'s fast hasher with its fixed default seed, far
/// cheaper than SipHash. Fixed, so runs are reproducible; the tables are only looked up,
/// never iterated, so the hash never decides an order. (The standard `DefaultHasher` used
/// here before had fixed, public keys too, so a peer could predict it just the same.)
pub(crate) type FoldState = foldhash::fast::FixedState;

/// Handle of an interned exported attribute set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub(crate) struct AttrId(u32);

/// Exported attribute sets shared by reference count: the routes sent to a peer from one
/// source share a few sets.
#[derive(Clone, Debug, Default)]
pub(crate) struct AttrPool {
    slots: Vec<Option<(RouteAttrs, u32)>>,
    index: HashMap<RouteAttrs, u32, FoldState>,
    free: Vec<u32>,
}

impl AttrPool {
    /// Interns `attrs` and takes one reference to it.
    pub(crate) fn intern(&mut self, attrs: RouteAttrs) -> AttrId {
        if let Some(&slot) = self.index.get(&attrs) {
            self.retain(AttrId(slot));
            return AttrId(slot);
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 attribute sets")
            }
        };
        self.index.insert(attrs.clone(), slot);
        self.slots[slot as usize] = Some((attrs, 1));
        AttrId(slot)
    }

    /// Takes one more reference.
    pub(crate) fn retain(&mut self, id: AttrId) {
        if let Some(Some((_, refs))) = self.slots.get_mut(id.0 as usize) {
            *refs += 1;
        }
    }

    /// Drops one reference; the set goes when the last one does.
    pub(crate) fn release(&mut self, id: AttrId) {
        let Some(slot) = self.slots.get_mut(id.0 as usize) else {
            return;
        };
        let gone = match slot {
            Some((_, refs)) if *refs > 1 => {
                *refs -= 1;
                false
            }
            Some(_) => true,
            None => false,
        };
        if gone {
            if let Some((attrs, _)) = slot.take() {
                self.index.remove(&attrs);
                self.free.push(id.0);
            }
        }
    }

    /// The attributes behind `id`.
    pub(crate) fn get(&self, id: AttrId) -> &RouteAttrs {
        match self.slots.get(id.0 as usize) {
            Some(Some((attrs, _))) => attrs,
            _ => unreachable!("attribute handle {id:?} used after its last release"),
        }
    }

    /// Live attribute sets.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }
}

/// The path attributes a route is stored with in the Rib: what would be sent, plus an
/// empty MP_REACH_NLRI carrying the next hop where NEXT_HOP cannot (IPv6 prefixes, IPv6
/// next hops). The Rib keeps the next hop and drops the MP_REACH_NLRI itself.
pub(crate) fn rib_attributes(attrs: &RouteAttrs, prefix_is_v6: bool) -> Vec<PathAttribute> {
    let mut wire = attrs.to_wire();
    if prefix_is_v6 || attrs.next_hop.is_ipv6() {
        let family = if prefix_is_v6 {
            Family::IPV6_UNICAST
        } else {
            Family::IPV4_UNICAST
        };
        let next_hop = match attrs.next_hop {
            IpAddr::V4(a) => MpNextHop::Ipv4(a),
            IpAddr::V6(global) => MpNextHop::Ipv6 {
                global,
                link_local: None,
            },
        };
        wire.push(PathAttribute::new(AttrValue::MpReachNlri(MpReach {
            family,
            next_hop,
            reserved: 0,
            nlri: MpNlri::Prefixes(Vec::new()),
        })));
    }
    wire
}

/// The route server's attributes of a stored set (`None` for a set without next hop,
/// which [`rib_attributes`] never makes).
pub(crate) fn decode(set: &AttrSet) -> Option<RouteAttrs> {
    Some(RouteAttrs::from_wire(
        set.attributes(),
        set.next_hop()?,
        true,
    ))
}

/// What the Rib needs to know of a peer. The route server ranks paths itself, so the
/// Rib's tie-breakers (BGP identifier, IGP cost) do not matter: the identifier is left
/// unspecified, and the session's OPEN does not have to be known to register the peer.
pub(crate) fn rib_peer_info(address: IpAddr, asn: u32, local_asn: u32) -> PeerInfo {
    PeerInfo {
        address,
        asn,
        bgp_id: Ipv4Addr::UNSPECIFIED,
        is_ebgp: asn != local_asn,
        igp_cost: 0,
    }
}

/// A stored prefix a mutation touched, with its paths when the Rib handed them back.
pub(crate) type Touched = (IpNet, Option<PathSet>);

/// `prefixes` touched, their paths to be looked up.
pub(crate) fn paths_unknown(
    prefixes: impl IntoIterator<Item = IpNet>,
) -> impl Iterator<Item = Touched> {
    prefixes.into_iter().map(|prefix| (prefix, None))
}

/// One peer's routes after import policy, stored in the Rib. A received route is stored
/// under its own prefix, or, when an inbound route map summarised it, under the summary
/// with a path identifier of its own; the path of a stored prefix is that of the lowest
/// received prefix under it.
#[derive(Clone, Debug)]
pub(crate) struct AdjRibIn {
    /// The peer in the Rib.
    peer: rib::PeerId,
    /// Summarised routes: received prefix to (stored prefix, path identifier).
    summarised: BTreeMap<IpNet, (IpNet, u32)>,
    /// The reverse: (stored prefix, path identifier) to received prefix.
    contributions: BTreeMap<(IpNet, u32), IpNet>,
    /// Path identifiers freed by withdrawn summarised routes.
    free_path_ids: Vec<u32>,
    next_path_id: u32,
    /// Routes were marked stale (graceful restart) and not swept yet.
    stale_marked: bool,
    /// Tags of the prefixes whose entries the Rib dropped with their last path in
    /// [`withdraw_many`](Self::withdraw_many), until the pass over them takes them
    /// ([`take_dropped_tags`](Self::take_dropped_tags)).
    dropped_tags: Vec<(IpNet, NonZeroU32)>,
}

impl AdjRibIn {
    /// Registers a peer in the Rib.
    pub(crate) fn new(rib: &mut Rib, info: PeerInfo) -> Result<Self, RibError> {
        Ok(Self {
            peer: rib.add_peer(info)?,
            summarised: BTreeMap::new(),
            contributions: BTreeMap::new(),
            free_path_ids: Vec::new(),
            next_path_id: 0,
            stale_marked: false,
            dropped_tags: Vec::new(),
        })
    }

    /// The peer's identifier in the Rib.
    pub(crate) fn rib_peer(&self) -> rib::PeerId {
        self.peer
    }

    /// Received routes held, stale ones included.
    pub(crate) fn held(&self, rib: &Rib) -> usize {
        rib.route_counts(self.peer).total()
    }

    /// Received routes held from the current session (what the route limit counts:
    /// routes kept stale through a graceful restart are about to be re-sent, not added).
    /// While a restart has left stale routes this scans the peer's routes (the Rib keeps
    /// the marks); the limit asks once per batch, or per UPDATE with per-message counting.
    pub(crate) fn held_fresh(&self, rib: &Rib) -> usize {
        if !self.stale_marked {
            return self.held(rib);
        }
        rib.adj_rib_in(self.peer)
            .iter()
            .filter(|route| !route.stale)
            .count()
    }

    /// Whether the received prefix is held.
    pub(crate) fn holds(&self, rib: &Rib, received: IpNet) -> bool {
        self.summarised.contains_key(&received)
            || rib
                .paths(received)
                .iter()
                .any(|p| p.peer == self.peer && p.path_id.is_none())
    }

    /// The received prefix behind one of this peer's Rib paths of `stored`.
    pub(crate) fn received(&self, stored: IpNet, path_id: Option<u32>) -> Option<IpNet> {
        match path_id {
            None => Some(stored),
            Some(id) => self.contributions.get(&(stored, id)).copied(),
        }
    }

    /// The attributes of the path for a stored prefix.
    #[cfg(test)]
    pub(crate) fn path(&self, rib: &Rib, stored: IpNet) -> Option<AttrHandle> {
        rib.paths(stored)
            .iter()
            .filter(|p| p.peer == self.peer)
            .filter_map(|p| Some((self.received(stored, p.path_id)?, p.attrs)))
            .min_by_key(|(received, _)| *received)
            .map(|(_, attrs)| attrs)
    }

    /// Stores the received routes `nlri` (none summarised) with `attributes` (see
    /// [`rib_attributes`]), in one Rib call. Adds the stored prefixes touched to `touched`,
    /// each route's with its prefix's paths as the Rib handed them back.
    pub(crate) fn announce_many(
        &mut self,
        rib: &mut Rib,
        nlri: &[Nlri],
        attributes: &[PathAttribute],
        touched: &mut Vec<Touched>,
    ) {
        if !self.summarised.is_empty() {
            for route in nlri {
                if let Some(stored) = self.forget_summarised(rib, route.prefix) {
                    touched.push((stored, None));
                }
            }
        }
        let mut entries = Vec::with_capacity(nlri.len());
        let stored = rib.announce_with_paths(self.peer, nlri, attributes, &mut entries);
        debug_assert!(stored.is_ok(), "the peer is registered");
        debug_assert_eq!(entries.len(), nlri.len(), "one entry per route");
        // The prefixes as received (the Rib's are truncated), with the entries.
        touched.extend(
            nlri.iter()
                .zip(entries)
                .map(|(route, (_, paths))| (route.prefix, Some(paths))),
        );
    }

    /// Stores `received` under `stored` with `attributes`. Returns the stored prefixes
    /// whose path may have changed.
    pub(crate) fn announce(
        &mut self,
        rib: &mut Rib,
        received: IpNet,
        stored: IpNet,
        attributes: &[PathAttribute],
    ) -> SmallVec<[IpNet; 2]> {
        if received == stored {
            let mut touched = Vec::new();
            self.announce_many(rib, &[Nlri::new(received)], attributes, &mut touched);
            return touched.into_iter().map(|(prefix, _)| prefix).collect();
        }
        let mut touched = self.withdraw(rib, received);
        let id = self.free_path_ids.pop().unwrap_or_else(|| {
            let id = self.next_path_id;
            self.next_path_id = self.next_path_id.wrapping_add(1);
            id
        });
        self.summarised.insert(received, (stored, id));
        self.contributions.insert((stored, id), received);
        let result = rib.announce(self.peer, &[Nlri::with_path_id(stored, id)], attributes);
        debug_assert!(result.is_ok(), "the peer is registered");
        if !touched.contains(&stored) {
            touched.push(stored);
        }
        touched
    }

    /// Removes the route received as `received`. Returns the stored prefix it was under.
    pub(crate) fn withdraw(&mut self, rib: &mut Rib, received: IpNet) -> SmallVec<[IpNet; 2]> {
        let mut touched = SmallVec::new();
        if let Some(stored) = self.forget_summarised(rib, received) {
            touched.push(stored);
            return touched;
        }
        let before = self.held(rib);
        let result = rib.withdraw(self.peer, &[Nlri::new(received)]);
        debug_assert!(result.is_ok(), "the peer is registered");
        if self.held(rib) != before {
            touched.push(received);
        }
        touched
    }

    /// Removes the routes received as `nlri` (one UPDATE's withdrawals), the ones not
    /// summarised in one Rib call. Adds the stored prefixes touched to `touched`, each
    /// removed route's with its prefix's paths left as the Rib handed them back.
    pub(crate) fn withdraw_many(
        &mut self,
        rib: &mut Rib,
        nlri: &[Nlri],
        touched: &mut Vec<Touched>,
        entries: &mut Vec<(IpNet, PathSet)>,
    ) {
        let peer = self.peer;
        let mut hand_over = |rib: &mut Rib,
                             nlri: &[Nlri],
                             touched: &mut Vec<Touched>,
                             tags: &mut Vec<(IpNet, NonZeroU32)>| {
            entries.clear();
            let result = rib.withdraw_with_paths(peer, nlri, entries, tags);
            debug_assert!(result.is_ok(), "the peer is registered");
            touched.extend(
                entries
                    .drain(..)
                    .map(|(prefix, paths)| (prefix, Some(paths))),
            );
        };
        if self.summarised.is_empty() {
            hand_over(rib, nlri, touched, &mut self.dropped_tags);
            return;
        }
        // A received prefix is held summarised or as itself, never both. Route by route,
        // so that `touched` keeps the order of the changes (the last entry of a prefix is
        // current).
        for route in nlri {
            match self.forget_summarised(rib, route.prefix) {
                Some(stored) => touched.push((stored, None)),
                None => hand_over(
                    rib,
                    std::slice::from_ref(route),
                    touched,
                    &mut self.dropped_tags,
                ),
            }
        }
    }

    /// The tags the Rib handed back in [`withdraw_many`](Self::withdraw_many) since the
    /// last call, moved to `into`.
    pub(crate) fn take_dropped_tags(&mut self, into: &mut Vec<(IpNet, NonZeroU32)>) {
        // Moved with its allocation: a read's list (24 bytes a prefix) is not kept.
        let tags = std::mem::take(&mut self.dropped_tags);
        if into.is_empty() {
            *into = tags;
        } else {
            into.extend(tags);
        }
    }

    /// Removes a summarised route from the Rib and the maps; the stored prefix it was
    /// under.
    fn forget_summarised(&mut self, rib: &mut Rib, received: IpNet) -> Option<IpNet> {
        let (stored, id) = self.summarised.remove(&received)?;
        self.contributions.remove(&(stored, id));
        self.free_path_ids.push(id);
        let result = rib.withdraw(self.peer, &[Nlri::with_path_id(stored, id)]);
        debug_assert!(result.is_ok(), "the peer is registered");
        Some(stored)
    }

    /// Empties the table; returns every stored prefix it held, sorted, once each. The
    /// tags of the prefixes the Rib dropped (they had no other path) are appended to
    /// `tags` ([`Rib::drop_peer_prefixes`]).
    pub(crate) fn clear(
        &mut self,
        rib: &mut Rib,
        tags: &mut Vec<(IpNet, NonZeroU32)>,
    ) -> Vec<IpNet> {
        // One pass over the peer's routes, no copy of its Adj-RIB-In: withdrawing a
        // million routes must not cost more memory than holding them did.
        let mut prefixes = Vec::new();
        let result = rib.drop_peer_prefixes(self.peer, &mut prefixes, tags);
        debug_assert!(result.is_ok(), "the peer is registered");
        prefixes.sort_unstable_by_key(|&prefix| order_key(prefix));
        prefixes.dedup();
        self.summarised.clear();
        self.contributions.clear();
        self.free_path_ids.clear();
        self.next_path_id = 0;
        self.stale_marked = false;
        prefixes
    }

    /// Empties the table and unregisters the peer from the Rib; returns every stored
    /// prefix it held (the tags the Rib dropped appended to `tags`, as with
    /// [`clear`](Self::clear)).
    pub(crate) fn remove(
        mut self,
        rib: &mut Rib,
        tags: &mut Vec<(IpNet, NonZeroU32)>,
    ) -> Vec<IpNet> {
        let prefixes = self.clear(rib, tags);
        let result = rib.remove_peer(self.peer);
        debug_assert!(result.is_ok(), "the peer is registered");
        prefixes
    }

    /// Marks every route stale (graceful restart); returns how many.
    pub(crate) fn mark_stale(&mut self, rib: &mut Rib) -> usize {
        self.stale_marked = true;
        rib.mark_stale(self.peer).unwrap_or(0)
    }

    /// Removes the routes still stale; returns the stored prefixes touched.
    pub(crate) fn sweep_stale(&mut self, rib: &mut Rib) -> Vec<IpNet> {
        if !self.stale_marked {
            return Vec::new();
        }
        self.stale_marked = false;
        let stale: Vec<(IpNet, Option<u32>)> = rib
            .adj_rib_in(self.peer)
            .into_iter()
            .filter(|route| route.stale)
            .map(|route| (route.prefix, route.path_id))
            .collect();
        let result = rib.sweep_stale(self.peer);
        debug_assert!(result.is_ok(), "the peer is registered");
        let mut touched: Vec<IpNet> = Vec::with_capacity(stale.len());
        for (stored, path_id) in stale {
            if let Some(id) = path_id {
                if let Some(received) = self.contributions.remove(&(stored, id)) {
                    self.summarised.remove(&received);
                    self.free_path_ids.push(id);
                }
            }
            if touched.last() != Some(&stored) {
                touched.push(stored);
            }
        }
        touched
    }

    /// Every received prefix held of one family (IPv6 or IPv4), as the peer sent it.
    pub(crate) fn received_prefixes(&self, rib: &Rib, v6: bool) -> Vec<IpNet> {
        rib.adj_rib_in(self.peer)
            .into_iter()
            .filter_map(|route| self.received(route.prefix, route.path_id))
            .filter(|received| received.addr().is_ipv6() == v6)
            .collect()
    }

    /// Every stored prefix with its path, in prefix order.
    pub(crate) fn iter(&self, rib: &Rib) -> Vec<(IpNet, AttrHandle)> {
        let mut out: Vec<(IpNet, IpNet, AttrHandle)> = Vec::new();
        for route in rib.adj_rib_in(self.peer) {
            let Some(received) = self.received(route.prefix, route.path_id) else {
                continue;
            };
            match out.last_mut() {
                Some(last) if last.0 == route.prefix => {
                    if received < last.1 {
                        *last = (route.prefix, received, route.attrs);
                    }
                }
                _ => out.push((route.prefix, received, route.attrs)),
            }
        }
        out.into_iter()
            .map(|(stored, _, attrs)| (stored, attrs))
            .collect()
    }

    /// Stored prefixes.
    pub(crate) fn len(&self, rib: &Rib) -> usize {
        if self.summarised.is_empty() {
            return self.held(rib);
        }
        let mut prefixes: Vec<IpNet> = rib
            .adj_rib_in(self.peer)
            .into_iter()
            .map(|route| route.prefix)
            .collect();
        prefixes.dedup();
        prefixes.len()
    }
}

/// The order of [`IpNet`] (IPv4 before IPv6, then address, then length) as plain
/// integers: `IpNet`'s own comparison goes octet by octet.
pub(crate) fn order_key(net: IpNet) -> (bool, u128, u8) {
    match net {
        IpNet::V4(v4) => (false, u128::from(u32::from(v4.addr())), v4.prefix_len()),
        IpNet::V6(v6) => (true, u128::from(v6.addr()), v6.prefix_len()),
    }
}

/// What [`RoutesOut::update`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum OutChange {
    /// The peer already had that (or nothing, and nothing is wanted).
    Unchanged,
    /// A new or different set is to be announced.
    Announce,
    /// What was sent is to be withdrawn.
    Withdraw,
}

/// Handle of a set interned in a [`SetPool`]: its slot plus one, so that an
/// `Option<SetId>` takes four bytes (the per-prefix state holds two of them).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub(crate) struct SetId(NonZeroU32);

impl SetId {
    /// The id as a tag of the Rib's ([`Rib::tag_entry`]): the per-prefix state's id kept
    /// in the prefix's Loc-RIB entry.
    pub(crate) fn tag(self) -> NonZeroU32 {
        self.0
    }

    /// The id a tag names (one that [`tag`](Self::tag) made).
    pub(crate) fn from_tag(tag: NonZeroU32) -> Self {
        Self(tag)
    }

    fn slot(self) -> usize {
        self.0.get() as usize - 1
    }

    fn of_slot(slot: usize) -> Self {
        let id = u32::try_from(slot + 1).expect("fewer than 2^32 - 1 interned sets");
        Self(NonZeroU32::new(id).expect("slot + 1 is not zero"))
    }
}

/// Distinct sets (slices of `T`) shared by reference count, freed slots reused: a million
/// prefixes programmed toward the same two NVAs, or sent the same attribute set to the same
/// receivers, hold one set between them and four bytes each.
#[derive(Clone, Debug)]
pub(crate) struct SetPool<T> {
    slots: Vec<Slot<T>>,
    ids: HashMap<Box<[T]>, SetId, FoldState>,
    free: Vec<SetId>,
    /// The two sets interned last, latest first: consecutive prefixes mostly share one
    /// (and a prefix's state goes through two in one pass, before and after its export).
    recent: [Option<SetId>; 2],
    /// Sets whose holders went to zero through [`release_later`](Self::release_later).
    unused: Vec<SetId>,
}

/// One set of a [`SetPool`].
#[derive(Clone, Debug)]
struct Slot<T> {
    /// The set (empty when the slot is free).
    set: Box<[T]>,
    holders: u32,
    /// Listed in `unused`.
    listed: bool,
}

impl<T> Default for SetPool<T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            ids: HashMap::default(),
            free: Vec::new(),
            recent: [None; 2],
            unused: Vec::new(),
        }
    }
}

impl<T: Clone + Eq + std::hash::Hash> SetPool<T> {
    /// The set behind `id`.
    pub(crate) fn get(&self, id: SetId) -> &[T] {
        self.slots.get(id.slot()).map_or(&[], |slot| &slot.set)
    }

    /// The id of `items` with one more holder; whether the set was made by this call (it
    /// was not interned before: a set kept by [`release_later`](Self::release_later)
    /// is still interned).
    pub(crate) fn intern(&mut self, items: &[T]) -> (SetId, bool) {
        let recent = self
            .recent
            .into_iter()
            .flatten()
            .find(|&id| *self.get(id) == *items);
        let (id, made) = match recent {
            Some(id) => (id, false),
            None => match self.ids.get(items) {
                Some(&id) => (id, false),
                None => {
                    let set: Box<[T]> = items.into();
                    let slot = Slot {
                        set: set.clone(),
                        holders: 0,
                        listed: false,
                    };
                    let id = match self.free.pop() {
                        Some(id) => {
                            self.slots[id.slot()] = slot;
                            id
                        }
                        None => {
                            self.slots.push(slot);
                            SetId::of_slot(self.slots.len() - 1)
                        }
                    };
                    self.ids.insert(set, id);
                    (id, true)
                }
            },
        };
        self.retain(id);
        if self.recent[0] != Some(id) {
            self.recent = [Some(id), self.recent[0]];
        }
        (id, made)
    }

    /// Every set interned (those kept by [`release_later`](Self::release_later) too), in
    /// no promised order.
    pub(crate) fn ids(&self) -> impl Iterator<Item = SetId> + '_ {
        self.ids.values().copied()
    }

    /// One more holder of `id`.
    pub(crate) fn retain(&mut self, id: SetId) {
        if let Some(slot) = self.slots.get_mut(id.slot()) {
            slot.holders += 1;
        }
    }

    /// One holder fewer; the set itself when that was the last one (its slot is freed).
    pub(crate) fn release(&mut self, id: SetId) -> Option<Box<[T]>> {
        let slot = self.slots.get_mut(id.slot())?;
        slot.holders = slot.holders.saturating_sub(1);
        if slot.holders > 0 || slot.listed {
            // A listed set is freed by `collect`.
            return None;
        }
        Some(self.free_slot(id))
    }

    fn free_slot(&mut self, id: SetId) -> Box<[T]> {
        let set = std::mem::take(&mut self.slots[id.slot()].set);
        self.ids.remove(&set);
        self.free.push(id);
        for recent in &mut self.recent {
            if *recent == Some(id) {
                *recent = None;
            }
        }
        set
    }

    /// One holder fewer; when that was the last, the set stays interned until
    /// [`collect`](Self::collect): a holder may come back soon (a prefix's state goes
    /// through two states in one pass), and interning a set anew costs a hash map insert
    /// and an allocation.
    pub(crate) fn release_later(&mut self, id: SetId) {
        let Some(slot) = self.slots.get_mut(id.slot()) else {
            return;
        };
        slot.holders = slot.holders.saturating_sub(1);
        if slot.holders == 0 && !slot.listed {
            slot.listed = true;
            self.unused.push(id);
        }
    }

    /// Frees the sets [`release_later`](Self::release_later) left without holders that
    /// have none still, handing each to `freed`.
    pub(crate) fn collect(&mut self, mut freed: impl FnMut(Box<[T]>)) {
        while let Some(id) = self.unused.pop() {
            let slot = &mut self.slots[id.slot()];
            slot.listed = false;
            if slot.holders == 0 {
                freed(self.free_slot(id));
            }
        }
    }

    /// Distinct sets held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }
}

/// The routes sent to the peers for one prefix: each peer holding one with its exported
/// attribute set, in peer order.
pub(crate) type SentRoutes = [(PeerId, AttrId)];

/// One prefix's routes in the Adj-RIBs-Out, while a pass updates them
/// ([`AdjRibsOut::with_routes`]).
#[derive(Debug)]
pub(crate) struct RoutesOut<'a> {
    routes: &'a mut Vec<(PeerId, AttrId)>,
    counts: &'a mut Vec<usize>,
    pool: &'a mut AttrPool,
}

impl RoutesOut<'_> {
    /// The exported attribute sets, to intern what [`update`](Self::update) is given.
    pub(crate) fn pool(&mut self) -> &mut AttrPool {
        self.pool
    }

    /// Records that `to` is to have `desired` (`None`: nothing), releasing what it
    /// replaces. The reference `desired` holds is kept when it is stored, released when
    /// the peer already had it.
    pub(crate) fn update(&mut self, to: PeerId, desired: Option<AttrId>) -> OutChange {
        let (routes, pool) = (&mut *self.routes, &mut *self.pool);
        let at = routes.binary_search_by_key(&to, |(peer, _)| *peer);
        match (at, desired) {
            (Ok(i), Some(d)) if routes[i].1 == d => {
                pool.release(d);
                OutChange::Unchanged
            }
            (Ok(i), Some(d)) => {
                pool.release(std::mem::replace(&mut routes[i].1, d));
                OutChange::Announce
            }
            (Err(i), Some(d)) => {
                routes.insert(i, (to, d));
                let slot = to.0 as usize;
                if self.counts.len() <= slot {
                    self.counts.resize(slot + 1, 0);
                }
                if let Some(count) = self.counts.get_mut(slot) {
                    *count += 1;
                }
                OutChange::Announce
            }
            (Ok(i), None) => {
                let (_, old) = routes.remove(i);
                pool.release(old);
                if let Some(count) = self.counts.get_mut(to.0 as usize) {
                    *count = count.saturating_sub(1);
                }
                OutChange::Withdraw
            }
            (Err(_), None) => OutChange::Unchanged,
        }
    }
}

/// What was sent to every peer: per prefix, the [`SentRoutes`] as one interned set (a
/// [`SetId`] the per-prefix state holds, four bytes, however many receivers), the sets
/// themselves here. The routes a pass sends are mostly the same for consecutive prefixes
/// (one source, one exported set per receiver), so a million prefixes share a handful of
/// sets. Each set holds one reference to each exported attribute set it names.
#[derive(Clone, Debug, Default)]
pub(crate) struct AdjRibsOut {
    sets: SetPool<(PeerId, AttrId)>,
    /// Routes sent, by peer: indexed by the peer id's number (ids are handed out in
    /// order and never reused, so this is as long as the peers ever configured).
    counts: Vec<usize>,
    /// The routes of the prefix under update.
    scratch: Vec<(PeerId, AttrId)>,
}

impl AdjRibsOut {
    /// Runs `f` over the routes of the prefix whose sent set is `sent` (updates with
    /// [`RoutesOut::update`]), then points `sent` at the set of what it holds after
    /// (`None` when nothing).
    pub(crate) fn with_routes<R>(
        &mut self,
        sent: &mut Option<SetId>,
        pool: &mut AttrPool,
        f: impl FnOnce(&mut RoutesOut<'_>) -> R,
    ) -> R {
        let scratch = &mut self.scratch;
        scratch.clear();
        if let Some(id) = *sent {
            // The copy holds references of its own: `update` releases what it replaces.
            let routes = self.sets.get(id);
            scratch.extend_from_slice(routes);
            for &(_, attrs) in routes {
                pool.retain(attrs);
            }
        }
        let result = f(&mut RoutesOut {
            routes: scratch,
            counts: &mut self.counts,
            pool,
        });
        let before = sent.map_or(&[][..], |id| self.sets.get(id));
        if *before == **scratch {
            for &(_, attrs) in scratch.iter() {
                pool.release(attrs);
            }
            return result;
        }
        if let Some(old) = sent.take() {
            release_set(&mut self.sets, pool, old);
        }
        if !scratch.is_empty() {
            let (id, made) = self.sets.intern(scratch);
            if !made {
                // The set holds its references already.
                for &(_, attrs) in scratch.iter() {
                    pool.release(attrs);
                }
            }
            *sent = Some(id);
        }
        result
    }

    /// One more holder of the sent set `id`.
    pub(crate) fn retain(&mut self, id: SetId) {
        self.sets.retain(id);
    }

    /// One holder fewer of the sent set `id`, freed (and its exported attribute sets
    /// released) with the last.
    pub(crate) fn release(&mut self, pool: &mut AttrPool, id: SetId) {
        release_set(&mut self.sets, pool, id);
    }

    /// The routes of a prefix whose sent set is `sent`.
    pub(crate) fn routes(&self, sent: Option<SetId>) -> &SentRoutes {
        sent.map_or(&[], |id| self.sets.get(id))
    }

    /// The set sent to `peer` for a prefix whose sent set is `sent`.
    pub(crate) fn route_to(&self, sent: Option<SetId>, peer: PeerId) -> Option<AttrId> {
        let routes = self.routes(sent);
        let i = routes.binary_search_by_key(&peer, |(p, _)| *p).ok()?;
        Some(routes[i].1)
    }

    /// One route fewer sent to `peer`: what [`RoutesOut::update`] counts when it
    /// withdraws one, for a pass replaying a prefix's outcome without it (the fabric's
    /// `PrefixStates::replay_emptied`).
    pub(crate) fn count_withdrawn(&mut self, peer: PeerId) {
        if let Some(count) = self.counts.get_mut(peer.0 as usize) {
            *count = count.saturating_sub(1);
        }
    }

    /// Counts a prefix's routes moving from the sent set `from` to `to`, as
    /// [`RoutesOut::update`] counts them one by one: a peer in `to` and not in `from` has
    /// one route more, a peer in `from` and not in `to` one fewer (a peer in both had its
    /// route replaced, or kept). For a pass replaying a prefix's outcome without
    /// [`with_routes`](Self::with_routes) (the fabric's `PrefixPass::replay`).
    pub(crate) fn count_moved(&mut self, from: Option<SetId>, to: Option<SetId>) {
        let routes = |id: Option<SetId>| id.map_or(&[][..], |id| self.sets.get(id));
        let (from, to) = (routes(from), routes(to));
        let has = |routes: &[(PeerId, AttrId)], peer: PeerId| {
            routes.binary_search_by_key(&peer, |(p, _)| *p).is_ok()
        };
        for &(peer, _) in to {
            if !has(from, peer) {
                let slot = peer.0 as usize;
                if self.counts.len() <= slot {
                    self.counts.resize(slot + 1, 0);
                }
                self.counts[slot] += 1;
            }
        }
        for &(peer, _) in from {
            if !has(to, peer) {
                if let Some(count) = self.counts.get_mut(peer.0 as usize) {
                    *count = count.saturating_sub(1);
                }
            }
        }
    }

    /// Routes sent to `peer`.
    pub(crate) fn len(&self, peer: PeerId) -> usize {
        self.counts.get(peer.0 as usize).copied().unwrap_or(0)
    }

    /// Distinct sent sets.
    #[cfg(test)]
    pub(crate) fn set_count(&self) -> usize {
        self.sets.len()
    }

    /// Starts forgetting what was sent to `peer` (its session went down): zeroes its count
    /// and says whether it held anything. Each prefix is then passed to
    /// [`forget_in`](Self::forget_in) with the same `memo`.
    pub(crate) fn begin_forget(&mut self, peer: PeerId) -> bool {
        self.counts
            .get_mut(peer.0 as usize)
            .map_or(0, std::mem::take)
            > 0
    }

    /// Takes `peer` out of one prefix's sent set. `memo` maps each set met to its
    /// successor, so that each distinct set is rebuilt once.
    pub(crate) fn forget_in(
        &mut self,
        sent: &mut Option<SetId>,
        pool: &mut AttrPool,
        peer: PeerId,
        memo: &mut HashMap<SetId, Option<SetId>, FoldState>,
    ) {
        let Some(old) = *sent else {
            return;
        };
        let next = match memo.get(&old) {
            Some(&next) if next == Some(old) => return,
            Some(&next) => {
                if let Some(next) = next {
                    self.sets.retain(next);
                }
                next
            }
            None => {
                let routes = self.sets.get(old);
                let Ok(i) = routes.binary_search_by_key(&peer, |(p, _)| *p) else {
                    memo.insert(old, Some(old));
                    return;
                };
                let mut rest = routes.to_vec();
                rest.remove(i);
                // `intern` counts this prefix as a holder.
                let next = (!rest.is_empty()).then(|| {
                    let (id, made) = self.sets.intern(&rest);
                    if made {
                        for &(_, attrs) in &rest {
                            pool.retain(attrs);
                        }
                    }
                    id
                });
                memo.insert(old, next);
                next
            }
        };
        release_set(&mut self.sets, pool, old);
        *sent = next;
    }
}

/// Releases one holder of a sent set, and the exported attribute sets it names when it
/// was the last.
fn release_set(sets: &mut SetPool<(PeerId, AttrId)>, pool: &mut AttrPool, id: SetId) {
    if let Some(freed) = sets.release(id) {
        for &(_, attrs) in freed.iter() {
            pool.release(attrs);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use bgp_wire::{AsPath, Origin};
    use rib::RibConfig;

    use super::*;

    fn attrs(asn: u32) -> RouteAttrs {
        RouteAttrs::new(
            Origin::Igp,
            AsPath::from_sequence([asn]),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        )
    }

    fn net(s: &str) -> IpNet {
        s.parse().expect("test prefix")
    }

    /// A Rib with one peer.
    fn rib_with_peer() -> (Rib, AdjRibIn) {
        let mut rib = Rib::new(RibConfig {
            ranking: rib::Ranking::Caller,
            ..RibConfig::default()
        });
        let info = rib_peer_info(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 65001, 65515);
        let peer = AdjRibIn::new(&mut rib, info).expect("room for a peer");
        (rib, peer)
    }

    /// Attribute sets alive once the Rib has freed those no route uses (it does at the
    /// start of its next mutation).
    fn attr_sets_in_use(rib: &mut Rib, peer: &AdjRibIn) -> usize {
        let _ = rib.withdraw(peer.rib_peer(), &[]);
        rib.attr_set_count()
    }

    fn stored_attrs(rib: &Rib, peer: &AdjRibIn, prefix: IpNet) -> Option<RouteAttrs> {
        let handle = peer.path(rib, prefix)?;
        decode(rib.attrs(handle)?)
    }

    #[test]
    fn pool_shares_and_frees() {
        let mut pool = AttrPool::default();
        let a = pool.intern(attrs(1));
        let b = pool.intern(attrs(1));
        assert_eq!(a, b);
        assert_eq!(pool.len(), 1);
        pool.release(a);
        assert_eq!(pool.len(), 1);
        pool.release(b);
        assert_eq!(pool.len(), 0);
        let c = pool.intern(attrs(2));
        assert_eq!(pool.get(c), &attrs(2));
    }

    #[test]
    fn summarised_routes_share_a_stored_prefix_until_the_last_goes() {
        let (mut rib, mut adj) = rib_with_peer();
        let summary = net("10.2.0.0/16");
        for p in ["10.2.1.0/24", "10.2.2.0/24"] {
            adj.announce(&mut rib, net(p), summary, &rib_attributes(&attrs(1), false));
        }
        assert_eq!(adj.held(&rib), 2);
        assert_eq!(adj.len(&rib), 1);
        assert!(adj.holds(&rib, net("10.2.2.0/24")));
        assert_eq!(
            adj.withdraw(&mut rib, net("10.2.1.0/24")).as_slice(),
            &[summary]
        );
        assert!(adj.path(&rib, summary).is_some());
        adj.withdraw(&mut rib, net("10.2.2.0/24"));
        assert!(adj.path(&rib, summary).is_none());
        assert_eq!(attr_sets_in_use(&mut rib, &adj), 0);
    }

    #[test]
    fn reannounce_replaces_and_clears_stale() {
        let (mut rib, mut adj) = rib_with_peer();
        let p = net("10.9.0.0/16");
        adj.announce(&mut rib, p, p, &rib_attributes(&attrs(1), false));
        assert_eq!(adj.mark_stale(&mut rib), 1);
        assert_eq!(adj.held_fresh(&rib), 0);
        adj.announce(&mut rib, p, p, &rib_attributes(&attrs(2), false));
        assert_eq!(adj.held(&rib), 1);
        assert_eq!(adj.held_fresh(&rib), 1);
        assert!(adj.sweep_stale(&mut rib).is_empty());
        assert_eq!(stored_attrs(&rib, &adj, p), Some(attrs(2)));
        assert_eq!(attr_sets_in_use(&mut rib, &adj), 1);
    }

    #[test]
    fn a_summarised_route_reannounced_as_itself_leaves_the_summary() {
        let (mut rib, mut adj) = rib_with_peer();
        let (summary, p) = (net("10.2.0.0/16"), net("10.2.1.0/24"));
        let wire = rib_attributes(&attrs(1), false);
        adj.announce(&mut rib, p, summary, &wire);
        assert!(adj.holds(&rib, p));
        let touched = adj.announce(&mut rib, p, p, &wire);
        assert!(touched.contains(&summary) && touched.contains(&p));
        assert_eq!((adj.held(&rib), adj.len(&rib)), (1, 1));
        assert!(adj.path(&rib, summary).is_none());
        assert!(adj.path(&rib, p).is_some());
        // And back: the route moves under the summary again.
        adj.announce(&mut rib, p, summary, &wire);
        assert!(adj.path(&rib, p).is_none());
        assert_eq!(adj.iter(&rib).len(), 1);
        assert_eq!(adj.iter(&rib)[0].0, summary);
    }

    #[test]
    fn the_path_of_a_summary_is_the_lowest_received_prefix() {
        let (mut rib, mut adj) = rib_with_peer();
        let summary = net("10.2.0.0/16");
        adj.announce(
            &mut rib,
            net("10.2.9.0/24"),
            summary,
            &rib_attributes(&attrs(9), false),
        );
        adj.announce(
            &mut rib,
            net("10.2.3.0/24"),
            summary,
            &rib_attributes(&attrs(3), false),
        );
        assert_eq!(stored_attrs(&rib, &adj, summary), Some(attrs(3)));
        adj.withdraw(&mut rib, net("10.2.3.0/24"));
        assert_eq!(stored_attrs(&rib, &adj, summary), Some(attrs(9)));
    }

    #[test]
    fn stale_summarised_routes_are_swept_from_the_maps_too() {
        let (mut rib, mut adj) = rib_with_peer();
        let summary = net("10.2.0.0/16");
        let wire = rib_attributes(&attrs(1), false);
        for p in ["10.2.1.0/24", "10.2.2.0/24"] {
            adj.announce(&mut rib, net(p), summary, &wire);
        }
        adj.announce(&mut rib, net("10.3.0.0/16"), net("10.3.0.0/16"), &wire);
        assert_eq!(adj.mark_stale(&mut rib), 3);
        adj.announce(&mut rib, net("10.2.2.0/24"), summary, &wire);
        assert_eq!(adj.held_fresh(&rib), 1);
        assert_eq!(adj.sweep_stale(&mut rib), vec![summary, net("10.3.0.0/16")]);
        assert_eq!((adj.held(&rib), adj.held_fresh(&rib)), (1, 1));
        assert!(!adj.holds(&rib, net("10.2.1.0/24")));
        assert!(adj.holds(&rib, net("10.2.2.0/24")));
        assert_eq!(adj.clear(&mut rib, &mut Vec::new()), vec![summary]);
        assert_eq!(adj.held(&rib), 0);
    }

    #[test]
    fn ipv6_routes_keep_their_next_hop() {
        let (mut rib, mut adj) = rib_with_peer();
        let p = net("2001:db8:1::/48");
        let mut v6 = attrs(1);
        v6.next_hop = "2001:db8::1".parse().expect("address");
        adj.announce(&mut rib, p, p, &rib_attributes(&v6, true));
        assert_eq!(stored_attrs(&rib, &adj, p), Some(v6));
    }
}
