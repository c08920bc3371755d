//! `fabric-sim`: a virtual Azure network (VNets, subnets, VMs, peerings, route tables,
//! load balancers, NVAs, ExpressRoute and VPN gateways) around route-server instances,
//! replayed deterministically from scenario files; and [`serve`], the route server on real
//! TCP sockets for interop with real BGP daemons (`examples/embed_tokio.rs` shows the same
//! loop embedded in a user's own tokio program).
//!
//! NVAs and gateways are real BGP speakers (`bgp_fsm` sessions) exchanging encoded
//! messages with `route_server::RouteServer` instances over in-memory links with latency,
//! through the same public API a socket driver uses: bytes in, bytes out, time in. A
//! virtual clock (a heap of timed deliveries with a sequence number for ties, one seed)
//! makes every run reproducible: a 180 s hold-timer expiry takes milliseconds.
//!
//! * [`scenario`]: the TOML scenario format and its validation (errors name file, line
//!   and field);
//! * [`engine`]: the event loop ([`engine::Sim`]) and the speakers;
//! * [`lab`]: one route server and speakers on zero-latency links, for tests and
//!   benchmarks of a single instance ([`lab::Lab`]);
//! * [`effective`]: a NIC's effective routes (spec section 1.5);
//! * [`trace`]: where a packet goes;
//! * [`run`]: replaying a scenario and checking its expectations;
//! * [`render`]: tables, JSON, Graphviz and the HTML report;
//! * [`oracle`]: an independent model of the expected routes, for simulation testing;
//! * [`serve`]: `fabric-sim serve --config FILE`, route-server instances on real sockets.
//!
//! # Which instance programs which VM
//!
//! Azure splits the programming of VMs between its two instances without saying how. The
//! simulator's rule: the VMs a route server serves (those of its VNet, then of VNets
//! peered with "use the remote gateway or Route Server"), taken in scenario order (VNet
//! by VNet, VMs before NVAs within a VNet), alternate `IN_0`, `IN_1`, `IN_0`, ... While one
//! instance is down, the other programs all of them (the service stays up during
//! maintenance, spec 1.1); while both are down, VMs have no route-server routes.

//!
//! # One lab
//!
//! The project has one in-memory lab: this simulator's engine. Its speaker
//! (`engine::speaker`, crate-private) is the one BGP speaker implementation, generic
//! over the route it announces: the simulator's NVAs and gateways announce scenario
//! [`model::Announcement`]s, and [`lab::Lab`], the single-instance front end, announces
//! raw `PathAttribute` lists (IPv4 and IPv6, well-formed or deliberately not) over any
//! `bgp_fsm::SessionConfig` (IPv6 families, iBGP gateways in AS 65515).
//!
//! [`lab::Lab`] holds one `RouteServer` built from a raw `route_server::Config` as a
//! public field, speakers on zero-latency links, the fabric that server programmed and
//! its events; deliveries follow the engine's rule at zero latency (first written,
//! first delivered, the route server drained after every input). route-server's
//! integration tests, its bench and its memory example use it through a dev-dependency
//! on this crate (cargo allows that dev-only cycle; `cargo package` drops the path-only
//! dev-dependency). It replaced `route_server::testing::Lab`, whose speakers were a
//! second implementation: the tests moved with their imports changed only, and the
//! bench outputs pinned by `route-server/tests/bench_outputs.rs` (recorded with the old
//! lab) are reproduced byte for byte. The fuzz target's harness (`route_server::fuzzing`)
//! is not a lab: it drives one `RouteServer` through the driver API with scripted peers
//! (no `bgp_fsm` session on their side), which keeps each execution cheap.
//!
//! The lab keeps its own delivery queue rather than running inside [`engine::Sim`]:
//! tests drive its route server directly (`lab.server.handle_input(..)`), which the
//! simulator's instances, built from a topology and able to go down, do not allow.
//!
//! The spec's scenarios live here as files (`scenarios/NN-*.toml`, all 35);
//! `route-server/tests/scenarios.rs` keeps the tests of what one instance's API shows
//! (learned and advertised tables, metrics, events, the NOTIFICATION sent,
//! configuration errors, options beyond Azure), some of which repeat a network-level
//! check as context.

//!
//! # Around the route servers
//!
//! Besides NVAs and gateways peering with route servers, the fabric holds what the
//! spec's multi-hub scenarios need (`scenarios/README.md` has the rules):
//!
//! * ExpressRoute circuits ([`model::Circuit`]): the MSEE reflects routes between the
//!   gateways connected to it, 12076 prepended (scenario 27), and carries several
//!   connections of one gateway (scenario 31);
//! * gateways that program NICs themselves while their VNet has no route server, or one
//!   not deployed yet (`deploy_route_server` on the timeline), and VPN point-to-site
//!   pools, never announced over BGP (scenario 19);
//! * NVA-to-NVA tunnels ([`model::Tunnel`]): eBGP sessions built on `bgp_fsm` like every
//!   other, with AS override toward the route server (scenario 25).

pub mod effective;
pub mod engine;
pub mod lab;
pub mod model;
pub mod oracle;
pub mod render;
pub mod run;
pub mod scenario;
pub mod serve;
pub mod trace;

pub use bgp_fsm::Instant;

/// The default scenario, built into the binary: the spec's first example.
pub const DEFAULT_SCENARIO: &str = include_str!("../scenarios/01-overview.toml");
