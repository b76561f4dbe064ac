//! Moves bytes both ways between client and backend.
//!
//! Why not `tokio::io::copy_bidirectional`: it has no idle timeout, no per-chunk byte
//! counting and no external close signal, and its 8 KiB buffers stay allocated for the
//! connection's life. Each direction runs its own loop: by default a copy through a 16 KiB
//! buffer lent per burst ([`super::buffers`]); with [`use_splice`] on, `splice(2)` through a
//! pipe ([`super::splice`]), which keeps the payload out of user space (less CPU per MiB)
//! but, measured on loopback, moved less: the receiver copies spliced page fragments more
//! slowly (bench/perf.sh `tcp`: 15.1 against 17.7 Gbit/s; with the PROXY protocol 8.1
//! against 10.7). When no pipe can be created (out of descriptors) splice falls back to
//! the copy.
//!
//! Half-close: when one side reads EOF, the write side of the other socket is shut down
//! (FIN) and the other direction keeps flowing until it also ends.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use super::buffers;
use super::splice::{splice_half, Pipe};
use crate::ddos::InstanceDdos;
use crate::metrics::ListenerMetrics;
use crate::shaper::{Direction, Shaper};

pub use super::buffers::RELAY_BUFFER_SIZE;

/// Whether TCP listeners relay with `splice(2)` ([`use_splice`]).
static SPLICE: AtomicBool = AtomicBool::new(false);

/// Chooses how TCP listeners move bytes from now on: `splice(2)` (true) or the copy loop
/// (false, the default). A node-wide setting (`slb serve --tcp-splice`), read by each new
/// connection.
pub fn use_splice(on: bool) {
    SPLICE.store(on, Ordering::Relaxed);
}

/// What happens to each chunk moved one way besides counting: bandwidth pacing and,
/// client to backend, anti-DDoS metering of the instance's inbound bit rate.
#[derive(Clone, Copy, Default)]
pub(crate) struct ChunkHooks<'a> {
    pub pace: Option<(&'a Shaper, Direction)>,
    pub ddos: Option<&'a InstanceDdos>,
}

impl ChunkHooks<'_> {
    /// Runs after `n` bytes were read, before they are written on.
    pub async fn after_read(&self, n: usize) {
        if let Some(d) = self.ddos {
            d.bytes(n);
        }
        if let Some((s, dir)) = self.pace {
            s.pace(dir, n).await;
        }
    }
}

/// Why a relayed connection ended.
#[derive(Debug)]
pub(crate) enum RelayEnd {
    /// Both directions reached EOF.
    Finished,
    /// No byte moved either way for the established timeout.
    Idle,
    /// The backend was removed (after its drain timeout, if any).
    Closed,
    /// A read or write failed (reset, broken pipe).
    Error(io::Error),
}

/// Whether this node relays TCP with `splice(2)` ([`use_splice`]).
pub(crate) fn splice_on() -> bool {
    SPLICE.load(Ordering::Relaxed)
}

/// Relays until both directions end, the connection is idle for `idle_timeout`
/// (`Duration::ZERO` = never), or `closed` resolves, by `splice(2)` or by copy (the node's
/// choice is [`splice_on`]). Both sockets are closed on return.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn relay(
    splice: bool,
    client: TcpStream,
    backend: TcpStream,
    metrics: &ListenerMetrics,
    idle_timeout: Duration,
    closed: impl Future<Output = ()>,
    shaper: Option<&Shaper>,
    ddos: Option<&InstanceDdos>,
) -> RelayEnd {
    let activity = Activity::new();
    let up_pace = ChunkHooks {
        pace: shaper.map(|s| (s, Direction::Up)),
        ddos,
    };
    let down_pace = ChunkHooks {
        pace: shaper.map(|s| (s, Direction::Down)),
        ddos: None,
    };
    let pipes = if splice {
        Pipe::new().zip(Pipe::new())
    } else {
        None
    };
    if let Some((up_pipe, down_pipe)) = pipes {
        let up = splice_half(
            &client,
            &backend,
            &up_pipe,
            &metrics.bytes_in,
            &activity,
            up_pace,
        );
        let down = splice_half(
            &backend,
            &client,
            &down_pipe,
            &metrics.bytes_out,
            &activity,
            down_pace,
        );
        return until_end(
            async { tokio::try_join!(up, down) },
            &activity,
            idle_timeout,
            closed,
        )
        .await;
    }
    let up = copy_half(&client, &backend, &metrics.bytes_in, &activity, up_pace);
    let down = copy_half(&backend, &client, &metrics.bytes_out, &activity, down_pace);
    until_end(
        async { tokio::try_join!(up, down) },
        &activity,
        idle_timeout,
        closed,
    )
    .await
}

/// Runs both directions (`both`) until they end, the connection is idle for
/// `idle_timeout`, or `closed` resolves.
async fn until_end(
    both: impl Future<Output = io::Result<((), ())>>,
    activity: &Activity,
    idle_timeout: Duration,
    closed: impl Future<Output = ()>,
) -> RelayEnd {
    tokio::select! {
        r = both => match r {
            Ok(_) => RelayEnd::Finished,
            Err(e) => RelayEnd::Error(e),
        },
        () = activity.idle(idle_timeout) => RelayEnd::Idle,
        () = closed => RelayEnd::Closed,
    }
}

/// Copies one direction through a buffer; on EOF shuts down `dst`'s write side
/// (propagating the half-close).
///
/// `try_read`/`try_write` rather than `AsyncRead`: tokio's `poll_read` forgets a socket's
/// readiness after any read shorter than the buffer, so nearly every chunk would cost an
/// `epoll_wait` round trip; here only `EAGAIN` does, as in HAProxy's loop. The buffer is
/// borrowed once the socket is readable and goes back when a read would block, so a
/// direction waiting for bytes holds none.
async fn copy_half(
    src: &TcpStream,
    dst: &TcpStream,
    counter: &AtomicU64,
    activity: &Activity,
    hooks: ChunkHooks<'_>,
) -> io::Result<()> {
    // Held while reads succeed, given back when one would block: one take per burst,
    // not per chunk.
    let mut held: Option<buffers::Lent> = None;
    loop {
        // Answered from tokio's cached readiness while the socket is known to be readable
        // (and where the task yields once its cooperative budget is spent).
        src.readable().await?;
        let buf = held.get_or_insert_with(buffers::Lent::take);
        let n = match src.try_read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                held = None;
                continue;
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            // The peer may already be gone; the other direction reports that.
            let _ = socket2::SockRef::from(dst).shutdown(std::net::Shutdown::Write);
            return Ok(());
        }
        activity.touch();
        hooks.after_read(n).await;
        write_all(dst, &buf[..n]).await?;
        counter.fetch_add(n as u64, Ordering::Relaxed);
        activity.touch();
    }
}

/// Writes all of `data`, waiting for room only when the socket's buffer is full.
async fn write_all(dst: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match dst.try_write(data) {
            Ok(m) => data = &data[m..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => dst.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Time of the last byte moved, in milliseconds since the connection's start.
pub(crate) struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    pub(crate) fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// Resolves once nothing moved for `timeout`; never when `timeout` is zero.
    async fn idle(&self, timeout: Duration) {
        if timeout.is_zero() {
            return std::future::pending().await;
        }
        loop {
            let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + timeout;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().await.unwrap();
        (a, b)
    }

    #[tokio::test]
    async fn idle_timeout_ends_relay_and_counts_bytes() {
        let (mut client, proxy_client) = pair().await;
        let (proxy_backend, mut backend) = pair().await;
        let metrics = ListenerMetrics::default();
        let task = async {
            relay(
                false,
                proxy_client,
                proxy_backend,
                &metrics,
                Duration::from_millis(200),
                std::future::pending(),
                None,
                None,
            )
            .await
        };
        let io = async {
            client.write_all(b"ping").await.unwrap();
            let mut buf = [0u8; 4];
            backend.read_exact(&mut buf).await.unwrap();
            backend.write_all(b"pong!").await.unwrap();
            let mut buf = [0u8; 5];
            client.read_exact(&mut buf).await.unwrap();
        };
        let (end, ()) =
            tokio::time::timeout(Duration::from_secs(5), async { tokio::join!(task, io) })
                .await
                .unwrap();
        assert!(matches!(end, RelayEnd::Idle), "{end:?}");
        assert_eq!(metrics.bytes_in.load(Ordering::Relaxed), 4);
        assert_eq!(metrics.bytes_out.load(Ordering::Relaxed), 5);
    }

    #[tokio::test]
    async fn close_signal_ends_relay() {
        let (_client, proxy_client) = pair().await;
        let (proxy_backend, _backend) = pair().await;
        let metrics = ListenerMetrics::default();
        let end = tokio::time::timeout(
            Duration::from_secs(5),
            relay(
                false,
                proxy_client,
                proxy_backend,
                &metrics,
                Duration::ZERO,
                tokio::time::sleep(Duration::from_millis(50)),
                None,
                None,
            ),
        )
        .await
        .unwrap();
        assert!(matches!(end, RelayEnd::Closed), "{end:?}");
    }

    #[tokio::test]
    async fn large_transfers_arrive_intact_by_copy() {
        let before = buffers::takes();
        large_transfer(false).await;
        // One buffer per burst of reads, not per chunk: 4 MiB is 256 chunks of 16 KiB.
        let takes = buffers::takes() - before;
        assert!(takes < 128, "{takes} buffers lent for 256 chunks");
    }

    #[tokio::test]
    async fn large_transfers_arrive_intact_by_splice() {
        large_transfer(true).await;
    }

    /// Both directions, one of them half-closed first, payload checked byte for byte.
    async fn large_transfer(splice: bool) {
        let (mut client, proxy_client) = pair().await;
        let (proxy_backend, mut backend) = pair().await;
        let metrics = ListenerMetrics::default();
        let data: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let task = relay(
            splice,
            proxy_client,
            proxy_backend,
            &metrics,
            Duration::ZERO,
            std::future::pending(),
            None,
            None,
        );
        let io = async {
            let send = async {
                client.write_all(&data).await.unwrap();
                client.shutdown().await.unwrap();
                let mut back = Vec::new();
                client.read_to_end(&mut back).await.unwrap();
                back
            };
            let echo = async {
                let mut got = Vec::new();
                backend.read_to_end(&mut got).await.unwrap();
                backend.write_all(&got[..1000]).await.unwrap();
                backend.shutdown().await.unwrap();
                got
            };
            tokio::join!(send, echo)
        };
        let (end, (back, got)) =
            tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(task, io) })
                .await
                .unwrap();
        assert!(matches!(end, RelayEnd::Finished), "{end:?}");
        assert!(got == data, "payload intact through the relay");
        assert_eq!(back, data[..1000]);
        assert_eq!(metrics.bytes_in.load(Ordering::Relaxed), data.len() as u64);
        assert_eq!(metrics.bytes_out.load(Ordering::Relaxed), 1000);
    }

    /// A direction waiting for bytes holds no copy buffer: it went back to the thread's
    /// spares once the exchange was over, while the connection stays open.
    #[tokio::test]
    async fn an_idle_relay_holds_no_buffer() {
        let _serial = crate::spares::SERIAL.lock().await;
        buffers::clear();
        let (mut client, proxy_client) = pair().await;
        let (proxy_backend, mut backend) = pair().await;
        let metrics = ListenerMetrics::default();
        let task = relay(
            false,
            proxy_client,
            proxy_backend,
            &metrics,
            Duration::ZERO,
            tokio::time::sleep(Duration::from_millis(300)),
            None,
            None,
        );
        let io = async {
            client.write_all(b"ping").await.unwrap();
            let mut buf = [0u8; 4];
            backend.read_exact(&mut buf).await.unwrap();
            backend.write_all(b"pong").await.unwrap();
            client.read_exact(&mut buf).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            buffers::spare_len()
        };
        let (end, idle_spares) = tokio::join!(task, io);
        assert!(matches!(end, RelayEnd::Closed), "{end:?}");
        // One buffer served both directions in turn: each lent it back on would-block.
        assert_eq!(
            idle_spares, 1,
            "the copy buffer is back in the spares while idle"
        );
    }
}
