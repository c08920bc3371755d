#![no_main]
// The program interpreter and its oracle are route-server/src/fuzzing.rs: the route server
// (driven through its public Input/Output API by six scripted peers that speak real BGP
// bytes) and the reference model (route-server/src/reference.rs, written from the spec
// alone) run the same program and must agree after every step on what is programmed, what
// every peer holds, learned counts, route-limit teardowns and refused routes. Stable tests
// run the same interpreter as `route_server::fuzzing`: route-server/tests/differential.rs
// (1,000 proptest programs) and route-server/tests/fuzz_programs.rs (fixed programs and
// the seed corpus), with up to 64 steps, and with the reference model's self-check (a
// second model whose every pass covers every prefix); here a program runs at most 16
// (FUZZ_TARGET_MAX_STEPS) without that self-check, so that each execution and each
// mutation stays cheap.
//
// This crate compiles the two files itself (the same source, not a copy) instead of
// calling `route_server::fuzzing`, so that they can be built without coverage
// instrumentation while the route server, bgp-fsm, bgp-wire and rib keep theirs: the
// oracle's own branches are not the code under test, and as features they cost libFuzzer
// as much as the server's (a fifth of the edges each execution covered, and libFuzzer's
// bookkeeping per covered edge is about as costly as the target itself). .ci/run builds
// this target with the flags of route_server_inputs.options beside this file (no
// comparison tracing, no standard-library UB checks, no stack-depth tracing, code for the
// machine it runs on, this crate uninstrumented through ../rustc-without-coverage,
// -use_counters=0, -max_len=130 = FUZZ_TARGET_MAX_LEN); by hand, from fuzz/:
//   RUSTC_WRAPPER=$PWD/rustc-without-coverage RUSTC_WITHOUT_COVERAGE=route_server_inputs \
//   RUSTFLAGS="-Zub-checks=no -Cllvm-args=-sanitizer-coverage-stack-depth=false -Ctarget-cpu=native" \
//     cargo +nightly fuzz run -s none --no-trace-compares route_server_inputs -- \
//     -max_len=130 -use_counters=0

// What the two files name from the route server's crate root (their `crate::` paths).
use route_server::{
    Config, ConnectionId, Event, HubRoutingPreference, Input, Instant, LimitCounting, Output,
    PeerConfig, PeerId, PeerKind, PeeredVnet, RouteServer, AZURE_ASN, AZURE_HOLD_TIME_SECS,
};

#[allow(dead_code)]
#[path = "../../route-server/src/reference.rs"]
mod reference;

#[allow(dead_code)]
#[path = "../../route-server/src/fuzzing.rs"]
mod fuzzing;

// malloc and free were a fifth of each execution's instructions with the system allocator
// (BENCHMARKS.md, seventh round); the crates under test do not choose an allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fuzzing::route_server_inputs_fuzz_target(data);
});
