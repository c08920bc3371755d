//! Withdrawing many prefixes at once, where some lose their last path and others fall
//! back to another NVA's: the route server's pass settles the first kind once per
//! distinct per-prefix state and replays that outcome for the others, so these tests
//! check every prefix of such a block against what the spec says it must end as (spec
//! section 1.4: the shortest AS path wins; an NVA is not sent its own route back; a
//! prefix nobody announces is neither programmed nor advertised), and that the counts of
//! routes advertised stay right through withdrawing, re-announcing and withdrawing again.

mod support;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use bgp_fsm::State;
use fabric_sim::lab::{route, Lab};
use ipnet::IpNet;
use route_server::{Config, PeerConfig};
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
    assert!(lab.fabric.is_empty());
    assert!(lab.server.fabric().to_map().is_empty());
    for speaker in 0..3 {
        assert_eq!(held(&lab, speaker), expected(&[], &[]));
        assert_eq!(advertised_count(&lab, speaker), 1);
    }
}
