//! riffle resumes after SIGKILL and trusts what it verified (issue 3).
//!
//! A scripted seeder counts every payload byte it uploads and serves at
//! 2 MiB/s, so a 16 MiB download takes about 8 s:
//!
//! 1. `riffle download` is killed with SIGKILL half way (by the seeder's
//!    counter), started again with the same command, and must finish a
//!    byte-identical download while the seeder uploads at most 115% of the
//!    payload over both runs.
//! 2. The same command on the complete directory exits 0 at once, the
//!    seeder uploads nothing more, and riffle reads (in `rchar` of
//!    `/proc/PID/io`, whatever it prints) far less than one copy of the
//!    payload: it re-hashed nothing it had verified.
//! 3. Multi-file: after a complete download one file is truncated; the
//!    next run re-fetches and re-hashes only the pieces of that file.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use riffle_tests::scripted::{run_to_end, Content, Riffle, ScriptedPeer};

/// 256 KiB pieces.
const PIECE: u32 = 256 * 1024;
/// Seeder upload rate.
const RATE: u64 = 2 << 20;
/// A finished download run gets this long.
const RUN_LIMIT: Duration = Duration::from_secs(90);
/// A run on complete data must end within this (hash-free start-up, no
/// peers needed).
const QUICK: Duration = Duration::from_secs(5);
/// What riffle may read besides piece data: the torrent, its resume file,
/// a few small system files. A generous 1 MiB.
const READ_SLACK: u64 = 1 << 20;

/// The start-up counts from riffle's final summary line, `(trusted,
/// hashed)`: "... at start T pieces trusted from the resume record, H
/// hashed ...". `None` if the line is missing or says something else.
fn start_up_counts(stdout: &str) -> Option<(u32, u32)> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains("pieces trusted"))?;
    let (before, after) = line.split_once(" pieces trusted")?;
    let trusted = before.rsplit(' ').next()?.parse().ok()?;
    let hashed = after
        .split([',', ';'])
        .find_map(|part| part.trim().strip_suffix(" hashed"))?
        .trim()
        .parse()
        .ok()?;
    Some((trusted, hashed))
}

#[test]
fn summary_counts_parse() {
    let line = "complete: x.bin (16.0 MiB) in 0.1 s, 0 B/s; at start 64 pieces trusted from the resume record, 0 hashed; downloaded 0 B, wasted 0 B, 0 hash failures";
    assert_eq!(start_up_counts(line), Some((64, 0)));
    assert_eq!(start_up_counts("status\nnothing"), None);
}

fn download_args<'a>(torrent: &'a Path, out: &'a Path, seeder: &'a str) -> Vec<&'a str> {
    vec![
        "download",
        torrent.to_str().expect("utf-8"),
        "-o",
        out.to_str().expect("utf-8"),
        "--listen",
        "127.0.0.1:0",
        "--peer",
        seeder,
    ]
}

#[test]
fn resumes_after_sigkill_and_trusts_verified_pieces() {
    // Build riffle first: a build must not eat into any timing below.
    riffle_tests::riffle_bin();
    let content = Arc::new(Content::single_file("resume.bin", 16 << 20, PIECE, 21));
    let total = content.total_length();
    let tmp = tempfile::tempdir().expect("temp dir");
    let torrent = content.write_torrent(tmp.path());
    let out = tmp.path().join("out");
    let seeder = ScriptedPeer::seeder(content.clone(), Some(RATE));
    let addr = seeder.addr().to_string();
    let args = download_args(&torrent, &out, &addr);

    // Run 1: killed half way.
    let mut first = Riffle::start("run1", &args, tmp.path());
    let deadline = Instant::now() + Duration::from_secs(60);
    // Half way plus half a piece, so a piece is in flight at the kill.
    let kill_at = total / 2 + u64::from(PIECE / 2);
    while seeder.stats().uploaded() < kill_at {
        assert!(
            first.running(),
            "riffle ended before half the payload was uploaded ({} of {total} bytes)\n{}",
            seeder.stats().uploaded(),
            first.report(80)
        );
        assert!(
            Instant::now() < deadline,
            "half the payload not uploaded within 60 s ({} of {total})\n{}",
            seeder.stats().uploaded(),
            first.report(80)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let killed = first.kill();
    let after_kill = seeder.stats().uploaded();
    assert!(
        !killed.status.success(),
        "riffle had already finished when killed\n{}",
        first.report(40)
    );
    assert!(
        content.verify_download(&out).is_err(),
        "the download was complete at the kill: the test proves nothing"
    );

    // Run 2: the same command resumes.
    let (second, exit) = run_to_end("run2", &args, tmp.path(), RUN_LIMIT);
    let context = format!(
        "seeder uploaded {after_kill} bytes before the kill and {} in all, payload {total}\n{}\n{}",
        seeder.stats().uploaded(),
        first.report(30),
        second.report(80)
    );
    assert!(
        !second.stderr().contains("panicked"),
        "riffle panicked\n{context}"
    );
    assert!(exit.status.success(), "the resumed run failed\n{context}");
    if let Err(e) = content.verify_download(&out) {
        panic!("resumed download is not byte-identical: {e}\n{context}");
    }
    let uploaded = seeder.stats().uploaded();
    assert!(
        uploaded * 100 <= total * 115,
        "the seeder uploaded {uploaded} bytes for a {total}-byte payload (over 115%): riffle did not keep what it had\n{context}"
    );

    // Run 3: complete already.
    let before = seeder.stats().uploaded();
    let (third, exit) = run_to_end("run3", &args, tmp.path(), RUN_LIMIT);
    let context = format!("{}\n{}", second.report(20), third.report(80));
    assert!(
        exit.status.success(),
        "a run on complete data failed\n{context}"
    );
    assert!(
        exit.ran <= QUICK,
        "a run on complete data took {:?}\n{context}",
        exit.ran
    );
    assert_eq!(
        seeder.stats().uploaded(),
        before,
        "a run on complete data downloaded again\n{context}"
    );
    let rchar = exit.rchar.expect("/proc/PID/io (Linux)");
    println!(
        "uploaded {after_kill} before the kill, {before} in all (payload {total}); run 3 took {:.2}s, read {rchar} bytes\n{}",
        exit.ran.as_secs_f64(),
        third.stdout()
    );
    assert!(
        rchar < READ_SLACK,
        "a run on complete data read {rchar} bytes: it re-hashed pieces it had verified ({total}-byte payload)\n{context}"
    );
    content.verify_download(&out).expect("still byte-identical");
}

#[test]
fn truncated_file_rehashes_only_its_own_pieces() {
    // Build riffle first: a build must not eat into any timing below.
    riffle_tests::riffle_bin();
    let content = Arc::new(Content::multi_file(
        "multi",
        &[
            ("a.bin", (6 << 20) + 1234),
            ("b.bin", (3 << 19) + 77),
            ("c/c.bin", (6 << 20) + 999),
        ],
        PIECE,
        33,
    ));
    let total = content.total_length();
    let tmp = tempfile::tempdir().expect("temp dir");
    let torrent = content.write_torrent(tmp.path());
    let out = tmp.path().join("out");
    let seeder = ScriptedPeer::seeder(content.clone(), None);
    let addr = seeder.addr().to_string();
    let args = download_args(&torrent, &out, &addr);

    let (first, exit) = run_to_end("full", &args, tmp.path(), RUN_LIMIT);
    assert!(exit.status.success(), "{}", first.report(80));
    content
        .verify_download(&out)
        .unwrap_or_else(|e| panic!("first download: {e}\n{}", first.report(80)));

    // Truncate b.bin to half.
    let b = out.join(content.file_path(1));
    let b_len = content.file_range(1).end - content.file_range(1).start;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&b)
        .and_then(|f| f.set_len(b_len / 2))
        .expect("truncate b.bin");
    let b_pieces = content.pieces_of_file(1);
    let b_piece_bytes: u64 = b_pieces
        .clone()
        .map(|p| u64::from(content.piece_len(p)))
        .sum();

    let before = seeder.stats().uploaded();
    let (second, exit) = run_to_end("after-truncate", &args, tmp.path(), RUN_LIMIT);
    let fetched = seeder.stats().uploaded() - before;
    let context = format!(
        "b.bin is pieces {b_pieces:?} ({b_piece_bytes} bytes) of {total}; refetched {fetched}, rchar {:?}\n{}",
        exit.rchar,
        second.report(80)
    );
    assert!(exit.status.success(), "{context}");
    if let Err(e) = content.verify_download(&out) {
        panic!("after truncation the download is not byte-identical: {e}\n{context}");
    }
    assert!(
        fetched > 0,
        "the truncated half of b.bin came from nowhere\n{context}"
    );
    assert!(
        fetched <= b_piece_bytes,
        "refetched more than b.bin's pieces\n{context}"
    );
    // Re-hashing b.bin's pieces reads at most b_piece_bytes; refetched
    // data arrives through read(2) on the socket and may be read back once
    // more to verify it. Re-hashing a.bin or c.bin (12 MiB) breaks this.
    let rchar = exit.rchar.expect("/proc/PID/io (Linux)");
    assert!(
        rchar <= b_piece_bytes + 2 * fetched + READ_SLACK,
        "riffle read {rchar} bytes: it re-hashed pieces outside b.bin\n{context}"
    );
    println!("{context}");
    let pieces = content.piece_count();
    let b_count = b_pieces.end - b_pieces.start;
    let (trusted, hashed) = start_up_counts(&second.stdout())
        .unwrap_or_else(|| panic!("no summary line naming pieces trusted and hashed\n{context}"));
    assert!(
        trusted + b_count >= pieces && hashed <= b_count,
        "summary says {trusted} trusted, {hashed} hashed; only b.bin's {b_count} pieces may be re-hashed\n{context}"
    );
}
