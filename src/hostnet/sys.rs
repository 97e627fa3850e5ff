//! Running `ip`, `nft`, `sh` and dnsmasq, and the checks that need no command at all (sysfs,
//! /run/netns, /proc).

use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::HostNetError;

/// The programs used, found once: a gateway started with a short PATH (no /usr/sbin) still
/// finds them.
#[derive(Debug, Clone)]
pub(super) struct Tools {
    pub ip: PathBuf,
    pub nft: PathBuf,
    pub sh: PathBuf,
    pub dnsmasq: PathBuf,
}

impl Tools {
    pub fn find() -> Self {
        Tools {
            ip: find_program("ip"),
            nft: find_program("nft"),
            sh: find_program("sh"),
            dnsmasq: find_program("dnsmasq"),
        }
    }
}

fn find_program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// How a command is named in errors and logs: its words, and the first lines of what it was
/// fed (an `ip -batch` error names the line that failed).
fn describe(program: &Path, args: &[&str], input: Option<&str>) -> String {
    let mut s = program.display().to_string();
    for a in args {
        s.push(' ');
        if a.contains(char::is_whitespace) {
            s.push_str(&format!("'{}'", a.replace('\n', "; ")));
        } else {
            s.push_str(a);
        }
    }
    if let Some(input) = input {
        let mut lines: Vec<&str> = input.lines().take(40).collect();
        if input.lines().count() > 40 {
            lines.push("...");
        }
        s.push_str(&format!(" <<< [{}]", lines.join("; ")));
    }
    s
}

/// Runs a program to its end, `input` on its stdin; returns its stdout.
pub(super) fn run(
    program: &Path,
    args: &[&str],
    input: Option<&str>,
) -> Result<String, HostNetError> {
    let started = Instant::now();
    let spawn_err = |source| HostNetError::Spawn {
        command: describe(program, args, input),
        source,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    let stdin = child.stdin.take();
    // Fed from another thread: a listing batch's output could fill the pipe while its input
    // is still being written.
    let output = std::thread::scope(|scope| {
        if let (Some(mut stdin), Some(input)) = (stdin, input) {
            scope.spawn(move || {
                // A program that exits early fails on its own; its stderr says why.
                let _ = stdin.write_all(input.as_bytes());
            });
        }
        child.wait_with_output()
    })
    .map_err(spawn_err)?;
    let command = describe(program, args, input);
    tracing::debug!(%command, elapsed_us = started.elapsed().as_micros() as u64, "host network command");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(HostNetError::Command {
            command,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

/// Whether a network interface of this name exists in the root namespace.
pub(super) fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// The bridge a root-namespace interface is a port of.
pub(super) fn link_master(name: &str) -> Option<String> {
    let target = std::fs::read_link(Path::new("/sys/class/net").join(name).join("master")).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

/// The MAC address of a root-namespace interface, lowercase.
pub(super) fn link_address(name: &str) -> Option<String> {
    let text =
        std::fs::read_to_string(Path::new("/sys/class/net").join(name).join("address")).ok()?;
    Some(text.trim().to_ascii_lowercase())
}

/// The root namespace's interfaces whose names start with `prefix`.
pub(super) fn links_with_prefix(prefix: &str) -> Vec<String> {
    list_dir("/sys/class/net")
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// The names in a directory; none if it is missing or unreadable.
pub(super) fn list_dir(dir: impl AsRef<Path>) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect()
}

pub(super) fn netns_path(name: &str) -> PathBuf {
    Path::new("/run/netns").join(name)
}

/// Turns IPv6 off on a root-namespace interface before it goes up: the host must not appear on
/// the guests' L2, not even with a link-local address or a router solicitation. Nothing to do
/// where IPv6 is off altogether.
pub(super) fn disable_ipv6(name: &str) -> Result<(), HostNetError> {
    let path = Path::new("/proc/sys/net/ipv6/conf")
        .join(name)
        .join("disable_ipv6");
    match std::fs::write(&path, "1") {
        Err(e) if e.kind() == ErrorKind::NotFound && !Path::new("/proc/sys/net/ipv6").exists() => {
            Ok(())
        }
        other => other.map_err(|source| HostNetError::Io { path, source }),
    }
}

/// Writes a root-namespace sysctl under /proc/sys.
pub(super) fn write_sysctl(path: &str, value: &str) -> Result<(), HostNetError> {
    std::fs::write(path, value).map_err(|source| HostNetError::Io {
        path: path.into(),
        source,
    })
}

/// Makes a VPC's folder (and the state directory above it) readable by dnsmasq's
/// unprivileged user, whatever the gateway's umask: dnsmasq re-reads its hosts files there
/// after dropping root.
pub(super) fn create_dir(dir: &Path) -> Result<(), HostNetError> {
    let io = |path: &Path, source| HostNetError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|e| io(dir, e))?;
    for d in [Some(dir), dir.parent()].into_iter().flatten() {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io(d, e))?;
    }
    Ok(())
}

/// A file's text; empty if it is missing.
pub(super) fn read_or_empty(path: &Path) -> Result<String, HostNetError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(HostNetError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes a file under a temporary name and renames it: a crash leaves the old text or the
/// new, never half of one, for dnsmasq to read.
pub(super) fn write_file(path: &Path, text: &str) -> Result<(), HostNetError> {
    let io = |source| HostNetError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, text).map_err(io)?;
    // Read by dnsmasq as nobody, whatever the umask; nothing in them is secret.
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

pub(super) fn remove_dir(dir: &Path) -> Result<(), HostNetError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(HostNetError::Io {
            path: dir.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// The process named in `pid_file`, if it is alive, runs exactly `argv`, and (when given) lives
/// in the network namespace mounted at `netns`: a reused pid, a stale file, or a dnsmasq left
/// in a namespace deleted under it do not count.
pub(super) fn live_process(pid_file: &Path, argv: &[&str], netns: Option<&Path>) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    if !runs(pid, argv) {
        return None;
    }
    if let Some(netns) = netns {
        let mine = std::fs::metadata(format!("/proc/{pid}/ns/net")).ok()?;
        let want = std::fs::metadata(netns).ok()?;
        if (mine.dev(), mine.ino()) != (want.dev(), want.ino()) {
            return None;
        }
    }
    Some(pid)
}

/// The process named in `pid_file` if it runs `argv`, wherever it lives.
pub(super) fn process_from_pid_file(pid_file: &Path, argv: &[&str]) -> Option<i32> {
    live_process(pid_file, argv, None)
}

/// Whether `pid` is alive (a zombie is not) and its command line is `argv`.
fn runs(pid: i32, argv: &[&str]) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let words: Vec<&[u8]> = cmdline
        .strip_suffix(b"\0")
        .unwrap_or(&cmdline)
        .split(|b| *b == 0)
        .collect();
    words.len() == argv.len() && words.iter().zip(argv).all(|(w, a)| *w == a.as_bytes())
}

/// Stops a process the gateway started (`argv` checked first, so a reused pid is never hit):
/// SIGTERM, then SIGKILL after a second; returns once it is gone. A daemon's exit is reaped
/// by init, so a zombie counts as gone: its cmdline reads empty.
pub(super) fn stop_process(pid: i32, argv: &[&str]) -> Result<(), HostNetError> {
    use rustix::process::{kill_process, Pid, Signal};
    let Some(p) = Pid::from_raw(pid) else {
        return Ok(());
    };
    for (signal, wait) in [
        (Signal::TERM, Duration::from_secs(1)),
        (Signal::KILL, Duration::from_secs(2)),
    ] {
        if !runs(pid, argv) {
            return Ok(());
        }
        let _ = kill_process(p, signal);
        let until = Instant::now() + wait;
        while Instant::now() < until {
            if !runs(pid, argv) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    if runs(pid, argv) {
        return Err(HostNetError::Unexpected(format!(
            "process {pid} ({}) survived SIGKILL",
            argv.join(" ")
        )));
    }
    Ok(())
}

/// SIGHUP: dnsmasq re-reads its hosts files.
pub(super) fn hangup(pid: i32) -> Result<(), HostNetError> {
    use rustix::process::{kill_process, Pid, Signal};
    let Some(p) = Pid::from_raw(pid) else {
        return Ok(());
    };
    kill_process(p, Signal::HUP)
        .map_err(|e| HostNetError::Unexpected(format!("SIGHUP to {pid}: {e}")))
}

/// Starts a daemon that forks itself away (dnsmasq): waits for the first process only, with
/// stderr in a file, since the daemon may keep what it inherited open for as long as it runs.
pub(super) fn start_daemon(
    program: &Path,
    args: &[&str],
    stderr_file: &Path,
) -> Result<(), HostNetError> {
    let started = Instant::now();
    let command = describe(program, args, None);
    let io = |source| HostNetError::Io {
        path: stderr_file.to_path_buf(),
        source,
    };
    let err = std::fs::File::create(stderr_file).map_err(io)?;
    let status = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .status()
        .map_err(|source| HostNetError::Spawn {
            command: command.clone(),
            source,
        })?;
    tracing::debug!(%command, elapsed_us = started.elapsed().as_micros() as u64, "host network daemon");
    if status.success() {
        return Ok(());
    }
    Err(HostNetError::Command {
        command,
        status: status.to_string(),
        stderr: read_or_empty(stderr_file)?.trim().to_string(),
    })
}
