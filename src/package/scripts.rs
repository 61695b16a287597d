//! scripts: what the deb and rpm carry besides the install dir, rendered from the
//! templates in `packaging/` (embedded in the binary): maintainer scripts, systemd
//! units and configuration files.

use super::Meta;
use crate::load::{SelftestPart, ServiceConfig};
use anyhow::{Context, Result, bail};

const COMMON: &str = include_str!("../../packaging/common.sh.in");
const UNIT: &str = include_str!("../../packaging/systemd/service.in");

/// deb maintainer scripts: (control member name, template).
const DEB: &[(&str, &str)] = &[
    ("postinst", include_str!("../../packaging/deb/postinst.in")),
    ("prerm", include_str!("../../packaging/deb/prerm.in")),
    ("postrm", include_str!("../../packaging/deb/postrm.in")),
];

/// rpm scriptlets, in the order `%pre`, `%post`, `%preun`, `%postun`.
const RPM: [&str; 4] = [
    include_str!("../../packaging/rpm/pre.in"),
    include_str!("../../packaging/rpm/post.in"),
    include_str!("../../packaging/rpm/preun.in"),
    include_str!("../../packaging/rpm/postun.in"),
];

/// The rpm's `%posttrans`, written when the project has a self-test.
const RPM_POSTTRANS: &str = include_str!("../../packaging/rpm/posttrans.in");

/// The self-test's sh functions, shared by the `.sh` installer, the deb's
/// postinst and the rpm's `%post`.
const SELFTEST: &str = include_str!("../../packaging/selftest.sh.in");

/// A file installed outside the install dir.
#[derive(Debug, Clone)]
pub struct SystemFile {
    /// Absolute path on the target.
    pub path: String,
    /// Contents.
    pub data: Vec<u8>,
    /// A configuration file: kept when edited (conffile, `%config(noreplace)`).
    pub config: bool,
}

/// Replace every `@KEY@` of `vars` in `template`, in one pass: a value is
/// never searched for keys itself.
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let var = after.find('@').and_then(|end| {
            vars.iter()
                .find(|(k, _)| *k == &after[..end])
                .map(|(_, v)| (end, *v))
        });
        match var {
            Some((end, v)) => {
                out.push_str(v);
                rest = &after[end + 1..];
            }
            None => {
                out.push('@');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Quote for a single-quoted sh string.
fn sh_quote_inner(s: &str) -> String {
    s.replace('\'', "'\\''")
}

/// `s` as one single-quoted sh word.
fn sh_quote(s: &str) -> String {
    format!("'{}'", sh_quote_inner(s))
}

/// The self-test's sh functions (`packaging/selftest.sh.in`) for `meta`:
/// `selftest RELEASE CONFIG_ROOT` runs `[app] selftest` (none: returns 0) with
/// its program resolved against `RELEASE`, `{install_dir}` being `RELEASE` and
/// `{config_root}` `CONFIG_ROOT`; every word single-quoted, the placeholders
/// spliced in as variables, so no part of the command is read by the shell.
pub fn selftest_functions(meta: &Meta) -> Result<String> {
    let (text, argv) = match &meta.selftest {
        None => ("''".to_string(), ":".to_string()),
        Some(cmd) => {
            let words = crate::load::selftest_words(cmd)
                .with_context(|| format!("[app] selftest = {cmd:?}"))?;
            let mut argv = vec!["\"$@\"".to_string()];
            for (i, word) in words.iter().enumerate() {
                let mut w = if i == 0 {
                    "\"$st_release\"/".to_string()
                } else {
                    String::new()
                };
                for part in word {
                    match part {
                        SelftestPart::Text(t) => w.push_str(&sh_quote(t)),
                        SelftestPart::Placeholder(p) if p == "install_dir" => {
                            w.push_str("\"$st_release\"")
                        }
                        SelftestPart::Placeholder(p) if p == "config_root" => {
                            w.push_str("\"$st_config_root\"")
                        }
                        SelftestPart::Placeholder(p) => bail!("unknown placeholder {{{p}}}"),
                    }
                }
                argv.push(w);
            }
            (sh_quote(cmd), argv.join(" "))
        }
    };
    let user = meta.user.as_ref().map(|u| u.name.as_str()).unwrap_or("");
    Ok(render(
        SELFTEST,
        &[("TEXT", &text), ("USER", &sh_quote(user)), ("ARGV", &argv)],
    ))
}

fn common(meta: &Meta) -> String {
    let services: Vec<String> = meta
        .services
        .iter()
        .map(|s| format!("{}.service", s.name))
        .collect();
    let user = meta.user.as_ref();
    render(
        COMMON,
        &[
            ("NAME", &sh_quote_inner(&meta.name)),
            ("INSTALL_DIR", &sh_quote_inner(&meta.install_dir)),
            ("VERSION", &meta.full_version()),
            ("USER", &user.map(|u| u.name.clone()).unwrap_or_default()),
            (
                "HOME",
                &sh_quote_inner(&user.map(|u| u.home()).unwrap_or_default()),
            ),
            ("SERVICES", &services.join(" ")),
        ],
    )
}

/// The deb's maintainer scripts: `(postinst|prerm|postrm, text)`; the
/// postinst runs the self-test before it starts or restarts anything.
pub fn deb_scripts(meta: &Meta) -> Result<Vec<(&'static str, String)>> {
    let common = common(meta);
    let selftest = selftest_functions(meta)?;
    let vars = [
        ("COMMON", common.trim_end()),
        ("SELFTEST", selftest.trim_end()),
    ];
    Ok(DEB
        .iter()
        .map(|(name, t)| (*name, render(t, &vars)))
        .collect())
}

/// The rpm's scriptlets: `%pre`, `%post`, `%preun`, `%postun` bodies, and
/// `%posttrans` when the project has a self-test (`%post` runs it; see
/// `packaging/rpm/post.in` for how a failure keeps `%postun` from restarting).
pub fn rpm_scripts(meta: &Meta) -> Result<([String; 4], Option<String>)> {
    let common = common(meta);
    let selftest = selftest_functions(meta)?;
    let vars = [
        ("COMMON", common.trim_end()),
        ("SELFTEST", selftest.trim_end()),
    ];
    let posttrans = meta.selftest.as_ref().map(|_| render(RPM_POSTTRANS, &vars));
    Ok((RPM.map(|t| render(t, &vars)), posttrans))
}

/// The command line of a service: a first word without `/` is relative to the
/// install dir.
pub fn exec_line(meta: &Meta, svc: &ServiceConfig) -> String {
    let exec = svc.exec.trim();
    let (first, rest) = exec.split_once(' ').unwrap_or((exec, ""));
    let first = if first.starts_with('/') {
        first.to_string()
    } else {
        format!("{}/{first}", meta.install_dir.trim_end_matches('/'))
    };
    if rest.is_empty() {
        first
    } else {
        format!("{first} {rest}")
    }
}

/// The confinement every unit gets unless its `[service.sandbox]` says
/// otherwise: `systemd-analyze security` rates the demo's unit 1.4 ("OK"; it
/// was 9.2, "UNSAFE", without).
/// Each was checked against what the embedded Python does; left out on purpose:
/// `MemoryDenyWriteExecute` (libffi closures, used by ctypes callbacks, need
/// writable code pages on older libffi), `ProcSubset=pid` and `ProtectProc`
/// (a monitoring agent reads /proc/stat, /proc/loadavg and other processes),
/// `PrivateNetwork` and `IPAddressDeny` (an agent talks to its backend),
/// `PrivateUsers` (files of other users the agent is granted stay readable).
/// Blocked system calls fail with EPERM instead of killing the process.
pub const CONFINEMENT: &[(&str, &str)] = &[
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("PrivateMounts", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("ProtectClock", "yes"),
    ("ProtectHostname", "yes"),
    ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
    ("RestrictNamespaces", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("LockPersonality", "yes"),
    ("SystemCallArchitectures", "native"),
    ("SystemCallFilter", "@system-service"),
    ("SystemCallFilter", "~@privileged @resources"),
    ("SystemCallErrorNumber", "EPERM"),
    ("CapabilityBoundingSet", ""),
    ("AmbientCapabilities", ""),
    ("DevicePolicy", "closed"),
    ("KeyringMode", "private"),
    ("RemoveIPC", "yes"),
    ("UMask", "0027"),
];

/// The confinement lines of a unit: the defaults, then what the project makes
/// writable (its state and log directories under /var/lib and /var/log, the
/// service user's home when it is elsewhere), then the service's overrides.
fn confinement(meta: &Meta, svc: &ServiceConfig) -> String {
    let mut lines: Vec<(String, String)> = CONFINEMENT
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // The modes the maintainer scripts give them (0750), so that systemd does
    // not change them back at every start (it warns when they differ).
    lines.push(("StateDirectory".into(), meta.name.clone()));
    lines.push(("StateDirectoryMode".into(), "0750".into()));
    lines.push(("LogsDirectory".into(), meta.name.clone()));
    lines.push(("LogsDirectoryMode".into(), "0750".into()));
    if let Some(home) = meta.user.as_ref().map(|u| u.home())
        && home != format!("/var/lib/{}", meta.name)
    {
        lines.push(("ReadWritePaths".into(), home));
    }
    for (k, v) in &svc.sandbox {
        let at = lines.iter().position(|(x, _)| x == k);
        lines.retain(|(x, _)| x != k);
        if !v.is_empty() {
            lines.insert(at.unwrap_or(lines.len()), (k.clone(), v.clone()));
        }
    }
    lines.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

/// The systemd unit of one service.
pub fn unit(meta: &Meta, svc: &ServiceConfig) -> String {
    let user = svc
        .user
        .clone()
        .or_else(|| meta.user.as_ref().map(|u| u.name.clone()))
        .filter(|u| u != "root");
    let mut lines = String::new();
    if let Some(u) = &user {
        lines.push_str(&format!("User={u}\nGroup={u}\n"));
        if let Some(home) = meta.user.as_ref().map(|u| u.home()) {
            lines.push_str(&format!("WorkingDirectory={home}\n"));
        }
    }
    for (k, v) in &svc.environment {
        lines.push_str(&format!("Environment=\"{k}={}\"\n", v.replace('"', "\\\"")));
    }
    lines.push_str(&confinement(meta, svc));
    let description = if svc.description.is_empty() {
        meta.description.lines().next().unwrap_or(&meta.name)
    } else {
        &svc.description
    };
    render(
        UNIT,
        &[
            ("UNIT", &format!("{}.service", svc.name)),
            ("NAME", &meta.name),
            ("VERSION", &meta.full_version()),
            ("DESCRIPTION", description),
            ("SERVICE_LINES", &lines),
            ("EXEC", &exec_line(meta, svc)),
            ("RESTART", svc.restart.as_str()),
        ],
    )
}

/// Units (in `unit_dir`) and config files, sorted by path.
pub fn system_files(meta: &Meta, unit_dir: &str) -> Vec<SystemFile> {
    let mut out: Vec<SystemFile> = meta
        .services
        .iter()
        .map(|s| SystemFile {
            path: format!("{unit_dir}/{}.service", s.name),
            data: unit(meta, s).into_bytes(),
            config: false,
        })
        .chain(meta.config.iter().map(|c| SystemFile {
            path: c.dest.clone(),
            data: c.data.clone(),
            config: true,
        }))
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}
