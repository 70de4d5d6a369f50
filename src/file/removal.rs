//! Removing a large file without stalling other writers.
//!
//! Freeing a file's blocks all at once (the last close of an unlinked file) can hold up
//! every fsync on the same device for tens of milliseconds, longer on file systems that
//! discard freed blocks. After an online compaction the old database file is the
//! largest thing on the disk; [`remove_gradually`] gives its blocks back a slice at a
//! time so the flusher's commits on the new file are not held up.

use std::fs::OpenOptions;
use std::path::Path;
use std::time::Duration;

use super::couch_file::note_os_error;
use crate::error::{Error, Result};

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
/// its handles on it. A missing file is NO_SUCH_FILE; other failures are FILE_CLOSE,
/// with the OS error kept for `couchstore_last_os_error`.
pub fn remove_gradually(path: &Path) -> Result<()> {
    let fail = |e: std::io::Error| {
        note_os_error(&e);
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::NoSuchFile
        } else {
            Error::FileClose
        }
    };
    let file = OpenOptions::new().write(true).open(path).map_err(fail)?;
    std::fs::remove_file(path).map_err(fail)?;
    let mut size = file.metadata().map_err(fail)?.len();
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
}
