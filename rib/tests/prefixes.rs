//! `Rib::prefixes`: every stored prefix, the Loc-RIB's keys, without a copy of the table.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::{AsPath, Nlri, Origin};
use ipnet::IpNet;
use rib::{PeerInfo, Rib, RibConfig};

use common::Attrs;

#[test]
fn prefixes_lists_every_stored_prefix_once_as_the_loc_rib_does() {
    let mut rib = Rib::new(RibConfig::default());
    let peers: Vec<_> = (1..=2u8)
        .map(|i| {
            rib.add_peer(PeerInfo {
                address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)),
                asn: 65000 + u32::from(i),
                bgp_id: Ipv4Addr::new(10, 0, 0, i),
                is_ebgp: true,
                igp_cost: 0,
            })
            .unwrap()
        })
        .collect();
    let attrs = Attrs {
        as_path: Some(AsPath::from_sequence([65001])),
        origin: Some(Origin::Igp),
        next_hop: Some(Ipv4Addr::new(10, 0, 0, 1)),
        ..Attrs::default()
    }
    .to_vec();
    // Overlapping announcements from two peers, a host-bits prefix, then a withdrawal.
    let first: Vec<Nlri> = (0..300u32)
        .map(|i| {
            let addr = Ipv4Addr::from(0x0a00_0000 + (i << 8));
            Nlri::new(IpNet::V4(ipnet::Ipv4Net::new(addr, 24).unwrap()))
        })
        .collect();
    let _ = rib.announce(peers[0], &first, &attrs).unwrap();
    let _ = rib.announce(peers[1], &first[100..], &attrs).unwrap();
    let odd: IpNet = "192.0.2.77/24".parse().unwrap();
    let _ = rib.announce(peers[1], &[Nlri::new(odd)], &attrs).unwrap();
    let _ = rib.withdraw(peers[0], &first[..50]).unwrap();
    let mut listed: Vec<IpNet> = rib.prefixes().collect();
    listed.sort_unstable();
    let expected: Vec<IpNet> = rib.loc_rib().into_iter().map(|(p, _)| p).collect();
    assert_eq!(listed, expected);
    // 250 /24s left from the first list, and 192.0.2.0/24 with its host bits cleared.
    assert_eq!(listed.len(), 251);
    assert!(listed.contains(&"192.0.2.0/24".parse().unwrap()));
    assert!(!listed.contains(&first[0].prefix));
}
