//! Idle keep-alive connections to the backends of one HTTP listener.
//!
//! A connection is owned by exactly one request at a time: checked out, used, and put back
//! only when its response ended cleanly. There is no task per connection and no channel;
//! liveness is checked on checkout from the readiness tokio already tracks (a closed or
//! chatty idle connection is readable), which costs no syscall for a live one.

use std::net::SocketAddr;

use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use tokio::net::TcpStream;

use super::super::{BACKEND_CONNECT_TIMEOUT, BACKEND_POOL_IDLE_TIMEOUT};
use crate::workers::PerWorker;

/// Most idle connections kept per backend address; more are closed when put back.
///
/// Sized for HTTP/2 bursts: every stream in flight holds a backend connection, so 64
/// clients with 10 streams each put 320 per backend back at once. With 256 the pool closed
/// the surplus and reopened it on the next burst (0.003-0.005 connects per request under
/// `h2load -c64 -m10`, none with 1024). Idle ones still close after
/// [`BACKEND_POOL_IDLE_TIMEOUT`].
pub const MAX_IDLE_PER_BACKEND: usize = 1024;

/// A connection to one backend, with whether it came from the pool (a failure on a reused
/// connection before any response byte is the pool's fault, not the backend's).
pub(crate) struct Upstream {
    pub stream: TcpStream,
    pub addr: SocketAddr,
    pub reused: bool,
}

/// Idle connections by backend address, newest last, in one shard per worker
/// (`workers.rs`): a connection is registered with the reactor of the worker that opened
/// it, so only that worker takes it again, and workers never wait for each other's lock.
///
/// Hashed with Fx, not SipHash: the keys are backend addresses from the configuration,
/// never chosen by clients, and the map is looked up twice per request (SipHash was about
/// 400 instructions of a keep-alive request's 21,500).
pub(crate) struct Pool {
    shards: PerWorker<Idle>,
}

type Idle = FxHashMap<SocketAddr, Vec<(TcpStream, Instant)>>;

impl Default for Pool {
    fn default() -> Self {
        Self::new(1)
    }
}

impl Pool {
    /// A pool with a shard for each of `workers` workers.
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            shards: PerWorker::new(workers),
        }
    }

    /// A live idle connection to `addr`, or a new one (connect timeout
    /// [`BACKEND_CONNECT_TIMEOUT`]). `now` is the caller's recent clock reading (the
    /// request's start), which ages the idle connections.
    pub(crate) async fn checkout(
        &self,
        addr: SocketAddr,
        now: Instant,
    ) -> std::io::Result<Upstream> {
        if let Some(stream) = self.take_idle(addr, now) {
            return Ok(Upstream {
                stream,
                addr,
                reused: true,
            });
        }
        Self::connect(addr).await
    }

    /// Always a new connection.
    pub(crate) async fn connect(addr: SocketAddr) -> std::io::Result<Upstream> {
        let stream = tokio::time::timeout(BACKEND_CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
            })??;
        let _ = stream.set_nodelay(true);
        Ok(Upstream {
            stream,
            addr,
            reused: false,
        })
    }

    fn take_idle(&self, addr: SocketAddr, now: Instant) -> Option<TcpStream> {
        let mut idle = self.shards.lock_mine();
        let list = idle.get_mut(&addr)?;
        while let Some((stream, since)) = list.pop() {
            if now.saturating_duration_since(since) < BACKEND_POOL_IDLE_TIMEOUT && is_quiet(&stream)
            {
                return Some(stream);
            }
        }
        None
    }

    /// Returns a connection whose last response ended cleanly; its idle time counts from
    /// `since` (the request's start: a little early, so it is closed a little early).
    pub(crate) fn put(&self, up: Upstream, since: Instant) {
        let mut idle = self.shards.lock_mine();
        let list = idle.entry(up.addr).or_default();
        if list.len() < MAX_IDLE_PER_BACKEND {
            list.push((up.stream, since));
        }
    }

    /// Closes connections idle for longer than `max_idle` (run periodically).
    pub(crate) fn sweep(&self, max_idle: Duration) {
        for i in 0..self.shards.len() {
            let mut idle = self.shards.lock(i);
            for list in idle.values_mut() {
                list.retain(|(_, since)| since.elapsed() < max_idle);
            }
            idle.retain(|_, list| !list.is_empty());
        }
    }

    /// Idle connections held.
    #[cfg(test)]
    pub(crate) fn idle_count(&self) -> usize {
        (0..self.shards.len())
            .map(|i| self.shards.lock(i).values().map(Vec::len).sum::<usize>())
            .sum()
    }

    /// For each idle connection to `addr`, whether tokio still counts it readable: one
    /// that is pays a `recv` for its liveness probe at checkout.
    #[cfg(test)]
    pub(crate) fn idle_readable(&self, addr: SocketAddr) -> Vec<bool> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        self.shards
            .lock_mine()
            .get(&addr)
            .map_or_else(Vec::new, |list| {
                list.iter()
                    .map(|(s, _)| s.poll_read_ready(&mut cx).is_ready())
                    .collect()
            })
    }
}

/// An idle connection must have nothing to read: data would be a protocol violation and EOF
/// means the backend closed it. `try_read` answers from tokio's readiness without a syscall
/// while the socket is not readable.
fn is_quiet(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn reuses_live_and_drops_closed_connections() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let pool = Pool::default();
        let a = pool.checkout(addr, Instant::now()).await.unwrap();
        assert!(!a.reused);
        let (mut server_side, _) = l.accept().await.unwrap();
        pool.put(a, Instant::now());
        assert_eq!(pool.idle_count(), 1);
        let b = pool.checkout(addr, Instant::now()).await.unwrap();
        assert!(b.reused, "a live idle connection is reused");
        pool.put(b, Instant::now());
        // The backend closes the idle connection: the pool must not hand it out.
        server_side.shutdown().await.unwrap();
        drop(server_side);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let c = pool.checkout(addr, Instant::now()).await.unwrap();
        assert!(!c.reused, "a closed idle connection is discarded");
        pool.put(c, Instant::now());
        pool.sweep(Duration::ZERO);
        assert_eq!(pool.idle_count(), 0);
    }

    /// A connection goes back to the shard of the worker that opened it (and whose reactor
    /// it is registered with): only that worker takes it again.
    #[tokio::test]
    async fn a_worker_takes_back_only_the_connections_it_opened() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (workers, _threads) = crate::workers::Workers::start(2).unwrap();
        let pool = std::sync::Arc::new(Pool::new(2));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let _opened = workers.spawn_each(|i| {
            let (pool, tx) = (pool.clone(), tx.clone());
            async move {
                if i == 0 {
                    let up = pool.checkout(addr, Instant::now()).await.unwrap();
                    pool.put(up, Instant::now());
                }
                tx.send((i, false)).unwrap();
            }
        });
        rx.recv().await.unwrap();
        rx.recv().await.unwrap();
        assert_eq!(pool.idle_count(), 1);
        let _taken = workers.spawn_each(|i| {
            let (pool, tx) = (pool.clone(), tx.clone());
            async move {
                tx.send((i, pool.take_idle(addr, Instant::now()).is_some()))
                    .unwrap();
            }
        });
        let mut seen = vec![rx.recv().await.unwrap(), rx.recv().await.unwrap()];
        seen.sort_unstable();
        assert_eq!(seen, vec![(0, true), (1, false)]);
    }

    /// A burst of HTTP/2 streams returns hundreds of connections to one backend at once:
    /// the pool keeps them for the next burst instead of closing all past 256.
    #[tokio::test]
    async fn keeps_a_burst_of_connections_to_one_backend() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let pool = Pool::default();
        let server = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s);
            }
        });
        let mut ups = Vec::new();
        for _ in 0..320 {
            ups.push(pool.checkout(addr, Instant::now()).await.unwrap());
        }
        for up in ups {
            pool.put(up, Instant::now());
        }
        assert_eq!(pool.idle_count(), 320);
        server.abort();
    }

    /// Idle age is counted from the time the caller gives (the request's start), not read
    /// again: a connection put longer than the idle timeout before `now` is not reused.
    #[tokio::test]
    async fn ages_idle_connections_by_the_given_times() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let pool = Pool::default();
        let t0 = Instant::now();
        let a = pool.checkout(addr, t0).await.unwrap();
        let _server_side = l.accept().await.unwrap();
        pool.put(a, t0);
        let just_fresh = t0 + BACKEND_POOL_IDLE_TIMEOUT - Duration::from_millis(1);
        let b = pool.checkout(addr, just_fresh).await.unwrap();
        assert!(b.reused, "idle for less than the timeout");
        pool.put(b, t0);
        let c = pool
            .checkout(addr, t0 + BACKEND_POOL_IDLE_TIMEOUT)
            .await
            .unwrap();
        assert!(!c.reused, "idle for the whole timeout");
        assert_eq!(pool.idle_count(), 0);
    }
}
