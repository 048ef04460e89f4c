#![no_main]
//! Locality input never panics: address prefixes and locality files
//! (any JSON shape of one, as serde reads the TOML), and a draw over
//! whatever map results, with groups and sizes from the data.
use libfuzzer_sys::fuzz_target;
use rand::rngs::StdRng;
use rand::SeedableRng;
use riffle_policies::locality::{Group, Locality, LocalityFile, Prefix};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = text.parse::<Prefix>() {
        let again: Prefix = p.to_string().parse().expect("our own prefix parses");
        assert_eq!(again, p);
    }
    if let Ok(file) = serde_json::from_slice::<LocalityFile>(data) {
        if let Ok(map) = file.into_map() {
            let l = Locality::from_map(map);
            let groups: Vec<Group> = data
                .iter()
                .map(|b| if *b == 0 { Group::Unknown } else { Group::Pid(u16::from(*b % 8)) })
                .collect();
            let mut rng = StdRng::seed_from_u64(data.len() as u64);
            let want = data.first().copied().unwrap_or(0) as usize;
            let drawn = l.draw(Group::Pid(0), &groups, want, &mut rng);
            assert!(drawn.len() <= want.min(groups.len()));
        }
    }
});
