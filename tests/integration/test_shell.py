"""Integration tests of the shell plugin with the real OpenSSH client:
exec, exit status, stderr, stdin volume, PTY sessions (size, window-change,
^C), env allow-list, kill on disconnect, application routes (git clone/push,
rsync up/down, force_command, no shell interpretation)."""
import fcntl
import hashlib
import os
import pathlib
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgtest  # noqa: E402

sgtest.require_build(None)


def app_routes(home):
    """Application routes (first) + generic shell / exec routes."""
    def app(name, glob, cfg):
        c = {"workdir": str(home)}
        c.update(cfg)
        return {"name": name, "match": {"kind": "exec", "command": glob}, "plugin": "shell",
                "config": c}
    return [
        app("git-upload", "git-upload-pack *", {"argv": ["git-upload-pack", "{1}"], "args": 1}),
        app("git-receive", "git-receive-pack *", {"argv": ["git-receive-pack", "{1}"], "args": 1}),
        app("rsync", "rsync --server *", {"argv": ["rsync", "{*}"]}),
        app("echo-args", "echo-args *", {"argv": ["/usr/bin/printf", "[%s]\\n", "{*}"]}),
        app("forced", "forced*", {"force_command": ["/bin/sh", "-c",
                                                    "echo \"forced:$SSH_ORIGINAL_COMMAND\""]}),
        {"name": "shell", "match": {"kind": "shell"}, "plugin": "shell"},
        {"name": "exec", "match": {"kind": "exec"}, "plugin": "shell"},
    ]


def pids_matching(pattern):
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


class ShellTest(unittest.TestCase):
    def gateway(self, plugin_config=None, routes=None):
        cfg = {"workdir": "home/%u", "create_workdir": True}
        cfg.update(plugin_config or {})
        gw = sgtest.Gateway(self, plugins=[{"name": "shell", "config": cfg}],
                            routes=[], users={"alice": {"key": True}})
        self.home = gw.tmp / "home" / "alice"
        gw.routes = routes if routes is not None else app_routes(self.home)
        gw.start()
        return gw

    # ------------------------------------------------------------ exec basics
    def test_exec_echo_exit_stderr(self):
        gw = self.gateway()
        r = gw.ssh("alice", "echo hello")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"hello\n")
        r = gw.ssh("alice", "exit 7")
        self.assertEqual(r.returncode, 7)
        r = gw.ssh("alice", "echo to-out; echo to-err >&2; exit 2")
        self.assertEqual(r.stdout, b"to-out\n")
        self.assertEqual(r.stderr, b"to-err\n")
        self.assertEqual(r.returncode, 2)
        # environment and working directory
        r = gw.ssh("alice", 'echo "$HOME|$USER|$LOGNAME|$PATH|$SSH_CONNECTION"; pwd; '
                   'echo "${SSH_ORIGINAL_COMMAND-unset}"')
        lines = r.stdout.decode().splitlines()
        home, user, logname, path, conn = lines[0].split("|")
        self.assertEqual(home, str(self.home))
        self.assertEqual((user, logname), ("alice", "alice"))
        self.assertEqual(path, "/usr/local/bin:/usr/bin:/bin")
        self.assertEqual(conn.split()[0], "127.0.0.1")
        self.assertEqual(conn.split()[2:], ["127.0.0.1", str(gw.port)])
        self.assertEqual(lines[1], str(self.home))
        self.assertEqual(lines[2], "unset")
        self.assertEqual(os.stat(self.home).st_mode & 0o777, 0o700)
        # only 0, 1, 2 are open in the child (ls itself opens 3)
        r = gw.ssh("alice", "ls /proc/self/fd")
        self.assertEqual(r.stdout.split(), [b"0", b"1", b"2", b"3"])

    def test_stdin_10mib_cat(self):
        gw = self.gateway()
        data = os.urandom(10 * 1024 * 1024)
        r = gw.ssh("alice", "cat", input=data, timeout=90)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout), len(data))
        self.assertEqual(hashlib.sha256(r.stdout).hexdigest(), hashlib.sha256(data).hexdigest())
        # large output only (no input), both streams at once
        r = gw.ssh("alice", "head -c 3000000 /dev/zero; head -c 1000000 /dev/zero >&2", timeout=60)
        self.assertEqual((len(r.stdout), len(r.stderr)), (3000000, 1000000))

    def test_exit_signal(self):
        gw = self.gateway()
        r = gw.ssh("alice", "kill -TERM $$")
        # OpenSSH's client has no exit code for exit-signal: 255
        self.assertEqual(r.returncode, 255)
        self.assertIn("killed by signal 15", gw.log())

    def test_signal_request(self):
        """A "signal" channel request reaches the child's process group (the
        OpenSSH client cannot send one: a small libssh client does)."""
        client = sgtest.BUILD / "tests" / "shell_sigclient"
        if not client.exists():
            self.skipTest("%s not built" % client)
        gw = self.gateway()

        def sig(command, name):
            r = subprocess.run([str(client), str(gw.port), "alice", str(gw.key("alice")),
                                command, name], capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            return r.stdout.decode().strip()

        self.assertEqual(sig("echo ready; exec sleep 30", "TERM"), "exit-signal TERM core=0")
        self.assertEqual(sig("echo ready; exec sleep 30", "KILL"), "exit-signal KILL core=0")
        # a shell that traps the signal reports a normal exit status
        self.assertEqual(sig("trap 'exit 42' INT; echo ready; while :; do sleep 0.1; done",
                             "INT"), "exit-status 42")

    # ------------------------------------------------------------ env
    def test_env_allowed_and_refused(self):
        gw = self.gateway()
        r = gw.ssh("alice", 'echo "$LANG|${EVIL-unset}|${LC_TIME-unset}"',
                   opts=["-o", "SetEnv=LANG=C.UTF-8 EVIL=1 LC_TIME=C"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode().strip(), "C.UTF-8|unset|C")
        log = gw.log()
        self.assertIn('env "EVIL" refused', log)
        # a route may widen the list
        gw2 = self.gateway({"env_allow": ["FOO", "LANG"]})
        r = gw2.ssh("alice", 'echo "${FOO-unset}|${LC_TIME-unset}"',
                    opts=["-o", "SetEnv=FOO=bar LC_TIME=C"])
        self.assertEqual(r.stdout.decode().strip(), "bar|unset")

    # ------------------------------------------------------------ pty
    def _pty_session(self, gw, steps, size=(33, 97), timeout=30, local_tty=None):
        """Run ssh -tt on a local pty of `size`; steps: list of (send, wait_for
        bytes | None, callable | None). local_tty(fd) may change the local
        terminal first (ssh sends its modes in pty-req). Returns (rc, transcript)."""
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
        if local_tty:
            local_tty(slave)

        def ctty():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        p = subprocess.Popen(gw.ssh_cmd("alice", opts=["-tt"]), stdin=slave, stdout=slave,
                             stderr=slave, preexec_fn=ctty, close_fds=True)
        os.close(slave)
        buf = b""

        def read_until(token, deadline):
            nonlocal buf
            while token not in buf:
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError("timeout waiting for %r; got %r" % (token, buf[-500:]))
                r, _, _ = select.select([master], [], [], min(left, 0.5))
                if r:
                    try:
                        chunk = os.read(master, 65536)
                    except OSError:
                        chunk = b""
                    if not chunk:
                        raise AssertionError("EOF waiting for %r; got %r" % (token, buf[-500:]))
                    buf += chunk

        try:
            end = time.time() + timeout
            for send, wait, action in steps:
                if action:
                    action(master)
                if send:
                    os.write(master, send)
                if wait:
                    read_until(wait, end)
            rc = p.wait(timeout=max(1, end - time.time()))
            # drain what is left
            while True:
                r, _, _ = select.select([master], [], [], 0.2)
                if not r:
                    break
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            os.close(master)
        return rc, buf

    def test_pty_shell_session(self):
        gw = self.gateway()

        def resize(fd):
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
            time.sleep(0.5)

        rc, out = self._pty_session(gw, [
            (b"stty size; echo M$((40+2))\n", b"M42", None),
            (b"tty; [ -t 0 ] && echo IS-$((1+1))-TTY; echo \"T=$TERM\"\n", b"IS-2-TTY", None),
            (b"stty size; echo W$((2+3))\n", b"W5", resize),
            (b"sleep 30\n", None, None),
            (b"\x03", None, lambda fd: time.sleep(0.5)),
            (b"echo rc=$((0+$?))\n", b"rc=130", lambda fd: time.sleep(0.3)),
            (b"exit 3\n", None, None),
        ])
        text = out.decode(errors="replace").replace("\r", "")
        self.assertIn("33 97", text)          # the size the client sent in pty-req
        self.assertIn("50 120", text)         # window-change
        self.assertRegex(text, r"/dev/pts/\d+")
        self.assertIn("rc=130", text)         # ^C reached the foreground child as SIGINT
        self.assertRegex(text, r"T=\S+")
        self.assertEqual(rc, 3)

    def test_pty_terminal_modes(self):
        """The client's terminal modes (pty-req) are applied to the remote pty."""
        gw = self.gateway()

        def local_tty(fd):
            attrs = termios.tcgetattr(fd)
            attrs[6][termios.VERASE] = b"\x08"   # ^H instead of ^?
            attrs[6][termios.VINTR] = b"\x14"    # ^T instead of ^C
            attrs[6][termios.VKILL] = b"\x0b"    # ^K instead of ^U
            termios.tcsetattr(fd, termios.TCSANOW, attrs)

        rc, out = self._pty_session(gw, [
            (b"stty -a; echo \"TT=$SSH_TTY:$(tty)\"; echo \"SC=$SSH_CLIENT\"; echo D$((1+1))ONE\n",
             b"D2ONE", None),
            (b"exit 0\n", None, None),
        ], local_tty=local_tty)
        text = out.decode(errors="replace").replace("\r", "")
        self.assertIn("intr = ^T;", text)
        self.assertIn("erase = ^H;", text)
        self.assertIn("kill = ^K;", text)
        self.assertRegex(text, r"TT=(/dev/pts/\d+):\1\n")   # SSH_TTY names the terminal
        self.assertRegex(text, r"SC=127\.0\.0\.1 \d+ %d\n" % gw.port)
        self.assertEqual(rc, 0)

    def test_pty_piped_script(self):
        """The acceptance check's shape: ssh -tt with a script on a pipe."""
        gw = self.gateway()
        script = b"echo pty-$((6*7))\n[ -t 0 ] && echo IS-A-TTY\nexit 3\n"
        r = gw.ssh("alice", input=script, opts=["-tt"])
        out = r.stdout.replace(b"\r", b"")
        self.assertIn(b"pty-42\n", out)
        self.assertIn(b"IS-A-TTY\n", out)
        self.assertEqual(r.returncode, 3)
        # exec with a pty: stdout and stderr both arrive on the terminal
        r = gw.ssh("alice", "tty; echo err >&2; exit 5", opts=["-tt"])
        self.assertRegex(r.stdout, rb"/dev/pts/\d+")
        self.assertIn(b"err", r.stdout)
        self.assertEqual(r.returncode, 5)
        # a lot of output through the pty, then exit: nothing lost at the end
        r = gw.ssh("alice", "seq 1 200000; exit 4", opts=["-tt"], timeout=60)
        lines = r.stdout.replace(b"\r", b"").split(b"\n")
        self.assertEqual(lines[-2], b"200000")
        self.assertEqual(len(lines), 200001)
        self.assertEqual(r.returncode, 4)

    # ------------------------------------------------------------ no orphans
    def _kill_on_disconnect(self, gw, opts, background=False):
        tag = "sleep %d" % (300 + os.getpid() % 600 + len(opts) + 2 * background)
        cmd = "%s & echo started" % tag if background else tag
        p = subprocess.Popen(gw.ssh_cmd("alice", opts=opts) + [cmd], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                if pids_matching("^" + tag + "$"):
                    break
                time.sleep(0.1)
            self.assertTrue(pids_matching("^" + tag + "$"), "the remote command never started")
        finally:
            p.kill()
            p.wait()
            p.stdin.close()
        for _ in range(50):
            if not pids_matching("^" + tag + "$"):
                break
            time.sleep(0.1)
        self.assertEqual(pids_matching("^" + tag + "$"), [], "child survived the disconnect")
        self.assertIn("hanging up child", gw.log())

    def test_kill_on_disconnect(self):
        gw = self.gateway()
        self._kill_on_disconnect(gw, [])
        self._kill_on_disconnect(gw, ["-tt"])
        # a background job that outlives the shell but holds its output
        self._kill_on_disconnect(gw, [], background=True)

    def test_slow_reader_bounded(self):
        """A client that stops reading: the gateway must not buffer the
        child's output without bound (its RSS stays low)."""
        gw = self.gateway()
        pids = gw.worker_pids()
        p = subprocess.Popen(gw.ssh_cmd("alice") + ["head -c 200000000 /dev/zero"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        try:
            time.sleep(3)  # do not read stdout: the windows fill up
            rss = max(gw.rss_kb(pid) for pid in pids) if pids else 0
            self.assertLess(rss, 64 * 1024, "worker RSS %d KiB while the client does not read" % rss)
            n = 0
            while True:
                chunk = p.stdout.read(1 << 20)
                if not chunk:
                    break
                n += len(chunk)
            self.assertEqual(n, 200000000)
        finally:
            p.kill()
            p.wait()
            p.stdout.close()

    # ------------------------------------------------------------ run_as
    @unittest.skipUnless(os.geteuid() == 0, "run_as needs root")
    def test_run_as(self):
        routes = [
            {"name": "as-nobody", "match": {"kind": "exec", "command": "as-nobody *"},
             "plugin": "shell", "config": {"run_as": "nobody", "shell": "/bin/sh",
                                           "workdir": "/tmp", "force_command":
                                           "id -un; id -u; echo \"$HOME|$USER\"; pwd"}},
            {"name": "mapped", "match": {"kind": "exec"}, "plugin": "shell",
             "config": {"run_as": "mapped", "shell": "/bin/sh", "workdir": "/tmp"}},
        ]
        gw = sgtest.Gateway(self, plugins=[{"name": "shell", "config": {}}], routes=routes,
                            users={"alice": {"key": True}, "nobody": {"key": True},
                                   "root": {"key": True}})
        gw.start()
        r = gw.ssh("alice", "as-nobody x")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.decode().splitlines()
        self.assertEqual(lines[0], "nobody")
        self.assertNotEqual(lines[1], "0")
        self.assertEqual(lines[2].split("|")[1], "nobody")
        self.assertEqual(lines[3], "/tmp")
        # mapped: the SSH user name is the local account
        r = gw.ssh("nobody", "id -un")
        self.assertEqual(r.stdout.decode().strip(), "nobody")
        # no local account of that name / mapping to root: refused
        r = gw.ssh("alice", "id -un")
        self.assertEqual(r.returncode, 255)
        r = gw.ssh("root", "id -un")
        self.assertEqual(r.returncode, 255)
        self.assertIn("allow_root false", gw.log())

    # ------------------------------------------------------------ application routes
    def test_app_route_literal_words(self):
        gw = self.gateway()
        marker = gw.tmp / "pwned"
        r = gw.ssh("alice", "echo-args 'a b' \"c;d\" $(touch %s) `id` '|' > x" % marker)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode().splitlines(),
                         ["[a b]", "[c;d]", "[$(touch]", "[%s)]" % marker, "[`id`]", "[|]",
                          "[>]", "[x]"])
        self.assertFalse(marker.exists())
        self.assertFalse((self.home / "x").exists())
        # unterminated quote, oversized: refused (ssh: exec request failed)
        r = gw.ssh("alice", "echo-args 'open")
        self.assertEqual(r.returncode, 255)
        r = gw.ssh("alice", "echo-args " + "a" * 9000)
        self.assertEqual(r.returncode, 255)
        # force_command: the client's command is only in SSH_ORIGINAL_COMMAND
        r = gw.ssh("alice", "forced; touch %s" % marker)
        self.assertEqual(r.stdout.decode().strip(), "forced:forced; touch %s" % marker)
        self.assertFalse(marker.exists())

    def _git_env(self, gw):
        ssh = " ".join(gw.ssh_cmd("alice")[:-1])
        env = dict(os.environ)
        env.update({"GIT_SSH_COMMAND": ssh, "GIT_SSH_VARIANT": "ssh",
                    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
                    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
                    "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(gw.tmp)})
        return env

    @unittest.skipUnless(shutil.which("git"), "git not installed (apt-get install git)")
    def test_git_clone_push(self):
        gw = self.gateway()
        self.home.mkdir(parents=True, exist_ok=True)
        bare = self.home / "repo.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
        env = self._git_env(gw)
        work = gw.tmp / "work"

        def git(*args, cwd=None):
            return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True,
                                  timeout=60)

        r = git("clone", "-q", "alice@127.0.0.1:repo.git", str(work))
        self.assertEqual(r.returncode, 0, r.stderr)
        (work / "hello.txt").write_text("hello over sshgate\n")
        git("add", "hello.txt", cwd=work)
        git("commit", "-q", "-m", "first", cwd=work)
        r = git("push", "-q", "origin", "HEAD:main", cwd=work)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run(["git", "--git-dir", str(bare), "log", "--format=%s", "main"],
                           capture_output=True, env=env)
        self.assertEqual(r.stdout.decode().strip(), "first")
        work2 = gw.tmp / "work2"
        r = git("clone", "-q", "alice@127.0.0.1:repo.git", str(work2))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual((work2 / "hello.txt").read_text(), "hello over sshgate\n")
        self.assertIn("application", gw.log())

    @unittest.skipUnless(shutil.which("rsync"), "rsync not installed (apt-get install rsync)")
    def test_rsync_up_down(self):
        gw = self.gateway()
        self.home.mkdir(parents=True, exist_ok=True)
        src = gw.tmp / "src"
        (src / "sub").mkdir(parents=True)
        (src / "a.bin").write_bytes(os.urandom(300000))
        (src / "sub" / "b.txt").write_text("b\n")
        e = " ".join(gw.ssh_cmd("alice")[:-1])
        r = subprocess.run(["rsync", "-a", "-e", e, str(src) + "/", "alice@127.0.0.1:up/"],
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual((self.home / "up" / "a.bin").read_bytes(), (src / "a.bin").read_bytes())
        self.assertEqual((self.home / "up" / "sub" / "b.txt").read_text(), "b\n")
        down = gw.tmp / "down"
        r = subprocess.run(["rsync", "-a", "-e", e, "alice@127.0.0.1:up/", str(down) + "/"],
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual((down / "a.bin").read_bytes(), (src / "a.bin").read_bytes())
        self.assertEqual((down / "sub" / "b.txt").read_text(), "b\n")


if __name__ == "__main__":
    unittest.main()
