//! Relaying message bodies as they arrive: the request body from the client to the backend
//! (framing passed through) and the response body from the backend to the client (passed
//! through, de-chunked for HTTP/1.0 clients, or gzip-compressed into chunks). Neither is
//! ever buffered whole: at most one read's worth is in flight.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::super::gzip::GzipStream;
use super::chunked::{write_chunk_header, ChunkedError, ChunkedScanner, CHUNK_END, LAST_CHUNK};
use super::head::Framing;

/// Read size for bodies: 32 KiB, as for the TCP relay (`tcp/buffers.rs`). 1 MiB responses
/// through wrk -c64, interleaved A/B: 289-311 µs/MiB against 405-445 with 16 KiB, at the
/// same 1.45-1.66 GiB/s (64 KiB had measured 361-424 against 16 KiB's 311-332 before).
const READ_CHUNK: usize = 32 * 1024;
/// A response head is sent together with the first body bytes when they fit in this.
const COALESCE: usize = 64 * 1024;

/// Why a request body could not be relayed.
#[derive(Debug)]
pub(crate) enum UploadError {
    /// The client closed or failed mid-body.
    Client(io::Error),
    /// The client's chunked framing is malformed.
    BadChunked(ChunkedError),
    /// The backend stopped accepting the body.
    Upstream(io::Error),
}

impl std::fmt::Display for UploadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Client(e) => write!(f, "client: {e}"),
            Self::BadChunked(e) => write!(f, "client body: {e}"),
            Self::Upstream(e) => write!(f, "backend: {e}"),
        }
    }
}

/// Relays a request body of `framing` from the client (bytes already read are in `buf`) to
/// the backend. Bytes after the body (a pipelined request) stay in `buf`. Sets `done` once
/// the whole body has been relayed. Returns the body bytes relayed.
pub(crate) async fn upload<R, W>(
    client: &mut R,
    buf: &mut BytesMut,
    framing: Framing,
    upstream: &mut W,
    done: &AtomicBool,
) -> Result<u64, UploadError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut remaining = match framing {
        Framing::Length(n) => n,
        Framing::Chunked => u64::MAX,
        Framing::Empty | Framing::Close => {
            done.store(true, Ordering::Relaxed);
            return Ok(0);
        }
    };
    let mut scanner = ChunkedScanner::new();
    let mut total = 0u64;
    loop {
        if buf.is_empty() {
            buf.reserve(READ_CHUNK);
            let n = client.read_buf(buf).await.map_err(UploadError::Client)?;
            if n == 0 {
                return Err(UploadError::Client(io::ErrorKind::UnexpectedEof.into()));
            }
        }
        let (take, fin) = if framing == Framing::Chunked {
            let p = scanner
                .feed(buf, &mut |_| {})
                .map_err(UploadError::BadChunked)?;
            (p.consumed, p.done)
        } else {
            let n = remaining.min(buf.len() as u64);
            remaining -= n;
            (n as usize, remaining == 0)
        };
        let piece = buf.split_to(take);
        upstream
            .write_all(&piece)
            .await
            .map_err(UploadError::Upstream)?;
        total += take as u64;
        if fin {
            done.store(true, Ordering::Relaxed);
            return Ok(total);
        }
    }
}

/// How the response body is re-encoded for the client.
pub(crate) enum Encode {
    /// As the backend framed it.
    Raw,
    /// Chunked from the backend, plain to an HTTP/1.0 client (delimited by close).
    Dechunk,
    /// Compressed and sent chunked.
    Gzip(Box<GzipStream>),
}

/// Why a response body could not be relayed.
#[derive(Debug)]
pub(crate) enum DownloadError {
    /// The backend closed early, failed, or framed the body badly.
    Upstream(io::Error),
    /// The client went away.
    Client(io::Error),
}

impl std::fmt::Display for DownloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Upstream(e) => write!(f, "backend: {e}"),
            Self::Client(e) => write!(f, "client: {e}"),
        }
    }
}

/// What was relayed.
pub(crate) struct Downloaded {
    /// Body bytes written to the client (after re-encoding).
    pub sent: u64,
    /// The body ended at its framing (not by close) with nothing after it in the buffer,
    /// so the backend connection can carry another request.
    pub clean: bool,
}

/// Relays a response body of `framing` from the backend (bytes already read are in `rbuf`)
/// to the client, after the response head in `pending`, which is sent with the first body
/// bytes when they are already here (one write for a small response).
pub(crate) async fn download<R, W>(
    upstream: &mut R,
    rbuf: &mut BytesMut,
    framing: Framing,
    mut encode: Encode,
    client: &mut W,
    pending: &mut Vec<u8>,
) -> Result<Downloaded, DownloadError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut remaining = match framing {
        Framing::Empty => {
            write(client, pending, &[]).await?;
            return Ok(Downloaded {
                sent: 0,
                clean: rbuf.is_empty(),
            });
        }
        Framing::Length(n) => n,
        Framing::Chunked | Framing::Close => u64::MAX,
    };
    let mut scanner = ChunkedScanner::new();
    let mut decoded = Vec::new();
    let mut framed = Vec::new();
    let mut sent = 0u64;
    loop {
        let mut eof = false;
        if rbuf.is_empty() && remaining > 0 {
            if !pending.is_empty() {
                write(client, pending, &[]).await?;
            }
            rbuf.reserve(READ_CHUNK);
            let n = upstream
                .read_buf(rbuf)
                .await
                .map_err(DownloadError::Upstream)?;
            if n == 0 {
                if framing != Framing::Close {
                    return Err(DownloadError::Upstream(io::ErrorKind::UnexpectedEof.into()));
                }
                eof = true;
            }
        }
        let need_data = !matches!(encode, Encode::Raw);
        let (take, fin) = match framing {
            Framing::Chunked => {
                decoded.clear();
                let p = scanner
                    .feed(rbuf, &mut |d| {
                        if need_data {
                            decoded.extend_from_slice(d);
                        }
                    })
                    .map_err(|e| DownloadError::Upstream(io::Error::other(e)))?;
                (p.consumed, p.done)
            }
            Framing::Length(_) => {
                let n = remaining.min(rbuf.len() as u64);
                remaining -= n;
                (n as usize, remaining == 0)
            }
            _ => (rbuf.len(), eof),
        };
        let piece = rbuf.split_to(take);
        let data: &[u8] = if framing == Framing::Chunked {
            &decoded
        } else {
            &piece
        };
        let out: &[u8] = match &mut encode {
            Encode::Raw => &piece,
            Encode::Dechunk => data,
            Encode::Gzip(gz) => {
                framed.clear();
                let z = gz.push(data).map_err(DownloadError::Upstream)?;
                if !z.is_empty() {
                    write_chunk_header(&mut framed, z.len());
                    framed.extend_from_slice(&z);
                    framed.extend_from_slice(CHUNK_END);
                }
                &framed
            }
        };
        sent += out.len() as u64;
        if fin {
            let mut last = Vec::new();
            if let Encode::Gzip(gz) = encode {
                let z = gz.finish().map_err(DownloadError::Upstream)?;
                last.extend_from_slice(out);
                if !z.is_empty() {
                    write_chunk_header(&mut last, z.len());
                    last.extend_from_slice(&z);
                    last.extend_from_slice(CHUNK_END);
                }
                last.extend_from_slice(LAST_CHUNK);
                sent += (last.len() - out.len()) as u64;
                write(client, pending, &last).await?;
            } else {
                write(client, pending, out).await?;
            }
            return Ok(Downloaded {
                sent,
                clean: framing != Framing::Close && rbuf.is_empty(),
            });
        }
        if !out.is_empty() || !pending.is_empty() {
            write(client, pending, out).await?;
        }
    }
}

/// Writes `pending` (then clears it) and `out`, in one write when they fit together.
async fn write<W: AsyncWrite + Unpin>(
    client: &mut W,
    pending: &mut Vec<u8>,
    out: &[u8],
) -> Result<(), DownloadError> {
    let r = if pending.is_empty() {
        client.write_all(out).await
    } else if out.len() <= COALESCE {
        pending.extend_from_slice(out);
        let r = client.write_all(pending).await;
        pending.clear();
        r
    } else {
        let r = client.write_all(pending).await;
        pending.clear();
        match r {
            Ok(()) => client.write_all(out).await,
            e => e,
        }
    };
    r.map_err(DownloadError::Client)
}
