//! Reading: framing records out of a byte slice and parsing their bodies.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::*;
use crate::types::{Afi, Safi};

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

/// Iterates over the records of decompressed MRT data, yielding each with the byte offset
/// of its header.
///
/// A record whose body is malformed yields an error and the reader moves on to the next
/// one (the header said where it ends). A header that is cut short, or a Length that runs
/// past the end of the input, yields an error and ends the iteration. Each step consumes
/// at least one 12-byte header or one TABLE_DUMP entry, so iteration ends in bounded time;
/// nothing is allocated from a length read in the input.
///
/// # Batched TABLE_DUMP records (a repair)
///
/// The RIPE RIS TABLE_DUMP dumps of early 2000 (rrc00's `bview.20000111.0032`, written by
/// an early Zebra) frame records in a way RFC 6396 does not describe: one record holds
/// every entry of a prefix. Its body is the view and sequence numbers (2 octets each)
/// once, then entries without them (prefix, length, status, originated time, peer
/// address, peer AS, attribute length, attributes), and its header's Length leaves out
/// the leading 4 octets. Read as RFC 6396 says, the first record has trailing bytes and
/// every later header is read 4 octets early, so nothing after it can be read.
///
/// When a TABLE_DUMP record fails to parse as RFC 6396 lays it out, but its body read
/// that way (Length + 4 octets) splits into whole entries and is followed by the end of
/// the input or by another TABLE_DUMP header, the reader yields each entry as its own
/// [`TableDumpEntry`] with the batch's timestamp, view and sequence numbers, at the offset
/// of the entry. [`MrtReader::repairs`] counts the records and entries so read. Such
/// records re-emit in the RFC 6396 form (one record per entry), not as they were read.
#[derive(Clone, Debug)]
pub struct MrtReader<'a> {
    input: &'a [u8],
    offset: usize,
    done: bool,
    /// The batched TABLE_DUMP record whose entries are being yielded.
    batch: Option<TableDumpBatch>,
    repairs: MrtRepairs,
    /// The input is a prefix of a longer stream (see [`MrtReader::new_partial`]).
    more_to_come: bool,
}

/// Whether a TABLE_DUMP record that RFC 6396 cannot read is a batch.
enum BatchCheck {
    /// It is; its entries end here.
    Batch(usize),
    /// It is not.
    NotBatch,
    /// The input ends before that can be told.
    NeedMore,
}

/// What an [`MrtReader`] has repaired so far (see its "Batched TABLE_DUMP records").
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct MrtRepairs {
    /// Batched TABLE_DUMP records read as batches.
    pub batched_table_dump_records: usize,
    /// The entries yielded from them, one [`MrtBody::TableDump`] record each.
    pub batched_table_dump_entries: usize,
}

/// A batched TABLE_DUMP record being split into its entries.
#[derive(Clone, Copy, Debug)]
struct TableDumpBatch {
    timestamp: u32,
    v6: bool,
    view_number: u16,
    sequence: u16,
    /// Offset of the byte after the batch's last entry.
    end: usize,
}

impl<'a> MrtReader<'a> {
    /// A reader over `input`, starting at its first byte.
    pub fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            offset: 0,
            done: false,
            batch: None,
            repairs: MrtRepairs::default(),
            more_to_come: false,
        }
    }

    /// A reader over `input` that is the start of a longer stream (a chunk of a file read
    /// piece by piece). A record cut by the end of `input` ends the iteration without an
    /// error, as does a TABLE_DUMP record that cannot be told from a batch without the
    /// bytes that follow it; [`MrtReader::offset`] is then the offset of that record,
    /// where reading resumes once more bytes are there. Read the last piece of the stream
    /// with [`MrtReader::new`], so that a record the stream really cuts short is reported.
    pub fn new_partial(input: &'a [u8]) -> Self {
        Self {
            more_to_come: true,
            ..Self::new(input)
        }
    }

    /// Offset of the next record (or batched TABLE_DUMP entry) to read; the input length
    /// once all are read.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// What the reader has repaired so far.
    pub fn repairs(&self) -> MrtRepairs {
        self.repairs
    }

    /// The next entry of the current batch, if one is left.
    fn next_batched_entry(&mut self) -> Option<Result<(usize, MrtRecord<'a>), MrtError>> {
        let batch = self.batch?;
        let start = self.offset;
        if start >= batch.end {
            self.batch = None;
            return None;
        }
        let mut f = Fields {
            bytes: &self.input[start..batch.end],
            pos: 0,
            base: start,
        };
        let entry = parse_table_dump_entry(batch.view_number, batch.sequence, batch.v6, &mut f);
        match entry {
            Ok(entry) => {
                self.offset = start + f.pos;
                self.repairs.batched_table_dump_entries += 1;
                let record = MrtRecord {
                    timestamp: batch.timestamp,
                    microseconds: None,
                    body: MrtBody::TableDump(entry),
                };
                Some(Ok((start, record)))
            }
            Err(e) => {
                // Not reached: the batch was split once before it was accepted.
                self.offset = batch.end;
                self.batch = None;
                Some(Err(e))
            }
        }
    }

    /// Whether the TABLE_DUMP record whose header is at `start` is a batch (see the type's
    /// docs), and where its entries end when it is.
    fn batch_check(&self, start: usize, declared: u32, v6: bool) -> BatchCheck {
        let body = start + MRT_HEADER_LEN;
        let Some(end) = usize::try_from(declared)
            .ok()
            .and_then(|len| body.checked_add(len)?.checked_add(4))
        else {
            return BatchCheck::NotBatch;
        };
        let Some(entries) = self.input.get(body + 4..end) else {
            return if self.more_to_come {
                BatchCheck::NeedMore
            } else {
                BatchCheck::NotBatch
            };
        };
        let mut f = Fields {
            bytes: entries,
            pos: 0,
            base: body + 4,
        };
        while f.pos < entries.len() {
            if parse_table_dump_entry(0, 0, v6, &mut f).is_err() {
                return BatchCheck::NotBatch;
            }
        }
        // The type field of the header that follows.
        let next_header_type = self.input.get(end + 4..end + 6);
        if next_header_type.is_none() && self.more_to_come {
            return BatchCheck::NeedMore;
        }
        let followed_well = end == self.input.len()
            || next_header_type == Some(&MrtType::TABLE_DUMP.0.to_be_bytes()[..]);
        if !entries.is_empty() && followed_well {
            BatchCheck::Batch(end)
        } else {
            BatchCheck::NotBatch
        }
    }
}

impl<'a> Iterator for MrtReader<'a> {
    type Item = Result<(usize, MrtRecord<'a>), MrtError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.batch.is_some() {
            if let Some(entry) = self.next_batched_entry() {
                return Some(entry);
            }
        }
        let start = self.offset;
        let rest = self.input.get(start..).unwrap_or_default();
        if rest.is_empty() {
            self.done = true;
            return None;
        }
        let Some(header) = rest.get(..MRT_HEADER_LEN) else {
            self.done = true;
            if self.more_to_come {
                return None;
            }
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
                if self.more_to_come {
                    return None;
                }
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
        if result.is_err() && mrt_type == MrtType::TABLE_DUMP && matches!(subtype, 1 | 2) {
            let v6 = subtype == 2;
            let end = match self.batch_check(start, declared, v6) {
                BatchCheck::Batch(end) => Some(end),
                BatchCheck::NotBatch => None,
                BatchCheck::NeedMore => {
                    self.offset = start;
                    self.done = true;
                    return None;
                }
            };
            if let Some(end) = end {
                let view_and_sequence = &rest[MRT_HEADER_LEN..MRT_HEADER_LEN + 4];
                self.batch = Some(TableDumpBatch {
                    timestamp,
                    v6,
                    view_number: u16::from_be_bytes([view_and_sequence[0], view_and_sequence[1]]),
                    sequence: u16::from_be_bytes([view_and_sequence[2], view_and_sequence[3]]),
                    end,
                });
                self.offset = start + MRT_HEADER_LEN + 4;
                self.repairs.batched_table_dump_records += 1;
                return self.next_batched_entry();
            }
        }
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
    let entry = parse_table_dump_entry(view_number, sequence, subtype == 2, f)?;
    f.finish("after TABLE_DUMP attributes")?;
    Ok(Some(MrtBody::TableDump(entry)))
}

/// The fields of a TABLE_DUMP record after the view and sequence numbers.
fn parse_table_dump_entry<'a>(
    view_number: u16,
    sequence: u16,
    v6: bool,
    f: &mut Fields<'a>,
) -> Result<TableDumpEntry<'a>, MrtError> {
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
    Ok(TableDumpEntry {
        view_number,
        sequence,
        prefix,
        status,
        originated_time,
        peer_ip,
        peer_as,
        attributes,
    })
}
