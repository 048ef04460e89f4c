//! Byte sizes and rates as users type them on the command line.
//!
//! A bare number is bytes; `k`/`M`/`G` (or `kB`/`MB`/`GB`) are powers of
//! 1000; `KiB`/`MiB`/`GiB` are powers of 1024. Case of the prefix letter is
//! forgiven (`K` = `k`), the `B` suffix and a space before the unit are
//! optional, and a trailing `/s` is accepted for rates.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SizeError {
    #[error(
        "{0:?} is not a size: expected a number with an optional unit (k, M, G, KiB, MiB, GiB)"
    )]
    Malformed(String),
    #[error("{0:?} is too large")]
    Overflow(String),
}

/// Parse "1.5MiB", "250k", "4096", "10 MB/s" into bytes.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let malformed = || SizeError::Malformed(text.to_owned());
    let s = text.trim();
    let s = s.strip_suffix("/s").unwrap_or(s).trim_end();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    if num.is_empty() || num == "." {
        return Err(malformed());
    }
    let mult: u64 = match unit.trim() {
        "" | "B" | "b" => 1,
        "k" | "K" | "kB" | "KB" => 1_000,
        "M" | "m" | "MB" => 1_000_000,
        "G" | "g" | "GB" => 1_000_000_000,
        "KiB" | "kiB" | "Ki" => 1 << 10,
        "MiB" | "Mi" => 1 << 20,
        "GiB" | "Gi" => 1 << 30,
        _ => return Err(malformed()),
    };
    if let Ok(whole) = num.parse::<u64>() {
        return whole
            .checked_mul(mult)
            .ok_or_else(|| SizeError::Overflow(text.to_owned()));
    }
    let f: f64 = num.parse().map_err(|_| malformed())?;
    let v = (f * mult as f64).round();
    if !v.is_finite() || v >= u64::MAX as f64 {
        return Err(SizeError::Overflow(text.to_owned()));
    }
    Ok(v as u64)
}

/// A rate as typed on the command line ("10MiB", "500k", "0"), for clap's
/// `value_parser`.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    parse_size(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("250k"), Ok(250_000));
        assert_eq!(parse_size("250kB"), Ok(250_000));
        assert_eq!(parse_size("2M"), Ok(2_000_000));
        assert_eq!(parse_size("1G"), Ok(1_000_000_000));
        assert_eq!(parse_size("16KiB"), Ok(16_384));
        assert_eq!(parse_size("1.5MiB"), Ok(1_572_864));
        assert_eq!(parse_size("10 MB/s"), Ok(10_000_000));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
    }

    #[test]
    fn rejects() {
        for bad in ["", "k", "-1", "1x", "1 TiBs", ".", "1.2.3M"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            parse_size("99999999999999999999G"),
            Err(SizeError::Malformed(_) | SizeError::Overflow(_))
        ));
        assert!(matches!(
            parse_size("18446744073709551615k"),
            Err(SizeError::Overflow(_))
        ));
    }
}
