//! Hub routing preference changes against Azure's non-reverting failover (issue 8 item 3)
//! and what each kind of peer receives with branch-to-branch off and on (item 4), through
//! the public API: NVAs and gateways are `bgp_fsm` sessions exchanging real BGP messages
//! with the route server in the lab.
//!
//! Expected values come from the spec: section 1.8 (preference order, "failover does not
//! revert", scenario 22's "sticky unless the VPN path is longer"), section 4 step 2
//! (gateway routes are candidates for NVA exchange only with branch-to-branch on), section
//! 1.7 (branch-to-branch off: nothing crosses between gateways and NVAs), and the rule the
//! crate documents for a preference change (a fresh ranking, `policy::select`).

mod support;

use std::net::{IpAddr, Ipv4Addr};

use bgp_fsm::State;
use fabric_sim::lab::{route, Lab};
use ipnet::IpNet;
use route_server::HubRoutingPreference;
use support::{
    connect_two_nvas_and_gateways, ip, net, nva, two_nvas_and_gateways, ER_NH, RS, VPN_NH,
};

const NVA_A: usize = 0;
const NVA_B: usize = 1;
const ER: usize = 2;
const VPN: usize = 3;

/// Two NVAs (65001, 65002), the ExpressRoute and the VPN gateway, all established.
fn lab(preference: HubRoutingPreference, b2b: bool) -> Lab {
    let mut config = two_nvas_and_gateways(b2b);
    config.hub_routing_preference = preference;
    connect_two_nvas_and_gateways(config)
}

fn programmed(lab: &Lab, prefix: &str) -> Option<Vec<Ipv4Addr>> {
    lab.fabric.get(&net(prefix)).map(|hops| {
        hops.iter()
            .map(|h| match h {
                IpAddr::V4(a) => *a,
                IpAddr::V6(_) => panic!("IPv6 next hop for an IPv4 route"),
            })
            .collect()
    })
}

/// The AS path and next hop speaker `i` holds for `prefix`.
fn received(lab: &Lab, i: usize, prefix: &str) -> Option<(Vec<u32>, IpAddr)> {
    lab.speakers[i].received.get(&net(prefix)).map(|r| {
        let path = r
            .as_path
            .segments
            .iter()
            .flat_map(|s| s.asns.iter().copied())
            .collect();
        (path, r.next_hop)
    })
}

const P: &str = "172.16.0.0/16";

fn er_route() -> Vec<bgp_wire::PathAttribute> {
    route(&[12076, 65010], ER_NH, &[])
}

fn vpn_route() -> Vec<bgp_wire::PathAttribute> {
    route(&[65020, 65030], VPN_NH, &[])
}

fn set_preference(lab: &mut Lab, preference: HubRoutingPreference) {
    let now = lab.now;
    lab.server.set_hub_routing_preference(now, preference);
    lab.settle();
}

// --- Item 3: failover memory and preference changes ------------------------------------

#[test]
fn failover_to_vpn_then_preference_vpngateway_then_back_to_expressroute() {
    let mut lab = lab(HubRoutingPreference::ExpressRoute, true);
    lab.announce(ER, &[net(P)], &er_route());
    lab.announce(VPN, &[net(P)], &vpn_route());
    assert_eq!(programmed(&lab, P), Some(vec![ER_NH]), "ER preferred");
    lab.withdraw(ER, &[net(P)]);
    assert_eq!(programmed(&lab, P), Some(vec![VPN_NH]), "failover to VPN");
    lab.announce(ER, &[net(P)], &er_route());
    assert_eq!(
        programmed(&lab, P),
        Some(vec![VPN_NH]),
        "equal paths: the failover does not revert"
    );
    // The operator now prefers VPN: VPN, the preferred kind and the one in use (before the
    // fix the remembered "fallback" tier was re-read under the new preference and moved
    // traffic to ER, neither preferred nor in use).
    set_preference(&mut lab, HubRoutingPreference::VpnGateway);
    assert_eq!(programmed(&lab, P), Some(vec![VPN_NH]));
    assert_eq!(
        received(&lab, NVA_A, P),
        Some((vec![65515, 65020, 65030], ip(RS)))
    );
    // Back to ExpressRoute: a fresh ranking, ER wins.
    set_preference(&mut lab, HubRoutingPreference::ExpressRoute);
    assert_eq!(programmed(&lab, P), Some(vec![ER_NH]));
    assert_eq!(
        received(&lab, NVA_A, P),
        Some((vec![65515, 12076, 65010], ip(RS)))
    );
    assert_eq!(lab.server.failed_over_to(net(P)), None);
}

#[test]
fn failover_to_expressroute_then_preference_expressroute_then_back_to_vpngateway() {
    let mut lab = lab(HubRoutingPreference::VpnGateway, true);
    lab.announce(VPN, &[net(P)], &vpn_route());
    lab.announce(ER, &[net(P)], &er_route());
    assert_eq!(programmed(&lab, P), Some(vec![VPN_NH]), "VPN preferred");
    lab.withdraw(VPN, &[net(P)]);
    assert_eq!(programmed(&lab, P), Some(vec![ER_NH]), "failover to ER");
    let er_peer = lab.speakers[ER].peer.expect("ER connected");
    assert_eq!(lab.server.failed_over_to(net(P)), Some(&[er_peer][..]));
    lab.announce(VPN, &[net(P)], &vpn_route());
    assert_eq!(
        programmed(&lab, P),
        Some(vec![ER_NH]),
        "equal paths: the failover does not revert"
    );
    set_preference(&mut lab, HubRoutingPreference::ExpressRoute);
    assert_eq!(programmed(&lab, P), Some(vec![ER_NH]));
    set_preference(&mut lab, HubRoutingPreference::VpnGateway);
    assert_eq!(
        programmed(&lab, P),
        Some(vec![VPN_NH]),
        "a fresh ranking under VpnGateway"
    );
}

#[test]
fn failover_by_session_loss_does_not_revert_when_the_gateway_comes_back() {
    let mut lab = lab(HubRoutingPreference::ExpressRoute, true);
    lab.announce(ER, &[net(P)], &er_route());
    lab.announce(VPN, &[net(P)], &vpn_route());
    // The ER session resets: traffic fails over to VPN; the gateway reconnects and
    // re-sends its route.
    lab.reset_connection(ER);
    assert_eq!(programmed(&lab, P), Some(vec![VPN_NH]));
    lab.run_for(std::time::Duration::from_secs(60));
    assert_eq!(lab.speakers[ER].session.state(), State::Established);
    assert!(
        lab.server
            .learned_routes(lab.speakers[ER].peer.unwrap())
            .len()
            == 1
    );
    assert_eq!(programmed(&lab, P), Some(vec![VPN_NH]));
    // With VPN prepended the restored ER takes over (scenario 22).
    lab.announce(VPN, &[net(P)], &route(&[65020, 65030, 65030], VPN_NH, &[]));
    assert_eq!(programmed(&lab, P), Some(vec![ER_NH]));
}

#[test]
fn which_of_two_equal_routes_arrives_first_does_not_matter() {
    for preference in [
        HubRoutingPreference::ExpressRoute,
        HubRoutingPreference::VpnGateway,
    ] {
        let winner = if preference == HubRoutingPreference::ExpressRoute {
            ER_NH
        } else {
            VPN_NH
        };
        for er_first in [true, false] {
            let mut lab = lab(preference, true);
            let order = if er_first { [ER, VPN] } else { [VPN, ER] };
            for speaker in order {
                let attrs = if speaker == ER {
                    er_route()
                } else {
                    vpn_route()
                };
                lab.announce(speaker, &[net(P)], &attrs);
            }
            assert_eq!(
                programmed(&lab, P),
                Some(vec![winner]),
                "{preference:?}, ER first: {er_first}"
            );
            assert_eq!(lab.server.failed_over_to(net(P)), None);
        }
    }
    // Two equal routes of the kind failed over to are ECMP whichever came first.
    for vpn_first in [true, false] {
        let mut lab = lab(HubRoutingPreference::ExpressRoute, true);
        lab.announce(ER, &[net(P)], &er_route());
        let nva_route = route(&[65001, 65040], nva(4), &[]);
        if vpn_first {
            lab.announce(VPN, &[net(P)], &vpn_route());
            lab.announce(NVA_A, &[net(P)], &nva_route);
        } else {
            lab.announce(NVA_A, &[net(P)], &nva_route);
            lab.announce(VPN, &[net(P)], &vpn_route());
        }
        assert_eq!(programmed(&lab, P), Some(vec![ER_NH]));
        lab.withdraw(ER, &[net(P)]);
        assert_eq!(programmed(&lab, P), Some(vec![VPN_NH, nva(4)]));
        lab.announce(ER, &[net(P)], &er_route());
        assert_eq!(
            programmed(&lab, P),
            Some(vec![VPN_NH, nva(4)]),
            "VPN first: {vpn_first}"
        );
    }
}

#[test]
fn setting_the_preference_in_force_keeps_a_failover() {
    let mut lab = lab(HubRoutingPreference::ExpressRoute, true);
    lab.announce(ER, &[net(P)], &er_route());
    lab.announce(VPN, &[net(P)], &vpn_route());
    lab.withdraw(ER, &[net(P)]);
    lab.announce(ER, &[net(P)], &er_route());
    set_preference(&mut lab, HubRoutingPreference::ExpressRoute);
    assert_eq!(programmed(&lab, P), Some(vec![VPN_NH]));
}

// --- Item 4: branch-to-branch off and on -------------------------------------------------

#[test]
fn branch_to_branch_off_nvas_still_get_the_best_nva_route() {
    let mut lab = lab(HubRoutingPreference::ExpressRoute, false);
    let q = "10.250.0.0/16";
    lab.announce(ER, &[net(q)], &route(&[12076], ER_NH, &[]));
    lab.announce(NVA_A, &[net(q)], &route(&[65001, 65001], nva(4), &[]));
    // The VMs get ER's route (preference), ...
    assert_eq!(programmed(&lab, q), Some(vec![ER_NH]));
    // ... NVA B gets NVA A's route though a gateway route is best for the prefix ...
    assert_eq!(
        received(&lab, NVA_B, q),
        Some((vec![65515, 65001, 65001], ip(RS)))
    );
    // ... NVA A has nothing better from another NVA, and the gateways get nothing.
    assert_eq!(received(&lab, NVA_A, q), None);
    assert_eq!(received(&lab, ER, q), None);
    assert_eq!(received(&lab, VPN, q), None);

    // A shorter NVA B route: NVA A gets it; NVA B's own route is now the best NVA
    // route, and a route is never sent back to where it came from, so A's is withdrawn
    // from B (plain BGP: one best path, not one per receiver).
    lab.announce(NVA_B, &[net(q)], &route(&[65002], nva(5), &[]));
    assert_eq!(received(&lab, NVA_A, q), Some((vec![65515, 65002], ip(RS))));
    assert_eq!(received(&lab, NVA_B, q), None);
    assert_eq!(programmed(&lab, q), Some(vec![ER_NH]));

    // Branch-to-branch on: the gateway route is a candidate for the NVAs too, and the
    // VPN gateway gets it (ER to VPN transit); ER does not get its own route back.
    let now = lab.now;
    lab.server.set_branch_to_branch(now, true);
    lab.settle();
    for i in [NVA_A, NVA_B] {
        assert_eq!(received(&lab, i, q), Some((vec![65515, 12076], ip(RS))));
    }
    assert_eq!(received(&lab, VPN, q), Some((vec![12076], ip(ER_NH))));
    assert_eq!(received(&lab, ER, q), None);

    // Off again: back to the NVA routes.
    let now = lab.now;
    lab.server.set_branch_to_branch(now, false);
    lab.settle();
    assert_eq!(received(&lab, NVA_A, q), Some((vec![65515, 65002], ip(RS))));
    assert_eq!(received(&lab, VPN, q), None);
}

#[test]
fn branch_to_branch_off_ecmp_of_gateway_and_nva_still_reaches_the_nvas() {
    // Under ASPath a VPN and an NVA route of equal length are ECMP: the NVAs must get
    // the NVA route, whichever of the two comes first in the server's order.
    let mut lab = lab(HubRoutingPreference::AsPath, false);
    let q = "10.251.0.0/16";
    lab.announce(VPN, &[net(q)], &route(&[65020], VPN_NH, &[]));
    lab.announce(NVA_B, &[net(q)], &route(&[65002], nva(5), &[]));
    assert_eq!(programmed(&lab, q), Some(vec![VPN_NH, nva(5)]));
    assert_eq!(received(&lab, NVA_A, q), Some((vec![65515, 65002], ip(RS))));
    assert_eq!(received(&lab, ER, q), None);
}

#[test]
fn gateways_get_nothing_with_branch_to_branch_off() {
    let mut lab = lab(HubRoutingPreference::ExpressRoute, false);
    lab.announce(
        NVA_A,
        &[net("10.250.0.0/16")],
        &route(&[65001], nva(4), &[]),
    );
    lab.announce(ER, &[net("192.168.0.0/16")], &route(&[12076], ER_NH, &[]));
    lab.announce(VPN, &[net("172.20.0.0/16")], &route(&[65030], VPN_NH, &[]));
    for gateway in [ER, VPN] {
        assert!(
            lab.speakers[gateway].received.is_empty(),
            "gateway {gateway} got {:?}",
            lab.speakers[gateway].received.keys().collect::<Vec<_>>()
        );
    }
    // The NVAs get each other's routes and the VNet range, no gateway route.
    let got: Vec<IpNet> = lab.speakers[NVA_B].received.keys().copied().collect();
    assert_eq!(got, vec![net("10.1.0.0/16"), net("10.250.0.0/16")]);
}
