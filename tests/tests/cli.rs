//! The command-line contract: bad input exits 2 with one line naming the
//! problem, never a panic or a backtrace.

use riffle_tests::riffle;

/// Like [`assert_clean_failure`], for errors found after parsing (not
/// clap's usage errors): exactly one line.
fn assert_one_line_failure(args: &[&str], needle: &str) {
    assert_clean_failure(args, needle);
    let out = riffle(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{args:?}: not one line: {stderr:?}"
    );
}

fn assert_clean_failure(args: &[&str], needle: &str) {
    let out = riffle(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?}: status {:?}, stderr {stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert!(!stderr.contains("backtrace"), "{args:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: expected {needle:?} in {stderr:?}"
    );
}

#[test]
fn bad_torrents_exit_2_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[u8])] = &[
        ("empty.torrent", b""),
        ("garbage.torrent", b"\x00\xffnot bencode at all"),
        ("list.torrent", b"le"),
        ("noinfo.torrent", b"d8:announce3:urle"),
        ("truncated.torrent", b"d4:infod4:name3:abc"),
        ("deep.torrent", &[b'l'; 5000]),
    ];
    for (name, body) in cases {
        let p = tmp.path().join(name);
        std::fs::write(&p, body).unwrap();
        let out = riffle(&["info", p.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{name}: not one line: {stderr:?}"
        );
        assert!(
            stderr.contains(name),
            "{name}: the error should name the file: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

#[test]
fn bad_arguments_exit_2() {
    assert_clean_failure(
        &["info", "/nonexistent/x.torrent"],
        "/nonexistent/x.torrent",
    );
    assert_clean_failure(&["frobnicate"], "frobnicate");
    assert_clean_failure(&["info"], "TORRENT");
    let tmp = tempfile::tempdir().unwrap();
    let out_path = tmp.path().join("x.torrent");
    let out = out_path.to_str().unwrap();
    assert_clean_failure(
        &["create", "/nonexistent/dir", "-o", out],
        "/nonexistent/dir",
    );
    let empty = tmp.path().join("emptydir");
    std::fs::create_dir(&empty).unwrap();
    assert_clean_failure(&["create", empty.to_str().unwrap(), "-o", out], "no files");
    let f = tmp.path().join("f");
    std::fs::write(&f, b"hello").unwrap();
    let fs = f.to_str().unwrap();
    assert_clean_failure(
        &["create", fs, "-o", out, "--piece-length", "1000"],
        "power of two",
    );
    assert_clean_failure(
        &["create", fs, "-o", out, "--tracker", "not a url"],
        "not a URL",
    );
    assert_clean_failure(
        &["create", fs, "-o", out, "--tracker", "ftp://x/announce"],
        "only http",
    );
    assert!(
        !out_path.exists(),
        "a failed create must not leave a torrent behind"
    );
}

#[test]
fn create_then_info_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("hello.txt");
    std::fs::write(&f, b"hello, swarm\n").unwrap();
    let t = tmp.path().join("hello.torrent");
    let out = riffle(&[
        "create",
        f.to_str().unwrap(),
        "-o",
        t.to_str().unwrap(),
        "--comment",
        "hi",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hash = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(hash.len(), 40);
    let info = riffle(&["info", t.to_str().unwrap(), "--json"]);
    assert!(info.status.success());
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(v["info_hash"], hash);
    assert_eq!(v["name"], "hello.txt");
    assert_eq!(v["total_length"], 13);
    assert_eq!(v["piece_count"], 1);
    assert_eq!(v["private"], false);
    let human = riffle(&["info", t.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains(&hash) && text.contains("hi") && text.contains("hello.txt"),
        "{text}"
    );
}

#[test]
fn download_and_seed_refuse_bad_input_with_status_2() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("f.bin"), vec![7u8; 100_000]).unwrap();
    let torrent = tmp.path().join("f.torrent");
    let t = torrent.to_str().unwrap();
    let out = riffle(&["create", data.join("f.bin").to_str().unwrap(), "-o", t]);
    assert!(out.status.success(), "{out:?}");
    let dl = tmp.path().join("dl");
    let d = dl.to_str().unwrap();
    assert_one_line_failure(
        &["download", "/nonexistent/x.torrent", "-o", d],
        "/nonexistent/x.torrent",
    );
    assert_clean_failure(
        &["download", t, "-o", d, "--max-download-rate", "fast"],
        "fast",
    );
    assert_clean_failure(&["download", t, "-o", d, "--peer", "nowhere"], "nowhere");
    assert_clean_failure(&["download", t, "-o", d, "--listen", "6881"], "6881");
    assert_clean_failure(&["download", t], "--output");
    // Seeding data that is not there: checked, refused, one line.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_one_line_failure(
        &[
            "seed",
            t,
            "--data",
            empty.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        "incomplete",
    );
    // Damaged data too.
    std::fs::write(data.join("f.bin"), vec![8u8; 100_000]).unwrap();
    assert_one_line_failure(
        &[
            "seed",
            t,
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        "incomplete: 0 of",
    );
}

#[test]
fn bare_riffle_without_a_terminal_prints_its_help() {
    let out = riffle(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("Usage") && stdout.contains("tui"),
        "bare riffle should print the help naming the tui: {stdout}"
    );
}
