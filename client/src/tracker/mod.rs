//! Talking to trackers over the network: HTTP and UDP announces, and the
//! announcer task that walks a torrent's tiers (BEP 12).
