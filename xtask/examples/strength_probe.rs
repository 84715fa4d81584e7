//! How much the pitch filter's strength could give if it were known: per SNR, PESQ-WB of the
//! model's band gains (with the engine's release and a 30 dB floor) applied
//! - alone (no pitch filter),
//! - with the engine's pitch filter (RNNoise's strength, `PitchTracker::filter_gains`),
//! - with the best strength per band and frame against the clean speech (`best_strength`, the
//!   training target of `--pitch-strength`), through the engine's filter: the ceiling of a
//!   network that predicts the strength (in pauses too, where training asks for none),
//! - the ideal band gains alone (the training target),
//! - and the least-squares direct and delayed gains per band (`dY + pP` closest to the clean
//!   spectrum). Two free coefficients fitted to the clean speech over the few bins of a low
//!   band reproduce much of it whatever the filter, so this is an oracle's overfit, not a
//!   ceiling any network could reach.
//!
//! `cargo run --release -p xtask --example strength_probe -- weights/lull.safetensors [mixtures] [corpus dir] [SNRs]`
use lull::dsp::bands::{BandCenters, BandLayout};
use lull::dsp::pitch::{best_strength, strength_sums, PitchTracker};
use lull::dsp::stft::{Analyzer, StftSize, Synthesizer};
use rand::{rngs::StdRng, SeedableRng};
use realfft::{num_complex::Complex32, RealFftPlanner};
use xtask::corpus::NoiseChoice;
use xtask::featurize::{featurize, GainTarget};
use xtask::metrics::pesq_wb;

const RELEASE: f32 = 0.6;
const VARIANTS: [&str; 5] = ["no filter", "engine filter", "best strength", "ideal gains", "LS two-tap"];

fn main() -> anyhow::Result<()> {
    let xtask::probe::ProbeArgs { model, mixtures: n, source, snrs, .. } = xtask::probe::args("strength_probe", "")?;
    let cfg = model.config().clone();
    let rate = 48_000u32;
    let len = 4 * rate as usize;
    let floor = 10f32.powf(-30.0 / 20.0);
    let nb = cfg.n_bands;
    let size = StftSize::for_rate(rate as f32, cfg.hop_ms);
    let centers = BandCenters::erb(nb, cfg.band_max_hz, cfg.band_min_spacing_hz);
    let layout = BandLayout::new(&centers, rate as f32, size.fft);
    let bins = size.bins();
    for snr in snrs {
        let mut pesq = [0.0f64; VARIANTS.len() + 1];
        for i in 0..n {
            let mut rng = StdRng::seed_from_u64(7 ^ i as u64);
            let ex = source.mix(&mut rng, rate, len, snr, -26.0, NoiseChoice::Any);
            let noisy: Vec<f32> = ex.clean.iter().zip(&ex.noise).map(|(c, n)| c + n).collect();
            let s = featurize(&cfg, GainTarget::Plain, rate as f32, &ex.clean, &ex.noise, &ex.utterances);
            let mut state = model.new_state();
            let mut head = vec![0.0; cfg.n_head()];
            let mut planner = RealFftPlanner::new();
            let (mut an, mut ac) = (Analyzer::new(size, &mut planner), Analyzer::new(size, &mut planner));
            let mut synth: Vec<Synthesizer> = (0..VARIANTS.len()).map(|_| Synthesizer::new(size, &mut planner)).collect();
            let mut tracker = PitchTracker::new(size, rate as f32, nb, 1, 0, &mut planner);
            let mut pitch_out = vec![0.0; PitchTracker::output_len(nb)];
            let (mut y, mut x) = (vec![Complex32::default(); bins], vec![Complex32::default(); bins]);
            let mut z = vec![Complex32::default(); bins];
            let (mut gd, mut gp) = (vec![0.0; bins], vec![0.0; bins]);
            let (mut direct, mut delayed) = (vec![0.0; nb], vec![0.0; nb]);
            let mut prev = vec![0.0f32; nb];
            let mut g = vec![0.0; nb];
            let mut sums = vec![[0.0f32; 5]; nb];
            let mut best = vec![0.0f32; nb];
            let mut outs = vec![vec![0.0f32; len + size.hop]; VARIANTS.len()];
            let (mut np, mut cp) = (noisy.clone(), ex.clean.clone());
            np.resize(len + size.hop, 0.0);
            cp.resize(len + size.hop, 0.0);
            for f in 0..(len + size.hop) / size.hop {
                let r = f * size.hop..(f + 1) * size.hop;
                an.push_hop(&np[r.clone()], &mut y);
                ac.push_hop(&cp[r.clone()], &mut x);
                tracker.analyze(&[&np[r.clone()]], &[&y], &layout, &mut pitch_out);
                let p = tracker.delayed(0);
                if f < s.frames {
                    model.step(&mut state, &s.features[f * cfg.n_features()..(f + 1) * cfg.n_features()], &mut head);
                } else {
                    head.fill(1.0);
                }
                for b in 0..nb {
                    let v = head[b].max(prev[b] * RELEASE);
                    prev[b] = v;
                    g[b] = v.max(floor).min(1.0);
                }
                // Per band, with X the clean speech and Y the mixture: Re X·Y*, Re X·P*, |Y|², |P|², Re Y·P*.
                strength_sums(&layout, &x, &y, p, &mut sums);
                for (v, out) in outs.iter_mut().enumerate() {
                    match v {
                        0 => {
                            direct.copy_from_slice(&g);
                            delayed.fill(0.0);
                        }
                        1 => tracker.filter_gains(0, &g, None, &mut direct, &mut delayed),
                        2 => {
                            for (r, &sums) in best.iter_mut().zip(&sums) {
                                *r = best_strength(sums);
                            }
                            tracker.filter_gains(0, &g, Some(&best), &mut direct, &mut delayed);
                        }
                        3 => {
                            let k = f.min(s.frames.saturating_sub(1)) * cfg.n_head();
                            for (b, d) in direct.iter_mut().enumerate().take(nb) {
                                *d = if f < s.frames { s.target[k + b].max(floor) } else { 1.0 };
                            }
                            delayed.fill(0.0);
                        }
                        _ => {
                            for b in 0..nb {
                                let [xy, xp, yy, pp, yp] = sums[b];
                                let det = yy * pp - yp * yp;
                                (direct[b], delayed[b]) = if det > 1e-6 * yy * pp && det > 1e-30 {
                                    ((xy * pp - xp * yp) / det, (xp * yy - xy * yp) / det)
                                } else if yy > 1e-20 {
                                    ((xy / yy).clamp(0.0, 1.0), 0.0)
                                } else {
                                    (1.0, 0.0)
                                };
                            }
                        }
                    }
                    layout.bin_gains(&direct, &mut gd);
                    layout.bin_gains(&delayed, &mut gp);
                    for k in 0..bins {
                        z[k] = y[k] * gd[k] + p[k] * gp[k];
                    }
                    synth[v].push_spectrum(&mut z, &mut out[r.clone()]);
                }
            }
            pesq[0] += pesq_wb(&ex.clean, &noisy, rate)?;
            for (v, out) in outs.iter().enumerate() {
                pesq[v + 1] += pesq_wb(&ex.clean, &out[size.hop..size.hop + len], rate)?;
            }
        }
        let cells: Vec<String> = std::iter::once("noisy").chain(VARIANTS).zip(&pesq).map(|(name, p)| format!("{name} {:.3}", p / n as f64)).collect();
        println!("snr {snr:>4}: PESQ-WB {}", cells.join(", "));
    }
    Ok(())
}
