//! A small client of Transmission's RPC over plain HTTP/1.1: the URL
//! (`http://[user:pass@]host:port[/path]`), basic authentication, the
//! session-id handshake (a 409 names the id; the request is sent again),
//! one connection per call. HTTPS is not spoken: reach a remote daemon
//! through an SSH tunnel.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest answer read (a torrent-get of many torrents with their peers).
const MAX_ANSWER: u64 = 256 * 1024 * 1024;
/// A call must be answered within this.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Where the RPC is and how to talk to it.
#[derive(Debug, Clone)]
pub struct RpcClient {
    /// `host:port`, as dialled and sent in `Host`.
    host: String,
    /// The path (`/transmission/rpc`).
    path: String,
    /// `Authorization` header value, if credentials were given.
    auth: Option<String>,
    /// The session id learnt from the server.
    session: String,
}

impl RpcClient {
    /// Parse `url`.
    pub fn new(url: &str) -> Result<RpcClient> {
        let parsed = url::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
        if parsed.scheme() != "http" {
            bail!("{url}: only http:// is spoken (reach an https daemon through an SSH tunnel)");
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| anyhow!("{url} names no host"))?;
        let port = parsed.port().unwrap_or(9091);
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let path = match parsed.path() {
            "" | "/" => "/transmission/rpc".to_owned(),
            p => p.to_owned(),
        };
        let auth = (!parsed.username().is_empty()).then(|| {
            let user = percent(parsed.username());
            let pass = percent(parsed.password().unwrap_or(""));
            format!(
                "Basic {}",
                data_encoding::BASE64.encode(format!("{user}:{pass}").as_bytes())
            )
        });
        Ok(RpcClient {
            host,
            path,
            auth,
            session: String::new(),
        })
    }

    /// Where it talks to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Call `method`; its `arguments` on success, the `result` as the
    /// error otherwise.
    pub async fn call(&mut self, method: &str, arguments: Value) -> Result<Value> {
        let body = json!({"method": method, "arguments": arguments}).to_string();
        for _ in 0..2 {
            let (status, session, answer) = tokio::time::timeout(CALL_TIMEOUT, self.post(&body))
                .await
                .map_err(|_| anyhow!("{} did not answer in time", self.host))??;
            match status {
                409 => {
                    self.session = session.ok_or_else(|| anyhow!("a 409 without a session id"))?;
                }
                200 => {
                    let v: Value = serde_json::from_slice(&answer)
                        .with_context(|| format!("{method}: the answer is not JSON"))?;
                    if v["result"] != "success" {
                        bail!("{method}: {}", v["result"].as_str().unwrap_or("failed"));
                    }
                    return Ok(v["arguments"].clone());
                }
                401 => bail!("{}: wrong or missing user name and password", self.host),
                403 => bail!("{}: this address may not use the RPC", self.host),
                other => bail!("{method}: HTTP {other} from {}", self.host),
            }
        }
        bail!("{} keeps changing its session id", self.host)
    }

    async fn post(&self, body: &str) -> Result<(u16, Option<String>, Vec<u8>)> {
        let mut s = TcpStream::connect(&self.host)
            .await
            .with_context(|| format!("cannot connect to {}", self.host))?;
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nX-Transmission-Session-Id: {}\r\n",
            self.path,
            self.host,
            body.len(),
            self.session
        );
        if let Some(a) = &self.auth {
            head.push_str(&format!("Authorization: {a}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).await?;
        s.write_all(body.as_bytes()).await?;
        let mut raw = Vec::new();
        (&mut s).take(MAX_ANSWER).read_to_end(&mut raw).await?;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| anyhow!("{}: not an HTTP answer", self.host))?;
        let head = String::from_utf8_lossy(&raw[..split]);
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let session = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("x-transmission-session-id")
                .then(|| v.trim().to_owned())
        });
        let mut body = raw[split + 4..].to_vec();
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body = dechunk(&body)?;
        }
        Ok((status, session, body))
    }
}

/// Undo `%XX` escapes in a URL's user name or password.
fn percent(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// A chunked body, joined.
fn dechunk(mut body: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("a broken chunked answer"))?;
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&body[..line_end])
                .split(';')
                .next()
                .unwrap_or("")
                .trim(),
            16,
        )
        .map_err(|_| anyhow!("a broken chunk size"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 {
            bail!("a truncated chunked answer");
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = RpcClient::new("http://127.0.0.1:9091").unwrap();
        assert_eq!(c.host, "127.0.0.1:9091");
        assert_eq!(c.path, "/transmission/rpc");
        assert!(c.auth.is_none());
        let c = RpcClient::new("http://me:p%40ss@box.lan/custom/rpc").unwrap();
        assert_eq!(c.host, "box.lan:9091");
        assert_eq!(c.path, "/custom/rpc");
        let expected = format!("Basic {}", data_encoding::BASE64.encode(b"me:p@ss"));
        assert_eq!(c.auth.as_deref(), Some(expected.as_str()));
        assert!(RpcClient::new("https://x").is_err());
        assert!(RpcClient::new("not a url").is_err());
        assert_eq!(RpcClient::new("http://[::1]:9/").unwrap().host, "[::1]:9");
    }

    #[test]
    fn chunked_answers() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
        assert!(dechunk(b"9\r\nabc").is_err());
    }
}
