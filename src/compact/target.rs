//! The file a compaction writes: created by this compaction, or an existing empty file
//! taken over (tools hand over names made by `mkstemp`). Anything else at the name is
//! refused before a byte is written, and on failure the file is put back as it was
//! found: removed if this compaction created it, emptied again if it was empty. No
//! other file is ever removed.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::db::{Db, OpenOptions};
use crate::error::{Error, ErrorKind, Result};
use crate::file::Backend;

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
    /// (device, inode) of the file this compaction writes, when the file system tells:
    /// only that file is ever removed or emptied, never one that replaced it at the name.
    identity: Option<(u64, u64)>,
    armed: bool,
}

fn open_error(e: io::Error) -> Error {
    let kind = match e.kind() {
        io::ErrorKind::NotFound => ErrorKind::NoSuchFile,
        _ => ErrorKind::OpenFile,
    };
    Error::io(kind, e)
}

/// An existing file at the target's name: OPEN_FILE (EEXIST), the file left alone.
fn exists() -> Error {
    open_error(io::Error::from_raw_os_error(libc::EEXIST))
}

fn identity(meta: &fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

impl TargetFile {
    /// Opens the target at `path` for a compaction writing with `options` (see
    /// [`super::target_open_options`]): creates it, or takes over an existing empty regular
    /// file. A non-empty file, or anything but a regular file, is OPEN_FILE (EEXIST for
    /// `couchstore_last_os_error`) and left untouched.
    pub fn create(path: &Path, options: OpenOptions) -> Result<(Db, TargetFile)> {
        let (file, origin) = match File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(f) => (f, Origin::Created),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Only an empty regular file is taken over; a symlink is not followed.
                let meta = fs::symlink_metadata(path).map_err(open_error)?;
                if !meta.file_type().is_file() || meta.len() != 0 {
                    return Err(exists());
                }
                let f = File::options()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(path)
                    .map_err(open_error)?;
                let opened = f.metadata().map_err(open_error)?;
                if identity(&opened) != identity(&meta) || opened.len() != 0 {
                    return Err(exists());
                }
                (f, Origin::WasEmpty)
            }
            Err(e) => return Err(open_error(e)),
        };
        let guard = TargetFile {
            path: path.to_path_buf(),
            origin,
            identity: Some(identity(&file.metadata().map_err(open_error)?)),
            armed: true,
        };
        let db = Db::open_created(file, path.to_string_lossy().into_owned(), options)?;
        Ok((db, guard))
    }

    /// [`TargetFile::create`] through the caller's own file operations: `open` opens
    /// the file with the options it is given (create, plus exclusive when no file is
    /// there) and returns its backend and the options the database is to be opened with.
    /// What is at the name is checked by path first, with the same rules; the file the
    /// ops opened must be empty.
    pub fn create_with(
        path: &Path,
        options: OpenOptions,
        open: impl FnOnce(OpenOptions) -> Result<(Box<dyn Backend>, OpenOptions)>,
    ) -> Result<(Db, TargetFile)> {
        let origin = match fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_file() && meta.len() == 0 => Origin::WasEmpty,
            Ok(_) => return Err(exists()),
            Err(_) => Origin::Created,
        };
        let (backend, db_options) = open(OpenOptions {
            create: true,
            exclusive: origin == Origin::Created,
            ..options
        })?;
        if backend.size().map_err(open_error)? != 0 {
            return Err(exists());
        }
        let guard = TargetFile {
            path: path.to_path_buf(),
            origin,
            identity: fs::symlink_metadata(path).ok().map(|m| identity(&m)),
            armed: true,
        };
        let db = Db::open_backend(backend, path.to_string_lossy().into_owned(), db_options)?;
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

    /// Whether the name still names the file this compaction wrote.
    fn still_ours(&self) -> bool {
        let there = fs::symlink_metadata(&self.path).ok().map(|m| identity(&m));
        self.identity.is_some() && there == self.identity
    }

    fn restore(&self) {
        if !self.still_ours() {
            return;
        }
        match self.origin {
            Origin::Created => {
                let _ = fs::remove_file(&self.path);
            }
            Origin::WasEmpty => {
                if let Ok(f) = File::options()
                    .write(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&self.path)
                    && f.metadata().ok().map(|m| identity(&m)) == self.identity
                {
                    let _ = f.set_len(0);
                }
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

    fn flags() -> OpenOptions {
        OpenOptions {
            no_commit_at_create: true,
            ..OpenOptions::create()
        }
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
