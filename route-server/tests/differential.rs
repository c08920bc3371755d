//! The differential test: random programs drive the route server (through its driver
//! API, with scripted peers speaking real BGP bytes) and the reference model (`route_server::reference`, written from the spec
//! alone) side by side; after every step what is programmed, what every peer holds, the
//! learned counts, the route-limit teardowns and the refused routes must agree (see
//! `route_server::fuzzing`). The same function is the `route_server_inputs` fuzz target.
//!
//! 1,000 programs of up to 64 steps each with all six peers, and 1,000 more on the
//! smaller peer sets: announcements, withdrawals, re-sends, sessions
//! reset and malformed messages, time passing (sessions return, limits flap), preference
//! switches, branch-to-branch toggles, VNet changes with their ROUTE-REFRESH answers,
//! shutdowns and restarts. `PROPTEST_CASES` raises the count.

mod support;

use proptest::prelude::*;
use route_server::fuzzing::route_server_inputs;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    ProptestConfig {
        cases,
        // Shrinking a 200-byte program is slow and the failure message already names the
        // step; keep it short.
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// All six peers (four NVAs, both gateways): the first byte's peer-set bits cleared.
    #[test]
    fn server_and_reference_model_agree(program in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut program = program;
        if let Some(flags) = program.first_mut() {
            *flags &= 0x3f;
        }
        route_server_inputs(&program);
    }

    /// The smaller peer sets the fuzz target also picks (bits 6 and 7 of the first byte).
    #[test]
    fn server_and_reference_model_agree_with_fewer_peers(
        set in 1u8..4,
        program in proptest::collection::vec(any::<u8>(), 1..200),
    ) {
        let mut program = program;
        program[0] = (program[0] & 0x3f) | (set << 6);
        route_server_inputs(&program);
    }
}

/// The programs reach what they are meant to exercise: a fixed pseudo-random sample of
/// the same shape as the proptest's, summed.
#[test]
fn random_programs_reach_limits_refusals_failovers_and_exports() {
    let total = support::run_pseudo_random_programs(0x9e37_79b9_7f4a_7c15, 200, 200);
    assert!(total.steps > 5_000, "{total:?}");
    assert!(total.max_programmed >= 6, "{total:?}");
    assert!(total.limit_teardowns > 10, "{total:?}");
    assert!(total.rejected > 100, "{total:?}");
    assert!(total.received > 10_000, "{total:?}");
}
