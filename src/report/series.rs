//! A track's values over time, cut to at most `max_points` for drawing: consecutive faces
//! fall into equal bins, a bin shows their means, its most frequent labels and the label
//! changes inside it, and names the frames it covers, so a hover can say what it stands
//! for. Short tracks are drawn face by face (one face a bin). Only drawing is binned; the
//! numbers beside the charts come from every face (`batch::summary`).
use crate::sink::read::{FaceRow, Results};
use serde::{Serialize, Serializer};

/// A value as the page needs it: rounded to 4 decimals (null when absent), which keeps an
/// hour of five people in a few megabytes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct V(pub Option<f32>);

impl Serialize for V {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.filter(|x| x.is_finite()) {
            Some(x) => s.serialize_f32(((x as f64 * 1e4).round() / 1e4) as f32),
            None => s.serialize_none(),
        }
    }
}

/// Means of an optional value over a bin.
#[derive(Default)]
struct Mean(f64, u32);

impl Mean {
    fn add(&mut self, x: Option<f32>) {
        if let Some(x) = x.filter(|x| x.is_finite()) {
            self.0 += x as f64;
            self.1 += 1;
        }
    }
    fn get(&self) -> V {
        V((self.1 > 0).then(|| (self.0 / self.1 as f64) as f32))
    }
}

/// The time axis: seconds of a face from its timestamp, else its frame at the estimated
/// rate; or frame numbers when the results have no time span (a folder of photos, whose
/// timestamps are all 0, or no timestamps at all).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub fps: Option<f64>,
    pub by_frame: bool,
}

impl Clock {
    pub fn seconds(&self, frame: u64, pts_ms: Option<f64>) -> f64 {
        match (self.by_frame, pts_ms, self.fps) {
            (true, _, _) => frame as f64,
            (false, Some(p), _) => p / 1e3,
            (false, None, Some(fps)) => frame as f64 / fps,
            (false, None, None) => frame as f64,
        }
    }
}

/// What every binned series has: the frames each bin covers and its time.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Bins {
    /// First and last frame of each bin.
    pub f0: Vec<u64>,
    pub f1: Vec<u64>,
    /// Mean time of the bin's entries (seconds, or frames on a frame clock).
    pub t: Vec<V>,
}

impl Bins {
    /// Items per bin for `len` items in at most `max_points` bins.
    fn per(len: usize, max_points: usize) -> usize {
        len.div_ceil(max_points.max(1)).max(1)
    }

    fn push(&mut self, first: u64, last: u64, mean_t: f64) {
        self.f0.push(first);
        self.f1.push(last);
        self.t.push(V(Some(mean_t as f32)));
    }
}

/// The series of one track; every vector has one entry per bin.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TrackSeries {
    #[serde(flatten)]
    pub bins: Bins,
    /// Faces in the bin.
    pub n: Vec<u32>,
    /// Filtered class probabilities, one vector per class.
    pub p: Vec<Vec<V>>,
    /// The most frequent raw and filtered label (class index) of the bin.
    pub raw_top: Vec<Option<u16>>,
    pub filt_top: Vec<Option<u16>>,
    /// Label changes from each face to the next, inside the bin and into it.
    pub raw_flips: Vec<u32>,
    pub filt_flips: Vec<u32>,
    /// Filtered valence/arousal and their standard deviations, and the raw ones.
    pub v: Vec<V>,
    pub v_sd: Vec<V>,
    pub a: Vec<V>,
    pub a_sd: Vec<V>,
    pub rv: Vec<V>,
    pub ra: Vec<V>,
    pub face_px: Vec<V>,
    pub blur: Vec<V>,
    pub yaw: Vec<V>,
    pub pitch: Vec<V>,
    pub roll: Vec<V>,
    pub quality: Vec<V>,
    pub confidence: Vec<V>,
    /// Ensemble disagreement; empty when the run had no ensemble.
    pub disagreement: Vec<V>,
    /// Share of the bin's faces below the low-quality threshold.
    pub low: Vec<V>,
}

/// Most frequent of `labels` (the smallest index on ties).
fn mode(labels: impl Iterator<Item = u16>, n: usize) -> Option<u16> {
    let mut counts = vec![0u32; n];
    for l in labels {
        if let Some(c) = counts.get_mut(l as usize) {
            *c += 1;
        }
    }
    let (i, c) = counts.iter().enumerate().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))?;
    (*c > 0).then_some(i as u16)
}

/// Bins `faces` (indices into `r.faces`, in frame order) into at most `max_points`.
pub fn track_series(r: &Results, faces: &[usize], clock: Clock, max_points: usize, low_quality: f32) -> TrackSeries {
    let k = r.classes.len();
    let nl = r.labels.len();
    let per = Bins::per(faces.len(), max_points);
    let mut s = TrackSeries { p: vec![Vec::new(); k], ..Default::default() };
    let has_disagreement = faces.iter().any(|&i| r.faces[i].disagreement.is_some());
    let (mut last_raw, mut last_filt) = (None, None);
    for chunk in faces.chunks(per) {
        let rows: Vec<&FaceRow> = chunk.iter().map(|&i| &r.faces[i]).collect();
        // summed in f64: an hour of milliseconds is beyond f32's exact range
        let tm = rows.iter().map(|f| clock.seconds(f.frame, f.pts_ms)).sum::<f64>() / rows.len() as f64;
        s.bins.push(rows[0].frame, rows[rows.len() - 1].frame, tm);
        s.n.push(rows.len() as u32);
        for (c, out) in s.p.iter_mut().enumerate() {
            let mut m = Mean::default();
            for &i in chunk {
                m.add(Some(r.filtered_probs(i)[c]));
            }
            out.push(m.get());
        }
        s.raw_top.push(mode(rows.iter().filter_map(|f| f.label), nl));
        s.filt_top.push(mode(rows.iter().filter_map(|f| f.filtered_label), nl));
        let flips = |get: fn(&FaceRow) -> Option<u16>, last: &mut Option<u16>| {
            let mut n = 0;
            for f in &rows {
                if let Some(l) = get(f) {
                    if last.is_some_and(|p| p != l) {
                        n += 1;
                    }
                    *last = Some(l);
                }
            }
            n
        };
        s.raw_flips.push(flips(|f| f.label, &mut last_raw));
        s.filt_flips.push(flips(|f| f.filtered_label, &mut last_filt));
        let mean = |get: fn(&FaceRow) -> Option<f32>| {
            let mut m = Mean::default();
            rows.iter().for_each(|f| m.add(get(f)));
            m.get()
        };
        s.v.push(mean(|f| f.filtered_valence));
        s.v_sd.push(mean(|f| f.filtered_valence_std));
        s.a.push(mean(|f| f.filtered_arousal));
        s.a_sd.push(mean(|f| f.filtered_arousal_std));
        s.rv.push(mean(|f| f.valence));
        s.ra.push(mean(|f| f.arousal));
        s.face_px.push(mean(|f| f.face_px));
        s.blur.push(mean(|f| f.blur));
        s.yaw.push(mean(|f| f.yaw_deg));
        s.pitch.push(mean(|f| f.pitch_deg));
        s.roll.push(mean(|f| f.roll_deg));
        s.quality.push(mean(|f| f.quality));
        s.confidence.push(mean(|f| f.confidence));
        if has_disagreement {
            s.disagreement.push(mean(|f| f.disagreement));
        }
        let rated: Vec<f32> = rows.iter().filter_map(|f| f.quality).collect();
        let low = rated.iter().filter(|&&q| q < low_quality).count();
        s.low.push(V((!rated.is_empty()).then(|| low as f32 / rated.len() as f32)));
    }
    s
}

/// Faces per frame over time, binned like a track: the mean and the most in each bin.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FaceCounts {
    #[serde(flatten)]
    pub bins: Bins,
    pub mean: Vec<V>,
    pub max: Vec<u32>,
}

/// `frames` as (frame, seconds, faces), in order, binned to at most `max_points`.
pub fn face_counts(frames: &[(u64, f64, u32)], max_points: usize) -> FaceCounts {
    let mut c = FaceCounts::default();
    for chunk in frames.chunks(Bins::per(frames.len(), max_points)) {
        let tm = chunk.iter().map(|f| f.1).sum::<f64>() / chunk.len() as f64;
        c.bins.push(chunk[0].0, chunk[chunk.len() - 1].0, tm);
        c.mean.push(V(Some(chunk.iter().map(|f| f.2 as f32).sum::<f32>() / chunk.len() as f32)));
        c.max.push(chunk.iter().map(|f| f.2).max().unwrap_or(0));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_for_the_page_and_modes_break_ties_low() {
        assert_eq!(serde_json::to_string(&V(Some(0.123456))).unwrap(), "0.1235");
        assert_eq!(serde_json::to_string(&V(Some(f32::NAN))).unwrap(), "null");
        assert_eq!(mode([2u16, 1, 2, 1].into_iter(), 3), Some(1));
        assert_eq!(mode(std::iter::empty(), 3), None);
        let frames: Vec<(u64, f64, u32)> = (0..10).map(|i| (i, i as f64 / 10.0, (i % 3) as u32)).collect();
        let c = face_counts(&frames, 4);
        assert_eq!(c.bins.f0, [0, 3, 6, 9], "bins of 3 frames, the last one short");
        assert_eq!(serde_json::to_value(&c).unwrap()["f0"][1], 3, "the bins flattened into the page's object");
        assert_eq!(c.max, [2, 2, 2, 0]);
    }
}
