//! `cargo xtask grade`: the graded tests of each chapter, a report card, and a JSON summary.
//!
//! Grading runs exactly the tests `cargo xtask test` runs for `tests/grade.rs`, with snapshots
//! never written. With `--against REF` it also refuses snapshots that differ from the instructor's
//! commit `REF`, so a student cannot make a test pass by rewriting what it expects.

use crate::chapters::{self, Chapter};
use crate::run::{cargo, describe};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::path::PathBuf;
use std::process::{Command, Stdio};

#[derive(clap::Args)]
pub struct Args {
    /// Grade only this chapter (1 for ch01-chroot).
    #[arg(long, value_name = "N")]
    pub chapter: Option<u32>,
    /// Where to write the machine-readable summary.
    #[arg(long, value_name = "FILE", default_value = "target/grade.json")]
    pub json: PathBuf,
    /// Fail chapters whose snapshots differ from this git revision (the instructor's).
    #[arg(long, value_name = "REF")]
    pub against: Option<String>,
    /// Run the test binaries through `sudo`.
    #[arg(long)]
    pub sudo: bool,
}

#[derive(Serialize)]
struct Summary {
    points: u32,
    max: u32,
    chapters: Vec<ChapterResult>,
}

#[derive(Serialize)]
struct ChapterResult {
    chapter: u32,
    name: String,
    points: u32,
    max: u32,
    /// Graded tests or snapshots changed since `--against`, which void the chapter's points.
    changed_snapshots: Vec<String>,
    tests: Vec<TestResult>,
}

#[derive(Serialize)]
struct TestResult {
    name: String,
    passed: bool,
    points: u32,
}

pub fn run(args: &Args) -> Result<()> {
    crate::test::prepare_rootfs()?;
    let chapters: Vec<Chapter> =
        chapters::all()?.into_iter().filter(|c| args.chapter.is_none_or(|n| n == c.number)).collect();
    if chapters.is_empty() {
        bail!("no chapter {} in chapters/", args.chapter.unwrap_or_default());
    }
    let mut summary = Summary { points: 0, max: 0, chapters: Vec::new() };
    for chapter in &chapters {
        let mut result = grade(chapter, args)?;
        if let Some(reference) = &args.against {
            result.changed_snapshots = changed_snapshots(chapter, reference)?;
            if !result.changed_snapshots.is_empty() {
                result.points = 0;
            }
        }
        summary.points += result.points;
        summary.max += result.max;
        summary.chapters.push(result);
    }
    print_card(&summary);
    let json = testkit::workspace::root().join(&args.json);
    std::fs::write(&json, serde_json::to_string_pretty(&summary)? + "\n")
        .with_context(|| format!("writing {}", json.display()))?;
    println!("summary: {}", json.display());
    if summary.points < summary.max {
        bail!("{} of {} points", summary.points, summary.max);
    }
    Ok(())
}

/// Runs one chapter's `tests/grade.rs` and reads libtest's `test NAME ... ok|FAILED` lines.
fn grade(chapter: &Chapter, args: &Args) -> Result<ChapterResult> {
    let mut command = cargo();
    command.args(["test", "--package", &chapter.name, "--test", "grade", "--no-fail-fast"]);
    crate::test::graded(&mut command, args.sudo)?;
    println!("grading chapter {}: {}", chapter.number, describe(&command));
    let output = command.stderr(Stdio::inherit()).stdout(Stdio::piped()).output()
        .with_context(|| format!("running {}", describe(&command)))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The failures' details, as the test runner printed them.
    if !output.status.success() {
        print!("{stdout}");
    }
    let mut tests: Vec<TestResult> = stdout
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("test ")?;
            let (name, verdict) = rest.rsplit_once(" ... ")?;
            let passed = match verdict {
                "ok" => true,
                "FAILED" | "ignored" => false,
                _ => return None,
            };
            Some(TestResult { name: name.to_string(), passed, points: u32::from(passed) })
        })
        .collect();
    tests.sort_by(|a, b| a.name.cmp(&b.name));
    if tests.is_empty() {
        bail!("chapter {} ran no graded test ({})", chapter.number, output.status);
    }
    Ok(ChapterResult {
        chapter: chapter.number,
        name: chapter.name.clone(),
        points: tests.iter().map(|t| t.points).sum(),
        max: tests.len() as u32,
        changed_snapshots: Vec::new(),
        tests,
    })
}

/// Files of `chapter`'s tests (the graded tests and their snapshots) that differ from
/// `reference`, committed or not: deleting a failing test is as much a change as rewriting a snapshot.
fn changed_snapshots(chapter: &Chapter, reference: &str) -> Result<Vec<String>> {
    let dir = chapter.dir.join("tests");
    let git = |args: &[&str]| -> Result<String> {
        let out = Command::new("git").current_dir(testkit::workspace::root()).args(args).arg(&dir).output()?;
        if !out.status.success() {
            bail!("git {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let mut changed: Vec<String> = git(&["diff", "--name-only", reference, "--"])?.lines().map(str::to_string).collect();
    changed.extend(git(&["ls-files", "--others", "--exclude-standard", "--"])?.lines().map(str::to_string));
    changed.sort();
    changed.dedup();
    Ok(changed)
}

fn print_card(summary: &Summary) {
    println!("\nreport card");
    for chapter in &summary.chapters {
        println!("  chapter {} ({}): {}/{}", chapter.chapter, chapter.name, chapter.points, chapter.max);
        for test in &chapter.tests {
            println!("    [{}] {} ({} point{})", if test.passed { "pass" } else { "FAIL" }, test.name, test.points, if test.points == 1 { "" } else { "s" });
        }
        for file in &chapter.changed_snapshots {
            println!("    [FAIL] graded test or snapshot changed since the reference: {file}");
        }
    }
    println!("  total: {}/{}", summary.points, summary.max);
}
