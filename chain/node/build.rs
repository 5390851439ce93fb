//! Embeds the git commit the node is built from, for `bwchain_build_info`
//! in `GET /metrics`: `BWCHAIN_COMMIT` if set, else `git rev-parse HEAD`,
//! else "unknown" (a build outside a git checkout, or without git).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=BWCHAIN_COMMIT");
    let commit = std::env::var("BWCHAIN_COMMIT")
        .ok()
        .filter(|commit| !commit.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=BWCHAIN_COMMIT={commit}");
    // Build again when the checked-out commit moves: HEAD itself (another
    // branch) and the branch it points at (a new commit), loose or packed.
    // (A path that does not exist would make cargo run this every build.)
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        let path = git(&["rev-parse", "--path-format=absolute", "--git-path", &name]);
        if let Some(path) = path.filter(|path| std::path::Path::new(path).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
