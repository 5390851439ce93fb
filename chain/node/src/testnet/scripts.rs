//! Where everything of a testnet lives (absolute, UTF-8 paths, loopback
//! ports), and the start and stop scripts made from that. The scripts find
//! the files beside themselves when they run, so the directory can move;
//! only the `bwchain` binary is named by its absolute path.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use bwchain_core::primitives::Account;

use super::TestnetError;

/// Every node listens on loopback only.
const HOST: &str = "127.0.0.1";

/// Writes an executable (0755) script.
pub(super) fn write_script(path: &str, text: &str) -> Result<(), TestnetError> {
    fs::write(path, text).map_err(TestnetError::io("write", path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).map_err(|error| {
        TestnetError::Executable {
            path: Path::new(path).to_owned(),
            error,
        }
    })
}

/// Quotes `text` for sh, leaving plain words as they are.
pub(super) fn sh_quote(text: &str) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"_-./:=@%+,".contains(&b);
    if !text.is_empty() && text.bytes().all(plain) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Where everything of the testnet lives (absolute, UTF-8 paths), and the
/// scripts and text made from it.
#[derive(Debug)]
pub(super) struct Layout {
    pub(super) exe: String,
    pub(super) dir: String,
    pub(super) chain_id: String,
    pub(super) authorities: Vec<Account>,
    pub(super) base_port: u16,
    pub(super) rpc_base_port: u16,
}

impl Layout {
    pub(super) fn path(&self, relative: &str) -> String {
        format!("{}/{relative}", self.dir.trim_end_matches('/'))
    }

    pub(super) fn authority_key(&self, i: usize) -> String {
        self.path(&format!("keys/authority-{i}.json"))
    }

    pub(super) fn device_key(&self, j: usize) -> String {
        self.path(&format!("keys/device-{j}.json"))
    }

    pub(super) fn p2p_addr(&self, i: usize) -> String {
        format!("{HOST}:{}", usize::from(self.base_port) + i)
    }

    pub(super) fn rpc_addr(&self, i: usize) -> String {
        format!("{HOST}:{}", usize::from(self.rpc_base_port) + i)
    }

    pub(super) fn n(&self) -> usize {
        self.authorities.len()
    }

    /// `bwchain node ...` for node `i`, quoted for sh.
    pub(super) fn node_command(&self, i: usize) -> String {
        let mut argv = vec![
            self.exe.clone(),
            "node".into(),
            "--genesis".into(),
            self.path("genesis.json"),
            "--key".into(),
            self.authority_key(i),
            "--data".into(),
            self.path(&format!("data/node-{i}")),
            "--listen".into(),
            self.p2p_addr(i),
            "--rpc".into(),
            self.rpc_addr(i),
        ];
        for j in (0..self.n()).filter(|&j| j != i) {
            argv.push("--peer".into());
            argv.push(self.p2p_addr(j));
        }
        argv.iter()
            .map(|arg| sh_quote(arg))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub(super) fn status_command(&self) -> String {
        format!(
            "{} status --rpc http://{}",
            sh_quote(&self.exe),
            self.rpc_addr(0)
        )
    }

    /// `bwchain node ...` for node `i` as the scripts run it: the binary
    /// from `$bwchain`, files under `$here` (the script's directory, found
    /// when it runs, so a moved testnet still works).
    fn script_node_command(&self, i: usize) -> String {
        let mut words = vec![
            "\"$bwchain\" node".to_owned(),
            "--genesis \"$here/genesis.json\"".to_owned(),
            format!("--key \"$here/keys/authority-{i}.json\""),
            format!("--data \"$here/data/node-{i}\""),
            format!("--listen {}", self.p2p_addr(i)),
            format!("--rpc {}", self.rpc_addr(i)),
        ];
        for j in (0..self.n()).filter(|&j| j != i) {
            words.push(format!("--peer {}", self.p2p_addr(j)));
        }
        words.join(" ")
    }

    /// What both scripts start with: where they are, the binary, the nodes,
    /// and the checks they share. `is_node PID KEY_FILE`: whether PID is
    /// still the node started with KEY_FILE (on Linux, checked in /proc, so
    /// a reused pid or an exited node not yet reaped is not taken for a
    /// node). `alive PID`: the same for any process. `check_nodes I...`:
    /// every I names a node. `wait_gone PID...`: waits up to 10 s for each
    /// to exit.
    fn prelude(&self) -> String {
        format!(
            r#"here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
bwchain=${{BWCHAIN:-{exe}}}
all="{indices}"

alive() {{
    kill -0 "$1" 2>/dev/null || return 1
    [ -r "/proc/$1/cmdline" ] || return 0
    tr '\000' ' ' <"/proc/$1/cmdline" | grep -q .
}}

is_node() {{
    alive "$1" || return 1
    [ -r "/proc/$1/cmdline" ] || return 0
    tr '\000' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2"
}}

check_nodes() {{
    for i in "$@"; do
        case " $all " in
        *" $i "*) ;;
        *) echo "no node $i: this testnet has nodes $all" >&2; exit 2 ;;
        esac
    done
}}

wait_gone() {{
    for pid in "$@"; do
        tries=0
        while alive "$pid" && [ "$tries" -lt 100 ]; do
            sleep 0.1
            tries=$((tries + 1))
        done
        if alive "$pid"; then
            echo "pid $pid is still running after 10 s" >&2
        fi
    done
}}
"#,
            exe = sh_quote(&self.exe),
            indices = self.indices(),
        )
    }

    /// `0 1 2 ... n-1`, for the scripts' loops.
    fn indices(&self) -> String {
        (0..self.n())
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub(super) fn start_script(&self) -> String {
        let n = self.n();
        let mut s = String::new();
        let _ = write!(
            s,
            "#!/bin/sh\n\
             # Starts the bwchain testnet {chain} ({n} authorities) on {HOST}: each node\n\
             # in the background, logging to logs/node-I.log beside this script.\n\
             #   ./start.sh         starts every node that is not running\n\
             #   ./start.sh 1 3     starts nodes 1 and 3, unless they run\n\
             # If a node it starts exits at once, it stops the nodes it started and\n\
             # exits 1. Files are found beside this script, so the directory can be\n\
             # moved; BWCHAIN=/path/to/bwchain runs another binary.\n\
             # Generated by `bwchain testnet`; stop it with ./stop.sh.\n\
             set -eu\n\n\
             {prelude}\n\
             start_node() {{\n    \
                 log=\"$here/logs/node-$1.log\"\n    \
                 echo \"=== start.sh: starting node $1\" >>\"$log\"\n    \
                 case $1 in\n",
            chain = self.chain_id,
            prelude = self.prelude(),
        );
        for i in 0..n {
            let _ = write!(
                s,
                "    # authority {account}, P2P {p2p}, API http://{rpc}\n    \
                 {i}) nohup {command} </dev/null >>\"$log\" 2>&1 & ;;\n",
                account = self.authorities[i],
                p2p = self.p2p_addr(i),
                rpc = self.rpc_addr(i),
                command = self.script_node_command(i),
            );
        }
        let _ = write!(
            s,
            "    esac\n    \
                 echo $! >\"$here/pids/node-$1.pid\"\n\
             }}\n\n\
             # Whether node $1 printed its API address since start.sh last started it.\n\
             is_up() {{\n    \
                 awk '/^=== start.sh: starting node / {{ up = 0 }} /^rpc: / {{ up = 1 }} END {{ exit !up }}' \\\n        \
                     \"$here/logs/node-$1.log\"\n\
             }}\n\n\
             [ $# -gt 0 ] || set -- $all\n\
             check_nodes \"$@\"\n\
             mkdir -p \"$here/logs\" \"$here/pids\" \"$here/data\"\n\
             started=\"\"\n\
             for i in \"$@\"; do\n    \
                 pid_file=\"$here/pids/node-$i.pid\"\n    \
                 if [ -f \"$pid_file\" ] && is_node \"$(cat \"$pid_file\")\" \"$here/keys/authority-$i.json\"; then\n        \
                     echo \"node $i is already running (pid $(cat \"$pid_file\"))\"\n        \
                     continue\n    \
                 fi\n    \
                 case \" $started \" in *\" $i \"*) continue ;; esac\n    \
                 start_node \"$i\"\n    \
                 started=\"$started $i\"\n\
             done\n\
             if [ -z \"$started\" ]; then\n    \
                 echo \"nothing to start\"\n    \
                 exit 0\n\
             fi\n\n\
             # Wait (at most 30 s) until each node serves its API or exits.\n\
             starting=$started\n\
             failed=\"\"\n\
             tries=0\n\
             while [ -n \"$starting\" ] && [ \"$tries\" -lt 300 ]; do\n    \
                 still=\"\"\n    \
                 for i in $starting; do\n        \
                     if is_up \"$i\"; then\n            \
                         :\n        \
                     elif is_node \"$(cat \"$here/pids/node-$i.pid\")\" \"$here/keys/authority-$i.json\"; then\n            \
                         still=\"$still $i\"\n        \
                     else\n            \
                         failed=\"$failed $i\"\n        \
                     fi\n    \
                 done\n    \
                 starting=$still\n    \
                 if [ -n \"$starting\" ]; then\n        \
                     sleep 0.1\n    \
                 fi\n    \
                 tries=$((tries + 1))\n\
             done\n\n\
             if [ -n \"$failed\" ]; then\n    \
                 for i in $failed; do\n        \
                     echo \"node $i exited at start; the end of $here/logs/node-$i.log:\" >&2\n        \
                     tail -n 5 \"$here/logs/node-$i.log\" >&2\n    \
                 done\n    \
                 stopping=\"\"\n    \
                 for i in $started; do\n        \
                     pid=$(cat \"$here/pids/node-$i.pid\")\n        \
                     if is_node \"$pid\" \"$here/keys/authority-$i.json\" && kill \"$pid\" 2>/dev/null; then\n            \
                         stopping=\"$stopping $pid\"\n        \
                     fi\n        \
                     rm -f \"$here/pids/node-$i.pid\"\n    \
                 done\n    \
                 wait_gone $stopping\n    \
                 echo \"start failed; stopped the nodes this run started:$started\" >&2\n    \
                 exit 1\n\
             fi\n\
             echo \"started node(s)$started of {chain}; logs in $here/logs\"\n\
             echo \"check: $bwchain status --rpc http://{rpc0}\"\n\
             echo \"stop:  $here/stop.sh\"\n",
            chain = self.chain_id,
            rpc0 = self.rpc_addr(0),
        );
        s
    }

    pub(super) fn stop_script(&self) -> String {
        format!(
            "#!/bin/sh\n\
             # Stops the bwchain testnet {chain} started by start.sh: SIGTERM to each\n\
             # node (it finishes what it is writing and exits), then waits up to 10 s.\n\
             #   ./stop.sh          stops every node\n\
             #   ./stop.sh 2        stops node 2\n\
             # Generated by `bwchain testnet`.\n\
             set -u\n\n\
             {prelude}\n\
             [ $# -gt 0 ] || set -- $all\n\
             check_nodes \"$@\"\n\
             stopping=\"\"\n\
             for i in \"$@\"; do\n    \
                 pid_file=\"$here/pids/node-$i.pid\"\n    \
                 [ -f \"$pid_file\" ] || continue\n    \
                 pid=$(cat \"$pid_file\")\n    \
                 if is_node \"$pid\" \"$here/keys/authority-$i.json\" && kill \"$pid\"; then\n        \
                     echo \"stopping node $i (pid $pid)\"\n        \
                     stopping=\"$stopping $pid\"\n    \
                 fi\n    \
                 rm -f \"$pid_file\"\n\
             done\n\
             wait_gone $stopping\n\
             echo \"stopped; start again (the chain resumes) with $here/start.sh\"\n",
            chain = self.chain_id,
            prelude = self.prelude(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(sh_quote("/tmp/a-b_c.json"), "/tmp/a-b_c.json");
        assert_eq!(sh_quote("127.0.0.1:9700"), "127.0.0.1:9700");
        assert_eq!(sh_quote("/tmp/my net"), "'/tmp/my net'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote("$HOME"), "'$HOME'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn node_commands_peer_with_all_others() {
        let layout = Layout {
            exe: "/opt/bw chain/bwchain".into(),
            dir: "/tmp/net".into(),
            chain_id: "bwchain-testnet-3".into(),
            authorities: (0..3)
                .map(|_| crate::files::generate_key().account())
                .collect(),
            base_port: 9700,
            rpc_base_port: 8700,
        };
        assert_eq!(
            layout.node_command(1),
            "'/opt/bw chain/bwchain' node --genesis /tmp/net/genesis.json \
             --key /tmp/net/keys/authority-1.json --data /tmp/net/data/node-1 \
             --listen 127.0.0.1:9701 --rpc 127.0.0.1:8701 \
             --peer 127.0.0.1:9700 --peer 127.0.0.1:9702"
        );
        let start = layout.start_script();
        assert!(start.starts_with("#!/bin/sh\n"));
        assert_eq!(start.matches(" node --genesis ").count(), 3);
        assert!(start.contains("bwchain=${BWCHAIN:-'/opt/bw chain/bwchain'}"));
        assert!(start.contains("all=\"0 1 2\""));
        assert!(
            start.contains(
                "1) nohup \"$bwchain\" node --genesis \"$here/genesis.json\" \
                 --key \"$here/keys/authority-1.json\" --data \"$here/data/node-1\" \
                 --listen 127.0.0.1:9701 --rpc 127.0.0.1:8701 \
                 --peer 127.0.0.1:9700 --peer 127.0.0.1:9702 </dev/null >>\"$log\" 2>&1 & ;;"
            ),
            "{start}"
        );
        assert!(!start.contains("/tmp/net"), "no absolute paths: {start}");
        let stop = layout.stop_script();
        assert!(stop.contains("all=\"0 1 2\""));
        assert!(!stop.contains("/tmp/net"), "no absolute paths: {stop}");
    }
}
