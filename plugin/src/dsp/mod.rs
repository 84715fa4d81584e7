//! Streaming signal processing shared by the engine and the training code: the STFT, the band
//! layout (energies in, gains out) and the feature normalisation. Training calls exactly these
//! types, so the features the network learns from are the ones it sees in a host.

pub mod bands;
pub mod dehum;
pub mod delay;
pub mod features;
pub mod pitch;
pub mod snr;
pub mod stft;
