//! Network streams: anything FFmpeg opens by URL (rtsp, rtmp, srt, udp, http, hls). Why
//! special: a network read can block forever (a camera that went away, a sender that never
//! started), so every open and read has a time limit; RTSP goes over TCP by default (UDP
//! transport loses packets on real networks and through NAT); and a live stream that drops
//! can be reopened without ending the run ([`Reconnecting`]).
use super::{FrameSource, SourceInfo, SourceSummary, VideoSource};
use crate::error::{Error, Result};
use crate::messages::FrameMsg;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// True for inputs that name a URL rather than a file (`scheme://...`, not `file:`).
pub fn is_url(input: &str) -> bool {
    match input.split_once("://") {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme != "file"
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.')
        }
        None => false,
    }
}

/// How network inputs are opened and kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Longest an open or a read may wait for data, in seconds.
    pub timeout_s: f64,
    /// RTSP over TCP (interleaved) instead of UDP.
    pub rtsp_tcp: bool,
    /// Live sources: how many times a lost stream is reopened before the run ends (0 = never).
    pub reconnect_attempts: u32,
    /// First wait before reopening, doubled after each failed attempt up to `reconnect_max_s`.
    pub reconnect_initial_s: f64,
    pub reconnect_max_s: f64,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self { timeout_s: 10.0, rtsp_tcp: true, reconnect_attempts: 0, reconnect_initial_s: 0.5, reconnect_max_s: 8.0 }
    }
}

impl NetworkConfig {
    /// FFmpeg options for opening `url` (times in microseconds, as FFmpeg wants them).
    pub fn ffmpeg_options(&self, url: &str) -> Vec<(&'static str, String)> {
        let us = ((self.timeout_s.max(0.001)) * 1e6).round() as u64;
        let mut o = vec![("rw_timeout", us.to_string())];
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase()).unwrap_or_default();
        match scheme.as_str() {
            "rtsp" | "rtsps" => {
                o.push(("timeout", us.to_string()));
                if self.rtsp_tcp {
                    o.push(("rtsp_transport", "tcp".into()));
                }
            }
            "udp" | "rtp" | "srt" | "http" | "https" | "tcp" | "rtmp" => o.push(("timeout", us.to_string())),
            _ => {}
        }
        o
    }
}

/// A live network stream: never paced (it arrives in real time), reopened with back-off when
/// it drops. Frame indices keep counting across a gap and timestamps are wall time since the
/// run began, so tracks and filters carry on through a reconnect (a long gap ends tracks by
/// the usual `track.max_gap_s` rule).
pub struct Reconnecting {
    url: String,
    cfg: NetworkConfig,
    autorotate: bool,
    inner: Option<VideoSource>,
    info: SourceInfo,
    limits: super::limits::Limits,
    decoding: super::video::Decoding,
}

impl Reconnecting {
    pub fn open(
        url: &str,
        cfg: NetworkConfig,
        autorotate: bool,
        limits: &super::limits::Limits,
        decoding: super::video::Decoding,
    ) -> Result<Self> {
        let mut v = VideoSource::open_url(url, &cfg, limits, decoding)?;
        v.set_autorotate(autorotate);
        let info = v.info().clone();
        Ok(Self { url: url.into(), cfg, autorotate, inner: Some(v), info, limits: limits.clone(), decoding })
    }

    /// Waits (back-off) and reopens; None once the attempts are spent or a stop was asked.
    fn reopen(&mut self, lost_at: Instant) -> Option<VideoSource> {
        let mut wait = self.cfg.reconnect_initial_s.max(0.0);
        for attempt in 1..=self.cfg.reconnect_attempts {
            let until = Instant::now() + Duration::from_secs_f64(wait);
            while Instant::now() < until {
                if crate::runtime::stop_requested() {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            match VideoSource::open_url(&self.url, &self.cfg, &self.limits, self.decoding) {
                Ok(mut v) => {
                    v.set_autorotate(self.autorotate);
                    tracing::warn!(
                        "{}: reconnected (attempt {attempt}), {:.1} s without frames",
                        self.url,
                        lost_at.elapsed().as_secs_f64()
                    );
                    return Some(v);
                }
                Err(e) => tracing::warn!("{}: reconnect attempt {attempt} failed: {e}", self.url),
            }
            wait = (wait * 2.0).min(self.cfg.reconnect_max_s.max(wait));
        }
        None
    }
}

impl FrameSource for Reconnecting {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn is_live(&self) -> bool {
        true
    }

    fn run(&mut self, emit: &mut dyn FnMut(FrameMsg) -> bool) -> Result<SourceSummary> {
        let start = Instant::now();
        let mut total = SourceSummary::default();
        let mut gaps = 0u32;
        loop {
            let Some(mut src) = self.inner.take() else { break };
            let mut stopped = false;
            let offset = total.frames;
            let r = src.run(|mut m| {
                m.meta.index += offset;
                m.meta.pts_ms = Some(start.elapsed().as_secs_f64() * 1e3);
                m.meta.pts = None;
                let go = emit(m);
                stopped |= !go;
                go
            });
            let lost_at = Instant::now();
            // close the old input first: a UDP listener still bound would refuse the reopen
            drop(src);
            match r {
                Ok(s) => {
                    total.frames += s.frames;
                    total.damaged_packets += s.damaged_packets;
                    if stopped || s.stopped_early {
                        total.stopped_early = true;
                        return Ok(total);
                    }
                    tracing::warn!("{}: stream ended after {} frames", self.url, total.frames);
                }
                Err(e) => tracing::warn!("{}: stream lost: {e}", self.url),
            }
            if crate::runtime::stop_requested() || self.cfg.reconnect_attempts == 0 {
                break;
            }
            self.inner = self.reopen(lost_at);
            if self.inner.is_none() {
                gaps += 1;
                break;
            }
        }
        if gaps > 0 {
            return Err(Error::StreamLost {
                url: self.url.clone(),
                attempts: self.cfg.reconnect_attempts,
                frames: total.frames,
            });
        }
        if total.frames == 0 {
            return Err(Error::NoFrames { path: self.url.clone().into(), why: "the stream delivered none".into() });
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_paths() {
        for u in ["rtsp://cam/stream", "udp://127.0.0.1:5000", "srt://h:1", "https://x/y.m3u8", "rtmp://a/b"] {
            assert!(is_url(u), "{u}");
        }
        for p in ["clip.mp4", "/data/a://b.mp4", "file://clip.mp4", "frames/%04d.png", "C:x"] {
            assert!(!is_url(p), "{p}");
        }
    }

    #[test]
    fn rtsp_goes_over_tcp_with_timeouts_in_microseconds() {
        let c = NetworkConfig { timeout_s: 2.5, ..Default::default() };
        let o = c.ffmpeg_options("rtsp://cam/1");
        assert!(o.contains(&("rtsp_transport", "tcp".into())));
        assert!(o.contains(&("timeout", "2500000".into())) && o.contains(&("rw_timeout", "2500000".into())));
        let o = c.ffmpeg_options("udp://127.0.0.1:5000");
        assert!(!o.iter().any(|(k, _)| *k == "rtsp_transport"));
    }
}
