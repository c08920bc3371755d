//! Circuits, tunnels and gateways that program NICs themselves, beyond the spec's four
//! scenario files: each case is a small scenario whose expectations come from the spec
//! (sections 1.2, 1.5, 1.7) and RFC 4271 (hold timer, loop detection).

use fabric_sim::{run, scenario};

/// Runs `text` and fails with every expectation that did not hold.
fn replay(name: &str, text: &str) -> run::Outcome {
    let s = scenario::parse(name, text).unwrap_or_else(|e| panic!("{e}"));
    let outcome = run::run(&s, |_| {}).unwrap_or_else(|e| panic!("{name}: {e}"));
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
    assert!(failed.is_empty(), "{name}:\n{}", failed.join("\n"));
    assert_eq!(outcome.results.len(), s.expectations.len());
    outcome
}

const TWO_HUBS: &str = r#"
[[vnet]]
name = "h1"
ranges = ["10.1.0.0/16"]
route_server = { instances = ["10.1.1.4", "10.1.1.5"] }
subnet = [{ name = "nva", prefix = "10.1.2.0/24" }, { name = "app", prefix = "10.1.3.0/24" }]
vm = [{ name = "vm1", ip = "10.1.3.4" }]

[[vnet]]
name = "h2"
ranges = ["10.2.0.0/16"]
route_server = { instances = ["10.2.1.4", "10.2.1.5"] }
subnet = [{ name = "nva", prefix = "10.2.2.0/24" }, { name = "app", prefix = "10.2.3.0/24" }]
vm = [{ name = "vm2", ip = "10.2.3.4" }]

[[nva]]
name = "nva1"
vnet = "h1"
ip = "10.1.2.4"
asn = 65001
as_override = true

[[nva]]
name = "nva2"
vnet = "h2"
ip = "10.2.2.4"
asn = 65002
as_override = true

[[tunnel]]
name = "t"
between = ["nva1", "nva2"]
"#;

/// With as-override at both ends each hub learns the other's range, and nothing comes
/// back to where it started: NVA1 never holds a tunnel route through its own AS (RFC
/// 4271 9.1.2), so the exchange settles.
#[test]
fn mutual_as_override_reaches_both_hubs_and_settles() {
    let text = format!(
        "duration = \"30s\"\n{TWO_HUBS}
[[expect]]
at = \"10s\"
check = \"route\"
vm = \"vm1\"
prefix = \"10.2.0.0/16\"
via = [\"10.1.2.4\"]

[[expect]]
at = \"10s\"
check = \"route\"
vm = \"vm2\"
prefix = \"10.1.0.0/16\"
via = [\"10.2.2.4\"]

[[expect]]
at = \"10s\"
check = \"learned\"
from = \"nva2\"
prefix = \"10.1.0.0/16\"
as_path = [65002, 65001, 65002]

[[expect]]
at = \"10s\"
check = \"received\"
tunnel = \"t\"
node = \"nva1\"
prefix = \"10.1.0.0/16\"
present = false

[[expect]]
at = \"10s\"
check = \"trace\"
vm = \"vm2\"
to = \"10.1.3.4\"
ends = [\"vm:vm1\"]
"
    );
    let outcome = replay("mutual", &text);
    // Settled: nothing is passed on after the first second.
    let late: Vec<_> = outcome
        .log
        .iter()
        .filter(|l| {
            l.text.contains("passes on")
                && l.at > fabric_sim::Instant::ZERO + std::time::Duration::from_secs(1)
        })
        .collect();
    assert!(late.is_empty(), "{late:?}");
}

/// A crashed NVA is found out by the other end's hold timer (180 s after the last
/// message it received, here the session's opening at about 0 s; spec 1.3, RFC 4271
/// 6.5), and the routes its tunnel carried leave the other hub then, not before.
#[test]
fn a_crashed_tunnel_end_is_found_out_by_the_hold_timer() {
    let text = format!(
        "duration = \"200s\"\n{TWO_HUBS}
[[event]]
at = \"10s\"
do = \"crash\"
node = \"nva2\"

[[expect]]
at = \"175s\"
check = \"tunnel\"
tunnel = \"t\"
node = \"nva1\"
state = \"Established\"

[[expect]]
at = \"175s\"
check = \"route\"
vm = \"vm1\"
prefix = \"10.2.0.0/16\"
via = [\"10.1.2.4\"]

[[expect]]
at = \"185s\"
check = \"route\"
vm = \"vm1\"
prefix = \"10.2.0.0/16\"
present = false

[[expect]]
at = \"185s\"
check = \"event\"
contains = \"tunnel session down: HoldTimerExpired\"
"
    );
    replay("crash", &text);
}

/// A spoke that uses a hub's gateway, in a hub without a route server, gets the
/// gateway's ExpressRoute routes with one next hop per connection (ECMP, spec 31's
/// "before"), the shorter AS path alone when the connections differ, and the VPN
/// gateway's point-to-site pool.
#[test]
fn gateways_without_a_route_server_program_the_hub_and_its_spokes() {
    let text = r#"
duration = "20s"

[[vnet]]
name = "hub"
ranges = ["10.1.0.0/16"]
subnet = [{ name = "GatewaySubnet", prefix = "10.1.0.0/27" }, { name = "app", prefix = "10.1.3.0/24" }]
vm = [{ name = "vm1", ip = "10.1.3.4" }]

[[vnet]]
name = "spoke"
ranges = ["10.11.0.0/16"]
subnet = [{ name = "app", prefix = "10.11.1.0/24" }]
vm = [{ name = "spoke-vm", ip = "10.11.1.4" }]

[[peering]]
from = "spoke"
to = "hub"
use_remote_gateway = true

[[circuit]]
name = "a"
msee = "172.31.0.1"
route = [{ prefix = "192.168.0.0/16" }, { prefix = "192.169.0.0/16", as_path = [65010, 65010] }]

[[circuit]]
name = "b"
msee = "172.31.0.5"
route = [{ prefix = "192.168.0.0/16" }, { prefix = "192.169.0.0/16" }]

[[gateway]]
name = "er"
kind = "expressroute"
vnet = "hub"
ip = "10.1.0.4"
circuits = ["a", "b"]

[[gateway]]
name = "vpn"
kind = "vpn"
vnet = "hub"
ip = "10.1.0.5"
p2s_pools = ["172.30.0.0/24"]

[[expect]]
at = "5s"
check = "route"
vm = "spoke-vm"
prefix = "192.168.0.0/16"
via = ["172.31.0.1", "172.31.0.5"]

[[expect]]
at = "5s"
check = "route"
vm = "vm1"
prefix = "192.169.0.0/16"
via = ["172.31.0.5"]

[[expect]]
at = "5s"
check = "route"
vm = "spoke-vm"
prefix = "172.30.0.0/24"
via = ["10.1.0.5"]

[[expect]]
at = "5s"
check = "onprem"
node = "a"
prefix = "10.11.0.0/16"
as_path = [12076]

[[expect]]
at = "5s"
check = "onprem"
node = "a"
prefix = "172.30.0.0/24"
present = false

[[event]]
at = "10s"
do = "crash"
node = "er"

[[expect]]
at = "10s"
check = "route"
vm = "vm1"
prefix = "192.168.0.0/16"
present = false
"#;
    replay("direct", text);
}

/// An NVA that stops sending (keepalives included) at 10 s loses its tunnel session at
/// the other end's hold-timer expiry, 180 s after the last message it sent (the
/// session's opening at about 0 s; RFC 4271 6.5), like its route-server sessions.
#[test]
fn a_silent_nva_loses_its_tunnel_at_the_hold_time() {
    let text = format!(
        "duration = \"200s\"\n{TWO_HUBS}
[[event]]
at = \"10s\"
do = \"stop_keepalives\"
node = \"nva2\"

[[expect]]
at = \"175s\"
check = \"tunnel\"
tunnel = \"t\"
node = \"nva1\"
state = \"Established\"

[[expect]]
at = \"185s\"
check = \"event\"
contains = \"tunnel session down: HoldTimerExpired\"

[[expect]]
at = \"185s\"
check = \"route\"
vm = \"vm1\"
prefix = \"10.2.0.0/16\"
present = false
"
    );
    replay("silent", &text);
}

/// The one-probe lookup that `trace` uses gives what the full effective table gives,
/// also where gateway-programmed routes (ECMP per circuit connection, point-to-site
/// pools) sit beside the route server's: a check of the simulator against itself.
#[test]
fn self_consistency_lookup_matches_the_effective_table_with_gateway_routes() {
    use fabric_sim::effective;
    use fabric_sim::engine::Sim;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let destinations: Vec<std::net::Ipv4Addr> = [
        "192.168.7.7",
        "172.30.0.9",
        "172.20.1.1",
        "10.1.3.5",
        "10.2.3.4",
        "10.3.1.1",
        "8.8.8.8",
    ]
    .iter()
    .map(|a| a.parse().expect("address"))
    .collect();
    let mut compared = 0;
    for file in [
        "19-vpn-gateway-transit.toml",
        "25-multi-region-as-override.toml",
        "27-msee-hairpin.toml",
        "31-expressroute-ecmp-loss.toml",
    ] {
        let s = scenario::load(&dir.join(file)).unwrap_or_else(|e| panic!("{e}"));
        let mut sim = Sim::new(&s);
        for at in [5, 15, 30] {
            sim.run_until(fabric_sim::Instant::ZERO + std::time::Duration::from_secs(at))
                .expect("runs");
            for vm in 0..sim.topology.vms.len() {
                let table = sim.effective_routes(vm);
                for d in &destinations {
                    let full = effective::lookup(&table, *d).cloned();
                    let fast = sim.lookup(vm, *d);
                    assert_eq!(
                        full.map(|r| (r.prefix, r.next_hop_type, r.next_hops)),
                        fast.map(|r| (r.prefix, r.next_hop_type, r.next_hops)),
                        "{file} at {at}s, {} -> {d}",
                        sim.topology.vms[vm].name
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 100);
}

/// The drawings show what the scenario declares: the circuit and both gateways'
/// connections to it, the tunnel between the two NVAs.
#[test]
fn dot_and_svg_draw_circuits_connections_and_tunnels() {
    use fabric_sim::render;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let hairpin = scenario::load(&dir.join("27-msee-hairpin.toml")).expect("27");
    let dot = render::dot(&hairpin.topology);
    assert!(dot.contains("\"circuit\" [shape=cylinder"), "{dot}");
    assert!(dot.contains("\"er1\" -> \"circuit\""), "{dot}");
    assert!(dot.contains("\"er2\" -> \"circuit\""), "{dot}");
    let svg = render::svg(&hairpin.topology);
    assert!(svg.contains("circuit circuit MSEE 172.31.0.1"), "{svg}");
    assert_eq!(svg.matches("stroke=\"#198754\"").count(), 2, "{svg}");
    let regions = scenario::load(&dir.join("25-multi-region-as-override.toml")).expect("25");
    let dot = render::dot(&regions.topology);
    assert!(
        dot.contains("\"nva1\" -> \"nva2\" [dir=both, label=\"tunnel ipsec (eBGP)\""),
        "{dot}"
    );
    assert_eq!(
        render::svg(&regions.topology)
            .matches("stroke-dasharray=\"6\"")
            .count(),
        1
    );
}

/// A tunnel whose session cannot be configured (an NVA with AS 23456, which no OPEN may
/// carry as its own, RFC 6793) is reported and left out; the tunnel after it still runs
/// and answers to its own name.
#[test]
fn a_tunnel_that_cannot_run_is_reported_and_the_next_one_still_runs() {
    let text = r#"
duration = "20s"

[[vnet]]
name = "h1"
ranges = ["10.1.0.0/16"]
route_server = { instances = ["10.1.1.4", "10.1.1.5"] }
subnet = [{ name = "nva", prefix = "10.1.2.0/24" }]

[[vnet]]
name = "h2"
ranges = ["10.2.0.0/16"]
route_server = { instances = ["10.2.1.4", "10.2.1.5"] }
subnet = [{ name = "nva", prefix = "10.2.2.0/24" }]

[[nva]]
name = "odd"
vnet = "h1"
ip = "10.1.2.9"
asn = 23456

[[nva]]
name = "nva1"
vnet = "h1"
ip = "10.1.2.4"
asn = 65001

[[nva]]
name = "nva2"
vnet = "h2"
ip = "10.2.2.4"
asn = 65002

[[tunnel]]
name = "broken"
between = ["odd", "nva2"]

[[tunnel]]
name = "good"
between = ["nva1", "nva2"]

[[event]]
at = "10s"
do = "tunnel_down"
tunnel = "broken"

# The tunnel's own line (its name as the author), before the timeline names it at 10 s.
[[expect]]
at = "5s"
check = "event"
contains = "broken"

[[expect]]
at = "5s"
check = "tunnel"
tunnel = "good"
node = "nva2"
state = "Established"

[[expect]]
at = "5s"
check = "tunnel"
tunnel = "broken"
node = "nva2"
state = "no session"

[[expect]]
at = "15s"
check = "received"
tunnel = "good"
node = "nva1"
prefix = "10.2.0.0/16"
as_path = [65002, 65515]
"#;
    replay("broken", text);
}

/// A topology built by hand whose tunnel joins an NVA to itself, or names a speaker that
/// does not exist, and a gateway connected to a circuit that does not exist: the
/// simulator leaves them out and says so, and runs.
#[test]
fn a_hand_built_topology_with_impossible_tunnels_and_circuits_runs() {
    use fabric_sim::engine::Sim;
    use fabric_sim::model::Tunnel;
    let text = format!("duration = \"10s\"\n{TWO_HUBS}\n[[gateway]]\nname = \"er\"\nkind = \"expressroute\"\nvnet = \"h1\"\nip = \"10.1.2.40\"\n");
    let mut s = scenario::parse("hand", &text).expect("valid");
    s.topology.tunnels.push(Tunnel {
        name: "self".into(),
        a: 0,
        b: 0,
        up: true,
    });
    s.topology.tunnels.push(Tunnel {
        name: "nowhere".into(),
        a: 0,
        b: 99,
        up: true,
    });
    let er = s.topology.speaker_by_name("er").expect("er");
    s.topology.speakers[er].circuits.push(7);
    let mut sim = Sim::new(&s);
    sim.run_until(fabric_sim::Instant::ZERO + std::time::Duration::from_secs(10))
        .expect("runs");
    let log: Vec<String> = sim
        .log()
        .iter()
        .map(|l| format!("{} {}", l.who, l.text))
        .collect();
    assert!(
        log.iter()
            .any(|l| l.starts_with("self ") && l.contains("left out")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("nowhere ") && l.contains("left out")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("er ") && l.contains("no circuit")),
        "{log:?}"
    );
    assert_eq!(sim.tunnel_state(0, 0).as_deref(), Some("Established"));
}

/// Regression (found by the DST, seeds 4, 40 and 41 of the generator that added second
/// hubs): two gateways in a VNet without a route server offering the same prefix used
/// to program the union of their next hops whatever their AS paths. ExpressRoute routes
/// now beat VPN ones (the default hub routing preference, spec 1.8, applied to what the
/// gateways program themselves, since the spec names no other rule), even with a longer
/// AS path; a prefix only the VPN gateway offers still goes to it.
#[test]
fn without_a_route_server_expressroute_beats_vpn_on_the_same_prefix() {
    let text = r#"
duration = "20s"

[[vnet]]
name = "hub"
ranges = ["10.1.0.0/16"]
subnet = [{ name = "GatewaySubnet", prefix = "10.1.0.0/27" }, { name = "app", prefix = "10.1.3.0/24" }]
vm = [{ name = "vm1", ip = "10.1.3.4" }]

[[circuit]]
name = "a"
msee = "172.31.0.1"
route = [{ prefix = "192.168.0.0/16", as_path = [65010, 65010, 65010] }]

[[gateway]]
name = "er"
kind = "expressroute"
vnet = "hub"
ip = "10.1.0.4"
circuits = ["a"]

[[gateway]]
name = "vpn"
kind = "vpn"
vnet = "hub"
ip = "10.1.0.5"
route = [{ prefix = "192.168.0.0/16", as_path = [65020] },
         { prefix = "172.20.0.0/16", as_path = [65020] }]

[[expect]]
at = "5s"
check = "route"
vm = "vm1"
prefix = "192.168.0.0/16"
via = ["172.31.0.1"]

[[expect]]
at = "5s"
check = "route"
vm = "vm1"
prefix = "172.20.0.0/16"
via = ["10.1.0.5"]

[[event]]
at = "10s"
do = "crash"
node = "er"

[[expect]]
at = "10s"
check = "route"
vm = "vm1"
prefix = "192.168.0.0/16"
via = ["10.1.0.5"]
"#;
    replay("er-beats-vpn", text);
}

/// Regression (found by the DST, seeds 7, 34 and 35 of the generator that added
/// tunnels): a timeline announce or prepend on a prefix an NVA passes on from its
/// tunnel overwrote the derived route for good, since the derived route itself had not
/// changed. `scenarios/README.md` says the derived route replaces it: the route server
/// must keep learning the tunnel's path (nva2's `[65002, 65515]` after AS override,
/// nva1's ASN prepended).
#[test]
fn a_timeline_announce_or_prepend_does_not_replace_a_route_passed_on_from_a_tunnel() {
    let text = format!(
        "duration = \"30s\"\n{TWO_HUBS}
[[event]]
at = \"10s\"
do = \"announce\"
node = \"nva1\"
prefix = \"10.2.0.0/16\"
as_path = [65001]

[[expect]]
at = \"12s\"
check = \"learned\"
from = \"nva1\"
prefix = \"10.2.0.0/16\"
as_path = [65001, 65002, 65001]

[[event]]
at = \"15s\"
do = \"prepend\"
node = \"nva1\"
times = 2

[[expect]]
at = \"17s\"
check = \"learned\"
from = \"nva1\"
prefix = \"10.2.0.0/16\"
as_path = [65001, 65002, 65001]
"
    );
    replay("derived-kept", &text);
}

/// Regression (found by the DST's rule 11, after the generator added tunnels): an NVA
/// passed on over its tunnel routes its route server sent it whose AS path already
/// held its own ASN. RFC 4271 9.1.2: it never accepted them, so it cannot pass them
/// on. Here nva3 announces 10.99.0.0/16 as if it had come through AS 65001 (nva1's);
/// nva1 gets it from its route server as `65515 65003 65001` and must not send it to
/// nva2, while 10.98.0.0/16 (no 65001) goes over the tunnel as `65001 65515 65003`.
#[test]
fn an_nva_does_not_pass_on_over_a_tunnel_a_route_holding_its_own_asn() {
    let text = format!(
        "duration = \"30s\"\n{TWO_HUBS}
[[nva]]
name = \"nva3\"
vnet = \"h1\"
ip = \"10.1.2.6\"
asn = 65003
route = [{{ prefix = \"10.99.0.0/16\", as_path = [65003, 65001] }},
         {{ prefix = \"10.98.0.0/16\", as_path = [65003] }}]

[[expect]]
at = \"10s\"
check = \"received\"
node = \"nva1\"
prefix = \"10.99.0.0/16\"
as_path = [65515, 65003, 65001]

[[expect]]
at = \"10s\"
check = \"received\"
tunnel = \"t\"
node = \"nva2\"
prefix = \"10.99.0.0/16\"
present = false

[[expect]]
at = \"10s\"
check = \"received\"
tunnel = \"t\"
node = \"nva2\"
prefix = \"10.98.0.0/16\"
as_path = [65001, 65515, 65003]
"
    );
    replay("own-asn-not-passed-on", &text);
}

/// Regression (found by the DST, seeds 199, 277 and 329 of the generator that added
/// circuits): a timeline withdraw of a prefix an ExpressRoute gateway passes on from its
/// circuit put a withdrawal on the wire, and the derived route went out again one step
/// later; the route server saw ExpressRoute go and come back, failed over to the VPN
/// route and stayed there (non-reverting, spec 1.8 and scenario 22). The derived route
/// stands (`scenarios/README.md`): nothing changes on the wire, ExpressRoute stays.
#[test]
fn a_timeline_withdraw_of_a_circuit_route_does_not_make_the_route_server_fail_over() {
    let text = r#"
duration = "30s"

[[vnet]]
name = "hub"
ranges = ["10.1.0.0/16"]
route_server = { instances = ["10.1.1.4", "10.1.1.5"], preference = "ExpressRoute" }
subnet = [{ name = "GatewaySubnet", prefix = "10.1.0.0/27" }, { name = "app", prefix = "10.1.3.0/24" }]
vm = [{ name = "vm1", ip = "10.1.3.4" }]

[[circuit]]
name = "a"
msee = "172.31.0.1"
route = [{ prefix = "192.168.0.0/16", as_path = [65010] }]

[[gateway]]
name = "er"
kind = "expressroute"
vnet = "hub"
ip = "10.1.0.4"
circuits = ["a"]

[[gateway]]
name = "vpn"
kind = "vpn"
vnet = "hub"
ip = "10.1.0.5"
route = [{ prefix = "192.168.0.0/16", as_path = [65020, 65010] }]

[[expect]]
at = "5s"
check = "route"
vm = "vm1"
prefix = "192.168.0.0/16"
via = ["10.1.0.4"]

[[event]]
at = "10s"
do = "withdraw"
node = "er"
prefix = "192.168.0.0/16"

[[expect]]
at = "15s"
check = "route"
vm = "vm1"
prefix = "192.168.0.0/16"
via = ["10.1.0.4"]
"#;
    replay("withdraw-derived", text);
}
