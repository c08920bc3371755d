#![no_main]
// The check lives in bgp_wire::fuzzing so a stable test can replay the corpus through it.
libfuzzer_sys::fuzz_target!(|data: &[u8]| bgp_wire::fuzzing::decode_mrt(data));
