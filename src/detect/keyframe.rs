//! Detection on keyframes, and around the known faces in between.
//!
//! Why: on the CPU, full-frame RetinaFace is the pipeline's bound (99 % busy at 360p), yet
//! from one frame to the next a face moves a few pixels. So the whole frame is searched on
//! keyframes only: every `keyframe_interval` frames, or once `keyframe_max_ms` of video has
//! passed. On the frames between, the detector sees only a square around each face of the
//! frame before, scaled down into a small input of fixed size (`region_input_px`), all of
//! them in one batch. The regions give fresh boxes, landmarks and scores every frame;
//! what they cannot give is a face that was not there before, and that is found at the next
//! keyframe. A face the regions lose (it left, turned away, or moved too far) makes that
//! frame a keyframe at once. On a keyframe, the faces already followed are searched in
//! their regions too and keep those results: RetinaFace's boxes shift with the scale a
//! face is seen at, and a face seen at the frame's scale every sixth frame and at its
//! region's in between would jump at the keyframe rate. A new face is placed by its region
//! at once too, so the whole frame's search only has to find faces: it runs at the
//! coarsest scale `min_face_px` allows (through the INT8 graph where `search_int8` allows),
//! on a scheduled keyframe beside the regions' batch (two sessions, two threads). A
//! stream's first frame is such a keyframe, with no face followed yet: a whole-frame
//! search at the placing scale costs it four times as much (~13 ms of a 640×360 frame),
//! and cameras that start together queued behind each other's (BENCHMARKS.md, issue 26).
//! Photos are searched whole at the placing scale, their boxes being the output.
//! `keyframe_interval = 1` is full detection on every frame, exactly as before.
//!
//! Frames whose detection runs on the compute device (torch on CUDA with device
//! preprocessing) are all keyframes: the frame is uploaded for alignment anyway, and the
//! network there takes microseconds.
use super::onnx_net::OnFirstUse;
use super::{detection_scale, nms, placing_scale, DetectConfig, Detected, Detector};
use crate::assets::manifest::AnchorConfig;
use crate::error::Result;
use crate::imageops::resize::Resampler;
use crate::messages::{iou, Detection, RgbImage};
use std::collections::HashMap;

/// How much shorter than `keyframe_max_ms` a gap between timestamps may come out and still
/// count as that long: rounding, not time (a microsecond).
const TIME_TOLERANCE_MS: f64 = 1e-3;

/// At most this many searches of a new face's region, each cut around the last one's
/// result, until the cut stands still ([`Detector::place`]).
const PLACE_ROUNDS: usize = 4;

/// Where detection stands between keyframes: one per stream. A detector serving several
/// streams (the service's sessions) swaps each stream's in for its frame
/// ([`Detector::swap_schedule`]).
#[derive(Clone, Debug, Default)]
pub struct Schedule {
    /// A keyframe has run since the start or the last reset.
    started: bool,
    /// Frames since the last keyframe.
    since_key: u32,
    key_pts_ms: Option<f64>,
    /// The last frame's faces, in frame pixels: where to look on the next.
    last: Vec<Detection>,
    /// Brings the stream's second keyframe forward by this share of a keyframe period
    /// ([`Self::staggered`]).
    phase: f64,
}

impl Schedule {
    /// The schedule of stream `k` of `n` served by one detector: its keyframes come a
    /// share of a period earlier than the first stream's, so that streams which started
    /// together do not all need a whole-frame search in the same frame period (a burst the
    /// detector cannot clear before the next frames arrive). The shares are 0, 1/n, ..,
    /// (n-1)/n, dealt out in steps of about 0.618 n (the golden ratio's share, coprime with
    /// n), so that neighbours land far apart: neighbours are often close in phase (cameras
    /// opened one after another), and with stream k at k/n the first third of the streams
    /// took every third frame period's keyframes together, in the first third of it
    /// (BENCHMARKS.md, issue 26). The first frame is a keyframe in every stream; only the
    /// cadence after it shifts.
    pub fn staggered(k: usize, n: usize) -> Self {
        let phase = if n > 1 { ((k % n) * stagger_step(n) % n) as f64 / n as f64 } else { 0.0 };
        Self { phase, ..Default::default() }
    }

    /// The faces the next frame is searched for in their regions: a measure of its
    /// detection work, for serving light streams first (`pipeline`'s detect stage).
    pub fn followed(&self) -> usize {
        self.last.len()
    }

    /// A keyframe has run since the start or the last reset.
    pub(super) fn started(&self) -> bool {
        self.started
    }

    pub(super) fn due(&self, cfg: &DetectConfig, pts_ms: Option<f64>) -> bool {
        if !self.started || self.since_key + 1 >= cfg.keyframe_interval {
            return true;
        }
        match (pts_ms, self.key_pts_ms) {
            // time going backwards is a new clip or a seek: start over. Timestamps are
            // sums and products of fractions (frame 5 of 15 fps is 333.33... ms), so exactly
            // keyframe_max_ms apart may come out a rounding error short: without the
            // tolerance such a keyframe slipped a frame (266 ms apart at 15 fps) until it
            // fell on a timestamp that is exact, and every stream's keyframes then locked
            // onto the same ones (multiples of 200 ms), undoing their stagger
            (Some(now), Some(key)) => {
                now < key || (cfg.keyframe_max_ms > 0.0 && now - key >= cfg.keyframe_max_ms - TIME_TOLERANCE_MS)
            }
            _ => false,
        }
    }

    pub(super) fn keyframe(&mut self, cfg: &DetectConfig, pts_ms: Option<f64>, faces: &[Detection]) {
        let (since_key, key_pts_ms) = if !self.started && self.phase > 0.0 {
            let frames = (self.phase * cfg.keyframe_interval as f64) as u32;
            (frames.min(cfg.keyframe_interval.saturating_sub(1)), pts_ms.map(|p| p - self.phase * cfg.keyframe_max_ms))
        } else {
            (0, pts_ms)
        };
        *self = Self { started: true, since_key, key_pts_ms, last: faces.to_vec(), phase: self.phase };
    }

    pub(super) fn between(&mut self, faces: Vec<Detection>) {
        self.since_key += 1;
        self.last = faces;
    }

    /// Moves on by one frame whose faces are not known here (no face lost): a keyframe
    /// when one is due, returning whether it was.
    pub(super) fn advance(&mut self, cfg: &DetectConfig, pts_ms: Option<f64>) -> bool {
        let due = self.due(cfg, pts_ms);
        if due {
            self.keyframe(cfg, pts_ms, &[]);
        } else {
            self.between(Vec::new());
        }
        due
    }
}

/// The step through `n` stagger shares: the number coprime with `n` nearest to the golden
/// ratio's share of it, so that stepping visits every share once and consecutive streams
/// are about 0.618 of a period apart.
fn stagger_step(n: usize) -> usize {
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let target = n as f64 * 0.618_033_988_749_894_8;
    (1..n.max(2))
        .filter(|&m| gcd(m, n) == 1)
        .min_by(|a, b| (*a as f64 - target).abs().total_cmp(&(*b as f64 - target).abs()))
        .unwrap_or(1)
}

/// A square of the frame around one face, clipped to the frame, and its scale into the
/// detector's input (whose top-left it fills; the rest is padding).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Region {
    pub left: u32,
    pub top: u32,
    pub width: u32,
    pub height: u32,
    /// Input pixels per frame pixel, per axis (the input's sides are whole pixels).
    pub scale: [f32; 2],
    /// The region's size in the input.
    pub input: (u32, u32),
    /// The face's longer side in the input, as its last box gives it (px).
    pub face_px: f32,
}

impl Region {
    /// The square of `region_expand` times the face's longer side around `det`, at the
    /// placing scale `placing` or smaller, so that it fits `region_input_px`. None for a box
    /// that is degenerate or outside the frame.
    pub fn around(det: &Detection, frame: (u32, u32), cfg: &DetectConfig, placing: f32) -> Option<Self> {
        let [x1, y1, x2, y2] = det.bbox;
        // in steps of 16 px, so that a face that keeps its size keeps its region's size,
        // and the resampler its tables
        let side = (cfg.region_expand * (x2 - x1).max(y2 - y1) / 16.0).ceil() * 16.0;
        if !side.is_finite() || side < 1.0 {
            return None;
        }
        let (cx, cy) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
        let clip = |v: f32, max: u32| v.clamp(0.0, max as f32) as u32;
        let (left, top) = (clip((cx - side / 2.0).floor(), frame.0), clip((cy - side / 2.0).floor(), frame.1));
        let (right, bottom) = (clip((cx + side / 2.0).ceil(), frame.0), clip((cy + side / 2.0).ceil(), frame.1));
        if right <= left || bottom <= top {
            return None;
        }
        let (width, height) = (right - left, bottom - top);
        // the face at about region_face_px, from the side in steps of 16: a face that keeps
        // its size keeps its input's size
        let by_face =
            if cfg.region_face_px > 0.0 { cfg.region_face_px * cfg.region_expand / side } else { f32::INFINITY };
        let s = placing.min(cfg.region_input_px as f32 / side).min(by_face);
        let max = cfg.region_input_px;
        let input =
            (((width as f32 * s).round() as u32).clamp(1, max), ((height as f32 * s).round() as u32).clamp(1, max));
        let scale = [input.0 as f32 / width as f32, input.1 as f32 / height as f32];
        let face_px = ((x2 - x1) * scale[0]).max((y2 - y1) * scale[1]);
        Some(Self { left, top, width, height, scale, input, face_px })
    }

    /// Writes the region into `canvas`, a `side` x `side` image of `fill` otherwise,
    /// resampled (when it is scaled) by a resampler from `cache`.
    pub fn fill(&self, frame: &RgbImage, side: u32, fill: [u8; 3], canvas: &mut RgbImage, cache: &mut Resamplers) {
        let n = side as usize * side as usize;
        if (canvas.width, canvas.height) != (side, side) {
            *canvas = RgbImage::new(side, side, fill.repeat(n));
        } else {
            canvas.data.chunks_exact_mut(3).for_each(|px| px.copy_from_slice(&fill));
        }
        let scaled = self.input != (self.width, self.height);
        if scaled {
            cache.run(((self.width, self.height), self.input), frame, (self.left, self.top));
        }
        let (src, stride, origin) = if scaled {
            (&cache.out, self.input.0 as usize * 3, (0, 0))
        } else {
            (frame, frame.width as usize * 3, (self.left as usize, self.top as usize))
        };
        let row = self.input.0 as usize * 3;
        for y in 0..self.input.1 as usize {
            let at = (origin.1 + y) * stride + origin.0 * 3;
            let dst = y * side as usize * 3;
            canvas.data[dst..dst + row].copy_from_slice(&src.data[at..at + row]);
        }
    }

    /// A detection in the region's input, in frame pixels.
    pub fn to_frame(&self, mut d: Detection) -> Detection {
        let (ox, oy) = (self.left as f32, self.top as f32);
        let [sx, sy] = self.scale;
        d.bbox = [d.bbox[0] / sx + ox, d.bbox[1] / sy + oy, d.bbox[2] / sx + ox, d.bbox[3] / sy + oy];
        for p in &mut d.landmarks {
            *p = [p[0] / sx + ox, p[1] / sy + oy];
        }
        d
    }
}

/// Resamplers by size pair, most recently used last (a face that keeps its size keeps its
/// region's size), their output, and the one buffer of filtered rows they share: a
/// region's size changes often (its box is clipped at the frame's edges, its side steps
/// with the face), and a buffer per resampler made each new size an mmap of half a
/// megabyte, page faults, and an munmap on eviction. The whole-frame search keeps one too:
/// it meets the coarse and the placing scale, and in a pool, other streams' frame sizes.
#[derive(Default)]
pub struct Resamplers {
    kept: Vec<Resampler>,
    out: RgbImage,
    rows: Vec<f32>,
}

impl Resamplers {
    const KEEP: usize = 16;

    /// The rectangle of `frame` at `origin`, of size `sizes.0`, resampled to `sizes.1`
    /// (kept in `self.out` until the next run).
    pub(super) fn run(&mut self, sizes: ((u32, u32), (u32, u32)), frame: &RgbImage, origin: (u32, u32)) -> &RgbImage {
        match self.kept.iter().position(|r| r.sizes() == sizes) {
            Some(i) => {
                let r = self.kept.remove(i);
                self.kept.push(r);
            }
            None => {
                if self.kept.len() >= Self::KEEP {
                    self.kept.remove(0);
                }
                self.kept.push(Resampler::new(sizes.0, sizes.1));
            }
        }
        let r = self.kept.last().expect("pushed above");
        r.run_at_with(frame, origin, &mut self.out, &mut self.rows);
        &self.out
    }
}

/// The regions' own ONNX Runtime sessions (fewer threads: on inputs this small a second
/// thread mostly costs wake-ups), each built when it first runs, their inputs, resamplers
/// and priors, reused frame to frame. Apart from the whole-frame detector, so that a
/// keyframe runs both side by side.
#[derive(Default)]
pub struct RegionSearch {
    pub(super) net: Option<OnFirstUse>,
    /// The graph without its finest level, for the regions of large faces
    /// (`region_coarse_face_px`).
    coarse: Option<Coarse>,
    inputs: Vec<RgbImage>,
    /// Per filled input: whether it goes through [`Self::coarse`].
    through_coarse: Vec<bool>,
    resamplers: Resamplers,
    priors: HashMap<(u32, u32), Vec<[f32; 4]>>,
    /// Regions searched so far through the whole graph and through the coarse one.
    pub(super) counts: [u64; 2],
}

/// A coarse graph's session, anchors (its levels only) and priors.
struct Coarse {
    net: OnFirstUse,
    anchors: AnchorConfig,
    priors: HashMap<(u32, u32), Vec<[f32; 4]>>,
}

impl RegionSearch {
    pub(super) fn new(net: Option<OnFirstUse>, coarse: Option<(OnFirstUse, AnchorConfig)>) -> Self {
        let coarse = coarse.map(|(net, anchors)| Coarse { net, anchors, priors: HashMap::new() });
        Self { net, coarse, ..Default::default() }
    }

    /// Writes the regions into the first inputs, all of one size (padded with `fill`), and
    /// marks those whose face is large enough for the coarse graph; returns how many.
    fn fill(&mut self, img: &RgbImage, regions: &[Option<Region>], fill: [u8; 3], cfg: &DetectConfig) -> usize {
        let side = batch_side(regions);
        let searched: Vec<&Region> = regions.iter().flatten().collect();
        self.inputs.resize_with(self.inputs.len().max(searched.len()), RgbImage::default);
        for (r, canvas) in searched.iter().zip(self.inputs.iter_mut()) {
            r.fill(img, side, fill, canvas, &mut self.resamplers);
        }
        let coarse = self.coarse.is_some() && cfg.region_coarse_face_px > 0.0;
        self.through_coarse.clear();
        self.through_coarse.extend(searched.iter().map(|r| coarse && r.face_px >= cfg.region_coarse_face_px));
        searched.len()
    }

    /// The first `n` inputs through the regions' own sessions: each input's faces in input
    /// pixels. Only with a session ([`Self::net`]).
    pub(super) fn run(&mut self, n: usize, cfg: &DetectConfig, anchors: &AnchorConfig) -> Result<Vec<Vec<Detection>>> {
        let (inputs, coarse) = (std::mem::take(&mut self.inputs), std::mem::take(&mut self.through_coarse));
        let found = self.run_on(&inputs[..n].iter().collect::<Vec<_>>(), &coarse[..n], cfg, anchors);
        (self.inputs, self.through_coarse) = (inputs, coarse);
        found
    }

    /// Builds the coarse graph's session, where there is one.
    pub(super) fn build_coarse(&mut self) -> Result<()> {
        if let Some(c) = self.coarse.as_mut() {
            c.net.get()?;
        }
        Ok(())
    }

    /// Builds and runs each session once, so that the sessions, their input shapes and
    /// buffers exist before the first frame (a live frame does not wait for a build).
    pub(super) fn warm_up(&mut self, region: &RgbImage, cfg: &DetectConfig, anchors: &AnchorConfig) -> Result<()> {
        self.run_on(&[region], &[false], cfg, anchors)?;
        if self.coarse.is_some() {
            self.run_on(&[region], &[true], cfg, anchors)?;
        }
        Ok(())
    }

    /// `imgs` (all of one size) in at most two batches: those marked in `coarse` through
    /// the coarse graph, the rest through the whole one; results in the order of `imgs`.
    fn run_on(
        &mut self,
        imgs: &[&RgbImage],
        coarse: &[bool],
        cfg: &DetectConfig,
        anchors: &AnchorConfig,
    ) -> Result<Vec<Vec<Detection>>> {
        let Some(net) = self.net.as_mut() else { return Ok(Vec::new()) };
        let mut found = vec![Vec::new(); imgs.len()];
        for through_coarse in [false, true] {
            let picked: Vec<usize> = (0..imgs.len()).filter(|&i| coarse[i] == through_coarse).collect();
            if picked.is_empty() {
                continue;
            }
            let batch: Vec<&RgbImage> = picked.iter().map(|&i| imgs[i]).collect();
            let dets = match self.coarse.as_mut().filter(|_| through_coarse) {
                Some(c) => super::onnx_batch(c.net.get()?, &batch, &mut c.priors, &c.anchors, cfg)?,
                None => super::onnx_batch(net.get()?, &batch, &mut self.priors, anchors, cfg)?,
            };
            self.counts[through_coarse as usize] += picked.len() as u64;
            for (i, d) in picked.into_iter().zip(dets) {
                found[i] = d;
            }
        }
        Ok(found)
    }
}

/// For each of `last`, the face found in its region that overlaps it most (by at least
/// `min_iou`), in frame pixels; None where the region is lost or was not searched.
fn matched(
    last: &[Detection],
    regions: &[Option<Region>],
    searched: Vec<Vec<Detection>>,
    min_iou: f32,
) -> Vec<Option<Detection>> {
    let mut searched = searched.into_iter();
    last.iter()
        .zip(regions)
        .map(|(prev, region)| {
            let (r, dets) = (region.as_ref()?, searched.next()?);
            dets.into_iter()
                .map(|d| r.to_frame(d))
                .map(|d| (iou(&d.bbox, &prev.bbox), d))
                .filter(|(overlap, _)| *overlap >= min_iou)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, d)| d)
        })
        .collect()
}

impl Detector {
    /// The faces of the next frame of a stream: a full detection on keyframes, the regions
    /// around the last faces in between (see the module docs). `independent` frames (photos)
    /// are always keyframes and leave nothing for the next.
    /// `searched`: this frame's whole-frame search, already run ([`super::ahead`]); the same
    /// faces [`Self::search_frame`] would give, used where the frame needs that search.
    pub fn detect_next(
        &mut self,
        img: &RgbImage,
        pts_ms: Option<f64>,
        independent: bool,
        searched: Option<Vec<Detection>>,
    ) -> Result<Detected> {
        // the faces followed are searched in their regions once a frame, keyframe or not
        let follow = self.cfg.keyframe_interval > 1 && self.frame_device().is_none() && !independent;
        // a photo, or every frame with keyframes off: the faces are placed where the whole
        // frame finds them, at the placing scale
        if !follow {
            let found = self.detect_frame(img)?;
            if independent {
                self.schedule = Schedule::default();
            } else {
                self.schedule.keyframe(&self.cfg, pts_ms, &found.faces);
            }
            return Ok(found);
        }
        let searched = searched.map(|faces| Detected { faces, frame: None, keyframe: true });
        // a stream's first frame: a keyframe with no face followed yet
        if !self.schedule.started {
            let found = match searched {
                Some(found) => found,
                None => self.search_frame(img)?,
            };
            return self.keyframe(pts_ms, img, found, Vec::new());
        }
        let due = self.schedule.due(&self.cfg, pts_ms);
        let last = std::mem::take(&mut self.schedule.last);
        if due && self.regions.net.is_some() {
            let (found, near) = match searched {
                Some(found) => (found, self.search_regions(img, &last)?),
                None => self.search_both(img, &last)?,
            };
            return self.keyframe(pts_ms, img, found, near);
        }
        let near = self.search_regions(img, &last)?;
        if !due {
            if let Some(faces) = near.iter().cloned().collect::<Option<Vec<_>>>() {
                let faces = self.finish_regions(faces);
                self.schedule.between(faces.clone());
                return Ok(Detected { faces, frame: None, keyframe: false });
            }
        }
        // a face the regions lost: the whole frame now
        let found = match searched {
            Some(found) => found,
            None => self.search_frame(img)?,
        };
        self.keyframe(pts_ms, img, found, near)
    }

    /// A keyframe's faces: the faces already followed keep the regions' scale on keyframes
    /// too, so their boxes do not jump every keyframe; the whole frame, searched as
    /// coarsely as min_face_px allows, adds the new faces and drops the ones it no longer
    /// finds. A new face is placed by its region at once, as it will be on the frames
    /// after ([`Self::place`]). A face found whose region finds nothing there is left to
    /// the f32 graph on the whole frame at the placing scale: after a coarse or an INT8
    /// search that search runs then (rarely), and what it finds is placed the same way,
    /// keeping that search's box where the region still finds nothing.
    fn keyframe(
        &mut self,
        pts_ms: Option<f64>,
        img: &RgbImage,
        mut found: Detected,
        near: Vec<Option<Detection>>,
    ) -> Result<Detected> {
        let (mut faces, mut new) = (Vec::new(), Vec::new());
        let followed = |f: &Detection| near.iter().flatten().find(|r| iou(&r.bbox, &f.bbox) > 0.5).cloned();
        for f in std::mem::take(&mut found.faces) {
            match followed(&f) {
                Some(r) => faces.push(r),
                None => new.push(f),
            }
        }
        let placed = self.place(img, &new)?;
        let unconfirmed = placed.iter().any(Option::is_none);
        let placing = placing_scale(img.width, img.height, &self.cfg);
        let coarser = detection_scale(img.width, img.height, &self.cfg) < placing;
        if unconfirmed && (coarser || self.finds_int8()) {
            faces.extend(placed.into_iter().flatten());
            let rest: Vec<Detection> = self
                .search_at(img, placing, false)?
                .faces
                .into_iter()
                .filter(|f| followed(f).is_none() && !faces.iter().any(|p| iou(&p.bbox, &f.bbox) > 0.5))
                .collect();
            let placed = self.place(img, &rest)?;
            faces.extend(rest.into_iter().zip(placed).map(|(f, p)| p.unwrap_or(f)));
        } else {
            faces.extend(new.into_iter().zip(placed).map(|(f, p)| p.unwrap_or(f)));
        }
        found.faces = self.finish_regions(faces);
        self.schedule.keyframe(&self.cfg, pts_ms, &found.faces);
        Ok(found)
    }

    /// New faces placed by their regions. Where a region is cut moves its result by a pixel
    /// or more, and a region cut around the box of the search that found the face (coarse,
    /// or through the INT8 graph) would place it where that search saw it. So each region is
    /// cut again around what it found until the cut stands still (at most [`PLACE_ROUNDS`]
    /// searches, all new faces in one batch a round): the face is then where its own region
    /// puts it, which is where the next frame's region looks, and no longer depends on
    /// which search found it. On the bundled clips the output is the same with the INT8
    /// graph finding faces and without it; on generated scenes of several moving faces the
    /// two differ by a few pixels for some frames before they meet (BENCHMARKS.md).
    /// None where a region finds nothing.
    fn place(&mut self, img: &RgbImage, found: &[Detection]) -> Result<Vec<Option<Detection>>> {
        let cut = |r: Option<Region>| r.map(|r| (r.left, r.top, r.width, r.height, r.input));
        let mut cuts: Vec<_> = self.regions_around(img, found).into_iter().map(cut).collect();
        let mut placed = self.search_regions(img, found)?;
        for _ in 1..PLACE_ROUNDS {
            let now: Vec<_> = placed.iter().map(|p| cut(p.as_ref().and_then(|p| self.region_around(img, p)))).collect();
            let moved: Vec<usize> = (0..found.len()).filter(|&i| placed[i].is_some() && now[i] != cuts[i]).collect();
            if moved.is_empty() {
                break;
            }
            let seeds: Vec<Detection> = moved.iter().filter_map(|&i| placed[i].clone()).collect();
            for (&i, again) in moved.iter().zip(self.search_regions(img, &seeds)?) {
                cuts[i] = now[i];
                // lost when cut again (at the edge of what a region finds): kept where it was
                if again.is_some() {
                    placed[i] = again;
                }
            }
        }
        Ok(placed)
    }

    /// A scheduled keyframe: the whole frame's search and the regions' run side by side, on
    /// two threads (two sessions), instead of one after the other. The results are the
    /// same as in turn.
    fn search_both(&mut self, img: &RgbImage, last: &[Detection]) -> Result<(Detected, Vec<Option<Detection>>)> {
        let regions = self.regions_around(img, last);
        let n = self.regions.fill(img, &regions, self.fill_rgb, &self.cfg);
        let mut near = std::mem::take(&mut self.regions);
        let (cfg, anchors) = (self.cfg.clone(), self.anchors.clone());
        let (searched, found) = crate::runtime::side_by_side(|| near.run(n, &cfg, &anchors), || self.search_frame(img));
        self.regions = near;
        let searched = searched?;
        Ok((found?, matched(last, &regions, searched, self.cfg.region_min_iou)))
    }

    /// Regions searched so far through the whole graph and through the coarse one
    /// (`region_coarse_face_px`), warm-up included.
    pub fn region_counts(&self) -> [u64; 2] {
        self.regions.counts
    }

    /// Which of the regions' sessions (the whole graph, the coarse one) have been built:
    /// each is built the first time a region needs it.
    pub fn region_sessions_built(&self) -> [bool; 2] {
        let r = &self.regions;
        [r.net.as_ref().is_some_and(|n| n.built()), r.coarse.as_ref().is_some_and(|c| c.net.built())]
    }

    /// Whether keyframes' whole-frame searches can run ahead of this detector
    /// ([`super::ahead`]): it follows faces between keyframes, with a regions' session of
    /// its own beside the whole frame's, on the host.
    pub fn searches_ahead(&self) -> bool {
        self.cfg.search_ahead
            && self.cfg.keyframe_interval > 1
            && self.regions.net.is_some()
            && self.frame_device().is_none()
    }

    /// Forgets the faces being followed: the next frame is a keyframe (a new stream).
    pub fn reset_schedule(&mut self) {
        self.schedule = Schedule::default();
    }

    /// Exchanges the detector's schedule with `other`: another stream's faces to follow.
    pub fn swap_schedule(&mut self, other: &mut Schedule) {
        std::mem::swap(&mut self.schedule, other);
    }

    /// Each of `last` searched in its region, all regions in one batch: the face there that
    /// overlaps its last box most (by at least `region_min_iou`), or None where it is lost.
    fn search_regions(&mut self, img: &RgbImage, last: &[Detection]) -> Result<Vec<Option<Detection>>> {
        if last.is_empty() {
            return Ok(Vec::new());
        }
        let regions = self.regions_around(img, last);
        let n = self.regions.fill(img, &regions, self.fill_rgb, &self.cfg);
        let searched = if self.regions.net.is_some() {
            self.regions.run(n, &self.cfg, &self.anchors)
        } else {
            // no session of their own (the torch engine): the whole-frame detector's, in one batch
            let inputs = std::mem::take(&mut self.regions.inputs);
            let searched = self.detect_batch(&inputs[..n].iter().collect::<Vec<_>>());
            self.regions.inputs = inputs;
            searched
        };
        Ok(matched(last, &regions, searched?, self.cfg.region_min_iou))
    }

    /// The region around each of `last`, never finer than faces are placed on a whole frame.
    fn regions_around(&self, img: &RgbImage, last: &[Detection]) -> Vec<Option<Region>> {
        last.iter().map(|d| self.region_around(img, d)).collect()
    }

    fn region_around(&self, img: &RgbImage, d: &Detection) -> Option<Region> {
        Region::around(d, (img.width, img.height), &self.cfg, placing_scale(img.width, img.height, &self.cfg))
    }

    /// A frame's faces as detection leaves them: overlaps suppressed (two faces' regions
    /// can find the same face), best first (as `nms` orders them), then the faces wanted.
    fn finish_regions(&self, faces: Vec<Detection>) -> Vec<Detection> {
        let mut faces = self.suppress(faces);
        self.keep_wanted(&mut faces);
        faces
    }

    /// Overlaps suppressed, best first.
    fn suppress(&self, faces: Vec<Detection>) -> Vec<Detection> {
        let boxes: Vec<[f32; 4]> = faces.iter().map(|d| d.bbox).collect();
        let scores: Vec<f32> = faces.iter().map(|d| d.score).collect();
        nms::nms(&boxes, &scores, self.cfg.nms_iou).into_iter().map(|k| faces[k].clone()).collect()
    }
}

/// One input size for a batch of regions: the largest region's, in steps of the network's
/// finest stride (8). RetinaFace takes any side (a 640×360 frame is no multiple of 32
/// either; the priors round up as its strided convolutions do), and steps of 32 padded a
/// 133 px region to 160: 45 % more pixels, measured 20 % slower (BENCHMARKS.md, issue 25).
fn batch_side(regions: &[Option<Region>]) -> u32 {
    let largest = regions.iter().flatten().map(|r| r.input.0.max(r.input.1)).max().unwrap_or(1);
    largest.div_ceil(8) * 8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(bbox: [f32; 4]) -> Detection {
        Detection { bbox, landmarks: [[0.0; 2]; 5], score: 0.9 }
    }

    #[test]
    fn a_region_is_the_expanded_square_clipped_and_scaled_to_fit() {
        let cfg = DetectConfig { region_expand: 2.0, region_input_px: 128, ..Default::default() };
        // a 100 px face in the middle of 640x360: a 200 px square (208 in steps of 16),
        // scaled by 128/208
        let r = Region::around(&det([270.0, 130.0, 370.0, 230.0]), (640, 360), &cfg, 1.0).unwrap();
        assert_eq!((r.left, r.top, r.width, r.height), (216, 76, 208, 208));
        assert_eq!(r.input, (128, 128));
        // near the corner the square is clipped, the scale stays
        let r = Region::around(&det([0.0, 0.0, 100.0, 100.0]), (640, 360), &cfg, 1.0).unwrap();
        assert_eq!((r.left, r.top, r.width, r.height), (0, 0, 154, 154));
        assert_eq!(r.input, (95, 95));
        // a small face is never searched finer than the placing scale
        let r = Region::around(&det([100.0, 100.0, 120.0, 120.0]), (1920, 1080), &cfg, 1.0 / 3.0).unwrap();
        assert_eq!((r.width, r.input), (48, (16, 16)));
        assert!(Region::around(&det([700.0, 0.0, 800.0, 10.0]), (640, 360), &cfg, 1.0).is_none());
        assert!(Region::around(&det([f32::NAN, 0.0, 1.0, 1.0]), (640, 360), &cfg, 1.0).is_none());
    }

    #[test]
    fn a_large_face_is_searched_at_about_region_face_px() {
        // a 300 px face: a 464 px square (450 in steps of 16); 192 / 464 would show the face
        // at 124 px, region_face_px at 96 (144 / 464 of the square)
        let d = det([400.0, 200.0, 700.0, 500.0]);
        let r = Region::around(&d, (1280, 720), &DetectConfig::default(), 1.0).unwrap();
        assert_eq!((r.width, r.input), (464, (144, 144)));
        assert!((300.0 * r.scale[0] - 93.1).abs() < 0.1, "{:?}", r.scale);
        assert!((r.face_px - 93.1).abs() < 0.1, "the face's side in the input: {}", r.face_px);
        let off = DetectConfig { region_face_px: 0.0, ..Default::default() };
        assert_eq!(Region::around(&d, (1280, 720), &off, 1.0).unwrap().input, (192, 192));
    }

    #[test]
    fn a_detection_in_a_region_maps_back_to_the_frame() {
        let cfg = DetectConfig { region_expand: 2.0, region_input_px: 128, ..Default::default() };
        // a 32 px face: a 64 px region at scale 1, from (84, 84)
        let r = Region::around(&det([100.0, 100.0, 132.0, 132.0]), (640, 360), &cfg, 1.0).unwrap();
        assert_eq!((r.left, r.top, r.scale), (84, 84, [1.0, 1.0]));
        let mut d = det([16.0, 16.0, 48.0, 48.0]);
        d.landmarks[0] = [20.0, 30.0];
        let f = r.to_frame(d);
        assert_eq!(f.bbox, [100.0, 100.0, 132.0, 132.0]);
        assert_eq!(f.landmarks[0], [104.0, 114.0]);
        // a 100 px face: scaled by 128/208, and back
        let r = Region::around(&det([270.0, 130.0, 370.0, 230.0]), (640, 360), &cfg, 1.0).unwrap();
        let f = r.to_frame(det([0.0, 0.0, 64.0, 128.0]));
        let near = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-3);
        assert!(near(&f.bbox, &[216.0, 76.0, 216.0 + 104.0, 76.0 + 208.0]), "{:?}", f.bbox);
    }

    #[test]
    fn a_region_fills_the_top_left_of_a_padded_input() {
        let cfg = DetectConfig { region_expand: 2.0, region_input_px: 64, ..Default::default() };
        let frame = RgbImage::new(64, 64, [200u8, 100, 50].repeat(64 * 64));
        let mut cache = Resamplers::default();
        for (face, input) in [([16.0, 16.0, 48.0, 48.0], 64), ([0.0, 0.0, 64.0, 64.0], 64)] {
            // at scale 1, and scaled (a 128 px region of which 64 px lie in the frame, by 1/2)
            let r = Region::around(&det(face), (64, 64), &cfg, 1.0).unwrap();
            let input = if r.scale[0] < 1.0 { input / 2 } else { input };
            let mut canvas = RgbImage::default();
            r.fill(&frame, 128, [1, 2, 3], &mut canvas, &mut cache);
            assert_eq!((canvas.width, canvas.height), (128, 128));
            assert_eq!(r.input, (input, input));
            let px = |x: u32, y: u32| &canvas.data[((y * 128 + x) * 3) as usize..((y * 128 + x) * 3 + 3) as usize];
            assert_eq!(px(0, 0), &[200, 100, 50]);
            assert_eq!(px(input - 1, input - 1), &[200, 100, 50]);
            assert_eq!(px(input, 0), &[1, 2, 3]);
            assert_eq!(px(0, input), &[1, 2, 3]);
        }
    }

    #[test]
    fn keyframes_come_by_count_by_time_and_when_time_runs_back() {
        let cfg = DetectConfig { keyframe_interval: 3, keyframe_max_ms: 100.0, ..Default::default() };
        let mut s = Schedule::default();
        assert!(s.due(&cfg, Some(0.0)), "the first frame");
        s.keyframe(&cfg, Some(0.0), &[]);
        assert!(!s.due(&cfg, Some(10.0)));
        s.between(Vec::new());
        assert!(!s.due(&cfg, Some(20.0)));
        s.between(Vec::new());
        assert!(s.due(&cfg, Some(30.0)), "the third frame after a keyframe");
        s.keyframe(&cfg, Some(30.0), &[]);
        assert!(s.due(&cfg, Some(130.0)), "100 ms of video");
        assert!(s.due(&cfg, Some(5.0)), "time ran back");
        assert!(!s.due(&cfg, None), "no timestamps: frames only");
        let every = DetectConfig { keyframe_interval: 1, ..Default::default() };
        assert!(s.due(&every, Some(31.0)));
    }

    /// The frames at which `s` makes keyframes over `frames` frames of `fps`.
    fn keyframes(mut s: Schedule, cfg: &DetectConfig, fps: f64, frames: u32) -> Vec<u32> {
        (0..frames).filter(|&i| s.advance(cfg, Some(i as f64 * 1000.0 / fps))).collect()
    }

    #[test]
    fn keyframes_stay_keyframe_max_ms_apart_whatever_the_rounding() {
        // 15 fps: 200 ms is 3 frames; with a stagger's phase the gap between timestamps
        // comes out a rounding error under 200 ms, and the keyframe used to slip a frame
        let cfg = DetectConfig { keyframe_interval: 6, keyframe_max_ms: 200.0, ..Default::default() };
        for k in 0..7 {
            let keys = keyframes(Schedule::staggered(k, 7), &cfg, 15.0, 600);
            let gaps: Vec<u32> = keys.windows(2).skip(1).map(|w| w[1] - w[0]).collect();
            assert!(gaps.iter().all(|&g| g == 3), "stream {k}: gaps {gaps:?}");
        }
    }

    #[test]
    fn staggered_streams_spread_their_keyframes() {
        // 15 fps, a keyframe every 200 ms (3 frames): after the first frame, each frame
        // period takes an even share of the streams' keyframes, and neighbouring streams
        // (often close in phase) never share theirs
        let cfg = DetectConfig { keyframe_interval: 6, keyframe_max_ms: 200.0, ..Default::default() };
        for n in [2usize, 3, 4, 7, 26] {
            let keys: Vec<Vec<u32>> = (0..n).map(|k| keyframes(Schedule::staggered(k, n), &cfg, 15.0, 90)).collect();
            let mut per_slot = [0usize; 3];
            for k in &keys {
                assert_eq!(k[0], 0, "the first frame is a keyframe in every stream");
                let slots: Vec<u32> = k[1..].iter().map(|f| f % 3).collect();
                assert!(slots.windows(2).all(|w| w[0] == w[1]), "one slot a stream: {k:?}");
                per_slot[slots[0] as usize] += 1;
            }
            let (lo, hi) = (per_slot.iter().min().unwrap(), per_slot.iter().max().unwrap());
            assert!(hi - lo <= 1, "{n} streams: keyframes per frame period {per_slot:?}");
            for w in keys.windows(2) {
                assert_ne!(w[0][1] % 3, w[1][1] % 3, "{n} streams: neighbours share their keyframes");
            }
        }
        // by count alone: a phase of 1/2 of 6 frames brings the second keyframe 3 frames early
        let count = DetectConfig { keyframe_interval: 6, keyframe_max_ms: 0.0, ..Default::default() };
        assert_eq!(keyframes(Schedule::staggered(1, 2), &count, 15.0, 16), [0, 3, 9, 15]);
        assert_eq!(keyframes(Schedule::staggered(0, 2), &count, 15.0, 16), [0, 6, 12]);
    }
}
