#![no_main]
// The program interpreter and its invariants live in bgp_fsm::fuzzing so a stable test
// (bgp-fsm/tests/properties.rs) runs the same function over fixed programs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bgp_fsm::fuzzing::fsm_inputs(data);
});
