//! The engine's conformance scenarios, compiled into the WebAssembly module and run by the
//! JavaScript engine that loads it (Node.js, Chromium) — the same Rust scenarios every native
//! backend passes. Only in builds with the `conformance` feature (the test bundle).

use std::cell::RefCell;

use rewind_core::conformance::{self, MemoryHarness};
use wasm_bindgen::prelude::*;

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs one scenario by name; a failed assertion traps, and [`last_panic`] then says why.
#[wasm_bindgen(js_name = runConformanceScenario)]
pub fn run_scenario(name: &str) -> Result<(), JsValue> {
    std::panic::set_hook(Box::new(|info| {
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
    }));
    if conformance::run(name, &mut MemoryHarness) {
        Ok(())
    } else {
        Err(JsValue::from_str(&format!("unknown scenario {name}")))
    }
}

/// The names of every scenario.
#[wasm_bindgen(js_name = conformanceScenarios)]
pub fn scenarios() -> Vec<String> {
    conformance::SCENARIOS
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The scripted run every host must reproduce exactly (compare with the native transcript).
#[wasm_bindgen(js_name = conformanceTranscript)]
pub fn transcript() -> String {
    conformance::transcript(&mut MemoryHarness)
}

/// The message of the last failed assertion, if any.
#[wasm_bindgen(js_name = lastPanic)]
pub fn last_panic() -> Option<String> {
    LAST_PANIC.with(|p| p.borrow().clone())
}
