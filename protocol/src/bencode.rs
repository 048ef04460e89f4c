//! bencode (being written)
