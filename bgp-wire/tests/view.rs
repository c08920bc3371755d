//! UpdateView: reading an UPDATE in place agrees with decoding it, and rejects what the
//! decoder rejects at the framing level.

use std::net::Ipv4Addr;

use bgp_wire::{
    AsPath, AttrType, AttrValue, DecodeErrorKind, Family, Message, Nlri, Origin, PathAttribute,
    SessionParams, Update, UpdateView,
};

fn sample(params: &SessionParams) -> (Update, Vec<u8>) {
    let path_id = |i| {
        if params.add_path.contains(Family::IPV4_UNICAST) {
            Some(i)
        } else {
            None
        }
    };
    let mut update = Update::ipv4_announcement(
        [
            PathAttribute::new(AttrValue::Origin(Origin::Igp)),
            PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence([65001, 65002]))),
            PathAttribute::new(AttrValue::NextHop(Ipv4Addr::new(192, 0, 2, 1))),
        ],
        (0..50u32).map(|i| Nlri {
            path_id: path_id(i),
            ..Nlri::new(format!("10.{i}.0.0/16").parse().unwrap())
        }),
    );
    update.withdrawn = (0..5u32)
        .map(|i| Nlri {
            path_id: path_id(i),
            ..Nlri::new(format!("172.16.{i}.0/24").parse().unwrap())
        })
        .collect();
    let bytes = Message::Update(update.clone()).to_bytes(params);
    (update, bytes)
}

#[test]
fn view_agrees_with_decoding() {
    let mut add_path = SessionParams::modern();
    add_path.add_path.insert(Family::IPV4_UNICAST);
    for params in [SessionParams::modern(), SessionParams::default(), add_path] {
        let (update, bytes) = sample(&params);
        let view = UpdateView::new_checked(&bytes, &params).unwrap();
        assert_eq!(view.as_bytes(), &bytes[..]);
        assert_eq!(view.nlri().collect::<Vec<_>>(), update.nlri);
        assert_eq!(view.withdrawn().collect::<Vec<_>>(), update.withdrawn);
        let types: Vec<_> = view.attributes().map(|a| a.type_code).collect();
        assert_eq!(
            types,
            vec![AttrType::ORIGIN, AttrType::AS_PATH, AttrType::NEXT_HOP]
        );
        assert_eq!(
            view.attribute(AttrType::NEXT_HOP).unwrap().value,
            &[192, 0, 2, 1]
        );
        assert!(view.attribute(AttrType::COMMUNITIES).is_none());
        assert_eq!(view.to_update(&params).unwrap(), update);
    }
}

#[test]
fn view_rejects_bad_framing() {
    let params = SessionParams::modern();
    let (_, bytes) = sample(&params);
    // Incomplete.
    let err = UpdateView::new_checked(&bytes[..bytes.len() - 1], &params).unwrap_err();
    assert!(matches!(err.kind, DecodeErrorKind::BadMessageLength { .. }));
    // Not an UPDATE.
    let keepalive = Message::Keepalive.to_bytes(&params);
    let err = UpdateView::new_checked(&keepalive, &params).unwrap_err();
    assert_eq!(
        err.kind,
        DecodeErrorKind::BadMessageType { message_type: 4 }
    );
    // A prefix of 33 bits in the NLRI field.
    let mut bad = bytes.clone();
    let last = bad.len() - 3; // the last /16: length octet then two bytes
    bad[last] = 33;
    let err = UpdateView::new_checked(&bad, &params).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::InvalidNetworkField);
    // An attribute length running past the attribute field.
    let mut bad = bytes.clone();
    let withdrawn_len = usize::from(u16::from_be_bytes([bad[19], bad[20]]));
    let first_attr = 19 + 2 + withdrawn_len + 2;
    bad[first_attr + 2] = 200;
    let err = UpdateView::new_checked(&bad, &params).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::MalformedAttributeList);
}
