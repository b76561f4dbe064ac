//! Thread-per-core serving: one thread per worker, each with a current-thread runtime and
//! its own listening socket per listener (`SO_REUSEPORT`), so the kernel spreads new
//! connections over the workers and a connection stays on the thread that accepted it.
//!
//! tokio's multi-thread runtime pays for work-stealing queues, cross-thread wake-ups and
//! atomics on every task poll (with one worker it measured ~30 % more CPU per proxied HTTP
//! request than the current-thread one; at two workers this runs 8 % fewer user-space
//! instructions per request than it, `docs/performance.md`). This keeps the current-thread
//! path on every core, as nginx runs one process per core. Without workers (one CPU, or a
//! data plane built by a test) every listener has one socket served on the caller's
//! runtime, as before.

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use socket2::Socket;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

thread_local! {
    /// The worker this thread runs (0 on threads that are not workers).
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// How long a stopping worker waits for its blocking tasks (TLS handshakes waiting on the
/// key server) before its thread ends anyway.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// The worker this code runs on: picks its share of per-worker state, such as the
/// backend connection pool's shard (0 outside workers).
pub(crate) fn current() -> usize {
    INDEX.with(Cell::get)
}

/// State with a part per worker, each behind its own lock (a listener's backend pool and
/// deadline table): a worker takes only its own part on the request path, so workers never
/// wait for each other or pass its cache lines back and forth.
pub(crate) struct PerWorker<T>(Box<[Mutex<T>]>);

impl<T: Default> PerWorker<T> {
    /// A part for each of `workers` workers (one at least).
    pub(crate) fn new(workers: usize) -> Self {
        Self((0..workers.max(1)).map(|_| Mutex::default()).collect())
    }
}

impl<T> PerWorker<T> {
    /// How many parts there are.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The index of the calling worker's part (0 outside workers).
    pub(crate) fn mine(&self) -> usize {
        current() % self.0.len()
    }

    /// Part `i`, locked.
    pub(crate) fn lock(&self, i: usize) -> MutexGuard<'_, T> {
        crate::backend::lock(&self.0[i])
    }

    /// The calling worker's part, locked.
    pub(crate) fn lock_mine(&self) -> MutexGuard<'_, T> {
        self.lock(self.mine())
    }
}

/// Handles to the data plane's worker runtimes; cheap to clone. The default has none, and
/// then listeners run on the runtime that applies them.
#[derive(Clone, Debug, Default)]
pub struct Workers {
    handles: Arc<[Handle]>,
    accepted: Arc<[AtomicU64]>,
}

/// Owns the worker threads: dropping it stops them, ending the tasks they run.
pub struct WorkerThreads {
    stop: Option<tokio::sync::watch::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Workers {
    /// Starts `n` worker threads (named `slb-worker-I`), each driving a current-thread
    /// runtime until the returned [`WorkerThreads`] is dropped.
    pub fn start(n: usize) -> std::io::Result<(Workers, WorkerThreads)> {
        let (stop, stopped) = tokio::sync::watch::channel(());
        let mut handles = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let mut stopped = stopped.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("slb-worker-{i}"))
                    .spawn(move || {
                        INDEX.with(|c| c.set(i));
                        runtime.block_on(async {
                            // Ends when the sender is dropped.
                            while stopped.changed().await.is_ok() {}
                        });
                        runtime.shutdown_timeout(STOP_GRACE);
                    })?,
            );
        }
        let accepted = (0..n).map(|_| AtomicU64::new(0)).collect();
        Ok((
            Workers {
                handles: handles.into(),
                accepted,
            },
            WorkerThreads {
                stop: Some(stop),
                threads,
            },
        ))
    }

    /// How many sockets each listener opens: one per worker, or one without workers.
    pub(crate) fn count(&self) -> usize {
        self.handles.len().max(1)
    }

    /// Runs `make(i)` on worker `i` for every worker (or once, as `make(0)`, on the current
    /// runtime without workers). The futures are built here and moved to their threads.
    pub(crate) fn spawn_each<F>(&self, mut make: impl FnMut(usize) -> F) -> Tasks
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handles = if self.handles.is_empty() {
            vec![tokio::spawn(make(0))]
        } else {
            self.handles
                .iter()
                .enumerate()
                .map(|(i, h)| h.spawn(make(i)))
                .collect()
        };
        Tasks {
            handles,
            stop: None,
        }
    }

    /// One loop per worker (an accept loop, or a UDP datagram loop): `run` gets the
    /// worker's own socket of `sockets` (one per worker, from a `bind_group`) and its accept
    /// counter, and builds the loop, which registers the socket with the reactor of the
    /// worker it runs on.
    pub(crate) fn spawn_socket_loops<F>(
        &self,
        sockets: Vec<Socket>,
        run: impl Fn(Socket, AcceptCounter) -> F,
    ) -> Tasks
    where
        F: Future<Output = ()> + Send + 'static,
    {
        debug_assert_eq!(sockets.len(), self.count());
        let mut sockets = sockets.into_iter();
        self.spawn_each(|i| {
            let socket = sockets
                .next()
                .expect("bind_group gives one socket per worker");
            run(socket, self.accept_counter(i))
        })
    }

    /// As [`Workers::spawn_socket_loops`], for loops whose socket is held by more than the
    /// loop (a UDP loop's reply tasks send from it): each loop is asked to end through
    /// `run`'s token, and [`Tasks::stop`] waits until it has ended its other tasks and
    /// closed the socket, where aborting it would leave those tasks to let go of the socket
    /// later, on their worker's next turn.
    pub(crate) fn spawn_stoppable_socket_loops<F>(
        &self,
        sockets: Vec<Socket>,
        run: impl Fn(Socket, CancellationToken) -> F,
    ) -> Tasks
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let stop = CancellationToken::new();
        let mut tasks = self.spawn_socket_loops(sockets, |socket, _| run(socket, stop.clone()));
        tasks.stop = Some(stop);
        tasks
    }

    /// The counter of connections accepted by worker `i` (without workers it counts
    /// nothing).
    fn accept_counter(&self, i: usize) -> AcceptCounter {
        AcceptCounter {
            all: self.accepted.clone(),
            i,
        }
    }

    /// Connections accepted by each worker so far, for `/metrics`: how evenly the kernel
    /// spreads them.
    pub(crate) fn accepted(&self) -> Vec<u64> {
        self.accepted
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

impl Drop for WorkerThreads {
    fn drop(&mut self) {
        drop(self.stop.take());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Counts the connections one worker accepts (`slb_worker_accepted_connections_total`).
pub(crate) struct AcceptCounter {
    all: Arc<[AtomicU64]>,
    i: usize,
}

impl AcceptCounter {
    /// One more connection taken from this worker's socket.
    pub(crate) fn add(&self) {
        if let Some(c) = self.all.get(self.i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The per-worker tasks of one listener (its accept or datagram loops): stopped together,
/// and aborted when dropped, so the sockets they own close.
pub(crate) struct Tasks {
    handles: Vec<JoinHandle<()>>,
    /// Asks loops that end themselves to end; loops without one are aborted.
    stop: Option<CancellationToken>,
}

impl Tasks {
    /// Ends every task and waits until each has (its socket is closed then).
    pub(crate) async fn stop(&mut self) {
        match &self.stop {
            Some(stop) => stop.cancel(),
            None => self.handles.iter().for_each(JoinHandle::abort),
        }
        for t in &mut self.handles {
            let _ = t.await;
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        if let Some(stop) = &self.stop {
            stop.cancel();
        }
        self.handles.iter().for_each(JoinHandle::abort);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each task runs on its own worker thread and sees that worker's index; stopping the
    /// workers ends the threads and the tasks still pending on them.
    #[tokio::test]
    async fn tasks_run_on_their_own_worker() {
        let (workers, threads) = Workers::start(2).unwrap();
        assert_eq!(workers.count(), 2);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = workers.spawn_each(|i| {
            let tx = tx.clone();
            async move {
                let name = std::thread::current().name().map(str::to_owned);
                tx.send((i, current(), name)).unwrap();
                std::future::pending::<()>().await;
            }
        });
        let mut seen = vec![rx.recv().await.unwrap(), rx.recv().await.unwrap()];
        seen.sort();
        assert_eq!(
            seen,
            vec![
                (0, 0, Some("slb-worker-0".to_owned())),
                (1, 1, Some("slb-worker-1".to_owned())),
            ]
        );
        tokio::time::timeout(Duration::from_secs(5), tasks.stop())
            .await
            .expect("aborted tasks on workers did not end");
        drop(threads);
        assert_eq!(current(), 0, "the test's own thread is no worker");
    }

    /// Without workers the data plane runs on the caller's runtime, once.
    #[tokio::test]
    async fn without_workers_one_task_runs_here() {
        let workers = Workers::default();
        assert_eq!(workers.count(), 1);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let here = std::thread::current().id();
        let mut tx = Some(tx);
        let _tasks = workers.spawn_each(|i| {
            let tx = tx.take().unwrap();
            async move {
                let _ = tx.send((i, std::thread::current().id()));
            }
        });
        assert_eq!(rx.await.unwrap(), (0, here));
        workers.accept_counter(0).add();
        assert!(workers.accepted().is_empty());
    }
}
