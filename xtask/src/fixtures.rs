//! Fixture-driven tests of error messages: every `NAME.toml` in a folder
//! under `xtask/tests/fixtures/` either loads (no `NAME.err` beside it) or
//! fails with exactly the text of its `.err` file.

use std::path::Path;

/// Check every fixture in `tests/fixtures/{folder}` against `load` (which
/// returns the error message), and that there are at least `at_least`.
pub fn check(folder: &str, at_least: usize, load: impl Fn(&Path) -> Result<(), String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(folder);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "toml") {
            continue;
        }
        count += 1;
        let expected = std::fs::read_to_string(path.with_extension("err")).ok();
        match (load(&path), expected) {
            (Ok(()), None) => {}
            (Ok(()), Some(expected)) => {
                panic!("{} loaded, expected:\n{expected}", path.display())
            }
            (Err(error), Some(expected)) => {
                assert_eq!(error, expected.trim_end(), "{}", path.display())
            }
            (Err(error), None) => panic!("{} failed:\n{error}", path.display()),
        }
    }
    assert!(count >= at_least, "only {count} fixtures in {folder}");
}
