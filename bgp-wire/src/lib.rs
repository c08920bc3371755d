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
//!
//! Reading a stream, answering errors, and using an UPDATE's routes:
//!
//! ```
//! use bgp_wire::{frame, Message, SessionParams, Treatment};
//!
//! fn on_bytes(buf: &mut Vec<u8>, params: &SessionParams) -> Result<(), Vec<u8>> {
//!     loop {
//!         let len = match frame(buf, params) {
//!             Ok(Some(len)) => len,
//!             Ok(None) => return Ok(()), // wait for more bytes
//!             Err(e) => return Err(Message::Notification(e.notification()).to_bytes(params)),
//!         };
//!         let bytes: Vec<u8> = buf.drain(..len).collect();
//!         match Message::parse(&bytes, params) {
//!             Ok(Message::Update(update)) => {
//!                 for (family, nlri) in update.routes_to_withdraw() {
//!                     println!("withdraw {family:?} {}", nlri.prefix);
//!                 }
//!                 for (family, nlri) in update.routes_to_announce() {
//!                     println!("announce {family:?} {} via {:?}", nlri.prefix, update.next_hop());
//!                 }
//!                 if update.treatment() == Some(Treatment::TreatAsWithdraw) {
//!                     println!("malformed attributes: {:?}", update.issues);
//!                 }
//!             }
//!             Ok(_) => {}
//!             Err(e) => return Err(Message::Notification(e.notification()).to_bytes(params)),
//!         }
//!     }
//! }
//! # let mut buf = vec![0xff; 16];
//! # buf.extend_from_slice(&[0, 23, 2, 0, 0, 0, 0]); // an IPv4 End-of-RIB
//! # assert_eq!(on_bytes(&mut buf, &SessionParams::modern()), Ok(()));
//! # assert!(buf.is_empty());
//! ```
//!
//! # How it is organised
//!
//! - **Framing**: [`frame`] tells a complete message from a partial one and rejects a
//!   bad header before the body has arrived.
//! - **Owned messages**: [`Message`] and the types inside it ([`Open`], [`Update`],
//!   [`Notification`], [`RouteRefresh`]) each have `parse`, `encoded_len` and `emit`.
//!   `encoded_len` is exact and `emit` cannot fail, but it writes faithfully only a
//!   value that passes [`Message::validate`] (an AS_PATH segment of 300 AS numbers, an
//!   UPDATE over the session's size, a hold time of 2 are refused there, each with an
//!   [`EncodeError`] naming the field); [`Message::try_to_bytes`] checks, then encodes.
//!   Checked constructors refuse such values when built: [`AsPathSegment::new`],
//!   [`Open::try_new`], [`Notification::try_new`], [`Notification::try_shutdown`]; the
//!   [`UpdatePacker`] only produces UPDATEs that validate. Values decoded here validate and
//!   re-encode byte for byte: attribute flags are kept as received (partial and
//!   extended-length bits included), unknown attributes and capabilities keep their raw
//!   bytes, and families this crate does not interpret travel as opaque bytes.
//! - **Views**: [`UpdateView`] validates an UPDATE's framing once and then reads its
//!   prefixes and raw attributes in place, allocating nothing, for code that does not
//!   need the attributes decoded.
//! - **Errors**: [`DecodeError`] carries a kind, the byte offset from the first marker
//!   byte, and a context string; [`DecodeError::notification`] is the one place that
//!   maps an error to the NOTIFICATION the RFCs prescribe (the session sends it).
//! - **RFC 7606**: attribute errors that do not call for a session reset do not fail
//!   decoding. They are recorded in [`Update::issues`] with a [`Treatment`]; the
//!   offending attribute is left out; [`Update::routes_to_withdraw`] and
//!   [`Update::routes_to_announce`] apply the treatment for the caller.
//! - **Building**: [`Update::ipv4_announcement`], [`Update::mp_announcement`],
//!   [`Update::ipv4_withdrawal`], [`Update::mp_withdrawal`], [`Open::new`],
//!   [`Notification::shutdown`]; and [`UpdatePacker`] for route sets too large for one
//!   message.
//! - **MRT**: the [`mrt`] module reads and writes RFC 6396 records around these messages.
//!
//! # Why it is built this way
//!
//! Negotiated state (4-octet AS numbers, ADD-PATH, extended messages) changes how the
//! same bytes decode, so it is an explicit argument rather than something the codec
//! guesses or remembers: the codec stays a pure function of its inputs, which is what
//! makes it fuzzable and lets one decoder serve live sessions and MRT archives alike.
//! Decoding is a single pass over a bounds-checked cursor; every length read from the
//! wire is checked before use and every capacity reserved from one is bounded by the
//! bytes actually present, so hostile input costs at most time linear in its size.
#![forbid(unsafe_code)]

mod attr;
mod attr_codec;
mod cursor;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;

/// The README's example, compiled and run as a doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctest;
mod message;
pub mod mrt;
mod notification;
mod open;
mod pack;
mod prefix;
mod types;
mod update;
mod validate;
mod view;

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
pub use pack::{PackError, Packed, UpdatePacker};
pub use types::{AddPathFamilies, Afi, Family, Nlri, Origin, Safi, SessionParams};
pub use update::Update;
pub use validate::EncodeError;
pub use view::{RawAttributeView, UpdateView};
