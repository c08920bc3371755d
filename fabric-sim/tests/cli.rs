//! The command line, run as a user would.

use std::path::PathBuf;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fabric-sim"))
}

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

fn temp(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("fabric-sim-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("temp file");
    path
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn no_arguments_replays_the_built_in_scenario_as_tables() {
    let o = bin().output().expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    for needle in [
        "Sessions at the end",
        "Timeline",
        "Effective routes of",
        "10.250.0.0/16",
        "10.1.2.4",
        "Established",
        "14/14 pass",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

#[test]
fn self_consistency_the_default_output_is_byte_identical_across_runs() {
    let a = bin().output().expect("runs");
    let b = bin().output().expect("runs");
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn a_failing_expectation_exits_non_zero_and_says_fail() {
    let text = std::fs::read_to_string(scenario("01-overview.toml"))
        .expect("file")
        .replace(
            "via = [\"10.1.2.4\"]\nnext_hop_type",
            "via = [\"10.1.2.9\"]\nnext_hop_type",
        );
    let path = temp("failing.toml", &text);
    let o = bin().arg("run").arg(&path).output().expect("runs");
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("FAIL"));
}

#[test]
fn a_bad_file_names_file_line_and_field_and_nothing_runs() {
    let good = temp(
        "good.toml",
        &std::fs::read_to_string(scenario("01-overview.toml")).expect("file"),
    );
    let bad = temp(
        "bad.toml",
        "[[vnet]]\nname = \"hub\"\nranges = [\"10.1.0.0/33\"]\n",
    );
    let o = bin()
        .arg("run")
        .arg(&good)
        .arg(&bad)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.toml:3:") && err.contains("vnet[0].ranges[0]"),
        "{err}"
    );
    assert!(stdout(&o).is_empty(), "nothing ran: {}", stdout(&o));
}

#[test]
fn json_output_is_json_with_the_verdict() {
    let o = bin()
        .arg("run")
        .arg(scenario("04-active-passive-prepend.toml"))
        .arg("--json")
        .output()
        .expect("runs");
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["passed"], serde_json::Value::Bool(true));
    assert!(v["expectations"].as_array().is_some_and(|a| !a.is_empty()));
}

#[test]
fn routes_at_a_time_show_the_backup_after_the_hold_timer() {
    // Spec scenario 4: A crashes at 40 s; by 225 s its hold timer (180 s) has expired.
    let o = bin()
        .args(["routes"])
        .arg(scenario("04-active-passive-prepend.toml"))
        .args(["--vm", "vm1", "--at", "225s"])
        .output()
        .expect("runs");
    assert!(o.status.success());
    let out = stdout(&o);
    let line = out
        .lines()
        .find(|l| l.contains("10.250.0.0/16"))
        .expect("route row");
    assert!(
        line.contains("10.1.2.5") && !line.contains("10.1.2.4"),
        "{line}"
    );
}

#[test]
fn trace_through_a_load_balancer_reaches_both_nvas() {
    let o = bin()
        .args(["trace"])
        .arg(scenario("24-next-hop-ilb.toml"))
        .args([
            "--from",
            "vm1",
            "--to",
            "10.250.1.1",
            "--at",
            "10s",
            "--json",
        ])
        .output()
        .expect("runs");
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    let ends: Vec<&str> = v
        .as_array()
        .expect("paths")
        .iter()
        .filter_map(|p| p["end"].as_str())
        .collect();
    assert_eq!(ends, ["nva:nva-a", "nva:nva-b"]);
}

#[test]
fn report_writes_one_self_contained_page() {
    let out =
        std::env::temp_dir().join(format!("fabric-sim-cli-{}-report.html", std::process::id()));
    let o = bin()
        .arg("report")
        .arg(scenario("13-spoke-injection.toml"))
        .arg("-o")
        .arg(&out)
        .output()
        .expect("runs");
    assert!(o.status.success());
    let html = std::fs::read_to_string(&out).expect("written");
    assert!(
        html.contains("<svg")
            && html.contains("Next hops per VM over time")
            && html.contains("Timeline")
    );
    assert!(
        !html.contains("<script src") && !html.contains("<link"),
        "self-contained"
    );
}

#[test]
fn dot_is_a_graphviz_digraph() {
    let o = bin()
        .arg("dot")
        .arg(scenario("23-default-route-vs-expressroute.toml"))
        .output()
        .expect("runs");
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.starts_with("digraph fabric {") && out.trim_end().ends_with('}'));
    assert!(out.contains("\"firewall\" -> \"aux/IN_1\""));
}

#[test]
fn json_output_of_many_files_has_no_progress_line() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenario(""))
        .expect("scenarios")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() > 30);
    let o = bin()
        .arg("run")
        .arg("--json")
        .args(&files)
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v.as_array().map(Vec::len), Some(files.len()));
}

#[test]
fn progress_never_reaches_standard_output() {
    let o = bin()
        .arg("run")
        .arg(scenario("33-hold-timer.toml"))
        .arg(scenario("22-non-revertive-failover.toml"))
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!stdout(&o).contains("virtual time ("), "{}", stdout(&o));
    // On standard error (not a terminal here) a line may appear only after a second of
    // running, and then it names the file and the virtual time.
    let err = String::from_utf8_lossy(&o.stderr);
    for line in err.lines() {
        assert!(
            line.starts_with("[1/2]") || line.starts_with("[2/2]"),
            "{line}"
        );
    }
}

fn serve_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fabric-sim-serve"))
}

/// The daemon-only binary checks a file as `fabric-sim serve` does: the same line for
/// the example file (two instances, as the file says), the same error for a bad one.
#[test]
fn self_consistency_fabric_sim_serve_checks_files_as_the_subcommand_does() {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join("serve.toml");
    let sub = bin()
        .args(["serve", "--check", "--config"])
        .arg(&example)
        .output()
        .expect("runs");
    let own = serve_bin()
        .args(["--check", "--config"])
        .arg(&example)
        .output()
        .expect("runs");
    assert!(
        own.status.success(),
        "{}",
        String::from_utf8_lossy(&own.stderr)
    );
    assert_eq!(stdout(&own), stdout(&sub));
    assert!(
        stdout(&own).contains("ok (2 instance(s)"),
        "{}",
        stdout(&own)
    );

    let bad = temp(
        "bad-serve.toml",
        "[[instance]]\nlisten = \"127.0.0.1:1790\"\nnext_hop = \"not an address\"\n",
    );
    let sub = bin()
        .args(["serve", "--check", "--config"])
        .arg(&bad)
        .output()
        .expect("runs");
    let own = serve_bin()
        .args(["--check", "--config"])
        .arg(&bad)
        .output()
        .expect("runs");
    assert!(!own.status.success());
    assert_eq!(own.stderr, sub.stderr);
    assert!(String::from_utf8_lossy(&own.stderr).contains("next_hop"));
}

/// The daemon-only binary runs: it listens on loopback, and SIGTERM stops it cleanly
/// with the `stopped` line (bounded waits; the process is stopped by its pid).
#[test]
fn fabric_sim_serve_listens_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::time::{Duration, Instant};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let config = temp(
        "serve-run.toml",
        &format!(
            "[[instance]]\nlisten = \"127.0.0.1:{port}\"\nnext_hop = \"198.51.100.1\"\n\n\
             [[instance.peer]]\naddress = \"127.0.0.2\"\nasn = 65001\n"
        ),
    );
    let mut child = serve_bin()
        .args(["--json", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(10));
    let connected = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            _ if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let rest: Vec<String> = rx.iter().collect();
    let _ = reader.join();
    let first = first.expect("a first line within 10 s");
    assert!(first.contains("\"event\":\"listening\""), "{first}");
    assert!(first.contains(&format!("127.0.0.1:{port}")), "{first}");
    assert!(connected, "nothing listening on 127.0.0.1:{port}");
    assert!(killed, "kill -TERM {pid} failed");
    assert!(status.is_some_and(|s| s.success()), "exit: {status:?}");
    assert!(
        rest.iter().any(|l| l.contains("\"event\":\"stopped\"")),
        "{rest:?}"
    );
}
