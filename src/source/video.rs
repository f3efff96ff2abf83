//! File decoding through FFmpeg. A damaged file (unreadable packets, a cut-off download)
//! still yields every frame that can be decoded; the damage is reported once, after them.
use super::limits::Limits;
use super::orientation::Orientation;
use crate::error::{Error, Result};
use crate::messages::{elapsed_ms, FrameMeta, FrameMsg, RgbImage, SourceInfo, SourceSummary};
use ff::format::Pixel;
use ff::software::scaling;
use ffmpeg_next as ff;
use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::ptr::null_mut;
use std::sync::Arc;
use std::time::Instant;

/// Room left past a frame's last row for swscale's SIMD stores: its x86 YUV-to-RGB loop
/// goes 16 pixels at a time, so at widths of 8 mod 16 it stores one 8-pixel block (24
/// bytes) past each row's end (into the next row, converted after it, and past the last
/// row into this room; measured with a canary, libswscale 6.7).
const SWS_SLACK: usize = 64;

/// A demuxer stuck on unreadable data is abandoned after this many consecutive read
/// errors; FFmpeg's mov demuxer returns one per missing packet and then moves on.
const MAX_CONSECUTIVE_READ_ERRORS: u64 = 4096;

pub struct VideoSource {
    path: PathBuf,
    file_len: u64,
    input: ff::format::context::Input,
    decoder: ff::decoder::Video,
    stream_index: usize,
    time_base: f64,
    info: SourceInfo,
    /// The RGB converter for the current format and size, and its output frame (kept, so
    /// FFmpeg fills the same buffer every frame).
    scaler: Option<(Pixel, u32, u32, scaling::Context, ff::frame::Video)>,
    /// Any damage is an error (see `set_strict`).
    strict: bool,
    /// Turn applied to every decoded frame (the stream's display matrix, unless disabled).
    orientation: Orientation,
    /// What the display matrix asks for.
    stored_orientation: Orientation,
    /// A network stream: a failed read (timeout, connection closed) ends it instead of
    /// being skipped as damage, since retrying a dead socket would block for every retry.
    network: bool,
    /// One still image (not a sequence, not a video).
    still: bool,
    /// Every frame stands alone (`--stills`): no track or filter state crosses frames.
    independent: bool,
    /// Keeps standard input readable while this source lives.
    _stdin: Option<super::stdin::Stdin>,
    limits: Limits,
    /// The video stream's own declared duration (not the container's, which audio may set).
    stream_duration_s: Option<f64>,
    /// Timestamps (s) of the first and last frame emitted.
    pts_span_s: Option<(f64, f64)>,
    /// Samples the container's index counts, when it counts more than it will show (an
    /// MP4/MOV edit list cuts the rest): said when the stream ends early.
    samples: Option<u64>,
    /// The deadline FFmpeg's interrupt callback reads: declared after `input`, so the
    /// context that points at it is closed first.
    deadline: Option<Box<Deadline>>,
}

/// What one pass over an input met: for the damage policy, and to say why nothing decoded.
#[derive(Default)]
struct Tally {
    read_errors: u64,
    decode_errors: u64,
    /// Packets of the video stream read.
    video_packets: u64,
    /// Of those, packets the decoder refused.
    rejected: u64,
    first_error: Option<String>,
}

impl Tally {
    fn note(&mut self, e: &ff::Error) {
        self.first_error.get_or_insert_with(|| e.to_string());
    }

    /// Why a pass that decoded no frame decoded none, from what it saw of stream `index`.
    fn why_nothing(&self, codec: &str, index: usize) -> String {
        let first = self.first_error.as_deref().map(|e| format!(" (first: {e})")).unwrap_or_default();
        match (self.video_packets, self.read_errors) {
            (0, 0) => format!("its video stream {index} ({codec}) holds no packets"),
            (0, r) => format!("none of its packets could be read: {r} read error(s){first}"),
            (n, _) if self.rejected == n => {
                format!("the {codec} decoder rejected all {n} packets of stream {index}{first}")
            }
            (n, _) => format!(
                "{n} packets of its {codec} stream {index} gave no picture{}: no keyframe or codec configuration to start from?",
                if self.rejected > 0 { format!(", {} refused{first}", self.rejected) } else { first }
            ),
        }
    }
}

/// How a file input is opened.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// Frame rate of an image sequence pattern (FFmpeg's image2 assumes 25).
    pub fps: Option<f64>,
    /// How large its frames may be (the defaults when not given: safe by default).
    pub limits: Limits,
    /// Reading ends with [`Error::TimedOut`] once this passes, even inside FFmpeg's own
    /// reads and probing (`batch --input-timeout`).
    pub deadline: Option<Deadline>,
    /// How many threads decode it.
    pub decoding: Decoding,
}

/// How many threads decode a video: FFmpeg's frame threads (`[pipeline] decode_threads`).
/// Each thread decodes a frame of its own, so more threads help only where the decoder
/// bounds a run, and otherwise cost hand-overs and a frame buffer each. Measured on two
/// cores (BENCHMARKS.md, issue 25, seventeenth pass): one thread ran 2–8 % faster where
/// decoding a frame took ≤ 2.6 ms on one core (640×360 Pexels, generated 1080p), even at
/// 4.6 ms (generated 1440p), and 6–35 % slower at 9.4–18.7 ms (generated 4K, 1080p at 12
/// and 31 Mbit/s). The time a frame will take is estimated before the decoder opens, from
/// its pixels and the bits the stream spends on a frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decoding {
    /// Threads; 0 = one for an H.264 stream estimated to decode within `one_thread_max_ms`
    /// a frame, one per core otherwise.
    pub threads: usize,
    /// With `threads` = 0, the largest estimated decoding time of a frame (ms on one core)
    /// that one thread takes on.
    pub one_thread_max_ms: f64,
}

impl Default for Decoding {
    fn default() -> Self {
        Self { threads: 0, one_thread_max_ms: 4.0 }
    }
}

/// One core's H.264 decoding time per frame on the build machine (libavcodec 59, 2 cores of
/// an AMD EPYC): 1.2 ms a megapixel (generated 1080p, 1440p and 4K, 1.1–1.25) plus 15 µs a
/// kilobit of the frame's share of the stream (1080p at 12 and 31 Mbit/s: 16 and 12 µs).
const H264_MS_PER_MEGAPIXEL: f64 = 1.2;
const H264_MS_PER_KBIT: f64 = 0.015;

impl Decoding {
    /// Threads for `width`×`height` frames of `codec` whose stream spends `kbit_per_frame`
    /// (unknown: None) on `cores` cores.
    pub fn threads_for(
        &self,
        codec: ff::codec::Id,
        width: u32,
        height: u32,
        kbit_per_frame: Option<f64>,
        cores: usize,
    ) -> usize {
        if self.threads > 0 {
            return self.threads;
        }
        let estimate_ms = kbit_per_frame
            .filter(|_| codec == ff::codec::Id::H264)
            .map(|kbit| H264_MS_PER_MEGAPIXEL * (width as f64 * height as f64 / 1e6) + H264_MS_PER_KBIT * kbit);
        match estimate_ms {
            Some(ms) if ms <= self.one_thread_max_ms => 1,
            _ => cores.max(1),
        }
    }
}

/// When an input must be finished by, and the limit it came from (for the message).
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    pub at: Instant,
    pub limit_s: f64,
}

impl Deadline {
    pub fn after(limit_s: f64) -> Self {
        Self { at: Instant::now() + std::time::Duration::from_secs_f64(limit_s.max(0.0)), limit_s }
    }

    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }
}

/// FFmpeg's interrupt callback: true once the deadline `opaque` points at has passed, which
/// makes a blocking read or a long probe inside FFmpeg return.
extern "C" fn deadline_passed(opaque: *mut std::ffi::c_void) -> std::ffi::c_int {
    // SAFETY: opaque is the Box<Deadline> the source owns for as long as its context lives
    let d = unsafe { &*(opaque as *const Deadline) };
    std::ffi::c_int::from(d.passed())
}

/// Why [`open_limited`] failed.
enum OpenFailure {
    /// A stream declares frames over the limits: the error to report as it is.
    Refused(Error),
    /// FFmpeg's own error, for the caller to put in its words: while reading the header
    /// (`probing` false) or while probing the streams, by the demuxer `format` when one
    /// took the input.
    Ffmpeg { err: ff::Error, format: Option<String>, probing: bool },
}

impl OpenFailure {
    /// The error of a file or pipe input named `name` of `len` bytes (0: not known), in
    /// terms of the file: which format, which part of it, what is wrong. `head`, the
    /// file's first bytes, tells which format a header that failed to open was.
    fn unreadable(self, name: &Path, len: u64, head: Option<&[u8]>) -> Error {
        match self {
            OpenFailure::Refused(e) => e,
            OpenFailure::Ffmpeg { err, format, probing } => {
                let known = format.or_else(|| head.and_then(|h| probe_format(h, name)));
                let reason = match (&known, head) {
                    (None, None) => format!("not a readable video or image ({err})"),
                    _ => open_reason(&err, known.as_deref(), probing, len),
                };
                Error::Open { path: name.into(), reason }
            }
        }
    }
}

/// What an FFmpeg error at open says about the file. FFmpeg's codes are generic: ENOMEM
/// from a demuxer reading a header means the header (an MP4 sample table of 2^28
/// entries) declares more than a file of its size can hold, not that memory ran out.
fn open_reason(err: &ff::Error, format: Option<&str>, probing: bool, len: u64) -> String {
    let Some(f) = format else {
        return format!("not a readable video or image: no format FFmpeg knows ({err})");
    };
    let size = if len > 0 { format!("a file of {}", human_bytes(len)) } else { "the input".into() };
    let why = match err {
        ff::Error::Other { errno } if *errno == libc::ENOMEM => {
            format!("its {f} header or index declares more entries than {size} can hold: a corrupt index")
        }
        ff::Error::InvalidData if probing => format!("its {f} streams hold no data a decoder accepts"),
        ff::Error::InvalidData => format!("its {f} header is invalid"),
        ff::Error::Eof => format!("it ends inside its {f} header: cut off?"),
        _ if probing => format!("its {f} streams could not be read"),
        _ => format!("its {f} header could not be read"),
    };
    format!("not a readable video or image: {why} (FFmpeg: {err})")
}

/// `n` bytes as a person reads them.
fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.0} KB", n as f64 / 1024.0),
        n => format!("{n} bytes"),
    }
}

/// The long name of the demuxer FFmpeg would pick for a file starting with `head`.
fn probe_format(head: &[u8], name: &Path) -> Option<String> {
    // SAFETY: `probe` returns null or one of FFmpeg's registered input formats
    probe(head, name).and_then(|fmt| unsafe { format_name(fmt) })
}

/// The demuxer FFmpeg would pick for a file named `name` starting with `head` (one of its
/// registered, static input formats), if any.
fn probe(head: &[u8], name: &Path) -> Option<*const ff::ffi::AVInputFormat> {
    use std::ffi::CString;
    let mut buf = head.to_vec();
    let n = buf.len();
    buf.resize(n + ff::ffi::AVPROBE_PADDING_SIZE as usize, 0);
    let c_name = CString::new(name.to_string_lossy().as_bytes()).ok()?;
    let pd = ff::ffi::AVProbeData {
        filename: c_name.as_ptr(),
        buf: buf.as_mut_ptr(),
        buf_size: n as i32,
        mime_type: std::ptr::null(),
    };
    // SAFETY: pd points at a padded buffer and a NUL-terminated name that outlive the call
    let fmt = unsafe { ff::ffi::av_probe_input_format(&pd, 1) };
    (!fmt.is_null()).then_some(fmt)
}

/// Whether the file at `path` is a single image, judged from its name and first bytes by
/// the demuxer FFmpeg would pick for it (as [`VideoSource::is_still`] judges an opened
/// one, but before opening it: a run prepares its detector for photos or for video while
/// the input opens). None when it cannot tell (not a readable file, a pattern, a URL).
pub fn looks_still(path: &Path) -> Option<bool> {
    use std::io::Read;
    if !path.is_file() {
        return None;
    }
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path).ok()?.take(4096).read_to_end(&mut head).ok()?;
    let fmt = probe(&head, path)?;
    // SAFETY: a registered input format's short name is a static NUL-terminated string
    let name = unsafe { std::ffi::CStr::from_ptr((*fmt).name) }.to_string_lossy();
    Some(name == "image2" || name.ends_with("_pipe"))
}

/// A demuxer's long name ("QuickTime / MOV"), or its short one.
///
/// # Safety
/// `fmt` is null or one of FFmpeg's registered input formats.
unsafe fn format_name(fmt: *const ff::ffi::AVInputFormat) -> Option<String> {
    use std::ffi::CStr;
    if fmt.is_null() {
        return None;
    }
    let pick = if (*fmt).long_name.is_null() { (*fmt).name } else { (*fmt).long_name };
    (!pick.is_null()).then(|| CStr::from_ptr(pick).to_string_lossy().into_owned())
}

/// Opens `url` as FFmpeg's `avformat_open_input` + `avformat_find_stream_info` do, but
/// refuses a video stream whose header declares frames over `limits` before anything is
/// decoded, and lets the decoders that probe the streams allocate no frame over
/// `max_pixels`.
fn open_limited(
    url: &str,
    mut opts: ff::Dictionary,
    limits: &Limits,
    name: &Path,
    deadline: Option<&Deadline>,
) -> std::result::Result<ff::format::context::Input, OpenFailure> {
    use std::ffi::CString;
    if opts.get("probesize").is_none() {
        opts.set("probesize", &limits.probe_bytes.to_string());
    }
    let c_url = CString::new(url)
        .map_err(|_| OpenFailure::Refused(Error::Open { path: name.into(), reason: "a NUL in the name".into() }))?;
    let declared = |ps: *mut ff::ffi::AVFormatContext| -> Result<()> {
        // SAFETY: ps is an open format context; streams and codecpar are its own.
        unsafe {
            for i in 0..(*ps).nb_streams as usize {
                let par = (**(*ps).streams.add(i)).codecpar;
                if (*par).codec_type == ff::ffi::AVMediaType::AVMEDIA_TYPE_VIDEO
                    && (*par).width > 0
                    && (*par).height > 0
                {
                    limits.check(name, "declares", (*par).width as u32, (*par).height as u32)?;
                }
            }
        }
        Ok(())
    };
    // SAFETY: the FFI calls follow FFmpeg's documented open sequence; every pointer is
    // checked, and the context is closed on each failure path.
    unsafe {
        let mut ps = ff::ffi::avformat_alloc_context();
        if ps.is_null() {
            return Err(OpenFailure::Ffmpeg { err: ff::Error::from(-libc::ENOMEM), format: None, probing: false });
        }
        if let Some(d) = deadline {
            (*ps).interrupt_callback =
                ff::ffi::AVIOInterruptCB { callback: Some(deadline_passed), opaque: d as *const Deadline as *mut _ };
        }
        let mut dict = opts.disown();
        let res = ff::ffi::avformat_open_input(&mut ps, c_url.as_ptr(), std::ptr::null_mut(), &mut dict);
        ff::Dictionary::own(dict);
        if res != 0 {
            return Err(OpenFailure::Ffmpeg { err: ff::Error::from(res), format: None, probing: false });
        }
        let fail = |mut ps: *mut ff::ffi::AVFormatContext, why: OpenFailure| {
            ff::ffi::avformat_close_input(&mut ps);
            Err(why)
        };
        if let Err(e) = declared(ps) {
            return fail(ps, OpenFailure::Refused(e));
        }
        let n = (*ps).nb_streams as usize;
        let key = CString::new("max_pixels").unwrap_or_default();
        let value = CString::new(limits.max_frame_pixels.min(i64::MAX as u64).to_string()).unwrap_or_default();
        let mut per_stream: Vec<*mut ff::ffi::AVDictionary> = vec![std::ptr::null_mut(); n];
        for d in per_stream.iter_mut() {
            ff::ffi::av_dict_set(d, key.as_ptr(), value.as_ptr(), 0);
        }
        let r =
            ff::ffi::avformat_find_stream_info(ps, if n > 0 { per_stream.as_mut_ptr() } else { std::ptr::null_mut() });
        for d in per_stream.iter_mut() {
            ff::ffi::av_dict_free(d);
        }
        if r < 0 {
            let format = format_name((*ps).iformat);
            return fail(ps, OpenFailure::Ffmpeg { err: ff::Error::from(r), format, probing: true });
        }
        // probing may have read the real size from the bitstream (an SPS)
        if let Err(e) = declared(ps) {
            return fail(ps, OpenFailure::Refused(e));
        }
        Ok(ff::format::context::Input::wrap(ps))
    }
}

/// The index entries of stream `i` its demuxer will show (not marked discard: the
/// pre-roll an edit list decodes but does not show).
fn shown_entries(input: &ff::format::context::Input, i: usize) -> Option<u64> {
    // SAFETY: i is a stream of this open context; entries are only read
    unsafe {
        let st = *(*input.as_ptr()).streams.add(i);
        let n = ff::ffi::avformat_index_get_entries_count(st);
        let shown = (0..n)
            .filter(|&k| {
                let e = ff::ffi::avformat_index_get_entry(st, k);
                !e.is_null() && (*e).flags() & ff::ffi::AVINDEX_DISCARD_FRAME == 0
            })
            .count() as u64;
        (shown > 0).then_some(shown)
    }
}

/// Whether an MP4/MOV's edit list hides most of its video samples because its timescale is
/// invalid: FFmpeg then defaults the timescale to 1 s and the edit list, in movie time,
/// keeps about one frame (a MOV with `mdhd` timescale 0 gave 1 of its 169 frames).
fn edit_list_hides_frames(input: &ff::format::context::Input) -> bool {
    let Some(st) = input.streams().best(ff::media::Type::Video) else { return false };
    let tb = st.time_base();
    let samples = u64::try_from(st.frames()).unwrap_or(0);
    input.format().name().starts_with("mov")
        && (tb.numerator(), tb.denominator()) == (1, 1)
        && shown_entries(input, st.index()).is_some_and(|n| n + (samples / 20).max(2) < samples)
}

/// Why `stream` cannot be decoded, naming the stream and its codec or tag: a tag no codec
/// answers to (a corrupted sample description), or a codec this FFmpeg build lacks.
fn no_decoder(stream: &ff::format::stream::Stream<'_>, demuxer: &str, err: &ff::Error) -> String {
    let par = stream.parameters();
    let id = par.id();
    // SAFETY: a plain field of the stream's own parameters
    let tag = unsafe { (*par.as_ptr()).codec_tag };
    let i = stream.index();
    if id != ff::codec::Id::None {
        return format!("no decoder for stream {i}: it is {id:?} video, which this FFmpeg build cannot decode ({err})");
    }
    let bytes = tag.to_le_bytes();
    let shown = if bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("'{}'", String::from_utf8_lossy(&bytes))
    } else {
        format!("0x{tag:08x}")
    };
    let expected = if demuxer.starts_with("mov") {
        " (a corrupted sample description? MP4/MOV video is tagged avc1, hvc1, hev1, av01, vp09, mp4v, ...)"
    } else {
        " (a corrupted track header?)"
    };
    if tag == 0 {
        format!("no decoder for stream {i}: its codec is not one FFmpeg knows{expected}")
    } else {
        format!("no decoder for stream {i}: its codec tag {shown} names no codec FFmpeg knows{expected}")
    }
}

/// The stream's display matrix as an orientation (Upright when there is none, or when its
/// angle is not a multiple of 90 degrees, which is then logged and left alone).
fn display_orientation(stream: &ff::format::stream::Stream<'_>, path: &Path) -> Orientation {
    for sd in stream.side_data() {
        if sd.kind() == ff::codec::packet::side_data::Type::DisplayMatrix && sd.data().len() >= 36 {
            let mut m = [0i32; 9];
            for (i, c) in sd.data()[..36].chunks_exact(4).enumerate() {
                m[i] = i32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
            }
            return Orientation::from_display_matrix(&m).unwrap_or_else(|| {
                tracing::warn!(
                    "{}: display rotation is not a multiple of 90 degrees; frames kept as stored",
                    path.display()
                );
                Orientation::Upright
            });
        }
    }
    Orientation::Upright
}

// SAFETY: a VideoSource exclusively owns its FFmpeg demuxer, decoder and scaler contexts
// (raw pointers, hence !Send). It is opened on one thread and then moved, once, to the
// decode thread, which is the only one that ever touches it; FFmpeg contexts may be used
// from any thread as long as no two threads use one at the same time.
unsafe impl Send for VideoSource {}

impl VideoSource {
    /// Opens a video file, an image, or an image sequence given as an FFmpeg pattern
    /// (`frames/%05d.png`).
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, &OpenOptions::default())
    }

    /// True when `path` names an image sequence (`frames/%05d.png`) rather than a file.
    pub fn is_pattern(path: &Path) -> bool {
        path.to_string_lossy().contains('%') && !path.exists()
    }

    /// [`open`](Self::open) with options; `-` is standard input (see `source::stdin`).
    pub fn open_with(path: &Path, opts: &OpenOptions) -> Result<Self> {
        if let Some(url) = path.to_str().filter(|s| super::network::is_url(s)) {
            return Self::open_url(url, &super::network::NetworkConfig::default(), &opts.limits, opts.decoding);
        }
        let pattern = Self::is_pattern(path);
        if let Some(fps) = opts.fps {
            if !pattern {
                return Err(Error::Config(format!(
                    "--fps {fps}: only an image sequence pattern (frames/%05d.png) takes a frame rate; {} has its own timestamps",
                    path.display()
                )));
            }
            if !(fps.is_finite() && fps > 0.0 && fps <= 1000.0) {
                return Err(Error::Config(format!("--fps {fps}: must be in (0, 1000]")));
            }
        }
        if super::stdin::is_stdin(path) {
            return Self::open_stream(
                super::stdin::open()?,
                Path::new(super::stdin::NAME),
                &opts.limits,
                opts.decoding,
            );
        }
        if super::stdin::is_fifo(path) {
            return Self::open_stream(super::stdin::open_fifo(path)?, path, &opts.limits, opts.decoding);
        }
        let file_len = if pattern {
            0
        } else {
            let meta = std::fs::metadata(path).map_err(|err| Error::Io { path: path.into(), err })?;
            if meta.is_dir() {
                return Err(Error::Open { path: path.into(), reason: "is a directory".into() });
            }
            if meta.len() == 0 {
                return Err(Error::Open { path: path.into(), reason: "file is empty".into() });
            }
            meta.len()
        };
        let mut head = Vec::new();
        if !pattern {
            // a still image's header says its size before any decoder allocates it
            head = vec![0u8; 64 << 10];
            let n = std::fs::File::open(path).and_then(|mut f| std::io::Read::read(&mut f, &mut head)).unwrap_or(0);
            head.truncate(n);
            if let Some((w, h)) = super::limits::image_header_size(&head) {
                opts.limits.check(path, "declares", w, h)?;
            }
        }
        let mut dict = ff::Dictionary::new();
        if let Some(fps) = opts.fps {
            // image2's own option: the sequence's timestamps follow from it
            dict.set("framerate", &format!("{fps}"));
        }
        let deadline = opts.deadline.map(Box::new);
        let input =
            open_limited(&path.to_string_lossy(), dict, &opts.limits, path, deadline.as_deref()).map_err(|e| {
                match deadline.as_deref().filter(|d| d.passed()) {
                    Some(d) => Error::TimedOut { path: path.into(), limit_s: d.limit_s, frames: 0 },
                    None => e.unreadable(path, file_len, (!pattern).then_some(&head[..])),
                }
            })?;
        let input = if !pattern && edit_list_hides_frames(&input) {
            // read it again without the edit list, which FFmpeg offers for this case
            let mut again = ff::Dictionary::new();
            again.set("ignore_editlist", "1");
            match open_limited(&path.to_string_lossy(), again, &opts.limits, path, deadline.as_deref()) {
                Ok(recovered) => {
                    tracing::warn!(
                        "{}: its edit list hides most of its frames (an invalid timescale); recovered by reading it without the edit list",
                        path.display()
                    );
                    recovered
                }
                Err(_) => input,
            }
        } else {
            input
        };
        let mut src = Self::from_input(path, input, file_len, false, &opts.limits, opts.decoding)?;
        src.deadline = deadline;
        src.settle_still(!pattern && src.still);
        Ok(src)
    }

    /// A stream read like standard input, named `name`: streamed through a pipe, or spooled
    /// first when it is an MP4/MOV with its index at the end (see `source::stdin`). A pipe
    /// is probed over at most 1 MiB and 2 s of data instead of FFmpeg's 5 MB and 5 s, so a
    /// live pipe starts sooner.
    fn open_stream(stdin: super::stdin::Stdin, name: &Path, limits: &Limits, decoding: Decoding) -> Result<Self> {
        let mut dict = ff::Dictionary::new();
        if !stdin.is_spooled() {
            dict.set("probesize", "1048576");
            dict.set("analyzeduration", "2000000");
        }
        let file_len = stdin.len();
        let head = (!stdin.is_spooled()).then(|| stdin.head().to_vec());
        if let Some((w, h)) = head.as_deref().and_then(super::limits::image_header_size) {
            limits.check(name, "declares", w, h)?;
        }
        let input = open_limited(&stdin.url(), dict, limits, name, None)
            .map_err(|e| e.unreadable(name, file_len, head.as_deref()))?;
        let mut src = Self::from_input(name, input, file_len, false, limits, decoding)?;
        src._stdin = Some(stdin);
        src.settle_still(src.still);
        Ok(src)
    }

    /// Whether the input is a single image, once the caller knows (a pattern of frames is
    /// not). A single image is one frame, though a pipe demuxer (png_pipe ...) counts none:
    /// the run then knows it has no keyframes to search ahead and no batches to warm up.
    fn settle_still(&mut self, still: bool) {
        self.still = still;
        if still {
            self.info.estimated_frames = self.info.estimated_frames.or(Some(1));
        }
    }

    /// Opens a network stream (rtsp, udp, srt, http, ...) with `cfg`'s timeouts: an open or
    /// read that gets no data within `timeout_s` fails instead of hanging.
    pub fn open_url(
        url: &str,
        cfg: &super::network::NetworkConfig,
        limits: &Limits,
        decoding: Decoding,
    ) -> Result<Self> {
        let mut opts = ff::Dictionary::new();
        for (k, v) in cfg.ffmpeg_options(url) {
            opts.set(k, &v);
        }
        let t0 = Instant::now();
        let input = open_limited(url, opts, limits, Path::new(url), None).map_err(|e| {
            let e = match e {
                OpenFailure::Refused(limit) => return limit,
                OpenFailure::Ffmpeg { err, .. } => err.to_string(),
            };
            // a refused connection or an unknown host fails at once: only a wait that ran
            // into the limit is a timeout
            let waited = t0.elapsed().as_secs_f64();
            let reason = if waited >= 0.9 * cfg.timeout_s {
                format!("no answer within {} s ({e})", cfg.timeout_s)
            } else {
                format!("cannot open the stream ({e}, after {waited:.1} s)")
            };
            Error::Open { path: url.into(), reason }
        })?;
        Self::from_input(Path::new(url), input, 0, true, limits, decoding)
    }

    fn from_input(
        path: &Path,
        input: ff::format::context::Input,
        file_len: u64,
        network: bool,
        limits: &Limits,
        decoding: Decoding,
    ) -> Result<Self> {
        let stream = input.streams().best(ff::media::Type::Video).ok_or(Error::NoVideoStream { path: path.into() })?;
        let stream_index = stream.index();
        let tb = stream.time_base();
        let mov = input.format().name().starts_with("mov");
        let samples = u64::try_from(stream.frames()).ok().filter(|&n| n > 0);
        // an MP4/MOV's sample count includes what its edit list cuts (a stream-copy trim
        // keeps the samples back to a keyframe): the frames it will show are the index's
        let expected_frames = if mov { shown_entries(&input, stream_index).or(samples) } else { samples };
        let rate = stream.avg_frame_rate();
        let mut fps = (rate.denominator() != 0 && rate.numerator() > 0).then(|| f64::from(rate));
        let mut time_base = f64::from(tb);
        let container_s = (input.duration() > 0).then(|| input.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE));
        if let Some(c) =
            container_s.filter(|c| (tb.numerator(), tb.denominator()) == (1, 1) && *c * 10.0 < stream.duration() as f64)
        {
            // a time base of 1 s is FFmpeg's fallback for an invalid timescale (mdhd 0): the
            // container's duration puts the stream's ticks back on a clock
            time_base = c / stream.duration() as f64;
            fps = expected_frames.map(|n| n as f64 / c);
            tracing::warn!(
                "{}: its video stream has no valid timescale; timestamps rescaled to the file's {c:.2} s",
                path.display()
            );
        }
        let mut ctx = ff::codec::context::Context::from_parameters(stream.parameters())
            .map_err(|e| Error::Decode { path: path.into(), reason: e.to_string() })?;
        // never FFmpeg's own count (one more than the cores): on two cores the third thread
        // took CPU time from the stages (BENCHMARKS.md, issue 25, tenth pass)
        let mut threading = ff::codec::threading::Config::kind(ff::codec::threading::Type::Frame);
        let params = stream.parameters();
        // SAFETY: plain fields of the stream's codec parameters, read while `input` owns them
        let (w, h, bit_rate) = unsafe {
            let p = &*params.as_ptr();
            (p.width.max(0) as u32, p.height.max(0) as u32, p.bit_rate)
        };
        // the stream's own bit rate, else the file's (audio included: an overestimate)
        let bit_rate = Some(bit_rate).filter(|&b| b > 0).or(Some(input.bit_rate()).filter(|&b| b > 0));
        let kbit_per_frame = bit_rate.zip(fps).filter(|&(_, f)| f > 0.0).map(|(b, f)| b as f64 / f / 1000.0);
        threading.count = decoding.threads_for(params.id(), w, h, kbit_per_frame, crate::runtime::cores());
        tracing::debug!(threads = threading.count, kbit_per_frame, "{}: decoding threads", path.display());
        ctx.set_threading(threading);
        // SAFETY: a plain field of the decoder context this function owns; the decoder then
        // refuses to allocate any frame over the limit
        unsafe { (*ctx.as_mut_ptr()).max_pixels = limits.max_frame_pixels.min(i64::MAX as u64) as i64 };
        let decoder = ctx
            .decoder()
            .video()
            .map_err(|e| Error::Decode { path: path.into(), reason: no_decoder(&stream, input.format().name(), &e) })?;
        let codec = decoder.codec().map(|c| c.name().to_string()).unwrap_or_else(|| "unknown".into());
        let demuxer = input.format().name().to_string();
        // image2 opens single image files (and patterns, told apart by the caller);
        // jpeg_pipe, png_pipe ... read an image from a stream
        let still =
            !network && (demuxer == "image2" || demuxer.ends_with("_pipe")) && expected_frames.unwrap_or(1) <= 1;
        let stored_orientation = display_orientation(&stream, path);
        let (width, height) = if stored_orientation.swaps_sides() {
            (decoder.height(), decoder.width())
        } else {
            (decoder.width(), decoder.height())
        };
        let stream_duration = stream.duration();
        // without a duration of its own, a file holding only video has the container's
        let video_only_duration = (input.duration() > 0
            && input.streams().all(|s| s.parameters().medium() == ff::media::Type::Video))
        .then(|| input.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE));
        let duration_s = if stream.duration() > 0 {
            Some(stream.duration() as f64 * time_base)
        } else if input.duration() > 0 {
            Some(input.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE))
        } else {
            None
        };
        let estimated_frames =
            expected_frames.or_else(|| duration_s.zip(fps).map(|(d, f)| (d * f).round() as u64).filter(|&n| n > 0));
        let info = SourceInfo {
            width,
            height,
            expected_frames,
            estimated_frames,
            fps,
            codec,
            time_base: (tb.numerator(), tb.denominator()),
        };
        Ok(Self {
            path: path.into(),
            file_len,
            input,
            decoder,
            stream_index,
            time_base,
            info,
            scaler: None,
            strict: false,
            orientation: stored_orientation,
            stored_orientation,
            network,
            still,
            independent: false,
            _stdin: None,
            limits: limits.clone(),
            stream_duration_s: (stream_duration > 0)
                .then(|| stream_duration as f64 * time_base)
                .or(video_only_duration),
            pts_span_s: None,
            samples: samples.filter(|&n| Some(n) != expected_frames),
            deadline: None,
        })
    }

    /// Ends reading with [`Error::TimedOut`] once `d` passes (checked between packets; a
    /// file opened with [`OpenOptions::deadline`] also has FFmpeg's reads interrupted).
    pub fn set_deadline(&mut self, d: Deadline) {
        let own = self.deadline.get_or_insert_with(|| Box::new(d));
        **own = d;
        // SAFETY: the callback reads the boxed deadline, which lives as long as the context
        // (declared after it); a Box's contents do not move with it
        unsafe {
            (*self.input.as_mut_ptr()).interrupt_callback = ff::ffi::AVIOInterruptCB {
                callback: Some(deadline_passed),
                opaque: &**own as *const Deadline as *mut _,
            };
        }
    }

    /// True for one still image (a photo), not a video or an image sequence.
    pub fn is_still(&self) -> bool {
        self.still
    }

    /// Every frame stands alone (a sequence of unrelated photos): no track or filter
    /// state crosses frames.
    pub fn set_independent(&mut self, on: bool) {
        self.independent = on;
    }

    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// Whether frames are turned upright as the stream's display matrix asks (the default,
    /// like FFmpeg's autorotate). Off: frames, sizes and boxes stay as stored.
    pub fn set_autorotate(&mut self, on: bool) {
        let want = if on { self.stored_orientation } else { Orientation::Upright };
        if want.swaps_sides() != self.orientation.swaps_sides() {
            std::mem::swap(&mut self.info.width, &mut self.info.height);
        }
        self.orientation = want;
    }

    /// The turn applied to decoded frames.
    pub fn orientation(&self) -> Orientation {
        self.orientation
    }

    /// Damage policy: with `strict`, any unreadable or undecodable packet makes the run an
    /// error (after everything decodable was emitted); without it (the default), damage the
    /// decoder recovers from is counted and warned about, and only an input that stops
    /// before its end (truncated, or unreadable from some point on) is an error.
    pub fn set_strict(&mut self, strict: bool) {
        self.strict = strict;
    }

    /// Decodes every frame in order and hands each to `emit`, which returns false to stop.
    /// Returns an error after emitting what could be decoded when the input is cut off, or
    /// (strict) damaged anywhere.
    pub fn run(&mut self, mut emit: impl FnMut(FrameMsg) -> bool) -> Result<SourceSummary> {
        let mut summary = SourceSummary::default();
        let mut t = Tally::default();
        let mut consecutive = 0u64;
        let mut unreadable_tail = false;
        let mut t_decode = Instant::now();
        loop {
            // a fresh packet per read: av_read_frame does not release the buffer of the
            // packet it fills, so reusing one leaked every packet's data (about 4 KB a
            // frame at 360p: memory that grew with video length); dropping it unrefs it
            if let Some(d) = self.deadline.as_deref().filter(|d| d.passed()) {
                return Err(Error::TimedOut { path: self.path.clone(), limit_s: d.limit_s, frames: summary.frames });
            }
            let mut packet = ff::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => consecutive = 0,
                Err(ff::Error::Eof) => break,
                Err(e) if self.network => {
                    if summary.frames > 0 {
                        tracing::warn!(
                            "{}: stream stopped delivering ({e}) after {} frames",
                            self.path.display(),
                            summary.frames
                        );
                    }
                    break;
                }
                Err(e) => {
                    t.read_errors += 1;
                    t.note(&e);
                    consecutive += 1;
                    if consecutive >= MAX_CONSECUTIVE_READ_ERRORS {
                        unreadable_tail = true;
                        break;
                    }
                    continue;
                }
            }
            if packet.stream() != self.stream_index {
                continue;
            }
            t.video_packets += 1;
            if packet.is_corrupt() {
                t.decode_errors += 1;
            }
            if let Err(e) = self.decoder.send_packet(&packet) {
                t.decode_errors += 1;
                t.rejected += 1;
                t.note(&e);
                continue;
            }
            if !self.drain(&mut summary, &mut t_decode, &mut t, &mut emit)? {
                summary.stopped_early = true;
                return Ok(summary);
            }
        }
        // an interrupted read ends the loop like an end of file
        if let Some(d) = self.deadline.as_deref().filter(|d| d.passed()) {
            return Err(Error::TimedOut { path: self.path.clone(), limit_s: d.limit_s, frames: summary.frames });
        }
        let _ = self.decoder.send_eof();
        if !self.drain(&mut summary, &mut t_decode, &mut t, &mut emit)? {
            summary.stopped_early = true;
            return Ok(summary);
        }
        let cut_off = self.index_points_past_eof();
        let damaged = t.read_errors + t.decode_errors + u64::from(cut_off);
        if summary.frames == 0 {
            // a decoder that refused its frames for max_pixels knows their size by now
            let (w, h) = (self.decoder.width(), self.decoder.height());
            self.limits.check(&self.path, "declares", w, h)?;
            return Err(Error::NoFrames {
                path: self.path.clone(),
                why: t.why_nothing(&self.info.codec, self.stream_index),
            });
        }
        if cut_off || unreadable_tail || (self.strict && damaged > 0) {
            return Err(Error::Damaged {
                path: self.path.clone(),
                errors: damaged,
                decoded: summary.frames,
                expected: self.info.expected_frames,
            });
        }
        // no cut and no read error, yet short of what the container declares
        if let Some(what) = self.ended_early(summary.frames) {
            return Err(Error::EndedEarly { path: self.path.clone(), what });
        }
        if damaged > 0 {
            tracing::warn!(
                "{}: {damaged} damaged packet(s) skipped, {} frames decoded (--strict makes damage an error)",
                self.path.display(),
                summary.frames
            );
        }
        summary.damaged_packets = damaged;
        Ok(summary)
    }

    /// Whether a file that reached its end without a read error still stopped well short
    /// of what its container declares: fewer frames than its index counts, or a last frame
    /// well before its video stream's declared duration. The slack (5 %, at least two
    /// frames) covers what clean files differ by: pre-roll an edit list drops, rounding.
    fn ended_early(&self, frames: u64) -> Option<String> {
        if self.network || self.still {
            return None;
        }
        if let Some(n) = self.info.expected_frames {
            if frames + (n / 20).max(2) < n {
                return Some(format!("{frames} of the {n} frames its index declares were decoded"));
            }
        }
        let frame_s = 1.0 / self.info.fps.filter(|f| *f > 0.0).unwrap_or(25.0);
        if let (Some(d), Some((first, last))) = (self.stream_duration_s, self.pts_span_s) {
            let span = last - first + frame_s;
            if span + (0.05 * d).max(2.0 * frame_s) < d {
                let counts = self
                    .samples
                    .map(|n| format!(" ({frames} of the {n} samples its sample table counts)"))
                    .unwrap_or_default();
                return Some(format!(
                    "frames up to {last:.2} s of the {d:.2} s its video stream declares were decoded{counts}"
                ));
            }
        }
        None
    }

    /// True when the container's sample index (MP4/MOV moov, MKV cues...) places the last
    /// video sample beyond the end of the file: a cut-off file. Demuxers report such a cut
    /// only as a log line followed by an ordinary end of file, so this is the reliable test.
    fn index_points_past_eof(&self) -> bool {
        // SAFETY: the stream pointer comes from our open input context and stream_index was
        // returned by it; the index entry pointer is checked for null and only read.
        unsafe {
            let ctx = self.input.as_ptr();
            let st = *(*ctx).streams.add(self.stream_index);
            let n = ff::ffi::avformat_index_get_entries_count(st);
            if n <= 0 {
                return false;
            }
            let e = ff::ffi::avformat_index_get_entry(st, n - 1);
            // standard input's length is known once it has ended, which it has by now
            let len = self._stdin.as_ref().map_or(self.file_len, |s| s.len());
            if len == 0 || e.is_null() || (*e).pos < 0 {
                return false;
            }
            ((*e).pos as u64).saturating_add((*e).size().max(0) as u64) > len
        }
    }

    /// Pulls every frame the decoder has ready. Returns false when `emit` asked to stop.
    fn drain(
        &mut self,
        summary: &mut SourceSummary,
        t_decode: &mut Instant,
        tally: &mut Tally,
        emit: &mut impl FnMut(FrameMsg) -> bool,
    ) -> Result<bool> {
        let mut frame = ff::frame::Video::empty();
        loop {
            match self.decoder.receive_frame(&mut frame) {
                Ok(()) => {}
                Err(ff::Error::Eof) => return Ok(true),
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => return Ok(true),
                Err(e) => {
                    tally.decode_errors += 1;
                    tally.note(&e);
                    return Ok(true);
                }
            }
            // a stream may change size mid-way: every frame is checked before conversion
            self.limits.check(&self.path, "decodes to", frame.width(), frame.height())?;
            let image = self.orientation.apply(self.to_rgb(&frame)?);
            let pts = frame.timestamp();
            let pts_ms = pts
                .map(|ts| ts as f64 * self.time_base * 1e3)
                .or_else(|| self.info.fps.map(|fps| summary.frames as f64 * 1e3 / fps));
            if let Some(t) = pts_ms.map(|ms| ms / 1e3) {
                self.pts_span_s = Some(self.pts_span_s.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
            }
            // a photo stands alone as in a folder of photos: searched whole, its tracks
            // starting and ending on it
            let independent = self.independent || self.still;
            let meta = FrameMeta { independent, ..FrameMeta::new(summary.frames, pts_ms, pts) };
            let mut msg = FrameMsg::new(meta, Arc::new(image));
            msg.timings.decode_ms = elapsed_ms(*t_decode);
            summary.frames += 1;
            if !emit(msg) {
                return Ok(false);
            }
            *t_decode = Instant::now();
        }
    }

    /// The frame as packed RGB in a pooled buffer. Where the width is a multiple of 8,
    /// swscale converts straight into that buffer: through an intermediate frame and a
    /// row-by-row copy out of it, every frame cost a memmove (4 % of the process's CPU at
    /// 1080p, BENCHMARKS.md, issue 25). Other widths keep that way round: swscale's x86
    /// YUV-to-RGB loops work in blocks of 8 pixels and, when a row's stride has no room for
    /// a whole last block, leave its last pixels unwritten (the unit test below sees it).
    fn to_rgb(&mut self, frame: &ff::frame::Video) -> Result<RgbImage> {
        let (fmt, w, h) = (frame.format(), frame.width(), frame.height());
        let stale = !matches!(&self.scaler, Some((f, sw, sh, _, _)) if *f == fmt && *sw == w && *sh == h);
        if stale {
            let ctx = scaling::Context::get(fmt, w, h, Pixel::RGB24, w, h, scaling::Flags::BILINEAR)
                .map_err(|e| Error::Decode { path: self.path.clone(), reason: format!("pixel format {fmt:?}: {e}") })?;
            self.scaler = Some((fmt, w, h, ctx, ff::frame::Video::empty()));
        }
        let (_, _, _, scaler, rgb) = self.scaler.as_mut().expect("scaler set above");
        let row = w as usize * 3;
        let len = row * h as usize;
        let mut data = crate::imageops::pool::take(len + SWS_SLACK);
        if w % 8 != 0 {
            scaler.run(frame, rgb).map_err(|e| Error::Decode { path: self.path.clone(), reason: e.to_string() })?;
            let (stride, src) = (rgb.stride(0), rgb.data(0));
            for y in 0..h as usize {
                data.extend_from_slice(&src[y * stride..y * stride + row]);
            }
            return Ok(RgbImage::new(w, h, data));
        }
        let dst = [data.spare_capacity_mut().as_mut_ptr().cast::<u8>(), null_mut(), null_mut(), null_mut()];
        let dst_stride = [row as c_int, 0, 0, 0];
        // SAFETY: the context was made for this frame's format and size (checked above); the
        // source planes and strides are the decoded frame's own; the destination is one
        // packed RGB24 plane of `row` bytes a row (the width a multiple of swscale's 8-pixel
        // blocks), with `len + SWS_SLACK` bytes reserved by `take` for its wider stores.
        let rows = unsafe {
            let src = frame.as_ptr();
            ff::ffi::sws_scale(
                scaler.as_mut_ptr(),
                (*src).data.as_ptr() as *const *const u8,
                (*src).linesize.as_ptr(),
                0,
                h as c_int,
                dst.as_ptr(),
                dst_stride.as_ptr(),
            )
        };
        if rows != h as c_int {
            let reason = format!("pixel format {fmt:?}: swscale wrote {rows} of {h} rows");
            return Err(Error::Decode { path: self.path.clone(), reason });
        }
        // SAFETY: sws_scale wrote every row, all `len` bytes.
        unsafe { data.set_len(len) };
        Ok(RgbImage::new(w, h, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn decoding_threads_follow_the_estimated_cost_unless_set() {
        let auto = Decoding::default();
        let h264 = ff::codec::Id::H264;
        // 640x360 at 28 kbit a frame (the Pexels clip): 0.7 ms
        assert_eq!(auto.threads_for(h264, 640, 360, Some(28.0), 2), 1);
        // generated 1080p, 14 kbit: 2.7 ms
        assert_eq!(auto.threads_for(h264, 1920, 1080, Some(14.0), 2), 1);
        // 1080p at 12 Mbit/s and 24 fps (510 kbit): 10 ms; generated 4K: 10 ms
        assert_eq!(auto.threads_for(h264, 1920, 1080, Some(510.0), 2), 2);
        assert_eq!(auto.threads_for(h264, 3840, 2160, Some(38.0), 16), 16);
        // no bit rate known, or a codec without an estimate: one per core, as before
        assert_eq!(auto.threads_for(h264, 640, 360, None, 2), 2);
        assert_eq!(auto.threads_for(ff::codec::Id::HEVC, 640, 360, Some(28.0), 2), 2);
        assert_eq!(auto.threads_for(h264, 1920, 1080, Some(510.0), 0), 1);
        let set = Decoding { threads: 3, ..auto };
        assert_eq!(set.threads_for(h264, 640, 360, Some(28.0), 2), 3);
        let never = Decoding { one_thread_max_ms: 0.0, ..auto };
        assert_eq!(never.threads_for(h264, 640, 360, Some(28.0), 2), 2);
    }

    /// Every frame of `clip` as VideoSource converts it.
    fn decoded(clip: &Path) -> Vec<RgbImage> {
        super::super::init_ffmpeg(false);
        let mut frames = Vec::new();
        let mut src = VideoSource::open(clip).expect("opens");
        src.run(|m| {
            frames.push(RgbImage::new(m.image.width, m.image.height, m.image.data.clone()));
            true
        })
        .expect("decodes");
        frames
    }

    /// Both conversions (straight into the buffer at a width that is a multiple of 8 — 200 is
    /// 8 mod 16, where swscale stores past each row — through a padded frame otherwise)
    /// give FFmpeg's own RGB24 of the same frames, the last pixels of every row included.
    #[test]
    fn frames_convert_to_what_ffmpeg_gives_at_any_width() {
        let dir = tempfile::tempdir().unwrap();
        for (w, h) in [(200, 120), (224, 90), (198, 120), (204, 90)] {
            let clip = dir.path().join(format!("{w}x{h}.mkv"));
            let size = format!("testsrc2=size={w}x{h}:rate=10:duration=0.5");
            let ok = Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-f", "lavfi", "-i", &size, "-pix_fmt", "yuv420p", "-c:v", "ffv1"])
                .arg(&clip)
                .status()
                .expect("ffmpeg runs");
            assert!(ok.success());
            let raw = Command::new("ffmpeg")
                .args(["-v", "error", "-i"])
                .arg(&clip)
                .args(["-sws_flags", "bilinear", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
                .output()
                .expect("ffmpeg runs");
            assert!(raw.status.success());
            let frames = decoded(&clip);
            let n = (w * h * 3) as usize;
            assert_eq!(frames.len(), raw.stdout.len() / n, "{w}x{h}");
            for (i, (f, want)) in frames.iter().zip(raw.stdout.chunks_exact(n)).enumerate() {
                assert_eq!((f.width, f.height, f.data.len()), (w, h, n));
                let worst = f.data.iter().zip(want).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
                assert!(worst <= 2, "{w}x{h} frame {i}: a channel {worst} off FFmpeg's");
            }
        }
    }
}
