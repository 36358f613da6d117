//! One host per data directory: the process that holds the identity holds this lock.

use std::fs::File;
use std::path::Path;

use crate::error::{ErrorKind, HostError};

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DataDirLock(#[allow(dead_code)] File);

impl DataDirLock {
    /// Takes the lock of `data_dir`, or says that another process holds this identity.
    pub fn take(data_dir: &Path) -> Result<Self, HostError> {
        let path = data_dir.join("lock");
        let file =
            File::options().create(true).truncate(false).write(true).open(&path).map_err(|e| {
                HostError::new(
                    ErrorKind::Failed,
                    "host.io",
                    format!("cannot open {}: {e}", path.display()),
                )
            })?;
        file.try_lock().map_err(|_| {
            HostError::new(
                ErrorKind::Busy,
                "host.busy",
                format!(
                    "another process already runs the agent of {} (coworker serve, coworker host or the app)",
                    data_dir.display()
                ),
            )
        })?;
        Ok(Self(file))
    }
}
