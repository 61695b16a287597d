//! elf: what ferrobus reads from and writes into ELF files.
//!
//! Parsing is goblin's. The writer is ours, and deliberately small: it rewrites the
//! RPATH/RUNPATH strings in place inside `.dynstr` (no section or segment moves, so
//! none of patchelf's layout corner cases), which the padded build prefix always
//! leaves room for. If a new value does not fit, or its string is shared with
//! another dynamic entry, it refuses rather than corrupt the file.

use anyhow::{Result, anyhow, bail};
use goblin::elf::{Elf, dynamic};

/// Libraries a shipped ELF may take from the target system (the C library's
/// own; the health check and the wheels' link check both hold files to it).
pub const SYSTEM_LIBS: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libutil.so.1",
    // res_* (DNS SRV/TXT lookups: krb5, libldap) live here below glibc 2.34;
    // a stub of it stays in every later glibc.
    "libresolv.so.2",
    // The dynamic loader of each architecture (a file that is another
    // architecture's is the health check's machine check's to refuse).
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
    "linux-vdso.so.1",
];

/// True when `data` starts with the ELF magic.
pub fn is_elf(data: &[u8]) -> bool {
    data.len() >= 4 && &data[..4] == b"\x7fELF"
}

/// A shared library: ET_DYN without a program interpreter (a PIE has one).
pub fn is_shared_library(data: &[u8]) -> bool {
    parse(data)
        .is_ok_and(|e| e.header.e_type == goblin::elf::header::ET_DYN && e.interpreter.is_none())
}

/// Parse with a message that says what is wrong.
pub fn parse(data: &[u8]) -> Result<Elf<'_>> {
    Elf::parse(data).map_err(|e| anyhow!("not a valid ELF file: {e}"))
}

/// The GNU property note says the file supports both IBT and SHSTK
/// (`GNU_PROPERTY_X86_FEATURE_1_AND`), as `-fcf-protection` marks it.
pub fn x86_ibt_and_shstk(elf: &Elf, data: &[u8]) -> bool {
    const NT_GNU_PROPERTY_TYPE_0: u32 = 5;
    const X86_FEATURE_1_AND: u32 = 0xc000_0002;
    let Some(notes) = elf.iter_note_headers(data) else {
        return false;
    };
    let align = if elf.is_64 { 8 } else { 4 };
    for note in notes.flatten() {
        if note.n_type != NT_GNU_PROPERTY_TYPE_0 || note.name != "GNU" {
            continue;
        }
        let d = note.desc;
        let mut i = 0;
        while i + 8 <= d.len() {
            let u32_at = |o: usize| u32::from_le_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]);
            let (kind, size) = (u32_at(i), u32_at(i + 4) as usize);
            if kind == X86_FEATURE_1_AND && size >= 4 && i + 12 <= d.len() {
                return u32_at(i + 8) & 0b11 == 0b11;
            }
            i += 8 + size.div_ceil(align) * align;
        }
    }
    false
}

/// One rewritten RPATH/RUNPATH string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpathChange {
    /// `RPATH` or `RUNPATH`.
    pub tag: &'static str,
    /// The old value.
    pub old: String,
    /// The new value.
    pub new: String,
}

/// Rewrite every RPATH/RUNPATH entry of `data` with `map` (entry → new entry, or
/// `None` to drop it). Returns the changes made (empty if none were needed).
pub fn rewrite_rpaths(
    data: &mut [u8],
    map: impl Fn(&str) -> Option<String>,
) -> Result<Vec<RpathChange>> {
    struct Site {
        tag: &'static str,
        at: usize,
        old: String,
    }
    let (sites, others) = {
        let elf = parse(data)?;
        let Some(dynamic) = &elf.dynamic else {
            return Ok(vec![]);
        };
        // goblin has already mapped DT_STRTAB to a file offset (0 if unmapped).
        let base = dynamic.info.strtab as u64;
        let strsz = dynamic.info.strsz as u64;
        if base == 0 || base + strsz > data.len() as u64 {
            bail!("dynamic string table is outside the file's loadable segments");
        }
        let mut sites = Vec::new();
        let mut others = Vec::new();
        for d in &dynamic.dyns {
            let tag = match d.d_tag {
                dynamic::DT_RPATH => "RPATH",
                dynamic::DT_RUNPATH => "RUNPATH",
                dynamic::DT_NEEDED | dynamic::DT_SONAME => {
                    others.push(d.d_val);
                    continue;
                }
                _ => continue,
            };
            if d.d_val >= strsz {
                bail!("{tag} string offset {} beyond the string table", d.d_val);
            }
            let at = (base + d.d_val) as usize;
            let end = data
                .get(at..)
                .and_then(|s| memchr::memchr(0, s))
                .ok_or_else(|| anyhow!("{tag} string is not terminated (truncated file?)"))?;
            let old = String::from_utf8_lossy(&data[at..at + end]).into_owned();
            sites.push(Site { tag, at, old });
        }
        let others: Vec<usize> = others.iter().map(|o| (base + o) as usize).collect();
        (sites, others)
    };
    let mut changes = Vec::new();
    for s in sites {
        let new = s
            .old
            .split(':')
            .filter(|e| !e.is_empty())
            .filter_map(&map)
            .collect::<Vec<_>>()
            .join(":");
        if new == s.old {
            continue;
        }
        if new.len() > s.old.len() {
            bail!(
                "no room for {} \"{new}\" in place of \"{}\" ({} > {} bytes)",
                s.tag,
                s.old,
                new.len(),
                s.old.len()
            );
        }
        if others.iter().any(|&o| o >= s.at && o <= s.at + s.old.len()) {
            bail!(
                "{} string \"{}\" is shared with another entry",
                s.tag,
                s.old
            );
        }
        let slot = &mut data[s.at..s.at + s.old.len()];
        slot.fill(0);
        slot[..new.len()].copy_from_slice(new.as_bytes());
        changes.push(RpathChange {
            tag: s.tag,
            old: s.old,
            new,
        });
    }
    Ok(changes)
}

/// Replace every NUL-terminated string that contains `from` so that `from` reads
/// `to` (which must not be longer), padding with NULs to the old length. Returns
/// how many strings were changed.
pub fn replace_c_strings(data: &mut [u8], from: &[u8], to: &[u8]) -> Result<usize> {
    assert!(to.len() <= from.len(), "replacement must not be longer");
    let finder = memchr::memmem::Finder::new(from);
    let mut count = 0;
    let mut pos = 0;
    while let Some(i) = finder.find(&data[pos..]).map(|i| i + pos) {
        let end = memchr::memchr(0, &data[i..])
            .map(|e| i + e)
            .ok_or_else(|| anyhow!("string at offset {i} has no NUL terminator"))?;
        let rest: Vec<u8> = data[i + from.len()..end].to_vec();
        let slot = &mut data[i..end];
        slot.fill(0);
        slot[..to.len()].copy_from_slice(to);
        slot[to.len()..to.len() + rest.len()].copy_from_slice(&rest);
        count += 1;
        pos = i + to.len();
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_strings_are_shifted_and_padded() {
        let mut d = b"xx/long/prefix/ssl\0yy/long/prefix/a:/long/prefix/b\0".to_vec();
        let len = d.len();
        let n = replace_c_strings(&mut d, b"/long/prefix", b"/opt").unwrap();
        assert_eq!(n, 3);
        let s: Vec<&[u8]> = d.split(|&b| b == 0).filter(|s| !s.is_empty()).collect();
        assert_eq!(s, vec![&b"xx/opt/ssl"[..], &b"yy/opt/a:/opt/b"[..]]);
        assert_eq!(d.len(), len);
    }

    #[test]
    fn unterminated_string_is_an_error() {
        let mut d = b"/long/prefix/x".to_vec();
        assert!(replace_c_strings(&mut d, b"/long/prefix", b"/o").is_err());
    }

    #[test]
    fn garbage_is_not_elf() {
        let mut d = b"\x7fELF\x02\x01\x01garbage".to_vec();
        assert!(rewrite_rpaths(&mut d, |e| Some(e.to_string())).is_err());
    }
}
