//! Error handling on an established session: message header errors, UPDATE errors per
//! RFC 7606, ROUTE-REFRESH errors, NOTIFICATIONs received, and the rule that nothing is
//! transmitted after a NOTIFICATION.

mod common;

use bgp_fsm::{Input, Instant, Output, Session, SessionEnd, SessionEvent, State};
use bgp_wire::{Message, Notification, Treatment};
use common::*;

fn message(message_type: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0xff; 16];
    let len = u16::try_from(19 + body.len()).unwrap();
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.push(message_type);
    bytes.extend_from_slice(body);
    bytes
}

/// An UPDATE for 198.51.100.0/24 whose ORIGIN value is 5 (undefined).
fn update_with_bad_origin() -> Vec<u8> {
    message(
        2,
        &[
            0, 0, 0, 14, // no withdrawn routes, 14 bytes of attributes
            0x40, 1, 1, 5, // ORIGIN 5
            0x40, 2, 0, // empty AS_PATH
            0x40, 3, 4, 192, 0, 2, 1, // NEXT_HOP
            24, 198, 51, 100, // NLRI
        ],
    )
}

/// An UPDATE whose Withdrawn Routes Length runs past the message.
fn update_with_bad_withdrawn_length() -> Vec<u8> {
    message(2, &[0, 200, 0, 0])
}

fn feed(session: &mut Session, bytes: &[u8]) -> Vec<Output> {
    session.handle_input(Instant::from_secs(1), Input::Received(bytes));
    drain(session)
}

#[track_caller]
fn assert_reset_with(
    outputs: &[Output],
    code: u8,
    subcode: u8,
    data: Option<&[u8]>,
) -> Notification {
    let sent = sent_notifications(outputs);
    assert_eq!(sent.len(), 1, "{outputs:?}");
    assert_eq!((sent[0].code.0, sent[0].subcode), (code, subcode));
    if let Some(data) = data {
        assert_eq!(sent[0].data, data);
    }
    assert!(outputs.contains(&Output::CloseTcp));
    assert!(outputs.contains(&Output::Event(SessionEvent::Down(
        SessionEnd::NotificationSent(sent[0].clone())
    ))));
    sent[0].clone()
}

#[test]
fn header_errors_get_message_header_notifications() {
    let mut bad_marker = keepalive_bytes();
    bad_marker[3] = 0;
    let mut short_length = keepalive_bytes();
    short_length[17] = 18;
    let keepalive_too_long = message(4, &[0]);
    let bad_type = message(9, &[]);
    type Case<'a> = (&'a [u8], u8, Option<&'a [u8]>);
    let cases: [Case<'_>; 4] = [
        (&bad_marker, 1, None),
        (&short_length, 2, Some(&[0, 18])),
        (&keepalive_too_long, 2, Some(&[0, 20])),
        (&bad_type, 3, Some(&[9])),
    ];
    for (bytes, subcode, data) in cases {
        let mut session = established(local_config(), &peer_config());
        let outputs = feed(&mut session, bytes);
        assert_reset_with(&outputs, 1, subcode, data);
        assert_eq!(session.state(), State::Idle);
    }
}

#[test]
fn malformed_update_resets_the_session_with_its_update_error() {
    let mut session = established(local_config(), &peer_config());
    let outputs = feed(&mut session, &update_with_bad_withdrawn_length());
    assert_reset_with(&outputs, 3, 1, None);
    assert!(!outputs
        .iter()
        .any(|o| matches!(o, Output::Event(SessionEvent::Update(_)))));
}

#[test]
fn attribute_errors_that_rfc_7606_tolerates_keep_the_session_up() {
    let mut session = established(local_config(), &peer_config());
    let outputs = feed(&mut session, &update_with_bad_origin());
    assert!(sent_notifications(&outputs).is_empty(), "{outputs:?}");
    assert_eq!(session.state(), State::Established);
    let update = outputs
        .iter()
        .find_map(|o| match o {
            Output::Event(SessionEvent::Update(u)) => Some(u.clone()),
            _ => None,
        })
        .expect("the UPDATE is reported");
    assert_eq!(update.treatment(), Some(Treatment::TreatAsWithdraw));
    assert_eq!(update.nlri.len(), 1);
}

#[test]
fn route_refresh_of_the_wrong_length_is_7_1() {
    let mut session = established(local_config(), &peer_config());
    let outputs = feed(&mut session, &message(5, &[0, 1, 0, 1, 0]));
    assert_reset_with(&outputs, 7, 1, None);
}

#[test]
fn nothing_is_processed_or_sent_after_the_error_in_a_joined_batch() {
    let mut session = established(local_config(), &peer_config());
    let mut batch = update_with_bad_withdrawn_length();
    batch.extend_from_slice(&keepalive_bytes());
    batch.extend_from_slice(&update_with_bad_origin());
    batch.extend_from_slice(&notification_bytes(6, 2));
    let outputs = feed(&mut session, &batch);
    assert_eq!(summarize(&outputs), "NOTIF(3/1) close down");
    // Later bytes and timers on the dead connection produce nothing.
    let outputs = feed(&mut session, &keepalive_bytes());
    assert!(outputs.is_empty());
    // Timers run on: the session restarts (ConnectTcp) but transmits nothing until a
    // new connection is up.
    for _ in 0..5 {
        let Some(at) = session.poll_timeout() else {
            break;
        };
        session.handle_timeout(at);
        let outputs = drain(&mut session);
        assert!(
            !outputs.iter().any(|o| matches!(o, Output::Transmit(_))),
            "{outputs:?}"
        );
    }
    assert_eq!(session.state(), State::Connect);
}

#[test]
fn a_notification_received_ends_the_session_with_it() {
    let mut session = established(local_config(), &peer_config());
    let text = Notification::shutdown("going away", false);
    let outputs = feed(&mut session, &encode(&Message::Notification(text.clone())));
    assert_eq!(summarize(&outputs), "close down");
    assert!(outputs.contains(&Output::Event(SessionEvent::Down(
        SessionEnd::NotificationReceived(text)
    ))));
}

#[test]
fn a_notification_split_in_two_is_still_read_whole() {
    let mut session = established(local_config(), &peer_config());
    let bytes = notification_bytes(6, 4);
    assert!(feed(&mut session, &bytes[..10]).is_empty());
    let outputs = feed(&mut session, &bytes[10..]);
    let ended = outputs.iter().find_map(|o| match o {
        Output::Event(SessionEvent::Down(SessionEnd::NotificationReceived(n))) => {
            Some((n.code.0, n.subcode))
        }
        _ => None,
    });
    assert_eq!(ended, Some((6, 4)));
}

#[test]
fn errors_before_our_open_are_not_sent_when_configured_so() {
    let mut config = local_config();
    config.delay_open = Some(std::time::Duration::from_secs(5));
    config.send_notification_without_open = false;
    let mut session = Session::new(config, Instant::ZERO).unwrap();
    session.handle_input(Instant::ZERO, Input::ManualStart);
    session.handle_input(Instant::ZERO, Input::TcpCrAcked);
    drain(&mut session);
    let mut bad = open_bytes(&peer_config());
    bad[19] = 5;
    let outputs = feed(&mut session, &bad);
    assert_eq!(summarize(&outputs), "close down");
    assert!(matches!(
        outputs.iter().find_map(|o| match o {
            Output::Event(SessionEvent::Down(end)) => Some(end.clone()),
            _ => None,
        }),
        Some(SessionEnd::ErrorNotSent(n)) if (n.code.0, n.subcode) == (2, 1)
    ));
}

#[test]
fn an_unusable_next_hop_makes_the_update_treat_as_withdraw() {
    for (next_hop, flagged) in [
        ([0, 0, 0, 0], true),
        ([224, 0, 0, 1], true),
        ([255, 255, 255, 255], true),
        ([192, 0, 2, 1], false),
    ] {
        let mut session = established(local_config(), &peer_config());
        let mut body = vec![0, 0, 0, 14, 0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4];
        body.extend_from_slice(&next_hop);
        body.extend_from_slice(&[24, 198, 51, 100]);
        let outputs = feed(&mut session, &message(2, &body));
        assert_eq!(session.state(), State::Established);
        let update = outputs
            .iter()
            .find_map(|o| match o {
                Output::Event(SessionEvent::Update(u)) => Some(u.clone()),
                _ => None,
            })
            .expect("reported");
        let expected = flagged.then_some(Treatment::TreatAsWithdraw);
        assert_eq!(update.treatment(), expected, "{next_hop:?}");
    }
}

#[test]
fn header_errors_are_found_when_the_header_arrives_byte_by_byte() {
    let mut bad_marker = keepalive_bytes();
    bad_marker[15] = 0x7f;
    let mut too_long = message(4, &[]);
    too_long[16] = 0x20; // length 8211 on a session without extended messages
    for (bytes, subcode) in [(bad_marker, 1), (too_long, 2)] {
        let mut session = established(local_config(), &peer_config());
        // A good KEEPALIVE first, whose last byte shares a chunk with the bad header.
        let mut stream = keepalive_bytes();
        stream.extend_from_slice(&bytes);
        let mut outputs = Vec::new();
        for piece in stream.chunks(5) {
            outputs.extend(feed(&mut session, piece));
        }
        assert_reset_with(&outputs, 1, subcode, None);
        assert_eq!(session.state(), State::Idle);
    }
}

/// An UPDATE for 198.51.100.0/24 carrying LOCAL_PREF 200.
fn update_with_local_pref() -> Vec<u8> {
    message(
        2,
        &[
            0, 0, 0, 21, // no withdrawn routes, 21 bytes of attributes
            0x40, 1, 1, 0, // ORIGIN IGP
            0x40, 2, 0, // empty AS_PATH
            0x40, 3, 4, 192, 0, 2, 1, // NEXT_HOP
            0x40, 5, 4, 0, 0, 0, 200, // LOCAL_PREF 200
            24, 198, 51, 100, // NLRI
        ],
    )
}

fn received_update(outputs: &[Output]) -> bgp_wire::Update {
    outputs
        .iter()
        .find_map(|o| match o {
            Output::Event(SessionEvent::Update(u)) => Some(u.clone()),
            _ => None,
        })
        .expect("the UPDATE is reported")
}

#[test]
fn local_pref_from_an_external_peer_is_discarded_and_kept_from_an_internal_one() {
    // RFC 7606 section 7.5: LOCAL_PREF from an external neighbour is discarded.
    let mut external = established(local_config(), &peer_config());
    let update = received_update(&feed(&mut external, &update_with_local_pref()));
    // Ignored as RFC 4271 section 5.1.5 says: not an error, so no issue is recorded.
    assert_eq!(update.local_pref(), None);
    assert_eq!(update.treatment(), None);
    assert_eq!(update.nlri.len(), 1);
    assert_eq!(external.state(), State::Established);

    // The same bytes from a peer in our own AS keep it.
    let internal_peer = bgp_fsm::SessionConfig::new(LOCAL_ASN, peer_id(), LOCAL_ASN);
    let internal_local = bgp_fsm::SessionConfig::new(LOCAL_ASN, local_id(), LOCAL_ASN);
    let mut internal = established(internal_local, &internal_peer);
    let update = received_update(&feed(&mut internal, &update_with_local_pref()));
    assert_eq!(update.local_pref(), Some(200));
    assert_eq!(update.treatment(), None);
}

#[test]
fn a_confederation_segment_from_an_external_peer_withdraws_the_routes() {
    // RFC 7606 section 7.2: AS_CONFED_SEQUENCE [65010] from an eBGP peer (4-octet AS
    // numbers, as the test sessions negotiate).
    let bytes = message(
        2,
        &[
            0, 0, 0, 20, // no withdrawn routes, 20 bytes of attributes
            0x40, 1, 1, 0, // ORIGIN IGP
            0x40, 2, 6, 3, 1, 0, 0, 0xfd, 0xf2, // AS_PATH: AS_CONFED_SEQUENCE [65010]
            0x40, 3, 4, 192, 0, 2, 1, // NEXT_HOP
            24, 198, 51, 100, // NLRI
        ],
    );
    let mut external = established(local_config(), &peer_config());
    let update = received_update(&feed(&mut external, &bytes));
    assert_eq!(update.treatment(), Some(Treatment::TreatAsWithdraw));
    assert_eq!(update.issues.len(), 1);
    assert_eq!(
        update.issues[0].error.context,
        "confederation segment from an external peer"
    );
    assert_eq!(update.routes_to_withdraw().count(), 1);

    // The same path from a peer in our own AS is a confederation path, not an error.
    let internal_peer = bgp_fsm::SessionConfig::new(LOCAL_ASN, peer_id(), LOCAL_ASN);
    let internal_local = bgp_fsm::SessionConfig::new(LOCAL_ASN, local_id(), LOCAL_ASN);
    let mut internal = established(internal_local, &internal_peer);
    let update = received_update(&feed(&mut internal, &bytes));
    assert_eq!(update.treatment(), None);
    assert_eq!(external.state(), State::Established);
}
