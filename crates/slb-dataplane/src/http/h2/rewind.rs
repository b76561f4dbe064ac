//! A client stream with bytes already read put back in front, so a connection the engine
//! has started reading (an HTTP/2 preface) can be handed to the HTTP/2 server from its first byte. It
//! also records when the client last sent anything, for HTTP/2's idle timeout.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// When a stream last delivered bytes; clones share it (the stream writes, a watcher reads).
#[derive(Clone)]
pub(crate) struct LastRead {
    start: Instant,
    /// Milliseconds after `start`.
    ms: Arc<AtomicU64>,
}

impl LastRead {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.ms.store(ms, Ordering::Relaxed);
    }

    /// The time of the last read that returned bytes (creation time before any).
    pub(crate) fn at(&self) -> Instant {
        self.start + std::time::Duration::from_millis(self.ms.load(Ordering::Relaxed))
    }
}

/// `prefix` is read first, then `inner`; writes go to `inner`; reads touch `last_read`.
pub(crate) struct Rewind<T> {
    prefix: Bytes,
    inner: T,
    last_read: LastRead,
}

impl<T> Rewind<T> {
    pub(crate) fn new(prefix: Bytes, inner: T, last_read: LastRead) -> Self {
        Self {
            prefix,
            inner,
            last_read,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.last_read.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn prefix_then_inner() {
        let inner: &[u8] = b" world";
        let last_read = LastRead::new();
        let created = last_read.at();
        let mut r = Rewind::new(Bytes::from_static(b"hello"), inner, last_read.clone());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let mut s = String::new();
        r.read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "hello world");
        assert!(
            last_read.at() > created,
            "reading from the stream moves the clock"
        );
    }
}
