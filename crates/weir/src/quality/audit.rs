//! Epoch audits (write-audit-publish): batch-level figures computed over one lane's epoch and
//! checked after precommit, before the checkpoint. A failed audit means the epoch is aborted in
//! every sink — nothing of it ever becomes visible — and the pipeline halts.

use std::collections::HashSet;

use serde_json::Value;

/// One audit.
#[derive(Clone, Debug, PartialEq)]
pub enum Audit {
    /// Records out / records in must lie within `[min, max]`.
    RowCountRatio {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// Share of output records where `field` is null or missing must be at most `max`.
    NullRatio {
        /// Field path.
        field: String,
        /// Upper bound.
        max: f64,
    },
    /// Mean of `field` over the output (numbers only) must lie within `[min, max]`.
    Mean {
        /// Field path.
        field: String,
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// `field` must not repeat within the epoch.
    Unique {
        /// Field path.
        field: String,
    },
    /// The epoch must hold at least `count` output records.
    MinRows {
        /// Lower bound.
        count: u64,
    },
}

impl Audit {
    /// Stable name, used as the metric label.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RowCountRatio { .. } => "row_count_ratio",
            Self::NullRatio { .. } => "null_ratio",
            Self::Mean { .. } => "mean",
            Self::Unique { .. } => "unique",
            Self::MinRows { .. } => "min_rows",
        }
    }

    /// Human name, with its field.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::NullRatio { field, .. } | Self::Mean { field, .. } | Self::Unique { field } => {
                format!("{}({field})", self.kind())
            }
            _ => self.kind().to_owned(),
        }
    }
}

/// Why an epoch failed its audit.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditFailure {
    /// The audit's kind (metric label).
    pub kind: &'static str,
    /// The measured figure against the bound.
    pub message: String,
}

#[derive(Clone, Debug)]
enum Acc {
    None,
    Nulls {
        nulls: u64,
    },
    Mean {
        sum: f64,
        count: u64,
    },
    Unique {
        seen: HashSet<String>,
        duplicate: Option<String>,
    },
}

/// Audit figures of the open epoch of one lane.
#[derive(Clone, Debug)]
pub struct EpochAudit {
    audits: Vec<Audit>,
    acc: Vec<Acc>,
    records_in: u64,
    records_out: u64,
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, k| cur.get(k))
}

impl EpochAudit {
    /// Figures for `audits`, all zero.
    #[must_use]
    pub fn new(audits: Vec<Audit>) -> Self {
        let mut a = Self {
            acc: Vec::new(),
            audits,
            records_in: 0,
            records_out: 0,
        };
        a.reset();
        a
    }

    /// Whether there is anything to audit.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.audits.is_empty()
    }

    /// Starts a new epoch.
    pub fn reset(&mut self) {
        self.records_in = 0;
        self.records_out = 0;
        self.acc = self
            .audits
            .iter()
            .map(|a| match a {
                Audit::NullRatio { .. } => Acc::Nulls { nulls: 0 },
                Audit::Mean { .. } => Acc::Mean { sum: 0.0, count: 0 },
                Audit::Unique { .. } => Acc::Unique {
                    seen: HashSet::new(),
                    duplicate: None,
                },
                _ => Acc::None,
            })
            .collect();
    }

    /// Counts input records.
    pub fn input(&mut self, n: u64) {
        self.records_in += n;
    }

    /// Takes output records into the figures.
    pub fn output<'a>(&mut self, values: impl Iterator<Item = &'a Value>) {
        for v in values {
            self.records_out += 1;
            for (audit, acc) in self.audits.iter().zip(self.acc.iter_mut()) {
                match (audit, acc) {
                    (Audit::NullRatio { field, .. }, Acc::Nulls { nulls })
                        if lookup(v, field).is_none_or(Value::is_null) =>
                    {
                        *nulls += 1;
                    }
                    (Audit::Mean { field, .. }, Acc::Mean { sum, count }) => {
                        if let Some(n) = lookup(v, field).and_then(Value::as_f64) {
                            *sum += n;
                            *count += 1;
                        }
                    }
                    (Audit::Unique { field }, Acc::Unique { seen, duplicate }) => {
                        if duplicate.is_none()
                            && let Some(x) = lookup(v, field)
                            && !x.is_null()
                        {
                            let key = x.to_string();
                            if !seen.insert(key.clone()) {
                                *duplicate = Some(key);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// Checks every audit; the first failure, in configuration order.
    ///
    /// # Errors
    /// The failed audit with its measured figure and bound.
    pub fn check(&self) -> Result<(), AuditFailure> {
        let fail = |a: &Audit, message: String| {
            Err(AuditFailure {
                kind: a.kind(),
                message: format!("{}: {message}", a.describe()),
            })
        };
        for (a, acc) in self.audits.iter().zip(&self.acc) {
            match (a, acc) {
                (Audit::RowCountRatio { min, max }, _) => {
                    let ratio = if self.records_in == 0 {
                        1.0
                    } else {
                        self.records_out as f64 / self.records_in as f64
                    };
                    if ratio < *min || ratio > *max {
                        return fail(
                            a,
                            format!(
                                "{} out / {} in = {ratio:.4}, expected within [{min}, {max}]",
                                self.records_out, self.records_in
                            ),
                        );
                    }
                }
                (Audit::NullRatio { max, .. }, Acc::Nulls { nulls }) => {
                    let ratio = if self.records_out == 0 {
                        0.0
                    } else {
                        *nulls as f64 / self.records_out as f64
                    };
                    if ratio > *max {
                        return fail(
                            a,
                            format!(
                                "{nulls} of {} null = {ratio:.4}, expected at most {max}",
                                self.records_out
                            ),
                        );
                    }
                }
                (Audit::Mean { min, max, .. }, Acc::Mean { sum, count }) if *count > 0 => {
                    let mean = sum / *count as f64;
                    if mean < *min || mean > *max {
                        return fail(
                            a,
                            format!(
                                "mean of {count} values = {mean:.4}, expected within [{min}, {max}]"
                            ),
                        );
                    }
                }
                (
                    Audit::Unique { .. },
                    Acc::Unique {
                        duplicate: Some(d), ..
                    },
                ) => {
                    return fail(
                        a,
                        format!("value {d} occurs more than once, expected every value once"),
                    );
                }
                (Audit::MinRows { count }, _) if self.records_out < *count => {
                    return fail(
                        a,
                        format!("{} rows, expected at least {count}", self.records_out),
                    );
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(audit: Audit, input: u64, out: &[Value]) -> Result<(), AuditFailure> {
        let mut a = EpochAudit::new(vec![audit]);
        a.input(input);
        a.output(out.iter());
        a.check()
    }

    #[test]
    fn row_count_ratio() {
        let a = Audit::RowCountRatio {
            min: 0.95,
            max: 1.0,
        };
        assert!(run(a.clone(), 100, &vec![json!({}); 95]).is_ok());
        let e = run(a, 100, &vec![json!({}); 90]).expect_err("fails");
        assert_eq!(e.kind, "row_count_ratio");
        assert!(
            e.message.contains("90 out / 100 in = 0.9000"),
            "{}",
            e.message
        );
    }

    #[test]
    fn null_ratio_counts_missing_as_null() {
        let a = Audit::NullRatio {
            field: "email".into(),
            max: 0.25,
        };
        let out = [
            json!({"email": "a"}),
            json!({"email": null}),
            json!({}),
            json!({"email": "b"}),
        ];
        let e = run(a.clone(), 4, &out).expect_err("2 of 4");
        assert!(e.message.contains("2 of 4 null = 0.5000"), "{}", e.message);
        assert!(run(a, 4, &out[..2]).is_err());
    }

    #[test]
    fn mean_unique_and_min_rows() {
        let m = Audit::Mean {
            field: "amount".into(),
            min: 50.0,
            max: 500.0,
        };
        assert!(
            run(
                m.clone(),
                2,
                &[json!({"amount": 40}), json!({"amount": 100})]
            )
            .is_ok()
        );
        assert!(run(m, 2, &[json!({"amount": 40}), json!({"amount": 50})]).is_err());
        let u = Audit::Unique { field: "id".into() };
        assert!(run(u.clone(), 2, &[json!({"id": 1}), json!({"id": 2})]).is_ok());
        let e = run(u, 2, &[json!({"id": 1}), json!({"id": 1})]).expect_err("dup");
        assert!(
            e.message.contains("value 1 occurs more than once"),
            "{}",
            e.message
        );
        assert!(run(Audit::MinRows { count: 1 }, 5, &[]).is_err());
        assert!(run(Audit::MinRows { count: 1 }, 5, &[json!({})]).is_ok());
    }

    #[test]
    fn reset_starts_a_new_epoch() {
        let mut a = EpochAudit::new(vec![Audit::Unique { field: "id".into() }]);
        a.output([json!({"id": 1})].iter());
        a.reset();
        a.output([json!({"id": 1})].iter());
        assert!(a.check().is_ok());
    }
}
