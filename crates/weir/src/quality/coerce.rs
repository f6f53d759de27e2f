//! Schema enforcement on read: a declared field schema coerces types (`"42"` to 42 where the
//! field is an integer), fills declared defaults for missing fields, and fails the record (reason
//! `validation`) when a value cannot be coerced or a required field is missing without a
//! default. Fields the schema does not know pass through untouched (schema evolution).

use serde_json::{Number, Value};

use super::rules::FieldType;

/// One declared field.
#[derive(Clone, Debug)]
pub struct FieldSchema {
    /// Top-level field name.
    pub name: String,
    /// Its type.
    pub ty: FieldType,
    /// Whether it must be present (after defaults).
    pub required: bool,
    /// Value used when it is missing.
    pub default: Option<Value>,
}

/// The declared schema of a source's records.
#[derive(Clone, Debug, Default)]
pub struct RecordSchema {
    /// The fields, in declaration order.
    pub fields: Vec<FieldSchema>,
}

fn coerce(ty: FieldType, v: Value) -> Result<Value, Value> {
    if v.is_null() || ty.matches(&v) {
        return Ok(match (ty, v) {
            // 3.0 declared integer becomes 3.
            (FieldType::Integer, Value::Number(n)) if !n.is_i64() && !n.is_u64() => {
                n.as_f64().map_or(Value::Number(n.clone()), |f| {
                    Value::Number(Number::from(f as i64))
                })
            }
            (_, v) => v,
        });
    }
    match (ty, &v) {
        (FieldType::Integer, Value::String(s)) => {
            let t = s.trim();
            t.parse::<i64>()
                .map(Value::from)
                .or_else(|_| t.parse::<u64>().map(Value::from))
                .map_err(|_| v)
        }
        (FieldType::Number, Value::String(s)) => {
            let t = s.trim();
            if let Ok(i) = t.parse::<i64>() {
                return Ok(Value::from(i));
            }
            t.parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or(v)
        }
        (FieldType::Boolean, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Value::Bool(true)),
            "false" | "0" | "no" => Ok(Value::Bool(false)),
            _ => Err(v),
        },
        (FieldType::String, Value::Number(n)) => Ok(Value::String(n.to_string())),
        (FieldType::String, Value::Bool(b)) => Ok(Value::String(b.to_string())),
        (FieldType::Object | FieldType::Array, Value::String(s)) => {
            match serde_json::from_str::<Value>(s) {
                Ok(parsed) if ty.matches(&parsed) => Ok(parsed),
                _ => Err(v),
            }
        }
        _ => Err(v),
    }
}

impl RecordSchema {
    /// Coerces `record` in place; on failure, returns every problem.
    ///
    /// # Errors
    /// One line per field that cannot be coerced or is missing.
    pub fn apply(&self, record: &mut Value) -> Result<(), Vec<String>> {
        let Value::Object(map) = record else {
            return Err(vec![format!("record is not an object but {}", record)]);
        };
        // Decide every field first and write only when all fit: a failing record is left
        // exactly as read, so the caller needs no copy of it.
        let mut problems = Vec::new();
        let mut updates: Vec<(&str, Value)> = Vec::new();
        for f in &self.fields {
            match map.get(&f.name) {
                Some(v) if v.is_null() || (f.ty.matches(v) && f.ty != FieldType::Integer) => {}
                Some(v) => match coerce(f.ty, v.clone()) {
                    Ok(c) => updates.push((&f.name, c)),
                    Err(orig) => problems.push(format!(
                        "{}: cannot read {} as {}",
                        f.name,
                        orig,
                        f.ty.as_str()
                    )),
                },
                None => match &f.default {
                    Some(d) => updates.push((&f.name, d.clone())),
                    None if f.required => problems.push(format!(
                        "{}: required, but missing (and no default)",
                        f.name
                    )),
                    None => {}
                },
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        for (name, v) in updates {
            map.insert(name.to_owned(), v);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> RecordSchema {
        let f = |name: &str, ty, required, default| FieldSchema {
            name: name.into(),
            ty,
            required,
            default,
        };
        RecordSchema {
            fields: vec![
                f("id", FieldType::Integer, true, None),
                f("amount", FieldType::Number, false, None),
                f("paid", FieldType::Boolean, false, Some(json!(false))),
                f("code", FieldType::String, false, None),
                f("currency", FieldType::String, true, Some(json!("EUR"))),
            ],
        }
    }

    #[test]
    fn coerces_csv_strings_and_fills_defaults() {
        let mut r =
            json!({"id": " 42", "amount": "12.5", "paid": "TRUE", "code": 7, "note": "kept"});
        schema().apply(&mut r).expect("coerces");
        assert_eq!(
            r,
            json!({"id": 42, "amount": 12.5, "paid": true, "code": "7", "note": "kept", "currency": "EUR"})
        );
    }

    #[test]
    fn unknown_fields_pass_and_missing_optional_fields_stay_missing() {
        let mut r = json!({"id": 1, "brand_new": {"x": 1}});
        schema().apply(&mut r).expect("coerces");
        assert_eq!(
            r,
            json!({"id": 1, "brand_new": {"x": 1}, "paid": false, "currency": "EUR"})
        );
    }

    #[test]
    fn uncoercible_values_and_missing_required_fields_fail_with_every_problem() {
        let mut r = json!({"amount": "lots", "paid": "maybe"});
        let problems = schema().apply(&mut r).expect_err("fails");
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().any(|p| p.starts_with("id: required")));
        assert!(problems.iter().any(|p| p.contains("\"lots\" as number")));
        assert!(problems.iter().any(|p| p.contains("\"maybe\" as boolean")));
    }

    #[test]
    fn integers_reject_fractions() {
        let mut r = json!({"id": "4.5"});
        assert!(schema().apply(&mut r).is_err());
        let mut r = json!({"id": 4.0});
        schema().apply(&mut r).expect("whole float is an integer");
        assert_eq!(r["id"], json!(4));
    }
}
