//! The file-system operations the log does, behind a small trait so that tests can break them:
//! [`DiskStorage`] is the real file system, [`MemStorage`] an in-memory one that can fail after
//! N operations and, on a simulated crash, keeps only what was synced.
//!
//! The log relies on these semantics (those of a POSIX file system):
//! - data written to a file is durable only after [`StorageFile::sync_data`];
//! - a created, renamed or removed directory entry is durable only after
//!   [`Storage::sync_dir`] of its directory;
//! - directories created with [`Storage::create_dir_all`] are durable once their parent is
//!   synced (the log syncs the parent after creating one).

mod disk;
mod mem;

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

pub use disk::DiskStorage;
pub use mem::{CrashMode, MemStorage};

/// An open file. Positional reads and writes take `&self`, so one handle is shared between the
/// writer and readers.
pub trait StorageFile: Send + Sync + fmt::Debug {
    /// Reads into `buf` from byte `pos`; returns the bytes read, 0 at the end of the file.
    ///
    /// # Errors
    /// The I/O error.
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;
    /// Writes all of `buf` at byte `pos`, extending the file if needed.
    ///
    /// # Errors
    /// The I/O error; part of `buf` may have been written.
    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()>;
    /// Makes the file's data durable (`fdatasync`).
    ///
    /// # Errors
    /// The I/O error. After a failed sync nothing is known about what reached the disk.
    fn sync_data(&self) -> io::Result<()>;
    /// The file's length in bytes.
    ///
    /// # Errors
    /// The I/O error.
    fn size(&self) -> io::Result<u64>;
    /// Truncates or extends the file to `len` bytes.
    ///
    /// # Errors
    /// The I/O error.
    fn set_len(&self, len: u64) -> io::Result<()>;
}

/// The directory operations of the log.
pub trait Storage: Send + Sync + fmt::Debug {
    /// Creates `dir` and any missing parents.
    ///
    /// # Errors
    /// The I/O error.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Names of the entries (files and directories) directly in `dir`.
    ///
    /// # Errors
    /// The I/O error; `NotFound` if `dir` does not exist.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Opens an existing file for reading and writing.
    ///
    /// # Errors
    /// The I/O error; `NotFound` if it does not exist.
    fn open(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>>;
    /// Creates a file for reading and writing, truncating it if it exists.
    ///
    /// # Errors
    /// The I/O error.
    fn create(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>>;
    /// Removes a file.
    ///
    /// # Errors
    /// The I/O error; `NotFound` if it does not exist.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Renames a file, replacing `to` if it exists.
    ///
    /// # Errors
    /// The I/O error.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes entries created, renamed or removed in `dir` durable.
    ///
    /// # Errors
    /// The I/O error.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// Reads exactly `buf.len()` bytes at `pos`.
pub(crate) fn read_exact_at(
    file: &dyn StorageFile,
    mut buf: &mut [u8],
    mut pos: u64,
) -> io::Result<()> {
    while !buf.is_empty() {
        match file.read_at(buf, pos) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                pos += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads a whole file.
pub(crate) fn read_file(storage: &dyn Storage, path: &Path) -> io::Result<Vec<u8>> {
    let file = storage.open(path)?;
    let len = file.size()?;
    let len = usize::try_from(len).map_err(|_| io::Error::other("file too large"))?;
    let mut buf = vec![0u8; len];
    read_exact_at(file.as_ref(), &mut buf, 0)?;
    Ok(buf)
}

/// Writes `bytes` to `path` atomically through `tmp` in the same directory: create, write,
/// sync, rename, sync the directory. After a crash `path` holds its old content or `bytes`.
pub(crate) fn write_atomic(
    storage: &dyn Storage,
    path: &Path,
    tmp: &Path,
    bytes: &[u8],
) -> io::Result<()> {
    let file = storage.create(tmp)?;
    file.write_all_at(bytes, 0)?;
    file.sync_data()?;
    drop(file);
    storage.rename(tmp, path)?;
    if let Some(dir) = path.parent() {
        storage.sync_dir(dir)?;
    }
    Ok(())
}

/// Removes a file; a missing file is not an error.
pub(crate) fn remove_if_exists(storage: &dyn Storage, path: &Path) -> io::Result<bool> {
    match storage.remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}
