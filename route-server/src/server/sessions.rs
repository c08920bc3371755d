//! Sessions: peers configured and removed, connections offered and dialled, RFC 4271
//! collisions, each session's events drained, a session's end, and route refresh (RFC 2918,
//! RFC 7313).

#[allow(clippy::wildcard_imports)]
use super::*;

impl RouteServer {
    /// Adds a peer and starts its session.
    ///
    /// # Errors
    ///
    /// The peer is refused: bad ASN, duplicate address, or one peer too many.
    pub fn add_peer(&mut self, now: Instant, peer: PeerConfig) -> Result<PeerId, ConfigError> {
        self.config.validate_peer(&peer)?;
        if self
            .peers
            .values()
            .any(|p| p.config.address == peer.address)
        {
            return Err(ConfigError::DuplicatePeer { peer: peer.address });
        }
        if let Some(map) = &peer.outbound_map {
            if map.rules.iter().any(|r| {
                matches!(&r.action, crate::RouteMapAction::Modify(m)
                    if m.iter().any(|m| matches!(m, crate::Modification::ReplacePrefix(_))))
            }) {
                return Err(ConfigError::RouteMap {
                    peer: peer.address,
                    field: "outbound_map",
                    source: crate::RouteMapError::SummaryOutbound,
                });
            }
        }
        let nvas = self
            .peers
            .values()
            .filter(|p| p.config.kind == PeerKind::Nva)
            .count();
        if peer.kind == PeerKind::Nva && nvas >= self.config.limits.max_peers {
            return Err(ConfigError::TooManyPeers {
                count: nvas + 1,
                max: self.config.limits.max_peers,
                first_refused: Some(peer.address),
            });
        }
        let id = PeerId(self.next_peer);
        self.next_peer += 1;
        let session_config = self.session_config(&peer, id);
        let mut session =
            Session::new(session_config, now).map_err(|source| ConfigError::Session {
                peer: peer.address,
                source,
            })?;
        let info = store::rib_peer_info(peer.address, peer.asn, self.config.local_asn);
        let rib_in =
            AdjRibIn::new(&mut self.learned, info).map_err(|_| ConfigError::TooManyPeers {
                count: self.peers.len() + 1,
                max: 1 << 16,
                first_refused: Some(peer.address),
            })?;
        let slot = rib_in.rib_peer().as_u32() as usize;
        if self.peer_of_rib_peer.len() <= slot {
            self.peer_of_rib_peer.resize(slot + 1, None);
        }
        self.peer_of_rib_peer[slot] = Some(id);
        session.start(now);
        let serial = self.new_serial();
        self.config.peers.push(peer.clone());
        self.peers.insert(
            id,
            Peer {
                config: peer,
                session,
                serial,
                connection: None,
                connection_up: false,
                state: State::Idle,
                closed: None,
                rival: None,
                admin_down: false,
                established: None,
                rib_in,
                stale_deadline: None,
                over_prefix_limit: false,
                limit_batch: None,
                limit_hit: false,
                refreshes: Vec::new(),
            },
        );
        self.sessions_to_drain.insert(id);
        self.drain_all(now);
        Ok(id)
    }

    /// Removes a peer: Cease / Peer De-configured, its routes withdrawn.
    ///
    /// # Errors
    ///
    /// [`ConfigError::UnknownPeer`] when no such peer is configured.
    pub fn remove_peer(&mut self, now: Instant, peer: PeerId) -> Result<(), ConfigError> {
        let Some(p) = self.peers.get_mut(&peer) else {
            return Err(ConfigError::UnknownPeer { peer });
        };
        if let Some(rival) = &mut p.rival {
            rival.session.stop(now, StopReason::PeerDeconfigured);
        }
        p.session.stop(now, StopReason::PeerDeconfigured);
        self.drain_peer(now, peer);
        let Some(p) = self.peers.remove(&peer) else {
            return Ok(());
        };
        if let Some(slot) = self
            .peer_of_rib_peer
            .get_mut(p.rib_in.rib_peer().as_u32() as usize)
        {
            *slot = None;
        }
        let dirty = p
            .rib_in
            .remove(&mut self.learned, self.prefix_states.orphans());
        self.prefix_states
            .forget_sent(&mut self.learned, &mut self.export_pool, peer);
        self.config.peers.retain(|c| c.address != p.config.address);
        self.process_sorted(now, dirty, None);
        self.drain_all(now);
        Ok(())
    }

    /// Shuts a peer's session down with Cease / Administrative Shutdown carrying
    /// `message` (RFC 9003); it stays down until [`start_peer`](Self::start_peer).
    pub fn shutdown_peer(&mut self, now: Instant, peer: PeerId, message: Option<&str>) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.admin_down = true;
            let reason = StopReason::AdministrativeShutdown(message.map(str::to_owned));
            if let Some(rival) = &mut p.rival {
                rival.session.stop(now, reason.clone());
            }
            p.session.stop(now, reason);
            self.sessions_to_drain.insert(peer);
        }
        self.drain_all(now);
    }

    /// Starts a peer's session again after [`shutdown_peer`](Self::shutdown_peer).
    pub fn start_peer(&mut self, now: Instant, peer: PeerId) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.admin_down = false;
            p.session.start(now);
            self.sessions_to_drain.insert(peer);
        }
        self.drain_all(now);
    }

    pub(super) fn session_config(&self, peer: &PeerConfig, id: PeerId) -> SessionConfig {
        let mut s = SessionConfig::new(
            self.config.local_asn,
            self.config.router_id,
            PeerAsn::Is(peer.asn),
        );
        s.hold_time = self.config.hold_time_secs;
        s.passive = peer.passive;
        s.listen_only = peer.passive;
        s.connect_retry_time = peer.connect_retry_time;
        s.idle_hold_time = peer.idle_hold_time;
        s.send_hold_time = peer.send_hold_time;
        s.max_idle_hold_time = crate::config::DEFAULT_MAX_IDLE_HOLD_TIME.max(peer.idle_hold_time);
        s.rng_seed = self.config.rng_seed ^ u64::from(id.0).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // Azure supports 2-octet ASNs only; the capability (RFC 6793) is offered when the
        // 4-octet extension is on. Without it a peer's 4-octet ASNs still pass through
        // AS4_PATH, which RFC 6793 has every speaker merge.
        s.capabilities.four_octet_as = self.config.extensions.four_octet_asn;
        s.capabilities.families = vec![Family::IPV4_UNICAST];
        if self.config.extensions.ipv6_unicast {
            s.capabilities.families.push(Family::IPV6_UNICAST);
        }
        if self.config.extensions.graceful_restart_helper {
            s.capabilities.graceful_restart = Some(GracefulRestart {
                flags: 0,
                restart_time: 120,
                families: s
                    .capabilities
                    .families
                    .iter()
                    .map(|f| GracefulRestartFamily {
                        family: *f,
                        flags: 0,
                    })
                    .collect(),
            });
        }
        s
    }

    pub(super) fn offer_connection(&mut self, now: Instant, from: IpAddr) {
        let Some(id) = self.peer_by_address(from) else {
            self.refuse(from, RefuseReason::NotAPeer);
            return;
        };
        let Some(p) = self.peers.get(&id) else {
            return;
        };
        let established = p.session.state() == State::Established;
        let restarting = established && self.restart_detected_by_connection(p);
        let refused = if p.admin_down {
            Some(RefuseReason::AdministrativelyDown)
        } else if established && !restarting {
            Some(RefuseReason::AlreadyEstablished)
        } else {
            None
        };
        if let Some(reason) = refused {
            self.refuse(from, reason);
            return;
        }
        let connection = self.new_connection_id();
        // The answer comes first (the driver binds the connection to it), then what
        // taking over a restarted peer's session does.
        self.outputs.push_back(Output::Accepted {
            connection,
            peer: id,
            from,
        });
        if restarting {
            self.take_over_restarted_peer(now, id);
        }
        let Some(p) = self.peers.get(&id) else {
            return;
        };
        let origin = p.session.connection_origin();
        let (current, up) = (p.connection, p.connection_up);
        match (current, up, origin) {
            (Some(_), true, Some(ConnectionOrigin::Local)) => {
                // Our connection is up but not Established: a collision. The peer's
                // connection runs its own session; RFC 4271 section 6.8 decides at the
                // first OPEN. An older connection of the peer's is superseded.
                let serial = self.new_serial();
                let Some(config) = self
                    .peers
                    .get(&id)
                    .map(|p| self.session_config(&p.config, id))
                else {
                    return;
                };
                let mut session = Session::new(config, now)
                    .expect("the peer's first session was built from the same settings");
                if let Some(old) = self.peers.get_mut(&id).and_then(|p| p.rival.as_mut()) {
                    old.session
                        .handle_input(now, SessionInput::OpenCollisionDump);
                    self.drain_peer(now, id);
                }
                session.handle_input(now, SessionInput::ManualStartWithPassiveTcpEstablishment);
                session.handle_input(now, SessionInput::TcpConnectionValid);
                session.handle_input(now, SessionInput::TcpConnectionConfirmed);
                if let Some(p) = self.peers.get_mut(&id) {
                    p.rival = Some(Rival {
                        connection,
                        session,
                        open: true,
                        state: State::Active,
                        serial,
                    });
                }
                self.sessions_to_drain.insert(id);
                return;
            }
            (Some(_), true, _) => {
                // The peer opened a new connection while its previous one was still
                // being set up: it gave that one up (a restart); the newer one stays.
                if let Some(p) = self.peers.get_mut(&id) {
                    p.session.handle_input(now, SessionInput::OpenCollisionDump);
                }
                self.drain_peer(now, id);
            }
            (Some(pending), false, _) => {
                // Our own attempt is still under way: the peer's connection is up
                // already, so ours is abandoned.
                self.connecting.insert(pending, id);
                self.outputs.push_back(Output::Disconnect {
                    connection: pending,
                    peer: id,
                });
            }
            (None, _, _) => {}
        }
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        if p.session.state() == State::Idle {
            // Idle after a failure (or a route-limit teardown): the back-off only delays
            // our own attempts; the peer's connection is taken at once.
            p.session
                .handle_input(now, SessionInput::ManualStartWithPassiveTcpEstablishment);
        }
        p.connection = Some(connection);
        p.connection_up = true;
        p.closed = None;
        p.session
            .handle_input(now, SessionInput::TcpConnectionValid);
        p.session
            .handle_input(now, SessionInput::TcpConnectionConfirmed);
        self.sessions_to_drain.insert(id);
    }

    /// Whether a new connection from a peer whose session is Established means the peer
    /// restarted: true when we help graceful restarts and the peer announced the Graceful
    /// Restart capability (RFC 4724) on that session. A peer that can restart gracefully
    /// and does so quickly (a rebooted NVA VM whose old TCP connection was never reset)
    /// would otherwise be refused until our hold timer expires; RFC 4724 section 4.2 has
    /// the receiving speaker treat the new session as the restart, and BIRD, FRR and
    /// GoBGP accept the new connection the same way. Without the capability RFC 4271
    /// section 6.8 applies: the Established connection stays and the new one is refused.
    fn restart_detected_by_connection(&self, peer: &Peer) -> bool {
        self.config.extensions.graceful_restart_helper
            && peer
                .established
                .as_ref()
                .is_some_and(|e| e.graceful_restart.is_some())
    }

    /// Ends a restarted peer's old session as a lost connection (its routes are kept
    /// stale, as after any restart) and closes the old connection, so the new one can
    /// be accepted.
    fn take_over_restarted_peer(&mut self, now: Instant, id: PeerId) {
        self.outputs
            .push_back(Output::Event(Event::RestartDetected { peer: id }));
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        if let Some(old) = p.connection.take() {
            p.connection_up = false;
            p.closed = Some(old);
            self.outputs.push_back(Output::Disconnect {
                connection: old,
                peer: id,
            });
        }
        p.session
            .handle_input(now, SessionInput::TcpConnectionFails);
        self.drain_peer(now, id);
    }

    /// Answers an offered connection with a refusal, and tells the operator.
    pub(super) fn refuse(&mut self, from: IpAddr, reason: RefuseReason) {
        self.outputs.push_back(Output::Refused { from, reason });
        self.outputs
            .push_back(Output::Event(Event::ConnectionRefused { from, reason }));
    }

    pub(super) fn new_connection_id(&mut self) -> ConnectionId {
        let id = ConnectionId(self.next_connection);
        self.next_connection += 1;
        id
    }

    pub(super) fn new_serial(&mut self) -> u64 {
        let serial = self.next_serial;
        self.next_serial += 1;
        serial
    }

    /// The peer and session a connection belongs to, while it is current.
    pub(super) fn find_connection(&self, connection: ConnectionId) -> Option<(PeerId, Slot)> {
        self.peers.iter().find_map(|(id, p)| {
            if p.connection == Some(connection) {
                Some((*id, Slot::Main))
            } else if p
                .rival
                .as_ref()
                .is_some_and(|r| r.open && r.connection == connection)
            {
                Some((*id, Slot::Rival))
            } else {
                None
            }
        })
    }

    /// An outbound connection is up; a late one (no longer wanted) is closed.
    pub(super) fn connected(&mut self, now: Instant, connection: ConnectionId) {
        let owner = self.connecting.remove(&connection);
        if let Some((id, Slot::Main)) = self.find_connection(connection) {
            if let Some(p) = self.peers.get_mut(&id) {
                if !p.connection_up {
                    p.connection_up = true;
                    p.session.handle_input(now, SessionInput::TcpCrAcked);
                    self.sessions_to_drain.insert(id);
                    return;
                }
            }
        }
        if let Some(peer) = owner {
            self.outputs
                .push_back(Output::Disconnect { connection, peer });
        }
    }

    /// Passes an input about one connection to the session running on it, if any.
    pub(super) fn connection_input(
        &mut self,
        now: Instant,
        connection: ConnectionId,
        input: SessionInput<'_>,
    ) {
        let Some((id, slot)) = self.find_connection(connection) else {
            return;
        };
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        let fails = matches!(input, SessionInput::TcpConnectionFails);
        match slot {
            Slot::Main => {
                if fails {
                    p.connection = None;
                    p.connection_up = false;
                    p.closed = Some(connection);
                } else if !p.connection_up {
                    return;
                }
                p.session.handle_input(now, input);
            }
            Slot::Rival => {
                let Some(rival) = p.rival.as_mut() else {
                    return;
                };
                if fails {
                    rival.open = false;
                }
                rival.session.handle_input(now, input);
            }
        }
        self.sessions_to_drain.insert(id);
    }

    pub(super) fn drain_all(&mut self, now: Instant) {
        while let Some(id) = self.sessions_to_drain.pop_first() {
            self.drain_peer(now, id);
        }
    }

    /// Moves a peer's sessions' outputs out and acts on their events, until they are
    /// quiet. Events are tagged with their session's serial, so events of a session
    /// discarded meanwhile (a collision's loser) are dropped.
    pub(super) fn drain_peer(&mut self, now: Instant, id: PeerId) {
        loop {
            let mut events: Vec<(u64, SessionEvent)> = Vec::new();
            {
                let Some(peer) = self.peers.get_mut(&id) else {
                    return;
                };
                while let Some(out) = peer.session.poll_output() {
                    match out {
                        SessionOutput::Transmit(bytes) => {
                            if let (Some(connection), true) = (peer.connection, peer.connection_up)
                            {
                                self.outputs.push_back(Output::Transmit {
                                    connection,
                                    peer: id,
                                    bytes,
                                });
                            }
                        }
                        SessionOutput::ConnectTcp => {
                            let connection = ConnectionId(self.next_connection);
                            self.next_connection += 1;
                            peer.connection = Some(connection);
                            peer.connection_up = false;
                            peer.closed = None;
                            self.connecting.insert(connection, id);
                            self.outputs.push_back(Output::Connect {
                                connection,
                                peer: id,
                                remote: peer.config.address,
                                port: peer.config.remote_port,
                                local: local_address_for(&self.config, &peer.config),
                            });
                        }
                        SessionOutput::CloseTcp => {
                            if let Some(connection) = peer.connection.take() {
                                peer.connection_up = false;
                                peer.closed = Some(connection);
                                self.outputs.push_back(Output::Disconnect {
                                    connection,
                                    peer: id,
                                });
                            }
                        }
                        SessionOutput::Event(event) => events.push((peer.serial, event)),
                    }
                }
                if let Some(rival) = &mut peer.rival {
                    while let Some(out) = rival.session.poll_output() {
                        match out {
                            SessionOutput::Transmit(bytes) if rival.open => {
                                self.outputs.push_back(Output::Transmit {
                                    connection: rival.connection,
                                    peer: id,
                                    bytes,
                                });
                            }
                            SessionOutput::CloseTcp if rival.open => {
                                rival.open = false;
                                self.outputs.push_back(Output::Disconnect {
                                    connection: rival.connection,
                                    peer: id,
                                });
                            }
                            // A rival only ever runs on the peer's connection.
                            SessionOutput::Transmit(_)
                            | SessionOutput::CloseTcp
                            | SessionOutput::ConnectTcp => {}
                            SessionOutput::Event(event) => events.push((rival.serial, event)),
                        }
                    }
                }
            }
            if events.is_empty() {
                return;
            }
            // Consecutive UPDATEs are imported together (one selection pass); the route
            // limit still counts them one by one.
            let mut updates = Vec::new();
            for (serial, event) in events {
                let Some(peer) = self.peers.get(&id) else {
                    return;
                };
                let slot = if serial == peer.serial {
                    Slot::Main
                } else if peer.rival.as_ref().is_some_and(|r| r.serial == serial) {
                    Slot::Rival
                } else {
                    continue; // a discarded session's
                };
                match (slot, event) {
                    (Slot::Main, SessionEvent::Update(update)) => updates.push(update),
                    (Slot::Main, other) => {
                        self.apply_updates(now, id, std::mem::take(&mut updates));
                        self.session_event(now, id, other);
                    }
                    (Slot::Rival, other) => {
                        self.apply_updates(now, id, std::mem::take(&mut updates));
                        self.rival_event(now, id, other);
                    }
                }
            }
            self.apply_updates(now, id, updates);
        }
    }

    /// An event of the session on the peer's colliding connection.
    pub(super) fn rival_event(&mut self, now: Instant, id: PeerId, event: SessionEvent) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(rival) = peer.rival.as_mut() else {
            return;
        };
        match event {
            SessionEvent::StateChanged { to, .. } => rival.state = to,
            SessionEvent::OpenReceived { peer_id, peer_asn } => {
                self.resolve_collision(now, id, peer_id, peer_asn);
            }
            SessionEvent::Down(reason) => {
                let event = Event::SessionEnded {
                    peer: id,
                    connection: Some(rival.connection),
                    state: rival.state,
                    reason,
                };
                peer.rival = None;
                self.outputs.push_back(Output::Event(event));
            }
            SessionEvent::Established(negotiated) => {
                // Not reached: the collision is resolved at the rival's OPEN, before its
                // KEEPALIVE. Should it be, the rival wins and takes the main's place.
                peer.session
                    .handle_input(now, SessionInput::OpenCollisionDump);
                self.drain_peer(now, id);
                self.promote_rival(id);
                self.session_event(now, id, SessionEvent::Established(negotiated));
            }
            SessionEvent::Update(_) | SessionEvent::RouteRefresh(_) => {}
        }
    }

    /// RFC 4271 section 6.8 between the peer's two connections, once an OPEN told the
    /// peer's BGP identifier: the connection opened by the speaker with the higher
    /// identifier stays (RFC 6286: the higher AS on a tie), the other gets Cease /
    /// Connection Collision Resolution (6/7). A connection colliding with an Established
    /// one always loses. The identifier is known from either connection's OPEN (it is
    /// the same speaker), so the collision is resolved at the first OPEN while both
    /// connections are up (section 6.8 allows examining OpenSent connections when the
    /// identifier is known); the peer, applying the same rule, keeps the same one.
    pub(super) fn resolve_collision(
        &mut self,
        now: Instant,
        id: PeerId,
        peer_id: Ipv4Addr,
        peer_asn: u32,
    ) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(rival) = p.rival.as_mut() else {
            return;
        };
        if !(p.connection_up && rival.open) {
            return;
        }
        // The state as of this event: a chunk holding OPEN and KEEPALIVE has moved the
        // session on already, but the collision is decided as the OPEN arrived.
        if p.state == State::Established {
            rival
                .session
                .handle_input(now, SessionInput::OpenCollisionDump);
        } else if !p.session.resolve_collision(now, peer_id, peer_asn) {
            rival.session.resolve_collision(now, peer_id, peer_asn);
        }
        self.drain_peer(now, id);
    }

    /// The rival session becomes the peer's session (the previous one lost or ended).
    pub(super) fn promote_rival(&mut self, id: PeerId) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(rival) = p.rival.take() else {
            return;
        };
        p.session = rival.session;
        p.serial = rival.serial;
        p.state = rival.state;
        p.connection = rival.open.then_some(rival.connection);
        p.connection_up = rival.open;
        p.closed = None;
    }

    pub(super) fn session_event(&mut self, now: Instant, id: PeerId, event: SessionEvent) {
        match event {
            SessionEvent::Established(negotiated) => {
                let Some(peer) = self.peers.get_mut(&id) else {
                    return;
                };
                peer.limit_batch = None;
                peer.limit_hit = false;
                // RFC 4724 section 4.2: routes kept stale over a restart go at once when
                // the new session does not say the peer kept its IPv4 forwarding state
                // (no Graceful Restart capability, or the family's F bit clear).
                let forwarding_kept = negotiated.graceful_restart.as_ref().is_some_and(|gr| {
                    gr.families.iter().any(|f| {
                        f.family == Family::IPV4_UNICAST && f.flags & GR_FORWARDING_PRESERVED != 0
                    })
                });
                let swept = if peer.stale_deadline.is_some() && !forwarding_kept {
                    peer.stale_deadline = None;
                    peer.rib_in.sweep_stale(&mut self.learned)
                } else {
                    Vec::new()
                };
                peer.established = Some(Established {
                    send: negotiated.send.clone(),
                    receive: negotiated.receive.clone(),
                    families: negotiated.families.clone(),
                    route_refresh: negotiated.route_refresh,
                    enhanced_route_refresh: negotiated.enhanced_route_refresh,
                    graceful_restart: negotiated.graceful_restart.clone(),
                });
                self.outputs
                    .push_back(Output::Event(Event::PeerUp { peer: id }));
                if !swept.is_empty() {
                    self.process(now, swept.into_iter().collect(), None);
                }
                let all = self.all_prefixes([]);
                self.process_sorted(now, all, Some(id));
                let families = self
                    .peers
                    .get(&id)
                    .map(|p| p.established.as_ref().map(|e| e.families.clone()));
                if let Some(peer) = self.peers.get_mut(&id) {
                    for family in families.flatten().unwrap_or_default() {
                        // The peer's End-of-RIB lets a restarting NVA flush its stale routes.
                        let _ = peer.session.send_end_of_rib(now, family);
                    }
                }
                self.sessions_to_drain.insert(id);
            }
            SessionEvent::RouteRefresh(refresh) => {
                self.outputs
                    .push_back(Output::Event(Event::RouteRefreshReceived {
                        peer: id,
                        family: refresh.family,
                        subtype: refresh.subtype,
                    }));
                match refresh.subtype {
                    RouteRefreshSubtype::Normal => self.answer_refresh(now, id, refresh.family),
                    RouteRefreshSubtype::BeginningOfRefresh => {
                        self.begin_peer_refresh(now, id, refresh.family);
                    }
                    RouteRefreshSubtype::EndOfRefresh => {
                        if let Some(peer) = self.peers.get_mut(&id) {
                            // Like End-of-RIB: the peer's table is complete again.
                            peer.limit_batch = None;
                        }
                        self.end_peer_refresh(now, id, refresh.family, false);
                    }
                    RouteRefreshSubtype::Reserved(_) => {}
                }
            }
            SessionEvent::Down(reason) => {
                let Some(peer) = self.peers.get_mut(&id) else {
                    return;
                };
                let connection = peer.closed.take();
                if peer.established.is_some() {
                    self.peer_down(now, id, reason);
                } else {
                    let state = peer.state;
                    self.outputs.push_back(Output::Event(Event::SessionEnded {
                        peer: id,
                        connection,
                        state,
                        reason,
                    }));
                }
                // The peer's other connection, if any, carries on as its session.
                self.promote_rival(id);
            }
            SessionEvent::StateChanged { to, .. } => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.state = to;
                }
            }
            SessionEvent::OpenReceived { peer_id, peer_asn } => {
                self.resolve_collision(now, id, peer_id, peer_asn);
            }
            SessionEvent::Update(_) => {}
        }
    }

    pub(super) fn peer_down(&mut self, now: Instant, id: PeerId, reason: SessionEnd) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(established) = peer.established.take() else {
            return;
        };
        peer.limit_batch = None;
        peer.limit_hit = false;
        peer.refreshes.clear();
        self.prefix_states
            .forget_sent(&mut self.learned, &mut self.export_pool, id);
        self.outputs.push_back(Output::Event(Event::PeerDown {
            peer: id,
            reason: reason.clone(),
        }));
        let restarting = matches!(
            reason,
            SessionEnd::TcpConnectionFails | SessionEnd::HoldTimerExpired
        );
        let helper = self.config.extensions.graceful_restart_helper;
        // Sorted, once each (`AdjRibIn::clear`): no tree of a million prefixes.
        let dirty: Vec<IpNet> = match (&established.graceful_restart, helper && restarting) {
            (Some(gr), true) if gr.families.iter().any(|f| f.family == Family::IPV4_UNICAST) => {
                let routes = peer.rib_in.mark_stale(&mut self.learned);
                peer.stale_deadline =
                    Some(now + Duration::from_secs(u64::from(gr.restart_time.max(1))));
                self.outputs
                    .push_back(Output::Event(Event::RoutesKeptStale { peer: id, routes }));
                Vec::new()
            }
            _ => {
                peer.stale_deadline = None;
                peer.rib_in
                    .clear(&mut self.learned, self.prefix_states.orphans())
            }
        };
        self.process_sorted(now, dirty, None);
    }

    /// Answers a peer's ROUTE-REFRESH: everything advertised to it in `family` again,
    /// between BoRR and EoRR when it negotiated enhanced route refresh (RFC 7313 section
    /// 4), so it can sweep what we no longer send.
    pub(super) fn answer_refresh(&mut self, now: Instant, id: PeerId, family: Family) {
        let enhanced = self
            .peers
            .get(&id)
            .and_then(|p| p.established.as_ref())
            .is_some_and(|e| e.enhanced_route_refresh);
        let demarcate = |server: &mut Self, subtype| {
            if let Some(peer) = server.peers.get_mut(&id) {
                let refresh = bgp_wire::RouteRefresh::new(family, subtype);
                // Refused only outside Established or for a family not negotiated,
                // which the session checked before reporting the request.
                let _ = peer.session.send_route_refresh(now, refresh);
                server.sessions_to_drain.insert(id);
            }
        };
        if enhanced {
            demarcate(self, RouteRefreshSubtype::BeginningOfRefresh);
        }
        self.resend(now, id, family);
        if enhanced {
            demarcate(self, RouteRefreshSubtype::EndOfRefresh);
        }
    }

    /// The peer's BoRR (RFC 7313 section 4): its routes of `family` are stale until it
    /// re-sends them; those it does not are swept at its EoRR or after
    /// [`Limits::refresh_stale_time`](crate::Limits::refresh_stale_time).
    pub(super) fn begin_peer_refresh(&mut self, now: Instant, id: PeerId, family: Family) {
        let stale_time = self.config.limits.refresh_stale_time;
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let v6 = family == Family::IPV6_UNICAST;
        let unrefreshed: HashSet<IpNet> = peer
            .rib_in
            .received_prefixes(&self.learned, v6)
            .into_iter()
            .collect();
        // A BoRR while a refresh of the family is under way starts it over.
        peer.refreshes.retain(|r| r.family != family);
        peer.refreshes.push(RefreshMark {
            family,
            deadline: now + stale_time,
            unrefreshed,
        });
    }

    /// The peer's EoRR, or its refresh timed out: withdraws the routes it held at its
    /// BoRR and did not re-send.
    pub(super) fn end_peer_refresh(
        &mut self,
        now: Instant,
        id: PeerId,
        family: Family,
        timed_out: bool,
    ) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(index) = peer.refreshes.iter().position(|r| r.family == family) else {
            return;
        };
        let mark = peer.refreshes.swap_remove(index);
        let mut stale: Vec<IpNet> = mark.unrefreshed.into_iter().collect();
        stale.sort_unstable();
        let mut dirty = BTreeSet::new();
        for prefix in &stale {
            dirty.extend(peer.rib_in.withdraw(&mut self.learned, *prefix));
        }
        self.outputs.push_back(Output::Event(Event::RefreshSwept {
            peer: id,
            family,
            routes: stale.len(),
            timed_out,
        }));
        self.process(now, dirty, None);
    }

    /// Re-sends everything advertised to a peer that asked (ROUTE-REFRESH).
    pub(super) fn resend(&mut self, now: Instant, id: PeerId, family: Family) {
        if !self.peers.contains_key(&id) {
            return;
        }
        let v6 = family == Family::IPV6_UNICAST;
        let routes = self.prefix_states.sent_to_family(&self.learned, id, v6);
        let mut out = PendingOut::default();
        for (index, (_, attrs)) in routes.iter().enumerate() {
            out.announce_at(index, *attrs);
        }
        let prefixes: Vec<IpNet> = routes.into_iter().map(|(prefix, _)| prefix).collect();
        self.send_changes(now, id, &prefixes, &out);
    }
}

/// The local address outbound connections to `peer` bind to.
/// The Graceful Restart capability's per-family flag "forwarding state preserved" (RFC
/// 4724 section 3, the F bit).
const GR_FORWARDING_PRESERVED: u8 = 0x80;

pub(super) fn local_address_for(config: &Config, peer: &PeerConfig) -> Option<IpAddr> {
    peer.local_address.or(match peer.address {
        IpAddr::V4(_) => Some(IpAddr::V4(config.local_address)),
        IpAddr::V6(_) => config.local_ipv6_address.map(IpAddr::V6),
    })
}
