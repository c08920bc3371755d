//! Replaying a scenario: the timeline runs, each expectation is checked at its time.

use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::time::Duration;

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

/// Effective routes of every VM at one moment.
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
    /// Effective routes at each expectation or timeline time, and at the end.
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

fn snapshot(sim: &Sim, at: Duration) -> Snapshot {
    Snapshot {
        at,
        routes: sim
            .all_effective_routes()
            .into_iter()
            .map(|(vm, table)| (sim.topology.vms[vm].name.clone(), table))
            .collect(),
    }
}

/// Replays `scenario` to its end, checking every expectation on the way. `progress` is
/// called with the virtual time reached, at each stop.
///
/// # Errors
///
/// When the simulation livelocks ([`RunError`]).
pub fn run(scenario: &Scenario, mut progress: impl FnMut(Duration)) -> Result<Outcome, RunError> {
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
    for stop in stops {
        sim.run_until(Instant::ZERO + stop)?;
        progress(stop);
        while let Some(x) = scenario
            .expectations
            .get(next_expectation)
            .filter(|x| x.at <= stop)
        {
            results.push(check(&sim, x));
            next_expectation += 1;
        }
        snapshots.push(snapshot(&sim, stop));
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
        } => {
            let instances: Vec<usize> = instance.map_or_else(|| vec![0, 1], |i| vec![i]);
            let address = topo.speakers[*speaker].ip;
            let mut found = Vec::new();
            let mut ok = true;
            for i in instances {
                let has = sim.learned((*vnet, i), address).contains_key(prefix);
                found.push(format!(
                    "IN_{i}: {}",
                    if has { "learned" } else { "not learned" }
                ));
                ok &= has == *present;
            }
            (
                format!(
                    "{} has {}learned {prefix} from {}",
                    topo.vnets[*vnet].name,
                    if *present { "" } else { "not " },
                    topo.speakers[*speaker].name
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
        } => {
            let view = sim.onprem_view(*gateway);
            let got = view.get(prefix);
            let ok = match got {
                None => !present,
                Some(p) => *present && as_path.as_ref().map_or(true, |a| a == p),
            };
            (
                format!(
                    "on-premises behind {} {} {prefix}{}",
                    topo.speakers[*gateway].name,
                    if *present { "sees" } else { "does not see" },
                    as_path
                        .as_ref()
                        .map(|a| format!(" with AS path [{}]", path(a)))
                        .unwrap_or_default()
                ),
                ok,
                got.map_or_else(|| "absent".into(), |p| format!("[{}]", path(p))),
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
