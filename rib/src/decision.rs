//! The decision process: RFC 4271 section 9.1.2.2 as set elimination, then the usual
//! tie-breakers, and the ECMP set built on it.
//!
//! # Why elimination and not a sort
//!
//! RFC 4271's MED rule compares MED only between paths from the same neighbouring AS, so
//! "is better than" is not transitive: with A and B from AS 1 (MED 10 and 20) and C from
//! AS 2, A beats B on MED, B may beat C on the IGP cost and C beat A on the router id.
//! Sorting with such a comparison gives a result that depends on the input order. The RFC
//! therefore describes a procedure over the *set* of paths: each step removes the paths
//! that are not best on its criterion among those that survived the previous steps. We
//! run exactly that: [`DecisionStep::ALL`] in order, each step a filter over the survivors,
//! and the MED step removes a path when another survivor from the same neighbouring AS
//! has a lower MED (all survivors are compared at once, against the set as it was when
//! the step began).
//!
//! # Why the result is deterministic
//!
//! Every step is a function of the set of survivors (never of their order), and the last
//! steps compare values that are unique per path: the peer address with the [`PeerId`]
//! behind it, then the ADD-PATH path identifier, and one peer never has two paths with
//! the same identifier for a prefix. So exactly one path survives, whatever order the
//! paths arrived in. The one input that does depend on history is deliberate and off by
//! default: [`DecisionStep::RouteAge`] (RFC 5004) prefers the path received first.
//!
//! [`PeerId`]: crate::PeerId

use std::cmp::{Ordering, Reverse};
use std::net::IpAddr;

use smallvec::SmallVec;

use crate::config::{DecisionStep, RibConfig};

/// What the decision process knows about one path, gathered from its attribute set, its
/// peer and its place in the Adj-RIB-In.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Contender {
    pub(crate) local_pref: u32,
    pub(crate) as_path_length: u32,
    pub(crate) origin: u8,
    /// MED after the missing-MED rule.
    pub(crate) med: u32,
    pub(crate) neighbour_as: Option<u32>,
    pub(crate) ebgp: bool,
    pub(crate) igp_cost: u32,
    /// Arrival order within the prefix: lower is older.
    pub(crate) rank: u32,
    /// ORIGINATOR_ID if present, else the peer's BGP identifier.
    pub(crate) router_id: u32,
    pub(crate) cluster_list_length: u32,
    pub(crate) peer_address: IpAddr,
    pub(crate) peer: u16,
    pub(crate) path_id: Option<u32>,
}

/// Indices into a contender slice, of the paths still in the running.
pub(crate) type Survivors = SmallVec<[u32; 16]>;

/// Indices of the selected paths, best first.
pub(crate) type Selection = SmallVec<[u32; 8]>;

/// Runs the steps in order, up to and including `last`, shrinking `alive`; stops early
/// when one path is left. `on_out` hears of every path set aside and the step that did it.
pub(crate) fn eliminate(
    contenders: &[Contender],
    alive: &mut Survivors,
    config: &RibConfig,
    last: DecisionStep,
    mut on_out: impl FnMut(u32, DecisionStep),
) {
    for step in DecisionStep::ALL {
        if step > last || alive.len() <= 1 {
            break;
        }
        apply(step, contenders, alive, config, &mut on_out);
    }
}

fn apply(
    step: DecisionStep,
    c: &[Contender],
    alive: &mut Survivors,
    config: &RibConfig,
    on_out: &mut impl FnMut(u32, DecisionStep),
) {
    let at = |i: u32| &c[i as usize];
    match step {
        DecisionStep::LocalPref => keep_min(alive, step, on_out, |i| Reverse(at(i).local_pref)),
        DecisionStep::AsPathLength => {
            if !config.ignore_as_path_length {
                keep_min(alive, step, on_out, |i| at(i).as_path_length);
            }
        }
        DecisionStep::Origin => keep_min(alive, step, on_out, |i| at(i).origin),
        DecisionStep::Med => med_step(c, alive, config, on_out),
        DecisionStep::PeerType => keep_min(alive, step, on_out, |i| !at(i).ebgp),
        DecisionStep::IgpCost => keep_min(alive, step, on_out, |i| at(i).igp_cost),
        DecisionStep::RouteAge => {
            if config.prefer_older_external && alive.iter().all(|&i| at(i).ebgp) {
                keep_min(alive, step, on_out, |i| at(i).rank);
            }
        }
        DecisionStep::RouterId => keep_min(alive, step, on_out, |i| at(i).router_id),
        DecisionStep::ClusterListLength => {
            keep_min(alive, step, on_out, |i| at(i).cluster_list_length)
        }
        DecisionStep::PeerAddress => {
            keep_min(alive, step, on_out, |i| (at(i).peer_address, at(i).peer))
        }
        DecisionStep::PathId => keep_min(alive, step, on_out, |i| at(i).path_id),
    }
}

/// Keeps the survivors whose key is the least.
#[inline]
fn keep_min<K: Ord>(
    alive: &mut Survivors,
    step: DecisionStep,
    on_out: &mut impl FnMut(u32, DecisionStep),
    key: impl Fn(u32) -> K,
) {
    let Some(least) = alive.iter().map(|&i| key(i)).min() else {
        return;
    };
    alive.retain(|i| {
        let keep = key(*i) == least;
        if !keep {
            on_out(*i, step);
        }
        keep
    });
}

/// RFC 4271 9.1.2.2 (c): remove every path for which another survivor from the same
/// neighbouring AS has a lower MED. With `always_compare` all paths form one group.
fn med_step(
    c: &[Contender],
    alive: &mut Survivors,
    config: &RibConfig,
    on_out: &mut impl FnMut(u32, DecisionStep),
) {
    let group = |i: u32| {
        if config.med.always_compare {
            None
        } else {
            c[i as usize].neighbour_as
        }
    };
    let mut least: SmallVec<[(Option<u32>, u32); 8]> = SmallVec::new();
    for &i in alive.iter() {
        let (g, med) = (group(i), c[i as usize].med);
        match least.iter_mut().find(|(other, _)| *other == g) {
            Some(entry) => entry.1 = entry.1.min(med),
            None => least.push((g, med)),
        }
    }
    alive.retain(|i| {
        let g = group(*i);
        let keep = least
            .iter()
            .any(|&(other, med)| other == g && med == c[*i as usize].med);
        if !keep {
            on_out(*i, DecisionStep::Med);
        }
        keep
    });
}

/// The best path among `pool` (indices into `contenders`).
pub(crate) fn best_of(
    contenders: &[Contender],
    pool: &Survivors,
    config: &RibConfig,
) -> Option<u32> {
    best_of_settled(contenders, pool, config, None)
}

/// [`best_of`] for a pool whose paths the steps up to and including `settled` would not
/// tell apart, so that running those steps again would set nothing aside: a pool those
/// steps have already run on, or any subset of it (each of those steps keeps the paths
/// sharing the least key, per neighbouring AS for MED, and a subset of paths sharing a
/// key still shares it).
fn best_of_settled(
    contenders: &[Contender],
    pool: &Survivors,
    config: &RibConfig,
    settled: Option<DecisionStep>,
) -> Option<u32> {
    if pool.len() <= 1 {
        return pool.first().copied();
    }
    let mut alive = Survivors::from_slice(pool);
    for step in DecisionStep::ALL {
        if step > DecisionStep::Med || alive.len() <= 1 {
            break;
        }
        if settled.is_some_and(|settled| step <= settled) {
            continue;
        }
        apply(step, contenders, &mut alive, config, &mut |_, _| {});
    }
    // Every step after MED keeps the paths with the least of a per-path key, so running
    // them in turn picks the least path under those keys compared one after another: one
    // pass, with no `retain` per step. Only a strictly lesser path displaces the one kept,
    // as `retain` keeps the earliest of equals first.
    let at = |i: u32| &contenders[i as usize];
    let mut rest = alive.iter().copied();
    let mut best = rest.next()?;
    for i in rest {
        if after_med_order(at(i), at(best), config) == Ordering::Less {
            best = i;
        }
    }
    debug_assert!(
        alive
            .iter()
            .all(|&i| i == best || after_med_order(at(i), at(best), config) == Ordering::Greater),
        "the last steps tell every pair of paths apart"
    );
    Some(best)
}

/// How `a` and `b` compare under the steps after MED, in step order (less is better).
/// Route age counts only between external paths: the peer-type step before it leaves
/// paths of one kind, and route age applies when those are external.
#[inline]
fn after_med_order(a: &Contender, b: &Contender, config: &RibConfig) -> Ordering {
    (!a.ebgp)
        .cmp(&!b.ebgp)
        .then(a.igp_cost.cmp(&b.igp_cost))
        .then_with(|| {
            if config.prefer_older_external && a.ebgp {
                a.rank.cmp(&b.rank)
            } else {
                Ordering::Equal
            }
        })
        .then(a.router_id.cmp(&b.router_id))
        .then(a.cluster_list_length.cmp(&b.cluster_list_length))
        .then_with(|| (a.peer_address, a.peer).cmp(&(b.peer_address, b.peer)))
        .then_with(|| a.path_id.cmp(&b.path_id))
}

/// The selected paths of `contenders` (all of them in the running), best first, then the
/// rest of the ECMP set as [`RibConfig::ecmp_up_to`] defines it.
pub(crate) fn select(contenders: &[Contender], config: &RibConfig) -> Selection {
    let all: Survivors = (0..contenders.len() as u32).collect();
    select_among(contenders, all, config)
}

/// Like [`select`] over a subset.
pub(crate) fn select_among(
    contenders: &[Contender],
    mut pool: Survivors,
    config: &RibConfig,
) -> Selection {
    let width = config.ecmp_width();
    let mut selection = Selection::new();
    if width == 1 {
        selection.extend(best_of(contenders, &pool, config));
        return selection;
    }
    eliminate(contenders, &mut pool, config, config.ecmp_up_to, |_, _| {});
    while selection.len() < width {
        let Some(next) = best_of_settled(contenders, &pool, config, Some(config.ecmp_up_to)) else {
            break;
        };
        selection.push(next);
        pool.retain(|i| *i != next);
    }
    selection
}

/// The full process over all `contenders`, with the step that set each loser aside.
pub(crate) fn explain(
    contenders: &[Contender],
    config: &RibConfig,
) -> (Option<u32>, Vec<(u32, DecisionStep)>) {
    let mut alive: Survivors = (0..contenders.len() as u32).collect();
    let mut beaten = Vec::new();
    eliminate(
        contenders,
        &mut alive,
        config,
        DecisionStep::PathId,
        |i, step| beaten.push((i, step)),
    );
    (alive.first().copied(), beaten)
}
