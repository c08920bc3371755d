//! Scenario files (TOML): topology, timeline and expectations, validated in full before
//! anything runs. Every error names the file, the line and column, and the field.
//!
//! The format is documented by example in `fabric-sim/scenarios/README.md`.

use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};
use route_server::HubRoutingPreference;
use serde::Deserialize;
use toml::Spanned;

use crate::model::{
    Announcement, Circuit, LoadBalancer, Peering, RouteServerSpec, RouteTable, SpeakerKind,
    SpeakerSpec, Subnet, Topology, Tunnel, UserNextHop, UserRoute, Vm, Vnet,
};

/// A scenario: topology, timeline, expectations.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Its name (the file stem when the file gives none).
    pub name: String,
    /// What it shows.
    pub description: String,
    /// Choices made where the spec leaves one open, as written in the file.
    pub choices: Vec<String>,
    /// Seed of every random choice (connect-retry jitter).
    pub seed: u64,
    /// How long the replay runs.
    pub duration: Duration,
    /// The network at time zero.
    pub topology: Topology,
    /// Timed actions, sorted by time (file order for equal times).
    pub timeline: Vec<TimedAction>,
    /// Checks, sorted by time (file order for equal times).
    pub expectations: Vec<Expectation>,
}

/// An action at a time.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedAction {
    /// When, from the start.
    pub at: Duration,
    /// What.
    pub action: Action,
}

/// Something the timeline does to the network.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A speaker announces (or re-announces with new attributes) routes, to every
    /// instance or to one.
    Announce {
        /// The speaker.
        speaker: usize,
        /// One session only: `(route-server VNet, instance)`.
        instance: Option<(usize, usize)>,
        /// The routes.
        routes: Vec<Announcement>,
    },
    /// A speaker withdraws prefixes.
    Withdraw {
        /// The speaker.
        speaker: usize,
        /// One session only.
        instance: Option<(usize, usize)>,
        /// The prefixes.
        prefixes: Vec<IpNet>,
    },
    /// A speaker re-sends every route it announces (same attributes), in one burst.
    Resend {
        /// The speaker.
        speaker: usize,
    },
    /// A speaker re-announces its routes (all, or `prefixes`) with its ASN prepended.
    Prepend {
        /// The speaker.
        speaker: usize,
        /// Which prefixes (all when empty).
        prefixes: Vec<IpNet>,
        /// How many extra copies of its ASN.
        times: usize,
    },
    /// A speaker re-announces its routes (all, or `prefixes`) with these communities.
    SetCommunities {
        /// The speaker.
        speaker: usize,
        /// Which prefixes (all when empty).
        prefixes: Vec<IpNet>,
        /// The new communities.
        communities: Vec<(u16, u16)>,
    },
    /// A speaker stops sending anything (keepalives included); it still receives.
    StopKeepalives {
        /// The speaker.
        speaker: usize,
    },
    /// A speaker that stopped sending sends again.
    ResumeKeepalives {
        /// The speaker.
        speaker: usize,
    },
    /// A speaker dies silently: no bytes, no FIN, no timers.
    Crash {
        /// The speaker.
        speaker: usize,
    },
    /// A crashed (or not yet running) speaker boots and connects again.
    Restart {
        /// The speaker.
        speaker: usize,
    },
    /// A speaker's TCP connections reset (both ends see it).
    ResetSessions {
        /// The speaker.
        speaker: usize,
    },
    /// Raw bytes (a malformed message) reach an instance on a speaker's connection.
    Inject {
        /// The speaker.
        speaker: usize,
        /// The instance: `(route-server VNet, instance)`.
        instance: (usize, usize),
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// A speaker gets a session to one more instance (a new bgpConnection; the instance may
    /// refuse it: reserved ASN, a ninth peer).
    AddPeer {
        /// The speaker.
        speaker: usize,
        /// The instance: `(route-server VNet, instance)`.
        instance: (usize, usize),
    },
    /// A route-server instance goes down (maintenance).
    InstanceDown {
        /// The route server's VNet.
        vnet: usize,
        /// The instance.
        instance: usize,
    },
    /// A route-server instance comes back, with empty tables.
    InstanceUp {
        /// The route server's VNet.
        vnet: usize,
        /// The instance.
        instance: usize,
    },
    /// A VNet peering is created.
    AddPeering(Peering),
    /// A VNet gets another address range.
    AddRange {
        /// The VNet.
        vnet: usize,
        /// The range.
        range: IpNet,
    },
    /// A route table is associated with a subnet (or none: `route_table` is `None`).
    AssociateRouteTable {
        /// The VNet.
        vnet: usize,
        /// The subnet (index into the VNet's subnets).
        subnet: usize,
        /// The route table.
        route_table: Option<usize>,
    },
    /// Branch-to-branch is switched.
    BranchToBranch {
        /// The route server's VNet.
        vnet: usize,
        /// On or off.
        on: bool,
    },
    /// Hub routing preference is switched.
    Preference {
        /// The route server's VNet.
        vnet: usize,
        /// The new preference.
        preference: HubRoutingPreference,
    },
    /// The VNet's route server (declared with `deployed = false`) is created: its
    /// instances start, the VNet's gateways peer with them and stop programming NICs
    /// themselves.
    DeployRouteServer {
        /// The VNet.
        vnet: usize,
    },
    /// AS override on an NVA is switched (see [`SpeakerSpec::as_override`]).
    AsOverride {
        /// The NVA.
        speaker: usize,
        /// On or off.
        on: bool,
    },
    /// A tunnel between two NVAs goes down (both ends see the connection fail) or up.
    TunnelState {
        /// The tunnel (index into [`Topology::tunnels`]).
        tunnel: usize,
        /// Up (`true`) or down.
        up: bool,
    },
}

/// A check at a time.
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    /// When.
    pub at: Duration,
    /// What must hold.
    pub check: Check,
    /// Where it was written (`file:line`), for reports.
    pub location: String,
}

/// What an expectation checks.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// A VM's active effective route for a prefix.
    Route {
        /// The VM.
        vm: usize,
        /// The prefix (exact).
        prefix: Ipv4Net,
        /// Whether the prefix must have an active route.
        present: bool,
        /// The next hops it must use, exactly (when given).
        via: Option<Vec<Ipv4Addr>>,
        /// The next hop type it must have, when given.
        next_hop_type: Option<String>,
    },
    /// A speaker's session state toward one instance or every instance it peers with.
    Session {
        /// The speaker.
        speaker: usize,
        /// One instance only.
        instance: Option<(usize, usize)>,
        /// `Idle`, `Connect`, `Active`, `OpenSent`, `OpenConfirm` or `Established`.
        state: String,
    },
    /// What a speaker received from the route server(s).
    Received {
        /// The speaker.
        speaker: usize,
        /// From one instance only (else from every instance it peers with, each).
        instance: Option<(usize, usize)>,
        /// The prefix.
        prefix: IpNet,
        /// Whether it must be there.
        present: bool,
        /// The AS path it must carry.
        as_path: Option<Vec<u32>>,
        /// The set of next hops seen over the sessions checked.
        next_hops: Option<Vec<Ipv4Addr>>,
        /// The communities it must carry, in order.
        communities: Option<Vec<(u16, u16)>>,
    },
    /// What a route-server instance learned from a speaker.
    Learned {
        /// The route server's VNet.
        vnet: usize,
        /// The instance (every instance when `None`).
        instance: Option<usize>,
        /// The speaker.
        speaker: usize,
        /// The prefix.
        prefix: IpNet,
        /// Whether it must be there.
        present: bool,
        /// The AS path it must carry, as learned.
        as_path: Option<Vec<u32>>,
    },
    /// What on-premises sees behind a gateway.
    OnPrem {
        /// The gateway.
        gateway: usize,
        /// The prefix.
        prefix: IpNet,
        /// Whether it must be there.
        present: bool,
        /// The AS path on-premises sees.
        as_path: Option<Vec<u32>>,
    },
    /// What on-premises sees behind an ExpressRoute circuit (every gateway connected).
    OnPremCircuit {
        /// The circuit.
        circuit: usize,
        /// The prefix.
        prefix: IpNet,
        /// Whether it must be there.
        present: bool,
        /// The AS path on-premises sees.
        as_path: Option<Vec<u32>>,
    },
    /// The state of one end of a tunnel's BGP session.
    TunnelSession {
        /// The tunnel.
        tunnel: usize,
        /// The NVA whose end is checked.
        speaker: usize,
        /// `Idle`, `Connect`, `Active`, `OpenSent`, `OpenConfirm` or `Established`.
        state: String,
    },
    /// What an NVA received over a tunnel.
    TunnelReceived {
        /// The tunnel.
        tunnel: usize,
        /// The receiving NVA.
        speaker: usize,
        /// The prefix.
        prefix: IpNet,
        /// Whether it must be there.
        present: bool,
        /// The AS path it must carry.
        as_path: Option<Vec<u32>>,
    },
    /// Where a packet from a VM to an address ends up.
    Trace {
        /// The VM.
        vm: usize,
        /// The destination.
        to: Ipv4Addr,
        /// Every path's last hop, sorted (for example `nva:fw`, `internet`,
        /// `vm:spoke-vm1`, `onprem:er`, `loop:fw`, `drop`).
        ends: Vec<String>,
    },
    /// A line of the event log contains (or does not contain) a text.
    Event {
        /// The text.
        contains: String,
        /// Whether such a line must exist (up to the expectation's time).
        present: bool,
    },
}

/// A scenario file that cannot run: where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file.
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
    /// The field (a dotted path such as `vnet[0].subnet[1].prefix`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: field `{}`: {}",
            self.file, self.line, self.column, self.field, self.message
        )
    }
}

impl std::error::Error for ScenarioError {}

// ---------------------------------------------------------------------------------------
// The file as written.

#[derive(Deserialize, Debug)]
#[serde(untagged)]
enum RawTime {
    Seconds(f64),
    Text(String),
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    choices: Vec<String>,
    seed: Option<u64>,
    duration: Option<Spanned<RawTime>>,
    link_latency: Option<Spanned<RawTime>>,
    #[serde(default)]
    vnet: Vec<RawVnet>,
    #[serde(default)]
    route_table: Vec<RawRouteTable>,
    #[serde(default)]
    peering: Vec<RawPeering>,
    #[serde(default)]
    nva: Vec<RawSpeaker>,
    #[serde(default)]
    gateway: Vec<RawSpeaker>,
    #[serde(default)]
    load_balancer: Vec<RawLoadBalancer>,
    #[serde(default)]
    circuit: Vec<RawCircuit>,
    #[serde(default)]
    tunnel: Vec<RawTunnel>,
    #[serde(default)]
    event: Vec<Spanned<RawEvent>>,
    #[serde(default)]
    expect: Vec<Spanned<RawExpect>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawVnet {
    name: Spanned<String>,
    region: Option<String>,
    ranges: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    subnet: Vec<RawSubnet>,
    #[serde(default)]
    vm: Vec<RawVm>,
    route_server: Option<RawRouteServer>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawSubnet {
    name: Spanned<String>,
    prefix: Spanned<String>,
    route_table: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawVm {
    name: Spanned<String>,
    ip: Spanned<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawRouteServer {
    instances: Option<Vec<Spanned<String>>>,
    branch_to_branch: Option<bool>,
    preference: Option<Spanned<String>>,
    max_routes_per_peer: Option<u32>,
    deployed: Option<bool>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawRouteTable {
    name: Spanned<String>,
    propagate_gateway_routes: Option<bool>,
    #[serde(default)]
    route: Vec<RawUserRoute>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawUserRoute {
    prefix: Spanned<String>,
    next_hop: Spanned<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawPeering {
    from: Spanned<String>,
    to: Spanned<String>,
    #[serde(default)]
    use_remote_gateway: bool,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawSpeaker {
    name: Spanned<String>,
    kind: Option<Spanned<String>>,
    vnet: Spanned<String>,
    ip: Spanned<String>,
    asn: Option<Spanned<u32>>,
    peers: Option<Vec<Spanned<String>>>,
    route_refresh: Option<bool>,
    hold_time: Option<u16>,
    ipv6_unicast: Option<bool>,
    running: Option<bool>,
    #[serde(default)]
    route: Vec<RawRoute>,
    #[serde(default)]
    inbound_map: Vec<RawMapRule>,
    #[serde(default)]
    outbound_map: Vec<RawMapRule>,
    as_override: Option<Spanned<bool>>,
    p2s_pools: Option<Vec<Spanned<String>>>,
    circuits: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawCircuit {
    name: Spanned<String>,
    asn: Option<Spanned<u32>>,
    msee: Spanned<String>,
    #[serde(default)]
    route: Vec<RawRoute>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawTunnel {
    name: Spanned<String>,
    between: Spanned<Vec<Spanned<String>>>,
    up: Option<bool>,
}

/// One route-map rule as written: `match` conditions, `action` (`permit` or `drop`),
/// `modify` (when permitted), `next` (`continue` or `terminate`).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawMapRule {
    #[serde(rename = "match", default)]
    conditions: Option<RawMatch>,
    action: Option<Spanned<String>>,
    modify: Option<RawModify>,
    next: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    prefix_equals: Option<Vec<Spanned<String>>>,
    prefix_contains: Option<Vec<Spanned<String>>>,
    community_equals: Option<Vec<Spanned<String>>>,
    community_contains: Option<Vec<Spanned<String>>>,
    as_path_equals: Option<Vec<u32>>,
    as_path_contains: Option<Vec<u32>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawModify {
    replace_prefix: Option<Spanned<String>>,
    as_path_add: Option<Vec<u32>>,
    as_path_replace: Option<Vec<u32>>,
    community_add: Option<Vec<Spanned<String>>>,
    community_replace: Option<Vec<Spanned<String>>>,
    community_remove: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    prefix: Spanned<String>,
    as_path: Option<Vec<u32>>,
    next_hop: Option<Spanned<String>>,
    communities: Option<Vec<Spanned<String>>>,
    count: Option<Spanned<u32>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawLoadBalancer {
    name: Spanned<String>,
    vnet: Spanned<String>,
    region: Option<String>,
    frontend: Spanned<String>,
    backends: Vec<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    at: Spanned<RawTime>,
    #[serde(rename = "do")]
    action: Spanned<String>,
    node: Option<Spanned<String>>,
    instance: Option<Spanned<String>>,
    vnet: Option<Spanned<String>>,
    prefix: Option<Spanned<String>>,
    prefixes: Option<Vec<Spanned<String>>>,
    as_path: Option<Vec<u32>>,
    next_hop: Option<Spanned<String>>,
    communities: Option<Vec<Spanned<String>>>,
    count: Option<Spanned<u32>>,
    times: Option<usize>,
    on: Option<bool>,
    preference: Option<Spanned<String>>,
    range: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    to: Option<Spanned<String>>,
    use_remote_gateway: Option<bool>,
    bytes: Option<Spanned<String>>,
    subnet: Option<Spanned<String>>,
    route_table: Option<Spanned<String>>,
    tunnel: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    at: Spanned<RawTime>,
    check: Spanned<String>,
    vm: Option<Spanned<String>>,
    node: Option<Spanned<String>>,
    instance: Option<Spanned<String>>,
    prefix: Option<Spanned<String>>,
    via: Option<Vec<Spanned<String>>>,
    next_hop_type: Option<String>,
    state: Option<Spanned<String>>,
    present: Option<bool>,
    as_path: Option<Vec<u32>>,
    next_hops: Option<Vec<Spanned<String>>>,
    communities: Option<Vec<Spanned<String>>>,
    from: Option<Spanned<String>>,
    to: Option<Spanned<String>>,
    ends: Option<Vec<String>>,
    contains: Option<String>,
    tunnel: Option<Spanned<String>>,
}

// ---------------------------------------------------------------------------------------
// Validation.

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn at(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        let (line, column) = line_col(self.text, span.start);
        ScenarioError {
            file: self.file.to_string(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        }
    }

    fn prefix(&self, s: &Spanned<String>, field: &str) -> Result<IpNet, ScenarioError> {
        let net: IpNet = s.get_ref().parse().map_err(|_| {
            self.at(
                s.span(),
                field,
                format!("`{}` is not a prefix such as 10.1.0.0/16", s.get_ref()),
            )
        })?;
        if net.trunc() != net {
            return Err(self.at(
                s.span(),
                field,
                format!(
                    "`{}` has host bits set (did you mean {}?)",
                    s.get_ref(),
                    net.trunc()
                ),
            ));
        }
        Ok(net)
    }

    fn prefix_v4(&self, s: &Spanned<String>, field: &str) -> Result<Ipv4Net, ScenarioError> {
        match self.prefix(s, field)? {
            IpNet::V4(n) => Ok(n),
            IpNet::V6(_) => Err(self.at(s.span(), field, "only IPv4 prefixes are modelled here")),
        }
    }

    fn addr(&self, s: &Spanned<String>, field: &str) -> Result<Ipv4Addr, ScenarioError> {
        s.get_ref().parse().map_err(|_| {
            self.at(
                s.span(),
                field,
                format!("`{}` is not an IPv4 address", s.get_ref()),
            )
        })
    }

    fn time(&self, s: &Spanned<RawTime>, field: &str) -> Result<Duration, ScenarioError> {
        parse_time(s.get_ref()).map_err(|m| self.at(s.span(), field, m))
    }

    fn community(&self, s: &Spanned<String>, field: &str) -> Result<(u16, u16), ScenarioError> {
        let text = s.get_ref();
        let parsed = match text.as_str() {
            "NO_ADVERTISE" | "no-advertise" => Some((65535, 65282)),
            "NO_EXPORT" | "no-export" => Some((65535, 65281)),
            _ => text
                .split_once(':')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?))),
        };
        parsed.ok_or_else(|| {
            self.at(
                s.span(),
                field,
                format!("`{text}` is not a community such as 65001:100"),
            )
        })
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

fn parse_time(raw: &RawTime) -> Result<Duration, String> {
    let seconds = match raw {
        RawTime::Seconds(s) => *s,
        RawTime::Text(text) => {
            let t = text.trim();
            let (number, unit) = t
                .find(|c: char| c.is_ascii_alphabetic())
                .map_or((t, "s"), |i| (&t[..i], &t[i..]));
            let value: f64 = number
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a time such as 200s, 1.5s, 500ms or 3m"))?;
            match unit {
                "ms" => value / 1000.0,
                "s" => value,
                "m" | "min" => value * 60.0,
                "h" => value * 3600.0,
                _ => {
                    return Err(format!(
                        "`{text}`: unknown unit `{unit}` (use ms, s, m or h)"
                    ))
                }
            }
        }
    };
    if !seconds.is_finite() || !(0.0..=30.0 * 86_400.0).contains(&seconds) {
        return Err(format!("{seconds} s is outside 0 to 30 days"));
    }
    Ok(Duration::from_millis((seconds * 1000.0).round() as u64))
}

/// Parses a time such as `200s`, `1.5s`, `500ms`, `3m` or `90` (seconds).
///
/// # Errors
///
/// A message saying what is wrong.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_time(&RawTime::Text(text.to_string()))
}

fn parse_preference(text: &str) -> Option<HubRoutingPreference> {
    match text.to_ascii_lowercase().as_str() {
        "expressroute" => Some(HubRoutingPreference::ExpressRoute),
        "vpngateway" | "vpn" => Some(HubRoutingPreference::VpnGateway),
        "aspath" => Some(HubRoutingPreference::AsPath),
        _ => None,
    }
}

/// Parses and validates a scenario; `file` names it in errors.
///
/// # Errors
///
/// The first problem found, with its file, line, column and field.
pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let ctx = Ctx { file, text };
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let message = e.message().to_string();
        // toml names the unknown or missing key in its message; the field is the key at the
        // error's position when it points at one.
        let field = text
            .get(span.clone())
            .filter(|s| {
                !s.is_empty()
                    && s.len() < 60
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            })
            .unwrap_or("(syntax)")
            .to_string();
        ctx.at(span, field, message)
    })?;
    build(&ctx, raw)
}

/// Reads and parses a scenario file.
///
/// # Errors
///
/// When the file cannot be read, or [`parse`] fails.
pub fn load(path: &std::path::Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: file.clone(),
        line: 0,
        column: 0,
        field: "(file)".into(),
        message: format!("cannot read: {e}"),
    })?;
    let mut scenario = parse(&file, &text)?;
    if scenario.name.is_empty() {
        scenario.name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
    Ok(scenario)
}

fn unique(
    ctx: &Ctx<'_>,
    names: &mut Vec<String>,
    name: &Spanned<String>,
    field: &str,
) -> Result<(), ScenarioError> {
    if names.iter().any(|n| n == name.get_ref()) {
        return Err(ctx.at(
            name.span(),
            field,
            format!("the name `{}` is used twice", name.get_ref()),
        ));
    }
    if name.get_ref().is_empty() {
        return Err(ctx.at(name.span(), field, "names cannot be empty"));
    }
    names.push(name.get_ref().clone());
    Ok(())
}

fn build(ctx: &Ctx<'_>, raw: RawScenario) -> Result<Scenario, ScenarioError> {
    let mut names = Vec::new();
    // Route tables first: subnets refer to them.
    let mut route_tables = Vec::new();
    for (t, rt) in raw.route_table.iter().enumerate() {
        let mut routes = Vec::new();
        for (r, udr) in rt.route.iter().enumerate() {
            let prefix =
                ctx.prefix_v4(&udr.prefix, &format!("route_table[{t}].route[{r}].prefix"))?;
            let field = format!("route_table[{t}].route[{r}].next_hop");
            let next_hop = match udr.next_hop.get_ref().as_str() {
                "Internet" => UserNextHop::Internet,
                "None" => UserNextHop::Drop,
                "VnetLocal" => UserNextHop::VnetLocal,
                "VirtualNetworkGateway" => UserNextHop::VirtualNetworkGateway,
                _ => UserNextHop::VirtualAppliance(ctx.addr(&udr.next_hop, &field).map_err(|mut e| {
                    e.message = format!(
                        "`{}` is neither an appliance address nor one of Internet, None, VnetLocal, VirtualNetworkGateway",
                        udr.next_hop.get_ref()
                    );
                    e
                })?),
            };
            routes.push(UserRoute { prefix, next_hop });
        }
        route_tables.push(RouteTable {
            name: rt.name.get_ref().clone(),
            propagate_gateway_routes: rt.propagate_gateway_routes.unwrap_or(true),
            routes,
        });
    }
    let mut table_names = Vec::new();
    for (t, rt) in raw.route_table.iter().enumerate() {
        unique(
            ctx,
            &mut table_names,
            &rt.name,
            &format!("route_table[{t}].name"),
        )?;
    }

    let mut vnets = Vec::new();
    let mut vms = Vec::new();
    let mut raw_instances: Vec<Vec<Ipv4Addr>> = Vec::new();
    for (v, rv) in raw.vnet.iter().enumerate() {
        unique(ctx, &mut names, &rv.name, &format!("vnet[{v}].name"))?;
        let mut ranges = Vec::new();
        for (r, range) in rv.ranges.get_ref().iter().enumerate() {
            // IPv6 ranges are accepted (the route server warns that it does not carry
            // them, spec scenario 34); subnets, VMs and routes at NICs are IPv4.
            ranges.push(ctx.prefix(range, &format!("vnet[{v}].ranges[{r}]"))?);
        }
        if ranges.is_empty() {
            return Err(ctx.at(
                rv.ranges.span(),
                format!("vnet[{v}].ranges"),
                "a VNet needs at least one range",
            ));
        }
        let mut subnets = Vec::new();
        for (s, rs) in rv.subnet.iter().enumerate() {
            let field = format!("vnet[{v}].subnet[{s}].prefix");
            let prefix = ctx.prefix_v4(&rs.prefix, &field)?;
            if !ranges.iter().any(|r| r.contains(&IpNet::V4(prefix))) {
                return Err(ctx.at(
                    rs.prefix.span(),
                    field,
                    format!("{prefix} is outside the VNet's ranges"),
                ));
            }
            if subnets
                .iter()
                .any(|o: &Subnet| o.prefix.contains(&prefix) || prefix.contains(&o.prefix))
            {
                return Err(ctx.at(
                    rs.prefix.span(),
                    field,
                    format!("{prefix} overlaps another subnet"),
                ));
            }
            let route_table = match &rs.route_table {
                None => None,
                Some(name) => Some(
                    route_tables
                        .iter()
                        .position(|t| &t.name == name.get_ref())
                        .ok_or_else(|| {
                            ctx.at(
                                name.span(),
                                format!("vnet[{v}].subnet[{s}].route_table"),
                                format!("no route table is named `{}`", name.get_ref()),
                            )
                        })?,
                ),
            };
            subnets.push(Subnet {
                name: rs.name.get_ref().clone(),
                prefix,
                route_table,
            });
        }
        let region = rv.region.clone().unwrap_or_else(|| "region-1".into());
        let route_server = match &rv.route_server {
            None => None,
            Some(rrs) => {
                let instances = match &rrs.instances {
                    Some(list) => {
                        let mut out = Vec::new();
                        for (i, a) in list.iter().enumerate() {
                            out.push(ctx.addr(a, &format!("vnet[{v}].route_server.instances[{i}]"))?);
                        }
                        if out.len() != 2 {
                            return Err(ctx.at(
                                list.first().map_or(rv.name.span(), Spanned::span),
                                format!("vnet[{v}].route_server.instances"),
                                "a route server has exactly two instances",
                            ));
                        }
                        out
                    }
                    None => default_instances(&subnets).ok_or_else(|| {
                        ctx.at(
                            rv.name.span(),
                            format!("vnet[{v}].route_server"),
                            "no `instances` given and no subnet named RouteServerSubnet to take .4 and .5 from",
                        )
                    })?,
                };
                let preference = match &rrs.preference {
                    None => HubRoutingPreference::ExpressRoute,
                    Some(p) => parse_preference(p.get_ref()).ok_or_else(|| {
                        ctx.at(
                            p.span(),
                            format!("vnet[{v}].route_server.preference"),
                            format!(
                                "`{}` is not ExpressRoute, VpnGateway or ASPath",
                                p.get_ref()
                            ),
                        )
                    })?,
                };
                raw_instances.push(instances.clone());
                Some(RouteServerSpec {
                    instances,
                    branch_to_branch: rrs.branch_to_branch.unwrap_or(false),
                    preference,
                    max_routes_per_peer: rrs
                        .max_routes_per_peer
                        .or(Some(route_server::AZURE_MAX_ROUTES_PER_PEER)),
                    deployed: rrs.deployed.unwrap_or(true),
                })
            }
        };
        for (m, rm) in rv.vm.iter().enumerate() {
            unique(
                ctx,
                &mut names,
                &rm.name,
                &format!("vnet[{v}].vm[{m}].name"),
            )?;
            let field = format!("vnet[{v}].vm[{m}].ip");
            let ip = ctx.addr(&rm.ip, &field)?;
            let subnet = subnets
                .iter()
                .position(|s| s.prefix.contains(&ip))
                .ok_or_else(|| {
                    ctx.at(
                        rm.ip.span(),
                        &field,
                        format!("{ip} is in none of the VNet's subnets"),
                    )
                })?;
            vms.push(Vm {
                name: rm.name.get_ref().clone(),
                vnet: v,
                subnet,
                ip,
                speaker: None,
            });
        }
        vnets.push(Vnet {
            name: rv.name.get_ref().clone(),
            region,
            ranges,
            subnets,
            route_server,
        });
    }
    for (v, a) in vnets.iter().enumerate() {
        for b in vnets.iter().skip(v + 1) {
            if let Some(r) = a
                .ranges
                .iter()
                .find(|r| b.ranges.iter().any(|o| o.contains(*r) || r.contains(o)))
            {
                return Err(ctx.at(
                    raw.vnet[v].ranges.span(),
                    format!("vnet[{v}].ranges"),
                    format!("{r} overlaps VNet `{}`", b.name),
                ));
            }
        }
    }
    let vnet_of = |s: &Spanned<String>, field: &str| -> Result<usize, ScenarioError> {
        vnets
            .iter()
            .position(|v| &v.name == s.get_ref())
            .ok_or_else(|| {
                ctx.at(
                    s.span(),
                    field,
                    format!("no VNet is named `{}`", s.get_ref()),
                )
            })
    };

    let mut peerings = Vec::new();
    for (p, rp) in raw.peering.iter().enumerate() {
        let a = vnet_of(&rp.from, &format!("peering[{p}].from"))?;
        let b = vnet_of(&rp.to, &format!("peering[{p}].to"))?;
        if a == b {
            return Err(ctx.at(
                rp.to.span(),
                format!("peering[{p}].to"),
                "a VNet cannot peer with itself",
            ));
        }
        let has_gateway = raw
            .gateway
            .iter()
            .any(|g| g.vnet.get_ref() == &vnets[b].name);
        if rp.use_remote_gateway && vnets[b].route_server.is_none() && !has_gateway {
            return Err(ctx.at(
                rp.to.span(),
                format!("peering[{p}].use_remote_gateway"),
                format!(
                    "VNet `{}` has no route server or gateway to use",
                    vnets[b].name
                ),
            ));
        }
        peerings.push(Peering {
            a,
            b,
            a_uses_remote_gateway: rp.use_remote_gateway,
            b_uses_remote_gateway: false,
        });
    }

    let mut circuits: Vec<Circuit> = Vec::new();
    for (c, rc) in raw.circuit.iter().enumerate() {
        let at = |f: &str| format!("circuit[{c}].{f}");
        unique(ctx, &mut names, &rc.name, &at("name"))?;
        let msee = ctx.addr(&rc.msee, &at("msee"))?;
        if let Some(v) = vnets.iter().find(|v| {
            v.ranges
                .iter()
                .any(|r| r.contains(&std::net::IpAddr::V4(msee)))
        }) {
            return Err(ctx.at(
                rc.msee.span(),
                at("msee"),
                format!(
                    "{msee} is inside VNet `{}`: the MSEE is on the circuit's side",
                    v.name
                ),
            ));
        }
        let asn = rc.asn.as_ref().map_or(65010, |a| *a.get_ref());
        if asn == 0 || asn == route_server::AZURE_ASN || asn == 12076 {
            let span = rc.asn.as_ref().map_or(rc.name.span(), Spanned::span);
            return Err(ctx.at(
                span,
                at("asn"),
                format!("{asn} cannot be an on-premises ASN (0, 65515 and 12076 are taken)"),
            ));
        }
        let mut routes = Vec::new();
        for (r, rr) in rc.route.iter().enumerate() {
            routes.extend(announcement(
                ctx,
                rr.prefix.clone(),
                rr.as_path.clone(),
                rr.next_hop.as_ref(),
                rr.communities.as_deref(),
                rr.count.as_ref(),
                asn,
                msee,
                &at(&format!("route[{r}]")),
            )?);
        }
        circuits.push(Circuit {
            name: rc.name.get_ref().clone(),
            msee,
            routes,
        });
    }

    let mut speakers = Vec::new();
    let all_raw: Vec<(&RawSpeaker, bool, usize)> = raw
        .nva
        .iter()
        .enumerate()
        .map(|(i, s)| (s, true, i))
        .chain(raw.gateway.iter().enumerate().map(|(i, s)| (s, false, i)))
        .collect();
    for (rs, is_nva, i) in all_raw {
        let section = if is_nva { "nva" } else { "gateway" };
        let at = |f: &str| format!("{section}[{i}].{f}");
        unique(ctx, &mut names, &rs.name, &at("name"))?;
        let vnet = vnet_of(&rs.vnet, &at("vnet"))?;
        let ip = ctx.addr(&rs.ip, &at("ip"))?;
        if !vnets[vnet]
            .ranges
            .iter()
            .any(|r| r.contains(&std::net::IpAddr::V4(ip)))
        {
            return Err(ctx.at(
                rs.ip.span(),
                at("ip"),
                format!("{ip} is outside VNet `{}`", vnets[vnet].name),
            ));
        }
        let kind = if is_nva {
            if let Some(k) = &rs.kind {
                return Err(ctx.at(
                    k.span(),
                    at("kind"),
                    "an NVA has no kind (use [[gateway]] for gateways)",
                ));
            }
            SpeakerKind::Nva
        } else {
            match rs.kind.as_ref().map(|k| k.get_ref().as_str()) {
                Some("expressroute") => SpeakerKind::ExpressRoute,
                Some("vpn") => SpeakerKind::VpnGateway,
                _ => {
                    return Err(ctx.at(
                        rs.kind.as_ref().map_or(rs.name.span(), Spanned::span),
                        at("kind"),
                        "a gateway's kind is `expressroute` or `vpn`",
                    ))
                }
            }
        };
        let asn = match (&rs.asn, kind) {
            (Some(a), _) => *a.get_ref(),
            (None, SpeakerKind::Nva) => {
                return Err(ctx.at(rs.name.span(), at("asn"), "an NVA needs an `asn`"))
            }
            (None, _) => route_server::AZURE_ASN,
        };
        // Which instances it peers with (a route server that is not deployed yet has
        // none to peer with).
        let deployed = |v: usize| vnets[v].route_server.as_ref().is_some_and(|r| r.deployed);
        let home_rs = if vnets[vnet].route_server.is_some() {
            Some(vnet)
        } else {
            peerings
                .iter()
                .filter_map(|p| {
                    if p.a == vnet {
                        Some(p.b)
                    } else if p.b == vnet {
                        Some(p.a)
                    } else {
                        None
                    }
                })
                .find(|v| vnets[*v].route_server.is_some())
        };
        let peers = match (&rs.peers, kind) {
            (Some(list), SpeakerKind::ExpressRoute | SpeakerKind::VpnGateway) => {
                return Err(ctx.at(
                    list.first().map_or(rs.name.span(), Spanned::span),
                    at("peers"),
                    "a gateway peers with its own VNet's route server by itself",
                ));
            }
            // Without a route server (or before it is deployed) the gateway programs its
            // VNet's NICs itself.
            (None, SpeakerKind::ExpressRoute | SpeakerKind::VpnGateway) => {
                if deployed(vnet) {
                    vec![(vnet, 0), (vnet, 1)]
                } else {
                    Vec::new()
                }
            }
            (None, _) => match home_rs {
                Some(h) if deployed(h) => vec![(h, 0), (h, 1)],
                Some(h) => {
                    return Err(ctx.at(
                        rs.name.span(),
                        at("peers"),
                        format!(
                            "the route server of VNet `{}` is not deployed at time zero: give `peers = []` and add sessions with `add_peer` after `deploy_route_server`",
                            vnets[h].name
                        ),
                    ))
                }
                None => Vec::new(),
            },
            (Some(list), _) => {
                let mut out = Vec::new();
                for (k, p) in list.iter().enumerate() {
                    let field = at(&format!("peers[{k}]"));
                    let (rs_vnet, inst) = match p.get_ref().split_once('/') {
                        Some((v, inst)) => (
                            vnets.iter().position(|x| x.name == v).ok_or_else(|| {
                                ctx.at(p.span(), &field, format!("no VNet is named `{v}`"))
                            })?,
                            inst,
                        ),
                        None => (
                            home_rs.ok_or_else(|| {
                                ctx.at(p.span(), &field, "no route server in this or a peered VNet")
                            })?,
                            p.get_ref().as_str(),
                        ),
                    };
                    let index = match inst {
                        "IN_0" => 0,
                        "IN_1" => 1,
                        _ => {
                            return Err(ctx.at(
                                p.span(),
                                &field,
                                format!("`{inst}` is not IN_0 or IN_1"),
                            ))
                        }
                    };
                    if vnets[rs_vnet].route_server.is_none() {
                        return Err(ctx.at(
                            p.span(),
                            &field,
                            format!("VNet `{}` has no route server", vnets[rs_vnet].name),
                        ));
                    }
                    if !deployed(rs_vnet) {
                        return Err(ctx.at(
                            p.span(),
                            &field,
                            format!(
                                "the route server of VNet `{}` is not deployed at time zero (use `add_peer` after `deploy_route_server`)",
                                vnets[rs_vnet].name
                            ),
                        ));
                    }
                    out.push((rs_vnet, index));
                }
                out
            }
        };
        let mut routes = Vec::new();
        for (r, rr) in rs.route.iter().enumerate() {
            routes.extend(announcement(
                ctx,
                rr.prefix.clone(),
                rr.as_path.clone(),
                rr.next_hop.as_ref(),
                rr.communities.as_deref(),
                rr.count.as_ref(),
                asn,
                ip,
                &at(&format!("route[{r}]")),
            )?);
        }
        if is_nva {
            let subnet = vnets[vnet]
                .subnets
                .iter()
                .position(|s| s.prefix.contains(&ip))
                .ok_or_else(|| {
                    ctx.at(
                        rs.ip.span(),
                        at("ip"),
                        format!("{ip} is in none of the VNet's subnets"),
                    )
                })?;
            vms.push(Vm {
                name: rs.name.get_ref().clone(),
                vnet,
                subnet,
                ip,
                speaker: Some(speakers.len()),
            });
        }
        let as_override = match &rs.as_override {
            Some(o) if kind != SpeakerKind::Nva => {
                return Err(ctx.at(o.span(), at("as_override"), "only an NVA rewrites AS paths"))
            }
            Some(o) => *o.get_ref(),
            None => false,
        };
        let mut p2s_pools = Vec::new();
        for (k, pool) in rs.p2s_pools.iter().flatten().enumerate() {
            let field = at(&format!("p2s_pools[{k}]"));
            if kind != SpeakerKind::VpnGateway {
                return Err(ctx.at(
                    pool.span(),
                    field,
                    "only a VPN gateway has point-to-site pools",
                ));
            }
            let prefix = ctx.prefix_v4(pool, &field)?;
            if vnets
                .iter()
                .flat_map(|v| &v.ranges)
                .any(|r| r.contains(&IpNet::V4(prefix)) || IpNet::V4(prefix).contains(r))
            {
                return Err(ctx.at(
                    pool.span(),
                    field,
                    format!("{prefix} overlaps a VNet range"),
                ));
            }
            p2s_pools.push(prefix);
        }
        let mut connected = Vec::new();
        for (k, c) in rs.circuits.iter().flatten().enumerate() {
            let field = at(&format!("circuits[{k}]"));
            if kind != SpeakerKind::ExpressRoute {
                return Err(ctx.at(
                    c.span(),
                    field,
                    "only an ExpressRoute gateway connects to circuits",
                ));
            }
            let index = circuits
                .iter()
                .position(|x| &x.name == c.get_ref())
                .ok_or_else(|| {
                    ctx.at(
                        c.span(),
                        &field,
                        format!("no circuit is named `{}`", c.get_ref()),
                    )
                })?;
            if connected.contains(&index) {
                return Err(ctx.at(
                    c.span(),
                    field,
                    format!("connected to `{}` twice", c.get_ref()),
                ));
            }
            connected.push(index);
        }
        let inbound_map = route_map(ctx, &rs.inbound_map, &at("inbound_map"))?;
        let outbound_map = route_map(ctx, &rs.outbound_map, &at("outbound_map"))?;
        speakers.push(SpeakerSpec {
            inbound_map,
            outbound_map,
            name: rs.name.get_ref().clone(),
            kind,
            vnet,
            ip,
            asn,
            peers,
            route_refresh: rs.route_refresh.unwrap_or(true),
            hold_time: rs.hold_time.unwrap_or(route_server::AZURE_HOLD_TIME_SECS),
            offers_ipv6: rs.ipv6_unicast.unwrap_or(false),
            running: rs.running.unwrap_or(true),
            routes,
            as_override,
            p2s_pools,
            circuits: connected,
        });
    }
    // Stable VM order: VNet by VNet, in file order within each.
    vms.sort_by_key(|vm| vm.vnet);
    for (v, vm) in vms.iter().enumerate() {
        if let Some(o) = vms[..v].iter().find(|o| o.ip == vm.ip) {
            return Err(ScenarioError {
                file: ctx.file.into(),
                line: 0,
                column: 0,
                field: format!("{}.ip", vm.name),
                message: format!("{} is also the address of `{}`", vm.ip, o.name),
            });
        }
    }

    let mut load_balancers = Vec::new();
    for (l, rl) in raw.load_balancer.iter().enumerate() {
        unique(
            ctx,
            &mut names,
            &rl.name,
            &format!("load_balancer[{l}].name"),
        )?;
        let vnet = vnet_of(&rl.vnet, &format!("load_balancer[{l}].vnet"))?;
        let frontend = ctx.addr(&rl.frontend, &format!("load_balancer[{l}].frontend"))?;
        let mut backends = Vec::new();
        for (b, rb) in rl.backends.iter().enumerate() {
            backends.push(ctx.addr(rb, &format!("load_balancer[{l}].backends[{b}]"))?);
        }
        load_balancers.push(LoadBalancer {
            name: rl.name.get_ref().clone(),
            vnet,
            region: rl
                .region
                .clone()
                .unwrap_or_else(|| vnets[vnet].region.clone()),
            frontend,
            backends,
        });
    }

    let link_latency = match &raw.link_latency {
        Some(t) => ctx.time(t, "link_latency")?,
        None => Duration::from_millis(2),
    };
    let duration = match &raw.duration {
        Some(t) => ctx.time(t, "duration")?,
        None => Duration::from_secs(60),
    };
    let mut tunnels: Vec<Tunnel> = Vec::new();
    for (t, rt) in raw.tunnel.iter().enumerate() {
        let at = |f: &str| format!("tunnel[{t}].{f}");
        unique(ctx, &mut names, &rt.name, &at("name"))?;
        let ends = rt.between.get_ref();
        if ends.len() != 2 {
            return Err(ctx.at(
                rt.between.span(),
                at("between"),
                "a tunnel is between exactly two NVAs",
            ));
        }
        let mut pair = [0usize; 2];
        for (k, end) in ends.iter().enumerate() {
            let field = at(&format!("between[{k}]"));
            let sp = speakers
                .iter()
                .position(|s: &SpeakerSpec| &s.name == end.get_ref())
                .ok_or_else(|| {
                    ctx.at(
                        end.span(),
                        &field,
                        format!("no NVA is named `{}`", end.get_ref()),
                    )
                })?;
            if speakers[sp].kind != SpeakerKind::Nva {
                return Err(ctx.at(
                    end.span(),
                    field,
                    format!("`{}` is a gateway, not an NVA", end.get_ref()),
                ));
            }
            pair[k] = sp;
        }
        if pair[0] == pair[1] {
            return Err(ctx.at(
                rt.between.span(),
                at("between"),
                "a tunnel joins two different NVAs",
            ));
        }
        if speakers[pair[0]].asn == speakers[pair[1]].asn {
            return Err(ctx.at(
                rt.between.span(),
                at("between"),
                "the two NVAs share an ASN: the tunnel session is eBGP",
            ));
        }
        if tunnels
            .iter()
            .any(|o| (o.a == pair[0] && o.b == pair[1]) || (o.a == pair[1] && o.b == pair[0]))
        {
            return Err(ctx.at(
                rt.between.span(),
                at("between"),
                "these two NVAs already have a tunnel",
            ));
        }
        tunnels.push(Tunnel {
            name: rt.name.get_ref().clone(),
            a: pair[0],
            b: pair[1],
            up: rt.up.unwrap_or(true),
        });
    }
    let topology = Topology {
        vnets,
        route_tables,
        peerings,
        vms,
        speakers,
        load_balancers,
        circuits,
        tunnels,
        link_latency,
    };

    let mut timeline = Vec::new();
    for (e, ev) in raw.event.iter().enumerate() {
        let at = ctx.time(&ev.get_ref().at, &format!("event[{e}].at"))?;
        let action = build_action(ctx, &topology, ev, e)?;
        timeline.push(TimedAction { at, action });
    }
    timeline.sort_by_key(|a| a.at);

    let mut expectations = Vec::new();
    for (x, ex) in raw.expect.iter().enumerate() {
        let at = ctx.time(&ex.get_ref().at, &format!("expect[{x}].at"))?;
        let check = build_check(ctx, &topology, ex, x)?;
        let (line, _) = line_col(ctx.text, ex.span().start);
        expectations.push(Expectation {
            at,
            check,
            location: format!("{}:{line}", ctx.file),
        });
    }
    expectations.sort_by_key(|x| x.at);
    let end = timeline
        .iter()
        .map(|a| a.at)
        .chain(expectations.iter().map(|x| x.at))
        .max()
        .unwrap_or_default();

    Ok(Scenario {
        name: raw.name.unwrap_or_default(),
        description: raw.description.unwrap_or_default(),
        choices: raw.choices,
        seed: raw.seed.unwrap_or(1),
        duration: duration.max(end),
        topology,
        timeline,
        expectations,
    })
}

fn route_map(
    ctx: &Ctx<'_>,
    rules: &[RawMapRule],
    at: &str,
) -> Result<Option<route_server::RouteMap>, ScenarioError> {
    use route_server::{MatchCondition, Modification, NextStep, RouteMapAction, RouteMapRule};
    if rules.is_empty() {
        return Ok(None);
    }
    let communities = |list: &[Spanned<String>],
                       field: &str|
     -> Result<Vec<bgp_wire::Community>, ScenarioError> {
        list.iter()
            .enumerate()
            .map(|(i, s)| {
                ctx.community(s, &format!("{field}[{i}]"))
                    .map(|(a, b)| bgp_wire::Community::new(a, b))
            })
            .collect()
    };
    let prefixes = |list: &[Spanned<String>], field: &str| -> Result<Vec<IpNet>, ScenarioError> {
        list.iter()
            .enumerate()
            .map(|(i, s)| ctx.prefix(s, &format!("{field}[{i}]")))
            .collect()
    };
    let mut out = Vec::new();
    for (r, rule) in rules.iter().enumerate() {
        let f = |name: &str| format!("{at}[{r}].{name}");
        let mut conditions = Vec::new();
        if let Some(m) = &rule.conditions {
            if let Some(l) = &m.prefix_equals {
                conditions.push(MatchCondition::PrefixEquals(prefixes(
                    l,
                    &f("match.prefix_equals"),
                )?));
            }
            if let Some(l) = &m.prefix_contains {
                conditions.push(MatchCondition::PrefixContains(prefixes(
                    l,
                    &f("match.prefix_contains"),
                )?));
            }
            if let Some(l) = &m.community_equals {
                conditions.push(MatchCondition::CommunityEquals(communities(
                    l,
                    &f("match.community_equals"),
                )?));
            }
            if let Some(l) = &m.community_contains {
                conditions.push(MatchCondition::CommunityContains(communities(
                    l,
                    &f("match.community_contains"),
                )?));
            }
            if let Some(l) = &m.as_path_equals {
                conditions.push(MatchCondition::AsPathEquals(l.clone()));
            }
            if let Some(l) = &m.as_path_contains {
                conditions.push(MatchCondition::AsPathContains(l.clone()));
            }
        }
        let action = match rule.action.as_ref().map(|a| a.get_ref().as_str()) {
            Some("drop") => {
                if rule.modify.is_some() {
                    let span = rule.action.as_ref().map_or(0..0, Spanned::span);
                    return Err(ctx.at(span, f("modify"), "a rule that drops cannot also modify"));
                }
                RouteMapAction::Drop
            }
            None | Some("permit") => {
                let mut mods = Vec::new();
                if let Some(m) = &rule.modify {
                    if let Some(p) = &m.replace_prefix {
                        mods.push(Modification::ReplacePrefix(
                            ctx.prefix(p, &f("modify.replace_prefix"))?,
                        ));
                    }
                    if let Some(l) = &m.as_path_add {
                        mods.push(Modification::AsPathAdd(l.clone()));
                    }
                    if let Some(l) = &m.as_path_replace {
                        mods.push(Modification::AsPathReplace(l.clone()));
                    }
                    if let Some(l) = &m.community_add {
                        mods.push(Modification::CommunityAdd(communities(
                            l,
                            &f("modify.community_add"),
                        )?));
                    }
                    if let Some(l) = &m.community_replace {
                        mods.push(Modification::CommunityReplace(communities(
                            l,
                            &f("modify.community_replace"),
                        )?));
                    }
                    if let Some(l) = &m.community_remove {
                        mods.push(Modification::CommunityRemove(communities(
                            l,
                            &f("modify.community_remove"),
                        )?));
                    }
                }
                RouteMapAction::Modify(mods)
            }
            Some(other) => {
                let span = rule.action.as_ref().map_or(0..0, Spanned::span);
                return Err(ctx.at(
                    span,
                    f("action"),
                    format!("`{other}` is not permit or drop"),
                ));
            }
        };
        let next_step = match rule.next.as_ref().map(|n| n.get_ref().as_str()) {
            None | Some("terminate") => NextStep::Terminate,
            Some("continue") => NextStep::Continue,
            Some(other) => {
                let span = rule.next.as_ref().map_or(0..0, Spanned::span);
                return Err(ctx.at(
                    span,
                    f("next"),
                    format!("`{other}` is not continue or terminate"),
                ));
            }
        };
        out.push(RouteMapRule {
            conditions,
            action,
            next_step,
        });
    }
    Ok(Some(route_server::RouteMap { rules: out }))
}

fn default_instances(subnets: &[Subnet]) -> Option<Vec<Ipv4Addr>> {
    let s = subnets.iter().find(|s| s.name == "RouteServerSubnet")?;
    let base = u32::from(s.prefix.network());
    Some(vec![Ipv4Addr::from(base + 4), Ipv4Addr::from(base + 5)])
}

#[allow(clippy::too_many_arguments)]
fn announcement(
    ctx: &Ctx<'_>,
    prefix: Spanned<String>,
    as_path: Option<Vec<u32>>,
    next_hop: Option<&Spanned<String>>,
    communities: Option<&[Spanned<String>]>,
    count: Option<&Spanned<u32>>,
    asn: u32,
    ip: Ipv4Addr,
    at: &str,
) -> Result<Vec<Announcement>, ScenarioError> {
    let first = ctx.prefix(&prefix, &format!("{at}.prefix"))?;
    let next_hop = match next_hop {
        Some(n) => ctx.addr(n, &format!("{at}.next_hop"))?,
        None => ip,
    };
    let mut list = Vec::new();
    for (c, s) in communities.unwrap_or_default().iter().enumerate() {
        list.push(ctx.community(s, &format!("{at}.communities[{c}]"))?);
    }
    let as_path = as_path.unwrap_or_else(|| vec![asn]);
    let n = count.map_or(1, |c| *c.get_ref());
    if n == 0 || n > 100_000 {
        let span = count.map_or(prefix.span(), Spanned::span);
        return Err(ctx.at(span, format!("{at}.count"), "count is 1 to 100,000"));
    }
    let IpNet::V4(v4) = first else {
        return Ok(vec![Announcement {
            prefix: first,
            as_path,
            next_hop,
            communities: list,
        }]);
    };
    let step = 1u64 << (32 - u32::from(v4.prefix_len()));
    let mut out = Vec::new();
    for k in 0..u64::from(n) {
        let addr = u64::from(u32::from(v4.network())) + k * step;
        let Ok(addr) = u32::try_from(addr) else {
            let span = count.map_or(prefix.span(), Spanned::span);
            return Err(ctx.at(
                span,
                format!("{at}.count"),
                "the generated prefixes run past 255.255.255.255",
            ));
        };
        let net = Ipv4Net::new(Ipv4Addr::from(addr), v4.prefix_len())
            .expect("length taken from a valid prefix");
        out.push(Announcement {
            prefix: IpNet::V4(net),
            as_path: as_path.clone(),
            next_hop,
            communities: list.clone(),
        });
    }
    Ok(out)
}

fn need<'a, T>(
    ctx: &Ctx<'_>,
    value: &'a Option<T>,
    span: Range<usize>,
    field: String,
    what: &str,
) -> Result<&'a T, ScenarioError> {
    value
        .as_ref()
        .ok_or_else(|| ctx.at(span, field, format!("missing: {what}")))
}

fn speaker_of(
    ctx: &Ctx<'_>,
    topo: &Topology,
    s: &Spanned<String>,
    field: String,
) -> Result<usize, ScenarioError> {
    topo.speaker_by_name(s.get_ref()).ok_or_else(|| {
        ctx.at(
            s.span(),
            field,
            format!("no NVA or gateway is named `{}`", s.get_ref()),
        )
    })
}

fn instance_of(
    ctx: &Ctx<'_>,
    topo: &Topology,
    speaker: Option<usize>,
    vnet_hint: Option<usize>,
    s: &Spanned<String>,
    field: String,
) -> Result<(usize, usize), ScenarioError> {
    let (vnet_name, inst) = match s.get_ref().split_once('/') {
        Some((v, i)) => (Some(v), i),
        None => (None, s.get_ref().as_str()),
    };
    let index = match inst {
        "IN_0" => 0,
        "IN_1" => 1,
        _ => return Err(ctx.at(s.span(), field, format!("`{inst}` is not IN_0 or IN_1"))),
    };
    let vnet = match vnet_name {
        Some(v) => topo
            .vnet_by_name(v)
            .ok_or_else(|| ctx.at(s.span(), &field, format!("no VNet is named `{v}`")))?,
        None => match (vnet_hint, speaker) {
            (Some(v), _) => v,
            (None, Some(sp)) => topo.speakers[sp]
                .peers
                .first()
                .map(|p| p.0)
                // A speaker with no session yet: its own VNet's route server.
                .or_else(|| {
                    let v = topo.speakers[sp].vnet;
                    topo.vnets[v].route_server.as_ref().map(|_| v)
                })
                .ok_or_else(|| {
                    ctx.at(s.span(), &field, "this speaker peers with no route server")
                })?,
            (None, None) => topo
                .vnets
                .iter()
                .position(|v| v.route_server.is_some())
                .ok_or_else(|| ctx.at(s.span(), &field, "no VNet has a route server"))?,
        },
    };
    if topo.vnets[vnet].route_server.is_none() {
        return Err(ctx.at(
            s.span(),
            field,
            format!("VNet `{}` has no route server", topo.vnets[vnet].name),
        ));
    }
    Ok((vnet, index))
}

fn build_action(
    ctx: &Ctx<'_>,
    topo: &Topology,
    ev: &Spanned<RawEvent>,
    e: usize,
) -> Result<Action, ScenarioError> {
    let span = ev.span();
    let ev = ev.get_ref();
    let f = |name: &str| format!("event[{e}].{name}");
    let speaker = || -> Result<usize, ScenarioError> {
        let node = need(
            ctx,
            &ev.node,
            span.clone(),
            f("node"),
            "`node` (the NVA or gateway)",
        )?;
        speaker_of(ctx, topo, node, f("node"))
    };
    let rs_vnet = || -> Result<usize, ScenarioError> {
        match &ev.vnet {
            Some(v) => {
                let i = topo.vnet_by_name(v.get_ref()).ok_or_else(|| {
                    ctx.at(
                        v.span(),
                        f("vnet"),
                        format!("no VNet is named `{}`", v.get_ref()),
                    )
                })?;
                if topo.vnets[i].route_server.is_none() {
                    return Err(ctx.at(v.span(), f("vnet"), "this VNet has no route server"));
                }
                Ok(i)
            }
            None => topo
                .vnets
                .iter()
                .position(|v| v.route_server.is_some())
                .ok_or_else(|| ctx.at(span.clone(), f("vnet"), "no VNet has a route server")),
        }
    };
    let prefixes = || -> Result<Vec<IpNet>, ScenarioError> {
        let mut out = Vec::new();
        if let Some(p) = &ev.prefix {
            out.push(ctx.prefix(p, &f("prefix"))?);
        }
        for (k, p) in ev.prefixes.iter().flatten().enumerate() {
            out.push(ctx.prefix(p, &f(&format!("prefixes[{k}]")))?);
        }
        Ok(out)
    };
    let one_instance = |sp: usize| -> Result<Option<(usize, usize)>, ScenarioError> {
        ev.instance
            .as_ref()
            .map(|s| instance_of(ctx, topo, Some(sp), None, s, f("instance")))
            .transpose()
    };
    Ok(match ev.action.get_ref().as_str() {
        "announce" => {
            let sp = speaker()?;
            let spec = &topo.speakers[sp];
            let p = need(ctx, &ev.prefix, span.clone(), f("prefix"), "`prefix`")?;
            let routes = announcement(ctx, p.clone(), ev.as_path.clone(), ev.next_hop.as_ref(), ev.communities.as_deref(), ev.count.as_ref(), spec.asn, spec.ip, &format!("event[{e}]"))?;
            Action::Announce {
                speaker: sp,
                instance: one_instance(sp)?,
                routes,
            }
        }
        "withdraw" => {
            let sp = speaker()?;
            let list = prefixes()?;
            if list.is_empty() {
                return Err(ctx.at(span, f("prefix"), "missing: `prefix` or `prefixes`"));
            }
            Action::Withdraw {
                speaker: sp,
                instance: one_instance(sp)?,
                prefixes: list,
            }
        }
        "resend" => Action::Resend { speaker: speaker()? },
        "prepend" => Action::Prepend {
            speaker: speaker()?,
            prefixes: prefixes()?,
            times: ev.times.unwrap_or(1),
        },
        "communities" => {
            let mut list = Vec::new();
            for (c, s) in ev.communities.iter().flatten().enumerate() {
                list.push(ctx.community(s, &f(&format!("communities[{c}]")))?);
            }
            Action::SetCommunities {
                speaker: speaker()?,
                prefixes: prefixes()?,
                communities: list,
            }
        }
        "stop_keepalives" => Action::StopKeepalives { speaker: speaker()? },
        "resume_keepalives" => Action::ResumeKeepalives { speaker: speaker()? },
        "crash" => Action::Crash { speaker: speaker()? },
        "restart" => Action::Restart { speaker: speaker()? },
        "reset" => Action::ResetSessions { speaker: speaker()? },
        "inject" => {
            let sp = speaker()?;
            let b = need(ctx, &ev.bytes, span.clone(), f("bytes"), "`bytes` (hex)")?;
            let bytes = hex(b.get_ref()).ok_or_else(|| ctx.at(b.span(), f("bytes"), "not an even-length hex string"))?;
            let instance = match one_instance(sp)? {
                Some(i) => i,
                None => *topo.speakers[sp]
                    .peers
                    .first()
                    .ok_or_else(|| ctx.at(span.clone(), f("node"), "this speaker peers with no route server"))?,
            };
            Action::Inject {
                speaker: sp,
                instance,
                bytes,
            }
        }
        "add_peer" => {
            let sp = speaker()?;
            let i = need(ctx, &ev.instance, span.clone(), f("instance"), "`instance` (IN_0, IN_1 or VNET/IN_x)")?;
            let instance = instance_of(ctx, topo, Some(sp), None, i, f("instance"))?;
            if topo.speakers[sp].peers.contains(&instance) {
                return Err(ctx.at(i.span(), f("instance"), "the speaker already peers with this instance"));
            }
            Action::AddPeer { speaker: sp, instance }
        }
        "instance_down" | "instance_up" => {
            let v = rs_vnet()?;
            let i = need(ctx, &ev.instance, span.clone(), f("instance"), "`instance` (IN_0 or IN_1)")?;
            let (vnet, instance) = instance_of(ctx, topo, None, Some(v), i, f("instance"))?;
            if ev.action.get_ref() == "instance_down" {
                Action::InstanceDown { vnet, instance }
            } else {
                Action::InstanceUp { vnet, instance }
            }
        }
        "add_peering" => {
            let from = need(ctx, &ev.from, span.clone(), f("from"), "`from` (VNet)")?;
            let to = need(ctx, &ev.to, span.clone(), f("to"), "`to` (VNet)")?;
            let a = topo
                .vnet_by_name(from.get_ref())
                .ok_or_else(|| ctx.at(from.span(), f("from"), format!("no VNet is named `{}`", from.get_ref())))?;
            let b = topo
                .vnet_by_name(to.get_ref())
                .ok_or_else(|| ctx.at(to.span(), f("to"), format!("no VNet is named `{}`", to.get_ref())))?;
            let use_remote = ev.use_remote_gateway.unwrap_or(false);
            if use_remote && topo.vnets[b].route_server.is_none() {
                return Err(ctx.at(to.span(), f("use_remote_gateway"), "the remote VNet has no route server"));
            }
            if a == b {
                return Err(ctx.at(to.span(), f("to"), "a VNet cannot peer with itself"));
            }
            Action::AddPeering(Peering {
                a,
                b,
                a_uses_remote_gateway: use_remote,
                b_uses_remote_gateway: false,
            })
        }
        "add_range" => {
            let v = need(ctx, &ev.vnet, span.clone(), f("vnet"), "`vnet`")?;
            let vnet = topo
                .vnet_by_name(v.get_ref())
                .ok_or_else(|| ctx.at(v.span(), f("vnet"), format!("no VNet is named `{}`", v.get_ref())))?;
            let r = need(ctx, &ev.range, span.clone(), f("range"), "`range`")?;
            Action::AddRange {
                vnet,
                range: ctx.prefix(r, &f("range"))?,
            }
        }
        "associate_route_table" => {
            let v = need(ctx, &ev.vnet, span.clone(), f("vnet"), "`vnet`")?;
            let vnet = topo
                .vnet_by_name(v.get_ref())
                .ok_or_else(|| ctx.at(v.span(), f("vnet"), format!("no VNet is named `{}`", v.get_ref())))?;
            let sn = need(ctx, &ev.subnet, span.clone(), f("subnet"), "`subnet`")?;
            let subnet = topo.vnets[vnet]
                .subnets
                .iter()
                .position(|s| &s.name == sn.get_ref())
                .ok_or_else(|| ctx.at(sn.span(), f("subnet"), format!("VNet `{}` has no subnet `{}`", topo.vnets[vnet].name, sn.get_ref())))?;
            let route_table = match &ev.route_table {
                None => None,
                Some(t) if t.get_ref().is_empty() => None,
                Some(t) => Some(
                    topo.route_tables
                        .iter()
                        .position(|r| &r.name == t.get_ref())
                        .ok_or_else(|| ctx.at(t.span(), f("route_table"), format!("no route table is named `{}`", t.get_ref())))?,
                ),
            };
            Action::AssociateRouteTable {
                vnet,
                subnet,
                route_table,
            }
        }
        "branch_to_branch" => Action::BranchToBranch {
            vnet: rs_vnet()?,
            on: *need(ctx, &ev.on, span.clone(), f("on"), "`on` (true or false)")?,
        },
        "preference" => {
            let p = need(ctx, &ev.preference, span.clone(), f("preference"), "`preference`")?;
            Action::Preference {
                vnet: rs_vnet()?,
                preference: parse_preference(p.get_ref())
                    .ok_or_else(|| ctx.at(p.span(), f("preference"), format!("`{}` is not ExpressRoute, VpnGateway or ASPath", p.get_ref())))?,
            }
        }
        "deploy_route_server" => {
            let v = need(ctx, &ev.vnet, span.clone(), f("vnet"), "`vnet`")?;
            let vnet = rs_vnet()?;
            if topo.vnets[vnet].route_server.as_ref().is_some_and(|r| r.deployed) {
                return Err(ctx.at(v.span(), f("vnet"), "this route server is deployed at time zero (declare it with `deployed = false`)"));
            }
            Action::DeployRouteServer { vnet }
        }
        "as_override" => {
            let sp = speaker()?;
            if topo.speakers[sp].kind != SpeakerKind::Nva {
                return Err(ctx.at(ev.node.as_ref().map_or(span.clone(), Spanned::span), f("node"), "only an NVA rewrites AS paths"));
            }
            Action::AsOverride {
                speaker: sp,
                on: *need(ctx, &ev.on, span.clone(), f("on"), "`on` (true or false)")?,
            }
        }
        "tunnel_down" | "tunnel_up" => {
            let t = need(ctx, &ev.tunnel, span.clone(), f("tunnel"), "`tunnel`")?;
            let tunnel = topo
                .tunnels
                .iter()
                .position(|x| &x.name == t.get_ref())
                .ok_or_else(|| ctx.at(t.span(), f("tunnel"), format!("no tunnel is named `{}`", t.get_ref())))?;
            Action::TunnelState {
                tunnel,
                up: ev.action.get_ref() == "tunnel_up",
            }
        }
        other => {
            return Err(ctx.at(
                ev.action.span(),
                f("do"),
                format!(
                    "unknown action `{other}` (announce, withdraw, resend, prepend, communities, stop_keepalives, resume_keepalives, crash, restart, reset, inject, add_peer, instance_down, instance_up, add_peering, add_range, associate_route_table, branch_to_branch, preference, deploy_route_server, as_override, tunnel_down, tunnel_up)"
                ),
            ))
        }
    })
}

fn hex(text: &str) -> Option<Vec<u8>> {
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if t.len() % 2 != 0 {
        return None;
    }
    (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok())
        .collect()
}

fn build_check(
    ctx: &Ctx<'_>,
    topo: &Topology,
    ex: &Spanned<RawExpect>,
    x: usize,
) -> Result<Check, ScenarioError> {
    let span = ex.span();
    let ex = ex.get_ref();
    let f = |name: &str| format!("expect[{x}].{name}");
    let vm = || -> Result<usize, ScenarioError> {
        let v = need(ctx, &ex.vm, span.clone(), f("vm"), "`vm`")?;
        topo.vm_by_name(v.get_ref()).ok_or_else(|| {
            ctx.at(
                v.span(),
                f("vm"),
                format!("no VM or NVA is named `{}`", v.get_ref()),
            )
        })
    };
    let speaker = || -> Result<usize, ScenarioError> {
        let n = need(
            ctx,
            &ex.node,
            span.clone(),
            f("node"),
            "`node` (an NVA or gateway)",
        )?;
        speaker_of(ctx, topo, n, f("node"))
    };
    let prefix = || -> Result<IpNet, ScenarioError> {
        let p = need(ctx, &ex.prefix, span.clone(), f("prefix"), "`prefix`")?;
        ctx.prefix(p, &f("prefix"))
    };
    let addrs = |list: &Option<Vec<Spanned<String>>>,
                 name: &str|
     -> Result<Option<Vec<Ipv4Addr>>, ScenarioError> {
        let Some(list) = list else { return Ok(None) };
        let mut out = Vec::new();
        for (k, a) in list.iter().enumerate() {
            out.push(ctx.addr(a, &f(&format!("{name}[{k}]")))?);
        }
        out.sort();
        Ok(Some(out))
    };
    // A tunnel and the NVA at one of its ends (`node`).
    let tunnel_end = || -> Result<(usize, usize), ScenarioError> {
        let t = need(ctx, &ex.tunnel, span.clone(), f("tunnel"), "`tunnel`")?;
        let tunnel = topo
            .tunnels
            .iter()
            .position(|x| &x.name == t.get_ref())
            .ok_or_else(|| {
                ctx.at(
                    t.span(),
                    f("tunnel"),
                    format!("no tunnel is named `{}`", t.get_ref()),
                )
            })?;
        let sp = speaker()?;
        let tn = &topo.tunnels[tunnel];
        if sp != tn.a && sp != tn.b {
            return Err(ctx.at(
                ex.node.as_ref().map_or(span.clone(), Spanned::span),
                f("node"),
                format!(
                    "`{}` is not an end of tunnel `{}`",
                    topo.speakers[sp].name, tn.name
                ),
            ));
        }
        Ok((tunnel, sp))
    };
    let present = ex.present.unwrap_or(true);
    Ok(match ex.check.get_ref().as_str() {
        "route" => {
            let vm = vm()?;
            let p = need(ctx, &ex.prefix, span.clone(), f("prefix"), "`prefix`")?;
            let prefix = ctx.prefix_v4(p, &f("prefix"))?;
            let via = addrs(&ex.via, "via")?;
            if via.is_none() && present && ex.next_hop_type.is_none() {
                return Err(ctx.at(
                    span,
                    f("via"),
                    "missing: `via` (the exact next hops), `next_hop_type`, or `present = false`",
                ));
            }
            Check::Route {
                vm,
                prefix,
                present,
                via,
                next_hop_type: ex.next_hop_type.clone(),
            }
        }
        "session" => {
            let sp = speaker()?;
            let s = need(ctx, &ex.state, span.clone(), f("state"), "`state`")?;
            const STATES: [&str; 6] = [
                "Idle",
                "Connect",
                "Active",
                "OpenSent",
                "OpenConfirm",
                "Established",
            ];
            if !STATES.contains(&s.get_ref().as_str()) {
                return Err(ctx.at(
                    s.span(),
                    f("state"),
                    format!("`{}` is not one of {STATES:?}", s.get_ref()),
                ));
            }
            Check::Session {
                speaker: sp,
                instance: ex
                    .instance
                    .as_ref()
                    .map(|i| instance_of(ctx, topo, Some(sp), None, i, f("instance")))
                    .transpose()?,
                state: s.get_ref().clone(),
            }
        }
        "received" if ex.tunnel.is_some() => {
            let (tunnel, sp) = tunnel_end()?;
            Check::TunnelReceived {
                tunnel,
                speaker: sp,
                prefix: prefix()?,
                present,
                as_path: ex.as_path.clone(),
            }
        }
        "received" => {
            let sp = speaker()?;
            let mut communities = None;
            if let Some(list) = &ex.communities {
                let mut out = Vec::new();
                for (c, s) in list.iter().enumerate() {
                    out.push(ctx.community(s, &f(&format!("communities[{c}]")))?);
                }
                communities = Some(out);
            }
            Check::Received {
                speaker: sp,
                instance: ex
                    .instance
                    .as_ref()
                    .map(|i| instance_of(ctx, topo, Some(sp), None, i, f("instance")))
                    .transpose()?,
                prefix: prefix()?,
                present,
                as_path: ex.as_path.clone(),
                next_hops: addrs(&ex.next_hops, "next_hops")?,
                communities,
            }
        }
        "learned" => {
            let from = need(
                ctx,
                &ex.from,
                span.clone(),
                f("from"),
                "`from` (the NVA or gateway)",
            )?;
            let sp = speaker_of(ctx, topo, from, f("from"))?;
            let (vnet, instance) = match &ex.instance {
                Some(i) => {
                    let (v, k) = instance_of(ctx, topo, Some(sp), None, i, f("instance"))?;
                    (v, Some(k))
                }
                None => (
                    topo.speakers[sp]
                        .peers
                        .first()
                        .map(|p| p.0)
                        // No session yet: its own VNet's route server, deployed later.
                        .or_else(|| {
                            let v = topo.speakers[sp].vnet;
                            topo.vnets[v].route_server.as_ref().map(|_| v)
                        })
                        .ok_or_else(|| {
                            ctx.at(
                                from.span(),
                                f("from"),
                                "this speaker peers with no route server",
                            )
                        })?,
                    None,
                ),
            };
            Check::Learned {
                vnet,
                instance,
                speaker: sp,
                prefix: prefix()?,
                present,
                as_path: ex.as_path.clone(),
            }
        }
        "onprem" if ex.node.as_ref().is_some_and(|n| topo.circuit_by_name(n.get_ref()).is_some()) => {
            let circuit = ex.node.as_ref().and_then(|n| topo.circuit_by_name(n.get_ref())).expect("matched by the guard");
            Check::OnPremCircuit {
                circuit,
                prefix: prefix()?,
                present,
                as_path: ex.as_path.clone(),
            }
        }
        "tunnel" => {
            let (tunnel, sp) = tunnel_end()?;
            Check::TunnelSession {
                tunnel,
                speaker: sp,
                state: need(ctx, &ex.state, span.clone(), f("state"), "`state`")?.get_ref().clone(),
            }
        }
        "onprem" => {
            let sp = speaker()?;
            if topo.speakers[sp].kind == SpeakerKind::Nva {
                return Err(ctx.at(
                    ex.node.as_ref().map_or(span.clone(), Spanned::span),
                    f("node"),
                    "`onprem` checks need a gateway",
                ));
            }
            Check::OnPrem {
                gateway: sp,
                prefix: prefix()?,
                present,
                as_path: ex.as_path.clone(),
            }
        }
        "trace" => {
            let vm = vm()?;
            let to = need(ctx, &ex.to, span.clone(), f("to"), "`to` (an address)")?;
            let to = ctx.addr(to, &f("to"))?;
            let mut ends = need(ctx, &ex.ends, span.clone(), f("ends"), "`ends`")?.clone();
            ends.sort();
            Check::Trace { vm, to, ends }
        }
        "event" => Check::Event {
            contains: need(ctx, &ex.contains, span.clone(), f("contains"), "`contains`")?.clone(),
            present,
        },
        other => {
            return Err(ctx.at(
                ex.check.span(),
                f("check"),
                format!(
                "unknown check `{other}` (route, session, received, learned, onprem, tunnel, trace, event)"
            ),
            ))
        }
    })
}
