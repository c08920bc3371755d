//! `fabric-sim serve` against real BGP daemons on loopback: BIRD 2, FRR, GoBGP, OpenBGPD
//! and ExaBGP as Azure NVAs.
//!
//! For each daemon the same scenario runs (`nva_scenario`): the daemon (AS 65001) and a
//! BIRD (AS 65002) peer with the route server (AS 65515, next hop 198.51.100.1); the daemon
//! announces 1,000 routes with a community, a large community and its AS prepended once,
//! plus a prefix the BIRD announces too with an equally long path, plus one more it
//! withdraws later. Expected values come from Azure's documented behaviour (spec sections
//! 1.3 to 1.6: 65515 prepended, next-hop-self, communities kept, ECMP for equal AS paths)
//! and from RFC 4271 / RFC 2918 / RFC 7313, checked in what the daemons themselves
//! report, never in the route server's own read-outs alone.
//!
//! A missing daemon fails the test under `CI=true` and skips it otherwise.

mod interop_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use interop_support::*;

const SECOND_NVA_ASN: u32 = 65002;

/// What the scenario needs from the daemon under test.
trait Nva {
    /// The daemon's name in messages.
    fn name(&self) -> &'static str;
    /// The NEXT_HOP the daemon puts on its routes.
    fn next_hop(&self) -> String {
        "198.51.100.11".to_owned()
    }
    /// Whether the daemon says its session to the route server is Established.
    fn established(&self) -> bool;
    /// The capabilities the daemon saw in the route server's OPEN (its own words).
    fn peer_capabilities(&self) -> String;
    /// The capability names `peer_capabilities` must contain.
    fn expected_capabilities(&self) -> &'static [&'static str];
    /// Routes the daemon learned from the route server.
    fn learned(&self) -> BTreeMap<String, Learned>;
    /// Withdraws [`WITHDRAWN_PREFIX`].
    fn withdraw(&mut self);
    /// Sends ROUTE-REFRESH to the route server; `None` when the daemon cannot.
    fn request_refresh(&mut self) -> Option<()>;
    /// Whether the daemon's log shows the answer to its ROUTE-REFRESH: the Adj-RIB-Out
    /// re-sent (RFC 2918 section 4), an UPDATE after it.
    fn refresh_answered(&self) -> bool;
    /// Whether its log shows Cease / Maximum Number of Prefixes Reached received.
    fn max_prefix_cease_logged(&self) -> bool;
    /// SIGKILL, no NOTIFICATION.
    fn kill9(&mut self);
    /// Starts it again with the same configuration.
    fn restart(&mut self);
}

// ----- BIRD ---------------------------------------------------------------------------

struct BirdNva(Bird);

impl BirdNva {
    fn start(dir: &std::path::Path, slot: u8) -> Self {
        Self(Bird::start(dir, "nva", &nva_bird_spec(slot, "")))
    }
}

fn nva_bird_spec(slot: u8, options: &str) -> BirdSpec {
    let mut routes: Vec<String> = (0..ROUTES).map(nth_prefix).collect();
    routes.push(SHARED_PREFIX.to_owned());
    BirdSpec {
        me: addr(slot, 11),
        asn: 65001,
        rs: addr(slot, 1),
        next_hop: "198.51.100.11".to_owned(),
        routes,
        withdrawable: vec![WITHDRAWN_PREFIX.to_owned()],
        bgp_options: options.to_owned(),
    }
}

impl Nva for BirdNva {
    fn name(&self) -> &'static str {
        "BIRD"
    }
    fn established(&self) -> bool {
        self.0.established()
    }
    fn peer_capabilities(&self) -> String {
        let s = self.0.session();
        let start = s.find("Neighbor capabilities").unwrap_or(s.len());
        let end = s[start..].find("Session:").map_or(s.len(), |i| start + i);
        let session_line = s[end..].lines().next().unwrap_or_default();
        format!("{}\n{session_line}", &s[start..end])
    }
    fn expected_capabilities(&self) -> &'static [&'static str] {
        &[
            "Route refresh",
            "Enhanced refresh",
            "4-octet AS numbers",
            "AS4",
        ]
    }
    fn learned(&self) -> BTreeMap<String, Learned> {
        self.0.learned()
    }
    fn withdraw(&mut self) {
        self.0.birdc(&["disable", "s_w"]);
    }
    fn request_refresh(&mut self) -> Option<()> {
        self.0.birdc(&["reload", "in", "to_rs"]);
        Some(())
    }
    fn refresh_answered(&self) -> bool {
        let log = self.0.log_text();
        log.rfind("Sending ROUTE-REFRESH")
            .is_some_and(|at| log[at..].contains("Got UPDATE"))
    }
    fn max_prefix_cease_logged(&self) -> bool {
        self.0
            .log_text()
            .contains("Received: Maximum number of prefixes reached")
    }
    fn kill9(&mut self) {
        self.0.proc.kill9();
    }
    fn restart(&mut self) {
        self.0.restart();
    }
}

// ----- FRR ----------------------------------------------------------------------------

struct FrrNva {
    frr: Frr,
    updates_before_refresh: u64,
}

impl FrrNva {
    fn start(dir: &std::path::Path, slot: u8) -> Self {
        Self {
            frr: Frr::start(dir, addr(slot, 11), addr(slot, 1), "198.51.100.11"),
            updates_before_refresh: 0,
        }
    }

    fn stat(&self, name: &str) -> u64 {
        self.frr.neighbor()["messageStats"][name]
            .as_u64()
            .unwrap_or(0)
    }
}

impl Nva for FrrNva {
    fn name(&self) -> &'static str {
        "FRR"
    }
    fn established(&self) -> bool {
        self.frr.neighbor()["bgpState"] == "Established"
    }
    fn peer_capabilities(&self) -> String {
        // FRR's words: "advertisedAndReceived" means both sides sent the capability.
        self.frr.neighbor()["neighborCapabilities"].to_string()
    }
    fn expected_capabilities(&self) -> &'static [&'static str] {
        &[
            r#""4byteAs":"advertisedAndReceived""#,
            r#""routeRefresh":"advertisedAndReceived"#,
            r#""enhancedRouteRefresh":"advertisedAndReceived""#,
        ]
    }
    fn learned(&self) -> BTreeMap<String, Learned> {
        self.frr.learned()
    }
    fn withdraw(&mut self) {
        self.frr.vtysh(&[
            "configure terminal",
            "router bgp 65001",
            "address-family ipv4 unicast",
            &format!("no network {WITHDRAWN_PREFIX}"),
        ]);
    }
    fn request_refresh(&mut self) -> Option<()> {
        self.updates_before_refresh = self.stat("updatesRecv");
        self.frr
            .vtysh(&[&format!("clear bgp ipv4 unicast {} soft in", self.frr.rs)]);
        Some(())
    }
    fn refresh_answered(&self) -> bool {
        self.stat("routeRefreshSent") >= 1 && self.stat("updatesRecv") > self.updates_before_refresh
    }
    fn max_prefix_cease_logged(&self) -> bool {
        self.frr
            .log_text()
            .contains("6/1 (Cease/Maximum Number of Prefixes Reached)")
    }
    fn kill9(&mut self) {
        self.frr.proc.kill9();
    }
    fn restart(&mut self) {
        self.frr.restart();
    }
}

// ----- GoBGP --------------------------------------------------------------------------

struct GobgpNva(Gobgp);

impl Nva for GobgpNva {
    fn name(&self) -> &'static str {
        "GoBGP"
    }
    fn established(&self) -> bool {
        self.0.neighbor()["state"]["session_state"] == 6
    }
    fn peer_capabilities(&self) -> String {
        self.0.neighbor()["state"]["remote_cap"].to_string()
    }
    fn expected_capabilities(&self) -> &'static [&'static str] {
        &[
            "apipb.RouteRefreshCapability",
            "apipb.EnhancedRouteRefreshCapability",
            "apipb.FourOctetASNCapability",
        ]
    }
    fn learned(&self) -> BTreeMap<String, Learned> {
        self.0.learned()
    }
    fn withdraw(&mut self) {
        self.0
            .cli(&["global", "rib", "-a", "ipv4", "del", WITHDRAWN_PREFIX]);
    }
    fn request_refresh(&mut self) -> Option<()> {
        // GoBGP keeps every Adj-RIB-In: `softresetin` re-reads it and sends no
        // ROUTE-REFRESH, so there is nothing to answer.
        None
    }
    fn refresh_answered(&self) -> bool {
        false
    }
    fn max_prefix_cease_logged(&self) -> bool {
        let log = self.0.log_text();
        log.lines().any(|l| {
            l.contains("received notification") && l.contains("Code=6") && l.contains("Subcode=1")
        })
    }
    fn kill9(&mut self) {
        self.0.proc.kill9();
    }
    fn restart(&mut self) {
        self.0.restart();
    }
}

// ----- OpenBGPD -----------------------------------------------------------------------

struct OpenbgpdNva {
    daemon: Openbgpd,
    updates_before_refresh: u64,
}

impl OpenbgpdNva {
    fn start(dir: &std::path::Path, slot: u8) -> Self {
        Self {
            daemon: Openbgpd::start(dir, addr(slot, 11), addr(slot, 1), "198.51.100.11"),
            updates_before_refresh: 0,
        }
    }
}

/// The route server's peer entry for OpenBGPD: the route server dials it (see
/// [`Openbgpd`]), retrying every 2 s.
const OPENBGPD_PEER: &str = "connect_retry = 2\nidle_hold = 1";

impl Nva for OpenbgpdNva {
    fn name(&self) -> &'static str {
        "OpenBGPD"
    }
    fn next_hop(&self) -> String {
        // OpenBGPD 7.7 sends its own address as NEXT_HOP to an eBGP neighbour even when
        // the network statement sets another (seen in every run).
        self.daemon.neighbor()["session"]["local"]["address"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
    fn established(&self) -> bool {
        self.daemon.neighbor()["state"] == "Established"
    }
    fn peer_capabilities(&self) -> String {
        let n = self.daemon.neighbor();
        format!(
            "remote {} negotiated {}",
            n["session"]["remote"]["capabilities"], n["session"]["capabilities"]
        )
    }
    fn expected_capabilities(&self) -> &'static [&'static str] {
        &[
            r#"remote {"as4byte":true,"enhanced_refresh":true,"#,
            r#""refresh":true"#,
            r#"negotiated {"as4byte":true,"enhanced_refresh":true"#,
        ]
    }
    fn learned(&self) -> BTreeMap<String, Learned> {
        self.daemon.learned()
    }
    fn withdraw(&mut self) {
        self.daemon.ctl(&["network", "delete", WITHDRAWN_PREFIX]);
    }
    fn request_refresh(&mut self) -> Option<()> {
        self.updates_before_refresh = self.daemon.neighbor()["stats"]["message"]["received"]
            ["updates"]
            .as_u64()
            .unwrap_or(0);
        self.daemon
            .ctl(&["neighbor", &self.daemon.rs.to_string(), "refresh"]);
        Some(())
    }
    fn refresh_answered(&self) -> bool {
        // Enhanced route refresh is negotiated (RFC 7313): the answer is framed by BoRR
        // and EoRR, which OpenBGPD counts.
        let stats = &self.daemon.neighbor()["stats"];
        let markers = &stats["route-refresh"]["received"];
        stats["message"]["sent"]["route_refresh"].as_u64() >= Some(1)
            && stats["message"]["received"]["updates"]
                .as_u64()
                .unwrap_or(0)
                > self.updates_before_refresh
            && markers["borr"].as_u64() >= Some(1)
            && markers["eorr"].as_u64() >= Some(1)
    }
    fn max_prefix_cease_logged(&self) -> bool {
        self.daemon.log_text().lines().any(|l| {
            l.contains("received notification") && l.contains("Cease") && l.contains("max-prefix")
        })
    }
    fn kill9(&mut self) {
        self.daemon.proc.kill9();
    }
    fn restart(&mut self) {
        self.daemon.restart();
    }
}

// ----- ExaBGP -------------------------------------------------------------------------

struct ExabgpNva(Exabgp);

impl Nva for ExabgpNva {
    fn name(&self) -> &'static str {
        "ExaBGP"
    }
    fn established(&self) -> bool {
        self.0.state() == "up"
    }
    fn peer_capabilities(&self) -> String {
        self.0.open_received()["capabilities"].to_string()
    }
    fn expected_capabilities(&self) -> &'static [&'static str] {
        &["route-refresh", "enhanced-route-refresh", "asn4"]
    }
    fn learned(&self) -> BTreeMap<String, Learned> {
        self.0.learned()
    }
    fn withdraw(&mut self) {
        self.0.withdraw(WITHDRAWN_PREFIX);
    }
    fn request_refresh(&mut self) -> Option<()> {
        // ExaBGP has no command that sends ROUTE-REFRESH.
        None
    }
    fn refresh_answered(&self) -> bool {
        false
    }
    fn max_prefix_cease_logged(&self) -> bool {
        self.0.received().iter().any(|e| {
            let n = &e["neighbor"]["notification"];
            e["type"] == "notification" && n["code"] == 6 && n["subcode"] == 1
        })
    }
    fn kill9(&mut self) {
        self.0.proc.kill9();
    }
    fn restart(&mut self) {
        self.0.restart();
    }
}

// ----- the scenario -------------------------------------------------------------------

/// The peers of a scenario's route server: the daemon (`passive` as given, dialled on
/// [`PORT`]) and the second NVA, a BIRD.
fn scenario_peers(slot: u8, nva_passive: bool, nva_extra: &str) -> String {
    format!(
        "[[instance.peer]]\naddress = \"{}\"\nasn = 65001\npassive = {nva_passive}\nport = {PORT}\n{nva_extra}\n\
         [[instance.peer]]\naddress = \"{}\"\nasn = {SECOND_NVA_ASN}\n",
        addr(slot, 11),
        addr(slot, 12),
    )
}

fn second_nva(dir: &std::path::Path, slot: u8) -> Bird {
    Bird::start(
        dir,
        "second",
        &BirdSpec {
            me: addr(slot, 12),
            asn: SECOND_NVA_ASN,
            rs: addr(slot, 1),
            next_hop: "198.51.100.12".to_owned(),
            routes: vec![SHARED_PREFIX.to_owned()],
            withdrawable: Vec::new(),
            bgp_options: String::new(),
        },
    )
}

const UP: Duration = Duration::from_secs(30);
const PROPAGATE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

fn peer_event(
    serve: &Serve,
    skip: usize,
    event: &str,
    peer: std::net::Ipv4Addr,
) -> Option<serde_json::Value> {
    let peer = peer.to_string();
    serve.wait_event_after(skip, UP, |e| {
        e["event"] == event && e["peer"] == peer.as_str()
    })
}

/// Checks every route of the daemon reached the second NVA as Azure sends it.
fn second_nva_has_all(second: &Bird) -> Option<BTreeMap<String, Learned>> {
    let learned = second.learned();
    let all = (0..ROUTES)
        .map(nth_prefix)
        .chain([WITHDRAWN_PREFIX.to_owned()])
        .all(|p| learned.contains_key(&p));
    all.then_some(learned)
}

fn nva_scenario(slot: u8, dir: &std::path::Path, serve: &Serve, nva: &mut dyn Nva, second: &Bird) {
    let name = nva.name();
    let nva_addr = addr(slot, 11);

    // 1. Established, with the capabilities the route server offers.
    assert!(
        peer_event(serve, 0, "peer_up", nva_addr).is_some(),
        "{name}: no session; see {}",
        dir.display()
    );
    assert!(
        wait_for(UP, POLL, || nva.established().then_some(())).is_some(),
        "{name} does not see Established"
    );
    let caps = nva.peer_capabilities();
    for cap in nva.expected_capabilities() {
        assert!(
            caps.contains(cap),
            "{name}: capability {cap:?} not negotiated:\n{caps}"
        );
    }
    assert!(
        peer_event(serve, 0, "peer_up", addr(slot, 12)).is_some(),
        "second NVA down"
    );

    // 2. Programmed: every route toward the daemon's next hop; the shared prefix as ECMP
    //    over both NVAs (equal AS path length, spec 1.5).
    let nva_nh = nva.next_hop();
    let programmed = wait_for(PROPAGATE, POLL, || {
        let f = serve.programmed();
        (f.len() > ROUTES + 1 && f.get(SHARED_PREFIX).is_some_and(|h| h.len() == 2)).then_some(f)
    })
    .unwrap_or_else(|| {
        panic!(
            "{name}: fabric incomplete: {} prefixes",
            serve.programmed().len()
        )
    });
    for i in 0..ROUTES {
        assert_eq!(
            programmed.get(&nth_prefix(i)),
            Some(&vec![nva_nh.clone()]),
            "{}",
            nth_prefix(i)
        );
    }
    let mut both = [
        nva_nh.parse::<std::net::IpAddr>().expect("next hop"),
        "198.51.100.12".parse().expect("next hop"),
    ];
    both.sort();
    let both: Vec<String> = both.iter().map(ToString::to_string).collect();
    assert_eq!(
        programmed[SHARED_PREFIX], both,
        "ECMP over both NVAs, lowest first"
    );

    // 3. The second NVA gets them with 65515 prepended, the instance's next hop, and the
    //    communities unchanged; the daemon gets the VNet range.
    let learned = wait_for(PROPAGATE, POLL, || second_nva_has_all(second))
        .unwrap_or_else(|| panic!("{name}: second NVA has {} routes", second.learned().len()));
    for i in 0..ROUTES {
        let r = &learned[&nth_prefix(i)];
        assert_eq!(r.as_path, "65515 65001 65001", "{}", nth_prefix(i));
        assert_eq!(r.next_hop, RS_NEXT_HOP);
        assert!(r.communities.contains("(65001,100)"), "{r:?}");
        assert!(r.large_communities.contains("(65001, 1, 2)"), "{r:?}");
    }
    assert_eq!(learned.get(VNET).map(|r| r.as_path.as_str()), Some("65515"));
    let from_rs = wait_for(PROPAGATE, POLL, || {
        let l = nva.learned();
        l.contains_key(VNET).then_some(l)
    })
    .unwrap_or_else(|| panic!("{name} did not learn the VNet range"));
    assert_eq!(from_rs[VNET].as_path, "65515");
    assert_eq!(from_rs[VNET].next_hop, RS_NEXT_HOP);

    // 4. The status endpoint counts them under Azure's metric names.
    let status = serve.get("/status");
    let peer = status["instances"][0]["peers"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|p| p["address"] == nva_addr.to_string().as_str())
        })
        .cloned()
        .expect("peer in status");
    assert_eq!(peer["BgpPeerStatus"], 1);
    assert_eq!(peer["CountOfRoutesLearnedFromPeer"], ROUTES + 2);
    assert_eq!(peer["state"], "Established");
    // Azure's list-learned-routes / list-advertised-routes rows: learned as the NVA sent
    // it, advertised with 65515 prepended and the instance's next hop.
    let learned = serve.get(&format!("/learned-routes?peer={nva_addr}"));
    let row = learned["value"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["network"] == nth_prefix(0).as_str()))
        .cloned()
        .expect("learned row");
    assert_eq!(row["nextHop"], nva_nh.as_str());
    assert_eq!(row["asPath"], "65001 65001");
    assert_eq!(row["sourcePeer"], nva_addr.to_string().as_str());
    let advertised = serve.get(&format!("/advertised-routes?peer={}", addr(slot, 12)));
    let row = advertised["value"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["network"] == nth_prefix(0).as_str()))
        .cloned()
        .expect("advertised row");
    assert_eq!(row["nextHop"], RS_NEXT_HOP);
    assert_eq!(row["asPath"], "65515 65001 65001");

    // 5. A withdrawal propagates.
    let before = serve.event_count();
    nva.withdraw();
    assert!(
        serve
            .wait_event_after(before, PROPAGATE, |e| e["event"] == "remove"
                && e["prefix"] == WITHDRAWN_PREFIX)
            .is_some(),
        "{name}: withdrawal not seen by the route server"
    );
    assert!(
        wait_for(PROPAGATE, POLL, || (!second
            .learned()
            .contains_key(WITHDRAWN_PREFIX))
        .then_some(()))
        .is_some(),
        "{name}: withdrawal did not reach the second NVA"
    );

    // 6. ROUTE-REFRESH from the daemon is answered.
    let before = serve.event_count();
    if nva.request_refresh().is_some() {
        assert!(
            peer_event(serve, before, "route_refresh_received", nva_addr).is_some(),
            "{name}: the route server did not see the ROUTE-REFRESH"
        );
        assert!(
            wait_for(PROPAGATE, POLL, || nva.refresh_answered().then_some(())).is_some(),
            "{name}: ROUTE-REFRESH not answered; see {}",
            dir.display()
        );
    }

    // 7. kill -9: its routes leave the fabric and the other NVA.
    let before = serve.event_count();
    nva.kill9();
    assert!(
        peer_event(serve, before, "peer_down", nva_addr).is_some(),
        "{name}: crash not noticed"
    );
    assert!(
        wait_for(PROPAGATE, POLL, || {
            let f = serve.programmed();
            (!f.contains_key(&nth_prefix(0)) && f.get(SHARED_PREFIX).is_some_and(|h| h.len() == 1))
                .then_some(())
        })
        .is_some(),
        "{name}: routes still programmed after the crash"
    );
    assert!(
        wait_for(PROPAGATE, POLL, || (!second
            .learned()
            .contains_key(&nth_prefix(0)))
        .then_some(()))
        .is_some(),
        "{name}: routes still at the second NVA after the crash"
    );

    // 8. Restarted, it is back; its routes reach the other NVA soon after its session
    //    comes up (measured and printed; the bound here is generous on purpose).
    let before = serve.event_count();
    nva.restart();
    assert!(
        peer_event(serve, before, "peer_up", nva_addr).is_some(),
        "{name}: no session after restart"
    );
    let up = Instant::now();
    let all_programmed = || {
        let f = serve.programmed();
        (0..ROUTES)
            .all(|i| f.contains_key(&nth_prefix(i)))
            .then_some(())
    };
    assert!(
        wait_for(PROPAGATE, Duration::from_millis(20), all_programmed).is_some(),
        "{name}: routes not programmed again"
    );
    let programmed_after = up.elapsed();
    assert!(
        wait_for(PROPAGATE, Duration::from_millis(20), || second_nva_has_all(
            second
        ))
        .is_some(),
        "{name}: routes not back"
    );
    // The first figure is the daemon's own delay before it re-sends (FRR waits a few
    // seconds); the second includes the route server's pass and the other NVA's import.
    eprintln!(
        "{name}: after restart, all routes programmed {programmed_after:?} and at the second NVA {:?} after the session came up",
        up.elapsed()
    );
}

fn limit_scenario(slot: u8, dir: &std::path::Path, serve: &Serve, nva: &dyn Nva) {
    let name = nva.name();
    let event = serve.wait_event(UP, |e| e["event"] == "route_limit_exceeded");
    let event =
        event.unwrap_or_else(|| panic!("{name}: no route limit event; see {}", dir.display()));
    assert_eq!(event["peer"], addr(slot, 11).to_string().as_str());
    assert_eq!(event["limit"], 500);
    assert!(
        wait_for(PROPAGATE, POLL, || nva
            .max_prefix_cease_logged()
            .then_some(()))
        .is_some(),
        "{name} did not log Cease / maximum number of prefixes reached; see {}",
        dir.display()
    );
}

// ----- the tests ----------------------------------------------------------------------

#[test]
fn bird_as_nva() {
    if !require(&[BIRD, BIRDC]) {
        return;
    }
    let slot = 1;
    let dir = workdir("bird");
    let serve = Serve::start(&dir, &serve_config(slot, &scenario_peers(slot, true, "")));
    let second = second_nva(&dir, slot);
    let mut nva = BirdNva::start(&dir, slot);
    nva_scenario(slot, &dir, &serve, &mut nva, &second);
}

/// RFC 7313 section 4: with enhanced route refresh negotiated, the answer to a
/// ROUTE-REFRESH is framed by BoRR and EoRR.
#[test]
fn bird_enhanced_refresh_answer_is_framed_by_borr_and_eorr() {
    if !require(&[BIRD, BIRDC]) {
        return;
    }
    let slot = 5;
    let dir = workdir("bird-borr");
    let serve = Serve::start(&dir, &serve_config(slot, &scenario_peers(slot, true, "")));
    let mut nva = BirdNva::start(&dir, slot);
    assert!(
        peer_event(&serve, 0, "peer_up", addr(slot, 11)).is_some(),
        "no session"
    );
    assert!(nva.peer_capabilities().contains("Enhanced refresh"));
    nva.request_refresh();
    let framed = wait_for(PROPAGATE, POLL, || {
        let log = nva.0.log_text();
        let at = log.rfind("Sending ROUTE-REFRESH")?;
        let after = &log[at..];
        let begin = after.find("Got BEGIN-OF-RR")?;
        after[begin..].contains("Got END-OF-RR").then_some(())
    });
    assert!(
        framed.is_some(),
        "no BoRR ... EoRR after ROUTE-REFRESH; see {}",
        dir.display()
    );
}

#[test]
fn bird_over_route_limit_gets_cease_max_prefixes() {
    if !require(&[BIRD, BIRDC]) {
        return;
    }
    let slot = 2;
    let dir = workdir("bird-limit");
    let serve = Serve::start(
        &dir,
        &serve_config(slot, &scenario_peers(slot, true, "max_routes = 500")),
    );
    let nva = BirdNva::start(&dir, slot);
    limit_scenario(slot, &dir, &serve, &nva);
}

#[test]
fn sigterm_sends_administrative_shutdown_with_its_message() {
    if !require(&[BIRD, BIRDC]) {
        return;
    }
    let slot = 3;
    let dir = workdir("shutdown");
    let mut serve = Serve::start(&dir, &serve_config(slot, &scenario_peers(slot, true, "")));
    let nva = BirdNva::start(&dir, slot);
    assert!(
        peer_event(&serve, 0, "peer_up", addr(slot, 11)).is_some(),
        "no session"
    );
    let status = serve.terminate().expect("serve exits after SIGTERM");
    assert!(status.success(), "{status:?}");
    // RFC 9003: Cease / Administrative Shutdown with the operator's text, as BIRD logs it.
    let expected =
        "Received: Administrative shutdown: \"fabric-sim serve: route server shutting down\"";
    assert!(
        wait_for(Duration::from_secs(5), POLL, || nva
            .0
            .log_text()
            .contains(expected)
            .then_some(()))
        .is_some(),
        "BIRD did not log {expected:?}; see {}",
        dir.display()
    );
}

#[test]
fn connections_from_unconfigured_addresses_are_refused() {
    if !require(&[BIRD, BIRDC]) {
        return;
    }
    let slot = 4;
    let dir = workdir("refuse");
    // Only .12 is configured; BIRD at .11 dials in and must be refused.
    let peers = format!(
        "[[instance.peer]]\naddress = \"{}\"\nasn = 65002\n",
        addr(slot, 12)
    );
    let serve = Serve::start(&dir, &serve_config(slot, &peers));
    let nva = BirdNva::start(&dir, slot);
    let refused = serve.wait_event(UP, |e| e["event"] == "refused");
    assert_eq!(
        refused.expect("a refused connection")["from"],
        addr(slot, 11).to_string().as_str()
    );
    assert!(!nva.established());
}

#[test]
fn frr_as_nva() {
    if !require(&[FRR_BGPD, VTYSH, BIRD, BIRDC]) {
        return;
    }
    let slot = 11;
    let dir = workdir("frr");
    let serve = Serve::start(&dir, &serve_config(slot, &scenario_peers(slot, true, "")));
    let second = second_nva(&dir, slot);
    let mut nva = FrrNva::start(&dir, slot);
    nva_scenario(slot, &dir, &serve, &mut nva, &second);
}

#[test]
fn frr_over_route_limit_gets_cease_max_prefixes() {
    if !require(&[FRR_BGPD, VTYSH]) {
        return;
    }
    let slot = 12;
    let dir = workdir("frr-limit");
    let serve = Serve::start(
        &dir,
        &serve_config(slot, &scenario_peers(slot, true, "max_routes = 500")),
    );
    let nva = FrrNva::start(&dir, slot);
    limit_scenario(slot, &dir, &serve, &nva);
}

#[test]
fn gobgp_as_nva() {
    if !require(&[GOBGPD, GOBGP, BIRD, BIRDC]) {
        return;
    }
    let slot = 21;
    let dir = workdir("gobgp");
    let serve = Serve::start(&dir, &serve_config(slot, &scenario_peers(slot, true, "")));
    let second = second_nva(&dir, slot);
    let mut nva = GobgpNva(Gobgp::start(
        &dir,
        addr(slot, 11),
        addr(slot, 1),
        "198.51.100.11",
    ));
    nva_scenario(slot, &dir, &serve, &mut nva, &second);
}

#[test]
fn gobgp_over_route_limit_gets_cease_max_prefixes() {
    if !require(&[GOBGPD, GOBGP]) {
        return;
    }
    let slot = 22;
    let dir = workdir("gobgp-limit");
    let serve = Serve::start(
        &dir,
        &serve_config(slot, &scenario_peers(slot, true, "max_routes = 500")),
    );
    let nva = GobgpNva(Gobgp::start(
        &dir,
        addr(slot, 11),
        addr(slot, 1),
        "198.51.100.11",
    ));
    limit_scenario(slot, &dir, &serve, &nva);
}

#[test]
fn openbgpd_as_nva_dialled_by_the_route_server() {
    if !require(&[OPENBGPD, BGPCTL, BIRD, BIRDC]) {
        return;
    }
    let slot = 31;
    let dir = workdir("openbgpd");
    let serve = Serve::start(
        &dir,
        &serve_config(slot, &scenario_peers(slot, false, OPENBGPD_PEER)),
    );
    let second = second_nva(&dir, slot);
    let mut nva = OpenbgpdNva::start(&dir, slot);
    nva_scenario(slot, &dir, &serve, &mut nva, &second);
}

#[test]
fn openbgpd_over_route_limit_gets_cease_max_prefixes() {
    if !require(&[OPENBGPD, BGPCTL]) {
        return;
    }
    let slot = 32;
    let dir = workdir("openbgpd-limit");
    let extra = format!("{OPENBGPD_PEER}\nmax_routes = 500");
    let serve = Serve::start(
        &dir,
        &serve_config(slot, &scenario_peers(slot, false, &extra)),
    );
    let nva = OpenbgpdNva::start(&dir, slot);
    limit_scenario(slot, &dir, &serve, &nva);
}

#[test]
fn exabgp_as_nva() {
    let exabgp = exabgp_bin();
    if !require(&[&exabgp, BIRD, BIRDC]) {
        return;
    }
    let slot = 41;
    let dir = workdir("exabgp");
    let serve = Serve::start(&dir, &serve_config(slot, &scenario_peers(slot, true, "")));
    let second = second_nva(&dir, slot);
    let mut nva = ExabgpNva(Exabgp::start(
        &dir,
        addr(slot, 11),
        addr(slot, 1),
        "198.51.100.11",
    ));
    nva_scenario(slot, &dir, &serve, &mut nva, &second);
}

#[test]
fn exabgp_over_route_limit_gets_cease_max_prefixes() {
    let exabgp = exabgp_bin();
    if !require(&[&exabgp]) {
        return;
    }
    let slot = 42;
    let dir = workdir("exabgp-limit");
    let serve = Serve::start(
        &dir,
        &serve_config(slot, &scenario_peers(slot, true, "max_routes = 500")),
    );
    let nva = ExabgpNva(Exabgp::start(
        &dir,
        addr(slot, 11),
        addr(slot, 1),
        "198.51.100.11",
    ));
    limit_scenario(slot, &dir, &serve, &nva);
}

// ----- TCP-MD5 (RFC 2385) and GTSM (RFC 5082), against BIRD ---------------------------

/// A route server with one BIRD peer at .11 configured with `peer_extra`, BIRD with
/// `bird_options` in its BGP protocol; whether the session comes up within `wait`.
fn session_with_bird(
    test: &str,
    slot: u8,
    peer_extra: &str,
    bird_options: &str,
    wait: Duration,
) -> bool {
    if !require(&[BIRD, BIRDC]) {
        // Skipped (not under CI): nothing to check.
        return true;
    }
    let dir = workdir(test);
    let peers = format!(
        "[[instance.peer]]\naddress = \"{}\"\nasn = 65001\nport = {PORT}\nconnect_retry = 2\nidle_hold = 1\n{peer_extra}\n",
        addr(slot, 11)
    );
    let serve = Serve::start(&dir, &serve_config(slot, &peers));
    let nva = Bird::start(&dir, "nva", &nva_bird_spec(slot, bird_options));
    let up = serve
        .wait_event(wait, |e| e["event"] == "peer_up")
        .is_some();
    if up {
        assert!(
            wait_for(UP, POLL, || nva.established().then_some(())).is_some(),
            "BIRD does not see Established"
        );
    } else {
        assert!(
            !nva.established(),
            "BIRD Established while the route server is not"
        );
    }
    up
}

#[test]
fn md5_signed_session_with_bird_dialling_in() {
    assert!(session_with_bird(
        "md5-in",
        51,
        "md5_password = \"s3cret-key\"",
        "password \"s3cret-key\";",
        UP
    ));
}

#[test]
fn md5_signed_session_dialled_by_the_route_server() {
    // BIRD only listens; the route server connects, signing from its first SYN.
    assert!(session_with_bird(
        "md5-out",
        52,
        "md5_password = \"s3cret-key\"\npassive = false",
        "password \"s3cret-key\"; passive on;",
        UP
    ));
}

#[test]
fn md5_with_different_keys_never_comes_up() {
    // The kernel drops every segment whose signature does not verify (RFC 2385 section 2),
    // so neither side sees a single BGP message.
    assert!(!session_with_bird(
        "md5-wrong",
        53,
        "md5_password = \"s3cret-key\"",
        "password \"another-key\";",
        Duration::from_secs(6)
    ));
}

#[test]
fn md5_required_by_bird_but_not_configured_never_comes_up() {
    assert!(!session_with_bird(
        "md5-missing",
        54,
        "",
        "password \"s3cret-key\";",
        Duration::from_secs(6)
    ));
}

#[test]
fn gtsm_session_with_bird_using_ttl_security() {
    // BIRD with `ttl security on` and multihop 2 drops packets below TTL 254: the session
    // only comes up because the route server sends with TTL 255 (RFC 5082 section 3).
    assert!(session_with_bird(
        "gtsm-in",
        55,
        "ttl_security = true",
        "ttl security on;",
        UP
    ));
}

#[test]
fn gtsm_session_dialled_by_the_route_server() {
    assert!(session_with_bird(
        "gtsm-out",
        56,
        "ttl_security = true\npassive = false",
        "ttl security on; passive on;",
        UP
    ));
}

#[test]
fn gtsm_drops_a_peer_sending_with_a_lower_ttl() {
    // Without ttl security BIRD sends with TTL 2 (multihop 2). Its only peer uses GTSM,
    // so the route server's listener itself requires TTL 255: BIRD's SYN is dropped.
    assert!(!session_with_bird(
        "gtsm-low-ttl",
        57,
        "ttl_security = true",
        "",
        Duration::from_secs(6)
    ));
}

// ----- virtual network changes (SIGHUP) -----------------------------------------------

/// Azure (spec 1.7): after a change of the virtual network's ranges the route server asks
/// every NVA for its routes again with ROUTE-REFRESH, or resets the session of one that
/// cannot refresh; the new range is advertised.
fn vnet_change(
    test: &str,
    slot: u8,
    nva: &mut dyn Nva,
    serve: &Serve,
    peers: &str,
) -> serde_json::Value {
    let name = nva.name();
    let nva_addr = addr(slot, 11);
    assert!(
        peer_event(serve, 0, "peer_up", nva_addr).is_some(),
        "{name}: no session ({test})"
    );
    assert!(
        wait_for(PROPAGATE, POLL, || (serve.programmed().len() > ROUTES)
            .then_some(()))
        .is_some(),
        "{name}: routes not programmed"
    );
    let before = serve.event_count();
    let changed = serve_config(slot, peers).replace(
        &format!("vnet_prefixes = [\"{VNET}\"]"),
        &format!("vnet_prefixes = [\"{VNET}\", \"10.2.0.0/16\"]"),
    );
    serve.reload(&changed);
    assert!(
        serve
            .wait_event_after(before, UP, |e| e["event"] == "vnet_changed")
            .is_some(),
        "{name}: reload not taken"
    );
    let answer = serve
        .wait_event_after(before, UP, |e| {
            matches!(
                e["event"].as_str(),
                Some("route_refresh_sent" | "session_reset")
            ) && e["peer"] == nva_addr.to_string().as_str()
        })
        .unwrap_or_else(|| panic!("{name}: neither ROUTE-REFRESH nor reset"));
    let learned = wait_for(PROPAGATE, POLL, || {
        let l = nva.learned();
        l.contains_key("10.2.0.0/16").then_some(l)
    });
    assert!(learned.is_some(), "{name} did not learn the new range");
    // Its routes are still (or again) programmed.
    assert!(
        wait_for(PROPAGATE, POLL, || (serve.programmed().len() > ROUTES)
            .then_some(()))
        .is_some(),
        "{name}: routes lost after the change"
    );
    answer
}

#[test]
fn vnet_change_sends_route_refresh_and_bird_resends_its_routes() {
    if !require(&[BIRD, BIRDC]) {
        return;
    }
    let slot = 61;
    let dir = workdir("vnet-bird");
    let peers = scenario_peers(slot, true, "");
    let serve = Serve::start(&dir, &serve_config(slot, &peers));
    let mut nva = BirdNva::start(&dir, slot);
    let answer = vnet_change("vnet-bird", slot, &mut nva, &serve, &peers);
    assert_eq!(answer["event"], "route_refresh_sent");
    // It answers by sending its routes again, after the request in its log.
    let resent = wait_for(PROPAGATE, POLL, || {
        let log = nva.0.log_text();
        let at = log.find("Got ROUTE-REFRESH")?;
        log[at..].contains("Sending UPDATE").then_some(())
    });
    assert!(
        resent.is_some(),
        "BIRD did not answer the ROUTE-REFRESH; see {}",
        dir.display()
    );
}

#[test]
fn vnet_change_resets_exabgp_which_cannot_refresh() {
    let exabgp = exabgp_bin();
    if !require(&[&exabgp]) {
        return;
    }
    let slot = 62;
    let dir = workdir("vnet-exabgp");
    let peers = scenario_peers(slot, true, "");
    let serve = Serve::start(&dir, &serve_config(slot, &peers));
    let mut nva = ExabgpNva(Exabgp::start(
        &dir,
        addr(slot, 11),
        addr(slot, 1),
        "198.51.100.11",
    ));
    // ExaBGP announces no route refresh capability unless told to.
    let answer = vnet_change("vnet-exabgp", slot, &mut nva, &serve, &peers);
    assert_eq!(answer["event"], "session_reset");
}

#[test]
fn azure_defaults_offer_no_four_octet_as_capability() {
    // Azure accepts 2-octet ASNs only: without the extension the OPEN carries no 4-octet
    // AS capability (RFC 6793), so BIRD runs the session with 2-octet AS_PATHs.
    if !require(&[BIRD, BIRDC]) {
        return;
    }
    let slot = 6;
    let dir = workdir("azure-caps");
    let serve = Serve::start(&dir, &azure_config(slot, &scenario_peers(slot, true, "")));
    let nva = BirdNva::start(&dir, slot);
    assert!(
        peer_event(&serve, 0, "peer_up", addr(slot, 11)).is_some(),
        "no session"
    );
    let caps = nva.peer_capabilities();
    assert!(
        caps.contains("Route refresh") && caps.contains("Enhanced refresh"),
        "{caps}"
    );
    assert!(
        !caps.contains("4-octet AS numbers") && !caps.contains("AS4"),
        "{caps}"
    );
}
