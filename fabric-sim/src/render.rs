//! Output: readable tables (comfy-table), JSON, Graphviz, and a self-contained HTML page.
//! Everything here is a pure function of a replay's results, so the same scenario and
//! seed print the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde_json::{json, Value};

use crate::effective::EffectiveRoute;
use crate::engine::{LogLine, SessionRow};
use crate::model::{SpeakerKind, Topology, UserNextHop};
use crate::run::{CheckResult, Outcome, Snapshot};
use crate::trace::TracePath;

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(header.to_vec());
    t
}

fn hops(list: &[std::net::Ipv4Addr]) -> String {
    if list.is_empty() {
        return "-".into();
    }
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sessions as a table.
pub fn sessions_table(rows: &[SessionRow]) -> String {
    let mut t = table(&[
        "speaker",
        "kind",
        "ASN",
        "address",
        "instance",
        "state",
        "announces",
        "received",
    ]);
    for r in rows {
        t.add_row(vec![
            r.speaker.clone(),
            r.kind.label().to_string(),
            r.asn.to_string(),
            r.address.to_string(),
            format!("{} ({})", r.instance, r.instance_address),
            r.state.clone(),
            r.announced.to_string(),
            r.received.to_string(),
        ]);
    }
    t.to_string()
}

/// The event log as a table; program changes are left out unless `verbose`.
pub fn timeline_table(log: &[LogLine], verbose: bool) -> String {
    let mut t = table(&["time", "who", "what"]);
    let mut hidden = 0usize;
    for l in log {
        let is_program = l.text.starts_with("programs ") || l.text.starts_with("unprograms ");
        if is_program && !verbose {
            hidden += 1;
            continue;
        }
        t.add_row(vec![l.at.to_string(), l.who.clone(), l.text.clone()]);
    }
    let mut s = t.to_string();
    if hidden > 0 {
        let _ = write!(
            s,
            "\n({hidden} fabric programming lines left out; --verbose shows them)"
        );
    }
    s
}

/// Effective routes of a snapshot, one table per group of VMs sharing a route view.
pub fn routes_tables(snapshot: &Snapshot, only_vm: Option<&str>) -> String {
    let mut groups: Vec<(Vec<String>, Rc<Vec<EffectiveRoute>>)> = Vec::new();
    for (vm, routes) in &snapshot.routes {
        if only_vm.is_some_and(|o| o != vm) {
            continue;
        }
        match groups.iter_mut().find(|(_, r)| Rc::ptr_eq(r, routes)) {
            Some((names, _)) => names.push(vm.clone()),
            None => groups.push((vec![vm.clone()], routes.clone())),
        }
    }
    let mut out = String::new();
    for (names, routes) in groups {
        let _ = writeln!(
            out,
            "Effective routes of {} (at {:?}):",
            names.join(", "),
            snapshot.at
        );
        out.push_str(&routes_table(&routes));
        out.push('\n');
    }
    out
}

/// One effective route table.
pub fn routes_table(routes: &[EffectiveRoute]) -> String {
    let mut t = table(&["prefix", "source", "state", "next hop type", "next hop"]);
    for r in routes {
        t.add_row(vec![
            r.prefix.to_string(),
            format!("{:?}", r.source),
            if r.active { "Active" } else { "Invalid" }.to_string(),
            r.next_hop_type.name().to_string(),
            hops(&r.next_hops),
        ]);
    }
    t.to_string()
}

/// Expectation verdicts as a table.
pub fn results_table(results: &[CheckResult]) -> String {
    let mut t = table(&["at", "result", "expectation", "found", "where"]);
    for r in results {
        t.add_row(vec![
            format!("{:?}", r.at),
            if r.passed { "pass" } else { "FAIL" }.to_string(),
            r.description.clone(),
            r.found.clone(),
            r.location.clone(),
        ]);
    }
    t.to_string()
}

/// Trace paths as a table.
pub fn trace_table(paths: &[TracePath]) -> String {
    let mut t = table(&["path", "ends"]);
    for p in paths {
        t.add_row(vec![p.hops.join(" > "), p.end.clone()]);
    }
    t.to_string()
}

fn routes_json(routes: &[EffectiveRoute]) -> Value {
    Value::Array(
        routes
            .iter()
            .map(|r| {
                json!({
                    "prefix": r.prefix.to_string(),
                    "source": format!("{:?}", r.source),
                    "state": if r.active { "Active" } else { "Invalid" },
                    "nextHopType": r.next_hop_type.name(),
                    "nextHops": r.next_hops.iter().map(ToString::to_string).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// A replay as JSON.
pub fn outcome_json(o: &Outcome) -> Value {
    json!({
        "scenario": o.name,
        "passed": o.passed(),
        "sessions": o.sessions.iter().map(|s| json!({
            "speaker": s.speaker, "kind": s.kind.label(), "asn": s.asn, "address": s.address.to_string(),
            "instance": s.instance, "instanceAddress": s.instance_address.to_string(), "state": s.state,
            "announced": s.announced, "received": s.received,
        })).collect::<Vec<_>>(),
        "timeline": o.log.iter().map(|l| json!({"atMs": l.at.as_millis(), "who": l.who, "what": l.text})).collect::<Vec<_>>(),
        "expectations": o.results.iter().map(|r| json!({
            "atMs": r.at.as_millis() as u64, "passed": r.passed, "expectation": r.description, "found": r.found, "where": r.location,
        })).collect::<Vec<_>>(),
        "effectiveRoutes": o.last().map(|s| s.routes.iter().map(|(vm, r)| (vm.clone(), routes_json(r))).collect::<BTreeMap<_, _>>()),
    })
}

/// Effective routes as JSON.
pub fn routes_json_of(vm: &str, routes: &[EffectiveRoute]) -> Value {
    json!({ "vm": vm, "effectiveRoutes": routes_json(routes) })
}

/// Trace paths as JSON.
pub fn trace_json(paths: &[TracePath]) -> Value {
    Value::Array(
        paths
            .iter()
            .map(|p| json!({"hops": p.hops, "end": p.end}))
            .collect(),
    )
}

fn dot_id(s: &str) -> String {
    // Labels carry Graphviz's own `\n` line breaks, so backslashes pass unchanged.
    format!("\"{}\"", s.replace('"', "\\\""))
}

/// The topology as a Graphviz digraph: VNets as clusters, VMs and speakers as nodes,
/// BGP sessions and peerings as edges.
pub fn dot(topo: &Topology) -> String {
    let mut s = String::from(
        "digraph fabric {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n",
    );
    for (v, vnet) in topo.vnets.iter().enumerate() {
        let ranges: Vec<String> = vnet.ranges.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            s,
            "  subgraph cluster_{v} {{\n    label={};",
            dot_id(&format!(
                "{} {} ({})",
                vnet.name,
                ranges.join(" "),
                vnet.region
            ))
        );
        if let Some(rs) = &vnet.route_server {
            for (i, a) in rs.instances.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "    {} [shape=doubleoctagon, label={}];",
                    dot_id(&format!("{}/IN_{i}", vnet.name)),
                    dot_id(&format!("IN_{i}\\n{a}\\nAS 65515"))
                );
            }
        }
        for vm in topo
            .vms
            .iter()
            .filter(|m| m.vnet == v && m.speaker.is_none())
        {
            let _ = writeln!(
                s,
                "    {} [shape=box, label={}];",
                dot_id(&vm.name),
                dot_id(&format!("{}\\n{}", vm.name, vm.ip))
            );
        }
        for sp in topo.speakers.iter().filter(|p| p.vnet == v) {
            let shape = if sp.kind == SpeakerKind::Nva {
                "hexagon"
            } else {
                "house"
            };
            let _ = writeln!(
                s,
                "    {} [shape={shape}, label={}];",
                dot_id(&sp.name),
                dot_id(&format!("{}\\n{}\\nAS {}", sp.name, sp.ip, sp.asn))
            );
        }
        for lb in topo.load_balancers.iter().filter(|l| l.vnet == v) {
            let _ = writeln!(
                s,
                "    {} [shape=trapezium, label={}];",
                dot_id(&lb.name),
                dot_id(&format!("{}\\n{}", lb.name, lb.frontend))
            );
        }
        s.push_str("  }\n");
    }
    for sp in &topo.speakers {
        for (v, i) in &sp.peers {
            let _ = writeln!(
                s,
                "  {} -> {} [dir=both, label=\"BGP\", color=blue];",
                dot_id(&sp.name),
                dot_id(&format!("{}/IN_{i}", topo.vnets[*v].name))
            );
        }
        for c in &sp.circuits {
            let _ = writeln!(
                s,
                "  {} -> {} [dir=both, label=\"connection\", color=darkgreen];",
                dot_id(&sp.name),
                dot_id(&topo.circuits[*c].name)
            );
        }
    }
    for c in &topo.circuits {
        let _ = writeln!(
            s,
            "  {} [shape=cylinder, label={}];",
            dot_id(&c.name),
            dot_id(&format!("{}\\nMSEE {}\\nAS 12076", c.name, c.msee))
        );
    }
    for t in &topo.tunnels {
        let _ = writeln!(
            s,
            "  {} -> {} [dir=both, label={}, style=dashed, color=purple];",
            dot_id(&topo.speakers[t.a].name),
            dot_id(&topo.speakers[t.b].name),
            dot_id(&format!("tunnel {} (eBGP)", t.name))
        );
    }
    for p in &topo.peerings {
        let label = if p.a_uses_remote_gateway {
            "peering (uses remote RS)"
        } else {
            "peering"
        };
        let _ = writeln!(
            s,
            "  {} -> {} [dir=none, style=dashed, label={}, ltail=cluster_{}, lhead=cluster_{}];",
            dot_id(&first_node(topo, p.a)),
            dot_id(&first_node(topo, p.b)),
            dot_id(label),
            p.a,
            p.b
        );
    }
    s.push_str("}\n");
    s
}

fn first_node(topo: &Topology, v: usize) -> String {
    let vnet = &topo.vnets[v];
    if vnet.route_server.is_some() {
        return format!("{}/IN_0", vnet.name);
    }
    topo.vms
        .iter()
        .find(|m| m.vnet == v)
        .map(|m| m.name.clone())
        .unwrap_or_else(|| vnet.name.clone())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG drawing of the topology: one column per VNet, route-server instances on top,
/// speakers and VMs below, ExpressRoute circuits in a last column; BGP sessions, circuit
/// connections and NVA tunnels (dashed) as lines.
pub fn svg(topo: &Topology) -> String {
    let col_w = 230;
    let mut positions: BTreeMap<String, (i32, i32)> = BTreeMap::new();
    let mut body = String::new();
    let mut height = 0;
    for (v, vnet) in topo.vnets.iter().enumerate() {
        let x = 20 + v as i32 * col_w;
        let mut y = 60;
        let mut items: Vec<(String, String, &str)> = Vec::new();
        if let Some(rs) = &vnet.route_server {
            for (i, a) in rs.instances.iter().enumerate() {
                items.push((
                    format!("{}/IN_{i}", vnet.name),
                    format!("IN_{i} {a}"),
                    "#cfe2ff",
                ));
            }
        }
        for sp in topo.speakers.iter().filter(|p| p.vnet == v) {
            let color = if sp.kind == SpeakerKind::Nva {
                "#ffe5b4"
            } else {
                "#d4edda"
            };
            items.push((
                sp.name.clone(),
                format!("{} {} AS{}", sp.name, sp.ip, sp.asn),
                color,
            ));
        }
        for lb in topo.load_balancers.iter().filter(|l| l.vnet == v) {
            items.push((
                lb.name.clone(),
                format!("ILB {} {}", lb.name, lb.frontend),
                "#e2d9f3",
            ));
        }
        for vm in topo
            .vms
            .iter()
            .filter(|m| m.vnet == v && m.speaker.is_none())
        {
            items.push((vm.name.clone(), format!("{} {}", vm.name, vm.ip), "#f8f9fa"));
        }
        for (id, label, color) in &items {
            positions.insert(id.clone(), (x + 100, y + 12));
            let _ = writeln!(body, "<rect x=\"{}\" y=\"{y}\" width=\"200\" height=\"24\" rx=\"4\" fill=\"{color}\" stroke=\"#555\"/><text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>", x + 5, x + 10, y + 16, esc(label));
            y += 34;
        }
        let ranges: Vec<String> = vnet.ranges.iter().map(ToString::to_string).collect();
        let _ = writeln!(body, "<rect x=\"{}\" y=\"20\" width=\"210\" height=\"{}\" fill=\"none\" stroke=\"#333\" stroke-dasharray=\"4\"/><text x=\"{}\" y=\"40\" font-size=\"12\" font-weight=\"bold\">{}</text>", x, y - 10, x + 5, esc(&format!("{} {}", vnet.name, ranges.join(" "))));
        height = height.max(y + 20);
    }
    // ExpressRoute circuits: one more column, outside every VNet.
    if !topo.circuits.is_empty() {
        let x = 20 + topo.vnets.len() as i32 * col_w;
        let mut y = 60;
        for c in &topo.circuits {
            positions.insert(c.name.clone(), (x + 100, y + 12));
            let _ = writeln!(body, "<rect x=\"{}\" y=\"{y}\" width=\"200\" height=\"24\" rx=\"12\" fill=\"#fff3cd\" stroke=\"#555\"/><text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>", x + 5, x + 10, y + 16, esc(&format!("circuit {} MSEE {}", c.name, c.msee)));
            y += 34;
        }
        height = height.max(y + 20);
    }
    let mut lines = String::new();
    let mut line = |from: &str, to: &str, style: &str| {
        if let (Some(a), Some(b)) = (positions.get(from), positions.get(to)) {
            let _ = writeln!(
                lines,
                "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" {style}/>",
                a.0 + 100,
                a.1,
                b.0 + 100,
                b.1
            );
        }
    };
    for sp in &topo.speakers {
        for (v, i) in &sp.peers {
            line(
                &sp.name,
                &format!("{}/IN_{i}", topo.vnets[*v].name),
                "stroke=\"#0d6efd\" stroke-opacity=\"0.5\"",
            );
        }
        for c in &sp.circuits {
            line(
                &sp.name,
                &topo.circuits[*c].name,
                "stroke=\"#198754\" stroke-opacity=\"0.6\"",
            );
        }
    }
    for t in &topo.tunnels {
        line(
            &topo.speakers[t.a].name,
            &topo.speakers[t.b].name,
            "stroke=\"#6f42c1\" stroke-dasharray=\"6\"",
        );
    }
    let columns = topo.vnets.len() + usize::from(!topo.circuits.is_empty());
    let width = 40 + columns as i32 * col_w;
    format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"Helvetica, Arial\">\n{lines}{body}</svg>\n")
}

/// One self-contained HTML page: topology, timeline, expectations, next hops per VM
/// over time.
pub fn html(topo: &Topology, o: &Outcome) -> String {
    let mut s = String::new();
    let _ = write!(s, "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><style>body{{font-family:Helvetica,Arial;margin:20px}}table{{border-collapse:collapse;font-size:12px}}td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left}}.fail{{background:#f8d7da}}.pass{{background:#d4edda}}</style></head><body>", esc(&o.name));
    let _ = write!(s, "<h1>{}</h1><h2>Topology</h2>{}", esc(&o.name), svg(topo));
    let udrs: Vec<String> = topo
        .route_tables
        .iter()
        .flat_map(|t| {
            t.routes.iter().map(move |r| {
                let hop = match r.next_hop {
                    UserNextHop::VirtualAppliance(a) => a.to_string(),
                    other => format!("{other:?}"),
                };
                format!("{}: {} -> {hop}", t.name, r.prefix)
            })
        })
        .collect();
    if !udrs.is_empty() {
        let _ = write!(s, "<p>User routes: {}</p>", esc(&udrs.join("; ")));
    }
    s.push_str("<h2>Expectations</h2><table><tr><th>at</th><th>result</th><th>expectation</th><th>found</th></tr>");
    for r in &o.results {
        let class = if r.passed { "pass" } else { "fail" };
        let _ = write!(
            s,
            "<tr class=\"{class}\"><td>{:?}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.at,
            if r.passed { "pass" } else { "FAIL" },
            esc(&r.description),
            esc(&r.found)
        );
    }
    s.push_str("</table><h2>Next hops per VM over time</h2>");
    let mut prefixes: Vec<ipnet::Ipv4Net> = o
        .snapshots
        .iter()
        .flat_map(|snap| {
            snap.routes
                .iter()
                .flat_map(|(_, r)| r.iter().filter(|e| e.active).map(|e| e.prefix))
        })
        .collect();
    prefixes.sort();
    prefixes.dedup();
    if let Some(first) = o.snapshots.first() {
        for (vm_index, (vm, _)) in first.routes.iter().enumerate() {
            let _ = write!(s, "<h3>{}</h3><table><tr><th>prefix</th>", esc(vm));
            for snap in &o.snapshots {
                let _ = write!(s, "<th>{:?}</th>", snap.at);
            }
            s.push_str("</tr>");
            for p in &prefixes {
                let _ = write!(s, "<tr><td>{p}</td>");
                for snap in &o.snapshots {
                    let cell = snap
                        .routes
                        .get(vm_index)
                        .and_then(|(_, r)| r.iter().find(|e| e.active && e.prefix == *p))
                        .map_or_else(String::new, |e| {
                            if e.next_hops.is_empty() {
                                e.next_hop_type.name().to_string()
                            } else {
                                hops(&e.next_hops)
                            }
                        });
                    let _ = write!(s, "<td>{}</td>", esc(&cell));
                }
                s.push_str("</tr>");
            }
            s.push_str("</table>");
        }
    }
    s.push_str("<h2>Timeline</h2><table><tr><th>time</th><th>who</th><th>what</th></tr>");
    for l in &o.log {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            l.at,
            esc(&l.who),
            esc(&l.text)
        );
    }
    s.push_str("</table></body></html>\n");
    s
}
