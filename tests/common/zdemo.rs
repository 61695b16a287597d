//! The zlib + zdemo fixture: a small real project in a temporary directory. zlib
//! (the real source) and zdemo, a tiny C program linking it, are served from a
//! local HTTP server; their definitions are in `software-defs/`, the projects in
//! `projects/`; builds use a private cache and build dir.

use super::{Server, ferrobus, sha256, targz, write_def, write_project, zlib_def};
use std::path::PathBuf;

/// zdemo's program: compresses and uncompresses a string with zlib in a second
/// thread, prints `zlib <version> ok`. Built with gcc on a current glibc it needs
/// GLIBC_2.34 (`__libc_start_main`) and more; built for 2.17 (zig) nothing above
/// GLIBC_2.17.
pub const ZDEMO_C: &str = r#"#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <zlib.h>
static void *work(void *arg) { return arg; }
int main(void) {
    const char *msg = "ferrobus ferrobus ferrobus ferrobus";
    unsigned char packed[256], back[256];
    uLongf plen = sizeof packed, blen = sizeof back;
    pthread_t t;
    void *r;
    if (pthread_create(&t, NULL, work, (void *)msg) || pthread_join(t, &r)) return 3;
    if (compress(packed, &plen, (const Bytef *)msg, strlen(msg)) != Z_OK) return 1;
    if (uncompress(back, &blen, packed, plen) != Z_OK) return 2;
    back[blen] = 0;
    printf("zlib %s %s\n", zlibVersion(), strcmp((char *)back, r) == 0 ? "ok" : "bad");
    return 0;
}
"#;

/// zdemo's license keys when a test sets none.
pub const MIT: &str = "license = \"MIT\"";

/// The fixture: its directory, the server and the sha256 of zdemo's source
/// (`zdemo-1.0.tar.gz`: `zdemo.c` and an MIT `LICENSE`).
pub struct Zdemo {
    pub dir: tempfile::TempDir,
    pub srv: Server,
    pub zdemo_sha: String,
    /// The `[[version]]` table of zdemo's definition.
    zdemo_source: String,
}

impl Zdemo {
    /// The sources served, zlib's definition written (`zlib_configure` added to
    /// configure's arguments, `zlib_keys` to its top-level keys, see
    /// [`zlib_def`]) and zdemo's (MIT, no extra step). No project yet.
    pub fn new(zlib_configure: &str, zlib_keys: &str) -> Zdemo {
        let srv = Server::start();
        let zdemo = targz(
            "zdemo-1.0",
            &[
                ("zdemo.c", ZDEMO_C, 0o644),
                ("LICENSE", "MIT License\n\nCopyright (c) zdemo\n", 0o644),
            ],
        );
        let zdemo_sha = sha256(&zdemo);
        let zdemo_source = srv.source("zdemo-1.0.tar.gz", "1.0", zdemo);
        let z = Zdemo {
            dir: tempfile::tempdir().unwrap(),
            srv,
            zdemo_sha,
            zdemo_source,
        };
        z.def("zlib", &zlib_def(&z.srv, zlib_configure, zlib_keys));
        z.write_zdemo(MIT, "");
        z
    }

    /// (Re)write `software-defs/<name>.toml`.
    pub fn def(&self, name: &str, text: &str) {
        write_def(self.dir.path(), name, text);
    }

    /// (Re)write zdemo's definition: `keys` are its license keys (e.g. [`MIT`]),
    /// `extra_step`, unless empty, runs before the compile.
    pub fn write_zdemo(&self, keys: &str, extra_step: &str) {
        let extra = if extra_step.is_empty() {
            String::new()
        } else {
            format!("{extra_step:?}, ")
        };
        self.def(
            "zdemo",
            &format!(
                r#"name = "zdemo"
{keys}
default_version = "1.0"
depends = ["zlib"]
steps = [{extra}"$CC $CPPFLAGS $CFLAGS -o zdemo zdemo.c $LDFLAGS -lz -lpthread", "mkdir -p {{destdir}}{{prefix}}/bin", "cp zdemo {{destdir}}{{prefix}}/bin/"]
{}"#,
                self.zdemo_source
            ),
        );
    }

    /// (Re)write `projects/<name>.toml` (version 1.0, installed in
    /// `/opt/<name>`) with zdemo as its component and `extra` appended.
    pub fn write_project(&self, name: &str, extra: &str) -> PathBuf {
        write_project(self.dir.path(), name, "1.0", &["zdemo"], extra)
    }

    /// The private cache.
    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// The build dir (installers in its `dist/`).
    pub fn build_dir(&self) -> PathBuf {
        self.dir.path().join("build")
    }

    /// Run ferrobus with the private cache and build dir: (success, stdout, stderr).
    pub fn ferrobus(&self, args: &[&str]) -> (bool, String, String) {
        ferrobus(&self.cache(), &self.build_dir(), args)
    }
}

/// `struct Fixture(Zdemo)`, which dereferences to [`Zdemo`], for a test file
/// to add its own methods to (its project, how it runs and builds it).
#[allow(unused_macros)] // not every test file has this fixture
macro_rules! fixture {
    ($(#[$doc:meta])*) => {
        $(#[$doc])*
        struct Fixture($crate::common::zdemo::Zdemo);

        impl std::ops::Deref for Fixture {
            type Target = $crate::common::zdemo::Zdemo;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }
    };
}
#[allow(unused_imports)] // not every test file has this fixture
pub(crate) use fixture;
