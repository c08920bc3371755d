//! Configuration of one route-server instance, and its validation.
//!
//! [`Config::azure`] reproduces Azure Route Server; every departure from Azure is a field
//! whose default keeps Azure's behaviour.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ipnet::IpNet;

use crate::route_map::{RouteMap, RouteMapError};

/// Azure Route Server's fixed ASN (`virtualRouterAsn`).
pub const AZURE_ASN: u32 = 65515;

/// The most NVA peers one Azure Route Server accepts.
pub const AZURE_MAX_PEERS: usize = 8;

/// Routes one peer may hold before Azure tears its session down (FAQ 2025-09).
pub const AZURE_MAX_ROUTES_PER_PEER: u32 = 4000;

/// How long one route-limit batch lasts by default ([`Limits::batch_window`]). Azure does
/// not publish how it groups UPDATEs when it counts a peer's routes; one second is our
/// model of "announced at once".
pub const DEFAULT_BATCH_WINDOW: Duration = Duration::from_secs(1);

/// How long a peer's enhanced route refresh may take before the routes it did not re-send
/// are swept without its EoRR ([`Limits::refresh_stale_time`]). RFC 7313 leaves the value
/// to the implementation; five minutes is longer than any table of Azure's size takes to
/// re-send, and shorter than the hold time of a dead peer would leave stale routes.
pub const DEFAULT_REFRESH_STALE_TIME: Duration = Duration::from_secs(300);

/// The most next hops the Azure fabric spreads one prefix over.
pub const AZURE_ECMP_WIDTH: usize = 8;

/// Prefixes an ExpressRoute gateway may send to its circuit (VNet ranges plus what the
/// route server gives it).
pub const AZURE_EXPRESSROUTE_PREFIX_LIMIT: usize = 1000;

/// Keepalive interval Azure Route Server uses, in seconds.
pub const AZURE_KEEPALIVE_SECS: u16 = 60;

/// Hold time Azure Route Server proposes, in seconds.
pub const AZURE_HOLD_TIME_SECS: u16 = 180;

/// BGP's TCP port (RFC 4271 section 8.2.1).
pub const BGP_PORT: u16 = 179;

/// Default wait between our outbound connection attempts ([`PeerConfig::connect_retry_time`]):
/// RFC 4271 section 10 suggests 120 s. Azure NVAs connect in, and their connections are
/// accepted at once whatever this timer says.
pub const DEFAULT_CONNECT_RETRY_TIME: Duration = Duration::from_secs(120);

/// Default idle time after a session failure before we connect out again
/// ([`PeerConfig::idle_hold_time`]).
pub const DEFAULT_IDLE_HOLD_TIME: Duration = Duration::from_secs(5);

/// The longest the idle hold time grows to while a peer keeps failing (RFC 4271's
/// DampPeerOscillations).
pub const DEFAULT_MAX_IDLE_HOLD_TIME: Duration = Duration::from_secs(300);

/// What kind of neighbour a peer is. NVAs are the peers a user configures; the
/// ExpressRoute and VPN gateways are peered automatically in Azure and only exchange routes
/// with NVAs when branch-to-branch is on.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum PeerKind {
    /// A network virtual appliance (firewall, SD-WAN box, ...).
    Nva,
    /// The ExpressRoute virtual network gateway.
    ExpressRoute,
    /// The (active-active) VPN virtual network gateway.
    VpnGateway,
}

impl PeerKind {
    /// Whether this is one of the virtual network gateways.
    pub fn is_gateway(self) -> bool {
        !matches!(self, Self::Nva)
    }
}

impl fmt::Display for PeerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Nva => "NVA",
            Self::ExpressRoute => "ExpressRoute gateway",
            Self::VpnGateway => "VPN gateway",
        })
    }
}

/// `hubRoutingPreference`: how routes for the same prefix from different kinds of source
/// rank, after longest prefix and before AS path length (spec section 1.8).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum HubRoutingPreference {
    /// ExpressRoute routes beat VPN and NVA routes (Azure's default).
    #[default]
    ExpressRoute,
    /// VPN and NVA routes beat ExpressRoute routes; between VPN and NVA the shorter AS
    /// path wins.
    VpnGateway,
    /// The shortest AS path wins whatever the source; at equal length ExpressRoute ranks
    /// before VPN and NVA (the Virtual WAN rule).
    AsPath,
}

/// How the per-peer route limit counts routes.
///
/// Every rule counts what the peer sent, message by message, and is checked at each
/// UPDATE as it is decoded; how the driver chunked the bytes into
/// [`Input::Received`](crate::Input::Received) calls makes no difference. Over the limit
/// the session is torn down with Cease / Maximum Number of Prefixes Reached (6/1) and
/// the peer's routes are withdrawn.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum LimitCounting {
    /// Azure's rule: the routes held from the peer when the batch started plus every
    /// route announced in the batch so far, without de-duplication, whether import
    /// learns or refuses it (Azure counts the routes an UPDATE carries).
    ///
    /// A batch starts with the first UPDATE the peer sends while no batch is open, and
    /// takes every UPDATE received until [`Limits::batch_window`] has passed since it
    /// started, or until End-of-RIB, which closes it (the peer says its table is
    /// complete; what follows is counted against what it then holds). Azure's documented
    /// examples re-send 2,001 routes "in one UPDATE", which at 4,096 bytes a message
    /// spans several messages: the window gathers them.
    ///
    /// A consequence Azure documents literally: a peer answering a ROUTE-REFRESH (sent
    /// after a virtual network change) re-sends its whole table, so a peer holding more
    /// than half the limit (over 2,000 of 4,000 routes) is torn down when it answers.
    #[default]
    HeldPlusBatch,
    /// Routes held plus the routes announced in each single UPDATE message.
    HeldPlusMessage,
    /// The number of distinct prefixes the peer would hold once each UPDATE is applied
    /// (the usual max-prefix of other BGP speakers); routes import refuses are not held
    /// and do not count.
    UniquePrefixes,
}

/// A virtual network peered with the route server's virtual network.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PeeredVnet {
    /// The peered network's address ranges.
    pub prefixes: Vec<IpNet>,
    /// Whether the peering uses this network's route server ("use the remote virtual
    /// network's gateway or Route Server"): only then are its ranges advertised to peers.
    pub uses_remote_route_server: bool,
}

/// One configured peer (`virtualHubs/bgpConnections`, or an automatic gateway peering).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PeerConfig {
    /// The peer's address; connections from other addresses are refused.
    pub address: IpAddr,
    /// The peer's ASN.
    pub asn: u32,
    /// What the peer is.
    pub kind: PeerKind,
    /// This peer's route limit, overriding [`Limits::max_routes_per_peer`].
    pub max_routes: Option<u32>,
    /// Route map applied to routes learned from this peer.
    pub inbound_map: Option<RouteMap>,
    /// Route map applied to routes advertised to this peer.
    pub outbound_map: Option<RouteMap>,
    /// Never connect out; only wait for the peer to connect (the default: NVAs open the
    /// sessions toward the route server's addresses). Whatever this says, a connection
    /// from a configured peer is accepted whenever its session is not Established.
    pub passive: bool,
    /// The peer's TCP port for our outbound connections ([`BGP_PORT`], 179, by default).
    pub remote_port: u16,
    /// The local address our outbound connections to this peer are bound to; `None` binds
    /// to the instance's own address ([`Config::local_address`], or
    /// [`Config::local_ipv6_address`] for an IPv6 peer).
    pub local_address: Option<IpAddr>,
    /// ConnectRetryTime (RFC 4271 section 10): the wait between our outbound attempts,
    /// jittered to 0.75..=1.0 of it ([`DEFAULT_CONNECT_RETRY_TIME`] by default). It never
    /// delays the peer's own connections, which are accepted at once.
    pub connect_retry_time: Duration,
    /// IdleHoldTime (RFC 4271 section 8.1.1): how long we stay idle after a session
    /// failure before connecting out again, doubled on each failure without a stable
    /// session between, up to [`DEFAULT_MAX_IDLE_HOLD_TIME`] ([`DEFAULT_IDLE_HOLD_TIME`]
    /// by default). Like the connect retry time it only delays our own attempts.
    pub idle_hold_time: Duration,
}

impl PeerConfig {
    /// An NVA peer with no overrides.
    pub fn nva(address: IpAddr, asn: u32) -> Self {
        Self {
            address,
            asn,
            kind: PeerKind::Nva,
            max_routes: None,
            inbound_map: None,
            outbound_map: None,
            passive: true,
            remote_port: BGP_PORT,
            local_address: None,
            connect_retry_time: DEFAULT_CONNECT_RETRY_TIME,
            idle_hold_time: DEFAULT_IDLE_HOLD_TIME,
        }
    }

    /// A gateway peer of `kind` in Azure's AS 65515.
    pub fn gateway(address: IpAddr, kind: PeerKind) -> Self {
        Self {
            kind,
            asn: AZURE_ASN,
            ..Self::nva(address, AZURE_ASN)
        }
    }
}

/// Numeric limits.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Limits {
    /// The most NVA peers (gateways are not counted, as in Azure).
    pub max_peers: usize,
    /// Routes one peer may send before its session is torn down; `None` lifts the limit.
    pub max_routes_per_peer: Option<u32>,
    /// How routes are counted against the limit.
    pub counting: LimitCounting,
    /// How long a [`LimitCounting::HeldPlusBatch`] batch gathers UPDATEs after its first
    /// one ([`DEFAULT_BATCH_WINDOW`], our modelling of Azure's unpublished batching).
    pub batch_window: Duration,
    /// The most distinct next hops programmed for one prefix.
    pub ecmp_width: usize,
    /// How long a peer's enhanced route refresh (RFC 7313) may take: routes it held when
    /// its BoRR came and has not re-sent are swept at its EoRR, or when this time has
    /// passed without one ([`DEFAULT_REFRESH_STALE_TIME`]).
    pub refresh_stale_time: Duration,
    /// ExpressRoute's gateway-to-circuit limit: with branch-to-branch on, the virtual
    /// network ranges plus the routes sent to the ExpressRoute gateway must stay within
    /// it. Crossing it raises an [`Event::Warning`](crate::Event::Warning); `None` never
    /// warns.
    pub expressroute_prefix_limit: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_peers: AZURE_MAX_PEERS,
            max_routes_per_peer: Some(AZURE_MAX_ROUTES_PER_PEER),
            counting: LimitCounting::HeldPlusBatch,
            batch_window: DEFAULT_BATCH_WINDOW,
            refresh_stale_time: DEFAULT_REFRESH_STALE_TIME,
            ecmp_width: AZURE_ECMP_WIDTH,
            expressroute_prefix_limit: Some(AZURE_EXPRESSROUTE_PREFIX_LIMIT),
        }
    }
}

/// Behaviour beyond Azure. Every default reproduces Azure Route Server.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Extensions {
    /// Accept peers with 4-octet ASNs and negotiate the 4-octet AS capability.
    pub four_octet_asn: bool,
    /// Skip Azure's reserved-ASN list when validating peers.
    pub allow_reserved_asns: bool,
    /// Negotiate and carry IPv6 unicast.
    pub ipv6_unicast: bool,
    /// RFC 7947 transparent route server: no local ASN prepended, NEXT_HOP and MED passed
    /// unchanged.
    pub transparent: bool,
    /// Compute the best path for each client among the routes it may receive, so a route
    /// hidden behind an ineligible best path still reaches it (RFC 7947 section 2.3.2.1).
    pub per_client_best_path: bool,
    /// Act as a graceful restart helper (RFC 4724): keep a restarting peer's routes,
    /// marked stale, until it re-sends them or its restart time runs out.
    pub graceful_restart_helper: bool,
    /// Revertive hub routing preference: a returning preferred route takes over at once.
    /// Azure's failover does not revert, so by default a route of the preferred kind only
    /// displaces the route that replaced it when its AS path is strictly shorter.
    pub revertive_preference: bool,
}

/// The configuration of one route-server instance.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Config {
    /// Local ASN (65515 in Azure).
    pub local_asn: u32,
    /// BGP identifier.
    pub router_id: Ipv4Addr,
    /// This instance's own address: the next hop it advertises (next-hop-self).
    pub local_address: Ipv4Addr,
    /// This instance's IPv6 address, the next hop of IPv6 routes it advertises.
    pub local_ipv6_address: Option<Ipv6Addr>,
    /// Hold time proposed in OPEN, in seconds; the keepalive interval is a third of the
    /// negotiated hold time (60 s for Azure's 180 s).
    pub hold_time_secs: u16,
    /// Configured peers.
    pub peers: Vec<PeerConfig>,
    /// This virtual network's address ranges: advertised, and never overridden by learned
    /// routes.
    pub vnet_prefixes: Vec<IpNet>,
    /// Peered virtual networks.
    pub peered_vnets: Vec<PeeredVnet>,
    /// `allowBranchToBranchTraffic`.
    pub branch_to_branch: bool,
    /// `hubRoutingPreference`.
    pub hub_routing_preference: HubRoutingPreference,
    /// Limits.
    pub limits: Limits,
    /// Behaviour beyond Azure.
    pub extensions: Extensions,
    /// Seed of the sessions' connect-retry jitter and of the Rib's hashing: the same
    /// configuration and inputs give the same run.
    pub rng_seed: u64,
}

impl Config {
    /// Azure Route Server instance at `local_address` (also its router id) in a virtual
    /// network with `vnet_prefixes`, with no peers yet.
    pub fn azure(local_address: Ipv4Addr, vnet_prefixes: Vec<IpNet>) -> Self {
        Self {
            local_asn: AZURE_ASN,
            router_id: local_address,
            local_address,
            local_ipv6_address: None,
            hold_time_secs: AZURE_HOLD_TIME_SECS,
            peers: Vec::new(),
            vnet_prefixes,
            peered_vnets: Vec::new(),
            branch_to_branch: false,
            hub_routing_preference: HubRoutingPreference::ExpressRoute,
            limits: Limits::default(),
            extensions: Extensions::default(),
            rng_seed: 0,
        }
    }

    /// Adds a peer (builder style).
    pub fn with_peer(mut self, peer: PeerConfig) -> Self {
        self.peers.push(peer);
        self
    }

    /// Every range a learned route may not override: own and peered virtual networks.
    pub fn protected_prefixes(&self) -> impl Iterator<Item = &IpNet> {
        self.vnet_prefixes
            .iter()
            .chain(self.peered_vnets.iter().flat_map(|v| v.prefixes.iter()))
    }

    /// Ranges advertised to NVAs: own ranges and those of peered networks that use this
    /// route server.
    pub fn advertised_prefixes(&self) -> impl Iterator<Item = &IpNet> {
        self.vnet_prefixes.iter().chain(
            self.peered_vnets
                .iter()
                .filter(|v| v.uses_remote_route_server)
                .flat_map(|v| v.prefixes.iter()),
        )
    }

    /// Checks the whole configuration; the first problem found is returned.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the peer, the field and the reason.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.local_asn == 0
            || self.local_asn == 23456
            || (!self.extensions.four_octet_asn && self.local_asn > 0xFFFF)
        {
            return Err(ConfigError::LocalAsn {
                asn: self.local_asn,
            });
        }
        if self.hold_time_secs != 0 && self.hold_time_secs < 3 {
            return Err(ConfigError::HoldTime {
                secs: self.hold_time_secs,
            });
        }
        if self.limits.ecmp_width == 0 {
            return Err(ConfigError::EcmpWidth);
        }
        // RFC 4271 section 6.2: a BGP identifier is a valid unicast host address; RFC 6286
        // relaxes that to any non-zero 4-octet value, which is what peers check.
        if self.router_id.is_unspecified() {
            return Err(ConfigError::RouterId {
                router_id: self.router_id,
            });
        }
        let nvas = self
            .peers
            .iter()
            .filter(|p| p.kind == PeerKind::Nva)
            .count();
        if nvas > self.limits.max_peers {
            let ninth = self
                .peers
                .iter()
                .filter(|p| p.kind == PeerKind::Nva)
                .nth(self.limits.max_peers)
                .map(|p| p.address);
            return Err(ConfigError::TooManyPeers {
                count: nvas,
                max: self.limits.max_peers,
                first_refused: ninth,
            });
        }
        for (i, peer) in self.peers.iter().enumerate() {
            if self.peers[..i].iter().any(|p| p.address == peer.address) {
                return Err(ConfigError::DuplicatePeer { peer: peer.address });
            }
            self.validate_peer(peer)?;
        }
        Ok(())
    }

    /// Checks one peer against this configuration (not against the other peers).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the peer, the field and the reason.
    pub fn validate_peer(&self, peer: &PeerConfig) -> Result<(), ConfigError> {
        let at = peer.address;
        if peer.address == IpAddr::V4(self.local_address) {
            return Err(ConfigError::PeerIsSelf { peer: at });
        }
        if peer.address.is_ipv6() && !self.extensions.ipv6_unicast {
            return Err(ConfigError::Ipv6PeerAddress { peer: at });
        }
        if peer.asn == 0 {
            return Err(ConfigError::PeerAsnZero { peer: at });
        }
        if peer.remote_port == 0 {
            return Err(ConfigError::PeerField {
                peer: at,
                field: "remote_port",
                reason: "port 0 cannot be connected to",
            });
        }
        if peer.connect_retry_time.is_zero() {
            return Err(ConfigError::PeerField {
                peer: at,
                field: "connect_retry_time",
                reason: "must be longer than zero",
            });
        }
        if let Some(local) = peer.local_address {
            if local.is_ipv4() != peer.address.is_ipv4() {
                return Err(ConfigError::PeerField {
                    peer: at,
                    field: "local_address",
                    reason: "not of the peer address's family",
                });
            }
            if local.is_unspecified() || local.is_multicast() {
                return Err(ConfigError::PeerField {
                    peer: at,
                    field: "local_address",
                    reason: "not a unicast address",
                });
            }
        }
        // Gateways are Azure's own and live in 65515; the list binds NVAs only.
        if peer.kind == PeerKind::Nva && !self.extensions.allow_reserved_asns {
            if let Some(why) = reserved_asn(peer.asn) {
                return Err(ConfigError::ReservedAsn {
                    peer: at,
                    asn: peer.asn,
                    why,
                });
            }
        }
        if peer.asn > 0xFFFF && !self.extensions.four_octet_asn {
            return Err(ConfigError::FourOctetAsn {
                peer: at,
                asn: peer.asn,
            });
        }
        for (direction, map) in [
            ("inbound_map", &peer.inbound_map),
            ("outbound_map", &peer.outbound_map),
        ] {
            if let Some(map) = map {
                map.validate(self).map_err(|source| ConfigError::RouteMap {
                    peer: at,
                    field: direction,
                    source,
                })?;
            }
        }
        Ok(())
    }
}

/// Why Azure refuses `asn` as an NVA's ASN, or `None` when it accepts it.
///
/// The list is Azure's (spec section 1.2): its public ASNs 8074, 8075 and 12076, its
/// private ASNs 65515 and 65517 to 65520, and IANA's 23456 (AS_TRANS), 64496 to 64511
/// (documentation) and 65535 to 65551 (reserved and documentation).
pub fn reserved_asn(asn: u32) -> Option<&'static str> {
    match asn {
        8074 | 8075 | 12076 => Some("reserved by Azure (Azure public ASN)"),
        65515 | 65517..=65520 => Some("reserved by Azure (Azure private ASN)"),
        23456 => Some("reserved by IANA (AS_TRANS)"),
        64496..=64511 => Some("reserved by IANA (documentation ASN)"),
        65535..=65551 => Some("reserved by IANA"),
        _ => None,
    }
}

/// A refused configuration: which peer, which field, why.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// More NVA peers than [`Limits::max_peers`].
    #[error("peers: {count} NVA peers configured, at most {max} allowed (first refused: {first_refused:?})")]
    TooManyPeers {
        /// NVA peers configured.
        count: usize,
        /// The limit.
        max: usize,
        /// The first peer over the limit.
        first_refused: Option<IpAddr>,
    },
    /// Two peers with the same address.
    #[error("peer {peer}: field `address`: configured twice")]
    DuplicatePeer {
        /// The address.
        peer: IpAddr,
    },
    /// A peer ASN on Azure's reserved list.
    #[error("peer {peer}: field `asn`: {asn} is {why}")]
    ReservedAsn {
        /// The peer.
        peer: IpAddr,
        /// Its ASN.
        asn: u32,
        /// Which reservation.
        why: &'static str,
    },
    /// A 4-octet peer ASN while only 2-octet ASNs are allowed.
    #[error("peer {peer}: field `asn`: {asn} is a 4-octet ASN; Azure accepts 2-octet ASNs only (enable extensions.four_octet_asn)")]
    FourOctetAsn {
        /// The peer.
        peer: IpAddr,
        /// Its ASN.
        asn: u32,
    },
    /// Peer ASN 0.
    #[error("peer {peer}: field `asn`: 0 is not a valid ASN")]
    PeerAsnZero {
        /// The peer.
        peer: IpAddr,
    },
    /// The peer has this instance's own address.
    #[error("peer {peer}: field `address`: the route server's own address")]
    PeerIsSelf {
        /// The peer.
        peer: IpAddr,
    },
    /// An IPv6 peer address without the IPv6 extension.
    #[error("peer {peer}: field `address`: IPv6 peers need extensions.ipv6_unicast")]
    Ipv6PeerAddress {
        /// The peer.
        peer: IpAddr,
    },
    /// A bad route map.
    #[error("peer {peer}: field `{field}`: {source}")]
    RouteMap {
        /// The peer.
        peer: IpAddr,
        /// `inbound_map` or `outbound_map`.
        field: &'static str,
        /// What is wrong.
        source: RouteMapError,
    },
    /// Local ASN 0 or AS_TRANS, or 4-octet without the extension.
    #[error(
        "local_asn: {asn} is not usable (0, 23456, or 4-octet without extensions.four_octet_asn)"
    )]
    LocalAsn {
        /// The ASN.
        asn: u32,
    },
    /// Hold time 1 or 2.
    #[error("hold_time_secs: {secs} s is not allowed (0 or at least 3)")]
    HoldTime {
        /// The value.
        secs: u16,
    },
    /// ECMP width 0.
    #[error("limits.ecmp_width: must be at least 1")]
    EcmpWidth,
    /// Router id 0.0.0.0 (RFC 6286: the BGP identifier is a non-zero 4-octet value).
    #[error("router_id: {router_id} is not a usable BGP identifier (must not be 0.0.0.0)")]
    RouterId {
        /// The refused value.
        router_id: Ipv4Addr,
    },
    /// A peer setting out of range.
    #[error("peer {peer}: field `{field}`: {reason}")]
    PeerField {
        /// The peer.
        peer: IpAddr,
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A command named a peer that does not exist.
    #[error("{peer}: not configured")]
    UnknownPeer {
        /// The peer.
        peer: crate::policy::PeerId,
    },
    /// The BGP session refused the settings derived for this peer.
    #[error("peer {peer}: session settings: {source}")]
    Session {
        /// The peer.
        peer: IpAddr,
        /// What the session refused.
        source: bgp_fsm::ConfigError,
    },
}
