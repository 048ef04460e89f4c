//! riffle-lab: what riffle measures about swarms.
//!
//! - `experiment`: experiment files (TOML) and the embedded presets, read
//!   by one parser; reports (tables, JSON, CSV, SVG plots).
//! - `lab`: each replicate a swarm of real riffle sessions (riffle-client)
//!   on 127.0.0.1 around riffle's own tracker (riffle-tracker).
//! - `sim`: a discrete-event simulator of the paper's model, every
//!   decision a riffle-policies call, for scales the lab cannot reach.
//!
//! - `demo`: the demo swarms `riffle demo` shows.
//!
//! It sits above the engine: nothing below it depends on it.

pub mod demo;
pub mod experiment;
pub mod lab;
pub mod sim;
