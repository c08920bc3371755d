//! The spec's scenarios (section 2) as seen from ONE route-server instance's API: what
//! only the single-instance lab (`fabric_sim::lab::Lab`) can observe, such as
//! `learned_routes`/`advertised_routes` rows, `metrics`, `Event`s and their reasons, the
//! exact NOTIFICATION sent, configuration errors, and the crate's options beyond Azure
//! (ECMP width, counting rules, transparent mode, graceful restart, IPv6, local ASN).
//!
//! The network view of every scenario (VMs' effective routes, traces, what NVAs and
//! gateways receive from both instances, sessions through faults) is replayed by the
//! fabric simulator from `fabric-sim/scenarios/NN-*.toml`; checks that file can express
//! live there and not here (scenario 4's withdraw-and-back, 12's VNet protection and 24's
//! load-balancer next hop moved entirely; 1's and 9's network-level checks too). See
//! fabric-sim's crate documentation, "One lab".
//!
//! Spec scenario -> test: 1 `overview_example_sdwan_and_firewall`; 3 `equal_paths_are_ecmp_up_to_eight`;
//! 33 `prepend_failover_by_hold_timer_expiry`; 6 `two_instances_and_the_consistency_warning`; 7, 8
//! `limit_*`; 9, 10, 25 `own_asn_and_as_zero_*`; 11, 32 `reserved_and_four_octet_*`,
//! `the_ninth_peer_is_refused`; 13 `peering_a_spoke_*`; 15, 16
//! `no_advertise_*`, `communities_*`; 17, 18 `branch_to_branch_off_then_on` (and the
//! 1,000-prefix check, `expressroute_prefix_limit_*`); 20, 21, 22 `hub_routing_preference_*`,
//! `longest_prefix_beats_preference`, `expressroute_failover_*`; 34 `ipv6_*`; 35
//! `inbound_route_map_*` (outbound prepend: `tests/rfc_attributes_and_route_maps.rs`).

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_fsm::{SessionEnd, SessionEvent, State};
use bgp_wire::{AsPath, Community, ErrorCode, Notification};
use fabric_sim::lab::{nva_session, route, route_v6, Lab};
use ipnet::IpNet;
use route_server::{
    compare_instances, Config, ConfigError, Event, HubRoutingPreference, PeerConfig, PeerKind,
    PeeredVnet, RouteServer,
};
use support::{connect_two_nvas_and_gateways, ip, net, nva as v4, two_nvas_and_gateways, RS};

const RS2: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 5);

fn hub(instance: Ipv4Addr) -> Config {
    Config::azure(instance, vec![net("10.1.0.0/16")])
}

/// A lab with NVAs `(last octet, asn)` configured and connected.
fn lab_with(mut config: Config, nvas: &[(u8, u32)]) -> Lab {
    for (last, asn) in nvas {
        config.peers.push(PeerConfig::nva(ip(v4(*last)), *asn));
    }
    let mut lab = Lab::new(config);
    for (last, asn) in nvas {
        lab.add_nva(v4(*last), *asn);
    }
    for s in &lab.speakers {
        assert_eq!(
            s.session.state(),
            State::Established,
            "{} not up",
            s.address
        );
    }
    lab
}

fn hops(list: &[Ipv4Addr]) -> Vec<IpAddr> {
    list.iter().map(|a| ip(*a)).collect()
}

fn path_of(lab: &Lab, speaker: usize, prefix: &str) -> Option<Vec<u32>> {
    lab.speakers[speaker].received.get(&net(prefix)).map(|r| {
        r.as_path
            .segments
            .iter()
            .flat_map(|s| s.asns.iter().copied())
            .collect()
    })
}

fn prefixes(count: u32, second_octet: u8) -> Vec<IpNet> {
    (0..count)
        .map(|i| net(&format!("10.{}.{}.{}/32", second_octet, i / 256, i % 256)))
        .collect()
}

fn last_end(lab: &Lab, speaker: usize) -> Option<SessionEnd> {
    lab.speakers[speaker]
        .events
        .iter()
        .rev()
        .find_map(|e| match e {
            SessionEvent::Down(end) => Some(end.clone()),
            _ => None,
        })
}

// --- Scenario 1: the overview example, on both instances ------------------------------

#[test]
fn overview_example_sdwan_and_firewall() {
    for instance in [RS, RS2] {
        let mut lab = lab_with(hub(instance), &[(4, 65001), (5, 65002)]);
        lab.announce(0, &[net("10.250.0.0/16")], &route(&[65001], v4(4), &[]));
        lab.announce(1, &[net("0.0.0.0/0")], &route(&[65002], v4(5), &[]));

        assert_eq!(lab.fabric.get(&net("10.250.0.0/16")), Some(&hops(&[v4(4)])));
        assert_eq!(lab.fabric.get(&net("0.0.0.0/0")), Some(&hops(&[v4(5)])));
        assert_eq!(lab.fabric.len(), 2);
        // Azure's timers: hold 180 s, keepalive 60 s.
        let negotiated = lab.speakers[0].session.negotiated().unwrap();
        assert_eq!((negotiated.hold_time, negotiated.keepalive_time), (180, 60));

        for nva in 0..2 {
            let vnet = &lab.speakers[nva].received[&net("10.1.0.0/16")];
            assert_eq!(vnet.as_path, AsPath::from_sequence([65515]));
            assert_eq!(vnet.next_hop, ip(instance));
            assert_eq!(vnet.origin, bgp_wire::Origin::Igp);
        }
        // Each NVA gets the other's route with 65515 in front and this instance as next hop.
        assert_eq!(path_of(&lab, 0, "0.0.0.0/0"), Some(vec![65515, 65002]));
        assert_eq!(
            lab.speakers[0].received[&net("0.0.0.0/0")].next_hop,
            ip(instance)
        );
        assert_eq!(path_of(&lab, 1, "10.250.0.0/16"), Some(vec![65515, 65001]));
        // Never its own route back.
        assert_eq!(path_of(&lab, 0, "10.250.0.0/16"), None);

        let sdwan = lab.server.peer_by_address(ip(v4(4))).unwrap();
        let learned = lab.server.learned_routes(sdwan);
        assert_eq!(learned.len(), 1);
        assert_eq!(learned[0].network, net("10.250.0.0/16"));
        assert_eq!(learned[0].next_hop, ip(v4(4)));
        assert_eq!(learned[0].local_address, ip(instance));
        assert_eq!(learned[0].origin, "EBgp");
        assert_eq!(learned[0].as_path, "65001");
        assert_eq!(learned[0].weight, 32768);
        let advertised = lab.server.advertised_routes(sdwan);
        let rows: Vec<(IpNet, String)> = advertised
            .iter()
            .map(|r| (r.network, r.as_path.clone()))
            .collect();
        assert_eq!(
            rows,
            vec![
                (net("0.0.0.0/0"), "65515 65002".into()),
                (net("10.1.0.0/16"), "65515".into())
            ]
        );
        let metrics = lab.server.metrics(sdwan).unwrap();
        assert_eq!(metrics.bgp_peer_status, 1);
        assert_eq!(metrics.count_of_routes_learned_from_peer, 1);
        assert_eq!(metrics.count_of_routes_advertised_to_peer, 2);
    }
}

// --- Scenario 6: the two instances disagree -------------------------------------------

#[test]
fn two_instances_and_the_consistency_warning() {
    let mut in0 = lab_with(hub(RS), &[(4, 65001)]);
    let mut in1 = lab_with(hub(RS2), &[(4, 65001)]);
    in0.announce(0, &[net("10.250.0.0/16")], &route(&[65001], v4(4), &[]));
    in1.announce(0, &[net("10.250.0.0/16")], &route(&[65001], v4(4), &[]));
    assert!(compare_instances(&in0.server, &in1.server).is_empty());
    assert_eq!(in0.fabric, in1.fabric);

    in1.announce(
        0,
        &[net("10.250.0.0/16")],
        &route(&[65001, 65001], v4(4), &[]),
    );
    in1.announce(0, &[net("10.251.0.0/16")], &route(&[65001], v4(4), &[]));
    let warnings = compare_instances(&in0.server, &in1.server);
    let prefixes: Vec<IpNet> = warnings.iter().map(|w| w.prefix).collect();
    assert_eq!(prefixes, vec![net("10.250.0.0/16"), net("10.251.0.0/16")]);
    assert!(warnings[1].first.is_none() && warnings[1].second.is_some());
}

// --- Scenario 3: ECMP -----------------------------------------------------------------

#[test]
fn equal_paths_are_ecmp_up_to_eight() {
    let nvas: Vec<(u8, u32)> = (0..8).map(|i| (10 + i, 65001 + u32::from(i))).collect();
    let mut lab = lab_with(hub(RS), &nvas[..2]);
    lab.announce(0, &[net("10.250.0.0/16")], &route(&[65001], v4(10), &[]));
    lab.announce(1, &[net("10.250.0.0/16")], &route(&[65002], v4(11), &[]));
    assert_eq!(lab.fabric[&net("10.250.0.0/16")], hops(&[v4(10), v4(11)]));

    let mut config = hub(RS);
    config.limits.ecmp_width = 4;
    let mut lab = lab_with(config, &nvas);
    for (i, (last, asn)) in nvas.iter().enumerate() {
        lab.announce(i, &[net("10.250.0.0/16")], &route(&[*asn], v4(*last), &[]));
    }
    assert_eq!(
        lab.fabric[&net("10.250.0.0/16")],
        hops(&[v4(10), v4(11), v4(12), v4(13)])
    );

    let mut lab = lab_with(hub(RS), &nvas);
    for (i, (last, asn)) in nvas.iter().enumerate() {
        lab.announce(i, &[net("10.250.0.0/16")], &route(&[*asn], v4(*last), &[]));
    }
    assert_eq!(lab.fabric[&net("10.250.0.0/16")].len(), 8);
}

// --- Scenario 4 and 33: active/passive by prepending ----------------------------------

#[test]
fn prepend_failover_by_hold_timer_expiry() {
    let mut lab = lab_with(hub(RS), &[(4, 65001), (5, 65002)]);
    let p = net("10.250.0.0/16");
    lab.announce(0, &[p], &route(&[65001], v4(4), &[]));
    lab.announce(1, &[p], &route(&[65002, 65002, 65002], v4(5), &[]));
    let a = lab.server.peer_by_address(ip(v4(4))).unwrap();
    lab.crash(0);
    lab.run_for(Duration::from_secs(179));
    assert_eq!(
        lab.fabric[&p],
        hops(&[v4(4)]),
        "still within the 180 s hold time"
    );
    lab.run_for(Duration::from_secs(2));
    assert_eq!(lab.fabric[&p], hops(&[v4(5)]));
    assert_eq!(lab.server.metrics(a).unwrap().bgp_peer_status, 0);
    assert!(lab
        .events
        .iter()
        .any(|e| matches!(e, Event::PeerDown { peer, reason: SessionEnd::HoldTimerExpired } if *peer == a)));
}

// --- Scenarios 7 and 8: the route limit -------------------------------------------------

fn limit_lab(held: u32, resent: u32) -> Lab {
    let mut lab = lab_with(hub(RS), &[(4, 65001), (5, 65002)]);
    lab.announce(1, &[net("172.16.0.0/16")], &route(&[65002], v4(5), &[]));
    let routes = prefixes(held, 200);
    lab.announce(0, &routes, &route(&[65001], v4(4), &[]));
    lab.reannounce(0, &routes[..resent as usize]);
    lab
}

#[test]
fn limit_1999_plus_1999_survives() {
    let lab = limit_lab(1999, 1999);
    let a = lab.server.peer_by_address(ip(v4(4))).unwrap();
    assert_eq!(lab.speakers[0].session.state(), State::Established);
    assert_eq!(
        lab.server
            .metrics(a)
            .unwrap()
            .count_of_routes_learned_from_peer,
        1999
    );
    assert_eq!(lab.fabric.len(), 2000);
    assert!(!lab
        .events
        .iter()
        .any(|e| matches!(e, Event::RouteLimitExceeded { .. })));
}

#[test]
fn limit_2001_plus_2001_is_torn_down() {
    let lab = limit_lab(2001, 2001);
    let a = lab.server.peer_by_address(ip(v4(4))).unwrap();
    assert!(lab
        .events
        .iter()
        .any(|e| matches!(e, Event::RouteLimitExceeded { peer, counted: 4002, limit: 4000 } if *peer == a)));
    match last_end(&lab, 0) {
        Some(SessionEnd::NotificationReceived(n)) => {
            assert_eq!(
                (n.code, n.subcode),
                (ErrorCode::CEASE, Notification::CEASE_MAX_PREFIXES)
            );
        }
        other => panic!("expected Cease 6/1, got {other:?}"),
    }
    // Its routes are gone from the fabric; the other NVA's stay.
    assert_eq!(lab.fabric.len(), 1);
    assert!(lab.fabric.contains_key(&net("172.16.0.0/16")));
    assert_eq!(lab.server.metrics(a).unwrap().bgp_peer_status, 0);
    assert_eq!(
        lab.server
            .metrics(a)
            .unwrap()
            .count_of_routes_learned_from_peer,
        0
    );
    // The other NVA is told the routes are gone.
    assert_eq!(lab.speakers[1].received.len(), 1);
}

#[test]
fn limit_4001_at_once_is_torn_down_and_the_peer_comes_back() {
    let mut lab = lab_with(hub(RS), &[(4, 65001)]);
    lab.announce(0, &prefixes(4001, 200), &route(&[65001], v4(4), &[]));
    assert!(lab
        .events
        .iter()
        .any(|e| matches!(e, Event::RouteLimitExceeded { counted: 4001, .. })));
    assert!(lab.fabric.is_empty());
    // It flaps: the NVA reconnects, re-sends, and is torn down again.
    lab.run_for(Duration::from_secs(600));
    let teardowns = lab
        .events
        .iter()
        .filter(|e| matches!(e, Event::RouteLimitExceeded { .. }))
        .count();
    assert!(teardowns >= 2, "{teardowns}");
}

#[test]
fn unique_counting_option_survives_the_resend() {
    let mut config = hub(RS);
    config.limits.counting = route_server::LimitCounting::UniquePrefixes;
    let mut lab = lab_with(config, &[(4, 65001)]);
    let routes = prefixes(2001, 200);
    lab.announce(0, &routes, &route(&[65001], v4(4), &[]));
    lab.reannounce(0, &routes);
    assert_eq!(lab.speakers[0].session.state(), State::Established);
    assert_eq!(lab.fabric.len(), 2001);
}

// --- Scenarios 9, 10, 25: own ASN and AS 0 ---------------------------------------------

#[test]
fn own_asn_and_as_zero_are_dropped_and_the_session_stays_up() {
    let mut lab = lab_with(hub(RS), &[(4, 65001), (5, 65002)]);
    lab.announce(
        0,
        &[net("10.10.0.0/16")],
        &route(&[65001, 65515], v4(4), &[]),
    );
    lab.announce(0, &[net("10.11.0.0/16")], &route(&[65001, 0], v4(4), &[]));
    let a = lab.server.peer_by_address(ip(v4(4))).unwrap();
    assert!(lab.fabric.is_empty());
    assert!(lab.server.learned_routes(a).is_empty());
    assert_eq!(path_of(&lab, 1, "10.10.0.0/16"), None);
    assert_eq!(lab.speakers[0].session.state(), State::Established);
    let reasons: Vec<_> = lab
        .events
        .iter()
        .filter_map(|e| match e {
            Event::RoutesRejected {
                examples,
                reason,
                count,
                ..
            } => {
                assert_eq!(*count, examples.len(), "one UPDATE, one prefix each");
                Some((examples[0], *reason))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            (
                net("10.10.0.0/16"),
                route_server::policy::RejectReason::OwnAsnInPath
            ),
            (
                net("10.11.0.0/16"),
                route_server::policy::RejectReason::MalformedAttributes
            )
        ]
    );
    // After as-override the same prefix is learned.
    lab.announce(
        0,
        &[net("10.10.0.0/16")],
        &route(&[65001, 65001], v4(4), &[]),
    );
    assert_eq!(lab.fabric[&net("10.10.0.0/16")], hops(&[v4(4)]));
    assert_eq!(
        path_of(&lab, 1, "10.10.0.0/16"),
        Some(vec![65515, 65001, 65001])
    );
    // A looped re-announcement replaces (withdraws) the good route.
    lab.announce(
        0,
        &[net("10.10.0.0/16")],
        &route(&[65001, 65515], v4(4), &[]),
    );
    assert!(!lab.fabric.contains_key(&net("10.10.0.0/16")));
    assert_eq!(path_of(&lab, 1, "10.10.0.0/16"), None);
}

// --- Scenario 15 and 16: NO_ADVERTISE, communities ---------------------------------------

fn gateway_lab(b2b: bool) -> Lab {
    connect_two_nvas_and_gateways(two_nvas_and_gateways(b2b))
}

const ER: usize = 2;
const VPN: usize = 3;

#[test]
fn no_advertise_is_programmed_but_sent_to_no_one() {
    let mut lab = gateway_lab(true);
    let no_advertise = Community::NO_ADVERTISE;
    lab.announce(
        0,
        &[net("10.250.0.0/16")],
        &route(&[65001], v4(4), &[no_advertise]),
    );
    assert_eq!(lab.fabric[&net("10.250.0.0/16")], hops(&[v4(4)]));
    for other in [1, ER, VPN] {
        assert_eq!(
            path_of(&lab, other, "10.250.0.0/16"),
            None,
            "speaker {other}"
        );
    }
}

#[test]
fn communities_pass_unchanged_to_gateways_and_nvas() {
    let mut lab = gateway_lab(true);
    let communities = [Community::new(65001, 100), Community::new(65001, 200)];
    lab.announce(
        0,
        &[net("10.250.0.0/16")],
        &route(&[65001], v4(4), &communities),
    );
    for other in [1, ER, VPN] {
        assert_eq!(
            lab.speakers[other].received[&net("10.250.0.0/16")].communities,
            communities.to_vec()
        );
    }
}

// --- Scenarios 17, 18: branch-to-branch ---------------------------------------------------

#[test]
fn branch_to_branch_off_then_on() {
    let mut lab = gateway_lab(false);
    lab.announce(
        ER,
        &[net("192.168.0.0/16")],
        &route(&[12076, 65100], Ipv4Addr::new(10, 1, 0, 68), &[]),
    );
    lab.announce(0, &[net("10.250.0.0/16")], &route(&[65001], v4(4), &[]));
    // Off: nothing crosses, the VMs still get both.
    assert_eq!(path_of(&lab, 0, "192.168.0.0/16"), None);
    assert_eq!(path_of(&lab, ER, "10.250.0.0/16"), None);
    assert_eq!(
        path_of(&lab, ER, "10.1.0.0/16"),
        None,
        "gateways advertise the VNet themselves"
    );
    assert!(lab.fabric.contains_key(&net("192.168.0.0/16")));
    assert!(lab.fabric.contains_key(&net("10.250.0.0/16")));
    // NVA to NVA still flows.
    assert_eq!(path_of(&lab, 1, "10.250.0.0/16"), Some(vec![65515, 65001]));

    lab.server.set_branch_to_branch(lab.now, true);
    lab.settle();
    assert_eq!(
        path_of(&lab, 0, "192.168.0.0/16"),
        Some(vec![65515, 12076, 65100])
    );
    assert_eq!(
        lab.speakers[0].received[&net("192.168.0.0/16")].next_hop,
        ip(RS)
    );
    assert_eq!(path_of(&lab, ER, "10.250.0.0/16"), Some(vec![65001]));
    assert_eq!(
        lab.speakers[ER].received[&net("10.250.0.0/16")].next_hop,
        ip(v4(4))
    );
    assert_eq!(
        path_of(&lab, VPN, "192.168.0.0/16"),
        Some(vec![12076, 65100]),
        "ER to VPN transit"
    );

    lab.server.set_branch_to_branch(lab.now, false);
    lab.settle();
    assert_eq!(path_of(&lab, 0, "192.168.0.0/16"), None);
    assert_eq!(path_of(&lab, ER, "10.250.0.0/16"), None);
}

// --- Scenarios 20, 21, 22: hub routing preference -------------------------------------------

const ER_NH: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 68);
const VPN_NH: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 69);

#[test]
fn hub_routing_preference_expressroute_vpn_aspath() {
    let mut lab = gateway_lab(true);
    let p = net("172.16.0.0/16");
    lab.announce(ER, &[p], &route(&[12076, 65010], ER_NH, &[]));
    lab.announce(VPN, &[p], &route(&[65020], VPN_NH, &[]));
    lab.announce(0, &[p], &route(&[65001], v4(4), &[]));
    // ExpressRoute (default): ER is programmed and advertised.
    assert_eq!(lab.fabric[&p], hops(&[ER_NH]));
    assert_eq!(
        path_of(&lab, 1, "172.16.0.0/16"),
        Some(vec![65515, 12076, 65010])
    );

    // VpnGateway: VPN and NVA tie on length 1: ECMP.
    lab.server
        .set_hub_routing_preference(lab.now, HubRoutingPreference::VpnGateway);
    lab.settle();
    assert_eq!(lab.fabric[&p], hops(&[VPN_NH, v4(4)]));
    // The NVA with a longer path loses to VPN.
    lab.announce(0, &[p], &route(&[65001, 65001], v4(4), &[]));
    assert_eq!(lab.fabric[&p], hops(&[VPN_NH]));

    // ASPath: the shortest path wins whatever the source.
    lab.server
        .set_hub_routing_preference(lab.now, HubRoutingPreference::AsPath);
    lab.settle();
    assert_eq!(lab.fabric[&p], hops(&[VPN_NH]));
    // Equal lengths: ER before VPN.
    lab.announce(ER, &[p], &route(&[12076], ER_NH, &[]));
    assert_eq!(lab.fabric[&p], hops(&[ER_NH]));
}

#[test]
fn longest_prefix_beats_preference() {
    let mut lab = gateway_lab(true);
    lab.announce(ER, &[net("10.0.0.0/16")], &route(&[12076], ER_NH, &[]));
    lab.announce(VPN, &[net("10.0.1.0/24")], &route(&[65020], VPN_NH, &[]));
    assert_eq!(lab.fabric[&net("10.0.0.0/16")], hops(&[ER_NH]));
    assert_eq!(lab.fabric[&net("10.0.1.0/24")], hops(&[VPN_NH]));
}

#[test]
fn expressroute_failover_does_not_revert_unless_vpn_is_longer() {
    let mut lab = gateway_lab(true);
    let p = net("172.16.0.0/16");
    lab.announce(ER, &[p], &route(&[65010], ER_NH, &[]));
    lab.announce(VPN, &[p], &route(&[65020], VPN_NH, &[]));
    assert_eq!(lab.fabric[&p], hops(&[ER_NH]));
    lab.withdraw(ER, &[p]);
    assert_eq!(lab.fabric[&p], hops(&[VPN_NH]));
    lab.announce(ER, &[p], &route(&[65010], ER_NH, &[]));
    assert_eq!(lab.fabric[&p], hops(&[VPN_NH]), "non-revertive: VPN stays");
    // With VPN prepended, the restored ER takes over.
    lab.announce(VPN, &[p], &route(&[65020, 65020, 65020], VPN_NH, &[]));
    assert_eq!(lab.fabric[&p], hops(&[ER_NH]));

    // The revertive option moves back at once.
    let mut config = hub(RS);
    config.extensions.revertive_preference = true;
    config.branch_to_branch = true;
    config
        .peers
        .push(PeerConfig::gateway(ip(ER_NH), PeerKind::ExpressRoute));
    config
        .peers
        .push(PeerConfig::gateway(ip(VPN_NH), PeerKind::VpnGateway));
    let mut lab = Lab::new(config);
    lab.add_speaker(ip(ER_NH), nva_session(ER_NH, 65515));
    lab.add_speaker(ip(VPN_NH), nva_session(VPN_NH, 65515));
    lab.announce(0, &[p], &route(&[65010], ER_NH, &[]));
    lab.announce(1, &[p], &route(&[65020], VPN_NH, &[]));
    lab.withdraw(0, &[p]);
    lab.announce(0, &[p], &route(&[65010], ER_NH, &[]));
    assert_eq!(lab.fabric[&p], hops(&[ER_NH]));
}

// --- Scenarios 11, 32: configuration refusals ------------------------------------------------

#[test]
fn the_ninth_peer_is_refused() {
    let mut config = hub(RS);
    for i in 0..9u8 {
        config
            .peers
            .push(PeerConfig::nva(ip(v4(10 + i)), 65001 + u32::from(i)));
    }
    let err = RouteServer::new(config.clone(), route_server::Instant::ZERO).unwrap_err();
    assert_eq!(
        err,
        ConfigError::TooManyPeers {
            count: 9,
            max: 8,
            first_refused: Some(ip(v4(18)))
        }
    );
    config.peers.pop();
    let mut server = RouteServer::new(config, route_server::Instant::ZERO).unwrap();
    let ninth = server.add_peer(
        route_server::Instant::ZERO,
        PeerConfig::nva(ip(v4(30)), 65100),
    );
    assert!(matches!(
        ninth,
        Err(ConfigError::TooManyPeers { max: 8, .. })
    ));
    // A gateway is not an NVA peer and still fits.
    let er = server.add_peer(
        route_server::Instant::ZERO,
        PeerConfig::gateway(ip(ER_NH), PeerKind::ExpressRoute),
    );
    assert!(er.is_ok());
}

#[test]
fn reserved_and_four_octet_asns_are_refused_with_a_clear_error() {
    for (asn, expected) in [
        (
            65515,
            "peer 10.1.2.4: field `asn`: 65515 is reserved by Azure (Azure private ASN)",
        ),
        (
            12076,
            "peer 10.1.2.4: field `asn`: 12076 is reserved by Azure (Azure public ASN)",
        ),
        (
            23456,
            "peer 10.1.2.4: field `asn`: 23456 is reserved by IANA (AS_TRANS)",
        ),
        (
            64500,
            "peer 10.1.2.4: field `asn`: 64500 is reserved by IANA (documentation ASN)",
        ),
    ] {
        let config = hub(RS).with_peer(PeerConfig::nva(ip(v4(4)), asn));
        let err = RouteServer::new(config, route_server::Instant::ZERO).unwrap_err();
        assert_eq!(err.to_string(), expected);
    }
    let config = hub(RS).with_peer(PeerConfig::nva(ip(v4(4)), 70000));
    let err = RouteServer::new(config, route_server::Instant::ZERO).unwrap_err();
    assert!(matches!(err, ConfigError::FourOctetAsn { asn: 70000, .. }));
    let dup = hub(RS)
        .with_peer(PeerConfig::nva(ip(v4(4)), 65001))
        .with_peer(PeerConfig::nva(ip(v4(4)), 65002));
    assert!(matches!(
        RouteServer::new(dup, route_server::Instant::ZERO),
        Err(ConfigError::DuplicatePeer { .. })
    ));
}

#[test]
fn four_octet_asn_with_the_extension_peers() {
    let mut config = hub(RS);
    config.extensions.four_octet_asn = true;
    let mut lab = lab_with(config, &[(4, 4_200_000_001), (5, 65002)]);
    lab.announce(
        0,
        &[net("10.250.0.0/16")],
        &route(&[4_200_000_001], v4(4), &[]),
    );
    assert_eq!(
        path_of(&lab, 1, "10.250.0.0/16"),
        Some(vec![65515, 4_200_000_001])
    );
}

#[test]
fn connection_from_an_unknown_address_is_refused() {
    let mut lab = lab_with(hub(RS), &[(4, 65001)]);
    lab.add_nva(v4(99), 65099);
    assert_ne!(lab.speakers[1].session.state(), State::Established);
    assert!(lab.fabric.is_empty());
}

// --- Scenario 13: spoke injection and route refresh ------------------------------------------

#[test]
fn peering_a_spoke_sends_route_refresh_or_resets() {
    let mut config = hub(RS);
    config.peers.push(PeerConfig::nva(ip(v4(4)), 65001));
    config.peers.push(PeerConfig::nva(ip(v4(5)), 65002));
    let mut lab = Lab::new(config);
    lab.add_nva(v4(4), 65001);
    let mut old_nva = nva_session(v4(5), 65002);
    old_nva.capabilities.route_refresh = false;
    old_nva.capabilities.enhanced_route_refresh = false;
    lab.add_speaker(ip(v4(5)), old_nva);
    lab.announce(0, &[net("10.250.0.0/16")], &route(&[65001], v4(4), &[]));
    lab.announce(1, &[net("10.251.0.0/16")], &route(&[65002], v4(5), &[]));

    lab.server.set_peered_vnets(
        lab.now,
        vec![
            PeeredVnet {
                prefixes: vec![net("10.11.0.0/16")],
                uses_remote_route_server: true,
            },
            PeeredVnet {
                prefixes: vec![net("10.12.0.0/16")],
                uses_remote_route_server: false,
            },
        ],
    );
    lab.settle();
    let a = lab.server.peer_by_address(ip(v4(4))).unwrap();
    let b = lab.server.peer_by_address(ip(v4(5))).unwrap();
    assert!(lab.events.contains(&Event::RouteRefreshSent { peer: a }));
    assert!(lab.events.contains(&Event::SessionReset { peer: b }));
    assert!(lab.speakers[0]
        .events
        .iter()
        .any(|e| matches!(e, SessionEvent::RouteRefresh(_))));
    match last_end(&lab, 1) {
        Some(SessionEnd::NotificationReceived(n)) => {
            assert_eq!(n.subcode, Notification::CEASE_OTHER_CONFIG_CHANGE)
        }
        other => panic!("expected a reset, got {other:?}"),
    }
    lab.run_for(Duration::from_secs(60));
    for nva in 0..2 {
        assert_eq!(lab.speakers[nva].session.state(), State::Established);
        assert_eq!(
            path_of(&lab, nva, "10.11.0.0/16"),
            Some(vec![65515]),
            "spoke S1 is advertised"
        );
        assert_eq!(path_of(&lab, nva, "10.12.0.0/16"), None, "spoke S2 is not");
    }
    // Both NVAs' routes are back after the refresh and the reset.
    assert_eq!(lab.fabric.len(), 2);
    // Routes inside either spoke are protected.
    lab.announce(
        0,
        &[net("10.11.1.0/24"), net("10.12.1.0/24")],
        &route(&[65001], v4(4), &[]),
    );
    assert_eq!(lab.fabric.len(), 2);
}

#[test]
fn adding_a_vnet_range_is_advertised_and_protected() {
    let mut lab = lab_with(hub(RS), &[(4, 65001)]);
    lab.announce(0, &[net("172.20.1.0/24")], &route(&[65001], v4(4), &[]));
    assert!(lab.fabric.contains_key(&net("172.20.1.0/24")));
    lab.server
        .set_vnet_prefixes(lab.now, vec![net("10.1.0.0/16"), net("172.20.0.0/16")]);
    lab.settle();
    assert!(
        !lab.fabric.contains_key(&net("172.20.1.0/24")),
        "now inside the VNet"
    );
    assert_eq!(path_of(&lab, 0, "172.20.0.0/16"), Some(vec![65515]));
}

// --- Extensions -----------------------------------------------------------------------------

#[test]
fn transparent_mode_keeps_path_and_next_hop() {
    let mut config = hub(RS);
    config.extensions.transparent = true;
    let mut lab = lab_with(config, &[(4, 65001), (5, 65002)]);
    lab.announce(0, &[net("10.250.0.0/16")], &route(&[65001], v4(4), &[]));
    let got = &lab.speakers[1].received[&net("10.250.0.0/16")];
    assert_eq!(got.as_path, AsPath::from_sequence([65001]));
    assert_eq!(got.next_hop, ip(v4(4)));
}

#[test]
fn per_client_best_path_removes_path_hiding() {
    for (per_client, expected) in [(false, None), (true, Some(vec![65515, 65002, 65002]))] {
        let mut config = hub(RS);
        config.extensions.per_client_best_path = per_client;
        let mut lab = lab_with(config, &[(4, 65001), (5, 65002)]);
        let p = net("10.250.0.0/16");
        lab.announce(0, &[p], &route(&[65001], v4(4), &[]));
        lab.announce(1, &[p], &route(&[65002, 65002], v4(5), &[]));
        assert_eq!(
            path_of(&lab, 0, "10.250.0.0/16"),
            expected,
            "per client: {per_client}"
        );
    }
}

#[test]
fn graceful_restart_helper_keeps_routes_stale_until_end_of_rib() {
    let mut config = hub(RS);
    config.extensions.graceful_restart_helper = true;
    config.peers.push(PeerConfig::nva(ip(v4(4)), 65001));
    let mut lab = Lab::new(config);
    let mut nva = nva_session(v4(4), 65001);
    nva.capabilities.graceful_restart = Some(bgp_wire::GracefulRestart {
        flags: 0,
        restart_time: 120,
        families: vec![bgp_wire::GracefulRestartFamily {
            family: bgp_wire::Family::IPV4_UNICAST,
            flags: 0x80,
        }],
    });
    lab.add_speaker(ip(v4(4)), nva);
    lab.announce(
        0,
        &[net("10.250.0.0/16"), net("10.251.0.0/16")],
        &route(&[65001], v4(4), &[]),
    );
    assert_eq!(lab.fabric.len(), 2);
    // The NVA restarts: routes stay programmed while it is away.
    let announced = std::mem::take(&mut lab.speakers[0].announced);
    lab.reset_connection(0);
    assert!(lab
        .events
        .iter()
        .any(|e| matches!(e, Event::RoutesKeptStale { routes: 2, .. })));
    assert_eq!(lab.fabric.len(), 2);
    // It comes back with only one of the two; End-of-RIB flushes the other.
    lab.speakers[0].announced = announced
        .into_iter()
        .filter(|(p, _)| *p == net("10.250.0.0/16"))
        .collect();
    lab.run_for(Duration::from_secs(30));
    assert_eq!(lab.speakers[0].session.state(), State::Established);
    assert_eq!(
        lab.fabric.keys().copied().collect::<Vec<_>>(),
        vec![net("10.250.0.0/16")]
    );

    // Without the extension the routes go at once.
    let mut lab = lab_with(hub(RS), &[(4, 65001)]);
    lab.announce(0, &[net("10.250.0.0/16")], &route(&[65001], v4(4), &[]));
    lab.reset_connection(0);
    assert!(lab.fabric.is_empty());
}

#[test]
fn graceful_restart_stale_routes_expire_with_the_restart_time() {
    let mut config = hub(RS);
    config.extensions.graceful_restart_helper = true;
    config.peers.push(PeerConfig::nva(ip(v4(4)), 65001));
    let mut lab = Lab::new(config);
    let mut nva = nva_session(v4(4), 65001);
    nva.capabilities.graceful_restart = Some(bgp_wire::GracefulRestart {
        flags: 0,
        restart_time: 90,
        families: vec![bgp_wire::GracefulRestartFamily {
            family: bgp_wire::Family::IPV4_UNICAST,
            flags: 0,
        }],
    });
    lab.add_speaker(ip(v4(4)), nva);
    lab.announce(0, &[net("10.250.0.0/16")], &route(&[65001], v4(4), &[]));
    lab.reset_connection(0);
    lab.crash(0);
    lab.run_for(Duration::from_secs(89));
    assert_eq!(lab.fabric.len(), 1);
    lab.run_for(Duration::from_secs(2));
    assert!(lab.fabric.is_empty());
}

#[test]
fn shutdown_with_a_message() {
    let mut lab = lab_with(hub(RS), &[(4, 65001)]);
    lab.announce(0, &[net("10.250.0.0/16")], &route(&[65001], v4(4), &[]));
    let a = lab.server.peer_by_address(ip(v4(4))).unwrap();
    lab.server
        .shutdown_peer(lab.now, a, Some("maintenance until 02:00"));
    lab.settle();
    match last_end(&lab, 0) {
        Some(SessionEnd::NotificationReceived(n)) => {
            assert_eq!(n.subcode, Notification::CEASE_ADMIN_SHUTDOWN);
            assert_eq!(n.shutdown_communication(), Some("maintenance until 02:00"));
        }
        other => panic!("expected a shutdown, got {other:?}"),
    }
    assert!(lab.fabric.is_empty());
    lab.run_for(Duration::from_secs(300));
    assert_ne!(
        lab.speakers[0].session.state(),
        State::Established,
        "stays down"
    );
    lab.server.start_peer(lab.now, a);
    // The NVA's own retries are damped (up to 300 s between attempts).
    lab.run_for(Duration::from_secs(600));
    assert_eq!(lab.speakers[0].session.state(), State::Established);
    assert_eq!(lab.fabric.len(), 1);
}

#[test]
fn removing_a_peer_withdraws_its_routes() {
    let mut lab = lab_with(hub(RS), &[(4, 65001), (5, 65002)]);
    lab.announce(0, &[net("10.250.0.0/16")], &route(&[65001], v4(4), &[]));
    let a = lab.server.peer_by_address(ip(v4(4))).unwrap();
    lab.server.remove_peer(lab.now, a).unwrap();
    lab.settle();
    assert!(lab.fabric.is_empty());
    assert_eq!(path_of(&lab, 1, "10.250.0.0/16"), None);
    assert_eq!(lab.server.peers().count(), 1);
}

/// A peer that announced routes and was sent others is removed: its routes leave the
/// fabric and the other NVA (a prefix both announced falls back to the other NVA's path,
/// spec section 1.4: ECMP or the shorter AS path), and what the other NVA was sent or
/// has programmed for its own routes does not move.
#[test]
fn removing_a_peer_that_was_also_sent_routes_leaves_the_rest_as_it_was() {
    let mut lab = lab_with(hub(RS), &[(4, 65001), (5, 65002)]);
    let (only_a, both, only_b) = ("10.250.0.0/16", "10.251.0.0/16", "10.252.0.0/16");
    lab.announce(0, &[net(only_a), net(both)], &route(&[65001], v4(4), &[]));
    lab.announce(
        1,
        &[net(both), net(only_b)],
        &route(&[65002, 65002], v4(5), &[]),
    );
    // Before: the shorter AS path (A's) wins the shared prefix; each NVA is sent the
    // other's routes, 65515 prepended.
    assert_eq!(lab.fabric[&net(both)], hops(&[v4(4)]));
    assert_eq!(path_of(&lab, 0, only_b), Some(vec![65515, 65002, 65002]));
    assert_eq!(path_of(&lab, 1, both), Some(vec![65515, 65001]));
    let a = lab.server.peer_by_address(ip(v4(4))).unwrap();
    let b = lab.server.peer_by_address(ip(v4(5))).unwrap();
    lab.server.remove_peer(lab.now, a).unwrap();
    lab.settle();
    assert_eq!(lab.fabric.get(&net(only_a)), None);
    assert_eq!(lab.fabric[&net(both)], hops(&[v4(5)]));
    assert_eq!(lab.fabric[&net(only_b)], hops(&[v4(5)]));
    assert_eq!(lab.server.fabric().to_map(), lab.fabric);
    // B had A's two routes; both are withdrawn (its own route to `both` is not sent back
    // to it), and it keeps the virtual network's range.
    assert_eq!(path_of(&lab, 1, only_a), None);
    assert_eq!(path_of(&lab, 1, both), None);
    let advertised: Vec<IpNet> = lab
        .server
        .advertised_routes(b)
        .iter()
        .map(|r| r.network)
        .collect();
    assert_eq!(advertised, vec![net("10.1.0.0/16")]);
    let metrics = lab.server.metrics(b).expect("a configured peer");
    assert_eq!(metrics.count_of_routes_advertised_to_peer, 1);
}

#[test]
fn inbound_route_map_drops_and_summarises() {
    use route_server::{
        MatchCondition, Modification, NextStep, RouteMap, RouteMapAction, RouteMapRule,
    };
    let mut config = hub(RS);
    let mut nva = PeerConfig::nva(ip(v4(4)), 65001);
    nva.inbound_map = Some(RouteMap {
        rules: vec![
            RouteMapRule {
                conditions: vec![MatchCondition::PrefixContains(vec![net("10.122.0.0/16")])],
                action: RouteMapAction::Drop,
                next_step: NextStep::Terminate,
            },
            RouteMapRule {
                conditions: vec![MatchCondition::PrefixContains(vec![net("10.2.0.0/16")])],
                action: RouteMapAction::Modify(vec![Modification::ReplacePrefix(net(
                    "10.2.0.0/16",
                ))]),
                next_step: NextStep::Terminate,
            },
        ],
    });
    config.peers.push(nva);
    config.peers.push(PeerConfig::nva(ip(v4(5)), 65002));
    let mut lab = Lab::new(config);
    lab.add_nva(v4(4), 65001);
    lab.add_nva(v4(5), 65002);
    let routes: Vec<IpNet> = [
        "10.122.1.0/24",
        "10.122.2.0/24",
        "10.100.0.0/16",
        "10.2.1.0/24",
        "10.2.2.0/24",
    ]
    .iter()
    .map(|s| net(s))
    .collect();
    lab.announce(
        0,
        &routes,
        &route(&[65001], v4(4), &[Community::new(65001, 7)]),
    );
    let programmed: Vec<IpNet> = lab.fabric.keys().copied().collect();
    assert_eq!(programmed, vec![net("10.2.0.0/16"), net("10.100.0.0/16")]);
    let summary = &lab.speakers[1].received[&net("10.2.0.0/16")];
    assert_eq!(summary.as_path, AsPath::from_sequence([65515]));
    assert!(summary.communities.is_empty());
    // The summary stays while one of its parts does.
    lab.withdraw(0, &[net("10.2.1.0/24")]);
    assert!(lab.fabric.contains_key(&net("10.2.0.0/16")));
    lab.withdraw(0, &[net("10.2.2.0/24")]);
    assert!(!lab.fabric.contains_key(&net("10.2.0.0/16")));
}

#[test]
fn ipv6_unicast_with_the_extension() {
    let mut config = hub(RS);
    config.extensions.ipv6_unicast = true;
    config.local_ipv6_address = Some("fd00:1::4".parse().unwrap());
    config.vnet_prefixes.push(net("fd00:1::/48"));
    let lab = lab_with(config, &[(4, 65001)]);
    let negotiated = lab.speakers[0].session.negotiated().unwrap();
    assert!(negotiated.has_family(bgp_wire::Family::IPV4_UNICAST));
    let a = lab.server.peer_by_address(ip(v4(4))).unwrap();
    let advertised: Vec<IpNet> = lab
        .server
        .advertised_routes(a)
        .iter()
        .map(|r| r.network)
        .collect();
    // The NVA did not offer IPv6, so only the IPv4 range is sent to it.
    assert_eq!(advertised, vec![net("10.1.0.0/16")]);

    let mut azure = hub(RS);
    azure.vnet_prefixes.push(net("fd00:1::/48"));
    let server = RouteServer::new(azure, route_server::Instant::ZERO).unwrap();
    let mut server = server;
    let warned = std::iter::from_fn(|| server.poll_output())
        .any(|o| matches!(o, route_server::Output::Event(Event::Warning { .. })));
    assert!(warned, "an IPv6 VNet range is warned about in Azure mode");
}

#[test]
fn ipv6_routes_flow_between_ipv6_nvas() {
    let mut config = hub(RS);
    config.extensions.ipv6_unicast = true;
    config.local_ipv6_address = Some("fd00:1::4".parse().unwrap());
    config.vnet_prefixes.push(net("fd00:1::/48"));
    config.peers.push(PeerConfig::nva(ip(v4(4)), 65001));
    config.peers.push(PeerConfig::nva(ip(v4(5)), 65002));
    let mut lab = Lab::new(config);
    for (last, asn) in [(4, 65001), (5, 65002)] {
        let mut session = nva_session(v4(last), asn);
        session
            .capabilities
            .families
            .push(bgp_wire::Family::IPV6_UNICAST);
        lab.add_speaker(ip(v4(last)), session);
    }
    let nh: std::net::Ipv6Addr = "fd00:2::4".parse().unwrap();
    lab.announce(
        0,
        &[net("2001:db8::/32"), net("fd00:1:0:5::/64")],
        &route_v6(&[65001], nh),
    );
    assert_eq!(
        lab.fabric.get(&net("2001:db8::/32")),
        Some(&vec![IpAddr::V6(nh)])
    );
    assert!(
        !lab.fabric.contains_key(&net("fd00:1:0:5::/64")),
        "inside the IPv6 VNet range"
    );
    let got = &lab.speakers[1].received[&net("2001:db8::/32")];
    assert_eq!(got.as_path, AsPath::from_sequence([65515, 65001]));
    assert_eq!(got.next_hop, "fd00:1::4".parse::<IpAddr>().unwrap());
    let range = &lab.speakers[1].received[&net("fd00:1::/48")];
    assert_eq!(range.as_path, AsPath::from_sequence([65515]));
    // IPv4 still flows alongside.
    lab.announce(0, &[net("10.250.0.0/16")], &route(&[65001], v4(4), &[]));
    assert_eq!(path_of(&lab, 1, "10.250.0.0/16"), Some(vec![65515, 65001]));
}

#[test]
fn configurable_local_asn_is_what_peers_see() {
    let mut config = hub(RS);
    config.local_asn = 64999;
    config.extensions.allow_reserved_asns = true;
    config.peers.push(PeerConfig::nva(ip(v4(4)), 65515));
    config.peers.push(PeerConfig::nva(ip(v4(5)), 65002));
    let mut lab = Lab::new(config);
    let mut first = nva_session(v4(4), 65515);
    first.peer_asn = 64999.into();
    let mut second = nva_session(v4(5), 65002);
    second.peer_asn = 64999.into();
    lab.add_speaker(ip(v4(4)), first);
    lab.add_speaker(ip(v4(5)), second);
    // An NVA in 65515 (another region's Azure ASN) no longer needs as-override.
    lab.announce(0, &[net("10.2.0.0/16")], &route(&[65515], v4(4), &[]));
    assert_eq!(lab.fabric[&net("10.2.0.0/16")], hops(&[v4(4)]));
    assert_eq!(path_of(&lab, 1, "10.2.0.0/16"), Some(vec![64999, 65515]));
    assert_eq!(path_of(&lab, 1, "10.1.0.0/16"), Some(vec![64999]));
}

#[test]
fn expressroute_prefix_limit_is_warned_about() {
    let mut lab = gateway_lab(true);
    lab.announce(0, &prefixes(998, 200), &route(&[65001], v4(4), &[]));
    let warnings = |lab: &Lab| {
        lab.events
            .iter()
            .filter(|e| matches!(e, Event::Warning { .. }))
            .count()
    };
    assert_eq!(warnings(&lab), 0, "1 VNet range + 998 routes = 999");
    lab.announce(0, &prefixes(1000, 200), &route(&[65001], v4(4), &[]));
    assert_eq!(warnings(&lab), 1, "1 + 1000 = 1001 > 1000");
    assert_eq!(
        path_of(&lab, ER, "10.200.3.231/32"),
        Some(vec![65001]),
        "routes still flow"
    );
}

#[test]
fn graceful_restart_resend_is_not_counted_twice() {
    let mut config = hub(RS);
    config.extensions.graceful_restart_helper = true;
    config.peers.push(PeerConfig::nva(ip(v4(4)), 65001));
    let mut lab = Lab::new(config);
    let mut nva = nva_session(v4(4), 65001);
    nva.capabilities.graceful_restart = Some(bgp_wire::GracefulRestart {
        flags: 0,
        restart_time: 120,
        families: vec![bgp_wire::GracefulRestartFamily {
            family: bgp_wire::Family::IPV4_UNICAST,
            flags: 0x80,
        }],
    });
    lab.add_speaker(ip(v4(4)), nva);
    lab.announce(0, &prefixes(2500, 200), &route(&[65001], v4(4), &[]));
    lab.reset_connection(0);
    lab.run_for(Duration::from_secs(30));
    assert_eq!(lab.speakers[0].session.state(), State::Established);
    assert!(!lab
        .events
        .iter()
        .any(|e| matches!(e, Event::RouteLimitExceeded { .. })));
    assert_eq!(lab.fabric.len(), 2500);
}
