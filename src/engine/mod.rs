//! Sockets, threads and strategies: everything that runs a cell on this host.
//!
//! A [`Config`](config::Config) says what to run; an
//! [`Experiment`](experiment::Experiment) starts its connections and worker
//! threads once and runs measured batches through them; a
//! [`Session`](session::Session) is any started cell (this host's, or one
//! whose server ends run on a `copybench serve`), and [`cell`] is the one
//! loop that warms a session up and samples it into a
//! [`CellResult`](cell::CellResult).

pub mod block;
pub mod cell;
pub mod config;
pub mod counters;
pub mod error;
pub mod experiment;
pub mod limits;
pub mod measurement;
pub mod message;
pub(crate) mod meter;
pub mod netns;
pub mod probe;
pub(crate) mod recv;
pub mod session;
pub mod strategy;
pub mod transport;
pub(crate) mod worker;
