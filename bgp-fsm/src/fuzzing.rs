//! The `fsm_inputs` fuzz target's body, here so a stable test can run it too.
//!
//! [`fsm_inputs`] reads its bytes as a program of session inputs (start, stop, TCP
//! events, time jumps, raw bytes, well-formed messages from a peer) and runs it against
//! one [`Session`], checking invariants as it goes:
//!
//! * nothing panics;
//! * after a NOTIFICATION is transmitted, nothing more is transmitted on that
//!   connection;
//! * Established is only reported after the peer sent a valid OPEN and then a KEEPALIVE
//!   on the current connection;
//! * `poll_timeout` is never at or before a time already handled;
//! * a listen-only session never asks for a connection.

use std::net::Ipv4Addr;

use bgp_wire::{Message, SessionParams};

use crate::config::SessionConfig;
use crate::event::{Input, Output, SessionEvent, State, StopReason};
use crate::session::Session;
use crate::time::Instant;

/// A cursor over the fuzz input.
struct Program<'a> {
    data: &'a [u8],
}

impl<'a> Program<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (first, rest) = self.data.split_first()?;
        self.data = rest;
        Some(*first)
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }
}

/// Tracks what the peer sent on the current connection.
#[derive(Default)]
struct PeerView {
    notification_sent: bool,
    /// Bytes delivered on this connection, for checking the Established invariant.
    delivered: Vec<u8>,
}

impl PeerView {
    /// Whether `delivered` holds a valid-looking OPEN followed later by a KEEPALIVE.
    fn saw_open_then_keepalive(&self) -> bool {
        let params = SessionParams::default();
        let mut offset = 0;
        let mut saw_open = false;
        while let Some(rest) = self.delivered.get(offset..) {
            let Ok(Some(len)) = bgp_wire::frame(rest, &params) else {
                break;
            };
            let Some(message) = rest.get(..len) else {
                break;
            };
            match message.get(18) {
                Some(1) => saw_open = true,
                Some(4) if saw_open => return true,
                _ => {}
            }
            offset += len;
        }
        false
    }
}

fn config(passive: bool, delay_open: bool) -> SessionConfig {
    let mut config = SessionConfig::new(65001, Ipv4Addr::new(10, 0, 0, 1), 65002);
    config.passive = passive;
    config.delay_open = delay_open.then(|| std::time::Duration::from_secs(5));
    config
}

fn peer_open() -> Vec<u8> {
    let peer = SessionConfig::new(65002, Ipv4Addr::new(10, 0, 0, 2), 65001);
    let mut bytes = Vec::new();
    Message::Open(peer.open()).emit(&mut bytes, &SessionParams::default());
    bytes
}

fn keepalive() -> Vec<u8> {
    let mut bytes = vec![0xff; 16];
    bytes.extend_from_slice(&[0, 19, 4]);
    bytes
}

/// What a program did, for tests that run fixed programs.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Report {
    /// How many times the session reported Established.
    pub established: u32,
    /// How many NOTIFICATIONs it transmitted.
    pub notifications_sent: u32,
    /// Its state at the end.
    pub final_state: Option<State>,
}

/// Runs `data` as a program of inputs against one session and checks the invariants
/// listed in the module documentation, panicking when one fails.
///
/// The first byte selects the configuration (bit 0: passive, bit 1: DelayOpen, bit 2:
/// listen-only, which must never ask for a connection) and the
/// jitter seed; each further byte is one operation (its value modulo 24), some of which
/// read an argument byte or a length-prefixed run of raw bytes.
pub fn fsm_inputs(data: &[u8]) -> Report {
    let mut report = Report::default();
    let mut program = Program { data };
    let Some(flags) = program.byte() else {
        return report;
    };
    let mut config = config(flags & 1 != 0, flags & 2 != 0);
    config.listen_only = flags & 4 != 0;
    config.rng_seed = u64::from(flags);
    let mut now = Instant::ZERO;
    let mut session = Session::new(config, now).expect("fixed configuration is valid");
    let mut view = PeerView::default();
    let open = peer_open();
    let keepalive = keepalive();

    while let Some(op) = program.byte() {
        match op % 24 {
            0 => session.handle_input(now, Input::ManualStart),
            1 => session.handle_input(
                now,
                Input::ManualStop(StopReason::AdministrativeShutdown(None)),
            ),
            2 => session.handle_input(now, Input::AutomaticStart),
            3 => session.handle_input(now, Input::ManualStartWithPassiveTcpEstablishment),
            4 => session.handle_input(now, Input::AutomaticStartWithPassiveTcpEstablishment),
            5 => session.handle_input(now, Input::AutomaticStartWithDampPeerOscillations),
            6 => session.handle_input(
                now,
                Input::AutomaticStartWithDampPeerOscillationsAndPassiveTcpEstablishment,
            ),
            7 => session.handle_input(now, Input::AutomaticStop(StopReason::PeerDeconfigured)),
            8 => session.handle_input(now, Input::TcpConnectionValid),
            9 => session.handle_input(now, Input::TcpCrInvalid),
            10 | 11 => {
                // Only Connect and Active take a connection; elsewhere the event is
                // about a second connection, which this session ignores.
                let takes_it = matches!(session.state(), State::Connect | State::Active);
                let input = if op % 24 == 10 {
                    Input::TcpCrAcked
                } else {
                    Input::TcpConnectionConfirmed
                };
                session.handle_input(now, input);
                if takes_it {
                    view = PeerView::default();
                }
            }
            12 => session.handle_input(now, Input::TcpConnectionFails),
            13 => session.handle_input(now, Input::OpenCollisionDump),
            14 => session.handle_input(now, Input::TransmitBlocked),
            15 => session.handle_input(now, Input::TransmitProgress),
            16 => {
                let secs = u64::from(program.byte().unwrap_or(0));
                now += std::time::Duration::from_secs(secs);
                session.handle_timeout(now);
            }
            17 => {
                if let Some(at) = session.poll_timeout() {
                    now = now.max(at);
                    session.handle_timeout(now);
                }
            }
            18 | 19 => {
                let len = usize::from(program.byte().unwrap_or(0));
                let bytes = program.take(len);
                view.delivered.extend_from_slice(bytes);
                session.handle_input(now, Input::Received(bytes));
            }
            20 => {
                view.delivered.extend_from_slice(&open);
                session.handle_input(now, Input::Received(&open));
            }
            21 => {
                view.delivered.extend_from_slice(&keepalive);
                session.handle_input(now, Input::Received(&keepalive));
            }
            22 => {
                // The peer's OPEN and KEEPALIVE cut at an arbitrary point.
                let mut both = open.clone();
                both.extend_from_slice(&keepalive);
                let cut = usize::from(program.byte().unwrap_or(0)) % both.len();
                view.delivered.extend_from_slice(&both);
                session.handle_input(now, Input::Received(&both[..cut]));
                session.handle_input(now, Input::Received(&both[cut..]));
            }
            _ => {
                let family = bgp_wire::Family::IPV4_UNICAST;
                let _ = session.request_refresh(now, family);
                let _ = session.send_end_of_rib(now, family);
            }
        }
        check_outputs(&mut session, &mut view, &mut report);
        if let Some(at) = session.poll_timeout() {
            assert!(
                at > now,
                "timeout {at:?} not after the time already handled {now:?}"
            );
        }
    }
    report.final_state = Some(session.state());
    report
}

fn check_outputs(session: &mut Session, view: &mut PeerView, report: &mut Report) {
    while let Some(output) = session.poll_output() {
        match output {
            Output::Transmit(bytes) => {
                assert!(!view.notification_sent, "transmitted after a NOTIFICATION");
                if bytes.get(18) == Some(&3) {
                    view.notification_sent = true;
                    report.notifications_sent += 1;
                }
            }
            Output::ConnectTcp => {
                assert!(
                    !session.config().listen_only,
                    "a listen-only session asked for a connection"
                );
            }
            Output::CloseTcp => {}
            Output::Event(SessionEvent::Established(_)) => {
                assert!(
                    view.saw_open_then_keepalive(),
                    "Established without OPEN and KEEPALIVE"
                );
                assert_eq!(session.state(), State::Established);
                report.established += 1;
            }
            Output::Event(_) => {}
        }
    }
}
