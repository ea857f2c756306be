//! The crate's error type. Its messages say what happened and, where there is
//! something to do about it, what to do next.

use crate::model::kinds::Role;
use std::io;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: a flag out of range or a combination that cannot work.
    #[error("{0}")]
    Usage(String),
    /// The host cannot do what was asked (privileges, namespaces, SO_ZEROCOPY).
    #[error("{0}")]
    Unsupported(String),
    /// A connection failed while running: the peer closed, a message did not
    /// verify, a socket call failed or timed out.
    #[error("connection {conn} ({role}): {cause}")]
    Connection {
        conn: usize,
        role: Role,
        #[source]
        cause: Cause,
    },
    /// A network namespace of the veth transport is missing or cannot be
    /// entered (the host's state, so exit 2 like `Unsupported`).
    /// `source()` is the [`NetnsError`](crate::engine::netns::NetnsError) itself.
    #[error("{0}")]
    Netns(#[from] crate::engine::netns::NetnsError),
    /// A `copybench serve` refused, failed or went away (`--connect`).
    #[error("server {server}: {what}")]
    Remote { server: String, what: String },
    /// Anything else that went wrong with the operating system.
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

impl Error {
    pub fn usage(msg: impl Into<String>) -> Error {
        Error::Usage(msg.into())
    }

    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether this only says the other thread of the connection ended
    /// early ([`Cause::PeerThread`]), whose own error says why.
    pub(crate) fn is_peer_thread(&self) -> bool {
        matches!(
            self,
            Error::Connection {
                cause: Cause::PeerThread(_),
                ..
            }
        )
    }

    /// 2 for what the user can fix by changing the command or the host, 1 for
    /// failures while running.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Unsupported(_) | Error::Netns(_) => 2,
            Error::Connection {
                cause: Cause::SendUnsupported(_),
                ..
            } => 2,
            Error::Connection { .. } | Error::Remote { .. } | Error::Io { .. } => 1,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why one connection failed, with the error underneath (typed, not text).
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// No whole message could be read (the peer closed, a timeout, a socket error).
    #[error("{0}")]
    Read(#[source] crate::engine::recv::ReadError),
    /// A whole message arrived but did not verify.
    #[error("verification failed: {0}")]
    Verify(#[source] crate::engine::message::VerifyError),
    /// The peer went away (EPIPE, ECONNRESET) in the middle of a send.
    #[error("the peer closed the connection while we were sending ({0})")]
    PeerClosed(#[source] SendError),
    #[error("send failed: {0}")]
    Send(#[source] SendError),
    /// The host cannot send this way (SO_ZEROCOPY refused, io_uring missing):
    /// the host's state, so exit 2 like [`Error::Unsupported`].
    #[error("{0}")]
    SendUnsupported(#[source] SendError),
    /// Setting the connection up: `op` is e.g. "listen", "accept", "connect to ADDR".
    #[error("{op}: {source}")]
    Socket { op: String, source: io::Error },
    /// The other thread of the connection ended before its part of the set-up.
    #[error("{0}")]
    PeerThread(&'static str),
    /// A served client sent nothing between batches for longer than the server allows.
    #[error("the client sent nothing for {seconds:.1} s")]
    Idle { seconds: f64 },
    /// A batch (client: its command; rr server: a request's header) named
    /// an arm beyond the strategies this end holds.
    #[error("asked to send by arm {arm}, but this end holds {held} strategies")]
    NoSuchArm { arm: usize, held: usize },
}

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(
        "the socket refuses SO_ZEROCOPY ({0}); zero-copy needs a TCP socket on Linux 4.14 or later"
    )]
    ZeroCopyRefused(io::Error),
    /// The host cannot run the strategy (io_uring refused or missing).
    #[error("{0}")]
    Unavailable(String),
    #[error("send timed out after {0:?}: the peer stopped reading")]
    TimedOut(Duration),
    #[error("zero-copy completions for {in_flight} sends did not arrive within {waited:?}")]
    CompletionsLate { in_flight: u64, waited: Duration },
    #[error("the error queue reported a socket error: {0}")]
    Queued(io::Error),
    #[error(transparent)]
    Range(#[from] RangeError),
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl SendError {
    /// Whether the host, not the run, is at fault: exit 2, not 1.
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            SendError::ZeroCopyRefused(_) | SendError::Unavailable(_)
        )
    }
}

/// A zero-copy completion the outstanding sends cannot account for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("zero-copy completion {lo}..={hi} covers sends that were never made or already completed (outstanding: {low}..{next})")]
    Outside {
        lo: u32,
        hi: u32,
        low: u64,
        next: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_the_host_cannot_make_names_the_connection_exits_2_and_keeps_its_cause() {
        let e = Error::Connection {
            conn: 3,
            role: Role::Client,
            cause: Cause::SendUnsupported(SendError::Unavailable(
                "io_uring_setup answers ENOSYS".into(),
            )),
        };
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "connection 3 (client): io_uring_setup answers ENOSYS"
        );
        // The cause is typed all the way down, not text.
        let cause = std::error::Error::source(&e).expect("a source");
        let send = std::error::Error::source(cause)
            .and_then(|s| s.downcast_ref::<SendError>())
            .expect("the SendError under the cause");
        assert!(send.is_unsupported());
        // A send that failed while running stays a runtime failure.
        let running = Error::Connection {
            conn: 3,
            role: Role::Client,
            cause: Cause::Send(SendError::Io(io::Error::from_raw_os_error(libc::EIO))),
        };
        assert_eq!(running.exit_code(), 1);
    }
}
