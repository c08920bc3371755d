//! What `fabric-sim run` and `report` keep of the effective routes ([`RunOptions`]): the
//! tables kept must be the ones a fresh replay computes (a self-consistency check: the
//! simulator against itself), shared between stops where nothing changed, and limited to
//! the VMs the file names above the size limit.

use std::path::Path;
use std::rc::Rc;

use fabric_sim::run::{self, RunOptions};
use fabric_sim::scenario::{self, Check};

fn load(file: &str) -> scenario::Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn self_consistency_kept_tables_equal_a_fresh_replay_to_each_stop() {
    let s = load("22-non-revertive-failover.toml");
    let outcome = run::run_with(&s, &RunOptions::default(), |_| {}).expect("runs");
    assert!(outcome.snapshots.len() > 2);
    for snap in &outcome.snapshots {
        let sim = run::run_to(&s, snap.at).expect("runs");
        for (vm, (name, table)) in snap.routes.iter().enumerate() {
            assert_eq!(*name, s.topology.vms[vm].name);
            assert_eq!(**table, sim.effective_routes(vm), "{name} at {:?}", snap.at);
        }
    }
}

#[test]
fn stops_with_nothing_changed_between_them_share_their_tables() {
    // Scenario 01's expectations sit at 5 s and later, long after the NVAs' sessions
    // settled: those stops see the same tables.
    let s = load("01-overview.toml");
    let outcome = run::run_with(&s, &RunOptions::default(), |_| {}).expect("runs");
    let shared = outcome.snapshots.windows(2).any(|w| {
        w[0].routes
            .iter()
            .zip(&w[1].routes)
            .all(|((_, a), (_, b))| Rc::ptr_eq(a, b))
    });
    assert!(shared, "no two consecutive stops shared their tables");
}

#[test]
fn end_only_keeps_one_snapshot_at_the_end() {
    let s = load("22-non-revertive-failover.toml");
    let options = RunOptions {
        end_only: true,
        vms: None,
    };
    let outcome = run::run_with(&s, &options, |_| {}).expect("runs");
    assert_eq!(outcome.snapshots.len(), 1);
    assert_eq!(outcome.snapshots[0].at, s.duration);
    assert_eq!(outcome.results.len(), s.expectations.len());
    assert!(outcome.passed());
}

#[test]
fn above_the_limit_only_the_vms_the_expectations_name_are_kept() {
    let s = load("22-non-revertive-failover.toml");
    assert_eq!(RunOptions::vms_for(&s, s.topology.vms.len()), None);
    let named: Vec<usize> = {
        let mut v: Vec<usize> = s
            .expectations
            .iter()
            .filter_map(|x| match &x.check {
                Check::Route { vm, .. } | Check::Trace { vm, .. } => Some(*vm),
                _ => None,
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    assert!(!named.is_empty());
    let vms = RunOptions::vms_for(&s, 0).expect("over the limit");
    assert_eq!(vms, named);
    let options = RunOptions {
        end_only: true,
        vms: Some(vms),
    };
    let outcome = run::run_with(&s, &options, |_| {}).expect("runs");
    let kept: Vec<&str> = outcome.snapshots[0]
        .routes
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    let want: Vec<&str> = named
        .iter()
        .map(|vm| s.topology.vms[*vm].name.as_str())
        .collect();
    assert_eq!(kept, want);
}
