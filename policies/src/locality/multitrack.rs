//! MultiTrack (paper 000): trackers in several ISPs serve swarms of the
//! same file, and each splits its arrivals between its own swarm and the
//! others' so that the options it uses cost the same (a Wardrop
//! equilibrium), which is also the least total cost (delay plus transit
//! paid).
//!
//! - [`Split`]: one tracker's forwarding shares over its options (option
//!   `i` is tracker `i`'s swarm; its own swarm is one of them), with a mask
//!   of the options it may use. [`Split::update`] is one step of the
//!   paper's replicator dynamics (eq. 7) on the options' payoffs;
//!   [`Split::choose`] picks the option for one arrival from a uniform
//!   draw the caller makes.
//! - [`payoff`]: what an option costs an arrival, `F = D + p + cp` (eq. 6:
//!   the destination swarm's delay, the transit price, the destination's
//!   congestion price); [`Forwarding`] names the variants the paper
//!   compares (MultiTrack, delay-only forwarding, never forwarding).
//! - [`SwarmMeter`]: what a tracker measures of its swarm each slot, as in
//!   the paper's ns-2 runs: the delay as a moving average (75% the slot's,
//!   25% the previous value) and the congestion price `z * dD/dz`, from
//!   the change of delay and of arrival rate between slots (the paper's,
//!   guarded) or through Little's law from the change of delay with the
//!   swarm's population ([`Congestion::Occupancy`]).
//!
//! # The discrete step
//!
//! The paper gives the dynamics in continuous time only,
//! `x'_i = x_i (avg - F_i)` with `avg` the population's mean payoff (a
//! cost: options cheaper than the mean grow). [`Split::update`] takes one
//! step of it on shares, scaled by the mean so that the unit of delay does
//! not matter:
//!
//! `y_i <- y_i * (1 + step * (avg - F_i) / avg)`, `avg = sum_i y_i F_i`.
//!
//! The step keeps the sum at 1 (the terms `y_i (avg - F_i)` add up to 0);
//! a share driven below zero is cut to zero. Then every allowed option is
//! lifted to at least `floor` (the rest scaled to fill what is left), so
//! no option goes extinct: the paper notes that a share that reaches zero
//! stays there, and its rest point may then not be a Wardrop equilibrium.
//! With `floor = 0.02` an option that should be unused keeps 2% of the
//! arrivals, which also keeps its payoff measured.
//!
//! Optionally ([`Split::with_smoothing`]) the step acts on a moving average
//! of the payoffs rather than on the last ones: measured payoffs of small
//! swarms are noisy (a slot's delay moves with the Poisson arrivals), and
//! averaging them is the usual two-time-scale remedy. The paper's
//! dynamics are `smoothing = 1` (the default).
//!
//! Payoffs that cannot be used are handled without panics: a NaN payoff
//! (or a slice of the wrong length) skips the step; an infinite payoff
//! sends its option to the floor; a negative one counts as 0.

use std::fmt;
use std::str::FromStr;

/// Share every allowed option keeps (the paper's extinction caveat).
pub const DEFAULT_FLOOR: f64 = 0.02;
/// Replicator step per update: at most a `1 + step` growth of a share.
pub const DEFAULT_STEP: f64 = 0.5;
/// Weight of the current slot in the delay's moving average (the paper's
/// ns-2 runs: 75% current slot, 25% previous value).
pub const DELAY_WEIGHT: f64 = 0.75;
/// A rise of the arrival rate smaller than this fraction of it is too
/// small to measure a slope on: the congestion price is kept.
pub const MIN_RISE: f64 = 0.05;
/// The congestion price is at most this many times the delay (an
/// elasticity of 4: an M/M/1 queue at 80% load).
pub const MAX_ELASTICITY: f64 = 4.0;

/// A setting MultiTrack cannot use.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum MultiTrackError {
    /// A split with no option.
    #[error("a split needs at least one option")]
    NoOptions,
    /// The tracker's own option is not among the options.
    #[error("own option {own} is not one of the {options} options")]
    BadOwn {
        /// The index given.
        own: usize,
        /// How many options there are.
        options: usize,
    },
    /// A value out of its range (which one, and why).
    #[error("{0}")]
    BadSetting(String),
}

/// What a tracker's payoff counts: the three systems paper 000 compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Forwarding {
    /// Delay + transit price + congestion price (eq. 6).
    #[default]
    Multitrack,
    /// Delay only: forwarding without regard to prices.
    DelayOnly,
    /// Every arrival stays in its own swarm.
    Never,
}

impl Forwarding {
    /// Every variant, for help texts.
    pub const ALL: [Forwarding; 3] = [
        Forwarding::Multitrack,
        Forwarding::DelayOnly,
        Forwarding::Never,
    ];

    /// One line of help.
    pub fn help(self) -> &'static str {
        match self {
            Forwarding::Multitrack => "delay + transit price + congestion price (paper 000, eq. 6)",
            Forwarding::DelayOnly => "delay only: forwarding without regard to prices",
            Forwarding::Never => "every arrival joins its own tracker's swarm",
        }
    }

    /// Does a tracker forward at all?
    pub fn forwards(self) -> bool {
        self != Forwarding::Never
    }

    /// The payoff of an option measured as `m` at transit price `price`.
    /// `Never` reports MultiTrack's payoff (it is not acted on).
    pub fn payoff(self, m: Measure, price: f64) -> f64 {
        match self {
            Forwarding::Multitrack | Forwarding::Never => payoff(m.delay, price, m.congestion),
            Forwarding::DelayOnly => m.delay,
        }
    }
}

impl fmt::Display for Forwarding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Forwarding::Multitrack => "multitrack",
            Forwarding::DelayOnly => "delay-only",
            Forwarding::Never => "never",
        })
    }
}

impl FromStr for Forwarding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Forwarding::ALL
            .into_iter()
            .find(|m| m.to_string() == s)
            .ok_or_else(|| format!("unknown forwarding {s:?} (multitrack, delay-only, never)"))
    }
}

/// The payoff (a cost) of sending one arrival to an option, eq. 6:
/// the option's delay, the transit price to it and its congestion price.
pub fn payoff(delay: f64, price: f64, congestion: f64) -> f64 {
    delay + price + congestion
}

/// `|a - b|` as a fraction of the larger of the two (0 when both are 0;
/// infinite when either is not a finite number).
pub fn relative_gap(a: f64, b: f64) -> f64 {
    if !(a.is_finite() && b.is_finite()) {
        return f64::INFINITY;
    }
    let m = a.abs().max(b.abs());
    if m == 0.0 {
        0.0
    } else {
        (a - b).abs() / m
    }
}

/// One tracker's forwarding shares.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    shares: Vec<f64>,
    allowed: Vec<bool>,
    own: usize,
    floor: f64,
    step: f64,
    smoothing: f64,
    payoffs: Option<Vec<f64>>,
}

impl Split {
    /// Shares spread evenly over the allowed options (`allowed[own]` is
    /// forced on: the own swarm is always an option).
    pub fn new(allowed: &[bool], own: usize) -> Result<Split, MultiTrackError> {
        if allowed.is_empty() {
            return Err(MultiTrackError::NoOptions);
        }
        if own >= allowed.len() {
            return Err(MultiTrackError::BadOwn {
                own,
                options: allowed.len(),
            });
        }
        let mut allowed = allowed.to_vec();
        allowed[own] = true;
        let k = allowed.iter().filter(|a| **a).count() as f64;
        let shares = allowed
            .iter()
            .map(|&a| if a { 1.0 / k } else { 0.0 })
            .collect();
        Ok(Split {
            shares,
            allowed,
            own,
            floor: DEFAULT_FLOOR,
            step: DEFAULT_STEP,
            smoothing: 1.0,
            payoffs: None,
        })
    }

    /// Everything to the own swarm but the floor of each other option.
    pub fn local(allowed: &[bool], own: usize) -> Result<Split, MultiTrackError> {
        let mut s = Split::new(allowed, own)?;
        for (i, y) in s.shares.iter_mut().enumerate() {
            *y = if i == own { 1.0 } else { 0.0 };
        }
        s.project();
        Ok(s)
    }

    /// Set the replicator step (0 < step <= 1).
    pub fn with_step(mut self, step: f64) -> Result<Split, MultiTrackError> {
        if !(step > 0.0 && step <= 1.0) {
            return Err(MultiTrackError::BadSetting(format!(
                "step must be within (0, 1], not {step}"
            )));
        }
        self.step = step;
        Ok(self)
    }

    /// Set the floor share of every allowed option (0 <= floor, and the
    /// floors of all allowed options together below 1).
    pub fn with_floor(mut self, floor: f64) -> Result<Split, MultiTrackError> {
        let k = self.allowed.iter().filter(|a| **a).count() as f64;
        if !(floor >= 0.0 && floor * k < 1.0) {
            return Err(MultiTrackError::BadSetting(format!(
                "floor must be at least 0 and below 1/{k}, not {floor}"
            )));
        }
        self.floor = floor;
        self.project();
        Ok(self)
    }

    /// Act on a moving average of the payoffs: each update takes
    /// `smoothing` of the new payoffs and `1 - smoothing` of the average so
    /// far (0 < smoothing <= 1; 1, the default, is the paper's dynamics).
    pub fn with_smoothing(mut self, smoothing: f64) -> Result<Split, MultiTrackError> {
        if !(smoothing > 0.0 && smoothing <= 1.0) {
            return Err(MultiTrackError::BadSetting(format!(
                "smoothing must be within (0, 1], not {smoothing}"
            )));
        }
        self.smoothing = smoothing;
        Ok(self)
    }

    /// The share of each option (0 for options not allowed); they add up
    /// to 1.
    pub fn shares(&self) -> &[f64] {
        &self.shares
    }

    /// How many options (allowed or not).
    pub fn options(&self) -> usize {
        self.shares.len()
    }

    /// The tracker's own option.
    pub fn own(&self) -> usize {
        self.own
    }

    /// May arrivals go to option `i`?
    pub fn is_allowed(&self, i: usize) -> bool {
        self.allowed.get(i).copied().unwrap_or(false)
    }

    /// The payoffs the last update acted on (averaged if smoothing), per
    /// option; None before the first update.
    pub fn payoffs(&self) -> Option<&[f64]> {
        self.payoffs.as_deref()
    }

    /// The mean payoff of the population, `sum_i y_i F_i` over the allowed
    /// options (None if one of them is not a finite number, or on a slice
    /// of the wrong length).
    pub fn mean_payoff(&self, payoffs: &[f64]) -> Option<f64> {
        if payoffs.len() != self.shares.len() {
            return None;
        }
        let mut sum = 0.0;
        for i in self.allowed_options() {
            if !payoffs[i].is_finite() {
                return None;
            }
            sum += self.shares[i] * payoffs[i];
        }
        Some(sum)
    }

    /// One replicator step on the options' payoffs (costs, one per option;
    /// entries of options not allowed are ignored). Returns whether the
    /// shares were updated.
    pub fn update(&mut self, payoffs: &[f64]) -> bool {
        let Some(f) = self.smoothed(payoffs) else {
            return false;
        };
        self.payoffs = Some(f.clone());
        if self.allowed_options().count() < 2 {
            return false;
        }
        let finite: Vec<usize> = self
            .allowed_options()
            .filter(|&i| f[i].is_finite())
            .collect();
        let mass: f64 = finite.iter().map(|&i| self.shares[i]).sum();
        let total: f64 = finite.iter().map(|&i| self.shares[i] * f[i]).sum();
        let avg = total / mass;
        if !(avg.is_finite() && avg > 0.0) {
            return false;
        }
        let mut next = vec![0.0; self.shares.len()];
        for &i in &finite {
            next[i] = (self.shares[i] * (1.0 + self.step * (avg - f[i]) / avg)).max(0.0);
        }
        self.shares = next;
        self.project();
        true
    }

    /// The option for one arrival, from a uniform draw `u` in [0, 1) (a
    /// value outside is clamped; NaN counts as 0).
    pub fn choose(&self, u: f64) -> usize {
        let u = if u.is_nan() { 0.0 } else { u.clamp(0.0, 1.0) };
        let mut acc = 0.0;
        let mut last = self.own;
        for i in self.allowed_options() {
            if self.shares[i] <= 0.0 {
                continue;
            }
            acc += self.shares[i];
            last = i;
            if u < acc {
                return i;
            }
        }
        last
    }

    fn allowed_options(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.allowed.len()).filter(|&i| self.allowed[i])
    }

    /// The payoffs to act on: negative ones as 0, averaged with the last
    /// ones by `smoothing`; None if the slice does not fit or an allowed
    /// option's payoff is NaN or none of them is finite.
    fn smoothed(&self, payoffs: &[f64]) -> Option<Vec<f64>> {
        if payoffs.len() != self.shares.len() {
            return None;
        }
        let mut f = vec![f64::NAN; payoffs.len()];
        let mut any_finite = false;
        for i in self.allowed_options() {
            let v = payoffs[i];
            if v.is_nan() {
                return None;
            }
            let v = v.max(0.0);
            any_finite |= v.is_finite();
            f[i] = match self.payoffs.as_ref().map(|p| p[i]) {
                Some(prev) if prev.is_finite() && v.is_finite() => {
                    self.smoothing * v + (1.0 - self.smoothing) * prev
                }
                _ => v,
            };
        }
        any_finite.then_some(f)
    }

    /// Zero the options not allowed, lift every allowed one to the floor
    /// and scale the others so that the shares add up to 1.
    fn project(&mut self) {
        let n = self.shares.len();
        let k = self.allowed.iter().filter(|a| **a).count();
        let floor = self.floor.min(1.0 / k as f64);
        for (y, &a) in self.shares.iter_mut().zip(&self.allowed) {
            if !(a && y.is_finite() && *y > 0.0) {
                *y = 0.0;
            }
        }
        let mut pinned = vec![false; n];
        loop {
            let free: Vec<usize> = (0..n).filter(|&i| self.allowed[i] && !pinned[i]).collect();
            if free.is_empty() {
                break;
            }
            let mass = 1.0 - floor * pinned.iter().filter(|p| **p).count() as f64;
            let sum: f64 = free.iter().map(|&i| self.shares[i]).sum();
            let value = |i: usize| {
                if sum > 0.0 {
                    self.shares[i] * mass / sum
                } else {
                    mass / free.len() as f64
                }
            };
            let low: Vec<usize> = free.iter().copied().filter(|&i| value(i) < floor).collect();
            if low.is_empty() {
                let values: Vec<f64> = free.iter().map(|&i| value(i)).collect();
                for (&i, v) in free.iter().zip(values) {
                    self.shares[i] = v;
                }
                break;
            }
            for i in low {
                pinned[i] = true;
            }
        }
        for (y, p) in self.shares.iter_mut().zip(pinned) {
            if p {
                *y = floor;
            }
        }
    }
}

/// An option's delay and congestion price, as its tracker measured them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measure {
    /// D: the moving average of the slots' delays.
    pub delay: f64,
    /// cp: the congestion price, `z * dD/dz`.
    pub congestion: f64,
}

/// How a [`SwarmMeter`] estimates the congestion price `z * dD/dz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Congestion {
    /// The paper's: the change of the delay over the change of the
    /// arrival rate between the previous and the current slot.
    #[default]
    Arrivals,
    /// Through Little's law: the slope of the slot's delay against the
    /// swarm's population `n` between slots (a swarm's download rate is a
    /// function of how many share it, so this slope has no lag), turned
    /// into `z dD/dz = D g / (1 - g)` with `g = z dD/dn` (from `n = z D`
    /// in steady state). See [`SwarmMeter`].
    Occupancy,
}

impl fmt::Display for Congestion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Congestion::Arrivals => "arrivals",
            Congestion::Occupancy => "occupancy",
        })
    }
}

impl FromStr for Congestion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Congestion::Arrivals, Congestion::Occupancy]
            .into_iter()
            .find(|m| m.to_string() == s)
            .ok_or_else(|| format!("unknown congestion estimate {s:?} (arrivals, occupancy)"))
    }
}

/// How a [`SwarmMeter`] measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeterSettings {
    /// Weight of the current slot in the delay's moving average.
    pub delay_weight: f64,
    /// How the congestion price is estimated.
    pub congestion: Congestion,
    /// Arrivals: a rise of the arrival rate below this fraction of it
    /// keeps the congestion price as it was. Occupancy: likewise for a
    /// change of the population below this fraction of it (or of 1).
    pub min_rise: f64,
    /// The congestion price is at most this many times the delay.
    pub max_elasticity: f64,
    /// Weight of a new slope in its moving average (Arrivals: of the new
    /// price; 1 is the paper's, the new one alone).
    pub slope_weight: f64,
    /// Occupancy: weight of the slot's arrival rate in the moving average
    /// of `z` that multiplies the slope.
    pub load_weight: f64,
}

impl MeterSettings {
    /// The paper's meter: delay 75/25, the price from the arrival rate's
    /// change, the new slope alone.
    pub fn paper() -> MeterSettings {
        MeterSettings {
            delay_weight: DELAY_WEIGHT,
            congestion: Congestion::Arrivals,
            min_rise: MIN_RISE,
            max_elasticity: MAX_ELASTICITY,
            slope_weight: 1.0,
            load_weight: 1.0,
        }
    }

    /// The occupancy estimate, with the slope and the load averaged over
    /// about ten and four slots.
    pub fn occupancy() -> MeterSettings {
        MeterSettings {
            congestion: Congestion::Occupancy,
            slope_weight: 0.1,
            load_weight: 0.25,
            ..MeterSettings::paper()
        }
    }

    /// Settings for `congestion` (the paper's or [`MeterSettings::occupancy`]).
    pub fn for_congestion(congestion: Congestion) -> MeterSettings {
        match congestion {
            Congestion::Arrivals => MeterSettings::paper(),
            Congestion::Occupancy => MeterSettings::occupancy(),
        }
    }
}

impl Default for MeterSettings {
    fn default() -> Self {
        MeterSettings::paper()
    }
}

/// One slot of a swarm, as its tracker sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    /// The slot's delay: the mean download time, or the file size over
    /// the peers' mean download rate in the slot ([`slot_delay`]).
    pub delay: f64,
    /// z: arrivals into the swarm per time unit in the slot.
    pub load: f64,
    /// n: the swarm's mean population (leechers) in the slot.
    pub occupancy: f64,
}

/// The largest `g = z dD/dn` the occupancy estimate uses (the price is
/// then at most 4 times the delay, like [`MAX_ELASTICITY`]).
const MAX_GAIN: f64 = 0.8;

/// What a tracker measures of its own swarm, slot after slot.
///
/// The delay is averaged, `D <- w D_slot + (1 - w) D` (w = 0.75, the
/// paper's). The congestion price `cp = z dD/dz` is estimated one of two
/// ways ([`Congestion`]):
///
/// - Arrivals (the paper's): `z (D - D_prev) / (z - z_prev)` when the
///   arrival rate rose by at least `min_rise` of itself since the last
///   slot; when it fell, or rose too little for a slope, the last price is
///   kept. A negative slope counts as 0.
/// - Occupancy: the slope `s = dD/dn` of the slots' delays against their
///   mean populations, from consecutive slots whose populations differ by
///   at least `min_rise` (averaged, weight `slope_weight`; negative counts
///   as 0), and `cp = D g / (1 - g)`, `g = z s` (z averaged with
///   `load_weight`, g at most 0.8). In steady state `n = z D` (Little), so
///   `dn/dz = D + z dD/dz` and `dD/dz = s dn/dz`, which give that price.
///   Arrival noise makes the paper's ratio of two small differences mostly
///   noise, and a swarm's delay follows a change of its arrival rate only
///   over about one marginal cost's time (several slots); its delay
///   follows its population at once.
///
/// Either way the price is at most `max_elasticity` times the delay.
#[derive(Debug, Clone, PartialEq)]
pub struct SwarmMeter {
    settings: MeterSettings,
    delay: Option<f64>,
    load: f64,
    last: Option<Slot>,
    slope: f64,
    congestion: f64,
}

impl SwarmMeter {
    /// A meter that has measured nothing yet.
    pub fn new(settings: MeterSettings) -> Result<SwarmMeter, MultiTrackError> {
        let s = settings;
        let weight = |w: f64| w > 0.0 && w <= 1.0;
        let ok = weight(s.delay_weight)
            && weight(s.slope_weight)
            && weight(s.load_weight)
            && s.min_rise >= 0.0
            && s.min_rise.is_finite()
            && s.max_elasticity >= 0.0;
        if !ok {
            return Err(MultiTrackError::BadSetting(format!(
                "meter settings out of range: {s:?}"
            )));
        }
        Ok(SwarmMeter {
            settings,
            delay: None,
            load: 0.0,
            last: None,
            slope: 0.0,
            congestion: 0.0,
        })
    }

    /// Take one slot. A slot with a value that is not a finite number >= 0
    /// is ignored. Returns the measure after it (None until a slot has
    /// been taken).
    pub fn observe(&mut self, slot: Slot) -> Option<Measure> {
        let valid = |v: f64| v.is_finite() && v >= 0.0;
        if !(valid(slot.delay) && valid(slot.load) && valid(slot.occupancy)) {
            return self.measure();
        }
        let s = self.settings;
        let Some(prev) = self.delay else {
            self.delay = Some(slot.delay);
            self.load = slot.load;
            self.last = Some(slot);
            return self.measure();
        };
        let delay = s.delay_weight * slot.delay + (1.0 - s.delay_weight) * prev;
        match s.congestion {
            Congestion::Arrivals => {
                let rise = slot.load - self.load;
                if rise > 0.0 && rise >= s.min_rise * slot.load {
                    let price = (slot.load * (delay - prev) / rise).max(0.0);
                    self.congestion =
                        s.slope_weight * price + (1.0 - s.slope_weight) * self.congestion;
                }
                self.load = slot.load;
            }
            Congestion::Occupancy => {
                if let Some(last) = self.last {
                    let dn = slot.occupancy - last.occupancy;
                    if dn.abs() >= s.min_rise * slot.occupancy.max(1.0) && dn != 0.0 {
                        let slope = ((slot.delay - last.delay) / dn).max(0.0);
                        self.slope = s.slope_weight * slope + (1.0 - s.slope_weight) * self.slope;
                    }
                }
                self.load = s.load_weight * slot.load + (1.0 - s.load_weight) * self.load;
                let g = (self.load * self.slope).min(MAX_GAIN);
                self.congestion = delay * g / (1.0 - g);
            }
        }
        self.congestion = self.congestion.min(s.max_elasticity * delay);
        self.delay = Some(delay);
        self.last = Some(slot);
        self.measure()
    }

    /// The delay and congestion price so far.
    pub fn measure(&self) -> Option<Measure> {
        self.delay.map(|delay| Measure {
            delay,
            congestion: self.congestion,
        })
    }
}

/// A slot's delay from what its peers downloaded: the file size over
/// their mean download rate (`downloaded / peer_time`, peer time being the
/// time each peer spent in the swarm during the slot, summed). None when
/// nothing was downloaded or the numbers are not finite and positive.
pub fn slot_delay(file_size: f64, downloaded: f64, peer_time: f64) -> Option<f64> {
    let ok = |v: f64| v.is_finite() && v > 0.0;
    if !(ok(file_size) && ok(downloaded) && ok(peer_time)) {
        return None;
    }
    let d = file_size * peer_time / downloaded;
    d.is_finite().then_some(d)
}

#[cfg(test)]
mod tests;
