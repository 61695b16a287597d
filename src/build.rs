//! build: components in dependency order, independent ones in parallel.
//!
//! Every component is built from its own unpacked source in its own work dir and
//! installed with `DESTDIR` into a private image of the prefix; that image (pruned)
//! is the component's artifact, so attribution of files stays exact however many
//! builds run at once. Artifacts are then copied into the shared build prefix in
//! dependency order: a component builds against a prefix that holds all of its
//! dependencies. (A private prefix per component, the conda placeholder technique,
//! would also hide unrelated finished components from a running configure, at the
//! price of rewriting every artifact on restore; DESTDIR staging was chosen for its
//! simplicity and because every definition here supports DESTDIR.)
//!
//! A component not in the local artifact cache is looked up in the remote one
//! ([`crate::cache::remote`]) before it is built; what is built is pushed there.
//!
//! All `make` processes share one GNU make jobserver with `--jobs` tokens; each
//! running component holds one token for its top-level process, so the number of
//! concurrent jobs across the whole graph never exceeds `--jobs`.

use crate::cache::remote::{Blob, Kind, Remote};
use crate::cache::{Artifact, ArtifactStore, PrefixState};
use crate::extract;
use crate::paths::Layout;
use crate::plan::{Component, Plan};
use crate::util::{remove_any, tail};
use anyhow::{Context, Result, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Total parallelism (jobserver tokens).
    pub jobs: usize,
    /// Build one component at a time.
    pub serial: bool,
    /// Keep work directories of successful builds.
    pub keep_work: bool,
    /// Show progress bars.
    pub progress: bool,
}

/// What happened to one component.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Already in the prefix with the same key.
    UpToDate,
    /// Copied from the artifact cache.
    Restored,
    /// Pulled from the remote cache, then restored.
    Pulled,
    /// Built from source.
    Built,
    /// A build step failed.
    Failed,
}

/// One line of the build report.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentReport {
    /// Component name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Seconds spent (build or restore).
    pub seconds: f64,
    /// When the work began, in seconds since the build stage started.
    pub began: f64,
    /// Build log.
    pub log: PathBuf,
}

/// The result of building a plan.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    /// The build prefix.
    pub prefix: PathBuf,
    /// Per component, in build order.
    pub components: Vec<ComponentReport>,
    /// Wall time of the build stage.
    pub seconds: f64,
}

/// What the scheduler hears about: a job token, or a finished component.
enum Msg {
    Token(std::io::Result<jobserver::Acquired>),
    Done(String, Result<(f64, f64)>),
}

struct Ui {
    mp: MultiProgress,
    progress: bool,
}

impl Ui {
    fn line(&self, s: String) {
        if self.progress {
            let _ = self.mp.println(s);
        } else {
            eprintln!("{s}");
        }
    }
    fn bar(&self, name: &str) -> ProgressBar {
        let pb = self.mp.add(ProgressBar::new_spinner());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {prefix:>10} {elapsed:>4} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.set_prefix(name.to_string());
        pb.enable_steady_tick(Duration::from_millis(200));
        pb
    }
}

/// Exclusive use of a project's build prefix, from the build of its components
/// until the last stage that reads the prefix (the app's wheels are built
/// against it, the stage copies it): another build of the same project in the
/// same cache waits for it to be dropped.
pub struct PrefixLock(#[allow(dead_code)] fs::File);

/// Take the project's prefix lock (waiting, with a message, while another
/// build holds it).
pub fn lock_prefix(plan: &Plan, layout: &Layout) -> Result<PrefixLock> {
    let root = layout.prefix_root(&plan.slot);
    fs::create_dir_all(&root)?;
    let lock = fs::File::create(root.join("lock"))?;
    if fs2::FileExt::try_lock_exclusive(&lock).is_err() {
        eprintln!("waiting for another build of {} to finish...", plan.project);
        fs2::FileExt::lock_exclusive(&lock)?;
    }
    Ok(PrefixLock(lock))
}

/// Build `plan` into its prefix, which `_lock` keeps to this build. `sources`
/// maps component names to fetched files; `client` is the build's jobserver
/// (`--jobs` tokens, shared with the application's wheels).
pub fn build(
    plan: &Plan,
    layout: &Layout,
    sources: &HashMap<String, PathBuf>,
    opts: &BuildOptions,
    client: &jobserver::Client,
    remote: Option<&Arc<Remote>>,
    _lock: &PrefixLock,
) -> Result<BuildReport> {
    let started = Instant::now();
    let root = layout.prefix_root(&plan.slot);
    fs::create_dir_all(&plan.prefix)?;
    let state_path = root.join("state.json");
    let state = prepare_prefix(plan, &state_path)?;
    let store = ArtifactStore::new(&layout.artifacts());
    store.clean_temporaries();
    let logs = layout.project_build(&plan.slot).join("logs");
    fs::create_dir_all(&logs)?;
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut run = Run {
        plan,
        layout,
        sources,
        opts,
        started,
        state,
        state_path,
        store,
        logs,
        ui: Ui {
            mp: if opts.progress {
                MultiProgress::new()
            } else {
                MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden())
            },
            progress: opts.progress,
        },
        client: client.clone(),
        remote: remote.cloned(),
        tx,
        order: start_order(plan, sources),
        done: HashMap::new(),
        running: HashMap::new(),
        failed: Vec::new(),
        queued: Vec::new(),
    };
    run.schedule(&rx)?;
    run.finish()
}

/// Drop whatever the prefix holds that the plan does not want as it is; returns
/// the prefix's state.
fn prepare_prefix(plan: &Plan, state_path: &Path) -> Result<PrefixState> {
    let prefix = &plan.prefix;
    let mut state = PrefixState::load(state_path);
    let wanted: HashMap<&str, &Component> = plan
        .components
        .iter()
        .map(|c| (c.name.as_str(), c))
        .collect();
    let stale: Vec<String> = state
        .components
        .iter()
        .filter(|(n, i)| {
            wanted.get(n.as_str()).is_none_or(|c| c.key != i.key) || !state.intact(n, prefix)
        })
        .map(|(n, _)| n.clone())
        .collect();
    for n in &stale {
        state.remove(n, prefix)?;
    }
    // A prefix without a state file (first build, or state lost) must start empty.
    if state.components.is_empty() {
        for e in fs::read_dir(prefix)?.filter_map(|e| e.ok()) {
            remove_any(&e.path())?;
        }
    }
    state.save(state_path)?;
    Ok(state)
}

/// One build of a plan in progress: the scheduler's state.
struct Run<'a> {
    plan: &'a Plan,
    layout: &'a Layout,
    sources: &'a HashMap<String, PathBuf>,
    opts: &'a BuildOptions,
    started: Instant,
    state: PrefixState,
    state_path: PathBuf,
    store: ArtifactStore,
    logs: PathBuf,
    ui: Ui,
    client: jobserver::Client,
    remote: Option<Arc<Remote>>,
    tx: mpsc::Sender<Msg>,
    order: Vec<&'a Component>,
    done: HashMap<String, ComponentReport>,
    running: HashMap<String, ProgressBar>,
    failed: Vec<anyhow::Error>,
    queued: Vec<String>,
}

impl Run<'_> {
    /// Start, restore and finish components until none is left (or one failed
    /// and the running ones have finished).
    fn schedule(&mut self, rx: &mpsc::Receiver<Msg>) -> Result<()> {
        // Tokens are taken here, one per component about to start, so that
        // components start in priority order (threads racing for tokens would
        // start in any order).
        let helper = {
            let tx = self.tx.clone();
            self.client.clone().into_helper_thread(move |t| {
                let _ = tx.send(Msg::Token(t));
            })?
        };
        let mut requested = 0usize;
        loop {
            self.start_ready()?;
            if !self.failed.is_empty() {
                self.queued.clear();
            }
            let allowed = if self.opts.serial {
                usize::from(self.running.is_empty() && !self.queued.is_empty())
            } else {
                self.queued.len()
            };
            while requested < allowed {
                helper.request_token();
                requested += 1;
            }
            if self.running.is_empty() && self.queued.is_empty() {
                return Ok(());
            }
            match rx.recv()? {
                Msg::Token(token) => {
                    requested -= 1;
                    self.spawn(token?)?;
                }
                Msg::Done(name, r) => self.finished(&name, r)?,
            }
        }
    }

    /// Mark up to date, or restore from the cache, every component whose
    /// dependencies are in the prefix; queue the ones that must be built.
    fn start_ready(&mut self) -> Result<()> {
        let mut progressed = true;
        while progressed && self.failed.is_empty() {
            progressed = false;
            for c in self.order.clone() {
                if self.done.contains_key(&c.name)
                    || self.running.contains_key(&c.name)
                    || self.queued.contains(&c.name)
                    || !c.depends.iter().all(|d| self.done.contains_key(d))
                {
                    continue;
                }
                let log = self.logs.join(format!("{}.log", c.name));
                let current = self.state.components.get(&c.name);
                if current.is_some_and(|i| i.key == c.key) {
                    let r = report(c, Outcome::UpToDate, 0.0, &log);
                    self.done.insert(c.name.clone(), r);
                    progressed = true;
                } else if let Some((art, outcome)) = self.cached(c) {
                    let t = Instant::now();
                    self.state.install(&art, &self.plan.prefix)?;
                    self.state.save(&self.state_path)?;
                    let secs = t.elapsed().as_secs_f64();
                    let what = if outcome == Outcome::Pulled {
                        "pulled"
                    } else {
                        "restored"
                    };
                    self.ui
                        .line(format!("  {what} {} {} ({secs:.1}s)", c.name, c.version));
                    let r = report(c, outcome, secs, &log);
                    self.done.insert(c.name.clone(), r);
                    progressed = true;
                } else {
                    self.queued.push(c.name.clone());
                }
            }
        }
        Ok(())
    }

    /// The artifact of `c` from the local cache, else from the remote one
    /// (stored locally first). A pulled artifact that cannot be stored is
    /// warned about and built instead.
    fn cached(&self, c: &Component) -> Option<(Artifact, Outcome)> {
        if let Some(a) = self.store.lookup(&c.name, &c.key) {
            return Some((a, Outcome::Restored));
        }
        // The remote draws its own byte progress bar.
        let remote = self.remote.as_ref()?;
        let blob = remote
            .pull(Kind::Component, &c.key, &c.name)?
            .into_iter()
            .next()?;
        match self.store.adopt(&c.name, &c.key, &blob.data) {
            Ok(a) => Some((a, Outcome::Pulled)),
            Err(e) => {
                self.ui.line(format!("warning: {e:#}; building it"));
                None
            }
        }
    }

    /// Start the highest-priority queued component with a job token, in its
    /// own thread; without one left, the token goes back.
    fn spawn(&mut self, token: jobserver::Acquired) -> Result<()> {
        let Some(c) = self
            .order
            .iter()
            .find(|c| self.queued.contains(&c.name))
            .copied()
        else {
            return Ok(());
        };
        self.queued.retain(|n| *n != c.name);
        let log = self.logs.join(format!("{}.log", c.name));
        let src = self
            .sources
            .get(&c.name)
            .with_context(|| format!("{}: source was not fetched", c.name))?
            .clone();
        let pb = self.ui.bar(&c.name);
        self.running.insert(c.name.clone(), pb.clone());
        let (c, tx, client, store, remote) = (
            c.clone(),
            self.tx.clone(),
            self.client.clone(),
            self.store.clone(),
            self.remote.clone(),
        );
        let work = self
            .layout
            .project_build(&self.plan.slot)
            .join("work")
            .join(&c.name);
        let (prefix, keep, jobs) = (
            self.plan.prefix.clone(),
            self.opts.keep_work,
            self.opts.jobs,
        );
        let began = self.started.elapsed().as_secs_f64();
        std::thread::spawn(move || {
            let r = (|| -> Result<(f64, f64)> {
                let _token = token;
                let t = Instant::now();
                build_one(&c, &prefix, &src, &work, &log, &client, jobs, &pb)?;
                let secs = t.elapsed().as_secs_f64();
                pb.set_message("storing artifact");
                let image = work.join("destdir").join(prefix.strip_prefix("/")?);
                let art = store.store(&c.name, &c.version, &c.key, &image, &prefix, secs)?;
                if !keep {
                    discard(&work);
                }
                if let Some(r) = remote.filter(|r| r.writable()) {
                    pb.set_message(format!("pushing to {}", r.url()));
                    push_artifact(&r, &art)?;
                }
                Ok((secs, began))
            })();
            let _ = tx.send(Msg::Done(c.name.clone(), r));
        });
        Ok(())
    }

    /// A component's build ended: install its artifact, or record the failure.
    fn finished(&mut self, name: &str, r: Result<(f64, f64)>) -> Result<()> {
        let pb = self.running.remove(name).expect("running component");
        pb.finish_and_clear();
        let c = self.plan.get(name).expect("planned component");
        let log = self.logs.join(format!("{name}.log"));
        match r {
            Ok((secs, began)) => {
                let art = self
                    .store
                    .lookup(&c.name, &c.key)
                    .with_context(|| format!("{name}: artifact missing after build"))?;
                self.state.install(&art, &self.plan.prefix)?;
                self.state.save(&self.state_path)?;
                self.ui
                    .line(format!("  built {} {} ({secs:.1}s)", c.name, c.version));
                let mut r = report(c, Outcome::Built, secs, &log);
                r.began = began;
                self.done.insert(name.to_string(), r);
            }
            Err(e) => {
                self.ui.line(format!("  FAILED {} {}", c.name, c.version));
                let r = report(c, Outcome::Failed, 0.0, &log);
                self.done.insert(name.to_string(), r);
                self.failed.push(anyhow::anyhow!(
                    "component {name} failed (target {}): {e:#}\n  log: {}\n--- last lines of the log ---\n{}\n---",
                    self.plan.target,
                    log.display(),
                    tail(&log, 25)
                ));
            }
        }
        Ok(())
    }

    /// The report, or the first failure with the components it left unbuilt.
    fn finish(mut self) -> Result<BuildReport> {
        let plan = self.plan;
        if let Some(e) = self.failed.drain(..).next() {
            let waiting: Vec<&str> = plan
                .components
                .iter()
                .filter(|c| !self.done.contains_key(&c.name))
                .map(|c| c.name.as_str())
                .collect();
            if waiting.is_empty() {
                return Err(e);
            }
            return Err(anyhow::anyhow!(
                "{e}\nnot built because of this failure: {}",
                waiting.join(", ")
            ));
        }
        let components = plan
            .components
            .iter()
            .map(|c| self.done.remove(&c.name).expect("every component done"))
            .collect();
        Ok(BuildReport {
            prefix: plan.prefix.clone(),
            components,
            seconds: self.started.elapsed().as_secs_f64(),
        })
    }
}

/// The order in which ready components are started: longest estimated path to the
/// end of the graph first (so that the critical path starts early), estimating a
/// component's cost by the size of its source archive, the one figure known before
/// anything is built.
fn start_order<'a>(plan: &'a Plan, sources: &HashMap<String, PathBuf>) -> Vec<&'a Component> {
    let cost = |c: &Component| -> u64 {
        sources
            .get(&c.name)
            .and_then(|p| fs::metadata(p).ok())
            .map_or(1, |m| m.len().max(1))
    };
    let mut path: HashMap<&str, u64> = HashMap::new();
    // Reverse build order: dependents come before their dependencies.
    for c in plan.components.iter().rev() {
        let after = plan
            .components
            .iter()
            .filter(|d| d.depends.contains(&c.name))
            .filter_map(|d| path.get(d.name.as_str()))
            .max()
            .copied()
            .unwrap_or(0);
        path.insert(&c.name, cost(c) + after);
    }
    let mut order: Vec<&Component> = plan.components.iter().collect();
    order.sort_by_key(|c| std::cmp::Reverse(path[c.name.as_str()]));
    order
}

/// Push one stored artifact to the remote cache (failures there only warn).
pub fn push_artifact(remote: &Remote, art: &Artifact) -> Result<()> {
    let m = &art.manifest;
    let blob = Blob {
        title: format!("{}-{}.tar.zst", m.name, m.version),
        media_type: "application/vnd.ferrobus.component.v1.tar+zstd".into(),
        data: ArtifactStore::pack(art)?,
    };
    remote.push(Kind::Component, &m.key, &m.name, vec![blob]);
    Ok(())
}

fn report(c: &Component, outcome: Outcome, seconds: f64, log: &Path) -> ComponentReport {
    ComponentReport {
        name: c.name.clone(),
        version: c.version.clone(),
        outcome,
        seconds,
        began: 0.0,
        log: log.to_path_buf(),
    }
}

/// Move a work dir aside and delete it. A killed earlier run may have left
/// processes writing into it; renaming first keeps them out of the new build.
fn discard(work: &Path) {
    if fs::symlink_metadata(work).is_err() {
        return;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let trash = work.with_file_name(format!(
        ".trash-{}-{nanos}",
        work.file_name().unwrap_or_default().to_string_lossy()
    ));
    if fs::rename(work, &trash).is_ok() {
        let _ = fs::remove_dir_all(&trash);
    }
}

/// Unpack, patch, run the steps with DESTDIR, check and prune one component.
#[allow(clippy::too_many_arguments)]
fn build_one(
    c: &Component,
    prefix: &Path,
    archive: &Path,
    work: &Path,
    log_path: &Path,
    client: &jobserver::Client,
    jobs: usize,
    pb: &ProgressBar,
) -> Result<()> {
    discard(work);
    for d in ["home", "tmp", "destdir", "src"] {
        fs::create_dir_all(work.join(d))?;
    }
    // Appended to (also by the compiler wrappers, which add each command).
    let _ = fs::remove_file(log_path);
    let mut log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)?;
    writeln!(log, "==> {} {} (key {})", c.name, c.version, c.key)?;
    pb.set_message("unpacking");
    extract::unpack(archive, &work.join("src")).with_context(|| {
        format!(
            "{}: unpacking its source {} (cached as {})",
            c.name,
            c.source.file_name,
            archive.display()
        )
    })?;
    let source = extract::source_root(&work.join("src"))?;
    let destdir = work.join("destdir");
    let mut vars: BTreeMap<&str, String> = BTreeMap::new();
    vars.insert("prefix", prefix.display().to_string());
    vars.insert("work", work.display().to_string());
    vars.insert("source", source.display().to_string());
    vars.insert("destdir", destdir.display().to_string());
    vars.insert("jobs", jobs.to_string());
    vars.insert("version", c.version.clone());
    let mut env: BTreeMap<String, String> = c
        .env
        .iter()
        .map(|(k, v)| (k.clone(), crate::util::expand(v, &vars)))
        .collect();
    let guard_log = log_path.with_extension("guard.jsonl");
    let _ = fs::remove_file(&guard_log);
    guard_env(
        &mut env,
        &format!("component {} {}", c.name, c.version),
        &guard_log,
        log_path,
        prefix,
        &c.hermetic_allow.keys().cloned().collect::<Vec<_>>(),
    );
    for (p, _) in &c.patches {
        pb.set_message(format!("patch {}", p.display()));
        writeln!(log, "==> patch -p1 -i {}", p.display())?;
        run(
            Command::new("patch").arg("-p1").arg("-i").arg(p),
            &source,
            &env,
            &log,
            None,
        )
        .with_context(|| format!("{}: applying patch {}", c.name, p.display()))?;
    }
    write_env(&mut log, &env)?;
    let steps = (|| -> Result<()> {
        for (i, step) in c.steps.iter().enumerate() {
            let step = crate::util::expand(step, &vars);
            let short: String = step.chars().take(100).collect();
            pb.set_message(format!("[{}/{}] {short}", i + 1, c.steps.len()));
            writeln!(log, "==> step {}: {step}", i + 1)?;
            log.flush()?;
            run(
                Command::new("/bin/sh").arg("-ec").arg(&step),
                &source,
                &env,
                &log,
                Some((client, jobs)),
            )
            .with_context(|| format!("{}: step {} failed: {short}", c.name, i + 1))?;
        }
        Ok(())
    })();
    // What the build read from the host fails it, even when the steps passed
    // (a configure test that failed on a refused flag only turns a feature off).
    crate::toolchain::guard::verdict(
        &guard_log,
        &format!("component {} ({})", c.name, c.definition.display()),
        "Provide it from a component in the prefix, or allow it in the definition: \
         [hermetic] allow = { \"<tool or directory>\" = \"<reason>\" }.",
    )?;
    steps?;
    pb.set_message("checking install");
    let image = destdir.join(prefix.strip_prefix("/")?);
    if !image.is_dir() {
        bail!(
            "{}: the steps installed nothing under DESTDIR{} (did the install step use DESTDIR={{destdir}}?)",
            c.name,
            prefix.display()
        );
    }
    // Everything must be inside DESTDIR/prefix.
    for e in walkdir::WalkDir::new(&destdir).min_depth(1) {
        let e = e?;
        let rel = e.path().strip_prefix(&destdir)?;
        let inside = Path::new("/").join(rel);
        if !(prefix.starts_with(&inside) || inside.starts_with(prefix)) {
            bail!(
                "{}: installed {} outside the prefix {}",
                c.name,
                inside.display(),
                prefix.display()
            );
        }
    }
    crate::util::prune(&image, &c.prune, &[]).with_context(|| format!("{}: prune", c.name))?;
    Ok(())
}

/// Add the hermetic guard's variables to a unit's environment
/// ([`crate::toolchain::guard`]): the unit's name, its guard log, the log its
/// compiler commands are appended to, the prefix, and what it may read from the
/// host after all.
pub fn guard_env(
    env: &mut BTreeMap<String, String>,
    unit: &str,
    guard_log: &Path,
    cc_log: &Path,
    prefix: &Path,
    allow: &[String],
) {
    use crate::toolchain::guard as g;
    env.insert(g::ENV_UNIT.into(), unit.into());
    env.insert(g::ENV_LOG.into(), guard_log.display().to_string());
    env.insert(g::ENV_CC_LOG.into(), cc_log.display().to_string());
    env.insert(g::ENV_PREFIX.into(), prefix.display().to_string());
    // When this process is ferrobus, the wrappers run it through
    // /proc/<pid>/exe ([`crate::toolchain::running_ferrobus`]): by its path,
    // they would fail to start while the file is being replaced, and a
    // configure script takes each failed check for a missing function (seen
    // here: a CPython without socket.shutdown, under an unchanged key).
    let exe = crate::toolchain::running_ferrobus()
        .map(Ok)
        .unwrap_or_else(crate::toolchain::self_exe);
    if let Ok(exe) = exe {
        env.insert(g::ENV_EXE.into(), exe.display().to_string());
    }
    if !allow.is_empty() {
        env.insert(g::ENV_ALLOW.into(), allow.join("\n"));
    }
}

/// The environment a unit's commands run with, at the top of its log.
pub fn write_env(log: &mut impl Write, env: &BTreeMap<String, String>) -> Result<()> {
    writeln!(log, "==> environment (nothing else is inherited):")?;
    for (k, v) in env {
        writeln!(log, "    {k}={v}")?;
    }
    Ok(())
}

/// Run one command with a clean environment, output appended to the log.
fn run(
    cmd: &mut Command,
    cwd: &Path,
    env: &BTreeMap<String, String>,
    log: &fs::File,
    client: Option<(&jobserver::Client, usize)>,
) -> Result<()> {
    cmd.current_dir(cwd)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?);
    if let Some((c, jobs)) = client {
        c.configure_make(cmd);
        cmd.env_remove("CARGO_MAKEFLAGS");
        // Say how many slots there are (`-jN`, as GNU make itself does in MAKEFLAGS)
        // rather than a bare `-j`: a Makefile that passes $(MFLAGS) on a sub-make's
        // command line (readline does) then resets to a pool of N, not to unlimited.
        let flags = cmd
            .get_envs()
            .find(|(k, _)| *k == "MAKEFLAGS")
            .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
            .unwrap_or_default();
        if let Some(rest) = flags.strip_prefix("-j ") {
            let flags = format!("-j{jobs} {rest}");
            cmd.env("MAKEFLAGS", &flags).env("MFLAGS", &flags);
        }
    }
    // SAFETY: prctl is async-signal-safe; it makes the step die with ferrobus.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let status = cmd
        .status()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{status}");
    }
    Ok(())
}
