//! A picture of where the errors are, as SVG: the histogram of |error| / bound over every
//! element (log scale; the bound is the red line at 1), the largest ratio at each spatial
//! position of the output (over batch and channels), and the largest ratio per channel. A
//! padding bug lights up the border, a group-mapping bug a band of channels, a tiling seam a
//! periodic pattern.

use ndarray::{ArrayD, Axis, IxDyn};
use plotters::prelude::*;

/// The smallest decade drawn: ratios below 10^-9 (and exact zeros) are drawn there.
const FLOOR: f64 = -9.0;

/// log10 of a ratio, clamped to [FLOOR, ...); failures beyond f64 (NaN, infinity) are drawn
/// one decade above the largest finite one.
fn decade(ratio: f64, top: f64) -> f64 {
    if ratio.is_nan() || ratio.is_infinite() {
        top
    } else if ratio <= 0.0 {
        FLOOR
    } else {
        ratio.log10().max(FLOOR)
    }
}

/// A colour for a decade: blue (tiny) through green and yellow up to the bound, red beyond.
fn colour(d: f64) -> RGBColor {
    if d > 0.0 {
        return RGBColor(200, 30, 30);
    }
    let t = ((d - FLOOR) / -FLOOR).clamp(0.0, 1.0);
    let stops = [
        (40.0, 40.0, 120.0),
        (30.0, 140.0, 140.0),
        (120.0, 200.0, 80.0),
        (250.0, 230.0, 40.0),
    ];
    let at = t * (stops.len() - 1) as f64;
    let i = (at.floor() as usize).min(stops.len() - 2);
    let f = at - i as f64;
    let mix = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    RGBColor(
        mix(stops[i].0, stops[i + 1].0),
        mix(stops[i].1, stops[i + 1].1),
        mix(stops[i].2, stops[i + 1].2),
    )
}

/// The output's shape read as (batch, channels, rows, columns): (N, C, L) is one row of L,
/// (N, C, H, W) is H x W, (N, C, D, H, W) is H x W (the maximum over D); a tensor of rank 2
/// or less is one channel.
fn planes(ratios: &ArrayD<f64>) -> ArrayD<f64> {
    let shape = ratios.shape();
    let folded: Vec<usize> = match shape.len() {
        0 => vec![1, 1, 1, 1],
        1 => vec![1, 1, 1, shape[0]],
        2 => vec![1, 1, shape[0], shape[1]],
        3 => vec![shape[0], shape[1], 1, shape[2]],
        n => {
            let lead: usize = shape[2..n - 2].iter().product();
            vec![shape[0], shape[1] * lead, shape[n - 2], shape[n - 1]]
        }
    };
    let plain = ratios.as_standard_layout().into_owned();
    plain
        .into_shape_with_order(IxDyn(&folded))
        .expect("same element count")
}

/// An axis label without decimals.
fn whole(v: &f64) -> String {
    format!("{v:.0}")
}

fn max_of(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(
        0.0,
        |m, v| if v.is_nan() { f64::INFINITY } else { m.max(v) },
    )
}

/// The SVG picture of the per-element ratios |error| / bound of a check (`title` on top).
pub fn svg(ratios: &ArrayD<f64>, title: &str) -> Result<String, String> {
    let mut text = String::new();
    draw(ratios, title, &mut text).map_err(|e| format!("plot: {e}"))?;
    Ok(text)
}

fn draw(
    ratios: &ArrayD<f64>,
    title: &str,
    text: &mut String,
) -> Result<(), Box<dyn std::error::Error>> {
    let finite_top = ratios
        .iter()
        .filter(|r| r.is_finite() && **r > 0.0)
        .fold(f64::NEG_INFINITY, |m, r| m.max(r.log10()));
    let top = finite_top.max(0.0).ceil() + 1.0;
    let root = SVGBackend::with_string(text, (1260, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let (header, body) = root.split_vertically(40);
    let over = ratios.iter().filter(|r| r.is_nan() || **r > 1.0).count();
    header.titled(
        &format!(
            "{title}: {over} of {} elements over the bound",
            ratios.len()
        ),
        ("sans-serif", 20),
    )?;
    let panels = body.split_evenly((1, 3));

    // The histogram of log10(ratio), quarter decades.
    let bins = ((top - FLOOR) * 4.0).ceil() as usize;
    let mut counts = vec![0usize; bins + 1];
    for &r in ratios {
        let d = decade(r, top);
        counts[(((d - FLOOR) * 4.0).floor() as usize).min(bins)] += 1;
    }
    let highest = counts.iter().copied().max().unwrap_or(1).max(1);
    let mut chart = ChartBuilder::on(&panels[0])
        .caption("|error| / bound, all elements", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(
            FLOOR..top + 0.25,
            (0.5f64..highest as f64 * 2.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("log10(|error| / bound)")
        .y_desc("elements")
        .x_labels(8)
        .x_label_formatter(&whole)
        .y_label_formatter(&whole)
        .draw()?;
    chart.draw_series(
        counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| {
                let x0 = FLOOR + i as f64 / 4.0;
                Rectangle::new(
                    [(x0, 0.5), (x0 + 0.25, c as f64)],
                    colour(x0 + 0.125).filled(),
                )
            }),
    )?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(0.0, 0.5), (0.0, highest as f64 * 2.0)],
        RED.stroke_width(2),
    )))?;

    // The largest ratio per spatial position.
    let folded = planes(ratios);
    let (rows, cols) = (folded.shape()[2], folded.shape()[3]);
    let mut chart = ChartBuilder::on(&panels[1])
        .caption("largest ratio per position (over N, C)", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(0f64..cols as f64, rows as f64..0f64)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("column")
        .y_desc("row")
        .x_label_formatter(&whole)
        .y_label_formatter(&whole)
        .draw()?;
    chart.draw_series(
        (0..rows)
            .flat_map(|r| (0..cols).map(move |c| (r, c)))
            .map(|(r, c)| {
                let worst = max_of(
                    folded
                        .index_axis(Axis(3), c)
                        .index_axis(Axis(2), r)
                        .iter()
                        .copied(),
                );
                let (x, y) = (c as f64, r as f64);
                Rectangle::new(
                    [(x, y), (x + 1.0, y + 1.0)],
                    colour(decade(worst, top)).filled(),
                )
            }),
    )?;

    // The largest ratio per channel.
    let channels = folded.shape()[1];
    let per_channel: Vec<f64> = (0..channels)
        .map(|c| decade(max_of(folded.index_axis(Axis(1), c).iter().copied()), top))
        .collect();
    let mut chart = ChartBuilder::on(&panels[2])
        .caption("largest ratio per channel", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(0f64..channels as f64, FLOOR..top + 0.25)?;
    chart
        .configure_mesh()
        .x_desc("channel")
        .y_desc("log10 of the largest ratio")
        .x_label_formatter(&whole)
        .y_label_formatter(&whole)
        .draw()?;
    chart.draw_series(per_channel.iter().enumerate().map(|(c, &d)| {
        Rectangle::new([(c as f64, FLOOR), (c as f64 + 0.9, d)], colour(d).filled())
    }))?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(0.0, 0.0), (channels as f64, 0.0)],
        RED.stroke_width(2),
    )))?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer whose border is over the bound: the title counts the border, the picture is an
    /// SVG document, and the border positions are drawn red while the interior is not.
    #[test]
    fn a_lit_border_is_drawn_red() {
        let ratios = ArrayD::from_shape_fn(IxDyn(&[1, 2, 4, 5]), |i| {
            let border = i[2] == 0 || i[2] == 3 || i[3] == 0 || i[3] == 4;
            if border {
                30.0
            } else {
                0.01
            }
        });
        let picture = svg(&ratios, "test").unwrap();
        assert!(picture.starts_with("<svg") && picture.trim_end().ends_with("</svg>"));
        assert!(
            picture.contains("test: 28 of 40 elements over the bound"),
            "{picture}"
        );
        let red = picture.matches("#C81E1E").count();
        assert!(red >= 14, "{red} red shapes (14 border positions)");
        let calm = svg(&ratios.mapv(|r| r / 1000.0), "calm").unwrap();
        assert!(calm.contains("calm: 0 of 40 elements over the bound"));
    }
}
