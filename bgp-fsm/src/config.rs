//! Session configuration: who we are, whom we expect, what we advertise and require.

use std::net::Ipv4Addr;
use std::time::Duration;

use bgp_wire::{
    AddPathDirection, AddPathEntry, Afi, Capability, Family, GracefulRestart, LlgrFamily, Open,
    OptionalParameter, Role,
};

/// Which AS numbers the peer may have (checked against the OPEN, RFC 4271 section 6.2).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum PeerAsn {
    /// Exactly this AS.
    Is(u32),
    /// Any AS in `min..=max`.
    Between {
        /// Lowest accepted AS.
        min: u32,
        /// Highest accepted AS.
        max: u32,
    },
    /// Any AS but 0 (RFC 7607) and AS_TRANS (RFC 6793).
    Any,
}

impl PeerAsn {
    /// Whether `asn` is acceptable.
    pub fn accepts(self, asn: u32) -> bool {
        if asn == 0 || asn == u32::from(Open::AS_TRANS) {
            return false;
        }
        match self {
            Self::Is(expected) => asn == expected,
            Self::Between { min, max } => (min..=max).contains(&asn),
            Self::Any => true,
        }
    }
}

impl From<u32> for PeerAsn {
    fn from(asn: u32) -> Self {
        Self::Is(asn)
    }
}

/// The capabilities we advertise in our OPEN (RFC 5492).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LocalCapabilities {
    /// Multiprotocol families (RFC 4760), one capability each. Empty means no MP
    /// capability at all, which implies IPv4 unicast only.
    pub families: Vec<Family>,
    /// Route refresh (RFC 2918).
    pub route_refresh: bool,
    /// Enhanced route refresh (RFC 7313).
    pub enhanced_route_refresh: bool,
    /// 4-octet AS numbers (RFC 6793). Required when the local AS is above 65535.
    pub four_octet_as: bool,
    /// Extended messages up to 65535 bytes (RFC 8654).
    pub extended_message: bool,
    /// ADD-PATH per family and direction (RFC 7911).
    pub add_path: Vec<AddPathEntry>,
    /// Extended next hop encoding (RFC 8950): (NLRI family, next-hop AFI).
    pub extended_next_hop: Vec<(Family, Afi)>,
    /// Graceful restart (RFC 4724).
    pub graceful_restart: Option<GracefulRestart>,
    /// Long-lived graceful restart families.
    pub long_lived_graceful_restart: Vec<LlgrFamily>,
    /// Our BGP role (RFC 9234).
    pub role: Option<Role>,
    /// Further capabilities advertised as given (FQDN, software version, ...).
    pub extra: Vec<Capability>,
}

impl Default for LocalCapabilities {
    /// IPv4 unicast, route refresh, enhanced route refresh, 4-octet AS.
    fn default() -> Self {
        Self {
            families: vec![Family::IPV4_UNICAST],
            route_refresh: true,
            enhanced_route_refresh: true,
            four_octet_as: true,
            extended_message: false,
            add_path: Vec::new(),
            extended_next_hop: Vec::new(),
            graceful_restart: None,
            long_lived_graceful_restart: Vec::new(),
            role: None,
            extra: Vec::new(),
        }
    }
}

impl LocalCapabilities {
    /// The capability list of our OPEN, in a fixed order.
    pub(crate) fn to_capabilities(&self, local_asn: u32) -> Vec<Capability> {
        let mut caps: Vec<Capability> = self
            .families
            .iter()
            .map(|f| Capability::multiprotocol(*f))
            .collect();
        if self.route_refresh {
            caps.push(Capability::RouteRefresh);
        }
        if self.enhanced_route_refresh {
            caps.push(Capability::EnhancedRouteRefresh);
        }
        if self.four_octet_as {
            caps.push(Capability::FourOctetAs(local_asn));
        }
        if self.extended_message {
            caps.push(Capability::ExtendedMessage);
        }
        if !self.add_path.is_empty() {
            caps.push(Capability::AddPath(self.add_path.clone()));
        }
        if !self.extended_next_hop.is_empty() {
            caps.push(Capability::ExtendedNextHop(self.extended_next_hop.clone()));
        }
        if let Some(gr) = &self.graceful_restart {
            caps.push(Capability::GracefulRestart(gr.clone()));
        }
        if !self.long_lived_graceful_restart.is_empty() {
            caps.push(Capability::LongLivedGracefulRestart(
                self.long_lived_graceful_restart.clone(),
            ));
        }
        if let Some(role) = self.role {
            caps.push(Capability::Role(role));
        }
        caps.extend(self.extra.iter().cloned());
        caps
    }

    /// The ADD-PATH direction we advertised for `family`, if any.
    pub(crate) fn add_path_direction(&self, family: Family) -> Option<AddPathDirection> {
        self.add_path
            .iter()
            .find(|e| e.family == family)
            .map(|e| e.direction)
    }
}

/// A capability the peer must advertise, or we refuse the session with OPEN Message
/// Error / Unsupported Capability (2/7, RFC 5492 section 5).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RequiredCapability {
    /// Multiprotocol with this family.
    Multiprotocol(Family),
    /// Route refresh (code 2).
    RouteRefresh,
    /// Enhanced route refresh (code 70).
    EnhancedRouteRefresh,
    /// 4-octet AS (code 65).
    FourOctetAs,
    /// Extended message (code 6).
    ExtendedMessage,
    /// ADD-PATH for this family, any direction (code 69).
    AddPath(Family),
    /// Graceful restart (code 64).
    GracefulRestart,
    /// BGP role (code 9). Prefer [`SessionConfig::strict_role`], which sends Role
    /// Mismatch (2/11) as RFC 9234 asks.
    Role,
    /// Any capability with this code.
    Code(u8),
}

impl RequiredCapability {
    /// Whether `cap` satisfies this requirement.
    pub(crate) fn is_met_by(self, cap: &Capability) -> bool {
        match (self, cap) {
            (Self::Multiprotocol(f), Capability::Multiprotocol { family: g, .. }) => f == *g,
            (Self::RouteRefresh, Capability::RouteRefresh)
            | (Self::EnhancedRouteRefresh, Capability::EnhancedRouteRefresh)
            | (Self::FourOctetAs, Capability::FourOctetAs(_))
            | (Self::ExtendedMessage, Capability::ExtendedMessage)
            | (Self::GracefulRestart, Capability::GracefulRestart(_))
            | (Self::Role, Capability::Role(_)) => true,
            (Self::AddPath(f), Capability::AddPath(entries)) => {
                entries.iter().any(|e| e.family == f)
            }
            (Self::Code(code), cap) => capability_code(cap) == code,
            _ => false,
        }
    }

    /// The capability as listed in the data of an Unsupported Capability NOTIFICATION:
    /// code, length, value (RFC 5492 section 3), the value being what we expected.
    pub(crate) fn encode(self, local_asn: u32, out: &mut Vec<u8>) {
        match self {
            Self::Multiprotocol(f) => {
                out.extend_from_slice(&[1, 4]);
                out.extend_from_slice(&f.afi.0.to_be_bytes());
                out.extend_from_slice(&[0, f.safi.0]);
            }
            Self::AddPath(f) => {
                // Direction 3 (send and receive): the family is what matters here.
                out.extend_from_slice(&[69, 4]);
                out.extend_from_slice(&f.afi.0.to_be_bytes());
                out.extend_from_slice(&[f.safi.0, 3]);
            }
            Self::FourOctetAs => {
                out.extend_from_slice(&[65, 4]);
                out.extend_from_slice(&local_asn.to_be_bytes());
            }
            Self::RouteRefresh => out.extend_from_slice(&[2, 0]),
            Self::EnhancedRouteRefresh => out.extend_from_slice(&[70, 0]),
            Self::ExtendedMessage => out.extend_from_slice(&[6, 0]),
            Self::GracefulRestart => out.extend_from_slice(&[64, 0]),
            Self::Role => out.extend_from_slice(&[9, 0]),
            Self::Code(code) => out.extend_from_slice(&[code, 0]),
        }
    }
}

/// The capability code of `cap` (IANA "Capability Codes").
pub(crate) fn capability_code(cap: &Capability) -> u8 {
    match cap {
        Capability::Multiprotocol { .. } => 1,
        Capability::RouteRefresh => 2,
        Capability::ExtendedNextHop(_) => 5,
        Capability::ExtendedMessage => 6,
        Capability::Role(_) => 9,
        Capability::GracefulRestart(_) => 64,
        Capability::FourOctetAs(_) => 65,
        Capability::AddPath(_) => 69,
        Capability::EnhancedRouteRefresh => 70,
        Capability::LongLivedGracefulRestart(_) => 71,
        Capability::Fqdn { .. } => 73,
        Capability::SoftwareVersion(_) => 75,
        Capability::Unknown { code, .. } => *code,
    }
}

/// Everything a [`Session`](crate::Session) needs to know before it starts.
///
/// Build one with [`SessionConfig::new`] and adjust fields by name:
///
/// ```
/// use std::net::Ipv4Addr;
/// use std::time::Duration;
/// use bgp_fsm::{PeerAsn, SessionConfig};
///
/// let mut config = SessionConfig::new(65515, Ipv4Addr::new(10, 0, 0, 1), PeerAsn::Is(65001));
/// config.passive = true;
/// config.delay_open = Some(Duration::from_secs(5));
/// assert_eq!(config.hold_time, 90);
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SessionConfig {
    /// Our AS number. Above 65535 it requires `capabilities.four_octet_as`.
    pub local_asn: u32,
    /// Our BGP identifier (non-zero).
    pub local_id: Ipv4Addr,
    /// The AS numbers accepted from the peer.
    pub peer_asn: PeerAsn,
    /// The hold time we propose, in seconds: 0 (no keepalives) or at least 3. Default 90.
    pub hold_time: u16,
    /// The smallest hold time we accept from the peer: `None` refuses only 1
    /// and 2 seconds; `Some(m)` refuses anything below `m`, zero included. Refusal sends
    /// Unacceptable Hold Time (2/6).
    pub min_hold_time: Option<u16>,
    /// ConnectRetryTime (RFC 4271 section 10; default 120 s). Each use is jittered to
    /// 0.75..=1.0 of this value.
    pub connect_retry_time: Duration,
    /// PassiveTcpEstablishment: ManualStart and AutomaticStart wait for the peer to
    /// connect (state Active) instead of connecting (state Connect).
    pub passive: bool,
    /// Never initiate a TCP connection: every start is passive, and the ConnectRetryTimer
    /// expiring in Active keeps listening instead of connecting (RFC 4271's
    /// PassiveTcpEstablishment only governs how a start begins: Active still connects
    /// when the timer expires). What route servers and most daemons call a passive peer.
    /// Default false.
    pub listen_only: bool,
    /// DelayOpen with its DelayOpenTime: after the TCP connection comes up, wait this
    /// long for the peer's OPEN before sending ours.
    pub delay_open: Option<Duration>,
    /// AllowAutomaticStart: after a session ends for any reason but a stop request, the
    /// session starts again by itself (AutomaticStart) when the IdleHoldTimer expires.
    pub allow_automatic_start: bool,
    /// IdleHoldTime: how long the session stays in Idle after a failure before an
    /// automatic start may proceed. Default 5 s; jittered like ConnectRetryTime.
    pub idle_hold_time: Duration,
    /// DampPeerOscillations: every failure without a stable period in between doubles the
    /// idle hold time, up to `max_idle_hold_time`.
    pub damp_peer_oscillations: bool,
    /// Cap of the damped idle hold time. Default 300 s.
    pub max_idle_hold_time: Duration,
    /// A session Established at least this long counts as stable: the damping restarts
    /// from `idle_hold_time` afterwards. Default 300 s.
    pub stable_time: Duration,
    /// SendHoldTime (RFC 9687). `None` uses the RFC's default: the larger of 8 minutes
    /// and twice the negotiated hold time.
    pub send_hold_time: Option<Duration>,
    /// SendNOTIFICATIONwithoutOPEN: whether errors found before our OPEN went out (with
    /// DelayOpen) are answered with a NOTIFICATION. Default true.
    pub send_notification_without_open: bool,
    /// What we advertise.
    pub capabilities: LocalCapabilities,
    /// What the peer must advertise (2/7 otherwise).
    pub required_capabilities: Vec<RequiredCapability>,
    /// RFC 9234 strict mode: a peer without the Role capability is refused with Role
    /// Mismatch (2/11). Needs `capabilities.role`.
    pub strict_role: bool,
    /// Seed of the jitter PRNG. Two sessions with the same seed and inputs behave the same.
    pub rng_seed: u64,
}

impl SessionConfig {
    /// A configuration with the defaults documented on each field: active open, hold
    /// time 90 s, ConnectRetryTime 120 s, automatic restart with damping, IPv4 unicast
    /// with route refresh and 4-octet AS.
    pub fn new(local_asn: u32, local_id: Ipv4Addr, peer_asn: impl Into<PeerAsn>) -> Self {
        Self {
            local_asn,
            local_id,
            peer_asn: peer_asn.into(),
            hold_time: 90,
            min_hold_time: None,
            connect_retry_time: Duration::from_secs(120),
            passive: false,
            listen_only: false,
            delay_open: None,
            allow_automatic_start: true,
            idle_hold_time: Duration::from_secs(5),
            damp_peer_oscillations: true,
            max_idle_hold_time: Duration::from_secs(300),
            stable_time: Duration::from_secs(300),
            send_hold_time: None,
            send_notification_without_open: true,
            capabilities: LocalCapabilities::default(),
            required_capabilities: Vec::new(),
            strict_role: false,
            rng_seed: 0,
        }
    }

    /// Checks the configuration for values the protocol cannot carry.
    ///
    /// # Errors
    ///
    /// The first problem found, as a [`ConfigError`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.local_asn == 0 || self.local_asn == u32::from(Open::AS_TRANS) {
            return Err(ConfigError::InvalidLocalAsn(self.local_asn));
        }
        if self.local_asn > u32::from(u16::MAX) && !self.capabilities.four_octet_as {
            return Err(ConfigError::FourOctetAsnWithoutCapability(self.local_asn));
        }
        if self.local_id.is_unspecified() {
            return Err(ConfigError::ZeroIdentifier);
        }
        if matches!(self.hold_time, 1 | 2) {
            return Err(ConfigError::InvalidHoldTime(self.hold_time));
        }
        if self.strict_role && self.capabilities.role.is_none() {
            return Err(ConfigError::StrictRoleWithoutRole);
        }
        Ok(())
    }

    /// Our OPEN message.
    pub fn open(&self) -> Open {
        let my_as = u16::try_from(self.local_asn).unwrap_or(Open::AS_TRANS);
        let caps = self.capabilities.to_capabilities(self.local_asn);
        let parameters = if caps.is_empty() {
            Vec::new()
        } else {
            vec![OptionalParameter::Capabilities(caps)]
        };
        Open {
            version: 4,
            my_as,
            hold_time: self.hold_time,
            bgp_identifier: self.local_id,
            parameters,
            extended_parameters_length: false,
        }
    }
}

/// A configuration value the protocol cannot carry.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ConfigError {
    /// AS 0 (RFC 7607) or AS_TRANS (RFC 6793) as the local AS.
    #[error("local AS {0} is not usable")]
    InvalidLocalAsn(u32),
    /// A 4-octet local AS without the 4-octet AS capability.
    #[error("local AS {0} needs the 4-octet AS capability")]
    FourOctetAsnWithoutCapability(u32),
    /// BGP identifier 0.0.0.0.
    #[error("the BGP identifier must not be zero")]
    ZeroIdentifier,
    /// Hold time of 1 or 2 seconds (RFC 4271 section 4.2).
    #[error("hold time {0} s: must be 0 or at least 3")]
    InvalidHoldTime(u16),
    /// Strict role mode without a local role.
    #[error("strict role mode needs a local role")]
    StrictRoleWithoutRole,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SessionConfig {
        SessionConfig::new(65001, Ipv4Addr::new(10, 0, 0, 1), 65002)
    }

    #[test]
    fn validate_refuses_what_the_protocol_cannot_carry() {
        assert_eq!(config().validate(), Ok(()));
        let mut c = config();
        c.local_asn = 0;
        assert_eq!(c.validate(), Err(ConfigError::InvalidLocalAsn(0)));
        c.local_asn = 23456;
        assert_eq!(c.validate(), Err(ConfigError::InvalidLocalAsn(23456)));
        let mut c = config();
        c.local_asn = 4_200_000_000;
        c.capabilities.four_octet_as = false;
        assert_eq!(
            c.validate(),
            Err(ConfigError::FourOctetAsnWithoutCapability(4_200_000_000))
        );
        let mut c = config();
        c.local_id = Ipv4Addr::UNSPECIFIED;
        assert_eq!(c.validate(), Err(ConfigError::ZeroIdentifier));
        let mut c = config();
        c.hold_time = 2;
        assert_eq!(c.validate(), Err(ConfigError::InvalidHoldTime(2)));
        let mut c = config();
        c.strict_role = true;
        assert_eq!(c.validate(), Err(ConfigError::StrictRoleWithoutRole));
    }

    #[test]
    fn four_octet_local_as_goes_out_as_as_trans() {
        let mut c = config();
        c.local_asn = 4_200_000_001;
        let open = c.open();
        assert_eq!(open.my_as, Open::AS_TRANS);
        assert_eq!(open.asn(), 4_200_000_001);
        assert_eq!(config().open().my_as, 65001);
    }

    #[test]
    fn peer_asn_never_accepts_zero_or_as_trans() {
        assert!(PeerAsn::Any.accepts(1));
        assert!(!PeerAsn::Any.accepts(0));
        assert!(!PeerAsn::Any.accepts(23456));
        assert!(!PeerAsn::Is(23456).accepts(23456));
        assert!(PeerAsn::Between { min: 10, max: 20 }.accepts(20));
        assert!(!PeerAsn::Between { min: 10, max: 20 }.accepts(21));
    }

    #[test]
    fn required_capabilities_encode_as_capability_tlvs() {
        let mut out = Vec::new();
        RequiredCapability::Multiprotocol(Family::IPV6_UNICAST).encode(65001, &mut out);
        RequiredCapability::AddPath(Family::IPV4_UNICAST).encode(65001, &mut out);
        RequiredCapability::FourOctetAs.encode(65001, &mut out);
        RequiredCapability::Code(73).encode(65001, &mut out);
        assert_eq!(
            out,
            [1, 4, 0, 2, 0, 1, 69, 4, 0, 1, 1, 3, 65, 4, 0, 0, 0xfd, 0xe9, 73, 0]
        );
        assert!(RequiredCapability::Code(73).is_met_by(&Capability::Fqdn {
            hostname: Vec::new(),
            domain: Vec::new()
        }));
        assert!(!RequiredCapability::Multiprotocol(Family::IPV6_UNICAST)
            .is_met_by(&Capability::multiprotocol(Family::IPV4_UNICAST)));
    }
}
