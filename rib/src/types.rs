//! Public value types: peers, path references, change sets, errors.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use smallvec::SmallVec;

use crate::attrs::AttrHandle;
use crate::config::DecisionStep;

/// A peer of the RIB, as returned by [`Rib::add_peer`](crate::Rib::add_peer).
///
/// Identifiers are small integers; after [`Rib::remove_peer`](crate::Rib::remove_peer)
/// the number may be handed out again, so drop a removed peer's id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PeerId(pub(crate) u16);

impl PeerId {
    /// The identifier as a number (dense, from 0), handy as an index in caller tables.
    pub fn as_u32(self) -> u32 {
        u32::from(self.0)
    }

    pub(crate) fn slot(self) -> usize {
        usize::from(self.0)
    }
}

/// What the decision process needs to know about a peer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PeerInfo {
    /// The peer's address (the session's remote address): the last tie-breaker.
    pub address: IpAddr,
    /// The peer's AS number.
    pub asn: u32,
    /// The BGP identifier from the peer's OPEN.
    pub bgp_id: Ipv4Addr,
    /// External peer (its AS differs from ours).
    pub is_ebgp: bool,
    /// Interior cost to reach this peer's next hops, used by [`DecisionStep::IgpCost`];
    /// change it with [`Rib::set_igp_cost`](crate::Rib::set_igp_cost). 0 when unknown.
    pub igp_cost: u32,
}

/// One path of a prefix: who sent it, under which ADD-PATH identifier, with which
/// attributes (resolve them with [`Rib::attrs`](crate::Rib::attrs)).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PathRef {
    /// The peer that announced the path.
    pub peer: PeerId,
    /// Its ADD-PATH path identifier (RFC 7911), `None` on sessions without ADD-PATH.
    pub path_id: Option<u32>,
    /// Its interned attribute set.
    pub attrs: AttrHandle,
}

/// A prefix's selected paths: the best path first, then the rest of its ECMP set in
/// preference order. Empty when the prefix is unreachable.
pub type PathSet = SmallVec<[PathRef; 2]>;

/// One prefix whose best path or ECMP set changed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Change {
    /// The prefix.
    pub prefix: IpNet,
    /// The selection before the mutation (empty: the prefix was unreachable).
    pub old: PathSet,
    /// The selection after it (empty: the prefix is now unreachable, withdraw it).
    pub new: PathSet,
}

impl Change {
    /// The best path before.
    pub fn old_best(&self) -> Option<PathRef> {
        self.old.first().copied()
    }

    /// The best path after.
    pub fn new_best(&self) -> Option<PathRef> {
        self.new.first().copied()
    }

    /// Whether the best path changed (and not only the rest of the ECMP set).
    pub fn best_changed(&self) -> bool {
        self.old_best() != self.new_best()
    }
}

/// What a mutation changed: one [`Change`] per prefix, sorted by prefix (IPv4 before
/// IPv6, then by address, then by length), never two for the same prefix, never one whose
/// old and new selections are equal.
///
/// Attribute handles in `old` stay resolvable with [`Rib::attrs`](crate::Rib::attrs) until
/// the next mutating call, even when no path uses them any more.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
#[must_use = "the change set says what to re-advertise and reprogram"]
pub struct Changes {
    pub(crate) changes: Vec<Change>,
}

impl Changes {
    /// No change.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// How many prefixes changed.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// The changes, sorted by prefix.
    pub fn iter(&self) -> std::slice::Iter<'_, Change> {
        self.changes.iter()
    }

    /// The changes as a slice, sorted by prefix.
    pub fn as_slice(&self) -> &[Change] {
        &self.changes
    }

    /// Appends the changes of a later mutation, keeping the invariants: per prefix, the
    /// earliest `old` and the latest `new`, dropped when they are equal.
    pub fn merge(&mut self, later: Self) {
        self.changes.extend(later.changes);
        self.normalise();
    }

    /// Sorts by prefix (stable, so a prefix's records stay in the order they happened),
    /// fuses each prefix's records, and drops those that changed nothing.
    pub(crate) fn normalise(&mut self) {
        if self.changes.len() > 1 {
            self.changes.sort_by_key(|change| change.prefix);
            // `dedup_by` hands over (later, kept earlier): the kept record takes the later `new`.
            self.changes.dedup_by(|later, earlier| {
                let same = later.prefix == earlier.prefix;
                if same {
                    earlier.new = std::mem::take(&mut later.new);
                }
                same
            });
        }
        self.changes.retain(|c| c.old != c.new);
    }
}

impl IntoIterator for Changes {
    type Item = Change;
    type IntoIter = std::vec::IntoIter<Change>;

    fn into_iter(self) -> Self::IntoIter {
        self.changes.into_iter()
    }
}

impl<'a> IntoIterator for &'a Changes {
    type Item = &'a Change;
    type IntoIter = std::slice::Iter<'a, Change>;

    fn into_iter(self) -> Self::IntoIter {
        self.changes.iter()
    }
}

/// One route of a peer's Adj-RIB-In.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct AdjRoute {
    /// The prefix.
    pub prefix: IpNet,
    /// Its ADD-PATH path identifier, if the peer sent one.
    pub path_id: Option<u32>,
    /// Its attributes.
    pub attrs: AttrHandle,
    /// Marked by [`Rib::mark_stale`](crate::Rib::mark_stale) and not announced again since.
    pub stale: bool,
}

/// How many routes a peer has in its Adj-RIB-In, per family (paths, so an ADD-PATH peer
/// may count several for one prefix).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct RouteCounts {
    /// IPv4 unicast routes.
    pub ipv4: usize,
    /// IPv6 unicast routes.
    pub ipv6: usize,
}

impl RouteCounts {
    /// Both families together.
    pub fn total(&self) -> usize {
        self.ipv4 + self.ipv6
    }
}

/// Why a prefix's best path won: the outcome of [`Rib::explain`](crate::Rib::explain).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Explanation {
    /// The prefix.
    pub prefix: IpNet,
    /// The best path.
    pub winner: PathRef,
    /// The ECMP set (the winner first).
    pub ecmp: PathSet,
    /// Every other path with the step at which the decision process set it aside, sorted
    /// by peer then path identifier.
    pub beaten: Vec<(PathRef, DecisionStep)>,
}

/// Misuse of the RIB's API by its caller (never caused by what a peer sends).
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum RibError {
    /// The peer is not (or no longer) registered.
    #[error("unknown peer {0:?}")]
    UnknownPeer(PeerId),
    /// 65536 peers are registered already.
    #[error("too many peers (the RIB holds at most 65536)")]
    TooManyPeers,
}

/// Heap memory held by a [`Rib`](crate::Rib), in bytes, from the capacities of its
/// tables (what the allocator was asked for, not counting its own overhead).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct MemoryUsage {
    /// Every peer's Adj-RIB-In key sets.
    pub adj_rib_in: usize,
    /// The Loc-RIB maps and the per-prefix path vectors that outgrew their inline slot.
    pub loc_rib: usize,
    /// The interned attribute sets, their slab and their table.
    pub attr_sets: usize,
}

impl MemoryUsage {
    /// Everything together.
    pub fn total(&self) -> usize {
        self.adj_rib_in + self.loc_rib + self.attr_sets
    }
}
