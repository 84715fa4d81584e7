//! Stage 2: `dpkg -x` each .deb into `DIR/extract/NAME` (nothing is installed, no maintainer
//! script runs). Each extracted tree carries a stamp with the package version and .deb SHA256:
//! it is the provenance the manifest records, and it lets a re-run skip the extraction.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::download::Deb;
use super::files::{partial_path, write_atomically};
use super::{progress, tools};

pub const STAMP: &str = ".lull-package.json";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stamp {
    pub name: String,
    pub version: String,
    pub deb_sha256: String,
    pub deb_file: String,
}

impl Stamp {
    /// What was unpacked from `deb`.
    pub fn of(deb: &Deb) -> Self {
        Self { name: deb.name.clone(), version: deb.version.clone(), deb_sha256: deb.sha256.clone(), deb_file: deb.file_name() }
    }
}

pub fn extract_all(debs: &[Deb], extract_root: &Path) -> Result<()> {
    let bar = progress::bar(debs.len() as u64, "extract");
    let mut fresh = 0;
    for deb in debs {
        bar.set_message(deb.name.clone());
        let dir = extract_root.join(&deb.name);
        if read_stamp(&dir)?.is_none_or(|s| s.deb_sha256 != deb.sha256) {
            extract(deb, &dir)?;
            fresh += 1;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    eprintln!("extract: {} packages in {} ({fresh} extracted now)", debs.len(), extract_root.display());
    Ok(())
}

/// Extracts into `NAME.partial` and renames it into place, so an interrupted extraction is
/// redone rather than trusted.
fn extract(deb: &Deb, dir: &Path) -> Result<()> {
    tools::require("dpkg", "dpkg", "to unpack the downloaded .deb files (`dpkg -x`)")?;
    let tmp = partial_path(dir);
    for d in [&tmp, dir] {
        if d.exists() {
            std::fs::remove_dir_all(d).with_context(|| format!("cannot remove the stale {}", d.display()))?;
        }
    }
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    tools::run(Command::new("dpkg").arg("-x").arg(&deb.file).arg(&tmp), &format!("`dpkg -x {}`", deb.file.display()))?;
    write_stamp(&tmp, &Stamp::of(deb))?;
    std::fs::rename(&tmp, dir).with_context(|| format!("cannot move {} to {}", tmp.display(), dir.display()))
}

pub fn write_stamp(dir: &Path, stamp: &Stamp) -> Result<()> {
    write_atomically(&dir.join(STAMP), serde_json::to_string_pretty(stamp)?.as_bytes())
}

/// The stamp of an extracted package, `None` if the directory has none.
pub fn read_stamp(dir: &Path) -> Result<Option<Stamp>> {
    let path = dir.join(STAMP);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| format!("{} is not a valid stamp", path.display()))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}
