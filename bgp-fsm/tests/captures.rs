//! Negotiation against real OPENs: every OPEN of the shared daemon captures (copied into
//! `tests/data`, see its README) is fed to a session, and the negotiated parameters are
//! checked against what the captures' `index.tsv` says each OPEN carries.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use bgp_fsm::{
    Input, Instant, LocalCapabilities, Negotiated, PeerAsn, Session, SessionConfig, SessionEvent,
    State,
};
use bgp_wire::{AddPathDirection, AddPathEntry, Afi, Family, GracefulRestart, LlgrFamily, Safi};
use common::drain;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

/// A session that advertises everything, so that what is negotiated is what the peer
/// offers.
fn everything_config() -> SessionConfig {
    let mut config = SessionConfig::new(64999, Ipv4Addr::new(192, 0, 2, 99), PeerAsn::Any);
    config.hold_time = 90;
    config.capabilities = LocalCapabilities {
        families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
        route_refresh: true,
        enhanced_route_refresh: true,
        four_octet_as: true,
        extended_message: true,
        add_path: vec![
            AddPathEntry {
                family: Family::IPV4_UNICAST,
                direction: AddPathDirection::Both,
            },
            AddPathEntry {
                family: Family::IPV6_UNICAST,
                direction: AddPathDirection::Both,
            },
        ],
        extended_next_hop: vec![(Family::IPV4_UNICAST, Afi::IPV6)],
        graceful_restart: Some(GracefulRestart {
            flags: 0,
            restart_time: 120,
            families: Vec::new(),
        }),
        long_lived_graceful_restart: vec![LlgrFamily {
            family: Family::IPV4_UNICAST,
            flags: 0,
            stale_time: 60,
        }],
        role: None,
        extra: Vec::new(),
    };
    config
}

/// What the capture index says about one OPEN.
#[derive(Debug)]
struct Expected {
    my_as: u32,
    hold: u16,
    id: Ipv4Addr,
    caps: Vec<String>,
}

impl Expected {
    /// Parses `v4 AS65515 hold180 id 127.7.0.1 caps=[MP(1/1) MP(2/1) RR GR AS4(65515) ENH-RR LLGR]`.
    fn parse(summary: &str) -> Self {
        let (head, caps) = summary.split_once("caps=[").expect("caps list");
        let mut words = head.split_whitespace();
        assert_eq!(words.next(), Some("v4"));
        let my_as = words
            .next()
            .unwrap()
            .trim_start_matches("AS")
            .parse()
            .unwrap();
        let hold = words
            .next()
            .unwrap()
            .trim_start_matches("hold")
            .parse()
            .unwrap();
        assert_eq!(words.next(), Some("id"));
        let id = words.next().unwrap().parse().unwrap();
        let caps = caps
            .trim_end_matches(']')
            .split_whitespace()
            .map(str::to_string)
            .collect();
        Self {
            my_as,
            hold,
            id,
            caps,
        }
    }

    fn has(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c == cap)
    }

    fn as4(&self) -> Option<u32> {
        self.caps
            .iter()
            .find_map(|c| c.strip_prefix("AS4(")?.strip_suffix(')')?.parse().ok())
    }

    fn families(&self) -> Vec<Family> {
        let mut families: Vec<Family> = self
            .caps
            .iter()
            .filter_map(|c| {
                let (afi, safi) = c.strip_prefix("MP(")?.strip_suffix(')')?.split_once('/')?;
                Some(Family::new(
                    Afi(afi.parse().ok()?),
                    Safi(safi.parse().ok()?),
                ))
            })
            .collect();
        if families.is_empty() {
            // RFC 4760: no multiprotocol capability means IPv4 unicast only.
            families.push(Family::IPV4_UNICAST);
        }
        families.sort();
        families
    }

    fn check(&self, n: &Negotiated) {
        assert_eq!(n.peer_asn, self.as4().unwrap_or(self.my_as));
        assert_eq!(n.peer_id, self.id);
        assert_eq!(n.hold_time, self.hold.min(90));
        assert_eq!(n.keepalive_time, self.hold.min(90) / 3);
        assert_eq!(n.four_octet_as, self.as4().is_some());
        assert_eq!(n.receive.four_octet_as, self.as4().is_some());
        assert_eq!(n.families, self.families());
        assert_eq!(n.route_refresh, self.has("RR"));
        assert_eq!(n.enhanced_route_refresh, self.has("ENH-RR"));
        assert!(
            n.extended_message_receive,
            "we advertised extended messages"
        );
        assert!(n.receive.extended_message);
        assert_eq!(n.extended_message_send, self.has("EXT-MSG"));
        assert_eq!(n.send.extended_message, self.has("EXT-MSG"));
        // GoBGP's "ENH" is extended next hop for IPv4 unicast over IPv6, which we offer.
        assert_eq!(n.extended_next_hop.is_empty(), !self.has("ENH"));
        // FRR offers ADD-PATH receive-only (tshark: "Send/Receive: Receive (1)") for
        // both families: we may send several paths, the peer sends one.
        assert!(n.add_path_receive.is_empty());
        assert!(n.receive.add_path.0.is_empty());
        if self.has("ADD-PATH") {
            assert_eq!(
                n.add_path_send,
                vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]
            );
            assert!(n.send.add_path.contains(Family::IPV6_UNICAST));
        } else {
            assert!(n.add_path_send.is_empty());
        }
        assert_eq!(n.graceful_restart.is_some(), self.has("GR"));
        let peer_llgr = n
            .peer_open
            .capabilities()
            .any(|c| matches!(c, bgp_wire::Capability::LongLivedGracefulRestart(_)));
        assert_eq!(peer_llgr, self.has("LLGR"));
        assert!(!n.internal);
        assert_eq!(n.peer_role, None);
    }
}

fn index() -> Vec<(String, Expected)> {
    let index = std::fs::read_to_string(format!("{DATA}/index.tsv")).expect("tests/data/index.tsv");
    index
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            (fields[0].to_string(), Expected::parse(fields[4]))
        })
        .collect()
}

#[test]
fn every_captured_open_negotiates_what_the_index_says() {
    let entries = index();
    assert_eq!(entries.len(), 33, "33 OPENs in the four captures");
    for (i, (file, expected)) in entries.iter().enumerate() {
        let bytes = std::fs::read(format!("{DATA}/{file}")).unwrap();
        let now = Instant::ZERO;
        let mut config = everything_config();
        config.passive = true;
        let mut session = Session::new(config, now).unwrap();
        session.handle_input(now, Input::ManualStart);
        session.handle_input(now, Input::TcpConnectionConfirmed);
        // Every other file arrives one byte at a time.
        if i % 2 == 0 {
            session.handle_input(now, Input::Received(&bytes));
        } else {
            for byte in &bytes {
                session.handle_input(now, Input::Received(std::slice::from_ref(byte)));
            }
        }
        let outputs = drain(&mut session);
        assert_eq!(session.state(), State::OpenConfirm, "{file}: {outputs:?}");
        let received = outputs.iter().find_map(|o| match o {
            bgp_fsm::Output::Event(SessionEvent::OpenReceived { peer_id, peer_asn }) => {
                Some((*peer_id, *peer_asn))
            }
            _ => None,
        });
        assert_eq!(
            received,
            Some((expected.id, expected.as4().unwrap_or(expected.my_as))),
            "{file}"
        );
        let negotiated = session.negotiated().expect("negotiated after the OPEN");
        expected.check(negotiated);
        // And the session comes up on the KEEPALIVE.
        session.handle_input(
            now + Duration::from_secs(1),
            Input::Received(&common::keepalive_bytes()),
        );
        assert_eq!(session.state(), State::Established, "{file}");
    }
}

#[test]
fn exabgp_four_octet_open_is_refused_when_the_configured_as_differs() {
    let bytes = std::fs::read(format!("{DATA}/bird-014-exabgp-to-bird-OPEN.bin")).unwrap();
    let now = Instant::ZERO;
    let mut config = everything_config();
    // The OPEN says AS_TRANS in My AS and 4200000001 in the capability; expecting the
    // 2-octet view of it must fail with Bad Peer AS.
    config.peer_asn = PeerAsn::Is(23456);
    let mut session = Session::new(config, now).unwrap();
    session.handle_input(now, Input::ManualStart);
    session.handle_input(now, Input::TcpCrAcked);
    session.handle_input(now, Input::Received(&bytes));
    let outputs = drain(&mut session);
    let sent = common::sent_notifications(&outputs);
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].code.0, sent[0].subcode), (2, 2));
    assert_eq!(session.state(), State::Idle);

    let mut config = everything_config();
    config.peer_asn = PeerAsn::Is(4_200_000_001);
    let mut session = Session::new(config, now).unwrap();
    session.handle_input(now, Input::ManualStart);
    session.handle_input(now, Input::TcpCrAcked);
    session.handle_input(now, Input::Received(&bytes));
    assert_eq!(session.state(), State::OpenConfirm);
}

#[test]
fn a_two_octet_peer_gets_two_octet_parameters() {
    // ExaBGP with 'asn4 disable': no AS4, no route refresh, IPv4 only.
    let bytes = std::fs::read(format!("{DATA}/bird-008-exabgp2byte-to-bird-OPEN.bin")).unwrap();
    let now = Instant::ZERO;
    let mut session = Session::new(everything_config(), now).unwrap();
    session.handle_input(now, Input::ManualStart);
    session.handle_input(now, Input::TcpCrAcked);
    session.handle_input(now, Input::Received(&bytes));
    let n = session.negotiated().expect("accepted");
    assert!(!n.four_octet_as && !n.send.four_octet_as && !n.receive.four_octet_as);
    assert_eq!(n.families, vec![Family::IPV4_UNICAST]);
    assert_eq!(n.peer_asn, 65003);
    assert!(!n.route_refresh);
}
