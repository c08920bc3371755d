//! The outputs of the route-server bench cases, pinned byte for byte.
//!
//! This check compares the code with itself, not with the spec: the hashes below were
//! recorded by running these cases on `main` at commit 44df2ca (before the performance
//! work of issue 9), and every optimisation must leave every output (each UPDATE's bytes,
//! each fabric change, each event, in order) exactly as it was. Correctness is the other
//! tests' business (scenarios, the reference model's differential test); this one says
//! "behaviour did not move".
//!
//! The workloads are the bench's own (`benches/support/workload.rs`). When a behaviour
//! change is intended, print the new hashes with
//! `cargo test -p route-server --test bench_outputs -- --nocapture` and say why in the
//! commit.

#[path = "../benches/support/workload.rs"]
mod workload;

use workload::{Tally, CASES};

fn tally_of(name: &str) -> Tally {
    let case = CASES
        .iter()
        .find(|c| c.name == name)
        .expect("a case of the bench");
    let mut setup = case.prepare();
    let tally = case.measure(&mut setup, true);
    println!("{name}: {tally:?} (hash {:#018x})", tally.hash);
    tally
}

#[test]
fn self_comparison_eight_nvas_4000_routes_outputs_unchanged_since_44df2ca() {
    let tally = tally_of("eight_nvas_4000_routes");
    assert_eq!(
        (tally.updates_out, tally.bytes_out, tally.fabric_changes),
        (224, 905_632, 32_000)
    );
    assert_eq!(tally.hash, 0x43ca_9806_ddde_9b11);
}

#[test]
fn self_comparison_one_peer_to_seven_100k_outputs_unchanged_since_44df2ca() {
    let tally = tally_of("one_peer_to_seven_100k");
    assert_eq!(
        (tally.updates_out, tally.bytes_out, tally.fabric_changes),
        (693, 2_829_799, 100_000)
    );
    assert_eq!(tally.hash, 0x1145_c139_d9fc_dc44);
}

#[test]
fn self_comparison_withdraw_all_one_to_one_100k_outputs_unchanged_since_44df2ca() {
    let tally = tally_of("withdraw_all_one_to_one_100k");
    assert_eq!(
        (tally.updates_out, tally.bytes_out, tally.fabric_changes),
        (99, 402_277, 100_000)
    );
    assert_eq!(tally.hash, 0xbf92_a989_03b5_3685);
}

#[test]
fn self_comparison_one_to_three_100k_outputs_unchanged_since_44df2ca() {
    let tally = tally_of("one_to_three_100k");
    assert_eq!(
        (tally.updates_out, tally.bytes_out, tally.fabric_changes),
        (297, 1_212_771, 100_000)
    );
    assert_eq!(tally.hash, 0x9dd4_7a71_9814_0fa6);
}

/// The sender withdraws its 100,000 /24s in UPDATEs of its own. The counts follow from
/// RFC 4271 section 4.3 alone: an UPDATE of withdrawals only is 23 bytes (19 of header, two
/// 2-byte lengths) plus 4 per /24 (length octet and three address octets), so a 4,096-byte
/// UPDATE carries 1,018 of them and 100,000 take 99 UPDATEs and 400,000 + 99 x 23 bytes;
/// every prefix leaves the fabric once. The hash pins the rest (recorded at 2b8b965,
/// before the withdrawal work).
#[test]
fn self_comparison_withdraw_by_update_one_to_one_100k_outputs_unchanged_since_2b8b965() {
    let tally = tally_of("withdraw_by_update_one_to_one_100k");
    assert_eq!(
        (tally.updates_out, tally.bytes_out, tally.fabric_changes),
        (99, 400_000 + 99 * 23, 100_000)
    );
    assert_eq!(tally.hash, 0x5248_9e85_cc14_5344);
}
