//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::net::Ipv4Addr;

use bgp_fsm::{Input, Instant, Output, Session, SessionConfig, SessionEvent, State, Timer};
use bgp_wire::{ErrorCode, Message, Notification, SessionParams};

pub const LOCAL_ASN: u32 = 65001;
pub const PEER_ASN: u32 = 65002;

pub fn local_id() -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 1)
}

pub fn peer_id() -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 2)
}

/// Our side: AS 65001, 10.0.0.1, expecting AS 65002.
pub fn local_config() -> SessionConfig {
    SessionConfig::new(LOCAL_ASN, local_id(), PEER_ASN)
}

/// The peer: AS 65002, 10.0.0.2, expecting AS 65001.
pub fn peer_config() -> SessionConfig {
    SessionConfig::new(PEER_ASN, peer_id(), LOCAL_ASN)
}

pub fn encode(message: &Message) -> Vec<u8> {
    let mut bytes = Vec::new();
    message.emit(&mut bytes, &SessionParams::default());
    bytes
}

pub fn open_bytes(config: &SessionConfig) -> Vec<u8> {
    encode(&Message::Open(config.open()))
}

pub fn keepalive_bytes() -> Vec<u8> {
    encode(&Message::Keepalive)
}

pub fn notification_bytes(code: u8, subcode: u8) -> Vec<u8> {
    encode(&Message::Notification(Notification::new(
        ErrorCode(code),
        subcode,
    )))
}

pub fn drain(session: &mut Session) -> Vec<Output> {
    std::iter::from_fn(|| session.poll_output()).collect()
}

/// One word per output (state changes left out): `OPEN`, `KEEPALIVE`, `UPDATE`,
/// `REFRESH`, `NOTIF(c/s)`, `connect`, `close`, `open-received`, `established`,
/// `update`, `refresh`, `down`.
pub fn summarize(outputs: &[Output]) -> String {
    let words: Vec<String> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Transmit(bytes) => Some(match bytes.get(18) {
                Some(1) => "OPEN".to_string(),
                Some(2) => "UPDATE".to_string(),
                Some(3) => format!("NOTIF({}/{})", bytes[19], bytes[20]),
                Some(4) => "KEEPALIVE".to_string(),
                Some(5) => "REFRESH".to_string(),
                other => format!("TYPE{other:?}"),
            }),
            Output::ConnectTcp => Some("connect".to_string()),
            Output::CloseTcp => Some("close".to_string()),
            Output::Event(SessionEvent::StateChanged { .. }) => None,
            Output::Event(SessionEvent::OpenReceived { .. }) => Some("open-received".to_string()),
            Output::Event(SessionEvent::Established(_)) => Some("established".to_string()),
            Output::Event(SessionEvent::Update(_)) => Some("update".to_string()),
            Output::Event(SessionEvent::RouteRefresh(_)) => Some("refresh".to_string()),
            Output::Event(SessionEvent::Down(_)) => Some("down".to_string()),
        })
        .collect();
    words.join(" ")
}

/// The NOTIFICATIONs among `outputs`, decoded.
pub fn sent_notifications(outputs: &[Output]) -> Vec<Notification> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Transmit(bytes) if bytes.get(18) == Some(&3) => {
                match Message::parse(bytes, &SessionParams::default()) {
                    Ok(Message::Notification(n)) => Some(n),
                    other => panic!("we sent an undecodable NOTIFICATION: {other:?}"),
                }
            }
            _ => None,
        })
        .collect()
}

/// Fires timers in deadline order until `timer` has fired; returns the outputs of that
/// last step only. Panics when `timer` is not running.
pub fn fire(session: &mut Session, timer: Timer) -> Vec<Output> {
    assert!(
        session.timer(timer).is_some(),
        "{timer:?} is not running in {:?}",
        session.state()
    );
    loop {
        let (next, at) = session.next_timer().expect("a timer runs");
        session.handle_timeout(at);
        if next == timer {
            return drain(session);
        }
        drain(session);
    }
}

/// A session that went through ManualStart, Tcp_CR_Acked, the peer's OPEN and
/// KEEPALIVE with `config` against `peer`.
pub fn established(config: SessionConfig, peer: &SessionConfig) -> Session {
    let now = Instant::ZERO;
    let mut session = Session::new(config, now).unwrap();
    session.handle_input(now, Input::ManualStart);
    session.handle_input(now, Input::TcpCrAcked);
    session.handle_input(now, Input::Received(&open_bytes(peer)));
    session.handle_input(now, Input::Received(&keepalive_bytes()));
    drain(&mut session);
    assert_eq!(session.state(), State::Established);
    session
}
