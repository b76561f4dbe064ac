//! Moves bytes both ways between client and backend.
//!
//! Why not `tokio::io::copy_bidirectional`: it has no idle timeout, no per-chunk byte
//! counting and no external close signal. Each direction uses our own `splice(2)` loop
//! ([`super::splice`]), which keeps those hooks without copying through user space; when no
//! pipe can be created (out of descriptors) the connection falls back to a copy loop with
//! 64 KiB buffers, which costs about twice the CPU per MiB.
//!
//! Half-close: when one side reads EOF, the write side of the other socket is shut down
//! (FIN) and the other direction keeps flowing until it also ends.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::splice::{splice_half, Pipe};
use crate::ddos::InstanceDdos;
use crate::metrics::ListenerMetrics;
use crate::shaper::{Direction, Shaper};

/// Size of each direction's copy buffer: 64 KiB (the default 8 KiB costs over twice the CPU).
pub const RELAY_BUFFER_SIZE: usize = 64 * 1024;

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

/// Relays until both directions end, the connection is idle for `idle_timeout`
/// (`Duration::ZERO` = never), or `closed` resolves. Both sockets are closed on return.
pub(crate) async fn relay(
    mut client: TcpStream,
    mut backend: TcpStream,
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
    if let (Some(up_pipe), Some(down_pipe)) = (Pipe::new(), Pipe::new()) {
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
        return tokio::select! {
            r = async { tokio::try_join!(up, down) } => match r {
                Ok(_) => RelayEnd::Finished,
                Err(e) => RelayEnd::Error(e),
            },
            () = activity.idle(idle_timeout) => RelayEnd::Idle,
            () = closed => RelayEnd::Closed,
        };
    }
    let (mut cr, mut cw) = client.split();
    let (mut br, mut bw) = backend.split();
    let up = copy_half(&mut cr, &mut bw, &metrics.bytes_in, &activity, up_pace);
    let down = copy_half(&mut br, &mut cw, &metrics.bytes_out, &activity, down_pace);
    tokio::select! {
        r = async { tokio::try_join!(up, down) } => match r {
            Ok(_) => RelayEnd::Finished,
            Err(e) => RelayEnd::Error(e),
        },
        () = activity.idle(idle_timeout) => RelayEnd::Idle,
        () = closed => RelayEnd::Closed,
    }
}

/// Copies one direction; on EOF shuts down the writer (propagating the half-close).
async fn copy_half<R, W>(
    r: &mut R,
    w: &mut W,
    counter: &AtomicU64,
    activity: &Activity,
    hooks: ChunkHooks<'_>,
) -> io::Result<()>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut buf = vec![0u8; RELAY_BUFFER_SIZE];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            // The peer may already be gone; the other direction reports that.
            let _ = w.shutdown().await;
            return Ok(());
        }
        activity.touch();
        hooks.after_read(n).await;
        w.write_all(&buf[..n]).await?;
        counter.fetch_add(n as u64, Ordering::Relaxed);
        activity.touch();
    }
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
    async fn large_transfers_arrive_intact_and_are_counted() {
        let (mut client, proxy_client) = pair().await;
        let (proxy_backend, mut backend) = pair().await;
        let metrics = ListenerMetrics::default();
        let data: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let task = relay(
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
}
