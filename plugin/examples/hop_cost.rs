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
//! (two linked channels), `lull-no-dehum` (mono with Hum Removal off) and `rnnoise`
//! (nnnoiseless, the reference). An optional third argument
//! names a weights file to count instead of the embedded model.

use lull::engine::Denoiser;

#[path = "../benches/common/noise.rs"]
mod noise;

const HOP: usize = 480;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (which, hops) = match (args.get(1), args.get(2).and_then(|n| n.parse::<usize>().ok())) {
        (Some(w), Some(n)) => (w.as_str(), n),
        _ => {
            eprintln!("usage: hop_cost lull|lull-stereo|lull-no-dehum|rnnoise HOPS [WEIGHTS]");
            std::process::exit(2);
        }
    };
    let input = noise::noise(HOP * hops);
    let mut checksum = 0.0f32;
    match which {
        "lull" | "lull-stereo" | "lull-no-dehum" => {
            let channels = if which == "lull-stereo" { 2 } else { 1 };
            let model = lull::model::load(args.get(3).map(std::path::Path::new)).expect("loadable weights");
            let mut d = Denoiser::new(model, 48_000.0, channels).expect("engine");
            d.set_dehum(which != "lull-no-dehum");
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
            // nnnoiseless expects 16-bit-scaled samples; scaled up front, as in the bench, so
            // the count holds nothing but its own per-frame work.
            let scaled: Vec<f32> = input.iter().map(|x| x * 32768.0).collect();
            for hop in scaled.chunks_exact(HOP) {
                st.process_frame(&mut out, hop);
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
