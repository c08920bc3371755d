//! Replays the cargo-fuzz seed corpus (`fuzz/corpus/<target>/`) through the same check
//! functions the fuzz targets call, on stable Rust, so the targets cannot rot and every
//! seed keeps passing its invariants.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("seed corpus {} unreadable: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect()
}

fn replay(target: &str, check: fn(&[u8])) {
    let seeds = corpus(target);
    assert!(seeds.len() >= 10, "{target}: only {} seeds", seeds.len());
    for (path, bytes) in &seeds {
        let outcome = std::panic::catch_unwind(|| check(bytes));
        assert!(
            outcome.is_ok(),
            "{target}: seed {} breaks an invariant",
            path.display()
        );
    }
}

#[test]
fn decode_message_seeds_hold_their_invariants() {
    replay("decode_message", bgp_wire::fuzzing::decode_message);
}

#[test]
fn roundtrip_update_seeds_hold_their_invariants() {
    replay("roundtrip_update", bgp_wire::fuzzing::roundtrip_update);
}

#[test]
fn decode_mrt_seeds_hold_their_invariants() {
    replay("decode_mrt", bgp_wire::fuzzing::decode_mrt);
}
