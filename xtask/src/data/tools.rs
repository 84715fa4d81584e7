//! The external programs the data step needs (apt-get, apt-cache, dpkg, ffmpeg): finding them
//! with an error that says how to install them, and running them with errors that show why
//! they failed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{bail, Context, Result};

/// A program the data step needs is not installed.
#[derive(Debug, thiserror::Error)]
#[error("`{tool}` was not found on PATH; it is needed {purpose}. Install it with `apt-get install {package}`")]
pub struct MissingTool {
    pub tool: String,
    /// The Debian package that provides it.
    pub package: String,
    pub purpose: String,
}

/// The full path of `tool` on PATH, or a [`MissingTool`] naming the package to install.
pub fn require(tool: &str, package: &str, purpose: &str) -> Result<PathBuf, MissingTool> {
    find_on_path(tool).ok_or_else(|| MissingTool { tool: tool.into(), package: package.into(), purpose: purpose.into() })
}

pub fn find_on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(tool)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

pub fn require_ffmpeg() -> Result<PathBuf, MissingTool> {
    require("ffmpeg", "ffmpeg", "to decode the G.722 (.g722) and Opus (.opus) recordings")
}

/// Runs `cmd` to completion; a non-zero exit becomes an error carrying `what` and stderr.
pub fn run(cmd: &mut Command, what: &str) -> Result<Output> {
    let out = cmd.output().with_context(|| format!("cannot start {what} ({cmd:?})"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
        bail!("{what} failed ({}): {}", out.status, tail.join("\n"));
    }
    Ok(out)
}
