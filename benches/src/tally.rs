//! The checksum every benchmark adapter folds its decoded values into.

/// What an adapter saw while walking decoded messages: counts of the values that every
/// decoder exposes, order-independent sums of their canonical forms, and a decoder-specific
/// fold of everything else.
///
/// Two decoders that decoded the same bytes faithfully agree on every field but
/// [`Tally::other`]: the sums ignore order (a decoder that sorts communities still
/// agrees), the counts catch a decoder that drops or merges values (one that
/// de-duplicates communities does not). `other` is there so that no decoded field goes
/// unread; the benches pass the whole tally to `black_box`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Tally {
    /// BGP messages decoded.
    pub messages: u64,
    /// Path attributes seen (unknown ones included).
    pub attributes: u64,
    /// IP prefixes: withdrawn, announced, and those of MP_REACH/MP_UNREACH for IPv4/IPv6
    /// unicast and multicast.
    pub prefixes: u64,
    /// Sum of the canonical form of every prefix (host bits cleared).
    pub prefix_sum: u64,
    /// AS numbers of AS_PATH and AS4_PATH (every segment type).
    pub asns: u64,
    /// Sum of those AS numbers, scrambled.
    pub asn_sum: u64,
    /// Standard communities (RFC 1997).
    pub communities: u64,
    /// Sum of the standard communities, scrambled.
    pub community_sum: u64,
    /// Extended communities (RFC 4360).
    pub ext_communities: u64,
    /// Large communities (RFC 8092).
    pub large_communities: u64,
    /// Sum of the large communities, scrambled.
    pub large_community_sum: u64,
    /// Every other decoded value, folded in the order the decoder yields it.
    pub other: u64,
}

// Odd constants: multiplying by one is a bijection on u64, so distinct values stay
// distinct in each term, and the tags keep the sums of different kinds apart.
const PREFIX_K: u64 = 0x9e37_79b9_7f4a_7c15;
const ASN_K: u64 = 0xbf58_476d_1ce4_e5b9;
const COMMUNITY_K: u64 = 0x94d0_49bb_1331_11eb;
const LARGE_K: u64 = 0xd6e8_feb8_6659_fd93;

impl Tally {
    /// Counts one message.
    #[inline]
    pub fn message(&mut self) {
        self.messages += 1;
    }

    /// Counts one path attribute of type `type_code`.
    #[inline]
    pub fn attribute(&mut self, type_code: u8) {
        self.attributes += 1;
        self.fold(u64::from(type_code));
    }

    /// Adds an IPv4 prefix; bits past `len` are ignored.
    #[inline]
    pub fn prefix_v4(&mut self, addr: u32, len: u8) {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(len.min(32)))
            .unwrap_or(0);
        let canonical = u64::from(addr & mask) | (u64::from(len) << 40);
        self.prefixes += 1;
        self.prefix_sum = self
            .prefix_sum
            .wrapping_add(canonical.wrapping_mul(PREFIX_K));
    }

    /// Adds an IPv6 prefix; bits past `len` are ignored.
    #[inline]
    pub fn prefix_v6(&mut self, addr: u128, len: u8) {
        let mask = u128::MAX
            .checked_shl(128 - u32::from(len.min(128)))
            .unwrap_or(0);
        let bits = addr & mask;
        let canonical =
            (bits as u64) ^ ((bits >> 64) as u64).rotate_left(29) ^ (u64::from(len) << 48) ^ 1;
        self.prefixes += 1;
        self.prefix_sum = self
            .prefix_sum
            .wrapping_add(canonical.wrapping_mul(PREFIX_K));
    }

    /// Folds the path identifier of an ADD-PATH prefix.
    #[inline]
    pub fn path_id(&mut self, id: u32) {
        self.fold(u64::from(id));
    }

    /// Adds one AS number of an AS_PATH or AS4_PATH segment.
    #[inline]
    pub fn asn(&mut self, asn: u32) {
        self.asns += 1;
        self.asn_sum = self
            .asn_sum
            .wrapping_add((u64::from(asn) | 1 << 40).wrapping_mul(ASN_K));
    }

    /// Adds one standard community.
    #[inline]
    pub fn community(&mut self, value: u32) {
        self.communities += 1;
        self.community_sum = self
            .community_sum
            .wrapping_add((u64::from(value) | 1 << 40).wrapping_mul(COMMUNITY_K));
    }

    /// Adds one extended community, folding `value` (whatever form the decoder gives).
    #[inline]
    pub fn ext_community(&mut self, value: u64) {
        self.ext_communities += 1;
        self.fold(value);
    }

    /// Adds one large community.
    #[inline]
    pub fn large_community(&mut self, global_admin: u32, local_1: u32, local_2: u32) {
        let canonical = (u64::from(global_admin) << 32 | u64::from(local_1))
            ^ u64::from(local_2).rotate_left(17);
        self.large_communities += 1;
        self.large_community_sum = self
            .large_community_sum
            .wrapping_add(canonical.wrapping_mul(LARGE_K));
    }

    /// Folds any other decoded value.
    #[inline]
    pub fn fold(&mut self, value: u64) {
        self.other = self.other.rotate_left(5) ^ value;
    }

    /// Folds a run of opaque bytes (unknown attributes, opaque NLRI, next hops), eight at
    /// a time.
    #[inline]
    pub fn fold_bytes(&mut self, bytes: &[u8]) {
        self.fold(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.fold(u64::from_le_bytes(word));
        }
        for &b in chunks.remainder() {
            self.fold(u64::from(b));
        }
    }

    /// Whether `self` and `other` saw the same messages, attributes, prefixes, AS
    /// numbers and communities (everything but the decoder-specific [`Tally::other`]).
    pub fn same_content(&self, other: &Self) -> bool {
        Self { other: 0, ..*self } == Self { other: 0, ..*other }
    }

    /// The fields that differ from `reference`, as `name: ours vs reference` lines.
    pub fn differences(&self, reference: &Self) -> Vec<String> {
        let fields = [
            ("messages", self.messages, reference.messages),
            ("attributes", self.attributes, reference.attributes),
            ("prefixes", self.prefixes, reference.prefixes),
            ("prefix_sum", self.prefix_sum, reference.prefix_sum),
            ("asns", self.asns, reference.asns),
            ("asn_sum", self.asn_sum, reference.asn_sum),
            ("communities", self.communities, reference.communities),
            ("community_sum", self.community_sum, reference.community_sum),
            (
                "ext_communities",
                self.ext_communities,
                reference.ext_communities,
            ),
            (
                "large_communities",
                self.large_communities,
                reference.large_communities,
            ),
            (
                "large_community_sum",
                self.large_community_sum,
                reference.large_community_sum,
            ),
        ];
        fields
            .iter()
            .filter(|(_, a, b)| a != b)
            .map(|(name, a, b)| format!("{name}: {a} vs {b}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ignores_host_bits() {
        let mut a = Tally::default();
        let mut b = Tally::default();
        a.prefix_v4(0x0a01_0203, 16);
        b.prefix_v4(0x0a01_0000, 16);
        assert_eq!(a, b);
        a.prefix_v6(0x2001_0db8_ffff << 80, 32);
        b.prefix_v6(0x2001_0db8 << 96, 32);
        assert_eq!(a, b);
    }

    #[test]
    fn sums_ignore_order_but_counts_see_duplicates() {
        let mut a = Tally::default();
        let mut b = Tally::default();
        a.community(1);
        a.community(2);
        b.community(2);
        b.community(1);
        assert!(a.same_content(&b));
        b.community(2);
        assert!(!a.same_content(&b));
        assert_eq!(b.differences(&a).len(), 2, "count and sum differ");
    }

    #[test]
    fn default_route_and_host_route_are_distinct() {
        let mut a = Tally::default();
        let mut b = Tally::default();
        a.prefix_v4(0, 0);
        b.prefix_v4(0, 32);
        assert_ne!(a.prefix_sum, b.prefix_sum);
        let mut c = Tally::default();
        c.prefix_v6(0, 0);
        assert_ne!(
            a.prefix_sum, c.prefix_sum,
            "IPv4 and IPv6 default routes differ"
        );
    }
}
