//! One module per decoder: how to hand it the corpus bytes, and how to walk what it
//! decoded into a [`benches::Tally`]. Shared by the criterion benches and the adapter
//! tests (`tests/adapters.rs`), so what is timed is what is checked.

pub(crate) mod bgpkit;
pub(crate) mod netgauze;
pub(crate) mod ours;
pub(crate) mod routecore;
pub(crate) mod zettabgp;

use benches::{Corpus, Tally};

/// What one decoder made of the whole corpus.
#[derive(Debug)]
pub(crate) struct Census {
    /// Decoder name, as in the bench ids.
    pub(crate) name: &'static str,
    /// The tally over every message it decoded.
    pub(crate) tally: Tally,
    /// Messages it refused.
    pub(crate) refused: usize,
}

fn census(
    name: &'static str,
    corpus: &Corpus,
    mut decode: impl FnMut(usize, &mut Tally) -> bool,
) -> Census {
    let mut tally = Tally::default();
    let refused = (0..corpus.messages.len())
        .filter(|&i| !decode(i, &mut tally))
        .count();
    Census {
        name,
        tally,
        refused,
    }
}

/// Every decoder over the corpus, untimed: the floor first, then ours, then the others.
/// `with_ours` is false while the codec is not usable.
pub(crate) fn censuses(corpus: &Corpus, with_ours: bool) -> Vec<Census> {
    let msgs = &corpus.messages;
    let mut out = vec![census("floor", corpus, |i, t| {
        benches::floor::walk_update(&msgs[i].bytes, msgs[i].four_octet_as, t).is_ok()
    })];
    if with_ours {
        let params: Vec<_> = msgs.iter().map(|m| m.params()).collect();
        out.push(census("ours", corpus, |i, t| {
            ours::decode_walk(&msgs[i].bytes, &params[i], t)
        }));
    }
    let input: Vec<_> = msgs
        .iter()
        .map(|m| bytes::Bytes::copy_from_slice(&m.bytes))
        .collect();
    let (as2, as4) = (bgpkit::asn_length(false), bgpkit::asn_length(true));
    out.push(census("bgpkit", corpus, |i, t| {
        bgpkit::decode_walk(
            &input[i],
            if msgs[i].four_octet_as { &as4 } else { &as2 },
            t,
        )
    }));
    let mut ctx = [netgauze::context(false), netgauze::context(true)];
    out.push(census("netgauze", corpus, |i, t| {
        netgauze::decode_walk(
            &msgs[i].bytes,
            &mut ctx[usize::from(msgs[i].four_octet_as)],
            t,
        )
    }));
    let params = [zettabgp::params(false), zettabgp::params(true)];
    out.push(census("zettabgp", corpus, |i, t| {
        zettabgp::decode_walk(
            &msgs[i].bytes,
            &params[usize::from(msgs[i].four_octet_as)],
            t,
        )
    }));
    let config = [routecore::config(false), routecore::config(true)];
    out.push(census("routecore_validate", corpus, |i, t| {
        routecore::validate(
            &msgs[i].bytes,
            &config[usize::from(msgs[i].four_octet_as)],
            t,
        )
    }));
    out.push(census("routecore_walk", corpus, |i, t| {
        routecore::validate_walk(
            &msgs[i].bytes,
            &config[usize::from(msgs[i].four_octet_as)],
            t,
        )
    }));
    out
}

/// The census as a table: one line per decoder, its counts, and how it differs from the
/// floor.
pub(crate) fn census_table(censuses: &[Census]) -> String {
    let mut out = String::from(
        "decoder             refused  messages  attrs  prefixes  asns  communities  ext  large  differs from the floor in\n",
    );
    let floor = censuses[0].tally;
    for c in censuses {
        let t = &c.tally;
        let diff = t.differences(&floor);
        out.push_str(&format!(
            "{:<19} {:>7}  {:>8}  {:>6}  {:>8}  {:>6}  {:>11}  {:>4}  {:>5}  {}\n",
            c.name,
            c.refused,
            t.messages,
            t.attributes,
            t.prefixes,
            t.asns,
            t.communities,
            t.ext_communities,
            t.large_communities,
            if diff.is_empty() {
                "-".to_owned()
            } else {
                diff.join(", ")
            }
        ));
    }
    out
}
