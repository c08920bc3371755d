//! The benchmark inputs: real UPDATE messages taken out of MRT update dumps and daemon
//! captures, and a TABLE_DUMP_V2 RIB dump, all loaded into memory before any timing.

use std::path::PathBuf;

use bgp_wire::mrt::{MrtBody, MrtReader};
use bgp_wire::SessionParams;

/// The MRT update dumps of the UPDATE corpus, relative to the workspace root. The same
/// three the issue measured (2002 and 2007 RIPE RIS through bgpdump's test data, 2016
/// RouteViews through Ryu's), so the numbers are comparable.
pub const UPDATE_DUMPS: &[&str] = &[
    "bgp-wire/tests/data/mrt/bgpdump__updates.20070211.0141.gz",
    "bgp-wire/tests/data/mrt/ryu__updates.20161101.0000.bz2",
    "bgp-wire/tests/data/mrt/bgpdump__updates.20020722.2238.gz",
];

/// A second, modern corpus: RIPE RIS updates of 2016 (4-octet AS, IPv4 and IPv6, longer
/// community lists), relative to the workspace root.
pub const MODERN_DUMPS: &[&str] = &["bgp-wire/tests/data/mrt/bgpdump__updates.20160811.1600.gz"];

/// The folders of single-message captures of BIRD, FRR, GoBGP, OpenBGPD and ExaBGP
/// sessions, relative to the workspace root; their `*-UPDATE.bin` files join the corpus.
pub const CAPTURE_DIRS: &[&str] = &[
    "bgp-wire/tests/data/captures/bird-rs-gobgp-exabgp",
    "bgp-wire/tests/data/captures/frr-rs-gobgp-exabgp",
    "bgp-wire/tests/data/captures/gobgp-rs-bird-exabgp",
    "bgp-wire/tests/data/captures/openbgpd-rs-gobgp-exabgp",
];

/// The TABLE_DUMP_V2 RIB dump, relative to the workspace root: the peer table and the
/// first 2000 prefixes of a 2014 RouteViews RIB (see `benches/data/README.md`).
pub const RIB_DUMP: &str = "benches/data/routeviews__rib.20140523.0600.first-2000-prefixes.gz";

/// One BGP message as it travelled, header included, with what its session negotiated.
#[derive(Clone, Debug)]
pub struct WireMessage {
    /// The message bytes: marker, length, type and body.
    pub bytes: Vec<u8>,
    /// The session carried 4-octet AS numbers (the AS4 MRT subtypes; captures of
    /// sessions with the capability on both sides).
    pub four_octet_as: bool,
}

impl WireMessage {
    /// The parameters `bgp-wire` decodes this message with. Extended messages are allowed
    /// because collectors record what they received.
    pub fn params(&self) -> SessionParams {
        SessionParams {
            four_octet_as: self.four_octet_as,
            extended_message: true,
            ..SessionParams::default()
        }
    }
}

/// Where a corpus came from and what it holds.
#[derive(Clone, Debug)]
pub struct SourceSummary {
    /// File or folder, relative to the workspace root.
    pub name: String,
    /// UPDATE messages taken from it.
    pub updates: usize,
}

/// A set of UPDATE messages.
#[derive(Clone, Debug, Default)]
pub struct Corpus {
    /// The messages, in file order.
    pub messages: Vec<WireMessage>,
    /// One line per source.
    pub sources: Vec<SourceSummary>,
}

impl Corpus {
    /// Total bytes of the messages.
    pub fn bytes(&self) -> usize {
        self.messages.iter().map(|m| m.bytes.len()).sum()
    }
}

/// The workspace root (the parent of this crate's folder).
pub fn workspace_root() -> PathBuf {
    mrt_files::workspace_root()
}

/// Reads a file of the workspace, decompressing `.gz` and `.bz2`.
///
/// # Errors
///
/// The I/O or decompression error, with the path.
pub fn read_data(relative: &str) -> Result<Vec<u8>, String> {
    let path = workspace_root().join(relative);
    let contents = mrt_files::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    match contents.error {
        None => Ok(contents.bytes),
        Some(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The UPDATE messages of BGP4MP(_ET) MESSAGE records of decompressed MRT data, with the
/// AS width the subtype implies. ADD-PATH subtypes are skipped (none of the benchmark
/// dumps has them, and not every crate compared takes per-family ADD-PATH settings).
///
/// # Errors
///
/// The first MRT framing error.
pub fn mrt_updates(mrt: &[u8]) -> Result<Vec<WireMessage>, String> {
    let mut out = Vec::new();
    for record in MrtReader::new(mrt) {
        let (_, record) = record.map_err(|e| format!("MRT record: {e:?}"))?;
        if let MrtBody::Message(msg) = record.body {
            if !msg.add_path && msg.message.get(18) == Some(&2) {
                out.push(WireMessage {
                    bytes: msg.message.to_vec(),
                    four_octet_as: msg.four_octet_as,
                });
            }
        }
    }
    Ok(out)
}

/// The UPDATE corpus: [`UPDATE_DUMPS`] then the captures of [`CAPTURE_DIRS`].
///
/// # Errors
///
/// A file that cannot be read or an MRT framing error.
pub fn update_corpus() -> Result<Corpus, String> {
    let mut corpus = Corpus::default();
    for dump in UPDATE_DUMPS {
        let updates = mrt_updates(&read_data(dump)?)?;
        corpus.sources.push(SourceSummary {
            name: (*dump).to_owned(),
            updates: updates.len(),
        });
        corpus.messages.extend(updates);
    }
    for dir in CAPTURE_DIRS {
        let path = workspace_root().join(dir);
        let mut names: Vec<String> = std::fs::read_dir(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with("-UPDATE.bin"))
            .collect();
        names.sort();
        for name in &names {
            let bytes = std::fs::read(path.join(name)).map_err(|e| format!("{name}: {e}"))?;
            // The one client that did not advertise the 4-octet AS capability.
            let four_octet_as = !name.contains("exabgp2byte");
            corpus.messages.push(WireMessage {
                bytes,
                four_octet_as,
            });
        }
        corpus.sources.push(SourceSummary {
            name: (*dir).to_owned(),
            updates: names.len(),
        });
    }
    Ok(corpus)
}

/// The modern corpus: the UPDATEs of [`MODERN_DUMPS`].
///
/// # Errors
///
/// A file that cannot be read or an MRT framing error.
pub fn modern_corpus() -> Result<Corpus, String> {
    let mut corpus = Corpus::default();
    for dump in MODERN_DUMPS {
        let updates = mrt_updates(&read_data(dump)?)?;
        corpus.sources.push(SourceSummary {
            name: (*dump).to_owned(),
            updates: updates.len(),
        });
        corpus.messages.extend(updates);
    }
    Ok(corpus)
}

/// The decompressed [`RIB_DUMP`].
///
/// # Errors
///
/// The file cannot be read.
pub fn rib_dump() -> Result<Vec<u8>, String> {
    read_data(RIB_DUMP)
}

/// Builds an UPDATE (header included) that announces `count` distinct IPv4 /24s with a
/// minimal attribute set (ORIGIN, a one-AS AS_PATH, NEXT_HOP) for a 4-octet AS session.
/// `count` up to 1018 fits the 4096-byte limit.
pub fn ipv4_slash24_update(count: u16) -> Vec<u8> {
    let attrs: [u8; 20] = [
        0x40, 1, 1, 0, // ORIGIN IGP
        0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe8, // AS_SEQUENCE 65000
        0x40, 3, 4, 192, 0, 2, 1, // NEXT_HOP 192.0.2.1
    ];
    let mut body = vec![0, 0];
    body.extend_from_slice(&u16::try_from(attrs.len()).unwrap_or(0).to_be_bytes());
    body.extend_from_slice(&attrs);
    for i in 0..count {
        let [hi, lo] = i.to_be_bytes();
        body.extend_from_slice(&[24, 10, hi, lo]);
    }
    let mut msg = vec![0xff; 16];
    msg.extend_from_slice(&u16::try_from(body.len() + 19).unwrap_or(0).to_be_bytes());
    msg.push(2);
    msg.extend_from_slice(&body);
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slash24_update_has_the_stated_length_and_prefixes() {
        let msg = ipv4_slash24_update(1000);
        assert_eq!(
            usize::from(u16::from_be_bytes([msg[16], msg[17]])),
            msg.len()
        );
        assert!(msg.len() <= 4096);
        let mut tally = crate::Tally::default();
        crate::floor::walk_update(&msg, true, &mut tally).unwrap();
        assert_eq!(tally.prefixes, 1000);
    }

    #[test]
    fn modern_corpus_is_four_octet_as_throughout() {
        let corpus = modern_corpus().expect("the corpus files are in the repository");
        assert!(corpus.messages.len() > 10_000);
        assert!(corpus.messages.iter().all(|m| m.four_octet_as));
    }

    #[test]
    fn corpus_is_the_three_dumps_and_the_captures() {
        let corpus = update_corpus().expect("the corpus files are in the repository");
        assert_eq!(
            corpus.sources.len(),
            UPDATE_DUMPS.len() + CAPTURE_DIRS.len()
        );
        assert!(
            corpus.sources.iter().all(|s| s.updates > 0),
            "{:?}",
            corpus.sources
        );
        assert_eq!(
            corpus.messages.len(),
            corpus.sources.iter().map(|s| s.updates).sum::<usize>()
        );
        let mut tally = crate::Tally::default();
        for msg in &corpus.messages {
            crate::floor::walk_update(&msg.bytes, msg.four_octet_as, &mut tally).unwrap();
        }
        assert_eq!(tally.messages, corpus.messages.len() as u64);
        assert!(tally.prefixes > tally.messages);
    }
}
