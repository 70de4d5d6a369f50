//! The file a compaction writes: created by this compaction, or an existing empty file
//! taken over (tools hand over names made by `mkstemp`). Anything else at the name is
//! refused before a byte is written, and on failure the file is put back as it was
//! found: removed if this compaction created it, emptied again if it was empty. No
//! other file is ever removed.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::db::{Db, OpenFlags};
use crate::error::{Error, Result};
use crate::file::couch_file::note_os_error;

/// How the target came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// This compaction created the file.
    Created,
    /// The file existed and was empty.
    WasEmpty,
}

/// Puts the target back as it was found when dropped, unless [`TargetFile::keep`] was
/// called.
#[derive(Debug)]
pub struct TargetFile {
    path: PathBuf,
    origin: Origin,
    /// A second descriptor on the file this compaction writes: its identity (so a file
    /// that replaced it at the name is never touched) and, for a taken-over file, the
    /// means to empty it again.
    file: File,
    armed: bool,
}

impl TargetFile {
    /// Opens the target at `path` for a compaction writing with `flags` (see
    /// [`super::target_open_flags`]): creates it, or takes over an existing empty regular
    /// file. A non-empty file, or anything but a regular file, is OPEN_FILE (EEXIST for
    /// `couchstore_last_os_error`) and left untouched.
    pub fn create(path: &Path, flags: OpenFlags) -> Result<(Db, TargetFile)> {
        let fail = |e: io::Error| {
            note_os_error(&e);
            match e.kind() {
                io::ErrorKind::NotFound => Error::NoSuchFile,
                _ => Error::OpenFile,
            }
        };
        let (file, origin) = match File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(f) => (f, Origin::Created),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Only an empty regular file is taken over; a symlink is not followed.
                let meta = fs::symlink_metadata(path).map_err(fail)?;
                if !meta.file_type().is_file() || meta.len() != 0 {
                    return Err(fail(e));
                }
                let f = File::options()
                    .read(true)
                    .write(true)
                    .open(path)
                    .map_err(fail)?;
                let opened = f.metadata().map_err(fail)?;
                if (opened.dev(), opened.ino()) != (meta.dev(), meta.ino()) || opened.len() != 0 {
                    return Err(fail(e));
                }
                (f, Origin::WasEmpty)
            }
            Err(e) => return Err(fail(e)),
        };
        let guard = TargetFile {
            path: path.to_path_buf(),
            origin,
            file: file.try_clone().map_err(fail)?,
            armed: true,
        };
        let db = Db::open_created(file, path.to_string_lossy().into_owned(), flags)?;
        Ok((db, guard))
    }

    /// How the target came to be.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The compaction succeeded: leave the file.
    pub fn keep(mut self) {
        self.armed = false;
    }

    fn restore(&self) {
        match self.origin {
            Origin::Created => {
                // Remove the name only while it still names the file created here (the
                // engine's switch may have renamed it, and something else may be there).
                let ours = self.file.metadata().ok().map(|m| (m.dev(), m.ino()));
                let there = fs::symlink_metadata(&self.path)
                    .ok()
                    .map(|m| (m.dev(), m.ino()));
                if ours.is_some() && ours == there {
                    let _ = fs::remove_file(&self.path);
                }
            }
            Origin::WasEmpty => {
                let _ = self.file.set_len(0);
            }
        }
    }
}

impl Drop for TargetFile {
    fn drop(&mut self) {
        if self.armed {
            self.restore();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> OpenFlags {
        OpenFlags(OpenFlags::CREATE | OpenFlags::NO_COMMIT_AT_CREATE)
    }

    #[test]
    fn created_target_is_removed_unless_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.couch");
        let (db, guard) = TargetFile::create(&path, flags()).unwrap();
        assert_eq!(guard.origin(), Origin::Created);
        drop(db);
        drop(guard);
        assert!(!path.exists());
        let (db, guard) = TargetFile::create(&path, flags()).unwrap();
        drop(db);
        guard.keep();
        assert!(path.exists());
    }

    #[test]
    fn existing_files_are_refused_or_restored() {
        let dir = tempfile::tempdir().unwrap();
        let full = dir.path().join("full.couch");
        fs::write(&full, b"not yours").unwrap();
        assert_eq!(
            TargetFile::create(&full, flags()).unwrap_err(),
            Error::OpenFile
        );
        assert_eq!(fs::read(&full).unwrap(), b"not yours");

        let empty = dir.path().join("empty.couch");
        fs::write(&empty, b"").unwrap();
        let (mut db, guard) = TargetFile::create(&empty, flags()).unwrap();
        assert_eq!(guard.origin(), Origin::WasEmpty);
        db.commit().unwrap();
        assert!(fs::metadata(&empty).unwrap().len() > 0);
        drop(db);
        drop(guard);
        assert_eq!(fs::metadata(&empty).unwrap().len(), 0);

        // A symlink to an empty file is not taken over.
        let link = dir.path().join("link.couch");
        std::os::unix::fs::symlink(&empty, &link).unwrap();
        assert_eq!(
            TargetFile::create(&link, flags()).unwrap_err(),
            Error::OpenFile
        );
    }

    #[test]
    fn a_replaced_name_is_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.couch");
        let (db, guard) = TargetFile::create(&path, flags()).unwrap();
        drop(db);
        // The engine renamed the target away and something else now has the name.
        fs::rename(&path, dir.path().join("moved.couch")).unwrap();
        fs::write(&path, b"someone else's").unwrap();
        drop(guard);
        assert_eq!(fs::read(&path).unwrap(), b"someone else's");
        assert!(dir.path().join("moved.couch").exists());
    }
}
