//! The `route_server_inputs` fuzz target's body, here so stable tests (proptest in
//! `tests/differential.rs`, fixed programs in `tests/fuzz_programs.rs`) run it too. The
//! fuzz target compiles this file and the reference model's into a crate of its own,
//! built without coverage instrumentation (the oracle is not the code under test), so
//! this file names only the crate root's public items and the `reference` module.
//!
//! [`route_server_inputs`] reads its bytes as a program run against a [`RouteServer`]
//! through its public driver API ([`Input`] / [`Output`], connection tokens) and its
//! peers: four NVAs, the ExpressRoute and the VPN gateway, or a smaller set the program's
//! first byte picks (two NVAs and both gateways, two NVAs and ExpressRoute, one NVA and
//! both gateways). The peers are lean scripted speakers, not `bgp_fsm` sessions: each
//! connects, sends its OPEN (the one a
//! `bgp_fsm` speaker with Azure's 180 s hold time sends) and its KEEPALIVE as RFC 4271's
//! handshake orders them, keeps the session alive with KEEPALIVEs every 60 s, packs its
//! table with `bgp_wire::UpdatePacker` as a real speaker does (an announcement of at most
//! four prefixes or a withdrawal of two goes out as the one UPDATE the packer would build,
//! built directly: the stable tests check the two are equal), and decodes every
//! message the server sends it with `bgp_wire` to keep what it holds. A peer whose
//! session ended reconnects after an idle hold of 5 s that doubles (up to 300 s) while
//! its sessions keep failing (RFC 4271 section 8.1.1's DampPeerOscillations, the
//! `bgp_fsm` defaults); a refused connection is tried again 10 s later.
//!
//! The peers announce, withdraw and re-send routes drawn from a small pool (own-ASN and
//! AS 0 paths, VNet ranges and subnets, supernets, NO_ADVERTISE, a shared load-balancer
//! next hop), sessions reset or are sent a malformed message and come back, time passes,
//! and the operator switches branch-to-branch and the hub routing preference, changes the
//! VNet ranges and the peered networks (every peer answers the server's ROUTE-REFRESH with
//! its whole table and End-of-RIB, which may break the route limit) and shuts peers down
//! and starts them. A limitation: the peers' OPEN offers Enhanced Route Refresh (as a
//! `bgp_fsm` speaker's does) but they answer a ROUTE-REFRESH without RFC 7313's BoRR and
//! EoRR, as the lab before them did; the model has no such markers.
//!
//! The same steps drive the [reference model](crate::reference), which knows nothing of
//! the server: the harness tells it what each peer sent (the UPDATEs of each
//! [`Input::Received`], read back from the encoder's own output, so the model sees the
//! server's reads exactly) and when sessions came up or went down (the server's
//! `PeerUp` / `PeerDown` events, checked against the peers' own view of their sessions);
//! the model predicts the rest. After every step the run checks that
//!
//! * the fabric the `Program` outputs built equals the server's view and the model's;
//! * every peer the model has up is Established on both ends, and the others are not
//!   (no handshake is left half done between steps);
//! * every such peer holds exactly what the model says it was sent (prefix, AS path,
//!   next hop, communities), and (checked at the end of the run) what the server says it
//!   advertised;
//! * each peer's learned-route count (Azure's `CountOfRoutesLearnedFromPeer`) is the
//!   model's;
//! * the route-limit teardowns are the model's, peer and count;
//! * the refused routes are the model's, per peer;
//! * nothing panics.
//!
//! And, as the peers decode what they are sent, that the server speaks BGP as RFC 4271
//! says: every message it sends decodes; its OPEN carries AS 65515, the 180 s hold time,
//! the instance's address as identifier (and 65515 in its 4-octet AS capability when it
//! offers one, which then sets the session's AS number width); it sends no
//! UPDATE before the session is Established, none malformed (RFC 7606 issues) and none
//! without ORIGIN, AS_PATH and NEXT_HOP; its KEEPALIVEs keep every session within the
//! hold time; it closes the connection right after every NOTIFICATION it sends (RFC 4271
//! section 6); and a message of an unknown type is answered with NOTIFICATION 1/3 whose
//! data is that type (RFC 4271 section 6.1).

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_fsm::{SessionConfig, State};
use bgp_wire::{
    AsPath, AttrValue, Capability, Community, Family, Message as Wire, Nlri, Origin, PathAttribute,
    RouteRefreshSubtype, SegmentType, SessionParams, Update, UpdatePacker,
};
use ipnet::{IpNet, Ipv4Net};

// Only the crate root's public names (and the model's module): the fuzz target compiles
// this file into its own crate (see fuzz/fuzz_targets/route_server_inputs.rs).
use crate::reference::{self, Message, Model, ModelConfig};
use crate::{
    Config, ConnectionId, Event, HubRoutingPreference, Input, Instant, LimitCounting, Output,
    PeerConfig, PeerId, PeerKind, PeeredVnet, RouteServer, AZURE_ASN, AZURE_HOLD_TIME_SECS,
};

struct Program<'a> {
    data: &'a [u8],
    /// Bytes read so far.
    read: usize,
}

impl Program<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (first, rest) = self.data.split_first()?;
        self.data = rest;
        self.read += 1;
        Some(*first)
    }
}

/// The prefixes routes are drawn from (address, length): VNet ranges and subnets,
/// supernets, the default route. Built from octets, not parsed: `pool` runs for every
/// prefix a program names.
const POOL: [([u8; 4], u8); 16] = [
    ([0, 0, 0, 0], 0),
    ([10, 0, 0, 0], 8),
    ([10, 1, 0, 0], 16),
    ([10, 1, 5, 0], 24),
    ([10, 2, 0, 0], 16),
    ([10, 250, 0, 0], 16),
    ([10, 250, 1, 0], 24),
    ([172, 16, 0, 0], 16),
    ([172, 16, 1, 0], 24),
    ([192, 168, 0, 0], 16),
    ([192, 168, 1, 0], 24),
    ([10, 11, 0, 0], 16),
    ([10, 11, 3, 0], 24),
    ([100, 64, 0, 0], 10),
    ([203, 0, 113, 0], 24),
    ([198, 51, 100, 0], 24),
];

fn pool(i: u8) -> IpNet {
    let (octets, length) = POOL[usize::from(i) % POOL.len()];
    IpNet::V4(Ipv4Net::new(octets.into(), length).expect("pool prefixes are valid"))
}

/// The VNet's own range, 10.1.0.0/16 (in the pool too).
fn vnet_range() -> IpNet {
    pool(2)
}

/// (last octet, ASN, kind): four NVAs, the ExpressRoute and the VPN gateway.
const SPEAKERS: [(u8, u32, PeerKind); 6] = [
    (4, 65001, PeerKind::Nva),
    (5, 65002, PeerKind::Nva),
    (6, 65003, PeerKind::Nva),
    (7, 65004, PeerKind::Nva),
    (68, 65515, PeerKind::ExpressRoute),
    (69, 65515, PeerKind::VpnGateway),
];

/// The peer sets a program chooses from (bits 6 and 7 of its first byte), as indices
/// into [`SPEAKERS`]: all six, or fewer. Every step costs less with fewer sessions (each
/// pass exports to, encodes for and is decoded by every established peer), and two NVAs
/// and a gateway already reach NVA-to-NVA exchange, ECMP, the preference between kinds
/// and branch-to-branch; the six cover wide ECMP and both gateways at once.
const PEER_SETS: [&[usize]; 4] = [&[0, 1, 2, 3, 4, 5], &[0, 1, 4, 5], &[0, 1, 4], &[0, 4, 5]];

fn address(speaker: usize) -> Ipv4Addr {
    let (last, _, kind) = SPEAKERS[speaker];
    if kind.is_gateway() {
        Ipv4Addr::new(10, 1, 0, last)
    } else {
        Ipv4Addr::new(10, 1, 2, last)
    }
}

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 4);
const ROUTE_LIMIT: u32 = 12;

/// What one run did, so tests can tell a program exercised something.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct RunSummary {
    /// Steps run.
    pub steps: usize,
    /// The most prefixes programmed at once.
    pub max_programmed: usize,
    /// Events of the route server, all kinds.
    pub events: usize,
    /// Route-limit teardowns.
    pub limit_teardowns: usize,
    /// Routes rejected on import.
    pub rejected: usize,
    /// Routes received by the speakers, summed over the steps.
    pub received: usize,
    /// Bytes of the program read (the rest was ignored).
    pub bytes_read: usize,
}

/// The most steps a program runs in the stable tests (one to four bytes each).
pub const MAX_STEPS: usize = 64;

/// The most steps a program runs in the fuzz target: libFuzzer pays for every execution
/// in proportion to the distinct code it touches, and its mutations of a long program
/// cost as much as the whole program; the long programs are the stable tests' (proptest
/// in `tests/differential.rs`, the fixed programs and seed corpus in
/// `tests/fuzz_programs.rs`, up to [`MAX_STEPS`]).
pub const FUZZ_TARGET_MAX_STEPS: usize = 16;

/// The most bytes one step reads: an announcement's operation, speaker, count, four
/// prefixes and attribute shape.
pub const MAX_STEP_BYTES: usize = 8;

/// The most bytes a fuzz-target program reads: the two setup bytes (flags, ECMP width)
/// and [`FUZZ_TARGET_MAX_STEPS`] steps of at most [`MAX_STEP_BYTES`]. libFuzzer's
/// `-max_len` for the target (`fuzz/fuzz_targets/route_server_inputs.options`, checked
/// equal by `tests/fuzz_programs.rs`): a longer input only adds bytes no step reads,
/// which libFuzzer would mutate, copy and hash for nothing.
pub const FUZZ_TARGET_MAX_LEN: usize = 2 + FUZZ_TARGET_MAX_STEPS * MAX_STEP_BYTES;

/// Runs `data` as a program of at most [`MAX_STEPS`] steps against a route server and
/// the reference model; panics when they disagree or an invariant breaks.
pub fn route_server_inputs(data: &[u8]) -> RunSummary {
    route_server_inputs_bounded(data, MAX_STEPS)
}

/// [`route_server_inputs`] with at most `max_steps` steps (the bytes after them are
/// ignored); every check runs as in the long programs, the end-of-run ones after the
/// last step run.
pub fn route_server_inputs_bounded(data: &[u8], max_steps: usize) -> RunSummary {
    run(data, max_steps, true)
}

/// The fuzz target's body: [`route_server_inputs_bounded`] with
/// [`FUZZ_TARGET_MAX_STEPS`], every check of the server kept, without the reference
/// model's self-check (a second model whose every pass covers every prefix, compared
/// with the first after every step: [`crate::reference::Model::with_full_passes`]),
/// which checks the model, not the server, and which the stable tests run.
pub fn route_server_inputs_fuzz_target(data: &[u8]) -> RunSummary {
    run(data, FUZZ_TARGET_MAX_STEPS, false)
}

/// Runs `data` as a program of at most `max_steps` steps; `self_check`: with the
/// reference model's self-check.
fn run(data: &[u8], max_steps: usize, self_check: bool) -> RunSummary {
    let mut program = Program { data, read: 0 };
    let flags = program.byte().unwrap_or(0);
    let width = usize::from(program.byte().unwrap_or(0) % 8) + 1;
    // A copy of a server with every session established, checked when it was built.
    let mut harness = Harness::established(Setup::from_flags(flags, width, self_check));
    let mut summary = RunSummary::default();
    for _ in 0..max_steps {
        let Some(op) = program.byte() else { break };
        let arg = program.byte().unwrap_or(0);
        let speaker = usize::from(arg) % harness.peers.len();
        match op % 12 {
            0..=3 => {
                let count = usize::from(program.byte().unwrap_or(1) % 4) + 1;
                let prefixes: Vec<IpNet> = (0..count)
                    .map(|_| pool(program.byte().unwrap_or(0)))
                    .collect();
                let attrs = attributes(&mut program, harness.set[speaker]);
                harness.announce(speaker, &prefixes, &attrs);
            }
            4 | 5 => {
                let prefixes: Vec<IpNet> =
                    (0..2).map(|_| pool(program.byte().unwrap_or(0))).collect();
                harness.withdraw(speaker, &prefixes);
            }
            6 => harness.reannounce(speaker),
            7 => harness.reset_connection(speaker),
            8 => harness.run_for(Duration::from_secs(u64::from(arg) * 4)),
            9 => {
                harness.operator(arg, speaker);
                harness.settle();
            }
            10 => harness.inject_unknown_type(speaker, 7 + arg % 249),
            _ => harness.run_for(Duration::from_secs(200)),
        }
        harness.check();
        summary.steps += 1;
        summary.max_programmed = summary.max_programmed.max(harness.fabric.len());
        summary.received += harness
            .peers
            .iter()
            .map(|p| p.received.len())
            .sum::<usize>();
    }
    harness.check_read_outs();
    summary.events = harness.events;
    summary.limit_teardowns = harness.limit_teardowns;
    summary.rejected = harness.rejected;
    summary.bytes_read = program.read;
    summary
}

/// The attributes `program` chooses for a route of `SPEAKERS[speaker]`.
fn attributes(program: &mut Program<'_>, speaker: usize) -> Vec<PathAttribute> {
    let shape = program.byte().unwrap_or(0);
    let own = SPEAKERS[speaker].1;
    let mut path = vec![own; usize::from(shape % 3) + 1];
    match (shape >> 2) % 8 {
        0 => path.push(65515),
        1 => path.push(0),
        2 => path.push(12076),
        _ => {}
    }
    if own == 65515 {
        // A gateway speaks iBGP: the path starts with the on-premises side.
        path.retain(|a| *a != 65515);
    }
    let next_hop = match (shape >> 5) % 4 {
        0 => Ipv4Addr::new(10, 1, 2, 100),
        _ => address(speaker),
    };
    let mut attrs = vec![
        PathAttribute::new(AttrValue::Origin(Origin::Igp)),
        PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence(path))),
        PathAttribute::new(AttrValue::NextHop(next_hop)),
    ];
    if shape & 0x80 != 0 {
        attrs.push(PathAttribute::new(AttrValue::Communities(vec![
            Community::NO_ADVERTISE,
        ])));
    } else if shape & 0x10 != 0 {
        attrs.push(PathAttribute::new(AttrValue::Communities(vec![
            Community::new(65001, 100),
        ])));
    }
    attrs
}

/// The model's view of a route a peer sends.
fn model_route(attrs: &[PathAttribute]) -> reference::Route {
    let mut route = reference::Route {
        as_path: Vec::new(),
        next_hop: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        communities: Vec::new(),
    };
    for a in attrs {
        match &a.value {
            AttrValue::AsPath(path) => {
                route.as_path = path.segments.iter().flat_map(|s| s.asns.clone()).collect();
            }
            AttrValue::NextHop(hop) => route.next_hop = IpAddr::V4(*hop),
            AttrValue::Communities(list) => route.communities = list.iter().map(|c| c.0).collect(),
            _ => {}
        }
    }
    route
}

/// The model's view of one UPDATE a peer sends.
fn model_messages(update: &Update, into: &mut Vec<Message>) {
    if update.end_of_rib().is_some() {
        into.push(Message::EndOfRib);
        return;
    }
    if !update.withdrawn.is_empty() {
        into.push(Message::Withdraw(
            update.withdrawn.iter().map(|n| n.prefix).collect(),
        ));
    }
    if !update.nlri.is_empty() {
        into.push(Message::Announce(
            update.nlri.iter().map(|n| n.prefix).collect(),
            model_route(&update.attributes),
        ));
    }
}

/// The UPDATEs a speaker sends for `routes` and `withdraw` in one burst: packed by
/// `UpdatePacker` (one attribute set per UPDATE, in the order the sets first appear);
/// sets no valid UPDATE can carry (AS 0 in the path, RFC 7607: the harness's peers
/// misbehave on purpose, and the packer refuses them) after the others, encoded as built.
fn pack(
    params: &SessionParams,
    routes: &[(IpNet, &[PathAttribute])],
    withdraw: &[IpNet],
) -> Vec<Update> {
    let mut packer = UpdatePacker::new(params.clone());
    for p in withdraw {
        packer.withdraw(Family::IPV4_UNICAST, Nlri::new(*p));
    }
    let mut groups: Vec<(&[PathAttribute], Vec<Nlri>)> = Vec::new();
    for (p, attrs) in routes {
        match groups.iter_mut().find(|(a, _)| *a == *attrs) {
            Some((_, list)) => list.push(Nlri::new(*p)),
            None => groups.push((attrs, vec![Nlri::new(*p)])),
        }
    }
    let mut malformed = Vec::new();
    for (attrs, nlri) in groups {
        if has_as_zero(attrs) {
            malformed.push(Update {
                attributes: attrs.to_vec(),
                nlri,
                ..Update::default()
            });
        } else {
            packer.announce(attrs, nlri);
        }
    }
    let packed = packer.finish_updates();
    assert!(
        packed.refused.is_empty(),
        "the packer refused routes the harness means to be valid: {:?}",
        packed.refused
    );
    let mut updates = packed.messages;
    updates.extend(malformed);
    updates
}

/// Whether `attrs` hold AS 0 in their AS path (RFC 7607: no valid UPDATE carries them).
fn has_as_zero(attrs: &[PathAttribute]) -> bool {
    attrs.iter().any(|a| {
        matches!(&a.value, AttrValue::AsPath(path)
            if path.segments.iter().any(|s| s.asns.contains(&0)))
    })
}

/// What a run's configuration depends on, in canonical form (the key of the prebuilt
/// harnesses).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Setup {
    branch_to_branch: bool,
    revertive: bool,
    /// 0 ExpressRoute, 1 VpnGateway, 2 ASPath.
    preference: u8,
    /// 0 held + batch, 1 held + message, 2 unique prefixes.
    counting: u8,
    width: usize,
    /// Index into `PEER_SETS`.
    peer_set: u8,
    /// With the reference model's self-check (`Harness::full_model`).
    self_check: bool,
}

impl Setup {
    fn from_flags(flags: u8, width: usize, self_check: bool) -> Self {
        Self {
            branch_to_branch: flags & 1 != 0,
            revertive: flags & 2 != 0,
            preference: match (flags >> 2) & 3 {
                1 => 1,
                2 => 2,
                _ => 0,
            },
            counting: ((flags >> 4) & 3).min(2),
            width,
            peer_set: flags >> 6,
            self_check,
        }
    }
}

thread_local! {
    /// Harnesses with every session established, one per setup, built once: a run starts
    /// from a copy, so a fuzzing execution pays for no OPEN exchange.
    static ESTABLISHED: std::cell::RefCell<std::collections::HashMap<Setup, Harness>> =
        std::cell::RefCell::default();
}

/// The hold time both ends propose (Azure's), and the keepalive interval a speaker
/// derives from it (a third, RFC 4271 section 10).
const HOLD_TIME: Duration = Duration::from_secs(AZURE_HOLD_TIME_SECS as u64);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(AZURE_HOLD_TIME_SECS as u64 / 3);
/// A peer tries a refused connection again after this (ConnectRetryTime).
const CONNECT_RETRY: Duration = Duration::from_secs(10);
/// IdleHoldTime after a session ends, doubled while sessions keep failing up to the cap,
/// back to the start once a session stayed up for the stable time (`bgp_fsm` defaults).
const IDLE_HOLD: Duration = Duration::from_secs(5);
const MAX_IDLE_HOLD: Duration = Duration::from_secs(300);
const STABLE_TIME: Duration = Duration::from_secs(300);
/// Bounds of the driving loops: far above what 64 steps can need.
const MAX_DELIVERIES: usize = 100_000;
const MAX_TIMER_ROUNDS: usize = 100_000;

/// A KEEPALIVE on the wire.
const KEEPALIVE: [u8; 19] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0, 19, 4,
];

/// Where a peer's session is, as the peer sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// No connection; it connects at `reconnect_at`.
    Down,
    /// Connected, our OPEN sent, waiting for the server's.
    OpenSent,
    /// Both OPENs seen, our KEEPALIVE sent, waiting for the server's.
    OpenConfirm,
    /// The session is up.
    Established,
}

/// A route a peer holds, as the server sent it.
#[derive(Clone, Debug)]
struct Held {
    as_path: AsPath,
    next_hop: IpAddr,
    communities: Vec<u32>,
}

/// One scripted BGP speaker.
#[derive(Clone, Debug)]
struct Peer {
    phase: Phase,
    /// The server's token for the peer's current connection.
    connection: Option<ConnectionId>,
    /// While down: when it connects again.
    reconnect_at: Instant,
    /// The idle hold the next session end waits.
    idle_hold: Duration,
    established_at: Instant,
    /// When its next KEEPALIVE is due (any message it sends restarts the interval).
    keepalive_due: Instant,
    /// When it last heard from the server.
    heard_at: Instant,
    /// What it announces, re-sent whenever the session comes up or a refresh is asked.
    announced: BTreeMap<IpNet, Vec<PathAttribute>>,
    /// What the server sent it.
    received: BTreeMap<IpNet, Held>,
    /// The last NOTIFICATION the server sent it: code, subcode, data.
    notification: Option<(u8, u8, Vec<u8>)>,
    /// The session's encoding, from both OPENs.
    params: SessionParams,
    /// The connection a NOTIFICATION just came on, until the server closes it.
    notified: Option<ConnectionId>,
}

impl Peer {
    fn new() -> Self {
        Self {
            phase: Phase::Down,
            connection: None,
            reconnect_at: Instant::ZERO,
            idle_hold: IDLE_HOLD,
            established_at: Instant::ZERO,
            keepalive_due: Instant::ZERO,
            heard_at: Instant::ZERO,
            announced: BTreeMap::new(),
            received: BTreeMap::new(),
            notification: None,
            params: SessionParams::default(),
            notified: None,
        }
    }

    /// The session ends on the peer's side: it forgets what it was sent and waits its
    /// idle hold before connecting again.
    fn session_ends(&mut self, now: Instant) {
        if self.phase == Phase::Established
            && now.saturating_duration_since(self.established_at) >= STABLE_TIME
        {
            self.idle_hold = IDLE_HOLD;
        }
        self.phase = Phase::Down;
        self.connection = None;
        self.received.clear();
        self.reconnect_at = now + self.idle_hold;
        self.idle_hold = (self.idle_hold * 2).min(MAX_IDLE_HOLD);
    }
}

/// Bytes a peer wrote, delivered to the server as one read.
#[derive(Clone, Debug)]
struct Chunk {
    peer: usize,
    connection: ConnectionId,
    bytes: Vec<u8>,
    /// The UPDATEs among them, as the model reads them (`None`: no UPDATE).
    updates: Option<Vec<Message>>,
}

/// The route server, its peers, the reference model, and what the model expects the
/// server to report.
#[derive(Clone)]
struct Harness {
    server: RouteServer,
    now: Instant,
    /// The program's peers, as indices into `SPEAKERS`; a peer's index below is its
    /// position here.
    set: &'static [usize],
    /// The server's id of each peer.
    ids: Vec<PeerId>,
    peers: Vec<Peer>,
    /// Bytes the peers wrote, not yet read by the server.
    outbox: VecDeque<Chunk>,
    /// The fabric as the server's `Program` outputs built it.
    fabric: BTreeMap<IpNet, Vec<IpAddr>>,
    model: Model,
    /// The self-check: a second reference model fed the same, whose every pass covers
    /// every prefix; it must predict what `model` predicts after every step.
    full_model: Option<Model>,
    /// Route-limit teardowns the model predicted and the server has not yet reported:
    /// (speaker, count).
    expected_limits: VecDeque<(usize, usize)>,
    /// Refused routes per speaker, predicted and reported, since the last check.
    refused: Vec<(usize, usize)>,
    /// Events seen, route-limit teardowns and rejected routes (for the summary).
    events: usize,
    limit_teardowns: usize,
    rejected: usize,
}

impl Harness {
    /// A copy of the prebuilt harness for `setup` (built on first use).
    fn established(setup: Setup) -> Self {
        ESTABLISHED.with(|built| {
            built
                .borrow_mut()
                .entry(setup)
                .or_insert_with(|| Self::new(setup))
                .clone()
        })
    }

    fn new(setup: Setup) -> Self {
        let width = setup.width;
        let mut config = Config::azure(LOCAL, vec![vnet_range()]);
        config.branch_to_branch = setup.branch_to_branch;
        config.extensions.revertive_preference = setup.revertive;
        let (counting, model_counting) = match setup.counting {
            0 => (
                LimitCounting::HeldPlusBatch,
                reference::Counting::HeldPlusBatch,
            ),
            1 => (
                LimitCounting::HeldPlusMessage,
                reference::Counting::HeldPlusMessage,
            ),
            _ => (
                LimitCounting::UniquePrefixes,
                reference::Counting::UniquePrefixes,
            ),
        };
        config.limits.counting = counting;
        config.limits.max_routes_per_peer = Some(ROUTE_LIMIT);
        config.limits.ecmp_width = width;
        let (preference, model_preference) = match setup.preference {
            1 => (
                HubRoutingPreference::VpnGateway,
                reference::Preference::VpnGateway,
            ),
            2 => (HubRoutingPreference::AsPath, reference::Preference::AsPath),
            _ => (
                HubRoutingPreference::ExpressRoute,
                reference::Preference::ExpressRoute,
            ),
        };
        config.hub_routing_preference = preference;
        let set = PEER_SETS[usize::from(setup.peer_set)];
        for &speaker in set {
            let (_, asn, kind) = &SPEAKERS[speaker];
            let mut peer = PeerConfig::nva(IpAddr::V4(address(speaker)), *asn);
            peer.kind = *kind;
            config.peers.push(peer);
        }
        let model_config = ModelConfig {
            local_asn: config.local_asn,
            local_address: LOCAL,
            vnet: config.vnet_prefixes.clone(),
            peered: Vec::new(),
            peers: set
                .iter()
                .map(|&speaker| match SPEAKERS[speaker].2 {
                    PeerKind::Nva => reference::Kind::Nva,
                    PeerKind::ExpressRoute => reference::Kind::ExpressRoute,
                    PeerKind::VpnGateway => reference::Kind::VpnGateway,
                })
                .collect(),
            branch_to_branch: config.branch_to_branch,
            preference: model_preference,
            revertive: config.extensions.revertive_preference,
            ecmp_width: width,
            route_limit: Some(ROUTE_LIMIT as usize),
            counting: model_counting,
            batch_window_ms: u64::try_from(config.limits.batch_window.as_millis())
                .expect("a window of less than 2^64 ms"),
        };
        let full_model = setup
            .self_check
            .then(|| Model::with_full_passes(model_config.clone()));
        let model = Model::new(model_config);
        let server = RouteServer::new(config, Instant::ZERO).expect("a valid configuration");
        let ids = set
            .iter()
            .map(|&speaker| {
                server
                    .peer_by_address(IpAddr::V4(address(speaker)))
                    .expect("every speaker is a configured peer")
            })
            .collect();
        let mut harness = Self {
            server,
            now: Instant::ZERO,
            set,
            ids,
            peers: vec![Peer::new(); set.len()],
            outbox: VecDeque::new(),
            fabric: BTreeMap::new(),
            model,
            full_model,
            expected_limits: VecDeque::new(),
            refused: vec![(0, 0); set.len()],
            events: 0,
            limit_teardowns: 0,
            rejected: 0,
        };
        // Every peer connects at time zero.
        harness.run_until(Instant::ZERO);
        for (i, peer) in harness.peers.iter().enumerate() {
            assert_eq!(peer.phase, Phase::Established, "speaker {i} came up");
        }
        harness.check();
        // The setup's history is checked; copies need not count it.
        harness.events = 0;
        harness
    }

    /// The reference model and its self-check's twin, to feed both alike.
    fn models(&mut self) -> impl Iterator<Item = &mut Model> {
        std::iter::once(&mut self.model).chain(self.full_model.as_mut())
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(
            self.now
                .saturating_duration_since(Instant::ZERO)
                .as_millis(),
        )
        .expect("runs shorter than 2^64 ms")
    }

    fn speaker_of(&self, peer: PeerId) -> usize {
        self.ids
            .iter()
            .position(|id| *id == peer)
            .expect("every peer is a speaker")
    }

    /// Speaker `i` announces `prefixes` with `attrs` (sent now if its session is up).
    fn announce(&mut self, i: usize, prefixes: &[IpNet], attrs: &[PathAttribute]) {
        for p in prefixes {
            self.peers[i].announced.insert(*p, attrs.to_vec());
        }
        let params = &self.peers[i].params;
        let mut update = Update::ipv4_announcement(
            attrs.iter().cloned(),
            prefixes.iter().map(|p| Nlri::new(*p)),
        );
        if !has_as_zero(attrs) {
            update.prepare_as4_attributes(params);
        }
        let updates = vec![update];
        if self.full_model.is_some() {
            let routes: Vec<(IpNet, &[PathAttribute])> =
                prefixes.iter().map(|p| (*p, attrs)).collect();
            assert_eq!(
                updates,
                pack(params, &routes, &[]),
                "self-check: an announcement built as one UPDATE vs packed"
            );
        }
        self.send_updates(i, updates);
        self.settle();
    }

    /// Speaker `i` withdraws `prefixes` (announced or not).
    fn withdraw(&mut self, i: usize, prefixes: &[IpNet]) {
        for p in prefixes {
            self.peers[i].announced.remove(p);
        }
        let updates = vec![Update::ipv4_withdrawal(
            prefixes.iter().map(|p| Nlri::new(*p)),
        )];
        if self.full_model.is_some() {
            assert_eq!(
                updates,
                pack(&self.peers[i].params, &[], prefixes),
                "self-check: a withdrawal built as one UPDATE vs packed"
            );
        }
        self.send_updates(i, updates);
        self.settle();
    }

    /// Speaker `i` re-sends its whole table in one burst.
    fn reannounce(&mut self, i: usize) {
        let updates = self.table(i);
        if !updates.is_empty() {
            self.send_updates(i, updates);
        }
        self.settle();
    }

    /// Speaker `i`'s table as it sends it.
    fn table(&self, i: usize) -> Vec<Update> {
        let routes: Vec<(IpNet, &[PathAttribute])> = self.peers[i]
            .announced
            .iter()
            .map(|(p, a)| (*p, a.as_slice()))
            .collect();
        pack(&self.peers[i].params, &routes, &[])
    }

    /// Queues `updates` from speaker `i` as one write, if its session is up.
    fn send_updates(&mut self, i: usize, updates: Vec<Update>) {
        let peer = &self.peers[i];
        let (Phase::Established, Some(connection)) = (peer.phase, peer.connection) else {
            return;
        };
        let mut bytes = Vec::new();
        let mut messages = Vec::with_capacity(updates.len());
        for update in updates {
            model_messages(&update, &mut messages);
            Wire::Update(update).emit(&mut bytes, &peer.params);
        }
        self.outbox.push_back(Chunk {
            peer: i,
            connection,
            bytes,
            updates: Some(messages),
        });
    }

    /// Queues speaker `i`'s whole table, then End-of-RIB, as two writes (what it sends
    /// when its session comes up and in answer to a ROUTE-REFRESH).
    fn send_table(&mut self, i: usize) {
        let table = self.table(i);
        if !table.is_empty() {
            self.send_updates(i, table);
        }
        self.send_updates(i, vec![Update::end_of_rib_marker(Family::IPV4_UNICAST)]);
    }

    /// Queues bytes of speaker `i` that carry no UPDATE.
    fn send_bytes(&mut self, i: usize, bytes: Vec<u8>) {
        if let Some(connection) = self.peers[i].connection {
            self.outbox.push_back(Chunk {
                peer: i,
                connection,
                bytes,
                updates: None,
            });
        }
    }

    /// Speaker `i`'s TCP connection resets on both ends.
    fn reset_connection(&mut self, i: usize) {
        if let Some(connection) = self.peers[i].connection {
            self.peers[i].session_ends(self.now);
            self.server
                .handle_input(self.now, Input::Closed { connection });
        }
        self.settle();
    }

    /// One whole message of an unknown type from speaker `i`, which must be answered
    /// with NOTIFICATION 1/3 carrying the type (RFC 4271 section 6.1) and the session's
    /// end. Whole messages only: a partial one would corrupt the peer's next message,
    /// which the model cannot know.
    fn inject_unknown_type(&mut self, i: usize, message_type: u8) {
        let Some(connection) = self.peers[i].connection else {
            return;
        };
        let mut bytes = KEEPALIVE.to_vec();
        bytes[18] = message_type;
        self.peers[i].notification = None;
        self.server.handle_input(
            self.now,
            Input::Received {
                connection,
                bytes: &bytes,
            },
        );
        self.settle();
        assert_eq!(
            self.peers[i].notification,
            Some((1, 3, vec![message_type])),
            "speaker {i}: the answer to a message of type {message_type}"
        );
        assert_eq!(
            self.peers[i].connection, None,
            "speaker {i}: still connected"
        );
    }

    /// The operator changes the configuration (`arg` says what; `speaker` for the peer
    /// commands), on the server and the model alike.
    fn operator(&mut self, arg: u8, speaker: usize) {
        let now = self.now;
        match arg % 5 {
            0 => {
                let on = arg & 4 != 0;
                self.server.set_branch_to_branch(now, on);
                self.models().for_each(|m| m.set_branch_to_branch(on));
            }
            1 => {
                let (preference, model) = match (arg >> 2) % 3 {
                    0 => (
                        HubRoutingPreference::ExpressRoute,
                        reference::Preference::ExpressRoute,
                    ),
                    1 => (
                        HubRoutingPreference::VpnGateway,
                        reference::Preference::VpnGateway,
                    ),
                    _ => (HubRoutingPreference::AsPath, reference::Preference::AsPath),
                };
                self.server.set_hub_routing_preference(now, preference);
                self.models().for_each(|m| m.set_preference(model));
            }
            2 => {
                let ranges = vec![pool(arg >> 2), vnet_range()];
                self.server.set_vnet_prefixes(now, ranges.clone());
                self.models().for_each(|m| m.set_vnet(ranges.clone()));
            }
            3 => {
                // A spoke peered with or without "use the remote route server".
                let range = pool(arg >> 3);
                let uses = arg & 0x80 != 0;
                let peered = vec![PeeredVnet {
                    prefixes: vec![range],
                    uses_remote_route_server: uses,
                }];
                self.server.set_peered_vnets(now, peered);
                self.models()
                    .for_each(|m| m.set_peered(vec![(range, uses)]));
            }
            _ => {
                let peer = self.ids[speaker];
                if arg & 4 != 0 {
                    self.server.shutdown_peer(now, peer, Some("fuzz"));
                } else {
                    self.server.start_peer(now, peer);
                }
            }
        }
    }

    /// Speaker `i` connects: the server answers the offer at once.
    fn connect(&mut self, i: usize) {
        let speaker = self.set[i];
        let from = IpAddr::V4(address(speaker));
        self.server
            .handle_input(self.now, Input::ConnectionOffered { from });
        match self.server.poll_output() {
            Some(Output::Accepted {
                connection,
                peer,
                from: accepted,
            }) => {
                assert_eq!(
                    (peer, accepted),
                    (self.ids[i], from),
                    "speaker {i} accepted"
                );
                let p = &mut self.peers[i];
                p.connection = Some(connection);
                p.phase = Phase::OpenSent;
                p.heard_at = self.now;
                // Its OPEN goes out as soon as the connection is up.
                let mut session =
                    SessionConfig::new(SPEAKERS[speaker].1, address(speaker), AZURE_ASN);
                session.hold_time = AZURE_HOLD_TIME_SECS;
                let open = Wire::Open(session.open()).to_bytes(&SessionParams::default());
                self.send_bytes(i, open);
            }
            Some(Output::Refused { from: refused, .. }) => {
                assert_eq!(refused, from, "speaker {i} refused");
                self.peers[i].reconnect_at = self.now + CONNECT_RETRY;
            }
            other => panic!("speaker {i}'s connection offered: answered first by {other:?}"),
        }
        self.drain();
    }

    /// Handles every output the server has.
    fn drain(&mut self) {
        while let Some(output) = self.server.poll_output() {
            self.output(output);
        }
        for (i, p) in self.peers.iter().enumerate() {
            // RFC 4271 section 6: the connection is closed right after a NOTIFICATION.
            assert_eq!(
                p.notified, None,
                "speaker {i}: sent a NOTIFICATION, its connection left open"
            );
        }
    }

    /// Delivers everything the peers wrote until nothing moves.
    fn settle(&mut self) {
        self.drain();
        for _ in 0..MAX_DELIVERIES {
            let Some(chunk) = self.outbox.pop_front() else {
                return;
            };
            let i = chunk.peer;
            // Bytes written on a connection since closed never arrive.
            if self.peers[i].connection != Some(chunk.connection) {
                continue;
            }
            if let Some(messages) = &chunk.updates {
                // The model reads first: the server's reports of this read are then
                // checked against its predictions as they come out.
                let now_ms = self.now_ms();
                let outcome = self.model.read(i, now_ms, messages);
                if let Some(full) = &mut self.full_model {
                    assert_eq!(
                        full.read(i, now_ms, messages),
                        outcome,
                        "self-check: the reference model's read, narrow vs full passes"
                    );
                }
                self.refused[i].0 += outcome.refused;
                if let Some(counted) = outcome.limit_exceeded {
                    self.expected_limits.push_back((i, counted));
                }
            }
            self.peers[i].keepalive_due = self.now + KEEPALIVE_INTERVAL;
            self.server.handle_input(
                self.now,
                Input::Received {
                    connection: chunk.connection,
                    bytes: &chunk.bytes,
                },
            );
            self.drain();
        }
        panic!("the peers and the server did not settle");
    }

    /// Runs for `duration` of virtual time.
    fn run_for(&mut self, duration: Duration) {
        let until = self.now + duration;
        self.run_until(until);
    }

    /// Runs until `until`, firing every timer of the server and the peers on the way.
    fn run_until(&mut self, until: Instant) {
        self.settle();
        for _ in 0..MAX_TIMER_ROUNDS {
            let mut next = self.server.poll_timeout();
            for p in &self.peers {
                let due = match p.phase {
                    Phase::Down => p.reconnect_at,
                    Phase::OpenSent => continue,
                    Phase::OpenConfirm => p.keepalive_due,
                    Phase::Established => p.keepalive_due.min(p.heard_at + HOLD_TIME),
                };
                next = Some(next.map_or(due, |n| n.min(due)));
            }
            let Some(at) = next.filter(|at| *at <= until) else {
                self.now = self.now.max(until);
                self.settle();
                return;
            };
            self.now = self.now.max(at);
            self.server.handle_timeout(self.now);
            self.drain();
            for i in 0..self.peers.len() {
                let p = &self.peers[i];
                match p.phase {
                    Phase::Down if p.reconnect_at <= self.now => self.connect(i),
                    Phase::OpenConfirm | Phase::Established => {
                        assert!(
                            p.phase != Phase::Established || self.now < p.heard_at + HOLD_TIME,
                            "speaker {i}: the server let the hold time expire"
                        );
                        if p.keepalive_due <= self.now {
                            self.peers[i].keepalive_due = self.now + KEEPALIVE_INTERVAL;
                            self.send_bytes(i, KEEPALIVE.to_vec());
                        }
                    }
                    _ => {}
                }
            }
            self.settle();
        }
        panic!("timers still firing after {MAX_TIMER_ROUNDS} rounds");
    }

    fn output(&mut self, output: Output) {
        match output {
            Output::Transmit {
                connection, bytes, ..
            } => {
                if let Some(i) = self
                    .peers
                    .iter()
                    .position(|p| p.connection == Some(connection))
                {
                    self.receive(i, &bytes);
                }
            }
            // The peers do not listen: the server's own attempts fail.
            Output::Connect { connection, .. } => self
                .server
                .handle_input(self.now, Input::ConnectFailed { connection }),
            Output::Disconnect { connection, .. } => {
                for p in &mut self.peers {
                    if p.notified == Some(connection) {
                        p.notified = None;
                    } else if p.connection == Some(connection) {
                        p.session_ends(self.now);
                    }
                }
            }
            Output::Accepted { .. } | Output::Refused { .. } => {
                panic!("{output:?} not as the first answer to an offer")
            }
            Output::Program(changes) => changes.apply_to(&mut self.fabric),
            Output::Event(event) => self.follow(event),
        }
    }

    /// Speaker `i` reads one message the server sent it.
    fn receive(&mut self, i: usize, bytes: &[u8]) {
        let message = Wire::parse(bytes, &self.peers[i].params)
            .unwrap_or_else(|e| panic!("speaker {i} cannot decode {bytes:02x?}: {e}"));
        let now = self.now;
        let p = &mut self.peers[i];
        p.heard_at = now;
        match (p.phase, message) {
            (Phase::OpenSent, Wire::Open(open)) => {
                assert_eq!(
                    (
                        open.version,
                        open.asn(),
                        open.hold_time,
                        open.bgp_identifier
                    ),
                    (4, AZURE_ASN, AZURE_HOLD_TIME_SECS, LOCAL),
                    "speaker {i}: the server's OPEN"
                );
                // Our OPEN offers 4-octet AS numbers: they are used when the server's
                // does too (RFC 6793 section 3), which must then name its ASN.
                p.params = SessionParams {
                    four_octet_as: open.capabilities().any(|c| {
                        matches!(c, Capability::FourOctetAs(asn) if {
                            assert_eq!(*asn, AZURE_ASN, "speaker {i}: the server's 4-octet ASN");
                            true
                        })
                    }),
                    ..SessionParams::default()
                };
                p.phase = Phase::OpenConfirm;
                self.send_bytes(i, KEEPALIVE.to_vec());
            }
            (Phase::OpenConfirm, Wire::Keepalive) => {
                p.phase = Phase::Established;
                p.established_at = now;
                self.send_table(i);
            }
            (Phase::Established, Wire::Keepalive) => {}
            (Phase::Established, Wire::Update(update)) => apply_received(i, p, &update),
            (Phase::Established, Wire::RouteRefresh(refresh))
                if refresh.subtype == RouteRefreshSubtype::Normal
                    && refresh.family == Family::IPV4_UNICAST =>
            {
                self.send_table(i);
            }
            (_, Wire::Notification(n)) => {
                p.notification = Some((n.code.0, n.subcode, n.data));
                p.notified = p.connection;
                p.session_ends(now);
            }
            (phase, message) => {
                panic!("speaker {i} in {phase:?} was sent {message:?}")
            }
        }
    }

    /// Follows one event of the server: sessions up and down, and the reports to
    /// compare with the model's predictions.
    fn follow(&mut self, event: Event) {
        self.events += 1;
        match event {
            Event::PeerUp { peer } => {
                let i = self.speaker_of(peer);
                self.models().for_each(|m| m.session_up(i));
            }
            Event::PeerDown { peer, .. } => {
                let i = self.speaker_of(peer);
                self.models().for_each(|m| m.session_down(i));
            }
            Event::RouteLimitExceeded { peer, counted, .. } => {
                let i = self.speaker_of(peer);
                self.limit_teardowns += 1;
                assert_eq!(
                    self.expected_limits.pop_front(),
                    Some((i, counted)),
                    "route-limit teardown of speaker {i} ({counted} counted) \
                     the model did not predict"
                );
            }
            Event::RoutesRejected { peer, count, .. } => {
                let i = self.speaker_of(peer);
                self.rejected += count;
                self.refused[i].1 += count;
            }
            _ => {}
        }
    }

    /// What the server says it advertised (`list-advertised-routes`) is what each
    /// established speaker holds (checked once, at the end of a run: it formats every
    /// path as text).
    fn check_read_outs(&self) {
        let server = &self.server;
        for (i, p) in self.peers.iter().enumerate() {
            if server.peer_state(self.ids[i]) != Some(State::Established) {
                continue;
            }
            let mut advertised = server.advertised_routes(self.ids[i]);
            advertised.sort_unstable_by_key(|r| r.network);
            // Compared in step, without building maps of strings.
            let same = advertised.len() == p.received.len()
                && advertised
                    .iter()
                    .zip(&p.received)
                    .all(|(r, (prefix, held))| {
                        r.network == *prefix
                            && r.next_hop == held.next_hop
                            && as_path_text_is(&r.as_path, &held.as_path)
                    });
            assert!(
                same,
                "speaker {i} holds other routes than the server says it advertised:\n\
                 holds {:?}\nserver {advertised:?}",
                p.received
            );
        }
    }

    /// The invariants of the module documentation.
    fn check(&mut self) {
        let (server, model) = (&self.server, &self.model);
        if let Some(full) = &self.full_model {
            assert!(
                model.same_predictions(full),
                "self-check: the reference model's narrow passes predict other than full passes"
            );
        }
        assert_eq!(
            &self.fabric,
            server.fabric(),
            "fabric outputs and the server's view differ"
        );
        assert_eq!(
            &self.fabric,
            model.programmed(),
            "the fabric is not what the reference model programs"
        );
        assert_eq!(
            self.expected_limits,
            VecDeque::new(),
            "route-limit teardowns predicted, not reported (speaker, count)"
        );
        for (i, (predicted, reported)) in self.refused.iter().enumerate() {
            assert_eq!(
                predicted, reported,
                "speaker {i}: refused routes, model vs server"
            );
        }
        for (i, p) in self.peers.iter().enumerate() {
            // The server answers an OPEN at once: a handshake never waits across steps.
            assert!(
                matches!(p.phase, Phase::Down | Phase::Established),
                "speaker {i}: handshake stuck in {:?}",
                p.phase
            );
            let established = server.peer_state(self.ids[i]) == Some(State::Established);
            assert_eq!(
                model.is_up(i),
                established,
                "speaker {i}: session up in the model vs the server"
            );
            if !established {
                continue;
            }
            assert_eq!(p.phase, Phase::Established, "speaker {i}'s end");
            // Compared in step, without building maps: this runs after every step.
            let sent = model.advertised(i);
            let same = p.received.len() == sent.len()
                && p.received.iter().zip(sent).all(|((p, a), (q, r))| {
                    p == q
                        && a.next_hop == r.next_hop
                        && a.as_path
                            .segments
                            .iter()
                            .flat_map(|s| &s.asns)
                            .eq(&r.as_path)
                        && a.communities == r.communities
                });
            assert!(
                same,
                "speaker {i} holds other routes than the reference model sent it:\n\
                 holds {:?}\nmodel {sent:?}",
                p.received
            );
            let learned = server
                .metrics(self.ids[i])
                .expect("configured")
                .count_of_routes_learned_from_peer;
            assert_eq!(
                learned,
                model.learned_count(i),
                "speaker {i}: routes learned, server vs model"
            );
        }
        for counts in &mut self.refused {
            *counts = (0, 0);
        }
    }
}

/// Whether `text` (a read-out's AS path: Azure's `AsPath`, the numbers in order, one
/// space between) is `path`, read without formatting it. The peers send AS_SEQUENCEs
/// only and the server prepends to them, so a path with a set is never expected.
fn as_path_text_is(text: &str, path: &AsPath) -> bool {
    let mut asns = path.segments.iter().flat_map(|s| {
        assert!(
            s.kind == SegmentType::AsSequence,
            "a set in a path sent: {path:?}"
        );
        &s.asns
    });
    // Each word a number in its canonical decimal form (no sign, no leading zero).
    let canonical = |word: &str| {
        word.bytes().all(|b| b.is_ascii_digit()) && (word == "0" || !word.starts_with('0'))
    };
    let same_words = text.is_empty()
        || text
            .split(' ')
            .all(|word| match (asns.next(), word.parse::<u32>()) {
                (Some(asn), Ok(read)) => canonical(word) && read == *asn,
                _ => false,
            });
    same_words && asns.next().is_none()
}

/// Speaker `i` applies an UPDATE the server sent it, checking it as a receiver must
/// (RFC 4271 section 6.3, RFC 7606): well formed, and ORIGIN, AS_PATH and NEXT_HOP
/// present when it announces.
fn apply_received(i: usize, peer: &mut Peer, update: &Update) {
    assert!(
        update.issues.is_empty(),
        "speaker {i} was sent a malformed UPDATE: {update:?}"
    );
    for n in &update.withdrawn {
        peer.received.remove(&n.prefix);
    }
    if update.nlri.is_empty() {
        return;
    }
    let (mut origin, mut as_path, mut next_hop, mut communities) = (false, None, None, Vec::new());
    for a in &update.attributes {
        match &a.value {
            AttrValue::Origin(_) => origin = true,
            AttrValue::AsPath(path) => as_path = Some(path),
            AttrValue::NextHop(hop) => next_hop = Some(IpAddr::V4(*hop)),
            AttrValue::Communities(list) => communities = list.iter().map(|c| c.0).collect(),
            _ => {}
        }
    }
    let (true, Some(as_path), Some(next_hop)) = (origin, as_path, next_hop) else {
        panic!("speaker {i} was sent an UPDATE without a mandatory attribute: {update:?}");
    };
    for n in &update.nlri {
        peer.received.insert(
            n.prefix,
            Held {
                as_path: as_path.clone(),
                next_hop,
                communities: communities.clone(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The read-out's AS path text is the numbers in order, one space between (Azure's
    /// `AsPath` column); anything else is not the path.
    #[test]
    fn as_path_text_is_reads_exactly_the_numbers_in_order() {
        let path = AsPath::from_sequence(vec![65515, 65001, 0]);
        assert!(as_path_text_is("65515 65001 0", &path));
        for other in [
            "65515 65001",
            "65515 65001 0 ",
            " 65515 65001 0",
            "65515  65001 0",
            "065515 65001 0",
            "+65515 65001 0",
            "65001 65515 0",
            "65515 65001 0 1",
            "",
        ] {
            assert!(!as_path_text_is(other, &path), "{other:?}");
        }
        let empty = AsPath::from_sequence(Vec::new());
        assert!(as_path_text_is("", &empty));
        assert!(!as_path_text_is("0", &empty));
    }
}
