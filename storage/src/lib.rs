//! riffle-storage: pieces <-> files.
