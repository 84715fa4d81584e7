//! The command line shared by the diagnostic examples (`gain_probe`, `strength_probe`): a
//! weights file, how many test mixtures per SNR, the corpus, the SNRs, and what else the probe
//! takes after them. `--voice NAME` anywhere draws every mixture's speech from that one voice of
//! the test split (as `cargo xtask eval --voice` does).

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use lull::model::Model;

use crate::corpus::CorpusSource;
use crate::data::manifest::Split;

pub struct ProbeArgs {
    pub model: Arc<Model>,
    pub mixtures: usize,
    /// The corpus's test split.
    pub source: CorpusSource,
    pub snrs: Vec<f32>,
    /// Arguments after the SNRs.
    pub rest: Vec<String>,
}

/// `NAME WEIGHTS.safetensors [MIXTURES=6] [CORPUS_DIR=target/corpus] [SNRS=-5,0,5,10,15,60] REST…`
/// from the process's arguments; `rest_usage` names what may follow in the usage message.
pub fn args(name: &str, rest_usage: &str) -> Result<ProbeArgs> {
    let mut args: Vec<String> = std::env::args().collect();
    let voice = match args.iter().position(|a| a == "--voice") {
        Some(i) => {
            anyhow::ensure!(i + 1 < args.len(), "--voice needs a voice name, e.g. asterisk:carlo");
            let v = args.remove(i + 1);
            args.remove(i);
            Some(v)
        }
        None => None,
    };
    let Some(weights) = args.get(1) else {
        anyhow::bail!("usage: {name} WEIGHTS.safetensors [MIXTURES=6] [CORPUS_DIR=target/corpus] [SNRS=-5,0,5,10,15,60] {rest_usage} [--voice NAME]");
    };
    let model = lull::model::load(Some(Path::new(weights)))?;
    let mixtures = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(6);
    let corpus = args.get(3).map(String::as_str).unwrap_or("target/corpus");
    let snrs = args.get(4).map(String::as_str).unwrap_or("-5,0,5,10,15,60").split(',').map(str::parse).collect::<Result<_, _>>()?;
    let mut source = CorpusSource::open(Path::new(corpus), Split::Test)?;
    if let Some(v) = voice {
        source = source.one_voice(&v)?;
    }
    Ok(ProbeArgs { model, mixtures, source, snrs, rest: args.get(5..).unwrap_or_default().to_vec() })
}
