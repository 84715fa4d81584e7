//! Turns a (clean, noise) pair into what the network trains on, using the plugin's own DSP
//! (`lull::dsp`), so training features cannot drift from the engine's.

use lull::dsp::bands::{BandCenters, BandLayout};
use lull::dsp::features::{accumulate_phase_advance, accumulate_power, FeatureExtractor};
use lull::dsp::pitch::{best_strength, combed_energy, periodicity, rule_strength, strength_sums, PitchTracker};
use lull::dsp::stft::{Analyzer, FrameTransform, StftSize};
use lull::model::ModelConfig;
use realfft::num_complex::Complex32;
use realfft::RealFftPlanner;

use crate::train::Utterance;

/// One training sequence, frame-major.
#[derive(Debug, Clone)]
pub struct Sample {
    pub frames: usize,
    /// frames × n_features, computed from the mixture.
    pub features: Vec<f32>,
    /// frames × n_gains: ideal gain √(E_clean / E_mix), clamped to 0..1, per band and then per
    /// fine bin.
    pub target: Vec<f32>,
    /// frames × n_gains: loss weight. In frames with speech, 0 above the clean recording's real
    /// bandwidth, so band-limited recordings do not teach the model to remove high-frequency
    /// speech; in pauses every band counts (the target there really is "remove it all"). Always
    /// 0 above Nyquist, where there are no bins.
    pub weight: Vec<f32>,
    /// frames: 1 where the clean frame holds speech.
    pub vad: Vec<f32>,
    /// With deep filtering (else empty): frames × fine_bins × (re, im) spectra of the mixture
    /// and of the clean speech in the fine bins, both divided by the mixture's RMS over the
    /// sequence so the spectral loss does not depend on level.
    pub df_mix: Vec<f32>,
    pub df_clean: Vec<f32>,
    /// With deep filtering (else empty): n_bands × fine_bins, how much of each band's gain
    /// reaches each fine bin (`BandLayout::bin_gains`, which is linear), so training can spread
    /// the band gains over the fine bins as the engine does before adding the filter's output.
    pub band_to_fine: Vec<f32>,
    /// With `pitch_strength` (else empty): frames × n_bands, the pitch filter strength that
    /// brings each band closest to the clean speech (`best_strength`); 0 in pauses.
    pub strength: Vec<f32>,
    /// frames × n_bands: the mixture's band energies divided by their mean over the sequence,
    /// so the loss can weigh bands by how loud they are (`Asymmetry::loudness`) whatever the
    /// level.
    pub band_energy: Vec<f32>,
}

impl Sample {
    /// Every per-hop series, each holding the same number of values per hop (none if it is
    /// unused). Named in full, so a new field cannot be forgotten here; `band_to_fine` is no
    /// time series.
    fn series_mut(&mut self) -> [&mut Vec<f32>; 8] {
        let Sample { frames: _, features, target, weight, vad, df_mix, df_clean, band_to_fine: _, strength, band_energy } = self;
        [features, target, weight, vad, df_mix, df_clean, strength, band_energy]
    }

    /// The first `frames` hops only.
    pub fn truncate(&mut self, frames: usize) {
        if frames >= self.frames {
            return;
        }
        let old = self.frames;
        for v in self.series_mut() {
            v.truncate(v.len() / old * frames);
        }
        self.frames = frames;
    }

    /// `next`'s hops after this one's, as one sample: two sequences that the network sees
    /// back to back but that were featurised each alone. `band_to_fine` stays.
    pub fn append(&mut self, mut next: Sample) {
        self.frames += next.frames;
        for (to, from) in self.series_mut().into_iter().zip(next.series_mut()) {
            to.append(from);
        }
    }
}

/// Speech frames are those within this many dB of the clip's loudest frame.
const VAD_RANGE_DB: f32 = 30.0;

/// What a band gain is trained towards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GainTarget {
    /// √(E_clean / E_mix) of the band as the analysis sees it.
    Plain,
    /// The same after the engine's pitch filter (`PitchTracker::filter_gains` with the rule's
    /// strength), which the network's gains then scale: `comb_target`.
    Comb,
}

/// Steps of the bisection in `comb_target` (the gain to within 2⁻¹⁴).
const COMB_TARGET_STEPS: usize = 14;

/// The band gain that is ideal once the engine's pitch filter has run: the filter plays
/// `g·n·(X + rP)` (`P` the frame one period back, `n` restoring `X`'s energy) with a strength
/// that depends on `g` itself (`rule_strength`), and the filter is linear, so the speech in
/// its output is `S + rP_S`. The target is the gain that equals √(E(S + rP_S) / E(X + rP)) at
/// its own strength: the one the engine, fed it, would find ideal. Where the comb adds a voice's
/// harmonics in phase and the noise between them not, that is above the plain target; where
/// the band is not periodic (no filter) it is the plain target. `sums` are the band's `[Σ|S|²,
/// Σ|X|², Re Σ X·P*, Σ|P|², Re Σ S·P_S*, Σ|P_S|²]`, `plain` its plain target. The ratio stays
/// in 0…1 while `g` runs from 0 to 1, so the two cross, and bisection finds a crossing; where
/// the comb raises the speech's share the ratio falls as `g` rises (less filtering) and the
/// crossing is the only one.
pub fn comb_target(sums: [f32; 6], plain: f32) -> f32 {
    let [es, ex, cross, ep, cross_s, eps] = sums;
    let e = periodicity(cross, ex, ep);
    if e == 0.0 || ex <= 1e-20 || ep <= 1e-20 {
        return plain;
    }
    let scale = (ex / ep).sqrt();
    let ideal = |g: f32| {
        let r = rule_strength(e, g) * scale;
        let filtered = combed_energy(ex, cross, ep, r);
        let speech = combed_energy(es, cross_s, eps, r);
        if filtered > 1e-20 { (speech.max(0.0) / filtered).sqrt().min(1.0) } else { plain }
    };
    let (mut lo, mut hi) = (0.0f32, 1.0f32);
    for _ in 0..COMB_TARGET_STEPS {
        let mid = 0.5 * (lo + hi);
        if ideal(mid) > mid {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The lowest bandwidth among the utterances overlapping samples `lo..hi`; Nyquist if none does.
fn bandwidth_over(utterances: &[Utterance], lo: usize, hi: usize, nyquist: f32) -> f32 {
    utterances
        .iter()
        .filter(|u| u.start < hi && u.end > lo)
        .map(|u| u.bandwidth_hz)
        .fold(nyquist, f32::min)
}

/// Featurises `clean + noise` (same length, at `rate`), with band gains trained towards
/// `target`. `utterances` say where the clean track's recordings lie and the highest frequency
/// each really contains.
pub fn featurize(config: &ModelConfig, target: GainTarget, rate: f32, clean: &[f32], noise: &[f32], utterances: &[Utterance]) -> Sample {
    assert_eq!(clean.len(), noise.len());
    let size = StftSize::for_rate(rate, config.hop_ms);
    let centers = BandCenters::erb(config.n_bands, config.band_max_hz, config.band_min_spacing_hz);
    let layout = BandLayout::new(&centers, rate, size.fft);
    let mut planner = RealFftPlanner::new();
    let (mut ac, mut an) = (Analyzer::new(size, &mut planner), Analyzer::new(size, &mut planner));
    let mut extractor = FeatureExtractor::new(config, size.hop as f32 / rate);
    let df = config.df_order > 0;
    let nb = config.n_bands;
    let fine = config.fine_bins.min(size.bins());
    // Centre frequency of every gain the network predicts: the bands', then the fine bins'.
    let bin_hz = rate / size.fft as f32;
    let gain_hz: Vec<f32> = centers.0.iter().copied().chain((0..config.fine_bins).map(|k| k as f32 * bin_hz)).collect();
    let frames = clean.len() / size.hop;
    let (mut sc, mut sn, mut sm) = (
        vec![Complex32::default(); size.bins()],
        vec![Complex32::default(); size.bins()],
        vec![Complex32::default(); size.bins()],
    );
    let mut sm_prev = vec![Complex32::default(); size.bins()];
    let mut advance = vec![Complex32::default(); if df { fine } else { 0 }];
    let (mut pc, mut pm) = (vec![0.0; size.bins()], vec![0.0; size.bins()]);
    let (mut ec, mut em) = (vec![0.0; nb], vec![0.0; nb]);
    let mut feat = vec![0.0; config.n_features()];
    let comb = target == GainTarget::Comb;
    let track = config.pitch_features || config.pitch_strength || comb;
    let mut tracker = track.then(|| PitchTracker::new(size, rate, nb, 1, 0, &mut planner));
    let mut pitch_out = vec![0.0; if track { PitchTracker::output_len(nb) } else { 0 }];
    let mut band_sums = vec![[0.0; 5]; if config.pitch_strength { nb } else { 0 }];
    let mut mix_hop = vec![0.0; size.hop];
    // With the comb target: the clean speech's frame one period back, as the tracker takes the
    // mixture's, and each band's sums for `comb_target`.
    let mut clean_transform = comb.then(|| FrameTransform::new(size, &mut planner));
    let (mut clean_back, mut clean_back_frame) = (vec![Complex32::default(); size.bins()], vec![0.0; size.fft]);
    let mut comb_sums = vec![[0.0; 6]; if comb { nb } else { 0 }];
    let scale = 1.0 / size.fft as f32;
    let nyquist = rate / 2.0;

    let mut s = Sample {
        frames,
        features: Vec::with_capacity(frames * feat.len()),
        target: Vec::with_capacity(frames * gain_hz.len()),
        weight: Vec::with_capacity(frames * gain_hz.len()),
        vad: Vec::with_capacity(frames),
        df_mix: Vec::new(),
        df_clean: Vec::new(),
        band_to_fine: if df { band_to_fine(&layout, config.fine_bins) } else { Vec::new() },
        strength: Vec::with_capacity(if config.pitch_strength { frames * nb } else { 0 }),
        band_energy: Vec::with_capacity(frames * nb),
    };
    let mut clean_frame_energy = Vec::with_capacity(frames);
    for f in 0..frames {
        let r = f * size.hop..(f + 1) * size.hop;
        ac.push_hop(&clean[r.clone()], &mut sc);
        an.push_hop(&noise[r.clone()], &mut sn);
        for ((m, c), n) in sm.iter_mut().zip(&sc).zip(&sn) {
            *m = c + n;
        }
        pc.fill(0.0);
        pm.fill(0.0);
        accumulate_power(&sc, scale, &mut pc);
        accumulate_power(&sm, scale, &mut pm);
        layout.band_energies(&pc, &mut ec);
        layout.band_energies(&pm, &mut em);
        if df {
            advance.fill(Complex32::default());
            accumulate_phase_advance(&sm[..fine], &sm_prev[..fine], &mut advance);
            for k in 0..config.fine_bins {
                let (m, c) = if k < fine { (sm[k], sc[k]) } else { Default::default() };
                s.df_mix.extend([m.re, m.im]);
                s.df_clean.extend([c.re, c.im]);
            }
        }
        sm_prev.copy_from_slice(&sm);
        if let Some(tracker) = &mut tracker {
            for ((m, c), n) in mix_hop.iter_mut().zip(&clean[r.clone()]).zip(&noise[r.clone()]) {
                *m = c + n;
            }
            tracker.analyze(&[&mix_hop], &[&sm], &layout, &mut pitch_out);
            if config.pitch_strength {
                // The clean speech against the mixture and its frame one period back.
                strength_sums(&layout, &sc, &sm, tracker.delayed(0), &mut band_sums);
                s.strength.extend(band_sums.iter().map(|&sums| best_strength(sums)));
            }
            if let Some(transform) = &mut clean_transform {
                // The tracker's frame one period back ends `period` samples before this hop's end.
                let start = ((f + 1) * size.hop) as isize - (size.fft + tracker.period()) as isize;
                for (i, v) in clean_back_frame.iter_mut().enumerate() {
                    *v = usize::try_from(start + i as isize).ok().map_or(0.0, |j| clean[j]);
                }
                transform.forward(&clean_back_frame, &mut clean_back);
                let delayed = tracker.delayed(0);
                layout.pool(
                    |k| {
                        let (c, x, p, q) = (sc[k], sm[k], delayed[k], clean_back[k]);
                        [c.norm_sqr(), x.norm_sqr(), (x * p.conj()).re, p.norm_sqr(), (c * q.conj()).re, q.norm_sqr()]
                    },
                    &mut comb_sums,
                );
            }
        }
        extractor.compute(&em, &pm, &advance, &pitch_out[..config.pitch_inputs()], &mut feat);
        s.features.extend_from_slice(&feat);
        s.band_energy.extend_from_slice(&em);
        let ideal = |c: f32, m: f32| if m > 1e-12 { (c / m).sqrt().min(1.0) } else { 1.0 };
        if comb {
            s.target.extend((0..nb).map(|b| comb_target(comb_sums[b], ideal(ec[b], em[b]))));
        } else {
            s.target.extend((0..nb).map(|b| ideal(ec[b], em[b])));
        }
        s.target.extend((0..config.fine_bins).map(|k| if k < fine { ideal(pc[k], pm[k]) } else { 1.0 }));
        clean_frame_energy.push(pc.iter().sum::<f32>());
    }
    if df {
        let mean_power = s.df_mix.chunks_exact(2).map(|c| c[0] * c[0] + c[1] * c[1]).sum::<f32>() / (s.df_mix.len() / 2).max(1) as f32;
        let norm = 1.0 / (mean_power.sqrt() + 1e-9);
        s.df_mix.iter_mut().chain(s.df_clean.iter_mut()).for_each(|x| *x *= norm);
    }
    let mean_energy = s.band_energy.iter().map(|&e| e as f64).sum::<f64>() / s.band_energy.len().max(1) as f64;
    let norm = if mean_energy > 0.0 { (1.0 / mean_energy) as f32 } else { 0.0 };
    s.band_energy.iter_mut().for_each(|e| *e *= norm);
    let peak = clean_frame_energy.iter().cloned().fold(0.0f32, f32::max);
    let threshold = peak * 10f32.powf(-VAD_RANGE_DB / 10.0);
    s.vad = clean_frame_energy
        .iter()
        .map(|&e| if e > threshold && e > 1e-9 { 1.0 } else { 0.0 })
        .collect();
    // In pauses the filter would only comb the noise.
    for (row, &v) in s.strength.chunks_exact_mut(nb).zip(&s.vad) {
        if v < 0.5 {
            row.fill(0.0);
        }
    }
    for (f, &v) in s.vad.iter().enumerate() {
        // In speech, up to the bandwidth of the recordings in this hop's analysis window (which
        // spans the previous hop and this one); in pauses, up to Nyquist.
        let top = if v > 0.5 { bandwidth_over(utterances, f.saturating_sub(1) * size.hop, (f + 1) * size.hop, nyquist) } else { nyquist };
        s.weight.extend(gain_hz.iter().map(|&c| if c <= top { 1.0 } else { 0.0 }));
    }
    look_ahead(&mut s, config.lookahead, config.n_features());
    s
}

/// Pairs each hop's features with what is wanted `lookahead` hops earlier, as the engine plays
/// the gains predicted after hop t on hop t − `lookahead`: row i keeps the features of hop
/// i + `lookahead` and every other field of hop i. The sample is `lookahead` hops shorter.
fn look_ahead(s: &mut Sample, lookahead: usize, n_features: usize) {
    let lookahead = lookahead.min(s.frames);
    if lookahead == 0 {
        return;
    }
    let (before, frames) = (s.frames, s.frames - lookahead);
    s.features.drain(..lookahead * n_features);
    // Each field is frame-major with a fixed width (empty fields stay empty).
    for v in [&mut s.target, &mut s.weight, &mut s.vad, &mut s.df_mix, &mut s.df_clean, &mut s.strength, &mut s.band_energy] {
        v.truncate(v.len() / before * frames);
    }
    s.frames = frames;
}

/// n_bands × `fine_bins`: the share of each band's gain in each of the lowest bins (0 past the
/// last bin), from `BandLayout::bin_gains` on one band at a time.
fn band_to_fine(layout: &BandLayout, fine_bins: usize) -> Vec<f32> {
    let nb = layout.n_bands();
    let (mut one, mut bins) = (vec![0.0; nb], vec![0.0; layout.n_bins()]);
    let mut m = Vec::with_capacity(nb * fine_bins);
    for b in 0..nb {
        one.fill(0.0);
        one[b] = 1.0;
        layout.bin_gains(&one, &mut bins);
        m.extend((0..fine_bins).map(|k| bins.get(k).copied().unwrap_or(0.0)));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A 150 Hz voice (ten harmonics, falling in level) from a quarter of the way in, over
    /// `noise_rms` white noise, 2 s at `rate`; with its utterance.
    fn voice_in_noise(rate: f32, noise_rms: f32, seed: u64) -> (Vec<f32>, Vec<f32>, [Utterance; 1]) {
        let n = (2.0 * rate) as usize;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let clean: Vec<f32> = (0..n)
            .map(|i| {
                let t = i as f32 / rate;
                if i < n / 4 { 0.0 } else { (1..=10).map(|h| 0.1 / h as f32 * (std::f32::consts::TAU * 150.0 * h as f32 * t).sin()).sum() }
            })
            .collect();
        let noise: Vec<f32> = (0..n).map(|_| noise_rms * 3f32.sqrt() * rng.gen_range(-1.0..1.0)).collect();
        (clean, noise, [Utterance { start: n / 4, end: n, bandwidth_hz: rate / 2.0 }])
    }

    #[test]
    fn comb_targets_rise_where_the_comb_lifts_a_voice_and_match_elsewhere() {
        let rate = 16_000.0;
        let config = ModelConfig::default();
        let nb = config.n_bands;
        let (clean, noise, utterances) = voice_in_noise(rate, 0.05, 3);
        let plain = featurize(&config, GainTarget::Plain, rate, &clean, &noise, &utterances);
        let comb = featurize(&config, GainTarget::Comb, rate, &clean, &noise, &utterances);
        // Only the targets differ.
        assert_eq!(plain.features, comb.features);
        assert_eq!(plain.weight, comb.weight);
        // In the voice's frames (after the tracker has a period back to compare), the bands up
        // to 1.5 kHz, where its harmonics stand above the noise.
        let centres = BandCenters::erb(nb, config.band_max_hz, config.band_min_spacing_hz);
        let low: Vec<usize> = (0..nb).filter(|&b| centres.0[b] > 100.0 && centres.0[b] < 1500.0).collect();
        let (mut rise, mut cells) = (0.0, 0);
        for f in (plain.frames / 4 + 5)..plain.frames {
            for &b in &low {
                let (p, c) = (plain.target[f * nb + b], comb.target[f * nb + b]);
                assert!((0.0..=1.0).contains(&c), "comb target {c} out of range");
                rise += 20.0 * (c.max(1e-3) / p.max(1e-3)).log10();
                cells += 1;
            }
        }
        let rise = rise / cells as f32;
        assert!(rise > 0.1, "the comb target should sit above the plain one in a voice's bands, by {rise:.2} dB");
        // Before the voice (noise alone) the targets stay where they were, near 0.
        for f in 2..plain.frames / 4 - 2 {
            for b in 0..nb {
                let (p, c) = (plain.target[f * nb + b], comb.target[f * nb + b]);
                assert!((c - p).abs() < 0.05, "frame {f} band {b}: noise alone, comb target {c} against {p}");
            }
        }
        // With no noise there is nothing for the comb to lift: every target stays at 1.
        let silent = vec![0.0; noise.len()];
        let clean_only = featurize(&config, GainTarget::Comb, rate, &clean, &silent, &utterances);
        for f in plain.frames / 4 + 5..plain.frames {
            for b in &low {
                let c = clean_only.target[f * nb + b];
                assert!(c > 0.99, "clean voice, band {b}: comb target {c}");
            }
        }
    }

    #[test]
    fn comb_target_is_the_plain_target_without_periodicity_and_1_for_a_clean_periodic_band() {
        // No correlation a period back: no filter, the plain target whatever the sums.
        assert_eq!(comb_target([1.0, 4.0, 0.0, 4.0, 0.5, 1.0], 0.5), 0.5);
        // Speech alone and fully periodic (X = S, P = P_S): the filter keeps it whole.
        let g = comb_target([1.0, 1.0, 1.0, 1.0, 1.0, 1.0], 1.0);
        assert!(g > 0.999, "{g}");
        // A periodic voice at 0 dB in noise that does not repeat: |S|² = 1 and |X|² = 2 give
        // the plain target √½; the comb adds S and P_S in phase and the noise not, so the
        // target is higher, and it is its own fixed point.
        let (es, ex, cross, ep, cs, eps) = (1.0, 2.0, 1.0, 2.0, 1.0, 1.0);
        let g = comb_target([es, ex, cross, ep, cs, eps], 0.5f32.sqrt());
        assert!(g > 0.5f32.sqrt() + 0.02, "{g}");
        let e = periodicity(cross, ex, ep);
        let r = rule_strength(e, g) * (ex / ep).sqrt();
        let again = ((es + 2.0 * r * cs + r * r * eps) / (ex + 2.0 * r * cross + r * r * ep)).sqrt();
        assert!((again - g).abs() < 1e-3, "{again} vs {g}");
    }

    #[test]
    fn lookahead_pairs_each_hops_features_with_the_targets_of_hops_before() {
        let rate = 16_000.0;
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let n = 16_000;
        // A voice-like tone that starts half-way, in noise.
        let clean: Vec<f32> = (0..n).map(|i| if i > n / 2 { 0.3 * (i as f32 * 0.05).sin() } else { 0.0 }).collect();
        let noise: Vec<f32> = (0..n).map(|_| rng.gen_range(-0.05..0.05)).collect();
        let utterances = [Utterance { start: n / 2, end: n, bandwidth_hz: 8_000.0 }];
        let config = ModelConfig { pitch_features: true, pitch_strength: true, ..ModelConfig::default() };
        let now = featurize(&config, GainTarget::Plain, rate, &clean, &noise, &utterances);
        for lookahead in [1, 2] {
            let ahead = featurize(&ModelConfig { lookahead, ..config.clone() }, GainTarget::Plain, rate, &clean, &noise, &utterances);
            assert_eq!(ahead.frames, now.frames - lookahead);
            let (nf, ng, nb) = (config.n_features(), config.n_gains(), config.n_bands);
            assert_eq!(ahead.features, now.features[lookahead * nf..]);
            assert_eq!(ahead.target, now.target[..ahead.frames * ng]);
            assert_eq!(ahead.weight, now.weight[..ahead.frames * ng]);
            assert_eq!(ahead.vad, now.vad[..ahead.frames]);
            assert_eq!(ahead.strength, now.strength[..ahead.frames * nb]);
            assert_eq!(ahead.band_energy, now.band_energy[..ahead.frames * nb]);
        }
        // Not trivially: the hops differ, and the onset makes speech and pause frames.
        let nf = config.n_features();
        assert_ne!(now.features[..nf], now.features[nf..2 * nf]);
        assert!(now.vad.contains(&1.0) && now.vad.contains(&0.0));
    }
}
