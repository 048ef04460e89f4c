//! The weighted draw of [`super::Locality::draw`]: groups' counts by
//! systematic sampling, members uniformly within each group, shortfalls
//! passed on by weight. O(candidates + groups^2) per draw; the groups
//! are the few PIDs present.

use rand::seq::SliceRandom;
use rand::Rng;

use super::{Group, Locality};

pub(super) fn draw(
    locality: &Locality,
    asker: Group,
    candidates: &[Group],
    want: usize,
    rng: &mut impl Rng,
) -> Vec<usize> {
    let want = want.min(candidates.len());
    if want == 0 {
        return Vec::new();
    }
    // Members of each group, shuffled: taking a prefix is a uniform draw.
    let mut groups: Vec<(Group, Vec<usize>)> = Vec::new();
    for (i, g) in candidates.iter().enumerate() {
        match groups.iter_mut().find(|(h, _)| h == g) {
            Some((_, members)) => members.push(i),
            None => groups.push((*g, vec![i])),
        }
    }
    // The asker's own group first, so the remote groups are one run of
    // the cumulative sum and their total is floor or ceil of theirs.
    groups.sort_by_key(|(g, _)| (*g != asker, *g));
    for (_, members) in &mut groups {
        members.shuffle(rng);
    }
    let present: Vec<(Group, usize)> = groups.iter().map(|(g, m)| (*g, m.len())).collect();
    let weights = locality.weights(asker, &present);
    let mut counts = systematic(&weights, want, rng.gen::<f64>());
    // A group short of candidates passes its remainder on, by weight,
    // to the groups that still have some.
    let mut short = 0usize;
    for (c, (_, members)) in counts.iter_mut().zip(&groups) {
        if *c > members.len() {
            short += *c - members.len();
            *c = members.len();
        }
    }
    while short > 0 {
        let open: Vec<usize> = (0..groups.len())
            .filter(|&k| counts[k] < groups[k].1.len())
            .collect();
        let Some(&first) = open.first() else { break };
        let total: f64 = open.iter().map(|&k| weights[k]).sum();
        let k = if total > 0.0 {
            let mut ticket = rng.gen::<f64>() * total;
            *open
                .iter()
                .find(|&&k| {
                    ticket -= weights[k];
                    ticket < 0.0
                })
                .unwrap_or(&first)
        } else {
            open[rng.gen_range(0..open.len())]
        };
        counts[k] += 1;
        short -= 1;
    }
    let mut out: Vec<usize> = groups
        .iter()
        .zip(&counts)
        .flat_map(|((_, members), &c)| members[..c].iter().copied())
        .collect();
    // The list's order carries no preference.
    out.shuffle(rng);
    out
}

/// Counts adding up to `n`, each `floor` or `ceil` of `n * w`, from one
/// offset `u` in [0, 1) over the cumulative weights.
pub(super) fn systematic(weights: &[f64], n: usize, u: f64) -> Vec<usize> {
    let total: f64 = weights.iter().sum();
    if weights.is_empty() || total <= 0.0 {
        let mut even = vec![n / weights.len().max(1); weights.len()];
        if let Some(first) = even.first_mut() {
            *first += n - n / weights.len().max(1) * weights.len();
        }
        return even;
    }
    let u = u.clamp(0.0, 1.0 - f64::EPSILON);
    let mut out = Vec::with_capacity(weights.len());
    let mut cum = 0.0;
    let mut before = 0usize;
    for (k, w) in weights.iter().enumerate() {
        cum += w / total;
        let upto = if k + 1 == weights.len() {
            n
        } else {
            ((cum * n as f64 + u).floor() as usize).min(n)
        };
        let upto = upto.max(before);
        out.push(upto - before);
        before = upto;
    }
    out
}
