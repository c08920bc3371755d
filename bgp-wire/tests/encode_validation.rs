//! Encoding validation: every value `emit` cannot write faithfully is refused by
//! `validate` and `try_to_bytes` with the error naming it; every value that validates
//! round-trips (`parse(emit(x)) == x`, `encoded_len` exact), near the limits included;
//! every message decoded from real data validates; the packer only produces UPDATEs that
//! validate and refuses what cannot be sent.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use bgp_wire::{
    AddPathDirection, AddPathEntry, AddPathFamilies, Afi, Aggregator, AsPath, AsPathSegment,
    AttrFlags, AttrType, AttrValue, Capability, Community, EncodeError, ErrorCode,
    ExtendedCommunity, Family, GracefulRestart, LargeCommunity, LlgrFamily, Message, MessageType,
    MpNextHop, MpNlri, MpReach, MpUnreach, Nlri, Notification, Open, OptionalParameter, Origin,
    PackError, PathAttribute, RawAttribute, Role, RouteRefresh, RouteRefreshSubtype, Safi,
    SegmentType, SessionParams, Update, UpdatePacker,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::collection::vec;
use proptest::prelude::*;
use smallvec::SmallVec;

// --- Helpers -------------------------------------------------------------------------

fn two_octet() -> SessionParams {
    SessionParams::default()
}

fn modern() -> SessionParams {
    SessionParams::modern()
}

fn extended() -> SessionParams {
    SessionParams {
        extended_message: true,
        ..SessionParams::modern()
    }
}

fn v4(s: &str) -> Nlri {
    Nlri::new(s.parse().unwrap())
}

fn v6(s: &str) -> Nlri {
    Nlri::new(s.parse().unwrap())
}

fn base_attrs(path: AsPath) -> Vec<PathAttribute> {
    vec![
        PathAttribute::new(AttrValue::Origin(Origin::Igp)),
        PathAttribute::new(AttrValue::AsPath(path)),
        PathAttribute::new(AttrValue::NextHop(Ipv4Addr::new(192, 0, 2, 1))),
    ]
}

fn announcement(attributes: Vec<PathAttribute>) -> Message {
    Message::Update(Update::ipv4_announcement(
        attributes,
        [v4("198.51.100.0/24")],
    ))
}

fn with(value: AttrValue) -> Message {
    let mut attrs = base_attrs(AsPath::from_sequence([64500]));
    attrs.push(PathAttribute::new(value));
    announcement(attrs)
}

fn segment(kind: SegmentType, asns: impl IntoIterator<Item = u32>) -> AsPathSegment {
    AsPathSegment {
        kind,
        asns: asns.into_iter().collect(),
    }
}

fn path_of(segments: Vec<AsPathSegment>) -> AsPath {
    AsPath {
        segments: segments.into(),
    }
}

fn open_with(capabilities: Vec<Capability>) -> Open {
    Open::new(64500, 90, Ipv4Addr::new(192, 0, 2, 1), capabilities)
}

/// `msg` is refused on a session with `params` with exactly `expected`, by `validate`,
/// `try_to_bytes` and `try_emit` (which writes nothing).
#[track_caller]
fn refused(msg: &Message, params: &SessionParams, expected: EncodeError) {
    assert_eq!(msg.validate(params), Err(expected.clone()));
    assert_eq!(msg.try_to_bytes(params), Err(expected.clone()));
    let mut out = vec![7];
    assert_eq!(msg.try_emit(&mut out, params), Err(expected.clone()));
    assert_eq!(out, [7], "try_emit wrote on error");
    assert!(!expected.to_string().is_empty());
}

/// `msg` validates, and what it encodes to decodes back to it.
#[track_caller]
fn accepted(msg: &Message, params: &SessionParams) {
    assert_eq!(msg.validate(params), Ok(()));
    let bytes = msg.try_to_bytes(params).unwrap();
    assert_eq!(bytes.len(), msg.encoded_len(params));
    assert_eq!(
        normalised(Message::parse(&bytes, params).unwrap()),
        normalised(msg.clone())
    );
}

/// The two things `emit` sets on the wire when the length needs them, whatever the value
/// says: the extended-length bit of attributes and the RFC 9072 form of OPEN parameters.
fn normalised(msg: Message) -> Message {
    match msg {
        Message::Update(mut u) => {
            for a in &mut u.attributes {
                a.flags.0 &= !AttrFlags::EXTENDED_LENGTH;
            }
            Message::Update(u)
        }
        Message::Open(o) => Message::Open(Open {
            extended_parameters_length: false,
            ..o
        }),
        other => other,
    }
}

// --- One test per error kind ---------------------------------------------------------

#[test]
fn update_over_the_session_size_is_refused() {
    // 1020 /24s: 4 * 1020 = 4080 bytes of NLRI, plus the attributes: over 4096.
    let nlri: Vec<Nlri> = (0..1020u32)
        .map(|i| Nlri::new(IpNet::V4(Ipv4Net::new(Ipv4Addr::from(i << 8), 24).unwrap())))
        .collect();
    let update = Update::ipv4_announcement(base_attrs(AsPath::from_sequence([64500])), nlri);
    let msg = Message::Update(update);
    let len = msg.encoded_len(&modern());
    assert!(len > 4096);
    refused(
        &msg,
        &modern(),
        EncodeError::MessageTooLong {
            message_type: MessageType::UPDATE,
            len,
            max: 4096,
        },
    );
    // What emit writes anyway is framed with the true length, not one a 4096 session reads.
    assert_eq!(msg.to_bytes(&modern()).len(), len);
    // The same UPDATE fits a session with extended messages.
    accepted(&msg, &extended());
}

#[test]
fn notification_over_the_session_size_is_refused() {
    let msg = Message::Notification(Notification {
        code: ErrorCode::CEASE,
        subcode: 0,
        data: vec![0; 4096 - 21 + 1],
    });
    refused(
        &msg,
        &modern(),
        EncodeError::MessageTooLong {
            message_type: MessageType::NOTIFICATION,
            len: 4097,
            max: 4096,
        },
    );
    accepted(&msg, &extended());
    let at_limit = Message::Notification(Notification {
        code: ErrorCode::CEASE,
        subcode: 0,
        data: vec![0; 4096 - 21],
    });
    accepted(&at_limit, &modern());
}

#[test]
fn open_over_4096_bytes_is_refused_even_with_extended_messages() {
    // 20 capabilities of 255-byte values: 20 * 257 = 5140 bytes of parameters.
    let caps = (0..20)
        .map(|_| Capability::Unknown {
            code: 200,
            value: vec![1; 255],
        })
        .collect();
    let msg = Message::Open(open_with(caps));
    let len = msg.encoded_len(&extended());
    refused(
        &msg,
        &extended(),
        EncodeError::MessageTooLong {
            message_type: MessageType::OPEN,
            len,
            max: 4096,
        },
    );
    // 15 of them (3855 bytes) need the RFC 9072 form and fit.
    let caps = (0..15)
        .map(|_| Capability::Unknown {
            code: 200,
            value: vec![1; 255],
        })
        .collect();
    accepted(&Message::Open(open_with(caps)), &modern());
}

#[test]
fn route_refresh_over_the_session_size_is_refused() {
    let msg = Message::RouteRefresh(RouteRefresh {
        family: Family::IPV4_UNICAST,
        subtype: RouteRefreshSubtype::Normal,
        orf_entries: vec![0; 4096 - 23 + 1],
    });
    refused(
        &msg,
        &modern(),
        EncodeError::MessageTooLong {
            message_type: MessageType::ROUTE_REFRESH,
            len: 4097,
            max: 4096,
        },
    );
}

#[test]
fn attribute_over_65535_bytes_is_refused() {
    let raw = AttrValue::Raw(RawAttribute {
        type_code: AttrType(200),
        value: vec![0; 65536],
    });
    refused(
        &with(raw),
        &extended(),
        EncodeError::AttributeTooLong {
            type_code: AttrType(200),
            len: 65536,
        },
    );
    let communities = AttrValue::Communities(vec![Community(1); 16384]);
    refused(
        &with(communities),
        &extended(),
        EncodeError::AttributeTooLong {
            type_code: AttrType::COMMUNITIES,
            len: 65536,
        },
    );
}

#[test]
fn as_path_segment_of_256_is_refused() {
    let path = path_of(vec![
        segment(SegmentType::AsSequence, [64500]),
        segment(SegmentType::AsSequence, 1..=256),
    ]);
    let msg = announcement(base_attrs(path));
    refused(
        &msg,
        &modern(),
        EncodeError::AsPathSegmentTooLong {
            type_code: AttrType::AS_PATH,
            segment: 1,
            len: 256,
        },
    );
    // emit splits it: what comes back is not the value.
    let Ok(Message::Update(back)) = Message::parse(&msg.to_bytes(&modern()), &modern()) else {
        panic!("the split path decodes")
    };
    assert_eq!(back.as_path().unwrap().segments.len(), 3);
    // 255 is the limit, and round-trips.
    let path = path_of(vec![segment(SegmentType::AsSet, 1..=255)]);
    accepted(&announcement(base_attrs(path)), &modern());
}

#[test]
fn as4_path_segment_of_256_is_refused() {
    let path = path_of(vec![segment(SegmentType::AsSequence, 70_000..70_256)]);
    refused(
        &with(AttrValue::As4Path(path)),
        &two_octet(),
        EncodeError::AsPathSegmentTooLong {
            type_code: AttrType::AS4_PATH,
            segment: 0,
            len: 256,
        },
    );
}

#[test]
fn empty_as_path_segment_is_refused() {
    let path = path_of(vec![segment(SegmentType::AsSequence, [])]);
    refused(
        &announcement(base_attrs(path)),
        &modern(),
        EncodeError::AsPathSegmentEmpty {
            type_code: AttrType::AS_PATH,
            segment: 0,
        },
    );
    // An empty path (no segments) is fine: iBGP sends one.
    accepted(&announcement(base_attrs(AsPath::default())), &modern());
}

#[test]
fn as_zero_is_refused() {
    refused(
        &announcement(base_attrs(AsPath::from_sequence([64500, 0]))),
        &modern(),
        EncodeError::AsNumberZero {
            type_code: AttrType::AS_PATH,
        },
    );
    let agg = Aggregator {
        asn: 0,
        address: Ipv4Addr::new(192, 0, 2, 9),
    };
    refused(
        &with(AttrValue::Aggregator(agg)),
        &modern(),
        EncodeError::AsNumberZero {
            type_code: AttrType::AGGREGATOR,
        },
    );
    refused(
        &with(AttrValue::As4Aggregator(agg)),
        &two_octet(),
        EncodeError::AsNumberZero {
            type_code: AttrType::AS4_AGGREGATOR,
        },
    );
}

#[test]
fn four_octet_as_on_a_two_octet_session_needs_its_as4_attribute() {
    let msg = announcement(base_attrs(AsPath::from_sequence([64500, 4_200_000_001])));
    refused(
        &msg,
        &two_octet(),
        EncodeError::AsNumberNeedsFourOctets {
            type_code: AttrType::AS_PATH,
            asn: 4_200_000_001,
        },
    );
    accepted(&msg, &modern());
    // With AS4_PATH added (AS_PATH then goes out with AS_TRANS) it is sendable.
    let Message::Update(mut update) = msg else {
        unreachable!()
    };
    update.prepare_as4_attributes(&two_octet());
    assert_eq!(update.validate(&two_octet()), Ok(()));
    let Ok(Message::Update(back)) = Message::parse(
        &Message::Update(update).try_to_bytes(&two_octet()).unwrap(),
        &two_octet(),
    ) else {
        panic!("decodes")
    };
    assert_eq!(
        back.effective_as_path(&two_octet()),
        AsPath::from_sequence([64500, 4_200_000_001])
    );

    let agg = AttrValue::Aggregator(Aggregator {
        asn: 70_000,
        address: Ipv4Addr::new(192, 0, 2, 9),
    });
    refused(
        &with(agg),
        &two_octet(),
        EncodeError::AsNumberNeedsFourOctets {
            type_code: AttrType::AGGREGATOR,
            asn: 70_000,
        },
    );
}

#[test]
fn repeated_attribute_is_refused() {
    refused(
        &with(AttrValue::Origin(Origin::Egp)),
        &modern(),
        EncodeError::DuplicateAttribute {
            type_code: AttrType::ORIGIN,
        },
    );
}

#[test]
fn empty_list_attribute_is_refused() {
    for (value, type_code) in [
        (AttrValue::Communities(vec![]), AttrType::COMMUNITIES),
        (AttrValue::ClusterList(vec![]), AttrType::CLUSTER_LIST),
        (
            AttrValue::ExtendedCommunities(vec![]),
            AttrType::EXTENDED_COMMUNITIES,
        ),
        (
            AttrValue::LargeCommunities(vec![]),
            AttrType::LARGE_COMMUNITY,
        ),
    ] {
        refused(
            &with(value),
            &modern(),
            EncodeError::EmptyAttribute { type_code },
        );
    }
}

#[test]
fn known_attribute_with_wrong_flags_is_refused() {
    let mut attrs = base_attrs(AsPath::from_sequence([64500]));
    attrs.push(PathAttribute {
        flags: AttrFlags(AttrFlags::TRANSITIVE),
        value: AttrValue::MultiExitDisc(5),
    });
    refused(
        &announcement(attrs),
        &modern(),
        EncodeError::AttributeFlagsMismatch {
            type_code: AttrType::MULTI_EXIT_DISC,
            flags: AttrFlags::TRANSITIVE,
            required: AttrFlags::OPTIONAL,
        },
    );
}

#[test]
fn unknown_attribute_not_optional_is_refused() {
    let mut attrs = base_attrs(AsPath::from_sequence([64500]));
    attrs.push(PathAttribute {
        flags: AttrFlags(AttrFlags::TRANSITIVE),
        value: AttrValue::Raw(RawAttribute {
            type_code: AttrType(222),
            value: vec![1, 2],
        }),
    });
    refused(
        &announcement(attrs),
        &modern(),
        EncodeError::UnknownAttributeNotOptional {
            type_code: AttrType(222),
        },
    );
}

#[test]
fn raw_attribute_of_a_known_type_is_refused() {
    let raw = AttrValue::Raw(RawAttribute {
        type_code: AttrType::LOCAL_PREF,
        value: vec![0, 0, 0, 100],
    });
    refused(
        &with(raw),
        &modern(),
        EncodeError::RawAttributeOfKnownType {
            type_code: AttrType::LOCAL_PREF,
        },
    );
}

fn mp(family: Family, next_hop: MpNextHop, nlri: MpNlri) -> Message {
    let reach = MpReach {
        family,
        next_hop,
        reserved: 0,
        nlri,
    };
    let mut attrs = vec![PathAttribute::new(AttrValue::MpReachNlri(reach))];
    attrs.extend(
        base_attrs(AsPath::from_sequence([64500]))
            .into_iter()
            .take(2),
    );
    Message::Update(Update {
        attributes: attrs,
        ..Update::default()
    })
}

const VPN: Family = Family::new(Afi::IPV4, Safi::MPLS_VPN);

#[test]
fn next_hop_over_255_bytes_is_refused() {
    let msg = mp(VPN, MpNextHop::Opaque(vec![0; 256]), MpNlri::Opaque(vec![]));
    refused(&msg, &modern(), EncodeError::NextHopTooLong { len: 256 });
    accepted(
        &mp(VPN, MpNextHop::Opaque(vec![0; 255]), MpNlri::Opaque(vec![])),
        &modern(),
    );
}

#[test]
fn next_hop_the_family_does_not_allow_is_refused() {
    let msg = mp(
        Family::IPV6_UNICAST,
        MpNextHop::Ipv4(Ipv4Addr::new(192, 0, 2, 1)),
        MpNlri::Prefixes(vec![v6("2001:db8::/32")]),
    );
    refused(
        &msg,
        &modern(),
        EncodeError::NextHopNotForFamily {
            family: Family::IPV6_UNICAST,
            len: 4,
        },
    );
    let msg = mp(
        Family::IPV4_UNICAST,
        MpNextHop::Opaque(vec![0; 12]),
        MpNlri::Prefixes(vec![v4("10.0.0.0/8")]),
    );
    refused(
        &msg,
        &modern(),
        EncodeError::NextHopNotForFamily {
            family: Family::IPV4_UNICAST,
            len: 12,
        },
    );
}

#[test]
fn opaque_next_hop_of_an_address_length_is_refused() {
    let msg = mp(VPN, MpNextHop::Opaque(vec![0; 16]), MpNlri::Opaque(vec![]));
    refused(
        &msg,
        &modern(),
        EncodeError::OpaqueNextHopOfAddressLength { len: 16 },
    );
}

#[test]
fn nlri_in_the_wrong_form_is_refused() {
    let msg = mp(
        Family::IPV6_UNICAST,
        MpNextHop::Ipv6 {
            global: Ipv6Addr::LOCALHOST,
            link_local: None,
        },
        MpNlri::Opaque(vec![32, 0x20, 0x01, 0x0d, 0xb8]),
    );
    refused(
        &msg,
        &modern(),
        EncodeError::NlriFormMismatch {
            family: Family::IPV6_UNICAST,
        },
    );
    let unreach = MpUnreach {
        family: VPN,
        nlri: MpNlri::Prefixes(vec![v4("10.0.0.0/8")]),
    };
    refused(
        &Message::Update(Update {
            attributes: vec![PathAttribute::new(AttrValue::MpUnreachNlri(unreach))],
            ..Update::default()
        }),
        &modern(),
        EncodeError::NlriFormMismatch { family: VPN },
    );
}

#[test]
fn prefix_of_the_other_family_is_refused() {
    let msg = Message::Update(Update::ipv4_withdrawal([v6("2001:db8::/64")]));
    refused(
        &msg,
        &modern(),
        EncodeError::PrefixFamilyMismatch {
            family: Family::IPV4_UNICAST,
            prefix: "2001:db8::/64".parse().unwrap(),
        },
    );
    let msg = Message::Update(Update::mp_withdrawal(
        Family::IPV6_UNICAST,
        [v4("10.0.0.0/8")],
    ));
    refused(
        &msg,
        &modern(),
        EncodeError::PrefixFamilyMismatch {
            family: Family::IPV6_UNICAST,
            prefix: "10.0.0.0/8".parse().unwrap(),
        },
    );
}

#[test]
fn prefix_with_host_bits_is_refused() {
    let prefix: IpNet = "10.1.2.3/8".parse().unwrap();
    let msg = Message::Update(Update::ipv4_withdrawal([Nlri {
        prefix,
        path_id: None,
    }]));
    refused(&msg, &modern(), EncodeError::PrefixHostBitsSet { prefix });
}

#[test]
fn path_id_disagreeing_with_add_path_is_refused() {
    let prefix: IpNet = "10.0.0.0/8".parse().unwrap();
    let with_id = Message::Update(Update::ipv4_withdrawal([Nlri::with_path_id(prefix, 7)]));
    refused(
        &with_id,
        &modern(),
        EncodeError::PathIdMismatch {
            family: Family::IPV4_UNICAST,
            prefix,
            add_path: false,
        },
    );
    let mut add_path = modern();
    add_path.add_path = AddPathFamilies::none();
    add_path.add_path.insert(Family::IPV4_UNICAST);
    accepted(&with_id, &add_path);
    refused(
        &Message::Update(Update::ipv4_withdrawal([Nlri::new(prefix)])),
        &add_path,
        EncodeError::PathIdMismatch {
            family: Family::IPV4_UNICAST,
            prefix,
            add_path: true,
        },
    );
}

#[test]
fn open_fixed_fields_the_receiver_refuses_are_refused() {
    let open = open_with(vec![]);
    refused(
        &Message::Open(Open {
            version: 3,
            ..open.clone()
        }),
        &modern(),
        EncodeError::UnsupportedVersion { version: 3 },
    );
    for hold_time in [1, 2] {
        refused(
            &Message::Open(Open {
                hold_time,
                ..open.clone()
            }),
            &modern(),
            EncodeError::UnacceptableHoldTime { hold_time },
        );
        assert_eq!(
            Open::try_new(64500, hold_time, Ipv4Addr::new(192, 0, 2, 1), vec![]),
            Err(EncodeError::UnacceptableHoldTime { hold_time })
        );
    }
    for hold_time in [0, 3, u16::MAX] {
        assert!(Open::try_new(64500, hold_time, Ipv4Addr::new(192, 0, 2, 1), vec![]).is_ok());
    }
    refused(
        &Message::Open(Open {
            bgp_identifier: Ipv4Addr::UNSPECIFIED,
            ..open.clone()
        }),
        &modern(),
        EncodeError::ZeroBgpIdentifier,
    );
    refused(
        &Message::Open(Open {
            parameters: vec![OptionalParameter::Unknown {
                param_type: 1,
                value: vec![0],
            }],
            ..open
        }),
        &modern(),
        EncodeError::UnsupportedOptionalParameter { param_type: 1 },
    );
}

#[test]
fn capability_over_255_bytes_is_refused() {
    for (cap, code, len) in [
        (
            Capability::Unknown {
                code: 200,
                value: vec![0; 256],
            },
            200,
            256,
        ),
        (Capability::SoftwareVersion(vec![b'v'; 255]), 75, 256),
        (
            Capability::Fqdn {
                hostname: vec![b'h'; 200],
                domain: vec![b'd'; 100],
            },
            73,
            302,
        ),
        (
            Capability::AddPath(vec![
                AddPathEntry {
                    family: Family::IPV4_UNICAST,
                    direction: AddPathDirection::Both,
                };
                64
            ]),
            69,
            256,
        ),
    ] {
        let msg = Message::Open(open_with(vec![cap.clone()]));
        refused(
            &msg,
            &modern(),
            EncodeError::CapabilityTooLong { code, len },
        );
        assert_eq!(
            Open::try_new(64500, 90, Ipv4Addr::new(192, 0, 2, 1), vec![cap]),
            Err(EncodeError::CapabilityTooLong { code, len })
        );
    }
    accepted(
        &Message::Open(open_with(vec![Capability::SoftwareVersion(vec![
            b'v';
            254
        ])])),
        &modern(),
    );
}

#[test]
fn capability_field_too_wide_is_refused() {
    let gr = |flags, restart_time| {
        Capability::GracefulRestart(GracefulRestart {
            flags,
            restart_time,
            families: vec![],
        })
    };
    refused(
        &Message::Open(open_with(vec![gr(0x10, 120)])),
        &modern(),
        EncodeError::CapabilityFieldOutOfRange {
            code: 64,
            field: "restart flags",
            value: 0x10,
            max: 0x0f,
        },
    );
    refused(
        &Message::Open(open_with(vec![gr(0x8, 4096)])),
        &modern(),
        EncodeError::CapabilityFieldOutOfRange {
            code: 64,
            field: "restart time",
            value: 4096,
            max: 4095,
        },
    );
    accepted(&Message::Open(open_with(vec![gr(0xc, 4095)])), &modern());
    let llgr = Capability::LongLivedGracefulRestart(vec![LlgrFamily {
        family: Family::IPV4_UNICAST,
        flags: 0,
        stale_time: 1 << 24,
    }]);
    refused(
        &Message::Open(open_with(vec![llgr])),
        &modern(),
        EncodeError::CapabilityFieldOutOfRange {
            code: 71,
            field: "long-lived stale time",
            value: 1 << 24,
            max: 0xff_ffff,
        },
    );
}

#[test]
fn unknown_capability_with_a_decoded_code_is_refused() {
    let cap = Capability::Unknown {
        code: 65,
        value: vec![0, 0, 0xfd, 0xe8],
    };
    refused(
        &Message::Open(open_with(vec![cap])),
        &modern(),
        EncodeError::UnknownCapabilityOfKnownCode { code: 65 },
    );
}

#[test]
fn catch_all_holding_a_named_value_is_refused() {
    refused(
        &Message::Open(open_with(vec![Capability::Role(Role::Other(3))])),
        &modern(),
        EncodeError::NamedValueAsOther {
            field: "Role",
            value: 3,
        },
    );
    let entry = AddPathEntry {
        family: Family::IPV4_UNICAST,
        direction: AddPathDirection::Other(2),
    };
    refused(
        &Message::Open(open_with(vec![Capability::AddPath(vec![entry])])),
        &modern(),
        EncodeError::NamedValueAsOther {
            field: "AddPathDirection",
            value: 2,
        },
    );
    refused(
        &Message::RouteRefresh(RouteRefresh::new(
            Family::IPV4_UNICAST,
            RouteRefreshSubtype::Reserved(1),
        )),
        &modern(),
        EncodeError::NamedValueAsOther {
            field: "RouteRefreshSubtype",
            value: 1,
        },
    );
    accepted(
        &Message::Open(open_with(vec![Capability::Role(Role::Other(5))])),
        &modern(),
    );
}

#[test]
fn orf_entries_on_a_demarcation_are_refused() {
    let msg = Message::RouteRefresh(RouteRefresh {
        family: Family::IPV4_UNICAST,
        subtype: RouteRefreshSubtype::EndOfRefresh,
        orf_entries: vec![1, 64, 0, 0],
    });
    refused(
        &msg,
        &modern(),
        EncodeError::OrfEntriesOnDemarcation {
            subtype: RouteRefreshSubtype::EndOfRefresh,
        },
    );
}

#[test]
fn shutdown_text_over_255_bytes_is_refused_when_built() {
    let long = "é".repeat(128); // 256 bytes
    assert_eq!(
        Notification::try_shutdown(&long, false),
        Err(EncodeError::ShutdownTextTooLong { len: 256 })
    );
    let at_limit = "x".repeat(255);
    let n = Notification::try_shutdown(&at_limit, true).unwrap();
    assert_eq!(n.shutdown_communication(), Some(at_limit.as_str()));
    accepted(&Message::Notification(n), &modern());
    // The unchecked constructor cuts instead, at a character boundary.
    let cut = Notification::shutdown(&long, false);
    assert_eq!(cut.shutdown_communication().map(str::len), Some(254));
}

#[test]
fn notification_try_new_keeps_to_4096_bytes() {
    assert_eq!(
        Notification::try_new(ErrorCode::UPDATE_MESSAGE, 1, vec![0; 4076]),
        Err(EncodeError::MessageTooLong {
            message_type: MessageType::NOTIFICATION,
            len: 4097,
            max: 4096,
        })
    );
    let n = Notification::try_new(ErrorCode::UPDATE_MESSAGE, 1, vec![0; 4075]).unwrap();
    accepted(&Message::Notification(n), &modern());
}

#[test]
fn as_path_segment_new_checks_its_count_and_numbers() {
    let ok = AsPathSegment::new(SegmentType::AsSequence, 1..=255).unwrap();
    assert_eq!(ok.asns.len(), 255);
    assert_eq!(
        AsPathSegment::new(SegmentType::AsSequence, 1..=256),
        Err(EncodeError::AsPathSegmentTooLong {
            type_code: AttrType::AS_PATH,
            segment: 0,
            len: 256,
        })
    );
    assert_eq!(
        AsPathSegment::new(SegmentType::AsSet, []),
        Err(EncodeError::AsPathSegmentEmpty {
            type_code: AttrType::AS_PATH,
            segment: 0,
        })
    );
    assert_eq!(
        AsPathSegment::new(SegmentType::ConfedSequence, [65000, 0]),
        Err(EncodeError::AsNumberZero {
            type_code: AttrType::AS_PATH,
        })
    );
    // `AsPath::from_sequence` splits long sequences into valid segments.
    let path = AsPath::from_sequence(1..=600);
    assert_eq!(path.segments.len(), 3);
    accepted(&announcement(base_attrs(path)), &modern());
}

// --- The packer ----------------------------------------------------------------------

#[test]
fn packer_refuses_an_attribute_set_that_leaves_no_room() {
    // 2000 communities: 8000 bytes of attribute, over a 4096-byte session by itself.
    let mut attrs = base_attrs(AsPath::from_sequence([64500]));
    attrs.push(PathAttribute::new(AttrValue::Communities(
        (0..2000).map(Community).collect(),
    )));
    let routes = [v4("10.0.0.0/8"), v4("10.1.0.0/16"), v4("10.2.0.0/16")];
    let small = base_attrs(AsPath::from_sequence([64501]));
    let mut packer = UpdatePacker::new(modern());
    packer.announce(&attrs, routes);
    packer.announce(&small, [v4("192.0.2.0/24")]);
    packer.withdraw(Family::IPV4_UNICAST, v4("203.0.113.0/24"));
    let packed = packer.finish_updates();
    // The group that cannot be sent is reported, not sent; the rest goes out.
    let [refusal] = packed.refused.as_slice() else {
        panic!("one refusal: {:?}", packed.refused)
    };
    assert_eq!(refusal.family, Family::IPV4_UNICAST);
    assert_eq!(refusal.routes, 3);
    assert!(matches!(
        refusal.error,
        EncodeError::MessageTooLong {
            message_type: MessageType::UPDATE,
            max: 4096,
            ..
        }
    ));
    assert!(refusal.to_string().contains("3 queued routes"));
    assert_eq!(packed.messages.len(), 2);
    for update in &packed.messages {
        assert_eq!(update.validate(&modern()), Ok(()));
        assert!(update.communities().is_empty());
    }
    assert_eq!(packed.clone().into_result(), Err(refusal.clone()));
    // With extended messages it fits, in one UPDATE that validates.
    let mut packer = UpdatePacker::new(extended());
    packer.announce(&attrs, routes);
    let updates = packer.finish_updates().into_result().unwrap();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].validate(&extended()), Ok(()));
}

#[test]
fn packer_refuses_routes_that_cannot_be_encoded() {
    let mut packer = UpdatePacker::new(modern());
    packer.withdraw(Family::IPV4_UNICAST, v4("10.0.0.0/8"));
    packer.withdraw(Family::IPV4_UNICAST, v6("2001:db8::/32"));
    packer.withdraw(Family::IPV6_UNICAST, v6("2001:db8::/32"));
    let packed = packer.finish();
    assert_eq!(
        packed.refused,
        [PackError {
            family: Family::IPV4_UNICAST,
            routes: 2,
            error: EncodeError::PrefixFamilyMismatch {
                family: Family::IPV4_UNICAST,
                prefix: "2001:db8::/32".parse().unwrap(),
            },
        }]
    );
    // The IPv6 withdrawal still goes out.
    let messages: Vec<Vec<u8>> = packed.into_iter().collect();
    assert_eq!(messages.len(), 1);
    let Ok(Message::Update(update)) = Message::parse(&messages[0], &modern()) else {
        panic!("decodes")
    };
    assert!(update.withdrawn.is_empty());
    assert_eq!(update.withdrawn_routes().count(), 1);
    // An attribute set holding a segment the wire cannot carry.
    let path = path_of(vec![segment(SegmentType::AsSequence, 1..=300)]);
    let mut packer = UpdatePacker::new(modern());
    packer.announce(&base_attrs(path), [v4("10.0.0.0/8")]);
    assert!(matches!(
        packer.finish_updates().into_result(),
        Err(PackError {
            error: EncodeError::AsPathSegmentTooLong { len: 300, .. },
            ..
        })
    ));
}

#[test]
fn every_packed_update_validates() {
    for params in [two_octet(), modern(), extended()] {
        let mut packer = UpdatePacker::new(params.clone());
        for i in 0..3000u32 {
            let net = Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 | (i << 8)), 24).unwrap();
            packer.withdraw(Family::IPV4_UNICAST, Nlri::new(IpNet::V4(net)));
            let net6 = Ipv6Net::new(
                Ipv6Addr::from((0x2001_0db8u128 << 96) | u128::from(i) << 64),
                64,
            )
            .unwrap();
            packer.withdraw(Family::IPV6_UNICAST, Nlri::new(IpNet::V6(net6)));
        }
        for set in 0..5u32 {
            let mut attrs = base_attrs(AsPath::from_sequence(
                (0..250).map(|i| 4_200_000_000 + i + set),
            ));
            attrs.push(PathAttribute::new(AttrValue::Aggregator(Aggregator {
                asn: 4_200_000_000,
                address: Ipv4Addr::new(192, 0, 2, 2),
            })));
            attrs.push(PathAttribute::new(AttrValue::LargeCommunities(vec![
                LargeCommunity {
                    global_admin: 1,
                    local_data_1: 2,
                    local_data_2: set,
                };
                100
            ])));
            let routes = (0..2000u32).map(|i| {
                let net = Ipv4Net::new(Ipv4Addr::from((set << 24) | (i << 8)), 24 + (i % 9) as u8);
                Nlri::new(IpNet::V4(net.unwrap()))
            });
            packer.announce(&attrs, routes);
            let routes6 = (0..2000u32).map(|i| {
                let addr =
                    (0x2001_0db8u128 << 96) | (u128::from(set) << 80) | (u128::from(i) << 64);
                Nlri::new(IpNet::V6(Ipv6Net::new(Ipv6Addr::from(addr), 64).unwrap()))
            });
            let next_hop = MpNextHop::Ipv6 {
                global: "2001:db8::1".parse().unwrap(),
                link_local: Some("fe80::1".parse().unwrap()),
            };
            packer.announce_mp(Family::IPV6_UNICAST, next_hop, &attrs[..2], routes6);
        }
        let packed = packer.finish_updates();
        assert_eq!(packed.refused, []);
        let updates = packed.messages;
        assert!(updates.len() > 10);
        for update in &updates {
            assert_eq!(update.validate(&params), Ok(()));
            let msg = Message::Update(update.clone());
            let bytes = msg.try_to_bytes(&params).unwrap();
            assert!(bytes.len() <= params.max_message_len());
        }
    }
}

// --- Decoded values validate ---------------------------------------------------------

fn files_under(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files_under(&path, suffix, out);
        } else if path.to_string_lossy().ends_with(suffix) {
            out.push(path);
        }
    }
    out.sort();
}

#[test]
fn every_captured_message_validates_with_its_session_params() {
    let mut files = Vec::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/captures");
    files_under(&dir, ".bin", &mut files);
    assert!(files.len() > 200, "only {} captures", files.len());
    let mut decoded = 0;
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy();
        // As tests/real_data.rs: the `2byte` peer did not negotiate 4-octet AS numbers.
        let params = if name.contains("2byte") || name.contains("no-as4") {
            two_octet()
        } else {
            modern()
        };
        let Ok(msg) = Message::parse(&bytes, &params) else {
            continue;
        };
        decoded += 1;
        assert_eq!(msg.validate(&params), Ok(()), "{}", path.display());
        assert_eq!(
            msg.try_to_bytes(&params).unwrap(),
            bytes,
            "{}",
            path.display()
        );
    }
    assert!(decoded > 200, "only {decoded} decoded");
}

/// Every BGP message of the MRT archives (about 50,000, 2000 to 2024, 2- and 4-octet AS
/// sessions, ADD-PATH) that decodes validates with the parameters of its record.
#[test]
fn every_mrt_message_that_decodes_validates() {
    use bgp_wire::mrt::{MrtBody, MrtReader};

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mrt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut decoded = 0;
    for path in &files {
        let name = path.to_string_lossy();
        let data = mrt_files::read(path).unwrap().bytes;
        for (_, record) in MrtReader::new(&data).flatten() {
            let MrtBody::Message(message) = &record.body else {
                continue;
            };
            if let Ok(msg) = message.parse_message() {
                decoded += 1;
                let params = message.session_params();
                assert_eq!(msg.validate(&params), Ok(()), "{name}: {msg:?}");
            }
        }
    }
    assert!(decoded > 50_000, "only {decoded} MRT messages decode");
}

#[test]
fn every_vector_that_decodes_validates_under_every_session() {
    let mut files = Vec::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vectors");
    files_under(&dir, ".txt", &mut files);
    let mut decoded = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        for line in text.lines() {
            let hex = line.split('#').next().unwrap_or("").trim();
            if hex.is_empty() || hex.len() % 2 != 0 {
                continue;
            }
            let Some(bytes) = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
                .collect::<Option<Vec<u8>>>()
            else {
                continue;
            };
            for bits in 0..16u8 {
                let params = bgp_wire::fuzzing::params_from_byte(bits);
                if let Ok(msg) = Message::parse(&bytes, &params) {
                    decoded += 1;
                    assert_eq!(
                        msg.validate(&params),
                        Ok(()),
                        "{}: {line} with {params:?}",
                        path.display()
                    );
                }
            }
        }
    }
    assert!(decoded > 1000, "only {decoded} decodes");
}

#[test]
fn every_fuzz_seed_message_that_decodes_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/decode_message");
    let mut files = Vec::new();
    files_under(&dir, "", &mut files);
    let mut decoded = 0;
    for path in &files {
        let data = std::fs::read(path).unwrap();
        let Some((&bits, mut stream)) = data.split_first() else {
            continue;
        };
        let params = bgp_wire::fuzzing::params_from_byte(bits);
        while let Ok(Some(len)) = bgp_wire::frame(stream, &params) {
            let (one, rest) = stream.split_at(len);
            if let Ok(msg) = Message::parse(one, &params) {
                decoded += 1;
                assert_eq!(msg.validate(&params), Ok(()), "{}", path.display());
            }
            stream = rest;
        }
    }
    assert!(decoded >= 50, "only {decoded} seed messages decode");
}

// --- Property: what validates round-trips, near the limits ---------------------------

fn params() -> impl Strategy<Value = SessionParams> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(four, ext, a4, a6)| {
        let mut add_path = AddPathFamilies::none();
        if a4 {
            add_path.insert(Family::IPV4_UNICAST);
        }
        if a6 {
            add_path.insert(Family::IPV6_UNICAST);
        }
        SessionParams {
            four_octet_as: four,
            add_path,
            extended_message: ext,
        }
    })
}

fn nlri_v4(add_path: bool) -> impl Strategy<Value = Nlri> {
    (any::<u32>(), 0u8..=32, any::<u32>()).prop_map(move |(addr, len, id)| {
        let net = IpNet::V4(Ipv4Net::new(Ipv4Addr::from(addr), len).unwrap());
        if add_path {
            Nlri::with_path_id(net, id)
        } else {
            Nlri::new(net)
        }
    })
}

fn nlri_v6(add_path: bool) -> impl Strategy<Value = Nlri> {
    (any::<u128>(), 0u8..=128, any::<u32>()).prop_map(move |(addr, len, id)| {
        let net = IpNet::V6(Ipv6Net::new(Ipv6Addr::from(addr), len).unwrap());
        if add_path {
            Nlri::with_path_id(net, id)
        } else {
            Nlri::new(net)
        }
    })
}

/// Segments of 1 to 255 AS numbers, full ones often, AS numbers wide only on a 4-octet
/// session (a 2-octet one sends them as AS_TRANS, which is not a round trip).
fn as_path(four_octet: bool) -> impl Strategy<Value = AsPath> {
    let max: u32 = if four_octet { u32::MAX } else { 65535 };
    let kind = prop_oneof![
        Just(SegmentType::AsSequence),
        Just(SegmentType::AsSet),
        Just(SegmentType::ConfedSequence),
        Just(SegmentType::ConfedSet),
    ];
    let count = prop_oneof![1usize..=8, Just(255usize), 200usize..=255];
    let segment = (kind, count, 1..=max).prop_map(move |(kind, count, first)| AsPathSegment {
        kind,
        asns: (0..count as u32)
            .map(|i| first.wrapping_add(i) % max + 1)
            .collect::<SmallVec<_>>(),
    });
    vec(segment, 0..4).prop_map(path_of)
}

fn raw_attribute() -> impl Strategy<Value = PathAttribute> {
    let len = prop_oneof![0usize..=8, 250usize..=260, 1000usize..=4000];
    (200u8..=254, any::<bool>(), len, any::<u8>()).prop_map(|(code, partial, len, fill)| {
        let flags = AttrFlags::OPTIONAL
            | AttrFlags::TRANSITIVE
            | if partial { AttrFlags::PARTIAL } else { 0 };
        PathAttribute {
            flags: AttrFlags(flags),
            value: AttrValue::Raw(RawAttribute {
                type_code: AttrType(code),
                value: vec![fill; len],
            }),
        }
    })
}

fn update(params: SessionParams) -> impl Strategy<Value = Update> {
    let four = params.four_octet_as;
    let v4_add_path = params.add_path.contains(Family::IPV4_UNICAST);
    let v6_add_path = params.add_path.contains(Family::IPV6_UNICAST);
    let attributes = (
        as_path(four),
        any::<u32>(),
        prop_oneof![Just(0usize), 1usize..=20, 900usize..=1100],
        vec(any::<[u8; 8]>(), 0..40),
        proptest::option::of(raw_attribute()),
        proptest::option::of(vec(nlri_v6(v6_add_path), 0..300)),
        proptest::option::of(vec(nlri_v6(v6_add_path), 0..300)),
        proptest::option::of(1..=if four { u32::MAX } else { 65535 }),
    )
        .prop_map(
            move |(path, med, communities, ext, raw, reach, unreach, aggregator)| {
                let mut attrs = Vec::new();
                if let Some(prefixes) = reach {
                    attrs.push(PathAttribute::new(AttrValue::MpReachNlri(MpReach {
                        family: Family::IPV6_UNICAST,
                        next_hop: MpNextHop::Ipv6 {
                            global: "2001:db8::1".parse().unwrap(),
                            link_local: Some("fe80::1".parse().unwrap()),
                        },
                        reserved: 0,
                        nlri: MpNlri::Prefixes(prefixes),
                    })));
                }
                attrs.extend(base_attrs(path));
                attrs.push(PathAttribute::new(AttrValue::MultiExitDisc(med)));
                if communities > 0 {
                    let list = (0..communities as u32).map(Community).collect();
                    attrs.push(PathAttribute::new(AttrValue::Communities(list)));
                }
                if !ext.is_empty() {
                    let list = ext.into_iter().map(ExtendedCommunity).collect();
                    attrs.push(PathAttribute::new(AttrValue::ExtendedCommunities(list)));
                }
                if let Some(asn) = aggregator {
                    attrs.push(PathAttribute::new(AttrValue::Aggregator(Aggregator {
                        asn,
                        address: Ipv4Addr::new(192, 0, 2, 7),
                    })));
                }
                attrs.extend(raw);
                if let Some(prefixes) = unreach {
                    attrs.push(PathAttribute::new(AttrValue::MpUnreachNlri(MpUnreach {
                        family: Family::IPV6_UNICAST,
                        nlri: MpNlri::Prefixes(prefixes),
                    })));
                }
                attrs
            },
        );
    (
        vec(nlri_v4(v4_add_path), 0..200),
        attributes,
        vec(nlri_v4(v4_add_path), 0..200),
        any::<bool>(),
    )
        .prop_map(move |(withdrawn, attributes, nlri, fill)| {
            let mut update = Update {
                withdrawn,
                attributes,
                nlri,
                issues: Vec::new(),
            };
            // Fill the NLRI field to the last byte the session allows: the UPDATE then
            // sits exactly at the limit.
            let max = params.max_message_len();
            if fill {
                let id_len = if v4_add_path { 4 } else { 0 };
                let mut room = max.saturating_sub(19 + update.encoded_body_len(&params));
                let mut i = 0u32;
                loop {
                    let (len, size) = if room >= id_len + 4 {
                        (24, id_len + 4)
                    } else if room > id_len {
                        (0, id_len + 1)
                    } else {
                        break;
                    };
                    let net = Ipv4Net::new(Ipv4Addr::from(i << 8), len).unwrap();
                    update.nlri.push(Nlri {
                        prefix: IpNet::V4(net.trunc()),
                        path_id: v4_add_path.then_some(i),
                    });
                    room -= size;
                    i += 1;
                }
            }
            update
        })
}

fn capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        Just(Capability::RouteRefresh),
        Just(Capability::ExtendedMessage),
        Just(Capability::EnhancedRouteRefresh),
        any::<u32>().prop_map(Capability::FourOctetAs),
        (0u8..=0x0f, 0u16..=0x0fff).prop_map(|(flags, restart_time)| {
            Capability::GracefulRestart(GracefulRestart {
                flags,
                restart_time,
                families: vec![],
            })
        }),
        vec(any::<u8>(), 0..=254).prop_map(Capability::SoftwareVersion),
        (vec(any::<u8>(), 0..=200), vec(any::<u8>(), 0..=53))
            .prop_map(|(hostname, domain)| Capability::Fqdn { hostname, domain }),
        (200u8..=254, vec(any::<u8>(), 0..=255))
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
        (5u8..=255).prop_map(|v| Capability::Role(Role::Other(v))),
    ]
}

fn open() -> impl Strategy<Value = Open> {
    (
        any::<u32>(),
        prop_oneof![Just(0u16), 3u16..=u16::MAX],
        1u32..=u32::MAX,
        vec(vec(capability(), 0..8), 0..5),
    )
        .prop_map(|(asn, hold_time, id, params)| {
            let mut open = Open::new(asn, hold_time, Ipv4Addr::from(id), vec![]);
            open.parameters = params
                .into_iter()
                .map(OptionalParameter::Capabilities)
                .collect();
            open
        })
}

fn notification() -> impl Strategy<Value = Notification> {
    let len = prop_oneof![0usize..=10, 4070usize..=4080, 65500usize..=65520];
    (any::<u8>(), any::<u8>(), len).prop_map(|(code, subcode, len)| Notification {
        code: ErrorCode(code),
        subcode,
        data: vec![0xab; len],
    })
}

fn message_and_params() -> impl Strategy<Value = (Message, SessionParams)> {
    params().prop_flat_map(|p| {
        let msg = prop_oneof![
            3 => update(p.clone()).prop_map(Message::Update),
            1 => open().prop_map(Message::Open),
            1 => notification().prop_map(Message::Notification),
        ];
        (msg, Just(p))
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn what_validates_round_trips((msg, params) in message_and_params()) {
        let len = msg.encoded_len(&params);
        match msg.validate(&params) {
            Ok(()) => {
                let bytes = msg.try_to_bytes(&params).unwrap();
                prop_assert_eq!(bytes.len(), len);
                let decoded = Message::parse(&bytes, &params).unwrap();
                prop_assert_eq!(decoded.validate(&params), Ok(()));
                prop_assert_eq!(decoded.to_bytes(&params), bytes);
                prop_assert_eq!(normalised(decoded), normalised(msg));
            }
            Err(e) => {
                // The generators make only values whose fields fit: size is the one
                // thing that may be over, and then it is.
                let max = if matches!(msg, Message::Open(_)) { 4096 } else { params.max_message_len() };
                prop_assert!(len > max, "{e}");
                prop_assert_eq!(e, EncodeError::MessageTooLong { message_type: msg.message_type(), len, max });
                prop_assert!(msg.try_to_bytes(&params).is_err());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    /// Attribute sets from tiny to larger than a 4096-byte message: every UPDATE packed
    /// validates and fits, and each group is either sent whole or refused whole.
    #[test]
    fn packed_updates_validate_and_refusals_account_for_the_rest(
        params in params(),
        groups in vec(
            (prop_oneof![0usize..=10, 950usize..=1050, 2000usize..=2100], 1usize..=300, any::<bool>()),
            1..5,
        ),
    ) {
        let mut packer = UpdatePacker::new(params.clone());
        let mut queued = 0;
        for (index, (communities, routes, ipv6)) in groups.iter().enumerate() {
            let mut attrs = base_attrs(AsPath::from_sequence([64500]));
            attrs.push(PathAttribute::new(AttrValue::MultiExitDisc(index as u32)));
            if *communities > 0 {
                attrs.push(PathAttribute::new(AttrValue::Communities(
                    (0..*communities as u32).map(Community).collect(),
                )));
            }
            queued += routes;
            let id = |i: usize| (index * 1000 + i) as u32;
            if *ipv6 {
                let add_path = params.add_path.contains(Family::IPV6_UNICAST);
                let nlri = (0..*routes).map(|i| {
                    let addr = (0x2001_0db8u128 << 96) | ((index as u128) << 80) | ((i as u128) << 64);
                    let net = IpNet::V6(Ipv6Net::new(Ipv6Addr::from(addr), 64).unwrap());
                    if add_path { Nlri::with_path_id(net, id(i)) } else { Nlri::new(net) }
                });
                let next_hop = MpNextHop::Ipv6 { global: "2001:db8::1".parse().unwrap(), link_local: None };
                // Everything but NEXT_HOP, which MP_REACH_NLRI replaces.
                let mp_attrs: Vec<_> = attrs
                    .iter()
                    .filter(|a| a.type_code() != AttrType::NEXT_HOP)
                    .cloned()
                    .collect();
                packer.announce_mp(Family::IPV6_UNICAST, next_hop, &mp_attrs, nlri);
            } else {
                let add_path = params.add_path.contains(Family::IPV4_UNICAST);
                let nlri = (0..*routes).map(|i| {
                    let net = IpNet::V4(Ipv4Net::new(Ipv4Addr::from(((index as u32) << 24) | ((i as u32) << 8)), 24).unwrap());
                    if add_path { Nlri::with_path_id(net, id(i)) } else { Nlri::new(net) }
                });
                packer.announce(&attrs, nlri);
            }
        }
        let packed = packer.finish_updates();
        let mut sent = 0;
        for update in &packed.messages {
            prop_assert_eq!(update.validate(&params), Ok(()));
            let bytes = Message::Update(update.clone()).try_to_bytes(&params).unwrap();
            prop_assert!(bytes.len() <= params.max_message_len());
            sent += update.announced().count();
        }
        let mut refused = 0;
        for refusal in &packed.refused {
            let is_too_long = matches!(refusal.error, EncodeError::MessageTooLong { .. });
            prop_assert!(is_too_long, "{}", refusal);
            refused += refusal.routes;
        }
        prop_assert_eq!(sent + refused, queued);
        // Only sets too large for one message are refused: 2000 communities on 4096 bytes.
        if params.extended_message {
            prop_assert_eq!(refused, 0);
        }
    }
}
