//! Timers on virtual time: keepalives every hold/3, hold expiry at exactly the
//! negotiated hold time, the 4-minute OPEN hold, DelayOpen, connect-retry jitter,
//! IdleHold with damping, and the RFC 9687 send hold timer. Time always jumps straight
//! to `poll_timeout`.

mod common;

use std::time::Duration;

use bgp_fsm::testing::Pair;
use bgp_fsm::{Input, Instant, Output, Session, SessionEnd, SessionEvent, State, Timer};
use common::*;

/// Runs `session` alone from timeout to timeout until `until`, returning every output
/// with the time it came out.
fn run_alone(session: &mut Session, until: Instant) -> Vec<(Instant, Output)> {
    let mut log = Vec::new();
    while let Some(at) = session.poll_timeout().filter(|at| *at <= until) {
        session.handle_timeout(at);
        log.extend(drain(session).into_iter().map(|o| (at, o)));
    }
    log
}

fn secs(s: u64) -> Instant {
    Instant::from_secs(s)
}

fn transmit_times(log: &[(Instant, Output)], message_type: u8) -> Vec<Instant> {
    log.iter()
        .filter_map(|(t, o)| match o {
            Output::Transmit(b) if b.get(18) == Some(&message_type) => Some(*t),
            _ => None,
        })
        .collect()
}

#[test]
fn keepalives_every_third_of_the_hold_time_keep_both_sides_up() {
    let mut a = local_config();
    a.hold_time = 30;
    let mut pair = Pair::new(a, peer_config());
    pair.start_both();
    pair.drive();
    assert_eq!(pair.a.session.state(), State::Established);
    assert_eq!(pair.a.session.negotiated().unwrap().hold_time, 30);
    pair.a.clear_log();
    pair.b.clear_log();
    pair.run_until(secs(600));
    for side in [&pair.a, &pair.b] {
        assert_eq!(side.session.state(), State::Established);
        let times: Vec<Instant> = side
            .transmitted()
            .filter(|(_, b)| b[18] == 4)
            .map(|(t, _)| t)
            .collect();
        let expected: Vec<Instant> = (1..=60).map(|k| secs(10 * k)).collect();
        assert_eq!(times, expected);
    }
}

#[test]
fn hold_timer_expires_at_exactly_the_negotiated_hold_time() {
    let mut session = established(local_config(), &peer_config());
    let log = run_alone(&mut session, secs(90));
    assert_eq!(transmit_times(&log, 4), vec![secs(30), secs(60)]);
    assert_eq!(transmit_times(&log, 3), vec![secs(90)]);
    let sent = sent_notifications(&log.iter().map(|(_, o)| o.clone()).collect::<Vec<_>>());
    assert_eq!((sent[0].code.0, sent[0].subcode), (4, 0));
    assert!(log.iter().any(|(_, o)| matches!(
        o,
        Output::Event(SessionEvent::Down(SessionEnd::HoldTimerExpired))
    )));
    assert_eq!(session.state(), State::Idle);
}

#[test]
fn every_received_message_pushes_the_hold_expiry_back() {
    let mut session = established(local_config(), &peer_config());
    session.handle_input(secs(50), Input::Received(&keepalive_bytes()));
    drain(&mut session);
    assert_eq!(session.timer(Timer::Hold), Some(secs(140)));
    session.handle_input(
        secs(70),
        Input::Received(&encode(&bgp_wire::Message::Update(Default::default()))),
    );
    drain(&mut session);
    assert_eq!(session.timer(Timer::Hold), Some(secs(160)));
    let log = run_alone(&mut session, secs(1000));
    assert_eq!(transmit_times(&log, 3), vec![secs(160)]);
    // Afterwards the session restarts by itself (AllowAutomaticStart) after the IdleHoldTimer.
    assert_eq!(session.state(), State::Connect);
}

#[test]
fn hold_time_zero_disables_hold_and_keepalive() {
    let mut config = local_config();
    config.hold_time = 0;
    let session = established(config, &peer_config());
    assert_eq!(session.negotiated().unwrap().hold_time, 0);
    assert_eq!(session.poll_timeout(), None);
}

#[test]
fn open_sent_waits_four_minutes_for_the_open() {
    let mut session = Session::new(local_config(), Instant::ZERO).unwrap();
    session.handle_input(Instant::ZERO, Input::ManualStart);
    session.handle_input(secs(1), Input::TcpCrAcked);
    drain(&mut session);
    let log = run_alone(&mut session, secs(1000));
    assert_eq!(transmit_times(&log, 3), vec![secs(241)]);
}

#[test]
fn delay_open_sends_the_open_when_the_timer_expires() {
    let mut config = local_config();
    config.delay_open = Some(Duration::from_secs(7));
    let mut session = Session::new(config, Instant::ZERO).unwrap();
    session.handle_input(Instant::ZERO, Input::ManualStart);
    session.handle_input(secs(2), Input::TcpCrAcked);
    assert_eq!(summarize(&drain(&mut session)), "connect");
    assert_eq!(session.timer(Timer::ConnectRetry), None);
    let log = run_alone(&mut session, secs(5));
    assert!(log.is_empty());
    let log = run_alone(&mut session, secs(10));
    assert_eq!(transmit_times(&log, 1), vec![secs(9)]);
    assert_eq!(session.state(), State::OpenSent);
}

#[test]
fn connect_retry_is_jittered_between_three_quarters_and_all_of_its_value() {
    let mut deadlines = Vec::new();
    for seed in 0..50 {
        let mut config = local_config();
        config.rng_seed = seed;
        let mut session = Session::new(config, Instant::ZERO).unwrap();
        session.handle_input(Instant::ZERO, Input::ManualStart);
        let at = session.timer(Timer::ConnectRetry).unwrap();
        assert!(at >= secs(90) && at <= secs(120), "{at:?}");
        deadlines.push(at);
        // A second session with the same seed behaves identically.
        let mut config = local_config();
        config.rng_seed = seed;
        let mut twin = Session::new(config, Instant::ZERO).unwrap();
        twin.handle_input(Instant::ZERO, Input::ManualStart);
        assert_eq!(twin.timer(Timer::ConnectRetry), Some(at));
    }
    deadlines.sort();
    deadlines.dedup();
    assert!(deadlines.len() > 40, "seeds should spread the deadlines");
}

#[test]
fn connect_retry_expiry_retries_the_connection() {
    let mut session = Session::new(local_config(), Instant::ZERO).unwrap();
    session.handle_input(Instant::ZERO, Input::ManualStart);
    assert_eq!(summarize(&drain(&mut session)), "connect");
    let first = session.timer(Timer::ConnectRetry).unwrap();
    let log = run_alone(&mut session, first);
    assert_eq!(
        summarize(&log.into_iter().map(|(_, o)| o).collect::<Vec<_>>()),
        "close connect"
    );
    let second = session.timer(Timer::ConnectRetry).unwrap();
    assert!(
        second >= first + Duration::from_secs(90) && second <= first + Duration::from_secs(120)
    );
}

/// Fails the connection attempt each time the session connects; returns how long it
/// stayed in Idle each time.
fn idle_periods(session: &mut Session, rounds: usize) -> Vec<Duration> {
    let mut periods = Vec::new();
    let mut now = Instant::ZERO;
    session.handle_input(now, Input::ManualStart);
    drain(session);
    for _ in 0..rounds {
        session.handle_input(now, Input::TcpConnectionFails);
        drain(session);
        assert_eq!(session.state(), State::Idle);
        let idle_since = now;
        let restart = session
            .timer(Timer::IdleHold)
            .expect("IdleHoldTimer runs after a failure");
        now = restart;
        session.handle_timeout(now);
        assert_eq!(summarize(&drain(session)), "connect", "automatic restart");
        periods.push(now - idle_since);
    }
    periods
}

#[test]
fn idle_hold_time_doubles_for_an_oscillating_peer_up_to_the_cap() {
    let mut session = Session::new(local_config(), Instant::ZERO).unwrap();
    let periods = idle_periods(&mut session, 9);
    let nominal = [5, 10, 20, 40, 80, 160, 300, 300, 300];
    for (period, nominal) in periods.iter().zip(nominal) {
        let nominal = Duration::from_secs(nominal);
        assert!(
            *period <= nominal && *period >= nominal * 3 / 4,
            "{period:?} vs {nominal:?}"
        );
    }
}

#[test]
fn without_damping_the_idle_hold_time_stays_put() {
    let mut config = local_config();
    config.damp_peer_oscillations = false;
    let mut session = Session::new(config, Instant::ZERO).unwrap();
    for period in idle_periods(&mut session, 5) {
        assert!(period <= Duration::from_secs(5) && period >= Duration::from_millis(3750));
    }
}

#[test]
fn damping_forgets_after_a_stable_session() {
    let mut session = Session::new(local_config(), Instant::ZERO).unwrap();
    let periods = idle_periods(&mut session, 4);
    assert!(periods[3] >= Duration::from_secs(30));
    // Now a session that stays up for longer than the stable time.
    let mut now = Instant::from_secs(1000);
    session.handle_input(now, Input::TcpCrAcked);
    session.handle_input(now, Input::Received(&open_bytes(&peer_config())));
    session.handle_input(now, Input::Received(&keepalive_bytes()));
    assert_eq!(session.state(), State::Established);
    for _ in 0..20 {
        now += Duration::from_secs(20);
        session.handle_input(now, Input::Received(&keepalive_bytes()));
    }
    drain(&mut session);
    session.handle_input(now, Input::TcpConnectionFails);
    drain(&mut session);
    let idle = session.timer(Timer::IdleHold).unwrap() - now;
    assert!(
        idle <= Duration::from_secs(5),
        "damping restarted from the base: {idle:?}"
    );
}

#[test]
fn automatic_start_waits_for_the_idle_hold_timer() {
    let mut config = local_config();
    config.allow_automatic_start = false;
    let mut session = Session::new(config, Instant::ZERO).unwrap();
    session.handle_input(Instant::ZERO, Input::ManualStart);
    session.handle_input(Instant::ZERO, Input::TcpConnectionFails);
    drain(&mut session);
    let release = session
        .timer(Timer::IdleHold)
        .expect("damping holds the session in Idle");
    session.handle_input(secs(1), Input::AutomaticStartWithDampPeerOscillations);
    assert_eq!(session.state(), State::Idle, "deferred");
    assert!(drain(&mut session).is_empty());
    session.handle_timeout(release);
    assert_eq!(session.state(), State::Connect);
    // Without a pending start, nothing happens when the timer expires.
    session.handle_input(release, Input::TcpConnectionFails);
    drain(&mut session);
    let release = session.timer(Timer::IdleHold).unwrap();
    session.handle_timeout(release);
    assert_eq!(session.state(), State::Idle);
}

#[test]
fn manual_start_does_not_wait_and_manual_stop_cancels_the_restart() {
    let mut session = Session::new(local_config(), Instant::ZERO).unwrap();
    session.handle_input(Instant::ZERO, Input::ManualStart);
    session.handle_input(Instant::ZERO, Input::TcpConnectionFails);
    drain(&mut session);
    assert!(session.timer(Timer::IdleHold).is_some());
    session.handle_input(secs(1), Input::ManualStart);
    assert_eq!(session.state(), State::Connect);

    session.handle_input(secs(2), Input::TcpConnectionFails);
    session.handle_input(
        secs(3),
        Input::ManualStop(bgp_fsm::StopReason::AdministrativeShutdown(None)),
    );
    drain(&mut session);
    assert_eq!(session.poll_timeout(), None);
    session.handle_timeout(secs(10_000));
    assert_eq!(session.state(), State::Idle);
}

#[test]
fn a_stopped_session_does_not_restart() {
    let mut session = established(local_config(), &peer_config());
    session.stop(secs(1), bgp_fsm::StopReason::PeerDeconfigured);
    let outputs = drain(&mut session);
    assert_eq!(summarize(&outputs), "NOTIF(6/3) close down");
    assert_eq!(session.poll_timeout(), None);
}

#[test]
fn send_hold_timer_defaults_to_eight_minutes_or_twice_the_hold_time() {
    for (hold, expected) in [(90u16, 480u64), (240, 480), (300, 600)] {
        let mut config = local_config();
        config.hold_time = hold;
        let mut peer = peer_config();
        peer.hold_time = hold;
        let mut session = established(config, &peer);
        session.handle_input(secs(5), Input::TransmitBlocked);
        assert_eq!(
            session.timer(Timer::SendHold),
            Some(secs(5 + expected)),
            "hold {hold}"
        );
        // Progress stops it; blocking again restarts it from then.
        session.handle_input(secs(6), Input::TransmitProgress);
        assert_eq!(session.timer(Timer::SendHold), None);
        session.handle_input(secs(7), Input::TransmitBlocked);
        session.handle_input(secs(8), Input::TransmitBlocked);
        assert_eq!(session.timer(Timer::SendHold), Some(secs(7 + expected)));
    }
}

#[test]
fn send_hold_expiry_sends_8_0_and_drops_the_session() {
    let mut config = local_config();
    config.send_hold_time = Some(Duration::from_secs(20));
    let mut session = established(config, &peer_config());
    session.handle_input(secs(1), Input::TransmitBlocked);
    drain(&mut session);
    // The peer keeps sending KEEPALIVEs but never reads ours.
    session.handle_input(secs(10), Input::Received(&keepalive_bytes()));
    drain(&mut session);
    let log = run_alone(&mut session, secs(21));
    let outputs: Vec<Output> = log.into_iter().map(|(_, o)| o).collect();
    assert_eq!(summarize(&outputs), "NOTIF(8/0) close down");
    assert!(outputs.contains(&Output::Event(SessionEvent::Down(
        SessionEnd::SendHoldTimerExpired
    ))));
}

#[test]
fn an_older_now_counts_as_the_latest_seen() {
    let mut session = established(local_config(), &peer_config());
    session.handle_input(secs(50), Input::Received(&keepalive_bytes()));
    session.handle_input(secs(10), Input::Received(&keepalive_bytes()));
    assert_eq!(session.timer(Timer::Hold), Some(secs(140)));
}

#[test]
fn sending_an_update_restarts_the_keepalive_timer() {
    let mut session = established(local_config(), &peer_config());
    assert_eq!(session.timer(Timer::Keepalive), Some(secs(30)));
    session
        .send_update(
            secs(10),
            &bgp_wire::Update::end_of_rib_marker(bgp_wire::Family::IPV4_UNICAST),
        )
        .unwrap();
    assert_eq!(session.timer(Timer::Keepalive), Some(secs(40)));
    assert_eq!(summarize(&drain(&mut session)), "UPDATE");
    // A ROUTE-REFRESH does not (RFC 4271 names KEEPALIVE and UPDATE only).
    session
        .request_refresh(secs(20), bgp_wire::Family::IPV4_UNICAST)
        .unwrap();
    assert_eq!(session.timer(Timer::Keepalive), Some(secs(40)));
}

/// RFC 4271 section 8.2.2, Active: ConnectRetryTimer_Expires initiates a TCP connection
/// even with PassiveTcpEstablishment. A listen-only session never asks for one: not at
/// its start, not when the timer would have fired, not after failures with automatic
/// restarts; and it still takes the peer's connections.
#[test]
fn a_listen_only_session_never_asks_for_a_connection() {
    let mut config = local_config();
    config.listen_only = true;
    let mut session = Session::new(config, Instant::ZERO).unwrap();
    session.start(Instant::ZERO);
    let mut log: Vec<(Instant, Output)> = drain(&mut session)
        .into_iter()
        .map(|o| (Instant::ZERO, o))
        .collect();
    assert_eq!(session.state(), State::Active);
    log.extend(run_alone(&mut session, secs(3600)));
    // Three connections that fail before the OPEN: each restart listens again.
    for round in 1..=3u64 {
        let at = secs(3600 * round + 1);
        session.handle_input(at, Input::TcpConnectionConfirmed);
        session.handle_input(at, Input::TcpConnectionFails);
        log.extend(drain(&mut session).into_iter().map(|o| (at, o)));
        log.extend(run_alone(&mut session, secs(3600 * (round + 1))));
        assert_eq!(session.state(), State::Active, "round {round}");
    }
    assert!(
        !log.iter().any(|(_, o)| matches!(o, Output::ConnectTcp)),
        "{log:?}"
    );
    // The same session without listen_only (passive only) connects when the timer fires.
    let mut config = local_config();
    config.passive = true;
    let mut session = Session::new(config, Instant::ZERO).unwrap();
    session.start(Instant::ZERO);
    drain(&mut session);
    let log = run_alone(&mut session, secs(120));
    assert!(log.iter().any(|(_, o)| matches!(o, Output::ConnectTcp)));
}
