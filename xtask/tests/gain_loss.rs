//! The gain loss weighs what it is asked to: speech turned down counts `over_suppression` times,
//! noise left in counts once, and bands and fine bins are averaged separately.

use candle_core::{Device, Tensor};
use lull::model::ModelConfig;
use xtask::train::{gain_loss, Asymmetry, Batch};

/// Two hops (speech, then a pause), two bands and one fine bin, every target 0.64.
fn batch(config: &ModelConfig) -> Batch {
    let n = config.n_gains();
    let t = |v: Vec<f32>, shape: &[usize]| Tensor::from_vec(v, shape, &Device::Cpu).unwrap();
    Batch {
        features: t(vec![0.0; 2 * config.n_features()], &[1, 2, config.n_features()]),
        target: t(vec![0.64; 2 * n], &[1, 2, n]),
        weight: t(vec![1.0; 2 * n], &[1, 2, n]),
        vad: t(vec![1.0, 0.0], &[1, 2]),
        band_energy: t(vec![1.0; 2 * config.n_bands], &[1, 2, config.n_bands]),
        df: None,
        strength: None,
    }
}

fn loss_at(gain: f32, over_suppression: f64) -> f32 {
    loss_with(gain, Asymmetry::uniform(over_suppression))
}

fn loss_with(gain: f32, asymmetry: Asymmetry) -> f32 {
    let config = ModelConfig { n_bands: 2, fine_bins: 1, ..ModelConfig::default() };
    let b = batch(&config);
    let gains = Tensor::full(gain, (1, 2, config.n_gains()), &Device::Cpu).unwrap();
    gain_loss(&gains, &b, &config, asymmetry).unwrap().to_scalar::<f32>().unwrap()
}

#[test]
fn over_suppression_weighs_speech_turned_down_and_nothing_else() {
    // √0.36 − √0.64 = −0.2: too low in both hops. The speech hop counts 3×, the pause once.
    let (sym, asym) = (loss_at(0.36, 1.0), loss_at(0.36, 3.0));
    assert!(sym > 0.0);
    assert!((asym / sym - 2.0).abs() < 1e-4, "{asym} / {sym}");
    // √1 − √0.64 = +0.2: too high; the factor does not apply.
    let (sym, asym) = (loss_at(1.0, 1.0), loss_at(1.0, 3.0));
    assert!(sym > 0.0 && (asym - sym).abs() < 1e-6, "{asym} vs {sym}");
}

#[test]
fn under_suppression_weighs_noise_left_in_where_noise_dominates_and_nothing_else() {
    let under = |gain: f32, target: f32, factor: f64| {
        let config = ModelConfig { n_bands: 2, fine_bins: 1, ..ModelConfig::default() };
        let mut b = batch(&config);
        b.target = Tensor::full(target, (1, 2, config.n_gains()), &Device::Cpu).unwrap();
        let gains = Tensor::full(gain, (1, 2, config.n_gains()), &Device::Cpu).unwrap();
        gain_loss(&gains, &b, &config, Asymmetry { under: factor, ..Asymmetry::SYMMETRIC }).unwrap().to_scalar::<f32>().unwrap()
    };
    // Target 0.16 (noise dominates): a gain of 0.36 leaves noise in and counts 3×, in the
    // speech hop and the pause alike; a gain of 0.04 (too low) counts once.
    assert!(under(0.36, 0.16, 1.0) > 0.0);
    assert!((under(0.36, 0.16, 3.0) / under(0.36, 0.16, 1.0) - 3.0).abs() < 1e-4);
    assert!((under(0.04, 0.16, 3.0) - under(0.04, 0.16, 1.0)).abs() < 1e-7);
    // Target 0.64 (speech dominates): too high counts once.
    assert!((under(1.0, 0.64, 3.0) - under(1.0, 0.64, 1.0)).abs() < 1e-7);
}

#[test]
fn by_target_scales_the_extra_charge_by_the_target_gain() {
    // Too low in both hops, as above. With factor 3 scaled by the 0.64 target, the speech hop
    // counts 1 + 2 · 0.64 = 2.28 times, the pause once: (2.28 + 1) / 2 = 1.64 × symmetric.
    let sym = loss_at(0.36, 1.0);
    let scaled = loss_with(0.36, Asymmetry { by_target: true, ..Asymmetry::uniform(3.0) });
    assert!((scaled / sym - 1.64).abs() < 1e-4, "{scaled} / {sym}");
    // Too high: nothing changes.
    let (sym, scaled) = (loss_at(1.0, 1.0), loss_with(1.0, Asymmetry { by_target: true, ..Asymmetry::uniform(3.0) }));
    assert!((scaled - sym).abs() < 1e-6, "{scaled} vs {sym}");
}

#[test]
fn bands_and_fine_bins_are_averaged_separately() {
    // Error e = 0.2 on every gain: per gain e² + 10 e⁴ = 0.056. Each group's mean is
    // 0.056 · count / (count + 1) (the +1 guards against an all-masked batch).
    let per = 0.04f32 + 10.0 * 0.0016;
    let expected = per * 4.0 / 5.0 + per * 2.0 / 3.0;
    let got = loss_at(1.0, 1.0);
    assert!((got - expected).abs() < 1e-4, "{got} vs {expected}");
}

#[test]
fn high_band_factor_applies_to_the_bands_from_8_khz_up_only() {
    // Every gain too low (√0.36 − √0.64) in a speech hop and a pause. Symmetric elsewhere,
    // factor 3 on the k bands centred at ≥ 8 kHz: the speech hop costs 32 + 2k band errors
    // instead of 32, the pause 32 either way, so the loss is (64 + 2k) / 64 of the symmetric one.
    let config = ModelConfig { fine_bins: 1, ..ModelConfig::default() };
    let centres = lull::dsp::bands::BandCenters::erb(config.n_bands, config.band_max_hz, config.band_min_spacing_hz);
    let k = centres.0.iter().filter(|&&c| c >= xtask::train::HIGH_BAND_HZ).count();
    assert!((5..=12).contains(&k), "{k} bands from 8 kHz up");
    let b = batch(&config);
    let gains = Tensor::full(0.36f32, (1, 2, config.n_gains()), &Device::Cpu).unwrap();
    let at = |a: Asymmetry| gain_loss(&gains, &b, &config, a).unwrap().to_scalar::<f32>().unwrap();
    let (sym, high) = (at(Asymmetry::SYMMETRIC), at(Asymmetry { high: 3.0, ..Asymmetry::SYMMETRIC }));
    // The fine bin's group (one bin, both hops, its own mean) is untouched: subtract it.
    let per = 0.04f32 + 10.0 * 0.0016;
    let fine = per * 2.0 / 3.0;
    let n = config.n_bands as f32;
    let expected = (sym - fine) * (2.0 * n + 2.0 * k as f32) / (2.0 * n) + fine;
    assert!((high - expected).abs() < 1e-5, "{high} vs {expected} (symmetric {sym})");
}

#[test]
fn gain_powers_apply_in_speech_frames_to_their_bands_only() {
    // Every gain 0.36 against a target of 0.64, in a speech hop and a pause. With power 2 on
    // the k bands centred at ≥ 8 kHz, their error in the speech hop is 0.36² − 0.64² = −0.28
    // instead of √0.36 − √0.64 = −0.2; the pause, every other band and the fine bin keep the √.
    let config = ModelConfig { fine_bins: 1, ..ModelConfig::default() };
    let centres = lull::dsp::bands::BandCenters::erb(config.n_bands, config.band_max_hz, config.band_min_spacing_hz);
    let k = centres.0.iter().filter(|&&c| c >= xtask::train::HIGH_BAND_HZ).count() as f32;
    let b = batch(&config);
    let gains = Tensor::full(0.36f32, (1, 2, config.n_gains()), &Device::Cpu).unwrap();
    let at = |a: Asymmetry| gain_loss(&gains, &b, &config, a).unwrap().to_scalar::<f32>().unwrap();
    let (sqrt, energy) = (at(Asymmetry::SYMMETRIC), at(Asymmetry { high_power: 2.0, ..Asymmetry::SYMMETRIC }));
    let per = |e: f32| e * e + 10.0 * e.powi(4);
    let fine = per(0.2) * 2.0 / 3.0;
    let n = config.n_bands as f32;
    let expected = (sqrt - fine) * ((2.0 * n - k) * per(0.2) + k * per(0.28)) / (2.0 * n * per(0.2)) + fine;
    assert!((energy - expected).abs() < 1e-5, "{energy} vs {expected} (√ everywhere {sqrt})");
    // Power 1 below 8 kHz instead: amplitude error 0.28 in the speech hop's other bands and
    // its fine bin.
    let amplitude = at(Asymmetry { power: 1.0, ..Asymmetry::SYMMETRIC });
    let expected = (sqrt - fine) * ((n - k) * per(0.28) + (n + k) * per(0.2)) / (2.0 * n * per(0.2)) + (per(0.28) + per(0.2)) / 3.0;
    assert!((amplitude - expected).abs() < 1e-5, "{amplitude} vs {expected} (√ everywhere {sqrt})");
    // Back at the default power the loss is the √ one exactly.
    assert_eq!(at(Asymmetry { high_power: xtask::train::GAIN_POWER, ..Asymmetry::SYMMETRIC }), sqrt);
}

#[test]
fn loudness_weight_weighs_the_bands_below_8_khz_by_their_energy_and_nothing_else() {
    // Default 32 bands, no fine bins. One speech hop and one pause, every target 0.64; the
    // mixture's band 0 holds 4× the energy of every other band. One band at a time is given
    // a gain of 0.36 (√ error −0.2), the rest sit on target.
    let config = ModelConfig::default();
    let n = config.n_bands;
    let centres = lull::dsp::bands::BandCenters::erb(n, config.band_max_hz, config.band_min_spacing_hz);
    let low = centres.0.iter().take_while(|&&c| c < xtask::train::HIGH_BAND_HZ).count();
    assert!(low >= 2 && low < n, "{low} of {n} bands below 8 kHz");
    let mut b = batch(&config);
    let energy: Vec<f32> = (0..2).flat_map(|_| (0..n).map(|i| if i == 0 { 4.0 } else { 1.0 })).collect();
    b.band_energy = Tensor::from_vec(energy, (1, 2, n), &Device::Cpu).unwrap();
    let wrong_in = |band: usize, loudness: f64| {
        let g: Vec<f32> = (0..2).flat_map(|_| (0..n).map(move |i| if i == band { 0.36 } else { 0.64 })).collect();
        let gains = Tensor::from_vec(g, (1, 2, n), &Device::Cpu).unwrap();
        gain_loss(&gains, &b, &config, Asymmetry { loudness, ..Asymmetry::SYMMETRIC }).unwrap().to_scalar::<f32>().unwrap()
    };
    // Off: every band alike.
    let plain = wrong_in(0, 0.0);
    assert!(plain > 0.0);
    assert!((wrong_in(1, 0.0) - plain).abs() < 1e-7);
    // Exponent 0.5: the loud band weighs √4 = 2× a quiet one below 8 kHz. The weights have a
    // mean of 1 over those bands: (2 + (low − 1)) · w = low.
    let w = low as f32 / (low as f32 + 1.0);
    assert!((wrong_in(0, 0.5) / plain - 2.0 * w).abs() < 1e-4, "loud band: {} vs {plain}", wrong_in(0, 0.5));
    assert!((wrong_in(1, 0.5) / plain - w).abs() < 1e-4, "quiet band: {} vs {plain}", wrong_in(1, 0.5));
    // The top band is not weighed.
    assert!((wrong_in(n - 1, 0.5) - wrong_in(n - 1, 0.0)).abs() < 1e-7);
}

#[test]
fn the_fourth_power_term_weighs_large_errors_by_its_weight() {
    // Every gain off by √0.36 − √0.64 = −0.2 in a pause or symmetric: squared error 0.04,
    // fourth power 0.0016, so the term adds weight · 0.04 of the squared error's own loss.
    let with = |w: f64| loss_with(0.36, Asymmetry { fourth_power: w, ..Asymmetry::SYMMETRIC });
    let squared = with(0.0);
    assert!(squared > 0.0);
    for w in [1.0, 10.0, 100.0] {
        let added = (with(w) - squared) / squared;
        assert!((added - 0.04 * w as f32).abs() < 1e-3 * (1.0 + w as f32), "weight {w}: {added}");
    }
    // Off by 0.1 instead: the term adds a quarter as much, relative to the squared error.
    let near = |w: f64| loss_with(0.49, Asymmetry { fourth_power: w, ..Asymmetry::SYMMETRIC });
    let added = (near(10.0) - near(0.0)) / near(0.0);
    assert!((added - 0.1).abs() < 2e-3, "{added}");
    // SYMMETRIC, the unit tests' base, keeps RNNoise's 10 (the CLI's default is 0).
    assert_eq!(Asymmetry::SYMMETRIC.fourth_power, 10.0);
}
