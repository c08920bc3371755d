//! Property tests: arbitrary programs of inputs and bytes never panic, never transmit
//! after a NOTIFICATION, and only report Established after a valid OPEN and KEEPALIVE
//! (the checks live in `bgp_fsm::fuzzing::fsm_inputs`, shared with the cargo-fuzz
//! target); two sessions establish and exchange the same UPDATEs whatever the chunking
//! and timing.

mod common;

use bgp_fsm::fuzzing::fsm_inputs;
use bgp_fsm::testing::Pair;
use bgp_fsm::State;
use bgp_wire::Family;
use common::*;
use proptest::prelude::*;

/// Fixed programs for the fuzz body, so the target cannot rot unnoticed.
#[test]
fn fuzz_body_runs_fixed_programs() {
    // Config byte 0: active, no DelayOpen. Then: ManualStart, Tcp_CR_Acked, the peer's
    // OPEN, its KEEPALIVE: Established.
    let report = fsm_inputs(&[0, 0, 10, 20, 21]);
    assert_eq!(report.established, 1);
    assert_eq!(report.final_state, Some(State::Established));

    // Same, then ManualStop: one NOTIFICATION (Cease), Idle.
    let report = fsm_inputs(&[0, 0, 10, 20, 21, 1]);
    assert_eq!((report.established, report.notifications_sent), (1, 1));
    assert_eq!(report.final_state, Some(State::Idle));

    // Passive with DelayOpen (config byte 3): ManualStart, TcpConnectionConfirmed, OPEN
    // and KEEPALIVE cut after 30 bytes: Established without waiting.
    let report = fsm_inputs(&[3, 0, 11, 22, 30]);
    assert_eq!(report.established, 1);

    // Established, then silence until the hold timer: NOTIFICATION 4/0, then the
    // automatic restart goes back to Connect.
    let report = fsm_inputs(&[0, 0, 10, 20, 21, 17, 17, 17, 17, 17]);
    assert_eq!(report.notifications_sent, 1);
    assert_eq!(report.final_state, Some(State::Connect));

    // A KEEPALIVE before any OPEN, in OpenSent: FSM error, Idle, never Established.
    let report = fsm_inputs(&[0, 0, 10, 21, 20]);
    assert_eq!((report.established, report.notifications_sent), (0, 1));

    // Garbage, empty programs, time jumps: nothing to report, nothing panics.
    for program in [
        &[][..],
        &[255],
        &[0, 18, 5, 1, 2, 3, 4, 5],
        &[1, 16, 255, 16, 255, 17, 0, 17],
    ] {
        let report = fsm_inputs(program);
        assert_eq!(report.established, 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_programs_keep_the_invariants(program in proptest::collection::vec(any::<u8>(), 0..200)) {
        fsm_inputs(&program);
    }

    #[test]
    fn programs_of_valid_steps_keep_the_invariants(
        config in 0u8..4,
        steps in proptest::collection::vec(prop_oneof![Just(0u8), Just(10), Just(11), Just(12), Just(17), Just(20), Just(21), Just(22), Just(1), Just(14), 0u8..=255], 0..60),
    ) {
        let mut program = vec![config];
        program.extend(steps);
        fsm_inputs(&program);
    }

    #[test]
    fn any_chunking_and_timing_delivers_the_same_updates(chunk in 1usize..100, waits in proptest::collection::vec(0u64..40, 0..6)) {
        let mut pair = Pair::new(local_config(), peer_config());
        pair.chunk_size = Some(chunk);
        pair.start_both();
        pair.drive();
        prop_assert_eq!(pair.a.session.state(), State::Established);
        for (i, wait) in waits.iter().enumerate() {
            let until = pair.now + std::time::Duration::from_secs(*wait);
            pair.run_until(until);
            let now = pair.now;
            let update = bgp_wire::Update::ipv4_withdrawal([bgp_wire::Nlri::new(format!("10.0.{i}.0/24").parse().unwrap())]);
            pair.a.session.send_update(now, &update).unwrap();
            pair.drive();
        }
        pair.a.session.send_end_of_rib(pair.now, Family::IPV4_UNICAST).unwrap();
        pair.drive();
        prop_assert_eq!(pair.b.session.state(), State::Established);
        let received = pair.b.events().filter(|e| matches!(e, bgp_fsm::SessionEvent::Update(_))).count();
        prop_assert_eq!(received, waits.len() + 1);
        prop_assert_eq!(pair.b.session.counters().prefixes(Family::IPV4_UNICAST).withdrawn, waits.len() as u64);
    }
}
