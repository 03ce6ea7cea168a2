//! The progress display on stderr (indicatif): a bar with the step under way, drawn only
//! on a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `steps` steps.
pub fn bar(steps: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("[{bar:24}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("#>."),
    );
    bar
}
