//! Real RIB dumps (TABLE_DUMP_V2) loaded into the RIB, checked against a computation
//! written here from the decoded attributes: route and prefix counts, every prefix's best
//! path and Azure-style ECMP set, dropping the biggest peer, longest-prefix match.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::mrt::{MrtBody, MrtReader, PeerEntry};
use bgp_wire::{AttrValue, MpNextHop, Nlri, Origin, PathAttribute, SegmentType};
use ipnet::IpNet;
use rib::{PeerId, PeerInfo, Rib, RibConfig};

/// The dump's bytes, as many as decompress: the big dump is a cut-short bzip2 stream.
fn load_file(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/mrt/{name}", env!("CARGO_MANIFEST_DIR"));
    mrt_files::read(std::path::Path::new(&path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .bytes
}

/// One path as the test's own decision code sees it.
#[derive(Clone, Debug)]
struct Path {
    peer_index: u16,
    path_id: Option<u32>,
    local_pref: u32,
    as_path_length: usize,
    neighbour_as: Option<u32>,
    origin: u8,
    med: u32,
    router_id: Ipv4Addr,
    cluster_list_length: usize,
    peer_address: IpAddr,
    attributes: Vec<PathAttribute>,
}

impl Path {
    fn new(
        peer_index: u16,
        path_id: Option<u32>,
        peer: &PeerEntry,
        attributes: Vec<PathAttribute>,
    ) -> Self {
        let mut path = Self {
            peer_index,
            path_id,
            local_pref: 100,
            as_path_length: 0,
            neighbour_as: None,
            origin: 2,
            med: 0,
            router_id: peer.bgp_id,
            cluster_list_length: 0,
            peer_address: peer.address,
            attributes: Vec::new(),
        };
        for a in &attributes {
            match &a.value {
                AttrValue::LocalPref(v) => path.local_pref = *v,
                AttrValue::Origin(o) => {
                    path.origin = match o {
                        Origin::Igp => 0,
                        Origin::Egp => 1,
                        Origin::Incomplete => 2,
                    }
                }
                AttrValue::MultiExitDisc(v) => path.med = *v,
                AttrValue::OriginatorId(id) => path.router_id = *id,
                AttrValue::ClusterList(list) => path.cluster_list_length = list.len(),
                AttrValue::AsPath(p) => {
                    for (i, segment) in p.segments.iter().enumerate() {
                        match segment.kind {
                            SegmentType::AsSequence => {
                                if i == 0 {
                                    path.neighbour_as = segment.asns.first().copied();
                                }
                                path.as_path_length += segment.asns.len();
                            }
                            SegmentType::AsSet => path.as_path_length += 1,
                            SegmentType::ConfedSequence | SegmentType::ConfedSet => {}
                        }
                    }
                }
                _ => {}
            }
        }
        path.attributes = attributes;
        path
    }
}

/// RFC 4271 9.1.2.2 over `paths` (all external, IGP cost 0), steps up to `through`
/// (0 local pref, 1 AS path length, ... 8 path id).
fn eliminate(mut paths: Vec<&Path>, through: usize) -> Vec<&Path> {
    fn keep_least<K: Ord + Copy>(paths: &mut Vec<&Path>, key: impl Fn(&Path) -> K) {
        if let Some(least) = paths.iter().map(|p| key(p)).min() {
            paths.retain(|p| key(p) == least);
        }
    }
    type Step<'a> = &'a dyn Fn(&mut Vec<&Path>);
    let steps: [Step<'_>; 9] = [
        &|p| keep_least(p, |x| std::cmp::Reverse(x.local_pref)),
        &|p| keep_least(p, |x| x.as_path_length),
        &|p| keep_least(p, |x| x.origin),
        &|p| {
            let all = p.clone();
            p.retain(|x| {
                !all.iter()
                    .any(|y| y.neighbour_as == x.neighbour_as && y.med < x.med)
            });
        },
        &|p| keep_least(p, |x| u32::from(x.router_id)),
        &|p| keep_least(p, |x| x.cluster_list_length),
        &|p| keep_least(p, |x| x.peer_address),
        &|p| keep_least(p, |x| x.peer_index),
        &|p| keep_least(p, |x| x.path_id),
    ];
    for step in steps.iter().take(through + 1) {
        step(&mut paths);
    }
    paths
}

fn expected_best(paths: &[Path]) -> Option<(u16, Option<u32>)> {
    let winners = eliminate(paths.iter().collect(), 8);
    assert!(winners.len() <= 1);
    winners.first().map(|p| (p.peer_index, p.path_id))
}

struct Loaded {
    rib: Rib,
    /// PEER_INDEX_TABLE index -> RIB peer.
    ids: Vec<PeerId>,
    /// Per prefix, its paths as dumped.
    paths: BTreeMap<IpNet, Vec<Path>>,
    skipped: usize,
}

fn load(name: &str, config: RibConfig) -> Loaded {
    let data = load_file(name);
    let mut rib = Rib::new(config);
    let mut peers: Vec<PeerEntry> = Vec::new();
    let mut ids = Vec::new();
    let mut paths: BTreeMap<IpNet, Vec<Path>> = BTreeMap::new();
    let mut skipped = 0;
    for item in MrtReader::new(&data) {
        let Ok((_, record)) = item else { continue };
        match record.body {
            MrtBody::PeerIndexTable(table) => {
                peers = table.peers.clone();
                ids = peers
                    .iter()
                    .map(|p| {
                        rib.add_peer(PeerInfo {
                            address: p.address,
                            asn: p.asn,
                            bgp_id: p.bgp_id,
                            is_ebgp: true,
                            igp_cost: 0,
                        })
                        .unwrap()
                    })
                    .collect();
            }
            MrtBody::Rib(rib_record) if !rib_record.multicast => {
                let prefix = rib_record.prefix.trunc();
                for entry in &rib_record.entries {
                    let decoded = rib_record.decode_attributes(entry);
                    let Some(peer) = peers.get(usize::from(entry.peer_index)) else {
                        skipped += 1;
                        continue;
                    };
                    match decoded {
                        Ok(decoded) if decoded.issues.is_empty() => {
                            let path = Path::new(
                                entry.peer_index,
                                entry.path_id,
                                peer,
                                decoded.attributes,
                            );
                            let nlri = Nlri {
                                prefix,
                                path_id: entry.path_id,
                            };
                            let _ = rib
                                .announce(
                                    ids[usize::from(entry.peer_index)],
                                    &[nlri],
                                    &path.attributes,
                                )
                                .unwrap();
                            paths.entry(prefix).or_default().push(path);
                        }
                        _ => skipped += 1,
                    }
                }
            }
            _ => {}
        }
    }
    Loaded {
        rib,
        ids,
        paths,
        skipped,
    }
}

fn peer_index_of(loaded: &Loaded, id: PeerId) -> u16 {
    loaded.ids.iter().position(|x| *x == id).unwrap() as u16
}

fn check_counts_and_best(loaded: &Loaded) {
    let rib = &loaded.rib;
    let mut per_peer: HashMap<u16, usize> = HashMap::new();
    for path in loaded.paths.values().flatten() {
        *per_peer.entry(path.peer_index).or_default() += 1;
    }
    for (index, id) in loaded.ids.iter().enumerate() {
        let expected = per_peer.get(&(index as u16)).copied().unwrap_or(0);
        assert_eq!(
            rib.route_counts(*id).total(),
            expected,
            "routes of peer {index}"
        );
        assert_eq!(rib.adj_rib_in(*id).len(), expected);
    }
    assert_eq!(rib.prefix_counts().total(), loaded.paths.len());
    for (prefix, paths) in &loaded.paths {
        let best = rib
            .best(*prefix)
            .map(|p| (peer_index_of(loaded, p.peer), p.path_id));
        assert_eq!(best, expected_best(paths), "best path of {prefix}");
    }
}

#[test]
fn routeviews_2014_table_dump_v2_against_an_independent_decision() {
    let mut loaded = load("pyasn__rib.20140523.0600_firstMB.bz2", RibConfig::azure());
    let routes: usize = loaded.paths.values().map(Vec::len).sum();
    assert_eq!(loaded.ids.len(), 47, "peers in the PEER_INDEX_TABLE");
    assert!(routes > 250_000, "{routes} routes decoded");
    assert!(
        loaded.paths.len() > 9_000,
        "{} prefixes",
        loaded.paths.len()
    );
    assert!(
        loaded.skipped < routes / 100,
        "{} entries skipped",
        loaded.skipped
    );
    check_counts_and_best(&loaded);

    // Attribute sets are shared: far fewer than routes.
    let sets = loaded.rib.attr_set_count();
    assert!(
        sets > 1_000 && sets < routes / 2,
        "{sets} sets for {routes} routes"
    );

    // Azure ECMP: the paths with the best LOCAL_PREF and the shortest AS path, at most 8,
    // best first, each next one the best of those left.
    for (prefix, paths) in &loaded.paths {
        let mut pool = eliminate(paths.iter().collect(), 1);
        let mut expected = Vec::new();
        while !pool.is_empty() && expected.len() < 8 {
            let next = eliminate(pool.clone(), 8)[0];
            expected.push((next.peer_index, next.path_id));
            pool.retain(|p| (p.peer_index, p.path_id) != (next.peer_index, next.path_id));
        }
        let ecmp: Vec<_> = loaded
            .rib
            .ecmp(*prefix)
            .iter()
            .map(|p| (peer_index_of(&loaded, p.peer), p.path_id))
            .collect();
        assert_eq!(ecmp, expected, "ECMP set of {prefix}");
    }

    // Longest-prefix match against a linear scan.
    let prefixes: Vec<IpNet> = loaded.paths.keys().copied().collect();
    for prefix in prefixes.iter().step_by(37) {
        let IpNet::V4(v4) = prefix else { continue };
        for addr in [v4.network(), v4.broadcast()] {
            let expected = prefixes
                .iter()
                .filter(|p| p.contains(&IpAddr::V4(addr)))
                .max_by_key(|p| p.prefix_len());
            let found = loaded.rib.lookup(IpAddr::V4(addr));
            assert_eq!(
                found.as_ref().map(|f| f.0),
                expected.copied(),
                "lookup {addr}"
            );
            assert_eq!(
                found.map(|f| f.1),
                Some(loaded.rib.ecmp(*expected.unwrap()))
            );
        }
    }

    // Drop the peer with the most routes: the change set covers exactly the prefixes whose
    // selection involved it, and every best path equals the computation without it.
    let (victim_index, _) = (0..loaded.ids.len())
        .map(|i| (i, loaded.rib.route_counts(loaded.ids[i]).total()))
        .max_by_key(|(i, n)| (*n, std::cmp::Reverse(*i)))
        .unwrap();
    let victim = loaded.ids[victim_index];
    let before: BTreeMap<IpNet, _> = loaded.rib.loc_rib().into_iter().collect();
    let changes = loaded.rib.drop_peer(victim).unwrap();
    let involved: Vec<IpNet> = before
        .iter()
        .filter(|(_, set)| set.iter().any(|p| p.peer == victim))
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(
        changes.iter().map(|c| c.prefix).collect::<Vec<_>>(),
        involved
    );
    for paths in loaded.paths.values_mut() {
        paths.retain(|p| usize::from(p.peer_index) != victim_index);
    }
    loaded.paths.retain(|_, paths| !paths.is_empty());
    check_counts_and_best(&loaded);
}

#[test]
fn ipv6_and_add_path_dumps() {
    for name in [
        "bgpdump__bview.64k_stream_overflow.gz",
        "bgpdump__bview.ipv4_unicast_add_path.gz",
        "bgpdump__bview.ipv6_unicast_add_path.gz",
    ] {
        let loaded = load(name, RibConfig::default());
        assert!(!loaded.paths.is_empty(), "{name}: routes loaded");
        assert_eq!(loaded.skipped, 0, "{name}: every entry decodes");
        check_counts_and_best(&loaded);
        // Every selected path's next hop is the one its attributes carry for its family.
        let mut v6_next_hops = 0;
        for (prefix, set) in loaded.rib.loc_rib() {
            let path = loaded.paths[&prefix]
                .iter()
                .find(|p| {
                    loaded.ids[usize::from(p.peer_index)] == set[0].peer
                        && p.path_id == set[0].path_id
                })
                .unwrap();
            let expected = path
                .attributes
                .iter()
                .find_map(|a| match (&a.value, prefix) {
                    (AttrValue::NextHop(addr), IpNet::V4(_)) => Some(IpAddr::V4(*addr)),
                    (AttrValue::MpReachNlri(reach), IpNet::V6(_)) => match reach.next_hop {
                        MpNextHop::Ipv6 { global, .. } => Some(IpAddr::V6(global)),
                        _ => None,
                    },
                    _ => None,
                });
            assert_eq!(
                loaded.rib.attrs(set[0].attrs).unwrap().next_hop(),
                expected,
                "{name}: next hop of {prefix}"
            );
            if prefix.addr().is_ipv6() && expected.is_some() {
                v6_next_hops += 1;
            }
        }
        // (The ADD-PATH samples carry no MP_REACH_NLRI at all.)
        if name.contains("64k") {
            assert!(
                v6_next_hops > 0,
                "{name}: IPv6 next hops come from MP_REACH_NLRI"
            );
        }
        if name.contains("add_path") {
            assert!(
                loaded.paths.values().flatten().all(|p| p.path_id.is_some()),
                "{name}: path ids kept"
            );
        }
    }
}
