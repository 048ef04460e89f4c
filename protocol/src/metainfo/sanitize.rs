//! Path sanitization exactly as libtorrent 2.0 does it
//! (`aux::sanitize_append_path_element`), so a torrent's files land at the
//! same relative paths under riffle as under the reference client, and a
//! hostile `.torrent` cannot name a path outside the download directory.
//!
//! Per path element:
//! - `.` and `..` (and anything that is only one or two dots once filtered)
//!   are dropped, as is an element that filters down to nothing;
//! - an empty element becomes `_`;
//! - `/`, `\` and the Unicode direction-override characters are removed;
//! - control characters (below 0x20) and each invalid UTF-8 sequence become
//!   `_`;
//! - an element longer than 240 bytes is cut there, keeping an extension of
//!   up to 9 bytes found near its end.

/// Unicode characters that change writing direction: they can disguise a
/// file's extension, so libtorrent removes them.
const BIDI_CONTROLS: [u32; 7] = [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x200e, 0x200f];

/// Length in bytes of the UTF-8 sequence a lead byte announces, as
/// libtorrent counts it (5 for the obsolete `111110xx` form, 0 for a byte
/// that cannot start a sequence).
fn sequence_length(b: u8) -> usize {
    if b < 0x80 {
        1
    } else if b >> 5 == 0b110 {
        2
    } else if b >> 4 == 0b1110 {
        3
    } else if b >> 3 == 0b11110 {
        4
    } else if b >> 2 == 0b111110 {
        5
    } else {
        0
    }
}

/// Decode one code point from the start of a non-empty `s`: the code point
/// (None if the sequence is invalid) and how many bytes to step over.
fn parse_codepoint(s: &[u8]) -> (Option<u32>, usize) {
    let Some(&first) = s.first() else {
        return (None, 1);
    };
    let len = sequence_length(first);
    match len {
        0 => return (None, 1),
        1 => return (Some(u32::from(first)), 1),
        5 => return (None, 5),
        _ => {}
    }
    if len > s.len() {
        return (None, s.len());
    }
    let mut ch: u32 = u32::from(first)
        & match len {
            2 => 0b0001_1111,
            3 => 0b0000_1111,
            _ => 0b0000_0111,
        };
    for &b in s.iter().take(len).skip(1) {
        if !(0x80..=0xbf).contains(&b) {
            return (None, len);
        }
        ch = (ch << 6) | u32::from(b & 0x3f);
    }
    let overlong = match len {
        2 => ch < 0x80,
        3 => ch < 0x800,
        _ => ch < 0x10000,
    };
    if overlong || ch > 0x10ffff || (0xd800..=0xdfff).contains(&ch) {
        return (None, len);
    }
    (Some(ch), len)
}

/// Characters removed outright: path separators and direction overrides.
fn filtered(c: u32) -> bool {
    // NUL too: libtorrent tests `strchr("/\\", c)`, which finds the terminator.
    c == 0 || BIDI_CONTROLS.contains(&c) || c == u32::from(b'/') || c == u32::from(b'\\')
}

/// Sanitize one path element. `None` means libtorrent drops the element
/// (it is `.`, `..`, or nothing is left of it); otherwise the element as
/// it will appear on disk, never empty and never containing a separator.
pub fn sanitize_element(element: &[u8]) -> Option<String> {
    if element == b"." {
        return None;
    }
    if element.is_empty() {
        return Some("_".to_owned());
    }
    let len = element.len();
    let mut out: Vec<u8> = Vec::with_capacity(len);
    let mut num_dots = 0usize;
    let mut found_extension = false;
    let mut i = 0usize;
    while i < len {
        let rest = element.get(i..).unwrap_or_default();
        let (cp, seq_len) = parse_codepoint(rest);
        match cp {
            Some(c) if filtered(c) => {}
            Some(c) if c >= 32 => {
                out.extend_from_slice(rest.get(..seq_len).unwrap_or_default());
                if c == u32::from(b'.') {
                    num_dots += 1;
                }
                if out.len() >= 240 && !found_extension {
                    // Keep an extension that starts in the last 9 bytes.
                    let low = (len as isize - 10).max(i as isize);
                    let dot = (0..len)
                        .rev()
                        .take_while(|&j| j as isize > low)
                        .find(|&j| element.get(j) == Some(&b'.'));
                    match dot {
                        None => break,
                        Some(d) => {
                            found_extension = true;
                            i = d;
                            continue;
                        }
                    }
                }
            }
            _ => out.push(b'_'),
        }
        i = i.saturating_add(seq_len.max(1));
    }
    if out.len() == num_dots && out.len() <= 2 {
        return None;
    }
    Some(
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(e: &[u8]) -> Option<String> {
        sanitize_element(e)
    }

    #[test]
    fn dots_and_empty() {
        assert_eq!(s(b"."), None);
        assert_eq!(s(b".."), None);
        assert_eq!(s(b"..."), Some("...".into()));
        assert_eq!(s(b""), Some("_".into()));
        assert_eq!(s(b"/"), None);
        assert_eq!(s(b"/.."), None);
        assert_eq!(s(b".hidden"), Some(".hidden".into()));
    }

    #[test]
    fn separators_removed_controls_replaced() {
        assert_eq!(s(b"a/b\\c"), Some("abc".into()));
        assert_eq!(s(b"a\x00b\x1f"), Some("ab_".into()));
        assert_eq!(
            s("evil\u{202e}gpj.exe".as_bytes()),
            Some("evilgpj.exe".into())
        );
        assert_eq!(s("caf\u{e9}".as_bytes()), Some("caf\u{e9}".into()));
    }

    #[test]
    fn invalid_utf8_becomes_underscore_per_sequence() {
        assert_eq!(s(b"a\xffb"), Some("a_b".into()));
        // Truncated 3-byte sequence at the end: one underscore.
        assert_eq!(s(b"a\xe2\x82"), Some("a_".into()));
        // Overlong encoding of '/', and a surrogate.
        assert_eq!(s(b"x\xc0\xafy"), Some("x_y".into()));
        assert_eq!(s(b"x\xed\xa0\x80y"), Some("x_y".into()));
        // Bad continuation byte: the whole announced sequence is skipped.
        assert_eq!(s(b"\xe2(ab"), Some("_b".into()));
        // Obsolete 5-byte lead skips five bytes.
        assert_eq!(s(b"\xf8abcdefg"), Some("_efg".into()));
    }

    #[test]
    fn long_names_are_cut_keeping_the_extension() {
        let long = format!("{}.mkv", "a".repeat(300));
        let out = s(long.as_bytes()).unwrap();
        assert_eq!(out, format!("{}.mkv", "a".repeat(240)));
        let no_ext = "b".repeat(300);
        assert_eq!(s(no_ext.as_bytes()).unwrap(), "b".repeat(240));
    }

    proptest! {
        #[test]
        fn never_panics_and_never_unsafe(e in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Some(out) = sanitize_element(&e) {
                prop_assert!(!out.is_empty());
                prop_assert!(!out.contains('/') && !out.contains('\\'));
                prop_assert!(out != "." && out != "..");
                prop_assert!(out.len() <= 255);
            }
        }

        #[test]
        fn plain_names_unchanged(e in "[a-zA-Z0-9 _-][a-zA-Z0-9 ._-]{0,100}") {
            prop_assert_eq!(sanitize_element(e.as_bytes()), Some(e.clone()));
        }
    }
}
