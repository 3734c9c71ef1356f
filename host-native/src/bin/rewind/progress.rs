//! Spinners for long work, on stderr, only when both stdout and stderr are terminals.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Runs `work` while a spinner with `message` and the elapsed time turns.
pub fn spin<T>(message: &str, work: impl FnOnce() -> T) -> T {
    let visible = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    if !visible {
        return work();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(100));
    let out = work();
    bar.finish_and_clear();
    out
}
