//! The corpus manifest (`DIR/manifest.json`) and the small API the training loader reads it
//! with: [`Manifest::load`], [`Manifest::clips`] and [`read_clip`].

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// Bumped whenever a field changes meaning, so a loader never misreads an old corpus.
pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Speech,
    Noise,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Speech => "speech",
            Kind::Noise => "noise",
        })
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        })
    }
}

/// One decoded mono clip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Clip {
    /// WAV path relative to the corpus directory (`audio/{speech,noise}/PACKAGE/...`).
    pub path: String,
    pub kind: Kind,
    pub package: String,
    pub version: String,
    /// SHA256 of the .deb the clip came from; `None` when the extract dir had no provenance
    /// stamp (a tree that `cargo xtask data` did not extract itself).
    pub deb_sha256: Option<String>,
    /// The file inside the package it was decoded from.
    pub source: String,
    /// The voice (speech only): the unit that splits are disjoint by. See `select.rs`.
    pub speaker: Option<String>,
    /// Language code as the package spells it, normalised to `ll` or `ll_CC` (speech only).
    pub language: Option<String>,
    /// The unit the split was drawn for: the speaker for speech, the noise family (a file and
    /// its numbered variants, e.g. `Water1..5.wav`) for noise.
    pub group: String,
    pub split: Split,
    pub duration_s: f64,
    /// Native sample rate; the clip is stored at this rate.
    pub rate: u32,
    /// Highest frequency with real content (see `analyze.rs`).
    pub bandwidth_hz: u32,
    /// Mean power over active 20 ms frames, dB re full-scale square (a full-scale sine is −3).
    pub active_level_dbfs: f64,
    /// Absolute path of the WAV, filled in by [`Manifest::load`]; not stored.
    #[serde(skip)]
    pub abs_path: PathBuf,
}

/// A package the corpus was built from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackageRecord {
    pub name: String,
    pub version: String,
    pub deb_sha256: Option<String>,
    /// Candidate files found (after the language and path rules), before de-duplication.
    pub files_selected: usize,
    /// Belarusian recordings left out (reserved).
    pub reserved_files: usize,
    pub clips: usize,
}

/// A selected source file that did not become a clip, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dropped {
    pub package: String,
    pub source: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    /// How levels and bandwidths were measured, so numbers stay interpretable.
    pub measurement: String,
    pub packages: Vec<PackageRecord>,
    pub clips: Vec<Clip>,
    pub dropped: Vec<Dropped>,
}

impl Manifest {
    /// Reads `dir/manifest.json` and resolves every clip's absolute path against `dir`.
    pub fn load(dir: &Path) -> Result<Manifest> {
        let file = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {} (build the corpus with `cargo xtask data`)", file.display()))?;
        let mut m: Manifest = serde_json::from_str(&text).with_context(|| format!("{} is not a valid corpus manifest", file.display()))?;
        if m.format_version != FORMAT_VERSION {
            bail!(
                "{} has format_version {}, this build reads {FORMAT_VERSION}; rebuild it with `cargo xtask data`",
                file.display(),
                m.format_version
            );
        }
        let root = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        m.resolve(&root);
        Ok(m)
    }

    /// Writes `dir/manifest.json` atomically (a crash never leaves half a manifest).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let file = dir.join(MANIFEST_FILE);
        let json = serde_json::to_string_pretty(self)?;
        crate::data::files::write_atomically(&file, json.as_bytes())
    }

    pub(crate) fn resolve(&mut self, root: &Path) {
        for c in &mut self.clips {
            c.abs_path = root.join(&c.path);
        }
    }

    /// The clips of one kind in one split, in manifest order.
    pub fn clips(&self, kind: Kind, split: Split) -> impl Iterator<Item = &Clip> + '_ {
        self.clips.iter().filter(move |c| c.kind == kind && c.split == split)
    }
}

/// Reads a corpus clip (or any PCM/float WAV) as mono samples in −1..1 with its rate.
pub fn read_clip(path: &Path) -> Result<(Vec<f32>, u32)> {
    let (chans, rate) = crate::wav::read(path)?;
    let n = chans.len() as f32;
    let len = chans.iter().map(Vec::len).min().unwrap_or(0);
    let mono = (0..len).map(|i| chans.iter().map(|c| c[i]).sum::<f32>() / n).collect();
    Ok((mono, rate))
}
