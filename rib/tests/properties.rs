//! Property tests: the RIB against a naive reference of the decision process, arrival
//! order independence, dropping a peer, and change sets that replay to the Loc-RIB.

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::{AsPath, AsPathSegment, Nlri, Origin, PathAttribute, SegmentType};
use ipnet::IpNet;
use proptest::prelude::*;
use rib::{DecisionStep, PathSet, PeerId, PeerInfo, Rib, RibConfig};

use common::Attrs;

const PREFIXES: [&str; 4] = ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "2001:db8::/32"];

#[derive(Clone, Debug)]
struct PeerSpec {
    bgp_id: u8,
    ebgp: bool,
    igp_cost: u32,
}

#[derive(Clone, Debug)]
struct AttrSpec {
    local_pref: Option<u32>,
    sequence: Vec<u32>,
    set: Option<Vec<u32>>,
    origin: Option<u8>,
    med: Option<u32>,
    originator_id: Option<u8>,
    cluster_list_length: usize,
    next_hop: u8,
}

impl AttrSpec {
    fn to_attributes(&self) -> Vec<PathAttribute> {
        let mut path = AsPath::from_sequence(self.sequence.iter().copied());
        if let Some(set) = &self.set {
            path.segments.push(AsPathSegment {
                kind: SegmentType::AsSet,
                asns: set.iter().copied().collect(),
            });
        }
        Attrs {
            as_path: Some(path),
            origin: self
                .origin
                .map(|o| [Origin::Igp, Origin::Egp, Origin::Incomplete][usize::from(o)]),
            local_pref: self.local_pref,
            med: self.med,
            originator_id: self.originator_id.map(|i| Ipv4Addr::new(i, i, i, i)),
            cluster_list: (0..self.cluster_list_length)
                .map(|i| Ipv4Addr::new(9, 9, 9, i as u8))
                .collect(),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, self.next_hop)),
        }
        .to_vec()
    }
}

/// One route: (peer index, prefix index, path id, attribute-spec index).
type Route = (usize, usize, Option<u32>, usize);

#[derive(Clone, Debug)]
struct World {
    config: RibConfig,
    peers: Vec<PeerSpec>,
    attrs: Vec<AttrSpec>,
    routes: Vec<Route>,
}

fn config_strategy() -> impl Strategy<Value = RibConfig> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0..DecisionStep::ALL.len(),
        1usize..5,
        prop::bool::ANY,
    )
        .prop_map(|(ignore, always, worst, up_to, width, lp)| {
            let mut config = RibConfig {
                ignore_as_path_length: ignore,
                ecmp_up_to: DecisionStep::ALL[up_to],
                ecmp_max_paths: width,
                default_local_pref: if lp { 100 } else { 150 },
                ..RibConfig::default()
            };
            config.med.always_compare = always;
            config.med.missing_as_worst = worst;
            config
        })
}

fn attr_strategy() -> impl Strategy<Value = AttrSpec> {
    (
        prop::option::of(prop::sample::select(vec![90u32, 100, 150, 200])),
        prop::collection::vec(1u32..4, 0..3),
        prop::option::of(prop::collection::vec(1u32..4, 1..3)),
        prop::option::of(0u8..3),
        prop::option::of(prop::sample::select(vec![0u32, 5, 10])),
        prop::option::of(1u8..4),
        0usize..3,
        1u8..6,
    )
        .prop_map(
            |(
                local_pref,
                sequence,
                set,
                origin,
                med,
                originator_id,
                cluster_list_length,
                next_hop,
            )| AttrSpec {
                local_pref,
                sequence,
                set,
                origin,
                med,
                originator_id,
                cluster_list_length,
                next_hop,
            },
        )
}

fn world_strategy() -> impl Strategy<Value = World> {
    let peers = prop::collection::vec(
        (1u8..4, any::<bool>(), 0u32..3).prop_map(|(bgp_id, ebgp, igp_cost)| PeerSpec {
            bgp_id,
            ebgp,
            igp_cost,
        }),
        1..6,
    );
    let attrs = prop::collection::vec(attr_strategy(), 1..8);
    (config_strategy(), peers, attrs).prop_flat_map(|(config, peers, attrs)| {
        let route = (
            0..peers.len(),
            0..PREFIXES.len(),
            prop::option::of(0u32..3),
            0..attrs.len(),
        );
        prop::collection::vec(route, 0..24).prop_map(move |routes| {
            // One route per (peer, prefix, path id): later duplicates would make the
            // stored attributes depend on order, which is not what these tests are about.
            let mut seen = std::collections::HashSet::new();
            let routes = routes
                .into_iter()
                .filter(|r| seen.insert((r.0, r.1, r.2)))
                .collect();
            World {
                config: config.clone(),
                peers: peers.clone(),
                attrs: attrs.clone(),
                routes,
            }
        })
    })
}

fn prefix(index: usize) -> IpNet {
    PREFIXES[index].parse().unwrap()
}

fn peer_info(index: usize, spec: &PeerSpec) -> PeerInfo {
    PeerInfo {
        address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, index as u8 + 1)),
        asn: 65000 + index as u32,
        bgp_id: Ipv4Addr::new(spec.bgp_id, spec.bgp_id, spec.bgp_id, spec.bgp_id),
        is_ebgp: spec.ebgp,
        igp_cost: spec.igp_cost,
    }
}

fn new_rib(world: &World) -> (Rib, Vec<PeerId>) {
    let mut rib = Rib::new(world.config.clone());
    let ids = world
        .peers
        .iter()
        .enumerate()
        .map(|(i, p)| rib.add_peer(peer_info(i, p)).unwrap())
        .collect();
    (rib, ids)
}

fn announce(rib: &mut Rib, ids: &[PeerId], world: &World, route: &Route) -> rib::Changes {
    let (peer, pfx, path_id, attr) = *route;
    rib.announce(
        ids[peer],
        &[Nlri {
            prefix: prefix(pfx),
            path_id,
        }],
        &world.attrs[attr].to_attributes(),
    )
    .unwrap()
}

/// A prefix's selection as (peer index, path id): comparable across RIBs.
fn named(set: &PathSet, ids: &[PeerId]) -> Vec<(usize, Option<u32>)> {
    set.iter()
        .map(|p| (ids.iter().position(|id| *id == p.peer).unwrap(), p.path_id))
        .collect()
}

fn snapshot(rib: &Rib, ids: &[PeerId]) -> BTreeMap<IpNet, Vec<(usize, Option<u32>)>> {
    rib.loc_rib()
        .into_iter()
        .map(|(prefix, set)| (prefix, named(&set, ids)))
        .collect()
}

// ----- the reference: RFC 4271 9.1.2.2 written out naively over plain values -----

#[derive(Clone, Debug)]
struct RefPath {
    peer: usize,
    path_id: Option<u32>,
    local_pref: u32,
    path_length: usize,
    neighbour_as: Option<u32>,
    origin: u8,
    med: u32,
    ebgp: bool,
    igp_cost: u32,
    router_id: u8,
    cluster_list_length: usize,
    peer_address: u8,
}

fn ref_path(world: &World, route: &Route) -> RefPath {
    let (peer, _, path_id, attr) = *route;
    let a = &world.attrs[attr];
    let p = &world.peers[peer];
    RefPath {
        peer,
        path_id,
        local_pref: a.local_pref.unwrap_or(world.config.default_local_pref),
        path_length: a.sequence.len() + usize::from(a.set.is_some()),
        neighbour_as: a.sequence.first().copied(),
        origin: a.origin.unwrap_or(2),
        med: a.med.unwrap_or(if world.config.med.missing_as_worst {
            u32::MAX
        } else {
            0
        }),
        ebgp: p.ebgp,
        igp_cost: p.igp_cost,
        router_id: a.originator_id.unwrap_or(p.bgp_id),
        cluster_list_length: a.cluster_list_length,
        peer_address: peer as u8 + 1,
    }
}

/// Runs the steps up to `last` over `set`, as the RFC words them.
fn reference_eliminate(
    mut set: Vec<RefPath>,
    config: &RibConfig,
    last: DecisionStep,
) -> Vec<RefPath> {
    use DecisionStep::*;
    let runs = |step: DecisionStep| step <= last;
    if runs(LocalPref) {
        let best = set.iter().map(|p| p.local_pref).max().unwrap();
        set.retain(|p| p.local_pref == best);
    }
    if runs(AsPathLength) && !config.ignore_as_path_length {
        let best = set.iter().map(|p| p.path_length).min().unwrap();
        set.retain(|p| p.path_length == best);
    }
    if runs(Origin) {
        let best = set.iter().map(|p| p.origin).min().unwrap();
        set.retain(|p| p.origin == best);
    }
    if runs(Med) {
        // "Remove from consideration all routes that are not the best among routes
        // that have the same neighbouring AS" (compared against the set as it stood).
        let before = set.clone();
        set.retain(|p| {
            !before.iter().any(|q| {
                (config.med.always_compare || q.neighbour_as == p.neighbour_as) && q.med < p.med
            })
        });
    }
    if runs(PeerType) && set.iter().any(|p| p.ebgp) {
        set.retain(|p| p.ebgp);
    }
    if runs(IgpCost) {
        let best = set.iter().map(|p| p.igp_cost).min().unwrap();
        set.retain(|p| p.igp_cost == best);
    }
    // RouteAge is off in these worlds.
    if runs(RouterId) {
        let best = set.iter().map(|p| p.router_id).min().unwrap();
        set.retain(|p| p.router_id == best);
    }
    if runs(ClusterListLength) {
        let best = set.iter().map(|p| p.cluster_list_length).min().unwrap();
        set.retain(|p| p.cluster_list_length == best);
    }
    if runs(PeerAddress) {
        let best = set.iter().map(|p| p.peer_address).min().unwrap();
        set.retain(|p| p.peer_address == best);
    }
    if runs(PathId) {
        let best = set.iter().map(|p| p.path_id).min().unwrap();
        set.retain(|p| p.path_id == best);
    }
    set
}

fn reference_selection(paths: Vec<RefPath>, config: &RibConfig) -> Vec<(usize, Option<u32>)> {
    let width = config.ecmp_max_paths.max(1);
    let mut pool = if width == 1 {
        paths
    } else {
        reference_eliminate(paths, config, config.ecmp_up_to)
    };
    let mut out = Vec::new();
    while !pool.is_empty() && out.len() < width {
        let winners = reference_eliminate(pool.clone(), config, DecisionStep::PathId);
        assert_eq!(winners.len(), 1, "the reference ends with one path");
        let w = (winners[0].peer, winners[0].path_id);
        out.push(w);
        pool.retain(|p| (p.peer, p.path_id) != w);
    }
    out
}

fn reference(world: &World, routes: &[Route]) -> BTreeMap<IpNet, Vec<(usize, Option<u32>)>> {
    let mut per_prefix: BTreeMap<IpNet, Vec<RefPath>> = BTreeMap::new();
    for route in routes {
        per_prefix
            .entry(prefix(route.1))
            .or_default()
            .push(ref_path(world, route));
    }
    per_prefix
        .into_iter()
        .map(|(prefix, paths)| (prefix, reference_selection(paths, &world.config)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn best_and_ecmp_match_the_reference_in_any_arrival_order(
        (world, order) in world_strategy().prop_flat_map(|w| {
            let n = w.routes.len();
            (Just(w), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
        })
    ) {
        let expected = reference(&world, &world.routes);
        let (mut rib, ids) = new_rib(&world);
        for route in &world.routes {
            let _ = announce(&mut rib, &ids, &world, route);
        }
        prop_assert_eq!(&snapshot(&rib, &ids), &expected);

        let (mut shuffled, ids2) = new_rib(&world);
        for &i in &order {
            let _ = announce(&mut shuffled, &ids2, &world, &world.routes[i]);
        }
        prop_assert_eq!(&snapshot(&shuffled, &ids2), &expected);
        for (pfx, set) in rib.loc_rib() {
            let why = rib.explain(pfx).unwrap();
            prop_assert_eq!(Some(why.winner), set.first().copied());
            let paths = world.routes.iter().filter(|r| prefix(r.1) == pfx).count();
            prop_assert_eq!(why.beaten.len() + 1, paths);
        }
    }

    #[test]
    fn dropping_a_peer_leaves_what_a_rib_that_never_saw_it_holds_and_best_excluding_foresees_it(world in world_strategy(), victim in 0usize..5) {
        let victim = victim % world.peers.len();
        let (mut rib, ids) = new_rib(&world);
        for route in &world.routes {
            let _ = announce(&mut rib, &ids, &world, route);
        }
        let before = rib.loc_rib();
        // What a route server would advertise to the victim: the selection without its paths.
        let excluding: BTreeMap<IpNet, Vec<(usize, Option<u32>)>> = before
            .iter()
            .map(|(pfx, _)| (*pfx, named(&rib.ecmp_excluding(*pfx, ids[victim]), &ids)))
            .filter(|(_, set)| !set.is_empty())
            .collect();
        for (pfx, set) in &excluding {
            let best = rib.best_excluding(*pfx, ids[victim]).map(|p| named(&[p].into_iter().collect(), &ids)[0]);
            prop_assert_eq!(best, set.first().copied());
        }
        let changes = rib.drop_peer(ids[victim]).unwrap();

        let (mut clean, clean_ids) = new_rib(&world);
        let kept: Vec<Route> = world.routes.iter().filter(|r| r.0 != victim).copied().collect();
        for route in &kept {
            let _ = announce(&mut clean, &clean_ids, &world, route);
        }
        prop_assert_eq!(snapshot(&rib, &ids), snapshot(&clean, &clean_ids));
        prop_assert_eq!(snapshot(&rib, &ids), reference(&world, &kept));
        prop_assert_eq!(&excluding, &snapshot(&rib, &ids), "best_excluding equals dropping the peer");
        prop_assert!(rib.adj_rib_in(ids[victim]).is_empty());
        // Same attributes behind the selected paths.
        for (pfx, set) in rib.loc_rib() {
            let other = clean.ecmp(pfx);
            for (a, b) in set.iter().zip(other.iter()) {
                prop_assert_eq!(rib.attrs(a.attrs), clean.attrs(b.attrs));
            }
        }
        // The change set turns the old Loc-RIB into the new one.
        let mut replay: BTreeMap<IpNet, PathSet> = before.into_iter().collect();
        for change in &changes {
            prop_assert_eq!(replay.get(&change.prefix).cloned().unwrap_or_default(), change.old.clone());
            if change.new.is_empty() { replay.remove(&change.prefix); } else { replay.insert(change.prefix, change.new.clone()); }
        }
        prop_assert_eq!(replay.into_iter().collect::<Vec<_>>(), rib.loc_rib());
    }

    #[test]
    fn change_sets_replay_to_the_loc_rib_through_any_operations(
        world in world_strategy(),
        ops in prop::collection::vec((0u8..10, any::<prop::sample::Index>()), 0..60),
    ) {
        let (mut rib, ids) = new_rib(&world);
        // The test's own model of every Adj-RIB-In: (peer, prefix, path id) -> attrs.
        let mut model: BTreeMap<(usize, usize, Option<u32>), usize> = BTreeMap::new();
        let mut replay: BTreeMap<IpNet, PathSet> = BTreeMap::new();
        let mut stale_marked: Vec<bool> = vec![false; world.peers.len()];
        let mut refreshed: std::collections::HashSet<(usize, usize, Option<u32>)> = Default::default();
        for (kind, index) in ops {
            let changes = match (kind, world.routes.is_empty()) {
                (0..=5, false) => {
                    let route = *index.get(&world.routes);
                    model.insert((route.0, route.1, route.2), route.3);
                    refreshed.insert((route.0, route.1, route.2));
                    announce(&mut rib, &ids, &world, &route)
                }
                (6 | 7, false) => {
                    let route = *index.get(&world.routes);
                    model.remove(&(route.0, route.1, route.2));
                    rib.withdraw(ids[route.0], &[Nlri { prefix: prefix(route.1), path_id: route.2 }]).unwrap()
                }
                (8, _) => {
                    let peer = index.index(world.peers.len());
                    model.retain(|k, _| k.0 != peer);
                    rib.drop_peer(ids[peer]).unwrap()
                }
                _ => {
                    // Graceful restart: mark, or sweep what was not refreshed since.
                    let peer = index.index(world.peers.len());
                    if stale_marked[peer] {
                        stale_marked[peer] = false;
                        model.retain(|k, _| k.0 != peer || refreshed.contains(k));
                        rib.sweep_stale(ids[peer]).unwrap()
                    } else {
                        stale_marked[peer] = true;
                        refreshed.retain(|k| k.0 != peer);
                        let marked = rib.mark_stale(ids[peer]).unwrap();
                        prop_assert_eq!(marked, model.keys().filter(|k| k.0 == peer).count());
                        rib::Changes::default()
                    }
                }
            };
            let prefixes: Vec<IpNet> = changes.iter().map(|c| c.prefix).collect();
            prop_assert!(prefixes.windows(2).all(|w| w[0] < w[1]), "sorted, one per prefix");
            for change in &changes {
                prop_assert_ne!(&change.old, &change.new);
                prop_assert_eq!(replay.get(&change.prefix).cloned().unwrap_or_default(), change.old.clone());
                if change.new.is_empty() { replay.remove(&change.prefix); } else { replay.insert(change.prefix, change.new.clone()); }
            }
            prop_assert_eq!(replay.clone().into_iter().collect::<Vec<_>>(), rib.loc_rib());
        }
        // Adj-RIB-In equals the model, and the Loc-RIB the reference over it.
        for (i, id) in ids.iter().enumerate() {
            let adj: Vec<(IpNet, Option<u32>)> = rib.adj_rib_in(*id).iter().map(|r| (r.prefix, r.path_id)).collect();
            let mut expected: Vec<(IpNet, Option<u32>)> =
                model.keys().filter(|k| k.0 == i).map(|k| (prefix(k.1), k.2)).collect();
            expected.sort();
            prop_assert_eq!(adj, expected);
        }
        let routes: Vec<Route> = model.iter().map(|(k, a)| (k.0, k.1, k.2, *a)).collect();
        prop_assert_eq!(snapshot(&rib, &ids), reference(&world, &routes));
        let total: usize = ids.iter().map(|id| rib.route_counts(*id).total()).sum();
        prop_assert_eq!(total, model.len());
    }
}
