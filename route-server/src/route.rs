//! The route server's view of a path: the attributes policy looks at, decoded once.

use std::net::IpAddr;

use bgp_wire::{
    Aggregator, AsPath, AttrValue, Community, ExtendedCommunity, LargeCommunity, Origin,
    PathAttribute,
};

/// The attributes of one path, as the route server keeps and compares them.
///
/// Attributes policy does not interpret (ORIGINATOR_ID, CLUSTER_LIST, ONLY_TO_CUSTOMER,
/// unknown transitive ones) travel in `other` and are re-sent unchanged; unknown
/// non-transitive ones are dropped on receipt, as RFC 4271 asks.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct RouteAttrs {
    /// ORIGIN.
    pub origin: Origin,
    /// AS_PATH, with 4-octet AS numbers whatever the session carried.
    pub as_path: AsPath,
    /// The next hop: NEXT_HOP for IPv4, the global MP_REACH next hop for IPv6.
    pub next_hop: IpAddr,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF (iBGP only).
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE.
    pub atomic_aggregate: bool,
    /// AGGREGATOR.
    pub aggregator: Option<Aggregator>,
    /// COMMUNITIES, in received order.
    pub communities: Vec<Community>,
    /// EXTENDED COMMUNITIES.
    pub extended_communities: Vec<ExtendedCommunity>,
    /// LARGE_COMMUNITY.
    pub large_communities: Vec<LargeCommunity>,
    /// Every other transitive attribute, kept as received.
    pub other: Vec<PathAttribute>,
}

impl RouteAttrs {
    /// A path with only the mandatory attributes.
    pub fn new(origin: Origin, as_path: AsPath, next_hop: IpAddr) -> Self {
        Self {
            origin,
            as_path,
            next_hop,
            med: None,
            local_pref: None,
            atomic_aggregate: false,
            aggregator: None,
            communities: Vec::new(),
            extended_communities: Vec::new(),
            large_communities: Vec::new(),
            other: Vec::new(),
        }
    }

    /// Whether the path carries `community`.
    pub fn has_community(&self, community: Community) -> bool {
        self.communities.contains(&community)
    }

    /// Collects the attributes of a received UPDATE. `next_hop` is the family's next hop
    /// (NEXT_HOP or the MP_REACH one), found by the caller. AS4_PATH is merged into AS_PATH
    /// when the session is not 4-octet (RFC 6793 section 4.2.3).
    pub fn from_wire(
        attributes: &[PathAttribute],
        next_hop: IpAddr,
        four_octet_session: bool,
    ) -> Self {
        let mut attrs = Self::new(Origin::Incomplete, AsPath::default(), next_hop);
        let mut as4_path = None;
        for attribute in attributes {
            match &attribute.value {
                AttrValue::Origin(origin) => attrs.origin = *origin,
                AttrValue::AsPath(path) => attrs.as_path = path.clone(),
                AttrValue::As4Path(path) => as4_path = Some(path),
                AttrValue::MultiExitDisc(med) => attrs.med = Some(*med),
                AttrValue::LocalPref(pref) => attrs.local_pref = Some(*pref),
                AttrValue::AtomicAggregate => attrs.atomic_aggregate = true,
                AttrValue::Aggregator(aggregator) => attrs.aggregator = Some(*aggregator),
                AttrValue::Communities(c) => attrs.communities.clone_from(c),
                AttrValue::ExtendedCommunities(c) => attrs.extended_communities.clone_from(c),
                AttrValue::LargeCommunities(c) => attrs.large_communities.clone_from(c),
                AttrValue::NextHop(_)
                | AttrValue::MpReachNlri(_)
                | AttrValue::MpUnreachNlri(_)
                | AttrValue::As4Aggregator(_) => {}
                AttrValue::OriginatorId(_)
                | AttrValue::ClusterList(_)
                | AttrValue::OnlyToCustomer(_) => {
                    attrs.other.push(attribute.clone());
                }
                AttrValue::Raw(_) => {
                    if attribute.flags.is_transitive() {
                        attrs.other.push(attribute.clone());
                    }
                }
            }
        }
        if let (Some(as4), false) = (as4_path, four_octet_session) {
            attrs.as_path = attrs.as_path.merge_as4(as4);
        }
        attrs
    }

    /// The path attributes to send: NEXT_HOP included for an IPv4 next hop; an IPv6 next
    /// hop travels in the MP_REACH_NLRI the packer builds.
    pub fn to_wire(&self) -> Vec<PathAttribute> {
        let mut out = Vec::with_capacity(4 + self.other.len());
        out.push(PathAttribute::new(AttrValue::Origin(self.origin)));
        out.push(PathAttribute::new(AttrValue::AsPath(self.as_path.clone())));
        if let IpAddr::V4(next_hop) = self.next_hop {
            out.push(PathAttribute::new(AttrValue::NextHop(next_hop)));
        }
        if let Some(med) = self.med {
            out.push(PathAttribute::new(AttrValue::MultiExitDisc(med)));
        }
        if let Some(pref) = self.local_pref {
            out.push(PathAttribute::new(AttrValue::LocalPref(pref)));
        }
        if self.atomic_aggregate {
            out.push(PathAttribute::new(AttrValue::AtomicAggregate));
        }
        if let Some(aggregator) = self.aggregator {
            out.push(PathAttribute::new(AttrValue::Aggregator(aggregator)));
        }
        if !self.communities.is_empty() {
            out.push(PathAttribute::new(AttrValue::Communities(
                self.communities.clone(),
            )));
        }
        if !self.extended_communities.is_empty() {
            out.push(PathAttribute::new(AttrValue::ExtendedCommunities(
                self.extended_communities.clone(),
            )));
        }
        if !self.large_communities.is_empty() {
            out.push(PathAttribute::new(AttrValue::LargeCommunities(
                self.large_communities.clone(),
            )));
        }
        out.extend(self.other.iter().cloned());
        out
    }
}
