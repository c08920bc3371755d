//! Property tests: every valid message of every kind survives `parse(emit(x)) == x` with
//! `encoded_len` exact, and arbitrary bytes never make `frame` or `parse` panic.

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_wire::{
    frame, AddPathDirection, AddPathEntry, AddPathFamilies, Afi, Aggregator, AsPath, AsPathSegment,
    AttrFlags, AttrType, AttrValue, Capability, Community, ErrorCode, ExtendedCommunity, Family,
    GracefulRestart, GracefulRestartFamily, LargeCommunity, LlgrFamily, Message, MpNextHop, MpNlri,
    MpReach, MpUnreach, Nlri, Notification, Open, OptionalParameter, Origin, PathAttribute,
    RawAttribute, Role, RouteRefresh, RouteRefreshSubtype, Safi, SegmentType, SessionParams,
    Update,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn params() -> impl Strategy<Value = SessionParams> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(four, ext, v4, v6)| {
        let mut add_path = AddPathFamilies::none();
        if v4 {
            add_path.insert(Family::IPV4_UNICAST);
        }
        if v6 {
            add_path.insert(Family::IPV6_UNICAST);
        }
        SessionParams {
            four_octet_as: four,
            add_path,
            extended_message: ext,
        }
    })
}

fn family() -> impl Strategy<Value = Family> {
    (any::<u16>(), any::<u8>()).prop_map(|(afi, safi)| Family::new(Afi(afi), Safi(safi)))
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

fn asn(wide: bool) -> impl Strategy<Value = u32> {
    if wide {
        (1u32..=u32::MAX).boxed()
    } else {
        (1u32..=65535).boxed()
    }
}

fn as_path(wide: bool) -> impl Strategy<Value = AsPath> {
    let kind = prop_oneof![
        Just(SegmentType::AsSet),
        Just(SegmentType::AsSequence),
        Just(SegmentType::ConfedSequence),
        Just(SegmentType::ConfedSet),
    ];
    vec((kind, vec(asn(wide), 1..20)), 0..4).prop_map(|segments| AsPath {
        segments: segments
            .into_iter()
            .map(|(kind, asns)| AsPathSegment {
                kind,
                asns: asns.into(),
            })
            .collect(),
    })
}

/// A unicast host address: not 0.0.0.0, broadcast or multicast.
fn next_hop_v4() -> impl Strategy<Value = Ipv4Addr> {
    (1u32..0xe000_0000).prop_map(Ipv4Addr::from)
}

fn ipv6_next_hop() -> impl Strategy<Value = MpNextHop> {
    (any::<u128>(), option::of(any::<u128>())).prop_map(|(g, ll)| MpNextHop::Ipv6 {
        global: Ipv6Addr::from(g),
        link_local: ll.map(Ipv6Addr::from),
    })
}

/// MP_REACH of IPv4 unicast, IPv6 unicast, or an opaque family (EVPN).
fn mp_reach(params: SessionParams) -> impl Strategy<Value = MpReach> {
    let v4_ap = params.add_path.contains(Family::IPV4_UNICAST);
    let v6_ap = params.add_path.contains(Family::IPV6_UNICAST);
    prop_oneof![
        (
            prop_oneof![next_hop_v4().prop_map(MpNextHop::Ipv4), ipv6_next_hop()],
            vec(nlri_v4(v4_ap), 0..10)
        )
            .prop_map(|(next_hop, p)| MpReach {
                family: Family::IPV4_UNICAST,
                next_hop,
                reserved: 0,
                nlri: MpNlri::Prefixes(p)
            }),
        (ipv6_next_hop(), any::<u8>(), vec(nlri_v6(v6_ap), 0..10)).prop_map(
            |(next_hop, reserved, p)| MpReach {
                family: Family::IPV6_UNICAST,
                next_hop,
                reserved,
                nlri: MpNlri::Prefixes(p)
            }
        ),
        (vec(any::<u8>(), 0..40), vec(any::<u8>(), 0..40)).prop_map(|(nh, bytes)| {
            let next_hop = match nh.len() {
                4 | 16 | 32 => MpNextHop::Opaque(vec![1; 12]),
                _ => MpNextHop::Opaque(nh),
            };
            MpReach {
                family: Family::new(Afi::L2VPN, Safi::EVPN),
                next_hop,
                reserved: 0,
                nlri: MpNlri::Opaque(bytes),
            }
        }),
    ]
}

fn mp_unreach(params: SessionParams) -> impl Strategy<Value = MpUnreach> {
    let v4_ap = params.add_path.contains(Family::IPV4_UNICAST);
    let v6_ap = params.add_path.contains(Family::IPV6_UNICAST);
    prop_oneof![
        vec(nlri_v4(v4_ap), 0..10).prop_map(|p| MpUnreach {
            family: Family::IPV4_UNICAST,
            nlri: MpNlri::Prefixes(p)
        }),
        vec(nlri_v6(v6_ap), 0..10).prop_map(|p| MpUnreach {
            family: Family::IPV6_UNICAST,
            nlri: MpNlri::Prefixes(p)
        }),
        vec(any::<u8>(), 0..40).prop_map(|b| MpUnreach {
            family: Family::new(Afi::IPV4, Safi::MPLS_VPN),
            nlri: MpNlri::Opaque(b)
        }),
    ]
}

/// An unknown optional attribute: a type code this crate does not interpret or check.
fn raw_attribute() -> impl Strategy<Value = PathAttribute> {
    (
        prop_oneof![40u8..=127, 129u8..=254],
        any::<bool>(),
        any::<bool>(),
        vec(any::<u8>(), 0..40),
    )
        .prop_map(|(code, transitive, partial, value)| {
            let mut flags = AttrFlags::OPTIONAL;
            if transitive {
                flags |= AttrFlags::TRANSITIVE;
            }
            if partial {
                flags |= AttrFlags::PARTIAL;
            }
            PathAttribute {
                flags: AttrFlags(flags),
                value: AttrValue::Raw(RawAttribute {
                    type_code: AttrType(code),
                    value,
                }),
            }
        })
}

/// Canonical flags, sometimes with the partial or extended-length bit as received.
fn with_flags(value: AttrValue, partial: bool, extended: bool) -> PathAttribute {
    let mut attr = PathAttribute::new(value);
    if partial && attr.flags.is_optional() && attr.flags.is_transitive() {
        attr.flags.0 |= AttrFlags::PARTIAL;
    }
    if extended {
        attr.flags.0 |= AttrFlags::EXTENDED_LENGTH;
    }
    attr
}

fn update(params: SessionParams) -> impl Strategy<Value = Update> {
    let wide = params.four_octet_as;
    let v4_ap = params.add_path.contains(Family::IPV4_UNICAST);
    let mandatory = (
        prop_oneof![
            Just(Origin::Igp),
            Just(Origin::Egp),
            Just(Origin::Incomplete)
        ],
        as_path(wide),
        next_hop_v4(),
    );
    let optional_a = (
        option::of(any::<u32>()),
        option::of(any::<u32>()),
        any::<bool>(),
        option::of((asn(wide), any::<u32>())),
        option::of(vec(any::<u32>(), 1..10)),
        option::of(any::<u32>()),
        option::of(vec(any::<u32>(), 1..5)),
    );
    let optional_b = (
        option::of(vec(any::<[u8; 8]>(), 1..5)),
        option::of(as_path(true)),
        option::of((asn(true), any::<u32>())),
        option::of(vec((any::<u32>(), any::<u32>(), any::<u32>()), 1..5)),
        option::of(any::<u32>()),
        vec(raw_attribute(), 0..3),
    );
    let mp = (
        option::of(mp_reach(params.clone())),
        option::of(mp_unreach(params)),
    );
    let routes = (vec(nlri_v4(v4_ap), 0..20), vec(nlri_v4(v4_ap), 0..20));
    (
        mandatory,
        any::<[bool; 3]>(),
        optional_a,
        optional_b,
        mp,
        routes,
        any::<u32>(),
    )
        .prop_map(
            move |(
                (origin, path, nh),
                present,
                a,
                b,
                (reach, unreach),
                (withdrawn, nlri),
                bits,
            )| {
                let (med, local_pref, atomic, aggregator, communities, originator, clusters) = a;
                let (ext, as4_path, as4_agg, large, otc, raws) = b;
                let flag = |i: u32| bits & (1 << i) != 0;
                let mut attributes = Vec::new();
                // RFC 7606 section 5.1: MP attributes first.
                if let Some(r) = reach.clone() {
                    attributes.push(with_flags(AttrValue::MpReachNlri(r), false, flag(0)));
                }
                if let Some(u) = unreach {
                    attributes.push(with_flags(AttrValue::MpUnreachNlri(u), false, flag(1)));
                }
                // Routes need the mandatory attributes, or the decoder reports them missing.
                let needs_mandatory = !nlri.is_empty() || reach.is_some();
                if needs_mandatory || present[0] {
                    attributes.push(with_flags(AttrValue::Origin(origin), false, flag(2)));
                }
                if needs_mandatory || present[1] {
                    attributes.push(with_flags(AttrValue::AsPath(path), false, flag(3)));
                }
                if !nlri.is_empty() || present[2] {
                    attributes.push(with_flags(AttrValue::NextHop(nh), false, flag(4)));
                }
                let mut push = |value: AttrValue, i: u32| {
                    attributes.push(with_flags(value, flag(i), flag(i + 16)))
                };
                if let Some(v) = med {
                    push(AttrValue::MultiExitDisc(v), 5);
                }
                if let Some(v) = local_pref {
                    push(AttrValue::LocalPref(v), 6);
                }
                if atomic {
                    push(AttrValue::AtomicAggregate, 7);
                }
                if let Some((asn, addr)) = aggregator {
                    push(
                        AttrValue::Aggregator(Aggregator {
                            asn,
                            address: Ipv4Addr::from(addr),
                        }),
                        8,
                    );
                }
                if let Some(c) = communities {
                    push(
                        AttrValue::Communities(c.into_iter().map(Community).collect()),
                        9,
                    );
                }
                if let Some(v) = originator {
                    push(AttrValue::OriginatorId(Ipv4Addr::from(v)), 10);
                }
                if let Some(c) = clusters {
                    push(
                        AttrValue::ClusterList(c.into_iter().map(Ipv4Addr::from).collect()),
                        11,
                    );
                }
                if let Some(c) = ext {
                    push(
                        AttrValue::ExtendedCommunities(
                            c.into_iter().map(ExtendedCommunity).collect(),
                        ),
                        12,
                    );
                }
                if let Some(p) = as4_path {
                    push(AttrValue::As4Path(p), 13);
                }
                if let Some((asn, addr)) = as4_agg {
                    push(
                        AttrValue::As4Aggregator(Aggregator {
                            asn,
                            address: Ipv4Addr::from(addr),
                        }),
                        14,
                    );
                }
                if let Some(l) = large {
                    let l = l.into_iter().map(|(g, a, b)| LargeCommunity {
                        global_admin: g,
                        local_data_1: a,
                        local_data_2: b,
                    });
                    push(AttrValue::LargeCommunities(l.collect()), 15);
                }
                if let Some(v) = otc {
                    push(AttrValue::OnlyToCustomer(v), 5);
                }
                let mut seen = std::collections::BTreeSet::new();
                for raw in raws {
                    if seen.insert(raw.type_code()) {
                        attributes.push(raw);
                    }
                }
                Update {
                    withdrawn,
                    attributes,
                    nlri,
                    issues: Vec::new(),
                }
            },
        )
}

fn capability() -> impl Strategy<Value = Capability> {
    let known = [1u8, 2, 5, 6, 9, 64, 65, 69, 70, 71, 73, 75];
    let small_family = (any::<u16>(), any::<u8>()).prop_map(|(a, s)| Family::new(Afi(a), Safi(s)));
    prop_oneof![
        (family(), any::<u8>())
            .prop_map(|(family, reserved)| Capability::Multiprotocol { family, reserved }),
        Just(Capability::RouteRefresh),
        vec((small_family.clone(), any::<u16>().prop_map(Afi)), 0..5)
            .prop_map(Capability::ExtendedNextHop),
        Just(Capability::ExtendedMessage),
        prop_oneof![
            Just(Role::Provider),
            Just(Role::RouteServer),
            Just(Role::RouteServerClient),
            Just(Role::Customer),
            Just(Role::Peer),
            (5u8..=255).prop_map(Role::Other),
        ]
        .prop_map(Capability::Role),
        (0u8..16, 0u16..4096, vec((family(), any::<u8>()), 0..5)).prop_map(
            |(flags, restart_time, f)| {
                Capability::GracefulRestart(GracefulRestart {
                    flags,
                    restart_time,
                    families: f
                        .into_iter()
                        .map(|(family, flags)| GracefulRestartFamily { family, flags })
                        .collect(),
                })
            }
        ),
        any::<u32>().prop_map(Capability::FourOctetAs),
        vec(
            (
                family(),
                prop_oneof![
                    Just(AddPathDirection::Receive),
                    Just(AddPathDirection::Send),
                    Just(AddPathDirection::Both),
                    Just(AddPathDirection::Other(0)),
                    (4u8..=255).prop_map(AddPathDirection::Other),
                ]
            ),
            0..5
        )
        .prop_map(|e| Capability::AddPath(
            e.into_iter()
                .map(|(family, direction)| AddPathEntry { family, direction })
                .collect()
        )),
        Just(Capability::EnhancedRouteRefresh),
        vec((family(), any::<u8>(), 0u32..(1 << 24)), 0..5).prop_map(|f| {
            Capability::LongLivedGracefulRestart(
                f.into_iter()
                    .map(|(family, flags, stale_time)| LlgrFamily {
                        family,
                        flags,
                        stale_time,
                    })
                    .collect(),
            )
        }),
        (vec(any::<u8>(), 0..20), vec(any::<u8>(), 0..20))
            .prop_map(|(hostname, domain)| Capability::Fqdn { hostname, domain }),
        vec(any::<u8>(), 0..30).prop_map(Capability::SoftwareVersion),
        (
            any::<u8>().prop_filter("unknown code", move |c| !known.contains(c)),
            vec(any::<u8>(), 0..20)
        )
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

fn open() -> impl Strategy<Value = Open> {
    (
        any::<u16>(),
        prop_oneof![Just(0u16), 3u16..=u16::MAX],
        1u32..=u32::MAX,
        vec(vec(capability(), 0..8), 0..4),
        any::<bool>(),
    )
        .prop_map(|(my_as, hold_time, id, params, extended)| Open {
            version: 4,
            my_as,
            hold_time,
            bgp_identifier: Ipv4Addr::from(id),
            parameters: params
                .into_iter()
                .map(OptionalParameter::Capabilities)
                .collect(),
            extended_parameters_length: extended,
        })
}

fn notification() -> impl Strategy<Value = Notification> {
    (any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..100)).prop_map(|(code, subcode, data)| {
        Notification {
            code: ErrorCode(code),
            subcode,
            data,
        }
    })
}

fn route_refresh() -> impl Strategy<Value = RouteRefresh> {
    let subtype = prop_oneof![
        Just(RouteRefreshSubtype::Normal),
        Just(RouteRefreshSubtype::BeginningOfRefresh),
        Just(RouteRefreshSubtype::EndOfRefresh),
        (3u8..=255).prop_map(RouteRefreshSubtype::Reserved),
    ];
    let orf = vec(any::<u8>(), 0..16);
    (family(), subtype, orf).prop_map(|(family, subtype, orf)| {
        let mut refresh = RouteRefresh::new(family, subtype);
        // RFC 5291 ORF entries ride only on plain (and reserved-subtype) requests.
        if !matches!(
            subtype,
            RouteRefreshSubtype::BeginningOfRefresh | RouteRefreshSubtype::EndOfRefresh
        ) {
            refresh.orf_entries = orf;
        }
        refresh
    })
}

fn message_and_params() -> impl Strategy<Value = (Message, SessionParams)> {
    params().prop_flat_map(|p| {
        let msg = prop_oneof![
            open().prop_map(Message::Open),
            update(p.clone()).prop_map(Message::Update),
            notification().prop_map(Message::Notification),
            Just(Message::Keepalive),
            route_refresh().prop_map(Message::RouteRefresh),
        ];
        (msg, Just(p))
    })
}

/// The value decoding `emit(msg)` must give: the same, except that an OPEN whose
/// parameters did not fit the RFC 5492 form went out in the RFC 9072 form.
fn expected_after_roundtrip(msg: &Message, bytes: &[u8]) -> Message {
    match msg {
        Message::Open(open)
            if !open.extended_parameters_length && bytes[28] == 255 && bytes[29] == 255 =>
        {
            Message::Open(Open {
                extended_parameters_length: true,
                ..open.clone()
            })
        }
        other => other.clone(),
    }
}

proptest! {
    // 512 cases by default; PROPTEST_CASES overrides for longer runs.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn roundtrip_every_message((msg, params) in message_and_params()) {
        let mut bytes = Vec::new();
        msg.emit(&mut bytes, &params);
        prop_assert_eq!(bytes.len(), msg.encoded_len(&params));
        let limit = if matches!(msg, Message::Open(_)) { 4096 } else { params.max_message_len() };
        prop_assume!(bytes.len() <= limit);
        prop_assert_eq!(frame(&bytes, &params), Ok(Some(bytes.len())));
        let decoded = Message::parse(&bytes, &params);
        prop_assert_eq!(decoded, Ok(expected_after_roundtrip(&msg, &bytes)));
    }

    #[test]
    fn roundtrip_update_reencodes_byte_for_byte((msg, params) in message_and_params()) {
        let bytes = msg.to_bytes(&params);
        prop_assume!(bytes.len() <= params.max_message_len() && bytes.len() <= 4096);
        let again = Message::parse(&bytes, &params).unwrap().to_bytes(&params);
        prop_assert_eq!(again, bytes);
    }

    #[test]
    fn update_view_agrees_with_parse((msg, params) in message_and_params()) {
        let bytes = msg.to_bytes(&params);
        prop_assume!(bytes.len() <= params.max_message_len());
        if let Message::Update(update) = &msg {
            let view = bgp_wire::UpdateView::new_checked(&bytes, &params).unwrap();
            prop_assert_eq!(view.nlri().collect::<Vec<_>>(), update.nlri.clone());
            prop_assert_eq!(view.withdrawn().collect::<Vec<_>>(), update.withdrawn.clone());
            prop_assert_eq!(view.attributes().count(), update.attributes.len());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..200), params in params()) {
        let _ = frame(&bytes, &params);
        if let Ok(view) = bgp_wire::UpdateView::new_checked(&bytes, &params) {
            let _ = (view.nlri().count(), view.withdrawn().count(), view.attributes().count());
        }
        if let Err(e) = Message::parse(&bytes, &params) {
            let _ = e.notification();
        }
    }

    #[test]
    fn arbitrary_bodies_behind_a_valid_header_never_panic(
        message_type in 1u8..=5,
        body in vec(any::<u8>(), 0..300),
        params in params(),
    ) {
        let mut bytes = vec![0xff; 16];
        bytes.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
        bytes.push(message_type);
        bytes.extend_from_slice(&body);
        prop_assert_eq!(frame(&bytes[..bytes.len() - 1], &params).ok().flatten(), None);
        if let Ok(view) = bgp_wire::UpdateView::new_checked(&bytes, &params) {
            // Whatever the view accepts, the decoder frames the same way.
            let decoded = view.to_update(&params);
            if let Ok(update) = decoded {
                prop_assert_eq!(view.nlri().collect::<Vec<_>>(), update.nlri);
            }
        }
        match Message::parse(&bytes, &params) {
            Ok(msg) => {
                // Whatever decodes cleanly re-encodes to something that decodes the same.
                let clean = !matches!(&msg, Message::Update(u) if !u.issues.is_empty());
                if clean {
                    let again = msg.to_bytes(&params);
                    prop_assert_eq!(Message::parse(&again, &params), Ok(msg));
                }
            }
            Err(e) => {
                let n = e.notification();
                prop_assert!(n.code.0 >= 1 && n.code.0 <= 7);
            }
        }
    }

    /// Structured garbage: well-formed attribute headers with random flags, types and
    /// values exercise every attribute decoder.
    #[test]
    fn random_attributes_never_panic(
        attrs in vec((any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..40)), 0..8),
        nlri in vec(any::<u8>(), 0..30),
        params in params(),
    ) {
        let mut field = Vec::new();
        for (flags, code, value) in &attrs {
            field.push(flags & !AttrFlags::EXTENDED_LENGTH);
            field.push(*code);
            field.push(u8::try_from(value.len()).unwrap());
            field.extend_from_slice(value);
        }
        let mut body = vec![0, 0];
        body.extend_from_slice(&u16::try_from(field.len()).unwrap().to_be_bytes());
        body.extend_from_slice(&field);
        body.extend_from_slice(&nlri);
        let mut bytes = vec![0xff; 16];
        bytes.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
        bytes.push(2);
        bytes.extend_from_slice(&body);
        match Message::parse(&bytes, &params) {
            Ok(Message::Update(u)) => {
                let _ = u.routes_to_withdraw().count();
                let _ = u.effective_as_path(&params);
                if u.issues.is_empty() {
                    let again = Message::Update(u.clone()).to_bytes(&params);
                    prop_assert_eq!(Message::parse(&again, &params), Ok(Message::Update(u)));
                }
            }
            Ok(other) => prop_assert!(false, "UPDATE decoded as {:?}", other),
            Err(e) => prop_assert_eq!(e.notification().code, ErrorCode::UPDATE_MESSAGE),
        }
    }
}
