//! Embedding `RouteServer` in your own tokio program: one Azure-like instance that NVAs
//! connect to, its fabric programming printed. `fabric-sim serve` is the same loop with
//! configuration, outbound connections, TCP-MD5/GTSM, status and shutdown added.
//!
//! ```text
//! cargo run -p fabric-sim --example embed_tokio -- 127.0.0.1:1790 198.51.100.1 127.0.0.2 65001
//! ```
//! (listen address, advertised next hop, one NVA's address and ASN; VNet 10.1.0.0/16).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use route_server::{
    Config, ConnectionId, FabricChange, Input, Instant, Output, PeerConfig, RouteServer,
    RECOMMENDED_RECEIVE_CHUNK,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// What the task owning the route server waits for.
enum Event {
    Offered(TcpStream, SocketAddr),
    Bytes(ConnectionId, Vec<u8>),
    Closed(ConnectionId),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, next_hop, nva, asn] = args.as_slice() else {
        return Err("usage: embed_tokio LISTEN_ADDR:PORT NEXT_HOP NVA_ADDR NVA_ASN".into());
    };
    let listen: SocketAddr = listen.parse()?;
    let next_hop: Ipv4Addr = next_hop.parse()?;
    let config = Config::azure(next_hop, vec!["10.1.0.0/16".parse()?])
        .with_peer(PeerConfig::nva(nva.parse::<IpAddr>()?, asn.parse()?));

    // The route server reads no clock: we pass milliseconds since start.
    let epoch = std::time::Instant::now();
    let now = move || Instant::from_millis(epoch.elapsed().as_millis() as u64);
    let mut server = RouteServer::new(config, now())?;

    let (events, mut inbox) = mpsc::channel::<Event>(64);
    let listener = TcpListener::bind(listen).await?;
    let accept_events = events.clone();
    tokio::spawn(async move {
        while let Ok((stream, from)) = listener.accept().await {
            if accept_events
                .send(Event::Offered(stream, from))
                .await
                .is_err()
            {
                break;
            }
        }
    });

    // Our sockets, by the route server's token: a queue to each connection's writer.
    let mut writers: HashMap<ConnectionId, mpsc::UnboundedSender<Vec<u8>>> = HashMap::new();
    let mut offered: Option<TcpStream> = None;
    loop {
        // 1. Wait for an event or the route server's next deadline.
        let deadline = server
            .poll_timeout()
            .map_or(Duration::from_secs(3600), |t| {
                Duration::from_millis(t.as_millis().saturating_sub(now().as_millis()))
            });
        tokio::select! {
            event = inbox.recv() => match event.expect("we hold a sender") {
                Event::Offered(stream, from) => {
                    offered = Some(stream);
                    server.handle_input(now(), Input::ConnectionOffered { from: from.ip() });
                }
                Event::Bytes(connection, bytes) => {
                    server.handle_input(now(), Input::Received { connection, bytes: &bytes });
                }
                Event::Closed(connection) => {
                    writers.remove(&connection);
                    server.handle_input(now(), Input::Closed { connection });
                }
            },
            () = tokio::time::sleep(deadline) => server.handle_timeout(now()),
        }
        // 2. Do everything it asks, until it has nothing more to say.
        while let Some(output) = server.poll_output() {
            match output {
                Output::Accepted { connection, .. } => {
                    let stream = offered.take().expect("answers the offer just made");
                    let (mut read, mut write) = stream.into_split();
                    let (tx, mut queue) = mpsc::unbounded_channel::<Vec<u8>>();
                    writers.insert(connection, tx);
                    tokio::spawn(async move {
                        while let Some(bytes) = queue.recv().await {
                            if write.write_all(&bytes).await.is_err() {
                                break;
                            }
                        }
                    });
                    let reader_events = events.clone();
                    tokio::spawn(async move {
                        let mut buf = vec![0; RECOMMENDED_RECEIVE_CHUNK];
                        loop {
                            let event = match read.read(&mut buf).await {
                                Ok(0) | Err(_) => Event::Closed(connection),
                                Ok(n) => Event::Bytes(connection, buf[..n].to_vec()),
                            };
                            let last = matches!(event, Event::Closed(_));
                            if reader_events.send(event).await.is_err() || last {
                                break;
                            }
                        }
                    });
                }
                Output::Refused { from, reason } => {
                    offered = None; // dropping the socket closes it
                    println!("refused {from}: {reason}");
                }
                Output::Transmit {
                    connection, bytes, ..
                } => {
                    if let Some(writer) = writers.get(&connection) {
                        let _ = writer.send(bytes);
                    }
                }
                // Dropping the queue lets the writer flush what it has, then close.
                Output::Disconnect { connection, .. } => drop(writers.remove(&connection)),
                // NVAs dial us in this example (peers are passive by default).
                Output::Connect { connection, .. } => {
                    server.handle_input(now(), Input::ConnectFailed { connection });
                }
                Output::Program(changes) => {
                    for change in changes.iter() {
                        match change {
                            FabricChange::Set { prefix, next_hops } => {
                                println!("program {prefix} via {next_hops:?}");
                            }
                            FabricChange::Remove { prefix } => println!("remove {prefix}"),
                        }
                    }
                }
                Output::Event(event) => println!("{event:?}"),
            }
        }
    }
}
