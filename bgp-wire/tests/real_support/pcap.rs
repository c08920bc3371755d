//! A small capture reader for the sweeps: classic pcap (both byte orders, µs and ns) and
//! pcapng; Ethernet (VLAN, MPLS), Linux cooked, BSD loopback, raw IP, Cisco HDLC, PPP and
//! Juniper Ethernet link layers; IPv4/IPv6 to TCP; per-direction reassembly by sequence
//! number; BGP messages cut out with `bgp_wire::frame`.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// One TCP payload segment.
#[derive(Clone, Debug)]
pub struct Segment {
    /// Sequence number of the first payload byte.
    pub seq: u32,
    /// SYN flag set (the payload, if any, starts at seq + 1).
    pub syn: bool,
    /// Payload.
    pub payload: Vec<u8>,
    /// Frame number (1-based) in the capture.
    pub frame: usize,
}

/// A TCP direction: (source address, source port, destination address, destination port).
pub type Flow = (IpAddr, u16, IpAddr, u16);

/// Everything a capture held: frames read, and TCP segments by direction in capture order.
#[derive(Default, Debug)]
pub struct Capture {
    /// Frames (packets) read.
    pub frames: usize,
    /// Frames whose link type or layers could not be followed to TCP.
    pub skipped_frames: usize,
    /// TCP segments by direction, in capture order.
    pub flows: BTreeMap<Flow, Vec<Segment>>,
}

fn rd16(b: &[u8], i: usize, le: bool) -> Option<u16> {
    let x: [u8; 2] = b.get(i..i + 2)?.try_into().ok()?;
    Some(if le {
        u16::from_le_bytes(x)
    } else {
        u16::from_be_bytes(x)
    })
}

fn rd32(b: &[u8], i: usize, le: bool) -> Option<u32> {
    let x: [u8; 4] = b.get(i..i + 4)?.try_into().ok()?;
    Some(if le {
        u32::from_le_bytes(x)
    } else {
        u32::from_be_bytes(x)
    })
}

/// Reads a capture file's bytes (already decompressed). `Err` names what is not understood.
pub fn read_capture(bytes: &[u8]) -> Result<Capture, String> {
    let mut cap = Capture::default();
    let magic = rd32(bytes, 0, false).ok_or("file shorter than a magic number")?;
    match magic {
        0xa1b2c3d4 | 0xa1b23c4d | 0xd4c3b2a1 | 0x4d3cb2a1 => {
            let le = matches!(magic, 0xd4c3b2a1 | 0x4d3cb2a1);
            let linktype = rd32(bytes, 20, le).ok_or("short pcap header")?;
            let mut pos = 24;
            while pos < bytes.len() {
                let incl = rd32(bytes, pos + 8, le).ok_or("short pcap record header")? as usize;
                let data = bytes
                    .get(pos + 16..pos + 16 + incl)
                    .ok_or("pcap record past end of file")?;
                cap.frames += 1;
                let frame = cap.frames;
                handle_frame(&mut cap, linktype, data, frame);
                pos += 16 + incl;
            }
        }
        0x0a0d0d0a => {
            let mut pos = 0;
            let mut le = true;
            let mut linktypes: Vec<u32> = Vec::new();
            while pos + 12 <= bytes.len() {
                let block_type = rd32(bytes, pos, le).ok_or("short block")?;
                if block_type == 0x0a0d0d0a {
                    le = match rd32(bytes, pos + 8, true) {
                        Some(0x1a2b3c4d) => true,
                        Some(0x4d3c2b1a) => false,
                        _ => return Err("bad pcapng byte-order magic".into()),
                    };
                    linktypes.clear();
                }
                let len = rd32(bytes, pos + 4, le).ok_or("short block length")? as usize;
                if len < 12 || pos + len > bytes.len() {
                    return Err(format!("bad pcapng block length {len} at {pos}"));
                }
                let body = &bytes[pos + 8..pos + len - 4];
                match block_type {
                    1 => linktypes.push(u32::from(rd16(body, 0, le).ok_or("short IDB")?)),
                    6 => {
                        let iface = rd32(body, 0, le).ok_or("short EPB")? as usize;
                        let caplen = rd32(body, 12, le).ok_or("short EPB")? as usize;
                        let data = body.get(20..20 + caplen).ok_or("EPB data past block")?;
                        cap.frames += 1;
                        let frame = cap.frames;
                        let lt = *linktypes.get(iface).ok_or("EPB for an unknown interface")?;
                        handle_frame(&mut cap, lt, data, frame);
                    }
                    3 => {
                        let orig = rd32(body, 0, le).ok_or("short SPB")? as usize;
                        let data = body.get(4..).ok_or("short SPB")?;
                        let data = &data[..orig.min(data.len())];
                        cap.frames += 1;
                        let frame = cap.frames;
                        let lt = *linktypes.first().ok_or("SPB without an interface")?;
                        handle_frame(&mut cap, lt, data, frame);
                    }
                    2 => {
                        let iface = usize::from(rd16(body, 0, le).ok_or("short PB")?);
                        let caplen = rd32(body, 12, le).ok_or("short PB")? as usize;
                        let data = body.get(20..20 + caplen).ok_or("PB data past block")?;
                        cap.frames += 1;
                        let frame = cap.frames;
                        let lt = *linktypes.get(iface).ok_or("PB for an unknown interface")?;
                        handle_frame(&mut cap, lt, data, frame);
                    }
                    _ => {}
                }
                pos += len;
            }
        }
        _ => return Err(format!("not a capture file (magic {magic:#010x})")),
    }
    Ok(cap)
}

fn handle_frame(cap: &mut Capture, linktype: u32, data: &[u8], frame: usize) {
    if link_to_ip(linktype, data)
        .and_then(|ip| ip_to_tcp(cap, ip, frame))
        .is_none()
    {
        cap.skipped_frames += 1;
    }
}

/// Strips the link layer, returning the IP packet.
fn link_to_ip(linktype: u32, data: &[u8]) -> Option<&[u8]> {
    match linktype {
        1 => ethernet(data),
        // BSD loopback: a 4-byte address family in host order.
        0 | 108 => data.get(4..),
        // Raw IP.
        12 | 14 | 101 | 228 | 229 => Some(data),
        // Cisco HDLC: address, control, then an ethertype.
        104 => by_ethertype(rd16(data, 2, false)?, data, 4),
        // Frame Relay: Q.922 address, then UI control and NLPID 0xcc (IPv4) / 0x8e (IPv6)
        // (RFC 2427), or an ethertype (Cisco encapsulation).
        107 => match data.get(2..4)? {
            [0x03, 0xcc] | [0x03, 0x8e] | [0x08, 0x00] | [0x86, 0xdd] => data.get(4..),
            _ => None,
        },
        // PPP: optional address/control (ff 03), then a 2-byte protocol.
        9 | 50 => {
            if data.starts_with(&[0xff, 0x03]) {
                data.get(4..)
            } else {
                data.get(2..)
            }
        }
        // Linux cooked v1 (16-byte header) and v2 (20 bytes).
        113 => data.get(16..),
        276 => data.get(20..),
        // Juniper Ethernet: "MGC", flags, optional extensions, then Ethernet.
        178 => {
            if !data.starts_with(b"MGC") {
                return None;
            }
            let flags = *data.get(3)?;
            let mut pos = 4;
            if flags & 0x80 != 0 {
                pos += 2 + usize::from(rd16(data, 4, false)?);
            }
            ethernet(data.get(pos..)?)
        }
        _ => None,
    }
}

fn ethernet(data: &[u8]) -> Option<&[u8]> {
    let mut ethertype = rd16(data, 12, false)?;
    let mut pos = 14;
    while matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) {
        ethertype = rd16(data, pos + 2, false)?;
        pos += 4;
    }
    by_ethertype(ethertype, data, pos)
}

/// The IP packet at `pos` of `data` given the ethertype before it (MPLS labels popped).
fn by_ethertype(ethertype: u16, data: &[u8], mut pos: usize) -> Option<&[u8]> {
    match ethertype {
        0x0800 | 0x86dd => data.get(pos..),
        0x8847 | 0x8848 => loop {
            let label = rd32(data, pos, false)?;
            pos += 4;
            if label & 0x100 != 0 {
                return data.get(pos..);
            }
        },
        _ => None,
    }
}

fn ip_to_tcp(cap: &mut Capture, ip: &[u8], frame: usize) -> Option<()> {
    let version = ip.first()? >> 4;
    let (src, dst, tcp) = match version {
        4 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(rd16(ip, 2, false)?);
            let frag = rd16(ip, 6, false)?;
            if ip.get(9) != Some(&6) || frag & 0x3fff != 0 {
                return None;
            }
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            // Some captures (TSO offload) record 0 as total length: take the frame's.
            let end = if total == 0 {
                ip.len()
            } else {
                total.min(ip.len())
            };
            (IpAddr::from(src), IpAddr::from(dst), ip.get(ihl..end)?)
        }
        6 => {
            let payload_len = usize::from(rd16(ip, 4, false)?);
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            let mut next = *ip.get(6)?;
            let mut pos = 40;
            let end = if payload_len == 0 {
                ip.len()
            } else {
                (40 + payload_len).min(ip.len())
            };
            loop {
                match next {
                    6 => break,
                    0 | 43 | 60 => {
                        next = *ip.get(pos)?;
                        pos += (usize::from(*ip.get(pos + 1)?) + 1) * 8;
                    }
                    _ => return None,
                }
            }
            (IpAddr::from(src), IpAddr::from(dst), ip.get(pos..end)?)
        }
        _ => return None,
    };
    let sport = rd16(tcp, 0, false)?;
    let dport = rd16(tcp, 2, false)?;
    let seq = rd32(tcp, 4, false)?;
    let data_offset = usize::from(tcp.get(12)? >> 4) * 4;
    let flags = *tcp.get(13)?;
    let payload = tcp.get(data_offset..)?.to_vec();
    let syn = flags & 0x02 != 0;
    if payload.is_empty() && !syn {
        return Some(());
    }
    cap.flows
        .entry((src, sport, dst, dport))
        .or_default()
        .push(Segment {
            seq,
            syn,
            payload,
            frame,
        });
    Some(())
}

/// The byte stream of one direction, as contiguous chunks: a new chunk starts after each
/// gap (bytes never captured). Retransmitted and overlapping bytes are kept once.
pub fn reassemble(segments: &[Segment]) -> Vec<Vec<u8>> {
    let Some(first) = segments.first() else {
        return Vec::new();
    };
    // Where the SYN's payload (if any) starts: seq + 1, as the SYN takes one sequence
    // number; but some synthetic captures (pmacct test traffic) number the next segment as
    // if it did not, and then the payload starts at seq.
    let syn_skip = |s: &Segment| -> u32 {
        let next = s.seq.wrapping_add(s.payload.len() as u32);
        if !s.payload.is_empty() && segments.iter().any(|o| !o.syn && o.seq == next) {
            0
        } else {
            1
        }
    };
    // The initial sequence number: where the SYN's payload starts, else the lowest
    // sequence number seen (captures that start mid-connection).
    let base = segments
        .iter()
        .find(|s| s.syn)
        .map(|s| s.seq.wrapping_add(syn_skip(s)))
        .unwrap_or_else(|| {
            let lowest = segments
                .iter()
                .map(|s| s.seq.wrapping_sub(first.seq))
                .min()
                .unwrap_or(0);
            first.seq.wrapping_add(lowest)
        });
    let mut ordered: Vec<(u64, &[u8])> = segments
        .iter()
        .map(|s| {
            let seq = if s.syn {
                s.seq.wrapping_add(syn_skip(s))
            } else {
                s.seq
            };
            (u64::from(seq.wrapping_sub(base)), &s.payload[..])
        })
        .filter(|(_, p)| !p.is_empty())
        .collect();
    ordered.sort_by_key(|(rel, _)| *rel);
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut next: Option<u64> = None;
    for (rel, payload) in ordered {
        let end = rel + payload.len() as u64;
        match next {
            Some(n) if end <= n => {}
            Some(n) if rel <= n => {
                let skip = (n - rel) as usize;
                chunks
                    .last_mut()
                    .expect("a chunk exists once next is set")
                    .extend_from_slice(&payload[skip..]);
                next = Some(end);
            }
            _ => {
                chunks.push(payload.to_vec());
                next = Some(end);
            }
        }
    }
    chunks
}

/// Cuts BGP messages out of a reassembled chunk by their headers: a valid marker and a
/// length of at least 19 delimit a message even when `frame` refuses it (a length the type
/// does not allow is the decoder's to report). Bytes before the first marker (a capture
/// that starts mid-message), garbage between messages, and a message cut short at the end
/// are counted, not returned.
pub fn cut_messages(chunk: &[u8]) -> (Vec<Vec<u8>>, usize) {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut skipped = 0;
    while pos < chunk.len() {
        let rest = &chunk[pos..];
        let marker_ok = rest.len() >= 19 && rest[..16].iter().all(|&b| b == 0xff);
        let len = rd16(rest, 16, false).map_or(0, usize::from);
        if marker_ok && len >= 19 {
            if len > rest.len() {
                skipped += rest.len();
                break;
            }
            out.push(rest[..len].to_vec());
            pos += len;
            continue;
        }
        if rest.len() < 19 {
            skipped += rest.len();
            break;
        }
        // Resynchronise on the next marker.
        match rest[1..]
            .windows(16)
            .position(|w| w.iter().all(|&b| b == 0xff))
        {
            Some(i) => {
                skipped += i + 1;
                pos += i + 1;
            }
            None => {
                skipped += rest.len();
                break;
            }
        }
    }
    (out, skipped)
}
