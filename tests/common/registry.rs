//! A real OCI registry on 127.0.0.1: Debian's `docker-registry` (the CNCF
//! distribution server) with filesystem storage in a temporary directory, for
//! the remote cache tests. scripts/deps installs it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running registry; stopped when dropped.
pub struct Registry {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its storage root.
    pub storage: PathBuf,
    dir: PathBuf,
    child: Option<Child>,
}

impl Registry {
    /// Start a registry storing under `dir`; `None` (after a skip) when the
    /// `docker-registry` command is missing.
    pub fn start(dir: &Path) -> Option<Registry> {
        if !super::have("docker-registry") {
            super::skip(
                "docker-registry (a real OCI registry) is not installed",
                "scripts/deps installs Debian's docker-registry package",
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let storage = dir.join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let mut r = Registry {
            port,
            storage,
            dir: dir.to_path_buf(),
            child: None,
        };
        r.resume();
        Some(r)
    }

    /// Start (again) on the same port and storage.
    pub fn resume(&mut self) {
        let config = self.dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
                 delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{}\n",
                self.storage.display(),
                self.port
            ),
        )
        .unwrap();
        let log = std::fs::File::create(self.dir.join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "docker-registry did not listen on {} (log: {})",
                self.port,
                self.dir.join("registry.log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stop it (its storage stays).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The remote cache URL of repository `repo` on it.
    pub fn url(&self, repo: &str) -> String {
        format!("oci://127.0.0.1:{}/{repo}", self.port)
    }

    /// The tags of repository `repo`, from the storage.
    pub fn tags(&self, repo: &str) -> Vec<String> {
        let dir = self
            .storage
            .join("docker/registry/v2/repositories")
            .join(repo)
            .join("_manifests/tags");
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The manifest tagged `tag` in `repo` (JSON), read from the storage.
    pub fn manifest(&self, repo: &str, tag: &str) -> serde_json::Value {
        let link = self
            .storage
            .join("docker/registry/v2/repositories")
            .join(repo)
            .join("_manifests/tags")
            .join(tag)
            .join("current/link");
        let digest = std::fs::read_to_string(link).unwrap();
        serde_json::from_slice(&std::fs::read(self.blob(digest.trim())).unwrap()).unwrap()
    }

    /// The file holding blob `digest` (`sha256:…`) in the storage.
    pub fn blob(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
