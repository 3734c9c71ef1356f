//! Progress bars for long work (`verify`, `import`, `export`, `compact`, `upgrade`, `repair`):
//! done of total — checkpoints, or bytes for a repair's scan — with the rate and the time
//! left, fed by the engine's progress callback. On stderr, and only when both stdout and
//! stderr are terminals.

use crate::Engine;
use rewind::Backend;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use rewind::core::progress::Unit;
use rewind::{Progress, ProgressFn};

/// A bar that is drawn only on a terminal.
pub struct Bar(Option<ProgressBar>);

impl Bar {
    /// A bar for `message` counting `unit`s (hidden when the output is not a terminal).
    pub fn new(message: &str, unit: Unit) -> Bar {
        let visible = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        if !visible {
            return Bar(None);
        }
        let template = match unit {
            Unit::Bytes => {
                "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ({eta} left)"
            }
            _ => "{msg} [{bar:30}] {pos}/{len} checkpoints, {per_sec} ({eta} left)",
        };
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Bar(Some(bar))
    }

    /// Moves the bar to `progress`.
    pub fn show(&self, progress: Progress) {
        if let Some(bar) = &self.0 {
            bar.set_length(progress.total);
            bar.set_position(progress.done);
        }
    }

    /// A callback that moves this bar, for the engine.
    pub fn callback(&self) -> Option<ProgressFn> {
        let bar = self.0.clone()?;
        Some(Box::new(move |p: Progress| {
            bar.set_length(p.total);
            bar.set_position(p.done);
        }))
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// Runs `work` on `store` with a bar for `message` fed by the engine.
pub fn on_store<T, B: Backend>(
    message: &str,
    store: &mut Engine<B>,
    work: impl FnOnce(&mut Engine<B>) -> T,
) -> T {
    let bar = Bar::new(message, Unit::Checkpoints);
    store.set_progress(bar.callback());
    let out = work(store);
    store.set_progress(None);
    out
}
