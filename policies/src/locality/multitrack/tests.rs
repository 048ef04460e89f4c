use proptest::prelude::*;

use super::*;

const EPS: f64 = 1e-9;

fn sum(v: &[f64]) -> f64 {
    v.iter().sum()
}

/// Shares add up to 1, allowed options hold at least the floor, the
/// others nothing.
fn check_shares(s: &Split, floor: f64) {
    let y = s.shares();
    assert!(
        (sum(y) - 1.0).abs() < 1e-9,
        "shares {y:?} add up to {}",
        sum(y)
    );
    for (i, v) in y.iter().enumerate() {
        if s.is_allowed(i) {
            assert!(*v >= floor - EPS, "option {i} below the floor: {y:?}");
        } else {
            assert_eq!(*v, 0.0, "option {i} is not allowed: {y:?}");
        }
    }
}

#[test]
fn a_new_split_is_even_over_the_allowed_options() {
    let s = Split::new(&[true, false, true], 1).unwrap();
    assert!(s.is_allowed(1), "the own option is always allowed");
    for y in s.shares() {
        assert!((y - 1.0 / 3.0).abs() < EPS);
    }
    let s = Split::new(&[true, false, false], 0).unwrap();
    assert_eq!(s.shares(), &[1.0, 0.0, 0.0]);
    assert_eq!(Split::new(&[], 0), Err(MultiTrackError::NoOptions));
    assert!(matches!(
        Split::new(&[true], 3),
        Err(MultiTrackError::BadOwn { own: 3, options: 1 })
    ));
    let local = Split::local(&[true, true, false], 1).unwrap();
    assert_eq!(local.shares()[0], DEFAULT_FLOOR);
    assert!((local.shares()[1] - (1.0 - DEFAULT_FLOOR)).abs() < EPS);
    assert_eq!(local.own(), 1);
    assert_eq!(local.options(), 3);
}

#[test]
fn settings_out_of_range_are_refused() {
    let s = || Split::new(&[true, true], 0).unwrap();
    for step in [0.0, -0.1, 1.5, f64::NAN] {
        assert!(s().with_step(step).is_err(), "step {step}");
    }
    for floor in [-0.1, 0.5, 0.7, f64::NAN] {
        assert!(s().with_floor(floor).is_err(), "floor {floor}");
    }
    for w in [0.0, 1.1, f64::NAN] {
        assert!(s().with_smoothing(w).is_err(), "smoothing {w}");
    }
    let lifted = Split::local(&[true, true], 1)
        .unwrap()
        .with_floor(0.2)
        .unwrap();
    assert!((lifted.shares()[0] - 0.2).abs() < EPS);
    let bad = MeterSettings {
        delay_weight: 0.0,
        ..MeterSettings::paper()
    };
    assert!(SwarmMeter::new(bad).is_err());
}

#[test]
fn the_cheaper_option_grows_and_scale_does_not_matter() {
    let mut a = Split::new(&[true, true], 1).unwrap();
    assert!(a.update(&[2.0, 6.0]));
    let y = a.shares().to_vec();
    // avg = 4: option 0 grows by 1 + 0.5 * 0.5, option 1 shrinks by 0.25.
    assert!(
        (y[0] - 0.625).abs() < EPS && (y[1] - 0.375).abs() < EPS,
        "{y:?}"
    );
    let mut b = Split::new(&[true, true], 1).unwrap();
    b.update(&[2000.0, 6000.0]);
    assert_eq!(a.shares(), b.shares(), "the step is scale-free");
    assert_eq!(a.payoffs(), Some(&[2.0, 6.0][..]));
    // Equal payoffs: a rest point.
    let mut c = Split::new(&[true, true, true], 0).unwrap();
    let before = c.shares().to_vec();
    c.update(&[3.0, 3.0, 3.0]);
    for (x, y) in before.iter().zip(c.shares()) {
        assert!((x - y).abs() < EPS);
    }
}

#[test]
fn a_losing_option_stops_at_the_floor() {
    let mut s = Split::new(&[true, true, true], 2).unwrap();
    for _ in 0..200 {
        s.update(&[1.0, 100.0, 100.0]);
        check_shares(&s, DEFAULT_FLOOR);
    }
    assert!((s.shares()[1] - DEFAULT_FLOOR).abs() < EPS);
    assert!((s.shares()[0] - (1.0 - 2.0 * DEFAULT_FLOOR)).abs() < EPS);
    // And it can come back: the option was never extinct.
    for _ in 0..200 {
        s.update(&[100.0, 1.0, 100.0]);
    }
    assert!(s.shares()[1] > 0.9);
}

#[test]
fn options_not_allowed_get_nothing_whatever_their_payoff() {
    let mut s = Split::new(&[true, false, true], 2).unwrap();
    for _ in 0..50 {
        s.update(&[5.0, 0.0, 6.0]);
        check_shares(&s, DEFAULT_FLOOR);
    }
    assert_eq!(s.shares()[1], 0.0);
    assert!(s.shares()[0] > s.shares()[2]);
    for k in 0..100 {
        let i = s.choose(k as f64 / 100.0);
        assert!(s.is_allowed(i));
    }
}

#[test]
fn unusable_payoffs_do_not_panic() {
    let mut s = Split::new(&[true, true], 0).unwrap();
    let even = s.shares().to_vec();
    assert!(!s.update(&[]));
    assert!(!s.update(&[1.0]));
    assert!(!s.update(&[1.0, 2.0, 3.0]));
    assert!(!s.update(&[f64::NAN, 1.0]));
    assert!(!s.update(&[f64::INFINITY, f64::INFINITY]));
    assert!(
        !s.update(&[0.0, 0.0]),
        "no preference between two free options"
    );
    assert!(!s.update(&[-1.0, -2.0]), "negative costs count as 0");
    assert_eq!(s.shares(), &even[..]);
    // An infinite payoff (a swarm past its capacity) goes to the floor.
    assert!(s.update(&[f64::INFINITY, 3.0]));
    assert!((s.shares()[0] - DEFAULT_FLOOR).abs() < EPS);
    check_shares(&s, DEFAULT_FLOOR);
    assert_eq!(s.mean_payoff(&[f64::NAN, 1.0]), None);
    assert_eq!(s.mean_payoff(&[1.0]), None);
    assert!(!Split::new(&[true], 0).unwrap().update(&[1.0]));
    let mut one = Split::new(&[true], 0).unwrap();
    one.update(&[f64::NEG_INFINITY]);
    assert_eq!(one.shares(), &[1.0]);
}

#[test]
fn choose_follows_the_shares() {
    let mut s = Split::new(&[true, true, true], 0).unwrap();
    s.update(&[1.0, 2.0, 4.0]);
    let y = s.shares().to_vec();
    let n = 100_000;
    let mut counts = [0usize; 3];
    for k in 0..n {
        counts[s.choose((k as f64 + 0.5) / n as f64)] += 1;
    }
    for i in 0..3 {
        let got = counts[i] as f64 / n as f64;
        assert!((got - y[i]).abs() < 1e-3, "option {i}: {got} vs {}", y[i]);
    }
    assert_eq!(s.choose(f64::NAN), 0);
    assert_eq!(s.choose(-3.0), 0);
    assert_eq!(s.choose(7.0), 2);
    assert_eq!(s.choose(1.0), 2);
}

#[test]
fn smoothing_averages_the_payoffs_acted_on() {
    let mut s = Split::new(&[true, true], 0)
        .unwrap()
        .with_smoothing(0.5)
        .unwrap();
    s.update(&[2.0, 4.0]);
    s.update(&[4.0, 4.0]);
    assert_eq!(s.payoffs(), Some(&[3.0, 4.0][..]));
    // Option 0 still looks cheaper, so it still grows.
    assert!(s.shares()[0] > 0.6);
}

#[test]
fn forwarding_names_and_payoffs() {
    for f in Forwarding::ALL {
        assert_eq!(f.to_string().parse::<Forwarding>(), Ok(f));
        assert!(!f.help().is_empty());
    }
    assert!("sometimes".parse::<Forwarding>().is_err());
    assert!(!Forwarding::Never.forwards() && Forwarding::DelayOnly.forwards());
    let m = Measure {
        delay: 3.0,
        congestion: 2.0,
    };
    assert_eq!(Forwarding::Multitrack.payoff(m, 20.0), 25.0);
    assert_eq!(Forwarding::DelayOnly.payoff(m, 20.0), 3.0);
    assert_eq!(payoff(1.0, 2.0, 3.0), 6.0);
    assert_eq!(relative_gap(9.0, 10.0), 0.1);
    assert_eq!(relative_gap(0.0, 0.0), 0.0);
    assert_eq!(relative_gap(f64::NAN, 1.0), f64::INFINITY);
    for c in [Congestion::Arrivals, Congestion::Occupancy] {
        assert_eq!(c.to_string().parse::<Congestion>(), Ok(c));
    }
    let json = serde_json::to_string(&Forwarding::DelayOnly).unwrap();
    assert_eq!(json, "\"delay-only\"");
}

// ---- the paper's analytic model (Sec. VI, Matlab) ------------------------

/// C_i, x_j, and p^1_2 = 2, p^1_3 = 1; T2 and T3 may forward to T1 only.
const CAPACITY: [f64; 3] = [30.0, 20.0, 20.0];
const DEMAND: [f64; 3] = [10.0, 20.0, 20.0];

fn price(to: usize, from: usize) -> f64 {
    match (to, from) {
        (0, 1) => 2.0,
        (0, 2) => 1.0,
        _ => 0.0,
    }
}

fn masks() -> [[bool; 3]; 3] {
    [
        [true, false, false],
        [true, true, false],
        [true, false, true],
    ]
}

fn loads(splits: &[Split]) -> [f64; 3] {
    let mut z = [0.0; 3];
    for (j, s) in splits.iter().enumerate() {
        for (i, y) in s.shares().iter().enumerate() {
            z[i] += y * DEMAND[j];
        }
    }
    z
}

/// Eq. 1: D = 1 / (C - z); infinite at or past capacity.
fn delay(i: usize, z: &[f64; 3]) -> f64 {
    if z[i] >= CAPACITY[i] {
        f64::INFINITY
    } else {
        1.0 / (CAPACITY[i] - z[i])
    }
}

/// Eq. 6 with the congestion price of eq. 4, z / (C - z)^2.
fn payoffs(j: usize, z: &[f64; 3], kind: Forwarding) -> Vec<f64> {
    (0..3)
        .map(|i| {
            let d = delay(i, z);
            let m = Measure {
                delay: d,
                congestion: z[i] * d * d,
            };
            kind.payoff(m, price(i, j))
        })
        .collect()
}

/// Eq. 8: sum_i z_i / (C_i - z_i) + transit paid.
fn total_cost(splits: &[Split]) -> f64 {
    let z = loads(splits);
    let mut c = 0.0;
    for i in 0..3 {
        c += z[i] * delay(i, &z);
        for (j, s) in splits.iter().enumerate() {
            c += price(i, j) * s.shares()[i] * DEMAND[j];
        }
    }
    c
}

fn run(kind: Forwarding, steps: usize) -> (Vec<Split>, Vec<f64>) {
    let mut splits: Vec<Split> = masks()
        .iter()
        .enumerate()
        .map(|(j, m)| Split::local(m, j).unwrap())
        .collect();
    let mut costs = vec![total_cost(&splits)];
    for _ in 0..steps {
        let z = loads(&splits);
        for (j, s) in splits.iter_mut().enumerate() {
            s.update(&payoffs(j, &z, kind));
        }
        costs.push(total_cost(&splits));
    }
    (splits, costs)
}

#[test]
fn the_matlab_setup_reaches_a_wardrop_equilibrium() {
    let (splits, costs) = run(Forwarding::Multitrack, 200);
    let z = loads(&splits);
    for j in [1, 2] {
        let f = payoffs(j, &z, Forwarding::Multitrack);
        let used: Vec<f64> = (0..3)
            .filter(|&i| splits[j].shares()[i] > DEFAULT_FLOOR + 1e-6)
            .map(|i| f[i])
            .collect();
        assert_eq!(used.len(), 2, "T{} uses both options: {z:?}", j + 1);
        assert!(
            relative_gap(used[0], used[1]) < 0.01,
            "T{}: payoffs {used:?} are not within 1%",
            j + 1
        );
    }
    // The total cost falls (here at every step) to the minimum of eq. 8.
    assert!(costs.windows(2).all(|w| w[1] <= w[0] + 1e-9), "{costs:?}");
    let last = *costs.last().unwrap();
    assert!(last < costs[0] / 4.0, "{} -> {last}", costs[0]);
    let best = grid_minimum();
    assert!(
        last <= best * 1.001,
        "the dynamics end at {last}, the grid's minimum is {best}"
    );
}

/// The least total cost over T2's and T3's forwarded shares, on a grid.
fn grid_minimum() -> f64 {
    let n = 400;
    let mut best = f64::INFINITY;
    for a in 0..=n {
        for b in 0..=n {
            let f2 = a as f64 / n as f64;
            let f3 = b as f64 / n as f64;
            let z = [
                DEMAND[0] + f2 * DEMAND[1] + f3 * DEMAND[2],
                (1.0 - f2) * DEMAND[1],
                (1.0 - f3) * DEMAND[2],
            ];
            let mut c = price(0, 1) * f2 * DEMAND[1] + price(0, 2) * f3 * DEMAND[2];
            for i in 0..3 {
                c += z[i] * delay(i, &z);
            }
            best = best.min(c);
        }
    }
    best
}

#[test]
fn delay_only_forwarding_pays_more_transit_and_costs_more() {
    let (mt, mt_costs) = run(Forwarding::Multitrack, 300);
    let (delay_only, do_costs) = run(Forwarding::DelayOnly, 300);
    let z = loads(&delay_only);
    // Delay-only equalises delays (the delay of each used option).
    assert!(relative_gap(delay(0, &z), delay(1, &z)) < 0.01, "{z:?}");
    assert!(delay_only[1].shares()[0] > mt[1].shares()[0]);
    assert!(do_costs.last().unwrap() > mt_costs.last().unwrap());
    // Never forwarding: all local, at 98% of capacity.
    let local: Vec<Split> = masks()
        .iter()
        .enumerate()
        .map(|(j, _)| Split::new(&[j == 0, j == 1, j == 2], j).unwrap())
        .collect();
    assert!(total_cost(&local) > *mt_costs.last().unwrap());
}

// ---- the meter -------------------------------------------------------------

fn slot(delay: f64, load: f64, occupancy: f64) -> Slot {
    Slot {
        delay,
        load,
        occupancy,
    }
}

#[test]
fn the_paper_meter_averages_delay_and_prices_a_rise() {
    let mut m = SwarmMeter::new(MeterSettings::paper()).unwrap();
    assert_eq!(m.measure(), None);
    let a = m.observe(slot(4.0, 2.0, 8.0)).unwrap();
    assert_eq!(a.delay, 4.0);
    assert_eq!(a.congestion, 0.0);
    // Load 2 -> 3, delay 4 -> 0.75*8 + 0.25*4 = 7: cp = 3 * 3 / 1 = 9.
    let b = m.observe(slot(8.0, 3.0, 21.0)).unwrap();
    assert!((b.delay - 7.0).abs() < EPS);
    assert!((b.congestion - 9.0).abs() < EPS);
    // A falling load keeps the price; the delay moves on.
    let c = m.observe(slot(6.0, 2.5, 15.0)).unwrap();
    assert!((c.delay - 6.25).abs() < EPS);
    assert!((c.congestion - 9.0).abs() < EPS);
    // A rise with a falling delay: a negative slope counts as 0.
    let d = m.observe(slot(2.0, 3.5, 7.0)).unwrap();
    assert_eq!(d.congestion, 0.0);
    // A tiny rise keeps the price.
    m.observe(slot(20.0, 5.0, 100.0));
    let before = m.measure().unwrap().congestion;
    let e = m.observe(slot(21.0, 5.01, 105.0)).unwrap();
    assert_eq!(e.congestion, before.min(MAX_ELASTICITY * e.delay));
    // Bounded by the elasticity cap.
    let mut m = SwarmMeter::new(MeterSettings::paper()).unwrap();
    m.observe(slot(1.0, 1.0, 1.0));
    let f = m.observe(slot(100.0, 1.1, 100.0)).unwrap();
    assert!((f.congestion - MAX_ELASTICITY * f.delay).abs() < EPS);
}

#[test]
fn the_meter_ignores_bad_slots() {
    let mut m = SwarmMeter::new(MeterSettings::occupancy()).unwrap();
    assert_eq!(m.observe(slot(f64::NAN, 1.0, 1.0)), None);
    m.observe(slot(3.0, 1.0, 3.0));
    let before = m.measure();
    for bad in [
        slot(f64::INFINITY, 1.0, 1.0),
        slot(1.0, -1.0, 1.0),
        slot(1.0, 1.0, f64::NAN),
    ] {
        assert_eq!(m.observe(bad), before);
    }
    assert_eq!(slot_delay(8.0, 4.0, 2.0), Some(4.0));
    assert_eq!(slot_delay(8.0, 0.0, 2.0), None);
    assert_eq!(slot_delay(8.0, 4.0, 0.0), None);
    assert_eq!(slot_delay(f64::NAN, 4.0, 2.0), None);
}

#[test]
fn the_occupancy_meter_finds_a_fluid_swarms_congestion_price() {
    // A swarm of seeds S and leechers uploading mu each, sharing equally:
    // D(n) = F n / (S + mu n); in steady state n = z D, so
    // D(z) = (F - S / z) / mu and z dD/dz = S / (mu z).
    let (f, s, mu, z) = (10.0, 5.0, 1.0, 2.0);
    let n0 = (z * f - s) / mu;
    let d = |n: f64| f * n / (s + mu * n);
    let mut m = SwarmMeter::new(MeterSettings::occupancy()).unwrap();
    let mut last = None;
    for k in 0..200 {
        let n = n0 * if k % 2 == 0 { 0.9 } else { 1.1 };
        last = m.observe(slot(d(n), z, n));
    }
    let got = last.unwrap();
    let want = s / (mu * z);
    assert!((got.delay - d(n0)).abs() / d(n0) < 0.05, "{got:?}");
    assert!(
        (got.congestion - want).abs() / want < 0.1,
        "cp {} against {want}",
        got.congestion
    );
}

proptest! {
    #[test]
    fn shares_stay_a_distribution(
        mask in proptest::collection::vec(any::<bool>(), 1..6),
        own_pick in 0usize..6,
        start_local in any::<bool>(),
        step in 0.01f64..=1.0,
        floor in 0.0f64..0.15,
        smoothing in 0.05f64..=1.0,
        rounds in proptest::collection::vec(
            proptest::collection::vec(
                prop_oneof![
                    8 => 0.0f64..100.0,
                    1 => Just(f64::NAN),
                    1 => Just(f64::INFINITY),
                    1 => -10.0f64..0.0,
                ],
                0..7,
            ),
            1..30,
        ),
        draws in proptest::collection::vec(-0.5f64..1.5, 1..20),
    ) {
        let own = own_pick % mask.len();
        let split = if start_local {
            Split::local(&mask, own)
        } else {
            Split::new(&mask, own)
        };
        let k = mask.iter().enumerate().filter(|(i, a)| **a || *i == own).count() as f64;
        let floor = floor.min(0.99 / k);
        let mut s = split
            .unwrap()
            .with_step(step)
            .unwrap()
            .with_floor(floor)
            .unwrap()
            .with_smoothing(smoothing)
            .unwrap();
        check_shares(&s, floor);
        for payoffs in &rounds {
            // Payoffs of the right length as often as not.
            let mut p = payoffs.clone();
            if p.len() % 2 == 0 {
                p.resize(mask.len(), 1.0);
            }
            s.update(&p);
            check_shares(&s, floor);
            for &u in &draws {
                let i = s.choose(u);
                prop_assert!(s.is_allowed(i));
                prop_assert!(s.shares()[i] > 0.0);
            }
        }
    }

    #[test]
    fn the_meter_never_panics_and_stays_bounded(
        occupancy_estimate in any::<bool>(),
        slots in proptest::collection::vec(
            (
                prop_oneof![4 => 0.0f64..50.0, 1 => Just(f64::NAN), 1 => Just(f64::INFINITY)],
                prop_oneof![4 => 0.0f64..10.0, 1 => Just(-1.0)],
                0.0f64..200.0,
            ),
            1..60,
        ),
    ) {
        let settings = if occupancy_estimate {
            MeterSettings::occupancy()
        } else {
            MeterSettings::paper()
        };
        let mut m = SwarmMeter::new(settings).unwrap();
        for (d, z, n) in slots {
            if let Some(x) = m.observe(slot(d, z, n)) {
                prop_assert!(x.delay.is_finite() && x.delay >= 0.0);
                prop_assert!(x.congestion >= 0.0);
                prop_assert!(x.congestion <= MAX_ELASTICITY * x.delay + EPS);
            }
        }
    }
}
