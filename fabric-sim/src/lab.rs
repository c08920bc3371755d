//! The single-instance lab: one [`RouteServer`] built from a raw [`Config`], and BGP
//! speakers (NVAs, gateways, IPv6 or iBGP peers) added with any `bgp_fsm`
//! [`SessionConfig`], on zero-latency links and virtual time. No VMs, no second instance:
//! for tests, benchmarks and examples that look at what one instance's API shows (its
//! learned and advertised tables, metrics, events, the NOTIFICATION it sends).
//!
//! It is a front end over the simulator's engine, not a second lab: its speakers are the
//! engine's speakers ([`crate::engine`]), announcing raw `PathAttribute` lists instead of
//! scenario [`Announcement`](crate::model::Announcement)s, and deliveries follow the
//! engine's rule with zero latency: first written, first delivered, every call into the
//! route server followed by draining its outputs. It keeps its own small queue because
//! it owns its route server as a public field ([`Lab::server`]) that tests drive
//! directly, where the simulator's instances are built from a topology and may be down.
//!
//! What one call of a speaker writes on its connection reaches the route server in one
//! [`Input::Received`], as one TCP read would deliver it (and likewise toward a speaker).
//! Nothing the route server decides depends on that chunking: a re-sent table is one
//! route-limit batch because its UPDATEs arrive within
//! [`Limits::batch_window`](route_server::Limits::batch_window).

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use bgp_fsm::{Instant, SessionConfig};
use bgp_wire::{
    AsPath, AttrValue, Community, Family, MpNextHop, MpNlri, MpReach, Origin, PathAttribute,
    SessionParams,
};
use ipnet::IpNet;
use route_server::{
    Config, ConnectionId, Event, Input, Output, PeerId, RouteServer, AZURE_ASN,
    AZURE_HOLD_TIME_SECS,
};

pub use crate::engine::speaker::SpeakerLink;
use crate::engine::speaker::{Speaker as EngineSpeaker, SpeakerAction};

/// Upper bound on deliveries in one [`Lab::settle`]: two machines answering each other
/// forever at the same instant end in a panic naming the lab, not a hang.
const MAX_DELIVERIES: u64 = 50_000_000;

/// One BGP speaker of the lab: the engine's speaker with one session, and what the route
/// server knows it by. Its session, announced and received tables and session events
/// are those of its one [`SpeakerLink`] (reached through `Deref`).
#[derive(Clone, Debug)]
pub struct Speaker {
    /// Its address (what the route server knows it by).
    pub address: IpAddr,
    /// The route server's id for it, once a connection was accepted.
    pub peer: Option<PeerId>,
    /// The route server's token for its current connection.
    pub connection: Option<ConnectionId>,
    engine: EngineSpeaker<Vec<PathAttribute>>,
    /// The link connection the route server holds open for it, by the lab's id.
    server_end: Option<u64>,
    /// The connection offered to the route server and not answered yet, by the lab's id.
    offered: Option<u64>,
}

impl Speaker {
    /// `false` once crashed: it neither sends, receives nor runs timers.
    pub fn alive(&self) -> bool {
        self.engine.alive
    }

    /// Whether its TCP connection is up, as the speaker sees it.
    pub fn connected(&self) -> bool {
        self.engine.links[0].conn.is_some()
    }

    /// The parameters its messages are encoded with (what it negotiated to send), for
    /// tests that write their own bytes on its session.
    ///
    /// # Panics
    ///
    /// If its session is not Established (nothing is negotiated yet).
    pub fn send_params(&self) -> SessionParams {
        self.session
            .negotiated()
            .expect("the speaker's session is established")
            .send
            .clone()
    }
}

impl Deref for Speaker {
    type Target = SpeakerLink<Vec<PathAttribute>>;

    fn deref(&self) -> &Self::Target {
        &self.engine.links[0]
    }
}

impl DerefMut for Speaker {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.engine.links[0]
    }
}

/// What travels on a link.
#[derive(Clone, Debug)]
enum Message {
    Offer,
    Accepted,
    Refused,
    Bytes(Vec<u8>),
    Closed,
}

/// A delivery in flight: to the route server from speaker `speaker`'s connection `conn`,
/// or to the speaker.
#[derive(Clone, Debug)]
enum Delivery {
    ToServer {
        speaker: usize,
        conn: u64,
        message: Message,
    },
    ToSpeaker {
        speaker: usize,
        conn: u64,
        message: Message,
    },
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
    /// The route server's address, for the speakers' log lines.
    server_address: Ipv4Addr,
    queue: VecDeque<Delivery>,
    next_conn: u64,
}

/// A session configuration for an NVA in `asn` at `address` peering with Azure's 65515,
/// with Azure's 180 s hold time and a 10 s connect retry.
pub fn nva_session(address: Ipv4Addr, asn: u32) -> SessionConfig {
    let mut config = SessionConfig::new(asn, address, AZURE_ASN);
    config.hold_time = AZURE_HOLD_TIME_SECS;
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

/// Path attributes of an IPv6 route: ORIGIN IGP, `path`, and `next_hop` (carried in an
/// `MP_REACH_NLRI` with no prefixes, which the speaker's packer replaces by the real one).
pub fn route_v6(path: &[u32], next_hop: Ipv6Addr) -> Vec<PathAttribute> {
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

impl Lab {
    /// A lab around a route server built from `config` at time zero.
    ///
    /// # Panics
    ///
    /// When the configuration is refused (tests pass valid ones).
    pub fn new(config: Config) -> Self {
        let server_address = config.local_address;
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
            server_address,
            queue: VecDeque::new(),
            next_conn: 1,
        };
        lab.drain_server();
        lab.settle();
        lab
    }

    /// Adds a speaker at `address` with session `config`, starts it (it connects at once)
    /// and settles; its index.
    ///
    /// # Panics
    ///
    /// When `bgp_fsm` refuses `config`.
    pub fn add_speaker(&mut self, address: IpAddr, config: SessionConfig) -> usize {
        let mut engine = EngineSpeaker::with_session(config, self.server_address, self.now)
            .expect("speaker configuration is valid");
        let mut out = Vec::new();
        engine.start(self.now, &mut out);
        self.speakers.push(Speaker {
            address,
            peer: None,
            connection: None,
            engine,
            server_end: None,
            offered: None,
        });
        let i = self.speakers.len() - 1;
        self.speaker_actions(i, out);
        self.settle();
        i
    }

    /// Adds an NVA speaker at `address` in `asn` with [`nva_session`]'s settings.
    pub fn add_nva(&mut self, address: Ipv4Addr, asn: u32) -> usize {
        self.add_speaker(IpAddr::V4(address), nva_session(address, asn))
    }

    /// Speaker `i` announces `prefixes` with `attrs` (sent now, packed together, if its
    /// session is up; kept and sent when it comes up otherwise).
    pub fn announce(&mut self, i: usize, prefixes: &[IpNet], attrs: &[PathAttribute]) {
        let routes: Vec<(IpNet, Vec<PathAttribute>)> =
            prefixes.iter().map(|p| (*p, attrs.to_vec())).collect();
        let mut out = Vec::new();
        self.speakers[i]
            .engine
            .announce_routes(self.now, None, &routes, &mut out);
        self.speaker_actions(i, out);
        self.settle();
    }

    /// Speaker `i` re-sends `prefixes` exactly as announced before, in one burst.
    pub fn reannounce(&mut self, i: usize, prefixes: &[IpNet]) {
        let routes: Vec<(IpNet, Vec<PathAttribute>)> = prefixes
            .iter()
            .filter_map(|p| self.speakers[i].announced.get(p).map(|a| (*p, a.clone())))
            .collect();
        let mut out = Vec::new();
        self.speakers[i]
            .engine
            .announce_routes(self.now, None, &routes, &mut out);
        self.speaker_actions(i, out);
        self.settle();
    }

    /// Speaker `i` withdraws `prefixes` (a withdrawal goes out for each, announced
    /// before or not).
    pub fn withdraw(&mut self, i: usize, prefixes: &[IpNet]) {
        let mut out = Vec::new();
        self.speakers[i]
            .engine
            .withdraw_as_told(self.now, None, prefixes, true, &mut out);
        self.speaker_actions(i, out);
        self.settle();
    }

    /// Speaker `i` crashes silently: no more bytes either way, no timers, and what it
    /// had received is forgotten (its session object is left as it was); the route
    /// server notices only when its hold timer expires.
    pub fn crash(&mut self, i: usize) {
        self.speakers[i].engine.crash();
    }

    /// Speaker `i`'s TCP connection resets on both ends (it reconnects by itself).
    pub fn reset_connection(&mut self, i: usize) {
        let mut out = Vec::new();
        self.speakers[i].engine.reset(self.now, &mut out);
        self.speaker_actions(i, out);
        self.settle();
    }

    /// Raw bytes from speaker `i`'s address reach the route server as if its peer wrote
    /// them (malformed input); nothing happens while it has no connection up.
    pub fn inject(&mut self, i: usize, bytes: Vec<u8>) {
        let s = &self.speakers[i];
        if let (Some(conn), Some(_)) = (s.server_end, s.connection) {
            self.queue.push_back(Delivery::ToServer {
                speaker: i,
                conn,
                message: Message::Bytes(bytes),
            });
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

    /// Runs the lab until `until`, firing every timer due on the way (the route
    /// server's first, then the speakers' in order), then sets the clock to `until`.
    pub fn run_until(&mut self, until: Instant) {
        self.settle();
        loop {
            let server = self.server.poll_timeout();
            let speakers = self
                .speakers
                .iter()
                .filter_map(|s| s.engine.poll_timeout())
                .min();
            match [server, speakers].into_iter().flatten().min() {
                Some(at) if at <= until => {
                    self.now = self.now.max(at);
                    let now = self.now;
                    if self.server.poll_timeout().is_some_and(|t| t <= now) {
                        self.server.handle_timeout(now);
                        self.drain_server();
                    }
                    for i in 0..self.speakers.len() {
                        let mut out = Vec::new();
                        self.speakers[i].engine.timeout(now, &mut out);
                        self.speaker_actions(i, out);
                    }
                    self.settle();
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
        self.settle();
    }

    /// Drains what the route server output since the last call, then delivers everything
    /// in flight, in the order written, until nothing moves.
    ///
    /// # Panics
    ///
    /// When deliveries never stop (a livelock between the route server and a speaker).
    pub fn settle(&mut self) {
        // Tests also call the route server directly (commands, raw inputs): what it
        // output since goes first.
        self.drain_server();
        let mut deliveries = 0u64;
        while let Some(delivery) = self.queue.pop_front() {
            deliveries += 1;
            assert!(
                deliveries <= MAX_DELIVERIES,
                "the lab did not settle after {MAX_DELIVERIES} deliveries at {}",
                self.now
            );
            self.deliver(delivery);
        }
    }

    fn deliver(&mut self, delivery: Delivery) {
        let now = self.now;
        match delivery {
            Delivery::ToServer {
                speaker,
                conn,
                message,
            } => {
                let s = &mut self.speakers[speaker];
                match message {
                    Message::Offer => {
                        s.offered = Some(conn);
                        let from = s.address;
                        self.server
                            .handle_input(now, Input::ConnectionOffered { from });
                    }
                    Message::Bytes(bytes) => match (s.server_end, s.connection) {
                        (Some(end), Some(connection)) if end == conn => {
                            self.server.handle_input(
                                now,
                                Input::Received {
                                    connection,
                                    bytes: &bytes,
                                },
                            );
                        }
                        _ => return,
                    },
                    Message::Closed => {
                        if s.server_end != Some(conn) {
                            return;
                        }
                        s.server_end = None;
                        match s.connection.take() {
                            Some(connection) => {
                                self.server.handle_input(now, Input::Closed { connection })
                            }
                            None => return,
                        }
                    }
                    Message::Accepted | Message::Refused => return,
                }
                self.drain_server();
            }
            Delivery::ToSpeaker {
                speaker,
                conn,
                message,
            } => {
                let mut out = Vec::new();
                let engine = &mut self.speakers[speaker].engine;
                match message {
                    Message::Accepted => {
                        if !engine.accepted(now, 0, conn, &mut out) {
                            // The speaker gave up on that attempt (or died): the route
                            // server's end of it closes.
                            self.queue.push_back(Delivery::ToServer {
                                speaker,
                                conn,
                                message: Message::Closed,
                            });
                        }
                    }
                    Message::Refused => engine.refused(now, 0, conn, &mut out),
                    Message::Bytes(bytes) => engine.received(now, 0, conn, &bytes, &mut out),
                    Message::Closed => engine.closed(now, 0, conn, &mut out),
                    Message::Offer => {}
                }
                self.speaker_actions(speaker, out);
            }
        }
    }

    /// Queues `bytes` on a link, appended to the delivery last queued when it carries
    /// bytes the same way on the same connection (one write, one read).
    fn queue_bytes(&mut self, to_server: bool, speaker: usize, conn: u64, bytes: Vec<u8>) {
        let same = match self.queue.back_mut() {
            Some(Delivery::ToServer {
                speaker: s,
                conn: c,
                message: Message::Bytes(queued),
            }) if to_server && *s == speaker && *c == conn => Some(queued),
            Some(Delivery::ToSpeaker {
                speaker: s,
                conn: c,
                message: Message::Bytes(queued),
            }) if !to_server && *s == speaker && *c == conn => Some(queued),
            _ => None,
        };
        match same {
            Some(queued) => queued.extend_from_slice(&bytes),
            None => {
                let message = Message::Bytes(bytes);
                self.queue.push_back(if to_server {
                    Delivery::ToServer {
                        speaker,
                        conn,
                        message,
                    }
                } else {
                    Delivery::ToSpeaker {
                        speaker,
                        conn,
                        message,
                    }
                });
            }
        }
    }

    /// Carries out what speaker `i` asked for.
    fn speaker_actions(&mut self, i: usize, actions: Vec<SpeakerAction>) {
        for action in actions {
            match action {
                SpeakerAction::Connect { link } => {
                    let conn = self.next_conn;
                    self.next_conn += 1;
                    self.speakers[i].engine.links[link].attempt = Some(conn);
                    self.queue.push_back(Delivery::ToServer {
                        speaker: i,
                        conn,
                        message: Message::Offer,
                    });
                }
                SpeakerAction::Send { conn, bytes, .. } => self.queue_bytes(true, i, conn, bytes),
                SpeakerAction::Close { .. } => {
                    if let Some(conn) = self.speakers[i].server_end {
                        self.queue.push_back(Delivery::ToServer {
                            speaker: i,
                            conn,
                            message: Message::Closed,
                        });
                    }
                }
                SpeakerAction::Log(_) => {}
            }
        }
    }

    /// Drains the route server's outputs: what it asks of the network is queued, the
    /// rest recorded.
    fn drain_server(&mut self) {
        while let Some(output) = self.server.poll_output() {
            match output {
                Output::Transmit {
                    connection, bytes, ..
                } => {
                    self.messages_out += 1;
                    self.bytes_out += bytes.len();
                    let to = self
                        .speakers
                        .iter()
                        .position(|s| s.connection == Some(connection));
                    if let Some((i, Some(conn))) = to.map(|i| (i, self.speakers[i].server_end)) {
                        self.queue_bytes(false, i, conn, bytes);
                    }
                }
                // Lab speakers do not listen: the route server's own attempts fail.
                Output::Connect { connection, .. } => self
                    .server
                    .handle_input(self.now, Input::ConnectFailed { connection }),
                Output::Disconnect { connection, .. } => {
                    // What was written before the close (a NOTIFICATION) is queued
                    // before it, and arrives first.
                    if let Some((i, s)) = self
                        .speakers
                        .iter_mut()
                        .enumerate()
                        .find(|(_, s)| s.connection == Some(connection))
                    {
                        s.connection = None;
                        if let Some(conn) = s.server_end.take() {
                            self.queue.push_back(Delivery::ToSpeaker {
                                speaker: i,
                                conn,
                                message: Message::Closed,
                            });
                        }
                    }
                }
                Output::Accepted {
                    connection,
                    peer,
                    from,
                } => {
                    if let Some((i, s)) = self
                        .speakers
                        .iter_mut()
                        .enumerate()
                        .find(|(_, s)| s.address == from && s.offered.is_some())
                    {
                        let conn = s.offered.take().expect("found by it");
                        s.peer = Some(peer);
                        s.connection = Some(connection);
                        s.server_end = Some(conn);
                        self.queue.push_back(Delivery::ToSpeaker {
                            speaker: i,
                            conn,
                            message: Message::Accepted,
                        });
                    }
                }
                Output::Refused { from, .. } => {
                    if let Some((i, s)) = self
                        .speakers
                        .iter_mut()
                        .enumerate()
                        .find(|(_, s)| s.address == from && s.offered.is_some())
                    {
                        let conn = s.offered.take().expect("found by it");
                        self.queue.push_back(Delivery::ToSpeaker {
                            speaker: i,
                            conn,
                            message: Message::Refused,
                        });
                    }
                }
                Output::Program(changes) => {
                    self.fabric_changes += changes.len();
                    changes.apply_to(&mut self.fabric);
                }
                Output::Event(event) => self.events.push(event),
            }
        }
    }
}
