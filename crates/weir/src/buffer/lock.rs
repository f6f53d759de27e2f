//! The log lock: one process at a time has the embedded log of a data directory open.
//!
//! weir-log repairs a torn tail when it opens a partition, which must never happen under a
//! process that is still appending to it, so the process that opens the log holds an exclusive
//! `flock` on `<data_dir>/log.lock` for as long as it has it open (the kernel drops the lock
//! when the process dies, `kill -9` included). The file names the holder:
//!
//! ```text
//! {"pid": 4242, "server": "127.0.0.1:9620"}     server: where its HTTP server listens, once known
//! ```
//!
//! so `weir log stats|tail` and `weir dlq replay --to-log` can go through the running process's
//! server instead of opening the log themselves.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Who holds the lock.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Its process id.
    pub pid: u32,
    /// Where its server listens, once it does.
    #[serde(default)]
    pub server: Option<SocketAddr>,
}

/// The lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error("the log in {} is open in another weir process{}", dir.display(), holder_text(.holder))]
    Held {
        /// The data directory.
        dir: PathBuf,
        /// Who, when the lock file says.
        holder: Option<Holder>,
    },
    /// The lock file could not be opened or locked.
    #[error("lock file {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn holder_text(h: &Option<Holder>) -> String {
    match h {
        Some(Holder {
            pid,
            server: Some(addr),
        }) => format!(" (pid {pid}, server http://{addr})"),
        Some(Holder { pid, server: None }) => format!(" (pid {pid})"),
        None => String::new(),
    }
}

/// The held lock; released on drop (or when the process dies).
#[derive(Debug)]
pub struct LogLock {
    file: File,
    path: PathBuf,
}

impl LogLock {
    /// Takes the lock at `path` without waiting.
    ///
    /// # Errors
    /// [`LockError::Held`] naming the holder; [`LockError::Io`].
    pub fn acquire(path: &Path) -> Result<LogLock, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    dir: path.parent().unwrap_or(path).to_path_buf(),
                    holder: holder(path),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let lock = LogLock {
            file,
            path: path.to_path_buf(),
        };
        lock.write(&Holder {
            pid: std::process::id(),
            server: None,
        });
        Ok(lock)
    }

    /// Records where this process's server listens.
    pub fn announce(&self, server: SocketAddr) {
        self.write(&Holder {
            pid: std::process::id(),
            server: Some(server),
        });
    }

    fn write(&self, holder: &Holder) {
        let text = serde_json::to_string(holder).unwrap_or_default();
        let mut f = &self.file;
        let r = f
            .set_len(0)
            .and_then(|()| f.seek(SeekFrom::Start(0)))
            .and_then(|_| f.write_all(text.as_bytes()));
        if let Err(e) = r {
            tracing::warn!(path = %self.path.display(), "cannot write the log lock file: {e}");
        }
    }
}

/// Who holds the lock at `path`, if the file says.
#[must_use]
pub fn holder(path: &Path) -> Option<Holder> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether some process holds the lock at `path` now.
#[must_use]
pub fn is_held(path: &Path) -> bool {
    let Ok(file) = OpenOptions::new().read(true).write(true).open(path) else {
        return false;
    };
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_told_who_holds_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.lock");
        let lock = LogLock::acquire(&path).expect("first");
        lock.announce("127.0.0.1:9".parse().expect("addr"));
        assert!(is_held(&path));
        match LogLock::acquire(&path) {
            Err(LockError::Held { holder, .. }) => {
                let h = holder.expect("holder named");
                assert_eq!(h.pid, std::process::id());
                assert_eq!(h.server, Some("127.0.0.1:9".parse().expect("addr")));
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(lock);
        assert!(!is_held(&path));
        LogLock::acquire(&path).expect("free again");
    }
}
