//! Where a model's quality is lost: per SNR, PESQ-WB of the noisy input, of Lull, and of the
//! *ideal* band gains (√(E_clean/E_mix) per band, the training target, applied through the same
//! STFT and band layout), plus the model's mean gain error per band in speech frames (dB,
//! negative = speech turned down). The ideal gains are the ceiling of a band-gain denoiser; the
//! per-band bias shows where the model falls short of it. SNR 60 stands for clean speech.
//! A second line splits the ceiling: PESQ-WB with the ideal gains in only part of the
//! spectrogram (speech frames, pauses, cells where the ideal gain is ≥ 0.5 or < 0.5, the two
//! lowest bands) and the model's gains everywhere else, which says where the missing quality is.
//! A third splits the model's mean gain error below 8 kHz by time since the utterance began
//! (does it hedge onsets, or more the longer a voice runs on?).
//!
//! `cargo run --release -p xtask --example gain_probe -- weights/lull.safetensors [mixtures] [corpus dir] [SNRs, e.g. 15,20,30,40,60] [noise class, e.g. white] [--voice NAME]`
//!
//! Beside Lull, nnnoiseless (RNNoise) on the same mixtures, and for both the output's energy per
//! band against the clean speech's in speech frames (dB; below 0 = speech turned down or, where
//! noise is left in, above), which says in which bands the two differ.
//!
//! With a noise class (recorded, white, pink, brown, hum, fan, babble), only mixtures whose
//! (louder) noise is of that class count: the evaluation's seeds are walked until enough match.
use lull::dsp::bands::{BandCenters, BandLayout};
use lull::dsp::stft::{Analyzer, StftSize, Synthesizer};
use lull::model::Model;
use rand::{rngs::StdRng, SeedableRng};
use realfft::{num_complex::Complex32, RealFftPlanner};
use xtask::corpus::{NoiseChoice, NoiseClass};
use xtask::featurize::{featurize, GainTarget};
use xtask::metrics::{pesq_wb, si_sdr};
use xtask::train::HIGH_BAND_HZ;

/// The model's band centres, as the engine builds them.
fn band_centres(model: &Model) -> BandCenters {
    let cfg = model.config();
    BandCenters::erb(cfg.n_bands, cfg.band_max_hz, cfg.band_min_spacing_hz)
}

/// The model's STFT size and band layout at `rate`, as the engine builds them.
fn stft_and_bands(model: &Model, rate: f32) -> (StftSize, BandLayout) {
    let size = StftSize::for_rate(rate, model.config().hop_ms);
    (size, BandLayout::new(&band_centres(model), rate, size.fft))
}

/// `x` through the analysis/synthesis STFT with per-hop band gains (frame-major, `n_head` per
/// hop; only the bands are used), floored at `floor`. Output aligned with the input.
fn apply(model: &Model, x: &[f32], rate: f32, gains: &[f32], floor: f32) -> Vec<f32> {
    let cfg = model.config();
    let (size, layout) = stft_and_bands(model, rate);
    let mut p = RealFftPlanner::new();
    let (mut a, mut s) = (Analyzer::new(size, &mut p), Synthesizer::new(size, &mut p));
    let mut spec = vec![Complex32::default(); size.bins()];
    let mut bg = vec![0.0; size.bins()];
    let mut out = vec![0.0; x.len() + size.hop];
    let mut xp = x.to_vec();
    xp.resize(x.len() + size.hop, 0.0);
    let nh = cfg.n_head();
    for (f, (i, o)) in xp.chunks_exact(size.hop).zip(out.chunks_exact_mut(size.hop)).enumerate() {
        a.push_hop(i, &mut spec);
        let g: Vec<f32> = gains.get(f * nh..f * nh + cfg.n_bands).map(|g| g.iter().map(|v| v.max(floor)).collect()).unwrap_or(vec![1.0; cfg.n_bands]);
        layout.bin_gains(&g, &mut bg);
        spec.iter_mut().zip(&bg).for_each(|(x, g)| *x *= *g);
        s.push_spectrum(&mut spec, o);
    }
    out[size.hop..].to_vec()
}

/// Band energies of `x` per hop (frame-major), with the model's STFT and band layout.
fn band_energies(model: &Model, x: &[f32], rate: f32) -> Vec<f32> {
    let (size, layout) = stft_and_bands(model, rate);
    let mut a = Analyzer::new(size, &mut RealFftPlanner::new());
    let mut spec = vec![Complex32::default(); size.bins()];
    let mut e = vec![0.0; layout.n_bands()];
    let mut out = Vec::new();
    for hop in x.chunks_exact(size.hop) {
        a.push_hop(hop, &mut spec);
        let power: Vec<f32> = spec.iter().map(|c| c.norm_sqr()).collect();
        layout.band_energies(&power, &mut e);
        out.extend_from_slice(&e);
    }
    out
}

/// Upper ends of the time-into-utterance slots (s) of the bias-by-age line.
const AGES: [f32; 5] = [0.25, 0.5, 1.0, 2.0, f32::INFINITY];

fn main() -> anyhow::Result<()> {
    let xtask::probe::ProbeArgs { model, mixtures: n, source, snrs, rest } = xtask::probe::args("gain_probe", "[NOISE_CLASS]")?;
    let class = rest.first().map(String::as_str);
    let cfg = model.config().clone();
    let rate = 48_000u32;
    let len = 4 * rate as usize;
    let floor = 10f32.powf(-30.0 / 20.0);
    let nb = cfg.n_bands;
    // The by-age split looks at the bands below the loss's high-band boundary only.
    let below_high: Vec<bool> = band_centres(&model).0.iter().map(|&c| c < HIGH_BAND_HZ).collect();
    let hop = stft_and_bands(&model, rate as f32).0.hop;
    for snr in snrs {
        let (mut pn, mut pl, mut po, mut pp, mut sl, mut so) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        let mut bias = vec![(0.0f64, 0usize); nb];
        let mut abserr = 0.0f64;
        let mut nerr = 0usize;
        let mut used = 0;
        let mut split = [0.0f64; 5];
        let mut prn = 0.0;
        // Per band, speech frames: summed energy of clean, Lull's and nnnoiseless's output.
        let mut energy = vec![[0.0f64; 3]; nb];
        // Mean gain error (dB) in speech frames by time since the utterance began, bands below
        // `HIGH_BAND_HZ`: does the model hedge more the longer a voice runs on?
        let mut by_age = [(0.0f64, 0usize); AGES.len()];
        for i in 0..n * 200 {
            if used == n {
                break;
            }
            let mut rng = StdRng::seed_from_u64(7 ^ i as u64);
            let (ex, c): (_, NoiseClass) = source.mix_labelled(&mut rng, rate, len, snr, -26.0, NoiseChoice::Any);
            if class.is_some_and(|want| want != c.name()) {
                continue;
            }
            used += 1;
            let noisy: Vec<f32> = ex.clean.iter().zip(&ex.noise).map(|(c, n)| c + n).collect();
            let s = featurize(&cfg, GainTarget::Plain, rate as f32, &ex.clean, &ex.noise, &ex.utterances);
            let mut state = model.new_state();
            let mut head = vec![0.0; cfg.n_head()];
            let mut pred = Vec::new();
            for f in 0..s.frames {
                model.step(&mut state, &s.features[f * cfg.n_features()..(f + 1) * cfg.n_features()], &mut head);
                pred.extend_from_slice(&head);
            }
            let nh = cfg.n_head();
            for f in 0..s.frames {
                if s.vad[f] < 0.5 { continue; }
                for b in 0..nb {
                    let k = f * nh + b;
                    if s.weight[k] < 0.5 { continue; }
                    let (p, t) = (pred[k].max(floor), s.target[k].max(floor));
                    let d = 20.0 * (p / t).log10() as f64;
                    bias[b].0 += d;
                    bias[b].1 += 1;
                    abserr += d.abs();
                    nerr += 1;
                    if !below_high[b] { continue; }
                    let centre = f * hop;
                    if let Some(u) = ex.utterances.iter().find(|u| u.start <= centre && centre < u.end) {
                        let age = (centre - u.start) as f32 / rate as f32;
                        let slot = AGES.iter().position(|&a| age < a).unwrap_or(AGES.len() - 1);
                        by_age[slot].0 += d;
                        by_age[slot].1 += 1;
                    }
                }
            }
            let lull = xtask::eval::run_lull(&model, &noisy, rate, 30.0, xtask::eval::Stages::PLUGIN)?;
            let rn = xtask::eval::run_rnnoise(&noisy, rate);
            prn += pesq_wb(&ex.clean, &rn, rate)?;
            let bands = [&ex.clean, &lull, &rn].map(|x| band_energies(&model, x, rate as f32));
            for f in 0..s.frames.min(bands[0].len() / nb) {
                if s.vad[f] < 0.5 { continue; }
                for (b, e) in energy.iter_mut().enumerate() {
                    for (acc, x) in e.iter_mut().zip(&bands) {
                        *acc += x[f * nb + b] as f64;
                    }
                }
            }
            let oracle = apply(&model, &noisy, rate as f32, &s.target, floor);
            let predo = apply(&model, &noisy, rate as f32, &pred, floor);
            // Oracle splits: where is the gap to the ideal gains, in speech frames or in pauses,
            // in bands the speech dominates or in bands the noise does?
            let splice = |take: &dyn Fn(usize, usize) -> bool| -> Vec<f32> {
                let mut g = pred.clone();
                for f in 0..s.frames {
                    for b in 0..nb {
                        let k = f * nh + b;
                        if take(f, k) {
                            g[k] = s.target[k];
                        }
                    }
                }
                apply(&model, &noisy, rate as f32, &g, floor)
            };
            let o_speech = splice(&|f, _| s.vad[f] >= 0.5);
            let o_pause = splice(&|f, _| s.vad[f] < 0.5);
            let o_high = splice(&|_, k| s.target[k] >= 0.5);
            let o_low = splice(&|_, k| s.target[k] < 0.5);
            let o_bottom = splice(&|_, k| k % nh < 2);
            for (acc, y) in split.iter_mut().zip([&o_speech, &o_pause, &o_high, &o_low, &o_bottom]) {
                *acc += pesq_wb(&ex.clean, y, rate)?;
            }
            pn += pesq_wb(&ex.clean, &noisy, rate)?;
            pl += pesq_wb(&ex.clean, &lull, rate)?;
            po += pesq_wb(&ex.clean, &oracle, rate)?;
            pp += pesq_wb(&ex.clean, &predo, rate)?;
            sl += si_sdr(&ex.clean, &lull);
            so += si_sdr(&ex.clean, &oracle);
        }
        anyhow::ensure!(used > 0, "no mixture with noise class {class:?} among {} seeds", n * 200);
        let k = used as f64;
        println!("snr {snr:>4}: PESQ noisy {:.3} nnnoiseless {:.3} lull {:.3} pred-norelease {:.3} oracle {:.3} | SI-SDR lull {:.2} oracle {:.2} | speech-frame gain err mean|dB| {:.2}", pn / k, prn / k, pl / k, pp / k, po / k, sl / k, so / k, abserr / nerr.max(1) as f64);
        println!("   oracle only in: speech frames {:.3}, pauses {:.3}, cells with ideal gain >= 0.5 {:.3}, < 0.5 {:.3}, two lowest bands {:.3}", split[0] / k, split[1] / k, split[2] / k, split[3] / k, split[4] / k);
        let a: Vec<String> = AGES.iter().zip(&by_age).map(|(a, (s, c))| format!("<{a} s {:+.2} ({c})", s / (*c).max(1) as f64)).collect();
        println!("   bias dB below 8 kHz by time into the utterance: {}", a.join(", "));
        let b: Vec<String> = bias.iter().map(|(s, c)| format!("{:+.1}", s / (*c).max(1) as f64)).collect();
        println!("   bias dB per band (speech frames): {}", b.join(" "));
        let ratio = |i: usize| -> String { energy.iter().map(|e| format!("{:+.1}", 10.0 * (e[i] / e[0].max(1e-30)).log10())).collect::<Vec<_>>().join(" ") };
        println!("   output/clean dB per band (speech frames), lull:        {}", ratio(1));
        println!("   output/clean dB per band (speech frames), nnnoiseless: {}", ratio(2));
    }
    Ok(())
}
