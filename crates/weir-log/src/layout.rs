//! Every path of a log's directory, built in one place.
//!
//! ```text
//! <root>/topics/<topic>/topic.meta
//! <root>/topics/<topic>/journal
//! <root>/topics/<topic>/<partition>/<base offset, 20 digits>.log
//! <root>/topics/<topic>/<partition>/<base offset, 20 digits>.index
//! <root>/topics/<topic>/<partition>/<base offset, 20 digits>.timeindex
//! <root>/topics/<topic>/<partition>/consumers/<consumer>.offset
//! ```
//! Temporary files end in `.tmp` and are removed on open.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The kinds of file in a partition directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SegmentFile {
    Log,
    OffsetIndex,
    TimeIndex,
}

impl SegmentFile {
    fn extension(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::OffsetIndex => "index",
            Self::TimeIndex => "timeindex",
        }
    }
}

/// Paths of one log directory.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    pub fn topics_dir(&self) -> PathBuf {
        self.root.join("topics")
    }

    pub fn topic_dir(&self, topic: &str) -> PathBuf {
        self.topics_dir().join(topic)
    }

    pub fn topic_meta(&self, topic: &str) -> PathBuf {
        self.topic_dir(topic).join("topic.meta")
    }

    pub fn topic_journal(&self, topic: &str) -> PathBuf {
        self.topic_dir(topic).join("journal")
    }

    pub fn partition(&self, topic: &str, partition: u32) -> PartitionLayout {
        PartitionLayout {
            dir: self.topic_dir(topic).join(partition.to_string()),
        }
    }
}

/// Paths of one partition directory.
#[derive(Clone, Debug)]
pub(crate) struct PartitionLayout {
    pub dir: PathBuf,
}

impl PartitionLayout {
    pub fn segment(&self, base: u64, kind: SegmentFile) -> PathBuf {
        self.dir.join(format!("{base:020}.{}", kind.extension()))
    }

    pub fn consumers_dir(&self) -> PathBuf {
        self.dir.join("consumers")
    }

    pub fn consumer_offset(&self, consumer: &str) -> PathBuf {
        self.consumers_dir().join(format!("{consumer}.offset"))
    }

    /// The base offset and kind of a segment file name.
    pub fn parse_segment(name: &str) -> Option<(u64, SegmentFile)> {
        let (stem, ext) = name.split_once('.')?;
        let kind = match ext {
            "log" => SegmentFile::Log,
            "index" => SegmentFile::OffsetIndex,
            "timeindex" => SegmentFile::TimeIndex,
            _ => return None,
        };
        if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some((stem.parse().ok()?, kind))
    }

    /// The consumer name of an offset file name.
    pub fn parse_consumer(name: &str) -> Option<&str> {
        let consumer = name.strip_suffix(".offset")?;
        is_valid_name(consumer).then_some(consumer)
    }
}

/// Path of the temporary file used to write `path` atomically.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

fn is_valid_name(name: &str) -> bool {
    (1..=200).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Checks a topic or consumer name: it becomes a file name.
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<()> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidName {
            what,
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip() {
        let p = Layout::new(Path::new("/r")).partition("t", 3);
        let path = p.segment(42, SegmentFile::TimeIndex);
        assert_eq!(
            path,
            Path::new("/r/topics/t/3/00000000000000000042.timeindex")
        );
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        assert_eq!(
            PartitionLayout::parse_segment(name),
            Some((42, SegmentFile::TimeIndex))
        );
        assert_eq!(PartitionLayout::parse_segment("42.log"), None);
        assert_eq!(
            PartitionLayout::parse_segment("00000000000000000042.log.tmp"),
            None
        );
    }

    #[test]
    fn names_that_are_not_plain_file_names_are_refused() {
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", &"x".repeat(201)] {
            assert!(check_name("topic", bad).is_err(), "{bad:?}");
        }
        for good in ["orders", "a.b-c_d", "0"] {
            check_name("topic", good).expect(good);
        }
    }
}
