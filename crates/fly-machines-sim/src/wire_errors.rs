//! Fly-shaped bodies for the errors hyper answers on its own.
//!
//! A request line or head that hyper cannot parse (a URI over 64 KB, headers over its buffer,
//! garbage) never reaches the router: hyper writes a bare `414`, `431` or `400` head itself
//! and closes. This wrapper sits between hyper and the socket, recognises such a head by what
//! it lacks (every answer of ours carries `server: fly-machines-sim`), and writes the same
//! status with a `{"error", "status"}` JSON body instead.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The `server` header value on every answer the router produces.
pub(crate) const SERVER_NAME: &str = "fly-machines-sim";

/// The JSON answer that replaces a bare error head of this status, if it is one we rewrite.
fn replacement(status: u16) -> Option<Vec<u8>> {
    let (reason, code, message) = match status {
        400 => ("Bad Request", "invalid_argument", "malformed HTTP request"),
        414 => (
            "URI Too Long",
            "uri_too_long",
            "the request URI is longer than 65534 bytes",
        ),
        431 => (
            "Request Header Fields Too Large",
            "request_header_fields_too_large",
            "the request head is larger than the server accepts",
        ),
        _ => return None,
    };
    let body = serde_json::json!({ "error": message, "status": code }).to_string();
    Some(
        format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json; charset=utf-8\r\n\
             content-length: {}\r\nconnection: close\r\nserver: {SERVER_NAME}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// If `buf` starts with a complete response head that hyper wrote on its own, its length and
/// the bytes to send instead.
fn rewrite(buf: &[u8]) -> Option<(usize, Vec<u8>)> {
    let status_line = buf.strip_prefix(b"HTTP/1.1 ")?;
    let status: u16 = std::str::from_utf8(status_line.get(..3)?)
        .ok()?
        .parse()
        .ok()?;
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    if head.contains(&format!("server: {SERVER_NAME}")) {
        return None;
    }
    replacement(status).map(|bytes| (end, bytes))
}

/// A socket whose hyper-generated error heads are rewritten into Fly-shaped answers.
#[derive(Debug)]
pub(crate) struct FlyShapedErrors<S> {
    inner: S,
    /// Replacement bytes still to be written, and how many are written.
    pending: Option<(Vec<u8>, usize)>,
}

impl<S> FlyShapedErrors<S> {
    pub(crate) fn new(inner: S) -> FlyShapedErrors<S> {
        FlyShapedErrors {
            inner,
            pending: None,
        }
    }
}

impl<S: AsyncWrite + Unpin> FlyShapedErrors<S> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = self.pending.as_mut() {
            if *written >= bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FlyShapedErrors<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FlyShapedErrors<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        if let Some((consumed, bytes)) = rewrite(buf) {
            self.pending = Some((bytes, 0));
            // Best effort now; the rest goes out on the next write, flush or shutdown.
            let _ = self.drain(cx)?;
            return Poll::Ready(Ok(consumed));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    // Not vectored: hyper then flattens each message into one buffer, so a head arrives
    // whole in one `poll_write`.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_error_heads_are_rewritten_and_ours_are_not() {
        let bare = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n";
        let (consumed, bytes) = rewrite(bare).expect("rewritten");
        assert_eq!(consumed, bare.len());
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{text}");
        assert!(text.ends_with(r#""status":"uri_too_long"}"#), "{text}");
        let ours =
            b"HTTP/1.1 400 Bad Request\r\nserver: fly-machines-sim\r\ncontent-length: 2\r\n\r\n{}";
        assert!(rewrite(ours).is_none());
        assert!(rewrite(b"HTTP/1.1 200 OK\r\n\r\n").is_none());
        assert!(rewrite(b"HTTP/1.1 414 URI Too Long\r\ncontent-len").is_none());
    }
}
