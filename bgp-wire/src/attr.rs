//! Path attributes (RFC 4271 section 4.3 and 5, and the RFCs that add attributes).

use std::net::{Ipv4Addr, Ipv6Addr};

use smallvec::SmallVec;

use crate::types::{Family, Nlri, Origin};

/// Path attribute type code (IANA registry), an open code point.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AttrType(pub u8);

impl AttrType {
    /// ORIGIN (RFC 4271).
    pub const ORIGIN: Self = Self(1);
    /// AS_PATH (RFC 4271).
    pub const AS_PATH: Self = Self(2);
    /// NEXT_HOP (RFC 4271).
    pub const NEXT_HOP: Self = Self(3);
    /// MULTI_EXIT_DISC (RFC 4271).
    pub const MULTI_EXIT_DISC: Self = Self(4);
    /// LOCAL_PREF (RFC 4271).
    pub const LOCAL_PREF: Self = Self(5);
    /// ATOMIC_AGGREGATE (RFC 4271).
    pub const ATOMIC_AGGREGATE: Self = Self(6);
    /// AGGREGATOR (RFC 4271, RFC 6793).
    pub const AGGREGATOR: Self = Self(7);
    /// COMMUNITIES (RFC 1997).
    pub const COMMUNITIES: Self = Self(8);
    /// ORIGINATOR_ID (RFC 4456).
    pub const ORIGINATOR_ID: Self = Self(9);
    /// CLUSTER_LIST (RFC 4456).
    pub const CLUSTER_LIST: Self = Self(10);
    /// MP_REACH_NLRI (RFC 4760).
    pub const MP_REACH_NLRI: Self = Self(14);
    /// MP_UNREACH_NLRI (RFC 4760).
    pub const MP_UNREACH_NLRI: Self = Self(15);
    /// EXTENDED COMMUNITIES (RFC 4360).
    pub const EXTENDED_COMMUNITIES: Self = Self(16);
    /// AS4_PATH (RFC 6793).
    pub const AS4_PATH: Self = Self(17);
    /// AS4_AGGREGATOR (RFC 6793).
    pub const AS4_AGGREGATOR: Self = Self(18);
    /// LARGE_COMMUNITY (RFC 8092).
    pub const LARGE_COMMUNITY: Self = Self(32);
    /// ONLY_TO_CUSTOMER (RFC 9234).
    pub const ONLY_TO_CUSTOMER: Self = Self(35);
}

/// The flags octet of a path attribute.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AttrFlags(pub u8);

impl AttrFlags {
    /// Optional (bit 0).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive (bit 1).
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial (bit 2).
    pub const PARTIAL: u8 = 0x20;
    /// Extended length: a 2-octet length follows (bit 3).
    pub const EXTENDED_LENGTH: u8 = 0x10;

    /// Optional bit set.
    pub fn is_optional(self) -> bool {
        self.0 & Self::OPTIONAL != 0
    }
    /// Transitive bit set.
    pub fn is_transitive(self) -> bool {
        self.0 & Self::TRANSITIVE != 0
    }
    /// Partial bit set.
    pub fn is_partial(self) -> bool {
        self.0 & Self::PARTIAL != 0
    }
    /// Extended length bit set.
    pub fn is_extended_length(self) -> bool {
        self.0 & Self::EXTENDED_LENGTH != 0
    }
}

/// AS_PATH segment type (RFC 4271, RFC 5065).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum SegmentType {
    /// AS_SET (1): unordered; counts as one for path length.
    AsSet,
    /// AS_SEQUENCE (2).
    AsSequence,
    /// AS_CONFED_SEQUENCE (3): does not count for path length.
    ConfedSequence,
    /// AS_CONFED_SET (4): does not count for path length.
    ConfedSet,
}

/// One AS_PATH segment; 1 to 255 AS numbers.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct AsPathSegment {
    /// Segment type.
    pub kind: SegmentType,
    /// AS numbers, in wire order.
    pub asns: SmallVec<[u32; 8]>,
}

/// AS_PATH or AS4_PATH value. AS numbers are held as `u32` whatever width they travel in.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct AsPath {
    /// Segments, in wire order.
    pub segments: SmallVec<[AsPathSegment; 1]>,
}

impl AsPath {
    /// A path of one AS_SEQUENCE (empty when `asns` is).
    pub fn from_sequence(asns: impl IntoIterator<Item = u32>) -> Self {
        let mut path = Self::default();
        let asns: SmallVec<[u32; 8]> = asns.into_iter().collect();
        for chunk in asns.chunks(255) {
            path.segments.push(AsPathSegment {
                kind: SegmentType::AsSequence,
                asns: chunk.into(),
            });
        }
        path
    }

    /// Path length for the decision process: each AS in a sequence counts one, each
    /// AS_SET counts one, confederation segments count nothing (RFC 4271 9.1.2.2, RFC 5065).
    pub fn path_length(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::AsSequence => s.asns.len(),
                SegmentType::AsSet => 1,
                SegmentType::ConfedSequence | SegmentType::ConfedSet => 0,
            })
            .sum()
    }

    /// The neighbouring AS: the first AS of the first AS_SEQUENCE, when the path starts
    /// with one (RFC 4271 9.1.2.2 for MED comparison).
    pub fn first_as(&self) -> Option<u32> {
        match self.segments.first() {
            Some(s) if s.kind == SegmentType::AsSequence => s.asns.first().copied(),
            _ => None,
        }
    }

    /// The originating AS: the last AS of a trailing AS_SEQUENCE.
    pub fn origin_as(&self) -> Option<u32> {
        match self.segments.last() {
            Some(s) if s.kind == SegmentType::AsSequence => s.asns.last().copied(),
            _ => None,
        }
    }

    /// Whether any segment holds `asn`.
    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// A new path with `asn` prepended `count` times to the leading AS_SEQUENCE (a new
    /// segment when the path starts otherwise or the leading one is full).
    pub fn prepended(&self, asn: u32, count: usize) -> Self {
        let mut path = self.clone();
        let mut left = count;
        while left > 0 {
            let lead_has_room = matches!(
                path.segments.first(),
                Some(s) if s.kind == SegmentType::AsSequence && s.asns.len() < 255
            );
            if !lead_has_room {
                path.segments.insert(
                    0,
                    AsPathSegment {
                        kind: SegmentType::AsSequence,
                        asns: SmallVec::new(),
                    },
                );
            }
            let lead = &mut path.segments[0];
            let n = left.min(255 - lead.asns.len());
            lead.asns.insert_many(0, std::iter::repeat_n(asn, n));
            left -= n;
        }
        path
    }

    /// RFC 6793 section 4.2.3: rebuild the true path from AS_PATH (as received from a
    /// 2-octet speaker) and AS4_PATH.
    ///
    /// When AS_PATH holds fewer AS numbers than AS4_PATH, AS4_PATH is ignored and AS_PATH
    /// returned. Otherwise the leading part of AS_PATH that AS4_PATH lacks (counting as
    /// [`AsPath::path_length`] does, confederation segments included as they come) is put
    /// in front of AS4_PATH, with the confederation segments that lead it or adjoin what
    /// is taken. Confederation segments of AS4_PATH are dropped: RFC 6793 declares them
    /// obsolete there.
    pub fn merge_as4(&self, as4_path: &Self) -> Self {
        let as4_segments = || {
            as4_path
                .segments
                .iter()
                .filter(|s| matches!(s.kind, SegmentType::AsSequence | SegmentType::AsSet))
        };
        let as4_len: usize = Self {
            segments: as4_segments().cloned().collect(),
        }
        .path_length();
        let Some(mut lead) = self.path_length().checked_sub(as4_len) else {
            return self.clone();
        };
        let mut merged = Self::default();
        for segment in &self.segments {
            // Confederation segments are taken when leading or next to a taken segment
            // (RFC 6793 section 4.2.3); they count for nothing.
            let confed = matches!(
                segment.kind,
                SegmentType::ConfedSequence | SegmentType::ConfedSet
            );
            if lead == 0 && !confed {
                break;
            }
            match segment.kind {
                SegmentType::AsSequence => {
                    let n = lead.min(segment.asns.len());
                    merged.segments.push(AsPathSegment {
                        kind: SegmentType::AsSequence,
                        asns: segment.asns[..n].into(),
                    });
                    lead -= n;
                }
                SegmentType::AsSet => {
                    merged.segments.push(segment.clone());
                    lead -= 1;
                }
                SegmentType::ConfedSequence | SegmentType::ConfedSet => {
                    merged.segments.push(segment.clone())
                }
            }
        }
        for segment in as4_segments() {
            let joinable = matches!(
                merged.segments.last(),
                Some(last) if last.kind == SegmentType::AsSequence
                    && segment.kind == SegmentType::AsSequence
                    && last.asns.len() + segment.asns.len() <= 255
            );
            match merged.segments.last_mut() {
                Some(last) if joinable => last.asns.extend_from_slice(&segment.asns),
                _ => merged.segments.push(segment.clone()),
            }
        }
        merged
    }
}

/// AGGREGATOR or AS4_AGGREGATOR value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Aggregator {
    /// The aggregating AS (2- or 4-octet on the wire as the session says).
    pub asn: u32,
    /// The aggregating speaker's BGP identifier.
    pub address: Ipv4Addr,
}

/// A standard community (RFC 1997).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Community(pub u32);

impl Community {
    /// NO_EXPORT (RFC 1997).
    pub const NO_EXPORT: Self = Self(0xFFFF_FF01);
    /// NO_ADVERTISE (RFC 1997).
    pub const NO_ADVERTISE: Self = Self(0xFFFF_FF02);
    /// NO_EXPORT_SUBCONFED (RFC 1997).
    pub const NO_EXPORT_SUBCONFED: Self = Self(0xFFFF_FF03);
    /// NO_PEER (RFC 3765).
    pub const NO_PEER: Self = Self(0xFFFF_FF04);

    /// `asn:value` form.
    pub const fn new(asn: u16, value: u16) -> Self {
        Self(((asn as u32) << 16) | value as u32)
    }
}

/// An extended community (RFC 4360): eight octets, type first.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ExtendedCommunity(pub [u8; 8]);

/// A large community (RFC 8092).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct LargeCommunity {
    /// Global administrator (an ASN).
    pub global_admin: u32,
    /// First local data part.
    pub local_data_1: u32,
    /// Second local data part.
    pub local_data_2: u32,
}

/// Next hop of an MP_REACH_NLRI (RFC 4760, RFC 2545, RFC 8950).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum MpNextHop {
    /// A 4-octet IPv4 next hop.
    Ipv4(Ipv4Addr),
    /// A 16-octet global IPv6 next hop, optionally followed by a link-local one (32
    /// octets). Valid for IPv6 families and, per RFC 8950, for IPv4 ones.
    Ipv6 {
        /// Global address.
        global: Ipv6Addr,
        /// Link-local address, when 32 octets were sent.
        link_local: Option<Ipv6Addr>,
    },
    /// Any other length or family (VPN route distinguishers, ...), kept as sent.
    Opaque(Vec<u8>),
}

/// NLRI of an MP_REACH/MP_UNREACH: decoded prefixes for IP unicast/multicast families,
/// raw bytes for every other family.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum MpNlri {
    /// Decoded IP prefixes.
    Prefixes(Vec<Nlri>),
    /// The NLRI field of another family, kept as sent.
    Opaque(Vec<u8>),
}

/// MP_REACH_NLRI value (RFC 4760 section 3).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MpReach {
    /// AFI/SAFI.
    pub family: Family,
    /// Next hop.
    pub next_hop: MpNextHop,
    /// The reserved octet (formerly the SNPA count); 0 when built here.
    pub reserved: u8,
    /// Reachable destinations.
    pub nlri: MpNlri,
}

/// MP_UNREACH_NLRI value (RFC 4760 section 4).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MpUnreach {
    /// AFI/SAFI.
    pub family: Family,
    /// Withdrawn destinations.
    pub nlri: MpNlri,
}

/// An attribute this crate does not interpret, kept byte for byte.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct RawAttribute {
    /// Type code.
    pub type_code: AttrType,
    /// Value.
    pub value: Vec<u8>,
}

/// The value of one path attribute.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum AttrValue {
    /// ORIGIN.
    Origin(Origin),
    /// AS_PATH, in the session's AS width.
    AsPath(AsPath),
    /// NEXT_HOP.
    NextHop(Ipv4Addr),
    /// MULTI_EXIT_DISC.
    MultiExitDisc(u32),
    /// LOCAL_PREF.
    LocalPref(u32),
    /// ATOMIC_AGGREGATE.
    AtomicAggregate,
    /// AGGREGATOR, in the session's AS width.
    Aggregator(Aggregator),
    /// COMMUNITIES, in wire order (duplicates kept).
    Communities(Vec<Community>),
    /// ORIGINATOR_ID.
    OriginatorId(Ipv4Addr),
    /// CLUSTER_LIST.
    ClusterList(Vec<Ipv4Addr>),
    /// MP_REACH_NLRI.
    MpReachNlri(MpReach),
    /// MP_UNREACH_NLRI.
    MpUnreachNlri(MpUnreach),
    /// EXTENDED COMMUNITIES.
    ExtendedCommunities(Vec<ExtendedCommunity>),
    /// AS4_PATH (always 4-octet).
    As4Path(AsPath),
    /// AS4_AGGREGATOR (always 4-octet).
    As4Aggregator(Aggregator),
    /// LARGE_COMMUNITY.
    LargeCommunities(Vec<LargeCommunity>),
    /// ONLY_TO_CUSTOMER: the AS that set it.
    OnlyToCustomer(u32),
    /// Any other attribute, with its flags kept so it re-emits unchanged.
    Raw(RawAttribute),
}

/// One path attribute: its flags octet as received (or the canonical one when built
/// here) and its value. Flags are kept so that an attribute re-emits as it came: the
/// partial bit, and the extended-length bit some speakers set on short attributes.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PathAttribute {
    /// Flags octet. For known types the optional and transitive bits always match the type.
    pub flags: AttrFlags,
    /// The value.
    pub value: AttrValue,
}

impl PathAttribute {
    /// An attribute with the canonical flags for its type.
    pub fn new(value: AttrValue) -> Self {
        let flags = match &value {
            AttrValue::Origin(_)
            | AttrValue::AsPath(_)
            | AttrValue::NextHop(_)
            | AttrValue::LocalPref(_)
            | AttrValue::AtomicAggregate => AttrFlags(AttrFlags::TRANSITIVE),
            AttrValue::MultiExitDisc(_)
            | AttrValue::OriginatorId(_)
            | AttrValue::ClusterList(_)
            | AttrValue::MpReachNlri(_)
            | AttrValue::MpUnreachNlri(_) => AttrFlags(AttrFlags::OPTIONAL),
            AttrValue::Aggregator(_)
            | AttrValue::Communities(_)
            | AttrValue::ExtendedCommunities(_)
            | AttrValue::As4Path(_)
            | AttrValue::As4Aggregator(_)
            | AttrValue::LargeCommunities(_)
            | AttrValue::OnlyToCustomer(_) => {
                AttrFlags(AttrFlags::OPTIONAL | AttrFlags::TRANSITIVE)
            }
            // Unknown attributes we originate are optional transitive; callers that keep a
            // received one keep its received flags instead.
            AttrValue::Raw(_) => AttrFlags(AttrFlags::OPTIONAL | AttrFlags::TRANSITIVE),
        };
        Self { flags, value }
    }

    /// The type code.
    pub fn type_code(&self) -> AttrType {
        match &self.value {
            AttrValue::Origin(_) => AttrType::ORIGIN,
            AttrValue::AsPath(_) => AttrType::AS_PATH,
            AttrValue::NextHop(_) => AttrType::NEXT_HOP,
            AttrValue::MultiExitDisc(_) => AttrType::MULTI_EXIT_DISC,
            AttrValue::LocalPref(_) => AttrType::LOCAL_PREF,
            AttrValue::AtomicAggregate => AttrType::ATOMIC_AGGREGATE,
            AttrValue::Aggregator(_) => AttrType::AGGREGATOR,
            AttrValue::Communities(_) => AttrType::COMMUNITIES,
            AttrValue::OriginatorId(_) => AttrType::ORIGINATOR_ID,
            AttrValue::ClusterList(_) => AttrType::CLUSTER_LIST,
            AttrValue::MpReachNlri(_) => AttrType::MP_REACH_NLRI,
            AttrValue::MpUnreachNlri(_) => AttrType::MP_UNREACH_NLRI,
            AttrValue::ExtendedCommunities(_) => AttrType::EXTENDED_COMMUNITIES,
            AttrValue::As4Path(_) => AttrType::AS4_PATH,
            AttrValue::As4Aggregator(_) => AttrType::AS4_AGGREGATOR,
            AttrValue::LargeCommunities(_) => AttrType::LARGE_COMMUNITY,
            AttrValue::OnlyToCustomer(_) => AttrType::ONLY_TO_CUSTOMER,
            AttrValue::Raw(raw) => raw.type_code,
        }
    }
}

/// Arbitrary segments are valid ones: 1 to 255 AS numbers, none of them 0.
#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for AsPathSegment {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let kind = u.arbitrary()?;
        let count = u.int_in_range(1..=255usize)?;
        let mut asns = SmallVec::with_capacity(count);
        for _ in 0..count {
            asns.push(u.arbitrary::<u32>()?.max(1));
        }
        Ok(Self { kind, asns })
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for AsPath {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let segments: Vec<AsPathSegment> = u.arbitrary()?;
        Ok(Self {
            segments: segments.into(),
        })
    }
}

impl AttrType {
    /// The IANA name of the type, when it is one this crate decodes.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::ORIGIN => "ORIGIN",
            Self::AS_PATH => "AS_PATH",
            Self::NEXT_HOP => "NEXT_HOP",
            Self::MULTI_EXIT_DISC => "MULTI_EXIT_DISC",
            Self::LOCAL_PREF => "LOCAL_PREF",
            Self::ATOMIC_AGGREGATE => "ATOMIC_AGGREGATE",
            Self::AGGREGATOR => "AGGREGATOR",
            Self::COMMUNITIES => "COMMUNITIES",
            Self::ORIGINATOR_ID => "ORIGINATOR_ID",
            Self::CLUSTER_LIST => "CLUSTER_LIST",
            Self::MP_REACH_NLRI => "MP_REACH_NLRI",
            Self::MP_UNREACH_NLRI => "MP_UNREACH_NLRI",
            Self::EXTENDED_COMMUNITIES => "EXTENDED COMMUNITIES",
            Self::AS4_PATH => "AS4_PATH",
            Self::AS4_AGGREGATOR => "AS4_AGGREGATOR",
            Self::LARGE_COMMUNITY => "LARGE_COMMUNITY",
            Self::ONLY_TO_CUSTOMER => "ONLY_TO_CUSTOMER",
            _ => return None,
        })
    }
}
