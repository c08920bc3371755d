//! Summarises MRT files (RFC 6396): what records they hold, what the BGP messages and RIB
//! entries in them say, what failed to decode, and how fast decoding went.
//!
//! ```text
//! cargo run --release -p bgp-wire --example mrt_summary [FILE...]
//! ```
//!
//! Files may be gzip (`.gz`), bzip2 (`.bz2`) or plain. Without arguments it reads a RIPE
//! RIS updates dump shipped in `bgp-wire/tests/data/mrt`. Decompression happens first and
//! is not timed. The census is taken in one pass; the speed is measured apart from it, as
//! the fastest of a few passes that read every record and decode every message and RIB
//! entry into owned values (nothing else), so the figure is the decoder's, not the census's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use bgp_wire::mrt::{subtype_name, MrtBody, MrtReader, MrtRecord, RibAttributes};
use bgp_wire::{AttrValue, Family, Message, MpNlri, PathAttribute};

const DEFAULT_FILE: &str = "tests/data/mrt/bgpdump__updates.20160811.1600.gz";
const MAX_ERRORS_SHOWN: usize = 20;

fn main() -> ExitCode {
    let mut files: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if files.is_empty() {
        files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_FILE));
    }
    let mut failed = false;
    for path in &files {
        match summarise(path) {
            Ok(()) => {}
            Err(e) => {
                eprintln!("mrt_summary: {}: {e}", path.display());
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Reads and decompresses a file. A compressed stream cut short still yields what was
/// decoded before the cut, with a warning.
fn load(path: &Path) -> Result<Vec<u8>, String> {
    let contents = mrt_files::read(path).map_err(|e| format!("cannot read: {e}"))?;
    if let Some(e) = contents.error {
        eprintln!(
            "mrt_summary: {}: warning: decompression stopped after {} bytes: {e}",
            path.display(),
            contents.bytes.len()
        );
    }
    Ok(contents.bytes)
}

#[derive(Default)]
struct Summary {
    records: usize,
    records_by_kind: BTreeMap<String, usize>,
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
    errors: Vec<String>,
    error_count: usize,
}

impl Summary {
    fn error(&mut self, text: String) {
        self.error_count += 1;
        if self.errors.len() < MAX_ERRORS_SHOWN {
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

    fn record(&mut self, offset: usize, record: &MrtRecord<'_>) {
        self.records += 1;
        let t = record.mrt_type();
        let kind = format!(
            "{}/{}",
            t.name()
                .map_or_else(|| format!("TYPE{}", t.0), str::to_string),
            subtype_name(t, record.subtype())
                .map_or_else(|| format!("SUBTYPE{}", record.subtype()), str::to_string)
        );
        *self.records_by_kind.entry(kind).or_default() += 1;
        match &record.body {
            MrtBody::Message(m) => {
                self.messages += 1;
                match m.parse_message() {
                    Ok(msg) => self.message(&msg, &m.session_params()),
                    Err(e) => self.error(format!("record at byte {offset}: BGP message: {e}")),
                }
            }
            MrtBody::Rib(rib) => {
                for entry in &rib.entries {
                    self.rib_entries += 1;
                    *self.announced.entry(family_name(rib.family())).or_default() += 1;
                    let decoded = rib.decode_attributes(entry);
                    self.rib_attributes(offset, decoded);
                }
            }
            MrtBody::TableDump(t) => {
                self.rib_entries += 1;
                let family = if t.prefix.addr().is_ipv4() {
                    Family::IPV4_UNICAST
                } else {
                    Family::IPV6_UNICAST
                };
                *self.announced.entry(family_name(family)).or_default() += 1;
                let decoded = t.decode_attributes();
                self.rib_attributes(offset, decoded);
            }
            _ => {}
        }
    }

    fn rib_attributes(
        &mut self,
        offset: usize,
        decoded: Result<RibAttributes, bgp_wire::DecodeError>,
    ) {
        match decoded {
            Ok(d) => {
                if !d.issues.is_empty() {
                    self.updates_with_issues += 1;
                }
                self.attributes(&d.attributes);
                // RIB entries carry 4-octet AS numbers: AS_PATH is the true path.
                let path = d.attributes.iter().find_map(|a| match &a.value {
                    AttrValue::AsPath(p) => Some(p.path_length()),
                    _ => None,
                });
                if let Some(length) = path {
                    *self.as_path_lengths.entry(length).or_default() += 1;
                }
            }
            Err(e) => self.error(format!(
                "record at byte {offset}: RIB entry attributes: {e}"
            )),
        }
    }

    fn message(&mut self, msg: &Message, params: &bgp_wire::SessionParams) {
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
            // The true path: AS_PATH merged with AS4_PATH on 2-octet sessions (RFC 6793).
            if u.as_path().is_some() {
                let length = u.effective_as_path(params).path_length();
                *self.as_path_lengths.entry(length).or_default() += 1;
            }
        }
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

fn summarise(path: &Path) -> Result<(), String> {
    let bytes = load(path)?;
    let mut summary = Summary::default();
    for item in MrtReader::new(&bytes) {
        match item {
            Ok((offset, record)) => summary.record(offset, &record),
            Err(e) => summary.error(e.to_string()),
        }
    }
    let elapsed = (0..DECODE_ROUNDS)
        .map(|_| decode_only(&bytes))
        .min()
        .unwrap_or_default();
    if summary.records == 0 {
        return Err(format!(
            "no MRT record could be read ({} bytes{})",
            bytes.len(),
            summary
                .errors
                .first()
                .map_or_else(String::new, |e| format!("; {e}"))
        ));
    }
    print(path, bytes.len(), &summary, elapsed);
    Ok(())
}

/// How many timed decode passes to take the fastest of.
const DECODE_ROUNDS: usize = 5;

/// One pass that decodes every message and RIB entry into owned values and drops them:
/// the work the speed line reports.
fn decode_only(bytes: &[u8]) -> std::time::Duration {
    let started = Instant::now();
    let mut decoded = 0usize;
    for (_, record) in MrtReader::new(bytes).flatten() {
        match &record.body {
            MrtBody::Message(m) => decoded += usize::from(m.parse_message().is_ok()),
            MrtBody::Rib(rib) => {
                for entry in &rib.entries {
                    decoded += usize::from(rib.decode_attributes(entry).is_ok());
                }
            }
            MrtBody::TableDump(t) => decoded += usize::from(t.decode_attributes().is_ok()),
            _ => {}
        }
    }
    std::hint::black_box(decoded);
    started.elapsed()
}

fn print(path: &Path, len: usize, s: &Summary, elapsed: std::time::Duration) {
    println!("== {} ({len} bytes decompressed)", path.display());
    println!("records: {}", s.records);
    for (kind, n) in &s.records_by_kind {
        println!("  {kind:<40} {n:>10}");
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
    let secs = elapsed.as_secs_f64();
    let decoded = s.messages + s.rib_entries;
    println!(
        "decode (fastest of {DECODE_ROUNDS} passes): {:.3} ms, {:.0} messages+RIB entries/s, {:.0} ns each, {:.1} MB/s",
        secs * 1e3,
        decoded as f64 / secs,
        secs * 1e9 / decoded.max(1) as f64,
        len as f64 / secs / 1e6
    );
}
