//! The floor: a walk over every field of a raw UPDATE that allocates nothing and builds
//! no values, only reads each field once and folds it into a [`Tally`].
//!
//! It is the lower bound a decoder that hands out owned values is measured against: the
//! same reads and the same checksum work, without allocation, validation beyond what
//! keeps the walk in bounds, or error reporting.

use crate::tally::Tally;

/// The walk ran out of bytes or met a length that does not fit; it says nothing more
/// precise, the floor is not a validator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Truncated;

type Walk<T = ()> = Result<T, Truncated>;

fn split(bytes: &[u8], at: usize) -> Walk<(&[u8], &[u8])> {
    if at <= bytes.len() {
        Ok(bytes.split_at(at))
    } else {
        Err(Truncated)
    }
}

fn u16_at(bytes: &[u8], at: usize) -> Walk<u16> {
    match bytes.get(at..at + 2) {
        Some(&[a, b]) => Ok(u16::from_be_bytes([a, b])),
        _ => Err(Truncated),
    }
}

fn u32_of(bytes: &[u8]) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[..4]);
    u32::from_be_bytes(word)
}

/// Walks one UPDATE, header included, as a session with 4-octet AS numbers
/// (`four_octet_as`) or 2-octet ones would read it. Path identifiers are not expected.
///
/// # Errors
///
/// [`Truncated`] when a length runs past the message.
pub fn walk_update(message: &[u8], four_octet_as: bool, tally: &mut Tally) -> Walk {
    let (_, body) = split(message, 19)?;
    tally.message();
    let withdrawn_len = usize::from(u16_at(body, 0)?);
    let (withdrawn, rest) = split(&body[2..], withdrawn_len)?;
    walk_prefixes_v4(withdrawn, tally)?;
    let attrs_len = usize::from(u16_at(rest, 0)?);
    let (mut attrs, nlri) = split(&rest[2..], attrs_len)?;
    while !attrs.is_empty() {
        let (header, _) = split(attrs, 3)?;
        let (flags, type_code) = (header[0], header[1]);
        let (len, header_len) = if flags & 0x10 != 0 {
            (usize::from(u16_at(attrs, 2)?), 4)
        } else {
            (usize::from(header[2]), 3)
        };
        let (value, next) = split(&attrs[header_len..], len)?;
        tally.attribute(type_code);
        walk_attribute(type_code, value, four_octet_as, tally)?;
        attrs = next;
    }
    walk_prefixes_v4(nlri, tally)
}

fn walk_attribute(type_code: u8, value: &[u8], four_octet_as: bool, tally: &mut Tally) -> Walk {
    match type_code {
        2 => walk_as_path(value, if four_octet_as { 4 } else { 2 }, tally),
        17 => walk_as_path(value, 4, tally),
        8 => {
            for c in value.chunks_exact(4) {
                tally.community(u32_of(c));
            }
            Ok(())
        }
        16 => {
            for c in value.chunks_exact(8) {
                let mut word = [0; 8];
                word.copy_from_slice(c);
                tally.ext_community(u64::from_be_bytes(word));
            }
            Ok(())
        }
        32 => {
            for c in value.chunks_exact(12) {
                tally.large_community(u32_of(c), u32_of(&c[4..]), u32_of(&c[8..]));
            }
            Ok(())
        }
        14 => walk_mp_reach(value, tally),
        15 => {
            let (family, nlri) = split(value, 3)?;
            walk_mp_nlri(family, nlri, tally)
        }
        // ORIGIN, NEXT_HOP, MED, LOCAL_PREF, ORIGINATOR_ID, CLUSTER_LIST, AGGREGATOR and
        // anything else: short fixed-size values or opaque bytes, read as words.
        _ => {
            tally.fold_bytes(value);
            Ok(())
        }
    }
}

fn walk_as_path(mut value: &[u8], width: usize, tally: &mut Tally) -> Walk {
    while !value.is_empty() {
        let (header, rest) = split(value, 2)?;
        tally.fold(u64::from(header[0]));
        let (asns, next) = split(rest, usize::from(header[1]) * width)?;
        if width == 4 {
            for asn in asns.chunks_exact(4) {
                tally.asn(u32_of(asn));
            }
        } else {
            for asn in asns.chunks_exact(2) {
                tally.asn(u32::from(u16::from_be_bytes([asn[0], asn[1]])));
            }
        }
        value = next;
    }
    Ok(())
}

fn walk_mp_reach(value: &[u8], tally: &mut Tally) -> Walk {
    let (family, rest) = split(value, 3)?;
    let (nh_len, rest) = split(rest, 1)?;
    let (next_hop, rest) = split(rest, usize::from(nh_len[0]))?;
    tally.fold_bytes(next_hop);
    let (_reserved, nlri) = split(rest, 1)?;
    walk_mp_nlri(family, nlri, tally)
}

fn walk_mp_nlri(family: &[u8], nlri: &[u8], tally: &mut Tally) -> Walk {
    let afi = u16_at(family, 0)?;
    let safi = family[2];
    tally.fold(u64::from(afi) << 8 | u64::from(safi));
    match (afi, safi) {
        (1, 1 | 2) => walk_prefixes_v4(nlri, tally),
        (2, 1 | 2) => walk_prefixes_v6(nlri, tally),
        _ => {
            tally.fold_bytes(nlri);
            Ok(())
        }
    }
}

/// Walks a run of IPv4 prefixes (length octet, then the significant octets).
///
/// # Errors
///
/// [`Truncated`] when a prefix runs past `bytes` or is longer than 32 bits.
pub fn walk_prefixes_v4(mut bytes: &[u8], tally: &mut Tally) -> Walk {
    while let [len, rest @ ..] = bytes {
        // Fixed-size reads per octet count rather than a variable-length copy.
        let (addr, used) = match (*len, rest) {
            (0, _) => (0, 0),
            (1..=8, [a, ..]) => (u32::from(*a) << 24, 1),
            (9..=16, [a, b, ..]) => (u32::from_be_bytes([*a, *b, 0, 0]), 2),
            (17..=24, [a, b, c, ..]) => (u32::from_be_bytes([*a, *b, *c, 0]), 3),
            (25..=32, [a, b, c, d, ..]) => (u32::from_be_bytes([*a, *b, *c, *d]), 4),
            _ => return Err(Truncated),
        };
        tally.prefix_v4(addr, *len);
        bytes = &rest[used..];
    }
    Ok(())
}

fn walk_prefixes_v6(mut bytes: &[u8], tally: &mut Tally) -> Walk {
    while let [len, rest @ ..] = bytes {
        if *len > 128 {
            return Err(Truncated);
        }
        let (addr, next) = split(rest, usize::from(*len).div_ceil(8))?;
        let mut word = [0; 16];
        word[..addr.len()].copy_from_slice(addr);
        tally.prefix_v6(u128::from_be_bytes(word), *len);
        bytes = next;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
        let mut msg = vec![0xff; 16];
        let len = 19 + 2 + 2 + attrs.len() + nlri.len();
        msg.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
        msg.push(2);
        msg.extend_from_slice(&[0, 0]);
        msg.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
        msg.extend_from_slice(attrs);
        msg.extend_from_slice(nlri);
        msg
    }

    #[test]
    fn walks_as_path_communities_and_nlri() {
        let attrs = [
            0x40, 1, 1, 0, // ORIGIN IGP
            0x40, 2, 10, 2, 2, 0, 0, 0xfd, 0xe8, 0, 0, 0xfd, 0xe9, // AS_SEQUENCE 65000 65001
            0xc0, 8, 8, 0xfd, 0xe8, 0, 1, 0xff, 0xff, 0xff, 0x01, // 65000:1 NO_EXPORT
        ];
        let msg = update(&attrs, &[24, 192, 0, 2, 0]);
        let mut tally = Tally::default();
        walk_update(&msg, true, &mut tally).unwrap();
        assert_eq!((tally.messages, tally.attributes), (1, 3));
        assert_eq!((tally.asns, tally.communities, tally.prefixes), (2, 2, 2));
        let mut expected = Tally::default();
        expected.asn(65001);
        expected.asn(65000);
        expected.community(0xffff_ff01);
        expected.community(0xfde8_0001);
        expected.prefix_v4(0, 0);
        expected.prefix_v4(0xc000_0200, 24);
        assert_eq!(tally.asn_sum, expected.asn_sum);
        assert_eq!(tally.community_sum, expected.community_sum);
        assert_eq!(tally.prefix_sum, expected.prefix_sum);
    }

    #[test]
    fn two_octet_session_reads_two_octet_asns() {
        let attrs = [0x40, 2, 6, 2, 2, 0xfd, 0xe8, 0xfd, 0xe9];
        let msg = update(&attrs, &[]);
        let mut tally = Tally::default();
        walk_update(&msg, false, &mut tally).unwrap();
        assert_eq!(tally.asns, 2);
        assert_eq!(
            walk_update(&msg, true, &mut Tally::default()),
            Err(Truncated)
        );
    }

    #[test]
    fn mp_reach_ipv6_prefixes_are_counted() {
        let mut attrs = vec![0x80, 14, 0, 0, 2, 1, 16];
        attrs.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        attrs.extend_from_slice(&[0, 48, 0x20, 0x01, 0x0d, 0xb8, 0, 1]);
        attrs[2] = u8::try_from(attrs.len() - 3).unwrap();
        let msg = update(&attrs, &[]);
        let mut tally = Tally::default();
        walk_update(&msg, true, &mut tally).unwrap();
        assert_eq!(tally.prefixes, 1);
    }

    #[test]
    fn truncated_prefix_is_reported() {
        let msg = update(&[], &[24, 192, 0]);
        assert_eq!(
            walk_update(&msg, true, &mut Tally::default()),
            Err(Truncated)
        );
    }
}
