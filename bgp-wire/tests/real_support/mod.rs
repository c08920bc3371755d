//! Shared helpers of the real-data sweeps: file loading, the MRT sweep, a small pcap /
//! pcapng reader with per-direction TCP reassembly, and the hex vector formats.

#![allow(dead_code, unreachable_pub)] // each test crate uses its own subset

pub mod bgpdump;
pub mod pcap;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bgp_wire::mrt::{subtype_name, MrtBody, MrtReader};
use bgp_wire::{AttrValue, Message, MpNlri, SessionParams};

/// The in-repo test data folder.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The shared reference data, when present beside the workspace.
pub fn shared_dir() -> Option<PathBuf> {
    mrt_files::shared_dir()
}

/// Sorted regular files of `dir` whose names end with one of `suffixes` (all if empty).
pub fn files_in(dir: &Path, suffixes: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            suffixes.is_empty() || suffixes.iter().any(|s| name.ends_with(s))
        })
        .collect();
    files.sort();
    files
}

/// The file name as a string.
pub fn name_of(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string()
}

/// Reads a file, decompressing `.gz` / `.bz2`. A compressed stream cut short (some test
/// files are byte prefixes of larger archives) yields what was decoded and the error text.
pub fn load(path: &Path) -> (Vec<u8>, Option<String>) {
    let contents = mrt_files::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (contents.bytes, contents.error)
}

/// What one MRT file holds and how it decoded.
#[derive(Default, Debug, Clone)]
pub struct MrtStats {
    /// Records read (good ones).
    pub records: usize,
    /// Records by `TYPE/SUBTYPE` name.
    pub by_kind: BTreeMap<String, usize>,
    /// MRT framing/body errors: offset and text.
    pub record_errors: Vec<(usize, String)>,
    /// Records whose emit differs from their bytes.
    pub emit_mismatches: Vec<usize>,
    /// Entries the reader split out of batched TABLE_DUMP records (a repair; see
    /// `MrtReader`): each re-emits as a record of its own, checked to read back equal.
    pub repaired_entries: usize,
    /// BGP messages in BGP4MP records.
    pub messages: usize,
    /// Messages by type name.
    pub by_message_type: BTreeMap<&'static str, usize>,
    /// Messages that failed to decode: reason -> record offsets.
    pub decode_failures: BTreeMap<String, Vec<usize>>,
    /// Decoded messages whose re-encoding differs from the original bytes: reason -> offsets.
    pub reencode_mismatches: BTreeMap<String, Vec<usize>>,
    /// Prefixes announced / withdrawn over all families (NLRI, withdrawn, MP_REACH, MP_UNREACH).
    pub announced: usize,
    /// See `announced`.
    pub withdrawn: usize,
    /// UPDATEs with RFC 7606 issues.
    pub updates_with_issues: usize,
    /// RFC 7606 issues by attribute type, error kind and treatment.
    pub issue_kinds: BTreeMap<String, usize>,
    /// RIB entries (TABLE_DUMP_V2 entries and TABLE_DUMP records).
    pub rib_entries: usize,
    /// RIB entries whose attributes failed to decode: reason -> record offsets.
    pub rib_failures: BTreeMap<String, Vec<usize>>,
}

impl MrtStats {
    /// Messages that failed to decode.
    pub fn failed(&self) -> usize {
        self.decode_failures.values().map(Vec::len).sum()
    }
    /// Messages whose re-encoding differs.
    pub fn mismatched(&self) -> usize {
        self.reencode_mismatches.values().map(Vec::len).sum()
    }
    /// RIB entries that failed.
    pub fn rib_failed(&self) -> usize {
        self.rib_failures.values().map(Vec::len).sum()
    }
    /// A short human report.
    pub fn report(&self, name: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{name}: records {} {:?}; record errors {}; repaired entries {}; emit mismatches {}; \
             messages {} {:?}; failed {}; re-encode mismatches {}; announced {} withdrawn {}; \
             updates with issues {}; rib entries {} (failed {})",
            self.records,
            self.by_kind,
            self.record_errors.len(),
            self.repaired_entries,
            self.emit_mismatches.len(),
            self.messages,
            self.by_message_type,
            self.failed(),
            self.mismatched(),
            self.announced,
            self.withdrawn,
            self.updates_with_issues,
            self.rib_entries,
            self.rib_failed(),
        );
        for (offset, e) in self.record_errors.iter().take(5) {
            let _ = writeln!(s, "  record error at {offset}: {e}");
        }
        for (reason, offsets) in &self.decode_failures {
            let _ = writeln!(
                s,
                "  decode failure x{} (first at {}): {reason}",
                offsets.len(),
                offsets[0]
            );
        }
        for (reason, offsets) in &self.reencode_mismatches {
            let _ = writeln!(
                s,
                "  re-encode mismatch x{} (first at {}): {reason}",
                offsets.len(),
                offsets[0]
            );
        }
        for (reason, offsets) in &self.rib_failures {
            let _ = writeln!(
                s,
                "  RIB attribute failure x{} (first at {}): {reason}",
                offsets.len(),
                offsets[0]
            );
        }
        for (issue, count) in &self.issue_kinds {
            let _ = writeln!(s, "  RFC 7606 issue x{count}: {issue}");
        }
        s
    }

    /// Adds another file's counts (the record and message census) to these.
    pub fn absorb(&mut self, other: &Self) {
        self.records += other.records;
        self.repaired_entries += other.repaired_entries;
        self.messages += other.messages;
        self.announced += other.announced;
        self.withdrawn += other.withdrawn;
        self.updates_with_issues += other.updates_with_issues;
        self.rib_entries += other.rib_entries;
        for (k, v) in &other.by_kind {
            *self.by_kind.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.by_message_type {
            *self.by_message_type.entry(k).or_default() += v;
        }
        for (k, v) in &other.issue_kinds {
            *self.issue_kinds.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.decode_failures {
            self.decode_failures.entry(k.clone()).or_default().extend(v);
        }
        for (k, v) in &other.reencode_mismatches {
            self.reencode_mismatches
                .entry(k.clone())
                .or_default()
                .extend(v);
        }
        for (k, v) in &other.rib_failures {
            self.rib_failures.entry(k.clone()).or_default().extend(v);
        }
        self.record_errors
            .extend(other.record_errors.iter().cloned());
        self.emit_mismatches.extend(&other.emit_mismatches);
    }
}

/// Reads every record, checks that emit reproduces it, and (when `decode`) decodes every
/// BGP message and every RIB entry's attributes.
pub fn sweep_mrt(bytes: &[u8], decode: bool) -> MrtStats {
    let mut stats = MrtStats::default();
    let mut out = Vec::new();
    let mut reader = MrtReader::new(bytes);
    loop {
        let repaired_before = reader.repairs().batched_table_dump_entries;
        let Some(item) = reader.next() else { break };
        let repaired = reader.repairs().batched_table_dump_entries != repaired_before;
        let (offset, record) = match item {
            Ok(r) => r,
            Err(e) => {
                stats.record_errors.push((e.offset, e.to_string()));
                continue;
            }
        };
        stats.records += 1;
        let kind = format!(
            "{}/{}",
            record
                .mrt_type()
                .name()
                .map_or_else(|| record.mrt_type().0.to_string(), str::to_string),
            subtype_name(record.mrt_type(), record.subtype())
                .map_or_else(|| record.subtype().to_string(), str::to_string)
        );
        *stats.by_kind.entry(kind).or_default() += 1;
        out.clear();
        if record.emit(&mut out).is_err() {
            stats.emit_mismatches.push(offset);
        } else if repaired {
            stats.repaired_entries += 1;
            let again = MrtReader::new(&out).next().and_then(Result::ok);
            if again.map(|(_, r)| r).as_ref() != Some(&record) {
                stats.emit_mismatches.push(offset);
            }
        } else if bytes.get(offset..offset + out.len()) != Some(&out[..]) {
            stats.emit_mismatches.push(offset);
        }
        if !decode {
            continue;
        }
        match &record.body {
            MrtBody::Message(m) => {
                stats.messages += 1;
                let params = m.session_params();
                check_message(m.message, &params, offset, &mut stats);
            }
            MrtBody::Rib(rib) => {
                for entry in &rib.entries {
                    stats.rib_entries += 1;
                    if let Err(e) = rib.decode_attributes(entry) {
                        stats
                            .rib_failures
                            .entry(format!("{:?}: {}", e.kind, e.context))
                            .or_default()
                            .push(offset);
                    }
                }
            }
            MrtBody::TableDump(t) => {
                stats.rib_entries += 1;
                if let Err(e) = t.decode_attributes() {
                    stats
                        .rib_failures
                        .entry(format!("{:?}: {}", e.kind, e.context))
                        .or_default()
                        .push(offset);
                }
            }
            _ => {}
        }
    }
    stats
}

/// Counts of one message's decode, shared by the MRT, pcap and vector sweeps.
pub fn check_message(bytes: &[u8], params: &SessionParams, offset: usize, stats: &mut MrtStats) {
    let msg = match Message::parse(bytes, params) {
        Ok(m) => m,
        Err(e) => {
            stats
                .decode_failures
                .entry(format!("{:?}: {}", e.kind, e.context))
                .or_default()
                .push(offset);
            return;
        }
    };
    *stats
        .by_message_type
        .entry(message_type_name(&msg))
        .or_default() += 1;
    if let Message::Update(u) = &msg {
        stats.announced += u.nlri.len();
        stats.withdrawn += u.withdrawn.len();
        if !u.issues.is_empty() {
            stats.updates_with_issues += 1;
        }
        for issue in &u.issues {
            let kind = format!("{:?}", issue.error.kind);
            let key = format!(
                "attr {} {} -> {:?}",
                issue.type_code,
                kind_name(&kind),
                issue.treatment
            );
            *stats.issue_kinds.entry(key).or_default() += 1;
        }
        for a in &u.attributes {
            match &a.value {
                AttrValue::MpReachNlri(r) => stats.announced += nlri_count(&r.nlri),
                AttrValue::MpUnreachNlri(r) => stats.withdrawn += nlri_count(&r.nlri),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    msg.emit(&mut out, params);
    if out != bytes {
        stats
            .reencode_mismatches
            .entry(mismatch_reason(bytes, &out, &msg, params))
            .or_default()
            .push(offset);
    }
}

fn nlri_count(nlri: &MpNlri) -> usize {
    match nlri {
        MpNlri::Prefixes(p) => p.len(),
        MpNlri::Opaque(_) => 0,
    }
}

/// The message type's name.
pub fn message_type_name(msg: &Message) -> &'static str {
    match msg {
        Message::Open(_) => "OPEN",
        Message::Update(_) => "UPDATE",
        Message::Notification(_) => "NOTIFICATION",
        Message::Keepalive => "KEEPALIVE",
        Message::RouteRefresh(_) => "ROUTE_REFRESH",
    }
}

/// Why a re-encoding differs: RFC 7606 issues (attributes dropped by design), or the
/// decoded values survive a second round trip (the original was merely not in canonical
/// form), or not (a codec bug); with where the first difference lies.
fn mismatch_reason(
    original: &[u8],
    emitted: &[u8],
    msg: &Message,
    params: &SessionParams,
) -> String {
    let first_diff = original
        .iter()
        .zip(emitted)
        .position(|(a, b)| a != b)
        .unwrap_or(original.len().min(emitted.len()));
    let stable = Message::parse(emitted, params).as_ref() == Ok(msg);
    let has_issues = matches!(msg, Message::Update(u) if !u.issues.is_empty());
    let what = if has_issues {
        "RFC 7606 issues: the offending attributes are left out"
    } else if stable {
        "non-canonical original (values round-trip)"
    } else {
        "VALUES CHANGE ON RE-DECODE"
    };
    let len_note = if original.len() == emitted.len() {
        "same length"
    } else {
        "length differs"
    };
    let region = match first_diff {
        0..=15 => "marker",
        16..=17 => "length",
        18 => "type",
        _ => "body",
    };
    format!(
        "{} {}: {what}, {len_note}, first difference in {region}",
        message_type_name(msg),
        "message"
    )
}

/// Parses a lowercase hex string.
pub fn hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// One line of a `vectors/*.txt` file: bytes and the annotation after `" # "`.
pub struct VectorLine {
    /// Message bytes.
    pub bytes: Vec<u8>,
    /// Annotation (type, length, source, flags).
    pub note: String,
    /// 1-based line number.
    pub line: usize,
}

/// The vectors of a `.txt` vector file (comment lines skipped).
pub fn read_vector_file(path: &Path) -> Vec<VectorLine> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty())
        .map(|(i, l)| {
            let (h, note) = l.split_once(" # ").unwrap_or((l, ""));
            let bytes = hex(h).unwrap_or_else(|| panic!("{}:{}: bad hex", path.display(), i + 1));
            VectorLine {
                bytes,
                note: note.to_string(),
                line: i + 1,
            }
        })
        .collect()
}

/// Parameters to try, in order, for a message whose session is unknown: 4-octet AS first
/// (the modern case), then 2-octet, then ADD-PATH on IPv4/IPv6 unicast.
pub fn guess_candidates() -> Vec<SessionParams> {
    let mut add_path = bgp_wire::AddPathFamilies::none();
    add_path.insert(bgp_wire::Family::IPV4_UNICAST);
    add_path.insert(bgp_wire::Family::IPV6_UNICAST);
    vec![
        SessionParams::modern(),
        SessionParams::default(),
        SessionParams {
            add_path,
            ..SessionParams::modern()
        },
        SessionParams {
            extended_message: true,
            ..SessionParams::modern()
        },
    ]
}

/// The candidate that fits `bytes` best: one that decodes, with the fewest RFC 7606
/// issues, and whose re-encoding reproduces the bytes (a wrong ADD-PATH or AS width guess
/// usually still decodes, but changes on the way back); among failures, the one that got
/// furthest. Ties go to the earlier candidate.
pub fn guess_params(bytes: &[u8]) -> SessionParams {
    let candidates = guess_candidates();
    let score = |p: &SessionParams| -> (u8, usize, bool) {
        match Message::parse(bytes, p) {
            Ok(m) => {
                let issues = match &m {
                    Message::Update(u) => u.issues.len(),
                    _ => 0,
                };
                let mut out = Vec::new();
                m.emit(&mut out, p);
                (0, issues, out != bytes)
            }
            Err(e) => (1, usize::MAX - e.offset, true),
        }
    };
    let best = candidates
        .iter()
        .enumerate()
        .min_by_key(|(i, p)| (score(p), *i))
        .map_or(0, |(i, _)| i);
    candidates[best].clone()
}

/// What a capture held: the message statistics plus reassembly notes.
#[derive(Default, Debug)]
pub struct CaptureStats {
    /// Message statistics (records fields unused).
    pub messages: MrtStats,
    /// Frames read.
    pub frames: usize,
    /// TCP directions on BGP ports with payload.
    pub bgp_flows: usize,
    /// Bytes that could not be framed (capture started or ended mid-message, gaps).
    pub unframed_bytes: usize,
    /// Messages decoded with guessed parameters (no OPEN seen on their connection).
    pub guessed: usize,
    /// Messages decoded with parameters from the one OPEN seen on their connection.
    pub one_sided: usize,
}

/// The session parameters of the direction `from -> to` given their OPENs (RFC 6793,
/// RFC 7911, RFC 8654 negotiation).
pub fn negotiate(from: &bgp_wire::Open, to: &bgp_wire::Open) -> SessionParams {
    use bgp_wire::{AddPathDirection as D, Capability as C};
    let has = |o: &bgp_wire::Open, f: &dyn Fn(&C) -> bool| o.capabilities().any(f);
    let four_octet_as = has(from, &|c| matches!(c, C::FourOctetAs(_)))
        && has(to, &|c| matches!(c, C::FourOctetAs(_)));
    let extended_message = has(from, &|c| matches!(c, C::ExtendedMessage))
        && has(to, &|c| matches!(c, C::ExtendedMessage));
    let entries = |o: &bgp_wire::Open| -> Vec<bgp_wire::AddPathEntry> {
        o.capabilities()
            .filter_map(|c| match c {
                C::AddPath(e) => Some(e.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    };
    let mut add_path = bgp_wire::AddPathFamilies::none();
    let receivers = entries(to);
    for e in entries(from) {
        let sends = matches!(e.direction, D::Send | D::Both);
        let peer_receives = receivers
            .iter()
            .any(|r| r.family == e.family && matches!(r.direction, D::Receive | D::Both));
        if sends && peer_receives {
            add_path.insert(e.family);
        }
    }
    SessionParams {
        four_octet_as,
        add_path,
        extended_message,
    }
}

/// Sweeps one capture: TCP streams on `ports` reassembled per direction, messages framed,
/// parameters negotiated from the OPENs seen on the connection, every message decoded.
pub fn sweep_capture(bytes: &[u8], ports: &[u16]) -> Result<CaptureStats, String> {
    let cap = pcap::read_capture(bytes)?;
    let mut stats = CaptureStats {
        frames: cap.frames,
        ..CaptureStats::default()
    };
    let mut per_flow: BTreeMap<pcap::Flow, Vec<(usize, Vec<u8>)>> = BTreeMap::new();
    for (flow, segments) in &cap.flows {
        if !ports.contains(&flow.1) && !ports.contains(&flow.3) {
            continue;
        }
        stats.bgp_flows += 1;
        let mut msgs = Vec::new();
        for chunk in pcap::reassemble(segments) {
            let (cut, skipped) = pcap::cut_messages(&chunk);
            stats.unframed_bytes += skipped;
            msgs.extend(cut.into_iter().map(|m| (segments[0].frame, m)));
        }
        per_flow.insert(*flow, msgs);
    }
    let first_open = |msgs: &[(usize, Vec<u8>)]| {
        msgs.iter().find_map(
            |(_, m)| match Message::parse(m, &SessionParams::default()) {
                Ok(Message::Open(o)) => Some(o),
                _ => None,
            },
        )
    };
    for (flow, msgs) in &per_flow {
        let reverse = (flow.2, flow.3, flow.0, flow.1);
        let mine = first_open(msgs);
        let theirs = per_flow.get(&reverse).and_then(|m| first_open(m));
        // With one OPEN only (the capture missed the other side), assume the peer
        // advertised the same capabilities.
        let negotiated = match (&mine, &theirs) {
            (Some(a), Some(b)) => Some(negotiate(a, b)),
            (Some(one), None) | (None, Some(one)) => {
                stats.one_sided += msgs.len();
                Some(negotiate(one, one))
            }
            (None, None) => None,
        };
        for (index, (_, m)) in msgs.iter().enumerate() {
            let params = match &negotiated {
                Some(p) => p.clone(),
                None => {
                    stats.guessed += 1;
                    guess_params(m)
                }
            };
            stats.messages.messages += 1;
            check_message(m, &params, index, &mut stats.messages);
        }
    }
    Ok(stats)
}

/// Session parameters a vector's annotation states (ExaBGP `asn4=on|off`,
/// `addpath=[ipv4 unicast,...]`, `addpath-cap=send/receive`), `None` when it states none.
pub fn params_from_note(note: &str) -> Option<SessionParams> {
    let four_octet_as = if note.contains("asn4=on") {
        true
    } else if note.contains("asn4=off") {
        false
    } else {
        return None;
    };
    let mut add_path = bgp_wire::AddPathFamilies::none();
    if note.contains("addpath=[ipv4 unicast") {
        add_path.insert(bgp_wire::Family::IPV4_UNICAST);
    }
    if note.contains("addpath-cap=send") {
        add_path.insert(bgp_wire::Family::IPV4_UNICAST);
        add_path.insert(bgp_wire::Family::IPV6_UNICAST);
    }
    Some(SessionParams {
        four_octet_as,
        add_path,
        extended_message: false,
    })
}

/// Results of a vector sweep.
#[derive(Default, Debug)]
pub struct VectorStats {
    /// Message statistics over every vector.
    pub messages: MrtStats,
    /// Vectors the source flags as malformed (LENGTH_MISMATCH, or a fuzz corpus) that
    /// failed to decode, as they should.
    pub expected_failures: usize,
    /// Flagged vectors that decoded anyway: line and note.
    pub flagged_but_decoded: Vec<(usize, String)>,
    /// Unflagged vectors that failed: line, note, error.
    pub unexpected_failures: Vec<(usize, String, String)>,
    /// Vectors decoded with guessed parameters.
    pub guessed: usize,
}

/// Sweeps one `.txt` vector file. `all_malformed` marks a corpus that is malformed by
/// construction (GoBGP's bad-len fuzz inputs).
pub fn sweep_vector_file(path: &Path, all_malformed: bool) -> VectorStats {
    let lines = read_vector_file(path);
    let from_pcap = path.parent().is_some_and(|p| p.ends_with("from-pcap"));
    let is_bmp = name_of(path).contains("bmp");
    // OPENs per flow, for from-pcap files of plain BGP sessions.
    let flow_of = |note: &str| {
        note.split("flow=")
            .nth(1)
            .map(|f| f.split_whitespace().next().unwrap_or("").to_string())
    };
    let mut opens: BTreeMap<String, bgp_wire::Open> = BTreeMap::new();
    if from_pcap && !is_bmp {
        for v in &lines {
            if let (Some(flow), Ok(Message::Open(o))) = (
                flow_of(&v.note),
                Message::parse(&v.bytes, &SessionParams::default()),
            ) {
                opens.entry(flow).or_insert(o);
            }
        }
    }
    let mut stats = VectorStats::default();
    for v in &lines {
        let flagged = all_malformed || v.note.contains("LENGTH_MISMATCH");
        let negotiated = flow_of(&v.note).and_then(|flow| {
            let (a, b) = flow.split_once('>')?;
            let reverse = format!("{b}>{a}");
            Some(negotiate(opens.get(&flow)?, opens.get(&reverse)?))
        });
        let params = match negotiated.or_else(|| params_from_note(&v.note)) {
            Some(p) => p,
            None => {
                stats.guessed += 1;
                guess_params(&v.bytes)
            }
        };
        stats.messages.messages += 1;
        let before = stats.messages.failed();
        check_message(&v.bytes, &params, v.line, &mut stats.messages);
        let failed = stats.messages.failed() > before;
        match (flagged, failed) {
            (true, true) => stats.expected_failures += 1,
            (true, false) => stats.flagged_but_decoded.push((v.line, v.note.clone())),
            (false, true) => {
                let err = Message::parse(&v.bytes, &params).expect_err("failed above");
                stats
                    .unexpected_failures
                    .push((v.line, v.note.clone(), err.to_string()));
            }
            (false, false) => {}
        }
    }
    stats
}

/// Sweeps the one-message-per-file captures of `data/captures/<capture>/NNN-src-to-dst-TYPE.bin`:
/// sessions with `exabgp2byte` (and vectors named `...2byte...`) did not negotiate 4-octet
/// AS, all others did.
pub fn sweep_capture_bins(dir: &Path) -> MrtStats {
    let mut stats = MrtStats::default();
    for path in files_in(dir, &[".bin"]) {
        let name = name_of(&path);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let params = if name.contains("2byte") {
            SessionParams::default()
        } else {
            SessionParams::modern()
        };
        stats.messages += 1;
        check_message(&bytes, &params, stats.messages, &mut stats);
    }
    stats
}

/// The error kind's name in a `DecodeError` display string (`BadMessageLength { .. } at ...`).
pub fn kind_name(error: &str) -> &str {
    error.split([' ', '{']).next().unwrap_or(error)
}

/// Sweeps the BGP messages carried in a BMP (RFC 7854, and the draft version 4) capture: the two OPENs of each
/// Peer Up (whose negotiation gives the parameters of that peer's Route Monitoring
/// UPDATEs, with the per-peer header's A flag for the AS width), the UPDATE of each Route
/// Monitoring, the NOTIFICATION of a Peer Down, the BGP messages of Route Mirroring.
pub fn sweep_bmp_capture(bytes: &[u8], ports: &[u16]) -> Result<CaptureStats, String> {
    let cap = pcap::read_capture(bytes)?;
    let mut stats = CaptureStats {
        frames: cap.frames,
        ..CaptureStats::default()
    };
    let mut index = 0;
    for (flow, segments) in &cap.flows {
        if !ports.contains(&flow.1) && !ports.contains(&flow.3) {
            continue;
        }
        stats.bgp_flows += 1;
        // Per monitored peer (distinguisher and address): the negotiated parameters.
        let mut peers: BTreeMap<Vec<u8>, SessionParams> = BTreeMap::new();
        for chunk in pcap::reassemble(segments) {
            let mut pos = 0;
            while pos < chunk.len() {
                let rest = &chunk[pos..];
                let len = rest
                    .get(1..5)
                    .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
                if rest.len() < 6 || !matches!(rest[0], 3 | 4) || len < 6 || len > rest.len() {
                    // Not version 3 (or the draft version 4), or cut short at the capture's
                    // end: nothing more to frame.
                    stats.unframed_bytes += rest.len();
                    break;
                }
                let msg = &rest[..len];
                pos += len;
                let body = &msg[6..];
                let mut take = |m: &[u8], params: &SessionParams, stats: &mut CaptureStats| {
                    index += 1;
                    stats.messages.messages += 1;
                    check_message(m, params, index, &mut stats.messages);
                };
                let bgp_len = |b: &[u8]| {
                    b.get(16..18)
                        .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
                };
                match msg[5] {
                    // Route Monitoring: per-peer header (42 bytes), then one UPDATE (in
                    // version 4, TLVs may come first: take the first BGP marker).
                    0 => {
                        let after_header = body.get(42..).unwrap_or_default();
                        let marker = after_header
                            .windows(16)
                            .position(|w| w.iter().all(|&b| b == 0xff));
                        let Some(update) = marker.and_then(|m| after_header.get(m..)) else {
                            continue;
                        };
                        let Some(update) = bgp_len(update).and_then(|l| update.get(..l.max(19)))
                        else {
                            continue;
                        };
                        let key = body[2..26].to_vec();
                        let two_octet = body[1] & 0x20 != 0;
                        let params = match peers.get(&key) {
                            Some(p) => SessionParams {
                                four_octet_as: !two_octet,
                                ..p.clone()
                            },
                            None => {
                                stats.guessed += 1;
                                guess_params(update)
                            }
                        };
                        take(update, &params, &mut stats);
                    }
                    // Peer Down: reasons 1 and 3 carry the NOTIFICATION.
                    2 => {
                        if matches!(body.get(42), Some(1 | 3)) {
                            if let Some(n) = body.get(43..) {
                                take(n, &SessionParams::default(), &mut stats);
                            }
                        }
                    }
                    // Peer Up: local address, ports, then the OPEN sent and the OPEN received.
                    3 => {
                        let Some(opens) = body.get(42 + 20..) else {
                            continue;
                        };
                        let Some(sent_len) = bgp_len(opens) else {
                            continue;
                        };
                        let Some(sent) = opens.get(..sent_len) else {
                            continue;
                        };
                        let Some(received_len) = opens.get(sent_len..).and_then(bgp_len) else {
                            continue;
                        };
                        let Some(received) = opens.get(sent_len..sent_len + received_len) else {
                            continue;
                        };
                        take(sent, &SessionParams::default(), &mut stats);
                        take(received, &SessionParams::default(), &mut stats);
                        let parsed = (
                            Message::parse(sent, &SessionParams::default()),
                            Message::parse(received, &SessionParams::default()),
                        );
                        if let (Ok(Message::Open(sent)), Ok(Message::Open(received))) = parsed {
                            // Route Monitoring carries what the peer sent the router.
                            peers.insert(body[2..26].to_vec(), negotiate(&received, &sent));
                        }
                    }
                    // Route Mirroring: TLVs, type 0 holds a BGP message.
                    6 => {
                        let mut tlvs = body.get(42..).unwrap_or_default();
                        while let [t0, t1, l0, l1, tail @ ..] = tlvs {
                            let l = usize::from(u16::from_be_bytes([*l0, *l1]));
                            let Some(value) = tail.get(..l) else { break };
                            if [*t0, *t1] == [0, 0] {
                                stats.guessed += 1;
                                take(value, &guess_params(value), &mut stats);
                            }
                            tlvs = &tail[l..];
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(stats)
}
