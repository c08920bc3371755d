//! UPDATE messages (RFC 4271 section 4.3) and the RFC 7606 view of their errors.

use crate::attr::PathAttribute;
use crate::error::{AttrIssue, Treatment};
use crate::types::Nlri;

/// An UPDATE message.
///
/// ```text
/// +-----------------------------------------------------+
/// |   Withdrawn Routes Length (2 octets)                |
/// +-----------------------------------------------------+
/// |   Withdrawn Routes (variable)                       |
/// +-----------------------------------------------------+
/// |   Total Path Attribute Length (2 octets)            |
/// +-----------------------------------------------------+
/// |   Path Attributes (variable)                        |
/// +-----------------------------------------------------+
/// |   Network Layer Reachability Information (variable) |
/// +-----------------------------------------------------+
/// ```
///
/// An UPDATE with attribute errors that RFC 7606 does not answer with a session reset
/// still decodes: the problems are in `issues`, the offending attributes are left out of
/// `attributes`, and [`Update::treatment`] says what to do with its routes.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Update {
    /// IPv4 unicast routes withdrawn (the Withdrawn Routes field).
    pub withdrawn: Vec<Nlri>,
    /// Path attributes in wire order (MP_REACH/MP_UNREACH included).
    pub attributes: Vec<PathAttribute>,
    /// IPv4 unicast routes announced (the NLRI field).
    pub nlri: Vec<Nlri>,
    /// Problems found while decoding, each with its RFC 7606 treatment. Empty on a
    /// well-formed UPDATE and on every UPDATE built here.
    pub issues: Vec<AttrIssue>,
}

impl Update {
    /// The most severe treatment among `issues`, `None` when there are none.
    pub fn treatment(&self) -> Option<Treatment> {
        self.issues.iter().map(|i| i.treatment).max()
    }
}
