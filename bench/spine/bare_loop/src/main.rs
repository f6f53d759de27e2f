//! `bare_loop IN OUT`: the bench/spine filter `select(.amount > 10) | {id, user, amount}`
//! written by hand over serde_json, one thread, no engine: the practical ceiling.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;

use serde_json::{Map, Value};

/// jq's `. > 10` for any JSON value: jq orders null < false < true < numbers < strings <
/// arrays < objects, so strings, arrays and objects are all greater than a number.
fn gt_ten(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null | Value::Bool(_)) => false,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f > 10.0),
        Some(Value::String(_) | Value::Array(_) | Value::Object(_)) => true,
    }
}

fn run(input: &str, output: &str) -> std::io::Result<(u64, u64)> {
    let mut reader = BufReader::with_capacity(256 * 1024, File::open(input)?);
    let mut writer = BufWriter::with_capacity(256 * 1024, File::create(output)?);
    let mut line = Vec::with_capacity(1024);
    let (mut read, mut written) = (0u64, 0u64);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        read += 1;
        let record: Value = serde_json::from_slice(text)?;
        let Value::Object(fields) = record else { continue };
        if !gt_ten(fields.get("amount")) {
            continue;
        }
        let mut out = Map::with_capacity(3);
        for key in ["id", "user", "amount"] {
            out.insert(key.to_owned(), fields.get(key).cloned().unwrap_or(Value::Null));
        }
        serde_json::to_writer(&mut writer, &Value::Object(out))?;
        writer.write_all(b"\n")?;
        written += 1;
    }
    writer.flush()?;
    writer.get_ref().sync_all()?;
    Ok((read, written))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output] = args.as_slice() else {
        eprintln!("usage: bare_loop IN.jsonl OUT.jsonl");
        return ExitCode::from(2);
    };
    match run(input, output) {
        Ok((read, written)) => {
            eprintln!("bare_loop: {read} records read, {written} written");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bare_loop: {e}");
            ExitCode::FAILURE
        }
    }
}
