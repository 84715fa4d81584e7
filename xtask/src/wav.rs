//! WAV reading and writing for the offline front doors, with errors that name the file.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// Reads any PCM or float WAV as per-channel f32 in −1..1, with its sample rate.
pub fn read(path: &Path) -> Result<(Vec<Vec<f32>>, u32)> {
    let mut r = hound::WavReader::open(path).with_context(|| format!("cannot read {} as WAV", path.display()))?;
    let spec = r.spec();
    let ch = spec.channels as usize;
    if ch == 0 {
        bail!("{} has no channels", path.display());
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().collect::<Result<Vec<f32>, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>().map(|s| s.map(|v| v as f32 * scale)).collect::<Result<Vec<f32>, _>>()
        }
    }
    .with_context(|| format!("{} is not readable audio", path.display()))?;
    let mut chans = vec![Vec::with_capacity(interleaved.len() / ch); ch];
    for (i, s) in interleaved.into_iter().enumerate() {
        chans[i % ch].push(s);
    }
    Ok((chans, spec.sample_rate))
}

/// Writes 32-bit float WAV.
pub fn write(path: &Path, chans: &[Vec<f32>], rate: u32) -> Result<()> {
    let spec = hound::WavSpec { channels: chans.len() as u16, sample_rate: rate, bits_per_sample: 32, sample_format: hound::SampleFormat::Float };
    let mut w = hound::WavWriter::create(path, spec).with_context(|| format!("cannot write {}", path.display()))?;
    let len = chans.iter().map(Vec::len).min().unwrap_or(0);
    for i in 0..len {
        for c in chans {
            w.write_sample(c[i])?;
        }
    }
    w.finalize()?;
    Ok(())
}
