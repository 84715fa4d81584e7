//! Lull's developer tasks: bundling, training (candle), export, and the offline front doors
//! to the engine. `main.rs` is the command line; the pieces live here so tests can use them.

pub mod augment;
pub mod corpus;
pub mod data;
pub mod eval;
pub mod export;
pub mod featurize;
pub mod lstm_op;
pub mod metrics;
pub mod net;
pub mod synth;
pub mod train;
pub mod wav;
