//! A TCP proxy on loopback between devices and the server that misbehaves on purpose: it refuses
//! connections, cuts requests half-way (drop), holds every chunk back (delay), cuts answers
//! after the server has acted on the request (truncate), and sends every request to the server
//! twice (duplicate). It adds `Connection: close` to each request head, so every request gets a
//! connection of its own and so a fault of its own. The upstream can be switched, so a restarted server on a new port stays
//! behind the same device-facing address, and it reports each push it forwards so a test can
//! kill the server in the middle of one.
//!
//! Given several upstreams it is also a round-robin load balancer: each connection (so each
//! request) goes to the next server, and a duplicated request goes to the following one too, so
//! the same push reaches two instances at once.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use shuipiao_test_support::rng::Rng;

/// What the proxy does to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward faithfully.
    Pass,
    /// Close the device's connection at once.
    Refuse,
    /// Forward only this many request bytes, then close both sides.
    DropRequestAfter(usize),
    /// Hold each chunk back this long, both ways.
    Delay(Duration),
    /// Forward only this many answer bytes, then close both sides.
    TruncateResponseAfter(usize),
    /// Send every request byte to a second server connection too, and discard its answers.
    Duplicate,
}

/// How faults are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Every connection passes.
    Clean,
    /// Every connection gets this fault.
    Always(Fault),
    /// Each connection gets a random fault with probability `percent`, otherwise passes.
    Random {
        /// Chance of a fault per connection, in percent.
        percent: u64,
    },
}

/// Connections seen, by what was done to them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Passed through.
    pub passed: u64,
    /// Refused.
    pub refused: u64,
    /// Request cut.
    pub dropped: u64,
    /// Delayed.
    pub delayed: u64,
    /// Answer cut.
    pub truncated: u64,
    /// Request duplicated.
    pub duplicated: u64,
    /// Upstream connections that failed (server down).
    pub upstream_down: u64,
}

impl Stats {
    /// Connections that got a fault.
    pub fn faults(&self) -> u64 {
        self.refused + self.dropped + self.delayed + self.truncated + self.duplicated
    }
}

struct State {
    upstreams: Vec<SocketAddr>,
    /// Index into `upstreams` of the next connection's server.
    next: usize,
    /// Connections forwarded to each upstream, by index.
    per_upstream: Vec<u64>,
    plan: Plan,
    rng: Rng,
    stats: Stats,
}

/// The running proxy; dropping it stops accepting.
pub struct FaultProxy {
    /// Where devices connect.
    pub addr: SocketAddr,
    /// `http://` URL of [`FaultProxy::addr`].
    pub url: String,
    state: Arc<Mutex<State>>,
    pushes: watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const PUSH_REQUEST_LINE: &[u8] = b"POST /api/v1/sync/push ";
const HEAD_END: &[u8] = b"\r\n\r\n";
const CLOSE_HEADER: &[u8] = b"\r\nConnection: close";

/// The first chunk of a request with `Connection: close` added to its head, when the head is in it.
fn close_after_this_request(chunk: &[u8]) -> Vec<u8> {
    match chunk.windows(HEAD_END.len()).position(|w| w == HEAD_END) {
        Some(at) => [&chunk[..at], CLOSE_HEADER, &chunk[at..]].concat(),
        None => chunk.to_vec(),
    }
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1:0 in front of `upstream`, clean until told otherwise.
    pub async fn start(upstream: SocketAddr, rng: Rng) -> FaultProxy {
        FaultProxy::balance(&[upstream], rng).await
    }

    /// Starts a proxy on 127.0.0.1:0 that spreads connections over `upstreams` in turn, clean
    /// until told otherwise.
    ///
    /// # Panics
    /// When `upstreams` is empty.
    pub async fn balance(upstreams: &[SocketAddr], rng: Rng) -> FaultProxy {
        assert!(!upstreams.is_empty(), "a proxy needs an upstream");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy on 127.0.0.1:0");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(Mutex::new(State {
            upstreams: upstreams.to_vec(),
            next: 0,
            per_upstream: vec![0; upstreams.len()],
            plan: Plan::Clean,
            rng,
            stats: Stats::default(),
        }));
        let (push_tx, pushes) = watch::channel(0u64);
        let push_tx = Arc::new(push_tx);
        let accept_state = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (fault, upstream, twin) = {
                    let mut state = lock(&accept_state);
                    let fault = choose(&mut state);
                    let count = state.upstreams.len();
                    let index = state.next % count;
                    state.next = (index + 1) % count;
                    state.per_upstream[index] += 1;
                    let twin = state.upstreams[(index + 1) % count];
                    (fault, state.upstreams[index], twin)
                };
                let state = accept_state.clone();
                let push_tx = push_tx.clone();
                tokio::spawn(async move {
                    handle(client, [upstream, twin], fault, state, push_tx).await;
                });
            }
        });
        FaultProxy {
            addr,
            url: format!("http://{addr}"),
            state,
            pushes,
            task,
        }
    }

    /// Changes how faults are chosen for new connections.
    pub fn set_plan(&self, plan: Plan) {
        lock(&self.state).plan = plan;
    }

    /// Points new connections at another server address.
    pub fn set_upstream(&self, upstream: SocketAddr) {
        let mut state = lock(&self.state);
        state.upstreams = vec![upstream];
        state.next = 0;
        state.per_upstream = vec![0];
    }

    /// What happened so far.
    pub fn stats(&self) -> Stats {
        lock(&self.state).stats
    }

    /// Connections forwarded to each upstream so far, in the order they were given.
    pub fn per_upstream(&self) -> Vec<u64> {
        lock(&self.state).per_upstream.clone()
    }

    /// A receiver whose value counts push requests forwarded so far.
    pub fn pushes(&self) -> watch::Receiver<u64> {
        self.pushes.clone()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn choose(state: &mut State) -> Fault {
    let fault = match state.plan {
        Plan::Clean => Fault::Pass,
        Plan::Always(fault) => fault,
        Plan::Random { percent } => {
            if state.rng.chance(percent) {
                match state.rng.below(5) {
                    0 => Fault::Refuse,
                    1 => Fault::DropRequestAfter(1 + state.rng.below(400) as usize),
                    2 => Fault::Delay(Duration::from_millis(1 + state.rng.below(30))),
                    3 => Fault::TruncateResponseAfter(state.rng.below(300) as usize),
                    _ => Fault::Duplicate,
                }
            } else {
                Fault::Pass
            }
        }
    };
    let stats = &mut state.stats;
    match fault {
        Fault::Pass => stats.passed += 1,
        Fault::Refuse => stats.refused += 1,
        Fault::DropRequestAfter(_) => stats.dropped += 1,
        Fault::Delay(_) => stats.delayed += 1,
        Fault::TruncateResponseAfter(_) => stats.truncated += 1,
        Fault::Duplicate => stats.duplicated += 1,
    }
    fault
}

/// Forwards one connection to `upstream`; a duplicated request also goes to `twin`.
async fn handle(
    client: TcpStream,
    [upstream, twin]: [SocketAddr; 2],
    fault: Fault,
    state: Arc<Mutex<State>>,
    pushes: Arc<watch::Sender<u64>>,
) {
    if fault == Fault::Refuse {
        drop(client);
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        lock(&state).stats.upstream_down += 1;
        return;
    };
    let twin = if fault == Fault::Duplicate {
        TcpStream::connect(twin).await.ok()
    } else {
        None
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let (request_limit, response_limit, delay) = match fault {
        Fault::DropRequestAfter(n) => (Some(n), None, None),
        Fault::TruncateResponseAfter(n) => (None, Some(n), None),
        Fault::Delay(d) => (None, None, Some(d)),
        _ => (None, None, None),
    };
    let (twin_read, twin_write) = match twin {
        Some(twin) => {
            let (read, write) = twin.into_split();
            (Some(read), Some(write))
        }
        None => (None, None),
    };
    let upward = pump(
        client_read,
        server_write,
        twin_write,
        request_limit,
        delay,
        Some(pushes),
    );
    let downward = pump(server_read, client_write, None, response_limit, delay, None);
    let discard = async move {
        if let Some(mut read) = twin_read {
            let mut sink = [0u8; 8192];
            while matches!(read.read(&mut sink).await, Ok(n) if n > 0) {}
        }
    };
    // Whichever direction ends first (a cut, or a side closing) ends the connection.
    tokio::select! {
        () = upward => {}
        () = downward => {}
    }
    // A duplicated request may still be in flight on the twin; let it finish on its own.
    tokio::spawn(discard);
}

async fn pump<R, W>(
    mut from: R,
    mut to: W,
    mut copy_to: Option<W>,
    limit: Option<usize>,
    delay: Option<Duration>,
    pushes: Option<Arc<watch::Sender<u64>>>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buffer = vec![0u8; 16 * 1024];
    let mut forwarded = 0usize;
    // Only the device-to-server direction carries requests (and reports pushes).
    let upward = pushes.is_some();
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(pushes) = &pushes
            && buffer[..n]
                .windows(PUSH_REQUEST_LINE.len())
                .any(|w| w == PUSH_REQUEST_LINE)
        {
            pushes.send_modify(|count| *count += 1);
        }
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let chunk = if upward && forwarded == 0 {
            close_after_this_request(&buffer[..n])
        } else {
            buffer[..n].to_vec()
        };
        let n = chunk.len();
        let allowed = limit.map_or(n, |limit| n.min(limit.saturating_sub(forwarded)));
        if allowed > 0 {
            if to.write_all(&chunk[..allowed]).await.is_err() {
                break;
            }
            if let Some(copy) = copy_to.as_mut()
                && copy.write_all(&chunk[..allowed]).await.is_err()
            {
                copy_to = None;
            }
        }
        forwarded += allowed;
        if limit.is_some_and(|limit| forwarded >= limit) {
            break;
        }
    }
    let _ = to.shutdown().await;
}
