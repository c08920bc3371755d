//! Properties of the policy functions over generated inputs.

use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::{AsPath, Origin};
use proptest::prelude::*;
use route_server::policy::{self, Candidate, ExportSource, KindSet, PeerId, Previous};
use route_server::{Config, HubRoutingPreference, PeerConfig, PeerKind, RouteAttrs};

fn kind(k: u8) -> PeerKind {
    match k % 3 {
        0 => PeerKind::Nva,
        1 => PeerKind::ExpressRoute,
        _ => PeerKind::VpnGateway,
    }
}

fn preference(p: u8) -> HubRoutingPreference {
    match p % 3 {
        0 => HubRoutingPreference::ExpressRoute,
        1 => HubRoutingPreference::VpnGateway,
        _ => HubRoutingPreference::AsPath,
    }
}

fn rows() -> impl Strategy<Value = Vec<(u8, u8, u8)>> {
    // (kind, path length 1..=4, next hop last octet)
    proptest::collection::vec((0u8..3, 1u8..=4, 1u8..12), 0..10)
}

fn attrs(rows: &[(u8, u8, u8)]) -> Vec<RouteAttrs> {
    rows.iter()
        .enumerate()
        .map(|(i, (_, len, hop))| {
            let path =
                AsPath::from_sequence(std::iter::repeat(65001 + i as u32).take(usize::from(*len)));
            RouteAttrs::new(Origin::Igp, path, IpAddr::V4(Ipv4Addr::new(10, 1, 2, *hop)))
        })
        .collect()
}

proptest! {
    /// The winners do not depend on the order the paths arrived in.
    #[test]
    fn selection_is_order_independent(
        rows in rows(), pref in 0u8..3, revertive: bool, previous in 0u8..3, rotate in 0usize..10,
    ) {
        let attrs = attrs(&rows);
        let candidates: Vec<Candidate<'_>> = rows.iter().zip(&attrs).enumerate()
            .map(|(i, ((k, _, _), a))| Candidate { peer: PeerId(i as u32), kind: kind(*k), attrs: a })
            .collect();
        // The last selection: nothing, an ExpressRoute route, or a failover to peer 0.
        let kinds: KindSet = match previous { 0 => KindSet::default(), 1 => [PeerKind::ExpressRoute].into_iter().collect(), _ => [PeerKind::VpnGateway].into_iter().collect() };
        let failed_over_to = if previous == 2 { vec![PeerId(0)] } else { Vec::new() };
        let previous = Previous { kinds, failed_over_to: &failed_over_to };
        let mut rotated = candidates.clone();
        if !rotated.is_empty() {
            let n = rotate % rotated.len();
            rotated.rotate_left(n);
        }
        let a = policy::select(preference(pref), revertive, previous, &candidates);
        let b = policy::select(preference(pref), revertive, previous, &rotated);
        let mut wa: Vec<PeerId> = a.best.iter().map(|&i| candidates[i].peer).collect();
        let mut wb: Vec<PeerId> = b.best.iter().map(|&i| rotated[i].peer).collect();
        wa.sort();
        wb.sort();
        prop_assert_eq!(wa, wb);
        prop_assert_eq!(a.failed_over, b.failed_over);
        prop_assert_eq!(a.kinds, b.kinds);
        prop_assert_eq!(
            policy::ecmp_next_hops(&candidates, &a, 8),
            policy::ecmp_next_hops(&rotated, &b, 8)
        );
        // Something always wins when there is something, and winners tie on path length.
        prop_assert_eq!(a.best.is_empty(), candidates.is_empty());
        let lengths: Vec<usize> = a.best.iter().map(|&i| candidates[i].attrs.as_path.path_length()).collect();
        prop_assert!(lengths.windows(2).all(|w| w[0] == w[1]));
    }

    /// Next hops are distinct, sorted and at most the ECMP width.
    #[test]
    fn ecmp_next_hops_are_bounded(rows in rows(), width in 1usize..9) {
        let attrs = attrs(&rows);
        let candidates: Vec<Candidate<'_>> = attrs.iter().enumerate()
            .map(|(i, a)| Candidate { peer: PeerId(i as u32), kind: PeerKind::Nva, attrs: a })
            .collect();
        let all = policy::Selection { best: (0..candidates.len()).collect(), ..Default::default() };
        let hops = policy::ecmp_next_hops(&candidates, &all, width);
        prop_assert!(hops.len() <= width);
        prop_assert!(hops.windows(2).all(|w| w[0] < w[1]));
    }

    /// Toward an NVA a learned route always leaves with 65515 in front and this
    /// instance as next hop, or not at all.
    #[test]
    fn export_to_nvas_prepends_and_sets_next_hop(rows in rows(), b2b: bool, from_kind in 0u8..3) {
        let mut config = Config::azure(Ipv4Addr::new(10, 1, 1, 4), vec!["10.1.0.0/16".parse().unwrap()]);
        config.branch_to_branch = b2b;
        let to = PeerConfig::nva(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 200)), 65100);
        for a in attrs(&rows) {
            let candidate = Candidate { peer: PeerId(1), kind: kind(from_kind), attrs: &a };
            let prefix = "10.250.0.0/16".parse().unwrap();
            match policy::export(&config, prefix, ExportSource::Learned(candidate), PeerId(2), &to) {
                Ok((_, out)) => {
                    prop_assert_eq!(out.as_path.first_as(), Some(65515));
                    prop_assert_eq!(out.as_path.path_length(), a.as_path.path_length() + 1);
                    prop_assert_eq!(out.next_hop, IpAddr::V4(Ipv4Addr::new(10, 1, 1, 4)));
                }
                Err(reason) => {
                    prop_assert_eq!(reason, policy::NotExported::BranchToBranchOff);
                    prop_assert!(!b2b && kind(from_kind).is_gateway());
                }
            }
        }
    }
}
