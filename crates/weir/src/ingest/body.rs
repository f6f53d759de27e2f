//! Request bodies of `POST /ingest/<pipeline>`: a JSON object, a JSON array of records, or
//! newline-delimited JSON (any whitespace between values is accepted). The body is parsed whole
//! before anything is stored, so a malformed body is rejected whole, with the line and column
//! of the first error. Records are validated but not built into values: each is kept as the
//! slice of the body it was sent as (and stored so).

use serde_json::value::RawValue;

/// Why a body was refused (HTTP 400).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Nothing but whitespace.
    #[error("the body is empty: expected a JSON object, a JSON array or JSON lines")]
    Empty,
    /// An empty JSON array.
    #[error("the body holds no records (an empty array)")]
    NoRecords,
    /// Bytes that are not UTF-8.
    #[error("invalid UTF-8 at line {line}, column {column} (byte {byte})")]
    Utf8 {
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// 0-based byte position.
        byte: usize,
    },
    /// Not JSON.
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser says.
        message: String,
    },
}

impl BodyError {
    /// Line and column of the problem, if it has a place.
    #[must_use]
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            Self::Utf8 { line, column, .. } | Self::Json { line, column, .. } => {
                Some((*line, *column))
            }
            Self::Empty | Self::NoRecords => None,
        }
    }
}

/// Line and column (1-based, column in characters) of byte `pos` of valid UTF-8 `text`.
fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let before = &text[..pos];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// Parses a body into its records, each the JSON text it was sent as.
///
/// # Errors
/// The first problem; nothing of a refused body is to be stored.
pub fn parse(body: &[u8]) -> Result<Vec<&RawValue>, BodyError> {
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(e) => {
            let byte = e.valid_up_to();
            let valid = std::str::from_utf8(&body[..byte]).unwrap_or_default();
            let (line, column) = line_col(valid, byte);
            return Err(BodyError::Utf8 { line, column, byte });
        }
    };
    if text.trim().is_empty() {
        return Err(BodyError::Empty);
    }
    let json_error = |e: serde_json::Error| {
        let mut message = e.to_string();
        if let Some(cut) = message.rfind(" at line ") {
            message.truncate(cut);
        }
        BodyError::Json {
            line: e.line(),
            column: e.column(),
            message,
        }
    };
    let mut values: Vec<&RawValue> = Vec::new();
    for v in serde_json::Deserializer::from_str(text).into_iter::<&RawValue>() {
        values.push(v.map_err(json_error)?);
    }
    if let [only] = values.as_slice()
        && only.get().starts_with('[')
    {
        // Validated whole above, so splitting it into its elements cannot fail.
        let items: Vec<&RawValue> = serde_json::from_str(only.get()).map_err(json_error)?;
        if items.is_empty() {
            return Err(BodyError::NoRecords);
        }
        return Ok(items);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(body: &[u8]) -> Result<Vec<&str>, BodyError> {
        parse(body).map(|v| v.into_iter().map(RawValue::get).collect())
    }

    #[test]
    fn objects_arrays_and_json_lines_are_records_kept_as_sent() {
        assert_eq!(texts(br#"{"a":1}"#), Ok(vec![r#"{"a":1}"#]));
        assert_eq!(
            texts(b"[{\"a\":1},\n  { \"a\" : 2 }]"),
            Ok(vec![r#"{"a":1}"#, r#"{ "a" : 2 }"#])
        );
        assert_eq!(
            texts(b"{\"a\":1}\n{\"a\":2}\n\n{\"a\":3}\n"),
            Ok(vec![r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":3}"#])
        );
        // Two arrays on two lines are two records that happen to be arrays.
        assert_eq!(texts(b"[1]\n[2]"), Ok(vec!["[1]", "[2]"]));
    }

    #[test]
    fn malformed_bodies_are_refused_with_their_position() {
        assert_eq!(parse(b"  \n ").map(|v| v.len()), Err(BodyError::Empty));
        assert_eq!(parse(b"[]").map(|v| v.len()), Err(BodyError::NoRecords));
        let e = parse(b"[{\"a\":1},\n {\"a\": \"\\q\"}]").expect_err("bad escape");
        assert_eq!(e.position(), Some((2, 10)), "{e}");
        let e = parse(b"{\"a\":1}\n{\"a\": tru}\n").expect_err("refused");
        assert_eq!(e.position(), Some((2, 10)), "{e}");
        let e = parse(b"{\"a\":1}\n{\"b\":").expect_err("truncated");
        assert_eq!(e.position().map(|p| p.0), Some(2), "{e}");
        assert!(e.to_string().contains("EOF"), "{e}");
        let e = parse(b"{\"a\":\"x\"}\n{\"\xc3\xa9\": \"\xff\"}").expect_err("not UTF-8");
        assert_eq!(
            e,
            BodyError::Utf8 {
                line: 2,
                column: 8,
                byte: 18
            }
        );
    }
}
