//! One module per subcommand of the `riffle` binary.

pub mod create;
pub mod info;
