//! Path attributes of RIB entries, and the abbreviated MP_REACH_NLRI of RFC 6396.

use crate::attr::PathAttribute;
use crate::error::{AttrIssue, DecodeError};
use crate::types::{Family, SessionParams};
use crate::update::Update;

/// The decoded attributes of a RIB entry.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct RibAttributes {
    /// Attributes in wire order; an abbreviated MP_REACH_NLRI comes out as a full one with
    /// the RIB's family, its next hop, and no NLRI.
    pub attributes: Vec<PathAttribute>,
    /// RFC 7606 problems found (attributes with such problems are left out above).
    pub issues: Vec<AttrIssue>,
}

/// Decodes the path attributes of a RIB entry (TABLE_DUMP_V2 or TABLE_DUMP) of `family`.
///
/// TABLE_DUMP_V2 entries carry MP_REACH_NLRI in one of two forms: the abbreviated one RFC
/// 6396 section 4.3.4 prescribes (next-hop length and next hop, nothing else; OpenBGPD
/// writes it) or the full RFC 4760 attribute (Quagga, FRR, and the RIPE RIS and RouteViews
/// dumps). An abbreviated one is recognised by its first octet being the length of the rest,
/// and rewritten into a full attribute of `family` with that next hop and no NLRI.
///
/// The attributes are then decoded as a bare attribute field on a session with
/// `four_octet_as` (true for TABLE_DUMP_V2, false for TABLE_DUMP), which is what they are.
/// Only entries with an abbreviated MP_REACH_NLRI are copied (to rewrite it); the others
/// are decoded in place.
///
/// # Errors
///
/// The [`DecodeError`] of the attribute decoder, when the attributes are malformed beyond
/// what RFC 7606 lets an UPDATE survive. Its offset counts from the start of `attributes`
/// (after an MP_REACH rewrite, from the start of the rewritten field).
pub fn decode_rib_attributes(
    attributes: &[u8],
    family: Family,
    four_octet_as: bool,
) -> Result<RibAttributes, DecodeError> {
    let params = SessionParams {
        four_octet_as,
        extended_message: true,
        ..SessionParams::default()
    };
    let decoded = if has_abbreviated_mp_reach(attributes) {
        let mut expanded = Vec::with_capacity(attributes.len() + 8);
        expand_abbreviated_mp_reach(attributes, family, &mut expanded);
        Update::parse_path_attributes(&expanded, &params)?
    } else {
        Update::parse_path_attributes(attributes, &params)?
    };
    Ok(RibAttributes {
        attributes: decoded.attributes,
        issues: decoded.issues,
    })
}

/// Walks the attribute headers of `attributes` and yields each (flags, type code, header
/// length, value); stops at the first attribute whose framing is cut short.
fn attribute_headers(attributes: &[u8]) -> impl Iterator<Item = (u8, u8, usize, &[u8])> {
    let mut rest = attributes;
    std::iter::from_fn(move || {
        let [flags, type_code, tail @ ..] = rest else {
            return None;
        };
        let (len, header_len) = match (flags & 0x10 != 0, tail) {
            (true, [hi, lo, ..]) => (usize::from(u16::from_be_bytes([*hi, *lo])), 4),
            (false, [len, ..]) => (usize::from(*len), 3),
            _ => return None,
        };
        let value = rest.get(header_len..header_len + len)?;
        let item = (*flags, *type_code, header_len, value);
        rest = &rest[header_len + len..];
        Some(item)
    })
}

/// Whether an MP_REACH_NLRI value is the RFC 6396 abbreviated form: its first octet is
/// the length of the rest (the next hop), with no AFI/SAFI before it.
fn is_abbreviated_mp_reach(type_code: u8, value: &[u8]) -> bool {
    type_code == 14 && value.first().map(|&n| usize::from(n) + 1) == Some(value.len())
}

fn has_abbreviated_mp_reach(attributes: &[u8]) -> bool {
    attribute_headers(attributes)
        .any(|(_, type_code, _, value)| is_abbreviated_mp_reach(type_code, value))
}

/// Copies `attributes` to `out`, rewriting an abbreviated MP_REACH_NLRI into the full form.
/// Malformed attribute framing is copied as is, for the decoder to report.
fn expand_abbreviated_mp_reach(attributes: &[u8], family: Family, out: &mut Vec<u8>) {
    let mut consumed = 0;
    for (flags, type_code, header_len, value) in attribute_headers(attributes) {
        consumed += header_len + value.len();
        if !is_abbreviated_mp_reach(type_code, value) {
            out.extend_from_slice(&attributes[consumed - header_len - value.len()..consumed]);
            continue;
        }
        // AFI (2) + SAFI (1) + the next-hop length and address + reserved (1).
        let full_len = value.len() + 4;
        if full_len > 255 || flags & 0x10 != 0 {
            out.extend_from_slice(&[flags | 0x10, 14]);
            out.extend_from_slice(&u16::try_from(full_len).unwrap_or(u16::MAX).to_be_bytes());
        } else {
            out.extend_from_slice(&[flags, 14, u8::try_from(full_len).unwrap_or(u8::MAX)]);
        }
        out.extend_from_slice(&family.afi.0.to_be_bytes());
        out.push(family.safi.0);
        out.extend_from_slice(value);
        out.push(0);
    }
    // Malformed framing at the end is copied as is, for the decoder to report.
    out.extend_from_slice(&attributes[consumed..]);
}

#[cfg(test)]
mod rib_attribute_tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::attr::{AttrValue, MpNextHop, MpNlri, MpReach};
    use crate::mrt::TableDumpEntry;

    #[test]
    fn decode_rib_attributes_expands_abbreviated_mp_reach() {
        // ORIGIN IGP, AS_PATH [65001 4200000001] (4-octet), abbreviated MP_REACH with next
        // hop 2001:db8::1, as OpenBGPD writes IPv6 RIB entries.
        let mut attrs = vec![
            0x40, 1, 1, 0, 0x40, 2, 10, 2, 2, 0, 0, 0xfd, 0xe9, 0xfa, 0x56, 0xea, 0x01,
        ];
        attrs.extend_from_slice(&[0x80, 14, 17, 16]);
        attrs.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
        let decoded = decode_rib_attributes(&attrs, Family::IPV6_UNICAST, true).unwrap();
        assert!(decoded.issues.is_empty(), "{:?}", decoded.issues);
        assert_eq!(decoded.attributes.len(), 3);
        let AttrValue::AsPath(path) = &decoded.attributes[1].value else {
            panic!("{decoded:?}")
        };
        assert_eq!(path.origin_as(), Some(4_200_000_001));
        assert_eq!(
            decoded.attributes[2].value,
            AttrValue::MpReachNlri(MpReach {
                family: Family::IPV6_UNICAST,
                next_hop: MpNextHop::Ipv6 {
                    global: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
                    link_local: None
                },
                reserved: 0,
                nlri: MpNlri::Prefixes(Vec::new()),
            })
        );
    }

    #[test]
    fn decode_rib_attributes_takes_the_full_form_too() {
        // The full RFC 4760 form that Quagga, FRR and the RIS dumps write.
        let mut attrs = vec![0x40, 1, 1, 2, 0x80, 14, 21, 0, 2, 1, 16];
        attrs.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9).octets());
        attrs.push(0);
        let decoded = decode_rib_attributes(&attrs, Family::IPV6_UNICAST, true).unwrap();
        let AttrValue::MpReachNlri(reach) = &decoded.attributes[1].value else {
            panic!("{decoded:?}")
        };
        assert_eq!(reach.family, Family::IPV6_UNICAST);
    }

    #[test]
    fn table_dump_v1_attributes_are_two_octet_as() {
        let attrs = [0x40, 1, 1, 0, 0x40, 2, 6, 2, 2, 0xfd, 0xe9, 0x5b, 0xa0];
        let entry = TableDumpEntry {
            view_number: 0,
            sequence: 0,
            prefix: "10.0.0.0/8".parse().unwrap(),
            status: 1,
            originated_time: 0,
            peer_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            peer_as: 65001,
            attributes: &attrs,
        };
        let decoded = entry.decode_attributes().unwrap();
        let AttrValue::AsPath(path) = &decoded.attributes[1].value else {
            panic!("{decoded:?}")
        };
        assert_eq!(path.segments[0].asns.as_slice(), &[65001, 23456]);
    }

    #[test]
    fn malformed_rib_attributes_are_an_error_not_a_panic() {
        // An attribute whose length runs past the end: RFC 7606 treat-as-withdraw, the
        // attribute left out, offsets counted from the start of the attribute field.
        let decoded = decode_rib_attributes(&[0x40, 1, 9, 0], Family::IPV4_UNICAST, true).unwrap();
        assert!(decoded.attributes.is_empty());
        assert_eq!(decoded.issues.len(), 1);
        assert_eq!(
            decoded.issues[0].treatment,
            crate::Treatment::TreatAsWithdraw
        );
        assert_eq!(decoded.issues[0].error.offset, 0);
        // Garbage of every short length.
        for len in 0..8u8 {
            let bytes: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37)).collect();
            let _ = decode_rib_attributes(&bytes, Family::IPV6_UNICAST, true);
        }
    }

    #[test]
    fn abbreviated_mp_reach_is_expanded_and_others_copied() {
        // ORIGIN, abbreviated MP_REACH (next hop 2001:db8::1), unknown attribute 99.
        let mut attrs = vec![0x40, 1, 1, 0, 0x80, 14, 17, 16];
        attrs.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
        attrs.extend_from_slice(&[0xc0, 99, 2, 7, 7]);
        let mut out = Vec::new();
        expand_abbreviated_mp_reach(&attrs, Family::IPV6_UNICAST, &mut out);
        let mut expected = vec![0x40, 1, 1, 0, 0x80, 14, 21, 0, 2, 1, 16];
        expected.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
        expected.push(0);
        expected.extend_from_slice(&[0xc0, 99, 2, 7, 7]);
        assert_eq!(out, expected);

        // A full MP_REACH (extended length) and malformed trailing framing pass unchanged.
        let mut full = vec![0x90, 14, 0, 9, 0, 1, 1, 4, 10, 0, 0, 1, 0];
        full.extend_from_slice(&[0x40, 1]);
        let mut out = Vec::new();
        expand_abbreviated_mp_reach(&full, Family::IPV4_UNICAST, &mut out);
        assert_eq!(out, full);
    }
}
