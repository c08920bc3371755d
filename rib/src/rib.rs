//! The [`Rib`]: peers, their Adj-RIB-In, and the Loc-RIB of both families.

use std::net::IpAddr;
use std::num::NonZeroU32;

use bgp_wire::{Afi, Nlri, PathAttribute};
use ipnet::IpNet;

use crate::attrs::{next_hop_for, AttrHandle, AttrSet, AttrStore};
use crate::config::RibConfig;
use crate::decision::{self, Contender, Survivors};
use crate::hash::SeededState;
use crate::table::{contenders, Ctx, Dest, PrefixKey, Table, TagSlot, V4Key, V6Key};
use crate::types::{
    AdjRoute, Change, Changes, Explanation, MemoryUsage, PathRef, PathSet, PeerId, PeerInfo,
    RibError, RouteCounts,
};

/// Routing information bases for IPv4 and IPv6 unicast: every peer's Adj-RIB-In, the
/// Loc-RIB with each prefix's best path and ECMP set, and interned attribute sets.
///
/// Methods come in three kinds:
///
/// * **Peers**: [`add_peer`](Self::add_peer), [`remove_peer`](Self::remove_peer),
///   [`set_igp_cost`](Self::set_igp_cost), [`set_next_hop_cost`](Self::set_next_hop_cost),
///   [`peer`](Self::peer).
/// * **Mutations**, each returning the [`Changes`] it caused:
///   [`announce`](Self::announce), [`announce_with_paths`](Self::announce_with_paths),
///   [`withdraw`](Self::withdraw), [`withdraw_with_paths`](Self::withdraw_with_paths),
///   [`drop_peer`](Self::drop_peer), [`drop_peer_prefixes`](Self::drop_peer_prefixes),
///   [`mark_stale`](Self::mark_stale) (changes nothing selected) and
///   [`sweep_stale`](Self::sweep_stale). With [`Ranking::Caller`](crate::Ranking::Caller)
///   nothing is selected and the changes are always empty.
/// * **Queries**: [`best`](Self::best), [`ecmp`](Self::ecmp),
///   [`paths`](Self::paths), [`best_excluding`](Self::best_excluding),
///   [`ecmp_excluding`](Self::ecmp_excluding),
///   [`explain`](Self::explain), [`lookup`](Self::lookup), [`attrs`](Self::attrs),
///   [`adj_rib_in`](Self::adj_rib_in), [`loc_rib`](Self::loc_rib), and counts.
#[derive(Clone)]
pub struct Rib {
    config: RibConfig,
    attrs: AttrStore,
    peers: Vec<Option<PeerInfo>>,
    v4: Table<V4Key>,
    v6: Table<V6Key>,
    /// Reused for each decision's inputs, so that deciding among many paths allocates
    /// nothing.
    scratch: Vec<Contender>,
}

impl std::fmt::Debug for Rib {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rib")
            .field("config", &self.config)
            .field("peers", &self.peers.iter().filter(|p| p.is_some()).count())
            .field("ipv4_prefixes", &self.v4.prefix_count())
            .field("ipv6_prefixes", &self.v6.prefix_count())
            .field("attr_sets", &self.attrs.len())
            .finish()
    }
}

impl Rib {
    /// An empty RIB.
    pub fn new(config: RibConfig) -> Self {
        let hasher = SeededState::new(config.hash_seed);
        Self {
            attrs: AttrStore::new(hasher),
            peers: Vec::new(),
            v4: Table::new(config.hash_seed),
            v6: Table::new(config.hash_seed),
            scratch: Vec::new(),
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RibConfig {
        &self.config
    }

    // ----- peers -----

    /// Registers a peer; it gets the lowest free identifier.
    ///
    /// # Errors
    ///
    /// [`RibError::TooManyPeers`] when 65536 peers are registered.
    pub fn add_peer(&mut self, info: PeerInfo) -> Result<PeerId, RibError> {
        let slot = match self.peers.iter().position(Option::is_none) {
            Some(slot) => slot,
            None => {
                self.peers.push(None);
                self.peers.len() - 1
            }
        };
        let Ok(id) = u16::try_from(slot) else {
            self.peers.pop();
            return Err(RibError::TooManyPeers);
        };
        self.peers[slot] = Some(info);
        self.v4.ensure_peer_slot(slot);
        self.v6.ensure_peer_slot(slot);
        Ok(PeerId(id))
    }

    /// Drops a peer's routes and unregisters it.
    ///
    /// # Errors
    ///
    /// [`RibError::UnknownPeer`].
    pub fn remove_peer(&mut self, peer: PeerId) -> Result<Changes, RibError> {
        let changes = self.drop_peer(peer)?;
        self.peers[peer.slot()] = None;
        Ok(changes)
    }

    /// What the RIB knows of a peer.
    pub fn peer(&self, peer: PeerId) -> Option<&PeerInfo> {
        self.peers.get(peer.slot())?.as_ref()
    }

    /// The registered peers, in identifier order.
    pub fn peers(&self) -> impl Iterator<Item = (PeerId, &PeerInfo)> {
        self.peers
            .iter()
            .enumerate()
            .filter_map(|(slot, p)| Some((PeerId(slot as u16), p.as_ref()?)))
    }

    /// Changes the interior cost to a peer's next hops and re-runs the decision for its
    /// prefixes.
    ///
    /// # Errors
    ///
    /// [`RibError::UnknownPeer`].
    pub fn set_igp_cost(&mut self, peer: PeerId, igp_cost: u32) -> Result<Changes, RibError> {
        let slot = self.check(peer)?;
        self.attrs.collect();
        if let Some(info) = self.peers[slot].as_mut() {
            info.igp_cost = igp_cost;
        }
        let mut out = Vec::new();
        let (v4, v6, mut ctx) = self.tables();
        v4.reselect_peer(&mut ctx, peer.0, &mut out);
        v6.reselect_peer(&mut ctx, peer.0, &mut out);
        Ok(finish(out))
    }

    /// Sets the interior cost to the next hop `next_hop`, for every path whose next hop it
    /// is, from any peer; `None` goes back to each peer's
    /// [`igp_cost`](PeerInfo::igp_cost). A per-route cost, for callers that resolve next
    /// hops. Scans the Loc-RIB when some stored path uses that next hop.
    pub fn set_next_hop_cost(&mut self, next_hop: IpAddr, cost: Option<u32>) -> Changes {
        self.attrs.collect();
        let handles = self.attrs.set_next_hop_cost(next_hop, cost);
        let mut out = Vec::new();
        if !handles.is_empty() {
            let (v4, v6, mut ctx) = self.tables();
            v4.reselect_attrs(&mut ctx, &handles, &mut out);
            v6.reselect_attrs(&mut ctx, &handles, &mut out);
        }
        finish(out)
    }

    fn check(&self, peer: PeerId) -> Result<usize, RibError> {
        match self.peers.get(peer.slot()) {
            Some(Some(_)) => Ok(peer.slot()),
            _ => Err(RibError::UnknownPeer(peer)),
        }
    }

    // ----- mutations -----

    /// Stores the routes `nlri` (IPv4 and IPv6 prefixes may be mixed) from `peer`, all
    /// with the path attributes `attributes` (as decoded from one UPDATE, MP_REACH_NLRI
    /// included: its next hop is kept, its NLRI list ignored). A route with the same
    /// prefix and path identifier from the same peer is replaced (implicit withdraw); a
    /// replaced or re-announced route is no longer stale.
    ///
    /// The attributes are interned once per call and family, so announcing the prefixes
    /// of one UPDATE together is the fast path.
    ///
    /// # Errors
    ///
    /// [`RibError::UnknownPeer`].
    pub fn announce(
        &mut self,
        peer: PeerId,
        nlri: &[Nlri],
        attributes: &[PathAttribute],
    ) -> Result<Changes, RibError> {
        self.store(peer, nlri, attributes, None)
    }

    /// [`announce`](Self::announce), also appending to `entries`, for each route of
    /// `nlri` in order, its prefix and every path of the prefix as it stands after the
    /// route was stored (in no promised order; host bits cleared). Storing a route hands
    /// back its prefix's entry, so a caller that ranks the paths itself
    /// ([`Ranking::Caller`](crate::Ranking::Caller)) need not look each prefix up again.
    /// A prefix repeated in `nlri` comes once per repetition, the last one current.
    ///
    /// # Errors
    ///
    /// [`RibError::UnknownPeer`].
    pub fn announce_with_paths(
        &mut self,
        peer: PeerId,
        nlri: &[Nlri],
        attributes: &[PathAttribute],
        entries: &mut Vec<(IpNet, PathSet)>,
    ) -> Result<Changes, RibError> {
        self.store(peer, nlri, attributes, Some(entries))
    }

    fn store(
        &mut self,
        peer: PeerId,
        nlri: &[Nlri],
        attributes: &[PathAttribute],
        mut entries: Option<&mut Vec<(IpNet, PathSet)>>,
    ) -> Result<Changes, RibError> {
        self.check(peer)?;
        self.attrs.collect();
        let mut out = Vec::new();
        let (mut v4_handle, mut v6_handle) = (None, None);
        let (v4, v6, mut ctx) = self.tables();
        for route in nlri {
            let entries = entries.as_deref_mut();
            match route.prefix {
                IpNet::V4(net) => {
                    let handle = *v4_handle.get_or_insert_with(|| {
                        ctx.attrs.intern_via(
                            2 * peer.slot(),
                            attributes,
                            next_hop_for(attributes, Afi::IPV4),
                        )
                    });
                    let key = V4Key::from(net);
                    v4.upsert(
                        &mut ctx,
                        peer.0,
                        key,
                        route.path_id,
                        handle,
                        &mut out,
                        entries,
                    );
                }
                IpNet::V6(net) => {
                    let handle = *v6_handle.get_or_insert_with(|| {
                        ctx.attrs.intern_via(
                            2 * peer.slot() + 1,
                            attributes,
                            next_hop_for(attributes, Afi::IPV6),
                        )
                    });
                    let key = V6Key::from(net);
                    v6.upsert(
                        &mut ctx,
                        peer.0,
                        key,
                        route.path_id,
                        handle,
                        &mut out,
                        entries,
                    );
                }
            }
        }
        Ok(finish(out))
    }

    /// Removes the routes `nlri` of `peer`; routes it does not have are ignored. Memory
    /// is given back as routes go: a peer's Adj-RIB-In index once it holds no route, the
    /// Loc-RIB's table once it is less than a quarter full.
    ///
    /// # Errors
    ///
    /// [`RibError::UnknownPeer`].
    pub fn withdraw(&mut self, peer: PeerId, nlri: &[Nlri]) -> Result<Changes, RibError> {
        self.unstore(peer, nlri, None)
    }

    /// [`withdraw`](Self::withdraw), also appending to `entries`, for each route of `nlri`
    /// that `peer` had, in order, its prefix (host bits cleared) and every path the prefix
    /// has left once the route is removed (empty when it was the last; in no promised
    /// order). A route the peer did not have appends nothing. Removing a route hands back
    /// its prefix's entry, as [`announce_with_paths`](Self::announce_with_paths) does, so
    /// a caller that ranks the paths itself need not look each prefix up again; passing
    /// the withdrawn routes of one UPDATE together is the fast path.
    ///
    /// As with [`drop_peer_prefixes`](Self::drop_peer_prefixes), a prefix left without
    /// paths loses its entry even when it has a [tag](Self::tag_entry): its prefix and tag
    /// are appended to `tags`, in order. A caller holding a prefix's state in its tag gets
    /// it back with the removal, and needs no second search to clear it.
    ///
    /// # Errors
    ///
    /// [`RibError::UnknownPeer`].
    pub fn withdraw_with_paths(
        &mut self,
        peer: PeerId,
        nlri: &[Nlri],
        entries: &mut Vec<(IpNet, PathSet)>,
        tags: &mut Vec<(IpNet, NonZeroU32)>,
    ) -> Result<Changes, RibError> {
        self.unstore(peer, nlri, Some((entries, tags)))
    }

    fn unstore(
        &mut self,
        peer: PeerId,
        nlri: &[Nlri],
        mut handed: Option<HandedBack<'_>>,
    ) -> Result<Changes, RibError> {
        self.check(peer)?;
        self.attrs.collect();
        let mut out = Vec::new();
        let (v4, v6, mut ctx) = self.tables();
        for route in nlri {
            let (entries, tags) = match handed.as_mut() {
                Some((entries, tags)) => (Some(&mut **entries), Some(&mut **tags)),
                None => (None, None),
            };
            match route.prefix {
                IpNet::V4(net) => v4.remove(
                    &mut ctx,
                    peer.0,
                    V4Key::from(net),
                    route.path_id,
                    &mut out,
                    entries,
                    tags,
                ),
                IpNet::V6(net) => v6.remove(
                    &mut ctx,
                    peer.0,
                    V6Key::from(net),
                    route.path_id,
                    &mut out,
                    entries,
                    tags,
                ),
            }
        }
        v4.settle_after_removals(peer.0);
        v6.settle_after_removals(peer.0);
        Ok(finish(out))
    }

    /// Removes every route of `peer` (its session went down); the peer stays registered.
    ///
    /// # Errors
    ///
    /// [`RibError::UnknownPeer`].
    pub fn drop_peer(&mut self, peer: PeerId) -> Result<Changes, RibError> {
        self.check(peer)?;
        self.attrs.collect();
        let mut out = Vec::new();
        let (v4, v6, mut ctx) = self.tables();
        v4.drop_peer(&mut ctx, peer.0, &mut out, None);
        v6.drop_peer(&mut ctx, peer.0, &mut out, None);
        Ok(finish(out))
    }

    /// [`drop_peer`](Self::drop_peer), also appending to `prefixes` the prefix of every
    /// route removed: IPv4 before IPv6, otherwise in no promised order, and a prefix where
    /// the peer had several paths (path identifiers) possibly more than once. For a caller
    /// that ranks itself ([`Ranking::Caller`](crate::Ranking::Caller)), where the
    /// [`Changes`] are empty: one pass over the peer's routes, with no copy of its
    /// Adj-RIB-In and no change records.
    ///
    /// Unlike the other removals, a prefix left without paths loses its entry even when
    /// it has a [tag](Self::tag_entry): its prefix and tag are appended to `tags` (in no
    /// promised order), so that the table shrinks before `prefixes` is filled and dropping
    /// a whole table never holds more memory than the table did.
    ///
    /// # Errors
    ///
    /// [`RibError::UnknownPeer`].
    pub fn drop_peer_prefixes(
        &mut self,
        peer: PeerId,
        prefixes: &mut Vec<IpNet>,
        tags: &mut Vec<(IpNet, NonZeroU32)>,
    ) -> Result<Changes, RibError> {
        self.check(peer)?;
        self.attrs.collect();
        let mut out = Vec::new();
        let (v4, v6, mut ctx) = self.tables();
        v4.drop_peer(
            &mut ctx,
            peer.0,
            &mut out,
            Some((&mut *prefixes, &mut *tags)),
        );
        v6.drop_peer(&mut ctx, peer.0, &mut out, Some((prefixes, tags)));
        Ok(finish(out))
    }

    /// Graceful restart (RFC 4724): marks every route of `peer` stale. Stale routes stay
    /// in use; announcing one again clears its mark, and [`sweep_stale`](Self::sweep_stale)
    /// removes those still marked. Returns how many routes were marked.
    ///
    /// # Errors
    ///
    /// [`RibError::UnknownPeer`].
    pub fn mark_stale(&mut self, peer: PeerId) -> Result<usize, RibError> {
        self.check(peer)?;
        Ok(self.v4.mark_stale(peer.0) + self.v6.mark_stale(peer.0))
    }

    /// Removes the routes of `peer` that are still stale (End-of-RIB came, or the restart
    /// timer fired).
    ///
    /// # Errors
    ///
    /// [`RibError::UnknownPeer`].
    pub fn sweep_stale(&mut self, peer: PeerId) -> Result<Changes, RibError> {
        self.check(peer)?;
        self.attrs.collect();
        let mut out = Vec::new();
        let (v4, v6, mut ctx) = self.tables();
        v4.sweep_stale(&mut ctx, peer.0, &mut out);
        v6.sweep_stale(&mut ctx, peer.0, &mut out);
        Ok(finish(out))
    }

    /// Both families' tables, and the state a table mutation needs beside them, borrowed
    /// apart so one context serves every prefix of a call.
    fn tables(&mut self) -> (&mut Table<V4Key>, &mut Table<V6Key>, Ctx<'_>) {
        let ctx = Ctx {
            attrs: &mut self.attrs,
            peers: &self.peers,
            config: &self.config,
            scratch: &mut self.scratch,
        };
        (&mut self.v4, &mut self.v6, ctx)
    }

    // ----- queries -----

    fn dest(&self, prefix: IpNet) -> Option<&Dest> {
        match prefix {
            IpNet::V4(net) => self.v4.get(V4Key::from(net)),
            IpNet::V6(net) => self.v6.get(V6Key::from(net)),
        }
    }

    /// The best path of `prefix` (exact match; host bits are ignored).
    pub fn best(&self, prefix: IpNet) -> Option<PathRef> {
        self.dest(prefix)?.best()
    }

    /// The ECMP set of `prefix`, best first; empty when the prefix is unknown.
    pub fn ecmp(&self, prefix: IpNet) -> PathSet {
        self.dest(prefix).map(Dest::selection).unwrap_or_default()
    }

    /// Every path of `prefix` (exact match): the selected ones first in order (best, then
    /// the rest of the ECMP set), then the others sorted by peer and path identifier.
    pub fn paths(&self, prefix: IpNet) -> Vec<PathRef> {
        let Some(dest) = self.dest(prefix) else {
            return Vec::new();
        };
        let mut all: Vec<PathRef> = dest.candidates().iter().map(|c| c.path_ref()).collect();
        let selected = dest.selection().len();
        all[selected..].sort_unstable_by_key(|p| (p.peer, p.path_id));
        all
    }

    /// Every path of `prefix` (exact match) in no promised order: what
    /// [`paths`](Self::paths) returns, without its allocation and sort, for callers that
    /// rank or key the paths themselves.
    pub fn paths_unordered(&self, prefix: IpNet) -> impl Iterator<Item = PathRef> + '_ {
        self.dest(prefix)
            .map_or(&[][..], Dest::candidates)
            .iter()
            .map(|c| c.path_ref())
    }

    /// The best path of `prefix` among the paths of every peer but `peer`: what a route
    /// server advertises to `peer`. As cheap as [`best`](Self::best) when `peer` has no
    /// path for the prefix; otherwise the decision process runs again without its paths
    /// (RFC 4271's MED rule means removing a path can change the winner among the others).
    pub fn best_excluding(&self, prefix: IpNet, peer: PeerId) -> Option<PathRef> {
        let dest = self.dest(prefix)?;
        if !dest.has_peer(peer.0) {
            return dest.best();
        }
        self.select_excluding(dest, peer).first().copied()
    }

    /// The ECMP set of `prefix` among the paths of every peer but `peer`.
    pub fn ecmp_excluding(&self, prefix: IpNet, peer: PeerId) -> PathSet {
        let Some(dest) = self.dest(prefix) else {
            return PathSet::new();
        };
        if !dest.has_peer(peer.0) {
            return dest.selection();
        }
        self.select_excluding(dest, peer)
    }

    fn select_excluding(&self, dest: &Dest, peer: PeerId) -> PathSet {
        let others: Vec<_> = dest
            .candidates()
            .iter()
            .filter(|c| c.path_ref().peer != peer)
            .collect();
        let contenders = contenders(
            others.iter().copied(),
            &self.attrs,
            &self.peers,
            &self.config,
        );
        let pool: Survivors = (0..contenders.len() as u32).collect();
        decision::select_among(&contenders, pool, &self.config)
            .iter()
            .map(|&i| others[i as usize].path_ref())
            .collect()
    }

    /// Why the best path of `prefix` won: every other path with the step that set it aside.
    pub fn explain(&self, prefix: IpNet) -> Option<Explanation> {
        let dest = self.dest(prefix)?;
        let candidates = dest.candidates();
        let contenders = contenders(candidates.iter(), &self.attrs, &self.peers, &self.config);
        let (winner, beaten) = decision::explain(&contenders, &self.config);
        let winner = candidates[winner? as usize].path_ref();
        let mut beaten: Vec<_> = beaten
            .into_iter()
            .map(|(i, step)| (candidates[i as usize].path_ref(), step))
            .collect();
        beaten.sort_by_key(|(path, _)| (path.peer, path.path_id));
        Some(Explanation {
            prefix: prefix.trunc(),
            winner,
            ecmp: dest.selection(),
            beaten,
        })
    }

    /// Longest-prefix match: the most specific prefix covering `addr` and its selected
    /// paths (best first, then the ECMP set).
    pub fn lookup(&self, addr: IpAddr) -> Option<(IpNet, PathSet)> {
        match addr {
            IpAddr::V4(a) => self.v4.lookup(a).map(|(k, d)| (k.to_net(), d.selection())),
            IpAddr::V6(a) => self.v6.lookup(a).map(|(k, d)| (k.to_net(), d.selection())),
        }
    }

    /// The attribute set behind `handle`; `None` for a handle that was freed (handles in
    /// a [`Changes`] resolve at least until the next mutating call).
    pub fn attrs(&self, handle: AttrHandle) -> Option<&AttrSet> {
        self.attrs.get(handle)
    }

    /// How many routes use the attribute set `handle`.
    pub fn attr_refs(&self, handle: AttrHandle) -> u32 {
        self.attrs.refs(handle)
    }

    /// How many distinct attribute sets are stored.
    pub fn attr_set_count(&self) -> usize {
        self.attrs.len()
    }

    /// `peer`'s Adj-RIB-In, sorted by prefix then path identifier (empty for an unknown peer).
    pub fn adj_rib_in(&self, peer: PeerId) -> Vec<AdjRoute> {
        let mut routes = Vec::new();
        adj_routes(&self.v4, peer, &mut routes);
        adj_routes(&self.v6, peer, &mut routes);
        routes.sort_unstable();
        routes
    }

    /// How many routes `peer` has.
    pub fn route_counts(&self, peer: PeerId) -> RouteCounts {
        RouteCounts {
            ipv4: self.v4.route_count(peer.slot()),
            ipv6: self.v6.route_count(peer.slot()),
        }
    }

    /// How many prefixes have at least one path.
    pub fn prefix_counts(&self) -> RouteCounts {
        RouteCounts {
            ipv4: self.v4.prefix_count(),
            ipv6: self.v6.prefix_count(),
        }
    }

    /// Heap bytes held, per part; see [`MemoryUsage`].
    pub fn memory_usage(&self) -> MemoryUsage {
        let (loc4, adj4) = self.v4.heap_bytes();
        let (loc6, adj6) = self.v6.heap_bytes();
        MemoryUsage {
            adj_rib_in: adj4 + adj6,
            loc_rib: loc4 + loc6,
            attr_sets: self.attrs.heap_bytes()
                + self.peers.capacity() * size_of::<Option<PeerInfo>>(),
        }
    }

    /// Every stored prefix (the prefixes of [`loc_rib`](Self::loc_rib)), in no promised
    /// order, without their paths and without a copy of the table: a caller listing a
    /// million prefixes holds 18 bytes each rather than a sorted copy with paths.
    pub fn prefixes(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.v4
            .iter()
            .map(|(k, _)| k.to_net())
            .chain(self.v6.iter().map(|(k, _)| k.to_net()))
    }

    /// Every prefix with paths or a [tag](Self::tag_entry) (the union of
    /// [`prefixes`](Self::prefixes) and [`tags`](Self::tags)), in no promised order.
    pub fn prefixes_or_tagged(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.v4
            .keys()
            .map(V4Key::to_net)
            .chain(self.v6.keys().map(V6Key::to_net))
    }

    // ----- caller's tags -----

    /// The caller's tag of `prefix` (exact match; host bits are ignored); see
    /// [`tag_entry`](Self::tag_entry).
    pub fn tag(&self, prefix: IpNet) -> Option<NonZeroU32> {
        match prefix {
            IpNet::V4(net) => self.v4.tag(V4Key::from(net)),
            IpNet::V6(net) => self.v6.tag(V6Key::from(net)),
        }
    }

    /// The caller's tag of `prefix` (host bits are ignored), to read and then write with
    /// one search of the Loc-RIB.
    ///
    /// A tag is four bytes the caller keeps in a prefix's Loc-RIB entry: per-prefix state
    /// of its own (a route server's interned programming and Adj-RIB-Out state) kept where
    /// the prefix is already stored, keyed once, with no table of its own. The Rib never
    /// reads it. A tagged prefix keeps its entry when its last path goes (the queries
    /// treat it as absent: no paths, not counted, not listed by [`loc_rib`](Self::loc_rib)
    /// or [`prefixes`](Self::prefixes)), so the caller still finds the tag when it acts on
    /// the removal; clearing the tag of a prefix without paths removes the entry, and
    /// tagging a prefix that has none makes one. Only
    /// [`withdraw_with_paths`](Self::withdraw_with_paths) and
    /// [`drop_peer_prefixes`](Self::drop_peer_prefixes) remove tagged entries, handing
    /// their tags back.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use rib::{Rib, RibConfig};
    ///
    /// let mut rib = Rib::new(RibConfig::default());
    /// let prefix = "192.0.2.0/24".parse().unwrap();
    /// let tag = NonZeroU32::new(7);
    /// let entry = rib.tag_entry(prefix);
    /// assert_eq!(entry.get(), None);
    /// entry.set(tag);
    /// assert_eq!(rib.tag(prefix), tag);
    /// // A tag alone is no route.
    /// assert_eq!(rib.prefix_counts().total(), 0);
    /// assert_eq!(rib.best(prefix), None);
    /// rib.tag_entry(prefix).set(None);
    /// assert_eq!(rib.tags().count(), 0);
    /// ```
    pub fn tag_entry(&mut self, prefix: IpNet) -> TagEntry<'_> {
        TagEntry(match prefix {
            IpNet::V4(net) => TagPlace::V4(self.v4.tag_slot(V4Key::from(net))),
            IpNet::V6(net) => TagPlace::V6(self.v6.tag_slot(V6Key::from(net))),
        })
    }

    /// Every tagged prefix with its tag, IPv4 before IPv6, otherwise in no promised order.
    pub fn tags(&self) -> impl Iterator<Item = (IpNet, NonZeroU32)> + '_ {
        self.v4
            .tags()
            .map(|(k, tag)| (k.to_net(), tag))
            .chain(self.v6.tags().map(|(k, tag)| (k.to_net(), tag)))
    }

    /// Every reachable prefix with its selected paths, sorted by prefix.
    pub fn loc_rib(&self) -> Vec<(IpNet, PathSet)> {
        let mut all: Vec<_> = self
            .v4
            .iter()
            .map(|(k, d)| (k.to_net(), d.selection()))
            .chain(self.v6.iter().map(|(k, d)| (k.to_net(), d.selection())))
            .collect();
        all.sort_unstable_by_key(|entry| entry.0);
        all
    }
}

/// Where [`Rib::withdraw_with_paths`] hands back entries and dropped tags.
type HandedBack<'a> = (
    &'a mut Vec<(IpNet, PathSet)>,
    &'a mut Vec<(IpNet, NonZeroU32)>,
);

/// One prefix's tag in a [`Rib`], found with one search ([`Rib::tag_entry`]).
pub struct TagEntry<'a>(TagPlace<'a>);

enum TagPlace<'a> {
    V4(TagSlot<'a, V4Key>),
    V6(TagSlot<'a, V6Key>),
}

impl TagEntry<'_> {
    /// The tag.
    #[must_use]
    pub fn get(&self) -> Option<NonZeroU32> {
        match &self.0 {
            TagPlace::V4(slot) => slot.get(),
            TagPlace::V6(slot) => slot.get(),
        }
    }

    /// Sets the tag (`None` clears it; a prefix without paths then leaves the Rib).
    pub fn set(self, tag: Option<NonZeroU32>) {
        match self.0 {
            TagPlace::V4(slot) => slot.set(tag),
            TagPlace::V6(slot) => slot.set(tag),
        }
    }
}

impl std::fmt::Debug for TagEntry<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TagEntry").field(&self.get()).finish()
    }
}

fn adj_routes<K: PrefixKey>(table: &Table<K>, peer: PeerId, out: &mut Vec<AdjRoute>) {
    for (key, path_id, candidate) in table.adj_routes(peer.slot()) {
        out.push(AdjRoute {
            prefix: key.to_net(),
            path_id,
            attrs: candidate.path_ref().attrs,
            stale: candidate.is_stale(),
        });
    }
}

fn finish(changes: Vec<Change>) -> Changes {
    let mut changes = Changes { changes };
    changes.normalise();
    changes
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use bgp_wire::{AsPath, AttrValue, Origin};

    use super::*;

    #[test]
    fn unordered_paths_are_the_paths() {
        let mut rib = Rib::new(RibConfig::azure());
        let peers: Vec<PeerId> = (1..=3)
            .map(|last| {
                rib.add_peer(PeerInfo {
                    address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
                    asn: 65000 + u32::from(last),
                    bgp_id: Ipv4Addr::new(10, 0, 0, last),
                    is_ebgp: true,
                    igp_cost: 0,
                })
                .expect("room for a peer")
            })
            .collect();
        let prefix: IpNet = "10.1.0.0/16".parse().expect("prefix");
        for (i, &peer) in peers.iter().enumerate() {
            let path: Vec<u32> = (0..=i as u32).map(|k| 65001 + k).collect();
            let attrs = vec![
                PathAttribute::new(AttrValue::Origin(Origin::Igp)),
                PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence(path))),
                PathAttribute::new(AttrValue::NextHop(Ipv4Addr::new(10, 0, 0, 9))),
            ];
            for id in [1, 2] {
                let _changes = rib
                    .announce(peer, &[Nlri::with_path_id(prefix, id)], &attrs)
                    .expect("known peer");
            }
        }
        let key = |p: &PathRef| (p.peer, p.path_id, p.attrs);
        let mut unordered: Vec<PathRef> = rib.paths_unordered(prefix).collect();
        let mut ordered = rib.paths(prefix);
        assert_eq!(unordered.len(), 6);
        unordered.sort_by_key(key);
        ordered.sort_by_key(key);
        assert_eq!(unordered, ordered);
        let elsewhere: IpNet = "10.2.0.0/16".parse().expect("prefix");
        assert_eq!(rib.paths_unordered(elsewhere).count(), 0);
    }
}
