//! daqflow's embedded Python: a user function runs on every frame, on a numpy array that
//! is the pool buffer (no copy). The filter (`python`, crate `daqflow-plugin-python`) and
//! the sink (`python_sink`, crate `daqflow-plugin-python-sink`) are thin libraries over
//! this one: a plugin library exports one plugin. Both share the process's one
//! interpreter. See README.md.

mod check;
pub mod config;
mod filter;
mod guard;
pub mod interp;
mod meta;
mod node;
mod sink;

pub use config::{OnError, Settings};
pub use filter::PythonFilter;
pub use sink::PythonSink;
