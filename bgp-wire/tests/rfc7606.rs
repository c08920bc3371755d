//! RFC 7606 (revised UPDATE error handling): one test per attribute case of section 7,
//! plus the general rules of sections 3, 4 and 5, asserting the treatment chosen and
//! which routes end up withdrawn.

use bgp_wire::{
    AttrType, DecodeErrorKind, ErrorCode, Family, Message, Nlri, SessionParams, Treatment, Update,
};

fn update_bytes(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u16::try_from(withdrawn.len()).unwrap().to_be_bytes());
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(nlri);
    let mut out = vec![0xff; 16];
    out.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    out.push(2);
    out.extend_from_slice(&body);
    out
}

fn parse_with(bytes: &[u8], params: &SessionParams) -> Update {
    match Message::parse(bytes, params) {
        Ok(Message::Update(u)) => u,
        other => panic!("expected an UPDATE, got {other:?}"),
    }
}

fn parse(bytes: &[u8]) -> Update {
    parse_with(bytes, &SessionParams::modern())
}

const ORIGIN: [u8; 4] = [0x40, 1, 1, 0];
/// AS_PATH: one AS_SEQUENCE of 65001 (4-octet encoding).
const AS_PATH: [u8; 9] = [0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9];
const NEXT_HOP: [u8; 7] = [0x40, 3, 4, 192, 0, 2, 1];
/// NLRI: 10.0.0.0/8 and 192.168.1.0/24.
const NLRI: [u8; 6] = [8, 10, 24, 192, 168, 1];

/// The mandatory attributes with `extra` inserted after them, unless `replace` names a
/// type code whose default instance `extra` stands in for.
fn attrs_with(extra: &[u8], replace: Option<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    for attr in [&ORIGIN[..], &AS_PATH, &NEXT_HOP] {
        if Some(attr[1]) != replace {
            out.extend_from_slice(attr);
        }
    }
    out.extend_from_slice(extra);
    out
}

fn nlri_set() -> Vec<(Family, Nlri)> {
    vec![
        (
            Family::IPV4_UNICAST,
            Nlri::new("10.0.0.0/8".parse().unwrap()),
        ),
        (
            Family::IPV4_UNICAST,
            Nlri::new("192.168.1.0/24".parse().unwrap()),
        ),
    ]
}

fn withdrawn(u: &Update) -> Vec<(Family, Nlri)> {
    u.routes_to_withdraw().map(|(f, n)| (f, *n)).collect()
}

fn announced(u: &Update) -> Vec<(Family, Nlri)> {
    u.routes_to_announce().map(|(f, n)| (f, *n)).collect()
}

/// Checks an attribute error handled by treat-as-withdraw: the attribute is gone, every
/// route is withdrawn, nothing announced.
fn assert_treat_as_withdraw(extra: &[u8], replace: Option<u8>, type_code: u8) -> Update {
    let u = parse(&update_bytes(&[], &attrs_with(extra, replace), &NLRI));
    assert_eq!(
        u.treatment(),
        Some(Treatment::TreatAsWithdraw),
        "{:?}",
        u.issues
    );
    assert!(
        u.issues
            .iter()
            .any(|i| i.type_code == type_code && i.treatment == Treatment::TreatAsWithdraw),
        "{:?}",
        u.issues
    );
    assert!(u.attribute(AttrType(type_code)).is_none());
    assert_eq!(withdrawn(&u), nlri_set());
    assert!(announced(&u).is_empty());
    u
}

/// Checks an attribute error handled by attribute discard: the attribute is gone, the
/// routes stand.
fn assert_attribute_discard(extra: &[u8], type_code: u8, params: &SessionParams) -> Update {
    let u = parse_with(&update_bytes(&[], &attrs_with(extra, None), &NLRI), params);
    assert_eq!(
        u.treatment(),
        Some(Treatment::AttributeDiscard),
        "{:?}",
        u.issues
    );
    assert_eq!(u.issues.len(), 1);
    assert_eq!(u.issues[0].type_code, type_code);
    assert!(u.attribute(AttrType(type_code)).is_none());
    assert_eq!(announced(&u), nlri_set());
    assert!(withdrawn(&u).is_empty());
    u
}

#[test]
fn well_formed_update_has_no_issues() {
    let u = parse(&update_bytes(&[], &attrs_with(&[], None), &NLRI));
    assert!(u.issues.is_empty());
    assert_eq!(u.treatment(), None);
    assert_eq!(announced(&u), nlri_set());
    assert!(withdrawn(&u).is_empty());
}

// --- Section 7: attribute by attribute ---------------------------------------------

#[test]
fn s7_1_origin_bad_length_and_value() {
    assert_treat_as_withdraw(&[0x40, 1, 2, 0, 0], Some(1), 1);
    let u = assert_treat_as_withdraw(&[0x40, 1, 1, 3], Some(1), 1);
    assert!(matches!(
        u.issues[0].error.kind,
        DecodeErrorKind::InvalidOriginAttribute { .. }
    ));
}

#[test]
fn s7_2_as_path_malformed() {
    // Segment overrun: says 2 ASes, holds 1.
    assert_treat_as_withdraw(&[0x40, 2, 6, 2, 2, 0, 0, 0xfd, 0xe9], Some(2), 2);
    // Underrun: one octet after the last whole segment.
    assert_treat_as_withdraw(&[0x40, 2, 7, 2, 1, 0, 0, 0xfd, 0xe9, 2], Some(2), 2);
    // Zero-length segment.
    assert_treat_as_withdraw(&[0x40, 2, 2, 2, 0], Some(2), 2);
    // Unknown segment type.
    assert_treat_as_withdraw(&[0x40, 2, 6, 9, 1, 0, 0, 0xfd, 0xe9], Some(2), 2);
    // AS 0 (RFC 7607).
    assert_treat_as_withdraw(&[0x40, 2, 6, 2, 1, 0, 0, 0, 0], Some(2), 2);
    // The same 6 bytes are a fine 2-octet path of 3 ASes on an old session.
    let attrs = attrs_with(&[0x40, 2, 8, 2, 3, 0, 1, 0, 2, 0, 3], Some(2));
    let u = parse_with(&update_bytes(&[], &attrs, &NLRI), &SessionParams::default());
    assert!(u.issues.is_empty());
    assert_eq!(u.as_path().unwrap().path_length(), 3);
}

#[test]
fn s7_2_empty_as_path_is_valid() {
    let u = parse(&update_bytes(
        &[],
        &attrs_with(&[0x40, 2, 0], Some(2)),
        &NLRI,
    ));
    assert!(u.issues.is_empty());
    assert_eq!(u.as_path().unwrap().path_length(), 0);
}

#[test]
fn s7_3_next_hop_bad_length_or_address() {
    assert_treat_as_withdraw(&[0x40, 3, 5, 192, 0, 2, 1, 0], Some(3), 3);
    // A syntactically fine but unusable address is not a decode issue; the accessor
    // tells the session (RFC 4271 section 6.3).
    let u = parse(&update_bytes(
        &[],
        &attrs_with(&[0x40, 3, 4, 0, 0, 0, 0], Some(3)),
        &NLRI,
    ));
    assert!(u.issues.is_empty());
    assert!(u.has_unusable_next_hop());
    let u = parse(&update_bytes(&[], &attrs_with(&[], None), &NLRI));
    assert!(!u.has_unusable_next_hop());
}

#[test]
fn s7_3_malformed_next_hop_without_nlri_field_is_discarded() {
    // Only MP_REACH routes: NEXT_HOP is ignored anyway (RFC 4760 section 3).
    let reach = [
        0x80, 14, 21, 0, 2, 1, 16, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 32,
        0x20, 1, 0x0d, 0xb8,
    ];
    let mut attrs = reach[..3].to_vec();
    attrs[2] = u8::try_from(reach.len() - 3).unwrap();
    attrs.extend_from_slice(&reach[3..]);
    attrs.extend_from_slice(&ORIGIN);
    attrs.extend_from_slice(&AS_PATH);
    attrs.extend_from_slice(&[0x40, 3, 3, 1, 2, 3]);
    let u = parse(&update_bytes(&[], &attrs, &[]));
    assert_eq!(u.treatment(), Some(Treatment::AttributeDiscard));
    assert_eq!(announced(&u).len(), 1);
    assert_eq!(announced(&u)[0].0, Family::IPV6_UNICAST);
}

#[test]
fn s7_4_multi_exit_disc_bad_length() {
    assert_treat_as_withdraw(&[0x80, 4, 2, 0, 1], None, 4);
}

#[test]
fn s7_5_local_pref_bad_length() {
    assert_treat_as_withdraw(&[0x40, 5, 5, 0, 0, 0, 0, 1], None, 5);
}

#[test]
fn s7_6_atomic_aggregate_bad_length_is_discarded() {
    assert_attribute_discard(&[0x40, 6, 1, 0], 6, &SessionParams::modern());
}

#[test]
fn s7_7_aggregator_bad_length_is_discarded() {
    // 6 bytes on a 4-octet session, 8 bytes on a 2-octet one.
    assert_attribute_discard(
        &[0xc0, 7, 6, 0xfd, 0xe9, 10, 0, 0, 1],
        7,
        &SessionParams::modern(),
    );
    let mut attrs = attrs_with(&[0xc0, 7, 8, 0, 0, 0xfd, 0xe9, 10, 0, 0, 1], Some(2));
    attrs.extend_from_slice(&[0x40, 2, 4, 2, 1, 0xfd, 0xe9]);
    let u = parse_with(&update_bytes(&[], &attrs, &NLRI), &SessionParams::default());
    assert_eq!(u.treatment(), Some(Treatment::AttributeDiscard));
    assert!(u.aggregator().is_none());
    assert_eq!(announced(&u), nlri_set());
}

#[test]
fn s7_8_communities_not_a_multiple_of_four() {
    assert_treat_as_withdraw(&[0xc0, 8, 5, 0, 0, 0, 1, 2], None, 8);
    assert_treat_as_withdraw(&[0xc0, 8, 0], None, 8);
}

#[test]
fn s7_9_originator_id_bad_length() {
    assert_treat_as_withdraw(&[0x80, 9, 3, 10, 0, 0], None, 9);
}

#[test]
fn s7_10_cluster_list_bad_length() {
    assert_treat_as_withdraw(&[0x80, 10, 6, 10, 0, 0, 1, 10, 0], None, 10);
    assert_treat_as_withdraw(&[0x80, 10, 0], None, 10);
}

#[test]
fn s7_11_mp_reach_malformed_resets_the_session() {
    // IPv6 unicast, next hop length 4.
    let attr = [0x80, 14, 9, 0, 2, 1, 4, 192, 0, 2, 1, 0];
    let err = Message::parse(
        &update_bytes(&[], &attrs_with(&attr, None), &[]),
        &SessionParams::modern(),
    )
    .unwrap_err();
    assert_eq!(
        err.kind,
        DecodeErrorKind::OptionalAttributeError {
            attribute: attr.to_vec()
        }
    );
    assert_eq!(err.notification().code, ErrorCode::UPDATE_MESSAGE);
    assert_eq!(err.notification().subcode, 9);
    // Next hop length running past the attribute.
    let attr = [0x80, 14, 5, 0, 2, 1, 16, 0];
    assert!(Message::parse(&update_bytes(&[], &attr, &[]), &SessionParams::modern()).is_err());
    // RFC 8950: an IPv6 next hop for IPv4 NLRI is fine.
    let mut attr = vec![0x80, 14, 23, 0, 1, 1, 16];
    attr.extend_from_slice(&[
        0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 8, 10,
    ]);
    let u = parse(&update_bytes(&[], &attrs_with(&attr, Some(3)), &[]));
    assert!(u.issues.is_empty(), "{:?}", u.issues);
    assert_eq!(
        announced(&u),
        vec![(
            Family::IPV4_UNICAST,
            Nlri::new("10.0.0.0/8".parse().unwrap())
        )]
    );
}

#[test]
fn s7_12_mp_unreach_malformed_resets_the_session() {
    // IPv4 prefix of 40 bits.
    let attr = [0x80, 15, 5, 0, 1, 1, 40, 10];
    let err = Message::parse(&update_bytes(&[], &attr, &[]), &SessionParams::modern()).unwrap_err();
    assert!(matches!(
        err.kind,
        DecodeErrorKind::OptionalAttributeError { .. }
    ));
    // Too short for AFI/SAFI.
    let attr = [0x80, 15, 2, 0, 1];
    assert!(Message::parse(&update_bytes(&[], &attr, &[]), &SessionParams::modern()).is_err());
}

#[test]
fn s7_14_extended_communities_not_a_multiple_of_eight() {
    assert_treat_as_withdraw(&[0xc0, 16, 4, 0, 2, 0, 1], None, 16);
}

#[test]
fn s7_15_ipv6_extended_communities_not_a_multiple_of_twenty() {
    assert_treat_as_withdraw(&[0xc0, 25, 8, 0, 2, 0, 0, 0, 0, 0, 1], None, 25);
}

#[test]
fn s7_16_attr_set_too_short() {
    assert_treat_as_withdraw(&[0xc0, 128, 2, 0, 1], None, 128);
}

/// An ATTR_SET (RFC 6368): origin AS 65001 then `inner` attributes.
fn attr_set(inner: &[u8]) -> Vec<u8> {
    let mut out = vec![
        0xc0,
        128,
        u8::try_from(4 + inner.len()).unwrap(),
        0,
        0,
        0xfd,
        0xe9,
    ];
    out.extend_from_slice(inner);
    out
}

#[test]
fn s7_16_attr_set_malformed_inside() {
    // Holding MP_UNREACH_NLRI.
    assert_treat_as_withdraw(&attr_set(&[0x80, 15, 3, 0, 2, 1]), None, 128);
    // Holding a malformed ORIGIN.
    assert_treat_as_withdraw(&attr_set(&[0x40, 1, 1, 7]), None, 128);
    // Inner attributes that do not frame.
    assert_treat_as_withdraw(&attr_set(&[0x40, 1, 5, 0]), None, 128);
    // Nested too deep.
    let mut nested = attr_set(&[]);
    for _ in 0..5 {
        nested = attr_set(&nested);
    }
    assert_treat_as_withdraw(&nested, None, 128);
}

#[test]
fn s7_16_attr_set_well_formed_is_kept_raw() {
    // ORIGIN, a 4-octet AS_PATH (RFC 6368 requires 4 octets inside, whatever the session),
    // LOCAL_PREF, and an ATOMIC_AGGREGATE of the wrong length, which only discards.
    let inner = [
        &[0x40u8, 1, 1, 0][..],
        &[0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9],
        &[0x40, 5, 4, 0, 0, 0, 100],
        &[0x40, 6, 1, 0],
    ]
    .concat();
    let mut attrs = attrs_with(&attr_set(&inner), Some(2));
    attrs.extend_from_slice(&[0x40, 2, 4, 2, 1, 0xfd, 0xe9]);
    let u = parse_with(&update_bytes(&[], &attrs, &NLRI), &SessionParams::default());
    assert!(u.issues.is_empty(), "{:?}", u.issues);
    assert!(
        matches!(&u.attribute(AttrType(128)).unwrap().value, bgp_wire::AttrValue::Raw(r) if r.value.len() == 4 + inner.len())
    );
}

#[test]
fn s7_13_traffic_engineering_too_short() {
    assert_treat_as_withdraw(&[0x80, 24, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], None, 24);
    let mut ok = vec![0x80, 24, 36];
    ok.extend_from_slice(&[0; 36]);
    let u = parse(&update_bytes(&[], &attrs_with(&ok, None), &NLRI));
    assert!(u.issues.is_empty());
}

#[test]
fn rfc8092_large_communities_not_a_multiple_of_twelve() {
    assert_treat_as_withdraw(&[0xc0, 32, 8, 0, 0, 0, 1, 0, 0, 0, 2], None, 32);
}

#[test]
fn rfc9234_only_to_customer_bad_length() {
    assert_treat_as_withdraw(&[0xc0, 35, 2, 0xfd, 0xe9], None, 35);
}

#[test]
fn rfc6793_as4_attributes_malformed_are_discarded() {
    let old = SessionParams::default();
    let two_octet_path = [0x40, 2, 4, 2, 1, 0xfd, 0xe9];
    let build = |extra: &[u8]| {
        let mut attrs = attrs_with(extra, Some(2));
        attrs.extend_from_slice(&two_octet_path);
        update_bytes(&[], &attrs, &NLRI)
    };
    for (extra, code) in [
        // AS4_PATH with a zero-length segment, with AS 0, and with an overrun.
        (&[0xc0u8, 17, 2, 2, 0][..], 17u8),
        (&[0xc0, 17, 6, 2, 1, 0, 0, 0, 0], 17),
        (&[0xc0, 17, 6, 2, 2, 0, 0, 0, 1], 17),
        // AS4_AGGREGATOR of 6 bytes.
        (&[0xc0, 18, 6, 0, 1, 10, 0, 0, 1], 18),
    ] {
        let u = parse_with(&build(extra), &old);
        assert_eq!(
            u.treatment(),
            Some(Treatment::AttributeDiscard),
            "{extra:?}"
        );
        assert_eq!(u.issues[0].type_code, code);
        assert_eq!(announced(&u), nlri_set());
    }
}

// --- Section 3: general rules --------------------------------------------------------

#[test]
fn s3_c_flags_conflicting_with_type() {
    // COMMUNITIES marked non-transitive: treat-as-withdraw.
    let u = assert_treat_as_withdraw(&[0x80, 8, 4, 0, 0, 0, 1], None, 8);
    assert!(matches!(
        u.issues[0].error.kind,
        DecodeErrorKind::AttributeFlagsError { .. }
    ));
    // ORIGIN marked optional.
    assert_treat_as_withdraw(&[0xc0, 1, 1, 0], Some(1), 1);
    // ATOMIC_AGGREGATE marked optional: its own rule (discard) applies.
    assert_attribute_discard(&[0xc0, 6, 0], 6, &SessionParams::modern());
    // The partial bit and the extended length bit are not flags errors.
    let u = parse(&update_bytes(
        &[],
        &attrs_with(&[0xf0, 8, 0, 4, 0, 0, 0, 1], None),
        &NLRI,
    ));
    assert!(u.issues.is_empty());
}

#[test]
fn s3_d_missing_well_known_attributes() {
    // ORIGIN missing.
    let u = parse(&update_bytes(
        &[],
        &[&AS_PATH[..], &NEXT_HOP].concat(),
        &NLRI,
    ));
    assert_eq!(u.treatment(), Some(Treatment::TreatAsWithdraw));
    assert_eq!(
        u.issues[0].error.kind,
        DecodeErrorKind::MissingWellKnownAttribute { type_code: 1 }
    );
    assert_eq!(withdrawn(&u), nlri_set());
    // NEXT_HOP missing with an NLRI field.
    let u = parse(&update_bytes(&[], &[&ORIGIN[..], &AS_PATH].concat(), &NLRI));
    assert_eq!(
        u.issues[0].error.kind,
        DecodeErrorKind::MissingWellKnownAttribute { type_code: 3 }
    );
    // No NLRI at all: nothing is mandatory.
    let u = parse(&update_bytes(&[8, 10], &[0xc0, 8, 4, 0, 0, 0, 1], &[]));
    assert!(u.issues.is_empty());
    assert_eq!(withdrawn(&u), vec![nlri_set()[0]]);
}

#[test]
fn s3_g_duplicate_attributes_keep_the_first() {
    let extra = [0xc0, 8, 4, 0, 0, 0, 1, 0xc0, 8, 4, 0, 0, 0, 2];
    let u = parse(&update_bytes(&[], &attrs_with(&extra, None), &NLRI));
    assert_eq!(u.treatment(), Some(Treatment::AttributeDiscard));
    assert_eq!(
        u.issues[0].error.kind,
        DecodeErrorKind::MalformedAttributeList
    );
    assert_eq!(u.communities(), &[bgp_wire::Community(1)]);
    assert_eq!(
        u.attributes
            .iter()
            .filter(|a| a.type_code() == AttrType::COMMUNITIES)
            .count(),
        1
    );
    assert_eq!(announced(&u), nlri_set());
    // MP_UNREACH twice: session reset with Malformed Attribute List.
    let unreach = [0x80, 15, 3, 0, 2, 1];
    let err = Message::parse(
        &update_bytes(&[], &[unreach, unreach].concat(), &[]),
        &SessionParams::modern(),
    )
    .unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::MalformedAttributeList);
}

#[test]
fn s3_most_severe_treatment_wins() {
    // A discardable ATOMIC_AGGREGATE error and a treat-as-withdraw MED error.
    let extra = [0x40, 6, 1, 0, 0x80, 4, 1, 0];
    let u = parse(&update_bytes(&[], &attrs_with(&extra, None), &NLRI));
    assert_eq!(u.issues.len(), 2);
    assert_eq!(u.treatment(), Some(Treatment::TreatAsWithdraw));
    assert_eq!(withdrawn(&u), nlri_set());
}

#[test]
fn s3_treat_as_withdraw_covers_mp_reach_and_withdrawn_routes() {
    let mut reach = vec![
        0x80, 14, 0, 0, 2, 1, 16, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 32,
        0x20, 1, 0x0d, 0xb8,
    ];
    reach[2] = u8::try_from(reach.len() - 3).unwrap();
    // A bad MED: everything announced is withdrawn, and the withdrawals stay.
    let attrs = [&reach[..], &attrs_with(&[0x80, 4, 1, 0], None)].concat();
    let u = parse(&update_bytes(&[16, 172, 16], &attrs, &NLRI));
    assert_eq!(u.treatment(), Some(Treatment::TreatAsWithdraw));
    let w = withdrawn(&u);
    assert_eq!(w.len(), 4);
    assert_eq!(
        w[0],
        (
            Family::IPV4_UNICAST,
            Nlri::new("172.16.0.0/16".parse().unwrap())
        )
    );
    assert!(w.contains(&(
        Family::IPV6_UNICAST,
        Nlri::new("2001:db8::/32".parse().unwrap())
    )));
    assert!(announced(&u).is_empty());
}

// --- Section 4: attribute lengths against the total --------------------------------

#[test]
fn s4_last_attribute_overruns_total_length() {
    // COMMUNITIES says 8 bytes, 4 remain in the attribute field; the NLRI is still found.
    let attrs = attrs_with(&[0xc0, 8, 8, 0, 0, 0, 1], None);
    let u = parse(&update_bytes(&[], &attrs, &NLRI));
    assert_eq!(u.treatment(), Some(Treatment::TreatAsWithdraw));
    assert_eq!(u.issues[0].type_code, 8);
    assert_eq!(
        u.issues[0].error.kind,
        DecodeErrorKind::MalformedAttributeList
    );
    assert_eq!(u.nlri.len(), 2);
    assert_eq!(withdrawn(&u), nlri_set());
}

#[test]
fn s4_fewer_than_three_octets_left() {
    for tail in [&[0xc0u8][..], &[0xc0, 8], &[0xd0, 8, 0]] {
        let u = parse(&update_bytes(&[], &attrs_with(tail, None), &NLRI));
        assert_eq!(u.treatment(), Some(Treatment::TreatAsWithdraw), "{tail:?}");
        assert_eq!(withdrawn(&u), nlri_set());
    }
}

#[test]
fn s4_overrunning_mp_reach_resets_the_session() {
    let attrs = attrs_with(&[0x80, 14, 30, 0, 2, 1], None);
    let err =
        Message::parse(&update_bytes(&[], &attrs, &[]), &SessionParams::modern()).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::MalformedAttributeList);
}

// --- Section 5: NLRI ---------------------------------------------------------------

#[test]
fn s5_3_nlri_and_withdrawn_syntax_errors_reset_the_session() {
    let attrs = attrs_with(&[], None);
    for (withdrawn, nlri) in [
        (&[][..], &[33u8, 1, 2, 3, 4, 5][..]),
        (&[], &[24, 10]),
        (&[33, 1, 2, 3, 4, 5], &[]),
        (&[16, 10], &[]),
    ] {
        let err = Message::parse(
            &update_bytes(withdrawn, &attrs, nlri),
            &SessionParams::modern(),
        )
        .unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::InvalidNetworkField);
        assert_eq!(err.notification().subcode, 10);
    }
}

#[test]
fn s5_3_nlri_trailing_bits_are_cleared_not_errors() {
    let u = parse(&update_bytes(
        &[],
        &attrs_with(&[], None),
        &[20, 10, 1, 0xff],
    ));
    assert!(u.issues.is_empty());
    assert_eq!(u.nlri, vec![Nlri::new("10.1.240.0/20".parse().unwrap())]);
}

#[test]
fn s7_2_s7_5_s7_9_s7_10_external_peer_rules() {
    let extra = [
        &[0x40u8, 5, 4, 0, 0, 0, 100][..],
        &[0x80, 9, 4, 10, 0, 0, 1],
        &[0x80, 10, 4, 10, 0, 0, 2],
        &[0x80, 4, 4, 0, 0, 0, 7],
    ]
    .concat();
    let mut u = parse(&update_bytes(&[], &attrs_with(&extra, None), &NLRI));
    assert!(u.issues.is_empty());
    u.apply_external_peer_rules();
    assert_eq!(u.local_pref(), None);
    assert_eq!(u.originator_id(), None);
    assert!(u.cluster_list().is_empty());
    assert_eq!(u.multi_exit_disc(), Some(7));
    assert!(u.issues.is_empty());
    assert_eq!(announced(&u), nlri_set());

    // An AS_CONFED_SEQUENCE from an external peer: treat-as-withdraw.
    let confed_path = [0x40, 2, 12, 3, 1, 0, 0, 0xfd, 0xea, 2, 1, 0, 0, 0xfd, 0xe9];
    let mut u = parse(&update_bytes(
        &[],
        &attrs_with(&confed_path, Some(2)),
        &NLRI,
    ));
    assert!(u.issues.is_empty());
    u.apply_external_peer_rules();
    assert_eq!(u.treatment(), Some(Treatment::TreatAsWithdraw));
    assert_eq!(u.issues[0].error.kind, DecodeErrorKind::MalformedAsPath);
    assert_eq!(withdrawn(&u), nlri_set());
}

#[test]
fn s7_16_attr_set_with_two_octet_path_as_captured() {
    // From a capture (tcpdump's bgp_vpn_attrset): the inner AS_PATH uses 2-octet AS
    // numbers though RFC 6368 asks for 4; it is accepted either way.
    let inner = [
        &[0x40u8, 1, 1, 0][..],
        &[0x40, 2, 4, 2, 1, 0x15, 0xb3],
        &[0x40, 5, 4, 0, 0, 0, 0x2c],
        &[0x80, 9, 4, 22, 5, 5, 5],
        &[0x80, 10, 4, 22, 5, 5, 5],
    ]
    .concat();
    let u = parse(&update_bytes(
        &[],
        &attrs_with(&attr_set(&inner), None),
        &NLRI,
    ));
    assert!(u.issues.is_empty(), "{:?}", u.issues);
}
