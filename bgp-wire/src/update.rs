//! UPDATE messages (RFC 4271 section 4.3) and the RFC 7606 view of their errors.

use std::net::Ipv4Addr;

use crate::attr::{
    Aggregator, AsPath, AttrFlags, AttrType, AttrValue, Community, ExtendedCommunity,
    LargeCommunity, MpNextHop, MpNlri, MpReach, MpUnreach, PathAttribute, SegmentType,
};
use crate::attr_codec::{self, AttrFault};
use crate::cursor::Cursor;
use crate::error::{AttrIssue, DecodeError, DecodeErrorKind, Treatment};
use crate::message::HEADER_LEN;
use crate::prefix;
use crate::types::{Afi, Family, Nlri, Origin, SessionParams};

/// An UPDATE message.
///
/// ```text
/// +-----------------------------------------------------+
/// |   Withdrawn Routes Length (2 octets)                |
/// +-----------------------------------------------------+
/// |   Withdrawn Routes (variable)                       |
/// +-----------------------------------------------------+
/// |   Total Path Attribute Length (2 octets)            |
/// +-----------------------------------------------------+
/// |   Path Attributes (variable)                        |
/// +-----------------------------------------------------+
/// |   Network Layer Reachability Information (variable) |
/// +-----------------------------------------------------+
/// ```
///
/// An UPDATE with attribute errors that RFC 7606 does not answer with a session reset
/// still decodes: the problems are in `issues`, the offending attributes are left out of
/// `attributes`, and [`Update::treatment`] says what to do with its routes.
///
/// # Errors
///
/// Decoding fails (and the session must be reset with the error's NOTIFICATION) when:
/// the withdrawn routes or total path attribute lengths overrun the message (3/1,
/// Malformed Attribute List); a prefix in the withdrawn routes or NLRI field is
/// malformed (3/10, Invalid Network Field, RFC 7606 section 5.3); MP_REACH_NLRI or
/// MP_UNREACH_NLRI is malformed (3/9), has wrong flags (3/4), runs past the attribute
/// field (3/1) or appears twice (3/1); or an attribute marked well-known is not
/// recognised (3/2). Every other attribute problem is an [`AttrIssue`].
///
/// | Problem (RFC 7606 section) | Treatment |
/// |---|---|
/// | ORIGIN, AS_PATH, NEXT_HOP, MED, LOCAL_PREF malformed (7.1-7.5) | treat-as-withdraw |
/// | ATOMIC_AGGREGATE, AGGREGATOR malformed (7.6, 7.7) | attribute discard |
/// | COMMUNITIES, ORIGINATOR_ID, CLUSTER_LIST, extended and large communities, OTC | treat-as-withdraw |
/// | AS4_PATH, AS4_AGGREGATOR malformed (RFC 6793 section 6) | attribute discard |
/// | optional/transitive flags wrong for the type (3 c) | the type's treatment |
/// | well-known mandatory attribute missing with routes present (3 d) | treat-as-withdraw |
/// | attribute repeated, other than MP_REACH/MP_UNREACH (3 g) | attribute discard |
/// | attribute running past the attribute field (4) | treat-as-withdraw |
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Update {
    /// IPv4 unicast routes withdrawn (the Withdrawn Routes field).
    pub withdrawn: Vec<Nlri>,
    /// Path attributes in wire order (MP_REACH/MP_UNREACH included).
    pub attributes: Vec<PathAttribute>,
    /// IPv4 unicast routes announced (the NLRI field).
    pub nlri: Vec<Nlri>,
    /// Problems found while decoding, each with its RFC 7606 treatment. Empty on a
    /// well-formed UPDATE and on every UPDATE built here.
    pub issues: Vec<AttrIssue>,
}

/// A set of attribute type codes, one bit each.
#[derive(Default)]
struct TypeSet([u64; 4]);

impl TypeSet {
    /// Adds `code`; false when it was already there.
    fn insert(&mut self, code: u8) -> bool {
        let (word, bit) = (usize::from(code / 64), 1u64 << (code % 64));
        let fresh = self.0[word] & bit == 0;
        self.0[word] |= bit;
        fresh
    }
    fn contains(&self, code: u8) -> bool {
        self.0[usize::from(code / 64)] & (1u64 << (code % 64)) != 0
    }
}

/// The flags, type code, header length and value length of the attribute `field` starts
/// with; `None` when the header itself is cut short.
#[inline]
fn attribute_header(field: &[u8]) -> Option<(u8, u8, usize, usize)> {
    match *field {
        [flags, code, high, low, ..] if flags & AttrFlags::EXTENDED_LENGTH != 0 => {
            Some((flags, code, 4, usize::from(u16::from_be_bytes([high, low]))))
        }
        [flags, code, len, ..] if flags & AttrFlags::EXTENDED_LENGTH == 0 => {
            Some((flags, code, 3, usize::from(len)))
        }
        _ => None,
    }
}

/// How many attributes `field` holds, following the headers without checking the values;
/// for a well-formed field the exact count, never more than `field.len() / 3`.
fn count_attributes(field: &[u8]) -> usize {
    let mut count = 0;
    let mut rest = field;
    while let Some((_, _, header_len, len)) = attribute_header(rest) {
        count += 1;
        match rest.get(header_len + len..) {
            Some(next) => rest = next,
            None => break,
        }
    }
    count
}

impl Update {
    /// An empty UPDATE (which, sent as is, is the IPv4 unicast End-of-RIB marker).
    pub fn new() -> Self {
        Self::default()
    }

    /// An UPDATE announcing IPv4 unicast `nlri` in the NLRI field with `attributes`
    /// (which should hold ORIGIN, AS_PATH and NEXT_HOP).
    pub fn ipv4_announcement(
        attributes: impl IntoIterator<Item = PathAttribute>,
        nlri: impl IntoIterator<Item = Nlri>,
    ) -> Self {
        Self {
            attributes: attributes.into_iter().collect(),
            nlri: nlri.into_iter().collect(),
            ..Self::default()
        }
    }

    /// An UPDATE announcing `nlri` of `family` in an MP_REACH_NLRI placed first (RFC 7606
    /// section 5.1 asks senders to), followed by `attributes`.
    pub fn mp_announcement(
        family: Family,
        next_hop: MpNextHop,
        attributes: impl IntoIterator<Item = PathAttribute>,
        nlri: impl IntoIterator<Item = Nlri>,
    ) -> Self {
        let reach = MpReach {
            family,
            next_hop,
            reserved: 0,
            nlri: MpNlri::Prefixes(nlri.into_iter().collect()),
        };
        let mut all = vec![PathAttribute::new(AttrValue::MpReachNlri(reach))];
        all.extend(attributes);
        Self {
            attributes: all,
            ..Self::default()
        }
    }

    /// An UPDATE withdrawing IPv4 unicast `nlri` in the Withdrawn Routes field.
    pub fn ipv4_withdrawal(nlri: impl IntoIterator<Item = Nlri>) -> Self {
        Self {
            withdrawn: nlri.into_iter().collect(),
            ..Self::default()
        }
    }

    /// An UPDATE withdrawing `nlri` of `family` in an MP_UNREACH_NLRI.
    pub fn mp_withdrawal(family: Family, nlri: impl IntoIterator<Item = Nlri>) -> Self {
        let unreach = MpUnreach {
            family,
            nlri: MpNlri::Prefixes(nlri.into_iter().collect()),
        };
        Self {
            attributes: vec![PathAttribute::new(AttrValue::MpUnreachNlri(unreach))],
            ..Self::default()
        }
    }

    /// The End-of-RIB marker of `family` (RFC 4724 section 2): an empty UPDATE for IPv4
    /// unicast, an empty MP_UNREACH_NLRI otherwise.
    pub fn end_of_rib_marker(family: Family) -> Self {
        if family == Family::IPV4_UNICAST {
            Self::new()
        } else {
            Self::mp_withdrawal(family, [])
        }
    }

    /// Adds an attribute with its canonical flags (builder style).
    #[must_use]
    pub fn with_attribute(mut self, value: AttrValue) -> Self {
        self.attributes.push(PathAttribute::new(value));
        self
    }

    /// Replaces the attribute of the same type, or appends it, with canonical flags.
    pub fn set_attribute(&mut self, value: AttrValue) {
        let attr = PathAttribute::new(value);
        let code = attr.type_code();
        match self.attributes.iter_mut().find(|a| a.type_code() == code) {
            Some(slot) => *slot = attr,
            None => self.attributes.push(attr),
        }
    }

    /// Removes and returns the attribute of type `code`.
    ///
    /// The codec does not know whether the peer is external; a session that does should
    /// remove LOCAL_PREF from UPDATEs received over eBGP (RFC 4271 section 5.1.5, RFC 7606
    /// section 7.5).
    pub fn remove_attribute(&mut self, code: AttrType) -> Option<PathAttribute> {
        let index = self.attributes.iter().position(|a| a.type_code() == code)?;
        Some(self.attributes.remove(index))
    }

    /// Makes AS4_PATH and AS4_AGGREGATOR right for a session with `params` (RFC 6793
    /// sections 4.1 and 4.2.2), from AS_PATH and AGGREGATOR holding the true 4-octet values
    /// (see [`Update::effective_as_path`] for routes learned from 2-octet speakers).
    ///
    /// Existing AS4 attributes are dropped. To a 4-octet speaker nothing more is sent; to a
    /// 2-octet one, AS4_PATH carries the path (without confederation segments) when some
    /// AS does not fit two octets, and AS4_AGGREGATOR the aggregator's AS when it does not,
    /// AGGREGATOR then naming AS_TRANS. AS_PATH itself goes out with AS_TRANS in place of
    /// such AS numbers. [`crate::UpdatePacker`] does this for every message it builds.
    pub fn prepare_as4_attributes(&mut self, params: &SessionParams) {
        prepare_as4_attributes(&mut self.attributes, params);
    }

    /// Applies the rules RFC 7606 gives for UPDATEs from an external peer outside the
    /// local confederation, which the codec cannot apply since it does not know the peer:
    /// LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST are discarded (sections 7.5, 7.9,
    /// 7.10), and an AS_PATH holding confederation segments makes the routes withdrawn
    /// (section 7.2), recorded in `issues` as a Malformed AS_PATH.
    pub fn apply_external_peer_rules(&mut self) {
        self.attributes.retain(|a| {
            !matches!(
                a.value,
                AttrValue::LocalPref(_) | AttrValue::OriginatorId(_) | AttrValue::ClusterList(_)
            )
        });
        let confed = self.as_path().is_some_and(|p| {
            p.segments
                .iter()
                .any(|s| matches!(s.kind, SegmentType::ConfedSequence | SegmentType::ConfedSet))
        });
        if confed {
            self.remove_attribute(AttrType::AS_PATH);
            self.issues.push(AttrIssue {
                type_code: AttrType::AS_PATH.0,
                treatment: Treatment::TreatAsWithdraw,
                error: DecodeError::new(
                    DecodeErrorKind::MalformedAsPath,
                    HEADER_LEN,
                    "confederation segment from an external peer",
                ),
            });
        }
    }

    /// The most severe treatment among `issues`, `None` when there are none.
    pub fn treatment(&self) -> Option<Treatment> {
        self.issues.iter().map(|i| i.treatment).max()
    }

    // --- Decoding and encoding -------------------------------------------------------

    /// Decodes an UPDATE body (the bytes after the 19-byte header). Offsets in errors
    /// count from the start of the message, as if the header were there.
    pub fn parse_body(body: &[u8], params: &SessionParams) -> Result<Self, DecodeError> {
        let mut c = Cursor::new(body, HEADER_LEN);
        let malformed = |offset, context| {
            DecodeError::new(DecodeErrorKind::MalformedAttributeList, offset, context)
        };

        let at = c.offset();
        let withdrawn_len = c
            .read_u16()
            .ok_or_else(|| malformed(at, "withdrawn routes length"))?;
        let mut withdrawn_field = c
            .sub(usize::from(withdrawn_len))
            .ok_or_else(|| malformed(at, "withdrawn routes length overruns the message"))?;
        let at = c.offset();
        let attr_len = c
            .read_u16()
            .ok_or_else(|| malformed(at, "total path attribute length"))?;
        let attr_field = c
            .sub(usize::from(attr_len))
            .ok_or_else(|| malformed(at, "total path attribute length overruns the message"))?;
        let mut nlri_field = c;

        let invalid_network = |offset, context| {
            DecodeError::new(DecodeErrorKind::InvalidNetworkField, offset, context)
        };
        let v4_add_path = params.add_path.contains(Family::IPV4_UNICAST);
        let withdrawn = prefix::decode_prefix_vec(&mut withdrawn_field, Afi::IPV4, v4_add_path)
            .map_err(|offset| invalid_network(offset, "withdrawn route"))?;
        let nlri = prefix::decode_prefix_vec(&mut nlri_field, Afi::IPV4, v4_add_path)
            .map_err(|offset| invalid_network(offset, "NLRI prefix"))?;

        let mut update = Self {
            withdrawn,
            attributes: Vec::new(),
            nlri,
            issues: Vec::new(),
        };
        let attr_offset = attr_field.offset();
        if let Some(seen) = update.parse_attributes(attr_field, params) {
            update.check_mandatory(&seen, attr_offset);
        }
        if update.nlri.is_empty() {
            // RFC 4760 section 3: without an NLRI field NEXT_HOP is to be ignored, so a
            // malformed one harms no route.
            for issue in &mut update.issues {
                if issue.type_code == AttrType::NEXT_HOP.0
                    && issue.treatment == Treatment::TreatAsWithdraw
                {
                    issue.treatment = Treatment::AttributeDiscard;
                }
            }
        }
        if let Some(issue) = update
            .issues
            .iter()
            .find(|i| i.treatment == Treatment::SessionReset)
        {
            return Err(issue.error.clone());
        }
        Ok(update)
    }

    /// Decodes a bare path attribute field, as MRT RIB entries and BMP carry them: an
    /// UPDATE with only `attributes` and `issues` filled. Error offsets count from the
    /// start of `field`. The mandatory-attribute check does not apply (there are no routes).
    ///
    /// # Errors
    ///
    /// The attribute errors that reset a session (see [`Update`]).
    pub fn parse_path_attributes(
        field: &[u8],
        params: &SessionParams,
    ) -> Result<Self, DecodeError> {
        let mut update = Self::default();
        update.parse_attributes(Cursor::new(field, 0), params);
        if let Some(issue) = update
            .issues
            .iter()
            .find(|i| i.treatment == Treatment::SessionReset)
        {
            return Err(issue.error.clone());
        }
        Ok(update)
    }

    /// Decodes the path attributes into `self.attributes` (which must be empty) and
    /// `self.issues`. Returns the type codes met, or `None` when the field could not be
    /// walked to its end (RFC 7606 section 4).
    fn parse_attributes(&mut self, field: Cursor<'_>, params: &SessionParams) -> Option<TypeSet> {
        let base = field.offset();
        let bytes = field.rest();
        // One allocation of the right size: the headers are walked once to count them.
        self.attributes = Vec::with_capacity(count_attributes(bytes));
        let mut seen = TypeSet::default();
        let mut rest = bytes;
        while !rest.is_empty() {
            let start = base + (bytes.len() - rest.len());
            // RFC 7606 section 4; but a truncated MP_REACH/MP_UNREACH leaves routes that
            // cannot be parsed, so treat-as-withdraw is impossible (section 3 (j)).
            let overrun = |type_code: u8| AttrIssue {
                type_code,
                treatment: if matches!(
                    AttrType(type_code),
                    AttrType::MP_REACH_NLRI | AttrType::MP_UNREACH_NLRI
                ) {
                    Treatment::SessionReset
                } else {
                    Treatment::TreatAsWithdraw
                },
                error: DecodeError::new(
                    DecodeErrorKind::MalformedAttributeList,
                    start,
                    "path attribute overruns the total path attribute length",
                ),
            };
            let Some((flags, code, header_len, len)) = attribute_header(rest) else {
                let code = rest.get(1).copied().unwrap_or(0);
                self.issues.push(overrun(code));
                return None;
            };
            let (Some(raw), Some(value)) = (
                rest.get(..header_len + len),
                rest.get(header_len..header_len + len),
            ) else {
                self.issues.push(overrun(code));
                return None;
            };
            rest = rest.get(raw.len()..).unwrap_or_default();
            let value_offset = start + header_len;
            let code_type = AttrType(code);
            if !seen.insert(code) {
                // RFC 7606 section 3 (g).
                let is_mp = matches!(
                    code_type,
                    AttrType::MP_REACH_NLRI | AttrType::MP_UNREACH_NLRI
                );
                self.issues.push(AttrIssue {
                    type_code: code,
                    treatment: if is_mp {
                        Treatment::SessionReset
                    } else {
                        Treatment::AttributeDiscard
                    },
                    error: DecodeError::new(
                        DecodeErrorKind::MalformedAttributeList,
                        start,
                        "attribute repeated",
                    ),
                });
                continue;
            }
            let decoded = attr_codec::decode_attribute_into(
                &mut self.attributes,
                AttrFlags(flags),
                code_type,
                raw,
                value,
                value_offset,
                params,
            );
            if let Err(AttrFault {
                treatment,
                kind,
                offset,
            }) = decoded
            {
                self.issues.push(AttrIssue {
                    type_code: code,
                    treatment,
                    error: DecodeError::new(kind, offset.unwrap_or(start), "path attribute"),
                });
            }
        }
        Some(seen)
    }

    /// RFC 7606 section 3 (d): missing well-known mandatory attributes make the routes
    /// withdrawn, but only when there are routes: an UPDATE without reachable NLRI needs none.
    #[inline]
    fn check_mandatory(&mut self, seen: &TypeSet, offset: usize) {
        // The common case, all three present, needs no look at the routes.
        if [AttrType::ORIGIN, AttrType::AS_PATH, AttrType::NEXT_HOP]
            .iter()
            .all(|code| seen.contains(code.0))
        {
            return;
        }
        let mp_announces = || {
            self.mp_reach().is_some_and(|r| match &r.nlri {
                MpNlri::Prefixes(p) => !p.is_empty(),
                MpNlri::Opaque(b) => !b.is_empty(),
            })
        };
        if self.nlri.is_empty() && !mp_announces() {
            return;
        }
        let mut required = [AttrType::ORIGIN, AttrType::AS_PATH, AttrType::NEXT_HOP].as_slice();
        if self.nlri.is_empty() {
            // RFC 4760 section 3: NEXT_HOP only goes with the NLRI field.
            required = &required[..2];
        }
        for &code in required {
            // Present but malformed counts as present: its own issue covers it.
            if !seen.contains(code.0) {
                self.issues.push(AttrIssue {
                    type_code: code.0,
                    treatment: Treatment::TreatAsWithdraw,
                    error: DecodeError::new(
                        DecodeErrorKind::MissingWellKnownAttribute { type_code: code.0 },
                        offset,
                        "well-known mandatory attribute missing",
                    ),
                });
            }
        }
    }

    /// The exact size of the body [`Update::emit_body`] writes.
    pub fn encoded_body_len(&self, params: &SessionParams) -> usize {
        let v4_add_path = params.add_path.contains(Family::IPV4_UNICAST);
        4 + prefix::prefixes_len(&self.withdrawn, v4_add_path)
            + self.attributes_len(params)
            + prefix::prefixes_len(&self.nlri, v4_add_path)
    }

    /// The size of the path attributes field.
    pub fn attributes_len(&self, params: &SessionParams) -> usize {
        self.attributes
            .iter()
            .map(|a| attr_codec::attribute_len(a, params))
            .sum()
    }

    /// Appends the body (everything after the 19-byte header). `issues` are not encoded.
    pub fn emit_body(&self, out: &mut Vec<u8>, params: &SessionParams) {
        let v4_add_path = params.add_path.contains(Family::IPV4_UNICAST);
        // Both length fields are filled in once their fields are written.
        let withdrawn_at = out.len();
        out.extend_from_slice(&[0, 0]);
        prefix::emit_prefixes(&self.withdrawn, v4_add_path, out);
        crate::message::patch_length(out, withdrawn_at, withdrawn_at + 2);
        let attrs_at = out.len();
        out.extend_from_slice(&[0, 0]);
        for attr in &self.attributes {
            attr_codec::emit_attribute(attr, params, out);
        }
        crate::message::patch_length(out, attrs_at, attrs_at + 2);
        prefix::emit_prefixes(&self.nlri, v4_add_path, out);
    }

    // --- Attribute accessors ---------------------------------------------------------

    /// The first attribute of type `code` (decoding keeps only the first of each).
    pub fn attribute(&self, code: AttrType) -> Option<&PathAttribute> {
        self.attributes.iter().find(|a| a.type_code() == code)
    }

    fn find<'a, T>(&'a self, pick: impl Fn(&'a AttrValue) -> Option<T>) -> Option<T> {
        self.attributes.iter().find_map(|a| pick(&a.value))
    }

    /// ORIGIN.
    pub fn origin(&self) -> Option<Origin> {
        self.find(|v| match v {
            AttrValue::Origin(o) => Some(*o),
            _ => None,
        })
    }

    /// AS_PATH as received (see [`Update::effective_as_path`] for 2-octet sessions).
    pub fn as_path(&self) -> Option<&AsPath> {
        self.find(|v| match v {
            AttrValue::AsPath(p) => Some(p),
            _ => None,
        })
    }

    /// AS4_PATH.
    pub fn as4_path(&self) -> Option<&AsPath> {
        self.find(|v| match v {
            AttrValue::As4Path(p) => Some(p),
            _ => None,
        })
    }

    /// NEXT_HOP (the IPv4 attribute; see [`Update::mp_reach`] for other families).
    pub fn next_hop(&self) -> Option<Ipv4Addr> {
        self.find(|v| match v {
            AttrValue::NextHop(a) => Some(*a),
            _ => None,
        })
    }

    /// Whether NEXT_HOP is an address no route can use: 0.0.0.0, broadcast, multicast or
    /// class E. RFC 4271 section 6.3 asks that such routes be ignored, without a
    /// NOTIFICATION; the decoder leaves the judgement to the session.
    pub fn has_unusable_next_hop(&self) -> bool {
        self.next_hop().is_some_and(|a| {
            a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.octets()[0] >= 240
        })
    }

    /// MULTI_EXIT_DISC.
    pub fn multi_exit_disc(&self) -> Option<u32> {
        self.find(|v| match v {
            AttrValue::MultiExitDisc(m) => Some(*m),
            _ => None,
        })
    }

    /// LOCAL_PREF.
    pub fn local_pref(&self) -> Option<u32> {
        self.find(|v| match v {
            AttrValue::LocalPref(l) => Some(*l),
            _ => None,
        })
    }

    /// Whether ATOMIC_AGGREGATE is present.
    pub fn atomic_aggregate(&self) -> bool {
        self.attribute(AttrType::ATOMIC_AGGREGATE).is_some()
    }

    /// AGGREGATOR as received (see [`Update::effective_aggregator`]).
    pub fn aggregator(&self) -> Option<Aggregator> {
        self.find(|v| match v {
            AttrValue::Aggregator(a) => Some(*a),
            _ => None,
        })
    }

    /// AS4_AGGREGATOR.
    pub fn as4_aggregator(&self) -> Option<Aggregator> {
        self.find(|v| match v {
            AttrValue::As4Aggregator(a) => Some(*a),
            _ => None,
        })
    }

    /// COMMUNITIES, empty when absent.
    pub fn communities(&self) -> &[Community] {
        self.find(|v| match v {
            AttrValue::Communities(c) => Some(c.as_slice()),
            _ => None,
        })
        .unwrap_or(&[])
    }

    /// EXTENDED COMMUNITIES, empty when absent.
    pub fn extended_communities(&self) -> &[ExtendedCommunity] {
        self.find(|v| match v {
            AttrValue::ExtendedCommunities(c) => Some(c.as_slice()),
            _ => None,
        })
        .unwrap_or(&[])
    }

    /// LARGE_COMMUNITY, empty when absent.
    pub fn large_communities(&self) -> &[LargeCommunity] {
        self.find(|v| match v {
            AttrValue::LargeCommunities(c) => Some(c.as_slice()),
            _ => None,
        })
        .unwrap_or(&[])
    }

    /// ORIGINATOR_ID.
    pub fn originator_id(&self) -> Option<Ipv4Addr> {
        self.find(|v| match v {
            AttrValue::OriginatorId(a) => Some(*a),
            _ => None,
        })
    }

    /// CLUSTER_LIST, empty when absent.
    pub fn cluster_list(&self) -> &[Ipv4Addr] {
        self.find(|v| match v {
            AttrValue::ClusterList(c) => Some(c.as_slice()),
            _ => None,
        })
        .unwrap_or(&[])
    }

    /// ONLY_TO_CUSTOMER (RFC 9234).
    pub fn only_to_customer(&self) -> Option<u32> {
        self.find(|v| match v {
            AttrValue::OnlyToCustomer(a) => Some(*a),
            _ => None,
        })
    }

    /// MP_REACH_NLRI.
    pub fn mp_reach(&self) -> Option<&MpReach> {
        self.find(|v| match v {
            AttrValue::MpReachNlri(r) => Some(r),
            _ => None,
        })
    }

    /// MP_UNREACH_NLRI.
    pub fn mp_unreach(&self) -> Option<&MpUnreach> {
        self.find(|v| match v {
            AttrValue::MpUnreachNlri(u) => Some(u),
            _ => None,
        })
    }

    /// The AS path to use: on a 2-octet session (`!params.four_octet_as`) AS_PATH merged
    /// with AS4_PATH as RFC 6793 section 4.2.3 describes (AS4_PATH is ignored when
    /// AGGREGATOR names an AS other than AS_TRANS while AS4_AGGREGATOR is present); on a
    /// 4-octet session AS_PATH as is. Empty when AS_PATH is absent.
    pub fn effective_as_path(&self, params: &SessionParams) -> AsPath {
        let as_path = self.as_path().cloned().unwrap_or_default();
        if params.four_octet_as {
            return as_path;
        }
        let Some(as4) = self.as4_path() else {
            return as_path;
        };
        let aggregator_overrides = matches!(
            (self.aggregator(), self.as4_aggregator()),
            (Some(agg), Some(_)) if agg.asn != u32::from(crate::open::Open::AS_TRANS)
        );
        if aggregator_overrides {
            return as_path;
        }
        as_path.merge_as4(as4)
    }

    /// The aggregator to use: on a 2-octet session, AS4_AGGREGATOR when AGGREGATOR holds
    /// AS_TRANS (RFC 6793 section 4.2.3); AGGREGATOR otherwise.
    pub fn effective_aggregator(&self, params: &SessionParams) -> Option<Aggregator> {
        let agg = self.aggregator();
        if params.four_octet_as {
            return agg;
        }
        match (agg, self.as4_aggregator()) {
            (Some(a), Some(a4)) if a.asn == u32::from(crate::open::Open::AS_TRANS) => Some(a4),
            _ => agg,
        }
    }

    // --- Routes ----------------------------------------------------------------------

    /// The family this UPDATE is the End-of-RIB marker of (RFC 4724 section 2): an
    /// UPDATE with nothing in it for IPv4 unicast, one holding only an empty
    /// MP_UNREACH_NLRI for its family.
    pub fn end_of_rib(&self) -> Option<Family> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() || !self.issues.is_empty() {
            return None;
        }
        match self.attributes.as_slice() {
            [] => Some(Family::IPV4_UNICAST),
            [PathAttribute {
                value: AttrValue::MpUnreachNlri(u),
                ..
            }] => match &u.nlri {
                MpNlri::Prefixes(p) if p.is_empty() => Some(u.family),
                MpNlri::Opaque(b) if b.is_empty() => Some(u.family),
                _ => None,
            },
            _ => None,
        }
    }

    /// Every prefix announced, with its family: the NLRI field (IPv4 unicast), then the
    /// MP_REACH_NLRI prefixes. Opaque families are not listed. This ignores
    /// [`Update::treatment`]; see [`Update::routes_to_announce`].
    pub fn announced(&self) -> impl Iterator<Item = (Family, &Nlri)> {
        let mp = self.mp_reach().into_iter().flat_map(|r| {
            let prefixes: &[Nlri] = match &r.nlri {
                MpNlri::Prefixes(p) => p,
                MpNlri::Opaque(_) => &[],
            };
            prefixes.iter().map(move |n| (r.family, n))
        });
        self.nlri
            .iter()
            .map(|n| (Family::IPV4_UNICAST, n))
            .chain(mp)
    }

    /// Every prefix withdrawn, with its family: the Withdrawn Routes field (IPv4
    /// unicast), then the MP_UNREACH_NLRI prefixes.
    pub fn withdrawn_routes(&self) -> impl Iterator<Item = (Family, &Nlri)> {
        let mp = self.mp_unreach().into_iter().flat_map(|u| {
            let prefixes: &[Nlri] = match &u.nlri {
                MpNlri::Prefixes(p) => p,
                MpNlri::Opaque(_) => &[],
            };
            prefixes.iter().map(move |n| (u.family, n))
        });
        self.withdrawn
            .iter()
            .map(|n| (Family::IPV4_UNICAST, n))
            .chain(mp)
    }

    /// The prefixes to install: [`Update::announced`], or nothing when the treatment
    /// is treat-as-withdraw (RFC 7606 section 2).
    pub fn routes_to_announce(&self) -> impl Iterator<Item = (Family, &Nlri)> {
        let keep = self.treatment() < Some(Treatment::TreatAsWithdraw);
        self.announced().filter(move |_| keep)
    }

    /// The prefixes to remove: [`Update::withdrawn_routes`], plus every announced
    /// prefix when the treatment is treat-as-withdraw (RFC 7606 section 2).
    pub fn routes_to_withdraw(&self) -> impl Iterator<Item = (Family, &Nlri)> {
        let as_withdraw = self.treatment() >= Some(Treatment::TreatAsWithdraw);
        self.withdrawn_routes()
            .chain(self.announced().filter(move |_| as_withdraw))
    }
}

/// Arbitrary UPDATEs for fuzzing: any routes and attributes, never `issues` (those come
/// only from decoding).
#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Update {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self {
            withdrawn: u.arbitrary()?,
            attributes: u.arbitrary()?,
            nlri: u.arbitrary()?,
            issues: Vec::new(),
        })
    }
}

/// See [`Update::prepare_as4_attributes`].
pub(crate) fn prepare_as4_attributes(attributes: &mut Vec<PathAttribute>, params: &SessionParams) {
    attributes.retain(|a| !matches!(a.value, AttrValue::As4Path(_) | AttrValue::As4Aggregator(_)));
    if params.four_octet_as {
        return;
    }
    let wide = |asn: u32| asn > u32::from(u16::MAX);
    let mut as4 = Vec::new();
    for attr in attributes.iter_mut() {
        match &mut attr.value {
            AttrValue::AsPath(path)
                if path
                    .segments
                    .iter()
                    .any(|s| s.asns.iter().any(|&a| wide(a))) =>
            {
                let segments = path
                    .segments
                    .iter()
                    .filter(|s| matches!(s.kind, SegmentType::AsSequence | SegmentType::AsSet))
                    .cloned()
                    .collect();
                as4.push(PathAttribute::new(AttrValue::As4Path(AsPath { segments })));
            }
            AttrValue::Aggregator(agg) if wide(agg.asn) => {
                as4.push(PathAttribute::new(AttrValue::As4Aggregator(*agg)));
                agg.asn = u32::from(crate::open::Open::AS_TRANS);
            }
            _ => {}
        }
    }
    attributes.extend(as4);
}
