//! Where the bytes go: connected socket pairs over loopback TCP, AF_UNIX, or
//! TCP across a veth pair between two network namespaces.
//!
//! Contract: every data socket this module hands out is blocking, with send
//! and receive timeouts set, so no call on it waits forever. TCP sockets are
//! made by the worker thread that will use them, after it has entered its
//! namespace ([`Transport::enter`]); the server side listens on an ephemeral
//! port and passes its address to the client side. AF_UNIX pairs are made up
//! front by the caller with [`Transport::unix_pair`].

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::engine::error::{Error, Result};

use crate::engine::netns;
use crate::model::kinds::{Congestion, Role, TransportKind};

/// The namespaces and address a veth transport uses; defaults match `netns-setup.sh`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Veth {
    pub server_ns: String,
    pub client_ns: String,
    pub server_addr: Ipv4Addr,
}

impl Default for Veth {
    fn default() -> Veth {
        Veth {
            server_ns: netns::DEFAULT_SERVER_NS.to_string(),
            client_ns: netns::DEFAULT_CLIENT_NS.to_string(),
            server_addr: netns::DEFAULT_SERVER_ADDR,
        }
    }
}

/// A transport and the socket options every connection over it gets.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Transport {
    pub kind: TransportKind,
    pub veth: Veth,
    /// `SO_SNDBUF`; kernel default when `None`.
    pub sndbuf: Option<usize>,
    /// `SO_RCVBUF`; kernel default when `None`.
    pub rcvbuf: Option<usize>,
    /// `TCP_NODELAY` (request/response sets it).
    pub nodelay: bool,
    /// Send, receive, connect and accept timeout.
    pub timeout: Duration,
    /// `tcp`: the `copybench serve` that runs the server ends.
    pub server: Option<std::net::SocketAddr>,
    /// `TCP_MAXSEG` set on every TCP socket before its handshake (a mapping
    /// receiver asks for a page of payload per segment); kernel's when `None`.
    #[serde(default)]
    pub maxseg: Option<u32>,
    /// `TCP_CONGESTION` set on every TCP socket before its handshake; the
    /// host's default (`net.ipv4.tcp_congestion_control`) when `None`.
    #[serde(default)]
    pub congestion: Option<Congestion>,
}

/// The congestion controls this host can set, space-separated
/// (`net.ipv4.tcp_available_congestion_control`).
pub fn available_congestion() -> io::Result<String> {
    read_sysctl("tcp_available_congestion_control")
}

/// The congestion control new TCP sockets of this network namespace get
/// (`net.ipv4.tcp_congestion_control`).
pub fn default_congestion() -> io::Result<String> {
    read_sysctl("tcp_congestion_control")
}

fn read_sysctl(name: &str) -> io::Result<String> {
    Ok(
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}"))?
            .trim()
            .to_string(),
    )
}

/// The congestion control a connected or listening TCP socket has, read
/// back (`TCP_CONGESTION`).
pub fn congestion_of(sock: &Socket) -> io::Result<String> {
    let name = sock.tcp_congestion()?;
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Ok(String::from_utf8_lossy(&name[..end]).into_owned())
}

impl Transport {
    pub fn new(kind: TransportKind) -> Transport {
        Transport {
            kind,
            veth: Veth::default(),
            sndbuf: None,
            rcvbuf: None,
            nodelay: false,
            timeout: Duration::from_secs(10),
            server: None,
            maxseg: None,
            congestion: None,
        }
    }

    /// Checks, before any thread starts, that this transport can work here.
    pub fn check(&self) -> Result<()> {
        if let Some(cc) = &self.congestion {
            if self.kind == TransportKind::Unix {
                return Err(Error::usage(
                    "--congestion: a unix socket has no congestion control (TCP only)",
                ));
            }
            // A name the kernel does not list would fail in setsockopt on
            // the first connection; say so before anything runs. (A list
            // that cannot be read leaves it to the kernel.)
            if let Ok(have) = available_congestion() {
                if !have.split_whitespace().any(|h| h == cc.as_str()) {
                    return Err(Error::usage(format!(
                        "--congestion {cc}: not available on this host, which has: {have} (net.ipv4.tcp_available_congestion_control; `modprobe tcp_{cc}` may add it)"
                    )));
                }
            }
        }
        if self.kind == TransportKind::Veth {
            if self.veth.server_ns == self.veth.client_ns {
                return Err(Error::usage(format!(
                    "--server-ns and --client-ns are both '{}': veth runs the two ends in two namespaces joined by the veth pair; give two (netns-setup.sh makes {} and {})",
                    self.veth.server_ns,
                    netns::DEFAULT_SERVER_NS,
                    netns::DEFAULT_CLIENT_NS
                )));
            }
            for ns in [&self.veth.server_ns, &self.veth.client_ns] {
                netns::check(ns)?;
            }
            if !is_benchmark_range(self.veth.server_addr) {
                return Err(Error::usage(format!(
                    "--server-addr {}: must be in 198.18.0.0/15, the benchmarking range netns-setup.sh uses",
                    self.veth.server_addr
                )));
            }
        }
        Ok(())
    }

    /// Moves the calling worker thread into its role's namespace (veth only).
    pub(crate) fn enter(&self, role: Role) -> Result<()> {
        if self.kind != TransportKind::Veth {
            return Ok(());
        }
        let ns = match role {
            Role::Server => &self.veth.server_ns,
            Role::Client => &self.veth.client_ns,
        };
        Ok(netns::enter(ns)?)
    }

    /// An AF_UNIX pair, both ends configured: (client, server).
    pub(crate) fn unix_pair(&self) -> io::Result<(Socket, Socket)> {
        let (a, b) = UnixStream::pair()?;
        let (a, b) = (
            Socket::from(std::os::fd::OwnedFd::from(a)),
            Socket::from(std::os::fd::OwnedFd::from(b)),
        );
        self.configure(&a)?;
        self.configure(&b)?;
        Ok((a, b))
    }

    /// A listening TCP socket on an ephemeral port of this role's address.
    pub fn listen(&self) -> io::Result<(Socket, SocketAddr)> {
        let ip = match self.kind {
            TransportKind::Veth => self.veth.server_addr,
            _ => Ipv4Addr::LOCALHOST,
        };
        let sock = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        // Buffer sizes must be set before the handshake to shape the window.
        self.set_buffers(&sock)?;
        // Linux honours SO_RCVTIMEO in accept(), which bounds the wait for the client.
        sock.set_read_timeout(Some(self.timeout))?;
        sock.bind(&SockAddr::from(SocketAddrV4::new(ip, 0)))?;
        sock.listen(1)?;
        let addr = sock
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("listener has no IP address"))?;
        Ok((sock, addr))
    }

    pub fn accept(&self, listener: &Socket) -> io::Result<Socket> {
        let (sock, _) = listener.accept()?;
        self.configure(&sock)?;
        Ok(sock)
    }

    pub fn connect(&self, addr: SocketAddr) -> io::Result<Socket> {
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        self.set_buffers(&sock)?;
        sock.connect_timeout(&addr.into(), self.timeout)?;
        self.configure(&sock)?;
        Ok(sock)
    }

    fn set_buffers(&self, sock: &Socket) -> io::Result<()> {
        if let (Some(mss), true) = (self.maxseg, self.kind != TransportKind::Unix) {
            use std::os::fd::AsFd;
            crate::sys::set_maxseg(sock.as_fd(), mss)?;
        }
        if let (Some(cc), true) = (&self.congestion, self.kind != TransportKind::Unix) {
            sock.set_tcp_congestion(cc.as_str().as_bytes())?;
        }
        if let Some(n) = self.sndbuf {
            sock.set_send_buffer_size(n)?;
        }
        if let Some(n) = self.rcvbuf {
            sock.set_recv_buffer_size(n)?;
        }
        Ok(())
    }

    /// Sets this transport's options on a socket made elsewhere (a remote
    /// session's data connection): buffers, blocking, timeouts, nodelay.
    pub(crate) fn configure(&self, sock: &Socket) -> io::Result<()> {
        self.set_buffers(sock)?;
        sock.set_nonblocking(false)?;
        sock.set_read_timeout(Some(self.timeout))?;
        sock.set_write_timeout(Some(self.timeout))?;
        if self.kind != TransportKind::Unix && self.nodelay {
            sock.set_nodelay(true)?;
        }
        Ok(())
    }
}

/// Whether `ip` is in 198.18.0.0/15 (RFC 2544), the only range veth runs may target.
pub(crate) fn is_benchmark_range(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    o[0] == 198 && (o[1] & 0xfe) == 18
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn benchmark_range_is_198_18_slash_15() {
        assert!(is_benchmark_range(Ipv4Addr::new(198, 18, 0, 1)));
        assert!(is_benchmark_range(Ipv4Addr::new(198, 19, 255, 254)));
        assert!(!is_benchmark_range(Ipv4Addr::new(198, 20, 0, 1)));
        assert!(!is_benchmark_range(Ipv4Addr::new(10, 0, 0, 1)));
    }
}
