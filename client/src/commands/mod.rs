//! One module per subcommand of the `riffle` binary.

pub mod create;
pub mod demo;
pub mod download;
pub mod experiment_args;
pub mod info;
pub mod lab;
pub mod policy_flags;
pub mod run;
pub mod seed;
pub mod sim;
pub mod tracker;
