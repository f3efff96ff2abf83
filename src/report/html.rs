//! The report as one self-contained HTML file: the page's CSS and JavaScript inline
//! (`page.css`, `page.js`, compiled in), the report's data inline as JSON, canvas charts
//! drawn by the script. No CDN, no fetch, no second file: it opens from disk anywhere and
//! can be mailed. The data element is the page's single source, so a test reads the same
//! numbers the page shows.
use super::Report;
use crate::error::Result;

const CSS: &str = include_str!("page.css");
const JS: &str = include_str!("page.js");

/// The id of the `<script type="application/json">` element holding the data.
pub const DATA_ID: &str = "fer-rt-data";

fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The page for `report`.
pub fn page(report: &Report) -> Result<String> {
    // "<" never appears raw inside the data, so no "</script>" in a name can end it early
    let data = serde_json::to_string(report)
        .map_err(|e| crate::Error::Output(std::io::Error::other(format!("report data: {e}"))))?
        .replace('<', "\\u003c");
    let title = match report.videos.as_slice() {
        [one] => one.key.clone(),
        many => format!("{} videos", many.len()),
    };
    let people: usize = report.videos.iter().map(|v| v.tracks.len()).sum();
    Ok(format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="{generator}">
<title>fer-rt report: {title}</title>
<style>
{CSS}</style>
</head>
<body>
<header class="top"><h1>fer-rt report: {title}</h1><div class="sub">{n} video(s), {people} track(s) · {generator} · hover a chart for values, drag across it to zoom, double-click to zoom out; tick a track to hide or show it</div></header>
<main id="report"><noscript>The charts need JavaScript; the numbers are in the data block of this file (id "{DATA_ID}").</noscript></main>
<div id="tip" hidden></div>
<script type="application/json" id="{DATA_ID}">{data}</script>
<script>
{JS}</script>
</body>
</html>
"#,
        generator = escape_text(&report.generator),
        title = escape_text(&title),
        n = report.videos.len(),
    ))
}
