//! Byte sizes in the configuration: a plain number of bytes (`1048576`) or a number with a unit
//! (`8MiB`, `512 KiB`, `1.5GB`). Binary units (`KiB`, `MiB`, `GiB`, `TiB`) are powers of 1024,
//! decimal ones (`KB`, `MB`, `GB`, `TB`) powers of 1000; `B` or no unit is bytes.

use serde::Deserialize;

/// A byte size as written.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum RawSize {
    /// A number of bytes.
    Bytes(u64),
    /// A number with a unit.
    Text(String),
}

impl RawSize {
    /// The size in bytes.
    ///
    /// # Errors
    /// What is wrong, worded for a diagnostic.
    pub fn bytes(&self) -> Result<u64, String> {
        match self {
            Self::Bytes(n) => Ok(*n),
            Self::Text(t) => parse(t),
        }
    }
}

/// Parses `8MiB`, `512 KiB`, `1.5GB`, `100`.
///
/// # Errors
/// What is wrong, worded for a diagnostic.
pub fn parse(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    let bad = || {
        format!(
            "`{text}` is not a size: expected bytes or a number with a unit, e.g. 8MiB, 512KiB, 1GB"
        )
    };
    let n: f64 = number.parse().map_err(|_| bad())?;
    let scale: u64 = match unit {
        "" | "B" => 1,
        "KB" | "kB" => 1000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return Err(bad()),
    };
    let bytes = n * scale as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 || bytes.fract() != 0.0 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_and_without_units() {
        assert_eq!(parse("8MiB"), Ok(8 << 20));
        assert_eq!(parse("512 KiB"), Ok(512 << 10));
        assert_eq!(parse("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse("100"), Ok(100));
        assert_eq!(parse("2KB"), Ok(2000));
        for bad in ["", "MiB", "8 MiBs", "-1", "0.5B", "1e3"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(RawSize::Bytes(7).bytes(), Ok(7));
    }
}
