//! The `route_server_inputs` fuzz target's body, here so stable tests (proptest in
//! `tests/differential.rs`, fixed programs in `tests/fuzz_programs.rs`) run it too.
//!
//! [`route_server_inputs`] reads its bytes as a program run against a [`Lab`]: four NVAs,
//! the ExpressRoute and the VPN gateway (real `bgp_fsm` sessions exchanging real BGP
//! messages with the route server) announce, withdraw and re-send routes drawn from a
//! small pool (own-ASN and AS 0 paths, VNet ranges and subnets, supernets, NO_ADVERTISE,
//! a shared load-balancer next hop), sessions reset or are sent a malformed message and
//! come back, time passes, and the operator switches branch-to-branch and the hub routing
//! preference, changes the VNet ranges and the peered networks (every NVA answers the
//! ROUTE-REFRESH with its whole table, which may break the route limit) and shuts peers
//! down and starts them.
//!
//! The same steps drive the [reference model](crate::reference), which knows nothing of
//! the server: the harness tells it what each peer sent (the UPDATEs of each read, as the
//! lab's speakers pack them) and when sessions came up or went down (the server's
//! `PeerUp` / `PeerDown` events, checked against the speakers' own sessions); the model
//! predicts the rest. After every step the run checks that
//!
//! * the fabric the `Program` outputs built equals the server's view and the model's;
//! * every peer the model has up is Established on both ends, and the others are not;
//! * every such peer holds exactly what the model says it was sent (prefix, AS path,
//!   next hop, communities), and (checked at the end of the run) what the server says it
//!   advertised;
//! * each peer's learned-route count (Azure's `CountOfRoutesLearnedFromPeer`) is the
//!   model's;
//! * the route-limit teardowns are the model's, peer and count;
//! * the refused routes are the model's, per peer;
//! * nothing panics.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_fsm::State;
use bgp_wire::{AttrValue, Community, PathAttribute};
use ipnet::IpNet;

use crate::config::{Config, HubRoutingPreference, LimitCounting, PeerConfig, PeerKind};
use crate::reference::{self, Message, Model, ModelConfig};
use crate::server::Event;
use crate::testing::{nva_session, route, Lab};

struct Program<'a> {
    data: &'a [u8],
}

impl Program<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (first, rest) = self.data.split_first()?;
        self.data = rest;
        Some(*first)
    }
}

const POOL: [&str; 16] = [
    "0.0.0.0/0",
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.5.0/24",
    "10.2.0.0/16",
    "10.250.0.0/16",
    "10.250.1.0/24",
    "172.16.0.0/16",
    "172.16.1.0/24",
    "192.168.0.0/16",
    "192.168.1.0/24",
    "10.11.0.0/16",
    "10.11.3.0/24",
    "100.64.0.0/10",
    "203.0.113.0/24",
    "198.51.100.0/24",
];

fn pool(i: u8) -> IpNet {
    POOL[usize::from(i) % POOL.len()]
        .parse()
        .expect("pool prefixes parse")
}

/// (last octet, ASN, kind): four NVAs, the ExpressRoute and the VPN gateway.
const SPEAKERS: [(u8, u32, PeerKind); 6] = [
    (4, 65001, PeerKind::Nva),
    (5, 65002, PeerKind::Nva),
    (6, 65003, PeerKind::Nva),
    (7, 65004, PeerKind::Nva),
    (68, 65515, PeerKind::ExpressRoute),
    (69, 65515, PeerKind::VpnGateway),
];

fn address(i: usize) -> Ipv4Addr {
    let (last, _, kind) = SPEAKERS[i % SPEAKERS.len()];
    if kind.is_gateway() {
        Ipv4Addr::new(10, 1, 0, last)
    } else {
        Ipv4Addr::new(10, 1, 2, last)
    }
}

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 4);
const ROUTE_LIMIT: u32 = 12;

/// What one run did, so tests can tell a program exercised something.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct RunSummary {
    /// Steps run.
    pub steps: usize,
    /// The most prefixes programmed at once.
    pub max_programmed: usize,
    /// Events of the route server, all kinds.
    pub events: usize,
    /// Route-limit teardowns.
    pub limit_teardowns: usize,
    /// Routes rejected on import.
    pub rejected: usize,
    /// Routes received by the speakers, summed over the steps.
    pub received: usize,
}

/// Runs `data` as a program against a lab and the reference model; panics when they
/// disagree or an invariant breaks.
pub fn route_server_inputs(data: &[u8]) -> RunSummary {
    let mut program = Program { data };
    let flags = program.byte().unwrap_or(0);
    let width = usize::from(program.byte().unwrap_or(0) % 8) + 1;
    // A copy of a lab checked when it was built.
    let mut harness = Harness::established(Setup::from_flags(flags, width));
    let mut summary = RunSummary::default();
    for _ in 0..64 {
        let Some(op) = program.byte() else { break };
        let arg = program.byte().unwrap_or(0);
        let speaker = usize::from(arg) % SPEAKERS.len();
        match op % 12 {
            0..=3 => {
                let count = usize::from(program.byte().unwrap_or(1) % 4) + 1;
                let prefixes: Vec<IpNet> = (0..count)
                    .map(|_| pool(program.byte().unwrap_or(0)))
                    .collect();
                let attrs = attributes(&mut program, speaker);
                harness.announce(speaker, &prefixes, &attrs);
            }
            4 | 5 => {
                let prefixes: Vec<IpNet> =
                    (0..2).map(|_| pool(program.byte().unwrap_or(0))).collect();
                harness.withdraw(speaker, &prefixes);
            }
            6 => harness.reannounce(speaker),
            7 => harness.lab.reset_connection(speaker),
            8 => harness.lab.run_for(Duration::from_secs(u64::from(arg) * 4)),
            9 => {
                let now = harness.lab.now;
                match arg % 5 {
                    0 => {
                        let on = arg & 4 != 0;
                        harness.lab.server.set_branch_to_branch(now, on);
                        harness.model.set_branch_to_branch(on);
                    }
                    1 => {
                        let (preference, model) = match (arg >> 2) % 3 {
                            0 => (
                                HubRoutingPreference::ExpressRoute,
                                reference::Preference::ExpressRoute,
                            ),
                            1 => (
                                HubRoutingPreference::VpnGateway,
                                reference::Preference::VpnGateway,
                            ),
                            _ => (HubRoutingPreference::AsPath, reference::Preference::AsPath),
                        };
                        harness
                            .lab
                            .server
                            .set_hub_routing_preference(now, preference);
                        harness.model.set_preference(model);
                    }
                    2 => {
                        let ranges = vec![pool(arg >> 2), "10.1.0.0/16".parse().expect("range")];
                        harness.lab.server.set_vnet_prefixes(now, ranges.clone());
                        harness.model.set_vnet(ranges);
                    }
                    3 => {
                        // A spoke peered with or without "use the remote route server".
                        let range = pool(arg >> 3);
                        let uses = arg & 0x80 != 0;
                        let peered = vec![crate::config::PeeredVnet {
                            prefixes: vec![range],
                            uses_remote_route_server: uses,
                        }];
                        harness.lab.server.set_peered_vnets(now, peered);
                        harness.model.set_peered(vec![(range, uses)]);
                    }
                    _ => {
                        let address = IpAddr::V4(address(speaker));
                        if let Some(peer) = harness.lab.server.peer_by_address(address) {
                            if arg & 4 != 0 {
                                harness.lab.server.shutdown_peer(now, peer, Some("fuzz"));
                            } else {
                                harness.lab.server.start_peer(now, peer);
                            }
                        }
                    }
                }
                harness.lab.settle();
            }
            10 => {
                // One whole message of an unknown type (7..=255): NOTIFICATION 1/3, the
                // session drops (whole messages only: a partial one would corrupt the
                // speaker's next message, which the model cannot know).
                let mut bytes = vec![0xff; 16];
                bytes.extend_from_slice(&[0, 19, 7 + arg % 249]);
                harness.lab.inject(speaker, bytes);
            }
            _ => harness.lab.run_for(Duration::from_secs(200)),
        }
        harness.follow_events();
        harness.check();
        summary.steps += 1;
        summary.max_programmed = summary.max_programmed.max(harness.lab.fabric.len());
        summary.received += harness
            .lab
            .speakers
            .iter()
            .map(|s| s.received.len())
            .sum::<usize>();
    }
    harness.check_read_outs();
    let events = &harness.lab.events;
    summary.events = events.len();
    summary.limit_teardowns = events
        .iter()
        .filter(|e| matches!(e, Event::RouteLimitExceeded { .. }))
        .count();
    summary.rejected = events
        .iter()
        .map(|e| match e {
            Event::RoutesRejected { count, .. } => *count,
            _ => 0,
        })
        .sum();
    summary
}

fn attributes(program: &mut Program<'_>, speaker: usize) -> Vec<PathAttribute> {
    let shape = program.byte().unwrap_or(0);
    let own = SPEAKERS[speaker].1;
    let mut path = vec![own; usize::from(shape % 3) + 1];
    match (shape >> 2) % 8 {
        0 => path.push(65515),
        1 => path.push(0),
        2 => path.push(12076),
        _ => {}
    }
    if own == 65515 {
        // A gateway speaks iBGP: the path starts with the on-premises side.
        path.retain(|a| *a != 65515);
    }
    let next_hop = match (shape >> 5) % 4 {
        0 => Ipv4Addr::new(10, 1, 2, 100),
        _ => address(speaker),
    };
    let communities = if shape & 0x80 != 0 {
        vec![Community::NO_ADVERTISE]
    } else if shape & 0x10 != 0 {
        vec![Community::new(65001, 100)]
    } else {
        Vec::new()
    };
    route(&path, next_hop, &communities)
}

/// The model's view of a route the lab sends.
fn model_route(attrs: &[PathAttribute]) -> reference::Route {
    let mut route = reference::Route {
        as_path: Vec::new(),
        next_hop: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        communities: Vec::new(),
    };
    for a in attrs {
        match &a.value {
            AttrValue::AsPath(path) => {
                route.as_path = path.segments.iter().flat_map(|s| s.asns.clone()).collect();
            }
            AttrValue::NextHop(hop) => route.next_hop = IpAddr::V4(*hop),
            AttrValue::Communities(list) => route.communities = list.iter().map(|c| c.0).collect(),
            _ => {}
        }
    }
    route
}

/// The UPDATEs a lab speaker sends for `routes` in one burst: one per attribute set, in
/// the order the sets first appear; sets no valid UPDATE can carry (AS 0 in the path)
/// after the others, sent as built (see `Lab::announce`).
fn lab_messages(routes: &[(IpNet, Vec<PathAttribute>)]) -> Vec<Message> {
    let mut groups: Vec<(&Vec<PathAttribute>, Vec<IpNet>)> = Vec::new();
    for (prefix, attrs) in routes {
        match groups.iter_mut().find(|(a, _)| *a == attrs) {
            Some((_, list)) => list.push(*prefix),
            None => groups.push((attrs, vec![*prefix])),
        }
    }
    let (valid, malformed): (Vec<_>, Vec<_>) = groups
        .into_iter()
        .map(|(attrs, prefixes)| Message::Announce(prefixes, model_route(attrs)))
        .partition(|m| !matches!(m, Message::Announce(_, r) if r.as_path.contains(&0)));
    valid.into_iter().chain(malformed).collect()
}

/// What a run's configuration depends on, in canonical form (the key of the prebuilt
/// labs).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Setup {
    branch_to_branch: bool,
    revertive: bool,
    /// 0 ExpressRoute, 1 VpnGateway, 2 ASPath.
    preference: u8,
    /// 0 held + batch, 1 held + message, 2 unique prefixes.
    counting: u8,
    width: usize,
}

impl Setup {
    fn from_flags(flags: u8, width: usize) -> Self {
        Self {
            branch_to_branch: flags & 1 != 0,
            revertive: flags & 2 != 0,
            preference: match (flags >> 2) & 3 {
                1 => 1,
                2 => 2,
                _ => 0,
            },
            counting: ((flags >> 4) & 3).min(2),
            width,
        }
    }
}

thread_local! {
    /// Labs with every session established, one per setup, built once: a run starts
    /// from a copy, so a fuzzing execution pays for no OPEN exchange.
    static ESTABLISHED: std::cell::RefCell<std::collections::HashMap<Setup, Harness>> =
        std::cell::RefCell::default();
}

/// The lab, the reference model, and what the model expects the server to report.
#[derive(Clone)]
struct Harness {
    lab: Lab,
    model: Model,
    /// Events of the lab already followed.
    events_seen: usize,
    /// Route-limit teardowns the model predicted and the server has not yet reported:
    /// (speaker, count).
    expected_limits: VecDeque<(usize, usize)>,
    /// Refused routes per speaker, predicted and reported, since the last check.
    refused: Vec<(usize, usize)>,
}

impl Harness {
    /// A copy of the prebuilt lab for `setup` (built on first use).
    fn established(setup: Setup) -> Self {
        ESTABLISHED.with(|labs| {
            labs.borrow_mut()
                .entry(setup)
                .or_insert_with(|| Self::new(setup))
                .clone()
        })
    }

    fn new(setup: Setup) -> Self {
        let width = setup.width;
        let mut config = Config::azure(LOCAL, vec!["10.1.0.0/16".parse().expect("range")]);
        config.branch_to_branch = setup.branch_to_branch;
        config.extensions.revertive_preference = setup.revertive;
        let (counting, model_counting) = match setup.counting {
            0 => (
                LimitCounting::HeldPlusBatch,
                reference::Counting::HeldPlusBatch,
            ),
            1 => (
                LimitCounting::HeldPlusMessage,
                reference::Counting::HeldPlusMessage,
            ),
            _ => (
                LimitCounting::UniquePrefixes,
                reference::Counting::UniquePrefixes,
            ),
        };
        config.limits.counting = counting;
        config.limits.max_routes_per_peer = Some(ROUTE_LIMIT);
        config.limits.ecmp_width = width;
        let (preference, model_preference) = match setup.preference {
            1 => (
                HubRoutingPreference::VpnGateway,
                reference::Preference::VpnGateway,
            ),
            2 => (HubRoutingPreference::AsPath, reference::Preference::AsPath),
            _ => (
                HubRoutingPreference::ExpressRoute,
                reference::Preference::ExpressRoute,
            ),
        };
        config.hub_routing_preference = preference;
        for (i, (_, asn, kind)) in SPEAKERS.iter().enumerate() {
            let mut peer = PeerConfig::nva(IpAddr::V4(address(i)), *asn);
            peer.kind = *kind;
            config.peers.push(peer);
        }
        let model = Model::new(ModelConfig {
            local_asn: config.local_asn,
            local_address: LOCAL,
            vnet: config.vnet_prefixes.clone(),
            peered: Vec::new(),
            peers: SPEAKERS
                .iter()
                .map(|(_, _, kind)| match kind {
                    PeerKind::Nva => reference::Kind::Nva,
                    PeerKind::ExpressRoute => reference::Kind::ExpressRoute,
                    PeerKind::VpnGateway => reference::Kind::VpnGateway,
                })
                .collect(),
            branch_to_branch: config.branch_to_branch,
            preference: model_preference,
            revertive: config.extensions.revertive_preference,
            ecmp_width: width,
            route_limit: Some(ROUTE_LIMIT as usize),
            counting: model_counting,
            batch_window_ms: u64::try_from(config.limits.batch_window.as_millis())
                .expect("a window of less than 2^64 ms"),
        });
        let mut lab = Lab::new(config);
        for (i, (_, asn, _)) in SPEAKERS.iter().enumerate() {
            lab.add_speaker(IpAddr::V4(address(i)), nva_session(address(i), *asn));
        }
        let mut harness = Self {
            lab,
            model,
            events_seen: 0,
            expected_limits: VecDeque::new(),
            refused: vec![(0, 0); SPEAKERS.len()],
        };
        harness.follow_events();
        harness.check();
        // The setup's history is followed; copies need not carry it.
        harness.lab.events.clear();
        harness.events_seen = 0;
        for speaker in &mut harness.lab.speakers {
            speaker.events.clear();
        }
        harness
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(
            self.lab
                .now
                .saturating_duration_since(crate::Instant::ZERO)
                .as_millis(),
        )
        .expect("runs shorter than 2^64 ms")
    }

    /// The model reads `messages` from `speaker` (one read of the server).
    fn model_read(&mut self, speaker: usize, messages: &[Message]) {
        let now = self.now_ms();
        let outcome = self.model.read(speaker, now, messages);
        self.refused[speaker].0 += outcome.refused;
        if let Some(counted) = outcome.limit_exceeded {
            self.expected_limits.push_back((speaker, counted));
        }
    }

    fn up_on_both_ends(&self, speaker: usize) -> bool {
        let s = &self.lab.speakers[speaker];
        s.session.state() == State::Established
    }

    fn announce(&mut self, speaker: usize, prefixes: &[IpNet], attrs: &[PathAttribute]) {
        let sent = self.up_on_both_ends(speaker);
        self.lab.announce(speaker, prefixes, attrs);
        if sent {
            let routes: Vec<(IpNet, Vec<PathAttribute>)> =
                prefixes.iter().map(|p| (*p, attrs.to_vec())).collect();
            self.model_read(speaker, &lab_messages(&routes));
        }
    }

    fn withdraw(&mut self, speaker: usize, prefixes: &[IpNet]) {
        let sent = self.up_on_both_ends(speaker);
        self.lab.withdraw(speaker, prefixes);
        if sent {
            self.model_read(speaker, &[Message::Withdraw(prefixes.to_vec())]);
        }
    }

    fn reannounce(&mut self, speaker: usize) {
        let sent = self.up_on_both_ends(speaker);
        let all: Vec<IpNet> = self.lab.speakers[speaker]
            .announced
            .keys()
            .copied()
            .collect();
        self.lab.reannounce(speaker, &all);
        if sent && !all.is_empty() {
            self.model_read(speaker, &lab_messages(&self.table(speaker)));
        }
    }

    /// What speaker `i` announces, as it re-sends it.
    fn table(&self, i: usize) -> Vec<(IpNet, Vec<PathAttribute>)> {
        self.lab.speakers[i]
            .announced
            .iter()
            .map(|(p, a)| (*p, a.clone()))
            .collect()
    }

    fn speaker_of_peer(&self, peer: crate::PeerId) -> usize {
        self.lab
            .speakers
            .iter()
            .position(|s| self.lab.server.peer_by_address(s.address) == Some(peer))
            .expect("every peer is a speaker")
    }

    /// Follows the server's events since the last call: sessions up and down, refresh
    /// answers, and the reports to compare with the model's predictions.
    fn follow_events(&mut self) {
        while let Some(event) = self.lab.events.get(self.events_seen).cloned() {
            self.events_seen += 1;
            match event {
                Event::PeerUp { peer } => {
                    let i = self.speaker_of_peer(peer);
                    self.model.session_up(i);
                    // The speaker sends its table, then End-of-RIB, in two reads.
                    let table = self.table(i);
                    if !table.is_empty() {
                        self.model_read(i, &lab_messages(&table));
                    }
                    self.model_read(i, &[Message::EndOfRib]);
                }
                Event::PeerDown { peer, .. } => {
                    let i = self.speaker_of_peer(peer);
                    self.model.session_down(i);
                }
                Event::RouteRefreshSent { peer } => {
                    let i = self.speaker_of_peer(peer);
                    let table = self.table(i);
                    if !table.is_empty() {
                        self.model_read(i, &lab_messages(&table));
                    }
                    self.model_read(i, &[Message::EndOfRib]);
                }
                Event::RouteLimitExceeded { peer, counted, .. } => {
                    let i = self.speaker_of_peer(peer);
                    assert_eq!(
                        self.expected_limits.pop_front(),
                        Some((i, counted)),
                        "route-limit teardown of speaker {i} ({counted} counted) \
                         the model did not predict"
                    );
                }
                Event::RoutesRejected { peer, count, .. } => {
                    let i = self.speaker_of_peer(peer);
                    self.refused[i].1 += count;
                }
                _ => {}
            }
        }
    }

    /// What the server says it advertised (`list-advertised-routes`) is what each
    /// established speaker holds (checked once, at the end of a run: it formats every
    /// path as text).
    fn check_read_outs(&self) {
        let server = &self.lab.server;
        for (i, s) in self.lab.speakers.iter().enumerate() {
            let peer = server.peer_by_address(s.address).expect("configured");
            if server.peer_state(peer) != Some(State::Established) {
                continue;
            }
            let advertised: BTreeMap<IpNet, (String, IpAddr)> = server
                .advertised_routes(peer)
                .into_iter()
                .map(|r| (r.network, (r.as_path, r.next_hop)))
                .collect();
            let held: BTreeMap<IpNet, (String, IpAddr)> = s
                .received
                .iter()
                .map(|(p, a)| (*p, (crate::server::as_path_text(&a.as_path), a.next_hop)))
                .collect();
            assert_eq!(
                held, advertised,
                "speaker {i} holds other routes than the server says it advertised"
            );
        }
    }

    /// The invariants of the module documentation.
    fn check(&mut self) {
        let (lab, model) = (&self.lab, &self.model);
        let server = &lab.server;
        assert_eq!(
            &lab.fabric,
            server.fabric(),
            "fabric outputs and the server's view differ"
        );
        assert_eq!(
            &lab.fabric,
            model.programmed(),
            "the fabric is not what the reference model programs"
        );
        assert_eq!(
            self.expected_limits,
            VecDeque::new(),
            "route-limit teardowns predicted, not reported (speaker, count)"
        );
        for (i, (predicted, reported)) in self.refused.iter().enumerate() {
            assert_eq!(
                predicted, reported,
                "speaker {i}: refused routes, model vs server"
            );
        }
        for (i, s) in lab.speakers.iter().enumerate() {
            let peer = server.peer_by_address(s.address).expect("configured");
            let established = server.peer_state(peer) == Some(State::Established);
            assert_eq!(
                model.is_up(i),
                established,
                "speaker {i}: session up in the model vs the server"
            );
            if !established {
                continue;
            }
            assert_eq!(s.session.state(), State::Established, "speaker {i}'s end");
            // Compared in step, without building maps: this runs after every step.
            let sent = model.advertised(i);
            let same = s.received.len() == sent.len()
                && s.received.iter().zip(sent).all(|((p, a), (q, r))| {
                    p == q
                        && a.next_hop == r.next_hop
                        && a.as_path
                            .segments
                            .iter()
                            .flat_map(|s| &s.asns)
                            .eq(&r.as_path)
                        && a.communities
                            .iter()
                            .map(|c| c.0)
                            .eq(r.communities.iter().copied())
                });
            assert!(
                same,
                "speaker {i} holds other routes than the reference model sent it:\n\
                 holds {:?}\nmodel {sent:?}",
                s.received
            );
            let learned = server
                .metrics(peer)
                .expect("configured")
                .count_of_routes_learned_from_peer;
            assert_eq!(
                learned,
                model.learned_count(i),
                "speaker {i}: routes learned, server vs model"
            );
        }
        for counts in &mut self.refused {
            *counts = (0, 0);
        }
    }
}
