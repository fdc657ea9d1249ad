//! Evidence and secrets live in files only their owner may read: directories
//! are created 0700 and files 0600 from the start, never made private after
//! the fact (a window in which another user could open them). Every file the
//! collector writes that holds keys, evidence, exports or snapshots is
//! written here.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` and any missing parents with mode 0700.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates `path` empty with mode 0600 (and its directory 0700) unless it exists.
pub fn create_file(path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_all(parent)?;
    }
    write_new(path, &[]).map(|_| ())
}

/// Makes `path` 0600: for a Unix socket, which `bind` creates under the
/// umask (connecting needs write permission, which the usual 022 gives no
/// one else meanwhile), and which lives in the 0700 data directory.
pub fn owner_only(path: &Path) -> io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

/// Writes `bytes` to `path`, replacing what was there, and syncs it. The
/// file is created 0600; one that existed is made 0600 before it is written.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_from(path, &mut &bytes[..]).map(|_| ())
}

/// As `write`, with what `from` reads (an export of any size); returns how
/// many bytes were written.
pub fn write_from(path: &Path, from: &mut dyn io::Read) -> io::Result<u64> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    let n = io::copy(from, &mut f)?;
    f.sync_all()?;
    Ok(n)
}

/// Writes `bytes` to `path` (0600) and syncs it, unless `path` exists: then
/// it is left as it is and the answer is false. Two processes racing to
/// create one key thus agree on one.
pub fn write_new(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(f) => finish(f, bytes).map(|()| true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to a new file `path` (0600) without syncing it, for
/// callers that write many files and sync the file system once after.
pub fn write_new_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
}

fn finish(mut f: File, bytes: &[u8]) -> io::Result<()> {
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn files_are_owner_only_and_new_files_are_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        create_dir_all(&nested).unwrap();
        assert_eq!(mode(&nested), 0o700);

        let key = nested.join("key");
        assert!(write_new(&key, b"first").unwrap());
        assert!(!write_new(&key, b"second").unwrap(), "kept");
        assert_eq!(std::fs::read(&key).unwrap(), b"first");
        assert_eq!(mode(&key), 0o600);

        // A file another tool left readable is made owner-only as it is replaced.
        let out = dir.path().join("export.pdf");
        std::fs::write(&out, b"old and longer").unwrap();
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&out, b"new").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        assert_eq!(mode(&out), 0o600);

        let db = dir.path().join("c/gamsa.db");
        create_file(&db).unwrap();
        std::fs::write(&db, b"rows").unwrap();
        create_file(&db).unwrap();
        assert_eq!(std::fs::read(&db).unwrap(), b"rows", "left as it was");
        assert_eq!((mode(&db), mode(&dir.path().join("c"))), (0o600, 0o700));
    }
}
