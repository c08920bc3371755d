//! The BGP message header, framing, and the message enum.

use crate::error::DecodeError;
use crate::notification::Notification;
use crate::open::Open;
use crate::types::{Family, SessionParams};
use crate::update::Update;

/// Length of the fixed header: marker (16), length (2), type (1).
pub const HEADER_LEN: usize = 19;
/// Largest message of RFC 4271.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Largest message with the extended message capability (RFC 8654).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;

/// Message type code, an open code point.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct MessageType(pub u8);

impl MessageType {
    /// OPEN.
    pub const OPEN: Self = Self(1);
    /// UPDATE.
    pub const UPDATE: Self = Self(2);
    /// NOTIFICATION.
    pub const NOTIFICATION: Self = Self(3);
    /// KEEPALIVE.
    pub const KEEPALIVE: Self = Self(4);
    /// ROUTE-REFRESH.
    pub const ROUTE_REFRESH: Self = Self(5);
}

/// ROUTE-REFRESH message subtype (RFC 7313; 0 in RFC 2918).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum RouteRefreshSubtype {
    /// 0: a plain route refresh request.
    Normal,
    /// 1: Beginning of Route Refresh.
    BeginningOfRefresh,
    /// 2: End of Route Refresh.
    EndOfRefresh,
    /// 3..=254: reserved, ignored by receivers. 255 is reserved too.
    Reserved(u8),
}

/// ROUTE-REFRESH message (RFC 2918, RFC 7313).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct RouteRefresh {
    /// The family to refresh.
    pub family: Family,
    /// Subtype (the former reserved octet).
    pub subtype: RouteRefreshSubtype,
}

/// A BGP message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Message {
    /// OPEN (type 1).
    Open(Open),
    /// UPDATE (type 2).
    Update(Update),
    /// NOTIFICATION (type 3).
    Notification(Notification),
    /// KEEPALIVE (type 4).
    Keepalive,
    /// ROUTE-REFRESH (type 5).
    RouteRefresh(RouteRefresh),
}

/// Finds the first message in `buf`: `Ok(Some(len))` when a whole message of `len` bytes
/// is there, `Ok(None)` when more bytes are needed, `Err` when the header is malformed
/// (bad marker, length below 19 or above what the type and `params` allow, unknown type).
pub fn frame(buf: &[u8], params: &SessionParams) -> Result<Option<usize>, DecodeError> {
    todo!("{} {params:?}", buf.len())
}

impl Message {
    /// Decodes one message: `bytes` holds exactly the message, header included, as
    /// [`frame`] delimited it.
    pub fn parse(bytes: &[u8], params: &SessionParams) -> Result<Self, DecodeError> {
        todo!("{} {params:?}", bytes.len())
    }

    /// The exact number of bytes [`Message::emit`] writes.
    pub fn encoded_len(&self, params: &SessionParams) -> usize {
        todo!("{params:?}")
    }

    /// Appends the encoding, header included, to `out`.
    pub fn emit(&self, out: &mut Vec<u8>, params: &SessionParams) {
        todo!("{} {params:?}", out.len())
    }

    /// The message type code.
    pub fn message_type(&self) -> MessageType {
        match self {
            Self::Open(_) => MessageType::OPEN,
            Self::Update(_) => MessageType::UPDATE,
            Self::Notification(_) => MessageType::NOTIFICATION,
            Self::Keepalive => MessageType::KEEPALIVE,
            Self::RouteRefresh(_) => MessageType::ROUTE_REFRESH,
        }
    }
}
