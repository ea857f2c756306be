//! The crate's error type. Its messages say what happened and, where there is
//! something to do about it, what to do next.

use std::fmt;
use std::io;

/// Which side of a connection a worker thread plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Client,
    Server,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Client => "client",
            Role::Server => "server",
        })
    }
}

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
    #[error("connection {conn} ({role}): {what}")]
    Connection {
        conn: usize,
        role: Role,
        what: String,
    },
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

    /// 2 for what the user can fix by changing the command or the host, 1 for
    /// failures while running.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Unsupported(_) => 2,
            Error::Connection { .. } | Error::Remote { .. } | Error::Io { .. } => 1,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
