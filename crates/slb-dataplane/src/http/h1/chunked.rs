//! HTTP/1.1 chunked transfer coding (RFC 9112 §7.1), sans-IO.
//!
//! Bodies pass through the proxy in their chunked framing, so the proxy never needs to
//! buffer or re-encode them; it only needs to know where a body ends. [`ChunkedScanner`]
//! finds that end incrementally, byte split by byte split, without buffering. It is strict
//! on purpose: any framing a backend might read differently (bare LF, whitespace before the
//! size, overflowing sizes, stray bytes) is refused, so the proxy and the backend can never
//! disagree on where one request ends and the next begins (request smuggling).

use std::fmt;

/// Longest chunk-size line (size and extensions, CRLF excluded).
const MAX_LINE: usize = 4096;
/// Largest trailer section (every trailer line and the final empty line, CRLFs included).
const MAX_TRAILERS: usize = 64 * 1024;
/// Largest accepted chunk size; far above any real chunk, far below `u64` overflow.
const MAX_CHUNK_SIZE: u64 = 1 << 62;

/// CRLF that ends a chunk's data.
pub(crate) const CHUNK_END: &[u8] = b"\r\n";
/// The last chunk with no trailers: `0\r\n\r\n`.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Why a chunked body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkedError {
    /// The chunk size is empty, not hexadecimal, or followed by something other than
    /// optional whitespace and `;` extensions.
    BadSize,
    /// The chunk size exceeds 2^62.
    SizeTooLarge,
    /// The chunk-size line is longer than 4096 bytes.
    LineTooLong,
    /// A line or chunk data does not end in CRLF (bare LF, lone CR, or extra data).
    MissingCrlf,
    /// The trailer section is larger than 64 KiB.
    TrailersTooLarge,
}

impl fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadSize => "invalid chunk size",
            Self::SizeTooLarge => "chunk size too large",
            Self::LineTooLong => "chunk-size line too long",
            Self::MissingCrlf => "chunk framing missing CRLF",
            Self::TrailersTooLarge => "chunked trailer section too large",
        })
    }
}

impl std::error::Error for ChunkedError {}

/// Progress of one `feed` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Bytes of the input that belong to the body (framing included). Always <= input.len();
    /// less than input.len() only when `done`.
    pub consumed: usize,
    /// The terminating zero chunk and its trailer section (ending in an empty line) have
    /// been consumed.
    pub done: bool,
}

/// Where the scanner is within the chunked grammar.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting the first hex digit of a chunk size.
    #[default]
    SizeStart,
    /// Inside the chunk-size digits.
    Size,
    /// Whitespace after the size; only `;` may follow.
    SizeBws,
    /// Inside chunk extensions, skipped up to CR.
    Ext,
    /// Chunk-size line saw CR, expecting LF.
    SizeLf,
    /// Inside chunk data; `size` bytes remain.
    Data,
    /// Chunk data ended, expecting CR.
    DataCr,
    /// Chunk data ended, expecting LF.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer field line, skipped up to CR.
    TrailerLine,
    /// Trailer line saw CR, expecting LF.
    TrailerLineLf,
    /// Final empty line saw CR, expecting LF.
    FinalLf,
    Done,
    /// Sticky: a refused body stays refused.
    Failed(ChunkedError),
}

/// Incremental state machine over a chunked body.
///
/// Keeps only a few counters, so feeding never allocates (unless it keeps trailers).
#[derive(Debug, Default, Clone)]
pub(crate) struct ChunkedScanner {
    state: State,
    /// Chunk size being parsed, then the data bytes remaining in the chunk.
    size: u64,
    /// Bytes of the current chunk-size line so far.
    line_len: usize,
    /// Bytes of the trailer section so far.
    trailer_len: usize,
    /// The trailer section as it arrived, when kept (for an HTTP/2 client, which gets the
    /// fields in a HEADERS frame of their own).
    trailers: Option<Vec<u8>>,
}

impl ChunkedScanner {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A scanner that also keeps the trailer section (at most 64 KiB, as always), for
    /// [`ChunkedScanner::take_trailers`].
    pub(crate) fn keeping_trailers() -> Self {
        Self {
            trailers: Some(Vec::new()),
            ..Self::default()
        }
    }

    /// The trailer fields' lines (`name: value`, CRLF-separated, the final empty line
    /// included) once the body has ended; empty when there were none or they are not kept.
    pub(crate) fn take_trailers(&mut self) -> Vec<u8> {
        self.trailers.take().unwrap_or_default()
    }

    /// Feeds the next bytes of the body as they arrive (any split, down to one byte at a
    /// time). `data` is called with each run of payload bytes (chunk data only, no framing,
    /// never with an empty slice), in order, so a caller can de-chunk. Returns an error for
    /// any malformed framing; the scanner then keeps returning it. After `done`, further
    /// calls return `Progress { consumed: 0, done: true }`.
    pub(crate) fn feed(
        &mut self,
        input: &[u8],
        data: &mut dyn FnMut(&[u8]),
    ) -> Result<Progress, ChunkedError> {
        if let State::Failed(e) = self.state {
            return Err(e);
        }
        let consumed = self
            .scan(input, data)
            .inspect_err(|&e| self.state = State::Failed(e))?;
        let done = self.is_done();
        Ok(Progress { consumed, done })
    }

    /// Whether the body has ended.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Advances over `input` until it runs out or the body ends; returns the bytes used.
    fn scan(&mut self, input: &[u8], data: &mut dyn FnMut(&[u8])) -> Result<usize, ChunkedError> {
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                State::Done => break,
                State::Data => {
                    let avail = input.len() - pos;
                    let take = usize::try_from(self.size).map_or(avail, |r| r.min(avail));
                    data(&input[pos..pos + take]);
                    pos += take;
                    self.size -= take as u64;
                    if self.size == 0 {
                        self.state = State::DataCr;
                    }
                    continue;
                }
                State::Ext | State::TrailerLine => {
                    // Skip the opaque run up to CR/LF in one go; `step` handles the end.
                    let rest = &input[pos..];
                    let n = rest.iter().position(|&b| b == b'\r' || b == b'\n');
                    let n = n.unwrap_or(rest.len());
                    self.grow(n)?;
                    if let (State::TrailerLine, Some(t)) = (self.state, &mut self.trailers) {
                        t.extend_from_slice(&rest[..n]);
                    }
                    pos += n;
                    if pos == input.len() {
                        break;
                    }
                }
                _ => {}
            }
            self.step(input[pos])?;
            pos += 1;
        }
        Ok(pos)
    }

    /// Counts `n` bytes against the limit of the current size line or trailer section.
    fn grow(&mut self, n: usize) -> Result<(), ChunkedError> {
        use State::*;
        let (len, max, err) = match self.state {
            TrailerStart | TrailerLine | TrailerLineLf | FinalLf => (
                &mut self.trailer_len,
                MAX_TRAILERS,
                ChunkedError::TrailersTooLarge,
            ),
            _ => (&mut self.line_len, MAX_LINE, ChunkedError::LineTooLong),
        };
        *len += n;
        if *len > max {
            return Err(err);
        }
        Ok(())
    }

    /// Advances over one framing byte (any state but `Data`, `Done` and `Failed`).
    fn step(&mut self, b: u8) -> Result<(), ChunkedError> {
        use ChunkedError::{BadSize, MissingCrlf, SizeTooLarge};
        use State::*;
        let counted = match self.state {
            SizeStart | Size | SizeBws | Ext => b != b'\r', // the line limit excludes CRLF
            SizeLf | DataCr | DataLf => false,
            _ => true, // the trailer limit covers the whole section
        };
        if counted {
            self.grow(1)?;
        }
        if let (TrailerStart | TrailerLine | TrailerLineLf | FinalLf, Some(t)) =
            (self.state, &mut self.trailers)
        {
            t.push(b);
        }
        if let (SizeStart | Size, Some(digit)) = (self.state, hex(b)) {
            // `size` is 0 at `SizeStart`: a chunk's data was fully consumed before it.
            self.size = (self.size.checked_mul(16))
                .map(|s| s | digit)
                .filter(|&s| s <= MAX_CHUNK_SIZE)
                .ok_or(SizeTooLarge)?;
            self.state = Size;
            return Ok(());
        }
        let lf = |next| (b == b'\n').then_some(next).ok_or(MissingCrlf);
        self.state = match (self.state, b) {
            (SizeStart, _) => return Err(BadSize),
            (Size, b'\r') => SizeLf,
            (Size, b'\n') => return Err(MissingCrlf),
            (Size | SizeBws, b' ' | b'\t') => SizeBws,
            (Size | SizeBws, b';') => Ext,
            (Size | SizeBws, _) => return Err(BadSize),
            (Ext, b'\r') => SizeLf,
            (Ext | TrailerStart | TrailerLine, b'\n') => return Err(MissingCrlf),
            (Ext, _) => Ext,
            (SizeLf, _) => {
                self.line_len = 0;
                lf(if self.size == 0 { TrailerStart } else { Data })?
            }
            (DataCr, b'\r') => DataLf,
            (DataCr, _) => return Err(MissingCrlf),
            (DataLf, _) => lf(SizeStart)?,
            (TrailerStart, b'\r') => FinalLf,
            (TrailerLine, b'\r') => TrailerLineLf,
            (TrailerStart | TrailerLine, _) => TrailerLine,
            (TrailerLineLf, _) => lf(TrailerStart)?,
            (FinalLf, _) => lf(Done)?,
            (Data | Done | Failed(_), _) => unreachable!("handled by feed"),
        };
        Ok(())
    }
}

/// Value of an ASCII hex digit.
fn hex(b: u8) -> Option<u64> {
    (b as char).to_digit(16).map(u64::from)
}

/// Appends the chunk header for `len` payload bytes (`{len:x}\r\n`) to `out`. Callers
/// append the payload and then CRLF (`CHUNK_END`).
pub(crate) fn write_chunk_header(out: &mut Vec<u8>, len: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let nibbles = (usize::BITS - len.leading_zeros()).div_ceil(4).max(1);
    for i in (0..nibbles).rev() {
        out.push(DIGITS[(len >> (i * 4)) & 0xf]);
    }
    out.extend_from_slice(CHUNK_END);
}

#[cfg(test)]
mod tests {
    use super::*;

    type Scanned = Result<(Vec<u8>, usize, bool), ChunkedError>;

    /// Feeds `parts` in order; returns the payload, total consumed and done.
    fn scan_parts(parts: &[&[u8]]) -> Scanned {
        let mut s = ChunkedScanner::new();
        let (mut payload, mut consumed) = (Vec::new(), 0);
        for part in parts {
            let p = s.feed(part, &mut |d: &[u8]| {
                assert!(!d.is_empty(), "empty data run");
                payload.extend_from_slice(d);
            })?;
            assert!(p.consumed == part.len() || (p.done && p.consumed < part.len()));
            assert_eq!(p.done, s.is_done());
            consumed += p.consumed;
        }
        Ok((payload, consumed, s.is_done()))
    }

    fn scan(input: &[u8]) -> Scanned {
        scan_parts(&[input])
    }

    /// Feeds one byte per call.
    fn scan_bytes(input: &[u8]) -> Scanned {
        scan_parts(&input.chunks(1).collect::<Vec<_>>())
    }

    /// Feeds ignoring the payload.
    fn feed(s: &mut ChunkedScanner, input: &[u8]) -> Result<(usize, bool), ChunkedError> {
        s.feed(input, &mut |_: &[u8]| {})
            .map(|p| (p.consumed, p.done))
    }

    fn ok(input: &[u8], payload: &[u8]) {
        assert_eq!(scan(input), Ok((payload.to_vec(), input.len(), true)));
        assert_eq!(scan_bytes(input), Ok((payload.to_vec(), input.len(), true)));
    }

    /// Each `|`-separated case fails with `e`, fed at once or byte by byte, and stays failed.
    fn err(cases: &[u8], e: ChunkedError) {
        assert!(!e.to_string().is_empty());
        for input in cases.split(|&b| b == b'|') {
            let case = String::from_utf8_lossy(input);
            assert_eq!(scan(input), Err(e), "{case:?}");
            assert_eq!(scan_bytes(input), Err(e), "{case:?}");
            let mut s = ChunkedScanner::new();
            assert_eq!(feed(&mut s, input), Err(e));
            assert_eq!(feed(&mut s, b""), Err(e));
            assert_eq!(feed(&mut s, LAST_CHUNK), Err(e));
        }
    }

    const BODY: &[u8] =
        b"5;a=b\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-A: 1\r\nX-B:\r\n\r\n";
    const PAYLOAD: &[u8] = b"hello 0123456789";

    #[test]
    fn accepts_valid_bodies() {
        ok(b"5\r\nhello\r\n0\r\n\r\n", b"hello");
        ok(b"3\r\nabc\r\n2\r\nde\r\n1\r\nf\r\n0\r\n\r\n", b"abcdef");
        ok(LAST_CHUNK, b"");
        ok(
            b"5;foo=bar\r\nhello\r\n3 ;a ; b=\"x\"\r\nabc\r\n0;z\r\n\r\n",
            b"helloabc",
        );
        ok(b"2\t \t;x\r\nhi\r\n0 ;y=z\r\n\r\n", b"hi");
        ok(b"3\r\nabc\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n", b"abc");
        ok(
            b"A\r\n0123456789\r\n1F\r\n0123456789012345678901234567890\r\n0\r\n\r\n",
            b"01234567890123456789012345678901234567890",
        );
        ok(b"0000b\r\nhello world\r\n000\r\n\r\n", b"hello world");
        ok(b"1\r\n\r\r\n1\r\n\n\r\n0\r\n\r\n", b"\r\n");
        ok(BODY, PAYLOAD);
    }

    #[test]
    fn every_split_point() {
        let expected = Ok((PAYLOAD.to_vec(), BODY.len(), true));
        assert_eq!(scan_bytes(BODY), expected);
        for i in 0..=BODY.len() {
            let (a, b) = BODY.split_at(i);
            assert_eq!(scan_parts(&[a, b]), expected, "split {i}");
        }
    }

    #[test]
    fn pipelined_bytes_not_consumed() {
        let next = b"GET / HTTP/1.1\r\n\r\n";
        let input = [BODY, next].concat();
        let mut s = ChunkedScanner::new();
        assert_eq!(feed(&mut s, &input), Ok((BODY.len(), true)));
        let p = s.feed(next, &mut |_: &[u8]| panic!("data after end"));
        assert_eq!(
            p,
            Ok(Progress {
                consumed: 0,
                done: true
            })
        );
        // The end arriving inside a later read.
        let (a, b) = input.split_at(BODY.len() - 3);
        let mut s = ChunkedScanner::new();
        assert_eq!(feed(&mut s, a), Ok((a.len(), false)));
        assert_eq!(feed(&mut s, b), Ok((3, true)));
    }

    #[test]
    fn partial_and_empty_input() {
        assert_eq!(feed(&mut ChunkedScanner::new(), b""), Ok((0, false)));
        assert_eq!(scan(b"5\r\nhel"), Ok((b"hel".to_vec(), 6, false)));
        assert_eq!(scan(b"0\r\nX: y\r\n"), Ok((Vec::new(), 9, false)));
        // The largest allowed size is accepted.
        assert_eq!(
            scan(b"4000000000000000\r\nab"),
            Ok((b"ab".to_vec(), 20, false))
        );
    }

    #[test]
    fn rejects_bad_size() {
        let cases = b"\r\n|;ext\r\n| 5\r\n|\t5\r\n|g\r\n|-1\r\n|+5\r\n|0x5\r\n|5 \r\n|5\t\r\n\
            |5x\r\n|5 5\r\n|5 \n|\n|3\r\nabc\r\n\r\n|3\r\nabc\r\nz\r\n|5,6\r\n";
        err(cases, ChunkedError::BadSize);
    }

    #[test]
    fn rejects_too_large_sizes() {
        let cases = b"ffffffffffffffffff\r\n|10000000000000000\r\n|4000000000000001\r\n\
            |8000000000000000\r\n|5\r\nhello\r\nFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF";
        err(cases, ChunkedError::SizeTooLarge);
    }

    #[test]
    fn rejects_long_lines() {
        let mut body = [b"5;", &[b'a'; MAX_LINE - 2][..], b"\r\nhello\r\n0\r\n\r\n"].concat();
        ok(&body, b"hello");
        body.insert(2, b'a');
        err(&body, ChunkedError::LineTooLong);
        err(
            &[&[b'0'; MAX_LINE][..], b"5\r\n"].concat(),
            ChunkedError::LineTooLong,
        );
    }

    #[test]
    fn rejects_missing_crlf() {
        let cases = b"5\nhello\r\n|5\rhello|5;a\nhello|5;a\rx|5\r\nhelloX|5\r\nhello\n\
            |5\r\nhello\rX|0\r\n\n|0\r\n\rX|0\r\nX: y\n\r\n|0\r\nX: y\rZ\r\n\r\n|0\n\r\n|0;e\n";
        err(cases, ChunkedError::MissingCrlf);
    }

    #[test]
    fn keeps_trailers_when_asked_whatever_the_splits() {
        let body = b"5\r\nhello\r\n0\r\nx-checksum: abc\r\nx-more:  1 \r\n\r\n";
        for split in 1..body.len() {
            let mut s = ChunkedScanner::keeping_trailers();
            let mut data = Vec::new();
            for part in body.chunks(split) {
                s.feed(part, &mut |d| data.extend_from_slice(d)).unwrap();
            }
            assert!(s.is_done());
            assert_eq!(data, b"hello");
            assert_eq!(
                s.take_trailers(),
                b"x-checksum: abc\r\nx-more:  1 \r\n\r\n",
                "split {split}"
            );
        }
        let mut plain = ChunkedScanner::new();
        plain.feed(body, &mut |_| {}).unwrap();
        assert!(plain.take_trailers().is_empty(), "not kept unless asked");
    }

    #[test]
    fn rejects_large_trailers() {
        // Trailer lines of 100 bytes, then one short line, then the empty line: exactly 64 KiB.
        let mut body = b"0\r\n".to_vec();
        for _ in 0..(MAX_TRAILERS - 2) / 100 {
            body.extend_from_slice(&[&[b'x'; 98][..], b"\r\n"].concat());
        }
        body.resize(3 + MAX_TRAILERS - 4, b'y');
        body.extend_from_slice(b"\r\n\r\n");
        ok(&body, b"");
        body.insert(3, b'z');
        err(&body, ChunkedError::TrailersTooLarge);
    }

    #[test]
    fn encoder_round_trip() {
        for len in [0, 1, 15, 16, 255, 4096, usize::MAX] {
            let mut out = vec![b'x'];
            write_chunk_header(&mut out, len);
            assert_eq!(out, format!("x{len:x}\r\n").into_bytes());
        }
        let mut body = Vec::new();
        for part in [&b"hello"[..], b" ", b"world, this is chunked"] {
            write_chunk_header(&mut body, part.len());
            body.extend_from_slice(part);
            body.extend_from_slice(CHUNK_END);
        }
        body.extend_from_slice(LAST_CHUNK);
        ok(&body, b"hello world, this is chunked");
    }

    /// xorshift64: deterministic, dependency-free.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// Splits `bytes` into random non-empty pieces of at most `max` bytes.
        fn split<'a>(&mut self, mut bytes: &'a [u8], max: u64) -> Vec<&'a [u8]> {
            let mut parts = Vec::new();
            while !bytes.is_empty() {
                let n = (1 + self.next() % max).min(bytes.len() as u64);
                let (part, rest) = bytes.split_at(n as usize);
                parts.push(part);
                bytes = rest;
            }
            parts
        }
    }

    #[test]
    fn random_round_trip() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..400 {
            let len = rng.next() % 3000;
            let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let mut body = Vec::new();
            for chunk in rng.split(&payload, 600) {
                write_chunk_header(&mut body, chunk.len());
                if rng.next().is_multiple_of(4) {
                    body.truncate(body.len() - 2);
                    body.extend_from_slice(b" ;ext=\"v\"\r\n");
                }
                body.extend_from_slice(chunk);
                body.extend_from_slice(CHUNK_END);
            }
            body.extend_from_slice(match rng.next() % 3 {
                0 => b"0\r\nX-Checksum: abc\r\nX-Other:\r\n\r\n",
                _ => LAST_CHUNK,
            });
            let input = [&body[..], b"POST / HTTP/1.1\r\n"].concat();
            let parts = rng.split(&input, 200);
            assert_eq!(scan_parts(&parts), Ok((payload, body.len(), true)));
        }
    }
}
