//! Borrowed views: read an UPDATE in place, without building owned values.
//!
//! [`UpdateView::new_checked`] validates the framing once (header, the two length
//! fields, every prefix of the withdrawn routes and NLRI fields, the attribute headers);
//! after that its accessors cannot fail and allocate nothing. Attribute values stay raw
//! bytes: decode them with [`UpdateView::to_update`] when their meaning is needed. A
//! relay that only looks at prefixes, or forwards attributes as they came, never pays
//! for decoding them.

use crate::attr::{AttrFlags, AttrType};
use crate::cursor::Cursor;
use crate::error::{DecodeError, DecodeErrorKind};
use crate::message::{Message, MessageType, HEADER_LEN};
use crate::prefix;
use crate::types::{Afi, Family, Nlri, SessionParams};
use crate::update::Update;

/// A validated UPDATE, read in place.
///
/// ```
/// use bgp_wire::{Message, Nlri, SessionParams, Update, UpdateView};
///
/// let params = SessionParams::modern();
/// let update = Update::ipv4_withdrawal([Nlri::new("10.0.0.0/8".parse().unwrap())]);
/// let bytes = Message::Update(update).to_bytes(&params);
///
/// let view = UpdateView::new_checked(&bytes, &params).unwrap();
/// assert_eq!(view.withdrawn().map(|n| n.prefix.to_string()).collect::<Vec<_>>(), ["10.0.0.0/8"]);
/// assert_eq!(view.nlri().count(), 0);
/// assert_eq!(view.attributes().count(), 0);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct UpdateView<'a> {
    message: &'a [u8],
    withdrawn: &'a [u8],
    attributes: &'a [u8],
    nlri: &'a [u8],
    add_path: bool,
}

/// One path attribute as it sits in the message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RawAttributeView<'a> {
    /// Flags octet as received.
    pub flags: AttrFlags,
    /// Type code.
    pub type_code: AttrType,
    /// Value bytes.
    pub value: &'a [u8],
}

impl<'a> UpdateView<'a> {
    /// Validates `message` (a whole UPDATE, header included) for reading in place.
    ///
    /// # Errors
    ///
    /// The header errors of [`crate::frame`]; a message of another type is Bad Message
    /// Type; length fields overrunning the message are Malformed Attribute List (3/1); a
    /// malformed prefix is Invalid Network Field (3/10); attribute headers running past
    /// the attribute field are Malformed Attribute List (stricter than RFC 7606 section 4,
    /// which [`Message::parse`] follows).
    pub fn new_checked(message: &'a [u8], params: &SessionParams) -> Result<Self, DecodeError> {
        let Some(len) = crate::message::frame(message, params)? else {
            return Err(DecodeError::new(
                DecodeErrorKind::BadMessageLength {
                    length: u16::try_from(message.len()).unwrap_or(u16::MAX),
                },
                16,
                "message length",
            ));
        };
        if len != message.len() {
            return Err(DecodeError::new(
                DecodeErrorKind::BadMessageLength {
                    length: u16::try_from(len).unwrap_or(u16::MAX),
                },
                16,
                "message length",
            ));
        }
        if message.get(18) != Some(&MessageType::UPDATE.0) {
            return Err(DecodeError::new(
                DecodeErrorKind::BadMessageType {
                    message_type: message.get(18).copied().unwrap_or(0),
                },
                18,
                "not an UPDATE",
            ));
        }
        let malformed = |offset, context| {
            DecodeError::new(DecodeErrorKind::MalformedAttributeList, offset, context)
        };
        let mut c = Cursor::new(message.get(HEADER_LEN..).unwrap_or(&[]), HEADER_LEN);
        let at = c.offset();
        let withdrawn_len = c
            .read_u16()
            .ok_or_else(|| malformed(at, "withdrawn routes length"))?;
        let mut withdrawn = c
            .sub(usize::from(withdrawn_len))
            .ok_or_else(|| malformed(at, "withdrawn routes length overruns the message"))?;
        let at = c.offset();
        let attr_len = c
            .read_u16()
            .ok_or_else(|| malformed(at, "total path attribute length"))?;
        let mut attributes = c
            .sub(usize::from(attr_len))
            .ok_or_else(|| malformed(at, "total path attribute length overruns the message"))?;
        let mut nlri = c;
        let view = Self {
            message,
            withdrawn: withdrawn.rest(),
            attributes: attributes.rest(),
            nlri: nlri.rest(),
            add_path: params.add_path.contains(Family::IPV4_UNICAST),
        };
        let invalid =
            |offset| DecodeError::new(DecodeErrorKind::InvalidNetworkField, offset, "prefix");
        let mut scratch = Vec::new();
        for field in [&mut withdrawn, &mut nlri] {
            prefix::decode_prefixes(field, Afi::IPV4, view.add_path, &mut scratch)
                .map_err(invalid)?;
            scratch.clear();
        }
        while !attributes.is_empty() {
            let start = attributes.offset();
            read_attribute(&mut attributes).ok_or_else(|| {
                malformed(
                    start,
                    "path attribute overruns the total path attribute length",
                )
            })?;
        }
        Ok(view)
    }

    /// The whole message.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.message
    }

    /// The IPv4 unicast routes of the Withdrawn Routes field.
    pub fn withdrawn(&self) -> impl Iterator<Item = Nlri> + 'a {
        prefixes(self.withdrawn, self.add_path)
    }

    /// The IPv4 unicast routes of the NLRI field.
    pub fn nlri(&self) -> impl Iterator<Item = Nlri> + 'a {
        prefixes(self.nlri, self.add_path)
    }

    /// The path attributes in wire order, values undecoded.
    pub fn attributes(&self) -> impl Iterator<Item = RawAttributeView<'a>> + 'a {
        let mut c = Cursor::new(self.attributes, 0);
        std::iter::from_fn(move || read_attribute(&mut c))
    }

    /// The raw path attribute field.
    pub fn attribute_bytes(&self) -> &'a [u8] {
        self.attributes
    }

    /// The first attribute of type `code`.
    pub fn attribute(&self, code: AttrType) -> Option<RawAttributeView<'a>> {
        self.attributes().find(|a| a.type_code == code)
    }

    /// Decodes the whole message into owned values (with RFC 7606 classification).
    ///
    /// # Errors
    ///
    /// Those of [`Message::parse`].
    pub fn to_update(&self, params: &SessionParams) -> Result<Update, DecodeError> {
        match Message::parse(self.message, params)? {
            Message::Update(update) => Ok(update),
            _ => unreachable!("new_checked accepted only UPDATEs"),
        }
    }
}

fn read_attribute<'a>(c: &mut Cursor<'a>) -> Option<RawAttributeView<'a>> {
    let mut probe = c.clone();
    let flags = AttrFlags(probe.read_u8()?);
    let type_code = AttrType(probe.read_u8()?);
    let len = if flags.is_extended_length() {
        usize::from(probe.read_u16()?)
    } else {
        usize::from(probe.read_u8()?)
    };
    let value = probe.take(len)?;
    *c = probe;
    Some(RawAttributeView {
        flags,
        type_code,
        value,
    })
}

/// Prefixes of a field `new_checked` validated: decoding cannot fail (and would stop).
fn prefixes(field: &[u8], add_path: bool) -> impl Iterator<Item = Nlri> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let (nlri, next) = prefix::read_one(field, at, Afi::IPV4, add_path)?;
        at = next;
        Some(nlri)
    })
}
