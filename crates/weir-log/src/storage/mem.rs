//! An in-memory file system for tests: fault injection and simulated crashes.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Storage, StorageFile};

/// What survives a simulated crash in [`MemStorage::crash`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashMode {
    /// Only synced bytes and synced directory entries survive.
    DropUnsynced,
    /// Synced data survives, plus a pseudo-random prefix (chosen from `seed`) of the bytes
    /// appended after the last sync of each file: a torn write.
    KeepUnsyncedPrefix {
        /// Seed of the choice of prefix lengths.
        seed: u64,
    },
}

/// An in-memory [`Storage`] that models what a crash keeps: a file's data is durable up to its
/// last `sync_data`, a directory entry as of the last `sync_dir` of its directory. It can also
/// fail every mutating operation after N of them, or every sync after N syncs, to test that a
/// failed write or fsync poisons the writer. Cloning shares the file system.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    fs: Arc<Mutex<MemFs>>,
    faults: Arc<Mutex<Faults>>,
}

#[derive(Debug, Default)]
struct MemFs {
    live: BTreeMap<PathBuf, Arc<MemFile>>,
    durable: BTreeMap<PathBuf, Arc<MemFile>>,
    dirs: BTreeSet<PathBuf>,
}

#[derive(Debug, Default)]
struct MemFile {
    data: Mutex<FileData>,
}

#[derive(Debug, Default, Clone)]
struct FileData {
    live: Vec<u8>,
    synced: Vec<u8>,
}

#[derive(Debug, Default)]
struct Faults {
    ops: u64,
    syncs: u64,
    fail_ops_after: Option<u64>,
    fail_syncs_after: Option<u64>,
}

impl Faults {
    fn check(&mut self, is_sync: bool) -> io::Result<()> {
        self.ops += 1;
        if is_sync {
            self.syncs += 1;
        }
        let ops_exhausted = self.fail_ops_after.is_some_and(|n| self.ops > n);
        let syncs_exhausted = is_sync && self.fail_syncs_after.is_some_and(|n| self.syncs > n);
        if ops_exhausted || syncs_exhausted {
            Err(io::Error::other("injected fault"))
        } else {
            Ok(())
        }
    }
}

#[derive(Debug)]
struct MemHandle {
    file: Arc<MemFile>,
    faults: Arc<Mutex<Faults>>,
}

impl StorageFile for MemHandle {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        let data = self.file.data.lock();
        let Ok(pos) = usize::try_from(pos) else {
            return Ok(0);
        };
        if pos >= data.live.len() {
            return Ok(0);
        }
        let n = buf.len().min(data.live.len() - pos);
        buf[..n].copy_from_slice(&data.live[pos..pos + n]);
        Ok(n)
    }

    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.faults.lock().check(false)?;
        let pos = usize::try_from(pos).map_err(io::Error::other)?;
        let mut data = self.file.data.lock();
        if data.live.len() < pos + buf.len() {
            data.live.resize(pos + buf.len(), 0);
        }
        data.live[pos..pos + buf.len()].copy_from_slice(buf);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.faults.lock().check(true)?;
        let mut data = self.file.data.lock();
        data.synced = data.live.clone();
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.file.data.lock().live.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.faults.lock().check(false)?;
        let len = usize::try_from(len).map_err(io::Error::other)?;
        self.file.data.lock().live.resize(len, 0);
        Ok(())
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

impl MemStorage {
    /// An empty file system.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Every mutating operation (write, sync, truncate, create, rename, remove, directory sync)
    /// after the next `n` fails with an injected I/O error. Reads keep working.
    pub fn fail_after_ops(&self, n: u64) {
        let mut f = self.faults.lock();
        f.fail_ops_after = Some(f.ops + n);
    }

    /// Every file or directory sync after the next `n` fails with an injected I/O error.
    pub fn fail_syncs_after(&self, n: u64) {
        let mut f = self.faults.lock();
        f.fail_syncs_after = Some(f.syncs + n);
    }

    /// Stops injecting faults.
    pub fn clear_faults(&self) {
        let mut f = self.faults.lock();
        f.fail_ops_after = None;
        f.fail_syncs_after = None;
    }

    /// File and directory syncs done so far.
    #[must_use]
    pub fn syncs(&self) -> u64 {
        self.faults.lock().syncs
    }

    /// The file system a machine would find after losing power now: a new, independent
    /// `MemStorage` holding the durable state (see [`CrashMode`]), without faults. The original
    /// is untouched and can go on being used (by a log that does not know it crashed).
    #[must_use]
    pub fn crash(&self, mode: CrashMode) -> MemStorage {
        let fs = self.fs.lock();
        let mut rng = match mode {
            CrashMode::DropUnsynced => 0,
            CrashMode::KeepUnsyncedPrefix { seed } => seed | 1,
        };
        let mut durable = BTreeMap::new();
        for (path, file) in &fs.durable {
            let data = file.data.lock();
            let mut kept = data.synced.clone();
            if rng != 0 && data.live.len() > kept.len() && data.live.starts_with(&kept) {
                // xorshift64: a deterministic choice of how much of the unsynced tail landed.
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let extra = data.live.len() - kept.len();
                let keep = (rng % (extra as u64 + 1)) as usize;
                kept.extend_from_slice(&data.live[data.synced.len()..data.synced.len() + keep]);
            }
            let file = Arc::new(MemFile {
                data: Mutex::new(FileData {
                    live: kept.clone(),
                    synced: kept,
                }),
            });
            durable.insert(path.clone(), file);
        }
        MemStorage {
            fs: Arc::new(Mutex::new(MemFs {
                live: durable.clone(),
                durable,
                dirs: fs.dirs.clone(),
            })),
            faults: Arc::default(),
        }
    }

    /// Paths of all files, sorted.
    #[must_use]
    pub fn files(&self) -> Vec<PathBuf> {
        self.fs.lock().live.keys().cloned().collect()
    }

    /// The current content of a file.
    #[must_use]
    pub fn file_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        let fs = self.fs.lock();
        fs.live.get(path).map(|f| f.data.lock().live.clone())
    }

    /// Replaces the content of an existing file, synced (damage at rest). Returns false if there
    /// is no such file.
    pub fn set_file_bytes(&self, path: &Path, bytes: &[u8]) -> bool {
        let fs = self.fs.lock();
        let Some(file) = fs.live.get(path) else {
            return false;
        };
        let mut data = file.data.lock();
        data.live = bytes.to_vec();
        data.synced = bytes.to_vec();
        true
    }

    fn check(&self, is_sync: bool) -> io::Result<()> {
        self.faults.lock().check(is_sync)
    }

    fn handle(&self, file: Arc<MemFile>) -> Arc<dyn StorageFile> {
        Arc::new(MemHandle {
            file,
            faults: self.faults.clone(),
        })
    }
}

impl Storage for MemStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.check(false)?;
        let mut fs = self.fs.lock();
        for ancestor in dir.ancestors() {
            if !ancestor.as_os_str().is_empty() {
                fs.dirs.insert(ancestor.to_path_buf());
            }
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let fs = self.fs.lock();
        if !fs.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        let mut names: BTreeSet<String> = BTreeSet::new();
        let children = fs.live.keys().chain(fs.dirs.iter());
        for path in children {
            if path.parent() == Some(dir)
                && let Some(name) = path.file_name().and_then(|n| n.to_str())
            {
                names.insert(name.to_owned());
            }
        }
        Ok(names.into_iter().collect())
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>> {
        let file = self.fs.lock().live.get(path).cloned();
        file.map(|f| self.handle(f)).ok_or_else(|| not_found(path))
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>> {
        self.check(false)?;
        let mut fs = self.fs.lock();
        if !path.parent().is_some_and(|p| fs.dirs.contains(p)) {
            return Err(not_found(path));
        }
        let file = Arc::new(MemFile::default());
        fs.live.insert(path.to_path_buf(), file.clone());
        drop(fs);
        Ok(self.handle(file))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.check(false)?;
        let mut fs = self.fs.lock();
        fs.live
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.check(false)?;
        let mut fs = self.fs.lock();
        let file = fs.live.remove(from).ok_or_else(|| not_found(from))?;
        fs.live.insert(to.to_path_buf(), file);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.check(true)?;
        let mut fs = self.fs.lock();
        if !fs.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        let MemFs { live, durable, .. } = &mut *fs;
        durable.retain(|path, _| path.parent() != Some(dir) || live.contains_key(path));
        for (path, file) in live.iter() {
            if path.parent() == Some(dir) {
                durable.insert(path.clone(), file.clone());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_keeps_synced_data_and_synced_entries_only() {
        let s = MemStorage::new();
        let dir = Path::new("/d");
        s.create_dir_all(dir).expect("mkdir");
        let a = s.create(&dir.join("a")).expect("create a");
        a.write_all_at(b"hello", 0).expect("write");
        a.sync_data().expect("sync");
        a.write_all_at(b" world", 5).expect("write");
        s.sync_dir(dir).expect("sync dir");
        let b = s.create(&dir.join("b")).expect("create b");
        b.write_all_at(b"x", 0).expect("write");
        b.sync_data().expect("sync");

        let image = s.crash(CrashMode::DropUnsynced);
        assert_eq!(
            image.files(),
            vec![dir.join("a")],
            "b's entry was never synced"
        );
        assert_eq!(image.file_bytes(&dir.join("a")).expect("a"), b"hello");

        let torn = s.crash(CrashMode::KeepUnsyncedPrefix { seed: 3 });
        let kept = torn.file_bytes(&dir.join("a")).expect("a");
        assert!(b"hello world".starts_with(&kept) && kept.len() >= 5);
    }

    #[test]
    fn faults_fail_after_n_ops() {
        let s = MemStorage::new();
        s.create_dir_all(Path::new("/d")).expect("mkdir");
        let f = s.create(Path::new("/d/f")).expect("create");
        s.fail_syncs_after(1);
        f.write_all_at(b"a", 0).expect("writes still work");
        f.sync_data().expect("first sync works");
        assert!(f.sync_data().is_err());
        s.clear_faults();
        f.sync_data().expect("cleared");
    }
}
