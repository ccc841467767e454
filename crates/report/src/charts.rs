//! The report's charts, drawn with plotters on any backend (PNG or SVG).
//!
//! Text uses DejaVu Sans compiled into the binary and registered as
//! "sans-serif", so a chart looks the same on a bare server as on a laptop.
//! Sizes are set for a slide (1600x900) and scale with the picture.

use crate::time::{format_utc, format_utc_minute};
use crate::timeline::{MINUTE_US, TimelineBin};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use std::sync::Once;

/// Colours per verdict, shared by every chart and the HTML legend.
pub const ZOMBIE: RGBColor = RGBColor(0xc0, 0x39, 0x2b);
pub const SUSPECT: RGBColor = RGBColor(0xe6, 0x7e, 0x22);
pub const CLEAN: RGBColor = RGBColor(0x29, 0x80, 0xb9);
pub const RELAY: RGBColor = RGBColor(0x7f, 0x8c, 0x8d);
pub const AFTER: RGBColor = RGBColor(0x27, 0xae, 0x60);
pub const SIMULATED: RGBColor = RGBColor(0x8e, 0x44, 0xad);
pub const DIFFERENTIAL: RGBColor = RGBColor(0x16, 0xa0, 0x85);
const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
const GRID: RGBColor = RGBColor(0xdd, 0xdd, 0xdd);

/// Registers the embedded font once per process.
pub fn register_embedded_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a known-good TTF compiled in; a failure here would be
        // a broken build of the dejavu crate, and then text simply does not draw.
        let _ = register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
        let _ = register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Font sizes in pixels for a picture of this size.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    scale: f64,
}

impl Sizes {
    fn of(width: u32, height: u32) -> Sizes {
        let scale = (f64::from(width) / 1600.0).min(f64::from(height) / 900.0);
        Sizes {
            scale: scale.max(0.3),
        }
    }
    fn px(&self, base: f64) -> u32 {
        (base * self.scale).round().max(1.0) as u32
    }
    fn font(&self, base: f64) -> TextStyle<'static> {
        ("sans-serif", self.px(base)).into_font().color(&INK)
    }
    fn bold(&self, base: f64) -> TextStyle<'static> {
        ("sans-serif", self.px(base))
            .into_font()
            .style(FontStyle::Bold)
            .color(&INK)
    }
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Opaque `color` laid over white at `alpha`: bands that touch must not
/// blend into each other.
fn over_white(color: RGBColor, alpha: f64) -> RGBColor {
    let mix = |c: u8| (255.0 - (255.0 - f64::from(c)) * alpha).round() as u8;
    RGBColor(mix(color.0), mix(color.1), mix(color.2))
}

/// One entry of a chart's legend: its swatch (one colour, or several side by
/// side for "the pale shade of each of these") and its words.
#[derive(Clone, Debug)]
pub struct LegendEntry {
    pub label: String,
    pub colors: Vec<RGBColor>,
}

impl LegendEntry {
    fn solid(label: impl Into<String>, color: RGBColor) -> LegendEntry {
        LegendEntry {
            label: label.into(),
            colors: vec![color],
        }
    }
}

/// Draws the title and, under it, the legend in centred rows (as many as
/// the width needs), and returns the area left for the plot. The legend
/// stands outside the plot, so no shape of the data can run under it.
fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &Sizes,
    title: &str,
    legend: &[LegendEntry],
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    let (w, _) = root.dim_in_pixel();
    let margin = s.px(24.0) as i32;
    let title_style = s.bold(40.0);
    let (_, title_h) = root.estimate_text_size(title, &title_style)?;
    centred_text(root, title, &title_style, ((w / 2) as i32, margin))?;
    let mut y = margin + title_h as i32 + s.px(10.0) as i32;

    let label_style = s.font(28.0);
    let swatch = s.px(24.0) as i32;
    let gap = s.px(10.0) as i32;
    let spacing = s.px(44.0) as i32;
    let room = (w as i32 - 2 * margin).max(1);
    let mut rows: Vec<Vec<(&LegendEntry, i32, i32)>> = Vec::new();
    let mut row_width = 0;
    for entry in legend {
        let (tw, th) = root.estimate_text_size(&entry.label, &label_style)?;
        let width = swatch + gap + tw as i32;
        match rows.last_mut() {
            Some(row) if row_width + spacing + width <= room => {
                row.push((entry, width, th as i32));
                row_width += spacing + width;
            }
            _ => {
                rows.push(vec![(entry, width, th as i32)]);
                row_width = width;
            }
        }
    }
    for row in &rows {
        let text_h = row.iter().map(|e| e.2).max().unwrap_or(0);
        let row_h = text_h.max(swatch) + s.px(10.0) as i32;
        let total: i32 = row.iter().map(|e| e.1).sum::<i32>() + spacing * (row.len() as i32 - 1);
        let mut x = (w as i32 - total) / 2;
        let mid = y + row_h / 2;
        for &(entry, width, th) in row {
            let stripes = entry.colors.len().max(1) as i32;
            for (i, color) in entry.colors.iter().enumerate() {
                let i = i as i32;
                root.draw(&Rectangle::new(
                    [
                        (x + swatch * i / stripes, mid - swatch / 2),
                        (x + swatch * (i + 1) / stripes, mid + swatch / 2),
                    ],
                    color.filled(),
                ))?;
            }
            root.draw_text(&entry.label, &label_style, (x + swatch + gap, mid - th / 2))?;
            x += width + spacing;
        }
        y += row_h;
    }
    Ok(root.split_vertically(y + s.px(6.0) as i32).1)
}

/// One bar of the spam-share chart.
#[derive(Clone, Debug)]
pub struct ShareBar {
    pub label: String,
    pub share: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    pub color: RGBColor,
}

/// An axis label with as many decimals as ticks on an axis up to `range`
/// need to differ (plotters puts about ten of them on it).
fn tick_label(v: f64, range: f64) -> String {
    let decimals = if range <= 0.5 {
        2
    } else if range <= 5.0 {
        1
    } else {
        0
    };
    format!("{v:.decimals$}")
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Writes text centred on a pixel position.
fn centred_text<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle<'_>,
    (x, y): (i32, i32),
) -> DrawResult<DB> {
    let (w, _) = root.estimate_text_size(text, style)?;
    root.draw_text(text, style, (x - (w as i32) / 2, y))
}

/// `spam-share.png`: one bar per scenario with its 95% interval.
pub fn spam_share<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    unit: &str,
    bars: &[ShareBar],
) -> DrawResult<DB> {
    let (w, h) = root.dim_in_pixel();
    let s = Sizes::of(w, h);
    root.fill(&WHITE)?;
    let n = bars.len().max(1);
    let body = titled(root, &s, title, &[])?;
    let mut chart = ChartBuilder::on(&body)
        .margin(s.px(24.0))
        .margin_top(s.px(8.0))
        .x_label_area_size(s.px(70.0))
        .y_label_area_size(s.px(110.0))
        // Above 100%: room for a bar's two labels (92 px at 1600x900) when
        // its interval reaches 100%, so they never meet the title.
        .build_cartesian_2d(0f64..n as f64, 0f64..1.16)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .y_labels(7)
        .y_label_formatter(&|y| {
            if *y <= 1.0 + 1e-9 {
                format!("{:.0}%", y * 100.0)
            } else {
                String::new()
            }
        })
        .x_labels(0)
        .y_label_style(s.font(26.0))
        .y_desc(format!("spam share of outbound mail ({unit})"))
        .axis_desc_style(s.font(28.0))
        .draw()?;
    let half_width = 0.3;
    for (i, bar) in bars.iter().enumerate() {
        let x = i as f64 + 0.5;
        // Category names under the axis, centred on their bar.
        let (px, py) = chart.backend_coord(&(x, 0.0));
        centred_text(
            root,
            &bar.label,
            &s.font(30.0),
            (px, py + s.px(16.0) as i32),
        )?;
        match bar.share {
            Some(share) => {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x - half_width, 0.0), (x + half_width, share)],
                    bar.color.filled(),
                )))?;
                let top = bar.ci95.map_or(share, |c| c[1].max(share));
                if let Some([lo, hi]) = bar.ci95 {
                    let style = ShapeStyle::from(&INK).stroke_width(s.px(4.0));
                    let cap = 0.08;
                    chart.draw_series([
                        PathElement::new(vec![(x, lo), (x, hi)], style),
                        PathElement::new(vec![(x - cap, lo), (x + cap, lo)], style),
                        PathElement::new(vec![(x - cap, hi), (x + cap, hi)], style),
                    ])?;
                }
                let (px, py) = chart.backend_coord(&(x, top));
                let big = s.bold(40.0);
                centred_text(root, &percent(share), &big, (px, py - s.px(92.0) as i32))?;
                if let Some([lo, hi]) = bar.ci95 {
                    let small = s.font(24.0);
                    centred_text(
                        root,
                        &format!("95% CI {:.1}–{:.1}%", lo * 100.0, hi * 100.0),
                        &small,
                        (px, py - s.px(44.0) as i32),
                    )?;
                }
            }
            None => {
                let (px, py) = chart.backend_coord(&(x, 0.05));
                centred_text(root, "no data", &s.font(28.0), (px, py - s.px(30.0) as i32))?;
            }
        }
    }
    root.present()
}

/// `fanout.png`: how many distinct servers each host sent to, zombies
/// against everybody else, as a share of each group per power-of-two bin.
pub fn fanout<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    hosts: &[(u64, bool)],
) -> DrawResult<DB> {
    let (w, h) = root.dim_in_pixel();
    let s = Sizes::of(w, h);
    root.fill(&WHITE)?;
    let max = hosts.iter().map(|&(f, _)| f).max().unwrap_or(1).max(1);
    // Bins [2^k, 2^(k+1)): 1, 2-3, 4-7, ... up to the largest fan-out.
    let bins = (64 - max.leading_zeros()) as usize;
    let mut counts = vec![[0u64; 2]; bins.max(1)];
    let mut group_sizes = [0u64; 2];
    let mut zero = 0u64;
    for &(f, zombie) in hosts {
        if f == 0 {
            zero += 1;
            continue;
        }
        let bin = (63 - f.leading_zeros()) as usize;
        let g = usize::from(!zombie);
        if let Some(c) = counts.get_mut(bin) {
            c[g] += 1;
        }
        group_sizes[g] += 1;
    }
    let share = |c: u64, g: usize| {
        if group_sizes[g] > 0 {
            c as f64 / group_sizes[g] as f64 * 100.0
        } else {
            0.0
        }
    };
    let y_max = counts
        .iter()
        .flat_map(|c| [share(c[0], 0), share(c[1], 1)])
        .fold(0.0f64, f64::max)
        .max(1.0)
        * 1.1;
    let x_max = (1u64 << bins.min(62)) as f64;
    let caption = if zero > 0 {
        format!("{title} ({zero} hosts with fan-out 0 not shown)")
    } else {
        title.to_string()
    };
    let groups = [(ZOMBIE, "zombies"), (CLEAN, "all other hosts")];
    let legend: Vec<LegendEntry> = groups
        .iter()
        .zip(group_sizes)
        .map(|(&(color, name), n)| LegendEntry::solid(format!("{name} (n = {n})"), color))
        .collect();
    let body = titled(root, &s, &caption, &legend)?;
    let mut chart = ChartBuilder::on(&body)
        .margin(s.px(24.0))
        .margin_top(s.px(8.0))
        .x_label_area_size(s.px(90.0))
        .y_label_area_size(s.px(110.0))
        .build_cartesian_2d((1f64..x_max.max(2.0)).log_scale(), 0f64..y_max)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}%"))
        .x_label_style(s.font(26.0))
        .y_label_style(s.font(26.0))
        .x_desc("distinct servers contacted on port 25 per host (fan-out, log scale)")
        .y_desc("hosts in the group (%)")
        .axis_desc_style(s.font(28.0))
        .draw()?;
    for (g, (color, _)) in groups.into_iter().enumerate() {
        let rects: Vec<Rectangle<(f64, f64)>> = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| c[g] > 0)
            .map(|(k, c)| {
                let lo = (1u64 << k) as f64;
                let hi = lo * 2.0;
                let mid = (lo * hi).sqrt();
                // Zombies on the left half of the bin, the rest on the right.
                let (a, b) = if g == 0 { (lo, mid) } else { (mid, hi) };
                let pad = (b / a).powf(0.08);
                Rectangle::new([(a * pad, 0.0), (b / pad, share(c[g], g))], color.filled())
            })
            .collect();
        chart.draw_series(rects)?;
    }
    root.present()
}

/// One bar of `top-hosts.png`.
#[derive(Clone, Debug)]
pub struct TopHost {
    pub label: String,
    pub score: f64,
    pub verdict: &'static str,
    pub reason: String,
}

/// Every verdict with its colour, worst first.
pub const VERDICTS: [(&str, RGBColor); 4] = [
    ("zombie", ZOMBIE),
    ("suspect", SUSPECT),
    ("clean", CLEAN),
    ("relay", RELAY),
];

pub fn verdict_color(verdict: &str) -> RGBColor {
    VERDICTS
        .iter()
        .find(|(name, _)| *name == verdict)
        .map_or(CLEAN, |&(_, color)| color)
}

/// `top-hosts.png`: the highest scores as horizontal bars, each labelled
/// with the reason that weighed most.
pub fn top_hosts<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    hosts: &[TopHost],
) -> DrawResult<DB> {
    let (w, h) = root.dim_in_pixel();
    let s = Sizes::of(w, h);
    root.fill(&WHITE)?;
    if hosts.is_empty() {
        let caption = format!("{title}: no hosts with outbound SMTP");
        centred_text(
            root,
            &caption,
            &s.bold(40.0),
            ((w / 2) as i32, (h / 2) as i32),
        )?;
        return root.present();
    }
    let n = hosts.len().max(1);
    // At least one point of score on the axis: where every score is 0 the
    // bars are empty, but the axis still reads 0, 0.2, ... and not 0.0 ten times.
    let max_score = hosts
        .iter()
        .map(|t| t.score)
        .fold(0.0f64, f64::max)
        .max(1.0);
    let longest = hosts.iter().map(|t| t.label.len()).max().unwrap_or(8);
    // Row 0 at the top: y runs from n (top) down to 0.
    let label_font = if n > 15 { 22.0 } else { 26.0 };
    let legend: Vec<LegendEntry> = VERDICTS
        .into_iter()
        .filter(|(verdict, _)| hosts.iter().any(|t| t.verdict == *verdict))
        .map(|(verdict, color)| LegendEntry::solid(verdict, color))
        .collect();
    let body = titled(root, &s, title, &legend)?;
    let mut chart = ChartBuilder::on(&body)
        .margin(s.px(24.0))
        .margin_top(s.px(8.0))
        .x_label_area_size(s.px(80.0))
        .y_label_area_size(s.px(label_font * 0.62 * longest as f64 + 30.0))
        .build_cartesian_2d(0f64..max_score * 1.45, 0f64..n as f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .y_labels(0)
        .x_label_formatter(&|x| tick_label(*x, max_score * 1.45))
        .x_label_style(s.font(26.0))
        .x_desc("zombie score")
        .axis_desc_style(s.font(28.0))
        .draw()?;
    for (i, t) in hosts.iter().enumerate() {
        let y = n as f64 - i as f64 - 0.5;
        let color = verdict_color(t.verdict);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y - 0.36), (t.score.max(0.0), y + 0.36)],
            color.filled(),
        )))?;
        let style = s.font(label_font);
        // The host label, right-aligned against the axis.
        let (ax, ay) = chart.backend_coord(&(0.0, y));
        let (lw, lh) = root.estimate_text_size(&t.label, &style)?;
        root.draw_text(
            &t.label,
            &style,
            (ax - lw as i32 - s.px(12.0) as i32, ay - (lh as i32) / 2),
        )?;
        let (px, py) = chart.backend_coord(&(t.score.max(0.0), y));
        let (_, th) = root.estimate_text_size(&t.reason, &style)?;
        root.draw_text(
            &t.reason,
            &style,
            (px + s.px(10.0) as i32, py - (th as i32) / 2),
        )?;
    }
    root.present()
}

/// `timeline.png`: outbound SMTP sessions per minute, stacked by verdict:
/// first the sessions a server answered (zombies at the bottom, where their
/// size reads best), then, in the pale shade of each verdict, those that got
/// no answer or a reset, which after the block are the attempts it stopped.
/// Draws exactly the bins of timeline.csv.
pub fn timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    bins: &[TimelineBin],
) -> DrawResult<DB> {
    let (w, h) = root.dim_in_pixel();
    let s = Sizes::of(w, h);
    root.fill(&WHITE)?;
    let Some(first) = bins.first() else {
        let caption = format!("{title}: no outbound SMTP sessions");
        centred_text(
            root,
            &caption,
            &s.bold(40.0),
            ((w / 2) as i32, (h / 2) as i32),
        )?;
        return root.present();
    };
    let start = first.start;
    let bin_minutes = first.minutes.max(1);
    // Per bin, the eight layers from the bottom: answered by verdict, then
    // failed by verdict, as sessions per minute.
    let layers: Vec<[f64; 8]> = bins
        .iter()
        .map(|b| {
            let mut l = [0f64; 8];
            for (slot, n) in l.iter_mut().zip(b.answered.iter().chain(&b.failed)) {
                *slot = *n as f64 / bin_minutes as f64;
            }
            l
        })
        .collect();
    let y_max = layers
        .iter()
        .map(|l| l.iter().sum::<f64>())
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.1;
    let has = |layer: usize| layers.iter().any(|l| l[layer] > 0.0);
    let pale = |color: RGBColor| over_white(color, 0.35);
    let solid = |color: RGBColor| over_white(color, 0.85);
    let mut legend: Vec<LegendEntry> = VERDICTS
        .iter()
        .enumerate()
        .filter(|&(v, _)| has(v) || has(v + 4))
        .map(|(_, &(name, color))| LegendEntry::solid(name, solid(color)))
        .collect();
    let pale_colors: Vec<RGBColor> = VERDICTS
        .iter()
        .enumerate()
        .filter(|&(v, _)| has(v + 4))
        .map(|(_, &(_, color))| pale(color))
        .collect();
    if !pale_colors.is_empty() {
        legend.push(LegendEntry {
            label: "pale: no answer or reset (blocked, refused, dead server)".into(),
            colors: pale_colors,
        });
    }
    let body = titled(root, &s, title, &legend)?;

    // x in minutes since the first bin, labelled as UTC clock time.
    let x_end = (bins.len() as i64 * bin_minutes) as f64;
    let span_minutes = bins.len() as i64 * bin_minutes;
    let unit_note = if bin_minutes > 1 {
        format!("outbound SMTP sessions per minute (mean over {bin_minutes}-minute bins)")
    } else {
        "outbound SMTP sessions per minute".to_string()
    };
    let mut chart = ChartBuilder::on(&body)
        .margin(s.px(24.0))
        .margin_top(s.px(8.0))
        .margin_right(s.px(60.0))
        .x_label_area_size(s.px(90.0))
        .y_label_area_size(s.px(110.0))
        .build_cartesian_2d(0f64..x_end, 0f64..y_max)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .disable_x_mesh()
        .x_labels(0)
        .y_label_formatter(&|y| tick_label(*y, y_max))
        .y_label_style(s.font(26.0))
        .x_desc(format!("time (UTC), from {}", format_utc(start)))
        .y_desc(unit_note)
        .axis_desc_style(s.font(28.0))
        .draw()?;
    // Clock ticks every 1, 2, 5, 10, 15, 30 minutes, 1, 2, 3, 6, 12 hours or
    // whole days: at most 9 labels, on round times.
    let step = [
        1i64, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080,
    ]
    .into_iter()
    .find(|st| x_end / (*st as f64) <= 9.0)
    .unwrap_or(((x_end / 9.0 / 1440.0).ceil() as i64).max(1) * 1440);
    let start_minute = start.div_euclid(MINUTE_US);
    let mut tick = (start_minute + step - 1).div_euclid(step) * step - start_minute;
    let label_style = s.font(26.0);
    while (tick as f64) <= x_end {
        let x = tick as f64;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x, 0.0), (x, y_max)],
            GRID,
        )))?;
        let (px, py) = chart.backend_coord(&(x, 0.0));
        root.draw(&PathElement::new(
            vec![(px, py), (px, py + s.px(8.0) as i32)],
            INK,
        ))?;
        let text = format_utc_minute(start + tick * MINUTE_US, span_minutes);
        centred_text(root, &text, &label_style, (px, py + s.px(14.0) as i32))?;
        tick += step;
    }
    // Each layer is the band between the sums below it and up to it, so
    // bands never overlap and each keeps its own colour.
    for layer in 0..8 {
        if !has(layer) {
            continue;
        }
        let color = VERDICTS[layer % 4].1;
        let color = if layer < 4 { solid(color) } else { pale(color) };
        let step = |top: bool| {
            let upto = if top { layer + 1 } else { layer };
            layers.iter().enumerate().flat_map(move |(b, l)| {
                let y: f64 = l.iter().take(upto).sum();
                let x0 = (b as i64 * bin_minutes) as f64;
                [(x0, y), (x0 + bin_minutes as f64, y)]
            })
        };
        let mut outline: Vec<(f64, f64)> = step(true).collect();
        let lower: Vec<(f64, f64)> = step(false).collect();
        outline.extend(lower.into_iter().rev());
        chart.draw_series(std::iter::once(Polygon::new(outline, color.filled())))?;
    }
    root.present()
}

#[cfg(test)]
mod tests {
    use super::tick_label;

    #[test]
    fn tick_labels_differ_where_ticks_do() {
        let labels = |range: f64, step: f64| -> Vec<String> {
            (0..=(range / step) as usize)
                .map(|i| tick_label(i as f64 * step, range))
                .collect()
        };
        // A timeline of at most 4.4 sessions a minute, ticks every 0.5.
        assert_eq!(labels(4.4, 0.5)[..4], ["0.0", "0.5", "1.0", "1.5"]);
        assert_eq!(labels(0.3, 0.05)[..3], ["0.00", "0.05", "0.10"]);
        assert_eq!(labels(1200.0, 200.0)[..3], ["0", "200", "400"]);
    }
}
