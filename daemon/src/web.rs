//! Static files of a web interface (Transmission's own, as a distribution
//! installs it) served from a directory at `/transmission/web/`. A path
//! is resolved inside the root and refused if it would leave it; only
//! regular files are served, with a content type from their extension.

use std::path::{Component, Path, PathBuf};

/// Largest file served (the web client's biggest is a few hundred KiB).
const MAX_FILE: u64 = 16 * 1024 * 1024;

/// A file to send.
#[derive(Debug, PartialEq, Eq)]
pub struct StaticFile {
    /// Its bytes.
    pub body: Vec<u8>,
    /// Its content type.
    pub content_type: &'static str,
}

/// Resolve `rest` (the URL path after `/transmission/web/`, still
/// percent-encoded) inside `root`. None: not there, or not allowed.
pub fn resolve(root: &Path, rest: &str) -> Option<PathBuf> {
    let decoded = percent_decode(rest)?;
    let mut path = root.to_path_buf();
    for c in Path::new(&decoded).components() {
        match c {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            // `..`, a root or a prefix: refuse outright.
            _ => return None,
        }
    }
    if path.is_dir() {
        path.push("index.html");
    }
    // Symbolic links must not lead out of the root either.
    let real = path.canonicalize().ok()?;
    let real_root = root.canonicalize().ok()?;
    real.starts_with(&real_root).then_some(real)
}

/// Read the file at `rest` under `root`.
pub fn read(root: &Path, rest: &str) -> Option<StaticFile> {
    let path = resolve(root, rest)?;
    let meta = std::fs::metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > MAX_FILE {
        return None;
    }
    let body = std::fs::read(&path).ok()?;
    Some(StaticFile {
        body,
        content_type: content_type(&path),
    })
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "application/javascript; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "gif" => "image/gif",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "svg" => "image/svg+xml",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let s = s.split(['?', '#']).next().unwrap_or("");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let text = String::from_utf8(out).ok()?;
    (!text.contains('\0')).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_inside_the_root_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("web");
        std::fs::create_dir_all(root.join("javascript")).unwrap();
        std::fs::write(root.join("index.html"), b"<html>").unwrap();
        std::fs::write(root.join("javascript/a b.js"), b"js").unwrap();
        std::fs::write(dir.path().join("secret"), b"no").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link")).unwrap();

        assert_eq!(read(&root, "").unwrap().body, b"<html>");
        let js = read(&root, "javascript/a%20b.js?v=1").unwrap();
        assert_eq!(js.content_type, "application/javascript; charset=utf-8");
        for bad in [
            "../secret",
            "%2e%2e/secret",
            "link",
            "/etc/passwd",
            "nope",
            "%zz",
            "a%00b",
        ] {
            assert!(read(&root, bad).is_none(), "{bad}");
        }
    }
}
