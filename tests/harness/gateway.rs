//! The gateway binary as a child process, with its log captured.

use super::client::Client;
use super::paths;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running gateway process; killed on drop.
pub struct Gateway {
    child: Child,
    /// The HTTPS address.
    pub addr: SocketAddr,
    /// The plain-HTTP redirect address, if configured.
    pub http_addr: Option<SocketAddr>,
    /// The fingerprint printed at start.
    pub fingerprint: String,
    /// Everything printed on stdout up to readiness.
    pub stdout: Vec<String>,
    /// Its directory; taken only by [`Gateway::restart`].
    dir: Option<TempDir>,
    args: Vec<String>,
}

impl Drop for Gateway {
    /// A test that failed keeps the gateway's directory — its log, config
    /// and data — and says where, so the failure can be read afterwards.
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(dir) = self.dir.as_mut()
        {
            dir.disable_cleanup(true);
            eprintln!(
                "the failed test's gateway left its directory (log: gateway.log) at {}",
                dir.path().display()
            );
        }
    }
}

/// How a gateway failed to start.
#[derive(Debug)]
pub struct StartFailure {
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Its log.
    pub stderr: String,
}

impl Gateway {
    /// Starts the gateway with `config` (TOML) in a fresh directory, which
    /// also holds its data directory. `{dir}` in the text is replaced by
    /// that directory.
    pub async fn with_config(config: &str) -> Result<Self, StartFailure> {
        Self::with_config_in(tempfile::tempdir().expect("temp dir"), config).await
    }

    /// [`Gateway::with_config`] in `dir`, which a test prepared first (for
    /// example by running `portcullis` commands on the configuration).
    pub async fn with_config_in(dir: TempDir, config: &str) -> Result<Self, StartFailure> {
        let text = config.replace("{dir}", &dir.path().display().to_string());
        let path = dir.path().join("portcullis.toml");
        std::fs::write(&path, text).expect("write config");
        let args = vec![
            "serve".to_string(),
            "--config".to_string(),
            path.display().to_string(),
        ];
        Self::spawn(dir, args, &[]).await
    }

    /// Starts the gateway on its embedded defaults, as `make run` does.
    pub async fn embedded(plugin_dir: &Path, listen: &str) -> Result<Self, StartFailure> {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let args = vec![
            "serve".to_string(),
            "--data-dir".to_string(),
            data.display().to_string(),
            "--plugin-dir".to_string(),
            plugin_dir.display().to_string(),
            "--listen".to_string(),
            listen.to_string(),
        ];
        Self::spawn(dir, args, &[]).await
    }

    async fn spawn(
        dir: TempDir,
        args: Vec<String>,
        env: &[(&str, &str)],
    ) -> Result<Self, StartFailure> {
        let log = std::fs::File::create(dir.path().join("gateway.log")).expect("log file");
        let mut command = Command::new(paths::binary());
        command
            .args(&args)
            .env("RUST_LOG", "info,portcullis=debug")
            .env_remove("PORTCULLIS_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawn gateway");
        let spawned_args = args.clone();
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut printed = Vec::new();
        let mut addr = None;
        let mut http_addr = None;
        let mut fingerprint = None;
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.strip_prefix("portcullis listening on https://") {
                    addr = rest.trim().parse().ok();
                } else if let Some(rest) = line.strip_prefix("redirecting http://") {
                    http_addr = rest.split_whitespace().next().and_then(|a| a.parse().ok());
                } else if let Some(rest) =
                    line.strip_prefix("TLS certificate SHA-256 fingerprint: ")
                {
                    fingerprint = Some(rest.trim().to_string());
                }
                printed.push(line);
                if addr.is_some() && fingerprint.is_some() {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        let log_text =
            || std::fs::read_to_string(dir.path().join("gateway.log")).unwrap_or_default();
        if !ready {
            let code = match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
                Ok(Ok(status)) => status.code(),
                _ => None,
            };
            return Err(StartFailure {
                code,
                stderr: log_text(),
            });
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            child,
            addr: addr.expect("address"),
            http_addr,
            fingerprint: fingerprint.expect("fingerprint"),
            stdout: printed,
            dir: Some(dir),
            args: spawned_args,
        })
    }

    /// Stops the gateway (SIGTERM) and starts it again on the same
    /// directory and arguments; the new one may listen on another port.
    pub async fn restart(mut self) -> Result<Self, StartFailure> {
        self.signal(libc::SIGTERM);
        let _ = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
        let dir = self.dir.take().expect("a gateway's directory");
        let args = std::mem::take(&mut self.args);
        Self::spawn(dir, args, &[]).await
    }

    /// The value printed after `prefix` on standard output at start.
    pub fn printed(&self, prefix: &str) -> Option<String> {
        self.stdout
            .iter()
            .find_map(|line| line.strip_prefix(prefix))
            .map(|rest| rest.trim().to_string())
    }

    fn path(&self) -> &Path {
        self.dir.as_ref().expect("a gateway's directory").path()
    }

    /// The working directory (config, data, log).
    pub fn dir(&self) -> PathBuf {
        self.path().to_path_buf()
    }

    /// The gateway's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path().join("gateway.log")).unwrap_or_default()
    }

    /// Waits until the log contains `needle`.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// The self-signed certificate the gateway serves, from its data dir.
    pub fn certificate(&self) -> CertificateDer<'static> {
        let candidates = [
            self.path().join("data/tls/cert.pem"),
            self.path().join("tls/cert.pem"),
        ];
        let path = candidates
            .iter()
            .find(|p| p.exists())
            .expect("gateway certificate file");
        CertificateDer::from_pem_file(path).expect("certificate PEM")
    }

    /// A client pinning the gateway's certificate, TLS 1.2 and 1.3.
    pub fn client(&self) -> Client {
        Client::new(self.addr, self.certificate(), rustls::ALL_VERSIONS)
    }

    /// Sends a signal to the process.
    pub fn signal(&self, signal: i32) {
        let pid = self.child.id().expect("running gateway has a pid");
        let pid = i32::try_from(pid).expect("pid fits i32");
        // SAFETY: kill(2) with a pid we own; no memory is involved.
        let result = unsafe { libc::kill(pid, signal) };
        assert_eq!(result, 0, "kill({pid}, {signal}) failed");
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit code.
    pub async fn stop(self) -> Option<i32> {
        self.signal(libc::SIGTERM);
        self.stop_wait().await
    }

    /// Waits for the process to exit (after a signal sent earlier),
    /// keeping its directory for inspection.
    pub async fn wait_exit(&mut self) -> Option<i32> {
        match tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await {
            Ok(Ok(status)) => status.code(),
            _ => None,
        }
    }

    /// Waits for the process to exit (after a signal sent earlier).
    pub async fn stop_wait(mut self) -> Option<i32> {
        match tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await {
            Ok(Ok(status)) => status.code(),
            _ => None,
        }
    }
}
