//! Chapter 4's graded tests: the specification of `ch04-layers`, read first.
//!
//! Each test has a store of its own (a temporary `--root`), with the course rootfs imported as
//! the image `base` when it needs one, and a cgroup parent of its own; after each, nothing may be
//! left: no mount, no process, no cgroup, no staging file, and no container unless the test made
//! one on purpose. Layers are untrusted input: some tests craft hostile tarballs.
//! Book: "Chapter 4: layers".

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use testkit::{CgroupParent, Outcome, assert_outcome, require_root};

const BINARY: &str = env!("CARGO_BIN_EXE_ch04-layers");

/// A store of one test's own, and a directory beside it for contexts and host files.
struct Lab {
    dir: tempfile::TempDir,
    parent: CgroupParent,
}

impl Lab {
    fn new() -> Lab {
        require_root();
        let parent = testkit::workspace::target().join("test-store");
        fs::create_dir_all(&parent).expect("creating target/test-store");
        let dir = tempfile::Builder::new().prefix("coracle-store-").tempdir_in(&parent).expect("a test store");
        Lab { dir, parent: CgroupParent::new() }
    }

    /// A lab whose store holds the course rootfs as `base`.
    fn with_base() -> Lab {
        let lab = Lab::new();
        let tar = testkit::grade::rootfs().parent().expect("target").join("rootfs.tar");
        let imported = lab.cmd(&["import", &tar.to_string_lossy(), "base"]);
        assert_eq!(imported.code, Some(0), "importing the course rootfs failed: {imported}");
        lab
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn store(&self) -> PathBuf {
        self.dir().join("store")
    }

    fn command(&self) -> Command {
        let mut command = Command::new(BINARY);
        command.env_remove("TERM").arg("--root").arg(self.store());
        command
    }

    fn cmd(&self, args: &[&str]) -> Outcome {
        Outcome::of(self.command().args(args))
    }

    /// `run` with this test's cgroup parent.
    fn run(&self, args: &[&str]) -> Outcome {
        Outcome::of(self.command().args(["run", "--cgroup-parent", self.parent.name()]).args(args))
    }

    /// Writes `files` (path, content) under `dir()/name` and returns that directory.
    fn context(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let root = self.dir().join(name);
        for (path, content) in files {
            let path = root.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, content).unwrap();
        }
        root
    }

    fn build(&self, tag: &str, context: &Path, extra: &[&str]) -> Outcome {
        Outcome::of(self.command().args(["build", "-t", tag]).args(extra).arg(context))
    }

    /// The containers the store holds.
    fn containers(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.store().join("containers"))
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    fn layers(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.store().join("layers"))
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| !n.ends_with(".json")).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Nothing left: no mount or process in the lab, no cgroup, nothing staged, and only
    /// `containers` containers.
    fn assert_clean(&self, containers: usize) {
        let mounts = testkit::rootfs::mounts_under(self.dir()).expect("reading the mount table");
        assert!(mounts.is_empty(), "mounts left behind: {mounts:?}");
        let mut processes = testkit::grade::processes_rooted_in(self.dir());
        processes.extend(testkit::grade::processes_pivoted_into(self.dir()));
        assert!(processes.is_empty(), "processes left running: {processes:?}");
        self.parent.assert_clean();
        let staged: Vec<_> = fs::read_dir(self.store().join("tmp")).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        assert!(staged.is_empty(), "staging files left behind: {staged:?}");
        assert_eq!(self.containers().len(), containers, "containers in the store: {:?}", self.containers());
    }
}

/// What varies between runs: ids (they digest creation times), times, and the table padding
/// that follows their width.
const IDS: (&str, &str) = (r"\b[0-9a-f]{64}\b", "[ID]");
const SHORT_IDS: (&str, &str) = (r"\b[0-9a-f]{12}\b", "[SHORT ID]");
const TIMES: (&str, &str) = (r"(Less than a second|About a minute|\d+ (second|minute|hour)s?) ago", "[WHEN]");
const COLUMNS: (&str, &str) = (r"(\S)  +", "$1   ");
const DATES: (&str, &str) = (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[DATE]");
const STORE: (&str, &str) = (r"\[ROOTFS\]", "[STORE]");
const LAB: (&str, &str) = (r"\[TEST DIR\]", "[LAB]");

macro_rules! snapshot {
    ($lab:expr, $outcome:expr) => {
        assert_outcome!($outcome, &$lab.store(), (STORE.0, STORE.1), (LAB.0, LAB.1), (IDS.0, IDS.1), (SHORT_IDS.0, SHORT_IDS.1), (TIMES.0, TIMES.1), (DATES.0, DATES.1), (COLUMNS.0, COLUMNS.1))
    };
}

/// The image id a build ended with.
fn built_id(outcome: &Outcome) -> String {
    outcome.stdout.lines().find_map(|l| l.strip_prefix("Successfully built ")).unwrap_or_else(|| panic!("the build did not finish: {outcome}")).to_string()
}

// ───────────────────────────── the store: import, images, rmi ─────────────────────────────

#[test]
fn import_then_run_the_image() {
    let lab = Lab::with_base();
    let images = lab.cmd(&["images"]);
    let ran = lab.run(&["--rm", "base", "probe", "ids", "root", "cwd"]);
    lab.assert_clean(0);
    snapshot!(lab, format!("images:\n{images}run --rm base probe ids root cwd:\n{ran}"));
}

#[test]
fn a_directory_imports_like_a_tar() {
    let lab = Lab::new();
    let dir = lab.context("tree", &[("hello.txt", "hello from a directory\n"), ("bin/.keep", "")]);
    let busybox = testkit::grade::rootfs().join("bin/busybox");
    fs::copy(&busybox, dir.join("bin/cat")).unwrap();
    let imported = lab.cmd(&["import", &dir.to_string_lossy(), "tree:v1"]);
    let ran = lab.run(&["--rm", "tree:v1", "/bin/cat", "/hello.txt"]);
    lab.assert_clean(0);
    snapshot!(lab, format!("import DIR tree:v1:\n{imported}run:\n{ran}"));
}

#[test]
fn rmi_refuses_an_image_in_use_then_removes_what_nothing_needs() {
    let lab = Lab::with_base();
    let kept = lab.run(&["--name", "keeper", "base", "true"]);
    assert_eq!(kept.code, Some(0), "{kept}");
    let refused = lab.cmd(&["rmi", "base"]);
    let ps = lab.cmd(&["ps", "-a"]);
    let removed_container = lab.cmd(&["rm", "keeper"]);
    let removed = lab.cmd(&["rmi", "base"]);
    let images = lab.cmd(&["images"]);
    assert!(lab.layers().is_empty(), "layers left after the last image went: {:?}", lab.layers());
    lab.assert_clean(0);
    snapshot!(lab, format!("rmi while a container uses it:\n{refused}ps -a:\n{ps}rm keeper:\n{removed_container}rmi base:\n{removed}images:\n{images}"));
}

// ───────────────────────────── running an image ─────────────────────────────

#[test]
fn writes_stay_in_the_container() {
    let lab = Lab::with_base();
    let first = lab.run(&["--name", "first", "base", "sh", "-c", "echo mine > /etc/written && rm /etc/passwd && cat /etc/written"]);
    let second = lab.run(&["--rm", "base", "sh", "-c", "cat /etc/written; head -1 /etc/passwd"]);
    // The image's own layer is untouched: the write and the delete live in the first's upper dir.
    let layer = lab.store().join("layers").join(&lab.layers()[0]);
    assert!(!layer.join("etc/written").exists() && layer.join("etc/passwd").exists(), "a container wrote into the image's layer");
    let upper = lab.store().join("containers").join(&lab.containers()[0]).join("upper");
    assert!(upper.join("etc/written").exists(), "the write is not in the container's upper dir");
    lab.assert_clean(1);
    let removed = lab.cmd(&["rm", "first"]);
    lab.assert_clean(0);
    snapshot!(lab, format!("first container:\n{first}second container of the same image:\n{second}rm first:\n{removed}"));
}

#[test]
fn rm_flag_removes_the_container_and_without_it_ps_lists_it() {
    let lab = Lab::with_base();
    let removed = lab.run(&["--rm", "base", "true"]);
    lab.assert_clean(0);
    let kept = lab.run(&["--name", "kept", "base", "sh", "-c", "exit 3"]);
    let ps = lab.cmd(&["ps"]);
    let ps_all = lab.cmd(&["ps", "-a"]);
    let taken = lab.run(&["--name", "kept", "base", "true"]);
    lab.assert_clean(1);
    snapshot!(lab, format!("run --rm:\n{removed}run --name kept (exit 3):\n{kept}ps:\n{ps}ps -a:\n{ps_all}the name again:\n{taken}"));
}

#[test]
fn a_killed_runtime_leaves_nothing_after_the_next_run() {
    let lab = Lab::with_base();
    let mut command = lab.command();
    command.args(["run", "--rm", "--cgroup-parent", lab.parent.name(), "base", "sh", "-c", "echo started; sleep 30"]);
    let mut running = testkit::Background::start(&mut command);
    running.wait_for_line("started");
    // SIGKILL: the runtime cannot clean up. Its container dies with it (chapter 2's parent-death
    // signal), and leaves its directory and its cgroup behind, until the next run.
    running.signal(nix::sys::signal::Signal::SIGKILL);
    let killed = running.finish();
    let ps = lab.cmd(&["ps", "-a"]);
    assert_eq!(lab.containers().len(), 1, "the killed run's container should still be there before the next run");
    let next = lab.run(&["--rm", "base", "true"]);
    lab.assert_clean(0);
    snapshot!(lab, format!("the runtime, killed:\n{killed}ps -a then:\n{ps}the next run:\n{next}"));
}

#[test]
fn image_config_sets_env_workdir_user_and_cmd() {
    let lab = Lab::with_base();
    let context = lab.context(
        "ctx",
        &[("Dockerfile", "FROM base\nENV GREETING=hello PATH=/usr/local/bin:/bin\nWORKDIR /srv\nWORKDIR app\nUSER app\nCMD [\"probe\", \"ids\", \"cwd\", \"env\"]\n")],
    );
    let built = lab.build("configured", &context, &[]);
    assert_eq!(built.code, Some(0), "{built}");
    let defaults = lab.run(&["--rm", "configured"]);
    let overridden = lab.run(&["--rm", "-u", "root", "-w", "/tmp", "-e", "GREETING=bye", "configured", "probe", "ids", "cwd", "env"]);
    lab.assert_clean(0);
    snapshot!(lab, format!("from the image's config:\n{defaults}with -u root -w /tmp -e GREETING=bye and a command:\n{overridden}"));
}

#[test]
fn entrypoint_and_cmd_combine_like_docker() {
    let lab = Lab::with_base();
    let context = lab.context("ctx", &[("Dockerfile", "FROM base\nENTRYPOINT [\"echo\", \"entry\"]\nCMD [\"default\", \"args\"]\n")]);
    assert_eq!(lab.build("echoer", &context, &[]).code, Some(0));
    let shell = lab.context("shell", &[("Dockerfile", "FROM base\nCMD echo shell form sees $HOME\n")]);
    assert_eq!(lab.build("shell", &shell, &[]).code, Some(0));
    // An ENTRYPOINT drops the CMD it inherits, but not one the same Dockerfile wrote before it.
    let inherits = lab.context("inherits", &[("Dockerfile", "FROM echoer\nENTRYPOINT [\"echo\", \"new entrypoint\"]\n")]);
    assert_eq!(lab.build("inherits", &inherits, &[]).code, Some(0));
    let same_file = lab.context("same", &[("Dockerfile", "FROM base\nCMD [\"kept cmd\"]\nENTRYPOINT [\"echo\"]\n")]);
    assert_eq!(lab.build("same-file", &same_file, &[]).code, Some(0));
    let mut text = String::new();
    for (what, args) in [
        ("run echoer", vec!["echoer"]),
        ("run echoer one two", vec!["echoer", "one", "two"]),
        ("run --entrypoint probe echoer hostname", vec!["--hostname", "given", "--entrypoint", "probe", "echoer", "hostname"]),
        ("run --entrypoint '' echoer (nothing left to run)", vec!["--entrypoint", "", "echoer"]),
        ("run shell", vec!["shell"]),
        ("run inherits (FROM echoer, a new ENTRYPOINT)", vec!["inherits"]),
        ("run same-file (CMD, then ENTRYPOINT)", vec!["same-file"]),
    ] {
        let mut all = vec!["--rm"];
        all.extend(args);
        text.push_str(&format!("{what}:\n{}", lab.run(&all)));
    }
    lab.assert_clean(0);
    snapshot!(lab, text);
}

#[test]
fn user_flag_is_resolved_in_the_image() {
    let lab = Lab::with_base();
    let mut text = String::new();
    for user in ["app", "1000:0", "4242", "app:root", "ghost", "app:ghosts"] {
        text.push_str(&format!("-u {user}:\n{}", lab.run(&["--rm", "-u", user, "base", "probe", "ids", "caps"])));
    }
    lab.assert_clean(0);
    snapshot!(lab, text);
}

#[test]
fn volumes_bind_host_paths_read_write_or_read_only() {
    let lab = Lab::with_base();
    let host = lab.context("host", &[("from-host.txt", "written on the host\n")]);
    let spec = format!("{}:/data", host.display());
    let read_only = format!("{}:/config:ro", host.display());
    let script = "cat /data/from-host.txt; echo back > /data/from-container.txt; echo nope > /config/x || echo read-only refused; \
                  mknod /data/zero c 1 5 || echo no device nodes in a volume";
    let used = lab.run(&["--rm", "-v", &spec, "-v", &read_only, "base", "sh", "-c", script]);
    let back = fs::read_to_string(host.join("from-container.txt")).unwrap_or_else(|_| "(missing)".into());
    assert!(!host.join("x").exists(), "a write through a :ro volume reached the host");
    assert!(!host.join("zero").exists(), "the container made a device node in a host directory");
    let missing = lab.run(&["--rm", "-v", "/no/such/dir:/data", "base", "true"]);
    let relative = lab.run(&["--rm", "-v", "host:/data", "base", "true"]);
    lab.assert_clean(0);
    snapshot!(lab, format!("-v HOST:/data -v HOST:/config:ro:\n{used}on the host afterwards: {back}missing host path:\n{missing}relative host path:\n{relative}"));
}

#[test]
fn chapter_3_limits_apply_to_image_containers() {
    let lab = Lab::with_base();
    let outcome = lab.run(&["--rm", "--memory", "32m", "base", "probe", "hog", "256"]);
    lab.assert_clean(0);
    snapshot!(lab, outcome);
}

#[test]
fn rootless_user_imports_and_runs_an_image() {
    require_root();
    use std::os::unix::process::CommandExt;
    let lab = tempfile::Builder::new().prefix("coracle-rootless-").tempdir().unwrap();
    fs::set_permissions(lab.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let binary = lab.path().join("ch04-layers");
    fs::copy(BINARY, &binary).unwrap();
    fs::set_permissions(&binary, fs::Permissions::from_mode(0o755)).unwrap();
    let tar = lab.path().join("rootfs.tar");
    fs::copy(testkit::grade::rootfs().parent().unwrap().join("rootfs.tar"), &tar).unwrap();
    fs::set_permissions(&tar, fs::Permissions::from_mode(0o644)).unwrap();
    let store = lab.path().join("store");
    let as_nobody = |args: &[&str]| {
        let mut command = Command::new(&binary);
        command.uid(65534).gid(65534).env_remove("TERM").arg("--root").arg(&store).args(args);
        Outcome::of(&mut command)
    };
    let imported = as_nobody(&["import", &tar.to_string_lossy(), "base"]);
    assert_eq!(imported.code, Some(0), "{imported}");
    let ran = as_nobody(&["run", "--rm", "base", "sh", "-c", "probe ids userns; echo written > /etc/new && cat /etc/new"]);
    // Only the user's own uid is mapped: an owner other than root cannot be kept, and says so.
    let context = lab.path().join("ctx");
    fs::create_dir_all(&context).unwrap();
    fs::write(context.join("Dockerfile"), "FROM base\nCOPY Dockerfile /owned\nCOPY --chown=1000 Dockerfile /app-owned\n").unwrap();
    fs::set_permissions(&context, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(context.join("Dockerfile"), fs::Permissions::from_mode(0o644)).unwrap();
    let chown = as_nobody(&["build", "-t", "owned", &context.to_string_lossy()]);
    let left: Vec<_> = fs::read_dir(store.join("containers")).unwrap().flatten().collect();
    assert!(left.is_empty(), "the rootless container was not removed: {left:?}");
    let mounts = testkit::rootfs::mounts_under(lab.path()).unwrap();
    assert!(mounts.is_empty(), "{mounts:?}");
    let text = format!("{ran}COPY --chown=1000, rootless:\n{chown}").replace(&lab.path().display().to_string(), "[LAB]");
    assert_outcome!(text, lab.path());
}

// ───────────────────────────── build ─────────────────────────────

/// A copy of the book's example, `demo/lecture-app`: the lecture's Dockerfile on our busybox base.
fn lecture_context(lab: &Lab) -> PathBuf {
    let context = lab.dir().join("lecture");
    testkit::grade::copy_tree(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/lecture-app")), &context).expect("copying demo/lecture-app");
    context
}

#[test]
fn lecture_dockerfile_builds_and_runs() {
    let lab = Lab::with_base();
    let context = lecture_context(&lab);
    let built = lab.build("lecture-app", &context, &[]);
    let ran = lab.run(&["--rm", "lecture-app"]);
    let files = lab.run(&["--rm", "lecture-app", "sh", "-c", "ls -a /app; ls /app/src; cat /app/installed.txt"]);
    lab.assert_clean(0);
    snapshot!(lab, format!("build:\n{built}run:\n{ran}files:\n{files}"));
}

#[test]
fn history_has_one_row_per_instruction() {
    let lab = Lab::with_base();
    let built = lab.build("lecture-app", &lecture_context(&lab), &[]);
    assert_eq!(built.code, Some(0), "{built}");
    let history = lab.cmd(&["history", "lecture-app"]);
    let full = lab.cmd(&["history", "--no-trunc", "lecture-app"]);
    lab.assert_clean(0);
    snapshot!(lab, format!("history:\n{history}history --no-trunc:\n{full}"));
}

#[test]
fn unchanged_rebuild_is_all_cached_with_the_same_id() {
    let lab = Lab::with_base();
    let context = lecture_context(&lab);
    let first = lab.build("lecture-app", &context, &[]);
    // A fresh checkout changes every mtime but no content: still cached.
    for file in ["requirements.txt", "src/main.py"] {
        fs::File::options().append(true).open(context.join(file)).unwrap().set_modified(std::time::SystemTime::now()).unwrap();
    }
    let second = lab.build("lecture-app", &context, &[]);
    assert_eq!(built_id(&first), built_id(&second), "an unchanged rebuild gave another image");
    let steps: Vec<&str> = second.stdout.lines().filter(|l| l.starts_with('[')).skip(1).collect();
    assert!(steps.iter().all(|l| l.contains("] CACHED ")), "a step was not cached: {steps:?}");
    let no_cache = lab.build("lecture-app", &context, &["--no-cache"]);
    // (Its id may even be the same: the same content, built within the same second, is the same image.)
    assert!(!no_cache.stdout.contains("CACHED"), "--no-cache reused a step: {no_cache}");
    lab.assert_clean(0);
    snapshot!(lab, format!("second build:\n{second}"));
}

#[test]
fn a_changed_file_rebuilds_from_its_copy_on() {
    let lab = Lab::with_base();
    let context = lecture_context(&lab);
    let first = lab.build("lecture-app", &context, &[]);
    fs::write(context.join("src/main.py"), "print('changed')\n").unwrap();
    let second = lab.build("lecture-app", &context, &[]);
    assert_ne!(built_id(&first), built_id(&second));
    let ran = lab.run(&["--rm", "lecture-app"]);
    lab.assert_clean(0);
    snapshot!(lab, format!("rebuild after editing src/main.py:\n{second}run:\n{ran}"));
}

#[test]
fn deletions_become_whiteouts_in_the_layer() {
    let lab = Lab::with_base();
    let context = lab.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM base\nRUN mkdir -p /data/sub && echo one > /data/a && echo two > /data/sub/b && echo kept > /data/kept\n\
             RUN rm /data/a && rm -r /data/sub && mkdir /data/sub && echo new > /data/sub/c\n",
        )],
    );
    let built = lab.build("deleting", &context, &[]);
    assert_eq!(built.code, Some(0), "{built}");
    let seen = lab.run(&["--rm", "deleting", "find", "/data"]);
    // The last layer, as a tar: the deleted file is a `.wh.` entry, the replaced directory opaque.
    let inspect = lab.cmd(&["inspect", "deleting"]);
    let config: serde_json::Value = serde_json::from_str(&inspect.stdout).expect("inspect prints JSON");
    let last = config["rootfs"]["diff_ids"].as_array().unwrap().last().unwrap().as_str().unwrap().trim_start_matches("sha256:").to_string();
    let blob = fs::File::open(lab.store().join("blobs/sha256").join(last)).unwrap();
    let mut entries: Vec<String> = tar::Archive::new(blob).entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
    entries.sort();
    lab.assert_clean(0);
    snapshot!(lab, format!("find /data in the final image:\n{seen}entries of the last layer:\n  {}\n", entries.join("\n  ")));
}

#[test]
fn copy_follows_dockerignore_globs_and_chown() {
    let lab = Lab::with_base();
    let context = lab.context(
        "ctx",
        &[
            // With a UTF-8 byte-order mark, as some editors write it.
            // A COPY through links of the image lands where they point, and keeps them.
            ("Dockerfile", "\u{feff}FROM base\nCOPY --chown=app:app *.txt /drop/\nCOPY . /all/\nCOPY a.txt /tmp/\n\
                            RUN mkdir -p /real/sub && ln -s /real /abs && ln -s real/sub /rel\nCOPY a.txt /abs/\nCOPY b.txt /rel/\n"),
            ("a.txt", "a\n"),
            ("b.txt", "b\n"),
            ("secret.env", "TOKEN=hunter2\n"),
            ("cache/big.bin", "x"),
            (".dockerignore", "*.env\ncache/\n"),
        ],
    );
    let built = lab.build("copied", &context, &[]);
    // COPY into /tmp must leave /tmp as the image has it: 1777, root's.
    let script = "ls -ln /drop | tail -n +2 | awk '{print $3, $4, $9}'; find /all | sort; stat -c '/tmp: %a %U' /tmp; ls /tmp; \
                  readlink /abs; readlink /rel; find /real | sort";
    let seen = lab.run(&["--rm", "copied", "sh", "-c", script]);
    lab.assert_clean(0);
    snapshot!(lab, format!("build:\n{built}in the image:\n{seen}"));
}

#[test]
fn build_args_and_env_substitute_in_instructions() {
    let lab = Lab::with_base();
    let context = lab.context(
        "ctx",
        &[(
            "Dockerfile",
            "ARG BASE=base\nFROM ${BASE}\nARG BASE\nARG DIR=/opt\nENV APP_HOME=${DIR}/app MODE=\"production mode\"\nWORKDIR $APP_HOME\n\
             RUN echo \"arg DIR=$DIR, env APP_HOME=$APP_HOME, BASE=$BASE\" > built.txt\nLABEL version=\"${VERSION:-none}\"\n",
        )],
    );
    let built = lab.build("args", &context, &["--build-arg", "DIR=/srv"]);
    let seen = lab.run(&["--rm", "args", "sh", "-c", "pwd; cat built.txt; echo \"MODE=$MODE DIR=${DIR:-unset in the image}\""]);
    let labels = lab.cmd(&["inspect", "args"]);
    let config: serde_json::Value = serde_json::from_str(&labels.stdout).unwrap();
    lab.assert_clean(0);
    snapshot!(lab, format!("build --build-arg DIR=/srv:\n{built}run:\n{seen}labels: {}\n", config["config"]["Labels"]));
}

#[test]
fn dockerfile_errors_name_the_line_and_build_nothing() {
    let lab = Lab::with_base();
    let cases = [
        ("unknown instruction", "FROM base\nRUN true\nFETCH http://example.com\n"),
        ("unsupported instruction", "FROM base\nADD x.tar /\n"),
        ("COPY with one argument", "FROM base\n\nCOPY onlyone\n"),
        ("bad EXPOSE", "FROM base\nEXPOSE eighty\n"),
        ("no FROM", "RUN true\n"),
        ("FROM an image not in the store", "# comment\nFROM nosuch:1.0\nRUN true\n"),
        ("FROM a bad reference", "FROM Not/Valid\n"),
        ("COPY outside the context", "FROM base\nCOPY ../secret /x\n"),
        ("COPY a missing file", "FROM base\nCOPY missing.txt /x\n"),
        ("several sources, a file destination", "FROM base\nCOPY a.txt b.txt /dest\n"),
        ("unterminated variable", "FROM base\nENV A=${B\n"),
        ("a second FROM", "FROM base\nFROM base\n"),
        ("COPY into a file of the image", "FROM base\nCOPY a.txt /etc/passwd/\n"),
        ("a RUN making a file named like a whiteout", "FROM base\nRUN touch /bin/.wh..wh..opq\n"),
    ];
    let mut text = String::new();
    for (i, (what, dockerfile)) in cases.iter().enumerate() {
        let context = lab.context(&format!("case{i}"), &[("Dockerfile", dockerfile), ("a.txt", "a"), ("b.txt", "b")]);
        text.push_str(&format!("{what}:\n{}", lab.build("broken", &context, &[])));
    }
    let failing = lab.context("failing", &[("Dockerfile", "FROM base\nRUN echo about to fail && exit 3\nRUN echo never\n")]);
    text.push_str(&format!("a RUN that fails (docker build exits 1):\n{}", lab.build("broken", &failing, &[])));
    let images = lab.cmd(&["images"]);
    assert!(!images.stdout.contains("broken"), "a failed build was tagged: {images}");
    lab.assert_clean(0);
    snapshot!(lab, text);
}

// ───────────────────────────── bad input and hostile layers ─────────────────────────────

#[test]
fn bad_input_is_one_line_exit_125_and_leaves_nothing() {
    let lab = Lab::with_base();
    let mut text = String::new();
    let tar = lab.dir().join("not-a-tar.txt");
    fs::write(&tar, "this is not a tar archive, just text that is long enough to fill a header block ".repeat(10)).unwrap();
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("import a missing file", vec!["import".into(), "/no/such.tar".into(), "x".into()]),
        ("import a file that is not a tar", vec!["import".into(), tar.display().to_string(), "x".into()]),
        ("import with an uppercase name", vec!["import".into(), tar.display().to_string(), "Base".into()]),
        ("import an endless input", vec!["import".into(), "/dev/zero".into(), "x".into()]),
        ("run an image that is not there", vec!["run".into(), "nosuch".into()]),
        ("run with a digest reference", vec!["run".into(), "base@sha256:abcd".into(), "true".into()]),
        ("run with a bad memory limit", vec!["run".into(), "--memory".into(), "1k".into(), "base".into(), "true".into()]),
        ("run with a bad volume option", vec!["run".into(), "-v".into(), "/tmp:/x:rx".into(), "base".into(), "true".into()]),
        ("run with a volume under /dev", vec!["run".into(), "-v".into(), "/tmp:/dev/x".into(), "base".into(), "true".into()]),
        ("run with a bad name", vec!["run".into(), "--name".into(), "no spaces".into(), "base".into(), "true".into()]),
        ("run a command that is not there", vec!["run".into(), "base".into(), "no-such-command".into()]),
        ("history of an image that is not there", vec!["history".into(), "nosuch".into()]),
        ("rmi of an image that is not there", vec!["rmi".into(), "nosuch".into()]),
        ("rm of a container that is not there", vec!["rm".into(), "nosuch".into()]),
    ];
    for (what, args) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let outcome = lab.cmd(&args);
        assert_eq!(outcome.stderr.lines().count(), 1, "{what}: not one line: {outcome}");
        text.push_str(&format!("{what}:\n{outcome}"));
    }
    assert_eq!(lab.layers().len(), 1, "a failed import left a layer: {:?}", lab.layers());
    lab.assert_clean(0);
    snapshot!(lab, text);
}

/// One entry of a hand-made tar, with its name written raw, as an attacker would.
enum Raw<'a> {
    File(&'a str, &'a str),
    Fifo(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

/// The course rootfs's entries followed by `extra`'s: a hostile layer with a shell to look around.
fn on_the_course_rootfs(extra: Vec<u8>) -> Vec<u8> {
    let base = fs::File::open(testkit::grade::rootfs().parent().unwrap().join("rootfs.tar")).unwrap();
    let mut builder = tar::Builder::new(Vec::new());
    for archive in [Box::new(base) as Box<dyn std::io::Read>, Box::new(std::io::Cursor::new(extra))] {
        for entry in tar::Archive::new(archive).entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            builder.append(&header, &mut entry).unwrap();
        }
    }
    builder.into_inner().unwrap()
}

fn hostile_tar(entries: &[Raw]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        let (name, link, data, kind) = match entry {
            Raw::File(name, data) => (*name, "", data.as_bytes(), tar::EntryType::Regular),
            Raw::Symlink(name, target) => (*name, *target, &b""[..], tar::EntryType::Symlink),
            Raw::Hardlink(name, target) => (*name, *target, &b""[..], tar::EntryType::Link),
            Raw::Fifo(name) => (*name, "", &b""[..], tar::EntryType::Fifo),
        };
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

#[test]
fn hostile_layers_are_refused_or_contained() {
    let lab = Lab::with_base();
    let canary = lab.dir().join("outside");
    fs::create_dir_all(&canary).unwrap();
    fs::write(canary.join("secret.txt"), "host secret\n").unwrap();
    let outside = canary.display().to_string();
    let secret = format!("{outside}/secret.txt");
    let cases: Vec<(&str, Vec<Raw>)> = vec![
        ("a path with ..", vec![Raw::File("../escaped.txt", "x")]),
        ("a deeper path with ..", vec![Raw::File("a/../../escaped.txt", "x")]),
        ("a symlink out, then a file through it", vec![Raw::Symlink("link", &outside), Raw::File("link/escaped.txt", "x")]),
        ("a relative symlink up, then a file through it", vec![Raw::Symlink("up", "../../../../../.."), Raw::File("up/escaped.txt", "x")]),
        ("a hard link to a path with ..", vec![Raw::Hardlink("passwd", "../../../../etc/passwd")]),
        ("a hard link to an absolute host path", vec![Raw::Hardlink("stolen", &secret)]),
        ("a whiteout of ..", vec![Raw::File(".wh..", "")]),
    ];
    let mut text = String::new();
    for (i, (what, entries)) in cases.iter().enumerate() {
        let tar = lab.dir().join(format!("hostile{i}.tar"));
        fs::write(&tar, hostile_tar(entries)).unwrap();
        let outcome = lab.cmd(&["import", &tar.to_string_lossy(), "hostile"]);
        text.push_str(&format!("{what}:\n{outcome}"));
    }
    // Neutralised rather than refused: an absolute path lands inside the layer, and a symlink to a
    // host file resolves inside the container, where that path does not exist.
    let tar = lab.dir().join("neutralised.tar");
    fs::write(&tar, on_the_course_rootfs(hostile_tar(&[Raw::File("/absolute.txt", "inside the layer\n"), Raw::Symlink("peek", &secret)]))).unwrap();
    let imported = lab.cmd(&["import", &tar.to_string_lossy(), "neutral"]);
    assert_eq!(imported.code, Some(0), "{imported}");
    let ran = lab.run(&["--rm", "neutral", "sh", "-c", "cat /absolute.txt; readlink /peek; cat /peek"]);
    assert!(!ran.stdout.contains("host secret"), "the container read a host file through a symlink: {ran}");
    text.push_str(&format!("an absolute path and a symlink to a host file, run:\n{ran}"));
    // The runtime reads the image's /etc/passwd to resolve -u: never a host file through a link,
    // and never a FIFO, which would hang it.
    fs::write(canary.join("passwd"), "hostonly:x:4242:4242::/:/bin/sh\n").unwrap();
    let host_passwd = format!("{outside}/passwd");
    for (i, (what, entry)) in [("a symlink to a host file", Raw::Symlink("etc/passwd", &host_passwd)), ("a FIFO", Raw::Fifo("etc/passwd"))].into_iter().enumerate() {
        let tar = lab.dir().join(format!("passwd{i}.tar"));
        fs::write(&tar, on_the_course_rootfs(hostile_tar(&[entry]))).unwrap();
        let name = format!("passwd{i}");
        assert_eq!(lab.cmd(&["import", &tar.to_string_lossy(), &name]).code, Some(0));
        let ran = lab.run(&["--rm", "-u", "hostonly", &name, "id"]);
        text.push_str(&format!("/etc/passwd is {what}, run -u hostonly:\n{ran}"));
    }
    let entries: Vec<_> = fs::read_dir(&canary).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(entries.len(), 2, "something was written outside the store: {entries:?}");
    assert_eq!(fs::read_to_string(canary.join("secret.txt")).unwrap(), "host secret\n");
    lab.assert_clean(0);
    snapshot!(lab, text.replace(&outside, "[OUTSIDE]"));
}
