//! One pass of a decoder over the UPDATE corpus, for instruction counting.
//!
//! Timings on a shared machine move with its load; instruction counts do not. Run
//! under callgrind, counting only the decoding pass:
//!
//! ```sh
//! cargo build --release -p benches --example decode_instructions
//! valgrind --tool=callgrind --toggle-collect='*decode_pass*' \
//!     target/release/examples/decode_instructions ours
//! ```
//!
//! The argument picks the pass: `floor` (the zero-allocation walk), `ours` (decode into
//! owned values and walk them, as the `decode_updates` bench does), `ours_modern` (the
//! same over the 2016 RIS corpus), `nlri` (decode only, 1,000 IPv4 /24s in one
//! UPDATE, 100 times). The tally is printed so the pass cannot be optimised away.
#![allow(missing_docs)]

#[path = "../benches/adapters/ours.rs"]
#[allow(dead_code, unreachable_pub)]
mod ours;

use std::hint::black_box;

use benches::{Corpus, Tally};
use bgp_wire::{Message, SessionParams};

#[inline(never)]
fn decode_pass_floor(corpus: &Corpus, tally: &mut Tally) {
    for m in &corpus.messages {
        let _ = benches::floor::walk_update(black_box(&m.bytes), m.four_octet_as, tally);
    }
}

#[inline(never)]
fn decode_pass_ours(corpus: &Corpus, params: &[SessionParams], tally: &mut Tally) {
    for (m, p) in corpus.messages.iter().zip(params) {
        ours::decode_walk(black_box(&m.bytes), p, tally);
    }
}

#[inline(never)]
fn decode_pass_nlri(message: &[u8], params: &SessionParams) -> usize {
    let mut prefixes = 0;
    for _ in 0..100 {
        if let Ok(Message::Update(u)) = Message::parse(black_box(message), params) {
            prefixes += u.nlri.len();
        }
    }
    prefixes
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "ours".to_owned());
    let mut tally = Tally::default();
    match which.as_str() {
        "nlri" => {
            let message = benches::ipv4_slash24_update(1000);
            let params = SessionParams::modern();
            println!("{} prefixes", decode_pass_nlri(&message, &params));
            return;
        }
        "floor" | "ours" | "ours_modern" => {}
        other => panic!("unknown pass {other}: floor, ours, ours_modern or nlri"),
    }
    let corpus = if which == "ours_modern" {
        benches::modern_corpus()
    } else {
        benches::update_corpus()
    }
    .expect("the corpus files are in the repository");
    let params: Vec<SessionParams> = corpus.messages.iter().map(|m| m.params()).collect();
    if which == "floor" {
        decode_pass_floor(&corpus, &mut tally);
    } else {
        decode_pass_ours(&corpus, &params, &mut tally);
    }
    println!(
        "{} messages, {} prefixes, {} AS numbers, {} communities",
        tally.messages, tally.prefixes, tally.asns, tally.communities
    );
}
