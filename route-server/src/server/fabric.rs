//! The fabric: the changes of a pass as one [`Output::Program`](super::Output::Program),
//! the per-prefix state the passes keep (what is programmed, next-hop sets interned the
//! way the Rib interns attribute sets, so a million prefixes behind the same two NVAs
//! share one set; and the selection half of the failover memory), and the read-only view
//! [`Fabric`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;

use ipnet::IpNet;

use crate::policy::{KindSet, PeerId};
use rib::{Rib, TagEntry};

use crate::store::{self, AdjRibsOut, AttrId, AttrPool, FoldState, RoutesOut, SetId, SetPool};

/// One prefix's new programming in the fabric (the effective routes of the VMs this
/// instance serves), as [`FabricChanges::iter`] yields it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FabricChange<'a> {
    /// Program `prefix` toward these next hops (ECMP when several), replacing what was
    /// programmed for it.
    Set {
        /// The prefix.
        prefix: IpNet,
        /// Distinct next hops, lowest first; never empty.
        next_hops: &'a [IpAddr],
    },
    /// Remove what was programmed for `prefix`.
    Remove {
        /// The prefix.
        prefix: IpNet,
    },
}

/// A batch of fabric changes: what one pass over many prefixes changed, stored flat: one
/// byte string of changes (a removal of an IPv4 prefix takes 7 bytes) and one vector of
/// next hops, which consecutive changes toward the same next hops share.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct FabricChanges {
    /// Per change: the family (4 or 6), the prefix length, the address octets, the count
    /// of next hops (one octet, 0 removes; 255 is followed by the count in four octets),
    /// and for a [`FabricChange::Set`] where they start in `next_hops` (four octets).
    /// Integers are big-endian.
    changes: Vec<u8>,
    next_hops: Vec<IpAddr>,
    /// Where the next hops of the last set start (to share them with the next change).
    last_start: u32,
    len: usize,
}

impl FabricChanges {
    /// Prefixes changed.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing changed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The changes, in the order they were made (prefix order within a pass).
    pub fn iter(&self) -> impl Iterator<Item = FabricChange<'_>> + '_ {
        let mut rest = &self.changes[..];
        std::iter::from_fn(move || {
            let (change, after) = self.decode(rest)?;
            rest = after;
            Some(change)
        })
    }

    /// The change at the start of `bytes` and what follows it; `None` at the end (the
    /// bytes are only ever written by [`set`](Self::set) and [`remove`](Self::remove)).
    fn decode<'a>(&'a self, bytes: &'a [u8]) -> Option<(FabricChange<'a>, &'a [u8])> {
        let (&family, rest) = bytes.split_first()?;
        let (&length, rest) = rest.split_first()?;
        let (prefix, rest) = if family == 6 {
            let (octets, rest) = rest.split_first_chunk::<16>()?;
            let net = ipnet::Ipv6Net::new((*octets).into(), length).ok()?;
            (IpNet::V6(net), rest)
        } else {
            let (octets, rest) = rest.split_first_chunk::<4>()?;
            let net = ipnet::Ipv4Net::new((*octets).into(), length).ok()?;
            (IpNet::V4(net), rest)
        };
        let (&count, rest) = rest.split_first()?;
        let (count, rest) = match count {
            0 => return Some((FabricChange::Remove { prefix }, rest)),
            u8::MAX => {
                let (count, rest) = rest.split_first_chunk::<4>()?;
                (u32::from_be_bytes(*count) as usize, rest)
            }
            count => (usize::from(count), rest),
        };
        let (start, rest) = rest.split_first_chunk::<4>()?;
        let start = u32::from_be_bytes(*start) as usize;
        let next_hops = self.next_hops.get(start..start.checked_add(count)?)?;
        Some((FabricChange::Set { prefix, next_hops }, rest))
    }

    /// Applies the changes to a table of prefix to next hops (what
    /// [`RouteServer::fabric`](super::RouteServer::fabric) holds after them).
    pub fn apply_to(&self, fabric: &mut BTreeMap<IpNet, Vec<IpAddr>>) {
        for change in self.iter() {
            match change {
                FabricChange::Set { prefix, next_hops } => {
                    fabric.insert(prefix, next_hops.to_vec());
                }
                FabricChange::Remove { prefix } => {
                    fabric.remove(&prefix);
                }
            }
        }
    }

    /// How a change starts: the family (4 or 6), the prefix length and the address
    /// octets; how many of the bytes are used.
    fn head(prefix: IpNet) -> ([u8; 18], usize) {
        let mut head = [0; 18];
        match prefix {
            IpNet::V4(net) => {
                head[..2].copy_from_slice(&[4, net.prefix_len()]);
                head[2..6].copy_from_slice(&net.addr().octets());
                (head, 6)
            }
            IpNet::V6(net) => {
                head[..2].copy_from_slice(&[6, net.prefix_len()]);
                head[2..].copy_from_slice(&net.addr().octets());
                (head, 18)
            }
        }
    }

    pub(crate) fn set(&mut self, prefix: IpNet, next_hops: &[IpAddr]) {
        let count = u32::try_from(next_hops.len()).expect("under 2^32 next hops per prefix");
        let last = self.next_hops.get(self.last_start as usize..);
        if last != Some(next_hops) || next_hops.is_empty() {
            self.last_start =
                u32::try_from(self.next_hops.len()).expect("under 2^32 next hops per pass");
            self.next_hops.extend_from_slice(next_hops);
        }
        // Built on the stack and appended at once: one change per prefix of a pass, where
        // five appends of a few bytes each cost about a hundred instructions.
        let (head, used) = Self::head(prefix);
        let mut change = [0u8; 18 + 5 + 4];
        change[..used].copy_from_slice(&head[..used]);
        let mut at = used;
        match u8::try_from(count) {
            Ok(short) if short < u8::MAX => {
                change[at] = short;
                at += 1;
            }
            _ => {
                change[at] = u8::MAX;
                change[at + 1..at + 5].copy_from_slice(&count.to_be_bytes());
                at += 5;
            }
        }
        change[at..at + 4].copy_from_slice(&self.last_start.to_be_bytes());
        self.changes.extend_from_slice(&change[..at + 4]);
        self.len += 1;
    }

    pub(crate) fn remove(&mut self, prefix: IpNet) {
        let (head, used) = Self::head(prefix);
        self.changes.extend_from_slice(&head[..used]);
        self.changes.push(0);
        self.len += 1;
    }
}

/// What a pass keeps per prefix for the next one: the source kinds of its last selection
/// (half of the failover memory; the other half, the peers failed over to, is kept apart
/// because few prefixes have it), the next-hop set programmed into the fabric, and what
/// was sent to the peers (the Adj-RIBs-Out), both sets interned. States are interned in
/// turn: a prefix holds the four-byte id of its state, and a million prefixes selected,
/// programmed and sent alike share one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
struct PrefixState {
    selected_kinds: Option<KindSet>,
    next_hops: Option<SetId>,
    sent: Option<SetId>,
}

/// The sets a [`PrefixState`] names, where holders of them are counted.
#[derive(Clone, Debug, Default)]
struct Sets {
    hops: SetPool<IpAddr>,
    out: AdjRibsOut,
}

impl Sets {
    /// Takes a holder of each set `state` names.
    fn retain(&mut self, state: &PrefixState) {
        if let Some(id) = state.next_hops {
            self.hops.retain(id);
        }
        if let Some(id) = state.sent {
            self.out.retain(id);
        }
    }

    /// Gives back a holder of each set `state` names.
    fn release(&mut self, state: &PrefixState, pool: &mut AttrPool) {
        if let Some(id) = state.next_hops {
            self.hops.release(id);
        }
        if let Some(id) = state.sent {
            self.out.release(pool, id);
        }
    }
}

/// Per-prefix state of the passes, keyed once: the selection memory, the fabric's
/// programming and the Adj-RIBs-Out, as one interned [`PrefixState`] per prefix whose id
/// is the prefix's tag in the Rib's Loc-RIB entry ([`Rib::tag_entry`]). A pass finds it
/// with the one search of the Loc-RIB it makes for the prefix, and no table of the
/// server's own holds a key per prefix (a tree of them took 23 MiB at a million
/// prefixes, beside the Loc-RIB's table holding the same keys).
///
/// A prefix with state and no path (its routes withdrawn, what was sent for it not yet,
/// or a virtual network range the server originates) keeps a bare Loc-RIB entry for its
/// tag. A configured prefix with host bits set (`10.1.2.3/24`), which the Rib would key
/// as `10.1.2.0/24`, keeps its state in a small map of its own, so that it stays apart
/// from that prefix as it always was. Read-outs in prefix order sort on demand.
#[derive(Clone, Debug, Default)]
pub(crate) struct PrefixStates {
    /// The distinct states; each holds one holder of each set it names.
    distinct: SetPool<PrefixState>,
    sets: Sets,
    /// Prefixes with next hops programmed.
    programmed: usize,
    /// States the Rib handed back when it dropped their prefixes' entries with their
    /// last paths ([`Rib::withdraw_with_paths`], [`Rib::drop_peer_prefixes`]), as tags,
    /// until the pass over those prefixes takes them ([`take_orphans`](Self::take_orphans)).
    /// The Rib drops the entries, rather than keeping them for their tags, so that the
    /// pass need not search them again to clear them, and so that its table shrinks
    /// before a whole-table withdrawal's list of prefixes is made (withdrawing a whole
    /// table never holds more than the table did).
    orphans: Vec<(IpNet, NonZeroU32)>,
    /// The states of prefixes with host bits set (see above): a few configured ranges.
    untruncated: BTreeMap<IpNet, SetId>,
}

/// Whether `prefix` has host bits set (the Rib keys it without them).
fn has_host_bits(prefix: IpNet) -> bool {
    prefix.addr() != prefix.network()
}

/// Where a prefix's state id is kept while a pass works on it.
enum Place<'a> {
    /// Its Loc-RIB entry's tag.
    Rib(TagEntry<'a>),
    /// Nowhere yet: the prefix has no Loc-RIB entry (its last path went in this pass's
    /// reads); one is made if a state is to be kept.
    Absent(&'a mut Rib),
    /// The map of prefixes with host bits.
    Untruncated(&'a mut BTreeMap<IpNet, SetId>),
}

impl Place<'_> {
    fn get(&self, prefix: IpNet) -> Option<SetId> {
        match self {
            Self::Rib(entry) => entry.get().map(SetId::from_tag),
            Self::Absent(_) => None,
            Self::Untruncated(map) => map.get(&prefix).copied(),
        }
    }

    fn set(self, prefix: IpNet, id: Option<SetId>) {
        match (self, id) {
            (Self::Rib(entry), id) => entry.set(id.map(SetId::tag)),
            (Self::Absent(rib), Some(id)) => rib.tag_entry(prefix).set(Some(id.tag())),
            (Self::Absent(_), None) => {}
            (Self::Untruncated(map), Some(id)) => {
                map.insert(prefix, id);
            }
            (Self::Untruncated(map), None) => {
                map.remove(&prefix);
            }
        }
    }
}

/// One prefix's state while a pass works on it ([`PrefixStates::open`]): found with one
/// search, changed through a copy that holds its own holders of the sets it names (so
/// that it can release and intern sets as if it owned them), and interned in place of the
/// old state when the pass lets go of it (on drop).
pub(crate) struct PrefixPass<'a> {
    /// `None` once written back.
    entry: Option<Place<'a>>,
    distinct: &'a mut SetPool<PrefixState>,
    sets: &'a mut Sets,
    programmed: &'a mut usize,
    pool: &'a mut AttrPool,
    prefix: IpNet,
    /// The state as interned, and its id.
    old: (Option<SetId>, PrefixState),
    /// The working copy.
    state: PrefixState,
}

impl PrefixPass<'_> {
    /// Decides and records the pass's outcome for the prefix: `decide` gets the source
    /// kinds of the last selection and returns its own result (handed back) with the
    /// outcome to record, the source kinds selected (`None`: no best path) and the next
    /// hops to program (empty: none), or `None` to leave selection and programming as
    /// they are. A change of programming is recorded in `out`.
    pub(crate) fn decide_and_settle<R, H: AsRef<[IpAddr]>>(
        &mut self,
        out: &mut FabricChanges,
        decide: impl FnOnce(Option<KindSet>) -> (R, Option<(Option<KindSet>, H)>),
    ) -> R {
        let state = &mut self.state;
        let (decided, settled) = decide(state.selected_kinds);
        let Some((selected_kinds, hops)) = settled else {
            return decided;
        };
        let (sets, hops) = (&mut self.sets.hops, hops.as_ref());
        state.selected_kinds = selected_kinds;
        match (state.next_hops, hops.is_empty()) {
            (None, true) => {}
            (Some(old), true) => {
                sets.release(old);
                state.next_hops = None;
                *self.programmed -= 1;
                out.remove(self.prefix);
            }
            (Some(old), false) if *sets.get(old) == *hops => {}
            (old, false) => {
                state.next_hops = Some(sets.intern(hops).0);
                match old {
                    Some(old) => {
                        sets.release(old);
                    }
                    None => *self.programmed += 1,
                }
                out.set(self.prefix, hops);
            }
        }
        decided
    }

    /// Runs `f` over the routes sent for the prefix ([`AdjRibsOut::with_routes`]).
    pub(crate) fn with_routes<R>(&mut self, f: impl FnOnce(&mut RoutesOut<'_>) -> R) -> R {
        self.sets
            .out
            .with_routes(&mut self.state.sent, self.pool, f)
    }
}

impl PrefixPass<'_> {
    /// The id of the prefix's state when the pass found it (`None`: no state).
    pub(crate) fn old_id(&self) -> Option<SetId> {
        self.old.0
    }

    /// Leaves the prefix in the state `after` (`None`: no state), which the pass reached
    /// for another prefix that had the same state as this one and the same candidates,
    /// in the same family and on the same side of the protected ranges: the outcome
    /// depends on nothing else when no receiver has an outbound route map and nothing
    /// is failed over (`RouteServer::process_pass` checks that), so the pass computes it
    /// once and replays it for a read's thousands of prefixes from one peer.
    ///
    /// Everything ends as the whole pass would leave it: the programming change (the
    /// next hops `after` names, or their removal) recorded in `out` and counted, the
    /// count of routes sent to each peer moved from the old sent set to the new one, the
    /// prefix's holder moved from the old state to `after`, the working copy's holders
    /// given back. The attribute sets and sets named by `after` are held by `after`
    /// itself, which the other prefix holds. `false`, and nothing done, when the state
    /// is not kept in the prefix's Loc-RIB entry (host bits set, or no entry): the
    /// caller then runs the whole pass.
    pub(crate) fn replay(&mut self, after: Option<SetId>, out: &mut FabricChanges) -> bool {
        if !matches!(self.entry, Some(Place::Rib(_))) {
            return false;
        }
        let Some(entry) = self.entry.take() else {
            return false;
        };
        let (old_id, old) = self.old;
        let new = after.map(|id| self.distinct.get(id)[0]).unwrap_or_default();
        // Interned sets are distinct by content: equal ids, equal next hops.
        match (old.next_hops, new.next_hops) {
            (None, None) => {}
            (Some(was), Some(now)) if was == now => {}
            (Some(_), None) => {
                *self.programmed -= 1;
                out.remove(self.prefix);
            }
            (was, Some(now)) => {
                if was.is_none() {
                    *self.programmed += 1;
                }
                out.set(self.prefix, self.sets.hops.get(now));
            }
        }
        if old.sent != new.sent {
            self.sets.out.count_moved(old.sent, new.sent);
        }
        // The holders `open` took for the working copy; the old state still holds its
        // sets until `PrefixStates::collect`.
        self.sets.release(&old, self.pool);
        if after != old_id {
            if let Some(id) = old_id {
                self.distinct.release_later(id);
            }
            if let Some(id) = after {
                self.distinct.retain(id);
            }
        }
        if entry.get(self.prefix) != after {
            entry.set(self.prefix, after);
        }
        true
    }

    /// Interns the state the pass leaves and writes its id back (what dropping does), and
    /// returns that id (`None`: no state): a caller replaying this outcome on other
    /// prefixes ([`PrefixStates::replay_emptied`]) needs it.
    pub(crate) fn finish(mut self) -> Option<SetId> {
        self.write_back()
    }

    /// The write-back of [`finish`](Self::finish) and of dropping; `None` when done already.
    fn write_back(&mut self) -> Option<SetId> {
        let entry = self.entry.take()?;
        let (old_id, old) = self.old;
        if self.state == old {
            self.sets.release(&self.state, self.pool);
            if entry.get(self.prefix) != old_id {
                // Handed back by the Rib when it dropped the prefix's entry: kept again.
                entry.set(self.prefix, old_id);
            }
            return old_id;
        }
        if let Some(id) = old_id {
            // Freed by `PrefixStates::collect` if no prefix takes it up again.
            self.distinct.release_later(id);
        }
        let new = (self.state != PrefixState::default()).then(|| {
            let (id, made) = self.distinct.intern(std::slice::from_ref(&self.state));
            if !made {
                // The interned state holds its sets already.
                self.sets.release(&self.state, self.pool);
            }
            id
        });
        entry.set(self.prefix, new);
        new
    }
}

impl Drop for PrefixPass<'_> {
    fn drop(&mut self) {
        self.write_back();
    }
}

impl PrefixStates {
    /// Where the Rib hands back dropped tags ([`AdjRibIn::clear`](crate::store::AdjRibIn::clear)).
    pub(crate) fn orphans(&mut self) -> &mut Vec<(IpNet, NonZeroU32)> {
        &mut self.orphans
    }

    /// The states handed back by the Rib, sorted by prefix, for the pass over their
    /// prefixes; what it does not take goes back with [`readopt`](Self::readopt).
    pub(crate) fn take_orphans(&mut self) -> Vec<(IpNet, SetId)> {
        let mut orphans: Vec<(IpNet, SetId)> = std::mem::take(&mut self.orphans)
            .into_iter()
            .map(|(prefix, tag)| (prefix, SetId::from_tag(tag)))
            .collect();
        orphans.sort_unstable_by_key(|&(prefix, _)| store::order_key(prefix));
        orphans
    }

    /// Puts states the pass did not take back into the Rib, as tags of bare entries
    /// (a pass takes every state it was handed for its prefixes; this keeps one that it
    /// did not from being lost).
    pub(crate) fn readopt(rib: &mut Rib, leftover: impl IntoIterator<Item = (IpNet, SetId)>) {
        for (prefix, id) in leftover {
            rib.tag_entry(prefix).set(Some(id.tag()));
        }
    }

    /// The prefixes with host bits that have state (every other prefix with state is
    /// in the Rib, as an entry's tag).
    pub(crate) fn untruncated_prefixes(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.untruncated.keys().copied()
    }

    /// The state id of `prefix`.
    fn id(&self, rib: &Rib, prefix: IpNet) -> Option<SetId> {
        if has_host_bits(prefix) {
            self.untruncated.get(&prefix).copied()
        } else {
            rib.tag(prefix).map(SetId::from_tag)
        }
    }

    fn state(&self, id: Option<SetId>) -> PrefixState {
        id.map(|id| self.distinct.get(id)[0]).unwrap_or_default()
    }

    /// Every prefix with state, and its state's id, in prefix order (sorted here: the
    /// Rib lists its tags in hash order).
    fn ids(&self, rib: &Rib) -> Vec<(IpNet, SetId)> {
        let mut all: Vec<(IpNet, SetId)> = rib
            .tags()
            .map(|(prefix, tag)| (prefix, SetId::from_tag(tag)))
            .chain(self.untruncated.iter().map(|(prefix, id)| (*prefix, *id)))
            .collect();
        all.sort_unstable_by_key(|&(prefix, _)| store::order_key(prefix));
        all
    }

    /// Every prefix with its state, in prefix order.
    fn iter<'a>(&'a self, rib: &Rib) -> impl Iterator<Item = (IpNet, PrefixState)> + 'a {
        self.ids(rib)
            .into_iter()
            .map(|(prefix, id)| (prefix, self.state(Some(id))))
    }

    /// The source kinds of the last selection for `prefix`, if it had a best path.
    #[cfg(test)]
    pub(crate) fn selected_kinds(&self, rib: &Rib, prefix: IpNet) -> Option<KindSet> {
        self.state(self.id(rib, prefix)).selected_kinds
    }

    /// Records a pass's outcome for `prefix` with one search: the source kinds selected
    /// (`None`: no best path), and the next hops programmed (`hops`, empty: none),
    /// recording a fabric change in `out` when they differ from what was programmed.
    #[cfg(test)]
    #[allow(clippy::too_many_arguments)] // a test helper
    pub(crate) fn settle(
        &mut self,
        rib: &mut Rib,
        prefix: IpNet,
        selected_kinds: Option<KindSet>,
        hops: &[IpAddr],
        out: &mut FabricChanges,
        pool: &mut AttrPool,
    ) {
        self.open(rib, prefix, pool, None, false)
            .decide_and_settle(out, |_| ((), Some((selected_kinds, hops))));
    }

    /// Finds `prefix`'s state with one search of the Loc-RIB, for a pass to decide,
    /// program and send ([`PrefixPass`]); written back when the returned value is
    /// dropped. `handed_back`: the state's id as the Rib handed it back when it dropped
    /// the prefix's entry ([`Rib::withdraw_with_paths`], [`Rib::drop_peer_prefixes`]),
    /// which the entry no longer holds; `entry_gone`: the caller knows the prefix has no
    /// entry now (the search is spared).
    pub(crate) fn open<'a>(
        &'a mut self,
        rib: &'a mut Rib,
        prefix: IpNet,
        pool: &'a mut AttrPool,
        handed_back: Option<SetId>,
        entry_gone: bool,
    ) -> PrefixPass<'a> {
        let entry = if has_host_bits(prefix) {
            Place::Untruncated(&mut self.untruncated)
        } else if entry_gone {
            Place::Absent(rib)
        } else {
            Place::Rib(rib.tag_entry(prefix))
        };
        let old_id = handed_back.or_else(|| entry.get(prefix));
        let old = old_id
            .map(|id| self.distinct.get(id)[0])
            .unwrap_or_default();
        self.sets.retain(&old);
        PrefixPass {
            entry: Some(entry),
            distinct: &mut self.distinct,
            sets: &mut self.sets,
            programmed: &mut self.programmed,
            pool,
            prefix,
            old: (old_id, old),
            state: old,
        }
    }

    /// Applies to `prefix` the outcome a pass reached for another prefix that, like it,
    /// lost its last path in this pass and had the same state `before` (as the Rib handed
    /// it back, with the entry): with no candidate the outcome depends on nothing else
    /// (no selection, no next hops, nothing desired for any receiver), so the pass
    /// computes it once per distinct state and replays it for a whole-table withdrawal's
    /// million prefixes. `after` is the state that pass left ([`PrefixPass::finish`]);
    /// `withdrawn`, the peers whose route it withdrew. The holders and counts end as the
    /// full pass would leave them: the prefix's holder moves from `before` to `after`,
    /// its next hops (if any) are removed from the fabric, each withdrawn peer's count of
    /// routes sent drops by one. `false`, and nothing done, for a prefix with host bits
    /// set (its state is not in the Rib): the caller runs the full pass.
    pub(crate) fn replay_emptied(
        &mut self,
        rib: &mut Rib,
        prefix: IpNet,
        before: Option<SetId>,
        after: Option<SetId>,
        withdrawn: impl IntoIterator<Item = PeerId>,
        out: &mut FabricChanges,
    ) -> bool {
        if has_host_bits(prefix) {
            return false;
        }
        if self.state(before).next_hops.is_some() {
            self.programmed -= 1;
            out.remove(prefix);
        }
        for peer in withdrawn {
            self.sets.out.count_withdrawn(peer);
        }
        if after != before {
            if let Some(id) = before {
                self.distinct.release_later(id);
            }
            if let Some(id) = after {
                self.distinct.retain(id);
            }
        }
        Place::Absent(rib).set(prefix, after);
        true
    }

    /// [`PrefixPass::with_routes`] for `prefix` alone.
    #[cfg(test)]
    pub(crate) fn with_routes<R>(
        &mut self,
        rib: &mut Rib,
        prefix: IpNet,
        pool: &mut AttrPool,
        f: impl FnOnce(&mut RoutesOut<'_>) -> R,
    ) -> R {
        self.open(rib, prefix, pool, None, false).with_routes(f)
    }

    /// Routes sent to `peer`.
    pub(crate) fn sent_len(&self, peer: PeerId) -> usize {
        self.sets.out.len(peer)
    }

    /// Every route sent to `peer`, in prefix order.
    pub(crate) fn sent_to<'a>(
        &'a self,
        rib: &Rib,
        peer: PeerId,
    ) -> impl Iterator<Item = (IpNet, AttrId)> + 'a {
        self.iter(rib).filter_map(move |(prefix, state)| {
            Some((prefix, self.sets.out.route_to(state.sent, peer)?))
        })
    }

    /// The routes sent to `peer` of one family, in prefix order.
    pub(crate) fn sent_to_family(&self, rib: &Rib, peer: PeerId, v6: bool) -> Vec<(IpNet, AttrId)> {
        self.sent_to(rib, peer)
            .filter(|(prefix, _)| prefix.addr().is_ipv6() == v6)
            .collect()
    }

    /// Forgets what was sent to `peer` (its session went down), releasing the attribute
    /// sets in prefix order. Each distinct state is rebuilt once.
    pub(crate) fn forget_sent(&mut self, rib: &mut Rib, pool: &mut AttrPool, peer: PeerId) {
        if !self.sets.out.begin_forget(peer) {
            return;
        }
        let mut sent_memo = HashMap::default();
        let mut memo: HashMap<SetId, Option<SetId>, FoldState> = HashMap::default();
        // Only the prefixes whose state names a route to `peer` change: for any other,
        // rebuilding its state finds the same one, and its holders come back to what they
        // were. So only those are listed (a million prefixes of which a handful were sent
        // to `peer` list a handful), then sorted: in prefix order, as the tree they were
        // kept in before gave them, so sets are freed in the same order.
        let affected: HashSet<SetId, FoldState> = self
            .distinct
            .ids()
            .filter(|&id| {
                let sent = self.distinct.get(id)[0].sent;
                self.sets.out.route_to(sent, peer).is_some()
            })
            .collect();
        // The states in the Rib and those it handed back (whose prefixes it no longer
        // has).
        let untruncated = self.untruncated.iter().map(|(prefix, id)| (*prefix, *id));
        let mut all: Vec<(IpNet, SetId, bool)> = rib
            .tags()
            .map(|(prefix, tag)| (prefix, SetId::from_tag(tag)))
            .chain(untruncated)
            .filter(|(_, id)| affected.contains(id))
            .map(|(prefix, id)| (prefix, id, false))
            .collect();
        // Those of the handed-back states that change are taken out here and put back
        // changed below; the others stay as they are.
        self.orphans.retain(|&(prefix, tag)| {
            let changes = affected.contains(&SetId::from_tag(tag));
            if changes {
                all.push((prefix, SetId::from_tag(tag), true));
            }
            !changes
        });
        all.sort_unstable_by_key(|&(prefix, _, _)| store::order_key(prefix));
        let (distinct, sets) = (&mut self.distinct, &mut self.sets);
        let (orphans, untruncated) = (&mut self.orphans, &mut self.untruncated);
        for (prefix, old, orphaned) in all {
            let next = match memo.get(&old) {
                Some(&next) => {
                    if let Some(next) = next {
                        distinct.retain(next);
                    }
                    next
                }
                None => {
                    let mut state = distinct.get(old)[0];
                    sets.retain(&state);
                    sets.out
                        .forget_in(&mut state.sent, pool, peer, &mut sent_memo);
                    let next = if state == PrefixState::default() {
                        None
                    } else {
                        let (id, made) = distinct.intern(std::slice::from_ref(&state));
                        if !made {
                            sets.release(&state, pool);
                        }
                        Some(id)
                    };
                    memo.insert(old, next);
                    next
                }
            };
            // This prefix's holder of its old state (the new one took its own).
            distinct.release_later(old);
            if orphaned {
                orphans.extend(next.map(|id| (prefix, id.tag())));
            } else if next != Some(old) {
                let place = if has_host_bits(prefix) {
                    Place::Untruncated(untruncated)
                } else {
                    Place::Rib(rib.tag_entry(prefix))
                };
                place.set(prefix, next);
            }
        }
        self.collect(pool);
    }

    /// Frees the states no prefix holds any more (a pass ends with this), and the sets
    /// only they held.
    pub(crate) fn collect(&mut self, pool: &mut AttrPool) {
        let sets = &mut self.sets;
        self.distinct.collect(|freed| sets.release(&freed[0], pool));
    }

    /// Distinct sent sets in use.
    #[cfg(test)]
    pub(crate) fn sent_set_count(&self) -> usize {
        self.sets.out.set_count()
    }

    /// Distinct states in use.
    #[cfg(test)]
    fn state_count(&self) -> usize {
        self.distinct.len()
    }

    /// Programs `prefix` toward `hops`, keeping its selection memory (tests).
    #[cfg(test)]
    fn program(&mut self, rib: &mut Rib, prefix: IpNet, hops: &[IpAddr], out: &mut FabricChanges) {
        let kinds = self.selected_kinds(rib, prefix);
        let mut pool = AttrPool::default();
        self.settle(rib, prefix, kinds, hops, out, &mut pool);
        self.collect(&mut pool);
    }

    /// Every programmed prefix with its next hops, in prefix order.
    fn programmed<'a>(&'a self, rib: &Rib) -> impl Iterator<Item = (IpNet, &'a [IpAddr])> + 'a {
        self.iter(rib)
            .filter_map(|(prefix, state)| Some((prefix, self.sets.hops.get(state.next_hops?))))
    }

    /// Distinct next-hop sets in use.
    #[cfg(test)]
    fn set_count(&self) -> usize {
        self.sets.hops.len()
    }
}

/// What the route server has programmed into the fabric: prefix to next hops (lowest
/// first, never empty), as the [`Output::Program`](crate::Output::Program) changes built
/// it. A view: it reads the server's own table, where next-hop sets are shared.
#[derive(Clone, Copy)]
pub struct Fabric<'a> {
    table: &'a PrefixStates,
    /// Where each prefix's state id is (its Loc-RIB entry's tag).
    rib: &'a Rib,
}

impl<'a> Fabric<'a> {
    pub(crate) fn new(table: &'a PrefixStates, rib: &'a Rib) -> Self {
        Self { table, rib }
    }

    /// Prefixes programmed.
    #[must_use]
    pub fn len(&self) -> usize {
        self.table.programmed
    }

    /// Whether nothing is programmed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.table.programmed == 0
    }

    /// The next hops of `prefix` (exact match).
    #[must_use]
    pub fn get(&self, prefix: &IpNet) -> Option<&'a [IpAddr]> {
        let table = self.table;
        let state = table.state(Some(table.id(self.rib, *prefix)?));
        Some(table.sets.hops.get(state.next_hops?))
    }

    /// Whether `prefix` is programmed.
    #[must_use]
    pub fn contains_key(&self, prefix: &IpNet) -> bool {
        self.get(prefix).is_some()
    }

    /// Every prefix with its next hops, in prefix order (sorted when called: the state
    /// lives in the Loc-RIB's hash tables).
    pub fn iter(&self) -> impl Iterator<Item = (IpNet, &'a [IpAddr])> + 'a {
        self.table.programmed(self.rib)
    }

    /// Every programmed prefix, in order.
    pub fn keys(&self) -> impl Iterator<Item = IpNet> + 'a {
        self.iter().map(|(prefix, _)| prefix)
    }

    /// A copy as a map.
    #[must_use]
    pub fn to_map(&self) -> BTreeMap<IpNet, Vec<IpAddr>> {
        self.iter()
            .map(|(prefix, hops)| (prefix, hops.to_vec()))
            .collect()
    }
}

impl fmt::Debug for Fabric<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq<BTreeMap<IpNet, Vec<IpAddr>>> for Fabric<'_> {
    fn eq(&self, other: &BTreeMap<IpNet, Vec<IpAddr>>) -> bool {
        // Equal counts and every entry of `other` found here with the same next hops:
        // one lookup per entry, without the sorted walk `iter` builds (the fuzz harness
        // compares after every step).
        self.len() == other.len()
            && other
                .iter()
                .all(|(prefix, hops)| self.get(prefix) == Some(hops.as_slice()))
    }
}

impl PartialEq<Fabric<'_>> for BTreeMap<IpNet, Vec<IpAddr>> {
    fn eq(&self, other: &Fabric<'_>) -> bool {
        other == self
    }
}

impl PartialEq<Fabric<'_>> for &BTreeMap<IpNet, Vec<IpAddr>> {
    fn eq(&self, other: &Fabric<'_>) -> bool {
        other == *self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OutChange;

    /// The per-prefix state and the Rib whose entries' tags name it, with the methods
    /// the tests call.
    struct Harness {
        states: PrefixStates,
        rib: Rib,
    }

    impl Default for Harness {
        fn default() -> Self {
            Self {
                states: PrefixStates::default(),
                rib: Rib::new(rib::RibConfig {
                    ranking: rib::Ranking::Caller,
                    ..rib::RibConfig::default()
                }),
            }
        }
    }

    impl Harness {
        fn program(&mut self, prefix: IpNet, hops: &[IpAddr], out: &mut FabricChanges) {
            self.states.program(&mut self.rib, prefix, hops, out);
        }

        fn with_routes<R>(
            &mut self,
            prefix: IpNet,
            pool: &mut AttrPool,
            f: impl FnOnce(&mut RoutesOut<'_>) -> R,
        ) -> R {
            self.states.with_routes(&mut self.rib, prefix, pool, f)
        }

        fn collect(&mut self, pool: &mut AttrPool) {
            self.states.collect(pool);
        }

        fn forget_sent(&mut self, pool: &mut AttrPool, peer: PeerId) {
            self.states.forget_sent(&mut self.rib, pool, peer);
        }

        fn sent_to(&self, peer: PeerId) -> Vec<(IpNet, AttrId)> {
            self.states.sent_to(&self.rib, peer).collect()
        }

        fn sent_to_family(&self, peer: PeerId, v6: bool) -> Vec<(IpNet, AttrId)> {
            self.states.sent_to_family(&self.rib, peer, v6)
        }

        fn sent_len(&self, peer: PeerId) -> usize {
            self.states.sent_len(peer)
        }

        /// Every prefix with state, in prefix order.
        fn prefixes(&self) -> Vec<IpNet> {
            self.states
                .ids(&self.rib)
                .into_iter()
                .map(|(prefix, _)| prefix)
                .collect()
        }

        fn fabric(&self) -> Fabric<'_> {
            Fabric::new(&self.states, &self.rib)
        }

        fn state_count(&self) -> usize {
            self.states.state_count()
        }

        fn sent_set_count(&self) -> usize {
            self.states.sent_set_count()
        }

        fn set_count(&self) -> usize {
            self.states.set_count()
        }
    }

    fn net(s: &str) -> IpNet {
        s.parse().expect("a prefix")
    }

    fn hop(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn fabric_changes_read_back_in_order_what_was_recorded() {
        use crate::FabricChange;

        let wide: Vec<IpAddr> = (0..300u32)
            .map(|i| IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i)))
            .collect();
        let two = [hop("10.0.0.4"), hop("10.0.0.5")];
        let steps: Vec<(IpNet, Vec<IpAddr>)> = vec![
            (net("10.1.0.0/16"), two.to_vec()),
            (net("10.2.0.0/16"), two.to_vec()),
            (net("10.3.0.0/24"), vec![]),
            (net("2001:db8::/32"), vec![hop("fd00::4")]),
            (net("0.0.0.0/0"), wide.clone()),
            (net("2001:db8:1::/48"), vec![]),
            (net("10.4.0.0/16"), two.to_vec()),
        ];
        let mut changes = FabricChanges::default();
        for (prefix, hops) in &steps {
            if hops.is_empty() {
                changes.remove(*prefix);
            } else {
                changes.set(*prefix, hops);
            }
        }
        assert_eq!(changes.len(), steps.len());
        let read: Vec<(IpNet, Vec<IpAddr>)> = changes
            .iter()
            .map(|change| match change {
                FabricChange::Set { prefix, next_hops } => (prefix, next_hops.to_vec()),
                FabricChange::Remove { prefix } => (prefix, Vec::new()),
            })
            .collect();
        assert_eq!(read, steps);
        let mut applied = BTreeMap::new();
        changes.apply_to(&mut applied);
        assert_eq!(
            applied.len(),
            5,
            "the five prefixes set, none of those removed"
        );
    }

    #[test]
    fn prefixes_behind_the_same_next_hops_share_one_set_freed_with_the_last() {
        let mut table = Harness::default();
        let mut out = FabricChanges::default();
        let two = [hop("10.0.0.4"), hop("10.0.0.5")];
        for i in 0..1000u32 {
            let prefix = IpNet::V4(
                ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(0x1000_0000 + (i << 8)), 24)
                    .expect("valid"),
            );
            table.program(prefix, &two, &mut out);
        }
        table.program(net("2001:db8::/32"), &[hop("fd00::4")], &mut out);
        assert_eq!(table.set_count(), 2);
        assert_eq!(out.len(), 1001);
        // The same programming again changes nothing.
        let mut again = FabricChanges::default();
        table.program(net("16.0.0.0/24"), &two, &mut again);
        assert!(again.is_empty());
        // Withdrawn everywhere: the set goes.
        for i in 0..1000u32 {
            let prefix = IpNet::V4(
                ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(0x1000_0000 + (i << 8)), 24)
                    .expect("valid"),
            );
            table.program(prefix, &[], &mut out);
        }
        assert_eq!(table.set_count(), 1);
        let view = table.fabric();
        assert_eq!(view.len(), 1);
        let expected: BTreeMap<IpNet, Vec<IpAddr>> =
            [(net("2001:db8::/32"), vec![hop("fd00::4")])].into();
        assert_eq!(view, expected);
        assert_eq!(&expected, view);
        assert_eq!(view.get(&net("2001:db8::/32")), Some(&[hop("fd00::4")][..]));
        assert_eq!(view.get(&net("16.0.0.0/24")), None);
        // A freed slot is reused, and a changed set replaces the old one.
        table.program(net("10.9.0.0/16"), &[hop("10.0.0.6")], &mut out);
        table.program(net("10.9.0.0/16"), &[hop("10.0.0.7")], &mut out);
        assert_eq!(table.set_count(), 2);
        assert_eq!(
            table.fabric().get(&net("10.9.0.0/16")),
            Some(&[hop("10.0.0.7")][..])
        );
    }

    fn exported(asn: u32) -> crate::route::RouteAttrs {
        crate::route::RouteAttrs::new(
            bgp_wire::Origin::Igp,
            bgp_wire::AsPath::from_sequence([asn]),
            hop("10.0.0.1"),
        )
    }

    /// Sends `attrs` (a fresh reference) to `to` for `prefix`; what changed.
    fn send(
        table: &mut Harness,
        pool: &mut AttrPool,
        prefix: IpNet,
        to: PeerId,
        attrs: Option<u32>,
    ) -> OutChange {
        let changed = table.with_routes(prefix, pool, |routes| {
            let id = attrs.map(|asn| routes.pool().intern(exported(asn)));
            routes.update(to, id)
        });
        table.collect(pool);
        changed
    }

    #[test]
    fn the_adj_ribs_out_keep_prefix_order_per_peer() {
        let mut nets: Vec<IpNet> = [
            "10.0.0.0/8",
            "10.0.0.0/16",
            "9.255.0.0/16",
            "255.255.255.255/32",
            "0.0.0.0/0",
            "::/0",
            "::/128",
            "::1/128",
            "2001:db8::/32",
            "2001:db8::/48",
            "2001:db8:0:0:0:0:0:1/128",
            "ffff::/16",
            "10.1.2.3/24",
        ]
        .into_iter()
        .map(net)
        .collect();
        let (a, b) = (PeerId(1), PeerId(2));
        let mut pool = AttrPool::default();
        let mut table = Harness::default();
        for &p in &nets {
            for to in [b, a] {
                assert_eq!(
                    send(&mut table, &mut pool, p, to, Some(1)),
                    OutChange::Announce
                );
                assert_eq!(
                    send(&mut table, &mut pool, p, to, Some(1)),
                    OutChange::Unchanged
                );
            }
        }
        // Every prefix sent the same set to the same two peers: one state, one sent set,
        // one exported set.
        assert_eq!(
            (table.state_count(), table.sent_set_count(), pool.len()),
            (1, 1, 1)
        );
        nets.sort_unstable();
        let held: Vec<IpNet> = table.sent_to(a).into_iter().map(|(p, _)| p).collect();
        assert_eq!(held, nets);
        assert_eq!(table.prefixes(), nets);
        assert_eq!(
            (table.sent_len(a), table.sent_len(b)),
            (nets.len(), nets.len())
        );
        let v6: Vec<IpNet> = table
            .sent_to_family(b, true)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(v6, nets[6..]);
        assert_eq!(
            send(&mut table, &mut pool, nets[0], a, Some(2)),
            OutChange::Announce
        );
        assert_eq!((table.sent_set_count(), pool.len()), (2, 2));
        let withdrawn = [
            send(&mut table, &mut pool, nets[1], a, None),
            send(&mut table, &mut pool, nets[1], a, None),
            send(&mut table, &mut pool, nets[1], b, None),
        ];
        assert_eq!(
            withdrawn,
            [
                OutChange::Withdraw,
                OutChange::Unchanged,
                OutChange::Withdraw
            ]
        );
        // Nothing sent for a prefix leaves no trace of it.
        let nothing = net("192.0.2.0/24");
        assert_eq!(
            send(&mut table, &mut pool, nothing, a, None),
            OutChange::Unchanged
        );
        assert_eq!(table.sent_len(a), nets.len() - 1);
        assert_eq!(table.prefixes().len(), nets.len() - 1);
        table.forget_sent(&mut pool, a);
        assert_eq!((table.sent_len(a), table.sent_to(a).len()), (0, 0));
        assert_eq!(table.sent_to(b).len(), nets.len() - 1);
        // What b holds is one set again (a's different route to nets[0] is gone).
        assert_eq!((table.sent_set_count(), pool.len()), (1, 1));
        assert!(table
            .sent_to(b)
            .iter()
            .all(|(_, id)| pool.get(*id) == &exported(1)));
        table.forget_sent(&mut pool, b);
        assert_eq!(table.prefixes().len(), 0);
        assert_eq!(
            (table.state_count(), table.sent_set_count(), pool.len()),
            (0, 0, 0)
        );
    }

    #[test]
    fn routes_sent_and_programming_share_one_entry_per_prefix() {
        let mut table = Harness::default();
        let mut pool = AttrPool::default();
        let mut changes = FabricChanges::default();
        let p = net("10.1.0.0/16");
        table.program(p, &[hop("10.0.0.4")], &mut changes);
        send(&mut table, &mut pool, p, PeerId(3), Some(7));
        // Unprogrammed, the prefix stays for its route sent; withdrawn, it goes.
        table.program(p, &[], &mut changes);
        assert_eq!(table.prefixes(), [p]);
        assert_eq!(table.fabric().len(), 0);
        assert_eq!(table.sent_len(PeerId(3)), 1);
        send(&mut table, &mut pool, p, PeerId(3), None);
        assert_eq!(table.prefixes().len(), 0);
        assert_eq!(
            (table.sent_set_count(), pool.len(), table.set_count()),
            (0, 0, 0)
        );
    }
}
