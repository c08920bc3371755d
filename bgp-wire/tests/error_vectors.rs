//! One hand-built vector per error RFC 4271 sections 6.1 to 6.3 (and RFC 5492, 9072,
//! 7313) define that the codec detects, each checked for the exact error kind and the
//! exact NOTIFICATION (code, subcode, data) it calls for.

use bgp_wire::{
    frame, DecodeError, DecodeErrorKind, ErrorCode, Message, Notification, SessionParams, Treatment,
};

fn header(length: u16, message_type: u8) -> Vec<u8> {
    let mut out = vec![0xff; 16];
    out.extend_from_slice(&length.to_be_bytes());
    out.push(message_type);
    out
}

fn message(message_type: u8, body: &[u8]) -> Vec<u8> {
    let mut out = header(u16::try_from(19 + body.len()).unwrap(), message_type);
    out.extend_from_slice(body);
    out
}

fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u16::try_from(withdrawn.len()).unwrap().to_be_bytes());
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(nlri);
    message(2, &body)
}

/// A minimal valid OPEN body: version 4, AS 65001, hold 90, id 10.0.0.1, then `params`.
fn open_body(params: &[u8]) -> Vec<u8> {
    let mut body = vec![
        4,
        0xfd,
        0xe9,
        0,
        90,
        10,
        0,
        0,
        1,
        u8::try_from(params.len()).unwrap(),
    ];
    body.extend_from_slice(params);
    body
}

fn notification(code: ErrorCode, subcode: u8, data: &[u8]) -> Notification {
    Notification {
        code,
        subcode,
        data: data.to_vec(),
    }
}

/// Asserts that `bytes` fails to parse with `kind` and that the error's NOTIFICATION is
/// `expected`; returns the error for further checks.
fn assert_error(
    bytes: &[u8],
    params: &SessionParams,
    kind: DecodeErrorKind,
    expected: Notification,
) -> DecodeError {
    let err = Message::parse(bytes, params).expect_err("must not decode");
    assert_eq!(err.kind, kind, "{err}");
    assert_eq!(err.notification(), expected);
    err
}

const ORIGIN_IGP: [u8; 4] = [0x40, 1, 1, 0];
const AS_PATH_EMPTY: [u8; 3] = [0x40, 2, 0];
const NEXT_HOP: [u8; 7] = [0x40, 3, 4, 192, 0, 2, 1];

// --- Message Header Error (1), RFC 4271 section 6.1 ---------------------------------

#[test]
fn header_connection_not_synchronized() {
    let mut bytes = header(19, 4);
    bytes[3] = 0xfe;
    let expected = notification(ErrorCode::MESSAGE_HEADER, 1, &[]);
    let err = assert_error(
        &bytes,
        &SessionParams::default(),
        DecodeErrorKind::ConnectionNotSynchronized,
        expected,
    );
    assert_eq!(frame(&bytes, &SessionParams::default()), Err(err));
}

#[test]
fn header_bad_message_length_below_19() {
    let bytes = header(18, 4);
    let expected = notification(ErrorCode::MESSAGE_HEADER, 2, &[0, 18]);
    let err = assert_error(
        &bytes,
        &SessionParams::default(),
        DecodeErrorKind::BadMessageLength { length: 18 },
        expected,
    );
    assert_eq!(err.offset, 16);
    assert_eq!(frame(&bytes, &SessionParams::default()), Err(err));
}

#[test]
fn header_bad_message_length_above_4096_without_extended_message() {
    let bytes = header(4097, 2);
    let params = SessionParams::default();
    assert_eq!(
        frame(&bytes, &params).unwrap_err().notification(),
        notification(ErrorCode::MESSAGE_HEADER, 2, &[0x10, 0x01])
    );
    // The same length is fine with RFC 8654 (the message is merely incomplete).
    let extended = SessionParams {
        extended_message: true,
        ..SessionParams::default()
    };
    assert_eq!(frame(&bytes, &extended), Ok(None));
}

#[test]
fn header_bad_message_length_open_above_4096_even_with_extended_message() {
    let extended = SessionParams {
        extended_message: true,
        ..SessionParams::default()
    };
    let err = frame(&header(4097, 1), &extended).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::BadMessageLength { length: 4097 });
    assert_eq!(
        err.notification(),
        notification(ErrorCode::MESSAGE_HEADER, 2, &[0x10, 0x01])
    );
    let err = frame(&header(4097, 4), &extended).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::BadMessageLength { length: 4097 });
}

#[test]
fn header_bad_message_length_per_type() {
    let params = SessionParams::default();
    // KEEPALIVE of 20, OPEN of 28, UPDATE of 22, NOTIFICATION of 20.
    for (message_type, body_len) in [(4u8, 1usize), (1, 9), (2, 3), (3, 1)] {
        let bytes = message(message_type, &vec![0; body_len]);
        let length = u16::try_from(bytes.len()).unwrap();
        let expected = notification(ErrorCode::MESSAGE_HEADER, 2, &length.to_be_bytes());
        assert_error(
            &bytes,
            &params,
            DecodeErrorKind::BadMessageLength { length },
            expected,
        );
    }
}

#[test]
fn header_bad_message_type() {
    for message_type in [0u8, 6, 255] {
        let bytes = header(19, message_type);
        let expected = notification(ErrorCode::MESSAGE_HEADER, 3, &[message_type]);
        let err = assert_error(
            &bytes,
            &SessionParams::default(),
            DecodeErrorKind::BadMessageType { message_type },
            expected,
        );
        assert_eq!(err.offset, 18);
    }
}

#[test]
fn frame_incomplete_is_not_an_error() {
    let params = SessionParams::default();
    let bytes = message(3, &[6, 2, 0]);
    for cut in 0..bytes.len() {
        assert_eq!(frame(&bytes[..cut], &params), Ok(None), "cut at {cut}");
    }
    let mut two = bytes.clone();
    two.extend_from_slice(&header(19, 4));
    assert_eq!(frame(&two, &params), Ok(Some(bytes.len())));
}

#[test]
fn parse_length_field_disagreeing_with_buffer() {
    let mut bytes = header(19, 4);
    bytes.push(0);
    let expected = notification(ErrorCode::MESSAGE_HEADER, 2, &[0, 19]);
    assert_error(
        &bytes,
        &SessionParams::default(),
        DecodeErrorKind::BadMessageLength { length: 19 },
        expected,
    );
}

// --- ROUTE-REFRESH Message Error (7), RFC 7313 section 5 ----------------------------

#[test]
fn route_refresh_invalid_length_carries_whole_message() {
    let bytes = message(5, &[0, 1, 1, 1, 0]);
    let expected = notification(ErrorCode::ROUTE_REFRESH, 1, &bytes);
    let kind = DecodeErrorKind::InvalidRouteRefreshLength {
        message: bytes.clone(),
    };
    let err = assert_error(&bytes, &SessionParams::default(), kind, expected);
    assert_eq!(frame(&bytes, &SessionParams::default()), Err(err));
    // Before it is whole, framing waits.
    assert_eq!(frame(&bytes[..22], &SessionParams::default()), Ok(None));
}

#[test]
fn route_refresh_shorter_than_four_octets_is_invalid_length() {
    let bytes = message(5, &[0, 1, 0]);
    let expected = notification(ErrorCode::ROUTE_REFRESH, 1, &bytes);
    let kind = DecodeErrorKind::InvalidRouteRefreshLength {
        message: bytes.clone(),
    };
    assert_error(&bytes, &SessionParams::default(), kind, expected);
}

#[test]
fn route_refresh_with_orf_entries_is_not_an_error() {
    // RFC 5291: when-to-refresh IMMEDIATE, ORF type 64 (address prefix), 7 octets of entries.
    let orf = [1, 64, 0, 7, 0, 0, 0, 0, 10, 8, 10];
    let mut body = vec![0, 1, 0, 1];
    body.extend_from_slice(&orf);
    let bytes = message(5, &body);
    let params = SessionParams::default();
    assert_eq!(frame(&bytes, &params), Ok(Some(bytes.len())));
    let Message::RouteRefresh(refresh) = Message::parse(&bytes, &params).unwrap() else {
        panic!("not a ROUTE-REFRESH")
    };
    assert_eq!(refresh.subtype, bgp_wire::RouteRefreshSubtype::Normal);
    assert_eq!(refresh.orf_entries, orf);
    let mut out = Vec::new();
    Message::RouteRefresh(refresh).emit(&mut out, &params);
    assert_eq!(out, bytes);
}

// --- OPEN Message Error (2), RFC 4271 section 6.2, RFC 5492, RFC 9072 ----------------

#[test]
fn open_unsupported_version_number() {
    let mut body = open_body(&[]);
    body[0] = 3;
    let expected = notification(ErrorCode::OPEN_MESSAGE, 1, &[0, 4]);
    assert_error(
        &message(1, &body),
        &SessionParams::default(),
        DecodeErrorKind::UnsupportedVersionNumber { version: 3 },
        expected,
    );
}

#[test]
fn open_unacceptable_hold_time() {
    for hold_time in [1u16, 2] {
        let mut body = open_body(&[]);
        body[3..5].copy_from_slice(&hold_time.to_be_bytes());
        let expected = notification(ErrorCode::OPEN_MESSAGE, 6, &[]);
        assert_error(
            &message(1, &body),
            &SessionParams::default(),
            DecodeErrorKind::UnacceptableHoldTime { hold_time },
            expected,
        );
    }
    // 0 and 3 are acceptable.
    for hold_time in [0u16, 3] {
        let mut body = open_body(&[]);
        body[3..5].copy_from_slice(&hold_time.to_be_bytes());
        assert!(Message::parse(&message(1, &body), &SessionParams::default()).is_ok());
    }
}

#[test]
fn open_bad_bgp_identifier() {
    let mut body = open_body(&[]);
    body[5..9].copy_from_slice(&[0, 0, 0, 0]);
    let expected = notification(ErrorCode::OPEN_MESSAGE, 3, &[]);
    assert_error(
        &message(1, &body),
        &SessionParams::default(),
        DecodeErrorKind::BadBgpIdentifier,
        expected,
    );
}

#[test]
fn open_unsupported_optional_parameter() {
    // Type 1 (the deprecated authentication parameter).
    let body = open_body(&[1, 2, 0xaa, 0xbb]);
    let expected = notification(ErrorCode::OPEN_MESSAGE, 4, &[]);
    assert_error(
        &message(1, &body),
        &SessionParams::default(),
        DecodeErrorKind::UnsupportedOptionalParameter { parameter_type: 1 },
        expected,
    );
}

#[test]
fn open_malformed_capability_wrong_length() {
    // 4-octet AS capability with 2 bytes.
    let body = open_body(&[2, 4, 65, 2, 0xfd, 0xe9]);
    let expected = notification(ErrorCode::OPEN_MESSAGE, 0, &[]);
    assert_error(
        &message(1, &body),
        &SessionParams::default(),
        DecodeErrorKind::MalformedOpen,
        expected,
    );
    // Route refresh with a value, multiprotocol of 3 bytes, ADD-PATH of 5.
    for cap in [&[2u8, 1, 0][..], &[1, 3, 0, 1, 0], &[69, 5, 0, 1, 1, 3, 0]] {
        let mut params = vec![2, u8::try_from(cap.len()).unwrap()];
        params.extend_from_slice(cap);
        let err = Message::parse(&message(1, &open_body(&params)), &SessionParams::default())
            .unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::MalformedOpen, "{cap:?}");
    }
}

#[test]
fn open_malformed_capability_overruns_parameter() {
    let body = open_body(&[2, 3, 65, 4, 0]);
    let expected = notification(ErrorCode::OPEN_MESSAGE, 0, &[]);
    assert_error(
        &message(1, &body),
        &SessionParams::default(),
        DecodeErrorKind::MalformedOpen,
        expected,
    );
}

#[test]
fn open_malformed_parameters_length() {
    // The optional parameters length says 6, 4 bytes follow.
    let mut body = open_body(&[2, 2, 2, 0]);
    body[9] = 6;
    let expected = notification(ErrorCode::OPEN_MESSAGE, 0, &[]);
    assert_error(
        &message(1, &body),
        &SessionParams::default(),
        DecodeErrorKind::MalformedOpen,
        expected,
    );
    // A parameter running past the parameters.
    let body = open_body(&[2, 9, 2, 0]);
    assert_error(
        &message(1, &body),
        &SessionParams::default(),
        DecodeErrorKind::MalformedOpen,
        notification(ErrorCode::OPEN_MESSAGE, 0, &[]),
    );
}

#[test]
fn open_rfc9072_extended_parameters() {
    // 255, 255, 2-octet length 7, then a capabilities parameter with a 2-octet length 4:
    // route refresh and extended message.
    let mut body = open_body(&[]);
    body[9] = 255;
    body.extend_from_slice(&[255, 0, 7, 2, 0, 4, 2, 0, 6, 0]);
    let bytes = message(1, &body);
    let Message::Open(open) = Message::parse(&bytes, &SessionParams::default()).unwrap() else {
        panic!()
    };
    assert!(open.extended_parameters_length);
    assert_eq!(open.capabilities().count(), 2);
    assert_eq!(
        Message::Open(open).to_bytes(&SessionParams::default()),
        bytes
    );

    // Extended length disagreeing with the message: malformed.
    let mut bad = open_body(&[]);
    bad[9] = 255;
    bad.extend_from_slice(&[255, 0, 9, 2, 0, 4, 2, 0, 6, 0]);
    assert_error(
        &message(1, &bad),
        &SessionParams::default(),
        DecodeErrorKind::MalformedOpen,
        notification(ErrorCode::OPEN_MESSAGE, 0, &[]),
    );
    // A parameter's 2-octet length running past the parameters.
    let mut bad = open_body(&[]);
    bad[9] = 255;
    bad.extend_from_slice(&[255, 0, 7, 2, 0, 9, 2, 0, 6, 0]);
    assert_error(
        &message(1, &bad),
        &SessionParams::default(),
        DecodeErrorKind::MalformedOpen,
        notification(ErrorCode::OPEN_MESSAGE, 0, &[]),
    );
}

#[test]
fn open_session_raised_errors_map_to_their_subcodes() {
    let cases = [
        (
            DecodeErrorKind::BadPeerAs,
            notification(ErrorCode::OPEN_MESSAGE, 2, &[]),
        ),
        (
            DecodeErrorKind::UnsupportedCapability {
                capabilities: vec![65, 4, 0, 0, 0xfd, 0xe9],
            },
            notification(ErrorCode::OPEN_MESSAGE, 7, &[65, 4, 0, 0, 0xfd, 0xe9]),
        ),
        (
            DecodeErrorKind::RoleMismatch,
            notification(ErrorCode::OPEN_MESSAGE, 11, &[]),
        ),
    ];
    for (kind, expected) in cases {
        assert_eq!(
            DecodeError::new(kind, 0, "session").notification(),
            expected
        );
    }
}

// --- UPDATE Message Error (3), RFC 4271 section 6.3 (session reset cases) -----------

#[test]
fn update_withdrawn_length_overruns_message() {
    let mut bytes = update(&[], &[], &[]);
    bytes[19..21].copy_from_slice(&[0, 5]);
    let expected = notification(ErrorCode::UPDATE_MESSAGE, 1, &[]);
    let err = assert_error(
        &bytes,
        &SessionParams::default(),
        DecodeErrorKind::MalformedAttributeList,
        expected,
    );
    assert_eq!(err.offset, 19);
}

#[test]
fn update_total_attribute_length_overruns_message() {
    let mut bytes = update(&[], &ORIGIN_IGP, &[]);
    bytes[21..23].copy_from_slice(&[0, 5]);
    let expected = notification(ErrorCode::UPDATE_MESSAGE, 1, &[]);
    let err = assert_error(
        &bytes,
        &SessionParams::default(),
        DecodeErrorKind::MalformedAttributeList,
        expected,
    );
    assert_eq!(err.offset, 21);
}

#[test]
fn update_duplicate_mp_reach_is_malformed_attribute_list() {
    // IPv4 unicast, next hop 192.0.2.1, no NLRI.
    let reach = [0x80, 14, 9, 0, 1, 1, 4, 192, 0, 2, 1, 0];
    let mut attrs = reach.to_vec();
    attrs.extend_from_slice(&reach);
    let expected = notification(ErrorCode::UPDATE_MESSAGE, 1, &[]);
    assert_error(
        &update(&[], &attrs, &[]),
        &SessionParams::default(),
        DecodeErrorKind::MalformedAttributeList,
        expected,
    );
    let unreach = [0x80, 15, 3, 0, 2, 1];
    let mut attrs = unreach.to_vec();
    attrs.extend_from_slice(&unreach);
    let expected = notification(ErrorCode::UPDATE_MESSAGE, 1, &[]);
    assert_error(
        &update(&[], &attrs, &[]),
        &SessionParams::default(),
        DecodeErrorKind::MalformedAttributeList,
        expected,
    );
}

#[test]
fn update_unrecognized_well_known_attribute() {
    let attr = [0x40, 99, 1, 7];
    let expected = notification(ErrorCode::UPDATE_MESSAGE, 2, &attr);
    assert_error(
        &update(&[], &attr, &[]),
        &SessionParams::default(),
        DecodeErrorKind::UnrecognizedWellKnownAttribute {
            attribute: attr.to_vec(),
        },
        expected,
    );
}

#[test]
fn update_malformed_mp_reach_is_optional_attribute_error() {
    // IPv6 unicast with a 5-byte next hop.
    let attr = [0x80, 14, 10, 0, 2, 1, 5, 1, 2, 3, 4, 5, 0];
    let expected = notification(ErrorCode::UPDATE_MESSAGE, 9, &attr);
    assert_error(
        &update(&[], &attr, &[]),
        &SessionParams::default(),
        DecodeErrorKind::OptionalAttributeError {
            attribute: attr.to_vec(),
        },
        expected,
    );
    // IPv6 prefix of length 129 inside MP_UNREACH.
    let attr = [0x80, 15, 5, 0, 2, 1, 129, 0];
    let expected = notification(ErrorCode::UPDATE_MESSAGE, 9, &attr);
    assert_error(
        &update(&[], &attr, &[]),
        &SessionParams::default(),
        DecodeErrorKind::OptionalAttributeError {
            attribute: attr.to_vec(),
        },
        expected,
    );
}

#[test]
fn update_invalid_network_field() {
    let mut attrs = ORIGIN_IGP.to_vec();
    attrs.extend_from_slice(&AS_PATH_EMPTY);
    attrs.extend_from_slice(&NEXT_HOP);
    let expected = notification(ErrorCode::UPDATE_MESSAGE, 10, &[]);
    // Prefix length 33.
    let err = assert_error(
        &update(&[], &attrs, &[33, 10, 0, 0, 0, 0]),
        &SessionParams::default(),
        DecodeErrorKind::InvalidNetworkField,
        expected.clone(),
    );
    assert_eq!(err.offset, 23 + attrs.len());
    // Prefix running past the field.
    assert_error(
        &update(&[], &attrs, &[24, 10, 0]),
        &SessionParams::default(),
        DecodeErrorKind::InvalidNetworkField,
        expected.clone(),
    );
    // The Withdrawn Routes field is checked the same way (RFC 7606 section 3 (i)).
    assert_error(
        &update(&[40, 10], &[], &[]),
        &SessionParams::default(),
        DecodeErrorKind::InvalidNetworkField,
        expected,
    );
}

/// Attribute errors RFC 7606 softens still carry the error RFC 4271 names, and the
/// NOTIFICATION it would have called for.
#[test]
fn update_attribute_errors_keep_their_rfc4271_subcodes() {
    let p = SessionParams::default();
    let cases: Vec<(Vec<u8>, DecodeErrorKind, u8)> = vec![
        // Flags: ORIGIN marked optional.
        (
            vec![0xc0, 1, 1, 0],
            DecodeErrorKind::AttributeFlagsError {
                attribute: vec![0xc0, 1, 1, 0],
            },
            4,
        ),
        // Length: MED of 3 bytes.
        (
            vec![0x80, 4, 3, 0, 0, 1],
            DecodeErrorKind::AttributeLengthError {
                attribute: vec![0x80, 4, 3, 0, 0, 1],
            },
            5,
        ),
        // ORIGIN value 3.
        (
            vec![0x40, 1, 1, 3],
            DecodeErrorKind::InvalidOriginAttribute {
                attribute: vec![0x40, 1, 1, 3],
            },
            6,
        ),
        // AGGREGATOR naming AS 0 (RFC 7607).
        (
            vec![0xc0, 7, 6, 0, 0, 10, 0, 0, 1],
            DecodeErrorKind::OptionalAttributeError {
                attribute: vec![0xc0, 7, 6, 0, 0, 10, 0, 0, 1],
            },
            9,
        ),
        // AS_PATH with segment type 5.
        (
            vec![0x40, 2, 4, 5, 1, 0, 1],
            DecodeErrorKind::MalformedAsPath,
            11,
        ),
    ];
    for (attr, kind, subcode) in cases {
        let Message::Update(u) = Message::parse(&update(&[], &attr, &[24, 10, 0, 0]), &p).unwrap()
        else {
            panic!()
        };
        let issue = u
            .issues
            .iter()
            .find(|i| i.type_code == attr[1])
            .unwrap_or_else(|| panic!("{attr:?}: {:?}", u.issues));
        assert_eq!(issue.error.kind, kind);
        let n = issue.error.notification();
        assert_eq!((n.code, n.subcode), (ErrorCode::UPDATE_MESSAGE, subcode));
        assert_ne!(issue.treatment, Treatment::SessionReset);
    }
    // Missing well-known attribute: data is the type code.
    let Message::Update(u) =
        Message::parse(&update(&[], &ORIGIN_IGP, &[24, 10, 0, 0]), &p).unwrap()
    else {
        panic!()
    };
    let missing: Vec<_> = u.issues.iter().map(|i| i.error.notification()).collect();
    // Invalid Next Hop (3/8) is raised by the session, which knows its addresses.
    let kind = DecodeErrorKind::InvalidNextHopAttribute {
        attribute: vec![0x40, 3, 4, 0, 0, 0, 0],
    };
    assert_eq!(
        DecodeError::new(kind, 0, "session").notification(),
        notification(ErrorCode::UPDATE_MESSAGE, 8, &[0x40, 3, 4, 0, 0, 0, 0])
    );
    assert_eq!(
        missing,
        vec![
            notification(ErrorCode::UPDATE_MESSAGE, 3, &[2]),
            notification(ErrorCode::UPDATE_MESSAGE, 3, &[3])
        ]
    );
}
