//! Two hosts: `copybench serve` on one, `run`/`sweep --connect` on the other.
//!
//! One TCP port (default [`proto::DEFAULT_PORT`], 7202) carries the control
//! session and every data connection, as iperf3 does. [`proto`] is the wire
//! format (documented for people in PROTOCOL.md), [`server`] the `serve`
//! side and [`client`] the `--connect` side. Both sides run the same worker
//! code as a local run; only who makes the sockets differs.

pub mod client;
pub mod proto;
pub mod server;

pub use client::{resolve, Remote, RemoteExperiment};
pub use proto::DEFAULT_PORT;
pub use server::{ServeOptions, MEMORY_LIMIT};
