//! Effective routes of a NIC, as Azure computes them (spec section 1.5).
//!
//! * Routes: system routes (the VNet's ranges `VnetLocal`, peered ranges `VNetPeering`,
//!   `0.0.0.0/0` to `Internet`), BGP routes programmed by the route server (or learned by
//!   a gateway: both are `VirtualNetworkGateway`), and the subnet's user-defined routes.
//! * A BGP route equal to or inside the VNet's range or a peered range is not injected at
//!   all: those system routes win even against more specific BGP routes.
//! * "Propagate gateway routes = No" on the subnet's route table removes every BGP route.
//! * For one prefix: user route > BGP > system route; the others show as `Invalid`.
//! * Forwarding: longest prefix match over the active routes.
//!
//! Not modelled: Azure's `None` system routes for 10/8, 172.16/12, 192.168/16 and
//! 100.64/10 (shown only while nothing else covers them), service endpoints.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};

use crate::model::{RouteTable, UserNextHop};

/// Where an effective route comes from (Azure's `source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// A system route.
    Default,
    /// A BGP route (route server or gateway).
    VirtualNetworkGateway,
    /// A user-defined route.
    User,
}

/// Azure's next hop types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NextHopType {
    /// Inside the VNet.
    VnetLocal,
    /// Into a peered VNet.
    VNetPeering,
    /// Out to the internet.
    Internet,
    /// Dropped.
    None,
    /// To an appliance address (user route).
    VirtualAppliance,
    /// To the route server's programmed next hop(s) or a gateway.
    VirtualNetworkGateway,
}

impl NextHopType {
    /// Azure's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::VnetLocal => "VnetLocal",
            Self::VNetPeering => "VNetPeering",
            Self::Internet => "Internet",
            Self::None => "None",
            Self::VirtualAppliance => "VirtualAppliance",
            Self::VirtualNetworkGateway => "VirtualNetworkGateway",
        }
    }
}

/// One row of a NIC's effective route table.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EffectiveRoute {
    /// The destination.
    pub prefix: Ipv4Net,
    /// Where it comes from.
    pub source: Source,
    /// Whether it is the one used for its prefix (`Active`) or overridden (`Invalid`).
    pub active: bool,
    /// Next hop type.
    pub next_hop_type: NextHopType,
    /// Next hop addresses (several: ECMP).
    pub next_hops: Vec<Ipv4Addr>,
}

/// Everything a NIC's effective routes depend on: NICs with equal views share one table.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteView {
    /// The NIC's VNet.
    pub vnet: usize,
    /// Its subnet's route table.
    pub route_table: Option<usize>,
    /// The route-server instance programming it.
    pub instance: Option<(usize, usize)>,
}

/// Computes a NIC's effective routes, sorted by prefix then by rank (the active one
/// first).
pub fn compute(
    vnet_ranges: &[IpNet],
    peered_ranges: &[IpNet],
    route_table: Option<&RouteTable>,
    bgp: &BTreeMap<IpNet, Vec<IpAddr>>,
) -> Vec<EffectiveRoute> {
    let mut all: Vec<EffectiveRoute> = Vec::new();
    let v4 = |n: &IpNet| match n {
        IpNet::V4(n) => Some(*n),
        IpNet::V6(_) => None,
    };
    for r in vnet_ranges.iter().filter_map(v4) {
        all.push(EffectiveRoute {
            prefix: r,
            source: Source::Default,
            active: false,
            next_hop_type: NextHopType::VnetLocal,
            next_hops: Vec::new(),
        });
    }
    for r in peered_ranges.iter().filter_map(v4) {
        all.push(EffectiveRoute {
            prefix: r,
            source: Source::Default,
            active: false,
            next_hop_type: NextHopType::VNetPeering,
            next_hops: Vec::new(),
        });
    }
    all.push(EffectiveRoute {
        prefix: Ipv4Net::default(),
        source: Source::Default,
        active: false,
        next_hop_type: NextHopType::Internet,
        next_hops: Vec::new(),
    });
    let propagate = route_table.map_or(true, |t| t.propagate_gateway_routes);
    if propagate {
        let protected: Vec<Ipv4Net> = vnet_ranges
            .iter()
            .chain(peered_ranges)
            .filter_map(v4)
            .collect();
        for (prefix, hops) in bgp {
            let Some(prefix) = v4(prefix) else { continue };
            if protected.iter().any(|r| r.contains(&prefix)) {
                continue;
            }
            let mut next_hops: Vec<Ipv4Addr> = hops
                .iter()
                .filter_map(|h| match h {
                    IpAddr::V4(a) => Some(*a),
                    IpAddr::V6(_) => None,
                })
                .collect();
            next_hops.sort();
            next_hops.dedup();
            all.push(EffectiveRoute {
                prefix,
                source: Source::VirtualNetworkGateway,
                active: false,
                next_hop_type: NextHopType::VirtualNetworkGateway,
                next_hops,
            });
        }
    }
    if let Some(table) = route_table {
        for udr in &table.routes {
            let (next_hop_type, next_hops) = match udr.next_hop {
                UserNextHop::VirtualAppliance(a) => (NextHopType::VirtualAppliance, vec![a]),
                UserNextHop::Internet => (NextHopType::Internet, Vec::new()),
                UserNextHop::Drop => (NextHopType::None, Vec::new()),
                UserNextHop::VnetLocal => (NextHopType::VnetLocal, Vec::new()),
                UserNextHop::VirtualNetworkGateway => {
                    (NextHopType::VirtualNetworkGateway, Vec::new())
                }
            };
            all.push(EffectiveRoute {
                prefix: udr.prefix,
                source: Source::User,
                active: false,
                next_hop_type,
                next_hops,
            });
        }
    }
    // Per prefix: user > BGP > system; the first of each prefix (highest source) is active.
    all.sort_by(|a, b| a.prefix.cmp(&b.prefix).then(b.source.cmp(&a.source)));
    let mut last: Option<Ipv4Net> = None;
    for r in &mut all {
        r.active = last != Some(r.prefix);
        last = Some(r.prefix);
    }
    all
}

/// The active route used for `destination`: longest prefix match.
pub fn lookup(routes: &[EffectiveRoute], destination: Ipv4Addr) -> Option<&EffectiveRoute> {
    routes
        .iter()
        .filter(|r| r.active && r.prefix.contains(&destination))
        .max_by_key(|r| r.prefix.prefix_len())
}
