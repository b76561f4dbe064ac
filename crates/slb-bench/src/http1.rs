//! Just enough HTTP/1.1 for the measurements: a response reader (Content-Length, chunked,
//! or until close) and a tiny keep-alive backend that names itself in its body.
//!
//! Written by hand rather than with an HTTP client library so that every request really
//! opens the connection the measurement asks for (no hidden pool), and so the idle
//! connections cost this process only a socket and a small buffer.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Largest response head accepted; a longer one is an error, not something to wait for.
const MAX_HEAD: usize = 64 * 1024;
/// Largest body read; the measured responses are a few bytes to a few hundred.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// What the measurements need from a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code of the status line.
    pub status: u16,
    /// The whole body, de-chunked.
    pub body: Vec<u8>,
    /// The body had no framing and ended with the connection: it cannot be kept alive.
    pub until_close: bool,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Bytes read from a stream and not consumed yet.
struct Reader<'a, S> {
    stream: &'a mut S,
    buf: Vec<u8>,
    pos: usize,
}

impl<S: AsyncRead + Unpin> Reader<'_, S> {
    /// Reads more bytes; `Ok(false)` at end of stream.
    async fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// Everything up to and including the next `\r\n` (returned without it).
    async fn line(&mut self, limit: usize) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf[self.pos..], b"\r\n") {
                let line = self.buf[self.pos..self.pos + i].to_vec();
                self.pos += i + 2;
                return Ok(line);
            }
            if self.buf.len() - self.pos > limit {
                return Err(bad("line too long"));
            }
            if !self.fill().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Exactly `n` bytes.
    async fn take(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() - self.pos < n {
            if !self.fill().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(out)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads one whole response from `stream`. The body is framed by `Transfer-Encoding:
/// chunked`, else `Content-Length`, else the end of the stream. Bytes after the response
/// are an error: the measured peers never pipeline, so they would mean a framing bug.
pub async fn read_response<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<Response> {
    let mut r = Reader {
        stream,
        buf: Vec::with_capacity(512),
        pos: 0,
    };
    let status_line = r.line(MAX_HEAD).await?;
    let status_line = String::from_utf8_lossy(&status_line).into_owned();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(bad(format!("not an HTTP/1.x status line: {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("no status code in {status_line:?}")))?;
    let mut content_length = None;
    let mut chunked = false;
    loop {
        let line = r.line(MAX_HEAD).await?;
        if line.is_empty() {
            break;
        }
        if r.pos > MAX_HEAD {
            return Err(bad("response head too long"));
        }
        let line = String::from_utf8_lossy(&line).into_owned();
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad(format!("malformed header line {line:?}")));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .parse()
                .map_err(|_| bad(format!("bad Content-Length {value:?}")))?;
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().ends_with("chunked")
        {
            chunked = true;
        }
    }
    let until_close = !chunked && content_length.is_none();
    let no_body = status == 204 || status == 304 || (100..200).contains(&status);
    let until_close = until_close && !no_body;
    let body = if no_body {
        Vec::new()
    } else if chunked {
        let mut body = Vec::new();
        loop {
            let size_line = r.line(1024).await?;
            let size_text = String::from_utf8_lossy(&size_line);
            let size_hex = size_text.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|_| bad(format!("bad chunk size {size_text:?}")))?;
            if size == 0 {
                // Trailers, then the empty line.
                while !r.line(MAX_HEAD).await?.is_empty() {}
                break;
            }
            if body.len() + size > MAX_BODY {
                return Err(bad("body too large"));
            }
            body.extend(r.take(size).await?);
            if !r.take(2).await?.eq(b"\r\n") {
                return Err(bad("chunk not followed by CRLF"));
            }
        }
        body
    } else if let Some(n) = content_length {
        if n > MAX_BODY {
            return Err(bad("body too large"));
        }
        r.take(n).await?
    } else {
        while r.fill().await? {
            if r.buf.len() - r.pos > MAX_BODY {
                return Err(bad("body too large"));
            }
        }
        r.buf[r.pos..].to_vec()
    };
    if r.pos < r.buf.len() && (chunked || content_length.is_some()) {
        return Err(bad("bytes after the response"));
    }
    Ok(Response {
        status,
        body,
        until_close,
    })
}

/// One `GET path` on a fresh connection with `Connection: close`, bounded by `timeout`.
/// A fresh connection each time is the point: it is what a new client sees.
pub async fn get_once(addr: SocketAddr, path: &str, timeout: Duration) -> io::Result<Response> {
    let io = async {
        let mut s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await?;
        read_response(&mut s).await
    };
    tokio::time::timeout(timeout, io)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "request timed out"))?
}

/// An in-process HTTP/1.1 backend that answers every request with the same body, keeps
/// connections alive unless asked to close, and stops when dropped.
pub struct Backend {
    /// Where it listens (127.0.0.1, an ephemeral port).
    pub addr: SocketAddr,
    /// What every answer carries, to tell backends apart through a proxy.
    pub body: Vec<u8>,
    task: JoinHandle<()>,
}

impl Backend {
    /// Listens on an ephemeral port of 127.0.0.1 and answers with `body`.
    pub async fn start(body: &[u8]) -> io::Result<Backend> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let owned = body.to_vec();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((s, _)) => {
                            let body = owned.clone();
                            conns.spawn(async move {
                                let _ = serve_conn(s, &body).await;
                            });
                        }
                        // EMFILE and friends: back off instead of spinning.
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    },
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Backend {
            addr,
            body: body.to_vec(),
            task,
        })
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        // Dropping the accept task's JoinSet aborts every connection task too.
        self.task.abort();
    }
}

/// Answers requests on one connection until the peer closes or asks to close. Request
/// bodies are not expected (health checks are off; the clients send GET) and not read.
async fn serve_conn(mut s: TcpStream, body: &[u8]) -> io::Result<()> {
    s.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > MAX_HEAD {
                return Ok(());
            }
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        buf.drain(..end);
        let close = head.contains("\r\nconnection: close");
        let head_only = head.starts_with("head ");
        let mut out = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        )
        .into_bytes();
        if !head_only {
            out.extend_from_slice(body);
        }
        s.write_all(&out).await?;
        if close {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(raw: &[u8]) -> io::Result<Response> {
        let mut r = raw;
        read_response(&mut r).await
    }

    #[tokio::test]
    async fn content_length_chunked_and_close_framing() {
        let r = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            .await
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
        let r = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nhel\r\n2\r\nlo\r\n0\r\nT: v\r\n\r\n",
        )
        .await
        .unwrap();
        assert_eq!(r.body, b"hello");
        let r = parse(b"HTTP/1.0 502 Bad Gateway\r\n\r\nnope")
            .await
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (502, &b"nope"[..]));
        let r = parse(b"HTTP/1.1 204 No Content\r\n\r\n").await.unwrap();
        assert!(r.body.is_empty());
    }

    #[tokio::test]
    async fn malformed_responses_are_errors() {
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort")
            .await
            .is_err());
        assert!(parse(b"SSH-2.0-x\r\n\r\n").await.is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab")
            .await
            .is_err());
        assert!(
            parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn backend_names_itself_and_keeps_alive() {
        let b = Backend::start(b"A").await.unwrap();
        let r = get_once(b.addr, "/", Duration::from_secs(5)).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"A"[..]));
        let mut s = TcpStream::connect(b.addr).await.unwrap();
        for _ in 0..3 {
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut head = Vec::new();
            // Keep-alive answers are framed by Content-Length: read exactly one.
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\nA") {
                s.read_exact(&mut byte).await.unwrap();
                head.push(byte[0]);
            }
        }
    }
}
