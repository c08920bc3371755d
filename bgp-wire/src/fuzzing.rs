//! Invariant checks shared by the cargo-fuzz targets (`fuzz/`) and by the stable test
//! that replays the seed corpus (`tests/fuzz_corpus.rs`), so the targets cannot rot.
//!
//! Each function takes arbitrary bytes, never panics on its own account, and panics
//! only when an invariant of the codec is broken: that is the bug the fuzzer hunts.

use crate::{frame, AddPathFamilies, Family, Message, SessionParams};

/// Session parameters drawn from one byte, so every combination the codec branches on
/// is reachable from the fuzzer's input.
pub fn params_from_byte(bits: u8) -> SessionParams {
    let mut add_path = AddPathFamilies::none();
    if bits & 0x04 != 0 {
        add_path.insert(Family::IPV4_UNICAST);
    }
    if bits & 0x08 != 0 {
        add_path.insert(Family::IPV6_UNICAST);
    }
    SessionParams {
        four_octet_as: bits & 0x01 != 0,
        extended_message: bits & 0x02 != 0,
        add_path,
    }
}

/// Whatever decodes must re-encode to bytes that decode to the same value, with
/// `encoded_len` exact. Errors must map to a NOTIFICATION without panicking.
fn check_roundtrip(msg: &Message, params: &SessionParams) {
    // What decodes cleanly is by construction encodable: validation must agree.
    if let Err(e) = msg.validate(params) {
        panic!("a decoded message does not validate: {e}\n{msg:?}");
    }
    let mut out = Vec::new();
    msg.emit(&mut out, params);
    assert_eq!(
        out.len(),
        msg.encoded_len(params),
        "encoded_len disagrees with emit: {msg:?}"
    );
    let again = Message::parse(&out, params)
        .unwrap_or_else(|e| panic!("re-encoded message does not decode: {e}\n{msg:?}\n{out:02x?}"));
    assert_eq!(&again, msg, "decode(emit(x)) != x");
}

/// Target `decode_message`: the first byte picks the session parameters, the rest is a
/// byte stream that is framed and decoded message by message.
pub fn decode_message(data: &[u8]) {
    let Some((&bits, mut stream)) = data.split_first() else {
        return;
    };
    let params = params_from_byte(bits);
    // Bounded: every iteration consumes at least HEADER_LEN bytes or stops.
    while !stream.is_empty() {
        match frame(stream, &params) {
            Ok(Some(len)) => {
                assert!(
                    len >= crate::HEADER_LEN && len <= stream.len(),
                    "frame returned {len}"
                );
                let (one, rest) = stream.split_at(len);
                match Message::parse(one, &params) {
                    Ok(msg) => {
                        if let Message::Update(update) = &msg {
                            // Only well-formed UPDATEs promise a lossless round trip:
                            // RFC 7606 discards drop attributes on the way in.
                            if !update.issues.is_empty() {
                                stream = rest;
                                continue;
                            }
                        }
                        check_roundtrip(&msg, &params);
                    }
                    Err(e) => {
                        let _ = e.notification();
                    }
                }
                stream = rest;
            }
            Ok(None) => return,
            Err(e) => {
                let _ = e.notification();
                return;
            }
        }
    }
}

/// Target `roundtrip_update`: the input is taken as an UPDATE's path attributes and NLRI
/// and wrapped in a correct header and length fields, so the fuzzer spends its time in
/// attribute and prefix decoding rather than in framing.
pub fn roundtrip_update(data: &[u8]) {
    let Some((&bits, rest)) = data.split_first() else {
        return;
    };
    let params = params_from_byte(bits | 0x02);
    let [hi, lo, rest @ ..] = rest else { return };
    // Two bytes after the parameters say how much of the rest is attributes.
    let attr_len = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
    let (attrs, nlri) = rest.split_at(attr_len);
    let body_len = 4 + attrs.len() + nlri.len();
    let total = crate::HEADER_LEN + body_len;
    if total > crate::MAX_EXTENDED_MESSAGE_LEN {
        return;
    }
    let mut msg = vec![0xff; 16];
    msg.extend_from_slice(&(total as u16).to_be_bytes());
    msg.push(2);
    msg.extend_from_slice(&[0, 0]);
    msg.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    msg.extend_from_slice(attrs);
    msg.extend_from_slice(nlri);
    match Message::parse(&msg, &params) {
        Ok(Message::Update(update)) => {
            if update.issues.is_empty() {
                check_roundtrip(&Message::Update(update), &params);
            }
        }
        Ok(other) => panic!("an UPDATE decoded as {other:?}"),
        Err(e) => {
            let _ = e.notification();
        }
    }
}

/// Target `decode_mrt`: the input is decompressed MRT data. Every record that reads must
/// re-emit to exactly the bytes it was read from (an entry split out of a batched
/// TABLE_DUMP record, to a record that reads back to it); every BGP message inside decodes or
/// fails with an error that maps to a NOTIFICATION, and what decodes cleanly round-trips;
/// every RIB entry's attributes decode without panicking.
pub fn decode_mrt(data: &[u8]) {
    use crate::mrt::{MrtBody, MrtReader};

    let mut reader = MrtReader::new(data);
    // Bounded: each step consumes at least one 12-byte header or one batched TABLE_DUMP
    // entry, or ends the iteration.
    loop {
        let repaired_before = reader.repairs().batched_table_dump_entries;
        let Some(item) = reader.next() else { break };
        let Ok((offset, record)) = item else { continue };
        let end = reader.offset();
        let mut out = Vec::new();
        record
            .emit(&mut out)
            .expect("a record that was read fits its fields when written");
        if reader.repairs().batched_table_dump_entries == repaired_before {
            assert_eq!(
                Some(out.as_slice()),
                data.get(offset..end),
                "record at {offset} does not re-emit as read: {record:?}"
            );
        } else {
            // An entry of a batched TABLE_DUMP record re-emits as a record of its own;
            // that record reads back to the same entry.
            let again = MrtReader::new(&out).next().map(|r| r.map(|(_, r)| r));
            assert_eq!(again, Some(Ok(record.clone())), "batched entry at {offset}");
        }
        match &record.body {
            MrtBody::Message(message) => match message.parse_message() {
                Ok(Message::Update(update)) if !update.issues.is_empty() => {}
                Ok(decoded) => check_roundtrip(&decoded, &message.session_params()),
                Err(e) => {
                    let _ = e.notification();
                }
            },
            MrtBody::Rib(rib) => {
                for entry in &rib.entries {
                    let _ = rib.decode_attributes(entry);
                }
            }
            MrtBody::TableDump(entry) => {
                let _ = entry.decode_attributes();
            }
            _ => {}
        }
    }
}
