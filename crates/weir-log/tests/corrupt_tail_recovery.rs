//! Corruption: a flipped byte or a truncation anywhere in the active segment is found on open
//! and cut there, every record before it surviving exactly; damage in a sealed segment is
//! reported (on open when scanned, and by every read reaching it), never skipped; damaged or
//! missing index files are rebuilt from their segment.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{read_all, small_segments, value};
use proptest::prelude::*;
use weir_log::{Damage, Error, Log, NewRecord, RECORD_OVERHEAD, StartAt};

const RECORDS: u64 = 120;

/// A closed log with `RECORDS` records in several segments, built once per test binary.
struct Pristine {
    dir: tempfile::TempDir,
}

fn build() -> Pristine {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_segments()).expect("open");
    log.create_topic("t", 1).expect("create");
    let p = log.partition("t", 0).expect("partition");
    for i in 0..RECORDS {
        p.append(&[NewRecord::new(&value(i)).at(i as i64)])
            .expect("append");
    }
    log.close().expect("close");
    Pristine { dir }
}

fn partition_dir(root: &Path) -> PathBuf {
    root.join("topics/t/0")
}

/// Base offsets of the segments, ascending.
fn segment_bases(root: &Path) -> Vec<u64> {
    let mut bases: Vec<u64> = fs::read_dir(partition_dir(root))
        .expect("list")
        .filter_map(|e| {
            let name = e.expect("entry").file_name().into_string().ok()?;
            name.strip_suffix(".log")?.parse().ok()
        })
        .collect();
    bases.sort_unstable();
    bases
}

fn segment_path(root: &Path, base: u64, ext: &str) -> PathBuf {
    partition_dir(root).join(format!("{base:020}.{ext}"))
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("list") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// Byte ranges of the frames of the segment starting at `base` and ending before `next`.
fn frames(base: u64, next: u64) -> Vec<(u64, u64)> {
    let mut pos = 16;
    (base..next)
        .map(|i| {
            let len = (RECORD_OVERHEAD + value(i).len()) as u64;
            pos += len;
            (pos - len, pos)
        })
        .collect()
}

/// Opens the damaged copy and checks that exactly records `0..survivors` are left, and that
/// the cut is reported where the damage is.
fn check_cut(root: &Path, active: u64, damage_at: u64) {
    let frames = frames(active, RECORDS);
    let intact = frames
        .iter()
        .take_while(|(_, end)| *end <= damage_at)
        .count() as u64;
    let cut_at = if damage_at < 16 {
        0
    } else {
        frames.get(intact as usize).map_or(damage_at, |f| f.0)
    };
    let survivors = if damage_at < 16 {
        active
    } else {
        active + intact
    };

    let log = Log::open(root, small_segments()).expect("reopen");
    let report = log.recovery_report();
    let cuts: Vec<_> = report.truncations().collect();
    assert_eq!(cuts.len(), 1, "{report}");
    assert_eq!(cuts[0].position, cut_at, "{report}");
    assert_eq!(cuts[0].first_lost_offset, survivors, "{report}");
    assert_eq!(cuts[0].segment, segment_path(root, active, "log"));
    assert_eq!(report.corruption().count(), 0, "{report}");

    let p = log.partition("t", 0).expect("partition");
    let got = read_all(&p);
    assert_eq!(got.len() as u64, survivors);
    for (i, rec) in got.iter().enumerate() {
        assert_eq!(rec.offset, i as u64);
        assert_eq!(rec.value, value(i as u64));
        assert_eq!(rec.timestamp_ms, i as i64);
    }
    // The log goes on from the cut, reusing the lost offsets.
    let ack = p.append(&[NewRecord::new(b"after")]).expect("append");
    assert_eq!(ack.first_offset, survivors);
    drop(log);
    let log = Log::open(root, small_segments()).expect("reopen again");
    assert!(
        log.recovery_report().is_clean(),
        "{}",
        log.recovery_report()
    );
}

thread_local! {
    static PRISTINE: Pristine = build();
}

fn with_copy(f: impl FnOnce(&Path, u64, u64)) {
    PRISTINE.with(|p| {
        let copy = tempfile::tempdir().expect("tempdir");
        copy_dir(p.dir.path(), copy.path());
        let bases = segment_bases(copy.path());
        assert!(bases.len() >= 3, "need sealed segments: {bases:?}");
        let active = *bases.last().expect("a segment");
        let len = fs::metadata(segment_path(copy.path(), active, "log"))
            .expect("stat")
            .len();
        assert_eq!(frames(active, RECORDS).last().map(|f| f.1), Some(len));
        f(copy.path(), active, len);
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn a_flipped_byte_in_the_active_segment_is_cut_there(at in 0.0f64..1.0, bits in 1u8..=255) {
        with_copy(|root, active, len| {
            let path = segment_path(root, active, "log");
            let mut bytes = fs::read(&path).expect("read");
            let pos = ((len as f64 * at) as u64).min(len - 1);
            bytes[pos as usize] ^= bits;
            fs::write(&path, bytes).expect("write");
            check_cut(root, active, pos);
        });
    }

    #[test]
    fn a_truncated_active_segment_keeps_every_whole_record(at in 0.0f64..1.0) {
        with_copy(|root, active, len| {
            let path = segment_path(root, active, "log");
            let mut cut = ((len as f64 * at) as u64).min(len - 1);
            // A cut exactly at a frame boundary is not damage (see the test below).
            if cut == 0 || cut == 16 || frames(active, RECORDS).iter().any(|f| f.1 == cut) {
                cut += 1;
            }
            let f = fs::OpenOptions::new().write(true).open(&path).expect("open");
            f.set_len(cut).expect("truncate");
            drop(f);
            check_cut(root, active, cut);
        });
    }
}

#[test]
fn a_cut_at_a_frame_boundary_loses_nothing_else_and_reports_nothing() {
    with_copy(|root, active, _| {
        let frames = frames(active, RECORDS);
        let keep = frames.len() / 2;
        let f = fs::OpenOptions::new()
            .write(true)
            .open(segment_path(root, active, "log"))
            .expect("open");
        f.set_len(frames[keep].0).expect("truncate");
        drop(f);
        let log = Log::open(root, small_segments()).expect("reopen");
        assert!(log.recovery_report().is_clean());
        assert_eq!(
            read_all(&log.partition("t", 0).expect("p")).len() as u64,
            active + keep as u64
        );
    });
}

#[test]
fn damage_in_a_sealed_segment_is_reported_on_every_read_never_skipped() {
    with_copy(|root, _, _| {
        let bases = segment_bases(root);
        let (sealed, next) = (bases[1], bases[2]);
        let frames = frames(sealed, next);
        let victim = sealed + 2;
        let path = segment_path(root, sealed, "log");
        let mut bytes = fs::read(&path).expect("read");
        bytes[(frames[2].0 + 30) as usize] ^= 0x10; // inside record `victim`'s body
        fs::write(&path, bytes).expect("write");

        // Index files verify (they do not cover record bodies), so open finds nothing...
        let log = Log::open(root, small_segments()).expect("reopen");
        assert_eq!(log.recovery_report().truncations().count(), 0);
        let p = log.partition("t", 0).expect("partition");
        let mut r = p.reader(StartAt::Earliest).expect("reader");
        let mut got = Vec::new();
        let err = loop {
            match r.read(7, usize::MAX) {
                Ok(batch) if batch.is_empty() => panic!("read past the damage"),
                Ok(batch) => got.extend(batch),
                Err(e) => break e,
            }
        };
        // ...but the read stops right before the damaged record and names it.
        assert_eq!(got.len() as u64, victim);
        match &err {
            Error::Corrupt {
                segment,
                offset,
                position,
                damage,
            } => {
                assert_eq!(segment, &path);
                assert_eq!(*offset, victim);
                assert_eq!(*position, frames[2].0);
                assert!(
                    matches!(damage, Damage::ChecksumMismatch { .. }),
                    "{damage:?}"
                );
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert_eq!(err.code(), "checksum_mismatch");
        // Asking again gives the same error: the record is not skipped.
        assert!(
            matches!(r.read(7, usize::MAX), Err(Error::Corrupt { offset, .. }) if offset == victim)
        );
        assert!(matches!(
            p.reader(StartAt::Offset(victim))
                .expect("reader")
                .read(1, usize::MAX),
            Err(Error::Corrupt { .. })
        ));
        // Records after the damaged segment still read.
        let mut after = p.reader(StartAt::Offset(next)).expect("reader");
        assert_eq!(
            after.read(1, usize::MAX).expect("read")[0].value,
            value(next)
        );
        drop(log);

        // Without its index files the segment is scanned on open, and the damage reported.
        fs::remove_file(segment_path(root, sealed, "index")).expect("rm index");
        let log = Log::open(root, small_segments()).expect("reopen");
        let found: Vec<_> = log.recovery_report().corruption().cloned().collect();
        assert_eq!(found.len(), 1, "{}", log.recovery_report());
        assert_eq!(
            (found[0].segment.clone(), found[0].offset),
            (path.clone(), victim)
        );
        assert_eq!(
            log.recovery_report().truncations().count(),
            0,
            "sealed data is never cut"
        );
        assert!(
            !segment_path(root, sealed, "index").exists(),
            "no index for a damaged segment"
        );
        let mut r = log
            .partition("t", 0)
            .expect("p")
            .reader(StartAt::Offset(sealed))
            .expect("reader");
        assert!(matches!(r.read(100, usize::MAX), Ok(b) if b.len() == 2));
        assert!(
            matches!(r.read(100, usize::MAX), Err(Error::Corrupt { offset, .. }) if offset == victim)
        );
    });
}

#[test]
fn missing_or_damaged_index_files_are_rebuilt_from_the_segment() {
    with_copy(|root, _, _| {
        let bases = segment_bases(root);
        fs::remove_file(segment_path(root, bases[0], "timeindex")).expect("rm");
        let idx = segment_path(root, bases[1], "index");
        let mut bytes = fs::read(&idx).expect("read");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        fs::write(&idx, bytes).expect("write");
        fs::write(segment_path(root, bases[0], "index.tmp"), b"junk").expect("tmp");

        let log = Log::open(root, small_segments()).expect("reopen");
        let report = log.recovery_report();
        assert_eq!(report.partitions[0].rebuilt_indexes.len(), 4, "{report}");
        assert_eq!(report.partitions[0].removed_files.len(), 1, "{report}");
        let p = log.partition("t", 0).expect("partition");
        for start in [0, 3, bases[1], bases[1] + 1, bases[2] - 1] {
            let got = p
                .reader(StartAt::Offset(start))
                .expect("reader")
                .read(1, usize::MAX)
                .expect("read");
            assert_eq!(got[0].value, value(start));
            assert_eq!(p.offset_for_timestamp(start as i64).expect("ts"), start);
        }
        drop(log);
        let log = Log::open(root, small_segments()).expect("reopen");
        assert!(
            log.recovery_report().is_clean(),
            "{}",
            log.recovery_report()
        );
    });
}
