//! Real RIB dumps decoded ahead of time for the benchmarks and the `rib_real` example, so
//! that what is timed is RIB work only.
//!
//! Three dumps: the cut-short RouteViews 2014 TABLE_DUMP_V2 file kept in the repository
//! (`rib/tests/data/mrt`, always there), and, when the shared reference folder is present
//! (`data/real/mrt` of `mrt_files::shared_dir`: `$BGP_SHARED_DIR`, or `../shared` beside
//! the workspace), two whole RIPE RIS bviews in the
//! legacy TABLE_DUMP format: rrc00 of 2002-07-22 and rrc00 of 2000-01-11. The 2000 file
//! batches a prefix's entries in one record, which RFC 6396 does not describe;
//! [`MrtReader`] splits such records into their entries (see its docs).
//!
//! Peers: a TABLE_DUMP_V2 PEER_INDEX_TABLE entry becomes one RIB peer with its AS and BGP
//! identifier; a TABLE_DUMP file has no peer table, so each distinct (peer address, peer
//! AS) is one peer and its BGP identifier is taken to be its IPv4 address (the dump does
//! not say). Every peer is external, IGP cost 0.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::mrt::{decode_rib_attributes, MrtBody, MrtReader};
use bgp_wire::{Family, Nlri, PathAttribute, Treatment};
use ipnet::IpNet;
use rib::{PeerId, PeerInfo, Rib, RibConfig};

/// One route of a dump: who announced which prefix with which attributes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Route {
    /// Index into [`RealDump::peers`].
    pub(crate) peer: usize,
    pub(crate) nlri: Nlri,
    /// Index into [`RealDump::attr_sets`].
    pub(crate) attrs: usize,
}

/// A decoded dump.
pub(crate) struct RealDump {
    /// What the dump is, for humans.
    pub(crate) name: &'static str,
    /// A short label for benchmark ids.
    pub(crate) label: &'static str,
    pub(crate) peers: Vec<PeerInfo>,
    /// Distinct attribute fields of the dump, decoded once each.
    pub(crate) attr_sets: Vec<Vec<PathAttribute>>,
    /// Every route, in dump order (by prefix).
    pub(crate) routes: Vec<Route>,
    /// Entries left out: attributes that do not decode or that RFC 7606 would treat as
    /// withdrawn, a peer index outside the peer table, a multicast or RIB_GENERIC record.
    pub(crate) skipped: usize,
}

impl RealDump {
    /// The routes of every tenth distinct prefix (in dump order): the churn set.
    pub(crate) fn every_tenth_prefix(&self) -> Vec<Route> {
        let mut seen: HashMap<IpNet, bool> = HashMap::new();
        let mut count = 0usize;
        self.routes
            .iter()
            .filter(|route| {
                *seen.entry(route.nlri.prefix).or_insert_with(|| {
                    count += 1;
                    (count - 1).is_multiple_of(10)
                })
            })
            .copied()
            .collect()
    }

    /// The peer with the most routes in the dump (the lowest index on a tie), and how
    /// many that is.
    pub(crate) fn biggest_peer(&self) -> (usize, usize) {
        let mut per_peer = vec![0usize; self.peers.len()];
        for route in &self.routes {
            per_peer[route.peer] += 1;
        }
        per_peer
            .iter()
            .copied()
            .enumerate()
            .max_by_key(|&(index, routes)| (routes, std::cmp::Reverse(index)))
            .unwrap_or((0, 0))
    }

    /// The routes of one peer, in dump order.
    pub(crate) fn routes_of(&self, peer: usize) -> Vec<Route> {
        self.routes
            .iter()
            .filter(|r| r.peer == peer)
            .copied()
            .collect()
    }
}

/// The dumps that are present: the in-repository one always, the shared ones when the
/// shared folder exists (silently left out otherwise).
pub(crate) fn available_dumps() -> Vec<RealDump> {
    let in_repo = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/mrt");
    let shared = mrt_files::shared_dir()
        .map(|dir| dir.join("data/real/mrt").display().to_string())
        .unwrap_or_default();
    let shared = shared.as_str();
    let files: [(&str, &str, &'static str, &'static str); 3] = [
        (
            in_repo,
            "pyasn__rib.20140523.0600_firstMB.bz2",
            "RouteViews 2014 TABLE_DUMP_V2 (first MiB, in repo)",
            "routeviews-2014-1MiB",
        ),
        (
            shared,
            "bgpdump__bview.20020722.2337.gz",
            "RIPE rrc00 bview 2002-07-22 (TABLE_DUMP)",
            "rrc00-2002",
        ),
        (
            shared,
            "bgpkit-parser_rrc00__bview.20000111.0032.gz",
            "RIPE rrc00 bview 2000-01-11 (TABLE_DUMP)",
            "rrc00-2000",
        ),
    ];
    files
        .iter()
        .filter_map(|&(dir, file, name, label)| {
            let data = read_decompressed(&format!("{dir}/{file}"))?;
            let mut dump = decode(&data);
            (dump.name, dump.label) = (name, label);
            Some(dump)
        })
        .collect()
}

/// The file's decompressed bytes (as many as decompress: the in-repo dump is a cut-short
/// bzip2 stream), or `None` when it cannot be opened.
fn read_decompressed(path: &str) -> Option<Vec<u8>> {
    mrt_files::read(std::path::Path::new(path))
        .ok()
        .map(|contents| contents.bytes)
}

/// Decodes every unicast route of an MRT RIB dump.
fn decode(data: &[u8]) -> RealDump {
    let mut dump = RealDump {
        name: "",
        label: "",
        peers: Vec::new(),
        attr_sets: Vec::new(),
        routes: Vec::new(),
        skipped: 0,
    };
    // TABLE_DUMP_V2: the PEER_INDEX_TABLE's indices. TABLE_DUMP: (address, AS) -> index.
    let mut v2_peers = 0usize;
    let mut v1_peers: HashMap<(IpAddr, u16), usize> = HashMap::new();
    // Raw attribute bytes (and how to read them) -> index into attr_sets, or None when
    // they do not decode cleanly.
    let mut interned: HashMap<(&[u8], Family, bool), Option<usize>> = HashMap::new();
    let mut intern = |dump: &mut RealDump, raw, family, four_octet_as| {
        *interned
            .entry((raw, family, four_octet_as))
            .or_insert_with(|| {
                let decoded = decode_rib_attributes(raw, family, four_octet_as).ok()?;
                // RFC 7606 attribute discard (an AGGREGATOR of AS 0 in the RIPE dumps) keeps
                // the route without the attribute, which the decoder has already left out.
                let keep = decoded
                    .issues
                    .iter()
                    .all(|issue| issue.treatment == Treatment::AttributeDiscard);
                keep.then(|| {
                    dump.attr_sets.push(decoded.attributes);
                    dump.attr_sets.len() - 1
                })
            })
    };
    for item in MrtReader::new(data) {
        let Ok((_, record)) = item else { break };
        match record.body {
            MrtBody::PeerIndexTable(table) => {
                v2_peers = table.peers.len();
                dump.peers = table
                    .peers
                    .iter()
                    .map(|p| external_peer(p.address, p.asn, p.bgp_id))
                    .collect();
            }
            MrtBody::Rib(rib) if !rib.multicast => {
                let family = rib.family();
                let prefix = rib.prefix.trunc();
                for entry in &rib.entries {
                    let peer = usize::from(entry.peer_index);
                    match intern(&mut dump, entry.attributes, family, true) {
                        Some(attrs) if peer < v2_peers => dump.routes.push(Route {
                            peer,
                            nlri: Nlri {
                                prefix,
                                path_id: entry.path_id,
                            },
                            attrs,
                        }),
                        _ => dump.skipped += 1,
                    }
                }
            }
            MrtBody::TableDump(entry) => {
                let family = match entry.prefix {
                    IpNet::V4(_) => Family::IPV4_UNICAST,
                    IpNet::V6(_) => Family::IPV6_UNICAST,
                };
                let Some(attrs) = intern(&mut dump, entry.attributes, family, false) else {
                    dump.skipped += 1;
                    continue;
                };
                let key = (entry.peer_ip, entry.peer_as);
                let next = dump.peers.len();
                let peer = *v1_peers.entry(key).or_insert(next);
                if peer == next {
                    let bgp_id = match entry.peer_ip {
                        IpAddr::V4(v4) => v4,
                        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
                    };
                    dump.peers.push(external_peer(
                        entry.peer_ip,
                        u32::from(entry.peer_as),
                        bgp_id,
                    ));
                }
                dump.routes.push(Route {
                    peer,
                    nlri: Nlri::new(entry.prefix.trunc()),
                    attrs,
                });
            }
            MrtBody::Rib(_) | MrtBody::RibGeneric(_) => dump.skipped += 1,
            _ => {}
        }
    }
    dump
}

fn external_peer(address: IpAddr, asn: u32, bgp_id: Ipv4Addr) -> PeerInfo {
    PeerInfo {
        address,
        asn,
        bgp_id,
        is_ebgp: true,
        igp_cost: 0,
    }
}

/// Registers the dump's peers in `rib` and announces every route, one call per route as
/// a dump replay does (each call interns its attribute set: the slow path).
pub(crate) fn load(dump: &RealDump, config: RibConfig) -> (Rib, Vec<PeerId>) {
    let mut rib = Rib::new(config);
    let ids: Vec<PeerId> = dump
        .peers
        .iter()
        .map(|p| rib.add_peer(*p).expect("a dump has fewer than 65536 peers"))
        .collect();
    announce(&mut rib, &ids, dump, &dump.routes);
    (rib, ids)
}

/// Announces `routes` (of `dump`), one call each.
pub(crate) fn announce(rib: &mut Rib, ids: &[PeerId], dump: &RealDump, routes: &[Route]) {
    for route in routes {
        let changes = rib
            .announce(
                ids[route.peer],
                std::slice::from_ref(&route.nlri),
                &dump.attr_sets[route.attrs],
            )
            .expect("the peer is registered");
        let _ = std::hint::black_box(changes);
    }
}

/// Withdraws `routes`, one call each.
pub(crate) fn withdraw(rib: &mut Rib, ids: &[PeerId], routes: &[Route]) {
    for route in routes {
        let changes = rib
            .withdraw(ids[route.peer], std::slice::from_ref(&route.nlri))
            .expect("the peer is registered");
        let _ = std::hint::black_box(changes);
    }
}
