//! `fabric-sim serve` against hand-written BGP speakers on loopback (no daemon needed):
//! bad input gets the NOTIFICATION RFC 4271 section 6.1 prescribes and touches no other
//! session. Messages are written byte by byte from RFC 4271 section 4, not with the
//! project's encoder.

mod interop_support;

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
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
    let caps: [u8; 12] = [
        1,
        4,
        0,
        1,
        0,
        1, // multiprotocol: AFI 1, reserved, SAFI 1
        65,
        4,
        0,
        0,
        (asn >> 8) as u8,
        asn as u8, // 4-octet AS
    ];
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
