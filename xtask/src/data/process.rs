//! Stage 3, everything after extraction, runnable on any extract tree without apt:
//! select → de-duplicate → decode → measure → write mono WAV → split → manifest.
//!
//! Re-runs are cheap: a clip whose WAV exists is not decoded again, and its measurements come
//! from `DIR/cache/analysis.json` when the source file's hash is unchanged.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use walkdir::WalkDir;

use super::analyze::{self, Analysis};
use super::extract::{self, Stamp, STAMP};
use super::files::{partial_path, sha256_file, write_atomically};
use super::manifest::{Clip, Dropped, Manifest, PackageRecord, FORMAT_VERSION};
use super::packages::{is_generated, Package, GENERATED, PACKAGES};
use super::select::{self, Selection, Verdict};
use super::{decode, progress, split, tools};

const CACHE_FILE: &str = "cache/analysis.json";

/// Changes whenever decoding or measuring changes, so cached numbers are never stale.
fn measurement() -> String {
    format!(
        "bandwidth: highest frequency of the 200 Hz-smoothed long-term spectrum within {} dB of its peak; \
         level: mean power of 20 ms frames within {} dB of the loudest, dB re full-scale square; \
         dropped: shorter than {} s or loudest frame below {} dBFS; stored as 16-bit PCM",
        analyze::BANDWIDTH_RANGE_DB,
        analyze::ACTIVE_RANGE_DB,
        analyze::MIN_DURATION_S,
        analyze::SILENCE_DBFS
    )
}

/// A selected source file.
struct Candidate {
    package: &'static Package,
    /// Path inside the extracted package, `/`-separated.
    rel: String,
    abs: PathBuf,
    selection: Selection,
}

impl Candidate {
    /// `audio/<kind>/<package>/<path without usr/share/>.wav`
    fn output_rel(&self) -> String {
        let inner = self.rel.strip_prefix("usr/share/").unwrap_or(&self.rel);
        let stem = inner.rsplit_once('.').map_or(inner, |(s, _)| s);
        format!("audio/{}/{}/{stem}.wav", self.selection.kind, self.package.name)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum Outcome {
    Clip(Analysis),
    Dropped(String),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct CacheEntry {
    source_sha256: String,
    outcome: Outcome,
}

#[derive(Default, Serialize, Deserialize)]
struct Cache {
    measurement: String,
    entries: BTreeMap<String, CacheEntry>,
}

/// Per-package provenance and counts.
struct PackageState {
    package: &'static Package,
    stamp: Option<Stamp>,
    reserved: usize,
    selected: usize,
}

/// Processes every pinned package (and generated voice) found in `extract_root` into `out_dir` (WAVs, cache,
/// `manifest.json`) and returns the manifest.
pub fn process(extract_root: &Path, out_dir: &Path) -> Result<Manifest> {
    let (states, candidates, mut dropped) = gather(extract_root)?;
    if candidates.iter().any(|c| decode::needs_ffmpeg(&c.abs)) {
        tools::require_ffmpeg()?;
    }
    let work = dedupe(&candidates, &mut dropped);

    let cache_path = out_dir.join(CACHE_FILE);
    let mut cache = load_cache(&cache_path)?;
    if cache.measurement != measurement() {
        cache = Cache { measurement: measurement(), entries: BTreeMap::new() };
    }
    let bar = progress::bar(work.len() as u64, "decode");
    let outcomes: Vec<Outcome> = work
        .par_iter()
        .map(|(i, sha)| {
            let c = &candidates[*i];
            let out = outcome(c, sha, out_dir, cache.entries.get(&c.output_rel()));
            bar.inc(1);
            out
        })
        .collect();
    bar.finish_and_clear();

    let mut clips = Vec::new();
    for ((i, sha), o) in work.into_iter().zip(outcomes) {
        let c = &candidates[i];
        cache.entries.insert(c.output_rel(), CacheEntry { source_sha256: sha, outcome: o.clone() });
        match o {
            Outcome::Dropped(reason) => dropped.push(dropped_entry(c, reason)),
            Outcome::Clip(a) => clips.push(clip(c, &a, &states)),
        }
    }
    write_atomically(&cache_path, serde_json::to_string(&cache)?.as_bytes())?;
    eprintln!("decode: {} clips, {} dropped", clips.len(), dropped.len());

    let packages = states
        .iter()
        .map(|s| PackageRecord {
            name: s.package.name.into(),
            version: version(s),
            deb_sha256: s.stamp.as_ref().map(|st| st.deb_sha256.clone()),
            files_selected: s.selected,
            reserved_files: s.reserved,
            clips: clips.iter().filter(|c: &&Clip| c.package == s.package.name).count(),
        })
        .collect();
    let mut manifest = Manifest { format_version: FORMAT_VERSION, measurement: measurement(), packages, clips, dropped };
    manifest.save(out_dir)?;
    manifest.resolve(&out_dir.canonicalize().unwrap_or_else(|_| out_dir.to_path_buf()));
    Ok(manifest)
}

/// Walks each pinned package's extracted tree and classifies its files.
fn gather(extract_root: &Path) -> Result<(Vec<PackageState>, Vec<Candidate>, Vec<Dropped>)> {
    let mut states = Vec::new();
    let mut candidates = Vec::new();
    let mut dropped = Vec::new();
    for package in PACKAGES.iter().chain(GENERATED) {
        let dir = extract_root.join(package.name);
        if !dir.is_dir() {
            // Generated voices are there only when asked for (`--piper`).
            if is_generated(package.name) {
                continue;
            }
            eprintln!("warning: {} is not extracted in {}; skipping it", package.name, extract_root.display());
            continue;
        }
        let mut state = PackageState { package, stamp: extract::read_stamp(&dir)?, reserved: 0, selected: 0 };
        // Sorted walk: candidate order, and so de-duplication, is the same on every machine.
        for entry in WalkDir::new(&dir).sort_by_file_name() {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            if !entry.file_type().is_file() || entry.file_name() == STAMP {
                continue;
            }
            let abs = entry.into_path();
            let rel_path = abs.strip_prefix(&dir).unwrap_or(&abs);
            let Some(rel) = rel_path.to_str().map(str::to_string) else {
                dropped.push(Dropped { package: package.name.into(), source: rel_path.to_string_lossy().into(), reason: "path is not UTF-8".into() });
                continue;
            };
            match select::classify(package.name, package.rule, &rel) {
                Verdict::Take(selection) => {
                    state.selected += 1;
                    candidates.push(Candidate { package, rel, abs, selection });
                }
                Verdict::Reserved => state.reserved += 1,
                Verdict::Ignore => {}
            }
        }
        states.push(state);
    }
    Ok((states, candidates, dropped))
}

/// Hashes every candidate and keeps one of each byte-identical set (tuxpaint's filled and
/// outlined letters, ktuberling's four Serbian scripts, lincity's Harbor3 = Water2…): the
/// first in package/path order, so a recording can neither sit in two splits nor count
/// twice. Returns (candidate index, source SHA256) of the files to process.
fn dedupe(candidates: &[Candidate], dropped: &mut Vec<Dropped>) -> Vec<(usize, String)> {
    let hashes: Vec<Result<String>> = candidates.par_iter().map(|c| sha256_file(&c.abs)).collect();
    let mut first_of: HashMap<String, usize> = HashMap::new();
    let mut work = Vec::new();
    for (i, (c, h)) in candidates.iter().zip(hashes).enumerate() {
        match h {
            Err(e) => dropped.push(dropped_entry(c, format!("unreadable: {e:#}"))),
            Ok(h) => match first_of.get(&h) {
                Some(&j) => dropped.push(dropped_entry(c, format!("duplicate of {}/{}", candidates[j].package.name, candidates[j].rel))),
                None => {
                    first_of.insert(h.clone(), i);
                    work.push((i, h));
                }
            },
        }
    }
    work
}

/// Measures one candidate, decoding it only when neither the cache nor its WAV can answer.
fn outcome(c: &Candidate, sha: &str, out_dir: &Path, cached: Option<&CacheEntry>) -> Outcome {
    let wav = out_dir.join(c.output_rel());
    match cached {
        Some(e) if e.source_sha256 == sha && (matches!(e.outcome, Outcome::Dropped(_)) || wav.is_file()) => return e.outcome.clone(),
        // The source changed under an old WAV: it must be decoded again.
        Some(e) if e.source_sha256 != sha => {}
        _ if wav.is_file() => {
            if let Ok((samples, rate)) = super::manifest::read_clip(&wav) {
                return Outcome::Clip(analyze::analyze(&samples, rate));
            }
        }
        _ => {}
    }
    match decode_and_store(c, &wav) {
        Ok(o) => o,
        Err(e) => Outcome::Dropped(format!("{e:#}")),
    }
}

fn decode_and_store(c: &Candidate, wav: &Path) -> Result<Outcome> {
    let decoded = decode::decode(&c.abs)?;
    // Measure exactly what is stored (16-bit), so a re-run that measures the WAV agrees.
    let pcm: Vec<i16> = decoded.samples.iter().map(|&x| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16).collect();
    let stored: Vec<f32> = pcm.iter().map(|&v| v as f32 / 32768.0).collect();
    let a = analyze::analyze(&stored, decoded.rate);
    if let Some(reason) = a.drop_reason() {
        return Ok(Outcome::Dropped(reason));
    }
    write_pcm16(wav, &pcm, decoded.rate)?;
    Ok(Outcome::Clip(a))
}

/// Mono 16-bit WAV, written beside the target and renamed, so a WAV that exists is complete.
fn write_pcm16(path: &Path, pcm: &[i16], rate: u32) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = partial_path(path);
    let spec = hound::WavSpec { channels: 1, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(&tmp, spec).with_context(|| format!("cannot write {}", tmp.display()))?;
    for &s in pcm {
        w.write_sample(s)?;
    }
    w.finalize().with_context(|| format!("cannot finish {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} into place", path.display()))
}

fn load_cache(path: &Path) -> Result<Cache> {
    match std::fs::read_to_string(path) {
        // A cache that does not parse is only a cache: start over rather than fail.
        Ok(text) => Ok(serde_json::from_str(&text).unwrap_or_default()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Cache::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn version(s: &PackageState) -> String {
    s.stamp.as_ref().map_or_else(|| s.package.version.to_string(), |st| st.version.clone())
}

fn dropped_entry(c: &Candidate, reason: String) -> Dropped {
    Dropped { package: c.package.name.into(), source: c.rel.clone(), reason }
}

fn clip(c: &Candidate, a: &Analysis, states: &[PackageState]) -> Clip {
    let state = states.iter().find(|s| s.package.name == c.package.name);
    let s = &c.selection;
    Clip {
        path: c.output_rel(),
        kind: s.kind,
        package: c.package.name.into(),
        version: state.map_or_else(|| c.package.version.to_string(), version),
        deb_sha256: state.and_then(|st| st.stamp.as_ref().map(|x| x.deb_sha256.clone())),
        source: c.rel.clone(),
        speaker: s.speaker.clone(),
        language: s.language.clone(),
        group: s.group.clone(),
        split: split::assign(s.kind, &s.group),
        duration_s: a.duration_s,
        rate: a.rate,
        bandwidth_hz: a.bandwidth_hz,
        active_level_dbfs: a.active_level_dbfs,
        abs_path: PathBuf::new(),
    }
}
