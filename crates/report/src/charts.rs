//! The report's charts, drawn with plotters on any backend (PNG or SVG).
//!
//! Text uses DejaVu Sans compiled into the binary and registered as
//! "sans-serif", so a chart looks the same on a bare server as on a laptop.
//! Sizes are set for a slide (1600x900) and scale with the picture.

use crate::time::{format_utc, format_utc_minute};
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

/// The coloured square of a legend entry (plotters centres it on `y`).
fn legend_box(x: i32, y: i32, color: RGBColor, size: u32) -> Rectangle<(i32, i32)> {
    let half = (size / 2) as i32;
    Rectangle::new([(x, y - half), (x + 2 * half, y + half)], color.filled())
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// The legend of every chart: the same box, font and spacing, where the
/// chart leaves room for it.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    s: &Sizes,
    position: SeriesLabelPosition,
) -> DrawResult<DB> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(GRID)
        .label_font(s.font(28.0))
        .legend_area_size(s.px(44.0))
        .margin(s.px(14.0))
        .draw()
}

/// One bar of the spam-share chart.
#[derive(Clone, Debug)]
pub struct ShareBar {
    pub label: String,
    pub share: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    pub color: RGBColor,
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
    let mut chart = ChartBuilder::on(root)
        .caption(title, s.bold(40.0))
        .margin(s.px(24.0))
        .x_label_area_size(s.px(70.0))
        .y_label_area_size(s.px(110.0))
        .build_cartesian_2d(0f64..n as f64, 0f64..1.12)?;
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
    let glyph = s.px(22.0);
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
    let mut chart = ChartBuilder::on(root)
        .caption(caption, s.bold(40.0))
        .margin(s.px(24.0))
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
    for (g, (color, name)) in [(ZOMBIE, "zombies"), (CLEAN, "all other hosts")]
        .into_iter()
        .enumerate()
    {
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
        chart
            .draw_series(rects)?
            .label(format!("{name} (n = {})", group_sizes[g]))
            .legend(move |(x, y)| legend_box(x, y, color, glyph));
    }
    draw_legend(&mut chart, &s, SeriesLabelPosition::UpperRight)?;
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

pub fn verdict_color(verdict: &str) -> RGBColor {
    match verdict {
        "zombie" => ZOMBIE,
        "suspect" => SUSPECT,
        "relay" => RELAY,
        _ => CLEAN,
    }
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
    let glyph = s.px(22.0);
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
    let max_score = hosts
        .iter()
        .map(|t| t.score)
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let longest = hosts.iter().map(|t| t.label.len()).max().unwrap_or(8);
    // Row 0 at the top: y runs from n (top) down to 0.
    let label_font = if n > 15 { 22.0 } else { 26.0 };
    let mut chart = ChartBuilder::on(root)
        .caption(title, s.bold(40.0))
        .margin(s.px(24.0))
        .x_label_area_size(s.px(80.0))
        .y_label_area_size(s.px(label_font * 0.62 * longest as f64 + 30.0))
        .build_cartesian_2d(0f64..max_score * 1.45, 0f64..n as f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .y_labels(0)
        .x_label_formatter(&|x| format!("{x:.1}"))
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
    for (verdict, color) in [
        ("zombie", ZOMBIE),
        ("suspect", SUSPECT),
        ("clean", CLEAN),
        ("relay", RELAY),
    ] {
        if hosts.iter().any(|t| t.verdict == verdict) {
            chart
                .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?
                .label(verdict)
                .legend(move |(x, y)| legend_box(x, y, color, glyph));
        }
    }
    draw_legend(&mut chart, &s, SeriesLabelPosition::LowerRight)?;
    root.present()
}

/// Outbound sessions per minute of each verdict (zombie, suspect, clean,
/// relay), by minute start in µs.
pub type TimelineRow = (i64, [u64; 4]);

pub const TIMELINE_LAYERS: [(&str, RGBColor); 4] = [
    ("zombie", ZOMBIE),
    ("suspect", SUSPECT),
    ("clean", CLEAN),
    ("relay", RELAY),
];

/// At most this many points per timeline: minutes are grouped beyond it.
const TIMELINE_MAX_BINS: i64 = 480;

/// `timeline.png`: outbound SMTP sessions per minute, stacked by verdict
/// (zombies at the bottom, where their size reads best).
pub fn timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    rows: &[TimelineRow],
) -> DrawResult<DB> {
    let (w, h) = root.dim_in_pixel();
    let s = Sizes::of(w, h);
    let glyph = s.px(22.0);
    root.fill(&WHITE)?;
    const MINUTE: i64 = 60_000_000;
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        let caption = format!("{title}: no outbound SMTP sessions");
        centred_text(
            root,
            &caption,
            &s.bold(40.0),
            ((w / 2) as i32, (h / 2) as i32),
        )?;
        return root.present();
    };
    let start = first.0;
    let span_minutes = (last.0 - start) / MINUTE + 1;
    let bin_minutes = ((span_minutes + TIMELINE_MAX_BINS - 1) / TIMELINE_MAX_BINS).max(1);
    let bins = ((span_minutes + bin_minutes - 1) / bin_minutes).max(1) as usize;
    let mut binned = vec![[0f64; 4]; bins];
    for (minute, counts) in rows {
        let b = ((minute - start) / MINUTE / bin_minutes) as usize;
        if let Some(slot) = binned.get_mut(b) {
            for (acc, c) in slot.iter_mut().zip(counts) {
                *acc += *c as f64 / bin_minutes as f64;
            }
        }
    }
    let y_max = binned
        .iter()
        .map(|c| c.iter().sum::<f64>())
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.15;
    // x in minutes since the first minute, labelled as UTC clock time.
    let x_end = (bins as i64 * bin_minutes) as f64;
    let multi_day = span_minutes > 24 * 60;
    let unit_note = if bin_minutes > 1 {
        format!("outbound SMTP sessions per minute (mean over {bin_minutes}-minute bins)")
    } else {
        "outbound SMTP sessions per minute".to_string()
    };
    let mut chart = ChartBuilder::on(root)
        .caption(title, s.bold(40.0))
        .margin(s.px(24.0))
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
        .y_label_formatter(&|y| format!("{y:.0}"))
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
    let start_minute = start.div_euclid(MINUTE);
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
        let text = format_utc_minute(start + tick * MINUTE, multi_day);
        centred_text(root, &text, &label_style, (px, py + s.px(14.0) as i32))?;
        tick += step;
    }
    // Stacked areas: draw the cumulative sum up to each layer, the tallest
    // first, so each later (lower) layer covers its part.
    for top in (0..4).rev() {
        let (name, color) = TIMELINE_LAYERS[top];
        if binned.iter().all(|c| c[top] == 0.0) {
            continue;
        }
        let points: Vec<(f64, f64)> = binned
            .iter()
            .enumerate()
            .flat_map(|(b, c)| {
                let y: f64 = c.iter().take(top + 1).sum();
                let x0 = (b as i64 * bin_minutes) as f64;
                let x1 = x0 + bin_minutes as f64;
                [(x0, y), (x1, y)]
            })
            .collect();
        chart
            .draw_series(AreaSeries::new(points, 0.0, color.mix(0.85).filled()))?
            .label(name)
            .legend(move |(x, y)| legend_box(x, y, color, glyph));
    }
    draw_legend(&mut chart, &s, SeriesLabelPosition::UpperRight)?;
    root.present()
}
