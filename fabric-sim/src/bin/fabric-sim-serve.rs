//! `fabric-sim-serve`: the route server on real TCP sockets, and nothing else.
//!
//! The same daemon as `fabric-sim serve` (the same [`fabric_sim::serve::run`], the same
//! flags: `--config FILE [--json] [--quiet] [--check]`), in a binary without the
//! simulator, its scenario files and its tables. A daemon's code is resident once it
//! runs: Linux maps a binary's text in 64 KiB blocks around each page it executes
//! ("fault-around"), and serve's code is spread through the whole of `fabric-sim`'s
//! text, so nearly all of it, 4.0 MB, ends up in serve's RSS. This binary's text is
//! 2.3 MB (BENCHMARKS.md, "serve's own footprint": 1.3 to 1.5 MiB less peak RSS end to
//! end at 100,000 routes).

use std::process::ExitCode;

use clap::Parser;
use fabric_sim::serve::{run, ServeArgs};

/// Serve the route server on real TCP sockets (peering with real BGP daemons); the
/// configuration file is described in the documentation of `fabric_sim::serve::config`.
#[derive(Parser, Debug)]
#[command(name = "fabric-sim-serve", version)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

fn main() -> ExitCode {
    match run(Cli::parse().serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fabric-sim serve: {e}");
            ExitCode::FAILURE
        }
    }
}
