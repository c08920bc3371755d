//! The `serve` configuration file (TOML), and errors that name the file, line and field.
//!
//! ```toml
//! # (fabric-sim/examples/serve.toml is a complete example, parsed by a unit test)
//! status = "127.0.0.1:9179"          # optional: the HTTP status endpoint
//!
//! [[instance]]
//! name = "rs1"                       # optional; "rs1", "rs2", ... by position
//! listen = "127.9.0.1:1790"          # where peers connect; outbound connections bind its address
//! next_hop = "198.51.100.1"          # the next hop advertised (next-hop-self); default: listen address
//! router_id = "127.9.0.1"            # default: the listen address, else next_hop
//! local_asn = 65515                  # default 65515, Azure's
//! hold_time = 180                    # seconds, default 180
//! max_routes_per_peer = 4000         # default 4000; 0 lifts the limit
//! vnet_prefixes = ["10.1.0.0/16"]
//! branch_to_branch = false           # allowBranchToBranchTraffic
//! hub_routing_preference = "expressroute"  # or "vpngateway", "aspath"
//! four_octet_asn = false             # beyond Azure: offer 4-octet ASNs (RFC 6793)
//! ipv6_unicast = false               # beyond Azure: carry IPv6 unicast; needs next_hop_ipv6
//! next_hop_ipv6 = "2001:db8::1"      # the IPv6 next hop advertised
//! graceful_restart_helper = false    # beyond Azure: keep a restarting peer's routes (RFC 4724)
//!
//! [[instance.peer]]
//! address = "127.9.0.11"
//! asn = 65001
//! kind = "nva"                       # nva (default), expressroute or vpn
//! passive = true                     # default true: wait for the peer; false: also dial it
//! port = 1790                        # the peer's port when dialling it (default 179)
//! md5_password = "secret"            # TCP-MD5 (RFC 2385), at most 80 bytes
//! ttl_security = true                # GTSM (RFC 5082): send TTL 255, accept only 255
//! max_routes = 100                   # this peer's route limit
//! connect_retry = 120                # seconds between our connection attempts (default 120)
//! idle_hold = 5                      # seconds idle after a failure before dialling again
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use route_server::{Config, ConfigError, HubRoutingPreference, PeerConfig, PeerKind, BGP_PORT};
use serde::Deserialize;
use toml::Spanned;

/// The longest TCP-MD5 key Linux accepts (`TCP_MD5SIG_MAXKEYLEN`).
pub const MD5_MAX_KEY_LEN: usize = 80;

/// A whole `serve` configuration, checked.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Where the HTTP status endpoint listens, if anywhere.
    pub status: Option<SocketAddr>,
    /// The route-server instances (one or two in Azure).
    pub instances: Vec<InstanceConfig>,
}

/// One route-server instance: its sockets and its [`route_server::Config`].
#[derive(Clone, Debug)]
pub struct InstanceConfig {
    /// Its name in printed lines and the status endpoint.
    pub name: String,
    /// The address and port it listens on; outbound connections bind this address.
    pub listen: SocketAddr,
    /// The route server's own configuration (peers included).
    pub server: Config,
    /// The socket-level settings of each peer, in the order of `server.peers`.
    pub peers: Vec<PeerSocket>,
}

/// What the driver needs to know about a peer's TCP connection.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PeerSocket {
    /// The peer's address.
    pub address: IpAddr,
    /// The port to dial when the route server connects out.
    pub port: u16,
    /// The TCP-MD5 key, if the session is signed.
    pub md5_password: Option<Vec<u8>>,
    /// Whether GTSM (RFC 5082) protects the session.
    pub ttl_security: bool,
}

/// A configuration file that cannot be used: where, which field, why.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ConfigFileError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when the problem has a place in the file.
    pub line: Option<usize>,
    /// 1-based column on that line.
    pub column: Option<usize>,
    /// The dotted path of the field (`instance[1].peer[2].asn`), when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigFileError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    status: Option<Spanned<String>>,
    #[serde(default, rename = "instance")]
    instances: Vec<Spanned<RawInstance>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstance {
    name: Option<Spanned<String>>,
    listen: Spanned<String>,
    next_hop: Option<Spanned<String>>,
    router_id: Option<Spanned<String>>,
    local_asn: Option<Spanned<u32>>,
    hold_time: Option<Spanned<u16>>,
    max_routes_per_peer: Option<Spanned<u32>>,
    #[serde(default)]
    vnet_prefixes: Vec<Spanned<String>>,
    #[serde(default)]
    four_octet_asn: bool,
    #[serde(default)]
    ipv6_unicast: bool,
    next_hop_ipv6: Option<Spanned<String>>,
    #[serde(default)]
    graceful_restart_helper: bool,
    #[serde(default)]
    branch_to_branch: bool,
    hub_routing_preference: Option<Spanned<String>>,
    #[serde(default, rename = "peer")]
    peers: Vec<Spanned<RawPeer>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeer {
    address: Spanned<String>,
    asn: Spanned<u32>,
    kind: Option<Spanned<String>>,
    passive: Option<bool>,
    port: Option<Spanned<u16>>,
    md5_password: Option<Spanned<String>>,
    #[serde(default)]
    ttl_security: bool,
    max_routes: Option<Spanned<u32>>,
    connect_retry: Option<Spanned<u64>>,
    idle_hold: Option<Spanned<u64>>,
}

/// Reads and checks the configuration file at `path`.
///
/// # Errors
///
/// The file cannot be read, is not valid TOML, or a field is missing, unknown or wrong:
/// the error names the file, the line and the field.
pub fn load(path: &Path) -> Result<ServeConfig, ConfigFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigFileError {
        file: path.to_owned(),
        line: None,
        column: None,
        field: None,
        message: format!("cannot read: {e}"),
    })?;
    parse(path, &text)
}

/// Parses and checks configuration `text`, read from `file` (named in errors).
///
/// # Errors
///
/// As [`load`].
pub fn parse(file: &Path, text: &str) -> Result<ServeConfig, ConfigFileError> {
    let at = Locator { file, text };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let message = e.message().to_owned();
        match e.span() {
            Some(span) => at.error(span, None, message),
            None => at.error_nowhere(message),
        }
    })?;
    let status = raw
        .status
        .as_ref()
        .map(|s| parse_value::<SocketAddr>(&at, s, "status", "an address:port"))
        .transpose()?;
    if raw.instances.is_empty() {
        return Err(at.error_nowhere(
            "no [[instance]]: configure at least one route-server instance".to_owned(),
        ));
    }
    let mut instances = Vec::new();
    for (i, inst) in raw.instances.iter().enumerate() {
        instances.push(instance(&at, i, inst)?);
    }
    for (i, a) in instances.iter().enumerate() {
        if let Some((j, _)) = instances[..i]
            .iter()
            .enumerate()
            .find(|(_, b)| b.listen == a.listen || b.name == a.name)
        {
            let span = raw.instances[i].get_ref().listen.span();
            return Err(at.error(
                span,
                Some(format!("instance[{i}]")),
                format!("same listen address or name as instance[{j}]"),
            ));
        }
    }
    Ok(ServeConfig { status, instances })
}

fn instance(
    at: &Locator<'_>,
    index: usize,
    raw: &Spanned<RawInstance>,
) -> Result<InstanceConfig, ConfigFileError> {
    let here = format!("instance[{index}]");
    let inst = raw.get_ref();
    let field = |name: &str| format!("{here}.{name}");
    let listen: SocketAddr = parse_value(at, &inst.listen, &field("listen"), "an address:port")?;
    let next_hop: Ipv4Addr = match &inst.next_hop {
        Some(v) => parse_value(at, v, &field("next_hop"), "an IPv4 address")?,
        None => match listen.ip() {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(_) => {
                return Err(at.error(
                    inst.listen.span(),
                    Some(field("next_hop")),
                    "missing: an IPv6 listen address needs an IPv4 next_hop".to_owned(),
                ))
            }
        },
    };
    let router_id: Ipv4Addr = match &inst.router_id {
        Some(v) => parse_value(at, v, &field("router_id"), "an IPv4 address")?,
        None => match listen.ip() {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(_) => next_hop,
        },
    };
    let mut vnet_prefixes = Vec::new();
    for (k, p) in inst.vnet_prefixes.iter().enumerate() {
        let net: IpNet = parse_value(at, p, &field(&format!("vnet_prefixes[{k}]")), "a prefix")?;
        if net.trunc() != net {
            return Err(at.error(
                p.span(),
                Some(field(&format!("vnet_prefixes[{k}]"))),
                format!("{net} has host bits set (did you mean {}?)", net.trunc()),
            ));
        }
        vnet_prefixes.push(net);
    }
    let mut server = Config::azure(next_hop, vnet_prefixes);
    server.router_id = router_id;
    server.extensions.four_octet_asn = inst.four_octet_asn;
    server.extensions.ipv6_unicast = inst.ipv6_unicast;
    server.extensions.graceful_restart_helper = inst.graceful_restart_helper;
    server.branch_to_branch = inst.branch_to_branch;
    if let Some(v) = &inst.next_hop_ipv6 {
        server.local_ipv6_address = Some(parse_value(
            at,
            v,
            &field("next_hop_ipv6"),
            "an IPv6 address",
        )?);
    }
    if inst.ipv6_unicast && server.local_ipv6_address.is_none() {
        return Err(at.error(
            inst.listen.span(),
            Some(field("next_hop_ipv6")),
            "missing: ipv6_unicast needs the IPv6 next hop to advertise".to_owned(),
        ));
    }
    if let Some(v) = &inst.hub_routing_preference {
        server.hub_routing_preference = match v.get_ref().as_str() {
            "expressroute" => HubRoutingPreference::ExpressRoute,
            "vpngateway" => HubRoutingPreference::VpnGateway,
            "aspath" => HubRoutingPreference::AsPath,
            other => {
                return Err(at.error(
                    v.span(),
                    Some(field("hub_routing_preference")),
                    format!("`{other}` is not one of expressroute, vpngateway, aspath"),
                ))
            }
        };
    }
    if let Some(asn) = &inst.local_asn {
        server.local_asn = *asn.get_ref();
    }
    if let Some(hold) = &inst.hold_time {
        server.hold_time_secs = *hold.get_ref();
    }
    if let Some(max) = &inst.max_routes_per_peer {
        server.limits.max_routes_per_peer = match *max.get_ref() {
            0 => None,
            n => Some(n),
        };
    }
    if router_id.is_unspecified() {
        let span = inst
            .router_id
            .as_ref()
            .map_or(inst.listen.span(), Spanned::span);
        return Err(at.error(
            span,
            Some(field("router_id")),
            "must not be 0.0.0.0".to_owned(),
        ));
    }
    let mut peers = Vec::new();
    for (k, raw_peer) in inst.peers.iter().enumerate() {
        let here = format!("{here}.peer[{k}]");
        let p = raw_peer.get_ref();
        let pf = |name: &str| format!("{here}.{name}");
        let address: IpAddr = parse_value(at, &p.address, &pf("address"), "an IP address")?;
        let kind = match &p.kind {
            None => PeerKind::Nva,
            Some(k) => match k.get_ref().as_str() {
                "nva" => PeerKind::Nva,
                "expressroute" => PeerKind::ExpressRoute,
                "vpn" => PeerKind::VpnGateway,
                other => {
                    return Err(at.error(
                        k.span(),
                        Some(pf("kind")),
                        format!("`{other}` is not one of nva, expressroute, vpn"),
                    ))
                }
            },
        };
        let mut peer = PeerConfig::nva(address, *p.asn.get_ref());
        peer.kind = kind;
        peer.passive = p.passive.unwrap_or(true);
        peer.max_routes = p.max_routes.as_ref().map(|m| *m.get_ref());
        peer.remote_port = p.port.as_ref().map_or(BGP_PORT, |v| *v.get_ref());
        // Outbound connections leave from the listen address, not from the advertised
        // next hop (which need not be an address of this host).
        peer.local_address = Some(listen.ip());
        for (value, field, slot) in [
            (
                &p.connect_retry,
                "connect_retry",
                &mut peer.connect_retry_time,
            ),
            (&p.idle_hold, "idle_hold", &mut peer.idle_hold_time),
        ] {
            if let Some(v) = value {
                if *v.get_ref() == 0 || *v.get_ref() > 3600 {
                    return Err(at.error(
                        v.span(),
                        Some(pf(field)),
                        format!("{} s: must be 1 to 3600 seconds", v.get_ref()),
                    ));
                }
                *slot = Duration::from_secs(*v.get_ref());
            }
        }
        let md5_password = match &p.md5_password {
            None => None,
            Some(pw) => {
                let key = pw.get_ref().as_bytes();
                if key.is_empty() || key.len() > MD5_MAX_KEY_LEN {
                    return Err(at.error(
                        pw.span(),
                        Some(pf("md5_password")),
                        format!(
                            "{} bytes long; TCP-MD5 keys have 1 to {MD5_MAX_KEY_LEN} bytes",
                            key.len()
                        ),
                    ));
                }
                Some(key.to_vec())
            }
        };
        if address.is_ipv4() != listen.is_ipv4() {
            return Err(at.error(
                p.address.span(),
                Some(pf("address")),
                format!("{address} is not of the family of listen address {listen}"),
            ));
        }
        peers.push(PeerSocket {
            address,
            port: p.port.as_ref().map_or(BGP_PORT, |v| *v.get_ref()),
            md5_password,
            ttl_security: p.ttl_security,
        });
        server.peers.push(peer);
    }
    if let Err(e) = server.validate() {
        return Err(route_server_error(at, &here, inst, &server, &e));
    }
    let name = inst
        .name
        .as_ref()
        .map_or_else(|| format!("rs{}", index + 1), |n| n.get_ref().clone());
    Ok(InstanceConfig {
        name,
        listen,
        server,
        peers,
    })
}

/// Places a [`ConfigError`] of the route server at the field it names.
fn route_server_error(
    at: &Locator<'_>,
    here: &str,
    inst: &RawInstance,
    server: &Config,
    error: &ConfigError,
) -> ConfigFileError {
    let peer_index = |address: IpAddr, last: bool| {
        let mut found = server
            .peers
            .iter()
            .enumerate()
            .filter(move |(_, p)| p.address == address)
            .map(|(k, _)| k);
        if last {
            found.next_back()
        } else {
            found.next()
        }
    };
    let peer_field = |address: IpAddr, name: &str, last: bool| {
        peer_index(address, last).map(|k| {
            let raw = inst.peers[k].get_ref();
            let span = match name {
                "asn" => raw.asn.span(),
                "port" => raw.port.as_ref().map_or(raw.address.span(), Spanned::span),
                _ => raw.address.span(),
            };
            (span, format!("{here}.peer[{k}].{name}"))
        })
    };
    let place = match error {
        ConfigError::ReservedAsn { peer, .. }
        | ConfigError::FourOctetAsn { peer, .. }
        | ConfigError::PeerAsnZero { peer } => peer_field(*peer, "asn", false),
        ConfigError::PeerField {
            peer,
            field: "remote_port",
            ..
        } => peer_field(*peer, "port", false),
        ConfigError::PeerField { peer, .. } => peer_field(*peer, "address", false),
        ConfigError::DuplicatePeer { peer } => peer_field(*peer, "address", true),
        ConfigError::PeerIsSelf { peer }
        | ConfigError::Ipv6PeerAddress { peer }
        | ConfigError::RouteMap { peer, .. }
        | ConfigError::Session { peer, .. } => peer_field(*peer, "address", false),
        ConfigError::TooManyPeers {
            first_refused: Some(peer),
            ..
        } => peer_field(*peer, "address", false),
        ConfigError::LocalAsn { .. } => inst
            .local_asn
            .as_ref()
            .map(|v| (v.span(), format!("{here}.local_asn"))),
        ConfigError::HoldTime { .. } => inst
            .hold_time
            .as_ref()
            .map(|v| (v.span(), format!("{here}.hold_time"))),
        _ => None,
    };
    let (span, field) = place.unwrap_or_else(|| (inst.listen.span(), here.to_owned()));
    at.error(span, Some(field), error.to_string())
}

fn parse_value<T: std::str::FromStr>(
    at: &Locator<'_>,
    value: &Spanned<String>,
    field: &str,
    what: &str,
) -> Result<T, ConfigFileError>
where
    T::Err: fmt::Display,
{
    value.get_ref().parse().map_err(|e| {
        at.error(
            value.span(),
            Some(field.to_owned()),
            format!("`{}` is not {what}: {e}", value.get_ref()),
        )
    })
}

/// Turns byte offsets in the file into lines, columns and field names.
struct Locator<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    fn error(&self, span: Range<usize>, field: Option<String>, message: String) -> ConfigFileError {
        let start = span.start.min(self.text.len());
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        ConfigFileError {
            file: self.file.to_owned(),
            line: Some(line),
            column: Some(column),
            field: field.or_else(|| self.field_at(start)),
            message,
        }
    }

    fn error_nowhere(&self, message: String) -> ConfigFileError {
        ConfigFileError {
            file: self.file.to_owned(),
            line: None,
            column: None,
            field: None,
            message,
        }
    }

    /// The dotted name of the key written on the line holding `offset`, under the last
    /// table header before it (`instance.peer.asn`): for errors TOML's parser places
    /// without naming the field.
    fn field_at(&self, offset: usize) -> Option<String> {
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        let line = self.text[line_start..line_end].trim();
        let header = before[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
        let key = line
            .split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"').to_owned())
            .filter(|k| !k.is_empty() && !k.starts_with('['));
        match (header, key) {
            (Some(h), Some(k)) => Some(format!("{h}.{k}")),
            (None, Some(k)) => Some(k),
            (Some(h), None) => Some(h),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
status = "127.0.0.1:9179"

[[instance]]
listen = "127.9.0.1:1790"
next_hop = "198.51.100.1"
vnet_prefixes = ["10.1.0.0/16"]

[[instance.peer]]
address = "127.9.0.11"
asn = 65001
port = 1790
md5_password = "s3cret"
ttl_security = true

[[instance.peer]]
address = "127.9.0.14"
asn = 65004
passive = false
"#;

    fn parse_str(text: &str) -> Result<ServeConfig, ConfigFileError> {
        parse(Path::new("serve.toml"), text)
    }

    #[test]
    fn parse_good_file() {
        let c = parse_str(GOOD).expect("valid");
        assert_eq!(c.status, Some("127.0.0.1:9179".parse().unwrap()));
        let i = &c.instances[0];
        assert_eq!(i.name, "rs1");
        assert_eq!(i.listen, "127.9.0.1:1790".parse().unwrap());
        assert_eq!(i.server.local_address, Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(i.server.router_id, Ipv4Addr::new(127, 9, 0, 1));
        assert_eq!(i.server.local_asn, 65515);
        assert_eq!(i.server.peers.len(), 2);
        assert!(i.server.peers[0].passive);
        assert!(!i.server.peers[1].passive);
        assert_eq!(i.peers[0].port, 1790);
        assert_eq!(i.peers[0].md5_password.as_deref(), Some(&b"s3cret"[..]));
        assert!(i.peers[0].ttl_security);
        assert_eq!(i.peers[1].port, BGP_PORT);
        assert_eq!(i.peers[1].md5_password, None);
    }

    fn error_of(text: &str) -> ConfigFileError {
        parse_str(text).expect_err("must be refused")
    }

    #[test]
    fn bad_address_names_line_and_field() {
        let e = error_of(&GOOD.replace("\"127.9.0.11\"", "\"127.9.0.300\""));
        assert_eq!(e.line, Some(10), "{e}");
        assert_eq!(e.field.as_deref(), Some("instance[0].peer[0].address"));
        assert!(e.to_string().starts_with("serve.toml:10:11: field `instance[0].peer[0].address`: `127.9.0.300` is not an IP address"), "{e}");
    }

    #[test]
    fn wrong_type_names_line_and_field() {
        let e = error_of(&GOOD.replace("asn = 65004", "asn = \"65004\""));
        assert_eq!(e.line, Some(18), "{e}");
        assert_eq!(e.field.as_deref(), Some("instance.peer.asn"), "{e}");
    }

    #[test]
    fn unknown_field_is_refused_with_its_line() {
        let e = error_of(&GOOD.replace("ttl_security = true", "ttl_securty = true"));
        assert_eq!(e.line, Some(14), "{e}");
        assert!(e.message.contains("ttl_securty"), "{e}");
    }

    #[test]
    fn reserved_asn_is_placed_at_the_asn() {
        // 65515 is Azure's own ASN: refused for an NVA (spec 1.2).
        let e = error_of(&GOOD.replace("asn = 65004", "asn = 65515"));
        assert_eq!(e.line, Some(18), "{e}");
        assert_eq!(e.field.as_deref(), Some("instance[0].peer[1].asn"));
        assert!(e.message.contains("reserved by Azure"), "{e}");
    }

    #[test]
    fn duplicate_peer_is_placed_at_the_second_one() {
        let e = error_of(&GOOD.replace("127.9.0.14", "127.9.0.11"));
        assert_eq!(e.line, Some(17), "{e}");
        assert_eq!(e.field.as_deref(), Some("instance[0].peer[1].address"));
    }

    #[test]
    fn md5_key_longer_than_80_bytes_is_refused() {
        let long = "k".repeat(81);
        let e = error_of(&GOOD.replace("s3cret", &long));
        assert_eq!(e.field.as_deref(), Some("instance[0].peer[0].md5_password"));
        assert_eq!(e.line, Some(13));
    }

    #[test]
    fn bad_kind_and_host_bits() {
        let e = error_of(&GOOD.replace("passive = false", "kind = \"router\""));
        assert_eq!(e.field.as_deref(), Some("instance[0].peer[1].kind"));
        let e = error_of(&GOOD.replace("10.1.0.0/16", "10.1.2.0/16"));
        assert_eq!(e.field.as_deref(), Some("instance[0].vnet_prefixes[0]"));
        assert_eq!(e.line, Some(7));
    }

    #[test]
    fn toml_syntax_error_has_a_line() {
        let e = error_of(&GOOD.replace("asn = 65001", "asn = = 65001"));
        assert_eq!(e.line, Some(11), "{e}");
    }

    #[test]
    fn options_beyond_azure_and_azure_switches() {
        let text = GOOD.replace(
            "vnet_prefixes = [\"10.1.0.0/16\"]\n",
            "vnet_prefixes = [\"10.1.0.0/16\"]\nbranch_to_branch = true\nhub_routing_preference = \"aspath\"\nipv6_unicast = true\nnext_hop_ipv6 = \"2001:db8::1\"\ngraceful_restart_helper = true\n",
        );
        let c = parse_str(&text).expect("valid");
        let s = &c.instances[0].server;
        assert!(s.branch_to_branch);
        assert_eq!(s.hub_routing_preference, HubRoutingPreference::AsPath);
        assert!(s.extensions.ipv6_unicast && s.extensions.graceful_restart_helper);
        assert_eq!(s.local_ipv6_address, Some("2001:db8::1".parse().unwrap()));
        let e = error_of(&text.replace("next_hop_ipv6 = \"2001:db8::1\"\n", ""));
        assert_eq!(e.field.as_deref(), Some("instance[0].next_hop_ipv6"));
        let e = error_of(&text.replace("\"aspath\"", "\"shortest\""));
        assert_eq!(
            e.field.as_deref(),
            Some("instance[0].hub_routing_preference")
        );
        assert_eq!(e.line, Some(9));
    }

    #[test]
    fn the_example_file_parses() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/serve.toml"));
        let c = load(path).expect("examples/serve.toml is valid");
        assert_eq!(c.instances.len(), 2);
        assert_eq!(c.instances[0].peers.len(), 3);
        assert!(c.instances[0].peers[1].ttl_security);
        assert!(!c.instances[0].server.peers[2].passive);
    }

    #[test]
    fn missing_instance_is_refused() {
        let e = error_of("status = \"127.0.0.1:1\"\n");
        assert!(e.message.contains("[[instance]]"), "{e}");
    }
}
