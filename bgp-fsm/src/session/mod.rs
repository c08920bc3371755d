//! The session: RFC 4271 section 8's finite state machine over one TCP connection.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use bgp_wire::{
    ErrorCode, Family, Message, MessageType, Notification, RouteRefresh, RouteRefreshSubtype,
    SessionParams, Update,
};

use crate::collision::collision_winner;
use crate::config::{ConfigError, SessionConfig};
use crate::event::{
    ConnectionOrigin, Input, Output, SendError, SessionEnd, SessionEvent, State, StopReason,
};
use crate::negotiate::Negotiated;
use crate::rng::SplitMix64;
use crate::time::Instant;

mod counters;
mod receive;
mod timers;

pub use counters::{Counters, PrefixCounts};
pub use timers::Timer;
use timers::TimerTable;

/// The HoldTimer value while waiting for the peer's OPEN (RFC 4271 section 8.2.2
/// suggests 4 minutes).
const OPEN_HOLD_TIME: Duration = Duration::from_secs(240);
/// RFC 9687's minimum default SendHoldTime.
const MIN_SEND_HOLD_TIME: Duration = Duration::from_secs(480);
/// FSM Error subcodes (RFC 6608).
const FSM_UNEXPECTED_IN_OPEN_SENT: u8 = 1;
const FSM_UNEXPECTED_IN_OPEN_CONFIRM: u8 = 2;
const FSM_UNEXPECTED_IN_ESTABLISHED: u8 = 3;
/// Longest NOTIFICATION data that fits a 4096-byte message.
const MAX_NOTIFICATION_DATA: usize = bgp_wire::MAX_MESSAGE_LEN - bgp_wire::HEADER_LEN - 2;
/// Damping doubles at most this many times (5 s << 16 is far past any sane cap).
const MAX_DAMPING_LEVEL: u32 = 16;

/// The TCP side as the session sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Connection {
    None,
    /// We asked for [`Output::ConnectTcp`] and wait for the answer.
    Pending,
    Up(ConnectionOrigin),
}

/// What a transition to Idle does to the ConnectRetryCounter.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Counter {
    Reset,
    Keep,
    Increment,
}

/// RFC 4271's events, as the state functions see them.
#[derive(Debug)]
enum Event {
    /// 1, 4.
    ManualStart { passive: bool },
    /// 2.
    ManualStop(StopReason),
    /// 3, 5, 6, 7.
    AutomaticStart { passive: bool },
    /// 8.
    AutomaticStop(StopReason),
    /// 9.
    ConnectRetryTimerExpires,
    /// 10.
    HoldTimerExpires,
    /// 11.
    KeepaliveTimerExpires,
    /// 12.
    DelayOpenTimerExpires,
    /// 13.
    IdleHoldTimerExpires,
    /// 14.
    TcpConnectionValid,
    /// 15.
    TcpCrInvalid,
    /// 16.
    TcpCrAcked,
    /// 17.
    TcpConnectionConfirmed,
    /// 18.
    TcpConnectionFails,
    /// 19 (20 when the DelayOpenTimer runs).
    BgpOpen(Box<Negotiated>),
    /// 21.
    BgpHeaderErr(Notification),
    /// 22.
    BgpOpenMsgErr(Notification),
    /// 23.
    OpenCollisionDump,
    /// 24.
    NotifMsgVerErr(Notification),
    /// 25.
    NotifMsg(Notification),
    /// 26.
    KeepAliveMsg,
    /// 27.
    UpdateMsg(Update),
    /// 28, and ROUTE-REFRESH errors (RFC 7313), which the RFC 4271 FSM treats alike.
    UpdateMsgErr(Notification),
    /// A ROUTE-REFRESH (RFC 2918); not an RFC 4271 event.
    RouteRefreshMsg(RouteRefresh),
    /// A message the state does not expect (events 19-28 outside their states), kept
    /// undecoded: the FSM answers by type alone.
    UnexpectedMessage,
    /// RFC 9687's SendHoldTimer_Expires.
    SendHoldTimerExpires,
}

/// One BGP session: the FSM of RFC 4271 section 8 over one TCP connection, sans-IO.
///
/// See the [crate documentation](crate) for the driving rule and a complete example.
#[derive(Clone, Debug)]
pub struct Session {
    /// Shared, not copied, by a clone: it never changes after [`Session::new`], and a
    /// copy of its capability lists cost a clone of a session (a fuzzing harness copies
    /// established sessions once per execution) more than the rest of it.
    config: Arc<SessionConfig>,
    state: State,
    now: Instant,
    timers: TimerTable,
    rng: SplitMix64,
    outputs: VecDeque<Output>,
    /// Received bytes not yet forming a whole message.
    rx: Vec<u8>,
    connection: Connection,
    /// Bumped each time the connection is dropped, so a batch of received bytes stops
    /// at the message that ended the connection.
    connection_generation: u64,
    /// Shared by clones for the same reason as `config`: fixed from the peer's OPEN until
    /// the connection ends.
    negotiated: Option<Arc<Negotiated>>,
    connect_retry_counter: u32,
    damping_level: u32,
    /// Restart when the IdleHoldTimer expires: `Some(passive)`.
    pending_start: Option<bool>,
    established_at: Option<Instant>,
    counters: Counters,
}

impl Session {
    /// A session in Idle, waiting for a start event.
    ///
    /// # Errors
    ///
    /// The configuration cannot be carried by the protocol ([`SessionConfig::validate`]).
    pub fn new(config: SessionConfig, now: Instant) -> Result<Self, ConfigError> {
        config.validate()?;
        let rng = SplitMix64::new(config.rng_seed);
        Ok(Self {
            config: Arc::new(config),
            state: State::Idle,
            now,
            timers: TimerTable::default(),
            rng,
            outputs: VecDeque::new(),
            rx: Vec::new(),
            connection: Connection::None,
            connection_generation: 0,
            negotiated: None,
            connect_retry_counter: 0,
            damping_level: 0,
            pending_start: None,
            established_at: None,
            counters: Counters::default(),
        })
    }

    // ----- A. Inputs -----

    /// Feeds one event. Timers due at `now` fire first. Afterwards drain
    /// [`poll_output`](Self::poll_output) and read [`poll_timeout`](Self::poll_timeout).
    /// A `now` earlier than one already seen counts as that later time.
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        self.handle_timeout(now);
        let event = match input {
            Input::ManualStart => Event::ManualStart {
                passive: self.config.passive,
            },
            Input::ManualStop(reason) => Event::ManualStop(reason),
            Input::AutomaticStart | Input::AutomaticStartWithDampPeerOscillations => {
                Event::AutomaticStart {
                    passive: self.config.passive,
                }
            }
            Input::ManualStartWithPassiveTcpEstablishment => Event::ManualStart { passive: true },
            Input::AutomaticStartWithPassiveTcpEstablishment
            | Input::AutomaticStartWithDampPeerOscillationsAndPassiveTcpEstablishment => {
                Event::AutomaticStart { passive: true }
            }
            Input::AutomaticStop(reason) => Event::AutomaticStop(reason),
            Input::TcpConnectionValid => Event::TcpConnectionValid,
            Input::TcpCrInvalid => Event::TcpCrInvalid,
            Input::TcpCrAcked => Event::TcpCrAcked,
            Input::TcpConnectionConfirmed => Event::TcpConnectionConfirmed,
            Input::TcpConnectionFails => Event::TcpConnectionFails,
            Input::OpenCollisionDump => Event::OpenCollisionDump,
            Input::Received(bytes) => return self.handle_received(bytes),
            Input::TransmitBlocked => return self.handle_transmit_blocked(),
            Input::TransmitProgress => {
                self.timers.stop(Timer::SendHold);
                return;
            }
        };
        self.dispatch(event);
    }

    /// Fires every timer due at `now`, in [`Timer`] order. Calls before the next deadline
    /// do nothing; so does a `now` older than one seen before.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        // Each firing moves its own deadline past `now` or stops it; the bound only
        // guards against a future mistake turning this into a busy loop.
        for _ in 0..64 {
            let Some((timer, at)) = self.timers.next() else {
                return;
            };
            if at > self.now {
                return;
            }
            self.timers.stop(timer);
            let event = match timer {
                Timer::Hold => Event::HoldTimerExpires,
                Timer::SendHold => Event::SendHoldTimerExpires,
                Timer::Keepalive => Event::KeepaliveTimerExpires,
                Timer::DelayOpen => Event::DelayOpenTimerExpires,
                Timer::ConnectRetry => Event::ConnectRetryTimerExpires,
                Timer::IdleHold => Event::IdleHoldTimerExpires,
            };
            self.dispatch(event);
        }
    }

    // ----- B. Commands -----

    /// ManualStart (event 1), or event 4 when the configuration is passive.
    pub fn start(&mut self, now: Instant) {
        self.handle_input(now, Input::ManualStart);
    }

    /// ManualStop (event 2) with the Cease built from `reason`.
    pub fn stop(&mut self, now: Instant, reason: StopReason) {
        self.handle_input(now, Input::ManualStop(reason));
    }

    /// Resolves a connection collision (RFC 4271 section 6.8, RFC 6286 section 2.3) for
    /// this connection, given the identity of the peer as learnt on either connection:
    /// if this connection is the one to close, sends Cease / Connection Collision
    /// Resolution (6/7), closes it and returns `true`. Does nothing and returns `false`
    /// when this connection survives or the session has no connection.
    ///
    /// The owner calls it on both connections to the same peer when the second OPEN
    /// arrives ([`SessionEvent::OpenReceived`]).
    pub fn resolve_collision(
        &mut self,
        now: Instant,
        remote_id: Ipv4Addr,
        remote_asn: u32,
    ) -> bool {
        let Connection::Up(origin) = self.connection else {
            return false;
        };
        let keep = collision_winner(
            self.config.local_id,
            self.config.local_asn,
            remote_id,
            remote_asn,
        );
        if origin == keep {
            return false;
        }
        self.handle_input(now, Input::OpenCollisionDump);
        true
    }

    /// Sends an UPDATE, encoded with the negotiated sending parameters.
    ///
    /// # Errors
    ///
    /// [`SendError::NotEstablished`] outside Established, [`SendError::MessageTooLong`]
    /// when the encoding exceeds the negotiated maximum (split it with
    /// `bgp_wire::UpdatePacker`).
    pub fn send_update(&mut self, now: Instant, update: &Update) -> Result<(), SendError> {
        self.handle_timeout(now);
        // The parameters borrowed, not cloned: every UPDATE of a small pass goes out here.
        let params = &self.negotiated_established()?.send;
        let len = bgp_wire::HEADER_LEN + update.encoded_body_len(params);
        let max = params.max_message_len();
        let wire_len = u16::try_from(len)
            .ok()
            .filter(|_| len <= max)
            .ok_or(SendError::MessageTooLong { len, max })?;
        // Header and body written here so the caller's UPDATE is encoded in place,
        // without wrapping a copy of it in a `Message`.
        let mut bytes = Vec::with_capacity(len);
        bytes.extend_from_slice(&[0xff; 16]);
        bytes.extend_from_slice(&wire_len.to_be_bytes());
        bytes.push(MessageType::UPDATE.0);
        update.emit_body(&mut bytes, params);
        debug_assert_eq!(bytes.len(), len, "encoded_body_len is exact");
        self.counters.messages_sent += 1;
        self.counters.updates_sent += 1;
        self.outputs.push_back(Output::Transmit(bytes));
        self.restart_keepalive_timer();
        Ok(())
    }

    /// Sends an End-of-RIB marker for `family` (RFC 4724 section 2): an empty UPDATE for
    /// IPv4 unicast, an empty MP_UNREACH_NLRI otherwise.
    ///
    /// # Errors
    ///
    /// [`SendError::NotEstablished`], or [`SendError::FamilyNotNegotiated`].
    pub fn send_end_of_rib(&mut self, now: Instant, family: Family) -> Result<(), SendError> {
        let negotiated = self.negotiated_established()?;
        if !negotiated.has_family(family) {
            return Err(SendError::FamilyNotNegotiated(family));
        }
        let update = Update::end_of_rib_marker(family);
        self.send_update(now, &update)
    }

    /// Asks the peer to send its routes of `family` again (ROUTE-REFRESH, RFC 2918).
    ///
    /// # Errors
    ///
    /// [`SendError::NotEstablished`], [`SendError::RouteRefreshNotNegotiated`] or
    /// [`SendError::FamilyNotNegotiated`].
    pub fn request_refresh(&mut self, now: Instant, family: Family) -> Result<(), SendError> {
        self.send_route_refresh(now, RouteRefresh::new(family, RouteRefreshSubtype::Normal))
    }

    /// Sends a ROUTE-REFRESH of any subtype: BoRR and EoRR (RFC 7313) bracket a re-sent
    /// Adj-RIB-Out when the peer asked for a refresh and enhanced route refresh was
    /// negotiated.
    ///
    /// # Errors
    ///
    /// As [`request_refresh`](Self::request_refresh), and
    /// [`SendError::EnhancedRouteRefreshNotNegotiated`] for BoRR/EoRR.
    pub fn send_route_refresh(
        &mut self,
        now: Instant,
        refresh: RouteRefresh,
    ) -> Result<(), SendError> {
        self.handle_timeout(now);
        let negotiated = self.negotiated_established()?;
        if !negotiated.route_refresh {
            return Err(SendError::RouteRefreshNotNegotiated);
        }
        if refresh.subtype != RouteRefreshSubtype::Normal && !negotiated.enhanced_route_refresh {
            return Err(SendError::EnhancedRouteRefreshNotNegotiated);
        }
        if !negotiated.has_family(refresh.family) {
            return Err(SendError::FamilyNotNegotiated(refresh.family));
        }
        self.send_established(&Message::RouteRefresh(refresh))
    }

    // ----- C. Outputs -----

    /// The next thing to do: bytes to write, a connection to open or close, an event.
    /// Call until `None` after every `handle_*` and command.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next, `None` when no timer runs.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next().map(|(_, at)| at)
    }

    /// The deadline of one timer, `None` when it is stopped.
    #[must_use]
    pub fn timer(&self, timer: Timer) -> Option<Instant> {
        self.timers.get(timer)
    }

    /// The timer behind [`poll_timeout`](Self::poll_timeout), for logs.
    #[must_use]
    pub fn next_timer(&self) -> Option<(Timer, Instant)> {
        self.timers.next()
    }

    // ----- D. State -----

    /// The FSM state.
    #[must_use]
    pub fn state(&self) -> State {
        self.state
    }

    /// The negotiated parameters, from the acceptance of the peer's OPEN until the
    /// session ends.
    #[must_use]
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_deref()
    }

    /// The peer's BGP identifier, once its OPEN was accepted.
    #[must_use]
    pub fn peer_id(&self) -> Option<Ipv4Addr> {
        self.negotiated.as_ref().map(|n| n.peer_id)
    }

    /// Who initiated the current connection, `None` without one.
    #[must_use]
    pub fn connection_origin(&self) -> Option<ConnectionOrigin> {
        match self.connection {
            Connection::Up(origin) => Some(origin),
            Connection::None | Connection::Pending => None,
        }
    }

    /// RFC 4271's ConnectRetryCounter: failures since the last start or ManualStop.
    #[must_use]
    pub fn connect_retry_counter(&self) -> u32 {
        self.connect_retry_counter
    }

    /// Message and prefix counters.
    #[must_use]
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    fn handle_transmit_blocked(&mut self) {
        let has_peer_state = matches!(
            self.state,
            State::OpenSent | State::OpenConfirm | State::Established
        );
        if has_peer_state && !self.timers.is_running(Timer::SendHold) {
            let hold = self.negotiated.as_ref().map_or(0, |n| n.hold_time);
            let default = MIN_SEND_HOLD_TIME.max(Duration::from_secs(2 * u64::from(hold)));
            let send_hold = self.config.send_hold_time.unwrap_or(default);
            self.arm(Timer::SendHold, send_hold);
        }
    }

    // ----- The FSM -----

    fn dispatch(&mut self, event: Event) {
        match self.state {
            State::Idle => self.idle(event),
            State::Connect => self.connect(event),
            State::Active => self.active(event),
            State::OpenSent => self.open_sent(event),
            State::OpenConfirm => self.open_confirm(event),
            State::Established => self.established(event),
        }
    }

    /// RFC 4271 section 8.2.2, Idle.
    fn idle(&mut self, event: Event) {
        match event {
            Event::ManualStart { passive } => {
                self.pending_start = None;
                self.timers.stop(Timer::IdleHold);
                self.begin(passive);
            }
            Event::AutomaticStart { passive } => {
                if self.timers.is_running(Timer::IdleHold) {
                    // DampPeerOscillations: hold the start until the IdleHoldTimer expires.
                    self.pending_start = Some(passive);
                } else {
                    self.begin(passive);
                }
            }
            Event::IdleHoldTimerExpires => {
                if let Some(passive) = self.pending_start.take() {
                    self.begin(passive);
                }
            }
            Event::ManualStop(_) => {
                // Ignored by the RFC; here it also cancels a pending automatic restart.
                self.pending_start = None;
                self.timers.stop(Timer::IdleHold);
            }
            _ => {}
        }
    }

    /// RFC 4271 section 8.2.2, Connect.
    fn connect(&mut self, event: Event) {
        match event {
            Event::ManualStart { .. } | Event::AutomaticStart { .. } => {}
            Event::ManualStop(_) => {
                self.timers.stop(Timer::ConnectRetry);
                let end = SessionEnd::Stopped {
                    automatic: false,
                    notification: None,
                };
                self.enter_idle(end, Counter::Reset, false);
            }
            Event::ConnectRetryTimerExpires => {
                self.drop_connection();
                self.arm_connect_retry();
                self.timers.stop(Timer::DelayOpen);
                self.connection = Connection::Pending;
                self.outputs.push_back(Output::ConnectTcp);
            }
            Event::DelayOpenTimerExpires => self.send_open_and_wait(),
            Event::TcpConnectionValid | Event::TcpCrInvalid => {}
            Event::TcpCrAcked | Event::TcpConnectionConfirmed => self.connection_up(&event),
            Event::TcpConnectionFails => {
                if self.timers.is_running(Timer::DelayOpen) {
                    self.arm_connect_retry();
                    self.timers.stop(Timer::DelayOpen);
                    self.drop_connection();
                    self.push_event(SessionEvent::Down(SessionEnd::TcpConnectionFails));
                    self.set_state(State::Active);
                } else {
                    self.timers.stop(Timer::ConnectRetry);
                    self.enter_idle(SessionEnd::TcpConnectionFails, Counter::Keep, true);
                }
            }
            other => self.connect_or_active_common(other),
        }
    }

    /// RFC 4271 section 8.2.2, Active.
    fn active(&mut self, event: Event) {
        match event {
            Event::ManualStart { .. } | Event::AutomaticStart { .. } => {}
            Event::ManualStop(reason) => {
                let notification = if self.timers.is_running(Timer::DelayOpen)
                    && self.config.send_notification_without_open
                {
                    let n = reason.notification();
                    self.send_notification(&n);
                    Some(n)
                } else {
                    None
                };
                self.timers.stop(Timer::ConnectRetry);
                self.enter_idle(
                    SessionEnd::Stopped {
                        automatic: false,
                        notification,
                    },
                    Counter::Reset,
                    false,
                );
            }
            // A listen-only session never arms the timer; should it fire, keep listening.
            Event::ConnectRetryTimerExpires if self.config.listen_only => {}
            Event::ConnectRetryTimerExpires => {
                self.arm_connect_retry();
                self.connection = Connection::Pending;
                self.outputs.push_back(Output::ConnectTcp);
                self.set_state(State::Connect);
            }
            Event::DelayOpenTimerExpires => self.send_open_and_wait(),
            Event::TcpConnectionValid | Event::TcpCrInvalid => {}
            Event::TcpCrAcked | Event::TcpConnectionConfirmed => self.connection_up(&event),
            Event::TcpConnectionFails => {
                self.timers.stop(Timer::DelayOpen);
                self.enter_idle(SessionEnd::TcpConnectionFails, Counter::Increment, true);
            }
            other => self.connect_or_active_common(other),
        }
    }

    /// The events Connect and Active answer alike.
    fn connect_or_active_common(&mut self, event: Event) {
        let delay_open_running = self.timers.is_running(Timer::DelayOpen);
        match event {
            Event::BgpOpen(negotiated) if delay_open_running => {
                self.timers.stop(Timer::ConnectRetry);
                self.timers.stop(Timer::DelayOpen);
                self.send_message(&Message::Open(self.config.open()));
                self.accept_open(negotiated);
            }
            Event::BgpHeaderErr(notification) | Event::BgpOpenMsgErr(notification) => {
                self.timers.stop(Timer::ConnectRetry);
                let end = if self.config.send_notification_without_open {
                    self.send_notification(&notification);
                    SessionEnd::NotificationSent(notification)
                } else {
                    SessionEnd::ErrorNotSent(notification)
                };
                self.enter_idle(end, Counter::Increment, true);
            }
            Event::NotifMsgVerErr(notification) => {
                self.timers.stop(Timer::ConnectRetry);
                let counter = if delay_open_running {
                    Counter::Keep
                } else {
                    Counter::Increment
                };
                self.enter_idle(
                    SessionEnd::NotificationReceived(notification),
                    counter,
                    !delay_open_running,
                );
            }
            other => {
                // "Any other event": drop everything without NOTIFICATION.
                self.timers.stop(Timer::ConnectRetry);
                let (end, restart) = match other {
                    Event::AutomaticStop(_) => (
                        SessionEnd::Stopped {
                            automatic: true,
                            notification: None,
                        },
                        false,
                    ),
                    Event::NotifMsg(n) => (SessionEnd::NotificationReceived(n), true),
                    _ => (SessionEnd::UnexpectedEvent, true),
                };
                self.enter_idle(end, Counter::Increment, restart);
            }
        }
    }

    /// RFC 4271 section 8.2.2, OpenSent.
    fn open_sent(&mut self, event: Event) {
        match event {
            Event::ManualStart { .. } | Event::AutomaticStart { .. } => {}
            Event::TcpConnectionValid
            | Event::TcpCrInvalid
            | Event::TcpCrAcked
            | Event::TcpConnectionConfirmed => {
                // A second connection is the owner's: it runs its own Session.
            }
            Event::TcpConnectionFails => {
                self.drop_connection();
                self.arm_connect_retry();
                self.negotiated = None;
                self.push_event(SessionEvent::Down(SessionEnd::TcpConnectionFails));
                self.set_state(State::Active);
            }
            Event::BgpOpen(negotiated) => {
                self.timers.stop(Timer::DelayOpen);
                self.timers.stop(Timer::ConnectRetry);
                self.accept_open(negotiated);
            }
            Event::NotifMsgVerErr(n) => {
                self.enter_idle(SessionEnd::NotificationReceived(n), Counter::Keep, false);
            }
            // RFC 4271 lists event 25 under OpenSent's "any other event", which answers
            // with an FSM Error; we do not answer a NOTIFICATION with another one (as in
            // OpenConfirm), the connection is closing anyway.
            Event::NotifMsg(n) => {
                self.enter_idle(
                    SessionEnd::NotificationReceived(n),
                    Counter::Increment,
                    true,
                );
            }
            other => self.connected_common(other, FSM_UNEXPECTED_IN_OPEN_SENT),
        }
    }

    /// RFC 4271 section 8.2.2, OpenConfirm.
    fn open_confirm(&mut self, event: Event) {
        match event {
            Event::ManualStart { .. } | Event::AutomaticStart { .. } => {}
            Event::TcpConnectionValid
            | Event::TcpCrInvalid
            | Event::TcpCrAcked
            | Event::TcpConnectionConfirmed => {}
            Event::KeepaliveTimerExpires => self.send_keepalive(),
            Event::TcpConnectionFails => {
                self.enter_idle(SessionEnd::TcpConnectionFails, Counter::Increment, true);
            }
            Event::NotifMsg(n) => {
                self.enter_idle(
                    SessionEnd::NotificationReceived(n),
                    Counter::Increment,
                    true,
                );
            }
            Event::NotifMsgVerErr(n) => {
                self.enter_idle(SessionEnd::NotificationReceived(n), Counter::Keep, false);
            }
            Event::KeepAliveMsg => {
                self.restart_hold_timer();
                self.established_at = Some(self.now);
                self.counters = Counters {
                    messages_received: 1,
                    ..Counters::default()
                };
                self.set_state(State::Established);
                if let Some(negotiated) = &self.negotiated {
                    let negotiated = Box::new(Negotiated::clone(negotiated));
                    self.push_event(SessionEvent::Established(negotiated));
                }
            }
            other => self.connected_common(other, FSM_UNEXPECTED_IN_OPEN_CONFIRM),
        }
    }

    /// RFC 4271 section 8.2.2, Established.
    fn established(&mut self, event: Event) {
        match event {
            Event::ManualStart { .. } | Event::AutomaticStart { .. } => {}
            Event::TcpConnectionValid
            | Event::TcpCrInvalid
            | Event::TcpCrAcked
            | Event::TcpConnectionConfirmed => {}
            Event::KeepaliveTimerExpires => self.send_keepalive(),
            Event::TcpConnectionFails => {
                self.enter_idle(SessionEnd::TcpConnectionFails, Counter::Increment, true);
            }
            Event::NotifMsg(n) | Event::NotifMsgVerErr(n) => {
                self.enter_idle(
                    SessionEnd::NotificationReceived(n),
                    Counter::Increment,
                    true,
                );
            }
            Event::KeepAliveMsg => self.restart_hold_timer(),
            Event::UpdateMsg(update) => {
                self.restart_hold_timer();
                self.counters.count_update(&update);
                self.push_event(SessionEvent::Update(update));
            }
            Event::RouteRefreshMsg(refresh) => {
                self.restart_hold_timer();
                self.handle_route_refresh(refresh);
            }
            // RFC 4271 puts event 21 under Established's "any other event" (an FSM
            // Error); section 6.1 asks for the Message Header Error itself, which tells
            // the peer more. We send the latter.
            Event::BgpHeaderErr(n) => {
                self.send_notification(&n);
                self.enter_idle(SessionEnd::NotificationSent(n), Counter::Increment, true);
            }
            other => self.connected_common(other, FSM_UNEXPECTED_IN_ESTABLISHED),
        }
    }

    /// Events OpenSent, OpenConfirm and Established answer alike; anything else gets an
    /// FSM Error with the state's RFC 6608 subcode.
    fn connected_common(&mut self, event: Event, fsm_subcode: u8) {
        match event {
            Event::ManualStop(reason) => {
                let n = reason.notification();
                self.send_notification(&n);
                self.enter_idle(
                    SessionEnd::Stopped {
                        automatic: false,
                        notification: Some(n),
                    },
                    Counter::Reset,
                    false,
                );
            }
            Event::AutomaticStop(reason) => {
                let n = reason.notification();
                self.send_notification(&n);
                self.enter_idle(
                    SessionEnd::Stopped {
                        automatic: true,
                        notification: Some(n),
                    },
                    Counter::Increment,
                    false,
                );
            }
            Event::HoldTimerExpires => {
                self.send_notification(&Notification::new(ErrorCode::HOLD_TIMER_EXPIRED, 0));
                self.enter_idle(SessionEnd::HoldTimerExpired, Counter::Increment, true);
            }
            Event::SendHoldTimerExpires => {
                self.send_notification(&Notification::new(ErrorCode::SEND_HOLD_TIMER_EXPIRED, 0));
                self.enter_idle(SessionEnd::SendHoldTimerExpired, Counter::Increment, true);
            }
            Event::OpenCollisionDump => {
                self.send_notification(&StopReason::ConnectionCollisionResolution.notification());
                self.enter_idle(SessionEnd::CollisionResolution, Counter::Increment, true);
            }
            Event::BgpHeaderErr(n) | Event::BgpOpenMsgErr(n) | Event::UpdateMsgErr(n) => {
                self.send_notification(&n);
                self.enter_idle(SessionEnd::NotificationSent(n), Counter::Increment, true);
            }
            _ => {
                let n = Notification::new(ErrorCode::FSM, fsm_subcode);
                self.send_notification(&n);
                self.enter_idle(SessionEnd::NotificationSent(n), Counter::Increment, true);
            }
        }
    }

    // ----- Actions -----

    /// Leaves Idle: ConnectRetryCounter to zero, ConnectRetryTimer on, connect or listen.
    /// A listen-only session always listens, and without the timer (it never connects).
    fn begin(&mut self, passive: bool) {
        self.connect_retry_counter = 0;
        if self.config.listen_only {
            self.set_state(State::Active);
            return;
        }
        self.arm_connect_retry();
        if passive {
            self.set_state(State::Active);
        } else {
            self.connection = Connection::Pending;
            self.outputs.push_back(Output::ConnectTcp);
            self.set_state(State::Connect);
        }
    }

    /// Tcp_CR_Acked or TcpConnectionConfirmed in Connect or Active.
    fn connection_up(&mut self, event: &Event) {
        let origin = if matches!(event, Event::TcpCrAcked) {
            ConnectionOrigin::Local
        } else {
            ConnectionOrigin::Remote
        };
        self.connection = Connection::Up(origin);
        self.rx.clear();
        self.timers.stop(Timer::ConnectRetry);
        match self.config.delay_open {
            Some(delay) => self.arm(Timer::DelayOpen, delay),
            None => self.send_open_and_wait(),
        }
    }

    /// Sends our OPEN and waits for the peer's (OpenSent).
    fn send_open_and_wait(&mut self) {
        self.timers.stop(Timer::ConnectRetry);
        self.timers.stop(Timer::DelayOpen);
        self.send_message(&Message::Open(self.config.open()));
        self.arm(Timer::Hold, OPEN_HOLD_TIME);
        self.set_state(State::OpenSent);
    }

    /// The peer's OPEN is valid: KEEPALIVE, negotiated timers, OpenConfirm.
    fn accept_open(&mut self, negotiated: Box<Negotiated>) {
        let peer_id = negotiated.peer_id;
        let peer_asn = negotiated.peer_asn;
        let hold = negotiated.hold_time;
        let keepalive = negotiated.keepalive_time;
        self.negotiated = Some(Arc::from(negotiated));
        self.send_message(&Message::Keepalive);
        if hold == 0 {
            self.timers.stop(Timer::Hold);
            self.timers.stop(Timer::Keepalive);
        } else {
            self.arm(Timer::Hold, Duration::from_secs(u64::from(hold)));
            self.arm(Timer::Keepalive, Duration::from_secs(u64::from(keepalive)));
        }
        self.set_state(State::OpenConfirm);
        self.push_event(SessionEvent::OpenReceived { peer_id, peer_asn });
    }

    fn handle_route_refresh(&mut self, refresh: RouteRefresh) {
        let Some(negotiated) = &self.negotiated else {
            return;
        };
        // RFC 2918 section 4: ignore families we did not advertise (and everything when
        // we did not advertise route refresh at all); RFC 7313 section 5:
        // ignore unknown subtypes, and BoRR/EoRR without enhanced route refresh.
        let family_ok =
            negotiated.has_family(refresh.family) && self.config.capabilities.route_refresh;
        let subtype_ok = match refresh.subtype {
            RouteRefreshSubtype::Normal => true,
            RouteRefreshSubtype::BeginningOfRefresh | RouteRefreshSubtype::EndOfRefresh => {
                negotiated.enhanced_route_refresh
            }
            RouteRefreshSubtype::Reserved(_) => false,
        };
        if family_ok && subtype_ok {
            self.push_event(SessionEvent::RouteRefresh(refresh));
        }
    }

    fn send_keepalive(&mut self) {
        self.send_message(&Message::Keepalive);
        self.restart_keepalive_timer();
    }

    fn restart_keepalive_timer(&mut self) {
        if let Some(n) = &self.negotiated {
            if n.hold_time != 0 {
                let keepalive = Duration::from_secs(u64::from(n.keepalive_time));
                self.arm(Timer::Keepalive, keepalive);
            }
        }
    }

    fn restart_hold_timer(&mut self) {
        if let Some(n) = &self.negotiated {
            if n.hold_time != 0 {
                let hold = Duration::from_secs(u64::from(n.hold_time));
                self.arm(Timer::Hold, hold);
            }
        }
    }

    fn negotiated_established(&self) -> Result<&Negotiated, SendError> {
        match (&self.negotiated, self.state) {
            (Some(n), State::Established) => Ok(n),
            _ => Err(SendError::NotEstablished),
        }
    }

    /// Sends a message (other than an UPDATE) in Established.
    fn send_established(&mut self, message: &Message) -> Result<(), SendError> {
        let params = &self.negotiated_established()?.send;
        let len = message.encoded_len(params);
        let max = params.max_message_len();
        if len > max {
            return Err(SendError::MessageTooLong { len, max });
        }
        let mut bytes = Vec::with_capacity(len);
        message.emit(&mut bytes, params);
        self.counters.messages_sent += 1;
        self.outputs.push_back(Output::Transmit(bytes));
        Ok(())
    }

    /// Encodes and transmits `message`; nothing goes out without a connection (an error
    /// found in bytes that came without one has nowhere to go).
    fn send_message(&mut self, message: &Message) {
        if !matches!(self.connection, Connection::Up(_)) {
            return;
        }
        let params = match &self.negotiated {
            Some(n) => n.send.clone(),
            None => SessionParams::default(),
        };
        let mut bytes = Vec::with_capacity(message.encoded_len(&params));
        message.emit(&mut bytes, &params);
        self.counters.messages_sent += 1;
        self.outputs.push_back(Output::Transmit(bytes));
    }

    fn send_notification(&mut self, notification: &Notification) {
        if notification.data.len() > MAX_NOTIFICATION_DATA {
            let mut cut = notification.clone();
            cut.data.truncate(MAX_NOTIFICATION_DATA);
            self.send_message(&Message::Notification(cut));
        } else {
            self.send_message(&Message::Notification(notification.clone()));
        }
    }

    fn drop_connection(&mut self) {
        if self.connection != Connection::None {
            self.outputs.push_back(Output::CloseTcp);
        }
        self.connection = Connection::None;
        self.connection_generation += 1;
        self.rx.clear();
        for timer in [
            Timer::Hold,
            Timer::SendHold,
            Timer::Keepalive,
            Timer::DelayOpen,
        ] {
            self.timers.stop(timer);
        }
    }

    /// Ends the session: closes the connection, stops every timer, reports `end`, and
    /// goes to Idle. With `restart`, the failure counts for damping and, when
    /// AllowAutomaticStart is set, the session starts again after the IdleHoldTimer.
    fn enter_idle(&mut self, end: SessionEnd, counter: Counter, restart: bool) {
        self.drop_connection();
        self.timers = TimerTable::default();
        self.negotiated = None;
        match counter {
            Counter::Reset => self.connect_retry_counter = 0,
            Counter::Keep => {}
            Counter::Increment => {
                self.connect_retry_counter = self.connect_retry_counter.saturating_add(1)
            }
        }
        let stable = self
            .established_at
            .take()
            .is_some_and(|at| self.now.saturating_duration_since(at) >= self.config.stable_time);
        if stable {
            self.damping_level = 0;
        }
        self.pending_start = None;
        if restart {
            if self.config.damp_peer_oscillations {
                self.damping_level = (self.damping_level + 1).min(MAX_DAMPING_LEVEL);
            }
            if self.config.allow_automatic_start || self.config.damp_peer_oscillations {
                let hold = self.idle_hold_duration();
                self.arm(Timer::IdleHold, hold);
            }
            if self.config.allow_automatic_start {
                self.pending_start = Some(self.config.passive);
            }
        }
        self.push_event(SessionEvent::Down(end));
        self.set_state(State::Idle);
    }

    fn idle_hold_duration(&mut self) -> Duration {
        let base = self.config.idle_hold_time;
        let scaled = if self.config.damp_peer_oscillations && self.damping_level > 1 {
            let factor = 1u32 << (self.damping_level - 1).min(MAX_DAMPING_LEVEL);
            base.saturating_mul(factor)
                .min(self.config.max_idle_hold_time.max(base))
        } else {
            base
        };
        self.jitter(scaled)
    }

    fn arm_connect_retry(&mut self) {
        let retry = self.jitter(self.config.connect_retry_time);
        self.arm(Timer::ConnectRetry, retry);
    }

    fn jitter(&mut self, duration: Duration) -> Duration {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(self.rng.jitter_millis(millis))
    }

    /// Starts `timer` to fire `after` from now (at least a millisecond, so that a timer
    /// restarted while firing cannot fire again at the same instant).
    fn arm(&mut self, timer: Timer, after: Duration) {
        let after = after.max(Duration::from_millis(1));
        self.timers.set(timer, self.now + after);
    }

    fn set_state(&mut self, to: State) {
        let from = self.state;
        if from != to {
            self.state = to;
            self.push_event(SessionEvent::StateChanged { from, to });
        }
    }

    fn push_event(&mut self, event: SessionEvent) {
        self.outputs.push_back(Output::Event(event));
    }
}
