//! Shared pieces of the interop tests: processes stopped by pid, bounded waits, the
//! `serve` binary with its JSON lines, and each daemon's configuration and read-outs.
//!
//! Address plan (lo only): test slot S uses 127.21.S.0/24; the route server is 127.21.S.1
//! port [`PORT`], daemon peers 127.21.S.11 and up. Every daemon listens on its own
//! address and port [`PORT`], with its own directory for config, sockets and logs.
//! Next hops are documentation addresses (198.51.100.x, RFC 5737): FRR resets sessions
//! whose NEXT_HOP is in 127/8 and GoBGP treats such routes as withdrawn. They are only
//! attribute values: no daemon installs routes and no packet leaves 127/8.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The TCP port of every speaker in the tests.
pub const PORT: u16 = 17900;

/// The route server's advertised next hop (its "address" as NVAs see it).
pub const RS_NEXT_HOP: &str = "198.51.100.1";

/// The route server's VNet range, advertised to every NVA.
pub const VNET: &str = "10.1.0.0/16";

/// A prefix both NVAs of a scenario announce with equal AS path length (ECMP).
pub const SHARED_PREFIX: &str = "172.30.0.0/24";

/// The prefix withdrawn in the withdrawal step.
pub const WITHDRAWN_PREFIX: &str = "172.31.0.0/24";

/// Routes each NVA announces.
pub const ROUTES: usize = 1000;

/// The `i`-th of the NVA's [`ROUTES`] prefixes: 172.16.0.0/24, 172.16.1.0/24, ...
pub fn nth_prefix(i: usize) -> String {
    format!("172.{}.{}.0/24", 16 + i / 256, i % 256)
}

/// Address `host` of test slot `slot`.
pub fn addr(slot: u8, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 21, slot, host)
}

/// Whether `binary` exists. Missing: under `CI=true` the test fails; elsewhere it says it
/// skipped and the caller returns.
pub fn require(binaries: &[&str]) -> bool {
    let missing: Vec<&&str> = binaries.iter().filter(|b| !Path::new(b).exists()).collect();
    if missing.is_empty() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        !ci,
        "CI=true and {missing:?} missing: install bird2 frr gobgpd openbgpd and exabgp (see .ci/run)"
    );
    eprintln!("skipped: {missing:?} not installed (set CI=true to make this a failure)");
    false
}

/// The ExaBGP executable (pip installs it on PATH or under pyenv).
pub fn exabgp_bin() -> String {
    if let Ok(out) = Command::new("pyenv").args(["which", "exabgp"]).output() {
        let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && !path.is_empty() {
            return path;
        }
    }
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join("exabgp");
        if p.exists() {
            return p.display().to_string();
        }
    }
    "/usr/local/bin/exabgp".to_owned()
}

/// Polls `check` every `every` until it returns `Some`, at most for `timeout`.
pub fn wait_for<T>(
    timeout: Duration,
    every: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// A test's working directory: removed when the test passes, kept (and named in the
/// failure message) when it fails.
pub struct WorkDir(PathBuf);

impl std::ops::Deref for WorkDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A fresh working directory for one test. Declare it before the processes that use it:
/// they are stopped (dropped) before it is removed.
pub fn workdir(test: &str) -> WorkDir {
    let dir =
        std::env::temp_dir().join(format!("fabric-sim-interop-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create work directory");
    WorkDir(dir)
}

/// A process this test started: stopped by its pid (and, for daemons that fork, the pids
/// of its descendants) when dropped.
pub struct Proc {
    /// Its name in messages.
    pub name: String,
    child: Child,
    stopped: bool,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Self {
        let out = std::fs::File::create(log).expect("create log");
        let err = out.try_clone().expect("clone log handle");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        Self {
            name: name.to_owned(),
            child,
            stopped: false,
        }
    }

    /// Wraps an already spawned child.
    pub fn from_child(name: &str, child: Child) -> Self {
        Self {
            name: name.to_owned(),
            child,
            stopped: false,
        }
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL to the process and its descendants: a crash, no goodbye.
    pub fn kill9(&mut self) {
        let pids = descendants(self.pid());
        for pid in pids.iter().rev() {
            signal(*pid, "KILL");
        }
        let _ = self.child.wait();
        self.stopped = true;
    }

    /// SIGTERM, then SIGKILL after 5 s; waits for it.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        let pids = descendants(self.pid());
        signal(self.pid(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            for pid in pids.iter().rev() {
                signal(*pid, "KILL");
            }
            let _ = self.child.wait();
        }
        // Forked children (OpenBGPD's engines) that outlived their parent.
        for pid in pids.iter().skip(1) {
            if Path::new(&format!("/proc/{pid}")).exists() {
                signal(*pid, "KILL");
            }
        }
        self.stopped = true;
    }

    /// Waits for the process to exit by itself, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let status = wait_for(timeout, Duration::from_millis(50), || {
            self.child.try_wait().ok().flatten()
        });
        if status.is_some() {
            self.stopped = true;
        }
        status
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// `pid` and its descendants (parents first), from /proc.
fn descendants(pid: u32) -> Vec<u32> {
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
                continue;
            };
            if let Some(ppid) = after.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
                children.entry(ppid).or_default().push(p);
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() && out.len() < 64 {
        if let Some(kids) = children.get(&out[i]) {
            out.extend(kids);
        }
        i += 1;
    }
    out
}

// ------------------------------------------------------------------------------------
// The route server under test
// ------------------------------------------------------------------------------------

/// `fabric-sim serve --json` running, its printed events collected.
pub struct Serve {
    proc: Proc,
    events: Arc<Mutex<Vec<Value>>>,
    /// Its configuration file.
    pub config: PathBuf,
    /// Its status endpoint.
    pub status: String,
}

impl Serve {
    /// Writes `config` into `dir` and starts the route server on it.
    pub fn start(dir: &Path, config: &str) -> Self {
        let path = dir.join("serve.toml");
        std::fs::write(&path, config).expect("write serve.toml");
        let status = config
            .lines()
            .find_map(|l| l.strip_prefix("status = "))
            .map(|s| s.trim_matches('"').to_owned())
            .unwrap_or_default();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fabric-sim"));
        cmd.args(["serve", "--json", "--config"]).arg(&path);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("serve.err")).expect("serve.err"));
        let mut child = cmd.spawn().expect("start fabric-sim serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let mut copy = std::fs::File::create(dir.join("serve.out")).expect("serve.out");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(copy, "{line}");
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    sink.lock().expect("events lock").push(v);
                }
            }
        });
        let serve = Self {
            proc: Proc::from_child("serve", child),
            events,
            config: path,
            status,
        };
        assert!(
            serve
                .wait_event(Duration::from_secs(10), |e| e["event"] == "listening")
                .is_some(),
            "serve did not start listening; see {}",
            dir.display()
        );
        serve
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Every event printed so far.
    pub fn events(&self) -> Vec<Value> {
        self.events.lock().expect("events lock").clone()
    }

    /// Events printed so far.
    pub fn event_count(&self) -> usize {
        self.events.lock().expect("events lock").len()
    }

    /// Waits for an event matching `pred` (among all printed so far).
    pub fn wait_event(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        self.wait_event_after(0, timeout, pred)
    }

    /// Waits for an event matching `pred` among those printed after the first `skip`.
    pub fn wait_event_after(
        &self,
        skip: usize,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        wait_for(timeout, Duration::from_millis(50), || {
            self.events
                .lock()
                .expect("events lock")
                .iter()
                .skip(skip)
                .find(|e| pred(e))
                .cloned()
        })
    }

    /// What is programmed into the fabric, from the `program` / `remove` lines.
    pub fn programmed(&self) -> BTreeMap<String, Vec<String>> {
        let mut fabric = BTreeMap::new();
        for e in self.events.lock().expect("events lock").iter() {
            let prefix = e["prefix"].as_str().unwrap_or_default().to_owned();
            match e["event"].as_str() {
                Some("program") => {
                    let hops = e["next_hops"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|h| h.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default();
                    fabric.insert(prefix, hops);
                }
                Some("remove") => {
                    fabric.remove(&prefix);
                }
                _ => {}
            }
        }
        fabric
    }

    /// GET `path` from the status endpoint, parsed.
    pub fn get(&self, path: &str) -> Value {
        let mut s = TcpStream::connect(&self.status).expect("connect to status endpoint");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        write!(s, "GET {path} HTTP/1.0\r\n\r\n").expect("send request");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("read answer");
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("status answer {text:?}: {e}"))
    }

    /// Rewrites its configuration file and sends SIGHUP.
    pub fn reload(&self, config: &str) {
        std::fs::write(&self.config, config).expect("rewrite serve.toml");
        signal(self.proc.pid(), "HUP");
    }

    /// SIGTERM, as an operator stops it; waits for it to exit.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        signal(self.proc.pid(), "TERM");
        self.proc.wait_exit(Duration::from_secs(10))
    }
}

/// The `[[instance]]` text of a route server in `slot` with `peers` (TOML tables), with
/// the 4-octet AS extension on (Azure itself offers 2-octet ASNs only).
pub fn serve_config(slot: u8, peers: &str) -> String {
    azure_config(slot, peers).replace("hold_time = 9\n", "hold_time = 9\nfour_octet_asn = true\n")
}

/// As [`serve_config`], Azure's defaults only.
pub fn azure_config(slot: u8, peers: &str) -> String {
    format!(
        "status = \"{status}:{sport}\"\n\n[[instance]]\nlisten = \"{rs}:{PORT}\"\nnext_hop = \"{RS_NEXT_HOP}\"\nhold_time = 9\nvnet_prefixes = [\"{VNET}\"]\n\n{peers}",
        status = addr(slot, 1),
        sport = PORT + 79,
        rs = addr(slot, 1),
    )
}

// ------------------------------------------------------------------------------------
// BIRD
// ------------------------------------------------------------------------------------

/// BIRD's binaries.
pub const BIRD: &str = "/usr/sbin/bird";
/// BIRD's client.
pub const BIRDC: &str = "/usr/sbin/birdc";

/// One route as a daemon learned it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Learned {
    /// AS path, ASNs separated by spaces.
    pub as_path: String,
    /// NEXT_HOP.
    pub next_hop: String,
    /// Communities as `(a,b)` / `a:b` text, as the daemon prints them.
    pub communities: String,
    /// Large communities as the daemon prints them.
    pub large_communities: String,
}

/// What a BIRD speaker announces and how.
pub struct BirdSpec {
    /// Its address.
    pub me: Ipv4Addr,
    /// Its ASN.
    pub asn: u32,
    /// The route server's address.
    pub rs: Ipv4Addr,
    /// Next hop it sets on its routes.
    pub next_hop: String,
    /// Prefixes of its main static protocol `s_main`.
    pub routes: Vec<String>,
    /// Prefixes of `s_w`, the protocol disabled to withdraw them.
    pub withdrawable: Vec<String>,
    /// Extra options inside `protocol bgp to_rs`.
    pub bgp_options: String,
}

/// A running BIRD.
pub struct Bird {
    /// The process.
    pub proc: Proc,
    /// Its control socket.
    pub ctl: PathBuf,
    /// Its log.
    pub log: PathBuf,
    conf: PathBuf,
    dir: PathBuf,
    name: String,
}

impl BirdSpec {
    fn config(&self, log: &Path) -> String {
        let statics = |name: &str, routes: &[String]| {
            if routes.is_empty() {
                return String::new();
            }
            let lines: String = routes
                .iter()
                .map(|r| format!("  route {r} blackhole;\n"))
                .collect();
            format!("protocol static {name} {{\n  ipv4;\n{lines}}}\n")
        };
        format!(
            r#"router id {me};
log "{log}" all;
debug protocols {{ states, events, packets }};
protocol device {{ scan time 600; }}
ipv4 table igp4;
protocol static igp_v4 {{ ipv4 {{ table igp4; }}; route 0.0.0.0/0 via "lo"; }}
{main}{w}
protocol bgp to_rs {{
  local {me} port {PORT} as {asn};
  strict bind on;
  neighbor {rs} port {PORT} as 65515;
  multihop 2;
  hold time 9;
  connect delay time 1;
  connect retry time 2;
  error wait time 1, 4;
  {opts}
  ipv4 {{
    import all;
    export filter {{
      if proto != "s_main" && proto != "s_w" then reject;
      bgp_community.add(({asn},100));
      bgp_large_community.add(({asn},1,2));
      bgp_path.prepend({asn});
      accept;
    }};
    next hop address {nh};
    igp table igp4;
    gateway recursive;
  }};
}}
"#,
            me = self.me,
            log = log.display(),
            main = statics("s_main", &self.routes),
            w = statics("s_w", &self.withdrawable),
            asn = self.asn,
            rs = self.rs,
            opts = self.bgp_options,
            nh = self.next_hop,
        )
    }
}

impl Bird {
    /// Writes the configuration of `spec` into `dir/<name>.conf`, checks it and starts BIRD.
    pub fn start(dir: &Path, name: &str, spec: &BirdSpec) -> Self {
        let conf = dir.join(format!("{name}.conf"));
        let log = dir.join(format!("{name}.log"));
        std::fs::write(&conf, spec.config(&log)).expect("write bird conf");
        let check = Command::new(BIRD)
            .arg("-p")
            .arg("-c")
            .arg(&conf)
            .output()
            .expect("bird -p");
        assert!(
            check.status.success(),
            "bird config: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let ctl = dir.join(format!("{name}.ctl"));
        Self {
            proc: spawn_bird(dir, name, &conf, &ctl),
            ctl,
            log,
            conf,
            dir: dir.to_owned(),
            name: name.to_owned(),
        }
    }

    /// Starts it again (after [`Proc::kill9`]).
    pub fn restart(&mut self) {
        self.proc = spawn_bird(&self.dir, &self.name, &self.conf, &self.ctl);
    }

    /// `birdc` output.
    pub fn birdc(&self, args: &[&str]) -> String {
        let out = Command::new(BIRDC)
            .arg("-s")
            .arg(&self.ctl)
            .args(args)
            .output()
            .expect("birdc");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `show protocols all to_rs`.
    pub fn session(&self) -> String {
        self.birdc(&["show", "protocols", "all", "to_rs"])
    }

    /// Whether its session to the route server is Established.
    pub fn established(&self) -> bool {
        self.session().contains("BGP state:          Established")
    }

    /// The routes it learned from the route server.
    pub fn learned(&self) -> BTreeMap<String, Learned> {
        parse_birdc_routes(&self.birdc(&["show", "route", "all", "protocol", "to_rs"]))
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn spawn_bird(dir: &Path, name: &str, conf: &Path, ctl: &Path) -> Proc {
    let mut cmd = Command::new(BIRD);
    cmd.arg("-f").arg("-c").arg(conf).arg("-s").arg(ctl);
    Proc::spawn(name, cmd, &dir.join(format!("{name}.out")))
}

/// Parses `birdc show route all` output.
pub fn parse_birdc_routes(text: &str) -> BTreeMap<String, Learned> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, Learned)> = None;
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) && line.contains(" unicast [") {
            if let Some((p, r)) = current.take() {
                out.insert(p, r);
            }
            let prefix = line
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            current = Some((prefix, Learned::default()));
            continue;
        }
        let Some((_, r)) = current.as_mut() else {
            continue;
        };
        let t = line.trim();
        if let Some(v) = t.strip_prefix("BGP.as_path:") {
            r.as_path = v.trim().to_owned();
        } else if let Some(v) = t.strip_prefix("BGP.next_hop:") {
            r.next_hop = v.trim().to_owned();
        } else if let Some(v) = t.strip_prefix("BGP.community:") {
            r.communities = v.trim().to_owned();
        } else if let Some(v) = t.strip_prefix("BGP.large_community:") {
            r.large_communities = v.trim().to_owned();
        }
    }
    if let Some((p, r)) = current.take() {
        out.insert(p, r);
    }
    out
}

/// The prefixes the NVA under test announces: [`ROUTES`] prefixes, the shared one and the
/// one withdrawn later.
pub fn nva_prefixes() -> Vec<String> {
    let mut all: Vec<String> = (0..ROUTES).map(nth_prefix).collect();
    all.push(SHARED_PREFIX.to_owned());
    all.push(WITHDRAWN_PREFIX.to_owned());
    all
}

// ------------------------------------------------------------------------------------
// FRR
// ------------------------------------------------------------------------------------

/// FRR's BGP daemon.
pub const FRR_BGPD: &str = "/usr/lib/frr/bgpd";
/// FRR's shell.
pub const VTYSH: &str = "/usr/bin/vtysh";

/// A running FRR bgpd (without zebra), NVA of the route server.
pub struct Frr {
    /// The process.
    pub proc: Proc,
    dir: PathBuf,
    conf: PathBuf,
    vty: PathBuf,
    me: Ipv4Addr,
    /// The route server's address.
    pub rs: Ipv4Addr,
}

impl Frr {
    /// Configures and starts FRR at `me` (AS 65001), announcing [`nva_prefixes`] with a
    /// community, a large community, its AS prepended once and next hop `next_hop`.
    pub fn start(dir: &Path, me: Ipv4Addr, rs: Ipv4Addr, next_hop: &str) -> Self {
        let networks: String = nva_prefixes()
            .iter()
            .map(|p| format!("  network {p}\n"))
            .collect();
        let conf = format!(
            "frr defaults traditional\nhostname nva-frr\nrouter bgp 65001\n bgp router-id {me}\n bgp log-neighbor-changes\n no bgp ebgp-requires-policy\n no bgp network import-check\n neighbor {rs} remote-as 65515\n neighbor {rs} port {PORT}\n neighbor {rs} update-source {me}\n neighbor {rs} disable-connected-check\n neighbor {rs} timers 3 9\n neighbor {rs} timers connect 2\n address-family ipv4 unicast\n{networks}  neighbor {rs} activate\n  neighbor {rs} route-map OUT out\n exit-address-family\n!\nroute-map OUT permit 10\n set community 65001:100\n set large-community 65001:1:2\n set as-path prepend 65001\n set ip next-hop {next_hop}\n!\n"
        );
        let path = dir.join("frr.conf");
        std::fs::write(&path, conf).expect("write frr.conf");
        let vty = dir.join("frr.vty");
        std::fs::create_dir_all(&vty).expect("vty dir");
        let _ = Command::new("chmod").arg("777").arg(&vty).status();
        let mut frr = Self {
            proc: spawn_frr(dir, &path, &vty, me),
            dir: dir.to_owned(),
            conf: path,
            vty,
            me,
            rs,
        };
        frr.proc.name = "frr".to_owned();
        frr
    }

    /// Starts it again with the same configuration.
    pub fn restart(&mut self) {
        self.proc = spawn_frr(&self.dir, &self.conf, &self.vty, self.me);
    }

    /// `vtysh -c` for each command, in order.
    pub fn vtysh(&self, commands: &[&str]) -> String {
        let mut cmd = Command::new(VTYSH);
        cmd.arg("--vty_socket").arg(&self.vty).args(["-d", "bgpd"]);
        for c in commands {
            cmd.args(["-c", c]);
        }
        let out = cmd.output().expect("vtysh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `show bgp neighbors RS json`, the route server's entry.
    pub fn neighbor(&self) -> Value {
        let text = self.vtysh(&[&format!("show bgp neighbors {} json", self.rs)]);
        serde_json::from_str::<Value>(&text).map_or(Value::Null, |v| v[self.rs.to_string()].clone())
    }

    /// Routes learned from the route server.
    pub fn learned(&self) -> BTreeMap<String, Learned> {
        let text = self.vtysh(&["show bgp ipv4 unicast json"]);
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let mut out = BTreeMap::new();
        let Some(routes) = v["routes"].as_object() else {
            return out;
        };
        let rs = self.rs.to_string();
        for (prefix, paths) in routes {
            for p in paths.as_array().into_iter().flatten() {
                if p["peerId"] != rs.as_str() {
                    continue;
                }
                out.insert(
                    prefix.clone(),
                    Learned {
                        as_path: p["path"].as_str().unwrap_or_default().to_owned(),
                        next_hop: p["nexthops"][0]["ip"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        communities: String::new(),
                        large_communities: String::new(),
                    },
                );
            }
        }
        out
    }

    /// Its log (stdout).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("frr.out")).unwrap_or_default()
    }
}

fn spawn_frr(dir: &Path, conf: &Path, vty: &Path, me: Ipv4Addr) -> Proc {
    let mut cmd = Command::new(FRR_BGPD);
    cmd.arg("-f")
        .arg(conf)
        .arg("-i")
        .arg(dir.join("frr.pid"))
        .args([
            "-p",
            &PORT.to_string(),
            "-l",
            &me.to_string(),
            "-n",
            "-Z",
            "-S",
            "-P",
            "0",
        ])
        .arg("--vty_socket")
        .arg(vty)
        .args(["--log", "stdout", "--log-level", "informational"]);
    Proc::spawn("frr", cmd, &dir.join("frr.out"))
}

// ------------------------------------------------------------------------------------
// GoBGP
// ------------------------------------------------------------------------------------

/// GoBGP's daemon.
pub const GOBGPD: &str = "/usr/bin/gobgpd";
/// GoBGP's client.
pub const GOBGP: &str = "/usr/bin/gobgp";

/// A running gobgpd, NVA of the route server; its routes added through its API.
pub struct Gobgp {
    /// The process.
    pub proc: Proc,
    dir: PathBuf,
    conf: PathBuf,
    me: Ipv4Addr,
    /// The route server's address.
    pub rs: Ipv4Addr,
    next_hop: String,
}

impl Gobgp {
    /// Configures and starts gobgpd at `me` (AS 65001) and adds [`nva_prefixes`].
    pub fn start(dir: &Path, me: Ipv4Addr, rs: Ipv4Addr, next_hop: &str) -> Self {
        let conf = format!(
            "[global.config]\n  as = 65001\n  router-id = \"{me}\"\n  port = {PORT}\n  local-address-list = [\"{me}\"]\n[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{rs}\"\n    peer-as = 65515\n  [neighbors.timers.config]\n    hold-time = 9\n    keepalive-interval = 3\n    connect-retry = 2\n  [neighbors.transport.config]\n    local-address = \"{me}\"\n    remote-port = {PORT}\n  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n"
        );
        let path = dir.join("gobgp.toml");
        std::fs::write(&path, conf).expect("write gobgp.toml");
        let mut g = Self {
            proc: spawn_gobgp(dir, &path, me),
            dir: dir.to_owned(),
            conf: path,
            me,
            rs,
            next_hop: next_hop.to_owned(),
        };
        g.add_routes();
        g.proc.name = "gobgp".to_owned();
        g
    }

    /// Starts it again and adds its routes again.
    pub fn restart(&mut self) {
        self.proc = spawn_gobgp(&self.dir, &self.conf, self.me);
        self.add_routes();
    }

    fn add_routes(&self) {
        let api_up = wait_for(Duration::from_secs(20), Duration::from_millis(100), || {
            self.cli(&["global"]).contains("AS").then_some(())
        });
        assert!(api_up.is_some(), "gobgpd API did not come up");
        // One CLI process per route (GoBGP has no bulk add); four at a time.
        let prefixes = nva_prefixes();
        for chunk in prefixes.chunks(4) {
            let children: Vec<Child> = chunk
                .iter()
                .map(|p| {
                    self.command(&[
                        "global",
                        "rib",
                        "add",
                        "-a",
                        "ipv4",
                        p,
                        "nexthop",
                        &self.next_hop,
                        "community",
                        "65001:100",
                        "large-community",
                        "65001:1:2",
                        "aspath",
                        "65001",
                    ])
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("gobgp")
                })
                .collect();
            for mut c in children {
                let _ = c.wait();
            }
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(GOBGP);
        cmd.args(["-u", &self.me.to_string(), "-p", "50051"])
            .args(args);
        cmd
    }

    /// `gobgp` output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("gobgp");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `gobgp neighbor RS -j`.
    pub fn neighbor(&self) -> Value {
        serde_json::from_str(&self.cli(&["neighbor", &self.rs.to_string(), "-j"]))
            .unwrap_or(Value::Null)
    }

    /// Routes learned from the route server.
    pub fn learned(&self) -> BTreeMap<String, Learned> {
        let v: Value = serde_json::from_str(&self.cli(&["global", "rib", "-a", "ipv4", "-j"]))
            .unwrap_or(Value::Null);
        let mut out = BTreeMap::new();
        let rs = self.rs.to_string();
        for (prefix, paths) in v.as_object().into_iter().flatten() {
            for p in paths.as_array().into_iter().flatten() {
                if p["neighbor-ip"] != rs.as_str() {
                    continue;
                }
                let mut r = Learned::default();
                for a in p["attrs"].as_array().into_iter().flatten() {
                    match a["type"].as_u64() {
                        Some(2) => {
                            let asns: Vec<String> = a["as_paths"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .flat_map(|seg| seg["asns"].as_array().cloned().unwrap_or_default())
                                .map(|n| n.to_string())
                                .collect();
                            r.as_path = asns.join(" ");
                        }
                        Some(3) => {
                            r.next_hop = a["nexthop"].as_str().unwrap_or_default().to_owned()
                        }
                        _ => {}
                    }
                }
                out.insert(prefix.clone(), r);
            }
        }
        out
    }

    /// Its log.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("gobgp.out")).unwrap_or_default()
    }
}

fn spawn_gobgp(dir: &Path, conf: &Path, me: Ipv4Addr) -> Proc {
    let mut cmd = Command::new(GOBGPD);
    cmd.arg("-f").arg(conf).args([
        "-t",
        "toml",
        "-l",
        "info",
        "-p",
        "--api-hosts",
        &format!("{me}:50051"),
        "--pprof-disable",
    ]);
    Proc::spawn("gobgp", cmd, &dir.join("gobgp.out"))
}

// ------------------------------------------------------------------------------------
// OpenBGPD
// ------------------------------------------------------------------------------------

/// OpenBGPD's daemon (not FRR's bgpd).
pub const OPENBGPD: &str = "/usr/sbin/bgpd";
/// OpenBGPD's client.
pub const BGPCTL: &str = "/usr/sbin/bgpctl";

/// A running OpenBGPD, NVA of the route server. OpenBGPD 7.7 cannot dial a peer on a
/// port other than 179, so it listens on its own address and the route server dials it.
pub struct Openbgpd {
    /// The process (the parent of its session engine, RDE and RTR processes).
    pub proc: Proc,
    dir: PathBuf,
    conf: PathBuf,
    sock: PathBuf,
    /// The route server's address.
    pub rs: Ipv4Addr,
    next_hop: String,
}

impl Openbgpd {
    /// Configures and starts OpenBGPD at `me` (AS 65001) announcing [`nva_prefixes`].
    pub fn start(dir: &Path, me: Ipv4Addr, rs: Ipv4Addr, next_hop: &str) -> Self {
        let sock = dir.join("obgpd.sock");
        let set = format!("set {{ community 65001:100 large-community 65001:1:2 prepend-self 1 nexthop {next_hop} }}");
        // The withdrawable prefix is added at run time (bgpctl can only delete those).
        let networks: String = nva_prefixes()
            .iter()
            .filter(|p| *p != WITHDRAWN_PREFIX)
            .map(|p| format!("network {p} {set}\n"))
            .collect();
        let conf = format!(
            "AS 65001\nrouter-id {me}\nlisten on {me} port {PORT}\nsocket \"{sock}\"\nfib-update no\n{networks}neighbor {rs} {{\n  remote-as 65515\n  local-address {me}\n  passive\n  holdtime 9\n  announce IPv4 unicast\n  announce enhanced refresh yes\n}}\nallow from any\nallow to any\n",
            sock = sock.display(),
        );
        let path = dir.join("obgpd.conf");
        std::fs::write(&path, conf).expect("write obgpd.conf");
        // Its privilege-separated engine chroots there.
        std::fs::create_dir_all("/run/openbgpd").expect("mkdir /run/openbgpd");
        let check = Command::new(OPENBGPD)
            .arg("-n")
            .arg("-f")
            .arg(&path)
            .output()
            .expect("bgpd -n");
        assert!(
            check.status.success(),
            "openbgpd config: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let mut o = Self {
            proc: spawn_openbgpd(dir, &path),
            dir: dir.to_owned(),
            conf: path,
            sock,
            rs,
            next_hop: next_hop.to_owned(),
        };
        o.add_dynamic();
        o.proc.name = "openbgpd".to_owned();
        o
    }

    fn add_dynamic(&self) {
        let up = wait_for(Duration::from_secs(20), Duration::from_millis(100), || {
            self.sock.exists().then_some(())
        });
        assert!(up.is_some(), "OpenBGPD control socket did not appear");
        self.ctl(&[
            "network",
            "add",
            WITHDRAWN_PREFIX,
            "community",
            "65001:100",
            "large-community",
            "65001:1:2",
            "prepend-self",
            "1",
            "nexthop",
            &self.next_hop,
        ]);
    }

    /// Starts it again.
    pub fn restart(&mut self) {
        let _ = std::fs::remove_file(&self.sock);
        self.proc = spawn_openbgpd(&self.dir, &self.conf);
        self.add_dynamic();
    }

    /// `bgpctl` output.
    pub fn ctl(&self, args: &[&str]) -> String {
        let out = Command::new(BGPCTL)
            .arg("-s")
            .arg(&self.sock)
            .args(args)
            .output()
            .expect("bgpctl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `bgpctl -j show neighbor RS`, its entry.
    pub fn neighbor(&self) -> Value {
        let v: Value =
            serde_json::from_str(&self.ctl(&["-j", "show", "neighbor", &self.rs.to_string()]))
                .unwrap_or(Value::Null);
        v["neighbors"][0].clone()
    }

    /// Routes learned from the route server.
    pub fn learned(&self) -> BTreeMap<String, Learned> {
        let v: Value = serde_json::from_str(&self.ctl(&[
            "-j",
            "show",
            "rib",
            "in",
            "neighbor",
            &self.rs.to_string(),
        ]))
        .unwrap_or(Value::Null);
        v["rib"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                (
                    r["prefix"].as_str().unwrap_or_default().to_owned(),
                    Learned {
                        as_path: r["aspath"].as_str().unwrap_or_default().to_owned(),
                        next_hop: r["exit_nexthop"].as_str().unwrap_or_default().to_owned(),
                        ..Learned::default()
                    },
                )
            })
            .collect()
    }

    /// Its log.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("openbgpd.out")).unwrap_or_default()
    }
}

fn spawn_openbgpd(dir: &Path, conf: &Path) -> Proc {
    let mut cmd = Command::new(OPENBGPD);
    cmd.arg("-d").arg("-v").arg("-f").arg(conf);
    Proc::spawn("openbgpd", cmd, &dir.join("openbgpd.out"))
}

// ------------------------------------------------------------------------------------
// ExaBGP
// ------------------------------------------------------------------------------------

/// A running ExaBGP, NVA of the route server. What it receives (state changes, OPENs,
/// UPDATEs, NOTIFICATIONs) is written as JSON lines by a helper process; commands go to it
/// through a file its other helper follows.
pub struct Exabgp {
    /// The process.
    pub proc: Proc,
    dir: PathBuf,
    conf: PathBuf,
    rs: Ipv4Addr,
    next_hop: String,
}

impl Exabgp {
    /// Configures and starts ExaBGP at `me` (AS 65001), announcing [`nva_prefixes`].
    pub fn start(dir: &Path, me: Ipv4Addr, rs: Ipv4Addr, next_hop: &str) -> Self {
        let cmd_file = dir.join("exa.cmd");
        let rcv_file = dir.join("exa-rcv.json");
        std::fs::write(&cmd_file, "").expect("exa.cmd");
        let cmd_sh = dir.join("exa-cmd.sh");
        let dump_sh = dir.join("exa-dump.sh");
        // The helpers must keep running (ExaBGP stops the peer when one exits).
        std::fs::write(
            &cmd_sh,
            format!("#!/bin/sh\nexec tail -n +1 -F {}\n", cmd_file.display()),
        )
        .expect("write");
        std::fs::write(
            &dump_sh,
            format!(
                "#!/bin/sh\nwhile IFS= read -r l; do printf '%s\\n' \"$l\" >>{}; done\n",
                rcv_file.display()
            ),
        )
        .expect("write");
        let _ = Command::new("chmod")
            .arg("+x")
            .arg(&cmd_sh)
            .arg(&dump_sh)
            .status();
        // ExaBGP sends the AS_PATH exactly as configured (it does not put its own AS in
        // front on eBGP), so "its AS prepended once" is written out as two.
        let routes: String = nva_prefixes()
            .iter()
            .map(|p| {
                format!(
                    "    route {p} next-hop {next_hop} community [65001:100] large-community [65001:1:2] as-path [65001 65001];\n"
                )
            })
            .collect();
        let conf = format!(
            "process cmd {{ run {cmd}; encoder text; }}\nprocess dump {{ run {dump}; encoder json; }}\nneighbor {rs} {{\n  router-id {me};\n  local-address {me};\n  local-as 65001;\n  peer-as 65515;\n  connect {PORT};\n  passive false;\n  hold-time 9;\n  family {{ ipv4 unicast; }}\n  static {{\n{routes}  }}\n  api dumpapi {{ processes [ dump ]; receive {{ parsed; update; notification; open; }} neighbor-changes; }}\n  api cmdapi {{ processes [ cmd ]; }}\n}}\n",
            cmd = cmd_sh.display(),
            dump = dump_sh.display(),
        );
        let path = dir.join("exabgp.conf");
        std::fs::write(&path, conf).expect("write exabgp.conf");
        let mut e = Self {
            proc: spawn_exabgp(dir, &path),
            dir: dir.to_owned(),
            conf: path,
            rs,
            next_hop: next_hop.to_owned(),
        };
        e.proc.name = "exabgp".to_owned();
        e
    }

    /// Starts it again.
    pub fn restart(&mut self) {
        self.proc = spawn_exabgp(&self.dir, &self.conf);
    }

    /// Sends an API command for the route server neighbour.
    pub fn command(&self, command: &str) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("exa.cmd"))
            .expect("open exa.cmd");
        writeln!(f, "neighbor {} {command}", self.rs).expect("write command");
    }

    /// Withdraws `prefix`.
    pub fn withdraw(&self, prefix: &str) {
        self.command(&format!(
            "withdraw route {prefix} next-hop {}",
            self.next_hop
        ));
    }

    /// Every JSON line its dump helper wrote.
    pub fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("exa-rcv.json"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The last session state it reported ("up", "down", "connected", ...).
    pub fn state(&self) -> String {
        self.received()
            .iter()
            .filter(|e| e["type"] == "state")
            .filter_map(|e| e["neighbor"]["state"].as_str().map(str::to_owned))
            .next_back()
            .unwrap_or_default()
    }

    /// The last OPEN it received, as ExaBGP decoded it.
    pub fn open_received(&self) -> Value {
        self.received()
            .into_iter()
            .rfind(|e| e["type"] == "open" && e["neighbor"]["direction"] == "receive")
            .map_or(Value::Null, |e| e["neighbor"]["open"].clone())
    }

    /// Routes learned from the route server since the session last came up.
    pub fn learned(&self) -> BTreeMap<String, Learned> {
        let mut rib = BTreeMap::new();
        for e in self.received() {
            if e["type"] == "state"
                && matches!(e["neighbor"]["state"].as_str(), Some("down" | "connected"))
            {
                rib.clear();
            }
            if e["type"] != "update" {
                continue;
            }
            let u = &e["neighbor"]["message"]["update"];
            for nlris in u["withdraw"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
            {
                for n in nlris.as_array().into_iter().flatten() {
                    let key = n["nlri"].as_str().or(n.as_str()).unwrap_or_default();
                    rib.remove(key);
                }
            }
            let path = &u["attribute"]["as-path"];
            let as_path: Vec<String> = match path {
                Value::Array(a) => a.iter().map(ToString::to_string).collect(),
                Value::Object(segments) => {
                    let mut keys: Vec<&String> = segments.keys().collect();
                    keys.sort_by_key(|k| k.parse::<u32>().unwrap_or(0));
                    keys.iter()
                        .flat_map(|k| {
                            segments[*k]["value"]
                                .as_array()
                                .cloned()
                                .unwrap_or_default()
                        })
                        .map(|v| v.to_string())
                        .collect()
                }
                _ => Vec::new(),
            };
            for by_nh in u["announce"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
            {
                for (nh, nlris) in by_nh.as_object().into_iter().flatten() {
                    for n in nlris.as_array().into_iter().flatten() {
                        let key = n["nlri"].as_str().or(n.as_str()).unwrap_or_default();
                        rib.insert(
                            key.to_owned(),
                            Learned {
                                as_path: as_path.join(" "),
                                next_hop: nh.clone(),
                                ..Learned::default()
                            },
                        );
                    }
                }
            }
        }
        rib
    }
}

fn spawn_exabgp(dir: &Path, conf: &Path) -> Proc {
    let mut cmd = Command::new(exabgp_bin());
    cmd.env("exabgp_daemon_drop", "false")
        .env("exabgp_daemon_daemonize", "false")
        .env("exabgp_api_cli", "false")
        .env("exabgp_log_destination", "stdout")
        .env("exabgp_tcp_bind", "")
        .env("exabgp_log_level", "INFO")
        .arg("server")
        .arg(conf);
    Proc::spawn("exabgp", cmd, &dir.join("exabgp.out"))
}
