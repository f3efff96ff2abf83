//! `fer-rt report` end to end: the page of a bundled clip's results in a real browser (no
//! JavaScript errors, a track's timeline drawn, hover, zoom and hiding working), its numbers
//! against `summary --json`, the same report from JSON lines, CSV and Parquet of one run,
//! an hour of five people generated here (size and render time), figures for a paper, a
//! batch folder's index, and bad inputs.
mod common;
use common::browser::{start_driver, Session};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn run(args: &[&str]) -> Output {
    common::bin().args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `process --format FORMAT CLIP > OUT`.
fn process_to(clip: &Path, format: &str, out: &Path) {
    let o = common::bin()
        .args(["process", "--format", format])
        .arg(clip)
        .stdout(std::fs::File::create(out).unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// The data block of a report page.
fn data_of(html: &Path) -> Value {
    let text = std::fs::read_to_string(html).unwrap();
    let open = r#"<script type="application/json" id="fer-rt-data">"#;
    let start = text.find(open).expect("the data block") + open.len();
    let end = start + text[start..].find("</script>").unwrap();
    serde_json::from_str(&text[start..end]).unwrap()
}

fn summary(path: &Path, raw: bool) -> Value {
    let mut args = vec!["summary", "--json", s(path)];
    if raw {
        args.push("--raw");
    }
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `v` without the fields that name the file read or that a format cannot know.
fn comparable(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    for k in [
        "key",
        "input",
        "read_from",
        "format",
        "schema_version",
        "classifier",
        "filter",
        "all_frames_listed",
        "dropped_frames",
        "warnings",
    ] {
        o.remove(k);
    }
    for side in ["filtered", "raw"] {
        let s = o[side].as_object_mut().unwrap();
        for k in ["key", "input", "read_from"] {
            s.remove(k);
        }
    }
    v
}

#[test]
fn numbers_equal_summary_and_every_format_gives_the_same_report() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = common::media("WolfgangLanger_Pexels.mp4");
    let mut reports = Vec::new();
    for format in ["jsonl", "csv", "parquet"] {
        let out = tmp.path().join(format!("run.{format}"));
        process_to(&clip, format, &out);
        let html = tmp.path().join(format!("{format}.html"));
        let o = run(&["report", s(&out), "--out", s(&html)]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(o.stdout.is_empty(), "stdout carries results only, and a report writes a file");
        let data = data_of(&html);
        let v = &data["videos"][0];
        // the page's numbers are summary's, filtered and raw
        for (side, raw) in [("filtered", false), ("raw", true)] {
            let want = &summary(&out, raw)["videos"][0];
            assert_eq!(
                &v[side],
                want,
                "{format}: the report's {side} numbers and summary --json{}",
                if raw { " --raw" } else { "" }
            );
        }
        let t = &v["filtered"]["tracks"][0];
        assert!(t["flips"].as_u64().is_some() && t["flips_per_minute"].as_f64().is_some(), "{t}");
        assert_eq!(v["classes"].as_array().unwrap().len(), 7, "the class order");
        assert_eq!(v["tracks"].as_array().unwrap().len(), v["filtered"]["tracks"].as_array().unwrap().len());
        reports.push((format, comparable(v.clone())));
    }
    let (first, base) = &reports[0];
    for (format, r) in &reports[1..] {
        assert!(r == base, "the report from {format} differs from the one from {first}");
    }
    // the self-describing formats say which model and filter
    let v = &data_of(&tmp.path().join("parquet.html"))["videos"][0];
    assert_eq!((v["classifier"].as_str().is_some(), v["filter"].as_str()), (true, Some("uncertainty")));
}

#[test]
fn the_page_in_a_real_browser_figures_and_a_batch_index() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = common::media("WolfgangLanger_Pexels.mp4");
    let results = tmp.path().join("run.jsonl");
    process_to(&clip, "jsonl", &results);
    let html = tmp.path().join("report.html");
    let (png, svg) = (tmp.path().join("png"), tmp.path().join("svg"));
    let o = run(&["report", s(&results), "--video", s(&clip), "--out", s(&html), "--png", s(&png), "--svg", s(&svg)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    for external in ["src=\"http", "href=\"http", "<link", "src=\"//", "fetch(", "XMLHttpRequest", "import("] {
        assert!(!page.contains(external), "self-contained: no {external}");
    }
    let data = data_of(&html);
    let track = &data["videos"][0]["tracks"][0];
    assert!(
        track["thumb"].as_str().is_some_and(|t| t.starts_with("data:image/jpeg;base64,")),
        "a thumbnail from --video"
    );

    // figures for a paper: print resolution, every kind, both formats
    let mut names: Vec<String> =
        std::fs::read_dir(&png).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    for kind in ["_faces.png", "_labels.png", "_timeline.png", "_affect.png", "_circumplex.png", "_quality.png"] {
        assert!(names.iter().any(|n| n.ends_with(kind)), "{kind} in {names:?}");
    }
    for n in &names {
        let (w, _) = png_size(&png.join(n));
        assert!(w >= 1400, "{n}: {w} px wide, not print resolution");
    }
    let svgs = std::fs::read_dir(&svg).unwrap().count();
    assert_eq!(svgs, names.len(), "one SVG per PNG");
    let timeline_svg = std::fs::read_dir(&svg)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_timeline.svg"))
        .unwrap();
    let text = std::fs::read_to_string(timeline_svg).unwrap();
    assert!(
        text.contains("<svg") && text.contains("happy") && text.contains("<polygon"),
        "a vector figure with its legend"
    );

    // the page in Chromium
    let driver = start_driver();
    let b = Session::new(&driver, &["--window-size=1400,1800".to_string()]);
    b.open(&format!("file://{}", html.display()));
    let state = wait_rendered(&b, Duration::from_secs(60));
    assert_eq!(state["errors"], serde_json::json!([]), "JavaScript errors: {state}");
    let severe = b.console_errors();
    assert!(severe.is_empty(), "console errors: {severe:?}");
    let (png_bytes, shot) = b.screenshot();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    std::fs::write(&out, &png_bytes).unwrap();
    assert!(shot.colours(5) > 300, "the screenshot is nearly blank ({} colours): {}", shot.colours(5), out.display());
    // the track's timeline: its canvas is covered in the classes' colours
    let r = b.exec(
        "const c = document.querySelector('.track canvas.chart'); const r = c.getBoundingClientRect();\
         return {x: r.left, y: r.top, w: r.width, h: r.height, dpr: window.devicePixelRatio};",
    );
    let g = |k: &str| r[k].as_f64().unwrap();
    let colours: Vec<[u8; 3]> =
        data["videos"][0]["colours"].as_array().unwrap().iter().map(|c| hex(c.as_str().unwrap())).collect();
    let (x0, y0) = ((g("x") * g("dpr")) as usize, (g("y") * g("dpr")) as usize);
    let (x1, y1) = (((g("x") + g("w")) * g("dpr")) as usize, ((g("y") + 120.0) * g("dpr")) as usize);
    assert!(y1 < shot.height && x1 <= shot.width, "the timeline is on screen: {r}");
    let (mut hits, mut all) = (0, 0);
    for y in (y0..y1).step_by(3) {
        for x in (x0 + 60..x1.min(shot.width)).step_by(3) {
            all += 1;
            hits += usize::from(
                colours.iter().any(|c| c.iter().zip(shot.px(x, y)).all(|(a, b)| (*a as i32 - b as i32).abs() < 12)),
            );
        }
    }
    assert!(
        hits * 2 > all,
        "the timeline's area is in the classes' colours ({hits} of {all} pixels): {}",
        out.display()
    );

    // hover: a tooltip with the frame and time; zoom: the range narrows; a track hides
    let hover = b.exec(
        "const c = document.querySelector('.track canvas.chart'); const r = c.getBoundingClientRect();\
         c.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + r.width / 2, clientY: r.top + 40, bubbles: true}));\
         const tip = document.getElementById('tip'); return {hidden: tip.hidden, text: tip.textContent};",
    );
    assert_eq!(hover["hidden"], false, "{hover}");
    let tip = hover["text"].as_str().unwrap();
    assert!(tip.contains("frame") && tip.contains("raw label") && tip.contains(':'), "{tip}");
    let zoom = b.exec(
        "const c = document.querySelector('.track canvas.chart'); const r = c.getBoundingClientRect();\
         const at = (type, f) => c.dispatchEvent(new MouseEvent(type, {clientX: r.left + r.width * f, clientY: r.top + 30, bubbles: true}));\
         at('mousedown', 0.3); at('mousemove', 0.5); at('mouseup', 0.5);\
         return document.querySelector('.range').textContent;",
    );
    assert!(zoom.as_str().unwrap().starts_with("showing"), "{zoom}");
    let hidden = b.exec(
        "const box = document.querySelector('input[data-track]'); box.click();\
         return document.getElementById(box.dataset.track).classList.contains('hidden');",
    );
    assert_eq!(hidden, true);
    let state = b.exec("return {errors: window.ferReport.errors};");
    assert_eq!(state["errors"], serde_json::json!([]), "errors after interacting: {state}");

    // a batch folder: one section per video and an index linking them
    let inputs = common::media_folder(
        &tmp.path().join("in"),
        [("single_face.mp4", "a.mp4".to_string()), ("WolfgangLanger_Pexels.mp4", "b.mp4".to_string())],
    );
    let folder = tmp.path().join("batch");
    let o = run(&["batch", s(&inputs), "--out", s(&folder), "--no-progress", "--format", "parquet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let index = tmp.path().join("index.html");
    let o = run(&["report", s(&folder), "--thumbnails", "--out", s(&index)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let d = data_of(&index);
    assert_eq!(d["videos"].as_array().unwrap().len(), 2);
    assert!(
        d["videos"].as_array().unwrap().iter().all(|v| v["tracks"][0]["thumb"].is_string()),
        "thumbnails from the ledger's inputs"
    );
    b.open(&format!("file://{}", index.display()));
    let state = wait_rendered(&b, Duration::from_secs(60));
    assert_eq!(state["errors"], serde_json::json!([]), "{state}");
    let rows = b.exec("return [...document.querySelectorAll('#index tr a')].map(a => a.getAttribute('href'));");
    assert_eq!(rows, serde_json::json!(["#v0", "#v1"]), "the index links each video's section");
}

/// Waits for the page's script to finish drawing; its state then.
fn wait_rendered(b: &Session, limit: Duration) -> Value {
    let t = Instant::now();
    loop {
        let st = b.exec(
            "return {rendered: document.body.dataset.rendered || null, ms: window.ferReport ? window.ferReport.renderMs : null,\
             errors: window.ferReport ? window.ferReport.errors : ['no ferReport: the script did not run']};",
        );
        if st["rendered"] == "1" {
            return st;
        }
        assert!(t.elapsed() < limit, "the page did not finish drawing in {limit:?}: {st}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn hex(s: &str) -> [u8; 3] {
    let v = |i: usize| u8::from_str_radix(&s[i..i + 2], 16).unwrap();
    [v(1), v(3), v(5)]
}

fn png_size(p: &Path) -> (u32, u32) {
    let d = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(p).unwrap()));
    let r = d.read_info().unwrap();
    (r.info().width, r.info().height)
}

/// An hour at 30 fps of five people, written as fer-rt's Parquet table: labels that
/// drift and flicker, smoothed filtered values, varying quality.
fn synthetic_hour(path: &Path) {
    use arrow_array::builder::{Float32Builder, Float64Builder, Int64Builder, StringBuilder};
    use arrow_array::{ArrayRef, RecordBatch};
    use fer_rt::sink::table::{columns, Kind};
    use parquet::arrow::ArrowWriter;
    use std::sync::Arc;
    let classes: Vec<String> =
        ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"].iter().map(|s| s.to_string()).collect();
    let centroid =
        [[-0.52, 0.58], [-0.55, 0.41], [-0.34, 0.64], [0.83, 0.53], [-0.65, -0.27], [0.16, 0.89], [0.0, 0.0]];
    let cols = columns(&classes);
    let schema = Arc::new(fer_rt::sink::parquet::schema(&classes));
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .set_key_value_metadata(Some(vec![
            parquet::file::metadata::KeyValue::new("fer_rt.classes".into(), serde_json::to_string(&classes).unwrap()),
            parquet::file::metadata::KeyValue::new("fer_rt.classifier".into(), "synthetic".to_string()),
            parquet::file::metadata::KeyValue::new("fer_rt.filter".into(), "uncertainty".to_string()),
        ]))
        .build();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema.clone(), Some(props)).unwrap();
    let (frames, people, k) = (108_000u64, 5usize, classes.len());
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f32 / (1u64 << 53) as f32
    };
    let mut logits = vec![vec![0f32; k]; people];
    let mut filt = vec![vec![1.0 / k as f32; k]; people];
    for start in (0..frames).step_by(6000) {
        let mut f32s: Vec<Float32Builder> = Vec::new();
        let mut ints: Vec<Int64Builder> = Vec::new();
        let mut times: Vec<Float64Builder> = Vec::new();
        let mut texts: Vec<StringBuilder> = Vec::new();
        let mut slot = Vec::new();
        for (_, kind) in &cols {
            slot.push(match kind {
                Kind::Float => {
                    f32s.push(Float32Builder::new());
                    (0, f32s.len() - 1)
                }
                Kind::Int => {
                    ints.push(Int64Builder::new());
                    (1, ints.len() - 1)
                }
                Kind::Time => {
                    times.push(Float64Builder::new());
                    (2, times.len() - 1)
                }
                Kind::Text => {
                    texts.push(StringBuilder::new());
                    (3, texts.len() - 1)
                }
            });
        }
        for frame in start..(start + 6000).min(frames) {
            for p in 0..people {
                // the logits drift; now and then one class jumps ahead (a real change)
                for l in logits[p].iter_mut() {
                    *l = 0.995 * *l + 0.25 * (rnd() - 0.5);
                }
                if rnd() < 0.0005 {
                    let c = (rnd() * k as f32) as usize % k;
                    logits[p][c] += 3.0;
                }
                let e: Vec<f32> = logits[p].iter().map(|l| (l * 2.0).exp()).collect();
                let z: f32 = e.iter().sum();
                let probs: Vec<f32> = e.iter().map(|x| x / z).collect();
                for (f, q) in filt[p].iter_mut().zip(&probs) {
                    *f = 0.9 * *f + 0.1 * q;
                }
                let top = |v: &[f32]| v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
                let va = |v: &[f32]| -> (f32, f32) {
                    v.iter().zip(&centroid).fold((0.0, 0.0), |(a, b), (p, c)| (a + p * c[0], b + p * c[1]))
                };
                let (rv, ra) = va(&probs);
                let (fv, fa) = va(&filt[p]);
                let quality = 0.55 + 0.4 * (frame as f32 / 900.0 + p as f32).sin() * rnd();
                let x = 100.0 + 220.0 * p as f32;
                let mut value = |name: &str| -> (Option<f64>, Option<String>) {
                    let n = |v: f32| (Some(v as f64), None);
                    match name {
                        "source" => (None, Some("synthetic-hour.mp4".into())),
                        "frame" => (Some(frame as f64), None),
                        "pts_ms" => (Some(frame as f64 * 1000.0 / 30.0), None),
                        "track_id" => (Some(p as f64 + 1.0), None),
                        "x1" => n(x),
                        "y1" => n(80.0),
                        "x2" => n(x + 120.0),
                        "y2" => n(230.0),
                        "score" | "det_score" => n(0.98),
                        "label" => (None, Some(classes[top(&probs)].clone())),
                        "label_prob" => n(probs[top(&probs)]),
                        "filtered_label" => (None, Some(classes[top(&filt[p])].clone())),
                        "filtered_confidence" => n(filt[p][top(&filt[p])]),
                        "valence" => n(rv),
                        "arousal" => n(ra),
                        "filtered_valence" => n(fv),
                        "filtered_arousal" => n(fa),
                        "valence_std" | "arousal_std" => n(0.3),
                        "filtered_valence_std" | "filtered_arousal_std" => n(0.2),
                        "va_source" => (None, Some("circumplex".into())),
                        "face_px" => n(120.0),
                        "blur" => n(800.0 + 400.0 * rnd()),
                        "yaw_deg" => n(30.0 * (rnd() - 0.5)),
                        "pitch_deg" => n(20.0 * (rnd() - 0.5)),
                        "roll_deg" => n(10.0 * (rnd() - 0.5)),
                        "entropy" => n(0.8),
                        "quality" => n(quality),
                        "confidence" => n(quality * 0.9),
                        "model_uncertainty" | "disagreement" | "stream" => (None, None),
                        n if n.starts_with("filtered_p_") => {
                            let c = classes.iter().position(|c| *c == n["filtered_p_".len()..]).unwrap();
                            (Some(filt[p][c] as f64), None)
                        }
                        n if n.starts_with("p_") => {
                            let c = classes.iter().position(|c| *c == n[2..]).unwrap();
                            (Some(probs[c] as f64), None)
                        }
                        n if n.starts_with("lm") => (Some(150.0), None),
                        other => panic!("the generator does not know column {other}"),
                    }
                };
                for ((name, _), (kind, i)) in cols.iter().zip(&slot) {
                    let (num, txt) = value(name);
                    match kind {
                        0 => f32s[*i].append_option(num.map(|v| v as f32)),
                        1 => ints[*i].append_option(num.map(|v| v as i64)),
                        2 => times[*i].append_option(num),
                        _ => texts[*i].append_option(txt),
                    }
                }
            }
        }
        let arrays: Vec<ArrayRef> = slot
            .iter()
            .map(|(kind, i)| -> ArrayRef {
                match kind {
                    0 => Arc::new(f32s[*i].finish()),
                    1 => Arc::new(ints[*i].finish()),
                    2 => Arc::new(times[*i].finish()),
                    _ => Arc::new(texts[*i].finish()),
                }
            })
            .collect();
        w.write(&RecordBatch::try_new(schema.clone(), arrays).unwrap()).unwrap();
    }
    w.close().unwrap();
}

#[test]
fn an_hour_of_five_people_stays_small_and_renders() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("hour.parquet");
    synthetic_hour(&results);
    let html = tmp.path().join("hour.html");
    let t = Instant::now();
    let o = run(&["report", s(&results), "--out", s(&html)]);
    let build_s = t.elapsed().as_secs_f64();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let size = std::fs::metadata(&html).unwrap().len();
    assert!(size < 20 << 20, "{size} bytes: an hour of five people must stay under 20 MB");
    let data = data_of(&html);
    let v = &data["videos"][0];
    assert_eq!(v["frames"], 108_000);
    assert_eq!(v["filtered"]["faces"], 540_000, "every face counted, not the drawn bins");
    let tracks = v["tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), 5);
    for t in tracks {
        let n = t["series"]["t"].as_array().unwrap().len();
        assert!((1000..=1500).contains(&n), "drawn from at most max_points bins: {n}");
        let faces: u64 = t["series"]["n"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).sum();
        assert_eq!(faces, 108_000, "the bins cover every face");
    }
    assert!((v["duration_s"].as_f64().unwrap() - 3600.0).abs() < 1.0);
    let driver = start_driver();
    let b = Session::new(&driver, &[]);
    let t = Instant::now();
    b.open(&format!("file://{}", html.display()));
    let state = wait_rendered(&b, Duration::from_secs(120));
    let wall = t.elapsed().as_secs_f64();
    assert_eq!(state["errors"], serde_json::json!([]), "{state}");
    // a zoom redraws every chart of the video: how long that takes is what "responsive" means
    let zoom = b.exec(
        "const c = document.querySelector('.track canvas.chart'); const r = c.getBoundingClientRect();\
         const at = (type, f) => c.dispatchEvent(new MouseEvent(type, {clientX: r.left + r.width * f, clientY: r.top + 30, bubbles: true}));\
         const t0 = performance.now(); at('mousedown', 0.4); at('mousemove', 0.45); at('mouseup', 0.45);\
         const ms = performance.now() - t0; return {ms, range: document.querySelector('.range').textContent, errors: window.ferReport.errors};",
    );
    assert!(zoom["range"].as_str().unwrap().starts_with("showing"), "{zoom}");
    assert_eq!(zoom["errors"], serde_json::json!([]), "{zoom}");
    let (png_bytes, shot) = b.screenshot();
    std::fs::write(Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-hour.png"), &png_bytes).unwrap();
    assert!(shot.colours(5) > 200, "the hour's page is drawn");
    // the numbers for BENCHMARKS.md (speed is never asserted)
    eprintln!(
        "hour report: {size} bytes, built in {build_s:.2} s; the page's script drew it in {:.0} ms, load + draw {wall:.2} s; a zoom redrew it in {:.0} ms",
        state["ms"].as_f64().unwrap_or(f64::NAN),
        zoom["ms"].as_f64().unwrap_or(f64::NAN)
    );
}

#[test]
fn bad_inputs_get_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r.html");
    // a JSON line cut off: a warning naming it, the rest reported
    let results = tmp.path().join("run.jsonl");
    process_to(&common::media("single_face.mp4"), "jsonl", &results);
    let text = std::fs::read_to_string(&results).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = tmp.path().join("cut.jsonl");
    let last = lines[lines.len() - 1];
    std::fs::write(&cut, format!("{}\n{}", lines[..lines.len() - 1].join("\n"), &last[..last.len() / 2])).unwrap();
    let o = run(&["report", s(&cut), "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(&format!("line {}", lines.len())) && err.to_lowercase().contains("warn"), "{err}");
    let d = data_of(&out);
    assert_eq!(d["videos"][0]["frames"], lines.len() as u64 - 1, "every whole line reported");
    assert_eq!(d["videos"][0]["warnings"].as_array().unwrap().len(), 1, "the page says what was skipped");

    // an empty file, someone else's CSV, a folder without results: one line, exit 1
    let empty = tmp.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let foreign = tmp.path().join("people.csv");
    std::fs::write(&foreign, "name,age\nada,36\n").unwrap();
    let folder = tmp.path().join("nothing");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("notes.txt"), "x").unwrap();
    for (input, says) in [(&empty, "empty"), (&foreign, "not a fer-rt CSV"), (&folder, "no batch ledger")] {
        let o = run(&["report", s(input), "--out", s(&out)]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{}: {err}", input.display());
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(says) && err.contains(s(input)), "{err}");
        assert!(!err.contains("panicked"));
    }
    // never over an input
    let before = std::fs::read(&results).unwrap();
    let o = run(&["report", s(&results), "--out", s(&results)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(std::fs::read(&results).unwrap(), before, "the input is untouched");
    let missing: PathBuf = tmp.path().join("missing.jsonl");
    let o = run(&["report", s(&missing), "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(2), "a path that does not exist is a usage error: {}", stderr(&o));
}

/// A folder of photos: every photo at 0 ms, so the page counts frames instead of seconds;
/// each face is its own one-face track, named with its photo, in every format.
#[test]
fn a_folder_of_photos_is_drawn_by_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = common::media_folder(
        &tmp.path().join("photos"),
        [("single_face.jpg", "a.jpg".to_string()), ("multi_face.jpg", "b.jpg".to_string())],
    );
    for format in ["jsonl", "csv", "parquet"] {
        let results = tmp.path().join(format!("photos.{format}"));
        process_to(&photos, format, &results);
        let html = tmp.path().join(format!("photos-{format}.html"));
        let o = run(&["report", s(&results), "--out", s(&html)]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let v = &data_of(&html)["videos"][0];
        assert_eq!(v["time_unit"], "frame", "{format}: no time span, frame numbers");
        assert_eq!(v["frames"], 2, "{format}");
        assert!(v["duration_s"].is_null(), "{format}: {}", v["duration_s"]);
        let tracks = v["filtered"]["tracks"].as_array().unwrap();
        assert_eq!(tracks.len(), 6, "{format}: one track per face, 1 + 5");
        assert!(tracks.iter().all(|t| t["faces"] == 1 && t["flips_per_minute"].is_null()));
        let names: Vec<&str> = v["tracks"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names.iter().filter(|n| n.ends_with("· a.jpg")).count(), 1, "{format}: {names:?}");
        assert_eq!(names.iter().filter(|n| n.ends_with("· b.jpg")).count(), 5, "{format}: {names:?}");
    }
}
