//! URL templates: `http://host/users/{.user_id}` — each `{.path}` is replaced by the record's
//! field at that path (a string, number or boolean), percent-encoded.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

/// Everything but unreserved characters is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(Vec<String>),
}

/// A parsed URL template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlTemplate {
    source: String,
    parts: Vec<Part>,
}

impl UrlTemplate {
    /// Parses `text`.
    ///
    /// # Errors
    /// What is wrong with the template.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest.as_bytes()[open] == b'}' {
                return Err(format!(
                    "unmatched `}}` at byte {}",
                    text.len() - rest.len() + open
                ));
            }
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| "a `{` is not closed by `}`".to_owned())?;
            let path = after[..close].trim();
            let fields: Vec<String> = path
                .strip_prefix('.')
                .ok_or_else(|| {
                    format!("`{{{path}}}` is not a field path: expected e.g. `{{.user_id}}`")
                })?
                .split('.')
                .map(str::to_owned)
                .collect();
            if fields.iter().any(|f| {
                f.is_empty()
                    || !f
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
            }) {
                return Err(format!(
                    "`{{{path}}}` is not a field path: expected e.g. `{{.user_id}}` or `{{.user.id}}`"
                ));
            }
            parts.push(Part::Field(fields));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self {
            source: text.to_owned(),
            parts,
        })
    }

    /// The template as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The URL for `record`.
    ///
    /// # Errors
    /// When a field is missing, null, or not a scalar.
    pub fn fill(&self, record: &Value) -> Result<String, String> {
        let mut out = String::with_capacity(self.source.len() + 16);
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(path) => {
                    let mut v = record;
                    for f in path {
                        v = v.get(f).unwrap_or(&Value::Null);
                    }
                    let text = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => {
                            return Err(format!(
                                "field `.{}` of the URL template is missing or null",
                                path.join(".")
                            ));
                        }
                        _ => {
                            return Err(format!(
                                "field `.{}` of the URL template is not a string or number",
                                path.join(".")
                            ));
                        }
                    };
                    out.extend(utf8_percent_encode(&text, SEGMENT));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fills_fields_percent_encoded() {
        let t = UrlTemplate::parse("http://h:1/users/{.user_id}?org={.org.id}").expect("parses");
        assert_eq!(
            t.fill(&json!({"user_id": "a b/c", "org": {"id": 7}}))
                .expect("fills"),
            "http://h:1/users/a%20b%2Fc?org=7"
        );
        assert!(
            t.fill(&json!({"org": {"id": 7}}))
                .expect_err("missing")
                .contains(".user_id")
        );
    }

    #[test]
    fn rejects_malformed_templates() {
        assert!(UrlTemplate::parse("http://h/{user_id}").is_err());
        assert!(UrlTemplate::parse("http://h/{.a").is_err());
        assert!(UrlTemplate::parse("http://h/}").is_err());
        assert!(UrlTemplate::parse("http://h/{.}").is_err());
        assert!(UrlTemplate::parse("http://h/static").is_ok());
    }
}
