//! A client connection that joins the reactor only when it has to wait.
//!
//! HAProxy's trick, measured here with strace: after `accept4` it reads at once (the request
//! has usually arrived by then) and registers a socket with epoll only when a read or write
//! would block. A one-request connection (`Connection: close`) then never costs the
//! `epoll_ctl` add and delete, nor the wake-up in between. [`ClientStream`] starts as a plain
//! non-blocking socket and turns into a tokio `TcpStream` the first time an operation
//! returns `WouldBlock`; everything else sees one `AsyncRead + AsyncWrite`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream as StdTcpStream};
use std::pin::Pin;
use std::task::{Context, Poll};

use std::future::Future;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use crate::ddos::InstanceDdos;
use crate::shaper::{Direction, Shaper};

/// Most bytes a read on the unregistered socket fills (the buffer's spare capacity must be
/// zeroed first, as safe code cannot read into uninitialised memory).
const RAW_READ_MAX: usize = 16 * 1024;

/// A client socket, unregistered until it would block.
pub(crate) struct ClientStream {
    state: State,
    /// Bandwidth pacing and anti-DDoS metering, when the listener has either: one optional
    /// box, as this struct is part of every idle connection's state.
    limits: Option<Box<Limits>>,
}

/// What limits one client connection besides its socket.
#[derive(Default)]
struct Limits {
    /// The listener's bandwidth limit, if any.
    pace: Option<Pacer>,
    /// The instance's anti-DDoS meter: bytes read count in its inbound bit rate.
    ddos: Option<Arc<InstanceDdos>>,
}

/// Bandwidth pacing of one client connection: after bytes move one way, the next
/// operation that way waits until the listener's token bucket allows it.
struct Pacer {
    shaper: Arc<Shaper>,
    read_wait: Option<Pin<Box<Sleep>>>,
    write_wait: Option<Pin<Box<Sleep>>>,
}

/// Whether the pause in `slot` (if any) is over; registers the waker when it is not.
fn pause_over(slot: &mut Option<Pin<Box<Sleep>>>, cx: &mut Context<'_>) -> bool {
    if let Some(s) = slot {
        if s.as_mut().poll(cx).is_pending() {
            return false;
        }
    }
    *slot = None;
    true
}

/// Charges `n` bytes moved `dir` and arms the pause the limit asks for.
fn charge(shaper: &Shaper, slot: &mut Option<Pin<Box<Sleep>>>, dir: Direction, n: usize) {
    let d = shaper.delay(dir, n);
    if !d.is_zero() {
        *slot = Some(Box::pin(tokio::time::sleep(d)));
    }
}

enum State {
    /// Non-blocking, not in epoll.
    Raw(StdTcpStream),
    /// Registered with the tokio reactor.
    Tokio(TcpStream),
    /// Registration failed; every operation reports it.
    Failed,
}

impl ClientStream {
    /// `stream` must be non-blocking.
    pub(crate) fn new(stream: StdTcpStream) -> Self {
        Self {
            state: State::Raw(stream),
            limits: None,
        }
    }

    /// Meters the bytes read from this client in the instance's anti-DDoS bit rate.
    pub(crate) fn metered(mut self, ddos: Option<Arc<InstanceDdos>>) -> Self {
        if ddos.is_some() {
            self.limits.get_or_insert_default().ddos = ddos;
        }
        self
    }

    /// Paces this connection by the listener's bandwidth limit (`None`: unlimited).
    pub(crate) fn paced(mut self, shaper: Option<Arc<Shaper>>) -> Self {
        if let Some(shaper) = shaper {
            self.limits.get_or_insert_default().pace = Some(Pacer {
                shaper,
                read_wait: None,
                write_wait: None,
            });
        }
        self
    }

    fn pacer(&mut self) -> Option<&mut Pacer> {
        self.limits.as_mut().and_then(|l| l.pace.as_mut())
    }

    /// The registered stream (registering now if needed), for concurrent halves, upgrades
    /// and the HTTP/2 handoff.
    pub(crate) fn registered(&mut self) -> io::Result<&mut TcpStream> {
        if let State::Raw(_) = self.state {
            let State::Raw(raw) = std::mem::replace(&mut self.state, State::Failed) else {
                unreachable!("checked above")
            };
            self.state = State::Tokio(TcpStream::from_std(raw)?);
        }
        match &mut self.state {
            State::Tokio(s) => Ok(s),
            _ => Err(io::Error::other("client socket registration failed")),
        }
    }

    /// The local address (`getsockname`), for listeners bound to a wildcard address.
    pub(crate) fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        match &self.state {
            State::Raw(s) => s.local_addr(),
            State::Tokio(s) => s.local_addr(),
            State::Failed => Err(io::Error::other("client socket registration failed")),
        }
    }

    pub(crate) fn set_nodelay(&self, on: bool) -> io::Result<()> {
        match &self.state {
            State::Raw(s) => s.set_nodelay(on),
            State::Tokio(s) => s.set_nodelay(on),
            State::Failed => Ok(()),
        }
    }
}

/// `Ready` with the result, or `None` when the raw socket would block.
fn raw_attempt<T>(r: io::Result<T>) -> Option<io::Result<T>> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
        r => Some(r),
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(p) = this.pacer() {
            if !pause_over(&mut p.read_wait, cx) {
                return Poll::Pending;
            }
        }
        let before = buf.filled().len();
        let r = this.read_now(cx, buf);
        if let (Poll::Ready(Ok(())), Some(l)) = (&r, this.limits.as_mut()) {
            let n = buf.filled().len() - before;
            if let Some(p) = &mut l.pace {
                charge(&p.shaper, &mut p.read_wait, Direction::Up, n);
            }
            if let Some(d) = &l.ddos {
                d.bytes(n);
            }
        }
        r
    }
}

impl ClientStream {
    fn read_now(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self;
        if let State::Raw(s) = &mut this.state {
            let room = buf.remaining().min(RAW_READ_MAX);
            let dst = buf.initialize_unfilled_to(room);
            if let Some(r) = raw_attempt(s.read(dst)) {
                return Poll::Ready(r.map(|n| buf.advance(n)));
            }
        }
        match this.registered() {
            Ok(s) => Pin::new(s).poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl ClientStream {
    fn write_now(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if let State::Raw(s) = &mut self.state {
            if let Some(r) = raw_attempt(s.write(data)) {
                return Poll::Ready(r);
            }
        }
        match self.registered() {
            Ok(s) => Pin::new(s).poll_write(cx, data),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn write_vectored_now(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let State::Raw(s) = &mut self.state {
            if let Some(r) = raw_attempt(s.write_vectored(bufs)) {
                return Poll::Ready(r);
            }
        }
        match self.registered() {
            Ok(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Runs a write unless a bandwidth pause is pending, then charges what it wrote.
    fn paced_write(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(&mut Self, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if let Some(p) = self.pacer() {
            if !pause_over(&mut p.write_wait, cx) {
                return Poll::Pending;
            }
        }
        let r = write(self, cx);
        if let (Poll::Ready(Ok(n)), Some(p)) = (&r, self.pacer()) {
            charge(&p.shaper, &mut p.write_wait, Direction::Down, *n);
        }
        r
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .paced_write(cx, |this, cx| this.write_now(cx, data))
    }

    /// One `writev` for several buffers: rustls hands over each TLS record as its own
    /// buffer, and written one by one each would leave as its own TCP segment (a resumed
    /// TLS 1.3 handshake's flight is three records, its tickets two more).
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .paced_write(cx, |this, cx| this.write_vectored_now(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Tokio(s) => Pin::new(s).poll_flush(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Raw(s) => Poll::Ready(s.shutdown(Shutdown::Write)),
            State::Tokio(s) => Pin::new(s).poll_shutdown(cx),
            State::Failed => Poll::Ready(Ok(())),
        }
    }
}

/// The client side of an HTTP connection: plain TCP, or TLS over it (HTTPS listeners).
pub(crate) enum Client {
    Plain(ClientStream),
    Tls(Box<tokio_rustls::server::TlsStream<ClientStream>>),
}

impl Client {
    pub(crate) fn set_nodelay(&self, on: bool) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.set_nodelay(on),
            Self::Tls(t) => t.get_ref().0.set_nodelay(on),
        }
    }

    /// The socket an idle keep-alive connection waits on for its client's next bytes
    /// ([`super::idle::IdleTimers::wait`]), so that it holds no read buffer meanwhile.
    /// Over TLS that is the socket too when rustls holds nothing to read (no decrypted
    /// bytes, no complete record); otherwise there is no need to wait: `Err(true)`.
    /// `Err(false)`: the socket cannot join the reactor.
    pub(crate) fn idle_socket(&mut self) -> Result<&TcpStream, bool> {
        match self {
            Self::Plain(s) => s.registered().map(|s| &*s).map_err(|_| false),
            Self::Tls(t) => {
                let (io, conn) = t.get_mut();
                if conn.wants_read() {
                    io.registered().map(|s| &*s).map_err(|_| false)
                } else {
                    Err(true)
                }
            }
        }
    }

    /// Whether the transport is TLS (for `X-Forwarded-Proto`).
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

    /// The negotiated TLS version and cipher suite (access log `ssl_protocol`, `ssl_cipher`);
    /// empty for plain connections.
    pub(crate) fn ssl_info(&self) -> (String, String) {
        match self {
            Self::Plain(_) => Default::default(),
            Self::Tls(t) => ssl_info(t.get_ref().1),
        }
    }
}

/// `TLSv1.3` and the cipher suite's IANA name of a server connection.
pub(crate) fn ssl_info(conn: &tokio_rustls::rustls::ServerConnection) -> (String, String) {
    use tokio_rustls::rustls::ProtocolVersion;
    let protocol = match conn.protocol_version() {
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        Some(ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(v) => format!("{v:?}"),
        None => String::new(),
    };
    let cipher = conn
        .negotiated_cipher_suite()
        .and_then(|s| s.suite().as_str())
        .unwrap_or("")
        .to_owned();
    (protocol, cipher)
}

impl AsyncRead for Client {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(t) => Pin::new(t.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Client {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, data),
            Self::Tls(t) => Pin::new(t.as_mut()).poll_write(cx, data),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(t) => Pin::new(t.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(t) => t.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(t) => Pin::new(t.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(t) => Pin::new(t.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn reads_and_writes_raw_then_registers_when_it_must_wait() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut peer = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (s, _) = l.accept().unwrap();
        s.set_nonblocking(true).unwrap();
        let mut c = ClientStream::new(s);
        peer.write_all(b"ping").await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        assert!(
            matches!(c.state, State::Raw(_)),
            "data was there: no registration"
        );
        c.write_all(b"pong").await.unwrap();
        // Nothing to read yet: the stream registers and waits for the peer.
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 5];
            c.read_exact(&mut buf).await.unwrap();
            (buf, matches!(c.state, State::Tokio(_)))
        });
        let mut got = [0u8; 4];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"pong");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        peer.write_all(b"later").await.unwrap();
        let (buf, registered) = reader.await.unwrap();
        assert_eq!(&buf, b"later");
        assert!(registered);
    }

    /// A connected client socket (the test's end) and the balancer's unregistered end.
    async fn accepted() -> (tokio::net::TcpStream, ClientStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = tokio::net::TcpStream::connect(l.local_addr().unwrap())
            .await
            .unwrap();
        let (s, _) = l.accept().unwrap();
        s.set_nonblocking(true).unwrap();
        (peer, ClientStream::new(s))
    }

    /// The same over TLS: with nothing left in rustls, the wait is on the socket, so an idle
    /// HTTPS keep-alive connection holds no read buffer either; a new record ends it.
    #[tokio::test]
    async fn idle_tls_waits_on_the_socket() {
        use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
        use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![ck.cert.der().clone()], key)
            .unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(ck.cert.der().clone()).unwrap();
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (peer, s) = accepted().await;
        let name = ServerName::try_from("localhost").unwrap();
        let (peer, tls) = tokio::join!(
            tokio_rustls::TlsConnector::from(Arc::new(client)).connect(name, peer),
            tokio_rustls::TlsAcceptor::from(Arc::new(server)).accept(s)
        );
        let (mut peer, mut tls) = (peer.unwrap(), tls.unwrap());
        peer.write_all(b"GET").await.unwrap();
        let mut buf = [0u8; 3];
        tls.read_exact(&mut buf).await.unwrap();
        idle_wait_ends_on_bytes(Client::Tls(Box::new(tls)), peer, b"more").await;
    }

    /// An idle keep-alive connection waits on its socket, which turns readable when bytes
    /// arrive, and leaves the bytes to be read.
    #[tokio::test]
    async fn idle_plain_waits_on_the_socket() {
        let (peer, s) = accepted().await;
        idle_wait_ends_on_bytes(Client::Plain(s), peer, b"GET").await;
    }

    /// `c`'s idle socket stays unreadable while `peer` is silent, turns readable once
    /// `peer` sends `bytes`, and `bytes` are then read from `c`.
    async fn idle_wait_ends_on_bytes<P>(mut c: Client, mut peer: P, bytes: &'static [u8])
    where
        P: tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let soon = std::time::Duration::from_millis(50);
        let socket = c
            .idle_socket()
            .expect("nothing to read yet: wait on the socket");
        assert!(
            tokio::time::timeout(soon, socket.readable()).await.is_err(),
            "nothing sent: not readable"
        );
        let writer = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            peer.write_all(bytes).await.unwrap();
            peer
        });
        let socket = c.idle_socket().expect("still nothing decoded");
        tokio::time::timeout(std::time::Duration::from_secs(10), socket.readable())
            .await
            .expect("bytes arrived: readable")
            .unwrap();
        let mut buf = vec![0u8; bytes.len()];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf, bytes);
        drop(writer.await.unwrap());
    }

    /// Several buffers (TLS records, from rustls) leave in one write, raw or registered.
    #[tokio::test]
    async fn vectored_writes_take_every_buffer_at_once() {
        let (mut peer, mut c) = accepted().await;
        assert!(c.is_write_vectored());
        let bufs = [
            io::IoSlice::new(b"one "),
            io::IoSlice::new(b"two "),
            io::IoSlice::new(b"three"),
        ];
        assert_eq!(c.write_vectored(&bufs).await.unwrap(), 13);
        c.registered().unwrap();
        assert_eq!(c.write_vectored(&bufs).await.unwrap(), 13);
        let mut got = [0u8; 26];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"one two threeone two three");
    }
}
