//! Sessions and connections through the public driver API, with real BGP bytes: the peer
//! side of every connection is a `bgp_fsm::Session` (or hand-built bgp-wire messages),
//! and a small in-test driver moves bytes between it and the route server by
//! connection token, as a socket driver would.
//!
//! Expected values come from the RFCs: RFC 4271 section 6.8 (collisions keep the
//! connection opened by the higher BGP identifier; the loser gets Cease / Connection
//! Collision Resolution, 6/7, RFC 4486), section 6.2 (Bad Peer AS 2/2, Unacceptable Hold
//! Time 2/6), RFC 9687 (Send Hold Timer Expired, code 8), RFC 7313 (BoRR subtype 1,
//! EoRR subtype 2 around a refresh answer).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_fsm::{Input as SessionInput, Output as SessionOutput, Session, SessionConfig};
use bgp_wire::{
    Capability, Message, Nlri, Open, OptionalParameter, RouteRefresh, SessionParams, Update,
    UpdatePacker,
};
use fabric_sim::lab::{nva_session, route};
use route_server::{
    Config, ConnectionId, ErrorCode, Event, Family, Input, Instant, IpNet, Notification, Output,
    PeerConfig, PeerId, RefuseReason, RouteRefreshSubtype, RouteServer, SessionEnd, State,
};

const RS: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 4);
const NVA: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 4);
const NVA_ASN: u32 = 65001;

fn prefix(text: &str) -> IpNet {
    text.parse().expect("prefix")
}

/// One TCP endpoint on the peer's side.
struct Remote {
    connection: Option<ConnectionId>,
    session: Session,
    up: bool,
    inbox: Vec<u8>,
    /// Routes received from the route server.
    received: BTreeMap<IpNet, ()>,
}

/// The in-test driver: the route server, the peer-side endpoints, and what came out.
struct Net {
    server: RouteServer,
    now: Instant,
    remotes: Vec<Remote>,
    /// Every `Output::Connect` (connection, remote, port, local).
    dials: Vec<(ConnectionId, IpAddr, u16, Option<IpAddr>)>,
    /// Every message the route server wrote, by connection.
    wire: Vec<(ConnectionId, Vec<u8>)>,
    /// Every `Output::Disconnect`.
    disconnects: Vec<ConnectionId>,
    events: Vec<Event>,
    fabric: BTreeMap<IpNet, Vec<IpAddr>>,
    /// `Output::Program` batches and the prefixes in each.
    program_batches: Vec<usize>,
    /// Every token the route server issued, as the driver sees it. Checked on every
    /// output: bytes only go to live connections, at most two connections are live.
    tokens: BTreeMap<ConnectionId, Token>,
}

/// A connection token's life as the driver sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Token {
    /// Asked for by `Output::Connect`, not answered yet.
    Pending,
    /// Accepted, or connected.
    Live,
    /// Closed by either side, failed, or abandoned.
    Dead,
}

impl Net {
    /// The route server with one peer, the NVA (passive, as Azure's are), and nothing
    /// connected yet.
    fn with_passive_nva() -> Self {
        Self::new(config_with(PeerConfig::nva(IpAddr::V4(NVA), NVA_ASN)))
    }

    fn new(config: Config) -> Self {
        let server = RouteServer::new(config, Instant::ZERO).expect("valid configuration");
        let mut net = Self {
            server,
            now: Instant::ZERO,
            remotes: Vec::new(),
            dials: Vec::new(),
            wire: Vec::new(),
            disconnects: Vec::new(),
            events: Vec::new(),
            fabric: BTreeMap::new(),
            program_batches: Vec::new(),
            tokens: BTreeMap::new(),
        };
        net.pump();
        net
    }

    /// The route server's outputs, handled as a driver would; Accepted/Refused return.
    fn server_outputs(&mut self) -> Vec<Output> {
        let mut answers = Vec::new();
        while let Some(output) = self.server.poll_output() {
            self.check_tokens(&output);
            match output {
                Output::Transmit {
                    connection, bytes, ..
                } => {
                    self.wire.push((connection, bytes.clone()));
                    if let Some(r) = self
                        .remotes
                        .iter_mut()
                        .find(|r| r.up && r.connection == Some(connection))
                    {
                        r.inbox.extend_from_slice(&bytes);
                    }
                }
                Output::Connect {
                    connection,
                    remote,
                    port,
                    local,
                    ..
                } => self.dials.push((connection, remote, port, local)),
                Output::Disconnect { connection, .. } => {
                    self.disconnects.push(connection);
                    let now = self.now;
                    if let Some(r) = self
                        .remotes
                        .iter_mut()
                        .find(|r| r.up && r.connection == Some(connection))
                    {
                        let bytes = std::mem::take(&mut r.inbox);
                        if !bytes.is_empty() {
                            r.session.handle_input(now, SessionInput::Received(&bytes));
                        }
                        r.up = false;
                        r.session
                            .handle_input(now, SessionInput::TcpConnectionFails);
                    }
                }
                Output::Program(changes) => {
                    self.program_batches.push(changes.len());
                    changes.apply_to(&mut self.fabric);
                }
                Output::Event(event) => self.events.push(event),
                other @ (Output::Accepted { .. } | Output::Refused { .. }) => answers.push(other),
            }
        }
        // Once drained (an accepted connection may supersede another in the same call).
        let live = self.tokens.values().filter(|t| **t == Token::Live).count();
        assert!(live <= 2, "{live} live connections to one peer");
        answers
    }

    /// The connection contract of the API, checked on each output.
    fn check_tokens(&mut self, output: &Output) {
        match output {
            Output::Connect { connection, .. } => {
                let old = self.tokens.insert(*connection, Token::Pending);
                assert_eq!(old, None, "a new token for every Connect");
            }
            Output::Accepted { connection, .. } => {
                let old = self.tokens.insert(*connection, Token::Live);
                assert_eq!(old, None, "a new token for every accepted connection");
            }
            Output::Transmit { connection, .. } => {
                assert_eq!(
                    self.tokens.get(connection),
                    Some(&Token::Live),
                    "bytes only for a live connection ({connection})"
                );
            }
            Output::Disconnect { connection, .. } => {
                assert!(self.tokens.contains_key(connection), "an issued token");
                self.tokens.insert(*connection, Token::Dead);
            }
            _ => {}
        }
    }

    /// The driver closes (or failed to open) a connection.
    fn driver_closes(&mut self, connection: ConnectionId) {
        let state = self.tokens.get(&connection).copied();
        self.tokens.insert(connection, Token::Dead);
        if let Some(r) = self
            .remotes
            .iter_mut()
            .find(|r| r.up && r.connection == Some(connection))
        {
            r.up = false;
            r.session
                .handle_input(self.now, SessionInput::TcpConnectionFails);
        }
        let input = match state {
            Some(Token::Pending) => Input::ConnectFailed { connection },
            _ => Input::Closed { connection },
        };
        self.server.handle_input(self.now, input);
        let _ = self.server_outputs();
    }

    /// Moves bytes both ways until nothing moves (bounded).
    fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = !self.server_outputs().is_empty();
            let now = self.now;
            let mut to_server: Vec<Input<'static>> = Vec::new();
            let mut bytes_to_server: Vec<(ConnectionId, Vec<u8>)> = Vec::new();
            for r in &mut self.remotes {
                if !r.inbox.is_empty() && r.up {
                    moved = true;
                    let bytes = std::mem::take(&mut r.inbox);
                    r.session.handle_input(now, SessionInput::Received(&bytes));
                }
                let mut burst = Vec::new();
                while let Some(out) = r.session.poll_output() {
                    moved = true;
                    match out {
                        SessionOutput::Transmit(bytes) if r.up => burst.extend_from_slice(&bytes),
                        SessionOutput::CloseTcp if r.up => {
                            r.up = false;
                            if let Some(c) = r.connection {
                                self.tokens.insert(c, Token::Dead);
                                bytes_to_server.push((c, std::mem::take(&mut burst)));
                                to_server.push(Input::Closed { connection: c });
                            }
                        }
                        SessionOutput::Event(bgp_fsm::SessionEvent::Update(update)) => {
                            for (_, nlri) in update.routes_to_withdraw() {
                                r.received.remove(&nlri.prefix);
                            }
                            for (_, nlri) in update.routes_to_announce() {
                                r.received.insert(nlri.prefix, ());
                            }
                        }
                        SessionOutput::Event(bgp_fsm::SessionEvent::Down(_)) => {
                            r.received.clear();
                        }
                        _ => {}
                    }
                }
                if let (false, Some(c)) = (burst.is_empty(), r.connection) {
                    if r.up {
                        bytes_to_server.push((c, burst));
                    }
                }
            }
            // Bytes first, then closes, in the order each endpoint produced them.
            for (connection, bytes) in &bytes_to_server {
                if !bytes.is_empty() {
                    self.server.handle_input(
                        now,
                        Input::Received {
                            connection: *connection,
                            bytes,
                        },
                    );
                }
            }
            for input in to_server {
                self.server.handle_input(now, input);
            }
            if !moved {
                return;
            }
        }
        panic!("the net did not settle");
    }

    /// The peer at `address` connects to the route server with a session of `config`;
    /// returns the endpoint index and the route server's answer.
    fn dial_in(&mut self, address: Ipv4Addr, config: SessionConfig) -> (usize, Output) {
        let mut session = Session::new(config, self.now).expect("valid peer configuration");
        session.start(self.now);
        // The peer's session asks for a connection; ignore that request's token-free
        // output and offer the connection.
        while session.poll_output().is_some() {}
        self.server.handle_input(
            self.now,
            Input::ConnectionOffered {
                from: IpAddr::V4(address),
            },
        );
        let answer = self
            .server
            .poll_output()
            .expect("an offered connection is answered at once");
        self.check_tokens(&answer);
        let mut remote = Remote {
            connection: None,
            session,
            up: false,
            inbox: Vec::new(),
            received: BTreeMap::new(),
        };
        match &answer {
            Output::Accepted { connection, .. } => {
                remote.connection = Some(*connection);
                remote.up = true;
                remote
                    .session
                    .handle_input(self.now, SessionInput::TcpCrAcked);
            }
            _ => remote
                .session
                .handle_input(self.now, SessionInput::TcpConnectionFails),
        }
        self.remotes.push(remote);
        // The rest of what the offer caused (our OPEN, events) as a driver would.
        let _ = self.server_outputs();
        (self.remotes.len() - 1, answer)
    }

    /// The route server's outbound connection `connection` reaches a listening peer
    /// session of `config` (passive).
    fn answer_dial(&mut self, connection: ConnectionId, mut config: SessionConfig) -> usize {
        assert!(self.dials.iter().any(|d| d.0 == connection), "a dial");
        config.passive = true;
        let mut session = Session::new(config, self.now).expect("valid peer configuration");
        session.start(self.now);
        session.handle_input(self.now, SessionInput::TcpConnectionValid);
        session.handle_input(self.now, SessionInput::TcpConnectionConfirmed);
        self.remotes.push(Remote {
            connection: Some(connection),
            session,
            up: true,
            inbox: Vec::new(),
            received: BTreeMap::new(),
        });
        assert_eq!(self.tokens.get(&connection), Some(&Token::Pending));
        self.tokens.insert(connection, Token::Live);
        self.server
            .handle_input(self.now, Input::Connected { connection });
        let _ = self.server_outputs();
        self.remotes.len() - 1
    }

    /// Runs virtual time forward to `until`, firing every timer on the way (bounded).
    fn run_until(&mut self, until: Instant) {
        self.pump();
        for _ in 0..100_000 {
            let mut next = self.server.poll_timeout();
            for r in &self.remotes {
                if let Some(at) = r.session.poll_timeout() {
                    next = Some(next.map_or(at, |n: Instant| n.min(at)));
                }
            }
            match next {
                Some(at) if at <= until => {
                    self.now = self.now.max(at);
                    self.server.handle_timeout(self.now);
                    for r in &mut self.remotes {
                        r.session.handle_timeout(self.now);
                    }
                    self.pump();
                }
                _ => {
                    self.now = self.now.max(until);
                    self.pump();
                    return;
                }
            }
        }
        panic!("too many timer firings");
    }

    fn run_for(&mut self, duration: Duration) {
        let until = self.now + duration;
        self.run_until(until);
    }

    /// NOTIFICATIONs the route server wrote on `connection`, decoded.
    fn notifications_on(&self, connection: ConnectionId) -> Vec<Notification> {
        self.wire
            .iter()
            .filter(|(c, _)| *c == connection)
            .filter_map(
                |(_, bytes)| match Message::parse(bytes, &SessionParams::default()) {
                    Ok(Message::Notification(n)) => Some(n),
                    _ => None,
                },
            )
            .collect()
    }

    fn peer(&self) -> PeerId {
        self.server
            .peer_by_address(IpAddr::V4(NVA))
            .expect("configured")
    }

    fn state(&self) -> State {
        self.server.peer_state(self.peer()).expect("configured")
    }
}

fn config_with(peer: PeerConfig) -> Config {
    Config::azure(RS, vec![prefix("10.1.0.0/16")]).with_peer(peer)
}

fn active_nva() -> PeerConfig {
    let mut peer = PeerConfig::nva(IpAddr::V4(NVA), NVA_ASN);
    peer.passive = false;
    peer
}

/// The NVA's session with `router_id` as its BGP identifier.
fn nva_with_id(router_id: Ipv4Addr) -> SessionConfig {
    let mut config = nva_session(NVA, NVA_ASN);
    config.local_id = router_id;
    config
}

fn accepted_connection(answer: &Output) -> ConnectionId {
    match answer {
        Output::Accepted { connection, .. } => *connection,
        other => panic!("expected Accepted, got {other:?}"),
    }
}

// ----- 1. A configured peer is never refused ---------------------------------------------

#[test]
fn an_nva_whose_outbound_connects_failed_is_accepted_at_once() {
    let mut peer = active_nva();
    peer.remote_port = 1179;
    let mut net = Net::new(config_with(peer));
    // Our first attempt goes to the configured port, bound to the instance's address.
    let (first, remote, port, local) = net.dials[0];
    assert_eq!(
        (remote, port, local),
        (IpAddr::V4(NVA), 1179, Some(IpAddr::V4(RS)))
    );
    net.driver_closes(first);
    net.pump();
    // Fail every attempt for ten minutes: the back-off grows (damping) past a minute.
    let start = net.now;
    let mut failed = 1;
    while net.now.saturating_duration_since(start) < Duration::from_secs(600) {
        let before = net.dials.len();
        let next = net.server.poll_timeout().expect("a retry is scheduled");
        net.run_until(next);
        for i in before..net.dials.len() {
            let connection = net.dials[i].0;
            net.driver_closes(connection);
            failed += 1;
        }
        net.pump();
    }
    assert!(failed >= 5, "{failed} attempts");
    assert_eq!(net.state(), State::Idle, "holding off after the failures");
    // The NVA connects: accepted at once, and the session comes up without waiting.
    let (nva, answer) = net.dial_in(NVA, nva_session(NVA, NVA_ASN));
    let connection = accepted_connection(&answer);
    let at = net.now;
    net.pump();
    assert_eq!(net.now, at);
    assert_eq!(net.state(), State::Established);
    assert_eq!(net.remotes[nva].session.state(), State::Established);
    assert_eq!(net.server.connection_peer(connection), Some(net.peer()));
    assert!(net.events.iter().any(|e| matches!(e, Event::PeerUp { .. })));
}

#[test]
fn an_nva_is_accepted_again_at_once_after_its_session_failed() {
    let mut net = Net::with_passive_nva();
    let (_, answer) = net.dial_in(NVA, nva_session(NVA, NVA_ASN));
    let connection = accepted_connection(&answer);
    net.pump();
    assert_eq!(net.state(), State::Established);
    // The NVA crashes: its connection resets; it restarts and connects at once, over
    // and over (each failure would double an idle hold time).
    net.driver_closes(connection);
    net.pump();
    for round in 0..5 {
        let (_, answer) = net.dial_in(NVA, nva_session(NVA, NVA_ASN));
        let connection = accepted_connection(&answer);
        net.pump();
        assert_eq!(net.state(), State::Established, "round {round}");
        net.driver_closes(connection);
        net.pump();
    }
}

#[test]
fn a_second_connection_while_established_is_refused() {
    let mut net = Net::with_passive_nva();
    let (_, answer) = net.dial_in(NVA, nva_session(NVA, NVA_ASN));
    accepted_connection(&answer);
    net.pump();
    assert_eq!(net.state(), State::Established);
    let (_, answer) = net.dial_in(NVA, nva_session(NVA, NVA_ASN));
    assert_eq!(
        answer,
        Output::Refused {
            from: IpAddr::V4(NVA),
            reason: RefuseReason::AlreadyEstablished
        }
    );
    // And a connection from an unknown address is refused as not a peer.
    let stranger = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 99));
    let (_, answer) = net.dial_in(Ipv4Addr::new(10, 1, 2, 99), nva_session(NVA, NVA_ASN));
    assert_eq!(
        answer,
        Output::Refused {
            from: stranger,
            reason: RefuseReason::NotAPeer
        }
    );
    net.pump();
    // Each refusal is an event too, for operators who only read events.
    let refusals: Vec<(IpAddr, RefuseReason)> = net
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ConnectionRefused { from, reason } => Some((*from, *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        refusals,
        vec![
            (IpAddr::V4(NVA), RefuseReason::AlreadyEstablished),
            (stranger, RefuseReason::NotAPeer)
        ]
    );
}

/// The NVA's session announcing the Graceful Restart capability for IPv4 unicast (RFC
/// 4724 section 3): `restarting` sets the R bit (0x8 of the flags nibble), `forwarding`
/// the family's F bit (0x80).
fn nva_with_graceful_restart(restarting: bool, forwarding: bool) -> SessionConfig {
    let mut config = nva_session(NVA, NVA_ASN);
    config.capabilities.graceful_restart = Some(bgp_wire::GracefulRestart {
        flags: if restarting { 0x8 } else { 0 },
        restart_time: 120,
        families: vec![bgp_wire::GracefulRestartFamily {
            family: Family::IPV4_UNICAST,
            flags: if forwarding { 0x80 } else { 0 },
        }],
    });
    config
}

/// The route server helping graceful restarts, its NVA Established with Graceful Restart
/// and holding 10.250.0.0/16 and 10.251.0.0/16; returns the net, the NVA's endpoint
/// and its connection.
fn graceful_nva_with_two_routes() -> (Net, usize, ConnectionId) {
    let mut config = config_with(PeerConfig::nva(IpAddr::V4(NVA), NVA_ASN));
    config.extensions.graceful_restart_helper = true;
    let mut net = Net::new(config);
    let (endpoint, answer) = net.dial_in(NVA, nva_with_graceful_restart(false, true));
    let connection = accepted_connection(&answer);
    net.pump();
    assert_eq!(net.state(), State::Established);
    let bytes = announcement(&["10.250.0.0/16", "10.251.0.0/16"]);
    net.server.handle_input(
        net.now,
        Input::Received {
            connection,
            bytes: &bytes,
        },
    );
    net.pump();
    assert_eq!(net.fabric.len(), 2);
    (net, endpoint, connection)
}

/// The NVA's VM rebooted: its old TCP connection was never reset (no FIN or RST reached
/// the route server), and the restarted daemon connects again.
fn reboot_silently(net: &mut Net, endpoint: usize) {
    net.remotes[endpoint].up = false;
}

#[test]
fn a_peer_that_restarts_gracefully_takes_over_its_established_session() {
    let (mut net, old_endpoint, old) = graceful_nva_with_two_routes();
    reboot_silently(&mut net, old_endpoint);
    let (_, answer) = net.dial_in(NVA, nva_with_graceful_restart(true, true));
    // RFC 4724 section 4.2: the new connection is the restart; the old one is closed
    // and the peer's routes are kept, stale, while it comes back.
    let new = accepted_connection(&answer);
    assert_ne!(new, old);
    assert!(
        net.disconnects.contains(&old),
        "the old connection is closed"
    );
    let peer = net.peer();
    assert!(net.events.contains(&Event::RestartDetected { peer }));
    assert!(net
        .events
        .contains(&Event::RoutesKeptStale { peer, routes: 2 }));
    assert_eq!(net.fabric.len(), 2, "stale routes stay programmed");
    net.pump();
    assert_eq!(net.state(), State::Established);
    assert_eq!(net.fabric.len(), 2, "still stale until End-of-RIB");
    // It re-sends one of the two, then End-of-RIB: the other is swept.
    let mut bytes = announcement(&["10.250.0.0/16"]);
    Message::Update(Update::end_of_rib_marker(Family::IPV4_UNICAST))
        .emit(&mut bytes, &SessionParams::default());
    net.server.handle_input(
        net.now,
        Input::Received {
            connection: new,
            bytes: &bytes,
        },
    );
    net.pump();
    assert_eq!(
        net.fabric.keys().copied().collect::<Vec<_>>(),
        vec![prefix("10.250.0.0/16")]
    );
}

#[test]
fn a_restarted_peer_that_lost_its_forwarding_state_has_its_stale_routes_removed_at_once() {
    let (mut net, old_endpoint, _) = graceful_nva_with_two_routes();
    reboot_silently(&mut net, old_endpoint);
    // Its new OPEN clears the F bit: RFC 4724 section 4.2 has the stale routes deleted
    // as soon as the session is up again, not at End-of-RIB.
    let (_, answer) = net.dial_in(NVA, nva_with_graceful_restart(true, false));
    accepted_connection(&answer);
    assert_eq!(net.fabric.len(), 2, "kept while the session comes up");
    net.pump();
    assert_eq!(net.state(), State::Established);
    assert!(net.fabric.is_empty());
}

#[test]
fn without_the_graceful_restart_capability_an_established_session_is_not_taken_over() {
    let mut config = config_with(PeerConfig::nva(IpAddr::V4(NVA), NVA_ASN));
    config.extensions.graceful_restart_helper = true;
    let mut net = Net::new(config);
    // The NVA did not announce Graceful Restart: RFC 4271 section 6.8 keeps the
    // Established connection and refuses the new one.
    let (_, answer) = net.dial_in(NVA, nva_session(NVA, NVA_ASN));
    let old = accepted_connection(&answer);
    net.pump();
    let (_, answer) = net.dial_in(NVA, nva_with_graceful_restart(true, true));
    assert_eq!(
        answer,
        Output::Refused {
            from: IpAddr::V4(NVA),
            reason: RefuseReason::AlreadyEstablished
        }
    );
    assert!(!net.disconnects.contains(&old));
    assert_eq!(net.state(), State::Established);
}

/// Sets up a collision: our connection to the NVA is up and our OPEN is on its way when
/// the NVA's own connection arrives and its OPEN reaches us. Returns (ours, the NVA's).
fn collide(nva_router_id: Ipv4Addr) -> (Net, ConnectionId, ConnectionId) {
    let mut net = Net::new(config_with(active_nva()));
    let ours = net.dials[0].0;
    net.answer_dial(ours, nva_with_id(nva_router_id));
    // Our OPEN is written to our connection, not read yet by the NVA.
    let _ = net.server_outputs();
    let (_, answer) = net.dial_in(NVA, nva_with_id(nva_router_id));
    let theirs = accepted_connection(&answer);
    net.pump();
    (net, ours, theirs)
}

fn cease_collision() -> Notification {
    Notification::new(ErrorCode::CEASE, Notification::CEASE_COLLISION)
}

/// The outcome RFC 4271 section 6.8 prescribes for a collision: connection `closed` gets
/// Cease/Connection Collision Resolution and is closed, `kept` gets no NOTIFICATION, stays
/// open and carries the Established session.
fn assert_collision_resolved(net: &Net, kept: ConnectionId, closed: ConnectionId) {
    assert_eq!(net.notifications_on(closed), vec![cease_collision()]);
    assert!(net.notifications_on(kept).is_empty());
    assert!(net.disconnects.contains(&closed));
    assert!(!net.disconnects.contains(&kept));
    assert_eq!(net.state(), State::Established);
    assert_eq!(net.server.connection_peer(kept), Some(net.peer()));
    assert_eq!(net.server.connection_peer(closed), None);
}

#[test]
fn a_collision_keeps_the_nvas_connection_when_its_router_id_is_higher() {
    // 10.1.2.4 > 10.1.1.4: the connection the NVA opened stays (RFC 4271 section 6.8).
    let (net, ours, theirs) = collide(Ipv4Addr::new(10, 1, 2, 4));
    assert_collision_resolved(&net, theirs, ours);
    assert!(net.events.iter().any(|e| matches!(
        e,
        Event::SessionEnded {
            connection: Some(c),
            reason: SessionEnd::CollisionResolution,
            ..
        } if *c == ours
    )));
}

#[test]
fn a_collision_keeps_our_connection_when_our_router_id_is_higher() {
    // 10.0.0.9 < 10.1.1.4: the connection the route server opened stays.
    let (net, ours, theirs) = collide(Ipv4Addr::new(10, 0, 0, 9));
    assert_collision_resolved(&net, ours, theirs);
}

#[test]
fn a_passive_peer_is_never_dialled() {
    let mut net = Net::with_passive_nva();
    net.run_for(Duration::from_secs(3 * 3600));
    assert!(net.dials.is_empty());
    // Up, then down by a reset: still never dialled.
    let (_, answer) = net.dial_in(NVA, nva_session(NVA, NVA_ASN));
    let connection = accepted_connection(&answer);
    net.pump();
    assert_eq!(net.state(), State::Established);
    net.driver_closes(connection);
    net.run_for(Duration::from_secs(3 * 3600));
    assert!(net.dials.is_empty(), "{:?}", net.dials);
    // The same peer, not passive, is dialled within the first minute.
    let mut net = Net::new(config_with(active_nva()));
    net.run_for(Duration::from_secs(60));
    assert!(!net.dials.is_empty());
}

impl Net {
    /// Fires timers until the route server asks for a new outbound connection, then
    /// returns when (virtual time); `None` if none comes within `limit`.
    fn next_dial_within(&mut self, limit: Duration) -> Option<Instant> {
        let until = self.now + limit;
        let before = self.dials.len();
        for _ in 0..1_000 {
            let next = self.server.poll_timeout()?;
            if next > until {
                return None;
            }
            self.run_until(next);
            if self.dials.len() > before {
                return Some(self.now);
            }
        }
        None
    }
}

/// RFC 4271's ConnectRetryTime (section 10) and IdleHoldTime (section 8.1.1), set per
/// peer, pace our own dials as `PeerConfig` documents them: a dial nobody answers is
/// tried again when the connect retry time (jittered to 0.75..=1.0 of it) has run out,
/// and after a dial that fails we stay idle for the idle hold time, then dial again.
/// Two settings far apart, neither the default (120 s, 5 s).
#[test]
fn configured_connect_retry_and_idle_hold_times_pace_our_dials() {
    for (retry, idle) in [
        (Duration::from_secs(40), Duration::from_secs(9)),
        (Duration::from_secs(400), Duration::from_secs(30)),
    ] {
        let mut peer = active_nva();
        peer.connect_retry_time = retry;
        peer.idle_hold_time = idle;
        let mut net = Net::new(config_with(peer));
        assert_eq!(net.dials.len(), 1, "dialled at start");
        let first = net.now;
        // Unanswered: the next attempt when ConnectRetryTimer expires, not before.
        let second = net.next_dial_within(retry * 2).expect("tried again");
        let waited = second.saturating_duration_since(first);
        assert!(
            waited >= retry.mul_f64(0.75) && waited <= retry,
            "retry {retry:?}: dialled again after {waited:?}"
        );
        // That attempt fails: idle for the idle hold time, then the next dial.
        let failed = net.dials.last().expect("a dial").0;
        net.driver_closes(failed);
        net.pump();
        let failed_at = net.now;
        let third = net
            .next_dial_within(idle * 4)
            .expect("dialled after the idle hold");
        let idled = third.saturating_duration_since(failed_at);
        assert!(
            idled >= idle.mul_f64(0.75) && idled <= idle,
            "idle hold {idle:?}: dialled again after {idled:?}"
        );
    }
}

/// A driver reads a peer's configuration back by the peer's id (a field it set, and the
/// defaults of the rest), and gets nothing for an id the server did not issue.
#[test]
fn a_peers_configuration_is_read_back_by_its_id() {
    let mut peer = active_nva();
    peer.remote_port = 1179;
    peer.connect_retry_time = Duration::from_secs(45);
    let net = Net::new(config_with(peer.clone()));
    let id = net.peer();
    assert_eq!(net.server.peer_config(id), Some(&peer));
    let config = net.server.peer_config(id).expect("configured");
    assert_eq!(
        (
            config.remote_port,
            config.connect_retry_time,
            config.passive
        ),
        (1179, Duration::from_secs(45), false)
    );
    let other = RouteServer::new(
        config_with(PeerConfig::nva(
            IpAddr::V4(Ipv4Addr::new(10, 1, 2, 9)),
            65009,
        ))
        .with_peer(PeerConfig::nva(IpAddr::V4(NVA), NVA_ASN)),
        Instant::ZERO,
    )
    .expect("valid configuration");
    let second = other
        .peer_by_address(IpAddr::V4(NVA))
        .expect("the second peer");
    let first = other
        .peer_by_address(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 9)))
        .expect("the first peer");
    assert_ne!(first, second);
    assert_eq!(
        other.peer_config(second).map(|c| c.asn),
        Some(NVA_ASN),
        "each id reads its own peer"
    );
    assert_eq!(other.peer_config(first).map(|c| c.asn), Some(65009));
}

#[test]
fn a_configured_local_address_is_what_the_route_server_binds() {
    let mut peer = active_nva();
    peer.local_address = Some(IpAddr::V4(Ipv4Addr::new(10, 1, 1, 5)));
    let net = Net::new(config_with(peer));
    assert_eq!(net.dials[0].3, Some(IpAddr::V4(Ipv4Addr::new(10, 1, 1, 5))));
    assert_eq!(net.dials[0].2, 179);
}

// ----- Connection tokens -----------------------------------------------------------------

/// UPDATE bytes announcing `prefixes` from the NVA with a 2-octet AS session.
fn announcement(prefixes: &[&str]) -> Vec<u8> {
    let params = SessionParams::default();
    let mut packer = UpdatePacker::new(params.clone());
    packer.announce(
        &route(&[NVA_ASN], NVA, &[]),
        prefixes.iter().map(|p| Nlri::new(prefix(p))),
    );
    let mut bytes = Vec::new();
    for update in packer.finish_updates() {
        Message::Update(update).emit(&mut bytes, &params);
    }
    bytes
}

#[test]
fn late_bytes_and_close_of_a_dropped_connection_never_reach_its_successor() {
    let mut net = Net::with_passive_nva();
    let (_, answer) = net.dial_in(NVA, nva_session(NVA, NVA_ASN));
    let old = accepted_connection(&answer);
    net.pump();
    net.driver_closes(old);
    net.pump();
    let (_, answer) = net.dial_in(NVA, nva_session(NVA, NVA_ASN));
    let new = accepted_connection(&answer);
    assert_ne!(old, new);
    net.pump();
    assert_eq!(net.state(), State::Established);
    // Late bytes of the old connection: a valid UPDATE, which must not be learned.
    let late = announcement(&["192.0.2.0/24"]);
    net.server.handle_input(
        net.now,
        Input::Received {
            connection: old,
            bytes: &late,
        },
    );
    net.driver_closes(old);
    net.pump();
    assert!(net.fabric.is_empty(), "{:?}", net.fabric);
    assert_eq!(net.state(), State::Established);
    // The same bytes on the current connection are learned.
    net.server.handle_input(
        net.now,
        Input::Received {
            connection: new,
            bytes: &late,
        },
    );
    net.pump();
    assert_eq!(
        net.fabric.get(&prefix("192.0.2.0/24")),
        Some(&vec![IpAddr::V4(NVA)])
    );
}

#[test]
fn a_late_connected_is_answered_with_disconnect() {
    let mut net = Net::new(config_with(active_nva()));
    let ours = net.dials[0].0;
    // The NVA's connection arrives while ours is still being opened: ours is abandoned.
    let (_, answer) = net.dial_in(NVA, nva_session(NVA, NVA_ASN));
    let theirs = accepted_connection(&answer);
    net.pump();
    assert!(net.disconnects.contains(&ours));
    let before = net.disconnects.len();
    // The driver's connect completes anyway: it is closed explicitly, not ignored.
    net.server
        .handle_input(net.now, Input::Connected { connection: ours });
    net.pump();
    assert_eq!(net.disconnects[before..], [ours]);
    assert_eq!(net.state(), State::Established);
    assert_eq!(net.server.connection_peer(theirs), Some(net.peer()));
}

// ----- 3. Every refusal and every session end is an event --------------------------------

/// An OPEN as a bgp-fsm peer in `asn` would send it, with `hold_time` written over.
fn open_bytes(asn: u32, hold_time: u16, id: Ipv4Addr) -> Vec<u8> {
    let mut open: Open = SessionConfig::new(asn, id, 65515).open();
    open.hold_time = hold_time;
    Message::Open(open).to_bytes(&SessionParams::default())
}

/// Offers a connection from the NVA and sends `bytes` on it; the connection.
fn raw_connection(net: &mut Net, bytes: &[u8]) -> ConnectionId {
    net.server.handle_input(
        net.now,
        Input::ConnectionOffered {
            from: IpAddr::V4(NVA),
        },
    );
    let answer = net.server.poll_output().expect("answered");
    net.check_tokens(&answer);
    let connection = accepted_connection(&answer);
    net.server
        .handle_input(net.now, Input::Received { connection, bytes });
    net.pump();
    connection
}

fn session_ends(net: &Net) -> Vec<(Option<ConnectionId>, SessionEnd)> {
    net.events
        .iter()
        .filter_map(|e| match e {
            Event::SessionEnded {
                connection, reason, ..
            } => Some((*connection, reason.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_wrong_asn_is_refused_with_2_2_and_an_event() {
    let mut net = Net::with_passive_nva();
    let connection = raw_connection(&mut net, &open_bytes(65009, 180, NVA));
    let bad_peer_as = Notification::new(ErrorCode::OPEN_MESSAGE, 2);
    assert_eq!(net.notifications_on(connection), vec![bad_peer_as.clone()]);
    assert!(net.disconnects.contains(&connection));
    assert_eq!(
        session_ends(&net),
        vec![(Some(connection), SessionEnd::NotificationSent(bad_peer_as))]
    );
}

#[test]
fn an_unacceptable_hold_time_is_refused_with_2_6_and_an_event() {
    let mut net = Net::with_passive_nva();
    let connection = raw_connection(&mut net, &open_bytes(65001, 2, NVA));
    let unacceptable = Notification::new(ErrorCode::OPEN_MESSAGE, 6);
    assert_eq!(
        net.notifications_on(connection)
            .iter()
            .map(|n| (n.code, n.subcode))
            .collect::<Vec<_>>(),
        vec![(ErrorCode::OPEN_MESSAGE, 6)]
    );
    let ends = session_ends(&net);
    assert_eq!(ends.len(), 1);
    assert!(
        matches!(&ends[0], (Some(c), SessionEnd::NotificationSent(n))
            if *c == connection && (n.code, n.subcode) == (unacceptable.code, unacceptable.subcode)),
        "{ends:?}"
    );
}

#[test]
fn a_notification_received_before_established_is_an_event() {
    let mut net = Net::with_passive_nva();
    let cease = Notification::new(ErrorCode::CEASE, Notification::CEASE_CONNECTION_REJECTED);
    let bytes = Message::Notification(cease.clone()).to_bytes(&SessionParams::default());
    let connection = raw_connection(&mut net, &bytes);
    assert_eq!(
        session_ends(&net),
        vec![(Some(connection), SessionEnd::NotificationReceived(cease))]
    );
}

#[test]
fn an_established_session_ended_by_the_peer_names_its_notification() {
    let mut net = Net::with_passive_nva();
    let (nva, _) = net.dial_in(NVA, nva_session(NVA, NVA_ASN));
    net.pump();
    assert_eq!(net.state(), State::Established);
    let now = net.now;
    net.remotes[nva].session.stop(
        now,
        bgp_fsm::StopReason::AdministrativeShutdown(Some("maintenance".into())),
    );
    net.pump();
    let downs: Vec<&SessionEnd> = net
        .events
        .iter()
        .filter_map(|e| match e {
            Event::PeerDown { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(downs.len(), 1);
    // RFC 9003: Cease / Administrative Shutdown (6/2) with the operator's text.
    let SessionEnd::NotificationReceived(n) = downs[0] else {
        panic!("{downs:?}");
    };
    assert_eq!((n.code, n.subcode), (ErrorCode::CEASE, 2));
    assert_eq!(n.shutdown_communication(), Some("maintenance"));
}

#[test]
fn a_received_route_refresh_raises_an_event() {
    let mut net = Net::with_passive_nva();
    let (nva, _) = net.dial_in(NVA, nva_session(NVA, NVA_ASN));
    net.pump();
    let now = net.now;
    net.remotes[nva]
        .session
        .request_refresh(now, Family::IPV4_UNICAST)
        .expect("route refresh negotiated");
    net.pump();
    assert!(net.events.contains(&Event::RouteRefreshReceived {
        peer: net.peer(),
        family: Family::IPV4_UNICAST,
        subtype: RouteRefreshSubtype::Normal,
    }));
}

// ----- 4. The send side: RFC 9687 --------------------------------------------------------

#[test]
fn a_peer_that_stops_reading_is_closed_by_the_send_hold_timer() {
    let mut net = Net::with_passive_nva();
    let (nva, answer) = net.dial_in(NVA, nva_session(NVA, NVA_ASN));
    let connection = accepted_connection(&answer);
    net.pump();
    net.server.handle_input(
        net.now,
        Input::Received {
            connection,
            bytes: &announcement(&["192.0.2.0/24"]),
        },
    );
    net.pump();
    assert_eq!(net.fabric.len(), 1);
    // Our writes block from now on; the NVA keeps sending KEEPALIVEs (its timers run),
    // so only the send side can notice.
    net.server
        .handle_input(net.now, Input::TransmitBlocked { connection });
    let keepalive = Message::Keepalive.to_bytes(&SessionParams::default());
    let blocked_at = net.now;
    // RFC 9687: SendHoldTime defaults to max(8 minutes, twice the hold time of 180 s).
    let send_hold = Duration::from_secs(480);
    let mut at = blocked_at;
    while at + Duration::from_secs(30) < blocked_at + send_hold {
        at += Duration::from_secs(30);
        net.now = at;
        net.server.handle_timeout(at);
        net.server.handle_input(
            at,
            Input::Received {
                connection,
                bytes: &keepalive,
            },
        );
        let _ = net.server_outputs();
        assert_eq!(net.state(), State::Established, "at {at:?}");
    }
    net.remotes[nva].up = false; // it does not read: what we write is lost
    net.now = blocked_at + send_hold;
    net.server.handle_timeout(net.now);
    let _ = net.server_outputs();
    assert_ne!(net.state(), State::Established);
    assert_eq!(
        net.notifications_on(connection)
            .iter()
            .map(|n| n.code)
            .collect::<Vec<_>>(),
        vec![ErrorCode::SEND_HOLD_TIMER_EXPIRED]
    );
    assert!(net.events.contains(&Event::PeerDown {
        peer: net.peer(),
        reason: SessionEnd::SendHoldTimerExpired
    }));
    assert!(net.fabric.is_empty(), "the peer's routes are withdrawn");
}

#[test]
fn progress_on_the_send_side_stops_the_send_hold_timer() {
    let mut net = Net::with_passive_nva();
    let (nva, answer) = net.dial_in(NVA, nva_session(NVA, NVA_ASN));
    let connection = accepted_connection(&answer);
    net.pump();
    net.server
        .handle_input(net.now, Input::TransmitBlocked { connection });
    net.run_for(Duration::from_secs(400));
    net.server
        .handle_input(net.now, Input::TransmitProgress { connection });
    net.run_for(Duration::from_secs(400));
    assert_eq!(net.state(), State::Established);
    assert_eq!(net.remotes[nva].session.state(), State::Established);
}

#[test]
fn a_configured_send_hold_time_replaces_the_rfc_9687_default() {
    let mut peer = PeerConfig::nva(IpAddr::V4(NVA), NVA_ASN);
    peer.send_hold_time = Some(Duration::from_secs(20));
    let mut net = Net::new(config_with(peer));
    let (_, answer) = net.dial_in(NVA, nva_session(NVA, NVA_ASN));
    let connection = accepted_connection(&answer);
    net.pump();
    net.server
        .handle_input(net.now, Input::TransmitBlocked { connection });
    let blocked_at = net.now;
    // One second short of the configured 20 s the session is still up...
    net.now = blocked_at + Duration::from_secs(19);
    net.server.handle_timeout(net.now);
    let _ = net.server_outputs();
    assert_eq!(net.state(), State::Established);
    // ...and at 20 s (far below the 8-minute default) it is closed with NOTIFICATION 8.
    net.now = blocked_at + Duration::from_secs(20);
    net.server.handle_timeout(net.now);
    let _ = net.server_outputs();
    assert_ne!(net.state(), State::Established);
    assert_eq!(
        net.notifications_on(connection)
            .iter()
            .map(|n| n.code)
            .collect::<Vec<_>>(),
        vec![ErrorCode::SEND_HOLD_TIMER_EXPIRED]
    );
}

// ----- 5. Bulk outputs -------------------------------------------------------------------

#[test]
fn one_pass_over_many_prefixes_is_one_program_output() {
    let mut net = Net::with_passive_nva();
    let (_, answer) = net.dial_in(NVA, nva_session(NVA, NVA_ASN));
    let connection = accepted_connection(&answer);
    net.pump();
    let prefixes: Vec<String> = (0..1000)
        .map(|i| format!("172.{}.{}.0/24", 16 + i / 256, i % 256))
        .collect();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let bytes = announcement(&refs);
    let batches_before = net.program_batches.len();
    net.server.handle_input(
        net.now,
        Input::Received {
            connection,
            bytes: &bytes,
        },
    );
    net.pump();
    assert_eq!(net.program_batches[batches_before..], [1000]);
    assert_eq!(net.fabric.len(), 1000);
}

#[test]
fn a_table_reflected_back_is_one_counted_rejection() {
    let mut net = Net::with_passive_nva();
    let (_, answer) = net.dial_in(NVA, nva_session(NVA, NVA_ASN));
    let connection = accepted_connection(&answer);
    net.pump();
    // 500 routes whose AS path holds 65515, as FRR reflects what it learned from us.
    let params = SessionParams::default();
    let mut packer = UpdatePacker::new(params.clone());
    packer.announce(
        &route(&[NVA_ASN, 65515], NVA, &[]),
        (0..500u32).map(|i| Nlri::new(prefix(&format!("172.20.{}.{}/32", i / 256, i % 256)))),
    );
    let mut bytes = Vec::new();
    let updates: Vec<Update> = packer.finish_updates().messages;
    for update in &updates {
        Message::Update(update.clone()).emit(&mut bytes, &params);
    }
    net.server.handle_input(
        net.now,
        Input::Received {
            connection,
            bytes: &bytes,
        },
    );
    net.pump();
    let rejections: Vec<_> = net
        .events
        .iter()
        .filter_map(|e| match e {
            Event::RoutesRejected {
                reason,
                count,
                examples,
                ..
            } => Some((*reason, *count, examples.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(rejections.len(), 1, "{rejections:?}");
    let (reason, count, examples) = &rejections[0];
    assert_eq!(*reason, route_server::RejectReason::OwnAsnInPath);
    assert_eq!(*count, 500);
    assert_eq!(examples.len(), route_server::REJECTED_EXAMPLES);
    assert_eq!(examples[0], prefix("172.20.0.0/32"));
    assert!(net.fabric.is_empty());
}

// ----- 2. Enhanced route refresh (RFC 7313) ----------------------------------------------

fn refresh_bytes(subtype: RouteRefreshSubtype) -> Vec<u8> {
    Message::RouteRefresh(RouteRefresh::new(Family::IPV4_UNICAST, subtype))
        .to_bytes(&SessionParams::default())
}

/// An NVA up on a connection, its connection token.
fn nva_up(net: &mut Net, config: SessionConfig) -> (usize, ConnectionId) {
    let (nva, answer) = net.dial_in(NVA, config);
    let connection = accepted_connection(&answer);
    net.pump();
    assert_eq!(net.state(), State::Established);
    (nva, connection)
}

fn send(net: &mut Net, connection: ConnectionId, bytes: &[u8]) {
    net.server
        .handle_input(net.now, Input::Received { connection, bytes });
    net.pump();
}

/// The server's messages on `connection` from index `from` of the wire log, as
/// (message type, bytes).
fn messages_since(net: &Net, connection: ConnectionId, from: usize) -> Vec<(u8, Vec<u8>)> {
    net.wire[from..]
        .iter()
        .filter(|(c, _)| *c == connection)
        .map(|(_, bytes)| (bytes[18], bytes.clone()))
        .collect()
}

#[test]
fn our_answer_to_a_route_refresh_is_framed_by_borr_and_eorr() {
    let mut net = Net::with_passive_nva();
    let (nva, connection) = nva_up(&mut net, nva_session(NVA, NVA_ASN));
    assert!(net.remotes[nva]
        .received
        .contains_key(&prefix("10.1.0.0/16")));
    let from = net.wire.len();
    let now = net.now;
    net.remotes[nva]
        .session
        .request_refresh(now, Family::IPV4_UNICAST)
        .expect("negotiated");
    net.pump();
    let answer = messages_since(&net, connection, from);
    // RFC 7313 section 3: ROUTE-REFRESH (type 5) is AFI (2 octets), Message Subtype,
    // SAFI; BoRR is subtype 1, EoRR subtype 2. Between them, the Adj-RIB-Out again.
    let borr = [0xff; 16]
        .iter()
        .copied()
        .chain([0, 23, 5, 0, 1, 1, 1])
        .collect::<Vec<u8>>();
    let eorr = [0xff; 16]
        .iter()
        .copied()
        .chain([0, 23, 5, 0, 1, 2, 1])
        .collect::<Vec<u8>>();
    let types: Vec<u8> = answer.iter().map(|(t, _)| *t).collect();
    assert_eq!(types, vec![5, 2, 5], "{answer:?}");
    assert_eq!(answer[0].1, borr);
    assert_eq!(answer[2].1, eorr);
    let Ok(Message::Update(update)) = Message::parse(&answer[1].1, &SessionParams::default())
    else {
        panic!("an UPDATE between BoRR and EoRR");
    };
    let announced: Vec<IpNet> = update.routes_to_announce().map(|(_, n)| n.prefix).collect();
    assert_eq!(announced, vec![prefix("10.1.0.0/16")]);
    // The NVA (a bgp-fsm session) saw BoRR and EoRR and still holds the route.
    assert!(net.remotes[nva]
        .received
        .contains_key(&prefix("10.1.0.0/16")));
}

#[test]
fn without_enhanced_route_refresh_the_answer_has_no_borr_or_eorr() {
    let mut net = Net::with_passive_nva();
    let mut config = nva_session(NVA, NVA_ASN);
    config.capabilities.enhanced_route_refresh = false;
    let (nva, connection) = nva_up(&mut net, config);
    let from = net.wire.len();
    let now = net.now;
    net.remotes[nva]
        .session
        .request_refresh(now, Family::IPV4_UNICAST)
        .expect("negotiated");
    net.pump();
    let types: Vec<u8> = messages_since(&net, connection, from)
        .iter()
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(types, vec![2]);
}

fn three_routes(net: &mut Net, connection: ConnectionId) {
    send(
        net,
        connection,
        &announcement(&["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"]),
    );
    assert_eq!(net.fabric.len(), 3);
}

fn swept(net: &Net) -> Vec<(usize, bool)> {
    net.events
        .iter()
        .filter_map(|e| match e {
            Event::RefreshSwept {
                routes, timed_out, ..
            } => Some((*routes, *timed_out)),
            _ => None,
        })
        .collect()
}

#[test]
fn routes_not_resent_between_borr_and_eorr_are_swept_at_eorr() {
    let mut net = Net::with_passive_nva();
    let (_, connection) = nva_up(&mut net, nva_session(NVA, NVA_ASN));
    three_routes(&mut net, connection);
    send(
        &mut net,
        connection,
        &refresh_bytes(RouteRefreshSubtype::BeginningOfRefresh),
    );
    // The peer re-sends two of the three; the third stays in use until EoRR.
    send(
        &mut net,
        connection,
        &announcement(&["192.0.2.0/24", "203.0.113.0/24"]),
    );
    assert_eq!(net.fabric.len(), 3);
    assert!(swept(&net).is_empty());
    send(
        &mut net,
        connection,
        &refresh_bytes(RouteRefreshSubtype::EndOfRefresh),
    );
    let kept: Vec<IpNet> = net.fabric.keys().copied().collect();
    assert_eq!(kept, vec![prefix("192.0.2.0/24"), prefix("203.0.113.0/24")]);
    assert_eq!(swept(&net), vec![(1, false)]);
    assert!(net.events.contains(&Event::RouteRefreshReceived {
        peer: net.peer(),
        family: Family::IPV4_UNICAST,
        subtype: RouteRefreshSubtype::EndOfRefresh,
    }));
}

#[test]
fn a_refresh_without_eorr_is_swept_when_its_time_runs_out() {
    let mut net = Net::with_passive_nva();
    let (_, connection) = nva_up(&mut net, nva_session(NVA, NVA_ASN));
    three_routes(&mut net, connection);
    send(
        &mut net,
        connection,
        &refresh_bytes(RouteRefreshSubtype::BeginningOfRefresh),
    );
    send(&mut net, connection, &announcement(&["198.51.100.0/24"]));
    let stale_time = route_server::DEFAULT_REFRESH_STALE_TIME;
    net.run_for(stale_time - Duration::from_secs(1));
    assert_eq!(net.fabric.len(), 3);
    net.run_for(Duration::from_secs(2));
    let kept: Vec<IpNet> = net.fabric.keys().copied().collect();
    assert_eq!(kept, vec![prefix("198.51.100.0/24")]);
    assert_eq!(swept(&net), vec![(2, true)]);
    assert_eq!(net.state(), State::Established);
}

#[test]
fn eorr_closes_a_route_limit_batch_like_end_of_rib() {
    // Limit 10: a refresh that re-sends 4 routes twice (8 counted), EoRR, then the same
    // 4 again at the same instant: a new batch, 4 held + 4 = 8. Without the EoRR the
    // third copy joins the batch: 12 > 10.
    let table = announcement(&[
        "192.0.2.0/24",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "192.0.2.128/25",
    ]);
    for with_eorr in [true, false] {
        let mut config = config_with(PeerConfig::nva(IpAddr::V4(NVA), NVA_ASN));
        config.limits.max_routes_per_peer = Some(10);
        let mut net = Net::new(config);
        let (_, connection) = nva_up(&mut net, nva_session(NVA, NVA_ASN));
        let mut stream = refresh_bytes(RouteRefreshSubtype::BeginningOfRefresh);
        stream.extend(&table);
        stream.extend(&table);
        if with_eorr {
            stream.extend(refresh_bytes(RouteRefreshSubtype::EndOfRefresh));
        }
        stream.extend(&table);
        send(&mut net, connection, &stream);
        let limits: Vec<(usize, u32)> = net
            .events
            .iter()
            .filter_map(|e| match e {
                Event::RouteLimitExceeded { counted, limit, .. } => Some((*counted, *limit)),
                _ => None,
            })
            .collect();
        if with_eorr {
            assert!(limits.is_empty(), "{limits:?}");
            assert_eq!(net.fabric.len(), 4);
        } else {
            assert_eq!(limits, vec![(12, 10)]);
            assert!(net.fabric.is_empty());
        }
    }
}

// ----- 6. Configuration ------------------------------------------------------------------

/// The capabilities of the OPEN the route server sends on a new connection.
fn our_open_capabilities(config: Config) -> Vec<Capability> {
    let mut net = Net::new(config);
    let from = net.wire.len();
    net.server.handle_input(
        net.now,
        Input::ConnectionOffered {
            from: IpAddr::V4(NVA),
        },
    );
    let _ = net.server_outputs();
    let (_, open) = net.wire[from].clone();
    let Ok(Message::Open(open)) = Message::parse(&open, &SessionParams::default()) else {
        panic!("an OPEN first");
    };
    open.parameters
        .into_iter()
        .flat_map(|p| match p {
            OptionalParameter::Capabilities(caps) => caps,
            _ => Vec::new(),
        })
        .collect()
}

#[test]
fn the_four_octet_as_capability_is_offered_only_with_the_extension() {
    // RFC 6793 capability 65 carries our AS. Azure takes 2-octet ASNs only.
    let nva = PeerConfig::nva(IpAddr::V4(NVA), NVA_ASN);
    let caps = our_open_capabilities(config_with(nva.clone()));
    assert!(
        !caps.iter().any(|c| matches!(c, Capability::FourOctetAs(_))),
        "{caps:?}"
    );
    assert!(caps.contains(&Capability::EnhancedRouteRefresh));
    let mut config = config_with(nva);
    config.extensions.four_octet_asn = true;
    let caps = our_open_capabilities(config);
    assert!(caps.contains(&Capability::FourOctetAs(65515)), "{caps:?}");
}

#[test]
fn a_zero_router_id_is_refused_naming_the_field() {
    let mut config = config_with(PeerConfig::nva(IpAddr::V4(NVA), NVA_ASN));
    config.router_id = Ipv4Addr::UNSPECIFIED;
    let error = RouteServer::new(config, Instant::ZERO).expect_err("0.0.0.0 is refused");
    assert_eq!(
        error,
        route_server::ConfigError::RouterId {
            router_id: Ipv4Addr::UNSPECIFIED
        }
    );
    assert!(
        error.to_string().starts_with("router_id: 0.0.0.0"),
        "{error}"
    );
}

#[test]
fn local_asn_23456_is_refused_as_the_error_says() {
    let mut config = config_with(PeerConfig::nva(IpAddr::V4(NVA), NVA_ASN));
    config.local_asn = 23456; // AS_TRANS (RFC 6793)
    let error = RouteServer::new(config, Instant::ZERO).expect_err("AS_TRANS is refused");
    assert_eq!(error, route_server::ConfigError::LocalAsn { asn: 23456 });
    assert!(error.to_string().contains("23456"), "{error}");
}

#[test]
fn bad_peer_session_settings_are_refused_naming_the_field() {
    let mut peer = PeerConfig::nva(IpAddr::V4(NVA), NVA_ASN);
    peer.remote_port = 0;
    let error = RouteServer::new(config_with(peer), Instant::ZERO).expect_err("port 0");
    assert_eq!(
        error.to_string(),
        "peer 10.1.2.4: field `remote_port`: port 0 cannot be connected to"
    );
    let mut peer = PeerConfig::nva(IpAddr::V4(NVA), NVA_ASN);
    peer.local_address = Some("fd00::1".parse().expect("address"));
    let error = RouteServer::new(config_with(peer), Instant::ZERO).expect_err("family");
    assert!(
        error.to_string().contains("field `local_address`"),
        "{error}"
    );
    let mut peer = PeerConfig::nva(IpAddr::V4(NVA), NVA_ASN);
    peer.connect_retry_time = Duration::ZERO;
    let error = RouteServer::new(config_with(peer), Instant::ZERO).expect_err("zero");
    assert!(
        error.to_string().contains("field `connect_retry_time`"),
        "{error}"
    );
    let mut peer = PeerConfig::nva(IpAddr::V4(NVA), NVA_ASN);
    peer.send_hold_time = Some(Duration::ZERO);
    let error = RouteServer::new(config_with(peer), Instant::ZERO).expect_err("zero");
    assert_eq!(
        error.to_string(),
        "peer 10.1.2.4: field `send_hold_time`: must be longer than zero"
    );
}

#[test]
fn the_rib_hash_seed_comes_from_the_configuration() {
    let mut config = config_with(PeerConfig::nva(IpAddr::V4(NVA), NVA_ASN));
    config.rng_seed = 0x5eed_1234;
    let server = RouteServer::new(config, Instant::ZERO).expect("valid");
    assert_eq!(server.rib_hash_seed(), 0x5eed_1234);
}

/// Compares the code with itself: the seed changes hashing and jitter only, so what is
/// programmed and advertised for the same inputs does not depend on it.
#[test]
fn outputs_do_not_depend_on_the_seed_compares_the_code_with_itself() {
    let run = |seed: u64| {
        let mut config = config_with(PeerConfig::nva(IpAddr::V4(NVA), NVA_ASN));
        config.rng_seed = seed;
        let mut net = Net::new(config);
        let (_, connection) = nva_up(&mut net, nva_session(NVA, NVA_ASN));
        let prefixes: Vec<String> = (0..300)
            .map(|i| format!("172.{}.{}.0/24", 16 + i / 256, i % 256))
            .collect();
        let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
        send(&mut net, connection, &announcement(&refs));
        let peer = net.peer();
        (net.fabric, net.server.advertised_routes(peer))
    };
    assert_eq!(run(1), run(0xdead_beef));
}

#[test]
fn a_vnet_change_refreshes_every_nva_and_no_gateway() {
    use fabric_sim::lab::Lab;
    use route_server::PeerKind;
    let gateway = Ipv4Addr::new(10, 1, 0, 68);
    let other_nva = Ipv4Addr::new(10, 1, 2, 5);
    let mut config = Config::azure(RS, vec![prefix("10.1.0.0/16")]);
    config.peers.push(PeerConfig::nva(IpAddr::V4(NVA), NVA_ASN));
    config
        .peers
        .push(PeerConfig::nva(IpAddr::V4(other_nva), 65002));
    config.peers.push(PeerConfig::gateway(
        IpAddr::V4(gateway),
        PeerKind::ExpressRoute,
    ));
    let mut lab = Lab::new(config);
    let with_refresh = lab.add_nva(NVA, NVA_ASN);
    let mut no_refresh = nva_session(other_nva, 65002);
    no_refresh.capabilities.route_refresh = false;
    no_refresh.capabilities.enhanced_route_refresh = false;
    let without_refresh = lab.add_speaker(IpAddr::V4(other_nva), no_refresh);
    let gw = lab.add_speaker(IpAddr::V4(gateway), nva_session(gateway, 65515));
    for s in &lab.speakers {
        assert_eq!(s.session.state(), State::Established);
    }
    let events_before: Vec<usize> = lab.speakers.iter().map(|s| s.events.len()).collect();
    let now = lab.now;
    lab.server
        .set_vnet_prefixes(now, vec![prefix("10.1.0.0/16"), prefix("10.9.0.0/16")]);
    lab.settle();
    let refreshes = |i: usize| {
        lab.speakers[i].events[events_before[i]..]
            .iter()
            .filter(|e| matches!(e, bgp_fsm::SessionEvent::RouteRefresh(r) if r.subtype == RouteRefreshSubtype::Normal))
            .count()
    };
    let downs = |i: usize| {
        lab.speakers[i].events[events_before[i]..]
            .iter()
            .filter(|e| matches!(e, bgp_fsm::SessionEvent::Down(_)))
            .count()
    };
    assert_eq!((refreshes(with_refresh), downs(with_refresh)), (1, 0));
    // RFC 2918 not negotiated: Azure's hard reset (Cease 6/6) instead.
    assert_eq!((refreshes(without_refresh), downs(without_refresh)), (0, 1));
    assert_eq!((refreshes(gw), downs(gw)), (0, 0));
    let peer_of = |address: Ipv4Addr| lab.server.peer_by_address(IpAddr::V4(address)).unwrap();
    assert!(lab
        .events
        .contains(&Event::RouteRefreshSent { peer: peer_of(NVA) }));
    assert!(lab.events.contains(&Event::SessionReset {
        peer: peer_of(other_nva)
    }));
    assert!(!lab.events.iter().any(|e| matches!(e,
        Event::RouteRefreshSent { peer } | Event::SessionReset { peer } if *peer == peer_of(gateway))));
}

// ----- Random connection programs --------------------------------------------------------

mod connection_programs {
    use super::*;
    use proptest::prelude::*;

    /// One thing the network or the operator does.
    #[derive(Clone, Debug)]
    enum Step {
        /// The NVA connects in, with a router id above or below ours.
        NvaDials {
            higher_id: bool,
        },
        /// The oldest outstanding dial of the route server completes or fails.
        AnswerDial {
            ok: bool,
        },
        /// The driver sees one of the live connections close.
        DriverCloses(u8),
        /// Input for a dead connection: bytes, a close, a connect, a blocked write.
        LateInput(u8, u8),
        /// Time passes.
        Advance(u16),
        TransmitBlocked(u8),
        TransmitProgress(u8),
        Shutdown,
        Start,
        /// Bytes move both ways until nothing moves (otherwise they wait, so two
        /// connections can be opening at once).
        Pump,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => any::<bool>().prop_map(|higher_id| Step::NvaDials { higher_id }),
            3 => any::<bool>().prop_map(|ok| Step::AnswerDial { ok }),
            2 => any::<u8>().prop_map(Step::DriverCloses),
            2 => (any::<u8>(), any::<u8>()).prop_map(|(i, k)| Step::LateInput(i, k)),
            2 => (0u16..700).prop_map(Step::Advance),
            1 => any::<u8>().prop_map(Step::TransmitBlocked),
            1 => any::<u8>().prop_map(Step::TransmitProgress),
            1 => Just(Step::Shutdown),
            1 => Just(Step::Start),
            3 => Just(Step::Pump),
        ]
    }

    fn tokens_in(net: &Net, state: Token) -> Vec<ConnectionId> {
        net.tokens
            .iter()
            .filter(|(_, t)| **t == state)
            .map(|(c, _)| *c)
            .collect()
    }

    fn pick(list: &[ConnectionId], index: u8) -> Option<ConnectionId> {
        (!list.is_empty()).then(|| list[usize::from(index) % list.len()])
    }

    fn run(steps: &[Step]) {
        let mut net = Net::new(config_with(active_nva()));
        let mut admin_down = false;
        for step in steps {
            match *step {
                Step::NvaDials { higher_id } => {
                    let id = if higher_id {
                        Ipv4Addr::new(10, 1, 2, 4)
                    } else {
                        Ipv4Addr::new(10, 0, 0, 9)
                    };
                    let before = net.state();
                    let (_, answer) = net.dial_in(NVA, nva_with_id(id));
                    match answer {
                        Output::Accepted { .. } => {
                            assert!(!admin_down && before != State::Established);
                        }
                        Output::Refused { reason, .. } => assert_eq!(
                            reason,
                            if admin_down {
                                RefuseReason::AdministrativelyDown
                            } else {
                                assert_eq!(before, State::Established);
                                RefuseReason::AlreadyEstablished
                            }
                        ),
                        other => panic!("{other:?}"),
                    }
                }
                Step::AnswerDial { ok } => {
                    if let Some(&c) = tokens_in(&net, Token::Pending).first() {
                        if ok {
                            net.answer_dial(c, nva_with_id(Ipv4Addr::new(10, 1, 2, 4)));
                        } else {
                            net.driver_closes(c);
                        }
                    }
                }
                Step::DriverCloses(i) => {
                    if let Some(c) = pick(&tokens_in(&net, Token::Live), i) {
                        net.driver_closes(c);
                    }
                }
                Step::LateInput(i, kind) => {
                    if let Some(connection) = pick(&tokens_in(&net, Token::Dead), i) {
                        let state = net.state();
                        let keepalive = Message::Keepalive.to_bytes(&SessionParams::default());
                        let input = match kind % 4 {
                            0 => Input::Received {
                                connection,
                                bytes: &keepalive,
                            },
                            1 => Input::Closed { connection },
                            2 => Input::Connected { connection },
                            _ => Input::TransmitBlocked { connection },
                        };
                        let disconnects = net.disconnects.len();
                        net.server.handle_input(net.now, input);
                        let _ = net.server_outputs();
                        assert_eq!(net.state(), state, "a dead connection's input moved it");
                        // Only a late Connected is answered, by closing that connection.
                        assert!(net.disconnects[disconnects..]
                            .iter()
                            .all(|c| *c == connection && kind % 4 == 2));
                    }
                }
                Step::Advance(secs) => net.run_for(Duration::from_secs(u64::from(secs))),
                Step::TransmitBlocked(i) | Step::TransmitProgress(i) => {
                    if let Some(connection) = pick(&tokens_in(&net, Token::Live), i) {
                        let input = if matches!(step, Step::TransmitBlocked(_)) {
                            Input::TransmitBlocked { connection }
                        } else {
                            Input::TransmitProgress { connection }
                        };
                        net.server.handle_input(net.now, input);
                        let _ = net.server_outputs();
                    }
                }
                Step::Shutdown => {
                    let peer = net.peer();
                    net.server.shutdown_peer(net.now, peer, None);
                    let _ = net.server_outputs();
                    admin_down = true;
                }
                Step::Start => {
                    let peer = net.peer();
                    net.server.start_peer(net.now, peer);
                    let _ = net.server_outputs();
                    admin_down = false;
                }
                Step::Pump => net.pump(),
            }
        }
        net.pump();
        // Whatever happened, the NVA gets in: its own connection is accepted (or it is
        // up already) and a session is Established soon after.
        if admin_down {
            let peer = net.peer();
            net.server.start_peer(net.now, peer);
            net.pump();
        }
        if net.state() != State::Established {
            let (_, answer) = net.dial_in(NVA, nva_with_id(Ipv4Addr::new(10, 1, 2, 4)));
            assert!(matches!(answer, Output::Accepted { .. }), "{answer:?}");
            net.pump();
        }
        net.run_for(Duration::from_secs(1));
        assert_eq!(net.state(), State::Established);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn connection_programs_keep_the_connection_contract(
            steps in proptest::collection::vec(step(), 1..40)
        ) {
            run(&steps);
        }
    }
}
