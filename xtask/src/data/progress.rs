//! Progress bars for the long stages. indicatif hides them when stderr is not a terminal (CI,
//! logs, tests), so each stage also prints one plain line when it finishes.

use indicatif::{ProgressBar, ProgressStyle};

pub fn bar(len: u64, stage: &'static str) -> ProgressBar {
    let style = ProgressStyle::with_template("{prefix:>9} [{bar:36}] {pos}/{len} {msg} ({elapsed}, eta {eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    ProgressBar::new(len).with_style(style).with_prefix(stage)
}
