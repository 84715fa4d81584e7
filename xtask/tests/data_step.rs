//! `cargo xtask data`'s processing stage on a tiny generated extract tree (no apt, no dpkg, no
//! ffmpeg): selection rules, Belarusian and qabcs-noise exclusion, de-duplication, measured
//! fields, splits, the manifest API, and re-runs that decode nothing.
//!
//! The one stored fixture, `fixtures/data/tones_22k_5k.ogg` (5 KB), is 0.6 s of a tone complex
//! (150 Hz…5 kHz, −20 dBFS RMS) at 22.05 kHz, encoded with `sox in.wav -C 0 out.ogg`: a real
//! Vorbis file for the symphonia path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use xtask::data::extract::{write_stamp, Stamp};
use xtask::data::manifest::Dropped;
use xtask::data::select::{classify, Verdict};
use xtask::data::{analyze, packages, process, read_clip, split, tools, Clip, Kind, Manifest, Split};

const FAKE_SHA: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";

/// Speech-like tone complex: tones from 150 Hz up to exactly `top_hz` (−3 dB/octave), RMS
/// `rms`, for `secs` (faded in and out), then `silence_s` of digital silence (which the active level must ignore).
fn tones(rate: u32, secs: f64, top_hz: f64, rms: f64, silence_s: f64, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut freqs = Vec::new();
    let mut f = 150.0;
    while f < top_hz {
        freqs.push(f);
        f *= 1.15;
    }
    freqs.push(top_hz);
    let phases: Vec<f64> = freqs.iter().map(|_| rng.gen_range(0.0..std::f64::consts::TAU)).collect();
    let n = (secs * rate as f64) as usize;
    let mut x: Vec<f64> = (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            freqs.iter().zip(&phases).map(|(f, p)| (150.0 / f).sqrt() * (std::f64::consts::TAU * f * t + p).sin()).sum()
        })
        .collect();
    // 10 ms fades, as a real recording starts and stops: a hard cut would be a click whose
    // broadband energy is real content above the band edge.
    let fade = (0.01 * rate as f64) as usize;
    for i in 0..fade.min(n / 2) {
        let g = (std::f64::consts::FRAC_PI_2 * i as f64 / fade as f64).sin().powi(2);
        x[i] *= g;
        x[n - 1 - i] *= g;
    }
    let norm = rms / (x.iter().map(|v| v * v).sum::<f64>() / n as f64).sqrt();
    x.iter_mut().for_each(|v| *v *= norm);
    x.extend(std::iter::repeat_n(0.0, (silence_s * rate as f64) as usize));
    x.into_iter().map(|v| v as f32).collect()
}

fn white(rate: u32, secs: f64, rms: f32, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let amp = rms * 3f32.sqrt(); // uniform in ±a has RMS a/√3
    (0..(secs * rate as f64) as usize).map(|_| rng.gen_range(-amp..amp)).collect()
}

fn write_wav(path: &Path, samples: &[f32], rate: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let spec = hound::WavSpec { channels: 1, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample((s * 32767.0).round() as i16).unwrap();
    }
    w.finalize().unwrap();
}

/// What a generated file should measure as.
struct Expect {
    rate: u32,
    duration_s: f64,
    bandwidth_hz: (u32, u32),
    level_dbfs: Option<f64>,
}

struct Fixture {
    _tmp: tempfile::TempDir,
    extract: PathBuf,
    out: PathBuf,
    /// (package, source path) → expected measurements, for every file that must become a clip.
    expected: BTreeMap<(String, String), Expect>,
}

/// A fake extract tree: a few short files per package at different rates and bandwidths,
/// plus every kind of file that must be left out.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let extract = tmp.path().join("extract");
    let out = tmp.path().join("corpus");
    let mut expected = BTreeMap::new();
    let mut put = |pkg: &str, rel: &str, samples: &[f32], rate: u32, expect: Option<Expect>| {
        write_wav(&extract.join(pkg).join(rel), samples, rate);
        if let Some(e) = expect {
            expected.insert((pkg.to_string(), rel.to_string()), e);
        }
    };
    let band = |top: f64| ((top - 100.0) as u32, (top + 400.0) as u32);
    let speech = |rate: u32, top: f64, seed: u64| tones(rate, 0.8, top, 0.1, 0.4, seed);
    let exp = |rate: u32, top: f64| Some(Expect { rate, duration_s: 1.2, bandwidth_hz: band(top), level_dbfs: Some(-20.0) });

    // Fish Fillets (Czech): the two fish and a minor role.
    let fillets = "usr/share/games/fillets-ng/sound/city/cs";
    put("fillets-ng-data-cs", &format!("{fillets}/vit-v-proc.wav"), &speech(22_050, 6_000.0, 1), 22_050, exp(22_050, 6_000.0));
    put("fillets-ng-data-cs", &format!("{fillets}/vit-hs-klid1.wav"), &speech(22_050, 9_000.0, 2), 22_050, exp(22_050, 9_000.0));
    let ogg = extract.join("fillets-ng-data-cs").join(fillets).join("vit-m-hlava.ogg");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data/tones_22k_5k.ogg"), &ogg).unwrap();

    // festvox-ru: one good clip, one silent, one too short.
    let fest = "usr/share/festival/voices/russian/msu_ru_nsh_clunits/wav";
    put("festvox-ru", &format!("{fest}/ru_0001.wav"), &speech(16_000, 7_000.0, 3), 16_000, exp(16_000, 7_000.0));
    put("festvox-ru", &format!("{fest}/ru_0002.wav"), &vec![0.0; 16_000], 16_000, None);
    put("festvox-ru", &format!("{fest}/ru_0003.wav"), &tones(16_000, 0.1, 4_000.0, 0.1, 0.0, 4), 16_000, None);

    // tuxpaint: full-band French and Russian descriptions, a byte-identical copy, Belarusian,
    // a spoken symbol (not a source), and a sound effect (noise, full band).
    let stamps = "usr/share/tuxpaint/stamps";
    put("tuxpaint-stamps-default", &format!("{stamps}/animals/cat_desc_fr.wav"), &speech(44_100, 16_000.0, 5), 44_100, exp(44_100, 16_000.0));
    put("tuxpaint-stamps-default", &format!("{stamps}/animals/cat_desc_ru.wav"), &speech(44_100, 18_000.0, 6), 44_100, exp(44_100, 18_000.0));
    put("tuxpaint-stamps-default", &format!("{stamps}/animals/dog_desc_ru.wav"), &speech(44_100, 18_000.0, 6), 44_100, None);
    put("tuxpaint-stamps-default", &format!("{stamps}/animals/cat_desc_be.wav"), &speech(44_100, 12_000.0, 7), 44_100, None);
    put("tuxpaint-stamps-default", &format!("{stamps}/symbols/math/7_sv.wav"), &speech(44_100, 8_000.0, 8), 44_100, None);
    put(
        "tuxpaint-stamps-default",
        &format!("{stamps}/household/vacuum_cleaner.wav"),
        &white(44_100, 1.0, 0.05, 9),
        44_100,
        Some(Expect { rate: 44_100, duration_s: 1.0, bandwidth_hz: (21_000, 22_050), level_dbfs: Some(-26.0) }),
    );

    // klettres: French (the tuxpaint volunteer's language), German and British English.
    put("klettres-data", "usr/share/klettres/fr/alpha/a.wav", &speech(44_100, 15_000.0, 10), 44_100, exp(44_100, 15_000.0));
    put("klettres-data", "usr/share/klettres/de/alpha/a.wav", &speech(48_000, 14_000.0, 11), 48_000, exp(48_000, 14_000.0));
    put("klettres-data", "usr/share/klettres/en_GB/syllab/ba.wav", &speech(8_000, 3_400.0, 12), 8_000, exp(8_000, 3_400.0));

    // qabcs: `abcs/all/noises` is not speech (and not a noise source), `be` is reserved.
    put("qabcs-data", "usr/share/qabcs/abcs/all/noises/dog.wav", &white(22_050, 1.0, 0.1, 13), 22_050, None);
    put("qabcs-data", "usr/share/qabcs/abcs/be/sounds/words/x.wav", &speech(22_050, 8_000.0, 14), 22_050, None);
    put("qabcs-data", "usr/share/qabcs/abcs/en_gb/sounds/words/apple.wav", &speech(22_050, 10_000.0, 15), 22_050, exp(22_050, 10_000.0));

    // lincity: 11 kHz noise family Water1/Water2, a Fire family, and a file that is not audio.
    let snd = "usr/share/games/lincity-ng/sounds";
    let noise11 = |seed| white(11_025, 1.0, 0.05, seed);
    let e11 = || Some(Expect { rate: 11_025, duration_s: 1.0, bandwidth_hz: (5_000, 5_513), level_dbfs: Some(-26.0) });
    put("lincity-ng-data", &format!("{snd}/Water1.wav"), &noise11(16), 11_025, e11());
    put("lincity-ng-data", &format!("{snd}/Water2.wav"), &noise11(17), 11_025, e11());
    put("lincity-ng-data", &format!("{snd}/Fire1.wav"), &noise11(18), 11_025, e11());
    std::fs::write(extract.join("lincity-ng-data").join(snd).join("Broken1.wav"), b"RIFF not really a wave file").unwrap();

    // The generated Piper voice (`--piper`): one sentence clip, 22.05 kHz.
    put("piper-joe", "fortunes/0003/01.wav", &speech(22_050, 9_000.0, 19), 22_050, exp(22_050, 9_000.0));
    // A fortune an interrupted run left half spoken.
    put("piper-joe", "fortunes/0004.partial/00.wav", &speech(22_050, 9_000.0, 20), 22_050, None);
    // A Kokoro voice (`--kokoro`): 24 kHz, speech up to 12 kHz.
    put("kokoro-jm_kumo", "riddles/0007/00.wav", &speech(24_000, 11_000.0, 21), 24_000, exp(24_000, 11_000.0));

    // (`put` is done with `expected` now.)
    expected.insert(
        ("fillets-ng-data-cs".into(), format!("{fillets}/vit-m-hlava.ogg")),
        Expect { rate: 22_050, duration_s: 0.6, bandwidth_hz: band(5_000.0), level_dbfs: Some(-20.0) },
    );

    // Provenance stamps for all but lincity, whose clips must then fall back to the pin.
    for pkg in ["fillets-ng-data-cs", "festvox-ru", "tuxpaint-stamps-default", "klettres-data", "qabcs-data"] {
        let version = packages::find(pkg).unwrap().version.to_string();
        write_stamp(&extract.join(pkg), &Stamp { name: pkg.into(), version, deb_sha256: FAKE_SHA.into(), deb_file: format!("{pkg}.deb") }).unwrap();
    }
    Fixture { _tmp: tmp, extract, out, expected }
}

fn by_source(m: &Manifest) -> BTreeMap<(String, String), &Clip> {
    m.clips.iter().map(|c| ((c.package.clone(), c.source.clone()), c)).collect()
}

fn dropped_reason<'a>(m: &'a Manifest, source_suffix: &str) -> Option<&'a Dropped> {
    m.dropped.iter().find(|d| d.source.ends_with(source_suffix))
}

#[test]
fn processing_selects_the_right_clips_and_measures_them() {
    let fx = fixture();
    let m = process(&fx.extract, &fx.out).unwrap();
    let clips = by_source(&m);

    let got: BTreeSet<_> = clips.keys().cloned().collect();
    let want: BTreeSet<_> = fx.expected.keys().cloned().collect();
    assert_eq!(got, want, "clips in the manifest differ from the expected selection");

    for c in &m.clips {
        assert!(!c.source.contains("/be/") && !c.source.contains("_desc_be"), "Belarusian recording {} in the corpus", c.source);
        assert!(!c.source.contains("abcs/all/"), "qabcs noises file {} in the corpus", c.source);
        assert!(c.abs_path.is_file(), "{} missing", c.abs_path.display());
        assert!(c.path.starts_with(&format!("audio/{}/{}/", c.kind, c.package)), "unexpected path {}", c.path);
        let e = &fx.expected[&(c.package.clone(), c.source.clone())];
        assert_eq!(c.rate, e.rate, "{}", c.source);
        assert!((c.duration_s - e.duration_s).abs() < 0.01, "{}: duration {} != {}", c.source, c.duration_s, e.duration_s);
        let (lo, hi) = e.bandwidth_hz;
        assert!((lo..=hi).contains(&c.bandwidth_hz), "{}: bandwidth {} Hz not in {lo}..={hi}", c.source, c.bandwidth_hz);
        if let Some(level) = e.level_dbfs {
            assert!((c.active_level_dbfs - level).abs() < 1.0, "{}: active level {:.2} dBFS, expected {level}", c.source, c.active_level_dbfs);
        }
        let (samples, rate) = read_clip(&c.abs_path).unwrap();
        assert_eq!(rate, c.rate);
        assert!(((samples.len() as f64 / rate as f64) - c.duration_s).abs() < 1e-6);
        assert_eq!(hound::WavReader::open(&c.abs_path).unwrap().spec().channels, 1);
    }

    // Labels and provenance.
    let clip = |pkg: &str, suffix: &str| *clips.iter().find(|((p, s), _)| p == pkg && s.ends_with(suffix)).unwrap().1;
    assert_eq!(clip("fillets-ng-data-cs", "vit-m-hlava.ogg").speaker.as_deref(), Some("fillets-cs:fish-m"));
    assert_eq!(clip("fillets-ng-data-cs", "vit-v-proc.wav").speaker.as_deref(), Some("fillets-cs:fish-v"));
    assert_eq!(clip("fillets-ng-data-cs", "vit-hs-klid1.wav").speaker.as_deref(), Some("fillets-cs:minor-roles"));
    assert_eq!(clip("festvox-ru", "ru_0001.wav").speaker.as_deref(), Some("festvox:msu_ru_nsh"));
    let tux_fr = clip("tuxpaint-stamps-default", "cat_desc_fr.wav");
    let klettres_fr = clip("klettres-data", "fr/alpha/a.wav");
    assert_eq!(tux_fr.speaker, klettres_fr.speaker, "children's apps must share one speaker per language");
    assert_eq!(tux_fr.speaker.as_deref(), Some("kids:fr"));
    let apple = clip("qabcs-data", "apple.wav");
    assert_eq!((apple.speaker.as_deref(), apple.language.as_deref()), (Some("kids:en"), Some("en_GB")));
    assert_eq!(clip("klettres-data", "en_GB/syllab/ba.wav").speaker, apple.speaker);
    let vacuum = clip("tuxpaint-stamps-default", "vacuum_cleaner.wav");
    assert_eq!((vacuum.kind, vacuum.speaker.as_deref()), (Kind::Noise, None));
    assert_eq!(clip("lincity-ng-data", "Water1.wav").group, clip("lincity-ng-data", "Water2.wav").group, "numbered variants share a family");
    assert_eq!(tux_fr.version, "2022.06.04-1");
    assert_eq!(tux_fr.deb_sha256.as_deref(), Some(FAKE_SHA));
    let joe = clip("piper-joe", "fortunes/0003/01.wav");
    assert_eq!((joe.kind, joe.speaker.as_deref(), joe.language.as_deref()), (Kind::Speech, Some("piper:joe"), Some("en_US")));
    assert_eq!(joe.split, Split::Train, "the generated voice trains only; the evaluation stays on recordings");
    assert!(packages::is_generated(&joe.package) && !packages::is_generated("festvox-ru"));
    let kumo = clip("kokoro-jm_kumo", "riddles/0007/00.wav");
    assert_eq!((kumo.speaker.as_deref(), kumo.language.as_deref(), kumo.split), (Some("kokoro:jm_kumo"), Some("en"), Split::Train));
    assert!(packages::is_generated(&kumo.package));
    let water = clip("lincity-ng-data", "Water1.wav");
    assert_eq!((water.version.as_str(), water.deb_sha256.as_deref()), ("2.9~git20150314-5", None));

    // Why the rest was left out.
    assert!(dropped_reason(&m, "ru_0002.wav").unwrap().reason.starts_with("silent"));
    assert!(dropped_reason(&m, "ru_0003.wav").unwrap().reason.starts_with("too short"));
    assert!(dropped_reason(&m, "dog_desc_ru.wav").unwrap().reason.contains("duplicate of tuxpaint-stamps-default/"));
    assert!(dropped_reason(&m, "Broken1.wav").unwrap().reason.contains("Broken1.wav"), "a decode error names the file");
    let tux = m.packages.iter().find(|p| p.name == "tuxpaint-stamps-default").unwrap();
    assert_eq!(tux.reserved_files, 1);
    assert_eq!(m.packages.iter().find(|p| p.name == "qabcs-data").unwrap().reserved_files, 1);
}

#[test]
fn splits_are_disjoint_by_speaker_and_noise_file() {
    let fx = fixture();
    let m = process(&fx.extract, &fx.out).unwrap();
    let mut speaker_splits: BTreeMap<&str, BTreeSet<Split>> = BTreeMap::new();
    let mut noise_files: BTreeMap<&str, BTreeSet<Split>> = BTreeMap::new();
    let mut noise_groups: BTreeMap<&str, BTreeSet<Split>> = BTreeMap::new();
    for c in &m.clips {
        match c.kind {
            Kind::Speech => {
                speaker_splits.entry(c.speaker.as_deref().expect("speech has a speaker")).or_default().insert(c.split);
                assert_eq!(Some(c.group.as_str()), c.speaker.as_deref());
            }
            Kind::Noise => {
                noise_files.entry(&c.source).or_default().insert(c.split);
                noise_groups.entry(&c.group).or_default().insert(c.split);
            }
        }
    }
    for (what, map) in [("speaker", &speaker_splits), ("noise file", &noise_files), ("noise family", &noise_groups)] {
        for (k, s) in map.iter() {
            assert_eq!(s.len(), 1, "{what} {k} is in several splits: {s:?}");
        }
    }
    // Same inputs, same splits: nothing random.
    let again = process(&fx.extract, &fx.out).unwrap();
    let splits = |m: &Manifest| m.clips.iter().map(|c| (c.source.clone(), c.split)).collect::<Vec<_>>();
    assert_eq!(splits(&m), splits(&again));
    // The filter the training loader uses.
    for split in Split::ALL {
        for kind in [Kind::Speech, Kind::Noise] {
            assert!(m.clips(kind, split).all(|c| c.kind == kind && c.split == split));
        }
    }
    let table = xtask::data::summary::render(&m);
    assert!(table.contains("speech hours") && table.contains("noise minutes") && table.contains("speakers"), "{table}");
    let total: usize = Split::ALL.iter().map(|&s| m.clips(Kind::Speech, s).count() + m.clips(Kind::Noise, s).count()).sum();
    assert_eq!(total, m.clips.len());
}

#[test]
fn rerun_decodes_nothing_and_manifest_round_trips() {
    let fx = fixture();
    let first = process(&fx.extract, &fx.out).unwrap();
    let mtimes = |m: &Manifest| m.clips.iter().map(|c| std::fs::metadata(&c.abs_path).unwrap().modified().unwrap()).collect::<Vec<_>>();
    let before = mtimes(&first);
    std::thread::sleep(std::time::Duration::from_millis(20));

    let second = process(&fx.extract, &fx.out).unwrap();
    assert_eq!(first, second, "a re-run must give the same manifest");
    assert_eq!(before, mtimes(&second), "a re-run must not rewrite WAVs");

    // Without the measurement cache, the WAVs are measured again, still not re-decoded.
    std::fs::remove_file(fx.out.join("cache/analysis.json")).unwrap();
    let third = process(&fx.extract, &fx.out).unwrap();
    assert_eq!(first, third);
    assert_eq!(before, mtimes(&third));

    let loaded = Manifest::load(&fx.out).unwrap();
    assert_eq!(loaded, first);
    assert!(loaded.clips.iter().all(|c| c.abs_path.is_absolute() && c.abs_path.is_file()));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fx.out.join("manifest.json")).unwrap()).unwrap();
    let c = &json["clips"][0];
    for field in [
        "path", "kind", "package", "version", "deb_sha256", "source", "speaker", "language", "group", "split", "duration_s", "rate",
        "bandwidth_hz", "active_level_dbfs",
    ] {
        assert!(c.get(field).is_some(), "manifest clip has no `{field}`");
    }
}

#[test]
fn bad_manifest_and_bad_clip_are_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Manifest::load(tmp.path()).unwrap_err();
    assert!(format!("{err:#}").contains("manifest.json"), "{err:#}");
    std::fs::write(tmp.path().join("manifest.json"), "{\"format_version\": 99}").unwrap();
    assert!(Manifest::load(tmp.path()).is_err());
    let bogus = tmp.path().join("x.wav");
    std::fs::write(&bogus, b"nope").unwrap();
    let err = read_clip(&bogus).unwrap_err();
    assert!(format!("{err:#}").contains("x.wav"), "{err:#}");
}

#[test]
fn missing_tool_names_it_and_how_to_install() {
    let err = tools::require("lull-no-such-tool", "lull-no-such-package", "to test the error").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("`lull-no-such-tool`"), "{text}");
    assert!(text.contains("apt-get install lull-no-such-package"), "{text}");
    assert_eq!(err.tool, "lull-no-such-tool");
    // And a tool that exists everywhere is found.
    assert!(tools::require("sh", "dash", "to test").is_ok());
}

#[test]
fn selection_rules_on_real_package_paths() {
    let take = |pkg: &str, rel: &str| match classify(pkg, packages::find(pkg).unwrap().rule, rel) {
        Verdict::Take(s) => (s.kind, s.speaker, s.language, s.group),
        other => panic!("{pkg}/{rel}: expected a clip, got {other:?}"),
    };
    let verdict = |pkg: &str, rel: &str| classify(pkg, packages::find(pkg).unwrap().rule, rel);
    let speech = |spk: &str, lang: &str| (Kind::Speech, Some(spk.to_string()), Some(lang.to_string()), spk.to_string());

    let ast = "usr/share/asterisk/sounds";
    assert_eq!(take("asterisk-core-sounds-en-g722", &format!("{ast}/en_US_f_Allison/digits/1.g722")), speech("asterisk:allison", "en"));
    assert_eq!(take("asterisk-core-sounds-es-g722", &format!("{ast}/es_MX_f_Allison/hello.g722")), speech("asterisk:allison", "es"));
    assert_eq!(take("asterisk-core-sounds-it-g722", &format!("{ast}/it_IT_m_Carlo/hello.g722")), speech("asterisk:carlo", "it"));
    assert_eq!(verdict("asterisk-core-sounds-en-g722", &format!("{ast}/en_US_f_Allison/silence/1.g722")), Verdict::Ignore);
    assert_eq!(take("kajongg", "usr/share/kajongg/voices/male1/b1.ogg"), speech("kajongg:male1", "en"));
    assert_eq!(take("kajongg", "usr/share/kajongg/voices/de/male1/b1.ogg"), speech("kajongg:male1", "de"));
    assert_eq!(take("gcin-voice", "usr/share/gcin-voice/ogg/ㄅㄚ1/3.ogg"), speech("gcin:voice", "zh"));
    assert_eq!(take("ktuberling-data", "usr/share/ktuberling/sounds/sr@latin/hat.ogg"), speech("kids:sr", "sr@latin"));
    assert_eq!(take("ktuberling-data", "usr/share/ktuberling/sounds/nn/ball.opus"), speech("kids:nn", "nn"));
    assert_eq!(verdict("ktuberling-data", "usr/share/ktuberling/sounds/ca.soundtheme"), Verdict::Ignore);
    assert_eq!(take("fillets-ng-data-nl", "usr/share/games/fillets-ng/sound/fdto/nl/cely-m.ogg"), speech("fillets-nl:fish-m", "nl"));
    assert_eq!(take("fillets-ng-data-nl", "usr/share/games/fillets-ng/sound/gods/nl/b2-rikal2.ogg"), speech("fillets-nl:minor-roles", "nl"));
    assert_eq!(take("fillets-ng-data-cs", "usr/share/games/fillets-ng/sound/share/blackjokes/cs/smrt-v-0.ogg"), speech("fillets-cs:fish-v", "cs"));
    let tux = "usr/share/tuxpaint/stamps";
    assert_eq!(take("tuxpaint-stamps-default", &format!("{tux}/town/monuments/inukshuk-photo_desc_da.ogg.ogg")), speech("kids:da", "da"));
    assert_eq!(take("tuxpaint-stamps-default", &format!("{tux}/symbols/alphabets/english/filled/uppercase/M_filled_desc_bg.ogg")), speech("kids:bg", "bg"));
    assert_eq!(take("tuxpaint-stamps-default", &format!("{tux}/animals/mammals/hippopotamus_desc.ogg")), speech("kids:en", "en"));
    assert_eq!(verdict("tuxpaint-stamps-default", &format!("{tux}/animals/mammals/pig_desc_be.ogg")), Verdict::Reserved);
    assert_eq!(verdict("tuxpaint-stamps-default", &format!("{tux}/symbols/math/7_en_GB.ogg")), Verdict::Ignore);
    assert_eq!(take("tuxpaint-stamps-default", &format!("{tux}/animals/mammals/pig_golden2.ogg")).3, "tuxpaint-stamps-default:pig_golden");
    assert_eq!(verdict("qabcs-data", "usr/share/qabcs/abcs/all/noises/accordion.ogg"), Verdict::Ignore);
    assert_eq!(verdict("qabcs-data", "usr/share/qabcs/abcs/be/sounds/alpha/a.ogg"), Verdict::Reserved);
    let mt = "usr/share/games/minetest/games/minetest_game/mods/env_sounds/sounds/env_sounds_water.3.ogg";
    assert_eq!(take("minetest-data", mt).3, "minetest-data:env_sounds_water");
    assert_eq!(take("colobot-common-sounds", "usr/share/games/colobot/sounds/sound064.wav").3, "colobot-common-sounds:sound064");
    assert_eq!(take("sonic-pi-samples", "usr/share/sonic-pi/samples/tabla_ghe3.flac").3, "sonic-pi-samples:tabla_ghe");
    assert_eq!(verdict("sonic-pi-samples", "usr/share/sonic-pi/samples/README.md"), Verdict::Ignore);
    assert_eq!(take("piper-joe", "literature/0120/03.wav"), speech("piper:joe", "en_US"));
    assert_eq!(verdict("piper-joe", "literature/0120.partial/03.wav"), Verdict::Ignore, "a fortune still being spoken");
    assert_eq!(verdict("piper-joe", "literature/03.wav"), Verdict::Ignore);
    let text = packages::PIPER_TEXT;
    assert_eq!(classify(text.name, text.rule, "usr/share/games/fortunes/fortunes"), Verdict::Ignore);
}

#[test]
fn hashed_split_is_stable_and_roughly_80_10_10() {
    let keys: Vec<String> = (0..2000).map(|i| format!("speaker-{i}")).collect();
    let mut counts: BTreeMap<Split, usize> = BTreeMap::new();
    for k in &keys {
        assert_eq!(split::hashed(k), split::hashed(k));
        *counts.entry(split::hashed(k)).or_default() += 1;
    }
    assert!((1450..1750).contains(&counts[&Split::Train]), "{counts:?}");
    assert!((120..280).contains(&counts[&Split::Val]) && (120..280).contains(&counts[&Split::Test]), "{counts:?}");
}

#[test]
fn bandwidth_follows_the_band_edge_at_any_rate() {
    for (rate, top) in [(8_000, 3_000.0), (16_000, 7_000.0), (22_050, 5_500.0), (44_100, 11_000.0), (48_000, 19_000.0)] {
        let x = tones(rate, 1.0, top, 0.1, 0.0, 42);
        let bw = analyze::bandwidth_hz(&x, rate);
        assert!((top - 100.0..top + 400.0).contains(&bw), "{rate} Hz, content to {top} Hz: measured {bw}");
    }
    assert_eq!(analyze::bandwidth_hz(&[0.0; 4000], 16_000), 0.0);
    let a = analyze::analyze(&[], 16_000);
    assert!(a.drop_reason().is_some());
}

#[test]
fn noise_floor_is_the_pauses_not_the_voice_nor_digital_silence() {
    let rate = 16_000;
    // 1 s of "voice" at −20 dBFS RMS and 0.5 s of pause, hiss at −50 dBFS throughout, then
    // 1 s of digital silence (padding, which must not read as a floor).
    let mut x = tones(rate, 1.0, 5_000.0, 0.1, 0.5, 3);
    let hiss = white(rate, 1.5, 10f32.powf(-50.0 / 20.0), 4);
    x.iter_mut().zip(&hiss).for_each(|(v, h)| *v += h);
    x.extend(std::iter::repeat_n(0.0, rate as usize));
    let floor = analyze::noise_floor_db(&x, rate).unwrap();
    assert!((floor + 50.0).abs() < 1.5, "floor {floor:.2} dBFS, hiss at −50");
    // Without pauses the floor is the quietest speech, well above the hiss.
    let busy = analyze::noise_floor_db(&tones(rate, 1.0, 5_000.0, 0.1, 0.0, 3), rate).unwrap();
    assert!(busy > -40.0, "{busy:.2}");
    assert_eq!(analyze::noise_floor_db(&[0.0; 4000], rate), None);
}

#[test]
fn split_tables_name_each_unit_once() {
    for (name, table) in [("SPEECH_TABLE", split::SPEECH_TABLE), ("NATURAL_NOISE", split::NATURAL_NOISE), ("MUSIC_PINS", split::MUSIC_PINS)] {
        let mut seen = BTreeSet::new();
        for (key, _) in table {
            assert!(seen.insert(*key), "{name} lists `{key}` twice");
        }
    }
    for (key, s) in split::NATURAL_NOISE.iter().chain(split::MUSIC_PINS) {
        assert_eq!(split::assign(Kind::Noise, key), *s);
    }
    for split in Split::ALL {
        assert!(split::NATURAL_NOISE.iter().any(|(_, s)| *s == split), "no natural noise pinned to {split}");
        assert!(split::SPEECH_TABLE.iter().any(|(_, s)| *s == split), "no voice pinned to {split}");
    }
}

#[test]
fn the_voice_pins_are_the_ones_the_python_tests_install() {
    // `tests/python/test_{piper,kokoro}_voices.py` run the data step's scripts with the packages
    // of tests/python/requirements.txt; they must be the versions `--piper`/`--kokoro` install.
    let req = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/python/requirements.txt")).unwrap();
    for engine in [&xtask::data::voices::PIPER, &xtask::data::voices::KOKORO] {
        for pin in engine.requirements {
            assert!(req.lines().any(|l| l.trim() == *pin), "tests/python/requirements.txt lacks `{pin}`");
        }
    }
}
