//! The report's SVG plots.
//!
//! Each plot is first described as data ([`Plot`]: a grid of panels, each a
//! line chart, a bar chart or a note), then drawn by one renderer, so every plot
//! shares the same axes, colours, error bars and legends, and the plots can be
//! drawn in parallel. A plot whose data is absent (a sweep without `rr`, a host
//! without hardware counters) still gets its file, with a panel that says why,
//! so `index.html` always has the same shape.
//!
//! Text is drawn with the SVG backend's own `<text>` elements: no font library
//! is needed to build, and the browser picks the font.

use std::path::{Path, PathBuf};

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::cells::{CellSummary, View};
use super::crossover::{metrics, Arm, Crossover, Outcome};
use super::format;
use super::ReportError;
use crate::model::figures::{Counter, Figure, RoleFigure};
use crate::model::host::SweepEnv;
use crate::model::kinds::{Layout, ReceiveKind, Role, StrategyKind, TransportKind, WorkloadKind};
use crate::model::size::format_size;

const PANEL_WIDTH: u32 = 520;
const PANEL_HEIGHT: u32 = 340;
const TITLE_HEIGHT: u32 = 40;
const LEGEND_HEIGHT: u32 = 30;
/// Okabe–Ito: a palette that colour-blind readers can tell apart.
const COLORS: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xb2), // blue: two-copy
    RGBColor(0xe6, 0x9f, 0x00), // orange: one-copy
    RGBColor(0x00, 0x9e, 0x73), // bluish green: zero-copy
    RGBColor(0xcc, 0x79, 0xa7), // reddish purple: uring
    RGBColor(0x56, 0xb4, 0xe9), // sky blue: uring-zc
    RGBColor(0xd5, 0x5e, 0x00), // vermillion
    RGBColor(0x00, 0x00, 0x00), // black
    RGBColor(0xf0, 0xe4, 0x42), // yellow
];

/// Text sizes asked of plotters (which draws them at 0.8x): the smallest,
/// tick labels, lands at 15 px in the SVG, so at 12 px or more on a page
/// that shrinks the plot to 80 % (a 1000 px window).
const TITLE_FONT: u32 = 28;
const CAPTION_FONT: u32 = 22;
const LABEL_FONT: u32 = 19;

/// How a series is drawn: colour, marker and dash, the same for a strategy in
/// every plot (and in the page's tables, see [`strategy_color`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Triangle,
    Square,
    Cross,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dash {
    Solid,
    Dashed,
    Dotted,
}

/// What a series is about, when it is one strategy's in one layout behind
/// one receive strategy: it then takes that strategy's colour, and a layout
/// other than heap or a receiver other than copy another marker and dash.
type SeriesOf = Option<(StrategyKind, Layout, ReceiveKind)>;

/// A strategy's colour as `#rrggbb`, for the page.
pub fn strategy_color(strategy: StrategyKind) -> String {
    let RGBColor(r, g, b) = COLORS[strategy.rank()];
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Colour, marker and dash of a series about `of`, the `index`th of its
/// plot; a series about no one strategy (a bar's part) is told apart by
/// its index.
fn style_of(of: SeriesOf, index: usize) -> (RGBColor, Marker, Dash) {
    let others = StrategyKind::ALL.len();
    let (i, layout, receive) = match of {
        Some((strategy, layout, receive)) => (strategy.rank(), layout, receive),
        None => (
            others + index % (COLORS.len() - others),
            Layout::Heap,
            ReceiveKind::Copy,
        ),
    };
    // Another layout or receiver of the same strategy: its colour, another
    // marker and dash (a layout shifts them by 2 and 1, a receiver by 1
    // and 2, so every combination of the two differs from the others).
    let page = usize::from(layout != Layout::Heap);
    let mapped = usize::from(receive != ReceiveKind::Copy);
    let marker = [
        Marker::Circle,
        Marker::Triangle,
        Marker::Square,
        Marker::Cross,
    ][(i + 2 * page + mapped) % 4];
    let dash = [Dash::Solid, Dash::Dashed, Dash::Dotted][(i + page + 2 * mapped) % 3];
    (COLORS[i % COLORS.len()], marker, dash)
}

/// One SVG file: a title over a grid of panels.
#[derive(Debug, Clone)]
pub struct Plot {
    /// File name inside the report directory.
    pub file: &'static str,
    pub title: String,
    /// How to read the plot, for `index.html`.
    pub about: String,
    cols: usize,
    panels: Vec<Panel>,
}

#[derive(Debug, Clone)]
struct Panel {
    title: String,
    body: Body,
}

#[derive(Debug, Clone)]
enum Body {
    /// One line per series, medians joined, 95 % intervals as vertical error
    /// bars (or, with `band`, a shaded band); `reference` draws a horizontal
    /// line (1.0 on a ratio plot); `marks` are x values to flag per series
    /// (crossovers).
    Lines {
        x: Axis,
        y: Axis,
        series: Vec<Series>,
        band: bool,
        reference: Option<f64>,
        marks: Vec<(String, f64)>,
    },
    /// Grouped bars of medians: per category, one bar per series.
    Bars {
        y: Axis,
        categories: Vec<String>,
        series: Vec<(String, Vec<Option<f64>>)>,
    },
    /// Why there is no chart.
    Note(String),
}

#[derive(Debug, Clone)]
struct Series {
    name: String,
    /// The strategy and layout of its cells.
    of: SeriesOf,
    /// (x, median, interval low, interval high), in data units, ascending x.
    points: Vec<(f64, f64, f64, f64)>,
}

#[derive(Debug, Clone, Copy)]
enum Scale {
    Linear,
    Log2,
    Log10,
}

#[derive(Debug, Clone, Copy)]
enum Unit {
    Bytes,
    Plain,
    /// A share in 0..=1, shown as a percentage.
    Share,
}

#[derive(Debug, Clone, Copy)]
struct Axis {
    label: &'static str,
    scale: Scale,
    unit: Unit,
}

impl Axis {
    const FIELD_SIZE: Axis = Axis {
        label: "field size",
        scale: Scale::Log2,
        unit: Unit::Bytes,
    };

    fn linear(label: &'static str) -> Axis {
        Axis {
            label,
            scale: Scale::Linear,
            unit: Unit::Plain,
        }
    }

    fn log(label: &'static str) -> Axis {
        Axis {
            label,
            scale: Scale::Log10,
            unit: Unit::Plain,
        }
    }

    /// Data value to plot coordinate; `None` where a log scale cannot show it.
    fn to_plot(self, v: f64) -> Option<f64> {
        match self.scale {
            Scale::Linear => Some(v),
            Scale::Log2 if v > 0.0 => Some(v.log2()),
            Scale::Log10 if v > 0.0 => Some(v.log10()),
            _ => None,
        }
    }

    /// Tick label at a plot coordinate. Log axes label whole powers only.
    fn tick(self, p: f64) -> String {
        let whole = (p - p.round()).abs() < 1e-9;
        let v = match self.scale {
            Scale::Linear => p,
            Scale::Log2 if whole => 2f64.powf(p.round()),
            Scale::Log10 if whole => 10f64.powf(p.round()),
            _ => return String::new(),
        };
        match self.unit {
            Unit::Bytes => format_size(v.round() as u64),
            Unit::Plain => format::number(v),
            Unit::Share => format!("{}%", format::number(v * 100.0)),
        }
    }

    /// Plot-coordinate range covering these plot coordinates, with a margin.
    fn range(self, values: impl Iterator<Item = f64>) -> (f64, f64) {
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        match (self.scale, self.unit) {
            (Scale::Linear, Unit::Share) => (0.0, hi.max(1.0) * 1.05),
            (Scale::Linear, _) => {
                let hi = if hi > 0.0 { hi * 1.1 } else { 1.0 };
                (lo.min(0.0), hi)
            }
            (Scale::Log2, _) => (lo - 0.4, hi + 0.4),
            (Scale::Log10, _) => {
                let (lo, hi) = (lo.floor(), hi.ceil());
                (lo, if hi > lo { hi } else { lo + 1.0 })
            }
        }
    }

    /// How many ticks to ask for: one per whole power on log axes.
    fn ticks(self, (lo, hi): (f64, f64)) -> usize {
        match self.scale {
            Scale::Linear => 6,
            Scale::Log2 | Scale::Log10 => {
                let powers = (hi - lo).floor() as usize + 1;
                // Every other power when there are many, so labels do not collide.
                if powers > 7 {
                    powers.div_ceil(2)
                } else {
                    powers.max(2)
                }
            }
        }
    }
}

impl Panel {
    /// A panel that says why there is no chart; an empty title draws none.
    fn note(title: impl Into<String>, text: impl Into<String>) -> Panel {
        Panel {
            title: title.into(),
            body: Body::Note(text.into()),
        }
    }

    /// A line chart of `figure` over the cells, one line per name
    /// `name_of(cell)` gives (with what the series is about), or a note when
    /// no cell has the figure.
    fn lines(
        title: String,
        cells: &[&CellSummary],
        (x, x_of): (Axis, fn(&CellSummary) -> f64),
        (y, figure): (Axis, View),
        name_of: &dyn Fn(&CellSummary) -> (String, SeriesOf),
    ) -> Panel {
        let mut series: Vec<Series> = Vec::new();
        for cell in cells {
            let Some(s) = cell.get(figure) else { continue };
            let (name, of) = name_of(cell);
            let point = (x_of(cell), s.median, s.lo, s.hi);
            match series.iter_mut().find(|s| s.name == name) {
                Some(found) => found.points.push(point),
                None => series.push(Series {
                    name,
                    of,
                    points: vec![point],
                }),
            }
        }
        if series.is_empty() {
            return Panel::note(title, format!("no {} values", figure.label()));
        }
        for s in &mut series {
            s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        Panel {
            title,
            body: Body::Lines {
                x,
                y,
                series,
                band: false,
                reference: None,
                marks: Vec::new(),
            },
        }
    }
}

/// The cells a panel draws from.
fn select(cells: &[CellSummary], keep: impl Fn(&CellSummary) -> bool) -> Vec<&CellSummary> {
    cells.iter().filter(|c| keep(c)).collect()
}

/// Distinct values in first-seen order (cells come sorted, so this is sorted
/// wherever the sort key leads).
fn distinct<'a, T: PartialEq + Copy>(
    cells: &[&'a CellSummary],
    of: impl Fn(&'a CellSummary) -> T,
) -> Vec<T> {
    let mut out = Vec::new();
    for &c in cells {
        let v = of(c);
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

fn field_size(c: &CellSummary) -> f64 {
    c.key.field_size as f64
}

/// Series names: the strategy, plus its layout when a sweep measured several
/// (or only a layout other than heap), plus the transport when it measured
/// several (a transport or layout whose cells all failed does not count):
/// `zero-copy`, `zero-copy (page)`, `zero-copy (heap, loopback)`.
/// Each series is its strategy's in its layout.
fn strategy_namer(cells: &[CellSummary]) -> impl Fn(&CellSummary) -> (String, SeriesOf) {
    let name = namer(cells, true);
    move |c| {
        let of = (c.key.strategy, c.key.layout, c.key.receive);
        (name(c), Some(of))
    }
}

/// [`strategy_namer`]; without `layouts`, the layout is left out of the
/// names (a plot that gives each layout panels of its own).
fn namer(cells: &[CellSummary], layouts: bool) -> impl Fn(&CellSummary) -> String {
    let measured = select(cells, |c| c.ok > 0);
    let several = distinct(&measured, |c| c.key.transport).len() > 1;
    let show_layout = layouts && several_layouts(&measured);
    // Cells of several SO_RCVLOWAT values (`--rcvlowats`) are series of
    // their own, or their points would share a line.
    let lowats = distinct(&measured, |c| c.key.rcvlowat).len() > 1;
    move |c: &CellSummary| {
        let mut tags = Vec::new();
        if show_layout {
            tags.push(c.key.layout.name().to_string());
        }
        if several {
            tags.push(c.key.transport.name().to_string());
        }
        if lowats {
            tags.push(c.key.rcvlowat.map_or("rcvlowat unset".into(), |n| {
                format!("rcvlowat {}", format_size(n))
            }));
        }
        let arm = format::arm(c.key.strategy, Layout::Heap, c.key.receive);
        if tags.is_empty() {
            arm
        } else {
            format!("{arm} ({})", tags.join(", "))
        }
    }
}

/// Whether the cells are in more than one layout, or only in one other than
/// heap: then names and titles say the layout.
fn several_layouts(cells: &[&CellSummary]) -> bool {
    let layouts = distinct(cells, |c| c.key.layout);
    layouts.len() > 1 || layouts.iter().any(|&l| l != Layout::Heap)
}

/// `env.json`'s reason for a counter being unavailable, or the fallback.
fn unavailable(env: Option<&SweepEnv>, counter: Counter, what: &str) -> String {
    let reason = env
        .and_then(|e| e.counter_reason(counter.name()))
        .unwrap_or("no hardware counter values in results.csv");
    format!("{what}: unavailable on this host: {reason}")
}

/// Every plot of a report, described, not yet drawn, and one line for each
/// plot left out for want of data (no PMU: no cycles, no cache misses).
pub fn plots(
    cells: &[CellSummary],
    crossovers: &[Crossover],
    env: Option<&SweepEnv>,
) -> (Vec<Plot>, Vec<String>) {
    let mut drawn = vec![
        ratio(cells, crossovers),
        latency_vs_size(cells),
        cpu_per_byte(cells),
        throughput(cells),
        user_kernel(cells),
        zc_copied(cells),
    ];
    let mut skipped = Vec::new();
    // Only a sweep that mapped received pages has receive strategies to set
    // side by side; the others' pages stay as they were.
    let rx = rx_cpu_per_byte(cells);
    if rx.has_data() {
        drawn.insert(3, rx);
    } else {
        skipped.push(
            "Receiver CPU time per byte: not plotted, only copying receivers were run (sweep --receives copy,zerocopy compares them)"
                .to_string(),
        );
    }
    for (plot, counter, what) in [
        (
            per_role(
                cells,
                "cache_misses.svg",
                "Cache misses per message vs field size",
                "Hardware cache misses per message, at the fewest threads tested.",
                [Role::Client, Role::Server]
                    .map(|r| View::PerMsg(r, RoleFigure::Counter(Counter::CacheMisses))),
                Axis::log("cache misses/msg"),
                None,
            ),
            Counter::CacheMisses,
            "Cache misses per message",
        ),
        (
            per_role(
                cells,
                "cycles_per_byte.svg",
                "Cycles per byte vs field size",
                "CPU cycles per byte moved, from hardware counters, at the fewest threads tested.",
                [Role::Client, Role::Server]
                    .map(|r| View::Of(Figure::Role(r, RoleFigure::CyclesPerByte))),
                Axis::log(RoleFigure::CyclesPerByte.unit()),
                None,
            ),
            Counter::Cycles,
            "Cycles per byte",
        ),
    ] {
        if plot.has_data() {
            drawn.push(plot);
        } else {
            skipped.push(format!(
                "{what}: not plotted, {}",
                unavailable(env, counter, "no values").trim_start_matches("no values: ")
            ));
        }
    }
    (drawn, skipped)
}

/// The send strategy the speed-up plot divides by: two-copy
/// ([`StrategyKind::REFERENCE`]) where the sweep compared anything with it,
/// else the first strategy (in the registry's order) that some other was
/// compared with behind the same receiver (`--strategies zero-copy,one-copy`:
/// one-copy); `None` when no send strategies were compared.
fn speedup_reference(crossovers: &[Crossover]) -> Option<StrategyKind> {
    let baselines: Vec<StrategyKind> = crossovers
        .iter()
        .filter(|c| c.challenger.receive == c.baseline.receive)
        .map(|c| c.baseline.strategy)
        .collect();
    StrategyKind::ALL
        .into_iter()
        .filter(|s| baselines.contains(s))
        .min_by_key(|&s| s != StrategyKind::REFERENCE)
}

/// Each strategy against two-copy (or, where two-copy was not run, the
/// baseline [`speedup_reference`] picks, as the title says) on the
/// workload's main figure, as a speed-up (>1: better than the baseline),
/// with the ratio's interval as a band, the 1.0 line, and the crossover
/// sizes marked. A group where nothing was compared with it has no panel.
fn ratio(cells: &[CellSummary], crossovers: &[Crossover]) -> Plot {
    let mut panels = Vec::new();
    let r = speedup_reference(crossovers).unwrap_or(StrategyKind::REFERENCE);
    type Group = (WorkloadKind, TransportKind, u32, Option<u64>);
    let groups: Vec<Group> = {
        let mut g: Vec<Group> = crossovers
            .iter()
            .map(|c| (c.workload, c.transport, c.threads, c.rcvlowat))
            .collect();
        g.dedup();
        g
    };
    let several = distinct(&select(cells, |c| c.ok > 0), |c| c.key.transport).len() > 1;
    for (workload, transport, threads, rcvlowat) in groups {
        let metric = metrics(workload)[0];
        let mut series = Vec::new();
        let mut marks = Vec::new();
        for c in crossovers.iter().filter(|c| {
            (
                c.workload,
                c.transport,
                c.threads,
                c.rcvlowat,
                c.metric,
                c.baseline,
            ) == (
                workload,
                transport,
                threads,
                rcvlowat,
                metric,
                Arm {
                    strategy: r,
                    receive: c.challenger.receive,
                },
            )
        }) {
            let name = if several {
                format!("{} ({transport})", c.challenger)
            } else {
                c.challenger.to_string()
            };
            let up = metric.higher_is_better();
            let points = c
                .compared
                .iter()
                .map(|v| {
                    let r = v.comparison;
                    let (m, lo, hi) = if up {
                        (r.ratio, r.ratio_lo, r.ratio_hi)
                    } else {
                        (1.0 / r.ratio, 1.0 / r.ratio_hi, 1.0 / r.ratio_lo)
                    };
                    (v.field_size_bytes as f64, m, lo, hi)
                })
                .filter(|p| p.1.is_finite() && p.2.is_finite() && p.3.is_finite())
                .collect::<Vec<_>>();
            if let Outcome::From(size) = c.outcome {
                marks.push((name.clone(), size as f64));
            }
            if !points.is_empty() {
                series.push(Series {
                    name,
                    // Crossovers compare heap cells.
                    of: Some((c.challenger.strategy, Layout::Heap, c.challenger.receive)),
                    points,
                });
            }
        }
        let title = format!(
            "{workload}, {}{}{}",
            format::threads(threads),
            if several {
                format!(", {transport}")
            } else {
                String::new()
            },
            format::rcvlowat_tag(rcvlowat)
        );
        // A group with nothing compared with the reference (its cells
        // failed, or the strategies run there have other baselines) gets no
        // empty panel.
        if series.is_empty() {
            continue;
        }
        panels.push(Panel {
            title,
            body: Body::Lines {
                x: Axis::FIELD_SIZE,
                // The plot's text names a baseline other than two-copy.
                y: Axis::linear(
                    match (metric.higher_is_better(), r == StrategyKind::REFERENCE) {
                        (true, true) => "throughput / two-copy's",
                        (false, true) => "two-copy's p50 / p50",
                        (true, false) => "throughput / the baseline's",
                        (false, false) => "the baseline's p50 / p50",
                    },
                ),
                series,
                band: true,
                reference: Some(1.0),
                marks,
            },
        });
    }
    // A paired sweep's band is the paired interval (the crossovers' own).
    let paired = crossovers.iter().any(|c| c.paired_sweep);
    let instead = if r == StrategyKind::REFERENCE {
        String::new()
    } else {
        format!(
            " {} was not run, so the baseline is {r}, the strategy the others here were compared with.",
            StrategyKind::REFERENCE
        )
    };
    let layouts = if distinct(&select(cells, |c| c.ok > 0), |c| c.key.layout).len() > 1 {
        ", in the heap layout: page-layout cells are the other plots' \"(page)\" series and are compared with heap in the zero-copy findings"
    } else {
        ""
    };
    let band = if paired {
        "Paired: the point is the median of the per-round ratios of the two, measured side by side, and the band its 95 % interval"
    } else {
        "The band is the ratio's interval"
    };
    Plot {
        file: "ratio.svg",
        title: format!("Speed-up over {r} vs field size"),
        about: format!(
            "Each strategy's main figure relative to {r} (stream: throughput ratio; rr: {r}'s p50 round trip over the strategy's), above 1 = better than {r}{layouts}. {band}; a ring marks a crossover (called better from that size up).{instead}"
        ),
        cols: 2,
        panels: or_note(panels, &format!("no strategy was compared with {r} in results.csv")),
    }
}

/// rr round-trip p50 and p99 against the field size, a row per thread count.
fn latency_vs_size(cells: &[CellSummary]) -> Plot {
    let rr = select(cells, |c| c.key.workload == WorkloadKind::Rr);
    let name = strategy_namer(cells);
    let mut panels = Vec::new();
    for t in distinct(&rr, |c| c.key.threads) {
        for (figure, label) in [
            (View::Of(Figure::LatencyP50Us), "p50"),
            (View::Of(Figure::LatencyP99Us), "p99"),
        ] {
            panels.push(Panel::lines(
                format!("rr {label}, {}", format::threads(t)),
                &select(cells, |c| {
                    c.key.workload == WorkloadKind::Rr && c.key.threads == t
                }),
                (Axis::FIELD_SIZE, field_size),
                (Axis::log("round trip µs"), figure),
                &name,
            ));
        }
    }
    Plot {
        file: "latency_size.svg",
        title: "Request/response latency vs field size".into(),
        about: "Round-trip p50 (left) and p99 (right) per strategy against the field size, a row per thread count; bars are 95 % intervals of the median. Lower is better.".into(),
        cols: 2,
        panels: or_note(panels, "no rr cells in results.csv"),
    }
}

/// Client plus server CPU per byte against the field size, a panel per
/// workload and thread count.
fn cpu_per_byte(cells: &[CellSummary]) -> Plot {
    let all = select(cells, |_| true);
    let name = strategy_namer(cells);
    let mut panels = Vec::new();
    for workload in distinct(&all, |c| c.key.workload) {
        let of = select(cells, |c| c.key.workload == workload);
        for t in distinct(&of, |c| c.key.threads) {
            panels.push(Panel::lines(
                format!("{workload}, {}", format::threads(t)),
                &select(cells, |c| c.key.workload == workload && c.key.threads == t),
                (Axis::FIELD_SIZE, field_size),
                (
                    Axis::log("CPU ns/byte"),
                    View::Total(RoleFigure::CpuNsPerByte),
                ),
                &name,
            ));
        }
    }
    Plot {
        file: "cpu_per_byte.svg",
        title: "CPU time per byte vs field size".into(),
        about: "Client plus server CPU time per byte moved (exact thread CPU clocks), a panel per workload and thread count; bars are 95 % intervals. Lower is cheaper.".into(),
        cols: 2,
        panels: or_note(panels, "no cells in results.csv"),
    }
}

/// The receiver's CPU per byte against the field size, one line per
/// receive strategy behind each sender (stream, where the server alone
/// receives), a panel per thread count: what mapping received pages
/// (`--receives zerocopy`) costs the receiver against copying them.
fn rx_cpu_per_byte(cells: &[CellSummary]) -> Plot {
    let stream = select(cells, |c| c.key.workload == WorkloadKind::Stream);
    let name = strategy_namer(cells);
    let maps = stream.iter().any(|c| c.key.receive != ReceiveKind::Copy);
    let panels = if maps {
        stream_panels(
            cells,
            (
                Axis::log("receiver CPU ns/byte"),
                View::Of(Figure::Role(Role::Server, RoleFigure::CpuNsPerByte)),
            ),
            &name,
        )
    } else {
        Vec::new()
    };
    Plot {
        file: "rx_cpu_per_byte.svg",
        title: "Receiver CPU time per byte vs field size".into(),
        about: "The receiving thread's CPU time per byte (stream: the server's), one line per receive strategy behind each sender (`+ zerocopy rx`: TCP_ZEROCOPY_RECEIVE maps received pages; otherwise they are copied), a panel per thread count; bars are 95 % intervals. On one host the receiver's time also holds loopback work the kernel does in its context. Lower is cheaper.".into(),
        cols: 2,
        panels: or_note(
            panels,
            if stream.is_empty() {
                "no stream cells in results.csv"
            } else {
                "only copying receivers were run (sweep --receives copy,zerocopy compares them)"
            },
        ),
    }
}

/// A panel per thread count of the stream cells: `y` against the field size.
fn stream_panels(
    cells: &[CellSummary],
    y: (Axis, View),
    name: &dyn Fn(&CellSummary) -> (String, SeriesOf),
) -> Vec<Panel> {
    let stream = select(cells, |c| c.key.workload == WorkloadKind::Stream);
    distinct(&stream, |c| c.key.threads)
        .into_iter()
        .map(|t| {
            Panel::lines(
                format!("stream, {}", format::threads(t)),
                &select(cells, |c| {
                    c.key.workload == WorkloadKind::Stream && c.key.threads == t
                }),
                (Axis::FIELD_SIZE, field_size),
                y,
                name,
            )
        })
        .collect()
}

fn throughput(cells: &[CellSummary]) -> Plot {
    let panels = stream_panels(
        cells,
        (
            Axis::linear(Figure::ThroughputGbps.unit()),
            View::Of(Figure::ThroughputGbps),
        ),
        &strategy_namer(cells),
    );
    Plot {
        file: "throughput.svg",
        title: "Stream throughput vs field size".into(),
        about: "One-way throughput per strategy, a panel per thread count; markers are medians, bars their 95 % intervals. Higher is better.".into(),
        cols: 2,
        panels: or_note(panels, "no stream cells in results.csv"),
    }
}

/// A panel per workload × role (client, server) of a per-role figure at the
/// fewest threads tested; `missing` replaces the whole plot when no cell has
/// the figure (hardware counters unavailable).
fn per_role(
    cells: &[CellSummary],
    file: &'static str,
    title: &str,
    about: &'static str,
    [client, server]: [View; 2],
    y: Axis,
    missing: Option<String>,
) -> Plot {
    let has = |c: &CellSummary| c.get(client).is_some() || c.get(server).is_some();
    let name = strategy_namer(cells);
    let all = select(cells, |_| true);
    let panels = match missing {
        Some(why) if !cells.iter().any(has) => vec![Panel::note("", why)],
        _ => distinct(&all, |c| c.key.workload)
            .into_iter()
            .flat_map(|workload| {
                let fewest = cells
                    .iter()
                    .filter(|c| c.key.workload == workload)
                    .map(|c| c.key.threads)
                    .min()
                    .unwrap_or(1);
                let chosen = select(cells, |c| {
                    c.key.workload == workload && c.key.threads == fewest
                });
                let (send, receive) = if workload == WorkloadKind::Stream {
                    ("client (sending side)", "server (receiving side)")
                } else {
                    ("client", "server")
                };
                [(client, send), (server, receive)].map(|(figure, role)| {
                    Panel::lines(
                        format!("{workload}, {role}, {}", format::threads(fewest)),
                        &chosen,
                        (Axis::FIELD_SIZE, field_size),
                        (y, figure),
                        &name,
                    )
                })
            })
            .collect(),
    };
    Plot {
        file,
        title: title.into(),
        about: about.into(),
        cols: 2,
        panels: or_note(panels, "no cells in results.csv"),
    }
}

fn user_kernel(cells: &[CellSummary]) -> Plot {
    const PARTS: [(View, &str); 4] = [
        (
            View::PerMsg(Role::Client, RoleFigure::UserNs),
            "client user",
        ),
        (
            View::PerMsg(Role::Client, RoleFigure::SysNs),
            "client kernel",
        ),
        (
            View::PerMsg(Role::Server, RoleFigure::UserNs),
            "server user",
        ),
        (
            View::PerMsg(Role::Server, RoleFigure::SysNs),
            "server kernel",
        ),
    ];
    // Several layouts: a panel per layout, so the bars' labels stay short.
    let name = namer(cells, false);
    let all = select(cells, |_| true);
    let per_layout = several_layouts(&select(cells, |c| c.ok > 0));
    let mut panels = Vec::new();
    for workload in distinct(&all, |c| c.key.workload) {
        let of_workload = select(cells, |c| c.key.workload == workload);
        let fewest = of_workload.iter().map(|c| c.key.threads).min().unwrap_or(1);
        let mut sizes = distinct(&of_workload, |c| c.key.field_size);
        sizes.sort_unstable();
        let (smallest, largest) = (sizes[0], sizes[sizes.len() - 1]);
        let mut picked = vec![smallest, largest];
        picked.dedup();
        let layouts = if per_layout {
            distinct(&of_workload, |c| Some(c.key.layout))
        } else {
            vec![None]
        };
        for (size, layout) in picked
            .into_iter()
            .flat_map(|size| layouts.iter().map(move |l| (size, *l)))
        {
            let chosen: Vec<&CellSummary> = of_workload
                .iter()
                .copied()
                .filter(|c| c.key.threads == fewest && c.key.field_size == size)
                .filter(|c| layout.is_none_or(|l| c.key.layout == l))
                .filter(|c| PARTS.iter().any(|(f, _)| c.get(*f).is_some()))
                .collect();
            let title = format!(
                "{workload}, {} fields, {}{}",
                format_size(size),
                format::threads(fewest),
                layout.map_or(String::new(), |l| format!(", {l}"))
            );
            if chosen.is_empty() {
                panels.push(Panel::note(title, "no CPU time values"));
                continue;
            }
            panels.push(Panel {
                title,
                body: Body::Bars {
                    y: Axis::linear("CPU ns/msg"),
                    categories: chosen.iter().map(|c| name(c)).collect(),
                    series: PARTS
                        .iter()
                        .map(|&(figure, part)| {
                            let values =
                                chosen.iter().map(|c| Some(c.get(figure)?.median)).collect();
                            (part.to_string(), values)
                        })
                        .collect(),
                },
            });
        }
    }
    Plot {
        file: "user_kernel.svg",
        title: "User vs kernel CPU per message".into(),
        about: "Median CPU time per message split into user and kernel time, for the client and the server, at the smallest and largest field size and the fewest threads: who does the copying.".into(),
        cols: 2,
        panels: or_note(panels, "no cells in results.csv"),
    }
}

fn zc_copied(cells: &[CellSummary]) -> Plot {
    let zero_copy = |c: &CellSummary| c.key.strategy.has_completions();
    let zc = select(cells, zero_copy);
    let show_layout = several_layouts(&zc);
    // A series per strategy, transport and thread count. In one layout they
    // are told apart by their place in the plot (in its strategy's style,
    // a strategy's thread counts would look alike); in several, each takes
    // its strategy's style and layout, as in the other plots (where its
    // thread counts do look alike).
    let name = |c: &CellSummary| {
        let (strategy, layout) = (c.key.strategy, c.key.layout);
        let name = format!(
            "{}, {}, {}",
            if show_layout {
                format!(
                    "{} ({layout})",
                    format::arm(strategy, Layout::Heap, c.key.receive)
                )
            } else {
                format::arm(strategy, Layout::Heap, c.key.receive)
            },
            c.key.transport,
            format::threads(c.key.threads)
        );
        (
            name,
            show_layout.then_some((strategy, layout, c.key.receive)),
        )
    };
    // Every strategy that lends its buffers: `zero-copy and uring-zc`.
    let lending: Vec<&str> = StrategyKind::ALL
        .into_iter()
        .filter(|s| s.has_completions())
        .map(StrategyKind::name)
        .collect();
    let lending = lending.join(" and ");
    let panels = distinct(&zc, |c| c.key.workload)
        .into_iter()
        .map(|workload| {
            Panel::lines(
                format!("{lending}, {workload}"),
                &select(cells, |c| zero_copy(c) && c.key.workload == workload),
                (Axis::FIELD_SIZE, field_size),
                (
                    Axis {
                        label: "completions copied",
                        scale: Scale::Linear,
                        unit: Unit::Share,
                    },
                    View::Of(Figure::ZcCopiedShare),
                ),
                &name,
            )
        })
        .collect();
    Plot {
        file: "zc_copied.svg",
        title: "Zero-copy completions the kernel copied".into(),
        about: "Share of zero-copy completions the kernel flagged as copied: MSG_ZEROCOPY's SO_EE_CODE_ZEROCOPY_COPIED (zero-copy) and io_uring's IORING_NOTIF_USAGE_ZC_COPIED (uring-zc), per transport and thread count. 100% means the kernel copied anyway (as on loopback): no copy was avoided.".into(),
        cols: 2,
        panels: or_note(panels, "no zero-copy cells in results.csv"),
    }
}

fn or_note(panels: Vec<Panel>, why: &str) -> Vec<Panel> {
    if panels.is_empty() {
        vec![Panel::note("no data", why)]
    } else {
        panels
    }
}

impl Plot {
    /// Whether some panel draws data (not only notes).
    pub fn has_data(&self) -> bool {
        self.panels.iter().any(|p| !matches!(p.body, Body::Note(_)))
    }

    /// Draws the plot into `dir`, returning the file's path.
    pub fn render(&self, dir: &Path) -> Result<PathBuf, ReportError> {
        let path = dir.join(self.file);
        let failed = |e: &dyn std::fmt::Display| {
            ReportError::Plot(format!(
                "cannot draw {}: {e}; check that the directory is writable and has space",
                path.display()
            ))
        };
        let cols = self.cols.min(self.panels.len()).max(1);
        let rows = self.panels.len().div_ceil(cols);
        let styles = self.styles();
        let color = |name: &str| {
            styles
                .iter()
                .find(|s| s.0 == name)
                .map_or_else(|| style_of(None, 0), |s| s.1)
        };
        let names = self.series_names();
        let placed = legend_layout(&names, cols as u32 * PANEL_WIDTH);
        let legend_rows = placed.iter().map(|p| p.2 + 1).max().unwrap_or(0);
        let legend_height = legend_rows * LEGEND_HEIGHT;
        let size = (
            cols as u32 * PANEL_WIDTH,
            rows as u32 * PANEL_HEIGHT + TITLE_HEIGHT + legend_height,
        );
        {
            let root = SVGBackend::new(&path, size).into_drawing_area();
            root.fill(&WHITE).map_err(|e| failed(&e))?;
            let body = root
                .titled(&self.title, ("sans-serif", TITLE_FONT))
                .map_err(|e| failed(&e))?;
            let (legend_area, body) = body.split_vertically(legend_height);
            legend(&legend_area, &placed, &color).map_err(|e| failed(&e))?;
            for (panel, area) in self.panels.iter().zip(body.split_evenly((rows, cols))) {
                panel.draw(&area, &color).map_err(|e| failed(&e))?;
            }
            root.present().map_err(|e| failed(&e))?;
        }
        Ok(path)
    }

    /// Every series name in first-seen order, with what it is about, so a
    /// name has one colour in all panels of the plot.
    fn series(&self) -> Vec<(String, SeriesOf)> {
        let mut out: Vec<(String, SeriesOf)> = Vec::new();
        for panel in &self.panels {
            let in_panel: Vec<(&String, SeriesOf)> = match &panel.body {
                Body::Lines { series, .. } => series.iter().map(|s| (&s.name, s.of)).collect(),
                Body::Bars { series, .. } => series.iter().map(|s| (&s.0, None)).collect(),
                Body::Note(_) => Vec::new(),
            };
            for (name, of) in in_panel {
                if !out.iter().any(|(n, _)| n == name) {
                    out.push((name.clone(), of));
                }
            }
        }
        out
    }

    /// [`Plot::series`]' names.
    fn series_names(&self) -> Vec<String> {
        self.series().into_iter().map(|(name, _)| name).collect()
    }

    /// Each series' name and style ([`style_of`]: by its strategy and
    /// layout, or its place in the plot).
    fn styles(&self) -> Vec<(String, (RGBColor, Marker, Dash))> {
        self.series()
            .into_iter()
            .enumerate()
            .map(|(i, (name, of))| (name, style_of(of, i)))
            .collect()
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type Chart<'a, 'b> = ChartContext<'b, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
type DrawResult =
    Result<(), DrawingAreaErrorKind<<SVGBackend<'static> as DrawingBackend>::ErrorType>>;

impl Panel {
    fn draw(&self, area: &Area, color: &dyn Fn(&str) -> (RGBColor, Marker, Dash)) -> DrawResult {
        match &self.body {
            Body::Note(text) => self.draw_note(area, text),
            Body::Lines {
                x,
                y,
                series,
                band,
                reference,
                marks,
            } => {
                let points = || series.iter().flat_map(|s| s.points.iter());
                let x_range = x.range(points().filter_map(|p| x.to_plot(p.0)));
                let y_range = y.range(
                    points()
                        .flat_map(|p| [p.1, p.2, p.3])
                        .chain(*reference)
                        .filter_map(|v| y.to_plot(v)),
                );
                let mut chart = self.chart(area, (*x, x_range), (*y, y_range))?;
                if let Some(r) = reference.and_then(|r| y.to_plot(r)) {
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(x_range.0, r), (x_range.1, r)],
                        BLACK.mix(0.7).stroke_width(2),
                    )))?;
                }
                for s in series {
                    let (c, marker, dash) = color(&s.name);
                    let at = |v: f64, axis: Axis| axis.to_plot(v);
                    let pts: Vec<(f64, f64, f64, f64)> = s
                        .points
                        .iter()
                        .filter_map(|p| {
                            Some((at(p.0, *x)?, at(p.1, *y)?, at(p.2, *y)?, at(p.3, *y)?))
                        })
                        .collect();
                    if *band && pts.len() > 1 {
                        let outline: Vec<(f64, f64)> = pts
                            .iter()
                            .map(|p| (p.0, p.3))
                            .chain(pts.iter().rev().map(|p| (p.0, p.2)))
                            .collect();
                        chart.draw_series(std::iter::once(Polygon::new(
                            outline,
                            c.mix(0.18).filled(),
                        )))?;
                    }
                    let line = pts.iter().map(|p| (p.0, p.1));
                    let stroke = c.stroke_width(3);
                    match dash {
                        Dash::Solid => {
                            chart.draw_series(LineSeries::new(line, stroke))?;
                        }
                        Dash::Dashed => {
                            chart.draw_series(DashedLineSeries::new(line, 12, 6, stroke))?;
                        }
                        Dash::Dotted => {
                            chart.draw_series(DashedLineSeries::new(line, 3, 5, stroke))?;
                        }
                    }
                    let at_points = pts.iter().map(|p| (p.0, p.1));
                    let style = c.filled();
                    match marker {
                        Marker::Circle => {
                            chart.draw_series(at_points.map(|p| Circle::new(p, 5, style)))?;
                        }
                        Marker::Triangle => {
                            chart
                                .draw_series(at_points.map(|p| TriangleMarker::new(p, 7, style)))?;
                        }
                        Marker::Square => {
                            chart.draw_series(at_points.map(|p| {
                                EmptyElement::at(p) + Rectangle::new([(-5, -5), (5, 5)], style)
                            }))?;
                        }
                        Marker::Cross => {
                            chart.draw_series(
                                at_points.map(|p| Cross::new(p, 6, c.stroke_width(3))),
                            )?;
                        }
                    }
                    if !*band {
                        chart.draw_series(pts.iter().filter(|p| p.3 > p.2).map(|p| {
                            PathElement::new(vec![(p.0, p.2), (p.0, p.3)], c.stroke_width(2))
                        }))?;
                    }
                    for (_, mx) in marks.iter().filter(|(n, _)| *n == s.name) {
                        let Some(mx) = at(*mx, *x) else { continue };
                        if let Some(p) = pts.iter().find(|p| (p.0 - mx).abs() < 1e-9) {
                            chart.plotting_area().draw(&Circle::new(
                                (p.0, p.1),
                                11,
                                c.stroke_width(3),
                            ))?;
                        }
                    }
                }
                Ok(())
            }
            Body::Bars {
                y,
                categories,
                series,
            } => {
                let n = categories.len() as f64;
                let y_range = y.range(series.iter().flat_map(|s| s.1.iter().flatten().copied()));
                let names = categories.clone();
                let x = Axis {
                    label: "",
                    scale: Scale::Linear,
                    unit: Unit::Plain,
                };
                let mut chart = self.chart_with(
                    area,
                    (x, (-0.5, n - 0.5), categories.len().max(2)),
                    (*y, y_range),
                    &move |p: f64| {
                        let i = p.round();
                        if (p - i).abs() < 1e-9 && i >= 0.0 {
                            names.get(i as usize).cloned().unwrap_or_default()
                        } else {
                            String::new()
                        }
                    },
                )?;
                let width = 0.8 / series.len() as f64;
                for (j, (name, values)) in series.iter().enumerate() {
                    let (c, _, _) = color(name);
                    let left = |i: usize| i as f64 - 0.4 + j as f64 * width;
                    chart.draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                        Some(Rectangle::new(
                            [(left(i), 0.0), (left(i) + width, (*v)?)],
                            c.filled(),
                        ))
                    }))?;
                }
                Ok(())
            }
        }
    }

    fn chart<'a, 'b>(
        &self,
        area: &'b Area<'a>,
        (x, x_range): (Axis, (f64, f64)),
        y: (Axis, (f64, f64)),
    ) -> Result<Chart<'a, 'b>, DrawingAreaErrorKind<std::io::Error>> {
        self.chart_with(area, (x, x_range, x.ticks(x_range)), y, &move |p| x.tick(p))
    }

    /// The common frame: caption, axes with labels, grid.
    fn chart_with<'a, 'b>(
        &self,
        area: &'b Area<'a>,
        (x, x_range, x_ticks): (Axis, (f64, f64), usize),
        (y, y_range): (Axis, (f64, f64)),
        x_tick: &dyn Fn(f64) -> String,
    ) -> Result<Chart<'a, 'b>, DrawingAreaErrorKind<std::io::Error>> {
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, ("sans-serif", CAPTION_FONT))
            .margin(12)
            .x_label_area_size(52)
            .y_label_area_size(80)
            .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)?;
        chart
            .configure_mesh()
            .x_desc(x.label)
            .y_desc(y.label)
            .label_style(("sans-serif", LABEL_FONT))
            .axis_desc_style(("sans-serif", LABEL_FONT))
            .x_labels(x_ticks)
            .y_labels(y.ticks(y_range))
            .x_label_formatter(&|p| x_tick(*p))
            .y_label_formatter(&|p| y.tick(*p))
            .light_line_style(WHITE)
            .draw()?;
        Ok(chart)
    }

    /// A framed panel with the note's text, wrapped, in place of a chart.
    fn draw_note(&self, area: &Area, text: &str) -> DrawResult {
        let (w, h) = area.dim_in_pixel();
        area.draw(&Rectangle::new(
            [(10, 10), (w as i32 - 10, h as i32 - 10)],
            BLACK.mix(0.4).stroke_width(1),
        ))?;
        if !self.title.is_empty() {
            area.draw(&Text::new(
                self.title.clone(),
                (24, 24),
                ("sans-serif", CAPTION_FONT).into_font(),
            ))?;
        }
        let per_line = ((w as usize).saturating_sub(48) / 9).max(20);
        for (i, line) in wrap(text, per_line).iter().enumerate() {
            area.draw(&Text::new(
                line.clone(),
                (24, h as i32 / 2 - 20 + 20 * i as i32),
                ("sans-serif", LABEL_FONT)
                    .into_font()
                    .color(&RGBColor(0x60, 0x20, 0x20)),
            ))?;
        }
        Ok(())
    }
}

/// One legend for the whole plot, in a strip under its title: a series has
/// the same colour, marker and dash in every panel, and no legend hides a
/// panel's data.
/// Where each legend entry goes: (name, x, row), entries left to right,
/// wrapped onto another row when the next would pass the plot's `width`
/// (several layouts or transports make long names).
fn legend_layout(names: &[String], width: u32) -> Vec<(String, i32, u32)> {
    let mut out = Vec::new();
    let (mut x, mut row) = (20, 0);
    for name in names {
        let entry = 44 + 9 * name.chars().count() as i32;
        if x > 20 && x + entry > width as i32 {
            (x, row) = (20, row + 1);
        }
        out.push((name.clone(), x, row));
        x += entry + 28;
    }
    out
}

fn legend(
    area: &Area,
    placed: &[(String, i32, u32)],
    color: &dyn Fn(&str) -> (RGBColor, Marker, Dash),
) -> DrawResult {
    for (name, x, row) in placed {
        let (name, x) = (name, *x);
        let (c, marker, dash) = color(name);
        let y = 15 + (*row * LEGEND_HEIGHT) as i32;
        let stroke = c.stroke_width(3);
        match dash {
            Dash::Solid => area.draw(&PathElement::new(vec![(x, y), (x + 36, y)], stroke))?,
            Dash::Dashed => {
                area.draw(&PathElement::new(vec![(x, y), (x + 12, y)], stroke))?;
                area.draw(&PathElement::new(vec![(x + 20, y), (x + 36, y)], stroke))?;
            }
            Dash::Dotted => {
                for dx in (0..36).step_by(8) {
                    area.draw(&PathElement::new(
                        vec![(x + dx, y), (x + dx + 3, y)],
                        stroke,
                    ))?;
                }
            }
        }
        let style = c.filled();
        let m = (x + 18, y);
        match marker {
            Marker::Circle => area.draw(&Circle::new(m, 5, style))?,
            Marker::Triangle => area.draw(&TriangleMarker::new(m, 7, style))?,
            Marker::Square => {
                area.draw(&Rectangle::new([(m.0 - 5, y - 5), (m.0 + 5, y + 5)], style))?
            }
            Marker::Cross => area.draw(&Cross::new(m, 6, c.stroke_width(3)))?,
        }
        area.draw(&Text::new(
            name.clone(),
            (x + 44, y - 9),
            ("sans-serif", LABEL_FONT).into_font(),
        ))?;
    }
    Ok(())
}

/// Greedy word wrap to at most `width` characters a line.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::figures::Row;
    use crate::model::key::Status;
    use crate::report::cells::summarize;
    use Layout::{Heap, Page};
    use StrategyKind::{OneCopy, UringZc, ZeroCopy};

    /// Stream cells over loopback, 1 thread, 4 and 64 KiB: each strategy in
    /// each layout given.
    fn cells(strategies: &[StrategyKind], layouts: &[Layout]) -> Vec<CellSummary> {
        let mut rows = Vec::new();
        for (i, (strategy, layout, size)) in strategies
            .iter()
            .flat_map(|s| layouts.iter().map(move |l| (s, l)))
            .flat_map(|(s, l)| [4096u64, 65536].map(|size| (*s, *l, size)))
            .enumerate()
        {
            rows.push(Row {
                cell: i as u32,
                strategy,
                layout,
                transport: TransportKind::Loopback,
                workload: WorkloadKind::Stream,
                field_size_bytes: size,
                fields: 1,
                threads: 1,
                status: Status::Ok,
                messages: Some(1000),
                client_user_ns: Some(1_000_000),
                client_sys_ns: Some(5_000_000),
                throughput_gbps: Some(if layout == Page { 9.0 } else { 5.0 }),
                zc_copied_share: strategy.has_completions().then_some(1.0),
                ..Row::default()
            });
        }
        summarize(&rows)
    }

    #[test]
    fn a_long_legend_wraps_onto_rows_within_the_plot() {
        let names: Vec<String> = ["one-copy (heap)", "one-copy (page)", "zero-copy (heap)"]
            .map(String::from)
            .into();
        let placed = legend_layout(&names, PANEL_WIDTH);
        assert_eq!(
            placed.iter().map(|p| p.2).collect::<Vec<_>>(),
            [0, 0, 1],
            "{placed:?}"
        );
        for (name, x, _) in &placed {
            assert!(
                x + 44 + 9 * name.len() as i32 <= PANEL_WIDTH as i32,
                "{name}"
            );
        }
        // Two short names stay on one row, as before.
        let two: Vec<String> = ["one-copy", "zero-copy"].map(String::from).into();
        assert!(legend_layout(&two, PANEL_WIDTH).iter().all(|p| p.2 == 0));
    }

    fn names(plot: &Plot) -> Vec<String> {
        plot.series_names()
    }

    /// The style of the series named `name` in `plot`.
    fn style(plot: &Plot, name: &str) -> (RGBColor, Marker, Dash) {
        let styles = plot.styles();
        styles.iter().find(|s| s.0 == name).expect(name).1
    }

    #[test]
    fn one_layout_keeps_the_plain_strategy_names() {
        let heap = cells(&[OneCopy, ZeroCopy], &[Heap]);
        assert_eq!(names(&throughput(&heap)), ["one-copy", "zero-copy"]);
        assert_eq!(names(&zc_copied(&heap)), ["zero-copy, loopback, 1 thread"]);
        assert_eq!(user_kernel(&heap).panels.len(), 2);
        // Only page cells: the series say so.
        let page = cells(&[ZeroCopy], &[Page]);
        assert_eq!(names(&throughput(&page)), ["zero-copy (page)"]);
    }

    #[test]
    fn page_cells_are_series_of_their_own_beside_heap() {
        let both = cells(&[OneCopy, ZeroCopy], &[Heap, Page]);
        assert_eq!(
            names(&throughput(&both)),
            [
                "one-copy (heap)",
                "one-copy (page)",
                "zero-copy (heap)",
                "zero-copy (page)"
            ]
        );
        // Bars: a panel per size and layout, labelled by strategy alone.
        let bars = user_kernel(&both);
        let titles: Vec<&str> = bars.panels.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "stream, 4 KiB fields, 1 thread, heap",
                "stream, 4 KiB fields, 1 thread, page",
                "stream, 64 KiB fields, 1 thread, heap",
                "stream, 64 KiB fields, 1 thread, page"
            ]
        );
        for p in &bars.panels {
            let Body::Bars { categories, .. } = &p.body else {
                panic!("{} has no bars", p.title)
            };
            assert_eq!(categories, &["one-copy", "zero-copy"], "{}", p.title);
        }
        // Not dropped where only strategies with completions are drawn.
        assert_eq!(
            names(&zc_copied(&both)),
            [
                "zero-copy (heap), loopback, 1 thread",
                "zero-copy (page), loopback, 1 thread"
            ]
        );
        // Each series holds its own layout's values, both sizes.
        let plot = throughput(&both);
        let Body::Lines { series, .. } = &plot.panels[0].body else {
            panic!("throughput is a line chart")
        };
        for s in series {
            let want = if s.name.contains("page") { 9.0 } else { 5.0 };
            assert_eq!(s.points.len(), 2, "{}", s.name);
            assert!(s.points.iter().all(|p| p.1 == want), "{}", s.name);
        }
        // The same colour as the strategy's heap series, drawn differently.
        let (heap, page) = (
            style(&throughput(&both), "zero-copy (heap)"),
            style(&throughput(&both), "zero-copy (page)"),
        );
        assert_eq!(heap.0, page.0);
        assert_ne!((heap.1, heap.2), (page.1, page.2));
        let heap_only = cells(&[OneCopy, ZeroCopy], &[Heap]);
        assert_eq!(style(&throughput(&heap_only), "zero-copy"), heap);
        assert_eq!(
            style(&zc_copied(&both), "zero-copy (page), loopback, 1 thread"),
            page
        );
        // The page's tables colour a strategy as the plots do, in either layout.
        let hex = |RGBColor(r, g, b)| format!("#{r:02x}{g:02x}{b:02x}");
        assert_eq!(strategy_color(ZeroCopy), hex(page.0));
        // A series named with its layout and transport is that strategy's in
        // that layout.
        let mut veth = cells(&[UringZc], &[Heap, Page]);
        for c in &mut veth {
            c.key.transport = TransportKind::Veth;
        }
        veth.extend(cells(&[UringZc], &[Heap, Page]));
        let series = throughput(&veth).series();
        let of = series
            .iter()
            .find(|s| s.0 == "uring-zc (page, veth)")
            .unwrap()
            .1;
        assert_eq!(
            of,
            Some((UringZc, Page, crate::model::kinds::ReceiveKind::Copy))
        );
    }

    #[test]
    fn log_axes_label_whole_powers_only() {
        assert_eq!(Axis::FIELD_SIZE.tick(6.0), "64 B");
        assert_eq!(Axis::FIELD_SIZE.tick(16.0), "64 KiB");
        assert_eq!(Axis::FIELD_SIZE.tick(6.5), "");
        assert_eq!(Axis::log("x").tick(-1.0), "0.1");
    }

    #[test]
    fn wraps_long_notes() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
    }

    #[test]
    fn unavailable_names_the_reason() {
        let env: SweepEnv = serde_json::from_value(serde_json::json!({"counters": {"cache_misses": {"available": false, "reason": "perf_event_paranoid is 4"}}})).unwrap();
        assert_eq!(
            unavailable(Some(&env), Counter::CacheMisses, "cache misses"),
            "cache misses: unavailable on this host: perf_event_paranoid is 4"
        );
        assert_eq!(
            unavailable(None, Counter::Cycles, "cycles"),
            "cycles: unavailable on this host: no hardware counter values in results.csv"
        );
    }
}
