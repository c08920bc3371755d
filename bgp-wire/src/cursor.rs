//! A borrowed reader over wire bytes with checked lengths and offsets.
