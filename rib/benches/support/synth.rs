//! A synthetic but real-looking RIB for the benchmarks and the memory example: `peers`
//! peers that all announce the same `prefixes` IPv4 prefixes (a full-table-like mix of
//! /24, /23, /22 and /20), in UPDATEs of 8 prefixes sharing one of `sets_per_peer`
//! attribute sets per peer (AS paths of 2 to 5 hops through a few dozen transits,
//! communities, some MEDs).

use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::{AsPath, AttrValue, Community, Nlri, Origin, PathAttribute};
use ipnet::{IpNet, Ipv4Net};
use rib::PeerInfo;

/// Prefixes per UPDATE.
const BATCH: usize = 8;

pub(crate) struct Synth {
    pub(crate) peers: Vec<PeerInfo>,
    /// Per peer, its attribute sets.
    pub(crate) sets: Vec<Vec<Vec<PathAttribute>>>,
    /// UPDATE-sized groups of prefixes.
    pub(crate) batches: Vec<Vec<Nlri>>,
}

impl Synth {
    pub(crate) fn new(peers: usize, prefixes: usize, sets_per_peer: usize) -> Self {
        let lengths = [24u8, 24, 24, 24, 24, 23, 22, 20];
        let mut seen = std::collections::HashSet::new();
        let nets: Vec<Nlri> = (0u32..)
            .map(|i| {
                let len = lengths[i as usize % lengths.len()];
                // Spread over 1.0.0.0 - 223.255.255.255 (a multiplicative hash of i).
                let slot = i.wrapping_mul(2_654_435_761) % (222 << 16);
                let addr = Ipv4Addr::from((1 << 24) + (slot << 8));
                Nlri::new(IpNet::V4(Ipv4Net::new(addr, len).expect("valid length")))
            })
            .filter(|nlri| seen.insert(nlri.prefix))
            .take(prefixes)
            .collect();
        let batches = nets.chunks(BATCH).map(<[Nlri]>::to_vec).collect();
        let peer_infos = (0..peers)
            .map(|k| PeerInfo {
                address: IpAddr::V4(Ipv4Addr::new(10, 0, (k / 250) as u8, (k % 250) as u8 + 1)),
                asn: 64_600 + k as u32,
                bgp_id: Ipv4Addr::new(10, 0, (k / 250) as u8, (k % 250) as u8 + 1),
                is_ebgp: true,
                igp_cost: 0,
            })
            .collect();
        let sets = (0..peers)
            .map(|k| {
                (0..sets_per_peer)
                    .map(|j| {
                        let hops = 2 + (j + k) % 4;
                        let mut path = vec![64_600 + k as u32];
                        path.extend(
                            (1..hops - 1).map(|h| 100 + ((j * 7 + h * 13 + k) % 40) as u32),
                        );
                        path.push(3000 + j as u32);
                        let mut attrs = vec![
                            PathAttribute::new(AttrValue::Origin(if j % 10 == 0 {
                                Origin::Incomplete
                            } else {
                                Origin::Igp
                            })),
                            PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence(path))),
                            PathAttribute::new(AttrValue::NextHop(Ipv4Addr::new(
                                10,
                                0,
                                (k / 250) as u8,
                                (k % 250) as u8 + 1,
                            ))),
                            PathAttribute::new(AttrValue::Communities(vec![
                                Community::new(64_600 + k as u16, j as u16),
                                Community::new(65_000, 100 + (j % 3) as u16),
                            ])),
                        ];
                        if j % 3 == 0 {
                            attrs.push(PathAttribute::new(AttrValue::MultiExitDisc(
                                (j % 50) as u32,
                            )));
                        }
                        attrs
                    })
                    .collect()
            })
            .collect();
        Self {
            peers: peer_infos,
            sets,
            batches,
        }
    }

    /// The attribute set peer `k` uses for batch `b`.
    pub(crate) fn set_for(&self, k: usize, b: usize) -> &[PathAttribute] {
        let sets = &self.sets[k];
        &sets[(b * 31 + k * 17) % sets.len()]
    }

    pub(crate) fn routes(&self) -> usize {
        self.peers.len() * self.batches.iter().map(Vec::len).sum::<usize>()
    }
}
