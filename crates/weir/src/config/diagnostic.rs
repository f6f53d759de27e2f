//! Configuration diagnostics: every problem names the file, line and column.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position in the configuration file (1-based line and column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl Pos {
    /// The start of the file, for problems that belong to no particular place.
    pub const START: Pos = Pos { line: 1, column: 1 };

    /// Converts a parser location; an unknown location becomes the start of the file.
    #[must_use]
    pub fn from_location(loc: serde_saphyr::Location) -> Pos {
        if loc.line() == 0 {
            Pos::START
        } else {
            Pos {
                line: loc.line() as u32,
                column: loc.column() as u32,
            }
        }
    }
}

/// One problem found in a configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where.
    pub pos: Pos,
    /// What is wrong and what was expected.
    pub message: String,
}

impl Diagnostic {
    /// A problem at `pos`.
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        Self {
            pos,
            message: message.into(),
        }
    }
}

/// Every problem found in one configuration file, with the source to quote from.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// The file as named on the command line.
    pub file: PathBuf,
    /// The problems, in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// The file's text (empty when it could not be read).
    pub source_text: String,
}

impl ConfigError {
    /// A single problem.
    pub fn one(file: &Path, source_text: &str, diagnostic: Diagnostic) -> Self {
        Self {
            file: file.to_path_buf(),
            diagnostics: vec![diagnostic],
            source_text: source_text.to_owned(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<&str> = self.source_text.lines().collect();
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                d.pos.line,
                d.pos.column,
                d.message
            )?;
            if let Some(text) = lines.get((d.pos.line as usize).wrapping_sub(1)) {
                let gutter = d.pos.line.to_string();
                write!(f, "\n {gutter} | {text}")?;
                let pad = " ".repeat(gutter.len());
                let caret = " ".repeat((d.pos.column as usize).saturating_sub(1));
                write!(f, "\n {pad} | {caret}^")?;
            }
        }
        Ok(())
    }
}

/// Turns a parse or deserialization error into a diagnostic, pointed at what it is about and
/// worded for the user (no parser option names). `source` is the text that was parsed.
///
/// Inside a `type`-tagged component the parser only knows where the component starts, so an
/// unknown key is pointed at by looking for it in the text, and an unknown variant (`type: s3`,
/// `format: xml`) by looking for the value.
#[must_use]
pub fn from_parse_error(error: &serde_saphyr::Error, source: &str) -> Diagnostic {
    use serde_saphyr::{Error, MessageFormatter, UserMessageFormatter};
    let error = error.without_snippet();
    let mut pos = error.location().map_or(Pos::START, Pos::from_location);
    let mut message = UserMessageFormatter.format_message(error).into_owned();
    if let Some(cut) = message.rfind(" at line ") {
        message.truncate(cut);
    }
    match error {
        Error::SerdeUnknownField { field, .. } => pos = locate_key(source, pos, field),
        Error::SerdeUnknownVariant { variant, .. } => pos = locate_scalar(source, pos, variant),
        Error::InvalidScalar { ty, .. } => {
            let expected = match *ty {
                "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer, e.g. 4",
                "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer, e.g. 4",
                "f32" | "f64" | "floating point" => "a number, e.g. 0.5",
                "bool" | "boolean" => "`true` or `false`",
                _ => "",
            };
            if !expected.is_empty() {
                message = format!("invalid value: expected {expected}");
            }
        }
        _ => {}
    }
    Diagnostic::new(pos, message)
}

/// Where `key:` is written at or after `from`: the position of the key and of its value.
fn find_key(source: &str, from: Pos, key: &str) -> Option<(Pos, Pos)> {
    let mut line_no = 0u32;
    for line in source.lines() {
        line_no += 1;
        if line_no < from.line {
            continue;
        }
        let start = if line_no == from.line {
            (from.column as usize).saturating_sub(1)
        } else {
            0
        };
        let Some(rest) = line.get(start..) else {
            continue;
        };
        let mut search = 0;
        while let Some(idx) = rest[search..].find(key) {
            let at = search + idx;
            let before_ok = at == 0 || {
                let c = rest.as_bytes()[at - 1];
                c == b' ' || c == b'{' || c == b',' || c == b'-' || c == b'\t'
            };
            let after = &rest[at + key.len()..];
            if before_ok && after.trim_start().starts_with(':') {
                let colon = after.find(':').unwrap_or(0);
                let value_off = after[colon + 1..].len() - after[colon + 1..].trim_start().len();
                let col = start + at + key.len() + colon + 1 + value_off + 1;
                let key_pos = Pos {
                    line: line_no,
                    column: (start + at + 1) as u32,
                };
                return Some((
                    key_pos,
                    Pos {
                        line: line_no,
                        column: col as u32,
                    },
                ));
            }
            search = at + key.len();
        }
        if line_no > from.line + 50 {
            break;
        }
    }
    None
}

/// Finds where `key:` is written at or after `from` (the start of a component) and returns the
/// position of its value. Components are parsed through a buffer that forgets positions, so
/// semantic errors inside one are pointed at by looking for the key in the text.
#[must_use]
pub fn locate_value(source: &str, from: Pos, key: &str) -> Pos {
    find_key(source, from, key).map_or(from, |(_, value)| value)
}

/// Like [`locate_value`], but returns the position of the key itself.
#[must_use]
pub fn locate_key(source: &str, from: Pos, key: &str) -> Pos {
    find_key(source, from, key).map_or(from, |(key, _)| key)
}

/// Finds the first value written as `text` (plain or quoted) after a `:` at or after `from`.
#[must_use]
pub fn locate_scalar(source: &str, from: Pos, text: &str) -> Pos {
    let mut line_no = 0u32;
    for line in source.lines() {
        line_no += 1;
        if line_no < from.line {
            continue;
        }
        let start = if line_no == from.line {
            (from.column as usize).saturating_sub(1)
        } else {
            0
        };
        let Some(rest) = line.get(start..) else {
            continue;
        };
        let mut search = 0;
        while let Some(idx) = rest[search..].find(text) {
            let at = search + idx;
            let head = &rest[..at];
            let (head, quote) = match head.as_bytes().last() {
                Some(q @ (b'"' | b'\'')) => (&head[..head.len() - 1], Some(*q)),
                _ => (head, None),
            };
            let tail = &rest[at + text.len()..];
            let tail = match quote {
                Some(q) => tail.strip_prefix(q as char),
                None => Some(tail),
            };
            let ends = tail
                .is_some_and(|t| t.is_empty() || t.starts_with([' ', '\t', ',', '}', ']', '#']));
            if head.trim_end().ends_with(':') && ends {
                let col = start + head.len() + 1;
                return Pos {
                    line: line_no,
                    column: col as u32,
                };
            }
            search = at + text.len();
        }
        if line_no > from.line + 50 {
            break;
        }
    }
    from
}

/// Finds the mapping key `key` written last before `before` (the start of its value) and returns
/// its position: map keys keep no position of their own, only their values do.
#[must_use]
pub fn locate_key_before(source: &str, before: Pos, key: &str) -> Pos {
    let lines: Vec<&str> = source.lines().collect();
    let last = (before.line as usize).min(lines.len());
    for line_no in (last.saturating_sub(50).max(1)..=last).rev() {
        let line = lines[line_no - 1];
        let end = if line_no == last {
            (before.column as usize).saturating_sub(1).min(line.len())
        } else {
            line.len()
        };
        let Some(head) = line.get(..end) else {
            continue;
        };
        let mut found = None;
        let mut search = 0;
        while let Some(idx) = head[search..].find(key) {
            let at = search + idx;
            let tail = &head[at + key.len()..];
            let tail = tail.strip_prefix(['"', '\'']).unwrap_or(tail);
            if tail.trim_start().starts_with(':') {
                let quoted = at > 0 && matches!(head.as_bytes()[at - 1], b'"' | b'\'');
                found = Some(at - usize::from(quoted));
            }
            search = at + key.len();
        }
        if let Some(at) = found {
            return Pos {
                line: line_no as u32,
                column: at as u32 + 1,
            };
        }
    }
    before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_a_value_in_flow_and_block_style() {
        let src = "a:\n  - { type: jq, filter: '.x' }\n  - type: jq\n    filter: .y\n";
        assert_eq!(
            locate_value(src, Pos { line: 2, column: 5 }, "filter"),
            Pos {
                line: 2,
                column: 25
            }
        );
        assert_eq!(
            locate_value(src, Pos { line: 3, column: 5 }, "filter"),
            Pos {
                line: 4,
                column: 13
            }
        );
    }

    #[test]
    fn locates_keys_scalars_and_map_keys() {
        let src = "p:\n  a/b:\n    source:\n      type: file\n      format: 'xml'\n      extra: 1\n  \"c\": { x: 1 }\n";
        let component = Pos { line: 3, column: 5 };
        assert_eq!(
            locate_key(src, component, "extra"),
            Pos { line: 6, column: 7 }
        );
        assert_eq!(
            locate_scalar(src, component, "xml"),
            Pos {
                line: 5,
                column: 15
            }
        );
        assert_eq!(
            locate_scalar(src, component, "file"),
            Pos {
                line: 4,
                column: 13
            }
        );
        assert_eq!(
            locate_key_before(src, component, "a/b"),
            Pos { line: 2, column: 3 }
        );
        assert_eq!(
            locate_key_before(src, Pos { line: 7, column: 8 }, "c"),
            Pos { line: 7, column: 3 }
        );
        assert_eq!(locate_key(src, component, "missing"), component);
    }

    #[test]
    fn renders_file_line_column_and_a_caret() {
        let err = ConfigError::one(
            Path::new("w.yaml"),
            "a: 1\nb: 2\n",
            Diagnostic::new(Pos { line: 2, column: 4 }, "expected a string"),
        );
        let text = err.to_string();
        assert!(text.starts_with("w.yaml:2:4: expected a string"), "{text}");
        assert!(text.contains(" 2 | b: 2\n   |    ^"), "{text}");
    }
}
