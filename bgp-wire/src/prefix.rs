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

/// Decodes every prefix of `c` into `out`. `Err` carries the offset of the prefix that
/// is malformed (length above the address width, or bytes running out).
pub(crate) fn decode_prefixes(
    c: &mut Cursor<'_>,
    afi: Afi,
    add_path: bool,
    out: &mut Vec<Nlri>,
) -> Result<(), usize> {
    // A hint only: prefixes take at least one byte each, /24s (the common case) four.
    out.reserve(c.remaining() / if add_path { 8 } else { 4 });
    let is_v6 = afi == Afi::IPV6;
    while !c.is_empty() {
        let start = c.offset();
        let path_id = if add_path {
            Some(c.read_u32().ok_or(start)?)
        } else {
            None
        };
        let prefix = if is_v6 {
            read_v6(c).map(IpNet::V6)
        } else {
            read_v4(c).map(IpNet::V4)
        };
        let prefix = prefix.ok_or(start)?;
        out.push(Nlri { prefix, path_id });
    }
    Ok(())
}

fn read_v4(c: &mut Cursor<'_>) -> Option<Ipv4Net> {
    let len = c.read_u8()?;
    if len > 32 {
        return None;
    }
    let bytes = c.take(usize::from(len).div_ceil(8))?;
    let mut octets = [0u8; 4];
    octets.get_mut(..bytes.len())?.copy_from_slice(bytes);
    let bits = u32::from_be_bytes(octets) & mask_u32(len);
    Ipv4Net::new(Ipv4Addr::from(bits), len).ok()
}

fn read_v6(c: &mut Cursor<'_>) -> Option<Ipv6Net> {
    let len = c.read_u8()?;
    if len > 128 {
        return None;
    }
    let bytes = c.take(usize::from(len).div_ceil(8))?;
    let mut octets = [0u8; 16];
    octets.get_mut(..bytes.len())?.copy_from_slice(bytes);
    let bits = u128::from_be_bytes(octets) & mask_u128(len);
    Ipv6Net::new(Ipv6Addr::from(bits), len).ok()
}

fn mask_u32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
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
