//! Child processes: the workspace's binaries, built once per run; children
//! tied to the test process so none outlives it; their logs; and the
//! address a child reports after binding port 0 (no port is picked by the
//! harness and then re-bound by the child, so no two tests race for one).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{mpsc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// The listen address to give a child: loopback, any free port.
pub const LOOPBACK_ANY_PORT: &str = "127.0.0.1:0";

/// A port that was free a moment ago, for third-party servers that must be
/// told their port (Kafka advertises it; Prometheus takes it as a flag). Our
/// own binaries bind [`LOOPBACK_ANY_PORT`] instead. A lost race with another
/// process shows as a server that exits at start; the broker then tries
/// another port.
///
/// No port is handed out twice in one test process: the kernel may give a
/// just-released port to the next bind, and two picks in a row once gave one
/// node's client and controller listeners the same port (a broker that
/// refuses its configuration, not one that exits at start).
pub fn probably_free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    // Far fewer ports are handed out in a run than the ephemeral range holds.
    for _ in 0..1_000 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = listener.local_addr().expect("local addr").port();
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
        if handed_out.insert(port) {
            return port;
        }
    }
    panic!("no ephemeral port left that this process has not handed out already");
}

/// Spawns `command` so that it dies with the thread that spawned it. Callers
/// that must outlive a test spawn from `keeper`'s long-lived thread.
pub fn spawn_tied(mut command: Command) -> Child {
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to signal the
    // child when its parent thread exits, so no process outlives the test run.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"))
}

type SpawnRequest = (Command, mpsc::Sender<Child>);

/// A thread that lives as long as the test process and spawns long-lived
/// children (PDEATHSIG fires when the spawning *thread* exits).
fn keeper() -> &'static Mutex<mpsc::Sender<SpawnRequest>> {
    static KEEPER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::spawn(move || {
            for (command, reply) in rx {
                let _ = reply.send(spawn_tied(command));
            }
            loop {
                std::thread::park();
            }
        });
        Mutex::new(tx)
    })
}

/// Spawns a child that lives as long as the test process (the shared broker).
pub fn spawn_long_lived(command: Command) -> Child {
    let (tx, rx) = mpsc::channel();
    keeper()
        .lock()
        .expect("keeper")
        .send((command, tx))
        .expect("keeper thread alive");
    rx.recv().expect("keeper spawned the child")
}

/// Where the children's logs go (`target/debug/it-logs`).
pub fn log_dir() -> PathBuf {
    let dir = binary_dir().join("it-logs");
    std::fs::create_dir_all(&dir).expect("create log dir");
    dir
}

/// A log file name no other child uses.
pub fn unique_log(prefix: &str) -> PathBuf {
    log_dir().join(format!("{}.log", super::unique_topic(prefix)))
}

/// Where cargo put this workspace's binaries (`target/debug`).
fn binary_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .to_path_buf()
}

/// What a child process logged so far.
pub fn read_log(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

/// Sends `signal` to `child`.
pub fn send_signal(child: &Child, signal: i32) {
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
}

/// The path of a workspace binary, built once per test run so that a plain
/// `cargo test` always runs the current code.
pub fn workspace_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut command = Command::new(cargo);
        command.args(["build", "--workspace", "--bins"]);
        if !cfg!(debug_assertions) {
            // Benchmarks are built optimised; so must the processes they measure be.
            command.arg("--release");
        }
        let status = command.status().expect("run cargo build");
        assert!(status.success(), "cargo build --bins failed");
    });
    let path = binary_dir().join(name);
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// `RUST_LOG` for a child: `filter` (the caller's, if any, else `default`),
/// always letting through the info lines that report the bound addresses
/// (logged by `targets`), which [`listening_addr`] reads.
pub fn log_filter(env: &[(&str, &str)], default: &str, targets: &[&str]) -> String {
    let filter = env
        .iter()
        .rev()
        .find(|(k, _)| *k == "RUST_LOG")
        .map_or(default, |(_, v)| *v);
    targets.iter().fold(filter.to_owned(), |acc, target| {
        format!("{acc},{target}=info")
    })
}

/// The address `child` bound, read from its log line that contains
/// `message` and a `listen=ADDR` field (children are started on
/// [`LOOPBACK_ANY_PORT`]). Fails with the log if the child exits first.
pub async fn listening_addr(child: &mut Child, log: &Path, message: &str) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = read_log(log);
        let found = text
            .lines()
            .filter(|line| line.contains(message))
            .find_map(|line| {
                let rest = &line[line.find("listen=")? + "listen=".len()..];
                rest.split_whitespace().next()?.parse::<SocketAddr>().ok()
            });
        if let Some(addr) = found {
            return addr;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the child exited with {status} before listening: {text}");
        }
        assert!(
            Instant::now() < deadline,
            "no \"{message}\" line with listen= in the log: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// User + system CPU time of `pid` so far, µs (from `/proc/<pid>/stat`).
pub fn cpu_time_us(pid: u32) -> f64 {
    stat_cpu_us(&format!("/proc/{pid}/stat"))
}

/// User + system CPU time so far, µs, of those threads of `pid` whose name
/// contains `name`: a JVM's JIT compiler threads are "C2 CompilerThread0"
/// and the like, so a bench can tell a cold broker's compiling from its work.
pub fn threads_cpu_time_us(pid: u32, name: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    tasks
        .flatten()
        .map(|task| task.path())
        .filter(|path| {
            std::fs::read_to_string(path.join("comm")).is_ok_and(|comm| comm.contains(name))
        })
        .map(|path| stat_cpu_us(&path.join("stat").to_string_lossy()))
        .sum()
}

/// User + system CPU time in a `/proc` `stat` file, µs.
fn stat_cpu_us(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf only reads a system constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
    (ticks(11) + ticks(12)) * 1e6 / per_second
}

/// A memory figure of `pid` from `/proc/<pid>/status` (`VmRSS`, or `VmHWM`
/// for the peak), MiB.
pub fn memory_mib(field: &str, pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| {
            l.strip_prefix(field)
                .is_some_and(|rest| rest.starts_with(':'))
        })
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}
