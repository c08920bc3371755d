//! Every scenario file under `fabric-sim/scenarios/` replayed, each expectation checked.
//! Expected values are written in the files from the spec's text (section 2), never
//! from the simulator's output; where the spec leaves a choice open, the file's `choices`
//! say which one it makes.

use std::path::Path;

use fabric_sim::run;
use fabric_sim::scenario;

fn replay(file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(file);
    let s = scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(!s.expectations.is_empty(), "{file} has no expectations");
    let outcome = run::run(&s, |_| {}).unwrap_or_else(|e| panic!("{file}: {e}"));
    let failed: Vec<String> = outcome
        .results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| format!("  at {:?} {}: {} (found: {})", r.at, r.location, r.description, r.found))
        .collect();
    assert!(failed.is_empty(), "{file}: {} expectation(s) failed:\n{}", failed.len(), failed.join("\n"));
    assert_eq!(outcome.results.len(), s.expectations.len(), "{file}: every expectation checked");
}

macro_rules! scenarios {
    ($($(#[$attr:meta])* $name:ident => $file:literal,)*) => {
        $(
            #[test]
            $(#[$attr])*
            fn $name() {
                replay($file);
            }
        )*

        /// No scenario file is left out of the list above.
        #[test]
        fn every_scenario_file_is_replayed() {
            let listed: Vec<&str> = vec![$($file),*];
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
            let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
                .expect("scenarios directory")
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".toml"))
                .collect();
            on_disk.sort();
            for f in &on_disk {
                assert!(listed.contains(&f.as_str()), "{f} is not replayed by tests/scenarios.rs");
            }
        }
    };
}

scenarios! {
    s01_overview => "01-overview.toml",
}
