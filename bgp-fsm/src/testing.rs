//! A two-session harness on virtual time, for tests of this crate and of its users.
//!
//! [`Pair`] wires two [`Session`]s together the way quinn-proto's test `Pair` wires two
//! connections: outputs of one become inputs of the other, bytes travel through an
//! in-memory pipe (optionally cut into fixed-size chunks, so messages arrive split and
//! joined), and time only moves when the test says so, straight to the next timeout.
//!
//! It is part of the public API on purpose (the crate docs' example uses it): a user's own
//! tests of a session configuration run on it without a socket or a clock.

use std::collections::VecDeque;

use crate::config::SessionConfig;
use crate::event::{Input, Output, SessionEnd, SessionEvent, State};
use crate::session::Session;
use crate::time::Instant;

/// What is in flight towards one side.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Delivery {
    Bytes(Vec<u8>),
    Closed,
}

/// One side of a [`Pair`]: its session and a log of everything it output.
#[derive(Debug)]
pub struct Endpoint {
    /// The session.
    pub session: Session,
    /// Every output, in order, with the virtual time it was drained at.
    pub log: Vec<(Instant, Output)>,
    inbox: VecDeque<Delivery>,
}

impl Endpoint {
    fn new(config: SessionConfig, now: Instant) -> Self {
        let session = Session::new(config, now).expect("test configurations are valid");
        Self {
            session,
            log: Vec::new(),
            inbox: VecDeque::new(),
        }
    }

    /// The events in the log, in order.
    pub fn events(&self) -> impl Iterator<Item = &SessionEvent> {
        self.log.iter().filter_map(|(_, o)| match o {
            Output::Event(e) => Some(e),
            _ => None,
        })
    }

    /// The bytes transmitted, one entry per message, with their times.
    pub fn transmitted(&self) -> impl Iterator<Item = (Instant, &[u8])> {
        self.log.iter().filter_map(|(t, o)| match o {
            Output::Transmit(bytes) => Some((*t, bytes.as_slice())),
            _ => None,
        })
    }

    /// The message type of every message transmitted (1 OPEN ... 5 ROUTE-REFRESH).
    pub fn transmitted_types(&self) -> Vec<u8> {
        self.transmitted()
            .map(|(_, b)| b.get(18).copied().unwrap_or(0))
            .collect()
    }

    /// The reasons the session ended, in order.
    pub fn ends(&self) -> Vec<SessionEnd> {
        self.events()
            .filter_map(|e| match e {
                SessionEvent::Down(end) => Some(end.clone()),
                _ => None,
            })
            .collect()
    }

    /// Forgets the log.
    pub fn clear_log(&mut self) {
        self.log.clear();
    }
}

/// Which side of a [`Pair`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    /// `pair.a`.
    A,
    /// `pair.b`.
    B,
}

/// Two sessions connected through an in-memory TCP pipe on virtual time.
///
/// A `ConnectTcp` from one side succeeds at once when the other side listens (its state
/// is Connect or Active) and no connection exists; it fails when the other side is Idle.
/// A `CloseTcp` reaches the other side as `TcpConnectionFails` after the bytes already in
/// flight.
#[derive(Debug)]
pub struct Pair {
    /// First session.
    pub a: Endpoint,
    /// Second session.
    pub b: Endpoint,
    /// Virtual time.
    pub now: Instant,
    /// Deliver received bytes in chunks of this size (`None`: all pending bytes at once).
    pub chunk_size: Option<usize>,
    connected: bool,
}

impl Pair {
    /// Two sessions at [`Instant::ZERO`], not started.
    pub fn new(a: SessionConfig, b: SessionConfig) -> Self {
        let now = Instant::ZERO;
        Self {
            a: Endpoint::new(a, now),
            b: Endpoint::new(b, now),
            now,
            chunk_size: None,
            connected: false,
        }
    }

    /// The endpoint of `side`.
    pub fn side(&mut self, side: Side) -> &mut Endpoint {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Whether the pipe is up.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// ManualStart on both sides (B first, so a passive B listens before A connects).
    pub fn start_both(&mut self) {
        let now = self.now;
        self.b.session.start(now);
        self.a.session.start(now);
    }

    /// Moves outputs and bytes between the sessions until nothing is left to move.
    /// Returns whether anything moved.
    pub fn drive(&mut self) -> bool {
        let mut moved = false;
        for _ in 0..10_000 {
            let mut progress = self.drain(Side::A);
            progress |= self.drain(Side::B);
            progress |= self.deliver(Side::A);
            progress |= self.deliver(Side::B);
            if !progress {
                return moved;
            }
            moved = true;
        }
        panic!("the pair did not settle: a session keeps producing output");
    }

    /// The earlier of the two sessions' next timeouts.
    pub fn next_timeout(&self) -> Option<Instant> {
        match (self.a.session.poll_timeout(), self.b.session.poll_timeout()) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        }
    }

    /// Jumps to the next timeout (if any, and not after `limit`), fires it and drives.
    /// Returns the new time, or `None` when no timeout is due by `limit`.
    pub fn advance(&mut self, limit: Instant) -> Option<Instant> {
        let next = self.next_timeout().filter(|t| *t <= limit)?;
        self.now = self.now.max(next);
        let now = self.now;
        self.a.session.handle_timeout(now);
        self.b.session.handle_timeout(now);
        self.drive();
        Some(now)
    }

    /// Advances timeout by timeout until `until`, then sets the time to `until`.
    pub fn run_until(&mut self, until: Instant) {
        while self.advance(until).is_some() {}
        self.now = self.now.max(until);
    }

    /// Feeds `input` to one side at the current time and drives.
    pub fn input(&mut self, side: Side, input: Input<'_>) {
        let now = self.now;
        self.side(side).session.handle_input(now, input);
        self.drive();
    }

    fn drain(&mut self, side: Side) -> bool {
        let now = self.now;
        let mut progress = false;
        while let Some(output) = self.side(side).session.poll_output() {
            progress = true;
            self.side(side).log.push((now, output.clone()));
            match output {
                Output::Transmit(bytes) => {
                    if self.connected {
                        self.side(other(side))
                            .inbox
                            .push_back(Delivery::Bytes(bytes));
                    }
                }
                Output::ConnectTcp => self.connect_from(side),
                Output::CloseTcp => {
                    if self.connected {
                        self.connected = false;
                        self.side(side).inbox.clear();
                        self.side(other(side)).inbox.push_back(Delivery::Closed);
                    }
                }
                Output::Event(_) => {}
            }
        }
        progress
    }

    fn connect_from(&mut self, side: Side) {
        let now = self.now;
        if self.connected {
            // The other side's connection is already up; this attempt merges with it.
            return;
        }
        let listening = matches!(
            self.side(other(side)).session.state(),
            State::Connect | State::Active
        );
        if listening {
            self.connected = true;
            self.side(other(side))
                .session
                .handle_input(now, Input::TcpConnectionConfirmed);
            self.side(side).session.handle_input(now, Input::TcpCrAcked);
        } else {
            self.side(side)
                .session
                .handle_input(now, Input::TcpConnectionFails);
        }
    }

    fn deliver(&mut self, side: Side) -> bool {
        let now = self.now;
        let chunk = self.chunk_size;
        let endpoint = self.side(side);
        if endpoint.inbox.is_empty() {
            return false;
        }
        let mut bytes = Vec::new();
        let mut closed = false;
        while let Some(delivery) = endpoint.inbox.pop_front() {
            match delivery {
                Delivery::Bytes(b) => bytes.extend_from_slice(&b),
                Delivery::Closed => {
                    closed = true;
                    break;
                }
            }
        }
        match chunk {
            Some(size) if size > 0 => {
                for piece in bytes.chunks(size) {
                    endpoint.session.handle_input(now, Input::Received(piece));
                }
            }
            _ => {
                if !bytes.is_empty() {
                    endpoint.session.handle_input(now, Input::Received(&bytes));
                }
            }
        }
        if closed {
            endpoint
                .session
                .handle_input(now, Input::TcpConnectionFails);
        }
        true
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::A => Side::B,
        Side::B => Side::A,
    }
}
