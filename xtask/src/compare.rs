//! Differences between two systems' scores on the same mixtures, per rate and SNR bucket and
//! over all buckets, each with a confidence interval (`paired`): Lull's lead over nnnoiseless
//! in `xtask eval`, and `xtask compare` between two evaluations (two models, one draw of
//! mixtures), which is how every entry of MODEL.md compares a change with its control.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::eval::MixtureScores;
use crate::paired::{paired_difference, Pair, PairedDifference, CONFIDENCE};

/// One row of differences: a rate and one SNR bucket, or all buckets (`snr` None).
#[derive(Debug, Clone, Serialize)]
pub struct DifferenceRow {
    pub rate: u32,
    pub snr: Option<i32>,
    pub pesq_wb: Option<PairedDifference>,
    pub stoi: Option<PairedDifference>,
    pub si_sdr: Option<PairedDifference>,
}

type Key = (u32, i32, usize);

fn key(m: &MixtureScores) -> Key {
    (m.rate, m.snr, m.index)
}

/// The scores of `system`, by (rate, snr, index).
fn of_system<'a>(mixtures: &'a [MixtureScores], system: &str) -> BTreeMap<Key, &'a MixtureScores> {
    mixtures.iter().filter(|m| m.system == system).map(|m| (key(m), m)).collect()
}

/// The rates both `a` and `b` were evaluated at: a mixture is drawn at 48 kHz and resampled,
/// so the other rates an evaluation ran at do not change it.
fn common_rates(a: &[MixtureScores], b: &[MixtureScores]) -> Result<BTreeSet<u32>> {
    let rates = |x: &[MixtureScores]| x.iter().map(|m| m.rate).collect::<BTreeSet<u32>>();
    let (ra, rb) = (rates(a), rates(b));
    let common: BTreeSet<u32> = ra.intersection(&rb).copied().collect();
    if common.is_empty() {
        bail!("the two evaluations share no sample rate (first: {ra:?} Hz, second: {rb:?} Hz)");
    }
    Ok(common)
}

/// Checks that `a` and `b` score the same mixtures at the rates both have: the same keys, and
/// the noisy input scoring the same on each (a different seed, split, voice or length draws
/// other mixtures, and the noisy input's scores differ then).
fn same_mixtures(a: &[MixtureScores], b: &[MixtureScores], rates: &BTreeSet<u32>) -> Result<()> {
    let noisy = |x| -> BTreeMap<Key, &MixtureScores> { of_system(x, "noisy").into_iter().filter(|(k, _)| rates.contains(&k.0)).collect() };
    let (na, nb) = (noisy(a), noisy(b));
    let same = |x: f64, y: f64| (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-9;
    for (k, x) in &na {
        let Some(y) = nb.get(k) else {
            bail!("the second evaluation has no mixture {} at {} Hz, {} dB: evaluate both with the same --per-bucket and --seed", k.2, k.0, k.1);
        };
        if !(same(x.pesq_wb, y.pesq_wb) && same(x.stoi, y.stoi) && same(x.si_sdr, y.si_sdr)) {
            bail!(
                "the two evaluations did not score the same mixtures (mixture {} at {} Hz, {} dB: noisy PESQ-WB {:.4} against {:.4}): evaluate both with the same --seed, --seconds, --split and --voice, on the same corpus",
                k.2, k.0, k.1, x.pesq_wb, y.pesq_wb
            );
        }
    }
    if let Some(k) = nb.keys().find(|k| !na.contains_key(k)) {
        bail!("the first evaluation has no mixture {} at {} Hz, {} dB: evaluate both with the same --per-bucket and --seed", k.2, k.0, k.1);
    }
    Ok(())
}

/// `system_a` in `a` minus `system_b` in `b`, mixture by mixture, per rate both were evaluated
/// at: each bucket, then all buckets. The two must hold the same mixtures (checked on the noisy
/// input's scores), and `b` a `system_b` score wherever `a` has a `system_a` one.
pub fn differences(a: &[MixtureScores], system_a: &str, b: &[MixtureScores], system_b: &str) -> Result<Vec<DifferenceRow>> {
    let rates = common_rates(a, b)?;
    same_mixtures(a, b, &rates)?;
    let sa: BTreeMap<Key, &MixtureScores> = of_system(a, system_a).into_iter().filter(|(k, _)| rates.contains(&k.0)).collect();
    let sb = of_system(b, system_b);
    if sa.is_empty() {
        bail!("no scores of the system `{system_a}` (systems: {})", crate::eval::SYSTEMS.join(", "));
    }
    // rate → snr → pairs of each metric.
    let mut pairs: BTreeMap<u32, BTreeMap<i32, [Vec<Pair>; 3]>> = BTreeMap::new();
    for (k, x) in &sa {
        let y = sb.get(k).with_context(|| format!("no `{system_b}` score for mixture {} at {} Hz, {} dB", k.2, k.0, k.1))?;
        let cluster = k.2;
        let p = pairs.entry(k.0).or_default().entry(k.1).or_default();
        for (v, (xa, xb)) in p.iter_mut().zip([(x.pesq_wb, y.pesq_wb), (x.stoi, y.stoi), (x.si_sdr, y.si_sdr)]) {
            v.push(Pair { cluster, a: xa, b: xb });
        }
    }
    let row = |rate: u32, snr: Option<i32>, p: &[Vec<Pair>; 3]| DifferenceRow {
        rate,
        snr,
        pesq_wb: paired_difference(&p[0]),
        stoi: paired_difference(&p[1]),
        si_sdr: paired_difference(&p[2]),
    };
    let mut rows = Vec::new();
    for (rate, by_snr) in pairs {
        let mut all: [Vec<Pair>; 3] = Default::default();
        for (snr, p) in by_snr {
            rows.push(row(rate, Some(snr), &p));
            for (acc, v) in all.iter_mut().zip(p) {
                acc.extend(v);
            }
        }
        rows.push(row(rate, None, &all));
    }
    Ok(rows)
}

/// The rows as a markdown table, headed by `what` ("Lull − nnnoiseless").
pub fn difference_table(rows: &[DifferenceRow], what: &str) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut m = format!(
        "\n{what}, mixture by mixture, with {:.0} % confidence intervals (bootstrap over the mixtures; mixture i holds the same speech and noise in every bucket and is resampled with all of them):\n\n",
        CONFIDENCE * 100.0
    );
    let _ = writeln!(m, "| rate | SNR dB | PESQ-WB | STOI | SI-SDR dB |");
    let _ = writeln!(m, "|---|---|---|---|---|");
    let show = |d: &Option<PairedDifference>, decimals: usize| d.map(|d| d.show(decimals)).unwrap_or_else(|| "–".into());
    for r in rows {
        let khz = r.rate as f64 / 1000.0;
        let (pesq, stoi, sisdr) = (show(&r.pesq_wb, 3), show(&r.stoi, 3), show(&r.si_sdr, 2));
        match r.snr {
            Some(snr) => {
                let _ = writeln!(m, "| {khz:.2} k | {snr} | {pesq} | {stoi} | {sisdr} |");
            }
            None => {
                let _ = writeln!(m, "| {khz:.2} k | **all** | **{pesq}** | **{stoi}** | **{sisdr}** |");
            }
        }
    }
    m
}

/// The part of `xtask eval --json`'s report that a comparison reads.
#[derive(Deserialize)]
struct SavedEvaluation {
    mixtures: Vec<MixtureScores>,
}

fn load(path: &Path) -> Result<Vec<MixtureScores>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the evaluation {}", path.display()))?;
    let saved: SavedEvaluation = serde_json::from_str(&text)
        .with_context(|| format!("{} is not the JSON of `cargo xtask eval --json` (or was written before it kept every mixture's scores)", path.display()))?;
    Ok(saved.mixtures)
}

/// `xtask compare`: `system` in the evaluation `a` minus the same in `b`, as markdown (each
/// one's means over all buckets, then the differences).
pub fn compare_files(a: &Path, b: &Path, system: &str) -> Result<String> {
    let (ma, mb) = (load(a)?, load(b)?);
    let rows = differences(&ma, system, &mb, system).with_context(|| format!("comparing {} with {}", a.display(), b.display()))?;
    let mut m = format!("`{system}` in A = {} and B = {}, the same mixtures.\n\n", a.display(), b.display());
    let _ = writeln!(m, "| rate | PESQ-WB A | B | STOI A | B | SI-SDR dB A | B |");
    let _ = writeln!(m, "|---|---|---|---|---|---|---|");
    let mean = |ms: &[MixtureScores], rate: u32, f: fn(&MixtureScores) -> f64| {
        let v: Vec<f64> = ms.iter().filter(|x| x.system == system && x.rate == rate).map(f).filter(|v| v.is_finite()).collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    for rate in rows.iter().filter(|r| r.snr.is_none()).map(|r| r.rate) {
        let metrics: [fn(&MixtureScores) -> f64; 3] = [|x| x.pesq_wb, |x| x.stoi, |x| x.si_sdr];
        let [p, s, d] = metrics.map(|f| (mean(&ma, rate, f), mean(&mb, rate, f)));
        let _ = writeln!(m, "| {:.2} k | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} | {:.2} |", rate as f64 / 1000.0, p.0, p.1, s.0, s.1, d.0, d.1);
    }
    m.push_str(&difference_table(&rows, "A − B"));
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores of `system` for `n` mixtures in every bucket at `rate`: `f(snr, index)`.
    fn scores(system: &str, rate: u32, n: usize, f: impl Fn(i32, usize) -> f64) -> Vec<MixtureScores> {
        [-5, 0, 5, 10, 15]
            .into_iter()
            .flat_map(|snr| (0..n).map(move |index| (snr, index)))
            .map(|(snr, index)| MixtureScores {
                rate,
                snr,
                index,
                noise: "white".into(),
                speech_bandwidth_hz: 16_000.0,
                system: system.into(),
                pesq_wb: f(snr, index),
                stoi: 0.5,
                si_sdr: f(snr, index) * 10.0,
            })
            .collect()
    }

    fn report(lull_offset: f64) -> Vec<MixtureScores> {
        let base = |snr: i32, i: usize| 1.5 + snr as f64 * 0.05 + i as f64 * 0.01;
        let mut all = scores("noisy", 48_000, 6, |s, i| base(s, i) - 0.2);
        all.extend(scores("nnnoiseless", 48_000, 6, base));
        all.extend(scores("lull", 48_000, 6, move |s, i| base(s, i) + lull_offset));
        all
    }

    #[test]
    fn a_steady_lead_reads_the_same_in_every_row_with_no_spread() {
        let r = report(0.1);
        let rows = differences(&r, "lull", &r, "nnnoiseless").unwrap();
        assert_eq!(rows.len(), 6, "five buckets and all of them");
        assert_eq!(rows.last().unwrap().snr, None);
        for row in &rows {
            let p = row.pesq_wb.unwrap();
            assert!((p.mean - 0.1).abs() < 1e-9 && (p.high - p.low).abs() < 1e-9, "{row:?}");
            assert!((row.si_sdr.unwrap().mean - 1.0).abs() < 1e-9 && row.stoi.unwrap().mean.abs() < 1e-12, "{row:?}");
        }
        assert_eq!(rows.last().unwrap().pesq_wb.unwrap().pairs, 30);
        assert_eq!(rows.last().unwrap().pesq_wb.unwrap().clusters, 6);
        let table = difference_table(&rows, "Lull − nnnoiseless");
        assert!(table.contains("| 48.00 k | **all** | **+0.100 (+0.100…+0.100)** |"), "{table}");
    }

    #[test]
    fn two_evaluations_compare_only_on_the_same_mixtures() {
        let (a, b) = (report(0.1), report(0.05));
        let rows = differences(&a, "lull", &b, "lull").unwrap();
        assert!((rows.last().unwrap().pesq_wb.unwrap().mean - 0.05).abs() < 1e-9);

        // Another draw: the noisy input scores differently on one mixture.
        let mut other = report(0.05);
        other.iter_mut().find(|m| m.system == "noisy" && m.index == 3 && m.snr == 5).unwrap().pesq_wb += 0.01;
        let err = format!("{:#}", differences(&a, "lull", &other, "lull").unwrap_err());
        assert!(err.contains("same mixtures") && err.contains("mixture 3") && err.contains("--seed"), "{err}");

        // Fewer mixtures per bucket.
        let fewer: Vec<MixtureScores> = report(0.05).into_iter().filter(|m| m.index < 5).collect();
        let err = format!("{:#}", differences(&a, "lull", &fewer, "lull").unwrap_err());
        assert!(err.contains("no mixture 5") && err.contains("--per-bucket"), "{err}");

        let err = format!("{:#}", differences(&a, "rnnoise", &b, "lull").unwrap_err());
        assert!(err.contains("`rnnoise`"), "{err}");
    }

    #[test]
    fn evaluations_at_other_rates_compare_at_the_rates_they_share() {
        // A at 48 kHz; B at 48 and 22.05 kHz (its 48 kHz mixtures are the same ones).
        let a = report(0.1);
        let mut b = report(0.05);
        b.extend(report(0.0).into_iter().map(|m| MixtureScores { rate: 22_050, ..m }));
        let rows = differences(&a, "lull", &b, "lull").unwrap();
        assert!(rows.iter().all(|r| r.rate == 48_000) && rows.len() == 6, "{rows:?}");
        assert!((rows[5].pesq_wb.unwrap().mean - 0.05).abs() < 1e-9);
        let only22: Vec<MixtureScores> = report(0.0).into_iter().map(|m| MixtureScores { rate: 22_050, ..m }).collect();
        let err = format!("{:#}", differences(&a, "lull", &only22, "lull").unwrap_err());
        assert!(err.contains("share no sample rate"), "{err}");
    }

    #[test]
    fn undefined_scores_survive_the_json_round_trip() {
        let mut r = report(0.1);
        r[0].stoi = f64::NAN;
        let json = serde_json::to_string(&serde_json::json!({ "mixtures": r })).unwrap();
        assert!(json.contains("\"stoi\":null"), "{json}");
        let back: SavedEvaluation = serde_json::from_str(&json).unwrap();
        assert!(back.mixtures[0].stoi.is_nan());
        assert_eq!(back.mixtures[1].pesq_wb, r[1].pesq_wb);
    }
}
