//! The report's charts as files for a paper (`report --png DIR` / `--svg DIR`): per video,
//! faces per frame and the label shares of every track; per track, the expression
//! timeline, valence and arousal with their bands, the circumplex trajectory and the
//! quality signals. Drawn with plotters (`crate::plot`) from the same binned series the
//! page draws, at print resolution with the page's colours.
use super::series::{TrackSeries, V};
use super::{Report, TrackReport, VideoReport};
use crate::error::Result;
use crate::plot::{self, legend, rgb, text, tick, DrawResult, Figure, Format};
use plotters::chart::MeshStyle;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::ops::Range;
use std::path::{Path, PathBuf};

const GREY: RGBColor = RGBColor(120, 120, 120);
const LIGHT: RGBColor = RGBColor(225, 225, 225);

fn colour(hex: &str) -> RGBColor {
    let v = |i: usize| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("80"), 16).unwrap_or(128);
    RGBColor(v(1), v(3), v(5))
}

fn tick_label(v: &f64) -> String {
    tick(*v)
}

/// The house style of a chart with numbers on both axes: labels at `px` (axis names one
/// larger), faint minor lines, ticks written as people write them.
fn numeric<'m, 'a, 'b, DB: DrawingBackend>(
    mesh: &'m mut MeshStyle<'a, 'b, RangedCoordf64, RangedCoordf64, DB>,
    px: f64,
    s: f64,
) -> &'m mut MeshStyle<'a, 'b, RangedCoordf64, RangedCoordf64, DB> {
    mesh.label_style(text(px, s))
        .axis_desc_style(text(px + 1.0, s))
        .light_line_style(LIGHT)
        .max_light_lines(1)
        .x_label_formatter(&tick_label)
        .y_label_formatter(&tick_label)
}

fn f(v: &V) -> Option<f64> {
    v.0.map(f64::from)
}

/// The time range a track's (or a video's) bins cover, never empty.
fn span(t: &[V]) -> Range<f64> {
    let ts: Vec<f64> = t.iter().filter_map(f).collect();
    let lo = ts.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = ts.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    if hi - lo < 1e-6 {
        lo - 0.5..hi + 0.5
    } else {
        lo..hi
    }
}

/// A track's time axis: the x range its charts span, and each bin's time.
fn time_axis(se: &TrackSeries) -> (Range<f64>, Vec<Option<f64>>) {
    (span(&se.bins.t), se.bins.t.iter().map(f).collect())
}

fn x_desc(v: &VideoReport) -> &'static str {
    if v.time_unit == "s" {
        "time (s)"
    } else {
        "frame"
    }
}

/// Filtered class probabilities stacked over time, the raw and filtered top labels as
/// strips beneath: flicker shows as a busy raw strip over a calm filtered one.
pub struct Timeline<'a> {
    pub video: &'a VideoReport,
    pub track: &'a TrackReport,
}

impl Figure for Timeline<'_> {
    fn size(&self) -> (u32, u32) {
        (900, 380)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, s: f64) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let (v, t) = (self.video, self.track);
        let (x, ts) = time_axis(&t.series);
        let se = &t.series;
        let (top, bottom) = root.split_vertically((290.0 * s) as i32);
        let mut chart = ChartBuilder::on(&top)
            .caption(format!("{} — expression over time (filtered)", t.name), text(15.0, s))
            .margin((8.0 * s) as i32)
            .margin_right((110.0 * s) as i32)
            .y_label_area_size((44.0 * s) as i32)
            .x_label_area_size((6.0 * s) as i32)
            .build_cartesian_2d(x.clone(), 0f64..1f64)?;
        let mut mesh = chart.configure_mesh();
        numeric(&mut mesh, 11.0, s).disable_x_mesh().x_labels(0).y_desc("probability");
        mesh.draw()?;
        let mut below = vec![0.0; ts.len()];
        for (c, probs) in se.p.iter().enumerate() {
            let above: Vec<f64> = below.iter().zip(probs).map(|(b, p)| b + f(p).unwrap_or(0.0)).collect();
            let mut poly: Vec<(f64, f64)> = ts.iter().zip(&above).filter_map(|(t, a)| Some(((*t)?, *a))).collect();
            poly.extend(ts.iter().zip(&below).rev().filter_map(|(t, b)| Some(((*t)?, *b))));
            chart.draw_series([Polygon::new(poly, colour(&v.colours[c]).filled())])?;
            below = above;
        }
        let items: Vec<(String, RGBColor)> =
            v.classes.iter().enumerate().map(|(c, n)| (n.clone(), colour(&v.colours[c]))).collect();
        let w = root.dim_in_pixel().0 as i32;
        legend(&top, (w - (100.0 * s) as i32, (36.0 * s) as i32), &items, s)?;
        // the strips: raw top label on the first row, filtered on the second
        let mut strip = ChartBuilder::on(&bottom)
            .margin((8.0 * s) as i32)
            .margin_top(0)
            .margin_right((110.0 * s) as i32)
            .y_label_area_size((44.0 * s) as i32)
            .x_label_area_size((36.0 * s) as i32)
            .build_cartesian_2d(x.clone(), 0f64..2f64)?;
        strip
            .configure_mesh()
            .disable_mesh()
            .y_labels(0)
            .x_desc(x_desc(v))
            .label_style(text(11.0, s))
            .axis_desc_style(text(12.0, s))
            .draw()?;
        for (row, name) in [(1.5, "raw"), (0.5, "filtered")] {
            let (px, py) = strip.backend_coord(&(x.start, row));
            let style = text(11.0, s).pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Right,
                plotters::style::text_anchor::VPos::Center,
            ));
            root.draw(&Text::new(name, (px - (6.0 * s) as i32, py), style))?;
        }
        let w = (x.end - x.start) / (ts.len().max(1) as f64) * 0.5;
        for (row, labels) in [(1.0, &se.raw_top), (0.0, &se.filt_top)] {
            strip.draw_series(ts.iter().zip(labels.iter()).filter_map(|(t, l)| {
                let (t, l) = ((*t)?, (*l)?);
                let col = colour(&v.colours[l as usize]);
                Some(Rectangle::new([(t - w, row + 0.1), (t + w, row + 0.9)], col.filled()))
            }))?;
        }
        Ok(())
    }
}

/// Valence and arousal over time: the filtered estimate with its ±1 σ band, the raw
/// per-frame value as a thin line.
pub struct Affect<'a> {
    pub video: &'a VideoReport,
    pub track: &'a TrackReport,
}

impl Figure for Affect<'_> {
    fn size(&self) -> (u32, u32) {
        (900, 460)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, s: f64) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let se: &TrackSeries = &self.track.series;
        let (x, ts) = time_axis(se);
        let areas = root.split_evenly((2, 1));
        let col = colour(&self.track.colour);
        for (k, area) in areas.iter().enumerate() {
            let (name, mean, sd, raw) =
                if k == 0 { ("valence", &se.v, &se.v_sd, &se.rv) } else { ("arousal", &se.a, &se.a_sd, &se.ra) };
            let mut chart = ChartBuilder::on(area)
                .caption(
                    if k == 0 {
                        format!("{} — valence and arousal (filtered ± 1 σ, raw)", self.track.name)
                    } else {
                        String::new()
                    },
                    text(15.0, s),
                )
                .margin((8.0 * s) as i32)
                .y_label_area_size((44.0 * s) as i32)
                .x_label_area_size((if k == 1 { 36.0 } else { 10.0 } * s) as i32)
                .build_cartesian_2d(x.clone(), -1f64..1f64)?;
            let mut mesh = chart.configure_mesh();
            numeric(&mut mesh, 11.0, s).y_desc(name);
            if k == 1 {
                mesh.x_desc(x_desc(self.video));
            } else {
                mesh.x_labels(0);
            }
            mesh.draw()?;
            let pts = |g: &dyn Fn(f64, f64) -> f64| -> Vec<(f64, f64)> {
                ts.iter()
                    .zip(mean.iter().zip(sd))
                    .filter_map(|(t, (m, d))| Some((t.to_owned()?, g(f(m)?, f(d).unwrap_or(0.0)).clamp(-1.0, 1.0))))
                    .collect()
            };
            let mut band = pts(&|m, d| m + d);
            band.extend(pts(&|m, d| m - d).into_iter().rev());
            chart.draw_series([Polygon::new(band, col.mix(0.18).filled())])?;
            chart.draw_series(LineSeries::new(
                ts.iter().zip(raw).filter_map(|(t, r)| Some(((*t)?, f(r)?))),
                GREY.mix(0.6).stroke_width(s.max(1.0) as u32),
            ))?;
            chart.draw_series(LineSeries::new(pts(&|m, _| m), col.stroke_width((2.0 * s) as u32)))?;
            chart.draw_series(LineSeries::new([(x.start, 0.0), (x.end, 0.0)], GREY.stroke_width(1)))?;
        }
        Ok(())
    }
}

/// The valence/arousal trajectory in the circumplex plane, lighter early and darker late,
/// with the class centroids for orientation.
pub struct Circumplex<'a> {
    pub track: &'a TrackReport,
    pub centroids: Vec<(String, [f32; 2])>,
}

impl Figure for Circumplex<'_> {
    fn size(&self) -> (u32, u32) {
        (480, 480)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, s: f64) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let se = &self.track.series;
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{} — circumplex (filtered)", self.track.name), text(15.0, s))
            .margin((10.0 * s) as i32)
            .x_label_area_size((36.0 * s) as i32)
            .y_label_area_size((44.0 * s) as i32)
            .build_cartesian_2d(-1.05f64..1.05f64, -1.05f64..1.05f64)?;
        let mut mesh = chart.configure_mesh();
        numeric(&mut mesh, 11.0, s).x_desc("valence").y_desc("arousal");
        mesh.draw()?;
        let circle = (0..=120).map(|i| {
            let a = i as f64 / 120.0 * std::f64::consts::TAU;
            (a.cos(), a.sin())
        });
        chart.draw_series(LineSeries::new(circle, GREY.stroke_width(1)))?;
        chart.draw_series(LineSeries::new([(-1.0, 0.0), (1.0, 0.0)], GREY.stroke_width(1)))?;
        chart.draw_series(LineSeries::new([(0.0, -1.0), (0.0, 1.0)], GREY.stroke_width(1)))?;
        for (name, [cv, ca]) in &self.centroids {
            chart.draw_series([
                Circle::new((*cv as f64, *ca as f64), (3.0 * s) as i32, GREY.filled()),
                Circle::new((*cv as f64, *ca as f64), 0, WHITE),
            ])?;
            chart.draw_series([Text::new(
                name.clone(),
                (*cv as f64 + 0.03, *ca as f64 + 0.03),
                text(11.0, s).color(&GREY),
            )])?;
        }
        let p: Vec<(f64, f64)> = se.v.iter().zip(&se.a).filter_map(|(v, a)| Some((f(v)?, f(a)?))).collect();
        let col = colour(&self.track.colour);
        let n = p.len().max(2) as f64;
        chart.draw_series(p.windows(2).enumerate().map(|(i, w)| {
            let alpha = 0.25 + 0.75 * i as f64 / (n - 1.0);
            PathElement::new(vec![w[0], w[1]], col.mix(alpha).stroke_width((2.0 * s) as u32))
        }))?;
        if let (Some(first), Some(last)) = (p.first(), p.last()) {
            chart.draw_series([
                Circle::new(*first, (5.0 * s) as i32, col.stroke_width((2.0 * s) as u32)),
                Circle::new(*last, (5.0 * s) as i32, col.filled()),
            ])?;
        }
        Ok(())
    }
}

/// Quality and uncertainty over time: face size, sharpness, head pose, the quality and
/// confidence scores (and the ensemble's disagreement), low-quality stretches shaded.
pub struct Quality<'a> {
    pub video: &'a VideoReport,
    pub track: &'a TrackReport,
    pub low_quality: f32,
}

impl Figure for Quality<'_> {
    fn size(&self) -> (u32, u32) {
        (900, 620)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, s: f64) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let se = &self.track.series;
        let (x, ts) = time_axis(se);
        let (title, rest) = root.split_vertically((26.0 * s) as i32);
        title.draw(&Text::new(
            format!("{} — quality and uncertainty (shaded: quality < {})", self.track.name, self.low_quality),
            ((8.0 * s) as i32, (4.0 * s) as i32),
            text(15.0, s),
        ))?;
        let panels = rest.split_evenly((4, 1));
        let abs = |v: &[V]| -> Vec<V> { v.iter().map(|x| V(x.0.map(f32::abs))).collect() };
        let (yaw, pitch) = (abs(&se.yaw), abs(&se.pitch));
        let blue = RGBColor(31, 119, 180);
        let orange = RGBColor(230, 120, 0);
        let green = RGBColor(44, 160, 44);
        type Panel<'b> = (&'b str, Vec<(&'b str, &'b [V], RGBColor)>);
        let mut rows: Vec<Panel> = vec![
            ("face px", vec![("face size", &se.face_px[..], blue)]),
            ("blur", vec![("sharpness (Laplacian var.)", &se.blur[..], blue)]),
            ("|deg|", vec![("|yaw|", &yaw[..], blue), ("|pitch|", &pitch[..], orange)]),
            ("score", vec![("quality", &se.quality[..], blue), ("confidence", &se.confidence[..], orange)]),
        ];
        if !se.disagreement.is_empty() {
            rows[3].1.push(("disagreement", &se.disagreement[..], green));
        }
        for (k, (area, (name, lines))) in panels.iter().zip(&rows).enumerate() {
            let hi = lines.iter().flat_map(|(_, v, _)| v.iter().filter_map(f)).fold(0.0f64, f64::max).max(if k == 3 {
                1.0
            } else {
                1e-3
            }) * 1.05;
            let mut chart = ChartBuilder::on(area)
                .margin((6.0 * s) as i32)
                .margin_right((150.0 * s) as i32)
                .y_label_area_size((52.0 * s) as i32)
                .x_label_area_size((if k == 3 { 34.0 } else { 6.0 } * s) as i32)
                .build_cartesian_2d(x.clone(), 0f64..hi)?;
            let mut mesh = chart.configure_mesh();
            numeric(&mut mesh, 10.0, s).y_desc(*name).y_labels(4);
            if k == 3 {
                mesh.x_desc(x_desc(self.video));
            } else {
                mesh.x_labels(0);
            }
            mesh.draw()?;
            let w = (x.end - x.start) / (ts.len().max(1) as f64) * 0.5;
            chart.draw_series(ts.iter().zip(&se.low).filter_map(|(t, l)| {
                let (share, t) = (f(l)?, (*t)?);
                (share > 0.0)
                    .then(|| Rectangle::new([(t - w, 0.0), (t + w, hi)], RGBColor(255, 200, 200).mix(share).filled()))
            }))?;
            for (_, values, col) in lines {
                chart.draw_series(LineSeries::new(
                    ts.iter().zip(values.iter()).filter_map(|(t, v)| Some(((*t)?, f(v)?))),
                    col.stroke_width((1.5 * s).max(1.0) as u32),
                ))?;
            }
            let items: Vec<(String, RGBColor)> = lines.iter().map(|(n, _, c)| (n.to_string(), *c)).collect();
            let w = area.dim_in_pixel().0 as i32;
            legend(area, (w - (140.0 * s) as i32, (8.0 * s) as i32), &items, s)?;
        }
        Ok(())
    }
}

/// Faces per frame over time (the mean of each bin, and its most).
pub struct Faces<'a> {
    pub video: &'a VideoReport,
}

impl Figure for Faces<'_> {
    fn size(&self) -> (u32, u32) {
        (900, 260)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, s: f64) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let all: Vec<V> = self.video.face_counts.iter().flat_map(|c| c.counts.bins.t.iter().copied()).collect();
        let x = span(&all);
        let hi =
            self.video.face_counts.iter().flat_map(|c| c.counts.max.iter()).copied().max().unwrap_or(1).max(1) as f64;
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{} — faces per frame", self.video.key), text(15.0, s))
            .margin((8.0 * s) as i32)
            .y_label_area_size((44.0 * s) as i32)
            .x_label_area_size((36.0 * s) as i32)
            .build_cartesian_2d(x, 0f64..hi + 0.5)?;
        let mut mesh = chart.configure_mesh();
        numeric(&mut mesh, 11.0, s).x_desc(x_desc(self.video)).y_desc("faces");
        mesh.draw()?;
        for (k, c) in self.video.face_counts.iter().enumerate() {
            let col = rgb(plot::track_colour(k));
            let pts = |y: &dyn Fn(usize) -> Option<f64>| -> Vec<(f64, f64)> {
                c.counts.bins.t.iter().enumerate().filter_map(|(i, t)| Some((f(t)?, y(i)?))).collect()
            };
            chart
                .draw_series(LineSeries::new(pts(&|i| Some(c.counts.max[i] as f64)), col.mix(0.35).stroke_width(1)))?;
            chart
                .draw_series(LineSeries::new(pts(&|i| f(&c.counts.mean[i])), col.stroke_width((2.0 * s) as u32)))?
                .label(c.stream.clone().unwrap_or_else(|| "mean (light: most)".into()))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], col.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .label_font(text(11.0, s))
            .border_style(GREY)
            .background_style(WHITE.mix(0.8))
            .draw()?;
        Ok(())
    }
}

/// Every track's label shares, raw above filtered, as stacked bars.
pub struct Labels<'a> {
    pub video: &'a VideoReport,
}

impl Figure for Labels<'_> {
    fn size(&self) -> (u32, u32) {
        let rows = self.video.tracks.len().max(1) as u32;
        (900, (90 + 56 * rows).max(50 + 16 * self.video.labels.len() as u32))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, s: f64) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let v = self.video;
        let n = v.tracks.len().max(1);
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{} — label shares per track (raw, filtered)", v.key), text(15.0, s))
            .margin((8.0 * s) as i32)
            .margin_right((110.0 * s) as i32)
            .y_label_area_size((150.0 * s) as i32)
            .x_label_area_size((32.0 * s) as i32)
            .build_cartesian_2d(0f64..100f64, 0f64..(2 * n) as f64)?;
        let names: Vec<String> =
            v.tracks.iter().flat_map(|t| [format!("{} raw", t.name), format!("{} filtered", t.name)]).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(4 * n + 1)
            .y_label_formatter(&|y| {
                let i = (*y - 0.5).round();
                if (y - 0.5 - i).abs() < 0.05 && i >= 0.0 {
                    names.get(2 * n - 1 - i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_desc("% of the track's faces")
            .label_style(text(11.0, s))
            .axis_desc_style(text(12.0, s))
            .light_line_style(LIGHT)
            .max_light_lines(1)
            .x_label_formatter(&|x| tick(*x))
            .draw()?;
        for (j, (raw, filt)) in v.raw.tracks.iter().zip(&v.filtered.tracks).enumerate() {
            for (row, tally) in [(2 * (n - 1 - j) + 1, &raw.tally), (2 * (n - 1 - j), &filt.tally)] {
                let total = tally.labels.values().sum::<u64>().max(1) as f64;
                let mut at = 0.0;
                for (c, name) in v.labels.iter().enumerate() {
                    let share = 100.0 * *tally.labels.get(name).unwrap_or(&0) as f64 / total;
                    if share > 0.0 {
                        let col = colour(&v.colours[c]);
                        chart.draw_series([Rectangle::new(
                            [(at, row as f64 + 0.12), (at + share, row as f64 + 0.88)],
                            col.filled(),
                        )])?;
                    }
                    at += share;
                }
            }
        }
        let items: Vec<(String, RGBColor)> =
            v.labels.iter().enumerate().map(|(c, n)| (n.clone(), colour(&v.colours[c]))).collect();
        let w = root.dim_in_pixel().0 as i32;
        legend(root, (w - (100.0 * s) as i32, (30.0 * s) as i32), &items, s)?;
        Ok(())
    }
}

/// A name made of letters, digits, `-` and `_` from `key` (for file names).
fn slug(key: &str) -> String {
    let stem = Path::new(key).file_stem().and_then(|s| s.to_str()).unwrap_or(key);
    let s: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    if s.is_empty() {
        "video".into()
    } else {
        s
    }
}

/// Writes every figure of `report` into `dir` (created if missing); returns the files.
pub fn write_all(
    report: &Report,
    dir: &Path,
    format: Format,
    centroids: &[(String, [f32; 2])],
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|err| crate::Error::Io { path: dir.to_path_buf(), err })?;
    let mut written = Vec::new();
    let ext = format.ext();
    let mut used = std::collections::BTreeSet::new();
    for v in &report.videos {
        let mut base = slug(&v.key);
        if !used.insert(base.clone()) {
            base = format!("{base}_{}", v.id);
        }
        let mut save = |name: String, fig: &dyn Fn(&Path) -> Result<()>| -> Result<()> {
            let p = dir.join(format!("{name}.{ext}"));
            fig(&p)?;
            written.push(p);
            Ok(())
        };
        save(format!("{base}_faces"), &|p| plot::save(&Faces { video: v }, p, format))?;
        if !v.tracks.is_empty() {
            save(format!("{base}_labels"), &|p| plot::save(&Labels { video: v }, p, format))?;
        }
        for t in &v.tracks {
            let stem = format!("{base}_{}", slug(&t.name.replace(" / ", "_").replace(' ', "")));
            let classified = t.series.p.first().is_some_and(|p| p.iter().any(|x| x.0.is_some()));
            if classified {
                save(format!("{stem}_timeline"), &|p| plot::save(&Timeline { video: v, track: t }, p, format))?;
            }
            if t.series.v.iter().any(|x| x.0.is_some()) {
                save(format!("{stem}_affect"), &|p| plot::save(&Affect { video: v, track: t }, p, format))?;
                let c = Circumplex { track: t, centroids: centroids.to_vec() };
                save(format!("{stem}_circumplex"), &|p| plot::save(&c, p, format))?;
            }
            save(format!("{stem}_quality"), &|p| {
                plot::save(&Quality { video: v, track: t, low_quality: report.low_quality }, p, format)
            })?;
        }
    }
    Ok(written)
}
