//! Streaming gzip of text responses (Alibaba `Gzip`, on by default).
//!
//! Each data frame from the backend is fed to the encoder and whatever it produced is sent
//! on at once (sync flush), so compression never buffers a whole response.

use std::io::Write as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use http::header::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_LENGTH, VARY};
use http_body::{Body, Frame};

use super::headers::{has_token, tokens, HeaderSource};
use super::{BoxError, ProxyBody};

/// Whether the content type is compressible: `text/*`, JSON, JavaScript and XML.
pub(crate) fn compressible(content_type: &str) -> bool {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ct.starts_with("text/")
        || ct == "application/json"
        || ct == "application/javascript"
        || ct == "application/x-javascript"
        || ct == "application/xml"
        || ct.ends_with("+xml")
        || ct.ends_with("+json")
}

/// Whether the client accepts gzip (`Accept-Encoding` lists `gzip` without `q=0`).
pub(crate) fn client_accepts(req: &impl HeaderSource) -> bool {
    tokens(req, "accept-encoding").any(|item| {
        let Ok(item) = std::str::from_utf8(item) else {
            return false;
        };
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let zero_q = parts.any(|p| {
            let p = p.trim().replace(' ', "");
            p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !zero_q
    })
}

/// Whether this response should be compressed: not already encoded, a compressible type,
/// and a status that carries a body.
pub(crate) fn should_compress(status: u16, resp: &impl HeaderSource) -> bool {
    resp.values("content-encoding").next().is_none()
        && resp.values("content-range").next().is_none()
        && !has_token(resp, "cache-control", "no-transform")
        && !matches!(status, 100..=199 | 204 | 206 | 304)
        && compressible(resp.first_str("content-type"))
}

/// Incremental gzip: every pushed piece comes out compressed at once (sync flush), so
/// compression never holds back or buffers a whole response.
pub(crate) struct GzipStream(GzEncoder<Vec<u8>>);

impl GzipStream {
    pub(crate) fn new() -> Self {
        Self(GzEncoder::new(Vec::new(), Compression::fast()))
    }

    /// Compresses `data` and returns what is ready to send (possibly empty).
    pub(crate) fn push(&mut self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        self.0.write_all(data)?;
        self.0.flush()?;
        Ok(std::mem::take(self.0.get_mut()))
    }

    /// Ends the stream: the remaining output and the gzip trailer.
    pub(crate) fn finish(self) -> std::io::Result<Vec<u8>> {
        self.0.finish()
    }
}

/// Rewrites the headers for a gzip body: `Content-Encoding: gzip`, `Vary: Accept-Encoding`,
/// no `Content-Length` (the body is sent chunked).
pub(crate) fn set_headers(resp: &mut HeaderMap) {
    resp.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    resp.remove(CONTENT_LENGTH);
    resp.append(VARY, HeaderValue::from_static("Accept-Encoding"));
}

/// A body that gzips `inner` frame by frame.
pub(crate) struct GzipBody {
    inner: ProxyBody,
    encoder: Option<GzipStream>,
}

impl GzipBody {
    pub(crate) fn new(inner: ProxyBody) -> Self {
        Self {
            inner,
            encoder: Some(GzipStream::new()),
        }
    }
}

impl Body for GzipBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            let Some(enc) = this.encoder.as_mut() else {
                return Poll::Ready(None);
            };
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers are dropped with gzip
                    };
                    let out = enc.push(&data)?;
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                    }
                }
                Poll::Ready(None) => {
                    let enc = this.encoder.take().expect("checked above");
                    let out = enc.finish()?;
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.encoder.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::ACCEPT_ENCODING;

    #[test]
    fn types_and_accept() {
        assert!(compressible("text/html; charset=utf-8"));
        assert!(compressible("application/json"));
        assert!(!compressible("image/png"));
        let mut h = HeaderMap::new();
        h.insert(ACCEPT_ENCODING, HeaderValue::from_static("br, gzip;q=0.8"));
        assert!(client_accepts(&h));
        h.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip;q=0, br"));
        assert!(!client_accepts(&h));
    }
}
