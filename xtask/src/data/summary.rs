//! The table printed at the end of `cargo xtask data`: hours of speech, minutes of noise and
//! speakers per split, then one line per package.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::manifest::{Clip, Kind, Manifest, Split};
use super::split;

pub fn render(m: &Manifest) -> String {
    let mut out = String::new();
    let speech = |s: Split| m.clips(Kind::Speech, s).collect::<Vec<_>>();
    let noise = |s: Split| m.clips(Kind::Noise, s).collect::<Vec<_>>();
    let total_speech: f64 = m.clips.iter().filter(|c| c.kind == Kind::Speech).map(|c| c.duration_s).sum();
    let full_band = split::full_band_speakers(&m.clips);
    let reserved: usize = m.packages.iter().map(|p| p.reserved_files).sum();

    let _ = writeln!(
        out,
        "{} clips ({} speech, {} noise); {} files dropped (duplicates, silent, too short, undecodable); {reserved} Belarusian files left out",
        m.clips.len(),
        m.clips.iter().filter(|c| c.kind == Kind::Speech).count(),
        m.clips.iter().filter(|c| c.kind == Kind::Noise).count(),
        m.dropped.len()
    );
    let _ = writeln!(out, "\n{:<28}{:>10}{:>10}{:>10}", "", "train", "val", "test");
    let row = |out: &mut String, label: &str, f: &dyn Fn(Split) -> String| {
        let _ = writeln!(out, "{label:<28}{:>10}{:>10}{:>10}", f(Split::Train), f(Split::Val), f(Split::Test));
    };
    row(&mut out, "speech hours", &|s| format!("{:.2}", hours(&speech(s))));
    row(&mut out, "speech share", &|s| format!("{:.1} %", 100.0 * hours(&speech(s)) * 3600.0 / total_speech.max(1e-9)));
    row(&mut out, "speech clips", &|s| speech(s).len().to_string());
    row(&mut out, "speakers", &|s| groups(&speech(s)).len().to_string());
    row(&mut out, "full-band speakers (>12 kHz)", &|s| full_band.iter().filter(|(_, fs)| *fs == s).count().to_string());
    row(&mut out, "noise minutes", &|s| format!("{:.1}", hours(&noise(s)) * 60.0));
    row(&mut out, "noise files", &|s| noise(s).len().to_string());
    row(&mut out, "noise families", &|s| groups(&noise(s)).len().to_string());
    row(&mut out, "natural noise families", &|s| groups(&noise(s)).iter().filter(|g| split::is_natural_noise(g)).count().to_string());

    let _ = writeln!(out, "\n{:<30}{:>7}{:>8}{:>10}{:>12}{:>12}  splits", "package", "clips", "kind", "duration", "median bw", "median lvl");
    for p in &m.packages {
        // tuxpaint has both: one row per kind.
        for kind in [Kind::Speech, Kind::Noise] {
            let clips: Vec<&Clip> = m.clips.iter().filter(|c| c.package == p.name && c.kind == kind).collect();
            if !clips.is_empty() {
                package_row(&mut out, &p.name, kind, &clips);
            }
        }
    }
    for problem in split::check(&m.clips) {
        let _ = writeln!(out, "warning: {problem}");
    }
    out
}

fn package_row(out: &mut String, package: &str, kind: Kind, clips: &[&Clip]) {
    let dur = match kind {
        Kind::Speech => format!("{:.2} h", hours(clips)),
        Kind::Noise => format!("{:.1} min", hours(clips) * 60.0),
    };
    let mut lvl: Vec<f64> = clips.iter().map(|c| c.active_level_dbfs).collect();
    lvl.sort_by(f64::total_cmp);
    let per_split: Vec<String> = Split::ALL.iter().map(|&s| format!("{s} {}", clips.iter().filter(|c| c.split == s).count())).collect();
    let _ = writeln!(
        out,
        "{package:<30}{:>7}{:>8}{:>10}{:>9} Hz{:>8.1} dB  {}",
        clips.len(),
        kind.to_string(),
        dur,
        median_bandwidth_hz(clips),
        lvl[lvl.len() / 2],
        per_split.join(", ")
    );
}

/// The middle of the clips' bandwidths (the upper middle of an even count); `clips` is not empty.
fn median_bandwidth_hz(clips: &[&Clip]) -> u32 {
    let mut bw: Vec<u32> = clips.iter().map(|c| c.bandwidth_hz).collect();
    bw.sort_unstable();
    bw[bw.len() / 2]
}

fn hours(clips: &[&Clip]) -> f64 {
    clips.iter().map(|c| c.duration_s).sum::<f64>() / 3600.0
}

fn groups<'a>(clips: &[&'a Clip]) -> BTreeSet<&'a str> {
    clips.iter().map(|c| c.group.as_str()).collect()
}

/// Speech hours per speaker with split and median bandwidth, for choosing the split table.
pub fn speakers(m: &Manifest) -> String {
    let mut by: BTreeMap<&str, Vec<&Clip>> = BTreeMap::new();
    for c in m.clips.iter().filter(|c| c.kind == Kind::Speech) {
        by.entry(c.group.as_str()).or_default().push(c);
    }
    let mut out = format!("{:<28}{:>7}{:>9}{:>11}  packages\n", "speaker", "split", "minutes", "median bw");
    for (speaker, clips) in by {
        // A speaker is one split unit, so its first clip's split is all of its clips'.
        let packages: BTreeSet<&str> = clips.iter().map(|c| c.package.as_str()).collect();
        let _ = writeln!(
            out,
            "{speaker:<28}{:>7}{:>9.1}{:>8} Hz  {}",
            clips[0].split.to_string(),
            hours(&clips) * 60.0,
            median_bandwidth_hz(&clips),
            packages.into_iter().collect::<Vec<_>>().join(" ")
        );
    }
    out
}
