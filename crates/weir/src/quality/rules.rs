//! Per-field record rules (`required`, `not_null`, `type`, `min`, `max`, `min_length`,
//! `max_length`, `regex`, `one_of`). A record is checked against every rule and every failure
//! is reported, each naming its field and rule.

use regex::Regex;
use serde_json::Value;

/// JSON types a rule can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// A string.
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// An object.
    Object,
    /// An array.
    Array,
}

impl FieldType {
    /// The type's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Object => "object",
            Self::Array => "array",
        }
    }

    /// Whether `v` (not null) is of this type.
    #[must_use]
    pub fn matches(self, v: &Value) -> bool {
        match self {
            Self::String => v.is_string(),
            Self::Integer => {
                v.is_i64()
                    || v.is_u64()
                    || v.as_f64()
                        .is_some_and(|f| f.fract() == 0.0 && f.is_finite())
            }
            Self::Number => v.is_number(),
            Self::Boolean => v.is_boolean(),
            Self::Object => v.is_object(),
            Self::Array => v.is_array(),
        }
    }
}

/// The checks on one field.
#[derive(Clone, Debug, Default)]
pub struct FieldRules {
    /// Dotted path of the field.
    pub field: String,
    /// The field must be present.
    pub required: bool,
    /// The field, when present, must not be null.
    pub not_null: bool,
    /// The field, when present and not null, has this type.
    pub ty: Option<FieldType>,
    /// Smallest number allowed.
    pub min: Option<f64>,
    /// Largest number allowed.
    pub max: Option<f64>,
    /// Shortest string or array allowed.
    pub min_length: Option<usize>,
    /// Longest string or array allowed.
    pub max_length: Option<usize>,
    /// Strings must match.
    pub regex: Option<Regex>,
    /// The value must be one of these.
    pub one_of: Option<Vec<Value>>,
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, k| cur.get(k))
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(59).collect::<String>())
    } else {
        s
    }
}

impl FieldRules {
    /// Appends a description of every rule `record` breaks to `problems`.
    pub fn check(&self, record: &Value, problems: &mut Vec<String>) {
        let f = &self.field;
        let Some(v) = lookup(record, f) else {
            if self.required {
                problems.push(format!("{f}: required, but missing"));
            }
            return;
        };
        if v.is_null() {
            if self.not_null {
                problems.push(format!("{f}: not_null, but null"));
            }
            return;
        }
        if let Some(t) = self.ty
            && !t.matches(v)
        {
            problems.push(format!("{f}: type {}, but {}", t.as_str(), show(v)));
            return;
        }
        if let Some(n) = v.as_f64() {
            if let Some(min) = self.min
                && n < min
            {
                problems.push(format!("{f}: min {min}, but {}", show(v)));
            }
            if let Some(max) = self.max
                && n > max
            {
                problems.push(format!("{f}: max {max}, but {}", show(v)));
            }
        }
        let len = match v {
            Value::String(s) => Some(s.chars().count()),
            Value::Array(a) => Some(a.len()),
            _ => None,
        };
        if let Some(len) = len {
            if let Some(min) = self.min_length
                && len < min
            {
                problems.push(format!("{f}: min_length {min}, but length {len}"));
            }
            if let Some(max) = self.max_length
                && len > max
            {
                problems.push(format!("{f}: max_length {max}, but length {len}"));
            }
        }
        if let (Some(re), Value::String(s)) = (&self.regex, v)
            && !re.is_match(s)
        {
            problems.push(format!("{f}: regex {}, but {}", re.as_str(), show(v)));
        }
        if let Some(allowed) = &self.one_of
            && !allowed.contains(v)
        {
            let list: Vec<String> = allowed.iter().map(show).collect();
            problems.push(format!(
                "{f}: one_of [{}], but {}",
                list.join(", "),
                show(v)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(r: &FieldRules, v: Value) -> Vec<String> {
        let mut p = Vec::new();
        r.check(&v, &mut p);
        p
    }

    fn rule(field: &str) -> FieldRules {
        FieldRules {
            field: field.into(),
            ..FieldRules::default()
        }
    }

    #[test]
    fn required_and_not_null() {
        let r = FieldRules {
            required: true,
            not_null: true,
            ..rule("id")
        };
        assert_eq!(check(&r, json!({})), vec!["id: required, but missing"]);
        assert_eq!(
            check(&r, json!({"id": null})),
            vec!["id: not_null, but null"]
        );
        assert!(check(&r, json!({"id": 1})).is_empty());
        assert!(
            check(&rule("id"), json!({})).is_empty(),
            "optional by default"
        );
    }

    #[test]
    fn types() {
        let int = FieldRules {
            ty: Some(FieldType::Integer),
            ..rule("n")
        };
        assert!(check(&int, json!({"n": 3})).is_empty());
        assert!(check(&int, json!({"n": 3.0})).is_empty());
        assert_eq!(
            check(&int, json!({"n": 3.5})),
            vec!["n: type integer, but 3.5"]
        );
        assert_eq!(
            check(&int, json!({"n": "3"})),
            vec!["n: type integer, but \"3\""]
        );
        let s = FieldRules {
            ty: Some(FieldType::String),
            ..rule("n")
        };
        assert!(
            check(&s, json!({"n": null})).is_empty(),
            "null is not_null's business"
        );
    }

    #[test]
    fn ranges_lengths_regex_and_one_of() {
        let r = FieldRules {
            min: Some(0.0),
            max: Some(100.0),
            ..rule("a")
        };
        assert_eq!(check(&r, json!({"a": -1})), vec!["a: min 0, but -1"]);
        assert_eq!(
            check(&r, json!({"a": 100.5})),
            vec!["a: max 100, but 100.5"]
        );
        assert!(check(&r, json!({"a": 100})).is_empty());
        let r = FieldRules {
            min_length: Some(2),
            max_length: Some(3),
            ..rule("s")
        };
        assert_eq!(
            check(&r, json!({"s": "é"})),
            vec!["s: min_length 2, but length 1"]
        );
        assert_eq!(
            check(&r, json!({"s": [1, 2, 3, 4]})),
            vec!["s: max_length 3, but length 4"]
        );
        let r = FieldRules {
            regex: Regex::new("^[^@]+@[^@]+$").ok(),
            ..rule("email")
        };
        assert!(check(&r, json!({"email": "a@b"})).is_empty());
        assert_eq!(check(&r, json!({"email": "ab"})).len(), 1);
        let r = FieldRules {
            one_of: Some(vec![json!("new"), json!("paid")]),
            ..rule("status")
        };
        assert!(check(&r, json!({"status": "paid"})).is_empty());
        assert_eq!(
            check(&r, json!({"status": "lost"})),
            vec!["status: one_of [\"new\", \"paid\"], but \"lost\""]
        );
    }

    #[test]
    fn nested_paths() {
        let r = FieldRules {
            required: true,
            ty: Some(FieldType::Number),
            ..rule("card.amount")
        };
        assert!(check(&r, json!({"card": {"amount": 1}})).is_empty());
        assert_eq!(
            check(&r, json!({"card": {}})),
            vec!["card.amount: required, but missing"]
        );
    }
}
