//! `cargo bench --bench overhead`: what copybench's own per-message work costs.
//!
//! For each case the same number of messages of the same size crosses a
//! loopback TCP connection twice, in the same process:
//!
//! * `bare`: the syscalls alone, on two threads over a `std::net` pair with
//!   the send and receive timeouts copybench sets on every socket (the
//!   kernel arms a timer whenever such a socket blocks; that belongs to the
//!   connection, not to the per-message work measured here). Stream: the
//!   sender `sendmsg`s each message as header + field (one-copy's two
//!   iovecs), the receiver `recv`s into a 256 KiB buffer until every byte
//!   arrived. rr (TCP_NODELAY on both ends): one `sendmsg` and one `recv` of
//!   the message size per exchange on each side.
//! * `copybench`: an [`Experiment`] (one-copy, 1 field, 1 thread, defaults:
//!   sampled verification, counters on) running `Batch::Messages(n)`;
//!   so framing, verification, latency recording, counter reads and time
//!   keeping are all in.
//!
//! Zero-copy cases (`zc-stream-*`, stream, one field): copybench's
//! `zero-copy` strategy in a layout (`heap`, or `page` for the `-page`
//! cases) against a bare `MSG_ZEROCOPY` loop of the same shape and lifetime
//! rule: a pool of as many messages as copybench's, each a header and a
//! field laid out as copybench lays them out, a header byte rewritten before
//! each send, a slot reused only after its completion, the error queue read
//! without blocking every 16 sends, and a drain at the end of each batch.
//! `zc-stream-64KiB-single` is the reference the kernel selftest and neper
//! use: one page-aligned buffer of the message's size sent over and over,
//! its completions read but never waited for; there copybench runs the
//! `page` layout, and the pairs' wall-time ratio is the throughput ratio.
//!
//! "Message size" is copybench's whole message, header included
//! (`Shape::message_bytes`: 32 + field), so both sides move the same bytes.
//! Overhead = (copybench - bare) / bare on criterion's per-message estimate;
//! `scripts/overhead.sh` runs this and prints it. Cases: `rr-64B` (64 B field,
//! 96 B on the wire each way) and `stream-4KiB` (4 KiB field, 4128 B).
//!
//! Both sides keep persistent threads between samples and are told how many
//! messages to move through a channel, as the Experiment's workers are, so
//! neither pays for thread start-up in the timed part.
//!
//! Two measurements per case:
//!
//! * criterion's groups `overhead-{case}/{bare,copybench}`, one after the
//!   other: per-message time of each, kept in baselines so either can be
//!   watched for creep (`-- --save-baseline` / `--baseline`).
//! * the overhead itself, from alternating pairs: both set-ups stay up and
//!   move batches of the same size in turns (bare first in even rounds,
//!   copybench first in odd ones), so drift of this VM's loopback (its round
//!   trip switches between modes seconds apart) hits both sides of a pair
//!   alike. Overhead = median over pairs of copybench / bare - 1, with the
//!   pairs' quartiles. Printed, and written to
//!   `target/criterion/overhead-paired.json` for `scripts/overhead.sh`.
//!   Only under `cargo bench`; `cargo test` runs the criterion part once.

use std::io::{self, Read};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use hdrhistogram::Histogram;

use copybench::sys;
use copybench::sys::ErrQueue;
use copybench::{
    Batch, Config, Experiment, Layout, Shape, StrategyKind, TransportKind, WorkloadKind,
};

/// What the bare receiver reads into per `recv` (copybench's Reader asks for as much).
const RECV_BUF: usize = 256 << 10;

/// Buffers the bare loop sends from: as many messages as copybench's pool,
/// each a separately allocated header and field, used in turn. Both sides
/// thus read the same amount of memory in the same order, and what remains
/// in the comparison is copybench's own work.
struct Pool {
    messages: Vec<(Vec<u8>, Vec<u8>)>,
    next: usize,
}

impl Pool {
    fn new(cfg: &Config, byte: u8) -> Pool {
        let messages = (0..cfg.pool_slots())
            .map(|_| {
                (
                    vec![byte; copybench::message::HEADER_LEN],
                    vec![byte; cfg.shape.field_size],
                )
            })
            .collect();
        Pool { messages, next: 0 }
    }

    fn send_next(&mut self, s: &TcpStream) {
        let (header, field) = &self.messages[self.next];
        send_all(s, header, field);
        self.next = (self.next + 1) % self.messages.len();
    }
}

/// Sends one message the way copybench's one-copy strategy does: one
/// `sendmsg` gathering the header and the field, advancing over partial
/// writes. The bare loop thus makes the same syscalls with the same iovecs.
fn send_all(s: &TcpStream, header: &[u8], field: &[u8]) {
    let mut slices = [io::IoSlice::new(header), io::IoSlice::new(field)];
    let mut bufs = &mut slices[..];
    while !bufs.is_empty() {
        match sys::sendmsg(s.as_fd(), bufs, libc::MSG_NOSIGNAL) {
            Ok(n) => io::IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("bare sendmsg: {e}"),
        }
    }
}

/// The page size; a zero-copy fragment covers one page at most.
fn page() -> usize {
    sys::page_size()
}

/// A buffer of `len` bytes starting on a page boundary: an over-allocated
/// `Vec` and the offset into it (the `Vec` never moves once made).
fn page_aligned(len: usize) -> (Vec<u8>, usize) {
    let buf = vec![0x5a; len + page()];
    let at = buf.as_ptr().align_offset(page());
    (buf, at)
}

/// One message of a bare zero-copy sender: where its header and field lie,
/// as copybench lays them out.
struct ZcMsg {
    /// Heap: the header's allocation, then the field's. Page or single: one.
    store: Vec<Vec<u8>>,
    /// (allocation, offset, length) of each iovec.
    pieces: Vec<(usize, usize, usize)>,
}

impl ZcMsg {
    fn new(layout: Layout, field: usize) -> ZcMsg {
        let header = copybench::message::HEADER_LEN;
        match layout {
            Layout::Heap => ZcMsg {
                store: vec![vec![0x5a; header], vec![0x5a; field]],
                pieces: vec![(0, 0, header), (1, 0, field)],
            },
            Layout::Page => {
                let span = field.div_ceil(page()) * page();
                let (buf, at) = page_aligned(page() + span);
                ZcMsg {
                    store: vec![buf],
                    pieces: vec![(0, at + page() - header, header), (0, at + page(), field)],
                }
            }
        }
    }

    /// The selftest's shape: one page-aligned buffer, one iovec.
    fn single(len: usize) -> ZcMsg {
        let (buf, at) = page_aligned(len);
        ZcMsg {
            store: vec![buf],
            pieces: vec![(0, at, len)],
        }
    }

    /// Rewrites a header byte, as copybench stamps each send's sequence.
    fn stamp(&mut self, seq: u64) {
        let (b, at, _) = self.pieces[0];
        self.store[b][at + 8] = seq as u8;
    }
}

/// A bare `MSG_ZEROCOPY` stream sender (see the module doc).
struct ZcSender {
    sock: TcpStream,
    pool: Vec<ZcMsg>,
    /// Id of the last send made from each slot.
    slot_last: Vec<Option<u64>>,
    /// Whether a slot is reused only after its completion (false: the single-buffer reference).
    wait_for_reuse: bool,
    next_slot: usize,
    seq: u64,
    /// Ids of `sendmsg` calls that took data, and how many have completed
    /// (in order, as TCP completes them).
    next_id: u64,
    done: u64,
    since_reap: u32,
}

impl ZcSender {
    fn new(sock: TcpStream, pool: Vec<ZcMsg>, wait_for_reuse: bool) -> ZcSender {
        sys::set_zerocopy(sock.as_fd()).expect("SO_ZEROCOPY on a loopback TCP socket");
        let slots = pool.len();
        ZcSender {
            sock,
            pool,
            slot_last: vec![None; slots],
            wait_for_reuse,
            next_slot: 0,
            seq: 0,
            next_id: 0,
            done: 0,
            since_reap: 0,
        }
    }

    fn reap(&mut self) {
        self.since_reap = 0;
        reap_into(&self.sock, self.next_id, &mut self.done);
    }

    /// Sleeps until the error queue has something, then reads it.
    fn wait(&mut self) {
        sys::poll_one(self.sock.as_fd(), 0, 50).expect("bare poll");
        self.reap();
    }

    fn send_next(&mut self) {
        let slot = self.next_slot;
        if self.wait_for_reuse {
            if let Some(last) = self.slot_last[slot] {
                while self.done <= last {
                    self.wait();
                }
            }
        }
        let msg = &mut self.pool[slot];
        msg.stamp(self.seq);
        // No allocation per send, as in copybench.
        let mut slices = [io::IoSlice::new(&[]); 2];
        for (s, &(b, at, len)) in slices.iter_mut().zip(&msg.pieces) {
            *s = io::IoSlice::new(&msg.store[b][at..at + len]);
        }
        let mut bufs = &mut slices[..msg.pieces.len()];
        let flags = libc::MSG_NOSIGNAL | libc::MSG_ZEROCOPY;
        let mut calls = 0;
        while !bufs.is_empty() {
            match sys::sendmsg(self.sock.as_fd(), bufs, flags) {
                Ok(n) => {
                    calls += 1;
                    io::IoSlice::advance_slices(&mut bufs, n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    sys::poll_one(self.sock.as_fd(), 0, 1).expect("bare poll");
                    self.next_id += calls;
                    calls = 0;
                    reap_into(&self.sock, self.next_id, &mut self.done);
                }
                Err(e) => panic!("bare zero-copy sendmsg: {e}"),
            }
        }
        self.next_id += calls;
        self.slot_last[slot] = Some(self.next_id - 1);
        self.seq += 1;
        self.next_slot = (slot + 1) % self.pool.len();
        self.since_reap += 1;
        if self.since_reap >= 16 {
            self.reap();
        }
    }

    /// At a batch's end, as copybench does: every send completed.
    fn drain(&mut self) {
        while self.done < self.next_id {
            self.wait();
        }
    }
}

/// Reads the error queue dry; `done` becomes the count of completed sends
/// (of `made` so far).
fn reap_into(sock: &TcpStream, made: u64, done: &mut u64) {
    loop {
        match sys::recv_errqueue(sock.as_fd()).expect("bare error queue") {
            ErrQueue::Empty => return,
            ErrQueue::Completion(n) => {
                // The id whose low 32 bits are `hi`, at or below the last one made.
                let last = made - 1;
                let back = u64::from((last as u32).wrapping_sub(n.hi));
                *done = (*done).max(last - back + 1);
            }
            ErrQueue::Error(e) => panic!("bare zero-copy: {e}"),
            ErrQueue::Other => {}
        }
    }
}

/// What the bare side of a case sends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BareKind {
    /// The syscalls of copybench's strategy, in its shape (one-copy or zero-copy).
    Same,
    /// One page-aligned buffer sent over and over (zero-copy reference).
    Single,
}

/// Reads exactly `buf.len()` bytes; false on EOF before the first byte.
fn recv_exact(s: &TcpStream, buf: &mut [u8]) -> bool {
    let mut got = 0;
    while got < buf.len() {
        match sys::recv(s.as_fd(), &mut buf[got..], 0) {
            Ok(0) if got == 0 => return false,
            Ok(0) => panic!("bare recv: EOF mid-message"),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("bare recv: {e}"),
        }
    }
    true
}

fn tcp_pair(cfg: &Config) -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let c = TcpStream::connect(l.local_addr().unwrap()).expect("connect loopback");
    let (s, _) = l.accept().expect("accept");
    for end in [&c, &s] {
        end.set_nodelay(cfg.transport.nodelay).unwrap();
        end.set_read_timeout(Some(cfg.transport.timeout)).unwrap();
        end.set_write_timeout(Some(cfg.transport.timeout)).unwrap();
    }
    (c, s)
}

/// The bare loop: a client thread and a server thread on one loopback
/// connection. Each thread learns a batch's message count through its own
/// channel (as copybench's workers do) and reports the CPU time it spent on
/// the batch, measured as copybench's workers measure theirs.
struct Bare {
    cmds: [Sender<u64>; 2],
    done: Receiver<u64>,
    threads: Vec<JoinHandle<()>>,
}

/// Runs `work(n)` for every count `cmds` sends, reporting its CPU ns to `done`.
fn bare_thread(
    cmds: Receiver<u64>,
    done: Sender<u64>,
    mut work: impl FnMut(u64) + Send + 'static,
    at_end: impl FnOnce() + Send + 'static,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        while let Ok(n) = cmds.recv() {
            let before = sys::thread_usage().expect("thread CPU time").cpu_ns;
            work(n);
            let after = sys::thread_usage().expect("thread CPU time").cpu_ns;
            let _ = done.send(after - before);
        }
        at_end();
    })
}

impl Bare {
    fn start(cfg: &Config, kind: BareKind) -> Bare {
        let workload = cfg.workload;
        let msg = cfg.shape.message_bytes();
        let (client, server) = tcp_pair(cfg);
        let (client_tx, client_rx) = mpsc::channel::<u64>();
        let (server_tx, server_rx) = mpsc::channel::<u64>();
        let (done_tx, done) = mpsc::channel();
        let client = std::sync::Arc::new(client);
        let closing = client.clone();
        let close_client = move || {
            let _ = closing.shutdown(Shutdown::Write);
        };
        let threads = match workload {
            WorkloadKind::Stream => {
                let mut pool = Pool::new(cfg, 0x5a);
                let mut zc = (cfg.strategy == StrategyKind::ZeroCopy).then(|| {
                    let sock = client.try_clone().expect("dup the bare client socket");
                    let msgs = match kind {
                        BareKind::Same => (0..cfg.pool_slots())
                            .map(|_| ZcMsg::new(cfg.layout, cfg.shape.field_size))
                            .collect(),
                        BareKind::Single => vec![ZcMsg::single(msg)],
                    };
                    ZcSender::new(sock, msgs, kind == BareKind::Same)
                });
                let send = move |n| match zc.as_mut() {
                    Some(zc) => {
                        for _ in 0..n {
                            zc.send_next();
                        }
                        zc.drain();
                    }
                    None => {
                        for _ in 0..n {
                            pool.send_next(&client);
                        }
                    }
                };
                let mut buf = vec![0u8; RECV_BUF];
                let receive = move |n: u64| {
                    let mut want = n * msg as u64;
                    while want > 0 {
                        match sys::recv(server.as_fd(), &mut buf, 0) {
                            Ok(0) => panic!("bare recv: EOF mid-batch"),
                            Ok(n) => want -= n as u64,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => panic!("bare recv: {e}"),
                        }
                    }
                };
                vec![
                    bare_thread(client_rx, done_tx.clone(), send, close_client),
                    bare_thread(server_rx, done_tx, receive, || {}),
                ]
            }
            WorkloadKind::Rr => {
                let mut requests = Pool::new(cfg, 0x5a);
                let mut reply = vec![0u8; msg];
                let ask = move |n| {
                    for _ in 0..n {
                        requests.send_next(&client);
                        assert!(recv_exact(&client, &mut reply), "bare rr: server closed");
                    }
                };
                let server = std::sync::Arc::new(server);
                let draining = server.clone();
                let mut req = vec![0u8; msg];
                let mut replies = Pool::new(cfg, 0xa5);
                let answer = move |n| {
                    for _ in 0..n {
                        assert!(recv_exact(&server, &mut req), "bare rr: client closed");
                        replies.send_next(&server);
                    }
                };
                let drain = move || {
                    let mut rest = Vec::new();
                    let _ = (&*draining).read_to_end(&mut rest);
                };
                vec![
                    bare_thread(client_rx, done_tx.clone(), ask, close_client),
                    bare_thread(server_rx, done_tx, answer, drain),
                ]
            }
        };
        Bare {
            cmds: [client_tx, server_tx],
            done,
            threads,
        }
    }

    /// Moves `messages` and returns the wall time and both threads' CPU ns.
    fn run(&self, messages: u64) -> (Duration, u64) {
        let t0 = Instant::now();
        for cmd in &self.cmds {
            cmd.send(messages).expect("bare thread alive");
        }
        let cpu = (0..2)
            .map(|_| self.done.recv().expect("bare threads alive"))
            .sum();
        (t0.elapsed(), cpu)
    }

    fn stop(self) {
        drop(self.cmds);
        for t in self.threads {
            t.join().expect("bare thread panicked");
        }
    }
}

fn copybench_config(c: &Case) -> Config {
    let mut cfg = Config::new(
        c.strategy,
        TransportKind::Loopback,
        c.workload,
        Shape {
            fields: 1,
            field_size: c.field_size,
        },
    );
    cfg.layout = c.layout;
    cfg
}

/// One comparison: copybench running `strategy` in `layout` against the bare loop `bare`.
#[derive(Debug, Clone, Copy)]
struct Case {
    name: &'static str,
    workload: WorkloadKind,
    field_size: usize,
    strategy: StrategyKind,
    layout: Layout,
    bare: BareKind,
}

const fn case_of(
    name: &'static str,
    workload: WorkloadKind,
    field_size: usize,
    strategy: StrategyKind,
    layout: Layout,
    bare: BareKind,
) -> Case {
    Case {
        name,
        workload,
        field_size,
        strategy,
        layout,
        bare,
    }
}

const CASES: [Case; 7] = {
    use BareKind::{Same, Single};
    use Layout::{Heap, Page};
    use StrategyKind::{OneCopy, ZeroCopy};
    use WorkloadKind::{Rr, Stream};
    [
        case_of("stream-4KiB", Stream, 4096, OneCopy, Heap, Same),
        case_of("rr-64B", Rr, 64, OneCopy, Heap, Same),
        case_of("zc-stream-4KiB", Stream, 4096, ZeroCopy, Heap, Same),
        case_of("zc-stream-4KiB-page", Stream, 4096, ZeroCopy, Page, Same),
        case_of("zc-stream-64KiB", Stream, 65536, ZeroCopy, Heap, Same),
        case_of("zc-stream-64KiB-page", Stream, 65536, ZeroCopy, Page, Same),
        case_of(
            "zc-stream-64KiB-single",
            Stream,
            65536,
            ZeroCopy,
            Page,
            Single,
        ),
    ]
};

fn case(c: &mut Criterion, case: &Case) {
    let (name, workload) = (case.name, case.workload);
    let cfg = copybench_config(case);
    let msg = cfg.shape.message_bytes();
    let mut g = c.benchmark_group(format!("overhead-{name}"));
    g.throughput(Throughput::Bytes(msg as u64));
    if workload == WorkloadKind::Rr {
        // ~50 us per exchange here: fewer, longer samples.
        g.sample_size(20).measurement_time(Duration::from_secs(8));
    } else {
        g.sample_size(30).measurement_time(Duration::from_secs(6));
    }
    g.warm_up_time(Duration::from_secs(2));

    let bare = Bare::start(&cfg, case.bare);
    g.bench_function("bare", |b| b.iter_custom(|n| bare.run(n).0));
    bare.stop();

    let mut exp = Experiment::start(&cfg).expect("copybench experiment starts");
    g.bench_function("copybench", |b| {
        b.iter_custom(|n| run_copybench(&mut exp, n))
    });
    exp.stop().expect("copybench experiment stops");
    g.finish();
}

fn run_copybench(exp: &mut Experiment, messages: u64) -> Duration {
    run_copybench_cpu(exp, messages).0
}

/// Moves `messages` and returns the wall time and both roles' CPU ns.
fn run_copybench_cpu(exp: &mut Experiment, messages: u64) -> (Duration, u64) {
    let t0 = Instant::now();
    let r = exp.run(Batch::Messages(messages)).expect("copybench batch");
    let elapsed = t0.elapsed();
    assert_eq!(r.messages, messages, "copybench moved every message");
    (elapsed, r.client.cpu.total_ns + r.server.cpu.total_ns)
}

fn overhead(c: &mut Criterion) {
    // COPYBENCH_OVERHEAD_CASES picks cases here too.
    for case_ in CASES.iter().filter(|c| wanted(c.name)) {
        case(c, case_);
    }
}

/// `COPYBENCH_OVERHEAD_CASES=rr-64B,zc-stream-64KiB` (comma-separated) runs only those.
fn wanted(name: &str) -> bool {
    std::env::var("COPYBENCH_OVERHEAD_CASES")
        .ok()
        .is_none_or(|o| o.split(',').any(|c| c == name))
}

criterion_group!(benches, overhead);

/// Alternating pairs per case; `COPYBENCH_OVERHEAD_ROUNDS` overrides the
/// count, and `COPYBENCH_OVERHEAD_CASES` (e.g. `rr-64B`) picks cases.
const ROUNDS: u64 = 100;
/// Wall time each side of a pair aims for.
const BATCH_TIME: Duration = Duration::from_millis(50);

/// Per-message figures of one side over the pairs.
struct Side {
    wall_ns: Histogram<u64>,
    cpu_ns: Histogram<u64>,
}

impl Side {
    fn new() -> Side {
        Side {
            wall_ns: Histogram::new(3).expect("histogram"),
            cpu_ns: Histogram::new(3).expect("histogram"),
        }
    }

    fn record(&mut self, (wall, cpu): (Duration, u64), batch: u64) -> (f64, f64) {
        let wall = wall.as_nanos() as f64 / batch as f64;
        let cpu = cpu as f64 / batch as f64;
        self.wall_ns
            .record(wall.round() as u64)
            .expect("ns in range");
        self.cpu_ns.record(cpu.round() as u64).expect("ns in range");
        (wall, cpu)
    }
}

/// copybench / bare per pair, in parts per million so the histogram can
/// take it (a ratio of 1.0 is 1_000_000).
struct Ratios(Histogram<u64>);

impl Ratios {
    fn new() -> Ratios {
        Ratios(Histogram::new(3).expect("histogram"))
    }

    fn record(&mut self, copybench: f64, bare: f64) {
        let ppm = (copybench / bare * 1e6).round() as u64;
        self.0.record(ppm).expect("ratio in range");
    }

    /// Quartiles of the overhead (ratio - 1), in percent.
    fn overhead_pct(&self) -> [f64; 3] {
        [0.25, 0.5, 0.75].map(|q| (self.0.value_at_quantile(q) as f64 / 1e6 - 1.0) * 100.0)
    }
}

/// One case's paired result.
struct Paired {
    case: &'static str,
    rounds: u64,
    batch: u64,
    bare: Side,
    copybench: Side,
    wall: Ratios,
    cpu: Ratios,
}

fn paired(case: &Case, rounds: u64) -> Paired {
    let name = case.name;
    let cfg = copybench_config(case);
    let bare = Bare::start(&cfg, case.bare);
    let mut exp = Experiment::start(&cfg).expect("copybench experiment starts");

    // Warm both up, and size batches to BATCH_TIME from the bare side.
    let probe = 2000;
    bare.run(probe);
    run_copybench(&mut exp, probe);
    let per_msg = bare.run(probe).0.as_secs_f64() / probe as f64;
    let batch = ((BATCH_TIME.as_secs_f64() / per_msg) as u64).max(100);

    let mut out = Paired {
        case: name,
        rounds,
        batch,
        bare: Side::new(),
        copybench: Side::new(),
        wall: Ratios::new(),
        cpu: Ratios::new(),
    };
    for round in 0..rounds {
        let (b, c) = if round % 2 == 0 {
            let b = bare.run(batch);
            (b, run_copybench_cpu(&mut exp, batch))
        } else {
            let c = run_copybench_cpu(&mut exp, batch);
            (bare.run(batch), c)
        };
        let (b_wall, b_cpu) = out.bare.record(b, batch);
        let (c_wall, c_cpu) = out.copybench.record(c, batch);
        out.wall.record(c_wall, b_wall);
        out.cpu.record(c_cpu, b_cpu);
    }
    bare.stop();
    exp.stop().expect("copybench experiment stops");
    out
}

fn report_paired(results: &[Paired]) {
    println!(
        "\ncopybench overhead over a bare loop, alternating pairs: median per message, \
         overhead as the median of the pairs' ratios [quartiles]"
    );
    let mut json = Vec::new();
    for r in results {
        let median = |h: &Histogram<u64>| h.value_at_quantile(0.5);
        let [wq1, wall, wq3] = r.wall.overhead_pct();
        let [cq1, cpu, cq3] = r.cpu.overhead_pct();
        println!(
            "{:<12} wall {:>7} / {:>7} ns {wall:+6.2} % [{wq1:+.2}, {wq3:+.2}]   \
             CPU {:>7} / {:>7} ns {cpu:+6.2} % [{cq1:+.2}, {cq3:+.2}]   ({} pairs of {} messages)",
            r.case,
            median(&r.bare.wall_ns),
            median(&r.copybench.wall_ns),
            median(&r.bare.cpu_ns),
            median(&r.copybench.cpu_ns),
            r.rounds,
            r.batch
        );
        json.push(serde_json::json!({
            "case": r.case,
            "rounds": r.rounds,
            "batch_messages": r.batch,
            "wall": {
                "bare_ns_per_msg": median(&r.bare.wall_ns),
                "copybench_ns_per_msg": median(&r.copybench.wall_ns),
                "overhead_pct": {"q1": wq1, "median": wall, "q3": wq3},
            },
            "cpu": {
                "bare_ns_per_msg": median(&r.bare.cpu_ns),
                "copybench_ns_per_msg": median(&r.copybench.cpu_ns),
                "overhead_pct": {"q1": cq1, "median": cpu, "q3": cq3},
            },
        }));
    }
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| std::path::PathBuf::from("target"), Into::into)
        .join("criterion");
    std::fs::create_dir_all(&dir).expect("criterion output directory");
    let path = dir.join("overhead-paired.json");
    let text = serde_json::to_string_pretty(&json).expect("json");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    println!("written to {}", path.display());
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // cargo bench passes --bench; cargo test (criterion's test mode) does not,
    // and runs each benchmark once without measuring.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rounds = std::env::var("COPYBENCH_OVERHEAD_ROUNDS")
        .ok()
        .map(|v| {
            v.parse::<u64>()
                .ok()
                .filter(|n| *n >= 2)
                .unwrap_or_else(|| {
                    panic!("COPYBENCH_OVERHEAD_ROUNDS={v}: must be a whole number >= 2")
                })
        })
        .unwrap_or(ROUNDS);
    let results: Vec<Paired> = CASES
        .iter()
        .filter(|c| wanted(c.name))
        .map(|c| paired(c, rounds))
        .collect();
    report_paired(&results);
}
