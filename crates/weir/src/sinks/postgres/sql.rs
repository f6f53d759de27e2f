//! SQL text of the PostgreSQL sink: quoting, statements, the bookkeeping table, prepared
//! transaction names and the COPY text encoding of records.

use std::fmt::Write as _;

use serde_json::Value;

/// `"name"`, with embedded quotes doubled.
#[must_use]
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`, with embedded quotes doubled.
#[must_use]
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A possibly schema-qualified name, quoted.
#[must_use]
pub fn qualified(parts: &[String]) -> String {
    parts.iter().map(|p| ident(p)).collect::<Vec<_>>().join(".")
}

/// The bookkeeping table, in the target table's schema.
#[must_use]
pub fn epochs_table(table: &[String]) -> String {
    match table {
        [schema, _] => format!("{}.{}", ident(schema), ident(EPOCHS)),
        _ => ident(EPOCHS),
    }
}

/// Name of the bookkeeping table.
pub const EPOCHS: &str = "weir_epochs";

/// Creates the bookkeeping table: one row per committed epoch of each lane.
#[must_use]
pub fn create_epochs(epochs: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {epochs} (
            pipeline text NOT NULL, sink text NOT NULL, lane text NOT NULL,
            epoch bigint NOT NULL, next_offset bigint NOT NULL,
            committed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (pipeline, sink, lane, epoch))"
    )
}

/// `CREATE TABLE IF NOT EXISTS` from the declared columns, with the key as primary key.
#[must_use]
pub fn create_table(table: &str, columns: &[(String, String)], key: &[String]) -> String {
    let mut s = format!("CREATE TABLE IF NOT EXISTS {table} (");
    for (i, (c, ty)) in columns.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{} {ty}", ident(c));
    }
    if !key.is_empty() {
        let key: Vec<String> = key.iter().map(|k| ident(k)).collect();
        let _ = write!(s, ", PRIMARY KEY ({})", key.join(", "));
    }
    s.push(')');
    s
}

/// The table's writable columns in order (`$1`: the quoted table name).
pub const COLUMNS: &str = "SELECT a.attname::text FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
    ORDER BY a.attnum";

/// `COPY table (columns) FROM STDIN` (text format).
#[must_use]
pub fn copy_in(table: &str, columns: &[String]) -> String {
    format!("COPY {table} ({}) FROM STDIN", column_list(columns))
}

fn column_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Name of the per-session staging table of upserts.
pub const STAGE: &str = "weir_stage";

/// Column of the staging table that keeps the order rows arrived in.
pub const STAGE_SEQ: &str = "weir_seq";

/// Creates the session's staging table shaped like the target (plus the arrival order),
/// emptied at every commit.
#[must_use]
pub fn create_stage(table: &str) -> String {
    format!(
        "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {table} INCLUDING DEFAULTS, {} bigserial) ON COMMIT DELETE ROWS",
        ident(STAGE),
        ident(STAGE_SEQ)
    )
}

/// Moves the staged rows into the table — the last row of each key, updating rows whose key
/// exists.
#[must_use]
pub fn upsert_from_stage(table: &str, columns: &[String], key: &[String]) -> String {
    let cols = column_list(columns);
    let keys = column_list(key);
    let updates: Vec<String> = columns
        .iter()
        .filter(|c| !key.contains(c))
        .map(|c| format!("{0} = EXCLUDED.{0}", ident(c)))
        .collect();
    let action = if updates.is_empty() {
        "DO NOTHING".to_owned()
    } else {
        format!("DO UPDATE SET {}", updates.join(", "))
    };
    format!(
        "INSERT INTO {table} ({cols}) SELECT DISTINCT ON ({keys}) {cols} FROM {} ORDER BY {keys}, {} DESC ON CONFLICT ({keys}) {action}",
        ident(STAGE),
        ident(STAGE_SEQ)
    )
}

/// A 64-bit name of (pipeline, sink, table, lane) for prepared transaction ids: lane names can
/// be long, ids are limited to 200 bytes.
#[must_use]
pub fn lane_tag(pipeline: &str, sink: &str, table: &str, lane: &str) -> String {
    let text = format!("{pipeline}\u{0}{sink}\u{0}{table}\u{0}{lane}");
    let a = crc32c::crc32c(text.as_bytes());
    let b = crc32c::crc32c_append(0x9E37_79B9, text.as_bytes());
    format!("weir_{a:08x}{b:08x}_")
}

/// Appends `value` as one COPY text field.
pub fn encode_field(out: &mut Vec<u8>, value: Option<&Value>) {
    match value {
        None | Some(Value::Null) => out.extend_from_slice(b"\\N"),
        Some(Value::Bool(b)) => out.extend_from_slice(if *b { b"t" } else { b"f" }),
        Some(Value::Number(n)) => out.extend_from_slice(n.to_string().as_bytes()),
        Some(Value::String(s)) => escape(out, s),
        Some(v @ (Value::Array(_) | Value::Object(_))) => escape(out, &v.to_string()),
    }
}

fn escape(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.push(b),
        }
    }
}

/// Appends one record as a COPY text line over `columns`.
pub fn encode_row(out: &mut Vec<u8>, record: &serde_json::Map<String, Value>, columns: &[String]) {
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        encode_field(out, record.get(c));
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_are_copy_text_with_escapes_and_nulls() {
        let mut out = Vec::new();
        let rec = json!({"id": "a\tb\\c\nd", "n": 5, "ok": true, "tags": {"x": [1]}, "extra": 1});
        let cols: Vec<String> = ["id", "n", "ok", "tags", "missing"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        encode_row(&mut out, rec.as_object().expect("object"), &cols);
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "a\\tb\\\\c\\nd\t5\tt\t{\"x\":[1]}\t\\N\n"
        );
    }

    #[test]
    fn statements_quote_every_name() {
        let cols = vec!["id".to_owned(), "amount".to_owned()];
        assert_eq!(
            upsert_from_stage("\"orders\"", &cols, &["id".to_owned()]),
            "INSERT INTO \"orders\" (\"id\", \"amount\") SELECT DISTINCT ON (\"id\") \"id\", \"amount\" FROM \"weir_stage\" ORDER BY \"id\", \"weir_seq\" DESC ON CONFLICT (\"id\") DO UPDATE SET \"amount\" = EXCLUDED.\"amount\""
        );
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(
            create_table("\"t\"", &[("id".into(), "text".into())], &["id".into()]),
            "CREATE TABLE IF NOT EXISTS \"t\" (\"id\" text, PRIMARY KEY (\"id\"))"
        );
    }

    #[test]
    fn lane_tags_are_short_stable_and_distinct() {
        let a = lane_tag("p", "postgres", "orders", "f1.jsonl");
        assert_eq!(a, lane_tag("p", "postgres", "orders", "f1.jsonl"));
        assert_ne!(a, lane_tag("p", "postgres", "orders", "f2.jsonl"));
        assert_eq!(a.len(), 22);
    }
}
