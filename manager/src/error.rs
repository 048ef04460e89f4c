//! The manager's one error type.

use std::path::PathBuf;

use thiserror::Error;

/// What a manager request can fail with.
#[derive(Debug, Error)]
pub enum ManagerError {
    /// The bytes are not a valid `.torrent`.
    #[error("invalid torrent: {0}")]
    BadTorrent(String),
    /// No torrent has this id or info-hash.
    #[error("no torrent {0}")]
    NoSuchTorrent(String),
    /// An argument out of range (a negative limit, a file index past the
    /// end, ...).
    #[error("{0}")]
    BadArgument(String),
    /// Reading or writing the state directory failed.
    #[error("state directory: {}: {source}", path.display())]
    State {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The session could not start.
    #[error("cannot start the session: {0}")]
    Session(String),
    /// Moving or deleting a torrent's data failed.
    #[error("{0}")]
    Data(String),
    /// The manager has stopped.
    #[error("the manager has stopped")]
    Stopped,
}

impl ManagerError {
    pub(crate) fn state(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ManagerError {
        let path = path.into();
        move |source| ManagerError::State { path, source }
    }
}
