#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod error_code;
pub mod js_env;

pub use error_code::error_code;
pub use js_env::JsEnv;
