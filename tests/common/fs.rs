//! File systems for fault tests: a small one that fills up, a read-only one. Mounting needs root; a
//! test that cannot get one says so loudly, and fails under CI (where `.ci/run` runs as root).

use std::path::{Path, PathBuf};
use std::process::Command;

/// True when running as root (mounting a tmpfs is possible).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Says loudly that a test could not run; under CI that is a failure.
#[allow(
    clippy::print_stderr,
    reason = "a test that cannot run must say so in the output"
)]
pub fn cannot_run(test: &str, why: &str) {
    let line = format!("!!! NOT RUN: {test}: {why}");
    if std::env::var_os("CI").is_some() {
        panic!("{line} (CI must run it: run the tests as root)");
    }
    // Straight to the process's stderr: the test harness captures `eprintln!` of passing tests.
    let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("\n{line}\n").as_bytes());
}

fn run(cmd: &mut Command) -> std::io::Result<()> {
    let out = cmd.output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A tmpfs of a given size mounted on a temporary directory, unmounted on drop.
pub struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    /// `None` (said loudly) where it cannot be mounted.
    pub fn mount(test: &str, bytes: u64) -> Option<SmallFs> {
        if !is_root() {
            cannot_run(test, "mounting a small tmpfs needs root");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let size = format!("size={bytes}");
        match run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &size, "tmpfs"])
            .arg(dir.path()))
        {
            Ok(()) => Some(SmallFs { dir }),
            Err(e) => {
                cannot_run(test, &format!("mount failed: {e}"));
                None
            }
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Makes it read-only.
    pub fn remount_read_only(&self) -> std::io::Result<()> {
        run(Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.dir.path()))
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = run(Command::new("umount").arg("-l").arg(self.dir.path()));
    }
}

/// A callmeter database that exists but cannot be written: on a read-only tmpfs as root (root writes
/// any file whatever its mode), through file and folder modes otherwise.
pub struct ReadOnlyDb {
    pub path: PathBuf,
    _fs: Option<SmallFs>,
    _dir: Option<tempfile::TempDir>,
}

impl ReadOnlyDb {
    pub fn new() -> Result<Option<ReadOnlyDb>, Box<dyn std::error::Error>> {
        let create = |path: &Path| -> callmeter::Result<()> {
            let (_, guard) = callmeter::Meter::builder().path(path).open()?;
            guard.shutdown().map(drop)
        };
        if is_root() {
            let Some(fs) = SmallFs::mount("read-only database", 8 << 20) else {
                return Ok(None);
            };
            let path = fs.path().join("costs.db");
            create(&path)?;
            fs.remount_read_only()?;
            return Ok(Some(ReadOnlyDb {
                path,
                _fs: Some(fs),
                _dir: None,
            }));
        }
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("costs.db");
        create(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444))?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555))?;
        Ok(Some(ReadOnlyDb {
            path,
            _fs: None,
            _dir: Some(dir),
        }))
    }
}
