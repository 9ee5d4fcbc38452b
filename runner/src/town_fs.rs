//! Reading files the town can write, as hostile input.
//!
//! Everything under a town's root may have been touched by an agent: a `log` replaced by
//! a link to `/proc/self/environ`, a FIFO named `spec.json`, a link to `/dev/zero`. So
//! every read here walks the path one component at a time relative to a directory
//! handle, never follows a symbolic link, opens without blocking (a FIFO cannot hang the
//! bot), accepts only a regular file, and reads at most a given number of bytes. The
//! callers run it off the async runtime ([`blocking`]).

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::RunnerError;

/// The most bytes of a small record file (`spec.json`, `pid`, `exit`) ever read.
pub const RECORD_CAP: usize = 64 * 1024;

fn cstr(name: &[u8]) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))
}

fn open_at(dir: Option<&OwnedFd>, name: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
    let name = cstr(name)?;
    let base = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: `name` is a valid NUL-terminated string for the duration of the call;
    // the returned descriptor, when valid, is owned by nobody else.
    let fd = unsafe {
        libc::openat(
            base,
            name.as_ptr(),
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by openat and is not owned elsewhere.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens `rel` (relative to the trusted directory `base`) for reading: every component
/// a real directory, the last a regular file, no symbolic link anywhere.
fn open_regular(base: &Path, rel: &[&str]) -> io::Result<File> {
    let (last, dirs) = rel
        .split_last()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty path"))?;
    let mut dir = open_at(
        None,
        base.as_os_str().as_bytes(),
        libc::O_RDONLY | libc::O_DIRECTORY,
    )?;
    for part in dirs {
        check_component(part)?;
        dir = open_at(
            Some(&dir),
            part.as_bytes(),
            libc::O_RDONLY | libc::O_DIRECTORY,
        )?;
    }
    check_component(last)?;
    // O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a
    // writer; the type check below then refuses it.
    let fd = open_at(
        Some(&dir),
        last.as_bytes(),
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
    )?;
    let file = File::from(fd);
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a regular file (mode {:o})", meta.mode()),
        ));
    }
    Ok(file)
}

fn check_component(part: &str) -> io::Result<()> {
    if part.is_empty() || part == "." || part == ".." || part.contains('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unsafe path component {part:?}"),
        ));
    }
    Ok(())
}

/// A whole small file, or `None` when it does not exist. A file longer than `cap`, a
/// link, a FIFO or a device is an error: a record that big was not written by us.
pub fn read_small(base: &Path, rel: &[&str], cap: usize) -> io::Result<Option<Vec<u8>>> {
    let mut file = match open_regular(base, rel) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut buf = Vec::new();
    (&mut file).take(cap as u64 + 1).read_to_end(&mut buf)?;
    if buf.len() > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("longer than {cap} bytes"),
        ));
    }
    Ok(Some(buf))
}

/// At most `cap` bytes from offset `from`; `None` when the file does not exist.
pub fn read_range(base: &Path, rel: &[&str], from: u64, cap: usize) -> io::Result<Option<Vec<u8>>> {
    let mut file = match open_regular(base, rel) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    file.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::new();
    file.take(cap as u64).read_to_end(&mut buf)?;
    Ok(Some(buf))
}

/// The last `cap` bytes of a file (empty when it does not exist).
pub fn read_tail(base: &Path, rel: &[&str], cap: usize) -> io::Result<Vec<u8>> {
    let mut file = match open_regular(base, rel) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(cap as u64)))?;
    let mut buf = Vec::new();
    file.take(cap as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Runs blocking file work on tokio's blocking pool, so a slow disk (or anything the
/// town put in the way) never stalls the runtime's workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RunnerError> + Send + 'static,
) -> Result<T, RunnerError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(RunnerError::Blocking(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_a_fifo_and_a_device_are_refused_and_a_big_file_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run/a");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("pid"), "42\n").unwrap();
        std::os::unix::fs::symlink("/proc/self/environ", run.join("log")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", run.join("exit")).unwrap();
        let fifo = cstr(run.join("spec.json").as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid path string; mkfifo touches no memory of ours.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        std::fs::write(run.join("big"), vec![b'x'; 1000]).unwrap();

        let root = dir.path();
        assert_eq!(
            read_small(root, &["run", "a", "pid"], 16).unwrap(),
            Some(b"42\n".to_vec())
        );
        assert!(read_small(root, &["run", "a", "log"], 16).is_err());
        assert!(read_tail(root, &["run", "a", "log"], 16).is_err());
        assert!(read_small(root, &["run", "a", "exit"], 16).is_err());
        assert!(read_small(root, &["run", "a", "spec.json"], 16).is_err());
        assert!(read_small(root, &["run", "a", "big"], 100).is_err());
        assert_eq!(read_tail(root, &["run", "a", "big"], 10).unwrap().len(), 10);
        assert_eq!(read_small(root, &["run", "a", "none"], 16).unwrap(), None);
        assert!(read_small(root, &["run", "..", "run", "a", "pid"], 16).is_err());
    }

    #[test]
    fn a_linked_directory_on_the_way_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("elsewhere")).unwrap();
        std::fs::write(dir.path().join("elsewhere/pid"), "1").unwrap();
        std::fs::create_dir_all(dir.path().join("run")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), dir.path().join("run/a")).unwrap();
        assert!(read_small(dir.path(), &["run", "a", "pid"], 16).is_err());
    }
}
