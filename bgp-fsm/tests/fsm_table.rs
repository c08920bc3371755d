//! Every state/event pair of RFC 4271 section 8.2.2 that can occur, as a table: start
//! state (and how it was reached), event, expected next state, expected outputs.
//!
//! Outputs are summarised one word each by `common::summarize` (state changes left out,
//! the state is checked on its own). Timer events are produced by letting virtual time
//! run to the timer's deadline.

mod common;

use std::time::Duration;

use bgp_fsm::{Input, Instant, Session, SessionConfig, State, StopReason, Timer};
use bgp_wire::{Family, Message, RouteRefresh, RouteRefreshSubtype};
use common::*;

/// How the session under test is set up before the event.
#[derive(Clone, Copy, Debug)]
enum Setup {
    Idle,
    /// Idle after a failure: IdleHoldTimer running, automatic restart pending.
    IdleHeld,
    /// Idle after a failure with AllowAutomaticStart off: IdleHoldTimer running (damping).
    IdleHeldNoRestart,
    /// Active open, waiting for the TCP connection.
    Connect,
    /// Connect with DelayOpen, connection up, DelayOpenTimer running.
    ConnectDelayOpen,
    /// Passive open, listening.
    Active,
    /// Passive with DelayOpen, connection up, DelayOpenTimer running.
    ActiveDelayOpen,
    OpenSent,
    OpenConfirm,
    Established,
}

/// RFC 4271 section 8.1 events (timer events included), and a ROUTE-REFRESH.
#[derive(Clone, Copy, Debug)]
enum Ev {
    ManualStart,               // 1
    ManualStop,                // 2
    AutomaticStart,            // 3
    ManualStartPassive,        // 4
    AutomaticStartPassive,     // 5
    AutomaticStartDamp,        // 6
    AutomaticStartDampPassive, // 7
    AutomaticStop,             // 8
    ConnectRetryTimerExpires,  // 9
    HoldTimerExpires,          // 10
    KeepaliveTimerExpires,     // 11
    DelayOpenTimerExpires,     // 12
    IdleHoldTimerExpires,      // 13
    TcpConnectionValid,        // 14
    TcpCrInvalid,              // 15
    TcpCrAcked,                // 16
    TcpConnectionConfirmed,    // 17
    TcpConnectionFails,        // 18
    BgpOpen,                   // 19 / 20
    BgpHeaderErr,              // 21
    BgpOpenMsgErr,             // 22
    OpenCollisionDump,         // 23
    NotifMsgVerErr,            // 24
    NotifMsg,                  // 25
    KeepAliveMsg,              // 26
    UpdateMsg,                 // 27
    UpdateMsgErr,              // 28
    RouteRefreshMsg,           // RFC 2918
    SendHoldTimerExpires,      // RFC 9687
}

use Ev::*;
use Setup as S;

const TABLE: &[(Setup, Ev, State, &str)] = &[
    // ---- Idle: only start events leave it.
    (S::Idle, ManualStart, State::Connect, "connect"),
    (S::Idle, ManualStartPassive, State::Active, ""),
    (S::Idle, AutomaticStart, State::Connect, "connect"),
    (S::Idle, AutomaticStartPassive, State::Active, ""),
    (S::Idle, AutomaticStartDamp, State::Connect, "connect"),
    (S::Idle, AutomaticStartDampPassive, State::Active, ""),
    (S::Idle, ManualStop, State::Idle, ""),
    (S::Idle, AutomaticStop, State::Idle, ""),
    (S::Idle, TcpConnectionValid, State::Idle, ""),
    (S::Idle, TcpCrInvalid, State::Idle, ""),
    (S::Idle, TcpCrAcked, State::Idle, ""),
    (S::Idle, TcpConnectionConfirmed, State::Idle, ""),
    (S::Idle, TcpConnectionFails, State::Idle, ""),
    (S::Idle, BgpOpen, State::Idle, ""),
    (S::Idle, BgpHeaderErr, State::Idle, ""),
    (S::Idle, OpenCollisionDump, State::Idle, ""),
    (S::Idle, NotifMsg, State::Idle, ""),
    (S::Idle, KeepAliveMsg, State::Idle, ""),
    (S::Idle, UpdateMsg, State::Idle, ""),
    (S::IdleHeld, IdleHoldTimerExpires, State::Connect, "connect"),
    (S::IdleHeld, ManualStart, State::Connect, "connect"),
    (S::IdleHeld, ManualStop, State::Idle, ""),
    (S::IdleHeldNoRestart, IdleHoldTimerExpires, State::Idle, ""),
    (S::IdleHeldNoRestart, AutomaticStart, State::Idle, ""),
    (S::IdleHeldNoRestart, AutomaticStartDamp, State::Idle, ""),
    (S::IdleHeldNoRestart, ManualStartPassive, State::Active, ""),
    // ---- Connect.
    (S::Connect, ManualStart, State::Connect, ""),
    (S::Connect, AutomaticStart, State::Connect, ""),
    (S::Connect, ManualStop, State::Idle, "close down"),
    (
        S::Connect,
        ConnectRetryTimerExpires,
        State::Connect,
        "close connect",
    ),
    (S::Connect, TcpConnectionValid, State::Connect, ""),
    (S::Connect, TcpCrInvalid, State::Connect, ""),
    (S::Connect, TcpCrAcked, State::OpenSent, "OPEN"),
    (S::Connect, TcpConnectionConfirmed, State::OpenSent, "OPEN"),
    (S::Connect, TcpConnectionFails, State::Idle, "close down"),
    (S::Connect, AutomaticStop, State::Idle, "close down"),
    (S::Connect, OpenCollisionDump, State::Idle, "close down"),
    (
        S::ConnectDelayOpen,
        DelayOpenTimerExpires,
        State::OpenSent,
        "OPEN",
    ),
    (
        S::ConnectDelayOpen,
        BgpOpen,
        State::OpenConfirm,
        "OPEN KEEPALIVE open-received",
    ),
    (
        S::ConnectDelayOpen,
        TcpConnectionFails,
        State::Active,
        "close down",
    ),
    (
        S::ConnectDelayOpen,
        BgpHeaderErr,
        State::Idle,
        "NOTIF(1/1) close down",
    ),
    (
        S::ConnectDelayOpen,
        BgpOpenMsgErr,
        State::Idle,
        "NOTIF(2/1) close down",
    ),
    (
        S::ConnectDelayOpen,
        NotifMsgVerErr,
        State::Idle,
        "close down",
    ),
    (S::ConnectDelayOpen, NotifMsg, State::Idle, "close down"),
    (S::ConnectDelayOpen, KeepAliveMsg, State::Idle, "close down"),
    (S::ConnectDelayOpen, UpdateMsg, State::Idle, "close down"),
    (S::ConnectDelayOpen, UpdateMsgErr, State::Idle, "close down"),
    (S::ConnectDelayOpen, ManualStop, State::Idle, "close down"),
    // ---- Active.
    (S::Active, ManualStart, State::Active, ""),
    (S::Active, AutomaticStartPassive, State::Active, ""),
    (S::Active, ManualStop, State::Idle, "down"),
    (
        S::Active,
        ConnectRetryTimerExpires,
        State::Connect,
        "connect",
    ),
    (S::Active, TcpConnectionValid, State::Active, ""),
    (S::Active, TcpCrInvalid, State::Active, ""),
    (S::Active, TcpCrAcked, State::OpenSent, "OPEN"),
    (S::Active, TcpConnectionConfirmed, State::OpenSent, "OPEN"),
    (S::Active, TcpConnectionFails, State::Idle, "down"),
    (S::Active, AutomaticStop, State::Idle, "down"),
    (S::Active, OpenCollisionDump, State::Idle, "down"),
    (
        S::ActiveDelayOpen,
        ManualStop,
        State::Idle,
        "NOTIF(6/2) close down",
    ),
    (
        S::ActiveDelayOpen,
        DelayOpenTimerExpires,
        State::OpenSent,
        "OPEN",
    ),
    (
        S::ActiveDelayOpen,
        BgpOpen,
        State::OpenConfirm,
        "OPEN KEEPALIVE open-received",
    ),
    (
        S::ActiveDelayOpen,
        TcpConnectionFails,
        State::Idle,
        "close down",
    ),
    (
        S::ActiveDelayOpen,
        BgpHeaderErr,
        State::Idle,
        "NOTIF(1/1) close down",
    ),
    (
        S::ActiveDelayOpen,
        BgpOpenMsgErr,
        State::Idle,
        "NOTIF(2/1) close down",
    ),
    (
        S::ActiveDelayOpen,
        NotifMsgVerErr,
        State::Idle,
        "close down",
    ),
    (S::ActiveDelayOpen, NotifMsg, State::Idle, "close down"),
    (S::ActiveDelayOpen, KeepAliveMsg, State::Idle, "close down"),
    (S::ActiveDelayOpen, UpdateMsg, State::Idle, "close down"),
    // ---- OpenSent.
    (S::OpenSent, ManualStart, State::OpenSent, ""),
    (S::OpenSent, AutomaticStart, State::OpenSent, ""),
    (
        S::OpenSent,
        ManualStop,
        State::Idle,
        "NOTIF(6/2) close down",
    ),
    (
        S::OpenSent,
        AutomaticStop,
        State::Idle,
        "NOTIF(6/2) close down",
    ),
    (
        S::OpenSent,
        HoldTimerExpires,
        State::Idle,
        "NOTIF(4/0) close down",
    ),
    (S::OpenSent, TcpConnectionValid, State::OpenSent, ""),
    (S::OpenSent, TcpCrInvalid, State::OpenSent, ""),
    (S::OpenSent, TcpCrAcked, State::OpenSent, ""),
    (S::OpenSent, TcpConnectionConfirmed, State::OpenSent, ""),
    (S::OpenSent, TcpConnectionFails, State::Active, "close down"),
    (
        S::OpenSent,
        BgpOpen,
        State::OpenConfirm,
        "KEEPALIVE open-received",
    ),
    (
        S::OpenSent,
        BgpHeaderErr,
        State::Idle,
        "NOTIF(1/1) close down",
    ),
    (
        S::OpenSent,
        BgpOpenMsgErr,
        State::Idle,
        "NOTIF(2/1) close down",
    ),
    (
        S::OpenSent,
        OpenCollisionDump,
        State::Idle,
        "NOTIF(6/7) close down",
    ),
    (S::OpenSent, NotifMsgVerErr, State::Idle, "close down"),
    (S::OpenSent, NotifMsg, State::Idle, "close down"),
    (
        S::OpenSent,
        KeepAliveMsg,
        State::Idle,
        "NOTIF(5/1) close down",
    ),
    (S::OpenSent, UpdateMsg, State::Idle, "NOTIF(5/1) close down"),
    (
        S::OpenSent,
        UpdateMsgErr,
        State::Idle,
        "NOTIF(5/1) close down",
    ),
    (
        S::OpenSent,
        RouteRefreshMsg,
        State::Idle,
        "NOTIF(5/1) close down",
    ),
    (
        S::OpenSent,
        SendHoldTimerExpires,
        State::Idle,
        "NOTIF(8/0) close down",
    ),
    // ---- OpenConfirm.
    (S::OpenConfirm, ManualStart, State::OpenConfirm, ""),
    (
        S::OpenConfirm,
        ManualStop,
        State::Idle,
        "NOTIF(6/2) close down",
    ),
    (
        S::OpenConfirm,
        AutomaticStop,
        State::Idle,
        "NOTIF(6/2) close down",
    ),
    (
        S::OpenConfirm,
        HoldTimerExpires,
        State::Idle,
        "NOTIF(4/0) close down",
    ),
    (
        S::OpenConfirm,
        KeepaliveTimerExpires,
        State::OpenConfirm,
        "KEEPALIVE",
    ),
    (S::OpenConfirm, TcpConnectionValid, State::OpenConfirm, ""),
    (S::OpenConfirm, TcpCrInvalid, State::OpenConfirm, ""),
    (S::OpenConfirm, TcpCrAcked, State::OpenConfirm, ""),
    (
        S::OpenConfirm,
        TcpConnectionConfirmed,
        State::OpenConfirm,
        "",
    ),
    (
        S::OpenConfirm,
        TcpConnectionFails,
        State::Idle,
        "close down",
    ),
    (S::OpenConfirm, NotifMsg, State::Idle, "close down"),
    (S::OpenConfirm, NotifMsgVerErr, State::Idle, "close down"),
    (
        S::OpenConfirm,
        BgpOpen,
        State::Idle,
        "NOTIF(5/2) close down",
    ),
    (
        S::OpenConfirm,
        BgpHeaderErr,
        State::Idle,
        "NOTIF(1/1) close down",
    ),
    (
        S::OpenConfirm,
        OpenCollisionDump,
        State::Idle,
        "NOTIF(6/7) close down",
    ),
    (
        S::OpenConfirm,
        KeepAliveMsg,
        State::Established,
        "established",
    ),
    (
        S::OpenConfirm,
        UpdateMsg,
        State::Idle,
        "NOTIF(5/2) close down",
    ),
    (
        S::OpenConfirm,
        UpdateMsgErr,
        State::Idle,
        "NOTIF(5/2) close down",
    ),
    (
        S::OpenConfirm,
        RouteRefreshMsg,
        State::Idle,
        "NOTIF(5/2) close down",
    ),
    (
        S::OpenConfirm,
        SendHoldTimerExpires,
        State::Idle,
        "NOTIF(8/0) close down",
    ),
    // ---- Established.
    (S::Established, ManualStart, State::Established, ""),
    (
        S::Established,
        AutomaticStartPassive,
        State::Established,
        "",
    ),
    (
        S::Established,
        ManualStop,
        State::Idle,
        "NOTIF(6/2) close down",
    ),
    (
        S::Established,
        AutomaticStop,
        State::Idle,
        "NOTIF(6/2) close down",
    ),
    (
        S::Established,
        HoldTimerExpires,
        State::Idle,
        "NOTIF(4/0) close down",
    ),
    (
        S::Established,
        KeepaliveTimerExpires,
        State::Established,
        "KEEPALIVE",
    ),
    (S::Established, TcpConnectionValid, State::Established, ""),
    (S::Established, TcpCrInvalid, State::Established, ""),
    (S::Established, TcpCrAcked, State::Established, ""),
    (
        S::Established,
        TcpConnectionConfirmed,
        State::Established,
        "",
    ),
    (
        S::Established,
        OpenCollisionDump,
        State::Idle,
        "NOTIF(6/7) close down",
    ),
    (
        S::Established,
        TcpConnectionFails,
        State::Idle,
        "close down",
    ),
    (S::Established, NotifMsgVerErr, State::Idle, "close down"),
    (S::Established, NotifMsg, State::Idle, "close down"),
    (S::Established, KeepAliveMsg, State::Established, ""),
    (S::Established, UpdateMsg, State::Established, "update"),
    (
        S::Established,
        UpdateMsgErr,
        State::Idle,
        "NOTIF(3/1) close down",
    ),
    (
        S::Established,
        BgpOpen,
        State::Idle,
        "NOTIF(5/3) close down",
    ),
    (
        S::Established,
        BgpHeaderErr,
        State::Idle,
        "NOTIF(1/1) close down",
    ),
    (
        S::Established,
        RouteRefreshMsg,
        State::Established,
        "refresh",
    ),
    (
        S::Established,
        SendHoldTimerExpires,
        State::Idle,
        "NOTIF(8/0) close down",
    ),
];

fn config(passive: bool, delay_open: bool) -> SessionConfig {
    let mut config = local_config();
    config.passive = passive;
    config.delay_open = delay_open.then_some(Duration::from_secs(5));
    config.send_hold_time = Some(Duration::from_secs(10));
    config
}

fn setup(setup: Setup) -> Session {
    let now = Instant::ZERO;
    let (passive, delay_open) = match setup {
        S::Active | S::ActiveDelayOpen => (true, matches!(setup, S::ActiveDelayOpen)),
        S::ConnectDelayOpen => (false, true),
        _ => (false, false),
    };
    let mut config = config(passive, delay_open);
    config.allow_automatic_start = !matches!(setup, S::IdleHeldNoRestart);
    let mut session = Session::new(config, now).unwrap();
    if !matches!(setup, S::Idle) {
        session.handle_input(now, Input::ManualStart);
    }
    match setup {
        S::IdleHeld | S::IdleHeldNoRestart => session.handle_input(now, Input::TcpConnectionFails),
        S::ConnectDelayOpen => session.handle_input(now, Input::TcpCrAcked),
        S::ActiveDelayOpen => session.handle_input(now, Input::TcpConnectionConfirmed),
        S::OpenSent | S::OpenConfirm | S::Established => {
            session.handle_input(now, Input::TcpCrAcked);
        }
        _ => {}
    }
    if matches!(setup, S::OpenConfirm | S::Established) {
        session.handle_input(now, Input::Received(&open_bytes(&peer_config())));
    }
    if matches!(setup, S::Established) {
        session.handle_input(now, Input::Received(&keepalive_bytes()));
    }
    drain(&mut session);
    session
}

fn received(session: &mut Session, bytes: &[u8]) -> Vec<bgp_fsm::Output> {
    session.handle_input(Instant::ZERO, Input::Received(bytes));
    drain(session)
}

fn apply(session: &mut Session, event: Ev) -> Vec<bgp_fsm::Output> {
    let now = Instant::ZERO;
    let input = |session: &mut Session, input: Input<'_>| {
        session.handle_input(now, input);
        drain(session)
    };
    let stop = || StopReason::AdministrativeShutdown(None);
    match event {
        ManualStart => input(session, Input::ManualStart),
        ManualStop => input(session, Input::ManualStop(stop())),
        AutomaticStart => input(session, Input::AutomaticStart),
        ManualStartPassive => input(session, Input::ManualStartWithPassiveTcpEstablishment),
        AutomaticStartPassive => input(session, Input::AutomaticStartWithPassiveTcpEstablishment),
        AutomaticStartDamp => input(session, Input::AutomaticStartWithDampPeerOscillations),
        AutomaticStartDampPassive => input(
            session,
            Input::AutomaticStartWithDampPeerOscillationsAndPassiveTcpEstablishment,
        ),
        AutomaticStop => input(session, Input::AutomaticStop(stop())),
        ConnectRetryTimerExpires => fire(session, Timer::ConnectRetry),
        HoldTimerExpires => fire(session, Timer::Hold),
        KeepaliveTimerExpires => fire(session, Timer::Keepalive),
        DelayOpenTimerExpires => fire(session, Timer::DelayOpen),
        IdleHoldTimerExpires => fire(session, Timer::IdleHold),
        TcpConnectionValid => input(session, Input::TcpConnectionValid),
        TcpCrInvalid => input(session, Input::TcpCrInvalid),
        TcpCrAcked => input(session, Input::TcpCrAcked),
        TcpConnectionConfirmed => input(session, Input::TcpConnectionConfirmed),
        TcpConnectionFails => input(session, Input::TcpConnectionFails),
        BgpOpen => received(session, &open_bytes(&peer_config())),
        BgpHeaderErr => {
            // Marker not all ones: Connection Not Synchronized.
            let mut bytes = keepalive_bytes();
            bytes[0] = 0;
            received(session, &bytes)
        }
        BgpOpenMsgErr => {
            let mut bytes = open_bytes(&peer_config());
            bytes[19] = 3; // version 3
            received(session, &bytes)
        }
        OpenCollisionDump => input(session, Input::OpenCollisionDump),
        NotifMsgVerErr => received(session, &notification_bytes(2, 1)),
        NotifMsg => received(session, &notification_bytes(6, 2)),
        KeepAliveMsg => received(session, &keepalive_bytes()),
        UpdateMsg => received(session, &encode(&Message::Update(Default::default()))),
        UpdateMsgErr => {
            // Withdrawn Routes Length (200) runs past the message: Malformed Attribute List.
            let mut bytes = vec![0xff; 16];
            bytes.extend_from_slice(&[0, 23, 2, 0, 200, 0, 0]);
            received(session, &bytes)
        }
        RouteRefreshMsg => {
            let refresh = RouteRefresh::new(Family::IPV4_UNICAST, RouteRefreshSubtype::Normal);
            received(session, &encode(&Message::RouteRefresh(refresh)))
        }
        SendHoldTimerExpires => {
            session.handle_input(now, Input::TransmitBlocked);
            drain(session);
            fire(session, Timer::SendHold)
        }
    }
}

#[test]
fn every_state_event_pair_follows_the_table() {
    let mut failures = Vec::new();
    for &(start, event, expected_state, expected_outputs) in TABLE {
        let mut session = setup(start);
        let outputs = apply(&mut session, event);
        let got = summarize(&outputs);
        if session.state() != expected_state || got != expected_outputs {
            failures.push(format!(
                "{start:?} + {event:?}: expected {expected_state:?} [{expected_outputs}], got {:?} [{got}]",
                session.state()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        TABLE.len(),
        failures.join("\n")
    );
}

#[test]
fn the_table_covers_every_state_and_event() {
    for state in [
        S::Idle,
        S::Connect,
        S::Active,
        S::OpenSent,
        S::OpenConfirm,
        S::Established,
    ] {
        assert!(TABLE
            .iter()
            .any(|(s, ..)| std::mem::discriminant(s) == std::mem::discriminant(&state)));
    }
    let all = [
        ManualStart,
        ManualStop,
        AutomaticStart,
        ManualStartPassive,
        AutomaticStartPassive,
        AutomaticStartDamp,
        AutomaticStartDampPassive,
        AutomaticStop,
        ConnectRetryTimerExpires,
        HoldTimerExpires,
        KeepaliveTimerExpires,
        DelayOpenTimerExpires,
        IdleHoldTimerExpires,
        TcpConnectionValid,
        TcpCrInvalid,
        TcpCrAcked,
        TcpConnectionConfirmed,
        TcpConnectionFails,
        BgpOpen,
        BgpHeaderErr,
        BgpOpenMsgErr,
        OpenCollisionDump,
        NotifMsgVerErr,
        NotifMsg,
        KeepAliveMsg,
        UpdateMsg,
        UpdateMsgErr,
        RouteRefreshMsg,
        SendHoldTimerExpires,
    ];
    for event in all {
        assert!(
            TABLE
                .iter()
                .any(|(_, e, ..)| std::mem::discriminant(e) == std::mem::discriminant(&event)),
            "{event:?} missing from the table"
        );
    }
}
