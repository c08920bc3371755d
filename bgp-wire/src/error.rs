//! Decode errors, the NOTIFICATION each one calls for, and RFC 7606 treatments.

use crate::notification::{ErrorCode, Notification};

/// Why a message could not be decoded. Every kind maps to exactly one NOTIFICATION
/// (code, subcode, data) through [`DecodeError::notification`].
///
/// Kinds that carry `attribute` hold the offending attribute as the RFC asks for the
/// NOTIFICATION's data field: type, length and value as received (flags included).
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    // --- Message Header Error (code 1), RFC 4271 section 6.1 ---
    /// Marker not all ones: Connection Not Synchronized (1/1).
    ConnectionNotSynchronized,
    /// Length field out of range for the type or the session: Bad Message Length (1/2),
    /// data is the erroneous length.
    BadMessageLength {
        /// The length field as received.
        length: u16,
    },
    /// Unknown message type: Bad Message Type (1/3), data is the type.
    BadMessageType {
        /// The type octet as received.
        message_type: u8,
    },

    // --- OPEN Message Error (code 2), RFC 4271 section 6.2, RFC 5492, RFC 9234 ---
    /// Version other than 4: Unsupported Version Number (2/1), data is the largest
    /// supported version (2 octets).
    UnsupportedVersionNumber {
        /// The version as received.
        version: u8,
    },
    /// Peer AS unacceptable (2/2). Raised by the session, not the codec, which cannot know
    /// the configured AS.
    BadPeerAs,
    /// BGP Identifier not a valid unicast host address (2/3).
    BadBgpIdentifier,
    /// Optional parameter type not recognised (2/4).
    UnsupportedOptionalParameter {
        /// The parameter type as received.
        parameter_type: u8,
    },
    /// Hold time of 1 or 2 seconds (2/6).
    UnacceptableHoldTime {
        /// The hold time as received.
        hold_time: u16,
    },
    /// A capability the local side requires is missing or unsupported (2/7, RFC 5492);
    /// data lists the capabilities. Raised by the session.
    UnsupportedCapability {
        /// The capabilities (code, length, value) to list in the data field.
        capabilities: Vec<u8>,
    },
    /// BGP roles do not match (2/11, RFC 9234). Raised by the session.
    RoleMismatch,
    /// A recognised optional parameter or capability is malformed: OPEN Message Error with
    /// subcode 0, Unspecific (RFC 4271 section 6.2, RFC 5492 section 3).
    MalformedOpen,

    // --- UPDATE Message Error (code 3), RFC 4271 section 6.3 ---
    /// Withdrawn routes or total path attribute length inconsistent, or an attribute
    /// appears twice where RFC 7606 says so (3/1).
    MalformedAttributeList,
    /// A well-known attribute is not recognised (3/2).
    UnrecognizedWellKnownAttribute {
        /// The attribute as received.
        attribute: Vec<u8>,
    },
    /// A mandatory well-known attribute is missing (3/3), data is its type code.
    MissingWellKnownAttribute {
        /// The missing attribute's type code.
        type_code: u8,
    },
    /// Flags conflict with the attribute's type (3/4).
    AttributeFlagsError {
        /// The attribute as received.
        attribute: Vec<u8>,
    },
    /// Length wrong for the attribute's type (3/5).
    AttributeLengthError {
        /// The attribute as received.
        attribute: Vec<u8>,
    },
    /// ORIGIN value undefined (3/6).
    InvalidOriginAttribute {
        /// The attribute as received.
        attribute: Vec<u8>,
    },
    /// NEXT_HOP syntactically or semantically invalid (3/8).
    InvalidNextHopAttribute {
        /// The attribute as received.
        attribute: Vec<u8>,
    },
    /// An optional attribute's value is invalid (3/9).
    OptionalAttributeError {
        /// The attribute as received.
        attribute: Vec<u8>,
    },
    /// NLRI syntactically incorrect (3/10).
    InvalidNetworkField,
    /// AS_PATH syntactically incorrect (3/11).
    MalformedAsPath,

    // --- ROUTE-REFRESH Message Error (code 7), RFC 7313 ---
    /// ROUTE-REFRESH of the wrong length (7/1), data is the whole message.
    InvalidRouteRefreshLength {
        /// The message as received.
        message: Vec<u8>,
    },
}

/// A decode failure: what went wrong, where, and which NOTIFICATION answers it.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{kind:?} at byte {offset}: {context}")]
pub struct DecodeError {
    /// What went wrong.
    pub kind: DecodeErrorKind,
    /// Byte offset into the message (from its first marker byte) where the problem lies.
    pub offset: usize,
    /// What was being read, for humans.
    pub context: &'static str,
}

impl DecodeError {
    /// Builds an error.
    pub fn new(kind: DecodeErrorKind, offset: usize, context: &'static str) -> Self {
        Self {
            kind,
            offset,
            context,
        }
    }

    /// The NOTIFICATION the RFCs prescribe for this error.
    pub fn notification(&self) -> Notification {
        use DecodeErrorKind as K;
        let (code, subcode, data): (ErrorCode, u8, Vec<u8>) = match &self.kind {
            K::ConnectionNotSynchronized => (ErrorCode::MESSAGE_HEADER, 1, Vec::new()),
            K::BadMessageLength { length } => {
                (ErrorCode::MESSAGE_HEADER, 2, length.to_be_bytes().to_vec())
            }
            K::BadMessageType { message_type } => {
                (ErrorCode::MESSAGE_HEADER, 3, vec![*message_type])
            }
            // The data is the largest version we support, as a 2-octet value.
            K::UnsupportedVersionNumber { .. } => (ErrorCode::OPEN_MESSAGE, 1, vec![0, 4]),
            K::BadPeerAs => (ErrorCode::OPEN_MESSAGE, 2, Vec::new()),
            K::BadBgpIdentifier => (ErrorCode::OPEN_MESSAGE, 3, Vec::new()),
            K::UnsupportedOptionalParameter { .. } => (ErrorCode::OPEN_MESSAGE, 4, Vec::new()),
            K::UnacceptableHoldTime { .. } => (ErrorCode::OPEN_MESSAGE, 6, Vec::new()),
            K::UnsupportedCapability { capabilities } => {
                (ErrorCode::OPEN_MESSAGE, 7, capabilities.clone())
            }
            K::RoleMismatch => (ErrorCode::OPEN_MESSAGE, 11, Vec::new()),
            K::MalformedOpen => (ErrorCode::OPEN_MESSAGE, 0, Vec::new()),
            K::MalformedAttributeList => (ErrorCode::UPDATE_MESSAGE, 1, Vec::new()),
            K::UnrecognizedWellKnownAttribute { attribute } => {
                (ErrorCode::UPDATE_MESSAGE, 2, attribute.clone())
            }
            K::MissingWellKnownAttribute { type_code } => {
                (ErrorCode::UPDATE_MESSAGE, 3, vec![*type_code])
            }
            K::AttributeFlagsError { attribute } => {
                (ErrorCode::UPDATE_MESSAGE, 4, attribute.clone())
            }
            K::AttributeLengthError { attribute } => {
                (ErrorCode::UPDATE_MESSAGE, 5, attribute.clone())
            }
            K::InvalidOriginAttribute { attribute } => {
                (ErrorCode::UPDATE_MESSAGE, 6, attribute.clone())
            }
            K::InvalidNextHopAttribute { attribute } => {
                (ErrorCode::UPDATE_MESSAGE, 8, attribute.clone())
            }
            K::OptionalAttributeError { attribute } => {
                (ErrorCode::UPDATE_MESSAGE, 9, attribute.clone())
            }
            K::InvalidNetworkField => (ErrorCode::UPDATE_MESSAGE, 10, Vec::new()),
            K::MalformedAsPath => (ErrorCode::UPDATE_MESSAGE, 11, Vec::new()),
            K::InvalidRouteRefreshLength { message } => {
                (ErrorCode::ROUTE_REFRESH, 1, message.clone())
            }
        };
        Notification {
            code,
            subcode,
            data,
        }
    }
}

/// RFC 7606 treatment of an UPDATE error, ordered by severity: a message with several
/// problems takes the most severe (`max`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Treatment {
    /// Drop the offending attribute, keep the route (RFC 7606 section 2).
    AttributeDiscard,
    /// Treat every NLRI in the UPDATE as withdrawn (RFC 7606 section 2).
    TreatAsWithdraw,
    /// Disable the AFI/SAFI of the MP_REACH/MP_UNREACH that was malformed (RFC 4760 section 7).
    AfiSafiDisable,
    /// Reset the session with the NOTIFICATION of the error (RFC 4271 section 6.3).
    SessionReset,
}

/// One problem found in an UPDATE's path attributes, with the treatment RFC 7606
/// prescribes and the error that would be sent were the treatment a session reset.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AttrIssue {
    /// Attribute type code concerned.
    pub type_code: u8,
    /// What to do about it.
    pub treatment: Treatment,
    /// The underlying error (its NOTIFICATION is sent only for [`Treatment::SessionReset`]).
    pub error: DecodeError,
}
