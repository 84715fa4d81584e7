//! A bad weights file is refused with an error that names the problem, never a panic.

use std::collections::HashMap;

use lull::model::{serialize, Model, ModelConfig, ModelError, META_CONFIG, META_FORMAT_VERSION};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

fn small_config() -> ModelConfig {
    ModelConfig { hidden: 16, layers: 2, ..ModelConfig::default() }
}

fn tensors(config: &ModelConfig) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    config
        .tensor_shapes()
        .into_iter()
        .map(|(n, s)| {
            let len = s.iter().product();
            (n, s, (0..len).map(|i| ((i % 17) as f32 - 8.0) * 0.01).collect())
        })
        .collect()
}

/// Writes a safetensors file by hand, so tests can produce what `serialize` would refuse.
fn write(tensors: &[(String, Vec<usize>, Vec<f32>)], meta: &[(&str, String)]) -> Vec<u8> {
    let bytes: Vec<Vec<u8>> =
        tensors.iter().map(|(_, _, d)| d.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), b).unwrap()))
        .collect();
    let meta: HashMap<String, String> = meta.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    safetensors::serialize(views, Some(meta)).unwrap()
}

fn good_meta(config: &ModelConfig) -> Vec<(&'static str, String)> {
    vec![
        (META_FORMAT_VERSION, "1".to_string()),
        (META_CONFIG, serde_json::to_string(config).unwrap()),
    ]
}

#[test]
fn a_well_formed_file_round_trips() {
    let c = small_config();
    let data: Vec<Vec<f32>> = tensors(&c).into_iter().map(|t| t.2).collect();
    let m = Model::from_bytes(&serialize(&c, &data).unwrap()).unwrap();
    assert_eq!(m.config(), &c);
}

#[test]
fn the_same_weights_always_serialise_to_the_same_bytes() {
    // The metadata passes through a HashMap, whose order changes with every instance.
    let c = small_config();
    let data: Vec<Vec<f32>> = tensors(&c).into_iter().map(|t| t.2).collect();
    let first = serialize(&c, &data).unwrap();
    for _ in 0..20 {
        assert!(serialize(&c, &data).unwrap() == first, "two serialisations differ");
    }
    assert_eq!(Model::from_bytes(&first).unwrap().config(), &c);
}

#[test]
fn files_from_before_the_optional_fields_load_as_two_features_and_one_gain_per_band() {
    // Fields added after the first files were written read as absent in files without them,
    // not as a new model's defaults (the noise-floor feature is on in those): the tensors of
    // such a file are shaped without them.
    let c = ModelConfig { fine_bins: 0, floor_features: false, pitch_features: false, pitch_strength: false, ..small_config() };
    assert!(serde_json::to_string(&c).unwrap().contains("fine_bins"));
    let mut json: serde_json::Value = serde_json::to_value(&c).unwrap();
    for field in ["fine_bins", "df_order", "floor_features", "snr_features", "pitch_features", "pitch_strength"] {
        assert!(json.as_object_mut().unwrap().remove(field).is_some(), "{field}");
    }
    let meta = vec![(META_FORMAT_VERSION, "1".to_string()), (META_CONFIG, json.to_string())];
    let m = Model::from_bytes(&write(&tensors(&c), &meta)).unwrap();
    assert_eq!(m.config(), &c);
    assert_eq!(m.config().n_features(), 2 * c.n_bands);
    assert_eq!(m.config().n_head(), c.n_bands);
}

#[test]
fn too_many_fine_bins_are_refused() {
    let c = ModelConfig { fine_bins: 81, ..small_config() };
    let err = Model::from_bytes(&write(&tensors(&c), &good_meta(&c))).unwrap_err();
    assert!(matches!(err, ModelError::BadConfig(ref why) if why.contains("fine_bins")), "{err}");
}

#[test]
fn the_embedded_default_model_loads() {
    let m = lull::model::default_model().unwrap();
    assert!(m.config().parameter_count() > 10_000);
}

#[test]
fn load_reads_a_file_names_a_missing_or_corrupt_one_and_defaults_to_the_embedded_model() {
    let c = small_config();
    let path = std::env::temp_dir().join(format!("lull-load-{}.safetensors", std::process::id()));
    std::fs::write(&path, write(&tensors(&c), &good_meta(&c))).unwrap();
    let loaded = lull::model::load(Some(&path)).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(loaded.config(), &c);
    match lull::model::load(Some(&path)).unwrap_err() {
        err @ ModelError::Unreadable { .. } => assert!(err.to_string().contains(&path.display().to_string()), "{err}"),
        err => panic!("a missing file gave {err}"),
    }
    // A file that is there but corrupt is named too, with the reason.
    std::fs::write(&path, b"not safetensors").unwrap();
    let err = lull::model::load(Some(&path)).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    match &err {
        ModelError::InFile { path: named, error } => {
            assert_eq!(named, &path.display().to_string());
            assert!(matches!(**error, ModelError::Corrupt(_)), "{err}");
        }
        other => panic!("a corrupt file gave {other}"),
    }
    assert!(err.to_string().contains("not valid safetensors"), "{err}");
    let embedded = lull::model::load(None).unwrap();
    assert!(std::sync::Arc::ptr_eq(&embedded, &lull::model::default_model().unwrap()));
}

#[test]
fn truncated_file_is_corrupt() {
    let c = small_config();
    let good = write(&tensors(&c), &good_meta(&c));
    for cut in [0, 7, 20, good.len() / 2, good.len() - 1] {
        let err = Model::from_bytes(&good[..cut]).unwrap_err();
        assert!(matches!(err, ModelError::Corrupt(_)), "cut at {cut}: {err}");
    }
    let err = Model::from_bytes(b"definitely not a model").unwrap_err();
    assert!(matches!(err, ModelError::Corrupt(_)), "{err}");
}

#[test]
fn wrong_shape_is_named() {
    let c = small_config();
    let mut t = tensors(&c);
    t[1].1 = vec![4 * 16, 15];
    t[1].2.truncate(4 * 16 * 15);
    let err = Model::from_bytes(&write(&t, &good_meta(&c))).unwrap_err();
    assert_eq!(
        err,
        ModelError::ShapeMismatch {
            name: "lstm.0.weight_hh".into(),
            expected: vec![64, 16],
            found: vec![64, 15]
        }
    );
    assert!(err.to_string().contains("lstm.0.weight_hh"));
}

#[test]
fn missing_tensor_is_named() {
    let c = small_config();
    let mut t = tensors(&c);
    t.retain(|(n, _, _)| n != "out.bias");
    let err = Model::from_bytes(&write(&t, &good_meta(&c))).unwrap_err();
    assert_eq!(err, ModelError::MissingTensor("out.bias".into()));
}

#[test]
fn unexpected_tensor_is_named() {
    let c = small_config();
    let mut t = tensors(&c);
    t.push(("lstm.9.weight_ih".into(), vec![2], vec![0.0, 0.0]));
    let err = Model::from_bytes(&write(&t, &good_meta(&c))).unwrap_err();
    assert_eq!(err, ModelError::UnexpectedTensor("lstm.9.weight_ih".into()));
}

#[test]
fn nan_and_inf_values_are_named() {
    let c = small_config();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut t = tensors(&c);
        t[4].2[5] = bad;
        let err = Model::from_bytes(&write(&t, &good_meta(&c))).unwrap_err();
        assert_eq!(err, ModelError::NonFinite { name: "lstm.1.weight_ih".into(), index: 5 });
    }
}

#[test]
fn unknown_format_version_is_refused() {
    let c = small_config();
    let meta = vec![(META_FORMAT_VERSION, "99".to_string()), (META_CONFIG, serde_json::to_string(&c).unwrap())];
    let err = Model::from_bytes(&write(&tensors(&c), &meta)).unwrap_err();
    assert_eq!(err, ModelError::UnsupportedVersion { found: "99".into(), supported: 1 });
}

#[test]
fn missing_metadata_and_bad_config_are_refused() {
    let c = small_config();
    let err = Model::from_bytes(&write(&tensors(&c), &[])).unwrap_err();
    assert_eq!(err, ModelError::MissingMetadata(META_FORMAT_VERSION));
    let err = Model::from_bytes(&write(&tensors(&c), &good_meta(&c)[..1])).unwrap_err();
    assert_eq!(err, ModelError::MissingMetadata(META_CONFIG));
    let absurd = ModelConfig { hidden: 1_000_000, ..c.clone() };
    let err = Model::from_bytes(&write(&tensors(&c), &good_meta(&absurd))).unwrap_err();
    assert!(matches!(err, ModelError::BadConfig(ref s) if s.contains("hidden")), "{err}");
    let meta = vec![(META_FORMAT_VERSION, "1".to_string()), (META_CONFIG, "{not json".to_string())];
    let err = Model::from_bytes(&write(&tensors(&c), &meta)).unwrap_err();
    assert!(matches!(err, ModelError::BadConfig(_)), "{err}");
}

#[test]
fn wrong_dtype_is_named() {
    let c = small_config();
    let t = tensors(&c);
    let bytes: Vec<Vec<u8>> = t.iter().map(|(_, _, d)| d.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let mut views: Vec<(String, TensorView)> = Vec::new();
    for ((n, s, _), b) in t.iter().zip(&bytes) {
        if n == "out.weight" {
            // Same bytes read as f64: half the elements.
            let mut s64 = s.clone();
            s64[1] /= 2;
            views.push((n.clone(), TensorView::new(Dtype::F64, s64, b).unwrap()));
        } else {
            views.push((n.clone(), TensorView::new(Dtype::F32, s.clone(), b).unwrap()));
        }
    }
    let meta: HashMap<String, String> = good_meta(&c).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let file = safetensors::serialize(views, Some(meta)).unwrap();
    let err = Model::from_bytes(&file).unwrap_err();
    assert_eq!(err, ModelError::WrongDtype { name: "out.weight".into(), found: "F64".into() });
}
