//! Shared pieces of the criterion benchmarks of this workspace: the corpus of real BGP
//! messages, the [`Tally`] every decoder's output is folded into, and the zero-allocation
//! [`floor`] walk that decoders are measured against.
//!
//! **What it is not.** Not a library for anything but the benches in `benches/benches/`
//! (`cargo bench -p benches`); the adapters for other BGP crates live there, since those
//! crates are dev-dependencies only. The results are written up in `BENCHMARKS.md`.
//!
//! # Example
//!
//! ```
//! use benches::{floor, ipv4_slash24_update, Tally};
//!
//! let update = ipv4_slash24_update(3);
//! let mut tally = Tally::default();
//! floor::walk_update(&update, true, &mut tally).unwrap();
//! assert_eq!((tally.messages, tally.prefixes, tally.asns), (1, 3, 1));
//! ```

mod corpus;
pub mod floor;
mod tally;
pub mod timing;

pub use corpus::{
    ipv4_slash24_update, modern_corpus, mrt_updates, read_data, rib_dump, update_corpus,
    workspace_root, Corpus, SourceSummary, WireMessage, CAPTURE_DIRS, MODERN_DUMPS, RIB_DUMP,
    UPDATE_DUMPS,
};
pub use tally::Tally;
