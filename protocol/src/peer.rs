//! Peer-connection state machine (being written)
