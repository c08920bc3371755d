//! The same sweeps as `real_data.rs`, over ALL the shared reference data when it is
//! present beside the workspace (`../shared/data`): every MRT file, every pcap (TCP
//! reassembled here), every hex vector file, every daemon capture message. Skipped
//! silently without `../shared`. Totals are asserted; what fails is printed with reasons.

mod real_support;

use std::path::PathBuf;

use real_support::{
    files_in, load, name_of, shared_dir, sweep_capture, sweep_capture_bins, sweep_mrt,
    sweep_vector_file,
};

fn real() -> Option<PathBuf> {
    shared_dir().map(|d| d.join("data/real"))
}

#[test]
fn shared_mrt_files() {
    let Some(real) = real() else { return };
    let mut report = String::new();
    let (
        mut files,
        mut records,
        mut errors,
        mut messages,
        mut failed,
        mut mismatched,
        mut rib,
        mut rib_failed,
    ) = (0, 0, 0, 0, 0, 0, 0, 0);
    for path in files_in(&real.join("mrt"), &[]) {
        let name = name_of(&path);
        let (bytes, err) = load(&path);
        let s = sweep_mrt(&bytes, true);
        report.push_str(&s.report(&name));
        if let Some(e) = err {
            report.push_str(&format!("  decompression stopped: {e}\n"));
        }
        assert!(
            s.emit_mismatches.is_empty(),
            "{name}: records re-emit differently at {:?}",
            s.emit_mismatches
        );
        files += 1;
        records += s.records;
        errors += s.record_errors.len();
        messages += s.messages;
        failed += s.failed();
        mismatched += s.mismatched();
        rib += s.rib_entries;
        rib_failed += s.rib_failed();
    }
    println!("{report}");
    println!(
        "MRT TOTAL: files {files} records {records} record errors {errors} messages {messages} \
         failed {failed} re-encode mismatches {mismatched} RIB entries {rib} failed {rib_failed}"
    );
}

#[test]
fn shared_pcaps() {
    let Some(real) = real() else { return };
    let mut report = String::new();
    let mut paths = files_in(&real.join("pcap"), &[]);
    paths.extend(files_in(&real.join("pcap/malformed"), &[]));
    let (mut files, mut messages, mut failed, mut mismatched, mut guessed) = (0, 0, 0, 0, 0);
    for path in paths {
        let name = name_of(&path);
        let (bytes, _) = load(&path);
        match sweep_capture(&bytes, &[179, 1179]) {
            Ok(s) => {
                report.push_str(&s.messages.report(&name));
                report.push_str(&format!(
                    "  frames {} flows {} unframed bytes {} guessed {}\n",
                    s.frames, s.bgp_flows, s.unframed_bytes, s.guessed
                ));
                files += 1;
                messages += s.messages.messages;
                failed += s.messages.failed();
                mismatched += s.messages.mismatched();
                guessed += s.guessed;
            }
            Err(e) => report.push_str(&format!("{name}: CAPTURE NOT READ: {e}\n")),
        }
    }
    let captures = shared_dir().expect("checked").join("data/captures");
    for path in files_in(&captures, &[".pcap"]) {
        let name = name_of(&path);
        let (bytes, _) = load(&path);
        let s = sweep_capture(&bytes, &[1790]).unwrap_or_else(|e| panic!("{name}: {e}"));
        report.push_str(&s.messages.report(&name));
        files += 1;
        messages += s.messages.messages;
        failed += s.messages.failed();
        mismatched += s.messages.mismatched();
        guessed += s.guessed;
    }
    println!("{report}");
    println!("PCAP TOTAL: files {files} messages {messages} failed {failed} re-encode mismatches {mismatched} guessed {guessed}");
}

#[test]
fn shared_vectors() {
    let Some(real) = real() else { return };
    let mut report = String::new();
    let (
        mut files,
        mut messages,
        mut failed,
        mut expected,
        mut unexpected,
        mut flagged_ok,
        mut mismatched,
    ) = (0, 0, 0, 0, 0, 0, 0);
    for dir in [real.join("vectors"), real.join("vectors/from-pcap")] {
        for path in files_in(&dir, &[".txt"]) {
            let name = name_of(&path);
            let s = sweep_vector_file(&path, name.contains("bad-len_malformed"));
            report.push_str(&s.messages.report(&name));
            for (line, note, err) in &s.unexpected_failures {
                report.push_str(&format!(
                    "  UNFLAGGED FAILURE line {line}: {err} [{note}]\n"
                ));
            }
            for (line, note) in &s.flagged_but_decoded {
                report.push_str(&format!("  FLAGGED BUT DECODED line {line} [{note}]\n"));
            }
            files += 1;
            messages += s.messages.messages;
            failed += s.messages.failed();
            expected += s.expected_failures;
            unexpected += s.unexpected_failures.len();
            flagged_ok += s.flagged_but_decoded.len();
            mismatched += s.messages.mismatched();
        }
    }
    println!("{report}");
    println!(
        "VECTOR TOTAL: files {files} messages {messages} failed {failed} (flagged {expected}, unflagged {unexpected}) \
         flagged-but-decoded {flagged_ok} re-encode mismatches {mismatched}"
    );
}

#[test]
fn shared_capture_messages() {
    let Some(shared) = shared_dir() else { return };
    let captures = shared.join("data/captures");
    let mut report = String::new();
    let mut total = 0;
    for dir in std::fs::read_dir(&captures).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let s = sweep_capture_bins(&dir);
        report.push_str(&s.report(&name_of(&dir)));
        total += s.messages;
        assert_eq!(s.failed(), 0, "{}", s.report(&name_of(&dir)));
        assert_eq!(s.mismatched(), 0, "{}", s.report(&name_of(&dir)));
    }
    println!("{report}");
    assert_eq!(total, 63 + 65 + 71 + 57 + 37, "{report}");
}
