//! `route-server`: Azure Route Server's behaviour as one sans-IO object: no I/O, no
//! clock, no threads, no async, no global randomness.
//!
//! **What it is.** [`RouteServer`] is one route-server instance (Azure runs two, each with
//! its own address; NVAs peer with both). It owns one `bgp_fsm::Session` per configured
//! peer, keyed by [`PeerId`] the way quinn's `Endpoint` keys connections; it learns the
//! peers' routes through the import policy into a `rib::Rib`, ranks the paths of each
//! prefix (hub routing preference, then AS path length, ties kept as ECMP up to 8 next
//! hops), tells the fabric
//! what to program ([`FabricChange`]), and advertises routes back with the export policy
//! (65515 prepended, next-hop-self, NO_ADVERTISE, branch-to-branch). Azure's rules and
//! numbers are the default ([`Config::azure`]); what goes beyond Azure is an option in
//! [`Extensions`]. The decisions themselves are plain functions in [`policy`], tested by
//! tables of cases.
//!
//! **What it does not do.** It opens no socket and reads no clock: the driver moves bytes
//! and passes the time in. It does not model VMs, subnets or route tables (which VMs an
//! instance programs, user routes, propagation switches belong to the fabric). Outbound
//! route maps cannot summarise; the gateways' own behaviour (ExpressRoute stripping
//! private ASNs, ...) is the simulator's.
//!
//! # The driving loop
//!
//! After every `handle_*` call or command, drain [`RouteServer::poll_output`] until it
//! returns `None`, then call [`RouteServer::handle_timeout`] no later than
//! [`RouteServer::poll_timeout`]:
//!
//! A complete loop: an NVA (here another sans-IO speaker, a `bgp_fsm::Session`; in a real
//! driver, a TCP socket) connects, the two exchange OPENs and KEEPALIVEs, the NVA announces
//! 10.250.0.0/16, the route server programs it, and then time moves to the next timer:
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use bgp_fsm::{Input as NvaInput, Output as NvaOutput, Session, SessionConfig, State};
//! use bgp_wire::{AsPath, AttrValue, Nlri, Origin, PathAttribute, Update};
//! use route_server::{Config, ConnectionId, FabricChange, Input, Instant, Output, PeerConfig, RouteServer};
//!
//! /// Drains the route server: what a driver does after every call.
//! fn drain(server: &mut RouteServer, socket: &mut Option<ConnectionId>, to_nva: &mut Vec<u8>) {
//!     while let Some(output) = server.poll_output() {
//!         match output {
//!             Output::Accepted { connection, .. } => *socket = Some(connection),
//!             Output::Refused { .. } => {} // close the offered socket
//!             Output::Transmit { bytes, .. } => to_nva.extend(bytes), // write, in order
//!             Output::Connect { .. } => {} // dial; answer Connected or ConnectFailed
//!             Output::Disconnect { .. } => *socket = None, // flush, then close
//!             Output::Program(changes) => for change in changes.iter() {
//!                 if let FabricChange::Set { prefix, next_hops } = change {
//!                     println!("program {prefix} via {next_hops:?}");
//!                 }
//!             },
//!             Output::Event(event) => println!("{event:?}"),
//!         }
//!     }
//! }
//!
//! let address = Ipv4Addr::new(10, 1, 2, 4);
//! let config = Config::azure(Ipv4Addr::new(10, 1, 1, 4), vec!["10.1.0.0/16".parse().unwrap()])
//!     .with_peer(PeerConfig::nva(IpAddr::V4(address), 65001));
//! let mut server = RouteServer::new(config, Instant::ZERO).expect("valid configuration");
//! let mut nva = Session::new(SessionConfig::new(65001, address, 65515), Instant::ZERO).unwrap();
//! nva.start(Instant::ZERO);
//! let mut update = Update::new();
//! update.attributes = vec![
//!     PathAttribute::new(AttrValue::Origin(Origin::Igp)),
//!     PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence([65001]))),
//!     PathAttribute::new(AttrValue::NextHop(address)),
//! ];
//! update.nlri = vec![Nlri::new("10.250.0.0/16".parse().unwrap())];
//!
//! let now = Instant::ZERO;
//! let (mut socket, mut to_nva, mut announced) = (None, Vec::new(), false);
//! for _ in 0..10 {
//!     let mut to_server = Vec::new();
//!     while let Some(output) = nva.poll_output() {
//!         match output {
//!             NvaOutput::ConnectTcp => {
//!                 server.handle_input(now, Input::ConnectionOffered { from: IpAddr::V4(address) });
//!                 drain(&mut server, &mut socket, &mut to_nva); // Accepted: the token
//!                 nva.handle_input(now, NvaInput::TcpCrAcked);
//!             }
//!             NvaOutput::Transmit(bytes) => to_server.extend(bytes),
//!             _ => {}
//!         }
//!     }
//!     if let (Some(connection), false) = (socket, to_server.is_empty()) {
//!         server.handle_input(now, Input::Received { connection, bytes: &to_server });
//!     }
//!     drain(&mut server, &mut socket, &mut to_nva);
//!     nva.handle_input(now, NvaInput::Received(&std::mem::take(&mut to_nva)));
//!     if nva.state() == State::Established && !announced {
//!         nva.send_update(now, &update).unwrap();
//!         announced = true;
//!     }
//! }
//! let learned = "10.250.0.0/16".parse().unwrap();
//! let next_hops = server.fabric().get(&learned).map(|hops| hops.to_vec());
//! assert_eq!(next_hops, Some(vec![IpAddr::V4(address)]));
//!
//! // The NVA offered a hold time of 90 s and Azure 180 s: the session uses the smaller, so
//! // a KEEPALIVE is due every third of it. That is the next timer.
//! let next = server.poll_timeout().expect("an established session has timers");
//! assert_eq!(next, Instant::ZERO + std::time::Duration::from_secs(30));
//! server.handle_timeout(next);
//! drain(&mut server, &mut socket, &mut to_nva);
//! assert_eq!(to_nva.len(), 19); // one KEEPALIVE: the 19-byte header alone
//! ```
//!
//! **Connections.** The route server names every TCP connection with a [`ConnectionId`]
//! and allocates them all (as quinn's endpoint does); the driver keeps a map from token to
//! socket and echoes the token in every input:
//!
//! * The driver accepts TCP on port 179 and passes [`Input::ConnectionOffered`]. The first
//!   output of that call answers it: [`Output::Accepted`] with the new token, or
//!   [`Output::Refused`] (close the socket). A configured peer is accepted whatever state
//!   its session is in, but Established (RFC 4271 section 6.8; back-off after failures
//!   only delays our own attempts), so a restarted NVA is back as soon as it connects.
//! * [`Output::Connect`] asks for an outbound connection (remote address, port, local
//!   address to bind) under a new token; answer it with exactly one [`Input::Connected`]
//!   or [`Input::ConnectFailed`]. A `Connected` that is no longer wanted (the peer's
//!   connection won the collision meanwhile) is answered with [`Output::Disconnect`].
//! * Bytes read go in as [`Input::Received`], in chunks of at most
//!   [`RECOMMENDED_RECEIVE_CHUNK`] (16 KiB; peak memory grows with the chunk); end of
//!   stream or an error as [`Input::Closed`]. [`Output::Transmit`] is written in order;
//!   [`Output::Disconnect`] is closed after what was written before it is flushed (a
//!   NOTIFICATION), or abandoned while still connecting.
//! * Inputs for a token that is no longer current (late bytes, a late close after a
//!   reconnect) are ignored, so they never reach the connection's successor.
//! * The send side (RFC 9687): when a write would block because the peer does not read,
//!   pass [`Input::TransmitBlocked`], and [`Input::TransmitProgress`] when it drains
//!   again. If nothing drains for the send hold time, the session is closed with
//!   NOTIFICATION 8 (Send Hold Timer Expired) and the peer's routes are withdrawn. A
//!   driver needs buffer no more than what was transmitted meanwhile.
//!
//! Methods come in four kinds: **inputs** ([`RouteServer::handle_input`],
//! [`RouteServer::handle_timeout`]); **commands** ([`RouteServer::add_peer`],
//! [`RouteServer::remove_peer`], [`RouteServer::set_vnet_prefixes`],
//! [`RouteServer::set_peered_vnets`], [`RouteServer::set_branch_to_branch`],
//! [`RouteServer::set_hub_routing_preference`], [`RouteServer::shutdown_peer`],
//! [`RouteServer::start_peer`]); **outputs** ([`RouteServer::poll_output`],
//! [`RouteServer::poll_timeout`]); and **read-outs** ([`RouteServer::learned_routes`],
//! [`RouteServer::advertised_routes`], [`RouteServer::metrics`], [`RouteServer::fabric`],
//! [`RouteServer::peer_config`], [`RouteServer::peer_state`],
//! [`RouteServer::connection_peer`], [`compare_instances`]).
//!
//! A driver depends on this crate alone: the types its API uses are re-exported
//! ([`SessionEnd`], [`State`], [`Notification`], [`Family`], [`IpNet`], [`Instant`], ...).
//!
//! # Oracles
//!
//! [`reference`](mod@reference) is a model of the routing rules written from the spec alone (no use of
//! this crate's code); the `fuzzing` module (feature `fuzzing`) drives it and a [`RouteServer`] in an in-memory
//! lab side by side and checks they agree after every step (the `route_server_inputs`
//! fuzz target, and `tests/differential.rs` with 1,000 proptest programs).
//!
//! # Structure
//!
//! * **Sessions**: one `bgp_fsm::Session` per configured peer; it frames, decodes and
//!   runs the FSM, and hands over decoded UPDATEs.
//! * **Learned routes**: the workspace's `rib::Rib` holds every peer's Adj-RIB-In after
//!   import policy, attribute sets interned (a thousand prefixes announced in one UPDATE
//!   share one set). Each configured peer is registered with the Rib; the server maps
//!   the Rib's peer ids back to its own [`PeerId`]s.
//! * **Ranking**: every mutation the server makes (an UPDATE's announced and withdrawn
//!   prefixes, a peer's routes when its session ends or its stale routes are swept)
//!   names the prefixes it touched; they are sorted once and each is re-ranked from all
//!   its paths (`rib::Rib::paths_unordered`) by [`policy::select`]: hub routing preference by source kind,
//!   then AS path length, then Azure's non-reverting failover, whose memory the server
//!   keeps as what was selected: the source kinds of each prefix's last selection, and
//!   for a prefix failed over the peers it failed over to (never a rank relative to the
//!   preference, which may change). The Rib runs no RFC 4271 decision
//!   (`rib::Ranking::Caller`): source kinds and that memory are not RFC 4271 steps.
//! * **Summaries**: a route an inbound route map summarises is a Rib path of the summary
//!   under a path identifier the server picks, mapped back to the received prefix; the
//!   summary's path is that of the lowest received prefix under it.
//! * **Adj-RIB-Out**: what was advertised to each peer, for all peers at once: per
//!   prefix, an interned set of (peer, exported set), itself part of the prefix's
//!   interned state, whose four-byte id is the prefix's tag in its Loc-RIB entry
//!   (`rib::Rib::tag_entry`), so a pass looks a prefix up once whatever the number of
//!   receivers, and no table of the server's own is keyed by prefix; with a small pool of
//!   exported attribute sets (they are not routes of any peer, so the Rib, which interns
//!   only the routes it stores, does not hold them). Changes for each receiver are
//!   grouped by exported set as they are found, and packed per set.
//! * **Fabric**: the next hops programmed per prefix ([`RouteServer::fabric`]).
//!
//! # Choices where Azure is silent
//!
//! * The route limit counts the routes held when a batch started plus every route
//!   announced in the batch, without de-duplication ([`LimitCounting::HeldPlusBatch`]).
//!   A batch is a function of time and messages only, never of how the driver chunked
//!   the bytes: it opens at a peer's first UPDATE and gathers its UPDATEs for
//!   [`Limits::batch_window`] (1 s by default, our model of Azure's unpublished
//!   batching) or until End-of-RIB. Over the limit the session gets Cease 6/1, its routes
//!   go, and it may come back (Azure's "flapping"). Azure's rule taken literally means a
//!   peer holding over 2,000 routes is torn down when it answers the ROUTE-REFRESH sent
//!   after a virtual network change (it re-sends its whole table); we keep that.
//! * Routes learned from one NVA go to the others with 65515 prepended and this
//!   instance's address as next hop. Gateways (ExpressRoute, VPN) are iBGP peers in 65515:
//!   they get NVA routes with path and next hop unchanged, and no VNet ranges.
//! * Gateway routes compete with NVA routes for programming whatever branch-to-branch
//!   says (the VMs get gateway routes either way); branch-to-branch only gates what is
//!   advertised between gateways and NVAs. With it off, gateway routes are no
//!   candidates for the NVAs (spec section 4, step 2): an NVA gets the best NVA route
//!   for a prefix even when a gateway route is the one programmed; the gateways get
//!   nothing at all (no NVA routes, no routes of the other gateway, no VNet ranges).
//!   With it on, everyone gets the overall best route.
//! * One best path, not one per receiver: a peer gets the first route of the best set
//!   (in peer order, peers numbered as configured) that did not come from itself, and
//!   nothing when the whole best set is its own
//!   ([`Extensions::per_client_best_path`] changes that).
//! * Route maps may not prepend private ASNs (64512-65534) or Azure's reserved ones, as
//!   Azure's route-map limits say; the spec's scenario 35 prepends 64580 64581 toward
//!   ExpressRoute, which contradicts those limits, so such a map is refused at
//!   configuration ([`ConfigError::RouteMap`] names the peer and the field). Public ASNs
//!   work (ExpressRoute strips private ones toward on-premises anyway).
//! * IPv4 routes may come in MP_REACH_NLRI; they take its next hop (RFC 4760). A route
//!   with no next hop of its family is refused with an event
//!   ([`policy::RejectReason::NoNextHop`]) and counts against the route limit as every
//!   refused route does: under Azure's rule every route an UPDATE carries counts; under
//!   [`LimitCounting::UniquePrefixes`] only the routes held do.
//! * A new hub routing preference is a fresh ranking: failovers under the old one are
//!   forgotten ([`policy::select`] says why).
//! * After a virtual network change (ranges added or removed, a peering created) every
//!   established NVA gets a ROUTE-REFRESH, or a session reset when it did not negotiate
//!   route refresh, as the spec says (section 1.3: "ARS sends ROUTE-REFRESH to every
//!   NVA"). The gateways get neither: they are Azure's own iBGP peers, the spec names
//!   NVAs only, and resetting an ExpressRoute gateway for a VNet change would cut
//!   on-premises off, which Azure does not report. (Our import keeps every learned route
//!   whatever the ranges, so the refresh is Azure's behaviour reproduced, not needed
//!   for correctness.)
//! * A configured peer's connection is accepted in every state but Established: back-off
//!   after failures only delays our own outbound attempts, and a passive peer
//!   ([`PeerConfig::passive`], the default) is never dialled. With two connections
//!   RFC 4271 section 6.8 decides, as of the first OPEN that tells the peer's BGP
//!   identifier; a newer connection of the peer's replaces an older one not yet
//!   Established (the peer gave that one up).
//! * Under `ASPath` preference equal paths rank ExpressRoute first, then VPN and NVA
//!   together. Failover away from the preferred kind does not revert unless the fallback
//!   path is longer ([`Extensions::revertive_preference`] changes that).
#![forbid(unsafe_code)]

mod config;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod policy;
pub mod reference;
mod route;
mod route_map;
mod server;
mod store;

pub use bgp_fsm::{ConnectionOrigin, Instant, SessionEnd, State, StopReason};
pub use bgp_wire::{Afi, EncodeError, ErrorCode, Family, Notification, RouteRefreshSubtype, Safi};
pub use config::{
    reserved_asn, Config, ConfigError, Extensions, HubRoutingPreference, LimitCounting, Limits,
    PeerConfig, PeerKind, PeeredVnet, AZURE_ASN, AZURE_ECMP_WIDTH, AZURE_EXPRESSROUTE_PREFIX_LIMIT,
    AZURE_HOLD_TIME_SECS, AZURE_KEEPALIVE_SECS, AZURE_MAX_PEERS, AZURE_MAX_ROUTES_PER_PEER,
    BGP_PORT, DEFAULT_BATCH_WINDOW, DEFAULT_CONNECT_RETRY_TIME, DEFAULT_IDLE_HOLD_TIME,
    DEFAULT_MAX_IDLE_HOLD_TIME, DEFAULT_REFRESH_STALE_TIME,
};
pub use ipnet::{IpNet, Ipv4Net, Ipv6Net};
pub use policy::{PeerId, RejectReason};
pub use route::RouteAttrs;
pub use route_map::{
    MapOutcome, MatchCondition, Modification, NextStep, RouteMap, RouteMapAction, RouteMapError,
    RouteMapRule, AZURE_COMMUNITIES,
};
pub use server::{
    compare_instances, ConnectionId, Event, Fabric, FabricChange, FabricChanges, Inconsistency,
    Input, Output, PeerMetrics, RefuseReason, RouteEntry, RouteServer, RECOMMENDED_RECEIVE_CHUNK,
    REJECTED_EXAMPLES,
};
