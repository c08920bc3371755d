//! One address family's tables: the Loc-RIB (per prefix, every path in the running with
//! the selected ones first) and each peer's Adj-RIB-In index.
//!
//! # Layout, and why
//!
//! The paths of a prefix live once, in the Loc-RIB entry of the prefix, as 16-byte
//! [`Candidate`]s (peer, path id, attribute handle, arrival rank, flags) in a `SmallVec`
//! that holds one path inline. The entry keeps its selected paths (best, then the rest of
//! the ECMP set) at the front of that vector, flagged, so reading the best path is one
//! hash lookup; an entry is 24 bytes plus its 8-byte key.
//!
//! A peer's Adj-RIB-In is a log of compact `(prefix, path id)` keys (12 bytes for IPv4,
//! 24 for IPv6) in arrival order, pointing into the Loc-RIB: appending costs no second
//! hash probe on the announce path, and the log is enough to drop, mark stale, sweep or
//! list a peer's routes without scanning every prefix. Withdrawals leave their key behind
//! (the Loc-RIB is the truth); when such dead keys outnumber the live routes, the log is
//! sorted, deduplicated and filtered, which keeps the cost amortised constant.
//!
//! # Longest-prefix match
//!
//! The Loc-RIB is one hash map keyed by (address, length), with host bits cleared (split in
//! shards by `loc_map`; IPv4 keys placed by [`LocalityState`], neighbours together). A count
//! of stored prefixes per length lets [`Table::lookup`] probe only the lengths in use, from
//! the longest down: a handful of hash lookups in practice (a full IPv4 table uses about
//! 25 lengths, and a route server's far fewer). A trie would use less time in the worst
//! case but more memory per prefix and more code; hash probes keep the insert path, which
//! dominates, at one lookup.

use std::cmp::Ordering;
use std::fmt::Debug;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use smallvec::SmallVec;

use crate::loc_map::{Entry, OccupiedEntry, ShardedMap};

use crate::attrs::{AttrHandle, AttrStore, DecisionAttrs};
use crate::config::{DecisionStep, RibConfig};
use crate::decision::{self, Contender};
use crate::hash::{LocalityState, SeededState};
use crate::types::{Change, PathRef, PathSet, PeerId, PeerInfo};

/// A prefix as a compact hash key.
pub(crate) trait PrefixKey: Copy + Eq + Hash + Debug {
    /// The key of one Adj-RIB-In route: prefix and path identifier.
    type Adj: Copy + Ord + Debug;
    /// An address of the family.
    type Addr: Copy;
    /// The longest prefix length.
    const MAX_LEN: u8;

    fn to_net(self) -> IpNet;
    fn prefix_len(self) -> u8;
    fn adj(self, path_id: Option<u32>) -> Self::Adj;
    fn split(adj: Self::Adj) -> (Self, Option<u32>);
    /// The prefix of length `len` (at most `MAX_LEN`) that covers `addr`.
    fn covering(addr: Self::Addr, len: u8) -> Self;
    /// How the Loc-RIB hashes the family's keys.
    type Hasher: BuildHasher + Clone;
    /// That hasher, seeded.
    fn hasher(seed: u64) -> Self::Hasher;
}

/// An IPv4 prefix key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct V4Key {
    addr: u32,
    len: u8,
}

/// The key of a prefix with its host bits cleared (callers pass prefixes as received:
/// no separate `trunc`, which costs more than the masking here).
impl From<Ipv4Net> for V4Key {
    fn from(net: Ipv4Net) -> Self {
        Self {
            addr: u32::from(net.network()),
            len: net.prefix_len(),
        }
    }
}

/// Packed for [`LocalityHasher`](crate::hash::LocalityHasher): of the prefix's
/// significant bits, the last eight are its offset in a run, the others and the length
/// name the run. So 256 neighbouring prefixes of one length (the /24s of a /16, the /32s
/// of a /24) are 256 neighbouring buckets, and no run is longer: two runs that land on
/// each other push their keys out in a few probes, as two colliding keys would.
impl Hash for V4Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        let significant = u64::from(self.addr)
            .checked_shr(u32::from(32 - self.len))
            .unwrap_or(0);
        let run = (significant >> 8) << 8 | u64::from(self.len);
        state.write_u64(run << 16 | (significant & 0xFF));
    }
}

/// An IPv4 Adj-RIB-In key: 12 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct V4AdjKey {
    addr: u32,
    path_id: u32,
    len: u8,
    has_path_id: bool,
}

impl PrefixKey for V4Key {
    type Adj = V4AdjKey;
    type Addr = Ipv4Addr;
    type Hasher = LocalityState;
    const MAX_LEN: u8 = 32;

    fn hasher(seed: u64) -> LocalityState {
        LocalityState::new(seed)
    }

    fn to_net(self) -> IpNet {
        IpNet::V4(
            Ipv4Net::new(Ipv4Addr::from(self.addr), self.len).expect("stored lengths are valid"),
        )
    }
    fn prefix_len(self) -> u8 {
        self.len
    }
    fn adj(self, path_id: Option<u32>) -> V4AdjKey {
        V4AdjKey {
            addr: self.addr,
            path_id: path_id.unwrap_or(0),
            len: self.len,
            has_path_id: path_id.is_some(),
        }
    }
    fn split(adj: V4AdjKey) -> (Self, Option<u32>) {
        (
            Self {
                addr: adj.addr,
                len: adj.len,
            },
            adj.has_path_id.then_some(adj.path_id),
        )
    }
    fn covering(addr: Ipv4Addr, len: u8) -> Self {
        let mask = u32::MAX.checked_shl(u32::from(32 - len)).unwrap_or(0);
        Self {
            addr: u32::from(addr) & mask,
            len,
        }
    }
}

/// An IPv6 prefix key; `u32` words keep it 4-aligned and 20 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct V6Key {
    addr: [u32; 4],
    len: u8,
}

fn words(addr: u128) -> [u32; 4] {
    [
        (addr >> 96) as u32,
        (addr >> 64) as u32,
        (addr >> 32) as u32,
        addr as u32,
    ]
}

fn from_words(w: [u32; 4]) -> u128 {
    u128::from(w[0]) << 96 | u128::from(w[1]) << 64 | u128::from(w[2]) << 32 | u128::from(w[3])
}

/// The key of a prefix with its host bits cleared.
impl From<Ipv6Net> for V6Key {
    fn from(net: Ipv6Net) -> Self {
        Self {
            addr: words(u128::from(net.network())),
            len: net.prefix_len(),
        }
    }
}

impl Hash for V6Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from(self.addr[0]) << 32 | u64::from(self.addr[1]));
        state.write_u64(u64::from(self.addr[2]) << 32 | u64::from(self.addr[3]));
        state.write_u8(self.len);
    }
}

/// An IPv6 Adj-RIB-In key: 24 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct V6AdjKey {
    addr: [u32; 4],
    path_id: u32,
    len: u8,
    has_path_id: bool,
}

impl PrefixKey for V6Key {
    type Adj = V6AdjKey;
    type Addr = Ipv6Addr;
    type Hasher = SeededState;
    const MAX_LEN: u8 = 128;

    fn hasher(seed: u64) -> SeededState {
        SeededState::new(seed)
    }

    fn to_net(self) -> IpNet {
        IpNet::V6(
            Ipv6Net::new(Ipv6Addr::from(from_words(self.addr)), self.len)
                .expect("stored lengths are valid"),
        )
    }
    fn prefix_len(self) -> u8 {
        self.len
    }
    fn adj(self, path_id: Option<u32>) -> V6AdjKey {
        V6AdjKey {
            addr: self.addr,
            path_id: path_id.unwrap_or(0),
            len: self.len,
            has_path_id: path_id.is_some(),
        }
    }
    fn split(adj: V6AdjKey) -> (Self, Option<u32>) {
        (
            Self {
                addr: adj.addr,
                len: adj.len,
            },
            adj.has_path_id.then_some(adj.path_id),
        )
    }
    fn covering(addr: Ipv6Addr, len: u8) -> Self {
        let mask = u128::MAX.checked_shl(u32::from(128 - len)).unwrap_or(0);
        Self {
            addr: words(u128::from(addr) & mask),
            len,
        }
    }
}

const STALE: u8 = 2;
const SELECTED: u8 = 4;

/// One path of a prefix: 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Candidate {
    path_id: u32,
    attrs: AttrHandle,
    rank: u32,
    peer: u16,
    flags: u8,
    /// Whether `path_id` is set. A `bool` rather than a flag bit: its invalid values are
    /// where [`Paths`] keeps which variant it is, so a prefix's paths take 16 bytes.
    has_path_id: bool,
}

impl Candidate {
    fn path_id(&self) -> Option<u32> {
        self.has_path_id.then_some(self.path_id)
    }

    fn is(&self, peer: u16, path_id: Option<u32>) -> bool {
        self.peer == peer && self.path_id() == path_id
    }

    pub(crate) fn path_ref(&self) -> PathRef {
        PathRef {
            peer: PeerId(self.peer),
            path_id: self.path_id(),
            attrs: self.attrs,
        }
    }

    pub(crate) fn is_stale(&self) -> bool {
        self.flags & STALE != 0
    }
}

/// A prefix's paths: none, one inline, or several on the heap; 16 bytes, the variant kept
/// in the niche of the inline path's `has_path_id`. A `SmallVec` holding one path inline
/// takes 24 (its length word beside the path): the 8 bytes saved hold the caller's tag
/// ([`Dest::tag`]) in an entry of the same size as before. Two or more paths are rare in
/// a route server's table (one per peer announcing the prefix): the double indirection
/// of `Many` is paid only there. Derefs to the slice of paths.
#[derive(Clone, Debug, Default)]
pub(crate) enum Paths {
    /// No path (an entry kept for its caller's tag alone).
    #[default]
    None,
    /// One path.
    One(Candidate),
    /// Two or more.
    // A thin pointer: a `Vec` beside the inline path would make the enum 24 bytes.
    #[allow(clippy::box_collection)]
    Many(Box<Vec<Candidate>>),
}

impl std::ops::Deref for Paths {
    type Target = [Candidate];

    fn deref(&self) -> &[Candidate] {
        match self {
            Self::None => &[],
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        }
    }
}

impl std::ops::DerefMut for Paths {
    fn deref_mut(&mut self) -> &mut [Candidate] {
        match self {
            Self::None => &mut [],
            Self::One(one) => std::slice::from_mut(one),
            Self::Many(many) => many,
        }
    }
}

impl Paths {
    /// Inserts `candidate` at `index` (at most the length), shifting the later ones.
    fn insert(&mut self, index: usize, candidate: Candidate) {
        match std::mem::take(self) {
            Self::None => *self = Self::One(candidate),
            Self::One(one) => {
                let pair = if index == 0 {
                    vec![candidate, one]
                } else {
                    vec![one, candidate]
                };
                *self = Self::Many(Box::new(pair));
            }
            Self::Many(mut many) => {
                many.insert(index, candidate);
                *self = Self::Many(many);
            }
        }
    }

    /// Appends `candidate`.
    fn push(&mut self, candidate: Candidate) {
        self.insert(self.len(), candidate);
    }

    /// Removes the path at `index` (in bounds); back inline when one is left.
    fn remove(&mut self, index: usize) -> Candidate {
        match std::mem::take(self) {
            Self::None => unreachable!("remove is called with an index in bounds"),
            Self::One(one) => one,
            Self::Many(mut many) => {
                let removed = many.remove(index);
                *self = match many.len() {
                    0 => Self::None,
                    1 => Self::One(many[0]),
                    _ => Self::Many(many),
                };
                removed
            }
        }
    }

    /// Heap bytes (only when there are several paths).
    fn heap_bytes(&self) -> usize {
        match self {
            Self::Many(many) => {
                size_of::<Vec<Candidate>>() + many.capacity() * size_of::<Candidate>()
            }
            _ => 0,
        }
    }
}

/// A prefix's Loc-RIB entry: 24 bytes, with its 8-byte IPv4 key 32 (asserted in the
/// tests).
#[derive(Clone, Debug, Default)]
pub(crate) struct Dest {
    /// Every path. The selected ones (best, then the rest of its ECMP set, in order) come
    /// first and carry the `SELECTED` flag, which saves a count field and its padding.
    candidates: Paths,
    /// The caller's tag ([`Rib::tag_entry`](crate::Rib::tag_entry)). An entry with a tag
    /// stays when its last path goes, until the tag is cleared.
    tag: Option<NonZeroU32>,
}

impl Dest {
    fn selected(&self) -> &[Candidate] {
        let n = self
            .candidates
            .iter()
            .take_while(|c| c.flags & SELECTED != 0)
            .count();
        &self.candidates[..n]
    }

    /// Every path, in stored order.
    pub(crate) fn paths(&self) -> PathSet {
        self.candidates.iter().map(Candidate::path_ref).collect()
    }

    pub(crate) fn selection(&self) -> PathSet {
        self.selected().iter().map(Candidate::path_ref).collect()
    }

    pub(crate) fn best(&self) -> Option<PathRef> {
        self.selected().first().map(Candidate::path_ref)
    }

    /// Where a path with attributes `handle` stands against the current best path when the
    /// steps before MED settle it for sure: `Greater` (worse: it cannot be selected, nor
    /// change what is), `Less` (better: it alone is selected), `None` (run the decision).
    ///
    /// Why this is sound although the MED step is not a total order: every path still in
    /// the running at the MED step has the best path's LOCAL_PREF, AS_PATH length and
    /// ORIGIN. A path worse on one of those is set aside before the MED step, whatever
    /// else is there; a path better on one sets aside every other path there. With ECMP,
    /// this holds only when that step is not after [`RibConfig::ecmp_up_to`]: a later step
    /// would leave the path in the pool the ECMP set is drawn from.
    fn early_verdict(
        &self,
        attrs: &AttrStore,
        config: &RibConfig,
        handle: AttrHandle,
    ) -> Option<Ordering> {
        let best = self
            .candidates
            .first()
            .filter(|c| c.flags & SELECTED != 0)?;
        let (path, best) = (attrs.decision(handle), attrs.decision(best.attrs));
        let local_pref = |d: &DecisionAttrs| d.local_pref.unwrap_or(config.default_local_pref);
        let as_path_length = |d: &DecisionAttrs| {
            if config.ignore_as_path_length {
                0
            } else {
                d.as_path_length
            }
        };
        let steps = [
            (
                DecisionStep::LocalPref,
                local_pref(best).cmp(&local_pref(path)),
            ),
            (
                DecisionStep::AsPathLength,
                as_path_length(path).cmp(&as_path_length(best)),
            ),
            (
                DecisionStep::Origin,
                (path.origin as u8).cmp(&(best.origin as u8)),
            ),
        ];
        let (step, verdict) = steps.into_iter().find(|(_, order)| order.is_ne())?;
        (config.ecmp_width() == 1 || step <= config.ecmp_up_to).then_some(verdict)
    }

    /// Whether a path with attributes `handle` is set aside before the MED step (see
    /// [`Dest::early_verdict`]), so that adding or removing it changes nothing.
    fn is_irrelevant(&self, attrs: &AttrStore, config: &RibConfig, handle: AttrHandle) -> bool {
        self.early_verdict(attrs, config, handle) == Some(Ordering::Greater)
    }

    pub(crate) fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    fn find(&self, peer: u16, path_id: Option<u32>) -> Option<usize> {
        self.candidates.iter().position(|c| c.is(peer, path_id))
    }

    pub(crate) fn has_peer(&self, peer: u16) -> bool {
        self.candidates.iter().any(|c| c.peer == peer)
    }

    /// An arrival rank above every current one; renumbers in the (astronomically rare)
    /// case that the counter would overflow.
    fn next_rank(&mut self) -> u32 {
        let top = self.candidates.iter().map(|c| c.rank).max();
        match top {
            None => 0,
            Some(u32::MAX) => {
                let mut order: SmallVec<[usize; 8]> = (0..self.candidates.len()).collect();
                order.sort_by_key(|&i| self.candidates[i].rank);
                for (rank, i) in order.into_iter().enumerate() {
                    self.candidates[i].rank = rank as u32;
                }
                self.candidates.len() as u32
            }
            Some(top) => top + 1,
        }
    }

    /// Runs the decision process and moves the selected paths to the front (nothing when
    /// the caller ranks).
    fn reselect(&mut self, ctx: &mut Ctx<'_>) {
        if !ctx.config.ranks() {
            return;
        }
        if self.candidates.len() > 1 {
            let contenders = &mut *ctx.scratch;
            contenders.clear();
            contenders.extend(
                self.candidates
                    .iter()
                    .map(|c| contender(c, ctx.attrs, ctx.peers, ctx.config)),
            );
            let selection = decision::select(contenders, ctx.config);
            let in_place = selection
                .iter()
                .enumerate()
                .all(|(pos, &i)| pos == i as usize);
            if !in_place {
                // Moves the selected paths to the front in selection order, one rotation
                // each, which keeps the others in their order without a second vector.
                // Before the move at `pos`, the paths not yet moved sit from `pos` on in
                // their original order, so original index `i` is at `pos` plus the number
                // of unmoved originals before it.
                for (pos, &chosen) in selection.iter().enumerate() {
                    let moved_before = selection[..pos].iter().filter(|&&s| s < chosen).count();
                    let at = pos + chosen as usize - moved_before;
                    self.candidates[pos..=at].rotate_right(1);
                }
            }
            for (pos, candidate) in self.candidates.iter_mut().enumerate() {
                candidate.flags = if pos < selection.len() {
                    candidate.flags | SELECTED
                } else {
                    candidate.flags & !SELECTED
                };
            }
        } else if let Some(only) = self.candidates.first_mut() {
            only.flags |= SELECTED;
        }
    }
}

/// The decision inputs of `candidates`, in order.
pub(crate) fn contenders<'a>(
    candidates: impl Iterator<Item = &'a Candidate>,
    attrs: &AttrStore,
    peers: &[Option<PeerInfo>],
    config: &RibConfig,
) -> SmallVec<[Contender; 8]> {
    candidates
        .map(|c| contender(c, attrs, peers, config))
        .collect()
}

/// The decision inputs of one candidate.
#[inline]
fn contender(
    c: &Candidate,
    attrs: &AttrStore,
    peers: &[Option<PeerInfo>],
    config: &RibConfig,
) -> Contender {
    let missing_med = if config.med.missing_as_worst {
        u32::MAX
    } else {
        0
    };
    let a = attrs.decision(c.attrs);
    let peer = peers[usize::from(c.peer)]
        .as_ref()
        .expect("paths belong to registered peers");
    Contender {
        local_pref: a.local_pref.unwrap_or(config.default_local_pref),
        as_path_length: a.as_path_length,
        origin: a.origin as u8,
        med: a.med.unwrap_or(missing_med),
        neighbour_as: a.neighbour_as,
        ebgp: peer.is_ebgp,
        igp_cost: a.next_hop_cost.unwrap_or(peer.igp_cost),
        rank: c.rank,
        router_id: u32::from(a.originator_id.unwrap_or(peer.bgp_id)),
        cluster_list_length: a.cluster_list_length,
        peer_address: peer.address,
        peer: c.peer,
        path_id: c.path_id(),
    }
}

/// Where [`Table::drop_peer`] lists the prefixes of the routes removed, and the tags of
/// the entries it removed with them.
pub(crate) type Dropped<'a> = (&'a mut Vec<IpNet>, &'a mut Vec<(IpNet, NonZeroU32)>);

/// Shared, read-mostly state the table operations need.
pub(crate) struct Ctx<'a> {
    pub(crate) attrs: &'a mut AttrStore,
    pub(crate) peers: &'a [Option<PeerInfo>],
    pub(crate) config: &'a RibConfig,
    /// Room for the decision inputs of one prefix, reused from one decision to the next.
    pub(crate) scratch: &'a mut Vec<Contender>,
}

/// One family's Loc-RIB and Adj-RIB-In indexes.
#[derive(Clone)]
pub(crate) struct Table<K: PrefixKey> {
    /// Sharded so that its growth never holds two copies of the whole table.
    loc: ShardedMap<K, Dest, K::Hasher>,
    /// Per peer slot: the keys of the routes it announced, in arrival order. Appending is
    /// all an announcement costs here (no second hash probe); withdrawn routes and repeats
    /// stay until [`Table::compact`] drops them, once they outnumber the live routes.
    /// The Loc-RIB is the truth: a key counts only while its candidate exists.
    logs: Vec<Vec<K::Adj>>,
    /// Per peer slot: live routes.
    counts: Vec<usize>,
    /// Entries per prefix length (with paths or not), for longest-prefix match.
    lengths: [u32; 129],
    /// Entries without paths, kept for their caller's tag.
    bare: usize,
}

impl<K: PrefixKey> Table<K> {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            loc: ShardedMap::with_hasher(K::hasher(seed)),
            logs: Vec::new(),
            counts: Vec::new(),
            lengths: [0; 129],
            bare: 0,
        }
    }

    pub(crate) fn ensure_peer_slot(&mut self, slot: usize) {
        while self.logs.len() <= slot {
            self.logs.push(Vec::new());
            self.counts.push(0);
        }
    }

    /// The entry of `key` if it has paths.
    pub(crate) fn get(&self, key: K) -> Option<&Dest> {
        self.loc
            .get(&key)
            .filter(|dest| !dest.candidates.is_empty())
    }

    /// The caller's tag of `key`.
    pub(crate) fn tag(&self, key: K) -> Option<NonZeroU32> {
        self.loc.get(&key)?.tag
    }

    /// The place of `key`'s tag, found with one search.
    pub(crate) fn tag_slot(&mut self, key: K) -> TagSlot<'_, K> {
        TagSlot {
            entry: self.loc.entry(key),
            lengths: &mut self.lengths,
            bare: &mut self.bare,
        }
    }

    /// Every key with a tag, and the tag, in no promised order.
    pub(crate) fn tags(&self) -> impl Iterator<Item = (K, NonZeroU32)> + '_ {
        self.loc.iter().filter_map(|(k, d)| Some((*k, d.tag?)))
    }

    /// Every key with an entry (paths, or a tag alone), in no promised order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = K> + '_ {
        self.loc.iter().map(|(k, _)| *k)
    }

    /// Prefixes with at least one path.
    pub(crate) fn prefix_count(&self) -> usize {
        self.loc.len() - self.bare
    }

    pub(crate) fn route_count(&self, slot: usize) -> usize {
        self.counts.get(slot).copied().unwrap_or(0)
    }

    /// Every entry with paths, in no promised order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, &Dest)> {
        self.loc
            .iter()
            .filter(|(_, d)| !d.candidates.is_empty())
            .map(|(k, d)| (*k, d))
    }

    /// The live routes of `slot`, sorted by key, once each.
    pub(crate) fn adj_routes(&self, slot: usize) -> Vec<(K, Option<u32>, Candidate)> {
        let mut keys: Vec<K::Adj> = self.logs.get(slot).cloned().unwrap_or_default();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter()
            .filter_map(|adj| {
                let (key, path_id) = K::split(adj);
                let candidate = self.candidate(key, slot as u16, path_id)?;
                Some((key, path_id, *candidate))
            })
            .collect()
    }

    /// Drops withdrawn and repeated keys from a peer's log.
    fn compact(&mut self, slot: usize) {
        let loc = &self.loc;
        let log = &mut self.logs[slot];
        log.sort_unstable();
        log.dedup();
        log.retain(|adj| {
            let (key, path_id) = K::split(*adj);
            loc.get(&key)
                .is_some_and(|dest| dest.find(slot as u16, path_id).is_some())
        });
        log.shrink_to(2 * log.len());
        debug_assert_eq!(
            log.len(),
            self.counts[slot],
            "the log holds every live route once"
        );
    }

    pub(crate) fn lookup(&self, addr: K::Addr) -> Option<(K, &Dest)> {
        (0..=K::MAX_LEN)
            .rev()
            .filter(|&len| self.lengths[usize::from(len)] != 0)
            .find_map(|len| {
                let key = K::covering(addr, len);
                self.get(key).map(|dest| (key, dest))
            })
    }

    /// Stores (or replaces) a path and re-runs the decision for its prefix; with
    /// `entries`, appends the prefix's paths as they stand after it.
    #[allow(clippy::too_many_arguments)] // one hot call site, all arguments plain values
    pub(crate) fn upsert(
        &mut self,
        ctx: &mut Ctx<'_>,
        peer: u16,
        key: K,
        path_id: Option<u32>,
        handle: AttrHandle,
        out: &mut Vec<Change>,
        entries: Option<&mut Vec<(IpNet, PathSet)>>,
    ) {
        if !ctx.config.ranks() {
            self.store_unranked(ctx, peer, key, path_id, handle, entries);
            return;
        }
        let mut created = false;
        let dest = self.loc.entry(key).or_insert_with(|| {
            self.lengths[usize::from(key.prefix_len())] += 1;
            created = true;
            Dest::default()
        });
        if !created && dest.candidates.is_empty() {
            // A bare entry (kept for its tag) has a path again.
            self.bare -= 1;
        }
        match dest.find(peer, path_id) {
            Some(i) if dest.candidates[i].attrs == handle => {
                // The same path again (route refresh, graceful restart): nothing moves,
                // and it keeps its age.
                dest.candidates[i].flags &= !STALE;
            }
            Some(i) => {
                let rank = dest.next_rank();
                let replaced = dest.candidates[i];
                let quiet = replaced.flags & SELECTED == 0
                    && dest.is_irrelevant(ctx.attrs, ctx.config, replaced.attrs)
                    && dest.is_irrelevant(ctx.attrs, ctx.config, handle);
                let old = if quiet {
                    PathSet::new()
                } else {
                    dest.selection()
                };
                let candidate = &mut dest.candidates[i];
                ctx.attrs.release(candidate.attrs);
                ctx.attrs.retain(handle);
                candidate.attrs = handle;
                candidate.rank = rank;
                candidate.flags &= !STALE;
                if !quiet {
                    dest.reselect(ctx);
                    record(out, key, old, dest);
                }
            }
            None => {
                // Only a new path needs its Adj-RIB-In key: a replaced one has it already.
                let slot = usize::from(peer);
                self.logs[slot].push(key.adj(path_id));
                self.counts[slot] += 1;
                let rank = dest.next_rank();
                ctx.attrs.retain(handle);
                let candidate = Candidate {
                    path_id: path_id.unwrap_or(0),
                    attrs: handle,
                    rank,
                    peer,
                    flags: 0,
                    has_path_id: path_id.is_some(),
                };
                match dest.early_verdict(ctx.attrs, ctx.config, handle) {
                    Some(Ordering::Greater) => dest.candidates.push(candidate),
                    Some(Ordering::Less) => {
                        let old = dest.selection();
                        for other in dest.candidates.iter_mut() {
                            other.flags &= !SELECTED;
                        }
                        dest.candidates.insert(
                            0,
                            Candidate {
                                flags: SELECTED,
                                ..candidate
                            },
                        );
                        record(out, key, old, dest);
                    }
                    _ => {
                        let old = dest.selection();
                        dest.candidates.push(candidate);
                        dest.reselect(ctx);
                        record(out, key, old, dest);
                    }
                }
            }
        }
        if let Some(entries) = entries {
            entries.push((key.to_net(), dest.paths()));
        }
        self.compact_if_sparse(usize::from(peer));
    }

    /// [`upsert`](Self::upsert) when the caller ranks: stored only, no decision and no
    /// arrival rank (only the decision reads it).
    ///
    /// A new prefix's entry is written and never read back: its paths are the one path
    /// stored. In a large table the write misses the cache (and in a virtual machine the
    /// TLB); a write the code does not wait for overlaps with the next prefixes' work,
    /// where reading the entry back stalled on every prefix (measured at 1M: the largest
    /// item of the announce path's profile).
    fn store_unranked(
        &mut self,
        ctx: &mut Ctx<'_>,
        peer: u16,
        key: K,
        path_id: Option<u32>,
        handle: AttrHandle,
        entries: Option<&mut Vec<(IpNet, PathSet)>>,
    ) {
        let slot = usize::from(peer);
        let candidate = Candidate {
            path_id: path_id.unwrap_or(0),
            attrs: handle,
            rank: 0,
            peer,
            flags: 0,
            has_path_id: path_id.is_some(),
        };
        match self.loc.entry(key) {
            Entry::Vacant(vacant) => {
                self.lengths[usize::from(key.prefix_len())] += 1;
                self.logs[slot].push(key.adj(path_id));
                self.counts[slot] += 1;
                ctx.attrs.retain(handle);
                vacant.insert(Dest {
                    candidates: Paths::One(candidate),
                    tag: None,
                });
                if let Some(entries) = entries {
                    let mut paths = PathSet::new();
                    paths.push(candidate.path_ref());
                    entries.push((key.to_net(), paths));
                }
            }
            Entry::Occupied(mut occupied) => {
                let dest = occupied.get_mut();
                if dest.candidates.is_empty() {
                    // A bare entry (kept for its tag) has a path again.
                    self.bare -= 1;
                }
                match dest.find(peer, path_id) {
                    Some(i) => {
                        let stored = &mut dest.candidates[i];
                        if stored.attrs != handle {
                            ctx.attrs.release(stored.attrs);
                            ctx.attrs.retain(handle);
                            stored.attrs = handle;
                        }
                        stored.flags &= !STALE;
                    }
                    None => {
                        self.logs[slot].push(key.adj(path_id));
                        self.counts[slot] += 1;
                        ctx.attrs.retain(handle);
                        dest.candidates.push(candidate);
                    }
                }
                if let Some(entries) = entries {
                    entries.push((key.to_net(), dest.paths()));
                }
            }
        }
        self.compact_if_sparse(slot);
    }

    /// Compacts a peer's log once withdrawn and repeated keys outnumber the live ones.
    fn compact_if_sparse(&mut self, slot: usize) {
        if self.logs[slot].len() > 2 * self.counts[slot] + 1024 {
            self.compact(slot);
        }
    }

    /// Removes a path if present and re-runs the decision for its prefix; with `entries`,
    /// when the path was there, appends the prefix's paths as they stand after it (none
    /// when it was the last). With `tags`, an entry left without paths goes even when it
    /// has a tag, which is appended there; without, such an entry stays, bare.
    #[allow(clippy::too_many_arguments)] // one hot call site, all arguments plain values
    pub(crate) fn remove(
        &mut self,
        ctx: &mut Ctx<'_>,
        peer: u16,
        key: K,
        path_id: Option<u32>,
        out: &mut Vec<Change>,
        entries: Option<&mut Vec<(IpNet, PathSet)>>,
        tags: Option<&mut Vec<(IpNet, NonZeroU32)>>,
    ) {
        let mut orphan = None;
        let hand_back = tags.is_some().then_some(&mut orphan);
        let _removed = self.remove_candidate(ctx, peer, key, path_id, out, entries, hand_back);
        if let (Some(tags), Some(tag)) = (tags, orphan) {
            tags.push((key.to_net(), tag));
        }
    }

    /// Removes one path; whether it was there. One probe of the Loc-RIB: the entry found
    /// is the one removed when its last path goes. An entry with a tag stays, bare, unless
    /// `orphan` is given: then it goes too, and its tag is written there.
    #[allow(clippy::too_many_arguments)] // internal, all arguments plain values
    fn remove_candidate(
        &mut self,
        ctx: &mut Ctx<'_>,
        peer: u16,
        key: K,
        path_id: Option<u32>,
        out: &mut Vec<Change>,
        entries: Option<&mut Vec<(IpNet, PathSet)>>,
        orphan: Option<&mut Option<NonZeroU32>>,
    ) -> bool {
        let Entry::Occupied(mut slot) = self.loc.entry(key) else {
            return false;
        };
        let dest = slot.get_mut();
        let Some(i) = dest.find(peer, path_id) else {
            return false;
        };
        self.counts[usize::from(peer)] -= 1;
        let removed = dest.candidates[i];
        // Called once the last path is gone: the entry goes unless its tag keeps it.
        let settle_empty = |slot: OccupiedEntry<'_, K, Dest, K::Hasher>, tag| match (tag, orphan) {
            (Some(_), None) => self.bare += 1,
            (tag, orphan) => {
                if let Some(orphan) = orphan {
                    *orphan = tag;
                }
                slot.remove();
                self.lengths[usize::from(key.prefix_len())] -= 1;
            }
        };
        if !ctx.config.ranks() {
            // Stored only: nothing was selected, nothing changes but the paths.
            dest.candidates.remove(i);
            ctx.attrs.release(removed.attrs);
            if dest.candidates.is_empty() {
                let tag = dest.tag;
                settle_empty(slot, tag);
                if let Some(entries) = entries {
                    entries.push((key.to_net(), PathSet::new()));
                }
            } else if let Some(entries) = entries {
                entries.push((key.to_net(), dest.paths()));
            }
            return true;
        }
        if removed.flags & SELECTED == 0 && dest.is_irrelevant(ctx.attrs, ctx.config, removed.attrs)
        {
            // It was out of the running before the MED step: nothing it did affected the
            // others, so its departure changes nothing.
            dest.candidates.remove(i);
            ctx.attrs.release(removed.attrs);
            if let Some(entries) = entries {
                entries.push((key.to_net(), dest.paths()));
            }
            return true;
        }
        let old = dest.selection();
        dest.candidates.remove(i);
        ctx.attrs.release(removed.attrs);
        if dest.candidates.is_empty() {
            let tag = dest.tag;
            settle_empty(slot, tag);
            out.push(Change {
                prefix: key.to_net(),
                old,
                new: PathSet::new(),
            });
            if let Some(entries) = entries {
                entries.push((key.to_net(), PathSet::new()));
            }
        } else {
            dest.reselect(ctx);
            record(out, key, old, dest);
            if let Some(entries) = entries {
                entries.push((key.to_net(), dest.paths()));
            }
        }
        true
    }

    /// Gives memory back after removals of `peer`'s paths: its Adj-RIB-In log once it
    /// holds no route (every key in it is dead), and the Loc-RIB's table once it is mostly
    /// empty (less than a quarter full: shrinking again needs the table to lose three
    /// quarters again, so the rehashing costs a constant per removal).
    pub(crate) fn settle_after_removals(&mut self, peer: u16) {
        let slot = usize::from(peer);
        if self.counts.get(slot) == Some(&0) {
            self.logs[slot] = Vec::new();
        }
        if self.loc.len() < self.loc.capacity() / 4 {
            self.loc.shrink_to_fit();
        }
    }

    /// Removes every path of `peer`; with `touched`, appends the prefix of each path
    /// removed (its log may repeat a key, but only the first removal finds the path; a
    /// prefix where the peer had several paths comes once per path).
    ///
    /// Memory never grows: the Loc-RIB's table is shrunk once it is mostly empty, before
    /// `touched` is filled, and the log itself (kept for that) goes last.
    pub(crate) fn drop_peer(
        &mut self,
        ctx: &mut Ctx<'_>,
        peer: u16,
        out: &mut Vec<Change>,
        touched: Option<Dropped<'_>>,
    ) {
        let Some(log) = self.logs.get_mut(usize::from(peer)) else {
            return;
        };
        let mut log = std::mem::take(log);
        // With `touched`, emptied entries go even when tagged, their tags handed back, so
        // that the table can shrink before the lists are made. Until then a tag waits in
        // the log, in the path identifier of its removed route's key (no longer needed:
        // `touched` lists prefixes), and a bit per kept key says which carry one: no list
        // grows while the table is at its full size.
        let hand_back = touched.is_some();
        let mut carries_tag: Vec<u64> = Vec::new();
        let mut kept = 0usize;
        // Keeps the keys of the paths removed.
        log.retain_mut(|adj| {
            let (key, path_id) = K::split(*adj);
            let mut orphan = None;
            let removed = self.remove_candidate(
                ctx,
                peer,
                key,
                path_id,
                out,
                None,
                hand_back.then_some(&mut orphan),
            );
            if let Some(tag) = orphan {
                *adj = key.adj(Some(tag.get()));
                if carries_tag.len() <= kept / 64 {
                    carries_tag.resize(kept / 64 + 1, 0);
                }
                carries_tag[kept / 64] |= 1 << (kept % 64);
            }
            kept += usize::from(removed);
            removed
        });
        debug_assert_eq!(
            self.counts[usize::from(peer)],
            0,
            "the log held every live route"
        );
        if self.loc.len() < self.loc.capacity() / 4 {
            self.loc.shrink_to_fit();
        }
        if let Some((touched, tags)) = touched {
            let tagged = |i: usize| {
                carries_tag
                    .get(i / 64)
                    .is_some_and(|w| w >> (i % 64) & 1 == 1)
            };
            tags.extend(
                log.iter()
                    .enumerate()
                    .filter(|(i, _)| tagged(*i))
                    .filter_map(|(_, adj)| {
                        let (key, tag) = K::split(*adj);
                        Some((key.to_net(), NonZeroU32::new(tag?)?))
                    }),
            );
            touched.reserve(log.len());
            touched.extend(log.iter().map(|adj| K::split(*adj).0.to_net()));
        }
    }

    /// Marks every path of `peer` stale; returns how many.
    pub(crate) fn mark_stale(&mut self, peer: u16) -> usize {
        let Some(log) = self.logs.get(usize::from(peer)) else {
            return 0;
        };
        for adj in log {
            let (key, path_id) = K::split(*adj);
            if let Some(dest) = self.loc.get_mut(&key) {
                if let Some(i) = dest.find(peer, path_id) {
                    dest.candidates[i].flags |= STALE;
                }
            }
        }
        self.counts[usize::from(peer)]
    }

    /// Removes the paths of `peer` still marked stale.
    pub(crate) fn sweep_stale(&mut self, ctx: &mut Ctx<'_>, peer: u16, out: &mut Vec<Change>) {
        let Some(log) = self.logs.get(usize::from(peer)) else {
            return;
        };
        let stale: Vec<K::Adj> = log
            .iter()
            .filter(|adj| {
                let (key, path_id) = K::split(**adj);
                self.candidate(key, peer, path_id)
                    .is_some_and(Candidate::is_stale)
            })
            .copied()
            .collect();
        for adj in stale {
            let (key, path_id) = K::split(adj);
            let _removed = self.remove_candidate(ctx, peer, key, path_id, out, None, None);
        }
    }

    /// Re-runs the decision for every prefix where `peer` has a path (its cost changed).
    pub(crate) fn reselect_peer(&mut self, ctx: &mut Ctx<'_>, peer: u16, out: &mut Vec<Change>) {
        let Some(log) = self.logs.get(usize::from(peer)) else {
            return;
        };
        for adj in log {
            let (key, _) = K::split(*adj);
            if let Some(dest) = self.loc.get_mut(&key) {
                let old = dest.selection();
                dest.reselect(ctx);
                record(out, key, old, dest);
            }
        }
    }

    /// Heap bytes of the Loc-RIB (map plus spilled candidate vectors) and of the
    /// Adj-RIB-In logs.
    pub(crate) fn heap_bytes(&self) -> (usize, usize) {
        let spilled: usize = self.loc.values().map(|d| d.candidates.heap_bytes()).sum();
        let adj = self
            .logs
            .iter()
            .map(|log| log.capacity() * size_of::<K::Adj>())
            .sum::<usize>()
            + self.logs.capacity() * size_of::<Vec<K::Adj>>()
            + self.counts.capacity() * size_of::<usize>();
        (self.loc.allocation_size() + spilled, adj)
    }

    /// Re-runs the decision for every prefix with a path whose attribute set is in
    /// `handles` (sorted). Scans the whole Loc-RIB.
    pub(crate) fn reselect_attrs(
        &mut self,
        ctx: &mut Ctx<'_>,
        handles: &[AttrHandle],
        out: &mut Vec<Change>,
    ) {
        for (key, dest) in self.loc.iter_mut() {
            if dest.candidates.len() > 1
                && dest
                    .candidates
                    .iter()
                    .any(|c| handles.binary_search(&c.attrs).is_ok())
            {
                let old = dest.selection();
                dest.reselect(ctx);
                record(out, *key, old, dest);
            }
        }
    }

    /// The candidate of `peer` for `key`/`path_id`.
    pub(crate) fn candidate(&self, key: K, peer: u16, path_id: Option<u32>) -> Option<&Candidate> {
        let dest = self.loc.get(&key)?;
        dest.find(peer, path_id).map(|i| &dest.candidates[i])
    }
}

/// The place of one key's tag in a [`Table`], found with one search
/// ([`Table::tag_slot`]).
pub(crate) struct TagSlot<'a, K: PrefixKey> {
    entry: Entry<'a, K, Dest, K::Hasher>,
    lengths: &'a mut [u32; 129],
    bare: &'a mut usize,
}

impl<K: PrefixKey> TagSlot<'_, K> {
    /// The tag.
    pub(crate) fn get(&self) -> Option<NonZeroU32> {
        match &self.entry {
            Entry::Occupied(occupied) => occupied.get().tag,
            Entry::Vacant(_) => None,
        }
    }

    /// Sets the tag. An entry without paths goes with its tag (its shard shrunk when it
    /// is mostly empty, as removals leave it); a tag for a key without an entry makes a
    /// bare one.
    pub(crate) fn set(self, tag: Option<NonZeroU32>) {
        match self.entry {
            Entry::Occupied(mut occupied) => {
                let dest = occupied.get_mut();
                if tag.is_some() || !dest.candidates.is_empty() {
                    dest.tag = tag;
                    return;
                }
                let len = occupied.key().prefix_len();
                let _bare = occupied.remove_and_shrink();
                *self.bare -= 1;
                self.lengths[usize::from(len)] -= 1;
            }
            Entry::Vacant(vacant) => {
                if tag.is_none() {
                    return;
                }
                let len = vacant.key().prefix_len();
                vacant.insert(Dest {
                    candidates: Paths::None,
                    tag,
                });
                *self.bare += 1;
                self.lengths[usize::from(len)] += 1;
            }
        }
    }
}

fn record<K: PrefixKey>(out: &mut Vec<Change>, key: K, old: PathSet, dest: &Dest) {
    let new = dest.selection();
    if new != old {
        out.push(Change {
            prefix: key.to_net(),
            old,
            new,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout the memory budget is built on (a hash table slot per prefix): 32 bytes
    /// for an IPv4 prefix with one path and the caller's tag, as the 8-byte key and the
    /// 24-byte entry without a tag were before the tag came.
    #[test]
    fn an_ipv4_entry_with_one_path_and_a_tag_takes_32_bytes() {
        assert_eq!(size_of::<Candidate>(), 16);
        assert_eq!(size_of::<Paths>(), 16, "the variant lives in a niche");
        assert_eq!(size_of::<Dest>(), 24);
        assert_eq!(size_of::<(V4Key, Dest)>(), 32);
    }

    #[test]
    fn paths_insert_and_remove_like_a_vector_and_go_back_inline() {
        let path = |peer: u16| Candidate {
            path_id: 0,
            attrs: AttrHandle(0),
            rank: 0,
            peer,
            flags: 0,
            has_path_id: false,
        };
        let peers = |paths: &Paths| paths.iter().map(|c| c.peer).collect::<Vec<_>>();
        let mut paths = Paths::None;
        let mut model: Vec<Candidate> = Vec::new();
        for (at, peer) in [(0, 1), (0, 2), (2, 3), (1, 4), (4, 5)] {
            paths.insert(at, path(peer));
            model.insert(at, path(peer));
            assert_eq!(&paths[..], &model[..]);
        }
        assert_eq!(peers(&paths), [2, 4, 1, 3, 5]);
        paths.push(path(6));
        model.push(path(6));
        for at in [3, 0, 3, 1, 0] {
            assert_eq!(paths.remove(at), model.remove(at));
            assert_eq!(&paths[..], &model[..]);
        }
        assert!(matches!(paths, Paths::One(_)), "one path is kept inline");
        assert_eq!(paths.heap_bytes(), 0);
        assert_eq!(paths.remove(0).peer, model.remove(0).peer);
        assert!(matches!(paths, Paths::None));
    }
}
