//! A live window (minifb): the frame with the overlays and a heads-up line (fps,
//! end-to-end latency, dropped frames). Keys: q / Esc quit, space pauses (the display
//! holds; a file input waits, a live one drops), f switches filtered / raw.
use super::overlay::{self, Hud, View};
use super::{RunInfo, Sink, SinkStatus};
use crate::error::{Error, Result};
use crate::messages::{elapsed_ms, FrameMsg};
use minifb::{Key, KeyRepeat, Window, WindowOptions};
use std::time::{Duration, Instant};

pub struct WindowSink {
    title: String,
    window: Option<Window>,
    buf: Vec<u32>,
    view: View,
    /// Keep the last frame on screen after the input ends, until q / Esc / closing.
    hold: bool,
    last_frame_at: Option<Instant>,
    fps: Option<f64>,
}

// SAFETY: minifb's Window is !Send because it must stay on the thread that created it. The
// window is created lazily inside `write_frame`, i.e. on the sink thread, and is only ever
// used from there; before that the field is None, so moving the sink carries no window.
unsafe impl Send for WindowSink {}

impl WindowSink {
    pub fn new(title: &str, hold: bool) -> Self {
        Self { title: title.into(), window: None, buf: Vec::new(), view: View::Filtered, hold, last_frame_at: None, fps: None }
    }

    fn window(&mut self, w: usize, h: usize) -> Result<&mut Window> {
        let stale = self.window.as_ref().is_none_or(|win| win.get_size() != (w, h));
        if stale {
            let win = Window::new(&self.title, w, h, WindowOptions::default())
                .map_err(|e| Error::Output(std::io::Error::other(format!("cannot open a window ({e}); use --no-window"))))?;
            self.window = Some(win);
        }
        Ok(self.window.as_mut().expect("window set above"))
    }

    /// Handles keys; returns false when the user asked to quit.
    fn keys(&mut self) -> bool {
        let Some(win) = self.window.as_ref() else { return true };
        if !win.is_open() || win.is_key_down(Key::Escape) || win.is_key_down(Key::Q) {
            return false;
        }
        if win.is_key_pressed(Key::F, KeyRepeat::No) {
            self.view = if self.view == View::Filtered { View::Raw } else { View::Filtered };
        }
        true
    }

    fn show(&mut self, frame: &FrameMsg, info: &RunInfo, note: &str) -> Result<()> {
        let mut img = (*frame.image).clone();
        let hud = Hud {
            fps: self.fps,
            latency_ms: Some(elapsed_ms(frame.meta.captured_at)),
            dropped: frame.meta.dropped_before,
            note: note.into(),
        };
        overlay::draw(&mut img, frame, &info.classes, self.view, &hud);
        let (w, h) = (img.width as usize, img.height as usize);
        self.buf.clear();
        self.buf.extend(img.data.chunks(3).map(|p| (p[0] as u32) << 16 | (p[1] as u32) << 8 | p[2] as u32));
        let buf = std::mem::take(&mut self.buf);
        let r = self.window(w, h)?.update_with_buffer(&buf, w, h);
        self.buf = buf;
        r.map_err(|e| Error::Output(std::io::Error::other(format!("window: {e}"))))
    }
}

impl Sink for WindowSink {
    fn write_frame(&mut self, frame: &FrameMsg, info: &RunInfo) -> Result<SinkStatus> {
        let now = Instant::now();
        if let Some(prev) = self.last_frame_at {
            let inst = 1.0 / now.duration_since(prev).as_secs_f64().max(1e-6);
            self.fps = Some(self.fps.map_or(inst, |f| 0.9 * f + 0.1 * inst));
        }
        self.last_frame_at = Some(now);
        self.show(frame, info, "")?;
        if !self.keys() {
            return Ok(SinkStatus::Closed);
        }
        let paused = self.window.as_ref().is_some_and(|w| w.is_key_pressed(Key::Space, KeyRepeat::No));
        if paused {
            let view = self.view;
            self.show(frame, info, "PAUSED (space)")?;
            loop {
                let win = self.window.as_mut().expect("shown above");
                win.update();
                if win.is_key_pressed(Key::Space, KeyRepeat::No) || crate::pipeline::stop_requested() {
                    break;
                }
                if !self.keys() {
                    return Ok(SinkStatus::Closed);
                }
                if self.view != view {
                    self.show(frame, info, "PAUSED (space)")?;
                }
                std::thread::sleep(Duration::from_millis(15));
            }
        }
        // hold the last frame: the caller keeps us as long as frames come; `finish` holds
        Ok(SinkStatus::Continue)
    }

    fn finish(&mut self) -> Result<()> {
        if !self.hold {
            return Ok(());
        }
        while let Some(win) = self.window.as_mut() {
            win.update();
            if crate::pipeline::stop_requested() || !self.keys() {
                break;
            }
            std::thread::sleep(Duration::from_millis(15));
        }
        Ok(())
    }
}
