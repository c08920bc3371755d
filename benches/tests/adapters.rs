//! The adapters of the benches, run untimed over the corpus: every decoder must take every
//! message, and those that decode faithfully must agree with the floor on every count and
//! sum. Differences that are the decoder's documented choice are asserted as such.
#![allow(missing_docs)]

#[path = "../benches/adapters/mod.rs"]
#[allow(dead_code)]
mod adapters;

#[test]
fn census_prints() {
    let corpus = benches::update_corpus().expect("corpus in the repository");
    let censuses = adapters::censuses(&corpus, true);
    println!("{}", adapters::census_table(&censuses));
}

#[test]
fn netgauze_refuses_only_unicast_prefixes_under_the_multicast_safi() {
    use netgauze_bgp_pkt::BgpMessage;
    use netgauze_parse_utils::reader::SliceReader;
    use netgauze_parse_utils::traits::ParseFromWithOneInput;
    let corpus = benches::update_corpus().expect("corpus in the repository");
    let mut refused = 0;
    for m in &corpus.messages {
        let mut ctx = adapters::netgauze::context(m.four_octet_as);
        if let Err(e) = BgpMessage::parse(&mut SliceReader::new(&m.bytes), &mut ctx) {
            // SAFI 2 carries unicast source prefixes for multicast RPF (RFC 4760); netgauze
            // insists they be multicast group addresses (224/4).
            let why = format!("{e:?}");
            assert!(
                why.contains("Ipv4MulticastError(InvalidMulticastNetwork"),
                "{why}"
            );
            refused += 1;
        }
    }
    assert!(refused > 0, "the 2007 dump has IPv4 multicast SAFI routes");
}

/// AS numbers zettabgp does not hand out as values: those of AS4_PATH (kept as an
/// unknown attribute's raw bytes) and repeats inside an AS_SET (collected into a set).
fn asns_zettabgp_leaves_out(message: &[u8], four_octet_as: bool) -> u64 {
    let mut missing = 0;
    let body = &message[19..];
    let wlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
    let alen = usize::from(u16::from_be_bytes([body[2 + wlen], body[3 + wlen]]));
    let mut attrs = &body[4 + wlen..4 + wlen + alen];
    while !attrs.is_empty() {
        let (flags, code) = (attrs[0], attrs[1]);
        let (len, hl) = if flags & 0x10 != 0 {
            (usize::from(u16::from_be_bytes([attrs[2], attrs[3]])), 4)
        } else {
            (usize::from(attrs[2]), 3)
        };
        let mut value = &attrs[hl..hl + len];
        let width = if code == 17 || four_octet_as { 4 } else { 2 };
        while (code == 2 || code == 17) && !value.is_empty() {
            let n = usize::from(value[1]);
            let asns: Vec<&[u8]> = value[2..2 + n * width].chunks(width).collect();
            if code == 17 {
                missing += n as u64;
            } else if value[0] == 1 {
                let unique: std::collections::BTreeSet<_> = asns.iter().collect();
                missing += (n - unique.len()) as u64;
            }
            value = &value[2 + n * width..];
        }
        attrs = &attrs[hl + len..];
    }
    missing
}

#[test]
fn competitors_agree_with_the_floor_except_where_their_code_says_otherwise() {
    let corpus = benches::update_corpus().expect("corpus in the repository");
    let censuses = adapters::censuses(&corpus, true);
    let floor = censuses[0].tally;
    let by_name = |name: &str| {
        censuses
            .iter()
            .find(|c| c.name == name)
            .expect("decoder in the census")
    };
    for faithful in ["ours", "bgpkit", "routecore_walk"] {
        let c = by_name(faithful);
        assert_eq!(c.refused, 0, "{faithful}");
        assert!(
            c.tally.same_content(&floor),
            "{faithful}: {:?}",
            c.tally.differences(&floor)
        );
    }
    let zetta = by_name("zettabgp");
    assert_eq!(zetta.refused, 0);
    let left_out: u64 = corpus
        .messages
        .iter()
        .map(|m| asns_zettabgp_leaves_out(&m.bytes, m.four_octet_as))
        .sum();
    assert!(left_out > 0);
    assert_eq!(zetta.tally.asns + left_out, floor.asns);
    assert_eq!(
        zetta.tally.differences(&floor).len(),
        2,
        "only the AS count and sum differ"
    );
    let validate = by_name("routecore_validate");
    assert_eq!(
        (validate.refused as u64, validate.tally.messages),
        (0, floor.messages)
    );
}

/// An UPDATE on a 4-octet AS session with `attrs` and one NLRI, 192.0.2.0/24.
fn update_with(attrs: &[u8]) -> Vec<u8> {
    let mut msg = vec![0xff; 16];
    msg.extend_from_slice(
        &u16::try_from(19 + 4 + attrs.len() + 4)
            .unwrap()
            .to_be_bytes(),
    );
    msg.push(2);
    msg.extend_from_slice(&[0, 0]);
    msg.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
    msg.extend_from_slice(attrs);
    msg.extend_from_slice(&[24, 192, 0, 2]);
    msg
}

const ORIGIN_NEXT_HOP: [u8; 11] = [0x40, 1, 1, 0, 0x40, 3, 4, 192, 0, 2, 1];

#[test]
fn zettabgp_encodes_an_as_sequence_as_an_as_set() {
    let mut attrs = ORIGIN_NEXT_HOP.to_vec();
    attrs.extend_from_slice(&[0x40, 2, 10, 2, 2, 0, 0, 0xfd, 0xe8, 0, 0, 0xfd, 0xe9]);
    let msg = update_with(&attrs);
    let params = adapters::zettabgp::params(true);
    let update = adapters::zettabgp::decode(&msg, &params).expect("zettabgp decodes it");
    let mut buf = vec![0; 4096];
    let len = adapters::zettabgp::encode(&update, &params, &mut buf).expect("zettabgp encodes it");
    let out = &buf[..len];
    // zettabgp writes AS_PATH with the extended-length flag: 0x50, 2, length (2 octets),
    // then the segment type, which should be 2 (AS_SEQUENCE).
    let at = out
        .windows(2)
        .position(|w| w == [0x50, 2])
        .expect("AS_PATH in the output");
    assert_eq!(out[at + 4], 1, "segment type written as AS_SET");
    let mut floor = benches::Tally::default();
    benches::floor::walk_update(&msg, true, &mut floor).unwrap();
    assert_eq!(floor.asns, 2);
}

#[test]
fn zettabgp_collapses_duplicate_communities() {
    let mut attrs = ORIGIN_NEXT_HOP.to_vec();
    attrs.extend_from_slice(&[0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe8]);
    attrs.extend_from_slice(&[
        0xc0, 8, 12, 0xfd, 0xe8, 0, 1, 0xfd, 0xe8, 0, 1, 0xfd, 0xe8, 0, 0,
    ]);
    let msg = update_with(&attrs);
    let mut zetta = benches::Tally::default();
    assert!(adapters::zettabgp::decode_walk(
        &msg,
        &adapters::zettabgp::params(true),
        &mut zetta
    ));
    let mut ours = benches::Tally::default();
    let params = bgp_wire::SessionParams::modern();
    assert!(adapters::ours::decode_walk(&msg, &params, &mut ours));
    let mut bgpkit = benches::Tally::default();
    let bytes = bytes::Bytes::copy_from_slice(&msg);
    assert!(adapters::bgpkit::decode_walk(
        &bytes,
        &adapters::bgpkit::asn_length(true),
        &mut bgpkit
    ));
    assert_eq!(
        (ours.communities, bgpkit.communities, zetta.communities),
        (3, 3, 2)
    );
}

#[test]
fn confederation_segments_are_refused_by_zettabgp_and_netgauze() {
    let mut attrs = ORIGIN_NEXT_HOP.to_vec();
    // AS_CONFED_SEQUENCE (3) of 65010, then AS_SEQUENCE of 65000.
    attrs.extend_from_slice(&[0x40, 2, 12, 3, 1, 0, 0, 0xfd, 0xf2, 2, 1, 0, 0, 0xfd, 0xe8]);
    let msg = update_with(&attrs);
    let params = bgp_wire::SessionParams::modern();
    assert!(adapters::ours::decode_walk(
        &msg,
        &params,
        &mut benches::Tally::default()
    ));
    let bytes = bytes::Bytes::copy_from_slice(&msg);
    let asn_len = adapters::bgpkit::asn_length(true);
    assert!(adapters::bgpkit::decode_walk(
        &bytes,
        &asn_len,
        &mut benches::Tally::default()
    ));
    let config = adapters::routecore::config(true);
    assert!(adapters::routecore::validate_walk(
        &msg,
        &config,
        &mut benches::Tally::default()
    ));
    let zparams = adapters::zettabgp::params(true);
    assert!(!adapters::zettabgp::decode_walk(
        &msg,
        &zparams,
        &mut benches::Tally::default()
    ));
    let mut ctx = adapters::netgauze::context(true);
    assert!(!adapters::netgauze::decode_walk(
        &msg,
        &mut ctx,
        &mut benches::Tally::default()
    ));
}

/// The 2016 RIS dump has no multicast SAFI, no AS4_PATH (4-octet session) and no
/// repeated communities: there every decoder agrees with the floor.
#[test]
fn every_decoder_agrees_with_the_floor_on_the_modern_corpus() {
    let corpus = benches::modern_corpus().expect("corpus in the repository");
    let censuses = adapters::censuses(&corpus, true);
    let floor = censuses[0].tally;
    assert!(
        floor.communities > floor.messages,
        "a community-heavy corpus"
    );
    for c in &censuses {
        if c.name != "routecore_validate" {
            assert_eq!(c.refused, 0, "{}", c.name);
            assert!(
                c.tally.same_content(&floor),
                "{}: {:?}",
                c.name,
                c.tally.differences(&floor)
            );
        }
    }
}
