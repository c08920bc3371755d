//! `fabric-sim serve` against hand-written BGP speakers on loopback (no daemon needed):
//! bad input gets the NOTIFICATION RFC 4271 section 6.1 prescribes and touches no other
//! session; a peer that stops reading is closed by the send hold timer (RFC 9687); a
//! session over IPv6 loopback carries both families. Messages are written and read byte
//! by byte from RFC 4271 section 4 and RFC 4760, not with the project's codec.

mod interop_support;

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use interop_support::{addr, serve_config, wait_for, workdir, Serve, PORT};

/// Connects from `local` (any port) to the route server of `slot`.
fn connect_from(local: Ipv4Addr, slot: u8) -> TcpStream {
    connect_bound(
        SocketAddr::from((local, 0)),
        SocketAddr::from((addr(slot, 1), PORT)),
    )
}

/// `connect(2)` from a chosen local address (std's TcpStream cannot bind first).
fn connect_bound(local: SocketAddr, remote: SocketAddr) -> TcpStream {
    connect_with(local, remote, None)
}

/// As [`connect_bound`], with `SO_RCVBUF` set to `receive_buffer` before connecting (so
/// the advertised window stays small when the test stops reading).
fn connect_with(local: SocketAddr, remote: SocketAddr, receive_buffer: Option<u32>) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stream = runtime.block_on(async {
        let socket = if local.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .expect("socket");
        if let Some(size) = receive_buffer {
            socket.set_recv_buffer_size(size).expect("SO_RCVBUF");
        }
        socket.bind(local).expect("bind local address");
        socket
            .connect(remote)
            .await
            .expect("connect to the route server")
    });
    let stream = stream.into_std().expect("into std");
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
}

/// An OPEN (RFC 4271 section 4.2) from `asn` with hold time 9 s, BGP identifier `id`,
/// and the capabilities multiprotocol IPv4 unicast (RFC 4760) and 4-octet AS (RFC 6793).
fn open(asn: u16, id: Ipv4Addr) -> Vec<u8> {
    open_with_families(asn, id, &[(1, 1)])
}

/// As [`open`], with a multiprotocol capability (RFC 4760: code 1, length 4, AFI,
/// reserved, SAFI) for each (AFI, SAFI) of `families`.
fn open_with_families(asn: u16, id: Ipv4Addr, families: &[(u16, u8)]) -> Vec<u8> {
    let mut caps = Vec::new();
    for (afi, safi) in families {
        caps.extend_from_slice(&[1, 4]);
        caps.extend_from_slice(&afi.to_be_bytes());
        caps.extend_from_slice(&[0, *safi]);
    }
    // 4-octet AS: code 65, length 4, the ASN in four octets.
    caps.extend_from_slice(&[65, 4, 0, 0, (asn >> 8) as u8, asn as u8]);
    let mut body = vec![4]; // version
    body.extend_from_slice(&asn.to_be_bytes());
    body.extend_from_slice(&9u16.to_be_bytes());
    body.extend_from_slice(&id.octets());
    body.push(2 + caps.len() as u8); // optional parameters length
    body.push(2); // parameter type: capabilities (RFC 5492)
    body.push(caps.len() as u8);
    body.extend_from_slice(&caps);
    message(1, &body)
}

fn keepalive() -> Vec<u8> {
    message(4, &[])
}

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xFF; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

/// Reads one message: (type, body). `None` at end of stream.
fn read_message(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 19];
    s.read_exact(&mut header).ok()?;
    assert_eq!(header[..16], [0xFF; 16], "marker");
    let len = usize::from(u16::from_be_bytes([header[16], header[17]]));
    let mut body = vec![0; len - 19];
    s.read_exact(&mut body).ok()?;
    Some((header[18], body))
}

/// Reads until a message of `kind`; returns its body.
fn read_until(s: &mut TcpStream, kind: u8) -> Option<Vec<u8>> {
    for _ in 0..1000 {
        let (k, body) = read_message(s)?;
        if k == kind {
            return Some(body);
        }
    }
    None
}

/// Brings a session up from `local` (AS `asn`): OPEN, KEEPALIVE both ways.
fn establish(slot: u8, host: u8, asn: u16) -> TcpStream {
    let me = addr(slot, host);
    let mut s = connect_from(me, slot);
    s.write_all(&open(asn, me)).expect("send OPEN");
    read_until(&mut s, 1).expect("the route server's OPEN");
    s.write_all(&keepalive()).expect("send KEEPALIVE");
    read_until(&mut s, 4).expect("the route server's KEEPALIVE");
    s
}

fn two_peers(slot: u8) -> String {
    format!(
        "[[instance.peer]]\naddress = \"{}\"\nasn = 65001\n\n[[instance.peer]]\naddress = \"{}\"\nasn = 65002\n",
        addr(slot, 11),
        addr(slot, 12)
    )
}

fn still_established(serve: &Serve, peer: Ipv4Addr) -> bool {
    let status = serve.get("/status");
    status["instances"][0]["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["address"] == peer.to_string().as_str() && p["state"] == "Established")
}

#[test]
fn a_flood_of_garbage_gets_notification_1_1_and_the_other_session_stays_up() {
    let slot = 70;
    let dir = workdir("raw-garbage");
    let serve = Serve::start(&dir, &serve_config(slot, &two_peers(slot)));
    let mut good = establish(slot, 12, 65002);

    let mut bad = connect_from(addr(slot, 11), slot);
    // 1 MiB of zeroes: the first 16 bytes are not the all-ones marker.
    let flood = vec![0u8; 1 << 20];
    let _ = bad.write_all(&flood); // the route server may close while we write
    let notification = read_until(&mut bad, 3).expect("a NOTIFICATION before the close");
    // RFC 4271 6.1: a bad marker is Message Header Error / Connection Not Synchronized.
    assert_eq!(notification[..2], [1, 1], "{notification:?}");
    let mut rest = Vec::new();
    let _ = bad.read_to_end(&mut rest);

    // The other session is untouched: still Established, and it still gets KEEPALIVEs.
    assert!(still_established(&serve, addr(slot, 12)));
    good.write_all(&keepalive()).expect("write");
    assert!(
        read_until(&mut good, 4).is_some(),
        "no KEEPALIVE on the good session"
    );
    assert!(serve
        .events()
        .iter()
        .all(|e| !(e["event"] == "peer_down" && e["peer"] == addr(slot, 12).to_string().as_str())));
}

#[test]
fn an_oversized_length_after_established_gets_notification_1_2_with_the_length() {
    let slot = 71;
    let dir = workdir("raw-length");
    let serve = Serve::start(&dir, &serve_config(slot, &two_peers(slot)));
    let mut good = establish(slot, 12, 65002);
    let mut bad = establish(slot, 11, 65001);
    assert!(
        wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
            still_established(&serve, addr(slot, 11)).then_some(())
        })
        .is_some(),
        "session not up"
    );
    // A header announcing 5000 bytes: over the 4096 of RFC 4271 (no extended messages).
    let mut header = vec![0xFF; 16];
    header.extend_from_slice(&5000u16.to_be_bytes());
    header.push(2);
    bad.write_all(&header).expect("write");
    let notification = read_until(&mut bad, 3).expect("NOTIFICATION");
    // RFC 4271 6.1: Bad Message Length (1/2), the Data field is the erroneous length.
    assert_eq!(notification, [1, 2, 0x13, 0x88]);
    assert!(serve
        .wait_event(Duration::from_secs(5), |e| e["event"] == "peer_down"
            && e["peer"] == addr(slot, 11).to_string().as_str())
        .is_some());
    assert!(still_established(&serve, addr(slot, 12)));
    good.write_all(&keepalive()).expect("write");
    assert!(read_until(&mut good, 4).is_some());
}

#[test]
fn a_bad_config_file_is_refused_naming_file_line_and_field() {
    let dir = workdir("bad-config");
    let path = dir.join("serve.toml");
    std::fs::write(
        &path,
        "[[instance]]\nlisten = \"127.21.72.1:17900\"\n\n[[instance.peer]]\naddress = \"127.21.72.11\"\nasn = 65515\n",
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fabric-sim"))
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .expect("run fabric-sim serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "{}:6:7: field `instance[0].peer[0].asn`: peer 127.21.72.11: field `asn`: 65515 is reserved by Azure",
        path.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn two_instances_in_one_process_each_hold_their_own_session() {
    // Azure runs two route-server instances; an NVA peers with both.
    let slot = 73;
    let dir = workdir("raw-two-instances");
    let peer = format!(
        "[[instance.peer]]\naddress = \"{}\"\nasn = 65001\n",
        addr(slot, 11)
    );
    let config = format!(
        "status = \"{status}:17979\"\n\n[[instance]]\nname = \"IN_0\"\nlisten = \"{a}:{PORT}\"\nnext_hop = \"198.51.100.1\"\nvnet_prefixes = [\"10.1.0.0/16\"]\n\n{peer}\n[[instance]]\nname = \"IN_1\"\nlisten = \"{b}:{PORT}\"\nnext_hop = \"198.51.100.2\"\nvnet_prefixes = [\"10.1.0.0/16\"]\n\n{peer}",
        status = addr(slot, 1),
        a = addr(slot, 1),
        b = addr(slot, 2),
    );
    let serve = Serve::start(&dir, &config);
    let _first = establish(slot, 11, 65001);
    // The second session, to the second instance's address.
    let me = addr(slot, 11);
    let mut second = connect_bound(
        SocketAddr::from((me, 0)),
        SocketAddr::from((addr(slot, 2), PORT)),
    );
    second.write_all(&open(65001, me)).expect("send OPEN");
    let their_open = read_until(&mut second, 1).expect("second instance's OPEN");
    // Its BGP identifier (OPEN octets 5..9) is its own listen address.
    assert_eq!(their_open[5..9], addr(slot, 2).octets());
    second.write_all(&keepalive()).expect("KEEPALIVE");
    read_until(&mut second, 4).expect("KEEPALIVE");
    let up = wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
        let status = serve.get("/status");
        let all_up = status["instances"].as_array().is_some_and(|instances| {
            instances.len() == 2
                && instances
                    .iter()
                    .all(|i| i["peers"][0]["state"] == "Established")
        });
        all_up.then_some(status)
    });
    let status = up.expect("both instances Established with the NVA");
    assert_eq!(status["instances"][0]["name"], "IN_0");
    assert_eq!(status["instances"][1]["next_hop"], "198.51.100.2");
}

#[test]
fn sighup_applies_switches_and_refuses_a_broken_file_without_changing_anything() {
    let slot = 74;
    let dir = workdir("raw-reload");
    let config = serve_config(slot, &two_peers(slot));
    let serve = Serve::start(&dir, &config);
    let _session = establish(slot, 12, 65002);

    let before = serve.event_count();
    serve.reload(&config.replace(
        "hold_time = 9\n",
        "hold_time = 9\nbranch_to_branch = true\nhub_routing_preference = \"aspath\"\n",
    ));
    let wait = Duration::from_secs(10);
    assert!(serve
        .wait_event_after(before, wait, |e| e["event"] == "branch_to_branch_changed"
            && e["on"] == true)
        .is_some());
    assert!(serve
        .wait_event_after(before, wait, |e| e["event"]
            == "hub_routing_preference_changed")
        .is_some());

    let before = serve.event_count();
    serve.reload("[[instance]]\nlisten = 17\n");
    let failed = serve
        .wait_event_after(before, wait, |e| e["event"] == "reload_failed")
        .expect("reload_failed");
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(error.contains("serve.toml:2:"), "{error}");
    // Still serving: the session is up and the status answers.
    assert!(still_established(&serve, addr(slot, 12)));
}

/// An UPDATE (RFC 4271 section 4.3) announcing `prefixes` (all /24) from AS `asn` with
/// next hop `next_hop`: ORIGIN IGP, a one-AS AS_SEQUENCE in 4 octets (RFC 6793, both
/// sides offer it), and, when `large_communities` is not empty, a LARGE_COMMUNITY
/// attribute (RFC 8092, type 32, optional transitive, extended length) carrying them.
fn update(
    prefixes: &[[u8; 3]],
    asn: u32,
    next_hop: Ipv4Addr,
    large_communities: &[[u32; 3]],
) -> Vec<u8> {
    let mut attrs = vec![0x40, 1, 1, 0]; // ORIGIN: IGP
    attrs.extend_from_slice(&[0x40, 2, 6, 2, 1]); // AS_PATH: AS_SEQUENCE of one
    attrs.extend_from_slice(&asn.to_be_bytes());
    attrs.extend_from_slice(&[0x40, 3, 4]); // NEXT_HOP
    attrs.extend_from_slice(&next_hop.octets());
    if !large_communities.is_empty() {
        attrs.extend_from_slice(&[0xD0, 32]);
        attrs.extend_from_slice(&((12 * large_communities.len()) as u16).to_be_bytes());
        for community in large_communities {
            for part in community {
                attrs.extend_from_slice(&part.to_be_bytes());
            }
        }
    }
    let mut body = vec![0, 0]; // no withdrawn routes
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    for prefix in prefixes {
        body.push(24);
        body.extend_from_slice(prefix);
    }
    message(2, &body)
}

/// Sends a KEEPALIVE on `stream` every second until `stop` is set (at most 120), so the
/// route server's hold timer never fires: only its send side can notice a peer that
/// does not read.
fn keepalives(stream: Arc<Mutex<TcpStream>>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for _ in 0..120 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let _ = stream.lock().expect("stream lock").write_all(&keepalive());
            std::thread::sleep(Duration::from_secs(1));
        }
    })
}

/// Reads and discards what arrives on `stream` until end of stream, an error, or
/// `stop` (at most 120 s), so this peer is always a good reader.
fn drain(mut stream: TcpStream, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut buf = vec![0; 64 * 1024];
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            match stream.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
        }
    })
}

fn peer_status(serve: &Serve, peer: Ipv4Addr) -> serde_json::Value {
    let status = serve.get("/status");
    status["instances"][0]["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["address"] == peer.to_string().as_str())
        .cloned()
        .unwrap_or_default()
}

/// The peak resident set of process `pid` in KiB (Linux `VmHWM`).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A route server with two peers, in test slot `slot`: `stalled` (.11, send hold time
/// 2 s) completed the handshake, announced 10.200.0.0/24, keeps sending KEEPALIVEs from
/// a thread and reads nothing (4 KiB receive buffer); `sender` (.12) reads everything and
/// has churned routes toward it until the route server reported its socket blocked.
struct Stall {
    serve: Serve,
    stalled: Ipv4Addr,
    sender: Ipv4Addr,
    stalled_stream: TcpStream,
    /// The stalled peer's status row when its socket was first reported blocked.
    blocked: serde_json::Value,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Stall {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn stall_a_peer(slot: u8, dir: &std::path::Path) -> Stall {
    let (stalled, sender) = (addr(slot, 11), addr(slot, 12));
    // Peer 11 gets a send hold time of 2 s (RFC 9687's default would be 8 minutes); the
    // route limit is lifted so the sender's churn is not cut short by it.
    let peers = format!(
        "[[instance.peer]]\naddress = \"{stalled}\"\nasn = 65001\nsend_hold_time = 2\n\n[[instance.peer]]\naddress = \"{sender}\"\nasn = 65002\n"
    );
    let config = serve_config(slot, &peers).replace(
        "hold_time = 9\n",
        "hold_time = 9\nmax_routes_per_peer = 0\n",
    );
    let serve = Serve::start(dir, &config);
    let stop = Arc::new(AtomicBool::new(false));

    // The stalled peer: a 4 KiB receive buffer, the handshake, one route of its own,
    // KEEPALIVEs every second from a thread, and from now on it reads nothing.
    let mut stalled_stream = connect_with(
        SocketAddr::from((stalled, 0)),
        SocketAddr::from((addr(slot, 1), PORT)),
        Some(4096),
    );
    stalled_stream
        .write_all(&open(65001, stalled))
        .expect("OPEN");
    read_until(&mut stalled_stream, 1).expect("the route server's OPEN");
    stalled_stream.write_all(&keepalive()).expect("KEEPALIVE");
    read_until(&mut stalled_stream, 4).expect("the route server's KEEPALIVE");
    stalled_stream
        .write_all(&update(&[[10, 200, 0]], 65001, stalled, &[]))
        .expect("UPDATE");
    let stalled_writer = Arc::new(Mutex::new(stalled_stream.try_clone().expect("clone")));
    let stalled_keepalives = keepalives(stalled_writer, stop.clone());

    // The sender: a good reader, KEEPALIVEs from a thread, UPDATEs from this thread.
    let sender_stream = establish(slot, 12, 65002);
    let sender_reader = drain(sender_stream.try_clone().expect("clone"), stop.clone());
    let sender_writer = Arc::new(Mutex::new(sender_stream));
    let sender_keepalives = keepalives(sender_writer.clone(), stop.clone());

    let wait = Duration::from_secs(10);
    assert!(
        serve
            .wait_event(wait, |e| e["event"] == "program"
                && e["prefix"] == "10.200.0.0/24")
            .is_some(),
        "the stalled peer's route was not programmed"
    );

    // Churn: 2,000 routes, each in its own UPDATE (30 large communities make each route's
    // attributes distinct and about 400 bytes), re-announced with new attributes each
    // round. Every round is about 800 KB toward the stalled peer; stop as soon as the
    // route server reports that peer's socket blocked (at most 40 rounds, 60 s).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut blocked = None;
    for round in 0..40u32 {
        let mut batch = Vec::new();
        for i in 0..2000u32 {
            let prefix = [172, 16 + (i / 256) as u8, (i % 256) as u8];
            let communities: Vec<[u32; 3]> = (0..30).map(|k| [65002, i, round * 100 + k]).collect();
            batch.extend_from_slice(&update(&[prefix], 65002, sender, &communities));
        }
        sender_writer
            .lock()
            .expect("stream lock")
            .write_all(&batch)
            .expect("send UPDATEs");
        blocked = wait_for(
            Duration::from_millis(500),
            Duration::from_millis(50),
            || {
                let p = peer_status(&serve, stalled);
                (p["write_blocked"] == true).then_some(p)
            },
        );
        if blocked.is_some() || Instant::now() > deadline {
            break;
        }
    }
    let blocked = blocked.expect("the stalled peer's socket never filled up");
    Stall {
        serve,
        stalled,
        sender,
        stalled_stream,
        blocked,
        stop,
        threads: vec![stalled_keepalives, sender_keepalives, sender_reader],
    }
}

#[test]
fn a_peer_that_stops_reading_is_closed_by_the_send_hold_timer_and_the_others_stay_up() {
    let slot = 75;
    let dir = workdir("raw-send-hold");
    let mut stall = stall_a_peer(slot, &dir);
    let (serve, stalled, sender, blocked) =
        (&stall.serve, stall.stalled, stall.sender, &stall.blocked);
    let stalled_stream = &mut stall.stalled_stream;
    let wait = Duration::from_secs(10);
    let queued = blocked["write_queued_bytes"]
        .as_u64()
        .expect("queued bytes");
    eprintln!("stalled peer blocked with {queued} bytes queued in serve");
    assert!(queued <= fabric_sim::serve::MAX_WRITE_QUEUE as u64);

    // RFC 9687: no progress for the send hold time closes the session with
    // NOTIFICATION 8; the peer's routes are withdrawn; the other session stays up.
    let down = serve
        .wait_event(wait, |e| {
            e["event"] == "peer_down" && e["peer"] == stalled.to_string().as_str()
        })
        .expect("the stalled peer was not closed");
    let reason = down["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("send hold timer expired"), "{down}");
    assert!(
        serve
            .events()
            .iter()
            .all(|e| e["event"] != "write_queue_full"),
        "closed by the queue cap, not by the send hold timer"
    );
    assert!(
        serve
            .wait_event(wait, |e| e["event"] == "remove"
                && e["prefix"] == "10.200.0.0/24")
            .is_some(),
        "the stalled peer's route was not withdrawn"
    );
    assert!(still_established(serve, sender));
    assert!(!serve.programmed().contains_key("10.200.0.0/24"));

    // Reading now, the stalled peer finds what was queued, then the NOTIFICATION Send
    // Hold Timer Expired (8/0) the route server attempted, then the end of the stream.
    let mut last = None;
    stalled_stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let started = Instant::now();
    let mut count = 0;
    let end = loop {
        let mut header = [0u8; 19];
        if let Err(e) = stalled_stream.read_exact(&mut header) {
            break e;
        }
        let len = usize::from(u16::from_be_bytes([header[16], header[17]]));
        let mut body = vec![0; len - 19];
        if let Err(e) = stalled_stream.read_exact(&mut body) {
            break e;
        }
        count += 1;
        last = Some((header[18], body));
    };
    eprintln!(
        "read {count} messages in {:?}, then {end:?}",
        started.elapsed()
    );
    assert_eq!(end.kind(), std::io::ErrorKind::UnexpectedEof, "{end}");
    let (kind, body) = last.expect("messages before the close");
    assert_eq!((kind, &body[..2]), (3, &[8, 0][..]), "last message");

    let peak = peak_rss_kib(serve.pid());
    eprintln!("serve peak RSS: {peak:?} KiB");
    // The queue cap (64 MiB) bounds what a stalled peer can hold; the whole process,
    // with 2,000 routes, stays well under twice that.
    assert!(peak.is_some_and(|kib| kib < 2 * 64 * 1024), "{peak:?}");
}

/// The sockets process `pid` holds open (Linux: `/proc/PID/fd` links to `socket:[...]`).
fn open_sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_closed_peer_that_never_reads_again_has_its_socket_and_queue_dropped() {
    let slot = 77;
    let dir = workdir("raw-send-hold-gone");
    let stall = stall_a_peer(slot, &dir);
    let serve = &stall.serve;
    let stalled = stall.stalled.to_string();
    assert!(
        serve
            .wait_event(Duration::from_secs(10), |e| e["event"] == "peer_down"
                && e["peer"] == stalled.as_str())
            .is_some(),
        "the stalled peer was not closed"
    );
    // Closed, but its writer still holds the socket and the queue, trying to flush them
    // (the NOTIFICATION last). The peer never reads again: after the flush window (5 s)
    // and the wait for its FIN (2 s) the route server must have let go of both.
    let held = open_sockets(serve.pid());
    assert!(held > 0);
    let released = wait_for(Duration::from_secs(15), Duration::from_millis(200), || {
        (open_sockets(serve.pid()) < held).then_some(())
    });
    assert!(
        released.is_some(),
        "serve still holds {held} sockets, the stalled peer's among them"
    );
    assert!(still_established(serve, stall.sender));
}

/// The prefixes of an NLRI field (RFC 4271 section 4.3: length in bits, then the
/// significant octets), written `address/length`; `v6` picks the address family.
fn nlri_prefixes(mut field: &[u8], v6: bool) -> Vec<String> {
    let mut out = Vec::new();
    while let Some((&bits, rest)) = field.split_first() {
        let octets = usize::from(bits).div_ceil(8);
        let Some(significant) = rest.get(..octets) else {
            break;
        };
        let address = if v6 {
            let mut a = [0u8; 16];
            a[..octets].copy_from_slice(significant);
            std::net::Ipv6Addr::from(a).to_string()
        } else {
            let mut a = [0u8; 4];
            a[..octets].copy_from_slice(significant);
            Ipv4Addr::from(a).to_string()
        };
        out.push(format!("{address}/{bits}"));
        field = &rest[octets..];
    }
    out
}

/// What an UPDATE body announces: (prefix, next hop) for the IPv4 NLRI (with the
/// NEXT_HOP attribute) and for MP_REACH_NLRI (RFC 4760, type 14) of IPv6 unicast (with
/// its first, global, next hop).
fn announced(body: &[u8]) -> Vec<(String, String)> {
    let withdrawn = usize::from(u16::from_be_bytes([body[0], body[1]]));
    let at = 2 + withdrawn;
    let attrs_len = usize::from(u16::from_be_bytes([body[at], body[at + 1]]));
    let mut attrs = &body[at + 2..at + 2 + attrs_len];
    let nlri = &body[at + 2 + attrs_len..];
    let mut next_hop = String::new();
    let mut out = Vec::new();
    while attrs.len() >= 3 {
        let (flags, kind) = (attrs[0], attrs[1]);
        let (len, head) = if flags & 0x10 != 0 {
            (usize::from(u16::from_be_bytes([attrs[2], attrs[3]])), 4)
        } else {
            (usize::from(attrs[2]), 3)
        };
        let value = &attrs[head..head + len];
        match kind {
            3 => next_hop = Ipv4Addr::new(value[0], value[1], value[2], value[3]).to_string(),
            14 if value[..3] == [0, 2, 1] => {
                let nh_len = usize::from(value[3]);
                let mut nh = [0u8; 16];
                nh.copy_from_slice(&value[4..20]);
                let hop = std::net::Ipv6Addr::from(nh).to_string();
                for prefix in nlri_prefixes(&value[4 + nh_len + 1..], true) {
                    out.push((prefix, hop.clone()));
                }
            }
            _ => {}
        }
        attrs = &attrs[head + len..];
    }
    for prefix in nlri_prefixes(nlri, false) {
        out.push((prefix, next_hop.clone()));
    }
    out
}

/// An UPDATE announcing `prefix` (IPv6, `bits` long) from AS `asn` in MP_REACH_NLRI
/// (RFC 4760) with next hop `next_hop`; no NEXT_HOP attribute, as RFC 4760 allows.
fn update_v6(
    prefix: std::net::Ipv6Addr,
    bits: u8,
    asn: u32,
    next_hop: std::net::Ipv6Addr,
) -> Vec<u8> {
    let octets = usize::from(bits).div_ceil(8);
    let mut reach = vec![0, 2, 1, 16]; // AFI 2, SAFI 1, next hop length 16
    reach.extend_from_slice(&next_hop.octets());
    reach.push(0); // reserved
    reach.push(bits);
    reach.extend_from_slice(&prefix.octets()[..octets]);
    let mut attrs = vec![0x40, 1, 1, 0]; // ORIGIN: IGP
    attrs.extend_from_slice(&[0x40, 2, 6, 2, 1]); // AS_PATH: AS_SEQUENCE of one
    attrs.extend_from_slice(&asn.to_be_bytes());
    attrs.extend_from_slice(&[0x80, 14, reach.len() as u8]); // MP_REACH_NLRI, optional
    attrs.extend_from_slice(&reach);
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    message(2, &body)
}

/// An UPDATE withdrawing `prefix` (IPv6, `bits` long) in MP_UNREACH_NLRI (RFC 4760,
/// type 15); the only attribute.
fn withdraw_v6(prefix: std::net::Ipv6Addr, bits: u8) -> Vec<u8> {
    let octets = usize::from(bits).div_ceil(8);
    let mut unreach = vec![0, 2, 1, bits];
    unreach.extend_from_slice(&prefix.octets()[..octets]);
    let mut attrs = vec![0x80, 15, unreach.len() as u8];
    attrs.extend_from_slice(&unreach);
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    message(2, &body)
}

#[test]
fn a_session_over_ipv6_loopback_carries_ipv4_and_ipv6_routes() {
    let slot = 76;
    let dir = workdir("raw-ipv6");
    let rs_port = PORT + 76;
    let config = format!(
        "status = \"{status}:{sport}\"\n\n[[instance]]\nlisten = \"[::1]:{rs_port}\"\nnext_hop = \"198.51.100.1\"\nhold_time = 9\nfour_octet_asn = true\nipv6_unicast = true\nnext_hop_ipv6 = \"2001:db8::1\"\nvnet_prefixes = [\"10.1.0.0/16\", \"2001:db8:10::/48\"]\n\n[[instance.peer]]\naddress = \"::1\"\nasn = 65001\n",
        status = addr(slot, 1),
        sport = PORT + 79,
    );
    let serve = Serve::start(&dir, &config);
    let loopback6 = std::net::Ipv6Addr::LOCALHOST;
    let mut stream = connect_with(
        SocketAddr::from((loopback6, 0)),
        SocketAddr::from((loopback6, rs_port)),
        None,
    );
    assert_eq!(stream.local_addr().expect("local").ip(), loopback6);
    let id = Ipv4Addr::new(192, 0, 2, 11);
    stream
        .write_all(&open_with_families(65001, id, &[(1, 1), (2, 1)]))
        .expect("OPEN");
    let their_open = read_until(&mut stream, 1).expect("the route server's OPEN");
    // Its optional parameters offer multiprotocol IPv6 unicast: code 1, length 4, AFI 2,
    // reserved, SAFI 1 (RFC 4760 section 8).
    assert!(
        their_open.windows(6).any(|w| w == [1, 4, 0, 2, 0, 1]),
        "no IPv6 unicast capability in {their_open:?}"
    );
    stream.write_all(&keepalive()).expect("KEEPALIVE");
    read_until(&mut stream, 4).expect("the route server's KEEPALIVE");

    // The route server advertises both VNet ranges: the IPv4 one with its IPv4 next hop
    // in NEXT_HOP, the IPv6 one in MP_REACH_NLRI with next_hop_ipv6.
    let mut learned = std::collections::BTreeMap::new();
    for _ in 0..100 {
        if learned.len() >= 2 {
            break;
        }
        let Some((kind, body)) = read_message(&mut stream) else {
            break;
        };
        if kind == 2 {
            learned.extend(announced(&body));
        } else if kind == 4 {
            stream.write_all(&keepalive()).expect("KEEPALIVE");
        }
    }
    assert_eq!(
        learned.get("10.1.0.0/16").map(String::as_str),
        Some("198.51.100.1"),
        "{learned:?}"
    );
    assert_eq!(
        learned.get("2001:db8:10::/48").map(String::as_str),
        Some("2001:db8::1"),
        "{learned:?}"
    );

    // The NVA's routes of both families are programmed with its next hops.
    let v6_prefix: std::net::Ipv6Addr = "2001:db8:100::".parse().expect("prefix");
    let v6_hop: std::net::Ipv6Addr = "2001:db8:ffff::11".parse().expect("next hop");
    stream
        .write_all(&update(&[[172, 16, 0]], 65001, id, &[]))
        .expect("UPDATE");
    stream
        .write_all(&update_v6(v6_prefix, 48, 65001, v6_hop))
        .expect("UPDATE");
    let wait = Duration::from_secs(10);
    let programmed = wait_for(wait, Duration::from_millis(50), || {
        let fabric = serve.programmed();
        (fabric.contains_key("172.16.0.0/24") && fabric.contains_key("2001:db8:100::/48"))
            .then_some(fabric)
    })
    .expect("both routes programmed");
    assert_eq!(programmed["172.16.0.0/24"], ["192.0.2.11"]);
    assert_eq!(programmed["2001:db8:100::/48"], ["2001:db8:ffff::11"]);
    let peers = serve.get("/status")["instances"][0]["peers"].clone();
    assert_eq!(peers[0]["address"], "::1");
    assert_eq!(peers[0]["state"], "Established");

    // An MP_UNREACH_NLRI withdrawal removes the IPv6 route only.
    stream
        .write_all(&withdraw_v6(v6_prefix, 48))
        .expect("UPDATE");
    assert!(serve
        .wait_event(wait, |e| e["event"] == "remove"
            && e["prefix"] == "2001:db8:100::/48")
        .is_some());
    assert!(serve.programmed().contains_key("172.16.0.0/24"));
}
