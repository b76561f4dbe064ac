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
use http::header::{
    HeaderMap, HeaderValue, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, VARY,
};
use http_body::{Body, Frame};

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
pub(crate) fn client_accepts(req: &HeaderMap) -> bool {
    req.get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
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
pub(crate) fn should_compress(status: http::StatusCode, resp: &HeaderMap) -> bool {
    !resp.contains_key(CONTENT_ENCODING)
        && !resp.contains_key(http::header::CONTENT_RANGE)
        && !resp
            .get_all(http::header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("no-transform"))
        && status != http::StatusCode::PARTIAL_CONTENT
        && status != http::StatusCode::NO_CONTENT
        && status != http::StatusCode::NOT_MODIFIED
        && !status.is_informational()
        && resp
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(compressible)
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
    encoder: Option<GzEncoder<Vec<u8>>>,
}

impl GzipBody {
    pub(crate) fn new(inner: ProxyBody) -> Self {
        Self {
            inner,
            encoder: Some(GzEncoder::new(Vec::new(), Compression::fast())),
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
                    enc.write_all(&data)?;
                    enc.flush()?;
                    let out = std::mem::take(enc.get_mut());
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
