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
//! byte for byte (tested on real collector files).
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
//! record.emit(&mut out);
//! assert_eq!(out, file);
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::attr::PathAttribute;
use crate::error::{AttrIssue, DecodeError};
use crate::message::Message;
use crate::types::{AddPathFamilies, Afi, Family, Safi, SessionParams};
use crate::update::Update;

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

/// What went wrong reading an MRT record.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum MrtErrorKind {
    /// Fewer than 12 bytes left for a record header.
    TruncatedHeader {
        /// Bytes left in the input.
        available: usize,
    },
    /// The header's Length runs past the end of the input.
    TruncatedRecord {
        /// Length field (after the header).
        declared: u32,
        /// Bytes left after the header.
        available: usize,
    },
    /// A field runs past the end of its record (or of its enclosing length).
    TruncatedField,
    /// Bytes left over after the last field of a record.
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// An address family this record kind cannot hold.
    UnsupportedAfi {
        /// The AFI as read.
        afi: u16,
    },
    /// A prefix length beyond 32 (IPv4) or 128 (IPv6).
    InvalidPrefixLength {
        /// The length as read.
        length: u8,
    },
}

/// An MRT record that could not be read, and where.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("MRT {kind:?} at byte {offset}: {context}")]
pub struct MrtError {
    /// What went wrong.
    pub kind: MrtErrorKind,
    /// Byte offset in the reader's input: of the record header for framing errors, of the
    /// offending field otherwise.
    pub offset: usize,
    /// What was being read, for humans.
    pub context: &'static str,
}

/// One MRT record: the common header's timestamp(s) and the decoded body.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MrtRecord<'a> {
    /// Seconds since the Unix epoch.
    pub timestamp: u32,
    /// The microsecond part of an `_ET` record (BGP4MP_ET, ...); `None` otherwise. For the
    /// BGP4MP bodies it also selects the type on emit: `Some` writes BGP4MP_ET. Ignored
    /// for TABLE_DUMP and TABLE_DUMP_V2 bodies, which have no `_ET` form.
    pub microseconds: Option<u32>,
    /// The record's contents.
    pub body: MrtBody<'a>,
}

/// The contents of an MRT record.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum MrtBody<'a> {
    /// BGP4MP(_ET) MESSAGE and its AS4/LOCAL/ADDPATH variants: a BGP message as seen on a session.
    Message(Bgp4mpMessage<'a>),
    /// BGP4MP(_ET) STATE_CHANGE(_AS4): an FSM transition.
    StateChange(Bgp4mpStateChange),
    /// TABLE_DUMP_V2 PEER_INDEX_TABLE: the peers that RIB entries point at by index.
    PeerIndexTable(PeerIndexTable<'a>),
    /// TABLE_DUMP_V2 RIB_IPV{4,6}_{UNICAST,MULTICAST}(_ADDPATH): one prefix and its paths.
    Rib(RibRecord<'a>),
    /// TABLE_DUMP_V2 RIB_GENERIC(_ADDPATH), kept opaque after AFI/SAFI.
    RibGeneric(RibGeneric<'a>),
    /// TABLE_DUMP (legacy): one prefix from one peer.
    TableDump(TableDumpEntry<'a>),
    /// Any other type or subtype, kept as read (after the microseconds of `_ET` types).
    Unknown {
        /// Record type.
        mrt_type: MrtType,
        /// Subtype.
        subtype: u16,
        /// The message field.
        data: &'a [u8],
    },
}

/// The two addresses of a BGP4MP record: peer and local, of one family.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PeerAddresses {
    /// AFI 1.
    V4 {
        /// Peer IP address.
        peer: Ipv4Addr,
        /// Local IP address.
        local: Ipv4Addr,
    },
    /// AFI 2.
    V6 {
        /// Peer IP address.
        peer: Ipv6Addr,
        /// Local IP address.
        local: Ipv6Addr,
    },
}

impl PeerAddresses {
    /// The peer's address.
    pub fn peer(&self) -> IpAddr {
        match *self {
            Self::V4 { peer, .. } => IpAddr::V4(peer),
            Self::V6 { peer, .. } => IpAddr::V6(peer),
        }
    }
    /// The collector's (local) address.
    pub fn local(&self) -> IpAddr {
        match *self {
            Self::V4 { local, .. } => IpAddr::V4(local),
            Self::V6 { local, .. } => IpAddr::V6(local),
        }
    }
    /// The AFI written in the record.
    pub fn afi(&self) -> Afi {
        match self {
            Self::V4 { .. } => Afi::IPV4,
            Self::V6 { .. } => Afi::IPV6,
        }
    }
}

/// A BGP4MP MESSAGE record and its variants (RFC 6396 section 4.4.2, 4.4.3, 4.4.6;
/// RFC 8050 section 3): the subtype is the combination of `four_octet_as`, `local` and
/// `add_path`.
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Peer AS Number        |        Local AS Number        |  (4 octets each for AS4)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |        Interface Index        |        Address Family         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      Peer IP Address (variable)               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      Local IP Address (variable)              |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    BGP Message... (variable)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Bgp4mpMessage<'a> {
    /// AS numbers are 4 octets in the record (the `_AS4` subtypes), and so are the ones in
    /// the message's AS_PATH and AGGREGATOR. Emitting an AS above 65535 forces the AS4
    /// subtype whatever this says.
    pub four_octet_as: bool,
    /// The message was sent by the local side (the `_LOCAL` subtypes), not received.
    pub local: bool,
    /// NLRI in the message carry RFC 7911 path identifiers (the `_ADDPATH` subtypes).
    pub add_path: bool,
    /// Peer AS.
    pub peer_as: u32,
    /// Local AS.
    pub local_as: u32,
    /// Interface index (0 when the collector does not track it).
    pub interface_index: u16,
    /// Peer and local addresses.
    pub addresses: PeerAddresses,
    /// The whole BGP message, marker included.
    pub message: &'a [u8],
}

impl Bgp4mpMessage<'_> {
    /// The subtype this record is written with.
    pub fn subtype(&self) -> u16 {
        message_subtype(self.wire_four_octet_as(), self.local, self.add_path)
    }

    fn wire_four_octet_as(&self) -> bool {
        self.four_octet_as || self.peer_as > 0xffff || self.local_as > 0xffff
    }

    /// The session parameters to decode [`Self::message`] with: 4-octet AS for the AS4
    /// subtypes; path identifiers on IPv4 and IPv6 unicast for the ADDPATH subtypes (RFC
    /// 8050 says the identifier applies to every NLRI of the message); extended messages
    /// always, since collectors record what they received and that may exceed 4096 bytes.
    pub fn session_params(&self) -> SessionParams {
        let mut add_path = AddPathFamilies::none();
        if self.add_path {
            add_path.insert(Family::IPV4_UNICAST);
            add_path.insert(Family::IPV6_UNICAST);
        }
        SessionParams {
            four_octet_as: self.four_octet_as,
            add_path,
            extended_message: true,
        }
    }

    /// Decodes the BGP message with [`Self::session_params`].
    ///
    /// # Errors
    ///
    /// The [`DecodeError`] of [`Message::parse`]; its offset is relative to the message.
    pub fn parse_message(&self) -> Result<Message, DecodeError> {
        Message::parse(self.message, &self.session_params())
    }
}

fn message_subtype(as4: bool, local: bool, add_path: bool) -> u16 {
    use bgp4mp_subtype as b;
    match (as4, local, add_path) {
        (false, false, false) => b::MESSAGE,
        (true, false, false) => b::MESSAGE_AS4,
        (false, true, false) => b::MESSAGE_LOCAL,
        (true, true, false) => b::MESSAGE_AS4_LOCAL,
        (false, false, true) => b::MESSAGE_ADDPATH,
        (true, false, true) => b::MESSAGE_AS4_ADDPATH,
        (false, true, true) => b::MESSAGE_LOCAL_ADDPATH,
        (true, true, true) => b::MESSAGE_AS4_LOCAL_ADDPATH,
    }
}

/// A BGP4MP STATE_CHANGE(_AS4) record (RFC 6396 section 4.4.1, 4.4.4): the same
/// addressing fields as [`Bgp4mpMessage`], then the old and new FSM state (2 octets each;
/// 1 Idle .. 6 Established, and Quagga's 7 Clearing and 8 Deleted in the wild).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Bgp4mpStateChange {
    /// AS numbers are 4 octets (STATE_CHANGE_AS4). Emitting an AS above 65535 forces it.
    pub four_octet_as: bool,
    /// Peer AS.
    pub peer_as: u32,
    /// Local AS.
    pub local_as: u32,
    /// Interface index.
    pub interface_index: u16,
    /// Peer and local addresses.
    pub addresses: PeerAddresses,
    /// State before the transition.
    pub old_state: u16,
    /// State after the transition.
    pub new_state: u16,
}

/// One peer of a PEER_INDEX_TABLE.
///
/// ```text
/// +-+-+-+-+-+-+-+-+
/// |   Peer Type   |  bit 0 (0x01): IPv6 address; bit 1 (0x02): 4-octet AS
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Peer BGP ID                           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                   Peer IP Address (variable)                  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                        Peer AS (variable)                     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PeerEntry {
    /// The Peer Type octet as read. On emit, bit 0 is set from `address` and bit 1 is
    /// forced when `asn` does not fit two octets; the other bits are written as they are.
    pub peer_type: u8,
    /// Peer BGP identifier.
    pub bgp_id: Ipv4Addr,
    /// Peer address.
    pub address: IpAddr,
    /// Peer AS.
    pub asn: u32,
}

impl PeerEntry {
    /// Peer Type bit: the address is IPv6.
    pub const TYPE_IPV6: u8 = 0x01;
    /// Peer Type bit: the AS is 4 octets.
    pub const TYPE_AS4: u8 = 0x02;

    fn wire_type(&self) -> u8 {
        let mut t = self.peer_type & !(Self::TYPE_IPV6 | Self::TYPE_AS4);
        if self.address.is_ipv6() {
            t |= Self::TYPE_IPV6;
        }
        if self.peer_type & Self::TYPE_AS4 != 0 || self.asn > 0xffff {
            t |= Self::TYPE_AS4;
        }
        t
    }
}

/// TABLE_DUMP_V2 PEER_INDEX_TABLE (RFC 6396 section 4.3.1).
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      Collector BGP ID                         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |       View Name Length        |     View Name (variable)      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |          Peer Count           |    Peer Entries (variable)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PeerIndexTable<'a> {
    /// Collector BGP identifier.
    pub collector_id: Ipv4Addr,
    /// View name as read (UTF-8 not enforced); at most 65535 bytes to emit.
    pub view_name: &'a [u8],
    /// Peers, indexed by RIB entries; at most 65535 to emit.
    pub peers: Vec<PeerEntry>,
}

/// One path of a RIB record (RFC 6396 section 4.3.4, RFC 8050 section 4).
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Peer Index            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Originated Time                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Path Identifier (ADDPATH subtypes only)    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |      Attribute Length         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    BGP Attributes... (variable)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RibEntry<'a> {
    /// Index into the PEER_INDEX_TABLE.
    pub peer_index: u16,
    /// When the route was received, seconds since the Unix epoch.
    pub originated_time: u32,
    /// The RFC 7911 path identifier, on ADDPATH subtypes.
    pub path_id: Option<u32>,
    /// Path attributes as read: AS numbers are always 4 octets, and MP_REACH_NLRI may be
    /// the abbreviated next-hop-only form (see [`decode_rib_attributes`]). At most 65535
    /// bytes to emit.
    pub attributes: &'a [u8],
}

/// An AFI/SAFI-specific RIB record (RFC 6396 section 4.3.2, RFC 8050 section 4): one
/// prefix and every path to it. The subtype is given by the prefix family, `multicast` and
/// `add_path`.
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Sequence Number                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Prefix Length |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                        Prefix (variable)                      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Entry Count           |  RIB Entries (variable)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RibRecord<'a> {
    /// Sequence number, incremented per RIB record of a dump.
    pub sequence: u32,
    /// The prefix. Host bits past the length are kept as read (not cleared), so the record
    /// re-emits unchanged.
    pub prefix: IpNet,
    /// SAFI 2 (the `_MULTICAST` subtypes) rather than 1.
    pub multicast: bool,
    /// The `_ADDPATH` subtypes: entries carry path identifiers (a missing one is written 0).
    pub add_path: bool,
    /// Paths, at most 65535 to emit.
    pub entries: Vec<RibEntry<'a>>,
}

impl RibRecord<'_> {
    /// The address family of the prefix.
    pub fn family(&self) -> Family {
        let afi = match self.prefix {
            IpNet::V4(_) => Afi::IPV4,
            IpNet::V6(_) => Afi::IPV6,
        };
        let safi = if self.multicast {
            Safi::MULTICAST
        } else {
            Safi::UNICAST
        };
        Family::new(afi, safi)
    }

    /// The subtype this record is written with.
    pub fn subtype(&self) -> u16 {
        use td2_subtype as t;
        match (self.prefix, self.multicast, self.add_path) {
            (IpNet::V4(_), false, false) => t::RIB_IPV4_UNICAST,
            (IpNet::V4(_), true, false) => t::RIB_IPV4_MULTICAST,
            (IpNet::V6(_), false, false) => t::RIB_IPV6_UNICAST,
            (IpNet::V6(_), true, false) => t::RIB_IPV6_MULTICAST,
            (IpNet::V4(_), false, true) => t::RIB_IPV4_UNICAST_ADDPATH,
            (IpNet::V4(_), true, true) => t::RIB_IPV4_MULTICAST_ADDPATH,
            (IpNet::V6(_), false, true) => t::RIB_IPV6_UNICAST_ADDPATH,
            (IpNet::V6(_), true, true) => t::RIB_IPV6_MULTICAST_ADDPATH,
        }
    }

    /// Decodes the attributes of `entry` (one of this record's) for this record's family.
    ///
    /// # Errors
    ///
    /// As [`decode_rib_attributes`].
    pub fn decode_attributes(&self, entry: &RibEntry<'_>) -> Result<RibAttributes, DecodeError> {
        decode_rib_attributes(entry.attributes, self.family(), true)
    }
}

/// A RIB_GENERIC(_ADDPATH) record (RFC 6396 section 4.3.3): sequence, AFI, SAFI, then a
/// single NLRI whose length depends on the family, and entries. Kept opaque after SAFI.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RibGeneric<'a> {
    /// RIB_GENERIC_ADDPATH rather than RIB_GENERIC.
    pub add_path: bool,
    /// Sequence number.
    pub sequence: u32,
    /// AFI.
    pub afi: Afi,
    /// SAFI.
    pub safi: Safi,
    /// NLRI, entry count and entries, as read.
    pub rest: &'a [u8],
}

/// A legacy TABLE_DUMP record (RFC 6396 section 4.2): one prefix from one peer, subtype
/// 1 (AFI_IPv4) or 2 (AFI_IPv6) from the prefix family.
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         View Number           |       Sequence Number         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                        Prefix (4 or 16 octets)                |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Prefix Length |    Status     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Originated Time                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Peer IP Address (4 or 16 octets)           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           Peer AS             |       Attribute Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                   BGP Attribute... (variable)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TableDumpEntry<'a> {
    /// View number (0 normally).
    pub view_number: u16,
    /// Sequence number (wraps at 65535).
    pub sequence: u16,
    /// The prefix, host bits kept as read.
    pub prefix: IpNet,
    /// Status octet (1, unused).
    pub status: u8,
    /// When the route was received.
    pub originated_time: u32,
    /// Peer address. Written in the prefix's family: an IPv4 peer of an IPv6 prefix as an
    /// IPv4-mapped address, an IPv6 peer of an IPv4 prefix as its IPv4-mapped part (or
    /// 0.0.0.0). Records read from a file always agree.
    pub peer_ip: IpAddr,
    /// Peer AS (2 octets).
    pub peer_as: u16,
    /// Path attributes with 2-octet AS numbers, as read; at most 65535 bytes to emit.
    pub attributes: &'a [u8],
}

impl TableDumpEntry<'_> {
    /// Decodes the attributes (2-octet AS numbers) for the prefix's unicast family.
    ///
    /// # Errors
    ///
    /// As [`decode_rib_attributes`].
    pub fn decode_attributes(&self) -> Result<RibAttributes, DecodeError> {
        let family = match self.prefix {
            IpNet::V4(_) => Family::IPV4_UNICAST,
            IpNet::V6(_) => Family::IPV6_UNICAST,
        };
        decode_rib_attributes(self.attributes, family, false)
    }
}

/// The decoded attributes of a RIB entry.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct RibAttributes {
    /// Attributes in wire order; an abbreviated MP_REACH_NLRI comes out as a full one with
    /// the RIB's family, its next hop, and no NLRI.
    pub attributes: Vec<PathAttribute>,
    /// RFC 7606 problems found (attributes with such problems are left out above).
    pub issues: Vec<AttrIssue>,
}

/// Decodes the path attributes of a RIB entry (TABLE_DUMP_V2 or TABLE_DUMP) of `family`.
///
/// TABLE_DUMP_V2 entries carry MP_REACH_NLRI in one of two forms: the abbreviated one RFC
/// 6396 section 4.3.4 prescribes (next-hop length and next hop, nothing else; OpenBGPD
/// writes it) or the full RFC 4760 attribute (Quagga, FRR, and the RIPE RIS and RouteViews
/// dumps). An abbreviated one is recognised by its first octet being the length of the rest,
/// and rewritten into a full attribute of `family` with that next hop and no NLRI.
///
/// The attributes are then decoded as a bare attribute field on a session with
/// `four_octet_as` (true for TABLE_DUMP_V2, false for TABLE_DUMP), which is what they are.
/// Only entries with an abbreviated MP_REACH_NLRI are copied (to rewrite it); the others
/// are decoded in place.
///
/// # Errors
///
/// The [`DecodeError`] of the attribute decoder, when the attributes are malformed beyond
/// what RFC 7606 lets an UPDATE survive. Its offset counts from the start of `attributes`
/// (after an MP_REACH rewrite, from the start of the rewritten field).
pub fn decode_rib_attributes(
    attributes: &[u8],
    family: Family,
    four_octet_as: bool,
) -> Result<RibAttributes, DecodeError> {
    let params = SessionParams {
        four_octet_as,
        extended_message: true,
        ..SessionParams::default()
    };
    let decoded = if has_abbreviated_mp_reach(attributes) {
        let mut expanded = Vec::with_capacity(attributes.len() + 8);
        expand_abbreviated_mp_reach(attributes, family, &mut expanded);
        Update::parse_path_attributes(&expanded, &params)?
    } else {
        Update::parse_path_attributes(attributes, &params)?
    };
    Ok(RibAttributes {
        attributes: decoded.attributes,
        issues: decoded.issues,
    })
}

/// Walks the attribute headers of `attributes` and yields each (flags, type code, header
/// length, value); stops at the first attribute whose framing is cut short.
fn attribute_headers(attributes: &[u8]) -> impl Iterator<Item = (u8, u8, usize, &[u8])> {
    let mut rest = attributes;
    std::iter::from_fn(move || {
        let [flags, type_code, tail @ ..] = rest else {
            return None;
        };
        let (len, header_len) = match (flags & 0x10 != 0, tail) {
            (true, [hi, lo, ..]) => (usize::from(u16::from_be_bytes([*hi, *lo])), 4),
            (false, [len, ..]) => (usize::from(*len), 3),
            _ => return None,
        };
        let value = rest.get(header_len..header_len + len)?;
        let item = (*flags, *type_code, header_len, value);
        rest = &rest[header_len + len..];
        Some(item)
    })
}

/// Whether an MP_REACH_NLRI value is the RFC 6396 abbreviated form: its first octet is
/// the length of the rest (the next hop), with no AFI/SAFI before it.
fn is_abbreviated_mp_reach(type_code: u8, value: &[u8]) -> bool {
    type_code == 14 && value.first().map(|&n| usize::from(n) + 1) == Some(value.len())
}

fn has_abbreviated_mp_reach(attributes: &[u8]) -> bool {
    attribute_headers(attributes)
        .any(|(_, type_code, _, value)| is_abbreviated_mp_reach(type_code, value))
}

/// Copies `attributes` to `out`, rewriting an abbreviated MP_REACH_NLRI into the full form.
/// Malformed attribute framing is copied as is, for the decoder to report.
fn expand_abbreviated_mp_reach(attributes: &[u8], family: Family, out: &mut Vec<u8>) {
    let mut consumed = 0;
    for (flags, type_code, header_len, value) in attribute_headers(attributes) {
        consumed += header_len + value.len();
        if !is_abbreviated_mp_reach(type_code, value) {
            out.extend_from_slice(&attributes[consumed - header_len - value.len()..consumed]);
            continue;
        }
        // AFI (2) + SAFI (1) + the next-hop length and address + reserved (1).
        let full_len = value.len() + 4;
        if full_len > 255 || flags & 0x10 != 0 {
            out.extend_from_slice(&[flags | 0x10, 14]);
            out.extend_from_slice(&u16::try_from(full_len).unwrap_or(u16::MAX).to_be_bytes());
        } else {
            out.extend_from_slice(&[flags, 14, u8::try_from(full_len).unwrap_or(u8::MAX)]);
        }
        out.extend_from_slice(&family.afi.0.to_be_bytes());
        out.push(family.safi.0);
        out.extend_from_slice(value);
        out.push(0);
    }
    // Malformed framing at the end is copied as is, for the decoder to report.
    out.extend_from_slice(&attributes[consumed..]);
}

/// Iterates over the records of decompressed MRT data, yielding each with the byte offset
/// of its header.
///
/// A record whose body is malformed yields an error and the reader moves on to the next
/// one (the header said where it ends). A header that is cut short, or a Length that runs
/// past the end of the input, yields an error and ends the iteration. Each step consumes
/// at least one 12-byte header, so iteration ends in bounded time; nothing is allocated
/// from a length read in the input.
#[derive(Clone, Debug)]
pub struct MrtReader<'a> {
    input: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> MrtReader<'a> {
    /// A reader over `input`, starting at its first byte.
    pub fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            offset: 0,
            done: false,
        }
    }

    /// Offset of the next record to read (the input length once all are read).
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl<'a> Iterator for MrtReader<'a> {
    type Item = Result<(usize, MrtRecord<'a>), MrtError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let start = self.offset;
        let rest = self.input.get(start..).unwrap_or_default();
        if rest.is_empty() {
            self.done = true;
            return None;
        }
        let Some(header) = rest.get(..MRT_HEADER_LEN) else {
            self.done = true;
            let kind = MrtErrorKind::TruncatedHeader {
                available: rest.len(),
            };
            return Some(Err(MrtError {
                kind,
                offset: start,
                context: "MRT common header",
            }));
        };
        let be32 =
            |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let timestamp = be32(0);
        let mrt_type = MrtType(u16::from_be_bytes([header[4], header[5]]));
        let subtype = u16::from_be_bytes([header[6], header[7]]);
        let declared = be32(8);
        let available = rest.len() - MRT_HEADER_LEN;
        let body = match usize::try_from(declared) {
            Ok(len) if len <= available => &rest[MRT_HEADER_LEN..MRT_HEADER_LEN + len],
            _ => {
                self.done = true;
                let kind = MrtErrorKind::TruncatedRecord {
                    declared,
                    available,
                };
                return Some(Err(MrtError {
                    kind,
                    offset: start,
                    context: "MRT record length",
                }));
            }
        };
        self.offset = start + MRT_HEADER_LEN + body.len();
        let result = parse_record(timestamp, mrt_type, subtype, body, start + MRT_HEADER_LEN)
            .map(|record| (start, record));
        Some(result)
    }
}

/// A cursor over one record body, reporting absolute offsets.
struct Fields<'a> {
    bytes: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Fields<'a> {
    fn err(&self, kind: MrtErrorKind, context: &'static str) -> MrtError {
        MrtError {
            kind,
            offset: self.base + self.pos,
            context,
        }
    }
    fn take(&mut self, n: usize, context: &'static str) -> Result<&'a [u8], MrtError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(self.err(MrtErrorKind::TruncatedField, context));
        };
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self, context: &'static str) -> Result<[u8; N], MrtError> {
        let bytes = self.take(N, context)?;
        Ok(bytes.try_into().expect("take returned N bytes"))
    }
    fn u8(&mut self, context: &'static str) -> Result<u8, MrtError> {
        Ok(self.array::<1>(context)?[0])
    }
    fn u16(&mut self, context: &'static str) -> Result<u16, MrtError> {
        Ok(u16::from_be_bytes(self.array(context)?))
    }
    fn u32(&mut self, context: &'static str) -> Result<u32, MrtError> {
        Ok(u32::from_be_bytes(self.array(context)?))
    }
    fn asn(&mut self, four_octets: bool, context: &'static str) -> Result<u32, MrtError> {
        if four_octets {
            self.u32(context)
        } else {
            self.u16(context).map(u32::from)
        }
    }
    fn ipv4(&mut self, context: &'static str) -> Result<Ipv4Addr, MrtError> {
        self.array::<4>(context).map(Ipv4Addr::from)
    }
    fn ipv6(&mut self, context: &'static str) -> Result<Ipv6Addr, MrtError> {
        self.array::<16>(context).map(Ipv6Addr::from)
    }
    fn rest(&mut self) -> &'a [u8] {
        let out = &self.bytes[self.pos..];
        self.pos = self.bytes.len();
        out
    }
    fn finish(&self, context: &'static str) -> Result<(), MrtError> {
        match self.bytes.len() - self.pos {
            0 => Ok(()),
            count => Err(self.err(MrtErrorKind::TrailingBytes { count }, context)),
        }
    }
    /// A prefix-length octet and the minimal number of prefix octets, host bits kept.
    fn prefix(&mut self, afi: Afi, context: &'static str) -> Result<IpNet, MrtError> {
        let len_offset = self.pos;
        let length = self.u8(context)?;
        let max = if afi == Afi::IPV4 { 32 } else { 128 };
        if length > max {
            let mut e = self.err(MrtErrorKind::InvalidPrefixLength { length }, context);
            e.offset = self.base + len_offset;
            return Err(e);
        }
        let bytes = self.take(usize::from(length).div_ceil(8), context)?;
        Ok(if afi == Afi::IPV4 {
            let mut addr = [0u8; 4];
            addr[..bytes.len()].copy_from_slice(bytes);
            IpNet::V4(Ipv4Net::new(Ipv4Addr::from(addr), length).expect("length checked <= 32"))
        } else {
            let mut addr = [0u8; 16];
            addr[..bytes.len()].copy_from_slice(bytes);
            IpNet::V6(Ipv6Net::new(Ipv6Addr::from(addr), length).expect("length checked <= 128"))
        })
    }
}

fn parse_record(
    timestamp: u32,
    mrt_type: MrtType,
    subtype: u16,
    body: &[u8],
    base: usize,
) -> Result<MrtRecord<'_>, MrtError> {
    let mut f = Fields {
        bytes: body,
        pos: 0,
        base,
    };
    let microseconds = if mrt_type.is_extended_timestamp() {
        Some(f.u32("microsecond timestamp")?)
    } else {
        None
    };
    let body = match (mrt_type, subtype) {
        (MrtType::BGP4MP | MrtType::BGP4MP_ET, _) => parse_bgp4mp(subtype, &mut f)?,
        (MrtType::TABLE_DUMP_V2, _) => parse_td2(subtype, &mut f)?,
        (MrtType::TABLE_DUMP, 1 | 2) => parse_table_dump(subtype, &mut f)?,
        _ => None,
    };
    let body = match body {
        Some(body) => body,
        None => MrtBody::Unknown {
            mrt_type,
            subtype,
            data: f.rest(),
        },
    };
    Ok(MrtRecord {
        timestamp,
        microseconds,
        body,
    })
}

fn parse_addresses(f: &mut Fields<'_>, afi: u16) -> Result<PeerAddresses, MrtError> {
    match Afi(afi) {
        Afi::IPV4 => Ok(PeerAddresses::V4 {
            peer: f.ipv4("peer IP address")?,
            local: f.ipv4("local IP address")?,
        }),
        Afi::IPV6 => Ok(PeerAddresses::V6 {
            peer: f.ipv6("peer IP address")?,
            local: f.ipv6("local IP address")?,
        }),
        _ => {
            let mut e = f.err(
                MrtErrorKind::UnsupportedAfi { afi },
                "BGP4MP address family",
            );
            e.offset -= 2;
            Err(e)
        }
    }
}

fn parse_bgp4mp<'a>(subtype: u16, f: &mut Fields<'a>) -> Result<Option<MrtBody<'a>>, MrtError> {
    use bgp4mp_subtype as b;
    let (four_octet_as, local, add_path, is_state) = match subtype {
        b::STATE_CHANGE => (false, false, false, true),
        b::STATE_CHANGE_AS4 => (true, false, false, true),
        b::MESSAGE => (false, false, false, false),
        b::MESSAGE_AS4 => (true, false, false, false),
        b::MESSAGE_LOCAL => (false, true, false, false),
        b::MESSAGE_AS4_LOCAL => (true, true, false, false),
        b::MESSAGE_ADDPATH => (false, false, true, false),
        b::MESSAGE_AS4_ADDPATH => (true, false, true, false),
        b::MESSAGE_LOCAL_ADDPATH => (false, true, true, false),
        b::MESSAGE_AS4_LOCAL_ADDPATH => (true, true, true, false),
        _ => return Ok(None),
    };
    let peer_as = f.asn(four_octet_as, "peer AS")?;
    let local_as = f.asn(four_octet_as, "local AS")?;
    let interface_index = f.u16("interface index")?;
    let afi = f.u16("address family")?;
    let addresses = parse_addresses(f, afi)?;
    if is_state {
        let old_state = f.u16("old state")?;
        let new_state = f.u16("new state")?;
        f.finish("after STATE_CHANGE new state")?;
        return Ok(Some(MrtBody::StateChange(Bgp4mpStateChange {
            four_octet_as,
            peer_as,
            local_as,
            interface_index,
            addresses,
            old_state,
            new_state,
        })));
    }
    Ok(Some(MrtBody::Message(Bgp4mpMessage {
        four_octet_as,
        local,
        add_path,
        peer_as,
        local_as,
        interface_index,
        addresses,
        message: f.rest(),
    })))
}

fn parse_td2<'a>(subtype: u16, f: &mut Fields<'a>) -> Result<Option<MrtBody<'a>>, MrtError> {
    use td2_subtype as t;
    let (afi, multicast, add_path) = match subtype {
        t::PEER_INDEX_TABLE => {
            return parse_peer_index_table(f).map(|p| Some(MrtBody::PeerIndexTable(p)))
        }
        t::RIB_GENERIC | t::RIB_GENERIC_ADDPATH => {
            let sequence = f.u32("RIB_GENERIC sequence number")?;
            let afi = Afi(f.u16("RIB_GENERIC AFI")?);
            let safi = Safi(f.u8("RIB_GENERIC SAFI")?);
            let add_path = subtype == t::RIB_GENERIC_ADDPATH;
            return Ok(Some(MrtBody::RibGeneric(RibGeneric {
                add_path,
                sequence,
                afi,
                safi,
                rest: f.rest(),
            })));
        }
        t::RIB_IPV4_UNICAST => (Afi::IPV4, false, false),
        t::RIB_IPV4_MULTICAST => (Afi::IPV4, true, false),
        t::RIB_IPV6_UNICAST => (Afi::IPV6, false, false),
        t::RIB_IPV6_MULTICAST => (Afi::IPV6, true, false),
        t::RIB_IPV4_UNICAST_ADDPATH => (Afi::IPV4, false, true),
        t::RIB_IPV4_MULTICAST_ADDPATH => (Afi::IPV4, true, true),
        t::RIB_IPV6_UNICAST_ADDPATH => (Afi::IPV6, false, true),
        t::RIB_IPV6_MULTICAST_ADDPATH => (Afi::IPV6, true, true),
        _ => return Ok(None),
    };
    let sequence = f.u32("RIB sequence number")?;
    let prefix = f.prefix(afi, "RIB prefix")?;
    let count = f.u16("RIB entry count")?;
    let mut entries = Vec::new();
    for _ in 0..count {
        let peer_index = f.u16("RIB entry peer index")?;
        let originated_time = f.u32("RIB entry originated time")?;
        let path_id = if add_path {
            Some(f.u32("RIB entry path identifier")?)
        } else {
            None
        };
        let len = f.u16("RIB entry attribute length")?;
        let attributes = f.take(usize::from(len), "RIB entry attributes")?;
        entries.push(RibEntry {
            peer_index,
            originated_time,
            path_id,
            attributes,
        });
    }
    f.finish("after the last RIB entry")?;
    Ok(Some(MrtBody::Rib(RibRecord {
        sequence,
        prefix,
        multicast,
        add_path,
        entries,
    })))
}

fn parse_peer_index_table<'a>(f: &mut Fields<'a>) -> Result<PeerIndexTable<'a>, MrtError> {
    let collector_id = f.ipv4("collector BGP ID")?;
    let name_len = f.u16("view name length")?;
    let view_name = f.take(usize::from(name_len), "view name")?;
    let count = f.u16("peer count")?;
    let mut peers = Vec::new();
    for _ in 0..count {
        let peer_type = f.u8("peer type")?;
        let bgp_id = f.ipv4("peer BGP ID")?;
        let address = if peer_type & PeerEntry::TYPE_IPV6 != 0 {
            IpAddr::V6(f.ipv6("peer IP address")?)
        } else {
            IpAddr::V4(f.ipv4("peer IP address")?)
        };
        let asn = f.asn(peer_type & PeerEntry::TYPE_AS4 != 0, "peer AS")?;
        peers.push(PeerEntry {
            peer_type,
            bgp_id,
            address,
            asn,
        });
    }
    f.finish("after the last peer entry")?;
    Ok(PeerIndexTable {
        collector_id,
        view_name,
        peers,
    })
}

fn parse_table_dump<'a>(subtype: u16, f: &mut Fields<'a>) -> Result<Option<MrtBody<'a>>, MrtError> {
    let view_number = f.u16("TABLE_DUMP view number")?;
    let sequence = f.u16("TABLE_DUMP sequence number")?;
    let v6 = subtype == 2;
    let (addr, max): (IpAddr, u8) = if v6 {
        (IpAddr::V6(f.ipv6("TABLE_DUMP prefix")?), 128)
    } else {
        (IpAddr::V4(f.ipv4("TABLE_DUMP prefix")?), 32)
    };
    let length = f.u8("TABLE_DUMP prefix length")?;
    if length > max {
        let mut e = f.err(
            MrtErrorKind::InvalidPrefixLength { length },
            "TABLE_DUMP prefix length",
        );
        e.offset -= 1;
        return Err(e);
    }
    let prefix = IpNet::new(addr, length).expect("length checked against the family");
    let status = f.u8("TABLE_DUMP status")?;
    let originated_time = f.u32("TABLE_DUMP originated time")?;
    let peer_ip = if v6 {
        IpAddr::V6(f.ipv6("TABLE_DUMP peer IP")?)
    } else {
        IpAddr::V4(f.ipv4("TABLE_DUMP peer IP")?)
    };
    let peer_as = f.u16("TABLE_DUMP peer AS")?;
    let len = f.u16("TABLE_DUMP attribute length")?;
    let attributes = f.take(usize::from(len), "TABLE_DUMP attributes")?;
    f.finish("after TABLE_DUMP attributes")?;
    Ok(Some(MrtBody::TableDump(TableDumpEntry {
        view_number,
        sequence,
        prefix,
        status,
        originated_time,
        peer_ip,
        peer_as,
        attributes,
    })))
}

// ---------------------------------------------------------------------------------------
// Writing

impl MrtRecord<'_> {
    /// The record type written by [`Self::emit`].
    pub fn mrt_type(&self) -> MrtType {
        match &self.body {
            MrtBody::Message(_) | MrtBody::StateChange(_) => {
                if self.microseconds.is_some() {
                    MrtType::BGP4MP_ET
                } else {
                    MrtType::BGP4MP
                }
            }
            MrtBody::PeerIndexTable(_) | MrtBody::Rib(_) | MrtBody::RibGeneric(_) => {
                MrtType::TABLE_DUMP_V2
            }
            MrtBody::TableDump(_) => MrtType::TABLE_DUMP,
            MrtBody::Unknown { mrt_type, .. } => *mrt_type,
        }
    }

    /// The subtype written by [`Self::emit`].
    pub fn subtype(&self) -> u16 {
        match &self.body {
            MrtBody::Message(m) => m.subtype(),
            MrtBody::StateChange(s) => {
                if s.four_octet_as || s.peer_as > 0xffff || s.local_as > 0xffff {
                    bgp4mp_subtype::STATE_CHANGE_AS4
                } else {
                    bgp4mp_subtype::STATE_CHANGE
                }
            }
            MrtBody::PeerIndexTable(_) => td2_subtype::PEER_INDEX_TABLE,
            MrtBody::Rib(r) => r.subtype(),
            MrtBody::RibGeneric(g) => {
                if g.add_path {
                    td2_subtype::RIB_GENERIC_ADDPATH
                } else {
                    td2_subtype::RIB_GENERIC
                }
            }
            MrtBody::TableDump(t) => match t.prefix {
                IpNet::V4(_) => 1,
                IpNet::V6(_) => 2,
            },
            MrtBody::Unknown { subtype, .. } => *subtype,
        }
    }

    fn writes_microseconds(&self) -> Option<u32> {
        match &self.body {
            MrtBody::Message(_) | MrtBody::StateChange(_) => self.microseconds,
            MrtBody::Unknown { mrt_type, .. } if mrt_type.is_extended_timestamp() => {
                Some(self.microseconds.unwrap_or(0))
            }
            _ => None,
        }
    }

    /// Appends the record, header included, to `out`.
    ///
    /// # Panics
    ///
    /// When a length field would overflow: a RIB entry's attributes, a view name, or more
    /// than 65535 entries or peers; or a record body above 4 GiB. Records read by
    /// [`MrtReader`] never do.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.mrt_type().0.to_be_bytes());
        out.extend_from_slice(&self.subtype().to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        if let Some(us) = self.writes_microseconds() {
            out.extend_from_slice(&us.to_be_bytes());
        }
        match &self.body {
            MrtBody::Message(m) => {
                let as4 = m.wire_four_octet_as();
                emit_peer_header(
                    out,
                    as4,
                    m.peer_as,
                    m.local_as,
                    m.interface_index,
                    &m.addresses,
                );
                out.extend_from_slice(m.message);
            }
            MrtBody::StateChange(s) => {
                let as4 = self.subtype() == bgp4mp_subtype::STATE_CHANGE_AS4;
                emit_peer_header(
                    out,
                    as4,
                    s.peer_as,
                    s.local_as,
                    s.interface_index,
                    &s.addresses,
                );
                out.extend_from_slice(&s.old_state.to_be_bytes());
                out.extend_from_slice(&s.new_state.to_be_bytes());
            }
            MrtBody::PeerIndexTable(p) => {
                out.extend_from_slice(&p.collector_id.octets());
                out.extend_from_slice(&len16(p.view_name.len(), "view name").to_be_bytes());
                out.extend_from_slice(p.view_name);
                out.extend_from_slice(&len16(p.peers.len(), "peer count").to_be_bytes());
                for peer in &p.peers {
                    let peer_type = peer.wire_type();
                    out.push(peer_type);
                    out.extend_from_slice(&peer.bgp_id.octets());
                    match peer.address {
                        IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
                        IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
                    }
                    emit_asn(out, peer_type & PeerEntry::TYPE_AS4 != 0, peer.asn);
                }
            }
            MrtBody::Rib(r) => {
                out.extend_from_slice(&r.sequence.to_be_bytes());
                emit_prefix(out, r.prefix);
                out.extend_from_slice(&len16(r.entries.len(), "RIB entry count").to_be_bytes());
                for e in &r.entries {
                    out.extend_from_slice(&e.peer_index.to_be_bytes());
                    out.extend_from_slice(&e.originated_time.to_be_bytes());
                    if r.add_path {
                        out.extend_from_slice(&e.path_id.unwrap_or(0).to_be_bytes());
                    }
                    out.extend_from_slice(
                        &len16(e.attributes.len(), "RIB entry attributes").to_be_bytes(),
                    );
                    out.extend_from_slice(e.attributes);
                }
            }
            MrtBody::RibGeneric(g) => {
                out.extend_from_slice(&g.sequence.to_be_bytes());
                out.extend_from_slice(&g.afi.0.to_be_bytes());
                out.push(g.safi.0);
                out.extend_from_slice(g.rest);
            }
            MrtBody::TableDump(t) => {
                out.extend_from_slice(&t.view_number.to_be_bytes());
                out.extend_from_slice(&t.sequence.to_be_bytes());
                match t.prefix {
                    IpNet::V4(p) => {
                        out.extend_from_slice(&p.addr().octets());
                    }
                    IpNet::V6(p) => {
                        out.extend_from_slice(&p.addr().octets());
                    }
                }
                out.push(t.prefix.prefix_len());
                out.push(t.status);
                out.extend_from_slice(&t.originated_time.to_be_bytes());
                match (t.prefix, t.peer_ip) {
                    (IpNet::V4(_), IpAddr::V4(a)) => out.extend_from_slice(&a.octets()),
                    (IpNet::V4(_), IpAddr::V6(a)) => out.extend_from_slice(
                        &a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED).octets(),
                    ),
                    (IpNet::V6(_), IpAddr::V6(a)) => out.extend_from_slice(&a.octets()),
                    (IpNet::V6(_), IpAddr::V4(a)) => {
                        out.extend_from_slice(&a.to_ipv6_mapped().octets())
                    }
                }
                out.extend_from_slice(&t.peer_as.to_be_bytes());
                out.extend_from_slice(
                    &len16(t.attributes.len(), "TABLE_DUMP attributes").to_be_bytes(),
                );
                out.extend_from_slice(t.attributes);
            }
            MrtBody::Unknown { data, .. } => out.extend_from_slice(data),
        }
        let body_len = out.len() - start - MRT_HEADER_LEN;
        let body_len =
            u32::try_from(body_len).expect("an MRT record body fits 4 GiB (documented panic)");
        out[start + 8..start + 12].copy_from_slice(&body_len.to_be_bytes());
    }
}

fn len16(len: usize, what: &'static str) -> u16 {
    match u16::try_from(len) {
        Ok(len) => len,
        Err(_) => panic!("MRT {what} longer than 65535 cannot be written (documented panic)"),
    }
}

fn emit_asn(out: &mut Vec<u8>, four_octets: bool, asn: u32) {
    if four_octets {
        out.extend_from_slice(&asn.to_be_bytes());
    } else {
        // Callers force four octets for any AS above 65535.
        out.extend_from_slice(&(asn as u16).to_be_bytes());
    }
}

fn emit_peer_header(
    out: &mut Vec<u8>,
    as4: bool,
    peer_as: u32,
    local_as: u32,
    interface_index: u16,
    addresses: &PeerAddresses,
) {
    emit_asn(out, as4, peer_as);
    emit_asn(out, as4, local_as);
    out.extend_from_slice(&interface_index.to_be_bytes());
    out.extend_from_slice(&addresses.afi().0.to_be_bytes());
    match addresses {
        PeerAddresses::V4 { peer, local } => {
            out.extend_from_slice(&peer.octets());
            out.extend_from_slice(&local.octets());
        }
        PeerAddresses::V6 { peer, local } => {
            out.extend_from_slice(&peer.octets());
            out.extend_from_slice(&local.octets());
        }
    }
}

fn emit_prefix(out: &mut Vec<u8>, prefix: IpNet) {
    let len = prefix.prefix_len();
    let n = usize::from(len).div_ceil(8);
    out.push(len);
    match prefix {
        IpNet::V4(p) => out.extend_from_slice(&p.addr().octets()[..n]),
        IpNet::V6(p) => out.extend_from_slice(&p.addr().octets()[..n]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keepalive() -> Vec<u8> {
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&[0, 19, 4]);
        m
    }

    /// A record: header (timestamp, type, subtype, computed length) and body.
    fn record(timestamp: u32, mrt_type: u16, subtype: u16, body: &[u8]) -> Vec<u8> {
        let mut r = timestamp.to_be_bytes().to_vec();
        r.extend_from_slice(&mrt_type.to_be_bytes());
        r.extend_from_slice(&subtype.to_be_bytes());
        r.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn read_all(bytes: &[u8]) -> Vec<Result<(usize, MrtRecord<'_>), MrtError>> {
        MrtReader::new(bytes).collect()
    }

    fn emit(record: &MrtRecord<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        record.emit(&mut out);
        out
    }

    fn only_record(bytes: &[u8]) -> MrtRecord<'_> {
        let mut all = read_all(bytes);
        assert_eq!(all.len(), 1, "{all:?}");
        let (offset, record) = all.remove(0).unwrap();
        assert_eq!(offset, 0);
        assert_eq!(emit(&record), bytes, "emit reproduces the input");
        record
    }

    #[test]
    fn parse_bgp4mp_message_as4_ipv4() {
        let mut body = vec![0, 0, 0xfd, 0xe9, 0xfa, 0x56, 0xea, 0x01, 0, 7, 0, 1];
        body.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
        body.extend_from_slice(&keepalive());
        let bytes = record(1_500_000_000, 16, bgp4mp_subtype::MESSAGE_AS4, &body);
        let r = only_record(&bytes);
        assert_eq!(r.timestamp, 1_500_000_000);
        assert_eq!(r.microseconds, None);
        let MrtBody::Message(m) = &r.body else {
            panic!("{r:?}")
        };
        assert_eq!(
            (m.peer_as, m.local_as, m.interface_index),
            (65001, 4_200_000_001, 7)
        );
        assert_eq!(m.addresses.peer(), IpAddr::from([192, 0, 2, 1]));
        assert_eq!(m.addresses.local(), IpAddr::from([192, 0, 2, 2]));
        assert!(m.four_octet_as && !m.local && !m.add_path);
        assert_eq!(m.message, &keepalive()[..]);
        assert_eq!(
            m.session_params(),
            SessionParams {
                extended_message: true,
                ..SessionParams::modern()
            }
        );
    }

    #[test]
    fn parse_bgp4mp_et_message_local_addpath_ipv6() {
        let mut body = vec![0, 0x0a, 0xae, 0x60]; // microseconds 700_000
        body.extend_from_slice(&[0xfd, 0xe9, 0xfd, 0xea, 0, 0, 0, 2]);
        body.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
        body.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).octets());
        body.extend_from_slice(&keepalive());
        let bytes = record(7, 17, bgp4mp_subtype::MESSAGE_LOCAL_ADDPATH, &body);
        let r = only_record(&bytes);
        assert_eq!(r.microseconds, Some(700_000));
        assert_eq!(r.mrt_type(), MrtType::BGP4MP_ET);
        let MrtBody::Message(m) = &r.body else {
            panic!("{r:?}")
        };
        assert!(!m.four_octet_as && m.local && m.add_path);
        assert_eq!(m.addresses.afi(), Afi::IPV6);
        let params = m.session_params();
        assert!(!params.four_octet_as && params.extended_message);
        assert!(params.add_path.contains(Family::IPV4_UNICAST));
        assert!(params.add_path.contains(Family::IPV6_UNICAST));
        assert!(!params
            .add_path
            .contains(Family::new(Afi::IPV4, Safi::MULTICAST)));
    }

    #[test]
    fn every_message_subtype_round_trips() {
        for subtype in [1, 4, 6, 7, 8, 9, 10, 11] {
            let as_len = if matches!(subtype, 4 | 7 | 9 | 11) {
                4
            } else {
                2
            };
            let mut body = vec![0; 2 * as_len];
            body.extend_from_slice(&[0, 0, 0, 1, 10, 0, 0, 1, 10, 0, 0, 2]);
            body.extend_from_slice(&keepalive());
            let bytes = record(1, 16, subtype, &body);
            let r = only_record(&bytes);
            assert_eq!(r.subtype(), subtype);
        }
    }

    #[test]
    fn parse_state_change_and_state_change_as4() {
        let mut body = vec![0xfd, 0xe9, 0xfd, 0xea, 0, 0, 0, 1, 10, 0, 0, 1, 10, 0, 0, 2];
        body.extend_from_slice(&[0, 1, 0, 6]);
        let bytes = record(3, 16, bgp4mp_subtype::STATE_CHANGE, &body);
        let r = only_record(&bytes);
        let MrtBody::StateChange(s) = r.body else {
            panic!("{r:?}")
        };
        assert_eq!(
            (s.peer_as, s.local_as, s.old_state, s.new_state),
            (65001, 65002, 1, 6)
        );
        assert!(!s.four_octet_as);

        let mut body = vec![
            0, 1, 0, 0, 0, 0, 0xfd, 0xea, 0, 0, 0, 1, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        body.extend_from_slice(&[0, 6, 0, 7]);
        let bytes = record(
            3,
            17,
            bgp4mp_subtype::STATE_CHANGE_AS4,
            &[&[0, 0, 0, 5][..], &body].concat(),
        );
        let r = only_record(&bytes);
        let MrtBody::StateChange(s) = r.body else {
            panic!("{r:?}")
        };
        assert_eq!((s.peer_as, s.new_state), (65536, 7));
        assert!(s.four_octet_as);
    }

    #[test]
    fn parse_peer_index_table() {
        let mut body = vec![198, 51, 100, 1, 0, 4];
        body.extend_from_slice(b"main");
        body.extend_from_slice(&[0, 2]);
        body.extend_from_slice(&[0x00, 10, 0, 0, 1, 192, 0, 2, 1, 0xfd, 0xe9]);
        body.push(0x03);
        body.extend_from_slice(&[10, 0, 0, 2]);
        body.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).octets());
        body.extend_from_slice(&4_200_000_000u32.to_be_bytes());
        let bytes = record(9, 13, td2_subtype::PEER_INDEX_TABLE, &body);
        let r = only_record(&bytes);
        let MrtBody::PeerIndexTable(t) = &r.body else {
            panic!("{r:?}")
        };
        assert_eq!(t.collector_id, Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(t.view_name, b"main");
        assert_eq!(t.peers.len(), 2);
        assert_eq!(t.peers[0].address, IpAddr::from([192, 0, 2, 1]));
        assert_eq!(t.peers[0].asn, 65001);
        assert!(t.peers[1].address.is_ipv6());
        assert_eq!(
            (t.peers[1].bgp_id, t.peers[1].asn),
            (Ipv4Addr::new(10, 0, 0, 2), 4_200_000_000)
        );
    }

    #[test]
    fn parse_rib_ipv4_unicast_two_entries() {
        let attrs_a = [0x40, 1, 1, 0];
        let attrs_b = [0x40, 1, 1, 2, 0x40, 2, 0];
        let mut body = vec![0, 0, 0, 42, 20, 192, 0, 32, 0, 2];
        body.extend_from_slice(&[0, 0, 0, 0, 0, 9, 0, 4]);
        body.extend_from_slice(&attrs_a);
        body.extend_from_slice(&[0, 1, 0, 0, 0, 10, 0, 7]);
        body.extend_from_slice(&attrs_b);
        let bytes = record(9, 13, td2_subtype::RIB_IPV4_UNICAST, &body);
        let r = only_record(&bytes);
        let MrtBody::Rib(rib) = &r.body else {
            panic!("{r:?}")
        };
        assert_eq!(rib.sequence, 42);
        assert_eq!(rib.prefix, "192.0.32.0/20".parse::<IpNet>().unwrap());
        assert_eq!(rib.family(), Family::IPV4_UNICAST);
        assert_eq!(rib.entries.len(), 2);
        assert_eq!(
            rib.entries[1],
            RibEntry {
                peer_index: 1,
                originated_time: 10,
                path_id: None,
                attributes: &attrs_b
            }
        );
    }

    #[test]
    fn parse_rib_ipv6_multicast_addpath_keeps_host_bits() {
        // /17 with a set bit past the prefix length: kept so the record re-emits unchanged.
        let mut body = vec![0, 0, 0, 1, 17, 0x20, 0x01, 0xff, 0, 1];
        body.extend_from_slice(&[0, 3, 0, 0, 0, 1, 0, 0, 0, 77, 0, 0]);
        let bytes = record(9, 13, td2_subtype::RIB_IPV6_MULTICAST_ADDPATH, &body);
        let r = only_record(&bytes);
        let MrtBody::Rib(rib) = &r.body else {
            panic!("{r:?}")
        };
        assert_eq!(rib.family(), Family::new(Afi::IPV6, Safi::MULTICAST));
        assert!(rib.add_path && rib.multicast);
        assert_eq!(rib.prefix.to_string(), "2001:ff00::/17");
        assert_eq!(rib.entries[0].path_id, Some(77));
        assert!(rib.entries[0].attributes.is_empty());
    }

    #[test]
    fn parse_rib_generic_is_opaque_after_safi() {
        let body = [0, 0, 0, 5, 0, 1, 128, 0xaa, 0xbb, 0xcc];
        let bytes = record(9, 13, td2_subtype::RIB_GENERIC, &body);
        let r = only_record(&bytes);
        let MrtBody::RibGeneric(g) = &r.body else {
            panic!("{r:?}")
        };
        assert_eq!(
            (g.sequence, g.afi, g.safi, g.add_path),
            (5, Afi::IPV4, Safi::MPLS_VPN, false)
        );
        assert_eq!(g.rest, &[0xaa, 0xbb, 0xcc]);
    }

    #[test]
    fn parse_table_dump_v1_ipv4() {
        let attrs = [0x40, 1, 1, 0];
        let mut body = vec![
            0, 0, 0, 3, 10, 1, 0, 0, 16, 1, 0, 0, 0, 99, 192, 0, 2, 9, 0xfd, 0xe9, 0, 4,
        ];
        body.extend_from_slice(&attrs);
        let bytes = record(9, 12, 1, &body);
        let r = only_record(&bytes);
        let MrtBody::TableDump(t) = &r.body else {
            panic!("{r:?}")
        };
        assert_eq!(t.prefix, "10.1.0.0/16".parse::<IpNet>().unwrap());
        assert_eq!(
            (t.sequence, t.status, t.originated_time, t.peer_as),
            (3, 1, 99, 65001)
        );
        assert_eq!(t.peer_ip, IpAddr::from([192, 0, 2, 9]));
        assert_eq!(t.attributes, &attrs);
    }

    #[test]
    fn unknown_types_and_subtypes_are_opaque() {
        let a = record(1, 5, 1, &[1, 2, 3]);
        let b = record(1, 16, bgp4mp_subtype::ENTRY, &[4, 5]);
        let c = record(1, 33, 1, &[0, 0, 0, 9, 6]);
        let bytes = [a.clone(), b.clone(), c.clone()].concat();
        let records: Vec<_> = read_all(&bytes).into_iter().map(Result::unwrap).collect();
        assert_eq!(records.len(), 3);
        assert_eq!(
            records[0].1.body,
            MrtBody::Unknown {
                mrt_type: MrtType::BGP,
                subtype: 1,
                data: &[1, 2, 3]
            }
        );
        assert_eq!(records[1].0, a.len());
        assert_eq!(
            records[1].1.body,
            MrtBody::Unknown {
                mrt_type: MrtType::BGP4MP,
                subtype: 2,
                data: &[4, 5]
            }
        );
        assert_eq!(records[2].1.microseconds, Some(9));
        assert_eq!(
            records[2].1.body,
            MrtBody::Unknown {
                mrt_type: MrtType::ISIS_ET,
                subtype: 1,
                data: &[6]
            }
        );
        let mut out = Vec::new();
        for (_, r) in &records {
            r.emit(&mut out);
        }
        assert_eq!(out, bytes);
    }

    #[test]
    fn parse_truncated_header_ends_iteration() {
        let mut bytes = record(1, 5, 1, &[]);
        bytes.extend_from_slice(&[0, 0, 0]);
        let all = read_all(&bytes);
        assert_eq!(all.len(), 2);
        assert!(all[0].is_ok());
        let err = all[1].clone().unwrap_err();
        assert_eq!(err.kind, MrtErrorKind::TruncatedHeader { available: 3 });
        assert_eq!(err.offset, 12);
    }

    #[test]
    fn parse_record_longer_than_input_ends_iteration() {
        // A good record, then one cut 5 bytes short (the end of a truncated download).
        let mut bytes = record(1, 5, 1, &[]);
        bytes.extend_from_slice(&record(1, 16, 1, &[0; 30]));
        bytes.truncate(bytes.len() - 5);
        let all = read_all(&bytes);
        assert_eq!(all.len(), 2);
        assert!(all[0].is_ok());
        assert_eq!(
            all[1].clone().unwrap_err(),
            MrtError {
                kind: MrtErrorKind::TruncatedRecord {
                    declared: 30,
                    available: 25
                },
                offset: 12,
                context: "MRT record length"
            }
        );
    }

    #[test]
    fn malformed_body_is_an_error_and_reading_goes_on() {
        // STATE_CHANGE cut short (a historic Zebra bug), then a good record.
        let bad = record(
            1,
            16,
            bgp4mp_subtype::STATE_CHANGE,
            &[0, 1, 0, 2, 0, 0, 0, 1, 10, 0, 0, 1, 10, 0, 0, 2, 0, 1],
        );
        let good = record(2, 5, 1, &[]);
        let bytes = [bad.clone(), good].concat();
        let all = read_all(&bytes);
        assert_eq!(all.len(), 2);
        let err = all[0].clone().unwrap_err();
        assert_eq!(
            (err.kind, err.offset, err.context),
            (MrtErrorKind::TruncatedField, 12 + 18, "new state")
        );
        assert_eq!(all[1].as_ref().unwrap().0, bad.len());
    }

    #[test]
    fn parse_errors_name_the_field() {
        let bytes = record(1, 16, 1, &[0, 1, 0, 2, 0, 0, 0, 9]);
        let err = read_all(&bytes)[0].clone().unwrap_err();
        assert_eq!(
            (err.kind, err.offset),
            (MrtErrorKind::UnsupportedAfi { afi: 9 }, 12 + 6)
        );

        let bytes = record(1, 13, 2, &[0, 0, 0, 1, 33, 0, 0, 0, 0, 0]);
        let err = read_all(&bytes)[0].clone().unwrap_err();
        assert_eq!(
            (err.kind, err.offset),
            (MrtErrorKind::InvalidPrefixLength { length: 33 }, 12 + 4)
        );

        let bytes = record(1, 13, 2, &[0, 0, 0, 1, 8, 10, 0, 0, 0xff]);
        let err = read_all(&bytes)[0].clone().unwrap_err();
        assert_eq!(
            (err.kind, err.offset),
            (MrtErrorKind::TrailingBytes { count: 1 }, 12 + 8)
        );

        let bytes = record(1, 13, 1, &[1, 2, 3, 4, 0, 9, b'x']);
        let err = read_all(&bytes)[0].clone().unwrap_err();
        assert_eq!(
            (err.kind, err.context),
            (MrtErrorKind::TruncatedField, "view name")
        );

        let bytes = record(1, 17, 1, &[0, 0]);
        let err = read_all(&bytes)[0].clone().unwrap_err();
        assert_eq!((err.kind, err.offset), (MrtErrorKind::TruncatedField, 12));
    }

    #[test]
    fn emit_forces_as4_subtypes_for_large_as_numbers() {
        let addresses = PeerAddresses::V4 {
            peer: Ipv4Addr::new(10, 0, 0, 1),
            local: Ipv4Addr::new(10, 0, 0, 2),
        };
        let message = keepalive();
        let record = MrtRecord {
            timestamp: 1,
            microseconds: None,
            body: MrtBody::Message(Bgp4mpMessage {
                four_octet_as: false,
                local: false,
                add_path: true,
                peer_as: 4_200_000_000,
                local_as: 1,
                interface_index: 0,
                addresses,
                message: &message,
            }),
        };
        let bytes = emit(&record);
        assert_eq!(
            &bytes[6..8],
            &bgp4mp_subtype::MESSAGE_AS4_ADDPATH.to_be_bytes()
        );
        let read = only_record(&bytes);
        let MrtBody::Message(m) = read.body else {
            panic!()
        };
        assert_eq!((m.peer_as, m.four_octet_as), (4_200_000_000, true));

        let state = MrtRecord {
            timestamp: 1,
            microseconds: Some(5),
            body: MrtBody::StateChange(Bgp4mpStateChange {
                four_octet_as: false,
                peer_as: 1,
                local_as: 70000,
                interface_index: 0,
                addresses,
                old_state: 1,
                new_state: 2,
            }),
        };
        let bytes = emit(&state);
        assert_eq!(&bytes[4..8], &[0, 17, 0, 5]);
        let MrtBody::StateChange(s) = only_record(&bytes).body else {
            panic!()
        };
        assert_eq!(s.local_as, 70000);

        let peer = PeerEntry {
            peer_type: 0,
            bgp_id: Ipv4Addr::LOCALHOST,
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            asn: 70000,
        };
        let table = MrtRecord {
            timestamp: 1,
            microseconds: None,
            body: MrtBody::PeerIndexTable(PeerIndexTable {
                collector_id: Ipv4Addr::LOCALHOST,
                view_name: b"",
                peers: vec![peer],
            }),
        };
        let bytes = emit(&table);
        let MrtBody::PeerIndexTable(t) = only_record(&bytes).body else {
            panic!()
        };
        assert_eq!(
            (t.peers[0].asn, t.peers[0].peer_type),
            (70000, PeerEntry::TYPE_AS4)
        );
    }

    #[test]
    fn abbreviated_mp_reach_is_expanded_and_others_copied() {
        // ORIGIN, abbreviated MP_REACH (next hop 2001:db8::1), unknown attribute 99.
        let mut attrs = vec![0x40, 1, 1, 0, 0x80, 14, 17, 16];
        attrs.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
        attrs.extend_from_slice(&[0xc0, 99, 2, 7, 7]);
        let mut out = Vec::new();
        expand_abbreviated_mp_reach(&attrs, Family::IPV6_UNICAST, &mut out);
        let mut expected = vec![0x40, 1, 1, 0, 0x80, 14, 21, 0, 2, 1, 16];
        expected.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
        expected.push(0);
        expected.extend_from_slice(&[0xc0, 99, 2, 7, 7]);
        assert_eq!(out, expected);

        // A full MP_REACH (extended length) and malformed trailing framing pass unchanged.
        let mut full = vec![0x90, 14, 0, 9, 0, 1, 1, 4, 10, 0, 0, 1, 0];
        full.extend_from_slice(&[0x40, 1]);
        let mut out = Vec::new();
        expand_abbreviated_mp_reach(&full, Family::IPV4_UNICAST, &mut out);
        assert_eq!(out, full);
    }

    #[test]
    fn names_of_types_and_subtypes() {
        assert_eq!(MrtType(13).name(), Some("TABLE_DUMP_V2"));
        assert_eq!(MrtType(99).name(), None);
        assert_eq!(
            subtype_name(MrtType::BGP4MP_ET, 9),
            Some("MESSAGE_AS4_ADDPATH")
        );
        assert_eq!(
            subtype_name(MrtType::TABLE_DUMP_V2, 10),
            Some("RIB_IPV6_UNICAST_ADDPATH")
        );
        assert_eq!(subtype_name(MrtType::TABLE_DUMP, 2), Some("AFI_IPv6"));
        assert_eq!(subtype_name(MrtType::BGP, 1), None);
    }

    #[test]
    fn empty_input_yields_nothing() {
        assert!(MrtReader::new(&[]).next().is_none());
    }
}

#[cfg(test)]
mod rib_attribute_tests {
    use super::*;
    use crate::attr::{AttrValue, MpNextHop, MpNlri, MpReach};

    #[test]
    fn decode_rib_attributes_expands_abbreviated_mp_reach() {
        // ORIGIN IGP, AS_PATH [65001 4200000001] (4-octet), abbreviated MP_REACH with next
        // hop 2001:db8::1, as OpenBGPD writes IPv6 RIB entries.
        let mut attrs = vec![
            0x40, 1, 1, 0, 0x40, 2, 10, 2, 2, 0, 0, 0xfd, 0xe9, 0xfa, 0x56, 0xea, 0x01,
        ];
        attrs.extend_from_slice(&[0x80, 14, 17, 16]);
        attrs.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
        let decoded = decode_rib_attributes(&attrs, Family::IPV6_UNICAST, true).unwrap();
        assert!(decoded.issues.is_empty(), "{:?}", decoded.issues);
        assert_eq!(decoded.attributes.len(), 3);
        let AttrValue::AsPath(path) = &decoded.attributes[1].value else {
            panic!("{decoded:?}")
        };
        assert_eq!(path.origin_as(), Some(4_200_000_001));
        assert_eq!(
            decoded.attributes[2].value,
            AttrValue::MpReachNlri(MpReach {
                family: Family::IPV6_UNICAST,
                next_hop: MpNextHop::Ipv6 {
                    global: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
                    link_local: None
                },
                reserved: 0,
                nlri: MpNlri::Prefixes(Vec::new()),
            })
        );
    }

    #[test]
    fn decode_rib_attributes_takes_the_full_form_too() {
        // The full RFC 4760 form that Quagga, FRR and the RIS dumps write.
        let mut attrs = vec![0x40, 1, 1, 2, 0x80, 14, 21, 0, 2, 1, 16];
        attrs.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9).octets());
        attrs.push(0);
        let decoded = decode_rib_attributes(&attrs, Family::IPV6_UNICAST, true).unwrap();
        let AttrValue::MpReachNlri(reach) = &decoded.attributes[1].value else {
            panic!("{decoded:?}")
        };
        assert_eq!(reach.family, Family::IPV6_UNICAST);
    }

    #[test]
    fn table_dump_v1_attributes_are_two_octet_as() {
        let attrs = [0x40, 1, 1, 0, 0x40, 2, 6, 2, 2, 0xfd, 0xe9, 0x5b, 0xa0];
        let entry = TableDumpEntry {
            view_number: 0,
            sequence: 0,
            prefix: "10.0.0.0/8".parse().unwrap(),
            status: 1,
            originated_time: 0,
            peer_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            peer_as: 65001,
            attributes: &attrs,
        };
        let decoded = entry.decode_attributes().unwrap();
        let AttrValue::AsPath(path) = &decoded.attributes[1].value else {
            panic!("{decoded:?}")
        };
        assert_eq!(path.segments[0].asns.as_slice(), &[65001, 23456]);
    }

    #[test]
    fn malformed_rib_attributes_are_an_error_not_a_panic() {
        // An attribute whose length runs past the end: RFC 7606 treat-as-withdraw, the
        // attribute left out, offsets counted from the start of the attribute field.
        let decoded = decode_rib_attributes(&[0x40, 1, 9, 0], Family::IPV4_UNICAST, true).unwrap();
        assert!(decoded.attributes.is_empty());
        assert_eq!(decoded.issues.len(), 1);
        assert_eq!(
            decoded.issues[0].treatment,
            crate::Treatment::TreatAsWithdraw
        );
        assert_eq!(decoded.issues[0].error.offset, 0);
        // Garbage of every short length.
        for len in 0..8u8 {
            let bytes: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37)).collect();
            let _ = decode_rib_attributes(&bytes, Family::IPV6_UNICAST, true);
        }
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    /// Records with a valid header over the types and subtypes this module knows, and an
    /// arbitrary body: most bodies are malformed, some parse.
    fn record_bytes() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<u32>(),
            prop::sample::select(vec![5u16, 12, 13, 16, 17, 33, 48]),
            0u16..14,
            prop::collection::vec(any::<u8>(), 0..96),
        )
            .prop_map(|(ts, mrt_type, subtype, body)| {
                let mut r = ts.to_be_bytes().to_vec();
                r.extend_from_slice(&mrt_type.to_be_bytes());
                r.extend_from_slice(&subtype.to_be_bytes());
                r.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
                r.extend_from_slice(&body);
                r
            })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_end(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut steps = 0;
            for item in MrtReader::new(&bytes) {
                steps += 1;
                if let Ok((offset, record)) = item {
                    prop_assert!(offset + MRT_HEADER_LEN <= bytes.len());
                    let mut out = Vec::new();
                    record.emit(&mut out);
                }
            }
            prop_assert!(steps <= bytes.len() / MRT_HEADER_LEN + 1);
        }

        #[test]
        fn records_that_read_reemit_byte_for_byte(records in prop::collection::vec(record_bytes(), 1..8)) {
            let file = records.concat();
            let mut offset = 0;
            for (item, original) in MrtReader::new(&file).zip(&records) {
                if let Ok((at, record)) = item {
                    prop_assert_eq!(at, offset);
                    let mut out = Vec::new();
                    record.emit(&mut out);
                    prop_assert_eq!(&out, original);
                    // And what was written reads back equal.
                    let (_, again) = MrtReader::new(&out).next().unwrap().unwrap();
                    prop_assert_eq!(again, record);
                }
                offset += original.len();
            }
        }
    }
}
