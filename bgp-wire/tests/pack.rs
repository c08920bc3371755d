//! UpdatePacker: every message parses back cleanly and fits the session's limit, the
//! routes that come out are exactly the routes that went in, and the count is minimal.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_wire::{
    AsPath, AttrValue, Community, Family, Message, MpNextHop, Nlri, Origin, PathAttribute,
    SessionParams, Update, UpdatePacker,
};

fn v4(i: u32, len: u8) -> Nlri {
    Nlri::new(ipnet::IpNet::V4(
        ipnet::Ipv4Net::new(Ipv4Addr::from((10 << 24) | (i << 8)), len).unwrap(),
    ))
}

fn v6(i: u32) -> Nlri {
    let addr = Ipv6Addr::from((0x2001_0db8_u128 << 96) | (u128::from(i) << 80));
    Nlri::new(ipnet::IpNet::V6(ipnet::Ipv6Net::new(addr, 48).unwrap()))
}

fn attrs(asn: u32) -> Vec<PathAttribute> {
    vec![
        PathAttribute::new(AttrValue::Origin(Origin::Igp)),
        PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence([asn, 64500]))),
        PathAttribute::new(AttrValue::NextHop(Ipv4Addr::new(192, 0, 2, 1))),
        PathAttribute::new(AttrValue::Communities(vec![Community::new(64500, 1)])),
    ]
}

fn attrs_len(attrs: &[PathAttribute], params: &SessionParams) -> usize {
    // The encoded size of an UPDATE holding only these attributes, minus the fixed parts.
    Message::Update(Update::ipv4_announcement(attrs.iter().cloned(), [])).encoded_len(params)
        - 19
        - 4
}

/// Parses every message, checks size and cleanliness, and gathers (family, nlri, attrs
/// without MP attributes) for announcements and (family, nlri) for withdrawals.
#[allow(clippy::type_complexity)]
fn decode_all(
    messages: &[Vec<u8>],
    params: &SessionParams,
) -> (BTreeSet<(Family, Nlri, String)>, BTreeSet<(Family, Nlri)>) {
    let mut announced = BTreeSet::new();
    let mut withdrawn = BTreeSet::new();
    for bytes in messages {
        assert!(
            bytes.len() <= params.max_message_len(),
            "{} bytes",
            bytes.len()
        );
        let Ok(Message::Update(update)) = Message::parse(bytes, params) else {
            panic!("not a clean UPDATE")
        };
        assert!(update.issues.is_empty(), "{:?}", update.issues);
        let common: Vec<_> = update
            .attributes
            .iter()
            .filter(|a| {
                !matches!(
                    a.value,
                    AttrValue::MpReachNlri(_) | AttrValue::MpUnreachNlri(_)
                )
            })
            .collect();
        let key = format!("{common:?} {:?}", update.mp_reach().map(|r| &r.next_hop));
        for (family, nlri) in update.announced() {
            assert!(
                announced.insert((family, *nlri, key.clone())),
                "announced twice"
            );
        }
        for (family, nlri) in update.withdrawn_routes() {
            assert!(withdrawn.insert((family, *nlri)), "withdrawn twice");
        }
    }
    (announced, withdrawn)
}

#[test]
fn ten_thousand_slash_24s_take_the_minimum_number_of_messages() {
    let params = SessionParams::modern();
    let attrs = attrs(64501);
    let nlri: Vec<_> = (0..10_000).map(|i| v4(i, 24)).collect();
    let mut packer = UpdatePacker::new(params.clone());
    packer.announce(&attrs, nlri.iter().copied());
    let messages = packer.finish().into_result().expect("packs");
    let per_message = (4096 - 19 - 4 - attrs_len(&attrs, &params)) / 4;
    assert_eq!(messages.len(), nlri.len().div_ceil(per_message));
    let (announced, withdrawn) = decode_all(&messages, &params);
    assert!(withdrawn.is_empty());
    let got: BTreeSet<_> = announced.iter().map(|(_, n, _)| *n).collect();
    assert_eq!(got, nlri.into_iter().collect());
    // All but the last are full: another prefix would not have fitted.
    for bytes in &messages[..messages.len() - 1] {
        assert!(bytes.len() + 4 > 4096);
    }
}

#[test]
fn ipv6_announcements_go_in_mp_reach_and_fill_messages() {
    let params = SessionParams::modern();
    let attrs = &attrs(64501)[..2];
    let next_hop = MpNextHop::Ipv6 {
        global: "2001:db8::1".parse().unwrap(),
        link_local: None,
    };
    let nlri: Vec<_> = (0..3000).map(v6).collect();
    let mut packer = UpdatePacker::new(params.clone());
    packer.announce_mp(Family::IPV6_UNICAST, next_hop, attrs, nlri.iter().copied());
    let messages = packer.finish().into_result().expect("packs");
    // MP_REACH: 4-byte header (extended length), AFI/SAFI 3, next hop 1 + 16, reserved 1.
    let per_message = (4096 - 19 - 4 - attrs_len(attrs, &params) - 4 - 21) / 7;
    assert_eq!(messages.len(), nlri.len().div_ceil(per_message));
    let (announced, _) = decode_all(&messages, &params);
    assert!(announced.iter().all(|(f, _, _)| *f == Family::IPV6_UNICAST));
    let got: BTreeSet<_> = announced.iter().map(|(_, n, _)| *n).collect();
    assert_eq!(got, nlri.into_iter().collect());
}

#[test]
fn mixed_withdrawals_and_attribute_sets_come_out_as_they_went_in() {
    let mut params = SessionParams::modern();
    params.add_path.insert(Family::IPV6_UNICAST);
    let mut packer = UpdatePacker::new(params.clone());
    let mut expected_withdrawn = BTreeSet::new();
    for i in 0..1500 {
        packer.withdraw(Family::IPV4_UNICAST, v4(i, 24));
        expected_withdrawn.insert((Family::IPV4_UNICAST, v4(i, 24)));
        let n = Nlri {
            path_id: Some(i),
            ..v6(i)
        };
        packer.withdraw(Family::IPV6_UNICAST, n);
        expected_withdrawn.insert((Family::IPV6_UNICAST, n));
    }
    let mut expected_announced = BTreeSet::new();
    for set in 0..3u32 {
        let a = attrs(64501 + set);
        let nlri: Vec<_> = (0..700).map(|i| v4(20_000 + set * 1000 + i, 24)).collect();
        // Announced in two calls: they join the same group.
        packer.announce(&a, nlri[..300].iter().copied());
        packer.announce(&a, nlri[300..].iter().copied());
        let refs: Vec<&PathAttribute> = a.iter().collect();
        let key = format!("{refs:?} {:?}", None::<&MpNextHop>);
        for n in nlri {
            expected_announced.insert((Family::IPV4_UNICAST, n, key.clone()));
        }
    }
    let messages = packer.finish().into_result().expect("packs");
    let (announced, withdrawn) = decode_all(&messages, &params);
    assert_eq!(withdrawn, expected_withdrawn);
    assert_eq!(announced, expected_announced);
    // 3 sets x 700 /24s = 2800 bytes each: one message per set.
    let announcing = messages
        .iter()
        .filter(
            |b| matches!(Message::parse(b, &params), Ok(Message::Update(u)) if !u.nlri.is_empty()),
        )
        .count();
    assert_eq!(announcing, 3);
    // Withdrawals: 1500 x 4 bytes of IPv4 and 1500 x (4 + 1 + 6) bytes of IPv6 are 22500
    // bytes; a message carries at most 4096 - 19 - 4 = 4073, so 6 is the least possible.
    let withdrawal_bytes: usize = 1500 * 4 + 1500 * 11;
    assert_eq!(withdrawal_bytes.div_ceil(4073), 6);
    assert_eq!(messages.len() - announcing, 6);
}

/// Twenty attribute sets, each announced in two calls far apart (the other nineteen
/// sets' first calls between them): more sets than the packer compares one by one, so
/// its lookup switches to an index on the way. Each set's routes join one group: one
/// UPDATE per set (two /24s fit), the sets in the order first seen, each carrying its
/// own two routes in the order queued.
#[test]
fn many_attribute_sets_announced_twice_each_make_one_update_per_set() {
    let params = SessionParams::modern();
    let mut packer = UpdatePacker::new(params.clone());
    let sets: Vec<Vec<PathAttribute>> = (0..20).map(|s| attrs(64_600 + s)).collect();
    for (s, a) in sets.iter().enumerate() {
        packer.announce(a, [v4(2 * s as u32, 24)]);
    }
    for (s, a) in sets.iter().enumerate().rev() {
        packer.announce(a, [v4(2 * s as u32 + 1, 24)]);
    }
    let updates = packer.finish_updates().into_result().expect("packs");
    assert_eq!(updates.len(), 20);
    for (s, update) in updates.iter().enumerate() {
        assert_eq!(update.attributes, sets[s], "set {s}'s attributes");
        assert_eq!(
            update.nlri,
            vec![v4(2 * s as u32, 24), v4(2 * s as u32 + 1, 24)],
            "set {s}'s routes"
        );
    }
}

/// IPv4 withdrawals queued in one call, of mixed lengths: each message is filled in
/// order up to the RFC 4271 limit before the next starts (4096 - 19 header - 2 withdrawn
/// length - 2 attribute length = 4073 bytes of withdrawn routes; a /24 takes 1 + 3
/// bytes, a /32 1 + 4, a /8 1 + 1), and the routes come out in the order they went in.
#[test]
fn withdraw_many_fills_each_message_to_the_rfc_limit_in_order() {
    let params = SessionParams::modern();
    // 1,000 /24s (4,000 bytes), then 20 /32s (100 bytes): the first message takes the
    // /24s and 14 /32s (4,070 bytes; a 15th would make 4,075); then 6 /32s and 1,000 /8s
    // (30 + 2,000 bytes) in a second.
    let routes: Vec<Nlri> = (0..1000)
        .map(|i| v4(i, 24))
        .chain((0..20).map(|i| v4(2000 + i, 32)))
        .chain((0..1000).map(|i| {
            Nlri::new(ipnet::IpNet::V4(
                ipnet::Ipv4Net::new(Ipv4Addr::from((i % 200 + 1) << 24), 8).unwrap(),
            ))
        }))
        .collect();
    let mut packer = UpdatePacker::new(params.clone());
    packer.withdraw_many(Family::IPV4_UNICAST, routes[..500].iter().copied());
    // A second call adds to the same list.
    packer.withdraw_many(Family::IPV4_UNICAST, routes[500..].iter().copied());
    let messages = packer.finish().into_result().expect("packs");
    let counts: Vec<usize> = messages
        .iter()
        .map(|bytes| match Message::parse(bytes, &params) {
            Ok(Message::Update(update)) => {
                assert!(update.attributes.is_empty() && update.nlri.is_empty());
                update.withdrawn.len()
            }
            other => panic!("not an UPDATE: {other:?}"),
        })
        .collect();
    assert_eq!(counts, vec![1014, 1006]);
    assert_eq!(messages[0].len(), 19 + 4 + 4070);
    assert_eq!(messages[1].len(), 19 + 4 + 30 + 2000);
    let out: Vec<Nlri> = messages
        .iter()
        .flat_map(|bytes| match Message::parse(bytes, &params) {
            Ok(Message::Update(update)) => update.withdrawn,
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(out, routes);
}

#[test]
fn extended_messages_need_fewer_updates() {
    let attrs = attrs(64501);
    let nlri: Vec<_> = (0..10_000).map(|i| v4(i, 24)).collect();
    let extended = SessionParams {
        extended_message: true,
        ..SessionParams::modern()
    };
    let mut packer = UpdatePacker::new(extended.clone());
    packer.announce(&attrs, nlri.iter().copied());
    let messages = packer.finish().into_result().expect("packs");
    let per_message = (65535 - 19 - 4 - attrs_len(&attrs, &extended)) / 4;
    assert_eq!(messages.len(), nlri.len().div_ceil(per_message));
    assert!(messages.iter().any(|m| m.len() > 4096));
    let (announced, _) = decode_all(&messages, &extended);
    assert_eq!(announced.len(), nlri.len());
}

#[test]
fn empty_packer_produces_nothing() {
    assert!(UpdatePacker::new(SessionParams::default())
        .finish()
        .into_result()
        .expect("packs")
        .is_empty());
}

#[test]
fn packer_adds_as4_path_for_two_octet_sessions() {
    let old = SessionParams::default();
    let attrs = attrs(4_200_000_001);
    let mut packer = UpdatePacker::new(old.clone());
    packer.announce(&attrs, [v4(1, 24)]);
    let messages = packer.finish().into_result().expect("packs");
    let Ok(Message::Update(update)) = Message::parse(&messages[0], &old) else {
        panic!()
    };
    assert!(update.issues.is_empty());
    assert_eq!(
        update.effective_as_path(&old),
        AsPath::from_sequence([4_200_000_001, 64500])
    );
    // A 4-octet session gets the path as is and no AS4_PATH.
    let mut packer = UpdatePacker::new(SessionParams::modern());
    packer.announce(&attrs, [v4(1, 24)]);
    let Ok(Message::Update(update)) = Message::parse(
        &packer.finish().into_result().expect("packs")[0],
        &SessionParams::modern(),
    ) else {
        panic!()
    };
    assert!(update.as4_path().is_none());
    assert_eq!(
        update.as_path(),
        Some(&AsPath::from_sequence([4_200_000_001, 64500]))
    );
}

mod property {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn nlri(v6: bool, add_path: bool) -> impl Strategy<Value = Nlri> {
        (any::<u128>(), any::<u8>(), any::<u32>()).prop_map(move |(addr, len, id)| {
            let prefix = if v6 {
                ipnet::IpNet::V6(ipnet::Ipv6Net::new(Ipv6Addr::from(addr), len % 129).unwrap())
            } else {
                ipnet::IpNet::V4(
                    ipnet::Ipv4Net::new(Ipv4Addr::from(addr as u32), len % 33).unwrap(),
                )
            };
            let n = Nlri::new(prefix);
            Nlri {
                path_id: add_path.then_some(id),
                ..n
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever goes in comes out, once, in messages that parse cleanly and fit.
        #[test]
        fn packed_routes_are_the_input_routes(
            extended in any::<bool>(),
            add_path in any::<bool>(),
            withdraw_v4 in vec(nlri(false, false), 0..1500),
            withdraw_v6 in vec(nlri(true, false), 0..800),
            announce in vec((0u32..3, any::<bool>()), 0..3),
            routes_v4 in vec(nlri(false, false), 0..1500),
            routes_v6 in vec(nlri(true, false), 0..800),
        ) {
            let mut params = SessionParams { extended_message: extended, ..SessionParams::modern() };
            if add_path {
                params.add_path.insert(Family::IPV6_UNICAST);
            }
            let with_id = |n: &Nlri, i: usize| if add_path { Nlri { path_id: Some(i as u32), ..*n } } else { *n };
            let mut packer = UpdatePacker::new(params.clone());
            let mut expected_withdrawn = BTreeSet::new();
            for n in &withdraw_v4 {
                packer.withdraw(Family::IPV4_UNICAST, *n);
                expected_withdrawn.insert((Family::IPV4_UNICAST, *n));
            }
            for (i, n) in withdraw_v6.iter().enumerate() {
                let n = with_id(n, i);
                packer.withdraw(Family::IPV6_UNICAST, n);
                expected_withdrawn.insert((Family::IPV6_UNICAST, n));
            }
            let mut expected_announced = BTreeSet::new();
            for (set, (asn, v6)) in announce.iter().enumerate() {
                let attrs = attrs(64600 + asn);
                if *v6 {
                    let next_hop = MpNextHop::Ipv6 { global: "2001:db8::1".parse().unwrap(), link_local: None };
                    let routes: Vec<_> = routes_v6.iter().enumerate().skip(set).step_by(3).map(|(i, n)| with_id(n, i)).collect();
                    packer.announce_mp(Family::IPV6_UNICAST, next_hop, &attrs[..2], routes.iter().copied());
                    expected_announced.extend(routes.into_iter().map(|n| (Family::IPV6_UNICAST, n)));
                } else {
                    let routes: Vec<_> = routes_v4.iter().skip(set).step_by(3).copied().collect();
                    packer.announce(&attrs, routes.iter().copied());
                    expected_announced.extend(routes.into_iter().map(|n| (Family::IPV4_UNICAST, n)));
                }
            }
            let messages = packer.finish().into_result().expect("packs");
            let mut announced = BTreeSet::new();
            let mut withdrawn = BTreeSet::new();
            for bytes in &messages {
                prop_assert!(bytes.len() <= params.max_message_len());
                let Ok(Message::Update(update)) = Message::parse(bytes, &params) else {
                    return Err(TestCaseError::fail("not a clean UPDATE"));
                };
                prop_assert!(update.issues.is_empty());
                announced.extend(update.announced().map(|(f, n)| (f, *n)));
                withdrawn.extend(update.withdrawn_routes().map(|(f, n)| (f, *n)));
            }
            // Duplicate inputs collapse in the sets on both sides alike.
            prop_assert_eq!(withdrawn, expected_withdrawn);
            prop_assert_eq!(announced, expected_announced);
        }
    }
}
