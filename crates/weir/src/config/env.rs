//! `${ENV_VAR}` interpolation, done on the raw text line by line so line numbers stay exact.
//! `$${` writes a literal `${`. An unset variable is an error at its position; values are never
//! echoed in diagnostics, so secrets do not leak into logs.

use super::diagnostic::{Diagnostic, Pos};

/// Replaces every `${NAME}` using `lookup`. Collects one diagnostic per unset or malformed
/// reference.
///
/// # Errors
/// The diagnostics, when any reference could not be resolved.
pub fn interpolate(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, Vec<Diagnostic>> {
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    for (idx, line) in text.split_inclusive('\n').enumerate() {
        let mut rest = line;
        let mut col = 1usize;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            col += rest[..at].chars().count();
            let tail = &rest[at..];
            if let Some(after) = tail.strip_prefix("$${") {
                out.push_str("${");
                rest = after;
                col += 3;
            } else if let Some(body) = tail.strip_prefix("${") {
                let pos = Pos {
                    line: idx as u32 + 1,
                    column: col as u32,
                };
                match body.find('}') {
                    Some(end) => {
                        let name = &body[..end];
                        let valid = !name.is_empty()
                            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                            && !name.starts_with(|c: char| c.is_ascii_digit());
                        if !valid {
                            problems.push(Diagnostic::new(pos, format!("`${{{name}}}` is not a valid environment variable reference (expected letters, digits and `_`)")));
                        } else if let Some(value) = lookup(name) {
                            out.push_str(&value);
                        } else {
                            problems.push(Diagnostic::new(
                                pos,
                                format!("environment variable `{name}` is not set"),
                            ));
                        }
                        rest = &body[end + 1..];
                        col += 3 + name.chars().count();
                    }
                    None => {
                        problems.push(Diagnostic::new(pos, "unterminated `${`: expected `}`"));
                        rest = "";
                    }
                }
            } else {
                out.push('$');
                rest = &tail[1..];
                col += 1;
            }
        }
        out.push_str(rest);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cret".to_owned())
    }

    #[test]
    fn replaces_set_variables_and_keeps_literals() {
        let out = interpolate("a: ${TOKEN}\nb: $${TOKEN} $5\n", env).expect("interpolates");
        assert_eq!(out, "a: s3cret\nb: ${TOKEN} $5\n");
    }

    #[test]
    fn reports_unset_and_malformed_references_with_positions() {
        let errs =
            interpolate("a: 1\nb: x ${MISSING}\nc: ${1BAD}\nd: ${OPEN\n", env).expect_err("fails");
        assert_eq!(errs.len(), 3);
        assert_eq!(errs[0].pos, Pos { line: 2, column: 6 });
        assert!(errs[0].message.contains("MISSING"));
        assert_eq!(errs[1].pos.line, 3);
        assert_eq!(errs[2].pos.line, 4);
    }
}
