//! Hand-built vectors decoded and re-encoded: the basic shape of every message.

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_wire::{
    frame, AddPathFamilies, AsPath, AttrFlags, AttrType, AttrValue, Capability, Community,
    ErrorCode, Family, Message, MpNextHop, Nlri, Notification, Open, Origin, PathAttribute,
    RouteRefresh, RouteRefreshSubtype, SessionParams, Update,
};

fn with_header(message_type: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xff; 16];
    out.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    out.push(message_type);
    out.extend_from_slice(body);
    out
}

fn net(s: &str) -> Nlri {
    Nlri::new(s.parse().unwrap())
}

/// A typical IPv4 UPDATE from a 4-octet AS session.
fn sample_update_bytes() -> Vec<u8> {
    let mut attrs = vec![
        0x40, 1, 1, 0, // ORIGIN IGP
        0x40, 2, 14, 2, 3, 0, 0, 0xfd, 0xe8, 0, 0, 0x0b, 0x62, 0, 0, 0x34,
        0x17, // AS_PATH 65000 2914 13335
        0x40, 3, 4, 192, 0, 2, 1, // NEXT_HOP
        0x80, 4, 4, 0, 0, 0, 10, // MED 10
        0xc0, 8, 8, 0xfd, 0xe8, 0, 1, 0xff, 0xff, 0xff, 0x01, // COMMUNITIES
    ];
    let nlri = [24, 10, 1, 2, 16, 172, 16];
    let mut body = vec![0, 0];
    body.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
    body.append(&mut attrs);
    body.extend_from_slice(&nlri);
    with_header(2, &body)
}

#[test]
fn parse_update_typical() {
    let params = SessionParams::modern();
    let bytes = sample_update_bytes();
    assert_eq!(frame(&bytes, &params), Ok(Some(bytes.len())));
    let Message::Update(update) = Message::parse(&bytes, &params).unwrap() else {
        panic!("not an UPDATE")
    };
    assert!(update.issues.is_empty());
    assert_eq!(update.origin(), Some(Origin::Igp));
    assert_eq!(
        update.as_path(),
        Some(&AsPath::from_sequence([65000, 2914, 13335]))
    );
    assert_eq!(update.next_hop(), Some(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(update.multi_exit_disc(), Some(10));
    assert_eq!(
        update.communities(),
        &[Community::new(65000, 1), Community::NO_EXPORT]
    );
    assert_eq!(update.nlri, vec![net("10.1.2.0/24"), net("172.16.0.0/16")]);
    let announced: Vec<_> = update.announced().map(|(f, n)| (f, *n)).collect();
    assert_eq!(
        announced,
        vec![
            (Family::IPV4_UNICAST, net("10.1.2.0/24")),
            (Family::IPV4_UNICAST, net("172.16.0.0/16"))
        ]
    );
    assert_eq!(update.end_of_rib(), None);
    let msg = Message::Update(update);
    assert_eq!(msg.encoded_len(&params), bytes.len());
    assert_eq!(msg.to_bytes(&params), bytes);
}

#[test]
fn emit_update_ipv6_roundtrip() {
    let params = SessionParams {
        four_octet_as: true,
        add_path: AddPathFamilies::none(),
        extended_message: false,
    };
    let update = Update::mp_announcement(
        Family::IPV6_UNICAST,
        MpNextHop::Ipv6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: Some(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        },
        [
            PathAttribute::new(AttrValue::Origin(Origin::Incomplete)),
            PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence([
                4_200_000_000,
                65001,
            ]))),
        ],
        [
            Nlri::new("2001:db8:1::/48".parse().unwrap()),
            Nlri::new("2001:db8:2::/47".parse().unwrap()),
        ],
    );
    let msg = Message::Update(update.clone());
    let bytes = msg.to_bytes(&params);
    assert_eq!(bytes.len(), msg.encoded_len(&params));
    assert_eq!(Message::parse(&bytes, &params).unwrap(), msg);
    let announced: Vec<_> = update
        .announced()
        .map(|(f, n)| (f, n.prefix.to_string()))
        .collect();
    assert_eq!(
        announced[0],
        (Family::IPV6_UNICAST, "2001:db8:1::/48".to_string())
    );
}

#[test]
fn parse_update_add_path_ipv4() {
    let mut params = SessionParams::modern();
    params.add_path.insert(Family::IPV4_UNICAST);
    let update = Update::ipv4_withdrawal([Nlri::with_path_id("10.0.0.0/8".parse().unwrap(), 42)]);
    let msg = Message::Update(update);
    let bytes = msg.to_bytes(&params);
    assert_eq!(&bytes[19..], &[0, 6, 0, 0, 0, 42, 8, 10, 0, 0]);
    assert_eq!(Message::parse(&bytes, &params).unwrap(), msg);
}

#[test]
fn unknown_attribute_kept_with_flags_and_extended_length() {
    let params = SessionParams::modern();
    // Optional transitive partial, extended length on a 2-byte value; then LOCAL_PREF with
    // the extended-length bit too.
    let attrs = [0xf0, 99, 0, 2, 0xab, 0xcd, 0x50, 5, 0, 4, 0, 0, 0, 100];
    let mut body = vec![0, 0, 0, attrs.len() as u8];
    body.extend_from_slice(&attrs);
    let bytes = with_header(2, &body);
    let Message::Update(update) = Message::parse(&bytes, &params).unwrap() else {
        panic!()
    };
    assert_eq!(update.attributes[0].flags, AttrFlags(0xf0));
    assert_eq!(
        update.attribute(AttrType(99)).map(|a| &a.value),
        Some(&AttrValue::Raw(bgp_wire::RawAttribute {
            type_code: AttrType(99),
            value: vec![0xab, 0xcd]
        }))
    );
    assert_eq!(update.local_pref(), Some(100));
    assert_eq!(Message::Update(update).to_bytes(&params), bytes);
}

#[test]
fn open_roundtrip_and_asn() {
    let open = Open::new(
        4_200_000_001,
        90,
        Ipv4Addr::new(10, 0, 0, 1),
        vec![
            Capability::multiprotocol(Family::IPV4_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(4_200_000_001),
            Capability::Unknown {
                code: 128,
                value: vec![],
            },
        ],
    );
    assert_eq!(open.my_as, Open::AS_TRANS);
    assert_eq!(open.asn(), 4_200_000_001);
    let msg = Message::Open(open);
    let params = SessionParams::default();
    let bytes = msg.to_bytes(&params);
    assert_eq!(bytes.len(), msg.encoded_len(&params));
    assert_eq!(
        bytes[28], 18,
        "one parameter: 2 header bytes and 16 of capabilities"
    );
    assert_eq!(Message::parse(&bytes, &params).unwrap(), msg);
}

#[test]
fn notification_keepalive_route_refresh_roundtrip() {
    let params = SessionParams::default();
    for msg in [
        Message::Notification(Notification::new(ErrorCode::HOLD_TIMER_EXPIRED, 0)),
        Message::Notification(Notification::shutdown("maintenance", false)),
        Message::Keepalive,
        Message::RouteRefresh(RouteRefresh::new(
            Family::IPV6_UNICAST,
            RouteRefreshSubtype::EndOfRefresh,
        )),
    ] {
        let bytes = msg.to_bytes(&params);
        assert_eq!(bytes.len(), msg.encoded_len(&params));
        assert_eq!(frame(&bytes, &params), Ok(Some(bytes.len())));
        assert_eq!(frame(&bytes[..bytes.len() - 1], &params), Ok(None));
        assert_eq!(Message::parse(&bytes, &params).unwrap(), msg);
    }
}

#[test]
fn shutdown_communication() {
    let n = Notification::shutdown("upgrade to 1.2", true);
    assert_eq!(n.subcode, Notification::CEASE_ADMIN_RESET);
    assert_eq!(n.data[0], 14);
    assert_eq!(n.shutdown_communication(), Some("upgrade to 1.2"));
    // Cut at a character boundary: 200 two-byte characters are 400 bytes.
    let long = "é".repeat(200);
    let n = Notification::shutdown(&long, false);
    assert_eq!(n.data[0], 254);
    assert_eq!(n.shutdown_communication().map(str::len), Some(254));
    // Length past the data, invalid UTF-8, wrong subcode: no communication.
    let bad_len = Notification {
        code: ErrorCode::CEASE,
        subcode: 2,
        data: vec![5, b'a'],
    };
    assert_eq!(bad_len.shutdown_communication(), None);
    let bad_utf8 = Notification {
        code: ErrorCode::CEASE,
        subcode: 2,
        data: vec![1, 0xff],
    };
    assert_eq!(bad_utf8.shutdown_communication(), None);
    let other = Notification {
        code: ErrorCode::CEASE,
        subcode: 3,
        data: vec![1, b'a'],
    };
    assert_eq!(other.shutdown_communication(), None);
}

#[test]
fn end_of_rib_markers() {
    let params = SessionParams::modern();
    for family in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
        let bytes = Message::Update(Update::end_of_rib_marker(family)).to_bytes(&params);
        let Message::Update(update) = Message::parse(&bytes, &params).unwrap() else {
            panic!()
        };
        assert_eq!(update.end_of_rib(), Some(family));
    }
}

#[test]
fn merge_as4_path() {
    // RFC 6793 4.2.3: AS_PATH 65001 23456 23456 65002 from a 2-octet speaker, AS4_PATH holds
    // the last three with the real 4-octet numbers.
    let as_path = AsPath::from_sequence([65001, 23456, 23456, 65002]);
    let as4 = AsPath::from_sequence([4_200_000_001, 4_200_000_002, 65002]);
    assert_eq!(
        as_path.merge_as4(&as4),
        AsPath::from_sequence([65001, 4_200_000_001, 4_200_000_002, 65002])
    );
    // AS4_PATH longer than AS_PATH: ignored.
    let short = AsPath::from_sequence([65001]);
    assert_eq!(short.merge_as4(&as4), short);

    let params = SessionParams::default();
    let update = Update::new()
        .with_attribute(AttrValue::AsPath(as_path))
        .with_attribute(AttrValue::As4Path(as4));
    assert_eq!(update.effective_as_path(&params).path_length(), 4);
    assert_eq!(update.effective_as_path(&params).first_as(), Some(65001));
    assert_eq!(
        update.effective_as_path(&params).segments[0].asns[1],
        4_200_000_001
    );
    assert_eq!(
        update.effective_as_path(&SessionParams::modern()),
        update.as_path().cloned().unwrap()
    );
}

#[test]
fn set_and_remove_attributes() {
    let mut update = Update::new()
        .with_attribute(AttrValue::LocalPref(100))
        .with_attribute(AttrValue::Origin(Origin::Igp));
    update.set_attribute(AttrValue::LocalPref(200));
    assert_eq!(update.local_pref(), Some(200));
    assert_eq!(update.attributes.len(), 2);
    update.set_attribute(AttrValue::MultiExitDisc(5));
    assert_eq!(update.attributes.len(), 3);
    let removed = update.remove_attribute(AttrType::LOCAL_PREF).unwrap();
    assert_eq!(removed.value, AttrValue::LocalPref(200));
    assert_eq!(update.local_pref(), None);
    assert!(update.remove_attribute(AttrType::LOCAL_PREF).is_none());
}

#[test]
fn prepare_as4_attributes_for_old_and_new_speakers() {
    use bgp_wire::{Aggregator, AsPathSegment, SegmentType};
    let mut path = AsPath::from_sequence([4_200_000_001, 65001]);
    path.segments.insert(
        0,
        AsPathSegment {
            kind: SegmentType::ConfedSequence,
            asns: [65010].into_iter().collect(),
        },
    );
    let aggregator = Aggregator {
        asn: 4_200_000_002,
        address: Ipv4Addr::new(10, 0, 0, 9),
    };
    let base = Update::new()
        .with_attribute(AttrValue::AsPath(path.clone()))
        .with_attribute(AttrValue::Aggregator(aggregator))
        .with_attribute(AttrValue::As4Path(AsPath::from_sequence([1])));

    // To a 2-octet speaker: AS4_PATH without the confederation segment, AS4_AGGREGATOR,
    // AGGREGATOR naming AS_TRANS; the stale AS4_PATH is replaced.
    let old = SessionParams::default();
    let mut update = base.clone();
    update.prepare_as4_attributes(&old);
    assert_eq!(
        update.as4_path(),
        Some(&AsPath::from_sequence([4_200_000_001, 65001]))
    );
    assert_eq!(update.as4_aggregator(), Some(aggregator));
    assert_eq!(
        update.aggregator().map(|a| a.asn),
        Some(u32::from(Open::AS_TRANS))
    );
    // On the wire AS_PATH carries AS_TRANS; the receiver merges the true path back.
    let bytes = Message::Update(update).to_bytes(&old);
    let Message::Update(received) = Message::parse(&bytes, &old).unwrap() else {
        panic!()
    };
    assert_eq!(
        received.as_path().unwrap().segments[1].asns[0],
        u32::from(Open::AS_TRANS)
    );
    let mut expected = path.clone();
    expected.segments[1].asns[0] = 4_200_000_001;
    assert_eq!(received.effective_as_path(&old), expected);
    assert_eq!(received.effective_aggregator(&old), Some(aggregator));

    // To a 4-octet speaker: no AS4 attributes at all.
    let mut update = base.clone();
    update.prepare_as4_attributes(&SessionParams::modern());
    assert_eq!(update.as4_path(), None);
    assert_eq!(update.aggregator(), Some(aggregator));

    // A path that fits two octets needs no AS4_PATH.
    let mut small = Update::new().with_attribute(AttrValue::AsPath(AsPath::from_sequence([65001])));
    small.prepare_as4_attributes(&old);
    assert_eq!(small.attributes.len(), 1);
}

#[test]
fn names_for_logs() {
    assert_eq!(AttrType::AS_PATH.name(), Some("AS_PATH"));
    assert_eq!(AttrType(99).name(), None);
    assert_eq!(ErrorCode::CEASE.name(), Some("Cease"));
    assert_eq!(
        Notification::shutdown("maintenance", false).to_string(),
        "Cease / Administrative Shutdown (6/2): \"maintenance\""
    );
    let n = Notification {
        code: ErrorCode::UPDATE_MESSAGE,
        subcode: 3,
        data: vec![2],
    };
    assert_eq!(
        n.to_string(),
        "UPDATE Message Error / Missing Well-known Attribute (3/3), data 02"
    );
    let n = Notification {
        code: ErrorCode(42),
        subcode: 9,
        data: vec![],
    };
    assert_eq!(n.to_string(), "Error code 42 (42/9)");
}

#[test]
fn parse_bare_path_attributes() {
    let field = [0x40, 1, 1, 2, 0x40, 2, 0, 0xc0, 8, 3, 1, 2, 3];
    let update = Update::parse_path_attributes(&field, &SessionParams::modern()).unwrap();
    assert_eq!(update.origin(), Some(Origin::Incomplete));
    assert_eq!(update.as_path(), Some(&AsPath::default()));
    assert_eq!(update.issues.len(), 1, "COMMUNITIES of 3 bytes");
    assert_eq!(update.issues[0].error.offset, 7);
    // An MP_REACH that cannot be parsed is an error.
    let err =
        Update::parse_path_attributes(&[0x80, 14, 2, 0, 2], &SessionParams::modern()).unwrap_err();
    assert_eq!(err.notification().subcode, 9);
}
