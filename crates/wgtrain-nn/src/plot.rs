//! Curves of a run: loss and accuracy per epoch, training and validation, one panel each, as
//! the post's figures draw them (training as dots, validation as a line), to PNG or SVG.

use crate::history::History;
use anyhow::{anyhow, bail, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

const PANEL: (u32, u32) = (640, 480);

/// What one panel shows: a title and the History entries of training and validation.
struct Panel {
    title: String,
    train: String,
    validation: String,
}

/// The panels for a History: loss, then the first accuracy there is (a multi-output model's
/// `NAME_accuracy` included).
fn panels(h: &History) -> Vec<Panel> {
    let mut panels = vec![Panel {
        title: "Training and validation loss".into(),
        train: "loss".into(),
        validation: "val_loss".into(),
    }];
    if let Some(acc) = h
        .history
        .keys()
        .find(|k| !k.starts_with("val_") && k.ends_with("accuracy"))
    {
        panels.push(Panel {
            title: format!("Training and validation {}", acc.replace('_', " ")),
            train: acc.clone(),
            validation: format!("val_{acc}"),
        });
    }
    panels
}

fn register_font() {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        // The font ships inside the binary, so plots need nothing from the system.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

/// Draws the History's loss and accuracy per epoch to `path`: `.png` or `.svg`, by extension.
/// Written atomically.
pub fn plot_history(history: &History, path: &Path) -> Result<()> {
    if history.history.get("loss").is_none_or(|l| l.is_empty()) {
        bail!("the history has no 'loss' entries to plot (did the run finish an epoch?)");
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let panels = panels(history);
    let size = (PANEL.0 * panels.len() as u32, PANEL.1);
    register_font();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("plot");
    match ext.as_deref() {
        Some("svg") => {
            let mut text = String::new();
            {
                let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
                draw(&root, history, &panels)?;
                root.present().map_err(|e| anyhow!("{e}"))?;
            }
            crate::output_path::write_atomically(path, text.as_bytes(), "the plot")
        }
        Some("png") => {
            let tmp = dir.join(format!(".{name}.partial.png"));
            {
                let root = BitMapBackend::new(&tmp, size).into_drawing_area();
                draw(&root, history, &panels)?;
                root.present()
                    .map_err(|e| anyhow!("{e}"))
                    .with_context(|| format!("cannot write the plot to {}", tmp.display()))?;
            }
            std::fs::rename(&tmp, path)
                .with_context(|| format!("cannot move the plot into place at {}", path.display()))
        }
        _ => bail!(
            "cannot tell the plot's format from {}: name it .png or .svg",
            path.display()
        ),
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    h: &History,
    panels: &[Panel],
) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing the plot failed: {e}");
    root.fill(&WHITE).map_err(err)?;
    for (area, panel) in root.split_evenly((1, panels.len())).iter().zip(panels) {
        let series = |key: &str| -> Vec<(f32, f32)> {
            h.history.get(key).map_or(Vec::new(), |v| {
                v.iter()
                    .enumerate()
                    .filter(|(_, y)| y.is_finite())
                    .map(|(i, y)| ((i + 1) as f32, *y))
                    .collect()
            })
        };
        let (train, validation) = (series(&panel.train), series(&panel.validation));
        let all = train.iter().chain(&validation);
        let (lo, hi) = all.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 1.0) };
        let pad = ((hi - lo) * 0.08).max(1e-3);
        if !(lo - pad).is_finite() || !(hi + pad).is_finite() {
            bail!(
                "'{}' holds values too large to plot ({lo:e} to {hi:e})",
                panel.train
            );
        }
        let epochs = train.len().max(validation.len()).max(2) as f32;
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(0.8f32..epochs + 0.2, (lo - pad)..(hi + pad))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("Epochs")
            .y_desc(&panel.train)
            .x_labels(epochs as usize + 1)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()
            .map_err(err)?;
        let blue = RGBColor(31, 119, 180);
        if !train.is_empty() {
            chart
                .draw_series(train.iter().map(|p| Circle::new(*p, 4, blue.filled())))
                .map_err(err)?
                .label(format!("Training {}", panel.train.replace('_', " ")))
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, blue.filled()));
        }
        if !validation.is_empty() {
            chart
                .draw_series(LineSeries::new(validation.clone(), blue.stroke_width(2)))
                .map_err(err)?
                .label(format!("Validation {}", panel.train.replace('_', " ")))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history() -> History {
        let mut h = History::default();
        for (k, v) in [
            ("loss", [0.69, 0.45, 0.31]),
            ("val_loss", [0.55, 0.43, 0.38]),
            ("income_accuracy", [0.5, 0.6, 0.7]),
            ("val_income_accuracy", [0.45, 0.5, 0.52]),
        ] {
            for x in v {
                h.push(k, x);
            }
        }
        h
    }

    #[test]
    fn an_svg_draws_both_panels_with_every_epoch() {
        let path = std::env::temp_dir().join(format!("wgtrain-plot-{}.svg", std::process::id()));
        history().plot(&path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(svg.contains("Training and validation loss"));
        assert!(svg.contains("Training and validation income accuracy"));
        // Three training epochs as dots per panel, and one dot in each legend.
        assert_eq!(svg.matches("<circle").count(), 2 * (3 + 1));
        // A validation line of three points per panel, drawn in the series' colour.
        let lines: Vec<&str> = svg
            .split("<polyline")
            .filter(|p| p.contains("#1F77B4") && p.contains("stroke-width=\"2\""))
            .collect();
        assert_eq!(lines.len(), 2, "a validation line per panel");
        for line in lines {
            let points = line
                .split("points=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            assert_eq!(points.split_whitespace().count(), 3, "{points}");
        }
    }

    #[test]
    fn a_history_without_losses_or_with_an_unknown_format_is_refused() {
        let path = Path::new("curves.bmp");
        let e = history().plot(path).unwrap_err().to_string();
        assert!(e.contains("name it .png or .svg"), "{e}");
        let e = History::default()
            .plot(Path::new("x.svg"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no 'loss'"), "{e}");
    }

    #[test]
    fn histories_read_back_in_both_formats() {
        let h = history();
        let back = History::from_json(&h.to_json()).unwrap();
        assert_eq!(back.history, h.history);
        let keras = History::from_json(r#"{"loss": [1.0, 0.5], "val_loss": [1.2, 0.9]}"#).unwrap();
        assert_eq!(keras.history["val_loss"], vec![1.2, 0.9]);
        assert!(History::from_json("[1, 2]").is_err());
    }
}
