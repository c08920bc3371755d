//! OPEN checks (RFC 4271 section 6.2 and the capability RFCs) and capability negotiation.

use std::net::Ipv4Addr;

use bgp_wire::{
    AddPathDirection, AddPathFamilies, Afi, Capability, ErrorCode, Family, GracefulRestart,
    LlgrFamily, Notification, Open, OptionalParameter, Role, SessionParams,
};

use crate::config::SessionConfig;

/// OPEN Message Error subcodes (RFC 4271 section 6.2, RFC 5492, RFC 9234).
pub(crate) mod open_subcode {
    pub(crate) const UNSUPPORTED_VERSION: u8 = 1;
    pub(crate) const BAD_PEER_AS: u8 = 2;
    pub(crate) const BAD_BGP_IDENTIFIER: u8 = 3;
    pub(crate) const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    pub(crate) const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    pub(crate) const UNSUPPORTED_CAPABILITY: u8 = 7;
    pub(crate) const ROLE_MISMATCH: u8 = 11;
}

/// What the two OPENs of a session agreed on. Reported with
/// [`SessionEvent::Established`](crate::SessionEvent::Established) and kept by the session
/// ([`Session::negotiated`](crate::Session::negotiated)).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Negotiated {
    /// The peer's AS: its 4-octet AS capability when present, else My Autonomous System.
    pub peer_asn: u32,
    /// The peer's BGP identifier.
    pub peer_id: Ipv4Addr,
    /// Whether the peer is in our AS (iBGP).
    pub internal: bool,
    /// Negotiated hold time in seconds: the smaller of the two proposals; 0 disables the
    /// hold and keepalive timers.
    pub hold_time: u16,
    /// Keepalive interval in seconds: a third of the hold time (0 when it is 0).
    pub keepalive_time: u16,
    /// Both sides advertised 4-octet AS numbers (RFC 6793).
    pub four_octet_as: bool,
    /// Families both sides advertised (RFC 4760), sorted. A side that sent no
    /// multiprotocol capability at all counts as advertising IPv4 unicast only.
    pub families: Vec<Family>,
    /// Both sides advertised route refresh (RFC 2918): we may send ROUTE-REFRESH.
    pub route_refresh: bool,
    /// Both sides advertised enhanced route refresh (RFC 7313): BoRR/EoRR are in use.
    pub enhanced_route_refresh: bool,
    /// The peer may send us messages up to 65535 bytes (we advertised RFC 8654).
    pub extended_message_receive: bool,
    /// We may send messages up to 65535 bytes (both advertised RFC 8654).
    pub extended_message_send: bool,
    /// (family, next-hop AFI) pairs both sides advertised (RFC 8950).
    pub extended_next_hop: Vec<(Family, Afi)>,
    /// Families for which the peer sends us several paths (RFC 7911).
    pub add_path_receive: Vec<Family>,
    /// Families for which we may send several paths.
    pub add_path_send: Vec<Family>,
    /// The peer's graceful restart capability (RFC 4724), when both sides advertised one.
    pub graceful_restart: Option<GracefulRestart>,
    /// The peer's long-lived graceful restart families, when both sides advertised it.
    pub long_lived_graceful_restart: Vec<LlgrFamily>,
    /// Our role (RFC 9234).
    pub local_role: Option<Role>,
    /// The peer's role.
    pub peer_role: Option<Role>,
    /// Parameters to decode what the peer sends with.
    pub receive: SessionParams,
    /// Parameters to encode what we send with.
    pub send: SessionParams,
    /// The peer's OPEN, as received.
    pub peer_open: Open,
}

impl Negotiated {
    /// Whether `family` was negotiated.
    pub fn has_family(&self, family: Family) -> bool {
        self.families.contains(&family)
    }
}

fn open_error(subcode: u8, data: Vec<u8>) -> Notification {
    Notification {
        code: ErrorCode::OPEN_MESSAGE,
        subcode,
        data,
    }
}

fn has_mp(open: &Open) -> bool {
    open.capabilities()
        .any(|c| matches!(c, Capability::Multiprotocol { .. }))
}

fn mp_families(open: &Open) -> Vec<Family> {
    if !has_mp(open) {
        return vec![Family::IPV4_UNICAST];
    }
    let mut families: Vec<Family> = open
        .capabilities()
        .filter_map(|c| match c {
            Capability::Multiprotocol { family, .. } => Some(*family),
            _ => None,
        })
        .collect();
    families.sort();
    families.dedup();
    families
}

fn add_path_directions(open: &Open) -> Vec<(Family, AddPathDirection)> {
    open.capabilities()
        .filter_map(|c| match c {
            Capability::AddPath(entries) => Some(entries.iter().map(|e| (e.family, e.direction))),
            _ => None,
        })
        .flatten()
        .collect()
}

fn can_send(direction: AddPathDirection) -> bool {
    matches!(direction, AddPathDirection::Send | AddPathDirection::Both)
}

fn can_receive(direction: AddPathDirection) -> bool {
    matches!(
        direction,
        AddPathDirection::Receive | AddPathDirection::Both
    )
}

/// RFC 9234 section 4.2: the role pairs that may form a session.
pub(crate) fn roles_match(local: Role, peer: Role) -> bool {
    matches!(
        (local, peer),
        (Role::Provider, Role::Customer)
            | (Role::Customer, Role::Provider)
            | (Role::RouteServer, Role::RouteServerClient)
            | (Role::RouteServerClient, Role::RouteServer)
            | (Role::Peer, Role::Peer)
    )
}

/// Checks a received OPEN against our configuration, in the order of RFC 4271 section
/// 6.2, and negotiates. `Err` is the NOTIFICATION to send.
pub(crate) fn check_open(config: &SessionConfig, open: &Open) -> Result<Negotiated, Notification> {
    if open.version != 4 {
        return Err(open_error(open_subcode::UNSUPPORTED_VERSION, vec![0, 4]));
    }

    let peer_asn = peer_asn(open)?;
    if !config.peer_asn.accepts(peer_asn) {
        return Err(open_error(open_subcode::BAD_PEER_AS, Vec::new()));
    }
    let internal = peer_asn == config.local_asn;

    // RFC 6286 section 2.2: zero is never valid; equal identifiers only within one AS.
    if open.bgp_identifier.is_unspecified() || (internal && open.bgp_identifier == config.local_id)
    {
        return Err(open_error(open_subcode::BAD_BGP_IDENTIFIER, Vec::new()));
    }

    let peer_hold = open.hold_time;
    let below_minimum = config.min_hold_time.is_some_and(|min| peer_hold < min);
    if matches!(peer_hold, 1 | 2) || below_minimum {
        return Err(open_error(open_subcode::UNACCEPTABLE_HOLD_TIME, Vec::new()));
    }

    if open
        .parameters
        .iter()
        .any(|p| matches!(p, OptionalParameter::Unknown { .. }))
    {
        return Err(open_error(
            open_subcode::UNSUPPORTED_OPTIONAL_PARAMETER,
            Vec::new(),
        ));
    }

    let mut missing = Vec::new();
    for required in &config.required_capabilities {
        if !open.capabilities().any(|c| required.is_met_by(c)) {
            required.encode(config.local_asn, &mut missing);
        }
    }
    if !missing.is_empty() {
        return Err(open_error(open_subcode::UNSUPPORTED_CAPABILITY, missing));
    }

    let peer_role = check_role(config, open)?;

    Ok(negotiate(config, open, peer_asn, internal, peer_role))
}

/// The peer's AS per RFC 6793 section 4.1 and RFC 7607, or Bad Peer AS.
fn peer_asn(open: &Open) -> Result<u32, Notification> {
    let bad = || open_error(open_subcode::BAD_PEER_AS, Vec::new());
    let mut four_octet = open.capabilities().filter_map(|c| match c {
        Capability::FourOctetAs(asn) => Some(*asn),
        _ => None,
    });
    let asn = match four_octet.next() {
        Some(asn) => {
            // Several copies must agree, or we cannot know the peer's AS.
            if four_octet.any(|other| other != asn) {
                return Err(bad());
            }
            // AS_TRANS is a placeholder, never an AS; a 4-octet AS travels as AS_TRANS in
            // My Autonomous System, a 2-octet one as itself.
            let expected_my_as = u16::try_from(asn).unwrap_or(Open::AS_TRANS);
            if asn == u32::from(Open::AS_TRANS) || open.my_as != expected_my_as {
                return Err(bad());
            }
            asn
        }
        None => u32::from(open.my_as),
    };
    if asn == 0 || asn == u32::from(Open::AS_TRANS) {
        return Err(bad());
    }
    Ok(asn)
}

/// RFC 9234 section 4.2: the peer's role, or Role Mismatch.
fn check_role(config: &SessionConfig, open: &Open) -> Result<Option<Role>, Notification> {
    let mismatch = || open_error(open_subcode::ROLE_MISMATCH, Vec::new());
    let mut roles = open.capabilities().filter_map(|c| match c {
        Capability::Role(role) => Some(*role),
        _ => None,
    });
    let peer_role = roles.next();
    if let Some(first) = peer_role {
        if roles.any(|other| other != first) {
            return Err(mismatch());
        }
    }
    match (config.capabilities.role, peer_role) {
        (Some(local), Some(peer)) if !roles_match(local, peer) => Err(mismatch()),
        (Some(_), None) if config.strict_role => Err(mismatch()),
        _ => Ok(peer_role),
    }
}

fn negotiate(
    config: &SessionConfig,
    open: &Open,
    peer_asn: u32,
    internal: bool,
    peer_role: Option<Role>,
) -> Negotiated {
    let ours = &config.capabilities;
    let peer_has = |pred: fn(&Capability) -> bool| open.capabilities().any(pred);

    let local_families = if ours.families.is_empty() {
        vec![Family::IPV4_UNICAST]
    } else {
        ours.families.clone()
    };
    let mut families: Vec<Family> = mp_families(open)
        .into_iter()
        .filter(|f| local_families.contains(f))
        .collect();
    families.sort();

    let hold_time = config.hold_time.min(open.hold_time);
    let keepalive_time = hold_time / 3;

    let four_octet_as = ours.four_octet_as && peer_has(|c| matches!(c, Capability::FourOctetAs(_)));
    let route_refresh = ours.route_refresh && peer_has(|c| matches!(c, Capability::RouteRefresh));
    let enhanced_route_refresh =
        ours.enhanced_route_refresh && peer_has(|c| matches!(c, Capability::EnhancedRouteRefresh));
    let peer_extended_message = peer_has(|c| matches!(c, Capability::ExtendedMessage));
    let extended_message_receive = ours.extended_message;
    let extended_message_send = ours.extended_message && peer_extended_message;

    let peer_ext_nh: Vec<(Family, Afi)> = open
        .capabilities()
        .filter_map(|c| match c {
            Capability::ExtendedNextHop(v) => Some(v.iter().copied()),
            _ => None,
        })
        .flatten()
        .collect();
    let extended_next_hop: Vec<(Family, Afi)> = ours
        .extended_next_hop
        .iter()
        .copied()
        .filter(|pair| peer_ext_nh.contains(pair))
        .collect();

    let mut add_path_receive = Vec::new();
    let mut add_path_send = Vec::new();
    for (family, peer_dir) in add_path_directions(open) {
        let Some(our_dir) = ours.add_path_direction(family) else {
            continue;
        };
        if can_send(peer_dir) && can_receive(our_dir) && !add_path_receive.contains(&family) {
            add_path_receive.push(family);
        }
        if can_receive(peer_dir) && can_send(our_dir) && !add_path_send.contains(&family) {
            add_path_send.push(family);
        }
    }
    add_path_receive.sort();
    add_path_send.sort();

    let graceful_restart = if ours.graceful_restart.is_some() {
        open.capabilities().find_map(|c| match c {
            Capability::GracefulRestart(gr) => Some(gr.clone()),
            _ => None,
        })
    } else {
        None
    };
    let long_lived_graceful_restart = if ours.long_lived_graceful_restart.is_empty() {
        Vec::new()
    } else {
        open.capabilities()
            .filter_map(|c| match c {
                Capability::LongLivedGracefulRestart(v) => Some(v.iter().copied()),
                _ => None,
            })
            .flatten()
            .collect()
    };

    let receive = SessionParams {
        four_octet_as,
        add_path: AddPathFamilies(add_path_receive.iter().copied().collect()),
        extended_message: extended_message_receive,
    };
    let send = SessionParams {
        four_octet_as,
        add_path: AddPathFamilies(add_path_send.iter().copied().collect()),
        extended_message: extended_message_send,
    };

    Negotiated {
        peer_asn,
        peer_id: open.bgp_identifier,
        internal,
        hold_time,
        keepalive_time,
        four_octet_as,
        families,
        route_refresh,
        enhanced_route_refresh,
        extended_message_receive,
        extended_message_send,
        extended_next_hop,
        add_path_receive,
        add_path_send,
        graceful_restart,
        long_lived_graceful_restart,
        local_role: ours.role,
        peer_role,
        receive,
        send,
        peer_open: open.clone(),
    }
}
