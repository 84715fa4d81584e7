//! Paired differences between two systems scored on the same mixtures, with a bootstrap
//! confidence interval: how sure a difference in mean PESQ-WB is, given how few mixtures a
//! bucket holds (MODEL.md's seed and fine-tune entries find ±0.01 overall and ±0.07 in one
//! bucket from chance alone).
//!
//! The evaluation draws mixture `i` with the same speech and noise in every SNR bucket, so the
//! five scores of one index are not independent samples: the bootstrap resamples whole
//! clusters (an index with all of its buckets), not single scores. Pairing removes what the two
//! systems share (a hard mixture is hard for both), which is most of the spread.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Bootstrap resamples. With 2000 the 2.5 % and 97.5 % percentiles move by about a twentieth
/// of the interval's width from one seed to another.
const RESAMPLES: usize = 2000;
/// Fixed, so the same scores always print the same interval.
const SEED: u64 = 0x5eed_b007;
/// Two-sided coverage of the interval.
pub const CONFIDENCE: f64 = 0.95;

/// One mixture's score under two systems (or two models), and the cluster it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Pair {
    pub cluster: usize,
    pub a: f64,
    pub b: f64,
}

/// Mean of `a − b` over the pairs and its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairedDifference {
    pub mean: f64,
    /// Lower and upper ends of the `CONFIDENCE` interval (percentile bootstrap).
    pub low: f64,
    pub high: f64,
    /// Pairs with both scores defined, and the clusters they fall in.
    pub pairs: usize,
    pub clusters: usize,
}

impl PairedDifference {
    /// "+0.115 (+0.071…+0.160)", with `decimals` places.
    pub fn show(&self, decimals: usize) -> String {
        format!("{:+.d$} ({:+.d$}…{:+.d$})", self.mean, self.low, self.high, d = decimals)
    }
}

/// The mean difference `a − b` over the pairs where both are finite (an undefined score, e.g.
/// STOI on too little speech, drops its pair), with a percentile-bootstrap interval that
/// resamples clusters with replacement. `None` when no pair is defined.
pub fn paired_difference(pairs: &[Pair]) -> Option<PairedDifference> {
    // Per cluster: sum of differences and how many, so a resample is a sum over clusters.
    let mut by_cluster: std::collections::BTreeMap<usize, (f64, usize)> = Default::default();
    for p in pairs.iter().filter(|p| p.a.is_finite() && p.b.is_finite()) {
        let e = by_cluster.entry(p.cluster).or_default();
        e.0 += p.a - p.b;
        e.1 += 1;
    }
    let sums: Vec<(f64, usize)> = by_cluster.into_values().collect();
    let (total, n) = sums.iter().fold((0.0, 0), |(s, n), &(cs, cn)| (s + cs, n + cn));
    if n == 0 {
        return None;
    }
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut means: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let (s, n) = (0..sums.len()).fold((0.0, 0), |(s, n), _| {
                let (cs, cn) = sums[rng.gen_range(0..sums.len())];
                (s + cs, n + cn)
            });
            // Every cluster holds at least one pair, so n > 0.
            s / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let tail = (1.0 - CONFIDENCE) / 2.0;
    let at = |q: f64| means[((q * RESAMPLES as f64) as usize).min(RESAMPLES - 1)];
    Some(PairedDifference { mean: total / n as f64, low: at(tail), high: at(1.0 - tail), pairs: n, clusters: sums.len() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Normal};

    fn pairs(diffs: impl IntoIterator<Item = (usize, f64)>) -> Vec<Pair> {
        diffs.into_iter().map(|(cluster, d)| Pair { cluster, a: 2.0 + d, b: 2.0 }).collect()
    }

    #[test]
    fn a_constant_difference_has_no_spread() {
        let d = paired_difference(&pairs((0..24).map(|i| (i, 0.125)))).unwrap();
        assert!((d.mean - 0.125).abs() < 1e-12 && (d.low - 0.125).abs() < 1e-12 && (d.high - 0.125).abs() < 1e-12, "{d:?}");
        assert_eq!((d.pairs, d.clusters), (24, 24));
    }

    #[test]
    fn the_interval_matches_the_normal_one_for_independent_pairs() {
        // 400 independent differences of spread 1 around 0.1: the mean's 95 % interval is
        // ±1.96/√400 = ±0.098 around the sample mean.
        let mut rng = StdRng::seed_from_u64(3);
        let normal = Normal::new(0.1, 1.0).unwrap();
        let d = paired_difference(&pairs((0..400).map(|i| (i, normal.sample(&mut rng))))).unwrap();
        let width = d.high - d.low;
        assert!((width - 0.196).abs() < 0.03, "{d:?}");
        assert!(d.low < d.mean && d.mean < d.high, "{d:?}");
        assert!((d.mean - 0.1).abs() < 0.15, "{d:?}");
    }

    #[test]
    fn clusters_are_resampled_whole() {
        // 24 clusters of five equal differences: the evidence is 24 values, not 120, so the
        // interval must be as wide as for 24 independent ones (√5 wider than for 120).
        let mut rng = StdRng::seed_from_u64(5);
        let normal = Normal::new(0.0, 1.0).unwrap();
        let per: Vec<f64> = (0..24).map(|_| normal.sample(&mut rng)).collect();
        let clustered = paired_difference(&pairs((0..120).map(|k| (k / 5, per[k / 5])))).unwrap();
        let single = paired_difference(&pairs(per.iter().enumerate().map(|(i, &d)| (i, d)))).unwrap();
        let as_independent = paired_difference(&pairs((0..120).map(|k| (k, per[k / 5])))).unwrap();
        assert!((clustered.mean - single.mean).abs() < 1e-12);
        let w = |d: &PairedDifference| d.high - d.low;
        assert!((w(&clustered) / w(&single) - 1.0).abs() < 0.15, "{clustered:?} {single:?}");
        assert!(w(&clustered) > 1.7 * w(&as_independent), "{clustered:?} {as_independent:?}");
    }

    #[test]
    fn undefined_scores_drop_their_pair_and_none_defined_gives_none() {
        let mut p = pairs((0..10).map(|i| (i, 1.0)));
        p[3].a = f64::NAN;
        p[4].b = f64::NAN;
        let d = paired_difference(&p).unwrap();
        assert_eq!((d.pairs, d.clusters), (8, 8));
        assert_eq!(d.mean, 1.0);
        p.iter_mut().for_each(|x| x.a = f64::NAN);
        assert_eq!(paired_difference(&p), None);
        assert_eq!(paired_difference(&[]), None);
    }
}
