//! Test helper: Pearson's chi-square check that draws are uniform.
//!
//! The randomised policies promise uniform draws (random peer, random
//! useful peer, random useful block). Tests count many draws from a fixed
//! seed and compare the counts with the uniform expectation. The threshold
//! is the chi-square quantile at 1 - 1e-6 (Wilson-Hilferty approximation),
//! so a fair draw fails for about one seed in a million -- and the seeds
//! are fixed, so a passing test never flakes -- while a draw biased by even
//! a few percent over thousands of draws lands far above it (each test also
//! shows that a deliberately biased draw fails the same check).

/// Standard normal quantile at 1 - 1e-6.
const Z: f64 = 4.753_424_3;

/// Pearson's statistic of `counts` against equal expected counts.
pub fn chi_square(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    if counts.is_empty() || total == 0 {
        return 0.0;
    }
    let expected = total as f64 / counts.len() as f64;
    counts
        .iter()
        .map(|&c| {
            let d = c as f64 - expected;
            d * d / expected
        })
        .sum()
}

/// Upper 1e-6 quantile of the chi-square distribution with `df` degrees of
/// freedom (Wilson-Hilferty; slightly generous for small `df`).
pub fn critical(df: usize) -> f64 {
    let k = df.max(1) as f64;
    let a = 2.0 / (9.0 * k);
    k * (1.0 - a + Z * a.sqrt()).powi(3)
}

/// Do `counts` look like uniform draws over `counts.len()` outcomes?
/// Every outcome must have been seen (a category never drawn is a sure sign
/// of a broken draw) and the statistic must stay under the critical value.
pub fn looks_uniform(counts: &[u64]) -> Result<(), String> {
    if counts.len() < 2 {
        return Ok(());
    }
    let stat = chi_square(counts);
    let limit = critical(counts.len() - 1);
    if counts.contains(&0) || stat > limit {
        Err(format!(
            "not uniform: chi-square {stat:.1} > {limit:.1} over {counts:?}"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn critical_values_match_the_tables() {
        // Exact chi-square quantiles at 1 - 1e-6 (regularised incomplete
        // gamma, solved numerically) for df 1, 9 and 99 are 23.93, 44.81
        // and 180.79; the approximation may only err on the generous side,
        // and not by much.
        for (df, exact) in [(1, 23.93), (9, 44.81), (99, 180.79)] {
            let c = critical(df);
            assert!(c >= exact && c <= exact * 1.2, "df {df}: {c} vs {exact}");
        }
    }

    #[test]
    fn a_fair_draw_passes_and_a_biased_one_fails() {
        let mut rng = StdRng::seed_from_u64(42);
        let mut fair = [0u64; 10];
        let mut biased = [0u64; 10];
        for _ in 0..5000 {
            fair[rng.gen_range(0..10)] += 1;
            // Outcome 0 has 1.5 times the weight of the others.
            let t = rng.gen_range(0..21);
            biased[if t < 3 { 0 } else { (t - 3) / 2 + 1 }] += 1;
        }
        assert!(looks_uniform(&fair).is_ok(), "{fair:?}");
        assert!(looks_uniform(&biased).is_err(), "{biased:?}");
        assert!(looks_uniform(&[5, 0, 5]).is_err(), "a missing outcome");
    }
}
