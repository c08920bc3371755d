//! Withdrawing many prefixes at once, where some lose their last path and others fall
//! back to another NVA's: the route server's pass settles the first kind once per
//! distinct per-prefix state and replays that outcome for the others, so these tests
//! check every prefix of such a block against what the spec says it must end as (spec
//! section 1.4: the shortest AS path wins; an NVA is not sent its own route back; a
//! prefix nobody announces is neither programmed nor advertised), and that the counts of
//! routes advertised stay right through withdrawing, re-announcing and withdrawing again.
//! The pass replays announcements too (once per distinct state and candidates): the last
//! test mixes prefixes of several states in each UPDATE.

mod support;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use bgp_fsm::State;
use fabric_sim::lab::{route, Lab};
use ipnet::IpNet;
use route_server::{
    Config, MatchCondition, NextStep, PeerConfig, RouteMap, RouteMapAction, RouteMapRule,
};
use support::{ip, net, nva as v4, RS};

/// The virtual network's own range, advertised to every NVA (spec section 1.2).
const VNET: &str = "10.1.0.0/16";

/// NVAs A (10.1.2.4, AS 65001), B (.5, 65002) and C (.6, 65003), connected.
fn three_nvas() -> Lab {
    let mut config = Config::azure(RS, vec![net(VNET)]);
    let nvas = [(4, 65001), (5, 65002), (6, 65003)];
    for (last, asn) in nvas {
        config.peers.push(PeerConfig::nva(ip(v4(last)), asn));
    }
    let mut lab = Lab::new(config);
    for (last, asn) in nvas {
        lab.add_nva(v4(last), asn);
    }
    for speaker in &lab.speakers {
        assert_eq!(speaker.session.state(), State::Established);
    }
    lab
}

/// 10.200.`i`.0/24 for `i` in `range`.
fn block(range: std::ops::Range<u8>) -> Vec<IpNet> {
    range.map(|i| net(&format!("10.200.{i}.0/24"))).collect()
}

/// What speaker `speaker` holds from the route server: prefix to AS path.
fn held(lab: &Lab, speaker: usize) -> BTreeMap<IpNet, Vec<u32>> {
    lab.speakers[speaker]
        .received
        .iter()
        .map(|(prefix, attrs)| {
            let path = attrs
                .as_path
                .segments
                .iter()
                .flat_map(|s| s.asns.iter().copied())
                .collect();
            (*prefix, path)
        })
        .collect()
}

/// `prefixes` each with `path`, plus the virtual network's range (AS path 65515).
fn expected(prefixes: &[IpNet], path: &[u32]) -> BTreeMap<IpNet, Vec<u32>> {
    prefixes
        .iter()
        .map(|p| (*p, path.to_vec()))
        .chain([(net(VNET), vec![65515])])
        .collect()
}

/// Routes the route server counts as advertised to speaker `speaker`.
fn advertised_count(lab: &Lab, speaker: usize) -> usize {
    let address = lab.speakers[speaker].address;
    let peer = lab.server.peer_by_address(address).expect("configured");
    lab.server
        .metrics(peer)
        .expect("configured")
        .count_of_routes_advertised_to_peer
}

/// The fabric as the spec's hub would program it: each prefix toward `hop`.
fn programmed(prefixes: &[IpNet], hop: Ipv4Addr) -> BTreeMap<IpNet, Vec<IpAddr>> {
    prefixes.iter().map(|p| (*p, vec![ip(hop)])).collect()
}

/// A announces twenty /24s, B the last ten with a longer AS path; A withdraws all twenty
/// in one go. The ten only A had are gone from the fabric and from B and C; the ten B
/// also had fall back to B's path (programmed toward B, sent to A and C, not to B);
/// then the same again after A announces its ten back.
#[test]
fn withdrawing_a_block_leaves_each_prefix_as_the_spec_says_twice_over() {
    let mut lab = three_nvas();
    let (only_a, shared) = (block(0..10), block(10..20));
    let all: Vec<IpNet> = only_a.iter().chain(&shared).copied().collect();
    lab.announce(0, &all, &route(&[65001], v4(4), &[]));
    lab.announce(1, &shared, &route(&[65002, 65002], v4(5), &[]));
    // Before: A's shorter path wins everywhere.
    assert_eq!(lab.fabric, programmed(&all, v4(4)));
    assert_eq!(held(&lab, 1), expected(&all, &[65515, 65001]));
    assert_eq!(held(&lab, 2), expected(&all, &[65515, 65001]));
    assert_eq!(held(&lab, 0), expected(&[], &[]));
    for round in 0..2 {
        lab.withdraw(0, &all);
        let mut fabric = programmed(&shared, v4(5));
        assert_eq!(lab.fabric, fabric, "round {round}");
        assert_eq!(lab.server.fabric().to_map(), fabric, "round {round}");
        assert_eq!(
            held(&lab, 0),
            expected(&shared, &[65515, 65002, 65002]),
            "round {round}"
        );
        assert_eq!(held(&lab, 1), expected(&[], &[]), "round {round}");
        assert_eq!(
            held(&lab, 2),
            expected(&shared, &[65515, 65002, 65002]),
            "round {round}"
        );
        assert_eq!(
            (0..3)
                .map(|s| advertised_count(&lab, s))
                .collect::<Vec<_>>(),
            vec![11, 1, 11],
            "round {round}"
        );
        // A announces its ten back: they are A's again everywhere.
        lab.announce(0, &only_a, &route(&[65001], v4(4), &[]));
        fabric.extend(programmed(&only_a, v4(4)));
        assert_eq!(lab.fabric, fabric, "round {round}");
        assert_eq!(
            held(&lab, 1),
            expected(&only_a, &[65515, 65001]),
            "round {round}"
        );
        let mut c = expected(&shared, &[65515, 65002, 65002]);
        c.extend(expected(&only_a, &[65515, 65001]));
        assert_eq!(held(&lab, 2), c, "round {round}");
        assert_eq!(
            (0..3)
                .map(|s| advertised_count(&lab, s))
                .collect::<Vec<_>>(),
            vec![11, 11, 21],
            "round {round}"
        );
        // The next round withdraws these ten and the shared ten A no longer has.
    }
    // Everything withdrawn: only B's ten remain, and each NVA keeps the range.
    lab.withdraw(0, &all);
    lab.withdraw(1, &shared);
    assert_nothing_left_but_the_range(&lab);
}

/// After every route is withdrawn: nothing programmed, and each NVA holds only the
/// virtual network's range (spec section 1.2).
fn assert_nothing_left_but_the_range(lab: &Lab) {
    assert!(lab.fabric.is_empty());
    assert!(lab.server.fabric().to_map().is_empty());
    for speaker in 0..3 {
        assert_eq!(held(lab, speaker), expected(&[], &[]));
        assert_eq!(advertised_count(lab, speaker), 1);
    }
}

/// The pass ranks a prefix once per distinct state and candidates and replays the outcome
/// for the others (announcements as well as withdrawals that leave a path): here one
/// UPDATE's block mixes prefixes of different states, so each read holds several such
/// groups whose outcomes differ. Every prefix is checked against the spec (section 1.4:
/// the shortest AS path wins and is programmed toward its NVA; an NVA is not sent its own
/// route back) after each step, with the counts of routes advertised. (The test fails
/// when the replay, `PrefixPass::replay`, is made to panic: it goes through it.)
#[test]
fn announcing_over_mixed_states_leaves_each_prefix_as_the_spec_says() {
    let mut lab = three_nvas();
    let (low, mid, high) = (block(0..10), block(10..20), block(20..30));
    let a_block: Vec<IpNet> = low.iter().chain(&mid).copied().collect();
    let b_block: Vec<IpNet> = mid.iter().chain(&high).copied().collect();
    let all: Vec<IpNet> = a_block.iter().chain(&high).copied().collect();
    let counts = |lab: &Lab| (0..3).map(|s| advertised_count(lab, s)).collect::<Vec<_>>();
    let union = |maps: &[BTreeMap<IpNet, Vec<u32>>]| {
        maps.iter()
            .flatten()
            .map(|(p, path)| (*p, path.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    lab.announce(0, &a_block, &route(&[65001], v4(4), &[]));
    // One UPDATE from B: `mid` already has A's shorter path (A stays best), `high` is
    // new (B is best).
    lab.announce(1, &b_block, &route(&[65002, 65002], v4(5), &[]));
    let mut fabric = programmed(&a_block, v4(4));
    fabric.extend(programmed(&high, v4(5)));
    assert_eq!(lab.fabric, fabric);
    assert_eq!(lab.server.fabric().to_map(), fabric);
    assert_eq!(held(&lab, 0), expected(&high, &[65515, 65002, 65002]));
    assert_eq!(held(&lab, 1), expected(&a_block, &[65515, 65001]));
    let c_view = union(&[
        expected(&a_block, &[65515, 65001]),
        expected(&high, &[65515, 65002, 65002]),
    ]);
    assert_eq!(held(&lab, 2), c_view);
    assert_eq!(counts(&lab), vec![11, 21, 31]);
    // C announces everything with the longest path: nothing changes anywhere.
    lab.announce(2, &all, &route(&[65003, 65003, 65003], v4(6), &[]));
    assert_eq!(lab.fabric, fabric);
    assert_eq!(held(&lab, 0), expected(&high, &[65515, 65002, 65002]));
    assert_eq!(held(&lab, 1), expected(&a_block, &[65515, 65001]));
    assert_eq!(held(&lab, 2), c_view);
    assert_eq!(counts(&lab), vec![11, 21, 31]);
    // A withdraws its block in one UPDATE: `low` falls back to C (the only path left),
    // `mid` to B (shorter than C's).
    lab.withdraw(0, &a_block);
    let mut fabric = programmed(&low, v4(6));
    fabric.extend(programmed(&b_block, v4(5)));
    assert_eq!(lab.fabric, fabric);
    assert_eq!(lab.server.fabric().to_map(), fabric);
    assert_eq!(
        held(&lab, 0),
        union(&[
            expected(&low, &[65515, 65003, 65003, 65003]),
            expected(&b_block, &[65515, 65002, 65002]),
        ])
    );
    assert_eq!(held(&lab, 1), expected(&low, &[65515, 65003, 65003, 65003]));
    assert_eq!(held(&lab, 2), expected(&b_block, &[65515, 65002, 65002]));
    assert_eq!(counts(&lab), vec![31, 11, 21]);
    // Everything withdrawn: nothing programmed, each NVA keeps the range.
    lab.withdraw(1, &b_block);
    lab.withdraw(2, &all);
    assert_nothing_left_but_the_range(&lab);
}

/// An outbound route map makes what a receiver is sent depend on the prefix, so a pass
/// with one must not replay one prefix's outcome for another: NVA C's map drops
/// 10.200.0.0/21 (prefixes 0 to 7 of A's block, announced in one UPDATE with the rest),
/// and C is sent exactly the other twelve, B all twenty (the map is C's alone). (The
/// test fails when the pass ignores the map in deciding whether to replay.)
#[test]
fn an_outbound_route_map_is_applied_prefix_by_prefix_within_one_update() {
    let mut config = Config::azure(RS, vec![net(VNET)]);
    let nvas = [(4, 65001), (5, 65002), (6, 65003)];
    for (last, asn) in nvas {
        config.peers.push(PeerConfig::nva(ip(v4(last)), asn));
    }
    config.peers[2].outbound_map = Some(RouteMap {
        rules: vec![RouteMapRule {
            conditions: vec![MatchCondition::PrefixContains(vec![net("10.200.0.0/21")])],
            action: RouteMapAction::Drop,
            next_step: NextStep::Terminate,
        }],
    });
    let mut lab = Lab::new(config);
    for (last, asn) in nvas {
        lab.add_nva(v4(last), asn);
    }
    let all = block(0..20);
    lab.announce(0, &all, &route(&[65001], v4(4), &[]));
    assert_eq!(lab.fabric, programmed(&all, v4(4)));
    assert_eq!(held(&lab, 1), expected(&all, &[65515, 65001]));
    assert_eq!(held(&lab, 2), expected(&block(8..20), &[65515, 65001]));
    assert_eq!(
        (0..3)
            .map(|s| advertised_count(&lab, s))
            .collect::<Vec<_>>(),
        vec![1, 21, 13]
    );
}

/// The server's fabric compared with a map (as the fuzz harness does after every step):
/// equal to the hub's programming of A's and B's routes (spec 1.4: each prefix toward its
/// best path's next hop), unequal to that map with one next hop changed, one prefix
/// missing, one prefix added, or one more next hop for a prefix (ECMP it does not have).
#[test]
fn the_fabric_equals_a_map_only_with_the_same_prefixes_and_next_hops() {
    let mut lab = three_nvas();
    let (from_a, from_b) = (block(0..3), block(3..5));
    lab.announce(0, &from_a, &route(&[65001], v4(4), &[]));
    lab.announce(1, &from_b, &route(&[65002], v4(5), &[]));
    let mut hub = programmed(&from_a, v4(4));
    hub.extend(programmed(&from_b, v4(5)));
    assert!(lab.server.fabric() == hub);
    assert!(hub == lab.server.fabric());

    let mut other_hop = hub.clone();
    other_hop.insert(from_a[1], vec![ip(v4(6))]);
    let mut missing = hub.clone();
    missing.remove(&from_b[0]);
    let mut added = hub.clone();
    added.insert(net("10.201.0.0/24"), vec![ip(v4(4))]);
    let mut wider = hub.clone();
    wider.insert(from_a[0], vec![ip(v4(4)), ip(v4(5))]);
    for (case, map) in [
        ("another next hop", &other_hop),
        ("a prefix missing", &missing),
        ("a prefix added", &added),
        ("one more next hop", &wider),
    ] {
        assert!(lab.server.fabric() != *map, "{case}");
        assert!(*map != lab.server.fabric(), "{case}");
    }
}
