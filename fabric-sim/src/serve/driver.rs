//! The tasks: one per instance owning its `RouteServer`, a listener per instance, a
//! reader and a writer per connection, a connector per outbound attempt.

use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use route_server::{
    ConnectionId, Event, FabricChange, FabricChanges, Family, Input, Instant, Output as RsOutput,
    PeerId, RouteServer, SessionEnd,
};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt as _;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::config::{InstanceConfig, PeerSocket, ServeConfig};
use super::{socket, status, ServeError, MAX_WRITE_QUEUE, READ_CHUNK, SHUTDOWN_MESSAGE};

/// Events queued for one instance. Bounded: readers wait when it is full.
const EVENT_QUEUE: usize = 64;

/// How long one outbound connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long writers may flush their last messages (the shutdown NOTIFICATIONs) at exit.
const FLUSH_AT_EXIT: Duration = Duration::from_secs(3);

/// How long a closed connection's writer may go on writing what was queued before it
/// (the NOTIFICATION last). A peer that does not read would otherwise keep the socket
/// and its queue (up to [`MAX_WRITE_QUEUE`]) forever; after this the socket is dropped.
const FLUSH_ON_CLOSE: Duration = Duration::from_secs(5);

/// How long a closed connection waits, once its writer has sent our FIN, for the peer to
/// close its side before the socket is dropped.
const LINGER_AFTER_FIN: Duration = Duration::from_secs(2);

/// A writer stops gathering queued messages for one `writev` call past this many bytes...
const WRITE_BATCH: usize = 256 * 1024;

/// ...or this many messages (well under Linux's `IOV_MAX` of 1024; the route server's
/// UPDATEs are up to 4 KiB, so a full batch is about 64 of them).
const WRITE_SLICES: usize = 64;

/// Read buffers per connection: one being filled while the route server decodes the
/// other. More would only hold more of the peer's bytes in our memory instead of in the
/// kernel's socket buffer.
const READ_BUFFERS: usize = 2;

/// How events are printed.
#[derive(Clone, Copy, Debug)]
pub(super) struct Output {
    pub(super) json: bool,
    pub(super) quiet: bool,
}

/// Real time as the route server's [`Instant`]: milliseconds since `serve` started.
#[derive(Clone, Copy, Debug)]
struct Clock {
    epoch: std::time::Instant,
}

impl Clock {
    fn now(self) -> Instant {
        Instant::from_millis(u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    fn deadline(self, at: Instant) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.epoch + Duration::from_millis(at.as_millis()))
    }
}

/// What the instance task waits for.
pub(super) enum InstanceEvent {
    Offered {
        stream: TcpStream,
        from: SocketAddr,
    },
    Connected {
        conn: ConnectionId,
        stream: TcpStream,
    },
    ConnectFailed {
        conn: ConnectionId,
        error: io::Error,
    },
    /// `bytes[..len]` was read; `bytes` goes back to the reader afterwards.
    Data {
        conn: ConnectionId,
        bytes: Vec<u8>,
        len: usize,
    },
    Closed {
        conn: ConnectionId,
        error: Option<io::Error>,
    },
    WriteBlocked {
        conn: ConnectionId,
    },
    WriteProgress {
        conn: ConnectionId,
    },
    Status {
        query: status::Query,
        reply: oneshot::Sender<Value>,
    },
    Reload(Box<InstanceConfig>),
}

struct Conn {
    peer: PeerId,
    writer: mpsc::UnboundedSender<Vec<u8>>,
    /// Where read buffers go back to the reader once their bytes are handled.
    read_buffers: mpsc::Sender<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    reader_task: JoinHandle<()>,
    writer_task: JoinHandle<()>,
    blocked: bool,
}

struct PeerInfo {
    address: IpAddr,
    asn: u32,
    socket: PeerSocket,
    up_since: Option<std::time::Instant>,
}

struct Instance {
    name: String,
    listen: SocketAddr,
    server: RouteServer,
    clock: Clock,
    peers: HashMap<PeerId, PeerInfo>,
    /// Open connections, by the route server's token.
    conns: HashMap<ConnectionId, Conn>,
    /// Outbound attempts under way.
    connecting: HashMap<ConnectionId, (PeerId, JoinHandle<()>)>,
    offered: Option<(TcpStream, SocketAddr)>,
    events: mpsc::Sender<InstanceEvent>,
    printer: Printer,
    /// Writer tasks of closed connections still flushing.
    closing: Vec<JoinHandle<()>>,
}

/// Starts every instance and the status endpoint; returns after SIGINT or SIGTERM, once
/// every peer was sent its Cease.
pub(super) async fn serve(
    path: &Path,
    config: ServeConfig,
    output: Output,
) -> Result<(), ServeError> {
    // Installed first: a signal arriving during start-up is not lost.
    let mut signals = Signals::install()?;
    let clock = Clock {
        epoch: std::time::Instant::now(),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut directory = Vec::new();
    for inst in config.instances {
        let listener = listen(&inst).map_err(|source| ServeError::Io {
            what: format!("instance {}: listening on {}", inst.name, inst.listen),
            source,
        })?;
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        directory.push((inst.name.clone(), tx.clone()));
        let mut printer = Printer::new(inst.name.clone(), output);
        printer.line(
            format!("listening on {}", inst.listen),
            json!({"event": "listening", "address": inst.listen.to_string()}),
        );
        let server = RouteServer::new(inst.server.clone(), clock.now()).map_err(|source| {
            ServeError::RouteServer {
                instance: inst.name.clone(),
                source,
            }
        })?;
        let peers = server
            .peers()
            .map(|(id, p)| {
                let socket = inst
                    .peers
                    .iter()
                    .find(|s| s.address == p.address)
                    .cloned()
                    .expect("config::parse gives every peer its socket settings");
                (
                    id,
                    PeerInfo {
                        address: p.address,
                        asn: p.asn,
                        socket,
                        up_since: None,
                    },
                )
            })
            .collect();
        tokio::spawn(accept_loop(listener, tx.clone()));
        let instance = Instance {
            name: inst.name,
            listen: inst.listen,
            server,
            clock,
            peers,
            conns: HashMap::new(),
            connecting: HashMap::new(),
            offered: None,
            events: tx,
            printer,
            closing: Vec::new(),
        };
        tasks.push(tokio::spawn(instance.run(rx, stop_rx.clone())));
    }
    if let Some(addr) = config.status {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Io {
                what: format!("status endpoint on {addr}"),
                source,
            })?;
        let mut printer = Printer::new("status".to_owned(), output);
        printer.line(
            format!("status on http://{addr}/status"),
            json!({"event": "status_listening", "address": addr.to_string()}),
        );
        printer.flush();
        tokio::spawn(status::serve_http(listener, directory.clone()));
    }
    let mut printer = Printer::new("serve".to_owned(), output);
    while signals.next().await == Signal::Reload {
        reload(path, &directory, &mut printer).await;
    }
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Signal {
    /// SIGHUP: read the configuration file again.
    Reload,
    /// SIGINT or SIGTERM.
    Stop,
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Self, ServeError> {
        use tokio::signal::unix::{signal, SignalKind};
        let io_err = |source| ServeError::Io {
            what: "installing signal handlers".to_owned(),
            source,
        };
        Ok(Self {
            term: signal(SignalKind::terminate()).map_err(io_err)?,
            int: signal(SignalKind::interrupt()).map_err(io_err)?,
            hup: signal(SignalKind::hangup()).map_err(io_err)?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Stop,
            _ = self.int.recv() => Signal::Stop,
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}

/// SIGHUP: reads the file again and hands each running instance its new virtual network
/// ranges (the route server then sends every peer ROUTE-REFRESH, or resets a peer that
/// cannot refresh, as Azure does). Other changes need a restart and are reported as such;
/// a file that no longer parses changes nothing.
async fn reload(
    path: &Path,
    instances: &[(String, mpsc::Sender<InstanceEvent>)],
    printer: &mut Printer,
) {
    let config = match super::config::load(path) {
        Ok(config) => config,
        Err(e) => {
            printer.line(
                format!("reload refused, nothing changed: {e}"),
                json!({"event": "reload_failed", "error": e.to_string()}),
            );
            printer.flush();
            return;
        }
    };
    for inst in config.instances {
        match instances.iter().find(|(name, _)| *name == inst.name) {
            Some((_, tx)) => {
                let _ = tx.send(InstanceEvent::Reload(Box::new(inst))).await;
            }
            None => printer.line(
                format!("reload: new instance {} needs a restart", inst.name),
                json!({"event": "reload_ignored", "what": format!("instance {}", inst.name)}),
            ),
        }
    }
    printer.flush();
}

/// The instance's listening socket: TCP-MD5 keys of the peers that have one (the kernel
/// checks the handshake), TTL 255 on what it sends when any peer uses GTSM.
fn listen(inst: &InstanceConfig) -> io::Result<TcpListener> {
    let sock = if inst.listen.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(inst.listen)?;
    for peer in &inst.peers {
        if let Some(key) = &peer.md5_password {
            socket::set_md5_key(&sock, peer.address, key)?;
        }
    }
    if inst.peers.iter().any(|p| p.ttl_security) {
        // The SYN-ACK must already leave with TTL 255 or a GTSM peer drops it. When every
        // peer uses GTSM the listener also requires TTL 255, so even the handshake and the
        // first segments are checked; otherwise each GTSM peer's socket requires it once
        // accepted, and what that peer sent before the accept was handled (its OPEN, at
        // most) is not checked, as in BIRD and FRR, which set the option at the same point.
        let all = inst.peers.iter().all(|p| p.ttl_security);
        socket::set_gtsm(&sock, inst.listen, all)?;
    }
    sock.listen(128)
}

async fn accept_loop(listener: TcpListener, events: mpsc::Sender<InstanceEvent>) {
    loop {
        match listener.accept().await {
            Ok((stream, from)) => {
                if events
                    .send(InstanceEvent::Offered { stream, from })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            // Out of file descriptors and the like: wait a little rather than spin.
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn connect(
    remote: SocketAddr,
    bind: Option<IpAddr>,
    peer: PeerSocket,
) -> io::Result<TcpStream> {
    let sock = if remote.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(bind) = bind {
        sock.bind(SocketAddr::new(bind, 0))?;
    }
    if let Some(key) = &peer.md5_password {
        socket::set_md5_key(&sock, peer.address, key)?;
    }
    if peer.ttl_security {
        socket::set_gtsm(&sock, remote, true)?;
    }
    match tokio::time::timeout(CONNECT_TIMEOUT, sock.connect(remote)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
    }
}

/// Reads the peer's bytes into [`READ_BUFFERS`] buffers of [`READ_CHUNK`] bytes that go
/// round: each is handed to the instance whole (no copy) and comes back once the route
/// server has taken its bytes, so a connection holds at most that many chunks however
/// far the peer is ahead (the rest waits in the kernel, and TCP slows the peer down).
/// Once the instance forgets the connection (it stops handing buffers back), what is
/// still read is dropped until the peer closes: closing a socket with unread bytes makes
/// Linux send a RST, which would discard our NOTIFICATION before the peer reads it.
async fn read_loop(
    mut half: OwnedReadHalf,
    conn: ConnectionId,
    events: mpsc::Sender<InstanceEvent>,
    mut returned: mpsc::Receiver<Vec<u8>>,
) {
    let mut fresh = READ_BUFFERS;
    loop {
        let buf = if fresh > 0 {
            fresh -= 1;
            Some(vec![0u8; READ_CHUNK])
        } else {
            returned.recv().await
        };
        let Some(mut buf) = buf else {
            discard_until_closed(half).await;
            return;
        };
        let event = match half.read(&mut buf).await {
            Ok(0) => InstanceEvent::Closed { conn, error: None },
            Ok(len) => InstanceEvent::Data {
                conn,
                bytes: buf,
                len,
            },
            Err(error) => InstanceEvent::Closed {
                conn,
                error: Some(error),
            },
        };
        let last = matches!(event, InstanceEvent::Closed { .. });
        if events.send(event).await.is_err() || last {
            return;
        }
    }
}

/// Reads and drops until the peer closes or the socket fails (bounded by the caller's
/// [`LINGER_AFTER_FIN`]).
async fn discard_until_closed(mut half: OwnedReadHalf) {
    let mut sink = [0u8; 4096];
    while let Ok(1..) = half.read(&mut sink).await {}
}

/// Writes queued messages, several per system call (a vectored write straight from the
/// route server's buffers, no copy); says when the socket stops taking bytes (the peer
/// does not read) and when it takes them again. Ends when the queue's sender is dropped
/// and everything queued is written, or on a write error.
async fn write_loop(
    half: OwnedWriteHalf,
    mut queue: mpsc::UnboundedReceiver<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    conn: ConnectionId,
    events: mpsc::Sender<InstanceEvent>,
) {
    let mut blocked = false;
    let mut pending = PendingWrites::default();
    loop {
        if pending.is_empty() {
            let Some(first) = queue.recv().await else {
                return;
            };
            pending.push(first);
        }
        while pending.unsent() < WRITE_BATCH && pending.len() < WRITE_SLICES {
            match queue.try_recv() {
                Ok(more) => pending.push(more),
                Err(_) => break,
            }
        }
        let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
        let count = pending.slices(&mut slices);
        match half.try_write_vectored(&slices[..count]) {
            Ok(n) => {
                queued.fetch_sub(n, Ordering::Relaxed);
                pending.advance(n);
                if blocked {
                    blocked = false;
                    let _ = events.send(InstanceEvent::WriteProgress { conn }).await;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !blocked {
                    blocked = true;
                    let _ = events.send(InstanceEvent::WriteBlocked { conn }).await;
                }
                if half.writable().await.is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                let _ = events
                    .send(InstanceEvent::Closed {
                        conn,
                        error: Some(error),
                    })
                    .await;
                return;
            }
        }
    }
}

/// A writer's messages taken from its queue and not yet fully written: the first one
/// may be partly on the socket already.
#[derive(Default)]
struct PendingWrites {
    messages: VecDeque<Vec<u8>>,
    /// Bytes of the first message already written.
    offset: usize,
    /// Bytes not yet written, over all messages (the first one's written part excluded).
    unsent: usize,
}

impl PendingWrites {
    fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    fn len(&self) -> usize {
        self.messages.len()
    }

    fn unsent(&self) -> usize {
        self.unsent
    }

    fn push(&mut self, message: Vec<u8>) {
        self.unsent += message.len();
        self.messages.push_back(message);
    }

    /// Fills `slices` with what is left to write, in order; how many were filled.
    fn slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let mut count = 0;
        for (slot, message) in slices.iter_mut().zip(&self.messages) {
            let start = if count == 0 { self.offset } else { 0 };
            *slot = IoSlice::new(&message[start..]);
            count += 1;
        }
        count
    }

    /// `n` more bytes were written: drops the messages now complete.
    fn advance(&mut self, mut n: usize) {
        self.unsent -= n;
        while let Some(first) = self.messages.front() {
            let left = first.len() - self.offset;
            if n < left {
                self.offset += n;
                return;
            }
            n -= left;
            self.offset = 0;
            self.messages.pop_front();
        }
    }
}

impl Instance {
    async fn run(
        mut self,
        mut events: mpsc::Receiver<InstanceEvent>,
        mut stop: watch::Receiver<bool>,
    ) {
        self.drain();
        loop {
            let timer = self.server.poll_timeout().map(|t| self.clock.deadline(t));
            tokio::select! {
                _ = stop.changed() => break,
                event = events.recv() => match event {
                    Some(event) => self.handle(event),
                    None => break,
                },
                () = sleep_until(timer) => {}
            }
            // Timers are checked after every event too, so a busy connection cannot
            // starve keepalives.
            if self
                .server
                .poll_timeout()
                .is_some_and(|t| t <= self.clock.now())
            {
                self.server.handle_timeout(self.clock.now());
            }
            self.drain();
            self.closing.retain(|t| !t.is_finished());
        }
        self.shutdown().await;
    }

    fn handle(&mut self, event: InstanceEvent) {
        let now = self.clock.now();
        match event {
            InstanceEvent::Offered { stream, from } => {
                // The first output of this call answers the offer (Accepted or Refused).
                self.offered = Some((stream, from));
                self.server
                    .handle_input(now, Input::ConnectionOffered { from: from.ip() });
                self.drain();
                self.offered = None;
            }
            InstanceEvent::Connected { conn, stream } => {
                // An attempt the route server abandoned meanwhile is simply dropped.
                if let Some((peer, _)) = self.connecting.remove(&conn) {
                    self.attach(conn, peer, stream);
                    self.server
                        .handle_input(now, Input::Connected { connection: conn });
                }
            }
            InstanceEvent::ConnectFailed { conn, error } => {
                if let Some((peer, _)) = self.connecting.remove(&conn) {
                    let address = self.peer_address(peer);
                    self.printer.line(
                        format!("peer {address}: connect failed: {error}"),
                        json!({"event": "connect_failed", "peer": address.to_string(),
                               "error": error.to_string()}),
                    );
                    self.server
                        .handle_input(now, Input::ConnectFailed { connection: conn });
                }
            }
            InstanceEvent::Data { conn, bytes, len } => {
                if self.conns.contains_key(&conn) {
                    self.server.handle_input(
                        now,
                        Input::Received {
                            connection: conn,
                            bytes: &bytes[..len],
                        },
                    );
                }
                // Handed back for the next read (dropped if the connection is gone).
                if let Some(c) = self.conns.get(&conn) {
                    let _ = c.read_buffers.try_send(bytes);
                }
            }
            InstanceEvent::Closed { conn, error } => {
                if let Some(c) = self.conns.get(&conn) {
                    let address = self.peer_address(c.peer);
                    let why = error.map_or_else(|| "closed by peer".to_owned(), |e| e.to_string());
                    self.printer.line(
                        format!("peer {address}: connection {why}"),
                        json!({"event": "connection_closed", "peer": address.to_string(),
                               "why": why}),
                    );
                    self.close(conn, false);
                    self.server
                        .handle_input(now, Input::Closed { connection: conn });
                }
            }
            InstanceEvent::WriteBlocked { conn } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.blocked = true;
                    self.server
                        .handle_input(now, Input::TransmitBlocked { connection: conn });
                }
            }
            InstanceEvent::WriteProgress { conn } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.blocked = false;
                    self.server
                        .handle_input(now, Input::TransmitProgress { connection: conn });
                }
            }
            InstanceEvent::Status { query, reply } => {
                let _ = reply.send(self.status(&query));
            }
            InstanceEvent::Reload(config) => self.reload(&config),
        }
    }

    fn reload(&mut self, config: &InstanceConfig) {
        let now = self.clock.now();
        let current = self.server.config();
        let vnet = config.server.vnet_prefixes.clone();
        let mut ignored = Vec::new();
        if config.listen != self.listen {
            ignored.push("listen");
        }
        if config.server.peers != current.peers
            || config.peers.iter().any(|p| {
                !matches!(
                    self.peers.values().find(|i| i.address == p.address),
                    Some(i) if i.socket == *p
                )
            })
        {
            ignored.push("peers");
        }
        if config.server.local_address != current.local_address
            || config.server.router_id != current.router_id
            || config.server.local_asn != current.local_asn
            || config.server.hold_time_secs != current.hold_time_secs
            || config.server.limits != current.limits
            || config.server.extensions != current.extensions
            || config.server.local_ipv6_address != current.local_ipv6_address
        {
            ignored.push("next_hop/router_id/local_asn/hold_time/limits/extensions");
        }
        if !ignored.is_empty() {
            self.printer.line(
                format!("reload: changes to {} need a restart", ignored.join(", ")),
                json!({"event": "reload_ignored", "what": ignored}),
            );
        }
        let branch_to_branch = config.server.branch_to_branch;
        if branch_to_branch != current.branch_to_branch {
            self.printer.line(
                format!("branch-to-branch now {branch_to_branch}"),
                json!({"event": "branch_to_branch_changed", "on": branch_to_branch}),
            );
            self.server.set_branch_to_branch(now, branch_to_branch);
        }
        let preference = config.server.hub_routing_preference;
        if preference != self.server.config().hub_routing_preference {
            self.printer.line(
                format!("hub routing preference now {preference:?}"),
                json!({"event": "hub_routing_preference_changed",
                       "preference": format!("{preference:?}")}),
            );
            self.server.set_hub_routing_preference(now, preference);
        }
        let current = self.server.config();
        if vnet != current.vnet_prefixes {
            let text: Vec<String> = vnet.iter().map(ToString::to_string).collect();
            self.printer.line(
                format!("virtual network ranges now {}", text.join(" ")),
                json!({"event": "vnet_changed", "vnet_prefixes": text}),
            );
            self.server.set_vnet_prefixes(now, vnet);
        }
    }

    /// Carries out everything the route server asked for.
    fn drain(&mut self) {
        while let Some(output) = self.server.poll_output() {
            match output {
                RsOutput::Transmit {
                    connection,
                    peer,
                    bytes,
                } => self.transmit(connection, peer, bytes),
                RsOutput::Connect {
                    connection,
                    peer,
                    remote,
                    port,
                    local,
                } => self.dial(connection, peer, SocketAddr::new(remote, port), local),
                RsOutput::Disconnect { connection, .. } => {
                    if let Some((_, attempt)) = self.connecting.remove(&connection) {
                        attempt.abort();
                    }
                    self.close(connection, true);
                }
                RsOutput::Accepted {
                    connection,
                    peer,
                    from,
                } => match self.offered.take() {
                    Some((stream, addr)) if addr.ip() == from => {
                        if let Err(e) = self.accept(connection, peer, stream) {
                            let now = self.clock.now();
                            self.printer.line(
                                format!("peer {from}: accepted connection unusable: {e}"),
                                json!({"event": "connection_error", "peer": from.to_string(),
                                       "error": e.to_string()}),
                            );
                            self.server.handle_input(now, Input::Closed { connection });
                        }
                    }
                    other => self.offered = other,
                },
                RsOutput::Refused { from, reason } => {
                    self.offered = None;
                    self.printer.line(
                        format!("connection from {from} refused: {reason}"),
                        json!({"event": "refused", "from": from.to_string(),
                               "reason": reason.to_string()}),
                    );
                }
                RsOutput::Program(changes) => self.print_changes(&changes),
                RsOutput::Event(event) => self.print_event(&event),
            }
        }
        self.printer.flush();
    }

    fn accept(&mut self, conn: ConnectionId, peer: PeerId, stream: TcpStream) -> io::Result<()> {
        if let Some(info) = self.peers.get(&peer) {
            if info.socket.ttl_security {
                let addr = stream.peer_addr()?;
                socket::set_gtsm(&stream, addr, true)?;
            }
        }
        self.attach(conn, peer, stream);
        Ok(())
    }

    fn attach(&mut self, conn: ConnectionId, peer: PeerId, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let (read_buffers, returned) = mpsc::channel(READ_BUFFERS);
        let reader_task = tokio::spawn(read_loop(read, conn, self.events.clone(), returned));
        let writer_task = tokio::spawn(write_loop(
            write,
            rx,
            queued.clone(),
            conn,
            self.events.clone(),
        ));
        self.conns.insert(
            conn,
            Conn {
                peer,
                writer: tx,
                read_buffers,
                queued,
                reader_task,
                writer_task,
                blocked: false,
            },
        );
    }

    /// Forgets a connection: its reader stops now; its writer stops once what is queued
    /// is written (`flush`) or at once.
    fn close(&mut self, conn: ConnectionId, flush: bool) {
        if let Some(c) = self.conns.remove(&conn) {
            drop(c.writer);
            if flush {
                // The reader goes on (what it reads is dropped: the connection is no
                // longer known) until the peer closes after our FIN: closing a socket
                // with unread bytes makes Linux send a RST, which discards what the peer
                // has not read yet, the NOTIFICATION included.
                let (writer, reader) = (c.writer_task, c.reader_task);
                let (stop_writer, stop_reader) = (writer.abort_handle(), reader.abort_handle());
                self.closing.push(tokio::spawn(async move {
                    if tokio::time::timeout(FLUSH_ON_CLOSE, writer).await.is_err() {
                        stop_writer.abort();
                    }
                    if tokio::time::timeout(LINGER_AFTER_FIN, reader)
                        .await
                        .is_err()
                    {
                        stop_reader.abort();
                    }
                }));
            } else {
                c.reader_task.abort();
                c.writer_task.abort();
            }
        }
    }

    fn transmit(&mut self, conn: ConnectionId, peer: PeerId, bytes: Vec<u8>) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let len = bytes.len();
        if c.queued.load(Ordering::Relaxed) + len > MAX_WRITE_QUEUE {
            let address = self.peer_address(peer);
            self.printer.line(
                format!(
                    "peer {address}: over {MAX_WRITE_QUEUE} bytes queued, not reading: closing"
                ),
                json!({"event": "write_queue_full", "peer": address.to_string()}),
            );
            self.close(conn, false);
            let now = self.clock.now();
            self.server
                .handle_input(now, Input::Closed { connection: conn });
            return;
        }
        c.queued.fetch_add(len, Ordering::Relaxed);
        // The writer ends only after its sender is dropped, which `close` does.
        let _ = c.writer.send(bytes);
    }

    fn dial(
        &mut self,
        conn: ConnectionId,
        peer: PeerId,
        remote: SocketAddr,
        local: Option<IpAddr>,
    ) {
        let Some(info) = self.peers.get(&peer) else {
            return;
        };
        let socket = info.socket.clone();
        let events = self.events.clone();
        let attempt = tokio::spawn(async move {
            let event = match connect(remote, local, socket).await {
                Ok(stream) => InstanceEvent::Connected { conn, stream },
                Err(error) => InstanceEvent::ConnectFailed { conn, error },
            };
            let _ = events.send(event).await;
        });
        self.connecting.insert(conn, (peer, attempt));
    }

    async fn shutdown(mut self) {
        let now = self.clock.now();
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for peer in ids {
            self.server.shutdown_peer(now, peer, Some(SHUTDOWN_MESSAGE));
            self.drain();
        }
        let conns: Vec<ConnectionId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.close(conn, true);
        }
        let writers = std::mem::take(&mut self.closing);
        let _ = tokio::time::timeout(FLUSH_AT_EXIT, async {
            for w in writers {
                let _ = w.await;
            }
        })
        .await;
        self.printer.line(
            "stopped".to_owned(),
            json!({"event": "stopped", "message": SHUTDOWN_MESSAGE}),
        );
        self.printer.flush();
    }

    fn peer_address(&self, peer: PeerId) -> IpAddr {
        self.peers
            .get(&peer)
            .map_or(IpAddr::from([0, 0, 0, 0]), |p| p.address)
    }

    fn print_changes(&mut self, changes: &FabricChanges) {
        if self.printer.output.quiet {
            return;
        }
        for change in changes.iter() {
            match change {
                FabricChange::Set { prefix, next_hops } => {
                    let hops: Vec<String> = next_hops.iter().map(ToString::to_string).collect();
                    self.printer.line(
                        format!("program {prefix} via {}", hops.join(" ")),
                        json!({"event": "program", "prefix": prefix.to_string(), "next_hops": hops}),
                    );
                }
                FabricChange::Remove { prefix } => self.printer.line(
                    format!("remove {prefix}"),
                    json!({"event": "remove", "prefix": prefix.to_string()}),
                ),
            }
        }
    }

    fn print_event(&mut self, event: &Event) {
        let peer_of = |s: &Self, peer: PeerId| {
            s.peers
                .get(&peer)
                .map_or((String::new(), 0), |p| (p.address.to_string(), p.asn))
        };
        match event {
            Event::PeerUp { peer } => {
                if let Some(p) = self.peers.get_mut(peer) {
                    p.up_since = Some(std::time::Instant::now());
                }
                let (addr, asn) = peer_of(self, *peer);
                self.printer.line(
                    format!("peer {addr} AS{asn} Established"),
                    json!({"event": "peer_up", "peer": addr, "asn": asn}),
                );
            }
            Event::PeerDown { peer, reason } => {
                if let Some(p) = self.peers.get_mut(peer) {
                    p.up_since = None;
                }
                let (addr, asn) = peer_of(self, *peer);
                let why = describe_end(reason);
                self.printer.line(
                    format!("peer {addr} AS{asn} down: {why}"),
                    json!({"event": "peer_down", "peer": addr, "asn": asn, "reason": why}),
                );
            }
            Event::RouteLimitExceeded {
                peer,
                counted,
                limit,
            } => {
                let (addr, _) = peer_of(self, *peer);
                self.printer.line(
                    format!("peer {addr}: route limit exceeded ({counted} > {limit}): Cease 6/1"),
                    json!({"event": "route_limit_exceeded", "peer": addr,
                           "counted": counted, "limit": limit}),
                );
            }
            Event::RoutesRejected {
                peer,
                reason,
                count,
                examples,
            } => {
                let (addr, _) = peer_of(self, *peer);
                let examples: Vec<String> = examples.iter().map(ToString::to_string).collect();
                self.printer.line(
                    format!(
                        "peer {addr}: {count} routes rejected ({reason}), e.g. {}",
                        examples.join(" ")
                    ),
                    json!({"event": "routes_rejected", "peer": addr, "count": count,
                           "reason": reason.to_string(), "examples": examples}),
                );
            }
            Event::SessionEnded {
                peer,
                state,
                reason,
                ..
            } => {
                let (addr, _) = peer_of(self, *peer);
                let why = describe_end(reason);
                self.printer.line(
                    format!("peer {addr}: session ended in {state:?}: {why}"),
                    json!({"event": "session_ended", "peer": addr,
                           "state": format!("{state:?}"), "reason": why}),
                );
            }
            Event::RouteRefreshReceived {
                peer,
                family,
                subtype,
            } => {
                let (addr, _) = peer_of(self, *peer);
                let family = family_name(*family);
                self.printer.line(
                    format!("peer {addr}: ROUTE-REFRESH {subtype:?} received for {family}"),
                    json!({"event": "route_refresh_received", "peer": addr,
                           "family": family, "subtype": format!("{subtype:?}")}),
                );
            }
            Event::RouteRefreshSent { peer } => {
                let (addr, _) = peer_of(self, *peer);
                self.printer.line(
                    format!("peer {addr}: ROUTE-REFRESH sent"),
                    json!({"event": "route_refresh_sent", "peer": addr}),
                );
            }
            Event::SessionReset { peer } => {
                let (addr, _) = peer_of(self, *peer);
                self.printer.line(
                    format!("peer {addr}: session reset (no route refresh)"),
                    json!({"event": "session_reset", "peer": addr}),
                );
            }
            Event::RoutesKeptStale { peer, routes } => {
                let (addr, _) = peer_of(self, *peer);
                self.printer.line(
                    format!("peer {addr}: {routes} routes kept stale (graceful restart)"),
                    json!({"event": "routes_kept_stale", "peer": addr, "routes": routes}),
                );
            }
            Event::RestartDetected { peer } => {
                let (addr, _) = peer_of(self, *peer);
                self.printer.line(
                    format!("peer {addr}: reconnected while established: graceful restart"),
                    json!({"event": "restart_detected", "peer": addr}),
                );
            }
            // Already printed from Output::Refused, which is what the driver acts on.
            Event::ConnectionRefused { .. } => {}
            Event::Warning { text } => self.printer.line(
                format!("warning: {text}"),
                json!({"event": "warning", "text": text}),
            ),
            other => self.printer.line(
                format!("{other:?}"),
                json!({"event": "other", "debug": format!("{other:?}")}),
            ),
        }
    }

    fn status(&self, query: &status::Query) -> Value {
        match query {
            status::Query::Summary => {
                let mut peers: Vec<(&PeerId, &PeerInfo)> = self.peers.iter().collect();
                peers.sort_by_key(|(id, _)| **id);
                let peers: Vec<Value> = peers
                    .into_iter()
                    .map(|(id, p)| {
                        let metrics = self.server.metrics(*id);
                        let conn = self.conns.values().find(|c| c.peer == *id);
                        json!({
                            "address": p.address.to_string(),
                            "asn": p.asn,
                            "state": self.server.peer_state(*id).map(|s| format!("{s:?}")),
                            "uptime_secs": p.up_since.map(|t| t.elapsed().as_secs_f64()),
                            "BgpPeerStatus": metrics.map(|m| m.bgp_peer_status),
                            "CountOfRoutesLearnedFromPeer":
                                metrics.map(|m| m.count_of_routes_learned_from_peer),
                            "CountOfRoutesAdvertisedToPeer":
                                metrics.map(|m| m.count_of_routes_advertised_to_peer),
                            "write_blocked": conn.is_some_and(|c| c.blocked),
                            "write_queued_bytes": conn.map(|c| c.queued.load(Ordering::Relaxed)),
                        })
                    })
                    .collect();
                json!({
                    "name": self.name,
                    "listen": self.listen.to_string(),
                    "local_asn": self.server.config().local_asn,
                    "next_hop": self.server.config().local_address.to_string(),
                    "fabric_routes": self.server.fabric().len(),
                    "peers": peers,
                })
            }
            status::Query::Learned(address) | status::Query::Advertised(address) => {
                let Some(peer) = self.server.peer_by_address(*address) else {
                    return json!({"error": format!("{address} is not a peer of {}", self.name)});
                };
                let rows = if matches!(query, status::Query::Learned(_)) {
                    self.server.learned_routes(peer)
                } else {
                    self.server.advertised_routes(peer)
                };
                let value: Vec<Value> = rows
                    .into_iter()
                    .map(|r| {
                        json!({
                            "localAddress": r.local_address.to_string(),
                            "network": r.network.to_string(),
                            "nextHop": r.next_hop.to_string(),
                            "sourcePeer": r.source_peer.to_string(),
                            "origin": r.origin,
                            "asPath": r.as_path,
                            "weight": r.weight,
                        })
                    })
                    .collect();
                json!({ "value": value })
            }
            status::Query::Fabric => {
                let routes: Vec<Value> = self
                    .server
                    .fabric()
                    .iter()
                    .map(|(prefix, hops)| {
                        json!({
                            "prefix": prefix.to_string(),
                            "next_hops": hops.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                json!({ "routes": routes })
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// `ipv4-unicast` and the like, as BGP daemons write families.
fn family_name(family: Family) -> String {
    if family == Family::IPV4_UNICAST {
        "ipv4-unicast".to_owned()
    } else if family == Family::IPV6_UNICAST {
        "ipv6-unicast".to_owned()
    } else {
        format!("{family:?}")
    }
}

fn describe_end(end: &SessionEnd) -> String {
    match end {
        SessionEnd::Stopped {
            notification: Some(n),
            ..
        } => format!("stopped, sent {n}"),
        SessionEnd::Stopped {
            notification: None, ..
        } => "stopped (no connection to send a NOTIFICATION on)".to_owned(),
        SessionEnd::NotificationSent(n) => format!("sent {n}"),
        SessionEnd::NotificationReceived(n) => format!("received {n}"),
        SessionEnd::ErrorNotSent(n) => format!("error {n} (not sent)"),
        SessionEnd::HoldTimerExpired => {
            "hold timer expired: nothing received for the hold time; sent 4/0".to_owned()
        }
        SessionEnd::SendHoldTimerExpired => {
            "send hold timer expired (RFC 9687): the peer read nothing for the send hold \
             time; NOTIFICATION 8 queued and the connection closed"
                .to_owned()
        }
        SessionEnd::TcpConnectionFails => "TCP connection closed by the peer, or failed".to_owned(),
        SessionEnd::CollisionResolution => {
            "connection collision (RFC 4271 6.8): this connection lost; sent 6/7".to_owned()
        }
        SessionEnd::UnexpectedEvent => {
            "unexpected event in Connect or Active (such as a KEEPALIVE before any OPEN): \
             connection dropped"
                .to_owned()
        }
    }
}

/// Buffered printing of one instance's lines, text or JSON.
struct Printer {
    name: String,
    output: Output,
    buf: Vec<u8>,
}

impl Printer {
    fn new(name: String, output: Output) -> Self {
        Self {
            name,
            output,
            buf: Vec::new(),
        }
    }

    fn line(&mut self, text: String, mut value: Value) {
        if self.output.json {
            if let Value::Object(map) = &mut value {
                map.insert("instance".to_owned(), Value::String(self.name.clone()));
            }
            let _ = serde_json::to_writer(&mut self.buf, &value);
            self.buf.push(b'\n');
        } else {
            let _ = writeln!(self.buf, "{} {text}", self.name);
        }
        if self.buf.len() > 1 << 16 {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.buf.is_empty() {
            let mut out = io::stdout().lock();
            let _ = out.write_all(&self.buf);
            let _ = out.flush();
            self.buf.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(p: &PendingWrites) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
        let count = p.slices(&mut slices);
        slices[..count]
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect()
    }

    /// Partial writes, within a message and across message boundaries: what is left to
    /// write and its count stay in step. (The old bookkeeping subtracted a partly written
    /// first message's written bytes twice, which overflowed in debug builds and killed the
    /// writer: a peer that stopped reading was then never reported blocked.)
    #[test]
    fn pending_writes_track_partial_writes() {
        let mut p = PendingWrites::default();
        p.push(vec![1; 1000]);
        p.push(vec![2; 1000]);
        p.push(vec![3; 500]);
        assert_eq!((p.len(), p.unsent()), (3, 2500));

        p.advance(600);
        assert_eq!((p.len(), p.unsent()), (3, 1900));
        let left = written(&p);
        assert_eq!(left.len(), 1900);
        assert_eq!((left[0], left[399], left[400], left[1400]), (1, 1, 2, 3));

        p.advance(1400); // the rest of the first, the whole second
        assert_eq!((p.len(), p.unsent()), (1, 500));
        assert_eq!(written(&p), vec![3; 500]);

        p.push(vec![4; 10]);
        p.advance(0);
        assert_eq!((p.len(), p.unsent()), (2, 510));
        p.advance(510);
        assert!(p.is_empty());
        assert_eq!(p.unsent(), 0);
        assert!(written(&p).is_empty());
    }
}
