//! `gen N OUT`: writes N order-like JSON lines (deterministic: same N, same bytes) and prints
//! how many of them have `amount > 10` (what the bench filter keeps).
//!
//! A record (~145-150 bytes):
//! `{"id":123,"user":"u04821","amount":42.5,"currency":"EUR","ts":"2026-11-21T08:00:01.234Z",
//!   "items":3,"shipping":{"country":"DE","express":false}}`
//! About a quarter of the amounts are <= 10 (a few exactly 10 or 10.00, at the filter's edge);
//! half the amounts are integers, half have two decimals.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

/// xorshift64*: small, fast, deterministic; quality is irrelevant here.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const CURRENCIES: [&str; 5] = ["EUR", "USD", "GBP", "CHF", "SEK"];
const COUNTRIES: [&str; 8] = ["DE", "FR", "NL", "US", "GB", "SE", "IT", "ES"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(n), Some(path)) = (args.get(1).and_then(|s| s.parse::<u64>().ok()), args.get(2)) else {
        eprintln!("usage: gen N OUT.jsonl");
        return ExitCode::from(2);
    };
    match write(n, path) {
        Ok(kept) => {
            println!("{kept}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write(n: u64, path: &str) -> std::io::Result<u64> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    // 2026-11-21T00:00:00Z in milliseconds; records arrive every 0-40 ms.
    let mut ts_ms: u64 = 1_795_219_200_000;
    let mut kept = 0;
    for id in 1..=n {
        ts_ms += rng.below(40);
        let user = rng.below(50_000);
        // cents: 25% in 0..=10.00 (1 in 200 of those exactly 10.00), 75% in 10.01..=999.99.
        let cents = match rng.below(100) {
            0..25 if rng.below(200) == 0 => 1000,
            0..25 => rng.below(1001),
            _ => 1001 + rng.below(98_999),
        };
        let integer = rng.below(2) == 0;
        let amount = if integer { format!("{}", cents / 100) } else { format!("{}.{:02}", cents / 100, cents % 100) };
        let value = if integer { (cents / 100) as f64 } else { cents as f64 / 100.0 };
        if value > 10.0 {
            kept += 1;
        }
        let secs = ts_ms / 1000;
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (year, month, day) = civil_from_days(days);
        writeln!(
            out,
            r#"{{"id":{id},"user":"u{user:05}","amount":{amount},"currency":"{}","ts":"{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z","items":{},"shipping":{{"country":"{}","express":{}}}}}"#,
            CURRENCIES[rng.below(5) as usize],
            rem / 3600,
            rem / 60 % 60,
            rem % 60,
            ts_ms % 1000,
            1 + rng.below(9),
            COUNTRIES[rng.below(8) as usize],
            rng.below(5) == 0,
        )?;
    }
    out.flush()?;
    Ok(kept)
}

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
