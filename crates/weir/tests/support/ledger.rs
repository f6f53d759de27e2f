//! A plain data set for database sinks: `in/f<f>.jsonl`, one lane per file, records
//! `{"id":"f<f>-<s:06>","file":f,"seq":s,"amount":a}` with deterministic amounts, and what a
//! table holding each of them exactly once must show.
#![allow(dead_code)]

use super::Workdir;
use super::postgres::Postgres;

/// The generated input.
pub struct Ledger {
    /// Files (lanes).
    pub files: usize,
    /// Records per file.
    pub per_file: usize,
}

/// The amount of record `(f, s)`.
pub fn amount(f: usize, s: usize) -> i64 {
    ((f * 7919 + s * 104_729) % 1000) as i64
}

/// The `columns:` mapping of a table for these records.
pub const COLUMNS: &str = "{ id: text, file: integer, seq: integer, amount: bigint }";

impl Ledger {
    /// Writes the files under `in/`.
    pub fn write(w: &Workdir, files: usize, per_file: usize) -> Ledger {
        for f in 0..files {
            let mut text = String::with_capacity(per_file * 60);
            for s in 0..per_file {
                text.push_str(&format!(
                    "{{\"id\":\"f{f}-{s:06}\",\"file\":{f},\"seq\":{s},\"amount\":{}}}\n",
                    amount(f, s)
                ));
            }
            w.write(&format!("in/f{f}.jsonl"), text);
        }
        Ledger { files, per_file }
    }

    /// Records in all.
    pub fn total(&self) -> u64 {
        (self.files * self.per_file) as u64
    }

    /// The sum of all amounts.
    pub fn sum(&self) -> i64 {
        (0..self.files)
            .flat_map(|f| (0..self.per_file).map(move |s| amount(f, s)))
            .sum()
    }

    /// Rows in `table` (0 while it does not exist or the server is down).
    pub fn rows(pg: &Postgres, table: &str) -> u64 {
        pg.try_psql(&format!("SELECT count(*) FROM {table}"))
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Asserts that `table` holds every record exactly once, with its values.
    pub fn assert_exactly_once(&self, pg: &Postgres, table: &str, context: &str) {
        let rows = pg.count(&format!("SELECT count(*) FROM {table}"));
        let distinct = pg.count(&format!("SELECT count(DISTINCT id) FROM {table}"));
        assert_eq!(
            distinct,
            rows,
            "{context}: {} duplicate rows",
            rows - distinct
        );
        assert_eq!(rows, self.total(), "{context}: rows missing");
        let sum: i64 = pg
            .psql(&format!("SELECT sum(amount) FROM {table}"))
            .parse()
            .expect("sum");
        assert_eq!(sum, self.sum(), "{context}: amounts differ");
        let bad = pg.count(&format!(
            "SELECT count(*) FROM {table} WHERE id <> 'f' || file || '-' || lpad(seq::text, 6, '0')"
        ));
        assert_eq!(
            bad, 0,
            "{context}: rows whose fields do not belong together"
        );
    }

    /// Asserts that `table` holds no record twice (at any moment of a run).
    pub fn assert_no_duplicates(pg: &Postgres, table: &str, context: &str) {
        let dup = pg.count(&format!(
            "SELECT count(*) FROM (SELECT id FROM {table} GROUP BY id HAVING count(*) > 1) d"
        ));
        assert_eq!(dup, 0, "{context}: {dup} records are in the table twice");
    }
}
