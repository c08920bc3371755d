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
    /// 1: multiprotocol extensions (RFC 4760 section 8).
    ///
    /// ```text
    /// 0       7      15      23      31
    /// +-------+-------+-------+-------+
    /// |      AFI      | Res.  | SAFI  |
    /// +-------+-------+-------+-------+
    /// ```
    Multiprotocol {
        /// The family offered.
        family: Family,
        /// The reserved octet as received. RFC 4760 has the sender set it to 0 and the
        /// receiver ignore it; it is kept so a decoded OPEN re-encodes byte for byte.
        reserved: u8,
    },
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

// --- Decoding and encoding -----------------------------------------------------------

use crate::cursor::Cursor;
use crate::error::{DecodeError, DecodeErrorKind};
use crate::message::HEADER_LEN;
use crate::types::Safi;

/// Optional parameter type of RFC 5492 capabilities.
const PARAM_CAPABILITIES: u8 = 2;
/// The non-extended parameter type that flags the RFC 9072 encoding.
const PARAM_EXTENDED_LENGTH: u8 = 255;

fn malformed(offset: usize, context: &'static str) -> DecodeError {
    DecodeError::new(DecodeErrorKind::MalformedOpen, offset, context)
}

impl Open {
    /// An OPEN for a speaker of AS `asn` (AS_TRANS goes in `my_as` when it does not fit
    /// 2 octets), with the capabilities in one parameter (none when `capabilities` is
    /// empty). The 4-octet AS capability is not added: list it in `capabilities`.
    pub fn new(
        asn: u32,
        hold_time: u16,
        bgp_identifier: Ipv4Addr,
        capabilities: Vec<Capability>,
    ) -> Self {
        let parameters = if capabilities.is_empty() {
            Vec::new()
        } else {
            vec![OptionalParameter::Capabilities(capabilities)]
        };
        Self {
            version: 4,
            my_as: u16::try_from(asn).unwrap_or(Self::AS_TRANS),
            hold_time,
            bgp_identifier,
            parameters,
            extended_parameters_length: false,
        }
    }

    /// Decodes an OPEN body (the bytes after the 19-byte header); offsets in errors
    /// count from the start of the message.
    ///
    /// # Errors
    ///
    /// Version other than 4 (2/1), hold time 1 or 2 (2/6), BGP identifier 0 (2/3),
    /// optional parameter of a type other than capabilities (2/4), and malformed
    /// parameters or capabilities, lengths included (2/0).
    pub fn parse_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::new(body, HEADER_LEN);
        let fixed = c
            .take_array::<10>()
            .ok_or_else(|| malformed(HEADER_LEN, "OPEN fixed fields"))?;
        let version = fixed[0];
        if version != 4 {
            return Err(DecodeError::new(
                DecodeErrorKind::UnsupportedVersionNumber { version },
                HEADER_LEN,
                "OPEN version",
            ));
        }
        let my_as = u16::from_be_bytes([fixed[1], fixed[2]]);
        let hold_time = u16::from_be_bytes([fixed[3], fixed[4]]);
        if matches!(hold_time, 1 | 2) {
            return Err(DecodeError::new(
                DecodeErrorKind::UnacceptableHoldTime { hold_time },
                HEADER_LEN + 3,
                "OPEN hold time",
            ));
        }
        let bgp_identifier = Ipv4Addr::new(fixed[5], fixed[6], fixed[7], fixed[8]);
        if bgp_identifier.is_unspecified() {
            return Err(DecodeError::new(
                DecodeErrorKind::BadBgpIdentifier,
                HEADER_LEN + 5,
                "OPEN BGP identifier",
            ));
        }
        let len_offset = HEADER_LEN + 9;
        let short_len = fixed[9];
        let (extended, params_len) =
            if short_len == 255 && c.rest().first() == Some(&PARAM_EXTENDED_LENGTH) {
                // RFC 9072 section 2: 255, type 255, then a 2-octet length.
                c.read_u8();
                let len = c
                    .read_u16()
                    .ok_or_else(|| malformed(len_offset, "extended optional parameters length"))?;
                (true, usize::from(len))
            } else {
                (false, usize::from(short_len))
            };
        if c.remaining() != params_len {
            return Err(malformed(
                len_offset,
                "optional parameters length disagrees with the message length",
            ));
        }
        let mut parameters = Vec::new();
        while !c.is_empty() {
            let start = c.offset();
            let param_type = c
                .read_u8()
                .ok_or_else(|| malformed(start, "optional parameter type"))?;
            let len = if extended {
                c.read_u16().map(usize::from)
            } else {
                c.read_u8().map(usize::from)
            };
            let len = len.ok_or_else(|| malformed(start, "optional parameter length"))?;
            let value = c
                .sub(len)
                .ok_or_else(|| malformed(start, "optional parameter overruns the parameters"))?;
            if param_type != PARAM_CAPABILITIES {
                return Err(DecodeError::new(
                    DecodeErrorKind::UnsupportedOptionalParameter {
                        parameter_type: param_type,
                    },
                    start,
                    "optional parameter type",
                ));
            }
            parameters.push(OptionalParameter::Capabilities(parse_capabilities(value)?));
        }
        Ok(Self {
            version,
            my_as,
            hold_time,
            bgp_identifier,
            parameters,
            extended_parameters_length: extended,
        })
    }

    fn parameter_value_len(param: &OptionalParameter) -> usize {
        match param {
            OptionalParameter::Capabilities(caps) => {
                caps.iter().map(|c| 2 + capability_value_len(c)).sum()
            }
            OptionalParameter::Unknown { value, .. } => value.len(),
        }
    }

    /// Whether emit uses the RFC 9072 encoding: when asked, or when the parameters need it.
    fn uses_extended_parameters(&self) -> bool {
        self.extended_parameters_length
            || self
                .parameters
                .iter()
                .map(|p| 2 + Self::parameter_value_len(p))
                .sum::<usize>()
                > 255
            || self
                .parameters
                .iter()
                .any(|p| Self::parameter_value_len(p) > 255)
    }

    /// The exact size of the body [`Open::emit_body`] writes.
    pub fn encoded_body_len(&self) -> usize {
        let extended = self.uses_extended_parameters();
        let per_param = if extended { 3 } else { 2 };
        let params: usize = self
            .parameters
            .iter()
            .map(|p| per_param + Self::parameter_value_len(p))
            .sum();
        10 + if extended { 3 } else { 0 } + params
    }

    /// Appends the body (everything after the 19-byte header).
    pub fn emit_body(&self, out: &mut Vec<u8>) {
        let extended = self.uses_extended_parameters();
        out.push(self.version);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.bgp_identifier.octets());
        let per_param = if extended { 3 } else { 2 };
        let params_len: usize = self
            .parameters
            .iter()
            .map(|p| per_param + Self::parameter_value_len(p))
            .sum();
        if extended {
            out.extend_from_slice(&[255, PARAM_EXTENDED_LENGTH]);
            out.extend_from_slice(&u16::try_from(params_len).unwrap_or(u16::MAX).to_be_bytes());
        } else {
            out.push(u8::try_from(params_len).expect("non-extended form only when it fits"));
        }
        for param in &self.parameters {
            let (param_type, len) = match param {
                OptionalParameter::Capabilities(_) => {
                    (PARAM_CAPABILITIES, Self::parameter_value_len(param))
                }
                OptionalParameter::Unknown { param_type, value } => (*param_type, value.len()),
            };
            out.push(param_type);
            if extended {
                out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
            } else {
                out.push(u8::try_from(len).expect("non-extended form only when it fits"));
            }
            match param {
                OptionalParameter::Capabilities(caps) => {
                    for cap in caps {
                        emit_capability(cap, out);
                    }
                }
                OptionalParameter::Unknown { value, .. } => out.extend_from_slice(value),
            }
        }
    }
}

fn parse_capabilities(mut c: Cursor<'_>) -> Result<Vec<Capability>, DecodeError> {
    let mut caps = Vec::with_capacity((c.remaining() / 4).min(32));
    while !c.is_empty() {
        let start = c.offset();
        let (Some(code), Some(len)) = (c.read_u8(), c.read_u8()) else {
            return Err(malformed(start, "capability header"));
        };
        let value = c
            .take(usize::from(len))
            .ok_or_else(|| malformed(start, "capability overruns its parameter"))?;
        caps.push(
            parse_capability(code, value).ok_or_else(|| malformed(start, "capability value"))?,
        );
    }
    Ok(caps)
}

fn read_family(c: &mut Cursor<'_>) -> Option<Family> {
    let afi = c.read_u16()?;
    let safi = c.read_u8()?;
    Some(Family::new(Afi(afi), Safi(safi)))
}

/// Decodes one capability value; `None` when it is malformed.
fn parse_capability(code: u8, value: &[u8]) -> Option<Capability> {
    let mut c = Cursor::new(value, 0);
    let whole = |c: &Cursor<'_>, cap: Capability| c.is_empty().then_some(cap);
    let empty = || value.is_empty();
    let cap = match code {
        1 => {
            let afi = c.read_u16()?;
            let reserved = c.read_u8()?;
            let safi = c.read_u8()?;
            whole(
                &c,
                Capability::Multiprotocol {
                    family: Family::new(Afi(afi), Safi(safi)),
                    reserved,
                },
            )?
        }
        2 if empty() => Capability::RouteRefresh,
        5 if value.len().is_multiple_of(6) => {
            let mut entries = Vec::with_capacity(value.len() / 6);
            while !c.is_empty() {
                let afi = c.read_u16()?;
                let safi = u8::try_from(c.read_u16()?).ok()?;
                let nh_afi = c.read_u16()?;
                entries.push((Family::new(Afi(afi), Safi(safi)), Afi(nh_afi)));
            }
            Capability::ExtendedNextHop(entries)
        }
        6 if empty() => Capability::ExtendedMessage,
        9 => {
            let [role] = value else { return None };
            Capability::Role(match role {
                0 => Role::Provider,
                1 => Role::RouteServer,
                2 => Role::RouteServerClient,
                3 => Role::Customer,
                4 => Role::Peer,
                other => Role::Other(*other),
            })
        }
        64 if value.len() >= 2 && (value.len() - 2).is_multiple_of(4) => {
            let head = c.read_u16()?;
            let mut families = Vec::with_capacity((value.len() - 2) / 4);
            while !c.is_empty() {
                let family = read_family(&mut c)?;
                families.push(GracefulRestartFamily {
                    family,
                    flags: c.read_u8()?,
                });
            }
            Capability::GracefulRestart(GracefulRestart {
                flags: (head >> 12) as u8,
                restart_time: head & 0x0fff,
                families,
            })
        }
        65 => {
            let asn = c.read_u32()?;
            whole(&c, Capability::FourOctetAs(asn))?
        }
        69 if value.len().is_multiple_of(4) => {
            let mut entries = Vec::with_capacity(value.len() / 4);
            while !c.is_empty() {
                let family = read_family(&mut c)?;
                let direction = match c.read_u8()? {
                    1 => AddPathDirection::Receive,
                    2 => AddPathDirection::Send,
                    3 => AddPathDirection::Both,
                    other => AddPathDirection::Other(other),
                };
                entries.push(AddPathEntry { family, direction });
            }
            Capability::AddPath(entries)
        }
        70 if empty() => Capability::EnhancedRouteRefresh,
        71 if value.len().is_multiple_of(7) => {
            let mut families = Vec::with_capacity(value.len() / 7);
            while !c.is_empty() {
                let family = read_family(&mut c)?;
                let flags = c.read_u8()?;
                let [a, b, d] = c.take_array::<3>()?;
                families.push(LlgrFamily {
                    family,
                    flags,
                    stale_time: u32::from_be_bytes([0, a, b, d]),
                });
            }
            Capability::LongLivedGracefulRestart(families)
        }
        73 => {
            let host_len = c.read_u8()?;
            let hostname = c.take(usize::from(host_len))?.to_vec();
            let domain_len = c.read_u8()?;
            let domain = c.take(usize::from(domain_len))?.to_vec();
            whole(&c, Capability::Fqdn { hostname, domain })?
        }
        75 => {
            let len = c.read_u8()?;
            let version = c.take(usize::from(len))?.to_vec();
            whole(&c, Capability::SoftwareVersion(version))?
        }
        2 | 5 | 6 | 64 | 69 | 70 | 71 => return None,
        _ => Capability::Unknown {
            code,
            value: value.to_vec(),
        },
    };
    Some(cap)
}

impl Capability {
    /// The Multiprotocol capability for `family`, reserved octet 0 as RFC 4760 asks
    /// of a sender.
    pub const fn multiprotocol(family: Family) -> Self {
        Self::Multiprotocol {
            family,
            reserved: 0,
        }
    }

    /// The family of a Multiprotocol capability, whatever its reserved octet; `None`
    /// for any other capability.
    pub const fn multiprotocol_family(&self) -> Option<Family> {
        match self {
            Self::Multiprotocol { family, .. } => Some(*family),
            _ => None,
        }
    }

    /// The capability code (RFC 5492 registry).
    pub fn code(&self) -> u8 {
        match self {
            Self::Multiprotocol { .. } => 1,
            Self::RouteRefresh => 2,
            Self::ExtendedNextHop(_) => 5,
            Self::ExtendedMessage => 6,
            Self::Role(_) => 9,
            Self::GracefulRestart(_) => 64,
            Self::FourOctetAs(_) => 65,
            Self::AddPath(_) => 69,
            Self::EnhancedRouteRefresh => 70,
            Self::LongLivedGracefulRestart(_) => 71,
            Self::Fqdn { .. } => 73,
            Self::SoftwareVersion(_) => 75,
            Self::Unknown { code, .. } => *code,
        }
    }
}

fn capability_value_len(cap: &Capability) -> usize {
    let len = match cap {
        Capability::Multiprotocol { .. } | Capability::FourOctetAs(_) => 4,
        Capability::RouteRefresh
        | Capability::ExtendedMessage
        | Capability::EnhancedRouteRefresh => 0,
        Capability::ExtendedNextHop(e) => e.len() * 6,
        Capability::Role(_) => 1,
        Capability::GracefulRestart(gr) => 2 + gr.families.len() * 4,
        Capability::AddPath(e) => e.len() * 4,
        Capability::LongLivedGracefulRestart(f) => f.len() * 7,
        Capability::Fqdn { hostname, domain } => {
            2 + hostname.len().min(255) + domain.len().min(255)
        }
        Capability::SoftwareVersion(v) => 1 + v.len().min(255),
        Capability::Unknown { value, .. } => value.len(),
    };
    // The capability length is one octet; longer values are cut (see `emit_capability`).
    len.min(255)
}

fn emit_family(family: Family, out: &mut Vec<u8>) {
    out.extend_from_slice(&family.afi.0.to_be_bytes());
    out.push(family.safi.0);
}

fn emit_capability(cap: &Capability, out: &mut Vec<u8>) {
    let len = capability_value_len(cap);
    out.push(cap.code());
    out.push(u8::try_from(len).expect("capped at 255"));
    let start = out.len();
    match cap {
        Capability::Multiprotocol { family, reserved } => {
            out.extend_from_slice(&family.afi.0.to_be_bytes());
            out.extend_from_slice(&[*reserved, family.safi.0]);
        }
        Capability::RouteRefresh
        | Capability::ExtendedMessage
        | Capability::EnhancedRouteRefresh => {}
        Capability::ExtendedNextHop(entries) => {
            for (family, nh_afi) in entries {
                out.extend_from_slice(&family.afi.0.to_be_bytes());
                out.extend_from_slice(&u16::from(family.safi.0).to_be_bytes());
                out.extend_from_slice(&nh_afi.0.to_be_bytes());
            }
        }
        Capability::Role(role) => out.push(match role {
            Role::Provider => 0,
            Role::RouteServer => 1,
            Role::RouteServerClient => 2,
            Role::Customer => 3,
            Role::Peer => 4,
            Role::Other(v) => *v,
        }),
        Capability::GracefulRestart(gr) => {
            let head = (u16::from(gr.flags & 0x0f) << 12) | (gr.restart_time & 0x0fff);
            out.extend_from_slice(&head.to_be_bytes());
            for f in &gr.families {
                emit_family(f.family, out);
                out.push(f.flags);
            }
        }
        Capability::FourOctetAs(asn) => out.extend_from_slice(&asn.to_be_bytes()),
        Capability::AddPath(entries) => {
            for e in entries {
                emit_family(e.family, out);
                out.push(match e.direction {
                    AddPathDirection::Receive => 1,
                    AddPathDirection::Send => 2,
                    AddPathDirection::Both => 3,
                    AddPathDirection::Other(v) => v,
                });
            }
        }
        Capability::LongLivedGracefulRestart(families) => {
            for f in families {
                emit_family(f.family, out);
                out.push(f.flags);
                out.extend_from_slice(&f.stale_time.to_be_bytes()[1..]);
            }
        }
        Capability::Fqdn { hostname, domain } => {
            for part in [hostname, domain] {
                let n = part.len().min(255);
                out.push(u8::try_from(n).expect("capped at 255"));
                out.extend_from_slice(&part[..n]);
            }
        }
        Capability::SoftwareVersion(v) => {
            let n = v.len().min(255);
            out.push(u8::try_from(n).expect("capped at 255"));
            out.extend_from_slice(&v[..n]);
        }
        Capability::Unknown { value, .. } => out.extend_from_slice(value),
    }
    // Keep the length octet truthful for values that had to be cut.
    out.truncate(start + len);
}
