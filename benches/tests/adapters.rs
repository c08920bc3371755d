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
