//! A bad scenario file gets one clear error naming the file, the line and the field, and
//! nothing runs. Line numbers below are counted in the texts written here.

use fabric_sim::scenario::{parse, ScenarioError};

const GOOD_HEAD: &str = r#"[[vnet]]
name = "hub"
ranges = ["10.1.0.0/16"]
route_server = { instances = ["10.1.1.4", "10.1.1.5"] }
subnet = [{ name = "app", prefix = "10.1.3.0/24" }]
vm = [{ name = "vm1", ip = "10.1.3.4" }]
"#;

fn error(text: &str) -> ScenarioError {
    parse("bad.toml", text).expect_err("the file is refused")
}

#[test]
fn a_prefix_that_is_not_one_names_its_line_and_field() {
    let e = error(&format!("{GOOD_HEAD}\n[[nva]]\nname = \"a\"\nvnet = \"hub\"\nip = \"10.1.3.9\"\nasn = 65001\nroute = [{{ prefix = \"10.250.0.0/33\" }}]\n"));
    assert_eq!(
        (e.file.as_str(), e.line, e.field.as_str()),
        ("bad.toml", 13, "nva[0].route[0].prefix")
    );
    assert!(e.message.contains("10.250.0.0/33"), "{e}");
    assert!(e.to_string().starts_with("bad.toml:13:"), "{e}");
}

#[test]
fn host_bits_are_refused_with_the_intended_prefix() {
    let e = error(&format!("{GOOD_HEAD}\n[[nva]]\nname = \"a\"\nvnet = \"hub\"\nip = \"10.1.3.9\"\nasn = 65001\nroute = [{{ prefix = \"10.250.1.0/16\" }}]\n"));
    assert_eq!((e.line, e.field.as_str()), (13, "nva[0].route[0].prefix"));
    assert!(e.message.contains("10.250.0.0/16"), "{e}");
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let e = error(&format!(
        "{GOOD_HEAD}\n[[nva]]\nname = \"a\"\nvnet = \"hub\"\nip = \"10.1.3.9\"\nasm = 65001\n"
    ));
    assert_eq!((e.line, e.field.as_str()), (12, "asm"));
    assert!(e.message.contains("unknown field"), "{e}");
}

#[test]
fn an_expectation_naming_no_vm_is_refused() {
    let e = error(&format!("{GOOD_HEAD}\n[[expect]]\nat = \"5s\"\ncheck = \"route\"\nvm = \"vm9\"\nprefix = \"10.2.0.0/16\"\nvia = [\"10.1.2.4\"]\n"));
    assert_eq!((e.line, e.field.as_str()), (11, "expect[0].vm"));
    assert!(e.message.contains("vm9"), "{e}");
}

#[test]
fn an_unknown_action_lists_the_known_ones() {
    let e = error(&format!(
        "{GOOD_HEAD}\n[[event]]\nat = \"5s\"\ndo = \"explode\"\n"
    ));
    assert_eq!((e.line, e.field.as_str()), (10, "event[0].do"));
    assert!(e.message.contains("announce"), "{e}");
}

#[test]
fn a_bad_time_is_refused() {
    let e = error(&format!(
        "{GOOD_HEAD}\n[[event]]\nat = \"5 fortnights\"\ndo = \"crash\"\nnode = \"x\"\n"
    ));
    assert_eq!((e.line, e.field.as_str()), (9, "event[0].at"));
}

#[test]
fn a_vm_outside_every_subnet_is_refused() {
    let text = GOOD_HEAD.replace("10.1.3.4", "10.1.9.4");
    let e = error(&text);
    assert_eq!((e.line, e.field.as_str()), (6, "vnet[0].vm[0].ip"));
}

#[test]
fn a_syntax_error_names_the_line() {
    let e = error("[[vnet]\nname = \"hub\"\n");
    assert_eq!(e.line, 1);
}

#[test]
fn a_spoke_using_a_remote_route_server_that_does_not_exist_is_refused() {
    let text = format!("{GOOD_HEAD}\n[[vnet]]\nname = \"s1\"\nranges = [\"10.11.0.0/16\"]\n\n[[peering]]\nfrom = \"hub\"\nto = \"s1\"\nuse_remote_gateway = true\n");
    let e = error(&text);
    assert_eq!(
        (e.line, e.field.as_str()),
        (14, "peering[0].use_remote_gateway")
    );
}

#[test]
fn an_ipv6_subnet_is_refused_naming_the_field() {
    let text = GOOD_HEAD.replace("prefix = \"10.1.3.0/24\"", "prefix = \"fd00:1::/64\"");
    let e = error(&text);
    assert_eq!((e.line, e.field.as_str()), (5, "vnet[0].subnet[0].prefix"));
    assert!(e.message.contains("only IPv4"), "{e}");
}

/// Mutated scenario files (characters replaced, lines dropped or repeated) are either
/// refused with an error or run; nothing panics. Seeded, so a failure replays.
#[test]
fn mutated_files_never_panic() {
    let original = fabric_sim::DEFAULT_SCENARIO;
    let lines: Vec<&str> = original.lines().collect();
    let alphabet: Vec<char> = "[]{}=\",.:/0123456789abcxyz_ \n#'-\u{e9}".chars().collect();
    let mut state: u64 = 0x5eed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut ran = 0;
    for _ in 0..1500 {
        let text = match next() % 3 {
            0 => {
                let mut chars: Vec<char> = original.chars().collect();
                for _ in 0..1 + next() % 3 {
                    let at = (next() % chars.len() as u64) as usize;
                    chars[at] = alphabet[(next() % alphabet.len() as u64) as usize];
                }
                chars.into_iter().collect::<String>()
            }
            1 => {
                let drop = (next() % lines.len() as u64) as usize;
                lines
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != drop)
                    .map(|(_, l)| *l)
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            _ => {
                let repeat = (next() % lines.len() as u64) as usize;
                let mut out: Vec<&str> = lines.clone();
                out.insert(repeat, lines[repeat]);
                out.join("\n")
            }
        };
        match parse("mutated.toml", &text) {
            Err(e) => assert_eq!(e.file, "mutated.toml"),
            Ok(mut s) => {
                // Keep runs short: the point is that a file that parses also runs.
                s.duration = s.duration.min(std::time::Duration::from_secs(30));
                s.expectations.retain(|x| x.at <= s.duration);
                s.timeline.retain(|a| a.at <= s.duration);
                fabric_sim::run::run(&s, |_| {}).expect("a valid file runs");
                ran += 1;
            }
        }
    }
    assert!(ran > 0, "some mutations still parse and run");
}

// ---------------------------------------------------------------------------------------
// Circuits, tunnels, point-to-site pools, route servers deployed on the timeline.

/// A hub with an NVA, as the texts below extend it (lines 1 to 12).
fn with_nva() -> String {
    format!("{GOOD_HEAD}\n[[nva]]\nname = \"a\"\nvnet = \"hub\"\nip = \"10.1.3.9\"\nasn = 65001\n")
}

#[test]
fn a_circuit_on_a_vpn_gateway_is_refused() {
    let text = format!("{GOOD_HEAD}\n[[circuit]]\nname = \"c\"\nmsee = \"172.31.0.1\"\n\n[[gateway]]\nname = \"vpn\"\nkind = \"vpn\"\nvnet = \"hub\"\nip = \"10.1.3.20\"\ncircuits = [\"c\"]\n");
    let e = error(&text);
    assert_eq!((e.line, e.field.as_str()), (17, "gateway[0].circuits[0]"));
    assert!(e.message.contains("ExpressRoute"), "{e}");
}

#[test]
fn an_unknown_circuit_is_named() {
    let text = format!("{GOOD_HEAD}\n[[gateway]]\nname = \"er\"\nkind = \"expressroute\"\nvnet = \"hub\"\nip = \"10.1.3.20\"\ncircuits = [\"nowhere\"]\n");
    let e = error(&text);
    assert_eq!((e.line, e.field.as_str()), (13, "gateway[0].circuits[0]"));
    assert!(e.message.contains("nowhere"), "{e}");
}

#[test]
fn a_circuit_with_an_azure_asn_is_refused() {
    let text =
        format!("{GOOD_HEAD}\n[[circuit]]\nname = \"c\"\nasn = 12076\nmsee = \"172.31.0.1\"\n");
    let e = error(&text);
    assert_eq!((e.line, e.field.as_str()), (10, "circuit[0].asn"));
}

#[test]
fn a_circuit_without_an_msee_address_is_refused() {
    let e = error(&format!("{GOOD_HEAD}\n[[circuit]]\nname = \"c\"\n"));
    assert_eq!(e.line, 8);
    assert!(e.message.contains("msee"), "{e}");
    let e = error(&format!(
        "{GOOD_HEAD}\n[[circuit]]\nname = \"c\"\nmsee = \"172.31.0\"\n"
    ));
    assert_eq!((e.line, e.field.as_str()), (10, "circuit[0].msee"));
    let e = error(&format!(
        "{GOOD_HEAD}\n[[circuit]]\nname = \"c\"\nmsee = \"10.1.9.9\"\n"
    ));
    assert_eq!((e.line, e.field.as_str()), (10, "circuit[0].msee"));
    assert!(e.message.contains("inside VNet `hub`"), "{e}");
}

#[test]
fn point_to_site_pools_belong_to_vpn_gateways_outside_every_vnet() {
    let e = error(&format!("{}p2s_pools = [\"172.30.0.0/24\"]\n", with_nva()));
    assert_eq!((e.line, e.field.as_str()), (13, "nva[0].p2s_pools[0]"));
    let vpn = format!("{GOOD_HEAD}\n[[gateway]]\nname = \"vpn\"\nkind = \"vpn\"\nvnet = \"hub\"\nip = \"10.1.3.20\"\np2s_pools = [\"10.1.200.0/24\"]\n");
    let e = error(&vpn);
    assert_eq!((e.line, e.field.as_str()), (13, "gateway[0].p2s_pools[0]"));
    assert!(e.message.contains("overlaps"), "{e}");
}

#[test]
fn as_override_on_a_gateway_is_refused() {
    let text = format!("{GOOD_HEAD}\n[[gateway]]\nname = \"er\"\nkind = \"expressroute\"\nvnet = \"hub\"\nip = \"10.1.3.20\"\nas_override = true\n");
    let e = error(&text);
    assert_eq!((e.line, e.field.as_str()), (13, "gateway[0].as_override"));
}

#[test]
fn a_tunnel_needs_two_different_nvas() {
    let one = format!(
        "{}\n[[tunnel]]\nname = \"t\"\nbetween = [\"a\"]\n",
        with_nva()
    );
    let e = error(&one);
    assert_eq!((e.line, e.field.as_str()), (16, "tunnel[0].between"));
    let unknown = format!(
        "{}\n[[tunnel]]\nname = \"t\"\nbetween = [\"a\", \"b\"]\n",
        with_nva()
    );
    let e = error(&unknown);
    assert_eq!((e.line, e.field.as_str()), (16, "tunnel[0].between[1]"));
    assert!(e.message.contains("`b`"), "{e}");
    let gateway = format!("{}\n[[gateway]]\nname = \"er\"\nkind = \"expressroute\"\nvnet = \"hub\"\nip = \"10.1.3.20\"\n\n[[tunnel]]\nname = \"t\"\nbetween = [\"a\", \"er\"]\n", with_nva());
    let e = error(&gateway);
    assert_eq!((e.line, e.field.as_str()), (22, "tunnel[0].between[1]"));
    assert!(e.message.contains("gateway"), "{e}");
}

#[test]
fn an_nva_cannot_peer_with_a_route_server_not_yet_deployed() {
    let text = GOOD_HEAD.replace("\"10.1.1.5\"] }", "\"10.1.1.5\"], deployed = false }");
    let e = error(&format!(
        "{text}\n[[nva]]\nname = \"a\"\nvnet = \"hub\"\nip = \"10.1.3.9\"\nasn = 65001\n"
    ));
    assert_eq!((e.line, e.field.as_str()), (9, "nva[0].peers"));
    assert!(e.message.contains("deploy_route_server"), "{e}");
    // Without sessions it is accepted, and add_peer gives it one after deployment.
    let ok = format!("{text}\n[[nva]]\nname = \"a\"\nvnet = \"hub\"\nip = \"10.1.3.9\"\nasn = 65001\npeers = []\n\n[[event]]\nat = \"1s\"\ndo = \"deploy_route_server\"\nvnet = \"hub\"\n\n[[event]]\nat = \"2s\"\ndo = \"add_peer\"\nnode = \"a\"\ninstance = \"IN_0\"\n");
    parse("ok.toml", &ok).expect("accepted");
}

#[test]
fn deploying_a_route_server_that_exists_is_refused() {
    let e = error(&format!(
        "{GOOD_HEAD}\n[[event]]\nat = \"5s\"\ndo = \"deploy_route_server\"\nvnet = \"hub\"\n"
    ));
    assert_eq!((e.line, e.field.as_str()), (11, "event[0].vnet"));
    assert!(e.message.contains("deployed = false"), "{e}");
}

#[test]
fn tunnel_events_and_checks_name_their_tunnel_and_end() {
    let e = error(&format!(
        "{}\n[[event]]\nat = \"5s\"\ndo = \"tunnel_down\"\ntunnel = \"t9\"\n",
        with_nva()
    ));
    assert_eq!((e.line, e.field.as_str()), (17, "event[0].tunnel"));
    let two = format!("{}\n[[nva]]\nname = \"b\"\nvnet = \"hub\"\nip = \"10.1.3.10\"\nasn = 65002\n\n[[nva]]\nname = \"c\"\nvnet = \"hub\"\nip = \"10.1.3.11\"\nasn = 65003\n\n[[tunnel]]\nname = \"t\"\nbetween = [\"a\", \"b\"]\n\n[[expect]]\nat = \"5s\"\ncheck = \"tunnel\"\ntunnel = \"t\"\nnode = \"c\"\nstate = \"Established\"\n", with_nva());
    let e = error(&two);
    assert_eq!((e.line, e.field.as_str()), (34, "expect[0].node"));
    assert!(e.message.contains("not an end"), "{e}");
}

/// The files that use circuits, tunnels, point-to-site pools and a deployed-later route
/// server, mutated like the default one: refused with an error or run, never a panic.
#[test]
fn mutated_fabric_files_never_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut state: u64 = 0xfab1c;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet: Vec<char> = "[]{}=\",.:/0123456789abcxyz_ \n#'-".chars().collect();
    let mut ran = 0;
    for file in [
        "19-vpn-gateway-transit.toml",
        "25-multi-region-as-override.toml",
        "27-msee-hairpin.toml",
        "31-expressroute-ecmp-loss.toml",
    ] {
        let original = std::fs::read_to_string(dir.join(file)).expect("scenario file");
        let lines: Vec<&str> = original.lines().collect();
        for _ in 0..150 {
            let text = if next() % 2 == 0 {
                let mut chars: Vec<char> = original.chars().collect();
                for _ in 0..1 + next() % 3 {
                    let at = (next() % chars.len() as u64) as usize;
                    chars[at] = alphabet[(next() % alphabet.len() as u64) as usize];
                }
                chars.into_iter().collect::<String>()
            } else {
                let drop = (next() % lines.len() as u64) as usize;
                lines
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != drop)
                    .map(|(_, l)| *l)
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            match parse("mutated.toml", &text) {
                Err(e) => assert_eq!(e.file, "mutated.toml"),
                Ok(mut s) => {
                    s.duration = s.duration.min(std::time::Duration::from_secs(30));
                    s.expectations.retain(|x| x.at <= s.duration);
                    s.timeline.retain(|a| a.at <= s.duration);
                    fabric_sim::run::run(&s, |_| {}).expect("a valid file runs");
                    ran += 1;
                }
            }
        }
    }
    assert!(ran > 0, "some mutations still parse and run");
}
