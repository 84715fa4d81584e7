//! End-to-end test of the built CLAP bundle, loaded the way a DAW would load it: through a real,
//! if minimal, CLAP host built with `clack-host`.
//!
//! Build the bundle first, from the workspace root:
//! `cargo xtask bundle lull --features assert_process_allocs`.
//!
//! That debug bundle aborts the whole process if the plugin allocates inside `process()`. If this
//! test binary dies with "Tried to (de)allocate memory in a thread that forbids allocator calls!",
//! that is a real-time safety bug in the plugin, not in the test.

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use clack_extensions::audio_ports::{AudioPortInfoBuffer, PluginAudioPorts};
use clack_extensions::audio_ports_config::{
    AudioPortsConfigBuffer, MainPortInfo, PluginAudioPortsConfig,
};
use clack_extensions::latency::{HostLatency, HostLatencyImpl, PluginLatency};
use clack_extensions::params::{ParamInfoBuffer, ParamInfoFlags, PluginParams};
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;

use lull::engine::{Denoiser, OUTPUT_GAIN_RANGE_DB};
use lull::params::{DEFAULT_REDUCTION_DB, MAX_REDUCTION_DB};

const PLUGIN_ID: &CStr = c"audio.lull.denoiser";
const BUNDLE_COMMAND: &str = "cargo xtask bundle lull --features assert_process_allocs";

// ---------------------------------------------------------------------------------------------
// The host
// ---------------------------------------------------------------------------------------------

/// Thread-safe host callbacks: the plugin's requests are only recorded, so tests can assert on
/// them or honour them afterwards.
#[derive(Default)]
struct HostShared {
    restart_requested: AtomicBool,
    callback_requested: AtomicBool,
}

impl SharedHandler<'_> for HostShared {
    fn request_restart(&self) {
        self.restart_requested.store(true, Ordering::SeqCst);
    }

    fn request_process(&self) {
        // This host processes whenever the test says so; nothing to schedule.
    }

    fn request_callback(&self) {
        self.callback_requested.store(true, Ordering::SeqCst);
    }
}

/// Main-thread host state.
#[derive(Default)]
struct HostMainThread {
    /// How many times the plugin called `clap_host_latency.changed()`.
    latency_changed_calls: Cell<u32>,
}

impl MainThreadHandler<'_> for HostMainThread {}

impl HostLatencyImpl for HostMainThread {
    fn changed(&self) {
        self.latency_changed_calls.set(self.latency_changed_calls.get() + 1);
    }
}

struct TestHost;

impl HostHandlers for TestHost {
    type Shared<'a> = HostShared;
    type MainThread<'a> = HostMainThread;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        // A host needs this to learn about latency changes (plugin delay compensation); without
        // it nice-plug has nobody to tell when activation changes the latency.
        builder.register::<HostLatency>();
    }
}

type Instance = PluginInstance<TestHost>;

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

fn bundle_path() -> PathBuf {
    let workspace_root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the test crate lives inside the workspace");
    workspace_root.join("target").join("bundled").join("Lull.clap")
}

/// The loaded bundle, shared by all tests and deliberately never unloaded.
///
/// Unloading it while a thread that called into the plugin is still alive is not safe: the
/// plugin's own copy of Rust's std registers a pthread TLS-destructor key on such threads
/// (nice-plug calls `thread::current()` on the thread that creates an instance), and once the
/// library is `dlclose`d that destructor points into unmapped code, so the thread crashes as it
/// exits (rust-lang/rust#91979). Every libtest thread exits after its test, so a per-test entry
/// segfaults the run; keeping the library resident, as most hosts do, avoids that.
fn entry() -> &'static PluginEntry {
    static ENTRY: OnceLock<PluginEntry> = OnceLock::new();
    ENTRY.get_or_init(load_entry)
}

fn load_entry() -> PluginEntry {
    let path = bundle_path();
    assert!(
        path.exists(),
        "{} does not exist: run `{BUNDLE_COMMAND}` from the workspace root first",
        path.display()
    );
    // SAFETY: loading a library runs its initialisers; this is our own plugin, built on purpose.
    unsafe { PluginEntry::load(&path) }
        .unwrap_or_else(|e| panic!("cannot load {} as a CLAP entry: {e}", path.display()))
}

fn instantiate(entry: &PluginEntry) -> Instance {
    let host_info = HostInfo::new(
        "lull-host-tests",
        "Lull",
        "https://example.invalid",
        env!("CARGO_PKG_VERSION"),
    )
    .expect("valid host info");
    PluginInstance::<TestHost>::new(
        |_| HostShared::default(),
        |_| HostMainThread::default(),
        entry,
        PLUGIN_ID,
        &host_info,
    )
    .expect("the plugin should instantiate")
}

fn latency_ext(instance: &mut Instance) -> PluginLatency {
    instance
        .plugin_handle()
        .get_extension()
        .expect("the plugin should implement the latency extension")
}

fn params_ext(instance: &mut Instance) -> PluginParams {
    instance
        .plugin_handle()
        .get_extension()
        .expect("the plugin should implement the params extension")
}

/// The latency the engine itself reports for this configuration, i.e. what the plugin must tell
/// the host.
fn engine_latency(sample_rate: f64, channels: usize) -> u32 {
    let model = lull::model::default_model().expect("the embedded model loads");
    let denoiser =
        Denoiser::new(model, sample_rate as f32, channels).expect("a valid configuration");
    u32::try_from(denoiser.latency_samples()).expect("latency fits in u32")
}

/// Activates the plugin the way a well-behaved host does: if activation itself asks for a
/// restart, deactivate and activate again with the same configuration.
///
/// nice-plug publishes the latency set in `Plugin::activate` only after it has marked itself
/// active, so instead of calling `clap_host_latency.changed()` during activation (which CLAP
/// allows) it requests a restart, and calls `changed()` at the start of the next activation.
/// That route is legal too, if roundabout; a host just has to follow through.
///
/// Returns the processor and whether the host was told the latency may have changed, by either
/// route.
fn activate(
    instance: &mut Instance,
    config: PluginAudioConfiguration,
) -> (StoppedPluginAudioProcessor<TestHost>, bool) {
    let changed_calls =
        |instance: &Instance| instance.access_handler(|h| h.latency_changed_calls.get());
    let take_restart_request = |instance: &Instance| {
        instance.access_shared_handler(|h| h.restart_requested.swap(false, Ordering::SeqCst))
    };
    let activate_once = |instance: &mut Instance| {
        instance
            .activate(|_, _| (), config)
            .unwrap_or_else(|e| panic!("activation with {config:?} failed: {e}"))
    };

    let changed_before = changed_calls(instance);
    let mut processor = activate_once(instance);
    let restart_requested = take_restart_request(instance);
    if restart_requested {
        instance.deactivate(processor);
        processor = activate_once(instance);
        assert!(
            !take_restart_request(instance),
            "the plugin asked for another restart after being restarted with the same \
             configuration ({config:?}): a host would loop forever"
        );
    }
    let notified = restart_requested || changed_calls(instance) > changed_before;
    (processor, notified)
}

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

/// An owned copy of a parameter's CLAP info (clack's `ParamInfo` borrows its buffer).
#[derive(Debug, Clone, Copy)]
struct Param {
    id: ClapId,
    flags: ParamInfoFlags,
    min: f64,
    max: f64,
    default: f64,
}

/// All parameters, keyed by display name: nice-plug hashes the string ids, so names are the
/// stable handle a test can use.
fn params_by_name(instance: &mut Instance) -> HashMap<String, Param> {
    let params = params_ext(instance);
    let handle = instance.plugin_handle();
    let mut buffer = ParamInfoBuffer::new();
    let mut out = HashMap::new();
    for index in 0..params.count(&handle) {
        let info = params
            .get_info(&handle, index, &mut buffer)
            .unwrap_or_else(|| panic!("get_info({index}) failed"));
        let name = String::from_utf8(info.name.to_vec()).expect("parameter names are UTF-8");
        let param = Param {
            id: info.id,
            flags: info.flags,
            min: info.min_value,
            max: info.max_value,
            default: info.default_value,
        };
        assert!(out.insert(name.clone(), param).is_none(), "duplicate parameter name {name:?}");
    }
    out
}

fn value_to_text(instance: &mut Instance, param: &Param, value: f64) -> String {
    let params = params_ext(instance);
    let mut buffer = [0u8; 256];
    let text = params
        .value_to_text(&instance.plugin_handle(), param.id, value, &mut buffer)
        .unwrap_or_else(|_| panic!("value_to_text({value}) failed for {param:?}"));
    String::from_utf8(text.to_vec()).expect("parameter text is UTF-8")
}

fn text_to_value(instance: &mut Instance, param: &Param, text: &str) -> Option<f64> {
    let params = params_ext(instance);
    let text = CString::new(text).expect("no NUL in test strings");
    params.text_to_value(&instance.plugin_handle(), param.id, &text)
}

/// The text the plugin should show for a value in dB: one decimal, then the unit.
fn db_text(db: f32) -> String {
    format!("{db:.1} dB")
}

// ---------------------------------------------------------------------------------------------
// Audio
// ---------------------------------------------------------------------------------------------

/// Deterministic white noise in [-1, 1) (xorshift32), so failures reproduce exactly.
struct Noise(u32);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        (self.0 as f32 / u32::MAX as f32) * 2.0 - 1.0
    }
}

/// A 440 Hz sine plus white noise, different noise on every channel.
fn sine_plus_noise(sample_rate: f64, channels: usize, frames: usize) -> Vec<Vec<f32>> {
    (0..channels)
        .map(|ch| {
            let mut noise = Noise(0x9E37_79B9 ^ (ch as u32 + 1));
            (0..frames)
                .map(|i| {
                    let t = i as f64 / sample_rate;
                    0.3 * (2.0 * std::f64::consts::PI * 440.0 * t).sin() as f32
                        + 0.05 * noise.next()
                })
                .collect()
        })
        .collect()
}

/// Block sizes a host might use, cycled: single samples, odd sizes that straddle the engine's
/// hop boundaries, and the full maximum.
fn block_sizes(max_frames: usize) -> impl Iterator<Item = usize> {
    [max_frames, 1, 7, max_frames / 2, 3, max_frames - 1, 64, 333, 2]
        .into_iter()
        .map(move |n| n.clamp(1, max_frames))
        .cycle()
}

fn rms(samples: &[f32]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt()
}

/// A parameter change to send at an absolute sample position.
struct ParamChange {
    at_frame: usize,
    param: ClapId,
    value: f64,
}

/// What came out of [`run_audio`].
struct Processed {
    /// One `Vec` per channel, as long as the input.
    output: Vec<Vec<f32>>,
    /// The latency the plugin reported to the host for this activation.
    latency: usize,
}

/// Runs `input` through the (inactive) plugin: activates it, processes on a separate audio
/// thread in blocks of varying size with `changes` delivered as timestamped input events, then
/// stops processing and deactivates.
fn run_audio(
    instance: &mut Instance,
    config: PluginAudioConfiguration,
    input: &[Vec<f32>],
    changes: &[ParamChange],
) -> Processed {
    let channels = input.len();
    let frames = input[0].len();
    let max_frames = config.max_frames_count as usize;

    // `InputChannel` wants `&mut` buffers, so the plugin gets its own copy of the input.
    let mut input = input.to_vec();
    let mut output = vec![vec![0.0f32; frames]; channels];

    let (processor, _) = activate(instance, config);
    let latency = latency_ext(instance).get(&instance.plugin_handle()) as usize;

    let processor = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let mut processor = processor.start_processing().unwrap_or_else(|e| panic!("{e}"));

                // Everything the host needs per block is allocated here, before the loop.
                let mut input_ports = AudioPorts::with_capacity(channels, 1);
                let mut output_ports = AudioPorts::with_capacity(channels, 1);
                let mut block_events: Vec<ParamValueEvent> = Vec::with_capacity(changes.len());
                let mut output_events = EventBuffer::with_capacity(64);

                let mut sizes = block_sizes(max_frames);
                let mut start = 0;
                while start < frames {
                    let end = (start + sizes.next().unwrap()).min(frames);

                    block_events.clear();
                    block_events.extend(
                        changes.iter().filter(|c| (start..end).contains(&c.at_frame)).map(|c| {
                            let offset = u32::try_from(c.at_frame - start).unwrap();
                            ParamValueEvent::new(offset, c.param, Pckn::match_all(), c.value)
                        }),
                    );
                    output_events.clear();

                    let audio_in = input_ports.with_input_buffers([AudioPortBuffer {
                        latency: 0,
                        channels: AudioPortBufferType::f32_input_only(
                            input.iter_mut().map(|ch| InputChannel::variable(&mut ch[start..end])),
                        ),
                    }]);
                    let mut audio_out = output_ports.with_output_buffers([AudioPortBuffer {
                        latency: 0,
                        channels: AudioPortBufferType::f32_output_only(
                            output.iter_mut().map(|ch| &mut ch[start..end]),
                        ),
                    }]);

                    processor
                        .process(
                            &audio_in,
                            &mut audio_out,
                            &InputEvents::from_buffer(&block_events),
                            &mut OutputEvents::from_buffer(&mut output_events),
                            Some(start as u64),
                            None,
                        )
                        .unwrap_or_else(|e| {
                            panic!("process() failed on frames {start}..{end}: {e}")
                        });
                    start = end;
                }

                processor.stop_processing()
            })
            .join()
            .expect("the audio thread panicked")
    });

    instance.deactivate(processor);
    Processed { output, latency }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn factory_exposes_exactly_lull() {
    let factory = entry().get_plugin_factory().expect("the entry should have a plugin factory");

    assert_eq!(factory.plugin_count(), 1, "the bundle should contain exactly one plugin");
    let descriptor = factory.plugin_descriptor(0).expect("descriptor 0");

    assert_eq!(descriptor.id(), Some(PLUGIN_ID));
    assert_eq!(descriptor.name(), Some(c"Lull"));
    assert_eq!(descriptor.vendor(), Some(c"Lull"));
    let features: Vec<&str> =
        descriptor.features().map(|f| f.to_str().expect("features are UTF-8")).collect();
    assert_eq!(features, ["audio-effect", "restoration", "mono", "stereo"]);
}

#[test]
fn audio_port_layouts_are_stereo_then_mono() {
    let mut instance = instantiate(entry());
    let handle = instance.plugin_handle();

    let configs: PluginAudioPortsConfig =
        handle.get_extension().expect("the plugin should implement audio-ports-config");
    let mut buffer = AudioPortsConfigBuffer::new();
    let layouts: Vec<(u32, u32)> = (0..configs.count(&handle))
        .map(|i| {
            let config = configs.get(&handle, i, &mut buffer).expect("audio ports config");
            let channels = |port: Option<MainPortInfo>| port.map_or(0, |p| p.channel_count);
            (channels(config.main_input), channels(config.main_output))
        })
        .collect();
    assert_eq!(layouts, [(2, 2), (1, 1)], "layouts as (main in, main out) channels");

    // Without a `select()`, the active layout must be the first one: stereo.
    let ports: PluginAudioPorts =
        handle.get_extension().expect("the plugin should implement audio-ports");
    let mut buffer = AudioPortInfoBuffer::new();
    for is_input in [true, false] {
        assert_eq!(ports.count(&handle, is_input), 1, "one port (input: {is_input})");
        let port = ports.get(&handle, 0, is_input, &mut buffer).expect("port 0");
        assert_eq!(port.channel_count, 2, "default port is stereo (input: {is_input})");
    }
}

#[test]
fn params_are_exposed_and_convert_text() {
    let mut instance = instantiate(entry());
    let params = params_by_name(&mut instance);

    let mut names: Vec<&str> = params.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["Bypass", "Hum Removal", "Output Gain", "Reduction"]);

    // nice-plug hands CLAP hosts normalised values (0..1 for continuous parameters), not dB, so
    // ranges and defaults are checked through the plugin's own text conversion: that is what a
    // host displays and what a user types.
    let reduction = params["Reduction"];
    assert!(reduction.flags.contains(ParamInfoFlags::IS_AUTOMATABLE), "{reduction:?}");
    assert_eq!(value_to_text(&mut instance, &reduction, reduction.min), db_text(0.0));
    assert_eq!(value_to_text(&mut instance, &reduction, reduction.max), db_text(MAX_REDUCTION_DB));
    assert_eq!(
        value_to_text(&mut instance, &reduction, reduction.default),
        db_text(DEFAULT_REDUCTION_DB)
    );

    let twelve = text_to_value(&mut instance, &reduction, "12 dB").expect("\"12 dB\" should parse");
    // The range is linear in dB, so 12 dB sits 12/60 of the way up the host-visible range.
    let expected =
        reduction.min + (reduction.max - reduction.min) * f64::from(12.0 / MAX_REDUCTION_DB);
    assert!((twelve - expected).abs() < 1e-6, "\"12 dB\" -> {twelve}, expected {expected}");
    assert_eq!(value_to_text(&mut instance, &reduction, twelve), db_text(12.0));
    assert_eq!(text_to_value(&mut instance, &reduction, "12"), Some(twelve), "unit is optional");
    assert_eq!(text_to_value(&mut instance, &reduction, "loud"), None, "garbage must not parse");

    let (gain_lo, gain_hi) = OUTPUT_GAIN_RANGE_DB;
    let gain = params["Output Gain"];
    assert!(gain.flags.contains(ParamInfoFlags::IS_AUTOMATABLE), "{gain:?}");
    assert_eq!(value_to_text(&mut instance, &gain, gain.min), db_text(gain_lo));
    assert_eq!(value_to_text(&mut instance, &gain, gain.max), db_text(gain_hi));
    assert_eq!(value_to_text(&mut instance, &gain, gain.default), db_text(0.0));
    let minus_six = text_to_value(&mut instance, &gain, "-6 dB").expect("\"-6 dB\" should parse");
    assert_eq!(value_to_text(&mut instance, &gain, minus_six), db_text(-6.0));

    // CLAP requires a bypass parameter to be stepped, 0 = off and 1 = on, and off by default.
    let bypass = params["Bypass"];
    assert!(
        bypass.flags.contains(ParamInfoFlags::IS_BYPASS | ParamInfoFlags::IS_STEPPED),
        "{bypass:?}"
    );
    assert_eq!((bypass.min, bypass.max, bypass.default), (0.0, 1.0, 0.0));

    // Hum removal is a stepped on/off switch, automatable, on by default, and not the bypass.
    let hum = params["Hum Removal"];
    assert!(hum.flags.contains(ParamInfoFlags::IS_STEPPED | ParamInfoFlags::IS_AUTOMATABLE), "{hum:?}");
    assert!(!hum.flags.contains(ParamInfoFlags::IS_BYPASS), "{hum:?}");
    assert_eq!((hum.min, hum.max, hum.default), (0.0, 1.0, 1.0));

    // The values the plugin reports before any change are the defaults.
    let plugin_params = params_ext(&mut instance);
    for (name, param) in &params {
        let value = plugin_params.get_value(&instance.plugin_handle(), param.id);
        assert_eq!(value, Some(param.default), "current value of {name}");
    }
}

#[test]
fn latency_after_activation_matches_the_engine() {
    let mut instance = instantiate(entry());
    let latency = latency_ext(&mut instance);
    let configs: PluginAudioPortsConfig = instance
        .plugin_handle()
        .get_extension()
        .expect("the plugin should implement audio-ports-config");

    let mut previous: Option<u32> = None;
    for config_index in 0..configs.count(&instance.plugin_handle()) {
        let mut buffer = AudioPortsConfigBuffer::new();
        let config = configs
            .get(&instance.plugin_handle(), config_index, &mut buffer)
            .expect("audio ports config");
        let config_id = config.id;
        let channels = config.main_output.expect("every layout has a main output").channel_count;
        configs
            .select(&instance.plugin_handle(), config_id)
            .unwrap_or_else(|_| panic!("selecting the {channels}-channel layout failed"));

        for sample_rate in [44_100.0, 48_000.0] {
            for max_frames_count in [64, 512] {
                let config =
                    PluginAudioConfiguration { sample_rate, min_frames_count: 1, max_frames_count };
                let (processor, notified) = activate(&mut instance, config);

                let reported = latency.get(&instance.plugin_handle());
                let expected = engine_latency(sample_rate, channels as usize);
                println!(
                    "{channels} ch, {sample_rate} Hz, max block {max_frames_count}: \
                     latency {reported} (engine: {expected})"
                );
                assert_eq!(
                    reported, expected,
                    "latency at {sample_rate} Hz, {channels} ch, max block {max_frames_count}"
                );

                // A host only re-reads the latency when told, so a change between activations
                // must come with `clap_host_latency.changed()` or a restart request.
                if previous.is_some_and(|p| p != reported) {
                    assert!(
                        notified,
                        "latency changed to {reported} at {sample_rate} Hz without telling the host"
                    );
                }
                previous = Some(reported);

                instance.deactivate(processor);
            }
        }
    }
}

#[test]
fn processes_stereo_audio_with_a_reduction_change() {
    const SECONDS: f64 = 3.0;
    let sample_rate = 48_000.0;
    let channels = 2; // the default layout, checked in `audio_port_layouts_are_stereo_then_mono`
    let config =
        PluginAudioConfiguration { sample_rate, min_frames_count: 1, max_frames_count: 512 };

    let mut instance = instantiate(entry());
    let params = params_by_name(&mut instance);
    let reduction = params["Reduction"];
    let twelve_db = text_to_value(&mut instance, &reduction, "12 dB").expect("\"12 dB\" parses");

    let frames = (sample_rate * SECONDS) as usize;
    let input = sine_plus_noise(sample_rate, channels, frames);
    // Mid-stream, and deliberately not on a block or hop boundary.
    let change = ParamChange { at_frame: frames / 3 + 17, param: reduction.id, value: twelve_db };

    let started = std::time::Instant::now();
    let Processed { output, latency } = run_audio(&mut instance, config, &input, &[change]);
    println!("processed {SECONDS} s of stereo audio in {:.2?}", started.elapsed());

    for (ch, samples) in output.iter().enumerate() {
        if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
            panic!("channel {ch}: non-finite output {} at frame {i}", samples[i]);
        }
    }

    // Reduction is the most the plugin may attenuate, so past the latency the output cannot be
    // quieter than the input at the strongest setting used (the default); half that again leaves
    // room for STFT windowing effects. All-zero output fails this by a wide margin.
    let floor = 10f64.powf(-f64::from(DEFAULT_REDUCTION_DB) / 20.0);
    for ch in 0..channels {
        let rms_in = rms(&input[ch][..frames - latency]);
        let rms_out = rms(&output[ch][latency..]);
        println!("channel {ch}: input RMS {rms_in:.4}, output RMS after latency {rms_out:.4}");
        assert!(
            rms_out > 0.5 * floor * rms_in,
            "channel {ch}: output RMS {rms_out} after the {latency}-sample latency is below \
             the Reduction floor (input RMS {rms_in})"
        );
    }

    // The change sent as an event during processing must have reached the parameter.
    let value = params_ext(&mut instance).get_value(&instance.plugin_handle(), reduction.id);
    let value = value.expect("Reduction has a value");
    assert!((value - twelve_db).abs() < 1e-6, "Reduction is {value}, expected {twelve_db}");
    assert_eq!(value_to_text(&mut instance, &reduction, value), db_text(12.0));

    // Honour a deferred main-thread callback, as a host's event loop would.
    if instance.access_shared_handler(|h| h.callback_requested.swap(false, Ordering::SeqCst)) {
        instance.call_on_main_thread_callback();
    }
    // Any restart asked for by activation was already honoured in `activate`.
    let restart = instance.access_shared_handler(|h| h.restart_requested.load(Ordering::SeqCst));
    assert!(!restart, "processing and a parameter change should not require a restart");
}

#[test]
fn bypass_outputs_the_input_delayed_by_exactly_the_reported_latency() {
    // The other rate and a small maximum block, to complement the test above.
    let sample_rate = 44_100.0;
    let channels = 2;
    let config =
        PluginAudioConfiguration { sample_rate, min_frames_count: 1, max_frames_count: 64 };

    let mut instance = instantiate(entry());
    let bypass = params_by_name(&mut instance)["Bypass"];

    let frames = sample_rate as usize;
    let input = sine_plus_noise(sample_rate, channels, frames);
    let bypass_on = ParamChange { at_frame: 0, param: bypass.id, value: bypass.max };
    let Processed { output, latency } = run_audio(&mut instance, config, &input, &[bypass_on]);

    // Bypass crossfades to the dry signal, which the plugin delays by its latency so that a host
    // compensating for the reported latency stays in sync either way. Well past the crossfade
    // (the second half), the output must be the input delayed by exactly that many samples.
    for ch in 0..channels {
        for n in frames / 2..frames {
            assert_eq!(
                output[ch][n],
                input[ch][n - latency],
                "channel {ch}, frame {n}: bypassed output is not the input delayed by the \
                 reported {latency} samples"
            );
        }
    }
}
