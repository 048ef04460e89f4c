//! Model-level facts the simulator must reproduce, with fixed seeds.

use super::*;
use crate::experiment::{parse, preset};

#[test]
fn same_seed_same_result() {
    let exp = preset("missing-piece").expect("preset");
    let mut spec = exp.runs[1].clone();
    spec.model.duration = 60.0;
    spec.model.warmup = 10.0;
    let a = run_replicate(&spec, 7).expect("runs");
    let b = run_replicate(&spec, 7).expect("runs");
    assert_eq!(a, b);
    let _ = parse;
}
