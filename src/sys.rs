//! Every unsafe system call copybench makes lives here, and only here.
//!
//! Contract: each function is a thin, typed wrapper over one libc call. It
//! borrows the descriptor it works on, never owns or closes it, and turns a
//! `-1` return into `io::Error::last_os_error()` through [`syscall!`]. Nothing
//! here retries or sleeps: callers decide what `EINTR`, `EAGAIN` or `ENOBUFS`
//! mean for them. The one stateful wrapper is [`SendRing`], an io_uring that
//! owns the `msghdr`s of its requests (pushing to a submission queue is
//! unsafe because the kernel reads them later); only its `Drop` waits, a
//! bounded time, for requests it must not free under the kernel.

use std::io::{self, IoSlice};
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

/// `SO_EE_ORIGIN_ZEROCOPY` from `linux/errqueue.h`; libc does not export it.
pub const SO_EE_ORIGIN_ZEROCOPY: u8 = 5;
/// `SO_EE_CODE_ZEROCOPY_COPIED` from `linux/errqueue.h`; libc does not export it.
pub const SO_EE_CODE_ZEROCOPY_COPIED: u8 = 1;

/// Calls a libc function and turns `-1` into the thread's last OS error.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        let res = libc::$fn($($arg),*);
        if res == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

/// Enables `SO_ZEROCOPY` on a socket. Fails on sockets whose family does not
/// support it (AF_UNIX answers `EOPNOTSUPP`).
/// The size of a memory page (`sysconf(_SC_PAGESIZE)`), 4096 if it cannot be read.
pub fn page_size() -> usize {
    // SAFETY: sysconf reads a constant of the running system; it touches no memory of ours.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(p).ok().filter(|p| *p > 0).unwrap_or(4096)
}

pub fn set_zerocopy(fd: BorrowedFd<'_>) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: `one` outlives the call and the length passed is its size.
    unsafe {
        syscall!(setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ZEROCOPY,
            (&one as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        ))?;
    }
    Ok(())
}

/// `send(2)` of one buffer. Returns the number of bytes the kernel took.
pub fn send(fd: BorrowedFd<'_>, buf: &[u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: the pointer and length come from a live slice borrowed for the call.
    let n = unsafe { syscall!(send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), flags))? };
    Ok(n as usize)
}

/// `sendmsg(2)` gathering from `bufs`. Returns the number of bytes the kernel took.
///
/// With `MSG_ZEROCOPY` the kernel keeps reading the pages behind `bufs` after
/// this returns: the caller must keep them alive and unchanged until the
/// matching completion arrives on the error queue.
pub fn sendmsg(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    // IoSlice is guaranteed ABI-compatible with `struct iovec` on Unix.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len() as _;
    // SAFETY: msg points at `bufs`, which the kernel only reads, and lives for the call.
    let n = unsafe { syscall!(sendmsg(fd.as_raw_fd(), &msg, flags))? };
    Ok(n as usize)
}

/// Resets a connected TCP socket: `connect(2)` to an `AF_UNSPEC` address
/// sends the peer an RST and leaves the socket unconnected, so a thread
/// blocked receiving on another descriptor of it wakes with an error. Unlike
/// `shutdown(SHUT_RD)`, which Linux lets incoming data pass, this stops a peer
/// that keeps sending.
pub fn disconnect(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: sockaddr is plain data; all-zero with sa_family = AF_UNSPEC is the documented request.
    let mut addr: libc::sockaddr = unsafe { mem::zeroed() };
    addr.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
    // SAFETY: `addr` outlives the call and the length passed is its size.
    unsafe {
        syscall!(connect(
            fd.as_raw_fd(),
            &addr,
            mem::size_of::<libc::sockaddr>() as libc::socklen_t,
        ))?;
    }
    Ok(())
}

/// `recv(2)` into `buf`. Returns 0 when the peer closed the connection.
pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: the pointer and length come from a live, exclusively borrowed slice.
    let n = unsafe {
        syscall!(recv(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            flags
        ))?
    };
    Ok(n as usize)
}

/// Waits until `len` bytes (or `SO_RCVLOWAT`, whichever is less) are queued
/// on a TCP socket, and returns how many are, without reading or copying
/// any: `recv(MSG_PEEK | MSG_TRUNC)`, which TCP answers without touching the
/// buffer. Unlike `poll`, it does not wake for the error queue (zero-copy
/// completions). Returns 0 when the peer closed.
pub fn wait_readable(fd: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    // SAFETY: with MSG_TRUNC, TCP copies nothing into the buffer; it is null,
    // so a kernel that did would fail with EFAULT rather than write anywhere.
    let n = unsafe {
        syscall!(recv(
            fd.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::MSG_PEEK | libc::MSG_TRUNC
        ))?
    };
    Ok(n as usize)
}

/// One zero-copy completion notification: sends `lo..=hi` (the kernel's u32
/// counter, which wraps) are done; `copied` if the kernel fell back to copying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeroCopyNotice {
    pub lo: u32,
    pub hi: u32,
    pub copied: bool,
}

/// What one non-blocking read of the error queue found.
#[derive(Debug)]
pub enum ErrQueue {
    /// The queue is empty.
    Empty,
    /// A zero-copy completion.
    Completion(ZeroCopyNotice),
    /// A real socket error queued by the kernel (`ee_errno`).
    Error(io::Error),
    /// A message of another origin, which copybench does not ask for.
    Other,
}

/// Reads one message from the socket's error queue without blocking and
/// parses an `IP_RECVERR` / `IPV6_RECVERR` control message.
pub fn recv_errqueue(fd: BorrowedFd<'_>) -> io::Result<ErrQueue> {
    // Room for one cmsg carrying sock_extended_err plus the offender address.
    let mut control = [0u64; 16];
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of_val(&control) as _;
    // SAFETY: msg's control buffer is ours and lives for the call; no data iovecs.
    let res = unsafe {
        syscall!(recvmsg(
            fd.as_raw_fd(),
            &mut msg,
            libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT
        ))
    };
    match res {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ErrQueue::Empty),
        Err(e) => return Err(e),
    }
    // SAFETY: the kernel filled msg_control/msg_controllen; CMSG_FIRSTHDR only
    // reads the header fields of `msg`.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: cmsg is non-null and points inside `control`, as CMSG_* guarantee.
        let (level, ty) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type) };
        let is_recverr = (level == libc::SOL_IP && ty == libc::IP_RECVERR)
            || (level == libc::SOL_IPV6 && ty == libc::IPV6_RECVERR);
        if is_recverr {
            // SAFETY: an IP_RECVERR cmsg carries a sock_extended_err; it may be
            // unaligned inside the buffer, hence read_unaligned.
            let ee: libc::sock_extended_err =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
            if ee.ee_origin == SO_EE_ORIGIN_ZEROCOPY && ee.ee_errno == 0 {
                return Ok(ErrQueue::Completion(ZeroCopyNotice {
                    lo: ee.ee_info,
                    hi: ee.ee_data,
                    copied: ee.ee_code & SO_EE_CODE_ZEROCOPY_COPIED != 0,
                }));
            }
            if ee.ee_errno != 0 {
                return Ok(ErrQueue::Error(io::Error::from_raw_os_error(
                    ee.ee_errno as i32,
                )));
            }
        }
        // SAFETY: as above; CMSG_NXTHDR returns null past the last header.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok(ErrQueue::Other)
}

/// Waits up to `timeout_ms` for any of `events` on `fd`. Returns the events
/// that fired (empty on timeout). `POLLERR` is always reported, which is how
/// a pending error-queue message shows up.
pub fn poll_one(
    fd: BorrowedFd<'_>,
    events: libc::c_short,
    timeout_ms: i32,
) -> io::Result<libc::c_short> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd, owned by this frame, for the duration of the call.
    let n = unsafe { syscall!(poll(&mut pfd, 1, timeout_ms))? };
    Ok(if n == 0 { 0 } else { pfd.revents })
}

/// `IORING_SEND_ZC_REPORT_USAGE` (`linux/io_uring.h`, Linux 6.2): ask the
/// notification to say whether the kernel copied. The io-uring crate keeps
/// its copy of the constant private.
pub const IORING_SEND_ZC_REPORT_USAGE: u16 = 1 << 3;
/// `IORING_NOTIF_USAGE_ZC_COPIED`: set in a notification's `res` when the
/// kernel copied some of the request's data (or never used zero-copy at all).
pub const IORING_NOTIF_USAGE_ZC_COPIED: u32 = 1 << 31;

/// Which send operation a [`SendRing`] request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingSend {
    /// `IORING_OP_SENDMSG`: the kernel copies the data before the result CQE.
    SendMsg,
    /// `IORING_OP_SENDMSG_ZC` with `IORING_SEND_ZC_REPORT_USAGE`: the kernel
    /// pins the pages and posts a second, `IORING_CQE_F_NOTIF` CQE when it
    /// no longer reads them.
    SendMsgZc,
}

/// One completion queue entry, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingCqe {
    pub user_data: u64,
    pub result: i32,
    /// `IORING_CQE_F_MORE`: another CQE (the notification) follows for this request.
    pub more: bool,
    /// `IORING_CQE_F_NOTIF`: this is a zero-copy notification, not a result.
    pub notif: bool,
}

/// The `msghdr` and iovecs of one submitted request, boxed so their address
/// stays put while the kernel may still read them.
struct RingMsg {
    hdr: libc::msghdr,
    iov: Vec<libc::iovec>,
}

/// An io_uring instance that sends on sockets, with the `msghdr`s of its
/// requests. One per connection, used by the one thread that made it.
///
/// Contract: [`SendRing::push_send`] copies the caller's iovecs into storage
/// the ring owns until the request's result CQE is popped, so the kernel
/// never reads a header or iovec the caller has dropped or moved. The data
/// the iovecs point at is only ever read by the kernel; keeping it unchanged
/// until the result (copying send) or the notification (zero-copy) is the
/// caller's rule, as with `MSG_ZEROCOPY`, and breaking it sends other bytes,
/// never touches this process's memory. Dropping the ring with requests still
/// unresolved cancels them and waits for them a bounded time; storage the
/// kernel might still read after that is leaked rather than freed.
pub struct SendRing {
    ring: io_uring::IoUring,
    /// Requests whose result CQE has not been popped, by user_data.
    pending: Vec<(u64, Box<RingMsg>)>,
    /// Storage of resolved requests, reused so a send allocates nothing.
    /// Boxed like `pending`'s: a box moves between the two lists without
    /// its contents moving, which is what the kernel's pointers need.
    #[allow(clippy::vec_box)]
    spare: Vec<Box<RingMsg>>,
}

// SAFETY: the raw pointers inside `pending` point into the boxes themselves
// or at caller buffers the kernel only reads; neither depends on the thread
// that holds the ring, and IoUring itself is Send.
unsafe impl Send for SendRing {}

/// user_data of cancel requests; request user_data stays below it.
const CANCEL_USER_DATA: u64 = u64::MAX;

impl SendRing {
    /// A ring with `sq` submission and `cq` completion entries. Prefers
    /// `IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN` (Linux 6.1),
    /// so completions are posted when this thread waits for them instead of
    /// interrupting whatever syscall it is in; falls back to a plain ring.
    pub fn new(sq: u32, cq: u32) -> io::Result<SendRing> {
        let deferred = io_uring::IoUring::builder()
            .setup_cqsize(cq)
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(sq);
        let ring = match deferred {
            Ok(ring) => ring,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                io_uring::IoUring::builder().setup_cqsize(cq).build(sq)?
            }
            Err(e) => return Err(e),
        };
        if !ring.params().is_feature_ext_arg() {
            // Waits with a timeout need IORING_FEAT_EXT_ARG (Linux 5.11).
            return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP));
        }
        Ok(SendRing {
            ring,
            pending: Vec::new(),
            spare: Vec::new(),
        })
    }

    /// Which of `opcodes` this kernel supports (`IORING_REGISTER_PROBE`).
    pub fn supports(&self, opcodes: &[u8]) -> io::Result<Vec<bool>> {
        let mut probe = io_uring::Probe::new();
        self.ring.submitter().register_probe(&mut probe)?;
        Ok(opcodes.iter().map(|&op| probe.is_supported(op)).collect())
    }

    /// Queues one `sendmsg` of `bufs` on `fd` (not yet submitted; see
    /// [`SendRing::submit_and_wait`]). `flags` are `sendmsg` flags;
    /// `MSG_NOSIGNAL` is always added.
    pub fn push_send(
        &mut self,
        fd: BorrowedFd<'_>,
        bufs: &[IoSlice<'_>],
        op: RingSend,
        flags: libc::c_int,
        user_data: u64,
    ) -> io::Result<()> {
        debug_assert!(user_data != CANCEL_USER_DATA);
        let mut msg = self.spare.pop().unwrap_or_else(|| {
            Box::new(RingMsg {
                // SAFETY: msghdr is plain data; all-zero is a valid empty header.
                hdr: unsafe { mem::zeroed() },
                iov: Vec::new(),
            })
        });
        msg.iov.clear();
        msg.iov.extend(bufs.iter().map(|b| libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        }));
        msg.hdr.msg_iov = msg.iov.as_mut_ptr();
        msg.hdr.msg_iovlen = msg.iov.len() as _;
        let target = io_uring::types::Fd(fd.as_raw_fd());
        let flags = (flags | libc::MSG_NOSIGNAL) as u32;
        let entry = match op {
            RingSend::SendMsg => io_uring::opcode::SendMsg::new(target, &msg.hdr)
                .flags(flags)
                .build(),
            RingSend::SendMsgZc => io_uring::opcode::SendMsgZc::new(target, &msg.hdr)
                .ioprio(IORING_SEND_ZC_REPORT_USAGE)
                .flags(flags)
                .build(),
        }
        .user_data(user_data);
        self.push(&entry)?;
        self.pending.push((user_data, msg));
        Ok(())
    }

    /// Queues a cancel of the request with `user_data`.
    pub fn push_cancel(&mut self, user_data: u64) -> io::Result<()> {
        let entry = io_uring::opcode::AsyncCancel::new(user_data)
            .build()
            .user_data(CANCEL_USER_DATA);
        self.push(&entry)
    }

    fn push(&mut self, entry: &io_uring::squeue::Entry) -> io::Result<()> {
        for _ in 0..2 {
            // SAFETY: every entry pushed here points only at a RingMsg that
            // `pending` keeps (boxed, so it does not move) until its result
            // CQE is popped, and at data the kernel only reads (see the
            // contract above); cancel entries point at nothing.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return Ok(());
            }
            // The submission queue is full: hand it to the kernel, then retry.
            self.ring.submit()?;
        }
        Err(io::Error::from_raw_os_error(libc::EBUSY))
    }

    /// Submits what is queued and waits until at least `want` CQEs are
    /// ready or `timeout` passes. Returns false on timeout. `EINTR` returns
    /// true: the caller looks at the queue and waits again if it must.
    pub fn submit_and_wait(&mut self, want: usize, timeout: Duration) -> io::Result<bool> {
        let ts = io_uring::types::Timespec::from(timeout);
        let args = io_uring::types::SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(want, &args) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => Ok(false),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(true),
            // The completion queue overflowed into the kernel's backlog;
            // popping CQEs makes room, so the caller goes on.
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Pops the next ready CQE, if any; cancel results are skipped. Popping a
    /// request's result frees its `msghdr`.
    pub fn pop(&mut self) -> Option<RingCqe> {
        loop {
            let cqe = self.ring.completion().next()?;
            let flags = cqe.flags();
            let cqe = RingCqe {
                user_data: cqe.user_data(),
                result: cqe.result(),
                more: io_uring::cqueue::more(flags),
                notif: io_uring::cqueue::notif(flags),
            };
            if cqe.user_data == CANCEL_USER_DATA {
                continue;
            }
            if !cqe.notif {
                if let Some(at) = self.pending.iter().position(|(ud, _)| *ud == cqe.user_data) {
                    let (_, msg) = self.pending.swap_remove(at);
                    self.spare.push(msg);
                }
            }
            return Some(cqe);
        }
    }

    /// Requests whose result has not been popped yet.
    pub fn unresolved(&self) -> usize {
        self.pending.len()
    }
}

impl Drop for SendRing {
    fn drop(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let ids: Vec<u64> = self.pending.iter().map(|(ud, _)| *ud).collect();
        for ud in ids {
            let _ = self.push_cancel(ud);
        }
        let give_up = std::time::Instant::now() + Duration::from_secs(1);
        while !self.pending.is_empty() && std::time::Instant::now() < give_up {
            if self.submit_and_wait(1, Duration::from_millis(50)).is_err() {
                break;
            }
            while self.pop().is_some() {}
        }
        // Whatever the kernel still holds, it may still read: leak it.
        for (_, msg) in self.pending.drain(..) {
            Box::leak(msg);
        }
    }
}

/// `TCP_ZEROCOPY_RECEIVE` (`linux/tcp.h`); libc exports the constant only.
pub const TCP_ZEROCOPY_RECEIVE: libc::c_int = libc::TCP_ZEROCOPY_RECEIVE;

/// The head of `struct tcp_zerocopy_receive` (`linux/tcp.h`) through `err`:
/// `address`, `length` (Linux 4.18), `recv_skip_hint` (4.19), `inq` and
/// `err` (5.3). The kernel takes any length from `offsetofend(length)` up
/// and reads and writes back only that many bytes, so copybench passes these
/// 24 and leaves the later fields (`copybuf_*` from 5.11, `flags`,
/// `msg_control`…) out: it reads the bytes the kernel cannot map with its
/// own `recv`, so that every copied byte is one it counted.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZeroCopyReceive {
    /// In: the page-aligned address inside the socket's mapping to map at.
    pub address: u64,
    /// In: bytes to map at most (a multiple of the page size); out: bytes mapped.
    pub length: u32,
    /// Out: bytes at the head of the queue the kernel could not map, to be
    /// read with a plain `recv` before the next call.
    pub recv_skip_hint: u32,
    /// Out: bytes left in the receive queue.
    pub inq: u32,
    /// Out: a pending socket error (`sock_error`), negated, or 0.
    pub err: i32,
}

/// A read-only `MAP_SHARED` mapping of a TCP socket: the window
/// `TCP_ZEROCOPY_RECEIVE` maps received pages into. The kernel's selftest
/// (`tools/testing/selftests/net/tcp_mmap.c`) maps `len + align` bytes and
/// uses the window from the first `align` boundary up, so that large windows
/// can be mapped with huge-page-aligned page tables; so does this. The
/// mapping is unmapped on drop, which releases whatever pages are still in it.
pub struct SocketWindow {
    base: *mut libc::c_void,
    total: usize,
    start: usize,
    len: usize,
    /// The offsets holding pages the kernel mapped and no one released:
    /// the only part of the window that may be read (a TCP mapping has no
    /// fault handler, so touching any other page is `SIGBUS`).
    valid: std::ops::Range<usize>,
}

// SAFETY: the window is an address range of this process; which thread holds
// it does not matter to the kernel, and only shared references read through it.
unsafe impl Send for SocketWindow {}

impl SocketWindow {
    /// Maps `len` bytes (rounded up to pages) of socket `fd`, aligned to
    /// `align` (a power of two, at least a page).
    pub fn map(fd: BorrowedFd<'_>, len: usize, align: usize) -> io::Result<SocketWindow> {
        let page = page_size();
        let len = len.div_ceil(page).max(1) * page;
        let align = align.max(page).next_power_of_two();
        let total = len + align;
        // SAFETY: a fresh mapping chosen by the kernel (addr NULL); it aliases no Rust object.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let start = (base as usize).next_multiple_of(align) - base as usize;
        Ok(SocketWindow {
            base,
            total,
            start,
            len,
            valid: 0..0,
        })
    }

    /// The window's first (aligned) address.
    pub fn addr(&self) -> u64 {
        (self.base as usize + self.start) as u64
    }

    /// The window's usable length.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `getsockopt(IPPROTO_TCP, TCP_ZEROCOPY_RECEIVE)`: maps up to `length`
    /// bytes of the receive queue at `offset` into the window (replacing, and
    /// so releasing, whatever was mapped there before) and returns the
    /// kernel's answer. `offset` and `length` must be multiples of the page
    /// size and lie inside the window.
    pub fn receive(
        &mut self,
        fd: BorrowedFd<'_>,
        offset: usize,
        length: usize,
    ) -> io::Result<ZeroCopyReceive> {
        let page = page_size();
        assert!(offset + length <= self.len, "outside the window");
        assert!(offset % page == 0 && length % page == 0, "not page-aligned");
        let mut zc = ZeroCopyReceive {
            address: self.addr() + offset as u64,
            length: u32::try_from(length).unwrap_or(!0xfff),
            ..ZeroCopyReceive::default()
        };
        let mut len = mem::size_of::<ZeroCopyReceive>() as libc::socklen_t;
        // The kernel zaps the target range before it maps into it.
        if offset < self.valid.end && offset + length > self.valid.start {
            self.valid = self.valid.start..offset.max(self.valid.start);
        }
        // SAFETY: `zc` is a repr(C) prefix of the kernel's struct, exclusively
        // borrowed for the call, and `len` is its size; the kernel writes back
        // at most `len` bytes. The pages it maps land in our PROT_READ window,
        // which Rust reads only through `mapped`, whose slices borrow `self`:
        // `&mut self` here means none is alive while the range is remapped.
        unsafe {
            syscall!(getsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_TCP,
                TCP_ZEROCOPY_RECEIVE,
                (&mut zc as *mut ZeroCopyReceive).cast(),
                &mut len,
            ))?;
        }
        let got = zc.length as usize;
        if got > 0 {
            self.valid = if offset == self.valid.end && !self.valid.is_empty() {
                self.valid.start..offset + got
            } else {
                offset..offset + got
            };
        }
        Ok(zc)
    }

    /// The bytes at `offset..offset + len` of the window, as mapped by
    /// [`SocketWindow::receive`]. Panics outside the mapped pages. The slice
    /// borrows `self`, and remapping or releasing takes `&mut self`, so the
    /// pages under it stay put while it lives.
    pub fn mapped(&self, offset: usize, len: usize) -> &[u8] {
        assert!(
            self.valid.start <= offset && offset + len <= self.valid.end,
            "{offset}+{len} is outside the mapped pages {:?}",
            self.valid
        );
        // SAFETY: the range lies inside pages the kernel mapped into our live
        // PROT_READ mapping (`valid`); nothing writes to them while the
        // returned borrow of `self` lives (see above).
        unsafe {
            std::slice::from_raw_parts((self.base as *const u8).add(self.start + offset), len)
        }
    }

    /// Releases the pages mapped at `offset..offset + len` (`MADV_DONTNEED`):
    /// the kernel frees them once no one else holds them.
    pub fn release(&mut self, offset: usize, len: usize) -> io::Result<()> {
        assert!(offset + len <= self.len, "outside the window");
        // SAFETY: the range lies inside our own mapping and `&mut self` means
        // no slice of it is borrowed.
        unsafe {
            syscall!(madvise(
                (self.base as *mut u8).add(self.start + offset).cast(),
                len,
                libc::MADV_DONTNEED
            ))?;
        }
        if offset <= self.valid.start && offset + len >= self.valid.end {
            self.valid = 0..0;
        } else if offset <= self.valid.start && offset + len > self.valid.start {
            self.valid.start = offset + len;
        } else if offset < self.valid.end && offset + len >= self.valid.end {
            self.valid.end = offset;
        }
        Ok(())
    }
}

impl Drop for SocketWindow {
    fn drop(&mut self) {
        // SAFETY: `base`/`total` are exactly what mmap returned; no slice of
        // the window outlives `self` (they borrow it).
        unsafe {
            libc::munmap(self.base, self.total);
        }
    }
}

/// Sets an `int` socket option.
fn set_int_opt(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    opt: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `v` outlives the call and the length passed is its size.
    unsafe {
        syscall!(setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            (&v as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        ))?;
    }
    Ok(())
}

/// Reads an `int` socket option.
fn get_int_opt(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    opt: libc::c_int,
) -> io::Result<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` is exclusively borrowed for the call and `len` is its size.
    unsafe {
        syscall!(getsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        ))?;
    }
    Ok(v)
}

/// `SO_RCVLOWAT`: a blocking receive (and a poll for input) waits until this
/// many bytes are queued.
pub fn set_rcvlowat(fd: BorrowedFd<'_>, bytes: usize) -> io::Result<()> {
    let v = libc::c_int::try_from(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_RCVLOWAT, v)
}

pub fn rcvlowat(fd: BorrowedFd<'_>) -> io::Result<usize> {
    get_int_opt(fd, libc::SOL_SOCKET, libc::SO_RCVLOWAT).map(|v| v as usize)
}

/// `TCP_MAXSEG`: caps the MSS this end announces and uses; set before the
/// handshake (on the listener, or before `connect`).
pub fn set_maxseg(fd: BorrowedFd<'_>, bytes: u32) -> io::Result<()> {
    let v = libc::c_int::try_from(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG, v)
}

/// The connection's current MSS (`TCP_MAXSEG` read back).
pub fn maxseg(fd: BorrowedFd<'_>) -> io::Result<u32> {
    get_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG).map(|v| v as u32)
}

/// CPU time the calling thread has used so far, in nanoseconds, and its
/// context switches (voluntary + involuntary).
///
/// `cpu_ns` is `CLOCK_THREAD_CPUTIME_ID`: exact and monotonic. `user_ns` and
/// `sys_ns` come from `getrusage(RUSAGE_THREAD)`, which the kernel splits by
/// sampling at its tick, so over a few milliseconds their sum may not move.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadUsage {
    pub cpu_ns: u64,
    pub user_ns: u64,
    pub sys_ns: u64,
    pub context_switches: u64,
    pub page_faults: u64,
}

pub fn thread_usage() -> io::Result<ThreadUsage> {
    // SAFETY: rusage is plain data; all-zero is valid and the kernel overwrites it.
    let mut ru: libc::rusage = unsafe { mem::zeroed() };
    // SAFETY: `ru` is a valid, exclusively borrowed rusage for the call.
    unsafe { syscall!(getrusage(libc::RUSAGE_THREAD, &mut ru))? };
    let ns = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * 1_000;
    // SAFETY: timespec is plain data; all-zero is valid and the kernel overwrites it.
    let mut ts: libc::timespec = unsafe { mem::zeroed() };
    // SAFETY: `ts` is a valid, exclusively borrowed timespec for the call.
    unsafe { syscall!(clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts))? };
    Ok(ThreadUsage {
        cpu_ns: ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64,
        user_ns: ns(ru.ru_utime),
        sys_ns: ns(ru.ru_stime),
        context_switches: (ru.ru_nvcsw + ru.ru_nivcsw) as u64,
        page_faults: (ru.ru_minflt + ru.ru_majflt) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn zerocopy_is_refused_on_unix_sockets() {
        let (a, _b) = UnixStream::pair().unwrap();
        assert!(set_zerocopy(a.as_fd()).is_err());
    }

    #[test]
    fn empty_error_queue_reads_as_empty() {
        let (a, _b) = UnixStream::pair().unwrap();
        assert!(matches!(recv_errqueue(a.as_fd()).unwrap(), ErrQueue::Empty));
    }

    #[test]
    fn thread_usage_grows_with_work() {
        let before = thread_usage().unwrap();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        let after = thread_usage().unwrap();
        assert!(
            after.user_ns + after.sys_ns > before.user_ns + before.sys_ns,
            "{x}"
        );
    }
}
