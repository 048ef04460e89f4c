use proptest::prelude::*;

use super::*;
use crate::{FsStorage, Layout, MemStorage};

fn sample() -> ResumeRecord {
    ResumeRecord {
        info_hash: InfoHash([7; 20]),
        piece_count: 11,
        have: Bitfield::from_pattern("10110000101"),
        files: vec![
            Some(FileStamp {
                length: 100,
                mtime: Some(Mtime {
                    secs: 1_700_000_000,
                    nanos: 123_456_789,
                }),
            }),
            None,
            Some(FileStamp {
                length: 0,
                mtime: None,
            }),
            Some(FileStamp {
                length: 5,
                mtime: Some(Mtime { secs: -3, nanos: 0 }),
            }),
        ],
    }
}

#[test]
fn round_trip_and_envelope() {
    let r = sample();
    let bytes = r.encode();
    assert!(bytes.starts_with(b"d4:body"));
    assert_eq!(ResumeRecord::decode(&bytes).unwrap(), r);
}

#[test]
fn truncation_at_every_position_is_an_error() {
    let bytes = sample().encode();
    for cut in 0..bytes.len() {
        let err = ResumeRecord::decode(&bytes[..cut]).unwrap_err();
        assert!(matches!(err, StorageError::BadResume(_)), "cut at {cut}");
    }
}

#[test]
fn every_single_byte_flip_is_detected() {
    let bytes = sample().encode();
    for pos in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[pos] ^= mask;
            assert!(
                ResumeRecord::decode(&b).is_err(),
                "flip {mask:#x} at {pos} went unnoticed"
            );
        }
    }
}

/// Re-wrap a body with a correct checksum, to reach the field checks.
fn envelope(body: &Owned) -> Vec<u8> {
    let body = bencode::encode(body);
    let mut out = b"d4:body".to_vec();
    out.extend_from_slice(&body);
    out.extend_from_slice(b"4:sha120:");
    out.extend_from_slice(&sha1_digest(&body));
    out.push(b'e');
    out
}

#[test]
fn inconsistent_fields_are_refused() {
    let good = |have: &[u8], pieces: i64, files: Owned, version: i64| {
        Owned::dict([
            ("version", Owned::Int(version)),
            ("info-hash", Owned::bytes([1u8; 20])),
            ("pieces", Owned::Int(pieces)),
            ("have", Owned::bytes(have)),
            ("files", files),
        ])
    };
    let no_files = Owned::List(vec![]);
    assert!(ResumeRecord::decode(&envelope(&good(&[0x80], 3, no_files.clone(), 1))).is_ok());
    for body in [
        good(&[0x80], 3, no_files.clone(), 2),    // version
        good(&[0x80, 0], 3, no_files.clone(), 1), // bitfield length
        good(&[0x10], 3, no_files.clone(), 1),    // spare bit set
        good(&[], -1, no_files.clone(), 1),       // negative count
        good(&[0x80], 3, Owned::List(vec![Owned::Int(1)]), 1),
        good(
            &[0x80],
            3,
            Owned::List(vec![Owned::dict([("length", Owned::Int(-1))])]),
            1,
        ),
        good(
            &[0x80],
            3,
            Owned::List(vec![Owned::dict([
                ("length", Owned::Int(1)),
                ("mtime", Owned::Int(1)),
            ])]),
            1,
        ),
        good(
            &[0x80],
            3,
            Owned::List(vec![Owned::dict([
                ("length", Owned::Int(1)),
                ("mtime", Owned::Int(1)),
                ("mtime-ns", Owned::Int(1_000_000_000)),
            ])]),
            1,
        ),
        Owned::Int(3),
    ] {
        assert!(matches!(
            ResumeRecord::decode(&envelope(&body)),
            Err(StorageError::BadResume(_))
        ));
    }
}

#[test]
fn mtime_conversion_handles_times_before_the_epoch() {
    let t = UNIX_EPOCH - Duration::new(2, 250_000_000);
    assert_eq!(
        Mtime::from_system_time(t),
        Some(Mtime {
            secs: -3,
            nanos: 750_000_000
        })
    );
    let t = UNIX_EPOCH + Duration::new(5, 1);
    assert_eq!(
        Mtime::from_system_time(t),
        Some(Mtime { secs: 5, nanos: 1 })
    );
}

#[test]
fn save_and_load_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.resume");
    let missing = ResumeRecord::load(&path).unwrap_err();
    assert!(
        matches!(&missing, StorageError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    );
    let r = sample();
    r.save(&path).unwrap();
    assert_eq!(ResumeRecord::load(&path).unwrap(), r);
    let mut r2 = r.clone();
    r2.have = Bitfield::full(11);
    r2.save(&path).unwrap();
    assert_eq!(ResumeRecord::load(&path).unwrap(), r2);
    // Only the record is left behind: no temporary files.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // A torn record on disk loads as an error, not a panic.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(
        ResumeRecord::load(&path),
        Err(StorageError::BadResume(_))
    ));
}

#[test]
fn changed_files_lose_their_pieces() {
    let dir = tempfile::tempdir().unwrap();
    // Files: a=10, b=10, c=10; pieces of 8 -> piece 1 spans a and b,
    // piece 2 spans b and c.
    let layout = Layout::new(vec![10, 10, 10], 8).unwrap();
    let names: Vec<Vec<String>> = ["a", "b", "c"]
        .iter()
        .map(|n| vec![n.to_string()])
        .collect();
    let s = FsStorage::new(dir.path(), layout, &names).unwrap();
    for f in 0..3 {
        s.write_at(f, 0, &[f as u8; 10]).unwrap();
    }
    s.sync_all().unwrap();
    let ih = InfoHash([9; 20]);
    let have = Bitfield::full(4);
    let rec = ResumeRecord::capture(&s, ih, &have).unwrap();
    assert_eq!(rec.trusted_pieces(&s, ih).unwrap(), have);
    assert!(rec.trusted_pieces(&s, InfoHash([8; 20])).is_err());

    // Change file b behind our back (different length).
    std::fs::write(dir.path().join("b"), [0u8; 3]).unwrap();
    assert_eq!(
        rec.trusted_pieces(&s, ih).unwrap(),
        Bitfield::from_pattern("1001")
    );
    // Delete file c.
    std::fs::remove_file(dir.path().join("c")).unwrap();
    assert_eq!(
        rec.trusted_pieces(&s, ih).unwrap(),
        Bitfield::from_pattern("1000")
    );
}

#[test]
fn capture_checks_the_bitfield_and_stamps_memory_files() {
    let layout = Layout::new(vec![4, 4], 4).unwrap();
    let s = MemStorage::new(layout);
    let ih = InfoHash([1; 20]);
    assert!(ResumeRecord::capture(&s, ih, &Bitfield::new(3)).is_err());
    s.write_at(0, 0, &[1; 4]).unwrap();
    let rec = ResumeRecord::capture(&s, ih, &Bitfield::from_pattern("10")).unwrap();
    assert!(rec.files[0].is_some_and(|f| f.length == 4 && f.mtime.is_some()));
    assert_eq!(rec.files[1], None);
    assert_eq!(ResumeRecord::decode(&rec.encode()).unwrap(), rec);
    // File 1 appearing later invalidates its piece only.
    s.write_at(1, 0, &[2; 4]).unwrap();
    assert_eq!(
        rec.trusted_pieces(&s, ih).unwrap(),
        Bitfield::from_pattern("10")
    );
}

fn arb_record() -> impl Strategy<Value = ResumeRecord> {
    let stamp = proptest::option::of(
        (
            0u64..=i64::MAX as u64,
            proptest::option::of((any::<i64>(), 0u32..1_000_000_000)),
        )
            .prop_map(|(length, m)| FileStamp {
                length,
                mtime: m.map(|(secs, nanos)| Mtime { secs, nanos }),
            }),
    );
    (
        any::<[u8; 20]>(),
        proptest::collection::vec(any::<bool>(), 1..300),
        proptest::collection::vec(stamp, 0..20),
    )
        .prop_map(|(ih, bits, files)| {
            let mut have = Bitfield::new(bits.len() as u32);
            for (i, b) in bits.iter().enumerate() {
                have.set(PieceIndex::new(i as u32), *b);
            }
            ResumeRecord {
                info_hash: InfoHash(ih),
                piece_count: bits.len() as u32,
                have,
                files,
            }
        })
}

proptest! {
    #[test]
    fn any_record_round_trips(r in arb_record()) {
        prop_assert_eq!(ResumeRecord::decode(&r.encode()).unwrap(), r);
    }

    #[test]
    fn random_damage_is_an_error(r in arb_record(), pos in any::<usize>(), mask in 1u8..) {
        let mut bytes = r.encode();
        let at = pos % bytes.len();
        bytes[at] ^= mask;
        prop_assert!(ResumeRecord::decode(&bytes).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = ResumeRecord::decode(&bytes);
    }
}
