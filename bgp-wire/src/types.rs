//! Address families, NLRI and the negotiated session parameters decoding depends on.

use ipnet::IpNet;
use smallvec::SmallVec;

/// Address Family Identifier (IANA registry), an open code point.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Afi(pub u16);

impl Afi {
    /// IPv4.
    pub const IPV4: Self = Self(1);
    /// IPv6.
    pub const IPV6: Self = Self(2);
    /// Layer 2 VPN (EVPN, VPLS).
    pub const L2VPN: Self = Self(25);
    /// BGP-LS.
    pub const BGP_LS: Self = Self(16388);
}

/// Subsequent Address Family Identifier (IANA registry), an open code point.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Safi(pub u8);

impl Safi {
    /// Unicast.
    pub const UNICAST: Self = Self(1);
    /// Multicast.
    pub const MULTICAST: Self = Self(2);
    /// Labeled unicast (RFC 8277).
    pub const LABELED_UNICAST: Self = Self(4);
    /// EVPN (RFC 7432).
    pub const EVPN: Self = Self(70);
    /// MPLS VPN (RFC 4364).
    pub const MPLS_VPN: Self = Self(128);
    /// FlowSpec (RFC 8955).
    pub const FLOWSPEC: Self = Self(133);
}

/// An address family: AFI and SAFI together.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Family {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
}

impl Family {
    /// IPv4 unicast.
    pub const IPV4_UNICAST: Self = Self {
        afi: Afi::IPV4,
        safi: Safi::UNICAST,
    };
    /// IPv6 unicast.
    pub const IPV6_UNICAST: Self = Self {
        afi: Afi::IPV6,
        safi: Safi::UNICAST,
    };

    /// Builds a family from its parts.
    pub const fn new(afi: Afi, safi: Safi) -> Self {
        Self { afi, safi }
    }

    /// Whether NLRI of this family is decoded into [`Nlri`] values (IPv4/IPv6 unicast and
    /// multicast); other families are kept as opaque bytes.
    pub fn is_ip_prefix_family(self) -> bool {
        matches!(self.afi, Afi::IPV4 | Afi::IPV6)
            && matches!(self.safi, Safi::UNICAST | Safi::MULTICAST)
    }
}

/// The families for which ADD-PATH path identifiers are present on received NLRI
/// (RFC 7911: the peer advertised "send" and we advertised "receive").
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct AddPathFamilies(pub SmallVec<[Family; 2]>);

impl AddPathFamilies {
    /// No family carries path identifiers.
    pub fn none() -> Self {
        Self(SmallVec::new())
    }
    /// Whether `family` carries path identifiers.
    pub fn contains(&self, family: Family) -> bool {
        self.0.contains(&family)
    }
    /// Adds `family`, once.
    pub fn insert(&mut self, family: Family) {
        if !self.contains(family) {
            self.0.push(family);
        }
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for AddPathFamilies {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let families: Vec<Family> = u.arbitrary()?;
        Ok(Self(families.into()))
    }
}

/// What was negotiated on the session a message travels on; decoding and encoding depend
/// on it. Build it by struct literal: `SessionParams { four_octet_as: true, ..Default::default() }`.
///
/// The default is a plain RFC 4271 session: 2-octet AS numbers, no ADD-PATH, 4096-byte
/// messages.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SessionParams {
    /// Both sides advertised the 4-octet AS capability (RFC 6793): AS_PATH and AGGREGATOR
    /// carry 4-octet AS numbers.
    pub four_octet_as: bool,
    /// Families whose NLRI carry a 4-byte path identifier (RFC 7911).
    pub add_path: AddPathFamilies,
    /// Both sides advertised the extended message capability (RFC 8654): messages other
    /// than OPEN and KEEPALIVE may be up to 65535 bytes.
    pub extended_message: bool,
}

impl SessionParams {
    /// Parameters of a session with 4-octet AS numbers and nothing else, the common modern case.
    pub fn modern() -> Self {
        Self {
            four_octet_as: true,
            ..Self::default()
        }
    }

    /// The largest message this session may carry (4096, or 65535 with RFC 8654).
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            crate::MAX_EXTENDED_MESSAGE_LEN
        } else {
            crate::MAX_MESSAGE_LEN
        }
    }
}

/// One IP prefix of an NLRI or withdrawn-routes field, with its ADD-PATH path identifier
/// when the session negotiated one for its family.
///
/// Trailing bits past the prefix length are irrelevant (RFC 4271 section 4.3) and are
/// cleared when decoding, so two encodings that differ only there decode equal.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Nlri {
    /// The prefix, host bits cleared.
    pub prefix: IpNet,
    /// The RFC 7911 path identifier, present only on ADD-PATH sessions.
    pub path_id: Option<u32>,
}

/// `prefix` with its host bits cleared: itself when it has none (the common case: a
/// prefix decoded or taken from a table), which costs a mask and a comparison where
/// [`IpNet::trunc`] builds and checks a new prefix.
fn truncated(prefix: IpNet) -> IpNet {
    if prefix.addr() == prefix.network() {
        prefix
    } else {
        prefix.trunc()
    }
}

impl Nlri {
    /// A prefix without path identifier; host bits are cleared.
    pub fn new(prefix: IpNet) -> Self {
        Self {
            prefix: truncated(prefix),
            path_id: None,
        }
    }
    /// A prefix with a path identifier; host bits are cleared.
    pub fn with_path_id(prefix: IpNet, path_id: u32) -> Self {
        Self {
            prefix: truncated(prefix),
            path_id: Some(path_id),
        }
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Nlri {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let prefix = if u.arbitrary()? {
            let addr = std::net::Ipv4Addr::from(u.arbitrary::<u32>()?);
            IpNet::V4(ipnet::Ipv4Net::new(addr, u.int_in_range(0..=32)?).expect("length in range"))
        } else {
            let addr = std::net::Ipv6Addr::from(u.arbitrary::<u128>()?);
            IpNet::V6(ipnet::Ipv6Net::new(addr, u.int_in_range(0..=128)?).expect("length in range"))
        };
        Ok(Self {
            prefix: prefix.trunc(),
            path_id: u.arbitrary()?,
        })
    }
}

/// ORIGIN attribute value (RFC 4271 section 5.1.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Origin {
    /// Learned from an interior protocol (0).
    Igp = 0,
    /// Learned from EGP (1).
    Egp = 1,
    /// Learned by other means (2).
    Incomplete = 2,
}
