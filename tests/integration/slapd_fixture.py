"""slapd_fixture — a throwaway OpenLDAP slapd for the auth-ldap tests.

    import slapd_fixture
    d = slapd_fixture.Slapd(tmpdir)         # generates CA + server cert, slapd.conf, schema
    d.start()                                # slapd -d stats on 127.0.0.1 (ldap:// and ldaps://)
    d.add_users(slapd_fixture.DEFAULT_USERS, keys={"carol": ["ssh-ed25519 AAAA..."]})
    d.uri, d.ldaps_uri, d.ca_file, d.base   # "ldap://127.0.0.1:P/", ..., "dc=example,dc=org"
    d.search("(uid=alice)", "memberOf")     # ldapsearch output (str), for debugging
    d.stop()

The directory is never the system slapd: it runs from a generated slapd.conf
(schemas from /etc/ldap/schema plus an openssh-lpk schema written here),
an mdb database in the temp dir, on free loopback ports, in the foreground
(-d stats: the log in slapd/slapd.log lists binds and search filters) as a
child of the test. Data: base dc=example,dc=org, ou=people,
ou=groups, a service account cn=svc (password "svc-secret"), users with
{SSHA} passwords (slappasswd), groupOfNames groups with the memberof overlay
maintaining memberOf, and posixGroups with memberUid. ACL: userPassword is
only usable for binds; everything else is readable (also anonymously).
"""
import os
import pathlib
import signal
import socket
import subprocess
import time

BASE = "dc=example,dc=org"
ROOT_DN = "cn=admin," + BASE
ROOT_PW = "root-secret"
SVC_DN = "cn=svc," + BASE
SVC_PW = "svc-secret"

# uid -> (password, [groupOfNames groups], [posixGroup groups])
DEFAULT_USERS = {
    "alice": ("alice-pw", ["admins"], ["ops"]),
    "bob": ("bob-pw", ["partners"], []),
    "carol": ("carol-pw", ["admins"], []),
    "dave": ("dave-pw", [], ["ops"]),
}

# openssh-lpk: the attribute and auxiliary class OpenSSH LDAP setups use
# (OIDs as registered for the lpk project).
LPK_SCHEMA = """\
attributetype ( 1.3.6.1.4.1.24552.500.1.1.1.13 NAME 'sshPublicKey'
    DESC 'OpenSSH public key'
    EQUALITY octetStringMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 )
objectclass ( 1.3.6.1.4.1.24552.500.1.1.2.0 NAME 'ldapPublicKey'
    DESC 'OpenSSH public key holder'
    SUP top AUXILIARY
    MAY ( sshPublicKey $ uid ) )
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv, input=None, check=True, env=None):
    e = dict(os.environ, LDAPNOINIT="1")
    if env:
        e.update(env)
    r = subprocess.run(argv, input=input, capture_output=True, env=e, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s %s" % (argv[0], r.returncode,
                                                      r.stdout.decode(errors="replace"),
                                                      r.stderr.decode(errors="replace")))
    return r


def make_certs(d, names=("DNS:localhost", "IP:127.0.0.1")):
    """A CA and a server certificate signed by it (SAN: names)."""
    d = pathlib.Path(d)
    ca_key, ca_crt = d / "ca.key", d / "ca.crt"
    srv_key, srv_csr, srv_crt = d / "server.key", d / "server.csr", d / "server.crt"
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=sshgate test CA", "-keyout", str(ca_key), "-out", str(ca_crt),
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=ldap test server",
         "-keyout", str(srv_key), "-out", str(srv_csr)])
    ext = d / "server.ext"
    ext.write_text("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                   "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
                   % ",".join(names))
    run(["openssl", "x509", "-req", "-in", str(srv_csr), "-CA", str(ca_crt), "-CAkey",
         str(ca_key), "-CAcreateserial", "-days", "2", "-extfile", str(ext),
         "-out", str(srv_crt)])
    os.chmod(srv_key, 0o600)
    return ca_crt, srv_crt, srv_key


def ssha(password):
    return run(["slappasswd", "-h", "{SSHA}", "-s", password]).stdout.decode().strip()


class Slapd:
    def __init__(self, tmp, cert_names=("DNS:localhost", "IP:127.0.0.1")):
        self.dir = pathlib.Path(tmp) / "slapd"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls_port = free_port()
        self.uri = "ldap://127.0.0.1:%d/" % self.port
        self.ldaps_uri = "ldaps://127.0.0.1:%d/" % self.tls_port
        self.base = BASE
        self.proc = None
        self.ca_file, self.cert, self.key = make_certs(self.dir, cert_names)
        self._write_config()

    # ------------------------------------------------------------ config
    def _write_config(self):
        db = self.dir / "db"
        db.mkdir(exist_ok=True)
        (self.dir / "openssh-lpk.schema").write_text(LPK_SCHEMA)
        schemas = ["core", "cosine", "nis", "inetorgperson"]
        conf = "".join("include /etc/ldap/schema/%s.schema\n" % s for s in schemas)
        conf += "include %s\n" % (self.dir / "openssh-lpk.schema")
        conf += f"""
pidfile {self.dir}/slapd.pid
argsfile {self.dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
loglevel none
TLSCACertificateFile {self.ca_file}
TLSCertificateFile {self.cert}
TLSCertificateKeyFile {self.key}

database mdb
maxsize 16777216
suffix "{BASE}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PW}
directory {db}
index objectClass eq
index uid eq
overlay memberof
access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
access to *
    by * read
"""
        self.conf = self.dir / "slapd.conf"
        self.conf.write_text(conf)
        run(["slaptest", "-u", "-f", str(self.conf)])

    # ------------------------------------------------------------ process
    def start(self, timeout=15):
        self.log = open(self.dir / "slapd.log", "wb")
        self.proc = subprocess.Popen(
            ["/usr/sbin/slapd", "-d", "stats", "-f", str(self.conf),
             "-h", "%s %s" % (self.uri, self.ldaps_uri)],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("slapd exited: %s" % (self.dir / "slapd.log").read_text())
            r = run(["ldapsearch", "-x", "-H", self.uri, "-b", "", "-s", "base",
                     "-o", "nettimeout=1"], check=False)
            if r.returncode == 0:
                self._load_base()
                return self
            time.sleep(0.1)
        raise RuntimeError("slapd did not answer on %s" % self.uri)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None

    def log_text(self):
        """slapd's stats log so far (-d stats: connections, BIND, SRCH with filters)."""
        try:
            return (self.dir / "slapd.log").read_text(errors="replace")
        except OSError:
            return ""

    # ------------------------------------------------------------ data
    def ldapadd(self, ldif):
        run(["ldapadd", "-x", "-H", self.uri, "-D", ROOT_DN, "-w", ROOT_PW],
            input=ldif.encode())

    def ldapmodify(self, ldif):
        run(["ldapmodify", "-x", "-H", self.uri, "-D", ROOT_DN, "-w", ROOT_PW],
            input=ldif.encode())

    def search(self, flt, *attrs, base=None):
        r = run(["ldapsearch", "-x", "-LLL", "-H", self.uri, "-D", ROOT_DN, "-w", ROOT_PW,
                 "-b", base or BASE, flt, *attrs])
        return r.stdout.decode(errors="replace")

    def _load_base(self):
        self.ldapadd(f"""dn: {BASE}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,{BASE}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{BASE}
objectClass: organizationalUnit
ou: groups

dn: {SVC_DN}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: svc
userPassword: {ssha(SVC_PW)}
""")

    def add_users(self, users, keys=None, ou="people", mail=True):
        """users: uid -> (password, [groupOfNames], [posixGroups]); keys: uid -> [pubkey lines]."""
        keys = keys or {}
        ldif = []
        uidn = 10000 + len(list(self.dir.glob("uid-*")))
        for uid, (pw, _, _) in users.items():
            uidn += 1
            (self.dir / ("uid-%s-%s" % (ou, uid))).touch()
            e = [f"dn: uid={uid},ou={ou},{BASE}", "objectClass: inetOrgPerson",
                 "objectClass: posixAccount", "objectClass: ldapPublicKey",
                 f"uid: {uid}", f"cn: {uid.title()}", f"sn: {uid}",
                 f"uidNumber: {uidn}", "gidNumber: 10000", f"homeDirectory: /home/{uid}",
                 "loginShell: /bin/sh"]
            if mail:
                e.append(f"mail: {uid}@example.org")
            if pw is not None:
                e.append(f"userPassword: {ssha(pw)}")
            for k in keys.get(uid, []):
                e.append(f"sshPublicKey: {k}")
            ldif.append("\n".join(e))
        self.ldapadd("\n\n".join(ldif) + "\n")
        # groups, added after the users so the memberof overlay sets memberOf
        gon, posix = {}, {}
        for uid, (_, g1, g2) in users.items():
            for g in g1:
                gon.setdefault(g, []).append(uid)
            for g in g2:
                posix.setdefault(g, []).append(uid)
        for g, members in gon.items():
            if self.search(f"(cn={g})", "cn").strip():
                self.ldapmodify(f"dn: cn={g},ou=groups,{BASE}\nchangetype: modify\nadd: member\n"
                                + "".join(f"member: uid={m},ou={ou},{BASE}\n" for m in members))
                continue
            self.ldapadd(f"dn: cn={g},ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: {g}\n"
                         + "".join(f"member: uid={m},ou={ou},{BASE}\n" for m in members))
        gid = 20000
        for g, members in posix.items():
            gid += 1
            self.ldapadd(f"dn: cn={g},ou=groups,{BASE}\nobjectClass: posixGroup\ncn: {g}\n"
                         f"gidNumber: {gid}\n" + "".join(f"memberUid: {m}\n" for m in members))

    def add_ou(self, ou):
        self.ldapadd(f"dn: ou={ou},{BASE}\nobjectClass: organizationalUnit\nou: {ou}\n")


class SilentServer:
    """A TCP server that accepts connections and never answers (a hung directory)."""

    def __init__(self):
        import threading
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.uri = "ldap://127.0.0.1:%d/" % self.port
        self.conns = []
        self.accepted = 0
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self.conns.append(c)  # keep it open, read nothing, say nothing

    def close(self):
        self._stop = True
        self.thread.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


# ---------------------------------------------------------------------------
# A minimal Active Directory stand-in. slapd cannot bind "user@domain" names,
# so AD mode is tested against this small LDAPv3 responder (BER by hand):
# simple binds as "<sAMAccountName>@<domain>" answered like AD does (49 with
# "data 525" for an unknown user, "data 52e" for a wrong password), searches
# answered from a dict, unbind. Every search filter's equality assertions are
# recorded (attribute, raw value) so tests can see what went over the wire.

def _ber_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _tlv(tag, payload):
    return bytes([tag]) + _ber_len(len(payload)) + payload


def _int(tag, v):
    return _tlv(tag, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True))


def _parse(buf, pos=0):
    """One TLV at pos -> (tag, value bytes, next pos); None if incomplete."""
    if pos + 2 > len(buf):
        return None
    tag, ln = buf[pos], buf[pos + 1]
    pos += 2
    if ln & 0x80:
        k = ln & 0x7f
        if pos + k > len(buf):
            return None
        ln = int.from_bytes(buf[pos:pos + k], "big")
        pos += k
    if pos + ln > len(buf):
        return None
    return tag, buf[pos:pos + ln], pos + ln


def _children(v):
    out, pos = [], 0
    while pos < len(v):
        t = _parse(v, pos)
        if t is None:
            break
        out.append((t[0], t[1]))
        pos = t[2]
    return out


class FakeAD:
    """users: sAMAccountName -> (password, dn, {attr: [values]})."""

    def __init__(self, domain, users):
        import threading
        self.domain = domain
        self.users = users
        self.binds = []        # bind names seen
        self.assertions = []   # (attribute, value) of equality filters seen
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.uri = "ldap://127.0.0.1:%d/" % self.port
        self._stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def close(self):
        self._stop = True
        self.sock.close()

    def _accept(self):
        import threading
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf, bound = b"", None
        with c:
            while True:
                t = _parse(buf)
                if t is None:
                    try:
                        d = c.recv(65536)
                    except OSError:
                        return
                    if not d:
                        return
                    buf += d
                    continue
                _, msg, end = t
                buf = buf[end:]
                parts = _children(msg)
                msgid = int.from_bytes(parts[0][1], "big")
                op, body = parts[1]
                if op == 0x60:      # BindRequest
                    bound = self._bind(c, msgid, body)
                elif op == 0x63:    # SearchRequest
                    self._search(c, msgid, body, bound)
                elif op == 0x42:    # UnbindRequest
                    return
                else:
                    c.sendall(self._msg(msgid, _tlv(0x78, _tlv(0x0a, b"\x02") + _tlv(0x04, b"")
                                                     + _tlv(0x04, b"unsupported"))))

    def _msg(self, msgid, op):
        return _tlv(0x30, _int(0x02, msgid) + op)

    def _result(self, tag, code, text=b""):
        return _tlv(tag, _tlv(0x0a, bytes([code])) + _tlv(0x04, b"") + _tlv(0x04, text))

    def _bind(self, c, msgid, body):
        f = _children(body)
        name, cred = f[1][1].decode(errors="replace"), f[2][1].decode(errors="replace")
        self.binds.append(name)
        user, _, dom = name.rpartition("@")
        u = self.users.get(user) if dom == self.domain else None
        err = b"80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data %s, v4563"
        if u is None:
            c.sendall(self._msg(msgid, self._result(0x61, 49, err % b"525")))
            return None
        if cred != u[0] or not cred:
            c.sendall(self._msg(msgid, self._result(0x61, 49, err % b"52e")))
            return None
        c.sendall(self._msg(msgid, self._result(0x61, 0)))
        return user

    def _assertions(self, tag, v, out):
        if tag == 0xa3:   # equalityMatch
            a, val = _children(v)[:2]
            out.append((a[1].decode(), val[1].decode(errors="replace")))
        elif tag in (0xa0, 0xa1, 0xa2):   # and, or, not
            for t, cv in _children(v):
                self._assertions(t, cv, out)
        return out

    def _search(self, c, msgid, body, bound):
        f = _children(body)
        seen = self._assertions(f[6][0], f[6][1], [])
        self.assertions += seen
        if bound is not None:
            for user, (_, dn, attrs) in self.users.items():
                if ("sAMAccountName", user) not in seen:
                    continue
                al = b"".join(_tlv(0x30, _tlv(0x04, k.encode()) + _tlv(0x31, b"".join(
                    _tlv(0x04, x.encode()) for x in vs))) for k, vs in attrs.items())
                c.sendall(self._msg(msgid, _tlv(0x64, _tlv(0x04, dn.encode()) + _tlv(0x30, al))))
                break
        c.sendall(self._msg(msgid, self._result(0x65, 0 if bound is not None else 1,
                                                b"" if bound else b"operations error")))
