//! riffle-policies: decisions as plain state machines.
