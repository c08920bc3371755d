//! Opens the BGP dumps and captures that the workspace's examples, tests and benches read,
//! and finds the shared reference folder they come from.
//!
//! This crate does I/O (it reads files and the environment); the four sans-IO crates
//! (`bgp-wire`, `bgp-fsm`, `rib`, `route-server`) do not depend on it, only their
//! examples, tests and benchmarks do.
//!
//! - [`open`] streams a file, decompressing it by its name: `.gz` (every gzip member,
//!   as RIPE RIS concatenates them), `.bz2` (every bzip2 stream; a pure-Rust decoder),
//!   anything else as it is.
//! - [`read`] reads a whole file that way, keeping what decompressed before an error:
//!   several reference dumps are cut-short compressed streams.
//! - [`shared_dir`] finds the shared reference folder; [`shared_dir_or_skip`] is what a
//!   test that needs it calls: under `CI=true` a missing folder fails the test, elsewhere
//!   the test prints that it skipped.

#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

/// The environment variable that names the shared reference folder, when it is not
/// `../shared` beside the workspace (a git worktree, for one).
pub const SHARED_DIR_VAR: &str = "BGP_SHARED_DIR";

/// How a file is compressed, from its name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Compression {
    /// `.gz`: gzip, every member read.
    Gzip,
    /// `.bz2`: bzip2, every stream read.
    Bzip2,
    /// Anything else: read as it is.
    None,
}

impl Compression {
    /// The compression a file's name says.
    pub fn of(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("gz") => Self::Gzip,
            Some("bz2") => Self::Bzip2,
            _ => Self::None,
        }
    }
}

/// Opens `path` for reading, decompressing by its name (see [`Compression::of`]).
///
/// # Errors
///
/// The error of opening the file.
pub fn open(path: &Path) -> io::Result<Box<dyn Read>> {
    let file = BufReader::with_capacity(1 << 16, File::open(path)?);
    Ok(match Compression::of(path) {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(file)),
        Compression::None => Box::new(file),
    })
}

/// A whole file's contents, decompressed.
#[derive(Clone, Debug, Default)]
pub struct Contents {
    /// The bytes, as many as decompressed.
    pub bytes: Vec<u8>,
    /// Why decompression stopped early, when it did (a cut-short stream, say).
    pub error: Option<String>,
}

/// Reads the whole of `path`, decompressing by its name, keeping what decompressed
/// before an error (reported in [`Contents::error`]).
///
/// # Errors
///
/// The error of opening or reading the file when nothing at all could be read.
pub fn read(path: &Path) -> io::Result<Contents> {
    let mut reader = open(path)?;
    let mut bytes = Vec::new();
    match reader.read_to_end(&mut bytes) {
        Ok(_) => Ok(Contents { bytes, error: None }),
        Err(e) if !bytes.is_empty() => Ok(Contents {
            bytes,
            error: Some(e.to_string()),
        }),
        Err(e) => Err(e),
    }
}

/// The workspace root: the folder above this crate's.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate sits in the workspace")
        .to_path_buf()
}

/// The shared reference folder: `$BGP_SHARED_DIR` when set, else `../shared` beside the
/// workspace; `None` when that is not a folder.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os(SHARED_DIR_VAR) {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("../shared"),
    };
    dir.is_dir().then_some(dir)
}

/// Whether this run is CI's (`CI=true`), where missing reference data is a failure.
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The shared reference folder for the test `test`, or `None` after printing that the
/// test skipped.
///
/// # Panics
///
/// When the folder is missing and `CI=true`: CI runs with the folder beside the clone, so
/// a test that cannot find it must fail, not pass silently.
pub fn shared_dir_or_skip(test: &str) -> Option<PathBuf> {
    if let Some(dir) = shared_dir() {
        return Some(dir);
    }
    let looked = std::env::var_os(SHARED_DIR_VAR).map_or_else(
        || workspace_root().join("../shared").display().to_string(),
        |d| PathBuf::from(d).display().to_string(),
    );
    assert!(
        !is_ci(),
        "{test}: the shared reference folder is missing ({looked}) and CI=true"
    );
    println!("{test}: skipped: no shared reference folder at {looked} (set {SHARED_DIR_VAR})");
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_follows_the_name() {
        assert_eq!(Compression::of(Path::new("a/b.gz")), Compression::Gzip);
        assert_eq!(Compression::of(Path::new("b.bz2")), Compression::Bzip2);
        assert_eq!(
            Compression::of(Path::new("mrtparse__quagga_rib")),
            Compression::None
        );
    }

    #[test]
    fn gzip_members_and_bzip2_streams_are_all_read() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("mrt-files-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut gz = Vec::new();
        for part in [&b"first "[..], b"second"] {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(part).unwrap();
            gz.extend(e.finish().unwrap());
        }
        let mut bz = Vec::new();
        for part in [&b"third "[..], b"fourth"] {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(part).unwrap();
            bz.extend(e.finish().unwrap());
        }
        std::fs::write(dir.join("two.gz"), &gz).unwrap();
        std::fs::write(dir.join("two.bz2"), &bz).unwrap();
        // Cut short: what decompressed is kept, and the error said.
        std::fs::write(dir.join("cut.gz"), &gz[..gz.len() - 4]).unwrap();
        let read_text = |name: &str| read(&dir.join(name)).unwrap();
        assert_eq!(read_text("two.gz").bytes, b"first second");
        assert_eq!(read_text("two.bz2").bytes, b"third fourth");
        let cut = read_text("cut.gz");
        assert_eq!(cut.bytes, b"first second");
        assert!(cut.error.is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
