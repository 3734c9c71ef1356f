//! rewind as a WebAssembly component: the world `rewind:store` (../wit/store.wit).
//!
//! A thin binding: the engine is rewind-core; storage goes through the imported `backend`
//! interface and time and randomness through `host-env`, so the embedding host decides where
//! bytes go and the component can reach nothing else.
//!
//! - `host.rs`: the imports as the engine's `Backend` and `Env`;
//! - `store.rs`: the exported `store` resource;
//! - `convert.rs`: WIT records to and from the engine's binding-neutral API, the only place
//!   this binding maps a type.

mod convert;
mod host;
mod store;

wit_bindgen::generate!({
    world: "rewind-store",
    path: "../wit",
});

use exports::rewind::store::conformance::Guest as ConformanceGuest;
use exports::rewind::store::store::Guest;

struct Component;

impl Guest for Component {
    type Store = store::GuestStore;
}

impl ConformanceGuest for Component {
    fn run_scenario(name: String) -> Result<(), String> {
        use rewind_core::conformance::{MemoryHarness, run};
        // A failed assertion traps; its message reaches the host first.
        std::panic::set_hook(Box::new(|info| {
            rewind::store::host_env::log(&info.to_string())
        }));
        if run(&name, &mut MemoryHarness) {
            Ok(())
        } else {
            Err(format!("unknown scenario {name}"))
        }
    }

    fn scenarios() -> Vec<String> {
        rewind_core::conformance::SCENARIOS
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn transcript() -> String {
        rewind_core::conformance::transcript(&mut rewind_core::conformance::MemoryHarness)
    }
}

export!(Component);
