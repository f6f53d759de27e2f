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
            Pos { line: loc.line() as u32, column: loc.column() as u32 }
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
        Self { pos, message: message.into() }
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
        Self { file: file.to_path_buf(), diagnostics: vec![diagnostic], source_text: source_text.to_owned() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<&str> = self.source_text.lines().collect();
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: {}", self.file.display(), d.pos.line, d.pos.column, d.message)?;
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

/// Finds where `key:` is written at or after `from` (the start of a component) and returns the
/// position of its value. Components are parsed through a buffer that forgets positions, so
/// semantic errors inside one are pointed at by looking for the key in the text.
#[must_use]
pub fn locate_value(source: &str, from: Pos, key: &str) -> Pos {
    let mut line_no = 0u32;
    for line in source.lines() {
        line_no += 1;
        if line_no < from.line {
            continue;
        }
        let start = if line_no == from.line { (from.column as usize).saturating_sub(1) } else { 0 };
        let Some(rest) = line.get(start..) else { continue };
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
                return Pos { line: line_no, column: col as u32 };
            }
            search = at + key.len();
        }
        if line_no > from.line + 50 {
            break;
        }
    }
    from
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_a_value_in_flow_and_block_style() {
        let src = "a:\n  - { type: jq, filter: '.x' }\n  - type: jq\n    filter: .y\n";
        assert_eq!(locate_value(src, Pos { line: 2, column: 5 }, "filter"), Pos { line: 2, column: 25 });
        assert_eq!(locate_value(src, Pos { line: 3, column: 5 }, "filter"), Pos { line: 4, column: 13 });
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
