//! CSV time series, one file per replicate. Written by hand: six numeric
//! columns and a run name need no quoting beyond what `csv_field` does.

use std::io::Write;
use std::path::Path;

use super::Sample;

/// Header of every time-series file.
pub const CSV_HEADER: &str = "run,seed,t,population,one_club,departures,publisher_rate,peer_rate";

/// The conventional file name of a replicate's series:
/// `<run>-seed<seed>.csv`, with characters that are awkward in file names
/// replaced by `_`.
pub fn csv_file_name(run: &str, seed: u64) -> String {
    let safe: String = run
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}-seed{seed}.csv")
}

/// Quote a field if it holds a comma, a quote or a line break (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Write one replicate's time series to `path` (header plus one row per
/// sample).
pub fn write_csv(path: &Path, run: &str, seed: u64, samples: &[Sample]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "{CSV_HEADER}")?;
    let run = csv_field(run);
    for s in samples {
        writeln!(
            out,
            "{run},{seed},{:.4},{},{},{},{:.4},{:.4}",
            s.t, s.population, s.one_club, s.departures, s.publisher_rate, s.peer_rate
        )?;
    }
    out.flush()
}
