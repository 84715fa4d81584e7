//! Lull's developer tasks: bundling, training (candle), export, and the offline front doors
//! to the engine. `main.rs` is the command line; the pieces live here so tests can use them.

/// Every binary that links this crate (the command line, its examples and tests) allocates with
/// mimalloc. A training step allocates tensors of ~10 MB by the dozen and frees them; glibc's
/// malloc serves those from fresh `mmap`s, so each step paid page faults and the kernel's
/// zeroing of every page: about a third of the network's training time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod augment;
pub mod compare;
pub mod corpus;
pub mod data;
pub mod dense_op;
pub mod deepfilternet;
pub mod eval;
pub mod export;
pub mod featurize;
pub mod hum_removal;
pub mod lstm_op;
pub mod metrics;
pub mod net;
pub mod paired;
pub mod pesq_loss;
pub mod probe;
pub mod synth;
pub mod train;
pub mod wav;
