//! What a cell is and what it measured, as plain data: no sockets, no
//! threads, no files. The engine fills these values, the report reads them,
//! and the CSV, JSON and wire formats are their serde forms.

pub mod figures;
pub mod host;
pub mod key;
pub mod kinds;
pub mod measured;
pub mod size;
pub mod stats;
