//! `fabric-sim`: the virtual network fabric simulator and `serve`, the route server on
//! real TCP sockets.
//!
//! [`serve`] runs [`route_server::RouteServer`] instances on real sockets, for interop with
//! real BGP daemons; `examples/embed_tokio.rs` shows the same loop embedded in a user's own
//! tokio program.

pub mod serve;
