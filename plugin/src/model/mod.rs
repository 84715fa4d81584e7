//! The gain network: configuration, loading and validation of weights, and allocation-free
//! inference. The same network exists as candle modules in `xtask` (training); the parity test
//! there holds the two together.

pub mod activation;
mod config;
mod matvec;
mod network;
mod weights;

pub use config::{ModelConfig, DF_TAP_MAX, FORMAT_VERSION, MAX_CONV_HOPS, MAX_LOOKAHEAD, META_CONFIG, META_FORMAT_VERSION};
pub use network::{Model, NetworkState};
pub use weights::serialize;

/// Why a weights file was refused. Every variant names the problem; none of them panics.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("weights file is not valid safetensors (truncated or corrupt?): {0}")]
    Corrupt(String),
    #[error("weights file has no `{0}` metadata entry; was it written by `cargo xtask export`?")]
    MissingMetadata(&'static str),
    #[error("weights format version {found} is not supported (this build reads version {supported})")]
    UnsupportedVersion { found: String, supported: u32 },
    #[error("weights configuration is invalid: {0}")]
    BadConfig(String),
    #[error("weights file is missing tensor `{0}`")]
    MissingTensor(String),
    #[error("weights file has unexpected tensor `{0}`")]
    UnexpectedTensor(String),
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch { name: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("tensor `{name}` has dtype {found}, expected F32")]
    WrongDtype { name: String, found: String },
    #[error("tensor `{name}` holds a non-finite value at index {index}")]
    NonFinite { name: String, index: usize },
    #[error("cannot read weights file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    /// A file that was read but refused: `error` says why, `path` which file, so no caller has
    /// to add the name (and none names it twice).
    #[error("weights file {path} refused: {error}")]
    InFile { path: String, error: Box<ModelError> },
}

/// The model shipped with the plugin, embedded at build time.
pub const DEFAULT_WEIGHTS: &[u8] = include_bytes!("../../../weights/lull.safetensors");

/// The embedded model, parsed once per process (the first `activate()` pays ~1 ms; the audio
/// thread never does).
pub fn default_model() -> Result<std::sync::Arc<Model>, ModelError> {
    use std::sync::{Arc, OnceLock};
    static MODEL: OnceLock<Result<Arc<Model>, ModelError>> = OnceLock::new();
    MODEL
        .get_or_init(|| Model::from_bytes(DEFAULT_WEIGHTS).map(Arc::new))
        .clone()
}

/// The weights file at `path`, or the embedded model without one: what every offline front
/// door (`cargo xtask denoise` and `eval`, the probes and benchmarks) loads.
pub fn load(path: Option<&std::path::Path>) -> Result<std::sync::Arc<Model>, ModelError> {
    let Some(path) = path else { return default_model() };
    read_file(path, |bytes| Model::from_bytes(bytes).map(std::sync::Arc::new))
}

/// The configuration and tensors (in the order of [`ModelConfig::tensor_shapes`]) of the
/// weights file at `path`, checked as the plugin checks them: for training to start from an
/// exported model (`cargo xtask train --init-weights`).
pub fn read_tensors(path: &std::path::Path) -> Result<(ModelConfig, Vec<Vec<f32>>), ModelError> {
    read_file(path, weights::parse)
}

/// `parse` on the bytes of the file at `path`, its errors naming the file.
fn read_file<T>(path: &std::path::Path, parse: impl FnOnce(&[u8]) -> Result<T, ModelError>) -> Result<T, ModelError> {
    let named = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ModelError::Unreadable { path: named.clone(), reason: e.to_string() })?;
    parse(&bytes).map_err(|e| ModelError::InFile { path: named, error: Box::new(e) })
}
