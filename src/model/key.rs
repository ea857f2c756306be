//! What identifies a measured cell ([`CellKey`]) and how its run ended
//! ([`Status`]), as typed values. A results row names them as text
//! (`results.csv`'s `strategy`, `layout`, `transport`, `workload`,
//! `field_size_bytes`, `fields`, `receive`, `rcvlowat_bytes`, `threads` and `status` columns); the names
//! are parsed once, when the row is read (serde), and everything after that
//! (the report, `--resume`, `compare`) compares values.

use serde::{Deserialize, Deserializer, Serialize};

use super::kinds::{unknown_name, Layout, ReceiveKind, StrategyKind, TransportKind, WorkloadKind};

/// The configuration of a cell: what was sent how, over what, by how many
/// threads. Two runs of one key are repetitions of one cell, whatever their
/// cell numbers (which may differ between the sweeps of one directory).
///
/// Its order is the order the report lists cells in: by workload, transport,
/// thread count, field size, then strategy and layout (a strategy's page
/// cells right after its heap ones), then the number of fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    pub workload: WorkloadKind,
    pub transport: TransportKind,
    pub threads: u32,
    /// Bytes per field.
    pub field_size: u64,
    pub strategy: StrategyKind,
    pub layout: Layout,
    /// How the receivers took messages off the socket (`copy` in a row
    /// from before `--receives`); a strategy's mapping cells come right
    /// after its copying ones, the arms of one block.
    pub receive: ReceiveKind,
    /// `SO_RCVLOWAT` of the receiving sockets (`--rcvlowats`); `None`: not
    /// set (the kernel's 1), as in a row from before the column.
    pub rcvlowat: Option<u64>,
    pub fields: u32,
}

/// How one run of a cell ended (`results.csv`'s `status`). The default is
/// `failed`: a row that has not been filled measured nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Measured: the row's figures are its values.
    Ok,
    /// Not measured: the row's `error` says why, and it has no figures.
    #[default]
    Failed,
}

impl Status {
    pub const ALL: [Status; 2] = [Status::Ok, Status::Failed];

    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
        }
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Status::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| unknown_name("status", &name, &Status::ALL.map(Status::name)))
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A layout column as written: its name, or empty in a row from before
/// layouts, which was heap.
pub(crate) fn layout_or_heap<'de, D: Deserializer<'de>>(d: D) -> Result<Layout, D::Error> {
    let name = String::deserialize(d)?;
    if name.is_empty() {
        return Ok(Layout::Heap);
    }
    Layout::from_name(&name)
        .ok_or_else(|| unknown_name("layout", &name, &Layout::ALL.map(Layout::name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_as_serde_writes_them() {
        for s in Status::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
            assert_eq!(
                serde_json::from_value::<Status>(s.name().into()).unwrap(),
                s
            );
        }
        let err = serde_json::from_value::<Status>("done".into()).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("unknown status 'done' (known: ok, failed)"));
    }
}
