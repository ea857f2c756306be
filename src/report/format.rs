//! Number formatting shared by the findings, the plots' axes and the table, so a
//! size or a value reads the same everywhere in a report.

use crate::model::key::CellKey;
use crate::model::kinds::{Layout, ReceiveKind, StrategyKind};
use crate::model::size::format_size;

/// A strategy in a layout, as the report names its cells: the strategy
/// alone in the heap layout (`zero-copy`), else with the layout beside it
/// (`zero-copy page`).
pub fn strategy(strategy: StrategyKind, layout: Layout) -> String {
    match layout {
        Layout::Heap => strategy.to_string(),
        other => format!("{strategy} {other}"),
    }
}

/// [`strategy`] behind a receive strategy: with the default (copying)
/// receiver as [`strategy`], else with the receive strategy beside it
/// (`one-copy + zerocopy rx`, `zero-copy page + zerocopy rx`).
pub fn arm(s: StrategyKind, layout: Layout, receive: ReceiveKind) -> String {
    if receive == ReceiveKind::default() {
        strategy(s, layout)
    } else {
        format!("{} + {receive} rx", strategy(s, layout))
    }
}

/// Where a group's `SO_RCVLOWAT` was set (`--rcvlowats`): `, rcvlowat 64
/// KiB`; nothing where it was not (the kernel's 1, and every sweep before
/// the dimension).
pub fn rcvlowat_tag(rcvlowat: Option<u64>) -> String {
    rcvlowat.map_or(String::new(), |n| format!(", rcvlowat {}", format_size(n)))
}

/// [`arm`] of a cell.
pub fn cell_strategy(key: &CellKey) -> String {
    arm(key.strategy, key.layout, key.receive)
}

/// A measured value with three significant digits and no trailing zeros:
/// `0.0123`, `1.5`, `12.3`, `1234`.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let magnitude = if v == 0.0 {
        0
    } else {
        v.abs().log10().floor() as i32
    };
    let decimals = (2 - magnitude).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `64 B–64 KiB`, or a single size when the range has one.
pub fn size_range(lo: u64, hi: u64) -> String {
    if lo == hi {
        format_size(lo)
    } else {
        format!("{}–{}", format_size(lo), format_size(hi))
    }
}

/// `1 thread`, `4 threads`.
pub fn threads(n: u32) -> String {
    if n == 1 {
        "1 thread".into()
    } else {
        format!("{n} threads")
    }
}

/// `1 thread`, `1, 2, 4 threads`.
pub fn thread_list(list: &[u32]) -> String {
    match list {
        [one] => threads(*one),
        _ => {
            let numbers: Vec<String> = list.iter().map(u32::to_string).collect();
            format!("{} threads", numbers.join(", "))
        }
    }
}

/// A list of sizes: `64 B, 256 B, 1 KiB`.
pub fn sizes(list: &[u64]) -> String {
    list.iter()
        .map(|&s| format_size(s))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_sizes_and_numbers() {
        assert_eq!(number(0.012345), "0.0123");
        assert_eq!(number(12.0), "12");
        assert_eq!(number(1234.6), "1235");
        assert_eq!(size_range(64, 65536), "64 B–64 KiB");
    }
}
