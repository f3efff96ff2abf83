//! Child processes the tests watch: a private X server for window tests, and a running
//! fer-rt whose stdout and stderr are read as they come.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// A private X server; killed on drop. Xvfb picks a free display itself and reports it
/// (-displayfd), so tests running at the same time never collide.
pub struct Xvfb(Child, pub String);

impl Xvfb {
    pub fn start() -> Self {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (installed by scripts/setup.sh)");
        let mut n = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut n).unwrap();
        assert!(n.trim().parse::<u32>().is_ok(), "Xvfb did not report a display: {n:?}");
        Xvfb(child, format!(":{}", n.trim()))
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A child's output read on threads: every stdout line, every stderr line, and the stderr
/// lines also as they arrive (to wait for a log line).
pub struct Watched {
    pub stdout: JoinHandle<Vec<String>>,
    pub stderr: JoinHandle<Vec<String>>,
    pub stderr_lines: mpsc::Receiver<String>,
}

/// Starts reading `child`'s piped stdout and stderr.
pub fn watch(child: &mut Child) -> Watched {
    let out = child.stdout.take().expect("stdout piped");
    let stdout = std::thread::spawn(move || BufReader::new(out).lines().map(|l| l.unwrap()).collect::<Vec<_>>());
    let (tx, stderr_lines) = mpsc::channel::<String>();
    let err = child.stderr.take().expect("stderr piped");
    let stderr = std::thread::spawn(move || {
        let mut all = Vec::new();
        for l in BufReader::new(err).lines() {
            let l = l.unwrap();
            let _ = tx.send(l.clone());
            all.push(l);
        }
        all
    });
    Watched { stdout, stderr, stderr_lines }
}
