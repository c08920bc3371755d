//! Replaying a scenario: the timeline runs, each expectation is checked at its time.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::time::Duration;

use ipnet::IpNet;

use crate::effective::EffectiveRoute;
use crate::engine::{LogLine, RunError, SessionRow, Sim};
use crate::scenario::{Check, Expectation, Scenario};
use crate::trace::trace;
use crate::Instant;

/// One expectation's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    /// When it was checked.
    pub at: Duration,
    /// Where it is written.
    pub location: String,
    /// What it checks, in words.
    pub description: String,
    /// Whether it held.
    pub passed: bool,
    /// What was found.
    pub found: String,
}

/// Effective routes of every VM (or of those [`RunOptions::vms`] names) at one moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// When.
    pub at: Duration,
    /// `(VM name, its effective routes)`; VMs sharing a route view share the table.
    pub routes: Vec<(String, Rc<Vec<EffectiveRoute>>)>,
}

/// What a replay produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The scenario's name.
    pub name: String,
    /// The event log.
    pub log: Vec<LogLine>,
    /// Sessions at the end.
    pub sessions: Vec<SessionRow>,
    /// Expectation verdicts, in time order.
    pub results: Vec<CheckResult>,
    /// Effective routes at each expectation or timeline time, and at the end (only at the
    /// end with [`RunOptions::end_only`]).
    pub snapshots: Vec<Snapshot>,
}

impl Outcome {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.passed)
    }

    /// The last snapshot (the end of the run).
    pub fn last(&self) -> Option<&Snapshot> {
        self.snapshots.last()
    }
}

/// What a replay keeps of the effective routes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Only the end of the run (what `fabric-sim run` prints), not every stop (what the
    /// HTML report draws over time).
    pub end_only: bool,
    /// Only these VMs (indices), in this order; every VM when `None`.
    pub vms: Option<Vec<usize>>,
}

impl RunOptions {
    /// Every VM when the network has at most `limit` VMs; otherwise only those the
    /// scenario's expectations ask about (route and trace checks), so that a file at
    /// Azure's scale does not build a table per distinct route view.
    pub fn vms_for(scenario: &Scenario, limit: usize) -> Option<Vec<usize>> {
        if scenario.topology.vms.len() <= limit {
            return None;
        }
        let mut vms: Vec<usize> = scenario
            .expectations
            .iter()
            .filter_map(|x| match &x.check {
                Check::Route { vm, .. } | Check::Trace { vm, .. } => Some(*vm),
                _ => None,
            })
            .collect();
        vms.sort_unstable();
        vms.dedup();
        Some(vms)
    }
}

/// Effective route tables by route view, valid for one routes generation of the
/// simulator: stops between which nothing changed share every table, and VMs sharing a
/// view share one table.
#[derive(Default)]
struct TableCache {
    generation: Option<u64>,
    tables: BTreeMap<crate::effective::RouteView, Rc<Vec<EffectiveRoute>>>,
}

fn snapshot(sim: &Sim, at: Duration, vms: Option<&[usize]>, cache: &mut TableCache) -> Snapshot {
    if cache.generation != Some(sim.routes_generation()) {
        cache.generation = Some(sim.routes_generation());
        cache.tables.clear();
    }
    let all: Vec<usize>;
    let vms = match vms {
        Some(v) => v,
        None => {
            all = (0..sim.topology.vms.len()).collect();
            &all
        }
    };
    Snapshot {
        at,
        routes: vms
            .iter()
            .filter(|vm| **vm < sim.topology.vms.len())
            .map(|&vm| {
                let view = sim.view_of(vm);
                let table = cache
                    .tables
                    .entry(view)
                    .or_insert_with_key(|view| Rc::new(sim.effective_for_view(view)))
                    .clone();
                (sim.topology.vms[vm].name.clone(), table)
            })
            .collect(),
    }
}

/// Replays `scenario` to its end, checking every expectation on the way, with a snapshot
/// of every VM's effective routes at every stop. `progress` is called with the virtual
/// time reached, at each stop and every few thousand events in between.
///
/// # Errors
///
/// When the simulation livelocks ([`RunError`]).
pub fn run(scenario: &Scenario, progress: impl FnMut(Duration)) -> Result<Outcome, RunError> {
    run_with(scenario, &RunOptions::default(), progress)
}

/// [`run`], keeping the snapshots `options` asks for.
///
/// # Errors
///
/// When the simulation livelocks ([`RunError`]).
pub fn run_with(
    scenario: &Scenario,
    options: &RunOptions,
    mut progress: impl FnMut(Duration),
) -> Result<Outcome, RunError> {
    let mut sim = Sim::new(scenario);
    let mut stops: Vec<Duration> = scenario
        .timeline
        .iter()
        .map(|a| a.at)
        .chain(scenario.expectations.iter().map(|x| x.at))
        .chain([scenario.duration])
        .collect();
    stops.sort();
    stops.dedup();
    let mut results = Vec::new();
    let mut snapshots = Vec::new();
    let mut next_expectation = 0;
    let mut cache = TableCache::default();
    let mut steps: u32 = 0;
    let last_stop = stops.last().copied();
    for stop in stops {
        sim.run_until_observed(Instant::ZERO + stop, |s| {
            steps = steps.wrapping_add(1);
            if steps % 4096 == 0 {
                progress(s.now().saturating_duration_since(Instant::ZERO));
            }
        })?;
        progress(stop);
        while let Some(x) = scenario
            .expectations
            .get(next_expectation)
            .filter(|x| x.at <= stop)
        {
            results.push(check(&sim, x));
            next_expectation += 1;
        }
        if !options.end_only || Some(stop) == last_stop {
            snapshots.push(snapshot(&sim, stop, options.vms.as_deref(), &mut cache));
        }
    }
    Ok(Outcome {
        name: scenario.name.clone(),
        log: sim.log().to_vec(),
        sessions: sim.sessions(),
        results,
        snapshots,
    })
}

/// Runs `scenario` up to `at` and returns the simulator there.
///
/// # Errors
///
/// When the simulation livelocks.
pub fn run_to(scenario: &Scenario, at: Duration) -> Result<Sim, RunError> {
    let mut sim = Sim::new(scenario);
    sim.run_until(Instant::ZERO + at)?;
    Ok(sim)
}

fn hops(list: &[Ipv4Addr]) -> String {
    if list.is_empty() {
        return "-".into();
    }
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// An on-premises check against `view` (what on-premises sees behind `behind`): the
/// check's text, whether it passed, and what was found.
fn onprem_check(
    behind: &str,
    view: &BTreeMap<IpNet, Vec<u32>>,
    prefix: &IpNet,
    present: bool,
    as_path: Option<&[u32]>,
) -> (String, bool, String) {
    let got = view.get(prefix);
    let ok = match got {
        None => !present,
        Some(p) => present && as_path.map_or(true, |a| a == p.as_slice()),
    };
    (
        format!(
            "on-premises behind {behind} {} {prefix}{}",
            if present { "sees" } else { "does not see" },
            as_path
                .map(|a| format!(" with AS path [{}]", path(a)))
                .unwrap_or_default()
        ),
        ok,
        got.map_or_else(|| "absent".into(), |p| format!("[{}]", path(p))),
    )
}

fn path(list: &[u32]) -> String {
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

fn as_path_of(attrs: &route_server::RouteAttrs) -> Vec<u32> {
    attrs
        .as_path
        .segments
        .iter()
        .flat_map(|s| s.asns.iter().copied())
        .collect()
}

/// Checks one expectation against the simulator's state now.
pub fn check(sim: &Sim, x: &Expectation) -> CheckResult {
    let topo = &sim.topology;
    let (description, passed, found) = match &x.check {
        Check::Route {
            vm,
            prefix,
            present,
            via,
            next_hop_type,
        } => {
            let routes = sim.effective_routes(*vm);
            let active = routes.iter().find(|r| r.active && r.prefix == *prefix);
            let mut description = format!("{} has {prefix}", topo.vms[*vm].name);
            if !present {
                description = format!("{} has no route for {prefix}", topo.vms[*vm].name);
            }
            if let Some(v) = via {
                description.push_str(&format!(" via {} only", hops(v)));
            }
            if let Some(t) = next_hop_type {
                description.push_str(&format!(" ({t})"));
            }
            let found = active.map_or_else(
                || "no active route".to_string(),
                |r| {
                    format!(
                        "{} via {} ({:?})",
                        r.next_hop_type.name(),
                        hops(&r.next_hops),
                        r.source
                    )
                },
            );
            let passed = match active {
                None => !present,
                Some(r) => {
                    *present
                        && via.as_ref().map_or(true, |v| *v == r.next_hops)
                        && next_hop_type
                            .as_ref()
                            .map_or(true, |t| t == r.next_hop_type.name())
                }
            };
            (description, passed, found)
        }
        Check::Session {
            speaker,
            instance,
            state,
        } => {
            let targets = instance.map_or_else(|| sim.speaker_instances(*speaker), |i| vec![i]);
            let states: Vec<String> = targets
                .iter()
                .map(|rs| {
                    sim.session_state(*speaker, *rs)
                        .unwrap_or_else(|| "no session".into())
                })
                .collect();
            let passed = !states.is_empty() && states.iter().all(|s| s == state);
            (
                format!("{}'s session(s) {state}", topo.speakers[*speaker].name),
                passed,
                states.join(", "),
            )
        }
        Check::Received {
            speaker,
            instance,
            prefix,
            present,
            as_path,
            next_hops,
            communities,
        } => {
            let targets = instance.map_or_else(|| sim.speaker_instances(*speaker), |i| vec![i]);
            let mut seen = Vec::new();
            let mut hops_seen: Vec<Ipv4Addr> = Vec::new();
            let mut ok = !targets.is_empty();
            for rs in &targets {
                match sim.received(*speaker, *rs).and_then(|t| t.get(prefix)) {
                    Some(attrs) => {
                        let p = as_path_of(attrs);
                        let c: Vec<(u16, u16)> = attrs
                            .communities
                            .iter()
                            .map(|c| ((c.0 >> 16) as u16, (c.0 & 0xffff) as u16))
                            .collect();
                        if let IpAddr::V4(h) = attrs.next_hop {
                            hops_seen.push(h);
                        }
                        seen.push(format!(
                            "[{}] via {}{}",
                            path(&p),
                            attrs.next_hop,
                            if c.is_empty() {
                                String::new()
                            } else {
                                format!(" communities {c:?}")
                            }
                        ));
                        ok &= *present
                            && as_path.as_ref().map_or(true, |a| *a == p)
                            && communities.as_ref().map_or(true, |w| *w == c);
                    }
                    None => {
                        seen.push("absent".into());
                        ok &= !present;
                    }
                }
            }
            hops_seen.sort();
            hops_seen.dedup();
            if let (true, Some(want)) = (*present, next_hops) {
                ok &= *want == hops_seen;
            }
            let mut description = format!(
                "{} has {}received {prefix}",
                topo.speakers[*speaker].name,
                if *present { "" } else { "not " }
            );
            if let Some(a) = as_path {
                description.push_str(&format!(" with AS path [{}]", path(a)));
            }
            if let Some(h) = next_hops {
                description.push_str(&format!(" next hops {}", hops(h)));
            }
            (description, ok, seen.join("; "))
        }
        Check::Learned {
            vnet,
            instance,
            speaker,
            prefix,
            present,
            as_path,
        } => {
            let instances: Vec<usize> = instance.map_or_else(|| vec![0, 1], |i| vec![i]);
            let address = topo.speakers[*speaker].ip;
            let mut found = Vec::new();
            let mut ok = true;
            for i in instances {
                let learned = sim.learned((*vnet, i), address);
                let got = learned.get(prefix).map(as_path_of);
                found.push(format!(
                    "IN_{i}: {}",
                    got.as_ref().map_or_else(
                        || "not learned".into(),
                        |p| format!("learned [{}]", path(p))
                    )
                ));
                ok &= match &got {
                    None => !present,
                    Some(p) => *present && as_path.as_ref().map_or(true, |a| a == p),
                };
            }
            (
                format!(
                    "{} has {}learned {prefix} from {}{}",
                    topo.vnets[*vnet].name,
                    if *present { "" } else { "not " },
                    topo.speakers[*speaker].name,
                    as_path
                        .as_ref()
                        .map(|a| format!(" with AS path [{}]", path(a)))
                        .unwrap_or_default()
                ),
                ok,
                found.join(", "),
            )
        }
        Check::OnPrem {
            gateway,
            prefix,
            present,
            as_path,
        } => onprem_check(
            &topo.speakers[*gateway].name,
            &sim.onprem_view(*gateway),
            prefix,
            *present,
            as_path.as_deref(),
        ),
        Check::OnPremCircuit {
            circuit,
            prefix,
            present,
            as_path,
        } => onprem_check(
            &format!("circuit {}", topo.circuits[*circuit].name),
            &sim.circuit_onprem_view(*circuit),
            prefix,
            *present,
            as_path.as_deref(),
        ),
        Check::TunnelSession {
            tunnel,
            speaker,
            state,
        } => {
            let got = sim
                .tunnel_state(*tunnel, *speaker)
                .unwrap_or_else(|| "no session".into());
            (
                format!(
                    "{}'s session over tunnel {} {state}",
                    topo.speakers[*speaker].name, topo.tunnels[*tunnel].name
                ),
                got == *state,
                got,
            )
        }
        Check::TunnelReceived {
            tunnel,
            speaker,
            prefix,
            present,
            as_path,
        } => {
            let got = sim
                .tunnel_received(*tunnel, *speaker)
                .and_then(|t| t.get(prefix));
            let ok = match got {
                None => !present,
                Some(a) => *present && as_path.as_ref().map_or(true, |p| *p == a.as_path),
            };
            (
                format!(
                    "{} {} {prefix} over tunnel {}{}",
                    topo.speakers[*speaker].name,
                    if *present {
                        "received"
                    } else {
                        "did not receive"
                    },
                    topo.tunnels[*tunnel].name,
                    as_path
                        .as_ref()
                        .map(|a| format!(" with AS path [{}]", path(a)))
                        .unwrap_or_default()
                ),
                ok,
                got.map_or_else(|| "absent".into(), |a| format!("[{}]", path(&a.as_path))),
            )
        }
        Check::Trace { vm, to, ends } => {
            let paths = trace(sim, *vm, *to);
            let mut got: Vec<String> = paths.iter().map(|p| p.end.clone()).collect();
            got.sort();
            got.dedup();
            let found: Vec<String> = paths
                .iter()
                .map(|p| format!("{} => {}", p.hops.join(" > "), p.end))
                .collect();
            (
                format!("{} -> {to} ends at {}", topo.vms[*vm].name, ends.join(", ")),
                got == *ends,
                found.join("; "),
            )
        }
        Check::Event { contains, present } => {
            let hit = sim
                .log()
                .iter()
                .find(|l| l.text.contains(contains.as_str()) || l.who.contains(contains.as_str()));
            (
                format!(
                    "the log {} `{contains}`",
                    if *present {
                        "mentions"
                    } else {
                        "never mentions"
                    }
                ),
                hit.is_some() == *present,
                hit.map_or_else(
                    || "no such line".into(),
                    |l| format!("{} {}: {}", l.at, l.who, l.text),
                ),
            )
        }
    };
    CheckResult {
        at: x.at,
        location: x.location.clone(),
        description,
        passed,
        found,
    }
}
