//! Configuration: YAML file -> typed, validated [`Plan`].
//!
//! Three steps: `${ENV}` interpolation on the text, deserialization with unknown keys rejected,
//! and [`validate`](validate::validate), which collects every problem with its line and column.
//! Relative paths in the file are relative to the file's own directory.

pub mod dependencies;
pub mod diagnostic;
pub mod enrich;
pub mod env;
mod failure;
pub mod log;
pub mod model;
pub mod plan;
mod quality;
pub mod sinks_http;
pub mod sinks_pg;
pub mod size;
pub mod validate;

use std::path::Path;

pub use diagnostic::{ConfigError, Diagnostic, Pos};
pub use plan::*;

/// Reads, interpolates, parses and validates the configuration file at `path`.
///
/// # Errors
/// A [`ConfigError`] listing every problem with its position.
pub fn load(path: &Path) -> Result<Plan, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::one(
            path,
            "",
            Diagnostic::new(
                Pos::START,
                format!("cannot read the configuration file: {e}"),
            ),
        )
    })?;
    load_str(path, &text, |name| std::env::var(name).ok())
}

/// Like [`load`], from text already read, with an explicit environment.
///
/// # Errors
/// A [`ConfigError`] listing every problem with its position.
pub fn load_str(
    path: &Path,
    text: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Plan, ConfigError> {
    let fail = |diagnostics| ConfigError {
        file: path.to_path_buf(),
        diagnostics,
        source_text: text.to_owned(),
    };
    let interpolated = env::interpolate(text, env).map_err(fail)?;
    let raw: model::RawConfig = serde_saphyr::from_str(&interpolated).map_err(|e| {
        // Deserialization runs while the text is parsed, so a syntax error (a misindented key
        // ends its mapping early) can first show up as a misleading "missing field" above it:
        // when the text is not valid YAML, the syntax error is the one to report.
        let e = serde_saphyr::from_str::<serde::de::IgnoredAny>(&interpolated)
            .err()
            .unwrap_or(e);
        fail(vec![diagnostic::from_parse_error(&e, &interpolated)])
    })?;
    let base_dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    let base_dir = std::path::absolute(&base_dir).unwrap_or(base_dir);
    validate::validate(raw, &interpolated, path, &base_dir).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnostics(text: &str) -> Vec<Diagnostic> {
        load_str(Path::new("w.yaml"), text, |_| None)
            .expect_err("refused")
            .diagnostics
    }

    #[test]
    fn a_syntax_error_is_reported_instead_of_the_missing_field_it_causes() {
        let d =
            diagnostics("pipelines:\n  p:\n    source: { type: file, path: x }\n   sinks: []\n");
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].pos, Pos { line: 4, column: 4 }, "{d:?}");
        assert!(d[0].message.contains("did not find expected key"), "{d:?}");
    }

    #[test]
    fn unknown_keys_and_variants_inside_a_tagged_component_are_pointed_at() {
        let d = diagnostics(
            "pipelines:\n  p:\n    source:\n      type: file\n      path: x\n      extra: 1\n    sinks: []\n",
        );
        assert_eq!(d[0].pos, Pos { line: 6, column: 7 }, "{d:?}");
        assert!(d[0].message.starts_with("unknown field `extra`"), "{d:?}");
        let d = diagnostics(
            "pipelines:\n  p:\n    source:\n      path: x\n      type: kafka\n    sinks: []\n",
        );
        assert_eq!(
            d[0].pos,
            Pos {
                line: 5,
                column: 13
            },
            "{d:?}"
        );
    }

    #[test]
    fn a_scalar_of_the_wrong_kind_says_what_was_expected() {
        let d = diagnostics(
            "pipelines:\n  p:\n    source: { type: file, path: x }\n    sinks: []\n    batch_size: -1\n",
        );
        assert_eq!(
            d[0].pos,
            Pos {
                line: 5,
                column: 17
            },
            "{d:?}"
        );
        assert_eq!(
            d[0].message,
            "invalid value: expected a non-negative integer, e.g. 4"
        );
    }
}
