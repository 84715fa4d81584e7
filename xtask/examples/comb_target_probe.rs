//! How far the comb target (`GainTarget::Comb`) moves the band gains' training target from the
//! plain one, on test mixtures at 48 kHz: per SNR, in speech frames, the mean change in dB and
//! the shares of (frame, band) cells it moves up and down by more than 0.5 dB, below and above 2 kHz.
//!
//! `cargo run --release -p xtask --example comb_target_probe -- weights/lull.safetensors [mixtures] [corpus dir] [SNRs]`
use lull::dsp::bands::BandCenters;
use rand::{rngs::StdRng, SeedableRng};
use xtask::corpus::NoiseChoice;
use xtask::featurize::{featurize, GainTarget};

fn main() -> anyhow::Result<()> {
    let xtask::probe::ProbeArgs { model, mixtures: n, source, snrs, .. } = xtask::probe::args("comb_target_probe", "")?;
    let cfg = model.config().clone();
    let (rate, nb) = (48_000u32, cfg.n_bands);
    let centres = BandCenters::erb(nb, cfg.band_max_hz, cfg.band_min_spacing_hz);
    println!("| SNR dB | mean change < 2 kHz | cells up / down > 0.5 dB | mean change 2-8 kHz | cells up / down > 0.5 dB |");
    println!("|---|---|---|---|---|");
    for snr in snrs {
        // [sum dB, cells moved up, cells, cells moved down] below 2 kHz, then 2-8 kHz.
        let mut acc = [[0.0f64; 4]; 2];
        for i in 0..n {
            let mut rng = StdRng::seed_from_u64(7 ^ i as u64);
            let ex = source.mix(&mut rng, rate, 4 * rate as usize, snr, -26.0, NoiseChoice::Any);
            let plain = featurize(&cfg, GainTarget::Plain, rate as f32, &ex.clean, &ex.noise, &ex.utterances);
            let comb = featurize(&cfg, GainTarget::Comb, rate as f32, &ex.clean, &ex.noise, &ex.utterances);
            for f in 0..plain.frames {
                if plain.vad[f] < 0.5 {
                    continue;
                }
                for b in 0..nb {
                    let slot = match centres.0[b] {
                        hz if hz < 2000.0 => 0,
                        hz if hz < 8000.0 => 1,
                        _ => continue,
                    };
                    let (p, c) = (plain.target[f * nb + b].max(1e-3), comb.target[f * nb + b].max(1e-3));
                    let db = 20.0 * (c as f64 / p as f64).log10();
                    let a = &mut acc[slot];
                    a[0] += db;
                    a[1] += (db > 0.5) as u8 as f64;
                    a[3] += (db < -0.5) as u8 as f64;
                    a[2] += 1.0;
                }
            }
        }
        let [lo, hi] = acc;
        println!(
            "| {snr} | {:+.2} dB | {:.0} / {:.0} % | {:+.2} dB | {:.0} / {:.0} % |",
            lo[0] / lo[2],
            100.0 * lo[1] / lo[2],
            100.0 * lo[3] / lo[2],
            hi[0] / hi[2],
            100.0 * hi[1] / hi[2],
            100.0 * hi[3] / hi[2]
        );
    }
    Ok(())
}
