//! The route server: sessions by peer, import, selection, programming, export.

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
use crate::fabric::{Fabric, FabricTable};
use crate::policy::{self, Candidate, ExportSource, KindSet, PeerId, Previous, RejectReason};
use crate::route::RouteAttrs;
use crate::store::{
    self, paths_unknown, AdjRibIn, AdjRibsOut, AttrId, AttrPool, FoldState, OutChange, PrefixMap,
    Touched,
};

/// The largest chunk of received bytes we recommend passing in one [`Input::Received`]:
/// 256 KiB. Any size works (messages may be split or joined anywhere), but the UPDATEs of
/// one chunk are decoded before they are imported, so peak memory grows with the chunk:
/// at a million routes, 8 MiB chunks cost about 180 MiB more than 256 KiB ones.
pub const RECOMMENDED_RECEIVE_CHUNK: usize = 256 * 1024;

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
    /// running; when no write progresses for the send hold time (the larger of 8 minutes
    /// and twice the hold time), the session is closed with NOTIFICATION 8 (Send Hold
    /// Timer Expired) and the peer's routes are withdrawn. A driver sends this whenever
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

/// One prefix's new programming in the fabric (the effective routes of the VMs this
/// instance serves), as [`FabricChanges::iter`] yields it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FabricChange<'a> {
    /// Program `prefix` toward these next hops (ECMP when several), replacing what was
    /// programmed for it.
    Set {
        /// The prefix.
        prefix: IpNet,
        /// Distinct next hops, lowest first; never empty.
        next_hops: &'a [IpAddr],
    },
    /// Remove what was programmed for `prefix`.
    Remove {
        /// The prefix.
        prefix: IpNet,
    },
}

/// A batch of fabric changes: what one pass over many prefixes changed, stored flat: one
/// byte string of changes (a removal of an IPv4 prefix takes 7 bytes) and one vector of
/// next hops, which consecutive changes toward the same next hops share.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct FabricChanges {
    /// Per change: the family (4 or 6), the prefix length, the address octets, the count
    /// of next hops (one octet, 0 removes; 255 is followed by the count in four octets),
    /// and for a [`FabricChange::Set`] where they start in `next_hops` (four octets).
    /// Integers are big-endian.
    changes: Vec<u8>,
    next_hops: Vec<IpAddr>,
    /// Where the next hops of the last set start (to share them with the next change).
    last_start: u32,
    len: usize,
}

impl FabricChanges {
    /// Prefixes changed.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing changed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The changes, in the order they were made (prefix order within a pass).
    pub fn iter(&self) -> impl Iterator<Item = FabricChange<'_>> + '_ {
        let mut rest = &self.changes[..];
        std::iter::from_fn(move || {
            let (change, after) = self.decode(rest)?;
            rest = after;
            Some(change)
        })
    }

    /// The change at the start of `bytes` and what follows it; `None` at the end (the
    /// bytes are only ever written by [`set`](Self::set) and [`remove`](Self::remove)).
    fn decode<'a>(&'a self, bytes: &'a [u8]) -> Option<(FabricChange<'a>, &'a [u8])> {
        let (&family, rest) = bytes.split_first()?;
        let (&length, rest) = rest.split_first()?;
        let (prefix, rest) = if family == 6 {
            let (octets, rest) = rest.split_first_chunk::<16>()?;
            let net = ipnet::Ipv6Net::new((*octets).into(), length).ok()?;
            (IpNet::V6(net), rest)
        } else {
            let (octets, rest) = rest.split_first_chunk::<4>()?;
            let net = ipnet::Ipv4Net::new((*octets).into(), length).ok()?;
            (IpNet::V4(net), rest)
        };
        let (&count, rest) = rest.split_first()?;
        let (count, rest) = match count {
            0 => return Some((FabricChange::Remove { prefix }, rest)),
            u8::MAX => {
                let (count, rest) = rest.split_first_chunk::<4>()?;
                (u32::from_be_bytes(*count) as usize, rest)
            }
            count => (usize::from(count), rest),
        };
        let (start, rest) = rest.split_first_chunk::<4>()?;
        let start = u32::from_be_bytes(*start) as usize;
        let next_hops = self.next_hops.get(start..start.checked_add(count)?)?;
        Some((FabricChange::Set { prefix, next_hops }, rest))
    }

    /// Applies the changes to a table of prefix to next hops (what
    /// [`RouteServer::fabric`] holds after them).
    pub fn apply_to(&self, fabric: &mut BTreeMap<IpNet, Vec<IpAddr>>) {
        for change in self.iter() {
            match change {
                FabricChange::Set { prefix, next_hops } => {
                    fabric.insert(prefix, next_hops.to_vec());
                }
                FabricChange::Remove { prefix } => {
                    fabric.remove(&prefix);
                }
            }
        }
    }

    fn push_prefix(&mut self, prefix: IpNet) {
        match prefix {
            IpNet::V4(net) => {
                self.changes.extend([4, net.prefix_len()]);
                self.changes.extend(net.addr().octets());
            }
            IpNet::V6(net) => {
                self.changes.extend([6, net.prefix_len()]);
                self.changes.extend(net.addr().octets());
            }
        }
        self.len += 1;
    }

    pub(crate) fn set(&mut self, prefix: IpNet, next_hops: &[IpAddr]) {
        let count = u32::try_from(next_hops.len()).expect("under 2^32 next hops per prefix");
        let last = self.next_hops.get(self.last_start as usize..);
        if last != Some(next_hops) || next_hops.is_empty() {
            self.last_start =
                u32::try_from(self.next_hops.len()).expect("under 2^32 next hops per pass");
            self.next_hops.extend_from_slice(next_hops);
        }
        self.push_prefix(prefix);
        match u8::try_from(count) {
            Ok(short) if short < u8::MAX => self.changes.push(short),
            _ => {
                self.changes.push(u8::MAX);
                self.changes.extend(count.to_be_bytes());
            }
        }
        self.changes.extend(self.last_start.to_be_bytes());
    }

    pub(crate) fn remove(&mut self, prefix: IpNet) {
        self.push_prefix(prefix);
        self.changes.push(0);
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
    config: Config,
    peers: BTreeMap<PeerId, Peer>,
    next_peer: u32,
    /// Every learned route (each peer's Adj-RIB-In), attributes interned.
    rib: Rib,
    /// The route server's peer behind each Rib peer, by `rib::PeerId::as_u32`.
    rib_peers: Vec<Option<PeerId>>,
    /// What was sent to each peer.
    rib_out: AdjRibsOut,
    /// Attribute sets of the Adj-RIBs-Out.
    pool: AttrPool,
    /// The source kinds of each prefix's last selection: half the memory of Azure's
    /// non-reverting failover ([`policy::select`]).
    loc: PrefixMap<KindSet>,
    /// The other half: for each prefix failed over, the peers it failed over to.
    failovers: BTreeMap<IpNet, Vec<PeerId>>,
    /// What is programmed into the fabric per prefix, next-hop sets interned.
    fabric: FabricTable,
    /// Fabric changes of the pass under way, output as one [`Output::Program`].
    fabric_out: FabricChanges,
    /// Rejected routes of the UPDATEs under way, output as [`Event::RoutesRejected`].
    rejected: Vec<(PeerId, RejectReason, usize, Vec<IpNet>)>,
    outputs: VecDeque<Output>,
    to_drain: BTreeSet<PeerId>,
    /// The next connection token.
    next_connection: u64,
    /// The next session serial.
    next_serial: u64,
    /// Outbound connections asked for and not yet answered, with their peer (so a late
    /// [`Input::Connected`] can be answered with [`Output::Disconnect`]).
    connecting: BTreeMap<ConnectionId, PeerId>,
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
            rib: Rib::new(RibConfig {
                hash_seed: config.rng_seed,
                // The server ranks with its own policy (`policy::select`).
                ranking: Ranking::Caller,
                ..RibConfig::default()
            }),
            rib_peers: Vec::new(),
            rib_out: AdjRibsOut::default(),
            pool: AttrPool::default(),
            loc: PrefixMap::default(),
            failovers: BTreeMap::new(),
            fabric: FabricTable::default(),
            fabric_out: FabricChanges::default(),
            rejected: Vec::new(),
            outputs: VecDeque::new(),
            to_drain: BTreeSet::new(),
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

    // ----- A. Inputs ------------------------------------------------------------------

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
            self.to_drain.insert(id);
            if peer.stale_deadline.is_some_and(|at| at <= now) {
                peer.stale_deadline = None;
                dirty.extend(peer.rib_in.sweep_stale(&mut self.rib));
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

    // ----- B. Commands ----------------------------------------------------------------

    /// Adds a peer and starts its session.
    ///
    /// # Errors
    ///
    /// The peer is refused: bad ASN, duplicate address, or one peer too many.
    pub fn add_peer(&mut self, now: Instant, peer: PeerConfig) -> Result<PeerId, ConfigError> {
        self.config.validate_peer(&peer)?;
        if self
            .peers
            .values()
            .any(|p| p.config.address == peer.address)
        {
            return Err(ConfigError::DuplicatePeer { peer: peer.address });
        }
        if let Some(map) = &peer.outbound_map {
            if map.rules.iter().any(|r| {
                matches!(&r.action, crate::RouteMapAction::Modify(m)
                    if m.iter().any(|m| matches!(m, crate::Modification::ReplacePrefix(_))))
            }) {
                return Err(ConfigError::RouteMap {
                    peer: peer.address,
                    field: "outbound_map",
                    source: crate::RouteMapError::SummaryOutbound,
                });
            }
        }
        let nvas = self
            .peers
            .values()
            .filter(|p| p.config.kind == PeerKind::Nva)
            .count();
        if peer.kind == PeerKind::Nva && nvas >= self.config.limits.max_peers {
            return Err(ConfigError::TooManyPeers {
                count: nvas + 1,
                max: self.config.limits.max_peers,
                first_refused: Some(peer.address),
            });
        }
        let id = PeerId(self.next_peer);
        self.next_peer += 1;
        let session_config = self.session_config(&peer, id);
        let mut session =
            Session::new(session_config, now).map_err(|source| ConfigError::Session {
                peer: peer.address,
                source,
            })?;
        let info = store::rib_peer_info(peer.address, peer.asn, self.config.local_asn);
        let rib_in = AdjRibIn::new(&mut self.rib, info).map_err(|_| ConfigError::TooManyPeers {
            count: self.peers.len() + 1,
            max: 1 << 16,
            first_refused: Some(peer.address),
        })?;
        let slot = rib_in.rib_peer().as_u32() as usize;
        if self.rib_peers.len() <= slot {
            self.rib_peers.resize(slot + 1, None);
        }
        self.rib_peers[slot] = Some(id);
        session.start(now);
        let serial = self.new_serial();
        self.config.peers.push(peer.clone());
        self.peers.insert(
            id,
            Peer {
                config: peer,
                session,
                serial,
                connection: None,
                connection_up: false,
                state: State::Idle,
                closed: None,
                rival: None,
                admin_down: false,
                established: None,
                rib_in,
                stale_deadline: None,
                over_prefix_limit: false,
                limit_batch: None,
                limit_hit: false,
                refreshes: Vec::new(),
            },
        );
        self.to_drain.insert(id);
        self.drain_all(now);
        Ok(id)
    }

    /// Removes a peer: Cease / Peer De-configured, its routes withdrawn.
    ///
    /// # Errors
    ///
    /// [`ConfigError::UnknownPeer`] when no such peer is configured.
    pub fn remove_peer(&mut self, now: Instant, peer: PeerId) -> Result<(), ConfigError> {
        let Some(p) = self.peers.get_mut(&peer) else {
            return Err(ConfigError::UnknownPeer { peer });
        };
        if let Some(rival) = &mut p.rival {
            rival.session.stop(now, StopReason::PeerDeconfigured);
        }
        p.session.stop(now, StopReason::PeerDeconfigured);
        self.drain_peer(now, peer);
        let Some(p) = self.peers.remove(&peer) else {
            return Ok(());
        };
        if let Some(slot) = self
            .rib_peers
            .get_mut(p.rib_in.rib_peer().as_u32() as usize)
        {
            *slot = None;
        }
        let dirty = p.rib_in.remove(&mut self.rib);
        self.rib_out.clear(&mut self.pool, peer);
        self.config.peers.retain(|c| c.address != p.config.address);
        self.process_sorted(now, dirty, None);
        self.drain_all(now);
        Ok(())
    }

    /// Shuts a peer's session down with Cease / Administrative Shutdown carrying
    /// `message` (RFC 9003); it stays down until [`start_peer`](Self::start_peer).
    pub fn shutdown_peer(&mut self, now: Instant, peer: PeerId, message: Option<&str>) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.admin_down = true;
            let reason = StopReason::AdministrativeShutdown(message.map(str::to_owned));
            if let Some(rival) = &mut p.rival {
                rival.session.stop(now, reason.clone());
            }
            p.session.stop(now, reason);
            self.to_drain.insert(peer);
        }
        self.drain_all(now);
    }

    /// Starts a peer's session again after [`shutdown_peer`](Self::shutdown_peer).
    pub fn start_peer(&mut self, now: Instant, peer: PeerId) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.admin_down = false;
            p.session.start(now);
            self.to_drain.insert(peer);
        }
        self.drain_all(now);
    }

    /// Replaces the virtual network's own ranges. Every established NVA is asked to
    /// re-send its routes (ROUTE-REFRESH), or has its session reset when it does not
    /// support route refresh, as Azure does; the gateways are left alone.
    pub fn set_vnet_prefixes(&mut self, now: Instant, prefixes: Vec<IpNet>) {
        let mut dirty: BTreeSet<IpNet> = self.config.vnet_prefixes.iter().copied().collect();
        dirty.extend(prefixes.iter().copied());
        self.config.vnet_prefixes = prefixes;
        self.vnet_changed(now, dirty);
    }

    /// Replaces the peered virtual networks (with their use-remote-route-server setting);
    /// refreshes or resets every established NVA like
    /// [`set_vnet_prefixes`](Self::set_vnet_prefixes).
    pub fn set_peered_vnets(&mut self, now: Instant, peered: Vec<PeeredVnet>) {
        let mut dirty: BTreeSet<IpNet> = self
            .config
            .peered_vnets
            .iter()
            .flat_map(|v| v.prefixes.iter().copied())
            .collect();
        dirty.extend(peered.iter().flat_map(|v| v.prefixes.iter().copied()));
        self.config.peered_vnets = peered;
        self.vnet_changed(now, dirty);
    }

    /// Switches branch-to-branch (`allowBranchToBranchTraffic`).
    pub fn set_branch_to_branch(&mut self, now: Instant, on: bool) {
        self.config.branch_to_branch = on;
        let all = self.all_prefixes();
        self.process(now, all, None);
        self.drain_all(now);
    }

    /// Changes the hub routing preference. A new preference is a fresh ranking: every
    /// prefix is ranked under it as if no failover had happened (failovers under the old
    /// preference are forgotten; see [`policy::select`] for why). Setting the preference
    /// in force changes nothing.
    pub fn set_hub_routing_preference(&mut self, now: Instant, preference: HubRoutingPreference) {
        if self.config.hub_routing_preference == preference {
            return;
        }
        self.config.hub_routing_preference = preference;
        self.failovers.clear();
        let all = self.all_prefixes();
        self.process(now, all, None);
        self.drain_all(now);
    }

    // ----- C. Outputs -----------------------------------------------------------------

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

    // ----- D. Read-outs ---------------------------------------------------------------

    /// The configuration in force (peers included).
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The peer with this address.
    #[must_use]
    pub fn peer_by_address(&self, address: IpAddr) -> Option<PeerId> {
        self.peers
            .iter()
            .find(|(_, p)| p.config.address == address)
            .map(|(id, _)| *id)
    }

    /// The configuration of a peer.
    #[must_use]
    pub fn peer_config(&self, peer: PeerId) -> Option<&PeerConfig> {
        self.peers.get(&peer).map(|p| &p.config)
    }

    /// The peer a connection belongs to, while it is one of its current connections.
    #[must_use]
    pub fn connection_peer(&self, connection: ConnectionId) -> Option<PeerId> {
        self.find_connection(connection).map(|(id, _)| id)
    }

    /// Configured peers, in id order.
    pub fn peers(&self) -> impl Iterator<Item = (PeerId, &PeerConfig)> {
        self.peers.iter().map(|(id, p)| (*id, &p.config))
    }

    /// The session state of a peer.
    #[must_use]
    pub fn peer_state(&self, peer: PeerId) -> Option<State> {
        self.peers.get(&peer).map(|p| p.session.state())
    }

    /// What is programmed into the fabric: prefix to next hops, as the [`Output::Program`]
    /// changes so far built it.
    #[must_use]
    pub fn fabric(&self) -> Fabric<'_> {
        Fabric::new(&self.fabric)
    }

    /// Azure's metrics for a peer.
    #[must_use]
    pub fn metrics(&self, peer: PeerId) -> Option<PeerMetrics> {
        self.peers.get(&peer).map(|p| PeerMetrics {
            bgp_peer_status: u8::from(p.established.is_some()),
            count_of_routes_learned_from_peer: p.rib_in.len(&self.rib),
            count_of_routes_advertised_to_peer: self.rib_out.len(peer),
        })
    }

    /// The routes learned from a peer (`list-learned-routes`).
    #[must_use]
    pub fn learned_routes(&self, peer: PeerId) -> Vec<RouteEntry> {
        let Some(p) = self.peers.get(&peer) else {
            return Vec::new();
        };
        let origin = if p.config.asn == self.config.local_asn {
            "IBgp"
        } else {
            "EBgp"
        };
        p.rib_in
            .iter(&self.rib)
            .into_iter()
            .filter_map(|(prefix, handle)| {
                let attrs = store::decode(self.rib.attrs(handle)?)?;
                Some(RouteEntry {
                    local_address: IpAddr::V4(self.config.local_address),
                    network: prefix,
                    next_hop: attrs.next_hop,
                    source_peer: p.config.address,
                    origin,
                    as_path: as_path_text(&attrs.as_path),
                    weight: 32768,
                })
            })
            .collect()
    }

    /// The routes advertised to a peer (`list-advertised-routes`).
    #[must_use]
    pub fn advertised_routes(&self, peer: PeerId) -> Vec<RouteEntry> {
        let Some(p) = self.peers.get(&peer) else {
            return Vec::new();
        };
        self.rib_out
            .iter(peer)
            .map(|(prefix, id)| {
                let attrs = self.pool.get(id);
                RouteEntry {
                    local_address: IpAddr::V4(self.config.local_address),
                    network: prefix,
                    next_hop: attrs.next_hop,
                    source_peer: p.config.address,
                    origin: match attrs.origin {
                        bgp_wire::Origin::Igp => "Igp",
                        bgp_wire::Origin::Egp => "Egp",
                        bgp_wire::Origin::Incomplete => "Incomplete",
                    },
                    as_path: as_path_text(&attrs.as_path),
                    weight: 0,
                }
            })
            .collect()
    }

    /// Every peer's learned paths, by prefix: what the Adj-RIBs-In hold after import
    /// policy (peer, kind, attributes), for checks and tests.
    #[must_use]
    pub fn adj_ribs_in(&self) -> BTreeMap<IpNet, Vec<(PeerId, PeerKind, RouteAttrs)>> {
        let mut out: BTreeMap<IpNet, Vec<(PeerId, PeerKind, RouteAttrs)>> = BTreeMap::new();
        for (id, p) in &self.peers {
            for (prefix, handle) in p.rib_in.iter(&self.rib) {
                let Some(attrs) = self.rib.attrs(handle).and_then(store::decode) else {
                    continue;
                };
                out.entry(prefix)
                    .or_default()
                    .push((*id, p.config.kind, attrs));
            }
        }
        out
    }

    /// The peers `prefix` failed over to, while it is failed over (Azure's non-reverting
    /// failover, [`policy::select`]); `None` when it is not.
    #[must_use]
    pub fn failed_over_to(&self, prefix: IpNet) -> Option<&[PeerId]> {
        self.failovers.get(&prefix).map(Vec::as_slice)
    }

    /// Interned attribute sets alive (memory diagnostics): the Rib's sets of learned
    /// routes (including those freed at its next mutation) plus the advertised ones.
    #[must_use]
    pub fn attribute_sets(&self) -> usize {
        self.rib.attr_set_count() + self.pool.len()
    }

    /// The seed of the Rib's hashing ([`Config::rng_seed`]), for diagnostics: a run is
    /// reproducible from its configuration.
    #[must_use]
    pub fn rib_hash_seed(&self) -> u64 {
        self.rib.config().hash_seed
    }

    /// Heap bytes of the learned routes ([`rib::Rib::memory_usage`]; memory diagnostics).
    #[must_use]
    pub fn rib_memory(&self) -> rib::MemoryUsage {
        self.rib.memory_usage()
    }

    // ----- internals ------------------------------------------------------------------

    fn session_config(&self, peer: &PeerConfig, id: PeerId) -> SessionConfig {
        let mut s = SessionConfig::new(
            self.config.local_asn,
            self.config.router_id,
            PeerAsn::Is(peer.asn),
        );
        s.hold_time = self.config.hold_time_secs;
        s.passive = peer.passive;
        s.listen_only = peer.passive;
        s.connect_retry_time = peer.connect_retry_time;
        s.idle_hold_time = peer.idle_hold_time;
        s.max_idle_hold_time = crate::config::DEFAULT_MAX_IDLE_HOLD_TIME.max(peer.idle_hold_time);
        s.rng_seed = self.config.rng_seed ^ u64::from(id.0).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // Azure supports 2-octet ASNs only; the capability (RFC 6793) is offered when the
        // 4-octet extension is on. Without it a peer's 4-octet ASNs still pass through
        // AS4_PATH, which RFC 6793 has every speaker merge.
        s.capabilities.four_octet_as = self.config.extensions.four_octet_asn;
        s.capabilities.families = vec![Family::IPV4_UNICAST];
        if self.config.extensions.ipv6_unicast {
            s.capabilities.families.push(Family::IPV6_UNICAST);
        }
        if self.config.extensions.graceful_restart_helper {
            s.capabilities.graceful_restart = Some(GracefulRestart {
                flags: 0,
                restart_time: 120,
                families: s
                    .capabilities
                    .families
                    .iter()
                    .map(|f| GracefulRestartFamily {
                        family: *f,
                        flags: 0,
                    })
                    .collect(),
            });
        }
        s
    }

    fn offer_connection(&mut self, now: Instant, from: IpAddr) {
        let Some(id) = self.peer_by_address(from) else {
            self.refuse(from, RefuseReason::NotAPeer);
            return;
        };
        let Some(p) = self.peers.get(&id) else {
            return;
        };
        let refused = if p.admin_down {
            Some(RefuseReason::AdministrativelyDown)
        } else if p.session.state() == State::Established {
            Some(RefuseReason::AlreadyEstablished)
        } else {
            None
        };
        if let Some(reason) = refused {
            self.refuse(from, reason);
            return;
        }
        let origin = p.session.connection_origin();
        let (current, up) = (p.connection, p.connection_up);
        let connection = self.new_connection_id();
        self.outputs.push_back(Output::Accepted {
            connection,
            peer: id,
            from,
        });
        match (current, up, origin) {
            (Some(_), true, Some(ConnectionOrigin::Local)) => {
                // Our connection is up but not Established: a collision. The peer's
                // connection runs its own session; RFC 4271 section 6.8 decides at the
                // first OPEN. An older connection of the peer's is superseded.
                let serial = self.new_serial();
                let Some(config) = self
                    .peers
                    .get(&id)
                    .map(|p| self.session_config(&p.config, id))
                else {
                    return;
                };
                let mut session = Session::new(config, now)
                    .expect("the peer's first session was built from the same settings");
                if let Some(old) = self.peers.get_mut(&id).and_then(|p| p.rival.as_mut()) {
                    old.session
                        .handle_input(now, SessionInput::OpenCollisionDump);
                    self.drain_peer(now, id);
                }
                session.handle_input(now, SessionInput::ManualStartWithPassiveTcpEstablishment);
                session.handle_input(now, SessionInput::TcpConnectionValid);
                session.handle_input(now, SessionInput::TcpConnectionConfirmed);
                if let Some(p) = self.peers.get_mut(&id) {
                    p.rival = Some(Rival {
                        connection,
                        session,
                        open: true,
                        state: State::Active,
                        serial,
                    });
                }
                self.to_drain.insert(id);
                return;
            }
            (Some(_), true, _) => {
                // The peer opened a new connection while its previous one was still
                // being set up: it gave that one up (a restart); the newer one stays.
                if let Some(p) = self.peers.get_mut(&id) {
                    p.session.handle_input(now, SessionInput::OpenCollisionDump);
                }
                self.drain_peer(now, id);
            }
            (Some(pending), false, _) => {
                // Our own attempt is still under way: the peer's connection is up
                // already, so ours is abandoned.
                self.connecting.insert(pending, id);
                self.outputs.push_back(Output::Disconnect {
                    connection: pending,
                    peer: id,
                });
            }
            (None, _, _) => {}
        }
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        if p.session.state() == State::Idle {
            // Idle after a failure (or a route-limit teardown): the back-off only delays
            // our own attempts; the peer's connection is taken at once.
            p.session
                .handle_input(now, SessionInput::ManualStartWithPassiveTcpEstablishment);
        }
        p.connection = Some(connection);
        p.connection_up = true;
        p.closed = None;
        p.session
            .handle_input(now, SessionInput::TcpConnectionValid);
        p.session
            .handle_input(now, SessionInput::TcpConnectionConfirmed);
        self.to_drain.insert(id);
    }

    /// Answers an offered connection with a refusal, and tells the operator.
    fn refuse(&mut self, from: IpAddr, reason: RefuseReason) {
        self.outputs.push_back(Output::Refused { from, reason });
        self.outputs
            .push_back(Output::Event(Event::ConnectionRefused { from, reason }));
    }

    fn new_connection_id(&mut self) -> ConnectionId {
        let id = ConnectionId(self.next_connection);
        self.next_connection += 1;
        id
    }

    fn new_serial(&mut self) -> u64 {
        let serial = self.next_serial;
        self.next_serial += 1;
        serial
    }

    /// The peer and session a connection belongs to, while it is current.
    fn find_connection(&self, connection: ConnectionId) -> Option<(PeerId, Slot)> {
        self.peers.iter().find_map(|(id, p)| {
            if p.connection == Some(connection) {
                Some((*id, Slot::Main))
            } else if p
                .rival
                .as_ref()
                .is_some_and(|r| r.open && r.connection == connection)
            {
                Some((*id, Slot::Rival))
            } else {
                None
            }
        })
    }

    /// An outbound connection is up; a late one (no longer wanted) is closed.
    fn connected(&mut self, now: Instant, connection: ConnectionId) {
        let owner = self.connecting.remove(&connection);
        if let Some((id, Slot::Main)) = self.find_connection(connection) {
            if let Some(p) = self.peers.get_mut(&id) {
                if !p.connection_up {
                    p.connection_up = true;
                    p.session.handle_input(now, SessionInput::TcpCrAcked);
                    self.to_drain.insert(id);
                    return;
                }
            }
        }
        if let Some(peer) = owner {
            self.outputs
                .push_back(Output::Disconnect { connection, peer });
        }
    }

    /// Passes an input about one connection to the session running on it, if any.
    fn connection_input(
        &mut self,
        now: Instant,
        connection: ConnectionId,
        input: SessionInput<'_>,
    ) {
        let Some((id, slot)) = self.find_connection(connection) else {
            return;
        };
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        let fails = matches!(input, SessionInput::TcpConnectionFails);
        match slot {
            Slot::Main => {
                if fails {
                    p.connection = None;
                    p.connection_up = false;
                    p.closed = Some(connection);
                } else if !p.connection_up {
                    return;
                }
                p.session.handle_input(now, input);
            }
            Slot::Rival => {
                let Some(rival) = p.rival.as_mut() else {
                    return;
                };
                if fails {
                    rival.open = false;
                }
                rival.session.handle_input(now, input);
            }
        }
        self.to_drain.insert(id);
    }

    fn drain_all(&mut self, now: Instant) {
        while let Some(id) = self.to_drain.pop_first() {
            self.drain_peer(now, id);
        }
    }

    /// Moves a peer's sessions' outputs out and acts on their events, until they are
    /// quiet. Events are tagged with their session's serial, so events of a session
    /// discarded meanwhile (a collision's loser) are dropped.
    fn drain_peer(&mut self, now: Instant, id: PeerId) {
        loop {
            let mut events: Vec<(u64, SessionEvent)> = Vec::new();
            {
                let Some(peer) = self.peers.get_mut(&id) else {
                    return;
                };
                while let Some(out) = peer.session.poll_output() {
                    match out {
                        SessionOutput::Transmit(bytes) => {
                            if let (Some(connection), true) = (peer.connection, peer.connection_up)
                            {
                                self.outputs.push_back(Output::Transmit {
                                    connection,
                                    peer: id,
                                    bytes,
                                });
                            }
                        }
                        SessionOutput::ConnectTcp => {
                            let connection = ConnectionId(self.next_connection);
                            self.next_connection += 1;
                            peer.connection = Some(connection);
                            peer.connection_up = false;
                            peer.closed = None;
                            self.connecting.insert(connection, id);
                            self.outputs.push_back(Output::Connect {
                                connection,
                                peer: id,
                                remote: peer.config.address,
                                port: peer.config.remote_port,
                                local: local_address_for(&self.config, &peer.config),
                            });
                        }
                        SessionOutput::CloseTcp => {
                            if let Some(connection) = peer.connection.take() {
                                peer.connection_up = false;
                                peer.closed = Some(connection);
                                self.outputs.push_back(Output::Disconnect {
                                    connection,
                                    peer: id,
                                });
                            }
                        }
                        SessionOutput::Event(event) => events.push((peer.serial, event)),
                    }
                }
                if let Some(rival) = &mut peer.rival {
                    while let Some(out) = rival.session.poll_output() {
                        match out {
                            SessionOutput::Transmit(bytes) if rival.open => {
                                self.outputs.push_back(Output::Transmit {
                                    connection: rival.connection,
                                    peer: id,
                                    bytes,
                                });
                            }
                            SessionOutput::CloseTcp if rival.open => {
                                rival.open = false;
                                self.outputs.push_back(Output::Disconnect {
                                    connection: rival.connection,
                                    peer: id,
                                });
                            }
                            // A rival only ever runs on the peer's connection.
                            SessionOutput::Transmit(_)
                            | SessionOutput::CloseTcp
                            | SessionOutput::ConnectTcp => {}
                            SessionOutput::Event(event) => events.push((rival.serial, event)),
                        }
                    }
                }
            }
            if events.is_empty() {
                return;
            }
            // Consecutive UPDATEs are imported together (one selection pass); the route
            // limit still counts them one by one.
            let mut updates = Vec::new();
            for (serial, event) in events {
                let Some(peer) = self.peers.get(&id) else {
                    return;
                };
                let slot = if serial == peer.serial {
                    Slot::Main
                } else if peer.rival.as_ref().is_some_and(|r| r.serial == serial) {
                    Slot::Rival
                } else {
                    continue; // a discarded session's
                };
                match (slot, event) {
                    (Slot::Main, SessionEvent::Update(update)) => updates.push(update),
                    (Slot::Main, other) => {
                        self.apply_updates(now, id, std::mem::take(&mut updates));
                        self.session_event(now, id, other);
                    }
                    (Slot::Rival, other) => {
                        self.apply_updates(now, id, std::mem::take(&mut updates));
                        self.rival_event(now, id, other);
                    }
                }
            }
            self.apply_updates(now, id, updates);
        }
    }

    /// An event of the session on the peer's colliding connection.
    fn rival_event(&mut self, now: Instant, id: PeerId, event: SessionEvent) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(rival) = peer.rival.as_mut() else {
            return;
        };
        match event {
            SessionEvent::StateChanged { to, .. } => rival.state = to,
            SessionEvent::OpenReceived { peer_id, peer_asn } => {
                self.resolve_collision(now, id, peer_id, peer_asn);
            }
            SessionEvent::Down(reason) => {
                let event = Event::SessionEnded {
                    peer: id,
                    connection: Some(rival.connection),
                    state: rival.state,
                    reason,
                };
                peer.rival = None;
                self.outputs.push_back(Output::Event(event));
            }
            SessionEvent::Established(negotiated) => {
                // Not reached: the collision is resolved at the rival's OPEN, before its
                // KEEPALIVE. Should it be, the rival wins and takes the main's place.
                peer.session
                    .handle_input(now, SessionInput::OpenCollisionDump);
                self.drain_peer(now, id);
                self.promote_rival(id);
                self.session_event(now, id, SessionEvent::Established(negotiated));
            }
            SessionEvent::Update(_) | SessionEvent::RouteRefresh(_) => {}
        }
    }

    /// RFC 4271 section 6.8 between the peer's two connections, once an OPEN told the
    /// peer's BGP identifier: the connection opened by the speaker with the higher
    /// identifier stays (RFC 6286: the higher AS on a tie), the other gets Cease /
    /// Connection Collision Resolution (6/7). A connection colliding with an Established
    /// one always loses. The identifier is known from either connection's OPEN (it is
    /// the same speaker), so the collision is resolved at the first OPEN while both
    /// connections are up (section 6.8 allows examining OpenSent connections when the
    /// identifier is known); the peer, applying the same rule, keeps the same one.
    fn resolve_collision(&mut self, now: Instant, id: PeerId, peer_id: Ipv4Addr, peer_asn: u32) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(rival) = p.rival.as_mut() else {
            return;
        };
        if !(p.connection_up && rival.open) {
            return;
        }
        // The state as of this event: a chunk holding OPEN and KEEPALIVE has moved the
        // session on already, but the collision is decided as the OPEN arrived.
        if p.state == State::Established {
            rival
                .session
                .handle_input(now, SessionInput::OpenCollisionDump);
        } else if !p.session.resolve_collision(now, peer_id, peer_asn) {
            rival.session.resolve_collision(now, peer_id, peer_asn);
        }
        self.drain_peer(now, id);
    }

    /// The rival session becomes the peer's session (the previous one lost or ended).
    fn promote_rival(&mut self, id: PeerId) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(rival) = p.rival.take() else {
            return;
        };
        p.session = rival.session;
        p.serial = rival.serial;
        p.state = rival.state;
        p.connection = rival.open.then_some(rival.connection);
        p.connection_up = rival.open;
        p.closed = None;
    }

    fn session_event(&mut self, now: Instant, id: PeerId, event: SessionEvent) {
        match event {
            SessionEvent::Established(negotiated) => {
                let Some(peer) = self.peers.get_mut(&id) else {
                    return;
                };
                peer.limit_batch = None;
                peer.limit_hit = false;
                peer.established = Some(Established {
                    send: negotiated.send.clone(),
                    receive: negotiated.receive.clone(),
                    families: negotiated.families.clone(),
                    route_refresh: negotiated.route_refresh,
                    enhanced_route_refresh: negotiated.enhanced_route_refresh,
                    graceful_restart: negotiated.graceful_restart.clone(),
                });
                self.outputs
                    .push_back(Output::Event(Event::PeerUp { peer: id }));
                let all = self.all_prefixes();
                self.process(now, all, Some(id));
                let families = self
                    .peers
                    .get(&id)
                    .map(|p| p.established.as_ref().map(|e| e.families.clone()));
                if let Some(peer) = self.peers.get_mut(&id) {
                    for family in families.flatten().unwrap_or_default() {
                        // The peer's End-of-RIB lets a restarting NVA flush its stale routes.
                        let _ = peer.session.send_end_of_rib(now, family);
                    }
                }
                self.to_drain.insert(id);
            }
            SessionEvent::RouteRefresh(refresh) => {
                self.outputs
                    .push_back(Output::Event(Event::RouteRefreshReceived {
                        peer: id,
                        family: refresh.family,
                        subtype: refresh.subtype,
                    }));
                match refresh.subtype {
                    RouteRefreshSubtype::Normal => self.answer_refresh(now, id, refresh.family),
                    RouteRefreshSubtype::BeginningOfRefresh => {
                        self.begin_peer_refresh(now, id, refresh.family);
                    }
                    RouteRefreshSubtype::EndOfRefresh => {
                        if let Some(peer) = self.peers.get_mut(&id) {
                            // Like End-of-RIB: the peer's table is complete again.
                            peer.limit_batch = None;
                        }
                        self.end_peer_refresh(now, id, refresh.family, false);
                    }
                    RouteRefreshSubtype::Reserved(_) => {}
                }
            }
            SessionEvent::Down(reason) => {
                let Some(peer) = self.peers.get_mut(&id) else {
                    return;
                };
                let connection = peer.closed.take();
                if peer.established.is_some() {
                    self.peer_down(now, id, reason);
                } else {
                    let state = peer.state;
                    self.outputs.push_back(Output::Event(Event::SessionEnded {
                        peer: id,
                        connection,
                        state,
                        reason,
                    }));
                }
                // The peer's other connection, if any, carries on as its session.
                self.promote_rival(id);
            }
            SessionEvent::StateChanged { to, .. } => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.state = to;
                }
            }
            SessionEvent::OpenReceived { peer_id, peer_asn } => {
                self.resolve_collision(now, id, peer_id, peer_asn);
            }
            SessionEvent::Update(_) => {}
        }
    }

    fn peer_down(&mut self, now: Instant, id: PeerId, reason: SessionEnd) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(established) = peer.established.take() else {
            return;
        };
        peer.limit_batch = None;
        peer.limit_hit = false;
        peer.refreshes.clear();
        self.rib_out.clear(&mut self.pool, id);
        self.outputs.push_back(Output::Event(Event::PeerDown {
            peer: id,
            reason: reason.clone(),
        }));
        let restarting = matches!(
            reason,
            SessionEnd::TcpConnectionFails | SessionEnd::HoldTimerExpired
        );
        let helper = self.config.extensions.graceful_restart_helper;
        // Sorted, once each (`AdjRibIn::clear`): no tree of a million prefixes.
        let dirty: Vec<IpNet> = match (&established.graceful_restart, helper && restarting) {
            (Some(gr), true) if gr.families.iter().any(|f| f.family == Family::IPV4_UNICAST) => {
                let routes = peer.rib_in.mark_stale(&mut self.rib);
                peer.stale_deadline =
                    Some(now + Duration::from_secs(u64::from(gr.restart_time.max(1))));
                self.outputs
                    .push_back(Output::Event(Event::RoutesKeptStale { peer: id, routes }));
                Vec::new()
            }
            _ => {
                peer.stale_deadline = None;
                peer.rib_in.clear(&mut self.rib)
            }
        };
        self.process_sorted(now, dirty, None);
    }

    /// Answers a peer's ROUTE-REFRESH: everything advertised to it in `family` again,
    /// between BoRR and EoRR when it negotiated enhanced route refresh (RFC 7313 section
    /// 4), so it can sweep what we no longer send.
    fn answer_refresh(&mut self, now: Instant, id: PeerId, family: Family) {
        let enhanced = self
            .peers
            .get(&id)
            .and_then(|p| p.established.as_ref())
            .is_some_and(|e| e.enhanced_route_refresh);
        let demarcate = |server: &mut Self, subtype| {
            if let Some(peer) = server.peers.get_mut(&id) {
                let refresh = bgp_wire::RouteRefresh::new(family, subtype);
                // Refused only outside Established or for a family not negotiated,
                // which the session checked before reporting the request.
                let _ = peer.session.send_route_refresh(now, refresh);
                server.to_drain.insert(id);
            }
        };
        if enhanced {
            demarcate(self, RouteRefreshSubtype::BeginningOfRefresh);
        }
        self.resend(now, id, family);
        if enhanced {
            demarcate(self, RouteRefreshSubtype::EndOfRefresh);
        }
    }

    /// The peer's BoRR (RFC 7313 section 4): its routes of `family` are stale until it
    /// re-sends them; those it does not are swept at its EoRR or after
    /// [`Limits::refresh_stale_time`](crate::Limits::refresh_stale_time).
    fn begin_peer_refresh(&mut self, now: Instant, id: PeerId, family: Family) {
        let stale_time = self.config.limits.refresh_stale_time;
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let v6 = family == Family::IPV6_UNICAST;
        let unrefreshed: HashSet<IpNet> = peer
            .rib_in
            .received_prefixes(&self.rib, v6)
            .into_iter()
            .collect();
        // A BoRR while a refresh of the family is under way starts it over.
        peer.refreshes.retain(|r| r.family != family);
        peer.refreshes.push(RefreshMark {
            family,
            deadline: now + stale_time,
            unrefreshed,
        });
    }

    /// The peer's EoRR, or its refresh timed out: withdraws the routes it held at its
    /// BoRR and did not re-send.
    fn end_peer_refresh(&mut self, now: Instant, id: PeerId, family: Family, timed_out: bool) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(index) = peer.refreshes.iter().position(|r| r.family == family) else {
            return;
        };
        let mark = peer.refreshes.swap_remove(index);
        let mut stale: Vec<IpNet> = mark.unrefreshed.into_iter().collect();
        stale.sort_unstable();
        let mut dirty = BTreeSet::new();
        for prefix in &stale {
            dirty.extend(peer.rib_in.withdraw(&mut self.rib, *prefix));
        }
        self.outputs.push_back(Output::Event(Event::RefreshSwept {
            peer: id,
            family,
            routes: stale.len(),
            timed_out,
        }));
        self.process(now, dirty, None);
    }

    /// Re-sends everything advertised to a peer that asked (ROUTE-REFRESH).
    fn resend(&mut self, now: Instant, id: PeerId, family: Family) {
        if !self.peers.contains_key(&id) {
            return;
        }
        let v6 = family == Family::IPV6_UNICAST;
        let routes = self.rib_out.iter_family(id, v6);
        let mut out = PendingOut::default();
        for (index, (_, attrs)) in routes.iter().enumerate() {
            out.announce_at(index, *attrs);
        }
        let prefixes: Vec<IpNet> = routes.into_iter().map(|(prefix, _)| prefix).collect();
        self.send_changes(now, id, &prefixes, &out);
    }

    /// Applies UPDATEs from one peer, in order: each is counted against the route limit,
    /// then imported. Over the limit the session is torn down and the rest ignored.
    fn apply_updates(&mut self, now: Instant, id: PeerId, updates: Vec<Update>) {
        if updates.is_empty() {
            return;
        }
        let mut dirty: Vec<Touched> = Vec::new();
        let mut torn_down = false;
        // Each UPDATE is dropped once imported: a large read's decoded prefixes need not
        // live through the selection pass.
        for update in updates {
            let Some(peer) = self.peers.get(&id) else {
                break;
            };
            if peer.established.is_none() || peer.limit_hit {
                break;
            }
            if let Some((counted, limit)) = self.count_against_limit(now, id, &update) {
                self.limit_exceeded(now, id, counted, limit);
                torn_down = true;
                break;
            }
            self.import_update(id, &update, &mut dirty);
        }
        for (peer, reason, count, examples) in self.rejected.drain(..) {
            self.outputs.push_back(Output::Event(Event::RoutesRejected {
                peer,
                reason,
                count,
                examples,
            }));
        }
        // A sort of the touched prefixes costs less than keeping them in a tree as they
        // come. Stable: of a prefix touched more than once, the last entry is current (every
        // change to a prefix's paths adds one).
        dirty.sort_by_key(|&(prefix, _)| store::order_key(prefix));
        let mut prefixes: Vec<IpNet> = Vec::with_capacity(dirty.len());
        let mut known: Vec<Option<PathSet>> = Vec::with_capacity(dirty.len());
        for (prefix, paths) in dirty {
            if prefixes.last() == Some(&prefix) {
                if let Some(last) = known.last_mut() {
                    *last = paths;
                }
            } else {
                prefixes.push(prefix);
                known.push(paths);
            }
        }
        if torn_down {
            // The teardown changed the Rib after the entries were handed back.
            known.clear();
        }
        self.process_pass(now, prefixes, known, None);
    }

    /// Counts one UPDATE against the peer's route limit, as
    /// [`Limits::counting`](crate::Limits::counting) says; the count and the limit when
    /// it goes over.
    fn count_against_limit(
        &mut self,
        now: Instant,
        id: PeerId,
        update: &Update,
    ) -> Option<(usize, u32)> {
        let counting = self.config.limits.counting;
        let window = self.config.limits.batch_window;
        let peer = self.peers.get_mut(&id)?;
        // Without a limit nothing is counted (counting may scan the routes held).
        let limit = peer
            .config
            .max_routes
            .or(self.config.limits.max_routes_per_peer)?;
        let announced = update.routes_to_announce().count();
        let (held, in_batch, unique) = match counting {
            LimitCounting::HeldPlusBatch => {
                if update.end_of_rib().is_some() {
                    // End-of-RIB closes the batch: the peer's table (or refresh answer)
                    // is complete, and what follows counts against what it then holds.
                    peer.limit_batch = None;
                    return None;
                }
                let open = peer
                    .limit_batch
                    .filter(|b| now.saturating_duration_since(b.started) < window);
                let mut batch = open.unwrap_or(LimitBatch {
                    started: now,
                    held: peer.rib_in.held_fresh(&self.rib),
                    announced: 0,
                });
                batch.announced = batch.announced.saturating_add(announced);
                peer.limit_batch = Some(batch);
                (batch.held, batch.announced, 0)
            }
            LimitCounting::HeldPlusMessage => (peer.rib_in.held_fresh(&self.rib), announced, 0),
            LimitCounting::UniquePrefixes => {
                let as_path = peer
                    .established
                    .as_ref()
                    .map(|e| update.effective_as_path(&e.receive))
                    .unwrap_or_default();
                let (config, from) = (&self.config, &peer.config);
                let learned = |prefix: IpNet, next_hop: IpAddr| {
                    let mut attrs = RouteAttrs::from_wire(&update.attributes, next_hop, true);
                    attrs.as_path = as_path.clone();
                    policy::import(config, from, prefix, &attrs).is_ok()
                };
                (0, 0, unique_after(&peer.rib_in, &self.rib, update, learned))
            }
        };
        if !policy::exceeds_route_limit(counting, Some(limit), held, in_batch, unique) {
            return None;
        }
        let counted = match counting {
            LimitCounting::UniquePrefixes => unique,
            _ => held.saturating_add(in_batch),
        };
        Some((counted, limit))
    }

    fn limit_exceeded(&mut self, now: Instant, id: PeerId, counted: usize, limit: u32) {
        self.outputs
            .push_back(Output::Event(Event::RouteLimitExceeded {
                peer: id,
                counted,
                limit,
            }));
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.limit_hit = true;
            peer.limit_batch = None;
            let stop = StopReason::MaxPrefixes {
                family: Family::IPV4_UNICAST,
                limit,
            };
            peer.session
                .handle_input(now, SessionInput::AutomaticStop(stop));
            // Azure keeps accepting the NVA again: the teardown shows as flapping.
            peer.session
                .handle_input(now, SessionInput::AutomaticStartWithDampPeerOscillations);
            self.to_drain.insert(id);
        }
    }

    /// Imports one UPDATE's routes into the peer's Adj-RIB-In (the Rib).
    fn import_update(&mut self, id: PeerId, update: &Update, dirty: &mut Vec<Touched>) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(established) = &peer.established else {
            return;
        };
        let rib = &mut self.rib;
        if !peer.refreshes.is_empty() {
            // Re-sent (or withdrawn) during an enhanced route refresh: not stale.
            for (family, nlri) in update
                .routes_to_withdraw()
                .chain(update.routes_to_announce())
            {
                if let Some(mark) = peer.refreshes.iter_mut().find(|r| r.family == family) {
                    mark.unrefreshed.remove(&nlri.prefix);
                }
            }
        }
        for (family, nlri) in update.routes_to_withdraw() {
            if family == Family::IPV4_UNICAST || family == Family::IPV6_UNICAST {
                dirty.extend(paths_unknown(peer.rib_in.withdraw(rib, nlri.prefix)));
            }
        }
        if update.treatment() >= Some(bgp_wire::Treatment::TreatAsWithdraw) {
            for (_, nlri) in update.announced() {
                let reason = RejectReason::MalformedAttributes;
                note_rejected(&mut self.rejected, id, reason, nlri.prefix);
            }
        }
        if let Some(family) = update.end_of_rib() {
            if family == Family::IPV4_UNICAST && peer.stale_deadline.is_some() {
                peer.stale_deadline = None;
                dirty.extend(paths_unknown(peer.rib_in.sweep_stale(rib)));
            }
            return;
        }
        let as_path = update.effective_as_path(&established.receive);
        let aggregator = update.effective_aggregator(&established.receive);
        let config = &self.config;
        for (family, next_hop, routes) in announced_groups(update) {
            let Some(next_hop) = next_hop else {
                // No next hop of the route's family: nothing to program or advertise.
                // The route replaces (withdraws) what the peer sent before for the prefix,
                // as RFC 7606 treats an UPDATE it cannot use.
                for prefix in routes {
                    dirty.extend(paths_unknown(peer.rib_in.withdraw(rib, prefix)));
                    note_rejected(&mut self.rejected, id, RejectReason::NoNextHop, prefix);
                }
                continue;
            };
            let mut routes = routes.into_iter().peekable();
            if routes.peek().is_none() {
                continue;
            }
            let mut attrs = RouteAttrs::from_wire(&update.attributes, next_hop, true);
            attrs.as_path = as_path.clone();
            attrs.aggregator = aggregator;
            let v6 = family == Family::IPV6_UNICAST;
            if peer.config.inbound_map.is_none() {
                // Without a route map the verdict and attributes do not depend on the
                // prefix: the accepted routes go to the Rib in one call.
                let first = routes.peek().copied().expect("peeked above");
                match policy::import(config, &peer.config, first, &attrs) {
                    Ok((_, imported)) => {
                        let nlri: Vec<Nlri> = routes.map(Nlri::new).collect();
                        let wire = store::rib_attributes(&imported, v6);
                        peer.rib_in.announce_many(rib, &nlri, &wire, dirty);
                    }
                    Err(reason) => {
                        for prefix in routes {
                            dirty.extend(paths_unknown(peer.rib_in.withdraw(rib, prefix)));
                            note_rejected(&mut self.rejected, id, reason, prefix);
                        }
                    }
                }
                continue;
            }
            for prefix in routes {
                match policy::import(config, &peer.config, prefix, &attrs) {
                    Ok((stored, imported)) => {
                        let wire = store::rib_attributes(&imported, v6);
                        dirty.extend(paths_unknown(
                            peer.rib_in.announce(rib, prefix, stored, &wire),
                        ));
                    }
                    Err(reason) => {
                        dirty.extend(paths_unknown(peer.rib_in.withdraw(rib, prefix)));
                        note_rejected(&mut self.rejected, id, reason, prefix);
                    }
                }
            }
        }
    }

    fn vnet_changed(&mut self, now: Instant, mut dirty: BTreeSet<IpNet>) {
        dirty.extend(self.all_prefixes());
        self.process(now, dirty, None);
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for id in ids {
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            // Azure refreshes every NVA (spec section 1.3); the gateways are Azure's own
            // and are neither refreshed nor reset (see the crate docs).
            if peer.config.kind.is_gateway() {
                continue;
            }
            let Some(established) = &peer.established else {
                continue;
            };
            if established.route_refresh {
                let families = established.families.clone();
                for family in families {
                    let _ = peer.session.request_refresh(now, family);
                }
                self.outputs
                    .push_back(Output::Event(Event::RouteRefreshSent { peer: id }));
            } else {
                peer.session.handle_input(
                    now,
                    SessionInput::AutomaticStop(StopReason::OtherConfigurationChange),
                );
                peer.session.handle_input(now, SessionInput::AutomaticStart);
                self.outputs
                    .push_back(Output::Event(Event::SessionReset { peer: id }));
            }
            self.to_drain.insert(id);
        }
        self.drain_all(now);
    }

    /// Every prefix the server knows of: learned, selected, programmed, advertised,
    /// originated.
    fn all_prefixes(&self) -> BTreeSet<IpNet> {
        let mut all: BTreeSet<IpNet> = self.rib.loc_rib().into_iter().map(|(p, _)| p).collect();
        all.extend(self.loc.iter().map(|(prefix, _)| prefix));
        all.extend(self.fabric.prefixes());
        all.extend(self.config.advertised_prefixes().copied());
        all.extend(self.rib_out.prefixes());
        all
    }

    /// Re-runs selection, programming and export for `dirty` prefixes. With `only`, just
    /// the export to that peer (it has just come up).
    fn process(&mut self, now: Instant, dirty: BTreeSet<IpNet>, only: Option<PeerId>) {
        self.process_sorted(now, dirty.into_iter().collect(), only);
    }

    /// [`process`](Self::process) for prefixes already sorted and without duplicates.
    fn process_sorted(&mut self, now: Instant, dirty: Vec<IpNet>, only: Option<PeerId>) {
        self.process_pass(now, dirty, Vec::new(), only);
    }

    /// [`process_sorted`](Self::process_sorted), given for some prefixes their paths as
    /// the Rib handed them back when they were stored (`known[i]` for `dirty[i]`; the
    /// others, and all when `known` is short, are looked up).
    fn process_pass(
        &mut self,
        now: Instant,
        dirty: Vec<IpNet>,
        mut known: Vec<Option<PathSet>>,
        only: Option<PeerId>,
    ) {
        if dirty.is_empty() {
            return;
        }
        debug_assert!(
            dirty.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicates"
        );
        let receivers: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(id, p)| p.established.is_some() && only.map_or(true, |o| o == **id))
            .map(|(id, _)| *id)
            .collect();
        // Per receiver, in `receivers` order (peer order): `None` until something changes.
        let mut pending: Vec<Option<PendingOut>> = vec![None; receivers.len()];
        let mut memo: HashMap<ExportKey, Option<AttrId>, FoldState> = HashMap::default();
        let advertised: BTreeSet<IpNet> = self.config.advertised_prefixes().copied().collect();
        let mut wanted: Vec<(usize, PeerId, Desired)> = Vec::with_capacity(receivers.len());
        // The route server's view of the Rib's attribute sets met in this pass.
        let mut decoded: HashMap<AttrHandle, RouteAttrs, FoldState> = HashMap::default();
        let mut paths: Vec<(PeerId, IpNet, AttrHandle)> = Vec::new();
        let mut held: Vec<(PeerId, PeerKind, AttrHandle)> = Vec::new();
        for (index, &prefix) in dirty.iter().enumerate() {
            paths.clear();
            // Any order: the paths are sorted by (peer, received prefix) below, a key no two
            // share.
            let handed_back = known.get_mut(index).and_then(Option::take);
            let looked_up = match handed_back {
                Some(_) => None,
                None => Some(self.rib.paths_unordered(prefix)),
            };
            for path in handed_back
                .iter()
                .flatten()
                .copied()
                .chain(looked_up.into_iter().flatten())
            {
                let Some(&Some(source)) = self.rib_peers.get(path.peer.as_u32() as usize) else {
                    continue;
                };
                let Some(peer) = self.peers.get(&source) else {
                    continue;
                };
                if let Some(received) = peer.rib_in.received(prefix, path.path_id) {
                    paths.push((source, received, path.attrs));
                }
            }
            // One path per peer, in peer order: the lowest received prefix's (a peer has
            // several only when an inbound route map summarised routes into `prefix`).
            paths.sort_unstable_by_key(|(peer, received, _)| (*peer, *received));
            paths.dedup_by_key(|(peer, _, _)| *peer);
            held.clear();
            for &(source, _, handle) in &paths {
                if let std::collections::hash_map::Entry::Vacant(slot) = decoded.entry(handle) {
                    let Some(attrs) = self.rib.attrs(handle).and_then(store::decode) else {
                        continue;
                    };
                    slot.insert(attrs);
                }
                if let Some(peer) = self.peers.get(&source) {
                    held.push((source, peer.config.kind, handle));
                }
            }
            let candidates: Vec<Candidate<'_>> = held
                .iter()
                .filter_map(|(peer, kind, handle)| {
                    Some(Candidate {
                        peer: *peer,
                        kind: *kind,
                        attrs: decoded.get(handle)?,
                    })
                })
                .collect();
            let previous_kinds = self.loc.get(prefix).copied();
            let selection = policy::select(
                self.config.hub_routing_preference,
                self.config.extensions.revertive_preference,
                Previous {
                    kinds: previous_kinds.unwrap_or_default(),
                    failed_over_to: self.failovers.get(&prefix).map_or(&[], Vec::as_slice),
                },
                &candidates,
            );
            // Branch-to-branch off: gateway routes are no candidates for the NVAs (spec
            // section 4, step 2), which get the best NVA route even when a gateway route
            // is the best for the prefix.
            let any_gateway = |best: &[usize]| {
                best.iter()
                    .any(|&i| candidates.get(i).is_some_and(|c| c.kind.is_gateway()))
            };
            // `None`: the best set holds no gateway route, so it is the NVAs' best too.
            let nva_best: Option<Vec<usize>> =
                if !self.config.branch_to_branch && any_gateway(&selection.best) {
                    let nvas: Vec<usize> = (0..candidates.len())
                        .filter(|&i| !candidates[i].kind.is_gateway())
                        .collect();
                    let among: Vec<Candidate<'_>> = nvas.iter().map(|&i| candidates[i]).collect();
                    let best = policy::select(
                        self.config.hub_routing_preference,
                        true,
                        Previous::default(),
                        &among,
                    )
                    .best;
                    Some(best.into_iter().map(|i| nvas[i]).collect())
                } else {
                    None
                };
            if only.is_none() {
                let kinds = (!selection.best.is_empty()).then_some(selection.kinds);
                if previous_kinds != kinds {
                    match kinds {
                        Some(kinds) => self.loc.insert(prefix, kinds),
                        None => self.loc.remove(prefix),
                    };
                }
                if selection.failed_over {
                    let to: Vec<PeerId> =
                        selection.best.iter().map(|&i| candidates[i].peer).collect();
                    if self.failovers.get(&prefix) != Some(&to) {
                        self.failovers.insert(prefix, to);
                    }
                } else if !self.failovers.is_empty() {
                    self.failovers.remove(&prefix);
                }
                let hops = if policy::is_programmable(&self.config, prefix) {
                    policy::ecmp_next_hops(&candidates, &selection, self.config.limits.ecmp_width)
                } else {
                    Vec::new()
                };
                self.fabric.program(prefix, &hops, &mut self.fabric_out);
            }
            wanted.clear();
            for (slot, &to) in receivers.iter().enumerate() {
                let Some(peer) = self.peers.get(&to) else {
                    continue;
                };
                let best = match &nva_best {
                    Some(nva_best) if !peer.config.kind.is_gateway() => nva_best,
                    _ => &selection.best,
                };
                let desired = desired_export(
                    &self.config,
                    peer,
                    to,
                    prefix,
                    &advertised,
                    &candidates,
                    &held,
                    best,
                    &memo,
                );
                wanted.push((slot, to, desired));
            }
            drop(candidates);
            // One search for every receiver's route of this prefix.
            let sending = wanted
                .iter()
                .filter(|(_, _, desired)| {
                    matches!(desired, Desired::Known(Some(_)) | Desired::Fresh(..))
                })
                .count();
            let (peers, pool) = (&self.peers, &mut self.pool);
            self.rib_out.with_routes(prefix, sending, |routes_out| {
                for (slot, to, desired) in wanted.drain(..) {
                    let desired = match desired {
                        Desired::Nothing => None,
                        Desired::Known(id) => {
                            if let Some(id) = id {
                                pool.retain(id);
                            }
                            id
                        }
                        Desired::Fresh(attrs, key) => {
                            let id = pool.intern(*attrs);
                            if let Some(key) = key {
                                pool.retain(id);
                                memo.insert(key, Some(id));
                            }
                            Some(id)
                        }
                        Desired::Refused(key) => {
                            memo.insert(key, None);
                            None
                        }
                    };
                    if !peers.contains_key(&to) {
                        continue;
                    }
                    let changed = match (routes_out.update(pool, to, desired), desired) {
                        (OutChange::Announce, Some(d)) => Some(d),
                        (OutChange::Withdraw, _) => None,
                        _ => continue,
                    };
                    let Some(entry) = pending.get_mut(slot) else {
                        continue;
                    };
                    let entry = entry.get_or_insert_with(PendingOut::default);
                    match changed {
                        Some(attrs) => entry.announce_at(index, attrs),
                        None => entry.withdraw_at(index),
                    }
                }
            });
        }
        for id in memo.into_values().flatten() {
            self.pool.release(id);
        }
        if !self.fabric_out.is_empty() {
            let changes = std::mem::take(&mut self.fabric_out);
            self.outputs.push_back(Output::Program(changes));
        }
        for (&to, out) in receivers.iter().zip(pending) {
            if let Some(out) = out {
                self.send_changes(now, to, &dirty, &out);
            }
        }
        self.check_expressroute_limit();
    }

    /// Warns when what the ExpressRoute gateway would send to its circuit (the VNet
    /// ranges and everything the route server gave it) crosses ExpressRoute's limit.
    fn check_expressroute_limit(&mut self) {
        let Some(limit) = self.config.limits.expressroute_prefix_limit else {
            return;
        };
        let ranges = self.config.advertised_prefixes().count();
        for (&id, peer) in self
            .peers
            .iter_mut()
            .filter(|(_, p)| p.config.kind == PeerKind::ExpressRoute)
        {
            let total = ranges + self.rib_out.len(id);
            let over = total > limit;
            if over && !peer.over_prefix_limit {
                let text = format!(
                    "ExpressRoute gateway {}: {total} prefixes toward the circuit (VNet ranges and routes from the route server) exceed ExpressRoute's {limit}",
                    peer.config.address
                );
                self.outputs
                    .push_back(Output::Event(Event::Warning { text }));
            }
            peer.over_prefix_limit = over;
        }
    }

    /// Packs and sends announcements and withdrawals to one peer.
    fn send_changes(&mut self, now: Instant, to: PeerId, prefixes: &[IpNet], out: &PendingOut) {
        let Some(peer) = self.peers.get_mut(&to) else {
            return;
        };
        let Some(established) = &peer.established else {
            return;
        };
        let at = |index: &u32| prefixes.get(*index as usize).copied();
        let mut packer = UpdatePacker::new(established.send.clone());
        for prefix in out.withdraw.iter().filter_map(at) {
            let family = if prefix.addr().is_ipv6() {
                Family::IPV6_UNICAST
            } else {
                Family::IPV4_UNICAST
            };
            packer.withdraw(family, Nlri::new(prefix));
        }
        for (&id, indices) in &out.announce {
            let attrs = self.pool.get(id);
            let wire = attrs.to_wire();
            let family = |v6: bool| {
                indices
                    .iter()
                    .filter_map(at)
                    .filter(move |p| p.addr().is_ipv6() == v6)
                    .map(Nlri::new)
            };
            if attrs.next_hop.is_ipv4() && family(false).next().is_some() {
                packer.announce(&wire, family(false));
            }
            if let (true, IpAddr::V6(global)) = (family(true).next().is_some(), attrs.next_hop) {
                packer.announce_mp(
                    Family::IPV6_UNICAST,
                    MpNextHop::Ipv6 {
                        global,
                        link_local: None,
                    },
                    &wire,
                    family(true),
                );
            }
        }
        let packed = packer.finish_updates();
        for update in &packed.messages {
            // Not established any more: the session's Down event resets the Adj-RIB-Out.
            let _ = peer.session.send_update(now, update);
        }
        for refused in packed.refused {
            self.outputs.push_back(Output::Event(Event::ExportRefused {
                peer: to,
                family: refused.family,
                routes: refused.routes,
                error: refused.error,
            }));
        }
        self.to_drain.insert(to);
    }
}

/// Counts one rejected route into the pending [`Event::RoutesRejected`] of its peer and
/// reason.
fn note_rejected(
    rejected: &mut Vec<(PeerId, RejectReason, usize, Vec<IpNet>)>,
    peer: PeerId,
    reason: RejectReason,
    prefix: IpNet,
) {
    match rejected
        .iter_mut()
        .find(|(p, r, _, _)| *p == peer && *r == reason)
    {
        Some((_, _, count, examples)) => {
            *count += 1;
            if examples.len() < REJECTED_EXAMPLES {
                examples.push(prefix);
            }
        }
        None => rejected.push((peer, reason, 1, vec![prefix])),
    }
}

/// The local address outbound connections to `peer` bind to.
fn local_address_for(config: &Config, peer: &PeerConfig) -> Option<IpAddr> {
    peer.local_address.or(match peer.address {
        IpAddr::V4(_) => Some(IpAddr::V4(config.local_address)),
        IpAddr::V6(_) => config.local_ipv6_address.map(IpAddr::V6),
    })
}

/// Announcements and withdrawals waiting to be packed for one peer.
/// Prefixes are indices into the pass's list of prefixes (4 bytes where an `IpNet` takes
/// 18: a pass over a million prefixes keeps this for every receiver); announcements are
/// grouped by exported set, each group in prefix order, as the packer takes them.
#[derive(Clone, Debug, Default)]
struct PendingOut {
    announce: BTreeMap<AttrId, Vec<u32>>,
    withdraw: Vec<u32>,
}

impl PendingOut {
    fn index(index: usize) -> u32 {
        u32::try_from(index).expect("fewer than 2^32 prefixes in one pass")
    }

    fn announce_at(&mut self, index: usize, attrs: AttrId) {
        self.announce
            .entry(attrs)
            .or_default()
            .push(Self::index(index));
    }

    fn withdraw_at(&mut self, index: usize) {
        self.withdraw.push(Self::index(index));
    }
}

/// Memo key of an export: (source attributes, source peer, receiver, IPv6).
type ExportKey = (AttrHandle, PeerId, PeerId, bool);

/// What one receiver should have for one prefix, before interning.
enum Desired {
    /// Nothing.
    Nothing,
    /// A result already computed in this pass.
    Known(Option<AttrId>),
    /// New attributes, memoisable under the key when given.
    Fresh(Box<RouteAttrs>, Option<ExportKey>),
    /// Refused by export policy, memoisable.
    Refused(ExportKey),
}

/// Export decision for one receiver and prefix (no mutation: the caller interns).
#[allow(clippy::too_many_arguments)]
fn desired_export(
    config: &Config,
    peer: &Peer,
    to: PeerId,
    prefix: IpNet,
    advertised: &BTreeSet<IpNet>,
    candidates: &[Candidate<'_>],
    held: &[(PeerId, PeerKind, AttrHandle)],
    best: &[usize],
    memo: &HashMap<ExportKey, Option<AttrId>, FoldState>,
) -> Desired {
    let Some(established) = peer.established.as_ref() else {
        return Desired::Nothing;
    };
    let family = if prefix.addr().is_ipv6() {
        Family::IPV6_UNICAST
    } else {
        Family::IPV4_UNICAST
    };
    if !established.families.contains(&family) {
        return Desired::Nothing;
    }
    if advertised.contains(&prefix) {
        return match policy::export(config, prefix, ExportSource::Vnet, to, &peer.config) {
            Ok((_, attrs)) => Desired::Fresh(Box::new(attrs), None),
            Err(_) => Desired::Nothing,
        };
    }
    let chosen = if config.extensions.per_client_best_path {
        let eligible: Vec<Candidate<'_>> = candidates
            .iter()
            .filter(|c| {
                policy::export(config, prefix, ExportSource::Learned(**c), to, &peer.config).is_ok()
            })
            .copied()
            .collect();
        let own = policy::select(
            config.hub_routing_preference,
            true,
            Previous::default(),
            &eligible,
        );
        own.best
            .first()
            .and_then(|&i| eligible.get(i))
            .map(|c| c.peer)
    } else {
        best.iter()
            .filter_map(|&i| candidates.get(i))
            .find(|c| c.peer != to)
            .map(|c| c.peer)
    };
    let Some(chosen) = chosen else {
        return Desired::Nothing;
    };
    let Some(index) = held.iter().position(|(p, _, _)| *p == chosen) else {
        return Desired::Nothing;
    };
    let (source, _, source_attrs) = held[index];
    let key = (source_attrs, source, to, prefix.addr().is_ipv6());
    let memoisable = peer.config.outbound_map.is_none();
    if memoisable {
        if let Some(done) = memo.get(&key) {
            return Desired::Known(*done);
        }
    }
    match policy::export(
        config,
        prefix,
        ExportSource::Learned(candidates[index]),
        to,
        &peer.config,
    ) {
        Ok((_, attrs)) => Desired::Fresh(Box::new(attrs), memoisable.then_some(key)),
        Err(_) if memoisable => Desired::Refused(key),
        Err(_) => Desired::Nothing,
    }
}

/// The routes an UPDATE announces (none when RFC 7606 treats it as withdrawn), by where
/// they travel: the NLRI field (IPv4 unicast, next hop in NEXT_HOP), then MP_REACH_NLRI
/// (IPv4 or IPv6 unicast, next hop in MP_REACH_NLRI, RFC 4760 section 3; NEXT_HOP does
/// not apply to them). The next hop is `None` when the UPDATE has none of the routes'
/// family (an IPv6 next hop for IPv4 routes needs RFC 8950, not negotiated). Other
/// families are left out: they are never negotiated.
fn announced_groups(update: &Update) -> Vec<(Family, Option<IpAddr>, Vec<IpNet>)> {
    let mut groups = Vec::with_capacity(2);
    if update.treatment() >= Some(bgp_wire::Treatment::TreatAsWithdraw) {
        return groups;
    }
    if !update.nlri.is_empty() {
        let next_hop = update.next_hop().map(IpAddr::V4);
        let prefixes = update.nlri.iter().map(|n| n.prefix).collect();
        groups.push((Family::IPV4_UNICAST, next_hop, prefixes));
    }
    if let Some(reach) = update.mp_reach() {
        let prefixes: Vec<IpNet> = match &reach.nlri {
            bgp_wire::MpNlri::Prefixes(list) => list.iter().map(|n| n.prefix).collect(),
            bgp_wire::MpNlri::Opaque(_) => Vec::new(),
        };
        let next_hop = match (reach.family, &reach.next_hop) {
            (Family::IPV4_UNICAST, MpNextHop::Ipv4(a)) => Some(IpAddr::V4(*a)),
            (Family::IPV6_UNICAST, MpNextHop::Ipv6 { global, .. }) => Some(IpAddr::V6(*global)),
            _ => None,
        };
        let unicast = reach.family == Family::IPV4_UNICAST || reach.family == Family::IPV6_UNICAST;
        if unicast && !prefixes.is_empty() {
            groups.push((reach.family, next_hop, prefixes));
        }
    }
    groups
}

/// Distinct prefixes a peer would hold once `update` is applied (the `UniquePrefixes`
/// count): routes import refuses (`learned` says no) or that have no next hop are not
/// held, so they do not count.
fn unique_after(
    adj: &AdjRibIn,
    rib: &Rib,
    update: &Update,
    learned: impl Fn(IpNet, IpAddr) -> bool,
) -> usize {
    let mut overlay: BTreeMap<IpNet, bool> = BTreeMap::new();
    for (_, nlri) in update.routes_to_withdraw() {
        overlay.insert(nlri.prefix, false);
    }
    for (_, next_hop, prefixes) in announced_groups(update) {
        for prefix in prefixes {
            let held = next_hop.is_some_and(|hop| learned(prefix, hop));
            overlay.insert(prefix, held);
        }
    }
    let mut count = adj.held(rib);
    for (prefix, present) in overlay {
        match (present, adj.holds(rib, prefix)) {
            (true, false) => count += 1,
            (false, true) => count = count.saturating_sub(1),
            _ => {}
        }
    }
    count
}

/// An AS path as the Azure CLI prints it: ASNs separated by spaces, sets in braces.
pub(crate) fn as_path_text(path: &bgp_wire::AsPath) -> String {
    let mut parts = Vec::new();
    for segment in &path.segments {
        let asns: Vec<String> = segment.asns.iter().map(u32::to_string).collect();
        match segment.kind {
            bgp_wire::SegmentType::AsSet | bgp_wire::SegmentType::ConfedSet => {
                parts.push(format!("{{{}}}", asns.join(",")));
            }
            _ => parts.extend(asns),
        }
    }
    parts.join(" ")
}

/// Compares what the NVAs peered with both instances sent to each: one entry per prefix
/// learned differently (path, next hop) or on one instance only (spec scenario 6).
#[must_use]
pub fn compare_instances(first: &RouteServer, second: &RouteServer) -> Vec<Inconsistency> {
    let mut out = Vec::new();
    for (id_a, peer) in first.peers() {
        let Some(id_b) = second.peer_by_address(peer.address) else {
            continue;
        };
        let key = |r: &RouteEntry| (r.network, r.next_hop, r.as_path.clone());
        let a: BTreeMap<IpNet, RouteEntry> = first
            .learned_routes(id_a)
            .into_iter()
            .map(|r| (r.network, r))
            .collect();
        let b: BTreeMap<IpNet, RouteEntry> = second
            .learned_routes(id_b)
            .into_iter()
            .map(|r| (r.network, r))
            .collect();
        let prefixes: BTreeSet<IpNet> = a.keys().chain(b.keys()).copied().collect();
        for prefix in prefixes {
            let (x, y) = (a.get(&prefix), b.get(&prefix));
            if x.map(key) != y.map(key) {
                out.push(Inconsistency {
                    peer: peer.address,
                    prefix,
                    first: x.cloned(),
                    second: y.cloned(),
                });
            }
        }
    }
    out
}
