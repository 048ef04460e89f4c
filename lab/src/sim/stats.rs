//! What a replicate measures: completions after the warm-up, the
//! time-averaged population, the one-club peak and the sampled time series.

use crate::experiment::report::Sample;

/// Running statistics of one replicate.
#[derive(Clone, Debug)]
pub(super) struct Stats {
    /// Statistics start here.
    warmup: f64,
    /// And end here.
    duration: f64,
    /// Time between two samples.
    sample_every: f64,
    /// Time of the next sample.
    next_sample: f64,
    /// Time of the last sample (start of the current sample interval).
    last_sample: f64,
    /// The time series.
    pub samples: Vec<Sample>,
    /// Integral of the population over the measured window.
    population_integral: f64,
    /// Completions in the measured window.
    pub completions: u64,
    /// Sum of their download times.
    download_time_sum: f64,
    /// Completions since the start.
    pub departures: u64,
    /// Largest one club in the measured window.
    pub one_club_peak: u32,
    /// Blocks the publisher sent in the current sample interval.
    publisher_blocks: u64,
    /// Blocks the publisher sent since the start.
    pub publisher_total: u64,
    /// Blocks anyone sent since the start (the swarm's download).
    pub blocks_total: u64,
    /// Blocks peers sent in the current sample interval.
    peer_blocks: u64,
    /// Arrivals refused by the tracker (population cap).
    pub lost_arrivals: u64,
    /// Arrivals admitted.
    pub arrivals: u64,
}

impl Stats {
    /// Statistics over `[warmup, duration]`, sampled about 400 times.
    pub fn new(warmup: f64, duration: f64) -> Self {
        let sample_every = (duration / 400.0).max(1e-6);
        Stats {
            warmup,
            duration,
            sample_every,
            next_sample: sample_every,
            last_sample: 0.0,
            samples: Vec::with_capacity(410),
            population_integral: 0.0,
            completions: 0,
            download_time_sum: 0.0,
            departures: 0,
            one_club_peak: 0,
            publisher_blocks: 0,
            publisher_total: 0,
            blocks_total: 0,
            peer_blocks: 0,
            lost_arrivals: 0,
            arrivals: 0,
        }
    }

    /// Time passes from `from` to `to` with `population` peers of which
    /// `one_club` are one piece short (constant over the interval).
    pub fn advance(&mut self, from: f64, to: f64, population: u32, one_club: u32) {
        let lo = from.max(self.warmup);
        let hi = to.min(self.duration);
        if hi > lo {
            self.population_integral += f64::from(population) * (hi - lo);
        }
        if to >= self.warmup {
            self.one_club_peak = self.one_club_peak.max(one_club);
        }
        // A little tolerance so the last grid point (duration) is not lost
        // to rounding.
        let eps = 1e-9 * self.duration.max(1.0);
        while self.next_sample <= to + eps && self.next_sample <= self.duration + eps {
            let span = (self.next_sample - self.last_sample).max(1e-12);
            self.samples.push(Sample {
                t: self.next_sample,
                population,
                one_club,
                departures: self.departures,
                publisher_rate: self.publisher_blocks as f64 / span,
                peer_rate: self.peer_blocks as f64 / span,
            });
            self.publisher_blocks = 0;
            self.peer_blocks = 0;
            self.last_sample = self.next_sample;
            // From the index, not by accumulation, so rounding does not drift.
            self.next_sample = self.sample_every * (self.samples.len() + 1) as f64;
        }
    }

    /// A block went out (from the publisher or from a peer).
    pub fn block_sent(&mut self, by_publisher: bool) {
        self.blocks_total += 1;
        if by_publisher {
            self.publisher_blocks += 1;
            self.publisher_total += 1;
        } else {
            self.peer_blocks += 1;
        }
    }

    /// A peer that arrived at `arrived` completed at `t`.
    pub fn completion(&mut self, t: f64, arrived: f64) {
        self.departures += 1;
        if t >= self.warmup && t <= self.duration {
            self.completions += 1;
            self.download_time_sum += t - arrived;
        }
    }

    /// Completions per time unit in the measured window.
    pub fn throughput(&self) -> f64 {
        self.completions as f64 / (self.duration - self.warmup)
    }

    /// Mean download time of the measured completions (NaN if none).
    pub fn mean_download_time(&self) -> f64 {
        if self.completions == 0 {
            f64::NAN
        } else {
            self.download_time_sum / self.completions as f64
        }
    }

    /// Time-averaged population in the measured window.
    pub fn population_mean(&self) -> f64 {
        self.population_integral / (self.duration - self.warmup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrates_population_and_samples_on_a_grid() {
        let mut s = Stats::new(10.0, 20.0);
        s.advance(0.0, 12.0, 4, 1); // 2 units of 4 in the window
        s.completion(11.0, 1.0);
        s.completion(5.0, 1.0); // before the warm-up
        s.advance(12.0, 20.0, 2, 3); // 8 units of 2
        assert!((s.population_mean() - (8.0 + 16.0) / 10.0).abs() < 1e-12);
        assert_eq!(s.completions, 1);
        assert_eq!(s.departures, 2);
        assert!((s.mean_download_time() - 10.0).abs() < 1e-12);
        assert_eq!(s.one_club_peak, 3);
        assert!((s.throughput() - 0.1).abs() < 1e-12);
        assert_eq!(s.samples.len(), 400);
        assert!(s.samples.windows(2).all(|w| w[0].t < w[1].t));
        assert!((s.samples.last().map_or(0.0, |x| x.t) - 20.0).abs() < 1e-6);
    }
}
