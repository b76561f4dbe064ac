//! A node's connections to its key servers: blocking calls (signing happens inside a
//! rustls handshake, which cannot await), over a small pool of mutually authenticated TLS
//! connections per key server, failing fast past one while it is unreachable.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::sign::SigningKey;
use rustls::{ClientConfig, ClientConnection, SignatureScheme, StreamOwned};
use slb_tls::KeyKind;

use crate::proto::{self, ProtoError, Request, Response, Status};
use crate::remote_key::RemoteSigningKey;

/// Connecting gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// One request's answer must arrive within this time.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// After a failed connection attempt, calls fail at once for this long instead of each
/// handshake waiting on a dead address; the first call after it tries again.
const RETRY_AFTER: Duration = Duration::from_millis(500);
/// Idle connections kept for reuse.
const POOL_MAX: usize = 16;

type Conn = StreamOwned<ClientConnection, TcpStream>;

/// Why a key-server call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyServerError {
    #[error("key server {0} unreachable: {1}")]
    Unreachable(String, String),
    #[error("key server connection failed: {0}")]
    Io(String),
    #[error("key server answered {0:?}: {1}")]
    Refused(Status, String),
    #[error("key server protocol: {0}")]
    Proto(#[from] ProtoError),
}

/// Counters a node exports in `/metrics`.
#[derive(Debug, Default)]
pub struct KeyServerStats {
    /// Signatures computed by the key server for this node.
    pub signatures: AtomicU64,
    /// Handshakes that could not have their signature: refused up front because the key
    /// server was unreachable, or whose signing request failed.
    pub failures: AtomicU64,
    /// Time spent in successful signing calls, nanoseconds.
    pub sign_nanos: AtomicU64,
}

/// A node's client of its key servers: every key is stored on each of them, and a
/// signature comes from the first that can give it, so any one key server keeps every
/// TLS handshake going while the others are down.
pub struct KeyServerClient {
    endpoints: Vec<Endpoint>,
    /// The addresses as configured (`a:1,b:2`), for logs and metrics.
    addrs: String,
    keys: Mutex<HashMap<(String, KeyKind), Arc<dyn SigningKey>>>,
    pub stats: KeyServerStats,
}

/// One key server: its address, a pool of idle connections, and whether it is down.
struct Endpoint {
    addr: String,
    server_name: ServerName<'static>,
    tls: Arc<ClientConfig>,
    idle: Mutex<Vec<Conn>>,
    down_until: Mutex<Option<Instant>>,
    reachable: AtomicBool,
}

impl std::fmt::Debug for KeyServerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyServerClient")
            .field("addrs", &self.addrs)
            .finish()
    }
}

impl KeyServerClient {
    /// A client of the key servers at `addrs` (`host:port`, several separated by commas);
    /// each key server's certificate must name its `host`.
    pub fn new(addrs: &str, tls: Arc<ClientConfig>) -> Result<Arc<Self>, KeyServerError> {
        let endpoints = addrs
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| Endpoint::new(a, tls.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        if endpoints.is_empty() {
            return Err(KeyServerError::Unreachable(
                addrs.into(),
                "expected host:port".into(),
            ));
        }
        Ok(Arc::new(KeyServerClient {
            addrs: endpoints
                .iter()
                .map(|e| e.addr.as_str())
                .collect::<Vec<_>>()
                .join(","),
            endpoints,
            keys: Mutex::new(HashMap::new()),
            stats: KeyServerStats::default(),
        }))
    }

    /// The key servers' addresses, as configured.
    pub fn addr(&self) -> &str {
        &self.addrs
    }

    /// A signing key for certificate `id` whose signatures the key server computes. The
    /// same `Arc` is returned for the same key, so unchanged settings compare equal.
    pub fn remote_key(self: &Arc<Self>, id: &str, kind: KeyKind) -> Arc<dyn SigningKey> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.entry((id.to_string(), kind))
            .or_insert_with(|| {
                Arc::new(RemoteSigningKey {
                    id: id.to_string(),
                    kind,
                    client: self.clone(),
                })
            })
            .clone()
    }

    /// Whether a signature can be requested now: some key server is not known to be down
    /// and has a live idle connection (dead pooled connections are dropped, one new
    /// connection is made if needed). Cheap when a pooled connection is alive: one
    /// non-blocking peek per idle connection. Blocking otherwise (a connection attempt).
    pub fn ready(&self) -> bool {
        let ready = self.endpoints.iter().any(Endpoint::ready);
        if !ready {
            self.stats.failures.fetch_add(1, Ordering::Relaxed);
        }
        ready
    }

    /// Hands key `id` to every key server; each has stored it durably when this returns
    /// `Ok`. One that cannot take it fails the call (the key would be missing there).
    pub fn put(&self, id: &str, pem: &str) -> Result<(), KeyServerError> {
        let request = Request::Put {
            id: id.into(),
            pem: pem.into(),
        };
        for e in &self.endpoints {
            e.expect_ok(&request)?;
        }
        Ok(())
    }

    /// Makes every key server forget key `id` (each is asked even if another fails; the
    /// first failure is returned).
    pub fn delete(&self, id: &str) -> Result<(), KeyServerError> {
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(k, _), _| k != id);
        let request = Request::Delete { id: id.into() };
        let mut first_error = None;
        for e in &self.endpoints {
            if let Err(err) = e.expect_ok(&request) {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// `message` signed with key `id` by the first key server that answers with it (one
    /// that is down, fails, or lacks the key passes to the next).
    pub fn sign(
        &self,
        id: &str,
        scheme: SignatureScheme,
        message: &[u8],
    ) -> Result<Vec<u8>, KeyServerError> {
        let start = Instant::now();
        let request = Request::Sign {
            id: id.into(),
            scheme,
            message: message.to_vec(),
        };
        let mut r = Err(KeyServerError::Unreachable(
            self.addrs.clone(),
            "no key server".into(),
        ));
        for e in &self.endpoints {
            r = e.expect_ok(&request);
            if r.is_ok() {
                break;
            }
        }
        match &r {
            Ok(_) => {
                self.stats.signatures.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .sign_nanos
                    .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(key = id, error = %e, "remote signature failed");
            }
        }
        r
    }
}

impl Endpoint {
    fn new(addr: &str, tls: Arc<ClientConfig>) -> Result<Self, KeyServerError> {
        let host = addr
            .rsplit_once(':')
            .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
            .ok_or_else(|| KeyServerError::Unreachable(addr.into(), "expected host:port".into()))?;
        let server_name = ServerName::try_from(host.to_string())
            .map_err(|e| KeyServerError::Unreachable(addr.into(), e.to_string()))?;
        Ok(Endpoint {
            addr: addr.to_string(),
            server_name,
            tls,
            idle: Mutex::new(Vec::new()),
            down_until: Mutex::new(None),
            reachable: AtomicBool::new(true),
        })
    }

    fn ready(&self) -> bool {
        if self.failing_fast() {
            return false;
        }
        {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.retain(alive);
            if !idle.is_empty() {
                return true;
            }
        }
        match self.connect() {
            Ok(c) => {
                self.release(c);
                true
            }
            Err(_) => false,
        }
    }

    fn failing_fast(&self) -> bool {
        self.down_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|until| Instant::now() < until)
    }

    fn expect_ok(&self, request: &Request) -> Result<Vec<u8>, KeyServerError> {
        let r = self.call(request)?;
        match r.status {
            Status::Ok => Ok(r.payload),
            s => Err(KeyServerError::Refused(
                s,
                String::from_utf8_lossy(&r.payload).into_owned(),
            )),
        }
    }

    /// One request and its answer: on a pooled connection if one is idle (retried once on
    /// a fresh connection if that one has gone stale), else on a new one.
    fn call(&self, request: &Request) -> Result<Response, KeyServerError> {
        let frame = proto::encode_request(request)?;
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        if let Some(mut conn) = pooled {
            if let Ok(r) = exchange(&mut conn, &frame) {
                self.release(conn);
                return Ok(r);
            }
        }
        let mut conn = self.connect()?;
        let r = exchange(&mut conn, &frame).map_err(|e| KeyServerError::Io(e.to_string()))?;
        self.release(conn);
        Ok(r)
    }

    fn release(&self, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < POOL_MAX {
            idle.push(conn);
        }
    }

    fn connect(&self) -> Result<Conn, KeyServerError> {
        if self.failing_fast() {
            return Err(KeyServerError::Unreachable(
                self.addr.clone(),
                "down; retrying shortly".into(),
            ));
        }
        match self.dial() {
            Ok(c) => {
                if !self.reachable.swap(true, Ordering::Relaxed) {
                    tracing::info!(keyserver = %self.addr, "key server reachable again");
                }
                *self.down_until.lock().unwrap_or_else(|e| e.into_inner()) = None;
                Ok(c)
            }
            Err(e) => {
                if self.reachable.swap(false, Ordering::Relaxed) {
                    tracing::warn!(keyserver = %self.addr, error = %e, "key server unreachable: signatures go to the other key servers, if any, until it is back");
                }
                *self.down_until.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(Instant::now() + RETRY_AFTER);
                Err(KeyServerError::Unreachable(self.addr.clone(), e))
            }
        }
    }

    fn dial(&self) -> Result<Conn, String> {
        let addrs: Vec<SocketAddr> = self
            .addr
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .collect();
        let mut last = String::from("no address");
        for a in addrs {
            match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
                Ok(tcp) => {
                    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
                    tcp.set_read_timeout(Some(IO_TIMEOUT))
                        .map_err(|e| e.to_string())?;
                    tcp.set_write_timeout(Some(IO_TIMEOUT))
                        .map_err(|e| e.to_string())?;
                    let conn = ClientConnection::new(self.tls.clone(), self.server_name.clone())
                        .map_err(|e| e.to_string())?;
                    let mut s = StreamOwned::new(conn, tcp);
                    while s.conn.is_handshaking() {
                        s.conn
                            .complete_io(&mut s.sock)
                            .map_err(|e| format!("TLS: {e}"))?;
                    }
                    return Ok(s);
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }
}

/// False once the key server has closed the connection (or it failed): a non-blocking
/// peek (one `recv(MSG_PEEK | MSG_DONTWAIT)`) sees end of stream. Data waiting (which the
/// protocol never sends unasked) counts as alive; the next exchange will tell.
fn alive(conn: &Conn) -> bool {
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit()];
    match socket2::SockRef::from(&conn.sock)
        .recv_with_flags(&mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT)
    {
        Ok(n) => n > 0,
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
    }
}

fn exchange(conn: &mut Conn, frame: &[u8]) -> std::io::Result<Response> {
    conn.write_all(frame)?;
    conn.flush()?;
    let mut header = [0u8; 4];
    conn.read_exact(&mut header)?;
    let len = proto::frame_len(header)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body)?;
    proto::decode_response(&body)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
