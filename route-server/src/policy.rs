//! The route server's decisions as plain functions: what it accepts (import), how it ranks
//! routes for one prefix (selection), what it programs into the fabric, how many routes a
//! peer holds against its limit, and what it sends to each peer (export).
//!
//! Each function takes the configuration and the route and returns the decision with its
//! reason, so that every rule can be checked by a table of cases (see `tests/data/`).

use std::net::IpAddr;

use ipnet::IpNet;
use smallvec::SmallVec;

use bgp_wire::{AsPath, AsPathSegment, AttrFlags, AttrValue, Community, Origin, SegmentType};

use crate::config::{Config, HubRoutingPreference, LimitCounting, PeerConfig, PeerKind};
use crate::route::RouteAttrs;
use crate::route_map::MapOutcome;

/// A handle to one configured peer, stable for as long as the peer is configured.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PeerId(pub u32);

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "peer#{}", self.0)
    }
}

/// Why a received route was not learned. The session stays up in every case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RejectReason {
    /// The AS path holds the route server's own ASN (65515): a loop, or a route from
    /// another Azure Route Server that needs as-override.
    OwnAsnInPath,
    /// The AS path holds AS 0.
    AsZeroInPath,
    /// An IPv6 route while IPv6 unicast is not enabled.
    FamilyNotEnabled,
    /// The inbound route map dropped it (rule index).
    RouteMap(usize),
    /// The UPDATE's attributes were malformed and RFC 7606 treats its routes as withdrawn
    /// (AS 0 in AS_PATH is one such case, RFC 7607).
    MalformedAttributes,
    /// The UPDATE carries no next hop of the route's family: an IPv4 route in
    /// MP_REACH_NLRI whose next hop is not IPv4 (RFC 8950 is not negotiated), or an NLRI
    /// field without NEXT_HOP. It is treated as a withdrawal of the prefix.
    NoNextHop,
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OwnAsnInPath => f.write_str("AS path contains the route server's own ASN"),
            Self::AsZeroInPath => f.write_str("AS path contains AS 0"),
            Self::FamilyNotEnabled => f.write_str("address family not enabled"),
            Self::RouteMap(rule) => write!(f, "dropped by inbound route map rule {rule}"),
            Self::MalformedAttributes => {
                f.write_str("malformed attributes (RFC 7606 treat-as-withdraw)")
            }
            Self::NoNextHop => f.write_str("no next hop of the route's address family"),
        }
    }
}

/// Import: whether a route received from `from` is learned, and as what (the inbound
/// route map may change prefix and attributes).
///
/// # Errors
///
/// The [`RejectReason`] of a route that is not learned.
pub fn import(
    config: &Config,
    from: &PeerConfig,
    prefix: IpNet,
    attrs: &RouteAttrs,
) -> Result<(IpNet, RouteAttrs), RejectReason> {
    if prefix.addr().is_ipv6() && !config.extensions.ipv6_unicast {
        return Err(RejectReason::FamilyNotEnabled);
    }
    if attrs.as_path.contains(config.local_asn) {
        return Err(RejectReason::OwnAsnInPath);
    }
    if attrs.as_path.contains(0) {
        return Err(RejectReason::AsZeroInPath);
    }
    match &from.inbound_map {
        None => Ok((prefix, attrs.clone())),
        Some(map) => match map.apply(prefix, attrs) {
            MapOutcome::Permit(prefix, attrs) => Ok((prefix, *attrs)),
            MapOutcome::Drop { rule } => Err(RejectReason::RouteMap(rule)),
        },
    }
}

/// Whether a learned route for `prefix` may be programmed into the fabric: not when it is
/// equal to or inside a virtual network range, own or peered (their system routes always
/// win). Supernets are programmed.
pub fn is_programmable(config: &Config, prefix: IpNet) -> bool {
    !config
        .protected_prefixes()
        .any(|range| range.contains(&prefix))
}

/// Whether a peer's routes exceed its limit: `held` routes before the batch, `announced`
/// routes announced in the batch (or message), `unique_after` distinct prefixes it would
/// hold once the batch is applied.
pub fn exceeds_route_limit(
    counting: LimitCounting,
    limit: Option<u32>,
    held: usize,
    announced: usize,
    unique_after: usize,
) -> bool {
    let Some(limit) = limit else {
        return false;
    };
    let counted = match counting {
        LimitCounting::HeldPlusBatch | LimitCounting::HeldPlusMessage => {
            held.saturating_add(announced)
        }
        LimitCounting::UniquePrefixes => unique_after,
    };
    counted > limit as usize
}

/// One path for a prefix, as selection sees it.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// The peer it was learned from.
    pub peer: PeerId,
    /// That peer's kind.
    pub kind: PeerKind,
    /// Its attributes.
    pub attrs: &'a RouteAttrs,
}

/// A set of source kinds (what kinds of peer the routes of a selection came from).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct KindSet(u8);

impl KindSet {
    fn bit(kind: PeerKind) -> u8 {
        match kind {
            PeerKind::Nva => 1,
            PeerKind::ExpressRoute => 2,
            PeerKind::VpnGateway => 4,
        }
    }

    /// Adds `kind`.
    pub fn insert(&mut self, kind: PeerKind) {
        self.0 |= Self::bit(kind);
    }

    /// Whether `kind` is in the set.
    #[must_use]
    pub fn contains(self, kind: PeerKind) -> bool {
        self.0 & Self::bit(kind) != 0
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<PeerKind> for KindSet {
    fn from_iter<I: IntoIterator<Item = PeerKind>>(iter: I) -> Self {
        let mut set = Self::default();
        for kind in iter {
            set.insert(kind);
        }
        set
    }
}

/// Whether routes of `kind` are of the preferred kind under `preference` (ExpressRoute
/// under `ExpressRoute`, VPN and NVA under `VpnGateway`); `None` under `ASPath`, which
/// prefers no kind.
#[must_use]
pub fn is_preferred_kind(preference: HubRoutingPreference, kind: PeerKind) -> Option<bool> {
    let is_expressroute = kind == PeerKind::ExpressRoute;
    match preference {
        HubRoutingPreference::ExpressRoute => Some(is_expressroute),
        HubRoutingPreference::VpnGateway => Some(!is_expressroute),
        HubRoutingPreference::AsPath => None,
    }
}

/// What selection remembers of a prefix's last selection (Azure's non-reverting
/// failover, spec section 1.8 and scenario 22). It records what was selected, by source
/// kind and peer, never a rank relative to a preference: a preference change does not
/// re-read it (the server forgets it then, see [`select`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Previous<'a> {
    /// The kinds of the routes selected last (empty: nothing was selected).
    pub kinds: KindSet,
    /// While the prefix is failed over: the peers whose routes were selected last. Empty
    /// when it is not.
    pub failed_over_to: &'a [PeerId],
}

/// Indices into the candidates of one prefix. Inline up to four (the ECMP width Azure
/// programs): a selection is made per prefix per pass, and a heap allocation each would
/// cost more than the ranking itself.
pub type CandidateIndices = SmallVec<[usize; 4]>;

/// Next hops of one prefix, inline up to four (see [`CandidateIndices`]).
pub type NextHops = SmallVec<[IpAddr; 4]>;

/// The outcome of selection for one prefix.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Selection {
    /// Indices (into the candidates) of every path tied for best, in candidate order.
    pub best: CandidateIndices,
    /// The kinds of the winners (to remember as [`Previous::kinds`]).
    pub kinds: KindSet,
    /// Whether the winners are a failover: routes of the other kind, chosen because the
    /// preferred ones went away (and kept while they stay, see [`select`]). Remember the
    /// winners' peers as [`Previous::failed_over_to`] while this is set.
    pub failed_over: bool,
}

/// Ranks the paths for one prefix (longest prefix is already decided by the prefix):
/// hub routing preference by source kind, then shortest AS path; what remains tied is the
/// ECMP set. Under `ASPath` equal paths rank ExpressRoute first, then VPN and NVA
/// together.
///
/// **Non-reverting failover** (Azure's default; `revertive` turns it off). A failover
/// starts when the last selection held routes of the preferred kind and no route of
/// that kind is left: the best routes of the other kind are selected and remembered.
/// While failed over, a returning preferred route takes over only when its AS path is
/// strictly shorter than the best of the other kind ("sticky unless the VPN path is
/// longer", scenario 22), or when none of the routes failed over to is still among the
/// best of their kind (traffic has to move anyway, so it moves as a fresh ranking says).
/// Within the kind failed over to, ranking is fresh: two equal routes are ECMP whichever
/// came first. Without a failover there is no memory at all: a route of the other kind
/// that was selected only because no preferred route had arrived yet gives way to the
/// first preferred route, so the order in which routes first arrive never matters.
///
/// **Preference changes** are fresh rankings: the server ranks every prefix under the
/// new preference with an empty [`Previous`]. A failover is relative to the preference
/// it happened under ("not on ExpressRoute"); under a new preference the operator has
/// just said which kind to use, and Azure documents the preference as the ranking order,
/// not as something that waits for a failure.
pub fn select(
    preference: HubRoutingPreference,
    revertive: bool,
    previous: Previous<'_>,
    candidates: &[Candidate<'_>],
) -> Selection {
    match candidates {
        [] => return Selection::default(),
        [only] => return select_only(preference, revertive, previous, only),
        _ => {}
    }
    select_among(preference, revertive, previous, candidates)
}

/// [`select`] for a prefix with one path, the common case of a full table: that path wins,
/// and it is a failover exactly when the general ranking would call it one (it is of the
/// other kind and the last selection was of the preferred kind, or already a failover).
/// No AS path length is needed, nothing is collected.
fn select_only(
    preference: HubRoutingPreference,
    revertive: bool,
    previous: Previous<'_>,
    only: &Candidate<'_>,
) -> Selection {
    let failed_over = is_preferred_kind(preference, only.kind) == Some(false)
        && !revertive
        && (was_preferred(preference, previous) || !previous.failed_over_to.is_empty());
    let mut best = CandidateIndices::new();
    best.push(0);
    Selection {
        best,
        kinds: [only.kind].into_iter().collect(),
        failed_over,
    }
}

/// Whether the last selection held routes of the preferred kind.
fn was_preferred(preference: HubRoutingPreference, previous: Previous<'_>) -> bool {
    [PeerKind::Nva, PeerKind::ExpressRoute, PeerKind::VpnGateway]
        .into_iter()
        .any(|k| previous.kinds.contains(k) && is_preferred_kind(preference, k) == Some(true))
}

/// [`select`] for any number of paths.
fn select_among(
    preference: HubRoutingPreference,
    revertive: bool,
    previous: Previous<'_>,
    candidates: &[Candidate<'_>],
) -> Selection {
    if candidates.is_empty() {
        return Selection::default();
    }
    let len = |c: &Candidate<'_>| c.attrs.as_path.path_length();
    let preferred = |c: &Candidate<'_>| is_preferred_kind(preference, c.kind);
    let shortest = |tier: Option<bool>| {
        candidates
            .iter()
            .filter(|c| tier.map_or(true, |t| preferred(c) == Some(t)))
            .map(len)
            .min()
    };
    let finish = |keep: &dyn Fn(&Candidate<'_>) -> bool, failed_over: bool| -> Selection {
        let best: CandidateIndices = candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| keep(c))
            .map(|(i, _)| i)
            .collect();
        let kinds = best.iter().map(|&i| candidates[i].kind).collect();
        Selection {
            best,
            kinds,
            failed_over,
        }
    };
    if preference == HubRoutingPreference::AsPath {
        let best_len = shortest(None).expect("candidates is not empty");
        let at_best = |c: &Candidate<'_>| len(c) == best_len;
        let any_er = candidates
            .iter()
            .any(|c| at_best(c) && c.kind == PeerKind::ExpressRoute);
        return finish(
            &|c| at_best(c) && (!any_er || c.kind == PeerKind::ExpressRoute),
            false,
        );
    }
    let was_preferred = was_preferred(preference, previous);
    let in_failover = !previous.failed_over_to.is_empty();
    let (winner, failed_over) = match (shortest(Some(true)), shortest(Some(false))) {
        (Some(_), None) => (true, false),
        (None, _) => (false, !revertive && (was_preferred || in_failover)),
        (Some(p), Some(f)) => {
            let still_in_use = candidates.iter().any(|c| {
                preferred(c) == Some(false)
                    && len(c) == f
                    && previous.failed_over_to.contains(&c.peer)
            });
            let sticky = !revertive && in_failover && still_in_use && p >= f;
            (!sticky, sticky)
        }
    };
    let best_len = shortest(Some(winner)).expect("the winning side has a candidate");
    finish(
        &|c| preferred(c) == Some(winner) && len(c) == best_len,
        failed_over,
    )
}

/// The next hops to program for a selection: distinct, lowest first, at most `width`.
pub fn ecmp_next_hops(
    candidates: &[Candidate<'_>],
    selection: &Selection,
    width: usize,
) -> NextHops {
    if let [only] = selection.best[..] {
        // One winner, the common case: nothing to sort or deduplicate.
        let mut hops = NextHops::new();
        if let Some(c) = candidates.get(only).filter(|_| width > 0) {
            hops.push(c.attrs.next_hop);
        }
        return hops;
    }
    let mut hops: NextHops = selection
        .best
        .iter()
        .filter_map(|&i| candidates.get(i))
        .map(|c| c.attrs.next_hop)
        .collect();
    hops.sort_unstable();
    hops.dedup();
    hops.truncate(width);
    hops
}

/// Where a route to export comes from.
#[derive(Clone, Copy, Debug)]
pub enum ExportSource<'a> {
    /// A virtual network range the route server originates.
    Vnet,
    /// A path learned from a peer.
    Learned(Candidate<'a>),
}

/// Why a route is not sent to a peer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum NotExported {
    /// The peer is where the route came from.
    SourcePeer,
    /// The route carries NO_ADVERTISE.
    NoAdvertise,
    /// Gateway and NVA routes do not cross while branch-to-branch is off.
    BranchToBranchOff,
    /// Virtual network ranges go to NVAs only; the gateways advertise them themselves.
    VnetRangeToGateway,
    /// The peer does not take this address family.
    FamilyNotEnabled,
    /// No next hop of the route's family to put in (no local IPv6 address).
    NoLocalNextHop,
    /// The outbound route map dropped it (rule index).
    RouteMap(usize),
}

/// Prepends `asn` once to `path`, as [`AsPath::prepended`] does (into a leading
/// AS_SEQUENCE with room, else a new one), without copying the path: the export of every
/// learned route to an eBGP peer does this to a copy of the source's attributes already.
/// (No debug check against `prepended` here: the fuzz target runs with debug assertions,
/// and a copy per export is what this saves; the unit test below compares the two.)
fn prepend_in_place(path: &mut AsPath, asn: u32) {
    match path.segments.first_mut() {
        Some(lead) if lead.kind == SegmentType::AsSequence && lead.asns.len() < 255 => {
            lead.asns.insert(0, asn);
        }
        _ => path.segments.insert(
            0,
            AsPathSegment {
                kind: SegmentType::AsSequence,
                asns: smallvec::smallvec![asn],
            },
        ),
    }
}

/// Export: the route to send `to` for `prefix`, or why none is sent.
///
/// Toward an eBGP peer the local ASN is prepended and the next hop is the instance's own
/// address (unless transparent); MED, LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST are not
/// passed on (RFC 4271 section 5.1.4, RFC 4456 section 8). Toward an iBGP peer (a gateway
/// in 65515) path and next hop are unchanged and LOCAL_PREF is set. Communities always
/// pass unchanged; unrecognised optional transitive attributes pass with their Partial
/// bit set (RFC 4271 section 5).
///
/// # Errors
///
/// The [`NotExported`] reason when nothing is sent.
pub fn export(
    config: &Config,
    prefix: IpNet,
    source: ExportSource<'_>,
    to_id: PeerId,
    to: &PeerConfig,
) -> Result<(IpNet, RouteAttrs), NotExported> {
    if prefix.addr().is_ipv6() && !config.extensions.ipv6_unicast {
        return Err(NotExported::FamilyNotEnabled);
    }
    let local_next_hop = match prefix {
        IpNet::V4(_) => Some(IpAddr::V4(config.local_address)),
        IpNet::V6(_) => config.local_ipv6_address.map(IpAddr::V6),
    };
    let ibgp = to.asn == config.local_asn;
    let attrs = match source {
        ExportSource::Vnet => {
            if to.kind.is_gateway() {
                return Err(NotExported::VnetRangeToGateway);
            }
            let next_hop = local_next_hop.ok_or(NotExported::NoLocalNextHop)?;
            return Ok((
                prefix,
                RouteAttrs::new(
                    Origin::Igp,
                    AsPath::from_sequence([config.local_asn]),
                    next_hop,
                ),
            ));
        }
        ExportSource::Learned(candidate) => {
            if candidate.peer == to_id {
                return Err(NotExported::SourcePeer);
            }
            if candidate.attrs.has_community(Community::NO_ADVERTISE) {
                return Err(NotExported::NoAdvertise);
            }
            let crosses = candidate.kind.is_gateway() || to.kind.is_gateway();
            if crosses && !config.branch_to_branch {
                return Err(NotExported::BranchToBranchOff);
            }
            let mut attrs = candidate.attrs.clone();
            for attribute in &mut attrs.other {
                // RFC 4271 section 5: an unrecognised optional transitive attribute passed
                // on has its Partial bit set (the route server did not understand it).
                let flags = attribute.flags;
                if matches!(attribute.value, AttrValue::Raw(_))
                    && flags.is_optional()
                    && flags.is_transitive()
                {
                    attribute.flags = AttrFlags(flags.0 | AttrFlags::PARTIAL);
                }
            }
            if !ibgp {
                // RFC 4456 section 8: ORIGINATOR_ID and CLUSTER_LIST (learned from the
                // iBGP gateways) are local to the AS and never sent to an eBGP peer.
                attrs.other.retain(|a| {
                    !matches!(
                        a.value,
                        AttrValue::OriginatorId(_) | AttrValue::ClusterList(_)
                    )
                });
            }
            if ibgp {
                attrs.local_pref = Some(attrs.local_pref.unwrap_or(100));
            } else {
                attrs.local_pref = None;
                if !config.extensions.transparent {
                    prepend_in_place(&mut attrs.as_path, config.local_asn);
                    attrs.next_hop = local_next_hop.ok_or(NotExported::NoLocalNextHop)?;
                    attrs.med = None;
                }
            }
            attrs
        }
    };
    match &to.outbound_map {
        None => Ok((prefix, attrs)),
        Some(map) => match map.apply(prefix, &attrs) {
            MapOutcome::Permit(prefix, attrs) => Ok((prefix, *attrs)),
            MapOutcome::Drop { rule } => Err(NotExported::RouteMap(rule)),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const KINDS: [PeerKind; 3] = [PeerKind::Nva, PeerKind::ExpressRoute, PeerKind::VpnGateway];

    /// The in-place prepend gives what `AsPath::prepended` gives (a self-consistency
    /// check of two implementations, not of RFC values): an empty path, a sequence, a
    /// full sequence (255 ASNs: a new segment) and a leading AS_SET.
    #[test]
    fn prepend_in_place_agrees_with_as_path_prepended_self_check() {
        let full: Vec<u32> = (1..=255).collect();
        let set_first = AsPath {
            segments: [AsPathSegment {
                kind: SegmentType::AsSet,
                asns: [7, 8].into_iter().collect(),
            }]
            .into_iter()
            .collect(),
        };
        for path in [
            AsPath::default(),
            AsPath::from_sequence([65001, 65002]),
            AsPath::from_sequence(full),
            set_first,
        ] {
            let mut in_place = path.clone();
            prepend_in_place(&mut in_place, 65515);
            assert_eq!(in_place, path.prepended(65515, 1), "{path:?}");
        }
    }
    const PREFERENCES: [HubRoutingPreference; 3] = [
        HubRoutingPreference::ExpressRoute,
        HubRoutingPreference::VpnGateway,
        HubRoutingPreference::AsPath,
    ];

    /// Self-check: the one-path shortcut against the general ranking of this file, over
    /// every preference, revertive flag, previous kind set and failover state. (The
    /// ranking itself is checked against the spec's tables in tests/policy_tables.rs.)
    #[test]
    fn select_of_one_path_agrees_with_the_general_ranking_self_check() {
        let attrs = RouteAttrs::new(
            Origin::Igp,
            AsPath::from_sequence([65001, 65002]),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        );
        let mut checked = 0;
        for preference in PREFERENCES {
            for revertive in [false, true] {
                for previous_kinds in 0..8u8 {
                    let kinds: KindSet = KINDS
                        .into_iter()
                        .enumerate()
                        .filter(|(i, _)| previous_kinds & (1 << i) != 0)
                        .map(|(_, k)| k)
                        .collect();
                    for failed_over_to in [&[][..], &[PeerId(7)][..], &[PeerId(9)][..]] {
                        let previous = Previous {
                            kinds,
                            failed_over_to,
                        };
                        for kind in KINDS {
                            let only = [Candidate {
                                peer: PeerId(7),
                                kind,
                                attrs: &attrs,
                            }];
                            assert_eq!(
                                select(preference, revertive, previous, &only),
                                select_among(preference, revertive, previous, &only),
                                "{preference:?} revertive={revertive} {previous:?} {kind:?}"
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 3 * 2 * 8 * 3 * 3);
    }

    /// One winner: its next hop, unless the width is zero; an index out of range gives
    /// none, as the general path's `filter_map` does.
    #[test]
    fn ecmp_next_hops_of_one_winner() {
        let hop = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let attrs = RouteAttrs::new(Origin::Igp, AsPath::from_sequence([65001]), hop);
        let only = [Candidate {
            peer: PeerId(1),
            kind: PeerKind::Nva,
            attrs: &attrs,
        }];
        let winner = |i: usize| Selection {
            best: [i].into_iter().collect(),
            ..Selection::default()
        };
        assert_eq!(ecmp_next_hops(&only, &winner(0), 4).as_slice(), &[hop]);
        assert_eq!(ecmp_next_hops(&only, &winner(0), 1).as_slice(), &[hop]);
        assert!(ecmp_next_hops(&only, &winner(0), 0).is_empty());
        assert!(ecmp_next_hops(&only, &winner(1), 4).is_empty());
    }
}
