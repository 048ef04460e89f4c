//! The session: torrents, peer connections, storage and rate limits on
//! tokio.
