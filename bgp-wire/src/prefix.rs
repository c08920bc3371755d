//! Encoding of IP prefixes in NLRI, withdrawn routes and MP_REACH/MP_UNREACH fields
//! (RFC 4271 section 4.3, RFC 4760 section 5, RFC 7911 section 3).
//!
//! ```text
//! +---------------------------+
//! |   Path Identifier (4)     |  only on ADD-PATH sessions
//! +---------------------------+
//! |   Length (1 octet, bits)  |
//! +---------------------------+
//! |   Prefix (ceil(len/8))    |
//! +---------------------------+
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::cursor::Cursor;
use crate::types::{Afi, Nlri};

/// Decodes every prefix of `c` into a new vector, allocated once at its exact size.
/// `Err` carries the offset of the prefix that is malformed (length above the address
/// width, or bytes running out).
#[inline(always)]
pub(crate) fn decode_prefix_vec(
    c: &mut Cursor<'_>,
    afi: Afi,
    add_path: bool,
) -> Result<Vec<Nlri>, usize> {
    let base = c.offset();
    let bytes = c.take_rest();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(capacity_for(bytes, add_path));
    if afi == Afi::IPV6 {
        decode_v6(bytes, base, add_path, &mut out)?;
    } else {
        decode_v4(bytes, base, add_path, &mut out)?;
    }
    Ok(out)
}

/// Decodes every prefix of `c` into `out`. `Err` carries the offset of the prefix that
/// is malformed (length above the address width, or bytes running out).
pub(crate) fn decode_prefixes(
    c: &mut Cursor<'_>,
    afi: Afi,
    add_path: bool,
    out: &mut Vec<Nlri>,
) -> Result<(), usize> {
    let base = c.offset();
    let bytes = c.take_rest();
    out.reserve(capacity_for(bytes, add_path));
    if afi == Afi::IPV6 {
        decode_v6(bytes, base, add_path, out)
    } else {
        decode_v4(bytes, base, add_path, out)
    }
}

/// The capacity to reserve for the prefixes of `bytes`: their exact number for the short
/// fields most messages carry (counting costs a few instructions per prefix and saves
/// growing the vector), an estimate from the length for long ones (/24s, the common
/// case, take four bytes). Never more than `bytes.len()`.
#[inline]
fn capacity_for(bytes: &[u8], add_path: bool) -> usize {
    const COUNT_UP_TO: usize = 64;
    if bytes.len() <= COUNT_UP_TO {
        count_prefixes(bytes, add_path)
    } else {
        bytes.len() / if add_path { 8 } else { 4 }
    }
}

/// How many prefixes `bytes` holds, following the length octets without checking them;
/// for well-formed input the exact count, never more than `bytes.len()`.
#[inline]
fn count_prefixes(bytes: &[u8], add_path: bool) -> usize {
    let id_len = if add_path { 4 } else { 0 };
    let mut count = 0;
    let mut i = id_len;
    while let Some(&len) = bytes.get(i) {
        count += 1;
        i += id_len + 1 + usize::from(len).div_ceil(8);
    }
    count
}

/// Reads the path identifier at `*i` when `add_path`, advancing past it.
#[inline]
fn read_path_id(bytes: &[u8], i: &mut usize, add_path: bool) -> Option<Option<u32>> {
    if !add_path {
        return Some(None);
    }
    let id = bytes.get(*i..*i + 4)?;
    *i += 4;
    Some(Some(u32::from_be_bytes([id[0], id[1], id[2], id[3]])))
}

fn decode_v4(bytes: &[u8], base: usize, add_path: bool, out: &mut Vec<Nlri>) -> Result<(), usize> {
    if !add_path {
        return decode_v4_plain(bytes, base, out);
    }
    let mut i = 0;
    while i < bytes.len() {
        let (nlri, end) = one_v4(bytes, i, true).ok_or(base + i)?;
        out.push(nlri);
        i = end;
    }
    Ok(())
}

/// [`decode_v4`] without path identifiers (nearly every session): no index arithmetic,
/// each prefix is a length octet and the slice after it.
#[inline(always)]
fn decode_v4_plain(bytes: &[u8], base: usize, out: &mut Vec<Nlri>) -> Result<(), usize> {
    let mut rest = bytes;
    while let [len, tail @ ..] = rest {
        let malformed = || base + (bytes.len() - rest.len());
        let (addr, after) = v4_bits(*len, tail).ok_or_else(malformed)?;
        let net = Ipv4Net::new(Ipv4Addr::from(addr), *len).map_err(|_| malformed())?;
        out.push(Nlri {
            prefix: IpNet::V4(net),
            path_id: None,
        });
        rest = after;
    }
    Ok(())
}

/// The address of an IPv4 prefix of `len` bits whose octets begin `tail`, host bits
/// cleared, and the bytes after its octets; `None` when `len` exceeds 32 or the octets
/// run past `tail`.
#[inline(always)]
fn v4_bits(len: u8, tail: &[u8]) -> Option<(u32, &[u8])> {
    if len > 32 {
        return None;
    }
    let octets = usize::from(len).div_ceil(8);
    let after = tail.get(octets..)?;
    // Read a whole word when there is room and mask it: bytes past the prefix are
    // cleared by the mask along with the prefix's own trailing bits.
    let word = match *tail {
        [a, b, c, d, ..] => u32::from_be_bytes([a, b, c, d]),
        [a, b, c] => u32::from_be_bytes([a, b, c, 0]),
        [a, b] => u32::from_be_bytes([a, b, 0, 0]),
        [a] => u32::from_be_bytes([a, 0, 0, 0]),
        [] => 0,
    };
    Some((word & mask_u32(len), after))
}

fn decode_v6(bytes: &[u8], base: usize, add_path: bool, out: &mut Vec<Nlri>) -> Result<(), usize> {
    let mut i = 0;
    while i < bytes.len() {
        let (nlri, end) = one_v6(bytes, i, add_path).ok_or(base + i)?;
        out.push(nlri);
        i = end;
    }
    Ok(())
}

/// Decodes the prefix starting at `bytes[start]`: the prefix and where the next begins,
/// `None` when it is malformed.
pub(crate) fn read_one(
    bytes: &[u8],
    start: usize,
    afi: Afi,
    add_path: bool,
) -> Option<(Nlri, usize)> {
    if afi == Afi::IPV6 {
        one_v6(bytes, start, add_path)
    } else {
        one_v4(bytes, start, add_path)
    }
}

#[inline(always)]
fn one_v4(bytes: &[u8], start: usize, add_path: bool) -> Option<(Nlri, usize)> {
    let mut i = start;
    let path_id = read_path_id(bytes, &mut i, add_path)?;
    let len = *bytes.get(i)?;
    let tail = bytes.get(i + 1..)?;
    let (addr, after) = v4_bits(len, tail)?;
    let net = Ipv4Net::new(Ipv4Addr::from(addr), len).ok()?;
    Some((
        Nlri {
            prefix: IpNet::V4(net),
            path_id,
        },
        bytes.len() - after.len(),
    ))
}

#[inline(always)]
fn one_v6(bytes: &[u8], start: usize, add_path: bool) -> Option<(Nlri, usize)> {
    let mut i = start;
    let path_id = read_path_id(bytes, &mut i, add_path)?;
    let len = *bytes.get(i)?;
    let octets = usize::from(len).div_ceil(8);
    let end = i + 1 + octets;
    if len > 128 || end > bytes.len() {
        return None;
    }
    let word = match bytes.get(i + 1..i + 17) {
        Some(w) => u128::from_be_bytes(w.try_into().expect("16 bytes")),
        None => {
            let mut w = [0u8; 16];
            w[..octets].copy_from_slice(&bytes[i + 1..end]);
            u128::from_be_bytes(w)
        }
    };
    let net = Ipv6Net::new(Ipv6Addr::from(word & mask_u128(len)), len).ok()?;
    Some((
        Nlri {
            prefix: IpNet::V6(net),
            path_id,
        },
        end,
    ))
}

/// The network mask of a prefix length of at most 32 (shifting in 64 bits keeps length 0
/// branch-free: the whole word is shifted out).
#[inline]
fn mask_u32(len: u8) -> u32 {
    ((u64::from(u32::MAX) << (32 - u32::from(len.min(32)))) & u64::from(u32::MAX)) as u32
}

fn mask_u128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

/// Encoded size of one prefix.
pub(crate) fn prefix_len(nlri: &Nlri, add_path: bool) -> usize {
    let path_id = if add_path { 4 } else { 0 };
    path_id + 1 + usize::from(nlri.prefix.prefix_len()).div_ceil(8)
}

/// Encoded size of a list of prefixes.
pub(crate) fn prefixes_len(nlri: &[Nlri], add_path: bool) -> usize {
    nlri.iter().map(|n| prefix_len(n, add_path)).sum()
}

/// Appends one prefix. A path identifier is written only when `add_path` (0 when the
/// value has none), since the session, not the value, decides the encoding.
pub(crate) fn emit_prefix(nlri: &Nlri, add_path: bool, out: &mut Vec<u8>) {
    if add_path {
        out.extend_from_slice(&nlri.path_id.unwrap_or(0).to_be_bytes());
    }
    let len = nlri.prefix.prefix_len();
    out.push(len);
    let n = usize::from(len).div_ceil(8);
    match nlri.prefix {
        IpNet::V4(net) => out.extend_from_slice(&net.network().octets()[..n.min(4)]),
        IpNet::V6(net) => out.extend_from_slice(&net.network().octets()[..n.min(16)]),
    }
}

/// Appends a list of prefixes.
pub(crate) fn emit_prefixes(nlri: &[Nlri], add_path: bool, out: &mut Vec<u8>) {
    for n in nlri {
        emit_prefix(n, add_path, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8], afi: Afi, add_path: bool) -> Result<Vec<Nlri>, usize> {
        let mut out = Vec::new();
        decode_prefixes(&mut Cursor::new(bytes, 100), afi, add_path, &mut out).map(|()| out)
    }

    #[test]
    fn parse_v4_clears_trailing_bits() {
        let got = decode(&[24, 10, 1, 2, 0, 9, 0xff, 0xff], Afi::IPV4, false).unwrap();
        assert_eq!(got[0], Nlri::new("10.1.2.0/24".parse().unwrap()));
        assert_eq!(got[1], Nlri::new("0.0.0.0/0".parse().unwrap()));
        assert_eq!(got[2], Nlri::new("255.128.0.0/9".parse().unwrap()));
    }

    #[test]
    fn parse_prefix_too_long_is_error_at_its_offset() {
        assert_eq!(decode(&[8, 10, 33, 0, 0, 0, 0], Afi::IPV4, false), Err(102));
        assert_eq!(decode(&[129], Afi::IPV6, false), Err(100));
        assert_eq!(decode(&[24, 10, 1], Afi::IPV4, false), Err(100));
    }

    #[test]
    fn roundtrip_add_path_v6() {
        let nlri = vec![
            Nlri::with_path_id("2001:db8::/32".parse().unwrap(), 7),
            Nlri::with_path_id("::/0".parse().unwrap(), 1),
            Nlri::with_path_id("2001:db8::1/128".parse().unwrap(), u32::MAX),
        ];
        let mut out = Vec::new();
        emit_prefixes(&nlri, true, &mut out);
        assert_eq!(out.len(), prefixes_len(&nlri, true));
        assert_eq!(decode(&out, Afi::IPV6, true).unwrap(), nlri);
    }
}
