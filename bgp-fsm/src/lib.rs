//! `bgp-fsm`: one BGP session as a sans-IO state machine (RFC 4271 section 8): no I/O,
//! no clock, no threads, no async, no global randomness.
//!
//! **What it is.** [`Session`] runs the finite state machine of RFC 4271 section 8 over
//! one TCP connection: the six states and the events with their RFC names ([`Input`]),
//! active and passive opening, DelayOpen, connect retry with RFC 4271 section 10 jitter,
//! IdleHold with damping of oscillating peers, the hold, keepalive and RFC 9687 send hold
//! timers, the OPEN checks with the exact NOTIFICATION for each failure, capability
//! negotiation ([`Negotiated`], including the two [`bgp_wire::SessionParams`] to decode
//! and encode with), RFC 6608 FSM error subcodes, RFC 7606 error handling (the decoded
//! [`bgp_wire::Update`] carries its treatment), every RFC 4486 Cease subcode
//! ([`StopReason`]) and RFC 9003 shutdown communications. It frames received bytes, which
//! may arrive split or joined anywhere, with [`bgp_wire::frame`].
//!
//! **What it does not do.** It opens no socket and reads no clock: its owner does I/O
//! and passes the time in. It applies no policy and keeps no RIB: it hands each decoded
//! UPDATE to the owner and counts prefixes ([`Counters`]) so the owner can enforce limits.
//! It handles one connection: with two connections to the same peer, the owner runs two
//! sessions and resolves the collision ([`collision_winner`], [`Session::resolve_collision`]).
//!
//! # The driving rule
//!
//! After **every** call that mutates the session (`handle_input`, `handle_timeout`,
//! `start`, `stop`, `send_*`), drain [`Session::poll_output`] until it returns `None`, then
//! read [`Session::poll_timeout`] and call [`Session::handle_timeout`] no later than that
//! instant. Time is an [`Instant`]: milliseconds from any epoch the owner likes; virtual
//! time may jump straight to the next timeout. The same inputs at the same times (and the
//! same [`SessionConfig::rng_seed`]) always give the same outputs.
//!
//! Methods come in four kinds: **inputs** ([`Session::handle_input`],
//! [`Session::handle_timeout`]), **commands** ([`Session::start`], [`Session::stop`],
//! [`Session::send_update`], [`Session::send_end_of_rib`], [`Session::request_refresh`],
//! [`Session::send_route_refresh`], [`Session::resolve_collision`]), **outputs**
//! ([`Session::poll_output`], [`Session::poll_timeout`]) and **state**
//! ([`Session::state`], [`Session::negotiated`], [`Session::counters`], ...).
//!
//! # RFC 4271 optional attributes, and choices
//!
//! * **PassiveTcpEstablishment**: [`SessionConfig::passive`], or events 4, 5 and 7. As
//!   the RFC has it, a passive session still connects when its ConnectRetryTimer
//!   expires in Active; [`SessionConfig::listen_only`] never connects at all.
//! * **DelayOpen**, **DelayOpenTime**: [`SessionConfig::delay_open`].
//! * **SendNOTIFICATIONwithoutOPEN**: [`SessionConfig::send_notification_without_open`].
//! * **AllowAutomaticStart**: [`SessionConfig::allow_automatic_start`]; the session
//!   restarts itself when its IdleHoldTimer expires after a failure (not after a stop).
//!   **AllowAutomaticStop**: the owner sends [`Input::AutomaticStop`] (e.g. on a prefix
//!   limit).
//! * **DampPeerOscillations**, **IdleHoldTime**: [`SessionConfig::damp_peer_oscillations`]
//!   doubles the idle hold time on each failure up to
//!   [`SessionConfig::max_idle_hold_time`], and forgets after a session stayed up for
//!   [`SessionConfig::stable_time`]. Automatic starts arriving meanwhile are deferred.
//! * **CollisionDetectEstablishedState**: the owner decides; [`Input::OpenCollisionDump`]
//!   is honoured in every state that has a connection.
//! * **TrackTcpState**: events 14 and 15 are accepted and change nothing; one session
//!   tracks one connection (a second connection to the same peer is a second session).
//! * Jitter (RFC 4271 section 10, 0.75 to 1.0) applies to the ConnectRetryTimer and the
//!   IdleHoldTimer; keepalives go out at exactly a third of the hold time.
//! * Two departures from the letter of section 8.2.2, both towards section 6: a
//!   NOTIFICATION received in OpenSent is not answered with an FSM Error (OpenConfirm's
//!   rule is applied), and a message header error in Established is answered with its
//!   Message Header Error rather than an FSM Error.
//! * Received bytes are ignored while the session has no connection, and an UPDATE
//!   whose RFC 7606 treatment is a session reset resets the session with the NOTIFICATION
//!   of its first such issue. An UPDATE whose NEXT_HOP no router can use (0.0.0.0,
//!   broadcast, multicast, class E) gets a treat-as-withdraw issue (RFC 4271 section
//!   6.3: ignore the routes, send no NOTIFICATION).
//!
//! # Example: driving a session over a `TcpStream`
//!
//! ```no_run
//! use std::io::{ErrorKind, Read, Write};
//! use std::net::{Ipv4Addr, TcpStream};
//! use std::time::Duration;
//! use bgp_fsm::{Input, Instant, Output, Session, SessionConfig, SessionEvent};
//!
//! let config = SessionConfig::new(65515, Ipv4Addr::new(192, 0, 2, 1), 65001);
//! let epoch = std::time::Instant::now();
//! let now = || Instant::from_millis(epoch.elapsed().as_millis() as u64);
//! let mut session = Session::new(config, now()).expect("valid configuration");
//! let (mut stream, mut buf) = (None::<TcpStream>, [0u8; 4096]);
//! session.start(now());
//! loop {
//!     while let Some(output) = session.poll_output() {
//!         match output {
//!             Output::ConnectTcp => match TcpStream::connect("192.0.2.2:179") {
//!                 Ok(s) => { stream = Some(s); session.handle_input(now(), Input::TcpCrAcked) }
//!                 Err(_) => session.handle_input(now(), Input::TcpConnectionFails),
//!             },
//!             Output::Transmit(bytes) => {
//!                 if let Some(Err(_)) = stream.as_mut().map(|s| s.write_all(&bytes)) {
//!                     session.handle_input(now(), Input::TcpConnectionFails);
//!                 }
//!             }
//!             Output::CloseTcp => stream = None,
//!             Output::Event(SessionEvent::Update(update)) => println!("{update:?}"),
//!             Output::Event(event) => println!("{event:?}"),
//!         }
//!     }
//!     let wait = session.poll_timeout().map(|t| t - now()).unwrap_or(Duration::from_secs(1));
//!     match stream.as_mut() {
//!         Some(s) => {
//!             s.set_read_timeout(Some(wait.max(Duration::from_millis(1)))).ok();
//!             match s.read(&mut buf) {
//!                 Ok(0) => session.handle_input(now(), Input::TcpConnectionFails),
//!                 Ok(n) => session.handle_input(now(), Input::Received(&buf[..n])),
//!                 Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
//!                     session.handle_timeout(now()) // nothing to read before the deadline
//!                 }
//!                 Err(_) => session.handle_input(now(), Input::TcpConnectionFails),
//!             }
//!         }
//!         None => { std::thread::sleep(wait); session.handle_timeout(now()) }
//!     }
//! }
//! ```
//!
//! # Example: two sessions on virtual time
//!
//! The [`testing::Pair`] harness wires two sessions together in memory:
//!
//! ```
//! use std::net::Ipv4Addr;
//! use bgp_fsm::{testing::Pair, SessionConfig, State};
//!
//! let a = SessionConfig::new(65001, Ipv4Addr::new(10, 0, 0, 1), 65002);
//! let mut b = SessionConfig::new(65002, Ipv4Addr::new(10, 0, 0, 2), 65001);
//! b.passive = true;
//! let mut pair = Pair::new(a, b);
//! pair.start_both();
//! pair.drive();
//! assert_eq!(pair.a.session.state(), State::Established);
//! assert_eq!(pair.b.session.negotiated().unwrap().hold_time, 90);
//! ```
#![forbid(unsafe_code)]

mod collision;
mod config;
mod event;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod negotiate;
mod rng;
mod session;
pub mod testing;
mod time;

pub use collision::collision_winner;
pub use config::{ConfigError, LocalCapabilities, PeerAsn, RequiredCapability, SessionConfig};
pub use event::{
    ConnectionOrigin, Input, Output, SendError, SessionEnd, SessionEvent, State, StopReason,
};
pub use negotiate::Negotiated;
pub use session::{Counters, PrefixCounts, Session, Timer};
pub use time::Instant;
