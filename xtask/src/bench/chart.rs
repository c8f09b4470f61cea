//! The picture of a run, `bench.svg`: one self-contained SVG file (no script, no font or
//! style sheet to fetch) with horizontal bar panels of the concurrency-16 cells: throughput
//! per workload, latency percentiles (log scale) and server CPU time per request for
//! `get_task_status`. Drawn by hand: a few rectangles and labels need no plotting library.

use std::fmt::Write as _;

use serde_json::Value;

use super::plan::Kind;
use super::report::{Report, cell, throughput};

const WIDTH: f64 = 960.0;
const LABEL_W: f64 = 150.0;
const VALUE_W: f64 = 190.0;
const BAR_H: f64 = 14.0;
const GAP: f64 = 6.0;
const CONCURRENCY: usize = 16;

/// One bar: its series (colour and legend) and value.
struct Bar {
    series: usize,
    value: f64,
    text: String,
}

/// One panel: a title, its series names, and rows of bars (one row per server).
struct Panel {
    title: String,
    series: Vec<&'static str>,
    rows: Vec<(String, Vec<Bar>)>,
    log: bool,
}

const COLOURS: [&str; 3] = ["#3b6ea8", "#e0a03a", "#c0504d"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The panels this run has data for.
fn panels(rep: &Report) -> Vec<Panel> {
    let mut out = Vec::new();
    for (w, title, unit) in [
        ("status", "get_task_status @16: requests/s", "req/s"),
        ("lifecycle", "lifecycle @16: lifecycles/s", "lifecycles/s"),
        ("tools-list", "tools/list @16: requests/s", "req/s"),
    ] {
        let base = cell(rep, "ceiling", w, CONCURRENCY).and_then(throughput);
        let rows: Vec<(String, Vec<Bar>)> = Kind::ALL
            .iter()
            .filter_map(|k| {
                let t = throughput(cell(rep, k.id(), w, CONCURRENCY)?)?;
                let ratio = match base {
                    Some(b) if b > 0.0 && k.id() != "ceiling" => {
                        format!(" ({:.2}× ceiling)", t / b)
                    }
                    _ => String::new(),
                };
                Some((
                    k.id().to_string(),
                    vec![Bar {
                        series: 0,
                        value: t,
                        text: format!("{t:.0} {unit}{ratio}"),
                    }],
                ))
            })
            .collect();
        if !rows.is_empty() {
            out.push(Panel {
                title: title.into(),
                series: vec![unit_legend(unit)],
                rows,
                log: false,
            });
        }
    }
    let lat_rows: Vec<(String, Vec<Bar>)> = Kind::ALL
        .iter()
        .filter_map(|k| {
            let c = cell(rep, k.id(), "status", CONCURRENCY)?;
            let lat = &c["result"]["latency_ms"];
            let bars: Vec<Bar> = ["p50", "p95", "p99"]
                .iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    let v = lat[*p].as_f64()?;
                    Some(Bar {
                        series: i,
                        value: v,
                        text: format!("{p} {v:.3} ms"),
                    })
                })
                .collect();
            (!bars.is_empty()).then(|| (k.id().to_string(), bars))
        })
        .collect();
    if !lat_rows.is_empty() {
        out.push(Panel {
            title: "get_task_status @16: latency percentiles (ms, log scale)".into(),
            series: vec!["p50", "p95", "p99"],
            rows: lat_rows,
            log: true,
        });
    }
    let cpu_rows: Vec<(String, Vec<Bar>)> = Kind::ALL
        .iter()
        .filter_map(|k| {
            let v =
                cell(rep, k.id(), "status", CONCURRENCY)?["server_cpu_us_per_request"].as_f64()?;
            Some((
                k.id().to_string(),
                vec![Bar {
                    series: 0,
                    value: v,
                    text: format!("{v:.1} µs"),
                }],
            ))
        })
        .collect();
    if !cpu_rows.is_empty() {
        out.push(Panel {
            title: "get_task_status @16: server CPU time per request (µs, lower is better)".into(),
            series: vec!["CPU µs/request"],
            rows: cpu_rows,
            log: false,
        });
    }
    out
}

fn unit_legend(unit: &str) -> &'static str {
    if unit == "lifecycles/s" {
        "lifecycles/s"
    } else {
        "requests/s"
    }
}

/// The SVG document of a run (`meta` as in `bench.json`).
pub fn svg(rep: &Report, meta: &Value) -> String {
    let panels = panels(rep);
    let mut body = String::new();
    let mut y = 56.0;
    let plot_w = WIDTH - LABEL_W - VALUE_W - 20.0;
    for p in &panels {
        let _ = writeln!(
            body,
            r#"<text x="10" y="{y:.0}" font-weight="bold">{}</text>"#,
            esc(&p.title)
        );
        // Legend, right-aligned on the title line.
        if p.series.len() > 1 {
            let mut lx = WIDTH - 10.0 - 80.0 * p.series.len() as f64;
            for (i, s) in p.series.iter().enumerate() {
                let _ = writeln!(
                    body,
                    r#"<rect x="{lx:.0}" y="{:.0}" width="10" height="10" fill="{}"/><text x="{:.0}" y="{y:.0}">{}</text>"#,
                    y - 9.0,
                    COLOURS[i % COLOURS.len()],
                    lx + 14.0,
                    esc(s)
                );
                lx += 80.0;
            }
        }
        y += 10.0;
        let max = p
            .rows
            .iter()
            .flat_map(|(_, bars)| bars.iter().map(|b| b.value))
            .fold(0.0_f64, f64::max);
        let min_pos = p
            .rows
            .iter()
            .flat_map(|(_, bars)| bars.iter().map(|b| b.value))
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min);
        // Log scale from a decade below the smallest value to the largest.
        let (lo, hi) = if p.log && min_pos.is_finite() && max > 0.0 {
            (
                (min_pos / 10.0).log10().floor(),
                max.log10().ceil().max(0.0),
            )
        } else {
            (0.0, max)
        };
        let scale = |v: f64| -> f64 {
            if p.log {
                if v <= 0.0 || hi <= lo {
                    0.0
                } else {
                    ((v.log10() - lo) / (hi - lo)).clamp(0.0, 1.0) * plot_w
                }
            } else if max > 0.0 {
                v / max * plot_w
            } else {
                0.0
            }
        };
        let top = y;
        for (label, bars) in &p.rows {
            let row_h = bars.len() as f64 * (BAR_H + 2.0);
            let _ = writeln!(
                body,
                r#"<text x="{:.0}" y="{:.0}" text-anchor="end">{}</text>"#,
                LABEL_W - 8.0,
                y + row_h / 2.0 + 4.0,
                esc(label)
            );
            for b in bars {
                let w = scale(b.value).max(1.0);
                let colour = if label == "ceiling" && p.series.len() == 1 {
                    "#7f7f7f"
                } else {
                    COLOURS[b.series % COLOURS.len()]
                };
                let _ = writeln!(
                    body,
                    r#"<rect x="{LABEL_W:.0}" y="{y:.0}" width="{w:.1}" height="{BAR_H:.0}" fill="{colour}"><title>{}: {}</title></rect><text x="{:.1}" y="{:.0}" font-size="11">{}</text>"#,
                    esc(label),
                    esc(&b.text),
                    LABEL_W + w + 4.0,
                    y + BAR_H - 3.0,
                    esc(&b.text)
                );
                y += BAR_H + 2.0;
            }
            y += GAP;
        }
        // Axis line and, on log panels, the decades.
        let _ = writeln!(
            body,
            "<line x1=\"{LABEL_W:.0}\" y1=\"{top:.0}\" x2=\"{LABEL_W:.0}\" y2=\"{y:.0}\" stroke=\"#444\"/>"
        );
        if p.log && hi > lo {
            let mut d = lo;
            while d <= hi {
                let x = LABEL_W + (d - lo) / (hi - lo) * plot_w;
                let _ = writeln!(
                    body,
                    "<line x1=\"{x:.1}\" y1=\"{top:.0}\" x2=\"{x:.1}\" y2=\"{y:.0}\" stroke=\"#ccc\" stroke-dasharray=\"2,3\"/><text x=\"{x:.1}\" y=\"{:.0}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#666\">{}</text>",
                    y + 11.0,
                    format_decade(d)
                );
                d += 1.0;
            }
            y += 14.0;
        }
        y += 26.0;
    }
    if panels.is_empty() {
        let _ = writeln!(
            body,
            r#"<text x="10" y="{y:.0}">No concurrency-16 cell ran in this run.</text>"#
        );
        y += 30.0;
    }
    let height = y + 10.0;
    let subtitle = format!(
        "{} · commit {} · {} cores · {} mode · loopback, load generator on the same cores",
        meta["date"].as_str().unwrap_or("?"),
        meta["commit"].as_str().unwrap_or("?"),
        meta["cores"],
        if meta["quick"].as_bool().unwrap_or(false) {
            "quick"
        } else {
            "full"
        },
    );
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH:.0}" height="{height:.0}" viewBox="0 0 {WIDTH:.0} {height:.0}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="22" font-size="16" font-weight="bold">baton benchmark (cargo xtask bench)</text>
<text x="10" y="38" font-size="11" fill="#555">{}</text>
{body}</svg>
"##,
        esc(&subtitle)
    )
}

fn format_decade(d: f64) -> String {
    let v = 10f64.powf(d);
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_picture_has_a_bar_per_measured_server_and_escapes_text() {
        let mut rep = Report::default();
        for (server, rps, cpu) in [
            ("ceiling", 40_000.0, 20.0),
            ("baton-sqlite", 20_000.0, 40.0),
        ] {
            rep.cells.push(
                json!({"server": server, "workload": "status", "concurrency": 16,
                "result": {"rps": rps, "latency_ms": {"p50": 0.4, "p95": 0.9, "p99": 2.5}},
                "server_cpu_us_per_request": cpu}),
            );
        }
        let meta =
            json!({"date": "2026-01-01T00:00:00Z", "commit": "<abc>", "cores": 2, "quick": true});
        let svg = svg(&rep, &meta);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("20000 req/s (0.50× ceiling)"), "{svg}");
        assert!(svg.contains("p99 2.500 ms"));
        assert!(svg.contains("40.0 µs"));
        assert!(svg.contains("commit &lt;abc&gt;"));
        assert!(
            !svg.contains("http://www.w3.org/2000/svg\" href"),
            "no external reference"
        );
        // The lifecycle panel is left out: no lifecycle cell ran.
        assert!(!svg.contains("lifecycles/s"));
    }
}
