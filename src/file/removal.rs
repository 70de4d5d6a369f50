//! Removing a large file without stalling other writers.
//!
//! Freeing a file's blocks all at once (the last close of an unlinked file) can hold up
//! every fsync on the same device for tens of milliseconds, longer on file systems that
//! discard freed blocks. After an online compaction the old database file is the
//! largest thing on the disk; [`remove_gradually`] gives its blocks back a slice at a
//! time so the flusher's commits on the new file are not held up.

use std::fs::OpenOptions;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};

/// Bytes released per step.
pub const REMOVAL_STEP: u64 = 16 << 20;
/// Pause between steps, leaving the device to other writers.
pub const REMOVAL_PAUSE: Duration = Duration::from_millis(2);

/// Removes the file at `path`: unlinks it at once (nothing can open it any more), then
/// truncates it [`REMOVAL_STEP`] bytes at a time with a [`REMOVAL_PAUSE`] between
/// steps, and closes it. Takes about 10 ms per 100 MiB longer than unlinking.
///
/// Only for a file no handle has open any more (a handle still open on it would see it
/// shrink under it): the old file after an online compaction, once the engine has closed
/// its handles on it. It removes only the name given: a symlink there is refused
/// (nothing it points to is touched), and a file that keeps another name (a hard link)
/// is only unlinked, its contents left whole. A missing file is NO_SUCH_FILE, a
/// directory or other non-regular file INVALID_ARGUMENTS; other failures are
/// FILE_CLOSE, with the OS error as the cause.
pub fn remove_gradually(path: &Path) -> Result<()> {
    let fail = |e: std::io::Error| {
        let kind = if e.kind() == std::io::ErrorKind::NotFound {
            ErrorKind::NoSuchFile
        } else {
            ErrorKind::FileClose
        };
        Error::io(kind, e)
    };
    // Not through a symlink (its target is not what the caller named), and only a
    // regular file.
    let file = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(fail)?;
    let opened = file.metadata().map_err(fail)?;
    if !opened.is_file() {
        return Err(Error::InvalidArguments);
    }
    // Unlink the name only while it still names the file opened here.
    let named = std::fs::symlink_metadata(path).map_err(fail)?;
    if (named.dev(), named.ino()) != (opened.dev(), opened.ino()) {
        return Err(Error::FileClose);
    }
    std::fs::remove_file(path).map_err(fail)?;
    let after = file.metadata().map_err(fail)?;
    if after.nlink() > 0 {
        // The file lives on under another name: its contents are not ours to free.
        return Ok(());
    }
    let mut size = after.len();
    while size > 0 {
        size = size.saturating_sub(REMOVAL_STEP);
        file.set_len(size).map_err(fail)?;
        if size > 0 {
            std::thread::sleep(REMOVAL_PAUSE);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_the_file_and_its_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.couch");
        std::fs::write(&path, vec![7u8; (REMOVAL_STEP * 2 + 12345) as usize]).unwrap();
        remove_gradually(&path).unwrap();
        assert!(!path.exists());
        assert_eq!(remove_gradually(&path), Err(Error::NoSuchFile));
    }

    #[test]
    fn removes_only_the_name_given() {
        let dir = tempfile::tempdir().unwrap();
        let data = vec![5u8; (REMOVAL_STEP + 100) as usize];
        // A second name keeps the contents whole.
        let path = dir.path().join("old.couch");
        let other = dir.path().join("kept.couch");
        std::fs::write(&path, &data).unwrap();
        std::fs::hard_link(&path, &other).unwrap();
        remove_gradually(&path).unwrap();
        assert!(!path.exists());
        assert_eq!(std::fs::read(&other).unwrap(), data);
        // A symlink is refused and what it points to untouched.
        let link = dir.path().join("link.couch");
        std::os::unix::fs::symlink(&other, &link).unwrap();
        assert!(remove_gradually(&link).is_err());
        assert_eq!(std::fs::read(&other).unwrap(), data);
        assert!(std::fs::symlink_metadata(&link).is_ok());
        // A directory is refused.
        assert!(remove_gradually(dir.path()).is_err());
        assert!(dir.path().exists());
    }
}
