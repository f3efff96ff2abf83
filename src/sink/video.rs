//! Annotated video: every frame with the overlays, encoded to H.264 (libx264) in the
//! container the file name asks for ([`CONTAINERS`]), or, for a still-image input, the
//! annotated image as JPEG or PNG ([`IMAGES`]). It keeps the input's size, frame count and
//! timestamps (same time base, same pts). The file is finalised (encoder flushed, trailer
//! written) by `finish`, which the pipeline calls on success, on error and after Ctrl-C;
//! dropping an unfinished sink finalises it too.
use super::overlay::{self, Hud, View};
use super::{RunInfo, Sink, SinkStatus};
use crate::error::{Error, Result};
use crate::messages::FrameMsg;
use crate::messages::SourceInfo;
use ff::format::Pixel;
use ff::software::scaling;
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};

/// File extensions an annotated video can be written to (H.264 inside), with FFmpeg's muxer.
pub const CONTAINERS: &[(&str, &str)] =
    &[("mp4", "mp4"), ("m4v", "mp4"), ("mov", "mov"), ("mkv", "matroska"), ("avi", "avi"), ("ts", "mpegts")];
/// File extensions an annotated still image can be written to, with FFmpeg's encoder.
pub const IMAGES: &[(&str, &str)] = &[("jpg", "mjpeg"), ("jpeg", "mjpeg"), ("png", "png")];

/// What an output file name asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// H.264 in this muxer.
    Video { muxer: &'static str },
    /// One image with this encoder.
    Image { encoder: &'static str },
}

impl OutputKind {
    /// From the extension of `path`; an extension no supported muxer takes is a usage error
    /// that names the ones that work (`.gif` cannot carry H.264, `.webm` neither).
    pub fn of(path: &Path) -> Result<Self> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
        if let Some((_, muxer)) = CONTAINERS.iter().find(|(e, _)| *e == ext) {
            return Ok(OutputKind::Video { muxer });
        }
        if let Some((_, encoder)) = IMAGES.iter().find(|(e, _)| *e == ext) {
            return Ok(OutputKind::Image { encoder });
        }
        let names = |l: &[(&str, &str)]| l.iter().map(|(e, _)| format!(".{e}")).collect::<Vec<_>>().join(", ");
        Err(Error::Config(format!(
            "--output {}: cannot write a {} file; annotated videos go to {}, a still image's annotation to {}",
            path.display(),
            if ext.is_empty() { "extension-less".to_string() } else { format!(".{ext}") },
            names(CONTAINERS),
            names(IMAGES)
        )))
    }
}

pub struct VideoSink {
    path: PathBuf,
    octx: ff::format::context::Output,
    encoder: ff::encoder::Video,
    scaler: scaling::Context,
    enc_tb: ff::Rational,
    width: u32,
    height: u32,
    pix: Pixel,
    last_pts: Option<i64>,
    finished: bool,
    view: View,
    overlays: bool,
    /// One frame's duration in the encoder time base (0 when the rate is unknown): packets
    /// need it, or MP4's edit list gives the last frame no time and players drop it.
    frame_duration: i64,
    /// The input's audio, copied alongside (no re-encoding) up to the last frame written.
    audio: Option<AudioCopy>,
}

/// The audio streams of the input file, read in step with the video and copied packet by
/// packet into the output's streams 1.. (the video is stream 0): a complete run keeps the
/// sound, and a run stopped early keeps the sound up to the last annotated frame.
struct AudioCopy {
    input: ff::format::context::Input,
    /// (input stream, output stream, input time base).
    map: Vec<(usize, usize, ff::Rational)>,
    /// A packet read past the video written so far, held for the next frame.
    held: Option<(ff::Packet, usize, ff::Rational)>,
    ended: bool,
}

impl AudioCopy {
    /// Opens `input` and adds an output stream for each of its audio streams the muxer can
    /// carry; the ones it cannot are named in one warning.
    fn attach(input: &Path, octx: &mut ff::format::context::Output, out: &Path) -> Option<Self> {
        let src = ff::format::input(&input).ok()?;
        let mut map = Vec::new();
        let mut refused = Vec::new();
        for ist in src.streams().filter(|s| s.parameters().medium() == ff::media::Type::Audio) {
            let id = ist.parameters().id();
            // SAFETY: the output format pointer belongs to `octx`, alive for this call.
            let ok = unsafe { ff::ffi::avformat_query_codec(octx.format().as_ptr(), id.into(), 0) } == 1;
            if !ok {
                refused.push(format!("{id:?}").to_lowercase());
                continue;
            }
            let Ok(mut ost) = octx.add_stream(ff::encoder::find(ff::codec::Id::None)) else { continue };
            ost.set_parameters(ist.parameters());
            // SAFETY: plain field write on the new stream's parameters; a tag from another
            // container would be wrong here, 0 lets the muxer choose.
            unsafe { (*ost.parameters().as_mut_ptr()).codec_tag = 0 };
            map.push((ist.index(), ost.index(), ist.time_base()));
        }
        if !refused.is_empty() {
            tracing::warn!(
                "{}: the input's audio ({}) cannot go into this container; the annotated video is silent (.mkv takes any audio)",
                out.display(),
                refused.join(", ")
            );
        }
        (!map.is_empty()).then_some(Self { input: src, map, held: None, ended: false })
    }

    /// Copies every audio packet that starts before `until_s` seconds.
    fn copy_until(&mut self, until_s: f64, octx: &mut ff::format::context::Output, path: &Path) -> Result<()> {
        loop {
            let (mut pkt, out, itb) = match self.held.take() {
                Some(h) => h,
                None if self.ended => return Ok(()),
                None => {
                    let mut pkt = ff::Packet::empty();
                    match pkt.read(&mut self.input) {
                        Ok(()) => {}
                        Err(ff::Error::Eof) => {
                            self.ended = true;
                            return Ok(());
                        }
                        Err(_) => continue, // a damaged packet: the next one
                    }
                    let Some(&(_, out, itb)) = self.map.iter().find(|(i, _, _)| *i == pkt.stream()) else { continue };
                    (pkt, out, itb)
                }
            };
            let t = pkt.pts().or(pkt.dts()).map(|ts| ts as f64 * f64::from(itb)).unwrap_or(f64::NEG_INFINITY);
            if t >= until_s {
                self.held = Some((pkt, out, itb));
                return Ok(());
            }
            let otb = octx.stream(out).map(|s| s.time_base()).unwrap_or(itb);
            pkt.set_stream(out);
            pkt.set_position(-1);
            pkt.rescale_ts(itb, otb);
            pkt.write_interleaved(octx).map_err(|e| err(path, "write audio packet", e))?;
        }
    }
}

// SAFETY: the sink exclusively owns its FFmpeg muxer, encoder and scaler contexts; it is
// created on one thread and moved once to the sink thread, the only one that uses it.
unsafe impl Send for VideoSink {}

/// JPEG quantiser 2 in FFmpeg's lambda units (FF_QP2LAMBDA = 118).
const JPEG_QUALITY: i32 = 2 * 118;

fn err(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Encode { path: path.into(), reason: format!("{what}: {e}") }
}

impl VideoSink {
    pub fn create(path: &Path, info: &SourceInfo) -> Result<Self> {
        Self::create_as(path, info, None)
    }

    /// `format`: the muxer's name (e.g. "mp4") when the file name does not say it, as for
    /// a temporary `x.mp4.part` that is renamed once complete.
    pub fn create_as(path: &Path, info: &SourceInfo, format: Option<&'static str>) -> Result<Self> {
        Self::create_kind(path, info, format.map(|muxer| OutputKind::Video { muxer }), None)
    }

    /// Writes to `path` what `kind` asks for (from `path`'s extension when None): the
    /// annotated video, or the annotated image of a still input (`image2`, one file).
    /// `audio_from`: the input file whose audio streams a video keeps (stream copy).
    pub fn create_kind(
        path: &Path,
        info: &SourceInfo,
        kind: Option<OutputKind>,
        audio_from: Option<&Path>,
    ) -> Result<Self> {
        let (w, h) = (info.width, info.height);
        let tb = ff::Rational::new(info.time_base.0.max(1), info.time_base.1.max(1));
        let octx = match kind {
            Some(OutputKind::Video { muxer }) => ff::format::output_as(&path, muxer),
            Some(OutputKind::Image { .. }) => ff::format::output_as(&path, "image2"),
            None => ff::format::output(&path),
        };
        let mut octx = octx.map_err(|e| err(path, "cannot create output (unknown container?)", e))?;
        let image = match kind {
            Some(OutputKind::Image { encoder }) => Some(encoder),
            _ => None,
        };
        let codec = match image {
            Some(name) => ff::encoder::find_by_name(name).ok_or_else(|| err(path, "no image encoder", name))?,
            None => ff::encoder::find_by_name("libx264")
                .or_else(|| ff::encoder::find(ff::codec::Id::H264))
                .ok_or_else(|| err(path, "no H.264 encoder", "this FFmpeg build has none"))?,
        };
        let global_header = octx.format().flags().contains(ff::format::Flags::GLOBAL_HEADER);
        let mut ost = octx.add_stream(codec).map_err(|e| err(path, "add stream", e))?;
        let mut enc = ff::codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(|e| err(path, "encoder", e))?;
        // 4:2:0 needs even sizes; odd-sized inputs keep their size in 4:4:4
        let pix = match image {
            Some("png") => Pixel::RGB24,
            Some(_) if w % 2 == 0 && h % 2 == 0 => Pixel::YUVJ420P,
            Some(_) => Pixel::YUVJ444P,
            None if w % 2 == 0 && h % 2 == 0 => Pixel::YUV420P,
            None => Pixel::YUV444P,
        };
        enc.set_width(w);
        enc.set_height(h);
        enc.set_format(pix);
        enc.set_time_base(tb);
        if let Some(fps) = info.fps {
            enc.set_frame_rate(Some(ff::Rational::new((fps * 1000.0).round() as i32, 1000)));
        }
        if global_header {
            enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
        }
        let mut opts = ff::Dictionary::new();
        if image.is_none() {
            opts.set("preset", "veryfast");
            opts.set("crf", "20");
        } else {
            // a fixed quantiser (JPEG q 2, near-lossless) instead of a bit rate meant for video
            enc.set_flags(ff::codec::Flags::QSCALE);
            enc.set_global_quality(JPEG_QUALITY);
        }
        let encoder = enc.open_with(opts).map_err(|e| err(path, "open H.264 encoder", e))?;
        ost.set_parameters(&encoder);
        ost.set_time_base(tb);
        let audio = match (image, audio_from) {
            (None, Some(input)) => AudioCopy::attach(input, &mut octx, path),
            _ => None,
        };
        let mut mux_opts = ff::Dictionary::new();
        if image.is_some() {
            // image2 writes every frame over the one file instead of asking for a %d pattern
            mux_opts.set("update", "1");
        }
        octx.write_header_with(mux_opts).map_err(|e| err(path, "write header", e))?;
        let scaler = scaling::Context::get(Pixel::RGB24, w, h, pix, w, h, scaling::Flags::BILINEAR)
            .map_err(|e| err(path, "colour conversion", e))?;
        Ok(Self {
            path: path.into(),
            octx,
            encoder,
            scaler,
            enc_tb: tb,
            width: w,
            height: h,
            pix,
            last_pts: None,
            finished: false,
            view: View::Filtered,
            overlays: true,
            frame_duration: info
                .fps
                .filter(|f| *f > 0.0)
                .map(|f| ((tb.denominator() as f64) / (f * tb.numerator() as f64)).round().max(1.0) as i64)
                .unwrap_or(0),
            audio,
        })
    }

    /// Frames as they came, without boxes, labels or the status line.
    pub fn without_overlays(mut self) -> Self {
        self.overlays = false;
        self
    }

    fn drain(&mut self) -> Result<()> {
        let ost_tb = self.octx.stream(0).map(|s| s.time_base()).unwrap_or(self.enc_tb);
        let mut pkt = ff::Packet::empty();
        while self.encoder.receive_packet(&mut pkt).is_ok() {
            pkt.set_stream(0);
            if pkt.duration() <= 0 && self.frame_duration > 0 {
                pkt.set_duration(self.frame_duration);
            }
            pkt.rescale_ts(self.enc_tb, ost_tb);
            pkt.write_interleaved(&mut self.octx).map_err(|e| err(&self.path, "write packet", e))?;
        }
        Ok(())
    }

    fn finalise(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        self.encoder.send_eof().map_err(|e| err(&self.path, "flush encoder", e))?;
        self.drain()?;
        if let (Some(a), Some(last)) = (self.audio.as_mut(), self.last_pts) {
            let end = (last + self.frame_duration.max(1)) as f64 * f64::from(self.enc_tb);
            a.copy_until(end, &mut self.octx, &self.path)?;
        }
        self.octx.write_trailer().map_err(|e| err(&self.path, "write trailer", e))
    }
}

impl Sink for VideoSink {
    fn write_frame(&mut self, frame: &FrameMsg, info: &RunInfo) -> Result<SinkStatus> {
        let mut img = (*frame.image).clone();
        if (img.width, img.height) != (self.width, self.height) {
            return Err(err(&self.path, "frame size changed mid-stream", format!("{}x{}", img.width, img.height)));
        }
        if self.overlays {
            let hud = Hud { dropped: frame.meta.dropped_before, ..Default::default() };
            overlay::draw(&mut img, frame, &info.classes, self.view, &hud);
        }
        let mut rgb = ff::frame::Video::new(Pixel::RGB24, self.width, self.height);
        let stride = rgb.stride(0);
        let row = self.width as usize * 3;
        for (y, src) in img.data.chunks(row).enumerate() {
            rgb.data_mut(0)[y * stride..y * stride + row].copy_from_slice(src);
        }
        let mut yuv = ff::frame::Video::new(self.pix, self.width, self.height);
        self.scaler.run(&rgb, &mut yuv).map_err(|e| err(&self.path, "colour conversion", e))?;
        // the input's own timestamp; strictly increasing as encoders require
        let mut pts = frame.meta.pts.unwrap_or(frame.meta.index as i64);
        if let Some(last) = self.last_pts {
            if pts <= last {
                pts = last + 1;
            }
        }
        self.last_pts = Some(pts);
        yuv.set_pts(Some(pts));
        // SAFETY: plain field write on the frame this function owns.
        unsafe { (*yuv.as_mut_ptr()).quality = JPEG_QUALITY };
        self.encoder.send_frame(&yuv).map_err(|e| err(&self.path, "encode", e))?;
        self.drain()?;
        if let Some(a) = self.audio.as_mut() {
            let until = (pts + self.frame_duration) as f64 * f64::from(self.enc_tb);
            a.copy_until(until, &mut self.octx, &self.path)?;
        }
        Ok(SinkStatus::Continue)
    }

    fn finish(&mut self) -> Result<()> {
        self.finalise()
    }
}

impl Drop for VideoSink {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.finalise();
        }
    }
}
