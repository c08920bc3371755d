#![no_main]
// The program interpreter and its oracle live in route_server::fuzzing: the route server
// (driven through its public Input/Output API by six scripted peers that speak real BGP
// bytes) and the reference model (route_server::reference, written from the spec alone)
// run the same program and must agree after every step on what is programmed, what every
// peer holds, learned counts, route-limit teardowns and refused routes. Stable tests run
// the same interpreter: route-server/tests/differential.rs (1,000 proptest programs) and
// route-server/tests/fuzz_programs.rs (fixed programs and the seed corpus), with up to
// 64 steps, and with the reference model's self-check (a second model whose every pass
// covers every prefix); here a program runs at most 16 (FUZZ_TARGET_MAX_STEPS) without
// that self-check, so that each execution and each mutation stays cheap. CI builds and runs this target with the flags of
// route_server_inputs.options beside this file (no comparison tracing, no standard-library
// UB checks, -use_counters=0, -max_len=130 = FUZZ_TARGET_MAX_LEN); by hand:
//   RUSTFLAGS=-Zub-checks=no cargo +nightly fuzz run -s none --no-trace-compares \
//     route_server_inputs -- -max_len=130 -use_counters=0
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = route_server::fuzzing::route_server_inputs_fuzz_target(data);
});
