//! The embedded database's files are private: they hold password hashes,
//! emails, the audit log and sealed secrets. The data directory is created
//! 0700 and the database file 0600 whatever the umask (SQLite gives its
//! `-wal` and `-shm` files the database file's mode).

use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates the data directory 0700 if it does not exist; warns when an
/// existing one is open to other users.
pub fn create_data_dir(path: &Path) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    dir = %path.display(),
                    mode = format!("{mode:o}"),
                    "the data directory is open to other users; `chmod 700` it: it holds the \
                     database (password hashes, emails, the audit log) and the master key"
                );
            }
            Ok(())
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path)?;
            // The umask may have taken bits away; chmod is not subject to it.
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        }
        Err(error) => Err(error),
    }
}

/// Creates an empty database file 0600 unless one exists, so that SQLite
/// opens a private file instead of creating one with the umask's mode.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}
