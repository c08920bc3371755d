//! OPEN messages (RFC 4271 section 4.2), optional parameters (RFC 9072) and
//! capabilities (RFC 5492 and the RFCs that define each one).

use std::net::Ipv4Addr;

use crate::types::{Afi, Family};

/// An OPEN message.
///
/// ```text
/// +-+-+-+-+-+-+-+-+  Version (4)
/// |    Version    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     My Autonomous System      |  AS_TRANS (23456) for 4-octet ASNs
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           Hold Time           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         BGP Identifier                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Opt Parm Len  |  Optional Parameters (variable; RFC 9072 form when 255/255)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Open {
    /// Protocol version; 4.
    pub version: u8,
    /// My Autonomous System: the 2-octet AS, or AS_TRANS.
    pub my_as: u16,
    /// Proposed hold time in seconds: 0 or at least 3.
    pub hold_time: u16,
    /// BGP identifier.
    pub bgp_identifier: Ipv4Addr,
    /// Optional parameters, in wire order.
    pub parameters: Vec<OptionalParameter>,
    /// Whether the optional parameters use the RFC 9072 extended length encoding. Set
    /// automatically on emit when the parameters do not fit 255 bytes.
    pub extended_parameters_length: bool,
}

impl Open {
    /// AS_TRANS (RFC 6793).
    pub const AS_TRANS: u16 = 23456;

    /// Every capability in every Capabilities parameter, in wire order.
    pub fn capabilities(&self) -> impl Iterator<Item = &Capability> {
        self.parameters.iter().flat_map(|p| match p {
            OptionalParameter::Capabilities(caps) => caps.as_slice(),
            OptionalParameter::Unknown { .. } => &[],
        })
    }

    /// The speaker's AS: the 4-octet AS capability's value when present, else `my_as`.
    pub fn asn(&self) -> u32 {
        self.capabilities()
            .find_map(|c| match c {
                Capability::FourOctetAs(asn) => Some(*asn),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }
}

/// One optional parameter of an OPEN.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum OptionalParameter {
    /// Type 2: capabilities (RFC 5492). One parameter may hold several.
    Capabilities(Vec<Capability>),
    /// Any other type, kept as sent. Decoding refuses these with Unsupported Optional
    /// Parameter; they exist so a caller can build and test them.
    Unknown {
        /// Parameter type.
        param_type: u8,
        /// Value.
        value: Vec<u8>,
    },
}

/// ADD-PATH send/receive mode (RFC 7911 section 4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum AddPathDirection {
    /// 1: able to receive multiple paths.
    Receive,
    /// 2: able to send multiple paths.
    Send,
    /// 3: both.
    Both,
    /// Any other value (invalid per RFC 7911; kept so the session can ignore it).
    Other(u8),
}

/// One family of the ADD-PATH capability.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AddPathEntry {
    /// Family.
    pub family: Family,
    /// Direction.
    pub direction: AddPathDirection,
}

/// One family of the graceful restart capability (RFC 4724).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct GracefulRestartFamily {
    /// Family.
    pub family: Family,
    /// Flags octet (bit 0: forwarding state preserved).
    pub flags: u8,
}

/// Graceful restart capability value (RFC 4724 section 3, RFC 8538 N bit).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct GracefulRestart {
    /// Restart flags, the high 4 bits of the first octet (R = 0x8, N = 0x4).
    pub flags: u8,
    /// Restart time in seconds (12 bits).
    pub restart_time: u16,
    /// Families with their flags.
    pub families: Vec<GracefulRestartFamily>,
}

/// One family of the long-lived graceful restart capability.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct LlgrFamily {
    /// Family.
    pub family: Family,
    /// Flags octet.
    pub flags: u8,
    /// Long-lived stale time in seconds (24 bits).
    pub stale_time: u32,
}

/// BGP role (RFC 9234).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Role {
    /// 0: provider.
    Provider,
    /// 1: route server.
    RouteServer,
    /// 2: route server client.
    RouteServerClient,
    /// 3: customer.
    Customer,
    /// 4: lateral peer.
    Peer,
    /// Unassigned value.
    Other(u8),
}

/// One capability (RFC 5492).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Capability {
    /// 1: multiprotocol extensions (RFC 4760).
    Multiprotocol(Family),
    /// 2: route refresh (RFC 2918).
    RouteRefresh,
    /// 5: extended next hop encoding (RFC 8950): (NLRI family, next-hop AFI) triples.
    ExtendedNextHop(Vec<(Family, Afi)>),
    /// 6: extended message (RFC 8654).
    ExtendedMessage,
    /// 9: BGP role (RFC 9234).
    Role(Role),
    /// 64: graceful restart (RFC 4724).
    GracefulRestart(GracefulRestart),
    /// 65: 4-octet AS number (RFC 6793).
    FourOctetAs(u32),
    /// 69: ADD-PATH (RFC 7911).
    AddPath(Vec<AddPathEntry>),
    /// 70: enhanced route refresh (RFC 7313).
    EnhancedRouteRefresh,
    /// 71: long-lived graceful restart.
    LongLivedGracefulRestart(Vec<LlgrFamily>),
    /// 73: FQDN (hostname and domain name), as sent (UTF-8 not enforced).
    Fqdn {
        /// Host name.
        hostname: Vec<u8>,
        /// Domain name.
        domain: Vec<u8>,
    },
    /// 75: software version, as sent.
    SoftwareVersion(Vec<u8>),
    /// Any other code (including 128, the pre-standard route refresh), kept as sent.
    Unknown {
        /// Capability code.
        code: u8,
        /// Value.
        value: Vec<u8>,
    },
}
