//! Whether QEMU can reach the gateway's disks. Under `qemu:///system` libvirt runs each guest's
//! QEMU as an unprivileged user (`libvirt-qemu` on Debian), so every directory above an
//! instance's overlay, a kept volume and an image must let that user search it. A data
//! directory under a 0700 home (a clone under /root) does not, and every launch would fail
//! with "Permission denied"; `serve` checks at start-up and says what to do instead.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where libvirt says which user and group QEMU runs as.
pub const QEMU_CONF: &str = "/etc/libvirt/qemu.conf";
/// Debian's default for both (qemu.conf's commented-out `user`/`group`).
pub const DEFAULT_QEMU_USER: &str = "libvirt-qemu";

/// A user as the kernel checks it against a directory's mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub uid: u32,
    pub gids: Vec<u32>,
}

/// A directory's owner and mode, as `stat` gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirMode {
    pub path: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// Whether the libvirt URI's guests run as a user of their own on this host: the QEMU driver's
/// system instance, reached locally. The session instance runs QEMU as the caller, the test
/// driver runs nothing, and a remote host's paths are not this host's.
pub fn runs_qemu_as_another_user(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return false;
    };
    let driver = scheme.split('+').next().unwrap_or_default();
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let path = path.split('?').next().unwrap_or_default();
    driver == "qemu" && (host.is_empty() || host == "localhost") && path == "/system"
}

/// The value of a `key = "value"` setting in a libvirt configuration file (comments skipped).
pub fn conf_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default().trim();
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The user and groups QEMU runs as: qemu.conf's `user` (a name, or `+UID`) and `group`, with
/// the groups /etc/group lists the user in (libvirt gives QEMU those too). None if the user is
/// not in /etc/passwd.
pub fn qemu_identity(qemu_conf: &str, passwd: &str, group: &str) -> Option<Identity> {
    let user = conf_value(qemu_conf, "user").unwrap_or_else(|| DEFAULT_QEMU_USER.to_owned());
    let group_name = conf_value(qemu_conf, "group").unwrap_or_else(|| DEFAULT_QEMU_USER.to_owned());
    let entries: Vec<Vec<&str>> = passwd.lines().map(|l| l.split(':').collect()).collect();
    let entry = match user.strip_prefix('+') {
        Some(uid) => entries.iter().find(|f| f.get(2) == Some(&uid)),
        None => entries.iter().find(|f| f.first() == Some(&user.as_str())),
    }?;
    let name = (*entry.first()?).to_owned();
    let uid = entry.get(2)?.parse().ok()?;
    let primary: u32 = entry.get(3)?.parse().ok()?;
    let groups: Vec<Vec<&str>> = group.lines().map(|l| l.split(':').collect()).collect();
    let gid_of = |f: &Vec<&str>| f.get(2).and_then(|g| g.parse::<u32>().ok());
    let main_gid = match group_name.strip_prefix('+') {
        Some(gid) => gid.parse().ok(),
        None => groups
            .iter()
            .find(|f| f.first() == Some(&group_name.as_str()))
            .and_then(gid_of),
    }
    .unwrap_or(primary);
    let mut gids = vec![main_gid];
    for f in &groups {
        let member = f
            .get(3)
            .is_some_and(|m| m.split(',').any(|m| m.trim() == name));
        if let Some(gid) = gid_of(f).filter(|g| member && !gids.contains(g)) {
            gids.push(gid);
        }
    }
    Some(Identity { name, uid, gids })
}

/// Whether `who` may search (enter) a directory: the owner's, the group's or the others' x
/// bit, whichever class the kernel picks for it. (QEMU runs without capabilities, so uid 0 is
/// no exception.)
pub fn can_search(dir: &DirMode, who: &Identity) -> bool {
    let bit = if dir.uid == who.uid {
        0o100
    } else if who.gids.contains(&dir.gid) {
        0o010
    } else {
        0o001
    };
    dir.mode & bit != 0
}

/// The first directory, from the root down, that `who` may not enter.
pub fn first_closed<'a>(dirs: &'a [DirMode], who: &Identity) -> Option<&'a DirMode> {
    dirs.iter().find(|d| !can_search(d, who))
}

/// What `serve` says when the data directory is out of QEMU's reach.
pub fn refusal(data_dir: &Path, closed: &DirMode, who: &Identity) -> String {
    format!(
        "the data directory {data} is out of QEMU's reach: libvirt runs guests as {user} \
         (uid {uid}), which may not enter {dir} (mode {mode:04o}, owner uid {owner}), so every \
         instance would fail to start with \"Permission denied\". Choose a data directory it can \
         reach (--data-dir, EC2GW_DATA_DIR or data_dir in the config file; run as root, the \
         default is /var/lib/ec2gw), or let it in: chmod o+x {dir}",
        data = data_dir.display(),
        user = who.name,
        uid = who.uid,
        dir = closed.path.display(),
        mode = closed.mode & 0o7777,
        owner = closed.uid,
    )
}

/// The directories QEMU passes through to reach disks under `data_dir` (which must exist):
/// every ancestor of its real path, itself, and those of its disk subdirectories that exist.
pub fn dirs_on_the_way(data_dir: &Path) -> std::io::Result<Vec<DirMode>> {
    let real = data_dir.canonicalize()?;
    let mut paths: Vec<PathBuf> = real.ancestors().map(Path::to_path_buf).collect();
    paths.reverse();
    for sub in ["images", "instances", "volumes"] {
        let p = real.join(sub);
        if p.is_dir() {
            paths.push(p);
        }
    }
    paths
        .into_iter()
        .map(|path| {
            let meta = std::fs::metadata(&path)?;
            Ok(DirMode {
                uid: meta.uid(),
                gid: meta.gid(),
                mode: meta.permissions().mode(),
                path,
            })
        })
        .collect()
}

/// The user QEMU runs as on this host, from qemu.conf, /etc/passwd and /etc/group; when it
/// cannot be told, a user that only the "others" bits let in.
pub fn host_qemu_identity() -> Identity {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    qemu_identity(&read(QEMU_CONF), &read("/etc/passwd"), &read("/etc/group")).unwrap_or(Identity {
        name: DEFAULT_QEMU_USER.to_owned(),
        uid: u32::MAX,
        gids: Vec::new(),
    })
}

/// Refuses a data directory QEMU cannot reach, with what to do about it.
pub fn check_data_dir(data_dir: &Path, who: &Identity) -> Result<(), String> {
    let failed = |e: std::io::Error| format!("{}: {e}", data_dir.display());
    let dirs = dirs_on_the_way(data_dir).map_err(failed)?;
    match first_closed(&dirs, who) {
        // The real path: a relative one (./data) would not say which clone it is in.
        Some(closed) => Err(refusal(
            &data_dir.canonicalize().map_err(failed)?,
            closed,
            who,
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        libvirt-qemu:x:64055:107:Libvirt Qemu,,,:/var/lib/libvirt:/usr/sbin/nologin\n\
        alice:x:1000:1000::/home/alice:/bin/bash\n";
    const GROUP: &str = "root:x:0:\nkvm:x:107:\nlibvirt-qemu:x:64055:libvirt-qemu\n\
        alice:x:1000:\nshared:x:2000:alice,libvirt-qemu\n";

    fn qemu() -> Identity {
        Identity {
            name: "libvirt-qemu".into(),
            uid: 64055,
            gids: vec![64055, 2000],
        }
    }

    fn dir(path: &str, uid: u32, gid: u32, mode: u32) -> DirMode {
        DirMode {
            path: path.into(),
            uid,
            gid,
            mode,
        }
    }

    #[test]
    fn only_the_local_system_qemu_driver_runs_guests_as_another_user() {
        for uri in [
            "qemu:///system",
            "qemu+unix:///system",
            "qemu:///system?socket=/run/libvirt/libvirt-sock",
            "qemu://localhost/system",
        ] {
            assert!(runs_qemu_as_another_user(uri), "{uri}");
        }
        for uri in [
            "test:///default",
            "qemu:///session",
            "qemu+ssh://host.example/system",
            "qemu+tcp://10.0.0.1/system",
            "qemu",
        ] {
            assert!(!runs_qemu_as_another_user(uri), "{uri}");
        }
    }

    #[test]
    fn reads_qemus_user_and_groups() {
        // Debian's qemu.conf: every setting commented out.
        let debian = "#user = \"libvirt-qemu\"\n#group = \"libvirt-qemu\"\n";
        assert_eq!(qemu_identity(debian, PASSWD, GROUP), Some(qemu()));
        assert_eq!(
            qemu_identity(
                "user = \"+1000\"\ngroup = \"kvm\"  # comment\n",
                PASSWD,
                GROUP
            ),
            Some(Identity {
                name: "alice".into(),
                uid: 1000,
                gids: vec![107, 2000],
            })
        );
        assert_eq!(qemu_identity("user = \"nobody\"", PASSWD, GROUP), None);
    }

    #[test]
    fn the_kernels_class_decides_which_bit_counts() {
        let who = qemu();
        assert!(can_search(&dir("/", 0, 0, 0o755), &who));
        assert!(!can_search(&dir("/root", 0, 0, 0o700), &who));
        assert!(can_search(&dir("/root", 0, 0, 0o701), &who));
        // Owner bits only for the owner, even when "others" would let in.
        assert!(!can_search(&dir("/q", 64055, 0, 0o601), &who));
        assert!(can_search(&dir("/g", 0, 2000, 0o710), &who));
        assert!(!can_search(&dir("/g", 0, 2000, 0o701), &who));
    }

    #[test]
    fn a_clone_under_root_is_refused_with_what_to_do() {
        let who = qemu();
        let dirs = [
            dir("/", 0, 0, 0o40755),
            dir("/root", 0, 0, 0o40700),
            dir("/root/ec2gw", 0, 0, 0o40755),
            dir("/root/ec2gw/data", 0, 0, 0o40711),
        ];
        let closed = first_closed(&dirs, &who).unwrap();
        assert_eq!(closed.path, Path::new("/root"));
        assert_eq!(
            refusal(Path::new("/root/ec2gw/data"), closed, &who),
            "the data directory /root/ec2gw/data is out of QEMU's reach: libvirt runs guests as \
             libvirt-qemu (uid 64055), which may not enter /root (mode 0700, owner uid 0), so \
             every instance would fail to start with \"Permission denied\". Choose a data \
             directory it can reach (--data-dir, EC2GW_DATA_DIR or data_dir in the config file; \
             run as root, the default is /var/lib/ec2gw), or let it in: chmod o+x /root"
        );
        let default = [
            dir("/", 0, 0, 0o40755),
            dir("/var", 0, 0, 0o40755),
            dir("/var/lib", 0, 0, 0o40755),
            dir("/var/lib/ec2gw", 0, 0, 0o40711),
        ];
        assert_eq!(first_closed(&default, &who), None);
    }

    /// On this host's file system, as this host's QEMU user: a data directory under a 0700
    /// directory is refused, one under a 0711 directory is not.
    #[test]
    fn checks_real_directories() {
        let who = Identity {
            name: "nobody-like".into(),
            uid: u32::MAX - 1,
            gids: Vec::new(),
        };
        let tmp = tempfile::tempdir().unwrap();
        let closed = tmp.path().join("home");
        let open = tmp.path().join("srv");
        for (d, mode) in [(&closed, 0o700), (&open, 0o711)] {
            std::fs::create_dir_all(d.join("data/instances")).unwrap();
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        let e = check_data_dir(&closed.join("data"), &who).unwrap_err();
        let real = closed.canonicalize().unwrap();
        assert!(
            e.contains(&format!("may not enter {} (mode 0700", real.display())),
            "{e}"
        );
        assert!(e.ends_with(&format!("chmod o+x {}", real.display())), "{e}");
        // /tmp itself and above are searchable by others on any sane host.
        check_data_dir(&open.join("data"), &who).unwrap();
        // A disk directory shut to others is refused too.
        let instances = open.join("data/instances");
        std::fs::set_permissions(&instances, std::fs::Permissions::from_mode(0o700)).unwrap();
        let e = check_data_dir(&open.join("data"), &who).unwrap_err();
        assert!(e.contains("instances (mode 0700"), "{e}");
    }
}
