//! The RPC's HTTP server: `/transmission/rpc` (POST, behind the access
//! check and Transmission's session-id handshake, bodies capped) and the
//! web interface's files at `/transmission/web/`.
//!
//! Connections are bounded in number, in head size and read time, and in
//! lifetime; a body past the cap is refused before it is buffered.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST, LOCATION, WWW_AUTHENTICATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::access::{Access, Verdict};
use crate::service::Service;

/// Most connections served at once; more are closed on accept.
pub const MAX_CONNECTIONS: usize = 256;
/// Most bytes of a request head.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// A request head must arrive within this.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection is closed after this long (clients poll with new ones).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(300);
/// The header of Transmission's CSRF token.
pub const SESSION_HEADER: &str = "X-Transmission-Session-Id";

/// What the server needs.
pub struct Http {
    /// The RPC.
    pub service: Service,
    /// Who may use it.
    pub access: Access,
    /// The web interface's directory, if served.
    pub web_root: Option<PathBuf>,
    /// Largest request body.
    pub max_body: usize,
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn html(status: StatusCode, title: &str, text: &str) -> Reply {
    reply(
        status,
        "text/html; charset=utf-8",
        format!("<html><head><title>{title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>"),
    )
}

/// Accept connections until `stop` turns true.
pub async fn serve(listener: TcpListener, http: Arc<Http>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let http = http.clone();
                        connections.spawn(async move {
                            connection(stream, peer, http).await;
                            drop(permit);
                        });
                    }
                    Err(_) => tracing::debug!(%peer, "too many RPC connections; closing"),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "RPC accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, http: Arc<Http>) {
    let service = service_fn(move |req: Request<Incoming>| {
        let http = http.clone();
        async move { Ok::<_, Infallible>(handle(&http, req, peer).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(CONNECTION_LIFETIME, conn).await {
        Ok(Ok(())) | Err(_) => {}
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "RPC connection failed"),
    }
}

async fn handle(http: &Http, req: Request<Incoming>, peer: SocketAddr) -> Reply {
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let verdict = http.access.check(
        peer.ip(),
        header(HOST),
        header(hyper::header::AUTHORIZATION),
    );
    match verdict {
        Verdict::Allow => {}
        Verdict::Forbidden => {
            return html(
                StatusCode::FORBIDDEN,
                "403: Forbidden",
                "Unauthorized IP Address. Add it to rpc_whitelist in riffle's config file.",
            )
        }
        Verdict::BadHost => {
            return html(
                StatusCode::MISDIRECTED_REQUEST,
                "421: Misdirected Request",
                "Unauthorized Host. Name this host in rpc_host_whitelist, or set a password.",
            )
        }
        Verdict::Unauthorized(delay) => {
            tokio::time::sleep(delay).await;
            let mut r = html(
                StatusCode::UNAUTHORIZED,
                "401: Unauthorized",
                "Unauthorized User",
            );
            r.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Transmission\""),
            );
            return r;
        }
    }
    let path = req.uri().path().to_owned();
    if path == "/transmission/rpc" || path == "/transmission/rpc/" {
        return rpc(http, req).await;
    }
    if let Some(rest) = path.strip_prefix("/transmission/web/") {
        return web(http, rest);
    }
    if path == "/"
        || path == "/transmission"
        || path == "/transmission/"
        || path == "/transmission/web"
    {
        let mut r = html(StatusCode::MOVED_PERMANENTLY, "301: Moved Permanently", "");
        r.headers_mut()
            .insert(LOCATION, HeaderValue::from_static("/transmission/web/"));
        return r;
    }
    html(StatusCode::NOT_FOUND, "404: Not Found", "")
}

/// 413, closing the connection: the rest of the body is not read.
fn too_large() -> Reply {
    let mut r = html(
        StatusCode::PAYLOAD_TOO_LARGE,
        "413: Payload Too Large",
        "The request body is too large.",
    );
    r.headers_mut()
        .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    r
}

fn web(http: &Http, rest: &str) -> Reply {
    let Some(root) = &http.web_root else {
        return html(
            StatusCode::NOT_FOUND,
            "404: Not Found",
            "No web interface is served: start riffle daemon with --web-root DIR (Transmission's, e.g. /usr/share/transmission/web).",
        );
    };
    match crate::web::read(root, rest) {
        Some(f) => reply(StatusCode::OK, f.content_type, f.body),
        None => html(StatusCode::NOT_FOUND, "404: Not Found", ""),
    }
}

async fn rpc(http: &Http, req: Request<Incoming>) -> Reply {
    let token = &http.service.session_id;
    let sent = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok());
    if sent != Some(token.as_str()) {
        let mut r = html(
            StatusCode::CONFLICT,
            "409: Conflict",
            &format!(
                "Your request had an invalid session-id header.</p><p>To fix this, follow these steps:<ol><li> When reading a response, get its {SESSION_HEADER} header and remember it<li> Add the updated header to your outgoing requests<li> When you get this 409 error message, resend your request with the updated header</ol></p><p>This requirement has been added to help prevent <a href=\"https://en.wikipedia.org/wiki/Cross-site_request_forgery\">CSRF</a> attacks.</p><p><code>{SESSION_HEADER}: {token}</code>"
            ),
        );
        if let Ok(v) = HeaderValue::from_str(token) {
            r.headers_mut().insert(SESSION_HEADER, v);
        }
        return r;
    }
    if req.method() != Method::POST {
        return html(
            StatusCode::METHOD_NOT_ALLOWED,
            "405: Method Not Allowed",
            "POST a JSON request.",
        );
    }
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > http.max_body as u64) {
        return too_large();
    }
    let body = match Limited::new(req.into_body(), http.max_body).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let too_big = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            return if too_big {
                too_large()
            } else {
                html(
                    StatusCode::BAD_REQUEST,
                    "400: Bad Request",
                    "The request body could not be read.",
                )
            };
        }
    };
    let answer = http.service.handle(&body).await;
    let mut r = reply(StatusCode::OK, "application/json; charset=UTF-8", answer);
    if let Ok(v) = HeaderValue::from_str(token) {
        r.headers_mut().insert(SESSION_HEADER, v);
    }
    r
}
