//! The route limit (spec 1.4, scenarios 7 and 8) as a function of messages and time only:
//! the same bytes cut into different reads give the same outcome, batches are bounded by
//! `Limits::batch_window` and closed by End-of-RIB, and a ROUTE-REFRESH answer counts
//! against the routes already held.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_fsm::{SessionEnd, SessionEvent, State};
use bgp_wire::{ErrorCode, Family, Message, Nlri, Notification, Update, UpdatePacker};
use fabric_sim::lab::{route, Lab};
use ipnet::IpNet;
use route_server::{Config, Event, Input, LimitCounting, PeerConfig, PeerId};

const RS: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 4);

fn nva(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 2, last)
}

fn prefixes(count: u32, second_octet: u8) -> Vec<IpNet> {
    (0..count)
        .map(|i| {
            format!("10.{}.{}.{}/32", second_octet, i / 256, i % 256)
                .parse()
                .expect("test prefix")
        })
        .collect()
}

/// A lab with one NVA (10.1.2.4, AS 65001) established.
fn one_nva() -> (Lab, PeerId) {
    one_nva_counting(LimitCounting::HeldPlusBatch)
}

fn one_nva_counting(counting: LimitCounting) -> (Lab, PeerId) {
    let mut config = Config::azure(RS, vec!["10.1.0.0/16".parse().expect("range")]);
    config.limits.counting = counting;
    config
        .peers
        .push(PeerConfig::nva(IpAddr::V4(nva(4)), 65001));
    let mut lab = Lab::new(config);
    lab.add_nva(nva(4), 65001);
    assert_eq!(lab.speakers[0].session.state(), State::Established);
    let peer = lab.speakers[0].peer.expect("accepted");
    (lab, peer)
}

/// The wire bytes of UPDATEs announcing `routes` from the NVA, as its session would send
/// them (several messages: at most 4,096 bytes each).
fn updates(lab: &Lab, routes: &[IpNet]) -> Vec<u8> {
    let params = lab.speakers[0].send_params();
    let mut packer = UpdatePacker::new(params.clone());
    packer.announce(
        &route(&[65001], nva(4), &[]),
        routes.iter().copied().map(Nlri::new),
    );
    let mut bytes = Vec::new();
    for update in packer.finish_updates() {
        Message::Update(update).emit(&mut bytes, &params);
    }
    bytes
}

fn end_of_rib(lab: &Lab) -> Vec<u8> {
    let params = &lab.speakers[0].send_params();
    let mut bytes = Vec::new();
    Message::Update(Update::end_of_rib_marker(Family::IPV4_UNICAST)).emit(&mut bytes, params);
    bytes
}

/// Feeds `bytes` to the route server as reads of `chunk` bytes (all at the lab's current
/// time), then lets the lab settle.
fn feed(lab: &mut Lab, peer: PeerId, bytes: &[u8], chunk: usize) {
    let speaker = lab.speaker_of(peer).expect("the peer's speaker");
    let connection = lab.speakers[speaker].connection.expect("connected");
    for piece in bytes.chunks(chunk) {
        lab.server.handle_input(
            lab.now,
            Input::Received {
                connection,
                bytes: piece,
            },
        );
    }
    lab.settle();
}

/// What the route limit decided: the limit events, the routes learned, the fabric, and
/// whether the session is still up.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    limit_events: Vec<(usize, u32)>,
    learned: usize,
    fabric: usize,
    up: bool,
}

fn outcome(lab: &Lab, peer: PeerId) -> Outcome {
    Outcome {
        limit_events: lab
            .events
            .iter()
            .filter_map(|e| match e {
                Event::RouteLimitExceeded { counted, limit, .. } => Some((*counted, *limit)),
                _ => None,
            })
            .collect(),
        learned: lab
            .server
            .metrics(peer)
            .expect("configured")
            .count_of_routes_learned_from_peer,
        fabric: lab.fabric.len(),
        up: lab.server.peer_state(peer) == Some(State::Established),
    }
}

fn assert_cease_max_prefixes(lab: &Lab) {
    let end = lab.speakers[0].events.iter().rev().find_map(|e| match e {
        SessionEvent::Down(end) => Some(end.clone()),
        _ => None,
    });
    match end {
        Some(SessionEnd::NotificationReceived(n)) => assert_eq!(
            (n.code, n.subcode),
            (ErrorCode::CEASE, Notification::CEASE_MAX_PREFIXES)
        ),
        other => panic!("expected Cease 6/1, got {other:?}"),
    }
}

/// The same byte stream (a table announced, then re-sent) in 1-byte, 64-byte and whole
/// reads.
fn chunked_runs(count: u32) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for chunk in [1, 64, usize::MAX] {
        let (mut lab, peer) = one_nva();
        let routes = prefixes(count, 200);
        let mut stream = updates(&lab, &routes);
        stream.extend(updates(&lab, &routes));
        feed(&mut lab, peer, &stream, chunk);
        outcomes.push(outcome(&lab, peer));
        if count > 2000 {
            assert_cease_max_prefixes(&lab);
        }
    }
    outcomes
}

#[test]
fn chunking_does_not_change_1999_plus_1999() {
    let outcomes = chunked_runs(1999);
    let expected = Outcome {
        limit_events: Vec::new(),
        learned: 1999,
        fabric: 1999,
        up: true,
    };
    for (chunk, got) in ["1-byte", "64-byte", "whole"].iter().zip(&outcomes) {
        assert_eq!(got, &expected, "{chunk} reads");
    }
}

#[test]
fn chunking_does_not_change_2001_plus_2001() {
    let outcomes = chunked_runs(2001);
    let expected = Outcome {
        limit_events: vec![(4002, 4000)],
        learned: 0,
        fabric: 0,
        up: false,
    };
    for (chunk, got) in ["1-byte", "64-byte", "whole"].iter().zip(&outcomes) {
        assert_eq!(got, &expected, "{chunk} reads");
    }
}

#[test]
fn a_resend_after_the_window_counts_against_the_routes_held() {
    for (count, torn_down) in [(1999, false), (2001, true)] {
        let (mut lab, peer) = one_nva();
        let routes = prefixes(count, 200);
        let table = updates(&lab, &routes);
        feed(&mut lab, peer, &table, usize::MAX);
        assert!(outcome(&lab, peer).limit_events.is_empty());
        // Well past the batch window: the re-send opens a new batch with `count` held.
        lab.run_for(Duration::from_secs(5));
        feed(&mut lab, peer, &table, 100);
        let got = outcome(&lab, peer);
        if torn_down {
            assert_eq!(got.limit_events, vec![(4002, 4000)]);
            assert!(!got.up);
            assert_eq!(got.fabric, 0);
            assert_cease_max_prefixes(&lab);
        } else {
            assert!(got.limit_events.is_empty(), "{got:?}");
            assert!(got.up);
            assert_eq!(got.learned, 1999);
        }
    }
}

#[test]
fn a_window_of_new_routes_is_one_batch_until_it_ends() {
    // 3,000 routes, then 1,001 more at 0.9 s: one batch, 4,001 counted.
    let (mut lab, peer) = one_nva();
    let (first, second) = (
        updates(&lab, &prefixes(3000, 200)),
        updates(&lab, &prefixes(1001, 201)),
    );
    feed(&mut lab, peer, &first, 500);
    lab.run_for(Duration::from_millis(900));
    feed(&mut lab, peer, &second, 500);
    assert_eq!(outcome(&lab, peer).limit_events, vec![(4001, 4000)]);

    // The same with the second part at 1.5 s: a new batch, 3,000 held + 1,001 = 4,001.
    let (mut lab, peer) = one_nva();
    feed(&mut lab, peer, &first, 500);
    lab.run_for(Duration::from_millis(1500));
    feed(&mut lab, peer, &second, 500);
    assert_eq!(outcome(&lab, peer).limit_events, vec![(4001, 4000)]);

    // A table sent twice within the window counts twice; after the window, the routes
    // held (de-duplicated) start the next batch's count.
    let (mut lab, peer) = one_nva();
    let table = updates(&lab, &prefixes(1500, 200));
    feed(&mut lab, peer, &table, usize::MAX);
    feed(&mut lab, peer, &table, usize::MAX);
    lab.run_for(Duration::from_secs(2));
    // New batch: 1,500 held + 1,500 = 3,000.
    feed(&mut lab, peer, &table, usize::MAX);
    let got = outcome(&lab, peer);
    assert!(got.limit_events.is_empty(), "{got:?}");
    assert_eq!(got.learned, 1500);
    // Same batch: 1,500 held + 3,000 = 4,500.
    feed(&mut lab, peer, &table, usize::MAX);
    assert_eq!(outcome(&lab, peer).limit_events, vec![(4500, 4000)]);
}

#[test]
fn end_of_rib_closes_the_batch() {
    // 1,500 routes sent twice (3,000 counted), End-of-RIB, then the 1,500 again at the
    // same instant: a new batch, 1,500 held + 1,500 = 3,000.
    let (mut lab, peer) = one_nva();
    let table = updates(&lab, &prefixes(1500, 200));
    let mut stream = table.clone();
    stream.extend(&table);
    stream.extend(end_of_rib(&lab));
    stream.extend(&table);
    for chunk in [1, 64, usize::MAX] {
        let (mut lab, peer) = one_nva();
        feed(&mut lab, peer, &stream, chunk);
        let got = outcome(&lab, peer);
        assert!(got.limit_events.is_empty(), "{chunk}: {got:?}");
        assert_eq!(got.learned, 1500);
    }
    // Without the End-of-RIB the third copy is in the same batch: 4,500.
    feed(&mut lab, peer, &table, usize::MAX);
    feed(&mut lab, peer, &table, usize::MAX);
    feed(&mut lab, peer, &table, usize::MAX);
    assert_eq!(outcome(&lab, peer).limit_events, vec![(4500, 4000)]);
}

#[test]
fn answering_a_route_refresh_with_over_2000_routes_tears_the_session_down() {
    // Azure's rule taken literally: after a virtual network change the route server asks
    // for the peer's routes again, and the answer counts on top of what it holds.
    for (count, torn_down) in [(2000, false), (2001, true)] {
        let (mut lab, peer) = one_nva();
        lab.announce(0, &prefixes(count, 200), &route(&[65001], nva(4), &[]));
        lab.run_for(Duration::from_secs(30));
        assert!(outcome(&lab, peer).limit_events.is_empty());
        let now = lab.now;
        lab.server.set_vnet_prefixes(
            now,
            vec![
                "10.1.0.0/16".parse().unwrap(),
                "10.9.0.0/16".parse().unwrap(),
            ],
        );
        lab.settle();
        assert!(lab.events.contains(&Event::RouteRefreshSent { peer }));
        let got = outcome(&lab, peer);
        if torn_down {
            assert_eq!(got.limit_events, vec![(2 * count as usize, 4000)]);
            assert!(!got.up);
            assert_eq!(got.fabric, 0);
            assert_cease_max_prefixes(&lab);
        } else {
            assert!(got.limit_events.is_empty(), "{got:?}");
            assert!(got.up);
            assert_eq!((got.learned, got.fabric), (2000, 2000));
        }
    }
}

#[test]
fn the_other_counting_rules_do_not_depend_on_chunking_either() {
    // 2,001 routes sent twice. Per message: at most 2,001 held plus one message's routes
    // (a 4,096-byte UPDATE carries fewer than 1,000 /32s). Unique prefixes: 2,001.
    for counting in [
        LimitCounting::HeldPlusMessage,
        LimitCounting::UniquePrefixes,
    ] {
        for chunk in [1, 64, usize::MAX] {
            let (mut lab, peer) = one_nva_counting(counting);
            let routes = prefixes(2001, 200);
            let mut stream = updates(&lab, &routes);
            stream.extend(updates(&lab, &routes));
            feed(&mut lab, peer, &stream, chunk);
            let got = outcome(&lab, peer);
            let expected = Outcome {
                limit_events: Vec::new(),
                learned: 2001,
                fabric: 2001,
                up: true,
            };
            assert_eq!(got, expected, "{counting:?}, {chunk}-byte reads");
        }
    }
    // And over the limit: 4,001 distinct prefixes, torn down at the message that crosses.
    for counting in [
        LimitCounting::HeldPlusMessage,
        LimitCounting::UniquePrefixes,
    ] {
        let mut outcomes = Vec::new();
        for chunk in [1, 64, usize::MAX] {
            let (mut lab, peer) = one_nva_counting(counting);
            let stream = updates(&lab, &prefixes(4001, 200));
            feed(&mut lab, peer, &stream, chunk);
            outcomes.push(outcome(&lab, peer));
        }
        assert_eq!(outcomes[0].limit_events, vec![(4001, 4000)], "{counting:?}");
        assert!(!outcomes[0].up);
        assert_eq!(outcomes[0], outcomes[1], "{counting:?}");
        assert_eq!(outcomes[0], outcomes[2], "{counting:?}");
    }
}
