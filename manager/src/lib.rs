//! riffle-manager: many torrents in one session, run for months.
//!
//! A [`Manager`] owns the engine's session and every torrent added to it,
//! and keeps what must survive a restart or a crash in a state directory
//! ([`store`]): the torrents' metainfo, their records (settings, queue
//! position, lifetime counters), the session's [`Settings`] and the
//! engine's resume records. Torrents wait in a queue (at most N downloads
//! and M seeds active; stalled ones do not count), stop by themselves at
//! their seeding limits, and can be paused, resumed, checked again, moved,
//! limited and removed (keeping or deleting their data) while the others
//! run.
//!
//! It is what the seedbox daemon serves over Transmission's RPC, and what
//! the terminal UI drives; the decisions (queue, seed limits) are
//! riffle-policies' `queue` module.

mod actor;
mod entry;
mod error;
mod info;
mod manager;
mod record;
mod settings;
pub mod store;

pub use error::ManagerError;
pub use info::{
    Activity, AddRequest, Added, Brief, Detail, FileInfo, QueueMove, Select, SessionStats,
    TorrentChange, TorrentInfo, TorrentRef,
};
pub use manager::{Manager, ManagerConfig, DEFAULT_SCRAPE_EVERY, TICK};
pub use record::{LimitMode, TorrentRecord};
pub use settings::{Settings, SettingsChange};
pub use store::{StateDir, Totals};
