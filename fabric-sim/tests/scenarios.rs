//! Every scenario file under `fabric-sim/scenarios/` replayed, each expectation checked.
//! Expected values are written in the files from the spec's text (section 2), never
//! from the simulator's output; where the spec leaves a choice open, the file's `choices`
//! say which one it makes.

use std::path::Path;

use fabric_sim::run;
use fabric_sim::scenario;

fn replay(file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    let s = scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(!s.expectations.is_empty(), "{file} has no expectations");
    let outcome = run::run(&s, |_| {}).unwrap_or_else(|e| panic!("{file}: {e}"));
    let failed: Vec<String> = outcome
        .results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| {
            format!(
                "  at {:?} {}: {} (found: {})",
                r.at, r.location, r.description, r.found
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{file}: {} expectation(s) failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    assert_eq!(
        outcome.results.len(),
        s.expectations.len(),
        "{file}: every expectation checked"
    );
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
    s02_default_route_self_loop => "02-default-route-self-loop.toml",
    s03_ecmp => "03-ecmp.toml",
    s04_active_passive_prepend => "04-active-passive-prepend.toml",
    s05_half_peered_nva => "05-half-peered-nva.toml",
    s06_inconsistent_sessions => "06-inconsistent-sessions.toml",
    s07_route_limit_at_once => "07-route-limit-at-once.toml",
    s08_route_limit_readvertise => "08-route-limit-readvertise.toml",
    s09_own_asn_loop => "09-own-asn-loop.toml",
    s10_as_zero => "10-as-zero.toml",
    s11_reserved_asn => "11-reserved-asn.toml",
    s12_prefix_inside_vnet => "12-prefix-inside-vnet.toml",
    s13_spoke_injection => "13-spoke-injection.toml",
    s14_propagation_toggle => "14-propagation-toggle.toml",
    s15_no_advertise => "15-no-advertise.toml",
    s16_communities_kept => "16-communities-kept.toml",
    s17_branch_to_branch_off => "17-branch-to-branch-off.toml",
    s18_branch_to_branch_on => "18-branch-to-branch-on.toml",
    s19_vpn_gateway_transit => "19-vpn-gateway-transit.toml",
    s20_routing_preference => "20-routing-preference.toml",
    s21_lpm_beats_preference => "21-lpm-beats-preference.toml",
    s22_non_revertive_failover => "22-non-revertive-failover.toml",
    s23_default_route_vs_expressroute => "23-default-route-vs-expressroute.toml",
    s24_next_hop_ilb => "24-next-hop-ilb.toml",
    s25_multi_region_as_override => "25-multi-region-as-override.toml",
    s26_dual_homed_spoke => "26-dual-homed-spoke.toml",
    s27_msee_hairpin => "27-msee-hairpin.toml",
    s28_anycast => "28-anycast.toml",
    s29_avs_default_route => "29-avs-default-route.toml",
    s30_instance_maintenance => "30-instance-maintenance.toml",
    s31_expressroute_ecmp_loss => "31-expressroute-ecmp-loss.toml",
    s32_peer_count_limit => "32-peer-count-limit.toml",
    s33_hold_timer => "33-hold-timer.toml",
    s34_ipv6 => "34-ipv6.toml",
    s90_malformed_update => "90-malformed-update.toml",
    s91_stalled_sender => "91-stalled-sender.toml",
    s35_route_maps => "35-route-maps.toml",
}
