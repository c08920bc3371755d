//! Full handshakes between two sessions on the in-memory harness, with different
//! capability sets, byte streams cut at every size, UPDATE and ROUTE-REFRESH exchange,
//! shutdown communication and connection collisions.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use bgp_fsm::testing::{Pair, Side};
use bgp_fsm::{
    Input, Instant, Output, SendError, Session, SessionConfig, SessionEnd, SessionEvent, State,
    StopReason,
};
use bgp_wire::{
    AddPathDirection, AddPathEntry, AsPath, AttrValue, Family, MpNextHop, Nlri, Origin, Role,
    RouteRefresh, RouteRefreshSubtype, Update,
};
use common::*;

fn established_pair(a: SessionConfig, b: SessionConfig) -> Pair {
    let mut pair = Pair::new(a, b);
    pair.start_both();
    pair.drive();
    assert_eq!(
        pair.a.session.state(),
        State::Established,
        "a: {:?}",
        pair.a.log
    );
    assert_eq!(
        pair.b.session.state(),
        State::Established,
        "b: {:?}",
        pair.b.log
    );
    pair
}

fn announcement(prefixes: &[&str]) -> Update {
    Update::ipv4_announcement(
        [
            bgp_wire::PathAttribute::new(AttrValue::Origin(Origin::Igp)),
            bgp_wire::PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence([PEER_ASN]))),
            bgp_wire::PathAttribute::new(AttrValue::NextHop(Ipv4Addr::new(192, 0, 2, 1))),
        ],
        prefixes.iter().map(|p| Nlri::new(p.parse().unwrap())),
    )
}

fn updates(side: &bgp_fsm::testing::Endpoint) -> Vec<Update> {
    side.events()
        .filter_map(|e| match e {
            SessionEvent::Update(u) => Some(u.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn default_sessions_establish_with_matching_views() {
    let pair = established_pair(local_config(), peer_config());
    let (a, b) = (
        pair.a.session.negotiated().unwrap(),
        pair.b.session.negotiated().unwrap(),
    );
    assert_eq!((a.peer_asn, a.peer_id), (PEER_ASN, peer_id()));
    assert_eq!((b.peer_asn, b.peer_id), (LOCAL_ASN, local_id()));
    assert_eq!(a.send, b.receive);
    assert_eq!(a.receive, b.send);
    assert!(a.four_octet_as && a.route_refresh && a.enhanced_route_refresh);
    assert_eq!(a.families, vec![Family::IPV4_UNICAST]);
    // Each side reported Established once, with what it negotiated.
    for side in [&pair.a, &pair.b] {
        let established: Vec<_> = side
            .events()
            .filter_map(|e| match e {
                SessionEvent::Established(n) => Some(n.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(established.len(), 1);
        assert_eq!(Some(&*established[0]), side.session.negotiated());
        assert_eq!(side.transmitted_types(), vec![1, 4]);
    }
}

#[test]
fn passive_side_waits_and_active_side_connects() {
    let mut b = peer_config();
    b.passive = true;
    let pair = established_pair(local_config(), b);
    assert_eq!(
        pair.a.session.connection_origin(),
        Some(bgp_fsm::ConnectionOrigin::Local)
    );
    assert_eq!(
        pair.b.session.connection_origin(),
        Some(bgp_fsm::ConnectionOrigin::Remote)
    );
    let states: Vec<(State, State)> = pair
        .b
        .events()
        .filter_map(|e| match e {
            SessionEvent::StateChanged { from, to } => Some((*from, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        vec![
            (State::Idle, State::Active),
            (State::Active, State::OpenSent),
            (State::OpenSent, State::OpenConfirm),
            (State::OpenConfirm, State::Established),
        ]
    );
}

#[test]
fn delay_open_on_both_sides_still_establishes() {
    let mut a = local_config();
    a.delay_open = Some(Duration::from_secs(3));
    let mut b = peer_config();
    b.delay_open = Some(Duration::from_secs(5));
    b.passive = true;
    let mut pair = Pair::new(a, b);
    pair.start_both();
    pair.drive();
    assert!(
        pair.a.transmitted_types().is_empty(),
        "nobody sends an OPEN before its DelayOpenTimer"
    );
    pair.run_until(Instant::from_secs(10));
    assert_eq!(pair.a.session.state(), State::Established);
    assert_eq!(pair.b.session.state(), State::Established);
    // A's timer expired first; B answered A's OPEN at once (event 20).
    assert_eq!(
        pair.a.transmitted().next().unwrap().0,
        Instant::from_secs(3)
    );
    assert_eq!(
        pair.b.transmitted().next().unwrap().0,
        Instant::from_secs(3)
    );
}

#[test]
fn different_capability_sets_negotiate_their_intersection() {
    let mut a = local_config();
    a.capabilities.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    a.capabilities.extended_message = true;
    a.capabilities.add_path = vec![AddPathEntry {
        family: Family::IPV4_UNICAST,
        direction: AddPathDirection::Send,
    }];
    a.capabilities.role = Some(Role::RouteServer);
    a.hold_time = 60;
    let mut b = peer_config();
    b.capabilities.families = vec![Family::IPV4_UNICAST];
    b.capabilities.enhanced_route_refresh = false;
    b.capabilities.add_path = vec![AddPathEntry {
        family: Family::IPV4_UNICAST,
        direction: AddPathDirection::Both,
    }];
    b.capabilities.role = Some(Role::RouteServerClient);
    b.hold_time = 180;
    let pair = established_pair(a, b);
    let (a, b) = (
        pair.a.session.negotiated().unwrap(),
        pair.b.session.negotiated().unwrap(),
    );
    for n in [a, b] {
        assert_eq!(n.families, vec![Family::IPV4_UNICAST]);
        assert_eq!((n.hold_time, n.keepalive_time), (60, 20));
        assert!(n.route_refresh && !n.enhanced_route_refresh);
    }
    assert_eq!(a.add_path_send, vec![Family::IPV4_UNICAST]);
    assert!(a.add_path_receive.is_empty());
    assert_eq!(b.add_path_receive, vec![Family::IPV4_UNICAST]);
    assert!(b.receive.add_path.contains(Family::IPV4_UNICAST));
    assert!(a.send.add_path.contains(Family::IPV4_UNICAST));
    assert!(a.extended_message_receive && !a.extended_message_send);
    assert!(!b.extended_message_receive && !b.send.extended_message);
    assert_eq!(
        (a.local_role, a.peer_role),
        (Some(Role::RouteServer), Some(Role::RouteServerClient))
    );
}

#[test]
fn a_session_without_multiprotocol_implies_ipv4_unicast() {
    let mut a = local_config();
    a.capabilities.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    let mut b = peer_config();
    b.capabilities.families = Vec::new();
    let pair = established_pair(a, b);
    assert_eq!(
        pair.a.session.negotiated().unwrap().families,
        vec![Family::IPV4_UNICAST]
    );
}

#[test]
fn a_four_octet_speaker_and_a_two_octet_speaker() {
    let mut a = SessionConfig::new(4_200_000_001, local_id(), PEER_ASN);
    a.capabilities.four_octet_as = true;
    let mut b = peer_config();
    b.capabilities.four_octet_as = false;
    b.peer_asn = 4_200_000_001.into();
    let pair = established_pair(a, b);
    let (a, b) = (
        pair.a.session.negotiated().unwrap(),
        pair.b.session.negotiated().unwrap(),
    );
    assert!(!a.four_octet_as && !a.send.four_octet_as && !b.receive.four_octet_as);
    assert_eq!(b.peer_asn, 4_200_000_001);
    assert_eq!(b.peer_open.my_as, 23456);
}

#[test]
fn messages_split_and_joined_at_any_boundary() {
    for chunk in [1, 2, 3, 7, 18, 19, 20, 64, 4096] {
        let mut pair = Pair::new(local_config(), peer_config());
        pair.chunk_size = Some(chunk);
        pair.start_both();
        pair.drive();
        assert_eq!(pair.b.session.state(), State::Established, "chunk {chunk}");
        let now = pair.now;
        for i in 0..5u8 {
            let prefix = format!("198.51.{i}.0/24");
            pair.a
                .session
                .send_update(now, &announcement(&[prefix.as_str()]))
                .unwrap();
        }
        pair.a
            .session
            .send_end_of_rib(now, Family::IPV4_UNICAST)
            .unwrap();
        pair.drive();
        let got = updates(&pair.b);
        assert_eq!(got.len(), 6, "chunk {chunk}");
        assert_eq!(
            got[4].nlri,
            vec![Nlri::new("198.51.4.0/24".parse().unwrap())]
        );
        assert_eq!(got[5].end_of_rib(), Some(Family::IPV4_UNICAST));
    }
}

#[test]
fn updates_are_delivered_and_counted_per_family() {
    let mut a = local_config();
    a.capabilities.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    let mut b = peer_config();
    b.capabilities.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    let mut pair = established_pair(a, b);
    let now = pair.now;
    let sent = announcement(&["203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/25"]);
    pair.a.session.send_update(now, &sent).unwrap();
    pair.a
        .session
        .send_update(
            now,
            &Update::ipv4_withdrawal([Nlri::new("192.0.2.0/25".parse().unwrap())]),
        )
        .unwrap();
    let v6 = Update::mp_announcement(
        Family::IPV6_UNICAST,
        MpNextHop::Ipv6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: None,
        },
        [
            bgp_wire::PathAttribute::new(AttrValue::Origin(Origin::Igp)),
            bgp_wire::PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence([PEER_ASN]))),
        ],
        [
            Nlri::new("2001:db8:1::/48".parse().unwrap()),
            Nlri::new("2001:db8:2::/48".parse().unwrap()),
        ],
    );
    pair.a.session.send_update(now, &v6).unwrap();
    pair.drive();
    let got = updates(&pair.b);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].nlri, sent.nlri);
    assert_eq!(got[0].treatment(), None);
    let counters = pair.b.session.counters();
    assert_eq!(counters.updates_received, 3);
    let v4 = counters.prefixes(Family::IPV4_UNICAST);
    assert_eq!((v4.announced, v4.withdrawn), (3, 1));
    let v6 = counters.prefixes(Family::IPV6_UNICAST);
    assert_eq!((v6.announced, v6.withdrawn), (2, 0));
    assert_eq!(pair.a.session.counters().updates_sent, 3);
}

#[test]
fn sending_outside_established_or_beyond_the_size_is_refused() {
    let mut session = Session::new(local_config(), Instant::ZERO).unwrap();
    assert_eq!(
        session.send_update(Instant::ZERO, &Update::new()),
        Err(SendError::NotEstablished)
    );
    assert_eq!(
        session.request_refresh(Instant::ZERO, Family::IPV4_UNICAST),
        Err(SendError::NotEstablished)
    );

    let mut pair = established_pair(local_config(), peer_config());
    let now = pair.now;
    let prefixes: Vec<String> = (0..1200u32)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let too_big = announcement(&refs);
    assert!(matches!(
        pair.a.session.send_update(now, &too_big),
        Err(SendError::MessageTooLong { max: 4096, .. })
    ));
    assert_eq!(
        pair.a.session.send_end_of_rib(now, Family::IPV6_UNICAST),
        Err(SendError::FamilyNotNegotiated(Family::IPV6_UNICAST))
    );
}

#[test]
fn extended_messages_carry_large_updates() {
    let mut a = local_config();
    a.capabilities.extended_message = true;
    let mut b = peer_config();
    b.capabilities.extended_message = true;
    let mut pair = established_pair(a, b);
    let now = pair.now;
    let prefixes: Vec<String> = (0..1200u32)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    pair.a
        .session
        .send_update(now, &announcement(&refs))
        .unwrap();
    pair.drive();
    assert_eq!(updates(&pair.b)[0].nlri.len(), 1200);
}

#[test]
fn route_refresh_requests_and_enhanced_markers() {
    let mut pair = established_pair(local_config(), peer_config());
    let now = pair.now;
    pair.b
        .session
        .request_refresh(now, Family::IPV4_UNICAST)
        .unwrap();
    for subtype in [
        RouteRefreshSubtype::BeginningOfRefresh,
        RouteRefreshSubtype::EndOfRefresh,
    ] {
        pair.a
            .session
            .send_route_refresh(now, RouteRefresh::new(Family::IPV4_UNICAST, subtype))
            .unwrap();
    }
    pair.drive();
    let refreshes = |side: &bgp_fsm::testing::Endpoint| -> Vec<RouteRefreshSubtype> {
        side.events()
            .filter_map(|e| match e {
                SessionEvent::RouteRefresh(r) => Some(r.subtype),
                _ => None,
            })
            .collect()
    };
    assert_eq!(refreshes(&pair.a), vec![RouteRefreshSubtype::Normal]);
    assert_eq!(
        refreshes(&pair.b),
        vec![
            RouteRefreshSubtype::BeginningOfRefresh,
            RouteRefreshSubtype::EndOfRefresh
        ]
    );
    assert_eq!(
        pair.a.session.request_refresh(now, Family::IPV6_UNICAST),
        Err(SendError::FamilyNotNegotiated(Family::IPV6_UNICAST))
    );
}

#[test]
fn route_refresh_needs_the_capability() {
    let mut b = peer_config();
    b.capabilities.route_refresh = false;
    b.capabilities.enhanced_route_refresh = false;
    let mut pair = established_pair(local_config(), b);
    let now = pair.now;
    assert_eq!(
        pair.a.session.request_refresh(now, Family::IPV4_UNICAST),
        Err(SendError::RouteRefreshNotNegotiated)
    );
    let mut a = local_config();
    a.capabilities.enhanced_route_refresh = false;
    let mut pair = established_pair(a, peer_config());
    let borr = RouteRefresh::new(
        Family::IPV4_UNICAST,
        RouteRefreshSubtype::BeginningOfRefresh,
    );
    assert_eq!(
        pair.a.session.send_route_refresh(now, borr.clone()),
        Err(SendError::EnhancedRouteRefreshNotNegotiated)
    );
    // A BoRR arriving anyway (the peer ignores the negotiation) is dropped, and so is a
    // request for a family we never advertised (RFC 2918 section 4, RFC 7313 section 5).
    pair.input(
        Side::A,
        Input::Received(&encode(&bgp_wire::Message::RouteRefresh(borr))),
    );
    let v6 = RouteRefresh::new(Family::IPV6_UNICAST, RouteRefreshSubtype::Normal);
    pair.input(
        Side::A,
        Input::Received(&encode(&bgp_wire::Message::RouteRefresh(v6))),
    );
    assert!(!pair
        .a
        .events()
        .any(|e| matches!(e, SessionEvent::RouteRefresh(_))));
    assert_eq!(pair.a.session.state(), State::Established);
}

#[test]
fn shutdown_communication_reaches_the_peer() {
    let mut pair = established_pair(local_config(), peer_config());
    let now = pair.now;
    pair.a.session.stop(
        now,
        StopReason::AdministrativeShutdown(Some("planned maintenance".into())),
    );
    pair.drive();
    assert_eq!(pair.a.session.state(), State::Idle);
    assert_eq!(pair.b.session.state(), State::Idle);
    let sent = match pair.a.ends().as_slice() {
        [SessionEnd::Stopped {
            automatic: false,
            notification: Some(n),
        }] => n.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(sent.shutdown_communication(), Some("planned maintenance"));
    match pair.b.ends().as_slice() {
        [SessionEnd::NotificationReceived(n)] => {
            assert_eq!((n.code.0, n.subcode), (6, 2));
            assert_eq!(n.shutdown_communication(), Some("planned maintenance"));
        }
        other => panic!("{other:?}"),
    }
    // B restarts by itself after its IdleHoldTimer; A was stopped and stays down.
    assert!(pair.b.session.poll_timeout().is_some());
    assert_eq!(pair.a.session.poll_timeout(), None);
}

#[test]
fn every_cease_subcode_goes_out_as_asked() {
    let cases = [
        (
            StopReason::MaxPrefixes {
                family: Family::IPV4_UNICAST,
                limit: 1000,
            },
            1,
            vec![0, 1, 1, 0, 0, 3, 232],
        ),
        (StopReason::AdministrativeShutdown(None), 2, vec![]),
        (StopReason::PeerDeconfigured, 3, vec![]),
        (StopReason::AdministrativeReset(None), 4, vec![]),
        (
            StopReason::AdministrativeReset(Some("bye".into())),
            4,
            vec![3, b'b', b'y', b'e'],
        ),
        (StopReason::ConnectionRejected, 5, vec![]),
        (StopReason::OtherConfigurationChange, 6, vec![]),
        (StopReason::ConnectionCollisionResolution, 7, vec![]),
        (StopReason::OutOfResources, 8, vec![]),
        (StopReason::HardReset { cause_subcode: 3 }, 9, vec![6, 3]),
        (StopReason::BfdDown, 10, vec![]),
    ];
    for (reason, subcode, data) in cases {
        let mut pair = established_pair(local_config(), peer_config());
        pair.input(Side::A, Input::AutomaticStop(reason.clone()));
        match pair.b.ends().as_slice() {
            [SessionEnd::NotificationReceived(n)] => {
                assert_eq!(
                    (n.code.0, n.subcode, &n.data),
                    (6, subcode, &data),
                    "{reason:?}"
                );
            }
            other => panic!("{reason:?}: {other:?}"),
        }
        assert!(matches!(
            pair.a.ends().as_slice(),
            [SessionEnd::Stopped {
                automatic: true,
                ..
            }]
        ));
        // An automatic stop is not followed by an automatic start: B keeps trying, A
        // stays in Idle and refuses.
        pair.run_until(Instant::from_secs(1000));
        assert_eq!(pair.a.session.state(), State::Idle);
        assert_eq!(pair.a.ends().len(), 1);
    }
}

#[test]
fn peer_closing_the_connection_ends_the_session_and_it_comes_back() {
    let mut pair = established_pair(local_config(), peer_config());
    pair.input(Side::A, Input::TcpConnectionFails);
    pair.drive();
    assert_eq!(pair.a.ends(), vec![SessionEnd::TcpConnectionFails]);
    assert_eq!(pair.b.ends(), vec![SessionEnd::TcpConnectionFails]);
    pair.a.clear_log();
    pair.b.clear_log();
    pair.run_until(Instant::from_secs(60));
    assert_eq!(pair.a.session.state(), State::Established);
    assert_eq!(pair.b.session.state(), State::Established);
}

/// Moves bytes and closes between two sessions until both are quiet; returns the outputs
/// of each.
fn link(x: &mut Session, y: &mut Session, now: Instant) -> (Vec<Output>, Vec<Output>) {
    let (mut all_x, mut all_y) = (Vec::new(), Vec::new());
    loop {
        let out_x = drain(x);
        let out_y = drain(y);
        if out_x.is_empty() && out_y.is_empty() {
            return (all_x, all_y);
        }
        for (outputs, to) in [(&out_x, &mut *y), (&out_y, &mut *x)] {
            for o in outputs {
                match o {
                    Output::Transmit(bytes) => to.handle_input(now, Input::Received(bytes)),
                    Output::CloseTcp => to.handle_input(now, Input::TcpConnectionFails),
                    _ => {}
                }
            }
        }
        all_x.extend(out_x);
        all_y.extend(out_y);
    }
}

#[test]
fn connection_collision_keeps_the_connection_of_the_higher_identifier() {
    // Both connect at once: connection 1 from A (a_out <-> b_in), connection 2 from B
    // (b_out <-> a_in). B has the higher identifier, so connection 2 survives.
    let now = Instant::ZERO;
    let mut a_out = Session::new(local_config(), now).unwrap();
    let mut a_in = Session::new(local_config(), now).unwrap();
    let mut b_out = Session::new(peer_config(), now).unwrap();
    let mut b_in = Session::new(peer_config(), now).unwrap();
    for s in [&mut a_out, &mut b_out] {
        s.handle_input(now, Input::ManualStart);
        s.handle_input(now, Input::TcpCrAcked);
    }
    for s in [&mut a_in, &mut b_in] {
        s.handle_input(now, Input::ManualStartWithPassiveTcpEstablishment);
        s.handle_input(now, Input::TcpConnectionConfirmed);
    }
    // OPENs cross; hold back the KEEPALIVEs by only exchanging the first messages.
    for (x, y) in [(&mut a_out, &mut b_in), (&mut b_out, &mut a_in)] {
        let ox = drain(x);
        let oy = drain(y);
        for o in &ox {
            if let Output::Transmit(b) = o {
                y.handle_input(now, Input::Received(b));
            }
        }
        for o in &oy {
            if let Output::Transmit(b) = o {
                x.handle_input(now, Input::Received(b));
            }
        }
    }
    for s in [&a_out, &a_in, &b_out, &b_in] {
        assert_eq!(s.state(), State::OpenConfirm);
    }
    // The owners compare identifiers and drop the losing connection.
    let remote_of_a = a_in.peer_id().unwrap();
    assert!(a_out.resolve_collision(now, remote_of_a, PEER_ASN));
    assert!(!a_in.resolve_collision(now, remote_of_a, PEER_ASN));
    let remote_of_b = b_in.peer_id().unwrap();
    assert!(!b_out.resolve_collision(now, remote_of_b, LOCAL_ASN));
    assert!(b_in.resolve_collision(now, remote_of_b, LOCAL_ASN));

    let (out_a, _) = link(&mut a_out, &mut b_in, now);
    assert_eq!(sent_notifications(&out_a)[0].subcode, 7);
    assert_eq!(a_out.state(), State::Idle);
    assert_eq!(b_in.state(), State::Idle);
    link(&mut b_out, &mut a_in, now);
    assert_eq!(a_in.state(), State::Established);
    assert_eq!(b_out.state(), State::Established);
    assert_eq!(
        a_in.connection_origin(),
        Some(bgp_fsm::ConnectionOrigin::Remote)
    );
}

#[test]
fn add_path_identifiers_travel_in_the_negotiated_direction_only() {
    let mut a = local_config();
    a.capabilities.add_path = vec![AddPathEntry {
        family: Family::IPV4_UNICAST,
        direction: AddPathDirection::Send,
    }];
    let mut b = peer_config();
    b.capabilities.add_path = vec![AddPathEntry {
        family: Family::IPV4_UNICAST,
        direction: AddPathDirection::Receive,
    }];
    let mut pair = established_pair(a, b);
    let now = pair.now;
    let mut with_ids = announcement(&[]);
    with_ids.nlri = vec![
        Nlri::with_path_id("203.0.113.0/24".parse().unwrap(), 1),
        Nlri::with_path_id("203.0.113.0/24".parse().unwrap(), 2),
    ];
    pair.a.session.send_update(now, &with_ids).unwrap();
    // B sends without identifiers: A did not advertise receive.
    pair.b
        .session
        .send_update(now, &announcement(&["198.51.100.0/24"]))
        .unwrap();
    pair.drive();
    assert_eq!(updates(&pair.b)[0].nlri, with_ids.nlri);
    assert_eq!(
        updates(&pair.a)[0].nlri,
        vec![Nlri::new("198.51.100.0/24".parse().unwrap())]
    );
}

#[test]
fn collision_resolution_needs_a_connection() {
    let mut session = Session::new(local_config(), Instant::ZERO).unwrap();
    assert!(!session.resolve_collision(Instant::ZERO, peer_id(), PEER_ASN));
    assert!(drain(&mut session).is_empty());
}
