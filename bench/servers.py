"""servers.py — start OpenSSH sshd and sshgated side by side with equivalent
settings (loopback, one ed25519 host key, same key exchange and ciphers,
compression off, raised connection limits), and give the bench a uniform
handle on each: ssh client argv, remote paths, process tree for CPU/PSS.
"""
import json
import os
import pathlib
import pwd
import shutil
import socket
import subprocess
import time

import procstat

KEX = "curve25519-sha256"        # libssh 0.10.6 has no sntrup761: pin both sides
HOSTKEY_ALG = "ssh-ed25519"
CIPHERS = ["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"]
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
SSHD = "/usr/sbin/sshd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.settimeout(2)
                if s.recv(4).startswith(b"SSH-"):
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def keygen(path):
    for p in (pathlib.Path(path), pathlib.Path(str(path) + ".pub")):
        p.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sgbench",
                    "-f", str(path)], check=True)
    return path


class Server:
    """Common parts. Subclasses set name, user, and implement _start()."""
    name = "?"
    user = "?"

    def __init__(self, work, client_key, max_conns):
        self.work = pathlib.Path(work) / self.name
        self.work.mkdir(parents=True, exist_ok=True)
        self.client_key = client_key
        self.max_conns = max_conns
        self.port = free_port()
        self.proc = None
        self.baseline = set()
        self.errlog = None
        self.group = procstat.Group("sgbench-" + self.name)

    # --- process handling -------------------------------------------------
    def start(self):
        self.errlog = open(self.work / "stderr.log", "wb")
        self._start()
        if not wait_port(self.port, self.proc):
            raise RuntimeError(f"{self.name} did not start; see {self.work}/stderr.log:\n"
                               + self.log_tail())
        time.sleep(0.3)
        self.baseline = set(self.pids())
        self._write_ssh_config()

    def log_tail(self, n=2000):
        try:
            return (self.work / "stderr.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def restart(self):
        """A fresh server process (same port, same cgroup): the idle-memory
        figure measures from a clean heap, not one grown by earlier figures."""
        self._terminate()
        if self.errlog:
            self.errlog.close()
        self.start()

    def stop(self):
        self._terminate()
        if self.errlog:
            self.errlog.close()
        self.group.remove()

    def _terminate(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cpu(self):
        return procstat.cpu_seconds(self.proc.pid, self.group)

    def pss_kib(self):
        return procstat.pss_kib(self.proc.pid, self.group)

    def pids(self):
        return procstat.pids(self.proc.pid, self.group)

    def quiesce(self, timeout=20.0):
        """Wait until every per-connection process has exited and been reaped."""
        return procstat.wait_quiet(self.proc.pid, self.baseline, timeout, self.group)

    # --- client side ------------------------------------------------------
    def _write_ssh_config(self):
        self.ssh_config = self.work / "ssh_config"
        self.ssh_config.write_text(f"""Host bench
  HostName 127.0.0.1
  Port {self.port}
  User {self.user}
  IdentityFile {self.client_key}
  IdentitiesOnly yes
  BatchMode yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  GlobalKnownHostsFile /dev/null
  CheckHostIP no
  UpdateHostKeys no
  LogLevel ERROR
  Compression no
  KexAlgorithms {KEX}
  HostKeyAlgorithms {HOSTKEY_ALG}
  PubkeyAcceptedAlgorithms ssh-ed25519
  ControlMaster no
  ControlPath none
  ForwardAgent no
  ForwardX11 no
  AddressFamily inet
  ConnectTimeout 30
""")

    def ssh(self, cipher, *opts, cmd=()):
        return ["ssh", "-F", str(self.ssh_config), "-c", cipher, *opts, "bench", *cmd]

    def sftp(self, cipher, *opts):
        return ["sftp", "-F", str(self.ssh_config), "-c", cipher, *opts, "bench"]

    def scp(self, cipher):
        return ["scp", "-F", str(self.ssh_config), "-c", cipher]

    def remote(self, name):
        """Path of a file as the SFTP client names it."""
        raise NotImplementedError

    def disk(self, name):
        """Path of the same file on the server's disk."""
        raise NotImplementedError


BENCH_USER = "sgbench"


def ensure_bench_user():
    """sshd serves a plain local account, as in a real deployment: root would
    skip privilege separation after auth, and root's shell rc files are not
    part of what is measured. The account has /bin/sh, home /dev/shm and no
    password; it is created once (useradd) and left in place."""
    try:
        pwd.getpwnam(BENCH_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/dev/shm",
                        "--shell", "/bin/sh", "--comment", "sshgate bench (sshd side)",
                        BENCH_USER], check=True)
    # "!" (useradd's default) is a locked account to sshd without PAM; "*" is
    # merely "no password".
    subprocess.run(["usermod", "-p", "*", BENCH_USER], check=True)
    return pwd.getpwnam(BENCH_USER)


class Sshd(Server):
    name = "sshd"
    user = BENCH_USER

    def _start(self):
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        pw = ensure_bench_user()
        for d in (self.work, self.work.parent):    # sshd reads keys as the user
            os.chmod(d, 0o755)
        hostkey = keygen(self.work / "ssh_host_ed25519_key")
        self.sftp_dir = self.work / "files"
        self.sftp_dir.mkdir(exist_ok=True)
        os.chown(self.sftp_dir, pw.pw_uid, pw.pw_gid)
        ak = self.work / "authorized_keys"
        shutil.copy(str(self.client_key) + ".pub", ak)
        os.chmod(ak, 0o644)
        starts = max(100, self.max_conns)
        cfg = self.work / "sshd_config"
        cfg.write_text(f"""Port {self.port}
ListenAddress 127.0.0.1
AddressFamily inet
HostKey {hostkey}
HostKeyAlgorithms {HOSTKEY_ALG}
KexAlgorithms {KEX}
Ciphers {",".join(CIPHERS)}
Compression no
PidFile none
UsePAM no
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthenticationMethods publickey
AuthorizedKeysFile {ak}
StrictModes no
UseDNS no
X11Forwarding no
AllowTcpForwarding yes
PermitOpen 127.0.0.1:*
GatewayPorts no
PrintMotd no
PrintLastLog no
PermitUserEnvironment no
AcceptEnv LANG LC_* TZ
ClientAliveInterval 0
MaxStartups {starts}:30:{starts * 2}
MaxSessions 10
LoginGraceTime 120
LogLevel ERROR
Subsystem sftp {SFTP_SERVER}
""")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(cfg)],
                                     stdin=subprocess.DEVNULL, stdout=self.errlog,
                                     stderr=self.errlog, start_new_session=True,
                                     preexec_fn=self.group.enter)

    def remote(self, name):
        return str(self.sftp_dir / name)

    def disk(self, name):
        return self.sftp_dir / name


class Sshgated(Server):
    name = "sshgate"
    user = "bench"

    def __init__(self, work, client_key, max_conns, binary, plugin_dir, sftp_base):
        super().__init__(work, client_key, max_conns)
        self.binary = binary
        self.plugin_dir = plugin_dir
        # per-user SFTP root on tmpfs; the user sees it as "/".
        self.sftp_base = pathlib.Path(sftp_base)
        self.sftp_dir = self.sftp_base / self.user

    def _start(self):
        ensure_bench_user()
        hostkey = keygen(self.work / "ssh_host_ed25519_key")
        self.sftp_dir.mkdir(parents=True, exist_ok=True)
        for d in (self.sftp_base, self.sftp_dir):
            os.chmod(d, 0o755)
        state = self.work / "state"
        akdir = state / "authorized_keys"
        akdir.mkdir(parents=True, exist_ok=True)
        pub = pathlib.Path(str(self.client_key) + ".pub").read_text()
        (akdir / self.user).write_text(pub)
        (state / "users.json").write_text(json.dumps(
            {"users": {self.user: {"groups": ["bench"]}}}, indent=1))
        starts = max(100, self.max_conns)
        cfg = {
            "listen": [{"address": "127.0.0.1", "port": self.port, "backlog": 4096}],
            "host_keys": [str(hostkey)],
            "workers": os.cpu_count() or 1,
            "plugin_dir": str(self.plugin_dir),
            "log": {"level": 0},
            "limits": {
                "max_connections": max(1000, self.max_conns + 100),
                "max_startups": f"{starts}:30:{starts * 2}",
                "per_source_max": 0,
                "per_source_penalty": 0,
            },
            "algorithms": {
                "kex": [KEX],
                "ciphers": CIPHERS,
                "host_key": [HOSTKEY_ALG],
                "compression": ["none"],
            },
            "plugins": [
                {"name": "auth-file", "config": {
                    "users_file": str(state / "users.json"),
                    "authorized_keys_dir": str(akdir)}},
                {"name": "sftp", "config": {"root": str(self.sftp_base / "%u")}},
                # children run as the same local account sshd's do
                {"name": "shell", "config": {"workdir": str(self.sftp_base / "%u"),
                                             "run_as": BENCH_USER}},
                {"name": "tunnel", "config": {}},
            ],
            "auth": {"chain": ["auth-file"], "methods": ["publickey"]},
            "routes": [
                {"name": "sftp", "match": {"kind": "subsystem", "subsystem": "sftp"},
                 "plugin": "sftp"},
                {"name": "shell", "match": {"kind": "shell"}, "plugin": "shell"},
                {"name": "exec", "match": {"kind": "exec"}, "plugin": "shell"},
                {"name": "local-forward", "match": {"kind": "direct-tcpip"},
                 "plugin": "tunnel", "config": {"permit_open": ["127.0.0.1:*"]}},
            ],
        }
        self.config_path = self.work / "sshgate.json"
        self.config_path.write_text(json.dumps(cfg, indent=2))
        self.proc = subprocess.Popen([str(self.binary), "-D", "-f", str(self.config_path)],
                                     stdin=subprocess.DEVNULL, stdout=self.errlog,
                                     stderr=self.errlog, start_new_session=True,
                                     preexec_fn=self.group.enter)

    def remote(self, name):
        return "/" + name

    def disk(self, name):
        return self.sftp_dir / name
