//! `cargo bench --bench overhead`: what copybench's own per-message work costs.
//!
//! For each case the same number of messages of the same size crosses a
//! loopback TCP connection twice, in the same process:
//!
//! * `bare`: the syscalls of copybench's strategy alone, on two threads over
//!   a `std::net` pair with the send and receive timeouts copybench sets on
//!   every socket (the kernel arms a timer whenever such a socket blocks;
//!   that belongs to the connection, not to the per-message work measured
//!   here). The sender uses a pool of as many messages as copybench's, each
//!   a header and a field laid out as copybench lays them out (`heap` or
//!   `page`), a header byte rewritten before each send, and hands each
//!   message to the kernel as copybench's strategy does: `two-copy`
//!   serializes into one buffer and `send`s it; `one-copy` `sendmsg`s the
//!   two iovecs; `zero-copy` adds `MSG_ZEROCOPY`, reads the error queue
//!   without blocking every 16 sends and reuses a slot only after its
//!   completion; `uring` and `uring-zc` submit one `IORING_OP_SENDMSG`
//!   (`_ZC`) request at a time through copybench's thin ring wrapper
//!   (`sys::SendRing`, so unsafe code stays in sys.rs), popping
//!   notifications with each result, the same lifetime rule. Strategies
//!   with completions drain at the end of each batch. The receiver `recv`s
//!   into a 256 KiB buffer until every byte arrived (stream; behind a
//!   `poll` on copybench's default mark, `recv_default_mark`, lowered to the
//!   batch's bytes left, where copybench's receiver keeps one: a copying
//!   sender on a connection of large segments), or one
//!   message per exchange (rr, TCP_NODELAY on both ends, the client's
//!   `TCP_QUICKACK` after a batch as copybench's; the rr client times
//!   each round trip into a histogram as copybench does, unless
//!   `COPYBENCH_OVERHEAD_BARE_TIMES=0`).
//! * `copybench`: an [`Experiment`] (that strategy and layout, 1 field, 1
//!   thread, defaults: sampled verification, counters on) running
//!   `Batch::Messages(n)`; so framing, verification, latency recording,
//!   counter reads and time keeping are all in.
//!
//! Cases are made from the strategies' capabilities, not listed: every
//! strategy this host can run at `stream-4KiB` and `rr-64B`; for each with
//! completions also `stream-4KiB-page`, `stream-64KiB` and
//! `stream-64KiB-page`, and `stream-64KiB-single`, the reference the kernel
//! selftest and neper use: one page-aligned buffer of the message's size
//! sent over and over, its completions read but never waited for; there
//! copybench runs the `page` layout, and the pairs' wall-time ratio is the
//! throughput ratio. Where this host maps received pages, four receive
//! cases, `zero-copy-stream-64KiB-page-rx`, `one-copy-stream-64KiB-page-rx`
//! and the same at 512 KiB, a message as long as the mapping window (where
//! copybench's receiver, which never waits past the message it is in, waits
//! for a whole window as the selftest's loop does):
//! both sides receive by mapping (`TCP_ZEROCOPY_RECEIVE`), the bare side with
//! the kernel selftest's loop ([`BareMapper`]: tools/testing/selftests/net/
//! tcp_mmap.c), copybench with `receive = zerocopy`, `rcvlowat` = the
//! window (512 KiB) and `TCP_MAXSEG` a page + 12 on both. The page layout,
//! so that where the sender's pages fall (a heap field spans 17 pages, more
//! than an skb's fragments, and how the kernel's loopback copy then packs
//! them varies with malloc's offsets) does not move one side's mapped share
//! and not the other's. Their budget is the receiver's CPU per byte, and
//! each side's mapped share is shown. Names are
//! `{strategy}-{workload}-{field}[-page|-single][-rx]`.
//!
//! "Message size" is copybench's whole message, header included
//! (`Shape::message_bytes`: 32 + field), so both sides move the same bytes.
//! Overhead = (copybench - bare) / bare on criterion's per-message estimate;
//! `scripts/overhead.sh` runs this and prints it.
//!
//! Both sides keep persistent threads between samples and are told how many
//! messages to move through a channel, as the Experiment's workers are, so
//! neither pays for thread start-up in the timed part.
//!
//! Both sides' sockets get the same congestion control, `cubic` by default
//! (`COPYBENCH_OVERHEAD_CC=NAME`, or `host` for the host's; see
//! [`bench_congestion`] for why not the host's `bbr`).
//!
//! Both sides of a case run their threads on the same CPUs: by default rr
//! with both ends on one CPU and stream with sender and receiver on two
//! (`COPYBENCH_OVERHEAD_PIN=split|same|none` for every case; see
//! [`Placement`] for why). Left to the scheduler, each side of a pair keeps
//! its own placement, and on a 2-vCPU guest the two placements differ
//! several-fold.
//!
//! Two measurements per case:
//!
//! * criterion's groups `overhead-{case}/{bare,copybench}`, one after the
//!   other: per-message time of each, kept in baselines so either can be
//!   watched for creep (`-- --save-baseline` / `--baseline`).
//! * the overhead itself, from alternating pairs spread over set-ups: in
//!   each set-up (both sides' connections, threads and buffers made afresh,
//!   `COPYBENCH_OVERHEAD_SETUPS`, default 10) the two sides move batches of
//!   the same size in turns (bare first in even rounds, copybench first in
//!   odd ones), so drift of this VM's loopback (its round trip switches
//!   between modes seconds apart) hits both sides of a pair alike. A
//!   set-up's figure is the median over its pairs of copybench / bare - 1;
//!   the case's is the median of the set-ups' figures with its 95 % interval
//!   over set-ups (`stats::Estimate`, order statistics), because pairs of
//!   one set-up are not independent: in a null comparison (both sides the
//!   bare loop, `COPYBENCH_OVERHEAD_NULL=1`) one set-up of 100 pairs called
//!   a difference in 2 cases of 6, ten set-ups in none. The pairs pooled and
//!   their quartiles are kept beside it. Set-ups of one process still share
//!   what a run keeps (copybench's sender against the bare one's differed
//!   between three runs by more than each run's interval, while a null
//!   comparison held 0 in each), so `scripts/overhead.sh` runs this bench in
//!   several processes and takes the interval over all their set-ups. For `-rx` cases also the receiving thread's CPU per
//!   byte, paired the same way, and each side's mapped share over all its
//!   pairs; for stream cases each side's receiver context switches per MiB
//!   (its sleeps, median over the pairs; printed only). Printed, and written to
//!   `target/criterion/overhead-paired.json` for `scripts/overhead.sh`.
//!   Only under `cargo bench`; `cargo test` runs the criterion part once.

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use hdrhistogram::Histogram;

use copybench::model::stats::Estimate;
use copybench::sys;
use copybench::sys::{ErrQueue, RingSend, SendRing};
use copybench::{
    recv_default_mark, sender_promises, Batch, Config, Counter, Experiment, Layout, Pin,
    ReceiveKind, Shape, StrategyKind, TransportKind, WorkloadKind,
};

/// What the bare receiver reads into per `recv` (copybench's Reader asks for as much).
const RECV_BUF: usize = 256 << 10;

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

/// One message of a bare sender: where its header and field lie, as
/// copybench lays them out.
struct BareMsg {
    /// Heap: the header's allocation, then the field's. Page or single: one.
    store: Vec<Vec<u8>>,
    /// (allocation, offset, length) of each iovec.
    pieces: Vec<(usize, usize, usize)>,
}

impl BareMsg {
    fn new(layout: Layout, field: usize) -> BareMsg {
        let header = copybench::HEADER_LEN;
        match layout {
            Layout::Heap => BareMsg {
                store: vec![vec![0x5a; header], vec![0x5a; field]],
                pieces: vec![(0, 0, header), (1, 0, field)],
            },
            Layout::Page => {
                let span = field.div_ceil(page()) * page();
                let (buf, at) = page_aligned(page() + span);
                BareMsg {
                    store: vec![buf],
                    pieces: vec![(0, at + page() - header, header), (0, at + page(), field)],
                }
            }
        }
    }

    /// The selftest's shape: one page-aligned buffer, one iovec.
    fn single(len: usize) -> BareMsg {
        let (buf, at) = page_aligned(len);
        BareMsg {
            store: vec![buf],
            pieces: vec![(0, at, len)],
        }
    }

    /// Rewrites a header byte, as copybench stamps each send's sequence.
    fn stamp(&mut self, seq: u64) {
        let (b, at, _) = self.pieces[0];
        self.store[b][at + 8] = seq as u8;
    }

    /// Its iovecs, in `out`; returns how many there are.
    fn slices<'a>(&'a self, out: &mut [io::IoSlice<'a>; 2]) -> usize {
        for (s, &(b, at, len)) in out.iter_mut().zip(&self.pieces) {
            *s = io::IoSlice::new(&self.store[b][at..at + len]);
        }
        self.pieces.len()
    }
}

/// How a bare sender hands a message to the kernel: the syscalls of one
/// copybench strategy, without its framing, verification or bookkeeping.
enum How {
    /// Serialize header and field into one buffer, then `send` it.
    TwoCopy { scratch: Vec<u8> },
    /// One `sendmsg` gathering header and field.
    OneCopy,
    /// `sendmsg(MSG_ZEROCOPY)`; completions read from the error queue
    /// without blocking every 16 sends, and waited for only to reuse a slot.
    ZeroCopy { since_reap: u32 },
    /// One `IORING_OP_SENDMSG` or `IORING_OP_SENDMSG_ZC` request at a time
    /// (copybench's rule for one TCP socket), submitted and waited for in one
    /// `io_uring_enter`, through copybench's thin ring wrapper
    /// (`sys::SendRing`: unsafe code stays in sys.rs); notifications are
    /// popped with every result. The ring is made on the first send: a ring
    /// set up for a single issuer (as copybench's are) belongs to the thread
    /// that made it.
    Uring {
        ring: Option<Box<SendRing>>,
        op: RingSend,
    },
}

/// A bare sender (see the module doc): a pool of as many messages as
/// copybench's, used in turn, each stamped before its send; with
/// completions, a slot is reused only after every send from it completed.
struct BareSender {
    sock: Arc<TcpStream>,
    pool: Vec<BareMsg>,
    how: How,
    /// Id of the last completion-bearing send made from each slot.
    slot_last: Vec<Option<u64>>,
    /// Whether a slot waits for its completion (false: the single-buffer reference).
    wait_for_reuse: bool,
    next_slot: usize,
    seq: u64,
    /// Ids of sends that will complete, and how many have, in order
    /// (`done`: every id below it completed).
    next_id: u64,
    done: u64,
    /// io_uring notifications that came ahead of an earlier one.
    early: BTreeSet<u64>,
}

impl BareSender {
    fn new(cfg: &Config, sock: Arc<TcpStream>, kind: BareKind) -> BareSender {
        let pool = match kind {
            BareKind::Same => (0..cfg.pool_slots())
                .map(|_| BareMsg::new(cfg.layout, cfg.shape.field_size))
                .collect(),
            BareKind::Single => vec![BareMsg::single(cfg.shape.message_bytes())],
        };
        let how = match cfg.strategy {
            StrategyKind::TwoCopy => How::TwoCopy {
                scratch: Vec::with_capacity(cfg.shape.message_bytes()),
            },
            StrategyKind::OneCopy => How::OneCopy,
            StrategyKind::ZeroCopy => {
                sys::set_zerocopy(sock.as_fd()).expect("SO_ZEROCOPY on a loopback TCP socket");
                How::ZeroCopy { since_reap: 0 }
            }
            StrategyKind::Uring | StrategyKind::UringZc => How::Uring {
                ring: None,
                op: if cfg.strategy == StrategyKind::Uring {
                    RingSend::SendMsg
                } else {
                    RingSend::SendMsgZc
                },
            },
        };
        let slots = pool.len();
        BareSender {
            sock,
            pool,
            how,
            slot_last: vec![None; slots],
            wait_for_reuse: kind == BareKind::Same,
            next_slot: 0,
            seq: 0,
            next_id: 0,
            done: 0,
            early: BTreeSet::new(),
        }
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
        self.pool[slot].stamp(self.seq);
        let before = self.next_id;
        match &mut self.how {
            How::TwoCopy { scratch } => {
                let mut slices = [io::IoSlice::new(&[]); 2];
                let n = self.pool[slot].slices(&mut slices);
                scratch.clear();
                for piece in &slices[..n] {
                    scratch.extend_from_slice(piece);
                }
                let mut rest = &scratch[..];
                while !rest.is_empty() {
                    match sys::send(self.sock.as_fd(), rest, libc::MSG_NOSIGNAL) {
                        Ok(n) => rest = &rest[n..],
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => panic!("bare send: {e}"),
                    }
                }
            }
            How::OneCopy => {
                let mut slices = [io::IoSlice::new(&[]); 2];
                let n = self.pool[slot].slices(&mut slices);
                send_all(&self.sock, &mut slices[..n], libc::MSG_NOSIGNAL, None);
            }
            How::ZeroCopy { since_reap } => {
                let mut slices = [io::IoSlice::new(&[]); 2];
                let n = self.pool[slot].slices(&mut slices);
                let flags = libc::MSG_NOSIGNAL | libc::MSG_ZEROCOPY;
                let ids = (&mut self.next_id, &mut self.done);
                send_all(&self.sock, &mut slices[..n], flags, Some(ids));
                *since_reap += 1;
                if *since_reap >= 16 {
                    *since_reap = 0;
                    reap_into(&self.sock, self.next_id, &mut self.done);
                }
            }
            How::Uring { ring, op } => {
                // copybench's ring sizes: a send and a cancel queued at most,
                // a result and a notification per request in flight.
                let ring = ring.get_or_insert_with(|| {
                    Box::new(SendRing::new(4, 256).expect("an io_uring for the bare sender"))
                });
                let mut slices = [io::IoSlice::new(&[]); 2];
                let n = self.pool[slot].slices(&mut slices);
                let mut bufs = &mut slices[..n];
                while !bufs.is_empty() {
                    let id = self.next_id;
                    ring.push_send(self.sock.as_fd(), bufs, *op, 0, id)
                        .expect("bare io_uring submission");
                    let mut result = None;
                    while result.is_none() {
                        ring.submit_and_wait(1, Duration::from_secs(10))
                            .expect("bare io_uring wait");
                        while let Some(c) = ring.pop() {
                            if c.notif {
                                notified(&mut self.early, &mut self.done, c.user_data);
                            } else {
                                assert_eq!(c.user_data, id, "bare io_uring: a result out of turn");
                                if c.more {
                                    self.next_id += 1;
                                }
                                result = Some(c.result);
                            }
                        }
                    }
                    match result.expect("the loop ends with a result") {
                        r if r > 0 => io::IoSlice::advance_slices(&mut bufs, r as usize),
                        r if -r == libc::EINTR || -r == libc::EAGAIN => {}
                        r => panic!("bare io_uring send: {}", io::Error::from_raw_os_error(-r)),
                    }
                }
            }
        }
        if self.next_id > before {
            self.slot_last[slot] = Some(self.next_id - 1);
        }
        self.seq += 1;
        self.next_slot = (slot + 1) % self.pool.len();
    }

    /// Sleeps until a completion may have come, then reads what came.
    fn wait(&mut self) {
        match &mut self.how {
            How::ZeroCopy { since_reap } => {
                *since_reap = 0;
                sys::poll_one(self.sock.as_fd(), 0, 50).expect("bare poll");
                reap_into(&self.sock, self.next_id, &mut self.done);
            }
            How::Uring {
                ring: Some(ring), ..
            } => {
                ring.submit_and_wait(1, Duration::from_millis(50))
                    .expect("bare io_uring wait");
                while let Some(c) = ring.pop() {
                    assert!(
                        c.notif,
                        "bare io_uring: a result with no request unresolved"
                    );
                    notified(&mut self.early, &mut self.done, c.user_data);
                }
            }
            How::TwoCopy { .. } | How::OneCopy | How::Uring { ring: None, .. } => {}
        }
    }

    /// At a batch's end, as copybench does: every send completed.
    fn drain(&mut self) {
        while self.done < self.next_id {
            self.wait();
        }
    }
}

/// Sends all of `bufs` with `sendmsg(flags)`, advancing over partial
/// writes. With `MSG_ZEROCOPY`, `zc` holds the sender's (next id, done):
/// each call that took data is a completion id, and an `ENOBUFS` (too much
/// memory pinned) waits briefly and reads the completions that came, as
/// copybench does.
fn send_all(
    s: &TcpStream,
    mut bufs: &mut [io::IoSlice<'_>],
    flags: libc::c_int,
    mut zc: Option<(&mut u64, &mut u64)>,
) {
    while !bufs.is_empty() {
        match sys::sendmsg(s.as_fd(), bufs, flags) {
            Ok(n) => {
                if let Some((next_id, _)) = zc.as_mut() {
                    **next_id += 1;
                }
                io::IoSlice::advance_slices(&mut bufs, n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) && zc.is_some() => {
                let (next_id, done) = zc.as_mut().expect("checked");
                sys::poll_one(s.as_fd(), 0, 1).expect("bare poll");
                reap_into(s, **next_id, done);
            }
            Err(e) => panic!("bare sendmsg: {e}"),
        }
    }
}

/// io_uring notification `id` arrived: advance `done` over every id
/// notified in a row.
fn notified(early: &mut BTreeSet<u64>, done: &mut u64, id: u64) {
    early.insert(id);
    while early.remove(done) {
        *done += 1;
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

/// Whether the bare rr client times each round trip and records it, as
/// copybench does: two clock reads (about 67 ns together on this VM) and a
/// histogram record per exchange. That is the work any tool that reports
/// rr latency must do, so by default the bare loop does it too and the
/// overhead is what copybench adds beyond measuring;
/// `COPYBENCH_OVERHEAD_BARE_TIMES=0` leaves it out, to show what measuring
/// itself costs.
fn bare_times_round_trips() -> bool {
    env_flag("COPYBENCH_OVERHEAD_BARE_TIMES", true)
}

/// A 0/1 setting from the environment, `default` when unset; anything else
/// stops the bench naming the variable.
fn env_flag(name: &str, default: bool) -> bool {
    match std::env::var(name).as_deref() {
        Err(_) => default,
        Ok("1") => true,
        Ok("0") => false,
        Ok(other) => panic!("{name}={other}: must be 0 or 1"),
    }
}

/// A whole-number setting of at least `min` from the environment, `default`
/// when unset; anything else stops the bench naming the variable and range.
fn env_number(name: &str, default: u64, min: u64) -> u64 {
    let Ok(v) = std::env::var(name) else {
        return default;
    };
    v.parse::<u64>()
        .ok()
        .filter(|n| *n >= min)
        .unwrap_or_else(|| match min {
            0 => panic!("{name}={v}: must be a whole number"),
            _ => panic!("{name}={v}: must be a whole number >= {min}"),
        })
}

/// What the bare side of a case sends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BareKind {
    /// The syscalls of copybench's strategy, in its shape.
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

/// A loopback pair with copybench's socket options; `TCP_MAXSEG`, when the
/// case sets one (the mapping receiver's page + 12), and `TCP_CONGESTION` on
/// both ends before the handshake, as copybench sets them. Before, not
/// after: a connection that was established under a pacing congestion
/// control (`bbr` asks the kernel to pace it) stays paced after a switch to
/// `cubic`, and the bare zero-copy loop then ran at a third of copybench's
/// speed (46 against 13 µs a 64 KiB message).
fn tcp_pair(cfg: &Config) -> (TcpStream, TcpStream) {
    use socket2::{Domain, SockAddr, Socket, Type};
    let before_handshake = |s: &Socket| {
        if let Some(mss) = cfg.transport.maxseg {
            sys::set_maxseg(s.as_fd(), mss).expect("TCP_MAXSEG");
        }
        if let Some(cc) = &cfg.transport.congestion {
            s.set_tcp_congestion(cc.as_str().as_bytes())
                .expect("TCP_CONGESTION on a loopback socket");
        }
    };
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a TCP socket");
    before_handshake(&l);
    l.bind(&SockAddr::from(std::net::SocketAddr::from((
        [127, 0, 0, 1],
        0,
    ))))
    .expect("bind loopback");
    l.listen(1).expect("listen");
    let c = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a TCP socket");
    before_handshake(&c);
    c.connect(&l.local_addr().unwrap())
        .expect("connect loopback");
    let (s, _) = l.accept().expect("accept");
    let (c, s): (TcpStream, TcpStream) = (c.into(), s.into());
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
    /// What a thread spent on a batch: 0 the client's thread, 1 the server's.
    done: Receiver<(usize, Spent)>,
    threads: Vec<JoinHandle<()>>,
    /// Bytes a message puts on the wire.
    msg_bytes: u64,
    /// The mapping receiver's bytes mapped and copied (`-rx` cases).
    rx: Option<Arc<RxCount>>,
}

/// What one bare thread spent on a batch, measured as copybench's workers
/// measure theirs: CPU time and context switches.
#[derive(Clone, Copy, Default)]
struct Spent {
    cpu_ns: u64,
    switches: u64,
}

/// One batch of one side: what it took and what the receiver did.
struct Moved {
    wall: Duration,
    /// Both threads' (roles') CPU time.
    cpu_ns: u64,
    /// The receiving thread's (server's) CPU time.
    server_cpu_ns: u64,
    /// The receiving thread's context switches: how often it slept and was
    /// woken (`None` where copybench's counters did not count them).
    server_switches: Option<u64>,
    /// Bytes received.
    bytes: u64,
    /// (mapped, copied) bytes of a mapping receiver.
    rx: Option<(u64, u64)>,
}

/// What a bare mapping receiver did: bytes mapped, bytes `recv`ed.
#[derive(Default)]
struct RxCount {
    mapped: AtomicU64,
    copied: AtomicU64,
}

impl RxCount {
    /// (mapped, copied) since the last call.
    fn take(&self) -> (u64, u64) {
        (
            self.mapped.swap(0, Ordering::Relaxed),
            self.copied.swap(0, Ordering::Relaxed),
        )
    }
}

/// The bare mapping receiver: the loop of the kernel's selftest
/// (tools/testing/selftests/net/tcp_mmap.c, `-z`): a window of
/// copybench's size (`RECV_MAP_WINDOW`) mapped from the socket at the
/// selftest's alignment (the huge page size, `recv_map_align`, through
/// `sys::SocketWindow`, so unsafe code stays in sys.rs), `SO_RCVLOWAT` = the
/// window; then per round `poll(POLLIN)`, `getsockopt(TCP_ZEROCOPY_RECEIVE)`
/// for the whole window, a byte read per mapped page, `madvise(DONTNEED)` of
/// what was mapped (the selftest's "more efficient to unmap the pages right
/// now"), and a `read` of the `recv_skip_hint` bytes into a window-sized
/// buffer, a byte read per page. One departure, which copybench needs too: a
/// batch ends on a byte count that is not the window's multiple, so before
/// each wait the mark comes down to what the batch still needs (a call only
/// at a batch's tail), or the last round would wait for bytes never sent.
struct BareMapper {
    sock: Arc<TcpStream>,
    window: sys::SocketWindow,
    buf: Vec<u8>,
    lowat: usize,
    count: Arc<RxCount>,
    /// `Some(message bytes)`: wait as copybench must, for no more than the
    /// rest of the current message (see [`RxWait`]).
    per_message: Option<u64>,
}

/// How far the bare mapping receiver's mark reaches
/// (`COPYBENCH_OVERHEAD_RX_WAIT`): `batch` (default), the selftest's
/// `SO_RCVLOWAT` = the window, lowered only for the batch's tail, which the
/// bare loop knows; `message`, never more than the rest of the current
/// message, as copybench's receiver waits: a stream server learns that a
/// batch ended only from its last message's header, so a mark reaching
/// past the message it is in could wait for bytes never sent. The second
/// shows how much of the difference the wait alone makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RxWait {
    Batch,
    Message,
}

impl RxWait {
    fn get() -> RxWait {
        match std::env::var("COPYBENCH_OVERHEAD_RX_WAIT").as_deref() {
            Err(_) | Ok("batch") => RxWait::Batch,
            Ok("message") => RxWait::Message,
            Ok(other) => panic!("COPYBENCH_OVERHEAD_RX_WAIT={other}: must be batch or message"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            RxWait::Batch => "batch",
            RxWait::Message => "message",
        }
    }
}

impl BareMapper {
    fn new(sock: Arc<TcpStream>, count: Arc<RxCount>, msg: u64) -> BareMapper {
        let window = copybench::RECV_MAP_WINDOW;
        let map = sys::SocketWindow::map(sock.as_fd(), window, copybench::recv_map_align())
            .expect("mmap of the bare receiver's socket");
        sys::set_rcvlowat(sock.as_fd(), window).expect("SO_RCVLOWAT");
        BareMapper {
            sock,
            window: map,
            buf: vec![0; window],
            lowat: window,
            count,
            per_message: (RxWait::get() == RxWait::Message).then_some(msg),
        }
    }

    /// Receives `bytes` bytes.
    fn receive(&mut self, bytes: u64) {
        let fd = self.sock.as_fd();
        let (mut want, mut seen, mut mapped, mut copied) = (bytes, 0u8, 0, 0);
        let touch = |run: &[u8], seen: &mut u8| {
            for b in run.iter().step_by(page()) {
                *seen ^= *b;
            }
        };
        while want > 0 {
            let reach = match self.per_message {
                // Batches are whole messages: the rest of the current one.
                Some(msg) => (want - 1) % msg + 1,
                None => want,
            };
            let mark = reach.min(self.window.len() as u64) as usize;
            if mark != self.lowat {
                sys::set_rcvlowat(fd, mark).expect("SO_RCVLOWAT");
                self.lowat = mark;
            }
            sys::poll_one(fd, libc::POLLIN, 10_000).expect("bare poll");
            let zc = match self.window.receive(fd, 0, self.window.len()) {
                Ok(zc) => zc,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => panic!("bare TCP_ZEROCOPY_RECEIVE: {e}"),
            };
            assert_eq!(zc.err, 0, "bare TCP_ZEROCOPY_RECEIVE: socket error");
            if zc.length > 0 {
                let n = zc.length as usize;
                touch(self.window.mapped(0, n), &mut seen);
                self.window.release(0, n).expect("madvise(MADV_DONTNEED)");
                mapped += n as u64;
                want -= n as u64;
            }
            if zc.recv_skip_hint > 0 {
                let n = (zc.recv_skip_hint as usize).min(self.buf.len());
                match sys::recv(fd, &mut self.buf[..n], 0) {
                    Ok(0) => panic!("bare recv: EOF mid-batch"),
                    Ok(got) => {
                        touch(&self.buf[..got], &mut seen);
                        copied += got as u64;
                        want -= got as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => panic!("bare recv: {e}"),
                }
            }
        }
        std::hint::black_box(seen);
        self.count.mapped.fetch_add(mapped, Ordering::Relaxed);
        self.count.copied.fetch_add(copied, Ordering::Relaxed);
    }
}

/// Runs `work(n)` for every count `cmds` sends, reporting its CPU ns to
/// `done` as (`role`, ns).
fn bare_thread(
    cpu: Option<usize>,
    role: usize,
    cmds: Receiver<u64>,
    done: Sender<(usize, Spent)>,
    mut work: impl FnMut(u64) + Send + 'static,
    at_end: impl FnOnce() + Send + 'static,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        if let Some(cpu) = cpu {
            let mut set = nix::sched::CpuSet::new();
            set.set(cpu).expect("a CPU of this host");
            nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
                .expect("pinning a bare thread");
        }
        while let Ok(n) = cmds.recv() {
            let before = sys::thread_usage().expect("thread CPU time");
            work(n);
            let after = sys::thread_usage().expect("thread CPU time");
            let _ = done.send((
                role,
                Spent {
                    cpu_ns: after.cpu_ns - before.cpu_ns,
                    switches: after.context_switches - before.context_switches,
                },
            ));
        }
        at_end();
    })
}

impl Bare {
    fn start(cfg: &Config, kind: BareKind) -> Bare {
        let msg = cfg.shape.message_bytes();
        let (client, server) = tcp_pair(cfg);
        let (client_tx, client_rx) = mpsc::channel::<u64>();
        let (server_tx, server_rx) = mpsc::channel::<u64>();
        let (done_tx, done) = mpsc::channel();
        let client = Arc::new(client);
        let server = Arc::new(server);
        let closing = client.clone();
        let close_client = move || {
            let _ = closing.shutdown(Shutdown::Write);
        };
        let promises = sender_promises(cfg.workload, cfg.strategy);
        let mut sender = BareSender::new(cfg, client.clone(), kind);
        let rx = (cfg.receive == ReceiveKind::Zerocopy).then(|| Arc::new(RxCount::default()));
        // Pinned where copybench's own threads are.
        let (client_cpu, server_cpu) = match &cfg.pin {
            Some(pin) => (Some(pin.client[0]), Some(pin.server[0])),
            None => (None, None),
        };
        let threads = match cfg.workload {
            WorkloadKind::Stream => {
                let send = move |n| {
                    for _ in 0..n {
                        sender.send_next();
                    }
                    sender.drain();
                };
                let receive: Box<dyn FnMut(u64) + Send> = match cfg.receive {
                    ReceiveKind::Copy => {
                        let mut buf = vec![0u8; RECV_BUF];
                        // copybench's copy receiver keeps a default mark
                        // while its sender has promised bytes
                        // (sender_promises); so does the bare one, which
                        // knows the batch's bytes.
                        let cap = if promises {
                            recv_default_mark(server.as_fd()).expect("bare: default mark")
                        } else {
                            None
                        };
                        let mut current = 1;
                        Box::new(move |n: u64| {
                            let mut want = n * msg as u64;
                            while want > 0 {
                                let mut flags = 0;
                                if let Some(cap) = cap {
                                    let mark = cap.min(usize::try_from(want).unwrap_or(cap));
                                    if mark != current {
                                        sys::set_rcvlowat(server.as_fd(), mark)
                                            .expect("bare: SO_RCVLOWAT");
                                        current = mark;
                                    }
                                    if mark > 1 {
                                        // As copybench's reader (recv.rs,
                                        // Lowat::wait): poll, not a recv
                                        // that sleeps under the mark, and
                                        // a recv that does not wait where
                                        // less than twice the mark is left.
                                        sys::poll_one(
                                            server.as_fd(),
                                            libc::POLLIN | libc::POLLRDHUP,
                                            -1,
                                        )
                                        .expect("bare: poll");
                                        if want < 2 * mark as u64 {
                                            flags = libc::MSG_DONTWAIT;
                                        }
                                    }
                                }
                                match sys::recv(server.as_fd(), &mut buf, flags) {
                                    Ok(0) => panic!("bare recv: EOF mid-batch"),
                                    Ok(n) => want -= n as u64,
                                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                                    Err(e)
                                        if flags != 0 && e.kind() == io::ErrorKind::WouldBlock => {}
                                    Err(e) => panic!("bare recv: {e}"),
                                }
                            }
                        })
                    }
                    ReceiveKind::Zerocopy => {
                        let mut mapper =
                            BareMapper::new(server, rx.clone().expect("made above"), msg as u64);
                        Box::new(move |n: u64| mapper.receive(n * msg as u64))
                    }
                };
                vec![
                    bare_thread(
                        client_cpu,
                        0,
                        client_rx,
                        done_tx.clone(),
                        send,
                        close_client,
                    ),
                    bare_thread(server_cpu, 1, server_rx, done_tx, receive, || {}),
                ]
            }
            WorkloadKind::Rr => {
                let mut reply = vec![0u8; msg];
                let asking = client.clone();
                let timed = bare_times_round_trips();
                let ask = move |n| {
                    // The measurement rr exists for: each round trip timed
                    // and kept in a histogram of copybench's bounds, a new
                    // one per batch (see bare_times_round_trips).
                    let mut latency = timed.then(|| {
                        Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)
                            .expect("static bounds")
                    });
                    for _ in 0..n {
                        let t0 = timed.then(Instant::now);
                        sender.send_next();
                        assert!(recv_exact(&asking, &mut reply), "bare rr: server closed");
                        if let (Some(t0), Some(h)) = (t0, latency.as_mut()) {
                            h.saturating_record(t0.elapsed().as_nanos() as u64);
                        }
                    }
                    std::hint::black_box(latency);
                    // As copybench's client does after an rr batch: acknowledge
                    // the last reply now, so a zero-copy server's last
                    // completion does not wait for the delayed-ACK timer.
                    socket2::SockRef::from(&*asking)
                        .set_quickack(true)
                        .expect("TCP_QUICKACK");
                    sender.drain();
                };
                let draining = server.clone();
                let mut req = vec![0u8; msg];
                let mut replies = BareSender::new(cfg, server.clone(), kind);
                let answer = move |n| {
                    for _ in 0..n {
                        assert!(recv_exact(&server, &mut req), "bare rr: client closed");
                        replies.send_next();
                    }
                    replies.drain();
                };
                let drain = move || {
                    let mut rest = Vec::new();
                    let _ = (&*draining).read_to_end(&mut rest);
                };
                assert_eq!(cfg.receive, ReceiveKind::Copy, "rx cases are stream");
                vec![
                    bare_thread(client_cpu, 0, client_rx, done_tx.clone(), ask, close_client),
                    bare_thread(server_cpu, 1, server_rx, done_tx, answer, drain),
                ]
            }
        };
        Bare {
            cmds: [client_tx, server_tx],
            done,
            threads,
            msg_bytes: msg as u64,
            rx,
        }
    }

    /// Moves `messages` and returns the wall time and both threads' CPU ns.
    fn run(&self, messages: u64) -> Moved {
        let t0 = Instant::now();
        for cmd in &self.cmds {
            cmd.send(messages).expect("bare thread alive");
        }
        let mut spent = [Spent::default(); 2];
        for _ in 0..2 {
            let (role, s) = self.done.recv().expect("bare threads alive");
            spent[role] = s;
        }
        Moved {
            wall: t0.elapsed(),
            cpu_ns: spent[0].cpu_ns + spent[1].cpu_ns,
            server_cpu_ns: spent[1].cpu_ns,
            server_switches: Some(spent[1].switches),
            bytes: messages * self.msg_bytes,
            rx: self.rx.as_ref().map(|c| c.take()),
        }
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
    if c.receive == ReceiveKind::Zerocopy {
        // The selftest's settings, as `run --receive zerocopy --rcvlowat
        // 512K` sets them: a page of payload per segment, the mark at the window.
        cfg.receive = ReceiveKind::Zerocopy;
        cfg.rcvlowat = Some(copybench::RECV_MAP_WINDOW);
        cfg.transport.maxseg = Some(copybench::recv_map_mss());
    }
    cfg.pin = Placement::of(c.workload)
        .cpus()
        .map(|(client, server)| Pin {
            client: vec![client],
            server: vec![server],
        });
    cfg.transport.congestion = bench_congestion();
    cfg
}

/// The congestion control of both sides' sockets: `cubic`, unless
/// `COPYBENCH_OVERHEAD_CC` names another (or `host`: the host's default).
/// Not the host's by default: a congestion control that paces (`bbr`, this
/// project's VM's default) keeps an estimate of the path per connection
/// and holds each sender to it, so the bare loop's connection and
/// copybench's ran at two different speeds for as long as they lived. On
/// this VM, `one-copy-stream-4KiB` under `bbr` moved between about 800 and
/// 1,750 ns a message per connection, the bare side more often slow
/// (copybench "ahead" by 20 to 43 % in six runs); under `cubic` both sides
/// stayed at 780 to 920 ns.
fn bench_congestion() -> Option<copybench::Congestion> {
    match std::env::var("COPYBENCH_OVERHEAD_CC").as_deref() {
        Ok("host") => None,
        Ok(name) => Some(
            copybench::Congestion::parse(name)
                .unwrap_or_else(|e| panic!("COPYBENCH_OVERHEAD_CC: {e}")),
        ),
        // A host without cubic (it is built into most kernels) keeps its own,
        // and says so: the pacing caveat above then applies.
        Err(_) => {
            let have = copybench::available_congestion().unwrap_or_default();
            if have.split_whitespace().any(|cc| cc == "cubic") {
                Some(copybench::Congestion::parse("cubic").expect("a valid name"))
            } else {
                eprintln!("overhead: no cubic on this host ({have:?}): both sides keep the host's congestion control");
                None
            }
        }
    }
}

/// One comparison: copybench running `strategy` in `layout` against the bare loop `bare`.
#[derive(Debug, Clone, Copy)]
struct Case {
    workload: WorkloadKind,
    field_size: usize,
    strategy: StrategyKind,
    layout: Layout,
    bare: BareKind,
    /// How both sides receive: `Zerocopy` cases (`-rx`) pit copybench's
    /// mapping receiver against the selftest's loop ([`BareMapper`]).
    receive: ReceiveKind,
}

impl Case {
    /// `{strategy}-{workload}-{field}[-page][-single][-rx]`, e.g.
    /// `uring-zc-stream-64KiB-page`, `zero-copy-stream-64KiB-rx`.
    fn name(&self) -> String {
        let mut name = format!(
            "{}-{}-{}",
            self.strategy.name(),
            self.workload.name(),
            copybench::model::size::format_size(self.field_size as u64).replace(' ', "")
        );
        if self.layout == Layout::Page && self.bare == BareKind::Same {
            name.push_str("-page");
        }
        if self.bare == BareKind::Single {
            name.push_str("-single");
        }
        if self.receive == ReceiveKind::Zerocopy {
            name.push_str("-rx");
        }
        name
    }
}

/// The cases: every strategy this host can run at 4 KiB stream and 64 B rr
/// against a bare loop of its own syscalls; for each strategy with
/// completions also 4 KiB in the page layout, 64 KiB in both layouts, and
/// the page layout against the single-buffer reference at 64 KiB. Where
/// this host maps received pages (`recv_map_support`), 64 KiB stream with
/// both sides receiving by mapping (`-rx`) behind `zero-copy`, whose
/// loopback copy gives the receiver fresh mappable pages, and behind
/// `one-copy`, whose bytes never map (every round a skip hint and a `recv`).
fn cases() -> Vec<Case> {
    use WorkloadKind::{Rr, Stream};
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for strategy in StrategyKind::ALL {
        if let Err(why) = strategy.host_support() {
            skipped.push(format!("{}: {why}", strategy.name()));
            continue;
        }
        let case = |workload, field_size, layout, bare| Case {
            workload,
            field_size,
            strategy,
            layout,
            bare,
            receive: ReceiveKind::Copy,
        };
        out.push(case(Stream, 4096, Layout::Heap, BareKind::Same));
        out.push(case(Rr, 64, Layout::Heap, BareKind::Same));
        if strategy.has_completions() {
            out.push(case(Stream, 4096, Layout::Page, BareKind::Same));
            out.push(case(Stream, 65536, Layout::Heap, BareKind::Same));
            out.push(case(Stream, 65536, Layout::Page, BareKind::Same));
            out.push(case(Stream, 65536, Layout::Page, BareKind::Single));
        }
        if matches!(strategy, StrategyKind::ZeroCopy | StrategyKind::OneCopy) {
            // 64 KiB messages, and messages a window long (512 KiB), where
            // copybench's receiver, which never waits past the message it
            // is in, waits for a whole window as the selftest's loop does.
            match copybench::recv_map_support() {
                Ok(_) => {
                    for field in [65536, copybench::RECV_MAP_WINDOW] {
                        out.push(Case {
                            receive: ReceiveKind::Zerocopy,
                            ..case(Stream, field, Layout::Page, BareKind::Same)
                        });
                    }
                }
                Err(why) => skipped.push(format!("{}-stream-*-page-rx: {why}", strategy.name())),
            }
        }
    }
    for why in skipped {
        eprintln!("overhead: left out {why}");
    }
    out.retain(|c| wanted(&c.name()));
    out
}

fn case(c: &mut Criterion, case: &Case) {
    let cfg = copybench_config(case);
    let msg = cfg.shape.message_bytes();
    let mut g = c.benchmark_group(format!("overhead-{}", case.name()));
    g.throughput(Throughput::Bytes(msg as u64));
    if case.workload == WorkloadKind::Rr {
        // ~50 us per exchange here: fewer, longer samples.
        g.sample_size(20).measurement_time(Duration::from_secs(8));
    } else {
        g.sample_size(30).measurement_time(Duration::from_secs(6));
    }
    g.warm_up_time(Duration::from_secs(2));

    let bare = Bare::start(&cfg, case.bare);
    g.bench_function("bare", |b| b.iter_custom(|n| bare.run(n).wall));
    bare.stop();

    let mut exp = Experiment::start(&cfg).expect("copybench experiment starts");
    g.bench_function("copybench", |b| {
        b.iter_custom(|n| run_copybench(&mut exp, n))
    });
    exp.stop().expect("copybench experiment stops");
    g.finish();
}

fn run_copybench(exp: &mut Experiment, messages: u64) -> Duration {
    run_copybench_cpu(exp, messages).wall
}

/// Moves `messages` and returns the wall time, the roles' CPU ns and what
/// the receiver did.
fn run_copybench_cpu(exp: &mut Experiment, messages: u64) -> Moved {
    let t0 = Instant::now();
    let r = exp.run(Batch::Messages(messages)).expect("copybench batch");
    let wall = t0.elapsed();
    assert_eq!(r.messages, messages, "copybench moved every message");
    Moved {
        wall,
        cpu_ns: r.client.cpu.total_ns + r.server.cpu.total_ns,
        server_cpu_ns: r.server.cpu.total_ns,
        server_switches: r
            .server
            .counters
            .get(Counter::ContextSwitches.name())
            .map(|n| n as u64),
        bytes: r.bytes,
        rx: r.rx.map(|x| (x.mapped_bytes, x.copied_bytes)),
    }
}

fn overhead(c: &mut Criterion) {
    for case_ in cases() {
        case(c, &case_);
    }
}

/// `COPYBENCH_OVERHEAD_CASES=one-copy-rr-64B,zero-copy-stream-64KiB`
/// (comma-separated case names) runs only those.
fn wanted(name: &str) -> bool {
    std::env::var("COPYBENCH_OVERHEAD_CASES")
        .ok()
        .is_none_or(|o| o.split(',').any(|c| c == name))
}

criterion_group!(benches, overhead);

/// Where both sides' threads run, the same for the bare loop and for
/// copybench (`COPYBENCH_OVERHEAD_PIN`): left to the scheduler, an rr pair
/// on this 2-vCPU guest lands in one of two states several-fold apart
/// (both ends on one CPU, or a wake-up across CPUs through the hypervisor)
/// and each side of a pair keeps its own state, so the scheduler, not
/// copybench, decides the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// Client on the first allowed CPU, server on the second: the placement
    /// a sweep uses by default (`--pin`).
    Split,
    /// Both ends on the first allowed CPU: no wake-up crosses CPUs, so
    /// nothing the host adds to a cross-CPU wake-up dilutes the overhead.
    Same,
    /// Left to the scheduler.
    Free,
}

impl Placement {
    /// `COPYBENCH_OVERHEAD_PIN` (split, same or none) for every case, or
    /// by default per workload: rr `same`, where a round trip is the two
    /// ends' own work and nothing else (on a guest whose idle vCPUs halt,
    /// a wake-up across CPUs adds tens of µs of the hypervisor's to each
    /// exchange, the same on both sides, which would dilute the overhead
    /// several-fold); stream `split`, sender and receiver running at once
    /// as in a sweep (on one CPU they take turns, and how many messages
    /// each turn moves, not the per-message work, sets the cost).
    fn of(workload: WorkloadKind) -> Placement {
        match std::env::var("COPYBENCH_OVERHEAD_PIN").as_deref() {
            Err(_) => match workload {
                WorkloadKind::Rr => Placement::Same,
                WorkloadKind::Stream => Placement::Split,
            },
            Ok("split") => Placement::Split,
            Ok("same") => Placement::Same,
            Ok("none") => Placement::Free,
            Ok(other) => panic!("COPYBENCH_OVERHEAD_PIN={other}: must be split, same or none"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Placement::Split => "split",
            Placement::Same => "same",
            Placement::Free => "none",
        }
    }

    /// The CPUs of the client and the server thread, when pinned.
    fn cpus(self) -> Option<(usize, usize)> {
        let cpus = copybench::config::allowed_cpus();
        let first = *cpus.first()?;
        match self {
            Placement::Split => Some((first, *cpus.get(1).unwrap_or(&first))),
            Placement::Same => Some((first, first)),
            Placement::Free => None,
        }
    }
}

/// Alternating pairs per case; `COPYBENCH_OVERHEAD_ROUNDS` overrides the
/// count, and `COPYBENCH_OVERHEAD_CASES` picks cases.
const ROUNDS: u64 = 100;
/// Wall time each side of a pair aims for.
const BATCH_TIME: Duration = Duration::from_millis(50);

/// Per-message figures of one side over the pairs, and its receiver's CPU
/// per byte and bytes mapped and copied.
#[derive(Default)]
struct Side {
    wall_ns: Vec<f64>,
    cpu_ns: Vec<f64>,
    /// The sending thread's (client's) CPU per message.
    tx_cpu_ns: Vec<f64>,
    rx_cpu_ns_per_byte: Vec<f64>,
    /// The receiver's context switches per MiB received: its sleeps, each
    /// ended by a wake-up its sender's softirq paid for on loopback.
    rx_switches_per_mib: Vec<f64>,
    mapped: u64,
    copied: u64,
}

impl Side {
    /// Records a batch; returns its (wall, CPU, sender's CPU) per message
    /// and the receiver's CPU per byte.
    fn record(&mut self, m: &Moved, batch: u64) -> (f64, f64, f64, f64) {
        let wall = m.wall.as_nanos() as f64 / batch as f64;
        let cpu = m.cpu_ns as f64 / batch as f64;
        let tx_cpu = (m.cpu_ns - m.server_cpu_ns) as f64 / batch as f64;
        let rx_cpu = m.server_cpu_ns as f64 / m.bytes as f64;
        self.wall_ns.push(wall);
        self.cpu_ns.push(cpu);
        self.tx_cpu_ns.push(tx_cpu);
        self.rx_cpu_ns_per_byte.push(rx_cpu);
        if let Some(n) = m.server_switches {
            self.rx_switches_per_mib
                .push(n as f64 / (m.bytes as f64 / f64::from(1u32 << 20)));
        }
        if let Some((mapped, copied)) = m.rx {
            self.mapped += mapped;
            self.copied += copied;
        }
        (wall, cpu, tx_cpu, rx_cpu)
    }

    /// Bytes mapped / bytes received over the pairs (mapping receivers only).
    fn mapped_share(&self) -> Option<f64> {
        let all = self.mapped + self.copied;
        (all > 0).then(|| self.mapped as f64 / all as f64)
    }
}

/// The pairs' overheads (copybench / bare - 1, in percent) of one measure,
/// grouped by set-up.
#[derive(Default)]
struct Overheads(Vec<Vec<f64>>);

impl Overheads {
    /// Starts the next set-up's group.
    fn next_setup(&mut self) {
        self.0.push(Vec::new());
    }

    fn record(&mut self, copybench: f64, bare: f64) {
        self.0
            .last_mut()
            .expect("next_setup before record")
            .push((copybench / bare - 1.0) * 100.0);
    }

    /// Each set-up's median overhead.
    fn setup_medians(&self) -> Vec<f64> {
        self.0
            .iter()
            .filter_map(|pairs| Estimate::of(pairs.iter().copied()).map(|e| e.median))
            .collect()
    }

    /// The median of the set-ups' medians with its 95 % interval over
    /// set-ups (copybench's own rule, `stats::Estimate`: order statistics,
    /// no assumption of a distribution). With one set-up, its pairs'.
    fn estimate(&self) -> Estimate {
        let medians = self.setup_medians();
        if medians.len() >= 2 {
            Estimate::of(medians).expect("two or more set-ups")
        } else {
            self.pairs()
        }
    }

    /// Every pair pooled, as if pairs were independent: narrower than
    /// [`Self::estimate`] where set-ups differ; kept to show by how much.
    fn pairs(&self) -> Estimate {
        Estimate::of(self.0.iter().flatten().copied()).expect("at least two pairs")
    }

    /// Quartiles, to show the spread of single pairs.
    fn quartiles(&self) -> (f64, f64) {
        let mut v: Vec<f64> = self.0.iter().flatten().copied().collect();
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        (at(0.25), at(0.75))
    }
}

/// One case's paired result.
struct Paired {
    case: Case,
    rounds: u64,
    /// Set-ups the pairs were spread over.
    setups: usize,
    batch: u64,
    bare: Side,
    copybench: Side,
    wall: Overheads,
    cpu: Overheads,
    /// The sender's CPU per message.
    tx_cpu: Overheads,
    /// The receiver's CPU per byte.
    rx_cpu: Overheads,
}

/// The side a pair compares with the bare loop: copybench, or (a null
/// comparison, `COPYBENCH_OVERHEAD_NULL=1`) a second bare loop of its own
/// set-up, whose overhead is 0 by construction, so an interval that leaves
/// out 0 shows what the method calls from set-up differences alone.
enum Other {
    Copybench(Box<Experiment>),
    Bare(Bare),
}

impl Other {
    fn start(cfg: &Config, case: &Case) -> Other {
        if null_comparison() {
            Other::Bare(Bare::start(cfg, case.bare))
        } else {
            Other::Copybench(Box::new(
                Experiment::start(cfg).expect("copybench experiment starts"),
            ))
        }
    }

    fn run(&mut self, messages: u64) -> Moved {
        match self {
            Other::Copybench(exp) => run_copybench_cpu(exp, messages),
            Other::Bare(bare) => bare.run(messages),
        }
    }

    fn stop(self) {
        match self {
            Other::Copybench(exp) => exp.stop().expect("copybench experiment stops"),
            Other::Bare(bare) => bare.stop(),
        }
    }
}

/// `COPYBENCH_OVERHEAD_NULL=1`: pit the bare loop against a second bare
/// loop instead of copybench (see [`Other`]).
fn null_comparison() -> bool {
    env_flag("COPYBENCH_OVERHEAD_NULL", false)
}

/// Set-ups a case's pairs are spread over (`COPYBENCH_OVERHEAD_SETUPS`).
/// A set-up is both sides' connections, threads and buffers, made afresh;
/// within one, pairs agree more closely than set-ups agree with each other
/// (the 64 KiB zero-copy cases moved by 3 to 7 points from one set-up to
/// the next, each run's interval a point or two wide), so pairs of one
/// set-up are not independent draws. The figure is therefore the median of
/// the set-ups' medians, and its interval is taken over set-ups.
const SETUPS: u64 = 10;

fn setups(rounds: u64) -> usize {
    let n = env_number("COPYBENCH_OVERHEAD_SETUPS", SETUPS, 1);
    // At least two pairs a set-up, so each has a median of its own.
    usize::try_from(n.min(rounds / 2).max(1)).unwrap_or(usize::MAX)
}

/// The index of this process's first set-up among all of a run's
/// (`COPYBENCH_OVERHEAD_SETUP_OFFSET`, set by scripts/overhead.sh; 0 alone).
fn setup_offset() -> usize {
    usize::try_from(env_number("COPYBENCH_OVERHEAD_SETUP_OFFSET", 0, 0)).unwrap_or(usize::MAX)
}

fn paired(case: &Case, rounds: u64) -> Paired {
    let cfg = copybench_config(case);
    let setups = setups(rounds);
    let mut out = Paired {
        case: *case,
        rounds,
        setups,
        batch: 0,
        bare: Side::default(),
        copybench: Side::default(),
        wall: Overheads::default(),
        cpu: Overheads::default(),
        tx_cpu: Overheads::default(),
        rx_cpu: Overheads::default(),
    };
    let mut round = 0;
    let first_setup = setup_offset();
    for setup in 0..setups {
        // Which side is made first alternates from set-up to set-up (and
        // across the processes of scripts/overhead.sh), so neither always
        // gets the memory and threads made first.
        let (bare, mut other) = if (first_setup + setup) % 2 == 0 {
            let bare = Bare::start(&cfg, case.bare);
            (bare, Other::start(&cfg, case))
        } else {
            let other = Other::start(&cfg, case);
            (Bare::start(&cfg, case.bare), other)
        };

        // Warm both up. The first set-up sizes batches to BATCH_TIME from
        // the bare side, the median of five probes, so one slow probe (a
        // descheduling, a burst of wake-ups) does not make every batch of
        // the case a few ms long; later set-ups keep that size.
        let probe = 2000;
        bare.run(probe);
        other.run(probe);
        if setup == 0 {
            let mut probes: Vec<f64> = (0..5)
                .map(|_| bare.run(probe).wall.as_secs_f64() / probe as f64)
                .collect();
            probes.sort_by(f64::total_cmp);
            out.batch = ((BATCH_TIME.as_secs_f64() / probes[2]) as u64).max(100);
        }
        let batch = out.batch;
        // This set-up's share of the rounds (the first ones take the rest).
        let share = rounds / setups as u64 + u64::from((setup as u64) < rounds % setups as u64);
        out.wall.next_setup();
        out.cpu.next_setup();
        out.tx_cpu.next_setup();
        out.rx_cpu.next_setup();
        for _ in 0..share {
            let (b, c) = if round % 2 == 0 {
                let b = bare.run(batch);
                (b, other.run(batch))
            } else {
                let c = other.run(batch);
                (bare.run(batch), c)
            };
            round += 1;
            let (b_wall, b_cpu, b_tx, b_rx) = out.bare.record(&b, batch);
            let (c_wall, c_cpu, c_tx, c_rx) = out.copybench.record(&c, batch);
            out.wall.record(c_wall, b_wall);
            out.cpu.record(c_cpu, b_cpu);
            out.tx_cpu.record(c_tx, b_tx);
            out.rx_cpu.record(c_rx, b_rx);
        }
        bare.stop();
        other.stop();
    }
    out
}

fn report_paired(results: &[Paired]) {
    let is_null = null_comparison();
    println!(
        "\n{} over a bare loop, alternating pairs spread over set-ups made afresh: median per \
         message, overhead as the median of the set-ups' median pair ratios [95 % interval \
         over set-ups, all in this one process: scripts/overhead.sh spreads them over \
         several, whose runs differ more than one run's set-ups]; threads placed (both \
         sides alike): rr {}, stream {}",
        if is_null {
            "NULL COMPARISON (COPYBENCH_OVERHEAD_NULL=1): a second bare loop"
        } else {
            "copybench overhead"
        },
        Placement::of(WorkloadKind::Rr).name(),
        Placement::of(WorkloadKind::Stream).name()
    );
    let median = |v: &[f64]| Estimate::of(v.iter().copied()).map_or(f64::NAN, |e| e.median);
    let mut json = Vec::new();
    for r in results {
        // One measure: "bare / copybench UNIT +median % [lo, hi]".
        let shown = |side: fn(&Side) -> &Vec<f64>, o: &Overheads, unit: &str, digits: usize| {
            let e = o.estimate();
            format!(
                "{:>8.digits$} / {:>8.digits$} {unit} {:+6.2} % [{:+.2}, {:+.2}]",
                median(side(&r.bare)),
                median(side(&r.copybench)),
                e.median,
                e.lo,
                e.hi
            )
        };
        let pooled = r.cpu.pairs();
        println!(
            "{:<32} wall {}   CPU {}   ({} pairs of {} messages in {} set-ups; CPU with pairs \
             pooled [{:+.2}, {:+.2}])",
            r.case.name(),
            shown(|s| &s.wall_ns, &r.wall, "ns", 0),
            shown(|s| &s.cpu_ns, &r.cpu, "ns", 0),
            r.rounds,
            r.batch,
            r.setups,
            pooled.lo,
            pooled.hi,
        );
        if r.case.workload == WorkloadKind::Stream {
            // Why a copying receiver's speed moves its sender (recv.rs,
            // default_mark): each of its sleeps costs the sender a wake-up.
            let per_mib = |s: &Side| {
                Estimate::of(s.rx_switches_per_mib.iter().copied())
                    .map_or("unavailable".to_string(), |e| format!("{:.1}", e.median))
            };
            // Which thread the overhead is in: the sender's CPU per
            // message and the receiver's per byte, paired as the total is.
            println!(
                "{:<32} sender CPU {}   receiver CPU {}   receiver context switches per MiB \
                 {} / {} (bare / copybench)",
                "",
                shown(|s| &s.tx_cpu_ns, &r.tx_cpu, "ns/msg", 0),
                shown(|s| &s.rx_cpu_ns_per_byte, &r.rx_cpu, "ns/B", 4),
                per_mib(&r.bare),
                per_mib(&r.copybench)
            );
        }
        if r.case.receive == ReceiveKind::Zerocopy {
            let share = |s: &Side| {
                s.mapped_share()
                    .map_or("unavailable".to_string(), |m| format!("{m:.3}"))
            };
            println!(
                "{:<32} mapped share {} / {} (bare / copybench; bare waits per {})",
                "",
                share(&r.bare),
                share(&r.copybench),
                RxWait::get().name(),
            );
        }
        let measure = |side: fn(&Side) -> &Vec<f64>, o: &Overheads| {
            let (e, pooled) = (o.estimate(), o.pairs());
            let (q1, q3) = o.quartiles();
            serde_json::json!({
                "bare_ns_per_msg": median(side(&r.bare)),
                "copybench_ns_per_msg": median(side(&r.copybench)),
                "overhead_pct": {
                    "median": e.median, "lo": e.lo, "hi": e.hi, "coverage": e.coverage,
                    "q1": q1, "q3": q3,
                    "setup_medians": o.setup_medians(),
                    "pairs_pooled": {"median": pooled.median, "lo": pooled.lo, "hi": pooled.hi},
                },
            })
        };
        json.push(serde_json::json!({
            "case": r.case.name(),
            "strategy": r.case.strategy.name(),
            "workload": r.case.workload.name(),
            "field_size": r.case.field_size,
            "layout": r.case.layout.name(),
            "reference": if r.case.bare == BareKind::Single { "single" } else { "same" },
            "placement": Placement::of(r.case.workload).name(),
            "bare_times_round_trips": r.case.workload == WorkloadKind::Rr && bare_times_round_trips(),
            "rounds": r.rounds,
            "setups": r.setups,
            "null_comparison": is_null,
            "batch_messages": r.batch,
            "wall": measure(|s| &s.wall_ns, &r.wall),
            "cpu": measure(|s| &s.cpu_ns, &r.cpu),
            "sender_cpu": measure(|s| &s.tx_cpu_ns, &r.tx_cpu),
            // The receiver's CPU per byte (ns_per_msg is per byte here): the
            // figure the budget holds for mapping receivers.
            "rx_cpu_per_byte": measure(|s| &s.rx_cpu_ns_per_byte, &r.rx_cpu),
            "receive": r.case.receive.name(),
        }));
        if r.case.receive == ReceiveKind::Zerocopy {
            // Each side's mapped share (null: it received nothing by mapping).
            let last = json.last_mut().expect("pushed above");
            last["mapped_share"] = serde_json::json!({
                "bare": r.bare.mapped_share(),
                "copybench": r.copybench.mapped_share(),
            });
            last["bare_rx_wait"] = RxWait::get().name().into();
        }
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
    let rounds = env_number("COPYBENCH_OVERHEAD_ROUNDS", ROUNDS, 2);
    let results: Vec<Paired> = cases().iter().map(|c| paired(c, rounds)).collect();
    report_paired(&results);
}
