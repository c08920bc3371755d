//! `fabric-sim`: replays virtual networks around Azure-style route servers.
//!
//! With no arguments it replays the scenario built into the binary (the spec's first
//! example) and prints the sessions, the timeline and the effective routes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use fabric_sim::scenario::{self, Scenario};
use fabric_sim::{render, run, trace};

#[derive(Parser, Debug)]
#[command(
    name = "fabric-sim",
    version,
    about = "Replay a virtual network with NVAs, gateways and route-server instances"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay scenario files: timeline, effective routes, every expectation (non-zero
    /// exit when one fails). A progress line goes to standard error when it is a
    /// terminal or once the run takes more than a second. Above 64 VMs a file's effective
    /// routes are shown for the VMs its expectations name.
    Run {
        /// Scenario files (TOML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print JSON instead of tables (no progress line on standard error).
        #[arg(long)]
        json: bool,
        /// Also list every fabric programming change in the timeline.
        #[arg(long)]
        verbose: bool,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Effective routes of one VM at a time.
    Routes {
        /// Scenario file.
        file: PathBuf,
        /// The VM (or NVA) name.
        #[arg(long)]
        vm: String,
        /// When (200s, 1.5s, 3m); the end of the scenario by default.
        #[arg(long)]
        at: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Where packets from a VM to an address go at a time.
    Trace {
        /// Scenario file.
        file: PathBuf,
        /// The source VM (or NVA).
        #[arg(long)]
        from: String,
        /// The destination address.
        #[arg(long)]
        to: std::net::Ipv4Addr,
        /// When; the end of the scenario by default.
        #[arg(long)]
        at: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The topology as Graphviz.
    Dot {
        /// Scenario file.
        file: PathBuf,
    },
    /// One self-contained HTML page: topology, timeline, next hops per VM over time
    /// (above 64 VMs, of the VMs the file's expectations name).
    Report {
        /// Scenario file.
        file: PathBuf,
        /// Output file.
        #[arg(short, long, default_value = "report.html")]
        output: PathBuf,
    },
    /// Serve the route server on real TCP sockets (peering with real BGP daemons).
    Serve(fabric_sim::serve::ServeArgs),
}

/// Writes a line to standard output; a closed pipe (`| head`) ends the program quietly
/// instead of panicking.
fn write_out(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(2);
    }
}

macro_rules! say {
    ($($arg:tt)*) => { write_out(&format!("{}\n", format!($($arg)*))) };
}

macro_rules! say_raw {
    ($($arg:tt)*) => { write_out(&format!($($arg)*)) };
}

fn load(path: &std::path::Path) -> Result<Scenario, String> {
    scenario::load(path).map_err(|e| e.to_string())
}

fn time_arg(at: Option<&str>, scenario: &Scenario) -> Result<Duration, String> {
    match at {
        None => Ok(scenario.duration),
        Some(t) => scenario::parse_duration(t).map_err(|e| format!("--at: {e}")),
    }
}

fn print_outcome(outcome: &run::Outcome, verbose: bool) {
    say!("== {} ==", outcome.name);
    say!(
        "Sessions at the end:\n{}\n",
        render::sessions_table(&outcome.sessions)
    );
    say!(
        "Timeline:\n{}\n",
        render::timeline_table(&outcome.log, verbose)
    );
    if let Some(last) = outcome.last() {
        say!("{}", render::routes_tables(last, None));
    }
    if !outcome.results.is_empty() {
        let passed = outcome.results.iter().filter(|r| r.passed).count();
        say!(
            "Expectations ({passed}/{} pass):\n{}\n",
            outcome.results.len(),
            render::results_table(&outcome.results)
        );
    }
}

/// Above this many VMs, `run` and `report` keep the effective routes of the VMs the
/// file's expectations name only (`fabric-sim routes --vm` shows any other).
const ALL_VMS_UP_TO: usize = 64;

/// A progress line on standard error: shown when it is a terminal, or once the command
/// has run for more than a second (then one line per second, for logs); never with
/// `--json` (`Progress::off`).
struct Progress {
    enabled: bool,
    terminal: bool,
    started: std::time::Instant,
    last_shown: Option<std::time::Instant>,
    /// A `\r` line is on screen and needs its newline.
    open_line: bool,
}

impl Progress {
    fn new() -> Self {
        use std::io::IsTerminal;
        Self {
            enabled: true,
            terminal: std::io::stderr().is_terminal(),
            started: std::time::Instant::now(),
            last_shown: None,
            open_line: false,
        }
    }

    fn off() -> Self {
        Self {
            enabled: false,
            ..Self::new()
        }
    }

    /// File `index` of `files` (`name`) has reached virtual time `at` of `total`.
    fn update(&mut self, index: usize, files: usize, name: &str, at: Duration, total: Duration) {
        if !self.enabled {
            return;
        }
        let now = std::time::Instant::now();
        if !self.terminal && now.duration_since(self.started) < Duration::from_secs(1) {
            return;
        }
        let every = if self.terminal {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(1)
        };
        if self
            .last_shown
            .is_some_and(|l| now.duration_since(l) < every)
        {
            return;
        }
        self.last_shown = Some(now);
        let line = format!(
            "[{}/{files}] {name}: {:.0}s of {:.0}s virtual time ({:.0}%), {:.1}s elapsed",
            index + 1,
            at.as_secs_f64(),
            total.as_secs_f64(),
            100.0 * at.as_secs_f64() / total.as_secs_f64().max(1e-9),
            now.duration_since(self.started).as_secs_f64()
        );
        if self.terminal {
            eprint!("\r\x1b[K{line}");
            self.open_line = true;
        } else {
            eprintln!("{line}");
        }
    }

    /// Ends the progress line before other output.
    fn clear(&mut self) {
        if self.open_line {
            eprint!("\r\x1b[K");
            self.open_line = false;
        }
    }
}

fn replay(
    scenario: &Scenario,
    options: &run::RunOptions,
    progress: &mut Progress,
    (index, files): (usize, usize),
) -> Result<run::Outcome, String> {
    let total = scenario.duration;
    let outcome = run::run_with(scenario, options, |t| {
        progress.update(index, files, &scenario.name, t, total);
    })
    .map_err(|e| format!("{}: {e}", scenario.name));
    progress.clear();
    outcome
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn real_main(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        None => {
            let scenario =
                scenario::parse("<built-in default scenario>", fabric_sim::DEFAULT_SCENARIO)
                    .map_err(|e| e.to_string())?;
            let outcome = replay(
                &scenario,
                &run::RunOptions {
                    end_only: true,
                    vms: None,
                },
                &mut Progress::off(),
                (0, 1),
            )?;
            say!("{}\n", scenario.description.trim());
            print_outcome(&outcome, false);
            say!("Next: `fabric-sim run fabric-sim/scenarios/*.toml`, `fabric-sim --help`.");
            Ok(if outcome.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Some(Command::Run {
            files,
            json,
            verbose,
            seed,
        }) => {
            // Every file is validated before anything runs.
            let mut scenarios = Vec::new();
            for f in &files {
                let mut s = load(f)?;
                if let Some(seed) = seed {
                    s.seed = seed;
                }
                scenarios.push(s);
            }
            let mut all_passed = true;
            let mut json_out = Vec::new();
            let mut progress = if json {
                Progress::off()
            } else {
                Progress::new()
            };
            for (index, s) in scenarios.iter().enumerate() {
                let options = run::RunOptions {
                    end_only: true,
                    vms: run::RunOptions::vms_for(s, ALL_VMS_UP_TO),
                };
                let outcome = replay(s, &options, &mut progress, (index, scenarios.len()))?;
                all_passed &= outcome.passed();
                if json {
                    json_out.push(render::outcome_json(&outcome));
                } else {
                    print_outcome(&outcome, verbose);
                    if options.vms.is_some() {
                        say!(
                            "({} VMs: effective routes shown for those the file's expectations name; `fabric-sim routes FILE --vm NAME` shows any other.)\n",
                            s.topology.vms.len()
                        );
                    }
                }
            }
            if json {
                let v = if json_out.len() == 1 {
                    json_out.remove(0)
                } else {
                    serde_json::Value::Array(json_out)
                };
                say!(
                    "{}",
                    serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?
                );
            } else if scenarios.len() > 1 {
                say!(
                    "{} scenario(s): {}",
                    scenarios.len(),
                    if all_passed {
                        "all expectations pass"
                    } else {
                        "SOME EXPECTATIONS FAIL"
                    }
                );
            }
            Ok(if all_passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Some(Command::Routes { file, vm, at, json }) => {
            let s = load(&file)?;
            let at = time_arg(at.as_deref(), &s)?;
            let index = s
                .topology
                .vm_by_name(&vm)
                .ok_or_else(|| format!("{}: no VM or NVA is named `{vm}`", file.display()))?;
            let sim = run::run_to(&s, at).map_err(|e| e.to_string())?;
            let routes = sim.effective_routes(index);
            if json {
                say!(
                    "{}",
                    serde_json::to_string_pretty(&render::routes_json_of(&vm, &routes))
                        .map_err(|e| e.to_string())?
                );
            } else {
                say!(
                    "Effective routes of {vm} at {at:?}:\n{}",
                    render::routes_table(&routes)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Trace {
            file,
            from,
            to,
            at,
            json,
        }) => {
            let s = load(&file)?;
            let at = time_arg(at.as_deref(), &s)?;
            let index = s
                .topology
                .vm_by_name(&from)
                .ok_or_else(|| format!("{}: no VM or NVA is named `{from}`", file.display()))?;
            let sim = run::run_to(&s, at).map_err(|e| e.to_string())?;
            let paths = trace::trace(&sim, index, to);
            if json {
                say!(
                    "{}",
                    serde_json::to_string_pretty(&render::trace_json(&paths))
                        .map_err(|e| e.to_string())?
                );
            } else {
                say!("{from} -> {to} at {at:?}:\n{}", render::trace_table(&paths));
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Dot { file }) => {
            let s = load(&file)?;
            say_raw!("{}", render::dot(&s.topology));
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Report { file, output }) => {
            let s = load(&file)?;
            let options = run::RunOptions {
                end_only: false,
                vms: run::RunOptions::vms_for(&s, ALL_VMS_UP_TO),
            };
            let outcome = replay(&s, &options, &mut Progress::new(), (0, 1))?;
            std::fs::write(&output, render::html(&s.topology, &outcome))
                .map_err(|e| format!("{}: {e}", output.display()))?;
            say!(
                "wrote {} ({} expectation(s), {})",
                output.display(),
                outcome.results.len(),
                if outcome.passed() {
                    "all pass"
                } else {
                    "some FAIL"
                }
            );
            Ok(if outcome.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Some(Command::Serve(args)) => match fabric_sim::serve::run(args) {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) => {
                eprintln!("fabric-sim serve: {e}");
                Ok(ExitCode::FAILURE)
            }
        },
    }
}
