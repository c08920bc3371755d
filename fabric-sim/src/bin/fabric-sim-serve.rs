//! `fabric-sim-serve`: `fabric-sim serve` on its own, until the `serve` subcommand of the
//! `fabric-sim` binary calls [`fabric_sim::serve::run`]. The interop tests run this binary.

use clap::Parser;
use fabric_sim::serve::{run, ServeArgs};

/// Runs the route server on real sockets.
#[derive(Parser)]
#[command(name = "fabric-sim-serve", version, about)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse().serve) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fabric-sim serve: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
