//! The terminal UI's remote mode: Transmission's RPC, spoken to a riffle
//! daemon or a Transmission daemon (`riffle tui --remote URL`).

pub mod controller;
pub mod rpc;

pub use controller::RemoteController;
