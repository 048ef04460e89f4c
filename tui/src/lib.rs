//! riffle's terminal UI: ratatui screens over a plain snapshot model.
//!
//! Elm-style: the client sends [`model::Snapshot`]s and keys in as
//! [`app::Action`]s, [`app::App::update`] answers with [`app::Command`]s
//! for the client to run, and [`view::view`] draws the `App` alone. Neither
//! does I/O; [`terminal::run`] is the only code that touches the terminal.
pub mod app;
pub mod model;
pub mod terminal;
pub mod view;
