//! Route maps as Azure Route Server has them (spec section 1.9): an ordered list of rules,
//! each with match conditions, an action and a next step.
//!
//! A rule matches when all its conditions hold (a rule without conditions matches every
//! route). A matching rule's action applies; `Terminate` then stops, `Continue` goes on to
//! the next rule with the modified route. A route no rule drops is permitted.

use ipnet::IpNet;

use bgp_wire::{AsPath, Community};

use crate::config::{reserved_asn, Config};
use crate::route::RouteAttrs;

/// A route map: rules in order.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct RouteMap {
    /// The rules, applied in order.
    pub rules: Vec<RouteMapRule>,
}

/// One rule.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RouteMapRule {
    /// Conditions that must all hold; none matches everything.
    pub conditions: Vec<MatchCondition>,
    /// What a match does.
    pub action: RouteMapAction,
    /// Whether later rules still apply after a match.
    pub next_step: NextStep,
}

/// A match condition.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum MatchCondition {
    /// The route's prefix is one of these exactly.
    PrefixEquals(Vec<IpNet>),
    /// The route's prefix is one of these or inside one of them.
    PrefixContains(Vec<IpNet>),
    /// The route carries all of these communities.
    CommunityEquals(Vec<Community>),
    /// The route carries any of these communities.
    CommunityContains(Vec<Community>),
    /// The AS path is exactly this sequence.
    AsPathEquals(Vec<u32>),
    /// The AS path holds any of these ASNs.
    AsPathContains(Vec<u32>),
}

/// What a matching rule does.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RouteMapAction {
    /// Drop the route.
    Drop,
    /// Apply these modifications in order (none: permit unchanged).
    Modify(Vec<Modification>),
}

/// One modification.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Modification {
    /// Replace the prefix with this summary; the summary carries no communities and an
    /// empty AS path.
    ReplacePrefix(IpNet),
    /// Prepend these ASNs, kept in the listed order.
    AsPathAdd(Vec<u32>),
    /// Set the AS path to this sequence; empty clears it.
    AsPathReplace(Vec<u32>),
    /// Add these communities.
    CommunityAdd(Vec<Community>),
    /// Set the communities to these (Azure's own communities are kept); empty clears.
    CommunityReplace(Vec<Community>),
    /// Remove these communities.
    CommunityRemove(Vec<Community>),
}

/// Whether later rules apply after a match.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NextStep {
    /// Go on with the next rule.
    Continue,
    /// Stop here.
    Terminate,
}

/// Communities Azure uses itself, which route maps may not remove.
pub const AZURE_COMMUNITIES: [Community; 11] = [
    Community::new(65517, 12001),
    Community::new(65517, 12002),
    Community::new(65517, 12003),
    Community::new(65517, 12005),
    Community::new(65517, 12006),
    Community::new(65518, 65518),
    Community::new(65517, 65517),
    Community::new(65517, 12076),
    Community::new(65518, 12076),
    Community::new(65515, 10000),
    Community::new(65515, 20000),
];

/// A route map Azure would refuse.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RouteMapError {
    /// An AS path modification names a private or reserved ASN.
    #[error("rule {rule}: AS {asn} may not be added to a path (private or reserved)")]
    ReservedAsnInPath {
        /// Rule index.
        rule: usize,
        /// The ASN.
        asn: u32,
    },
    /// A 4-octet ASN where only 2-octet ones are allowed.
    #[error("rule {rule}: AS {asn} is 4-octet; route maps take 2-octet ASNs only")]
    FourOctetAsn {
        /// Rule index.
        rule: usize,
        /// The ASN.
        asn: u32,
    },
    /// Removing one of Azure's own communities.
    #[error("rule {rule}: community {community:?} is Azure's and may not be removed")]
    AzureCommunity {
        /// Rule index.
        rule: usize,
        /// The community.
        community: Community,
    },
    /// A rule names or produces a virtual network range.
    #[error("rule {rule}: {prefix} is a virtual network range, which route maps may not touch")]
    VnetRange {
        /// Rule index.
        rule: usize,
        /// The prefix.
        prefix: IpNet,
    },
    /// A summary (prefix replacement) in an outbound map: summaries are supported on
    /// inbound maps only.
    #[error("summaries (prefix replacement) are supported on inbound route maps only")]
    SummaryOutbound,
    /// A summary that does not contain the prefixes the rule matches (route maps may
    /// summarise, never create more-specific routes).
    #[error("rule {rule}: summary {summary} does not contain matched prefix {prefix}")]
    NotASummary {
        /// Rule index.
        rule: usize,
        /// The replacement.
        summary: IpNet,
        /// The matched prefix outside it.
        prefix: IpNet,
    },
}

/// What a route map made of a route.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum MapOutcome {
    /// Permitted, possibly modified (prefix included).
    Permit(IpNet, Box<RouteAttrs>),
    /// Dropped by the rule with this index.
    Drop {
        /// Index of the dropping rule.
        rule: usize,
    },
}

fn is_private_asn(asn: u32) -> bool {
    (64512..=65534).contains(&asn) || (4_200_000_000..=4_294_967_294).contains(&asn)
}

impl MatchCondition {
    /// Whether `prefix` with `attrs` satisfies the condition.
    pub fn matches(&self, prefix: IpNet, attrs: &RouteAttrs) -> bool {
        match self {
            Self::PrefixEquals(list) => list.iter().any(|p| p.trunc() == prefix),
            Self::PrefixContains(list) => list.iter().any(|p| p.contains(&prefix)),
            Self::CommunityEquals(list) => list.iter().all(|c| attrs.has_community(*c)),
            Self::CommunityContains(list) => list.iter().any(|c| attrs.has_community(*c)),
            Self::AsPathEquals(asns) => {
                let path: Vec<u32> = attrs
                    .as_path
                    .segments
                    .iter()
                    .flat_map(|s| s.asns.iter().copied())
                    .collect();
                path == *asns
            }
            Self::AsPathContains(asns) => asns.iter().any(|a| attrs.as_path.contains(*a)),
        }
    }
}

impl RouteMap {
    /// Runs the map over one route.
    pub fn apply(&self, prefix: IpNet, attrs: &RouteAttrs) -> MapOutcome {
        let mut prefix = prefix;
        let mut attrs = attrs.clone();
        for (index, rule) in self.rules.iter().enumerate() {
            if !rule.conditions.iter().all(|c| c.matches(prefix, &attrs)) {
                continue;
            }
            match &rule.action {
                RouteMapAction::Drop => return MapOutcome::Drop { rule: index },
                RouteMapAction::Modify(modifications) => {
                    for modification in modifications {
                        modify(&mut prefix, &mut attrs, modification);
                    }
                }
            }
            if rule.next_step == NextStep::Terminate {
                break;
            }
        }
        MapOutcome::Permit(prefix, Box::new(attrs))
    }

    /// Checks the map against Azure's limits and the configuration's virtual network
    /// ranges.
    ///
    /// # Errors
    ///
    /// The first rule that breaks a limit, and why.
    pub fn validate(&self, config: &Config) -> Result<(), RouteMapError> {
        for (rule_index, rule) in self.rules.iter().enumerate() {
            let rule = (rule_index, rule);
            validate_rule(rule.0, rule.1, config)?;
        }
        Ok(())
    }
}

fn validate_rule(rule: usize, body: &RouteMapRule, config: &Config) -> Result<(), RouteMapError> {
    let protected = |p: &IpNet| config.protected_prefixes().any(|v| v.contains(p));
    for condition in &body.conditions {
        if let MatchCondition::PrefixEquals(list) = condition {
            if let Some(prefix) = list.iter().find(|p| protected(p)) {
                return Err(RouteMapError::VnetRange {
                    rule,
                    prefix: *prefix,
                });
            }
        }
    }
    let RouteMapAction::Modify(modifications) = &body.action else {
        return Ok(());
    };
    for modification in modifications {
        match modification {
            Modification::AsPathAdd(asns) | Modification::AsPathReplace(asns) => {
                for &asn in asns {
                    if asn > 0xFFFF && !config.extensions.four_octet_asn {
                        return Err(RouteMapError::FourOctetAsn { rule, asn });
                    }
                    if asn == 0
                        || asn == config.local_asn
                        || is_private_asn(asn)
                        || reserved_asn(asn).is_some()
                    {
                        return Err(RouteMapError::ReservedAsnInPath { rule, asn });
                    }
                }
            }
            Modification::CommunityRemove(list) => {
                if let Some(community) = list.iter().find(|c| AZURE_COMMUNITIES.contains(c)) {
                    return Err(RouteMapError::AzureCommunity {
                        rule,
                        community: *community,
                    });
                }
            }
            Modification::ReplacePrefix(summary) => {
                if protected(summary) {
                    return Err(RouteMapError::VnetRange {
                        rule,
                        prefix: *summary,
                    });
                }
                for condition in &body.conditions {
                    if let MatchCondition::PrefixEquals(list)
                    | MatchCondition::PrefixContains(list) = condition
                    {
                        if let Some(prefix) = list.iter().find(|p| !summary.contains(*p)) {
                            return Err(RouteMapError::NotASummary {
                                rule,
                                summary: *summary,
                                prefix: *prefix,
                            });
                        }
                    }
                }
            }
            Modification::CommunityAdd(_) | Modification::CommunityReplace(_) => {}
        }
    }
    Ok(())
}

fn modify(prefix: &mut IpNet, attrs: &mut RouteAttrs, modification: &Modification) {
    match modification {
        Modification::ReplacePrefix(summary) => {
            // A summary never narrows: a replacement that does not contain the route is
            // refused at validation, and ignored here should one slip through.
            if summary.contains(&*prefix) {
                *prefix = summary.trunc();
                attrs.communities.clear();
                attrs.as_path = AsPath::default();
            }
        }
        Modification::AsPathAdd(asns) => {
            let mut path = attrs.as_path.clone();
            for &asn in asns.iter().rev() {
                path = path.prepended(asn, 1);
            }
            attrs.as_path = path;
        }
        Modification::AsPathReplace(asns) => {
            attrs.as_path = AsPath::from_sequence(asns.iter().copied())
        }
        Modification::CommunityAdd(list) => {
            for community in list {
                if !attrs.communities.contains(community) {
                    attrs.communities.push(*community);
                }
            }
        }
        Modification::CommunityReplace(list) => {
            attrs.communities.retain(|c| AZURE_COMMUNITIES.contains(c));
            for community in list {
                if !attrs.communities.contains(community) {
                    attrs.communities.push(*community);
                }
            }
        }
        Modification::CommunityRemove(list) => {
            attrs
                .communities
                .retain(|c| !list.contains(c) || AZURE_COMMUNITIES.contains(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use bgp_wire::Origin;

    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("test prefix")
    }

    fn attrs(path: &[u32], communities: &[Community]) -> RouteAttrs {
        let mut a = RouteAttrs::new(
            Origin::Igp,
            AsPath::from_sequence(path.iter().copied()),
            IpAddr::V4(Ipv4Addr::new(10, 1, 2, 4)),
        );
        a.communities = communities.to_vec();
        a
    }

    fn rule(
        conditions: Vec<MatchCondition>,
        action: RouteMapAction,
        next_step: NextStep,
    ) -> RouteMapRule {
        RouteMapRule {
            conditions,
            action,
            next_step,
        }
    }

    fn config() -> Config {
        Config::azure(Ipv4Addr::new(10, 1, 1, 4), vec![net("10.1.0.0/16")])
    }

    #[test]
    fn drop_contains_drops_inside_and_keeps_outside() {
        let map = RouteMap {
            rules: vec![rule(
                vec![MatchCondition::PrefixContains(vec![net("10.122.0.0/16")])],
                RouteMapAction::Drop,
                NextStep::Terminate,
            )],
        };
        for inside in ["10.122.1.0/24", "10.122.2.0/24", "10.122.3.0/24"] {
            assert_eq!(
                map.apply(net(inside), &attrs(&[65001], &[])),
                MapOutcome::Drop { rule: 0 }
            );
        }
        let kept = map.apply(net("10.100.0.0/16"), &attrs(&[65001], &[]));
        assert_eq!(
            kept,
            MapOutcome::Permit(net("10.100.0.0/16"), Box::new(attrs(&[65001], &[])))
        );
    }

    #[test]
    fn as_path_add_keeps_listed_order() {
        let map = RouteMap {
            rules: vec![rule(
                vec![],
                RouteMapAction::Modify(vec![Modification::AsPathAdd(vec![64580, 64581])]),
                NextStep::Terminate,
            )],
        };
        let MapOutcome::Permit(_, out) = map.apply(net("10.250.0.0/16"), &attrs(&[65001], &[]))
        else {
            panic!("permitted")
        };
        assert_eq!(out.as_path, AsPath::from_sequence([64580, 64581, 65001]));
    }

    #[test]
    fn summary_strips_path_and_communities() {
        let map = RouteMap {
            rules: vec![rule(
                vec![MatchCondition::PrefixContains(vec![net("10.2.0.0/16")])],
                RouteMapAction::Modify(vec![Modification::ReplacePrefix(net("10.2.0.0/16"))]),
                NextStep::Terminate,
            )],
        };
        assert_eq!(map.validate(&config()), Ok(()));
        for p in ["10.2.1.0/24", "10.2.2.0/24", "10.2.3.0/24"] {
            let MapOutcome::Permit(prefix, out) =
                map.apply(net(p), &attrs(&[65001, 65002], &[Community::new(65001, 1)]))
            else {
                panic!("permitted")
            };
            assert_eq!(prefix, net("10.2.0.0/16"));
            assert!(out.communities.is_empty());
            assert_eq!(out.as_path, AsPath::default());
        }
    }

    #[test]
    fn continue_applies_later_rules_terminate_stops() {
        let add = |c| {
            RouteMapAction::Modify(vec![Modification::CommunityAdd(vec![Community::new(
                65001, c,
            )])])
        };
        let map = RouteMap {
            rules: vec![
                rule(vec![], add(1), NextStep::Continue),
                rule(
                    vec![MatchCondition::CommunityContains(vec![Community::new(
                        65001, 1,
                    )])],
                    add(2),
                    NextStep::Terminate,
                ),
                rule(vec![], add(3), NextStep::Terminate),
            ],
        };
        let MapOutcome::Permit(_, out) = map.apply(net("10.9.0.0/16"), &attrs(&[65001], &[]))
        else {
            panic!("permitted")
        };
        assert_eq!(
            out.communities,
            vec![Community::new(65001, 1), Community::new(65001, 2)]
        );
    }

    #[test]
    fn as_path_conditions() {
        let a = attrs(&[65001, 65002], &[]);
        assert!(MatchCondition::AsPathEquals(vec![65001, 65002]).matches(net("10.0.0.0/8"), &a));
        assert!(!MatchCondition::AsPathEquals(vec![65001]).matches(net("10.0.0.0/8"), &a));
        assert!(MatchCondition::AsPathContains(vec![7, 65002]).matches(net("10.0.0.0/8"), &a));
        assert!(!MatchCondition::AsPathContains(vec![7]).matches(net("10.0.0.0/8"), &a));
        assert!(
            MatchCondition::PrefixEquals(vec![net("10.0.0.0/8")]).matches(net("10.0.0.0/8"), &a)
        );
        assert!(
            !MatchCondition::PrefixEquals(vec![net("10.0.0.0/8")]).matches(net("10.1.0.0/16"), &a)
        );
    }

    #[test]
    fn community_equals_needs_all() {
        let a = attrs(&[65001], &[Community::new(1, 1), Community::new(1, 2)]);
        let both =
            MatchCondition::CommunityEquals(vec![Community::new(1, 1), Community::new(1, 2)]);
        let with_missing =
            MatchCondition::CommunityEquals(vec![Community::new(1, 1), Community::new(1, 3)]);
        assert!(both.matches(net("10.0.0.0/8"), &a));
        assert!(!with_missing.matches(net("10.0.0.0/8"), &a));
    }

    #[test]
    fn prepending_65515_or_a_private_asn_is_refused() {
        for asn in [65515, 65001, 12076] {
            let map = RouteMap {
                rules: vec![rule(
                    vec![],
                    RouteMapAction::Modify(vec![Modification::AsPathAdd(vec![asn])]),
                    NextStep::Terminate,
                )],
            };
            assert_eq!(
                map.validate(&config()),
                Err(RouteMapError::ReservedAsnInPath { rule: 0, asn })
            );
        }
    }

    #[test]
    fn four_octet_prepend_is_refused_in_azure_mode() {
        let map = RouteMap {
            rules: vec![rule(
                vec![],
                RouteMapAction::Modify(vec![Modification::AsPathAdd(vec![70000])]),
                NextStep::Terminate,
            )],
        };
        assert_eq!(
            map.validate(&config()),
            Err(RouteMapError::FourOctetAsn {
                rule: 0,
                asn: 70000
            })
        );
    }

    #[test]
    fn touching_the_vnet_range_is_refused() {
        let equals_vnet = RouteMap {
            rules: vec![rule(
                vec![MatchCondition::PrefixEquals(vec![net("10.1.0.0/16")])],
                RouteMapAction::Drop,
                NextStep::Terminate,
            )],
        };
        assert!(matches!(
            equals_vnet.validate(&config()),
            Err(RouteMapError::VnetRange { .. })
        ));
        let summarise_into_vnet = RouteMap {
            rules: vec![rule(
                vec![MatchCondition::PrefixContains(vec![net("10.1.5.0/24")])],
                RouteMapAction::Modify(vec![Modification::ReplacePrefix(net("10.1.0.0/16"))]),
                NextStep::Terminate,
            )],
        };
        assert!(matches!(
            summarise_into_vnet.validate(&config()),
            Err(RouteMapError::VnetRange { .. })
        ));
    }

    #[test]
    fn more_specific_replacement_is_refused() {
        let map = RouteMap {
            rules: vec![rule(
                vec![MatchCondition::PrefixContains(vec![net("10.2.0.0/16")])],
                RouteMapAction::Modify(vec![Modification::ReplacePrefix(net("10.2.1.0/24"))]),
                NextStep::Terminate,
            )],
        };
        assert!(matches!(
            map.validate(&config()),
            Err(RouteMapError::NotASummary { .. })
        ));
    }

    #[test]
    fn azure_communities_cannot_be_removed() {
        let map = RouteMap {
            rules: vec![rule(
                vec![],
                RouteMapAction::Modify(vec![Modification::CommunityRemove(vec![Community::new(
                    65517, 12076,
                )])]),
                NextStep::Terminate,
            )],
        };
        assert!(matches!(
            map.validate(&config()),
            Err(RouteMapError::AzureCommunity { .. })
        ));
        let replace = RouteMap {
            rules: vec![rule(
                vec![],
                RouteMapAction::Modify(vec![Modification::CommunityReplace(vec![])]),
                NextStep::Terminate,
            )],
        };
        let a = attrs(
            &[65001],
            &[Community::new(65517, 12076), Community::new(65001, 9)],
        );
        let MapOutcome::Permit(_, out) = replace.apply(net("10.9.0.0/16"), &a) else {
            panic!("permitted")
        };
        assert_eq!(out.communities, vec![Community::new(65517, 12076)]);
    }
}
