//! Behaviour of the RIB's mutations and queries.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp_wire::{
    AsPath, AttrValue, Community, Family, MpNextHop, MpNlri, MpReach, Nlri, Origin, PathAttribute,
};
use ipnet::IpNet;
use rib::{DecisionStep, PeerId, PeerInfo, Rib, RibConfig, RibError};

use common::Attrs;

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

fn peer(last: u8) -> PeerInfo {
    PeerInfo {
        address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        asn: 65000 + u32::from(last),
        bgp_id: Ipv4Addr::new(10, 0, 0, last),
        is_ebgp: true,
        igp_cost: 0,
    }
}

fn attrs(path: &[u32], next_hop: u8) -> Vec<PathAttribute> {
    Attrs {
        as_path: Some(AsPath::from_sequence(path.iter().copied())),
        origin: Some(Origin::Igp),
        next_hop: Some(Ipv4Addr::new(10, 0, 0, next_hop)),
        ..Attrs::default()
    }
    .to_vec()
}

fn rib_with_peers(config: RibConfig, n: u8) -> (Rib, Vec<PeerId>) {
    let mut rib = Rib::new(config);
    let peers = (1..=n).map(|i| rib.add_peer(peer(i)).unwrap()).collect();
    (rib, peers)
}

#[test]
fn identical_attribute_sets_are_stored_once_and_freed_when_unused() {
    let (mut rib, p) = rib_with_peers(RibConfig::default(), 2);
    let prefixes: Vec<Nlri> = (0..1000u32)
        .map(|i| Nlri::new(net(&format!("10.{}.{}.0/24", i / 256, i % 256))))
        .collect();
    let _ = rib.announce(p[0], &prefixes, &attrs(&[65001], 1)).unwrap();
    // Same attributes in a different order intern to the same set.
    let mut reordered = attrs(&[65001], 1);
    reordered.reverse();
    let _ = rib
        .announce(p[0], &[Nlri::new(net("10.200.0.0/16"))], &reordered)
        .unwrap();
    assert_eq!(rib.attr_set_count(), 1);
    let handle = rib.best(net("10.0.1.0/24")).unwrap().attrs;
    assert_eq!(rib.attr_refs(handle), 1001);

    let _ = rib
        .announce(p[1], &prefixes[..10], &attrs(&[65002], 2))
        .unwrap();
    assert_eq!(rib.attr_set_count(), 2);

    let changes = rib.drop_peer(p[0]).unwrap();
    assert_eq!(changes.len(), 1001);
    // The freed set still resolves for the caller reading the change set...
    let old = changes.iter().next().unwrap().old_best().unwrap().attrs;
    assert!(rib.attrs(old).is_some());
    // ...and is gone after the next mutation.
    let _ = rib.withdraw(p[1], &[]).unwrap();
    assert_eq!(rib.attr_set_count(), 1);
    assert_eq!(rib.attr_refs(old), 0);
}

#[test]
fn next_hop_comes_from_next_hop_or_mp_reach_and_mp_attributes_are_not_stored() {
    let (mut rib, p) = rib_with_peers(RibConfig::default(), 1);
    let v6_hop: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let v6_prefix = net("2001:db8:100::/48");
    let mut attributes = attrs(&[65001], 1);
    attributes.push(PathAttribute::new(AttrValue::MpReachNlri(MpReach {
        family: Family::IPV6_UNICAST,
        next_hop: MpNextHop::Ipv6 {
            global: v6_hop,
            link_local: Some("fe80::1".parse().unwrap()),
        },
        reserved: 0,
        nlri: MpNlri::Prefixes(vec![Nlri::new(v6_prefix)]),
    })));
    let changes = rib
        .announce(
            p[0],
            &[Nlri::new(net("10.9.0.0/16")), Nlri::new(v6_prefix)],
            &attributes,
        )
        .unwrap();
    assert_eq!(
        changes.iter().map(|c| c.prefix).collect::<Vec<_>>(),
        [net("10.9.0.0/16"), v6_prefix]
    );
    let v4 = rib
        .attrs(rib.best(net("10.9.0.0/16")).unwrap().attrs)
        .unwrap();
    let v6 = rib.attrs(rib.best(v6_prefix).unwrap().attrs).unwrap();
    assert_eq!(v4.next_hop(), Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))));
    assert_eq!(v6.next_hop(), Some(IpAddr::V6(v6_hop)));
    assert!(v6
        .attributes()
        .iter()
        .all(|a| !matches!(a.value, AttrValue::MpReachNlri(_))));
    assert_eq!(
        v4.attributes(),
        v6.attributes(),
        "the same path attributes, different next hops"
    );
    assert_eq!(rib.attr_set_count(), 2);
    assert_eq!(rib.prefix_counts().ipv6, 1);
    assert_eq!(rib.route_counts(p[0]).total(), 2);
}

#[test]
fn changes_report_old_and_new_selection_sorted_by_prefix() {
    let (mut rib, p) = rib_with_peers(RibConfig::default(), 2);
    let a = net("10.2.0.0/16");
    let b = net("10.1.0.0/16");
    let changes = rib
        .announce(p[1], &[Nlri::new(a), Nlri::new(b)], &attrs(&[65002, 1], 2))
        .unwrap();
    assert_eq!(changes.iter().map(|c| c.prefix).collect::<Vec<_>>(), [b, a]);
    assert!(changes
        .iter()
        .all(|c| c.old.is_empty() && c.new_best().unwrap().peer == p[1]));

    // A better path for `a` only.
    let changes = rib
        .announce(p[0], &[Nlri::new(a)], &attrs(&[65001], 1))
        .unwrap();
    assert_eq!(changes.len(), 1);
    let change = changes.iter().next().unwrap();
    assert_eq!(
        (
            change.prefix,
            change.old_best().unwrap().peer,
            change.new_best().unwrap().peer
        ),
        (a, p[1], p[0])
    );
    assert!(change.best_changed());

    // A worse path changes nothing selected.
    assert!(rib
        .announce(p[1], &[Nlri::new(a)], &attrs(&[65002, 1, 2], 2))
        .unwrap()
        .is_empty());
    // Re-announcing the same path changes nothing.
    assert!(rib
        .announce(p[0], &[Nlri::new(a)], &attrs(&[65001], 1))
        .unwrap()
        .is_empty());
    // New attributes on the best path: same peer, new handle, a change.
    let changes = rib
        .announce(p[0], &[Nlri::new(a)], &attrs(&[65001], 9))
        .unwrap();
    let change = changes.iter().next().unwrap();
    assert_eq!(
        change.old_best().unwrap().peer,
        change.new_best().unwrap().peer
    );
    assert_ne!(
        change.old_best().unwrap().attrs,
        change.new_best().unwrap().attrs
    );

    // Withdrawing the best falls back; withdrawing the last empties.
    let changes = rib.withdraw(p[0], &[Nlri::new(a)]).unwrap();
    assert_eq!(
        changes.iter().next().unwrap().new_best().unwrap().peer,
        p[1]
    );
    let changes = rib.withdraw(p[1], &[Nlri::new(a), Nlri::new(a)]).unwrap();
    assert!(changes.iter().next().unwrap().new.is_empty());
    assert_eq!(rib.best(a), None);
    // Withdrawing what is not there is a no-op.
    assert!(rib
        .withdraw(p[0], &[Nlri::new(net("192.0.2.0/24"))])
        .unwrap()
        .is_empty());
}

/// `withdraw_with_paths` under the RIB's own ranking, one batch of routes: the shorter AS
/// path (RFC 4271 9.1.2.2 a) is best, so withdrawing it falls back to the longer one; the
/// entries name, per route the peer had and in the batch's order, its prefix (host bits
/// cleared) and the paths left (the new best first), a route not held adds none, and the
/// last path leaving empties the prefix.
#[test]
fn withdrawing_with_paths_hands_back_what_is_left_per_route_held() {
    let (mut rib, p) = rib_with_peers(RibConfig::default(), 2);
    let (a, b, absent) = (net("10.1.0.0/16"), net("10.2.0.0/16"), net("192.0.2.0/24"));
    let _ = rib
        .announce(p[0], &[Nlri::new(a), Nlri::new(b)], &attrs(&[65001], 1))
        .unwrap();
    let _ = rib
        .announce(p[1], &[Nlri::new(a)], &attrs(&[65002, 7], 2))
        .unwrap();
    let mut entries = Vec::new();
    // `b` as a peer may write it, with host bits set (RFC 4271 4.3: they are irrelevant).
    let b_with_host_bits = Nlri {
        prefix: net("10.2.9.9/16"),
        path_id: None,
    };
    let batch = [b_with_host_bits, Nlri::new(absent), Nlri::new(a)];
    let changes = rib
        .withdraw_with_paths(p[0], &batch, &mut entries, &mut Vec::new())
        .unwrap();
    let handed: Vec<(IpNet, Vec<PeerId>)> = entries
        .iter()
        .map(|(prefix, paths)| (*prefix, paths.iter().map(|path| path.peer).collect()))
        .collect();
    assert_eq!(handed, [(b, vec![]), (a, vec![p[1]])]);
    let changed: Vec<(IpNet, Option<PeerId>)> = changes
        .iter()
        .map(|c| (c.prefix, c.new_best().map(|path| path.peer)))
        .collect();
    assert_eq!(changed, [(a, Some(p[1])), (b, None)]);
    assert_eq!(rib.best(b), None);
    assert_eq!(rib.prefix_counts().ipv4, 1);
    // The same batch again: nothing held, nothing handed back.
    entries.clear();
    assert!(rib
        .withdraw_with_paths(p[0], &batch, &mut entries, &mut Vec::new())
        .unwrap()
        .is_empty());
    assert!(entries.is_empty());
}

/// Withdrawing everything route by route (in UPDATE-sized batches) gives the memory back
/// as `Rib::withdraw` documents: the Adj-RIB-In index once the peer holds nothing, the
/// Loc-RIB's table once it is less than a quarter full.
#[test]
fn withdrawing_everything_gives_the_tables_memory_back() {
    for ranking in [rib::Ranking::Decision, rib::Ranking::Caller] {
        let config = RibConfig {
            ranking,
            ..RibConfig::azure()
        };
        let (mut rib, p) = rib_with_peers(config, 1);
        let routes: Vec<Nlri> = (0..50_000u32)
            .map(|i| Nlri::new(net(&format!("10.{}.{}.0/24", i / 256, i % 256))))
            .collect();
        for batch in routes.chunks(1000) {
            let _ = rib.announce(p[0], batch, &attrs(&[65001], 1)).unwrap();
        }
        let loaded = rib.memory_usage();
        for batch in routes.chunks(1018) {
            let _ = rib.withdraw(p[0], batch).unwrap();
        }
        let emptied = rib.memory_usage();
        assert_eq!(rib.prefix_counts().ipv4, 0);
        assert!(
            emptied.loc_rib < loaded.loc_rib / 4,
            "{ranking:?}: Loc-RIB {} bytes, {} loaded",
            emptied.loc_rib,
            loaded.loc_rib
        );
        assert!(
            emptied.adj_rib_in < loaded.adj_rib_in / 100,
            "{ranking:?}: Adj-RIB-In {} bytes, {} loaded",
            emptied.adj_rib_in,
            loaded.adj_rib_in
        );
    }
}

#[test]
fn changes_of_one_call_are_fused_per_prefix() {
    let (mut rib, p) = rib_with_peers(RibConfig::default(), 1);
    let a = net("10.1.0.0/16");
    // Two ADD-PATH paths of one prefix in one call: a single change, from nothing to path 1.
    let changes = rib
        .announce(
            p[0],
            &[Nlri::with_path_id(a, 2), Nlri::with_path_id(a, 1)],
            &attrs(&[65001], 1),
        )
        .unwrap();
    assert_eq!(changes.len(), 1);
    let change = changes.iter().next().unwrap();
    assert!(change.old.is_empty());
    assert_eq!(change.new_best().unwrap().path_id, Some(1));
    // Withdraw and re-announce in one merged set: nothing changed overall.
    let mut merged = rib.withdraw(p[0], &[Nlri::with_path_id(a, 1)]).unwrap();
    merged.merge(
        rib.announce(p[0], &[Nlri::with_path_id(a, 1)], &attrs(&[65001], 1))
            .unwrap(),
    );
    assert!(merged.is_empty(), "{merged:?}");
}

#[test]
fn add_path_routes_are_separate_in_the_adj_rib_in() {
    let (mut rib, p) = rib_with_peers(RibConfig::azure(), 1);
    let a = net("10.1.0.0/16");
    let _ = rib
        .announce(p[0], &[Nlri::with_path_id(a, 1)], &attrs(&[65001], 1))
        .unwrap();
    let _ = rib
        .announce(p[0], &[Nlri::with_path_id(a, 2)], &attrs(&[65001], 2))
        .unwrap();
    let _ = rib
        .announce(p[0], &[Nlri::with_path_id(a, 3)], &attrs(&[65001, 5], 3))
        .unwrap();
    let adj = rib.adj_rib_in(p[0]);
    assert_eq!(
        adj.iter().map(|r| r.path_id).collect::<Vec<_>>(),
        [Some(1), Some(2), Some(3)]
    );
    assert_eq!(rib.route_counts(p[0]).ipv4, 3);
    assert_eq!(
        rib.ecmp(a).iter().map(|r| r.path_id).collect::<Vec<_>>(),
        [Some(1), Some(2)]
    );
    let all: Vec<_> = rib.paths(a).iter().map(|r| r.path_id).collect();
    assert_eq!(all, [Some(1), Some(2), Some(3)]);
    assert!(rib.paths(net("10.9.0.0/16")).is_empty());
    let _ = rib.withdraw(p[0], &[Nlri::with_path_id(a, 1)]).unwrap();
    assert_eq!(
        rib.ecmp(a).iter().map(|r| r.path_id).collect::<Vec<_>>(),
        [Some(2)]
    );
}

#[test]
fn graceful_restart_sweeps_only_what_was_not_refreshed() {
    let (mut rib, p) = rib_with_peers(RibConfig::default(), 2);
    let (a, b, c) = (net("10.1.0.0/16"), net("10.2.0.0/16"), net("2001:db8::/32"));
    let _ = rib
        .announce(
            p[0],
            &[Nlri::new(a), Nlri::new(b), Nlri::new(c)],
            &attrs(&[65001], 1),
        )
        .unwrap();
    let _ = rib
        .announce(p[1], &[Nlri::new(b)], &attrs(&[65002, 7], 2))
        .unwrap();

    assert_eq!(rib.mark_stale(p[0]).unwrap(), 3);
    assert!(rib.adj_rib_in(p[0]).iter().all(|r| r.stale));
    assert!(rib.adj_rib_in(p[1]).iter().all(|r| !r.stale));
    // Stale routes stay in use.
    assert_eq!(rib.best(b).unwrap().peer, p[0]);
    // The restarted peer re-announces `a` only (same attributes: no change at all).
    assert!(rib
        .announce(p[0], &[Nlri::new(a)], &attrs(&[65001], 1))
        .unwrap()
        .is_empty());
    let stale: Vec<_> = rib
        .adj_rib_in(p[0])
        .iter()
        .filter(|r| r.stale)
        .map(|r| r.prefix)
        .collect();
    assert_eq!(stale, [b, c]);

    let changes = rib.sweep_stale(p[0]).unwrap();
    assert_eq!(changes.iter().map(|c| c.prefix).collect::<Vec<_>>(), [b, c]);
    assert_eq!(rib.best(b).unwrap().peer, p[1]);
    assert_eq!(rib.best(c), None);
    assert_eq!(rib.best(a).unwrap().peer, p[0]);
    assert!(rib.sweep_stale(p[0]).unwrap().is_empty());
}

#[test]
fn longest_prefix_match_in_both_families() {
    let (mut rib, p) = rib_with_peers(RibConfig::default(), 1);
    let routes = [
        "0.0.0.0/0",
        "10.0.0.0/8",
        "10.1.0.0/16",
        "10.1.2.0/24",
        "10.1.2.3/32",
        "2001:db8::/32",
        "2001:db8:1::/48",
    ];
    let nlri: Vec<_> = routes.iter().map(|r| Nlri::new(net(r))).collect();
    let _ = rib.announce(p[0], &nlri, &attrs(&[65001], 1)).unwrap();
    let matched = |rib: &Rib, addr: &str| {
        rib.lookup(addr.parse().unwrap())
            .map(|(prefix, paths)| (prefix.to_string(), paths.len()))
    };
    assert_eq!(matched(&rib, "10.1.2.3"), Some(("10.1.2.3/32".into(), 1)));
    assert_eq!(matched(&rib, "10.1.2.4"), Some(("10.1.2.0/24".into(), 1)));
    assert_eq!(matched(&rib, "10.1.3.4"), Some(("10.1.0.0/16".into(), 1)));
    assert_eq!(matched(&rib, "10.2.0.1"), Some(("10.0.0.0/8".into(), 1)));
    assert_eq!(matched(&rib, "192.0.2.1"), Some(("0.0.0.0/0".into(), 1)));
    assert_eq!(
        matched(&rib, "2001:db8:1::5"),
        Some(("2001:db8:1::/48".into(), 1))
    );
    assert_eq!(
        matched(&rib, "2001:db8:2::5"),
        Some(("2001:db8::/32".into(), 1))
    );
    assert_eq!(matched(&rib, "2001:db9::1"), None);
    let _ = rib
        .withdraw(
            p[0],
            &[Nlri::new(net("0.0.0.0/0")), Nlri::new(net("10.0.0.0/8"))],
        )
        .unwrap();
    assert_eq!(matched(&rib, "192.0.2.1"), None);
    assert_eq!(matched(&rib, "10.2.0.1"), None);
}

#[test]
fn best_excluding_hides_a_peers_own_paths_only() {
    let (mut rib, p) = rib_with_peers(RibConfig::azure(), 3);
    let a = net("10.1.0.0/16");
    let _ = rib
        .announce(p[0], &[Nlri::new(a)], &attrs(&[65001], 1))
        .unwrap();
    let _ = rib
        .announce(p[1], &[Nlri::new(a)], &attrs(&[65002], 2))
        .unwrap();
    let _ = rib
        .announce(p[2], &[Nlri::new(a)], &attrs(&[65003, 65003], 3))
        .unwrap();
    assert_eq!(rib.best(a).unwrap().peer, p[0]);
    assert_eq!(rib.best_excluding(a, p[0]).unwrap().peer, p[1]);
    assert_eq!(rib.best_excluding(a, p[2]).unwrap().peer, p[0]);
    assert_eq!(
        rib.ecmp_excluding(a, p[0])
            .iter()
            .map(|r| r.peer)
            .collect::<Vec<_>>(),
        [p[1]]
    );
    assert_eq!(
        rib.ecmp_excluding(a, p[2])
            .iter()
            .map(|r| r.peer)
            .collect::<Vec<_>>(),
        [p[0], p[1]]
    );
    let _ = rib.withdraw(p[1], &[Nlri::new(a)]).unwrap();
    assert_eq!(rib.best_excluding(a, p[0]).unwrap().peer, p[2]);
    let _ = rib.withdraw(p[2], &[Nlri::new(a)]).unwrap();
    assert_eq!(rib.best_excluding(a, p[0]), None);
    assert_eq!(rib.best_excluding(net("10.9.0.0/16"), p[0]), None);
}

#[test]
fn best_excluding_reruns_the_med_elimination() {
    // a (AS 1, MED 0) knocks b (AS 1, MED 5) out at MED; c (AS 2) then beats a on IGP
    // cost, and b would beat c on IGP cost. Excluding a's peer brings b back.
    let mut rib = Rib::new(RibConfig::default());
    let info = |last, cost| PeerInfo {
        igp_cost: cost,
        ..peer(last)
    };
    let (pa, pb, pc) = (
        rib.add_peer(info(1, 20)).unwrap(),
        rib.add_peer(info(2, 1)).unwrap(),
        rib.add_peer(info(3, 10)).unwrap(),
    );
    let with_med = |path: &[u32], med| {
        let mut v = attrs(path, 1);
        v.push(PathAttribute::new(AttrValue::MultiExitDisc(med)));
        v
    };
    let x = net("10.1.0.0/16");
    let _ = rib
        .announce(pa, &[Nlri::new(x)], &with_med(&[1, 9], 0))
        .unwrap();
    let _ = rib
        .announce(pb, &[Nlri::new(x)], &with_med(&[1, 9], 5))
        .unwrap();
    let _ = rib
        .announce(pc, &[Nlri::new(x)], &attrs(&[2, 9], 3))
        .unwrap();
    assert_eq!(rib.best(x).unwrap().peer, pc);
    assert_eq!(
        rib.best_excluding(x, pa).unwrap().peer,
        pb,
        "without a, b survives MED and wins on IGP cost"
    );
    let explanation = rib.explain(x).unwrap();
    let steps: Vec<_> = explanation
        .beaten
        .iter()
        .map(|(path, step)| (path.peer, *step))
        .collect();
    assert_eq!(
        steps,
        [(pa, DecisionStep::IgpCost), (pb, DecisionStep::Med)]
    );
}

#[test]
fn igp_cost_changes_rerun_the_decision() {
    let (mut rib, p) = rib_with_peers(RibConfig::default(), 2);
    let a = net("10.1.0.0/16");
    let _ = rib
        .announce(p[0], &[Nlri::new(a)], &attrs(&[65001], 1))
        .unwrap();
    let _ = rib
        .announce(p[1], &[Nlri::new(a)], &attrs(&[65002], 2))
        .unwrap();
    assert_eq!(rib.best(a).unwrap().peer, p[0]);
    let changes = rib.set_igp_cost(p[0], 50).unwrap();
    assert_eq!(
        changes.iter().next().unwrap().new_best().unwrap().peer,
        p[1]
    );
    assert_eq!(rib.peer(p[0]).unwrap().igp_cost, 50);
}

#[test]
fn next_hop_costs_override_the_peer_cost_for_every_path_via_that_next_hop() {
    let (mut rib, p) = rib_with_peers(RibConfig::default(), 2);
    let (a, b) = (net("10.1.0.0/16"), net("10.2.0.0/16"));
    let _ = rib
        .announce(p[0], &[Nlri::new(a), Nlri::new(b)], &attrs(&[65001], 1))
        .unwrap();
    let _ = rib
        .announce(p[1], &[Nlri::new(a)], &attrs(&[65002], 2))
        .unwrap();
    let _ = rib
        .announce(p[1], &[Nlri::new(b)], &attrs(&[65002], 3))
        .unwrap();
    assert_eq!(
        (rib.best(a).unwrap().peer, rib.best(b).unwrap().peer),
        (p[0], p[0])
    );
    // Next hop 10.0.0.1 (peer 1's) becomes expensive: both prefixes move to peer 2.
    let changes = rib.set_next_hop_cost(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), Some(10));
    assert_eq!(changes.iter().map(|c| c.prefix).collect::<Vec<_>>(), [a, b]);
    assert_eq!(rib.explain(a).unwrap().beaten[0].1, DecisionStep::IgpCost);
    // Next hop 10.0.0.3 (used for b only) costs more still: b goes back to peer 1.
    let changes = rib.set_next_hop_cost(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)), Some(20));
    assert_eq!(
        changes
            .iter()
            .map(|c| (c.prefix, c.new_best().unwrap().peer))
            .collect::<Vec<_>>(),
        [(b, p[0])]
    );
    // Paths announced later with that next hop get the cost too.
    let c = net("10.3.0.0/16");
    let _ = rib
        .announce(p[0], &[Nlri::new(c)], &attrs(&[65001], 1))
        .unwrap();
    let _ = rib
        .announce(p[1], &[Nlri::new(c)], &attrs(&[65002], 2))
        .unwrap();
    assert_eq!(rib.best(c).unwrap().peer, p[1]);
    // Clearing falls back to the peers' costs (0 each): the router id decides again.
    let _ = rib.set_next_hop_cost(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), None);
    let _ = rib.set_next_hop_cost(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)), None);
    assert!([a, b, c].iter().all(|x| rib.best(*x).unwrap().peer == p[0]));
    assert!(rib
        .set_next_hop_cost(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), Some(5))
        .is_empty());
}

#[test]
fn heavy_churn_keeps_the_adj_rib_in_exact() {
    // Thousands of withdraw/announce cycles: the Adj-RIB-In must list each live route
    // once, count it once, and drop, mark and sweep exactly those.
    let (mut rib, p) = rib_with_peers(RibConfig::default(), 2);
    let prefix = |i: u32| Nlri::new(net(&format!("10.{}.{}.0/24", i / 256, i % 256)));
    let mut live = std::collections::BTreeSet::new();
    let mut state = 12345u32;
    for round in 0..20_000u32 {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let i = (state >> 8) % 300;
        if live.contains(&i) && round % 3 != 0 {
            let _ = rib.withdraw(p[0], &[prefix(i)]).unwrap();
            live.remove(&i);
        } else {
            let _ = rib
                .announce(p[0], &[prefix(i)], &attrs(&[65001], 1 + (round % 2) as u8))
                .unwrap();
            live.insert(i);
        }
        if round % 5000 == 4999 {
            let listed: Vec<IpNet> = rib.adj_rib_in(p[0]).iter().map(|r| r.prefix).collect();
            let mut expected: Vec<IpNet> = live.iter().map(|&i| prefix(i).prefix).collect();
            expected.sort();
            assert_eq!(listed, expected, "round {round}");
            assert_eq!(rib.route_counts(p[0]).ipv4, live.len());
        }
    }
    let _ = rib
        .announce(p[1], &[prefix(0), prefix(1)], &attrs(&[65002, 7], 2))
        .unwrap();
    assert_eq!(rib.mark_stale(p[0]).unwrap(), live.len());
    let keep: Vec<u32> = live.iter().copied().take(10).collect();
    for &i in &keep {
        let _ = rib
            .announce(p[0], &[prefix(i)], &attrs(&[65001], 1))
            .unwrap();
    }
    let swept = rib.sweep_stale(p[0]).unwrap();
    assert_eq!(rib.route_counts(p[0]).ipv4, keep.len());
    let stale_prefixes = live.len() - keep.len();
    let survivors_from_peer_2 = [0u32, 1]
        .iter()
        .filter(|i| live.contains(i) && !keep.contains(i))
        .count();
    assert_eq!(swept.len(), stale_prefixes, "every swept prefix changed");
    assert_eq!(
        swept.iter().filter(|c| !c.new.is_empty()).count(),
        survivors_from_peer_2
    );
    let dropped = rib.drop_peer(p[0]).unwrap();
    assert_eq!(dropped.len(), keep.len());
    assert_eq!(rib.route_counts(p[0]).total(), 0);
    assert!(rib.adj_rib_in(p[0]).is_empty());
    assert_eq!(rib.prefix_counts().ipv4, 2, "only peer 2's routes are left");
}

#[test]
fn peers_are_checked_and_ids_reused_after_removal() {
    let (mut rib, p) = rib_with_peers(RibConfig::default(), 2);
    let a = net("10.1.0.0/16");
    let _ = rib
        .announce(p[0], &[Nlri::new(a)], &attrs(&[65001], 1))
        .unwrap();
    let changes = rib.remove_peer(p[0]).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        rib.announce(p[0], &[Nlri::new(a)], &attrs(&[1], 1)),
        Err(RibError::UnknownPeer(p[0]))
    );
    assert_eq!(rib.withdraw(p[0], &[]), Err(RibError::UnknownPeer(p[0])));
    assert_eq!(rib.mark_stale(p[0]), Err(RibError::UnknownPeer(p[0])));
    assert!(rib.peer(p[0]).is_none());
    assert_eq!(rib.peers().count(), 1);
    let again = rib.add_peer(peer(9)).unwrap();
    assert_eq!(again, p[0]);
    assert!(rib.adj_rib_in(again).is_empty());
}

#[test]
fn attribute_accessors_read_the_interned_set() {
    let (mut rib, p) = rib_with_peers(RibConfig::default(), 1);
    let mut attributes = attrs(&[65001, 65002], 1);
    attributes.push(PathAttribute::new(AttrValue::LocalPref(300)));
    attributes.push(PathAttribute::new(AttrValue::MultiExitDisc(7)));
    attributes.push(PathAttribute::new(AttrValue::Communities(vec![
        Community::NO_EXPORT,
    ])));
    let a = net("10.1.0.0/16");
    let _ = rib.announce(p[0], &[Nlri::new(a)], &attributes).unwrap();
    let set = rib.attrs(rib.best(a).unwrap().attrs).unwrap();
    assert_eq!(
        (
            set.local_pref(),
            set.med(),
            set.origin(),
            set.as_path_length()
        ),
        (Some(300), Some(7), Origin::Igp, 2)
    );
    assert_eq!(set.as_path().unwrap().first_as(), Some(65001));
    assert!(set.get(bgp_wire::AttrType::COMMUNITIES).is_some());
    let codes: Vec<_> = set.attributes().iter().map(|a| a.type_code().0).collect();
    assert!(
        codes.windows(2).all(|w| w[0] <= w[1]),
        "sorted by type code: {codes:?}"
    );
}

/// `Ranking::Caller` against a model written from its documentation: the paths stored
/// per prefix are exactly what was announced and not withdrawn (a re-announcement
/// replaces), `announce_with_paths` hands back exactly those paths and
/// `withdraw_with_paths` exactly those left (nothing for a path the peer did not have),
/// nothing is selected,
/// no mutation reports a change, and dropping a peer names exactly the prefixes it held.
#[test]
fn caller_ranking_stores_exactly_the_announced_paths_and_selects_nothing() {
    use std::collections::BTreeMap;

    let config = RibConfig {
        ranking: rib::Ranking::Caller,
        ..RibConfig::azure()
    };
    let (mut rib, p) = rib_with_peers(config, 4);
    // The model: prefix -> (peer index, path id) -> next hop of its attributes.
    let mut model: BTreeMap<IpNet, BTreeMap<(usize, Option<u32>), u8>> = BTreeMap::new();
    let prefix_of = |n: u64| -> IpNet {
        if n % 5 == 0 {
            net(&format!("2001:db8:{:x}::/48", n % 40))
        } else {
            net(&format!("10.{}.{}.0/24", n % 3, n % 37))
        }
    };
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for step in 0..4000 {
        let (op, who, n, hop) = (next() % 10, next() as usize % 4, next(), next() % 3 + 1);
        let prefix = prefix_of(n);
        let path_id = (n % 7 == 0).then_some((n % 3) as u32);
        let nlri = match path_id {
            Some(id) => Nlri::with_path_id(prefix, id),
            None => Nlri::new(prefix),
        };
        let changes = match op {
            0..=5 => {
                let attributes = if prefix.addr().is_ipv6() {
                    let mut a = attrs(&[65001, 65000 + n as u32 % 4], hop as u8);
                    a.push(PathAttribute::new(AttrValue::MpReachNlri(MpReach {
                        family: Family::IPV6_UNICAST,
                        next_hop: MpNextHop::Ipv6 {
                            global: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, hop as u16),
                            link_local: None,
                        },
                        reserved: 0,
                        nlri: MpNlri::Prefixes(vec![nlri]),
                    })));
                    a
                } else {
                    attrs(&[65001, 65000 + n as u32 % 4], hop as u8)
                };
                let paths = model.entry(prefix).or_default();
                paths.insert((who, path_id), hop as u8);
                let expected: Vec<(usize, Option<u32>)> = paths.keys().copied().collect();
                // Storing hands back the prefix's entry: every path it now has.
                let mut entries = Vec::new();
                let changes = rib
                    .announce_with_paths(p[who], &[nlri], &attributes, &mut entries)
                    .unwrap();
                assert_eq!(entries.len(), 1, "step {step}: one entry per route");
                assert_eq!(entries[0].0, prefix, "step {step}");
                let mut handed: Vec<(usize, Option<u32>)> = entries[0]
                    .1
                    .iter()
                    .map(|path| {
                        let who = p.iter().position(|&id| id == path.peer).unwrap();
                        (who, path.path_id)
                    })
                    .collect();
                handed.sort();
                assert_eq!(handed, expected, "step {step}: entry of {prefix}");
                changes
            }
            6..=8 => {
                // What the model says the withdrawal leaves: `None` when the peer had no
                // such path (nothing is handed back), else the prefix's remaining paths.
                let mut left: Option<Vec<(usize, Option<u32>)>> = None;
                if let Some(paths) = model.get_mut(&prefix) {
                    if paths.remove(&(who, path_id)).is_some() {
                        left = Some(paths.keys().copied().collect());
                    }
                    if paths.is_empty() {
                        model.remove(&prefix);
                    }
                }
                if op == 8 {
                    rib.withdraw(p[who], &[nlri]).unwrap()
                } else {
                    // Removing hands back the prefix's entry: every path it has left.
                    let mut entries = Vec::new();
                    let changes = rib
                        .withdraw_with_paths(p[who], &[nlri], &mut entries, &mut Vec::new())
                        .unwrap();
                    let handed: Option<Vec<(usize, Option<u32>)>> = match entries.as_slice() {
                        [] => None,
                        [(at, paths)] => {
                            assert_eq!(*at, prefix, "step {step}");
                            let mut handed: Vec<_> = paths
                                .iter()
                                .map(|path| {
                                    let who = p.iter().position(|&id| id == path.peer).unwrap();
                                    (who, path.path_id)
                                })
                                .collect();
                            handed.sort();
                            Some(handed)
                        }
                        more => panic!("step {step}: {} entries for one route", more.len()),
                    };
                    assert_eq!(handed, left, "step {step}: entry of {prefix}");
                    changes
                }
            }
            _ => {
                let (mut dropped, mut tags) = (Vec::new(), Vec::new());
                let changes = rib
                    .drop_peer_prefixes(p[who], &mut dropped, &mut tags)
                    .unwrap();
                assert!(tags.is_empty(), "step {step}: nothing was tagged");
                dropped.sort();
                dropped.dedup();
                let held: Vec<IpNet> = model
                    .iter()
                    .filter(|(_, paths)| paths.keys().any(|(peer, _)| *peer == who))
                    .map(|(prefix, _)| *prefix)
                    .collect();
                assert_eq!(dropped, held, "step {step}: the dropped peer's prefixes");
                for paths in model.values_mut() {
                    paths.retain(|(peer, _), _| *peer != who);
                }
                model.retain(|_, paths| !paths.is_empty());
                changes
            }
        };
        assert!(changes.is_empty(), "step {step}: nothing is selected");
        assert_eq!(
            rib.prefix_counts().ipv4 + rib.prefix_counts().ipv6,
            model.len(),
            "step {step}: prefixes stored"
        );
        for (prefix, paths) in &model {
            let mut stored: Vec<((usize, Option<u32>), u8)> = rib
                .paths_unordered(*prefix)
                .map(|path| {
                    let who = p.iter().position(|&id| id == path.peer).unwrap();
                    let hop = match rib.attrs(path.attrs).unwrap().next_hop().unwrap() {
                        IpAddr::V4(a) => a.octets()[3],
                        IpAddr::V6(a) => a.segments()[7] as u8,
                    };
                    ((who, path.path_id), hop)
                })
                .collect();
            stored.sort();
            let expected: Vec<((usize, Option<u32>), u8)> =
                paths.iter().map(|(k, v)| (*k, *v)).collect();
            assert_eq!(stored, expected, "step {step}: paths of {prefix}");
            assert_eq!(rib.best(*prefix), None, "step {step}: {prefix} has no best");
        }
    }
    for &peer in &p {
        assert!(rib.drop_peer(peer).unwrap().is_empty());
    }
    // Freed sets go at the next mutation (handles in change sets resolve until then).
    let _ = rib.withdraw(p[0], &[]).unwrap();
    assert_eq!(rib.attr_set_count(), 0, "every attribute set freed");
    assert_eq!(rib.prefix_counts().ipv4 + rib.prefix_counts().ipv6, 0);
}

/// Caller's tags against a model written from `Rib::tag_entry`'s documentation, under
/// both rankings, with paths announced, withdrawn (by every removal path: one by one,
/// handing back, peers dropped) and tags set and cleared at random:
/// * a tag reads back as set until it is cleared, whatever happens to the paths,
///   except that `withdraw_with_paths` and `drop_peer_prefixes` remove the tags of the
///   prefixes they leave without paths and hand exactly those back;
/// * a tag alone is no route: counts, `best`, `paths`, `lookup`, `loc_rib` and `prefixes`
///   see only prefixes with paths; `prefixes_or_tagged` lists the union;
/// * a prefix with neither paths nor tag leaves no entry (the Loc-RIB's memory falls back).
#[test]
fn caller_tags_follow_their_documented_lifetime() {
    use std::collections::{BTreeMap, BTreeSet};
    use std::num::NonZeroU32;

    for ranking in [rib::Ranking::Decision, rib::Ranking::Caller] {
        let config = RibConfig {
            ranking,
            ..RibConfig::azure()
        };
        let (mut rib, p) = rib_with_peers(config, 3);
        let empty_memory = rib.memory_usage().loc_rib;
        let mut paths: BTreeMap<IpNet, BTreeSet<usize>> = BTreeMap::new();
        let mut tags: BTreeMap<IpNet, NonZeroU32> = BTreeMap::new();
        let prefix_of = |n: u64| -> IpNet {
            if n % 4 == 0 {
                net(&format!("2001:db8:{:x}::/48", n % 24))
            } else {
                net(&format!("10.{}.{}.0/24", n % 2, n % 29))
            }
        };
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for step in 0..5000 {
            let (op, who, n) = (next() % 12, next() as usize % 3, next());
            let prefix = prefix_of(n);
            let nlri = [Nlri::new(prefix)];
            match op {
                0..=3 => {
                    let mut attributes = attrs(&[65001 + who as u32], 1);
                    if prefix.addr().is_ipv6() {
                        attributes.push(PathAttribute::new(AttrValue::MpReachNlri(MpReach {
                            family: Family::IPV6_UNICAST,
                            next_hop: MpNextHop::Ipv6 {
                                global: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
                                link_local: None,
                            },
                            reserved: 0,
                            nlri: MpNlri::Prefixes(nlri.to_vec()),
                        })));
                    }
                    let _ = rib.announce(p[who], &nlri, &attributes).unwrap();
                    paths.entry(prefix).or_default().insert(who);
                }
                4 | 5 => {
                    let mut handed = Vec::new();
                    if op == 4 {
                        let _ = rib.withdraw(p[who], &nlri).unwrap();
                    } else {
                        let mut entries = Vec::new();
                        let _ = rib.withdraw_with_paths(p[who], &nlri, &mut entries, &mut handed);
                    }
                    let mut expected = Vec::new();
                    if let Some(held) = paths.get_mut(&prefix) {
                        if held.remove(&who) && held.is_empty() {
                            paths.remove(&prefix);
                            // Handing back: the last path's removal takes the tag with it.
                            if op == 5 {
                                expected.extend(tags.remove(&prefix).map(|tag| (prefix, tag)));
                            }
                        }
                    }
                    assert_eq!(handed, expected, "step {step}: tags handed back");
                }
                6..=8 => {
                    let tag = NonZeroU32::new((next() % 1000 + 1) as u32);
                    let entry = rib.tag_entry(prefix);
                    assert_eq!(entry.get(), tags.get(&prefix).copied(), "step {step}");
                    entry.set(tag);
                    tags.insert(prefix, tag.unwrap());
                }
                9 | 10 => {
                    rib.tag_entry(prefix).set(None);
                    tags.remove(&prefix);
                }
                _ => {
                    let (mut dropped, mut handed) = (Vec::new(), Vec::new());
                    let _ = rib
                        .drop_peer_prefixes(p[who], &mut dropped, &mut handed)
                        .unwrap();
                    let mut expected = Vec::new();
                    for (prefix, held) in paths.iter_mut() {
                        if held.remove(&who) && held.is_empty() {
                            if let Some(tag) = tags.remove(prefix) {
                                expected.push((*prefix, tag));
                            }
                        }
                    }
                    paths.retain(|_, held| !held.is_empty());
                    handed.sort();
                    assert_eq!(handed, expected, "step {step}: tags handed back");
                }
            }
            let mut listed: Vec<(IpNet, NonZeroU32)> = rib.tags().collect();
            listed.sort();
            let model: Vec<(IpNet, NonZeroU32)> = tags.iter().map(|(k, v)| (*k, *v)).collect();
            assert_eq!(listed, model, "step {step}: tags");
            assert_eq!(rib.tag(prefix), tags.get(&prefix).copied(), "step {step}");
            let counts = rib.prefix_counts();
            assert_eq!(counts.ipv4 + counts.ipv6, paths.len(), "step {step}");
            let mut stored: Vec<IpNet> = rib.prefixes().collect();
            stored.sort();
            assert_eq!(
                stored,
                paths.keys().copied().collect::<Vec<_>>(),
                "step {step}"
            );
            let loc: Vec<IpNet> = rib.loc_rib().into_iter().map(|(p, _)| p).collect();
            if ranking == rib::Ranking::Decision {
                assert_eq!(loc, stored, "step {step}: loc_rib");
            }
            let mut union: Vec<IpNet> = rib.prefixes_or_tagged().collect();
            union.sort();
            let expected: BTreeSet<IpNet> = paths.keys().chain(tags.keys()).copied().collect();
            assert_eq!(
                union,
                expected.into_iter().collect::<Vec<_>>(),
                "step {step}"
            );
            let held = paths.contains_key(&prefix);
            assert_eq!(rib.paths(prefix).is_empty(), !held, "step {step}");
            if ranking == rib::Ranking::Decision {
                assert_eq!(rib.best(prefix).is_some(), held, "step {step}: best");
                // Longest-prefix match of an address inside the prefix: the prefix itself
                // when it has paths (no covering prefix is ever stored), else nothing.
                let found = rib.lookup(prefix.addr()).map(|(p, _)| p);
                assert_eq!(found, held.then_some(prefix), "step {step}: lookup");
            }
        }
        for &peer in &p {
            let (mut dropped, mut handed) = (Vec::new(), Vec::new());
            let _ = rib.drop_peer_prefixes(peer, &mut dropped, &mut handed);
        }
        let left: Vec<IpNet> = rib.tags().map(|(p, _)| p).collect();
        for prefix in left {
            rib.tag_entry(prefix).set(None);
        }
        assert_eq!(rib.prefixes_or_tagged().count(), 0);
        let _ = rib.announce(p[0], &[], &[]);
        assert!(
            rib.memory_usage().loc_rib <= empty_memory + 8 * 64,
            "the table gave its memory back: {} against {empty_memory}",
            rib.memory_usage().loc_rib
        );
    }
}
