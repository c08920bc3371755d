//! Session benchmarks: a stream of real UPDATEs pushed through
//! `bgp_fsm::Session::handle_input` of an Established session, in chunks of 1, 64, 4096
//! and 65536 bytes, against plain `bgp-wire` framing and decoding of the same bytes, so
//! the cost of framing across chunk boundaries and of handing UPDATEs out as events shows.
//!
//! The stream: every UPDATE of the codec corpus, decoded with the parameters its MRT
//! subtype implies and re-encoded for the benchmark session (4-octet AS, extended
//! messages), then concatenated. Both paths walk each UPDATE into the same
//! [`benches::Tally`], so they do the same work after decoding.
//!
//! `cargo bench -p benches --bench session`.
#![allow(missing_docs)] // criterion's macros generate undocumented items.

#[path = "adapters/ours.rs"]
#[allow(dead_code)] // only the walk is used here
mod ours;

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Duration;

use benches::Tally;
use bgp_fsm::testing::Pair;
use bgp_fsm::{Input, Instant, Output, Session, SessionConfig, SessionEvent, State};
use bgp_wire::{Afi, Family, Message, Safi, SessionParams};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn families() -> Vec<Family> {
    vec![
        Family::IPV4_UNICAST,
        Family::IPV6_UNICAST,
        Family::new(Afi::IPV4, Safi::MULTICAST),
        Family::new(Afi::IPV6, Safi::MULTICAST),
    ]
}

fn config(asn: u32, id: Ipv4Addr, peer: u32) -> SessionConfig {
    let mut config = SessionConfig::new(asn, id, peer);
    config.capabilities.families = families();
    config.capabilities.four_octet_as = true;
    config.capabilities.extended_message = true;
    config
}

/// A session in Established, reached through the in-memory pair harness, and the time
/// it got there (no timer is due before the hold time passes).
fn established() -> (Session, Instant) {
    let a = config(64512, Ipv4Addr::new(192, 0, 2, 1), 64513);
    let mut b = config(64513, Ipv4Addr::new(192, 0, 2, 2), 64512);
    b.passive = true;
    let mut pair = Pair::new(a, b);
    pair.start_both();
    pair.drive();
    assert_eq!(pair.a.session.state(), State::Established);
    let now = pair.now;
    (pair.a.session, now)
}

/// Pushes `stream` through `session` in chunks of `chunk`, draining after every input
/// as the crate's driving rule says, walking each UPDATE handed out.
fn feed(session: &mut Session, now: Instant, stream: &[u8], chunk: usize, tally: &mut Tally) {
    for piece in stream.chunks(chunk) {
        session.handle_input(now, Input::Received(piece));
        while let Some(output) = session.poll_output() {
            if let Output::Event(SessionEvent::Update(update)) = output {
                ours::walk(&update, tally);
            }
        }
    }
}

/// Frames and decodes `stream` with `bgp-wire` alone, walking each UPDATE.
fn plain(stream: &[u8], params: &SessionParams, tally: &mut Tally) {
    let mut rest = stream;
    while let Ok(Some(len)) = bgp_wire::frame(rest, params) {
        let (message, next) = rest.split_at(len);
        if let Ok(Message::Update(update)) = Message::parse(message, params) {
            ours::walk(&update, tally);
        }
        rest = next;
    }
}

fn session(c: &mut Criterion) {
    let corpus = benches::update_corpus().expect("the corpus files are in the repository");
    let (mut session, now) = established();
    let params = session.negotiated().expect("established").receive.clone();
    let mut stream = Vec::new();
    let mut messages = 0u64;
    for m in &corpus.messages {
        if let Ok(msg) = Message::parse(&m.bytes, &m.params()) {
            msg.emit(&mut stream, &params);
            messages += 1;
        }
    }

    // Untimed check: the session takes the whole stream and stays up.
    let mut reference = Tally::default();
    plain(&stream, &params, &mut reference);
    let mut through_session = Tally::default();
    feed(&mut session, now, &stream, 4096, &mut through_session);
    assert_eq!(
        session.state(),
        State::Established,
        "the stream does not reset the session"
    );
    println!(
        "\nSession stream: {} UPDATEs, {} prefixes, {} bytes; plain decode: {} UPDATEs; session: {} UPDATEs, {} differences",
        messages,
        reference.prefixes,
        stream.len(),
        reference.messages,
        through_session.messages,
        through_session.differences(&reference).len()
    );

    let session = std::cell::RefCell::new(session);
    let run = |chunk: usize| {
        let mut t = Tally::default();
        if chunk == 0 {
            plain(black_box(&stream), &params, &mut t);
        } else {
            feed(
                &mut session.borrow_mut(),
                now,
                black_box(&stream),
                chunk,
                &mut t,
            );
        }
        black_box(t);
    };
    let names = [
        "plain_decode",
        "handle_input_chunk_1",
        "handle_input_chunk_64",
        "handle_input_chunk_4096",
        "handle_input_chunk_65536",
    ];
    let chunks = [0, 1, 64, 4096, 65536];
    let mut jobs: Vec<_> = chunks.iter().map(|&chunk| move || run(chunk)).collect();
    let mut refs: Vec<benches::timing::Job<'_>> = names
        .iter()
        .zip(jobs.iter_mut())
        .map(|(name, job)| (*name, job as &mut dyn FnMut()))
        .collect();
    benches::timing::print_interleaved(
        "session_updates, interleaved minimum of 8 rounds (per UPDATE of the stream):",
        messages,
        8,
        &mut refs,
    );

    let mut group = c.benchmark_group("session_updates");
    group.throughput(Throughput::Elements(messages));
    for (name, chunk) in names.iter().zip(chunks) {
        group.bench_function(*name, |b| b.iter(|| run(chunk)));
    }
    group.finish();
    assert_eq!(session.borrow().state(), State::Established);
}

fn config_criterion() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = sessions;
    config = config_criterion();
    targets = session
}
criterion_main!(sessions);
