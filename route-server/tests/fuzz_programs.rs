//! The `route_server_inputs` fuzz target's body over fixed programs, on stable Rust (the
//! target has no seed corpus directory under `fuzz/corpus`; these programs stand in for
//! one).

mod support;

use route_server::fuzzing::{
    route_server_inputs, route_server_inputs_bounded, FUZZ_TARGET_MAX_LEN, FUZZ_TARGET_MAX_STEPS,
    MAX_STEPS, MAX_STEP_BYTES,
};

#[test]
fn empty_and_tiny_programs() {
    route_server_inputs(&[]);
    route_server_inputs(&[0]);
    route_server_inputs(&[0xff, 0xff]);
}

#[test]
fn announcements_withdrawals_and_failover() {
    // flags 0 (Azure defaults), ECMP width 8. Two NVAs announce 10.250.0.0/16 and
    // 10.250.1.0/24 (shape 12: plain path), one withdraws, the other resets, time passes.
    let run = route_server_inputs(&[
        0, 7, 0, 0, 1, 5, 6, 12, 0, 1, 1, 5, 6, 12, 4, 0, 5, 5, 7, 1, 8, 60, 11, 0,
    ]);
    assert!(run.max_programmed > 0, "{run:?}");
}

#[test]
fn branch_to_branch_preference_and_vnet_changes() {
    // b2b on, sticky preference; gateway and NVAs on the same prefixes; config changes.
    let program = [
        1, 7, 0, 4, 0, 7, 0, 1, 0, 7, 7, 7, 2, 1, 0, 7, 0, 3, 2, 2, 1, 7, 7, 0, 4, 7, 4, 7, 9, 5,
        9, 9, 9, 1, 9, 2, 9, 6, 9, 4, 6, 4, 6, 1, 11, 0,
    ];
    route_server_inputs(&program);
}

#[test]
fn limits_garbage_and_shutdowns() {
    // Per-message counting, a small limit hit by a big announcement, garbage, shutdown.
    let mut program = vec![0x10, 3];
    for i in 0..8u8 {
        program.extend_from_slice(&[0, 0, 3, i, i + 1, i + 2, i + 3, 0]);
    }
    program.extend_from_slice(&[10, 1, 5, 1, 2, 3, 4, 5, 9, 7, 9, 3, 11, 0, 9, 3, 11, 0]);
    route_server_inputs(&program);
}

#[test]
fn pseudo_random_programs() {
    let total = support::run_pseudo_random_programs(0x2545_f491_4f6c_dd1d, 40, 160);
    // The programs did reach the interesting paths.
    assert!(total.steps > 1000, "{total:?}");
    assert!(total.max_programmed >= 4, "{total:?}");
    assert!(total.limit_teardowns > 0, "{total:?}");
    assert!(total.rejected > 0, "{total:?}");
    assert!(total.received > 0, "{total:?}");
}

#[test]
fn smaller_peer_sets() {
    // Bits 6 and 7 of the first byte: two NVAs and both gateways, two NVAs and
    // ExpressRoute, one NVA and both gateways. In each, every peer announces
    // 10.250.0.0/16 and 172.16.0.0/16 (shape 12: its own ASN, the shared next hop), one peer resets and time
    // passes so that it comes back; the oracle checks every step.
    for set in 1..4u8 {
        let mut program = vec![set << 6, 7];
        for speaker in 0..4u8 {
            program.extend_from_slice(&[0, speaker, 1, 5, 7, 12]);
        }
        program.extend_from_slice(&[7, 1, 8, 60, 11, 0]);
        let run = route_server_inputs(&program);
        assert!(run.max_programmed >= 2, "set {set}: {run:?}");
        assert!(run.received > 0, "set {set}: {run:?}");
    }
}

#[test]
fn the_fuzz_target_runs_at_most_its_step_bound() {
    // 100 steps of "time passes 4 s" (op 8, argument 1: two bytes each): the stable
    // tests' bound runs 64 of them, the fuzz target's 16, and both check every step.
    let mut program = vec![0, 0];
    for _ in 0..100 {
        program.extend_from_slice(&[8, 1]);
    }
    assert_eq!(route_server_inputs(&program).steps, 64);
    assert_eq!(MAX_STEPS, 64);
    assert_eq!(
        route_server_inputs_bounded(&program, FUZZ_TARGET_MAX_STEPS).steps,
        16
    );
    // A shorter program runs whole under either bound.
    assert_eq!(route_server_inputs_bounded(&program[..12], 16).steps, 5);
}

/// A program whose every step reads the most bytes a step can: announcements of four
/// prefixes (operation 0, speaker, count 3 -> four, four pool indices, attribute shape).
fn longest_steps(steps: usize) -> Vec<u8> {
    let mut program = vec![0, 7];
    for i in 0..steps {
        let i = u8::try_from(i % 200).expect("small");
        program.extend_from_slice(&[0, i, 3, i, i + 1, i + 2, i + 3, 12]);
    }
    program
}

#[test]
fn the_fuzz_target_reads_at_most_its_max_len() {
    assert_eq!(MAX_STEP_BYTES, 8);
    assert_eq!(FUZZ_TARGET_MAX_LEN, 2 + 16 * 8);
    // The longest steps, more of them than the bound: exactly FUZZ_TARGET_MAX_LEN bytes
    // are read, whatever follows.
    let program = longest_steps(FUZZ_TARGET_MAX_STEPS + 4);
    let run = route_server_inputs_bounded(&program, FUZZ_TARGET_MAX_STEPS);
    assert_eq!(run.steps, FUZZ_TARGET_MAX_STEPS);
    assert_eq!(run.bytes_read, FUZZ_TARGET_MAX_LEN);
    assert_eq!(
        route_server_inputs_bounded(&program[..FUZZ_TARGET_MAX_LEN], FUZZ_TARGET_MAX_STEPS),
        run,
        "the bytes after FUZZ_TARGET_MAX_LEN change nothing"
    );
    // The stable tests' bound reads on.
    let long = route_server_inputs_bounded(&program, MAX_STEPS);
    assert_eq!(long.steps, FUZZ_TARGET_MAX_STEPS + 4);
    assert_eq!(long.bytes_read, program.len());
}

#[test]
fn no_step_reads_more_than_max_step_bytes() {
    // Every operation (the byte after the two setup bytes cycles through all twelve and
    // their arguments), on random bytes: the bytes read stay within the bound per step.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for program_index in 0..300u32 {
        let mut program = support::pseudo_random_program(&mut state, FUZZ_TARGET_MAX_LEN + 40);
        // The first operation is each of the twelve in turn.
        program[2] = u8::try_from(program_index % 12).expect("small");
        let run = route_server_inputs_bounded(&program, FUZZ_TARGET_MAX_STEPS);
        assert!(
            run.bytes_read <= 2 + run.steps * MAX_STEP_BYTES,
            "program {program_index}: {run:?}"
        );
        assert!(run.bytes_read <= FUZZ_TARGET_MAX_LEN, "{run:?}");
    }
}

#[test]
fn the_ci_runs_the_fuzz_target_with_its_max_len() {
    // .ci/run reads the target's libFuzzer options from this file.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/fuzz_targets/route_server_inputs.options"
    );
    let options = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let flags: Vec<&str> = options
        .lines()
        .filter_map(|l| l.strip_prefix("libfuzzer"))
        .filter_map(|l| l.trim_start().strip_prefix('='))
        .flat_map(str::split_whitespace)
        .collect();
    let max_len: Vec<&str> = flags
        .iter()
        .filter_map(|f| f.strip_prefix("-max_len="))
        .collect();
    assert_eq!(
        max_len,
        [FUZZ_TARGET_MAX_LEN.to_string()],
        "{path}: libfuzzer -max_len"
    );
}
