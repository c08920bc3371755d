//! The same scenario and seed give byte-identical output (a check of the simulator
//! against itself, named so).

use fabric_sim::{render, run, scenario};

fn replay_json(text: &str, seed: u64) -> String {
    let mut s = scenario::parse("default", text).expect("valid");
    s.seed = seed;
    let outcome = run::run(&s, |_| {}).expect("runs");
    render::outcome_json(&outcome).to_string()
}

#[test]
fn self_consistency_same_scenario_same_seed_same_bytes() {
    for file in [
        "04-active-passive-prepend.toml",
        "13-spoke-injection.toml",
        "33-hold-timer.toml",
        "25-multi-region-as-override.toml",
        "27-msee-hairpin.toml",
        "31-expressroute-ecmp-loss.toml",
    ] {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("scenarios")
                .join(file),
        )
        .expect("file");
        let first = replay_json(&text, 7);
        let second = replay_json(&text, 7);
        assert_eq!(first, second, "{file}");
    }
}

#[test]
fn self_consistency_default_scenario_tables_are_stable() {
    let a = replay_json(fabric_sim::DEFAULT_SCENARIO, 1);
    let b = replay_json(fabric_sim::DEFAULT_SCENARIO, 1);
    assert_eq!(a, b);
}
