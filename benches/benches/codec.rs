//! Codec benchmarks: decoding and encoding real UPDATEs with `bgp-wire` and with other
//! Rust BGP crates, side by side, on the same bytes, in the same run.
//!
//! Every input is in memory before timing starts, in the form each crate takes (a
//! `Bytes` for bgpkit, a slice for the others), with the session parameters the MRT
//! subtype implies. Each decoder's output is walked field by field into a
//! [`benches::Tally`] passed to `black_box`, so a lazy decoder pays for what it would
//! otherwise skip. See BENCHMARKS.md for the numbers and how to read them.
//!
//! `cargo bench -p benches --bench codec`; the census of what each decoder made of the
//! corpus is printed first.
#![allow(missing_docs)] // criterion's macros generate undocumented items.

mod adapters;

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use benches::{Corpus, Tally};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Loads a corpus once and prints its size and the census of every decoder over it.
fn load(name: &str, load: fn() -> Result<Corpus, String>) -> Corpus {
    let corpus = load().expect("the corpus files are in the repository");
    let mut floor = Tally::default();
    for m in &corpus.messages {
        benches::floor::walk_update(&m.bytes, m.four_octet_as, &mut floor)
            .expect("every corpus UPDATE walks");
    }
    println!(
        "\n{name}: {} messages, {} prefixes, {} AS numbers, {} communities, {} bytes",
        corpus.messages.len(),
        floor.prefixes,
        floor.asns,
        floor.communities,
        corpus.bytes()
    );
    for s in &corpus.sources {
        println!("  {:>6} UPDATEs from {}", s.updates, s.name);
    }
    println!(
        "\n{}",
        adapters::census_table(&adapters::censuses(&corpus, true))
    );
    corpus
}

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| load("UPDATE corpus", benches::update_corpus))
}

fn modern_corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| load("Modern UPDATE corpus (RIS 2016)", benches::modern_corpus))
}

/// The decoders of the `decode_updates` group, in bench-id order.
const DECODERS: [&str; 7] = [
    "floor",
    "ours",
    "bgpkit",
    "netgauze",
    "zettabgp",
    "routecore_validate",
    "routecore_walk",
];

/// The corpus in the form each decoder takes, with its session settings, built once.
struct Prepared {
    corpus: &'static Corpus,
    params: Vec<bgp_wire::SessionParams>,
    bytes: Vec<bytes::Bytes>,
    asn_len: [bgpkit_parser::models::AsnLength; 2],
    ctx: [netgauze_bgp_pkt::wire::deserializer::BgpParsingContext; 2],
    zparams: [zettabgp::prelude::BgpSessionParams; 2],
    config: [routecore::bgp::message::update::SessionConfig; 2],
}

impl Prepared {
    fn new(corpus: &'static Corpus) -> Self {
        let msgs = &corpus.messages;
        Self {
            corpus,
            params: msgs.iter().map(|m| m.params()).collect(),
            bytes: msgs
                .iter()
                .map(|m| bytes::Bytes::copy_from_slice(&m.bytes))
                .collect(),
            asn_len: [
                adapters::bgpkit::asn_length(false),
                adapters::bgpkit::asn_length(true),
            ],
            ctx: [
                adapters::netgauze::context(false),
                adapters::netgauze::context(true),
            ],
            zparams: [
                adapters::zettabgp::params(false),
                adapters::zettabgp::params(true),
            ],
            config: [
                adapters::routecore::config(false),
                adapters::routecore::config(true),
            ],
        }
    }

    /// Runs `decoder` over the whole corpus.
    fn run(&mut self, decoder: &str) -> Tally {
        let mut t = Tally::default();
        let msgs = &self.corpus.messages;
        let four = |i: usize| usize::from(msgs[i].four_octet_as);
        match decoder {
            "floor" => {
                for m in msgs {
                    let _ = benches::floor::walk_update(&m.bytes, m.four_octet_as, &mut t);
                }
            }
            "ours" => {
                for (m, p) in msgs.iter().zip(&self.params) {
                    adapters::ours::decode_walk(&m.bytes, p, &mut t);
                }
            }
            "bgpkit" => {
                for (i, m) in self.bytes.iter().enumerate() {
                    adapters::bgpkit::decode_walk(m, &self.asn_len[four(i)], &mut t);
                }
            }
            "netgauze" => {
                for (i, m) in msgs.iter().enumerate() {
                    adapters::netgauze::decode_walk(&m.bytes, &mut self.ctx[four(i)], &mut t);
                }
            }
            "zettabgp" => {
                for (i, m) in msgs.iter().enumerate() {
                    adapters::zettabgp::decode_walk(&m.bytes, &self.zparams[four(i)], &mut t);
                }
            }
            "routecore_validate" => {
                for (i, m) in msgs.iter().enumerate() {
                    adapters::routecore::validate(&m.bytes, &self.config[four(i)], &mut t);
                }
            }
            "routecore_walk" => {
                for (i, m) in msgs.iter().enumerate() {
                    adapters::routecore::validate_walk(&m.bytes, &self.config[four(i)], &mut t);
                }
            }
            other => unreachable!("no decoder {other}"),
        }
        t
    }
}

/// Runs every decoder once per round, interleaved, and prints the fastest round of each:
/// on a loaded machine the minimum is the least disturbed measurement, and interleaving
/// exposes every decoder to the same load.
fn print_interleaved_minimums(prepared: &mut Prepared, rounds: usize) {
    if !benches::timing::is_bench_run() {
        return;
    }
    let n = prepared.corpus.messages.len() as f64;
    let mut best = [f64::INFINITY; DECODERS.len()];
    for _ in 0..rounds {
        for (i, name) in DECODERS.iter().enumerate() {
            let start = Instant::now();
            black_box(prepared.run(name));
            best[i] = best[i].min(start.elapsed().as_secs_f64());
        }
    }
    println!("\nInterleaved minimum of {rounds} rounds over the corpus:");
    println!("decoder               ns/message   messages/s   x floor   x ours");
    for (i, name) in DECODERS.iter().enumerate() {
        println!(
            "{:<20} {:>11.0} {:>12.0} {:>9.2} {:>8.2}",
            name,
            best[i] / n * 1e9,
            n / best[i],
            best[i] / best[0],
            best[i] / best[1]
        );
    }
    println!();
}

fn decode_updates(c: &mut Criterion) {
    decode_group(c, "decode_updates", corpus());
}

fn decode_updates_modern(c: &mut Criterion) {
    decode_group(c, "decode_updates_2016", modern_corpus());
}

fn decode_group(c: &mut Criterion, group_name: &str, corpus: &'static Corpus) {
    let mut prepared = Prepared::new(corpus);
    println!("{group_name}:");
    print_interleaved_minimums(&mut prepared, 40);
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(corpus.messages.len() as u64));
    for name in DECODERS {
        group.bench_function(name, |b| b.iter(|| black_box(prepared.run(name))));
    }
    group.finish();
}

/// Prints how many of `decoded` re-encode to exactly the bytes they came from.
fn print_identical(name: &str, identical: usize, decoded: usize, corpus: usize) {
    println!(
        "encode {name}: {identical} of the {decoded} messages it decoded (of {corpus}) re-encode byte for byte"
    );
}

fn encode_updates(c: &mut Criterion) {
    let corpus = corpus();
    let msgs = &corpus.messages;

    // Each crate encodes the messages it decoded (untimed); the count of byte-identical
    // re-encodings is printed so a fast but lossy encoder shows.
    let ours: Vec<_> = msgs
        .iter()
        .filter_map(|m| {
            Some((
                adapters::ours::decode(&m.bytes, &m.params())?,
                m.params(),
                &m.bytes,
            ))
        })
        .collect();
    let identical = ours
        .iter()
        .filter(|(msg, params, bytes)| {
            let mut out = Vec::new();
            adapters::ours::encode(msg, params, &mut out);
            out == **bytes
        })
        .count();
    print_identical("ours", identical, ours.len(), msgs.len());
    let mut ours_out = Vec::with_capacity(8192);
    let mut run_ours = || {
        let mut total = 0;
        for (msg, params, _) in &ours {
            ours_out.clear();
            adapters::ours::encode(msg, params, &mut ours_out);
            total += ours_out.len();
        }
        black_box(total);
    };

    let bgpkit: Vec<_> = msgs
        .iter()
        .filter_map(|m| {
            let bytes = bytes::Bytes::copy_from_slice(&m.bytes);
            let asn_len = adapters::bgpkit::asn_length(m.four_octet_as);
            Some((
                adapters::bgpkit::decode(&bytes, &asn_len)?,
                asn_len,
                &m.bytes,
            ))
        })
        .collect();
    let identical = bgpkit
        .iter()
        .filter(|(msg, asn_len, bytes)| {
            adapters::bgpkit::encode(msg, *asn_len).is_some_and(|out| out == **bytes)
        })
        .count();
    print_identical("bgpkit", identical, bgpkit.len(), msgs.len());
    let mut run_bgpkit = || {
        let mut total = 0;
        for (msg, asn_len, _) in &bgpkit {
            total += adapters::bgpkit::encode(msg, *asn_len).map_or(0, |out| out.len());
        }
        black_box(total);
    };

    let netgauze: Vec<_> = msgs
        .iter()
        .filter_map(|m| {
            let mut ctx = adapters::netgauze::context(m.four_octet_as);
            Some((adapters::netgauze::decode(&m.bytes, &mut ctx)?, &m.bytes))
        })
        .collect();
    let identical = netgauze
        .iter()
        .filter(|(msg, bytes)| {
            let mut out = Vec::new();
            adapters::netgauze::encode(msg, &mut out) && out == **bytes
        })
        .count();
    print_identical("netgauze", identical, netgauze.len(), msgs.len());
    let mut netgauze_out = Vec::with_capacity(8192);
    let mut run_netgauze = || {
        let mut total = 0;
        for (msg, _) in &netgauze {
            netgauze_out.clear();
            adapters::netgauze::encode(msg, &mut netgauze_out);
            total += netgauze_out.len();
        }
        black_box(total);
    };

    let zetta: Vec<_> = msgs
        .iter()
        .filter_map(|m| {
            let params = adapters::zettabgp::params(m.four_octet_as);
            Some((
                adapters::zettabgp::decode(&m.bytes, &params)?,
                params,
                &m.bytes,
            ))
        })
        .collect();
    let mut zetta_buf = vec![0; 65536];
    let identical = zetta
        .iter()
        .filter(|(msg, params, bytes)| {
            adapters::zettabgp::encode(msg, params, &mut zetta_buf)
                .is_some_and(|n| zetta_buf[..n] == ***bytes)
        })
        .count();
    print_identical("zettabgp", identical, zetta.len(), msgs.len());
    let mut run_zetta = || {
        let mut total = 0;
        for (msg, params, _) in &zetta {
            total += adapters::zettabgp::encode(msg, params, &mut zetta_buf).unwrap_or(0);
        }
        black_box(total);
    };

    benches::timing::print_interleaved(
        "encode_updates, interleaved minimum of 30 rounds (per message of the corpus; netgauze encodes the 151 fewer it decoded):",
        msgs.len() as u64,
        30,
        &mut [
            ("ours", &mut run_ours),
            ("bgpkit", &mut run_bgpkit),
            ("netgauze", &mut run_netgauze),
            ("zettabgp", &mut run_zetta),
        ],
    );
    let mut group = c.benchmark_group("encode_updates");
    group.throughput(Throughput::Elements(ours.len() as u64));
    group.bench_function("ours", |b| b.iter(&mut run_ours));
    group.throughput(Throughput::Elements(bgpkit.len() as u64));
    group.bench_function("bgpkit", |b| b.iter(&mut run_bgpkit));
    group.throughput(Throughput::Elements(netgauze.len() as u64));
    group.bench_function("netgauze", |b| b.iter(&mut run_netgauze));
    group.throughput(Throughput::Elements(zetta.len() as u64));
    group.bench_function("zettabgp", |b| b.iter(&mut run_zetta));
    group.finish();
}

fn decode_rib_dump(c: &mut Criterion) {
    let dump = benches::rib_dump().expect("the RIB dump is in the repository");
    let mut ours = Tally::default();
    let ours_failures = adapters::ours::rib_walk(&dump, &mut ours);
    let mut bgpkit = Tally::default();
    let bgpkit_failures = adapters::bgpkit::rib_walk(&dump, &mut bgpkit);
    println!(
        "\nRIB dump: {} bytes, {} prefixes, {} RIB entries, {} AS numbers; ours: {} failures; bgpkit: {} failures, differs in {:?}",
        dump.len(),
        ours.prefixes,
        ours.messages,
        ours.asns,
        ours_failures,
        bgpkit_failures,
        bgpkit.differences(&ours)
    );
    let mut run_ours = || {
        let mut t = Tally::default();
        adapters::ours::rib_walk(&dump, &mut t);
        black_box(t);
    };
    let mut run_bgpkit = || {
        let mut t = Tally::default();
        adapters::bgpkit::rib_walk(&dump, &mut t);
        black_box(t);
    };
    benches::timing::print_interleaved(
        "decode_rib_dump, interleaved minimum of 15 rounds (per RIB entry):",
        ours.messages,
        15,
        &mut [("ours", &mut run_ours), ("bgpkit", &mut run_bgpkit)],
    );
    let mut group = c.benchmark_group("decode_rib_dump");
    group.throughput(Throughput::Elements(ours.messages));
    group.bench_function("ours", |b| b.iter(&mut run_ours));
    group.bench_function("bgpkit", |b| b.iter(&mut run_bgpkit));
    group.finish();
}

fn nlri_ipv4_per_prefix(c: &mut Criterion) {
    const PREFIXES: u16 = 1000;
    let msg = benches::ipv4_slash24_update(PREFIXES);
    let params = bgp_wire::SessionParams::modern();
    let mut run_floor = || {
        let mut t = Tally::default();
        let _ = benches::floor::walk_update(black_box(&msg), true, &mut t);
        black_box(t);
    };
    let mut run_ours_decode_only = || {
        black_box(adapters::ours::decode(black_box(&msg), &params));
    };
    let mut run_ours = || {
        let mut t = Tally::default();
        adapters::ours::decode_walk(black_box(&msg), &params, &mut t);
        black_box(t);
    };
    let bytes = bytes::Bytes::copy_from_slice(&msg);
    let asn_len = adapters::bgpkit::asn_length(true);
    let mut run_bgpkit = || {
        let mut t = Tally::default();
        adapters::bgpkit::decode_walk(black_box(&bytes), &asn_len, &mut t);
        black_box(t);
    };
    let mut ctx = adapters::netgauze::context(true);
    let mut run_netgauze = || {
        let mut t = Tally::default();
        adapters::netgauze::decode_walk(black_box(&msg), &mut ctx, &mut t);
        black_box(t);
    };
    let zparams = adapters::zettabgp::params(true);
    let mut run_zetta = || {
        let mut t = Tally::default();
        adapters::zettabgp::decode_walk(black_box(&msg), &zparams, &mut t);
        black_box(t);
    };
    let config = adapters::routecore::config(true);
    let mut run_routecore = || {
        let mut t = Tally::default();
        adapters::routecore::validate_walk(black_box(&msg), &config, &mut t);
        black_box(t);
    };
    // 200 runs of the message per timed round, so a round is long enough to time.
    fn repeat(run: &mut dyn FnMut()) -> impl FnMut() + '_ {
        move || (0..200).for_each(|_| run())
    }
    let (mut a, mut b2, mut c2, mut d, mut e, mut f, mut g) = (
        repeat(&mut run_floor),
        repeat(&mut run_ours_decode_only),
        repeat(&mut run_ours),
        repeat(&mut run_bgpkit),
        repeat(&mut run_netgauze),
        repeat(&mut run_zetta),
        repeat(&mut run_routecore),
    );
    benches::timing::print_interleaved(
        "nlri_ipv4_per_prefix, interleaved minimum of 30 rounds (one UPDATE with 1000 IPv4 /24s; per prefix):",
        200 * u64::from(PREFIXES),
        30,
        &mut [
            ("floor", &mut a),
            ("ours_decode_only", &mut b2),
            ("ours", &mut c2),
            ("bgpkit", &mut d),
            ("netgauze", &mut e),
            ("zettabgp", &mut f),
            ("routecore_walk", &mut g),
        ],
    );
    drop((a, b2, c2, d, e, f, g));
    let mut group = c.benchmark_group("nlri_ipv4_per_prefix");
    group.throughput(Throughput::Elements(u64::from(PREFIXES)));
    group.bench_function("floor", |b| b.iter(&mut run_floor));
    group.bench_function("ours_decode_only", |b| b.iter(&mut run_ours_decode_only));
    group.bench_function("ours", |b| b.iter(&mut run_ours));
    group.bench_function("bgpkit", |b| b.iter(&mut run_bgpkit));
    group.bench_function("netgauze", |b| b.iter(&mut run_netgauze));
    group.bench_function("zettabgp", |b| b.iter(&mut run_zetta));
    group.bench_function("routecore_walk", |b| b.iter(&mut run_routecore));
    group.finish();
}

fn config() -> Criterion {
    // Modest times so that `cargo bench -p benches` finishes in a few minutes on two cores.
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = codec;
    config = config();
    targets = decode_updates, decode_updates_modern, encode_updates, decode_rib_dump, nlri_ipv4_per_prefix
}
criterion_main!(codec);
