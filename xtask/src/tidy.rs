//! Tidy checks, as `#[test]`s so that `cargo test` catches drift, not a CI-only script.
//!
//! - every `{{#include}}` in the book names an existing file and, for an anchor, a non-empty one;
//! - the book shows Rust code only through includes;
//! - every `.rs` file opens with a `//!` comment;
//! - no pending snapshot (`.snap.new`, `.pending-snap`) is lying around;
//! - every snapshot belongs to a test of the same name (unreferenced snapshots are rejected).

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Every file below `dir` (skipping `target`, `.git` and the built book) whose name ends in `suffix`.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            // The built book (`book/book`, next to `book.toml`) is output, not source.
            let built_book = name == "book" && dir.join("book.toml").exists();
            if !built_book && name != "target" && name != ".git" {
                found.extend(files(&path, suffix));
            }
        } else if name.ends_with(suffix) {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// The problems with the book's `{{#include path[:anchor]}}` directives, one line each.
pub fn include_problems() -> Result<Vec<String>> {
    let src = testkit::workspace::root().join("book/src");
    let mut problems = Vec::new();
    for page in files(&src, ".md") {
        let text = std::fs::read_to_string(&page).with_context(|| format!("reading {}", page.display()))?;
        for (number, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(start) = rest.find("{{#") {
                let after = &rest[start + 3..];
                let Some(end) = after.find("}}") else { break };
                let directive = after[..end].trim();
                rest = &after[end + 2..];
                let Some(argument) = directive.strip_prefix("include ").or_else(|| directive.strip_prefix("rustdoc_include ")) else {
                    continue;
                };
                let here = format!("{}:{}", page.strip_prefix(&src).unwrap_or(&page).display(), number + 1);
                if let Err(problem) = check_include(&page, argument.trim()) {
                    problems.push(format!("{here}: {problem}"));
                }
            }
        }
    }
    Ok(problems)
}

fn check_include(page: &Path, argument: &str) -> std::result::Result<(), String> {
    let (file, selector) = match argument.split_once(':') {
        Some((file, selector)) => (file, Some(selector)),
        None => (argument, None),
    };
    let path = page.parent().unwrap_or(Path::new(".")).join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{file}: {e}"))?;
    let Some(selector) = selector else { return Ok(()) };
    let first = selector.split(':').next().unwrap_or("");
    if first.is_empty() || first.chars().all(|c| c.is_ascii_digit()) {
        let lines = text.lines().count();
        return match first.parse::<usize>() {
            Ok(n) if n > lines => Err(format!("{file} has {lines} lines, fewer than {n}")),
            _ => Ok(()),
        };
    }
    let anchor = first;
    let is_marker = |l: &str, marker: &str| {
        l.trim_start().trim_start_matches("//").trim_start_matches('#').trim().strip_prefix(marker).map(str::trim) == Some(anchor)
    };
    let start = text.lines().position(|l| is_marker(l, "ANCHOR:")).ok_or(format!("{file}: no ANCHOR: {anchor}"))?;
    let body: Vec<&str> = text.lines().skip(start + 1).take_while(|l| !is_marker(l, "ANCHOR_END:")).collect();
    if !text.lines().skip(start + 1).any(|l| is_marker(l, "ANCHOR_END:")) {
        return Err(format!("{file}: ANCHOR: {anchor} has no ANCHOR_END"));
    }
    if body.iter().all(|l| l.trim().is_empty() || l.contains("ANCHOR")) {
        return Err(format!("{file}: anchor {anchor} is empty"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        testkit::workspace::root()
    }

    #[test]
    fn book_includes_resolve() {
        let problems = include_problems().unwrap();
        assert!(problems.is_empty(), "broken includes in the book:\n{}", problems.join("\n"));
    }

    #[test]
    fn book_shows_code_only_through_includes() {
        let mut problems = Vec::new();
        for page in files(&root().join("book/src"), ".md") {
            let text = std::fs::read_to_string(&page).unwrap();
            let mut in_rust = false;
            for (number, line) in text.lines().enumerate() {
                let fence = line.trim_start();
                if fence.starts_with("```") {
                    in_rust = !in_rust && fence.trim_start_matches('`').starts_with("rust");
                    continue;
                }
                if in_rust && !line.trim().is_empty() && !line.trim().starts_with("{{#") {
                    problems.push(format!("{}:{}: {line}", page.display(), number + 1));
                }
            }
        }
        assert!(problems.is_empty(), "hand-typed Rust in the book (use an include anchor):\n{}", problems.join("\n"));
    }

    #[test]
    fn every_rust_file_opens_with_a_doc_comment() {
        let missing: Vec<_> = ["chapters", "xtask"]
            .iter()
            .flat_map(|d| files(&root().join(d), ".rs"))
            .filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!"))
            .collect();
        assert!(missing.is_empty(), "these files do not open with `//!`: {missing:?}");
    }

    #[test]
    fn no_pending_snapshots() {
        let pending: Vec<_> = [".snap.new", ".pending-snap"]
            .iter()
            .flat_map(|suffix| files(&root().join("chapters"), suffix))
            .collect();
        assert!(pending.is_empty(), "pending snapshots (review with `cargo insta review`, never commit): {pending:?}");
    }

    #[test]
    fn every_snapshot_belongs_to_a_test() {
        let mut orphans = Vec::new();
        for snapshot in files(&root().join("chapters"), ".snap") {
            let tests_dir = snapshot.parent().and_then(Path::parent).unwrap();
            // `name@v2.snap`: a snapshot with a suffix (insta's `snapshot_suffix`) belongs to `name`.
            let stem = snapshot.file_stem().unwrap().to_string_lossy().into_owned();
            let name = stem.split('@').next().unwrap_or(&stem).to_string();
            let defined = files(tests_dir, ".rs")
                .iter()
                .any(|f| std::fs::read_to_string(f).unwrap().contains(&format!("fn {name}(")));
            if !defined {
                orphans.push(snapshot);
            }
        }
        assert!(orphans.is_empty(), "snapshots no test makes (delete them): {orphans:?}");
    }

    #[test]
    fn every_chapter_has_graded_tests() {
        for chapter in crate::chapters::all().unwrap() {
            assert!(chapter.dir.join("tests/grade.rs").is_file(), "{} has no tests/grade.rs", chapter.name);
        }
    }

    #[test]
    fn the_include_check_catches_mistakes() {
        let dir = tempfile_dir();
        let page = dir.join("page.md");
        std::fs::write(dir.join("code.rs"), "// ANCHOR: full\nfn x() {}\n// ANCHOR_END: full\n// ANCHOR: empty\n// ANCHOR_END: empty\n").unwrap();
        std::fs::write(&page, "").unwrap();
        assert!(check_include(&page, "code.rs:full").is_ok());
        assert!(check_include(&page, "code.rs").is_ok());
        assert!(check_include(&page, "code.rs:empty").unwrap_err().contains("empty"));
        assert!(check_include(&page, "code.rs:misspelt").unwrap_err().contains("no ANCHOR"));
        assert!(check_include(&page, "missing.rs").is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = testkit::workspace::target().join(format!("tidy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
