//! Packing many routes into as few UPDATE messages as fit the session's maximum size.

use crate::types::SessionParams;

/// Packs withdrawals and announcements (grouped by shared attribute set) into the
/// fewest UPDATE messages that fit `params.max_message_len()`.
#[derive(Debug)]
pub struct UpdatePacker {
    params: SessionParams,
}

impl UpdatePacker {
    /// A packer for a session with `params`.
    pub fn new(params: SessionParams) -> Self {
        Self { params }
    }
}
