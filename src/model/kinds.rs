//! The kinds a cell is made of, by name: how a message is sent
//! ([`StrategyKind`]), where its bytes go ([`TransportKind`]), what the
//! connections do ([`WorkloadKind`]), where its buffers lie ([`Layout`]), and
//! which end of a connection a thread plays ([`Role`]).
//!
//! Each is parsed from its name once, at the edge (the command line, a CSV
//! row, the wire), and compared as a value everywhere inside. Whatever the
//! report needs to know of a kind (what it is compared against, whether it
//! lends its buffers) is a method here, so the report names none of them.
//! How the engine runs each kind is the engine's (`engine::strategy`,
//! `engine::transport`).

use serde::{Deserialize, Serialize};

/// The strategies copybench knows, by their command-line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    TwoCopy,
    OneCopy,
    ZeroCopy,
    /// `IORING_OP_SENDMSG` through an io_uring: the copying baseline of `uring-zc`.
    Uring,
    /// `IORING_OP_SENDMSG_ZC` through an io_uring.
    UringZc,
}

impl StrategyKind {
    pub const ALL: [StrategyKind; 5] = [
        StrategyKind::TwoCopy,
        StrategyKind::OneCopy,
        StrategyKind::ZeroCopy,
        StrategyKind::Uring,
        StrategyKind::UringZc,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::TwoCopy => "two-copy",
            StrategyKind::OneCopy => "one-copy",
            StrategyKind::ZeroCopy => "zero-copy",
            StrategyKind::Uring => "uring",
            StrategyKind::UringZc => "uring-zc",
        }
    }

    pub fn from_name(name: &str) -> Option<StrategyKind> {
        StrategyKind::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether this strategy can run over `transport` at all: a strategy
    /// with completions needs a socket the kernel takes zero-copy sends on,
    /// which AF_UNIX sockets are not (`SO_ZEROCOPY` is refused, and
    /// `IORING_OP_SENDMSG_ZC` answers `EOPNOTSUPP`).
    pub fn supports(self, transport: TransportKind) -> bool {
        !self.has_completions() || transport.has_zerocopy()
    }

    /// Whether a send's buffer is free only at its completion (and so the
    /// strategy has zero-copy bookkeeping: completions, copied, ENOBUFS).
    pub fn has_completions(self) -> bool {
        match self {
            StrategyKind::TwoCopy | StrategyKind::OneCopy | StrategyKind::Uring => false,
            StrategyKind::ZeroCopy | StrategyKind::UringZc => true,
        }
    }

    /// What the report compares this strategy against, as challenger:
    /// two-copy, the seed's baseline, for every other strategy (each one's
    /// ratio to two-copy answers "from what size does it win"), then the
    /// copying twin of each lending strategy: zero-copy and uring against
    /// one-copy (the same iovecs through `sendmsg`), uring-zc against
    /// zero-copy (SENDMSG_ZC against MSG_ZEROCOPY). A new strategy states
    /// its baselines here and the report needs no edit.
    pub fn baselines(self) -> &'static [StrategyKind] {
        use StrategyKind::*;
        match self {
            TwoCopy => &[],
            OneCopy => &[TwoCopy],
            ZeroCopy | Uring => &[TwoCopy, OneCopy],
            UringZc => &[TwoCopy, ZeroCopy],
        }
    }

    /// Whether a strategy named `name` has completions (`false` for a name
    /// this build does not know): for reports read from a results.csv.
    pub fn named_has_completions(name: &str) -> bool {
        StrategyKind::from_name(name).is_some_and(StrategyKind::has_completions)
    }

}

impl std::fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// TCP over 127.0.0.1, both ends in this process.
    Loopback,
    /// AF_UNIX stream socket pairs.
    Unix,
    /// TCP across a veth pair between two network namespaces (needs root).
    Veth,
    /// TCP to a `copybench serve` on another host (`--connect`), which runs
    /// the server ends; not a `--transport` value.
    #[cfg_attr(feature = "cli", value(skip))]
    Tcp,
}

impl TransportKind {
    /// Whether its sockets accept `SO_ZEROCOPY` (AF_UNIX sockets do not).
    pub fn has_zerocopy(self) -> bool {
        self != TransportKind::Unix
    }

    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Loopback => "loopback",
            TransportKind::Unix => "unix",
            TransportKind::Veth => "veth",
            TransportKind::Tcp => "tcp",
        }
    }

    pub fn from_name(name: &str) -> Option<TransportKind> {
        [
            TransportKind::Loopback,
            TransportKind::Unix,
            TransportKind::Veth,
            TransportKind::Tcp,
        ]
        .into_iter()
        .find(|t| t.name() == name)
    }
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    /// Request/response: send, receive the same shape back; latency is the round trip.
    Rr,
    /// One-way: the client sends continuously, the server verifies.
    Stream,
}

impl WorkloadKind {
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Rr => "rr",
            WorkloadKind::Stream => "stream",
        }
    }

    pub fn from_name(name: &str) -> Option<WorkloadKind> {
        [WorkloadKind::Rr, WorkloadKind::Stream]
            .into_iter()
            .find(|w| w.name() == name)
    }
}

impl std::fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a message's buffers lie in memory. With `MSG_ZEROCOPY` the kernel
/// pins every page the iovecs touch and makes each one a fragment of the
/// socket buffer; a send that needs more than `net.core.max_skb_frags`
/// (17 by default) is split, which is what layout costs.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// The header and each field are separate allocations, wherever the
    /// allocator puts them (as an application would have them, and the seed).
    /// A 64 KiB field then starts mid-page and spans 17 pages.
    #[default]
    Heap,
    /// One allocation per message: each field starts on a page boundary, and
    /// the header takes the last 32 bytes of the page just before the first
    /// field. The header never straddles a page, and the message spans
    /// 1 + sum(ceil(field / page)) pages: for fields that fill whole pages,
    /// ceil((32 + fields) / page), the fewest any placement can reach, so the
    /// header adds no fragment beyond what its 32 bytes must take (a
    /// fragment never crosses a page, so it cannot share the first field's).
    Page,
}

impl Layout {
    pub const ALL: [Layout; 2] = [Layout::Heap, Layout::Page];

    pub fn name(self) -> &'static str {
        match self {
            Layout::Heap => "heap",
            Layout::Page => "page",
        }
    }

    pub fn from_name(name: &str) -> Option<Layout> {
        Layout::ALL.into_iter().find(|l| l.name() == name)
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which side of a connection a worker thread plays.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Client,
    Server,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Client => "client",
            Role::Server => "server",
        })
    }
}
