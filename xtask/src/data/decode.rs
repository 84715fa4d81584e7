//! Decoding any source file to mono f32 at its native rate. Pure Rust where possible: hound
//! for PCM WAV, symphonia for Ogg Vorbis, FLAC and the WAV variants hound refuses (ADPCM, …).
//! G.722 and Opus have no decoder here, so they go through `ffmpeg`.

use std::fs::File;
use std::path::Path;
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::tools;

pub struct Decoded {
    pub samples: Vec<f32>,
    pub rate: u32,
}

/// Files that only ffmpeg decodes.
pub fn needs_ffmpeg(path: &Path) -> bool {
    matches!(extension(path).as_str(), "g722" | "opus")
}

pub fn decode(path: &Path) -> Result<Decoded> {
    let decoded = match extension(path).as_str() {
        // Asterisk's G.722 files are headerless; G.722 is always 16 kHz.
        "g722" => ffmpeg(path, &["-f", "g722"], 16_000),
        // Opus always decodes at 48 kHz.
        "opus" => ffmpeg(path, &[], 48_000),
        "wav" => wav(path).or_else(|hound_err| symphonia(path).map_err(|e| anyhow!("{e:#}; hound: {hound_err:#}"))),
        _ => symphonia(path),
    }
    .with_context(|| format!("cannot decode {}", path.display()))?;
    if decoded.rate == 0 {
        bail!("{} declares a sample rate of 0", path.display());
    }
    Ok(decoded)
}

fn extension(path: &Path) -> String {
    path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase()
}

fn wav(path: &Path) -> Result<Decoded> {
    let (chans, rate) = crate::wav::read(path)?;
    Ok(Decoded { samples: downmix_planar(&chans), rate })
}

fn downmix_planar(chans: &[Vec<f32>]) -> Vec<f32> {
    let len = chans.iter().map(Vec::len).min().unwrap_or(0);
    let n = chans.len().max(1) as f32;
    (0..len).map(|i| chans.iter().map(|c| c[i]).sum::<f32>() / n).collect()
}

fn symphonia(path: &Path) -> Result<Decoded> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(&extension(path));
    let probed = symphonia::default::get_probe().format(&hint, stream, &FormatOptions::default(), &MetadataOptions::default())?;
    let mut format = probed.format;
    let track = format.tracks().iter().find(|t| t.codec_params.codec != CODEC_TYPE_NULL).ok_or_else(|| anyhow!("no audio track"))?;
    let track_id = track.id;
    let mut rate = track.codec_params.sample_rate.unwrap_or(0);
    let mut decoder = symphonia::default::get_codecs().make(&track.codec_params, &DecoderOptions::default())?;
    let mut samples = Vec::new();
    let mut buf: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => return Err(e.into()),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let audio = match decoder.decode(&packet) {
            Ok(a) => a,
            // A corrupt packet is skipped, as players do; the rest of the file is still good.
            Err(SymphoniaError::DecodeError(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let spec = *audio.spec();
        rate = spec.rate;
        let channels = spec.channels.count().max(1);
        if buf.as_ref().is_none_or(|b| b.capacity() < audio.capacity() * channels) {
            buf = Some(SampleBuffer::new(audio.capacity() as u64, spec));
        }
        let Some(sb) = buf.as_mut() else { continue };
        sb.copy_interleaved_ref(audio);
        samples.extend(sb.samples().chunks_exact(channels).map(|f| f.iter().sum::<f32>() / channels as f32));
    }
    Ok(Decoded { samples, rate })
}

/// `ffmpeg … -i IN -ac 1 -ar RATE -f f32le -`: mono float samples on stdout, no temp file.
fn ffmpeg(path: &Path, input_format: &[&str], rate: u32) -> Result<Decoded> {
    tools::require_ffmpeg()?;
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error"]).args(input_format).arg("-i").arg(path);
    cmd.args(["-ac", "1", "-ar", &rate.to_string(), "-f", "f32le", "-"]);
    let out = tools::run(&mut cmd, &format!("ffmpeg on {}", path.display()))?;
    let samples = out.stdout.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok(Decoded { samples, rate })
}
