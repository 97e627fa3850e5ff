//! Instance disks: qcow2 copy-on-write overlays on an image, made with `qemu-img`.
//!
//! QEMU runs as `libvirt-qemu` under `qemu:///system`: every directory above an overlay (and
//! above its base image) must be searchable by that user (o+x). Directories made here are 0711.

use std::ffi::OsString;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Failure, HypervisorError};

/// Creates `overlay`, a qcow2 file backed by `base` (of format `base_format`, e.g. "qcow2" or
/// "raw"), `size_gib` GiB large (0: as large as the base). Does nothing if `overlay` exists
/// (whatever it is backed by). The overlay is made under a temporary name (`<overlay>.partial`)
/// and renamed, so a crash never leaves a half-made overlay under its final name. Missing parent
/// directories are created, mode 0711. The base's absolute path is recorded in the overlay.
pub fn create_overlay(
    base: &Path,
    base_format: &str,
    overlay: &Path,
    size_gib: u32,
) -> Result<(), HypervisorError> {
    if exists(overlay)? {
        return Ok(());
    }
    let base = std::path::absolute(base)
        .map_err(|e| disk_err(&format!("base image {}", base.display()), &e))?;
    fs::metadata(&base).map_err(|e| disk_err(&format!("base image {}", base.display()), &e))?;
    let parent = match overlay.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    create_dir_searchable(parent)?;
    warn_if_not_searchable(parent);

    let partial = partial_path(overlay);
    let mut cmd = Command::new("qemu-img");
    cmd.args(["create", "-q", "-f", "qcow2", "-F", base_format, "-b"])
        .arg(&base)
        .arg(&partial);
    if size_gib > 0 {
        cmd.arg(format!("{size_gib}G"));
    }
    let out = cmd.output().map_err(|e| disk_err("running qemu-img", &e))?;
    if !out.status.success() {
        let _ = fs::remove_file(&partial);
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(HypervisorError::Disk {
            message: format!(
                "qemu-img create {}: {} {}",
                overlay.display(),
                out.status,
                stderr.trim()
            ),
            failure: qemu_img_failure(&stderr),
        });
    }
    // Durable before it gets its final name, and the name durable before we return.
    fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(|e| disk_err(&format!("syncing {}", partial.display()), &e))?;
    if let Err(e) = fs::rename(&partial, overlay) {
        // Someone made the same overlay at the same time and renamed theirs first.
        if e.kind() == ErrorKind::NotFound && exists(overlay)? {
            return Ok(());
        }
        let _ = fs::remove_file(&partial);
        return Err(disk_err(&format!("renaming to {}", overlay.display()), &e));
    }
    fs::File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| disk_err(&format!("syncing {}", parent.display()), &e))?;
    Ok(())
}

/// Removes a disk (and a `.partial` left by an interrupted [`create_overlay`]); a missing file
/// is not an error.
pub fn remove(path: &Path) -> Result<(), HypervisorError> {
    for p in [partial_path(path), path.to_path_buf()] {
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(disk_err(&format!("removing {}", p.display()), &e)),
        }
    }
    Ok(())
}

/// Creates `dir` and its missing ancestors with mode 0711 (searchable by QEMU's user, not
/// listable); directories that exist are left as they are.
pub fn create_dir_searchable(dir: &Path) -> Result<(), HypervisorError> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.as_os_str().is_empty() || exists(d)? {
            break;
        }
        missing.push(d);
        cur = d.parent();
    }
    for d in missing.into_iter().rev() {
        match fs::create_dir(d) {
            Ok(()) => fs::set_permissions(d, fs::Permissions::from_mode(0o711))
                .map_err(|e| disk_err(&format!("chmod {}", d.display()), &e))?,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(disk_err(&format!("creating {}", d.display()), &e)),
        }
    }
    Ok(())
}

/// Logs a warning when a directory above `dir` keeps other users (QEMU's) out: guests would then
/// fail to start with "Permission denied" on their disk.
fn warn_if_not_searchable(dir: &Path) {
    let Ok(abs) = std::path::absolute(dir) else {
        return;
    };
    for d in abs.ancestors() {
        if let Ok(meta) = fs::metadata(d) {
            if meta.permissions().mode() & 0o001 == 0 {
                tracing::warn!(
                    directory = %d.display(),
                    mode = format_args!("{:o}", meta.permissions().mode() & 0o7777),
                    "directory not searchable by others: QEMU (libvirt-qemu) cannot reach disks under it"
                );
            }
        }
    }
}

fn partial_path(path: &Path) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(".partial");
    PathBuf::from(s)
}

fn exists(path: &Path) -> Result<bool, HypervisorError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(disk_err(&path.display().to_string(), &e)),
    }
}

fn disk_err(what: &str, e: &std::io::Error) -> HypervisorError {
    HypervisorError::Disk {
        message: format!("{what}: {e}"),
        failure: io_failure(e.kind()),
    }
}

/// Whether a file-system error can pass by itself: a full disk may be cleaned, a busy one
/// freed; a missing file or a forbidden directory stays as it is until someone acts.
fn io_failure(kind: ErrorKind) -> Failure {
    match kind {
        ErrorKind::NotFound
        | ErrorKind::PermissionDenied
        | ErrorKind::NotADirectory
        | ErrorKind::IsADirectory
        | ErrorKind::ReadOnlyFilesystem
        | ErrorKind::InvalidInput
        | ErrorKind::InvalidFilename
        | ErrorKind::Unsupported => Failure::Permanent,
        _ => Failure::Transient,
    }
}

/// qemu-img's own failures (a base of another format than the one recorded, a corrupt
/// image, an unreadable file) are lasting; a full disk and another process holding the
/// image's lock are not.
fn qemu_img_failure(stderr: &str) -> Failure {
    const PASSING: [&str; 4] = [
        "No space left on device",
        "Disk quota exceeded",
        "Resource temporarily unavailable",
        "Failed to get",
    ];
    if PASSING.iter().any(|t| stderr.contains(t)) {
        Failure::Transient
    } else {
        Failure::Permanent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temp dir QEMU's user could reach (mktemp's are 0700).
    fn tempdir() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        fs::set_permissions(t.path(), fs::Permissions::from_mode(0o711)).unwrap();
        t
    }

    fn qemu_img(args: &[&str]) -> String {
        let out = Command::new("qemu-img").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "qemu-img {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn info(path: &Path) -> serde_json::Value {
        serde_json::from_str(&qemu_img(&[
            "info",
            "--output=json",
            path.to_str().unwrap(),
        ]))
        .unwrap()
    }

    fn base_image(dir: &Path) -> PathBuf {
        let base = dir.join("base.qcow2");
        qemu_img(&["create", "-q", "-f", "qcow2", base.to_str().unwrap(), "64M"]);
        base
    }

    #[test]
    fn creates_an_overlay_in_new_searchable_directories() {
        let tmp = tempdir();
        let base = base_image(tmp.path());
        let overlay = tmp.path().join("a/b/i-1.qcow2");
        create_overlay(&base, "qcow2", &overlay, 2).unwrap();

        let i = info(&overlay);
        assert_eq!(i["format"], "qcow2");
        assert_eq!(i["virtual-size"], 2u64 << 30);
        assert_eq!(i["backing-filename"], base.to_str().unwrap());
        assert_eq!(i["backing-filename-format"], "qcow2");
        assert!(!partial_path(&overlay).exists());
        for d in [tmp.path().join("a"), tmp.path().join("a/b")] {
            let mode = fs::metadata(&d).unwrap().permissions().mode() & 0o7777;
            assert_eq!(mode, 0o711, "{}", d.display());
        }
    }

    #[test]
    fn existing_overlay_is_left_alone() {
        let tmp = tempdir();
        let base = base_image(tmp.path());
        let overlay = tmp.path().join("i-2.qcow2");
        create_overlay(&base, "qcow2", &overlay, 1).unwrap();
        let before = fs::read(&overlay).unwrap();
        create_overlay(&base, "qcow2", &overlay, 5).unwrap();
        assert_eq!(fs::read(&overlay).unwrap(), before);
        assert_eq!(info(&overlay)["virtual-size"], 1u64 << 30);
    }

    #[test]
    fn size_zero_takes_the_bases_size_and_relative_base_is_made_absolute() {
        let tmp = tempdir();
        let base = base_image(tmp.path());
        let overlay = tmp.path().join("i-3.qcow2");
        // A relative base path, relative to the current directory.
        let cwd = std::env::current_dir().unwrap();
        let rel: PathBuf = std::iter::repeat_n("..", cwd.components().count())
            .collect::<PathBuf>()
            .join(base.strip_prefix("/").unwrap());
        create_overlay(&rel, "qcow2", &overlay, 0).unwrap();
        let i = info(&overlay);
        assert_eq!(i["virtual-size"], 64u64 << 20);
        let recorded = PathBuf::from(i["backing-filename"].as_str().unwrap());
        assert!(recorded.is_absolute(), "{}", recorded.display());
        assert_eq!(
            fs::canonicalize(&recorded).unwrap(),
            fs::canonicalize(&base).unwrap()
        );
    }

    #[test]
    fn raw_base() {
        let tmp = tempdir();
        let base = tmp.path().join("base.raw");
        qemu_img(&["create", "-q", "-f", "raw", base.to_str().unwrap(), "8M"]);
        let overlay = tmp.path().join("i-4.qcow2");
        create_overlay(&base, "raw", &overlay, 1).unwrap();
        assert_eq!(info(&overlay)["backing-filename-format"], "raw");
    }

    #[test]
    fn missing_base_or_wrong_format_fails_and_leaves_nothing() {
        let tmp = tempdir();
        let overlay = tmp.path().join("i-5.qcow2");
        let e = create_overlay(&tmp.path().join("nope.qcow2"), "qcow2", &overlay, 1).unwrap_err();
        assert!(
            matches!(
                e,
                HypervisorError::Disk {
                    failure: Failure::Permanent,
                    ..
                }
            ),
            "{e}"
        );
        assert!(!overlay.exists());

        let base = base_image(tmp.path());
        let e = create_overlay(&base, "nosuchformat", &overlay, 1).unwrap_err();
        assert!(
            matches!(&e, HypervisorError::Disk { message, failure: Failure::Permanent }
                if message.contains("qemu-img create")),
            "{e}"
        );
        assert!(!overlay.exists());
        assert!(!partial_path(&overlay).exists());
    }

    #[test]
    fn remove_ignores_missing_files_and_takes_partials() {
        let tmp = tempdir();
        let base = base_image(tmp.path());
        let overlay = tmp.path().join("i-6.qcow2");
        create_overlay(&base, "qcow2", &overlay, 1).unwrap();
        fs::write(partial_path(&overlay), b"half").unwrap();
        remove(&overlay).unwrap();
        assert!(!overlay.exists());
        assert!(!partial_path(&overlay).exists());
        remove(&overlay).unwrap();
        assert!(base.exists());
    }

    #[test]
    fn disk_failures_that_pass_are_told_from_lasting_ones() {
        assert_eq!(io_failure(ErrorKind::PermissionDenied), Failure::Permanent);
        assert_eq!(io_failure(ErrorKind::NotFound), Failure::Permanent);
        assert_eq!(io_failure(ErrorKind::StorageFull), Failure::Transient);
        assert_eq!(io_failure(ErrorKind::Interrupted), Failure::Transient);
        assert_eq!(
            qemu_img_failure(
                "qemu-img: /d/i.qcow2.partial: Could not open '/d/base.raw': Permission denied"
            ),
            Failure::Permanent
        );
        assert_eq!(
            qemu_img_failure("qemu-img: /d/i.qcow2.partial: Image is not in qcow2 format"),
            Failure::Permanent
        );
        assert_eq!(
            qemu_img_failure("qemu-img: /d/i.qcow2.partial: Could not write qcow2 header: No space left on device"),
            Failure::Transient
        );
        assert_eq!(
            qemu_img_failure("qemu-img: Failed to get shared \"write\" lock"),
            Failure::Transient
        );
    }

    #[test]
    fn stale_partial_is_replaced() {
        let tmp = tempdir();
        let base = base_image(tmp.path());
        let overlay = tmp.path().join("i-7.qcow2");
        fs::write(partial_path(&overlay), b"left by a crash").unwrap();
        create_overlay(&base, "qcow2", &overlay, 1).unwrap();
        assert_eq!(info(&overlay)["format"], "qcow2");
        assert!(!partial_path(&overlay).exists());
    }
}
