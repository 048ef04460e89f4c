//! Tracker packets (being written)
