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

/// Declares [`StrategyKind`] from the registry below: one line a strategy.
macro_rules! strategies {
    ($( $(#[$doc:meta])* $v:ident $name:literal, lends: $lends:expr, baselines: [$($b:ident),*]; )*) => {
        /// The strategies copybench knows, by their command-line names. They
        /// are declared (and so ordered) the way the report lists them: the
        /// order of the study's questions. The default, two-copy, is there so
        /// that a results row has one; nothing runs it unasked.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
        #[serde(rename_all = "kebab-case")]
        pub enum StrategyKind {
            #[default]
            $( $(#[$doc])* $v, )*
        }

        impl StrategyKind {
            /// Every strategy, in the registry's order.
            pub const ALL: [StrategyKind; [$(stringify!($v)),*].len()] = [$(StrategyKind::$v),*];

            pub fn name(self) -> &'static str {
                match self { $( StrategyKind::$v => $name, )* }
            }

            /// The kernel interface a strategy that lends its buffers sends
            /// through, whose completions say whether the kernel copied after
            /// all; `None` for a strategy that copies.
            pub fn zero_copy_interface(self) -> Option<KernelInterface> {
                match self { $( StrategyKind::$v => $lends, )* }
            }

            /// What the report compares this strategy against, as
            /// challenger: two-copy, the seed's baseline, for every other
            /// strategy (each one's ratio to two-copy answers "from what size
            /// does it win"), then the copying twin of each lending strategy.
            pub fn baselines(self) -> &'static [StrategyKind] {
                match self { $( StrategyKind::$v => &[$(StrategyKind::$b),*], )* }
            }
        }
    };
}

/// `MSG_ZEROCOPY`: `sendmsg`'s zero-copy flag.
const MSG_ZEROCOPY: Option<KernelInterface> = Some(KernelInterface {
    op: "MSG_ZEROCOPY",
    ring: false,
});
/// io_uring's `SENDMSG_ZC` operation.
const SENDMSG_ZC: Option<KernelInterface> = Some(KernelInterface {
    op: "SENDMSG_ZC",
    ring: true,
});

// The registry of strategies. Adding one: a line here (its name, the kernel
// interface it lends its buffers through, or `None` if it copies, and what
// the report compares it with), its own file in `engine/strategy/`, and its
// arm in `engine::strategy`'s `build`. The report and every output follow.
// The first line is the default (the baseline of every comparison).
strategies! {
    TwoCopy "two-copy", lends: None, baselines: [];
    OneCopy "one-copy", lends: None, baselines: [TwoCopy];
    ZeroCopy "zero-copy", lends: MSG_ZEROCOPY, baselines: [TwoCopy, OneCopy];
    /// `IORING_OP_SENDMSG` through an io_uring: the copying baseline of `uring-zc`.
    Uring "uring", lends: None, baselines: [TwoCopy, OneCopy];
    /// `IORING_OP_SENDMSG_ZC` through an io_uring.
    UringZc "uring-zc", lends: SENDMSG_ZC, baselines: [TwoCopy, ZeroCopy];
}

impl StrategyKind {
    pub fn from_name(name: &str) -> Option<StrategyKind> {
        StrategyKind::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Its place in [`StrategyKind::ALL`]: the report's order, and its
    /// colour there.
    pub fn rank(self) -> usize {
        self as usize
    }

    /// The strategy every other one is compared with first (the seed's
    /// baseline: the ratio plot's 1.0).
    pub const REFERENCE: StrategyKind = StrategyKind::TwoCopy;

    /// Whether this strategy can run over `transport` at all: a strategy
    /// with completions needs a socket the kernel takes zero-copy sends on,
    /// which AF_UNIX sockets are not (`SO_ZEROCOPY` is refused, and
    /// `IORING_OP_SENDMSG_ZC` answers `EOPNOTSUPP`).
    pub fn supports(self, transport: TransportKind) -> bool {
        !self.has_completions() || transport.has_zerocopy()
    }

    /// Whether a send's buffer is free only at its completion (and so the
    /// strategy has zero-copy bookkeeping: completions, copied, ENOBUFS):
    /// whether it lends its buffers through a kernel interface.
    pub fn has_completions(self) -> bool {
        self.zero_copy_interface().is_some()
    }
}

/// How the kernel is asked for a zero-copy send: `sendmsg`'s `MSG_ZEROCOPY`
/// flag, or an io_uring's `SENDMSG_ZC` operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelInterface {
    /// The kernel's name for the flag or operation: `MSG_ZEROCOPY`, `SENDMSG_ZC`.
    pub op: &'static str,
    /// Whether it is an io_uring operation.
    pub ring: bool,
}

impl std::fmt::Display for KernelInterface {
    /// `MSG_ZEROCOPY`, `io_uring SENDMSG_ZC`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.ring {
            f.write_str("io_uring ")?;
        }
        f.write_str(self.op)
    }
}

impl std::fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a cell's bytes go. Declared (and so ordered) by name: the report
/// lists transports in this order, as it did when they were names. The
/// default, loopback, is `--transport`'s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// TCP over 127.0.0.1, both ends in this process.
    #[default]
    Loopback,
    /// TCP to a `copybench serve` on another host (`--connect`), which runs
    /// the server ends; not a `--transport` value.
    #[cfg_attr(feature = "cli", value(skip))]
    Tcp,
    /// AF_UNIX stream socket pairs.
    Unix,
    /// TCP across a veth pair between two network namespaces (needs root).
    Veth,
}

impl TransportKind {
    pub const ALL: [TransportKind; 4] = [
        TransportKind::Loopback,
        TransportKind::Tcp,
        TransportKind::Unix,
        TransportKind::Veth,
    ];

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
        TransportKind::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a cell's connections do. The default, rr, is there so that a
/// results row has one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    /// Request/response: send, receive the same shape back; latency is the round trip.
    #[default]
    Rr,
    /// One-way: the client sends continuously, the server verifies.
    Stream,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 2] = [WorkloadKind::Rr, WorkloadKind::Stream];

    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Rr => "rr",
            WorkloadKind::Stream => "stream",
        }
    }

    pub fn from_name(name: &str) -> Option<WorkloadKind> {
        WorkloadKind::ALL.into_iter().find(|w| w.name() == name)
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
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

/// How a receiver takes its messages off the socket (`--receive`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum ReceiveKind {
    /// `recv` into one reusable buffer: the kernel copies every byte.
    #[default]
    Copy,
    /// `TCP_ZEROCOPY_RECEIVE`: the kernel maps whole received pages into a
    /// window of the receiver's address space; what it cannot map is `recv`ed.
    Zerocopy,
}

impl ReceiveKind {
    pub const ALL: [ReceiveKind; 2] = [ReceiveKind::Copy, ReceiveKind::Zerocopy];

    pub fn name(self) -> &'static str {
        match self {
            ReceiveKind::Copy => "copy",
            ReceiveKind::Zerocopy => "zerocopy",
        }
    }

    pub fn from_name(name: &str) -> Option<ReceiveKind> {
        ReceiveKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether it can run over `transport`: mapping needs TCP.
    pub fn supports(self, transport: TransportKind) -> bool {
        self == ReceiveKind::Copy || transport != TransportKind::Unix
    }

    /// The receive strategies it is compared with, behind the same sender
    /// (the report's questions, as [`StrategyKind::baselines`] for senders):
    /// mapping against copying.
    pub fn baselines(self) -> &'static [ReceiveKind] {
        match self {
            ReceiveKind::Copy => &[],
            ReceiveKind::Zerocopy => &[ReceiveKind::Copy],
        }
    }
}

/// A receive column as written: its name, or empty or absent in a row from
/// before `--receives`, which was `copy`.
pub(crate) fn receive_or_copy<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<ReceiveKind, D::Error> {
    let name = String::deserialize(d)?;
    if name.is_empty() {
        return Ok(ReceiveKind::Copy);
    }
    ReceiveKind::from_name(&name).ok_or_else(|| {
        unknown_name(
            "receive strategy",
            &name,
            &ReceiveKind::ALL.map(ReceiveKind::name),
        )
    })
}

impl std::fmt::Display for ReceiveKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A kind is read back from the name it is written as (its serde name is
/// its [`name`](StrategyKind::name), a unit test holds them equal); an
/// unknown name is an error that says which kind it was meant to be and
/// the names it can be: `unknown strategy 'three-copy' (known: two-copy,
/// ...)`.
macro_rules! from_name {
    ($($kind:ident $what:literal),* $(,)?) => {$(
        impl<'de> Deserialize<'de> for $kind {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = String::deserialize(d)?;
                $kind::from_name(&name)
                    .ok_or_else(|| unknown_name($what, &name, &$kind::ALL.map($kind::name)))
            }
        }
    )*};
}

from_name!(
    StrategyKind "strategy",
    TransportKind "transport",
    WorkloadKind "workload",
    Layout "layout",
    ReceiveKind "receive strategy",
);

/// The error for a name that is none of `known`, which are the names of a `what`.
pub(crate) fn unknown_name<E: serde::de::Error>(what: &str, name: &str, known: &[&str]) -> E {
    E::custom(format_args!(
        "unknown {what} '{name}' (known: {})",
        known.join(", ")
    ))
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

/// A TCP congestion control's name (`--congestion`), checked once where it
/// comes in: 1 to 15 bytes of letters, digits, `_` and `-`
/// (`TCP_CA_NAME_MAX` is 16 with its NUL). Whether this host has it is for
/// `Transport::check` (its list) and the kernel (`setsockopt`) to say.
///
/// Why it matters on one host: a congestion control that paces (BBR, a
/// common default) holds a loopback or veth sender to its estimate of the
/// path's bandwidth with a timer per packet, and each connection keeps its
/// own estimate; measured on this project's VM, one-copy 4 KiB over
/// loopback ran at 19 to 29 Gbit/s under `bbr` and 39 to 43 under `cubic`
/// (docs/comparison.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Congestion(String);

impl Congestion {
    pub fn parse(name: &str) -> std::result::Result<Congestion, String> {
        let ok = (1..=15).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Congestion(name.to_string()))
        } else {
            Err(format!(
                "--congestion {name:?}: must be a congestion control's name, 1 to 15 letters, digits, '_' or '-' (net.ipv4.tcp_available_congestion_control lists this host's)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Congestion {
    type Error = String;
    fn try_from(name: String) -> std::result::Result<Congestion, String> {
        Congestion::parse(&name)
    }
}

impl From<Congestion> for String {
    fn from(c: Congestion) -> String {
        c.0
    }
}

impl std::fmt::Display for Congestion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_congestion_name_is_checked_once_at_the_edge() {
        assert_eq!(Congestion::parse("cubic").unwrap().as_str(), "cubic");
        assert_eq!(
            Congestion::parse("dctcp-x_2").unwrap().to_string(),
            "dctcp-x_2"
        );
        for bad in ["", "sixteen-letters!", "a b", "bbr\0", "0123456789abcdef"] {
            let e = Congestion::parse(bad).unwrap_err();
            assert!(e.starts_with("--congestion "), "{bad:?}: {e}");
            assert!(
                e.contains("tcp_available_congestion_control"),
                "{bad:?}: {e}"
            );
        }
        // Read back from JSON through the same check.
        let c: Congestion = serde_json::from_str("\"reno\"").unwrap();
        assert_eq!(c.as_str(), "reno");
        assert!(serde_json::from_str::<Congestion>("\"no such\"").is_err());
    }

    /// Each kind's serde name is its name, and reads back; what the report
    /// lists first comes first.
    #[test]
    fn names_are_serde_names_and_read_back() {
        fn check<T>(all: &[T], name: fn(T) -> &'static str)
        where
            T: Copy + Ord + std::fmt::Debug + Serialize + for<'de> Deserialize<'de>,
        {
            for &k in all {
                assert_eq!(serde_json::to_value(k).unwrap(), name(k), "{k:?}");
                assert_eq!(serde_json::from_value::<T>(name(k).into()).unwrap(), k);
            }
            assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?} out of order");
        }
        check(&StrategyKind::ALL, StrategyKind::name);
        check(&TransportKind::ALL, TransportKind::name);
        check(&WorkloadKind::ALL, WorkloadKind::name);
        check(&Layout::ALL, Layout::name);
        check(&ReceiveKind::ALL, ReceiveKind::name);
        // Transports are declared in name order, the report's order.
        assert!(TransportKind::ALL
            .windows(2)
            .all(|w| w[0].name() < w[1].name()));
        for (i, s) in StrategyKind::ALL.into_iter().enumerate() {
            assert_eq!(s.rank(), i);
        }
        let err = serde_json::from_value::<StrategyKind>("three-copy".into()).unwrap_err();
        assert!(err.to_string().starts_with(
            "unknown strategy 'three-copy' (known: two-copy, one-copy, zero-copy, uring, uring-zc)"
        ));
    }

    #[test]
    fn lending_strategies_name_their_kernel_interface() {
        for s in StrategyKind::ALL {
            assert_eq!(
                s.zero_copy_interface().is_some(),
                s.has_completions(),
                "{s}"
            );
        }
        let [zc, uring_zc] = [StrategyKind::ZeroCopy, StrategyKind::UringZc]
            .map(|s| s.zero_copy_interface().unwrap().to_string());
        assert_eq!(
            (zc.as_str(), uring_zc.as_str()),
            ("MSG_ZEROCOPY", "io_uring SENDMSG_ZC")
        );
    }
}
