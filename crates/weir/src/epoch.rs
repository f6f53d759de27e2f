//! Lanes and epochs: the units of progress.
//!
//! A lane is one ordered partition of a source (for the file source, one file). Each lane cuts
//! its stream into epochs numbered 1, 2, 3, ...; epoch 0 means "nothing committed yet".

use std::fmt;
use std::sync::Arc;

/// Epoch number within a lane.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Epoch(pub u64);

impl Epoch {
    /// No epoch committed yet.
    pub const NONE: Epoch = Epoch(0);

    /// The epoch after this one.
    #[must_use]
    pub fn next(self) -> Epoch {
        Epoch(self.0 + 1)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A lane's name: stable across runs and safe as a file name (`[A-Za-z0-9._~-]`, no leading
/// dot or `~`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LaneId(Arc<str>);

impl LaneId {
    /// Builds a lane id from any text, replacing characters that are unsafe in file names
    /// (path separators become `~`, anything else unsafe becomes `_`).
    #[must_use]
    pub fn sanitized(text: &str) -> LaneId {
        let mut s: String = text
            .chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' | '~' => c,
                '/' | '\\' => '~',
                _ => '_',
            })
            .collect();
        while s.starts_with('.') || s.starts_with('~') {
            s.remove(0);
        }
        if s.is_empty() {
            s.push('_');
        }
        LaneId(s.into())
    }

    /// Accepts `text` if it is already a valid lane id.
    #[must_use]
    pub fn parse(text: &str) -> Option<LaneId> {
        let id = LaneId::sanitized(text);
        (&*id.0 == text).then_some(id)
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as a shared string.
    #[must_use]
    pub fn as_arc(&self) -> &Arc<str> {
        &self.0
    }
}

impl fmt::Display for LaneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_ids_are_file_name_safe_and_stable() {
        assert_eq!(
            LaneId::sanitized("data/orders-1.jsonl").as_str(),
            "data~orders-1.jsonl"
        );
        assert_eq!(LaneId::sanitized("../x y").as_str(), "x_y");
        assert_eq!(LaneId::sanitized("").as_str(), "_");
        assert!(LaneId::parse("a.jsonl").is_some());
        assert!(LaneId::parse("a/b").is_none());
        assert!(LaneId::parse("data~a.jsonl").is_some());
    }
}
