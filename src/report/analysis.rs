//! The analysis section: what the numbers say, as structured findings and as
//! text. The sweep prints [`Analysis::lines`] when it ends, and `index.html`
//! shows the same [`Analysis::sections`], so terminal and report never disagree.

use std::collections::{BTreeMap, BTreeSet};

use super::cells::{summarize, CellSummary, Runs, Spread, View};
use super::crossover::{crossovers_paired, rounds_range, rounds_text, Crossover, Verdict};
use super::format;
use crate::model::figures::{Figure, RoleFigure, Row};
use crate::model::key::{CellKey, Status};
use crate::model::kinds::{Layout, ReceiveKind, StrategyKind, TransportKind, WorkloadKind};
use crate::model::size::format_size;

/// How the cost of a strategy changes from the fewest to the most threads
/// tested, for one workload and transport.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadScaling {
    pub workload: WorkloadKind,
    pub transport: TransportKind,
    pub strategy: StrategyKind,
    pub layout: Layout,
    pub receive: ReceiveKind,
    pub from_threads: u32,
    pub to_threads: u32,
    /// Client+server CPU ns per byte at `to_threads` divided by the same at
    /// `from_threads`, one ratio per field size having both; summarised over
    /// the sizes (so `n` is a number of sizes, not of repetitions).
    pub cpu_per_byte_ratio: Option<Spread>,
    /// Context switches per message at `from_threads` and at `to_threads`,
    /// each the median over the sizes that have both.
    pub context_switches_per_msg: Option<(f64, f64)>,
}

impl ThreadScaling {
    pub fn line(&self) -> String {
        let cpu = match self.cpu_per_byte_ratio {
            Some(r) if r.n > 1 => format!(
                "client+server CPU per byte ×{} (median over {} sizes, ×{}–×{})",
                format::number(r.median),
                r.n,
                format::number(r.min),
                format::number(r.max)
            ),
            Some(r) => format!("client+server CPU per byte ×{}", format::number(r.median)),
            None => "client+server CPU per byte: n/a".into(),
        };
        let switches = match self.context_switches_per_msg {
            Some((from, to)) => format!(
                "context switches per message {} → {}",
                format::number(from),
                format::number(to)
            ),
            None => "context switches per message: n/a".into(),
        };
        format!(
            "{}/{}, {}, {} → {} threads: {cpu}; {switches}",
            self.workload,
            self.transport,
            format::arm(self.strategy, self.layout, self.receive),
            self.from_threads,
            self.to_threads
        )
    }
}

/// What the kernel did with one zero-copy strategy's sends on one transport,
/// over all its successful cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZeroCopyCopies {
    pub strategy: StrategyKind,
    pub transport: TransportKind,
    pub completions: u64,
    pub copied: u64,
}

impl ZeroCopyCopies {
    pub fn line(&self) -> String {
        let t = self.transport;
        let s = self.strategy;
        let iface = s
            .zero_copy_interface()
            .map_or(String::new(), |i| format!(" ({i})"));
        let (copied, all) = (self.copied, self.completions);
        if all == 0 {
            return format!(
                "{s}{iface} on {t}: no completions recorded, so whether the kernel copied is unknown"
            );
        }
        let counts = format!("({copied} of {all} completions)");
        if copied == all {
            format!(
                "the kernel copied 100% of {s}{iface} sends on {t}: no copy was avoided {counts}"
            )
        } else if copied == 0 {
            format!("the kernel copied none of the {s}{iface} sends on {t}: every send avoided the copy {counts}")
        } else {
            let pct = 100.0 * copied as f64 / all as f64;
            format!(
                "the kernel copied {}% of {s}{iface} sends on {t}: the copy was avoided for the other {}% {counts}",
                format::number(pct),
                format::number(100.0 - pct)
            )
        }
    }
}

/// Two zero-copy kernel interfaces side by side for one workload, transport
/// and metric: a strategy that lends its buffers against another one it is
/// compared with ([`StrategyKind::baselines`]: `uring-zc`, SENDMSG_ZC,
/// against `zero-copy`, MSG_ZEROCOPY) in every cell (threads × field size)
/// both measured, by the crossovers' rule (a side is called better only when
/// the 95 % intervals of the two medians are disjoint and they differ by at
/// least 5 %; otherwise ≈ within noise; see `crate::model::stats`).
#[derive(Debug, Clone, PartialEq)]
pub struct InterfaceComparison {
    pub workload: WorkloadKind,
    pub transport: TransportKind,
    pub metric: View,
    pub challenger: StrategyKind,
    pub baseline: StrategyKind,
    pub challenger_wins: usize,
    pub baseline_wins: usize,
    pub within_spread: usize,
    /// The challenger's median over the baseline's, per cell, summarised
    /// over cells (paired: the median of each cell's per-round ratios).
    pub ratio: Option<Spread>,
    pub single_repetition: bool,
    /// In a paired sweep, the fewest and most rounds a cell's call was
    /// paired over (`Some(None)`: none could be paired); `None` unpaired.
    pub rounds: Option<Option<(usize, usize)>>,
}

impl InterfaceComparison {
    pub fn line(&self) -> String {
        let cells = self.challenger_wins + self.baseline_wins + self.within_spread;
        let (c, b) = (self.challenger, self.baseline);
        let op = |s: StrategyKind| s.zero_copy_interface().map_or("", |i| i.op);
        let ratio = match self.ratio {
            Some(r) => format!(
                "; {c} ÷ {b}: median ×{} (×{}–×{})",
                format::number(r.median),
                format::number(r.min),
                format::number(r.max)
            ),
            None => String::new(),
        };
        let mut text = format!(
            "{}/{}, {}: {c} ({}) vs {b} ({}) in {cells} cells: {c} called better in {}, worse in {}, ≈ within noise in {}{ratio}",
            self.workload,
            self.transport,
            self.metric.label(),
            op(c),
            op(b),
            self.challenger_wins,
            self.baseline_wins,
            self.within_spread
        );
        if self.single_repetition {
            text.push_str(if self.rounds.is_some() {
                "; some cells have too few rounds for a 95 % interval, so they are never called"
            } else {
                "; some cells have too few samples for a 95 % interval, so they are never called"
            });
        }
        if let Some(rounds) = self.rounds {
            text.push_str(&rounds_text(rounds));
        }
        text
    }
}

/// One zero-copy cell run in both layouts: what page alignment changed,
/// called by the stated rule ([`crate::model::stats::compare`]) on the cell's main
/// figure (stream: throughput, rr: latency p50), samples pooled.
#[derive(Debug, Clone, PartialEq)]
pub struct LayoutPair {
    pub key: CellKey,
    pub figure: View,
    pub heap: Spread,
    pub page: Spread,
    /// Median fragments per send, heap then page.
    pub fragments: (Option<f64>, Option<f64>),
    /// page / heap of the main figure, with its interval and the call.
    pub comparison: crate::model::stats::Comparison,
    /// The host's `net.core.max_skb_frags`, when known (env.json).
    pub limit: Option<u64>,
}

/// The kernel's default `net.core.max_skb_frags`.
pub const DEFAULT_MAX_SKB_FRAGS: u64 = 17;

impl LayoutPair {
    pub fn line(&self) -> String {
        use crate::model::stats::Call;
        let frags = |f: Option<f64>| f.map_or("n/a".into(), format::number);
        let (limit, whose) = match self.limit {
            Some(l) => (l, "this host's net.core.max_skb_frags"),
            None => (DEFAULT_MAX_SKB_FRAGS, "the default net.core.max_skb_frags"),
        };
        let over = |f: Option<f64>| f.is_some_and(|f| f > limit as f64);
        let fit = match (over(self.fragments.0), over(self.fragments.1)) {
            (true, false) => format!("heap sends need more than {limit} fragments ({whose}), so the kernel splits every one; page sends fit"),
            (true, true) => format!("both layouts exceed {limit} fragments ({whose})"),
            (false, true) => format!("page sends exceed {limit} fragments ({whose}), heap ones do not"),
            (false, false) => format!("both fit in {limit} fragments ({whose})"),
        };
        let c = &self.comparison;
        let ratio = format!(
            "page/heap ×{} [{}–{}]",
            format::number(c.ratio),
            format::number(c.ratio_lo),
            format::number(c.ratio_hi)
        );
        let verdict = match c.call {
            Call::A => {
                format!("{ratio}: page is better, by the rule (that is what the layout cost heap)")
            }
            Call::B => format!("{ratio}: heap is better, by the rule"),
            Call::Within => format!("{ratio}: within noise (not called)"),
        };
        let k = &self.key;
        format!(
            "{}/{}, {}, {}, {}, {}: heap {} at {} fragments per send, page {} at {}; {fit}; {verdict}",
            k.workload,
            k.transport,
            format::threads(k.threads),
            format_size(k.field_size),
            format::cell_strategy(k),
            self.figure.label(),
            format::number(self.heap.median),
            frags(self.fragments.0),
            format::number(self.page.median),
            frags(self.fragments.1),
        )
    }
}

/// A cell with at least one failed repetition.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedCell {
    pub key: CellKey,
    pub failed: usize,
    pub repetitions: usize,
    /// The first failure's reason.
    pub error: String,
}

impl FailedCell {
    pub fn line(&self) -> String {
        format!(
            "{}/{}, {}, {}, {}: {} of {} repetitions failed: {}",
            self.key.workload,
            self.key.transport,
            format::threads(self.key.threads),
            format_size(self.key.field_size),
            format::cell_strategy(&self.key),
            self.failed,
            self.repetitions,
            self.error
        )
    }
}

/// Everything the report concludes from a set of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub cells: usize,
    pub rows: usize,
    pub crossovers: Vec<Crossover>,
    pub thread_scaling: Vec<ThreadScaling>,
    /// Whether more than one thread count was tested anywhere.
    pub several_thread_counts: bool,
    pub zero_copy: Vec<ZeroCopyCopies>,
    pub interfaces: Vec<InterfaceComparison>,
    /// Zero-copy cells run in both layouts.
    pub layouts: Vec<LayoutPair>,
    /// Whether any row has a hardware counter value (cycles or cache misses).
    pub hardware_counters: bool,
    pub failed: Vec<FailedCell>,
    /// Whether the sweep paired its strategies' samples round by round
    /// (env.json), so that its comparisons are paired.
    pub paired: bool,
}

/// A titled list of findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub title: &'static str,
    pub lines: Vec<String>,
}

impl Analysis {
    /// The fewest and most rounds the comparisons of the workloads' main
    /// figures were paired over; `None` when none was paired.
    pub fn rounds(&self) -> Option<(usize, usize)> {
        rounds_range(
            self.crossovers
                .iter()
                .filter(|c| c.metric == View::Of(Figure::main(c.workload)))
                .flat_map(|c| c.compared.iter().filter_map(|v| v.paired.map(|p| p.rounds))),
        )
    }

    /// Tells the layout findings the host's `net.core.max_skb_frags` (from
    /// env.json; without it they compare against the kernel's default).
    pub fn set_fragment_limit(&mut self, max_skb_frags: Option<u64>) {
        for l in &mut self.layouts {
            l.limit = max_skb_frags;
        }
    }

    /// The findings grouped under headings, in report order.
    pub fn sections(&self) -> Vec<Section> {
        let mut scaling: Vec<String> = self.thread_scaling.iter().map(|t| t.line()).collect();
        if !self.several_thread_counts {
            scaling.push("only one thread count was tested: run with several (--threads 1,2,4,8) to see how threads change the cost".into());
        }
        let mut zero_copy: Vec<String> = self.zero_copy.iter().map(|z| z.line()).collect();
        zero_copy.extend(self.interfaces.iter().map(|c| c.line()));
        zero_copy.extend(self.layouts.iter().map(|l| l.line()));
        if zero_copy.is_empty() {
            zero_copy.push("no successful zero-copy cell".into());
        }
        let mut overview = vec![format!(
            "{} cells, {} rows (one per cell and repetition), {} with failures",
            self.cells,
            self.rows,
            self.failed.len()
        )];
        if !self.hardware_counters && self.rows > 0 {
            overview.push("hardware counters (cycles, cache misses): no values in results.csv, so CPU cost is CPU time only".into());
        }
        vec![
            Section {
                title: "Overview",
                lines: overview,
            },
            Section {
                title: "Crossovers",
                lines: crossover_lines(&self.crossovers),
            },
            Section {
                title: "Thread count",
                lines: scaling,
            },
            Section {
                title: "Zero-copy",
                lines: zero_copy,
            },
            Section {
                title: "Failed cells",
                lines: self.failed.iter().map(|f| f.line()).collect(),
            },
        ]
    }

    /// [`Analysis::lines`] without the crossover section (the sweep prints
    /// those as a table).
    pub fn lines_without_crossovers(&self) -> Vec<String> {
        self.sections()
            .into_iter()
            .filter(|s| !s.lines.is_empty() && s.title != "Crossovers")
            .flat_map(|s| {
                std::iter::once(format!("{}:", s.title))
                    .chain(s.lines.into_iter().map(|l| format!("  {l}")))
            })
            .collect()
    }

    /// The findings as terminal lines: a heading per section, findings
    /// indented under it; empty sections are left out.
    pub fn lines(&self) -> Vec<String> {
        self.sections()
            .into_iter()
            .filter(|s| !s.lines.is_empty())
            .flat_map(|s| {
                std::iter::once(format!("{}:", s.title))
                    .chain(s.lines.into_iter().map(|l| format!("  {l}")))
            })
            .collect()
    }
}

/// One line per question and finding: thread counts with the same finding
/// share a line, e.g. "stream/loopback, throughput (Gbit/s), 1, 2, 4 threads:
/// one-copy beats two-copy from 4 KiB up (tested 64 B–64 KiB)".
pub(super) fn crossover_lines(crossovers: &[Crossover]) -> Vec<String> {
    let mut merged: Vec<(&Crossover, String, Vec<u32>)> = Vec::new();
    for c in crossovers {
        let finding = c.finding();
        match merged
            .iter_mut()
            .find(|(m, f, _)| m.same_question(c) && *f == finding)
        {
            Some((_, _, threads)) => threads.push(c.threads),
            None => merged.push((c, finding, vec![c.threads])),
        }
    }
    merged.sort_by_key(|(c, _, _)| c.order());
    merged
        .into_iter()
        .map(|(c, finding, threads)| {
            // Paired: over how many rounds, across the merged thread counts.
            let rounds = if c.paired_sweep {
                rounds_text(rounds_range(
                    crossovers
                        .iter()
                        .filter(|o| o.same_question(c) && threads.contains(&o.threads))
                        .filter_map(Crossover::rounds)
                        .flat_map(|(lo, hi)| [lo, hi]),
                ))
            } else {
                String::new()
            };
            format!(
                "{}/{}{}, {}, {}: {finding}{rounds}",
                c.workload,
                c.transport,
                format::rcvlowat_tag(c.rcvlowat),
                c.metric.label(),
                format::thread_list(&threads)
            )
        })
        .collect()
}

/// Analyses the rows of a sweep (any subset of it: a cut-short sweep, one
/// workload only, failed cells).
pub fn analyze(rows: &[Row]) -> Analysis {
    analyze_cells(rows, &summarize(rows), None)
}

/// [`analyze`], given the rows' cells (summarised once, with whatever
/// samples were pooled into them) and, for a paired sweep, its runs with
/// their samples (the strategies are then compared round by round).
pub(super) fn analyze_cells(
    rows: &[Row],
    cells: &[CellSummary],
    paired: Option<&Runs>,
) -> Analysis {
    let thread_counts: BTreeSet<u32> = cells.iter().map(|c| c.key.threads).collect();
    let crossovers = crossovers_paired(cells, paired);
    Analysis {
        cells: cells.len(),
        rows: rows.len(),
        thread_scaling: thread_scaling(cells),
        several_thread_counts: thread_counts.len() > 1,
        zero_copy: zero_copy(rows),
        interfaces: interfaces(&crossovers),
        crossovers,
        layouts: layout_pairs(cells),
        paired: paired.is_some(),
        hardware_counters: rows
            .iter()
            .any(|r| r.client_cycles.is_some() || r.client_cache_misses.is_some()),
        failed: cells
            .iter()
            .filter(|c| !c.failures.is_empty())
            .map(|c| FailedCell {
                key: c.key,
                failed: c.failures.len(),
                repetitions: c.failures.len() + c.ok,
                error: c.failures[0].clone(),
            })
            .collect(),
    }
}

fn thread_scaling(cells: &[CellSummary]) -> Vec<ThreadScaling> {
    type Group = (
        WorkloadKind,
        TransportKind,
        StrategyKind,
        Layout,
        ReceiveKind,
    );
    let mut groups: BTreeMap<Group, Vec<&CellSummary>> = BTreeMap::new();
    for c in cells {
        let k = &c.key;
        let key = (k.workload, k.transport, k.strategy, k.layout, k.receive);
        groups.entry(key).or_default().push(c);
    }
    groups
        .into_iter()
        .filter_map(
            |((workload, transport, strategy, layout, receive), group)| {
                let from = group.iter().map(|c| c.key.threads).min()?;
                let to = group.iter().map(|c| c.key.threads).max()?;
                if from == to {
                    return None;
                }
                // Pairs of (fewest-threads cell, most-threads cell) of the same shape.
                let pairs: Vec<(&CellSummary, &CellSummary)> = group
                    .iter()
                    .filter(|a| a.key.threads == from)
                    .filter_map(|a| {
                        let b = group.iter().find(|b| {
                            b.key.threads == to
                                && (b.key.field_size, b.key.fields)
                                    == (a.key.field_size, a.key.fields)
                        })?;
                        Some((*a, *b))
                    })
                    .collect();
                let medians = |figure: View| {
                    pairs.iter().filter_map(move |(a, b)| {
                        Some((a.get(figure)?.median, b.get(figure)?.median))
                    })
                };
                let ratios = medians(View::Total(RoleFigure::CpuNsPerByte))
                    .filter(|&(a, _)| a > 0.0)
                    .map(|(a, b)| b / a);
                let switches: Vec<(f64, f64)> =
                    medians(View::Of(Figure::ContextSwitchesPerMsg)).collect();
                let median = |side: fn(&(f64, f64)) -> f64| Spread::of(switches.iter().map(side));
                let context_switches_per_msg = median(|s| s.0).zip(median(|s| s.1));
                Some(ThreadScaling {
                    workload,
                    transport,
                    strategy,
                    layout,
                    receive,
                    from_threads: from,
                    to_threads: to,
                    cpu_per_byte_ratio: Spread::of(ratios),
                    context_switches_per_msg: context_switches_per_msg
                        .map(|(a, b)| (a.median, b.median)),
                })
            },
        )
        .collect()
}

/// Sums the verdicts of every thread count of the crossovers between two
/// strategies that both lend their buffers (two zero-copy interfaces) into
/// one comparison per workload, transport, metric and pair.
fn interfaces(crossovers: &[Crossover]) -> Vec<InterfaceComparison> {
    let mut out: Vec<InterfaceComparison> = Vec::new();
    let mut ratios: Vec<Vec<f64>> = Vec::new();
    for c in crossovers.iter().filter(|c| {
        // Behind the default receiver only: one question per pair of senders.
        c.challenger.default_receive()
            && c.baseline.default_receive()
            && c.challenger.strategy.has_completions()
            && c.baseline.strategy.has_completions()
    }) {
        let (challenger, baseline) = (c.challenger.strategy, c.baseline.strategy);
        let question =
            |o: &InterfaceComparison| (o.workload, o.transport, o.metric, o.challenger, o.baseline);
        let at = match out
            .iter()
            .position(|o| question(o) == (c.workload, c.transport, c.metric, challenger, baseline))
        {
            Some(at) => at,
            None => {
                out.push(InterfaceComparison {
                    workload: c.workload,
                    transport: c.transport,
                    metric: c.metric,
                    challenger,
                    baseline,
                    challenger_wins: 0,
                    baseline_wins: 0,
                    within_spread: 0,
                    ratio: None,
                    single_repetition: false,
                    rounds: c.paired_sweep.then_some(None),
                });
                ratios.push(Vec::new());
                out.len() - 1
            }
        };
        let o = &mut out[at];
        for v in &c.compared {
            match v.verdict {
                Verdict::ChallengerWins => o.challenger_wins += 1,
                Verdict::BaselineWins => o.baseline_wins += 1,
                Verdict::WithinSpread => o.within_spread += 1,
            }
            match v.paired {
                Some(p) if p.ratio.is_finite() => ratios[at].push(p.ratio),
                Some(_) => {}
                None if v.baseline.median > 0.0 => {
                    ratios[at].push(v.challenger.median / v.baseline.median)
                }
                None => {}
            }
            if let (Some(rounds), Some(p)) = (o.rounds.as_mut(), v.paired) {
                *rounds = rounds_range(
                    rounds
                        .iter()
                        .flat_map(|&(lo, hi)| [lo, hi])
                        .chain([p.rounds]),
                );
            }
        }
        o.single_repetition |= c.single_repetition();
    }
    for (o, r) in out.iter_mut().zip(ratios) {
        o.ratio = Spread::of(r);
    }
    out.retain(|o| o.challenger_wins + o.baseline_wins + o.within_spread > 0);
    out
}

/// Each heap cell of a strategy that lends its buffers beside the same cell
/// in the page layout, where both were run.
fn layout_pairs(cells: &[CellSummary]) -> Vec<LayoutPair> {
    cells
        .iter()
        .filter(|c| c.key.strategy.has_completions() && c.key.layout == Layout::Heap)
        .filter_map(|heap| {
            let paged = CellKey {
                layout: Layout::Page,
                ..heap.key
            };
            let page = cells.iter().find(|c| c.key == paged)?;
            let figure = heap.main_figure();
            let (h, p) = (heap.get(figure)?, page.get(figure)?);
            let frags = |c: &CellSummary| c.get(Figure::ZcFragmentsPerSend).map(|s| s.median);
            Some(LayoutPair {
                key: heap.key,
                figure,
                heap: h,
                page: p,
                fragments: (frags(heap), frags(page)),
                comparison: crate::model::stats::compare(
                    &p.estimate(),
                    &h.estimate(),
                    figure.higher_is_better(),
                ),
                limit: None,
            })
        })
        .collect()
}

/// The completions and copies of each strategy that lends its buffers, per
/// transport, in every layout: by transport, then strategy name (the order
/// the report has always listed them in).
fn zero_copy(rows: &[Row]) -> Vec<ZeroCopyCopies> {
    let mut by_transport: BTreeMap<(TransportKind, &str), ZeroCopyCopies> = BTreeMap::new();
    for row in rows
        .iter()
        .filter(|r| r.status == Status::Ok && r.strategy.has_completions())
    {
        let entry = by_transport
            .entry((row.transport, row.strategy.name()))
            .or_insert_with(|| ZeroCopyCopies {
                strategy: row.strategy,
                transport: row.transport,
                completions: 0,
                copied: 0,
            });
        if let (Some(completions), Some(copied)) = (row.zc_completions, row.zc_copied) {
            entry.completions += completions;
            entry.copied += copied;
        }
    }
    by_transport.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(strategy: StrategyKind, threads: u32, size: u64) -> Row {
        Row {
            strategy,
            transport: TransportKind::Loopback,
            workload: WorkloadKind::Stream,
            field_size_bytes: size,
            threads,
            status: Status::Ok,
            messages: Some(100),
            client_cpu_ns_per_byte: Some(threads as f64),
            server_cpu_ns_per_byte: Some(threads as f64),
            client_context_switches: Some(10.0 * threads as f64),
            server_context_switches: Some(0.0),
            ..Row::default()
        }
    }

    #[test]
    fn layouts_side_by_side_are_called_by_the_rule() {
        // Six repetitions per layout: enough for a 95 % interval of the median.
        let cells = |layout: Layout, gbps: f64, frags: f64| -> Vec<Row> {
            (0..6)
                .map(|i| Row {
                    layout,
                    repeat: i,
                    zc_fragments_per_send: Some(frags),
                    throughput_gbps: Some(gbps + f64::from(i) * 0.01),
                    ..row(StrategyKind::ZeroCopy, 1, 65536)
                })
                .collect()
        };
        let mut rows = cells(Layout::Heap, 10.0, 18.0);
        rows.extend(cells(Layout::Page, 18.0, 17.0));
        let mut a = analyze(&rows);
        a.set_fragment_limit(Some(17));
        assert_eq!(a.layouts.len(), 1);
        let line = a.layouts[0].line();
        assert!(line.contains("at 18 fragments per send"), "{line}");
        assert!(line.contains("splits every one"), "{line}");
        assert!(line.contains("page is better, by the rule"), "{line}");
        // The same medians from one repetition each: not called.
        let mut few = cells(Layout::Heap, 10.0, 18.0)[..1].to_vec();
        few.extend(cells(Layout::Page, 18.0, 17.0)[..1].to_vec());
        let line = analyze(&few).layouts[0].line();
        assert!(line.contains("within noise"), "{line}");
        // Only one layout: nothing to put side by side.
        assert!(analyze(&cells(Layout::Heap, 10.0, 18.0)).layouts.is_empty());
    }

    #[test]
    fn thread_scaling_compares_fewest_and_most_threads() {
        let rows: Vec<Row> = [1, 2, 4]
            .iter()
            .flat_map(|&t| [64, 1024].map(|s| row(StrategyKind::OneCopy, t, s)))
            .collect();
        let a = analyze(&rows);
        assert_eq!(a.thread_scaling.len(), 1);
        let t = &a.thread_scaling[0];
        assert_eq!((t.from_threads, t.to_threads), (1, 4));
        assert_eq!(t.cpu_per_byte_ratio.unwrap().median, 4.0);
        assert_eq!(t.context_switches_per_msg, Some((0.1, 0.4)));
        assert!(t
            .line()
            .contains("1 → 4 threads: client+server CPU per byte ×4"));
    }

    #[test]
    fn one_thread_count_is_said() {
        let a = analyze(&[row(StrategyKind::OneCopy, 1, 64)]);
        assert!(a.thread_scaling.is_empty());
        assert!(a
            .lines()
            .iter()
            .any(|l| l.contains("only one thread count")));
    }

    #[test]
    fn zero_copy_copies_are_said_plainly() {
        let zc = |copied| Row {
            zc_completions: Some(50),
            zc_copied: Some(copied),
            ..row(StrategyKind::ZeroCopy, 1, 64)
        };
        let a = analyze(&[zc(50), zc(50)]);
        assert_eq!(
            a.zero_copy[0].line(),
            "the kernel copied 100% of zero-copy (MSG_ZEROCOPY) sends on loopback: no copy was avoided (100 of 100 completions)"
        );
        let a = analyze(&[zc(0), zc(25)]);
        assert!(a.zero_copy[0].line().contains("copied 25% "));
    }

    #[test]
    fn the_two_zero_copy_interfaces_are_compared_with_the_copied_share_of_each() {
        // Eight repetitions per cell (the rule needs six samples): uring-zc
        // twice as fast at 64 B, overlapping zero-copy at 1 KiB; each
        // interface's copied share on its own line.
        let mut rows = Vec::new();
        for (strategy, at_64, at_1k) in [
            (StrategyKind::ZeroCopy, 1.0, 5.0),
            (StrategyKind::UringZc, 2.0, 5.05),
        ] {
            for i in 0..8 {
                for (size, gbps) in [
                    (64, at_64 + 0.01 * i as f64),
                    (1024, at_1k + 0.1 * i as f64),
                ] {
                    rows.push(Row {
                        repeat: i,
                        throughput_gbps: Some(gbps),
                        zc_completions: Some(10),
                        zc_copied: Some(if strategy == StrategyKind::UringZc {
                            10
                        } else {
                            5
                        }),
                        ..row(strategy, 1, size)
                    });
                }
            }
        }
        let lines = analyze(&rows).lines();
        let has = |s: &str| lines.iter().any(|l| l.contains(s));
        assert!(
            has("copied 50% of zero-copy (MSG_ZEROCOPY) sends on loopback"),
            "{lines:#?}"
        );
        assert!(
            has("copied 100% of uring-zc (io_uring SENDMSG_ZC) sends on loopback"),
            "{lines:#?}"
        );
        assert!(
            has("stream/loopback, throughput (Gbit/s): uring-zc (SENDMSG_ZC) vs zero-copy (MSG_ZEROCOPY) in 2 cells: uring-zc called better in 1, worse in 0, ≈ within noise in 1"),
            "{lines:#?}"
        );
    }

    #[test]
    fn crossovers_with_the_same_finding_share_a_line() {
        let rows: Vec<Row> = [1, 2]
            .iter()
            .flat_map(|&t| {
                [(StrategyKind::TwoCopy, 1.0), (StrategyKind::OneCopy, 2.0)].map(|(s, gbps)| {
                    (0..6).map(move |i| Row {
                        repeat: i,
                        throughput_gbps: Some(gbps + f64::from(i) * 0.01),
                        ..row(s, t, 64)
                    })
                })
            })
            .flatten()
            .collect();
        let lines = analyze(&rows).lines();
        assert!(lines.contains(&"  stream/loopback, throughput (Gbit/s), 1, 2 threads: one-copy beats two-copy at every tested size, from the smallest (64 B)".to_string()), "{lines:#?}");
    }

    #[test]
    fn failed_cells_are_listed_with_their_reason() {
        let failed = Row {
            status: Status::Failed,
            error: "ENOBUFS forever".into(),
            ..row(StrategyKind::ZeroCopy, 1, 64)
        };
        let a = analyze(&[failed]);
        assert_eq!(a.failed.len(), 1);
        assert!(a
            .lines()
            .iter()
            .any(|l| l.contains("1 of 1 repetitions failed: ENOBUFS forever")));
    }
}
