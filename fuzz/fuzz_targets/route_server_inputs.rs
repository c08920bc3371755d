#![no_main]
// The program interpreter and its invariants (the fabric always equals what the
// Adj-RIBs-In imply; every established speaker holds what was advertised to it) live in
// route_server::fuzzing so a stable test (route-server/tests/fuzz_programs.rs) runs the
// same function over fixed programs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = route_server::fuzzing::route_server_inputs(data);
});
