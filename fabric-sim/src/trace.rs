//! Where a packet goes: from a VM, hop by hop through effective routes.
//!
//! At each NIC the active route for the destination (longest prefix) decides:
//! `VnetLocal`/`VNetPeering` deliver to the VM holding the address; `Internet` leaves
//! Azure; `None` drops; a next hop address is followed: a load balancer front end
//! spreads over its back ends (unusable when it sits in another region than the route
//! server programming the route, spec 1.5), a gateway hands the packet to on-premises, an
//! NVA that announces a route covering the destination takes it (its own tunnel or
//! uplink), any other NVA forwards it from its own NIC. Several next hops (ECMP) give
//! several paths.

use std::net::Ipv4Addr;

use crate::effective::NextHopType;
use crate::engine::Sim;
use crate::model::SpeakerKind;

/// The longest path followed before giving up.
const MAX_HOPS: usize = 16;

/// One path of a trace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TracePath {
    /// Names of the NICs and devices crossed, the source first.
    pub hops: Vec<String>,
    /// How it ends: `vm:NAME`, `nva:NAME`, `onprem:NAME`, `internet`, `drop`,
    /// `loop:NAME`, `unreachable:ADDR`, `ilb-unusable:NAME`, `gateway`.
    pub end: String,
}

/// Every path a packet from VM `vm` to `destination` can take now.
pub fn trace(sim: &Sim, vm: usize, destination: Ipv4Addr) -> Vec<TracePath> {
    let mut out = Vec::new();
    let name = sim.topology.vms[vm].name.clone();
    walk(sim, vm, destination, vec![name], &mut out);
    out.sort();
    out.dedup();
    out
}

fn walk(sim: &Sim, vm: usize, destination: Ipv4Addr, hops: Vec<String>, out: &mut Vec<TracePath>) {
    let topo = &sim.topology;
    let end = |hops: Vec<String>, end: String, out: &mut Vec<TracePath>| {
        out.push(TracePath { hops, end })
    };
    if hops.len() > MAX_HOPS {
        return end(hops, "drop:too-many-hops".into(), out);
    }
    let Some(route) = sim.lookup(vm, destination) else {
        return end(hops, "drop".into(), out);
    };
    match route.next_hop_type {
        NextHopType::Internet => end(hops, "internet".into(), out),
        NextHopType::None => end(hops, "drop".into(), out),
        NextHopType::VnetLocal | NextHopType::VNetPeering => match topo.vm_by_ip(destination) {
            Some(d) => end(hops, format!("vm:{}", topo.vms[d].name), out),
            None => end(hops, format!("unreachable:{destination}"), out),
        },
        NextHopType::VirtualAppliance | NextHopType::VirtualNetworkGateway => {
            if route.next_hops.is_empty() {
                return end(hops, "gateway".into(), out);
            }
            let serving_region = sim
                .serving_instance(vm)
                .map(|(v, _)| topo.vnets[v].region.clone());
            for hop in &route.next_hops {
                let targets: Vec<Ipv4Addr> =
                    match topo.load_balancers.iter().find(|lb| lb.frontend == *hop) {
                        Some(lb) => {
                            if route.next_hop_type == NextHopType::VirtualNetworkGateway
                                && serving_region.as_ref().is_some_and(|r| *r != lb.region)
                            {
                                end(hops.clone(), format!("ilb-unusable:{}", lb.name), out);
                                continue;
                            }
                            lb.backends.clone()
                        }
                        None => vec![*hop],
                    };
                for target in targets {
                    follow(sim, vm, destination, &hops, target, out);
                }
            }
        }
    }
}

fn follow(
    sim: &Sim,
    from_vm: usize,
    destination: Ipv4Addr,
    hops: &[String],
    target: Ipv4Addr,
    out: &mut Vec<TracePath>,
) {
    let topo = &sim.topology;
    let mut hops = hops.to_vec();
    // A gateway that programs NICs itself gives the MSEE of a circuit as next hop.
    if let Some(c) = topo.circuits.iter().find(|c| c.msee == target) {
        hops.push(c.name.clone());
        out.push(TracePath {
            hops,
            end: format!("onprem:{}", c.name),
        });
        return;
    }
    if let Some(k) = topo.speaker_by_ip(target) {
        let spec = &topo.speakers[k];
        if spec.kind != SpeakerKind::Nva {
            hops.push(spec.name.clone());
            out.push(TracePath {
                hops,
                end: format!("onprem:{}", spec.name),
            });
            return;
        }
    }
    let Some(next_vm) = topo.vm_by_ip(target) else {
        out.push(TracePath {
            hops,
            end: format!("unreachable:{target}"),
        });
        return;
    };
    let name = topo.vms[next_vm].name.clone();
    if next_vm == from_vm || hops.contains(&name) {
        hops.push(name.clone());
        out.push(TracePath {
            hops,
            end: format!("loop:{name}"),
        });
        return;
    }
    hops.push(name.clone());
    if let Some(k) = topo.vms[next_vm].speaker {
        // An NVA with a tunnel route for the destination sends it through the tunnel:
        // the packet continues from the NVA at the other end.
        if let Some(remote) = sim.tunnel_toward(k, destination) {
            let remote_spec = &topo.speakers[remote];
            let Some(remote_vm) = topo.vm_by_ip(remote_spec.ip) else {
                out.push(TracePath {
                    hops,
                    end: format!("unreachable:{}", remote_spec.ip),
                });
                return;
            };
            let remote_name = topo.vms[remote_vm].name.clone();
            if hops.contains(&remote_name) {
                hops.push(remote_name.clone());
                out.push(TracePath {
                    hops,
                    end: format!("loop:{remote_name}"),
                });
                return;
            }
            hops.push(remote_name);
            walk(sim, remote_vm, destination, hops, out);
            return;
        }
    }
    // An NVA announcing a route that covers the destination owns it (its uplink), unless
    // it has tunnels: then what it announces beyond them it can only send back out of its
    // own NIC (the no-tunnel loop of spec scenario 25).
    if let Some(k) = topo.vms[next_vm].speaker.filter(|k| !sim.has_tunnel(*k)) {
        let owns = sim.speaker_instances(k).into_iter().any(|rs| {
            sim.announced(k, rs).is_some_and(|t| {
                t.keys()
                    .any(|p| p.contains(&std::net::IpAddr::V4(destination)))
            })
        });
        if owns {
            out.push(TracePath {
                hops,
                end: format!("nva:{name}"),
            });
            return;
        }
    }
    walk(sim, next_vm, destination, hops, out);
}
