//! Table-driven policy cases: each file in `tests/data/` is a list of cases for one
//! policy function; every case is checked and a failure names the case.

use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::{AsPath, AsPathSegment, Community, Origin, SegmentType};
use ipnet::IpNet;
use route_server::policy::{self, Candidate, ExportSource, PeerId, Previous};
use route_server::{
    Config, ConfigError, HubRoutingPreference, LimitCounting, MatchCondition, PeerConfig, PeerKind,
    PeeredVnet, RouteAttrs, RouteMap, RouteMapAction, RouteMapRule,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct File<T> {
    case: Vec<T>,
}

fn load<T: serde::de::DeserializeOwned>(name: &str) -> Vec<T> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let file: File<T> = toml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(!file.case.is_empty(), "{path} has no cases");
    file.case
}

fn server_config() -> Config {
    Config::azure(
        Ipv4Addr::new(10, 1, 1, 4),
        vec!["10.1.0.0/16".parse().unwrap()],
    )
}

fn kind(name: Option<&str>) -> PeerKind {
    match name.unwrap_or("Nva") {
        "Nva" => PeerKind::Nva,
        "ExpressRoute" => PeerKind::ExpressRoute,
        "VpnGateway" => PeerKind::VpnGateway,
        other => panic!("unknown kind {other}"),
    }
}

fn path(seq: &[u32], set: Option<&Vec<u32>>) -> AsPath {
    let mut p = AsPath::from_sequence(seq.iter().copied());
    if let Some(set) = set {
        p.segments.push(AsPathSegment {
            kind: SegmentType::AsSet,
            asns: set.iter().copied().collect(),
        });
    }
    p
}

fn community(text: &str) -> Community {
    let (a, v) = text.split_once(':').expect("asn:value");
    Community::new(a.parse().unwrap(), v.parse().unwrap())
}

// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct PeerCase {
    name: String,
    asn: u32,
    kind: Option<String>,
    #[serde(default)]
    four_octet_asn: bool,
    #[serde(default)]
    allow_reserved_asns: bool,
    nva_count: Option<u32>,
    #[serde(default)]
    gateway_count: u32,
    #[serde(default)]
    duplicate: bool,
    expect: String,
}

#[test]
fn peer_validation_table() {
    for case in load::<PeerCase>("peers.toml") {
        let mut config = server_config();
        config.extensions.four_octet_asn = case.four_octet_asn;
        config.extensions.allow_reserved_asns = case.allow_reserved_asns;
        let mut peer = PeerConfig::nva(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 4)), case.asn);
        peer.kind = kind(case.kind.as_deref());
        config.peers.push(peer.clone());
        for i in 1..case.nva_count.unwrap_or(1) {
            config.peers.push(PeerConfig::nva(
                IpAddr::V4(Ipv4Addr::new(10, 1, 2, 10 + i as u8)),
                65001,
            ));
        }
        for i in 0..case.gateway_count {
            config.peers.push(PeerConfig::gateway(
                IpAddr::V4(Ipv4Addr::new(10, 1, 0, 4 + i as u8)),
                PeerKind::VpnGateway,
            ));
        }
        if case.duplicate {
            config.peers.push(peer);
        }
        let got = match config.validate() {
            Ok(()) => "ok".to_string(),
            Err(e) => {
                // Every error names the field concerned.
                let text = e.to_string();
                assert!(
                    text.contains("asn") || text.contains("address") || text.contains("peers"),
                    "{text}"
                );
                match e {
                    ConfigError::TooManyPeers { .. } => "TooManyPeers",
                    ConfigError::DuplicatePeer { .. } => "DuplicatePeer",
                    ConfigError::ReservedAsn { .. } => "ReservedAsn",
                    ConfigError::FourOctetAsn { .. } => "FourOctetAsn",
                    ConfigError::PeerAsnZero { .. } => "PeerAsnZero",
                    other => panic!("{}: unexpected {other:?}", case.name),
                }
                .to_string()
            }
        };
        assert_eq!(got, case.expect, "case {:?}", case.name);
    }
}

// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct ImportCase {
    name: String,
    prefix: IpNet,
    as_path: Vec<u32>,
    as_set: Option<Vec<u32>>,
    local_asn: Option<u32>,
    #[serde(default)]
    ipv6: bool,
    inbound_drop_contains: Option<Vec<IpNet>>,
    expect: String,
}

#[test]
fn import_table() {
    for case in load::<ImportCase>("import.toml") {
        let mut config = server_config();
        if let Some(asn) = case.local_asn {
            config.local_asn = asn;
        }
        config.extensions.ipv6_unicast = case.ipv6;
        let mut peer = PeerConfig::nva(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 4)), 65001);
        if let Some(list) = case.inbound_drop_contains {
            peer.inbound_map = Some(RouteMap {
                rules: vec![RouteMapRule {
                    conditions: vec![MatchCondition::PrefixContains(list)],
                    action: RouteMapAction::Drop,
                    next_step: route_server::NextStep::Terminate,
                }],
            });
        }
        let next_hop: IpAddr = if case.prefix.addr().is_ipv6() {
            "2001:db8::4".parse().unwrap()
        } else {
            peer.address
        };
        let attrs = RouteAttrs::new(
            Origin::Igp,
            path(&case.as_path, case.as_set.as_ref()),
            next_hop,
        );
        let got = match policy::import(&config, &peer, case.prefix, &attrs) {
            Ok((prefix, learned)) => {
                assert_eq!(prefix, case.prefix, "{}", case.name);
                assert_eq!(learned, attrs, "{}", case.name);
                "accept".to_string()
            }
            Err(policy::RejectReason::RouteMap(_)) => "reject:RouteMap".to_string(),
            Err(reason) => format!("reject:{reason:?}"),
        };
        assert_eq!(got, case.expect, "case {:?}", case.name);
    }
}

// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct ProgramCase {
    name: String,
    prefix: IpNet,
    vnet: Option<Vec<IpNet>>,
    #[serde(default)]
    peered: Vec<IpNet>,
    #[serde(default)]
    peered_without_route_server: Vec<IpNet>,
    expect: bool,
}

#[test]
fn program_table() {
    for case in load::<ProgramCase>("program.toml") {
        let mut config = server_config();
        if let Some(vnet) = case.vnet {
            config.vnet_prefixes = vnet;
        }
        config.peered_vnets.push(PeeredVnet {
            prefixes: case.peered,
            uses_remote_route_server: true,
        });
        config.peered_vnets.push(PeeredVnet {
            prefixes: case.peered_without_route_server,
            uses_remote_route_server: false,
        });
        assert_eq!(
            policy::is_programmable(&config, case.prefix),
            case.expect,
            "case {:?}",
            case.name
        );
    }
}

// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct LimitCase {
    name: String,
    counting: Option<String>,
    limit: Option<i64>,
    held: usize,
    announced: usize,
    unique_after: usize,
    expect: bool,
}

#[test]
fn limit_table() {
    for case in load::<LimitCase>("limit.toml") {
        let counting = match case.counting.as_deref() {
            None | Some("HeldPlusBatch") => LimitCounting::HeldPlusBatch,
            Some("HeldPlusMessage") => LimitCounting::HeldPlusMessage,
            Some("UniquePrefixes") => LimitCounting::UniquePrefixes,
            Some(other) => panic!("unknown counting {other}"),
        };
        let limit = match case.limit {
            None => Some(route_server::AZURE_MAX_ROUTES_PER_PEER),
            Some(n) if n < 0 => None,
            Some(n) => Some(n as u32),
        };
        let got = policy::exceeds_route_limit(
            counting,
            limit,
            case.held,
            case.announced,
            case.unique_after,
        );
        assert_eq!(got, case.expect, "case {:?}", case.name);
    }
}

// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct CandidateRow {
    peer: u32,
    kind: String,
    path: Vec<u32>,
    as_set: Option<Vec<u32>>,
    next_hop: IpAddr,
}

#[derive(Deserialize)]
struct SelectCase {
    name: String,
    preference: Option<String>,
    #[serde(default)]
    previous_kinds: Vec<String>,
    #[serde(default)]
    failed_over_to: Vec<u32>,
    #[serde(default)]
    revertive: bool,
    candidates: Vec<CandidateRow>,
    expect_best: Vec<u32>,
    expect_failed_over: Option<bool>,
    expect_next_hops: Vec<IpAddr>,
}

fn preference(name: Option<&str>) -> HubRoutingPreference {
    match name.unwrap_or("ExpressRoute") {
        "ExpressRoute" => HubRoutingPreference::ExpressRoute,
        "VpnGateway" => HubRoutingPreference::VpnGateway,
        "AsPath" => HubRoutingPreference::AsPath,
        other => panic!("unknown preference {other}"),
    }
}

#[test]
fn select_table() {
    for case in load::<SelectCase>("select.toml") {
        let attrs: Vec<RouteAttrs> = case
            .candidates
            .iter()
            .map(|c| RouteAttrs::new(Origin::Igp, path(&c.path, c.as_set.as_ref()), c.next_hop))
            .collect();
        let candidates: Vec<Candidate<'_>> = case
            .candidates
            .iter()
            .zip(&attrs)
            .map(|(c, attrs)| Candidate {
                peer: PeerId(c.peer),
                kind: kind(Some(&c.kind)),
                attrs,
            })
            .collect();
        let failed_over_to: Vec<PeerId> = case.failed_over_to.iter().map(|p| PeerId(*p)).collect();
        let previous = Previous {
            kinds: case.previous_kinds.iter().map(|k| kind(Some(k))).collect(),
            failed_over_to: &failed_over_to,
        };
        let selection = policy::select(
            preference(case.preference.as_deref()),
            case.revertive,
            previous,
            &candidates,
        );
        let best: Vec<u32> = selection
            .best
            .iter()
            .map(|&i| candidates[i].peer.0)
            .collect();
        assert_eq!(best, case.expect_best, "case {:?}", case.name);
        if let Some(expected) = case.expect_failed_over {
            assert_eq!(selection.failed_over, expected, "case {:?}", case.name);
        }
        let hops = policy::ecmp_next_hops(&candidates, &selection, route_server::AZURE_ECMP_WIDTH);
        assert_eq!(
            hops.as_slice(),
            case.expect_next_hops.as_slice(),
            "case {:?}",
            case.name
        );
    }
}

// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct ExportCase {
    name: String,
    prefix: IpNet,
    source: Option<String>,
    #[serde(default)]
    path: Vec<u32>,
    next_hop: Option<IpAddr>,
    med: Option<u32>,
    #[serde(default)]
    communities: Vec<String>,
    from: Option<u32>,
    from_kind: Option<String>,
    to_kind: Option<String>,
    to_asn: Option<u32>,
    #[serde(default)]
    b2b: bool,
    #[serde(default)]
    transparent: bool,
    local_asn: Option<u32>,
    outbound_prepend: Option<Vec<u32>>,
    expect: String,
    expect_path: Option<Vec<u32>>,
    expect_next_hop: Option<IpAddr>,
    expect_origin: Option<String>,
    expect_med: Option<i64>,
    expect_local_pref: Option<u32>,
    expect_communities: Option<Vec<String>>,
}

#[test]
fn export_table() {
    for case in load::<ExportCase>("export.toml") {
        let mut config = server_config();
        config.branch_to_branch = case.b2b;
        config.extensions.transparent = case.transparent;
        if let Some(asn) = case.local_asn {
            config.local_asn = asn;
        }
        let mut to = PeerConfig::nva(
            IpAddr::V4(Ipv4Addr::new(10, 1, 2, 9)),
            case.to_asn.unwrap_or(65009),
        );
        to.kind = kind(case.to_kind.as_deref());
        if let Some(asns) = case.outbound_prepend {
            to.outbound_map = Some(RouteMap {
                rules: vec![RouteMapRule {
                    conditions: vec![],
                    action: RouteMapAction::Modify(vec![route_server::Modification::AsPathAdd(
                        asns,
                    )]),
                    next_step: route_server::NextStep::Terminate,
                }],
            });
        }
        let mut attrs = RouteAttrs::new(
            Origin::Igp,
            path(&case.path, None),
            case.next_hop
                .unwrap_or(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 4))),
        );
        attrs.med = case.med;
        attrs.communities = case.communities.iter().map(|c| community(c)).collect();
        let source = match case.source.as_deref() {
            Some("vnet") => ExportSource::Vnet,
            None => ExportSource::Learned(Candidate {
                peer: PeerId(case.from.unwrap_or(1)),
                kind: kind(case.from_kind.as_deref()),
                attrs: &attrs,
            }),
            Some(other) => panic!("unknown source {other}"),
        };
        match policy::export(&config, case.prefix, source, PeerId(9), &to) {
            Ok((prefix, out)) => {
                assert_eq!(case.expect, "send", "case {:?}: sent {out:?}", case.name);
                assert_eq!(prefix, case.prefix, "{}", case.name);
                if let Some(p) = &case.expect_path {
                    assert_eq!(
                        out.as_path,
                        AsPath::from_sequence(p.iter().copied()),
                        "case {:?}",
                        case.name
                    );
                }
                if let Some(nh) = case.expect_next_hop {
                    assert_eq!(out.next_hop, nh, "case {:?}", case.name);
                }
                if let Some(origin) = &case.expect_origin {
                    assert_eq!(format!("{:?}", out.origin), *origin, "case {:?}", case.name);
                }
                if let Some(med) = case.expect_med {
                    let want = if med < 0 { None } else { Some(med as u32) };
                    assert_eq!(out.med, want, "case {:?}", case.name);
                }
                if let Some(lp) = case.expect_local_pref {
                    assert_eq!(out.local_pref, Some(lp), "case {:?}", case.name);
                }
                if let Some(list) = &case.expect_communities {
                    let want: Vec<Community> = list.iter().map(|c| community(c)).collect();
                    assert_eq!(out.communities, want, "case {:?}", case.name);
                }
            }
            Err(reason) => assert_eq!(
                format!("skip:{reason:?}"),
                case.expect,
                "case {:?}",
                case.name
            ),
        }
    }
}
