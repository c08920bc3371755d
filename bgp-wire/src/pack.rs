//! Packing many routes into as few UPDATE messages as fit the session's maximum size.
//!
//! Withdrawals and announcements are collected first, then [`UpdatePacker::finish`]
//! fills messages greedily: IPv4 unicast withdrawals in the Withdrawn Routes field, other
//! families in MP_UNREACH_NLRI (one family per message, as RFC 4760 allows one such
//! attribute per UPDATE), and announcements grouped by attribute set, IPv4 unicast in the
//! NLRI field and other families in an MP_REACH_NLRI placed first.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::attr::{AttrValue, MpNextHop, MpNlri, MpReach, MpUnreach, PathAttribute};
use crate::attr_codec;
use crate::message::{Message, HEADER_LEN};
use crate::prefix;
use crate::types::{Family, Nlri, SessionParams};
use crate::update::Update;
use crate::validate::{check_routes, EncodeError};

/// Routes [`UpdatePacker`] refused to pack: no UPDATE that validates (see
/// [`Message::validate`]) can carry them, typically because their attribute set alone
/// leaves no room for a prefix within the session's maximum message size.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{routes} queued routes of {family:?} cannot be sent: {error}")]
pub struct PackError {
    /// The family of the routes.
    pub family: Family,
    /// How many queued routes are concerned: the whole announcement group sharing the
    /// attribute set, or the withdrawals of the family.
    pub routes: usize,
    /// What is wrong with the UPDATE that would carry them.
    pub error: EncodeError,
}

/// What [`UpdatePacker::finish_updates`] and [`UpdatePacker::finish`] produce: the
/// messages, every one valid, and the routes left out. Iterating it yields the messages.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Packed<T> {
    /// The messages, in sending order.
    pub messages: Vec<T>,
    /// The routes that could not be packed, each group once.
    pub refused: Vec<PackError>,
}

impl<T> Packed<T> {
    /// The messages when nothing was refused.
    ///
    /// # Errors
    ///
    /// The first refusal.
    pub fn into_result(self) -> Result<Vec<T>, PackError> {
        match self.refused.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(self.messages),
        }
    }
}

impl<T> IntoIterator for Packed<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.messages.into_iter()
    }
}

/// A fixed-key hasher: lookups only, so no randomness is needed and none is wanted.
type FixedState = BuildHasherDefault<DefaultHasher>;

/// The key of an announcement group: routes sharing it travel in the same UPDATEs.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct GroupKey {
    family: Family,
    next_hop: Option<MpNextHop>,
    attributes: Vec<PathAttribute>,
}

/// Packs withdrawals and announcements (grouped by shared attribute set) into the
/// fewest UPDATE messages that fit `params.max_message_len()`.
///
/// ```
/// use bgp_wire::{AsPath, AttrValue, Family, Message, Nlri, Origin, PathAttribute,
///     SessionParams, UpdatePacker};
///
/// let params = SessionParams::modern();
/// let attrs = [
///     PathAttribute::new(AttrValue::Origin(Origin::Igp)),
///     PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence([64500]))),
///     PathAttribute::new(AttrValue::NextHop("192.0.2.1".parse().unwrap())),
/// ];
/// let mut packer = UpdatePacker::new(params.clone());
/// let prefixes = (0..2000u32).map(|i| Nlri::new(format!("10.{}.{}.0/24", i / 256, i % 256).parse().unwrap()));
/// packer.announce(&attrs, prefixes);
/// packer.withdraw(Family::IPV4_UNICAST, Nlri::new("192.168.0.0/16".parse().unwrap()));
/// let messages = packer.finish().into_result().expect("small attributes leave room for routes");
/// // One UPDATE for the withdrawal; 2000 /24s take 8000 bytes of NLRI: two UPDATEs.
/// assert_eq!(messages.len(), 3);
/// for bytes in &messages {
///     assert!(bytes.len() <= 4096);
///     assert!(matches!(Message::parse(bytes, &params), Ok(Message::Update(_))));
/// }
/// ```
#[derive(Debug)]
pub struct UpdatePacker {
    params: SessionParams,
    /// Withdrawals per family, families in the order first seen.
    withdrawals: Vec<(Family, Vec<Nlri>)>,
    groups: Vec<(GroupKey, Vec<Nlri>)>,
    /// Each group's position in `groups`, built only once there are more than
    /// [`LINEAR_GROUPS`] groups: until then a group is found by comparing keys in turn,
    /// which for the one or two groups of a typical packer is cheaper than hashing a
    /// whole attribute set and keeping a copy of it as the map's key.
    group_index: HashMap<GroupKey, usize, FixedState>,
}

/// The most announcement groups an [`UpdatePacker`] searches one by one (see
/// `UpdatePacker::group_index`).
const LINEAR_GROUPS: usize = 8;

impl UpdatePacker {
    /// A packer for a session with `params`.
    pub fn new(params: SessionParams) -> Self {
        Self {
            params,
            withdrawals: Vec::new(),
            groups: Vec::new(),
            group_index: HashMap::default(),
        }
    }

    /// Queues the withdrawal of `nlri` of `family`.
    pub fn withdraw(&mut self, family: Family, nlri: Nlri) -> &mut Self {
        match self.withdrawals.iter_mut().find(|(f, _)| *f == family) {
            Some((_, list)) => list.push(nlri),
            None => self.withdrawals.push((family, vec![nlri])),
        }
        self
    }

    /// Queues the withdrawal of each of `nlri` of `family`, in order: [`withdraw`](Self::withdraw)
    /// for each, with the list grown once.
    pub fn withdraw_many(
        &mut self,
        family: Family,
        nlri: impl IntoIterator<Item = Nlri>,
    ) -> &mut Self {
        match self.withdrawals.iter_mut().find(|(f, _)| *f == family) {
            Some((_, list)) => list.extend(nlri),
            None => self.withdrawals.push((family, nlri.into_iter().collect())),
        }
        self
    }

    /// Queues IPv4 unicast announcements sharing `attributes` (which carry NEXT_HOP).
    /// AS_PATH and AGGREGATOR must hold the true AS numbers: on a 2-octet session the
    /// packer adds AS4_PATH and AS4_AGGREGATOR as RFC 6793 requires.
    pub fn announce(
        &mut self,
        attributes: &[PathAttribute],
        nlri: impl IntoIterator<Item = Nlri>,
    ) -> &mut Self {
        self.announce_owned(attributes.to_vec(), nlri)
    }

    /// [`announce`](Self::announce), the attribute set handed over instead of copied.
    pub fn announce_owned(
        &mut self,
        attributes: Vec<PathAttribute>,
        nlri: impl IntoIterator<Item = Nlri>,
    ) -> &mut Self {
        let key = GroupKey {
            family: Family::IPV4_UNICAST,
            next_hop: None,
            attributes: self.session_attributes(attributes),
        };
        self.push_group(key, nlri);
        self
    }

    /// Queues announcements of `family` (IPv6 unicast, ...) sharing `attributes` (without
    /// MP_REACH_NLRI, which the packer builds) and `next_hop`.
    pub fn announce_mp(
        &mut self,
        family: Family,
        next_hop: MpNextHop,
        attributes: &[PathAttribute],
        nlri: impl IntoIterator<Item = Nlri>,
    ) -> &mut Self {
        self.announce_mp_owned(family, next_hop, attributes.to_vec(), nlri)
    }

    /// [`announce_mp`](Self::announce_mp), the attribute set handed over instead of
    /// copied.
    pub fn announce_mp_owned(
        &mut self,
        family: Family,
        next_hop: MpNextHop,
        attributes: Vec<PathAttribute>,
        nlri: impl IntoIterator<Item = Nlri>,
    ) -> &mut Self {
        let key = GroupKey {
            family,
            next_hop: Some(next_hop),
            attributes: self.session_attributes(attributes),
        };
        self.push_group(key, nlri);
        self
    }

    /// The attributes as they go out on this session: AS4_PATH and AS4_AGGREGATOR made
    /// right for it (RFC 6793, see [`Update::prepare_as4_attributes`]).
    fn session_attributes(&self, mut attributes: Vec<PathAttribute>) -> Vec<PathAttribute> {
        crate::update::prepare_as4_attributes(&mut attributes, &self.params);
        attributes
    }

    fn push_group(&mut self, key: GroupKey, nlri: impl IntoIterator<Item = Nlri>) {
        let found = if self.groups.len() <= LINEAR_GROUPS {
            self.groups.iter().position(|(k, _)| *k == key)
        } else {
            self.group_index.get(&key).copied()
        };
        let index = match found {
            Some(index) => index,
            None => {
                let index = self.groups.len();
                if index >= LINEAR_GROUPS {
                    if self.group_index.is_empty() {
                        // Leaving the linear search: index the groups so far.
                        for (i, (k, _)) in self.groups.iter().enumerate() {
                            self.group_index.insert(k.clone(), i);
                        }
                    }
                    self.group_index.insert(key.clone(), index);
                }
                self.groups.push((key, Vec::new()));
                index
            }
        };
        self.groups[index].1.extend(nlri);
    }

    /// Builds the UPDATE values, withdrawals first, in the fewest messages that fit.
    /// Every UPDATE returned passes [`Update::validate`] with the packer's parameters.
    ///
    /// Routes that no valid UPDATE can carry are left out and listed in
    /// [`Packed::refused`], the rest is packed as usual: an announcement group whose
    /// attribute set leaves no room for a prefix within the maximum message size
    /// ([`EncodeError::MessageTooLong`]) or holds an attribute that cannot be encoded, or
    /// the withdrawals of a family holding a prefix that does not belong to it or
    /// disagrees with ADD-PATH. [`Packed::into_result`] turns a refusal into an error.
    pub fn finish_updates(mut self) -> Packed<Update> {
        let mut refused = Vec::new();
        let mut out = Vec::new();
        let budget = self.params.max_message_len() - HEADER_LEN;
        let mut skipped = Vec::new();
        for (family, nlri) in &self.withdrawals {
            if let Err(error) = check_routes(*family, nlri, &self.params) {
                refused.push(PackError {
                    family: *family,
                    routes: nlri.len(),
                    error,
                });
                skipped.push(*family);
            }
        }
        self.pack_withdrawals(budget, &skipped, &mut out);
        // Sizes are budgeted and prefixes checked above: this only guards the invariant
        // (the withdrawn prefixes, checked above, are not checked again).
        out.retain(
            |update| match update.validate_all_but_withdrawn(&self.params) {
                Ok(()) => true,
                Err(error) => {
                    refused.push(PackError {
                        family: update
                            .withdrawn_routes()
                            .next()
                            .map_or(Family::IPV4_UNICAST, |(family, _)| family),
                        routes: update.withdrawn_routes().count(),
                        error,
                    });
                    false
                }
            },
        );
        let groups = std::mem::take(&mut self.groups);
        for (key, nlri) in groups {
            let start = out.len();
            let family = key.family;
            if key.next_hop.is_none() && key.family == Family::IPV4_UNICAST {
                self.pack_ipv4(key.attributes, &nlri, budget, &mut out);
            } else {
                self.pack_mp(&key, &nlri, budget, &mut out);
            }
            let invalid = out[start..]
                .iter()
                .find_map(|update| update.validate(&self.params).err());
            if let Some(error) = invalid {
                out.truncate(start);
                refused.push(PackError {
                    family,
                    routes: nlri.len(),
                    error,
                });
            }
        }
        Packed {
            messages: out,
            refused,
        }
    }

    /// Builds and encodes the messages (see [`UpdatePacker::finish_updates`]).
    pub fn finish(self) -> Packed<Vec<u8>> {
        let params = self.params.clone();
        let Packed { messages, refused } = self.finish_updates();
        Packed {
            messages: messages
                .into_iter()
                .map(|update| Message::Update(update).to_bytes(&params))
                .collect(),
            refused,
        }
    }

    fn add_path(&self, family: Family) -> bool {
        self.params.add_path.contains(family)
    }

    fn pack_withdrawals(&self, budget: usize, skipped: &[Family], out: &mut Vec<Update>) {
        // The current message, and its body size so far (the two length fields included).
        let mut current = Update::new();
        let mut used = 4;
        let v4_add_path = self.add_path(Family::IPV4_UNICAST);
        let v4 = self
            .withdrawals
            .iter()
            .filter(|(f, _)| *f == Family::IPV4_UNICAST && !skipped.contains(f));
        for (_, nlri) in v4 {
            // Each message's routes are copied in one slice (`nlri[start..i]` are this
            // message's routes not yet copied), not pushed one by one into a growing list.
            let mut start = 0;
            for (i, n) in nlri.iter().enumerate() {
                let size = prefix::prefix_len(n, v4_add_path);
                let empty = i == start && is_empty(&current);
                if used + size > budget && !empty {
                    current.withdrawn.extend_from_slice(&nlri[start..i]);
                    out.push(std::mem::take(&mut current));
                    used = 4;
                    start = i;
                }
                used += size;
            }
            current.withdrawn.extend_from_slice(&nlri[start..]);
        }
        for (family, nlri) in self
            .withdrawals
            .iter()
            .filter(|(f, _)| *f != Family::IPV4_UNICAST && !skipped.contains(f))
        {
            let add_path = self.add_path(*family);
            let mut rest = nlri.as_slice();
            while let Some(first) = rest.first() {
                // One MP_UNREACH per message: start a new message when this one has one
                // already or has no room for the attribute with one prefix.
                let with_one = 3 + 3 + prefix::prefix_len(first, add_path);
                if !is_empty(&current)
                    && (current.mp_unreach().is_some() || used + with_one > budget)
                {
                    out.push(std::mem::take(&mut current));
                    used = 4;
                }
                let (taken, value_len) = fill(rest, add_path, 3, budget, |len| {
                    used + attr_header(len) + len
                });
                let unreach = MpUnreach {
                    family: *family,
                    nlri: MpNlri::Prefixes(rest[..taken].to_vec()),
                };
                current
                    .attributes
                    .push(PathAttribute::new(AttrValue::MpUnreachNlri(unreach)));
                used += attr_header(value_len) + value_len;
                rest = &rest[taken..];
            }
        }
        if !is_empty(&current) {
            out.push(current);
        }
    }

    /// The group's attribute set is moved into its last message and copied into the
    /// others (most groups fit in one message: no copy at all).
    fn pack_ipv4(
        &self,
        mut attributes: Vec<PathAttribute>,
        nlri: &[Nlri],
        budget: usize,
        out: &mut Vec<Update>,
    ) {
        let attrs_len: usize = attributes
            .iter()
            .map(|a| attr_codec::attribute_len(a, &self.params))
            .sum();
        let add_path = self.add_path(Family::IPV4_UNICAST);
        let mut rest = nlri;
        while !rest.is_empty() {
            let (taken, _) = fill(rest, add_path, 0, budget, |len| 4 + attrs_len + len);
            let message_attributes = if taken == rest.len() {
                std::mem::take(&mut attributes)
            } else {
                attributes.clone()
            };
            out.push(Update::ipv4_announcement(
                message_attributes,
                rest[..taken].iter().copied(),
            ));
            rest = &rest[taken..];
        }
    }

    fn pack_mp(&self, key: &GroupKey, nlri: &[Nlri], budget: usize, out: &mut Vec<Update>) {
        let attrs_len: usize = key
            .attributes
            .iter()
            .map(|a| attr_codec::attribute_len(a, &self.params))
            .sum();
        let next_hop = key
            .next_hop
            .clone()
            .unwrap_or(MpNextHop::Opaque(Vec::new()));
        let empty_reach = MpReach {
            family: key.family,
            next_hop: next_hop.clone(),
            reserved: 0,
            nlri: MpNlri::Prefixes(Vec::new()),
        };
        let fixed = attr_codec::value_len(&AttrValue::MpReachNlri(empty_reach), &self.params);
        let add_path = self.add_path(key.family);
        let mut rest = nlri;
        while !rest.is_empty() {
            let (taken, _) = fill(rest, add_path, fixed, budget, |len| {
                4 + attrs_len + attr_header(len) + len
            });
            out.push(Update::mp_announcement(
                key.family,
                next_hop.clone(),
                key.attributes.iter().cloned(),
                rest[..taken].iter().copied(),
            ));
            rest = &rest[taken..];
        }
    }
}

fn is_empty(update: &Update) -> bool {
    update.withdrawn.is_empty() && update.attributes.is_empty() && update.nlri.is_empty()
}

/// Header size of an attribute whose value is `value_len` bytes.
fn attr_header(value_len: usize) -> usize {
    if value_len > 255 {
        4
    } else {
        3
    }
}

/// How many leading prefixes of `nlri` fit: starting from a field of `start` bytes, adds
/// prefixes while `body_len(field)` stays within `budget`. Always at least one (so that
/// packing ends), at most `nlri.len()`. Returns the count and the field's size.
fn fill(
    nlri: &[Nlri],
    add_path: bool,
    start: usize,
    budget: usize,
    body_len: impl Fn(usize) -> usize,
) -> (usize, usize) {
    let mut len = start;
    let mut taken = 0;
    for n in nlri {
        let next = len + prefix::prefix_len(n, add_path);
        if taken > 0 && body_len(next) > budget {
            break;
        }
        len = next;
        taken += 1;
    }
    (taken, len)
}
