//! One KRaft node (broker and controller in one JVM): its settings file,
//! storage formatted once, the process started, killed, frozen and started
//! again on the same ports and the same data.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use super::install::Installation;
use crate::harness::netcut::NetCell;
use crate::harness::process::{read_log, send_signal, spawn_long_lived};

/// A node's identity and addresses, fixed for its life (restarts included).
#[derive(Debug, Clone)]
pub struct NodeAddress {
    /// `node.id`, from 1.
    pub id: u32,
    /// The client (PLAINTEXT) port.
    pub port: u16,
    /// The controller (KRaft quorum) port.
    pub controller_port: u16,
    /// The secured listeners' ports, on a secured cluster
    /// ([`super::secured::Security`]).
    pub secured: Option<super::secured::SecuredPorts>,
}

impl NodeAddress {
    /// `host:port` of the client listener.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// This node's entry in `controller.quorum.voters`.
    pub fn voter(&self) -> String {
        format!("{}@127.0.0.1:{}", self.id, self.controller_port)
    }
}

/// One node of a local cluster.
pub struct Node {
    address: NodeAddress,
    dir: PathBuf,
    child: Option<Child>,
    heap: String,
    /// The node's network cell, when it can be cut off.
    cell: Option<NetCell>,
}

impl Node {
    /// Writes the node's settings (`voters` is the whole quorum, `settings`
    /// the cluster's and the caller's extra `key=value` lines) and formats
    /// its storage under `dir` for `cluster_id`.
    pub fn format(
        address: NodeAddress,
        dir: PathBuf,
        voters: &str,
        settings: &[(String, String)],
        cluster_id: &str,
        heap: &str,
        format_args: &[String],
    ) -> Node {
        std::fs::create_dir_all(&dir).expect("node folder");
        let node = Node {
            address,
            dir,
            child: None,
            heap: heap.to_owned(),
            cell: None,
        };
        std::fs::write(node.properties(), node.render(voters, settings))
            .expect("write server.properties");
        let output = Installation::get()
            .java("256m")
            .arg("kafka.tools.StorageTool")
            .args(["format", "--ignore-formatted", "-c"])
            .arg(node.properties())
            .arg(format!("--cluster-id={cluster_id}"))
            .args(format_args)
            .output()
            .expect("run kafka.tools.StorageTool");
        assert!(
            output.status.success(),
            "formatting node {} failed: {}{}",
            node.address.id,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        node
    }

    /// The same node, started in a network cell of its own from now on.
    pub fn in_own_cell(mut self) -> Node {
        self.cell = Some(NetCell::new(&format!("node{}", self.address.id)));
        self
    }

    /// Cuts the running node off the network (its packets are dropped):
    /// a partition, not a crash. Needs a cuttable cluster.
    pub fn cut(&self) {
        self.cell
            .as_ref()
            .expect("a cuttable cluster (KafkaSpec::cuttable)")
            .cut();
    }

    /// Ends a [`Node::cut`].
    pub fn heal(&self) {
        if let Some(cell) = &self.cell {
            cell.heal();
        }
    }

    fn render(&self, voters: &str, settings: &[(String, String)]) -> String {
        let a = &self.address;
        let (mut listeners, mut advertised, mut protocols) = (
            format!("PLAINTEXT://127.0.0.1:{}", a.port),
            format!("PLAINTEXT://127.0.0.1:{}", a.port),
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_owned(),
        );
        if let Some(secured) = &a.secured {
            for (name, port) in secured.listeners() {
                let _ = write!(listeners, ",{name}://127.0.0.1:{port}");
                let _ = write!(advertised, ",{name}://127.0.0.1:{port}");
                let _ = write!(protocols, ",{name}:{name}");
            }
        }
        let mut text = format!(
            "process.roles=broker,controller\n\
             node.id={id}\n\
             controller.quorum.voters={voters}\n\
             listeners={listeners},CONTROLLER://127.0.0.1:{controller}\n\
             advertised.listeners={advertised}\n\
             controller.listener.names=CONTROLLER\n\
             inter.broker.listener.name=PLAINTEXT\n\
             listener.security.protocol.map={protocols}\n\
             log.dirs={data}\n",
            id = a.id,
            controller = a.controller_port,
            data = self.dir.join("data").display(),
        );
        for (key, value) in settings {
            let _ = writeln!(text, "{key}={value}");
        }
        text
    }

    fn properties(&self) -> PathBuf {
        self.dir.join("server.properties")
    }

    /// The node's log file (stdout and stderr of the JVM).
    pub fn log(&self) -> PathBuf {
        self.dir.join("kafka.log")
    }

    /// The node's folder (settings, data, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The node's identity and ports.
    pub fn address(&self) -> &NodeAddress {
        &self.address
    }

    /// Starts the JVM; it dies with the test process (or the launcher).
    pub fn spawn(&mut self) {
        assert!(
            self.child.is_none(),
            "node {} runs already",
            self.address.id
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .expect("node log");
        let mut command = Installation::get().java(&self.heap);
        command
            .arg("kafka.Kafka")
            .arg(self.properties())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        if let Some(cell) = &self.cell {
            cell.place(&mut command);
        }
        self.child = Some(spawn_long_lived(command));
    }

    /// The JVM's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process has exited (a port taken, a bad setting).
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))))
    }

    /// The end of the node's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = read_log(&self.log());
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGKILL: a crash. The data stays on disk for [`Node::spawn`] to find.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait: a controlled shutdown (leadership moved, logs flushed).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            send_signal(&child, libc::SIGTERM);
            let _ = child.wait();
        }
    }

    /// SIGSTOP or SIGCONT: an outage that loses nothing (a frozen VM, a long GC).
    pub fn freeze(&self, frozen: bool) {
        if let Some(child) = &self.child {
            send_signal(child, if frozen { libc::SIGSTOP } else { libc::SIGCONT });
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}
