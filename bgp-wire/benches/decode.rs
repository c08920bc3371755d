//! Decode and encode cost of typical UPDATEs, for the codec's own tuning (the workspace's
//! `benches` crate compares against other implementations).
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::Ipv4Addr;

use bgp_wire::{
    AsPath, AttrValue, Community, Message, Nlri, Origin, PathAttribute, SessionParams, Update,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// An UPDATE as a transit peer sends them: five attributes, a 5-AS path, three
/// communities, two prefixes.
fn typical_update() -> Update {
    Update::ipv4_announcement(
        [
            PathAttribute::new(AttrValue::Origin(Origin::Igp)),
            PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence([
                3356, 1299, 2914, 64500, 64501,
            ]))),
            PathAttribute::new(AttrValue::NextHop(Ipv4Addr::new(192, 0, 2, 1))),
            PathAttribute::new(AttrValue::MultiExitDisc(100)),
            PathAttribute::new(AttrValue::Communities(vec![
                Community::new(3356, 2),
                Community::new(3356, 22),
                Community::new(3356, 100),
            ])),
        ],
        [
            Nlri::new("198.51.100.0/24".parse().unwrap()),
            Nlri::new("203.0.113.0/24".parse().unwrap()),
        ],
    )
}

fn many_prefixes(n: u32) -> Update {
    let nlri = (0..n).map(|i| {
        Nlri::new(ipnet::IpNet::V4(
            ipnet::Ipv4Net::new(Ipv4Addr::from((10 << 24) | (i << 8)), 24).unwrap(),
        ))
    });
    Update {
        nlri: nlri.collect(),
        ..typical_update()
    }
}

fn bench(c: &mut Criterion) {
    let params = SessionParams::modern();
    let typical = Message::Update(typical_update()).to_bytes(&params);
    let mut group = c.benchmark_group("update");
    group.bench_function("decode_typical", |b| {
        b.iter(|| Message::parse(black_box(&typical), &params).unwrap())
    });
    let msg = Message::parse(&typical, &params).unwrap();
    group.bench_function("encode_typical", |b| {
        let mut out = Vec::with_capacity(4096);
        b.iter(|| {
            out.clear();
            black_box(&msg).emit(&mut out, &params);
        })
    });
    let big = Message::Update(many_prefixes(1000)).to_bytes(&params);
    group.throughput(Throughput::Elements(1000));
    group.bench_function("decode_1000_prefixes", |b| {
        b.iter(|| Message::parse(black_box(&big), &params).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
