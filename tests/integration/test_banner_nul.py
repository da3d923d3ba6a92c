"""A NUL byte in the client version line (RFC 4253 4.2 forbids it; libssh
0.10.6 silently cuts the string there) ends the connection at once; the core
checks the first line with MSG_PEEK before libssh reads it."""
import unittest

import sgtest
import rawssh


class BannerNul(unittest.TestCase):
    def test_nul_in_the_version_line_disconnects(self):
        gw = sgtest.Gateway(self, plugins=[{"name": "echo"}],
                            routes=[{"match": {"kind": "exec"}, "plugin": "echo"}],
                            users={"alice": {"key": True}},
                            config={"limits": {"login_grace_time": 10}}).start()
        s = rawssh.connect(gw)
        s.sendall(b"SSH-2.0-a\0b\r\n")
        secs, how = rawssh.wait_closed(s, 3)
        s.close()
        self.assertNotEqual(how, "timeout", "still connected 3 s after a NUL in the version")


if __name__ == "__main__":
    sgtest.require_build(None)
    unittest.main()
