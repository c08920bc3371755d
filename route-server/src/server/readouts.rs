//! Read-outs: the route server's state as the operator and the tests see it.

#[allow(clippy::wildcard_imports)]
use super::*;

impl RouteServer {
    /// The configuration in force (peers included).
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The peer with this address.
    #[must_use]
    pub fn peer_by_address(&self, address: IpAddr) -> Option<PeerId> {
        self.peers
            .iter()
            .find(|(_, p)| p.config.address == address)
            .map(|(id, _)| *id)
    }

    /// The configuration of a peer.
    #[must_use]
    pub fn peer_config(&self, peer: PeerId) -> Option<&PeerConfig> {
        self.peers.get(&peer).map(|p| &p.config)
    }

    /// The peer a connection belongs to, while it is one of its current connections.
    #[must_use]
    pub fn connection_peer(&self, connection: ConnectionId) -> Option<PeerId> {
        self.find_connection(connection).map(|(id, _)| id)
    }

    /// Configured peers, in id order.
    pub fn peers(&self) -> impl Iterator<Item = (PeerId, &PeerConfig)> {
        self.peers.iter().map(|(id, p)| (*id, &p.config))
    }

    /// The session state of a peer.
    #[must_use]
    pub fn peer_state(&self, peer: PeerId) -> Option<State> {
        self.peers.get(&peer).map(|p| p.session.state())
    }

    /// What is programmed into the fabric: prefix to next hops, as the [`Output::Program`]
    /// changes so far built it.
    #[must_use]
    pub fn fabric(&self) -> Fabric<'_> {
        Fabric::new(&self.prefix_states, &self.learned)
    }

    /// Azure's metrics for a peer.
    #[must_use]
    pub fn metrics(&self, peer: PeerId) -> Option<PeerMetrics> {
        self.peers.get(&peer).map(|p| PeerMetrics {
            bgp_peer_status: u8::from(p.established.is_some()),
            count_of_routes_learned_from_peer: p.rib_in.len(&self.learned),
            count_of_routes_advertised_to_peer: self.prefix_states.sent_len(peer),
        })
    }

    /// The routes learned from a peer (`list-learned-routes`).
    #[must_use]
    pub fn learned_routes(&self, peer: PeerId) -> Vec<RouteEntry> {
        let Some(p) = self.peers.get(&peer) else {
            return Vec::new();
        };
        let origin = if p.config.asn == self.config.local_asn {
            "IBgp"
        } else {
            "EBgp"
        };
        p.rib_in
            .iter(&self.learned)
            .into_iter()
            .filter_map(|(prefix, handle)| {
                let attrs = store::decode(self.learned.attrs(handle)?)?;
                Some(RouteEntry {
                    local_address: IpAddr::V4(self.config.local_address),
                    network: prefix,
                    next_hop: attrs.next_hop,
                    source_peer: p.config.address,
                    origin,
                    as_path: as_path_text(&attrs.as_path),
                    weight: 32768,
                })
            })
            .collect()
    }

    /// The routes advertised to a peer (`list-advertised-routes`).
    #[must_use]
    pub fn advertised_routes(&self, peer: PeerId) -> Vec<RouteEntry> {
        let Some(p) = self.peers.get(&peer) else {
            return Vec::new();
        };
        self.prefix_states
            .sent_to(&self.learned, peer)
            .map(|(prefix, id)| {
                let attrs = self.export_pool.get(id);
                RouteEntry {
                    local_address: IpAddr::V4(self.config.local_address),
                    network: prefix,
                    next_hop: attrs.next_hop,
                    source_peer: p.config.address,
                    origin: match attrs.origin {
                        bgp_wire::Origin::Igp => "Igp",
                        bgp_wire::Origin::Egp => "Egp",
                        bgp_wire::Origin::Incomplete => "Incomplete",
                    },
                    as_path: as_path_text(&attrs.as_path),
                    weight: 0,
                }
            })
            .collect()
    }

    /// Every peer's learned paths, by prefix: what the Adj-RIBs-In hold after import
    /// policy (peer, kind, attributes), for checks and tests.
    #[must_use]
    pub fn adj_ribs_in(&self) -> BTreeMap<IpNet, Vec<(PeerId, PeerKind, RouteAttrs)>> {
        let mut out: BTreeMap<IpNet, Vec<(PeerId, PeerKind, RouteAttrs)>> = BTreeMap::new();
        for (id, p) in &self.peers {
            for (prefix, handle) in p.rib_in.iter(&self.learned) {
                let Some(attrs) = self.learned.attrs(handle).and_then(store::decode) else {
                    continue;
                };
                out.entry(prefix)
                    .or_default()
                    .push((*id, p.config.kind, attrs));
            }
        }
        out
    }

    /// The peers `prefix` failed over to, while it is failed over (Azure's non-reverting
    /// failover, [`policy::select`]); `None` when it is not.
    #[must_use]
    pub fn failed_over_to(&self, prefix: IpNet) -> Option<&[PeerId]> {
        self.failover_peers.get(&prefix).map(Vec::as_slice)
    }

    /// Interned attribute sets alive (memory diagnostics): the Rib's sets of learned
    /// routes (including those freed at its next mutation) plus the advertised ones.
    #[must_use]
    pub fn attribute_sets(&self) -> usize {
        self.learned.attr_set_count() + self.export_pool.len()
    }

    /// The seed of the Rib's hashing ([`Config::rng_seed`]), for diagnostics: a run is
    /// reproducible from its configuration.
    #[must_use]
    pub fn rib_hash_seed(&self) -> u64 {
        self.learned.config().hash_seed
    }

    /// Heap bytes of the learned routes ([`rib::Rib::memory_usage`]; memory diagnostics).
    #[must_use]
    pub fn rib_memory(&self) -> rib::MemoryUsage {
        self.learned.memory_usage()
    }
}

/// An AS path as the Azure CLI prints it: ASNs separated by spaces, sets in braces.
///
/// Written into one string (no string per ASN and per segment): the read-outs print
/// every route's path.
pub(crate) fn as_path_text(path: &bgp_wire::AsPath) -> String {
    // Room for every ASN at its longest (ten digits and a separator) and the braces: one
    // allocation, never grown.
    let asns: usize = path.segments.iter().map(|s| s.asns.len()).sum();
    let mut text = String::with_capacity(asns * 11 + path.segments.len() * 3);
    // A space goes before every part but the first (an ASN of a sequence, or a whole set).
    let separate = |text: &mut String| {
        if !text.is_empty() {
            text.push(' ');
        }
    };
    for segment in &path.segments {
        match segment.kind {
            bgp_wire::SegmentType::AsSet | bgp_wire::SegmentType::ConfedSet => {
                separate(&mut text);
                text.push('{');
                for (i, asn) in segment.asns.iter().enumerate() {
                    if i > 0 {
                        text.push(',');
                    }
                    push_decimal(&mut text, *asn);
                }
                text.push('}');
            }
            _ => {
                for &asn in &segment.asns {
                    separate(&mut text);
                    push_decimal(&mut text, asn);
                }
            }
        }
    }
    text
}

/// Appends `n` in decimal, as `u32`'s `Display` prints it, without an intermediate
/// string.
fn push_decimal(text: &mut String, n: u32) {
    use std::fmt::Write as _;
    // Writing into a `String` cannot fail.
    let _ = write!(text, "{n}");
}

/// Compares what the NVAs peered with both instances sent to each: one entry per prefix
/// learned differently (path, next hop) or on one instance only (spec scenario 6).
#[must_use]
pub fn compare_instances(first: &RouteServer, second: &RouteServer) -> Vec<Inconsistency> {
    let mut out = Vec::new();
    for (id_a, peer) in first.peers() {
        let Some(id_b) = second.peer_by_address(peer.address) else {
            continue;
        };
        let key = |r: &RouteEntry| (r.network, r.next_hop, r.as_path.clone());
        let a: BTreeMap<IpNet, RouteEntry> = first
            .learned_routes(id_a)
            .into_iter()
            .map(|r| (r.network, r))
            .collect();
        let b: BTreeMap<IpNet, RouteEntry> = second
            .learned_routes(id_b)
            .into_iter()
            .map(|r| (r.network, r))
            .collect();
        let prefixes: BTreeSet<IpNet> = a.keys().chain(b.keys()).copied().collect();
        for prefix in prefixes {
            let (x, y) = (a.get(&prefix), b.get(&prefix));
            if x.map(key) != y.map(key) {
                out.push(Inconsistency {
                    peer: peer.address,
                    prefix,
                    first: x.cloned(),
                    second: y.cloned(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::as_path_text;
    use bgp_wire::{AsPath, AsPathSegment, SegmentType};

    fn segment(kind: SegmentType, asns: &[u32]) -> AsPathSegment {
        AsPathSegment {
            kind,
            asns: asns.into(),
        }
    }

    /// The Azure CLI's `asPath` text (spec section 1.11's read-outs): the ASNs of
    /// sequences one by one, a set as one brace-enclosed, comma-separated part, the
    /// parts separated by single spaces; an empty path is empty.
    #[test]
    fn as_path_text_prints_sequences_by_asn_and_sets_in_braces() {
        let mut path = AsPath::default();
        assert_eq!(as_path_text(&path), "");
        path.segments
            .push(segment(SegmentType::AsSequence, &[65515, 65001]));
        assert_eq!(as_path_text(&path), "65515 65001");
        path.segments.push(segment(SegmentType::AsSet, &[64512, 7]));
        path.segments
            .push(segment(SegmentType::AsSequence, &[4_200_000_000]));
        path.segments.push(segment(SegmentType::AsSet, &[1]));
        assert_eq!(as_path_text(&path), "65515 65001 {64512,7} 4200000000 {1}");
        let set_first = AsPath {
            segments: [segment(SegmentType::AsSet, &[3, 2])].into_iter().collect(),
        };
        assert_eq!(as_path_text(&set_first), "{3,2}");
    }

    /// Every number prints as `u32`'s `Display` does (the Azure CLI prints plain
    /// decimal): the edges of each digit count and of the type.
    #[test]
    fn as_path_text_prints_numbers_as_display_does() {
        let mut numbers = vec![0, 1, 9, u32::MAX, u32::MAX - 1, 23_456, 65_535, 65_536];
        numbers.extend((1..10).flat_map(|e| [10_u32.pow(e) - 1, 10_u32.pow(e), 10_u32.pow(e) + 1]));
        for n in numbers {
            let path = AsPath::from_sequence([n]);
            assert_eq!(as_path_text(&path), n.to_string());
        }
    }
}
