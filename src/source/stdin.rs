//! Standard input (`-`) as a video source, for callers that already have a pipeline
//! (`ffmpeg … -f mpegts - | fer-rt process -`, GStreamer's `fdsink`, `cat clip.mkv |`).
//!
//! Why not hand FFmpeg `pipe:0` and be done: most MP4 and MOV files keep their index
//! (`moov`) after the media data (`mdat`), and a demuxer that cannot seek back cannot read
//! such a file at all. So the first bytes are looked at here. An ISO-BMFF stream whose
//! `mdat` comes before its `moov` is spooled to a temporary file (deleted when the source
//! is dropped) and read from there, with the same cut-off checks as any file. Everything
//! else (MPEG-TS, Matroska, Y4M, fragmented or fast-start MP4, raw H.264, images) streams:
//! a thread replays the looked-at bytes and then copies the rest of standard input into a
//! pipe that FFmpeg reads as `pipe:N`, so frames flow as soon as they arrive.
use crate::error::{Error, Result};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// How the source's display name reads in messages.
pub const NAME: &str = "standard input";

/// True for standard input: `-`, or FFmpeg's own spelling `pipe:` / `pipe:0`.
pub fn is_stdin(p: &std::path::Path) -> bool {
    matches!(p.to_str(), Some("-" | "pipe:" | "pipe:0"))
}

/// True for a named pipe (`mkfifo`, `/dev/stdin` on a pipe): read as a stream, as standard
/// input is, since its length is not known and it cannot seek.
pub fn is_fifo(p: &std::path::Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_fifo())
}

/// What keeps a standard-input source readable; dropping it closes the pipe (the copying
/// thread then ends on a broken pipe) or deletes the spool file.
pub enum Stdin {
    /// FFmpeg reads `pipe:{fd}`; the count is the bytes passed on so far (all of them once
    /// standard input has ended), so a cut-off MP4 is told apart as it is for a file; then
    /// the stream's first bytes, where an image or Y4M header declares its size.
    Pipe(OwnedFd, Arc<AtomicU64>, Vec<u8>),
    /// Standard input was copied here first.
    Spooled(tempfile::NamedTempFile),
}

impl Stdin {
    /// The URL or path FFmpeg opens.
    pub fn url(&self) -> String {
        match self {
            Stdin::Pipe(fd, ..) => format!("pipe:{}", fd.as_raw_fd()),
            Stdin::Spooled(f) => f.path().to_string_lossy().into_owned(),
        }
    }

    pub fn is_spooled(&self) -> bool {
        matches!(self, Stdin::Spooled(_))
    }

    /// Bytes of the input: the spool file's size, or what the pipe has passed on so far.
    pub fn len(&self) -> u64 {
        match self {
            Stdin::Pipe(_, n, _) => n.load(Ordering::Acquire),
            Stdin::Spooled(f) => f.as_file().metadata().map(|m| m.len()).unwrap_or(0),
        }
    }

    /// The first bytes of a streamed input (empty when spooled: the file is there to read).
    pub fn head(&self) -> &[u8] {
        match self {
            Stdin::Pipe(_, _, head) => head,
            Stdin::Spooled(_) => &[],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Opens the process's standard input.
pub fn open() -> Result<Stdin> {
    open_reader(Box::new(std::io::stdin()))
}

/// Opens a named pipe the same way.
pub fn open_fifo(p: &std::path::Path) -> Result<Stdin> {
    let f = std::fs::File::open(p).map_err(|err| Error::Io { path: p.to_path_buf(), err })?;
    open_reader(Box::new(f))
}

fn io(err: std::io::Error) -> Error {
    Error::Io { path: PathBuf::from(NAME), err }
}

/// Reads from `input` as [`open`] does from standard input (a reader, so tests can feed it).
pub fn open_reader(mut input: Box<dyn Read + Send>) -> Result<Stdin> {
    let mut head = Vec::new();
    let spool = match needs_spooling(&mut input, &mut head).map_err(io)? {
        Layout::Empty => return Err(Error::Open { path: NAME.into(), reason: "standard input is empty".into() }),
        Layout::IndexLast => true,
        Layout::Streamable => false,
    };
    if spool {
        let mut f = tempfile::Builder::new().prefix("fer-rt-stdin-").suffix(".mp4").tempfile().map_err(io)?;
        f.write_all(&head).map_err(io)?;
        std::io::copy(&mut input, &mut f).map_err(io)?;
        f.flush().map_err(io)?;
        tracing::info!("standard input is an MP4/MOV with its index at the end: read it whole first");
        return Ok(Stdin::Spooled(f));
    }
    // enough to hold an image's or a Y4M stream's size (a JPEG's SOF may follow 64 KB of
    // EXIF); a live stream sends this much within its first frames
    let want = if head.starts_with(&[0xFF, 0xD8]) { 64 << 10 } else { 4 << 10 };
    fill(&mut input, &mut head, want).map_err(io)?;
    let kept = head.clone();
    let mut fds = [0i32; 2];
    // SAFETY: pipe(2) fills the two descriptors, which are owned below and nowhere else.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(io(std::io::Error::last_os_error()));
    }
    // SAFETY: both descriptors were just created by pipe(2) and are owned only here.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let count = Arc::new(AtomicU64::new(0));
    let passed = count.clone();
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut w = std::fs::File::from(write);
            // a reader that went away (the run ended early) ends the copy on EPIPE
            if w.write_all(&head).is_err() {
                return;
            }
            passed.store(head.len() as u64, Ordering::Release);
            let mut buf = vec![0u8; 64 << 10];
            loop {
                let n = match input.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                if w.write_all(&buf[..n]).is_err() {
                    break;
                }
                // counted before the reader can see the end, which comes only after this write
                passed.fetch_add(n as u64, Ordering::Release);
            }
        })
        .map_err(io)?;
    Ok(Stdin::Pipe(read, count, kept))
}

#[derive(Debug, PartialEq, Eq)]
enum Layout {
    Empty,
    /// ISO-BMFF with `mdat` before `moov`: needs seeking.
    IndexLast,
    Streamable,
}

/// Reads the top-level boxes of an ISO-BMFF stream into `head` until `moov`/`moof` (the
/// index comes first: streamable) or `mdat` (it comes last); any other stream is decided
/// after its first bytes.
fn needs_spooling(input: &mut dyn Read, head: &mut Vec<u8>) -> std::io::Result<Layout> {
    /// Boxes before the first moov/mdat are small (ftyp, free, wide, uuid); past this the
    /// stream is streamed as it is.
    const MAX_HEAD: usize = 4 << 20;
    fill(input, head, 12)?;
    if head.is_empty() {
        return Ok(Layout::Empty);
    }
    if head.len() < 12 || &head[4..8] != b"ftyp" {
        return Ok(Layout::Streamable);
    }
    let mut at = 0usize;
    loop {
        fill(input, head, at + 16)?;
        if head.len() < at + 8 {
            return Ok(Layout::Streamable);
        }
        let size32 = u32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]) as u64;
        let kind = [head[at + 4], head[at + 5], head[at + 6], head[at + 7]];
        match &kind {
            b"moov" | b"moof" => return Ok(Layout::Streamable),
            b"mdat" => return Ok(Layout::IndexLast),
            _ => {}
        }
        let size = match size32 {
            1 if head.len() >= at + 16 => u64::from_be_bytes(head[at + 8..at + 16].try_into().unwrap_or_default()),
            0 | 1 => return Ok(Layout::Streamable), // to the end, or unreadable: let FFmpeg say
            s => s,
        };
        let next = at as u64 + size;
        if size < 8 || next > MAX_HEAD as u64 {
            return Ok(Layout::Streamable);
        }
        at = next as usize;
    }
}

/// Reads until `buf` holds `want` bytes or the input ends.
fn fill(input: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> std::io::Result<()> {
    while buf.len() < want {
        let mut chunk = vec![0u8; want - buf.len()];
        match input.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp4(boxes: &[(&[u8; 4], usize)]) -> Vec<u8> {
        let mut v = Vec::new();
        for (kind, len) in boxes {
            v.extend_from_slice(&(*len as u32 + 8).to_be_bytes());
            v.extend_from_slice(*kind);
            v.extend(std::iter::repeat_n(0u8, *len));
        }
        v
    }

    fn layout(bytes: &[u8]) -> Layout {
        needs_spooling(&mut std::io::Cursor::new(bytes.to_vec()), &mut Vec::new()).unwrap()
    }

    #[test]
    fn only_an_mp4_with_its_index_last_is_spooled() {
        assert_eq!(layout(&mp4(&[(b"ftyp", 16), (b"free", 8), (b"mdat", 1000), (b"moov", 100)])), Layout::IndexLast);
        assert_eq!(layout(&mp4(&[(b"ftyp", 16), (b"moov", 100), (b"mdat", 1000)])), Layout::Streamable);
        assert_eq!(layout(&mp4(&[(b"ftyp", 16), (b"moof", 100), (b"mdat", 1000)])), Layout::Streamable);
        assert_eq!(layout(b"\x47\x40\x00\x10 an mpeg-ts packet"), Layout::Streamable);
        assert_eq!(layout(b""), Layout::Empty);
    }

    #[test]
    fn a_streamed_input_arrives_whole_through_the_pipe() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let s = open_reader(Box::new(std::io::Cursor::new(data.clone()))).unwrap();
        let Stdin::Pipe(fd, n, _) = s else { panic!("streamed input was spooled") };
        let mut got = Vec::new();
        std::fs::File::from(fd).read_to_end(&mut got).unwrap();
        assert_eq!(got, data);
        assert_eq!(n.load(Ordering::Acquire), data.len() as u64);
    }

    #[test]
    fn an_index_last_mp4_is_spooled_whole() {
        let data = mp4(&[(b"ftyp", 16), (b"mdat", 100_000), (b"moov", 50)]);
        let s = open_reader(Box::new(std::io::Cursor::new(data.clone()))).unwrap();
        assert!(s.is_spooled());
        assert_eq!(std::fs::read(s.url()).unwrap(), data);
    }
}
