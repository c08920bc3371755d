//! The single-instance lab's own plumbing (`fabric_sim::lab`): what its speakers record
//! and how connections come and go. The route server's behaviour is tested through the
//! lab in `route-server/tests/`; here the expected values are RFC 4271's.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_fsm::{SessionEvent, State};
use fabric_sim::lab::{route, Lab};
use ipnet::IpNet;
use route_server::{Config, PeerConfig};

const RS: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 4);
const NVA_A: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 4);
const NVA_B: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 5);

fn net(s: &str) -> IpNet {
    s.parse().expect("test prefix")
}

/// Azure's hub with two NVAs configured, both connected.
fn two_nvas() -> Lab {
    let config = Config::azure(RS, vec![net("10.1.0.0/16")])
        .with_peer(PeerConfig::nva(IpAddr::V4(NVA_A), 65001))
        .with_peer(PeerConfig::nva(IpAddr::V4(NVA_B), 65002));
    let mut lab = Lab::new(config);
    lab.add_nva(NVA_A, 65001);
    lab.add_nva(NVA_B, 65002);
    lab
}

#[test]
fn a_speaker_records_its_fsm_walk_to_established_as_rfc4271_section_8_describes() {
    let lab = two_nvas();
    // RFC 4271 8.2.2: ManualStart takes Idle to Connect; the TCP connection confirmed,
    // the OPEN goes out (OpenSent); the peer's OPEN (OpenConfirm); its KEEPALIVE
    // (Established).
    let walk: Vec<(State, State)> = lab.speakers[0]
        .events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::StateChanged { from, to } => Some((*from, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(
        walk,
        vec![
            (State::Idle, State::Connect),
            (State::Connect, State::OpenSent),
            (State::OpenSent, State::OpenConfirm),
            (State::OpenConfirm, State::Established),
        ]
    );
    assert!(lab.speakers[0]
        .events
        .iter()
        .any(|e| matches!(e, SessionEvent::Established(_))));
    assert!(
        !lab.speakers[0]
            .events
            .iter()
            .any(|e| matches!(e, SessionEvent::Update(_))),
        "UPDATEs go to the received table, not the events"
    );
    assert!(lab.speakers.iter().all(|s| s.connected() && s.alive()));
}

#[test]
fn a_reset_connection_withdraws_the_routes_and_the_reconnected_speaker_sends_them_again() {
    let mut lab = two_nvas();
    let p = net("10.250.0.0/16");
    lab.announce(0, &[p], &route(&[65001], NVA_A, &[]));
    assert_eq!(lab.fabric[&p], vec![IpAddr::V4(NVA_A)]);
    assert_eq!(lab.speakers[1].received[&p].next_hop, IpAddr::V4(RS));
    let first_connection = lab.speakers[0].connection;

    lab.reset_connection(0);
    // RFC 4271 9.1.4 / 8.2.2: the connection gone, the routes learned on it are
    // withdrawn and the other peer told.
    assert!(!lab.fabric.contains_key(&p), "{:?}", lab.fabric);
    assert!(!lab.speakers[1].received.contains_key(&p));
    assert!(lab.speakers[0].received.is_empty());

    // The speaker starts again by itself (connect retry at most 10 s, nva_session) and,
    // Established, advertises its table again (9.2: the Adj-RIB-Out on a new session).
    lab.run_for(Duration::from_secs(30));
    assert_eq!(lab.speakers[0].session.state(), State::Established);
    assert_ne!(
        lab.speakers[0].connection, first_connection,
        "a new connection"
    );
    assert_eq!(lab.fabric[&p], vec![IpAddr::V4(NVA_A)]);
    assert_eq!(lab.speakers[1].received[&p].next_hop, IpAddr::V4(RS));
}

#[test]
fn a_crashed_speaker_goes_silent_and_its_routes_go_when_the_hold_timer_expires() {
    let mut lab = two_nvas();
    let p = net("10.250.0.0/16");
    lab.announce(0, &[p], &route(&[65001], NVA_A, &[]));
    lab.crash(0);
    assert!(!lab.speakers[0].alive());
    // Azure's hold time is 180 s (RFC 4271 4.2: negotiated as the smaller of the two).
    lab.run_for(Duration::from_secs(179));
    assert!(lab.fabric.contains_key(&p), "within the hold time");
    lab.run_for(Duration::from_secs(2));
    assert!(!lab.fabric.contains_key(&p), "after the hold time");
    assert!(!lab.speakers[1].received.contains_key(&p));
    assert_eq!(
        lab.speakers[0].session.state(),
        State::Established,
        "a crashed speaker runs nothing, not even its FSM"
    );
}
