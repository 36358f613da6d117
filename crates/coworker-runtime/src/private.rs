//! Files that hold an agent's state are the owner's alone: data directories 0700, databases,
//! settings and key files 0600, set when they are created and checked (and repaired, with a
//! warning) whenever they are opened. On non-Unix systems the platform's per-user locations
//! already apply and these are no-ops.

use std::path::Path;

/// Makes every file and directory this process creates from now on the owner's alone (umask
/// 077): SQLite's write-ahead logs, settings, exports. Front ends call it first thing.
pub fn owner_only_new_files() {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Creates `dir` (and its parents) if missing and makes it 0700. Returns a warning when an
/// existing directory was open to others.
pub fn dir(dir: &Path) -> std::io::Result<Option<String>> {
    let existed = dir.exists();
    std::fs::create_dir_all(dir)?;
    Ok(restrict(dir, 0o700)?.filter(|_| existed))
}

/// Makes `file` 0600 if it exists. Returns a warning when it was open to others.
pub fn file(file: &Path) -> std::io::Result<Option<String>> {
    if !file.exists() {
        return Ok(None);
    }
    restrict(file, 0o600)
}

/// [`dir`] for a data directory, and [`file`] for the state files in it (databases and their
/// logs, settings, key files, locks; other files are not ours and are left alone). Returns a
/// warning for each that was open to others.
pub fn data_dir(root: &Path) -> std::io::Result<Vec<String>> {
    let mut warnings: Vec<String> = dir(root)?.into_iter().collect();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = [".db", ".db-wal", ".db-shm", ".toml", ".json", ".lock"]
            .iter()
            .any(|suffix| name.ends_with(suffix))
            || matches!(name.as_ref(), "keys" | "lock");
        if ours && entry.file_type()?.is_file() {
            warnings.extend(restrict(&entry.path(), 0o600)?);
        }
    }
    Ok(warnings)
}

/// [`file`] for an SQLite database and its write-ahead log and shared-memory files; warnings
/// (about a database that `existed` before this open) go to the log.
pub fn database(path: &Path, existed: bool) {
    let mut paths = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        paths.push(name.into());
    }
    for path in paths {
        match file(&path) {
            Ok(Some(warning)) if existed => tracing::warn!("{warning}"),
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot restrict {}: {e}", path.display()),
        }
    }
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<Option<String>> {
    use std::os::unix::fs::PermissionsExt;
    let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if current & !mode == 0 {
        return Ok(None);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(Some(format!(
        "{} was readable or writable by others (mode {current:o}); it is now {mode:o}",
        path.display()
    )))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> std::io::Result<Option<String>> {
    Ok(None)
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn loose_modes_are_repaired_with_a_warning() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        assert_eq!(dir(&data).unwrap(), None, "a new directory is private from the start");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(dir(&data).unwrap().unwrap().contains("755"));
        assert_eq!(mode(&data), 0o700);

        let db = data.join("agent.db");
        std::fs::write(&db, b"").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        database(&db, true);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(file(&data.join("missing")).unwrap(), None);

        let settings = data.join("settings.toml");
        let other = data.join("notes.txt");
        for path in [&settings, &other] {
            std::fs::write(path, b"x").unwrap();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o664)).unwrap();
        }
        let warnings = data_dir(&data).unwrap();
        assert!(warnings.iter().any(|w| w.contains("settings.toml")), "{warnings:?}");
        assert_eq!(mode(&settings), 0o600);
        assert_eq!(mode(&other), 0o664, "files that are not ours are left alone");
        assert!(data_dir(&data).unwrap().is_empty(), "nothing left to repair");
    }
}
