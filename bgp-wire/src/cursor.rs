//! A borrowed reader over wire bytes with checked lengths and offsets.
//!
//! Every read is bounds-checked and returns `None` when the bytes run out; callers turn
//! that into the [`DecodeError`](crate::DecodeError) the RFC asks for at that spot, since
//! the same shortfall means different things in different fields. Offsets are absolute:
//! a cursor knows where its first byte sits in the whole message, so errors found deep
//! inside an attribute still point at the right byte of the message.

/// A forward-only reader over a byte slice.
#[derive(Clone, Debug)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf[0]` from the start of the message.
    base: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor over `buf`, whose first byte lies `base` bytes into the message.
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    /// Absolute offset of the next byte to read.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes left to read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether every byte has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The unread bytes, without consuming them.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// Reads one octet.
    pub(crate) fn read_u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// Reads a big-endian 16-bit value.
    pub(crate) fn read_u16(&mut self) -> Option<u16> {
        let b = self.take_array::<2>()?;
        Some(u16::from_be_bytes(b))
    }

    /// Reads a big-endian 32-bit value.
    pub(crate) fn read_u32(&mut self) -> Option<u32> {
        let b = self.take_array::<4>()?;
        Some(u32::from_be_bytes(b))
    }

    /// Reads `N` octets into an array.
    pub(crate) fn take_array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let end = self.pos.checked_add(N)?;
        let bytes: [u8; N] = self.buf.get(self.pos..end)?.try_into().ok()?;
        self.pos = end;
        Some(bytes)
    }

    /// Reads `n` octets as a slice of the input.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let bytes = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    /// Reads everything left.
    pub(crate) fn take_rest(&mut self) -> &'a [u8] {
        let rest = self.rest();
        self.pos = self.buf.len();
        rest
    }

    /// Splits off the next `n` octets as a cursor of their own (offsets stay absolute).
    pub(crate) fn sub(&mut self, n: usize) -> Option<Self> {
        let base = self.offset();
        let bytes = self.take(n)?;
        Some(Self::new(bytes, base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_tracks_offsets() {
        let data = [1u8, 0, 2, 0, 0, 0, 3, 9, 9];
        let mut c = Cursor::new(&data, 19);
        assert_eq!(c.read_u8(), Some(1));
        assert_eq!(c.read_u16(), Some(2));
        assert_eq!(c.offset(), 22);
        let mut sub = c.sub(4).unwrap();
        assert_eq!(sub.offset(), 22);
        assert_eq!(sub.read_u32(), Some(3));
        assert!(sub.is_empty());
        assert_eq!(sub.read_u8(), None);
        assert_eq!(c.remaining(), 2);
        assert_eq!(c.take(3), None);
        assert_eq!(c.remaining(), 2, "a failed read consumes nothing");
        assert_eq!(c.take_rest(), &[9, 9]);
        assert!(c.is_empty());
        assert_eq!(c.take(usize::MAX), None);
    }
}
