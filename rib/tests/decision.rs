//! Table-driven decision-process cases from `tests/data/decision.toml`.

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::{Nlri, Origin};
use ipnet::IpNet;
use rib::{DecisionStep, PathRef, PeerId, PeerInfo, Rib, RibConfig};
use serde::Deserialize;

use common::{parse_as_path, Attrs};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    config: Overrides,
    winner: String,
    decided_by: String,
    beaten: Option<BTreeMap<String, String>>,
    ecmp: Option<Vec<String>>,
    paths: Vec<PathSpec>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Overrides {
    azure: Option<bool>,
    default_local_pref: Option<u32>,
    ignore_as_path_length: Option<bool>,
    always_compare_med: Option<bool>,
    missing_med_as_worst: Option<bool>,
    prefer_older_external: Option<bool>,
    ecmp_up_to: Option<String>,
    ecmp_max_paths: Option<usize>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct PathSpec {
    name: String,
    peer: IpAddr,
    asn: Option<u32>,
    bgp_id: Option<Ipv4Addr>,
    ebgp: Option<bool>,
    igp_cost: Option<u32>,
    as_path: Option<String>,
    origin: Option<String>,
    local_pref: Option<u32>,
    med: Option<u32>,
    originator_id: Option<Ipv4Addr>,
    #[serde(default)]
    cluster_list: Vec<Ipv4Addr>,
    path_id: Option<u32>,
}

fn step(name: &str, case: &str) -> DecisionStep {
    DecisionStep::from_name(name).unwrap_or_else(|| panic!("{case}: unknown step {name:?}"))
}

fn config_of(case: &Case) -> RibConfig {
    let o = &case.config;
    let mut config = if o.azure == Some(true) {
        RibConfig::azure()
    } else {
        RibConfig::default()
    };
    if let Some(v) = o.default_local_pref {
        config.default_local_pref = v;
    }
    if let Some(v) = o.ignore_as_path_length {
        config.ignore_as_path_length = v;
    }
    if let Some(v) = o.always_compare_med {
        config.med.always_compare = v;
    }
    if let Some(v) = o.missing_med_as_worst {
        config.med.missing_as_worst = v;
    }
    if let Some(v) = o.prefer_older_external {
        config.prefer_older_external = v;
    }
    if let Some(v) = &o.ecmp_up_to {
        config.ecmp_up_to = step(v, &case.name);
    }
    if let Some(v) = o.ecmp_max_paths {
        config.ecmp_max_paths = v;
    }
    config
}

fn attrs_of(spec: &PathSpec, index: usize) -> Attrs {
    let origin = match spec.origin.as_deref().unwrap_or("igp") {
        "igp" => Some(Origin::Igp),
        "egp" => Some(Origin::Egp),
        "incomplete" => Some(Origin::Incomplete),
        "none" => None,
        other => panic!("unknown origin {other:?}"),
    };
    Attrs {
        as_path: Some(parse_as_path(spec.as_path.as_deref().unwrap_or("64999"))),
        origin,
        local_pref: spec.local_pref,
        med: spec.med,
        originator_id: spec.originator_id,
        cluster_list: spec.cluster_list.clone(),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, index as u8 + 1)),
    }
}

struct Outcome {
    best: String,
    ecmp: Vec<String>,
    beaten: BTreeMap<String, DecisionStep>,
}

/// Loads the case's paths in `order` into a fresh RIB and reads the outcome.
fn run(case: &Case, order: &[usize]) -> Outcome {
    let prefix: IpNet = "10.1.0.0/16".parse().unwrap();
    let mut rib = Rib::new(config_of(case));
    // Peers are registered in spec order whatever the arrival order, so ids are stable.
    let mut peers: Vec<(IpAddr, PeerId)> = Vec::new();
    for (index, spec) in case.paths.iter().enumerate() {
        if peers.iter().any(|(addr, _)| *addr == spec.peer) {
            continue;
        }
        let info = PeerInfo {
            address: spec.peer,
            asn: spec.asn.unwrap_or(65000 + index as u32),
            bgp_id: spec.bgp_id.unwrap_or(match spec.peer {
                IpAddr::V4(a) => a,
                IpAddr::V6(_) => Ipv4Addr::new(1, 1, 1, index as u8),
            }),
            is_ebgp: spec.ebgp.unwrap_or(true),
            igp_cost: spec.igp_cost.unwrap_or(0),
        };
        peers.push((spec.peer, rib.add_peer(info).unwrap()));
    }
    let peer_of = |addr: IpAddr| peers.iter().find(|(a, _)| *a == addr).unwrap().1;
    for &index in order {
        let spec = &case.paths[index];
        let nlri = Nlri {
            prefix,
            path_id: spec.path_id,
        };
        let _ = rib
            .announce(peer_of(spec.peer), &[nlri], &attrs_of(spec, index).to_vec())
            .unwrap();
    }
    let name_of = |path: &PathRef| {
        case.paths
            .iter()
            .find(|s| peer_of(s.peer) == path.peer && s.path_id == path.path_id)
            .map(|s| s.name.clone())
            .unwrap()
    };
    let explanation = rib
        .explain(prefix)
        .unwrap_or_else(|| panic!("{}: no route", case.name));
    assert_eq!(
        Some(explanation.winner),
        rib.best(prefix),
        "{}: explain and best disagree",
        case.name
    );
    assert_eq!(
        explanation.ecmp,
        rib.ecmp(prefix),
        "{}: explain and ecmp disagree",
        case.name
    );
    Outcome {
        best: name_of(&explanation.winner),
        ecmp: explanation.ecmp.iter().map(name_of).collect(),
        beaten: explanation
            .beaten
            .iter()
            .map(|(p, s)| (name_of(p), *s))
            .collect(),
    }
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for rest in permutations(n - 1) {
        for at in 0..=rest.len() {
            let mut p = rest.clone();
            p.insert(at, n - 1);
            out.push(p);
        }
    }
    out
}

#[test]
fn decision_cases_from_data_file() {
    let text = include_str!("data/decision.toml");
    let file: File = toml::from_str(text).expect("decision.toml parses");
    assert!(file.case.len() >= 30, "the data file holds the cases");
    let mut steps_seen = std::collections::BTreeSet::new();
    for case in &file.case {
        let arrival: Vec<usize> = (0..case.paths.len()).collect();
        let outcome = run(case, &arrival);
        assert_eq!(outcome.best, case.winner, "{}: winner", case.name);
        assert_eq!(
            outcome.beaten.len(),
            case.paths.len() - 1,
            "{}: every loser has a step",
            case.name
        );
        let decided = *outcome.beaten.values().max().unwrap();
        assert_eq!(
            decided,
            step(&case.decided_by, &case.name),
            "{}: deciding step",
            case.name
        );
        steps_seen.insert(decided);
        if let Some(beaten) = &case.beaten {
            let expected: BTreeMap<String, DecisionStep> = beaten
                .iter()
                .map(|(n, s)| (n.clone(), step(s, &case.name)))
                .collect();
            assert_eq!(outcome.beaten, expected, "{}: steps per loser", case.name);
        }
        match &case.ecmp {
            Some(ecmp) => assert_eq!(&outcome.ecmp, ecmp, "{}: ECMP set", case.name),
            None => assert_eq!(
                outcome.ecmp,
                std::slice::from_ref(&outcome.best),
                "{}: no ECMP configured",
                case.name
            ),
        }
        if case.config.prefer_older_external != Some(true) {
            for order in permutations(case.paths.len()) {
                let other = run(case, &order);
                assert_eq!(
                    other.best, outcome.best,
                    "{}: winner with arrival order {order:?}",
                    case.name
                );
                assert_eq!(
                    other.ecmp, outcome.ecmp,
                    "{}: ECMP with arrival order {order:?}",
                    case.name
                );
                assert_eq!(
                    other.beaten, outcome.beaten,
                    "{}: steps with arrival order {order:?}",
                    case.name
                );
            }
        }
    }
    // Every step decides at least one case.
    assert_eq!(
        steps_seen.into_iter().collect::<Vec<_>>(),
        DecisionStep::ALL.to_vec()
    );
}

#[test]
fn as_path_parser_reads_every_segment_kind() {
    let path = parse_as_path("1 2 {3 4} (5 6) [7] 8");
    assert_eq!(path.segments.len(), 5);
    assert_eq!(path.path_length(), 2 + 1 + 1);
    assert_eq!(path.first_as(), Some(1));
}
