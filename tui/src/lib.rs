//! riffle's terminal UI: ratatui screens over a plain snapshot model.
//!
//! Elm-style: the client sends [`model::Snapshot`]s and keys in as
//! [`app::Action`]s, [`app::App::update`] answers with [`app::Command`]s
//! for the client to run. Neither does I/O. Still to come: `view` (the
//! screens, drawn from the `App` alone) and `terminal` (the only module
//! that touches the terminal).
pub mod app;
pub mod model;
