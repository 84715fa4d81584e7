//! Which files of each package are speech or noise, whose voice each one is, and which
//! recordings are reserved (Belarusian, `be`, in every package).
//!
//! Speaker keys are the unit the splits are disjoint by, so when the paths cannot tell two
//! voices apart the key is deliberately coarse:
//! - Children's apps (tuxpaint, klettres, ktuberling, qabcs) often share one volunteer per
//!   language across packages, so their key is `kids:<base language>` in all four (`en_GB`
//!   and `en` share `kids:en`; qabcs ships byte-identical `en`/`en_gb` words).
//! - Fish Fillets: the two fish (`m`, `v` in the file names) are one actor each per dubbing;
//!   the ~10 minor roles cannot be told apart reliably from names, so they are one group.
//! - Asterisk: the voice directory names the speaker, and Allison speaks both en_US and es_MX.
//! - kajongg: four voices (`female1`…`male2`), the same ones in English and German.
//! - Generated voices (`--piper`, `--kokoro`): each is one speaker, `piper:joe`, `kokoro:<voice>`.

use super::manifest::Kind;

/// How a package's files are picked and labelled.
#[derive(Clone, Copy, Debug)]
pub enum Rule {
    /// `…/fillets-ng/sound/[share/]<level>/<lang>/<level>-<role>-<line>.ogg`
    Fillets,
    /// `…/festival/voices/<family>/<voice>_clunits/wav/*.wav`
    Festvox { language: &'static str },
    /// `…/asterisk/sounds/<ll>_<CC>_<sex>_<Name>/**` except `silence/`
    Asterisk,
    /// `…/tuxpaint/stamps/**`: `*_desc_<lang>` is speech; other files outside `symbols/` are noise
    Tuxpaint,
    /// `…/share/klettres/<lang>/{alpha,syllab}/*`
    Klettres,
    /// `…/ktuberling/sounds/<lang>/*`
    Ktuberling,
    /// `…/qabcs/abcs/<lang>/sounds/**`; `abcs/all/` (noises, one cheer) is not speech
    Qabcs,
    /// `…/kajongg/voices/[<lang>/]<voice>/*`, English when no language directory
    Kajongg,
    /// `…/gcin-voice/ogg/<syllable>/*.ogg`, one Mandarin voice
    Gcin,
    /// `<text file>/<fortune>/<sentence>.wav`, written by `voices.rs`: one generated voice,
    /// `speaker` in full (`piper:joe`), reading English
    Generated { speaker: &'static str, language: &'static str },
    /// A package that supplies text, not audio (the generated voices' fortunes)
    Text,
    /// Every audio file below the `under` path components is noise.
    Noise { under: &'static [&'static str], naming: NoiseNaming },
}

/// How noise files are grouped into families, the unit noise splits are drawn for. Numbered
/// variants (`Water1.wav`…`Water5.wav`) are near-duplicates and must share a split.
#[derive(Clone, Copy, Debug)]
pub enum NoiseNaming {
    /// Strip a trailing index (`Water3` → `water`, `env_sounds_water.3` → `env_sounds_water`).
    StripIndex,
    /// The file is its own family (names that are only a number, e.g. `sound042.wav`).
    PerFile,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    pub kind: Kind,
    pub speaker: Option<String>,
    pub language: Option<String>,
    /// Split unit: the speaker for speech, `package:family` for noise.
    pub group: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Take(Selection),
    /// A recording in a reserved language (Belarusian).
    Reserved,
    /// Not audio, or not a file the package's rule uses.
    Ignore,
}

pub const AUDIO_EXTENSIONS: &[&str] = &["ogg", "wav", "flac", "opus", "g722"];

/// Classifies one file of `package`, `rel` being its path inside the extracted package with
/// `/` separators (e.g. `usr/share/klettres/fr/alpha/a.ogg`).
pub fn classify(package: &str, rule: Rule, rel: &str) -> Verdict {
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    let Some(file) = parts.last() else { return Verdict::Ignore };
    if !is_audio(file) {
        return Verdict::Ignore;
    }
    let selection = match rule {
        Rule::Fillets => fillets(&parts),
        Rule::Festvox { language } => festvox(&parts, language),
        Rule::Asterisk => asterisk(&parts),
        Rule::Tuxpaint => tuxpaint(package, &parts),
        Rule::Klettres => match tail_after(&parts, &["share", "klettres"]) {
            Some([lang, _set, _file]) => Some(kids(lang)),
            _ => None,
        },
        Rule::Ktuberling => match tail_after(&parts, &["ktuberling", "sounds"]) {
            Some([lang, _file]) => Some(kids(lang)),
            _ => None,
        },
        Rule::Qabcs => match tail_after(&parts, &["qabcs", "abcs"]) {
            Some([lang, "sounds", _, ..]) if *lang != "all" => Some(kids(lang)),
            _ => None,
        },
        Rule::Kajongg => match tail_after(&parts, &["kajongg", "voices"]) {
            Some([voice, _file]) => Some(speech(format!("kajongg:{voice}"), "en")),
            Some([lang, voice, _file]) => Some(speech(format!("kajongg:{voice}"), lang)),
            _ => None,
        },
        Rule::Gcin => match tail_after(&parts, &["gcin-voice", "ogg"]) {
            Some([_, ..]) => Some(speech("gcin:voice".into(), "zh")),
            _ => None,
        },
        Rule::Generated { speaker, language } => match parts[..] {
            // `<fortune>.partial` is one an interrupted run left half spoken.
            [_text, fortune, _sentence] if !fortune.ends_with(".partial") => Some(speech(speaker.into(), language)),
            _ => None,
        },
        Rule::Text => None,
        Rule::Noise { under, naming } => tail_after(&parts, under).filter(|rest| !rest.is_empty()).map(|_| noise(package, file, naming)),
    };
    match selection {
        Some(s) if s.language.as_deref().is_some_and(is_reserved_language) => Verdict::Reserved,
        Some(s) => Verdict::Take(s),
        None => Verdict::Ignore,
    }
}

pub fn is_audio(file: &str) -> bool {
    file.rsplit_once('.').is_some_and(|(_, ext)| AUDIO_EXTENSIONS.iter().any(|e| ext.eq_ignore_ascii_case(e)))
}

/// Belarusian recordings are reserved in every package.
pub fn is_reserved_language(code: &str) -> bool {
    base_language(code) == "be"
}

/// `en_GB` → `en`, `sr@latin` → `sr`.
pub fn base_language(code: &str) -> String {
    code.split(['_', '-', '@']).next().unwrap_or("").to_ascii_lowercase()
}

/// `en_gb` → `en_GB`, `pt_BR` → `pt_BR`, `sr@latin` → `sr@latin`.
pub fn normalize_language(code: &str) -> String {
    let (main, modifier) = match code.split_once('@') {
        Some((m, modi)) => (m, Some(modi)),
        None => (code, None),
    };
    let mut out = match main.split_once(['_', '-']) {
        Some((ll, cc)) => format!("{}_{}", ll.to_ascii_lowercase(), cc.to_ascii_uppercase()),
        None => main.to_ascii_lowercase(),
    };
    if let Some(m) = modifier {
        out.push('@');
        out.push_str(&m.to_ascii_lowercase());
    }
    out
}

/// The path components after the first occurrence of `marker`.
fn tail_after<'a>(parts: &'a [&'a str], marker: &[&str]) -> Option<&'a [&'a str]> {
    parts.windows(marker.len()).position(|w| w == marker).map(|i| &parts[i + marker.len()..])
}

/// File name up to its first dot: `inukshuk-photo_desc_da.ogg.ogg` → `inukshuk-photo_desc_da`.
fn stem(file: &str) -> &str {
    file.split('.').next().unwrap_or(file)
}

fn speech(speaker: String, language: &str) -> Selection {
    Selection { kind: Kind::Speech, group: speaker.clone(), speaker: Some(speaker), language: Some(normalize_language(language)) }
}

/// A children's-app recording: one volunteer per language across the four packages.
fn kids(language: &str) -> Selection {
    speech(format!("kids:{}", base_language(language)), language)
}

fn noise(package: &str, file: &str, naming: NoiseNaming) -> Selection {
    let name = stem(file).to_lowercase();
    let family = match naming {
        NoiseNaming::PerFile => name,
        NoiseNaming::StripIndex => {
            let stripped = name.trim_end_matches(|c: char| c.is_ascii_digit()).trim_end_matches(['_', '-', ' ']);
            if stripped.is_empty() { name.clone() } else { stripped.to_string() }
        }
    };
    Selection { kind: Kind::Noise, speaker: None, language: None, group: format!("{package}:{family}") }
}

fn fillets(parts: &[&str]) -> Option<Selection> {
    // `sound/<level>/<lang>/…` or `sound/share/<group>/<lang>/…` (lines shared by levels).
    let [_, .., lang, file] = tail_after(parts, &["fillets-ng", "sound"])? else { return None };
    // Lines are named `<level>-<role>-<line>` (or `<role>-<line>`); `m` and `v` are the two
    // fish, voiced by one actor each in a dubbing. Anything else is a minor role.
    let role = stem(file).split('-').find(|t| *t == "m" || *t == "v").map_or("minor-roles".to_string(), |t| format!("fish-{t}"));
    Some(speech(format!("fillets-{lang}:{role}"), lang))
}

fn festvox(parts: &[&str], language: &str) -> Option<Selection> {
    let [_family, voice, "wav", _file] = tail_after(parts, &["festival", "voices"])? else { return None };
    Some(speech(format!("festvox:{}", voice.trim_end_matches("_clunits")), language))
}

fn asterisk(parts: &[&str]) -> Option<Selection> {
    let [voice, rest @ ..] = tail_after(parts, &["asterisk", "sounds"])? else { return None };
    // `silence/` holds 1–10 s of line silence, not speech.
    if rest.is_empty() || rest[..rest.len() - 1].contains(&"silence") {
        return None;
    }
    // `en_US_f_Allison` → language `en`, speaker `allison`.
    match voice.split('_').collect::<Vec<_>>()[..] {
        [ll, _cc, _sex, name] => Some(speech(format!("asterisk:{}", name.to_lowercase()), ll)),
        _ => Some(speech(format!("asterisk:{voice}"), voice)),
    }
}

fn tuxpaint(package: &str, parts: &[&str]) -> Option<Selection> {
    let rest = tail_after(parts, &["tuxpaint", "stamps"])?;
    let file = rest.last()?;
    let name = stem(file);
    if let Some((_, lang)) = name.split_once("_desc_") {
        return (!lang.is_empty()).then(|| kids(lang));
    }
    // `*_desc.ogg` (no language) are the English spoken names (“hippopotamus”): listened to
    // and looked at, they are speech, so they must not land in the noise set.
    if name.ends_with("_desc") {
        return Some(kids("en"));
    }
    // `symbols/` holds spoken letters and digits outside the `_desc_` scheme: not a source.
    if rest.first() == Some(&"symbols") {
        return None;
    }
    Some(noise(package, file, NoiseNaming::StripIndex))
}
