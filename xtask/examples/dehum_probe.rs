//! What the mains-hum canceller (`lull::dsp::dehum`) does on its own, at 48 kHz: how much it
//! takes from clean test speech (dB of the clip's energy, in its first second and after, and
//! PESQ-WB against the untouched clip), and how much hum it leaves under speech.
//!
//! `cargo run --release -p xtask --example dehum_probe -- [CORPUS_DIR=target/corpus] [CLIPS=24] [SEED=7] [WEIGHTS]`
//!
//! With WEIGHTS, also the whole engine on each clean clip, without and with the canceller
//! (PESQ-WB, and how far the outputs differ): what the canceller's few changes cost once the
//! network has seen them. `DEHUM_TRACE=3,17` prints those clips tenth of a second by tenth of a
//! second. On stderr: what the canceller puts into each clip's near-silent hops, and each hum
//! mixture's hum left with and without the speech over it.
//!
//! The clean clips are the ones `cargo xtask eval` plays as clean speech with the same seed.
//! Each is run from a cold start, after the other clips (a minute of different speech, as in a
//! session), and after itself repeated 15 times (as `eval --warm-up 15` plays it: a 4 s loop is
//! exactly periodic at 50 and 60 Hz, so a canceller may learn it). Hum: the first CLIPS
//! mixtures of the evaluation's seeds whose noise is hum, at 0 dB SNR.
use std::path::Path;

use lull::dsp::dehum::HumCanceller;
use rand::{rngs::StdRng, SeedableRng};
use realfft::RealFftPlanner;
use xtask::corpus::{CorpusSource, NoiseChoice, NoiseClass};
use xtask::data::manifest::Split;
use xtask::eval::{run_lull, Stages};
use xtask::metrics::pesq_wb;

const RATE: u32 = 48_000;
const LEVEL_DB: f32 = -26.0;

/// The canceller alone, at full amount, from a cold start, over `x`.
fn cancel(x: &[f32]) -> Vec<f32> {
    let mut planner = RealFftPlanner::new();
    let mut c = HumCanceller::new(RATE as f32, RATE as usize / 100, &mut planner);
    x.iter().map(|&v| c.tick(v, 1.0)).collect()
}

fn energy(x: &[f32]) -> f64 {
    x.iter().map(|&v| (v as f64).powi(2)).sum()
}

/// Energy of `y − x`.
fn diff_energy(y: &[f32], x: &[f32]) -> f64 {
    y.iter().zip(x).map(|(a, b)| ((a - b) as f64).powi(2)).sum()
}

/// Energy of `y − x` against that of `x` over `range`, in dB.
fn removed_db(y: &[f32], x: &[f32], range: std::ops::Range<usize>) -> f64 {
    10.0 * (diff_energy(&y[range.clone()], &x[range.clone()]) / energy(&x[range]).max(1e-30)).log10()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let corpus = args.get(1).map(String::as_str).unwrap_or("target/corpus");
    let n: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(24);
    let seed: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(7);
    let source = CorpusSource::open(Path::new(corpus), Split::Test)?;
    let len = 4 * RATE as usize;
    let second = RATE as usize;
    let clips: Vec<Vec<f32>> = (0..n)
        .map(|i| {
            let mut rng = StdRng::seed_from_u64(seed ^ i as u64);
            source.mix(&mut rng, RATE, len, 15.0, LEVEL_DB, NoiseChoice::Any).clean
        })
        .collect();

    println!("clean speech, canceller alone (removed: dB of the clip's energy)");
    println!("| clip | cold, first s | cold, after | cold PESQ-WB | after other speech | after itself ×15 |");
    println!("|---|---|---|---|---|---|");
    let (mut first, mut after, mut pesq, mut session, mut looped) = (vec![], vec![], vec![], vec![], vec![]);
    // Each clip through the canceller from a cold start, kept for the engine's trace below.
    let cold: Vec<Vec<f32>> = clips.iter().map(|x| cancel(x)).collect();
    for (i, (x, y)) in clips.iter().zip(&cold).enumerate() {
        first.push(removed_db(y, x, 0..second));
        after.push(removed_db(y, x, second..len));
        pesq.push(pesq_wb(x, y, RATE)?);
        // The other clips before this one: 92 s of different speech.
        let mut played: Vec<f32> = (1..n).flat_map(|k| clips[(i + k) % n].iter().copied()).collect();
        played.extend_from_slice(x);
        let session_out = cancel(&played);
        session.push(removed_db(&session_out[played.len() - len..], x, 0..len));
        let played = x.repeat(16);
        let looped_out = cancel(&played);
        looped.push(removed_db(&looped_out[played.len() - len..], x, 0..len));
        println!("| {i} | {:.1} | {:.1} | {:.3} | {:.1} | {:.1} |", first[i], after[i], pesq[i], session[i], looped[i]);
        // What it puts into the clip's near-silent hops (below -70 dBFS), where the network's
        // noise-floor feature would notice even a faint residue.
        let hop = RATE as usize / 100;
        let (mut quiet, mut added, mut inp) = (0, 0.0f64, 0.0f64);
        for h in 0..len / hop {
            let r = h * hop..(h + 1) * hop;
            let ex = energy(&x[r.clone()]) / hop as f64;
            if ex < 1e-7 {
                quiet += 1;
                inp += ex;
                added += diff_energy(&y[r.clone()], &x[r]) / hop as f64;
            }
        }
        eprintln!("clip {i}: {quiet} quiet hops, input {:.1} dBFS, residue {:.1} dBFS", 10.0 * (inp / quiet.max(1) as f64).log10(), 10.0 * (added / quiet.max(1) as f64).log10());
    }
    // Means of the dB figures, and of the energies (a dB figure of −inf counts as nothing).
    let pooled = |v: &[f64]| 10.0 * mean(&v.iter().map(|d| 10f64.powf(d / 10.0)).collect::<Vec<_>>()).log10();
    let finite = |v: &[f64]| mean(&v.iter().map(|d| d.max(-120.0)).collect::<Vec<_>>());
    println!("| mean (dB) | {:.1} | {:.1} | {:.3} | {:.1} | {:.1} |", finite(&first), finite(&after), mean(&pesq), finite(&session), finite(&looped));
    println!("| mean (energy) | {:.1} | {:.1} | | {:.1} | {:.1} |\n", pooled(&first), pooled(&after), pooled(&session), pooled(&looped));
    if let Some(weights) = args.get(4) {
        let model = lull::model::load(Some(Path::new(weights)))?;
        println!("the whole engine on clean speech, PESQ-WB without / with the canceller");
        let (mut off, mut on) = (vec![], vec![]);
        for (i, x) in clips.iter().enumerate() {
            let a = run_lull(&model, x, RATE, 30.0, Stages { dehum: false, ..Stages::PLUGIN })?;
            let b = run_lull(&model, x, RATE, 30.0, Stages::PLUGIN)?;
            off.push(pesq_wb(x, &a, RATE)?);
            on.push(pesq_wb(x, &b, RATE)?);
            let d = diff_energy(&a, &b);
            println!("{i}: {:.3} / {:.3}, outputs differ by {:.1} dB", off[i], on[i], 10.0 * (d / energy(x)).log10());
            if std::env::var("DEHUM_TRACE").is_ok_and(|v| v.split(',').any(|k| k == i.to_string())) {
                let y = &cold[i];
                let w = RATE as usize / 10;
                for t in 0..len / w {
                    let r = t * w..(t + 1) * w;
                    let e = |u: &[f32], v: &[f32]| diff_energy(&u[r.clone()], &v[r.clone()]);
                    println!("  {:.1} s: input {:.1} dBFS, canceller takes {:.1} dB, engine output moves {:.1} dB", t as f64 / 10.0, 10.0 * (energy(&x[r.clone()]) / w as f64).log10(), 10.0 * (e(y, x) / energy(&x[r.clone()])).log10(), 10.0 * (e(&a, &b) / energy(&x[r.clone()])).log10());
                }
            }
        }
        println!("mean {:.3} / {:.3}\n", mean(&off), mean(&on));
    }

    println!("hum at 0 dB SNR under speech (left: dB of the hum's energy)");
    let (mut cold_all, mut cold_late) = (vec![], vec![]);
    for i in 0..n * 200 {
        if cold_all.len() == n {
            break;
        }
        let mut rng = StdRng::seed_from_u64(seed ^ i as u64);
        let (ex, class) = source.mix_labelled(&mut rng, RATE, len, 0.0, LEVEL_DB, NoiseChoice::Any);
        if class != NoiseClass::Hum {
            continue;
        }
        let noisy: Vec<f32> = ex.clean.iter().zip(&ex.noise).map(|(c, n)| c + n).collect();
        let y = cancel(&noisy);
        let left: Vec<f32> = y.iter().zip(&ex.clean).map(|(a, b)| a - b).collect();
        let db = |r: std::ops::Range<usize>| 10.0 * (energy(&left[r.clone()]) / energy(&ex.noise[r])).log10();
        cold_all.push(db(0..len));
        cold_late.push(db(second..len));
        let alone = cancel(&ex.noise);
        let d = |r: std::ops::Range<usize>| 10.0 * (energy(&alone[r.clone()]) / energy(&ex.noise[r])).log10();
        eprintln!("hum mixture {i}: under speech {:.1} / {:.1} dB, alone {:.1} / {:.1} dB", db(0..len), db(second..len), d(0..len), d(second..len));
    }
    println!("{} mixtures: whole clip {:.1} dB, after the first second {:.1} dB", cold_all.len(), mean(&cold_all), mean(&cold_late));
    Ok(())
}
