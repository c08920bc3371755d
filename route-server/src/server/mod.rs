//! The route server: sessions by peer, import, selection, programming, export.
//!
//! This module holds the driver's API (the inputs, outputs and events, `new`,
//! `handle_*`, `poll_*`) and the state; each stage of the pipeline is a module of its own,
//! adding methods to [`RouteServer`]:
//!
//! * [`sessions`]: peers configured and removed, connections, collisions, session events,
//!   a session's end, route refresh;
//! * [`import`]: UPDATEs through the import policy into the Rib, route limits;
//! * [`ranking`]: the pass over the prefixes a change touched (selection, then the fabric
//!   and the export of each), and the virtual-network changes that re-run it;
//! * [`fabric`]: the fabric changes of a pass, and the per-prefix state the passes keep
//!   (what is programmed, the selection memory);
//! * [`export`]: export policy per receiver, and packing into UPDATEs;
//! * [`readouts`]: the state as operators and tests see it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_fsm::{
    ConnectionOrigin, Input as SessionInput, Instant, Output as SessionOutput, PeerAsn, Session,
    SessionConfig, SessionEnd, SessionEvent, State, StopReason,
};
use bgp_wire::{
    Family, GracefulRestart, GracefulRestartFamily, MpNextHop, Nlri, RouteRefreshSubtype,
    SessionParams, Update, UpdatePacker,
};
use ipnet::IpNet;
use rib::{AttrHandle, PathSet, Ranking, Rib, RibConfig};

use crate::config::{
    Config, ConfigError, HubRoutingPreference, LimitCounting, PeerConfig, PeerKind, PeeredVnet,
};
use crate::policy::{self, Candidate, ExportSource, PeerId, Previous, RejectReason};
use crate::route::RouteAttrs;
use crate::store::{
    self, paths_unknown, AdjRibIn, AttrId, AttrPool, FoldState, OutChange, SetId, Touched,
};

mod export;
mod fabric;
mod import;
mod ranking;
mod readouts;
mod sessions;

use export::desired_export;
use export::Desired;
use export::ExportKey;
use export::PendingOut;
pub use fabric::Fabric;
pub use fabric::FabricChange;
pub use fabric::FabricChanges;
use fabric::PrefixStates;
pub use readouts::compare_instances;

/// The largest chunk of received bytes we recommend passing in one [`Input::Received`]:
/// 16 KiB (four full-size UPDATEs).
///
/// Any size works (messages may be split or joined anywhere), but one chunk is one pass:
/// its UPDATEs are decoded, imported and their touched prefixes listed (about 64 bytes a
/// route, twice) before selection and export run, so the pass's transient memory grows
/// with the chunk. 256 KiB of /24 announcements is about 64,000 routes and 8 MiB of
/// transients; 16 KiB is about 4,000 routes and half a MiB. Measured end to end
/// (`fabric-sim serve`, `tools/bench/e2e.sh`, one sender, one receiver): peak RSS at
/// 100,000 /24s 24 -> 15 MiB, at 1,000,000 102 -> 87 MiB, with the same CPU time (a
/// pass's fixed cost is small against 4,000 routes' work). Much larger chunks cost far
/// more: at a million routes, 8 MiB chunks cost about 180 MiB more than 256 KiB ones.
pub const RECOMMENDED_RECEIVE_CHUNK: usize = 16 * 1024;

/// One TCP connection, as the route server names it.
///
/// **The route server allocates every token; the driver echoes it.** A token is made for
/// each connection the server asks for ([`Output::Connect`]) and for each offered
/// connection it accepts ([`Output::Accepted`]); the driver passes it back with every
/// input about that connection and keys its sockets by it. Tokens are never reused, so an
/// input naming a connection that is no longer its peer's current one (late bytes, a late
/// close after a reconnect) is recognised and ignored: it never reaches the successor.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ConnectionId(u64);

impl ConnectionId {
    /// The token's number, for logs and maps (unique within one [`RouteServer`]).
    #[must_use]
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// An event from the network, for [`RouteServer::handle_input`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Input<'a> {
    /// A TCP connection arrived from `from`. Answered at once: the first output the call
    /// leaves is [`Output::Accepted`] (the connection now belongs to that peer, under a
    /// new [`ConnectionId`]) or [`Output::Refused`] (close it). A configured peer's
    /// connection is accepted in every state but Established; when the peer has another
    /// connection under way, the collision is resolved by RFC 4271 section 6.8.
    ConnectionOffered {
        /// The remote address.
        from: IpAddr,
    },
    /// The connection asked for by [`Output::Connect`] is up. If it is no longer wanted
    /// (the peer's own connection won meanwhile) it is answered with
    /// [`Output::Disconnect`] for the same token.
    Connected {
        /// The token of the [`Output::Connect`].
        connection: ConnectionId,
    },
    /// The connection asked for by [`Output::Connect`] could not be made.
    ConnectFailed {
        /// The token of the [`Output::Connect`].
        connection: ConnectionId,
    },
    /// Bytes read from a connection, split or joined anywhere (chunks of at most
    /// [`RECOMMENDED_RECEIVE_CHUNK`] keep peak memory low). Ignored when the connection
    /// is not current.
    Received {
        /// The connection.
        connection: ConnectionId,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// The connection closed or failed (read end-of-stream, reset, write error).
    Closed {
        /// The connection.
        connection: ConnectionId,
    },
    /// A write to the connection could not complete: the peer is not reading and the
    /// socket's send buffer is full. Starts RFC 9687's SendHoldTimer if it is not
    /// running; when no write progresses for the send hold time
    /// ([`PeerConfig::send_hold_time`]; by default the larger of 8 minutes and twice the
    /// hold time), the session is closed with NOTIFICATION 8 (Send Hold Timer Expired) and
    /// the peer's routes are withdrawn. A driver sends this whenever
    /// a write would block, and [`Input::TransmitProgress`] when bytes drain again;
    /// while blocked it keeps at most the bytes of the [`Output::Transmit`]s since.
    TransmitBlocked {
        /// The connection.
        connection: ConnectionId,
    },
    /// The connection accepted more bytes after [`Input::TransmitBlocked`]: stops the
    /// SendHoldTimer.
    TransmitProgress {
        /// The connection.
        connection: ConnectionId,
    },
}

/// What the route server asks of its driver, from [`RouteServer::poll_output`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Output {
    /// Write these bytes (one whole BGP message) to the connection.
    Transmit {
        /// The connection.
        connection: ConnectionId,
        /// The peer it belongs to.
        peer: PeerId,
        /// The message.
        bytes: Vec<u8>,
    },
    /// Open a TCP connection from `local` to `remote`:`port`; answer with exactly one
    /// [`Input::Connected`] or [`Input::ConnectFailed`] carrying `connection`, unless an
    /// [`Output::Disconnect`] for it comes first (then abandon the attempt).
    Connect {
        /// The token of the new connection.
        connection: ConnectionId,
        /// The peer.
        peer: PeerId,
        /// The peer's address.
        remote: IpAddr,
        /// The peer's port ([`PeerConfig::remote_port`], 179 by default).
        port: u16,
        /// The local address to bind ([`PeerConfig::local_address`], else the
        /// instance's own address of that family); `None`: let the system choose.
        local: Option<IpAddr>,
    },
    /// Close the connection after flushing what was written to it (a NOTIFICATION), or
    /// abandon it if it is still being opened.
    Disconnect {
        /// The connection.
        connection: ConnectionId,
        /// The peer it belonged to.
        peer: PeerId,
    },
    /// The connection offered from `from` is accepted for `peer` as `connection`.
    Accepted {
        /// The token of the connection from now on.
        connection: ConnectionId,
        /// The peer it belongs to.
        peer: PeerId,
        /// The remote address.
        from: IpAddr,
    },
    /// The connection offered from `from` is refused: close it.
    Refused {
        /// The remote address.
        from: IpAddr,
        /// Why.
        reason: RefuseReason,
    },
    /// Changes to program into the fabric: every prefix whose programming changed in one
    /// pass, in prefix order.
    Program(FabricChanges),
    /// Something happened.
    Event(Event),
}

/// Why an offered connection was refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum RefuseReason {
    /// No configured peer has that address.
    NotAPeer,
    /// The peer's session is Established (RFC 4271 section 6.8: a new connection
    /// colliding with an Established one is closed).
    AlreadyEstablished,
    /// The operator shut the peer down ([`RouteServer::shutdown_peer`]).
    AdministrativelyDown,
}

impl fmt::Display for RefuseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAPeer => "no configured peer has this address",
            Self::AlreadyEstablished => "the peer's session is already established",
            Self::AdministrativelyDown => "the peer is administratively shut down",
        })
    }
}

/// The most example prefixes an [`Event::RoutesRejected`] lists.
pub const REJECTED_EXAMPLES: usize = 8;

/// Something the operator (or a test) should know.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A session reached Established.
    PeerUp {
        /// The peer.
        peer: PeerId,
    },
    /// An established session ended; its routes are withdrawn (or kept stale through a
    /// graceful restart). `reason` carries the NOTIFICATION sent or received.
    PeerDown {
        /// The peer.
        peer: PeerId,
        /// Why, as the session saw it.
        reason: SessionEnd,
    },
    /// A peer went over its route limit; its session is torn down with Cease / Maximum
    /// Number of Prefixes Reached (6/1).
    RouteLimitExceeded {
        /// The peer.
        peer: PeerId,
        /// Routes counted, by the configured rule.
        counted: usize,
        /// The limit.
        limit: u32,
    },
    /// Received routes were not learned; the session stays up. One event per peer and
    /// reason for all the UPDATEs of one [`Input::Received`] (a peer reflecting a whole
    /// table back raises a handful of these, not one per prefix).
    RoutesRejected {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: RejectReason,
        /// How many routes (prefixes as received, duplicates included).
        count: usize,
        /// The first of them, at most [`REJECTED_EXAMPLES`].
        examples: Vec<IpNet>,
    },
    /// A connection's session ended before it was Established: the peer's OPEN was
    /// refused (wrong ASN 2/2, unacceptable hold time 2/6, ...), a NOTIFICATION came, the
    /// connection failed, or it lost a collision. `reason` carries the NOTIFICATION sent
    /// or received. (An Established session's end is [`Event::PeerDown`].)
    SessionEnded {
        /// The peer.
        peer: PeerId,
        /// The connection the session ran on, if it had one.
        connection: Option<ConnectionId>,
        /// The state it ended in.
        state: State,
        /// Why.
        reason: SessionEnd,
    },
    /// An offered connection was refused ([`Output::Refused`] told the driver).
    ConnectionRefused {
        /// The remote address.
        from: IpAddr,
        /// Why.
        reason: RefuseReason,
    },
    /// The peer sent a ROUTE-REFRESH: a request to re-send our routes of `family`
    /// (answered at once), or the BoRR / EoRR markers of its own refresh (RFC 7313).
    RouteRefreshReceived {
        /// The peer.
        peer: PeerId,
        /// The family.
        family: Family,
        /// Request, BoRR or EoRR.
        subtype: RouteRefreshSubtype,
    },
    /// A peer's enhanced route refresh ended (RFC 7313): the routes it held at its BoRR
    /// and did not re-send were withdrawn, at its EoRR or when
    /// [`Limits::refresh_stale_time`](crate::Limits::refresh_stale_time) ran out.
    RefreshSwept {
        /// The peer.
        peer: PeerId,
        /// The family refreshed.
        family: Family,
        /// Routes withdrawn.
        routes: usize,
        /// No EoRR came in time.
        timed_out: bool,
    },
    /// ROUTE-REFRESH sent to a peer after a virtual network change.
    RouteRefreshSent {
        /// The peer.
        peer: PeerId,
    },
    /// A peer without route refresh had its session reset after a virtual network change.
    SessionReset {
        /// The peer.
        peer: PeerId,
    },
    /// A peer whose session was Established connected again while it had announced
    /// graceful restart (RFC 4724): it restarted, so its old session ends (its routes
    /// kept stale, [`Event::RoutesKeptStale`]) and the new connection is accepted.
    /// Only with [`Extensions::graceful_restart_helper`](crate::Extensions).
    RestartDetected {
        /// The peer.
        peer: PeerId,
    },
    /// A restarting peer's routes are kept, stale, until it re-sends them.
    RoutesKeptStale {
        /// The peer.
        peer: PeerId,
        /// Routes kept.
        routes: usize,
    },
    /// Routes that should go to a peer but that no valid UPDATE can carry (for example an
    /// attribute set larger than the session's maximum message), so they were not sent.
    ExportRefused {
        /// The peer they were for.
        peer: PeerId,
        /// Their address family.
        family: Family,
        /// How many routes.
        routes: usize,
        /// Why no UPDATE could carry them.
        error: bgp_wire::EncodeError,
    },
    /// A configuration the route server accepts but warns about.
    Warning {
        /// What.
        text: String,
    },
}

/// Azure Monitor metrics of one peer (spec section 1.11).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PeerMetrics {
    /// `BgpPeerStatus`: 1 connected, 0 not.
    pub bgp_peer_status: u8,
    /// `CountOfRoutesLearnedFromPeer`.
    pub count_of_routes_learned_from_peer: usize,
    /// `CountOfRoutesAdvertisedToPeer`.
    pub count_of_routes_advertised_to_peer: usize,
}

/// One row of `az network routeserver peering list-learned-routes` or
/// `list-advertised-routes`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct RouteEntry {
    /// The instance's own address (`localAddress`).
    pub local_address: IpAddr,
    /// The prefix (`network`).
    pub network: IpNet,
    /// `nextHop`.
    pub next_hop: IpAddr,
    /// The peer the route came from (learned) or goes to (advertised) (`sourcePeer`).
    pub source_peer: IpAddr,
    /// `origin`: `EBgp`/`IBgp` for learned routes, the ORIGIN (`Igp`, `Egp`,
    /// `Incomplete`) for advertised ones.
    pub origin: &'static str,
    /// `asPath`, ASNs separated by spaces (AS_SETs in braces).
    pub as_path: String,
    /// `weight`: 32768 on learned routes, 0 on advertised ones.
    pub weight: u32,
}

/// A disagreement between what one NVA sends to the two instances.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Inconsistency {
    /// The NVA's address.
    pub peer: IpAddr,
    /// The prefix.
    pub prefix: IpNet,
    /// The route as the first instance learned it (`None`: not learned there).
    pub first: Option<RouteEntry>,
    /// The route as the second instance learned it.
    pub second: Option<RouteEntry>,
}

/// What the session negotiated that the route server needs.
#[derive(Clone, Debug)]
struct Established {
    send: SessionParams,
    receive: SessionParams,
    families: Vec<Family>,
    route_refresh: bool,
    enhanced_route_refresh: bool,
    graceful_restart: Option<GracefulRestart>,
}

/// A peer's enhanced route refresh under way (RFC 7313): the routes of `family` it held
/// at its BoRR and has not re-sent (announced or withdrawn) since.
#[derive(Clone, Debug)]
struct RefreshMark {
    family: Family,
    deadline: Instant,
    unrefreshed: HashSet<IpNet>,
}

#[derive(Clone, Debug)]
struct Peer {
    config: PeerConfig,
    /// The session that is (or will be) the peer's BGP session.
    session: Session,
    /// Tags the session's events: a session replaced meanwhile has another serial.
    serial: u64,
    /// Its connection: being opened (`connection_up` false) or up.
    connection: Option<ConnectionId>,
    connection_up: bool,
    /// Its state as its events told so far (the state a `Down` ends).
    state: State,
    /// The connection its last `CloseTcp` closed, for the `Down` that follows.
    closed: Option<ConnectionId>,
    /// A second connection, opened by the peer while our own connection to it was up
    /// but not Established: RFC 4271 section 6.8 decides which one stays.
    rival: Option<Rival>,
    /// Shut down by the operator: its connections are refused until started again.
    admin_down: bool,
    established: Option<Established>,
    rib_in: AdjRibIn,
    stale_deadline: Option<Instant>,
    /// Over the ExpressRoute prefix limit (warned once per crossing).
    over_prefix_limit: bool,
    /// The route-limit batch open for this peer.
    limit_batch: Option<LimitBatch>,
    /// The session is being torn down for its route limit: later UPDATEs are ignored.
    limit_hit: bool,
    /// Its enhanced route refreshes under way, one per family at most.
    refreshes: Vec<RefreshMark>,
}

/// The peer's own connection, opened while ours was up (a connection collision).
#[derive(Clone, Debug)]
struct Rival {
    connection: ConnectionId,
    session: Session,
    /// Whether the connection is still open (its session may have closed it).
    open: bool,
    state: State,
    /// Tags its events (see `Peer::serial`).
    serial: u64,
}

/// Which of a peer's sessions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Slot {
    Main,
    Rival,
}

/// A [`LimitCounting::HeldPlusBatch`] batch: UPDATEs from one peer counted together.
#[derive(Clone, Copy, Debug)]
struct LimitBatch {
    /// When its first UPDATE arrived.
    started: Instant,
    /// Routes held from the current session when it started.
    held: usize,
    /// Routes announced in it so far, duplicates included.
    announced: usize,
}

/// One Azure Route Server instance as a sans-IO state machine. See the [crate
/// documentation](crate) for the driving loop.
#[derive(Clone, Debug)]
pub struct RouteServer {
    /// The configuration, without its peers (they live in `peers`).
    config: Config,
    /// Every configured peer: its session, connection, limits and refreshes
    /// ([`sessions`]).
    peers: BTreeMap<PeerId, Peer>,
    /// The id the next configured peer gets.
    next_peer: u32,
    /// Every learned route (each peer's Adj-RIB-In), attributes interned.
    learned: Rib,
    /// The route server's peer behind each Rib peer, by `rib::PeerId::as_u32`.
    peer_of_rib_peer: Vec<Option<PeerId>>,
    /// Attribute sets of the Adj-RIBs-Out.
    export_pool: AttrPool,
    /// For each prefix failed over, the peers it failed over to: half the memory of
    /// Azure's non-reverting failover ([`policy::select`]).
    failover_peers: BTreeMap<IpNet, Vec<PeerId>>,
    /// Per prefix, the other half (the source kinds of its last selection), what is
    /// programmed into the fabric and what was sent to each peer (the Adj-RIBs-Out), as
    /// one interned state whose id is the prefix's tag in `learned`'s Loc-RIB, next-hop
    /// sets and sent sets interned ([`fabric`]).
    prefix_states: PrefixStates,
    /// Fabric changes of the pass under way, output as one [`Output::Program`].
    fabric_changes: FabricChanges,
    /// Rejected routes of the UPDATEs under way, output as [`Event::RoutesRejected`].
    rejected_pending: Vec<(PeerId, RejectReason, usize, Vec<IpNet>)>,
    /// A pass's per-prefix lists, kept empty between passes with their allocations: a
    /// small pass then allocates none of them, and a large one pushes onto plain `Vec`s
    /// (they hold one prefix's paths or receivers at a time, so they stay small).
    pass_lists: ranking::PassLists,
    /// What [`poll_output`](Self::poll_output) hands out next.
    outputs: VecDeque<Output>,
    /// Peers whose sessions have outputs to move into `outputs`.
    sessions_to_drain: BTreeSet<PeerId>,
    /// The next connection token.
    next_connection: u64,
    /// The next session serial.
    next_serial: u64,
    /// Outbound connections asked for and not yet answered, with their peer (so a late
    /// [`Input::Connected`] can be answered with [`Output::Disconnect`]).
    connecting: BTreeMap<ConnectionId, PeerId>,
    /// The latest time passed in.
    now: Instant,
}

impl RouteServer {
    /// A route server for `config`, its peers' sessions started at `now`.
    ///
    /// # Errors
    ///
    /// The configuration is refused ([`Config::validate`]): which peer, which field, why.
    pub fn new(config: Config, now: Instant) -> Result<Self, ConfigError> {
        config.validate()?;
        let peers = config.peers.clone();
        let mut server = Self {
            config: Config {
                peers: Vec::new(),
                ..config
            },
            peers: BTreeMap::new(),
            next_peer: 0,
            learned: Rib::new(RibConfig {
                hash_seed: config.rng_seed,
                // The server ranks with its own policy (`policy::select`).
                ranking: Ranking::Caller,
                ..RibConfig::default()
            }),
            peer_of_rib_peer: Vec::new(),
            export_pool: AttrPool::default(),
            failover_peers: BTreeMap::new(),
            prefix_states: PrefixStates::default(),
            fabric_changes: FabricChanges::default(),
            rejected_pending: Vec::new(),
            pass_lists: ranking::PassLists::default(),
            outputs: VecDeque::new(),
            sessions_to_drain: BTreeSet::new(),
            next_connection: 0,
            next_serial: 0,
            connecting: BTreeMap::new(),
            now,
        };
        if !server.config.extensions.ipv6_unicast {
            if let Some(v6) = server
                .config
                .protected_prefixes()
                .find(|p| p.addr().is_ipv6())
            {
                let text = format!(
                    "virtual network range {v6} is IPv6, which Azure Route Server does not carry"
                );
                server
                    .outputs
                    .push_back(Output::Event(Event::Warning { text }));
            }
        }
        for peer in peers {
            server.add_peer(now, peer)?;
        }
        Ok(server)
    }

    /// Feeds one network event. Afterwards drain [`poll_output`](Self::poll_output).
    /// Inputs naming a connection that is not (or no longer) a peer's are ignored, but for
    /// a late [`Input::Connected`], which is answered with [`Output::Disconnect`].
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        self.now = self.now.max(now);
        match input {
            Input::ConnectionOffered { from } => self.offer_connection(now, from),
            Input::Connected { connection } => self.connected(now, connection),
            Input::ConnectFailed { connection } | Input::Closed { connection } => {
                self.connecting.remove(&connection);
                self.connection_input(now, connection, SessionInput::TcpConnectionFails);
            }
            Input::Received { connection, bytes } => {
                self.connection_input(now, connection, SessionInput::Received(bytes));
            }
            Input::TransmitBlocked { connection } => {
                self.connection_input(now, connection, SessionInput::TransmitBlocked);
            }
            Input::TransmitProgress { connection } => {
                self.connection_input(now, connection, SessionInput::TransmitProgress);
            }
        }
        self.drain_all(now);
    }

    /// Fires the timers due at `now`: the sessions' (hold, keepalive, connect retry,
    /// idle hold) and the graceful restart deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        let mut dirty = BTreeSet::new();
        for id in ids {
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            peer.session.handle_timeout(now);
            if let Some(rival) = &mut peer.rival {
                rival.session.handle_timeout(now);
            }
            self.sessions_to_drain.insert(id);
            if peer.stale_deadline.is_some_and(|at| at <= now) {
                peer.stale_deadline = None;
                dirty.extend(peer.rib_in.sweep_stale(&mut self.learned));
            }
            let expired: Vec<Family> = peer
                .refreshes
                .iter()
                .filter(|r| r.deadline <= now)
                .map(|r| r.family)
                .collect();
            for family in expired {
                self.end_peer_refresh(now, id, family, true);
            }
        }
        self.drain_all(now);
        self.process(now, dirty, None);
        self.drain_all(now);
    }

    /// The next thing to do. Call until `None` after every `handle_*` and command.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.peers
            .values()
            .flat_map(|p| {
                [
                    p.session.poll_timeout(),
                    p.stale_deadline,
                    p.rival.as_ref().and_then(|r| r.session.poll_timeout()),
                    p.refreshes.iter().map(|r| r.deadline).min(),
                ]
            })
            .flatten()
            .min()
    }
}
