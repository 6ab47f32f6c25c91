//! The pre-commit hook this repository offers (`.pre-commit-hooks.yaml`),
//! run by the real `pre-commit` program on a scratch repository that adopts
//! it: a commit holding a key is refused, a clean one goes through. Nothing
//! is fetched: the hooks' repository is a local one.

use crate::scan::{new_key, write};
use keyward_core::key_format::KeyType;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const HOOKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.pre-commit-hooks.yaml");

/// `KEYWARD_TEST_PRE_COMMIT` (what `.ci/pre-commit.sh` prints), else
/// `pre-commit` on PATH; `None` (and a loud note) when neither is there
/// outside CI. In CI (`CI=true`) a missing pre-commit fails the test.
fn pre_commit() -> Option<OsString> {
    if let Some(path) = std::env::var_os("KEYWARD_TEST_PRE_COMMIT").filter(|p| !p.is_empty()) {
        return Some(path);
    }
    let on_path = Command::new("pre-commit")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if on_path {
        return Some("pre-commit".into());
    }
    assert!(
        std::env::var("CI").is_err(),
        "pre-commit is required in CI: .ci/run installs it (.ci/pre-commit.sh)"
    );
    eprintln!(
        "SKIPPED: pre-commit is not installed; run with KEYWARD_TEST_PRE_COMMIT=$(.ci/pre-commit.sh)"
    );
    None
}

/// Commands run with the `keyward` binary first on PATH, pre-commit's
/// cache in `cache`, and no user or system git configuration.
struct Sandbox {
    path: OsString,
    cache: PathBuf,
}

impl Sandbox {
    fn new(cache: PathBuf) -> Self {
        let binary = Path::new(env!("CARGO_BIN_EXE_keyward")).parent().unwrap();
        let mut dirs = vec![binary.to_owned()];
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        Self {
            path: std::env::join_paths(dirs).unwrap(),
            cache,
        }
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(dir)
            .env("PATH", &self.path)
            .env("PRE_COMMIT_HOME", &self.cache)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .env_remove("SKIP")
            .env_remove("PRE_COMMIT_ALLOW_NO_CONFIG");
        command
    }

    fn git(&self, dir: &Path, args: &[&str]) -> Output {
        self.command("git", dir).args(args).output().unwrap()
    }

    fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let output = self.git(dir, args);
        assert!(output.status.success(), "git {args:?}: {}", text(&output));
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn the_hook_refuses_a_commit_holding_a_key() {
    let Some(pre_commit) = pre_commit() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::new(dir.path().join("cache"));

    // The hooks' repository: this repository's hook definitions.
    let hooks = dir.path().join("hooks");
    std::fs::create_dir(&hooks).unwrap();
    sandbox.ok(&hooks, &["init", "-q", "-b", "main"]);
    std::fs::copy(HOOKS, hooks.join(".pre-commit-hooks.yaml")).unwrap();
    sandbox.ok(&hooks, &["add", "."]);
    sandbox.ok(&hooks, &["commit", "-q", "-m", "hooks"]);
    let rev = sandbox.ok(&hooks, &["rev-parse", "HEAD"]);

    // A project adopting the hook with the three lines of docs/leaks.md.
    let project = dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    sandbox.ok(&project, &["init", "-q", "-b", "main"]);
    write(
        &project,
        ".pre-commit-config.yaml",
        format!(
            "repos:\n  - repo: {}\n    rev: {rev}\n    hooks: [{{id: keyward-scan}}]\n",
            hooks.display()
        ),
    );
    let installed = sandbox
        .command(&pre_commit, &project)
        .arg("install")
        .output()
        .unwrap();
    assert!(installed.status.success(), "{}", text(&installed));
    write(&project, "README.md", "A project.\n");
    sandbox.ok(&project, &["add", "."]);
    let clean = sandbox.git(&project, &["commit", "-m", "start"]);
    assert!(clean.status.success(), "{}", text(&clean));
    assert!(text(&clean).contains("keyward scan"), "{}", text(&clean));

    // A key staged: the commit is refused, the key named by its hint only.
    let key = new_key("kw", KeyType::Secret);
    write(
        &project,
        "app/config.py",
        format!("KEY = '{}'\n", key.expose()),
    );
    sandbox.ok(&project, &["add", "."]);
    let refused = sandbox.git(&project, &["commit", "-m", "configure"]);
    let said = text(&refused);
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains("Failed")
            && said.contains("app/config.py:1:8: secret key, prefix kw")
            && said.contains(&key.hint()),
        "{said}"
    );
    assert!(!said.contains(key.expose()), "{said}");
    assert_eq!(sandbox.ok(&project, &["rev-list", "--count", "HEAD"]), "1");

    // Without the key, it goes through.
    write(
        &project,
        "app/config.py",
        "import os\nKEY = os.environ['KEY']\n",
    );
    sandbox.ok(&project, &["add", "."]);
    let accepted = sandbox.git(&project, &["commit", "-m", "configure"]);
    assert!(accepted.status.success(), "{}", text(&accepted));
    assert_eq!(sandbox.ok(&project, &["rev-list", "--count", "HEAD"]), "2");
}
