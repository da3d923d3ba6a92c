"""Auth requests that must count toward max_auth_attempts: every "none"
after the first (as OpenSSH), and keyboard-interactive restarts that abandon
unanswered prompts. 200 pipelined ones end the connection at the limit, not
at the login deadline."""
import time
import unittest

import sgtest
import rawssh
from rawssh import Probe


class AuthFlood(unittest.TestCase):
    def check_flood(self, fields):
        gw = sgtest.Gateway(self, plugins=[{"name": "echo"}],
                            routes=[{"match": {"kind": "exec"}, "plugin": "echo"}],
                            users={"alice": {"password": "pw", "key": True}},
                            config={"limits": {"max_auth_attempts": 3, "login_grace_time": 30,
                                               "per_source_penalty": 0}}).start()
        probe = Probe(gw)
        t = rawssh.client(gw, None)
        self.addCleanup(t.close)
        rawssh.send(t, 5, "ssh-userauth")
        time.sleep(0.3)
        try:
            for _ in range(200):
                rawssh.send(t, 50, "alice", "ssh-connection", *fields)
        except Exception:  # noqa: BLE001 - disconnected while sending: fine
            pass
        self.assertTrue(rawssh.wait_inactive(t, 5), "200 attempts and still connected")
        probe.check(self)

    def test_none_flood(self):
        self.check_flood(("none",))

    def test_keyboard_interactive_restarts(self):
        self.check_flood(("keyboard-interactive", "", ""))


if __name__ == "__main__":
    sgtest.require_build(None)
    unittest.main()
