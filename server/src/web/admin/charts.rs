//! Charts drawn on the server as inline SVG: columns for categories (hour, weekday, region…) and
//! lines for time series. No script and nothing loaded from elsewhere; the page scales them.

use std::fmt::Write;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;
/// Series colours, in order.
pub const PALETTE: [&str; 4] = ["#1769aa", "#e8833a", "#3a9d5d", "#8e5ab5"];

/// One line of a line chart.
pub struct Series<'a> {
    /// Legend text.
    pub name: &'a str,
    /// One value per label.
    pub values: Vec<f64>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round upper bound for the axis and its four steps.
fn scale(max: f64) -> f64 {
    if max <= 0.0 {
        return 4.0;
    }
    let raw = max / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * magnitude);
    step * 4.0
}

fn format_tick(value: f64) -> String {
    if value.fract().abs() < 1e-9 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// Opens the SVG and draws the value grid; returns the markup and the y of a value.
fn frame(label: &str, max: f64) -> (String, impl Fn(f64) -> f64) {
    let top = scale(max);
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y = move |value: f64| TOP + plot_h * (1.0 - value / top);
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(label)
    );
    for step in 0..=4 {
        let value = top * f64::from(step) / 4.0;
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(value) + 4.0,
            format_tick(value),
            y = y(value),
        );
    }
    (svg, y)
}

/// Which labels to print so they do not overlap: every `n`th.
fn label_stride(count: usize, slot: f64) -> usize {
    ((44.0 / slot).ceil() as usize).clamp(1, count.max(1))
}

/// A column chart: one column per label.
pub fn columns(label: &str, labels: &[String], values: &[f64]) -> String {
    let max = values.iter().copied().fold(0.0, f64::max);
    let (mut svg, y) = frame(label, max);
    let slot = (WIDTH - LEFT - RIGHT) / labels.len().max(1) as f64;
    let stride = label_stride(labels.len(), slot);
    let bar = (slot * 0.7).max(1.0);
    for (i, (name, value)) in labels.iter().zip(values).enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let top = y(*value);
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{x:.1}" y="{top:.1}" width="{bar:.1}" height="{:.1}"><title>{}:{}</title></rect>"#,
            (y(0.0) - top).max(0.0),
            escape(name),
            format_tick(*value),
        );
        if i % stride == 0 {
            let _ = write!(
                svg,
                r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x + bar / 2.0,
                HEIGHT - BOTTOM + 16.0,
                escape(name),
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A line chart: one line per series over the labels, with a legend.
pub fn lines(label: &str, labels: &[String], series: &[Series<'_>]) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0, f64::max);
    let (mut svg, y) = frame(label, max);
    let span = (labels.len().max(2) - 1) as f64;
    let x = |i: usize| LEFT + (WIDTH - LEFT - RIGHT) * i as f64 / span;
    let stride = label_stride(labels.len(), (WIDTH - LEFT - RIGHT) / span);
    for (i, name) in labels.iter().enumerate().step_by(stride) {
        let _ = write!(
            svg,
            r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x(i),
            HEIGHT - BOTTOM + 16.0,
            escape(name),
        );
    }
    for (n, line) in series.iter().enumerate() {
        let colour = PALETTE[n % PALETTE.len()];
        let points: Vec<String> = line
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline class="line" fill="none" stroke="{colour}" points="{}"/>"#,
            points.join(" ")
        );
        let legend_x = LEFT + 8.0 + 130.0 * n as f64;
        let _ = write!(
            svg,
            r#"<rect x="{legend_x:.1}" y="{:.1}" width="12" height="4" fill="{colour}"/><text class="legend" x="{:.1}" y="{:.1}">{}</text>"#,
            HEIGHT - 12.0,
            legend_x + 16.0,
            HEIGHT - 7.0,
            escape(line.name),
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(scale(0.0), 4.0);
        assert_eq!(scale(7.0), 8.0);
        assert_eq!(scale(93.0), 100.0);
        assert_eq!(scale(1_234.0), 2_000.0);
    }

    #[test]
    fn charts_are_escaped_svg_with_one_mark_per_value() {
        let labels: Vec<String> = ["a<b", "c"].iter().map(|s| s.to_string()).collect();
        let svg = columns("x&y", &labels, &[1.0, 3.0]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 2);
        assert!(svg.contains("a&lt;b") && svg.contains("x&amp;y"));
        let line = lines(
            "t",
            &labels,
            &[Series {
                name: "发放",
                values: vec![0.0, 2.0],
            }],
        );
        assert_eq!(line.matches("<polyline").count(), 1);
        assert!(line.contains("发放"));
    }
}
