//! PII redaction: the fields listed in a pipeline's `redact` are replaced by a stable hash in
//! every log line and dead-letter message (and, with `dlq.redact_records`, in the stored record).
//! The hash is CRC32C of the value's JSON text, so the same value always masks the same way and
//! records can still be correlated; it is a mask, not encryption.

use serde_json::Value;

/// Masks configured fields.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    paths: Vec<Vec<String>>,
    /// For raw bytes: the last key of each path and the pattern of `"key": value`.
    raw: Vec<(String, regex::Regex)>,
}

impl Redactor {
    /// A redactor for dotted field paths (`email`, `card.number`).
    #[must_use]
    pub fn new(fields: &[String]) -> Self {
        let paths: Vec<Vec<String>> = fields
            .iter()
            .map(|f| f.split('.').map(str::to_owned).collect())
            .collect();
        let raw = paths
            .iter()
            .filter_map(|path| {
                let key = path.last()?;
                let pattern = format!(
                    r#""{}"\s*:\s*("(?:[^"\\]|\\.)*"|[^,}}\]\s]+)"#,
                    regex::escape(key)
                );
                // An escaped key always makes a valid pattern.
                regex::Regex::new(&pattern).ok().map(|re| (key.clone(), re))
            })
            .collect();
        Self { paths, raw }
    }

    /// Whether any field is redacted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The mask of a value.
    #[must_use]
    pub fn mask(value: &Value) -> String {
        format!(
            "redacted:{:08x}",
            crc32c::crc32c(value.to_string().as_bytes())
        )
    }

    fn find<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
        path.iter().try_fold(value, |v, k| v.get(k))
    }

    /// Replaces the redacted fields of `value` by their masks.
    pub fn redact_value(&self, value: &mut Value) {
        for path in &self.paths {
            let mut cur = &mut *value;
            for (i, k) in path.iter().enumerate() {
                let Some(next) = cur.get_mut(k) else { break };
                if i + 1 == path.len() {
                    if !next.is_null() {
                        *next = Value::String(Self::mask(next));
                    }
                    break;
                }
                cur = next;
            }
        }
    }

    /// Masks, in raw bytes that could not be parsed, every `"field": value` whose key is the
    /// last part of a redacted path (best effort: the text is not valid JSON, so structure
    /// cannot be followed).
    #[must_use]
    pub fn redact_raw(&self, raw: &[u8]) -> Vec<u8> {
        let mut text = String::from_utf8_lossy(raw).into_owned();
        for (key, re) in &self.raw {
            text = re
                .replace_all(&text, |c: &regex::Captures<'_>| {
                    let value = serde_json::from_str::<Value>(&c[1])
                        .unwrap_or_else(|_| Value::String(c[1].to_owned()));
                    format!("\"{key}\":\"{}\"", Self::mask(&value))
                })
                .into_owned();
        }
        text.into_bytes()
    }

    /// Masks, in `message`, every occurrence of a redacted field's value of `record`.
    #[must_use]
    pub fn redact_message(&self, record: Option<&Value>, message: &str) -> String {
        let Some(record) = record else {
            return message.to_owned();
        };
        let mut out = message.to_owned();
        for path in &self.paths {
            let Some(v) = Self::find(record, path) else {
                continue;
            };
            if v.is_null() {
                continue;
            }
            let mask = Self::mask(v);
            let json = v.to_string();
            out = out.replace(&json, &mask);
            if let Value::String(s) = v
                && !s.is_empty()
            {
                out = out.replace(s.as_str(), &mask);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_nested_fields_stably() {
        let r = Redactor::new(&["email".into(), "card.number".into(), "absent.x".into()]);
        let mut v = json!({"email": "ann@x.io", "card": {"number": 4111, "cvc": 1}, "n": 1});
        let mask = Redactor::mask(&json!("ann@x.io"));
        r.redact_value(&mut v);
        assert_eq!(v["email"], json!(mask));
        assert_eq!(v["card"]["cvc"], json!(1));
        assert!(
            v["card"]["number"]
                .as_str()
                .is_some_and(|s| s.starts_with("redacted:"))
        );
        assert_eq!(Redactor::mask(&json!("ann@x.io")), mask, "stable");
    }

    #[test]
    fn masks_fields_in_unparseable_bytes() {
        let r = Redactor::new(&["email".into(), "card.number".into()]);
        let raw = br#"{"id":"m1","email":"ann@x.io","card":{"number":4111},"oops":}"#;
        let out = String::from_utf8(r.redact_raw(raw)).expect("utf-8");
        assert!(!out.contains("ann@x.io") && !out.contains("4111"), "{out}");
        assert!(
            out.contains(&format!(
                "\"email\":\"{}\"",
                Redactor::mask(&json!("ann@x.io"))
            )),
            "{out}"
        );
        assert!(out.contains("\"oops\":}"), "the rest is kept: {out}");
    }

    #[test]
    fn masks_values_quoted_in_messages() {
        let r = Redactor::new(&["email".into()]);
        let rec = json!({"email": "ann@x.io"});
        let msg = r.redact_message(Some(&rec), "jq error: cannot use \"ann@x.io\" as number");
        assert!(!msg.contains("ann@x.io"), "{msg}");
        assert!(msg.contains("redacted:"), "{msg}");
    }
}
