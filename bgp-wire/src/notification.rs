//! NOTIFICATION messages (RFC 4271 section 4.5), with RFC 9003 shutdown communication.

/// NOTIFICATION error codes (IANA "BGP Error (Notification) Codes"), an open code point.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ErrorCode(pub u8);

impl ErrorCode {
    /// Message Header Error.
    pub const MESSAGE_HEADER: Self = Self(1);
    /// OPEN Message Error.
    pub const OPEN_MESSAGE: Self = Self(2);
    /// UPDATE Message Error.
    pub const UPDATE_MESSAGE: Self = Self(3);
    /// Hold Timer Expired.
    pub const HOLD_TIMER_EXPIRED: Self = Self(4);
    /// Finite State Machine Error (RFC 6608 subcodes).
    pub const FSM: Self = Self(5);
    /// Cease (RFC 4486 subcodes).
    pub const CEASE: Self = Self(6);
    /// ROUTE-REFRESH Message Error (RFC 7313).
    pub const ROUTE_REFRESH: Self = Self(7);
    /// Send Hold Timer Expired (RFC 9687).
    pub const SEND_HOLD_TIMER_EXPIRED: Self = Self(8);
}

/// A NOTIFICATION message.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Error code    | Error subcode |   Data (variable)             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Notification {
    /// Error code.
    pub code: ErrorCode,
    /// Error subcode (meaning depends on the code).
    pub subcode: u8,
    /// Data, as the code and subcode define it.
    pub data: Vec<u8>,
}

impl Notification {
    /// Cease subcode: Maximum Number of Prefixes Reached (RFC 4486).
    pub const CEASE_MAX_PREFIXES: u8 = 1;
    /// Cease subcode: Administrative Shutdown (RFC 4486, RFC 9003 communication).
    pub const CEASE_ADMIN_SHUTDOWN: u8 = 2;
    /// Cease subcode: Peer De-configured.
    pub const CEASE_PEER_DECONFIGURED: u8 = 3;
    /// Cease subcode: Administrative Reset (RFC 9003 communication).
    pub const CEASE_ADMIN_RESET: u8 = 4;
    /// Cease subcode: Connection Rejected.
    pub const CEASE_CONNECTION_REJECTED: u8 = 5;
    /// Cease subcode: Other Configuration Change.
    pub const CEASE_OTHER_CONFIG_CHANGE: u8 = 6;
    /// Cease subcode: Connection Collision Resolution.
    pub const CEASE_COLLISION: u8 = 7;
    /// Cease subcode: Out of Resources.
    pub const CEASE_OUT_OF_RESOURCES: u8 = 8;
    /// Cease subcode: Hard Reset (RFC 8538).
    pub const CEASE_HARD_RESET: u8 = 9;
    /// Cease subcode: BFD Down (RFC 9384).
    pub const CEASE_BFD_DOWN: u8 = 10;

    /// A NOTIFICATION with no data.
    pub fn new(code: ErrorCode, subcode: u8) -> Self {
        Self {
            code,
            subcode,
            data: Vec::new(),
        }
    }

    /// Cease / Administrative Shutdown (or Reset, with `reset`) carrying an RFC 9003
    /// shutdown communication. Text longer than 255 bytes is cut at a character boundary.
    pub fn shutdown(text: &str, reset: bool) -> Self {
        let mut end = text.len().min(255);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let text = &text.as_bytes()[..end];
        let mut data = Vec::with_capacity(1 + text.len());
        data.push(u8::try_from(text.len()).expect("cut to 255 bytes above"));
        data.extend_from_slice(text);
        let subcode = if reset {
            Self::CEASE_ADMIN_RESET
        } else {
            Self::CEASE_ADMIN_SHUTDOWN
        };
        Self {
            code: ErrorCode::CEASE,
            subcode,
            data,
        }
    }

    /// The RFC 9003 shutdown communication of a Cease 2 or 4, when present and valid UTF-8.
    ///
    /// A zero length, a length running past the data, or invalid UTF-8 give `None`
    /// (RFC 9003 section 2 asks receivers not to act on a malformed communication).
    pub fn shutdown_communication(&self) -> Option<&str> {
        if self.code != ErrorCode::CEASE
            || !matches!(
                self.subcode,
                Self::CEASE_ADMIN_SHUTDOWN | Self::CEASE_ADMIN_RESET
            )
        {
            return None;
        }
        let (&len, rest) = self.data.split_first()?;
        if len == 0 {
            return None;
        }
        let text = rest.get(..usize::from(len))?;
        std::str::from_utf8(text).ok()
    }
}

impl ErrorCode {
    /// The IANA name of the code, when it is one this crate knows.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "Message Header Error",
            2 => "OPEN Message Error",
            3 => "UPDATE Message Error",
            4 => "Hold Timer Expired",
            5 => "Finite State Machine Error",
            6 => "Cease",
            7 => "ROUTE-REFRESH Message Error",
            8 => "Send Hold Timer Expired",
            _ => return None,
        })
    }
}

impl Notification {
    /// The IANA name of the subcode under this code, when known.
    pub fn subcode_name(&self) -> Option<&'static str> {
        Some(match (self.code.0, self.subcode) {
            (1, 1) => "Connection Not Synchronized",
            (1, 2) => "Bad Message Length",
            (1, 3) => "Bad Message Type",
            (2, 0) | (3, 0) | (5, 0) => "Unspecific",
            (2, 1) => "Unsupported Version Number",
            (2, 2) => "Bad Peer AS",
            (2, 3) => "Bad BGP Identifier",
            (2, 4) => "Unsupported Optional Parameter",
            (2, 6) => "Unacceptable Hold Time",
            (2, 7) => "Unsupported Capability",
            (2, 11) => "Role Mismatch",
            (3, 1) => "Malformed Attribute List",
            (3, 2) => "Unrecognized Well-known Attribute",
            (3, 3) => "Missing Well-known Attribute",
            (3, 4) => "Attribute Flags Error",
            (3, 5) => "Attribute Length Error",
            (3, 6) => "Invalid ORIGIN Attribute",
            (3, 8) => "Invalid NEXT_HOP Attribute",
            (3, 9) => "Optional Attribute Error",
            (3, 10) => "Invalid Network Field",
            (3, 11) => "Malformed AS_PATH",
            (5, 1) => "Receive Unexpected Message in OpenSent State",
            (5, 2) => "Receive Unexpected Message in OpenConfirm State",
            (5, 3) => "Receive Unexpected Message in Established State",
            (6, 1) => "Maximum Number of Prefixes Reached",
            (6, 2) => "Administrative Shutdown",
            (6, 3) => "Peer De-configured",
            (6, 4) => "Administrative Reset",
            (6, 5) => "Connection Rejected",
            (6, 6) => "Other Configuration Change",
            (6, 7) => "Connection Collision Resolution",
            (6, 8) => "Out of Resources",
            (6, 9) => "Hard Reset",
            (6, 10) => "BFD Down",
            (7, 1) => "Invalid Message Length",
            _ => return None,
        })
    }
}

/// For logs: `Cease / Administrative Shutdown (6/2): "maintenance"`, or the data in hex.
impl std::fmt::Display for Notification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code.name() {
            Some(name) => f.write_str(name)?,
            None => write!(f, "Error code {}", self.code.0)?,
        }
        if let Some(sub) = self.subcode_name() {
            write!(f, " / {sub}")?;
        }
        write!(f, " ({}/{})", self.code.0, self.subcode)?;
        if let Some(text) = self.shutdown_communication() {
            write!(f, ": {text:?}")?;
        } else if !self.data.is_empty() {
            f.write_str(", data ")?;
            for b in &self.data {
                write!(f, "{b:02x}")?;
            }
        }
        Ok(())
    }
}
