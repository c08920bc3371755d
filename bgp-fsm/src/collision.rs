//! Connection collision resolution (RFC 4271 section 6.8, RFC 6286 section 2.3).

use std::net::Ipv4Addr;

use crate::event::ConnectionOrigin;

/// Which of two colliding connections to the same peer survives: the one initiated by
/// the speaker with the higher BGP identifier (compared as 4-octet unsigned integers),
/// or, when the identifiers are equal (possible between ASes, RFC 6286), by the speaker
/// with the higher AS number.
///
/// ```
/// use std::net::Ipv4Addr;
/// use bgp_fsm::{collision_winner, ConnectionOrigin};
///
/// let local = Ipv4Addr::new(10, 0, 0, 1);
/// let remote = Ipv4Addr::new(10, 0, 0, 2);
/// // The peer's identifier is higher: keep the connection the peer opened.
/// assert_eq!(collision_winner(local, 65515, remote, 65001), ConnectionOrigin::Remote);
/// ```
pub fn collision_winner(
    local_id: Ipv4Addr,
    local_asn: u32,
    remote_id: Ipv4Addr,
    remote_asn: u32,
) -> ConnectionOrigin {
    let local = (u32::from(local_id), local_asn);
    let remote = (u32::from(remote_id), remote_asn);
    if local > remote {
        ConnectionOrigin::Local
    } else {
        ConnectionOrigin::Remote
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn higher_identifier_keeps_its_connection() {
        let low = Ipv4Addr::new(1, 1, 1, 1);
        let high = Ipv4Addr::new(200, 0, 0, 1);
        assert_eq!(collision_winner(high, 1, low, 2), ConnectionOrigin::Local);
        assert_eq!(collision_winner(low, 2, high, 1), ConnectionOrigin::Remote);
    }

    #[test]
    fn equal_identifiers_fall_back_to_the_as_number() {
        let id = Ipv4Addr::new(10, 0, 0, 1);
        assert_eq!(
            collision_winner(id, 65002, id, 65001),
            ConnectionOrigin::Local
        );
        assert_eq!(
            collision_winner(id, 65001, id, 65002),
            ConnectionOrigin::Remote
        );
    }
}
