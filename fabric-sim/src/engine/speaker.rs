//! A simulated BGP speaker (an NVA or a gateway): one `bgp_fsm` session per route-server
//! instance it peers with, a table of routes it announces per session, and what it
//! received.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::time::Duration;

use bgp_fsm::{
    Input as SessionInput, Output as SessionOutput, Session, SessionConfig, SessionEvent, State,
};
use bgp_wire::{
    AsPath, AttrValue, Community, Family, Nlri, Origin, PathAttribute, Update, UpdatePacker,
};
use ipnet::IpNet;
use route_server::RouteAttrs;

use crate::model::{Announcement, SpeakerSpec};
use crate::Instant;

/// How long a simulated speaker waits before retrying a failed connection. RFC 4271
/// suggests 120 s; NVAs are commonly configured lower, and 10 s keeps recoveries short.
pub(crate) const SPEAKER_CONNECT_RETRY: Duration = Duration::from_secs(10);

/// What a speaker asks of the simulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SpeakerAction {
    /// Open a connection on link `link`.
    Connect { link: usize },
    /// Send bytes on link `link`.
    Send { link: usize, bytes: Vec<u8> },
    /// Close link `link`'s connection.
    Close { link: usize },
    /// A line for the event log.
    Log(String),
}

/// One session of a speaker, toward one instance.
#[derive(Debug)]
pub(crate) struct SpeakerLink {
    /// The instance: `(route-server VNet, instance index)`.
    pub(crate) rs: (usize, usize),
    /// The instance's address.
    pub(crate) rs_address: Ipv4Addr,
    pub(crate) session: Session,
    /// The connection being opened, by id.
    pub(crate) attempt: Option<u64>,
    /// The connection up, by id.
    pub(crate) conn: Option<u64>,
    /// What it announces on this session.
    pub(crate) announced: BTreeMap<IpNet, Announcement>,
    /// What it received on this session; the prefixes of one UPDATE share its attributes.
    pub(crate) received: BTreeMap<IpNet, Rc<RouteAttrs>>,
}

/// A speaker.
#[derive(Debug)]
pub(crate) struct Speaker {
    /// Running (not crashed).
    pub(crate) alive: bool,
    /// Sends nothing (keepalives stopped); still receives.
    pub(crate) muted: bool,
    /// What the speaker wrote while muted, per `(link, connection)`: its outbound stream
    /// stalls rather than losing bytes (BGP runs over TCP), and is delivered when it
    /// sends again, on the connections still open then.
    pub(crate) stalled: Vec<(usize, u64, Vec<u8>)>,
    pub(crate) links: Vec<SpeakerLink>,
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

impl Speaker {
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
            });
        }
        Ok(Self {
            alive: false,
            muted: false,
            stalled: Vec::new(),
            links,
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
        });
        if self.alive {
            self.drain(now, self.links.len() - 1, out);
        }
        Ok(())
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

    /// Announces `routes` on `link` (every link when `None`).
    pub(crate) fn announce(
        &mut self,
        now: Instant,
        only: Option<usize>,
        routes: &[Announcement],
        out: &mut Vec<SpeakerAction>,
    ) {
        for k in 0..self.links.len() {
            if only.is_some_and(|o| o != k) {
                continue;
            }
            for r in routes {
                self.links[k].announced.insert(r.prefix, r.clone());
            }
            self.send(now, k, routes, &[], out);
        }
    }

    /// Withdraws `prefixes` on `link` (every link when `None`).
    pub(crate) fn withdraw(
        &mut self,
        now: Instant,
        only: Option<usize>,
        prefixes: &[IpNet],
        out: &mut Vec<SpeakerAction>,
    ) {
        for k in 0..self.links.len() {
            if only.is_some_and(|o| o != k) {
                continue;
            }
            let gone: Vec<IpNet> = prefixes
                .iter()
                .filter(|p| self.links[k].announced.remove(p).is_some())
                .copied()
                .collect();
            self.send(now, k, &[], &gone, out);
        }
    }

    /// Re-sends every link's table.
    pub(crate) fn resend(&mut self, now: Instant, out: &mut Vec<SpeakerAction>) {
        for k in 0..self.links.len() {
            let routes: Vec<Announcement> = self.links[k].announced.values().cloned().collect();
            self.send(now, k, &routes, &[], out);
        }
    }

    /// Drains link `k`'s session outputs.
    fn drain(&mut self, now: Instant, k: usize, out: &mut Vec<SpeakerAction>) {
        let mut send_table = false;
        while let Some(output) = self.links[k].session.poll_output() {
            let l = &mut self.links[k];
            match output {
                SessionOutput::Transmit(bytes) => {
                    if l.conn.is_some() {
                        out.push(SpeakerAction::Send { link: k, bytes });
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
                    apply_received(&mut l.received, &update)
                }
                SessionOutput::Event(SessionEvent::Established(_)) => {
                    out.push(SpeakerAction::Log(format!(
                        "session to {} Established",
                        l.rs_address
                    )));
                    send_table = true;
                }
                SessionOutput::Event(SessionEvent::RouteRefresh(_)) => {
                    out.push(SpeakerAction::Log(format!(
                        "ROUTE-REFRESH from {}: re-sending the table",
                        l.rs_address
                    )));
                    send_table = true;
                }
                SessionOutput::Event(SessionEvent::Down(end)) => {
                    out.push(SpeakerAction::Log(format!(
                        "session to {} down: {end:?}",
                        l.rs_address
                    )));
                    l.received.clear();
                }
                SessionOutput::Event(_) => {}
            }
        }
        if send_table {
            let routes: Vec<Announcement> = self.links[k].announced.values().cloned().collect();
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
            if let SessionOutput::Transmit(bytes) = output {
                if l.conn.is_some() {
                    out.push(SpeakerAction::Send { link: k, bytes });
                }
            }
        }
    }

    /// Packs and sends routes and withdrawals on link `k` if its session is up.
    fn send(
        &mut self,
        now: Instant,
        k: usize,
        routes: &[Announcement],
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
        let mut groups: Vec<(Vec<PathAttribute>, Vec<Nlri>)> = Vec::new();
        for r in routes.iter().filter(|r| r.prefix.addr().is_ipv4()) {
            let attrs = attributes(r);
            match groups.iter_mut().find(|(a, _)| *a == attrs) {
                Some((_, list)) => list.push(Nlri::new(r.prefix)),
                None => groups.push((attrs, vec![Nlri::new(r.prefix)])),
            }
        }
        for (attrs, nlri) in groups {
            let probe = Update {
                attributes: attrs.clone(),
                nlri: nlri[..1].to_vec(),
                ..Update::default()
            };
            if probe.validate(&params).is_ok() {
                packer.announce(&attrs, nlri);
            } else {
                unchecked.extend(nlri.chunks(500).map(|chunk| Update {
                    attributes: attrs.clone(),
                    nlri: chunk.to_vec(),
                    ..Update::default()
                }));
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

fn apply_received(table: &mut BTreeMap<IpNet, Rc<RouteAttrs>>, update: &Update) {
    for (_, nlri) in update.routes_to_withdraw() {
        table.remove(&nlri.prefix);
    }
    let Some(next_hop) = update.next_hop() else {
        return;
    };
    let mut shared: Option<Rc<RouteAttrs>> = None;
    for (family, nlri) in update.routes_to_announce() {
        if family == Family::IPV4_UNICAST {
            let attrs = shared
                .get_or_insert_with(|| {
                    Rc::new(RouteAttrs::from_wire(
                        &update.attributes,
                        IpAddr::V4(next_hop),
                        true,
                    ))
                })
                .clone();
            table.insert(nlri.prefix, attrs);
        }
    }
}
