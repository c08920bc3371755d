//! The record types: what an MRT record holds once its framing is read.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::{bgp4mp_subtype, decode_rib_attributes, td2_subtype, MrtType, RibAttributes};
use crate::error::DecodeError;
use crate::message::Message;
use crate::types::{AddPathFamilies, Afi, Family, Safi, SessionParams};

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

    pub(super) fn wire_four_octet_as(&self) -> bool {
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

    pub(super) fn wire_type(&self) -> u8 {
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
    /// IPv4-mapped address, an IPv4-mapped IPv6 peer of an IPv4 prefix as its IPv4 part;
    /// any other IPv6 peer of an IPv4 prefix is refused by [`MrtRecord::emit`]. Records
    /// read from a file always agree.
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
