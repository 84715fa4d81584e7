//! The weights file: safetensors with Lull's metadata. Reading checks the format version, the
//! configuration, and every tensor's name, dtype, shape and values, so a wrong file is refused
//! with an error that says what is wrong instead of producing garbage audio.

use std::collections::{HashMap, HashSet};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use super::{ModelConfig, ModelError, FORMAT_VERSION, META_CONFIG, META_FORMAT_VERSION};

/// Parses and validates a weights file. Returns the configuration and each tensor's values in
/// the order of [`ModelConfig::tensor_shapes`].
pub(super) fn parse(bytes: &[u8]) -> Result<(ModelConfig, Vec<Vec<f32>>), ModelError> {
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| ModelError::Corrupt(e.to_string()))?;
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| ModelError::Corrupt(e.to_string()))?;
    let info = meta.metadata().clone().unwrap_or_default();

    let version = info
        .get(META_FORMAT_VERSION)
        .ok_or(ModelError::MissingMetadata(META_FORMAT_VERSION))?;
    if version.trim() != FORMAT_VERSION.to_string() {
        return Err(ModelError::UnsupportedVersion {
            found: version.clone(),
            supported: FORMAT_VERSION,
        });
    }
    let config_json = info
        .get(META_CONFIG)
        .ok_or(ModelError::MissingMetadata(META_CONFIG))?;
    let config: ModelConfig =
        serde_json::from_str(config_json).map_err(|e| ModelError::BadConfig(e.to_string()))?;
    config.validate()?;

    let expected = config.tensor_shapes();
    let known: HashSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    let mut names = tensors.names();
    names.sort_unstable();
    if let Some(extra) = names.iter().find(|n| !known.contains(*n)) {
        return Err(ModelError::UnexpectedTensor(extra.to_string()));
    }

    let mut values = Vec::with_capacity(expected.len());
    for (name, shape) in &expected {
        let view = tensors
            .tensor(name)
            .map_err(|_| ModelError::MissingTensor(name.clone()))?;
        if view.dtype() != Dtype::F32 {
            return Err(ModelError::WrongDtype {
                name: name.clone(),
                found: format!("{:?}", view.dtype()),
            });
        }
        if view.shape() != shape.as_slice() {
            return Err(ModelError::ShapeMismatch {
                name: name.clone(),
                expected: shape.clone(),
                found: view.shape().to_vec(),
            });
        }
        // safetensors stores little-endian; the bytes need not be 4-aligned, so copy.
        let v: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if let Some(index) = v.iter().position(|x| !x.is_finite()) {
            return Err(ModelError::NonFinite { name: name.clone(), index });
        }
        values.push(v);
    }
    Ok((config, values))
}

/// Writes a weights file: `tensors` in the order of [`ModelConfig::tensor_shapes`], with the
/// format version and configuration as metadata. Refuses tensors that do not match the config.
pub fn serialize(config: &ModelConfig, tensors: &[Vec<f32>]) -> Result<Vec<u8>, ModelError> {
    config.validate()?;
    let shapes = config.tensor_shapes();
    if tensors.len() != shapes.len() {
        return Err(ModelError::BadConfig(format!(
            "{} tensors given, the configuration needs {}",
            tensors.len(),
            shapes.len()
        )));
    }
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let mut views = Vec::with_capacity(shapes.len());
    for ((name, shape), data) in shapes.iter().zip(&bytes) {
        let view = TensorView::new(Dtype::F32, shape.clone(), data).map_err(|_| {
            ModelError::ShapeMismatch {
                name: name.clone(),
                expected: shape.clone(),
                found: vec![data.len() / 4],
            }
        })?;
        views.push((name.clone(), view));
    }
    let meta = HashMap::from([
        (META_FORMAT_VERSION.to_string(), FORMAT_VERSION.to_string()),
        (
            META_CONFIG.to_string(),
            serde_json::to_string(config).expect("config serialises"),
        ),
    ]);
    let mut bytes = safetensors::serialize(views, Some(meta)).map_err(|e| ModelError::Corrupt(e.to_string()))?;
    sort_header(&mut bytes);
    Ok(bytes)
}

/// Rewrites a safetensors header with its JSON keys sorted, in place. safetensors writes the
/// metadata in a `HashMap`'s order, which changes from run to run, so two exports of the same
/// weights would differ in their bytes; sorted, the file is a function of its content. The
/// rewritten header has the same length (same keys and values, compact either way) and is padded
/// with spaces like the original; if it somehow is not, the file is left as it was.
fn sort_header(bytes: &mut [u8]) {
    let Some(len) = bytes.get(..8).map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize) else { return };
    let Some(header) = bytes.get(8..8 + len) else { return };
    // serde_json's map is a BTreeMap (no `preserve_order`), so this sorts every object's keys.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(header) else { return };
    let Ok(sorted) = serde_json::to_vec(&value) else { return };
    if sorted.len() <= len {
        let out = &mut bytes[8..8 + len];
        out[..sorted.len()].copy_from_slice(&sorted);
        out[sorted.len()..].fill(b' ');
    }
}
