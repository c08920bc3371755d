//! One route-server instance as the simulator drives it. Every call into
//! `route_server::RouteServer` (its inputs, commands and outputs) is in this module, so
//! that a change of that API is a local edit: the rest of the simulator speaks in
//! [`InstanceAction`]s keyed by the speaker's address.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use route_server::{
    Config, ConnectionId, Event, FabricChange, HubRoutingPreference, Input, Output, PeerConfig,
    PeerKind, PeeredVnet, RouteAttrs, RouteServer,
};

use crate::Instant;

/// What an instance asks the simulator to do, by the speaker's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum InstanceAction {
    /// Write bytes to the speaker's connection.
    Send { to: IpAddr, bytes: Vec<u8> },
    /// The connection offered from `from` is accepted.
    Accept { from: IpAddr },
    /// The connection offered from `from` is refused.
    Refuse { from: IpAddr },
    /// Close the connection to `to` (after what was sent).
    Close { to: IpAddr },
    /// Program `prefix` toward `next_hops` (none: remove it).
    Program {
        prefix: IpNet,
        next_hops: Vec<IpAddr>,
    },
    /// A line for the event log.
    Log(String),
}

/// A peer of an instance, as the simulator configures it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InstancePeer {
    pub(crate) address: Ipv4Addr,
    pub(crate) asn: u32,
    pub(crate) kind: crate::model::SpeakerKind,
    pub(crate) inbound_map: Option<route_server::RouteMap>,
    pub(crate) outbound_map: Option<route_server::RouteMap>,
}

/// The dynamic settings of a route server (they survive an instance restart).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct InstanceSettings {
    pub(crate) address: Ipv4Addr,
    pub(crate) vnet_prefixes: Vec<IpNet>,
    pub(crate) peered: Vec<(Vec<IpNet>, bool)>,
    pub(crate) branch_to_branch: bool,
    pub(crate) preference: HubRoutingPreference,
    pub(crate) max_routes_per_peer: Option<u32>,
    pub(crate) peers: Vec<InstancePeer>,
    pub(crate) seed: u64,
}

/// One instance: the route server while it is up, and what it programmed.
#[derive(Debug)]
pub(crate) struct Instance {
    server: Option<RouteServer>,
    settings: InstanceSettings,
    /// The route server's token for each speaker's current connection.
    connections: BTreeMap<IpAddr, ConnectionId>,
    /// What this instance programmed into the fabric (empty while down).
    pub(crate) programmed: BTreeMap<IpNet, Vec<IpAddr>>,
}

fn peer_config(peer: &InstancePeer) -> PeerConfig {
    let address = IpAddr::V4(peer.address);
    let mut config = match peer.kind {
        crate::model::SpeakerKind::Nva => PeerConfig::nva(address, peer.asn),
        crate::model::SpeakerKind::ExpressRoute => {
            PeerConfig::gateway(address, PeerKind::ExpressRoute)
        }
        crate::model::SpeakerKind::VpnGateway => PeerConfig::gateway(address, PeerKind::VpnGateway),
    };
    config.inbound_map.clone_from(&peer.inbound_map);
    config.outbound_map.clone_from(&peer.outbound_map);
    config
}

impl Instance {
    /// An instance, up, with `settings`; refused peers are reported as log lines.
    pub(crate) fn new(
        settings: InstanceSettings,
        now: Instant,
        out: &mut Vec<InstanceAction>,
    ) -> Self {
        let mut instance = Self {
            server: None,
            settings,
            connections: BTreeMap::new(),
            programmed: BTreeMap::new(),
        };
        instance.start(now, out);
        instance
    }

    fn start(&mut self, now: Instant, out: &mut Vec<InstanceAction>) {
        let s = &self.settings;
        let mut config = Config::azure(s.address, s.vnet_prefixes.clone());
        config.peered_vnets = s
            .peered
            .iter()
            .map(|(prefixes, uses)| PeeredVnet {
                prefixes: prefixes.clone(),
                uses_remote_route_server: *uses,
            })
            .collect();
        config.branch_to_branch = s.branch_to_branch;
        config.hub_routing_preference = s.preference;
        config.limits.max_routes_per_peer = s.max_routes_per_peer;
        config.rng_seed = s.seed;
        let mut server = match RouteServer::new(config, now) {
            Ok(server) => server,
            Err(e) => {
                out.push(InstanceAction::Log(format!("configuration refused: {e}")));
                return;
            }
        };
        // Peers one by one, so that one refused peer (reserved ASN, ninth NVA) is reported
        // and the others still come up, as Azure's API refuses one bgpConnection.
        for peer in &s.peers {
            if let Err(e) = server.add_peer(now, peer_config(peer)) {
                out.push(InstanceAction::Log(format!(
                    "peer {} (AS {}) refused: {e}",
                    peer.address, peer.asn
                )));
            }
        }
        self.server = Some(server);
        self.drain(now, out);
    }

    /// Configures one more peer (refusals are logged, as at start).
    pub(crate) fn add_peer(
        &mut self,
        now: Instant,
        peer: InstancePeer,
        out: &mut Vec<InstanceAction>,
    ) {
        self.settings.peers.push(peer.clone());
        if let Some(server) = &mut self.server {
            if let Err(e) = server.add_peer(now, peer_config(&peer)) {
                out.push(InstanceAction::Log(format!(
                    "peer {} (AS {}) refused: {e}",
                    peer.address, peer.asn
                )));
            }
        }
        self.drain(now, out);
    }

    /// Whether the instance is up.
    pub(crate) fn is_up(&self) -> bool {
        self.server.is_some()
    }

    /// Takes the instance down: every route it programmed goes.
    pub(crate) fn go_down(&mut self) {
        self.server = None;
        self.connections.clear();
        self.programmed.clear();
    }

    /// Brings the instance back with empty tables.
    pub(crate) fn come_up(&mut self, now: Instant, out: &mut Vec<InstanceAction>) {
        if self.server.is_none() {
            self.start(now, out);
        }
    }

    /// A connection arrived from `from`.
    pub(crate) fn offer(&mut self, now: Instant, from: Ipv4Addr, out: &mut Vec<InstanceAction>) {
        match &mut self.server {
            Some(server) => server.handle_input(
                now,
                Input::ConnectionOffered {
                    from: IpAddr::V4(from),
                },
            ),
            None => out.push(InstanceAction::Refuse {
                from: IpAddr::V4(from),
            }),
        }
        self.drain(now, out);
    }

    /// Bytes arrived on `from`'s connection.
    pub(crate) fn received(
        &mut self,
        now: Instant,
        from: Ipv4Addr,
        bytes: &[u8],
        out: &mut Vec<InstanceAction>,
    ) {
        if let (Some(server), Some(&connection)) =
            (&mut self.server, self.connections.get(&IpAddr::V4(from)))
        {
            server.handle_input(now, Input::Received { connection, bytes });
        }
        self.drain(now, out);
    }

    /// `from`'s connection closed.
    pub(crate) fn closed(&mut self, now: Instant, from: Ipv4Addr, out: &mut Vec<InstanceAction>) {
        if let (Some(server), Some(connection)) =
            (&mut self.server, self.connections.remove(&IpAddr::V4(from)))
        {
            server.handle_input(now, Input::Closed { connection });
        }
        self.drain(now, out);
    }

    /// Fires due timers.
    pub(crate) fn timeout(&mut self, now: Instant, out: &mut Vec<InstanceAction>) {
        if let Some(server) = &mut self.server {
            server.handle_timeout(now);
        }
        self.drain(now, out);
    }

    /// When [`Instance::timeout`] must next be called.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.server.as_ref().and_then(RouteServer::poll_timeout)
    }

    /// Sets the VNet's address ranges.
    pub(crate) fn set_vnet_prefixes(
        &mut self,
        now: Instant,
        prefixes: Vec<IpNet>,
        out: &mut Vec<InstanceAction>,
    ) {
        self.settings.vnet_prefixes.clone_from(&prefixes);
        if let Some(server) = &mut self.server {
            server.set_vnet_prefixes(now, prefixes);
        }
        self.drain(now, out);
    }

    /// Sets the peered VNets: `(ranges, uses this route server)`.
    pub(crate) fn set_peered(
        &mut self,
        now: Instant,
        peered: Vec<(Vec<IpNet>, bool)>,
        out: &mut Vec<InstanceAction>,
    ) {
        self.settings.peered.clone_from(&peered);
        if let Some(server) = &mut self.server {
            server.set_peered_vnets(
                now,
                peered
                    .into_iter()
                    .map(|(prefixes, uses)| PeeredVnet {
                        prefixes,
                        uses_remote_route_server: uses,
                    })
                    .collect(),
            );
        }
        self.drain(now, out);
    }

    /// Switches branch-to-branch.
    pub(crate) fn set_branch_to_branch(
        &mut self,
        now: Instant,
        on: bool,
        out: &mut Vec<InstanceAction>,
    ) {
        self.settings.branch_to_branch = on;
        if let Some(server) = &mut self.server {
            server.set_branch_to_branch(now, on);
        }
        self.drain(now, out);
    }

    /// Switches hub routing preference.
    pub(crate) fn set_preference(
        &mut self,
        now: Instant,
        preference: HubRoutingPreference,
        out: &mut Vec<InstanceAction>,
    ) {
        self.settings.preference = preference;
        if let Some(server) = &mut self.server {
            server.set_hub_routing_preference(now, preference);
        }
        self.drain(now, out);
    }

    /// Prefixes learned from the peer at `from` (with their attributes).
    pub(crate) fn learned(&self, from: Ipv4Addr) -> BTreeMap<IpNet, RouteAttrs> {
        let mut out = BTreeMap::new();
        if let Some(server) = &self.server {
            for (prefix, paths) in server.adj_ribs_in() {
                for (peer, _, attrs) in paths {
                    if server
                        .peers()
                        .any(|(id, c)| id == peer && c.address == IpAddr::V4(from))
                    {
                        out.insert(prefix, attrs);
                    }
                }
            }
        }
        out
    }

    /// `BgpPeerStatus` of the peer at `address` (0 when down or unknown).
    pub(crate) fn peer_status(&self, address: Ipv4Addr) -> u8 {
        self.server
            .as_ref()
            .and_then(|s| s.metrics(s.peer_by_address(IpAddr::V4(address))?))
            .map_or(0, |m| m.bgp_peer_status)
    }

    /// Drains the route server's outputs into actions.
    fn drain(&mut self, now: Instant, out: &mut Vec<InstanceAction>) {
        let Some(server) = &mut self.server else {
            return;
        };
        while let Some(output) = server.poll_output() {
            let address_of =
                |server: &RouteServer, peer| server.peer_config(peer).map(|c| c.address);
            match output {
                Output::Transmit {
                    connection, bytes, ..
                } => {
                    if let Some((&to, _)) = self.connections.iter().find(|(_, c)| **c == connection)
                    {
                        out.push(InstanceAction::Send { to, bytes });
                    }
                }
                // Simulated NVAs and gateways open the sessions (the route server's peers
                // are passive by default); a connection it asks for fails at once.
                Output::Connect { connection, .. } => {
                    server.handle_input(now, Input::ConnectFailed { connection })
                }
                Output::Disconnect { connection, .. } => {
                    let to = self
                        .connections
                        .iter()
                        .find(|(_, c)| **c == connection)
                        .map(|(a, _)| *a);
                    if let Some(to) = to {
                        self.connections.remove(&to);
                        out.push(InstanceAction::Close { to });
                    }
                }
                Output::Accepted {
                    connection, from, ..
                } => {
                    self.connections.insert(from, connection);
                    out.push(InstanceAction::Accept { from });
                }
                Output::Refused { from, reason } => {
                    out.push(InstanceAction::Log(format!(
                        "refused a connection from {from}: {reason}"
                    )));
                    out.push(InstanceAction::Refuse { from });
                }
                Output::Program(changes) => {
                    for change in changes.iter() {
                        match change {
                            FabricChange::Set { prefix, next_hops } => {
                                self.programmed.insert(prefix, next_hops.to_vec());
                                out.push(InstanceAction::Program {
                                    prefix,
                                    next_hops: next_hops.to_vec(),
                                });
                            }
                            FabricChange::Remove { prefix } => {
                                self.programmed.remove(&prefix);
                                out.push(InstanceAction::Program {
                                    prefix,
                                    next_hops: Vec::new(),
                                });
                            }
                        }
                    }
                }
                Output::Event(event) => {
                    let name = |peer| {
                        address_of(server, peer).map_or_else(|| "?".to_string(), |a| a.to_string())
                    };
                    let text = match event {
                        Event::PeerUp { peer } => {
                            format!("session with {} established", name(peer))
                        }
                        Event::PeerDown { peer, reason } => {
                            format!("session with {} down: {reason:?}", name(peer))
                        }
                        Event::RouteLimitExceeded {
                            peer,
                            counted,
                            limit,
                        } => {
                            format!(
                                "{} over the route limit ({counted} > {limit}): session torn down",
                                name(peer)
                            )
                        }
                        Event::RoutesRejected {
                            peer,
                            reason,
                            count,
                            examples,
                        } => {
                            let list: Vec<String> =
                                examples.iter().map(ToString::to_string).collect();
                            format!(
                                "{count} route(s) from {} rejected ({}): {reason}",
                                name(peer),
                                list.join(", ")
                            )
                        }
                        Event::SessionEnded {
                            peer,
                            state,
                            reason,
                            ..
                        } => {
                            format!(
                                "session attempt with {} ended in {state:?}: {reason:?}",
                                name(peer)
                            )
                        }
                        Event::RouteRefreshReceived { peer, .. } => {
                            format!("ROUTE-REFRESH received from {}", name(peer))
                        }
                        Event::RouteRefreshSent { peer } => {
                            format!("ROUTE-REFRESH sent to {}", name(peer))
                        }
                        Event::SessionReset { peer } => {
                            format!("session with {} reset (no route refresh)", name(peer))
                        }
                        Event::Warning { text } => format!("warning: {text}"),
                        other => format!("{other:?}"),
                    };
                    out.push(InstanceAction::Log(text));
                }
            }
        }
    }
}
