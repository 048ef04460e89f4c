//! metainfo (being written)
