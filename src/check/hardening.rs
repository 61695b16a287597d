//! check::hardening: what the compiler and linker did to harden one ELF file,
//! read from the file itself: PIE, stack protector, FORTIFY, RELRO, immediate
//! binding, control-flow protection (IBT and SHSTK) and a non-executable
//! stack. The rules are those of Debian's `hardening-check` (devscripts), so
//! the two agree file by file (tests/hardening.rs compares them).

use goblin::elf::{Elf, dynamic, header, program_header, section_header, sym};
use serde::Serialize;

/// glibc's functions that have a `__<name>_chk` variant FORTIFY can use (the
/// list `hardening-check` uses; glibc's `debug/` directory defines them).
const FORTIFIABLE: &[&str] = &[
    "asprintf",
    "confstr",
    "dprintf",
    "fdelt",
    "fgets",
    "fgets_unlocked",
    "fgetws",
    "fgetws_unlocked",
    "fprintf",
    "fread",
    "fread_unlocked",
    "fwprintf",
    "getcwd",
    "getdomainname",
    "getgroups",
    "gethostname",
    "getlogin_r",
    "gets",
    "getwd",
    "longjmp",
    "mbsnrtowcs",
    "mbsrtowcs",
    "mbstowcs",
    "memcpy",
    "memmove",
    "mempcpy",
    "memset",
    "obstack_printf",
    "obstack_vprintf",
    "poll",
    "ppoll",
    "pread64",
    "pread",
    "printf",
    "ptsname_r",
    "read",
    "readlink",
    "readlinkat",
    "realpath",
    "recv",
    "recvfrom",
    "snprintf",
    "sprintf",
    "stpcpy",
    "stpncpy",
    "strcat",
    "strcpy",
    "strncat",
    "strncpy",
    "swprintf",
    "syslog",
    "ttyname_r",
    "vasprintf",
    "vdprintf",
    "vfprintf",
    "vfwprintf",
    "vprintf",
    "vsnprintf",
    "vsprintf",
    "vswprintf",
    "vsyslog",
    "vwprintf",
    "wcpcpy",
    "wcpncpy",
    "wcrtomb",
    "wcscat",
    "wcscpy",
    "wcsncat",
    "wcsncpy",
    "wcsnrtombs",
    "wcsrtombs",
    "wcstombs",
    "wctomb",
    "wmemcpy",
    "wmemmove",
    "wmempcpy",
    "wmemset",
    "wprintf",
];

/// Position independence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pie {
    /// A position-independent executable.
    Yes,
    /// A fixed-address executable.
    No,
    /// A shared library (position independent by nature).
    Library,
}

/// What FORTIFY left in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fortify {
    /// Some `__*_chk` functions are called.
    Yes,
    /// Fortifiable functions are called, none through `__*_chk`.
    No,
    /// No fortifiable libc function is called at all.
    NothingToProtect,
}

/// The hardening of one ELF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Hardening {
    /// PIE.
    pub pie: Pie,
    /// Calls `__stack_chk_fail` (`None`: the file has no symbol table at all;
    /// `hardening-check` then says "unknown").
    pub stack_protector: Option<bool>,
    /// FORTIFY.
    pub fortify: Fortify,
    /// Has a `PT_GNU_RELRO` segment.
    pub relro: bool,
    /// Asks for immediate binding (`BIND_NOW`).
    pub bind_now: bool,
    /// Marked for IBT and SHSTK (x86-64 control-flow protection).
    pub cf_protection: bool,
    /// Asks for an executable stack.
    pub exec_stack: bool,
}

/// The hardening of a parsed ELF file (`data` is its bytes, for the notes).
pub fn of(elf: &Elf, data: &[u8]) -> Hardening {
    let has_phdr = elf
        .program_headers
        .iter()
        .any(|p| p.p_type == program_header::PT_PHDR);
    let pie = match elf.header.e_type {
        header::ET_DYN if has_phdr => Pie::Yes,
        header::ET_DYN => Pie::Library,
        _ => Pie::No,
    };
    let imported = imported_functions(elf);
    // hardening-check counts the null entry that opens every symbol table as
    // an imported function: "unknown" only for a file without symbol tables.
    // (goblin can read a one-entry `.dynsym` as empty: the sections decide.)
    let has_symbols = !elf.dynsyms.is_empty()
        || !elf.syms.is_empty()
        || elf.section_headers.iter().any(|s| {
            matches!(
                s.sh_type,
                section_header::SHT_SYMTAB | section_header::SHT_DYNSYM
            ) && s.sh_size > 0
        });
    let stack_protector = has_symbols.then(|| imported.contains(&"__stack_chk_fail"));
    let protected = FORTIFIABLE.iter().any(|f| {
        imported
            .iter()
            .any(|i| i.strip_prefix("__").and_then(|r| r.strip_suffix("_chk")) == Some(f))
    });
    let unprotected = FORTIFIABLE.iter().any(|f| imported.contains(f));
    let fortify = match (protected, unprotected) {
        (true, _) => Fortify::Yes,
        (false, true) => Fortify::No,
        (false, false) => Fortify::NothingToProtect,
    };
    let relro = elf
        .program_headers
        .iter()
        .any(|p| p.p_type == program_header::PT_GNU_RELRO);
    let bind_now = elf.dynamic.as_ref().is_some_and(|d| {
        d.dyns.iter().any(|e| {
            e.d_tag == dynamic::DT_BIND_NOW
                || (e.d_tag == dynamic::DT_FLAGS && e.d_val & dynamic::DF_BIND_NOW != 0)
                || (e.d_tag == dynamic::DT_FLAGS_1 && e.d_val & dynamic::DF_1_NOW != 0)
        })
    });
    let exec_stack = elf
        .program_headers
        .iter()
        .any(|p| p.p_type == program_header::PT_GNU_STACK && p.p_flags & program_header::PF_X != 0);
    Hardening {
        pie,
        stack_protector,
        fortify,
        relro,
        bind_now,
        cf_protection: crate::elf::x86_ibt_and_shstk(elf, data),
        exec_stack,
    }
}

/// Names of the undefined function symbols (FUNC, IFUNC or NOTYPE) in the
/// dynamic and the static symbol table.
fn imported_functions<'a>(elf: &'a Elf) -> Vec<&'a str> {
    let tables = [(&elf.dynsyms, &elf.dynstrtab), (&elf.syms, &elf.strtab)];
    let mut out: Vec<&str> = tables
        .iter()
        .flat_map(|(syms, strtab)| {
            syms.iter().filter_map(move |s| {
                let function = matches!(
                    s.st_type(),
                    sym::STT_FUNC | sym::STT_GNU_IFUNC | sym::STT_NOTYPE
                );
                (function && s.st_shndx == 0)
                    .then(|| strtab.get_at(s.st_name))
                    .flatten()
                    .filter(|n| !n.is_empty())
            })
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}
