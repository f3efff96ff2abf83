//! A live window (minifb): the frame with the overlays and a heads-up line (fps,
//! end-to-end latency, dropped frames). Keys: q / Esc quit, space pauses (the display
//! holds; a file input waits, a live one drops), f switches filtered / raw. In a run of
//! several streams the window tiles them (`grid`), each tile with its own heads-up line
//! naming its stream.
use super::overlay::{self, Hud, View};
use super::{RunInfo, Sink, SinkStatus};
use crate::error::{Error, Result};
use crate::messages::{elapsed_ms, FrameMsg};
use minifb::{InputCallback, Key, Window, WindowOptions};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Every key press as it arrives. minifb's own key state is sampled once per update, so a
/// press and release in the same batch of events (a quick tap) would leave no trace.
#[derive(Clone, Default)]
struct Presses(Rc<RefCell<Vec<Key>>>);

impl InputCallback for Presses {
    fn add_char(&mut self, _uni_char: u32) {}

    fn set_key_state(&mut self, key: Key, down: bool) {
        if down {
            self.0.borrow_mut().push(key);
        }
    }
}

pub struct WindowSink {
    title: String,
    window: Option<Window>,
    /// The frame size the window was made for (get_size may report the decorated size).
    size: (usize, usize),
    buf: Vec<u32>,
    view: View,
    /// Keep the last frame on screen after the input ends, until q / Esc / closing.
    hold: bool,
    last_frame_at: Option<Instant>,
    fps: Option<f64>,
    /// The frame on screen, to redraw it when the view changes while holding.
    last: Option<(FrameMsg, RunInfo)>,
    presses: Presses,
    /// The tiles, in a run of several streams; each stream's fps and last frame time.
    grid: Option<super::grid::Grid>,
    stream_fps: Vec<(Option<Instant>, Option<f64>)>,
}

/// The largest window the tiles of several streams take.
const GRID_MAX: (u32, u32) = (1920, 1080);

// SAFETY: minifb's Window (and the Rc-based key recorder shared with it) are !Send because
// they must stay on one thread. The window is created lazily inside `write_frame`, i.e. on
// the sink thread, and only ever used from there; the recorder's Rc is only cloned into the
// window at that point, so when the sink is moved there is no window and a single,
// unshared Rc.
unsafe impl Send for WindowSink {}

impl WindowSink {
    pub fn new(title: &str, hold: bool) -> Self {
        Self {
            title: title.into(),
            window: None,
            size: (0, 0),
            buf: Vec::new(),
            view: View::Filtered,
            hold,
            last_frame_at: None,
            fps: None,
            last: None,
            presses: Presses::default(),
            grid: None,
            stream_fps: Vec::new(),
        }
    }

    fn window(&mut self, w: usize, h: usize) -> Result<&mut Window> {
        if self.window.is_none() || self.size != (w, h) {
            let mut win = Window::new(&self.title, w, h, WindowOptions::default()).map_err(|e| {
                Error::Output(std::io::Error::other(format!("cannot open a window ({e}); use --no-window")))
            })?;
            win.set_input_callback(Box::new(self.presses.clone()));
            self.window = Some(win);
            self.size = (w, h);
        }
        Ok(self.window.as_mut().expect("window set above"))
    }

    /// Takes the key presses since the last call.
    fn take_presses(&mut self) -> Vec<Key> {
        std::mem::take(&mut *self.presses.0.borrow_mut())
    }

    /// Applies quit and view keys; returns (keep running, space pressed).
    fn keys(&mut self) -> (bool, bool) {
        let Some(win) = self.window.as_ref() else { return (true, false) };
        let open = win.is_open();
        let mut space = false;
        for k in self.take_presses() {
            match k {
                Key::Escape | Key::Q => return (false, false),
                Key::F => self.view = if self.view == View::Filtered { View::Raw } else { View::Filtered },
                Key::Space => space = true,
                _ => {}
            }
        }
        (open, space)
    }

    fn show(&mut self, frame: &FrameMsg, info: &RunInfo, note: &str) -> Result<()> {
        let mut img = (*frame.image).clone();
        let stream = info.stream_of(frame);
        let fps = match stream {
            Some(_) => self.stream_fps.get(frame.meta.stream).and_then(|s| s.1),
            None => self.fps,
        };
        let hud = Hud {
            fps,
            latency_ms: Some(elapsed_ms(frame.meta.captured_at)),
            dropped: frame.meta.dropped_before,
            note: match stream {
                Some(s) if note.is_empty() => s.name.clone(),
                Some(s) => format!("{}  {note}", s.name),
                None => note.into(),
            },
        };
        if stream.is_some() {
            // the faces drawn on the frame, then scaled into its tile; the heads-up line
            // drawn on the tile, so that it stays readable however large the frame
            overlay::draw_faces(&mut img, frame, &info.classes, self.view);
            let grid = self.grid.get_or_insert_with(|| super::grid::Grid::new(info.streams.len(), GRID_MAX));
            grid.put(frame.meta.stream, &img);
            let ((x, y), _) = grid.tile(frame.meta.stream);
            overlay::draw_hud(grid.canvas_mut(), (x as i64 + 2, y as i64 + 2), frame, self.view, &hud, 1);
        } else {
            overlay::draw(&mut img, frame, &info.classes, self.view, &hud);
        }
        // what is shown: the tiles, or the frame itself (read in place, not copied)
        let shown = match (&self.grid, stream) {
            (Some(grid), Some(_)) => grid.canvas(),
            _ => &img,
        };
        let (w, h) = (shown.width as usize, shown.height as usize);
        self.buf.clear();
        self.buf.extend(shown.data.chunks(3).map(|p| (p[0] as u32) << 16 | (p[1] as u32) << 8 | p[2] as u32));
        let buf = std::mem::take(&mut self.buf);
        let r = self.window(w, h)?.update_with_buffer(&buf, w, h);
        self.buf = buf;
        r.map_err(|e| Error::Output(std::io::Error::other(format!("window: {e}"))))
    }
}

impl Sink for WindowSink {
    fn write_frame(&mut self, frame: &FrameMsg, info: &RunInfo) -> Result<SinkStatus> {
        let now = Instant::now();
        let smooth = |prev: Option<Instant>, fps: Option<f64>| {
            prev.map(|p| 1.0 / now.duration_since(p).as_secs_f64().max(1e-6))
                .map(|i| fps.map_or(i, |f| 0.9 * f + 0.1 * i))
        };
        if let Some(prev) = self.last_frame_at {
            self.fps = smooth(Some(prev), self.fps);
        }
        self.last_frame_at = Some(now);
        if !info.streams.is_empty() {
            self.stream_fps.resize(info.streams.len(), (None, None));
            if let Some(s) = self.stream_fps.get_mut(frame.meta.stream) {
                *s = (Some(now), smooth(s.0, s.1).or(s.1));
            }
        }
        self.show(frame, info, "")?;
        self.last = Some((frame.clone(), info.clone()));
        let (running, paused) = self.keys();
        if !running {
            return Ok(SinkStatus::Closed);
        }
        if paused {
            self.show(frame, info, "PAUSED (space)")?;
            loop {
                let view = self.view;
                self.window.as_mut().expect("shown above").update();
                let (running, space) = self.keys();
                if !running {
                    return Ok(SinkStatus::Closed);
                }
                if space || crate::runtime::stop_requested() {
                    break;
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
        let last = self.last.take();
        while let Some(win) = self.window.as_mut() {
            win.update();
            let view = self.view;
            if crate::runtime::stop_requested() || !self.keys().0 {
                break;
            }
            if let (true, Some((frame, info))) = (self.view != view, &last) {
                self.show(frame, info, "end of input (q to quit)")?;
            }
            std::thread::sleep(Duration::from_millis(15));
        }
        Ok(())
    }
}
