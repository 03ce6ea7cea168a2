//! Draws the figures of docs/benchmarks.md from the table benches/run.sh writes.
//!
//! `bench-plot TSV OUT_DIR` reads `target engine qd iops cpu_us_per_io` rows (with a
//! header line) and writes `OUT_DIR/benchmarks-<target>.svg` for each target: IOPS and
//! CPU time per I/O against the queue depth (a log-2 axis), one line per engine, with
//! axes, units and a legend. The `fio-libaio-default` rows (queue depth 128 only, a
//! single point) are left out of the lines, as in the tables they are a column apart.

use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

/// One measurement.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    target: String,
    engine: String,
    qd: u32,
    iops: f64,
    cpu_us: f64,
}

/// Parses the TSV; `Err` names the first bad line.
fn parse(text: &str) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let bad = || {
            format!(
                "line {}: expected target, engine, qd, iops, cpu_us_per_io: {line:?}",
                i + 1
            )
        };
        if f.len() != 5 {
            return Err(bad());
        }
        rows.push(Row {
            target: f[0].to_owned(),
            engine: f[1].to_owned(),
            qd: f[2].parse().map_err(|_| bad())?,
            iops: f[3].parse().map_err(|_| bad())?,
            cpu_us: f[4].parse().map_err(|_| bad())?,
        });
    }
    Ok(rows)
}

/// A point: queue depth, IOPS, CPU per I/O (us).
type Point = (u32, f64, f64);
/// An engine's points.
type Line = (String, Vec<Point>);

/// The engines in the order they first appear, each with its points sorted by depth.
fn series(rows: &[Row], target: &str) -> Vec<Line> {
    let mut order: Vec<String> = Vec::new();
    let mut points: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.target == target && r.engine != "fio-libaio-default")
    {
        if !order.contains(&r.engine) {
            order.push(r.engine.clone());
        }
        points
            .entry(r.engine.clone())
            .or_default()
            .push((r.qd, r.iops, r.cpu_us));
    }
    order
        .into_iter()
        .map(|e| {
            let mut p = points.remove(&e).unwrap_or_default();
            p.sort_by_key(|&(qd, _, _)| qd);
            (e, p)
        })
        .collect()
}

/// A colour per engine, the same in both panels.
const COLORS: [RGBColor; 8] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(23, 190, 207),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(127, 127, 127),
];

type Series = [Line];

/// The vertical scale of a panel.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scale {
    /// From 0, for throughput.
    Linear,
    /// Logarithmic, for costs that span decades (one engine's CPU per I/O at depth 1 is
    /// 30 times the others').
    Log,
}

/// One panel: `value` of each point against the queue depth, on a log-2 axis (x is
/// log2 of the depth, labelled with the depth).
fn panel(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    title: &str,
    y_label: &str,
    data: &Series,
    value: fn(&Point) -> f64,
    scale: Scale,
) -> Result<(), Box<dyn std::error::Error>> {
    let max_qd = data
        .iter()
        .flat_map(|(_, p)| p.iter().map(|p| p.0))
        .max()
        .unwrap_or(1)
        .max(2);
    let steps = 32 - (max_qd - 1).leading_zeros();
    let values = || data.iter().flat_map(|(_, p)| p.iter().map(value));
    let max_y = values().fold(0.0, f64::max).max(1e-9);
    let min_y = values().fold(f64::INFINITY, f64::min);
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(72);
    let x_range = -0.15..f64::from(steps) + 0.15;
    let points = |p: &Point| (f64::from(p.0).log2(), value(p));
    let x_fmt = |x: &f64| {
        if (x - x.round()).abs() < 1e-6 && *x >= 0.0 {
            (1u64 << x.round() as u32).to_string()
        } else {
            String::new()
        }
    };
    macro_rules! draw {
        ($chart:expr, $y_fmt:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc("queue depth (requests in flight, log scale)")
                .y_desc(y_label)
                .x_labels(steps as usize + 1)
                .y_labels(if scale == Scale::Log { 20 } else { 8 })
                .x_label_formatter(&x_fmt)
                .y_label_formatter(&$y_fmt)
                .label_style(("sans-serif", 13))
                .axis_desc_style(("sans-serif", 14))
                .light_line_style(WHITE.mix(0.0))
                .draw()?;
            for (i, (_, series)) in data.iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                chart.draw_series(LineSeries::new(
                    series.iter().map(points),
                    color.stroke_width(2),
                ))?;
                chart.draw_series(
                    series
                        .iter()
                        .map(|p| Circle::new(points(p), 3, color.filled())),
                )?;
            }
        }};
    }
    match scale {
        Scale::Linear => {
            let top = max_y * 1.08;
            draw!(builder.build_cartesian_2d(x_range, 0.0..top)?, |v: &f64| {
                if top >= 10_000.0 {
                    format!("{:.0}k", v / 1000.0)
                } else {
                    format!("{v:.1}")
                }
            })
        }
        Scale::Log => {
            let range = (min_y * 0.8).max(1e-3)..max_y * 1.25;
            draw!(
                builder.build_cartesian_2d(x_range, range.log_scale())?,
                |v: &f64| format!("{v}")
            )
        }
    }
    Ok(())
}

/// The legend of both panels, one row under them: a line in each engine's colour and
/// its name.
fn legend(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    data: &Series,
) -> Result<(), Box<dyn std::error::Error>> {
    let style = ("sans-serif", 14).into_font().color(&BLACK);
    let width = area.dim_in_pixel().0 as i32;
    let step = (width - 40) / data.len().max(1) as i32;
    for (i, (engine, _)) in data.iter().enumerate() {
        let x = 30 + step * i as i32;
        let color = COLORS[i % COLORS.len()];
        area.draw(&PathElement::new(
            [(x, 20), (x + 24, 20)],
            color.stroke_width(3),
        ))?;
        area.draw(&Circle::new((x + 12, 20), 3, color.filled()))?;
        area.draw(&Text::new(engine.as_str(), (x + 30, 12), style.clone()))?;
    }
    Ok(())
}

/// Writes `out/benchmarks-<target>.svg`.
fn plot(rows: &[Row], target: &str, out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let data = series(rows, target);
    let path = out.join(format!("benchmarks-{target}.svg"));
    let root = SVGBackend::new(&path, (1100, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let (panels, legend_area) = root.split_vertically(430);
    let (left, right) = panels.split_horizontally(550);
    legend(&legend_area, &data)?;
    // A log scale only when the costs span more than a factor of 20: otherwise a linear
    // one reads better.
    let cpu = data.iter().flat_map(|(_, p)| p.iter().map(|p| p.2));
    let (lo, hi) = cpu.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let cpu_scale = if hi > 20.0 * lo {
        Scale::Log
    } else {
        Scale::Linear
    };
    panel(
        &left,
        &format!("{target}: 4 KiB O_DIRECT random reads, IOPS"),
        "I/O operations per second",
        &data,
        |p| p.1,
        Scale::Linear,
    )?;
    panel(
        &right,
        &format!("{target}: CPU time per I/O"),
        if cpu_scale == Scale::Log {
            "user + system CPU per I/O (us, log scale)"
        } else {
            "user + system CPU per I/O (us)"
        },
        &data,
        |p| p.2,
        cpu_scale,
    )?;
    root.present()?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [tsv, out] = args.as_slice() else {
        eprintln!("usage: bench-plot BENCHMARKS.TSV OUT_DIR");
        return ExitCode::from(2);
    };
    let rows = match std::fs::read_to_string(tsv)
        .map_err(|e| format!("{tsv}: {e}"))
        .and_then(|t| parse(&t))
    {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("bench-plot: {e}");
            return ExitCode::from(2);
        }
    };
    let mut targets: Vec<&str> = Vec::new();
    for r in &rows {
        if !targets.contains(&r.target.as_str()) {
            targets.push(&r.target);
        }
    }
    for target in targets {
        if let Err(e) = plot(&rows, target, Path::new(out)) {
            eprintln!("bench-plot: {target}: {e}");
            return ExitCode::FAILURE;
        }
        println!("{out}/benchmarks-{target}.svg");
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    const TSV: &str = "target\tengine\tqd\tiops\tcpu_us_per_io\n\
                       zram\tc-floor\t2\t600\t1.5\n\
                       zram\tc-floor\t1\t500\t2.0\n\
                       zram\trawaio\t1\t400\t2.5\n\
                       zram\tfio-libaio-default\t128\t350\t3.0\n\
                       ext4\trawaio\t1\t10\t30\n";

    #[test]
    fn parses_and_groups_by_engine_in_order() {
        let rows = parse(TSV).unwrap();
        assert_eq!(rows.len(), 5);
        let s = series(&rows, "zram");
        let names: Vec<&str> = s.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(
            names,
            ["c-floor", "rawaio"],
            "fio-libaio-default is left out"
        );
        assert_eq!(
            s[0].1,
            [(1, 500.0, 2.0), (2, 600.0, 1.5)],
            "sorted by depth"
        );
        assert!(
            parse("h\nzram\tx\tone\t1\t1\n")
                .unwrap_err()
                .contains("line 2")
        );
    }

    #[test]
    fn writes_an_svg_with_axes_and_legend() {
        let out = std::env::temp_dir().join(format!("bench-plot-test-{}", std::process::id()));
        std::fs::create_dir_all(&out).unwrap();
        plot(&parse(TSV).unwrap(), "zram", &out).unwrap();
        let svg = std::fs::read_to_string(out.join("benchmarks-zram.svg")).unwrap();
        std::fs::remove_dir_all(&out).unwrap();
        for text in [
            "queue depth",
            "I/O operations per second",
            "CPU per I/O (us)",
            "c-floor",
            "rawaio",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
        assert!(!svg.contains("fio-libaio-default"));
    }
}
