//! Export and packing: what each receiver should hold for a prefix (export policy, memoised
//! per source set and receiver), and the announcements and withdrawals packed into UPDATEs.

#[allow(clippy::wildcard_imports)]
use super::*;

impl RouteServer {
    /// Warns when what the ExpressRoute gateway would send to its circuit (the VNet
    /// ranges and everything the route server gave it) crosses ExpressRoute's limit.
    pub(super) fn check_expressroute_limit(&mut self) {
        let Some(limit) = self.config.limits.expressroute_prefix_limit else {
            return;
        };
        let ranges = self.config.advertised_prefixes().count();
        for (&id, peer) in self
            .peers
            .iter_mut()
            .filter(|(_, p)| p.config.kind == PeerKind::ExpressRoute)
        {
            let total = ranges + self.prefix_states.sent_len(id);
            let over = total > limit;
            if over && !peer.over_prefix_limit {
                let text = format!(
                    "ExpressRoute gateway {}: {total} prefixes toward the circuit (VNet ranges and routes from the route server) exceed ExpressRoute's {limit}",
                    peer.config.address
                );
                self.outputs
                    .push_back(Output::Event(Event::Warning { text }));
            }
            peer.over_prefix_limit = over;
        }
    }

    /// Packs and sends announcements and withdrawals to one peer.
    ///
    /// The UPDATEs are those one [`UpdatePacker`] holding every change would make
    /// (withdrawals first, then each exported set's announcements, IPv4 then IPv6), but
    /// each set's announcements are packed [`PACK_SLICE`] prefixes at a time, so that the
    /// packer's copies of a whole pass (an `Nlri` per prefix queued, then again in the
    /// `Update` values, 28 bytes each) are never all alive at once.
    pub(super) fn send_changes(
        &mut self,
        now: Instant,
        to: PeerId,
        prefixes: &[IpNet],
        out: &PendingOut,
    ) {
        let Some(peer) = self.peers.get_mut(&to) else {
            return;
        };
        let Some(established) = &peer.established else {
            return;
        };
        let params = &established.send;
        let at = |index: &u32| prefixes.get(*index as usize).copied();
        let mut refused = Vec::new();
        // Not established any more: the session's Down event resets the Adj-RIB-Out.
        let session = &mut peer.session;
        let mut send = |update: &Update| {
            let _ = session.send_update(now, update);
        };
        let withdrawn = || out.withdraw.iter().filter_map(at);
        if withdrawn().any(|prefix| prefix.addr().is_ipv6()) {
            // The first IPv6 withdrawals may share the last IPv4 withdrawals' message:
            // one packer, as it always was (IPv6 tables are small in practice).
            let mut packer = UpdatePacker::new(params.clone());
            for prefix in withdrawn() {
                let family = if prefix.addr().is_ipv6() {
                    Family::IPV6_UNICAST
                } else {
                    Family::IPV4_UNICAST
                };
                packer.withdraw(family, Nlri::new(prefix));
            }
            let packed = packer.finish_updates();
            packed.messages.iter().for_each(&mut send);
            refused.extend(packed.refused);
        } else {
            // IPv4 only: in slices, as the announcements are, so that withdrawing a
            // million routes never holds a packer's copies of all of them (56 bytes a
            // route, above what the tables held before).
            pack_in_slices(
                params,
                withdrawn().map(Nlri::new),
                &mut send,
                &mut refused,
                |p, nlri| {
                    p.withdraw_many(Family::IPV4_UNICAST, nlri);
                },
                withdrawn_routes,
            );
        }
        for (&id, indices) in &out.announce {
            let attrs = self.export_pool.get(id);
            // Handed to the first packer that takes it (one slice of one family: every
            // small pass); made again for any other.
            let mut wire = Some(attrs.to_wire());
            let mut take_wire = move || wire.take().unwrap_or_else(|| attrs.to_wire());
            let family = |v6: bool| {
                indices
                    .iter()
                    .filter_map(at)
                    .filter(move |p| p.addr().is_ipv6() == v6)
                    .map(Nlri::new)
            };
            if attrs.next_hop.is_ipv4() {
                pack_in_slices(
                    params,
                    family(false),
                    &mut send,
                    &mut refused,
                    |p, nlri| {
                        p.announce_owned(take_wire(), nlri);
                    },
                    announced,
                );
            }
            if let IpAddr::V6(global) = attrs.next_hop {
                let next_hop = MpNextHop::Ipv6 {
                    global,
                    link_local: None,
                };
                pack_in_slices(
                    params,
                    family(true),
                    &mut send,
                    &mut refused,
                    |p, nlri| {
                        p.announce_mp_owned(
                            Family::IPV6_UNICAST,
                            next_hop.clone(),
                            take_wire(),
                            nlri,
                        );
                    },
                    announced,
                );
            }
        }
        for refused in refused {
            self.outputs.push_back(Output::Event(Event::ExportRefused {
                peer: to,
                family: refused.family,
                routes: refused.routes,
                error: refused.error,
            }));
        }
        self.sessions_to_drain.insert(to);
    }
}

/// The routes an UPDATE announces.
fn announced(update: &Update) -> Vec<Nlri> {
    update.announced().map(|(_, nlri)| *nlri).collect()
}

/// The routes an UPDATE withdraws.
fn withdrawn_routes(update: &Update) -> Vec<Nlri> {
    update.withdrawn_routes().map(|(_, nlri)| *nlri).collect()
}

/// How many announcements of one exported set are handed to the packer at once.
pub(super) const PACK_SLICE: usize = 2048;

/// Packs one announcement group, or IPv4 withdrawals (`queue` puts the routes in a
/// packer, `routes_of` reads them back from an UPDATE it made) [`PACK_SLICE`] routes at
/// a time and passes each UPDATE to `send`, making the UPDATEs one packer given all the
/// routes would: it fills each message greedily in order, so the last message of a
/// slice, which the next routes might have filled further, is packed again with them. A
/// refused group is reported once, with all its routes.
fn pack_in_slices(
    params: &SessionParams,
    routes: impl Iterator<Item = Nlri>,
    send: &mut impl FnMut(&Update),
    refused: &mut Vec<bgp_wire::PackError>,
    mut queue: impl FnMut(&mut UpdatePacker, std::vec::Drain<'_, Nlri>),
    routes_of: impl Fn(&Update) -> Vec<Nlri>,
) {
    let mut routes = routes.peekable();
    let mut batch: Vec<Nlri> = Vec::new();
    let mut refusal: Option<bgp_wire::PackError> = None;
    while routes.peek().is_some() || !batch.is_empty() {
        batch.extend(routes.by_ref().take(PACK_SLICE));
        let last_slice = routes.peek().is_none();
        let queued = batch.len();
        let mut packer = UpdatePacker::new(params.clone());
        queue(&mut packer, batch.drain(..));
        let packed = packer.finish_updates();
        for error in packed.refused {
            match &mut refusal {
                Some(seen) => seen.routes += error.routes,
                None => refusal = Some(error),
            }
        }
        let mut messages = packed.messages;
        let held_back = match messages.pop() {
            Some(last) if !last_slice => Some(last),
            Some(last) => {
                messages.push(last);
                None
            }
            None => None,
        };
        messages.iter().for_each(&mut *send);
        if let Some(last) = held_back {
            // Its routes are the batch's last ones: queued again with the next slice.
            batch.extend(routes_of(&last));
            debug_assert!(
                batch.len() <= queued,
                "the held-back message is the batch's tail"
            );
        }
    }
    refused.extend(refusal);
}

/// Announcements and withdrawals waiting to be packed for one peer.
/// Prefixes are indices into the pass's list of prefixes (4 bytes where an `IpNet` takes
/// 18: a pass over a million prefixes keeps this for every receiver); announcements are
/// grouped by exported set, each group in prefix order, as the packer takes them.
///
/// The lists are inline up to four prefixes (the size of a `Vec`): a small pass's
/// receivers mostly get one or two, and a heap list each was a tenth of its allocations.
#[derive(Clone, Debug, Default)]
pub(super) struct PendingOut {
    announce: BTreeMap<AttrId, smallvec::SmallVec<[u32; 4]>>,
    withdraw: smallvec::SmallVec<[u32; 4]>,
}

impl PendingOut {
    pub(super) fn index(index: usize) -> u32 {
        u32::try_from(index).expect("fewer than 2^32 prefixes in one pass")
    }

    pub(super) fn announce_at(&mut self, index: usize, attrs: AttrId) {
        self.announce
            .entry(attrs)
            .or_default()
            .push(Self::index(index));
    }

    pub(super) fn withdraw_at(&mut self, index: usize) {
        self.withdraw.push(Self::index(index));
    }
}

/// Memo key of an export: (source attributes, source peer, receiver, IPv6).
pub(super) type ExportKey = (AttrHandle, PeerId, PeerId, bool);

/// What one receiver should have for one prefix, before interning.
pub(super) enum Desired {
    /// Nothing.
    Nothing,
    /// A result already computed in this pass.
    Known(Option<AttrId>),
    /// New attributes, memoisable under the key when given.
    Fresh(Box<RouteAttrs>, Option<ExportKey>),
    /// Refused by export policy, memoisable.
    Refused(ExportKey),
}

/// Export decision for one receiver and prefix (no mutation: the caller interns).
/// `advertised`: the prefix is one of the virtual network ranges the server originates.
#[allow(clippy::too_many_arguments)]
pub(super) fn desired_export(
    config: &Config,
    peer: &Peer,
    to: PeerId,
    prefix: IpNet,
    advertised: bool,
    candidates: &[Candidate<'_>],
    held: &[(PeerId, PeerKind, AttrHandle)],
    best: &[usize],
    memo: &HashMap<ExportKey, Option<AttrId>, FoldState>,
) -> Desired {
    let Some(established) = peer.established.as_ref() else {
        return Desired::Nothing;
    };
    let family = if prefix.addr().is_ipv6() {
        Family::IPV6_UNICAST
    } else {
        Family::IPV4_UNICAST
    };
    if !established.families.contains(&family) {
        return Desired::Nothing;
    }
    if advertised {
        return match policy::export(config, prefix, ExportSource::Vnet, to, &peer.config) {
            Ok((_, attrs)) => Desired::Fresh(Box::new(attrs), None),
            Err(_) => Desired::Nothing,
        };
    }
    let chosen = if config.extensions.per_client_best_path {
        let eligible: Vec<Candidate<'_>> = candidates
            .iter()
            .filter(|c| {
                policy::export(config, prefix, ExportSource::Learned(**c), to, &peer.config).is_ok()
            })
            .copied()
            .collect();
        let own = policy::select(
            config.hub_routing_preference,
            true,
            Previous::default(),
            &eligible,
        );
        own.best
            .first()
            .and_then(|&i| eligible.get(i))
            .map(|c| c.peer)
    } else {
        best.iter()
            .filter_map(|&i| candidates.get(i))
            .find(|c| c.peer != to)
            .map(|c| c.peer)
    };
    let Some(chosen) = chosen else {
        return Desired::Nothing;
    };
    let Some(index) = held.iter().position(|(p, _, _)| *p == chosen) else {
        return Desired::Nothing;
    };
    let (source, _, source_attrs) = held[index];
    let key = (source_attrs, source, to, prefix.addr().is_ipv6());
    let memoisable = peer.config.outbound_map.is_none();
    if memoisable {
        if let Some(done) = memo.get(&key) {
            return Desired::Known(*done);
        }
    }
    match policy::export(
        config,
        prefix,
        ExportSource::Learned(candidates[index]),
        to,
        &peer.config,
    ) {
        Ok((_, attrs)) => Desired::Fresh(Box::new(attrs), memoisable.then_some(key)),
        Err(_) if memoisable => Desired::Refused(key),
        Err(_) => Desired::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_wire::{AsPath, AttrValue, Origin, PathAttribute};

    /// Prefixes of every length from /8 to /32 (1 to 5 bytes on the wire), so that
    /// message boundaries fall anywhere.
    fn prefixes(count: u32, v6: bool) -> Vec<Nlri> {
        (0..count)
            .map(|i| {
                let len = 8 + (i % 25) as u8;
                let prefix: IpNet = if v6 {
                    let addr =
                        std::net::Ipv6Addr::from((0x2001_0db8_u128 << 96) | (u128::from(i) << 64));
                    IpNet::V6(ipnet::Ipv6Net::new(addr, len + 40).expect("valid"))
                } else {
                    IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(i << 8), len).expect("valid"))
                };
                Nlri::new(prefix.trunc())
            })
            .collect()
    }

    fn attributes(padding: usize) -> Vec<PathAttribute> {
        vec![
            PathAttribute::new(AttrValue::Origin(Origin::Igp)),
            PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence(
                (0..padding as u32).map(|i| 64_512 + i),
            ))),
            PathAttribute::new(AttrValue::NextHop(Ipv4Addr::new(192, 0, 2, 1))),
        ]
    }

    /// Packs with `pack_in_slices` and with one packer holding the whole group (the
    /// reference: bgp-wire's packer, which this must reproduce message for message).
    fn both(
        params: &SessionParams,
        routes: &[Nlri],
        queue: impl Fn(&mut UpdatePacker, std::vec::Drain<'_, Nlri>),
    ) -> (Vec<Update>, Vec<Update>, usize, usize) {
        both_read_back(params, routes, queue, announced)
    }

    /// [`both`], the routes read back from an UPDATE with `routes_of`.
    fn both_read_back(
        params: &SessionParams,
        routes: &[Nlri],
        mut queue: impl FnMut(&mut UpdatePacker, std::vec::Drain<'_, Nlri>),
        routes_of: impl Fn(&Update) -> Vec<Nlri>,
    ) -> (Vec<Update>, Vec<Update>, usize, usize) {
        let mut sliced = Vec::new();
        let mut refused = Vec::new();
        pack_in_slices(
            params,
            routes.iter().copied(),
            &mut |u: &Update| sliced.push(u.clone()),
            &mut refused,
            &mut queue,
            routes_of,
        );
        let mut whole = UpdatePacker::new(params.clone());
        let mut all = routes.to_vec();
        queue(&mut whole, all.drain(..));
        let packed = whole.finish_updates();
        let whole_refused = packed.refused.iter().map(|r| r.routes).sum();
        let sliced_refused = refused.iter().map(|r| r.routes).sum();
        assert!(refused.len() <= 1, "one refusal per group");
        (sliced, packed.messages, sliced_refused, whole_refused)
    }

    #[test]
    fn packing_in_slices_makes_the_updates_one_packer_makes() {
        let v4 = attributes(3);
        for params in [SessionParams::modern(), SessionParams::default()] {
            for count in [
                0,
                1,
                PACK_SLICE - 1,
                PACK_SLICE,
                PACK_SLICE + 1,
                3 * PACK_SLICE + 77,
            ] {
                let (sliced, whole, _, _) =
                    both(&params, &prefixes(count as u32, false), |p, nlri| {
                        p.announce(&v4, nlri);
                    });
                assert_eq!(sliced, whole, "{count} IPv4 routes");
                assert!(count == 0 || !sliced.is_empty());
                let next_hop = MpNextHop::Ipv6 {
                    global: "2001:db8::1".parse().expect("address"),
                    link_local: None,
                };
                let mp = attributes(3)[..2].to_vec();
                let (sliced, whole, _, _) =
                    both(&params, &prefixes(count as u32, true), |p, nlri| {
                        p.announce_mp(Family::IPV6_UNICAST, next_hop.clone(), &mp, nlri);
                    });
                assert_eq!(sliced, whole, "{count} IPv6 routes");
            }
        }
    }

    #[test]
    fn ipv4_withdrawals_in_slices_make_the_updates_one_packer_makes() {
        for params in [SessionParams::modern(), SessionParams::default()] {
            for count in [1, PACK_SLICE, PACK_SLICE + 1, 3 * PACK_SLICE + 77] {
                let routes = prefixes(count as u32, false);
                let (sliced, whole, sliced_refused, whole_refused) = both_read_back(
                    &params,
                    &routes,
                    |p, nlri| {
                        for n in nlri {
                            p.withdraw(Family::IPV4_UNICAST, n);
                        }
                    },
                    withdrawn_routes,
                );
                assert_eq!(sliced, whole, "{count} IPv4 withdrawals");
                assert_eq!((sliced_refused, whole_refused), (0, 0));
            }
        }
    }

    #[test]
    fn a_group_no_update_can_carry_is_refused_once_with_all_its_routes() {
        // An AS_PATH of 1,100 ASNs (4,400 bytes) leaves no room in a 4,096-byte message.
        let huge = attributes(1_100);
        let routes = prefixes(5_000, false);
        let (sliced, whole, sliced_refused, whole_refused) =
            both(&SessionParams::modern(), &routes, |p, nlri| {
                p.announce(&huge, nlri);
            });
        assert!(sliced.is_empty() && whole.is_empty());
        assert_eq!((sliced_refused, whole_refused), (5_000, 5_000));
    }
}
