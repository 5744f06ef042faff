//! Network partitions for one process at a time: a [`NetCell`] is a cgroup
//! (v2) that a child is started in, and cutting it adds an nftables rule
//! that drops every packet sent by a socket of that cgroup. Packets vanish:
//! no reset, no ICMP, so the peers see what a cut cable or a lost zone
//! looks like (timeouts), not a crash (refused connections). Healing deletes
//! the rule; the process and its sockets were never touched.
//!
//! Only loopback traffic exists in these tests, and the rule drops, never
//! sends: nothing leaves the machine. Needs root, `nft` (nftables, installed
//! by `scripts/install-test-tools.sh`) and a cgroup v2 hierarchy (mounted
//! here when the machine has none).

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// nft names a cgroup by its path below this folder.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// A cgroup whose processes can be cut off the network and healed.
pub struct NetCell {
    name: String,
    dir: PathBuf,
    /// The cgroup's path as nft takes it (relative to [`CGROUP_ROOT`]).
    nft_path: String,
}

impl NetCell {
    /// A new, empty cell named after `prefix`.
    pub fn new(prefix: &str) -> NetCell {
        let (mount, relative) = cgroup2();
        let name = crate::harness::unique_topic(&format!("sbcut-{prefix}")).replace('.', "-");
        let dir = mount.join(&name);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create cgroup {}: {e}", dir.display()));
        let nft_path = if relative.is_empty() {
            name.clone()
        } else {
            format!("{relative}/{name}")
        };
        NetCell {
            name,
            dir,
            nft_path,
        }
    }

    /// Makes `command`'s process join this cell before it runs, so every
    /// socket it opens belongs to the cell.
    pub fn place(&self, command: &mut Command) {
        let procs = CString::new(self.dir.join("cgroup.procs").to_string_lossy().into_owned())
            .expect("cgroup path without NUL");
        // SAFETY: between fork and exec only async-signal-safe calls (open,
        // write, close) on memory prepared before the fork. Writing "0" to
        // cgroup.procs moves the writing process.
        unsafe {
            command.pre_exec(move || {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                libc::close(fd);
                if written != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// Drops every packet the cell's sockets send, from now on: the process
    /// is cut off from everything.
    pub fn cut(&self) {
        self.drop_matching("");
    }

    /// Drops the packets the cell's sockets send to any of `ports` (a
    /// cluster's), from now on: cut off from those servers, still
    /// reachable by and reaching everything else.
    pub fn cut_from(&self, ports: &[u16]) {
        let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
        self.drop_matching(&format!("tcp dport {{ {} }}", ports.join(", ")));
    }

    fn drop_matching(&self, condition: &str) {
        let table = self.table();
        nft(&["add", "table", "inet", &table]);
        nft(&[
            "add",
            "chain",
            "inet",
            &table,
            "out",
            "{ type filter hook output priority 0; policy accept; }",
        ]);
        let rule = format!(
            "add rule inet {table} out socket cgroupv2 level 1 \"{}\" {condition} drop",
            self.nft_path
        );
        nft(&[rule.as_str()]);
    }

    /// Lets the cell's packets through again.
    pub fn heal(&self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.table()])
            .output();
    }

    fn table(&self) -> String {
        self.name.replace('-', "_")
    }
}

impl Drop for NetCell {
    /// Heals, and removes the cgroup once its processes are gone (a child
    /// killed just before may take a moment to leave it).
    fn drop(&mut self) {
        self.heal();
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

fn nft(args: &[&str]) {
    let output = Command::new("nft").args(args).output().unwrap_or_else(|e| {
        panic!("cannot run nft (scripts/install-test-tools.sh installs nftables): {e}")
    });
    assert!(
        output.status.success(),
        "nft {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Where a cgroup v2 hierarchy is mounted, and its path below
/// [`CGROUP_ROOT`]; mounts one at `/sys/fs/cgroup/unified` when there is none.
fn cgroup2() -> (PathBuf, String) {
    static FOUND: OnceLock<(PathBuf, String)> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let mount = find_cgroup2().unwrap_or_else(|| {
                let dir = Path::new(CGROUP_ROOT).join("unified");
                let _ = std::fs::create_dir_all(&dir);
                let status = Command::new("mount")
                    .args(["-t", "cgroup2", "none"])
                    .arg(&dir)
                    .status()
                    .expect("run mount");
                assert!(
                    status.success(),
                    "cannot mount a cgroup v2 hierarchy at {}",
                    dir.display()
                );
                dir
            });
            let relative = mount
                .strip_prefix(CGROUP_ROOT)
                .unwrap_or_else(|_| {
                    panic!(
                        "cgroup v2 is mounted at {}, outside {CGROUP_ROOT}, where nft looks for it",
                        mount.display()
                    )
                })
                .to_string_lossy()
                .into_owned();
            (mount, relative)
        })
        .clone()
}

fn find_cgroup2() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (_, point, kind) = (fields.next()?, fields.next()?, fields.next()?);
        (kind == "cgroup2").then(|| PathBuf::from(point))
    })
}
