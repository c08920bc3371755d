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
//! a reader task, which reads in chunks of at most [`READ_CHUNK`] bytes and waits when
//! the instance's channel is full, so a peer that sends faster than the route server
//! decodes is slowed down by TCP itself; and a writer task, which coalesces queued
//! messages into large writes and reports when the socket stops taking bytes (the
//! peer is not reading) and when it takes them again.
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
//! A reader holds one [`READ_CHUNK`] buffer and at most the instance channel's capacity
//! of chunks in flight. A writer's queue is bounded by [`MAX_WRITE_QUEUE`]: a peer that
//! stops reading has its session closed when the queue would grow past it (before that,
//! its blocked socket is reported in the status output). A peer that sends garbage gets
//! the NOTIFICATION the route server chooses and its connection is closed; the other
//! connections never see it.
//!
//! # What it prints
//!
//! One line per event, `NAME text` or, with `--json`, one object with `"instance"` and
//! `"event"`: `listening`, `status_listening`, `peer_up` (peer, asn), `peer_down` (peer,
//! asn, reason with the NOTIFICATION), `session_ended` (a session that ended before
//! Established), `connection_closed`, `connect_failed`, `refused` (from, reason),
//! `program` (prefix, next_hops), `remove` (prefix), `routes_rejected` (peer, count,
//! reason, examples), `route_limit_exceeded` (peer, counted, limit),
//! `route_refresh_received` (peer, family, subtype), `route_refresh_sent`,
//! `session_reset`, `routes_kept_stale`, `write_queue_full`, `vnet_changed`,
//! `branch_to_branch_changed`, `hub_routing_preference_changed`, `reload_failed`,
//! `reload_ignored`, `warning`, `stopped`. `--quiet` leaves out
//! `program` and `remove`.
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
//! input by hand. `tools/bench/e2e.sh` measures it side by side with the daemons as route
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
pub mod socket;
mod status;

use std::io;
use std::path::PathBuf;

pub use config::{ConfigFileError, InstanceConfig, PeerSocket, ServeConfig};

/// The largest read from a peer's socket in one go, in bytes.
pub const READ_CHUNK: usize = 256 * 1024;

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
