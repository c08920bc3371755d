//! Hand-written wire encodings, checked both ways: every capability and every path
//! attribute decodes from the bytes its RFC lays out, and encodes back to them. Round
//! trips alone cannot catch an encoding that is consistently wrong; these can.

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_wire::{
    AddPathDirection, AddPathEntry, Afi, Aggregator, AsPath, AsPathSegment, AttrType, AttrValue,
    Capability, Community, ExtendedCommunity, Family, GracefulRestart, GracefulRestartFamily,
    LargeCommunity, LlgrFamily, Message, MpNextHop, MpNlri, MpReach, MpUnreach, Nlri, Open,
    OptionalParameter, Origin, PathAttribute, RawAttribute, Role, Safi, SegmentType, SessionParams,
    Update,
};

/// An OPEN carrying one capability, as bytes.
fn open_with(cap: &[u8]) -> Vec<u8> {
    let mut body = vec![4, 0xfd, 0xe9, 0, 180, 192, 0, 2, 1];
    body.push(u8::try_from(cap.len() + 2).unwrap());
    body.extend_from_slice(&[2, u8::try_from(cap.len()).unwrap()]);
    body.extend_from_slice(cap);
    let mut out = vec![0xff; 16];
    out.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    out.push(1);
    out.extend_from_slice(&body);
    out
}

fn check_capability(cap: Capability, bytes: &[u8]) {
    let wire = open_with(bytes);
    let params = SessionParams::default();
    let Ok(Message::Open(open)) = Message::parse(&wire, &params) else {
        panic!("{cap:?} does not decode")
    };
    assert_eq!(open.capabilities().collect::<Vec<_>>(), vec![&cap]);
    let built = Open {
        version: 4,
        my_as: 65001,
        hold_time: 180,
        bgp_identifier: Ipv4Addr::new(192, 0, 2, 1),
        parameters: vec![OptionalParameter::Capabilities(vec![cap])],
        extended_parameters_length: false,
    };
    assert_eq!(Message::Open(built).to_bytes(&params), wire);
}

const V6_UNICAST: Family = Family::IPV6_UNICAST;

#[test]
fn capabilities_match_their_rfc_layouts() {
    // RFC 4760: AFI, reserved, SAFI.
    check_capability(Capability::multiprotocol(V6_UNICAST), &[1, 4, 0, 2, 0, 1]);
    // RFC 2918.
    check_capability(Capability::RouteRefresh, &[2, 0]);
    // RFC 8950: NLRI AFI (2), NLRI SAFI (2), next-hop AFI (2).
    check_capability(
        Capability::ExtendedNextHop(vec![(Family::IPV4_UNICAST, Afi::IPV6)]),
        &[5, 6, 0, 1, 0, 1, 0, 2],
    );
    // RFC 8654.
    check_capability(Capability::ExtendedMessage, &[6, 0]);
    // RFC 9234: one octet, 2 = route server client.
    check_capability(Capability::Role(Role::RouteServerClient), &[9, 1, 2]);
    // RFC 4724: R bit and 12-bit time, then AFI, SAFI, flags (F bit 0x80).
    check_capability(
        Capability::GracefulRestart(GracefulRestart {
            flags: 0x8,
            restart_time: 120,
            families: vec![GracefulRestartFamily {
                family: Family::IPV4_UNICAST,
                flags: 0x80,
            }],
        }),
        &[64, 6, 0x80, 120, 0, 1, 1, 0x80],
    );
    // RFC 6793.
    check_capability(
        Capability::FourOctetAs(4_200_000_000),
        &[65, 4, 0xfa, 0x56, 0xea, 0x00],
    );
    // RFC 7911: AFI, SAFI, send/receive (3 = both).
    check_capability(
        Capability::AddPath(vec![AddPathEntry {
            family: V6_UNICAST,
            direction: AddPathDirection::Both,
        }]),
        &[69, 4, 0, 2, 1, 3],
    );
    // RFC 7313.
    check_capability(Capability::EnhancedRouteRefresh, &[70, 0]);
    // Long-lived graceful restart: AFI, SAFI, flags, 24-bit stale time.
    check_capability(
        Capability::LongLivedGracefulRestart(vec![LlgrFamily {
            family: V6_UNICAST,
            flags: 0x80,
            stale_time: 0x01_0203,
        }]),
        &[71, 7, 0, 2, 1, 0x80, 1, 2, 3],
    );
    // FQDN: length-prefixed host name and domain name.
    check_capability(
        Capability::Fqdn {
            hostname: b"rs1".to_vec(),
            domain: b"ix".to_vec(),
        },
        &[73, 7, 3, b'r', b's', b'1', 2, b'i', b'x'],
    );
    // Software version: one length octet, then the text.
    check_capability(
        Capability::SoftwareVersion(b"v1".to_vec()),
        &[75, 3, 2, b'v', b'1'],
    );
    // Unknown codes are kept as sent (128: the pre-standard route refresh).
    check_capability(
        Capability::Unknown {
            code: 128,
            value: vec![],
        },
        &[128, 0],
    );
}

/// An UPDATE holding one attribute and no routes, as bytes.
fn update_with(attr: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0];
    body.extend_from_slice(&u16::try_from(attr.len()).unwrap().to_be_bytes());
    body.extend_from_slice(attr);
    let mut out = vec![0xff; 16];
    out.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    out.push(2);
    out.extend_from_slice(&body);
    out
}

fn check_attribute(value: AttrValue, bytes: &[u8], params: &SessionParams) {
    let wire = update_with(bytes);
    let Ok(Message::Update(update)) = Message::parse(&wire, params) else {
        panic!("{value:?} does not decode")
    };
    // Alone in its UPDATE an MP_REACH_NLRI lacks ORIGIN and AS_PATH; nothing else may be wrong.
    let missing = |i: &bgp_wire::AttrIssue| {
        matches!(
            i.error.kind,
            bgp_wire::DecodeErrorKind::MissingWellKnownAttribute { .. }
        )
    };
    assert!(
        update.issues.iter().all(missing),
        "{value:?}: {:?}",
        update.issues
    );
    assert_eq!(update.attributes, vec![PathAttribute::new(value.clone())]);
    let built = Update::new().with_attribute(value);
    assert_eq!(Message::Update(built).to_bytes(params), wire);
}

#[test]
fn attributes_match_their_rfc_layouts() {
    let modern = SessionParams::modern();
    let old = SessionParams::default();
    check_attribute(AttrValue::Origin(Origin::Egp), &[0x40, 1, 1, 1], &modern);
    // AS_PATH: segment type, count, AS numbers (4 octets on a 4-octet session, 2 on an old one).
    let path = AsPath {
        segments: [
            AsPathSegment {
                kind: SegmentType::AsSequence,
                asns: [65001, 65002].into_iter().collect(),
            },
            AsPathSegment {
                kind: SegmentType::AsSet,
                asns: [7].into_iter().collect(),
            },
        ]
        .into_iter()
        .collect(),
    };
    check_attribute(
        AttrValue::AsPath(path.clone()),
        &[
            0x40, 2, 16, 2, 2, 0, 0, 0xfd, 0xe9, 0, 0, 0xfd, 0xea, 1, 1, 0, 0, 0, 7,
        ],
        &modern,
    );
    check_attribute(
        AttrValue::AsPath(path),
        &[0x40, 2, 10, 2, 2, 0xfd, 0xe9, 0xfd, 0xea, 1, 1, 0, 7],
        &old,
    );
    check_attribute(
        AttrValue::NextHop(Ipv4Addr::new(192, 0, 2, 1)),
        &[0x40, 3, 4, 192, 0, 2, 1],
        &modern,
    );
    check_attribute(
        AttrValue::MultiExitDisc(0x0102_0304),
        &[0x80, 4, 4, 1, 2, 3, 4],
        &modern,
    );
    check_attribute(
        AttrValue::LocalPref(100),
        &[0x40, 5, 4, 0, 0, 0, 100],
        &modern,
    );
    check_attribute(AttrValue::AtomicAggregate, &[0x40, 6, 0], &modern);
    let agg = Aggregator {
        asn: 65001,
        address: Ipv4Addr::new(10, 0, 0, 1),
    };
    check_attribute(
        AttrValue::Aggregator(agg),
        &[0xc0, 7, 8, 0, 0, 0xfd, 0xe9, 10, 0, 0, 1],
        &modern,
    );
    check_attribute(
        AttrValue::Aggregator(agg),
        &[0xc0, 7, 6, 0xfd, 0xe9, 10, 0, 0, 1],
        &old,
    );
    check_attribute(
        AttrValue::Communities(vec![Community::new(65001, 100), Community::NO_EXPORT]),
        &[0xc0, 8, 8, 0xfd, 0xe9, 0, 100, 0xff, 0xff, 0xff, 0x01],
        &modern,
    );
    check_attribute(
        AttrValue::OriginatorId(Ipv4Addr::new(10, 0, 0, 2)),
        &[0x80, 9, 4, 10, 0, 0, 2],
        &modern,
    );
    check_attribute(
        AttrValue::ClusterList(vec![Ipv4Addr::new(10, 0, 0, 3), Ipv4Addr::new(10, 0, 0, 4)]),
        &[0x80, 10, 8, 10, 0, 0, 3, 10, 0, 0, 4],
        &modern,
    );
    // RFC 4760 section 3: AFI, SAFI, next hop length and address, reserved, NLRI.
    check_attribute(
        AttrValue::MpReachNlri(MpReach {
            family: V6_UNICAST,
            next_hop: MpNextHop::Ipv6 {
                global: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
                link_local: None,
            },
            reserved: 0,
            nlri: MpNlri::Prefixes(vec![Nlri::new("2001:db8:1::/48".parse().unwrap())]),
        }),
        &[
            0x80, 14, 28, 0, 2, 1, 16, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
            0, 48, 0x20, 0x01, 0x0d, 0xb8, 0, 1,
        ],
        &modern,
    );
    // RFC 4760 section 4: AFI, SAFI, withdrawn routes.
    check_attribute(
        AttrValue::MpUnreachNlri(MpUnreach {
            family: V6_UNICAST,
            nlri: MpNlri::Prefixes(vec![Nlri::new("2001:db8::/32".parse().unwrap())]),
        }),
        &[0x80, 15, 8, 0, 2, 1, 32, 0x20, 0x01, 0x0d, 0xb8],
        &modern,
    );
    // Opaque families keep their NLRI bytes (here an EVPN route, AFI 25 SAFI 70).
    check_attribute(
        AttrValue::MpUnreachNlri(MpUnreach {
            family: Family::new(Afi::L2VPN, Safi::EVPN),
            nlri: MpNlri::Opaque(vec![2, 3, 1, 2, 3]),
        }),
        &[0x80, 15, 8, 0, 25, 70, 2, 3, 1, 2, 3],
        &modern,
    );
    check_attribute(
        AttrValue::ExtendedCommunities(vec![ExtendedCommunity([0, 2, 0xfd, 0xe9, 0, 0, 0, 1])]),
        &[0xc0, 16, 8, 0, 2, 0xfd, 0xe9, 0, 0, 0, 1],
        &modern,
    );
    check_attribute(
        AttrValue::As4Path(AsPath::from_sequence([4_200_000_000])),
        &[0xc0, 17, 6, 2, 1, 0xfa, 0x56, 0xea, 0x00],
        &old,
    );
    check_attribute(
        AttrValue::As4Aggregator(Aggregator {
            asn: 4_200_000_000,
            address: Ipv4Addr::new(10, 0, 0, 1),
        }),
        &[0xc0, 18, 8, 0xfa, 0x56, 0xea, 0x00, 10, 0, 0, 1],
        &old,
    );
    check_attribute(
        AttrValue::LargeCommunities(vec![LargeCommunity {
            global_admin: 65001,
            local_data_1: 1,
            local_data_2: 2,
        }]),
        &[0xc0, 32, 12, 0, 0, 0xfd, 0xe9, 0, 0, 0, 1, 0, 0, 0, 2],
        &modern,
    );
    check_attribute(
        AttrValue::OnlyToCustomer(65001),
        &[0xc0, 35, 4, 0, 0, 0xfd, 0xe9],
        &modern,
    );
    check_attribute(
        AttrValue::Raw(RawAttribute {
            type_code: AttrType(99),
            value: vec![1, 2, 3],
        }),
        &[0xc0, 99, 3, 1, 2, 3],
        &modern,
    );
}

#[test]
fn long_attributes_use_the_extended_length() {
    // 70 communities are 280 bytes: flags gain 0x10 and the length takes 2 octets.
    let communities: Vec<_> = (0..70).map(|i| Community::new(65001, i)).collect();
    let update = Update::new().with_attribute(AttrValue::Communities(communities));
    let bytes = Message::Update(update.clone()).to_bytes(&SessionParams::modern());
    assert_eq!(&bytes[23..27], &[0xd0, 8, 0x01, 0x18]);
    let Ok(Message::Update(back)) = Message::parse(&bytes, &SessionParams::modern()) else {
        panic!()
    };
    assert_eq!(back.communities(), update.communities());
}

#[test]
fn multiprotocol_reserved_octet_survives_a_round_trip() {
    // FRR's OPEN from a real session (tests/data/captures), each Multiprotocol
    // capability's reserved octet set to a non-zero value. RFC 4760 section 8 has the
    // receiver ignore that octet: the family is what it was, the octet is kept, and the
    // message re-encodes byte for byte.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/captures/vectors/open-frr.bin"
    );
    let mut wire = std::fs::read(path).expect("the capture is part of the crate");
    let params = SessionParams::default();
    let Ok(Message::Open(original)) = Message::parse(&wire, &params) else {
        panic!("open-frr.bin decodes")
    };
    let families: Vec<Family> = original
        .capabilities()
        .filter_map(Capability::multiprotocol_family)
        .collect();
    assert_eq!(families, [Family::IPV4_UNICAST, Family::IPV6_UNICAST]);

    // Capability code 1, length 4, then AFI (2), reserved (1), SAFI (1).
    let mut mutated = 0;
    for afi in [1u8, 2] {
        let pattern = [1, 4, 0, afi, 0, 1];
        let at = wire
            .windows(pattern.len())
            .position(|w| w == pattern)
            .expect("FRR sends MP for IPv4 and IPv6 unicast");
        wire[at + 4] = 0xa5 ^ afi;
        mutated += 1;
    }
    assert_eq!(mutated, 2);

    let Ok(Message::Open(open)) = Message::parse(&wire, &params) else {
        panic!("a non-zero reserved octet is ignored, not refused")
    };
    let decoded: Vec<(Family, u8)> = open
        .capabilities()
        .filter_map(|c| match c {
            Capability::Multiprotocol { family, reserved } => Some((*family, *reserved)),
            _ => None,
        })
        .collect();
    assert_eq!(
        decoded,
        [
            (Family::IPV4_UNICAST, 0xa5 ^ 1),
            (Family::IPV6_UNICAST, 0xa5 ^ 2)
        ]
    );
    assert_eq!(Message::Open(open).to_bytes(&params), wire);
}
