//! Helpers for riffle end-to-end tests.
