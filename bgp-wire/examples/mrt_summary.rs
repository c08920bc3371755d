//! Summarises MRT files (RFC 6396): what records they hold, what the BGP messages and RIB
//! entries in them say, who sent them, which ASes originate the most routes, the time
//! range, what failed to decode, and how fast decoding went.
//!
//! ```text
//! cargo run --release -p bgp-wire --example mrt_summary -- [OPTIONS] [FILE]...
//! cargo run --release -p bgp-wire --example mrt_summary -- --help
//! ```
//!
//! Files may be gzip (`.gz`), bzip2 (`.bz2`) or plain. Without arguments it reads a RIPE
//! RIS updates dump shipped in `bgp-wire/tests/data/mrt`. Files are streamed in pieces of
//! 8 MiB (a full-table dump is never held whole), with a progress line on stderr every
//! 64 MiB of decompressed data.
//!
//! The speed is measured apart from the census: each piece is first decoded once on its
//! own (every message and RIB entry into owned values, nothing else), and only that pass
//! is timed, so the figure is the decoder's. Inputs with less than a millisecond or a
//! thousand items of decoding get no rate: a rate from so little says nothing.
//!
//! Records this crate keeps opaque (BGP4MP_ENTRY, the deprecated BGP type, ...) are
//! counted and listed as not decoded, never as decoded without errors.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bgp_wire::mrt::{subtype_name, MrtBody, MrtReader, MrtRecord, RibAttributes};
use bgp_wire::{AttrValue, Family, Message, MpNlri, PathAttribute};
use clap::Parser;

const DEFAULT_FILE: &str = "tests/data/mrt/bgpdump__updates.20160811.1600.gz";
/// Bytes read from the decompressor at a time.
const PIECE: usize = 8 << 20;
/// Decompressed bytes between progress lines.
const PROGRESS_EVERY: u64 = 64 << 20;
/// Below these, no decode rate is printed.
const MIN_TIMED: Duration = Duration::from_millis(1);
const MIN_TIMED_ITEMS: usize = 1000;

/// Summarise MRT files (RFC 6396): record and message census, per-peer counts, top
/// origin ASes, time range, decode errors and decode speed.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// MRT files: gzip (.gz), bzip2 (.bz2) or plain. Default: a RIPE RIS updates dump
    /// shipped with the crate.
    files: Vec<PathBuf>,
    /// How many peers and origin ASes to list.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// How many errors to list (all are counted).
    #[arg(long, default_value_t = 20)]
    max_errors: usize,
    /// Skip the timed decode pass.
    #[arg(long)]
    no_timing: bool,
    /// No progress lines on stderr.
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut files = args.files.clone();
    if files.is_empty() {
        files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_FILE));
    }
    let mut failed = false;
    for path in &files {
        if let Err(e) = summarise(path, &args) {
            eprintln!("mrt_summary: {}: {e}", path.display());
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Who sent a message or a RIB entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
struct Peer {
    address: IpAddr,
    asn: u32,
}

/// What one peer contributed.
#[derive(Clone, Copy, Default, Debug)]
struct PeerCounts {
    messages: usize,
    updates: usize,
    announced: usize,
    withdrawn: usize,
    rib_entries: usize,
}

#[derive(Default)]
struct Summary {
    records: usize,
    records_by_kind: BTreeMap<String, usize>,
    /// Records kept opaque, by kind: counted, not decoded.
    not_decoded: BTreeMap<String, usize>,
    messages: usize,
    messages_by_type: BTreeMap<&'static str, usize>,
    rib_entries: usize,
    announced: BTreeMap<String, usize>,
    withdrawn: BTreeMap<String, usize>,
    attributes: BTreeMap<u8, usize>,
    as_path_lengths: BTreeMap<usize, usize>,
    communities: usize,
    extended_communities: usize,
    large_communities: usize,
    updates_with_issues: usize,
    peers: HashMap<Peer, PeerCounts>,
    /// The current PEER_INDEX_TABLE, for TABLE_DUMP_V2 RIB entries.
    peer_index: Vec<Peer>,
    /// Routes (announced prefixes and RIB entries) per originating AS.
    origins: HashMap<u32, usize>,
    /// Routes whose path ends in an AS_SET or is empty: no single origin.
    no_single_origin: usize,
    first_timestamp: Option<u32>,
    last_timestamp: Option<u32>,
    repaired_entries: usize,
    errors: Vec<String>,
    error_count: usize,
    max_errors: usize,
    decoded_items: usize,
    decode_time: Duration,
}

impl Summary {
    fn error(&mut self, text: String) {
        self.error_count += 1;
        if self.errors.len() < self.max_errors {
            self.errors.push(text);
        }
    }

    fn attributes(&mut self, attributes: &[PathAttribute]) {
        for a in attributes {
            *self.attributes.entry(a.type_code().0).or_default() += 1;
            match &a.value {
                AttrValue::Communities(c) => self.communities += c.len(),
                AttrValue::ExtendedCommunities(c) => self.extended_communities += c.len(),
                AttrValue::LargeCommunities(c) => self.large_communities += c.len(),
                AttrValue::MpReachNlri(r) => {
                    *self.announced.entry(family_name(r.family)).or_default() += nlri_len(&r.nlri)
                }
                AttrValue::MpUnreachNlri(r) => {
                    *self.withdrawn.entry(family_name(r.family)).or_default() += nlri_len(&r.nlri)
                }
                _ => {}
            }
        }
    }

    fn origin(&mut self, origin: Option<u32>, routes: usize) {
        match origin {
            Some(asn) => *self.origins.entry(asn).or_default() += routes,
            None => self.no_single_origin += routes,
        }
    }

    fn record(&mut self, offset: u64, record: &MrtRecord<'_>) {
        self.records += 1;
        self.first_timestamp = Some(
            self.first_timestamp
                .map_or(record.timestamp, |t| t.min(record.timestamp)),
        );
        self.last_timestamp = Some(
            self.last_timestamp
                .map_or(record.timestamp, |t| t.max(record.timestamp)),
        );
        let t = record.mrt_type();
        let kind = format!(
            "{}/{}",
            t.name()
                .map_or_else(|| format!("TYPE{}", t.0), str::to_string),
            subtype_name(t, record.subtype())
                .map_or_else(|| format!("SUBTYPE{}", record.subtype()), str::to_string)
        );
        match &record.body {
            MrtBody::Message(m) => {
                self.messages += 1;
                let peer = Peer {
                    address: m.addresses.peer(),
                    asn: m.peer_as,
                };
                self.peers.entry(peer).or_default().messages += 1;
                match m.parse_message() {
                    Ok(msg) => self.message(peer, &msg, &m.session_params()),
                    Err(e) => self.error(format!("record at byte {offset}: BGP message: {e}")),
                }
            }
            MrtBody::PeerIndexTable(table) => {
                self.peer_index = table
                    .peers
                    .iter()
                    .map(|p| Peer {
                        address: p.address,
                        asn: p.asn,
                    })
                    .collect();
            }
            MrtBody::Rib(rib) => {
                for entry in &rib.entries {
                    self.rib_entries += 1;
                    *self.announced.entry(family_name(rib.family())).or_default() += 1;
                    if let Some(peer) = self.peer_index.get(usize::from(entry.peer_index)).copied()
                    {
                        self.peers.entry(peer).or_default().rib_entries += 1;
                    }
                    let decoded = rib.decode_attributes(entry);
                    self.rib_attributes(offset, decoded);
                }
            }
            MrtBody::TableDump(t) => {
                self.rib_entries += 1;
                let peer = Peer {
                    address: t.peer_ip,
                    asn: u32::from(t.peer_as),
                };
                self.peers.entry(peer).or_default().rib_entries += 1;
                let family = if t.prefix.addr().is_ipv4() {
                    Family::IPV4_UNICAST
                } else {
                    Family::IPV6_UNICAST
                };
                *self.announced.entry(family_name(family)).or_default() += 1;
                let decoded = t.decode_attributes();
                self.rib_attributes(offset, decoded);
            }
            MrtBody::StateChange(_) => {}
            MrtBody::RibGeneric(_) | MrtBody::Unknown { .. } => {
                *self.not_decoded.entry(kind.clone()).or_default() += 1;
            }
        }
        *self.records_by_kind.entry(kind).or_default() += 1;
    }

    fn rib_attributes(
        &mut self,
        offset: u64,
        decoded: Result<RibAttributes, bgp_wire::DecodeError>,
    ) {
        match decoded {
            Ok(d) => {
                if !d.issues.is_empty() {
                    self.updates_with_issues += 1;
                }
                self.attributes(&d.attributes);
                // RIB entries carry their true AS_PATH (4-octet in TABLE_DUMP_V2).
                let path = d.attributes.iter().find_map(|a| match &a.value {
                    AttrValue::AsPath(p) => Some(p),
                    _ => None,
                });
                if let Some(path) = path {
                    *self.as_path_lengths.entry(path.path_length()).or_default() += 1;
                }
                self.origin(path.and_then(bgp_wire::AsPath::origin_as), 1);
            }
            Err(e) => self.error(format!(
                "record at byte {offset}: RIB entry attributes: {e}"
            )),
        }
    }

    fn message(&mut self, peer: Peer, msg: &Message, params: &bgp_wire::SessionParams) {
        let name = match msg {
            Message::Open(_) => "OPEN",
            Message::Update(_) => "UPDATE",
            Message::Notification(_) => "NOTIFICATION",
            Message::Keepalive => "KEEPALIVE",
            Message::RouteRefresh(_) => "ROUTE-REFRESH",
        };
        *self.messages_by_type.entry(name).or_default() += 1;
        if let Message::Update(u) = msg {
            let v4 = family_name(Family::IPV4_UNICAST);
            *self.announced.entry(v4.clone()).or_default() += u.nlri.len();
            *self.withdrawn.entry(v4).or_default() += u.withdrawn.len();
            if !u.issues.is_empty() {
                self.updates_with_issues += 1;
            }
            self.attributes(&u.attributes);
            let announced = u.announced().count();
            let withdrawn = u.withdrawn_routes().count();
            let counts = self.peers.entry(peer).or_default();
            counts.updates += 1;
            counts.announced += announced;
            counts.withdrawn += withdrawn;
            // The true path: AS_PATH merged with AS4_PATH on 2-octet sessions (RFC 6793).
            if u.as_path().is_some() {
                let path = u.effective_as_path(params);
                *self.as_path_lengths.entry(path.path_length()).or_default() += 1;
                if announced > 0 {
                    self.origin(path.origin_as(), announced);
                }
            }
        }
    }
}

/// Counts the decompressed bytes handed out, for progress.
struct Counting<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Streams the file through the census, one piece at a time: partial readers over what
/// has arrived (a record cut by the end of a piece waits for the next), a whole reader
/// over the last piece.
fn summarise(path: &Path, args: &Args) -> Result<(), String> {
    let reader = mrt_files::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut input = Counting {
        inner: reader,
        bytes: 0,
    };
    let mut summary = Summary {
        max_errors: args.max_errors,
        ..Summary::default()
    };
    let started = Instant::now();
    // Decompressed bytes before `buffer[0]`.
    let mut consumed: u64 = 0;
    let mut buffer: Vec<u8> = Vec::with_capacity(PIECE * 2);
    let mut next_progress = PROGRESS_EVERY;
    let mut finished = false;
    let mut decompression_error = None;
    while !finished {
        // Fill up one more piece (a record longer than the buffer makes it grow).
        let target = buffer.len() + PIECE;
        while buffer.len() < target {
            let before = buffer.len();
            buffer.resize(target, 0);
            match input.read(&mut buffer[before..]) {
                Ok(0) => {
                    buffer.truncate(before);
                    finished = true;
                    break;
                }
                Ok(n) => buffer.truncate(before + n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buffer.truncate(before),
                Err(e) => {
                    buffer.truncate(before);
                    decompression_error = Some(e.to_string());
                    finished = true;
                    break;
                }
            }
        }
        if !args.no_timing {
            let (items, elapsed) = decode_only(&buffer, finished);
            summary.decoded_items += items;
            summary.decode_time += elapsed;
        }
        let mut records = if finished {
            MrtReader::new(&buffer)
        } else {
            MrtReader::new_partial(&buffer)
        };
        for item in records.by_ref() {
            match item {
                Ok((offset, record)) => summary.record(consumed + offset as u64, &record),
                Err(mut e) => {
                    e.offset += consumed as usize;
                    summary.error(e.to_string());
                }
            }
        }
        summary.repaired_entries += records.repairs().batched_table_dump_entries;
        let used = records.offset();
        consumed += used as u64;
        buffer.drain(..used);
        if !args.quiet && input.bytes >= next_progress {
            eprintln!(
                "mrt_summary: {}: {} MiB read, {} records, {:.0} s",
                path.display(),
                input.bytes >> 20,
                summary.records,
                started.elapsed().as_secs_f64()
            );
            next_progress = input.bytes + PROGRESS_EVERY;
        }
    }
    if let Some(e) = &decompression_error {
        if input.bytes == 0 {
            return Err(format!("cannot decompress: {e}"));
        }
        eprintln!(
            "mrt_summary: {}: warning: decompression stopped after {} bytes: {e}",
            path.display(),
            input.bytes
        );
    }
    if summary.records == 0 {
        return Err(format!(
            "no MRT record could be read ({} bytes{})",
            input.bytes,
            summary
                .errors
                .first()
                .map_or_else(String::new, |e| format!("; {e}"))
        ));
    }
    print(path, input.bytes, &summary, args);
    Ok(())
}

/// Decodes every message and RIB entry of the complete records of `bytes` into owned
/// values and drops them: the work the speed line reports. How many, and how long.
fn decode_only(bytes: &[u8], last: bool) -> (usize, Duration) {
    let started = Instant::now();
    let mut decoded = 0usize;
    let reader = if last {
        MrtReader::new(bytes)
    } else {
        MrtReader::new_partial(bytes)
    };
    for (_, record) in reader.flatten() {
        match &record.body {
            MrtBody::Message(m) => {
                decoded += 1;
                std::hint::black_box(m.parse_message().is_ok());
            }
            MrtBody::Rib(rib) => {
                for entry in &rib.entries {
                    decoded += 1;
                    std::hint::black_box(rib.decode_attributes(entry).is_ok());
                }
            }
            MrtBody::TableDump(t) => {
                decoded += 1;
                std::hint::black_box(t.decode_attributes().is_ok());
            }
            _ => {}
        }
    }
    (decoded, started.elapsed())
}

/// A Unix timestamp as `YYYY-MM-DD HH:MM:SS UTC` (civil-from-days, proleptic Gregorian).
fn utc(timestamp: u32) -> String {
    let days = i64::from(timestamp / 86_400);
    let secs = timestamp % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn print(path: &Path, len: u64, s: &Summary, args: &Args) {
    println!("== {} ({len} bytes decompressed)", path.display());
    if let (Some(first), Some(last)) = (s.first_timestamp, s.last_timestamp) {
        println!(
            "time range: {} .. {} ({} s)",
            utc(first),
            utc(last),
            last - first
        );
    }
    println!("records: {}", s.records);
    for (kind, n) in &s.records_by_kind {
        println!("  {kind:<40} {n:>10}");
    }
    if s.repaired_entries > 0 {
        println!(
            "  ({} TABLE_DUMP entries read from batched records of an early Zebra; see MrtReader)",
            s.repaired_entries
        );
    }
    if !s.not_decoded.is_empty() {
        println!("records not decoded (kept opaque by bgp-wire, neither decoded nor errors):");
        for (kind, n) in &s.not_decoded {
            println!("  {kind:<40} {n:>10}");
        }
    }
    println!("BGP messages: {}", s.messages);
    for (kind, n) in &s.messages_by_type {
        println!("  {kind:<40} {n:>10}");
    }
    if s.rib_entries > 0 {
        println!("RIB entries: {}", s.rib_entries);
    }
    println!("prefixes announced (RIB entries count as announced):");
    for (family, n) in s.announced.iter().filter(|(_, n)| **n > 0) {
        println!("  {family:<40} {n:>10}");
    }
    println!("prefixes withdrawn:");
    for (family, n) in s.withdrawn.iter().filter(|(_, n)| **n > 0) {
        println!("  {family:<40} {n:>10}");
    }
    let mut peers: Vec<(&Peer, &PeerCounts)> = s.peers.iter().collect();
    peers.sort_by_key(|(peer, c)| (std::cmp::Reverse(c.messages + c.rib_entries), **peer));
    println!(
        "peers: {} (top {} by messages + RIB entries)",
        peers.len(),
        args.top.min(peers.len())
    );
    if !peers.is_empty() {
        println!(
            "  {:<40} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "peer (address, AS)", "messages", "UPDATEs", "announced", "withdrawn", "RIB"
        );
    }
    for (peer, c) in peers.iter().take(args.top) {
        println!(
            "  {:<40} {:>10} {:>10} {:>10} {:>10} {:>10}",
            format!("{} AS{}", peer.address, peer.asn),
            c.messages,
            c.updates,
            c.announced,
            c.withdrawn,
            c.rib_entries
        );
    }
    let mut origins: Vec<(&u32, &usize)> = s.origins.iter().collect();
    origins.sort_by_key(|(asn, n)| (std::cmp::Reverse(**n), **asn));
    println!(
        "origin ASes: {} (top {} by routes: announced prefixes and RIB entries; {} routes end in an AS_SET or an empty path)",
        origins.len(),
        args.top.min(origins.len()),
        s.no_single_origin
    );
    for (asn, n) in origins.iter().take(args.top) {
        println!("  {:<40} {n:>10}", format!("AS{asn}"));
    }
    println!("attribute census (attributes seen, by type):");
    for (code, n) in &s.attributes {
        println!(
            "  {:<40} {n:>10}",
            format!("{code:>3} {}", attribute_name(*code))
        );
    }
    println!(
        "AS path length histogram (AS4_PATH merged on 2-octet sessions; an AS_SET counts one):"
    );
    let widest = s
        .as_path_lengths
        .values()
        .copied()
        .max()
        .unwrap_or(1)
        .max(1);
    for (length, n) in &s.as_path_lengths {
        let bar = "#".repeat((n * 50).div_ceil(widest));
        println!("  {length:>3} {n:>10} {bar}");
    }
    println!(
        "communities: {} standard, {} extended, {} large",
        s.communities, s.extended_communities, s.large_communities
    );
    println!(
        "UPDATEs / RIB entries with RFC 7606 issues: {}",
        s.updates_with_issues
    );
    println!("errors: {}", s.error_count);
    for e in &s.errors {
        println!("  {e}");
    }
    if s.error_count > s.errors.len() {
        println!("  ... and {} more", s.error_count - s.errors.len());
    }
    let secs = s.decode_time.as_secs_f64();
    if args.no_timing {
        println!("decode speed: not measured (--no-timing)");
    } else if s.decoded_items == 0 {
        println!("decode speed: nothing to decode (no BGP message or RIB entry)");
    } else if s.decode_time < MIN_TIMED || s.decoded_items < MIN_TIMED_ITEMS {
        println!(
            "decode speed: not given: {} items in {:.3} ms is too little to time",
            s.decoded_items,
            secs * 1e3
        );
    } else {
        println!(
            "decode (one timed pass, apart from the census): {:.1} ms, {:.0} messages+RIB entries/s, {:.0} ns each, {:.1} MB/s",
            secs * 1e3,
            s.decoded_items as f64 / secs,
            secs * 1e9 / s.decoded_items as f64,
            len as f64 / secs / 1e6
        );
    }
}

fn nlri_len(nlri: &MpNlri) -> usize {
    match nlri {
        MpNlri::Prefixes(p) => p.len(),
        MpNlri::Opaque(_) => 0,
    }
}

fn family_name(f: Family) -> String {
    let afi = match f.afi.0 {
        1 => "ipv4".to_string(),
        2 => "ipv6".to_string(),
        25 => "l2vpn".to_string(),
        n => format!("afi{n}"),
    };
    let safi = match f.safi.0 {
        1 => "unicast".to_string(),
        2 => "multicast".to_string(),
        4 => "labeled-unicast".to_string(),
        70 => "evpn".to_string(),
        128 => "mpls-vpn".to_string(),
        133 => "flowspec".to_string(),
        n => format!("safi{n}"),
    };
    format!("{afi} {safi}")
}

fn attribute_name(code: u8) -> &'static str {
    match code {
        1 => "ORIGIN",
        2 => "AS_PATH",
        3 => "NEXT_HOP",
        4 => "MULTI_EXIT_DISC",
        5 => "LOCAL_PREF",
        6 => "ATOMIC_AGGREGATE",
        7 => "AGGREGATOR",
        8 => "COMMUNITIES",
        9 => "ORIGINATOR_ID",
        10 => "CLUSTER_LIST",
        14 => "MP_REACH_NLRI",
        15 => "MP_UNREACH_NLRI",
        16 => "EXTENDED_COMMUNITIES",
        17 => "AS4_PATH",
        18 => "AS4_AGGREGATOR",
        20 => "CONNECTOR",
        21 => "AS_PATHLIMIT",
        22 => "PMSI_TUNNEL",
        23 => "TUNNEL_ENCAPSULATION",
        26 => "AIGP",
        32 => "LARGE_COMMUNITY",
        35 => "ONLY_TO_CUSTOMER",
        40 => "PREFIX_SID",
        128 => "ATTR_SET",
        _ => "unknown",
    }
}
