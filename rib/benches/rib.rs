//! RIB benchmarks: loading a million routes, churn, dropping a peer, on synthetic tables
//! and on real RIB dumps.
//!
//! `cargo bench -p bgp-rib` (add `-- --quick` for a short run, `-- real_` for the real dumps
//! only). Throughput is in routes.
//!
//! The real dumps (`support/real.rs`): the cut-short RouteViews 2014 TABLE_DUMP_V2 file in
//! `tests/data/mrt`, and the whole RIPE rrc00 bviews of 2002-07-22 and 2000-01-11 from the
//! shared reference folder (`data/real/mrt` in `$BGP_SHARED_DIR` or `../shared` beside the
//! workspace), left out when that folder is absent. Each is decoded before timing; the benches then time only RIB
//! calls, one per route: loading every peer's routes, withdrawing and re-announcing every
//! route of every tenth prefix, and dropping the peer with the most routes.
//!
//! Time is the benchmark thread's CPU time (from `/proc/thread-self/schedstat`), not wall
//! time: the machines these run on are shared, and a busy neighbour should not show up as
//! a slower RIB. Where that file is missing the numbers are meaningless (zero).

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

#[path = "support/real.rs"]
mod real;
#[path = "support/synth.rs"]
mod synth;

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rib::{PeerId, Rib, RibConfig};
use synth::Synth;

/// CPU time of the calling thread, in nanoseconds.
fn cpu_nanos() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/schedstat") else {
        return 0;
    };
    stat.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Criterion measurement in thread CPU nanoseconds, formatted like wall time.
struct CpuTime;

static WALL_TIME: WallTime = WallTime;

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        cpu_nanos()
    }
    fn end(&self, start: u64) -> u64 {
        cpu_nanos().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL_TIME.formatter()
    }
}

const PEERS: usize = 8;
const PREFIXES: usize = 125_000;
const SETS_PER_PEER: usize = 300;

fn load(synth: &Synth, config: RibConfig) -> (Rib, Vec<PeerId>) {
    let mut rib = Rib::new(config);
    let ids: Vec<PeerId> = synth
        .peers
        .iter()
        .map(|p| rib.add_peer(*p).unwrap())
        .collect();
    for (b, batch) in synth.batches.iter().enumerate() {
        for (k, id) in ids.iter().enumerate() {
            let _ = black_box(rib.announce(*id, batch, synth.set_for(k, b)).unwrap());
        }
    }
    (rib, ids)
}

fn bench_load(c: &mut Criterion<CpuTime>) {
    let synth = Synth::new(PEERS, PREFIXES, SETS_PER_PEER);
    let mut group = c.benchmark_group("load");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(synth.routes() as u64));
    group.bench_function("1M routes (8 peers x 125k), default config", |b| {
        b.iter_batched(
            || (),
            |()| load(&synth, RibConfig::default()),
            BatchSize::PerIteration,
        );
    });
    group.bench_function("1M routes (8 peers x 125k), azure ECMP x8", |b| {
        b.iter_batched(
            || (),
            |()| load(&synth, RibConfig::azure()),
            BatchSize::PerIteration,
        );
    });
    let single = Synth::new(1, 1_000_000, SETS_PER_PEER);
    group.throughput(Throughput::Elements(single.routes() as u64));
    group.bench_function("1M routes (1 peer x 1M)", |b| {
        b.iter_batched(
            || (),
            |()| load(&single, RibConfig::default()),
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn bench_churn(c: &mut Criterion<CpuTime>) {
    let synth = Synth::new(PEERS, PREFIXES, SETS_PER_PEER);
    let (mut rib, ids) = load(&synth, RibConfig::azure());
    // Every tenth UPDATE of every peer: withdrawn, then announced again.
    let churned: Vec<usize> = (0..synth.batches.len()).step_by(10).collect();
    let routes: usize = churned
        .iter()
        .map(|&b| synth.batches[b].len())
        .sum::<usize>()
        * PEERS;
    let mut group = c.benchmark_group("churn");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(2 * routes as u64));
    group.bench_function("withdraw + re-announce 10% of 1M routes, azure", |b| {
        b.iter(|| {
            for &batch in &churned {
                for (k, id) in ids.iter().enumerate() {
                    let _ = black_box(rib.withdraw(*id, &synth.batches[batch]).unwrap());
                    let _ = black_box(
                        rib.announce(*id, &synth.batches[batch], synth.set_for(k, batch))
                            .unwrap(),
                    );
                }
            }
        });
    });
    group.finish();
}

fn bench_drop_peer(c: &mut Criterion<CpuTime>) {
    let synth = Synth::new(PEERS, PREFIXES, SETS_PER_PEER);
    let (mut rib, ids) = load(&synth, RibConfig::azure());
    let victim = ids[0];
    let mut group = c.benchmark_group("drop_peer");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(PREFIXES as u64));
    group.bench_function("drop a peer with 125k routes of 1M, azure", |b| {
        b.iter_custom(|iters| {
            let mut spent = 0;
            for _ in 0..iters {
                let start = cpu_nanos();
                let _ = black_box(rib.drop_peer(victim).unwrap());
                spent += cpu_nanos().saturating_sub(start);
                for (b, batch) in synth.batches.iter().enumerate() {
                    let _ = rib.announce(victim, batch, synth.set_for(0, b)).unwrap();
                }
            }
            spent
        });
    });
    group.finish();
}

fn bench_real(c: &mut Criterion<CpuTime>) {
    let dumps = real::available_dumps();
    let mut group = c.benchmark_group("real_load");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for dump in &dumps {
        group.throughput(Throughput::Elements(dump.routes.len() as u64));
        let name = format!(
            "{} ({} peers, {} routes)",
            dump.label,
            dump.peers.len(),
            dump.routes.len()
        );
        group.bench_function(name, |b| {
            b.iter_batched(
                || (),
                |()| real::load(dump, RibConfig::azure()),
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();

    let mut group = c.benchmark_group("real_churn");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for dump in &dumps {
        let (mut rib, ids) = real::load(dump, RibConfig::azure());
        let churned = dump.every_tenth_prefix();
        group.throughput(Throughput::Elements(2 * churned.len() as u64));
        let name = format!(
            "{} (withdraw + re-announce {} routes)",
            dump.label,
            churned.len()
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                real::withdraw(&mut rib, &ids, &churned);
                real::announce(&mut rib, &ids, dump, &churned);
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("real_drop_peer");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for dump in &dumps {
        let (mut rib, ids) = real::load(dump, RibConfig::azure());
        let (victim, held) = dump.biggest_peer();
        let comeback = dump.routes_of(victim);
        group.throughput(Throughput::Elements(held as u64));
        let name = format!("{} (drop a peer of {} routes)", dump.label, held);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut spent = 0;
                for _ in 0..iters {
                    let start = cpu_nanos();
                    let _ = black_box(rib.drop_peer(ids[victim]).unwrap());
                    spent += cpu_nanos().saturating_sub(start);
                    real::announce(&mut rib, &ids, dump, &comeback);
                }
                spent
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = bench_load, bench_churn, bench_drop_peer, bench_real
}
criterion_main!(benches);
