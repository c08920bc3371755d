//! A simulated BGP speaker (an NVA or a gateway): one `bgp_fsm` session per route-server
//! instance it peers with, a table of routes it announces per session, and what it
//! received.
//!
//! This is the project's one speaker implementation: the simulator's NVAs and gateways
//! (announcing [`Announcement`]s from scenario files) and the single-instance
//! [`Lab`](crate::lab::Lab)'s speakers (announcing raw `PathAttribute` lists, IPv4 and
//! IPv6, well-formed or not) are both this type, with the route type as its parameter.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::time::Duration;

use bgp_fsm::{
    Input as SessionInput, Output as SessionOutput, Session, SessionConfig, SessionEvent, State,
};
use bgp_wire::{
    AsPath, AttrValue, Community, Family, MpNextHop, Nlri, Origin, PathAttribute, Update,
    UpdatePacker,
};
use ipnet::IpNet;
use route_server::RouteAttrs;

use crate::model::{Announcement, SpeakerSpec};
use crate::Instant;

/// How long a simulated speaker waits before retrying a failed connection. RFC 4271
/// suggests 120 s; NVAs are commonly configured lower, and 10 s keeps recoveries short.
pub(crate) const SPEAKER_CONNECT_RETRY: Duration = Duration::from_secs(10);

/// What a speaker announces for one prefix: something that gives the UPDATE's path
/// attributes.
///
/// An IPv6 route carries its next hop in an `MP_REACH_NLRI` attribute with no prefixes
/// (as [`lab::route_v6`](crate::lab::route_v6) builds it); the speaker packs the real one.
pub(crate) trait AnnouncedRoute: Clone + Debug {
    /// The path attributes to send.
    fn attributes(&self) -> Cow<'_, [PathAttribute]>;
}

impl AnnouncedRoute for Announcement {
    fn attributes(&self) -> Cow<'_, [PathAttribute]> {
        Cow::Owned(attributes(self))
    }
}

impl AnnouncedRoute for Vec<PathAttribute> {
    fn attributes(&self) -> Cow<'_, [PathAttribute]> {
        Cow::Borrowed(self)
    }
}

/// What a speaker asks of its driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SpeakerAction {
    /// Open a connection on link `link`.
    Connect { link: usize },
    /// Send bytes on link `link`, written on connection `conn` (the one up when the
    /// session wrote them: a NOTIFICATION written just before a close belongs to the
    /// connection being closed).
    Send {
        link: usize,
        conn: u64,
        bytes: Vec<u8>,
    },
    /// Close link `link`'s connection.
    Close { link: usize },
    /// A line for the event log.
    Log(String),
}

/// One session of a speaker, toward one instance.
#[derive(Clone, Debug)]
pub struct SpeakerLink<R = Announcement> {
    /// The instance: `(route-server VNet, instance index)` (`(0, 0)` in the lab).
    pub(crate) rs: (usize, usize),
    /// The instance's address.
    pub(crate) rs_address: Ipv4Addr,
    /// The `bgp_fsm` session toward the instance.
    pub session: Session,
    /// The connection being opened, by id.
    pub(crate) attempt: Option<u64>,
    /// The connection up, by id.
    pub(crate) conn: Option<u64>,
    /// What it announces on this session, re-sent whenever the session comes up or a
    /// refresh is asked.
    pub announced: BTreeMap<IpNet, R>,
    /// What it received on this session; the prefixes of one UPDATE share its attributes.
    pub received: BTreeMap<IpNet, Rc<RouteAttrs>>,
    /// Every session event but UPDATEs, in order, when the speaker records them (the
    /// lab's speakers do; the simulator's log lines say what it needs).
    pub events: Vec<SessionEvent>,
}

/// A speaker.
#[derive(Clone, Debug)]
pub(crate) struct Speaker<R = Announcement> {
    /// Running (not crashed).
    pub(crate) alive: bool,
    /// Sends nothing (keepalives stopped); still receives.
    pub(crate) muted: bool,
    /// What the speaker wrote while muted, per `(link, connection)`: its outbound stream
    /// stalls rather than losing bytes (BGP runs over TCP), and is delivered when it
    /// sends again, on the connections still open then.
    pub(crate) stalled: Vec<(usize, u64, Vec<u8>)>,
    pub(crate) links: Vec<SpeakerLink<R>>,
    /// Whether session events are kept in [`SpeakerLink::events`].
    pub(crate) record_events: bool,
    config: Vec<SessionConfig>,
}

fn session_config(spec: &SpeakerSpec, seed: u64) -> SessionConfig {
    let mut config = SessionConfig::new(spec.asn, spec.ip, route_server::AZURE_ASN);
    config.hold_time = spec.hold_time;
    config.connect_retry_time = SPEAKER_CONNECT_RETRY;
    config.capabilities.route_refresh = spec.route_refresh;
    config.capabilities.enhanced_route_refresh = false;
    if spec.offers_ipv6 && !config.capabilities.families.contains(&Family::IPV6_UNICAST) {
        config.capabilities.families.push(Family::IPV6_UNICAST);
    }
    config.rng_seed = seed;
    config
}

/// The path attributes of an announcement.
pub(crate) fn attributes(a: &Announcement) -> Vec<PathAttribute> {
    let mut attrs = vec![
        PathAttribute::new(AttrValue::Origin(Origin::Igp)),
        PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence(
            a.as_path.iter().copied(),
        ))),
        PathAttribute::new(AttrValue::NextHop(a.next_hop)),
    ];
    if !a.communities.is_empty() {
        attrs.push(PathAttribute::new(AttrValue::Communities(
            a.communities
                .iter()
                .map(|(x, y)| Community::new(*x, *y))
                .collect(),
        )));
    }
    attrs
}

impl Speaker<Announcement> {
    /// A speaker as `spec` describes it (not started), with the addresses of the
    /// instances it peers with (`None`: no such instance, the session is left out).
    ///
    /// # Errors
    ///
    /// When `bgp_fsm` refuses the session configuration (AS 0 or 23456, ...): such a
    /// speaker cannot run at all.
    pub(crate) fn new(
        spec: &SpeakerSpec,
        rs_addresses: &[Option<Ipv4Addr>],
        seed: u64,
        now: Instant,
    ) -> Result<Self, String> {
        let mut links = Vec::new();
        let mut config = Vec::new();
        for (k, (&rs, rs_address)) in spec.peers.iter().zip(rs_addresses).enumerate() {
            let Some(rs_address) = *rs_address else {
                continue;
            };
            let c = session_config(spec, seed.wrapping_add(k as u64));
            let session = Session::new(c.clone(), now).map_err(|e| e.to_string())?;
            config.push(c);
            links.push(SpeakerLink {
                rs,
                rs_address,
                session,
                attempt: None,
                conn: None,
                announced: spec.routes.iter().map(|a| (a.prefix, a.clone())).collect(),
                received: BTreeMap::new(),
                events: Vec::new(),
            });
        }
        Ok(Self {
            alive: false,
            muted: false,
            stalled: Vec::new(),
            links,
            record_events: false,
            config,
        })
    }

    /// A speaker that cannot run: no sessions.
    pub(crate) fn broken() -> Self {
        Self {
            alive: false,
            muted: false,
            stalled: Vec::new(),
            links: Vec::new(),
            record_events: false,
            config: Vec::new(),
        }
    }

    /// Adds a session toward one more instance, announcing what the first session
    /// announces (or the configured routes); it connects at once if the speaker runs.
    ///
    /// # Errors
    ///
    /// When `bgp_fsm` refuses the session configuration.
    pub(crate) fn add_link(
        &mut self,
        spec: &SpeakerSpec,
        rs: (usize, usize),
        rs_address: Ipv4Addr,
        seed: u64,
        now: Instant,
        out: &mut Vec<SpeakerAction>,
    ) -> Result<(), String> {
        let c = session_config(spec, seed);
        let mut session = Session::new(c.clone(), now).map_err(|e| e.to_string())?;
        let announced = self.links.first().map_or_else(
            || spec.routes.iter().map(|a| (a.prefix, a.clone())).collect(),
            |l| l.announced.clone(),
        );
        if self.alive {
            session.start(now);
        }
        self.config.push(c);
        self.links.push(SpeakerLink {
            rs,
            rs_address,
            session,
            attempt: None,
            conn: None,
            announced,
            received: BTreeMap::new(),
            events: Vec::new(),
        });
        if self.alive {
            self.drain(now, self.links.len() - 1, out);
        }
        Ok(())
    }

    /// Announces `routes` on `link` (every link when `None`).
    pub(crate) fn announce(
        &mut self,
        now: Instant,
        only: Option<usize>,
        routes: &[Announcement],
        out: &mut Vec<SpeakerAction>,
    ) {
        let routes: Vec<(IpNet, Announcement)> =
            routes.iter().map(|r| (r.prefix, r.clone())).collect();
        self.announce_routes(now, only, &routes, out);
    }
}

impl<R: AnnouncedRoute> Speaker<R> {
    /// A speaker with one session built from `config` toward the instance at
    /// `rs_address` (not started), recording its session events: the lab's speakers.
    ///
    /// # Errors
    ///
    /// When `bgp_fsm` refuses the session configuration.
    pub(crate) fn with_session(
        config: SessionConfig,
        rs_address: Ipv4Addr,
        now: Instant,
    ) -> Result<Self, String> {
        let session = Session::new(config.clone(), now).map_err(|e| e.to_string())?;
        Ok(Self {
            alive: false,
            muted: false,
            stalled: Vec::new(),
            links: vec![SpeakerLink {
                rs: (0, 0),
                rs_address,
                session,
                attempt: None,
                conn: None,
                announced: BTreeMap::new(),
                received: BTreeMap::new(),
                events: Vec::new(),
            }],
            record_events: true,
            config: vec![config],
        })
    }

    /// Boots: fresh sessions, each connecting out.
    pub(crate) fn start(&mut self, now: Instant, out: &mut Vec<SpeakerAction>) {
        self.alive = true;
        self.muted = false;
        self.stalled.clear();
        for (link, config) in self.links.iter_mut().zip(&self.config) {
            link.session = Session::new(config.clone(), now)
                .expect("this configuration was accepted when the speaker was built");
            link.attempt = None;
            link.conn = None;
            link.received.clear();
            link.session.start(now);
        }
        for k in 0..self.links.len() {
            self.drain(now, k, out);
        }
    }

    /// Dies silently.
    pub(crate) fn crash(&mut self) {
        self.alive = false;
        self.stalled.clear();
        for link in &mut self.links {
            link.attempt = None;
            link.conn = None;
            link.received.clear();
        }
    }

    /// The connection attempt `conn` on `link` was accepted.
    pub(crate) fn accepted(
        &mut self,
        now: Instant,
        link: usize,
        conn: u64,
        out: &mut Vec<SpeakerAction>,
    ) -> bool {
        let l = &mut self.links[link];
        if !self.alive || l.attempt != Some(conn) {
            return false;
        }
        l.attempt = None;
        l.conn = Some(conn);
        l.session.handle_input(now, SessionInput::TcpCrAcked);
        self.drain(now, link, out);
        true
    }

    /// The connection attempt `conn` on `link` was refused.
    pub(crate) fn refused(
        &mut self,
        now: Instant,
        link: usize,
        conn: u64,
        out: &mut Vec<SpeakerAction>,
    ) {
        let l = &mut self.links[link];
        if self.alive && l.attempt == Some(conn) {
            l.attempt = None;
            l.session
                .handle_input(now, SessionInput::TcpConnectionFails);
            self.drain(now, link, out);
        }
    }

    /// Bytes arrived on connection `conn` of `link`.
    pub(crate) fn received(
        &mut self,
        now: Instant,
        link: usize,
        conn: u64,
        bytes: &[u8],
        out: &mut Vec<SpeakerAction>,
    ) {
        let l = &mut self.links[link];
        if self.alive && l.conn == Some(conn) {
            l.session.handle_input(now, SessionInput::Received(bytes));
            self.drain(now, link, out);
        }
    }

    /// Connection `conn` of `link` closed by the other end.
    pub(crate) fn closed(
        &mut self,
        now: Instant,
        link: usize,
        conn: u64,
        out: &mut Vec<SpeakerAction>,
    ) {
        let l = &mut self.links[link];
        if self.alive && l.conn == Some(conn) {
            l.conn = None;
            l.session
                .handle_input(now, SessionInput::TcpConnectionFails);
            self.drain(now, link, out);
        }
    }

    /// Resets every connection (both ends see the reset).
    pub(crate) fn reset(&mut self, now: Instant, out: &mut Vec<SpeakerAction>) {
        if !self.alive {
            return;
        }
        for k in 0..self.links.len() {
            if self.links[k].conn.is_some() {
                out.push(SpeakerAction::Close { link: k });
                self.links[k].conn = None;
                self.links[k]
                    .session
                    .handle_input(now, SessionInput::TcpConnectionFails);
                self.drain(now, k, out);
            }
        }
    }

    /// Fires due timers.
    pub(crate) fn timeout(&mut self, now: Instant, out: &mut Vec<SpeakerAction>) {
        if !self.alive {
            return;
        }
        for k in 0..self.links.len() {
            if self.links[k]
                .session
                .poll_timeout()
                .is_some_and(|t| t <= now)
            {
                self.links[k].session.handle_timeout(now);
                self.drain(now, k, out);
            }
        }
    }

    /// The earliest timer of its sessions.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if !self.alive {
            return None;
        }
        self.links
            .iter()
            .filter_map(|l| l.session.poll_timeout())
            .min()
    }

    /// Announces `routes` on `link` (every link when `None`), packed in one go.
    pub(crate) fn announce_routes(
        &mut self,
        now: Instant,
        only: Option<usize>,
        routes: &[(IpNet, R)],
        out: &mut Vec<SpeakerAction>,
    ) {
        for k in 0..self.links.len() {
            if only.is_some_and(|o| o != k) {
                continue;
            }
            for (prefix, route) in routes {
                self.links[k].announced.insert(*prefix, route.clone());
            }
            self.send(now, k, routes, &[], out);
        }
    }

    /// Withdraws `prefixes` on `link` (every link when `None`): those it announced.
    pub(crate) fn withdraw(
        &mut self,
        now: Instant,
        only: Option<usize>,
        prefixes: &[IpNet],
        out: &mut Vec<SpeakerAction>,
    ) {
        self.withdraw_as_told(now, only, prefixes, false, out);
    }

    /// Withdraws `prefixes` on `link` (every link when `None`); with `even_unannounced`,
    /// a withdrawal goes out for every prefix listed, announced or not (the lab's
    /// speakers do as the test says).
    pub(crate) fn withdraw_as_told(
        &mut self,
        now: Instant,
        only: Option<usize>,
        prefixes: &[IpNet],
        even_unannounced: bool,
        out: &mut Vec<SpeakerAction>,
    ) {
        for k in 0..self.links.len() {
            if only.is_some_and(|o| o != k) {
                continue;
            }
            let gone: Vec<IpNet> = prefixes
                .iter()
                .filter(|p| self.links[k].announced.remove(p).is_some() || even_unannounced)
                .copied()
                .collect();
            self.send(now, k, &[], &gone, out);
        }
    }

    /// Re-sends every link's table.
    pub(crate) fn resend(&mut self, now: Instant, out: &mut Vec<SpeakerAction>) {
        for k in 0..self.links.len() {
            let routes = self.table(k);
            self.send(now, k, &routes, &[], out);
        }
    }

    fn table(&self, k: usize) -> Vec<(IpNet, R)> {
        self.links[k]
            .announced
            .iter()
            .map(|(p, r)| (*p, r.clone()))
            .collect()
    }

    /// Drains link `k`'s session outputs.
    fn drain(&mut self, now: Instant, k: usize, out: &mut Vec<SpeakerAction>) {
        let mut send_table = false;
        let record = self.record_events;
        while let Some(output) = self.links[k].session.poll_output() {
            let l = &mut self.links[k];
            match output {
                SessionOutput::Transmit(bytes) => {
                    if let Some(conn) = l.conn {
                        out.push(SpeakerAction::Send {
                            link: k,
                            conn,
                            bytes,
                        });
                    }
                }
                SessionOutput::ConnectTcp => out.push(SpeakerAction::Connect { link: k }),
                SessionOutput::CloseTcp => {
                    l.attempt = None;
                    if l.conn.take().is_some() {
                        out.push(SpeakerAction::Close { link: k });
                    }
                }
                SessionOutput::Event(SessionEvent::Update(update)) => {
                    apply_received(&mut l.received, &update);
                }
                SessionOutput::Event(event) => {
                    match &event {
                        SessionEvent::Established(_) => {
                            out.push(SpeakerAction::Log(format!(
                                "session to {} Established",
                                l.rs_address
                            )));
                            send_table = true;
                        }
                        SessionEvent::RouteRefresh(_) => {
                            out.push(SpeakerAction::Log(format!(
                                "ROUTE-REFRESH from {}: re-sending the table",
                                l.rs_address
                            )));
                            send_table = true;
                        }
                        SessionEvent::Down(end) => {
                            out.push(SpeakerAction::Log(format!(
                                "session to {} down: {end:?}",
                                l.rs_address
                            )));
                            l.received.clear();
                        }
                        _ => {}
                    }
                    if record {
                        l.events.push(event);
                    }
                }
            }
        }
        if send_table {
            let routes = self.table(k);
            self.send(now, k, &routes, &[], out);
            let _ = self.links[k]
                .session
                .send_end_of_rib(now, Family::IPV4_UNICAST);
            self.flush(k, out);
        }
    }

    fn flush(&mut self, k: usize, out: &mut Vec<SpeakerAction>) {
        let l = &mut self.links[k];
        while let Some(output) = l.session.poll_output() {
            if let (SessionOutput::Transmit(bytes), Some(conn)) = (output, l.conn) {
                out.push(SpeakerAction::Send {
                    link: k,
                    conn,
                    bytes,
                });
            }
        }
    }

    /// Packs and sends routes and withdrawals on link `k` if its session is up.
    ///
    /// Routes sharing attributes go in the same UPDATEs, in the order first seen; IPv6
    /// routes go in `MP_REACH_NLRI` with the next hop their attributes carry (none: not
    /// sent). Withdrawals are IPv4.
    fn send(
        &mut self,
        now: Instant,
        k: usize,
        routes: &[(IpNet, R)],
        withdraw: &[IpNet],
        out: &mut Vec<SpeakerAction>,
    ) {
        let l = &mut self.links[k];
        if !self.alive || l.session.state() != State::Established {
            return;
        }
        let Some(params) = l.session.negotiated().map(|n| n.send.clone()) else {
            return;
        };
        let mut packer = UpdatePacker::new(params.clone());
        // Simulated NVAs misbehave on purpose (AS 0, 65515 in the path): the packer refuses
        // what no valid UPDATE may carry, so such routes go out as built, unchecked.
        let mut unchecked: Vec<Update> = Vec::new();
        for p in withdraw {
            packer.withdraw(Family::IPV4_UNICAST, Nlri::new(*p));
        }
        let mut groups: Vec<(Cow<'_, [PathAttribute]>, Vec<Nlri>)> = Vec::new();
        for (prefix, route) in routes {
            let attrs = route.attributes();
            match groups.iter_mut().find(|(a, _)| *a == attrs) {
                Some((_, list)) => list.push(Nlri::new(*prefix)),
                None => groups.push((attrs, vec![Nlri::new(*prefix)])),
            }
        }
        for (attrs, nlri) in groups {
            let (v6, v4): (Vec<Nlri>, Vec<Nlri>) =
                nlri.into_iter().partition(|n| n.prefix.addr().is_ipv6());
            if !v4.is_empty() {
                // One prefix is enough to tell whether the attribute set can travel.
                let probe = Update {
                    attributes: attrs.to_vec(),
                    nlri: v4[..1].to_vec(),
                    ..Update::default()
                };
                if probe.validate(&params).is_ok() {
                    packer.announce(&attrs, v4);
                } else {
                    unchecked.extend(v4.chunks(500).map(|chunk| Update {
                        attributes: attrs.to_vec(),
                        nlri: chunk.to_vec(),
                        ..Update::default()
                    }));
                }
            }
            let mp_next_hop = attrs.iter().find_map(|a| match &a.value {
                AttrValue::MpReachNlri(mp) => Some(mp.next_hop.clone()),
                _ => None,
            });
            if let (false, Some(next_hop)) = (v6.is_empty(), mp_next_hop) {
                let rest: Vec<PathAttribute> = attrs
                    .iter()
                    .filter(|a| !matches!(a.value, AttrValue::MpReachNlri(_)))
                    .cloned()
                    .collect();
                packer.announce_mp(Family::IPV6_UNICAST, next_hop, &rest, v6);
            }
        }
        for update in packer.finish_updates() {
            let _ = l.session.send_update(now, &update);
        }
        for update in &unchecked {
            let _ = l.session.send_update(now, update);
        }
        self.flush(k, out);
    }
}

/// Applies a received UPDATE to a speaker's table: IPv4 routes with NEXT_HOP, IPv6
/// routes with the `MP_REACH_NLRI` global next hop.
fn apply_received(table: &mut BTreeMap<IpNet, Rc<RouteAttrs>>, update: &Update) {
    for (_, nlri) in update.routes_to_withdraw() {
        table.remove(&nlri.prefix);
    }
    let v4 = update.next_hop().map(IpAddr::V4);
    let v6 = update.mp_reach().and_then(|mp| match mp.next_hop {
        MpNextHop::Ipv6 { global, .. } => Some(IpAddr::V6(global)),
        _ => None,
    });
    let (mut shared_v4, mut shared_v6): (Option<Rc<RouteAttrs>>, Option<Rc<RouteAttrs>>) =
        (None, None);
    for (family, nlri) in update.routes_to_announce() {
        let (next_hop, shared) = if family == Family::IPV6_UNICAST {
            (v6, &mut shared_v6)
        } else if family == Family::IPV4_UNICAST {
            (v4, &mut shared_v4)
        } else {
            continue;
        };
        let Some(next_hop) = next_hop else {
            continue;
        };
        let attrs = shared
            .get_or_insert_with(|| {
                Rc::new(RouteAttrs::from_wire(&update.attributes, next_hop, true))
            })
            .clone();
        table.insert(nlri.prefix, attrs);
    }
}
