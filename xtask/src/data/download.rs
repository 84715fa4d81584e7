//! Stage 1: `apt-get download NAME=VERSION` for each pinned package into `DIR/debs`, checked
//! against the SHA256 apt publishes for that version and recorded in `DIR/debs/SHA256SUMS`.
//! A .deb that is already there with its recorded hash is not fetched again, and then apt is
//! not needed at all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::files::{sha256_file, write_atomically};
use super::packages::Package;
use super::{progress, tools};

const LEDGER: &str = "SHA256SUMS";

/// A downloaded, verified package file.
#[derive(Clone, Debug)]
pub struct Deb {
    pub name: String,
    pub version: String,
    pub file: PathBuf,
    pub sha256: String,
}

impl Deb {
    /// The .deb's file name, as the download ledger and the provenance stamps record it.
    pub fn file_name(&self) -> String {
        self.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

pub fn fetch_all(packages: &[Package], debs_dir: &Path) -> Result<Vec<Deb>> {
    std::fs::create_dir_all(debs_dir).with_context(|| format!("cannot create {}", debs_dir.display()))?;
    let mut ledger = Ledger::load(debs_dir)?;
    let mut apt = Apt::default();
    let bar = progress::bar(packages.len() as u64, "download");
    let mut debs = Vec::with_capacity(packages.len());
    for p in packages {
        bar.set_message(p.name);
        let deb = match ledger.verified(debs_dir, p)? {
            Some(deb) => deb,
            None => {
                let deb = apt.download(p, debs_dir)?;
                ledger.0.insert(deb.file_name(), deb.sha256.clone());
                ledger.save(debs_dir)?;
                deb
            }
        };
        debs.push(deb);
        bar.inc(1);
    }
    bar.finish_with_message(format!("{} packages", debs.len()));
    Ok(debs)
}

/// apt-get's file name for a package version: an epoch's `:` is written `%3a`.
fn deb_prefix(p: &Package) -> String {
    format!("{}_{}_", p.name, p.version.replace(':', "%3a"))
}

/// `DIR/debs/SHA256SUMS`, in `sha256sum` format: what was verified when it was downloaded.
struct Ledger(BTreeMap<String, String>);

impl Ledger {
    fn load(dir: &Path) -> Result<Ledger> {
        let path = dir.join(LEDGER);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let entries = text.lines().filter_map(|l| l.split_once("  ")).map(|(sha, f)| (f.trim().to_string(), sha.trim().to_string()));
        Ok(Ledger(entries.collect()))
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let text: String = self.0.iter().map(|(f, sha)| format!("{sha}  {f}\n")).collect();
        write_atomically(&dir.join(LEDGER), text.as_bytes())
    }

    /// The recorded .deb of `p`, if it is present and still hashes to what was recorded.
    fn verified(&self, dir: &Path, p: &Package) -> Result<Option<Deb>> {
        let prefix = deb_prefix(p);
        let Some((name, sha)) = self.0.iter().find(|(f, _)| f.starts_with(&prefix) && f.ends_with(".deb")) else {
            return Ok(None);
        };
        let file = dir.join(name);
        if !file.is_file() {
            return Ok(None);
        }
        if &sha256_file(&file)? != sha {
            eprintln!("warning: {} does not match its recorded SHA256; downloading it again", file.display());
            return Ok(None);
        }
        Ok(Some(Deb { name: p.name.into(), version: p.version.into(), file, sha256: sha.clone() }))
    }
}

/// What apt's package index says about one package version.
struct AptInfo {
    sha256: String,
    architecture: String,
}

#[derive(Default)]
struct Apt {
    /// `apt-get update` is tried at most once per run.
    updated: bool,
}

impl Apt {
    fn download(&mut self, p: &Package, dir: &Path) -> Result<Deb> {
        let info = self.info(p)?;
        tools::require("apt-get", "apt", "to download the Debian packages the corpus is built from")?;
        let spec = format!("{}={}", p.name, p.version);
        tools::run(Command::new("apt-get").args(["download", "-q", &spec]).current_dir(dir), &format!("`apt-get download {spec}`"))?;
        let file = dir.join(format!("{}{}.deb", deb_prefix(p), info.architecture));
        if !file.is_file() {
            bail!("`apt-get download {spec}` succeeded but {} is not there", file.display());
        }
        let sha256 = sha256_file(&file)?;
        if sha256 != info.sha256 {
            std::fs::remove_file(&file).ok();
            bail!("{} has SHA256 {sha256}, but apt's index says {}; removed it, retry the download", file.display(), info.sha256);
        }
        Ok(Deb { name: p.name.into(), version: p.version.into(), file, sha256 })
    }

    /// `apt-cache show NAME=VERSION`, after one `apt-get update` if apt does not know it.
    fn info(&mut self, p: &Package) -> Result<AptInfo> {
        tools::require("apt-cache", "apt", "to look up the pinned Debian package versions")?;
        match show(p) {
            Ok(info) => Ok(info),
            Err(_) if !self.updated => {
                self.update(p)?;
                show(p).with_context(|| not_found(p))
            }
            Err(e) => Err(e).with_context(|| not_found(p)),
        }
    }

    fn update(&mut self, p: &Package) -> Result<()> {
        self.updated = true;
        if !is_root() {
            bail!("{}; as root, run `apt-get update` and retry", not_found(p));
        }
        eprintln!("apt does not know {}={}; running `apt-get update`", p.name, p.version);
        tools::require("apt-get", "apt", "to refresh the package lists")?;
        tools::run(Command::new("apt-get").args(["update", "-q"]), "`apt-get update`")?;
        Ok(())
    }
}

fn not_found(p: &Package) -> String {
    format!(
        "Debian package {}={} is not in apt's package lists (it is Debian 12 \"bookworm\" main; \
         check /etc/apt/sources.list and run `apt-get update`)",
        p.name, p.version
    )
}

fn show(p: &Package) -> Result<AptInfo> {
    let spec = format!("{}={}", p.name, p.version);
    let out = tools::run(Command::new("apt-cache").args(["show", &spec]), &format!("`apt-cache show {spec}`"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // The first stanza is the pinned version; later ones (other archs/sources) are ignored.
    let stanza = text.split("\n\n").next().unwrap_or("");
    let field = |key: &str| stanza.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().to_string());
    match (field("SHA256:"), field("Architecture:")) {
        (Some(sha256), Some(architecture)) => Ok(AptInfo { sha256, architecture }),
        _ => bail!("`apt-cache show {spec}` gave no SHA256/Architecture"),
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}
