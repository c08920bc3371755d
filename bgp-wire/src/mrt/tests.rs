//! Unit tests of reading and writing records, and property tests of both.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::types::{Afi, Family, Safi, SessionParams};

use super::*;

fn keepalive() -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&[0, 19, 4]);
    m
}

/// A record: header (timestamp, type, subtype, computed length) and body.
fn record(timestamp: u32, mrt_type: u16, subtype: u16, body: &[u8]) -> Vec<u8> {
    let mut r = timestamp.to_be_bytes().to_vec();
    r.extend_from_slice(&mrt_type.to_be_bytes());
    r.extend_from_slice(&subtype.to_be_bytes());
    r.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
    r.extend_from_slice(body);
    r
}

fn read_all(bytes: &[u8]) -> Vec<Result<(usize, MrtRecord<'_>), MrtError>> {
    MrtReader::new(bytes).collect()
}

fn emit(record: &MrtRecord<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    record
        .emit(&mut out)
        .expect("a record that was read re-emits");
    out
}

fn only_record(bytes: &[u8]) -> MrtRecord<'_> {
    let mut all = read_all(bytes);
    assert_eq!(all.len(), 1, "{all:?}");
    let (offset, record) = all.remove(0).unwrap();
    assert_eq!(offset, 0);
    assert_eq!(emit(&record), bytes, "emit reproduces the input");
    record
}

#[test]
fn parse_bgp4mp_message_as4_ipv4() {
    let mut body = vec![0, 0, 0xfd, 0xe9, 0xfa, 0x56, 0xea, 0x01, 0, 7, 0, 1];
    body.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
    body.extend_from_slice(&keepalive());
    let bytes = record(1_500_000_000, 16, bgp4mp_subtype::MESSAGE_AS4, &body);
    let r = only_record(&bytes);
    assert_eq!(r.timestamp, 1_500_000_000);
    assert_eq!(r.microseconds, None);
    let MrtBody::Message(m) = &r.body else {
        panic!("{r:?}")
    };
    assert_eq!(
        (m.peer_as, m.local_as, m.interface_index),
        (65001, 4_200_000_001, 7)
    );
    assert_eq!(m.addresses.peer(), IpAddr::from([192, 0, 2, 1]));
    assert_eq!(m.addresses.local(), IpAddr::from([192, 0, 2, 2]));
    assert!(m.four_octet_as && !m.local && !m.add_path);
    assert_eq!(m.message, &keepalive()[..]);
    assert_eq!(
        m.session_params(),
        SessionParams {
            extended_message: true,
            ..SessionParams::modern()
        }
    );
}

#[test]
fn parse_bgp4mp_et_message_local_addpath_ipv6() {
    let mut body = vec![0, 0x0a, 0xae, 0x60]; // microseconds 700_000
    body.extend_from_slice(&[0xfd, 0xe9, 0xfd, 0xea, 0, 0, 0, 2]);
    body.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
    body.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).octets());
    body.extend_from_slice(&keepalive());
    let bytes = record(7, 17, bgp4mp_subtype::MESSAGE_LOCAL_ADDPATH, &body);
    let r = only_record(&bytes);
    assert_eq!(r.microseconds, Some(700_000));
    assert_eq!(r.mrt_type(), MrtType::BGP4MP_ET);
    let MrtBody::Message(m) = &r.body else {
        panic!("{r:?}")
    };
    assert!(!m.four_octet_as && m.local && m.add_path);
    assert_eq!(m.addresses.afi(), Afi::IPV6);
    let params = m.session_params();
    assert!(!params.four_octet_as && params.extended_message);
    assert!(params.add_path.contains(Family::IPV4_UNICAST));
    assert!(params.add_path.contains(Family::IPV6_UNICAST));
    assert!(!params
        .add_path
        .contains(Family::new(Afi::IPV4, Safi::MULTICAST)));
}

#[test]
fn every_message_subtype_round_trips() {
    for subtype in [1, 4, 6, 7, 8, 9, 10, 11] {
        let as_len = if matches!(subtype, 4 | 7 | 9 | 11) {
            4
        } else {
            2
        };
        let mut body = vec![0; 2 * as_len];
        body.extend_from_slice(&[0, 0, 0, 1, 10, 0, 0, 1, 10, 0, 0, 2]);
        body.extend_from_slice(&keepalive());
        let bytes = record(1, 16, subtype, &body);
        let r = only_record(&bytes);
        assert_eq!(r.subtype(), subtype);
    }
}

#[test]
fn parse_state_change_and_state_change_as4() {
    let mut body = vec![0xfd, 0xe9, 0xfd, 0xea, 0, 0, 0, 1, 10, 0, 0, 1, 10, 0, 0, 2];
    body.extend_from_slice(&[0, 1, 0, 6]);
    let bytes = record(3, 16, bgp4mp_subtype::STATE_CHANGE, &body);
    let r = only_record(&bytes);
    let MrtBody::StateChange(s) = r.body else {
        panic!("{r:?}")
    };
    assert_eq!(
        (s.peer_as, s.local_as, s.old_state, s.new_state),
        (65001, 65002, 1, 6)
    );
    assert!(!s.four_octet_as);

    let mut body = vec![
        0, 1, 0, 0, 0, 0, 0xfd, 0xea, 0, 0, 0, 1, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    body.extend_from_slice(&[0, 6, 0, 7]);
    let bytes = record(
        3,
        17,
        bgp4mp_subtype::STATE_CHANGE_AS4,
        &[&[0, 0, 0, 5][..], &body].concat(),
    );
    let r = only_record(&bytes);
    let MrtBody::StateChange(s) = r.body else {
        panic!("{r:?}")
    };
    assert_eq!((s.peer_as, s.new_state), (65536, 7));
    assert!(s.four_octet_as);
}

#[test]
fn parse_peer_index_table() {
    let mut body = vec![198, 51, 100, 1, 0, 4];
    body.extend_from_slice(b"main");
    body.extend_from_slice(&[0, 2]);
    body.extend_from_slice(&[0x00, 10, 0, 0, 1, 192, 0, 2, 1, 0xfd, 0xe9]);
    body.push(0x03);
    body.extend_from_slice(&[10, 0, 0, 2]);
    body.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).octets());
    body.extend_from_slice(&4_200_000_000u32.to_be_bytes());
    let bytes = record(9, 13, td2_subtype::PEER_INDEX_TABLE, &body);
    let r = only_record(&bytes);
    let MrtBody::PeerIndexTable(t) = &r.body else {
        panic!("{r:?}")
    };
    assert_eq!(t.collector_id, Ipv4Addr::new(198, 51, 100, 1));
    assert_eq!(t.view_name, b"main");
    assert_eq!(t.peers.len(), 2);
    assert_eq!(t.peers[0].address, IpAddr::from([192, 0, 2, 1]));
    assert_eq!(t.peers[0].asn, 65001);
    assert!(t.peers[1].address.is_ipv6());
    assert_eq!(
        (t.peers[1].bgp_id, t.peers[1].asn),
        (Ipv4Addr::new(10, 0, 0, 2), 4_200_000_000)
    );
}

#[test]
fn parse_rib_ipv4_unicast_two_entries() {
    let attrs_a = [0x40, 1, 1, 0];
    let attrs_b = [0x40, 1, 1, 2, 0x40, 2, 0];
    let mut body = vec![0, 0, 0, 42, 20, 192, 0, 32, 0, 2];
    body.extend_from_slice(&[0, 0, 0, 0, 0, 9, 0, 4]);
    body.extend_from_slice(&attrs_a);
    body.extend_from_slice(&[0, 1, 0, 0, 0, 10, 0, 7]);
    body.extend_from_slice(&attrs_b);
    let bytes = record(9, 13, td2_subtype::RIB_IPV4_UNICAST, &body);
    let r = only_record(&bytes);
    let MrtBody::Rib(rib) = &r.body else {
        panic!("{r:?}")
    };
    assert_eq!(rib.sequence, 42);
    assert_eq!(rib.prefix, "192.0.32.0/20".parse::<IpNet>().unwrap());
    assert_eq!(rib.family(), Family::IPV4_UNICAST);
    assert_eq!(rib.entries.len(), 2);
    assert_eq!(
        rib.entries[1],
        RibEntry {
            peer_index: 1,
            originated_time: 10,
            path_id: None,
            attributes: &attrs_b
        }
    );
}

#[test]
fn parse_rib_ipv6_multicast_addpath_keeps_host_bits() {
    // /17 with a set bit past the prefix length: kept so the record re-emits unchanged.
    let mut body = vec![0, 0, 0, 1, 17, 0x20, 0x01, 0xff, 0, 1];
    body.extend_from_slice(&[0, 3, 0, 0, 0, 1, 0, 0, 0, 77, 0, 0]);
    let bytes = record(9, 13, td2_subtype::RIB_IPV6_MULTICAST_ADDPATH, &body);
    let r = only_record(&bytes);
    let MrtBody::Rib(rib) = &r.body else {
        panic!("{r:?}")
    };
    assert_eq!(rib.family(), Family::new(Afi::IPV6, Safi::MULTICAST));
    assert!(rib.add_path && rib.multicast);
    assert_eq!(rib.prefix.to_string(), "2001:ff00::/17");
    assert_eq!(rib.entries[0].path_id, Some(77));
    assert!(rib.entries[0].attributes.is_empty());
}

#[test]
fn parse_rib_generic_is_opaque_after_safi() {
    let body = [0, 0, 0, 5, 0, 1, 128, 0xaa, 0xbb, 0xcc];
    let bytes = record(9, 13, td2_subtype::RIB_GENERIC, &body);
    let r = only_record(&bytes);
    let MrtBody::RibGeneric(g) = &r.body else {
        panic!("{r:?}")
    };
    assert_eq!(
        (g.sequence, g.afi, g.safi, g.add_path),
        (5, Afi::IPV4, Safi::MPLS_VPN, false)
    );
    assert_eq!(g.rest, &[0xaa, 0xbb, 0xcc]);
}

#[test]
fn parse_table_dump_v1_ipv4() {
    let attrs = [0x40, 1, 1, 0];
    let mut body = vec![
        0, 0, 0, 3, 10, 1, 0, 0, 16, 1, 0, 0, 0, 99, 192, 0, 2, 9, 0xfd, 0xe9, 0, 4,
    ];
    body.extend_from_slice(&attrs);
    let bytes = record(9, 12, 1, &body);
    let r = only_record(&bytes);
    let MrtBody::TableDump(t) = &r.body else {
        panic!("{r:?}")
    };
    assert_eq!(t.prefix, "10.1.0.0/16".parse::<IpNet>().unwrap());
    assert_eq!(
        (t.sequence, t.status, t.originated_time, t.peer_as),
        (3, 1, 99, 65001)
    );
    assert_eq!(t.peer_ip, IpAddr::from([192, 0, 2, 9]));
    assert_eq!(t.attributes, &attrs);
}

#[test]
fn unknown_types_and_subtypes_are_opaque() {
    let a = record(1, 5, 1, &[1, 2, 3]);
    let b = record(1, 16, bgp4mp_subtype::ENTRY, &[4, 5]);
    let c = record(1, 33, 1, &[0, 0, 0, 9, 6]);
    let bytes = [a.clone(), b.clone(), c.clone()].concat();
    let records: Vec<_> = read_all(&bytes).into_iter().map(Result::unwrap).collect();
    assert_eq!(records.len(), 3);
    assert_eq!(
        records[0].1.body,
        MrtBody::Unknown {
            mrt_type: MrtType::BGP,
            subtype: 1,
            data: &[1, 2, 3]
        }
    );
    assert_eq!(records[1].0, a.len());
    assert_eq!(
        records[1].1.body,
        MrtBody::Unknown {
            mrt_type: MrtType::BGP4MP,
            subtype: 2,
            data: &[4, 5]
        }
    );
    assert_eq!(records[2].1.microseconds, Some(9));
    assert_eq!(
        records[2].1.body,
        MrtBody::Unknown {
            mrt_type: MrtType::ISIS_ET,
            subtype: 1,
            data: &[6]
        }
    );
    let mut out = Vec::new();
    for (_, r) in &records {
        r.emit(&mut out).expect("a record that was read re-emits");
    }
    assert_eq!(out, bytes);
}

#[test]
fn parse_truncated_header_ends_iteration() {
    let mut bytes = record(1, 5, 1, &[]);
    bytes.extend_from_slice(&[0, 0, 0]);
    let all = read_all(&bytes);
    assert_eq!(all.len(), 2);
    assert!(all[0].is_ok());
    let err = all[1].clone().unwrap_err();
    assert_eq!(err.kind, MrtErrorKind::TruncatedHeader { available: 3 });
    assert_eq!(err.offset, 12);
}

#[test]
fn parse_record_longer_than_input_ends_iteration() {
    // A good record, then one cut 5 bytes short (the end of a truncated download).
    let mut bytes = record(1, 5, 1, &[]);
    bytes.extend_from_slice(&record(1, 16, 1, &[0; 30]));
    bytes.truncate(bytes.len() - 5);
    let all = read_all(&bytes);
    assert_eq!(all.len(), 2);
    assert!(all[0].is_ok());
    assert_eq!(
        all[1].clone().unwrap_err(),
        MrtError {
            kind: MrtErrorKind::TruncatedRecord {
                declared: 30,
                available: 25
            },
            offset: 12,
            context: "MRT record length"
        }
    );
}

#[test]
fn malformed_body_is_an_error_and_reading_goes_on() {
    // STATE_CHANGE cut short (a historic Zebra bug), then a good record.
    let bad = record(
        1,
        16,
        bgp4mp_subtype::STATE_CHANGE,
        &[0, 1, 0, 2, 0, 0, 0, 1, 10, 0, 0, 1, 10, 0, 0, 2, 0, 1],
    );
    let good = record(2, 5, 1, &[]);
    let bytes = [bad.clone(), good].concat();
    let all = read_all(&bytes);
    assert_eq!(all.len(), 2);
    let err = all[0].clone().unwrap_err();
    assert_eq!(
        (err.kind, err.offset, err.context),
        (MrtErrorKind::TruncatedField, 12 + 18, "new state")
    );
    assert_eq!(all[1].as_ref().unwrap().0, bad.len());
}

#[test]
fn parse_errors_name_the_field() {
    let bytes = record(1, 16, 1, &[0, 1, 0, 2, 0, 0, 0, 9]);
    let err = read_all(&bytes)[0].clone().unwrap_err();
    assert_eq!(
        (err.kind, err.offset),
        (MrtErrorKind::UnsupportedAfi { afi: 9 }, 12 + 6)
    );

    let bytes = record(1, 13, 2, &[0, 0, 0, 1, 33, 0, 0, 0, 0, 0]);
    let err = read_all(&bytes)[0].clone().unwrap_err();
    assert_eq!(
        (err.kind, err.offset),
        (MrtErrorKind::InvalidPrefixLength { length: 33 }, 12 + 4)
    );

    let bytes = record(1, 13, 2, &[0, 0, 0, 1, 8, 10, 0, 0, 0xff]);
    let err = read_all(&bytes)[0].clone().unwrap_err();
    assert_eq!(
        (err.kind, err.offset),
        (MrtErrorKind::TrailingBytes { count: 1 }, 12 + 8)
    );

    let bytes = record(1, 13, 1, &[1, 2, 3, 4, 0, 9, b'x']);
    let err = read_all(&bytes)[0].clone().unwrap_err();
    assert_eq!(
        (err.kind, err.context),
        (MrtErrorKind::TruncatedField, "view name")
    );

    let bytes = record(1, 17, 1, &[0, 0]);
    let err = read_all(&bytes)[0].clone().unwrap_err();
    assert_eq!((err.kind, err.offset), (MrtErrorKind::TruncatedField, 12));
}

#[test]
fn emit_forces_as4_subtypes_for_large_as_numbers() {
    let addresses = PeerAddresses::V4 {
        peer: Ipv4Addr::new(10, 0, 0, 1),
        local: Ipv4Addr::new(10, 0, 0, 2),
    };
    let message = keepalive();
    let record = MrtRecord {
        timestamp: 1,
        microseconds: None,
        body: MrtBody::Message(Bgp4mpMessage {
            four_octet_as: false,
            local: false,
            add_path: true,
            peer_as: 4_200_000_000,
            local_as: 1,
            interface_index: 0,
            addresses,
            message: &message,
        }),
    };
    let bytes = emit(&record);
    assert_eq!(
        &bytes[6..8],
        &bgp4mp_subtype::MESSAGE_AS4_ADDPATH.to_be_bytes()
    );
    let read = only_record(&bytes);
    let MrtBody::Message(m) = read.body else {
        panic!()
    };
    assert_eq!((m.peer_as, m.four_octet_as), (4_200_000_000, true));

    let state = MrtRecord {
        timestamp: 1,
        microseconds: Some(5),
        body: MrtBody::StateChange(Bgp4mpStateChange {
            four_octet_as: false,
            peer_as: 1,
            local_as: 70000,
            interface_index: 0,
            addresses,
            old_state: 1,
            new_state: 2,
        }),
    };
    let bytes = emit(&state);
    assert_eq!(&bytes[4..8], &[0, 17, 0, 5]);
    let MrtBody::StateChange(s) = only_record(&bytes).body else {
        panic!()
    };
    assert_eq!(s.local_as, 70000);

    let peer = PeerEntry {
        peer_type: 0,
        bgp_id: Ipv4Addr::LOCALHOST,
        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        asn: 70000,
    };
    let table = MrtRecord {
        timestamp: 1,
        microseconds: None,
        body: MrtBody::PeerIndexTable(PeerIndexTable {
            collector_id: Ipv4Addr::LOCALHOST,
            view_name: b"",
            peers: vec![peer],
        }),
    };
    let bytes = emit(&table);
    let MrtBody::PeerIndexTable(t) = only_record(&bytes).body else {
        panic!()
    };
    assert_eq!(
        (t.peers[0].asn, t.peers[0].peer_type),
        (70000, PeerEntry::TYPE_AS4)
    );
}

/// 65,536 bytes: one more than a 2-octet MRT length can say.
static TOO_LONG: [u8; 65_536] = [0x40; 65_536];

fn rib_record<'a>(entries: Vec<RibEntry<'a>>) -> MrtRecord<'a> {
    MrtRecord {
        timestamp: 1,
        microseconds: None,
        body: MrtBody::Rib(RibRecord {
            sequence: 0,
            prefix: "192.0.2.0/24".parse().unwrap(),
            multicast: false,
            add_path: false,
            entries,
        }),
    }
}

fn rib_entry(attributes: &[u8]) -> RibEntry<'_> {
    RibEntry {
        peer_index: 0,
        originated_time: 1,
        path_id: None,
        attributes,
    }
}

/// Emits into a buffer that already holds `PREVIOUS`, and checks a refusal leaves it so.
fn emit_after_previous(record: &MrtRecord<'_>) -> Result<Vec<u8>, MrtEncodeError> {
    const PREVIOUS: &[u8] = b"earlier records";
    let mut out = PREVIOUS.to_vec();
    match record.emit(&mut out) {
        Ok(()) => Ok(out[PREVIOUS.len()..].to_vec()),
        Err(e) => {
            assert_eq!(
                out, PREVIOUS,
                "a refused record leaves the buffer as it was"
            );
            Err(e)
        }
    }
}

#[test]
fn emit_refuses_rib_entry_attributes_longer_than_65535() {
    // RFC 6396 section 4.3.4: Attribute Length is 2 octets.
    let fits = rib_record(vec![rib_entry(&TOO_LONG[..65_535])]);
    let bytes = emit_after_previous(&fits).expect("65535 bytes fit");
    assert_eq!(only_record(&bytes), fits);
    let record = rib_record(vec![rib_entry(&TOO_LONG)]);
    assert_eq!(
        emit_after_previous(&record),
        Err(MrtEncodeError::TooLong {
            field: "RIB entry attributes",
            len: 65_536,
            max: 65_535
        })
    );
}

#[test]
fn emit_refuses_more_than_65535_rib_entries() {
    // RFC 6396 section 4.3.2: Entry Count is 2 octets.
    let record = rib_record(vec![rib_entry(&[]); 65_536]);
    assert_eq!(
        emit_after_previous(&record),
        Err(MrtEncodeError::TooLong {
            field: "RIB entry count",
            len: 65_536,
            max: 65_535
        })
    );
}

#[test]
fn emit_refuses_long_view_names_and_peer_tables() {
    // RFC 6396 section 4.3.1: View Name Length and Peer Count are 2 octets.
    let peer = PeerEntry {
        peer_type: 0,
        bgp_id: Ipv4Addr::new(192, 0, 2, 1),
        address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        asn: 65001,
    };
    let table = |view_name, peers| MrtRecord {
        timestamp: 1,
        microseconds: None,
        body: MrtBody::PeerIndexTable(PeerIndexTable {
            collector_id: Ipv4Addr::new(192, 0, 2, 254),
            view_name,
            peers,
        }),
    };
    assert_eq!(
        emit_after_previous(&table(&TOO_LONG, vec![peer])),
        Err(MrtEncodeError::TooLong {
            field: "view name",
            len: 65_536,
            max: 65_535
        })
    );
    assert_eq!(
        emit_after_previous(&table(b"", vec![peer; 65_536])),
        Err(MrtEncodeError::TooLong {
            field: "peer count",
            len: 65_536,
            max: 65_535
        })
    );
    let fits = table(b"", vec![peer; 65_535]);
    assert_eq!(only_record(&emit_after_previous(&fits).unwrap()), fits);
}

#[test]
fn emit_refuses_table_dump_records_that_cannot_hold_their_fields() {
    let entry = |peer_ip, attributes| MrtRecord {
        timestamp: 1,
        microseconds: None,
        body: MrtBody::TableDump(TableDumpEntry {
            view_number: 0,
            sequence: 0,
            prefix: "192.0.2.0/24".parse().unwrap(),
            status: 1,
            originated_time: 1,
            peer_ip,
            peer_as: 65001,
            attributes,
        }),
    };
    // RFC 6396 section 4.2: Attribute Length is 2 octets.
    let v4_peer = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(
        emit_after_previous(&entry(v4_peer, &TOO_LONG)),
        Err(MrtEncodeError::TooLong {
            field: "TABLE_DUMP attributes",
            len: 65_536,
            max: 65_535
        })
    );
    // The peer address is 4 octets in an AFI_IPv4 record: an IPv4-mapped IPv6 peer fits,
    // any other IPv6 peer does not.
    let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
    let bytes = emit_after_previous(&entry(mapped, b"")).unwrap();
    assert_eq!(only_record(&bytes), entry(v4_peer, b""));
    let v6_peer: IpAddr = "2001:db8::1".parse().unwrap();
    assert_eq!(
        emit_after_previous(&entry(v6_peer, b"")),
        Err(MrtEncodeError::TableDumpPeerFamily {
            peer: v6_peer,
            prefix: "192.0.2.0/24".parse().unwrap()
        })
    );
}

/// One TABLE_DUMP AFI_IPv4 entry without view and sequence numbers, as the batched
/// records of early Zebra dumps hold them: prefix, length, status, originated time, peer
/// address, peer AS, attribute length, attributes.
fn batched_entry(prefix: [u8; 4], len: u8, peer: [u8; 4], peer_as: u16, attrs: &[u8]) -> Vec<u8> {
    let mut e = prefix.to_vec();
    e.extend_from_slice(&[len, 1]);
    e.extend_from_slice(&947_550_744u32.to_be_bytes());
    e.extend_from_slice(&peer);
    e.extend_from_slice(&peer_as.to_be_bytes());
    e.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
    e.extend_from_slice(attrs);
    e
}

/// A batched record: header whose Length counts the entries only, then view and sequence
/// numbers, then the entries.
fn batched_record(timestamp: u32, view: u16, sequence: u16, entries: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = entries.concat();
    let mut r = timestamp.to_be_bytes().to_vec();
    r.extend_from_slice(&[0, 12, 0, 1]);
    r.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
    r.extend_from_slice(&view.to_be_bytes());
    r.extend_from_slice(&sequence.to_be_bytes());
    r.extend_from_slice(&body);
    r
}

#[test]
fn batched_table_dump_records_are_split_into_entries() {
    // ORIGIN IGP.
    let attrs = [0x40, 1, 1, 0];
    let first = batched_entry([3, 0, 0, 0], 8, [204, 152, 166, 29], 3549, &attrs);
    let second = batched_entry([3, 0, 0, 0], 8, [206, 251, 0, 85], 3549, &[]);
    let third = batched_entry([4, 0, 0, 0], 8, [204, 152, 166, 29], 3549, &attrs);
    let batch_one = batched_record(100, 0, 7, &[first.clone(), second.clone()]);
    let batch_two = batched_record(101, 0, 8, &[third]);
    let file = [batch_one.clone(), batch_two.clone()].concat();

    let mut reader = MrtReader::new(&file);
    let read: Vec<(usize, MrtRecord<'_>)> = reader.by_ref().map(Result::unwrap).collect();
    assert_eq!(
        reader.repairs(),
        MrtRepairs {
            batched_table_dump_records: 2,
            batched_table_dump_entries: 3
        }
    );
    assert_eq!(reader.offset(), file.len());
    // Offset, timestamp, sequence number, prefix, peer, attributes.
    type Seen<'a> = (usize, u32, u16, IpNet, IpAddr, &'a [u8]);
    let summary: Vec<Seen<'_>> = read
        .iter()
        .map(|(offset, r)| {
            let MrtBody::TableDump(t) = &r.body else {
                panic!("a TABLE_DUMP entry: {r:?}")
            };
            (
                *offset,
                r.timestamp,
                t.sequence,
                t.prefix,
                t.peer_ip,
                t.attributes,
            )
        })
        .collect();
    let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    assert_eq!(
        summary,
        [
            (
                16,
                100,
                7,
                "3.0.0.0/8".parse().unwrap(),
                v4(204, 152, 166, 29),
                &attrs[..]
            ),
            (
                16 + first.len(),
                100,
                7,
                "3.0.0.0/8".parse().unwrap(),
                v4(206, 251, 0, 85),
                &[][..]
            ),
            (
                batch_one.len() + 16,
                101,
                8,
                "4.0.0.0/8".parse().unwrap(),
                v4(204, 152, 166, 29),
                &attrs[..]
            ),
        ]
    );
    // Each entry re-emits as an RFC 6396 record: view, sequence, then the entry.
    let mut expected = record(100, 12, 1, &[&[0, 0, 0, 7][..], &first].concat());
    assert_eq!(emit(&read[0].1), expected);
    expected = record(100, 12, 1, &[&[0, 0, 0, 7][..], &second].concat());
    assert_eq!(emit(&read[1].1), expected);
}

#[test]
fn a_table_dump_record_with_trailing_bytes_is_not_taken_for_a_batch() {
    // An RFC 6396 record with 3 stray bytes after its attributes: its body read as a batch
    // would not split into whole entries, so it stays an error.
    let mut body = vec![0, 0, 0, 1];
    body.extend_from_slice(&batched_entry(
        [192, 0, 2, 0],
        24,
        [192, 0, 2, 1],
        65001,
        &[],
    ));
    body.extend_from_slice(&[1, 2, 3]);
    let file = record(1, 12, 1, &body);
    let mut reader = MrtReader::new(&file);
    let err = reader.next().unwrap().unwrap_err();
    assert_eq!(err.kind, MrtErrorKind::TrailingBytes { count: 3 });
    assert_eq!(reader.repairs(), MrtRepairs::default());
}

#[test]
fn a_batch_followed_by_something_else_than_table_dump_is_not_repaired() {
    // A well-formed batch whose next header is not TABLE_DUMP: the batched reading is
    // not confirmed, and the record is reported as RFC 6396 reads it.
    let entry = batched_entry([3, 0, 0, 0], 8, [204, 152, 166, 29], 3549, &[]);
    let mut file = batched_record(100, 0, 7, &[entry.clone(), entry]);
    file.extend_from_slice(&record(1, 16, 4, &[0; 20]));
    let mut reader = MrtReader::new(&file);
    assert!(reader.next().unwrap().is_err());
    assert_eq!(reader.repairs(), MrtRepairs::default());
}

#[test]
fn names_of_types_and_subtypes() {
    assert_eq!(MrtType(13).name(), Some("TABLE_DUMP_V2"));
    assert_eq!(MrtType(99).name(), None);
    assert_eq!(
        subtype_name(MrtType::BGP4MP_ET, 9),
        Some("MESSAGE_AS4_ADDPATH")
    );
    assert_eq!(
        subtype_name(MrtType::TABLE_DUMP_V2, 10),
        Some("RIB_IPV6_UNICAST_ADDPATH")
    );
    assert_eq!(subtype_name(MrtType::TABLE_DUMP, 2), Some("AFI_IPv6"));
    assert_eq!(subtype_name(MrtType::BGP, 1), None);
}

#[test]
fn empty_input_yields_nothing() {
    assert!(MrtReader::new(&[]).next().is_none());
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    /// Records with a valid header over the types and subtypes this module knows, and an
    /// arbitrary body: most bodies are malformed, some parse.
    fn record_bytes() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<u32>(),
            prop::sample::select(vec![5u16, 12, 13, 16, 17, 33, 48]),
            0u16..14,
            prop::collection::vec(any::<u8>(), 0..96),
        )
            .prop_map(|(ts, mrt_type, subtype, body)| {
                let mut r = ts.to_be_bytes().to_vec();
                r.extend_from_slice(&mrt_type.to_be_bytes());
                r.extend_from_slice(&subtype.to_be_bytes());
                r.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
                r.extend_from_slice(&body);
                r
            })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_end(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut steps = 0;
            for item in MrtReader::new(&bytes) {
                steps += 1;
                if let Ok((offset, record)) = item {
                    prop_assert!(offset + MRT_HEADER_LEN <= bytes.len());
                    let mut out = Vec::new();
                    prop_assert!(record.emit(&mut out).is_ok());
                }
            }
            prop_assert!(steps <= bytes.len() / MRT_HEADER_LEN + 1);
        }

        #[test]
        fn records_that_read_reemit_byte_for_byte(records in prop::collection::vec(record_bytes(), 1..8)) {
            let file = records.concat();
            let mut offset = 0;
            for (item, original) in MrtReader::new(&file).zip(&records) {
                if let Ok((at, record)) = item {
                    prop_assert_eq!(at, offset);
                    let mut out = Vec::new();
                    prop_assert!(record.emit(&mut out).is_ok());
                    prop_assert_eq!(&out, original);
                    // And what was written reads back equal.
                    let (_, again) = MrtReader::new(&out).next().unwrap().unwrap();
                    prop_assert_eq!(again, record);
                }
                offset += original.len();
            }
        }
    }

    /// Lengths on both sides of the 2-octet limit of MRT length fields.
    fn length_near_the_limit() -> impl Strategy<Value = usize> {
        prop_oneof![0usize..4, 65_533usize..65_540]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Hand-built RIB records: emit succeeds exactly when every count and length fits
        /// its 2-octet field (RFC 6396 section 4.3.2 and 4.3.4), and what it writes reads
        /// back to the same record. It never panics.
        #[test]
        fn hand_built_rib_records_emit_or_are_refused(
            attribute_lens in prop::collection::vec(length_near_the_limit(), 0..3),
            extra_entries in prop_oneof![Just(0usize), 65_533usize..65_538],
        ) {
            static BYTES: [u8; 65_540] = [0x40; 65_540];
            let mut entries: Vec<RibEntry<'_>> = attribute_lens
                .iter()
                .map(|&len| RibEntry { peer_index: 0, originated_time: 1, path_id: None, attributes: &BYTES[..len] })
                .collect();
            entries.extend(std::iter::repeat_n(RibEntry { peer_index: 1, originated_time: 2, path_id: None, attributes: &[] }, extra_entries));
            let fits = entries.len() <= 65_535 && attribute_lens.iter().all(|&len| len <= 65_535);
            let record = MrtRecord {
                timestamp: 7,
                microseconds: None,
                body: MrtBody::Rib(RibRecord {
                    sequence: 1,
                    prefix: "2001:db8::/32".parse().unwrap(),
                    multicast: false,
                    add_path: false,
                    entries,
                }),
            };
            let mut out = vec![1, 2, 3];
            let result = record.emit(&mut out);
            prop_assert_eq!(result.is_ok(), fits, "{:?}", result);
            if fits {
                let (_, again) = MrtReader::new(&out[3..]).next().unwrap().unwrap();
                prop_assert_eq!(again, record);
            } else {
                prop_assert_eq!(out, vec![1, 2, 3]);
            }
        }
    }

    /// (offset, the record as emitted, or the error) for each item of `reader`, offsets
    /// moved by `base`.
    fn items(reader: &mut MrtReader<'_>, base: usize) -> Vec<(usize, Result<Vec<u8>, MrtError>)> {
        reader
            .map(|item| match item {
                Ok((offset, record)) => {
                    let mut out = Vec::new();
                    record
                        .emit(&mut out)
                        .expect("a record that was read re-emits");
                    (base + offset, Ok(out))
                }
                Err(mut e) => {
                    e.offset += base;
                    (e.offset, Err(e))
                }
            })
            .collect()
    }

    /// Reads `bytes` as a stream arriving `piece` bytes at a time: partial readers over
    /// what has arrived, a whole reader over the last piece.
    fn read_in_pieces(bytes: &[u8], piece: usize) -> Vec<(usize, Result<Vec<u8>, MrtError>)> {
        let mut seen = Vec::new();
        let (mut start, mut arrived) = (0, piece.min(bytes.len()));
        loop {
            let last = arrived == bytes.len();
            let window = &bytes[start..arrived];
            let mut reader = if last {
                MrtReader::new(window)
            } else {
                MrtReader::new_partial(window)
            };
            seen.extend(items(&mut reader, start));
            if last {
                return seen;
            }
            start += reader.offset();
            arrived = (arrived + piece).min(bytes.len());
        }
    }

    proptest! {
        /// A self-consistency check (the reader against itself): a stream read piece by
        /// piece with `new_partial` yields what the whole input yields, batched TABLE_DUMP
        /// records included.
        #[test]
        fn reading_in_pieces_yields_what_reading_whole_does(
            records in prop::collection::vec(record_bytes(), 1..8),
            batches in prop::collection::vec(1usize..4, 0..3),
            piece in 1usize..200,
        ) {
            let mut file = records.concat();
            for entries in batches {
                let entry = batched_entry([10, 0, 0, 0], 8, [192, 0, 2, 1], 65001, &[0x40, 1, 1, 0]);
                file.extend(batched_record(5, 0, 1, &vec![entry; entries]));
            }
            let whole = items(&mut MrtReader::new(&file), 0);
            prop_assert_eq!(read_in_pieces(&file, piece), whole);
        }
    }
}
