//! rpm: an RPM package written with the `rpm` crate: the install dir, the systemd
//! units in `/usr/lib/systemd/system`, config files as `%config(noreplace)`, and
//! the `%pre`/`%post`/`%preun`/`%postun` scriptlets from `packaging/rpm/`.

use super::archive::{Entry, Kind, image};
use super::{Meta, Packager, scripts};
use anyhow::{Context, Result, bail};
use rpm::{BuildConfig, CompressionWithLevel, Dependency, FileOptions, PackageBuilder};
use std::path::Path;

/// The `rpm` format.
pub struct Rpm;

/// One `Requires` entry: `name` or `name <op> version`.
pub fn dependency(spec: &str) -> Result<Dependency> {
    let words: Vec<&str> = spec.split_whitespace().collect();
    Ok(match words[..] {
        [name] => Dependency::any(name),
        [name, op, version] => match op {
            ">=" => Dependency::greater_eq(name, version),
            ">" => Dependency::greater(name, version),
            "=" => Dependency::eq(name, version),
            "<=" => Dependency::less_eq(name, version),
            "<" => Dependency::less(name, version),
            _ => bail!("rpm requires \"{spec}\": unknown operator \"{op}\""),
        },
        _ => bail!("rpm requires \"{spec}\": expected `name` or `name >= version`"),
    })
}

/// rpmlint's configuration for the rpms ferrobus writes
/// (`packaging/rpm/rpmlint-ferrobus.toml`): the checks a self-contained stack
/// under /opt fails by design, each filtered with its reason.
pub const RPMLINT_FILTERS: &str = include_str!("../../packaging/rpm/rpmlint-ferrobus.toml");

/// The rpmlint configuration of one package, written beside it in dist
/// (`rpmlint -c <name>-<v>-<i>.rpmlint.toml <rpm>`): [`RPMLINT_FILTERS`], and
/// the project's license as a valid `License` value (rpmlint's own list is
/// empty unless a distribution's configuration fills it; the project file's
/// license was checked to be an SPDX expression when it was loaded).
pub fn rpmlint_config(meta: &Meta) -> String {
    let mut s = RPMLINT_FILTERS.to_string();
    if !meta.license.is_empty() {
        s.push_str(&format!(
            "\n# The License tag: {}'s license, an SPDX expression.\nValidLicenses = [{}]\n",
            meta.name,
            toml::Value::String(meta.license.clone())
        ));
    }
    s
}

/// The mode of a file in the rpm: the normalised one, except that shared
/// libraries are 0755. That is the rpm convention (rpm's dependency generator and
/// debuginfo extraction look only at executable libraries; rpmlint:
/// `shared-library-not-executable`), where Debian's is 0644 (policy 8.1, lintian
/// `shared-library-is-executable`), which relocation gives the staged tree.
fn file_mode(e: &Entry) -> Result<u32> {
    if e.mode & 0o111 != 0 {
        return Ok(e.mode);
    }
    let mut head = [0u8; 4];
    let mut f = std::fs::File::open(&e.path)?;
    if std::io::Read::read_exact(&mut f, &mut head).is_err() || !crate::elf::is_elf(&head) {
        return Ok(e.mode);
    }
    let data = std::fs::read(&e.path)?;
    Ok(if crate::elf::is_shared_library(&data) {
        0o755
    } else {
        e.mode
    })
}

/// The one `%changelog` entry: who made this release, its version-release (which
/// rpmlint expects at the end of the name) and when (SOURCE_DATE_EPOCH), as the
/// deb's `changelog.Debian.gz` says it.
fn changelog(meta: &Meta) -> (String, String) {
    let who = if meta.maintainer.trim().is_empty() {
        meta.name.as_str()
    } else {
        meta.maintainer.trim()
    };
    (
        format!("{who} - {}", meta.full_version()),
        "- Package built by ferrobus.".to_string(),
    )
}

fn compression(meta: &Meta) -> Result<CompressionWithLevel> {
    use crate::load::RpmCompression;
    Ok(match meta.rpm_compression {
        RpmCompression::Xz => CompressionWithLevel::Xz(meta.xz_level),
        RpmCompression::Zstd => CompressionWithLevel::Zstd(meta.zstd_level),
        RpmCompression::Gzip => CompressionWithLevel::Gzip(6),
    })
}

impl Packager for Rpm {
    fn format(&self) -> &'static str {
        "rpm"
    }

    fn file_name(&self, meta: &Meta) -> String {
        format!(
            "{}-{}.{}.rpm",
            meta.name,
            meta.full_version(),
            meta.arch.rpm()
        )
    }

    fn lint_config(&self, meta: &Meta) -> Option<(String, String)> {
        Some((
            format!("{}.rpmlint.toml", meta.beside_stem()),
            rpmlint_config(meta),
        ))
    }

    fn write(&self, root: &Path, meta: &Meta, out: &Path) -> Result<()> {
        let mut desc = meta.description.lines();
        let summary = desc.next().unwrap_or(&meta.name).trim();
        let rest: Vec<&str> = desc.collect();
        let description = if rest.iter().all(|l| l.trim().is_empty()) {
            summary.to_string()
        } else {
            rest.join("\n").trim().to_string()
        };
        let license = if meta.license.is_empty() {
            "Unknown"
        } else {
            &meta.license
        };
        let config = BuildConfig::v4()
            .source_date(meta.epoch as u32)
            .compression(compression(meta)?);
        let mut b =
            PackageBuilder::new(&meta.name, &meta.version, license, meta.arch.rpm(), summary);
        b.using_config(config)
            .release(meta.iteration.to_string())
            .description(description)
            .url(meta.homepage.clone())
            .vendor(meta.maintainer.clone())
            .packager(meta.maintainer.clone())
            .group(meta.rpm_group.clone())
            .build_host("ferrobus");
        let (who, what) = changelog(meta);
        b.add_changelog_entry(who, what, rpm::Timestamp::from(meta.epoch as u32));
        for r in &meta.rpm_requires {
            b.requires(dependency(r)?);
        }
        let ([pre, post, preun, postun], posttrans) = scripts::rpm_scripts(meta)?;
        b.pre_install_script(pre)
            .post_install_script(post)
            .pre_uninstall_script(preun)
            .post_uninstall_script(postun);
        if let Some(posttrans) = posttrans {
            b.post_trans_script(posttrans);
        }

        let scratch = tempfile::tempdir()?;
        let extra = scripts::system_files(meta, "/usr/lib/systemd/system");
        let install = meta.install_dir.trim_matches('/');
        // Directories the package owns: the install dir's tree and the private
        // parents of its config files (`/etc/<name>`), not shared ones like `/etc`.
        let owned_dirs: Vec<String> = extra
            .iter()
            .filter(|f| f.config)
            .filter_map(|f| Path::new(&f.path).parent())
            .map(|p| p.to_string_lossy().trim_start_matches('/').to_string())
            .filter(|p| p.contains('/'))
            .collect();
        let mtime = rpm::Timestamp::from(meta.epoch as u32);
        for e in image(root, &meta.install_dir, &extra, scratch.path())? {
            let dest = format!("/{}", e.rel);
            let res = match &e.kind {
                Kind::Dir => {
                    let own = e.rel == install
                        || e.rel.starts_with(&format!("{install}/"))
                        || owned_dirs.contains(&e.rel);
                    if !own {
                        continue;
                    }
                    b.with_dir_entry(FileOptions::dir(&dest).permissions(e.mode as u16))
                }
                Kind::Symlink(target) => b.with_symlink(
                    FileOptions::symlink(&dest, target.to_string_lossy()).modified_at(mtime),
                ),
                Kind::File => {
                    let is_config = extra.iter().any(|f| f.config && f.path == dest);
                    let mode = file_mode(&e).with_context(|| format!("reading {dest}"))?;
                    let mut opts = FileOptions::new(&dest)
                        .permissions(mode as u16)
                        .modified_at(mtime);
                    if is_config {
                        opts = opts.config().noreplace();
                    }
                    b.with_file(&e.path, opts)
                }
            };
            res.with_context(|| format!("adding {dest} to the rpm"))?;
        }
        let mut pkg = b.build().context("building the rpm")?;
        if let Some(key) = &meta.signing {
            let t = rpm::Timestamp(key.signing_time(meta.epoch) as u32);
            pkg.sign_with_timestamp(key.signer(), t)
                .context("signing the rpm")?;
        }
        pkg.write_file(out).context("writing the rpm")?;
        Ok(())
    }
}
