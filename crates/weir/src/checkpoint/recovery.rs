//! The recovery decision, pure: given the manifests found for a lane, which one to resume from
//! and which to report as unusable.
//!
//! The newest manifest that verifies wins. Every newer one is rejected with its reason (torn,
//! checksum mismatch, wrong lane...). With none usable the lane starts from the beginning, and
//! its sinks withdraw whatever they hold for it, so the output stays exactly once.

use std::path::PathBuf;

use super::manifest::{Checkpoint, ManifestError};
use crate::epoch::Epoch;

/// A manifest file found on disk, decoded or not.
#[derive(Debug)]
pub struct Candidate {
    /// The epoch its file name stands for.
    pub epoch: Epoch,
    /// Where it is.
    pub path: PathBuf,
    /// Its content, or why it could not be read.
    pub decoded: Result<Checkpoint, ManifestError>,
}

/// A manifest that was passed over, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub error: ManifestError,
}

/// What recovery resumes from.
#[derive(Debug, Default)]
pub struct Choice {
    /// The checkpoint to resume from; `None` means from the beginning.
    pub checkpoint: Option<Checkpoint>,
    /// Newer manifests that could not be used, newest first.
    pub rejected: Vec<Rejected>,
}

impl Choice {
    /// The committed epoch resumed from (`Epoch::NONE` when starting from the beginning).
    #[must_use]
    pub fn epoch(&self) -> Epoch {
        self.checkpoint.as_ref().map_or(Epoch::NONE, |c| c.epoch)
    }
}

/// Picks the newest valid manifest for `(pipeline, lane)`.
#[must_use]
pub fn choose(pipeline: &str, lane: &str, mut candidates: Vec<Candidate>) -> Choice {
    candidates.sort_by_key(|c| std::cmp::Reverse(c.epoch));
    let mut choice = Choice::default();
    for c in candidates {
        let checked = c.decoded.and_then(|cp| {
            if cp.epoch != c.epoch {
                Err(ManifestError::Body(format!(
                    "holds epoch {} but is named for epoch {}",
                    cp.epoch, c.epoch
                )))
            } else if cp.pipeline != pipeline || cp.lane != lane {
                Err(ManifestError::Body(format!(
                    "belongs to {}/{}, not {pipeline}/{lane}",
                    cp.pipeline, cp.lane
                )))
            } else {
                Ok(cp)
            }
        });
        match checked {
            Ok(cp) => {
                choice.checkpoint = Some(cp);
                break;
            }
            Err(error) => choice.rejected.push(Rejected {
                path: c.path,
                error,
            }),
        }
    }
    choice
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(epoch: u64) -> Checkpoint {
        Checkpoint {
            pipeline: "p".into(),
            lane: "l".into(),
            epoch: Epoch(epoch),
            next_offset: epoch * 10,
            records_in: 0,
            records_out: 0,
            created_at_ms: 0,
            state: serde_json::Map::new(),
            sinks: serde_json::Map::new(),
        }
    }

    fn ok(epoch: u64) -> Candidate {
        Candidate {
            epoch: Epoch(epoch),
            path: format!("{epoch}").into(),
            decoded: Ok(cp(epoch)),
        }
    }

    fn bad(epoch: u64) -> Candidate {
        Candidate {
            epoch: Epoch(epoch),
            path: format!("{epoch}").into(),
            decoded: Err(ManifestError::BadHeader),
        }
    }

    #[test]
    fn newest_valid_wins_and_newer_broken_ones_are_reported() {
        let c = choose("p", "l", vec![ok(1), bad(3), ok(2)]);
        assert_eq!(c.epoch(), Epoch(2));
        assert_eq!(c.rejected.len(), 1);
        assert_eq!(c.rejected[0].path, PathBuf::from("3"));
    }

    #[test]
    fn nothing_usable_means_from_the_beginning() {
        let c = choose("p", "l", vec![bad(1), bad(2)]);
        assert_eq!(c.epoch(), Epoch::NONE);
        assert_eq!(c.rejected.len(), 2);
        assert_eq!(choose("p", "l", vec![]).epoch(), Epoch::NONE);
    }

    #[test]
    fn a_manifest_of_another_lane_or_epoch_is_rejected() {
        let mut wrong_epoch = ok(5);
        wrong_epoch.epoch = Epoch(6);
        let mut other = cp(4);
        other.lane = "x".into();
        let other_lane = Candidate {
            epoch: Epoch(4),
            path: "4".into(),
            decoded: Ok(other),
        };
        let c = choose("p", "l", vec![ok(3), wrong_epoch, other_lane]);
        assert_eq!(c.epoch(), Epoch(3));
        assert_eq!(c.rejected.len(), 2);
    }
}
