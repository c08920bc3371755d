//! What goes into a session ([`Input`]) and what comes out ([`Output`]).

use std::net::Ipv4Addr;

use bgp_wire::{Family, Notification, RouteRefresh, Update};

use crate::negotiate::Negotiated;

/// The six states of RFC 4271 section 8.2.2.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum State {
    /// No connection, refusing connections; waiting for a start event.
    Idle,
    /// Waiting for the TCP connection we initiated (or one from the peer).
    Connect,
    /// Listening for the peer's TCP connection.
    Active,
    /// Our OPEN is sent; waiting for the peer's.
    OpenSent,
    /// OPENs exchanged; waiting for the peer's KEEPALIVE.
    OpenConfirm,
    /// The session is up: UPDATEs flow.
    Established,
}

/// An event for [`Session::handle_input`](crate::Session::handle_input): the
/// administrative and TCP events of RFC 4271 section 8.1, with their RFC names and event
/// numbers, and the bytes received on the connection.
///
/// The timer events (9-13: ConnectRetryTimer_Expires, HoldTimer_Expires,
/// KeepaliveTimer_Expires, DelayOpenTimer_Expires, IdleHoldTimer_Expires) are not
/// inputs: the session fires them itself when a call's `now` reaches their deadline.
/// The message events (19-22, 24-28) come from decoding [`Input::Received`] bytes.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Input<'a> {
    /// Event 1, ManualStart: the operator starts the session (actively, unless
    /// [`SessionConfig::passive`](crate::SessionConfig::passive)).
    ManualStart,
    /// Event 2, ManualStop: the operator stops the session; the NOTIFICATION (when the
    /// state has a connection to send it on) is a Cease built from the reason. The
    /// session stays in Idle until the next start.
    ManualStop(StopReason),
    /// Event 3, AutomaticStart: the owner (not the operator) starts the session.
    AutomaticStart,
    /// Event 4, ManualStart_with_PassiveTcpEstablishment.
    ManualStartWithPassiveTcpEstablishment,
    /// Event 5, AutomaticStart_with_PassiveTcpEstablishment.
    AutomaticStartWithPassiveTcpEstablishment,
    /// Event 6, AutomaticStart_with_DampPeerOscillations: deferred while the
    /// IdleHoldTimer runs.
    AutomaticStartWithDampPeerOscillations,
    /// Event 7, AutomaticStart_with_DampPeerOscillations_and_PassiveTcpEstablishment.
    AutomaticStartWithDampPeerOscillationsAndPassiveTcpEstablishment,
    /// Event 8, AutomaticStop: the owner stops the session (for example on a prefix
    /// limit). Counts as a failure for damping; no automatic restart follows.
    AutomaticStop(StopReason),
    /// Event 14, TcpConnection_Valid: a connection request from the peer's address
    /// arrived. Informational; [`Input::TcpConnectionConfirmed`] follows.
    TcpConnectionValid,
    /// Event 15, Tcp_CR_Invalid: a connection request from an unexpected address or
    /// port. Ignored; the owner refuses the connection.
    TcpCrInvalid,
    /// Event 16, Tcp_CR_Acked: the connection this session asked for
    /// ([`Output::ConnectTcp`]) is up.
    TcpCrAcked,
    /// Event 17, TcpConnectionConfirmed: a connection initiated by the peer is up and
    /// handed to this session.
    TcpConnectionConfirmed,
    /// Event 18, TcpConnectionFails: the connection failed or the peer closed it (also:
    /// the connection attempt failed).
    TcpConnectionFails,
    /// Event 23, OpenCollisionDump: the owner resolved a connection collision (RFC 4271
    /// section 6.8) against this connection. The session sends Cease / Connection
    /// Collision Resolution (6/7) and closes. See [`Session::resolve_collision`](crate::Session::resolve_collision).
    OpenCollisionDump,
    /// Bytes read from the connection, split or joined at any byte boundary. They
    /// become events 19-22 and 24-28 as whole messages are decoded.
    Received(&'a [u8]),
    /// RFC 9687: a write to the connection could not complete because the peer is not
    /// reading (the socket's send buffer is full). Starts the SendHoldTimer if it is not
    /// running.
    TransmitBlocked,
    /// RFC 9687: the connection accepted more bytes (or the peer acknowledged some);
    /// stops the SendHoldTimer.
    TransmitProgress,
}

/// Why the owner stops a session: the Cease subcode (RFC 4486) sent to the peer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum StopReason {
    /// Cease / Maximum Number of Prefixes Reached (6/1); data: AFI, SAFI, the limit.
    MaxPrefixes {
        /// The family that exceeded its limit.
        family: Family,
        /// The limit (upper bound).
        limit: u32,
    },
    /// Cease / Administrative Shutdown (6/2) with an optional RFC 9003 communication.
    AdministrativeShutdown(Option<String>),
    /// Cease / Peer De-configured (6/3).
    PeerDeconfigured,
    /// Cease / Administrative Reset (6/4) with an optional RFC 9003 communication.
    AdministrativeReset(Option<String>),
    /// Cease / Connection Rejected (6/5).
    ConnectionRejected,
    /// Cease / Other Configuration Change (6/6).
    OtherConfigurationChange,
    /// Cease / Connection Collision Resolution (6/7).
    ConnectionCollisionResolution,
    /// Cease / Out of Resources (6/8).
    OutOfResources,
    /// Cease / Hard Reset (6/9, RFC 8538); data is the code and subcode of the cause.
    HardReset {
        /// Cause: Cease subcode that would have been sent without Hard Reset.
        cause_subcode: u8,
    },
    /// Cease / BFD Down (6/10, RFC 9384).
    BfdDown,
    /// Any other NOTIFICATION, sent as given.
    Notification(Notification),
}

impl StopReason {
    /// The NOTIFICATION this reason sends.
    pub fn notification(&self) -> Notification {
        use bgp_wire::ErrorCode;
        let cease = |subcode| Notification::new(ErrorCode::CEASE, subcode);
        match self {
            Self::MaxPrefixes { family, limit } => {
                let mut data = Vec::with_capacity(7);
                data.extend_from_slice(&family.afi.0.to_be_bytes());
                data.push(family.safi.0);
                data.extend_from_slice(&limit.to_be_bytes());
                Notification {
                    code: ErrorCode::CEASE,
                    subcode: Notification::CEASE_MAX_PREFIXES,
                    data,
                }
            }
            Self::AdministrativeShutdown(None) => cease(Notification::CEASE_ADMIN_SHUTDOWN),
            Self::AdministrativeShutdown(Some(text)) => Notification::shutdown(text, false),
            Self::PeerDeconfigured => cease(Notification::CEASE_PEER_DECONFIGURED),
            Self::AdministrativeReset(None) => cease(Notification::CEASE_ADMIN_RESET),
            Self::AdministrativeReset(Some(text)) => Notification::shutdown(text, true),
            Self::ConnectionRejected => cease(Notification::CEASE_CONNECTION_REJECTED),
            Self::OtherConfigurationChange => cease(Notification::CEASE_OTHER_CONFIG_CHANGE),
            Self::ConnectionCollisionResolution => cease(Notification::CEASE_COLLISION),
            Self::OutOfResources => cease(Notification::CEASE_OUT_OF_RESOURCES),
            Self::HardReset { cause_subcode } => Notification {
                code: ErrorCode::CEASE,
                subcode: Notification::CEASE_HARD_RESET,
                data: vec![ErrorCode::CEASE.0, *cause_subcode],
            },
            Self::BfdDown => cease(Notification::CEASE_BFD_DOWN),
            Self::Notification(n) => n.clone(),
        }
    }
}

/// Who initiated a TCP connection; the key of collision resolution (RFC 4271 section 6.8).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ConnectionOrigin {
    /// We connected to the peer ([`Input::TcpCrAcked`]).
    Local,
    /// The peer connected to us ([`Input::TcpConnectionConfirmed`]).
    Remote,
}

/// Why a session (one TCP connection's worth of BGP) ended. Every transition out of
/// OpenSent, OpenConfirm or Established, and every failure in Connect or Active, reports
/// one in [`SessionEvent::Down`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SessionEnd {
    /// ManualStop (`automatic: false`) or AutomaticStop; the Cease sent, when the state
    /// had a connection to send it on.
    Stopped {
        /// Event 8 rather than event 2.
        automatic: bool,
        /// The NOTIFICATION sent, if any.
        notification: Option<Notification>,
    },
    /// The HoldTimer expired; Hold Timer Expired (4/0) was sent.
    HoldTimerExpired,
    /// The peer did not read for the SendHoldTime (RFC 9687); Send Hold Timer Expired
    /// (8/0) was sent, best effort.
    SendHoldTimerExpired,
    /// We found an error in what the peer sent, or an event the state does not allow,
    /// and sent this NOTIFICATION (message header, OPEN, UPDATE, ROUTE-REFRESH or FSM
    /// error).
    NotificationSent(Notification),
    /// We found this error but did not send it: it came before our OPEN and
    /// [`SessionConfig::send_notification_without_open`](crate::SessionConfig::send_notification_without_open) is off.
    ErrorNotSent(Notification),
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
    /// The TCP connection failed, the peer closed it, or the connection attempt failed.
    TcpConnectionFails,
    /// This connection lost a collision (OpenCollisionDump); Cease / Connection
    /// Collision Resolution (6/7) was sent.
    CollisionResolution,
    /// Connect or Active received an event RFC 4271 answers by dropping the connection
    /// without NOTIFICATION (for example a KEEPALIVE before any OPEN).
    UnexpectedEvent,
}

/// Something the owner should know; carried by [`Output::Event`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SessionEvent {
    /// The FSM moved from one state to another.
    StateChanged {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
    },
    /// The peer's OPEN was received and accepted. If the owner has another connection to
    /// the same peer, this is when to resolve the collision (RFC 4271 section 6.8): see
    /// [`collision_winner`](crate::collision_winner).
    OpenReceived {
        /// The peer's BGP identifier.
        peer_id: Ipv4Addr,
        /// The peer's AS.
        peer_asn: u32,
    },
    /// The session reached Established with these parameters.
    Established(Box<Negotiated>),
    /// An UPDATE was received. Its `issues`/`treatment()` carry the RFC 7606 verdict
    /// (attribute discard, treat-as-withdraw, AFI/SAFI disable); the session already
    /// reset itself for the session-reset cases, which never appear here.
    Update(Update),
    /// A ROUTE-REFRESH for a negotiated family was received: a request (subtype
    /// Normal), or the BoRR/EoRR markers of enhanced route refresh (RFC 7313).
    RouteRefresh(RouteRefresh),
    /// The session ended, and why.
    Down(SessionEnd),
}

/// What the session asks its owner to do, from [`Session::poll_output`](crate::Session::poll_output).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Output {
    /// Write these bytes (one whole message) to the connection.
    Transmit(Vec<u8>),
    /// Open a TCP connection to the peer; answer with [`Input::TcpCrAcked`] or
    /// [`Input::TcpConnectionFails`].
    ConnectTcp,
    /// Close the connection (or abandon the connection attempt). Bytes written before
    /// (a NOTIFICATION) should be flushed first when possible.
    CloseTcp,
    /// Something happened.
    Event(SessionEvent),
}

/// Why a message could not be sent.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum SendError {
    /// The session is not in Established.
    #[error("the session is not established")]
    NotEstablished,
    /// The peer did not advertise route refresh.
    #[error("route refresh was not negotiated")]
    RouteRefreshNotNegotiated,
    /// BoRR/EoRR need enhanced route refresh on both sides.
    #[error("enhanced route refresh was not negotiated")]
    EnhancedRouteRefreshNotNegotiated,
    /// The family was not negotiated.
    #[error("family {0:?} was not negotiated")]
    FamilyNotNegotiated(Family),
    /// The encoded message exceeds what the session may carry.
    #[error("message of {len} bytes exceeds the session's maximum of {max}")]
    MessageTooLong {
        /// Encoded length.
        len: usize,
        /// The session's maximum.
        max: usize,
    },
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for StopReason {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        use bgp_wire::{Afi, ErrorCode, Safi};
        Ok(match u.int_in_range(0u8..=11)? {
            0 => Self::MaxPrefixes {
                family: Family::new(Afi(u.arbitrary()?), Safi(u.arbitrary()?)),
                limit: u.arbitrary()?,
            },
            1 => Self::AdministrativeShutdown(u.arbitrary()?),
            2 => Self::PeerDeconfigured,
            3 => Self::AdministrativeReset(u.arbitrary()?),
            4 => Self::ConnectionRejected,
            5 => Self::OtherConfigurationChange,
            6 => Self::ConnectionCollisionResolution,
            7 => Self::OutOfResources,
            8 => Self::HardReset {
                cause_subcode: u.arbitrary()?,
            },
            9 => Self::BfdDown,
            _ => Self::Notification(Notification {
                code: ErrorCode(u.arbitrary()?),
                subcode: u.arbitrary()?,
                data: u.arbitrary()?,
            }),
        })
    }
}
