//! The status endpoint: a minimal HTTP/1.0 server answering GET with JSON.
//!
//! * `GET /status`: every instance, its peers with state, uptime and Azure's metrics
//!   (`BgpPeerStatus`, `CountOfRoutesLearnedFromPeer`, `CountOfRoutesAdvertisedToPeer`).
//! * `GET /learned-routes?peer=ADDR[&instance=NAME]` and `GET /advertised-routes?...`:
//!   the rows of `az network routeserver peering list-learned-routes` /
//!   `list-advertised-routes` (`{"value": [...]}`).
//! * `GET /fabric[?instance=NAME]`: what the instance programs, prefix to next hops.
//!
//! `instance` defaults to the first one. One request per connection; the request is read
//! with a size and a time bound.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use super::driver::InstanceEvent;

/// The most bytes of a request read.
const MAX_REQUEST: usize = 8 * 1024;

/// How long a client may take to send its request, and an instance to answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What a status request asks one instance.
#[derive(Clone, Debug)]
pub(super) enum Query {
    Summary,
    Learned(IpAddr),
    Advertised(IpAddr),
    Fabric,
}

pub(super) async fn serve_http(
    listener: TcpListener,
    instances: Vec<(String, mpsc::Sender<InstanceEvent>)>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let instances = instances.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, answer(stream, &instances)).await;
        });
    }
}

async fn answer(
    mut stream: TcpStream,
    instances: &[(String, mpsc::Sender<InstanceEvent>)],
) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && !request.ends_with(b"\n\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
        if request.len() > MAX_REQUEST {
            return respond(&mut stream, 413, &json!({"error": "request too large"})).await;
        }
    }
    let text = String::from_utf8_lossy(&request);
    let first = text.lines().next().unwrap_or("");
    let mut words = first.split_whitespace();
    let (Some(method), Some(target)) = (words.next(), words.next()) else {
        return respond(&mut stream, 400, &json!({"error": "bad request line"})).await;
    };
    if method != "GET" {
        return respond(&mut stream, 405, &json!({"error": "only GET"})).await;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (code, body) = match route(path, query, instances).await {
        Ok(body) => (200, body),
        Err((code, message)) => (code, json!({ "error": message })),
    };
    respond(&mut stream, code, &body).await
}

async fn route(
    path: &str,
    query: &str,
    instances: &[(String, mpsc::Sender<InstanceEvent>)],
) -> Result<Value, (u16, String)> {
    if path == "/status" || path == "/" {
        let mut all = Vec::new();
        for (_, tx) in instances {
            all.push(ask(tx, Query::Summary).await?);
        }
        return Ok(json!({ "instances": all }));
    }
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    };
    let tx = match param("instance") {
        None => &instances.first().ok_or((404, "no instance".to_owned()))?.1,
        Some(name) => {
            &instances
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or((404, format!("no instance named {name}")))?
                .1
        }
    };
    let peer = || -> Result<IpAddr, (u16, String)> {
        let text = param("peer").ok_or((400, "missing ?peer=ADDRESS".to_owned()))?;
        text.parse()
            .map_err(|_| (400, format!("peer `{text}` is not an IP address")))
    };
    match path {
        "/learned-routes" => ask(tx, Query::Learned(peer()?)).await,
        "/advertised-routes" => ask(tx, Query::Advertised(peer()?)).await,
        "/fabric" => ask(tx, Query::Fabric).await,
        _ => Err((404, format!("no such path {path}"))),
    }
}

async fn ask(tx: &mpsc::Sender<InstanceEvent>, query: Query) -> Result<Value, (u16, String)> {
    let (reply, answer) = oneshot::channel();
    tx.send(InstanceEvent::Status { query, reply })
        .await
        .map_err(|_| (503, "instance stopped".to_owned()))?;
    answer
        .await
        .map_err(|_| (503, "instance stopped".to_owned()))
}

async fn respond(stream: &mut TcpStream, code: u16, body: &Value) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        _ => "Service Unavailable",
    };
    let body = serde_json::to_vec(body).unwrap_or_default();
    let head = format!(
        "HTTP/1.0 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.shutdown().await
}
