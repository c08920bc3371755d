//! The deterministic event loop: a virtual clock, a heap of timed deliveries (sequence
//! number for ties), route-server instances and speakers exchanging encoded BGP bytes over
//! links with latency.
//!
//! One step: take the earliest of (the next delivery, every instance's and session's
//! `poll_timeout`), advance the clock to it, make the one call it stands for, and queue
//! what that call output. Nothing reads a real clock; the same scenario and seed give the
//! same run, byte for byte.

mod fabric;
mod instance;
pub(crate) mod speaker;
mod tunnel;

pub use fabric::MSEE_ASN;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ipnet::IpNet;
use route_server::RouteAttrs;

use crate::effective::{self, EffectiveRoute, RouteView};
use crate::model::{Announcement, SpeakerKind, Topology};
use crate::scenario::{Action, Scenario};
use crate::Instant;
use instance::{Instance, InstanceAction, InstancePeer};
use speaker::{Speaker, SpeakerAction};

/// Upper bound on steps in one run: a livelock (two machines answering each other at the
/// same instant forever) ends the run with an error instead of hanging.
const MAX_STEPS: u64 = 50_000_000;

/// What travels on a link.
#[derive(Clone, Debug)]
enum Message {
    Offer,
    Accepted,
    Refused,
    Bytes(Vec<u8>),
    Closed,
}

#[derive(Clone, Debug)]
enum Delivery {
    /// To an instance from a speaker's link.
    ToInstance {
        speaker: usize,
        link: usize,
        conn: u64,
        message: Message,
    },
    /// To a speaker's link from its instance.
    ToSpeaker {
        speaker: usize,
        link: usize,
        conn: u64,
        message: Message,
    },
    /// The timeline's action number.
    Timeline(usize),
    /// To one end of an NVA-to-NVA tunnel from the other.
    Tunnel {
        tunnel: usize,
        end: usize,
        conn: u64,
        message: Message,
    },
}

#[derive(Debug)]
struct Queued {
    at: Instant,
    seq: u64,
    delivery: Delivery,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    /// Reversed: the heap pops the earliest, and the first queued among equals.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// An instance (`(VNet, instance index)`) and a speaker address.
type LinkKey = ((usize, usize), Ipv4Addr);

/// A connection offer waiting for the instance's answer: `(speaker, link, connection)`.
type PendingOffer = (usize, usize, u64);

/// One line of the event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// When.
    pub at: Instant,
    /// Who (a speaker's name, `hub/IN_0`, `timeline`).
    pub who: String,
    /// What.
    pub text: String,
}

/// A session as a table row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    /// The speaker.
    pub speaker: String,
    /// Its kind.
    pub kind: SpeakerKind,
    /// Its ASN.
    pub asn: u32,
    /// Its address.
    pub address: Ipv4Addr,
    /// The instance (`hub/IN_0`).
    pub instance: String,
    /// The instance's address.
    pub instance_address: Ipv4Addr,
    /// The speaker's FSM state.
    pub state: String,
    /// Routes it announces on this session.
    pub announced: usize,
    /// Routes it received on this session.
    pub received: usize,
}

/// Why a run stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunError(pub String);

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunError {}

/// The simulator: the network, its machines, the clock.
#[derive(Debug)]
pub struct Sim {
    /// The network as it is now (peerings and ranges change on the timeline).
    pub topology: Topology,
    timeline: Vec<crate::scenario::TimedAction>,
    now: Instant,
    seq: u64,
    next_conn: u64,
    steps: u64,
    heap: BinaryHeap<Queued>,
    /// Instances by `(VNet, instance index)`.
    instances: BTreeMap<(usize, usize), Instance>,
    /// The connection each instance holds per speaker address, by id.
    instance_conns: BTreeMap<((usize, usize), Ipv4Addr), u64>,
    /// Offers waiting for the instance's answer, by speaker address.
    pending_offers: BTreeMap<LinkKey, PendingOffer>,
    speakers: Vec<Speaker>,
    log: Vec<LogLine>,
    /// Per VM: its route server's VNet and its position among the VMs that one serves.
    placement: Vec<Option<(usize, usize)>>,
    /// Per VNet: the ranges of the VNets peered with it.
    peered_cache: Vec<Vec<IpNet>>,
    /// Program changes counted (for benchmarks).
    pub program_changes: u64,
    /// Bumped by every timeline action applied and every programming change: effective
    /// routes computed at one generation hold until it moves.
    generation: u64,
    /// Bytes carried by links (for benchmarks).
    pub bytes_carried: u64,
    /// The scenario's seed.
    seed: u64,
    /// NVA-to-NVA tunnels, as [`Topology::tunnels`].
    tunnels: Vec<tunnel::TunnelLink>,
    /// Per speaker: what it passes on from circuits and tunnels (see `fabric`).
    derived: Vec<BTreeMap<IpNet, Announcement>>,
    /// Per VNet: what gateways program into its NICs themselves.
    direct: Vec<BTreeMap<IpNet, Vec<IpAddr>>>,
    /// Whether the topology has circuits, tunnels or self-programming gateways.
    extras: bool,
    /// What muted NVAs wrote on their tunnels: `(tunnel, end, connection, bytes)`,
    /// delivered when they send again (the stream stalls, as on their other sessions).
    tunnel_stalled: Vec<(usize, usize, u64, Vec<u8>)>,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Sim {
    /// A simulator for `scenario`, at time zero, every running speaker booting.
    pub fn new(scenario: &Scenario) -> Self {
        let topology = scenario.topology.clone();
        let mut sim = Self {
            topology,
            timeline: scenario.timeline.clone(),
            now: Instant::ZERO,
            seq: 0,
            next_conn: 1,
            steps: 0,
            heap: BinaryHeap::new(),
            instances: BTreeMap::new(),
            instance_conns: BTreeMap::new(),
            pending_offers: BTreeMap::new(),
            speakers: Vec::new(),
            log: Vec::new(),
            placement: Vec::new(),
            peered_cache: Vec::new(),
            program_changes: 0,
            generation: 0,
            bytes_carried: 0,
            seed: scenario.seed,
            tunnels: Vec::new(),
            derived: vec![BTreeMap::new(); scenario.topology.speakers.len()],
            direct: vec![BTreeMap::new(); scenario.topology.vnets.len()],
            extras: false,
            tunnel_stalled: Vec::new(),
        };
        sim.drop_invalid_fabric();
        sim.recompute_placement();
        let seed = scenario.seed;
        for v in 0..sim.topology.vnets.len() {
            if sim.topology.vnets[v]
                .route_server
                .as_ref()
                .is_some_and(|rs| rs.deployed)
            {
                sim.start_route_server(v);
            }
        }
        for (k, spec) in scenario.topology.speakers.iter().enumerate() {
            // A topology built by hand (not through the scenario parser) may name an
            // instance that does not exist: that session is left out, and said so.
            let mut addresses: Vec<Option<Ipv4Addr>> = Vec::new();
            for (v, i) in &spec.peers {
                let address = sim
                    .topology
                    .vnets
                    .get(*v)
                    .and_then(|vnet| vnet.route_server.as_ref())
                    .and_then(|rs| rs.instances.get(*i).copied());
                if address.is_none() {
                    sim.note(
                        spec.name.clone(),
                        format!("no route-server instance {i} in VNet #{v}: session left out"),
                    );
                }
                addresses.push(address);
            }
            match Speaker::new(
                spec,
                &addresses,
                splitmix(seed.wrapping_add(1000 + k as u64)),
                Instant::ZERO,
            ) {
                Ok(speaker) => sim.speakers.push(speaker),
                Err(e) => {
                    sim.note(spec.name.clone(), format!("cannot run: {e}"));
                    sim.speakers.push(Speaker::broken());
                }
            }
        }
        for k in 0..sim.speakers.len() {
            if sim.topology.speakers[k].running {
                let mut out = Vec::new();
                sim.speakers[k].start(Instant::ZERO, &mut out);
                sim.speaker_actions(k, out);
            }
        }
        sim.build_tunnels();
        sim.extras = sim.has_fabric_extras();
        if sim.extras {
            sim.settle_fabric();
        }
        for (t, action) in scenario.timeline.iter().enumerate() {
            let at = Instant::ZERO + action.at;
            sim.push(at, Delivery::Timeline(t));
        }
        sim
    }

    /// Virtual time now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The event log so far.
    pub fn log(&self) -> &[LogLine] {
        &self.log
    }

    fn push(&mut self, at: Instant, delivery: Delivery) {
        self.seq += 1;
        self.heap.push(Queued {
            at,
            seq: self.seq,
            delivery,
        });
    }

    fn note(&mut self, who: String, text: String) {
        self.log.push(LogLine {
            at: self.now,
            who,
            text,
        });
    }

    fn instance_name(&self, rs: (usize, usize)) -> String {
        format!("{}/IN_{}", self.topology.vnets[rs.0].name, rs.1)
    }

    /// Peered VNets of `v` as its route server sees them: `(ranges, uses v's route server)`.
    fn peered_of(&self, v: usize) -> Vec<(Vec<IpNet>, bool)> {
        self.topology
            .peerings
            .iter()
            .filter_map(|p| {
                if p.b == v {
                    Some((
                        self.topology.vnets[p.a].ranges.clone(),
                        p.a_uses_remote_gateway,
                    ))
                } else if p.a == v {
                    Some((
                        self.topology.vnets[p.b].ranges.clone(),
                        p.b_uses_remote_gateway,
                    ))
                } else {
                    None
                }
            })
            .collect()
    }

    fn latency(&self) -> Duration {
        self.topology.link_latency
    }

    fn speaker_actions(&mut self, k: usize, actions: Vec<SpeakerAction>) {
        let at = self.now + self.latency();
        for action in actions {
            match action {
                SpeakerAction::Connect { link } => {
                    let conn = self.next_conn;
                    self.next_conn += 1;
                    self.speakers[k].links[link].attempt = Some(conn);
                    if !self.speakers[k].muted {
                        self.push(
                            at,
                            Delivery::ToInstance {
                                speaker: k,
                                link,
                                conn,
                                message: Message::Offer,
                            },
                        );
                    }
                }
                SpeakerAction::Send { link, conn, bytes } => {
                    // The connection the bytes were written on, even if the speaker
                    // closed it since (its NOTIFICATION arrives before the close).
                    let conn = Some(conn);
                    if let (true, Some(conn)) = (self.speakers[k].muted, conn) {
                        self.speakers[k].stalled.push((link, conn, bytes));
                    } else if let Some(conn) = conn {
                        self.bytes_carried += bytes.len() as u64;
                        self.push(
                            at,
                            Delivery::ToInstance {
                                speaker: k,
                                link,
                                conn,
                                message: Message::Bytes(bytes),
                            },
                        );
                    }
                }
                SpeakerAction::Close { link } => {
                    // The connection id was cleared by the speaker; close the instance's
                    // end of whatever connection it holds from this link.
                    let rs = self.speakers[k].links[link].rs;
                    let address = self.topology.speakers[k].ip;
                    if let Some(conn) = self.instance_conns.get(&(rs, address)).copied() {
                        if !self.speakers[k].muted {
                            self.push(
                                at,
                                Delivery::ToInstance {
                                    speaker: k,
                                    link,
                                    conn,
                                    message: Message::Closed,
                                },
                            );
                        }
                    }
                }
                SpeakerAction::Log(text) => {
                    let who = self.topology.speakers[k].name.clone();
                    self.note(who, text);
                }
            }
        }
    }

    fn link_of(&self, rs: (usize, usize), address: IpAddr) -> Option<(usize, usize)> {
        let IpAddr::V4(address) = address else {
            return None;
        };
        let k = self.topology.speaker_by_ip(address)?;
        let link = self.speakers[k].links.iter().position(|l| l.rs == rs)?;
        Some((k, link))
    }

    /// Gives instance `rs` (if it exists) one input through `input`, then carries out the
    /// actions it answered with.
    fn drive_instance(
        &mut self,
        rs: (usize, usize),
        input: impl FnOnce(&mut Instance, &mut Vec<InstanceAction>),
    ) {
        let mut out = Vec::new();
        if let Some(i) = self.instances.get_mut(&rs) {
            input(i, &mut out);
        }
        self.instance_actions(rs, out);
    }

    /// [`Self::drive_instance`] on every instance of VNet `vnet`, in instance order, each
    /// instance's actions carried out before the next instance is given its input.
    fn drive_vnet_instances(
        &mut self,
        vnet: usize,
        mut input: impl FnMut(&mut Instance, &mut Vec<InstanceAction>),
    ) {
        let keys: Vec<(usize, usize)> = self
            .instances
            .keys()
            .filter(|k| k.0 == vnet)
            .copied()
            .collect();
        for rs in keys {
            self.drive_instance(rs, &mut input);
        }
    }

    fn instance_actions(&mut self, rs: (usize, usize), actions: Vec<InstanceAction>) {
        let at = self.now + self.latency();
        for action in actions {
            match action {
                InstanceAction::Send { to, bytes } => {
                    let IpAddr::V4(a) = to else { continue };
                    if let (Some((k, link)), Some(conn)) = (
                        self.link_of(rs, to),
                        self.instance_conns.get(&(rs, a)).copied(),
                    ) {
                        self.bytes_carried += bytes.len() as u64;
                        self.push(
                            at,
                            Delivery::ToSpeaker {
                                speaker: k,
                                link,
                                conn,
                                message: Message::Bytes(bytes),
                            },
                        );
                    }
                }
                InstanceAction::Accept { from } | InstanceAction::Refuse { from } => {
                    let accepted = matches!(action, InstanceAction::Accept { .. });
                    let IpAddr::V4(a) = from else { continue };
                    if let Some((k, link, conn)) = self.pending_offers.remove(&(rs, a)) {
                        if accepted {
                            self.instance_conns.insert((rs, a), conn);
                        }
                        self.push(
                            at,
                            Delivery::ToSpeaker {
                                speaker: k,
                                link,
                                conn,
                                message: if accepted {
                                    Message::Accepted
                                } else {
                                    Message::Refused
                                },
                            },
                        );
                    }
                }
                InstanceAction::Close { to } => {
                    let IpAddr::V4(a) = to else { continue };
                    if let (Some((k, link)), Some(conn)) =
                        (self.link_of(rs, to), self.instance_conns.remove(&(rs, a)))
                    {
                        self.push(
                            at,
                            Delivery::ToSpeaker {
                                speaker: k,
                                link,
                                conn,
                                message: Message::Closed,
                            },
                        );
                    }
                }
                InstanceAction::Program { prefix, next_hops } => {
                    self.program_changes += 1;
                    self.generation += 1;
                    let who = self.instance_name(rs);
                    let text = if next_hops.is_empty() {
                        format!("unprograms {prefix}")
                    } else {
                        let hops: Vec<String> = next_hops.iter().map(ToString::to_string).collect();
                        format!("programs {prefix} -> {}", hops.join(", "))
                    };
                    self.note(who, text);
                }
                InstanceAction::Log(text) => {
                    let who = self.instance_name(rs);
                    self.note(who, text);
                }
            }
        }
    }

    fn deliver(&mut self, delivery: Delivery) {
        match delivery {
            Delivery::ToInstance {
                speaker,
                link,
                conn,
                message,
            } => {
                let rs = self.speakers[speaker].links[link].rs;
                let address = self.topology.speakers[speaker].ip;
                let mut out = Vec::new();
                let now = self.now;
                let Some(instance) = self.instances.get_mut(&rs) else {
                    return;
                };
                match message {
                    Message::Offer => {
                        if instance.is_up() {
                            self.pending_offers
                                .insert((rs, address), (speaker, link, conn));
                            instance.offer(now, address, &mut out);
                        } else {
                            let at = now + self.topology.link_latency;
                            self.push(
                                at,
                                Delivery::ToSpeaker {
                                    speaker,
                                    link,
                                    conn,
                                    message: Message::Refused,
                                },
                            );
                        }
                    }
                    Message::Bytes(bytes) => {
                        if self.instance_conns.get(&(rs, address)) == Some(&conn) {
                            instance.received(now, address, &bytes, &mut out);
                        }
                    }
                    Message::Closed => {
                        if self.instance_conns.get(&(rs, address)) == Some(&conn) {
                            self.instance_conns.remove(&(rs, address));
                            instance.closed(now, address, &mut out);
                        }
                    }
                    Message::Accepted | Message::Refused => {}
                }
                self.instance_actions(rs, out);
            }
            Delivery::ToSpeaker {
                speaker,
                link,
                conn,
                message,
            } => {
                let mut out = Vec::new();
                let now = self.now;
                let s = &mut self.speakers[speaker];
                match message {
                    Message::Accepted => {
                        if !s.accepted(now, link, conn, &mut out) {
                            // The speaker gave up on that attempt (or died): the instance's
                            // end of it closes.
                            let rs = s.links[link].rs;
                            let at = now + self.topology.link_latency;
                            self.push(
                                at,
                                Delivery::ToInstance {
                                    speaker,
                                    link,
                                    conn,
                                    message: Message::Closed,
                                },
                            );
                            let _ = rs;
                        }
                    }
                    Message::Refused => s.refused(now, link, conn, &mut out),
                    Message::Bytes(bytes) => s.received(now, link, conn, &bytes, &mut out),
                    Message::Closed => s.closed(now, link, conn, &mut out),
                    Message::Offer => {}
                }
                self.speaker_actions(speaker, out);
            }
            Delivery::Timeline(t) => {
                let action = self.timeline[t].action.clone();
                self.apply(&action);
            }
            Delivery::Tunnel {
                tunnel,
                end,
                conn,
                message,
            } => self.deliver_tunnel(tunnel, end, conn, message),
        }
    }

    /// Applies one timeline action now.
    pub fn apply(&mut self, action: &Action) {
        self.generation += 1;
        let now = self.now;
        let name = |sim: &Self, k: usize| sim.topology.speakers[k].name.clone();
        let link_for = |sim: &Self, k: usize, rs: Option<(usize, usize)>| -> Option<usize> {
            rs.and_then(|rs| sim.speakers[k].links.iter().position(|l| l.rs == rs))
        };
        match action {
            Action::Announce {
                speaker,
                instance,
                routes,
            } => {
                let text = format!(
                    "{} announces {}{}",
                    name(self, *speaker),
                    describe_routes(routes),
                    instance
                        .map(|i| format!(" to {}", self.instance_name(i)))
                        .unwrap_or_default()
                );
                self.note("timeline".into(), text);
                let only = link_for(self, *speaker, *instance);
                if instance.is_some() && only.is_none() {
                    return;
                }
                let routes: Vec<Announcement> = routes
                    .iter()
                    .filter(|r| !self.derived_here(*speaker, &r.prefix))
                    .cloned()
                    .collect();
                let mut out = Vec::new();
                self.speakers[*speaker].announce(now, only, &routes, &mut out);
                self.speaker_actions(*speaker, out);
            }
            Action::Withdraw {
                speaker,
                instance,
                prefixes,
            } => {
                let list: Vec<String> = prefixes.iter().map(ToString::to_string).collect();
                let text = format!("{} withdraws {}", name(self, *speaker), list.join(", "));
                self.note("timeline".into(), text);
                let only = link_for(self, *speaker, *instance);
                let prefixes: Vec<IpNet> = prefixes
                    .iter()
                    .filter(|p| !self.derived_here(*speaker, p))
                    .copied()
                    .collect();
                let mut out = Vec::new();
                self.speakers[*speaker].withdraw(now, only, &prefixes, &mut out);
                self.speaker_actions(*speaker, out);
            }
            Action::Resend { speaker } => {
                let text = format!("{} re-sends its whole table", name(self, *speaker));
                self.note("timeline".into(), text);
                let mut out = Vec::new();
                self.speakers[*speaker].resend(now, &mut out);
                self.speaker_actions(*speaker, out);
            }
            Action::Prepend {
                speaker,
                prefixes,
                times,
            } => {
                let asn = self.topology.speakers[*speaker].asn;
                let text = format!(
                    "{} prepends its AS {asn} {times} more time(s)",
                    name(self, *speaker)
                );
                self.note("timeline".into(), text);
                self.rewrite(*speaker, prefixes, |a| {
                    for _ in 0..*times {
                        a.as_path.insert(0, asn);
                    }
                });
            }
            Action::SetCommunities {
                speaker,
                prefixes,
                communities,
            } => {
                let list: Vec<String> = communities
                    .iter()
                    .map(|(a, b)| format!("{a}:{b}"))
                    .collect();
                let text = format!(
                    "{} sets communities [{}]",
                    name(self, *speaker),
                    list.join(" ")
                );
                self.note("timeline".into(), text);
                self.rewrite(*speaker, prefixes, |a| {
                    a.communities.clone_from(communities)
                });
            }
            Action::StopKeepalives { speaker } => {
                let text = format!(
                    "{} stops sending (keepalives included)",
                    name(self, *speaker)
                );
                self.note("timeline".into(), text);
                self.speakers[*speaker].muted = true;
            }
            Action::ResumeKeepalives { speaker } => {
                let text = format!("{} sends again", name(self, *speaker));
                self.note("timeline".into(), text);
                let k = *speaker;
                self.speakers[k].muted = false;
                // The stalled stream goes out now, on connections still open.
                let at = self.now + self.latency();
                self.flush_tunnel_stalled(k);
                for (link, conn, bytes) in std::mem::take(&mut self.speakers[k].stalled) {
                    if self.speakers[k].links[link].conn == Some(conn) {
                        self.bytes_carried += bytes.len() as u64;
                        self.push(
                            at,
                            Delivery::ToInstance {
                                speaker: k,
                                link,
                                conn,
                                message: Message::Bytes(bytes),
                            },
                        );
                    }
                }
            }
            Action::Crash { speaker } => {
                let text = format!("{} crashes", name(self, *speaker));
                self.note("timeline".into(), text);
                self.speakers[*speaker].crash();
                self.tunnel_ends_follow(*speaker, false);
            }
            Action::Restart { speaker } => {
                let text = format!("{} boots", name(self, *speaker));
                self.note("timeline".into(), text);
                let mut out = Vec::new();
                self.speakers[*speaker].start(now, &mut out);
                self.speaker_actions(*speaker, out);
                self.tunnel_ends_follow(*speaker, true);
            }
            Action::ResetSessions { speaker } => {
                let text = format!("{}'s TCP connections reset", name(self, *speaker));
                self.note("timeline".into(), text);
                let mut out = Vec::new();
                self.speakers[*speaker].reset(now, &mut out);
                self.speaker_actions(*speaker, out);
            }
            Action::Inject {
                speaker,
                instance,
                bytes,
            } => {
                let text = format!(
                    "{} sends {} crafted bytes to {}",
                    name(self, *speaker),
                    bytes.len(),
                    self.instance_name(*instance)
                );
                self.note("timeline".into(), text);
                let address = self.topology.speakers[*speaker].ip;
                if let (Some(conn), Some(link)) = (
                    self.instance_conns.get(&(*instance, address)).copied(),
                    link_for(self, *speaker, Some(*instance)),
                ) {
                    let at = now + self.latency();
                    self.push(
                        at,
                        Delivery::ToInstance {
                            speaker: *speaker,
                            link,
                            conn,
                            message: Message::Bytes(bytes.clone()),
                        },
                    );
                }
            }
            Action::AddPeer { speaker, instance } => {
                let text = format!(
                    "{} gets a session to {}",
                    name(self, *speaker),
                    self.instance_name(*instance)
                );
                self.note("timeline".into(), text);
                let spec = self.topology.speakers[*speaker].clone();
                let peer = InstancePeer {
                    address: spec.ip,
                    asn: spec.asn,
                    kind: spec.kind,
                    inbound_map: spec.inbound_map.clone(),
                    outbound_map: spec.outbound_map.clone(),
                };
                self.drive_instance(*instance, |i, out| i.add_peer(now, peer, out));
                let Some(address) = self.topology.vnets[instance.0]
                    .route_server
                    .as_ref()
                    .map(|r| r.instances[instance.1])
                else {
                    return;
                };
                let seed = splitmix(self.seq ^ (*speaker as u64) << 16);
                let mut out = Vec::new();
                match self.speakers[*speaker]
                    .add_link(&spec, *instance, address, seed, now, &mut out)
                {
                    Ok(()) => self.topology.speakers[*speaker].peers.push(*instance),
                    Err(e) => self.note(spec.name.clone(), format!("cannot add the session: {e}")),
                }
                self.speaker_actions(*speaker, out);
            }
            Action::InstanceDown { vnet, instance } => {
                let rs = (*vnet, *instance);
                let text = format!("{} goes down", self.instance_name(rs));
                self.note("timeline".into(), text);
                if let Some(i) = self.instances.get_mut(&rs) {
                    i.go_down();
                }
                let at = now + self.latency();
                let conns: Vec<(Ipv4Addr, u64)> = self
                    .instance_conns
                    .iter()
                    .filter(|((r, _), _)| *r == rs)
                    .map(|((_, a), c)| (*a, *c))
                    .collect();
                for (address, conn) in conns {
                    self.instance_conns.remove(&(rs, address));
                    if let Some((k, link)) = self.link_of(rs, IpAddr::V4(address)) {
                        self.push(
                            at,
                            Delivery::ToSpeaker {
                                speaker: k,
                                link,
                                conn,
                                message: Message::Closed,
                            },
                        );
                    }
                }
            }
            Action::InstanceUp { vnet, instance } => {
                let rs = (*vnet, *instance);
                let text = format!("{} comes back", self.instance_name(rs));
                self.note("timeline".into(), text);
                self.drive_instance(rs, |i, out| i.come_up(now, out));
            }
            Action::AddPeering(peering) => {
                let text = format!(
                    "peering {} -> {} created{}",
                    self.topology.vnets[peering.a].name,
                    self.topology.vnets[peering.b].name,
                    if peering.a_uses_remote_gateway {
                        " (uses the remote route server)"
                    } else {
                        ""
                    }
                );
                self.note("timeline".into(), text);
                self.topology.peerings.push(peering.clone());
                self.recompute_placement();
                self.refresh_peered(&[peering.a, peering.b]);
            }
            Action::AddRange { vnet, range } => {
                let text = format!(
                    "VNet {} gets range {range}",
                    self.topology.vnets[*vnet].name
                );
                self.note("timeline".into(), text);
                self.topology.vnets[*vnet].ranges.push(*range);
                self.recompute_placement();
                let ranges = self.topology.vnets[*vnet].ranges.clone();
                self.drive_vnet_instances(*vnet, |i, out| {
                    i.set_vnet_prefixes(now, ranges.clone(), out)
                });
                // Route servers peered with it see a changed peered range.
                let others: Vec<usize> = self
                    .topology
                    .peerings
                    .iter()
                    .filter_map(|p| {
                        if p.a == *vnet {
                            Some(p.b)
                        } else if p.b == *vnet {
                            Some(p.a)
                        } else {
                            None
                        }
                    })
                    .collect();
                self.refresh_peered(&others);
            }
            Action::AssociateRouteTable {
                vnet,
                subnet,
                route_table,
            } => {
                let text = format!(
                    "subnet {}/{} gets route table {}",
                    self.topology.vnets[*vnet].name,
                    self.topology.vnets[*vnet].subnets[*subnet].name,
                    route_table.map_or("(none)".to_string(), |t| self.topology.route_tables[t]
                        .name
                        .clone())
                );
                self.note("timeline".into(), text);
                self.topology.vnets[*vnet].subnets[*subnet].route_table = *route_table;
            }
            Action::BranchToBranch { vnet, on } => {
                let text = format!(
                    "branch-to-branch {} on {}",
                    if *on { "on" } else { "off" },
                    self.topology.vnets[*vnet].name
                );
                self.note("timeline".into(), text);
                if let Some(rs) = self.topology.vnets[*vnet].route_server.as_mut() {
                    rs.branch_to_branch = *on;
                }
                self.drive_vnet_instances(*vnet, |i, out| i.set_branch_to_branch(now, *on, out));
            }
            Action::Preference { vnet, preference } => {
                let text = format!(
                    "hub routing preference {preference:?} on {}",
                    self.topology.vnets[*vnet].name
                );
                self.note("timeline".into(), text);
                if let Some(rs) = self.topology.vnets[*vnet].route_server.as_mut() {
                    rs.preference = *preference;
                }
                self.drive_vnet_instances(*vnet, |i, out| i.set_preference(now, *preference, out));
            }
            Action::DeployRouteServer { vnet } => {
                let text = format!(
                    "route server deployed in {}",
                    self.topology.vnets[*vnet].name
                );
                self.note("timeline".into(), text);
                self.deploy_route_server(*vnet);
            }
            Action::AsOverride { speaker, on } => {
                let text = format!(
                    "as-override {} on {}",
                    if *on { "on" } else { "off" },
                    name(self, *speaker)
                );
                self.note("timeline".into(), text);
                self.topology.speakers[*speaker].as_override = *on;
            }
            Action::TunnelState { tunnel, up } => {
                let Some(spec) = self.topology.tunnels.get(*tunnel) else {
                    return;
                };
                let text = format!(
                    "tunnel {} goes {}",
                    spec.name,
                    if *up { "up" } else { "down" }
                );
                self.note("timeline".into(), text);
                self.set_tunnel(*tunnel, *up);
            }
        }
        if self.extras {
            self.settle_fabric();
        }
    }

    fn refresh_peered(&mut self, vnets: &[usize]) {
        let now = self.now;
        for &v in vnets {
            let peered = self.peered_of(v);
            self.drive_vnet_instances(v, |i, out| i.set_peered(now, peered.clone(), out));
        }
    }

    /// Whether speaker `k` passes `prefix` on from its circuits or tunnels now. A
    /// timeline announce, withdraw, prepend or communities change leaves such a prefix
    /// alone: the derived route stands (`scenarios/README.md`), and touching it would
    /// put a withdrawal or a different path on the wire for one moment, enough to make a
    /// route server fail over for good (found by the DST).
    fn derived_here(&self, k: usize, prefix: &IpNet) -> bool {
        self.derived.get(k).is_some_and(|d| d.contains_key(prefix))
    }

    fn rewrite(&mut self, speaker: usize, prefixes: &[IpNet], change: impl Fn(&mut Announcement)) {
        let now = self.now;
        let mut out = Vec::new();
        for link in 0..self.speakers[speaker].links.len() {
            let routes: Vec<Announcement> = self.speakers[speaker].links[link]
                .announced
                .values()
                .filter(|a| prefixes.is_empty() || prefixes.contains(&a.prefix))
                .filter(|a| !self.derived_here(speaker, &a.prefix))
                .cloned()
                .map(|mut a| {
                    change(&mut a);
                    a
                })
                .collect();
            self.speakers[speaker].announce(now, Some(link), &routes, &mut out);
        }
        self.speaker_actions(speaker, out);
    }

    /// The earliest pending event or timer.
    fn next_event(&self) -> Option<Instant> {
        let heap = self.heap.peek().map(|q| q.at);
        let instances = self
            .instances
            .values()
            .filter_map(Instance::poll_timeout)
            .min();
        let speakers = self.speakers.iter().filter_map(Speaker::poll_timeout).min();
        let tunnels = self.tunnel_poll_timeout();
        [heap, instances, speakers, tunnels]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs every event and timer due up to and including `until`, then sets the clock to
    /// `until`.
    ///
    /// # Errors
    ///
    /// When the run exceeds its step budget (a livelock).
    pub fn run_until(&mut self, until: Instant) -> Result<(), RunError> {
        self.run_until_observed(until, |_| {})
    }

    /// [`Sim::run_until`], calling `observe` after every step (one delivery, or the
    /// timers due at one moment): for oracles whose expectations depend on the order of
    /// events, such as non-reverting failover memory.
    ///
    /// # Errors
    ///
    /// When the run exceeds its step budget (a livelock).
    pub fn run_until_observed(
        &mut self,
        until: Instant,
        mut observe: impl FnMut(&Self),
    ) -> Result<(), RunError> {
        while let Some(at) = self.next_event() {
            if at > until {
                break;
            }
            self.steps += 1;
            if self.steps > MAX_STEPS {
                return Err(RunError(format!(
                    "no quiet moment after {MAX_STEPS} steps at {}",
                    self.now
                )));
            }
            self.now = self.now.max(at);
            if self.heap.peek().is_some_and(|q| q.at <= self.now) {
                let queued = self.heap.pop().expect("peeked");
                self.deliver(queued.delivery);
                if self.extras {
                    self.settle_fabric();
                }
                observe(self);
                continue;
            }
            let now = self.now;
            let due: Vec<(usize, usize)> = self
                .instances
                .iter()
                .filter(|(_, i)| i.poll_timeout().is_some_and(|t| t <= now))
                .map(|(k, _)| *k)
                .collect();
            for rs in due {
                self.drive_instance(rs, |i, out| i.timeout(now, out));
            }
            for k in 0..self.speakers.len() {
                if self.speakers[k].poll_timeout().is_some_and(|t| t <= now) {
                    let mut out = Vec::new();
                    self.speakers[k].timeout(now, &mut out);
                    self.speaker_actions(k, out);
                }
            }
            self.tunnel_timeouts(now);
            if self.extras {
                self.settle_fabric();
            }
            observe(self);
        }
        self.now = self.now.max(until);
        Ok(())
    }

    /// The route-server instance serving VM `vm` (which programs its NIC), if any: VMs
    /// served by one route server alternate between its instances in scenario order;
    /// while an instance is down, the other serves all of them.
    pub fn serving_instance(&self, vm: usize) -> Option<(usize, usize)> {
        let (rs_vnet, position) = self.placement.get(vm).copied().flatten()?;
        let up0 = self
            .instances
            .get(&(rs_vnet, 0))
            .is_some_and(Instance::is_up);
        let up1 = self
            .instances
            .get(&(rs_vnet, 1))
            .is_some_and(Instance::is_up);
        match (up0, up1) {
            (true, true) => Some((rs_vnet, position % 2)),
            (true, false) => Some((rs_vnet, 0)),
            (false, true) => Some((rs_vnet, 1)),
            (false, false) => None,
        }
    }

    /// Recomputes what depends on peerings and ranges only: each VM's route server and
    /// its position among the VMs that route server serves, and each VNet's peered
    /// ranges (so that a lookup does not scan every VM or peering).
    fn recompute_placement(&mut self) {
        let serving: Vec<Option<usize>> = (0..self.topology.vnets.len())
            .map(|v| self.route_server_of(v))
            .collect();
        let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
        self.placement = self
            .topology
            .vms
            .iter()
            .map(|vm| {
                let rs = serving[vm.vnet]?;
                let count = counts.entry(rs).or_insert(0);
                let position = *count;
                *count += 1;
                Some((rs, position))
            })
            .collect();
        self.peered_cache = (0..self.topology.vnets.len())
            .map(|v| {
                self.topology
                    .peerings
                    .iter()
                    .filter_map(|p| {
                        if p.a == v {
                            Some(p.b)
                        } else if p.b == v {
                            Some(p.a)
                        } else {
                            None
                        }
                    })
                    .flat_map(|o| self.topology.vnets[o].ranges.clone())
                    .collect()
            })
            .collect();
    }

    /// The VNet whose route server programs VNet `v`'s NICs: its own, else the one its
    /// peering uses ("use the remote virtual network's gateway or Route Server").
    pub fn route_server_of(&self, v: usize) -> Option<usize> {
        if self.topology.vnets[v].route_server.is_some() {
            return Some(v);
        }
        self.topology.peerings.iter().find_map(|p| {
            if p.a == v && p.a_uses_remote_gateway {
                Some(p.b)
            } else if p.b == v && p.b_uses_remote_gateway {
                Some(p.a)
            } else {
                None
            }
        })
    }

    /// Ranges of the VNets peered with `v`.
    pub fn peered_ranges(&self, v: usize) -> &[IpNet] {
        &self.peered_cache[v]
    }

    /// The route view of VM `vm`: everything its effective routes depend on.
    pub fn view_of(&self, vm: usize) -> RouteView {
        let v = &self.topology.vms[vm];
        let vnet = &self.topology.vnets[v.vnet];
        RouteView {
            vnet: v.vnet,
            route_table: vnet.subnets[v.subnet].route_table,
            instance: self.serving_instance(vm),
        }
    }

    /// The active effective route VM `vm` uses for `destination` (longest prefix), found
    /// without building the VM's table: system and user routes are looked up in place and
    /// the serving instance's programmed routes by one map probe per prefix length, so a
    /// lookup costs the same for every VM whatever the number of routes, and nothing is
    /// stored per VM. Gives what [`effective::lookup`] over
    /// [`Sim::effective_routes`] gives.
    pub fn lookup(&self, vm: usize, destination: Ipv4Addr) -> Option<EffectiveRoute> {
        use crate::effective::{NextHopType, Source};
        let view = self.view_of(vm);
        let vnet = &self.topology.vnets[view.vnet];
        let v4 = |n: &IpNet| match n {
            IpNet::V4(n) => Some(*n),
            IpNet::V6(_) => None,
        };
        let own: Vec<ipnet::Ipv4Net> = vnet.ranges.iter().filter_map(v4).collect();
        let peered: Vec<ipnet::Ipv4Net> = self
            .peered_ranges(view.vnet)
            .iter()
            .filter_map(v4)
            .collect();
        let table = view.route_table.map(|t| &self.topology.route_tables[t]);
        let mut best: Option<EffectiveRoute> = None;
        let mut offer = |route: EffectiveRoute| {
            let better = best.as_ref().map_or(true, |b| {
                (route.prefix.prefix_len(), route.source) > (b.prefix.prefix_len(), b.source)
            });
            if better {
                best = Some(route);
            }
        };
        let system = |prefix, next_hop_type| EffectiveRoute {
            prefix,
            source: Source::Default,
            active: true,
            next_hop_type,
            next_hops: Vec::new(),
        };
        for r in own.iter().filter(|r| r.contains(&destination)) {
            offer(system(*r, NextHopType::VnetLocal));
        }
        for r in peered.iter().filter(|r| r.contains(&destination)) {
            offer(system(*r, NextHopType::VNetPeering));
        }
        offer(system(ipnet::Ipv4Net::default(), NextHopType::Internet));
        let empty = BTreeMap::new();
        let programmed = view
            .instance
            .and_then(|rs| self.instances.get(&rs))
            .map_or(&empty, |i| &i.programmed);
        let direct = self.direct.get(view.vnet).unwrap_or(&empty);
        if table.map_or(true, |t| t.propagate_gateway_routes) {
            for len in 0..=32u8 {
                let Ok(prefix) = ipnet::Ipv4Net::new(destination, len) else {
                    continue;
                };
                let prefix = prefix.trunc();
                // The route server's entry, else what a gateway programs itself.
                let Some(hops) = programmed
                    .get(&IpNet::V4(prefix))
                    .or_else(|| direct.get(&IpNet::V4(prefix)))
                else {
                    continue;
                };
                if own.iter().chain(&peered).any(|r| r.contains(&prefix)) {
                    continue;
                }
                let next_hops = effective::gateway_next_hops(hops);
                offer(EffectiveRoute {
                    prefix,
                    source: Source::VirtualNetworkGateway,
                    active: true,
                    next_hop_type: NextHopType::VirtualNetworkGateway,
                    next_hops,
                });
            }
        }
        for udr in table
            .iter()
            .flat_map(|t| &t.routes)
            .filter(|u| u.prefix.contains(&destination))
        {
            let (next_hop_type, next_hops) = effective::user_route_next_hop(udr.next_hop);
            offer(EffectiveRoute {
                prefix: udr.prefix,
                source: Source::User,
                active: true,
                next_hop_type,
                next_hops,
            });
        }
        best
    }

    /// Effective routes of VM `vm` now.
    pub fn effective_routes(&self, vm: usize) -> Vec<EffectiveRoute> {
        self.effective_for_view(&self.view_of(vm))
    }

    /// Effective routes of every NIC with route view `view`.
    pub fn effective_for_view(&self, view: &RouteView) -> Vec<EffectiveRoute> {
        let empty = BTreeMap::new();
        let bgp = view
            .instance
            .and_then(|rs| self.instances.get(&rs))
            .map_or(&empty, |i| &i.programmed);
        let direct = self.direct.get(view.vnet).filter(|d| !d.is_empty());
        let merged;
        let bgp = match direct {
            None => bgp,
            Some(direct) => {
                // Gateway-programmed routes fill the prefixes the route server does
                // not program (both are VirtualNetworkGateway routes).
                let mut all = direct.clone();
                all.extend(bgp.iter().map(|(p, h)| (*p, h.clone())));
                merged = all;
                &merged
            }
        };
        effective::compute(
            &self.topology.vnets[view.vnet].ranges,
            self.peered_ranges(view.vnet),
            view.route_table.map(|t| &self.topology.route_tables[t]),
            bgp,
        )
    }

    /// Effective routes of every VM, computed once per distinct route view.
    pub fn all_effective_routes(&self) -> Vec<(usize, std::rc::Rc<Vec<EffectiveRoute>>)> {
        let mut cache: BTreeMap<RouteView, std::rc::Rc<Vec<EffectiveRoute>>> = BTreeMap::new();
        (0..self.topology.vms.len())
            .map(|vm| {
                let view = self.view_of(vm);
                let table = cache
                    .entry(view.clone())
                    .or_insert_with(|| std::rc::Rc::new(self.effective_for_view(&view)))
                    .clone();
                (vm, table)
            })
            .collect()
    }

    /// A number that moves whenever effective routes may have changed (a timeline action
    /// applied, an instance's programming changed): tables built at one generation can be
    /// reused until it moves.
    pub fn routes_generation(&self) -> u64 {
        self.generation
    }

    /// Every session as a row.
    pub fn sessions(&self) -> Vec<SessionRow> {
        let mut rows = Vec::new();
        for (k, s) in self.speakers.iter().enumerate() {
            let spec = &self.topology.speakers[k];
            for l in &s.links {
                rows.push(SessionRow {
                    speaker: spec.name.clone(),
                    kind: spec.kind,
                    asn: spec.asn,
                    address: spec.ip,
                    instance: self.instance_name(l.rs),
                    instance_address: l.rs_address,
                    state: if s.alive {
                        format!("{:?}", l.session.state())
                    } else {
                        "crashed".into()
                    },
                    announced: l.announced.len(),
                    received: l.received.len(),
                });
            }
        }
        rows.extend(self.tunnel_session_rows());
        rows
    }

    /// The FSM state of speaker `k`'s session to `rs` (`crashed` when it is down).
    pub fn session_state(&self, k: usize, rs: (usize, usize)) -> Option<String> {
        let s = &self.speakers[k];
        let l = s.links.iter().find(|l| l.rs == rs)?;
        Some(if s.alive {
            format!("{:?}", l.session.state())
        } else {
            "crashed".into()
        })
    }

    /// The instances speaker `k` peers with.
    pub fn speaker_instances(&self, k: usize) -> Vec<(usize, usize)> {
        self.speakers[k].links.iter().map(|l| l.rs).collect()
    }

    /// What speaker `k` received on its session to `rs`.
    pub fn received(
        &self,
        k: usize,
        rs: (usize, usize),
    ) -> Option<&BTreeMap<IpNet, std::rc::Rc<RouteAttrs>>> {
        self.speakers[k]
            .links
            .iter()
            .find(|l| l.rs == rs)
            .map(|l| &l.received)
    }

    /// What speaker `k` announces on its session to `rs`.
    pub fn announced(
        &self,
        k: usize,
        rs: (usize, usize),
    ) -> Option<&BTreeMap<IpNet, Announcement>> {
        self.speakers[k]
            .links
            .iter()
            .find(|l| l.rs == rs)
            .map(|l| &l.announced)
    }

    /// Whether speaker `k` runs (it may have stopped sending).
    pub fn speaker_running(&self, k: usize) -> bool {
        self.speakers[k].alive
    }

    /// Whether speaker `k` runs and sends.
    pub fn speaker_live(&self, k: usize) -> bool {
        self.speakers[k].alive && !self.speakers[k].muted
    }

    /// Whether instance `rs` is up.
    pub fn instance_up(&self, rs: (usize, usize)) -> bool {
        self.instances.get(&rs).is_some_and(Instance::is_up)
    }

    /// What instance `rs` programmed.
    pub fn programmed(&self, rs: (usize, usize)) -> Option<&BTreeMap<IpNet, Vec<IpAddr>>> {
        self.instances.get(&rs).map(|i| &i.programmed)
    }

    /// What instance `rs` learned from the speaker at `from`.
    pub fn learned(&self, rs: (usize, usize), from: Ipv4Addr) -> BTreeMap<IpNet, RouteAttrs> {
        self.instances
            .get(&rs)
            .map(|i| i.learned(from))
            .unwrap_or_default()
    }

    /// `BgpPeerStatus` of the speaker at `address` on instance `rs`.
    pub fn peer_status(&self, rs: (usize, usize), address: Ipv4Addr) -> u8 {
        self.instances
            .get(&rs)
            .map_or(0, |i| i.peer_status(address))
    }

    /// What on-premises sees behind gateway `k`: `(prefix, AS path)`.
    ///
    /// The gateway advertises its VNet's ranges and those of peered VNets that use its
    /// route server, plus what the route server sent it. ExpressRoute: on-premises sees
    /// AS 12076 followed by the path with private ASNs removed (prepends of private ASNs
    /// vanish). VPN: the gateway's AS 65515 followed by the path, and never a default
    /// route.
    pub fn onprem_view(&self, k: usize) -> BTreeMap<IpNet, Vec<u32>> {
        let spec = &self.topology.speakers[k];
        let mut out = BTreeMap::new();
        if !self.speakers[k].alive {
            return out;
        }
        let mut local: Vec<IpNet> = self.topology.vnets[spec.vnet].ranges.clone();
        for p in &self.topology.peerings {
            if p.b == spec.vnet && p.a_uses_remote_gateway {
                local.extend(self.topology.vnets[p.a].ranges.iter().copied());
            } else if p.a == spec.vnet && p.b_uses_remote_gateway {
                local.extend(self.topology.vnets[p.b].ranges.iter().copied());
            }
        }
        let is_private = |asn: u32| {
            (64512..=65534).contains(&asn) || (4_200_000_000..=4_294_967_294).contains(&asn)
        };
        let wrap = |path: Vec<u32>| -> Vec<u32> {
            match spec.kind {
                SpeakerKind::ExpressRoute => std::iter::once(12076)
                    .chain(path.into_iter().filter(|a| !is_private(*a)))
                    .collect(),
                _ => std::iter::once(spec.asn).chain(path).collect(),
            }
        };
        for r in local {
            out.insert(r, wrap(Vec::new()));
        }
        for l in &self.speakers[k].links {
            for (prefix, attrs) in &l.received {
                if spec.kind == SpeakerKind::VpnGateway && prefix.prefix_len() == 0 {
                    continue;
                }
                let path: Vec<u32> = attrs
                    .as_path
                    .segments
                    .iter()
                    .flat_map(|s| s.asns.iter().copied())
                    .collect();
                out.entry(*prefix).or_insert_with(|| wrap(path));
            }
        }
        out
    }
}

fn describe_routes(routes: &[Announcement]) -> String {
    match routes {
        [] => "nothing".into(),
        [one] => format!(
            "{} path [{}]{}",
            one.prefix,
            one.as_path
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            if one.communities.is_empty() {
                String::new()
            } else {
                format!(
                    " communities [{}]",
                    one.communities
                        .iter()
                        .map(|(a, b)| format!("{a}:{b}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            }
        ),
        [first, .., last] => format!(
            "{} routes ({} .. {})",
            routes.len(),
            first.prefix,
            last.prefix
        ),
    }
}
