"""The core daemon with real OpenSSH clients and the echo test plugin:
routes, reload, worker crash, framing, status, limits, config errors."""
import hashlib
import json
import os
import select
import signal
import socket
import subprocess
import threading
import time
import unittest

import sgtest

ECHO_ROUTES = [
    {"name": "admin-exec", "match": {"kind": "exec", "command": "info", "group": "admins"},
     "plugin": "echo"},
    {"name": "exec", "match": {"kind": "exec", "command": "[!i]*"}, "plugin": "echo"},
    {"match": {"kind": "subsystem", "subsystem": "echo"}, "plugin": "echo"},
]
USERS = {"alice": {"password": "pw-alice", "key": True, "groups": ["admins"]},
         "bob": {"password": "pw-bob", "key": True}}


def gateway(test, **kw):
    kw.setdefault("plugins", [{"name": "echo"}])
    kw.setdefault("routes", ECHO_ROUTES)
    kw.setdefault("users", USERS)
    return sgtest.Gateway(test, **kw)


class Core(unittest.TestCase):
    def test_exec_roundtrip_and_exit_status(self):
        gw = gateway(self).start()
        data = os.urandom(3 * 1024 * 1024)
        r = gw.ssh("alice", "cat", input=data)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(hashlib.sha256(r.stdout).hexdigest(), hashlib.sha256(data).hexdigest())
        self.assertEqual(gw.ssh("alice", "exit 7").returncode, 7)
        r = gw.ssh("alice", "stderr oops")
        self.assertEqual((r.stdout, r.stderr), (b"", b"oops"))

    def test_bytes_read_ahead_on_resume_are_not_left_behind(self):
        """When a plugin resumes its input, the host reads the socket outside
        its readiness callback; what it reads ahead there must be handled
        without waiting for the socket to become readable again (the client,
        waiting for its echo, sends nothing more)."""
        gw = gateway(self).start()
        p = subprocess.Popen(gw.ssh_cmd("alice") + ["busy 1500"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        os.set_blocking(p.stdout.fileno(), False)

        def read_until(n, what):
            got, deadline = b"", time.monotonic() + 10
            while len(got) < n and time.monotonic() < deadline:
                select.select([p.stdout], [], [], 0.2)
                got += p.stdout.read() or b""
            self.assertGreaterEqual(len(got), n, "%s: %d of %d bytes" % (what, len(got), n))
            return got

        self.assertEqual(read_until(5, "busy line"), b"busy\n")
        # 100 ms after "busy" the plugin blocks the worker for 1.5 s with its
        # input paused: these bytes wait in the kernel until the resume
        # reads them
        time.sleep(0.4)
        data = os.urandom(96 * 1024)
        writer = threading.Thread(target=p.stdin.write, args=(data,), daemon=True)
        writer.start()  # may block on the channel window
        self.assertEqual(read_until(len(data), "echo"), data)
        writer.join(10)
        p.stdin.close()
        self.assertEqual(p.wait(timeout=10), 0)

    def test_routes_group_and_deny_by_default(self):
        gw = gateway(self).start()
        r = gw.ssh("alice", "info")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"user=alice method=publickey", r.stdout)
        self.assertIn(b"groups=admins", r.stdout)
        # bob is not in admins: no route matches "info" for him
        r = gw.ssh("bob", "info")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no route for exec 'info' of user bob", gw.log())
        # shell has no route at all
        r = gw.ssh("alice", opts=["-tt"])
        self.assertNotEqual(r.returncode, 0)
        # unrouted subsystem (sftp) refused
        r = gw.sftp("alice", "ls\n")
        self.assertNotEqual(r.returncode, 0)
        # a routed subsystem works
        p = subprocess.run(gw.ssh_cmd("alice") + ["-s", "echo"], input=b"sub", capture_output=True,
                           timeout=20)
        self.assertEqual(p.stdout, b"sub")

    def test_framing_eol_and_records(self):
        gw = gateway(self).start()
        r = gw.ssh("alice", "lines", input=b"one\ntwo\n" + b"x" * 70 + b"\nend")
        self.assertEqual(r.stdout, b"[1]one\n[2]two\n[3!]" + b"x" * 64 + b"[4]xxxxxx\n[5!]end")
        r = gw.ssh("alice", "records 4", input=b"abcdefghij")
        self.assertEqual(r.stdout, b"<4>abcd<4>efgh<2>ij")

    def test_reload_keeps_open_session_and_applies_new_routes(self):
        gw = gateway(self, workers=2).start()
        p = subprocess.Popen(gw.ssh_cmd("alice") + ["cat"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
        p.stdin.write(b"before\n")
        p.stdin.flush()
        self.assertEqual(p.stdout.readline(), b"before\n")
        old_workers = set(gw.worker_pids())
        routes = ECHO_ROUTES + [{"match": {"kind": "shell"}, "plugin": "echo",
                                 "config": {"deny": False}}]
        cfg = gw.build_config()
        cfg["routes"] = routes
        gw.reload(cfg)
        deadline = time.time() + 10
        while time.time() < deadline and "generation 1 started" not in gw.log():
            time.sleep(0.1)
        self.assertIn("generation 1 started", gw.log())
        # the open session still works after the reload
        p.stdin.write(b"after\n")
        p.stdin.flush()
        self.assertEqual(p.stdout.readline(), b"after\n")
        # new connections use the new config: the shell route now exists
        r = gw.ssh("alice", input=b"hi", opts=["-T"])
        self.assertEqual(r.stdout, b"hi")
        p.stdin.close()
        self.assertEqual(p.wait(10), 0)
        # the old workers exit after their last session ended
        deadline = time.time() + 10
        while time.time() < deadline and old_workers & set(gw.worker_pids()):
            time.sleep(0.1)
        self.assertFalse(old_workers & set(gw.worker_pids()))

    def test_invalid_reload_keeps_running(self):
        gw = gateway(self).start()
        gw.config_path.write_text('{"listen": [ {"adress": "127.0.0.1"} ]}')
        gw.proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        self.assertIn("reload failed, keeping the running config", gw.log())
        self.assertIn("did you mean", gw.log())
        self.assertEqual(gw.ssh("alice", "exit 3").returncode, 3)

    def test_worker_crash_is_replaced(self):
        gw = gateway(self, workers=2).start()
        p = subprocess.Popen(gw.ssh_cmd("alice") + ["cat"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
        p.stdin.write(b"x\n")
        p.stdin.flush()
        self.assertEqual(p.stdout.readline(), b"x\n")
        before = set(gw.worker_pids())
        # crash workers until the one holding our session survives: with 2
        # workers, "crash" lands on either; at least one crash must be seen
        r = gw.ssh("bob", "crash")
        self.assertNotEqual(r.returncode, 0)
        deadline = time.time() + 10
        while time.time() < deadline and "starting a replacement" not in gw.log():
            time.sleep(0.1)
        self.assertIn("died from signal 6", gw.log())
        deadline = time.time() + 10
        while time.time() < deadline and len(gw.worker_pids()) < 2:
            time.sleep(0.1)
        after = set(gw.worker_pids())
        self.assertEqual(len(after), 2)
        self.assertNotEqual(before, after)
        self.assertEqual(gw.ssh("alice", "exit 4").returncode, 4)
        p.stdin.close()
        p.wait(10)

    def test_status_lists_connections(self):
        gw = gateway(self, config={"control_socket": "ctl.sock"}).start()
        p = subprocess.Popen(gw.ssh_cmd("alice") + ["sleep 5000"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
        time.sleep(1.5)
        out = subprocess.run([str(sgtest.SSHGATED), "--status", "-f", str(gw.config_path)],
                             capture_output=True, text=True, timeout=10, cwd=str(gw.tmp))
        self.assertEqual(out.returncode, 0, out.stderr)
        rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
        self.assertTrue(any(r["user"] == "alice" and r["channels"] and
                            r["channels"][0]["request"] == "exec" for r in rows), out.stdout)
        p.kill()
        p.wait()

    def test_login_grace_and_max_auth_attempts(self):
        gw = gateway(self, config={"limits": {"login_grace_time": 2, "max_auth_attempts": 2}}).start()
        s = socket.create_connection(("127.0.0.1", gw.port))
        s.sendall(b"SSH-2.0-slowloris\r\n")
        t0 = time.time()
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        self.assertLess(time.time() - t0, 5)
        self.assertIn("login grace time", gw.log())
        # three wrong keys: cut off after two
        keys = []
        for i in range(3):
            k = gw.tmp / ("wrong%d" % i)
            sgtest.keygen(k)
            keys += ["-i", str(k)]
        r = subprocess.run(["ssh", "-F", str(gw.ssh_config), "-p", str(gw.port), "-o",
                            "BatchMode=yes", "-v"] + keys + ["alice@127.0.0.1", "exit 0"],
                           capture_output=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Too many authentication failures", gw.log())

    def test_mfa_publickey_then_password(self):
        gw = gateway(self, config={"auth": {"required": [["publickey", "password"]]}}).start()
        # key alone is not enough
        r = gw.ssh("alice", "exit 0")
        self.assertNotEqual(r.returncode, 0)
        # key + password
        argv = ["sshpass", "-p", "pw-alice", "ssh", "-F", str(gw.ssh_config), "-p", str(gw.port),
                "-i", str(gw.key("alice")), "-o", "PreferredAuthentications=publickey,password",
                "alice@127.0.0.1", "info"]
        r = subprocess.run(argv, capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"method=password", r.stdout)
        self.assertIn("partial success: publickey for alice", gw.log())

    def test_auth_plugin_that_never_answers_is_refused_at_timeout(self):
        users = dict(USERS, hang={"password": "pw-hang"})
        gw = gateway(self, users=users, config={"auth": {"chain": ["echo", "auth-file"]},
                                                "limits": {"timeout": 2}}).start()
        t0 = time.time()
        r = gw.ssh("hang", "exit 0", password="pw-hang", timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertLess(time.time() - t0, 10)
        self.assertIn("plugin echo did not answer within 2s", gw.log())
        self.assertEqual(gw.ssh("alice", "exit 2").returncode, 2)

    def test_auth_plugin_breaking_the_complete_contract(self):
        # complete() after the timeout, twice in a row, and from inside the
        # handler: answers that are no longer awaited are dropped (before
        # request handles, the last two freed a request twice / used it
        # after freeing it), the chain goes on, the worker lives on
        users = dict(USERS, late={"password": "pw-late"}, twice={"password": "pw-twice"},
                     early={"password": "pw-early"})
        gw = gateway(self, users=users, config={"auth": {"chain": ["echo", "auth-file"]},
                                                "limits": {"timeout": 2},
                                                "log": {"level": 3, "format": "text"}}).start()
        self.assertEqual(gw.ssh("early", "exit 3", password="pw-early").returncode, 3)
        self.assertEqual(gw.ssh("twice", "exit 4", password="pw-twice").returncode, 4)
        stale = "complete() for a request that is no longer pending"
        after_twice = gw.log().count(stale)
        self.assertGreaterEqual(after_twice, 1)
        r = gw.ssh("late", "exit 0", password="pw-late", timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("plugin echo did not answer within 2s", gw.log())
        deadline = time.time() + 10
        while gw.log().count(stale) == after_twice and time.time() < deadline:
            time.sleep(0.1)
        log = gw.log()
        self.assertGreater(log.count(stale), after_twice)  # late's answer, after the timeout
        # a channel request answered from inside its handler
        self.assertEqual(gw.ssh("alice", "early-exit 5").returncode, 5)
        self.assertNotRegex(log, r"worker \d+ \(pid \d+\) (died|exited)")
        self.assertEqual(gw.ssh("alice", "exit 2").returncode, 2)

    def test_kbdint_per_connection_prompts_and_sigstatus(self):
        gw = gateway(self, config={"auth": {"chain": ["echo", "auth-file"],
                                            "fire_after_signature": True}}).start()
        askpass = gw.tmp / "askpass.sh"
        askpass.write_text('#!/bin/sh\ncase "$1" in *First*) echo one;; *Second*) echo %s;; esac\n')

        def login(second):
            askpass.write_text('#!/bin/sh\ncase "$1" in *First*) echo one;; *Second*) echo %s;; esac\n'
                               % second)
            os.chmod(askpass, 0o755)
            env = dict(os.environ, SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force",
                       DISPLAY=":0")
            argv = ["ssh", "-F", str(gw.ssh_config), "-p", str(gw.port), "-o",
                    "PreferredAuthentications=keyboard-interactive", "-o",
                    "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=1",
                    "kbd2@127.0.0.1", "info"]
            return subprocess.run(argv, capture_output=True, timeout=30, env=env,
                                  stdin=subprocess.DEVNULL)
        r = login("two")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"user=kbd2 method=keyboard-interactive", r.stdout)
        self.assertNotEqual(login("wrong").returncode, 0)
        # publickey with fire_after_signature: the sigstatus event fires with "1"
        self.assertEqual(gw.ssh("alice", "exit 0").returncode, 0)
        self.assertIn("echo: sigstatus 1 for alice", gw.log())

    def test_banner_and_version(self):
        gw = gateway(self, config={"banner": "Authorized use only\n",
                                   "version_string": "sshgate_test"}).start()
        r = gw.ssh("alice", "exit 0", opts=["-o", "LogLevel=INFO"])
        self.assertIn(b"Authorized use only", r.stderr)
        s = socket.create_connection(("127.0.0.1", gw.port))
        self.assertTrue(s.recv(256).startswith(b"SSH-2.0-sshgate_test"))
        s.close()

    def test_json_log_with_masked_secrets(self):
        gw = gateway(self, config={"log": {"format": "json", "level": 2}}).start()
        gw.ssh("alice", "exit 0", password="hunter2-secret")
        self.assertEqual(gw.ssh("alice", "exit 0").returncode, 0)
        lines = [json.loads(line) for line in gw.log().splitlines() if line.startswith("{")]
        self.assertTrue(any("accepted publickey for alice" in r["msg"] for r in lines))
        self.assertTrue(all({"ts", "level", "pid", "msg"} <= set(r) for r in lines))
        self.assertNotIn("hunter2-secret", gw.log())

    def test_sigterm_is_graceful(self):
        gw = gateway(self).start()
        p = subprocess.Popen(gw.ssh_cmd("alice") + ["cat"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1)
        self.assertEqual(gw.stop(), 0)
        p.wait(10)
        self.assertIn("shutting down", gw.log())


class ConfigCheck(unittest.TestCase):
    def run_t(self, text, tmpdir, *extra):
        path = os.path.join(tmpdir, "c.json")
        with open(path, "w") as f:
            f.write(text)
        return subprocess.run([str(sgtest.SSHGATED), "-t", *extra, "-f", path],
                              capture_output=True, text=True, timeout=20)

    def test_dump_redacts_plugin_secrets(self):
        gw = sgtest.Gateway(self)
        cfg = {"plugins": [{"name": "auth-file", "config": {
                   "users_file": str(gw.tmp / "users.json"), "api_token": "tok-123456",
                   "backup": {"db_password": "pw-654321"}}}]}
        (gw.tmp / "users.json").write_text('{"users": {}}')
        r = self.run_t(json.dumps(cfg), str(gw.tmp))
        self.assertNotIn("tok-123456", r.stdout)
        self.assertNotIn("pw-654321", r.stdout)
        self.assertIn('"api_token": "<redacted>"', r.stdout)
        self.assertIn("2 secrets shown as", r.stderr)
        r = self.run_t(json.dumps(cfg), str(gw.tmp), "--show-secrets")
        self.assertIn("tok-123456", r.stdout)
        self.assertIn("pw-654321", r.stdout)
        self.assertNotIn("redacted", r.stderr)

    def test_errors_name_position_and_path(self):
        gw = sgtest.Gateway(self)
        r = self.run_t('{\n  "limits": {\n    "max_conections": 5\n  }\n}\n', str(gw.tmp))
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"c\.json:3:\d+: .*limits.*max_conections")
        self.assertIn("did you mean", r.stderr)
        r = self.run_t('{"workers": "many"}', str(gw.tmp))
        self.assertEqual(r.returncode, 1)
        self.assertIn("workers", r.stderr)

    def test_plugin_refusals(self):
        gw = sgtest.Gateway(self)
        d = gw.tmp
        cases = {
            "missing": ('{"plugins":[{"name":"x","path":"%s/nope.so"}]}' % d, "nope.so"),
            "notplugin": ('{"plugins":[{"name":"x","path":"/usr/lib/x86_64-linux-gnu/libz.so.1"}]}',
                          "does not export sg_plugin_entry"),
        }
        for name, (text, want) in cases.items():
            r = self.run_t(text, str(d))
            self.assertEqual(r.returncode, 1, name)
            self.assertIn(want, r.stderr, name)
        # group-writable plugin file
        src = sgtest.PLUGIN_DIR / "echo.so"
        dst = d / "echo-gw.so"
        dst.write_bytes(src.read_bytes())
        os.chmod(dst, 0o775)
        r = self.run_t('{"plugins":[{"name":"echo","path":"%s"}]}' % dst, str(d))
        self.assertEqual(r.returncode, 1)
        self.assertIn("writable by group or others", r.stderr)

    def test_failing_init_refuses_start(self):
        gw = gateway(self, plugins=[{"name": "echo", "config": {"fail_init": True}}])
        gw.start(wait=False)
        rc = gw.proc.wait(15)
        self.assertNotEqual(rc, None)
        self.assertIn("init failed", gw.log())


if __name__ == "__main__":
    sgtest.require_build(None)
    unittest.main()
