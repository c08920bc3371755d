//! Interned attribute sets.
//!
//! An attribute set is what a route carries besides its prefix: its path attributes minus
//! MP_REACH_NLRI and MP_UNREACH_NLRI (which describe prefixes, not paths), sorted by type
//! code, plus the next hop as an [`IpAddr`] (from NEXT_HOP or MP_REACH_NLRI). Routes with
//! equal sets share one stored copy: a slab of entries addressed by a `u32`
//! [`AttrHandle`], a hash table from the set to its handle, and a reference count per
//! entry. An entry whose count drops to zero is freed at the start of the next mutating
//! call, so handles in a returned [`Changes`](crate::Changes) still resolve until then.

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::{
    Afi, AsPath, AsPathSegment, AttrType, AttrValue, Community, MpNextHop, Origin, PathAttribute,
};
use hashbrown::{HashMap, HashTable};
use smallvec::SmallVec;

use crate::hash::SeededState;

/// A handle on an interned attribute set; resolve it with [`Rib::attrs`](crate::Rib::attrs).
/// Equal handles mean equal sets (while both are alive).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct AttrHandle(pub(crate) u32);

impl AttrHandle {
    /// The handle as a number (a slab index), for caller-side caches.
    pub fn as_u32(self) -> u32 {
        self.0
    }
}

/// The values the decision process reads, extracted once per interned set.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct DecisionAttrs {
    pub(crate) local_pref: Option<u32>,
    pub(crate) as_path_length: u32,
    pub(crate) origin: Origin,
    pub(crate) med: Option<u32>,
    pub(crate) neighbour_as: Option<u32>,
    pub(crate) originator_id: Option<Ipv4Addr>,
    pub(crate) cluster_list_length: u32,
    /// The caller's IGP cost to this set's next hop, when it set one
    /// ([`Rib::set_next_hop_cost`](crate::Rib::set_next_hop_cost)).
    pub(crate) next_hop_cost: Option<u32>,
}

/// An interned attribute set: path attributes (without MP_REACH/MP_UNREACH, sorted by
/// type code) and the next hop.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AttrSet {
    attributes: Box<[PathAttribute]>,
    next_hop: Option<IpAddr>,
    decision: DecisionAttrs,
}

impl AttrSet {
    fn new(attributes: Box<[PathAttribute]>, next_hop: Option<IpAddr>) -> Self {
        let mut decision = DecisionAttrs {
            local_pref: None,
            as_path_length: 0,
            origin: Origin::Incomplete,
            med: None,
            neighbour_as: None,
            originator_id: None,
            cluster_list_length: 0,
            next_hop_cost: None,
        };
        for attribute in attributes.iter() {
            match &attribute.value {
                AttrValue::Origin(origin) => decision.origin = *origin,
                AttrValue::AsPath(path) => {
                    decision.as_path_length = u32::try_from(path.path_length()).unwrap_or(u32::MAX);
                    decision.neighbour_as = path.first_as();
                }
                AttrValue::MultiExitDisc(med) => decision.med = Some(*med),
                AttrValue::LocalPref(pref) => decision.local_pref = Some(*pref),
                AttrValue::OriginatorId(id) => decision.originator_id = Some(*id),
                AttrValue::ClusterList(list) => {
                    decision.cluster_list_length = u32::try_from(list.len()).unwrap_or(u32::MAX);
                }
                _ => {}
            }
        }
        Self {
            attributes,
            next_hop,
            decision,
        }
    }

    /// The path attributes, sorted by type code, MP_REACH/MP_UNREACH left out.
    pub fn attributes(&self) -> &[PathAttribute] {
        &self.attributes
    }

    /// The next hop: NEXT_HOP for IPv4 prefixes when present, else the MP_REACH_NLRI
    /// next hop of the prefix's family (the global address for IPv6). `None` when the
    /// route carried neither (or an undecodable one).
    pub fn next_hop(&self) -> Option<IpAddr> {
        self.next_hop
    }

    /// The attribute of type `code`, if present.
    pub fn get(&self, code: AttrType) -> Option<&PathAttribute> {
        self.attributes.iter().find(|a| a.type_code() == code)
    }

    /// The AS_PATH, if present.
    pub fn as_path(&self) -> Option<&AsPath> {
        self.attributes.iter().find_map(|a| match &a.value {
            AttrValue::AsPath(path) => Some(path),
            _ => None,
        })
    }

    /// LOCAL_PREF, if present.
    pub fn local_pref(&self) -> Option<u32> {
        self.decision.local_pref
    }

    /// MULTI_EXIT_DISC, if present.
    pub fn med(&self) -> Option<u32> {
        self.decision.med
    }

    /// ORIGIN (INCOMPLETE when missing).
    pub fn origin(&self) -> Origin {
        self.decision.origin
    }

    /// AS_PATH length as the decision process counts it.
    pub fn as_path_length(&self) -> u32 {
        self.decision.as_path_length
    }
}

/// The next hop of a route of family `afi` carrying `attributes`.
pub(crate) fn next_hop_for(attributes: &[PathAttribute], afi: Afi) -> Option<IpAddr> {
    if afi == Afi::IPV4 {
        let classic = attributes.iter().find_map(|a| match a.value {
            AttrValue::NextHop(addr) => Some(addr),
            _ => None,
        });
        if let Some(addr) = classic {
            return Some(IpAddr::V4(addr));
        }
    }
    attributes.iter().find_map(|a| match &a.value {
        AttrValue::MpReachNlri(reach) if reach.family.afi == afi => match &reach.next_hop {
            MpNextHop::Ipv4(addr) => Some(IpAddr::V4(*addr)),
            MpNextHop::Ipv6 { global, .. } => Some(IpAddr::V6(*global)),
            MpNextHop::Opaque(_) => None,
        },
        _ => None,
    })
}

fn attributes_heap(attributes: &[PathAttribute]) -> usize {
    let own = size_of_val(attributes);
    let inner: usize = attributes
        .iter()
        .map(|a| match &a.value {
            AttrValue::AsPath(path) | AttrValue::As4Path(path) => {
                let segments = if path.segments.spilled() {
                    path.segments.capacity() * size_of::<AsPathSegment>()
                } else {
                    0
                };
                segments
                    + path
                        .segments
                        .iter()
                        .filter(|s| s.asns.spilled())
                        .map(|s| s.asns.capacity() * 4)
                        .sum::<usize>()
            }
            AttrValue::Communities(list) => list.capacity() * size_of::<Community>(),
            AttrValue::ExtendedCommunities(list) => list.capacity() * 8,
            AttrValue::LargeCommunities(list) => list.capacity() * 12,
            AttrValue::ClusterList(list) => list.capacity() * 4,
            AttrValue::Raw(raw) => raw.value.capacity(),
            _ => 0,
        })
        .sum();
    own + inner
}

fn is_kept(attribute: &PathAttribute) -> bool {
    !matches!(
        attribute.value,
        AttrValue::MpReachNlri(_) | AttrValue::MpUnreachNlri(_)
    )
}

#[derive(Clone)]
struct Entry {
    set: AttrSet,
    hash: u64,
    refs: u32,
}

/// The interning table.
#[derive(Clone)]
pub(crate) struct AttrStore {
    entries: Vec<Option<Entry>>,
    free: Vec<u32>,
    /// Entries whose count reached zero; freed by [`AttrStore::collect`] unless used again.
    unused: Vec<u32>,
    table: HashTable<u32>,
    hasher: SeededState,
    live: usize,
    /// IGP costs the caller set per next hop.
    next_hop_costs: HashMap<IpAddr, u32, SeededState>,
    /// Per caller-chosen slot (the RIB uses one per peer and family): the index of the
    /// set it interned last. Consecutive announcements of a peer often carry the same
    /// attributes, and comparing against that one set is cheaper than hashing the whole
    /// attribute list. Only a hint: a hit is confirmed by comparing the stored set, so a
    /// freed or reused index merely misses.
    recent: Vec<u32>,
}

const NO_RECENT: u32 = u32::MAX;

impl AttrStore {
    pub(crate) fn new(hasher: SeededState) -> Self {
        Self {
            entries: Vec::new(),
            free: Vec::new(),
            unused: Vec::new(),
            table: HashTable::new(),
            hasher,
            live: 0,
            next_hop_costs: HashMap::with_hasher(hasher),
            recent: Vec::new(),
        }
    }

    /// [`intern`](Self::intern), first trying the set last interned through `slot`.
    pub(crate) fn intern_via(
        &mut self,
        slot: usize,
        attributes: &[PathAttribute],
        next_hop: Option<IpAddr>,
    ) -> AttrHandle {
        if let Some(&index) = self.recent.get(slot) {
            if index != NO_RECENT && self.holds(index, attributes, next_hop) {
                return AttrHandle(index);
            }
        }
        let handle = self.intern(attributes, next_hop);
        if self.recent.len() <= slot {
            self.recent.resize(slot + 1, NO_RECENT);
        }
        self.recent[slot] = handle.0;
        handle
    }

    /// Whether the live entry `index` is the set made of `attributes` and `next_hop`, with
    /// `attributes` already in stored order (otherwise this says no, which only costs a
    /// hash lookup).
    fn holds(&self, index: u32, attributes: &[PathAttribute], next_hop: Option<IpAddr>) -> bool {
        let Some(Some(entry)) = self.entries.get(index as usize) else {
            return false;
        };
        if entry.set.next_hop != next_hop {
            return false;
        }
        let mut stored = entry.set.attributes.iter();
        for attribute in attributes.iter().filter(|a| is_kept(a)) {
            if stored.next() != Some(attribute) {
                return false;
            }
        }
        stored.next().is_none()
    }

    /// The handle of the set made of `attributes` (filtered and sorted as the module doc
    /// says) and `next_hop`, interning it if new. Takes no reference: the caller
    /// [`retain`](Self::retain)s it for every route that stores it.
    pub(crate) fn intern(
        &mut self,
        attributes: &[PathAttribute],
        next_hop: Option<IpAddr>,
    ) -> AttrHandle {
        let mut kept: SmallVec<[&PathAttribute; 16]> =
            attributes.iter().filter(|a| is_kept(a)).collect();
        if !kept
            .windows(2)
            .all(|w| w[0].type_code() <= w[1].type_code())
        {
            kept.sort_by_key(|a| a.type_code());
        }
        let mut hasher = self.hasher.build_hasher();
        next_hop.hash(&mut hasher);
        kept.len().hash(&mut hasher);
        for attribute in &kept {
            attribute.hash(&mut hasher);
        }
        let hash = hasher.finish();

        let entries = &self.entries;
        let found = self.table.find(hash, |&index| {
            let entry = entries[index as usize]
                .as_ref()
                .expect("the table indexes live entries only");
            entry.hash == hash
                && entry.set.next_hop == next_hop
                && entry.set.attributes.len() == kept.len()
                && entry.set.attributes.iter().zip(&kept).all(|(a, b)| a == *b)
        });
        if let Some(&index) = found {
            return AttrHandle(index);
        }

        let mut set = AttrSet::new(kept.into_iter().cloned().collect(), next_hop);
        set.decision.next_hop_cost =
            next_hop.and_then(|addr| self.next_hop_costs.get(&addr).copied());
        let entry = Entry { set, hash, refs: 0 };
        let index = match self.free.pop() {
            Some(index) => {
                self.entries[index as usize] = Some(entry);
                index
            }
            None => {
                let index = u32::try_from(self.entries.len())
                    .expect("fewer than 2^32 attribute sets fit in memory");
                self.entries.push(Some(entry));
                index
            }
        };
        let entries = &self.entries;
        self.table.insert_unique(hash, index, |&i| {
            entries[i as usize]
                .as_ref()
                .expect("the table indexes live entries only")
                .hash
        });
        // Unused until retained; freed at the next collect if nobody does.
        self.unused.push(index);
        self.live += 1;
        AttrHandle(index)
    }

    pub(crate) fn retain(&mut self, handle: AttrHandle) {
        let entry = self.entries[handle.0 as usize]
            .as_mut()
            .expect("retained handles are live");
        entry.refs += 1;
    }

    pub(crate) fn release(&mut self, handle: AttrHandle) {
        let entry = self.entries[handle.0 as usize]
            .as_mut()
            .expect("released handles are live");
        entry.refs -= 1;
        if entry.refs == 0 {
            self.unused.push(handle.0);
        }
    }

    /// Frees the entries that are still unused.
    pub(crate) fn collect(&mut self) {
        for index in std::mem::take(&mut self.unused) {
            let slot = &mut self.entries[index as usize];
            let Some(entry) = slot.as_ref() else { continue };
            if entry.refs != 0 {
                continue;
            }
            let hash = entry.hash;
            let found = self
                .table
                .find_entry(hash, |&i| i == index)
                .expect("live entries are in the table");
            found.remove();
            *slot = None;
            self.free.push(index);
            self.live -= 1;
        }
    }

    pub(crate) fn get(&self, handle: AttrHandle) -> Option<&AttrSet> {
        self.entries
            .get(handle.0 as usize)?
            .as_ref()
            .map(|e| &e.set)
    }

    /// Like [`get`](Self::get) for handles the RIB itself stores.
    #[inline]
    pub(crate) fn decision(&self, handle: AttrHandle) -> &DecisionAttrs {
        &self.entries[handle.0 as usize]
            .as_ref()
            .expect("stored handles are live")
            .set
            .decision
    }

    pub(crate) fn refs(&self, handle: AttrHandle) -> u32 {
        self.entries
            .get(handle.0 as usize)
            .and_then(Option::as_ref)
            .map_or(0, |e| e.refs)
    }

    /// Heap bytes of the slab, the table and the stored attribute values (the values'
    /// own heap parts are counted for the common variants, approximately for the rest).
    pub(crate) fn heap_bytes(&self) -> usize {
        let slab = self.entries.capacity() * size_of::<Option<Entry>>()
            + (self.free.capacity() + self.unused.capacity()) * 4
            + self.table.allocation_size();
        let values: usize = self
            .entries
            .iter()
            .flatten()
            .map(|e| attributes_heap(&e.set.attributes))
            .sum();
        slab + values
    }

    /// Sets (or with `None` clears) the IGP cost to `next_hop`; returns the handles of the
    /// live sets whose cost changed.
    pub(crate) fn set_next_hop_cost(
        &mut self,
        next_hop: IpAddr,
        cost: Option<u32>,
    ) -> Vec<AttrHandle> {
        match cost {
            Some(cost) => self.next_hop_costs.insert(next_hop, cost),
            None => self.next_hop_costs.remove(&next_hop),
        };
        let mut changed = Vec::new();
        for (index, entry) in self.entries.iter_mut().enumerate() {
            let Some(entry) = entry else { continue };
            if entry.set.next_hop == Some(next_hop) && entry.set.decision.next_hop_cost != cost {
                entry.set.decision.next_hop_cost = cost;
                changed.push(AttrHandle(index as u32));
            }
        }
        changed
    }

    /// Live sets (including those unused but not yet collected).
    pub(crate) fn len(&self) -> usize {
        self.live
    }
}
