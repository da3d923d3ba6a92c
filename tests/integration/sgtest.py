"""sgtest — start a real sshgated and drive it with real OpenSSH clients.

    import sgtest
    class T(unittest.TestCase):
        def test_x(self):
            gw = sgtest.Gateway(self,
                  plugins=[{"name": "sftp", "config": {...}}],   # auth-file is added automatically
                  routes=[{"match": {"kind": "subsystem", "subsystem": "sftp"}, "plugin": "sftp"}],
                  users={"alice": {"password": "pw1", "key": True, "groups": ["admins"]}},
                  config={"limits": {...}},       # extra top-level keys, deep-merged
                  workers=1)
            gw.start()
            r = gw.ssh("alice", "echo hi")          # CompletedProcess, bytes
            gw.sftp("alice", "put a b\n", opts=["-B", "32000"])
            gw.scp("alice", ["local", "gw:remote"])

    gw.tmp       pathlib.Path, this test's private dir (removed when the test passed)
    gw.port      listening port on 127.0.0.1
    gw.key(u)    private key path of user u (key=True)
    gw.ssh_cmd(u, password=None, opts=())  argv prefix up to and including "u@127.0.0.1"
    gw.free_port()   a free TCP port on 127.0.0.1
    gw.log()     sshgated's stderr so far
    gw.worker_pids() pids of the worker processes
    gw.stop()    SIGTERM and wait (also registered with addCleanup)

Environment: SSHGATE_BUILD (build dir with sshgated and plugins/), set by ctest.
The echo test plugin (tests/plugins/echo.c) is in build/plugins/echo.so.
"""
import copy
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time

SRC = pathlib.Path(os.environ.get("SSHGATE_SOURCE", pathlib.Path(__file__).resolve().parents[2]))
BUILD = pathlib.Path(os.environ.get("SSHGATE_BUILD", SRC / "build"))
SSHGATED = BUILD / "sshgated"
PLUGIN_DIR = BUILD / "plugins"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15.0, host="127.0.0.1"):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def crypt_hash(password):
    out = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password.encode(),
                         capture_output=True, check=True)
    return out.stdout.decode().strip()


def keygen(path, kind="ed25519"):
    args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path), "-C", "sgtest"]
    if kind == "rsa":
        args[4:4] = ["-b", "3072"]
    subprocess.run(args, check=True)
    return path


def deep_merge(dst, src):
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            deep_merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)
    return dst


def outcome_ok(test):
    """False once the running test has an error or failure (Python 3.11
    reports them to the result at once; _Outcome.success stays True)."""
    outcome = getattr(test, "_outcome", None)
    result = getattr(outcome, "result", None)
    if result is None:
        return True
    bad = list(getattr(result, "errors", [])) + list(getattr(result, "failures", []))
    # a failed subTest is recorded under a _SubTest whose test_case is the test
    return (not any(getattr(t, "test_case", t) is test for t, _ in bad)
            and getattr(outcome, "success", True))


class Gateway:
    def __init__(self, test, plugins=(), routes=(), users=None, config=None, workers=1,
                 auth_file=True):
        self.test = test
        self.plugins = [dict(p) for p in plugins]
        self.routes = list(routes)
        self.users = users or {}
        self.extra = config or {}
        self.workers = workers
        self.auth_file = auth_file
        name = test.id().split(".", 1)[-1].replace(".", "-") if test else "gw"
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="sg-%s-" % name[:60]))
        self.port = free_port()
        self.proc = None
        self._keys = {}
        self._logf = None
        if test is not None:
            test.addCleanup(self._cleanup)

    # ------------------------------------------------------------ config
    def build_config(self):
        (self.tmp / "state").mkdir(exist_ok=True)
        users = {}
        for u, spec in self.users.items():
            e = {"groups": spec.get("groups", [])}
            if spec.get("password") is not None:
                e["password"] = crypt_hash(spec["password"])
            keys = []
            if spec.get("key"):
                kp = self.tmp / ("id_%s" % u)
                if not kp.exists():
                    keygen(kp, spec.get("key_type", "ed25519"))
                self._keys[u] = kp
                keys.append((kp.with_suffix(".pub")).read_text().strip())
            keys += spec.get("keys", [])
            e["keys"] = keys
            if "attributes" in spec:
                e["attributes"] = spec["attributes"]
            users[u] = e
        (self.tmp / "users.json").write_text(json.dumps({"users": users}, indent=1))
        plugins = list(self.plugins)
        if self.auth_file and not any(p["name"] == "auth-file" for p in plugins):
            plugins.insert(0, {"name": "auth-file", "config": {"users_file": "users.json"}})
        cfg = {
            "listen": [{"address": "127.0.0.1", "port": self.port}],
            "host_keys": ["state/host_ed25519", "state/host_ecdsa"],
            "workers": self.workers,
            "plugin_dir": str(PLUGIN_DIR),
            "log": {"level": 2, "format": "text"},
            "plugins": plugins,
            "routes": self.routes,
        }
        if self.auth_file:
            cfg["auth"] = {"chain": ["auth-file"]}
        deep_merge(cfg, self.extra)
        return cfg

    def write_config(self, cfg=None):
        cfg = cfg if cfg is not None else self.build_config()
        path = self.tmp / "sshgate.json"
        path.write_text(json.dumps(cfg, indent=1))
        self.config_path = path
        return path

    # ------------------------------------------------------------ process
    def start(self, args=(), wait=True):
        if not SSHGATED.exists():
            raise RuntimeError("%s not built" % SSHGATED)
        self.write_config()
        self._logf = open(self.tmp / "sshgated.log", "ab")
        # SGTEST_WRAP="valgrind --trace-children=yes --log-file=/tmp/vg.%p" runs the daemon under a tool
        wrap = os.environ.get("SGTEST_WRAP", "").split()
        self.proc = subprocess.Popen(wrap + [str(SSHGATED), "-D", "-f", str(self.config_path), *args],
                                     stdout=self._logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=str(self.tmp))
        if wait and not wait_port(self.port, 20):
            raise RuntimeError("sshgated did not listen on %d:\n%s" % (self.port, self.log()))
        self._write_ssh_config()
        return self

    def reload(self, cfg=None):
        self.write_config(cfg)
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, timeout=10):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        if self._logf:
            self._logf.close()
            self._logf = None
        return rc

    def _cleanup(self):
        self.stop()
        ok = outcome_ok(self.test)
        if ok and os.environ.get("SGTEST_KEEP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            if not ok:  # the gateway's side of the failure, in the test output
                tail = self.log().splitlines()[-40:]
                print("sgtest: last %d lines of %s/sshgated.log:" % (len(tail), self.tmp))
                print("\n".join(tail))
            print("sgtest: kept %s" % self.tmp)

    def log(self):
        try:
            return (self.tmp / "sshgated.log").read_text(errors="replace")
        except OSError:
            return ""

    def worker_pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [int(x) for x in out.stdout.split()]

    def rss_kb(self, pid):
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def free_port(self):
        return free_port()

    # ------------------------------------------------------------ clients
    def key(self, user):
        return self._keys[user]

    def _write_ssh_config(self):
        self.ssh_config = self.tmp / "ssh_config"
        self.ssh_config.write_text(
            "Host *\n"
            "  StrictHostKeyChecking no\n"
            "  UserKnownHostsFile /dev/null\n"
            "  GlobalKnownHostsFile /dev/null\n"
            "  LogLevel ERROR\n"
            "  IdentitiesOnly yes\n"
            "  IdentityAgent none\n"
            "  ConnectTimeout 10\n"
            "  ControlMaster no\n"
            "  ControlPath none\n")

    def ssh_opts(self, user, password=None, opts=()):
        o = ["-F", str(self.ssh_config), "-p", str(self.port)]
        if password is None:
            o += ["-o", "BatchMode=yes", "-o", "PasswordAuthentication=no",
                  "-o", "KbdInteractiveAuthentication=no"]
            if user in self._keys:
                o += ["-i", str(self._keys[user])]
        else:
            o += ["-o", "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=1"]
        return o + list(opts)

    def _pw_prefix(self, password):
        return ["sshpass", "-p", password] if password is not None else []

    def ssh_cmd(self, user, password=None, opts=()):
        return (self._pw_prefix(password) + ["ssh"] + self.ssh_opts(user, password, opts)
                + ["%s@127.0.0.1" % user])

    def ssh(self, user, *cmd, input=None, timeout=30, password=None, opts=()):
        argv = self.ssh_cmd(user, password, opts) + list(cmd)
        return subprocess.run(argv, input=input if input is not None else b"",
                              capture_output=True, timeout=timeout)

    def sftp(self, user, batch, opts=(), timeout=60, password=None, cwd=None):
        o = self.ssh_opts(user, password, ())
        o = [x if x != "-p" else "-P" for x in o]
        argv = (self._pw_prefix(password) + ["sftp"] + o + list(opts)
                + ["-b", "-", "%s@127.0.0.1" % user])
        return subprocess.run(argv, input=batch.encode(), capture_output=True,
                              timeout=timeout, cwd=cwd)

    def scp(self, user, args, opts=(), timeout=60, password=None, cwd=None):
        o = self.ssh_opts(user, password, ())
        o = [x if x != "-p" else "-P" for x in o]
        args = [a.replace("gw:", "%s@127.0.0.1:" % user, 1) if a.startswith("gw:") else a
                for a in args]
        argv = self._pw_prefix(password) + ["scp"] + o + list(opts) + args
        return subprocess.run(argv, capture_output=True, timeout=timeout, cwd=cwd)


def require_build(test):
    """Skip the whole file cleanly (exit 77) when sshgated is not built."""
    if not SSHGATED.exists():
        raise SystemExit(77)
