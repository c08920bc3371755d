//! Checking that a value can be encoded faithfully before it is sent: [`EncodeError`],
//! `validate` on each message type, `try_emit` / `try_to_bytes`, and the checked
//! constructors.

use std::net::Ipv4Addr;

use ipnet::IpNet;
use smallvec::SmallVec;

use crate::attr::{
    AsPath, AsPathSegment, AttrFlags, AttrType, AttrValue, MpNextHop, MpNlri, SegmentType,
};
use crate::attr_codec;
use crate::message::{
    Message, MessageType, RouteRefresh, RouteRefreshSubtype, HEADER_LEN, MAX_MESSAGE_LEN,
};
use crate::notification::{ErrorCode, Notification};
use crate::open::{AddPathDirection, Capability, Open, OptionalParameter, Role};
use crate::types::{Afi, Family, Nlri, SessionParams};
use crate::update::Update;

/// Largest AS_PATH segment: the count is one octet.
const MAX_SEGMENT_ASNS: usize = 255;
/// Largest attribute value: the extended length is two octets.
const MAX_ATTRIBUTE_LEN: usize = 65535;
/// Largest capability value: the length is one octet.
const MAX_CAPABILITY_LEN: usize = 255;
/// Largest RFC 9003 shutdown communication: the length is one octet.
const MAX_SHUTDOWN_TEXT_LEN: usize = 255;
/// Largest next hop in MP_REACH_NLRI: the length is one octet.
const MAX_NEXT_HOP_LEN: usize = 255;
/// Capability codes this crate decodes into their own variants.
const DECODED_CAPABILITY_CODES: [u8; 12] = [1, 2, 5, 6, 9, 64, 65, 69, 70, 71, 73, 75];

/// Why a value cannot be encoded faithfully. Each variant names the field and, where
/// there are several, which one (attribute type, segment index, capability code).
///
/// The owned message types have public fields, so nothing stops a caller from building a
/// value the wire cannot carry: an AS_PATH segment of 300 AS numbers, a 70,000-byte
/// attribute, an UPDATE larger than the session allows. [`Message::emit`] never fails;
/// on such a value it writes *something* (its documentation says what) but not that
/// value. [`Message::validate`] says, before anything is written, what cannot be encoded
/// and where; [`Message::try_to_bytes`] and [`Message::try_emit`] check, then encode.
///
/// What "valid" means: `emit` writes the value as it is held, and decoding those bytes
/// with the same [`SessionParams`] gives the value back, with two documented exceptions
/// that are encodings rather than losses: the extended-length bit of an attribute and
/// [`Open::extended_parameters_length`] are set on the wire when the length needs them,
/// and on a 2-octet session AS numbers above 65535 go out as AS_TRANS beside the
/// AS4_PATH / AS4_AGGREGATOR that carries them (RFC 6793). [`Update::issues`] is never
/// encoded and never checked. Raw attributes and opaque NLRI are checked for size only:
/// their content is the sender's business. Every message this crate decodes validates
/// with the parameters it was decoded with.
///
/// Constructors that check, refusing what could not be sent: [`AsPathSegment::new`],
/// [`Open::try_new`], [`Notification::try_new`], [`Notification::try_shutdown`]; and
/// [`crate::UpdatePacker`], whose UPDATEs all validate. The other constructors
/// ([`Update::ipv4_announcement`] and its kin, [`Open::new`], [`AsPath::from_sequence`],
/// [`Notification::shutdown`], the struct literals) do not: check their result with
/// `validate`, or send it with [`Message::try_to_bytes`].
///
/// ```
/// use bgp_wire::{AsPath, AsPathSegment, AttrType, AttrValue, EncodeError, Message,
///     PathAttribute, SegmentType, SessionParams, Update};
///
/// let long = AsPathSegment { kind: SegmentType::AsSequence, asns: (1..=300).collect() };
/// let update = Update::new()
///     .with_attribute(AttrValue::AsPath(AsPath { segments: [long].into_iter().collect() }));
/// let params = SessionParams::modern();
/// assert_eq!(
///     Message::Update(update).try_to_bytes(&params),
///     Err(EncodeError::AsPathSegmentTooLong { type_code: AttrType::AS_PATH, segment: 0, len: 300 })
/// );
/// ```
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The whole message, header included, is longer than allowed: the session's
    /// [`SessionParams::max_message_len`] for UPDATE, NOTIFICATION and ROUTE-REFRESH,
    /// 4096 for OPEN and KEEPALIVE whatever was negotiated (RFC 8654 section 4).
    #[error("{message_type:?} message of {len} bytes exceeds the maximum of {max}")]
    MessageTooLong {
        /// The message type.
        message_type: MessageType,
        /// Its encoded length.
        len: usize,
        /// The limit that applies.
        max: usize,
    },
    /// An attribute value longer than a 2-octet length can say (65535).
    #[error("attribute {type_code:?} value of {len} bytes exceeds 65535")]
    AttributeTooLong {
        /// The attribute type.
        type_code: AttrType,
        /// The value's length.
        len: usize,
    },
    /// An AS_PATH or AS4_PATH segment with more than 255 AS numbers.
    #[error("{type_code:?} segment {segment} holds {len} AS numbers, more than 255")]
    AsPathSegmentTooLong {
        /// AS_PATH or AS4_PATH.
        type_code: AttrType,
        /// Index of the segment in the path.
        segment: usize,
        /// How many AS numbers it holds.
        len: usize,
    },
    /// An AS_PATH or AS4_PATH segment without AS numbers (malformed, RFC 7606 section 7.2).
    #[error("{type_code:?} segment {segment} is empty")]
    AsPathSegmentEmpty {
        /// AS_PATH or AS4_PATH.
        type_code: AttrType,
        /// Index of the segment in the path.
        segment: usize,
    },
    /// AS 0 in a path or aggregator (malformed, RFC 7607).
    #[error("{type_code:?} holds AS 0")]
    AsNumberZero {
        /// The attribute holding it.
        type_code: AttrType,
    },
    /// An AS number above 65535 on a 2-octet AS session, without the AS4_PATH (for
    /// AS_PATH) or AS4_AGGREGATOR (for AGGREGATOR) that would carry it: it would go out as
    /// AS_TRANS and be lost. See [`Update::prepare_as4_attributes`].
    #[error(
        "AS {asn} in {type_code:?} needs 4 octets, and the session has 2 without its AS4 attribute"
    )]
    AsNumberNeedsFourOctets {
        /// AS_PATH or AGGREGATOR.
        type_code: AttrType,
        /// The AS number.
        asn: u32,
    },
    /// The same attribute type twice in one UPDATE (the receiver keeps only the first,
    /// or resets the session for MP_REACH_NLRI / MP_UNREACH_NLRI).
    #[error("attribute {type_code:?} appears more than once")]
    DuplicateAttribute {
        /// The attribute type.
        type_code: AttrType,
    },
    /// A list attribute (COMMUNITIES, CLUSTER_LIST, EXTENDED COMMUNITIES, LARGE_COMMUNITY)
    /// without entries: a zero length is malformed for these.
    #[error("attribute {type_code:?} is empty")]
    EmptyAttribute {
        /// The attribute type.
        type_code: AttrType,
    },
    /// The optional and transitive flag bits of a known attribute disagree with its type:
    /// they would go out corrected, not as held.
    #[error("attribute {type_code:?} has flags {flags:#04x}, its type requires optional/transitive bits {required:#04x}")]
    AttributeFlagsMismatch {
        /// The attribute type.
        type_code: AttrType,
        /// The flags held.
        flags: u8,
        /// The optional and transitive bits the type requires.
        required: u8,
    },
    /// An attribute of a type this crate does not know, without the optional bit: the
    /// receiver would take it for an unrecognised well-known attribute and reset the session.
    #[error("unknown attribute {type_code:?} is not marked optional")]
    UnknownAttributeNotOptional {
        /// The attribute type.
        type_code: AttrType,
    },
    /// A raw attribute whose type code is one this crate decodes: it would come back as
    /// that type's own variant. Use the variant.
    #[error("raw attribute of known type {type_code:?}")]
    RawAttributeOfKnownType {
        /// The attribute type.
        type_code: AttrType,
    },
    /// An MP_REACH_NLRI next hop longer than one octet can say (255).
    #[error("next hop of {len} bytes exceeds 255")]
    NextHopTooLong {
        /// Its length.
        len: usize,
    },
    /// A next hop whose length the family does not allow (RFC 4760, 2545, 8950): IPv4
    /// families take 4, 16 or 32 bytes, IPv6 ones 16 or 32, as the address variants.
    #[error("next hop of {len} bytes is not one {family:?} allows")]
    NextHopNotForFamily {
        /// The family of the MP_REACH_NLRI.
        family: Family,
        /// The next hop's length.
        len: usize,
    },
    /// An opaque next hop of 4, 16 or 32 bytes: it would come back as an address. Use
    /// [`MpNextHop::Ipv4`] or [`MpNextHop::Ipv6`].
    #[error("opaque next hop of {len} bytes has an address length")]
    OpaqueNextHopOfAddressLength {
        /// Its length.
        len: usize,
    },
    /// Decoded prefixes in an MP attribute of a family carried as opaque bytes, or opaque
    /// bytes for an IPv4/IPv6 unicast or multicast family.
    #[error("{family:?} NLRI held in the wrong form (prefixes vs opaque bytes)")]
    NlriFormMismatch {
        /// The family.
        family: Family,
    },
    /// A prefix of the other address family (an IPv6 prefix in the IPv4 NLRI field, ...):
    /// its length does not fit the family's.
    #[error("prefix {prefix} cannot be carried as {family:?}")]
    PrefixFamilyMismatch {
        /// The family of the field.
        family: Family,
        /// The prefix.
        prefix: IpNet,
    },
    /// A prefix with bits set beyond its length: they are not sent.
    #[error("prefix {prefix} has bits set beyond its length")]
    PrefixHostBitsSet {
        /// The prefix.
        prefix: IpNet,
    },
    /// A path identifier present where ADD-PATH is not negotiated for the family (it would
    /// be dropped), or absent where it is (0 would be sent).
    #[error("prefix {prefix} of {family:?}: path identifier {}", if *.add_path { "missing with ADD-PATH" } else { "present without ADD-PATH" })]
    PathIdMismatch {
        /// The family.
        family: Family,
        /// The prefix.
        prefix: IpNet,
        /// Whether the session sends ADD-PATH for the family.
        add_path: bool,
    },
    /// An OPEN version other than 4.
    #[error("OPEN version {version} is not 4")]
    UnsupportedVersion {
        /// The version.
        version: u8,
    },
    /// An OPEN hold time of 1 or 2 seconds (RFC 4271 section 4.2: 0 or at least 3).
    #[error("OPEN hold time {hold_time} is neither 0 nor at least 3")]
    UnacceptableHoldTime {
        /// The hold time.
        hold_time: u16,
    },
    /// An OPEN BGP identifier of 0.0.0.0.
    #[error("OPEN BGP identifier is 0.0.0.0")]
    ZeroBgpIdentifier,
    /// An OPEN optional parameter other than capabilities (RFC 5492 leaves no other in
    /// use; receivers answer Unsupported Optional Parameter).
    #[error("OPEN optional parameter type {param_type} is not capabilities (2)")]
    UnsupportedOptionalParameter {
        /// The parameter type.
        param_type: u8,
    },
    /// A capability value longer than one octet can say (255).
    #[error("capability {code} value of {len} bytes exceeds 255")]
    CapabilityTooLong {
        /// The capability code.
        code: u8,
        /// The value's length.
        len: usize,
    },
    /// A capability field too large for its width on the wire.
    #[error("capability {code} field {field} = {value} exceeds {max}")]
    CapabilityFieldOutOfRange {
        /// The capability code.
        code: u8,
        /// The field.
        field: &'static str,
        /// The value held.
        value: u32,
        /// The largest value the field can carry.
        max: u32,
    },
    /// [`Capability::Unknown`] with a code this crate decodes into its own variant.
    #[error("unknown-capability value with the known code {code}")]
    UnknownCapabilityOfKnownCode {
        /// The capability code.
        code: u8,
    },
    /// A catch-all variant (`Other`, `Reserved`) holding a value that has a variant of
    /// its own: it would come back as that variant.
    #[error("{field} value {value} has its own variant")]
    NamedValueAsOther {
        /// Which field (`Role`, `AddPathDirection`, `RouteRefreshSubtype`).
        field: &'static str,
        /// The value.
        value: u8,
    },
    /// An RFC 9003 shutdown communication longer than 255 bytes.
    #[error("shutdown communication of {len} bytes exceeds 255")]
    ShutdownTextTooLong {
        /// The text's length in bytes.
        len: usize,
    },
    /// ORF entries on a Beginning- or End-of-Route-Refresh, which must be exactly 4 bytes
    /// of body (RFC 7313 section 5).
    #[error("ROUTE-REFRESH {subtype:?} carries ORF entries")]
    OrfEntriesOnDemarcation {
        /// The subtype.
        subtype: RouteRefreshSubtype,
    },
}

fn check_len(message_type: MessageType, len: usize, max: usize) -> Result<(), EncodeError> {
    if len > max {
        return Err(EncodeError::MessageTooLong {
            message_type,
            len,
            max,
        });
    }
    Ok(())
}

impl Message {
    /// Checks that [`Message::emit`] can write this message faithfully on a session with
    /// `params`: every field fits its width, the message fits the size limit, and the
    /// bytes decode back to this value (see the [`EncodeError`] variants).
    ///
    /// # Errors
    ///
    /// The first problem found.
    pub fn validate(&self, params: &SessionParams) -> Result<(), EncodeError> {
        match self {
            Self::Open(open) => open.validate(),
            Self::Update(update) => update.validate(params),
            Self::Notification(n) => n.validate(params),
            Self::Keepalive => Ok(()),
            Self::RouteRefresh(rr) => rr.validate(params),
        }
    }

    /// [`Message::validate`], then [`Message::emit`]. Nothing is written on error.
    ///
    /// # Errors
    ///
    /// What [`Message::validate`] finds.
    pub fn try_emit(&self, out: &mut Vec<u8>, params: &SessionParams) -> Result<(), EncodeError> {
        self.validate(params)?;
        self.emit(out, params);
        Ok(())
    }

    /// [`Message::validate`], then the encoding as a new vector.
    ///
    /// # Errors
    ///
    /// What [`Message::validate`] finds.
    pub fn try_to_bytes(&self, params: &SessionParams) -> Result<Vec<u8>, EncodeError> {
        self.validate(params)?;
        Ok(self.to_bytes(params))
    }
}

impl Update {
    /// Checks that this UPDATE encodes faithfully on a session with `params` (see
    /// [`Message::validate`]). `issues` are not encoded and not checked.
    ///
    /// # Errors
    ///
    /// The first problem found: prefixes first (withdrawn, then NLRI field), then each
    /// attribute in order, then the message size.
    pub fn validate(&self, params: &SessionParams) -> Result<(), EncodeError> {
        for nlri in &self.withdrawn {
            check_prefix(nlri, Family::IPV4_UNICAST, params)?;
        }
        self.validate_all_but_withdrawn(params)
    }

    /// [`validate`](Self::validate) without checking the withdrawn routes' prefixes: for
    /// the packer, whose withdrawn routes passed [`check_routes`] (the same checks)
    /// before it put them in messages, so that a million withdrawals are not checked
    /// twice.
    pub(crate) fn validate_all_but_withdrawn(
        &self,
        params: &SessionParams,
    ) -> Result<(), EncodeError> {
        for nlri in &self.nlri {
            check_prefix(nlri, Family::IPV4_UNICAST, params)?;
        }
        let has = |code: AttrType| self.attributes.iter().any(|a| a.type_code() == code);
        let has_as4_path = has(AttrType::AS4_PATH);
        let has_as4_aggregator = has(AttrType::AS4_AGGREGATOR);
        let mut seen = [false; 256];
        for attr in &self.attributes {
            let type_code = attr.type_code();
            let slot = &mut seen[usize::from(type_code.0)];
            if std::mem::replace(slot, true) {
                return Err(EncodeError::DuplicateAttribute { type_code });
            }
            match attr_codec::known_type(type_code) {
                Some(_) if matches!(attr.value, AttrValue::Raw(_)) => {
                    return Err(EncodeError::RawAttributeOfKnownType { type_code });
                }
                Some((required, _)) => {
                    let bits = attr.flags.0 & (AttrFlags::OPTIONAL | AttrFlags::TRANSITIVE);
                    if bits != required {
                        return Err(EncodeError::AttributeFlagsMismatch {
                            type_code,
                            flags: attr.flags.0,
                            required,
                        });
                    }
                }
                None if !attr.flags.is_optional() => {
                    return Err(EncodeError::UnknownAttributeNotOptional { type_code });
                }
                None => {}
            }
            check_value(&attr.value, params, has_as4_path, has_as4_aggregator)?;
            let len = attr_codec::value_len(&attr.value, params);
            if len > MAX_ATTRIBUTE_LEN {
                return Err(EncodeError::AttributeTooLong { type_code, len });
            }
        }
        check_len(
            MessageType::UPDATE,
            HEADER_LEN + self.encoded_body_len(params),
            params.max_message_len(),
        )
    }
}

/// Checks one attribute value's content (its length is checked by the caller).
fn check_value(
    value: &AttrValue,
    params: &SessionParams,
    has_as4_path: bool,
    has_as4_aggregator: bool,
) -> Result<(), EncodeError> {
    let empty = |type_code| Err(EncodeError::EmptyAttribute { type_code });
    match value {
        AttrValue::AsPath(path) => {
            check_as_path(path, AttrType::AS_PATH)?;
            if !params.four_octet_as && !has_as4_path {
                let wide = path
                    .segments
                    .iter()
                    .flat_map(|s| s.asns.iter())
                    .find(|&&asn| asn > u32::from(u16::MAX));
                if let Some(&asn) = wide {
                    return Err(EncodeError::AsNumberNeedsFourOctets {
                        type_code: AttrType::AS_PATH,
                        asn,
                    });
                }
            }
        }
        AttrValue::As4Path(path) => check_as_path(path, AttrType::AS4_PATH)?,
        AttrValue::Aggregator(agg) => {
            let type_code = AttrType::AGGREGATOR;
            if agg.asn == 0 {
                return Err(EncodeError::AsNumberZero { type_code });
            }
            let wide = agg.asn > u32::from(u16::MAX);
            if wide && !params.four_octet_as && !has_as4_aggregator {
                return Err(EncodeError::AsNumberNeedsFourOctets {
                    type_code,
                    asn: agg.asn,
                });
            }
        }
        AttrValue::As4Aggregator(agg) if agg.asn == 0 => {
            return Err(EncodeError::AsNumberZero {
                type_code: AttrType::AS4_AGGREGATOR,
            });
        }
        AttrValue::Communities(c) if c.is_empty() => return empty(AttrType::COMMUNITIES),
        AttrValue::ClusterList(c) if c.is_empty() => return empty(AttrType::CLUSTER_LIST),
        AttrValue::ExtendedCommunities(c) if c.is_empty() => {
            return empty(AttrType::EXTENDED_COMMUNITIES)
        }
        AttrValue::LargeCommunities(c) if c.is_empty() => return empty(AttrType::LARGE_COMMUNITY),
        AttrValue::MpReachNlri(reach) => {
            check_next_hop(&reach.next_hop, reach.family)?;
            check_mp_nlri(&reach.nlri, reach.family, params)?;
        }
        AttrValue::MpUnreachNlri(unreach) => check_mp_nlri(&unreach.nlri, unreach.family, params)?,
        _ => {}
    }
    Ok(())
}

fn check_as_path(path: &AsPath, type_code: AttrType) -> Result<(), EncodeError> {
    for (segment, s) in path.segments.iter().enumerate() {
        check_segment(&s.asns, type_code, segment)?;
    }
    Ok(())
}

fn check_segment(asns: &[u32], type_code: AttrType, segment: usize) -> Result<(), EncodeError> {
    if asns.is_empty() {
        return Err(EncodeError::AsPathSegmentEmpty { type_code, segment });
    }
    if asns.len() > MAX_SEGMENT_ASNS {
        return Err(EncodeError::AsPathSegmentTooLong {
            type_code,
            segment,
            len: asns.len(),
        });
    }
    if asns.contains(&0) {
        return Err(EncodeError::AsNumberZero { type_code });
    }
    Ok(())
}

fn next_hop_len(next_hop: &MpNextHop) -> usize {
    match next_hop {
        MpNextHop::Ipv4(_) => 4,
        MpNextHop::Ipv6 {
            link_local: None, ..
        } => 16,
        MpNextHop::Ipv6 {
            link_local: Some(_),
            ..
        } => 32,
        MpNextHop::Opaque(bytes) => bytes.len(),
    }
}

fn check_next_hop(next_hop: &MpNextHop, family: Family) -> Result<(), EncodeError> {
    let len = next_hop_len(next_hop);
    if let MpNextHop::Opaque(_) = next_hop {
        if len > MAX_NEXT_HOP_LEN {
            return Err(EncodeError::NextHopTooLong { len });
        }
        if matches!(len, 4 | 16 | 32) {
            return Err(EncodeError::OpaqueNextHopOfAddressLength { len });
        }
    }
    // The decoder refuses, for IP prefix families, lengths other than these (RFC 4760,
    // RFC 2545, RFC 8950); an opaque next hop then has one of the others.
    let allowed = match family.afi {
        _ if !family.is_ip_prefix_family() => true,
        Afi::IPV4 => matches!(len, 4 | 16 | 32),
        _ => matches!(len, 16 | 32),
    };
    if !allowed {
        return Err(EncodeError::NextHopNotForFamily { family, len });
    }
    Ok(())
}

fn check_mp_nlri(nlri: &MpNlri, family: Family, params: &SessionParams) -> Result<(), EncodeError> {
    match nlri {
        MpNlri::Prefixes(prefixes) if family.is_ip_prefix_family() => {
            for n in prefixes {
                check_prefix(n, family, params)?;
            }
            Ok(())
        }
        MpNlri::Opaque(_) if !family.is_ip_prefix_family() => Ok(()),
        _ => Err(EncodeError::NlriFormMismatch { family }),
    }
}

/// Checks routes of `family` as the packer puts them: the IPv4 unicast fields, or an
/// MP attribute's decoded prefixes.
pub(crate) fn check_routes(
    family: Family,
    nlri: &[Nlri],
    params: &SessionParams,
) -> Result<(), EncodeError> {
    if !family.is_ip_prefix_family() {
        return Err(EncodeError::NlriFormMismatch { family });
    }
    nlri.iter()
        .try_for_each(|n| check_prefix(n, family, params))
}

fn check_prefix(nlri: &Nlri, family: Family, params: &SessionParams) -> Result<(), EncodeError> {
    let prefix = nlri.prefix;
    let family_matches = match prefix {
        IpNet::V4(_) => family.afi == Afi::IPV4,
        IpNet::V6(_) => family.afi == Afi::IPV6,
    };
    if !family_matches {
        return Err(EncodeError::PrefixFamilyMismatch { family, prefix });
    }
    // `addr != network` is `trunc() != prefix` without building the truncated prefix.
    if prefix.addr() != prefix.network() {
        return Err(EncodeError::PrefixHostBitsSet { prefix });
    }
    let add_path = params.add_path.contains(family);
    if nlri.path_id.is_some() != add_path {
        return Err(EncodeError::PathIdMismatch {
            family,
            prefix,
            add_path,
        });
    }
    Ok(())
}

impl AsPathSegment {
    /// A segment of `kind` holding `asns`, checked: 1 to 255 AS numbers, none of them 0.
    /// Errors name AS_PATH and segment 0.
    ///
    /// ```
    /// use bgp_wire::{AsPathSegment, EncodeError, SegmentType};
    ///
    /// assert!(AsPathSegment::new(SegmentType::AsSequence, [64500, 64501]).is_ok());
    /// assert!(matches!(
    ///     AsPathSegment::new(SegmentType::AsSet, 1..=256),
    ///     Err(EncodeError::AsPathSegmentTooLong { len: 256, .. })
    /// ));
    /// ```
    ///
    /// # Errors
    ///
    /// [`EncodeError::AsPathSegmentEmpty`], [`EncodeError::AsPathSegmentTooLong`],
    /// [`EncodeError::AsNumberZero`].
    pub fn new(
        kind: SegmentType,
        asns: impl IntoIterator<Item = u32>,
    ) -> Result<Self, EncodeError> {
        let asns: SmallVec<[u32; 8]> = asns.into_iter().collect();
        check_segment(&asns, AttrType::AS_PATH, 0)?;
        Ok(Self { kind, asns })
    }
}

impl Open {
    /// [`Open::new`], checked with [`Open::validate`].
    ///
    /// # Errors
    ///
    /// What [`Open::validate`] finds: hold time 1 or 2, identifier 0.0.0.0, capabilities
    /// that do not fit, an OPEN over 4096 bytes.
    pub fn try_new(
        asn: u32,
        hold_time: u16,
        bgp_identifier: Ipv4Addr,
        capabilities: Vec<Capability>,
    ) -> Result<Self, EncodeError> {
        let open = Self::new(asn, hold_time, bgp_identifier, capabilities);
        open.validate()?;
        Ok(open)
    }

    /// Checks that this OPEN encodes faithfully (see [`Message::validate`]); the OPEN's
    /// limit is 4096 bytes on every session (RFC 8654 section 4).
    ///
    /// # Errors
    ///
    /// The first problem found: the fixed fields, then each parameter and capability in
    /// order, then the size.
    pub fn validate(&self) -> Result<(), EncodeError> {
        if self.version != 4 {
            return Err(EncodeError::UnsupportedVersion {
                version: self.version,
            });
        }
        if matches!(self.hold_time, 1 | 2) {
            return Err(EncodeError::UnacceptableHoldTime {
                hold_time: self.hold_time,
            });
        }
        if self.bgp_identifier.is_unspecified() {
            return Err(EncodeError::ZeroBgpIdentifier);
        }
        for param in &self.parameters {
            match param {
                OptionalParameter::Capabilities(caps) => {
                    for cap in caps {
                        check_capability(cap)?;
                    }
                }
                OptionalParameter::Unknown { param_type, .. } => {
                    return Err(EncodeError::UnsupportedOptionalParameter {
                        param_type: *param_type,
                    })
                }
            }
        }
        check_len(
            MessageType::OPEN,
            HEADER_LEN + self.encoded_body_len(),
            MAX_MESSAGE_LEN,
        )
    }
}

/// The capability's value length as its fields need it (before any cut).
fn capability_value_len(cap: &Capability) -> usize {
    match cap {
        Capability::Multiprotocol { .. } | Capability::FourOctetAs(_) => 4,
        Capability::RouteRefresh
        | Capability::ExtendedMessage
        | Capability::EnhancedRouteRefresh => 0,
        Capability::ExtendedNextHop(e) => e.len() * 6,
        Capability::Role(_) => 1,
        Capability::GracefulRestart(gr) => 2 + gr.families.len() * 4,
        Capability::AddPath(e) => e.len() * 4,
        Capability::LongLivedGracefulRestart(f) => f.len() * 7,
        Capability::Fqdn { hostname, domain } => 2 + hostname.len() + domain.len(),
        Capability::SoftwareVersion(v) => 1 + v.len(),
        Capability::Unknown { value, .. } => value.len(),
    }
}

fn check_capability(cap: &Capability) -> Result<(), EncodeError> {
    let code = cap.code();
    let len = capability_value_len(cap);
    if len > MAX_CAPABILITY_LEN {
        return Err(EncodeError::CapabilityTooLong { code, len });
    }
    let out_of_range = |field, value: u32, max: u32| {
        if value > max {
            Err(EncodeError::CapabilityFieldOutOfRange {
                code,
                field,
                value,
                max,
            })
        } else {
            Ok(())
        }
    };
    match cap {
        Capability::GracefulRestart(gr) => {
            out_of_range("restart flags", u32::from(gr.flags), 0x0f)?;
            out_of_range("restart time", u32::from(gr.restart_time), 0x0fff)?;
        }
        Capability::LongLivedGracefulRestart(families) => {
            for f in families {
                out_of_range("long-lived stale time", f.stale_time, 0x00ff_ffff)?;
            }
        }
        Capability::Role(Role::Other(value)) if *value <= 4 => {
            return Err(EncodeError::NamedValueAsOther {
                field: "Role",
                value: *value,
            })
        }
        Capability::AddPath(entries) => {
            for e in entries {
                if let AddPathDirection::Other(value @ 1..=3) = e.direction {
                    return Err(EncodeError::NamedValueAsOther {
                        field: "AddPathDirection",
                        value,
                    });
                }
            }
        }
        Capability::Unknown { code, .. } if DECODED_CAPABILITY_CODES.contains(code) => {
            return Err(EncodeError::UnknownCapabilityOfKnownCode { code: *code })
        }
        _ => {}
    }
    Ok(())
}

impl Notification {
    /// A NOTIFICATION with `data`, checked to fit 4096 bytes: the limit on every session,
    /// extended messages or not. A larger one may go to a peer that negotiated extended
    /// messages: build it with the struct and check it with [`Notification::validate`].
    ///
    /// # Errors
    ///
    /// [`EncodeError::MessageTooLong`] when the data is over 4075 bytes.
    pub fn try_new(code: ErrorCode, subcode: u8, data: Vec<u8>) -> Result<Self, EncodeError> {
        let notification = Self {
            code,
            subcode,
            data,
        };
        check_len(
            MessageType::NOTIFICATION,
            notification.message_len(),
            MAX_MESSAGE_LEN,
        )?;
        Ok(notification)
    }

    /// [`Notification::shutdown`], refusing a text over 255 bytes instead of cutting it.
    ///
    /// # Errors
    ///
    /// [`EncodeError::ShutdownTextTooLong`].
    pub fn try_shutdown(text: &str, reset: bool) -> Result<Self, EncodeError> {
        if text.len() > MAX_SHUTDOWN_TEXT_LEN {
            return Err(EncodeError::ShutdownTextTooLong { len: text.len() });
        }
        Ok(Self::shutdown(text, reset))
    }

    fn message_len(&self) -> usize {
        HEADER_LEN + 2 + self.data.len()
    }

    /// Checks that this NOTIFICATION fits the session's maximum message size.
    ///
    /// # Errors
    ///
    /// [`EncodeError::MessageTooLong`].
    pub fn validate(&self, params: &SessionParams) -> Result<(), EncodeError> {
        check_len(
            MessageType::NOTIFICATION,
            self.message_len(),
            params.max_message_len(),
        )
    }
}

impl RouteRefresh {
    /// Checks that this ROUTE-REFRESH encodes faithfully: no ORF entries on a BoRR or
    /// EoRR, no reserved subtype that has a name, within the session's size.
    ///
    /// # Errors
    ///
    /// [`EncodeError::OrfEntriesOnDemarcation`], [`EncodeError::NamedValueAsOther`],
    /// [`EncodeError::MessageTooLong`].
    pub fn validate(&self, params: &SessionParams) -> Result<(), EncodeError> {
        match self.subtype {
            RouteRefreshSubtype::Reserved(value @ 0..=2) => {
                return Err(EncodeError::NamedValueAsOther {
                    field: "RouteRefreshSubtype",
                    value,
                })
            }
            RouteRefreshSubtype::BeginningOfRefresh | RouteRefreshSubtype::EndOfRefresh
                if !self.orf_entries.is_empty() =>
            {
                return Err(EncodeError::OrfEntriesOnDemarcation {
                    subtype: self.subtype,
                })
            }
            _ => {}
        }
        check_len(
            MessageType::ROUTE_REFRESH,
            HEADER_LEN + 4 + self.orf_entries.len(),
            params.max_message_len(),
        )
    }
}
