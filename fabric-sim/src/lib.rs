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
//! * [`engine`]: the event loop ([`engine::Sim`]);
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
//! The project has one network lab: this simulator. `route_server::testing::Lab` remains,
//! documented as what it is, a single-instance harness (one `RouteServer` and `bgp_fsm`
//! speakers on zero-latency pipes) for the fuzz target, the benchmarks and the
//! route-server crate's API-level tests; route-server cannot depend on this crate, and
//! its fuzz target needs a harness with no network around it.
//!
//! Of the two choices the issue gave (build this simulator's speakers on Lab's speaker
//! code, or move Lab's scenario cases here), this crate takes the second: its speakers
//! need what Lab's do not have (a session per instance, links with latency, crashes,
//! stalled senders, connection refusals while an instance is down), and sharing one
//! speaker would put all that into route-server's public testing API. So the spec's
//! scenarios live here as files (`scenarios/NN-*.toml`, all 35), and
//! `route-server/tests/scenarios.rs` keeps the tests of what one instance's API shows
//! (learned and advertised tables, metrics, events, the NOTIFICATION sent, configuration
//! errors, options beyond Azure), some of which repeat a network-level check as context. Checks a scenario file can express were moved into the files
//! (scenario 1's routes exchanged between NVAs, 9's looped re-announcement) and the Lab
//! tests they duplicated were removed (scenarios 4, 12 and 24).

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
