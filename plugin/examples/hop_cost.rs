//! Runs `HOPS` hops (10 ms at 48 kHz) of one processor on fixed noise, for instruction
//! counting, which unlike wall-clock time does not depend on what else the machine is doing:
//!
//! ```sh
//! cargo build --release -p lull --example hop_cost
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/hop_cost lull 1000
//! ```
//!
//! Run it twice per processor (e.g. 200 and 1200 hops): the difference of the two totals over
//! 1000 is the cost of one hop without the start-up. Processors: `lull` (mono), `lull-stereo`
//! (two linked channels) and `rnnoise` (nnnoiseless, the reference).

use lull::engine::Denoiser;
use lull::model::default_model;

const HOP: usize = 480;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (which, hops) = match (args.get(1), args.get(2).and_then(|n| n.parse::<usize>().ok())) {
        (Some(w), Some(n)) => (w.as_str(), n),
        _ => {
            eprintln!("usage: hop_cost lull|lull-stereo|rnnoise HOPS");
            std::process::exit(2);
        }
    };
    // xorshift noise, identical for every processor.
    let mut s = 0x2545_f491u32;
    let input: Vec<f32> = (0..HOP * hops)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32 - 0.5) * 0.2
        })
        .collect();
    let mut checksum = 0.0f32;
    match which {
        "lull" | "lull-stereo" => {
            let channels = if which == "lull" { 1 } else { 2 };
            let mut d = Denoiser::new(default_model().expect("embedded model"), 48_000.0, channels).expect("engine");
            let (mut l, mut r) = (vec![0.0f32; HOP], vec![0.0f32; HOP]);
            for hop in input.chunks_exact(HOP) {
                l.copy_from_slice(hop);
                if channels == 1 {
                    d.process(&mut [&mut l[..]]);
                } else {
                    r.copy_from_slice(hop);
                    d.process(&mut [&mut l[..], &mut r[..]]);
                }
                checksum += l[0];
            }
        }
        "rnnoise" => {
            let mut st = nnnoiseless::DenoiseState::new();
            let mut out = vec![0.0f32; HOP];
            for hop in input.chunks_exact(HOP) {
                let scaled: Vec<f32> = hop.iter().map(|x| x * 32768.0).collect();
                st.process_frame(&mut out, &scaled);
                checksum += out[0];
            }
        }
        other => {
            eprintln!("unknown processor `{other}`");
            std::process::exit(2);
        }
    }
    println!("{which}: {hops} hops, checksum {checksum}");
}
