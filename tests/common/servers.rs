//! Real servers from Debian's packages for driver tests, in a network namespace
//! of their own whose only interface is loopback: PostgreSQL and MariaDB with
//! TLS, slapd with StartTLS, and an HTTPS server (the host's Python). Each uses
//! the test PKI's server certificate for 127.0.0.1. A root's commands join the
//! namespace ([`Netns::chroot`]), so a client in the root reaches the servers on
//! 127.0.0.1 and nothing else. Servers are killed, and the namespace deleted,
//! on drop.

#![allow(dead_code)] // each test binary uses part of it

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server programs these need, with the package that has them; the first
/// missing one, if any.
pub fn missing() -> Option<(&'static str, &'static str)> {
    let need: [(&str, &str); 6] = [
        ("ip", "iproute2"),
        ("openssl", "openssl"),
        ("slapd", "slapd"),
        ("slapadd", "slapd"),
        ("mariadbd", "mariadb-server"),
        ("mariadb-install-db", "mariadb-server"),
    ];
    for (tool, pkg) in need {
        if !super::have(tool) {
            return Some((tool, pkg));
        }
    }
    if pg_bin().is_none() {
        return Some(("initdb", "postgresql"));
    }
    None
}

/// `/usr/lib/postgresql/<major>/bin` of the newest installed server.
fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join("initdb").is_file())
        .collect();
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
}

/// A named network namespace with loopback up (`ip netns`).
pub struct Netns {
    name: String,
    servers: Vec<(String, Child)>,
}

impl Netns {
    /// Create it; the name carries the process id so that parallel runs differ.
    pub fn new(tag: &str) -> Netns {
        let name = format!("ferrobus-{tag}-{}", std::process::id());
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        run_ok(
            Command::new("ip").args(["netns", "add", &name]),
            "ip netns add",
        );
        let ns = Netns {
            name,
            servers: Vec::new(),
        };
        run_ok(&mut ns.cmd("ip", &["link", "set", "lo", "up"]), "lo up");
        ns
    }

    /// `program args` in the namespace, with a clean environment.
    pub fn cmd(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program])
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null());
        c
    }

    /// `sh -c script` chrooted into `root`, in the namespace, with a clean
    /// environment: (success, stdout + stderr).
    pub fn chroot(&self, root: &Path, script: &str) -> (bool, String) {
        let out = self
            .cmd(
                "chroot",
                &[&root.to_string_lossy(), "/bin/sh", "-c", script],
            )
            .output()
            .unwrap();
        (out.status.success(), super::both(&out))
    }

    /// Start a long-running server (output in `log`) and wait until
    /// 127.0.0.1:`port` accepts connections; its log is shown if it does not.
    fn start(&mut self, what: &str, mut cmd: Command, log: &Path, port: u16) {
        let out = fs::File::create(log).unwrap();
        let child = cmd
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what}: {e}"));
        self.servers.push((what.to_string(), child));
        let start = Instant::now();
        loop {
            let probe = self
                .cmd(
                    "python3",
                    &[
                        "-c",
                        "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)",
                        &port.to_string(),
                    ],
                )
                .output()
                .unwrap();
            if probe.status.success() {
                return;
            }
            let (_, child) = self.servers.last_mut().unwrap();
            let exited = child.try_wait().unwrap();
            if exited.is_some() || start.elapsed() > Duration::from_secs(60) {
                panic!(
                    "{what} did not listen on 127.0.0.1:{port} ({}):\n{}",
                    exited.map_or("60 s".to_string(), |s| s.to_string()),
                    fs::read_to_string(log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for (_, child) in &mut self.servers {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap();
    super::assert_success(&out, what);
    super::both(&out)
}

/// Make `dir` and hand it to `user` (the servers refuse to run as root).
fn owned_dir(dir: &Path, user: &str) {
    fs::create_dir_all(dir).unwrap();
    run_ok(
        Command::new("chown")
            .args(["-R", &format!("{user}:{user}")])
            .arg(dir),
        "chown",
    );
}

/// The certificate, key and CA of the test PKI copied into `dir` for `user`
/// (the key readable by it alone, as PostgreSQL insists).
fn server_pki(pki: &[PathBuf; 3], dir: &Path, user: &str) -> (PathBuf, PathBuf, PathBuf) {
    let ca = dir.join("ca.crt");
    let cert = dir.join("server.pem");
    let key = dir.join("server.key");
    fs::copy(&pki[0], &ca).unwrap();
    fs::copy(&pki[1], &cert).unwrap();
    fs::copy(&pki[2], &key).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    run_ok(
        Command::new("chown")
            .arg(format!("{user}:{user}"))
            .args([&ca, &cert, &key]),
        "chown",
    );
    (ca, cert, key)
}

/// The test's servers: where they listen and the credentials to use.
pub struct Servers {
    /// The namespace they run in (clients join it).
    pub ns: Netns,
    /// PostgreSQL: TLS only from 127.0.0.1 (`hostssl`), user `agent`, trust.
    pub pg_port: u16,
    /// slapd: `ldap://` with StartTLS; bind DN and password, search base.
    pub ldap_port: u16,
    pub ldap_bind: (&'static str, &'static str),
    pub ldap_base: &'static str,
    /// MariaDB: user `agent`, password below, TLS available.
    pub mariadb_port: u16,
    pub mariadb_password: &'static str,
    /// HTTPS: serves `index.html`.
    pub https_port: u16,
}

/// Start all four in a new namespace; their state lives under `dir` (made
/// traversable for the server users).
pub fn start(dir: &Path, pki: &[PathBuf; 3]) -> Servers {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    let mut ns = Netns::new("drivers");
    // The namespace is the servers' own: the well-known ports are free.
    let (pg_port, ldap_port, mariadb_port, https_port) = (5432, 389, 3306, 8443);
    let ldap_bind = ("cn=admin,dc=example,dc=org", "ldap-secret");
    let ldap_base = "dc=example,dc=org";
    let mariadb_password = "maria-secret";
    postgres(&mut ns, &dir.join("pg"), pki, pg_port);
    slapd(
        &mut ns,
        &dir.join("ldap"),
        pki,
        ldap_port,
        ldap_bind,
        ldap_base,
    );
    mariadb(
        &mut ns,
        &dir.join("mariadb"),
        pki,
        mariadb_port,
        mariadb_password,
    );
    https(&mut ns, &dir.join("https"), pki, https_port);
    Servers {
        ns,
        pg_port,
        ldap_port,
        ldap_bind,
        ldap_base,
        mariadb_port,
        mariadb_password,
        https_port,
    }
}

fn postgres(ns: &mut Netns, dir: &Path, pki: &[PathBuf; 3], port: u16) {
    let bin = pg_bin().expect("postgresql");
    owned_dir(dir, "postgres");
    let data = dir.join("data");
    run_ok(
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "agent", "--auth=trust", "-E", "UTF8", "--no-sync"]),
        "initdb",
    );
    let (_, cert, key) = server_pki(pki, &data, "postgres");
    let conf = data.join("postgresql.conf");
    let mut text = fs::read_to_string(&conf).unwrap();
    text.push_str(&format!(
        "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
         ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\nfsync = off\n",
        dir.display(),
        cert.display(),
        key.display()
    ));
    fs::write(&conf, text).unwrap();
    // Only TLS connections from loopback: a client that did not encrypt is refused.
    fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
    )
    .unwrap();
    let mut cmd = ns.cmd("runuser", &["-u", "postgres", "--"]);
    cmd.arg(bin.join("postgres")).arg("-D").arg(&data);
    ns.start("postgres", cmd, &dir.join("server.log"), port);
}

fn slapd(
    ns: &mut Netns,
    dir: &Path,
    pki: &[PathBuf; 3],
    port: u16,
    bind: (&str, &str),
    base: &str,
) {
    fs::create_dir_all(dir.join("db")).unwrap();
    let (ca, cert, key) = server_pki(pki, dir, "root");
    let conf = dir.join("slapd.conf");
    fs::write(
        &conf,
        format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             modulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             pidfile {dir}/slapd.pid\n\
             TLSCACertificateFile {ca}\nTLSCertificateFile {cert}\nTLSCertificateKeyFile {key}\n\
             # a simple bind must come over TLS\n\
             security simple_bind=128\n\
             database mdb\nmaxsize 10485760\nsuffix \"{base}\"\nrootdn \"{dn}\"\nrootpw {pw}\n\
             directory {dir}/db\n",
            dir = dir.display(),
            ca = ca.display(),
            cert = cert.display(),
            key = key.display(),
            dn = bind.0,
            pw = bind.1,
        ),
    )
    .unwrap();
    let ldif = dir.join("base.ldif");
    fs::write(
        &ldif,
        "dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\n\
         dc: example\no: Example\n\n\
         dn: ou=hosts,dc=example,dc=org\nobjectClass: organizationalUnit\nou: hosts\n\n\
         dn: cn=web1,ou=hosts,dc=example,dc=org\nobjectClass: device\ncn: web1\n\n\
         dn: cn=db1,ou=hosts,dc=example,dc=org\nobjectClass: device\ncn: db1\n",
    )
    .unwrap();
    run_ok(
        Command::new("slapadd")
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(&ldif),
        "slapadd",
    );
    let mut cmd = ns.cmd("slapd", &["-d", "0", "-f"]);
    cmd.arg(&conf)
        .arg("-h")
        .arg(format!("ldap://127.0.0.1:{port}/"));
    ns.start("slapd", cmd, &dir.join("server.log"), port);
}

fn mariadb(ns: &mut Netns, dir: &Path, pki: &[PathBuf; 3], port: u16, password: &str) {
    owned_dir(dir, "mysql");
    let (ca, cert, key) = server_pki(pki, dir, "mysql");
    let cnf = dir.join("my.cnf");
    fs::write(
        &cnf,
        format!(
            "[mariadbd]\nuser = mysql\ndatadir = {dir}/data\nsocket = {dir}/mysqld.sock\n\
             pid-file = {dir}/mariadbd.pid\nport = {port}\nbind-address = 127.0.0.1\n\
             skip-name-resolve\nssl-ca = {ca}\nssl-cert = {cert}\nssl-key = {key}\n\
             innodb_buffer_pool_size = 32M\n",
            dir = dir.display(),
            ca = ca.display(),
            cert = cert.display(),
            key = key.display(),
        ),
    )
    .unwrap();
    run_ok(
        Command::new("mariadb-install-db")
            .arg(format!("--defaults-file={}", cnf.display()))
            .args(["--skip-test-db", "--auth-root-authentication-method=socket"]),
        "mariadb-install-db",
    );
    let mut cmd = ns.cmd("mariadbd", &[&format!("--defaults-file={}", cnf.display())]);
    cmd.current_dir(dir);
    ns.start("mariadbd", cmd, &dir.join("server.log"), port);
    run_ok(
        &mut ns.cmd(
            "mariadb",
            &[
                "--no-defaults",
                &format!("--socket={}/mysqld.sock", dir.display()),
                "-u",
                "root",
                "-e",
                &format!(
                    "CREATE USER 'agent'@'127.0.0.1' IDENTIFIED BY '{}' REQUIRE SSL; \
                     GRANT SELECT ON *.* TO 'agent'@'127.0.0.1';",
                    password
                ),
            ],
        ),
        "creating the MariaDB user",
    );
}

/// An HTTPS server (the host's Python) on 127.0.0.1:`port`, serving `dir`.
fn https(ns: &mut Netns, dir: &Path, pki: &[PathBuf; 3], port: u16) {
    fs::create_dir_all(dir).unwrap();
    let (_, cert, key) = server_pki(pki, dir, "root");
    fs::write(dir.join("index.html"), "hello from the test server\n").unwrap();
    let mut cmd = ns.cmd(
        "python3",
        &[
            "-c",
            "import http.server, ssl, sys\n\
             ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
             ctx.load_cert_chain(sys.argv[2], sys.argv[3])\n\
             srv = http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), http.server.SimpleHTTPRequestHandler)\n\
             srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n\
             srv.serve_forever()\n",
            &port.to_string(),
            &cert.to_string_lossy(),
            &key.to_string_lossy(),
        ],
    );
    cmd.current_dir(dir);
    ns.start("https", cmd, &dir.join("server.log"), port);
}
