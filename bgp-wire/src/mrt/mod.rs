//! MRT records (RFC 6396): the archive format of route collectors (RIPE RIS, RouteViews)
//! and of the dump facilities of BIRD, OpenBGPD, Quagga and FRR.
//!
//! [`MrtReader`] walks the records of a byte slice that holds **decompressed** MRT data
//! (decompression is the caller's business) and yields each one as an [`MrtRecord`] that
//! borrows from the slice. Nothing is decoded beyond the MRT framing: BGP messages and
//! RIB attributes stay raw bytes until asked for ([`Bgp4mpMessage::parse_message`],
//! [`decode_rib_attributes`]), so a sweep over a large file pays only for what it reads.
//!
//! [`MrtRecord::emit`] writes a record back; reading then emitting reproduces the input
//! byte for byte (tested on real collector files). A record built by hand whose values
//! do not fit their MRT fields is refused with an [`MrtEncodeError`], never a panic.
//!
//! Every record starts with the common header (RFC 6396 section 2):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           Timestamp                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Type              |            Subtype            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                             Length                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Message... (variable)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The `_ET` types (BGP4MP_ET, ISIS_ET, OSPFv3_ET; section 3) put a 4-octet microsecond
//! timestamp first in the message field, and count it in Length.
//!
//! Record kinds understood (others are kept as [`MrtBody::Unknown`], not errors):
//!
//! | type | subtypes | body |
//! |---|---|---|
//! | 12 TABLE_DUMP | 1 AFI_IPv4, 2 AFI_IPv6 | [`MrtBody::TableDump`] |
//! | 13 TABLE_DUMP_V2 | 1 PEER_INDEX_TABLE | [`MrtBody::PeerIndexTable`] |
//! | 13 TABLE_DUMP_V2 | 2-5 RIB_IPV{4,6}_{UNICAST,MULTICAST}, 8-11 the same `_ADDPATH` (RFC 8050) | [`MrtBody::Rib`] |
//! | 13 TABLE_DUMP_V2 | 6 RIB_GENERIC, 12 RIB_GENERIC_ADDPATH | [`MrtBody::RibGeneric`] |
//! | 16 BGP4MP, 17 BGP4MP_ET | 0 STATE_CHANGE, 5 STATE_CHANGE_AS4 | [`MrtBody::StateChange`] |
//! | 16 BGP4MP, 17 BGP4MP_ET | 1, 4, 6, 7 MESSAGE(_AS4)(_LOCAL), 8-11 the same `_ADDPATH` | [`MrtBody::Message`] |
//!
//! # Example
//!
//! ```
//! use bgp_wire::mrt::{MrtBody, MrtReader};
//!
//! // One BGP4MP MESSAGE_AS4 record (timestamp 1, body 39 bytes) holding a KEEPALIVE
//! // from 192.0.2.1, AS 65001, to AS 65002.
//! let mut keepalive = vec![0xff; 16];
//! keepalive.extend_from_slice(&[0, 19, 4]);
//! let mut file = vec![0, 0, 0, 1, 0, 16, 0, 4, 0, 0, 0, 20 + 19];
//! file.extend_from_slice(&[0, 0, 0xfd, 0xe9, 0, 0, 0xfd, 0xea, 0, 0, 0, 1]);
//! file.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
//! file.extend_from_slice(&keepalive);
//!
//! let mut reader = MrtReader::new(&file);
//! let (offset, record) = reader.next().unwrap().unwrap();
//! assert_eq!((offset, record.timestamp), (0, 1));
//! let MrtBody::Message(msg) = &record.body else { panic!("a BGP4MP message") };
//! assert_eq!(msg.peer_as, 65001);
//! assert_eq!(msg.message, &keepalive[..]);
//! assert!(reader.next().is_none());
//!
//! let mut out = Vec::new();
//! record.emit(&mut out)?;
//! assert_eq!(out, file);
//! # Ok::<(), bgp_wire::mrt::MrtEncodeError>(())
//! ```

mod attributes;
mod read;
mod record;
mod write;

#[cfg(test)]
mod tests;

pub use attributes::{decode_rib_attributes, RibAttributes};
pub use read::{MrtError, MrtErrorKind, MrtReader, MrtRepairs};
pub use record::{
    Bgp4mpMessage, Bgp4mpStateChange, MrtBody, MrtRecord, PeerAddresses, PeerEntry, PeerIndexTable,
    RibEntry, RibGeneric, RibRecord, TableDumpEntry,
};
pub use write::MrtEncodeError;

/// Length of the common MRT header.
pub const MRT_HEADER_LEN: usize = 12;

/// MRT record type (RFC 6396 section 4 and the IANA registry), an open code point.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct MrtType(pub u16);

impl MrtType {
    /// 5: BGP, deprecated (RFC 6396 appendix B).
    pub const BGP: Self = Self(5);
    /// 12: TABLE_DUMP, the first RIB dump format.
    pub const TABLE_DUMP: Self = Self(12);
    /// 13: TABLE_DUMP_V2.
    pub const TABLE_DUMP_V2: Self = Self(13);
    /// 16: BGP4MP.
    pub const BGP4MP: Self = Self(16);
    /// 17: BGP4MP_ET, BGP4MP with a microsecond timestamp.
    pub const BGP4MP_ET: Self = Self(17);
    /// 32: ISIS.
    pub const ISIS: Self = Self(32);
    /// 33: ISIS_ET.
    pub const ISIS_ET: Self = Self(33);
    /// 48: OSPFv3.
    pub const OSPFV3: Self = Self(48);
    /// 49: OSPFv3_ET.
    pub const OSPFV3_ET: Self = Self(49);

    /// Whether records of this type carry the 4-octet microsecond timestamp.
    pub fn is_extended_timestamp(self) -> bool {
        matches!(self, Self::BGP4MP_ET | Self::ISIS_ET | Self::OSPFV3_ET)
    }

    /// The registry name, `None` for types this module has no name for.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::BGP => "BGP",
            Self::TABLE_DUMP => "TABLE_DUMP",
            Self::TABLE_DUMP_V2 => "TABLE_DUMP_V2",
            Self::BGP4MP => "BGP4MP",
            Self::BGP4MP_ET => "BGP4MP_ET",
            Self::ISIS => "ISIS",
            Self::ISIS_ET => "ISIS_ET",
            Self::OSPFV3 => "OSPFv3",
            Self::OSPFV3_ET => "OSPFv3_ET",
            _ => return None,
        })
    }
}

/// TABLE_DUMP_V2 subtypes (RFC 6396 section 4.3, RFC 8050 section 4).
pub mod td2_subtype {
    /// PEER_INDEX_TABLE.
    pub const PEER_INDEX_TABLE: u16 = 1;
    /// RIB_IPV4_UNICAST.
    pub const RIB_IPV4_UNICAST: u16 = 2;
    /// RIB_IPV4_MULTICAST.
    pub const RIB_IPV4_MULTICAST: u16 = 3;
    /// RIB_IPV6_UNICAST.
    pub const RIB_IPV6_UNICAST: u16 = 4;
    /// RIB_IPV6_MULTICAST.
    pub const RIB_IPV6_MULTICAST: u16 = 5;
    /// RIB_GENERIC.
    pub const RIB_GENERIC: u16 = 6;
    /// GEO_PEER_TABLE (RFC 6397), kept opaque here.
    pub const GEO_PEER_TABLE: u16 = 7;
    /// RIB_IPV4_UNICAST_ADDPATH.
    pub const RIB_IPV4_UNICAST_ADDPATH: u16 = 8;
    /// RIB_IPV4_MULTICAST_ADDPATH.
    pub const RIB_IPV4_MULTICAST_ADDPATH: u16 = 9;
    /// RIB_IPV6_UNICAST_ADDPATH.
    pub const RIB_IPV6_UNICAST_ADDPATH: u16 = 10;
    /// RIB_IPV6_MULTICAST_ADDPATH.
    pub const RIB_IPV6_MULTICAST_ADDPATH: u16 = 11;
    /// RIB_GENERIC_ADDPATH.
    pub const RIB_GENERIC_ADDPATH: u16 = 12;
}

/// BGP4MP and BGP4MP_ET subtypes (RFC 6396 section 4.4, RFC 8050 section 3).
pub mod bgp4mp_subtype {
    /// STATE_CHANGE.
    pub const STATE_CHANGE: u16 = 0;
    /// MESSAGE.
    pub const MESSAGE: u16 = 1;
    /// ENTRY (deprecated), kept opaque here.
    pub const ENTRY: u16 = 2;
    /// SNAPSHOT (deprecated), kept opaque here.
    pub const SNAPSHOT: u16 = 3;
    /// MESSAGE_AS4.
    pub const MESSAGE_AS4: u16 = 4;
    /// STATE_CHANGE_AS4.
    pub const STATE_CHANGE_AS4: u16 = 5;
    /// MESSAGE_LOCAL.
    pub const MESSAGE_LOCAL: u16 = 6;
    /// MESSAGE_AS4_LOCAL.
    pub const MESSAGE_AS4_LOCAL: u16 = 7;
    /// MESSAGE_ADDPATH.
    pub const MESSAGE_ADDPATH: u16 = 8;
    /// MESSAGE_AS4_ADDPATH.
    pub const MESSAGE_AS4_ADDPATH: u16 = 9;
    /// MESSAGE_LOCAL_ADDPATH.
    pub const MESSAGE_LOCAL_ADDPATH: u16 = 10;
    /// MESSAGE_AS4_LOCAL_ADDPATH.
    pub const MESSAGE_AS4_LOCAL_ADDPATH: u16 = 11;
}

/// The registry name of a subtype, `None` when unknown.
pub fn subtype_name(mrt_type: MrtType, subtype: u16) -> Option<&'static str> {
    use bgp4mp_subtype as b;
    use td2_subtype as t;
    Some(match (mrt_type, subtype) {
        (MrtType::TABLE_DUMP, 1) => "AFI_IPv4",
        (MrtType::TABLE_DUMP, 2) => "AFI_IPv6",
        (MrtType::TABLE_DUMP_V2, s) => match s {
            t::PEER_INDEX_TABLE => "PEER_INDEX_TABLE",
            t::RIB_IPV4_UNICAST => "RIB_IPV4_UNICAST",
            t::RIB_IPV4_MULTICAST => "RIB_IPV4_MULTICAST",
            t::RIB_IPV6_UNICAST => "RIB_IPV6_UNICAST",
            t::RIB_IPV6_MULTICAST => "RIB_IPV6_MULTICAST",
            t::RIB_GENERIC => "RIB_GENERIC",
            t::GEO_PEER_TABLE => "GEO_PEER_TABLE",
            t::RIB_IPV4_UNICAST_ADDPATH => "RIB_IPV4_UNICAST_ADDPATH",
            t::RIB_IPV4_MULTICAST_ADDPATH => "RIB_IPV4_MULTICAST_ADDPATH",
            t::RIB_IPV6_UNICAST_ADDPATH => "RIB_IPV6_UNICAST_ADDPATH",
            t::RIB_IPV6_MULTICAST_ADDPATH => "RIB_IPV6_MULTICAST_ADDPATH",
            t::RIB_GENERIC_ADDPATH => "RIB_GENERIC_ADDPATH",
            _ => return None,
        },
        (MrtType::BGP4MP | MrtType::BGP4MP_ET, s) => match s {
            b::STATE_CHANGE => "STATE_CHANGE",
            b::MESSAGE => "MESSAGE",
            b::ENTRY => "ENTRY",
            b::SNAPSHOT => "SNAPSHOT",
            b::MESSAGE_AS4 => "MESSAGE_AS4",
            b::STATE_CHANGE_AS4 => "STATE_CHANGE_AS4",
            b::MESSAGE_LOCAL => "MESSAGE_LOCAL",
            b::MESSAGE_AS4_LOCAL => "MESSAGE_AS4_LOCAL",
            b::MESSAGE_ADDPATH => "MESSAGE_ADDPATH",
            b::MESSAGE_AS4_ADDPATH => "MESSAGE_AS4_ADDPATH",
            b::MESSAGE_LOCAL_ADDPATH => "MESSAGE_LOCAL_ADDPATH",
            b::MESSAGE_AS4_LOCAL_ADDPATH => "MESSAGE_AS4_LOCAL_ADDPATH",
            _ => return None,
        },
        _ => return None,
    })
}
