//! `routecore` 0.7 (feature `bgp`): validates an UPDATE once, then reads lazily from the
//! original bytes through accessors.

use std::net::IpAddr;

use benches::Tally;
use routecore::bgp::message::update::SessionConfig;
use routecore::bgp::message::UpdateMessage;
use routecore::bgp::nlri::afisafi::{IsPrefix, Nlri};
use routecore::bgp::nlri::nexthop::NextHop;
use routecore::bgp::path_attributes::WireformatPathAttribute;

/// The session configuration for 4-octet or 2-octet AS numbers, no ADD-PATH.
pub(crate) fn config(four_octet_as: bool) -> SessionConfig {
    if four_octet_as {
        SessionConfig::modern()
    } else {
        SessionConfig::legacy()
    }
}

/// Validation only: what `UpdateMessage::from_octets` checks, reading nothing after.
#[inline]
pub(crate) fn validate(bytes: &[u8], config: &SessionConfig, tally: &mut Tally) -> bool {
    match UpdateMessage::from_octets(bytes, config) {
        Ok(update) => {
            tally.message();
            tally.fold(update.length() as u64);
            true
        }
        Err(_) => false,
    }
}

/// Validation, then every field read through the accessors.
#[inline]
pub(crate) fn validate_walk(bytes: &[u8], config: &SessionConfig, tally: &mut Tally) -> bool {
    match UpdateMessage::from_octets(bytes, config) {
        Ok(update) => walk(&update, tally).is_some(),
        Err(_) => false,
    }
}

fn ip(addr: IpAddr, tally: &mut Tally) {
    match addr {
        IpAddr::V4(a) => tally.fold(u32::from(a).into()),
        IpAddr::V6(a) => tally.fold(u128::from(a) as u64),
    }
}

fn nlri<O>(n: &Nlri<O>, tally: &mut Tally) {
    let (prefix, path_id) = match n {
        Nlri::Ipv4Unicast(p) => (p.prefix(), p.path_id()),
        Nlri::Ipv4UnicastAddpath(p) => (p.prefix(), p.path_id()),
        Nlri::Ipv4Multicast(p) => (p.prefix(), p.path_id()),
        Nlri::Ipv4MulticastAddpath(p) => (p.prefix(), p.path_id()),
        Nlri::Ipv6Unicast(p) => (p.prefix(), p.path_id()),
        Nlri::Ipv6UnicastAddpath(p) => (p.prefix(), p.path_id()),
        Nlri::Ipv6Multicast(p) => (p.prefix(), p.path_id()),
        Nlri::Ipv6MulticastAddpath(p) => (p.prefix(), p.path_id()),
        // Other families: absent from the corpus.
        _ => {
            tally.fold(0);
            return;
        }
    };
    match prefix.addr() {
        IpAddr::V4(a) => tally.prefix_v4(u32::from(a), prefix.len()),
        IpAddr::V6(a) => tally.prefix_v6(u128::from(a), prefix.len()),
    }
    if let Some(id) = path_id {
        tally.path_id(id.0);
    }
}

fn next_hop(nh: NextHop, tally: &mut Tally) {
    match nh {
        NextHop::Unicast(a) | NextHop::Multicast(a) => ip(a, tally),
        NextHop::Ipv6LL { global, link_local } => {
            tally.fold(u128::from(global) as u64);
            tally.fold(u128::from(link_local) as u64);
        }
        _ => tally.fold(0),
    }
}

/// Reads every field through the accessors; `None` on the first accessor error.
fn walk(update: &UpdateMessage<&[u8]>, tally: &mut Tally) -> Option<()> {
    tally.message();
    for n in update.withdrawals().ok()? {
        nlri(&n.ok()?, tally);
    }
    // One pass for the attribute list itself, and for the attributes that have no
    // dedicated accessor (their raw value is folded).
    for attr in update.path_attributes().ok()? {
        let attr = attr.ok()?;
        tally.attribute(attr.type_code());
        match &attr {
            WireformatPathAttribute::OriginatorId(epa)
            | WireformatPathAttribute::ClusterList(epa)
            | WireformatPathAttribute::As4Aggregator(epa)
            | WireformatPathAttribute::Otc(epa) => tally.fold_bytes(epa.as_ref()),
            WireformatPathAttribute::Unimplemented(u) => tally.fold_bytes(u.value()),
            _ => {}
        }
    }
    if let Some(origin) = update.origin().ok()? {
        tally.fold(u8::from(origin).into());
    }
    for path in [update.aspath().ok()?, update.as4path().ok()?]
        .into_iter()
        .flatten()
    {
        for segment in path.segments() {
            tally.fold(segment.asn_count().into());
            segment.asns().for_each(|a| tally.asn(a.into_u32()));
        }
    }
    if let Some(nh) = update.conventional_next_hop().ok()? {
        next_hop(nh, tally);
    }
    if let Some(nh) = update.mp_next_hop().ok()? {
        next_hop(nh, tally);
    }
    if let Some(med) = update.multi_exit_disc().ok()? {
        tally.fold(med.0.into());
    }
    if let Some(lp) = update.local_pref().ok()? {
        tally.fold(lp.0.into());
    }
    if let Some(agg) = update.aggregator().ok()? {
        tally.fold(agg.asn().into_u32().into());
        tally.fold(u32::from(agg.address()).into());
    }
    if let Some(list) = update.communities().ok()? {
        list.for_each(|c| tally.community(c.to_u32()));
    }
    if let Some(list) = update.ext_communities().ok()? {
        list.for_each(|c| tally.ext_community(u64::from_be_bytes(c.to_raw())));
    }
    if let Some(list) = update.large_communities().ok()? {
        list.for_each(|c| tally.large_community(c.global(), c.local1(), c.local2()));
    }
    for n in update.announcements().ok()? {
        nlri(&n.ok()?, tally);
    }
    Some(())
}
