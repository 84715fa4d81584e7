//! The fixed test input of the CPU measurements (`benches/hop.rs`, `examples/hop_cost.rs`):
//! xorshift noise, so they need no RNG crate and every processor sees identical samples.

pub fn noise(len: usize) -> Vec<f32> {
    let mut s = 0x2545_f491u32;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32 - 0.5) * 0.2
        })
        .collect()
}
