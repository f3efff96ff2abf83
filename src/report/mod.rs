//! `fer-rt report`: a run's results as one HTML page a person can read before opening
//! pandas, and as figures for a paper. It reads what `process`, `live` and `batch` wrote
//! (`sink::read`, any of the three formats, or a batch folder through its ledger) and
//! counts with `batch::summary`, so every share, mean and flip count on the page is the
//! number `summary --json` prints; the series beside them are binned for drawing only
//! ([`series`]). The page is self-contained ([`html`]: inline CSS, JS and data, canvas
//! charts, no network); the figures are drawn with plotters ([`figures`]); thumbnails come
//! from the source video when it is given ([`thumbs`]).
pub mod figures;
pub mod html;
pub mod series;
pub mod thumbs;

use crate::batch::ledger::{self, Status};
use crate::batch::summary::{self, Counted, Failed, Video as Summary};
use crate::config::ReportConfig;
use crate::error::{Error, Result};
use crate::sink::read::{self, Format, Results};
use serde::Serialize;
use series::{Clock, FaceCounts, TrackSeries};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One run's results to report on, as found on disk.
pub struct Input {
    pub key: String,
    /// What the run read (the ledger's input, the table's source, else the results file).
    pub input: String,
    /// The results file, as the summary names it (relative to a batch folder).
    pub read_from: String,
    pub results: Results,
    /// The frame count the batch ledger recorded.
    pub frames: Option<u64>,
    /// The video to take thumbnails from.
    pub video: Option<PathBuf>,
}

/// The files and folders a report is asked for, read: one [`Input`] per results file and
/// per finished input of a batch folder, and the batch inputs that failed. `videos` pairs
/// with the results files in order; `ledger_videos` takes a batch input's own file.
pub fn collect(paths: &[PathBuf], videos: &[PathBuf], ledger_videos: bool) -> Result<(Vec<Input>, Vec<Failed>)> {
    let files = paths.iter().filter(|p| !p.is_dir()).count();
    if videos.len() > files {
        return Err(Error::Config(format!(
            "--video given {} times for {files} results file(s); a batch folder's videos are its inputs (--thumbnails)",
            videos.len()
        )));
    }
    let mut videos = videos.iter();
    let (mut inputs, mut failed) = (Vec::new(), Vec::new());
    for p in paths {
        if !p.is_dir() {
            let results = read::read(p)?;
            let key = p.display().to_string();
            let video = videos.next().cloned();
            // JSON lines do not name their input; the video given for them does
            let input = results.source.clone().or_else(|| video.as_ref().map(|v| v.display().to_string()));
            let input = input.unwrap_or_else(|| key.clone());
            inputs.push(Input { read_from: key.clone(), key, input, results, frames: None, video });
            continue;
        }
        let records = ledger::read_all(p)?;
        if records.is_empty() {
            return Err(Error::NotResults {
                path: p.clone(),
                why: "a folder, but no batch ledger (_manifest*.jsonl) in it, so no results to report".into(),
            });
        }
        for r in records.values() {
            if r.status != Status::Ok {
                failed.push(Failed { key: r.key.clone(), input: r.input.clone(), error: r.error.clone() });
                continue;
            }
            let read_from = summary::output_of(p, r)?;
            let results = read::read(&p.join(&read_from))?;
            let video = Some(PathBuf::from(&r.input)).filter(|v| ledger_videos && v.is_file());
            inputs.push(Input {
                key: r.key.clone(),
                input: r.input.clone(),
                read_from,
                results,
                frames: Some(r.frames),
                video,
            });
        }
    }
    Ok((inputs, failed))
}

/// Everything the page and the figures show.
#[derive(Debug, Serialize)]
pub struct Report {
    pub generator: String,
    /// The low-quality threshold the flags use.
    pub low_quality: f32,
    pub videos: Vec<VideoReport>,
    pub failed: Vec<Failed>,
}

#[derive(Debug, Serialize)]
pub struct VideoReport {
    /// Anchor of its section (`v0`, `v1`, ...).
    pub id: String,
    pub key: String,
    pub input: String,
    pub read_from: String,
    pub format: Format,
    pub schema_version: Option<u32>,
    pub classifier: Option<String>,
    pub filter: Option<String>,
    pub classes: Vec<String>,
    /// Label names (the classes, then any other label a file used) and their colours.
    pub labels: Vec<String>,
    pub colours: Vec<String>,
    pub streams: Vec<String>,
    pub frames: u64,
    /// Frames a live source dropped (JSON lines say; the tables do not).
    pub dropped_frames: Option<u64>,
    /// False for CSV and Parquet, which list frames with faces only.
    pub all_frames_listed: bool,
    pub fps: Option<f64>,
    pub duration_s: Option<f64>,
    /// What the time axis counts: seconds, or frames when the results have no timestamps.
    pub time_unit: &'static str,
    /// Share of the rated faces below the low-quality threshold.
    pub low_quality_share: Option<f64>,
    /// `summary`'s numbers, counting filtered labels and V/A, and raw ones.
    pub filtered: Summary,
    pub raw: Summary,
    /// Faces per frame over time, per stream.
    pub face_counts: Vec<StreamCounts>,
    /// In the order of `filtered.tracks`.
    pub tracks: Vec<TrackReport>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct StreamCounts {
    pub stream: Option<String>,
    #[serde(flatten)]
    pub counts: FaceCounts,
}

#[derive(Debug, Serialize)]
pub struct TrackReport {
    pub id: String,
    pub name: String,
    pub colour: String,
    /// Seconds the face was seen (faces ÷ frame rate), against `seconds` first to last.
    pub on_screen_s: Option<f64>,
    /// The face of the highest quality: its frame and box, where the thumbnail is cut.
    pub best: Best,
    /// A JPEG data URL, when the video was given.
    pub thumb: Option<String>,
    pub series: TrackSeries,
}

#[derive(Clone, Debug, Serialize)]
pub struct Best {
    pub frame: u64,
    pub stream: Option<String>,
    pub bbox: [f32; 4],
    pub quality: Option<f32>,
}

pub fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// Frames per second from the timestamps: the median time per frame between listed frames
/// of a stream. None without timestamps.
fn estimate_fps(r: &Results) -> Option<f64> {
    // each stream's frames follow each other; streams interleave in a file
    let mut last: BTreeMap<Option<u16>, (u64, f64)> = BTreeMap::new();
    let mut steps = Vec::new();
    for f in &r.frames {
        let Some(pts) = f.pts_ms else { continue };
        if let Some((frame, at)) = last.insert(f.stream, (f.frame, pts)) {
            if f.frame > frame && pts > at {
                steps.push((pts - at) / (f.frame - frame) as f64);
            }
        }
    }
    if steps.is_empty() {
        return None;
    }
    steps.sort_by(f64::total_cmp);
    // to a millionth of a frame per second: JSON's decimal timestamps read back within an
    // ulp of the binary ones, and the report must not depend on the format read
    Some((1e9 / steps[steps.len() / 2]).round() / 1e6)
}

/// The report of one input.
pub fn video(n: usize, input: &Input, cfg: &ReportConfig) -> VideoReport {
    let r = &input.results;
    let (key, name, from) = (&input.key, &input.input, &input.read_from);
    let filtered = summary::summarise_results(key, name, from, r, input.frames, Counted::Filtered);
    let raw = summary::summarise_results(key, name, from, r, input.frames, Counted::Raw);
    let fps = estimate_fps(r);
    let (lo, hi) =
        r.frames.iter().filter_map(|f| f.pts_ms).fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p), b.max(p)));
    let clock = Clock { fps, by_frame: fps.is_none() || hi <= lo };
    let frames = filtered.tally.frames;
    // per stream: its frame count through its last listed frame
    let mut per_stream: BTreeMap<Option<u16>, u64> = BTreeMap::new();
    for f in &r.frames {
        let e = per_stream.entry(f.stream).or_default();
        *e = (*e).max(f.frame + 1);
    }
    let longest = input.frames.or(per_stream.values().max().copied()).unwrap_or(frames);
    let duration_s = fps.map(|f| longest as f64 / f);
    let face_counts = per_stream
        .keys()
        .map(|&s| {
            let listed: BTreeMap<u64, (Option<f64>, u32)> =
                r.frames.iter().filter(|f| f.stream == s).map(|f| (f.frame, (f.pts_ms, f.faces))).collect();
            let last = listed.keys().next_back().copied().unwrap_or(0);
            // CSV and Parquet leave out the frames without faces: they count as none
            let all: Vec<(u64, f64, u32)> = if r.all_frames {
                listed.iter().map(|(&f, &(p, n))| (f, clock.seconds(f, p), n)).collect()
            } else {
                (0..=last)
                    .map(|f| {
                        let (p, n) = listed.get(&f).copied().unwrap_or((None, 0));
                        (f, clock.seconds(f, p), n)
                    })
                    .collect()
            };
            StreamCounts {
                stream: s.map(|i| r.streams[i as usize].clone()),
                counts: series::face_counts(&all, cfg.max_points),
            }
        })
        .collect();
    let tracks = filtered
        .tracks
        .iter()
        .enumerate()
        .map(|(j, t)| {
            // the summary grouped the track's faces (its rows are the results' faces)
            let faces = t.rows();
            let best = faces
                .iter()
                .map(|&i| &r.faces[i])
                .max_by(|a, b| {
                    let q = |f: &read::FaceRow| (f.quality.unwrap_or(-1.0), f.face_px.unwrap_or(0.0));
                    q(a).partial_cmp(&q(b)).unwrap_or(std::cmp::Ordering::Equal)
                })
                .map(|f| Best { frame: f.frame, stream: t.stream.clone(), bbox: f.bbox, quality: f.quality })
                .unwrap_or(Best { frame: t.first_frame, stream: None, bbox: [0.0; 4], quality: None });
            // a folder of photos: the photo the track's face is in
            let file = faces
                .first()
                .and_then(|&i| r.faces[i].file)
                .filter(|f| faces.iter().all(|&i| r.faces[i].file == Some(*f)));
            let photo = file
                .map(|f| r.files[f as usize].as_str())
                .map(|f| {
                    format!(" · {}", std::path::Path::new(f).file_name().map_or(f.into(), |n| n.to_string_lossy()))
                })
                .unwrap_or_default();
            TrackReport {
                id: format!("v{n}t{j}"),
                name: match &t.stream {
                    Some(s) => format!("{s} / track {}{photo}", t.track_id),
                    None => format!("track {}{photo}", t.track_id),
                },
                colour: hex(crate::plot::track_colour(j)),
                on_screen_s: fps.map(|f| t.tally.faces as f64 / f),
                best,
                thumb: None,
                series: series::track_series(r, faces, clock, cfg.max_points, cfg.low_quality),
            }
        })
        .collect();
    let rated: Vec<f32> = r.faces.iter().filter_map(|f| f.quality).collect();
    let low = rated.iter().filter(|&&q| q < cfg.low_quality).count();
    VideoReport {
        id: format!("v{n}"),
        key: input.key.clone(),
        input: input.input.clone(),
        read_from: input.read_from.clone(),
        format: r.format,
        schema_version: r.schema_version,
        classifier: r.classifier.clone(),
        filter: r.filter.clone(),
        classes: r.classes.clone(),
        labels: r.labels.clone(),
        colours: r.labels.iter().enumerate().map(|(i, l)| hex(crate::plot::class_colour(l, i))).collect(),
        streams: r.streams.clone(),
        frames,
        dropped_frames: (r.format == Format::Jsonl).then(|| r.frames.iter().map(|f| f.dropped).sum()),
        all_frames_listed: r.all_frames,
        fps,
        duration_s,
        time_unit: if clock.by_frame { "frame" } else { "s" },
        low_quality_share: (!rated.is_empty()).then(|| low as f64 / rated.len() as f64),
        filtered,
        raw,
        face_counts,
        tracks,
        warnings: r.warnings.clone(),
    }
}

/// The report of every input; thumbnails cut from the inputs' videos where given.
pub fn build(inputs: &[Input], failed: Vec<Failed>, cfg: &ReportConfig) -> Result<Report> {
    let mut videos = Vec::with_capacity(inputs.len());
    for (n, input) in inputs.iter().enumerate() {
        let mut v = video(n, input, cfg);
        if let Some(clip) = &input.video {
            // one video is one stream: a run of several has no single clip to cut from
            let single: Vec<usize> = (0..v.tracks.len()).filter(|&j| v.tracks[j].best.stream.is_none()).collect();
            let wants: Vec<(u64, [f32; 4])> =
                single.iter().map(|&j| (v.tracks[j].best.frame, v.tracks[j].best.bbox)).collect();
            if single.len() < v.tracks.len() {
                tracing::warn!("--video {}: the results hold several streams; no thumbnails for them", clip.display());
            }
            for (j, thumb) in single.into_iter().zip(thumbs::grab(clip, &wants, cfg)?) {
                v.tracks[j].thumb = thumb;
            }
        }
        videos.push(v);
    }
    Ok(Report {
        generator: format!("fer-rt {}", env!("CARGO_PKG_VERSION")),
        low_quality: cfg.low_quality,
        videos,
        failed,
    })
}

/// What a report is asked for: the one run path the CLI (`fer-rt report`) and the Python
/// package (`fer_rt.report`) share.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Results files and batch folders.
    pub inputs: Vec<PathBuf>,
    /// The HTML page to write.
    pub out: PathBuf,
    /// The video of each results file, in order (thumbnails).
    pub videos: Vec<PathBuf>,
    /// For batch folders: thumbnails from each input's own video.
    pub thumbnails: bool,
    /// Folders for the figures as PNG (300 dpi) and as SVG.
    pub png: Option<PathBuf>,
    pub svg: Option<PathBuf>,
}

/// What a report wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Written {
    pub page: PathBuf,
    pub bytes: usize,
    pub videos: usize,
    pub tracks: usize,
    pub figures: Vec<PathBuf>,
    /// What the readers skipped (cut-off lines), one line each.
    pub warnings: Vec<String>,
}

/// Reads the inputs, builds the report and writes the page (and the figures): nothing is
/// written over an input, and each file goes through `.part`.
pub fn write(req: &Request, cfg: &crate::config::Config) -> Result<Written> {
    use crate::runtime::files::{write_file, Inputs};
    let mut inputs = Inputs::new();
    for p in req.inputs.iter().chain(&req.videos) {
        inputs.add(p);
    }
    inputs.check_file("--out", &req.out)?;
    for (flag, dir) in [("--png", &req.png), ("--svg", &req.svg)] {
        if let Some(d) = dir {
            inputs.check_folder(flag, d)?;
        }
    }
    let (read, failed) = collect(&req.inputs, &req.videos, req.thumbnails)?;
    let warnings: Vec<String> = read.iter().flat_map(|i| i.results.warnings.iter().cloned()).collect();
    for w in &warnings {
        tracing::warn!("{w}");
    }
    tracing::info!("report on {}", describe(&read));
    let report = build(&read, failed, &cfg.report)?;
    let page = html::page(&report)?;
    write_file(&req.out, page.as_bytes())?;
    // the class centroids of the circumplex figures, from the config's affect table
    let centroids: Vec<(String, [f32; 2])> = report
        .videos
        .first()
        .map(|v| v.classes.iter().filter_map(|c| cfg.affect.centroids.get(c).map(|p| (c.clone(), *p))).collect())
        .unwrap_or_default();
    let mut figures = Vec::new();
    for (dir, format) in [(&req.png, crate::plot::Format::Png), (&req.svg, crate::plot::Format::Svg)] {
        if let Some(d) = dir {
            figures.extend(figures::write_all(&report, d, format, &centroids)?);
        }
    }
    Ok(Written {
        page: req.out.clone(),
        bytes: page.len(),
        videos: report.videos.len(),
        tracks: report.videos.iter().map(|v| v.tracks.len()).sum(),
        figures,
        warnings,
    })
}

/// What was read, in a few words (for the log).
pub fn describe(inputs: &[Input]) -> String {
    let faces: usize = inputs.iter().map(|i| i.results.faces.len()).sum();
    format!("{} input(s), {faces} faces", inputs.len())
}
