//! Storage: interned attribute sets and the per-peer route tables (Adj-RIB-In, Adj-RIB-Out).
//!
//! The route server keeps its own tables rather than `rib::Rib`'s Loc-RIB because its
//! ranking (hub routing preference by source kind, with Azure's non-reverting failover)
//! needs every candidate of a prefix whenever any of them changes, while `rib` reports a
//! prefix only when its own RFC 4271 decision changes.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;

use ipnet::IpNet;
use smallvec::SmallVec;

use crate::route::RouteAttrs;

/// Fixed-key hashing: the tables are only looked up, never iterated, so no seed is needed.
type FixedState = BuildHasherDefault<DefaultHasher>;

/// Handle of an interned attribute set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub(crate) struct AttrId(u32);

/// Attribute sets shared by reference count: a million prefixes announced in a few
/// thousand UPDATEs store a few thousand sets.
#[derive(Debug, Default)]
pub(crate) struct AttrPool {
    slots: Vec<Option<(RouteAttrs, u32)>>,
    index: HashMap<RouteAttrs, u32, FixedState>,
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

/// One received route held under a stored prefix.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Contribution {
    /// The prefix as received (differs from the stored one when an inbound route map
    /// summarised it).
    pub(crate) received: IpNet,
    /// Its attributes (after import policy).
    pub(crate) attrs: AttrId,
    /// Kept through a graceful restart, not yet refreshed.
    pub(crate) stale: bool,
}

/// One peer's routes after import policy, keyed by the prefix they are stored (and
/// selected) under. A stored prefix may gather several received ones when an inbound map
/// summarises; its path is that of the lowest received prefix.
#[derive(Debug, Default)]
pub(crate) struct AdjRibIn {
    routes: BTreeMap<IpNet, SmallVec<[Contribution; 1]>>,
    /// Received prefix to stored prefix, only where they differ.
    redirected: BTreeMap<IpNet, IpNet>,
    held: usize,
    /// Of `held`, the routes kept stale through a graceful restart.
    stale: usize,
}

impl AdjRibIn {
    /// Received routes held, stale ones included.
    pub(crate) fn held(&self) -> usize {
        self.held
    }

    /// Received routes held from the current session (what the route limit counts:
    /// routes kept stale through a graceful restart are about to be re-sent, not added).
    pub(crate) fn held_fresh(&self) -> usize {
        self.held - self.stale
    }

    /// Whether the received prefix is held.
    pub(crate) fn holds(&self, received: IpNet) -> bool {
        let stored = self.redirected.get(&received).copied().unwrap_or(received);
        self.routes
            .get(&stored)
            .is_some_and(|c| c.iter().any(|c| c.received == received))
    }

    /// The path for a stored prefix, and whether it is stale.
    pub(crate) fn path(&self, stored: IpNet) -> Option<Contribution> {
        self.routes.get(&stored).and_then(|c| c.first().copied())
    }

    /// Stores `received` under `stored` with `attrs` (the caller's reference moves in).
    /// Returns the stored prefixes whose path may have changed.
    pub(crate) fn announce(
        &mut self,
        pool: &mut AttrPool,
        received: IpNet,
        stored: IpNet,
        attrs: AttrId,
    ) -> SmallVec<[IpNet; 2]> {
        let mut touched = self.withdraw(pool, received);
        if received != stored {
            self.redirected.insert(received, stored);
        }
        let list = self.routes.entry(stored).or_default();
        let at = list.partition_point(|c| c.received < received);
        list.insert(
            at,
            Contribution {
                received,
                attrs,
                stale: false,
            },
        );
        self.held += 1;
        if !touched.contains(&stored) {
            touched.push(stored);
        }
        touched
    }

    /// Removes the route received as `received`. Returns the stored prefix it was under.
    pub(crate) fn withdraw(
        &mut self,
        pool: &mut AttrPool,
        received: IpNet,
    ) -> SmallVec<[IpNet; 2]> {
        let stored = self.redirected.remove(&received).unwrap_or(received);
        let mut touched = SmallVec::new();
        if let Some(list) = self.routes.get_mut(&stored) {
            if let Some(at) = list.iter().position(|c| c.received == received) {
                let gone = list.remove(at);
                pool.release(gone.attrs);
                self.held -= 1;
                if gone.stale {
                    self.stale -= 1;
                }
                touched.push(stored);
            }
            if list.is_empty() {
                self.routes.remove(&stored);
            }
        }
        touched
    }

    /// Empties the table; returns every stored prefix it held.
    pub(crate) fn clear(&mut self, pool: &mut AttrPool) -> Vec<IpNet> {
        let routes = std::mem::take(&mut self.routes);
        self.redirected.clear();
        self.held = 0;
        self.stale = 0;
        let mut prefixes = Vec::with_capacity(routes.len());
        for (prefix, list) in routes {
            for c in list {
                pool.release(c.attrs);
            }
            prefixes.push(prefix);
        }
        prefixes
    }

    /// Marks every route stale (graceful restart); returns how many.
    pub(crate) fn mark_stale(&mut self) -> usize {
        for list in self.routes.values_mut() {
            for c in list.iter_mut() {
                c.stale = true;
            }
        }
        self.stale = self.held;
        self.held
    }

    /// Removes the routes still stale; returns the stored prefixes touched.
    pub(crate) fn sweep_stale(&mut self, pool: &mut AttrPool) -> Vec<IpNet> {
        let stale: Vec<IpNet> = self
            .routes
            .values()
            .flat_map(|l| l.iter().filter(|c| c.stale).map(|c| c.received))
            .collect();
        let mut touched = Vec::new();
        for received in stale {
            touched.extend(self.withdraw(pool, received));
        }
        touched
    }

    /// Every stored prefix with its path, in prefix order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (IpNet, Contribution)> + '_ {
        self.routes
            .iter()
            .filter_map(|(p, l)| l.first().map(|c| (*p, *c)))
    }

    /// Stored prefixes.
    pub(crate) fn len(&self) -> usize {
        self.routes.len()
    }
}

/// What was sent to one peer: prefix to attribute set.
#[derive(Debug, Default)]
pub(crate) struct AdjRibOut {
    pub(crate) sent: BTreeMap<IpNet, AttrId>,
}

impl AdjRibOut {
    /// Forgets everything (the session went down), releasing the attribute sets.
    pub(crate) fn clear(&mut self, pool: &mut AttrPool) {
        for (_, id) in std::mem::take(&mut self.sent) {
            pool.release(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use bgp_wire::{AsPath, Origin};

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
        let mut pool = AttrPool::default();
        let mut rib = AdjRibIn::default();
        let summary = net("10.2.0.0/16");
        for p in ["10.2.1.0/24", "10.2.2.0/24"] {
            let id = pool.intern(attrs(1));
            rib.announce(&mut pool, net(p), summary, id);
        }
        assert_eq!(rib.held(), 2);
        assert_eq!(rib.len(), 1);
        assert!(rib.holds(net("10.2.2.0/24")));
        assert_eq!(
            rib.withdraw(&mut pool, net("10.2.1.0/24")).as_slice(),
            &[summary]
        );
        assert!(rib.path(summary).is_some());
        rib.withdraw(&mut pool, net("10.2.2.0/24"));
        assert!(rib.path(summary).is_none());
        assert_eq!(pool.len(), 0);
    }

    #[test]
    fn reannounce_replaces_and_clears_stale() {
        let mut pool = AttrPool::default();
        let mut rib = AdjRibIn::default();
        let p = net("10.9.0.0/16");
        let id = pool.intern(attrs(1));
        rib.announce(&mut pool, p, p, id);
        assert_eq!(rib.mark_stale(), 1);
        assert_eq!(rib.held_fresh(), 0);
        let id = pool.intern(attrs(2));
        rib.announce(&mut pool, p, p, id);
        assert_eq!(rib.held(), 1);
        assert_eq!(rib.held_fresh(), 1);
        assert!(rib.sweep_stale(&mut pool).is_empty());
        assert_eq!(pool.get(rib.path(p).expect("held").attrs), &attrs(2));
        assert_eq!(pool.len(), 1);
    }
}
