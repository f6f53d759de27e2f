//! Partitioning keys and the key bytes weir writes into the embedded log.
//!
//! A key path is a jq-style path of object fields — `.user_id`, `.customer.id`, `."odd name"` —
//! that picks a record's partitioning key. The key's compact JSON text (`"u1"`, `42`,
//! `{"a":1}`) is hashed with CRC32C (Castagnoli, stable across versions and machines) modulo
//! the partition count, so one key's records always land in the same partition and stay in
//! order. A record whose path is missing or `null` has no key; it is spread by the hash of its
//! whole JSON text instead (deterministic, but no order between keyless records is kept).
//!
//! Log record keys written by weir (HTTP ingest and the log sink):
//!
//! ```text
//! key bytes = key JSON text                     a keyed record
//!           | key JSON text 0x00 tag            the first record of a tagged append run
//!           | 0x00 tag                          a keyless record that starts a run
//!           | (no key)                          a keyless record
//! ```
//!
//! JSON text never holds a raw NUL byte, so the separator is unambiguous. A tag marks the
//! first record of one append of a request or of a log sink's epoch (see `ingest` and
//! `sinks::log`): recovery after a crash finds it to learn which records are already stored.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// A parsed key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPath {
    text: String,
    fields: Vec<String>,
}

impl KeyPath {
    /// Parses `.a`, `.a.b`, `."a b".c`.
    ///
    /// # Errors
    /// What is wrong with the path, for a configuration diagnostic.
    pub fn parse(text: &str) -> Result<KeyPath, String> {
        let expected = "expected a path of fields such as `.user_id` or `.customer.id`";
        let t = text.trim();
        if !t.starts_with('.') || t == "." {
            return Err(format!("`{text}` is not a key path: {expected}"));
        }
        let mut fields = Vec::new();
        let mut rest = t;
        while let Some(after_dot) = rest.strip_prefix('.') {
            if let Some(quoted) = after_dot.strip_prefix('"') {
                let end = quoted
                    .find('"')
                    .ok_or_else(|| format!("`{text}`: unterminated quoted field; {expected}"))?;
                fields.push(quoted[..end].to_owned());
                rest = &quoted[end + 1..];
            } else {
                let end = after_dot
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after_dot.len());
                if end == 0 {
                    return Err(format!("`{text}` is not a key path: {expected}"));
                }
                fields.push(after_dot[..end].to_owned());
                rest = &after_dot[end..];
            }
        }
        if !rest.is_empty() {
            return Err(format!(
                "`{text}`: unexpected `{rest}`; {expected} (only object fields are supported)"
            ));
        }
        Ok(KeyPath {
            text: t.to_owned(),
            fields,
        })
    }

    /// The path as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The key of `record`: the value at the path, unless it is missing or `null`.
    #[must_use]
    pub fn extract<'a>(&self, record: &'a Value) -> Option<&'a Value> {
        let mut v = record;
        for f in &self.fields {
            v = v.as_object()?.get(f)?;
        }
        (!v.is_null()).then_some(v)
    }
}

impl KeyPath {
    /// The key's compact JSON text of a record given as JSON text, walking only the path (the
    /// record is not built into a value). `None` as for [`KeyPath::extract`], and for text that
    /// is not JSON.
    #[must_use]
    pub fn extract_text(&self, record: &RawValue) -> Option<String> {
        let mut de = serde_json::Deserializer::from_str(record.get());
        let raw = PathSeed {
            fields: &self.fields,
        }
        .deserialize(&mut de)
        .ok()??;
        let text = raw.get();
        if text == "null" {
            return None;
        }
        // Strings without escapes and plain integers are already compact; anything else is
        // normalized so that equal keys hash alike however they were written.
        let plain_string =
            text.starts_with('"') && !text.contains('\\') && !text.contains(char::is_control);
        let plain_int = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        if plain_string || plain_int {
            Some(text.to_owned())
        } else {
            serde_json::from_str::<Value>(text)
                .ok()
                .map(|v| v.to_string())
        }
    }
}

/// Walks `fields` into a JSON document; yields the raw text at the end of the path.
struct PathSeed<'p> {
    fields: &'p [String],
}

impl<'de> DeserializeSeed<'de> for PathSeed<'_> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match self.fields.split_first() {
            None => <&RawValue as serde::Deserialize>::deserialize(d).map(Some),
            Some((field, rest)) => d.deserialize_any(PathVisitor { field, rest }),
        }
    }
}

struct PathVisitor<'p> {
    field: &'p str,
    rest: &'p [String],
}

impl<'de> Visitor<'de> for PathVisitor<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == self.field {
                found = map.next_value_seed(PathSeed { fields: self.rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// The partition of a record with this key text (or, keyless, this record text).
#[must_use]
pub fn partition_of(text: &[u8], partitions: u32) -> u32 {
    crc32c::crc32c(text) % partitions.max(1)
}

/// Encodes the key bytes of a log record (see the module doc).
#[must_use]
pub fn encode_key(key: Option<&str>, tag: Option<&str>) -> Option<Vec<u8>> {
    match (key, tag) {
        (None, None) => None,
        (Some(k), None) => Some(k.as_bytes().to_vec()),
        (k, Some(t)) => {
            let k = k.unwrap_or("");
            let mut b = Vec::with_capacity(k.len() + 1 + t.len());
            b.extend_from_slice(k.as_bytes());
            b.push(0);
            b.extend_from_slice(t.as_bytes());
            Some(b)
        }
    }
}

/// Splits log record key bytes into the key text and the tag.
#[must_use]
pub fn decode_key(bytes: Option<&[u8]>) -> (Option<&[u8]>, Option<&[u8]>) {
    let Some(b) = bytes else { return (None, None) };
    match b.iter().position(|&c| c == 0) {
        None => (Some(b), None),
        Some(0) => (None, Some(&b[1..])),
        Some(i) => (Some(&b[..i]), Some(&b[i + 1..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_parse_and_extract_nested_fields() {
        let p = KeyPath::parse(".customer.id").expect("valid");
        assert_eq!(p.extract(&json!({"customer": {"id": 7}})), Some(&json!(7)));
        assert_eq!(p.extract(&json!({"customer": {"id": null}})), None);
        assert_eq!(p.extract(&json!({"customer": 1})), None);
        let q = KeyPath::parse(r#"."odd name".x_1"#).expect("valid");
        assert_eq!(
            q.extract(&json!({"odd name": {"x_1": "a"}})),
            Some(&json!("a"))
        );
        for bad in ["user_id", ".", "..a", ".a[0]", ".a-b", r#"."open"#, ""] {
            assert!(KeyPath::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn keys_are_read_from_json_text_as_from_values() {
        let p = KeyPath::parse(".customer.id").expect("valid");
        for text in [
            r#"{"customer": {"id": "c1", "x": [1, {"id": 2}]}, "id": 3}"#,
            r#"{"customer": {"id": 7}}"#,
            r#"{"customer": {"id": -7}}"#,
            r#"{"customer": {"id": 1.50}}"#,
            r#"{"customer": {"id": "aA"}}"#,
            r#"{"customer": {"id": { "b" : [1, 2] }}}"#,
            r#"{"customer": {"id": null}}"#,
            r#"{"customer": [1, 2]}"#,
            r#"{"other": 1}"#,
            r#"[1, 2]"#,
            r#""just a string""#,
        ] {
            let raw: Box<RawValue> = serde_json::from_str(text).expect("json");
            let value: Value = serde_json::from_str(text).expect("json");
            assert_eq!(
                p.extract_text(&raw),
                p.extract(&value).map(Value::to_string),
                "{text}"
            );
        }
    }

    #[test]
    fn one_key_always_maps_to_one_partition() {
        let a = partition_of(br#""u1""#, 8);
        assert_eq!(a, partition_of(br#""u1""#, 8));
        assert!(a < 8);
        assert_eq!(partition_of(b"anything", 1), 0);
        // CRC32C is fixed: this value must never change, or keys would move between partitions.
        assert_eq!(
            partition_of(br#""u1""#, 1 << 31),
            crc32c::crc32c(br#""u1""#) % (1 << 31)
        );
    }

    #[test]
    fn key_bytes_round_trip_with_and_without_a_tag() {
        for (k, t) in [
            (Some("\"u1\""), None),
            (Some("7"), Some("i:abc")),
            (None, Some("s:x")),
            (None, None),
        ] {
            let enc = encode_key(k, t);
            let (dk, dt) = decode_key(enc.as_deref());
            assert_eq!(dk, k.map(str::as_bytes));
            assert_eq!(dt, t.map(str::as_bytes));
        }
    }
}
