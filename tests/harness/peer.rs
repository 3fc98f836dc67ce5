//! A test peer run by python3 from `tests/peers/`, with the test Python
//! packages (`PORTCULLIS_TEST_PYTHONPATH`): started, read until it says it
//! is ready, stopped when its handle is dropped — or when the test binary
//! exits, since its standard input then closes.

use crate::paths;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a peer may take to say it is ready.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Kills process `pid` unless `ready` turns true within [`START_TIMEOUT`],
/// so a peer that hangs before it is ready closes its output and the
/// test waiting for it fails instead of waiting forever.
pub fn kill_unless_ready(pid: u32, ready: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if ready.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !ready.load(Ordering::Acquire)
            && let Ok(pid) = i32::try_from(pid)
        {
            // SAFETY: sends a signal to a child this harness started.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    });
}

/// A running peer process.
pub struct PeerProcess {
    child: Mutex<Child>,
    _stdin: ChildStdin,
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl PeerProcess {
    /// Runs `tests/peers/{script}` and hands each line it prints to
    /// `on_line` until that answers true (ready); later lines are read and
    /// dropped, so the peer never fails on a closed pipe. `install_hint`
    /// says what installs the peer, for a failure to start.
    pub fn python(script: &str, install_hint: &str, mut on_line: impl FnMut(&str) -> bool) -> Self {
        let mut command = Command::new("python3");
        if let Ok(path) = std::env::var("PORTCULLIS_TEST_PYTHONPATH") {
            command.env("PYTHONPATH", path);
        }
        let mut child = command
            .arg(paths::repo().join("tests/peers").join(script))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start python3 {script} ({install_hint}): {e}"));
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let started = Arc::new(AtomicBool::new(false));
        kill_unless_ready(child.id(), started.clone());
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|line| on_line(&line));
        started.store(true, Ordering::Release);
        assert!(
            ready,
            "{script} did not say it was ready within {START_TIMEOUT:?} ({install_hint})"
        );
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            child: Mutex::new(child),
            _stdin: stdin,
        }
    }
}
