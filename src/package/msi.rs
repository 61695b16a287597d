//! msi: the Windows Installer package of a Windows bundle, written in Rust.
//!
//! The database is written with the `msi` crate (tables, summary information,
//! streams); the files go into one MSZIP cabinet written with the `cab` crate and
//! embedded as the stream `bundle.cab` (`Media.Cabinet = #bundle.cab`).
//!
//! What the package does: install every file of the bundle under
//! `ProgramFiles64Folder\<product name>` (one component per file, 64-bit, the
//! file its key path), for all users (`ALLUSERS=1`); register the product, so it
//! appears in Add/Remove Programs; remove an installed older version of the same
//! UpgradeCode before installing (major upgrade: `FindRelatedProducts` +
//! `RemoveExistingProducts` right after `InstallValidate`); on uninstall, remove
//! every file and every directory (`RemoveFile` rows for each directory, and for
//! the `__pycache__` beside every `.py`, in case bytecode was written after all).
//!
//! Reproducible: every GUID is derived from content (ProductCode from the
//! UpgradeCode and version, component GUIDs from the UpgradeCode and the file's
//! path, the package code from everything in the package), the summary
//! information's time is SOURCE_DATE_EPOCH, the cabinet's file times too, and the
//! compound file's root entry times (which the `cfb` crate sets to "now") are
//! set to SOURCE_DATE_EPOCH after writing.

use super::{Meta, Packager};
use crate::util::sha256_bytes;
use anyhow::{Context, Result, bail};
use msi::{Category, Column, Insert, Package, PackageType, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io::{Cursor, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The cabinet stream's name.
pub const CAB: &str = "bundle.cab";

/// What the MSI needs besides the bundle and the package metadata
/// (`[windows.msi]`). From [`Meta`] it takes the version (`major.minor.build`,
/// each a number), the iteration (part of the ProductCode), the description's
/// first line (ARPCOMMENTS, summary comments), the home page (ARPURLINFOABOUT)
/// and SOURCE_DATE_EPOCH.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MsiMeta {
    /// ProductName, and the folder under ProgramFiles64Folder.
    pub product_name: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// UpgradeCode (`{GUID}`).
    pub upgrade_code: String,
    /// The Windows services to install, start, stop and remove.
    pub services: Vec<crate::windows::Service>,
    /// The `%ProgramData%` folder of the `[[config]]` files (the project's
    /// name), when the project has any: the bundle's `defaults\` are kept
    /// there by `ferrobus\conffiles.py`.
    pub config_dir: Option<String>,
}

/// The `.msi` of a Windows bundle: `root` is the bundle (the install dir's
/// contents); `meta.msi` must be set.
pub struct Msi;

impl Packager for Msi {
    fn format(&self) -> &'static str {
        "msi"
    }
    fn file_name(&self, meta: &Meta) -> String {
        format!(
            "{}-{}.{}.msi",
            meta.name,
            meta.full_version(),
            super::zip::PLATFORM
        )
    }
    fn write(&self, root: &Path, meta: &Meta, out: &Path) -> Result<()> {
        write(root, meta, out)
    }
}

/// The 16 bytes of a `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}` GUID (braces
/// optional), or `None`.
pub fn parse_guid(s: &str) -> Option<[u8; 16]> {
    let s = s.trim();
    let s = s
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(s);
    let parts: Vec<&str> = s.split('-').collect();
    if parts.iter().map(|p| p.len()).collect::<Vec<_>>() != [8, 4, 4, 4, 12] {
        return None;
    }
    let hex: String = parts.concat();
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The canonical form MSI wants: upper case, in braces.
pub fn canonical_guid(s: &str) -> Option<String> {
    parse_guid(s).map(|b| format_guid(&b))
}

fn format_guid(b: &[u8]) -> String {
    let h = hex::encode_upper(&b[..16]);
    format!(
        "{{{}-{}-{}-{}-{}}}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A GUID derived from `seed` (a name-based, version-5-style GUID over sha256):
/// the same seed always gives the same GUID.
pub fn derived_guid(seed: &str) -> String {
    let h = hex::decode(sha256_bytes(seed.as_bytes())).expect("hex");
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    format_guid(&b)
}

/// MSI's ProductVersion from a project version (checked when the project was
/// loaded: [`crate::load::msi_product_version`]).
pub use crate::load::msi_product_version as product_version;

/// A short 8.3 name for `long`, unique (case-insensitively) among `taken`.
fn short_name(long: &str, taken: &mut HashSet<String>) -> String {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let (stem, ext) = match long.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s, Some(e)),
        _ => (long, None),
    };
    let is_83 = stem.len() <= 8
        && stem.chars().all(ok)
        && ext.is_none_or(|e| !e.is_empty() && e.len() <= 3 && e.chars().all(ok));
    if is_83 && taken.insert(long.to_ascii_uppercase()) {
        return long.to_string();
    }
    let clean = |s: &str, n: usize| -> String {
        s.chars()
            .filter(|c| ok(*c))
            .take(n)
            .collect::<String>()
            .to_ascii_uppercase()
    };
    let ext = ext.map(|e| clean(e, 3)).filter(|e| !e.is_empty());
    for n in 1u32.. {
        let suffix = format!("~{n}");
        let mut base = clean(stem, 8 - suffix.len());
        if base.is_empty() {
            base = "F".into();
        }
        let s = match &ext {
            Some(e) => format!("{base}{suffix}.{e}"),
            None => format!("{base}{suffix}"),
        };
        if taken.insert(s.clone()) {
            return s;
        }
    }
    unreachable!()
}

/// `short|long`, or just the name when it is a valid short name itself.
fn msi_name(long: &str, taken: &mut HashSet<String>) -> String {
    let s = short_name(long, taken);
    if s == long { s } else { format!("{s}|{long}") }
}

/// An identifier for a path: `<kind>` + 24 hex digits of its hash.
fn ident(kind: &str, rel: &str) -> String {
    format!("{kind}{}", &sha256_bytes(rel.as_bytes())[..24])
}

fn s(v: &str) -> Value {
    Value::Str(v.to_string())
}

fn col_id(name: &str) -> msi::ColumnBuilder {
    Column::build(name)
}

/// One table: its name, columns and rows.
type TableData = (&'static str, Vec<Column>, Vec<Vec<Value>>);

/// One directory of the bundle: its id, its parent's id and its DefaultDir.
type DirRow = (String, String, String);

/// One file of the bundle.
struct FileRow {
    rel: String,
    id: String,
    dir_id: String,
    name: String,
    size: u64,
}

impl FileRow {
    /// The file's component (one per file, the file its key path).
    fn component(&self) -> String {
        ident("c", &self.rel)
    }
}

/// The Directory key of the bundle directory `rel` (`""` is the bundle itself).
fn dir_id(rel: &str) -> String {
    if rel.is_empty() {
        "INSTALLDIR".to_string()
    } else {
        ident("d", rel)
    }
}

/// What the package says about the product: the checked, canonical forms of
/// the package metadata the tables and the summary information use.
struct Product<'a> {
    meta: &'a MsiMeta,
    /// The description's first line (may be empty).
    description: &'a str,
    homepage: &'a str,
    /// The UpgradeCode, canonical.
    upgrade: String,
    /// The ProductVersion.
    version: String,
    product_code: String,
    epoch: u64,
}

impl<'a> Product<'a> {
    fn new(package: &'a Meta) -> Result<Self> {
        let meta = package.msi.as_ref().context(
            "no [windows.msi]: the MSI needs a product name, a manufacturer and an upgrade code",
        )?;
        let description = package.description.lines().next().unwrap_or("");
        let upgrade = canonical_guid(&meta.upgrade_code)
            .with_context(|| format!("upgrade_code \"{}\" is not a GUID", meta.upgrade_code))?;
        let version = product_version(&package.version)?;
        let product_code = derived_guid(&format!(
            "product\n{upgrade}\n{}\n{}",
            package.version, package.iteration
        ));
        for v in [&meta.product_name, &meta.manufacturer] {
            if !v.is_ascii() {
                bail!("\"{v}\": the MSI's names must be ASCII (code page 1252 database)");
            }
        }
        Ok(Product {
            meta,
            description,
            homepage: &package.homepage,
            upgrade,
            version,
            product_code,
            epoch: package.epoch,
        })
    }
}

/// The bundle's directories and files, sorted by path, with their keys and
/// (short|long) names.
struct Tree {
    /// Every directory, the `__pycache__` ones added too: path -> row.
    dirs: BTreeMap<String, DirRow>,
    /// Every file, in File.Sequence (and cabinet) order.
    files: Vec<FileRow>,
    /// The `__pycache__` directories beside the `.py` files that the bundle
    /// does not have itself.
    pycache: Vec<String>,
}

impl Tree {
    fn walk(bundle: &Path) -> Result<Tree> {
        let tree = super::zip::tree(bundle)?;
        let mut dirs: BTreeMap<String, DirRow> = BTreeMap::new();
        let mut taken: BTreeMap<String, HashSet<String>> = BTreeMap::new();
        let mut files = Vec::new();
        let mut py_dirs = BTreeSet::new();
        for (rel, is_dir) in &tree {
            let rel = rel.trim_end_matches('/');
            if !rel.is_ascii() {
                bail!(
                    "{}: the MSI's file names must be ASCII",
                    bundle.join(rel).display()
                );
            }
            let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
            let t = taken.entry(parent.to_string()).or_default();
            let msi = msi_name(name, t);
            if *is_dir {
                dirs.insert(rel.to_string(), (dir_id(rel), dir_id(parent), msi));
            } else {
                if name.ends_with(".py") {
                    py_dirs.insert(parent.to_string());
                }
                let size = fs::metadata(bundle.join(rel))?.len();
                if size > i32::MAX as u64 {
                    bail!("{}: too large for an MSI", bundle.join(rel).display());
                }
                files.push(FileRow {
                    rel: rel.to_string(),
                    id: ident("f", rel),
                    dir_id: dir_id(parent),
                    name: msi,
                    size,
                });
            }
        }
        if files.is_empty() {
            bail!("{}: nothing to package", bundle.display());
        }
        let mut tree = Tree {
            dirs,
            files,
            pycache: Vec::new(),
        };
        tree.add_pycache(&py_dirs, &mut taken);
        Ok(tree)
    }

    /// A `__pycache__` beside every `.py` (in `py_dirs`; not created by the
    /// install; removed, with what is in it, by the uninstall).
    fn add_pycache(
        &mut self,
        py_dirs: &BTreeSet<String>,
        taken: &mut BTreeMap<String, HashSet<String>>,
    ) {
        for d in py_dirs {
            let rel = if d.is_empty() {
                "__pycache__".to_string()
            } else {
                format!("{d}/__pycache__")
            };
            if self.dirs.contains_key(&rel) {
                continue;
            }
            let t = taken.entry(d.clone()).or_default();
            let msi = msi_name("__pycache__", t);
            self.dirs
                .insert(rel.clone(), (dir_id(&rel), dir_id(d), msi));
            self.pycache.push(rel);
        }
    }
}

/// Write the MSI of `bundle` to `out`.
pub fn write(bundle: &Path, package: &Meta, out: &Path) -> Result<()> {
    let product = Product::new(package)?;
    let tree = Tree::walk(bundle)?;
    let cab_bytes = cabinet(bundle, &tree.files, product.epoch)?;
    let tables = tables(&product, &tree);
    let package_code = package_code(&tables, &cab_bytes);
    write_database(out, &product, &package_code, tables, &cab_bytes)?;
    fix_cfb_times(out, product.epoch)?;
    if let Some(cs) = &package.codesign {
        cs.sign(out, product.epoch, &product.meta.product_name)?;
    }
    Ok(())
}

/// The cabinet: `files` in File.Sequence order, named by their File key, their
/// times SOURCE_DATE_EPOCH.
fn cabinet(bundle: &Path, files: &[FileRow], epoch: u64) -> Result<Vec<u8>> {
    let cab_time = {
        let t = time::OffsetDateTime::from_unix_timestamp(epoch as i64)
            .context("SOURCE_DATE_EPOCH out of range")?;
        time::PrimitiveDateTime::new(t.date(), t.time())
    };
    let mut cb = cab::CabinetBuilder::new();
    {
        let folder = cb.add_folder(cab::CompressionType::MsZip);
        for f in files {
            folder.add_file(f.id.clone()).set_datetime(cab_time);
        }
    }
    let mut cw = cb.build(Cursor::new(Vec::new()))?;
    let mut i = 0;
    while let Some(mut w) = cw.next_file()? {
        let f = &files[i];
        debug_assert_eq!(w.file_name(), f.id);
        let data = fs::read(bundle.join(&f.rel))?;
        w.write_all(&data)?;
        i += 1;
    }
    Ok(cw.finish()?.into_inner())
}

/// Every table of the package, in the order they are written (which is also
/// the order the package code hashes them in).
fn tables(p: &Product, tree: &Tree) -> Vec<TableData> {
    let mut t = vec![
        property_table(p),
        directory_table(p, tree),
        component_table(p, &tree.files),
        feature_table(p),
        feature_components_table(&tree.files),
        file_table(&tree.files),
        remove_file_table(tree),
        media_table(&tree.files),
        upgrade_table(p),
        custom_action_table(p),
        install_execute_sequence_table(p),
        install_ui_sequence_table(),
    ];
    if !p.meta.services.is_empty() {
        t.extend(service_tables(p, &tree.files));
    }
    t
}

fn property_table(p: &Product) -> TableData {
    let mut props: Vec<(&str, String)> = vec![
        ("ProductCode", p.product_code.clone()),
        ("ProductName", p.meta.product_name.clone()),
        ("ProductVersion", p.version.clone()),
        ("Manufacturer", p.meta.manufacturer.clone()),
        ("UpgradeCode", p.upgrade.clone()),
        ("ProductLanguage", "1033".into()),
        ("ALLUSERS", "1".into()),
        ("ARPNOMODIFY", "1".into()),
        ("ARPNOREPAIR", "1".into()),
        ("SecureCustomProperties", "OLDERVERSIONFOUND;PURGE".into()),
    ];
    if !p.homepage.is_empty() {
        props.push(("ARPURLINFOABOUT", p.homepage.to_string()));
    }
    if !p.description.is_empty() {
        props.push(("ARPCOMMENTS", p.description.to_string()));
    }
    (
        "Property",
        vec![
            col_id("Property").primary_key().id_string(72),
            col_id("Value").text_string(0),
        ],
        props.iter().map(|(k, v)| vec![s(k), s(v)]).collect(),
    )
}

fn directory_table(p: &Product, tree: &Tree) -> TableData {
    let mut dir_rows = vec![
        vec![s("TARGETDIR"), Value::Null, s("SourceDir")],
        vec![s("ProgramFiles64Folder"), s("TARGETDIR"), s(".")],
        vec![s("CommonAppDataFolder"), s("TARGETDIR"), s(".")],
        vec![
            s("INSTALLDIR"),
            s("ProgramFiles64Folder"),
            s(&msi_name(&p.meta.product_name, &mut HashSet::new())),
        ],
    ];
    for (id, parent, name) in tree.dirs.values() {
        dir_rows.push(vec![s(id), s(parent), s(name)]);
    }
    (
        "Directory",
        vec![
            col_id("Directory").primary_key().id_string(72),
            col_id("Directory_Parent").nullable().id_string(72),
            col_id("DefaultDir")
                .localizable()
                .category(Category::DefaultDir)
                .string(255),
        ],
        dir_rows,
    )
}

fn component_table(p: &Product, files: &[FileRow]) -> TableData {
    (
        "Component",
        vec![
            col_id("Component").primary_key().id_string(72),
            col_id("ComponentId")
                .nullable()
                .category(Category::Guid)
                .string(38),
            col_id("Directory_").id_string(72),
            col_id("Attributes").int16(),
            col_id("Condition")
                .nullable()
                .category(Category::Condition)
                .string(255),
            col_id("KeyPath").nullable().id_string(72),
        ],
        files
            .iter()
            .map(|f| {
                vec![
                    s(&f.component()),
                    s(&derived_guid(&format!(
                        "component\n{}\n{}",
                        p.upgrade, f.rel
                    ))),
                    s(&f.dir_id),
                    Value::Int(256), // msidbComponentAttributes64bit
                    Value::Null,
                    s(&f.id),
                ]
            })
            .collect(),
    )
}

fn feature_table(p: &Product) -> TableData {
    (
        "Feature",
        vec![
            col_id("Feature").primary_key().id_string(38),
            col_id("Feature_Parent").nullable().id_string(38),
            col_id("Title").nullable().localizable().text_string(64),
            col_id("Description")
                .nullable()
                .localizable()
                .text_string(255),
            col_id("Display").nullable().int16(),
            col_id("Level").int16(),
            col_id("Directory_").nullable().id_string(72),
            col_id("Attributes").int16(),
        ],
        vec![vec![
            s("Complete"),
            Value::Null,
            s(&p.meta.product_name),
            if p.description.is_empty() {
                Value::Null
            } else {
                s(p.description)
            },
            Value::Int(1),
            Value::Int(1),
            s("INSTALLDIR"),
            Value::Int(16), // msidbFeatureAttributesUIDisallowAbsent
        ]],
    )
}

fn feature_components_table(files: &[FileRow]) -> TableData {
    (
        "FeatureComponents",
        vec![
            col_id("Feature_").primary_key().id_string(38),
            col_id("Component_").primary_key().id_string(72),
        ],
        files
            .iter()
            .map(|f| vec![s("Complete"), s(&f.component())])
            .collect(),
    )
}

fn file_table(files: &[FileRow]) -> TableData {
    (
        "File",
        vec![
            col_id("File").primary_key().id_string(72),
            col_id("Component_").id_string(72),
            col_id("FileName")
                .localizable()
                .category(Category::Filename)
                .string(255),
            col_id("FileSize").int32(),
            col_id("Version")
                .nullable()
                .category(Category::Version)
                .string(72),
            col_id("Language")
                .nullable()
                .category(Category::Language)
                .string(20),
            col_id("Attributes").nullable().int16(),
            col_id("Sequence").int32(),
        ],
        files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                vec![
                    s(&f.id),
                    s(&f.component()),
                    s(&f.name),
                    Value::Int(f.size as i32),
                    Value::Null,
                    Value::Null,
                    Value::Int(0),
                    Value::Int(i as i32 + 1),
                ]
            })
            .collect(),
    )
}

/// Every directory (and `__pycache__` beside the `.py` files, with its `.pyc`)
/// goes on uninstall; the rows hang off the first file's component.
fn remove_file_table(tree: &Tree) -> TableData {
    let owner = tree.files[0].component();
    let mut rm = Vec::new();
    for (rel, (id, _, _)) in &tree.dirs {
        rm.push(vec![
            s(&ident("r", rel)),
            s(&owner),
            Value::Null,
            s(id),
            Value::Int(2), // msidbRemoveFileInstallModeOnRemove
        ]);
    }
    for rel in &tree.pycache {
        rm.push(vec![
            s(&ident("p", rel)),
            s(&owner),
            s("*.pyc"),
            s(&dir_id(rel)),
            Value::Int(2),
        ]);
    }
    rm.push(vec![
        s("rINSTALLDIR"),
        s(&owner),
        Value::Null,
        s("INSTALLDIR"),
        Value::Int(2),
    ]);
    (
        "RemoveFile",
        vec![
            col_id("FileKey").primary_key().id_string(72),
            col_id("Component_").id_string(72),
            col_id("FileName")
                .nullable()
                .localizable()
                .category(Category::WildCardFilename)
                .string(255),
            col_id("DirProperty").id_string(72),
            col_id("InstallMode").int16(),
        ],
        rm,
    )
}

fn media_table(files: &[FileRow]) -> TableData {
    (
        "Media",
        vec![
            col_id("DiskId").primary_key().range(1, 32767).int16(),
            col_id("LastSequence").int32(),
            col_id("DiskPrompt")
                .nullable()
                .localizable()
                .text_string(64),
            col_id("Cabinet")
                .nullable()
                .category(Category::Cabinet)
                .string(255),
            col_id("VolumeLabel").nullable().text_string(32),
            col_id("Source")
                .nullable()
                .category(Category::Property)
                .string(72),
        ],
        vec![vec![
            Value::Int(1),
            Value::Int(files.len() as i32),
            Value::Null,
            s(&format!("#{CAB}")),
            Value::Null,
            Value::Null,
        ]],
    )
}

fn upgrade_table(p: &Product) -> TableData {
    (
        "Upgrade",
        vec![
            col_id("UpgradeCode")
                .primary_key()
                .category(Category::Guid)
                .string(38),
            col_id("VersionMin")
                .primary_key()
                .nullable()
                .text_string(20),
            col_id("VersionMax")
                .primary_key()
                .nullable()
                .text_string(20),
            col_id("Language")
                .primary_key()
                .nullable()
                .category(Category::Language)
                .string(255),
            col_id("Attributes").primary_key().int32(),
            col_id("Remove")
                .nullable()
                .category(Category::Formatted)
                .string(255),
            col_id("ActionProperty")
                .category(Category::UpperCase)
                .string(72),
        ],
        // Every older version, and the same version of another iteration (a
        // ProductCode of its own): detected, then removed by
        // RemoveExistingProducts. FindRelatedProducts never matches the product
        // being installed itself.
        vec![vec![
            s(&p.upgrade),
            Value::Null,
            s(&p.version),
            Value::Null,
            // msidbUpgradeAttributesMigrateFeatures | VersionMaxInclusive
            Value::Int(0x1 | 0x200),
            Value::Null,
            s("OLDERVERSIONFOUND"),
        ]],
    )
}

/// Add/Remove Programs shows where the product is (a type 51 custom action:
/// set a property from a formatted string). With `[[config]]` files, the
/// bundle's Python runs `conffiles.py` through `ferrobus\\config.exe` (a
/// script host: a custom action's process may have no usable standard
/// handles, which python.exe refuses) (type 34: an executable in a directory,
/// deferred, as the installing account): `install` after the files are in
/// place, `remove` (or `purge` with PURGE=1) before they go on uninstall;
/// never on the version an upgrade replaces (UPGRADINGPRODUCTCODE), so the
/// new version's `install` sees the old files.
fn custom_action_table(p: &Product) -> TableData {
    let mut rows = vec![vec![
        s("SetARPINSTALLLOCATION"),
        Value::Int(51),
        s("ARPINSTALLLOCATION"),
        s("[INSTALLDIR]"),
    ]];
    if let Some(dir) = &p.meta.config_dir {
        for (action, op) in CONFIG_ACTIONS {
            let host = crate::windows::CONFIG_HOST.replace('/', "\\");
            rows.push(vec![
                s(action),
                // msidbCustomActionTypeInScript | NoImpersonate
                Value::Int(34 | 0x400 | 0x800),
                s("INSTALLDIR"),
                s(&format!(
                    "\"[INSTALLDIR]{host}\" {op} \
                     \"[INSTALLDIR]{}\" \"[CommonAppDataFolder]{}\"",
                    crate::windows::DEFAULTS_DIR,
                    formatted_literal(dir)
                )),
            ]);
        }
    }
    (
        "CustomAction",
        vec![
            col_id("Action").primary_key().id_string(72),
            col_id("Type").int16(),
            col_id("Source")
                .nullable()
                .category(Category::CustomSource)
                .string(72),
            col_id("Target")
                .nullable()
                .category(Category::Formatted)
                .string(255),
        ],
        rows,
    )
}

/// The configuration custom actions: (action, conffiles.py operation).
const CONFIG_ACTIONS: [(&str, &str); 3] = [
    ("FerrobusConfigInstall", "install"),
    ("FerrobusConfigRemove", "remove"),
    ("FerrobusConfigPurge", "purge"),
];

/// `text` as a literal in a Formatted column (`[`, `]`, `{`, `}` escaped).
fn formatted_literal(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '[' | ']' | '{' | '}' => out.push_str(&format!("[\\{c}]")),
            _ => out.push(c),
        }
    }
    out
}

/// A service's command-line arguments, a Formatted string: each argument
/// quoted when it holds a space or a `[[config]]` path
/// (`[CommonAppDataFolder]<project>\...`).
fn service_arguments(svc: &crate::windows::Service) -> String {
    svc.args
        .iter()
        .map(|a| {
            let mut v = formatted_literal(&a.text);
            if let Some(rel) = &a.config {
                v.push_str(&format!(
                    "[CommonAppDataFolder]{}\\{}",
                    formatted_literal(&svc.project),
                    formatted_literal(&rel.replace('/', "\\"))
                ));
            }
            if a.config.is_some() || a.text.contains([' ', '\t']) || a.text.is_empty() {
                format!("\"{v}\"")
            } else {
                v
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// ServiceInstall, ServiceControl and MsiServiceConfigFailureActions: each
/// service's host (`bin\<service>-service.exe`, its component) is installed as
/// an own-process service started at boot, started after install, stopped
/// before its files are replaced or removed, deleted on uninstall, and
/// restarted by the service manager when it fails (after 5 s, 10 s, 30 s;
/// the count resets after a day).
fn service_tables(p: &Product, files: &[FileRow]) -> Vec<TableData> {
    let component = |svc: &crate::windows::Service| {
        files
            .iter()
            .find(|f| f.rel == svc.host)
            .map(|f| f.component())
            .unwrap_or_else(|| ident("c", &svc.host))
    };
    let install = p
        .meta
        .services
        .iter()
        .map(|svc| {
            let display = if svc.description.is_empty() {
                svc.name.clone()
            } else {
                svc.description.clone()
            };
            vec![
                s(&ident("s", &svc.name)),
                s(&svc.name),
                s(&display),
                Value::Int(0x10),   // SERVICE_WIN32_OWN_PROCESS
                Value::Int(2),      // SERVICE_AUTO_START
                Value::Int(0x8001), // SERVICE_ERROR_NORMAL | msidbServiceInstallErrorControlVital
                Value::Null,
                Value::Null,
                svc.account.start_name().map_or(Value::Null, s),
                Value::Null,
                s(&service_arguments(svc)),
                s(&component(svc)),
                if svc.description.is_empty() {
                    Value::Null
                } else {
                    s(&svc.description)
                },
            ]
        })
        .collect();
    let control = p
        .meta
        .services
        .iter()
        .map(|svc| {
            vec![
                s(&ident("k", &svc.name)),
                s(&svc.name),
                // Start and Stop on install, Stop and Delete on uninstall.
                Value::Int(0x1 | 0x2 | 0x20 | 0x80),
                Value::Null,
                Value::Int(1),
                s(&component(svc)),
            ]
        })
        .collect();
    let failure = p
        .meta
        .services
        .iter()
        .map(|svc| {
            vec![
                s(&ident("a", &svc.name)),
                s(&svc.name),
                Value::Int(1 | 4), // on install and reinstall
                Value::Int(86400),
                Value::Null,
                Value::Null,
                s("1[~]1[~]1"), // SC_ACTION_RESTART
                s("5000[~]10000[~]30000"),
                s(&component(svc)),
            ]
        })
        .collect();
    vec![
        (
            "ServiceInstall",
            vec![
                col_id("ServiceInstall").primary_key().id_string(72),
                col_id("Name").category(Category::Formatted).string(255),
                col_id("DisplayName")
                    .nullable()
                    .localizable()
                    .category(Category::Formatted)
                    .string(255),
                col_id("ServiceType").int32(),
                col_id("StartType").int32(),
                col_id("ErrorControl").int32(),
                col_id("LoadOrderGroup")
                    .nullable()
                    .category(Category::Formatted)
                    .string(255),
                col_id("Dependencies")
                    .nullable()
                    .category(Category::Formatted)
                    .string(255),
                col_id("StartName")
                    .nullable()
                    .category(Category::Formatted)
                    .string(255),
                col_id("Password")
                    .nullable()
                    .category(Category::Formatted)
                    .string(255),
                col_id("Arguments")
                    .nullable()
                    .category(Category::Formatted)
                    .string(255),
                col_id("Component_").id_string(72),
                col_id("Description")
                    .nullable()
                    .localizable()
                    .category(Category::Formatted)
                    .string(255),
            ],
            install,
        ),
        (
            "ServiceControl",
            vec![
                col_id("ServiceControl").primary_key().id_string(72),
                col_id("Name")
                    .localizable()
                    .category(Category::Formatted)
                    .string(255),
                col_id("Event").int16(),
                col_id("Arguments")
                    .nullable()
                    .localizable()
                    .category(Category::Formatted)
                    .string(255),
                col_id("Wait").nullable().int16(),
                col_id("Component_").id_string(72),
            ],
            control,
        ),
        (
            "MsiServiceConfigFailureActions",
            vec![
                col_id("MsiServiceConfigFailureActions")
                    .primary_key()
                    .id_string(72),
                col_id("Name").category(Category::Formatted).string(255),
                col_id("Event").int16(),
                col_id("ResetPeriod").nullable().int32(),
                col_id("RebootMessage")
                    .nullable()
                    .localizable()
                    .category(Category::Formatted)
                    .string(255),
                col_id("Command")
                    .nullable()
                    .localizable()
                    .category(Category::Formatted)
                    .string(255),
                col_id("Actions")
                    .nullable()
                    .category(Category::Formatted)
                    .string(255),
                col_id("DelayActions")
                    .nullable()
                    .category(Category::Formatted)
                    .string(255),
                col_id("Component_").id_string(72),
            ],
            failure,
        ),
    ]
}

/// The columns of a sequence table.
fn sequence_columns() -> Vec<Column> {
    vec![
        col_id("Action").primary_key().id_string(72),
        col_id("Condition")
            .nullable()
            .category(Category::Condition)
            .string(255),
        col_id("Sequence").nullable().range(-4, 32767).int16(),
    ]
}

/// The rows of a sequence table: (action, condition, sequence number).
fn sequence_rows(rows: &[(&str, Option<&str>, i32)]) -> Vec<Vec<Value>> {
    rows.iter()
        .map(|(a, c, n)| vec![s(a), c.map_or(Value::Null, s), Value::Int(*n)])
        .collect()
}

fn install_execute_sequence_table(p: &Product) -> TableData {
    let mut rows: Vec<(&str, Option<&str>, i32)> = vec![
        ("FindRelatedProducts", None, 25),
        ("CostInitialize", None, 800),
        ("FileCost", None, 900),
        ("CostFinalize", None, 1000),
        ("SetARPINSTALLLOCATION", None, 1001),
        ("MigrateFeatureStates", None, 1200),
        ("InstallValidate", None, 1400),
        // Before anything of this version is installed: the old version goes
        // completely, so an upgrade leaves exactly this version's files.
        ("RemoveExistingProducts", None, 1410),
        ("InstallInitialize", None, 1500),
        ("ProcessComponents", None, 1600),
        ("UnpublishFeatures", None, 1800),
        ("RemoveFiles", None, 3500),
        ("RemoveFolders", None, 3600),
        ("CreateFolders", None, 3700),
        ("InstallFiles", None, 4000),
        ("RegisterUser", None, 6000),
        ("RegisterProduct", None, 6100),
        ("PublishFeatures", None, 6300),
        ("PublishProduct", None, 6400),
        ("InstallFinalize", None, 6600),
    ];
    if !p.meta.services.is_empty() {
        rows.extend([
            ("StopServices", None, 1900),
            ("DeleteServices", None, 2000),
            ("InstallServices", None, 5800),
            ("MsiConfigureServices", None, 5850),
            ("StartServices", None, 5900),
        ]);
    }
    if p.meta.config_dir.is_some() {
        rows.extend([
            ("FerrobusConfigRemove", Some(REMOVE_KEEP), 3400),
            ("FerrobusConfigPurge", Some(REMOVE_PURGE), 3401),
            ("FerrobusConfigInstall", Some("NOT REMOVE=\"ALL\""), 4100),
        ]);
    }
    rows.sort_by_key(|r| r.2);
    (
        "InstallExecuteSequence",
        sequence_columns(),
        sequence_rows(&rows),
    )
}

/// The conditions of the configuration's uninstall actions: a real
/// uninstall, not the removal of the version an upgrade replaces.
const REMOVE_KEEP: &str = "REMOVE=\"ALL\" AND NOT UPGRADINGPRODUCTCODE AND NOT PURGE";
const REMOVE_PURGE: &str = "REMOVE=\"ALL\" AND NOT UPGRADINGPRODUCTCODE AND PURGE";

fn install_ui_sequence_table() -> TableData {
    (
        "InstallUISequence",
        sequence_columns(),
        sequence_rows(&[
            ("FindRelatedProducts", None, 25),
            ("CostInitialize", None, 800),
            ("FileCost", None, 900),
            ("CostFinalize", None, 1000),
            ("MigrateFeatureStates", None, 1200),
            ("ExecuteAction", None, 1300),
        ]),
    )
}

/// The package code: a GUID derived from everything the package holds (the
/// cabinet and every table's rows).
fn package_code(tables: &[TableData], cab_bytes: &[u8]) -> String {
    let value = |v: &Value| match v {
        Value::Null => serde_json::Value::Null,
        Value::Int(i) => (*i).into(),
        Value::Str(s) => s.clone().into(),
        Value::Binary => "<binary stream>".into(),
    };
    let rows: Vec<(&str, Vec<Vec<serde_json::Value>>)> = tables
        .iter()
        .map(|(name, _, rows)| {
            let rows = rows.iter().map(|r| r.iter().map(value).collect()).collect();
            (*name, rows)
        })
        .collect();
    let id = crate::fingerprint::Fingerprint::new("msi-package")
        .with("cabinet", sha256_bytes(cab_bytes))
        .with("tables", rows)
        .key();
    derived_guid(&format!("package\n{id}"))
}

/// Write the database to `out`: the summary information, the tables and the
/// cabinet stream.
fn write_database(
    out: &Path,
    p: &Product,
    package_code: &str,
    tables: Vec<TableData>,
    cab_bytes: &[u8],
) -> Result<()> {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(out)
        .with_context(|| format!("creating {}", out.display()))?;
    let mut pkg = Package::create(PackageType::Installer, file)?;
    pkg.set_database_codepage(msi::CodePage::Windows1252);
    set_summary_info(pkg.summary_info_mut(), p, package_code)?;
    for (name, cols, rows) in tables {
        pkg.create_table(name, cols)
            .with_context(|| format!("creating table {name}"))?;
        pkg.insert_rows(Insert::into(name).rows(rows))
            .with_context(|| format!("filling table {name}"))?;
    }
    {
        let mut w = pkg.write_stream(CAB)?;
        w.write_all(cab_bytes)?;
    }
    pkg.flush()?;
    Ok(())
}

fn set_summary_info(si: &mut msi::SummaryInfo, p: &Product, package_code: &str) -> Result<()> {
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(p.epoch);
    si.set_codepage(msi::CodePage::Windows1252);
    si.set_title("Installation Database");
    si.set_subject(p.meta.product_name.clone());
    si.set_author(p.meta.manufacturer.clone());
    si.set_keywords(&["Installer".to_string(), p.meta.product_name.clone()]);
    if !p.description.is_empty() {
        si.set_comments(p.description.to_string());
    }
    si.set_arch("x64");
    si.set_languages(&[msi::LanguageId::from_id(1033)]);
    si.set_uuid(
        uuid::Uuid::parse_str(package_code.trim_matches(['{', '}'])).context("package code")?,
    );
    si.set_creating_application(format!("ferrobus {}", env!("CARGO_PKG_VERSION")));
    si.set_creation_time(when);
    si.set_last_save_time(when);
    si.set_page_count(500); // Windows Installer 5.0, x64
    si.set_word_count(2); // long file names, compressed
    si.set_doc_security(2); // read-only recommended
    Ok(())
}

/// Rewrite the compound file compacted, with its root entry times (the only
/// ones `cfb` takes from the clock) set: modified at SOURCE_DATE_EPOCH,
/// created zero.
///
/// The `msi` crate rewrites streams while it builds the database, which leaves
/// freed sectors and stream chains that run backwards in the file (a chain
/// may continue at mini sector 0). Windows Installer reads that, but
/// osslsigncode refuses it ("Get corrupted sector location 0x00000000"), so the
/// file is copied into a fresh one whose chains are laid out in order.
fn fix_cfb_times(path: &Path, epoch: u64) -> Result<()> {
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(epoch);
    let mut src = cfb::open(path).with_context(|| format!("reopening {}", path.display()))?;
    let mut c = src
        .copy_to(std::io::Cursor::new(Vec::new()))
        .with_context(|| format!("compacting {}", path.display()))?;
    drop(src);
    c.set_modified_time("/", when)?;
    // The specification wants the root's creation time zero (1601-01-01),
    // and osslsigncode refuses to sign a database where it is not.
    c.set_created_time(
        "/",
        SystemTime::UNIX_EPOCH - Duration::from_secs(11_644_473_600),
    )?;
    c.flush()?;
    fs::write(path, c.into_inner().into_inner())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids() {
        let g = "{6f1c8a3e-2b4d-4c5e-9a7b-1c2d3e4f5a6b}";
        assert_eq!(
            canonical_guid(g).unwrap(),
            "{6F1C8A3E-2B4D-4C5E-9A7B-1C2D3E4F5A6B}"
        );
        assert!(parse_guid("{not-a-guid}").is_none());
        let a = derived_guid("x");
        assert_eq!(a, derived_guid("x"));
        assert_ne!(a, derived_guid("y"));
        assert!(parse_guid(&a).is_some());
    }

    #[test]
    fn versions() {
        assert_eq!(product_version("0.1.0").unwrap(), "0.1.0");
        assert_eq!(product_version("1.2").unwrap(), "1.2.0");
        assert!(product_version("1.0.0rc1").is_err());
        assert!(product_version("256.0.0").is_err());
    }

    #[test]
    fn short_names_are_unique() {
        let mut t = HashSet::new();
        assert_eq!(short_name("python.exe", &mut t), "python.exe");
        assert_eq!(short_name("site-packages", &mut t), "SITE-P~1");
        assert_eq!(short_name("site-packagez", &mut t), "SITE-P~2");
        assert_eq!(
            short_name("_yaml.cp313-win_amd64.pyd", &mut t),
            "_YAMLC~1.PYD"
        );
        assert_eq!(short_name("PYTHON.EXE", &mut t), "PYTHON~1.EXE");
    }
}
