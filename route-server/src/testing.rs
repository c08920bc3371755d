//! The old in-memory lab, kept private for the `fuzzing` harness only (feature
//! `fuzzing`) until that harness is rewritten without it; it is no API. The project's
//! lab is `fabric_sim::lab::Lab`, the simulator's engine.
//!
//! Bytes a speaker writes in one burst reach the route server in one
//! [`Input::Received`], as one TCP read would deliver them. Nothing the route server
//! decides depends on that chunking: a re-sent table is one route-limit batch because its
//! UPDATEs arrive within [`Limits::batch_window`](crate::Limits::batch_window).

// Interim: private and used by `fuzzing` alone, which needs part of it.
#![allow(unreachable_pub, dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_fsm::{
    Input as SessionInput, Instant, Output as SessionOutput, Session, SessionConfig, SessionEvent,
    State,
};
use bgp_wire::{
    AsPath, AttrValue, Community, Family, MpNextHop, MpNlri, MpReach, Nlri, Origin, PathAttribute,
    Update, UpdatePacker,
};
use ipnet::IpNet;

use crate::config::Config;
use crate::policy::PeerId;
use crate::route::RouteAttrs;
use crate::server::{ConnectionId, Event, Input, Output, RouteServer};

/// One BGP speaker of the lab.
#[derive(Clone, Debug)]
pub struct Speaker {
    /// Its address (what the route server knows it by).
    pub address: IpAddr,
    /// Its session toward the route server.
    pub session: Session,
    /// The route server's id for it, once a connection was accepted.
    pub peer: Option<PeerId>,
    /// Whether its TCP connection is up.
    pub connected: bool,
    /// The route server's token for its current connection.
    pub connection: Option<ConnectionId>,
    /// `false` once crashed: it neither sends, receives nor runs timers.
    pub alive: bool,
    /// What it announces, re-sent whenever the session comes up or a refresh is asked.
    pub announced: BTreeMap<IpNet, Vec<PathAttribute>>,
    /// Routes received from the route server.
    pub received: BTreeMap<IpNet, RouteAttrs>,
    /// Every session event but UPDATEs, in order.
    pub events: Vec<SessionEvent>,
    /// UPDATE messages received.
    pub updates_received: usize,
    /// Bytes received.
    pub bytes_received: usize,
    inbox: Vec<u8>,
}

/// The lab: a route server, its speakers, the fabric it programmed, its events.
#[derive(Clone, Debug)]
pub struct Lab {
    /// The route server under test.
    pub server: RouteServer,
    /// The speakers, in the order added.
    pub speakers: Vec<Speaker>,
    /// Virtual time.
    pub now: Instant,
    /// The fabric as the route server's [`Output::Program`] changes built it.
    pub fabric: BTreeMap<IpNet, Vec<IpAddr>>,
    /// The route server's events, in order.
    pub events: Vec<Event>,
    /// Messages the route server transmitted.
    pub messages_out: usize,
    /// Bytes the route server transmitted.
    pub bytes_out: usize,
    /// Fabric changes output (prefixes, summed over the [`Output::Program`] batches).
    pub fabric_changes: usize,
    to_server: VecDeque<(IpAddr, Action)>,
}

#[derive(Clone, Debug)]
enum Action {
    Offer,
    Bytes(ConnectionId, Vec<u8>),
    Closed(ConnectionId),
}

/// A session configuration for an NVA in `asn` at `address` peering with Azure's 65515,
/// with Azure's 180 s hold time.
pub fn nva_session(address: Ipv4Addr, asn: u32) -> SessionConfig {
    let mut config = SessionConfig::new(asn, address, crate::config::AZURE_ASN);
    config.hold_time = crate::config::AZURE_HOLD_TIME_SECS;
    config.connect_retry_time = Duration::from_secs(10);
    config
}

/// Path attributes of an IPv4 route: ORIGIN IGP, `path`, NEXT_HOP `next_hop`, and the
/// communities when any.
pub fn route(path: &[u32], next_hop: Ipv4Addr, communities: &[Community]) -> Vec<PathAttribute> {
    let mut attrs = vec![
        PathAttribute::new(AttrValue::Origin(Origin::Igp)),
        PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence(
            path.iter().copied(),
        ))),
        PathAttribute::new(AttrValue::NextHop(next_hop)),
    ];
    if !communities.is_empty() {
        attrs.push(PathAttribute::new(AttrValue::Communities(
            communities.to_vec(),
        )));
    }
    attrs
}

impl Lab {
    /// A lab around a route server built from `config` at time zero.
    ///
    /// # Panics
    ///
    /// When the configuration is refused (tests pass valid ones).
    pub fn new(config: Config) -> Self {
        let server = RouteServer::new(config, Instant::ZERO).expect("lab configurations are valid");
        let mut lab = Self {
            server,
            speakers: Vec::new(),
            now: Instant::ZERO,
            fabric: BTreeMap::new(),
            events: Vec::new(),
            messages_out: 0,
            bytes_out: 0,
            fabric_changes: 0,
            to_server: VecDeque::new(),
        };
        lab.settle();
        lab
    }

    /// Adds a speaker and starts its session (it connects at once).
    ///
    /// # Panics
    ///
    /// When `config` is invalid.
    pub fn add_speaker(&mut self, address: IpAddr, config: SessionConfig) -> usize {
        let mut session = Session::new(config, self.now).expect("speaker configuration is valid");
        session.start(self.now);
        self.speakers.push(Speaker {
            address,
            session,
            peer: None,
            connected: false,
            connection: None,
            alive: true,
            announced: BTreeMap::new(),
            received: BTreeMap::new(),
            events: Vec::new(),
            updates_received: 0,
            bytes_received: 0,
            inbox: Vec::new(),
        });
        self.settle();
        self.speakers.len() - 1
    }

    /// Adds an NVA speaker at `address` in `asn` with the default session settings.
    pub fn add_nva(&mut self, address: Ipv4Addr, asn: u32) -> usize {
        self.add_speaker(IpAddr::V4(address), nva_session(address, asn))
    }

    /// Speaker `i` announces `prefixes` with `attrs` (sent now if its session is up).
    pub fn announce(&mut self, i: usize, prefixes: &[IpNet], attrs: &[PathAttribute]) {
        for p in prefixes {
            self.speakers[i].announced.insert(*p, attrs.to_vec());
        }
        let routes: Vec<(IpNet, Vec<PathAttribute>)> =
            prefixes.iter().map(|p| (*p, attrs.to_vec())).collect();
        self.send_routes(i, &routes, &[]);
        self.settle();
    }

    /// Speaker `i` re-sends `prefixes` exactly as announced before, in one burst.
    pub fn reannounce(&mut self, i: usize, prefixes: &[IpNet]) {
        let routes: Vec<(IpNet, Vec<PathAttribute>)> = prefixes
            .iter()
            .filter_map(|p| self.speakers[i].announced.get(p).map(|a| (*p, a.clone())))
            .collect();
        self.send_routes(i, &routes, &[]);
        self.settle();
    }

    /// Speaker `i` withdraws `prefixes`.
    pub fn withdraw(&mut self, i: usize, prefixes: &[IpNet]) {
        for p in prefixes {
            self.speakers[i].announced.remove(p);
        }
        self.send_routes(i, &[], prefixes);
        self.settle();
    }

    /// Speaker `i` crashes silently: no more bytes either way, no timers.
    pub fn crash(&mut self, i: usize) {
        self.speakers[i].alive = false;
    }

    /// Speaker `i`'s TCP connection resets on both ends (it restarts by itself).
    pub fn reset_connection(&mut self, i: usize) {
        let s = &mut self.speakers[i];
        if s.connected {
            s.connected = false;
            s.session
                .handle_input(self.now, SessionInput::TcpConnectionFails);
            if let Some(connection) = s.connection.take() {
                self.to_server
                    .push_back((s.address, Action::Closed(connection)));
            }
        }
        self.settle();
    }

    /// Raw bytes from speaker `i`'s address reach the route server as if its peer wrote
    /// them (malformed input, for fuzzing).
    pub fn inject(&mut self, i: usize, bytes: Vec<u8>) {
        let s = &self.speakers[i];
        if let (true, Some(connection)) = (s.connected, s.connection) {
            self.to_server
                .push_back((s.address, Action::Bytes(connection, bytes)));
        }
        self.settle();
    }

    /// The speaker whose route server id is `peer`.
    pub fn speaker_of(&self, peer: PeerId) -> Option<usize> {
        self.speakers.iter().position(|s| s.peer == Some(peer))
    }

    /// Runs the lab for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) {
        let until = self.now + duration;
        self.run_until(until);
    }

    /// Runs the lab until `until`, firing every timer on the way.
    pub fn run_until(&mut self, until: Instant) {
        self.settle();
        loop {
            let mut next = self.server.poll_timeout();
            for s in self.speakers.iter().filter(|s| s.alive) {
                next = match (next, s.session.poll_timeout()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            match next {
                Some(at) if at <= until => {
                    self.now = self.now.max(at);
                    self.server.handle_timeout(self.now);
                    for s in self.speakers.iter_mut().filter(|s| s.alive) {
                        s.session.handle_timeout(self.now);
                    }
                    self.settle();
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
        self.settle();
    }

    /// Delivers everything in flight until nothing moves.
    pub fn settle(&mut self) {
        for _ in 0..100_000 {
            let mut moved = false;
            while let Some(output) = self.server.poll_output() {
                moved = true;
                self.server_output(output);
            }
            for i in 0..self.speakers.len() {
                moved |= self.pump_speaker(i);
            }
            while let Some((from, action)) = self.to_server.pop_front() {
                moved = true;
                match action {
                    Action::Offer => {
                        self.server
                            .handle_input(self.now, Input::ConnectionOffered { from });
                        // The answer is the first output: bind the connection before
                        // anything else the server sends on it.
                        if let Some(output) = self.server.poll_output() {
                            self.server_output(output);
                        }
                    }
                    Action::Bytes(connection, bytes) => {
                        self.server.handle_input(
                            self.now,
                            Input::Received {
                                connection,
                                bytes: &bytes,
                            },
                        );
                    }
                    Action::Closed(connection) => self
                        .server
                        .handle_input(self.now, Input::Closed { connection }),
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the lab did not settle");
    }

    fn server_output(&mut self, output: Output) {
        match output {
            Output::Transmit {
                connection, bytes, ..
            } => {
                self.messages_out += 1;
                self.bytes_out += bytes.len();
                if let Some(s) = self
                    .speakers
                    .iter_mut()
                    .find(|s| s.connection == Some(connection))
                {
                    if s.alive && s.connected {
                        s.inbox.extend_from_slice(&bytes);
                    }
                }
            }
            // Lab speakers do not listen: the route server's own attempts fail.
            Output::Connect { connection, .. } => self
                .server
                .handle_input(self.now, Input::ConnectFailed { connection }),
            Output::Disconnect { connection, .. } => {
                if let Some(s) = self
                    .speakers
                    .iter_mut()
                    .find(|s| s.connection == Some(connection))
                {
                    s.connection = None;
                    if s.alive && s.connected {
                        // What was written before the close (a NOTIFICATION) arrives first.
                        let bytes = std::mem::take(&mut s.inbox);
                        if !bytes.is_empty() {
                            s.session
                                .handle_input(self.now, SessionInput::Received(&bytes));
                        }
                        if s.connected {
                            s.connected = false;
                            s.session
                                .handle_input(self.now, SessionInput::TcpConnectionFails);
                        }
                    }
                }
            }
            Output::Accepted {
                connection,
                peer,
                from,
            } => {
                if let Some(s) = self.speakers.iter_mut().find(|s| s.address == from) {
                    s.peer = Some(peer);
                    s.connected = true;
                    s.connection = Some(connection);
                    s.session.handle_input(self.now, SessionInput::TcpCrAcked);
                }
            }
            Output::Refused { from, .. } => {
                if let Some(s) = self.speakers.iter_mut().find(|s| s.address == from) {
                    s.session
                        .handle_input(self.now, SessionInput::TcpConnectionFails);
                }
            }
            Output::Program(changes) => {
                self.fabric_changes += changes.len();
                changes.apply_to(&mut self.fabric);
            }
            Output::Event(event) => self.events.push(event),
        }
    }

    /// Feeds speaker `i` its inbox and moves its outputs; whether anything happened.
    fn pump_speaker(&mut self, i: usize) -> bool {
        let now = self.now;
        let mut moved = false;
        let s = &mut self.speakers[i];
        if !s.alive {
            s.inbox.clear();
            return false;
        }
        if !s.inbox.is_empty() {
            moved = true;
            let bytes = std::mem::take(&mut s.inbox);
            s.bytes_received += bytes.len();
            s.session.handle_input(now, SessionInput::Received(&bytes));
        }
        let mut burst = Vec::new();
        let mut resend = false;
        while let Some(out) = s.session.poll_output() {
            moved = true;
            match out {
                SessionOutput::Transmit(bytes) => burst.extend_from_slice(&bytes),
                SessionOutput::ConnectTcp => self.to_server.push_back((s.address, Action::Offer)),
                SessionOutput::CloseTcp => {
                    if s.connected {
                        s.connected = false;
                        if let Some(connection) = s.connection.take() {
                            if !burst.is_empty() {
                                let bytes = std::mem::take(&mut burst);
                                self.to_server
                                    .push_back((s.address, Action::Bytes(connection, bytes)));
                            }
                            self.to_server
                                .push_back((s.address, Action::Closed(connection)));
                        }
                    }
                    burst.clear();
                }
                SessionOutput::Event(SessionEvent::Update(update)) => {
                    s.updates_received += 1;
                    apply_received(&mut s.received, &update);
                }
                SessionOutput::Event(event) => {
                    match &event {
                        SessionEvent::Established(_) => resend = true,
                        SessionEvent::RouteRefresh(_) => resend = true,
                        SessionEvent::Down(_) => s.received.clear(),
                        _ => {}
                    }
                    s.events.push(event);
                }
            }
        }
        if let (false, true, Some(connection)) = (burst.is_empty(), s.connected, s.connection) {
            self.to_server
                .push_back((s.address, Action::Bytes(connection, burst)));
        }
        if resend {
            let routes: Vec<(IpNet, Vec<PathAttribute>)> = self.speakers[i]
                .announced
                .iter()
                .map(|(p, a)| (*p, a.clone()))
                .collect();
            self.send_routes(i, &routes, &[]);
            let s = &mut self.speakers[i];
            let _ = s.session.send_end_of_rib(now, Family::IPV4_UNICAST);
            let mut burst = Vec::new();
            while let Some(out) = s.session.poll_output() {
                if let SessionOutput::Transmit(bytes) = out {
                    burst.extend_from_slice(&bytes);
                }
            }
            if let (false, Some(connection)) = (burst.is_empty(), s.connection) {
                self.to_server
                    .push_back((s.address, Action::Bytes(connection, burst)));
            }
        }
        moved
    }

    /// Packs routes and withdrawals of speaker `i` and queues them as one burst.
    fn send_routes(
        &mut self,
        i: usize,
        routes: &[(IpNet, Vec<PathAttribute>)],
        withdraw: &[IpNet],
    ) {
        let now = self.now;
        let s = &mut self.speakers[i];
        let Some(params) = s.session.negotiated().map(|n| n.send.clone()) else {
            return;
        };
        if s.session.state() != State::Established || !s.alive {
            return;
        }
        let mut packer = UpdatePacker::new(params.clone());
        // Lab NVAs misbehave on purpose (AS 0, 65515 in the path, ...). The packer refuses
        // what no valid UPDATE can carry, so such routes are sent as built, unchecked.
        let mut deliberately_malformed: Vec<Update> = Vec::new();
        for p in withdraw {
            packer.withdraw(Family::IPV4_UNICAST, Nlri::new(*p));
        }
        let mut groups: Vec<(&Vec<PathAttribute>, Vec<Nlri>)> = Vec::new();
        for (p, attrs) in routes {
            match groups.iter_mut().find(|(a, _)| *a == attrs) {
                Some((_, list)) => list.push(Nlri::new(*p)),
                None => groups.push((attrs, vec![Nlri::new(*p)])),
            }
        }
        for (attrs, nlri) in groups {
            let (v6, v4): (Vec<Nlri>, Vec<Nlri>) =
                nlri.into_iter().partition(|n| n.prefix.addr().is_ipv6());
            if !v4.is_empty() {
                // One prefix is enough to tell whether the attribute set can travel.
                let probe = Update {
                    attributes: attrs.clone(),
                    nlri: v4[..1].to_vec(),
                    ..Update::default()
                };
                if probe.validate(&params).is_ok() {
                    packer.announce(attrs, v4);
                } else {
                    deliberately_malformed.extend(v4.chunks(500).map(|chunk| Update {
                        attributes: attrs.clone(),
                        nlri: chunk.to_vec(),
                        ..Update::default()
                    }));
                }
            }
            // IPv6 routes carry their next hop in an empty MP_REACH_NLRI built by `route_v6`.
            let mp_next_hop = attrs.iter().find_map(|a| match &a.value {
                AttrValue::MpReachNlri(mp) => Some(mp.next_hop.clone()),
                _ => None,
            });
            if let (false, Some(next_hop)) = (v6.is_empty(), mp_next_hop) {
                let rest: Vec<PathAttribute> = attrs
                    .iter()
                    .filter(|a| !matches!(a.value, AttrValue::MpReachNlri(_)))
                    .cloned()
                    .collect();
                packer.announce_mp(Family::IPV6_UNICAST, next_hop, &rest, v6);
            }
        }
        for update in packer.finish_updates() {
            let _ = s.session.send_update(now, &update);
        }
        for update in &deliberately_malformed {
            let _ = s.session.send_update(now, update);
        }
        let mut burst = Vec::new();
        while let Some(out) = s.session.poll_output() {
            if let SessionOutput::Transmit(bytes) = out {
                burst.extend_from_slice(&bytes);
            }
        }
        if let (false, Some(connection)) = (burst.is_empty(), s.connection) {
            self.to_server
                .push_back((s.address, Action::Bytes(connection, burst)));
        }
    }
}

fn apply_received(table: &mut BTreeMap<IpNet, RouteAttrs>, update: &Update) {
    for (_, nlri) in update.routes_to_withdraw() {
        table.remove(&nlri.prefix);
    }
    let v4 = update.next_hop().map(IpAddr::V4);
    let v6 = update.mp_reach().and_then(|mp| match mp.next_hop {
        MpNextHop::Ipv6 { global, .. } => Some(IpAddr::V6(global)),
        _ => None,
    });
    for (family, nlri) in update.routes_to_announce() {
        let next_hop = if family == Family::IPV6_UNICAST {
            v6
        } else {
            v4
        };
        if let Some(next_hop) = next_hop {
            table.insert(
                nlri.prefix,
                RouteAttrs::from_wire(&update.attributes, next_hop, true),
            );
        }
    }
}

/// Path attributes of an IPv6 route: ORIGIN IGP, `path`, and `next_hop` (carried by the
/// lab in an empty MP_REACH_NLRI until the packer builds the real one).
pub fn route_v6(path: &[u32], next_hop: std::net::Ipv6Addr) -> Vec<PathAttribute> {
    vec![
        PathAttribute::new(AttrValue::Origin(Origin::Igp)),
        PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence(
            path.iter().copied(),
        ))),
        PathAttribute::new(AttrValue::MpReachNlri(MpReach {
            family: Family::IPV6_UNICAST,
            next_hop: MpNextHop::Ipv6 {
                global: next_hop,
                link_local: None,
            },
            reserved: 0,
            nlri: MpNlri::Prefixes(Vec::new()),
        })),
    ]
}
