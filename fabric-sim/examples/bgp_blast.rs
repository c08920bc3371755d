//! `bgp_blast`: a synthetic BGP announcer for end-to-end benchmarks (loopback only).
//!
//! Not a BGP implementation: it opens one session (OPEN, KEEPALIVE), then writes N IPv4
//! prefixes as UPDATEs encoded before the session starts (densely packed, at most 4,096
//! bytes each) and End-of-RIB, as fast as the socket takes them, so the route server is
//! the bottleneck. It then keeps the session up (KEEPALIVEs, incoming bytes discarded).
//! When the file named by `--withdraw-when` appears it withdraws every prefix (also
//! pre-encoded). It exits when the peer closes or after `--max-seconds`.
//!
//! Every route: ORIGIN IGP, AS_PATH `ASN 64512` (4-octet), NEXT_HOP `--next-hop`
//! (192.0.2.2 by default: FRR and GoBGP reject 127/8), COMMUNITIES ASN:100,
//! LARGE_COMMUNITIES ASN:1:1; prefixes /24 from 16.0.0.0 up. It prints
//! `established at SECONDS.MICROS` (Unix time), then `sent at ...`, `withdrawn at ...`.
//! Messages are written from RFC 4271 section 4 by hand, not with the project's encoder.
//!
//! ```text
//! cargo run --release -p fabric-sim --example bgp_blast -- --local 127.9.0.2 \
//!     --peer 127.9.0.1:1790 --asn 65001 --n 1000000 --withdraw-when /tmp/w
//! ```

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const MAX_MESSAGE: usize = 4096;
const HOLD_TIME: u16 = 180;

struct Args {
    local: Ipv4Addr,
    peer: SocketAddr,
    asn: u32,
    n: u32,
    next_hop: Ipv4Addr,
    withdraw_when: Option<PathBuf>,
    max_seconds: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        local: Ipv4Addr::LOCALHOST,
        peer: "127.0.0.1:179".parse().expect("literal"),
        asn: 65001,
        n: 100_000,
        next_hop: Ipv4Addr::new(192, 0, 2, 2),
        withdraw_when: None,
        max_seconds: 1800,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--local" => args.local = value.parse().map_err(|e| bad(&e))?,
            "--peer" => args.peer = value.parse().map_err(|e| bad(&e))?,
            "--asn" => args.asn = value.parse().map_err(|e| bad(&e))?,
            "--n" => args.n = value.parse().map_err(|e| bad(&e))?,
            "--next-hop" => args.next_hop = value.parse().map_err(|e| bad(&e))?,
            "--withdraw-when" => args.withdraw_when = Some(value.into()),
            "--max-seconds" => args.max_seconds = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if !args.local.is_loopback() || !args.peer.ip().is_loopback() {
        return Err("loopback addresses only".to_owned());
    }
    if args.n > 1 << 20 {
        return Err("at most 2^20 prefixes (16.0.0.0/4 in /24s)".to_owned());
    }
    Ok(args)
}

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xFF; 16];
    m.extend_from_slice(&u16::try_from(19 + body.len()).expect("small").to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

fn open(asn: u32, id: Ipv4Addr) -> Vec<u8> {
    let mut caps = vec![1, 4, 0, 1, 0, 1, 2, 0, 65, 4]; // MP IPv4 unicast, route refresh, AS4
    caps.extend_from_slice(&asn.to_be_bytes());
    let my_as = u16::try_from(asn).unwrap_or(23456);
    let mut body = vec![4];
    body.extend_from_slice(&my_as.to_be_bytes());
    body.extend_from_slice(&HOLD_TIME.to_be_bytes());
    body.extend_from_slice(&id.octets());
    body.push(2 + caps.len() as u8);
    body.extend_from_slice(&[2, caps.len() as u8]);
    body.extend_from_slice(&caps);
    message(1, &body)
}

/// The path attributes; the AS_PATH in 4-octet form when the peer offered the 4-octet
/// AS capability, else in 2-octet form (RFC 6793 section 4.2: a 2-octet session).
fn attributes(asn: u32, next_hop: Ipv4Addr, four_octet: bool) -> Vec<u8> {
    let mut a = vec![0x40, 1, 1, 0]; // ORIGIN IGP
    if four_octet {
        a.extend_from_slice(&[0x40, 2, 10, 2, 2]); // AS_PATH: one AS_SEQUENCE of two
        a.extend_from_slice(&asn.to_be_bytes());
        a.extend_from_slice(&64512u32.to_be_bytes());
    } else {
        a.extend_from_slice(&[0x40, 2, 6, 2, 2]);
        a.extend_from_slice(&u16::try_from(asn).unwrap_or(23456).to_be_bytes());
        a.extend_from_slice(&64512u16.to_be_bytes());
    }
    a.extend_from_slice(&[0x40, 3, 4]); // NEXT_HOP
    a.extend_from_slice(&next_hop.octets());
    if let Ok(short) = u16::try_from(asn) {
        a.extend_from_slice(&[0xC0, 8, 4]); // COMMUNITIES
        a.extend_from_slice(&short.to_be_bytes());
        a.extend_from_slice(&100u16.to_be_bytes());
    }
    a.extend_from_slice(&[0xC0, 32, 12]); // LARGE_COMMUNITY
    for v in [asn, 1, 1] {
        a.extend_from_slice(&v.to_be_bytes());
    }
    a
}

/// The /24s as NLRI bytes (length, three octets), `i`-th from 16.0.0.0.
fn nlri(i: u32) -> [u8; 4] {
    let net = (16u32 << 24) + (i << 8);
    let o = net.to_be_bytes();
    [24, o[0], o[1], o[2]]
}

/// Announcements of `n` prefixes, packed, then End-of-RIB (an empty UPDATE).
fn announcements(n: u32, attrs: &[u8]) -> Vec<u8> {
    let room = (MAX_MESSAGE - 19 - 4 - attrs.len()) / 4;
    let mut out = Vec::new();
    for start in (0..n).step_by(room) {
        let mut body = vec![0, 0];
        body.extend_from_slice(&u16::try_from(attrs.len()).expect("small").to_be_bytes());
        body.extend_from_slice(attrs);
        for i in start..n.min(start + room as u32) {
            body.extend_from_slice(&nlri(i));
        }
        out.extend_from_slice(&message(2, &body));
    }
    out.extend_from_slice(&message(2, &[0, 0, 0, 0]));
    out
}

fn withdrawals(n: u32) -> Vec<u8> {
    let room = (MAX_MESSAGE - 19 - 4) / 4;
    let mut out = Vec::new();
    for start in (0..n).step_by(room) {
        let end = n.min(start + room as u32);
        let mut body = Vec::new();
        body.extend_from_slice(
            &u16::try_from((end - start) * 4)
                .expect("small")
                .to_be_bytes(),
        );
        for i in start..end {
            body.extend_from_slice(&nlri(i));
        }
        body.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&message(2, &body));
    }
    out
}

fn unix_now() -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:06}", t.as_secs(), t.subsec_micros())
}

/// Whether an OPEN body carries the 4-octet AS capability (code 65).
fn offers_four_octet_as(open: &[u8]) -> bool {
    let Some(params) = open.get(10..) else {
        return false;
    };
    let mut i = 0;
    while i + 2 <= params.len() {
        let (kind, len) = (params[i], usize::from(params[i + 1]));
        let value = params.get(i + 2..i + 2 + len).unwrap_or(&[]);
        if kind == 2 {
            let mut j = 0;
            while j + 2 <= value.len() {
                if value[j] == 65 {
                    return true;
                }
                j += 2 + usize::from(value[j + 1]);
            }
        }
        i += 2 + len;
    }
    false
}

fn read_message(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut header = [0u8; 19];
    s.read_exact(&mut header)?;
    let len = usize::from(u16::from_be_bytes([header[16], header[17]]));
    let mut body = vec![0; len.saturating_sub(19)];
    s.read_exact(&mut body)?;
    Ok((header[18], body))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    // Both encodings are built before the session; the peer's OPEN picks one.
    let announce_as4 = announcements(args.n, &attributes(args.asn, args.next_hop, true));
    let announce_as2 = announcements(args.n, &attributes(args.asn, args.next_hop, false));
    let withdraw = withdrawals(args.n);
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut s = runtime
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::from((args.local, 0)))?;
            socket.connect(args.peer).await
        })?
        .into_std()?;
    s.set_nonblocking(false)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(&open(args.asn, args.local))?;
    let (kind, peer_open) = read_message(&mut s)?;
    if kind != 1 {
        return Err(format!("expected OPEN, got message type {kind}").into());
    }
    let announce = if offers_four_octet_as(&peer_open) {
        announce_as4
    } else {
        announce_as2
    };
    s.write_all(&message(4, &[]))?;
    loop {
        match read_message(&mut s)? {
            (4, _) => break,
            (3, body) => return Err(format!("NOTIFICATION {body:?}").into()),
            _ => {}
        }
    }
    println!("established at {}", unix_now());
    s.write_all(&announce)?;
    println!("sent at {} ({} bytes)", unix_now(), announce.len());
    std::io::stdout().flush()?;

    // Discard what the route server sends; keep the session alive until told to withdraw,
    // the peer closes, or the deadline.
    let mut reader = s.try_clone()?;
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
    });
    let mut withdrawn = false;
    let mut last_keepalive = Instant::now();
    while Instant::now() < deadline {
        if last_keepalive.elapsed() >= Duration::from_secs(u64::from(HOLD_TIME / 3)) {
            s.write_all(&message(4, &[]))?;
            last_keepalive = Instant::now();
        }
        if !withdrawn && args.withdraw_when.as_ref().is_some_and(|f| f.exists()) {
            s.write_all(&withdraw)?;
            println!("withdrawn at {}", unix_now());
            std::io::stdout().flush()?;
            withdrawn = true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}
