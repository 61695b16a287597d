"""Probes: each one exercises one driver against a real peer and prints one line.

`drivers-agent probe NAME key=value ...` runs one probe. Its line says what the
driver did and which shared libraries served the call: the files mapped into
this process (from /proc/self/maps) whose names match the driver's C library,
so a line shows at a glance whether the embedded library (under the install
dir) or another one did the work. A failed probe exits with status 1 and says
why.
"""

import argparse
import os
import sys

from . import __version__


class ProbeError(Exception):
    """A probe that did not get the answer it needs."""


def served_by(*prefixes):
    """The mapped files whose names start with one of `prefixes`, sorted."""
    found = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split(None, 5)
            if len(parts) < 6:
                continue
            path = parts[5].strip()
            if os.path.basename(path).startswith(prefixes):
                found.add(path)
    if not found:
        raise ProbeError("no library named %s is mapped" % " or ".join(prefixes))
    return "served by " + ", ".join(sorted(found))


def probe_psycopg2(a):
    """SELECT over TLS with sslmode=verify-full against the test CA."""
    import psycopg2

    conn = psycopg2.connect(
        host=a["host"],
        port=int(a["port"]),
        dbname=a.get("dbname", "postgres"),
        user=a["user"],
        sslmode="verify-full",
        sslrootcert=a["ca"],
    )
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT current_setting('server_version'), s.ssl, s.version"
            " FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()"
        )
        version, ssl, tls = cur.fetchone()
    conn.close()
    if not ssl:
        raise ProbeError("the connection is not encrypted")
    return "PostgreSQL %s over %s (sslmode=verify-full), libpq %d; %s" % (
        version,
        tls,
        psycopg2.extensions.libpq_version(),
        served_by("libpq.so", "libssl.so"),
    )


def probe_ldap(a):
    """StartTLS (certificate demanded, checked against the test CA), bind, search."""
    import ldap

    conn = ldap.initialize(a["uri"])
    conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
    conn.set_option(ldap.OPT_X_TLS_CACERTFILE, a["ca"])
    conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
    conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
    conn.start_tls_s()
    conn.simple_bind_s(a["binddn"], a["password"])
    who = conn.whoami_s()
    entries = conn.search_s(a["base"], ldap.SCOPE_SUBTREE, a.get("filter", "(objectClass=*)"))
    cipher = conn.get_option(ldap.OPT_X_TLS_CIPHER)
    conn.unbind_s()
    if not entries:
        raise ProbeError("the search under %s found nothing" % a["base"])
    return "StartTLS (%s), bound as %s, %d entries under %s; %s" % (
        cipher,
        who,
        len(entries),
        a["base"],
        served_by("libldap", "liblber", "libsasl2.so", "libssl.so"),
    )


def probe_mysqlclient(a):
    """Connect over TLS (VERIFY_IDENTITY against the test CA), query."""
    import MySQLdb

    conn = MySQLdb.connect(
        host=a["host"],
        port=int(a["port"]),
        user=a["user"],
        password=a["password"],
        ssl={"ca": a["ca"]},
        ssl_mode="VERIFY_IDENTITY",
    )
    cur = conn.cursor()
    cur.execute("SELECT VERSION()")
    (version,) = cur.fetchone()
    cur.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
    row = cur.fetchone()
    conn.close()
    tls = row[1] if row else ""
    if not tls:
        raise ProbeError("the connection is not encrypted")
    return "MariaDB %s over %s (VERIFY_IDENTITY), client %s; %s" % (
        version,
        tls,
        MySQLdb.get_client_info(),
        served_by("libmariadb", "libssl.so"),
    )


def probe_pycurl(a):
    """GET an https URL, the server checked against the test CA."""
    import io

    import pycurl

    body = io.BytesIO()
    c = pycurl.Curl()
    c.setopt(pycurl.URL, a["url"])
    c.setopt(pycurl.CAINFO, a["ca"])
    c.setopt(pycurl.WRITEDATA, body)
    c.perform()
    code = c.getinfo(pycurl.RESPONSE_CODE)
    c.close()
    if code != 200:
        raise ProbeError("HTTP %d from %s" % (code, a["url"]))
    if "OpenSSL" not in pycurl.version:
        raise ProbeError("pycurl.version names no OpenSSL: " + pycurl.version)
    return "GET %s: %d, %d bytes; pycurl.version %s; %s" % (
        a["url"],
        code,
        len(body.getvalue()),
        pycurl.version,
        served_by("libcurl.so", "libssl.so", "libnghttp2.so"),
    )


def probe_pyzmq(a):
    """A REQ/REP round trip over tcp://127.0.0.1."""
    import threading

    import zmq

    ctx = zmq.Context()
    rep = ctx.socket(zmq.REP)
    port = rep.bind_to_random_port("tcp://127.0.0.1")

    def serve():
        rep.send(b"pong:" + rep.recv())

    t = threading.Thread(target=serve)
    t.start()
    req = ctx.socket(zmq.REQ)
    req.connect("tcp://127.0.0.1:%d" % port)
    req.send(b"ping")
    if not req.poll(10000):
        raise ProbeError("no reply in 10 s")
    reply = req.recv()
    t.join()
    req.close()
    rep.close()
    ctx.term()
    if reply != b"pong:ping":
        raise ProbeError("unexpected reply %r" % reply)
    return "REQ/REP over tcp://127.0.0.1:%d: %r, libzmq %s; %s" % (
        port,
        reply,
        zmq.zmq_version(),
        served_by("libzmq.so"),
    )


def probe_pynacl(a):
    """A SecretBox round trip."""
    import nacl.secret
    import nacl.utils

    box = nacl.secret.SecretBox(nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE))
    secret = b"agent credentials"
    sealed = box.encrypt(secret)
    if box.decrypt(sealed) != secret:
        raise ProbeError("the SecretBox round trip changed the message")
    return "SecretBox round trip (%d bytes sealed); %s" % (len(sealed), served_by("libsodium.so"))


def probe_lxml(a):
    """An XSLT transform."""
    from lxml import etree

    xslt = etree.XSLT(
        etree.XML(
            b'<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
            b'<xsl:template match="/"><hosts><xsl:for-each select="//host">'
            b'<name><xsl:value-of select="@id"/></name>'
            b"</xsl:for-each></hosts></xsl:template></xsl:stylesheet>"
        )
    )
    out = xslt(etree.XML(b'<fleet><host id="a"/><host id="b"/></fleet>'))
    names = [e.text for e in out.getroot()]
    if names != ["a", "b"]:
        raise ProbeError("the transform gave %r" % etree.tostring(out))
    return "XSLT transform: %s, libxml2 %s, libxslt %s; %s" % (
        names,
        ".".join(map(str, etree.LIBXML_VERSION)),
        ".".join(map(str, etree.LIBXSLT_VERSION)),
        served_by("libxslt.so", "libexslt.so", "libxml2.so"),
    )


def probe_gevent(a):
    """With the monkey patch: serve and fetch `n` (100) concurrent requests on loopback."""
    from gevent import monkey

    monkey.patch_all()
    import urllib.request

    import gevent
    from gevent.pywsgi import WSGIServer

    def app(environ, start_response):
        gevent.sleep(0.05)  # the requests overlap only if the server is concurrent
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    n = int(a.get("n", "100"))
    base = "http://127.0.0.1:%d" % server.server_port

    def fetch(i):
        with urllib.request.urlopen("%s/%d" % (base, i), timeout=30) as r:
            return r.read().decode()

    jobs = [gevent.spawn(fetch, i) for i in range(n)]
    gevent.joinall(jobs, timeout=60, raise_error=True)
    server.stop()
    got = sorted(j.value for j in jobs)
    if got != sorted("/%d" % i for i in range(n)):
        raise ProbeError("%d of %d answers right" % (sum(1 for j in jobs if j.value), n))
    loop = gevent.get_hub().loop
    module = sys.modules[type(loop).__module__]
    return "%d concurrent requests served and fetched on loopback (socket patched: %s), loop %s; %s" % (
        n,
        monkey.is_module_patched("socket"),
        type(loop).__module__,
        served_by(os.path.basename(module.__file__).split(".")[0], "_greenlet"),
    )


def probe_gssapi(a):
    """Name a Kerberos principal and canonicalize it through the krb5 mechanism."""
    import gssapi

    name = gssapi.Name(a.get("principal", "agent/host.example.org@EXAMPLE.ORG"), gssapi.NameType.kerberos_principal)
    canon = name.canonicalize(gssapi.MechType.kerberos)
    return "principal %s (mech %s); %s" % (
        canon,
        gssapi.MechType.kerberos.dotted_form,
        served_by("libgssapi_krb5.so", "libkrb5.so"),
    )


def probe_cffi(a):
    """An ABI-mode call into the C library (getpid, strlen)."""
    import cffi

    ffi = cffi.FFI()
    ffi.cdef("int getpid(void); size_t strlen(const char *);")
    libc = ffi.dlopen(None)
    if libc.getpid() != os.getpid() or libc.strlen(b"ferrobus") != 8:
        raise ProbeError("the ABI-mode calls gave wrong answers")
    return "ABI-mode getpid() = %d, strlen = 8, cffi %s; %s" % (
        libc.getpid(),
        cffi.__version__,
        served_by("_cffi_backend", "libffi.so"),
    )


PROBES = {
    "psycopg2": probe_psycopg2,
    "ldap": probe_ldap,
    "mysqlclient": probe_mysqlclient,
    "pycurl": probe_pycurl,
    "pyzmq": probe_pyzmq,
    "pynacl": probe_pynacl,
    "lxml": probe_lxml,
    "gevent": probe_gevent,
    "gssapi": probe_gssapi,
    "cffi": probe_cffi,
}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="drivers-agent", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version="drivers-agent " + __version__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("probe", help="run one probe")
    p.add_argument("name", choices=sorted(PROBES))
    p.add_argument("settings", nargs="*", metavar="KEY=VALUE")
    sub.add_parser("list", help="list the probes")
    args = parser.parse_args(argv)
    if args.command == "list":
        for name in sorted(PROBES):
            print("%s: %s" % (name, PROBES[name].__doc__.splitlines()[0]))
        return 0
    settings = {}
    for kv in args.settings:
        key, sep, value = kv.partition("=")
        if not sep:
            parser.error("%s: expected KEY=VALUE" % kv)
        settings[key] = value
    try:
        line = PROBES[args.name](settings)
    except KeyError as e:
        print("%s: FAILED: missing setting %s" % (args.name, e), file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - the line names whatever went wrong
        print("%s: FAILED: %s: %s" % (args.name, type(e).__name__, e), file=sys.stderr)
        return 1
    print("%s: ok: %s" % (args.name, line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
