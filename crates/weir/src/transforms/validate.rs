//! The `validate` transform: per-field rules and an optional JSON Schema (draft 2020-12). A
//! record that breaks anything fails with every broken rule named (`field: rule, but value`);
//! `on_failure` says whether it is dead-lettered (reason `validation`), dropped, or halts the
//! pipeline. Schema errors are reported with the instance path and without the value.

use std::sync::Arc;

use super::{Transform, TransformError};
use crate::config::model::OnFailure;
use crate::quality::rules::FieldRules;
use crate::record::Record;

/// Checks records against rules and a schema.
pub struct ValidateTransform {
    name: Arc<str>,
    rules: Vec<FieldRules>,
    schema: Option<jsonschema::Validator>,
    on_failure: OnFailure,
}

impl ValidateTransform {
    /// A validate stage.
    ///
    /// # Errors
    /// When the schema document is not a valid JSON Schema.
    pub fn new(
        name: &str,
        rules: Vec<FieldRules>,
        schema: Option<&serde_json::Value>,
        on_failure: OnFailure,
    ) -> Result<Self, String> {
        let schema = schema
            .map(|doc| jsonschema::draft202012::new(doc).map_err(|e| e.to_string()))
            .transpose()?;
        Ok(Self {
            name: name.into(),
            rules,
            schema,
            on_failure,
        })
    }

    fn problems(&self, record: &Record) -> Vec<String> {
        let mut problems = Vec::new();
        for r in &self.rules {
            r.check(&record.value, &mut problems);
        }
        if let Some(v) = &self.schema {
            for e in v.iter_errors(&record.value) {
                let path = e.instance_path().to_string();
                let at = if path.is_empty() {
                    "(record)".to_owned()
                } else {
                    path.trim_start_matches('/').replace('/', ".")
                };
                problems.push(format!("{at}: schema: {}", e.masked()));
            }
        }
        problems
    }
}

impl Transform for ValidateTransform {
    fn name(&self) -> &Arc<str> {
        &self.name
    }

    fn apply(&self, record: &Record, out: &mut Vec<Record>) -> Result<(), TransformError> {
        self.check(record)?;
        out.push(record.clone());
        Ok(())
    }

    fn apply_owned(
        &self,
        record: Record,
        out: &mut Vec<Record>,
    ) -> Result<(), Box<(Record, TransformError)>> {
        match self.check(&record) {
            Ok(()) => {
                out.push(record);
                Ok(())
            }
            Err(e) => Err(Box::new((record, e))),
        }
    }
}

impl ValidateTransform {
    /// Every broken rule of `record`, as the error its `on_failure` asks for.
    fn check(&self, record: &Record) -> Result<(), TransformError> {
        let problems = self.problems(record);
        if problems.is_empty() {
            return Ok(());
        }
        let message = problems.join("; ");
        Err(match self.on_failure {
            OnFailure::Dlq => TransformError::Invalid(message),
            OnFailure::Drop => TransformError::Dropped(message),
            OnFailure::Halt => TransformError::Halt(message),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::rules::FieldType;
    use crate::record::{RecordId, RecordMeta};
    use serde_json::json;

    fn rec(v: serde_json::Value) -> Record {
        Record::new(
            v,
            RecordMeta::new(RecordId {
                source: "s".into(),
                partition: "p".into(),
                offset: 0,
            }),
        )
    }

    #[test]
    fn names_every_broken_rule_and_passes_good_records_unchanged() {
        let rules = vec![
            FieldRules {
                field: "id".into(),
                required: true,
                ty: Some(FieldType::Integer),
                ..FieldRules::default()
            },
            FieldRules {
                field: "amount".into(),
                min: Some(0.0),
                ..FieldRules::default()
            },
        ];
        let t = ValidateTransform::new("v", rules, None, OnFailure::Dlq).expect("builds");
        let mut out = Vec::new();
        t.apply(&rec(json!({"id": 1, "amount": 5})), &mut out)
            .expect("valid");
        assert_eq!(out[0].value, json!({"id": 1, "amount": 5}));
        let err = t
            .apply(&rec(json!({"amount": -2})), &mut out)
            .expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "validation failed: id: required, but missing; amount: min 0, but -2"
        );
    }

    #[test]
    fn a_json_schema_reports_the_path_without_the_value() {
        let schema = json!({"type": "object", "properties": {"email": {"type": "string", "format": "email", "maxLength": 5}}, "required": ["email"]});
        let t =
            ValidateTransform::new("v", vec![], Some(&schema), OnFailure::Drop).expect("builds");
        let mut out = Vec::new();
        let err = t
            .apply(&rec(json!({"email": "secret-address"})), &mut out)
            .expect_err("too long");
        assert!(matches!(err, TransformError::Dropped(_)));
        let text = err.to_string();
        assert!(text.contains("email: schema:"), "{text}");
        assert!(!text.contains("secret-address"), "{text}");
        assert!(matches!(
            t.apply(&rec(json!({})), &mut out),
            Err(TransformError::Dropped(_))
        ));
    }
}
