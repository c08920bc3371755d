//! `fabric-sim serve`: the route server on real TCP sockets.
//!
//! It runs one or more [`route_server::RouteServer`] instances from a TOML file
//! ([`config`] documents every field), accepts connections from the configured peers
//! only, dials the peers configured `passive = false`, prints session changes and fabric
//! programming as they happen (text, or JSON lines with `--json`), answers status
//! requests over HTTP, takes new virtual network ranges, branch-to-branch and hub routing
//! preference from the file on SIGHUP (after a VNet change every NVA is asked for its
//! routes again with ROUTE-REFRESH, or reset if it cannot refresh, as Azure does), and on
//! SIGINT or SIGTERM sends every peer Cease /
//! Administrative Shutdown with an RFC 9003 message before it exits.
//!
//! # Why tokio, current-thread, a task per connection
//!
//! The route server is one sans-IO object per instance: it wants its inputs one at a
//! time and says when it next needs the clock. A task owns it and waits on one thing:
//! a bounded channel of events (accepted sockets, bytes read, connection results,
//! writes blocked or resumed, status requests) or its next deadline. Each connection has
//! a reader task, which reads in chunks of at most [`READ_CHUNK`] bytes into two buffers
//! that go round (handed to the instance without a copy, handed back once the route
//! server has taken the bytes) and waits while both are out, so a peer that sends faster
//! than the route server decodes is slowed down by TCP itself; and a writer task, which
//! writes the queued messages several per `writev` call, straight from the route
//! server's buffers, and reports when the socket stops taking bytes (the peer is not
//! reading) and when it takes them again.
//!
//! One thread is enough: the work is the route server's, which is single-threaded by
//! design, and the sockets only wait. tokio gives the timers, SIGTERM and the
//! non-blocking sockets in a few lines, and is the runtime a user embedding the route
//! server most likely has (see `examples/embed_tokio.rs`). A std design (a thread per
//! connection, a channel into the owning thread) would be as short, but needs a signal
//! handler written by hand and a thread per peer for what is only waiting.
//!
//! # Bounded memory per connection
//!
//! A reader holds at most two [`READ_CHUNK`] buffers, whether they wait in the instance's
//! channel or are being decoded; what the peer sent beyond that waits in the kernel's
//! socket buffer (a reader that copied each read into the instance's channel could hold
//! that channel's 64 chunks, 16 MiB, per instance). A writer's queue is bounded by [`MAX_WRITE_QUEUE`]. A peer that
//! stops reading is closed by the first of two limits: RFC 9687's send hold timer, which
//! starts when its socket stops taking bytes and, after the peer's `send_hold_time`
//! without progress (by default the larger of 8 minutes and twice the hold time), closes
//! the session with NOTIFICATION 8 (Send Hold Timer Expired) and withdraws its routes;
//! or the queue reaching [`MAX_WRITE_QUEUE`] (event `write_queue_full`). While blocked,
//! its socket is reported in the status output (`write_blocked`, `write_queued_bytes`).
//! A closed connection's writer gets a few seconds to write what was queued (the
//! NOTIFICATION last) and the peer a moment to close its side after our FIN; then the
//! socket and its queue are dropped whatever the peer does. A peer that sends garbage
//! gets the NOTIFICATION the route server chooses and its connection is closed; the
//! other connections never see it.
//!
//! # Memory
//!
//! Measured end to end (`tools/bench/e2e.sh`, BENCHMARKS.md "serve's own footprint"),
//! serve's peak RSS is the route server's tables plus three things kept small here:
//!
//! * the route server's transients per pass, which grow with each read: reads are
//!   [`READ_CHUNK`] (16 KiB, about 4,000 /24 routes) bytes at most;
//! * glibc's allocator, whose mmap threshold [`malloc::fix_mmap_threshold`] fixes so that
//!   the tables' freed old copies are given back, not kept in the heap;
//! * the code itself: all of a daemon's text ends up resident, so the daemon is also built
//!   alone, `fabric-sim-serve` (same flags as `fabric-sim serve`, without the simulator)
//!   with the `dist` profile (fat LTO, one codegen unit): 1.9 MB of text instead of
//!   `fabric-sim`'s 4.0.
//!
//! Idle (one peer configured, none connected) `fabric-sim-serve` holds about 4 MiB, of
//! which 0.3 MiB is its own memory (tokio's one thread, the configuration, the listener)
//! and the rest code mapped from the binary and libc.
//!
//! # What it prints
//!
//! One line per event on stdout. As text: `INSTANCE text`. With `--json`: one JSON object
//! per line, always with `"instance"` (the instance's name; `"status"` for the status
//! endpoint's own line) and `"event"`, plus the fields below (addresses and prefixes are
//! strings, counts numbers). `--quiet` leaves out `program` and `remove`.
//!
//! | `event` | further fields | when |
//! |---|---|---|
//! | `listening` | `address` | an instance's listener is open |
//! | `status_listening` | `address` | the status endpoint is open |
//! | `peer_up` | `peer`, `asn` | a session reached Established |
//! | `peer_down` | `peer`, `asn`, `reason` | an Established session ended (`reason` names the NOTIFICATION sent or received, or the cause, e.g. `send hold timer expired ...`) |
//! | `session_ended` | `peer`, `state`, `reason` | a session ended before Established |
//! | `connection_closed` | `peer`, `why` | the peer closed its socket, or it failed |
//! | `connect_failed` | `peer`, `error` | an outbound connection attempt failed |
//! | `connection_error` | `peer`, `error` | an accepted socket could not be set up |
//! | `refused` | `from`, `reason` | a connection from an address that is no usable peer |
//! | `program` | `prefix`, `next_hops` (array) | the fabric's route for `prefix` is set |
//! | `remove` | `prefix` | the fabric's route for `prefix` is removed |
//! | `routes_rejected` | `peer`, `count`, `reason`, `examples` (array of prefixes) | routes refused by policy |
//! | `route_limit_exceeded` | `peer`, `counted`, `limit` | the peer went over its route limit (Cease 6/1 sent) |
//! | `route_refresh_received` | `peer`, `family`, `subtype` | the peer asked for our routes again |
//! | `route_refresh_sent` | `peer` | we asked the peer for its routes (after a VNet change) |
//! | `session_reset` | `peer` | a peer that cannot refresh was reset instead |
//! | `routes_kept_stale` | `peer`, `routes` | graceful restart helper kept a restarting peer's routes |
//! | `restart_detected` | `peer` | a graceful-restart peer connected again while Established (RFC 4724 4.2): the new session takes over |
//! | `write_queue_full` | `peer` | over [`MAX_WRITE_QUEUE`] bytes queued: connection closed |
//! | `vnet_changed` | `vnet_prefixes` | SIGHUP changed the VNet ranges |
//! | `branch_to_branch_changed` | `on` | SIGHUP changed allowBranchToBranchTraffic |
//! | `hub_routing_preference_changed` | `preference` | SIGHUP changed the hub routing preference |
//! | `reload_failed` | `error` (file, line, field) | SIGHUP found a bad file; nothing changed |
//! | `reload_ignored` | `what` | SIGHUP changed something that needs a restart |
//! | `warning` | `text` | a warning from the route server |
//! | `other` | `debug` | a route-server event this list does not name yet |
//! | `stopped` | `message` | SIGINT/SIGTERM handled; the RFC 9003 text sent |
//!
//! A session with one NVA (a second peer configured, never connected), as printed
//! (`--json`), up to SIGTERM:
//!
//! ```text
//! {"address":"127.21.99.1:17979","event":"status_listening","instance":"status"}
//! {"address":"127.21.99.1:17900","event":"listening","instance":"rs1"}
//! {"asn":65001,"event":"peer_up","instance":"rs1","peer":"127.21.99.11"}
//! {"event":"program","instance":"rs1","next_hops":["192.0.2.11"],"prefix":"172.16.0.0/24"}
//! {"event":"connection_closed","instance":"rs1","peer":"127.21.99.11","why":"closed by peer"}
//! {"asn":65001,"event":"peer_down","instance":"rs1","peer":"127.21.99.11","reason":"TCP connection closed by the peer, or failed"}
//! {"event":"remove","instance":"rs1","prefix":"172.16.0.0/24"}
//! {"event":"session_ended","instance":"rs1","peer":"127.21.99.12","reason":"stopped (no connection to send a NOTIFICATION on)","state":"Active"}
//! {"event":"stopped","instance":"rs1","message":"fabric-sim serve: route server shutting down"}
//! ```
//!
//! # The status endpoint
//!
//! With `status = "ADDR:PORT"` in the file, an HTTP/1.0 endpoint answers GET with JSON
//! (one request per connection):
//!
//! * `GET /status`: every instance with its peers: `state` (the RFC 4271 state), `uptime_secs`
//!   (`null` when not Established), Azure's metrics `BgpPeerStatus` (1 up, 0 down),
//!   `CountOfRoutesLearnedFromPeer` and `CountOfRoutesAdvertisedToPeer`, and the socket's
//!   `write_blocked` and `write_queued_bytes` (`null` without a connection).
//! * `GET /learned-routes?peer=ADDR[&instance=NAME]`, `GET /advertised-routes?...`: the
//!   rows of `az network routeserver peering list-learned-routes` / `list-advertised-routes`.
//! * `GET /fabric[?instance=NAME]`: what the instance programs, prefix to next hops.
//!
//! `instance` defaults to the first one. Answers captured from a running `serve` (one
//! NVA, 127.21.99.11 in AS 65001, announcing 172.16.0.0/24; a second peer configured
//! but not connected):
//!
//! ```text
//! $ curl -s http://127.21.99.1:17979/status
//! {"instances":[{"fabric_routes":1,"listen":"127.21.99.1:17900","local_asn":65515,
//!   "name":"rs1","next_hop":"198.51.100.1","peers":[
//!   {"BgpPeerStatus":1,"CountOfRoutesAdvertisedToPeer":1,"CountOfRoutesLearnedFromPeer":1,
//!    "address":"127.21.99.11","asn":65001,"state":"Established","uptime_secs":2.451736665,
//!    "write_blocked":false,"write_queued_bytes":0},
//!   {"BgpPeerStatus":0,"CountOfRoutesAdvertisedToPeer":0,"CountOfRoutesLearnedFromPeer":0,
//!    "address":"127.21.99.12","asn":65002,"state":"Active","uptime_secs":null,
//!    "write_blocked":false,"write_queued_bytes":null}]}]}
//! $ curl -s 'http://127.21.99.1:17979/learned-routes?peer=127.21.99.11'
//! {"value":[{"asPath":"65001","localAddress":"198.51.100.1","network":"172.16.0.0/24",
//!   "nextHop":"192.0.2.11","origin":"EBgp","sourcePeer":"127.21.99.11","weight":32768}]}
//! $ curl -s 'http://127.21.99.1:17979/advertised-routes?peer=127.21.99.11'
//! {"value":[{"asPath":"65515","localAddress":"198.51.100.1","network":"10.1.0.0/16",
//!   "nextHop":"198.51.100.1","origin":"Igp","sourcePeer":"127.21.99.11","weight":0}]}
//! $ curl -s http://127.21.99.1:17979/fabric
//! {"routes":[{"next_hops":["192.0.2.11"],"prefix":"172.16.0.0/24"}]}
//! ```
//!
//! (Line breaks added; each answer is one line.)
//!
//! # Linux socket options
//!
//! `md5_password` installs a TCP-MD5 key (RFC 2385) for the peer on the listener and on
//! outbound sockets; `ttl_security` (GTSM, RFC 5082) sends with TTL 255 and requires 255
//! on receipt. When every peer of an instance uses GTSM the listener itself requires it,
//! so even the handshake is checked; otherwise the accepted socket requires it from the
//! moment the connection is handed to the instance (what the peer sent before, at most
//! its OPEN, is not checked, as in BIRD and FRR).
//!
//! # Proof
//!
//! `tests/interop.rs` runs BIRD 2, FRR, GoBGP, OpenBGPD and ExaBGP as NVAs against the
//! `fabric-sim serve` subcommand on loopback (capabilities, 1,000 routes with communities to a
//! second NVA, ECMP, withdrawal, ROUTE-REFRESH with BoRR/EoRR, kill -9 and restart, route
//! limit, VNet change, SIGTERM, TCP-MD5, GTSM); `tests/interop_raw.rs` sends it malformed
//! input by hand, stalls a peer's reading until the send hold timer closes it, and runs
//! a session over IPv6 loopback (`listen = "[::1]:port"`, a peer at `::1`) carrying
//! IPv4 routes and, with `ipv6_unicast`, IPv6 routes in MP_REACH_NLRI / MP_UNREACH_NLRI. `tools/bench/e2e.sh` measures it side by side with the daemons as route
//! servers.
//!
//! # Calling it
//!
//! ```no_run
//! use clap::Parser;
//! use fabric_sim::serve::{run, ServeArgs};
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     serve: ServeArgs,
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     match run(Cli::parse().serve) {
//!         Ok(()) => std::process::ExitCode::SUCCESS,
//!         Err(e) => {
//!             eprintln!("fabric-sim serve: {e}");
//!             std::process::ExitCode::FAILURE
//!         }
//!     }
//! }
//! ```

pub mod config;
mod driver;
pub mod malloc;
pub mod socket;
mod status;

use std::io;
use std::path::PathBuf;

pub use config::{ConfigFileError, InstanceConfig, PeerSocket, ServeConfig};

/// The largest read from a peer's socket in one go, in bytes: the route server's
/// [`RECOMMENDED_RECEIVE_CHUNK`](route_server::RECOMMENDED_RECEIVE_CHUNK), 16 KiB.
///
/// Each read is one pass of the route server, whose transient memory grows with it
/// (about 64 bytes a route, twice: 256 KiB of /24s held 8 MiB). End to end
/// (`tools/bench/e2e.sh`, BENCHMARKS.md "serve's own footprint"), 16 KiB reads instead of
/// 256 KiB took serve's peak RSS from 24 to 15 MiB at 100,000 routes and from 102 to
/// 87 MiB at 1,000,000, for the same CPU time: 4 MB of UPDATEs is 256 reads instead of
/// 16, nothing beside the routes' own work.
pub const READ_CHUNK: usize = route_server::RECOMMENDED_RECEIVE_CHUNK;

/// The most bytes queued for one peer's socket; past it the peer's connection is closed.
pub const MAX_WRITE_QUEUE: usize = 64 * 1024 * 1024;

/// The RFC 9003 shutdown communication sent to every peer on SIGINT or SIGTERM.
pub const SHUTDOWN_MESSAGE: &str = "fabric-sim serve: route server shutting down";

/// The arguments of `fabric-sim serve`.
#[derive(clap::Args, Clone, Debug)]
pub struct ServeArgs {
    /// The TOML configuration file (see the `serve::config` documentation).
    #[arg(long, short)]
    pub config: PathBuf,
    /// Print events as JSON lines (one object per line) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Do not print each fabric change (session changes and everything else still print).
    #[arg(long)]
    pub quiet: bool,
    /// Check the configuration file and exit.
    #[arg(long)]
    pub check: bool,
}

/// Why `serve` could not start or had to stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The configuration file is unusable.
    #[error("{0}")]
    Config(#[from] ConfigFileError),
    /// The route server refused its configuration.
    #[error("instance {instance}: {source}")]
    RouteServer {
        /// The instance.
        instance: String,
        /// What it refused.
        source: route_server::ConfigError,
    },
    /// A socket or the runtime failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
}

/// Runs `serve` until SIGINT or SIGTERM.
///
/// # Errors
///
/// The configuration is refused, or a listening socket cannot be opened.
pub fn run(args: ServeArgs) -> Result<(), ServeError> {
    let config = config::load(&args.config)?;
    if args.check {
        println!(
            "{}: ok ({} instance(s), {} peer(s))",
            args.config.display(),
            config.instances.len(),
            config
                .instances
                .iter()
                .map(|i| i.server.peers.len())
                .sum::<usize>()
        );
        return Ok(());
    }
    malloc::fix_mmap_threshold();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ServeError::Io {
            what: "starting the tokio runtime".to_owned(),
            source,
        })?;
    let output = driver::Output {
        json: args.json,
        quiet: args.quiet,
    };
    runtime.block_on(driver::serve(&args.config, config, output))
}

#[cfg(test)]
mod tests {
    /// Compares the code with its own documentation: every `"event"` the driver prints
    /// has a row in the module's table.
    #[test]
    fn every_printed_event_is_in_the_documented_table() {
        let driver = include_str!("driver.rs");
        let docs = include_str!("mod.rs");
        let mut seen = 0;
        for piece in driver.split("\"event\": \"").skip(1) {
            let name = &piece[..piece.find('"').expect("closing quote")];
            assert!(
                docs.contains(&format!("//! | `{name}` |")),
                "{name} undocumented"
            );
            seen += 1;
        }
        assert!(seen >= 25, "only {seen} events found in driver.rs");
    }
}
