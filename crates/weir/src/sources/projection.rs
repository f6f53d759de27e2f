//! Reading only the fields the pipeline's first stage needs.
//!
//! When the first transform reads a fixed set of top-level fields and never uses the record
//! as a whole (see `transforms/native/demand.rs`), a JSON object is parsed into those fields
//! only: the other values are still read through and checked exactly as a full parse checks
//! them — so a line is accepted or refused exactly as before, with the same error — but
//! nothing is built for them. The record keeps its bytes (`Record::raw`), from which the whole
//! record is parsed again should it fail or be refused (the dead-letter queue keeps the
//! record as read).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The top-level fields to keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Projection {
    fields: Vec<String>,
}

impl Projection {
    /// Keeps `fields`.
    #[must_use]
    pub fn new(mut fields: Vec<String>) -> Self {
        fields.sort();
        fields.dedup();
        Self { fields }
    }

    /// The fields kept.
    #[must_use]
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// Parses one JSON text. An object keeps only the projected fields (`true` in the answer:
    /// the value is partial); anything else is parsed whole. A text that is not JSON gets the
    /// error a full parse gives.
    ///
    /// # Errors
    /// The text is not valid JSON.
    pub fn parse(&self, text: &[u8]) -> Result<(Value, bool), serde_json::Error> {
        let object = text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if !object {
            return serde_json::from_slice(text).map(|v| (v, false));
        }
        // Every string, kept or skipped, is checked as UTF-8 by the parse itself (keys and
        // skipped values go through `deserialize_str` / `deserialize_any`, not `ignored_any`).
        let parsed = {
            let mut de = serde_json::Deserializer::from_slice(text);
            Keep(&self.fields)
                .deserialize(&mut de)
                .ok()
                .filter(|_| de.end().is_ok())
        };
        match parsed {
            Some(v) => Ok((v, true)),
            // The full parse names the error exactly as it always did.
            None => serde_json::from_slice(text).map(|v| (v, false)),
        }
    }
}

/// Deserializes an object keeping the fields in `.0` (few: a scan beats hashing or bisecting).
struct Keep<'a>(&'a [String]);

impl<'de> DeserializeSeed<'de> for Keep<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Keep<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::with_capacity(self.0.len());
        while let Some(key) = map.next_key_seed(Key)? {
            if self.0.iter().any(|f| *f == key) {
                out.insert(key.into_owned(), map.next_value()?);
            } else {
                map.next_value::<Skip>()?;
            }
        }
        Ok(Value::Object(out))
    }
}

/// An object key, borrowed from the text where it has no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// Any JSON value, read and checked as a full parse would (numbers converted, strings
/// unescaped), then dropped: unlike [`IgnoredAny`], a number out of range is an error here too.
struct Skip;

impl<'de> de::Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value::<Skip>()?;
        }
        Ok(Skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(fields: &[&str]) -> Projection {
        Projection::new(fields.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn an_object_keeps_only_the_projected_fields_in_their_order() {
        let text =
            br#"{"id":1,"user":"u\u00e9","skip":{"deep":[1,2,{"x":null}]},"amount":3.5,"id":2}"#;
        let (v, partial) = p(&["amount", "id", "user", "missing"])
            .parse(text)
            .expect("parses");
        assert!(partial);
        assert_eq!(v, json!({"id": 2, "user": "ué", "amount": 3.5}));
        let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
        let full: Value = serde_json::from_slice(text).expect("full");
        let full_keys: Vec<&String> = full
            .as_object()
            .expect("object")
            .keys()
            .filter(|k| *k != "skip")
            .collect();
        assert_eq!(keys, full_keys, "same order as a full parse");
    }

    #[test]
    fn anything_but_an_object_is_parsed_whole() {
        for text in [&b"[1,{\"a\":2}]"[..], b"  3", b"\"s\"", b"null"] {
            let (v, partial) = p(&["a"]).parse(text).expect("parses");
            assert!(!partial);
            assert_eq!(v, serde_json::from_slice::<Value>(text).expect("full"));
        }
    }

    #[test]
    fn bad_text_is_refused_exactly_as_a_full_parse_refuses_it() {
        let bad: [&[u8]; 9] = [
            br#"{"a":1,"b":1e400}"#,
            br#"{"a":1,"b":"\ud800"}"#,
            b"{\"a\":1,\"b\":\"\xff\"}",
            br#"{"a":1,"b":[1,}"#,
            br#"{"a":1} x"#,
            br#"{"a":1,"b":tru}"#,
            br#"{"a":1,"b":"x\q"}"#,
            br#"{"a":1,"b":01}"#,
            br#"{"a":1"#,
        ];
        for text in bad {
            let full = serde_json::from_slice::<Value>(text).expect_err("a full parse refuses it");
            let ours = p(&["a"]).parse(text).expect_err("so does the projection");
            assert_eq!(
                ours.to_string(),
                full.to_string(),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }
}
