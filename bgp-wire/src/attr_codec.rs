//! Wire encoding of path attribute values, and the RFC 7606 classification of what can
//! be wrong with each one.
//!
//! Decoding one attribute yields its value or an [`AttrFault`]: the treatment RFC 7606
//! (or the RFC defining the attribute) prescribes and the error kind that would be sent
//! in a NOTIFICATION. The caller (the UPDATE decoder) records faults as issues.

use std::net::{Ipv4Addr, Ipv6Addr};

use smallvec::SmallVec;

use crate::attr::{
    Aggregator, AsPath, AsPathSegment, AttrFlags, AttrType, AttrValue, Community,
    ExtendedCommunity, LargeCommunity, MpNextHop, MpNlri, MpReach, MpUnreach, PathAttribute,
    RawAttribute, SegmentType,
};
use crate::cursor::Cursor;
use crate::error::{DecodeErrorKind, Treatment};
use crate::prefix;
use crate::types::{Afi, Family, Origin, SessionParams};

/// AS_TRANS (RFC 6793), sent in 2-octet fields for AS numbers that do not fit.
const AS_TRANS: u32 = 23456;

/// What is wrong with one attribute: the treatment and the NOTIFICATION error kind.
#[derive(Debug)]
pub(crate) struct AttrFault {
    pub(crate) treatment: Treatment,
    pub(crate) kind: DecodeErrorKind,
    /// Offset of the problem, when it lies deeper than the attribute's start.
    pub(crate) offset: Option<usize>,
}

/// Which optional/transitive bits a known type must carry, and the treatment its
/// defining RFC gives a malformed instance. `None` for types this crate does not know.
pub(crate) fn known_type(code: AttrType) -> Option<(u8, Treatment)> {
    const WELL_KNOWN: u8 = AttrFlags::TRANSITIVE;
    const OPT_NON_TRANS: u8 = AttrFlags::OPTIONAL;
    const OPT_TRANS: u8 = AttrFlags::OPTIONAL | AttrFlags::TRANSITIVE;
    use Treatment::{
        AttributeDiscard as Discard, SessionReset as Reset, TreatAsWithdraw as Withdraw,
    };
    Some(match code {
        // RFC 7606 sections 7.1 to 7.5.
        AttrType::ORIGIN | AttrType::AS_PATH | AttrType::NEXT_HOP | AttrType::LOCAL_PREF => {
            (WELL_KNOWN, Withdraw)
        }
        AttrType::MULTI_EXIT_DISC => (OPT_NON_TRANS, Withdraw),
        // RFC 7606 sections 7.6 and 7.7: these do not affect route selection.
        AttrType::ATOMIC_AGGREGATE => (WELL_KNOWN, Discard),
        AttrType::AGGREGATOR => (OPT_TRANS, Discard),
        // RFC 7606 sections 7.8 to 7.10, 7.14; RFC 8092 section 6; RFC 9234 section 5.
        AttrType::COMMUNITIES
        | AttrType::EXTENDED_COMMUNITIES
        | AttrType::LARGE_COMMUNITY
        | AttrType::ONLY_TO_CUSTOMER => (OPT_TRANS, Withdraw),
        AttrType::ORIGINATOR_ID | AttrType::CLUSTER_LIST => (OPT_NON_TRANS, Withdraw),
        // RFC 7606 section 7.11 and 5.3: the NLRI cannot be trusted, so neither can the session.
        AttrType::MP_REACH_NLRI | AttrType::MP_UNREACH_NLRI => (OPT_NON_TRANS, Reset),
        // RFC 6793 section 6: malformed AS4 attributes are discarded.
        AttrType::AS4_PATH | AttrType::AS4_AGGREGATOR => (OPT_TRANS, Discard),
        _ => return None,
    })
}

/// The IPv6 Address Specific Extended Community attribute (RFC 5701), checked as RFC
/// 7606 section 7.15 asks though kept raw.
const IPV6_EXTENDED_COMMUNITIES: AttrType = AttrType(25);
/// ATTR_SET (RFC 6368), kept raw but checked as RFC 6368 section 5 defines malformed,
/// with the treatment RFC 7606 section 7.16 gives it.
const ATTR_SET: AttrType = AttrType(128);
/// The Traffic Engineering attribute (RFC 5543), kept raw. RFC 7606 section 7.13 leaves
/// malformation to the implementation: anything shorter than one interface switching
/// capability descriptor (36 octets) cannot be well formed.
const TRAFFIC_ENGINEERING: AttrType = AttrType(24);
const TE_DESCRIPTOR_LEN: usize = 36;
/// How deep ATTR_SETs may nest before the outer one counts as malformed.
const ATTR_SET_MAX_DEPTH: usize = 4;

/// RFC 6368 section 5: an ATTR_SET is malformed when shorter than its 4-octet origin AS,
/// when the attributes inside do not frame, hold MP_REACH/MP_UNREACH, or are themselves
/// malformed (in their own context: 4-octet AS numbers, as RFC 6368 requires).
fn attr_set_is_malformed(value: &[u8], depth: usize) -> bool {
    if value.len() < 4 || depth >= ATTR_SET_MAX_DEPTH {
        return true;
    }
    let inner_params = SessionParams::modern();
    let mut c = Cursor::new(value, 0);
    c.take(4);
    while !c.is_empty() {
        let rest = c.rest();
        let (Some(flags), Some(code)) = (c.read_u8(), c.read_u8()) else {
            return true;
        };
        let flags = AttrFlags(flags);
        let len = if flags.is_extended_length() {
            c.read_u16().map(usize::from)
        } else {
            c.read_u8().map(usize::from)
        };
        let Some(inner) = len.and_then(|len| c.take(len)) else {
            return true;
        };
        let code = AttrType(code);
        let raw = &rest[..rest.len() - c.remaining()];
        let malformed = match code {
            AttrType::MP_REACH_NLRI | AttrType::MP_UNREACH_NLRI => true,
            ATTR_SET => attr_set_is_malformed(inner, depth + 1),
            // Only what would withdraw routes taints the set: an attribute RFC 7606
            // merely discards does not. RFC 6368 asks for 4-octet AS numbers inside, but
            // speakers on 2-octet sessions send 2-octet ones (seen in captures), so a path
            // or aggregator well formed in either width passes.
            _ => [&inner_params, &SessionParams::default()].iter().all(|p| {
                decode_value(flags, code, raw, inner, 0, p)
                    .is_err_and(|fault| fault.treatment >= Treatment::TreatAsWithdraw)
            }),
        };
        if malformed {
            return true;
        }
    }
    false
}

/// Decodes the value of an attribute whose header was `flags` and `code`, with `raw`
/// the whole attribute as received (for error data) and `value` its value bytes at
/// absolute offset `value_offset`, and appends it to `out`; building it in place saves
/// a copy of the value on the hot path. `Err` says what is wrong with it.
#[inline]
pub(crate) fn decode_attribute_into(
    out: &mut Vec<PathAttribute>,
    flags: AttrFlags,
    code: AttrType,
    raw: &[u8],
    value: &[u8],
    value_offset: usize,
    params: &SessionParams,
) -> Result<(), AttrFault> {
    // The attributes nearly every UPDATE carries, well formed, are built straight into
    // `out`; everything else, and every fault, takes the general path below, which
    // decides the same for these.
    let bits = flags.0 & (AttrFlags::OPTIONAL | AttrFlags::TRANSITIVE);
    const WELL_KNOWN: u8 = AttrFlags::TRANSITIVE;
    const OPT_NON_TRANS: u8 = AttrFlags::OPTIONAL;
    const OPT_TRANS: u8 = AttrFlags::OPTIONAL | AttrFlags::TRANSITIVE;
    // Each value is written where it is pushed, by a function of its own: built apart
    // and moved in, a value costs a copy whose wide loads read the narrower stores just
    // made (flags, tags), a store-forwarding stall on every attribute.
    match (code, bits, value) {
        (AttrType::ORIGIN, WELL_KNOWN, &[origin @ 0..=2]) => {
            push_word::<1>(out, flags, u32::from(origin));
            return Ok(());
        }
        (AttrType::NEXT_HOP, WELL_KNOWN, &[a, b, c, d]) => {
            push_word::<3>(out, flags, u32::from_be_bytes([a, b, c, d]));
            return Ok(());
        }
        (AttrType::MULTI_EXIT_DISC, OPT_NON_TRANS, &[a, b, c, d]) => {
            push_word::<4>(out, flags, u32::from_be_bytes([a, b, c, d]));
            return Ok(());
        }
        (AttrType::LOCAL_PREF, WELL_KNOWN, &[a, b, c, d]) => {
            push_word::<5>(out, flags, u32::from_be_bytes([a, b, c, d]));
            return Ok(());
        }
        (AttrType::COMMUNITIES, OPT_TRANS, _)
            if !value.is_empty() && value.len().is_multiple_of(4) =>
        {
            push_communities(out, flags, value);
            return Ok(());
        }
        (AttrType::MP_REACH_NLRI, OPT_NON_TRANS, _) => {
            // Decoded in place; a malformed one is dropped here and judged below.
            push_built(out, || PathAttribute {
                flags,
                value: AttrValue::MpReachNlri(empty_mp_reach()),
            });
            if let Some(PathAttribute {
                value: AttrValue::MpReachNlri(reach),
                ..
            }) = out.last_mut()
            {
                if decode_mp_reach_into(value, value_offset, params, reach).is_ok() {
                    return Ok(());
                }
            }
            out.pop();
        }
        (AttrType::AS_PATH, WELL_KNOWN, _) => {
            // Decoded in place; a malformed path is dropped here and judged below.
            push_empty_as_path(out, flags);
            if let Some(PathAttribute {
                value: AttrValue::AsPath(path),
                ..
            }) = out.last_mut()
            {
                if decode_as_path_into(value, value_offset, params.four_octet_as, path).is_ok() {
                    return Ok(());
                }
            }
            out.pop();
        }
        _ => {}
    }
    let mut decoded = Some(decode_value(flags, code, raw, value, value_offset, params)?);
    push_built(out, || PathAttribute {
        flags,
        value: decoded.take().unwrap_or(AttrValue::AtomicAggregate),
    });
    Ok(())
}

/// Appends the attribute of type `CODE` (ORIGIN, NEXT_HOP, MULTI_EXIT_DISC or
/// LOCAL_PREF) whose value is `word`, ORIGIN's being 0 to 2.
#[inline(never)]
fn push_word<const CODE: u8>(out: &mut Vec<PathAttribute>, flags: AttrFlags, word: u32) {
    push_built(out, || PathAttribute {
        flags,
        value: match AttrType(CODE) {
            AttrType::ORIGIN => AttrValue::Origin(match word {
                0 => Origin::Igp,
                1 => Origin::Egp,
                _ => Origin::Incomplete,
            }),
            AttrType::NEXT_HOP => AttrValue::NextHop(Ipv4Addr::from(word)),
            AttrType::MULTI_EXIT_DISC => AttrValue::MultiExitDisc(word),
            _ => AttrValue::LocalPref(word),
        },
    });
}

/// Appends the attribute `build` makes, built where it goes. `push` would build it
/// apart and copy it in, reading back with wide loads the narrower stores just made (the
/// flags byte, the tag): a store-forwarding stall on every attribute. `resize_with`
/// calls `build` once the room is there, so the value is written in place.
#[inline(always)]
fn push_built(out: &mut Vec<PathAttribute>, build: impl FnOnce() -> PathAttribute) {
    out.extend(std::iter::once_with(build));
}

/// Appends COMMUNITIES, `value` being a non-empty multiple of 4 bytes long.
#[inline(never)]
fn push_communities(out: &mut Vec<PathAttribute>, flags: AttrFlags, value: &[u8]) {
    let mut list = Some(decode_communities(value));
    push_built(out, || PathAttribute {
        flags,
        value: AttrValue::Communities(list.take().unwrap_or_default()),
    });
}

/// Appends an empty AS_PATH, to be filled in place.
#[inline(never)]
fn push_empty_as_path(out: &mut Vec<PathAttribute>, flags: AttrFlags) {
    push_built(out, || PathAttribute {
        flags,
        value: AttrValue::AsPath(AsPath::default()),
    });
}

/// COMMUNITIES values, `value` being a non-empty multiple of 4 bytes long.
#[inline]
fn decode_communities(value: &[u8]) -> Vec<Community> {
    // A plain loop: collecting from `chunks_exact` goes through a function shared with
    // the other chunk sizes, which divides by the chunk size at run time.
    let mut out = Vec::with_capacity(value.len() / 4);
    let mut rest = value;
    while let [a, b, c, d, ref tail @ ..] = *rest {
        out.push(Community(u32::from_be_bytes([a, b, c, d])));
        rest = tail;
    }
    out
}

#[inline(always)]
fn decode_value(
    flags: AttrFlags,
    code: AttrType,
    raw: &[u8],
    value: &[u8],
    value_offset: usize,
    params: &SessionParams,
) -> Result<AttrValue, AttrFault> {
    let Some((expected_bits, treatment)) = known_type(code) else {
        if !flags.is_optional() {
            return Err(AttrFault {
                treatment: Treatment::SessionReset,
                kind: DecodeErrorKind::UnrecognizedWellKnownAttribute {
                    attribute: raw.to_vec(),
                },
                offset: None,
            });
        }
        let malformed = match code {
            IPV6_EXTENDED_COMMUNITIES => value.is_empty() || !value.len().is_multiple_of(20),
            TRAFFIC_ENGINEERING => value.len() < TE_DESCRIPTOR_LEN,
            ATTR_SET => attr_set_is_malformed(value, 0),
            _ => false,
        };
        if malformed {
            return Err(AttrFault {
                treatment: Treatment::TreatAsWithdraw,
                kind: DecodeErrorKind::AttributeLengthError {
                    attribute: raw.to_vec(),
                },
                offset: None,
            });
        }
        return Ok(AttrValue::Raw(RawAttribute {
            type_code: code,
            value: value.to_vec(),
        }));
    };
    let fault = |kind: DecodeErrorKind| AttrFault {
        treatment,
        kind,
        offset: None,
    };
    let length_error = || {
        fault(DecodeErrorKind::AttributeLengthError {
            attribute: raw.to_vec(),
        })
    };
    if flags.0 & (AttrFlags::OPTIONAL | AttrFlags::TRANSITIVE) != expected_bits {
        return Err(fault(DecodeErrorKind::AttributeFlagsError {
            attribute: raw.to_vec(),
        }));
    }
    let four = |v: &[u8]| -> Option<u32> { Some(u32::from_be_bytes(v.try_into().ok()?)) };
    let value = match code {
        AttrType::ORIGIN => {
            let [origin] = value else {
                return Err(length_error());
            };
            AttrValue::Origin(match origin {
                0 => Origin::Igp,
                1 => Origin::Egp,
                2 => Origin::Incomplete,
                _ => {
                    return Err(fault(DecodeErrorKind::InvalidOriginAttribute {
                        attribute: raw.to_vec(),
                    }))
                }
            })
        }
        AttrType::AS_PATH | AttrType::AS4_PATH => {
            let wide = code == AttrType::AS4_PATH || params.four_octet_as;
            let path = decode_as_path(value, value_offset, wide).map_err(|offset| AttrFault {
                treatment,
                kind: DecodeErrorKind::MalformedAsPath,
                offset: Some(offset),
            })?;
            if code == AttrType::AS_PATH {
                AttrValue::AsPath(path)
            } else {
                AttrValue::As4Path(path)
            }
        }
        // Only the syntax is checked here: whether a next hop is usable (not the receiver's
        // own address, a host on a shared network) is for the session to judge (RFC 4271
        // section 6.3), and 0.0.0.0 appears legitimately in BMP and MRT Loc-RIB data.
        AttrType::NEXT_HOP => {
            AttrValue::NextHop(Ipv4Addr::from(four(value).ok_or_else(length_error)?))
        }
        AttrType::MULTI_EXIT_DISC => {
            AttrValue::MultiExitDisc(four(value).ok_or_else(length_error)?)
        }
        AttrType::LOCAL_PREF => AttrValue::LocalPref(four(value).ok_or_else(length_error)?),
        AttrType::ATOMIC_AGGREGATE => {
            if !value.is_empty() {
                return Err(length_error());
            }
            AttrValue::AtomicAggregate
        }
        AttrType::AGGREGATOR | AttrType::AS4_AGGREGATOR => {
            let wide = code == AttrType::AS4_AGGREGATOR || params.four_octet_as;
            let (asn, address) = match (wide, value.len()) {
                (true, 8) => (four(&value[..4]), four(&value[4..])),
                (false, 6) => (
                    Some(u32::from(u16::from_be_bytes([value[0], value[1]]))),
                    four(&value[2..]),
                ),
                _ => return Err(length_error()),
            };
            let agg = Aggregator {
                asn: asn.expect("length checked"),
                address: Ipv4Addr::from(address.expect("length checked")),
            };
            // RFC 7607: AS 0 makes the attribute malformed.
            if agg.asn == 0 {
                return Err(fault(DecodeErrorKind::OptionalAttributeError {
                    attribute: raw.to_vec(),
                }));
            }
            if code == AttrType::AGGREGATOR {
                AttrValue::Aggregator(agg)
            } else {
                AttrValue::As4Aggregator(agg)
            }
        }
        AttrType::COMMUNITIES => {
            if value.is_empty() || !value.len().is_multiple_of(4) {
                return Err(length_error());
            }
            AttrValue::Communities(decode_communities(value))
        }
        AttrType::ORIGINATOR_ID => {
            AttrValue::OriginatorId(Ipv4Addr::from(four(value).ok_or_else(length_error)?))
        }
        AttrType::CLUSTER_LIST => {
            let chunks = exact_chunks::<4>(value).ok_or_else(length_error)?;
            AttrValue::ClusterList(chunks.map(|c| Ipv4Addr::from(*c)).collect())
        }
        AttrType::EXTENDED_COMMUNITIES => {
            let chunks = exact_chunks::<8>(value).ok_or_else(length_error)?;
            AttrValue::ExtendedCommunities(chunks.map(|c| ExtendedCommunity(*c)).collect())
        }
        AttrType::LARGE_COMMUNITY => {
            let chunks = exact_chunks::<12>(value).ok_or_else(length_error)?;
            AttrValue::LargeCommunities(
                chunks
                    .map(|c| LargeCommunity {
                        global_admin: u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
                        local_data_1: u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
                        local_data_2: u32::from_be_bytes([c[8], c[9], c[10], c[11]]),
                    })
                    .collect(),
            )
        }
        AttrType::ONLY_TO_CUSTOMER => {
            AttrValue::OnlyToCustomer(four(value).ok_or_else(length_error)?)
        }
        AttrType::MP_REACH_NLRI => {
            let reach =
                decode_mp_reach(value, value_offset, params).map_err(|offset| AttrFault {
                    treatment,
                    kind: DecodeErrorKind::OptionalAttributeError {
                        attribute: raw.to_vec(),
                    },
                    offset: Some(offset),
                })?;
            AttrValue::MpReachNlri(reach)
        }
        AttrType::MP_UNREACH_NLRI => {
            let unreach =
                decode_mp_unreach(value, value_offset, params).map_err(|offset| AttrFault {
                    treatment,
                    kind: DecodeErrorKind::OptionalAttributeError {
                        attribute: raw.to_vec(),
                    },
                    offset: Some(offset),
                })?;
            AttrValue::MpUnreachNlri(unreach)
        }
        _ => unreachable!("known_type lists exactly the types handled here"),
    };
    Ok(value)
}

/// The value split into `N`-byte items; `None` unless it is a non-zero multiple of `N`.
fn exact_chunks<const N: usize>(value: &[u8]) -> Option<impl ExactSizeIterator<Item = &[u8; N]>> {
    if value.is_empty() || !value.len().is_multiple_of(N) {
        return None;
    }
    Some(
        value
            .chunks_exact(N)
            .map(|c| <&[u8; N]>::try_from(c).expect("chunks_exact yields N bytes")),
    )
}

/// Decodes AS_PATH segments (RFC 4271 section 4.3, RFC 7606 section 7.2); `Err` is the
/// offset of the malformed segment.
///
/// AS 0 makes the path malformed (RFC 7607); the error is then at the segment holding it.
pub(crate) fn decode_as_path(value: &[u8], base: usize, wide: bool) -> Result<AsPath, usize> {
    let mut path = AsPath::default();
    decode_as_path_into(value, base, wide, &mut path)?;
    Ok(path)
}

/// [`decode_as_path`] into `path`, which must be empty, filling each segment where it
/// lies. On `Err`, `path` holds the segments before the malformed one.
pub(crate) fn decode_as_path_into(
    value: &[u8],
    base: usize,
    wide: bool,
    path: &mut AsPath,
) -> Result<(), usize> {
    let width = if wide { 4 } else { 2 };
    let mut rest = value;
    while !rest.is_empty() {
        let start = base + (value.len() - rest.len());
        let [kind, count, ref tail @ ..] = *rest else {
            return Err(start);
        };
        let kind = match kind {
            1 => SegmentType::AsSet,
            2 => SegmentType::AsSequence,
            3 => SegmentType::ConfedSequence,
            4 => SegmentType::ConfedSet,
            _ => return Err(start),
        };
        if count == 0 {
            return Err(start);
        }
        let len = usize::from(count) * width;
        let (Some(bytes), Some(after)) = (tail.get(..len), tail.get(len..)) else {
            return Err(start);
        };
        path.segments.push(AsPathSegment {
            kind,
            asns: SmallVec::new(),
        });
        let asns = &mut path
            .segments
            .last_mut()
            .expect("a segment was just pushed")
            .asns;
        let well_formed = if wide {
            read_asns::<4>(bytes, asns)
        } else {
            read_asns::<2>(bytes, asns)
        };
        if !well_formed {
            return Err(start);
        }
        rest = after;
    }
    Ok(())
}

/// Appends the AS numbers of `bytes`, `WIDTH` (2 or 4) bytes each, to `asns`; false when
/// one of them is 0.
#[inline(always)]
fn read_asns<const WIDTH: usize>(bytes: &[u8], asns: &mut SmallVec<[u32; 8]>) -> bool {
    // Sized at once and then filled through a slice: pushing one by one keeps the
    // length in memory, a store-to-load dependency on every AS number.
    let count = bytes.len() / WIDTH;
    *asns = if count <= 8 {
        SmallVec::from_buf_and_len([0; 8], count)
    } else {
        SmallVec::from_vec(vec![0; count])
    };
    let mut has_zero = false;
    for (slot, b) in asns.iter_mut().zip(bytes.chunks_exact(WIDTH)) {
        *slot = if WIDTH == 4 {
            u32::from_be_bytes([b[0], b[1], b[2], b[3]])
        } else {
            u32::from(u16::from_be_bytes([b[0], b[1]]))
        };
        has_zero |= *slot == 0;
    }
    !has_zero
}

fn segment_type_code(kind: SegmentType) -> u8 {
    match kind {
        SegmentType::AsSet => 1,
        SegmentType::AsSequence => 2,
        SegmentType::ConfedSequence => 3,
        SegmentType::ConfedSet => 4,
    }
}

fn as_path_len(path: &AsPath, wide: bool) -> usize {
    let width = if wide { 4 } else { 2 };
    path.segments
        .iter()
        .map(|s| {
            let chunks = s.asns.len().div_ceil(255).max(1);
            chunks * 2 + s.asns.len() * width
        })
        .sum()
}

fn emit_as_path(path: &AsPath, wide: bool, out: &mut Vec<u8>) {
    for segment in &path.segments {
        let code = segment_type_code(segment.kind);
        if segment.asns.is_empty() {
            out.extend_from_slice(&[code, 0]);
        }
        // Segments hold at most 255 AS numbers; a longer one is sent as several.
        for chunk in segment.asns.chunks(255) {
            out.push(code);
            out.push(u8::try_from(chunk.len()).expect("chunks of 255"));
            for &asn in chunk {
                emit_asn(asn, wide, out);
            }
        }
    }
}

fn emit_asn(asn: u32, wide: bool, out: &mut Vec<u8>) {
    if wide {
        out.extend_from_slice(&asn.to_be_bytes());
    } else {
        let narrow = u16::try_from(asn).unwrap_or(AS_TRANS as u16);
        out.extend_from_slice(&narrow.to_be_bytes());
    }
}

/// Whether an MP next-hop length is one RFC 4760/2545/8950 allow for an IP family.
fn ip_next_hop_len_ok(afi: Afi, len: usize) -> bool {
    match afi {
        Afi::IPV4 => matches!(len, 4 | 16 | 32),
        Afi::IPV6 => matches!(len, 16 | 32),
        _ => true,
    }
}

fn decode_next_hop(bytes: &[u8]) -> MpNextHop {
    match bytes.len() {
        4 => MpNextHop::Ipv4(Ipv4Addr::from(
            <[u8; 4]>::try_from(bytes).expect("length 4"),
        )),
        16 => MpNextHop::Ipv6 {
            global: Ipv6Addr::from(<[u8; 16]>::try_from(bytes).expect("length 16")),
            link_local: None,
        },
        32 => MpNextHop::Ipv6 {
            global: Ipv6Addr::from(<[u8; 16]>::try_from(&bytes[..16]).expect("length 32")),
            link_local: Some(Ipv6Addr::from(
                <[u8; 16]>::try_from(&bytes[16..]).expect("length 32"),
            )),
        },
        _ => MpNextHop::Opaque(bytes.to_vec()),
    }
}

fn next_hop_len(nh: &MpNextHop) -> usize {
    match nh {
        MpNextHop::Ipv4(_) => 4,
        MpNextHop::Ipv6 {
            link_local: None, ..
        } => 16,
        MpNextHop::Ipv6 {
            link_local: Some(_),
            ..
        } => 32,
        MpNextHop::Opaque(bytes) => bytes.len().min(255),
    }
}

fn emit_next_hop(nh: &MpNextHop, out: &mut Vec<u8>) {
    out.push(u8::try_from(next_hop_len(nh)).expect("at most 255"));
    match nh {
        MpNextHop::Ipv4(a) => out.extend_from_slice(&a.octets()),
        MpNextHop::Ipv6 { global, link_local } => {
            out.extend_from_slice(&global.octets());
            if let Some(ll) = link_local {
                out.extend_from_slice(&ll.octets());
            }
        }
        MpNextHop::Opaque(bytes) => out.extend_from_slice(&bytes[..bytes.len().min(255)]),
    }
}

fn read_family(c: &mut Cursor<'_>) -> Option<Family> {
    let afi = c.read_u16()?;
    let safi = c.read_u8()?;
    Some(Family::new(Afi(afi), crate::types::Safi(safi)))
}

fn decode_mp_nlri(
    c: &mut Cursor<'_>,
    family: Family,
    params: &SessionParams,
) -> Result<MpNlri, usize> {
    if family.is_ip_prefix_family() {
        let add_path = params.add_path.contains(family);
        Ok(MpNlri::Prefixes(prefix::decode_prefix_vec(
            c, family.afi, add_path,
        )?))
    } else {
        Ok(MpNlri::Opaque(c.take_rest().to_vec()))
    }
}

/// MP_REACH_NLRI (RFC 4760 section 3); `Err` is the offset of the problem.
pub(crate) fn decode_mp_reach(
    value: &[u8],
    base: usize,
    params: &SessionParams,
) -> Result<MpReach, usize> {
    let mut reach = empty_mp_reach();
    decode_mp_reach_into(value, base, params, &mut reach)?;
    Ok(reach)
}

/// A placeholder MP_REACH_NLRI, to be filled in place.
fn empty_mp_reach() -> MpReach {
    MpReach {
        family: Family::IPV4_UNICAST,
        next_hop: MpNextHop::Ipv4(Ipv4Addr::UNSPECIFIED),
        reserved: 0,
        nlri: MpNlri::Prefixes(Vec::new()),
    }
}

/// [`decode_mp_reach`] into `reach`, field by field where it lies.
fn decode_mp_reach_into(
    value: &[u8],
    base: usize,
    params: &SessionParams,
    reach: &mut MpReach,
) -> Result<(), usize> {
    let mut c = Cursor::new(value, base);
    let family = read_family(&mut c).ok_or(base)?;
    let nh_offset = c.offset();
    let nh_len = c.read_u8().ok_or(nh_offset)?;
    let nh = c.take(usize::from(nh_len)).ok_or(nh_offset)?;
    if family.is_ip_prefix_family() && !ip_next_hop_len_ok(family.afi, nh.len()) {
        return Err(nh_offset);
    }
    reach.family = family;
    reach.next_hop = decode_next_hop(nh);
    reach.reserved = c.read_u8().ok_or(c.offset())?;
    reach.nlri = decode_mp_nlri(&mut c, family, params)?;
    Ok(())
}

/// MP_UNREACH_NLRI (RFC 4760 section 4); `Err` is the offset of the problem.
pub(crate) fn decode_mp_unreach(
    value: &[u8],
    base: usize,
    params: &SessionParams,
) -> Result<MpUnreach, usize> {
    let mut c = Cursor::new(value, base);
    let family = read_family(&mut c).ok_or(base)?;
    let nlri = decode_mp_nlri(&mut c, family, params)?;
    Ok(MpUnreach { family, nlri })
}

fn mp_nlri_len(nlri: &MpNlri, family: Family, params: &SessionParams) -> usize {
    match nlri {
        MpNlri::Prefixes(p) => prefix::prefixes_len(p, params.add_path.contains(family)),
        MpNlri::Opaque(bytes) => bytes.len(),
    }
}

fn emit_mp_nlri(nlri: &MpNlri, family: Family, params: &SessionParams, out: &mut Vec<u8>) {
    match nlri {
        MpNlri::Prefixes(p) => prefix::emit_prefixes(p, params.add_path.contains(family), out),
        MpNlri::Opaque(bytes) => out.extend_from_slice(bytes),
    }
}

/// Length of an attribute's value as [`emit_value`] writes it.
pub(crate) fn value_len(value: &AttrValue, params: &SessionParams) -> usize {
    match value {
        AttrValue::Origin(_) => 1,
        AttrValue::AsPath(p) => as_path_len(p, params.four_octet_as),
        AttrValue::As4Path(p) => as_path_len(p, true),
        AttrValue::NextHop(_)
        | AttrValue::MultiExitDisc(_)
        | AttrValue::LocalPref(_)
        | AttrValue::OriginatorId(_)
        | AttrValue::OnlyToCustomer(_) => 4,
        AttrValue::AtomicAggregate => 0,
        AttrValue::Aggregator(_) => {
            if params.four_octet_as {
                8
            } else {
                6
            }
        }
        AttrValue::As4Aggregator(_) => 8,
        AttrValue::Communities(c) => c.len() * 4,
        AttrValue::ClusterList(c) => c.len() * 4,
        AttrValue::ExtendedCommunities(c) => c.len() * 8,
        AttrValue::LargeCommunities(c) => c.len() * 12,
        AttrValue::MpReachNlri(r) => {
            3 + 1 + next_hop_len(&r.next_hop) + 1 + mp_nlri_len(&r.nlri, r.family, params)
        }
        AttrValue::MpUnreachNlri(u) => 3 + mp_nlri_len(&u.nlri, u.family, params),
        AttrValue::Raw(raw) => raw.value.len(),
    }
}

/// Appends an attribute's value.
pub(crate) fn emit_value(value: &AttrValue, params: &SessionParams, out: &mut Vec<u8>) {
    match value {
        AttrValue::Origin(o) => out.push(*o as u8),
        AttrValue::AsPath(p) => emit_as_path(p, params.four_octet_as, out),
        AttrValue::As4Path(p) => emit_as_path(p, true, out),
        AttrValue::NextHop(a) | AttrValue::OriginatorId(a) => out.extend_from_slice(&a.octets()),
        AttrValue::MultiExitDisc(v) | AttrValue::LocalPref(v) | AttrValue::OnlyToCustomer(v) => {
            out.extend_from_slice(&v.to_be_bytes())
        }
        AttrValue::AtomicAggregate => {}
        AttrValue::Aggregator(a) => {
            emit_asn(a.asn, params.four_octet_as, out);
            out.extend_from_slice(&a.address.octets());
        }
        AttrValue::As4Aggregator(a) => {
            emit_asn(a.asn, true, out);
            out.extend_from_slice(&a.address.octets());
        }
        AttrValue::Communities(cs) => {
            for c in cs {
                out.extend_from_slice(&c.0.to_be_bytes());
            }
        }
        AttrValue::ClusterList(ids) => {
            for id in ids {
                out.extend_from_slice(&id.octets());
            }
        }
        AttrValue::ExtendedCommunities(cs) => {
            for c in cs {
                out.extend_from_slice(&c.0);
            }
        }
        AttrValue::LargeCommunities(cs) => {
            for c in cs {
                out.extend_from_slice(&c.global_admin.to_be_bytes());
                out.extend_from_slice(&c.local_data_1.to_be_bytes());
                out.extend_from_slice(&c.local_data_2.to_be_bytes());
            }
        }
        AttrValue::MpReachNlri(r) => {
            out.extend_from_slice(&r.family.afi.0.to_be_bytes());
            out.push(r.family.safi.0);
            emit_next_hop(&r.next_hop, out);
            out.push(r.reserved);
            emit_mp_nlri(&r.nlri, r.family, params, out);
        }
        AttrValue::MpUnreachNlri(u) => {
            out.extend_from_slice(&u.family.afi.0.to_be_bytes());
            out.push(u.family.safi.0);
            emit_mp_nlri(&u.nlri, u.family, params, out);
        }
        AttrValue::Raw(raw) => out.extend_from_slice(&raw.value),
    }
}

/// The flags octet sent for `attr`: the stored one, with the optional and transitive
/// bits a known type requires, and the extended-length bit forced on when needed.
fn wire_flags(attr: &PathAttribute, len: usize) -> u8 {
    let mut flags = attr.flags.0;
    if let Some((bits, _)) = known_type(attr.type_code()) {
        flags = (flags & !(AttrFlags::OPTIONAL | AttrFlags::TRANSITIVE)) | bits;
    }
    if len > 255 {
        flags |= AttrFlags::EXTENDED_LENGTH;
    }
    flags
}

/// Encoded size of a whole attribute, header included.
pub(crate) fn attribute_len(attr: &PathAttribute, params: &SessionParams) -> usize {
    let len = value_len(&attr.value, params);
    let header = if wire_flags(attr, len) & AttrFlags::EXTENDED_LENGTH != 0 {
        4
    } else {
        3
    };
    header + len.min(usize::from(u16::MAX))
}

/// Appends a whole attribute, header included.
pub(crate) fn emit_attribute(attr: &PathAttribute, params: &SessionParams, out: &mut Vec<u8>) {
    let len = value_len(&attr.value, params);
    let flags = wire_flags(attr, len);
    out.push(flags);
    out.push(attr.type_code().0);
    if flags & AttrFlags::EXTENDED_LENGTH != 0 {
        out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
    } else {
        out.push(u8::try_from(len).expect("extended length set above 255"));
    }
    let value_start = out.len();
    emit_value(&attr.value, params, out);
    // A value beyond 65535 bytes cannot be sent; keep the length field truthful.
    out.truncate(value_start + len.min(usize::from(u16::MAX)));
}
