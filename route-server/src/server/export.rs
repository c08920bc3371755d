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
        let at = |index: &u32| prefixes.get(*index as usize).copied();
        let mut packer = UpdatePacker::new(established.send.clone());
        for prefix in out.withdraw.iter().filter_map(at) {
            let family = if prefix.addr().is_ipv6() {
                Family::IPV6_UNICAST
            } else {
                Family::IPV4_UNICAST
            };
            packer.withdraw(family, Nlri::new(prefix));
        }
        for (&id, indices) in &out.announce {
            let attrs = self.export_pool.get(id);
            let wire = attrs.to_wire();
            let family = |v6: bool| {
                indices
                    .iter()
                    .filter_map(at)
                    .filter(move |p| p.addr().is_ipv6() == v6)
                    .map(Nlri::new)
            };
            if attrs.next_hop.is_ipv4() && family(false).next().is_some() {
                packer.announce(&wire, family(false));
            }
            if let (true, IpAddr::V6(global)) = (family(true).next().is_some(), attrs.next_hop) {
                packer.announce_mp(
                    Family::IPV6_UNICAST,
                    MpNextHop::Ipv6 {
                        global,
                        link_local: None,
                    },
                    &wire,
                    family(true),
                );
            }
        }
        let packed = packer.finish_updates();
        for update in &packed.messages {
            // Not established any more: the session's Down event resets the Adj-RIB-Out.
            let _ = peer.session.send_update(now, update);
        }
        for refused in packed.refused {
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

/// Announcements and withdrawals waiting to be packed for one peer.
/// Prefixes are indices into the pass's list of prefixes (4 bytes where an `IpNet` takes
/// 18: a pass over a million prefixes keeps this for every receiver); announcements are
/// grouped by exported set, each group in prefix order, as the packer takes them.
#[derive(Clone, Debug, Default)]
pub(super) struct PendingOut {
    announce: BTreeMap<AttrId, Vec<u32>>,
    withdraw: Vec<u32>,
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
