//! Per-band SNR estimates from classic single-channel speech enhancement, as network inputs:
//! the noise power tracked by speech presence probability (Gerkmann & Hendriks 2012, "Unbiased
//! MMSE-based noise power estimation with low complexity and low tracking delay") and the
//! a-priori SNR by the decision-directed rule (Ephraim & Malah 1984).
//!
//! Why beside the noise floor (`features::NoiseFloor`): a minimum over 1.5 s sits below the
//! noise's mean by an amount that depends on how much a band's energy fluctuates (over 150
//! independent hops the minimum of a 2-bin band of white noise lies about 13 dB under its mean,
//! of a 100-bin band 1–2 dB), and it lags a rising noise by the whole
//! window. The presence-weighted estimate is unbiased and follows noise within a few hundred
//! milliseconds in pauses, and the decision-directed SNR is the smoothed "how far does the
//! speech stand above the noise" that the network's gains hedge on (weights/MODEL.md, "The
//! shrinkage behind the hedge"). A recurrence could learn both, but only from far more training
//! than the budget buys; here they are a few operations per band.

/// Speech presence is judged against this fixed a-priori SNR of speech where present
/// (Gerkmann & Hendriks: 15 dB).
const PRESENCE_SNR: f32 = 31.622_776;
/// Time constant of the noise power's recursive average (their 0.8 per 16 ms hop).
const NOISE_TAU_S: f32 = 0.0717;
/// Time constant of the smoothed presence that guards against a stuck estimate (their 0.9 per
/// 16 ms hop): a band that has read "speech" for this long is updated a little anyway, so a
/// noise that gets louder for good is followed.
const PRESENCE_TAU_S: f32 = 0.152;
/// Presence is capped at this once its smoothed value exceeds it.
const PRESENCE_CAP: f32 = 0.99;
/// The decision-directed rule's weight on the previous hop's clean estimate (0.98 per 10 ms).
const DD_TAU_S: f32 = 0.495;
/// Lowest a-priori SNR (−25 dB): below it the estimate is noise about nothing.
const PRIOR_MIN: f32 = 0.003_162_3;
/// The features are clamped to this range (dB) and divided by 20, like the other log features.
const DB_RANGE: (f32, f32) = (-30.0, 50.0);

/// Tracks one stream's band noise powers and SNRs. Fixed-size after construction (the engine's
/// audio thread calls `push`).
#[derive(Debug, Clone)]
pub struct SnrEstimator {
    /// Per band: the noise power estimate; 0 until the band has had a non-silent hop.
    noise: Vec<f32>,
    /// Per band: the smoothed speech presence probability.
    presence: Vec<f32>,
    /// Per band: the previous hop's clean power estimate (Wiener gain² · energy).
    clean: Vec<f32>,
    noise_alpha: f32,
    presence_alpha: f32,
    dd_alpha: f32,
    /// Band energies at or below this are digital silence: they leave the estimates alone.
    silence: f32,
}

impl SnrEstimator {
    /// For `n_bands` bands, `hop_s` seconds per hop; energies at or below `silence` (linear
    /// power) do not update the noise estimate.
    pub fn new(n_bands: usize, hop_s: f32, silence: f32) -> Self {
        let per_hop = |tau: f32| (-hop_s / tau).exp();
        Self {
            noise: vec![0.0; n_bands],
            presence: vec![0.0; n_bands],
            clean: vec![0.0; n_bands],
            noise_alpha: per_hop(NOISE_TAU_S),
            presence_alpha: per_hop(PRESENCE_TAU_S),
            dd_alpha: per_hop(DD_TAU_S),
            silence,
        }
    }

    pub fn reset(&mut self) {
        self.noise.fill(0.0);
        self.presence.fill(0.0);
        self.clean.fill(0.0);
    }

    /// Takes band `b`'s energy for this hop and returns (a-posteriori SNR, a-priori SNR), each
    /// in dB / 20, clamped to `DB_RANGE`, both against the noise estimate from before this hop
    /// (which this hop then updates). A band's first non-silent hop is its noise estimate.
    pub fn push(&mut self, b: usize, energy: f32) -> (f32, f32) {
        // The engine zeroes bad input before it gets here; this keeps a stray NaN or infinity
        // from poisoning the recursions for good.
        let energy = if energy.is_finite() { energy } else { 0.0 };
        let silent = energy <= self.silence;
        if self.noise[b] == 0.0 {
            if silent {
                return (DB_RANGE.0 / 20.0, DB_RANGE.0 / 20.0);
            }
            self.noise[b] = energy;
        }
        let noise = self.noise[b];
        let post = energy / noise;
        let prior = (self.dd_alpha * self.clean[b] / noise + (1.0 - self.dd_alpha) * (post - 1.0).max(0.0)).max(PRIOR_MIN);
        let wiener = prior / (1.0 + prior);
        self.clean[b] = wiener * wiener * energy;
        if !silent {
            // P(speech | this hop's energy) for speech at PRESENCE_SNR against noise alone, with
            // equal priors; capped once it has stayed high, so the estimate cannot stick.
            let r = PRESENCE_SNR / (1.0 + PRESENCE_SNR);
            let mut p = 1.0 / (1.0 + (1.0 + PRESENCE_SNR) * (-post * r).exp());
            let smoothed = &mut self.presence[b];
            *smoothed = self.presence_alpha * *smoothed + (1.0 - self.presence_alpha) * p;
            if *smoothed > PRESENCE_CAP {
                p = p.min(PRESENCE_CAP);
            }
            // The noise power expected given this hop: its energy where speech is absent, the
            // old estimate where present.
            let expected = (1.0 - p) * energy + p * noise;
            self.noise[b] = self.noise_alpha * noise + (1.0 - self.noise_alpha) * expected;
        }
        let db = |x: f32| (10.0 * x.max(1e-30).log10()).clamp(DB_RANGE.0, DB_RANGE.1) / 20.0;
        (db(post), db(prior))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `hops` hops of Gaussian-like band energies around `mean` (a 2-bin band: χ² with 4
    /// degrees of freedom, drawn from a fixed LCG) and returns each hop's (post, prior) in dB.
    fn run(est: &mut SnrEstimator, mean: f32, hops: usize, seed: &mut u64) -> Vec<(f32, f32)> {
        let mut uniform = || {
            *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((*seed >> 40) as f32 + 0.5) / (1u64 << 24) as f32
        };
        (0..hops)
            .map(|_| {
                // Sum of two exponentials with mean mean/2 each.
                let e = -0.5 * mean * (uniform().ln() + uniform().ln());
                let (post, prior) = est.push(0, e);
                assert!(post.is_finite() && prior.is_finite());
                (post * 20.0, prior * 20.0)
            })
            .collect()
    }

    fn mean(xs: impl Iterator<Item = f32>) -> f32 {
        let v: Vec<f32> = xs.collect();
        v.iter().sum::<f32>() / v.len() as f32
    }

    #[test]
    fn noise_alone_reads_near_0_db_and_a_voice_reads_its_snr() {
        let mut est = SnrEstimator::new(1, 0.01, 1e-10);
        let mut seed = 1;
        // Noise alone at −50 dB: the a-posteriori SNR of a 4-dof band averages about −1 dB in
        // dB terms (the log of a χ² variable sits below the log of its mean), the a-priori SNR
        // stays near its −25 dB floor.
        let noise = run(&mut est, 1e-5, 500, &mut seed);
        let post = mean(noise[100..].iter().map(|p| p.0));
        let prior = mean(noise[100..].iter().map(|p| p.1));
        assert!((-3.0..1.0).contains(&post), "{post}");
        assert!(prior < -12.0, "{prior}");
        // A steady voice 20 dB up for 0.3 s: both read about 20 dB, and the noise estimate
        // holds (presence stops it following the voice).
        let voice = run(&mut est, 1e-3, 30, &mut seed);
        let post = mean(voice[5..].iter().map(|p| p.0));
        let prior = mean(voice[5..].iter().map(|p| p.1));
        assert!((17.0..22.0).contains(&post), "{post}");
        assert!((14.0..22.0).contains(&prior), "{prior}");
        // Back to noise: the SNRs fall back within a few hops.
        let after = run(&mut est, 1e-5, 100, &mut seed);
        assert!(mean(after[20..].iter().map(|p| p.0)) < 1.0);
        assert!(mean(after[50..].iter().map(|p| p.1)) < -10.0);
    }

    #[test]
    fn a_noise_that_gets_louder_for_good_is_followed_within_seconds() {
        let mut est = SnrEstimator::new(1, 0.01, 1e-10);
        let mut seed = 2;
        run(&mut est, 1e-6, 300, &mut seed);
        let up = run(&mut est, 1e-5, 600, &mut seed);
        // At first it reads as a 10 dB louder "voice"; within 4 s it is noise again.
        assert!(mean(up[..10].iter().map(|p| p.0)) > 7.0);
        assert!(mean(up[400..].iter().map(|p| p.0)) < 1.0, "{:?}", &up[400..410]);
    }

    #[test]
    fn silence_leaves_the_estimate_alone_and_reset_forgets_it() {
        let mut est = SnrEstimator::new(2, 0.01, 1e-10);
        let mut seed = 3;
        // Silence first: the floor of the range, nothing learned.
        assert_eq!(est.push(0, 0.0), (-1.5, -1.5));
        assert_eq!(est.push(1, f32::MIN_POSITIVE), (-1.5, -1.5));
        run(&mut est, 1e-4, 300, &mut seed);
        // A dropout reads as far below the noise, and the noise after it reads as noise.
        for _ in 0..200 {
            let (post, _) = est.push(0, 0.0);
            assert_eq!(post, -1.5);
        }
        assert!(mean(run(&mut est, 1e-4, 50, &mut seed).iter().map(|p| p.0)) < 1.0);
        // Bad values count as silence and leave nothing behind.
        for bad in [f32::NAN, f32::INFINITY] {
            assert_eq!(est.push(0, bad).0, -1.5);
        }
        assert!(mean(run(&mut est, 1e-4, 50, &mut seed).iter().map(|p| p.0)) < 1.0);
        est.reset();
        assert_eq!(est.push(0, 1.0), (0.0, (10.0 * PRIOR_MIN.log10()) / 20.0));
    }
}
