//! Statistics of a log, for `weir log stats` and metrics.

/// Statistics of one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionStats {
    /// Partition number.
    pub partition: u32,
    /// Segment files (sealed ones and the active one).
    pub segments: usize,
    /// First offset stored.
    pub first_offset: u64,
    /// Offset after the last visible record.
    pub next_offset: u64,
    /// Bytes of its segment and index files.
    pub bytes: u64,
    /// Consumers and their committed offsets.
    pub consumers: Vec<(String, u64)>,
    /// Batches written since open (one write each; under `Fsync::Always` each is made durable
    /// by an fsync of the segment or, with other partitions in its group, of the topic's
    /// journal).
    pub batches: u64,
    /// Fsyncs of its segment files and directory since open (not the topic journal's).
    pub syncs: u64,
    /// Whether a failed write or fsync poisoned the writer.
    pub poisoned: bool,
}

/// Statistics of one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicStats {
    /// Topic name.
    pub name: String,
    /// Its partitions, in order.
    pub partitions: Vec<PartitionStats>,
}

/// Statistics of a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogStats {
    /// Topics, by name.
    pub topics: Vec<TopicStats>,
    /// Bytes counted against the quota (segment and index files, and queued appends).
    pub bytes: u64,
    /// The quota, if any.
    pub quota_bytes: Option<u64>,
}
