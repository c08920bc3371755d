//! Codec benchmarks (placeholder while the harness is written).
#![allow(missing_docs)]

mod adapters;

fn main() {}
