//! riffle's terminal UI: ratatui screens over a plain snapshot model.
//!
//! Elm-style: the client sends [`model::Snapshot`]s and keys in as actions,
//! `update` answers with commands for the client to run, and `view` draws
//! the model. Neither does I/O; only `terminal` touches the terminal.
pub mod model;
