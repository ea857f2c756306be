//! `uring` and `uring-zc`: the one-copy iovecs (header, then each field),
//! handed to the kernel through an io_uring instead of `sendmsg(2)`.
//!
//! - `uring` submits `IORING_OP_SENDMSG`: the copying baseline, so what
//!   submitting through a ring costs shows apart from zero-copy.
//! - `uring-zc` submits `IORING_OP_SENDMSG_ZC` with
//!   `IORING_SEND_ZC_REPORT_USAGE`: each request posts its result CQE, then,
//!   once the kernel no longer reads the pages, a notification CQE
//!   (`IORING_CQE_F_NOTIF`) whose `res` carries `IORING_NOTIF_USAGE_ZC_COPIED`
//!   when the kernel copied after all. Copied notifications count into the
//!   same `copied` figure `MSG_ZEROCOPY` completions do.
//!
//! Contract: one ring per connection, made in `prepare` on the thread that
//! sends. One request is unresolved at a time: a send submits and waits for
//! its result in one `io_uring_enter`, and a partial result is continued with
//! a new request for the rest. Two requests in flight on one TCP socket could
//! complete out of order (io_uring orders them only when linked, and a short
//! send breaks a link), so this is what keeps the byte stream in order. What
//! stays in flight are zero-copy notifications, at most one per request, and
//! requests are bounded by the pool: a slot's buffers are handed back for
//! rewriting only once every request that covered them has its notification
//! (the same lifetime rule as `zero-copy`, on the same [`Completions`]
//! bookkeeping, with each request's id as its `user_data`). Waits are bounded
//! by the socket's send timeout; a CQE error becomes the send error of the
//! connection, as a failed `sendmsg` does.

use std::io::{self, IoSlice};
use std::os::fd::BorrowedFd;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{
    own_wait_limit, send_failed, CompletionStats, Completions, SendError, Strategy, ZeroCopyStats,
};
use crate::engine::message::Message;
use crate::sys::{RingCqe, RingSend, SendRing, IORING_NOTIF_USAGE_ZC_COPIED};

/// Submission queue entries: one send and a cancel at most are ever queued.
const SQ_ENTRIES: u32 = 4;
/// Completion queue entries: a result per send plus a notification per
/// request still in flight, which the pool (64 slots at most by default)
/// bounds. Beyond this the kernel keeps CQEs in its overflow list (no CQE is
/// ever dropped since Linux 5.5), so this is a size, not a limit.
const CQ_ENTRIES: u32 = 256;
/// Longest single wait for completions, so deadlines are honoured.
const WAIT_SLICE: Duration = Duration::from_millis(50);

pub struct Uring {
    op: RingSend,
    ring: Option<SendRing>,
    /// Requests that will get a notification, by id (`uring-zc` only).
    completions: Completions,
    /// Notifications that came before their request's result: (id, copied).
    early: Vec<(u64, bool)>,
    /// The id the next request that gets a notification will have: the
    /// count of such requests so far.
    next_id: u64,
    /// The completion figures, as `zero-copy` records them.
    stats: CompletionStats,
    /// The socket's send timeout, read once: how long one send may wait.
    timeout: Duration,
}

impl Uring {
    /// `IORING_OP_SENDMSG`, the copying baseline.
    pub fn copying() -> Uring {
        Uring::new(RingSend::SendMsg)
    }

    /// `IORING_OP_SENDMSG_ZC`.
    pub fn zero_copy() -> Uring {
        Uring::new(RingSend::SendMsgZc)
    }

    fn new(op: RingSend) -> Uring {
        Uring {
            op,
            ring: None,
            completions: Completions::default(),
            early: Vec::new(),
            next_id: 0,
            stats: CompletionStats::default(),
            timeout: Duration::from_secs(10),
        }
    }

    fn ring(&mut self) -> &mut SendRing {
        self.ring
            .as_mut()
            .expect("Strategy::prepare makes the ring before any send")
    }

    /// Request `id`'s notification: its buffers are the sender's again.
    fn notified(&mut self, id: u64, copied: bool) -> Result<(), SendError> {
        self.completions.complete(id as u32, id as u32, copied)?;
        self.stats.notified(1, copied);
        Ok(())
    }

    /// Applies one CQE. Returns the result when it is the result of `want`.
    fn apply(&mut self, c: RingCqe, want: Option<u64>) -> Result<Option<i32>, SendError> {
        if c.notif {
            let copied = (c.result as u32) & IORING_NOTIF_USAGE_ZC_COPIED != 0;
            if c.user_data < self.next_id {
                self.notified(c.user_data, copied)?;
            } else {
                self.early.push((c.user_data, copied));
            }
            return Ok(None);
        }
        if Some(c.user_data) != want {
            return Err(SendError::Io(io::Error::other(format!(
                "io_uring posted a result for request {} while waiting for {want:?}",
                c.user_data
            ))));
        }
        // F_MORE: a notification will follow, so the request gets its id now.
        if c.more {
            let id = self.completions.issue();
            debug_assert_eq!((id, id), (c.user_data, self.next_id));
            self.next_id += 1;
            self.stats.sent(id);
            if let Some(at) = self.early.iter().position(|(ud, _)| *ud == id) {
                let (_, copied) = self.early.swap_remove(at);
                self.notified(id, copied)?;
            }
        }
        Ok(Some(c.result))
    }

    /// Pops every ready CQE; returns the result of `want` if it was among them.
    fn reap(&mut self, want: Option<u64>) -> Result<Option<i32>, SendError> {
        let mut result = None;
        let before = self.completions.completed();
        while let Some(c) = self.ring().pop() {
            if let Some(r) = self.apply(c, want)? {
                result = Some(r);
            }
        }
        if self.completions.completed() != before {
            let c = &self.completions;
            self.stats.timed_done(|id| c.is_done(id));
        }
        Ok(result)
    }

    /// Submits the queued request `id` and waits for its result. The first
    /// wait needs no clock: only a wait woken by something else reads it.
    fn result_of(&mut self, id: u64) -> Result<i32, SendError> {
        let timeout = self.timeout;
        let mut deadline = None;
        let mut wait = timeout;
        loop {
            let woke = self.ring().submit_and_wait(1, wait)?;
            if let Some(r) = self.reap(Some(id))? {
                return Ok(r);
            }
            let now = Instant::now();
            let deadline = *deadline.get_or_insert(now + timeout);
            if !woke || now >= deadline {
                return Err(self.cancel(id));
            }
            wait = deadline - now;
        }
    }

    /// Cancels request `id` after its deadline and waits (briefly) until the
    /// kernel lets go of it; returns the error the send fails with.
    fn cancel(&mut self, id: u64) -> SendError {
        let timed_out = SendError::TimedOut(self.timeout);
        if let Err(e) = self.ring().push_cancel(id) {
            return SendError::Io(e);
        }
        let give_up = Instant::now() + Duration::from_secs(1);
        while self.ring().unresolved() > 0 && Instant::now() < give_up {
            if let Err(e) = self.ring().submit_and_wait(1, WAIT_SLICE) {
                return SendError::Io(e);
            }
            if let Err(e) = self.reap(Some(id)) {
                return e;
            }
        }
        timed_out
    }

    /// Reaps until `done` holds, waiting in the ring between reaps.
    fn wait_until(
        &mut self,
        timeout: Duration,
        done: impl Fn(&Completions) -> bool,
    ) -> Result<(), SendError> {
        let start = Instant::now();
        let deadline = start + timeout;
        loop {
            self.reap(None)?;
            if done(&self.completions) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(SendError::CompletionsLate {
                    in_flight: self.completions.in_flight(),
                    waited: now - start,
                });
            }
            self.ring()
                .submit_and_wait(1, (deadline - now).min(WAIT_SLICE))?;
        }
    }

    /// After `ENOBUFS`: let some notification arrive (pinned pages go back),
    /// or pause briefly when none is pending.
    fn back_off(&mut self, deadline: Instant) -> Result<(), SendError> {
        self.stats.enobufs();
        let now = Instant::now();
        if now >= deadline {
            return Err(SendError::Io(io::Error::from_raw_os_error(libc::ENOBUFS)));
        }
        if self.completions.in_flight() > 0 {
            let soon = (deadline - now).min(Duration::from_millis(10));
            let before = self.completions.in_flight();
            match self.wait_until(soon, |c| c.in_flight() < before) {
                Err(SendError::CompletionsLate { .. }) | Ok(()) => Ok(()),
                Err(e) => Err(e),
            }
        } else {
            std::thread::sleep(Duration::from_millis(1));
            Ok(())
        }
    }

    /// One request per call until every byte of `bufs` is taken.
    fn send_all(
        &mut self,
        fd: BorrowedFd<'_>,
        mut bufs: &mut [IoSlice<'_>],
    ) -> Result<Option<u64>, SendError> {
        let mut left: usize = bufs.iter().map(|b| b.len()).sum();
        let mut last = None;
        let mut deadline = None;
        while left > 0 {
            // The id the request gets if a notification follows; with one
            // request unresolved at a time it is also a unique user_data.
            let id = self.next_id;
            let op = self.op;
            self.ring().push_send(fd, bufs, op, 0, id)?;
            let res = self.result_of(id)?;
            if self.next_id > id {
                last = Some(id);
            }
            match res {
                n if n > 0 => {
                    let n = n as usize;
                    left -= n;
                    // The usual case, everything taken at once, skips the advance.
                    if left > 0 {
                        IoSlice::advance_slices(&mut bufs, n);
                    }
                }
                0 => {
                    return Err(SendError::Io(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "io_uring sendmsg took no bytes",
                    )))
                }
                e if -e == libc::EINTR || -e == libc::EAGAIN => {}
                e if -e == libc::ENOBUFS => {
                    let timeout = self.timeout;
                    let deadline = *deadline.get_or_insert_with(|| Instant::now() + timeout);
                    self.back_off(deadline)?;
                }
                e => return Err(send_failed(fd, io::Error::from_raw_os_error(-e))),
            }
        }
        Ok(last)
    }
}

impl Strategy for Uring {
    fn prepare(&mut self, fd: BorrowedFd<'_>) -> Result<(), SendError> {
        let ring = SendRing::new(SQ_ENTRIES, CQ_ENTRIES)
            .map_err(|e| SendError::Unavailable(explain_setup_error(&e)))?;
        self.ring = Some(ring);
        self.timeout = own_wait_limit(fd)?;
        Ok(())
    }

    fn reclaim(
        &mut self,
        _: BorrowedFd<'_>,
        slot: usize,
        timeout: Duration,
    ) -> Result<(), SendError> {
        match self.completions.holding(slot) {
            Some(last) => {
                let start = Instant::now();
                let res = self.wait_until(timeout, |c| c.done_through(last));
                self.stats.reclaim_waited(start.elapsed());
                res
            }
            None => Ok(()),
        }
    }

    fn send(&mut self, fd: BorrowedFd<'_>, msg: &Message, slot: usize) -> Result<(), SendError> {
        let last = msg.with_io_slices(|bufs| self.send_all(fd, bufs))?;
        if self.op == RingSend::SendMsgZc {
            self.completions.lent(slot, last);
        }
        Ok(())
    }

    fn drain(&mut self, _: BorrowedFd<'_>, timeout: Duration) -> Result<(), SendError> {
        if self.ring.is_none() || self.completions.all_done() {
            return Ok(());
        }
        self.wait_until(timeout, Completions::all_done)
    }

    fn take_stats(&mut self) -> Option<ZeroCopyStats> {
        (self.op == RingSend::SendMsgZc).then(|| self.stats.take())
    }
}

/// What this host's io_uring can do for copybench, probed once per process
/// by creating a ring the way the strategies do, asking it which operations
/// it knows (`IORING_REGISTER_PROBE`), and, for `uring-zc`, making one real
/// 1-byte `IORING_OP_SENDMSG_ZC` with `IORING_SEND_ZC_REPORT_USAGE` on a
/// loopback TCP pair: Linux 6.1 knows the opcode but refuses the flag
/// (`EINVAL`), which the opcode probe cannot tell.
#[derive(Debug, Clone)]
pub struct UringSupport {
    /// `Ok` with what was found, or why `uring` cannot run.
    pub sendmsg: Result<String, String>,
    /// `Ok` with what was found, or why `uring-zc` cannot run.
    pub sendmsg_zc: Result<String, String>,
}

/// The probe's answer, made on first use.
pub fn support() -> &'static UringSupport {
    static SUPPORT: OnceLock<UringSupport> = OnceLock::new();
    SUPPORT.get_or_init(probe)
}

fn probe() -> UringSupport {
    use io_uring::opcode::{SendMsg, SendMsgZc};
    let mut ring = match SendRing::new(SQ_ENTRIES, CQ_ENTRIES) {
        Ok(ring) => ring,
        Err(e) => {
            let why = explain_setup_error(&e);
            return UringSupport {
                sendmsg: Err(why.clone()),
                sendmsg_zc: Err(why),
            };
        }
    };
    match ring.supports(&[SendMsg::CODE, SendMsgZc::CODE]) {
        Ok(known) => {
            let answer = |known: bool, name: &str, since: &str| {
                if known {
                    Ok(format!("ring created, {name} supported"))
                } else {
                    Err(format!(
                        "this kernel's io_uring does not support {name} (Linux {since} or later)"
                    ))
                }
            };
            UringSupport {
                sendmsg: answer(known[0], "IORING_OP_SENDMSG", "5.3"),
                sendmsg_zc: answer(known[1], "IORING_OP_SENDMSG_ZC", "6.1")
                    .and_then(|_| probe_report_usage(&mut ring)),
            }
        }
        Err(e) => {
            let why = format!("a ring was created but IORING_REGISTER_PROBE failed: {e}");
            UringSupport {
                sendmsg: Err(why.clone()),
                sendmsg_zc: Err(why),
            }
        }
    }
}

/// Sends one byte with `IORING_OP_SENDMSG_ZC` and
/// `IORING_SEND_ZC_REPORT_USAGE` over a fresh loopback TCP pair and says
/// what its result means (see [`report_usage_answer`]). The byte is static,
/// so the kernel may read it for as long as it likes.
fn probe_report_usage(ring: &mut SendRing) -> Result<String, String> {
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;
    static BYTE: [u8; 1] = [0x5a];
    let pair = || -> io::Result<(TcpStream, TcpStream)> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let client = TcpStream::connect(listener.local_addr()?)?;
        let (server, _) = listener.accept()?;
        Ok((client, server))
    };
    let (client, _server) = match pair() {
        Ok(pair) => pair,
        Err(e) => {
            return Ok(format!(
                "ring created, IORING_OP_SENDMSG_ZC supported; IORING_SEND_ZC_REPORT_USAGE not probed (no loopback TCP pair: {e})"
            ))
        }
    };
    ring.push_send(
        client.as_fd(),
        &[IoSlice::new(&BYTE)],
        RingSend::SendMsgZc,
        0,
        0,
    )
    .map_err(|e| format!("queueing a probe IORING_OP_SENDMSG_ZC failed: {e}"))?;
    // The result, then (when it says one follows) the notification, so the
    // ring is left with nothing in flight.
    let deadline = Instant::now() + Duration::from_secs(1);
    let (mut result, mut more, mut notified) = (None, false, false);
    while Instant::now() < deadline && (result.is_none() || (more && !notified)) {
        ring.submit_and_wait(1, Duration::from_millis(100))
            .map_err(|e| format!("waiting for a probe IORING_OP_SENDMSG_ZC failed: {e}"))?;
        while let Some(cqe) = ring.pop() {
            if cqe.notif {
                notified = true;
            } else {
                (result, more) = (Some(cqe.result), cqe.more);
            }
        }
    }
    report_usage_answer(result)
}

/// What the probe send's result (`res` of its CQE; `None`: none within the
/// wait) says about `IORING_SEND_ZC_REPORT_USAGE`.
fn report_usage_answer(result: Option<i32>) -> Result<String, String> {
    const WHAT: &str =
        "a 1-byte IORING_OP_SENDMSG_ZC with IORING_SEND_ZC_REPORT_USAGE on loopback TCP";
    match result {
        Some(n) if n >= 0 => Ok(
            "ring created, IORING_OP_SENDMSG_ZC with IORING_SEND_ZC_REPORT_USAGE supported (a 1-byte send on loopback TCP)".into(),
        ),
        Some(n) if n == -libc::EINVAL => Err(
            "kernel lacks IORING_SEND_ZC_REPORT_USAGE (6.2+): IORING_OP_SENDMSG_ZC refuses the flag (EINVAL), and without it a copied send cannot be told from a zero-copy one".into(),
        ),
        Some(n) => Err(format!(
            "{WHAT} failed: {}",
            io::Error::from_raw_os_error(-n)
        )),
        None => Err(format!("{WHAT} got no result within 1 s")),
    }
}

/// Why `io_uring_setup` refused, in the host's terms, with what to do.
pub(crate) fn explain_setup_error(e: &io::Error) -> String {
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .map(|s| s.trim().to_string());
    match e.raw_os_error() {
        Some(libc::ENOSYS) => "io_uring_setup answers ENOSYS: the kernel was built without io_uring (CONFIG_IO_URING) or a seccomp filter blocks it (container runtimes' default profiles do; run with a profile that allows io_uring_setup/io_uring_enter/io_uring_register)".into(),
        Some(libc::EPERM) => match disabled.as_deref() {
            Some("2") => "io_uring_setup answers EPERM: kernel.io_uring_disabled = 2 disables io_uring for everyone (sudo sysctl -w kernel.io_uring_disabled=0)".into(),
            Some("1") => "io_uring_setup answers EPERM: kernel.io_uring_disabled = 1 allows only CAP_SYS_ADMIN or kernel.io_uring_group (run as root, or sudo sysctl -w kernel.io_uring_disabled=0)".into(),
            _ => "io_uring_setup answers EPERM: a seccomp filter or security module denies io_uring to this process".into(),
        },
        Some(libc::ENOMEM) => format!(
            "io_uring_setup answers ENOMEM: the ring's memory could not be locked; before Linux 5.12 rings are charged to RLIMIT_MEMLOCK (now {}): raise it (ulimit -l)",
            memlock_text()
        ),
        Some(libc::EOPNOTSUPP) => "the kernel's io_uring lacks IORING_FEAT_EXT_ARG (Linux 5.11), which timed waits need".into(),
        _ => format!("io_uring_setup failed: {e}"),
    }
}

/// `RLIMIT_MEMLOCK`'s soft limit, for messages and `doctor`.
pub(crate) fn memlock_text() -> String {
    use nix::sys::resource::{getrlimit, Resource};
    match getrlimit(Resource::RLIMIT_MEMLOCK) {
        Ok((soft, _)) if soft == libc::RLIM_INFINITY => "unlimited".into(),
        Ok((soft, _)) => format!("{} KiB", soft / 1024),
        Err(e) => format!("unknown ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    /// A peer that stops reading: io_uring ignores `SO_SNDTIMEO` (a request
    /// that cannot send waits in the kernel's poll), so the strategy's own
    /// deadline must end the send, cancel the request and say what happened.
    #[test]
    fn a_send_the_peer_never_reads_times_out_and_is_cancelled() {
        use crate::engine::message::Shape;
        use std::net::{TcpListener, TcpStream};
        type Case = (&'static str, fn() -> Uring, &'static Result<String, String>);
        let kinds: [Case; 2] = [
            ("uring", Uring::copying, &support().sendmsg),
            ("uring-zc", Uring::zero_copy, &support().sendmsg_zc),
        ];
        for (kind, strategy, ok) in kinds {
            if let Err(why) = ok {
                eprintln!("skipped {kind}: {why}");
                continue;
            }
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (_server, _) = listener.accept().unwrap();
            let timeout = Duration::from_millis(300);
            client.set_write_timeout(Some(timeout)).unwrap();
            let mut s = strategy();
            s.prepare(client.as_fd()).unwrap();
            let shape = Shape {
                fields: 1,
                field_size: 1 << 20,
            };
            let msg = Message::new(shape, 0);
            let began = Instant::now();
            let err = loop {
                match s.send(client.as_fd(), &msg, 0) {
                    Ok(()) => assert!(began.elapsed() < Duration::from_secs(10), "{kind}"),
                    Err(e) => break e,
                }
            };
            assert!(
                matches!(err, SendError::TimedOut(t) if t == timeout),
                "{kind}: {err}"
            );
            assert!(err.to_string().contains("stopped reading"), "{kind}: {err}");
            assert_eq!(s.ring().unresolved(), 0, "{kind}: not cancelled");
            assert!(began.elapsed() < Duration::from_secs(10), "{kind}");
        }
    }

    #[test]
    fn the_report_usage_probe_names_what_the_kernel_lacks() {
        assert!(report_usage_answer(Some(1))
            .unwrap()
            .contains("REPORT_USAGE supported"));
        let old = report_usage_answer(Some(-libc::EINVAL)).unwrap_err();
        assert!(
            old.starts_with("kernel lacks IORING_SEND_ZC_REPORT_USAGE (6.2+)"),
            "{old}"
        );
        let other = report_usage_answer(Some(-libc::ENOBUFS)).unwrap_err();
        assert!(
            other.contains("failed") && other.contains("No buffer space"),
            "{other}"
        );
        assert!(report_usage_answer(None)
            .unwrap_err()
            .contains("no result within 1 s"));
    }

    /// On this host the probe really sends: a kernel with the flag (6.2+)
    /// says so, one with the opcode but not the flag names the flag; either
    /// way the ring is left with nothing unresolved.
    #[test]
    fn the_report_usage_probe_on_this_host() {
        let Ok(mut ring) = SendRing::new(SQ_ENTRIES, CQ_ENTRIES) else {
            eprintln!("skipped: no io_uring here: {:?}", support().sendmsg);
            return;
        };
        let known = ring.supports(&[io_uring::opcode::SendMsgZc::CODE]).unwrap();
        if !known[0] {
            eprintln!("skipped: no IORING_OP_SENDMSG_ZC here");
            return;
        }
        let answer = probe_report_usage(&mut ring);
        assert_eq!(ring.unresolved(), 0);
        match &answer {
            Ok(what) => assert!(what.contains("REPORT_USAGE supported"), "{what}"),
            Err(why) => assert!(why.starts_with("kernel lacks"), "{why}"),
        }
        // The cached answer uring-zc is judged by is this one.
        assert_eq!(support().sendmsg_zc, answer);
    }

    /// What the kernel does with `IORING_OP_SENDMSG_ZC` on an AF_UNIX socket
    /// (seen on 6.18): the result is `-EOPNOTSUPP` (only sockets flagged
    /// `SOCK_SUPPORT_ZC`, TCP and UDP, take it), with `IORING_CQE_F_MORE`
    /// set, and a notification still follows. That is why `uring-zc` over
    /// unix is refused before anything runs. Plain `IORING_OP_SENDMSG` works.
    #[test]
    fn sendmsg_zc_is_refused_on_unix_sockets_and_sendmsg_is_not() {
        if support().sendmsg_zc.is_err() {
            eprintln!("skipped: {:?}", support().sendmsg_zc);
            return;
        }
        let (a, b) = UnixStream::pair().unwrap();
        let data = [7u8; 100];
        for (op, expect) in [
            (RingSend::SendMsgZc, -libc::EOPNOTSUPP),
            (RingSend::SendMsg, 100),
        ] {
            let mut ring = SendRing::new(SQ_ENTRIES, CQ_ENTRIES).unwrap();
            ring.push_send(a.as_fd(), &[IoSlice::new(&data)], op, 0, 1)
                .unwrap();
            assert!(ring.submit_and_wait(1, Duration::from_secs(5)).unwrap());
            let c = ring.pop().expect("a result CQE");
            assert_eq!(
                (c.user_data, c.result, c.notif),
                (1, expect, false),
                "{op:?}"
            );
            if c.more {
                // A notification still follows and must be collected.
                assert!(ring.submit_and_wait(1, Duration::from_secs(5)).unwrap());
                assert!(ring.pop().expect("a notification").notif, "{op:?}");
            }
            assert_eq!(ring.unresolved(), 0);
        }
        let mut got = [0u8; 100];
        assert_eq!(crate::sys::recv(b.as_fd(), &mut got, 0).unwrap(), 100);
    }
}
