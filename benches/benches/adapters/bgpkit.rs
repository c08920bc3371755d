//! `bgpkit-parser` 0.23 (`default-features = false, features = ["parser"]`).

use benches::Tally;
use bgpkit_parser::models::{
    AsPath, AsPathSegment, AsnLength, AttributeValue, Attributes, BgpMessage, BgpUpdateMessage,
    Community, ExtendedCommunity, NetworkPrefix, NextHopAddress, Nlri,
};
use bgpkit_parser::models::{MrtMessage, TableDumpV2Message};
use bgpkit_parser::parser::bgp::messages::parse_bgp_message;
use bgpkit_parser::parser::mrt::parse_mrt_record;
use bytes::Bytes;
use ipnet::IpNet;

/// The AS width bgpkit takes for a session.
pub(crate) fn asn_length(four_octet_as: bool) -> AsnLength {
    if four_octet_as {
        AsnLength::Bits32
    } else {
        AsnLength::Bits16
    }
}

/// Decodes one message (a cheap reference-counted clone of `bytes`) and walks it.
#[inline]
pub(crate) fn decode_walk(bytes: &Bytes, asn_len: &AsnLength, tally: &mut Tally) -> bool {
    let mut data = bytes.clone();
    match parse_bgp_message(&mut data, false, asn_len) {
        Ok(BgpMessage::Update(update)) => {
            walk(&update, tally);
            true
        }
        _ => false,
    }
}

/// Decodes one message into its owned value.
pub(crate) fn decode(bytes: &Bytes, asn_len: &AsnLength) -> Option<BgpMessage> {
    parse_bgp_message(&mut bytes.clone(), false, asn_len).ok()
}

/// Encodes one message.
#[inline]
pub(crate) fn encode(message: &BgpMessage, asn_len: AsnLength) -> Option<Bytes> {
    message.encode(asn_len).ok()
}

/// Folds one prefix.
pub(crate) fn prefix(p: &NetworkPrefix, tally: &mut Tally) {
    match p.prefix {
        IpNet::V4(n) => tally.prefix_v4(u32::from(n.addr()), n.prefix_len()),
        IpNet::V6(n) => tally.prefix_v6(u128::from(n.addr()), n.prefix_len()),
    }
    if let Some(id) = p.path_id {
        tally.path_id(id);
    }
}

fn as_path(path: &AsPath, tally: &mut Tally) {
    for segment in &path.segments {
        let (kind, asns) = match segment {
            AsPathSegment::AsSet(a) => (1, a),
            AsPathSegment::AsSequence(a) => (2, a),
            AsPathSegment::ConfedSequence(a) => (3, a),
            AsPathSegment::ConfedSet(a) => (4, a),
        };
        tally.fold(kind);
        for asn in asns {
            tally.asn(asn.to_u32());
        }
    }
}

fn ext_community(c: &ExtendedCommunity, tally: &mut Tally) {
    let value = match c {
        ExtendedCommunity::TransitiveTwoOctetAs(e)
        | ExtendedCommunity::NonTransitiveTwoOctetAs(e) => {
            u64::from(e.subtype) << 56
                ^ u64::from(e.global_admin.to_u32()) << 32
                ^ u64::from(u32::from_be_bytes(e.local_admin))
        }
        ExtendedCommunity::TransitiveIpv4Addr(e) | ExtendedCommunity::NonTransitiveIpv4Addr(e) => {
            u64::from(e.subtype) << 56
                ^ u64::from(u32::from(e.global_admin)) << 16
                ^ u64::from(u16::from_be_bytes(e.local_admin))
        }
        ExtendedCommunity::TransitiveFourOctetAs(e)
        | ExtendedCommunity::NonTransitiveFourOctetAs(e) => {
            u64::from(e.subtype) << 56
                ^ u64::from(e.global_admin.to_u32()) << 16
                ^ u64::from(u16::from_be_bytes(e.local_admin))
        }
        ExtendedCommunity::TransitiveOpaque(e) | ExtendedCommunity::NonTransitiveOpaque(e) => {
            let mut word = [0; 8];
            word[1] = e.subtype;
            word[2..].copy_from_slice(&e.value);
            u64::from_be_bytes(word)
        }
        ExtendedCommunity::Raw(raw) => u64::from_be_bytes(*raw),
        _ => 0,
    };
    tally.ext_community(value);
}

fn nlri(n: &Nlri, tally: &mut Tally) {
    tally.fold(u64::from(n.afi as u16) << 8 | u64::from(n.safi as u8));
    match &n.next_hop {
        Some(NextHopAddress::Ipv4(a)) => tally.fold(u32::from(*a).into()),
        Some(NextHopAddress::Ipv6(a)) => tally.fold(u128::from(*a) as u64),
        Some(NextHopAddress::Ipv6LinkLocal(a, b)) => {
            tally.fold(u128::from(*a) as u64);
            tally.fold(u128::from(*b) as u64);
        }
        Some(_) => tally.fold(1),
        None => {}
    }
    n.prefixes.iter().for_each(|p| prefix(p, tally));
}

/// Walks every field of a decoded UPDATE.
pub(crate) fn walk(update: &BgpUpdateMessage, tally: &mut Tally) {
    tally.message();
    update
        .withdrawn_prefixes
        .iter()
        .for_each(|p| prefix(p, tally));
    walk_attributes(&update.attributes, tally);
    update
        .announced_prefixes
        .iter()
        .for_each(|p| prefix(p, tally));
}

/// Walks every field of decoded path attributes.
pub(crate) fn walk_attributes(attributes: &Attributes, tally: &mut Tally) {
    for value in attributes {
        tally.attribute(value.attr_code());
        match value {
            AttributeValue::Origin(o) => tally.fold(*o as u64),
            AttributeValue::AsPath(p) | AttributeValue::As4Path(p) => as_path(p, tally),
            AttributeValue::NextHop(addr) => match addr {
                std::net::IpAddr::V4(a) => tally.fold(u32::from(*a).into()),
                std::net::IpAddr::V6(a) => tally.fold(u128::from(*a) as u64),
            },
            AttributeValue::MultiExitDiscriminator(v) | AttributeValue::LocalPreference(v) => {
                tally.fold((*v).into())
            }
            AttributeValue::OnlyToCustomer(asn) => tally.fold(asn.to_u32().into()),
            AttributeValue::AtomicAggregate => {}
            AttributeValue::Aggregator { asn, id } | AttributeValue::As4Aggregator { asn, id } => {
                tally.fold(asn.to_u32().into());
                tally.fold(u32::from(*id).into());
            }
            AttributeValue::Communities(list) => {
                for c in list {
                    tally.community(match c {
                        Community::NoExport => 0xffff_ff01,
                        Community::NoAdvertise => 0xffff_ff02,
                        Community::NoExportSubConfed => 0xffff_ff03,
                        Community::Custom(asn, value) => asn.to_u32() << 16 | u32::from(*value),
                    });
                }
            }
            AttributeValue::ExtendedCommunities(list) => {
                list.iter().for_each(|c| ext_community(c, tally))
            }
            AttributeValue::LargeCommunities(list) => {
                for c in list {
                    tally.large_community(c.global_admin, c.local_data[0], c.local_data[1]);
                }
            }
            AttributeValue::OriginatorId(id) => tally.fold(u32::from(*id).into()),
            AttributeValue::Clusters(ids) => ids.iter().for_each(|id| tally.fold((*id).into())),
            AttributeValue::MpReachNlri(n) | AttributeValue::MpUnreachNlri(n) => nlri(n, tally),
            AttributeValue::Raw(raw)
            | AttributeValue::Deprecated(raw)
            | AttributeValue::Unknown(raw) => {
                tally.fold_bytes(&raw.bytes);
            }
            AttributeValue::Development(bytes) => tally.fold_bytes(bytes),
            // Families and attributes absent from the corpus (BGP-LS, tunnel encapsulation,
            // prefix SID, ...): counted, not walked.
            _ => tally.fold(0),
        }
    }
}

/// Decodes every record of a TABLE_DUMP_V2 dump (decompressed) with bgpkit's MRT parser
/// and walks each RIB entry: one tally message per entry, the record's prefix once.
/// Returns the records that did not decode (parsing stops at the first).
pub(crate) fn rib_walk(dump: &[u8], tally: &mut Tally) -> usize {
    let mut reader = dump;
    while !reader.is_empty() {
        let Ok(record) = parse_mrt_record(&mut reader) else {
            return 1;
        };
        if let MrtMessage::TableDumpV2Message(TableDumpV2Message::RibAfi(rib)) = record.message {
            prefix(&rib.prefix, tally);
            for entry in &rib.rib_entries {
                tally.message();
                tally.fold(u64::from(entry.peer_index) << 32 | u64::from(entry.originated_time));
                walk_attributes(&entry.attributes, tally);
            }
        }
    }
    0
}
