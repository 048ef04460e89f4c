//! magnet (being written)
