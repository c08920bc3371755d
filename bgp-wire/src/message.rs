//! The BGP message header, framing, and the message enum.

use crate::cursor::Cursor;
use crate::error::{DecodeError, DecodeErrorKind};
use crate::notification::{ErrorCode, Notification};
use crate::open::Open;
use crate::types::{Afi, Family, Safi, SessionParams};
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
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct RouteRefresh {
    /// The family to refresh.
    pub family: Family,
    /// Subtype (the former reserved octet).
    pub subtype: RouteRefreshSubtype,
    /// Outbound Route Filter entries that may follow a plain request (RFC 5291: the
    /// when-to-refresh octet, then ORF type, length and entries), kept as sent. Empty
    /// unless the ORF capability was negotiated; always empty for BoRR and EoRR.
    pub orf_entries: Vec<u8>,
}

impl RouteRefresh {
    /// A request without ORF entries.
    pub fn new(family: Family, subtype: RouteRefreshSubtype) -> Self {
        Self {
            family,
            subtype,
            orf_entries: Vec::new(),
        }
    }
}

/// A BGP message.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
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
///
/// A ROUTE-REFRESH of the wrong length is reported only once it is whole, since the
/// NOTIFICATION carries the complete message (RFC 7313 section 5).
///
/// # Errors
///
/// Connection Not Synchronized (1/1), Bad Message Length (1/2), Bad Message Type (1/3),
/// ROUTE-REFRESH Invalid Message Length (7/1).
pub fn frame(buf: &[u8], params: &SessionParams) -> Result<Option<usize>, DecodeError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let (length, message_type) = check_header(header, params)?;
    let Some(message) = buf.get(..length) else {
        return Ok(None);
    };
    check_route_refresh_length(message, message_type)?;
    Ok(Some(length))
}

/// Checks the marker, the length against the session and the type, and the type.
/// Returns the length and type.
fn check_header(
    header: &[u8],
    params: &SessionParams,
) -> Result<(usize, MessageType), DecodeError> {
    let mut c = Cursor::new(header, 0);
    let marker = c.take_array::<16>().ok_or_else(|| bad_length(0))?;
    if marker != [0xff; 16] {
        return Err(DecodeError::new(
            DecodeErrorKind::ConnectionNotSynchronized,
            0,
            "marker",
        ));
    }
    let length = c.read_u16().ok_or_else(|| bad_length(0))?;
    let message_type = c.read_u8().ok_or_else(|| bad_length(length))?;
    let len = usize::from(length);
    if len < HEADER_LEN || len > params.max_message_len() {
        return Err(bad_length(length));
    }
    let fits = match MessageType(message_type) {
        // RFC 8654 section 4: OPEN and KEEPALIVE keep the 4096-byte limit.
        MessageType::OPEN => (HEADER_LEN + 10..=MAX_MESSAGE_LEN).contains(&len),
        MessageType::UPDATE => len >= HEADER_LEN + 4,
        MessageType::NOTIFICATION => len >= HEADER_LEN + 2,
        MessageType::KEEPALIVE => len == HEADER_LEN,
        // Checked on the whole message, see `check_route_refresh_length`.
        MessageType::ROUTE_REFRESH => true,
        _ => {
            return Err(DecodeError::new(
                DecodeErrorKind::BadMessageType { message_type },
                18,
                "message type",
            ))
        }
    };
    if !fits {
        return Err(bad_length(length));
    }
    Ok((len, MessageType(message_type)))
}

/// RFC 7313 section 5: a BoRR or EoRR must be exactly 4 octets after the header; a plain
/// request may be longer only by RFC 5291 ORF entries; nothing may be shorter.
fn check_route_refresh_length(
    message: &[u8],
    message_type: MessageType,
) -> Result<(), DecodeError> {
    const SUBTYPE_OFFSET: usize = HEADER_LEN + 2;
    let len = message.len();
    let demarcation = matches!(message.get(SUBTYPE_OFFSET), Some(1 | 2));
    let wrong = len < HEADER_LEN + 4 || (demarcation && len != HEADER_LEN + 4);
    if message_type == MessageType::ROUTE_REFRESH && wrong {
        return Err(DecodeError::new(
            DecodeErrorKind::InvalidRouteRefreshLength {
                message: message.to_vec(),
            },
            16,
            "ROUTE-REFRESH length",
        ));
    }
    Ok(())
}

/// Writes the number of bytes from `from` to the end of `out` (saturated to 65535) as
/// a 2-octet length at `at`.
pub(crate) fn patch_length(out: &mut [u8], at: usize, from: usize) {
    let len = out.len().saturating_sub(from);
    let bytes = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
    if let Some(field) = out.get_mut(at..at + 2) {
        field.copy_from_slice(&bytes);
    }
}

fn bad_length(length: u16) -> DecodeError {
    DecodeError::new(
        DecodeErrorKind::BadMessageLength { length },
        16,
        "message length",
    )
}

impl Message {
    /// Decodes one message: `bytes` holds exactly the message, header included, as
    /// [`frame`] delimited it.
    ///
    /// # Errors
    ///
    /// Every header error of [`frame`] (a length field that disagrees with `bytes.len()`
    /// is Bad Message Length), and the errors of [`Open::parse_body`] and
    /// [`Update::parse_body`]. Attribute problems RFC 7606 does not answer with a
    /// session reset are not errors: they are in [`Update::issues`].
    pub fn parse(bytes: &[u8], params: &SessionParams) -> Result<Self, DecodeError> {
        let header = bytes.get(..HEADER_LEN).ok_or_else(|| bad_length(0))?;
        let (length, message_type) = check_header(header, params)?;
        if length != bytes.len() {
            return Err(bad_length(u16::try_from(length).unwrap_or(u16::MAX)));
        }
        check_route_refresh_length(bytes, message_type)?;
        let body = &bytes[HEADER_LEN..];
        let message = match message_type {
            MessageType::OPEN => Self::Open(Open::parse_body(body)?),
            MessageType::UPDATE => Self::Update(Update::parse_body(body, params)?),
            MessageType::NOTIFICATION => {
                let mut c = Cursor::new(body, HEADER_LEN);
                let (Some(code), Some(subcode)) = (c.read_u8(), c.read_u8()) else {
                    return Err(bad_length(u16::try_from(length).unwrap_or(u16::MAX)));
                };
                Self::Notification(Notification {
                    code: ErrorCode(code),
                    subcode,
                    data: c.take_rest().to_vec(),
                })
            }
            MessageType::KEEPALIVE => Self::Keepalive,
            MessageType::ROUTE_REFRESH => {
                let mut c = Cursor::new(body, HEADER_LEN);
                let afi = c.read_u16().ok_or_else(|| bad_length(23))?;
                let subtype = c.read_u8().ok_or_else(|| bad_length(23))?;
                let safi = c.read_u8().ok_or_else(|| bad_length(23))?;
                let subtype = match subtype {
                    0 => RouteRefreshSubtype::Normal,
                    1 => RouteRefreshSubtype::BeginningOfRefresh,
                    2 => RouteRefreshSubtype::EndOfRefresh,
                    other => RouteRefreshSubtype::Reserved(other),
                };
                Self::RouteRefresh(RouteRefresh {
                    family: Family::new(Afi(afi), Safi(safi)),
                    subtype,
                    orf_entries: c.take_rest().to_vec(),
                })
            }
            _ => unreachable!("check_header accepts only the five types"),
        };
        Ok(message)
    }

    fn body_len(&self, params: &SessionParams) -> usize {
        match self {
            Self::Open(open) => open.encoded_body_len(),
            Self::Update(update) => update.encoded_body_len(params),
            Self::Notification(n) => 2 + n.data.len(),
            Self::Keepalive => 0,
            Self::RouteRefresh(rr) => 4 + rr.orf_entries.len(),
        }
    }

    /// The exact number of bytes [`Message::emit`] writes.
    pub fn encoded_len(&self, params: &SessionParams) -> usize {
        HEADER_LEN + self.body_len(params)
    }

    /// Appends the encoding, header included, to `out`. Never fails, checks nothing:
    /// call it only on a message that passes [`Message::validate`] with the same
    /// `params` (or use [`Message::try_emit`], which checks first). A message decoded
    /// with `params` always passes.
    ///
    /// On a value that does not validate, what is written is well framed but is not
    /// that value: length fields saturate at 65535 (so a message over the session's
    /// [`SessionParams::max_message_len`] is written all the same, and an attribute
    /// value over 65535 bytes is cut), AS_PATH segments of more than 255 AS numbers go
    /// out as several segments, capability values and next hops are cut to 255 bytes,
    /// AS numbers above 65535 become AS_TRANS on a 2-octet session, fields narrower on
    /// the wire than in memory keep their low bits, and values the receiver refuses
    /// (hold time 1 or 2, AS 0, empty segments, ...) are sent as they are. Split routes
    /// with [`crate::UpdatePacker`] to stay within the size limit.
    pub fn emit(&self, out: &mut Vec<u8>, params: &SessionParams) {
        let start = out.len();
        out.extend_from_slice(&[0xff; 16]);
        // The length is filled in once the body is written.
        out.extend_from_slice(&[0, 0]);
        out.push(self.message_type().0);
        match self {
            Self::Open(open) => open.emit_body(out),
            Self::Update(update) => update.emit_body(out, params),
            Self::Notification(n) => {
                out.push(n.code.0);
                out.push(n.subcode);
                out.extend_from_slice(&n.data);
            }
            Self::Keepalive => {}
            Self::RouteRefresh(rr) => {
                out.extend_from_slice(&rr.family.afi.0.to_be_bytes());
                out.push(match rr.subtype {
                    RouteRefreshSubtype::Normal => 0,
                    RouteRefreshSubtype::BeginningOfRefresh => 1,
                    RouteRefreshSubtype::EndOfRefresh => 2,
                    RouteRefreshSubtype::Reserved(v) => v,
                });
                out.push(rr.family.safi.0);
                out.extend_from_slice(&rr.orf_entries);
            }
        }
        patch_length(out, start + 16, start);
    }

    /// The encoding as a new vector; see [`Message::emit`] for what is written when the
    /// message does not validate, and [`Message::try_to_bytes`] for the checked form.
    pub fn to_bytes(&self, params: &SessionParams) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len(params));
        self.emit(&mut out, params);
        out
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
