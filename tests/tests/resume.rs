//! riffle resumes after SIGKILL and trusts what it verified (issue 3).
//!
//! A scripted seeder counts every payload byte it uploads; rate-limited to
//! 2 MiB/s, a 16 MiB download takes about 8 s.
//!
//! 1. `riffle download` is killed with SIGKILL half way (by the seeder's
//!    counter, mid-piece), started again with the same command, and must
//!    finish a byte-identical download while the seeder uploads at most
//!    115% of the payload over both runs (single-file and multi-file).
//! 2. The same command on the complete directory exits 0 at once, the
//!    seeder uploads nothing more, and riffle re-hashes nothing it had
//!    verified: it reads (`rchar` of `/proc/PID/io`, whatever it prints)
//!    under 1 MiB, and its summary line says every piece was trusted from
//!    the resume record and none hashed. The positive control: with the
//!    resume record deleted, both measures show every piece hashed.
//! 3. Multi-file: after a complete download one file is truncated; the
//!    next run re-fetches and re-hashes only the pieces of that file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use riffle_tests::scripted::{run_to_end, Content, Exit, Riffle, ScriptedPeer};

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

/// One torrent in a temp dir with a rate-limited scripted seeder, and the
/// `riffle download` command line that fetches it.
struct Setup {
    content: Arc<Content>,
    tmp: tempfile::TempDir,
    out: PathBuf,
    seeder: ScriptedPeer,
    args: Vec<String>,
}

impl Setup {
    fn new(content: Content, rate: Option<u64>) -> Setup {
        // Build riffle first: a build must not eat into any timing below.
        riffle_tests::riffle_bin();
        let content = Arc::new(content);
        let tmp = tempfile::tempdir().expect("temp dir");
        let torrent = content.write_torrent(tmp.path());
        let out = tmp.path().join("out");
        let seeder = ScriptedPeer::seeder(content.clone(), rate);
        let addr = seeder.addr().to_string();
        let args = download_args(&torrent, &out, &addr)
            .into_iter()
            .map(str::to_owned)
            .collect();
        Setup {
            content,
            tmp,
            out,
            seeder,
            args,
        }
    }

    fn args(&self) -> Vec<&str> {
        self.args.iter().map(String::as_str).collect()
    }

    fn uploaded(&self) -> u64 {
        self.seeder.stats().uploaded()
    }

    /// Run the download command to its end.
    fn run(&self, what: &str) -> (Riffle, Exit) {
        run_to_end(what, &self.args(), self.tmp.path(), RUN_LIMIT)
    }

    /// Start the download, SIGKILL it once the seeder has uploaded half
    /// the payload and half a piece (so a piece is in flight), run the
    /// same command again to the end, and check the result: byte-identical,
    /// at most 115% of the payload uploaded over both runs.
    fn kill_half_way_and_resume(&self) {
        let total = self.content.total_length();
        let mut first = Riffle::start("run1", &self.args(), self.tmp.path());
        let deadline = Instant::now() + Duration::from_secs(60);
        let kill_at = total / 2 + u64::from(PIECE / 2);
        while self.uploaded() < kill_at {
            assert!(
                first.running(),
                "riffle ended before half the payload was uploaded ({} of {total} bytes)\n{}",
                self.uploaded(),
                first.report(80)
            );
            assert!(
                Instant::now() < deadline,
                "half the payload not uploaded within 60 s ({} of {total})\n{}",
                self.uploaded(),
                first.report(80)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let killed = first.kill();
        let after_kill = self.uploaded();
        assert!(
            !killed.status.success(),
            "riffle had already finished when killed\n{}",
            first.report(40)
        );
        assert!(
            self.content.verify_download(&self.out).is_err(),
            "the download was complete at the kill: the test proves nothing"
        );

        let (second, exit) = self.run("run2");
        let uploaded = self.uploaded();
        let context = format!(
            "seeder uploaded {after_kill} bytes before the kill and {uploaded} in all, payload {total}\n{}\n{}",
            first.report(30),
            second.report(80)
        );
        println!("{}", context.lines().next().unwrap_or_default());
        assert!(
            !second.stderr().contains("panicked"),
            "riffle panicked\n{context}"
        );
        assert!(exit.status.success(), "the resumed run failed\n{context}");
        if let Err(e) = self.content.verify_download(&self.out) {
            panic!("resumed download is not byte-identical: {e}\n{context}");
        }
        assert!(
            uploaded * 100 <= total * 115,
            "the seeder uploaded {uploaded} bytes for a {total}-byte payload (over 115%): riffle did not keep what it had\n{context}"
        );
    }

    /// Run the command on complete data: exit 0 quickly, download
    /// nothing. Returns the run, its exit and riffle's start-up counts.
    fn run_complete(&self, what: &str) -> (Riffle, Exit, Option<(u32, u32)>) {
        let before = self.uploaded();
        let (r, exit) = self.run(what);
        let counts = start_up_counts(&r.stdout());
        println!(
            "{what}: {:.2}s, read {:?} bytes, summary (trusted, hashed) {counts:?}",
            exit.ran.as_secs_f64(),
            exit.rchar
        );
        assert!(
            exit.status.success(),
            "a run on complete data failed\n{}",
            r.report(80)
        );
        assert!(
            exit.ran <= QUICK,
            "a run on complete data took {:?}\n{}",
            exit.ran,
            r.report(80)
        );
        assert_eq!(
            self.uploaded(),
            before,
            "a run on complete data downloaded again\n{}",
            r.report(80)
        );
        self.content
            .verify_download(&self.out)
            .expect("still byte-identical");
        (r, exit, counts)
    }

    /// On complete data with its resume record, riffle trusts every piece:
    /// its summary says so, and it reads far less than the payload.
    fn trusts_everything(&self) {
        let total = self.content.total_length();
        let pieces = self.content.piece_count();
        let (r, exit, counts) = self.run_complete("complete");
        let rchar = exit.rchar.expect("/proc/PID/io (Linux)");
        assert!(
            rchar < READ_SLACK,
            "a run on complete data read {rchar} bytes: it re-hashed pieces it had verified ({total}-byte payload)\n{}",
            r.report(80)
        );
        assert_eq!(
            counts,
            Some((pieces, 0)),
            "the summary should say all {pieces} pieces were trusted from the resume record and 0 hashed\n{}",
            r.report(80)
        );
    }

    /// The positive control of [`Setup::trusts_everything`]: without its
    /// resume record riffle must hash every piece, and both measures see
    /// it (every byte read, summary says all hashed), still downloading
    /// nothing.
    fn without_record_hashes_everything(&self) {
        let total = self.content.total_length();
        let pieces = self.content.piece_count();
        let records = self.out.join(".riffle");
        assert!(
            records.is_dir(),
            "no resume folder {} (the contract's DIR/.riffle/<infohash>.resume)",
            records.display()
        );
        std::fs::remove_dir_all(&records).expect("remove the resume records");
        let (r, exit, counts) = self.run_complete("no-record");
        let rchar = exit.rchar.expect("/proc/PID/io (Linux)");
        assert!(
            rchar >= total,
            "without a resume record riffle read only {rchar} bytes of a {total}-byte payload: what did it hash?\n{}",
            r.report(80)
        );
        assert_eq!(
            counts,
            Some((0, pieces)),
            "the summary should say 0 pieces trusted and all {pieces} hashed\n{}",
            r.report(80)
        );
    }
}

#[test]
fn resumes_after_sigkill_and_trusts_verified_pieces() {
    let s = Setup::new(
        Content::single_file("resume.bin", 16 << 20, PIECE, 21),
        Some(RATE),
    );
    s.kill_half_way_and_resume();
    s.trusts_everything();
    s.without_record_hashes_everything();
    // The record the hashing run wrote is trusted again.
    s.trusts_everything();
}

#[test]
fn multi_file_resumes_after_sigkill() {
    let s = Setup::new(
        Content::multi_file(
            "resume-multi",
            &[
                ("one.bin", (5 << 20) + 4321),
                ("dir/two.bin", 100_000),
                ("dir/three.bin", (3 << 20) + 17),
                ("four.bin", (5 << 20) + 999),
            ],
            PIECE,
            22,
        ),
        Some(RATE),
    );
    s.kill_half_way_and_resume();
    s.trusts_everything();
}

#[test]
fn truncated_file_rehashes_only_its_own_pieces() {
    let s = Setup::new(
        Content::multi_file(
            "multi",
            &[
                ("a.bin", (6 << 20) + 1234),
                ("b.bin", (3 << 19) + 77),
                ("c/c.bin", (6 << 20) + 999),
            ],
            PIECE,
            33,
        ),
        None,
    );
    let (content, out, total) = (&s.content, &s.out, s.content.total_length());
    let (first, exit) = s.run("full");
    assert!(exit.status.success(), "{}", first.report(80));
    content
        .verify_download(out)
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

    let before = s.uploaded();
    let (second, exit) = s.run("after-truncate");
    let fetched = s.uploaded() - before;
    let context = format!(
        "b.bin is pieces {b_pieces:?} ({b_piece_bytes} bytes) of {total}; refetched {fetched}, rchar {:?}\n{}",
        exit.rchar,
        second.report(80)
    );
    assert!(exit.status.success(), "{context}");
    if let Err(e) = content.verify_download(out) {
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
