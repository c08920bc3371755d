//! RIB benchmarks (filled in below).

fn main() {}
