//! What commands return and how it is printed: each command computes a value that knows how to
//! show itself as text for people and as JSON for scripts (`--json`), and `show` prints it.

use std::io::Write;

use serde_json::Value;

use crate::Ctx;
use crate::failure::Failure;
use crate::output::Style;

/// A command's result, printable both ways.
pub trait Render {
    /// Prints the result for people.
    fn text(&self, style: &Style);
    /// The result for scripts; `None` when it has no JSON form (the text form is shown).
    fn json(&self) -> Option<Value>;
    /// Raw bytes that are the output whatever the format (a state, an export to stdout).
    fn bytes(&self) -> Option<&[u8]> {
        None
    }
    /// How the command ends once printed (verify fails after saying what it found).
    fn outcome(&self) -> Result<(), Failure> {
        Ok(())
    }
}

/// Prints `result` as `ctx` asks, then gives its outcome.
pub fn show(ctx: &Ctx, result: &dyn Render) -> Result<(), Failure> {
    if let Some(bytes) = result.bytes() {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)
            .and_then(|_| out.flush())
            .map_err(|e| Failure::io("stdout", e))?;
    } else if let Some(value) = result.json().filter(|_| ctx.json) {
        crate::json::print(&value);
    } else {
        result.text(&ctx.style);
    }
    result.outcome()
}
