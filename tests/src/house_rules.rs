//! Promises the README makes about the source itself.

use std::{fs, path::Path};

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).expect("a source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() && !path.ends_with("target") && !path.ends_with("node_modules") {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = fs::read_to_string(&path).expect("a source file");
            found.push((path.display().to_string(), text));
        }
    }
    found
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
}

#[test]
fn the_telemetry_module_depends_on_nothing_else_in_the_project() {
    // "It depends on nothing else in the project": a reader copies the directory.
    let files = sources(&root().join("common/src/telemetry"));
    assert!(files.len() >= 4, "{files:?}");
    for (path, text) in files {
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            let outside = code.contains("crate::") && !code.contains("crate::telemetry")
                || code.contains("super::super")
                || code.contains("traced_todo")
                || code.contains("common::");
            assert!(!outside, "{path}:{}: {line}", n + 1);
        }
    }
}

#[test]
fn no_test_is_skipped() {
    // "No test is skipped": a test that cannot get its service fails and says so
    // (`services::unreachable`); none is marked to be left out.
    let (ignore, cfg_ignore) = (["#[", "ignore"].concat(), [", ignore", ")]"].concat());
    for dir in [
        "common",
        "web",
        "worker",
        "esm",
        "loadgen",
        "trace-console",
        "tests",
    ] {
        for (path, text) in sources(&root().join(dir)) {
            assert!(
                !text.contains(&ignore) && !text.contains(&cfg_ignore),
                "{path} skips a test"
            );
        }
    }
    let browser = fs::read_to_string(root().join("browser/todo.test.mjs")).expect("browser tests");
    for skip in ["test.skip(", "test.todo(", "test.only(", "{ skip", "{ todo"] {
        assert!(!browser.contains(skip), "browser/todo.test.mjs: {skip}");
    }
}
