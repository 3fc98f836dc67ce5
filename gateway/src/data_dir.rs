//! The data directory of a gateway: store, keys, generated certificates.
//! Created owner-only; secret files are created 0600 and never rewritten.

use secrecy::SecretBox;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why the data directory could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// A file or directory could not be created or read.
    #[error("data directory `{path}`: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The key file exists but is not a 64-hex-digit key.
    #[error(
        "key file `{0}` is corrupt: expected 64 hex digits; restore it from backup (data encrypted under it is unreadable without it)"
    )]
    CorruptKey(PathBuf),
}

/// Creates a directory (and parents) readable by the owner only.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Creates a new file with mode 0600 and writes `contents`; fails if the
/// file exists, so a secret is never silently replaced.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// A prepared data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Creates the directory if needed.
    pub fn prepare(root: &Path) -> Result<Self, DataDirError> {
        create_private_dir(root).map_err(|source| DataDirError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SQLite store file.
    pub fn store_path(&self) -> PathBuf {
        self.root.join("portcullis.db")
    }

    /// Where the self-signed certificate lives.
    pub fn tls_dir(&self) -> PathBuf {
        self.root.join("tls")
    }

    /// The local root key, created (0600) on first use. Keys for each
    /// purpose are derived from it, never used raw.
    pub fn local_key(&self) -> Result<SecretBox<[u8; 32]>, DataDirError> {
        let path = self.root.join("local.key");
        let io = |source| DataDirError::Io {
            path: path.clone(),
            source,
        };
        if !path.exists() {
            let mut key = [0u8; 32];
            rand::fill(&mut key);
            write_private_file(&path, hex::encode(key).as_bytes()).map_err(io)?;
            tracing::info!(path = %path.display(), "created local key file");
        }
        let text = secrecy::SecretString::from(std::fs::read_to_string(&path).map_err(io)?);
        let mut key = Box::new([0u8; 32]);
        hex::decode_to_slice(
            secrecy::ExposeSecret::expose_secret(&text).trim(),
            key.as_mut_slice(),
        )
        .map_err(|_| DataDirError::CorruptKey(path.clone()))?;
        Ok(SecretBox::new(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_private_stable_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::prepare(&dir.path().join("d")).unwrap();
        let first = *secrecy::ExposeSecret::expose_secret(&data.local_key().unwrap());
        let second = *secrecy::ExposeSecret::expose_secret(&data.local_key().unwrap());
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(data.root().join("local.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(data.root().join("local.key"), "short").unwrap();
        assert!(matches!(data.local_key(), Err(DataDirError::CorruptKey(_))));
    }
}
