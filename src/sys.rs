//! Every unsafe system call copybench makes lives here, and only here.
//!
//! Contract: each function is a thin, typed wrapper over one libc call. It
//! borrows the descriptor it works on, never owns or closes it, and turns a
//! `-1` return into `io::Error::last_os_error()` through [`syscall!`]. Nothing
//! here retries or sleeps: callers decide what `EINTR`, `EAGAIN` or `ENOBUFS`
//! mean for them.

use std::io::{self, IoSlice};
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd};

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
