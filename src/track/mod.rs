//! Track ids that follow a person through a video. Each frame's faces are matched to live
//! tracks by optimal assignment (Hungarian) on a cost mixing box overlap and landmark
//! distance; a face nobody claims starts a new track with a fresh id (ids are never
//! reused); a track unseen for longer than `max_gap_s` of video time ends, with an event.
//! Tracks still alive when the input ends (or when frames are declared independent, as
//! for a folder of photos) are ended by [`Tracker::end_all`], with the same event.
pub mod hungarian;

use crate::messages::iou;
use crate::messages::{Detection, TrackEvent};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackConfig {
    /// A track not seen for longer than this (seconds of video time) ends.
    pub max_gap_s: f64,
    /// Largest mean landmark displacement, in face sizes (sqrt of box area), for a match.
    pub max_landmark_dist: f32,
    /// Weight of the landmark distance against 1 - IoU in the matching cost.
    pub landmark_weight: f32,
}

impl Default for TrackConfig {
    fn default() -> Self {
        Self { max_gap_s: 1.0, max_landmark_dist: 0.8, landmark_weight: 1.0 }
    }
}

#[derive(Clone, Debug)]
struct Track {
    id: u64,
    bbox: [f32; 4],
    landmarks: [[f32; 2]; 5],
    first_frame: u64,
    last_frame: u64,
    last_t: f64,
    frames_seen: u64,
}

#[derive(Debug)]
pub struct Tracker {
    cfg: TrackConfig,
    next_id: u64,
    tracks: Vec<Track>,
}

/// Mean landmark displacement between a track and a detection, in face sizes.
fn landmark_distance(a: &[[f32; 2]; 5], b: &[[f32; 2]; 5], bbox: &[f32; 4]) -> f32 {
    let size = ((bbox[2] - bbox[0]).max(1.0) * (bbox[3] - bbox[1]).max(1.0)).sqrt();
    a.iter().zip(b).map(|(p, q)| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt()).sum::<f32>() / 5.0 / size
}

impl Tracker {
    pub fn new(cfg: TrackConfig) -> Self {
        Self { cfg, next_id: 1, tracks: Vec::new() }
    }

    /// Ends every live track (the input ended, or the next frame is unrelated to this one):
    /// their end events, in id order. Ids are not reused afterwards.
    pub fn end_all(&mut self) -> Vec<TrackEvent> {
        self.tracks
            .drain(..)
            .map(|t| TrackEvent::End {
                track_id: t.id,
                first_frame: t.first_frame,
                last_frame: t.last_frame,
                last_pts_ms: t.last_t * 1e3,
                frames_seen: t.frames_seen,
            })
            .collect()
    }

    /// Assigns a track id to each detection of the frame at `t_s` seconds; returns the ids
    /// (in detection order) and the tracks started and ended at this frame.
    pub fn step(&mut self, frame: u64, t_s: f64, dets: &[Detection]) -> (Vec<u64>, Vec<TrackEvent>) {
        let mut events = Vec::new();
        let max_gap = self.cfg.max_gap_s;
        self.tracks.retain(|t| {
            let alive = t_s - t.last_t <= max_gap;
            if !alive {
                events.push(TrackEvent::End {
                    track_id: t.id,
                    first_frame: t.first_frame,
                    last_frame: t.last_frame,
                    last_pts_ms: t.last_t * 1e3,
                    frames_seen: t.frames_seen,
                });
            }
            alive
        });
        const FORBIDDEN: f64 = 1e6;
        let cost: Vec<Vec<f64>> = self
            .tracks
            .iter()
            .map(|t| {
                dets.iter()
                    .map(|d| {
                        let ld = landmark_distance(&t.landmarks, &d.landmarks, &d.bbox);
                        if ld > self.cfg.max_landmark_dist {
                            FORBIDDEN
                        } else {
                            (1.0 - iou(&t.bbox, &d.bbox) + self.cfg.landmark_weight * ld) as f64
                        }
                    })
                    .collect()
            })
            .collect();
        let assignment = hungarian::assign(&cost);
        let mut ids = vec![0u64; dets.len()];
        let mut taken = vec![false; dets.len()];
        for (ti, a) in assignment.iter().enumerate() {
            if let Some(di) = *a {
                if cost[ti][di] < FORBIDDEN {
                    let (t, d) = (&mut self.tracks[ti], &dets[di]);
                    t.bbox = d.bbox;
                    t.landmarks = d.landmarks;
                    t.last_frame = frame;
                    t.last_t = t_s;
                    t.frames_seen += 1;
                    ids[di] = t.id;
                    taken[di] = true;
                }
            }
        }
        for (di, d) in dets.iter().enumerate().filter(|(i, _)| !taken[*i]) {
            let id = self.next_id;
            self.next_id += 1;
            self.tracks.push(Track {
                id,
                bbox: d.bbox,
                landmarks: d.landmarks,
                first_frame: frame,
                last_frame: frame,
                last_t: t_s,
                frames_seen: 1,
            });
            ids[di] = id;
            events.push(TrackEvent::Start { track_id: id, frame });
        }
        (ids, events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, s: f32) -> Detection {
        let lm =
            [[0.34, 0.46], [0.66, 0.46], [0.5, 0.64], [0.37, 0.82], [0.63, 0.82]].map(|p| [x + p[0] * s, y + p[1] * s]);
        Detection { bbox: [x, y, x + s, y + s], landmarks: lm, score: 0.99 }
    }

    #[test]
    fn ids_follow_moving_faces_and_are_never_reused() {
        let mut tr = Tracker::new(TrackConfig::default());
        let (ids0, ev0) = tr.step(0, 0.0, &[face(0.0, 0.0, 100.0), face(300.0, 0.0, 100.0)]);
        assert_eq!(ids0, [1, 2]);
        assert_eq!(ev0.len(), 2);
        // both move right by 10 px, listed in the other order
        let (ids1, ev1) = tr.step(1, 0.04, &[face(310.0, 0.0, 100.0), face(10.0, 0.0, 100.0)]);
        assert_eq!(ids1, [2, 1]);
        assert!(ev1.is_empty());
        // track 1 disappears for longer than the gap: it ends; a face at its place is new
        let (_, ev2) = tr.step(2, 0.5, &[face(320.0, 0.0, 100.0)]);
        assert!(ev2.is_empty(), "still within the gap: {ev2:?}");
        let (ids3, ev3) = tr.step(3, 1.45, &[face(320.0, 0.0, 100.0), face(10.0, 0.0, 100.0)]);
        assert_eq!(ids3, [2, 3]);
        assert!(ev3.contains(&TrackEvent::End {
            track_id: 1,
            first_frame: 0,
            last_frame: 1,
            last_pts_ms: 40.0,
            frames_seen: 2
        }));
        assert!(ev3.contains(&TrackEvent::Start { track_id: 3, frame: 3 }));
    }

    #[test]
    fn a_face_survives_a_short_gap() {
        let mut tr = Tracker::new(TrackConfig::default());
        tr.step(0, 0.0, &[face(0.0, 0.0, 100.0)]);
        tr.step(1, 0.1, &[]);
        let (ids, ev) = tr.step(2, 0.9, &[face(20.0, 5.0, 100.0)]);
        assert_eq!(ids, [1]);
        assert!(ev.is_empty());
    }

    #[test]
    fn crossing_faces_use_optimal_assignment() {
        let mut tr = Tracker::new(TrackConfig::default());
        tr.step(0, 0.0, &[face(0.0, 0.0, 100.0), face(90.0, 0.0, 100.0)]);
        // a greedy match would hand detection 0 to track 2 (closer box overlap) and strand 1
        let (ids, _) = tr.step(1, 0.04, &[face(40.0, 0.0, 100.0), face(130.0, 0.0, 100.0)]);
        assert_eq!(ids, [1, 2]);
    }

    #[test]
    fn far_jumps_are_not_matched() {
        let mut tr = Tracker::new(TrackConfig::default());
        tr.step(0, 0.0, &[face(0.0, 0.0, 50.0)]);
        let (ids, _) = tr.step(1, 0.04, &[face(500.0, 300.0, 50.0)]);
        assert_eq!(ids, [2]);
    }
}
