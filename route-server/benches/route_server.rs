//! Route server benchmarks (placeholder until the server is wired).
fn main() {}
