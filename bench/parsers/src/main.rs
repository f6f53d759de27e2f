//! `parsers IN [ROUNDS]`: one thread, the whole file in memory, each line parsed by each
//! parser into its document type (`parse`), and the bench job — keep `amount > 10`, build
//! `{id, user, amount}`, serialize it — written by hand on each (`job`). Prints the best of
//! ROUNDS (default 5) per case, in ns per record, and checks every case keeps the same count.

use std::process::ExitCode;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Instant;

fn lines(text: &[u8]) -> Vec<&[u8]> {
    text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect()
}

fn gt_ten(f: Option<f64>) -> bool {
    f.is_some_and(|f| f > 10.0)
}

fn serde_parse(lines: &[&[u8]]) -> usize {
    lines
        .iter()
        .map(|l| serde_json::from_slice::<serde_json::Value>(l).map_or(0, |v| v.as_object().map_or(0, |o| o.len())))
        .sum()
}

fn serde_job(lines: &[&[u8]], out: &mut Vec<u8>) -> usize {
    let mut kept = 0;
    for l in lines {
        let Ok(serde_json::Value::Object(o)) = serde_json::from_slice::<serde_json::Value>(l) else { continue };
        if !gt_ten(o.get("amount").and_then(serde_json::Value::as_f64)) {
            continue;
        }
        let mut m = serde_json::Map::with_capacity(3);
        for k in ["id", "user", "amount"] {
            m.insert(k.to_owned(), o.get(k).cloned().unwrap_or(serde_json::Value::Null));
        }
        serde_json::to_writer(&mut *out, &serde_json::Value::Object(m)).ok();
        out.push(b'\n');
        kept += 1;
    }
    kept
}

fn sonic_parse(lines: &[&[u8]]) -> usize {
    use sonic_rs::JsonContainerTrait;
    lines
        .iter()
        .map(|l| sonic_rs::from_slice::<sonic_rs::Value>(l).map_or(0, |v| v.as_object().map_or(0, |o| o.len())))
        .sum()
}

fn sonic_job(lines: &[&[u8]], out: &mut Vec<u8>) -> usize {
    use sonic_rs::{JsonContainerTrait, JsonValueMutTrait, JsonValueTrait};
    let mut kept = 0;
    for l in lines {
        let Ok(v) = sonic_rs::from_slice::<sonic_rs::Value>(l) else { continue };
        let Some(o) = v.as_object() else { continue };
        if !gt_ten(o.get(&"amount").and_then(|a| a.as_f64())) {
            continue;
        }
        let mut m = sonic_rs::Object::new();
        for k in ["id", "user", "amount"] {
            m.insert(&k, o.get(&k).cloned().unwrap_or_default());
        }
        let mut doc = sonic_rs::Value::new_object();
        if let Some(obj) = doc.as_object_mut() {
            *obj = m;
        }
        sonic_rs::to_writer(&mut *out, &doc).ok();
        out.push(b'\n');
        kept += 1;
    }
    kept
}

fn simd_parse(lines: &[&[u8]], buf: &mut Vec<u8>) -> usize {
    use simd_json::prelude::*;
    lines
        .iter()
        .map(|l| {
            buf.clear();
            buf.extend_from_slice(l);
            simd_json::to_owned_value(buf).map_or(0, |v| v.as_object().map_or(0, |o| o.len()))
        })
        .sum()
}

fn simd_job(lines: &[&[u8]], buf: &mut Vec<u8>, out: &mut Vec<u8>) -> usize {
    use simd_json::prelude::*;
    let mut kept = 0;
    for l in lines {
        buf.clear();
        buf.extend_from_slice(l);
        let Ok(v) = simd_json::to_owned_value(buf) else { continue };
        let Some(o) = v.as_object() else { continue };
        if !gt_ten(o.get("amount").and_then(|a| a.cast_f64())) {
            continue;
        }
        let mut m = simd_json::owned::Object::with_capacity(3);
        for k in ["id", "user", "amount"] {
            m.insert(k.into(), o.get(k).cloned().unwrap_or_default());
        }
        simd_json::to_writer(&mut *out, &simd_json::OwnedValue::from(m)).ok();
        out.push(b'\n');
        kept += 1;
    }
    kept
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: parsers IN.jsonl [ROUNDS]");
        return ExitCode::from(2);
    };
    let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(5);
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let lines = lines(&text);
    let n = lines.len() as f64;
    let mut buf = Vec::with_capacity(4096);
    let best = |name: &str, f: &mut dyn FnMut(&mut Vec<u8>) -> usize| {
        let mut times = Vec::new();
        let mut count = 0;
        for _ in 0..rounds {
            let mut sink = Vec::with_capacity(text.len() / 2);
            let t = Instant::now();
            count = f(&mut sink);
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        println!("{name:<24} {:>8.0} ns/record  (count {count})", times[0] * 1e9 / n);
        count
    };
    best("serde_json parse", &mut |_| serde_parse(&lines));
    best("sonic-rs parse", &mut |_| sonic_parse(&lines));
    best("simd-json parse", &mut |_| simd_parse(&lines, &mut buf));
    let a = best("serde_json job", &mut |o| serde_job(&lines, o));
    let b = best("sonic-rs job", &mut |o| sonic_job(&lines, o));
    let mut buf2 = Vec::with_capacity(4096);
    let c = best("simd-json job", &mut |o| simd_job(&lines, &mut buf2, o));
    if a != b || a != c {
        eprintln!("the cases kept different counts: {a} {b} {c}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
