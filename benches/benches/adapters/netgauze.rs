//! `netgauze-bgp-pkt` 0.13.

use std::collections::HashMap;
use std::net::IpAddr;

use benches::Tally;
use netgauze_bgp_pkt::community::ExtendedCommunity;
use netgauze_bgp_pkt::path_attribute::{
    Aggregator, AsPath, MpReach, MpUnreach, PathAttributeValue,
};
use netgauze_bgp_pkt::update::BgpUpdateMessage;
use netgauze_bgp_pkt::wire::deserializer::BgpParsingContext;
use netgauze_bgp_pkt::BgpMessage;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::ParseFromWithOneInput;
use netgauze_parse_utils::WritablePdu;

/// A parsing context for a session with or without 4-octet AS numbers, no ADD-PATH and
/// no multiple labels; errors fail the message (the library's strict default).
pub(crate) fn context(four_octet_as: bool) -> BgpParsingContext {
    BgpParsingContext::new(
        four_octet_as,
        HashMap::new(),
        HashMap::new(),
        true,
        true,
        true,
        true,
    )
}

/// Decodes one message and walks it.
#[inline]
pub(crate) fn decode_walk(bytes: &[u8], ctx: &mut BgpParsingContext, tally: &mut Tally) -> bool {
    match BgpMessage::parse(&mut SliceReader::new(bytes), ctx) {
        Ok(BgpMessage::Update(update)) => {
            walk(&update, tally);
            true
        }
        _ => false,
    }
}

/// Decodes one message into its owned value.
pub(crate) fn decode(bytes: &[u8], ctx: &mut BgpParsingContext) -> Option<BgpMessage> {
    BgpMessage::parse(&mut SliceReader::new(bytes), ctx).ok()
}

/// Encodes one message, appending to `out`.
#[inline]
pub(crate) fn encode(message: &BgpMessage, out: &mut Vec<u8>) -> bool {
    message.write(out).is_ok()
}

fn ip(addr: IpAddr, tally: &mut Tally) {
    match addr {
        IpAddr::V4(a) => tally.fold(u32::from(a).into()),
        IpAddr::V6(a) => tally.fold(u128::from(a) as u64),
    }
}

fn path_id(id: Option<u32>, tally: &mut Tally) {
    if let Some(id) = id {
        tally.path_id(id);
    }
}

fn ext_community(c: &ExtendedCommunity, tally: &mut Tally) {
    use netgauze_bgp_pkt::community::TransitiveTwoOctetExtendedCommunity as T2;
    let value = match c {
        ExtendedCommunity::TransitiveTwoOctet(T2::RouteTarget {
            global_admin,
            local_admin,
        }) => 2 << 48 ^ u64::from(*global_admin) << 32 ^ u64::from(*local_admin),
        ExtendedCommunity::TransitiveTwoOctet(T2::RouteOrigin {
            global_admin,
            local_admin,
        }) => 3 << 48 ^ u64::from(*global_admin) << 32 ^ u64::from(*local_admin),
        ExtendedCommunity::TransitiveTwoOctet(_) => 0,
        ExtendedCommunity::NonTransitiveTwoOctet(_) => 0x40,
        ExtendedCommunity::TransitiveIpv4(_) => 1,
        ExtendedCommunity::NonTransitiveIpv4(_) => 0x41,
        ExtendedCommunity::TransitiveFourOctet(_) => 2,
        ExtendedCommunity::NonTransitiveFourOctet(_) => 0x42,
        ExtendedCommunity::TransitiveOpaque(_) => 3,
        ExtendedCommunity::NonTransitiveOpaque(_) => 0x43,
        ExtendedCommunity::Evpn(_) => 6,
        ExtendedCommunity::Experimental(_) => 0x80,
        ExtendedCommunity::Unknown(_) => 0xff,
    };
    tally.ext_community(value);
}

fn mp_reach(reach: &MpReach, tally: &mut Tally) {
    match reach {
        MpReach::Ipv4Unicast {
            next_hop,
            next_hop_local,
            nlri,
        } => {
            ip(*next_hop, tally);
            next_hop_local
                .iter()
                .for_each(|a| tally.fold(u128::from(*a) as u64));
            for n in nlri.iter() {
                let net = n.network().address();
                tally.prefix_v4(u32::from(net.addr()), net.prefix_len());
                path_id(n.path_id(), tally);
            }
        }
        MpReach::Ipv4Multicast {
            next_hop,
            next_hop_local,
            nlri,
        } => {
            ip(*next_hop, tally);
            next_hop_local
                .iter()
                .for_each(|a| tally.fold(u128::from(*a) as u64));
            for n in nlri.iter() {
                let net = n.network().address();
                tally.prefix_v4(u32::from(net.addr()), net.prefix_len());
                path_id(n.path_id(), tally);
            }
        }
        MpReach::Ipv6Unicast {
            next_hop_global,
            next_hop_local,
            nlri,
        } => {
            tally.fold(u128::from(*next_hop_global) as u64);
            next_hop_local
                .iter()
                .for_each(|a| tally.fold(u128::from(*a) as u64));
            for n in nlri.iter() {
                let net = n.network().address();
                tally.prefix_v6(u128::from(net.addr()), net.prefix_len());
                path_id(n.path_id(), tally);
            }
        }
        MpReach::Ipv6Multicast {
            next_hop_global,
            next_hop_local,
            nlri,
        } => {
            tally.fold(u128::from(*next_hop_global) as u64);
            next_hop_local
                .iter()
                .for_each(|a| tally.fold(u128::from(*a) as u64));
            for n in nlri.iter() {
                let net = n.network().address();
                tally.prefix_v6(u128::from(net.addr()), net.prefix_len());
                path_id(n.path_id(), tally);
            }
        }
        MpReach::Unknown { value, .. } => tally.fold_bytes(value),
        // VPN, labeled, EVPN, BGP-LS: absent from the corpus.
        _ => tally.fold(0),
    }
}

fn mp_unreach(unreach: &MpUnreach, tally: &mut Tally) {
    match unreach {
        MpUnreach::Ipv4Unicast { nlri } => {
            for n in nlri.iter() {
                let net = n.network().address();
                tally.prefix_v4(u32::from(net.addr()), net.prefix_len());
                path_id(n.path_id(), tally);
            }
        }
        MpUnreach::Ipv4Multicast { nlri } => {
            for n in nlri.iter() {
                let net = n.network().address();
                tally.prefix_v4(u32::from(net.addr()), net.prefix_len());
                path_id(n.path_id(), tally);
            }
        }
        MpUnreach::Ipv6Unicast { nlri } => {
            for n in nlri.iter() {
                let net = n.network().address();
                tally.prefix_v6(u128::from(net.addr()), net.prefix_len());
                path_id(n.path_id(), tally);
            }
        }
        MpUnreach::Ipv6Multicast { nlri } => {
            for n in nlri.iter() {
                let net = n.network().address();
                tally.prefix_v6(u128::from(net.addr()), net.prefix_len());
                path_id(n.path_id(), tally);
            }
        }
        MpUnreach::Unknown { nlri, .. } => tally.fold_bytes(nlri),
        _ => tally.fold(0),
    }
}

/// Walks every field of a decoded UPDATE.
pub(crate) fn walk(update: &BgpUpdateMessage, tally: &mut Tally) {
    tally.message();
    for n in update.withdraw_routes() {
        let net = n.network().address();
        tally.prefix_v4(u32::from(net.addr()), net.prefix_len());
        path_id(n.path_id(), tally);
    }
    for attr in update.path_attributes() {
        let type_code = match attr.path_attribute_type() {
            Ok(t) => u8::from(t),
            Err(code) => code,
        };
        tally.attribute(type_code);
        match attr.value() {
            PathAttributeValue::Origin(o) => tally.fold(u8::from(*o).into()),
            PathAttributeValue::AsPath(AsPath::As2PathSegments(segments)) => {
                for s in segments.iter() {
                    tally.fold(u8::from(s.segment_type()).into());
                    s.as_numbers().iter().for_each(|a| tally.asn((*a).into()));
                }
            }
            PathAttributeValue::AsPath(AsPath::As4PathSegments(segments)) => {
                for s in segments.iter() {
                    tally.fold(u8::from(s.segment_type()).into());
                    s.as_numbers().iter().for_each(|a| tally.asn(*a));
                }
            }
            PathAttributeValue::As4Path(path) => {
                for s in path.segments() {
                    tally.fold(u8::from(s.segment_type()).into());
                    s.as_numbers().iter().for_each(|a| tally.asn(*a));
                }
            }
            PathAttributeValue::NextHop(nh) => tally.fold(u32::from(nh.next_hop()).into()),
            PathAttributeValue::MultiExitDiscriminator(m) => tally.fold(m.metric().into()),
            PathAttributeValue::LocalPreference(l) => tally.fold(l.metric().into()),
            PathAttributeValue::AtomicAggregate(_) => {}
            PathAttributeValue::Aggregator(Aggregator::As2Aggregator(a)) => {
                tally.fold((*a.asn()).into());
                tally.fold(u32::from(a.origin()).into());
            }
            PathAttributeValue::Aggregator(Aggregator::As4Aggregator(a)) => {
                tally.fold((*a.asn()).into());
                tally.fold(u32::from(a.origin()).into());
            }
            PathAttributeValue::Communities(c) => c
                .communities()
                .iter()
                .for_each(|c| tally.community(c.value())),
            PathAttributeValue::ExtendedCommunities(c) => {
                c.communities().iter().for_each(|c| ext_community(c, tally));
            }
            PathAttributeValue::LargeCommunities(c) => {
                for c in c.communities() {
                    tally.large_community(c.global_admin(), c.local_data1(), c.local_data2());
                }
            }
            PathAttributeValue::Originator(o) => tally.fold(u32::from(o.id()).into()),
            PathAttributeValue::ClusterList(l) => {
                l.cluster_list()
                    .iter()
                    .for_each(|id| tally.fold(u32::from(id.id()).into()));
            }
            PathAttributeValue::MpReach(reach) => mp_reach(reach, tally),
            PathAttributeValue::MpUnreach(unreach) => mp_unreach(unreach, tally),
            PathAttributeValue::OnlyToCustomer(otc) => tally.fold(otc.asn().into()),
            PathAttributeValue::UnknownAttribute(u) => tally.fold_bytes(u.value()),
            // IPv6-address extended communities, BGP-LS, AIGP, prefix SID: absent from the corpus.
            _ => tally.fold(0),
        }
    }
    for n in update.nlri() {
        let net = n.network().address();
        tally.prefix_v4(u32::from(net.addr()), net.prefix_len());
        path_id(n.path_id(), tally);
    }
}
