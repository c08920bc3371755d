//! `bgp-wire`: the BGP-4 message codec of this workspace: bytes in, owned messages out,
//! and back.
//!
//! **What it is.** A sans-IO codec for BGP-4 (RFC 4271) with its extensions: capabilities
//! (RFC 5492, 9072), multiprotocol (RFC 4760), 4-octet AS (RFC 6793), ADD-PATH (RFC 7911),
//! extended messages (RFC 8654), RFC 8950 next hops, roles (RFC 9234), shutdown
//! communication (RFC 9003), route refresh (RFC 2918, 7313), and MRT (RFC 6396) records.
//! Every decode error names the NOTIFICATION to send ([`DecodeError::notification`]);
//! UPDATE attribute errors are classified as RFC 7606 prescribes ([`Treatment`]).
//!
//! **What it does not do.** No I/O, no clock, no threads, no session state: the caller
//! passes the negotiated parameters ([`SessionParams`]) of the session a message came on.
//! Families other than IPv4/IPv6 unicast (VPN, EVPN, FlowSpec, ...) are kept as opaque bytes.
//! Decompressing MRT files is the caller's business (`flate2`, `bzip2`).
//!
//! No input panics: arbitrary bytes produce `Ok` or an error, in bounded time and memory.
//!
//! # Example
//!
//! ```
//! use bgp_wire::{Message, SessionParams};
//!
//! // A KEEPALIVE: 16 marker bytes, length 19, type 4.
//! let mut bytes = vec![0xff; 16];
//! bytes.extend_from_slice(&[0, 19, 4]);
//!
//! let params = SessionParams::default();
//! assert_eq!(bgp_wire::frame(&bytes, &params), Ok(Some(19)));
//! let msg = Message::parse(&bytes, &params).unwrap();
//! assert_eq!(msg, Message::Keepalive);
//!
//! let mut out = Vec::new();
//! msg.emit(&mut out, &params);
//! assert_eq!(out, bytes);
//! ```
#![forbid(unsafe_code)]

mod attr;
mod attr_codec;
mod cursor;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod message;
pub mod mrt;
mod notification;
mod open;
mod pack;
mod prefix;
mod types;
mod update;

pub use attr::{
    Aggregator, AsPath, AsPathSegment, AttrFlags, AttrType, AttrValue, Community,
    ExtendedCommunity, LargeCommunity, MpNextHop, MpNlri, MpReach, MpUnreach, PathAttribute,
    RawAttribute, SegmentType,
};
pub use error::{AttrIssue, DecodeError, DecodeErrorKind, Treatment};
pub use message::{
    frame, Message, MessageType, RouteRefresh, RouteRefreshSubtype, HEADER_LEN,
    MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN,
};
pub use notification::{ErrorCode, Notification};
pub use open::{
    AddPathDirection, AddPathEntry, Capability, GracefulRestart, GracefulRestartFamily, LlgrFamily,
    Open, OptionalParameter, Role,
};
pub use pack::UpdatePacker;
pub use types::{AddPathFamilies, Afi, Family, Nlri, Origin, Safi, SessionParams};
pub use update::Update;
