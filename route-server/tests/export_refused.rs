//! Routes that no valid UPDATE can carry to a peer are reported, not silently dropped.
//!
//! The route server negotiates no extended messages, so an UPDATE is at most 4096 bytes.
//! An NVA's route whose attributes fill an UPDATE to 4095 bytes fits on the way in; on the
//! way out to another NVA, Azure's rule prepends 65515 to AS_PATH (4 more bytes), and no
//! UPDATE can carry it any more.

use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::{Community, EncodeError, Family};
use fabric_sim::lab::{route, Lab};
use ipnet::IpNet;
use route_server::{Config, Event, PeerConfig};

const RS: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 4);

fn nva(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 2, last)
}

fn two_nvas() -> Lab {
    let mut config = Config::azure(RS, vec!["10.1.0.0/16".parse().expect("range")]);
    // 4-octet AS sessions (RFC 6793), so the prepended 65515 costs 4 bytes: with 2-octet
    // sessions (Azure's default) it costs 2, and a 4095-byte UPDATE would still fit.
    config.extensions.four_octet_asn = true;
    for (last, asn) in [(4, 65001), (5, 65002)] {
        config
            .peers
            .push(PeerConfig::nva(IpAddr::V4(nva(last)), asn));
    }
    let mut lab = Lab::new(config);
    lab.add_nva(nva(4), 65001);
    lab.add_nva(nva(5), 65002);
    lab
}

/// Header (19) + both length fields (4) + ORIGIN (4) + AS_PATH of one 4-octet AS (9) +
/// NEXT_HOP (7) + COMMUNITIES with an extended length (4 + 4 n) + a /24 (4) = 51 + 4 n.
const COMMUNITIES_FOR_4095_BYTES: u32 = 1011;

#[test]
fn a_route_too_large_to_export_is_reported_and_the_rest_still_flows() {
    let mut lab = two_nvas();
    let big: IpNet = "192.0.2.0/24".parse().expect("prefix");
    let small: IpNet = "198.51.100.0/24".parse().expect("prefix");
    let communities: Vec<Community> = (0..COMMUNITIES_FOR_4095_BYTES)
        .map(|i| Community::new(65001, i as u16))
        .collect();
    lab.announce(0, &[big], &route(&[65001], nva(4), &communities));
    lab.announce(0, &[small], &route(&[65001], nva(4), &[]));
    lab.settle();

    // Both routes were learned and programmed: the big one arrived in one 4095-byte UPDATE.
    assert!(lab.fabric.contains_key(&big), "{:?}", lab.fabric);
    assert!(lab.fabric.contains_key(&small));

    // The other NVA gets the small route; the big one is reported as refused.
    let receiver = lab
        .server
        .peer_by_address(IpAddr::V4(nva(5)))
        .expect("peer");
    let advertised: Vec<IpNet> = lab
        .server
        .advertised_routes(receiver)
        .iter()
        .map(|r| r.network)
        .collect();
    assert!(advertised.contains(&small), "{advertised:?}");
    let refused: Vec<_> = lab
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ExportRefused {
                peer,
                family,
                routes,
                error,
            } => Some((*peer, *family, *routes, error.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    let (peer, family, routes, error) = &refused[0];
    assert_eq!(
        (*peer, *family, *routes),
        (receiver, Family::IPV4_UNICAST, 1)
    );
    assert!(
        matches!(
            error,
            EncodeError::MessageTooLong {
                len: 4099,
                max: 4096,
                ..
            }
        ),
        "{error:?}"
    );
}
