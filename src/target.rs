//! target: what a build is for — an operating system, an architecture and a C
//! library with its floor. A [`Target`] is a value every stage receives; it is
//! not a second pipeline. What differs between targets is decided by its fields
//! in two places only: how the runtime is obtained (`ops` asks [`Target::runtime`])
//! and which binary format is relinked and checked ([`Target::binary_format`]).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A target a project can be built for, by name (`--target`, `targets = [...]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TargetName {
    /// Linux on x86-64 with glibc: every component compiled from source.
    #[serde(rename = "linux-x86_64")]
    LinuxX86_64,
    /// Linux on 64-bit ARM with glibc: cross-compiled on an x86-64 host, with
    /// the x86-64 build of the same CPython as the build interpreter.
    #[serde(rename = "linux-aarch64")]
    LinuxAarch64,
    /// Windows on x86-64: assembled from the embeddable CPython and wheels.
    #[serde(rename = "windows-x86_64")]
    WindowsX86_64,
}

impl TargetName {
    /// Every target name, in the order they are listed in messages.
    pub const ALL: [TargetName; 3] = [
        TargetName::LinuxX86_64,
        TargetName::LinuxAarch64,
        TargetName::WindowsX86_64,
    ];

    /// The name as written in project files and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            TargetName::LinuxX86_64 => "linux-x86_64",
            TargetName::LinuxAarch64 => "linux-aarch64",
            TargetName::WindowsX86_64 => "windows-x86_64",
        }
    }

    /// Every valid name, comma-separated (for error messages).
    pub fn valid() -> String {
        Self::ALL.map(|t| t.as_str()).join(", ")
    }
}

impl fmt::Display for TargetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TargetName {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| anyhow::anyhow!("unknown target \"{s}\" (valid: {})", Self::valid()))
    }
}

/// Operating system of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    /// Linux.
    Linux,
    /// Windows.
    Windows,
}

/// CPU architecture of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// x86-64 (amd64).
    X86_64,
    /// 64-bit ARM (arm64).
    Aarch64,
}

impl Arch {
    /// The name `uname -m` prints on Linux (and zig's and rpm's name).
    pub const fn uname(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// Debian's name (`dpkg --print-architecture`).
    pub const fn deb(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
        }
    }

    /// rpm's name (`rpm -E %_arch`).
    pub const fn rpm(self) -> &'static str {
        self.uname()
    }

    /// The ELF header's `e_machine` of this architecture's executables.
    pub const fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => goblin::elf::header::EM_X86_64,
            Arch::Aarch64 => goblin::elf::header::EM_AARCH64,
        }
    }

    /// The architecture of an ELF `e_machine`, if it is one of ours.
    pub fn of_elf_machine(m: u16) -> Option<Arch> {
        [Arch::X86_64, Arch::Aarch64]
            .into_iter()
            .find(|a| a.elf_machine() == m)
    }

    /// The architecture this program runs on.
    pub fn host() -> Arch {
        if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else {
            Arch::X86_64
        }
    }
}

impl FromStr for Arch {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "x86_64" | "amd64" => Ok(Arch::X86_64),
            "aarch64" | "arm64" => Ok(Arch::Aarch64),
            _ => anyhow::bail!("unknown architecture \"{s}\" (valid: x86_64, aarch64)"),
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.uname())
    }
}

/// The C library of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Libc {
    /// GNU libc: binaries must not need symbols newer than the floor.
    Glibc,
    /// The Universal C Runtime of Windows 10+.
    Ucrt,
}

/// How a target's runtime (the interpreter and its libraries) is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// Compiled from the software definitions into the padded build prefix.
    Built,
    /// Assembled from a published binary distribution (nothing compiled).
    Assembled,
}

/// The binary format a target's tree is relinked and checked as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BinaryFormat {
    /// ELF (RPATHs rewritten; needed libraries, symbol versions checked).
    Elf,
    /// PE (DLL imports checked).
    Pe,
}

/// One target: the value every stage receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// Its name.
    pub name: TargetName,
    /// Operating system.
    pub os: Os,
    /// Architecture.
    pub arch: Arch,
    /// C library.
    pub libc: Libc,
    /// The oldest C library the output must run on (`2.17` for glibc), if set.
    pub libc_floor: Option<String>,
}

impl Target {
    /// The target of a name, with the floor the project sets (if any).
    pub fn new(name: TargetName, libc_floor: Option<String>) -> Target {
        let (os, arch, libc) = match name {
            TargetName::LinuxX86_64 => (Os::Linux, Arch::X86_64, Libc::Glibc),
            TargetName::LinuxAarch64 => (Os::Linux, Arch::Aarch64, Libc::Glibc),
            TargetName::WindowsX86_64 => (Os::Windows, Arch::X86_64, Libc::Ucrt),
        };
        Target {
            name,
            os,
            arch,
            libc,
            libc_floor,
        }
    }

    /// How this target's runtime is obtained.
    pub fn runtime(&self) -> Runtime {
        match self.os {
            Os::Linux => Runtime::Built,
            Os::Windows => Runtime::Assembled,
        }
    }

    /// The binary format of this target's executables and libraries.
    pub fn binary_format(&self) -> BinaryFormat {
        match self.os {
            Os::Linux => BinaryFormat::Elf,
            Os::Windows => BinaryFormat::Pe,
        }
    }

    /// Whether this target's code cannot run on the build host: its
    /// components are cross-compiled (autoconf `--host`, cmake's system
    /// processor, OpenSSL's target) and its Python tools run on the host's
    /// build of the same interpreter ([`crate::plan::BuildPython`]).
    pub fn is_cross(&self) -> bool {
        self.os == Os::Linux && self.arch != Arch::host()
    }

    /// The GNU triple of a Linux target (`aarch64-linux-gnu`): autoconf's
    /// `--host` and the name of its binutils.
    pub fn gnu_triple(&self) -> String {
        format!("{}-linux-gnu", self.arch.uname())
    }

    /// The Linux target that runs on the build host: the one whose build of
    /// CPython is a cross build's build interpreter.
    pub fn build_host(&self) -> Target {
        let name = match Arch::host() {
            Arch::X86_64 => TargetName::LinuxX86_64,
            Arch::Aarch64 => TargetName::LinuxAarch64,
        };
        Target::new(name, self.libc_floor.clone())
    }

    /// The name of this target's build prefix and build tree for a project:
    /// the project's own for the host's architecture (keeping the paths they
    /// always had), `<project>@<arch>` for another, so that both targets'
    /// prefixes and stages live side by side.
    pub fn slot(&self, project: &str) -> String {
        if self.is_cross() {
            format!("{project}@{}", self.arch)
        } else {
            project.to_string()
        }
    }

    /// The key a software definition's per-target overrides use
    /// (`[targets.linux]`, `[targets.windows]`).
    pub fn family(&self) -> &'static str {
        match self.os {
            Os::Linux => "linux",
            Os::Windows => "windows",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_list_the_valid() {
        for t in TargetName::ALL {
            assert_eq!(t.as_str().parse::<TargetName>().unwrap(), t);
        }
        let e = "linux-x86".parse::<TargetName>().unwrap_err().to_string();
        assert!(
            e.contains("linux-x86_64, linux-aarch64, windows-x86_64"),
            "{e}"
        );
        let a = Target::new(TargetName::LinuxAarch64, None);
        assert_eq!(
            (
                a.arch.deb(),
                a.arch.rpm(),
                a.arch.uname(),
                a.arch.elf_machine()
            ),
            ("arm64", "aarch64", "aarch64", 183)
        );
        assert_eq!(Arch::of_elf_machine(62), Some(Arch::X86_64));
        assert_eq!(Arch::of_elf_machine(3), None);
        let w = Target::new(TargetName::WindowsX86_64, None);
        assert_eq!(
            (w.runtime(), w.binary_format(), w.family()),
            (Runtime::Assembled, BinaryFormat::Pe, "windows")
        );
    }
}
