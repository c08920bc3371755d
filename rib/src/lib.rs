//! `rib`: BGP routing information bases. Pure and single-threaded: no I/O, no clock, no
//! threads, no global randomness.
//!
//! **What it is.** Every peer's Adj-RIB-In (with ADD-PATH path identifiers), the Loc-RIB
//! of IPv4 and IPv6 unicast with each prefix's best path chosen by the decision process
//! of RFC 4271 section 9.1.2.2 plus the usual tie-breakers ([`DecisionStep`]), an ECMP set
//! per prefix ([`RibConfig::ecmp_up_to`], [`RibConfig::azure`]), graceful-restart stale
//! marking, longest-prefix match, and attribute sets interned so that a million prefixes
//! sharing a hundred sets store a hundred. Every mutation returns the [`Changes`] it
//! caused, sorted by prefix; nothing calls back.
//!
//! **What it does not do.** No policy (import filters, LOCAL_PREF assignment, export
//! rules: the caller applies them before [`Rib::announce`] and after reading [`Changes`]),
//! no Adj-RIB-Out, no UPDATE encoding, no next-hop resolution (the caller supplies each
//! peer's IGP cost), no families other than IPv4/IPv6 unicast.
//!
//! Determinism: the same calls in the same order give the same results, and the best path
//! and ECMP set of a prefix do not depend on the order its paths arrived in (unless
//! [`RibConfig::prefer_older_external`] asks for exactly that). See the `decision` module
//! docs on how the MED rule, which is not a total order, is run as RFC 4271 writes it.
//!
//! # Example
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use bgp_wire::{AsPath, AttrValue, Nlri, Origin, PathAttribute};
//! use rib::{DecisionStep, PeerInfo, Rib, RibConfig};
//!
//! let mut rib = Rib::new(RibConfig::azure());
//! let peer = |last: u8, asn: u32| PeerInfo {
//!     address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
//!     asn,
//!     bgp_id: Ipv4Addr::new(10, 0, 0, last),
//!     is_ebgp: true,
//!     igp_cost: 0,
//! };
//! let attrs = |path: &[u32], next_hop: u8| {
//!     vec![
//!         PathAttribute::new(AttrValue::Origin(Origin::Igp)),
//!         PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence(path.iter().copied()))),
//!         PathAttribute::new(AttrValue::NextHop(Ipv4Addr::new(10, 0, 0, next_hop))),
//!     ]
//! };
//! let a = rib.add_peer(peer(4, 65001)).unwrap();
//! let b = rib.add_peer(peer(5, 65002)).unwrap();
//! let c = rib.add_peer(peer(6, 65003)).unwrap();
//! let prefix = "192.168.0.0/16".parse().unwrap();
//!
//! // Two NVAs with equal AS path length share the traffic; a third prepends and stands by.
//! let changes = rib.announce(a, &[Nlri::new(prefix)], &attrs(&[65001], 4)).unwrap();
//! assert_eq!(changes.len(), 1);
//! rib.announce(b, &[Nlri::new(prefix)], &attrs(&[65002], 5)).unwrap();
//! let changes = rib.announce(c, &[Nlri::new(prefix)], &attrs(&[65003, 65003], 6)).unwrap();
//! assert!(changes.is_empty(), "a longer path changes nothing");
//!
//! let ecmp = rib.ecmp(prefix);
//! assert_eq!(ecmp.iter().map(|p| p.peer).collect::<Vec<_>>(), [a, b]);
//! let why = rib.explain(prefix).unwrap();
//! assert!(why.beaten.contains(&(rib.best(prefix).map(|_| ecmp[1]).unwrap(), DecisionStep::RouterId)));
//!
//! // Longest-prefix match, as the fabric asks.
//! let (matched, paths) = rib.lookup("192.168.3.4".parse().unwrap()).unwrap();
//! assert_eq!((matched, paths.len()), (prefix, 2));
//! let next_hop = rib.attrs(paths[0].attrs).unwrap().next_hop();
//! assert_eq!(next_hop, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 4))));
//!
//! // The NVA at .4 goes away: one change, the ECMP set shrinks to b.
//! let changes = rib.drop_peer(a).unwrap();
//! assert_eq!(changes.iter().next().unwrap().new.len(), 1);
//! ```
//!
//! # Design notes
//!
//! * **Attribute sets** ([`AttrSet`], [`AttrHandle`]): a route's path attributes minus
//!   MP_REACH_NLRI/MP_UNREACH_NLRI, sorted by type code, plus its next hop as an
//!   [`IpAddr`](std::net::IpAddr) (NEXT_HOP for IPv4 prefixes, else the MP_REACH_NLRI next
//!   hop of the prefix's family). Interned in a slab with a hash table and reference
//!   counts; [`Rib::announce`] interns once per call and family, so passing the prefixes of
//!   one UPDATE together is the fast path. Each peer and family remembers the set it
//!   interned last: a call repeating those attributes compares against that set instead
//!   of hashing the attribute list.
//! * **Layout**: each prefix's paths are stored once, as 16-byte records in its Loc-RIB
//!   entry (one inline), with the selected ones first; each peer's Adj-RIB-In is an
//!   append-only log of 12-byte (IPv4) or 24-byte (IPv6) `(prefix, path id)` keys,
//!   compacted when withdrawn keys outnumber live ones. Measured by the `rib_memory`
//!   example: about 37 bytes per route beyond the attribute sets for 8 peers sharing 125k
//!   prefixes, up to about 82 for a single peer's unique prefixes (a hash table that has
//!   just doubled).
//! * **Who ranks** ([`Ranking`]): the RIB's own decision (the default), or nobody
//!   ([`Ranking::Caller`]) for a caller with a policy of its own, such as a route server:
//!   paths are then only stored, and no decision is computed to be thrown away.
//! * **Decision**: RFC 4271 9.1.2.2 run as set elimination (see [`decision`]); a path
//!   that the steps before MED settle against the current best (worse: it changes
//!   nothing; better: it alone wins) skips the full run, which keeps loading a table cheap.
//! * **Longest-prefix match** ([`Rib::lookup`]): one hash map per family keyed by
//!   (address, length) and a count of prefixes per length, probed from the longest length
//!   in use down. A trie would bound the worst case better but cost memory per prefix and
//!   a second structure to keep in step with the Loc-RIB; here an insert stays one lookup.
//! * **Hashing**: a seeded multiply-fold hash ([`RibConfig::hash_seed`]), not the
//!   standard library's randomly seeded one, so runs are reproducible. The IPv4 Loc-RIB
//!   places 256 neighbouring prefixes of one length (the /24s of a /16) in neighbouring
//!   buckets, at a seeded place: a pass over prefixes in order then touches a few pages
//!   per 256 prefixes instead of one per prefix (at a million prefixes, measured through
//!   the route server: 13% less CPU to store them, 29% less to withdraw them;
//!   `BENCHMARKS.md`, route-server).
#![forbid(unsafe_code)]

mod attrs;
mod config;
pub mod decision;
mod hash;
mod loc_map;
mod rib;
mod table;
mod types;

pub use attrs::{AttrHandle, AttrSet};
pub use config::{DecisionStep, MedOptions, Ranking, RibConfig};
pub use rib::{Rib, TagEntry};
pub use types::{
    AdjRoute, Change, Changes, Explanation, MemoryUsage, PathRef, PathSet, PeerId, PeerInfo,
    RibError, RouteCounts,
};
