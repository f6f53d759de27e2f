//! Poison pills: finding the record that crashes a lane, and quarantining it.
//!
//! Each lane keeps a small marker file (not fsynced: it has to survive a process crash, not a
//! power cut) that says where the current attempt resumed and how far it read. An attempt that
//! read past its resume offset and then died without committing — a panic, an abort, a kill —
//! counts as a crash of that offset. After `K` crashes at the same offset the lane runs
//! *isolated* over the range the crashing attempts read: before each record it writes the
//! record's offset into the marker as the suspect (and clears it once the record is processed,
//! so a crash caused elsewhere is not blamed on it), and it catches panics per record. A panic in
//! isolation quarantines the record at once (with the panic message); a process-level crash
//! leaves the suspect in the marker, and a record found as the suspect of two crashes is
//! quarantined on the next start: it goes to the dead-letter queue with reason `crash` and the
//! lane goes on.
//!
//! ```text
//! <data_dir>/pipelines/<pipeline>/lanes/<lane>.marker   JSON, space-padded to 512 bytes
//! ```

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const MARKER_SIZE: usize = 512;
/// Isolated crashes on one record before it is quarantined.
pub const SUSPECT_HITS: u32 = 2;

/// What a lane's marker holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// Offset the attempt resumed at (its checkpoint's next offset).
    pub resume_offset: u64,
    /// Crashes counted at `resume_offset`.
    pub crashes: u32,
    /// Furthest offset read by attempts resuming at `resume_offset`.
    pub high_water: u64,
    /// Furthest offset read by the current attempt (an attempt that read nothing did not
    /// crash on a record).
    #[serde(default)]
    pub attempt_read: u64,
    /// The last known failure (a panic message), if any.
    #[serde(default)]
    pub last_error: Option<String>,
    /// While isolated: the record being processed.
    #[serde(default)]
    pub suspect: Option<u64>,
    /// The record suspected by earlier crashes, and how many.
    #[serde(default)]
    pub candidate: Option<(u64, u32)>,
}

/// How a lane runs after a (re)start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Batch by batch.
    Normal,
    /// Record by record with a suspect marker, up to (excluding) offset `until`; `quarantine`
    /// is a record to dead-letter on sight, with its message.
    Isolated {
        /// End of the isolated range.
        until: u64,
        /// Record proven to crash the lane.
        quarantine: Option<(u64, String)>,
    },
}

/// Decides how a lane starts, from its previous marker (if readable), where it resumes, and
/// the failure that stopped the previous attempt in this process (if known). Returns the
/// marker to write and the mode.
#[must_use]
pub fn on_start(
    prev: Option<&Marker>,
    resume: u64,
    error: Option<String>,
    k: u32,
) -> (Marker, Mode) {
    let same = prev.filter(|m| m.resume_offset == resume);
    let Some(prev) = same else {
        return (
            Marker {
                resume_offset: resume,
                high_water: resume,
                attempt_read: resume,
                ..Marker::default()
            },
            Mode::Normal,
        );
    };
    let read_past = prev.attempt_read > prev.resume_offset || prev.suspect.is_some();
    let crashes = prev.crashes + u32::from(read_past);
    let last_error = error.or_else(|| prev.last_error.clone());
    let mut candidate = prev.candidate;
    if let Some(s) = prev.suspect {
        candidate = Some(match candidate {
            Some((c, hits)) if c == s => (s, hits + 1),
            _ => (s, 1),
        });
    }
    let marker = Marker {
        resume_offset: resume,
        crashes,
        high_water: prev.high_water.max(resume),
        attempt_read: resume,
        last_error: last_error.clone(),
        suspect: None,
        candidate,
    };
    if crashes < k {
        return (marker, Mode::Normal);
    }
    let quarantine = candidate.filter(|(_, hits)| *hits >= SUSPECT_HITS).map(|(offset, hits)| {
        let cause = last_error.map_or_else(|| "the process ended abnormally (abort or kill)".to_owned(), |e| format!("last failure: {e}"));
        (offset, format!("this record crashed its lane {crashes} times ({hits} times while processed alone); {cause}"))
    });
    // Isolate at least up to the quarantined record, even if the high-water mark was lost.
    let until = marker
        .high_water
        .max(quarantine.as_ref().map_or(0, |(o, _)| o + 1));
    (marker, Mode::Isolated { until, quarantine })
}

/// The marker file of one lane, kept open while the lane runs.
#[derive(Debug)]
pub struct MarkerFile {
    path: PathBuf,
    file: File,
    current: Marker,
}

impl MarkerFile {
    /// Reads the marker at `path`; a missing, torn or unreadable one is `None`.
    #[must_use]
    pub fn load(path: &Path) -> Option<Marker> {
        let bytes = std::fs::read(path).ok()?;
        serde_json::from_slice(bytes.trim_ascii_end()).ok()
    }

    /// Opens `path` for writing and writes `marker`.
    ///
    /// # Errors
    /// When the file cannot be created or written.
    pub fn create(path: &Path, marker: Marker) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(path)?;
        file.set_len(MARKER_SIZE as u64)?;
        let mut m = Self {
            path: path.to_path_buf(),
            file,
            current: marker,
        };
        m.flush()?;
        Ok(m)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec(&self.current).map_err(std::io::Error::other)?;
        if bytes.len() > MARKER_SIZE {
            // Only an enormous panic message gets here: keep the counts, drop the message.
            self.current.last_error = None;
            bytes = serde_json::to_vec(&self.current).map_err(std::io::Error::other)?;
        }
        bytes.resize(MARKER_SIZE, b' ');
        self.file.write_all_at(&bytes, 0)
    }

    /// Notes that the lane has read up to `offset`.
    ///
    /// # Errors
    /// When the marker cannot be written.
    pub fn read_up_to(&mut self, offset: u64) -> std::io::Result<()> {
        if offset > self.current.attempt_read {
            self.current.attempt_read = offset;
            self.current.high_water = self.current.high_water.max(offset);
            self.flush()?;
        }
        Ok(())
    }

    /// Notes the record about to be processed in isolation (`None` when isolation ends).
    ///
    /// # Errors
    /// When the marker cannot be written.
    pub fn suspect(&mut self, offset: Option<u64>) -> std::io::Result<()> {
        self.current.suspect = offset;
        self.flush()
    }

    /// Removes the marker: the lane ended cleanly.
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(resume: u64, crashes: u32, high: u64) -> Marker {
        Marker {
            resume_offset: resume,
            crashes,
            high_water: high,
            attempt_read: high,
            ..Marker::default()
        }
    }

    #[test]
    fn an_attempt_after_a_crash_that_reads_nothing_is_not_another_crash() {
        let (m, _) = on_start(Some(&marker(10, 0, 50)), 10, None, 3);
        assert_eq!((m.crashes, m.high_water, m.attempt_read), (1, 50, 10));
        let (m2, _) = on_start(Some(&m), 10, None, 3);
        assert_eq!(m2.crashes, 1, "the second attempt read nothing");
    }

    #[test]
    fn a_fresh_start_or_progress_resets_the_count() {
        assert_eq!(
            on_start(None, 10, None, 3),
            (marker(10, 0, 10), Mode::Normal)
        );
        assert_eq!(
            on_start(Some(&marker(5, 2, 9)), 10, None, 3).0,
            marker(10, 0, 10)
        );
    }

    #[test]
    fn an_attempt_that_read_nothing_is_not_a_crash() {
        assert_eq!(on_start(Some(&marker(10, 1, 10)), 10, None, 3).0.crashes, 1);
    }

    #[test]
    fn k_crashes_isolate_the_range_read() {
        let (m, mode) = on_start(Some(&marker(10, 1, 50)), 10, Some("panic: x".into()), 3);
        assert_eq!((m.crashes, mode), (2, Mode::Normal));
        let read = Marker {
            attempt_read: 40,
            ..m
        };
        let (m, mode) = on_start(Some(&read), 10, None, 3);
        assert_eq!(m.crashes, 3);
        assert_eq!(
            mode,
            Mode::Isolated {
                until: 50,
                quarantine: None
            }
        );
        assert_eq!(m.last_error.as_deref(), Some("panic: x"));
    }

    #[test]
    fn a_suspect_of_two_isolated_crashes_is_quarantined() {
        let mut m = marker(10, 3, 50);
        m.suspect = Some(30);
        let (m, mode) = on_start(Some(&m), 10, None, 3);
        assert_eq!(m.candidate, Some((30, 1)));
        assert!(matches!(
            mode,
            Mode::Isolated {
                quarantine: None,
                ..
            }
        ));
        let mut m2 = m.clone();
        m2.suspect = Some(30);
        let (_, mode) = on_start(Some(&m2), 10, None, 3);
        match mode {
            Mode::Isolated {
                until,
                quarantine: Some((30, msg)),
            } => {
                assert_eq!(until, 50);
                assert!(msg.contains("crashed its lane"), "{msg}");
            }
            other => panic!("expected a quarantine, got {other:?}"),
        }
    }

    #[test]
    fn the_marker_file_round_trips_and_survives_rewrites() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("l.marker");
        let mut f = MarkerFile::create(&p, marker(1, 0, 1)).expect("create");
        f.read_up_to(99).expect("write");
        f.suspect(Some(42)).expect("write");
        let m = MarkerFile::load(&p).expect("readable");
        assert_eq!((m.high_water, m.suspect), (99, Some(42)));
        f.remove();
        assert!(MarkerFile::load(&p).is_none());
    }
}
