//! Peer wire protocol (being written)
