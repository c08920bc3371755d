//! The decision process's configuration and the names of its steps.

use std::fmt;

/// One step of the decision process, in the order the steps run. Each step keeps only the
/// paths that are best on its criterion among those still in the running; the first step
/// that leaves a single path decides.
///
/// Steps 1 to 4 and 6 to 8 follow RFC 4271 section 9.1.2.2 (the degree of preference of
/// 9.1.2.1 is LOCAL_PREF); the others are the tie-breakers mature implementations add.
/// The `Ord` order is the running order, so `step <= config.ecmp_up_to` reads naturally.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum DecisionStep {
    /// Higher LOCAL_PREF wins; a path without one has [`RibConfig::default_local_pref`].
    LocalPref,
    /// Shorter AS_PATH wins (RFC 4271 9.1.2.2 a): an AS_SET counts one, confederation
    /// segments count nothing. Skipped when [`RibConfig::ignore_as_path_length`].
    AsPathLength,
    /// Lower ORIGIN wins: IGP < EGP < INCOMPLETE (b). A missing ORIGIN counts as INCOMPLETE.
    Origin,
    /// Lower MULTI_EXIT_DISC wins, between paths from the same neighbouring AS only (c),
    /// unless [`MedOptions::always_compare`]. Not a total order: see [`crate::decision`].
    Med,
    /// A path from an external peer beats one from an internal peer (d).
    PeerType,
    /// Lower interior cost to the next hop wins (e): the cost the caller set for the
    /// path's next hop ([`Rib::set_next_hop_cost`](crate::Rib::set_next_hop_cost)), else
    /// the peer's [`PeerInfo::igp_cost`](crate::PeerInfo::igp_cost).
    IgpCost,
    /// The path received first wins, when every remaining path is external (RFC 5004).
    /// Runs only with [`RibConfig::prefer_older_external`].
    RouteAge,
    /// Lower BGP identifier of the advertising peer wins (f); ORIGINATOR_ID stands in for
    /// it when present (RFC 4456 section 9).
    RouterId,
    /// Shorter CLUSTER_LIST wins (RFC 4456 section 9).
    ClusterListLength,
    /// Lower peer address wins (g); between two peers that share an address, the lower
    /// [`PeerId`](crate::PeerId).
    PeerAddress,
    /// Lower ADD-PATH path identifier wins (absent before any): the only thing left to
    /// tell apart two paths from the same peer.
    PathId,
}

impl DecisionStep {
    /// Every step, in running order.
    pub const ALL: [Self; 11] = [
        Self::LocalPref,
        Self::AsPathLength,
        Self::Origin,
        Self::Med,
        Self::PeerType,
        Self::IgpCost,
        Self::RouteAge,
        Self::RouterId,
        Self::ClusterListLength,
        Self::PeerAddress,
        Self::PathId,
    ];

    /// A short lowercase name, the one used in test data and explanations
    /// (`local-pref`, `as-path-length`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::LocalPref => "local-pref",
            Self::AsPathLength => "as-path-length",
            Self::Origin => "origin",
            Self::Med => "med",
            Self::PeerType => "peer-type",
            Self::IgpCost => "igp-cost",
            Self::RouteAge => "route-age",
            Self::RouterId => "router-id",
            Self::ClusterListLength => "cluster-list-length",
            Self::PeerAddress => "peer-address",
            Self::PathId => "path-id",
        }
    }

    /// The step called `name` (see [`DecisionStep::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|step| step.name() == name)
    }
}

impl fmt::Display for DecisionStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How MULTI_EXIT_DISC values are compared.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct MedOptions {
    /// Compare MED between paths from different neighbouring ASes too (Cisco's
    /// `always-compare-med`). Makes the MED step a total order.
    pub always_compare: bool,
    /// A path without MED counts as the worst MED (`u32::MAX`) rather than 0 (the RFC 4271
    /// reading).
    pub missing_as_worst: bool,
}

/// Who ranks a prefix's paths.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Ranking {
    /// The RIB runs the decision process of RFC 4271 section 9.1.2.2 (as configured by
    /// the rest of [`RibConfig`]) on every mutation and keeps each prefix's best path and
    /// ECMP set.
    #[default]
    Decision,
    /// The caller ranks the paths itself (a route server with its own policy): the RIB
    /// only stores them. Nothing is selected, so mutations return no [`Changes`], and
    /// [`Rib::best`], [`Rib::ecmp`], [`Rib::lookup`] and [`Rib::loc_rib`] report empty
    /// selections; [`Rib::paths_unordered`] and [`Rib::drop_peer_prefixes`] tell the
    /// caller what it needs. No decision is computed only to be thrown away.
    ///
    /// [`Changes`]: crate::Changes
    /// [`Rib::best`]: crate::Rib::best
    /// [`Rib::ecmp`]: crate::Rib::ecmp
    /// [`Rib::lookup`]: crate::Rib::lookup
    /// [`Rib::loc_rib`]: crate::Rib::loc_rib
    /// [`Rib::paths_unordered`]: crate::Rib::paths_unordered
    /// [`Rib::drop_peer_prefixes`]: crate::Rib::drop_peer_prefixes
    Caller,
}

/// What the RIB needs to know to choose best paths and ECMP sets.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct RibConfig {
    /// LOCAL_PREF of a path that carries none. Default 100.
    pub default_local_pref: u32,
    /// Skip [`DecisionStep::AsPathLength`] (`bgp bestpath as-path ignore`).
    pub ignore_as_path_length: bool,
    /// MED comparison options.
    pub med: MedOptions,
    /// Run [`DecisionStep::RouteAge`] (RFC 5004): between external paths that tie up to
    /// the IGP cost, keep the one received first, to avoid churn. Off by default because
    /// it makes the choice depend on arrival order.
    pub prefer_older_external: bool,
    /// The last step a path must tie with the best path on to join its ECMP set.
    ///
    /// Precisely: run the decision process over all paths of the prefix, stopping after
    /// this step; the paths still in the running are the ECMP candidates (they are equal
    /// to the best on every step up to and including this one; at [`DecisionStep::Med`],
    /// "equal" means not beaten by a path of the same neighbouring AS). The ECMP set is
    /// the best path, then the best of the remaining candidates, and so on (the full
    /// decision process run again over what is left), cut at [`RibConfig::ecmp_max_paths`].
    pub ecmp_up_to: DecisionStep,
    /// The most paths in an ECMP set; 1 means no ECMP (the set is the best path alone).
    /// Values above 255 are treated as 255.
    pub ecmp_max_paths: usize,
    /// Seeds the hash tables. Any value works; keep it secret where peers are untrusted.
    pub hash_seed: u64,
    /// Whether the RIB selects best paths itself ([`Ranking::Decision`], the default) or
    /// only stores paths for a caller that ranks them ([`Ranking::Caller`]).
    pub ranking: Ranking,
}

impl Default for RibConfig {
    /// RFC 4271 defaults: LOCAL_PREF 100, MED compared within a neighbouring AS with a
    /// missing MED as 0, no RFC 5004, no ECMP (a multipath setting, if enabled by raising
    /// `ecmp_max_paths`, would tie up to the IGP cost).
    fn default() -> Self {
        Self {
            default_local_pref: 100,
            ignore_as_path_length: false,
            med: MedOptions::default(),
            prefer_older_external: false,
            ecmp_up_to: DecisionStep::IgpCost,
            ecmp_max_paths: 1,
            hash_seed: 0,
            ranking: Ranking::Decision,
        }
    }
}

impl RibConfig {
    /// Azure Route Server's rule: paths with equal LOCAL_PREF and AS_PATH length share
    /// traffic, up to 8 next hops. Longer paths (prepended, for active/passive NVAs) stand by.
    pub fn azure() -> Self {
        Self {
            ecmp_up_to: DecisionStep::AsPathLength,
            ecmp_max_paths: 8,
            ..Self::default()
        }
    }

    /// Whether the RIB runs the decision process ([`Ranking::Decision`]).
    pub(crate) fn ranks(&self) -> bool {
        self.ranking == Ranking::Decision
    }

    /// The ECMP width as stored (1 to 255).
    pub(crate) fn ecmp_width(&self) -> usize {
        self.ecmp_max_paths.clamp(1, 255)
    }
}
