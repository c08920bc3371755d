//! Deterministic simulation testing: seeded random topologies and fault timelines
//! (crashes and restarts, keepalives stopped and resumed, connection resets, malformed
//! messages, an NVA going over the route limit, a half-peered NVA getting its second
//! session, an instance down and back, announcements, withdrawals and prepends,
//! branch-to-branch and preference switches; ExpressRoute, VPN and NVA routes on one
//! prefix, so gateways dropping and returning exercise non-reverting failover; VPN
//! point-to-site pools, programmed by the gateway itself). Most seeds add a second hub
//! in another region: ExpressRoute circuits shared by the gateways of both hubs (the
//! MSEE reflecting between them), a hub whose gateways program its NICs themselves
//! (ECMP over circuit connections) or whose route server the timeline deploys later,
//! NVA-to-NVA tunnels between the hubs with and without AS override, tunnels going down
//! and up, tunnel ends crashing and restarting, AS override switched. After every quiet
//! period, every NIC's routes must equal the oracle's (`fabric_sim::oracle`, ranking
//! with `route_server::reference`, both written from the spec, never calling
//! route-server code), and so must what speakers hold from route servers, over tunnels
//! and pass on from circuits and tunnels; every live speaker's sessions to instances
//! that are up must be Established, and nothing may panic. A run of many seeds must
//! reach each situation listed in `Coverage`.
//!
//! `FABRIC_SIM_DST_SEEDS=N` runs N seeds (default 250: 33 to 48 s in a debug build on
//! a 2-core machine shared with other builds, about 21 s of CPU; 3,000 seeds took
//! 583 s there);
//! `FABRIC_SIM_DST_FIRST=F` starts the run at seed F instead of 1;
//! `FABRIC_SIM_DST_SEED=S` runs seed S alone. A failing seed prints the command that
//! replays it.

use std::net::Ipv4Addr;
use std::time::Duration;

use fabric_sim::engine::Sim;
use fabric_sim::model::{
    Announcement, Circuit, Peering, RouteServerSpec, RouteTable, SpeakerKind, SpeakerSpec, Subnet,
    Topology, Tunnel, Vm, Vnet,
};
use fabric_sim::oracle::{disagreements, Oracle};
use fabric_sim::scenario::{Action, Scenario, TimedAction};
use fabric_sim::Instant;
use ipnet::{IpNet, Ipv4Net};
use route_server::HubRoutingPreference;

/// Longer than the hold time (180 s) plus the speakers' connect-retry back-off, so that
/// every fault has played out.
const QUIET: Duration = Duration::from_secs(900);

/// The route server's per-peer limit in generated topologies (Azure's is 4,000; the
/// counting rule is the same).
const ROUTE_LIMIT: usize = 40;

/// The hold time plus the links' latency and a margin.
const HOLD_PLUS: Duration = Duration::from_secs(182);

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn net(s: &str) -> IpNet {
    s.parse().expect("generator prefix")
}

fn subnet(name: &str, prefix: &str) -> Subnet {
    Subnet {
        name: name.into(),
        prefix: prefix.parse().expect("generator subnet"),
        route_table: None,
    }
}

/// NVA prefixes overlap on purpose (ECMP, prepends); gateways announce some of the same
/// prefixes (hub routing preference, non-reverting failover); some fall inside VNet ranges
/// (never programmed), one is a supernet.
const NVA_POOL: [&str; 10] = [
    "10.250.0.0/16",
    "10.251.0.0/16",
    "10.252.1.0/24",
    "0.0.0.0/0",
    "10.0.0.0/8",
    "10.1.9.0/24",
    "10.11.0.0/16",
    "172.31.0.0/16",
    "10.13.0.0/16",
    "10.13.5.0/24",
];
/// Gateway prefixes: on-premises ranges of their own, and NVA prefixes (so that
/// ExpressRoute, VPN and NVA routes meet on one prefix).
const GATEWAY_POOL: [&str; 6] = [
    "192.168.0.0/16",
    "192.168.7.0/24",
    "198.51.100.0/24",
    "10.250.0.0/16",
    "0.0.0.0/0",
    "10.252.1.0/24",
];

/// VPN point-to-site pools: one no one else announces, and two that NVAs or gateways
/// may announce as well.
const P2S_POOL: [&str; 3] = ["172.30.0.0/24", "10.250.0.0/16", "192.168.7.0/24"];

/// A gateway announcement: ExpressRoute paths carry Microsoft's 12076, VPN paths the
/// branch's ASN; 1 to 3 ASNs, so that gateway and NVA paths tie, win and lose.
fn gateway_route(rng: &mut Rng, kind: SpeakerKind, ip: Ipv4Addr) -> Announcement {
    let first = if kind == SpeakerKind::ExpressRoute {
        12076
    } else {
        65020
    };
    let mut as_path = vec![first];
    as_path.extend(std::iter::repeat(65010).take(rng.below(3)));
    Announcement {
        prefix: net(GATEWAY_POOL[rng.below(GATEWAY_POOL.len())]),
        as_path,
        next_hop: ip,
        communities: Vec::new(),
    }
}

/// What on-premises sends over circuits: prefixes of the gateways' pool, so that
/// circuit, VPN and NVA routes meet on one prefix.
const ONPREM_POOL: [&str; 5] = [
    "192.168.0.0/16",
    "192.168.7.0/24",
    "198.51.100.0/24",
    "10.250.0.0/16",
    "0.0.0.0/0",
];

/// The circuits and tunnels of a generated topology.
#[derive(Default)]
struct Extras {
    circuits: Vec<Circuit>,
    tunnels: Vec<Tunnel>,
}

fn nva_spec(
    name: String,
    vnet: usize,
    ip: Ipv4Addr,
    asn: u32,
    peers: Vec<(usize, usize)>,
) -> SpeakerSpec {
    SpeakerSpec {
        name,
        kind: SpeakerKind::Nva,
        vnet,
        ip,
        asn,
        peers,
        route_refresh: true,
        hold_time: 180,
        offers_ipv6: false,
        running: true,
        routes: Vec::new(),
        inbound_map: None,
        outbound_map: None,
        as_override: false,
        p2s_pools: Vec::new(),
        circuits: Vec::new(),
    }
}

/// A second hub in another region (10.2.0.0/16) and what connects it to the first:
/// ExpressRoute circuits shared by the ExpressRoute gateways of both hubs (the MSEE
/// reflecting between them, scenario 27; two connections of one gateway giving ECMP
/// while it programs NICs itself, scenario 31), and NVA-to-NVA tunnels between the hubs
/// with and without AS override (scenario 25). The second hub has no route server (its
/// gateways program its NICs), one deployed at time zero, or one deployed later by the
/// timeline.
fn add_second_hub(
    rng: &mut Rng,
    vnets: &mut Vec<Vnet>,
    vms: &mut Vec<Vm>,
    peerings: &mut Vec<Peering>,
    speakers: &mut Vec<SpeakerSpec>,
) -> Extras {
    let mut extras = Extras::default();
    for c in 0..1 + rng.below(2) {
        let routes = (0..1 + rng.below(2))
            .map(|_| {
                let mut as_path = vec![65010];
                as_path.extend(std::iter::repeat(65010).take(rng.below(2)));
                Announcement {
                    prefix: net(ONPREM_POOL[rng.below(ONPREM_POOL.len())]),
                    as_path,
                    next_hop: Ipv4Addr::UNSPECIFIED,
                    communities: if rng.chance(30) {
                        vec![(65010, 100)]
                    } else {
                        Vec::new()
                    },
                }
            })
            .collect();
        extras.circuits.push(Circuit {
            name: format!("circuit{c}"),
            msee: Ipv4Addr::new(192, 0, 2, 1 + c as u8),
            routes,
        });
    }
    let circuit_count = extras.circuits.len();
    let connections = |rng: &mut Rng| -> Vec<usize> {
        let picked: Vec<usize> = (0..circuit_count).filter(|_| rng.chance(70)).collect();
        if picked.is_empty() {
            vec![rng.below(circuit_count)]
        } else {
            picked
        }
    };
    // The first hub's ExpressRoute gateway, if any, gets its on-premises routes from
    // circuits rather than routes of its own.
    if let Some(er) = speakers
        .iter_mut()
        .find(|s| s.vnet == 0 && s.kind == SpeakerKind::ExpressRoute)
    {
        if rng.chance(80) {
            er.circuits = connections(rng);
            er.routes.clear();
        }
    }
    let h = vnets.len();
    let mode = rng.below(10);
    let has_route_server = mode >= 3;
    let deployed = mode >= 6;
    vnets.push(Vnet {
        name: "hub2".into(),
        region: "r2".into(),
        ranges: vec![net("10.2.0.0/16")],
        subnets: vec![
            subnet("GatewaySubnet", "10.2.0.0/27"),
            subnet("RouteServerSubnet", "10.2.1.0/26"),
            subnet("nva", "10.2.2.0/24"),
            subnet("app", "10.2.3.0/24"),
        ],
        route_server: has_route_server.then(|| RouteServerSpec {
            instances: vec![Ipv4Addr::new(10, 2, 1, 4), Ipv4Addr::new(10, 2, 1, 5)],
            branch_to_branch: rng.chance(60),
            preference: [
                HubRoutingPreference::ExpressRoute,
                HubRoutingPreference::VpnGateway,
                HubRoutingPreference::AsPath,
            ][rng.below(3)],
            max_routes_per_peer: Some(ROUTE_LIMIT as u32),
            deployed,
        }),
    });
    for m in 0..1 + rng.below(2) {
        vms.push(Vm {
            name: format!("hub2-vm{m}"),
            vnet: h,
            subnet: 3,
            ip: Ipv4Addr::new(10, 2, 3, 4 + m as u8),
            speaker: None,
        });
    }
    // A spoke of the second hub: with "use the remote gateway", its NICs get what the
    // hub's gateways or route server program, and its range goes into the circuits.
    if rng.chance(40) {
        vnets.push(Vnet {
            name: "hub2-spoke".into(),
            region: "r2".into(),
            ranges: vec![net("10.21.0.0/16")],
            subnets: vec![subnet("app", "10.21.1.0/24")],
            route_server: None,
        });
        vms.push(Vm {
            name: "hub2-spoke-vm".into(),
            vnet: vnets.len() - 1,
            subnet: 0,
            ip: Ipv4Addr::new(10, 21, 1, 4),
            speaker: None,
        });
        peerings.push(Peering {
            a: vnets.len() - 1,
            b: h,
            a_uses_remote_gateway: rng.chance(75),
            b_uses_remote_gateway: false,
        });
    }
    let gateway_peers = if deployed {
        vec![(h, 0), (h, 1)]
    } else {
        Vec::new()
    };
    if rng.chance(85) {
        let ip = Ipv4Addr::new(10, 2, 0, 4);
        speakers.push(SpeakerSpec {
            kind: SpeakerKind::ExpressRoute,
            asn: 65515,
            peers: gateway_peers.clone(),
            circuits: connections(rng),
            ..nva_spec("hub2-er".into(), h, ip, 65515, Vec::new())
        });
    }
    if rng.chance(30) {
        let ip = Ipv4Addr::new(10, 2, 0, 5);
        speakers.push(SpeakerSpec {
            kind: SpeakerKind::VpnGateway,
            peers: gateway_peers,
            routes: (0..1 + rng.below(2))
                .map(|_| gateway_route(rng, SpeakerKind::VpnGateway, ip))
                .collect(),
            // A pool no one else announces (the overlap with BGP routes is covered in
            // the first hub).
            p2s_pools: if rng.chance(50) {
                vec!["172.30.1.0/24".parse().expect("generator pool")]
            } else {
                Vec::new()
            },
            ..nva_spec("hub2-vpn".into(), h, ip, 65515, Vec::new())
        });
    }
    if !has_route_server {
        return extras;
    }
    let first_hub_nvas: Vec<usize> = speakers
        .iter()
        .enumerate()
        .filter(|(_, s)| s.vnet == 0 && s.kind == SpeakerKind::Nva)
        .map(|(k, _)| k)
        .collect();
    let mut second_hub_nvas = Vec::new();
    for j in 0..1 + rng.below(2) {
        let ip = Ipv4Addr::new(10, 2, 2, 4 + j as u8);
        // Now and then an ASN a first-hub NVA uses too: RFC 4271 loop detection then
        // drops, at the tunnel, what went through that NVA.
        let asn = if rng.chance(10) {
            65001
        } else {
            65101 + j as u32
        };
        let mut spec = nva_spec(format!("hub2-nva{j}"), h, ip, asn, vec![(h, 0), (h, 1)]);
        spec.routes = (0..rng.below(3))
            .map(|_| Announcement {
                prefix: net(NVA_POOL[rng.below(NVA_POOL.len())]),
                as_path: vec![asn; 1 + rng.below(2)],
                next_hop: ip,
                communities: Vec::new(),
            })
            .collect();
        speakers.push(spec);
        second_hub_nvas.push(speakers.len() - 1);
        vms.push(Vm {
            name: format!("hub2-nva{j}"),
            vnet: h,
            subnet: 2,
            ip,
            speaker: Some(speakers.len() - 1),
        });
    }
    for t in 0..1 + rng.below(2) {
        let a = first_hub_nvas[rng.below(first_hub_nvas.len())];
        let b = second_hub_nvas[rng.below(second_hub_nvas.len())];
        if extras
            .tunnels
            .iter()
            .any(|x| (x.a, x.b) == (a, b) || (x.a, x.b) == (b, a))
        {
            continue;
        }
        let (a, b) = if rng.chance(50) { (a, b) } else { (b, a) };
        extras.tunnels.push(Tunnel {
            name: format!("tunnel{t}"),
            a,
            b,
            up: rng.chance(85),
        });
        for k in [a, b] {
            speakers[k].as_override = rng.chance(50);
        }
    }
    extras
}

fn generate(seed: u64) -> Scenario {
    let mut rng = Rng(seed);
    let mut vnets = vec![Vnet {
        name: "hub".into(),
        region: "r1".into(),
        ranges: vec![net("10.1.0.0/16")],
        subnets: vec![
            subnet("GatewaySubnet", "10.1.0.0/27"),
            subnet("RouteServerSubnet", "10.1.1.0/26"),
            subnet("nva", "10.1.2.0/24"),
            subnet("app", "10.1.3.0/24"),
        ],
        route_server: Some(RouteServerSpec {
            instances: vec![Ipv4Addr::new(10, 1, 1, 4), Ipv4Addr::new(10, 1, 1, 5)],
            branch_to_branch: rng.chance(50),
            preference: [
                HubRoutingPreference::ExpressRoute,
                HubRoutingPreference::VpnGateway,
                HubRoutingPreference::AsPath,
            ][rng.below(3)],
            // A low limit keeps the over-the-limit fault cheap; the rule is Azure's.
            max_routes_per_peer: Some(ROUTE_LIMIT as u32),
            deployed: true,
        }),
    }];
    let mut route_tables = Vec::new();
    if rng.chance(30) {
        route_tables.push(RouteTable {
            name: "no-propagation".into(),
            propagate_gateway_routes: false,
            routes: Vec::new(),
        });
        vnets[0].subnets.push(Subnet {
            route_table: Some(0),
            ..subnet("isolated", "10.1.4.0/24")
        });
    }
    let mut vms = Vec::new();
    for m in 0..1 + rng.below(4) {
        vms.push(Vm {
            name: format!("vm{m}"),
            vnet: 0,
            subnet: 3,
            ip: Ipv4Addr::new(10, 1, 3, 4 + m as u8),
            speaker: None,
        });
    }
    if vnets[0].subnets.len() > 4 {
        vms.push(Vm {
            name: "isolated-vm".into(),
            vnet: 0,
            subnet: 4,
            ip: Ipv4Addr::new(10, 1, 4, 4),
            speaker: None,
        });
    }
    let mut peerings = Vec::new();
    for s in 0..rng.below(3) {
        let octet = 11 + s as u8;
        vnets.push(Vnet {
            name: format!("spoke{s}"),
            region: "r1".into(),
            ranges: vec![IpNet::V4(
                Ipv4Net::new(Ipv4Addr::new(10, octet, 0, 0), 16).expect("valid"),
            )],
            subnets: vec![Subnet {
                name: "app".into(),
                prefix: Ipv4Net::new(Ipv4Addr::new(10, octet, 1, 0), 24).expect("valid"),
                route_table: None,
            }],
            route_server: None,
        });
        vms.push(Vm {
            name: format!("spoke{s}-vm"),
            vnet: vnets.len() - 1,
            subnet: 0,
            ip: Ipv4Addr::new(10, octet, 1, 4),
            speaker: None,
        });
        peerings.push(Peering {
            a: vnets.len() - 1,
            b: 0,
            a_uses_remote_gateway: rng.chance(70),
            b_uses_remote_gateway: false,
        });
    }
    // A VNet peered only with the first spoke: its range is protected at that spoke's
    // NICs but unknown to the hub's route server, which may program it.
    if vnets.len() > 1 && rng.chance(50) {
        vnets.push(Vnet {
            name: "side".into(),
            region: "r1".into(),
            ranges: vec![net("10.13.0.0/16")],
            subnets: vec![subnet("app", "10.13.1.0/24")],
            route_server: None,
        });
        vms.push(Vm {
            name: "side-vm".into(),
            vnet: vnets.len() - 1,
            subnet: 0,
            ip: Ipv4Addr::new(10, 13, 1, 4),
            speaker: None,
        });
        peerings.push(Peering {
            a: vnets.len() - 1,
            b: 1,
            a_uses_remote_gateway: false,
            b_uses_remote_gateway: false,
        });
    }
    let mut speakers = Vec::new();
    let nvas = 1 + rng.below(5);
    for k in 0..nvas {
        let asn = 65001 + k as u32;
        let ip = Ipv4Addr::new(10, 1, 2, 4 + k as u8);
        let mut routes = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let prefix = net(NVA_POOL[rng.below(NVA_POOL.len())]);
            let mut as_path = vec![asn; 1 + rng.below(2)];
            if rng.chance(8) {
                as_path.push(if rng.chance(50) { 65515 } else { 0 });
            }
            routes.push(Announcement {
                prefix,
                as_path,
                next_hop: ip,
                communities: Vec::new(),
            });
        }
        let peers = if rng.chance(15) {
            vec![(0, rng.below(2))]
        } else {
            vec![(0, 0), (0, 1)]
        };
        speakers.push(SpeakerSpec {
            name: format!("nva{k}"),
            kind: SpeakerKind::Nva,
            vnet: 0,
            ip,
            asn,
            peers,
            route_refresh: rng.chance(80),
            hold_time: 180,
            offers_ipv6: false,
            running: true,
            routes,
            inbound_map: None,
            outbound_map: None,
            as_override: false,
            p2s_pools: Vec::new(),
            circuits: Vec::new(),
        });
        vms.push(Vm {
            name: format!("nva{k}"),
            vnet: 0,
            subnet: 2,
            ip,
            speaker: Some(speakers.len() - 1),
        });
    }
    // An ExpressRoute gateway, a VPN gateway, both or neither (both in GatewaySubnet).
    for (kind, name, host) in [
        (SpeakerKind::ExpressRoute, "er", 4),
        (SpeakerKind::VpnGateway, "vpn", 5),
    ] {
        if !rng.chance(50) {
            continue;
        }
        let ip = Ipv4Addr::new(10, 1, 0, host);
        let routes = (0..1 + rng.below(3))
            .map(|_| gateway_route(&mut rng, kind, ip))
            .collect();
        // Point-to-site pools, programmed by the VPN gateway itself: one of its own, or
        // one an NVA or the other gateway may announce too (the route server's wins).
        let p2s_pools = if kind == SpeakerKind::VpnGateway && rng.chance(50) {
            vec![P2S_POOL[rng.below(P2S_POOL.len())]
                .parse()
                .expect("generator pool")]
        } else {
            Vec::new()
        };
        speakers.push(SpeakerSpec {
            name: name.into(),
            kind,
            vnet: 0,
            ip,
            asn: 65515,
            peers: vec![(0, 0), (0, 1)],
            route_refresh: true,
            hold_time: 180,
            offers_ipv6: false,
            running: true,
            routes,
            inbound_map: None,
            outbound_map: None,
            as_override: false,
            p2s_pools,
            circuits: Vec::new(),
        });
    }
    let extras = if rng.chance(60) {
        add_second_hub(&mut rng, &mut vnets, &mut vms, &mut peerings, &mut speakers)
    } else {
        Extras::default()
    };
    vms.sort_by_key(|v| v.vnet);
    // Speakers' own NICs keep pointing at them after the sort (NVAs sit in the hub).
    let topology = Topology {
        vnets,
        route_tables,
        peerings,
        vms,
        speakers,
        load_balancers: Vec::new(),
        link_latency: Duration::from_millis(1 + rng.below(20) as u64),
        circuits: extras.circuits,
        tunnels: extras.tunnels,
    };
    let route_server_vnets: Vec<usize> = topology
        .vnets
        .iter()
        .enumerate()
        .filter(|(_, v)| v.route_server.is_some())
        .map(|(i, _)| i)
        .collect();

    // Timeline: phases of faults, each followed by a quiet period.
    let mut timeline = Vec::new();
    let phases = 2 + rng.below(3);
    let mut at = Duration::from_secs(30);
    let speaker_count = topology.speakers.len();
    let mut crashed = vec![false; speaker_count];
    let mut muted = vec![false; speaker_count];
    let mut down: Vec<[bool; 2]> = vec![[false; 2]; topology.vnets.len()];
    let mut tunnel_up: Vec<bool> = topology.tunnels.iter().map(|t| t.up).collect();
    let mut as_override: Vec<bool> = topology.speakers.iter().map(|s| s.as_override).collect();
    let mut undeployed: Vec<usize> = topology
        .vnets
        .iter()
        .enumerate()
        .filter(|(_, v)| v.route_server.as_ref().is_some_and(|rs| !rs.deployed))
        .map(|(i, _)| i)
        .collect();
    let mut half_peered: Vec<bool> = topology
        .speakers
        .iter()
        .map(|s| s.peers.len() == 1)
        .collect();
    for _ in 0..phases {
        for _ in 0..1 + rng.below(3) {
            let k = rng.below(speaker_count);
            let action = match rng.below(18) {
                14 if !tunnel_up.is_empty() => {
                    let t = rng.below(tunnel_up.len());
                    tunnel_up[t] = !tunnel_up[t];
                    Action::TunnelState {
                        tunnel: t,
                        up: tunnel_up[t],
                    }
                }
                15 if topology.speakers[k].kind == SpeakerKind::Nva => {
                    as_override[k] = !as_override[k];
                    Action::AsOverride {
                        speaker: k,
                        on: as_override[k],
                    }
                }
                16 if !undeployed.is_empty() => Action::DeployRouteServer {
                    vnet: undeployed.remove(0),
                },
                13 if topology.speakers[k].kind == SpeakerKind::Nva => {
                    // Over the route limit: ROUTE_LIMIT + 1 more /24s.
                    let spec = &topology.speakers[k];
                    Action::Announce {
                        speaker: k,
                        instance: None,
                        routes: (0..=ROUTE_LIMIT as u32)
                            .map(|j| Announcement {
                                prefix: IpNet::V4(
                                    Ipv4Net::new(
                                        Ipv4Addr::from(
                                            u32::from(Ipv4Addr::new(100, 64, 0, 0)) + j * 256,
                                        ),
                                        24,
                                    )
                                    .expect("valid"),
                                ),
                                as_path: vec![spec.asn],
                                next_hop: spec.ip,
                                communities: Vec::new(),
                            })
                            .collect(),
                    }
                }
                12 if half_peered[k] => {
                    half_peered[k] = false;
                    let have = topology.speakers[k].peers[0].1;
                    Action::AddPeer {
                        speaker: k,
                        instance: (0, 1 - have),
                    }
                }
                0 if !crashed[k] => {
                    crashed[k] = true;
                    Action::Crash { speaker: k }
                }
                1 if crashed[k] => {
                    crashed[k] = false;
                    muted[k] = false;
                    Action::Restart { speaker: k }
                }
                2 if !muted[k] => {
                    muted[k] = true;
                    Action::StopKeepalives { speaker: k }
                }
                3 if muted[k] => {
                    muted[k] = false;
                    Action::ResumeKeepalives { speaker: k }
                }
                4 => Action::ResetSessions { speaker: k },
                5 | 17 => {
                    let vnet = route_server_vnets[rng.below(route_server_vnets.len())];
                    let i = rng.below(2);
                    if down[vnet][i] {
                        down[vnet][i] = false;
                        Action::InstanceUp { vnet, instance: i }
                    } else {
                        down[vnet][i] = true;
                        Action::InstanceDown { vnet, instance: i }
                    }
                }
                6 if topology.speakers[k].kind != SpeakerKind::Nva => {
                    let spec = &topology.speakers[k];
                    Action::Announce {
                        speaker: k,
                        instance: None,
                        routes: vec![gateway_route(&mut rng, spec.kind, spec.ip)],
                    }
                }
                6 => {
                    let spec = &topology.speakers[k];
                    Action::Announce {
                        speaker: k,
                        instance: None,
                        routes: vec![Announcement {
                            prefix: net(NVA_POOL[rng.below(NVA_POOL.len())]),
                            as_path: vec![spec.asn; 1 + rng.below(3)],
                            next_hop: spec.ip,
                            communities: Vec::new(),
                        }],
                    }
                }
                7 => {
                    let pool: &[&str] = if topology.speakers[k].kind == SpeakerKind::Nva {
                        &NVA_POOL
                    } else {
                        &GATEWAY_POOL
                    };
                    Action::Withdraw {
                        speaker: k,
                        instance: None,
                        prefixes: vec![net(pool[rng.below(pool.len())])],
                    }
                }
                8 => Action::Prepend {
                    speaker: k,
                    prefixes: Vec::new(),
                    times: 1,
                },
                9 => Action::BranchToBranch {
                    vnet: route_server_vnets[rng.below(route_server_vnets.len())],
                    on: rng.chance(50),
                },
                10 => Action::Preference {
                    vnet: route_server_vnets[rng.below(route_server_vnets.len())],
                    preference: [
                        HubRoutingPreference::ExpressRoute,
                        HubRoutingPreference::VpnGateway,
                        HubRoutingPreference::AsPath,
                    ][rng.below(3)],
                },
                _ if topology.speakers[k].peers.is_empty() => {
                    // A gateway programming NICs itself has no session to inject into.
                    Action::ResetSessions { speaker: k }
                }
                _ => {
                    // A malformed message: an UPDATE whose attribute length runs past the
                    // message (RFC 4271 6.3: UPDATE Message Error / Malformed Attribute
                    // List); the route server resets the session, the speaker reconnects.
                    let mut bytes = vec![0xff; 16];
                    bytes.extend_from_slice(&[0, 23, 2, 0, 0, 0x00, 0xff]);
                    let instance = *topology.speakers[k]
                        .peers
                        .first()
                        .expect("every speaker peers");
                    Action::Inject {
                        speaker: k,
                        instance,
                        bytes,
                    }
                }
            };
            timeline.push(TimedAction { at, action });
            at += Duration::from_millis(rng.below(5000) as u64);
        }
        at += QUIET;
    }
    Scenario {
        name: format!("dst seed {seed}"),
        description: String::new(),
        choices: Vec::new(),
        seed,
        duration: at,
        topology,
        timeline,
        expectations: Vec::new(),
    }
}

/// How many full checks found each situation the generator was widened for: a run of
/// many seeds must reach every one, or the oracle's rules for it went unexercised.
#[derive(Debug, Default, Clone, Copy)]
struct Coverage {
    /// A prefix held failed over (non-reverting failover in effect).
    failover: usize,
    /// An NVA holding routes over an Established tunnel.
    tunnel_routes: usize,
    /// An NVA with AS override passing on a tunnel route whose 65515 it replaced.
    as_override_applied: usize,
    /// An NVA without AS override passing on a tunnel route holding 65515 (which its
    /// route server refuses).
    tunnel_route_refused: usize,
    /// A gateway passing on a route the MSEE reflected from another VNet's gateway
    /// (65515 in the path: the route server refuses it, scenario 27).
    reflected: usize,
    /// A gateway programming NICs itself with ECMP over several circuit connections.
    connection_ecmp: usize,
    /// A check after a route server was deployed on the timeline.
    deployed_later: usize,
}

impl Coverage {
    fn add(&mut self, o: Self) {
        self.failover += o.failover;
        self.tunnel_routes += o.tunnel_routes;
        self.as_override_applied += o.as_override_applied;
        self.tunnel_route_refused += o.tunnel_route_refused;
        self.reflected += o.reflected;
        self.connection_ecmp += o.connection_ecmp;
        self.deployed_later += o.deployed_later;
    }

    /// What one full check at `sim` found.
    fn observe(&mut self, oracle: &Oracle, sim: &Sim, scenario: &Scenario) {
        let topo = &sim.topology;
        self.failover += oracle.failovers_in_effect(sim).min(1);
        let mut found = Self::default();
        for (t, tunnel) in topo.tunnels.iter().enumerate() {
            for k in [tunnel.a, tunnel.b] {
                let routes = sim.tunnel_received(t, k).map_or(0, |r| r.len());
                if routes > 0 && sim.tunnel_state(t, k).as_deref() == Some("Established") {
                    found.tunnel_routes = 1;
                }
                for r in sim
                    .tunnel_received(t, k)
                    .into_iter()
                    .flat_map(|r| r.values())
                {
                    if r.as_path.contains(&65515) {
                        if topo.speakers[k].as_override {
                            found.as_override_applied = 1;
                        } else {
                            found.tunnel_route_refused = 1;
                        }
                    }
                }
            }
        }
        for (k, spec) in topo.speakers.iter().enumerate() {
            if spec.circuits.is_empty() {
                continue;
            }
            let reflected = sim.speaker_instances(k).into_iter().any(|rs| {
                sim.announced(k, rs).is_some_and(|t| {
                    t.values()
                        .any(|a| a.as_path.iter().skip(1).any(|&asn| asn == 65515))
                })
            });
            if reflected {
                found.reflected = 1;
            }
        }
        for v in 0..topo.vnets.len() {
            let msee_ecmp = sim.gateway_routes(v).is_some_and(|t| {
                t.values().any(|hops| {
                    hops.iter()
                        .filter(|h| {
                            topo.circuits
                                .iter()
                                .any(|c| std::net::IpAddr::V4(c.msee) == **h)
                        })
                        .count()
                        > 1
                })
            });
            if msee_ecmp {
                found.connection_ecmp = 1;
            }
        }
        let deployed_at = scenario
            .timeline
            .iter()
            .find_map(|a| matches!(a.action, Action::DeployRouteServer { .. }).then_some(a.at));
        if deployed_at.is_some_and(|at| Instant::ZERO + at <= sim.now()) {
            found.deployed_later = 1;
        }
        self.add(found);
    }
}

/// Runs one seed; the problems found (empty: it passed) and what its checks covered.
fn check_seed(seed: u64) -> (Vec<String>, Coverage) {
    let scenario = generate(seed);
    let mut sim = Sim::new(&scenario);
    let mut oracle = Oracle::new();
    oracle.observe(&sim);
    // Quiet points: just before each burst of faults (the previous burst long settled) and
    // at the end.
    // Also, one hold time (180 s) and 2 s after each burst's last fault, a stale-route
    // check alone: no instance may still program a next hop of a speaker that is crashed
    // or silent (sessions that failed may still be in their idle hold back-off, up to
    // 300 s, so the full comparison waits for the quiet point).
    let mut checks: Vec<(Duration, bool)> = Vec::new();
    let mut last: Option<Duration> = None;
    for a in &scenario.timeline {
        if let Some(l) = last.filter(|l| a.at > *l + QUIET / 2) {
            checks.push((l + HOLD_PLUS, false));
            checks.push((a.at - Duration::from_secs(1), true));
        }
        last = Some(a.at);
    }
    if let Some(l) = last {
        checks.push((l + HOLD_PLUS, false));
    }
    checks.push((scenario.duration, true));
    let mut problems = Vec::new();
    let mut coverage = Coverage::default();
    for (t, full) in checks {
        if let Err(e) = sim.run_until_observed(Instant::ZERO + t, |s| oracle.observe(s)) {
            problems.push(format!("at {t:?}: {e}"));
            break;
        }
        if !full {
            for (k, spec) in sim.topology.speakers.iter().enumerate() {
                if sim.speaker_live(k) {
                    continue;
                }
                for rs in sim.speaker_instances(k) {
                    let stale: Vec<String> = sim
                        .programmed(rs)
                        .into_iter()
                        .flatten()
                        .filter(|(_, hops)| hops.contains(&std::net::IpAddr::V4(spec.ip)))
                        .map(|(p, _)| p.to_string())
                        .collect();
                    if !stale.is_empty() {
                        problems.push(format!("at {t:?}: IN_{} still programs {stale:?} via {} ({}), down for a hold time", rs.1, spec.ip, spec.name));
                    }
                }
            }
            // Nor may a live NVA still hold routes over a tunnel whose other end is
            // crashed or silent: its hold timer (180 s) has expired.
            for (n, tunnel) in sim.topology.tunnels.iter().enumerate() {
                for (k, other) in [(tunnel.a, tunnel.b), (tunnel.b, tunnel.a)] {
                    let held = sim.tunnel_received(n, k).map_or(0, |r| r.len());
                    if sim.speaker_live(k) && !sim.speaker_live(other) && held > 0 {
                        problems.push(format!(
                            "at {t:?}: {} still holds {held} route(s) over {} from {}, down for a hold time",
                            sim.topology.speakers[k].name,
                            tunnel.name,
                            sim.topology.speakers[other].name
                        ));
                    }
                }
            }
            continue;
        }
        coverage.observe(&oracle, &sim, &scenario);
        for d in disagreements(
            &oracle,
            &sim,
            &[Ipv4Addr::new(8, 8, 8, 8), Ipv4Addr::new(10, 1, 3, 9)],
        ) {
            problems.push(format!("at {t:?}: {d}"));
        }
        // Self-consistency (the simulator against itself): the in-place lookup used by
        // traces and large networks agrees with the materialized tables shown to users.
        for vm in 0..sim.topology.vms.len() {
            let table = sim.effective_routes(vm);
            for d in [
                Ipv4Addr::new(8, 8, 8, 8),
                Ipv4Addr::new(10, 250, 0, 1),
                Ipv4Addr::new(10, 13, 5, 1),
                Ipv4Addr::new(10, 1, 9, 1),
                Ipv4Addr::new(192, 168, 7, 1),
            ] {
                let materialized = fabric_sim::effective::lookup(&table, d).cloned();
                let in_place = sim.lookup(vm, d);
                if materialized != in_place {
                    problems.push(format!(
                        "at {t:?}: {} -> {d}: table {materialized:?}, lookup {in_place:?}",
                        sim.topology.vms[vm].name
                    ));
                }
            }
        }
        for (k, spec) in sim.topology.speakers.iter().enumerate() {
            if !sim.speaker_live(k) {
                continue;
            }
            for rs in sim.speaker_instances(k) {
                let state = sim.session_state(k, rs).unwrap_or_default();
                let over_limit = sim.announced(k, rs).is_some_and(|t| t.len() > ROUTE_LIMIT);
                if sim.instance_up(rs) && state != "Established" && !over_limit {
                    problems.push(format!(
                        "at {t:?}: live {} is {state} toward IN_{}",
                        spec.name, rs.1
                    ));
                }
            }
        }
        if !problems.is_empty() {
            break;
        }
    }
    (problems, coverage)
}

#[test]
fn random_topologies_and_faults_match_the_oracle_after_every_quiet_period() {
    let seeds: Vec<u64> = match std::env::var("FABRIC_SIM_DST_SEED") {
        Ok(s) => vec![s.parse().expect("FABRIC_SIM_DST_SEED is a number")],
        Err(_) => {
            let n: u64 = std::env::var("FABRIC_SIM_DST_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(250);
            let first: u64 = std::env::var("FABRIC_SIM_DST_FIRST")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(1);
            (first..first + n).collect()
        }
    };
    let mut failed = Vec::new();
    let mut coverage = Coverage::default();
    let many = seeds.len() >= 100;
    for seed in seeds {
        let (problems, covered) = std::panic::catch_unwind(|| check_seed(seed))
            .unwrap_or_else(|_| (vec!["panicked".into()], Coverage::default()));
        coverage.add(covered);
        if !problems.is_empty() {
            eprintln!(
                "seed {seed} failed:\n  {}\nreplay: FABRIC_SIM_DST_SEED={seed} cargo test -p fabric-sim --test dst -- --nocapture",
                problems.iter().take(8).cloned().collect::<Vec<_>>().join("\n  ")
            );
            failed.push(seed);
        }
    }
    // The generator must reach what it was widened for: checks made while a prefix was
    // held failed over (ExpressRoute and others on one prefix, the preferred kind gone
    // and back), tunnels carrying routes with and without AS override, the MSEE
    // reflecting between hubs, ECMP over circuit connections, late deployments.
    eprintln!("checks that found each situation: {coverage:?}");
    let Coverage {
        failover,
        tunnel_routes,
        as_override_applied,
        tunnel_route_refused,
        reflected,
        connection_ecmp,
        deployed_later,
    } = coverage;
    for (name, count) in [
        ("non-reverting failover", failover),
        ("routes over a tunnel", tunnel_routes),
        ("AS override", as_override_applied),
        (
            "a tunnel route holding 65515 without AS override",
            tunnel_route_refused,
        ),
        ("a route reflected by the MSEE", reflected),
        ("ECMP over circuit connections", connection_ecmp),
        ("a route server deployed on the timeline", deployed_later),
    ] {
        assert!(!many || count > 0, "no seed reached {name}");
    }
    assert!(
        failed.is_empty(),
        "{} seed(s) failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(20)]
    );
}
