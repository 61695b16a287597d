//! A systemd unit's `[Service]` section, and what of it a test reproduces without
//! systemd as PID 1: the filesystem confinement, as mounts in a private mount
//! namespace around a chroot ([`super::roots::Root::confined`] runs them), and
//! how the service's process is started ([`Unit::exec`]: user, group, umask,
//! working directory, environment, no new privileges, capability bounding set).
//!
//! Every directive of the section is either reproduced or listed in
//! [`NOT_REPRODUCED`] with the reason; [`Unit::parse`] panics on any other, so a
//! unit that gains a directive cannot go unnoticed by the tests that follow it.

/// Directives [`Unit::confinement`] and [`Unit::exec`] reproduce.
const REPRODUCED: &[&str] = &[
    "ExecStart",
    "User",
    "Group",
    "WorkingDirectory",
    "Environment",
    "UMask",
    "NoNewPrivileges",
    "CapabilityBoundingSet",
    "AmbientCapabilities",
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "PrivateDevices",
    "PrivateMounts",
    "ProtectKernelTunables",
    "ProtectHostname",
    "StateDirectory",
    "LogsDirectory",
    "CacheDirectory",
    "RuntimeDirectory",
    "ConfigurationDirectory",
    "StateDirectoryMode",
    "LogsDirectoryMode",
    "CacheDirectoryMode",
    "RuntimeDirectoryMode",
    "ConfigurationDirectoryMode",
    "ReadWritePaths",
    "ReadOnlyPaths",
    "InaccessiblePaths",
];

/// Directives a test does not reproduce, and why.
pub const NOT_REPRODUCED: &[(&str, &str)] = &[
    ("Type", "the test is the service manager"),
    ("Restart", "the test is the service manager"),
    ("RestartSec", "the test is the service manager"),
    ("KillSignal", "the test is the service manager"),
    ("TimeoutStopSec", "the test is the service manager"),
    ("SystemCallFilter", "seccomp"),
    ("SystemCallArchitectures", "seccomp"),
    ("SystemCallErrorNumber", "seccomp"),
    ("RestrictAddressFamilies", "seccomp"),
    ("RestrictNamespaces", "seccomp"),
    ("RestrictRealtime", "seccomp"),
    ("RestrictSUIDSGID", "seccomp"),
    ("LockPersonality", "seccomp"),
    ("MemoryDenyWriteExecute", "seccomp"),
    ("ProtectClock", "seccomp and the device cgroup"),
    ("DevicePolicy", "the device cgroup"),
    ("DeviceAllow", "the device cgroup"),
    ("ProtectControlGroups", "the root has no /sys/fs/cgroup"),
    (
        "ProtectKernelModules",
        "seccomp; the rest is the empty bounding set and read-only /usr",
    ),
    (
        "ProtectKernelLogs",
        "seccomp; /proc/kmsg needs CAP_SYSLOG, the private /dev has no kmsg",
    ),
    ("KeyringMode", "a session keyring of its own"),
    ("RemoveIPC", "done when the service stops"),
];

/// A unit's `[Service]` directives, in order (a directive may repeat).
pub struct Unit {
    service: Vec<(String, String)>,
}

/// One step of a confinement: the directive, what it becomes, as a sentence.
pub struct Step {
    pub directive: String,
    pub what: String,
}

/// A unit's filesystem confinement as shell scripts, for
/// [`super::roots::Root::confined`].
pub struct Confinement {
    /// Run in the root as root before anything is mounted: the directories
    /// systemd makes (and hands to the user) when the service starts.
    pub prepare: String,
    /// Run outside the root in the namespace, after the root (path in `$1`) is
    /// bound onto itself.
    pub host: String,
    /// Run in the root as root: the mounts.
    pub mounts: String,
    /// Also a UTS namespace (ProtectHostname).
    pub uts: bool,
    /// For the record.
    pub steps: Vec<Step>,
}

impl Confinement {
    /// A step made by the mounts `sh`.
    fn step(&mut self, directive: String, what: &str, sh: &str) {
        self.mounts.push_str(&format!("# {directive}\n{sh}\n"));
        self.note(directive, what);
    }

    /// A step made otherwise.
    fn note(&mut self, directive: String, what: &str) {
        self.steps.push(Step {
            directive,
            what: what.to_string(),
        });
    }
}

/// `f PATH ARGS` for each of `paths` the root has.
fn each(paths: &[&str], f: &str, args: &str) -> String {
    paths
        .iter()
        .map(|p| format!("if [ -e {p} ]; then {f} {p}{args}; fi\n"))
        .collect()
}

/// `s` as one single-quoted sh word.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Split a systemd value into words: whitespace-separated, with "" and ''
/// quoting and backslash escapes.
fn words(v: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quote = None;
    let mut started = false;
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                cur.extend(chars.next());
                started = true;
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            (_, c) => {
                cur.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(cur);
    }
    out
}

fn boolean(key: &str, v: &str) -> bool {
    match v {
        "yes" | "true" | "on" | "1" => true,
        "no" | "false" | "off" | "0" => false,
        _ => panic!("{key}={v}: not a boolean"),
    }
}

impl Unit {
    /// Read a unit file's `[Service]` section. Panics on a directive that is
    /// neither reproduced nor in [`NOT_REPRODUCED`].
    pub fn parse(text: &str) -> Unit {
        let mut section = String::new();
        let mut service = vec![];
        let mut pending = String::new();
        for line in text.lines() {
            let line = line.trim();
            if pending.is_empty() && (line.is_empty() || line.starts_with(['#', ';'])) {
                continue;
            }
            if let Some(part) = line.strip_suffix('\\') {
                pending.push_str(part);
                pending.push(' ');
                continue;
            }
            let line = std::mem::take(&mut pending) + line;
            if let Some(name) = line.strip_prefix('[') {
                section = name.trim_end_matches(']').to_string();
            } else if section == "Service" {
                let (k, v) = line
                    .split_once('=')
                    .unwrap_or_else(|| panic!("not a directive: {line}"));
                let k = k.trim();
                assert!(
                    REPRODUCED.contains(&k) || NOT_REPRODUCED.iter().any(|(n, _)| *n == k),
                    "the unit has {k}=, which tests/common/unit.rs neither reproduces \
                     nor lists in NOT_REPRODUCED: add it to one of them"
                );
                service.push((k.to_string(), v.trim().to_string()));
            }
        }
        Unit { service }
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.service
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| boolean(key, v))
    }

    /// The words of every `key=` line, an empty one resetting the list, as
    /// systemd reads list directives.
    fn list(&self, key: &str) -> Vec<String> {
        let mut out = vec![];
        for (k, v) in &self.service {
            if k == key {
                if v.is_empty() {
                    out.clear();
                }
                out.extend(words(v));
            }
        }
        out
    }

    /// The directives present that a test does not reproduce, with why.
    pub fn not_reproduced(&self) -> Vec<(&str, &'static str)> {
        let mut out: Vec<(&str, &'static str)> = vec![];
        for (k, _) in &self.service {
            if let Some((_, why)) = NOT_REPRODUCED.iter().find(|(n, _)| n == k)
                && !out.iter().any(|(n, _)| n == k)
            {
                out.push((k, why));
            }
        }
        out
    }

    /// The command line of `ExecStart=`.
    pub fn exec_start(&self) -> &str {
        let cmd = self.get("ExecStart").expect("the unit has no ExecStart=");
        assert!(
            !cmd.starts_with(['-', '@', ':', '+', '!']),
            "ExecStart= prefixes are not reproduced: {cmd}"
        );
        cmd
    }

    /// `User=`, root when none.
    pub fn user(&self) -> &str {
        self.get("User").unwrap_or("root")
    }

    /// `UMask=`, 0022 when none.
    pub fn umask(&self) -> u32 {
        u32::from_str_radix(self.get("UMask").unwrap_or("0022"), 8).expect("UMask= in octal")
    }

    /// The directories systemd makes for the service: (directive, name, path,
    /// mode, writable under confinement).
    fn exec_directories(&self) -> Vec<(&'static str, String, String, String, bool)> {
        let kinds = [
            ("StateDirectory", "/var/lib", true),
            ("CacheDirectory", "/var/cache", true),
            ("LogsDirectory", "/var/log", true),
            ("RuntimeDirectory", "/run", true),
            ("ConfigurationDirectory", "/etc", false),
        ];
        let mut out = vec![];
        for (key, base, writable) in kinds {
            let mode = self
                .get(&format!("{key}Mode"))
                .unwrap_or("0755")
                .to_string();
            for name in self.list(key) {
                let path = format!("{base}/{name}");
                out.push((key, name, path, mode.clone(), writable));
            }
        }
        out
    }

    /// The paths the service may write under its confinement (besides its
    /// private /tmp): its state, cache, log and runtime directories and
    /// `ReadWritePaths=`.
    pub fn writable(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .exec_directories()
            .into_iter()
            .filter(|d| d.4)
            .map(|d| d.2)
            .collect();
        out.extend(
            self.list("ReadWritePaths")
                .into_iter()
                .map(|p| p.trim_start_matches('-').to_string()),
        );
        out
    }

    /// The filesystem confinement, as mounts.
    pub fn confinement(&self) -> Confinement {
        let mut c = Confinement {
            prepare: "set -e\n".into(),
            host: String::new(),
            mounts: String::from(
                r#"set -e
# bind PATH ro|rw: PATH bound onto itself, then read-only or writable
bind() { mount --bind "$1" "$1"; mount -o "remount,bind,$2" "$1"; }
# hide DIR: an empty directory nobody may enter, as systemd's inaccessible nodes
hide() { mount -t tmpfs -o ro,mode=000,nosuid,nodev,noexec tmpfs "$1"; }
# fresh DIR MODE: a new empty tmpfs
fresh() { mount -t tmpfs -o "mode=$2,nosuid,nodev" tmpfs "$1"; }
"#,
            ),
            uts: false,
            steps: vec![],
        };
        match self.get("ProtectSystem") {
            Some("strict") => {
                c.host.push_str("mount -o remount,bind,ro \"$1\"\n");
                c.note(
                    "ProtectSystem=strict".into(),
                    "the whole root read-only (the root bound onto itself, remounted ro); \
                           /proc and the mounts below stay as they are",
                );
            }
            Some(v @ ("full" | "yes" | "true")) => {
                let mut dirs = vec!["/usr", "/boot", "/efi"];
                if v == "full" {
                    dirs.push("/etc");
                }
                c.step(
                    format!("ProtectSystem={v}"),
                    &format!("{} read-only", dirs.join(", ")),
                    &each(&dirs, "bind", " ro"),
                );
            }
            Some("no" | "false") | None => {}
            Some(v) => panic!("ProtectSystem={v}: not reproduced"),
        }
        let homes = ["/home", "/root", "/run/user"];
        match self.get("ProtectHome") {
            Some(v @ ("yes" | "true")) => c.step(
                format!("ProtectHome={v}"),
                "/home, /root and /run/user: an empty tmpfs of mode 000, read-only",
                &each(&homes, "hide", ""),
            ),
            Some("read-only") => c.step(
                "ProtectHome=read-only".into(),
                "/home, /root and /run/user read-only",
                &each(&homes, "bind", " ro"),
            ),
            Some("tmpfs") => c.step(
                "ProtectHome=tmpfs".into(),
                "/home, /root and /run/user: an empty read-only tmpfs",
                &each(&homes, "mount -t tmpfs -o ro,mode=755 tmpfs", ""),
            ),
            Some("no" | "false") | None => {}
            Some(v) => panic!("ProtectHome={v}: not reproduced"),
        }
        if self.flag("PrivateTmp") {
            c.step(
                "PrivateTmp=yes".into(),
                "/tmp and /var/tmp: a fresh empty tmpfs each, mode 1777",
                "fresh /tmp 1777\nfresh /var/tmp 1777",
            );
        }
        if self.flag("PrivateDevices") {
            c.step(
                "PrivateDevices=yes".into(),
                "/dev: a fresh tmpfs with only null, zero, full, random, urandom, tty, \
                 shm and the fd links",
                r#"mount -t tmpfs -o mode=755,nosuid,noexec tmpfs /dev
for d in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
    set -- $d
    mknod -m 666 "/dev/$1" c "$2" "$3"
done
mkdir -m 1777 /dev/shm
fresh /dev/shm 1777
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr"#,
            );
        }
        if self.flag("ProtectKernelTunables") {
            let paths = [
                "/proc/sys",
                "/proc/sysrq-trigger",
                "/proc/latency_stats",
                "/proc/acpi",
                "/proc/timer_stats",
                "/proc/asound",
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/sys",
            ];
            c.step(
                "ProtectKernelTunables=yes".into(),
                "/proc/sys, /proc/sysrq-trigger, /proc/irq, /proc/bus, /proc/fs and the \
                 like read-only, and /sys (no sysfs is mounted in the root)",
                &each(&paths, "bind", " ro"),
            );
        }
        if self.flag("PrivateMounts") {
            c.note(
                "PrivateMounts=yes".into(),
                "a mount namespace of its own, propagation private (unshare --mount)",
            );
        }
        if self.flag("ProtectHostname") {
            c.uts = true;
            c.note(
                "ProtectHostname=yes".into(),
                "a UTS namespace of its own (unshare --uts)",
            );
        }
        let user = self.user();
        let group = self
            .get("Group")
            .map(sh_quote)
            .unwrap_or_else(|| format!("\"$(id -g {})\"", sh_quote(user)));
        for (key, name, path, mode, writable) in self.exec_directories() {
            let p = sh_quote(&path);
            c.prepare.push_str(&format!(
                "# {key}: made with mode {mode} if missing, handed to the user\n\
                 [ -d {p} ] || mkdir -p -m {mode} {p}\n\
                 chown -R {}:{group} {p}\n",
                sh_quote(user)
            ));
            if writable {
                c.step(
                    format!("{key}={name}"),
                    &format!("{path}: made, owned by {user}, bound writable"),
                    &format!("bind {p} rw"),
                );
            } else {
                c.note(
                    format!("{key}={name}"),
                    &format!("{path}: made, owned by {user}, left read-only"),
                );
            }
        }
        for p in self.list("ReadWritePaths") {
            let (path, optional) = match p.strip_prefix('-') {
                Some(rest) => (rest.to_string(), true),
                None => (p.clone(), false),
            };
            assert!(path.starts_with('/'), "ReadWritePaths={p}: not reproduced");
            let q = sh_quote(&path);
            let sh = if optional {
                format!("if [ -e {q} ]; then bind {q} rw; fi")
            } else {
                format!("bind {q} rw")
            };
            c.step(
                format!("ReadWritePaths={p}"),
                &format!("{path} bound writable"),
                &sh,
            );
        }
        for p in self.list("ReadOnlyPaths") {
            assert!(p.starts_with('/'), "ReadOnlyPaths={p}: not reproduced");
            c.step(
                format!("ReadOnlyPaths={p}"),
                &format!("{p} read-only"),
                &format!("bind {} ro", sh_quote(&p)),
            );
        }
        for p in self.list("InaccessiblePaths") {
            assert!(p.starts_with('/'), "InaccessiblePaths={p}: not reproduced");
            c.step(
                format!("InaccessiblePaths={p}"),
                &format!("{p}: an empty tmpfs of mode 000"),
                &format!("hide {}", sh_quote(&p)),
            );
        }
        c
    }

    /// Every directive reproduced, with what it became: the confinement's
    /// steps, then how the process is started ([`Unit::exec`]).
    pub fn reproduced(&self) -> Vec<Step> {
        let mut steps = self.confinement().steps;
        let mut note = |directive: &str, what: String| {
            if let Some(v) = self.get(directive) {
                steps.push(Step {
                    directive: format!("{directive}={v}"),
                    what,
                });
            }
        };
        note("User", "setpriv --reuid, --init-groups".into());
        note("Group", "setpriv --regid".into());
        note("UMask", "umask before setpriv".into());
        note("NoNewPrivileges", "setpriv --no-new-privs".into());
        note(
            "CapabilityBoundingSet",
            "setpriv --bounding-set (empty: -all)".into(),
        );
        note(
            "WorkingDirectory",
            "cd there after setpriv, as the user".into(),
        );
        note(
            "Environment",
            "env -i, with the variables systemd sets".into(),
        );
        note("ExecStart", "run with the test's --port".into());
        steps
    }

    /// A shell command running `command` (shell words) as the unit runs
    /// `ExecStart=`: with `UMask=`, as `User=` and `Group=` with the user's
    /// supplementary groups, with `NoNewPrivileges=` and
    /// `CapabilityBoundingSet=`, in `WorkingDirectory=`, with only the
    /// environment systemd gives (PATH, HOME, USER, LOGNAME, SHELL) and
    /// `Environment=`. Started with `&`, `$!` is the command's pid.
    pub fn exec(&self, command: &str) -> String {
        let user = self.user();
        let u = sh_quote(user);
        let mut setpriv = vec![];
        if user != "root" {
            let group = self
                .get("Group")
                .map(sh_quote)
                .unwrap_or_else(|| format!("\"$(id -g {u})\""));
            setpriv.push(format!("--reuid={u} --regid={group} --init-groups"));
        }
        if self.flag("NoNewPrivileges") {
            setpriv.push("--no-new-privs".into());
        }
        if let Some(v) = self.get("CapabilityBoundingSet") {
            let caps = words(v);
            assert!(
                self.list("CapabilityBoundingSet") == caps,
                "only one CapabilityBoundingSet= line is reproduced"
            );
            let set = match caps.first().map(|c| c.starts_with('~')) {
                None => "-all".to_string(),
                Some(false) => std::iter::once("-all".to_string())
                    .chain(caps.iter().map(|c| format!("+{}", c.to_lowercase())))
                    .collect::<Vec<_>>()
                    .join(",")
                    .replace("+cap_", "+"),
                Some(true) => caps
                    .iter()
                    .map(|c| format!("-{}", c.trim_start_matches('~').to_lowercase()))
                    .collect::<Vec<_>>()
                    .join(",")
                    .replace("-cap_", "-"),
            };
            setpriv.push(format!("--bounding-set={set}"));
        }
        assert!(
            self.list("AmbientCapabilities").is_empty(),
            "AmbientCapabilities= other than empty is not reproduced"
        );
        let setpriv = if setpriv.is_empty() {
            String::new()
        } else {
            format!("setpriv {} -- ", setpriv.join(" "))
        };
        let env: String = self
            .list("Environment")
            .iter()
            .map(|e| format!(" {}", sh_quote(e)))
            .collect();
        let wd = match self
            .get("WorkingDirectory")
            .map(|d| d.trim_start_matches('-'))
        {
            None => "/".to_string(),
            Some("~") => "\"$home\"".into(),
            Some(d) => sh_quote(d),
        };
        format!(
            "(umask {:04o} && home=$(getent passwd {u} | cut -d: -f6) && \
             shell=$(getent passwd {u} | cut -d: -f7) && \
             exec {setpriv}env -i \
             PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
             HOME=\"$home\" USER={u} LOGNAME={u} SHELL=\"$shell\"{env} \
             /bin/sh -c 'cd \"$0\" && exec \"$@\"' {wd} {command})",
            self.umask()
        )
    }
}
