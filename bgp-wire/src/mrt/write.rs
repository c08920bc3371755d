//! Writing: a record back to its bytes.

use std::net::IpAddr;

use ipnet::IpNet;

use super::*;

/// Why [`MrtRecord::emit`] refused a record: a value that its MRT field cannot hold. Records
/// read by [`MrtReader`] never give one; records built by hand may.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MrtEncodeError {
    /// A count or length longer than its field can say.
    #[error("MRT {field} of {len} exceeds the {max} its length field can hold")]
    TooLong {
        /// The field, for humans ("RIB entry attributes", "view name", ...).
        field: &'static str,
        /// The length or count of the value.
        len: usize,
        /// The most the field can say.
        max: usize,
    },
    /// A TABLE_DUMP record's peer address is written in its prefix's family (RFC 6396
    /// section 4.2); an IPv6 peer of an IPv4 prefix fits only when it is IPv4-mapped.
    #[error("TABLE_DUMP peer {peer} cannot be written in the IPv4 record of {prefix}")]
    TableDumpPeerFamily {
        /// The peer address.
        peer: IpAddr,
        /// The record's prefix.
        prefix: IpNet,
    },
}

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
    /// # Errors
    ///
    /// [`MrtEncodeError::TooLong`] when a length field would overflow: a RIB entry's or
    /// TABLE_DUMP record's attributes or a view name above 65535 bytes, more than 65535
    /// entries or peers, or a record body above 4 GiB; [`MrtEncodeError::TableDumpPeerFamily`]
    /// for an IPv6 peer of an IPv4 TABLE_DUMP record that is not IPv4-mapped. Records read
    /// by [`MrtReader`] never give one. On error `out` is left as it was.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), MrtEncodeError> {
        let start = out.len();
        let written = self.emit_unchecked_lengths(out, start);
        if written.is_err() {
            out.truncate(start);
        }
        written
    }

    fn emit_unchecked_lengths(
        &self,
        out: &mut Vec<u8>,
        start: usize,
    ) -> Result<(), MrtEncodeError> {
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
                out.extend_from_slice(&len16(p.view_name.len(), "view name")?.to_be_bytes());
                out.extend_from_slice(p.view_name);
                out.extend_from_slice(&len16(p.peers.len(), "peer count")?.to_be_bytes());
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
                out.extend_from_slice(&len16(r.entries.len(), "RIB entry count")?.to_be_bytes());
                for e in &r.entries {
                    out.extend_from_slice(&e.peer_index.to_be_bytes());
                    out.extend_from_slice(&e.originated_time.to_be_bytes());
                    if r.add_path {
                        out.extend_from_slice(&e.path_id.unwrap_or(0).to_be_bytes());
                    }
                    out.extend_from_slice(
                        &len16(e.attributes.len(), "RIB entry attributes")?.to_be_bytes(),
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
                    (IpNet::V4(_), IpAddr::V6(a)) => {
                        let mapped =
                            a.to_ipv4_mapped()
                                .ok_or(MrtEncodeError::TableDumpPeerFamily {
                                    peer: t.peer_ip,
                                    prefix: t.prefix,
                                })?;
                        out.extend_from_slice(&mapped.octets());
                    }
                    (IpNet::V6(_), IpAddr::V6(a)) => out.extend_from_slice(&a.octets()),
                    (IpNet::V6(_), IpAddr::V4(a)) => {
                        out.extend_from_slice(&a.to_ipv6_mapped().octets())
                    }
                }
                out.extend_from_slice(&t.peer_as.to_be_bytes());
                out.extend_from_slice(
                    &len16(t.attributes.len(), "TABLE_DUMP attributes")?.to_be_bytes(),
                );
                out.extend_from_slice(t.attributes);
            }
            MrtBody::Unknown { data, .. } => out.extend_from_slice(data),
        }
        let body_len = out.len() - start - MRT_HEADER_LEN;
        let body_len = u32::try_from(body_len).map_err(|_| MrtEncodeError::TooLong {
            field: "record body",
            len: body_len,
            max: u32::MAX as usize,
        })?;
        out[start + 8..start + 12].copy_from_slice(&body_len.to_be_bytes());
        Ok(())
    }
}

fn len16(len: usize, field: &'static str) -> Result<u16, MrtEncodeError> {
    u16::try_from(len).map_err(|_| MrtEncodeError::TooLong {
        field,
        len,
        max: usize::from(u16::MAX),
    })
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
