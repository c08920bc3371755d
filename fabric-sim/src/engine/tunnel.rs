//! A BGP session between two NVAs over a tunnel of their own (spec 1.7 and scenario 25:
//! route servers in two regions do not relay to each other, so the NVAs do).
//!
//! Each end is a real `bgp_fsm` session. End 0 opens the connection, end 1 listens
//! (passive). The simulator carries the bytes over the heap with the link latency, as
//! it does between speakers and instances. What an end received is kept after RFC 4271
//! 9.1.2 loop detection: a route whose AS path holds the receiver's own ASN is dropped.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use bgp_fsm::{
    Input as SessionInput, Output as SessionOutput, Session, SessionConfig, SessionEvent, State,
};
use bgp_wire::{Family, Nlri, Update, UpdatePacker};
use ipnet::IpNet;

use super::speaker::{attributes, SPEAKER_CONNECT_RETRY};
use crate::model::{Announcement, SpeakerSpec};
use crate::Instant;

/// What a tunnel end asks of the simulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TunnelAction {
    /// End `end` opens a connection to the other end.
    Connect { end: usize },
    /// End `end` writes bytes on its connection.
    Send { end: usize, bytes: Vec<u8> },
    /// End `end` closes its connection.
    Close { end: usize },
    /// A line for the event log, by end.
    Log { end: usize, text: String },
}

/// One end of a tunnel: an NVA's session toward the other NVA.
#[derive(Debug)]
pub(crate) struct TunnelEnd {
    /// The NVA (index into the topology's speakers).
    pub(crate) speaker: usize,
    asn: u32,
    address: Ipv4Addr,
    config: SessionConfig,
    pub(crate) session: Session,
    /// The NVA runs.
    pub(crate) alive: bool,
    /// The connection being opened, by id.
    pub(crate) attempt: Option<u64>,
    /// The connection up, by id.
    pub(crate) conn: Option<u64>,
    /// What it received over the tunnel, loops dropped.
    pub(crate) received: BTreeMap<IpNet, Announcement>,
    /// What it advertises over the tunnel (sent while Established).
    pub(crate) advertised: BTreeMap<IpNet, Announcement>,
}

/// A tunnel and its two ends.
#[derive(Debug)]
pub(crate) struct TunnelLink {
    /// The two ends; end 0 connects, end 1 only listens.
    pub(crate) ends: [TunnelEnd; 2],
    /// Whether the tunnel carries packets.
    pub(crate) up: bool,
    /// Its index in the topology's tunnels (a tunnel that cannot run has no link).
    pub(crate) spec_index: usize,
}

fn end_config(
    local: &SpeakerSpec,
    remote: &SpeakerSpec,
    passive: bool,
    seed: u64,
) -> SessionConfig {
    let mut config = SessionConfig::new(local.asn, local.ip, remote.asn);
    config.hold_time = local.hold_time;
    config.connect_retry_time = SPEAKER_CONNECT_RETRY;
    // The listening end never connects out: two ends that both connect and both back
    // off after a failure could keep missing each other.
    config.passive = passive;
    config.listen_only = passive;
    config.rng_seed = seed;
    config
}

impl TunnelLink {
    /// A tunnel between NVAs `a` (connects) and `b` (listens), both stopped.
    ///
    /// # Errors
    ///
    /// When `bgp_fsm` refuses either session configuration.
    pub(crate) fn new(
        a: (usize, &SpeakerSpec),
        b: (usize, &SpeakerSpec),
        up: bool,
        seed: u64,
        now: Instant,
    ) -> Result<Self, String> {
        let end = |(k, local): (usize, &SpeakerSpec),
                   remote: &SpeakerSpec,
                   passive: bool,
                   seed: u64|
         -> Result<TunnelEnd, String> {
            let config = end_config(local, remote, passive, seed);
            Ok(TunnelEnd {
                speaker: k,
                asn: local.asn,
                address: local.ip,
                session: Session::new(config.clone(), now).map_err(|e| e.to_string())?,
                config,
                alive: false,
                attempt: None,
                conn: None,
                received: BTreeMap::new(),
                advertised: BTreeMap::new(),
            })
        };
        Ok(Self {
            ends: [end(a, b.1, false, seed)?, end(b, a.1, true, seed ^ 1)?],
            up,
            spec_index: 0,
        })
    }

    /// End `e`'s NVA boots: a fresh session, started.
    pub(crate) fn start(&mut self, now: Instant, e: usize, out: &mut Vec<TunnelAction>) {
        let end = &mut self.ends[e];
        end.session = Session::new(end.config.clone(), now)
            .expect("this configuration was accepted when the tunnel was built");
        end.alive = true;
        end.attempt = None;
        end.conn = None;
        end.received.clear();
        end.session.start(now);
        self.drain(now, e, out);
    }

    /// End `e`'s NVA dies silently: the other end finds out by its hold timer.
    pub(crate) fn crash(&mut self, e: usize) {
        let end = &mut self.ends[e];
        end.alive = false;
        end.attempt = None;
        end.conn = None;
        end.received.clear();
    }

    /// The tunnel stops carrying packets: both ends see their connection fail.
    pub(crate) fn go_down(&mut self, now: Instant, out: &mut Vec<TunnelAction>) {
        self.up = false;
        for e in 0..2 {
            let end = &mut self.ends[e];
            end.attempt = None;
            if end.alive && end.conn.take().is_some() {
                end.session
                    .handle_input(now, SessionInput::TcpConnectionFails);
                self.drain(now, e, out);
            }
        }
    }

    /// A connection offer arrived at end `e`: accepted when its NVA runs, the tunnel is
    /// up and the session listens. When both ends connect at once, the connection opened
    /// by end 0 is the one kept (a fixed tie-break standing in for RFC 4271 6.8 collision
    /// detection): end 0 refuses end 1's offer while its own attempt is out, and end 1
    /// drops its attempt when it takes end 0's.
    pub(crate) fn offer(
        &mut self,
        now: Instant,
        e: usize,
        conn: u64,
        out: &mut Vec<TunnelAction>,
    ) -> bool {
        let up = self.up;
        let end = &mut self.ends[e];
        if !up || !end.alive || end.conn.is_some() || (e == 0 && end.attempt.is_some()) {
            return false;
        }
        if !matches!(end.session.state(), State::Connect | State::Active) {
            return false;
        }
        end.attempt = None;
        end.conn = Some(conn);
        end.session
            .handle_input(now, SessionInput::TcpConnectionConfirmed);
        self.drain(now, e, out);
        true
    }

    /// End `e`'s connection attempt `conn` was accepted.
    pub(crate) fn accepted(
        &mut self,
        now: Instant,
        e: usize,
        conn: u64,
        out: &mut Vec<TunnelAction>,
    ) -> bool {
        let end = &mut self.ends[e];
        if !end.alive || end.attempt != Some(conn) {
            return false;
        }
        end.attempt = None;
        end.conn = Some(conn);
        end.session.handle_input(now, SessionInput::TcpCrAcked);
        self.drain(now, e, out);
        true
    }

    /// End `e`'s connection attempt `conn` was refused.
    pub(crate) fn refused(
        &mut self,
        now: Instant,
        e: usize,
        conn: u64,
        out: &mut Vec<TunnelAction>,
    ) {
        let end = &mut self.ends[e];
        if end.alive && end.attempt == Some(conn) {
            end.attempt = None;
            end.session
                .handle_input(now, SessionInput::TcpConnectionFails);
            self.drain(now, e, out);
        }
    }

    /// Bytes arrived at end `e` on connection `conn`.
    pub(crate) fn received(
        &mut self,
        now: Instant,
        e: usize,
        conn: u64,
        bytes: &[u8],
        out: &mut Vec<TunnelAction>,
    ) {
        let end = &mut self.ends[e];
        if self.up && end.alive && end.conn == Some(conn) {
            end.session.handle_input(now, SessionInput::Received(bytes));
            self.drain(now, e, out);
        }
    }

    /// The other end closed connection `conn`.
    pub(crate) fn closed(
        &mut self,
        now: Instant,
        e: usize,
        conn: u64,
        out: &mut Vec<TunnelAction>,
    ) {
        let end = &mut self.ends[e];
        if end.alive && end.conn == Some(conn) {
            end.conn = None;
            end.session
                .handle_input(now, SessionInput::TcpConnectionFails);
            self.drain(now, e, out);
        }
    }

    /// Fires the timers due at `now`.
    pub(crate) fn timeout(&mut self, now: Instant, out: &mut Vec<TunnelAction>) {
        for e in 0..2 {
            let end = &mut self.ends[e];
            if end.alive && end.session.poll_timeout().is_some_and(|t| t <= now) {
                end.session.handle_timeout(now);
                self.drain(now, e, out);
            }
        }
    }

    /// The earliest timer of the running ends.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.ends
            .iter()
            .filter(|e| e.alive)
            .filter_map(|e| e.session.poll_timeout())
            .min()
    }

    /// Sets what end `e` advertises; the difference goes out at once if the session
    /// is Established (the whole table goes out when it gets there).
    pub(crate) fn advertise(
        &mut self,
        now: Instant,
        e: usize,
        table: BTreeMap<IpNet, Announcement>,
        out: &mut Vec<TunnelAction>,
    ) {
        let end = &mut self.ends[e];
        if end.advertised == table {
            return;
        }
        let changed: Vec<Announcement> = table
            .iter()
            .filter(|(p, a)| end.advertised.get(*p) != Some(*a))
            .map(|(_, a)| a.clone())
            .collect();
        let gone: Vec<IpNet> = end
            .advertised
            .keys()
            .filter(|p| !table.contains_key(*p))
            .copied()
            .collect();
        end.advertised = table;
        self.send(now, e, &changed, &gone, out);
    }

    fn drain(&mut self, now: Instant, e: usize, out: &mut Vec<TunnelAction>) {
        let mut send_table = false;
        let end = &mut self.ends[e];
        while let Some(output) = end.session.poll_output() {
            match output {
                SessionOutput::Transmit(bytes) => {
                    if end.conn.is_some() {
                        out.push(TunnelAction::Send { end: e, bytes });
                    }
                }
                SessionOutput::ConnectTcp => out.push(TunnelAction::Connect { end: e }),
                SessionOutput::CloseTcp => {
                    end.attempt = None;
                    if end.conn.take().is_some() {
                        out.push(TunnelAction::Close { end: e });
                    }
                }
                SessionOutput::Event(SessionEvent::Update(update)) => {
                    apply(end.asn, &mut end.received, &update);
                }
                SessionOutput::Event(SessionEvent::Established(_)) => {
                    out.push(TunnelAction::Log {
                        end: e,
                        text: "tunnel session Established".into(),
                    });
                    send_table = true;
                }
                SessionOutput::Event(SessionEvent::Down(reason)) => {
                    out.push(TunnelAction::Log {
                        end: e,
                        text: format!("tunnel session down: {reason:?}"),
                    });
                    end.received.clear();
                }
                SessionOutput::Event(_) => {}
            }
        }
        if send_table {
            let all: Vec<Announcement> = self.ends[e].advertised.values().cloned().collect();
            self.send(now, e, &all, &[], out);
        }
    }

    fn send(
        &mut self,
        now: Instant,
        e: usize,
        routes: &[Announcement],
        withdraw: &[IpNet],
        out: &mut Vec<TunnelAction>,
    ) {
        let end = &mut self.ends[e];
        if !end.alive || end.session.state() != State::Established {
            return;
        }
        let Some(params) = end.session.negotiated().map(|n| n.send.clone()) else {
            return;
        };
        let mut packer = UpdatePacker::new(params);
        for p in withdraw.iter().filter(|p| p.addr().is_ipv4()) {
            packer.withdraw(Family::IPV4_UNICAST, Nlri::new(*p));
        }
        for r in routes.iter().filter(|r| r.prefix.addr().is_ipv4()) {
            packer.announce(&attributes(r), vec![Nlri::new(r.prefix)]);
        }
        for update in packer.finish_updates() {
            let _ = end.session.send_update(now, &update);
        }
        while let Some(output) = end.session.poll_output() {
            if let SessionOutput::Transmit(bytes) = output {
                if end.conn.is_some() {
                    out.push(TunnelAction::Send { end: e, bytes });
                }
            }
        }
    }

    /// The address of end `e`'s NVA.
    pub(crate) fn address(&self, e: usize) -> Ipv4Addr {
        self.ends[e].address
    }
}

/// Applies a received UPDATE to `table`, dropping routes whose path holds `own_asn`.
fn apply(own_asn: u32, table: &mut BTreeMap<IpNet, Announcement>, update: &Update) {
    for (_, nlri) in update.routes_to_withdraw() {
        table.remove(&nlri.prefix);
    }
    let Some(next_hop) = update.next_hop() else {
        return;
    };
    // The path with AS4_PATH merged (RFC 6793), as the route server reads it.
    let attrs = route_server::RouteAttrs::from_wire(
        &update.attributes,
        std::net::IpAddr::V4(next_hop),
        true,
    );
    let as_path: Vec<u32> = attrs
        .as_path
        .segments
        .iter()
        .flat_map(|s| s.asns.iter().copied())
        .collect();
    let communities: Vec<(u16, u16)> = attrs
        .communities
        .iter()
        .map(|c| ((c.0 >> 16) as u16, (c.0 & 0xffff) as u16))
        .collect();
    let looped = as_path.contains(&own_asn);
    for (family, nlri) in update.routes_to_announce() {
        if family != Family::IPV4_UNICAST {
            continue;
        }
        if looped {
            // RFC 4271 9.1.2: unfeasible; it replaces what the prefix had.
            table.remove(&nlri.prefix);
            continue;
        }
        table.insert(
            nlri.prefix,
            Announcement {
                prefix: nlri.prefix,
                as_path: as_path.clone(),
                next_hop,
                communities: communities.clone(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(prefix: &str, as_path: Vec<u32>) -> Update {
        let a = Announcement {
            prefix: prefix.parse().expect("prefix"),
            as_path,
            next_hop: Ipv4Addr::new(10, 2, 2, 4),
            communities: vec![(65002, 7)],
        };
        Update {
            attributes: attributes(&a),
            nlri: vec![Nlri::new(a.prefix)],
            ..Update::default()
        }
    }

    /// RFC 4271 9.1.2: a route whose AS path holds the receiver's ASN is unfeasible; it
    /// is not kept, and it replaces what the prefix had (an implicit withdrawal).
    #[test]
    fn a_path_through_the_receivers_own_as_is_dropped_and_replaces_the_old_one() {
        let mut table = BTreeMap::new();
        apply(
            65001,
            &mut table,
            &update("10.2.0.0/16", vec![65002, 65515]),
        );
        let kept = table.get(&"10.2.0.0/16".parse::<IpNet>().expect("prefix"));
        assert_eq!(kept.map(|a| a.as_path.clone()), Some(vec![65002, 65515]));
        assert_eq!(kept.map(|a| a.communities.clone()), Some(vec![(65002, 7)]));
        apply(
            65001,
            &mut table,
            &update("10.2.0.0/16", vec![65002, 65001]),
        );
        assert!(table.is_empty(), "{table:?}");
    }
}
