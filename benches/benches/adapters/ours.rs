//! `bgp-wire`, this workspace's codec.

use benches::Tally;
use bgp_wire::mrt::{MrtBody, MrtReader};
use bgp_wire::{
    AsPath, AttrValue, Message, MpNextHop, MpNlri, Nlri, PathAttribute, SessionParams, Update,
};
use ipnet::IpNet;

/// Decodes one message and walks it; `false` when it did not decode as an UPDATE.
#[inline]
pub(crate) fn decode_walk(bytes: &[u8], params: &SessionParams, tally: &mut Tally) -> bool {
    match Message::parse(bytes, params) {
        Ok(Message::Update(update)) => {
            walk(&update, tally);
            true
        }
        _ => false,
    }
}

/// Decodes one message into its owned value.
pub(crate) fn decode(bytes: &[u8], params: &SessionParams) -> Option<Message> {
    Message::parse(bytes, params).ok()
}

/// Encodes one message, appending to `out`.
#[inline]
pub(crate) fn encode(message: &Message, params: &SessionParams, out: &mut Vec<u8>) {
    message.emit(out, params);
}

/// Folds one prefix.
pub(crate) fn nlri(n: &Nlri, tally: &mut Tally) {
    match n.prefix {
        IpNet::V4(p) => tally.prefix_v4(u32::from(p.addr()), p.prefix_len()),
        IpNet::V6(p) => tally.prefix_v6(u128::from(p.addr()), p.prefix_len()),
    }
    if let Some(id) = n.path_id {
        tally.path_id(id);
    }
}

fn as_path(path: &AsPath, tally: &mut Tally) {
    for segment in &path.segments {
        tally.fold(segment.kind as u64);
        for &asn in &segment.asns {
            tally.asn(asn);
        }
    }
}

fn mp_nlri(nlri_field: &MpNlri, tally: &mut Tally) {
    match nlri_field {
        MpNlri::Prefixes(prefixes) => prefixes.iter().for_each(|n| nlri(n, tally)),
        MpNlri::Opaque(bytes) => tally.fold_bytes(bytes),
    }
}

/// Walks every field of a decoded UPDATE.
pub(crate) fn walk(update: &Update, tally: &mut Tally) {
    tally.message();
    update.withdrawn.iter().for_each(|n| nlri(n, tally));
    walk_attributes(&update.attributes, tally);
    update.nlri.iter().for_each(|n| nlri(n, tally));
    tally.fold(update.issues.len() as u64);
}

/// Walks every field of decoded path attributes.
pub(crate) fn walk_attributes(attributes: &[PathAttribute], tally: &mut Tally) {
    for attr in attributes {
        tally.attribute(attr.type_code().0);
        match &attr.value {
            AttrValue::Origin(origin) => tally.fold(*origin as u64),
            AttrValue::AsPath(path) | AttrValue::As4Path(path) => as_path(path, tally),
            AttrValue::NextHop(addr) | AttrValue::OriginatorId(addr) => {
                tally.fold(u32::from(*addr).into())
            }
            AttrValue::MultiExitDisc(v)
            | AttrValue::LocalPref(v)
            | AttrValue::OnlyToCustomer(v) => {
                tally.fold((*v).into());
            }
            AttrValue::AtomicAggregate => {}
            AttrValue::Aggregator(a) | AttrValue::As4Aggregator(a) => {
                tally.fold(a.asn.into());
                tally.fold(u32::from(a.address).into());
            }
            AttrValue::Communities(list) => list.iter().for_each(|c| tally.community(c.0)),
            AttrValue::ClusterList(list) => {
                list.iter().for_each(|id| tally.fold(u32::from(*id).into()))
            }
            AttrValue::MpReachNlri(reach) => {
                tally.fold(u64::from(reach.family.afi.0) << 8 | u64::from(reach.family.safi.0));
                match &reach.next_hop {
                    MpNextHop::Ipv4(addr) => tally.fold(u32::from(*addr).into()),
                    MpNextHop::Ipv6 { global, link_local } => {
                        tally.fold(u128::from(*global) as u64);
                        tally.fold((u128::from(*global) >> 64) as u64);
                        if let Some(ll) = link_local {
                            tally.fold(u128::from(*ll) as u64);
                        }
                    }
                    MpNextHop::Opaque(bytes) => tally.fold_bytes(bytes),
                }
                mp_nlri(&reach.nlri, tally);
            }
            AttrValue::MpUnreachNlri(unreach) => {
                tally.fold(u64::from(unreach.family.afi.0) << 8 | u64::from(unreach.family.safi.0));
                mp_nlri(&unreach.nlri, tally);
            }
            AttrValue::ExtendedCommunities(list) => {
                list.iter()
                    .for_each(|c| tally.ext_community(u64::from_be_bytes(c.0)));
            }
            AttrValue::LargeCommunities(list) => {
                for c in list {
                    tally.large_community(c.global_admin, c.local_data_1, c.local_data_2);
                }
            }
            AttrValue::Raw(raw) => tally.fold_bytes(&raw.value),
        }
    }
}

/// Decodes every RIB entry of a TABLE_DUMP_V2 dump (decompressed) with the MRT reader and
/// walks it: one tally message per entry, the record's prefix once. Returns the entries
/// that did not decode.
pub(crate) fn rib_walk(dump: &[u8], tally: &mut Tally) -> usize {
    let mut failures = 0;
    for record in MrtReader::new(dump) {
        let Ok((_, record)) = record else {
            failures += 1;
            continue;
        };
        if let MrtBody::Rib(rib) = &record.body {
            nlri(&Nlri::new(rib.prefix), tally);
            for entry in &rib.entries {
                match rib.decode_attributes(entry) {
                    Ok(attrs) => {
                        tally.message();
                        tally.fold(
                            u64::from(entry.peer_index) << 32 | u64::from(entry.originated_time),
                        );
                        walk_attributes(&attrs.attributes, tally);
                    }
                    Err(_) => failures += 1,
                }
            }
        }
    }
    failures
}
