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

/// The next hops a NIC's table shows for a BGP route with next hops `hops`: the IPv4
/// ones (an IPv4 route's IPv6 next hop cannot carry an IPv4 VM's traffic), sorted, each
/// once.
pub(crate) fn gateway_next_hops(hops: &[IpAddr]) -> Vec<Ipv4Addr> {
    let mut next_hops: Vec<Ipv4Addr> = hops
        .iter()
        .filter_map(|h| match h {
            IpAddr::V4(a) => Some(*a),
            IpAddr::V6(_) => None,
        })
        .collect();
    next_hops.sort();
    next_hops.dedup();
    next_hops
}

/// The next hop type and next hops a NIC's table shows for a user-defined route to `hop`.
pub(crate) fn user_route_next_hop(hop: UserNextHop) -> (NextHopType, Vec<Ipv4Addr>) {
    match hop {
        UserNextHop::VirtualAppliance(a) => (NextHopType::VirtualAppliance, vec![a]),
        UserNextHop::Internet => (NextHopType::Internet, Vec::new()),
        UserNextHop::Drop => (NextHopType::None, Vec::new()),
        UserNextHop::VnetLocal => (NextHopType::VnetLocal, Vec::new()),
        UserNextHop::VirtualNetworkGateway => (NextHopType::VirtualNetworkGateway, Vec::new()),
    }
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
            let next_hops = gateway_next_hops(hops);
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
            let (next_hop_type, next_hops) = user_route_next_hop(udr.next_hop);
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

#[cfg(test)]
mod tests {
    //! Cases from spec section 1.5 and the Azure UDR document it cites: expected values
    //! are the spec's, not this module's.
    use super::*;
    use crate::model::UserRoute;

    fn n(s: &str) -> IpNet {
        s.parse().expect("test prefix")
    }

    fn a(s: &str) -> Ipv4Addr {
        s.parse().expect("test address")
    }

    fn bgp(entries: &[(&str, &[&str])]) -> BTreeMap<IpNet, Vec<IpAddr>> {
        entries
            .iter()
            .map(|(p, hops)| (n(p), hops.iter().map(|h| IpAddr::V4(a(h))).collect()))
            .collect()
    }

    fn table(propagate: bool, routes: &[(&str, UserNextHop)]) -> RouteTable {
        RouteTable {
            name: "rt".into(),
            propagate_gateway_routes: propagate,
            routes: routes
                .iter()
                .map(|(p, h)| UserRoute {
                    prefix: p.parse().expect("test prefix"),
                    next_hop: *h,
                })
                .collect(),
        }
    }

    fn active(
        routes: &[EffectiveRoute],
        prefix: &str,
    ) -> Option<(Source, NextHopType, Vec<Ipv4Addr>)> {
        let p: Ipv4Net = prefix.parse().expect("test prefix");
        routes
            .iter()
            .find(|r| r.active && r.prefix == p)
            .map(|r| (r.source, r.next_hop_type, r.next_hops.clone()))
    }

    #[test]
    fn user_route_beats_bgp_beats_system_for_the_same_prefix() {
        // Spec scenario 2: the firewall's subnet with UDR 0/0 -> Internet; BGP 0/0 invalid.
        let udr = table(true, &[("0.0.0.0/0", UserNextHop::Internet)]);
        let routes = compute(
            &[n("10.1.0.0/16")],
            &[],
            Some(&udr),
            &bgp(&[("0.0.0.0/0", &["10.1.2.5"])]),
        );
        assert_eq!(
            active(&routes, "0.0.0.0/0"),
            Some((Source::User, NextHopType::Internet, vec![]))
        );
        let zero: Vec<&EffectiveRoute> = routes
            .iter()
            .filter(|r| r.prefix.prefix_len() == 0)
            .collect();
        assert_eq!(
            zero.len(),
            3,
            "the UDR, the BGP route and the system route are all listed"
        );
        assert_eq!(zero.iter().filter(|r| r.active).count(), 1);
        // Without the UDR, BGP beats the system default.
        let routes = compute(
            &[n("10.1.0.0/16")],
            &[],
            None,
            &bgp(&[("0.0.0.0/0", &["10.1.2.5"])]),
        );
        assert_eq!(
            active(&routes, "0.0.0.0/0"),
            Some((
                Source::VirtualNetworkGateway,
                NextHopType::VirtualNetworkGateway,
                vec![a("10.1.2.5")]
            ))
        );
    }

    #[test]
    fn vnet_and_peered_ranges_are_never_overridden_by_bgp_even_more_specific() {
        // Spec 1.5 exception and scenario 12: 10.1.5.0/24 inside the VNet and
        // 10.11.0.0/16 equal to a peered range are not injected; 10.0.0.0/8 is.
        let programmed = bgp(&[
            ("10.1.5.0/24", &["10.1.2.4"]),
            ("10.11.0.0/16", &["10.1.2.4"]),
            ("10.0.0.0/8", &["10.1.2.4"]),
        ]);
        let routes = compute(&[n("10.1.0.0/16")], &[n("10.11.0.0/16")], None, &programmed);
        assert!(routes.iter().all(|r| r.prefix.to_string() != "10.1.5.0/24"));
        assert_eq!(
            active(&routes, "10.11.0.0/16"),
            Some((Source::Default, NextHopType::VNetPeering, vec![]))
        );
        assert_eq!(
            lookup(&routes, a("10.1.5.9")).map(|r| r.next_hop_type),
            Some(NextHopType::VnetLocal)
        );
        assert_eq!(
            lookup(&routes, a("10.11.0.1")).map(|r| r.next_hop_type),
            Some(NextHopType::VNetPeering)
        );
        assert_eq!(
            lookup(&routes, a("10.200.0.1")).map(|r| r.next_hops.clone()),
            Some(vec![a("10.1.2.4")])
        );
    }

    #[test]
    fn propagate_gateway_routes_no_removes_every_bgp_route() {
        // Spec 1.5 and scenario 14: gateway and route-server routes both go; UDRs stay.
        let udr = table(
            false,
            &[("10.99.0.0/16", UserNextHop::VirtualAppliance(a("10.1.2.9")))],
        );
        let programmed = bgp(&[
            ("10.250.0.0/16", &["10.1.2.4"]),
            ("192.168.0.0/16", &["10.1.0.4"]),
        ]);
        let routes = compute(
            &[n("10.11.0.0/16")],
            &[n("10.1.0.0/16")],
            Some(&udr),
            &programmed,
        );
        assert!(routes
            .iter()
            .all(|r| r.source != Source::VirtualNetworkGateway));
        assert_eq!(
            active(&routes, "10.99.0.0/16"),
            Some((
                Source::User,
                NextHopType::VirtualAppliance,
                vec![a("10.1.2.9")]
            ))
        );
    }

    #[test]
    fn longest_prefix_wins_before_source() {
        // Spec 1.5 step 1: a BGP /24 beats a user /16 for addresses inside the /24.
        let udr = table(true, &[("10.0.0.0/16", UserNextHop::Drop)]);
        let routes = compute(
            &[n("10.1.0.0/16")],
            &[],
            Some(&udr),
            &bgp(&[("10.0.1.0/24", &["10.1.0.5"])]),
        );
        assert_eq!(
            lookup(&routes, a("10.0.1.7")).map(|r| r.source),
            Some(Source::VirtualNetworkGateway)
        );
        assert_eq!(
            lookup(&routes, a("10.0.2.7")).map(|r| r.next_hop_type),
            Some(NextHopType::None)
        );
    }

    #[test]
    fn ecmp_next_hops_are_listed_once_in_order() {
        let routes = compute(
            &[n("10.1.0.0/16")],
            &[],
            None,
            &bgp(&[("10.250.0.0/16", &["10.1.2.5", "10.1.2.4", "10.1.2.5"])]),
        );
        assert_eq!(
            active(&routes, "10.250.0.0/16").map(|r| r.2),
            Some(vec![a("10.1.2.4"), a("10.1.2.5")])
        );
    }
}
