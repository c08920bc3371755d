//! The semantic oracle: RIPE's bgpdump `-m` output for its own test files, and our
//! decodes rendered to the same fields.

use std::path::Path;

use super::{load, name_of};

/// bgpdump's rendering of an AS path: sequences space-separated, `{a,b}` sets, `(a b)`
/// confederation sequences, `[a,b]` confederation sets.
fn as_path(path: &bgp_wire::AsPath) -> String {
    use bgp_wire::SegmentType;
    let join = |asns: &[u32], sep: &str| {
        asns.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(sep)
    };
    path.segments
        .iter()
        .map(|s| match s.kind {
            SegmentType::AsSequence => join(&s.asns, " "),
            SegmentType::AsSet => format!("{{{}}}", join(&s.asns, ",")),
            SegmentType::ConfedSequence => format!("({})", join(&s.asns, " ")),
            SegmentType::ConfedSet => format!("[{}]", join(&s.asns, ",")),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn origin_name(origin: Option<bgp_wire::Origin>) -> &'static str {
    match origin {
        Some(bgp_wire::Origin::Igp) => "IGP",
        Some(bgp_wire::Origin::Egp) => "EGP",
        // bgpdump prints INCOMPLETE when ORIGIN is missing.
        Some(bgp_wire::Origin::Incomplete) | None => "INCOMPLETE",
    }
}

fn communities(communities: &[bgp_wire::Community]) -> String {
    communities
        .iter()
        .map(|c| match c.0 {
            0xFFFF_FF01 => "no-export".to_string(),
            0xFFFF_FF02 => "no-advertise".to_string(),
            0xFFFF_FF03 => "no-export-subconfed".to_string(),
            v => format!("{}:{}", v >> 16, v & 0xffff),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One line per prefix, in the fields both bgpdump -m and we can render:
/// `A|ts|peer|peer AS|prefix|AS path|origin|next hop|local pref|MED|communities|atomic|aggregator`, `W|ts|peer|peer AS|prefix`,
/// `B|peer|peer AS|prefix[|path id]|AS path|origin|communities`.
pub fn our_lines(bytes: &[u8]) -> Vec<String> {
    use bgp_wire::mrt::{MrtBody, MrtReader, RibAttributes};
    use bgp_wire::{AttrValue, Message};
    let rib_fields = |d: &RibAttributes| {
        let path = d.attributes.iter().find_map(|a| match &a.value {
            AttrValue::AsPath(p) => Some(as_path(p)),
            _ => None,
        });
        let origin = d.attributes.iter().find_map(|a| match &a.value {
            AttrValue::Origin(o) => Some(*o),
            _ => None,
        });
        let communities = d.attributes.iter().find_map(|a| match &a.value {
            AttrValue::Communities(c) => Some(communities(c)),
            _ => None,
        });
        format!(
            "{}|{}|{}",
            path.unwrap_or_default(),
            origin_name(origin),
            communities.unwrap_or_default()
        )
    };
    let mut lines = Vec::new();
    let mut peers = Vec::new();
    for (_, record) in MrtReader::new(bytes).flatten() {
        match &record.body {
            MrtBody::Message(m) => {
                let Ok(Message::Update(u)) = m.parse_message() else {
                    continue;
                };
                let (ts, peer, asn) = (record.timestamp, m.addresses.peer(), m.peer_as);
                for (_, n) in u.withdrawn_routes() {
                    lines.push(format!("W|{ts}|{peer}|{asn}|{}", n.prefix));
                }
                let params = m.session_params();
                let path = as_path(&u.effective_as_path(&params));
                let origin = origin_name(u.origin());
                let communities = communities(u.communities());
                let local_pref = u.local_pref().unwrap_or(0);
                let med = u.multi_exit_disc().unwrap_or(0);
                let atomic = if u.atomic_aggregate() { "AG" } else { "NAG" };
                let aggregator = u
                    .effective_aggregator(&params)
                    .map_or_else(String::new, |a| format!("{} {}", a.asn, a.address));
                let mp_next_hop = u.mp_reach().map(|r| match &r.next_hop {
                    bgp_wire::MpNextHop::Ipv4(a) => a.to_string(),
                    bgp_wire::MpNextHop::Ipv6 { global, .. } => global.to_string(),
                    bgp_wire::MpNextHop::Opaque(_) => "?".to_string(),
                });
                for (family, n) in u.announced() {
                    let next_hop = if family == bgp_wire::Family::IPV4_UNICAST && u.nlri.contains(n)
                    {
                        u.next_hop().map_or_else(String::new, |a| a.to_string())
                    } else {
                        mp_next_hop.clone().unwrap_or_default()
                    };
                    lines.push(format!(
                        "A|{ts}|{peer}|{asn}|{}|{path}|{origin}|{next_hop}|{local_pref}|{med}|{communities}|{atomic}|{aggregator}",
                        n.prefix
                    ));
                }
            }
            MrtBody::PeerIndexTable(t) => peers.clone_from(&t.peers),
            MrtBody::Rib(rib) => {
                for e in &rib.entries {
                    let Some(peer) = peers.get(usize::from(e.peer_index)) else {
                        continue;
                    };
                    let Ok(d) = rib.decode_attributes(e) else {
                        continue;
                    };
                    let id = e.path_id.map_or_else(String::new, |id| format!("|{id}"));
                    let prefix = rib.prefix.trunc();
                    lines.push(format!(
                        "B|{}|{}|{prefix}{id}|{}",
                        peer.address,
                        peer.asn,
                        rib_fields(&d)
                    ));
                }
            }
            MrtBody::TableDump(t) => {
                let Ok(d) = t.decode_attributes() else {
                    continue;
                };
                lines.push(format!(
                    "B|{}|{}|{}|{}",
                    t.peer_ip,
                    t.peer_as,
                    t.prefix.trunc(),
                    rib_fields(&d)
                ));
            }
            _ => {}
        }
    }
    lines.sort();
    lines
}

/// An address as Rust renders it, or the text as it is when it is not one.
fn addr(text: &str) -> String {
    text.parse::<std::net::IpAddr>()
        .map_or_else(|_| text.to_string(), |a| a.to_string())
}

/// bgpdump -m lines reduced to the same fields.
pub fn bgpdump_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            match (f.first().copied(), f.get(2).copied()) {
                // Addresses re-rendered: glibc compresses a single zero group to `::`,
                // Rust (RFC 5952) does not.
                (_, Some("W")) => Some(format!("W|{}|{}|{}|{}", f[1], addr(f[3]), f[4], f[5])),
                (_, Some("A")) => Some(format!(
                    "A|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
                    f[1],
                    addr(f[3]),
                    f[4],
                    f[5],
                    f[6],
                    f[7],
                    addr(f[8]),
                    f[9],
                    f[10],
                    f[11],
                    f[12],
                    f[13]
                )),
                (Some("TABLE_DUMP2_AP"), Some("B")) => Some(format!(
                    "B|{}|{}|{}|{}|{}|{}|{}",
                    addr(f[3]),
                    f[4],
                    f[5],
                    f[6],
                    f[7],
                    f[8],
                    f[12]
                )),
                (_, Some("B")) => Some(format!(
                    "B|{}|{}|{}|{}|{}|{}",
                    addr(f[3]),
                    f[4],
                    f[5],
                    f[6],
                    f[7],
                    f[11]
                )),
                _ => None,
            }
        })
        .collect();
    lines.sort();
    lines
}

/// Compares our rendering of the MRT file `mrt` with bgpdump's `expected` output:
/// whether they agree, how many lines, and a one-line report with the first differences.
pub fn compare(expected: &Path, mrt: &Path) -> (bool, usize, String) {
    let (text, _) = load(expected);
    let theirs = bgpdump_lines(&String::from_utf8_lossy(&text));
    let (bytes, _) = load(mrt);
    let ours = our_lines(&bytes);
    let only_ours: Vec<_> = ours
        .iter()
        .filter(|l| theirs.binary_search(l).is_err())
        .take(5)
        .collect();
    let only_theirs: Vec<_> = theirs
        .iter()
        .filter(|l| ours.binary_search(l).is_err())
        .take(5)
        .collect();
    let report = format!(
        "{}: ours {} bgpdump {}; only ours {only_ours:?}; only bgpdump {only_theirs:?}\n",
        name_of(mrt),
        ours.len(),
        theirs.len()
    );
    (ours == theirs, ours.len(), report)
}
