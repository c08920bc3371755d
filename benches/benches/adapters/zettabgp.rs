//! `zettabgp` 0.6.

use std::net::{IpAddr, Ipv4Addr};

use benches::Tally;
use zettabgp::prelude::{
    BgpASitem, BgpAddr, BgpAddrs, BgpAttrItem, BgpMessage, BgpMessageType, BgpSessionParams,
    BgpTransportMode, BgpUpdateMessage,
};

/// Session parameters: IPv4 transport (the mode in which the UPDATE's own NLRI fields are
/// IPv4, as RFC 4271 has them), the given AS width, and no guessing of path identifiers
/// (the library's default, `fuzzy_pathid`, would look for ADD-PATH in every NLRI field).
pub(crate) fn params(four_octet_as: bool) -> BgpSessionParams {
    let mut params = BgpSessionParams::new(
        64512,
        180,
        BgpTransportMode::IPv4,
        Ipv4Addr::new(192, 0, 2, 1),
        Vec::new(),
    );
    params.has_as32bit = four_octet_as;
    params.fuzzy_pathid = false;
    params
}

/// Decodes one message (header checked, then the body) into its owned value.
pub(crate) fn decode(bytes: &[u8], params: &BgpSessionParams) -> Option<BgpUpdateMessage> {
    let (kind, len) = params.decode_message_head(bytes).ok()?;
    if kind != BgpMessageType::Update {
        return None;
    }
    let body = bytes.get(19..19 + len)?;
    let mut update = BgpUpdateMessage::new();
    update.decode_from(params, body).ok()?;
    Some(update)
}

/// Decodes one message and walks it.
#[inline]
pub(crate) fn decode_walk(bytes: &[u8], params: &BgpSessionParams, tally: &mut Tally) -> bool {
    match decode(bytes, params) {
        Some(update) => {
            walk(&update, tally);
            true
        }
        None => false,
    }
}

/// Encodes one UPDATE into `buf` (header included); returns the length.
#[inline]
pub(crate) fn encode(
    update: &BgpUpdateMessage,
    params: &BgpSessionParams,
    buf: &mut [u8],
) -> Option<usize> {
    let body_len = update.encode_to(params, buf.get_mut(19..)?).ok()?;
    params
        .prepare_message_buf(buf, BgpMessageType::Update, body_len)
        .ok()
}

fn ip(addr: &IpAddr, tally: &mut Tally) {
    match addr {
        IpAddr::V4(a) => tally.fold(u32::from(*a).into()),
        IpAddr::V6(a) => tally.fold(u128::from(*a) as u64),
    }
}

fn addrs(list: &BgpAddrs, tally: &mut Tally) {
    match list {
        BgpAddrs::None => {}
        BgpAddrs::IPV4U(v) | BgpAddrs::IPV4M(v) => {
            v.iter()
                .for_each(|p| tally.prefix_v4(u32::from(p.addr), p.prefixlen));
        }
        BgpAddrs::IPV6U(v) | BgpAddrs::IPV6M(v) => {
            v.iter()
                .for_each(|p| tally.prefix_v6(u128::from(p.addr), p.prefixlen));
        }
        BgpAddrs::IPV4UP(v) | BgpAddrs::IPV4MP(v) => {
            for p in v {
                tally.prefix_v4(u32::from(p.nlri.addr), p.nlri.prefixlen);
                tally.path_id(p.pathid);
            }
        }
        BgpAddrs::IPV6UP(v) | BgpAddrs::IPV6MP(v) => {
            for p in v {
                tally.prefix_v6(u128::from(p.nlri.addr), p.nlri.prefixlen);
                tally.path_id(p.pathid);
            }
        }
        // VPN, labeled, flowspec, EVPN, ...: absent from the corpus.
        _ => tally.fold(0),
    }
}

/// Walks every field of a decoded UPDATE. zettabgp has no type code on its attribute
/// values; it is recovered from the variant (the tally counts attributes by code).
pub(crate) fn walk(update: &BgpUpdateMessage, tally: &mut Tally) {
    tally.message();
    addrs(&update.withdraws, tally);
    for attr in &update.attrs {
        match attr {
            BgpAttrItem::Origin(o) => {
                tally.attribute(1);
                tally.fold(o.value as u64);
            }
            BgpAttrItem::ASPath(path) => {
                tally.attribute(2);
                for item in &path.value {
                    match item {
                        BgpASitem::Seq(seq) => {
                            tally.fold(2);
                            seq.value.iter().for_each(|a| tally.asn(a.value));
                        }
                        BgpASitem::Set(set) => {
                            tally.fold(1);
                            set.value.iter().for_each(|a| tally.asn(a.value));
                        }
                    }
                }
            }
            BgpAttrItem::NextHop(nh) => {
                tally.attribute(3);
                ip(&nh.value, tally);
            }
            BgpAttrItem::MED(m) => {
                tally.attribute(4);
                tally.fold(m.value.into());
            }
            BgpAttrItem::LocalPref(l) => {
                tally.attribute(5);
                tally.fold(l.value.into());
            }
            BgpAttrItem::AtomicAggregate(_) => tally.attribute(6),
            BgpAttrItem::AggregatorAS(a) => {
                tally.attribute(7);
                tally.fold(a.asn.into());
                tally.fold(u32::from(a.addr).into());
            }
            BgpAttrItem::CommunityList(list) => {
                tally.attribute(8);
                list.value.iter().for_each(|c| tally.community(c.value));
            }
            BgpAttrItem::OriginatorID(o) => {
                tally.attribute(9);
                ip(&o.value, tally);
            }
            BgpAttrItem::ClusterList(l) => {
                tally.attribute(10);
                l.value.iter().for_each(|a| ip(a, tally));
            }
            BgpAttrItem::MPUpdates(u) => {
                tally.attribute(14);
                match &u.nexthop {
                    BgpAddr::V4(a) => tally.fold(u32::from(*a).into()),
                    BgpAddr::V6(a) => tally.fold(u128::from(*a) as u64),
                    _ => tally.fold(0),
                }
                addrs(&u.addrs, tally);
            }
            BgpAttrItem::MPWithdraws(w) => {
                tally.attribute(15);
                addrs(&w.addrs, tally);
            }
            BgpAttrItem::ExtCommunityList(list) => {
                tally.attribute(16);
                for c in &list.value {
                    tally.ext_community(
                        u64::from(c.ctype) << 56
                            | u64::from(c.subtype) << 48
                            | u64::from(c.a) << 32
                            | u64::from(c.b),
                    );
                }
            }
            BgpAttrItem::LargeCommunityList(list) => {
                tally.attribute(32);
                list.value
                    .iter()
                    .for_each(|c| tally.large_community(c.ga, c.ldp1, c.ldp2));
            }
            BgpAttrItem::OTC(o) => {
                tally.attribute(35);
                tally.fold(o.value.into());
            }
            BgpAttrItem::Unknown(u) => {
                tally.attribute(u.params.typecode);
                tally.fold_bytes(&u.value);
            }
            // PMSI tunnel, ATTR_SET, connector: absent from the corpus.
            BgpAttrItem::PMSITunnel(_) => tally.attribute(22),
            BgpAttrItem::AttrSet(_) => tally.attribute(128),
            BgpAttrItem::Connector(_) => tally.attribute(20),
        }
    }
    addrs(&update.updates, tally);
}
