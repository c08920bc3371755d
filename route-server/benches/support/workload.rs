//! The route-server bench workloads, shared (through `#[path]`) by the criterion bench
//! (`benches/route_server.rs`), the peak-memory example (`examples/route_server_memory.rs`)
//! and the test that pins their outputs (`tests/bench_outputs.rs`), so all three run
//! exactly the same inputs.
//!
//! A workload is a lab with NVAs up (sessions Established through the in-memory lab), the
//! bytes of the UPDATEs the first ones announce, and optionally a final step in which every
//! route the announcing NVA gave is withdrawn: its connection closes (the sender killed),
//! or it withdraws them all in UPDATEs of its own.

#![allow(dead_code, unreachable_pub)] // each includer uses part of it

use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::{Family, Message, Nlri, UpdatePacker};
use fabric_sim::lab::{route, Lab};
use ipnet::{IpNet, Ipv4Net};
use route_server::{
    Config, ConnectionId, FabricChange, Input, Output, PeerConfig, RECOMMENDED_RECEIVE_CHUNK,
};

/// A lab with its NVAs up, and for each announcing NVA the bytes of its UPDATEs.
pub struct Setup {
    /// The route server and its NVAs.
    pub lab: Lab,
    /// Per announcing NVA: its connection and the bytes it writes.
    pub bursts: Vec<(ConnectionId, Vec<u8>)>,
}

/// NVA `i`'s address.
pub fn nva(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 2, 10 + i as u8)
}

/// `nvas` NVAs (AS 65001 + i), Azure's configuration (limits lifted when asked); NVA `i`
/// announces `routes(i)` with AS path `[65001 + i]` and itself as next hop.
pub fn setup(nvas: usize, routes: impl Fn(usize) -> Vec<IpNet>, lift_limits: bool) -> Setup {
    let mut config = Config::azure(
        Ipv4Addr::new(10, 1, 1, 4),
        vec!["10.1.0.0/16".parse().expect("a prefix")],
    );
    if lift_limits {
        config.limits.max_routes_per_peer = None;
    }
    for i in 0..nvas {
        config
            .peers
            .push(PeerConfig::nva(IpAddr::V4(nva(i)), 65001 + i as u32));
    }
    let mut lab = Lab::new(config);
    let mut bursts = Vec::new();
    for i in 0..nvas {
        lab.add_nva(nva(i), 65001 + i as u32);
        let speaker = &lab.speakers[i];
        let params = speaker.send_params();
        let prefixes = routes(i);
        if prefixes.is_empty() {
            continue;
        }
        let mut packer = UpdatePacker::new(params.clone());
        packer.announce(
            &route(&[65001 + i as u32], nva(i), &[]),
            prefixes.into_iter().map(Nlri::new),
        );
        let mut bytes = Vec::new();
        for update in packer.finish_updates() {
            Message::Update(update).emit(&mut bytes, &params);
        }
        bursts.push((speaker.connection.expect("accepted"), bytes));
    }
    Setup { lab, bursts }
}

/// What a run produced.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// UPDATE messages transmitted.
    pub updates_out: usize,
    /// Bytes of those UPDATEs.
    pub bytes_out: usize,
    /// Fabric changes (prefixes) output.
    pub fabric_changes: usize,
    /// FNV-1a over every output in order (see [`OutputHash`]).
    pub hash: u64,
}

/// FNV-1a 64 over the outputs: each Transmit's peer, connection and bytes; each fabric
/// change's prefix and next hops; every other output's `Debug` text.
#[derive(Debug, Clone, Copy)]
pub struct OutputHash(u64);

impl Default for OutputHash {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl OutputHash {
    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// Folds one output in.
    pub fn add(&mut self, output: &Output) {
        match output {
            Output::Transmit {
                connection,
                peer,
                bytes,
            } => {
                self.bytes(b"T");
                self.bytes(&connection.as_u64().to_be_bytes());
                self.bytes(format!("{peer:?}").as_bytes());
                self.bytes(&(bytes.len() as u64).to_be_bytes());
                self.bytes(bytes);
            }
            Output::Program(changes) => {
                self.bytes(b"P");
                for change in changes.iter() {
                    match change {
                        FabricChange::Set { prefix, next_hops } => {
                            self.bytes(format!("S{prefix}").as_bytes());
                            for hop in next_hops {
                                self.bytes(format!(" {hop}").as_bytes());
                            }
                        }
                        FabricChange::Remove { prefix } => {
                            self.bytes(format!("R{prefix}").as_bytes());
                        }
                    }
                }
            }
            other => self.bytes(format!("{other:?}").as_bytes()),
        }
    }

    /// The hash so far.
    pub fn value(self) -> u64 {
        self.0
    }
}

/// Feeds every burst, in reads of at most `chunk` bytes (one read per burst when `None`),
/// and drains the route server after each read: the measured work of an announcing case.
/// With `hash`, every output is folded into the tally's hash.
pub fn run(setup: &mut Setup, chunk: Option<usize>, hash: bool) -> Tally {
    let mut tally = Tally::default();
    let mut hasher = OutputHash::default();
    let now = setup.lab.now;
    let server = &mut setup.lab.server;
    for (connection, bytes) in &setup.bursts {
        for read in bytes.chunks(chunk.unwrap_or(bytes.len()).max(1)) {
            server.handle_input(
                now,
                Input::Received {
                    connection: *connection,
                    bytes: read,
                },
            );
            drain(server, &mut tally, hash.then_some(&mut hasher));
        }
    }
    tally.hash = hasher.value();
    tally
}

/// Closes the connection of the first announcing NVA (its sender killed) and drains: the
/// measured work of the withdraw-everything case.
pub fn withdraw_all(setup: &mut Setup, hash: bool) -> Tally {
    let mut tally = Tally::default();
    let mut hasher = OutputHash::default();
    let now = setup.lab.now;
    let (connection, _) = setup.bursts.first().expect("an announcing NVA");
    let server = &mut setup.lab.server;
    server.handle_input(
        now,
        Input::Closed {
            connection: *connection,
        },
    );
    drain(server, &mut tally, hash.then_some(&mut hasher));
    tally.hash = hasher.value();
    tally
}

fn drain(
    server: &mut route_server::RouteServer,
    tally: &mut Tally,
    mut hasher: Option<&mut OutputHash>,
) {
    while let Some(output) = server.poll_output() {
        if let Some(hasher) = hasher.as_deref_mut() {
            hasher.add(&output);
        }
        match output {
            Output::Transmit { bytes, .. } if bytes.get(18) == Some(&2) => {
                tally.updates_out += 1;
                tally.bytes_out += bytes.len();
            }
            Output::Program(changes) => tally.fabric_changes += changes.len(),
            _ => {}
        }
    }
}

/// The `index`th /24 from `base`.
pub fn slash24(index: usize, base: u32) -> IpNet {
    let addr = base + ((index as u32) << 8);
    IpNet::V4(Ipv4Net::new(Ipv4Addr::from(addr), 24).expect("length 24"))
}

/// NVA `i` of eight: 4,000 /24s, 10.(128 + 16 i + k / 256).(k % 256).0/24, distinct per
/// NVA, outside 10.1/16.
pub fn eight_nvas(i: usize) -> Vec<IpNet> {
    (0..4000)
        .map(|k| slash24(k, 0x0A80_0000 + ((i as u32) << 20)))
        .collect()
}

/// NVA 0 announces `count` /24s from 16.0.0.0; the others nothing.
pub fn one_sender(count: usize) -> impl Fn(usize) -> Vec<IpNet> {
    move |i| {
        if i == 0 {
            (0..count).map(|k| slash24(k, 0x1000_0000)).collect()
        } else {
            Vec::new()
        }
    }
}

/// The bytes of UPDATEs in which NVA 0 of `setup` withdraws `prefixes` (IPv4 unicast), as
/// many per UPDATE as the session's maximum message size allows: its next burst.
pub fn withdrawal_burst(setup: &Setup, prefixes: Vec<IpNet>) -> (ConnectionId, Vec<u8>) {
    let speaker = &setup.lab.speakers[0];
    let params = speaker.send_params();
    let mut packer = UpdatePacker::new(params.clone());
    for prefix in prefixes {
        packer.withdraw(Family::IPV4_UNICAST, Nlri::new(prefix));
    }
    let mut bytes = Vec::new();
    for update in packer.finish_updates() {
        Message::Update(update).emit(&mut bytes, &params);
    }
    (speaker.connection.expect("accepted"), bytes)
}

/// What a case measures, after its lab is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The announcing NVAs' UPDATEs.
    Announce,
    /// The sender's routes went out (not measured); then its connection closes (the sender
    /// killed): every route it gave is withdrawn.
    CloseSender,
    /// The sender's routes went out (not measured); then it withdraws every one of them
    /// in UPDATEs (full-size, read in chunks like the announcements).
    WithdrawByUpdate,
}

/// The cases: name, NVAs (the first announces, except for `eight_nvas`), prefixes
/// announced, and the step measured.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Its name in the bench and the tables.
    pub name: &'static str,
    /// NVAs, senders and receivers.
    pub nvas: usize,
    /// Prefixes the sender announces (per NVA for `eight_nvas_4000_routes`).
    pub prefixes: usize,
    /// What is measured.
    pub step: Step,
    /// The size of each read fed to the route server; `None`: a burst in one read (the
    /// two original cases, kept as they were measured before).
    pub chunk: Option<usize>,
}

impl Case {
    /// Builds the lab; for a withdraw case, also announces everything (not measured), and
    /// for a withdrawal by UPDATE replaces the sender's burst with its withdrawals.
    pub fn prepare(&self) -> Setup {
        let mut setup = if self.name == "eight_nvas_4000_routes" {
            setup(8, eight_nvas, false)
        } else {
            setup(self.nvas, one_sender(self.prefixes), true)
        };
        if self.step != Step::Announce {
            run(&mut setup, self.chunk, false);
        }
        if self.step == Step::WithdrawByUpdate {
            let burst = withdrawal_burst(&setup, one_sender(self.prefixes)(0));
            setup.bursts = vec![burst];
        }
        setup
    }

    /// Runs the measured step. Never inlined, so that a profiler can collect this step
    /// alone: `valgrind --tool=callgrind --toggle-collect='*Case*measure*' ...`.
    #[inline(never)]
    pub fn measure(&self, setup: &mut Setup, hash: bool) -> Tally {
        match self.step {
            Step::CloseSender => withdraw_all(setup, hash),
            Step::Announce | Step::WithdrawByUpdate => run(setup, self.chunk, hash),
        }
    }

    /// Routes advertised (or withdrawn) in the measured step, summed over receivers.
    pub fn routes_out(&self) -> usize {
        if self.name == "eight_nvas_4000_routes" {
            8 * 4000 * 7
        } else {
            self.prefixes * (self.nvas - 1)
        }
    }
}

/// The read size of the chunked cases: 256 KiB, what [`RECOMMENDED_RECEIVE_CHUNK`] was
/// when these cases were written. Kept so that their outputs (UPDATE counts and the
/// hashes pinned in `tests/bench_outputs.rs`) and their numbers in BENCHMARKS.md stay
/// comparable across commits; the recommendation itself is now smaller (peak memory
/// grows with the chunk).
pub const BENCH_RECEIVE_CHUNK: usize = 256 * 1024;

// The recommendation is at most the bench's chunk: the benches measure the worse case.
const _: () = assert!(RECOMMENDED_RECEIVE_CHUNK <= BENCH_RECEIVE_CHUNK);

/// Every case, the two original ones first. The new ones feed the route server in reads
/// of [`BENCH_RECEIVE_CHUNK`] (256 KiB), as a socket driver does.
pub const CASES: &[Case] = &[
    Case {
        name: "eight_nvas_4000_routes",
        nvas: 8,
        prefixes: 4000,
        step: Step::Announce,
        chunk: None,
    },
    Case {
        name: "one_peer_to_seven_100k",
        nvas: 8,
        prefixes: 100_000,
        step: Step::Announce,
        chunk: None,
    },
    Case {
        name: "one_to_one_100k",
        nvas: 2,
        prefixes: 100_000,
        step: Step::Announce,
        chunk: Some(BENCH_RECEIVE_CHUNK),
    },
    Case {
        name: "one_to_three_100k",
        nvas: 4,
        prefixes: 100_000,
        step: Step::Announce,
        chunk: Some(BENCH_RECEIVE_CHUNK),
    },
    Case {
        name: "withdraw_all_one_to_one_100k",
        nvas: 2,
        prefixes: 100_000,
        step: Step::CloseSender,
        chunk: Some(BENCH_RECEIVE_CHUNK),
    },
    Case {
        name: "one_to_one_1m",
        nvas: 2,
        prefixes: 1_000_000,
        step: Step::Announce,
        chunk: Some(BENCH_RECEIVE_CHUNK),
    },
    Case {
        name: "one_to_three_1m",
        nvas: 4,
        prefixes: 1_000_000,
        step: Step::Announce,
        chunk: Some(BENCH_RECEIVE_CHUNK),
    },
    Case {
        name: "withdraw_all_one_to_one_1m",
        nvas: 2,
        prefixes: 1_000_000,
        step: Step::CloseSender,
        chunk: Some(BENCH_RECEIVE_CHUNK),
    },
    Case {
        name: "withdraw_by_update_one_to_one_100k",
        nvas: 2,
        prefixes: 100_000,
        step: Step::WithdrawByUpdate,
        chunk: Some(BENCH_RECEIVE_CHUNK),
    },
    Case {
        name: "withdraw_by_update_one_to_one_1m",
        nvas: 2,
        prefixes: 1_000_000,
        step: Step::WithdrawByUpdate,
        chunk: Some(BENCH_RECEIVE_CHUNK),
    },
];
