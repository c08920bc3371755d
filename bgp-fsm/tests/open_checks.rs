//! OPEN checks: each failure answered with its exact NOTIFICATION (RFC 4271 section
//! 6.2, RFC 5492, RFC 6286, RFC 6793, RFC 7607, RFC 9234), and the acceptable cases
//! next to them.

mod common;

use bgp_fsm::{
    Input, Instant, Negotiated, RequiredCapability, Session, SessionConfig, SessionEnd, State,
};
use bgp_wire::{Capability, Family, Message, Notification, Open, OptionalParameter, Role};
use common::*;

struct Outcome {
    state: State,
    sent: Vec<Notification>,
    negotiated: Option<Negotiated>,
    ends: Vec<SessionEnd>,
}

fn try_open(config: SessionConfig, open: Open) -> Outcome {
    let now = Instant::ZERO;
    let mut session = Session::new(config, now).unwrap();
    session.handle_input(now, Input::ManualStart);
    session.handle_input(now, Input::TcpCrAcked);
    drain(&mut session);
    session.handle_input(now, Input::Received(&encode(&Message::Open(open))));
    let outputs = drain(&mut session);
    let ends = outputs
        .iter()
        .filter_map(|o| match o {
            bgp_fsm::Output::Event(bgp_fsm::SessionEvent::Down(end)) => Some(end.clone()),
            _ => None,
        })
        .collect();
    Outcome {
        state: session.state(),
        sent: sent_notifications(&outputs),
        negotiated: session.negotiated().cloned(),
        ends,
    }
}

fn peer_open() -> Open {
    peer_config().open()
}

fn with_caps(mut open: Open, caps: Vec<Capability>) -> Open {
    open.parameters = vec![OptionalParameter::Capabilities(caps)];
    open
}

#[track_caller]
fn assert_refused(outcome: &Outcome, code: u8, subcode: u8, data: &[u8]) {
    assert_eq!(outcome.state, State::Idle);
    assert_eq!(outcome.sent.len(), 1, "exactly one NOTIFICATION");
    let n = &outcome.sent[0];
    assert_eq!(
        (n.code.0, n.subcode, n.data.as_slice()),
        (code, subcode, data)
    );
    assert_eq!(outcome.ends, vec![SessionEnd::NotificationSent(n.clone())]);
}

#[track_caller]
fn assert_accepted(outcome: &Outcome) -> &Negotiated {
    assert_eq!(outcome.state, State::OpenConfirm, "sent {:?}", outcome.sent);
    assert!(outcome.sent.is_empty());
    outcome.negotiated.as_ref().expect("negotiated")
}

#[test]
fn unsupported_version_is_2_1_with_version_4_as_data() {
    let mut open = peer_open();
    open.version = 3;
    assert_refused(&try_open(local_config(), open), 2, 1, &[0, 4]);
}

#[test]
fn unexpected_peer_as_is_2_2() {
    let mut open = peer_open();
    open.my_as = 65003;
    open = with_caps(open, vec![Capability::FourOctetAs(65003)]);
    assert_refused(&try_open(local_config(), open), 2, 2, &[]);
}

#[test]
fn four_octet_as_must_come_with_as_trans() {
    let mut config = local_config();
    config.peer_asn = 4_200_000_001.into();
    // Right: AS_TRANS in My AS, the real AS in the capability.
    let mut open = with_caps(peer_open(), vec![Capability::FourOctetAs(4_200_000_001)]);
    open.my_as = Open::AS_TRANS;
    assert_eq!(
        assert_accepted(&try_open(config.clone(), open.clone())).peer_asn,
        4_200_000_001
    );
    // Wrong: some other 2-octet AS in My AS.
    open.my_as = 65002;
    assert_refused(&try_open(config, open), 2, 2, &[]);
}

#[test]
fn as_trans_in_the_capability_is_2_2() {
    let mut config = local_config();
    config.peer_asn = bgp_fsm::PeerAsn::Any;
    let mut open = with_caps(peer_open(), vec![Capability::FourOctetAs(23456)]);
    open.my_as = Open::AS_TRANS;
    assert_refused(&try_open(config, open), 2, 2, &[]);
}

#[test]
fn two_octet_as_in_the_capability_must_match_my_as() {
    let open = with_caps(peer_open(), vec![Capability::FourOctetAs(65009)]);
    let mut config = local_config();
    config.peer_asn = bgp_fsm::PeerAsn::Any;
    assert_refused(&try_open(config, open), 2, 2, &[]);
}

#[test]
fn as_zero_is_2_2_even_when_any_as_is_accepted() {
    let mut config = local_config();
    config.peer_asn = bgp_fsm::PeerAsn::Any;
    let mut open = with_caps(peer_open(), vec![]);
    open.my_as = 0;
    assert_refused(&try_open(config, open), 2, 2, &[]);
}

#[test]
fn peer_as_range_and_any() {
    let mut config = local_config();
    config.peer_asn = bgp_fsm::PeerAsn::Between {
        min: 65000,
        max: 65010,
    };
    assert_accepted(&try_open(config.clone(), peer_open()));
    config.peer_asn = bgp_fsm::PeerAsn::Between {
        min: 64000,
        max: 64010,
    };
    assert_refused(&try_open(config, peer_open()), 2, 2, &[]);
}

#[test]
fn zero_identifier_is_2_3() {
    let mut open = peer_open();
    open.bgp_identifier = std::net::Ipv4Addr::UNSPECIFIED;
    assert_refused(&try_open(local_config(), open), 2, 3, &[]);
}

#[test]
fn equal_identifiers_are_fine_between_ases_but_not_within_one() {
    // RFC 6286 section 2.2.
    let mut open = peer_open();
    open.bgp_identifier = local_id();
    assert_accepted(&try_open(local_config(), open.clone()));

    let mut config = local_config();
    config.peer_asn = LOCAL_ASN.into();
    let mut ibgp = with_caps(open, vec![Capability::FourOctetAs(LOCAL_ASN)]);
    ibgp.my_as = LOCAL_ASN as u16;
    assert_refused(&try_open(config.clone(), ibgp.clone()), 2, 3, &[]);
    ibgp.bgp_identifier = peer_id();
    assert!(assert_accepted(&try_open(config, ibgp)).internal);
}

#[test]
fn hold_times_of_one_and_two_seconds_are_2_6() {
    for hold in [1, 2] {
        let mut open = peer_open();
        open.hold_time = hold;
        assert_refused(&try_open(local_config(), open), 2, 6, &[]);
    }
    for (hold, negotiated, keepalive) in [
        (0, 0, 0),
        (3, 3, 1),
        (30, 30, 10),
        (90, 90, 30),
        (240, 90, 30),
    ] {
        let mut open = peer_open();
        open.hold_time = hold;
        let outcome = try_open(local_config(), open);
        let n = assert_accepted(&outcome);
        assert_eq!(
            (n.hold_time, n.keepalive_time),
            (negotiated, keepalive),
            "peer proposed {hold}"
        );
    }
}

#[test]
fn hold_time_below_the_configured_minimum_is_2_6() {
    let mut config = local_config();
    config.min_hold_time = Some(30);
    for (hold, accepted) in [
        (0, false),
        (10, false),
        (29, false),
        (30, true),
        (180, true),
    ] {
        let mut open = peer_open();
        open.hold_time = hold;
        let outcome = try_open(config.clone(), open);
        if accepted {
            assert_accepted(&outcome);
        } else {
            assert_refused(&outcome, 2, 6, &[]);
        }
    }
}

#[test]
fn unknown_optional_parameter_is_2_4() {
    let mut open = peer_open();
    open.parameters.push(OptionalParameter::Unknown {
        param_type: 1,
        value: vec![0, 0],
    });
    let outcome = try_open(local_config(), open);
    assert_eq!(outcome.state, State::Idle);
    let n = &outcome.sent[0];
    assert_eq!((n.code.0, n.subcode), (2, 4));
}

#[test]
fn missing_required_capabilities_are_2_7_and_listed() {
    let mut config = local_config();
    config.required_capabilities = vec![
        RequiredCapability::FourOctetAs,
        RequiredCapability::Multiprotocol(Family::IPV6_UNICAST),
        RequiredCapability::RouteRefresh,
    ];
    // The peer has route refresh only.
    let open = with_caps(peer_open(), vec![Capability::RouteRefresh]);
    let mut data = vec![65, 4];
    data.extend_from_slice(&LOCAL_ASN.to_be_bytes());
    data.extend_from_slice(&[1, 4, 0, 2, 0, 1]);
    assert_refused(&try_open(config.clone(), open), 2, 7, &data);

    // With all three it is accepted.
    let open = with_caps(
        peer_open(),
        vec![
            Capability::RouteRefresh,
            Capability::FourOctetAs(PEER_ASN),
            Capability::multiprotocol(Family::IPV6_UNICAST),
        ],
    );
    assert_accepted(&try_open(config, open));
}

const ROLES: [Role; 5] = [
    Role::Provider,
    Role::RouteServer,
    Role::RouteServerClient,
    Role::Customer,
    Role::Peer,
];

#[test]
fn role_pairs_follow_rfc_9234() {
    let allowed = [
        (Role::Provider, Role::Customer),
        (Role::Customer, Role::Provider),
        (Role::RouteServer, Role::RouteServerClient),
        (Role::RouteServerClient, Role::RouteServer),
        (Role::Peer, Role::Peer),
    ];
    for local in ROLES {
        for peer in ROLES {
            let mut config = local_config();
            config.capabilities.role = Some(local);
            let mut caps = peer_config().capabilities.to_owned();
            caps.role = Some(peer);
            let mut peer_cfg = peer_config();
            peer_cfg.capabilities = caps;
            let outcome = try_open(config, peer_cfg.open());
            if allowed.contains(&(local, peer)) {
                let n = assert_accepted(&outcome);
                assert_eq!((n.local_role, n.peer_role), (Some(local), Some(peer)));
            } else {
                assert_refused(&outcome, 2, 11, &[]);
            }
        }
    }
}

#[test]
fn strict_role_mode_requires_the_capability() {
    let mut config = local_config();
    config.capabilities.role = Some(Role::RouteServer);
    assert_accepted(&try_open(config.clone(), peer_open()));
    config.strict_role = true;
    assert_refused(&try_open(config, peer_open()), 2, 11, &[]);
}

#[test]
fn disagreeing_role_capabilities_are_a_mismatch() {
    let mut config = local_config();
    config.capabilities.role = Some(Role::RouteServer);
    let open = with_caps(
        peer_open(),
        vec![
            Capability::Role(Role::RouteServerClient),
            Capability::Role(Role::Customer),
        ],
    );
    assert_refused(&try_open(config, open), 2, 11, &[]);
}

#[test]
fn unknown_role_value_is_a_mismatch() {
    let mut config = local_config();
    config.capabilities.role = Some(Role::RouteServer);
    let open = with_caps(peer_open(), vec![Capability::Role(Role::Other(9))]);
    assert_refused(&try_open(config, open), 2, 11, &[]);
}

#[test]
fn session_without_local_role_ignores_the_peers() {
    let open = with_caps(peer_open(), vec![Capability::Role(Role::Customer)]);
    let outcome = try_open(local_config(), open);
    assert_eq!(assert_accepted(&outcome).peer_role, Some(Role::Customer));
}
