//! Issue 8 item 7, the policy side, through the public API with real BGP messages:
//!
//! * IPv4 unicast routes in MP_REACH_NLRI take MP_REACH_NLRI's next hop (RFC 4760 section
//!   3; NEXT_HOP does not apply to them); one without a usable next hop raises
//!   `RouteRejected` (`NoNextHop`) and counts against the route limit exactly as every
//!   other refused route does under each counting rule;
//! * ORIGINATOR_ID and CLUSTER_LIST never reach an eBGP NVA (RFC 4456 section 8);
//! * an unrecognised optional transitive attribute passed on has its Partial bit set, an
//!   unrecognised optional non-transitive one is not passed on (RFC 4271 section 5);
//! * scenario 35's outbound prepend of private ASNs is refused at configuration, as
//!   Azure's route-map limits say ("Don't use private ASNs for AS prepending",
//!   MicrosoftDocs/azure-docs includes/route-maps-reserved-asn-communities.md,
//!   2026-06-02); the same map with public ASNs works end to end.

mod support;

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_fsm::State;
use bgp_wire::{
    AsPath, AttrFlags, AttrType, AttrValue, Family, Message, MpNextHop, MpNlri, MpReach, Nlri,
    Origin, PathAttribute, RawAttribute, Update,
};
use fabric_sim::lab::{route, Lab};
use ipnet::IpNet;
use route_server::policy::RejectReason;
use route_server::{
    Config, ConfigError, Event, LimitCounting, Modification, NextStep, PeerConfig, PeerKind,
    RouteMap, RouteMapAction, RouteMapError, RouteMapRule, RouteServer,
};
use support::{connect_two_nvas_and_gateways, ip, net, nva, two_nvas_and_gateways, ER_NH, RS};

/// NVAs 10.1.2.4 (65001) and 10.1.2.5 (65002), ER and VPN gateways, branch-to-branch on,
/// `edit` applied to the configuration first.
fn lab(edit: impl FnOnce(&mut Config)) -> Lab {
    let mut config = two_nvas_and_gateways(true);
    edit(&mut config);
    connect_two_nvas_and_gateways(config)
}

/// Speaker `i` writes `update` on its session, encoded with the parameters it negotiated.
fn send(lab: &mut Lab, i: usize, update: Update) {
    let params = lab.speakers[i].send_params();
    lab.inject(i, Message::Update(update).to_bytes(&params));
}

/// An UPDATE carrying `prefixes` as IPv4 unicast in MP_REACH_NLRI only (no NEXT_HOP).
fn mp_ipv4(path: &[u32], next_hop: MpNextHop, prefixes: &[&str]) -> Update {
    Update {
        attributes: vec![
            PathAttribute::new(AttrValue::MpReachNlri(MpReach {
                family: Family::IPV4_UNICAST,
                next_hop,
                reserved: 0,
                nlri: MpNlri::Prefixes(prefixes.iter().map(|p| Nlri::new(net(p))).collect()),
            })),
            PathAttribute::new(AttrValue::Origin(Origin::Igp)),
            PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence(
                path.iter().copied(),
            ))),
        ],
        ..Update::default()
    }
}

/// Every rejected prefix the events name, with its reason (the tests send fewer than
/// `REJECTED_EXAMPLES` per event, so the examples are all of them).
fn rejections(lab: &Lab) -> Vec<(IpNet, RejectReason)> {
    lab.events
        .iter()
        .filter_map(|e| match e {
            Event::RoutesRejected {
                examples,
                reason,
                count,
                ..
            } => {
                assert_eq!(*count, examples.len());
                Some(examples.iter().map(|p| (*p, *reason)).collect::<Vec<_>>())
            }
            _ => None,
        })
        .flatten()
        .collect()
}

/// The route server's count of routes learned from speaker `i` (its metrics row).
fn routes_learned_from(lab: &Lab, i: usize) -> usize {
    let peer = lab.speakers[i].peer.expect("connected");
    lab.server
        .metrics(peer)
        .expect("peer")
        .count_of_routes_learned_from_peer
}

fn limit_hits(lab: &Lab) -> Vec<(usize, u32)> {
    lab.events
        .iter()
        .filter_map(|e| match e {
            Event::RouteLimitExceeded { counted, limit, .. } => Some((*counted, *limit)),
            _ => None,
        })
        .collect()
}

#[test]
fn ipv4_routes_in_mp_reach_use_its_next_hop() {
    let mut lab = lab(|_| {});
    // The NEXT_HOP-less UPDATE: MP_REACH_NLRI says 10.1.2.100 (a load balancer).
    let hop = Ipv4Addr::new(10, 1, 2, 100);
    send(
        &mut lab,
        0,
        mp_ipv4(&[65001], MpNextHop::Ipv4(hop), &["10.250.0.0/16"]),
    );
    assert_eq!(lab.fabric.get(&net("10.250.0.0/16")), Some(&vec![ip(hop)]));
    assert!(rejections(&lab).is_empty(), "{:?}", rejections(&lab));
    let to_b = &lab.speakers[1].received[&net("10.250.0.0/16")];
    assert_eq!(to_b.as_path, AsPath::from_sequence([65515, 65001]));
    assert_eq!(to_b.next_hop, ip(RS));
    // An iBGP gateway gets the next hop unchanged.
    assert_eq!(
        lab.speakers[2].received[&net("10.250.0.0/16")].next_hop,
        ip(hop)
    );
    assert_eq!(routes_learned_from(&lab, 0), 1);
}

#[test]
fn ipv4_routes_in_mp_reach_with_an_ipv6_next_hop_are_rejected_with_an_event() {
    let mut lab = lab(|_| {});
    lab.announce(0, &[net("10.250.0.0/16")], &route(&[65001], nva(4), &[]));
    assert!(lab.fabric.contains_key(&net("10.250.0.0/16")));
    // RFC 8950 (IPv6 next hop for IPv4 routes) is not negotiated: no usable next hop. The
    // announcement replaces the earlier route, so the prefix is gone.
    let v6 = MpNextHop::Ipv6 {
        global: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 4),
        link_local: None,
    };
    send(
        &mut lab,
        0,
        mp_ipv4(&[65001], v6, &["10.250.0.0/16", "10.251.0.0/16"]),
    );
    assert_eq!(
        rejections(&lab),
        vec![
            (net("10.250.0.0/16"), RejectReason::NoNextHop),
            (net("10.251.0.0/16"), RejectReason::NoNextHop),
        ]
    );
    assert!(lab.fabric.is_empty(), "{:?}", lab.fabric);
    assert!(!lab.speakers[1].received.contains_key(&net("10.250.0.0/16")));
    assert_eq!(
        lab.speakers[0].session.state(),
        State::Established,
        "the session stays up"
    );
}

/// Three routes a peer holding none sends in one batch: one learned, one refused for its
/// path (65515 in it), one refused for having no usable next hop; limit 2.
fn limit_case(counting: LimitCounting) -> Lab {
    let mut lab = lab(|config| {
        config.limits.max_routes_per_peer = Some(2);
        config.limits.counting = counting;
    });
    let v6 = MpNextHop::Ipv6 {
        global: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 4),
        link_local: None,
    };
    lab.announce(0, &[net("10.250.0.0/16")], &route(&[65001], nva(4), &[]));
    lab.announce(
        0,
        &[net("10.251.0.0/16")],
        &route(&[65001, 65515], nva(4), &[]),
    );
    send(&mut lab, 0, mp_ipv4(&[65001], v6, &["10.252.0.0/16"]));
    lab
}

#[test]
fn routes_refused_for_no_next_hop_count_like_other_refused_routes() {
    // Azure's rule counts every route the batch carries, learned or not: 0 + 3 > 2.
    let lab = limit_case(LimitCounting::HeldPlusBatch);
    assert_eq!(limit_hits(&lab), vec![(3, 2)]);
    // Per message: 0+1, then 1+1, then 1+1: never over.
    let lab = limit_case(LimitCounting::HeldPlusMessage);
    assert_eq!(limit_hits(&lab), vec![]);
    // Unique prefixes held: only the learned route is held, refused ones never are.
    let lab = limit_case(LimitCounting::UniquePrefixes);
    assert_eq!(limit_hits(&lab), vec![]);
    assert_eq!(routes_learned_from(&lab, 0), 1);
    assert_eq!(rejections(&lab).len(), 2, "{:?}", rejections(&lab));
}

#[test]
fn originator_id_and_cluster_list_stay_inside_the_as() {
    let mut lab = lab(|_| {});
    let mut attrs = route(&[12076, 65100], ER_NH, &[]);
    attrs.push(PathAttribute::new(AttrValue::OriginatorId(Ipv4Addr::new(
        10, 1, 0, 70,
    ))));
    attrs.push(PathAttribute::new(AttrValue::ClusterList(vec![
        Ipv4Addr::new(10, 1, 0, 71),
    ])));
    lab.announce(2, &[net("192.168.0.0/16")], &attrs);
    let reflected = |r: &route_server::RouteAttrs| {
        r.other
            .iter()
            .filter(|a| {
                matches!(
                    a.value,
                    AttrValue::OriginatorId(_) | AttrValue::ClusterList(_)
                )
            })
            .count()
    };
    for nva in [0, 1] {
        let got = &lab.speakers[nva].received[&net("192.168.0.0/16")];
        assert_eq!(got.as_path, AsPath::from_sequence([65515, 12076, 65100]));
        assert_eq!(reflected(got), 0, "NVA {nva} got {:?}", got.other);
    }
}

#[test]
fn unknown_optional_transitive_attributes_pass_with_the_partial_bit() {
    let mut lab = lab(|_| {});
    let unknown = |flags: u8, code: u8| PathAttribute {
        flags: AttrFlags(flags),
        value: AttrValue::Raw(RawAttribute {
            type_code: AttrType(code),
            value: vec![1, 2, 3, 4],
        }),
    };
    let mut attrs = route(&[65001], nva(4), &[]);
    attrs.push(unknown(AttrFlags::OPTIONAL | AttrFlags::TRANSITIVE, 241));
    attrs.push(unknown(AttrFlags::OPTIONAL, 242));
    lab.announce(0, &[net("10.250.0.0/16")], &attrs);
    for receiver in [1, 2, 3] {
        let got = &lab.speakers[receiver].received[&net("10.250.0.0/16")];
        let passed: Vec<(u8, u8, Vec<u8>)> = got
            .other
            .iter()
            .filter_map(|a| match &a.value {
                AttrValue::Raw(raw) => Some((a.flags.0, raw.type_code.0, raw.value.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            passed,
            vec![(
                AttrFlags::OPTIONAL | AttrFlags::TRANSITIVE | AttrFlags::PARTIAL,
                241,
                vec![1, 2, 3, 4]
            )],
            "receiver {receiver}"
        );
    }
}

fn prepend_map(asns: Vec<u32>) -> RouteMap {
    RouteMap {
        rules: vec![RouteMapRule {
            conditions: vec![],
            action: RouteMapAction::Modify(vec![Modification::AsPathAdd(asns)]),
            next_step: NextStep::Terminate,
        }],
    }
}

#[test]
fn scenario_35_private_asn_prepend_is_refused_and_a_public_one_works() {
    // Scenario 35 as written: 64580 64581 toward ExpressRoute. Private ASNs: Azure's
    // route-map limits forbid them (and ExpressRoute would strip them toward on-premises
    // anyway), so the configuration is refused, naming the peer and the field.
    let mut config = Config::azure(RS, vec![net("10.1.0.0/16")]);
    let mut er = PeerConfig::gateway(ip(ER_NH), PeerKind::ExpressRoute);
    er.outbound_map = Some(prepend_map(vec![64580, 64581]));
    config.peers.push(er.clone());
    let err = RouteServer::new(config, route_server::Instant::ZERO).unwrap_err();
    assert_eq!(
        err,
        ConfigError::RouteMap {
            peer: ip(ER_NH),
            field: "outbound_map",
            source: RouteMapError::ReservedAsnInPath {
                rule: 0,
                asn: 64580
            },
        }
    );
    assert_eq!(
        err.to_string(),
        "peer 10.1.0.68: field `outbound_map`: rule 0: AS 64580 may not be added to a path (private or reserved)"
    );
    // Added at run time: refused the same way, nothing changes.
    let mut server = RouteServer::new(
        Config::azure(RS, vec![net("10.1.0.0/16")]),
        route_server::Instant::ZERO,
    )
    .expect("valid");
    assert!(matches!(
        server.add_peer(route_server::Instant::ZERO, er),
        Err(ConfigError::RouteMap { .. })
    ));
    assert_eq!(server.peers().count(), 0);

    // The same map with public ASNs: ER gets the NVA's route with them in front, in the
    // listed order; the NVAs' routes are unaffected.
    let mut lab = lab(|config| {
        let er = config
            .peers
            .iter_mut()
            .find(|p| p.kind == PeerKind::ExpressRoute)
            .expect("ER configured");
        er.outbound_map = Some(prepend_map(vec![3356, 1299]));
    });
    lab.announce(0, &[net("10.250.0.0/16")], &route(&[65001], nva(4), &[]));
    assert_eq!(
        lab.speakers[2].received[&net("10.250.0.0/16")].as_path,
        AsPath::from_sequence([3356, 1299, 65001])
    );
    assert_eq!(
        lab.speakers[3].received[&net("10.250.0.0/16")].as_path,
        AsPath::from_sequence([65001])
    );
    assert_eq!(
        lab.speakers[1].received[&net("10.250.0.0/16")].as_path,
        AsPath::from_sequence([65515, 65001])
    );
}
