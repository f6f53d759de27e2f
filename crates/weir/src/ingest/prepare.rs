//! Turning a parsed body into the appends of a request: each record's key, partition and
//! bytes, grouped by partition in body order.

use serde_json::value::RawValue;

use super::error::IngestError;
use crate::keypath::{self, KeyPath};

/// One record ready to append.
#[derive(Debug)]
pub struct Prepared {
    /// Its key's JSON text.
    pub key: Option<String>,
    /// Its compact JSON text.
    pub value: Vec<u8>,
}

/// The records of one partition, in body order.
#[derive(Debug)]
pub struct Group {
    /// The partition.
    pub partition: u32,
    /// Its records.
    pub records: Vec<Prepared>,
}

/// A request's records, by partition (ascending).
#[derive(Debug)]
pub struct Batch {
    /// Groups by partition, ascending, none empty.
    pub groups: Vec<Group>,
    /// Records in all.
    pub records: u64,
    /// Bytes they take in the log.
    pub bytes: u64,
}

impl Batch {
    /// The group of partition `p`.
    #[must_use]
    pub fn group(&self, p: u32) -> Option<&Group> {
        self.groups.iter().find(|g| g.partition == p)
    }
}

/// Keys, partitions and encodes `values`; refuses a record larger than `max_record` (key plus
/// value bytes) before anything is stored.
///
/// # Errors
/// [`IngestError::RecordTooLarge`].
pub fn prepare(
    values: Vec<&RawValue>,
    key: Option<&KeyPath>,
    partitions: u32,
    max_record: u64,
) -> Result<Batch, IngestError> {
    let mut groups: Vec<Group> = Vec::new();
    let mut bytes = 0u64;
    let records = values.len() as u64;
    for (index, v) in values.into_iter().enumerate() {
        let key = key.and_then(|k| k.extract_text(v));
        let value = v.get().as_bytes().to_vec();
        let size = (key.as_ref().map_or(0, String::len) + value.len()) as u64;
        if size > max_record {
            return Err(IngestError::RecordTooLarge {
                index,
                size,
                max: max_record,
            });
        }
        bytes += weir_log::encoded_len(key.as_ref().map(String::as_bytes), &value) as u64;
        let p = keypath::partition_of(
            key.as_ref().map_or(&value[..], |k| k.as_bytes()),
            partitions,
        );
        let rec = Prepared { key, value };
        match groups.iter_mut().find(|g| g.partition == p) {
            Some(g) => g.records.push(rec),
            None => groups.push(Group {
                partition: p,
                records: vec![rec],
            }),
        }
    }
    groups.sort_by_key(|g| g.partition);
    Ok(Batch {
        groups,
        records,
        bytes,
    })
}

/// Key bytes of each record of `records`, the first one tagged with `tag`.
#[must_use]
pub fn key_bytes(records: &[Prepared], tag: Option<&str>) -> Vec<Option<Vec<u8>>> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| keypath::encode_key(r.key.as_deref(), if i == 0 { tag } else { None }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn raw(values: &[Value]) -> Vec<Box<RawValue>> {
        values
            .iter()
            .map(|v| RawValue::from_string(v.to_string()).expect("raw"))
            .collect()
    }

    #[test]
    fn records_of_one_key_share_a_partition_in_body_order() {
        let k = KeyPath::parse(".u").expect("path");
        let values: Vec<Value> = (0..40).map(|i| json!({"u": i % 5, "n": i})).collect();
        let values = raw(&values);
        let b = prepare(
            values.iter().map(AsRef::as_ref).collect(),
            Some(&k),
            4,
            1 << 20,
        )
        .expect("prepared");
        assert_eq!(b.records, 40);
        assert_eq!(b.groups.iter().map(|g| g.records.len()).sum::<usize>(), 40);
        for g in &b.groups {
            let mut last: std::collections::BTreeMap<String, i64> = Default::default();
            for r in &g.records {
                let v: Value = serde_json::from_slice(&r.value).expect("json");
                let key = r.key.clone().expect("keyed");
                assert_eq!(keypath::partition_of(key.as_bytes(), 4), g.partition);
                let n = v["n"].as_i64().expect("n");
                assert!(last.insert(key, n).is_none_or(|prev| prev < n));
            }
        }
    }

    #[test]
    fn a_record_too_large_refuses_the_whole_body() {
        let values = raw(&[json!({"a": 1}), json!({"a": "x".repeat(100)})]);
        match prepare(values.iter().map(AsRef::as_ref).collect(), None, 2, 50) {
            Err(IngestError::RecordTooLarge { index, .. }) => assert_eq!(index, 1),
            other => panic!("expected RecordTooLarge, got {other:?}"),
        }
    }
}
