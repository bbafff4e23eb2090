//! `cargo xtask new-service NAME`: a new service crate from a template,
//! added to the workspace (the `services/*` glob) and to `system.toml` with
//! a console capability and a small heap of its own.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

const CARGO_TOML: &str = r#"[package]
name = "NAME"
description = "The NAME service."
version.workspace = true
edition.workspace = true
license.workspace = true
publish.workspace = true

[[bin]]
name = "NAME"
path = "src/main.rs"
test = false
bench = false

[dependencies]
sotto-rt = { path = "../sotto-rt", features = ["heap"] }

[lints]
workspace = true
"#;

const MAIN_RS: &str = r#"//! The NAME service. Its capabilities are listed in `system.toml`; slot
//! numbers below follow that list.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use sotto_rt::{heap, println};

sotto_rt::entry!(main);

/// Slots, as `system.toml` grants them (0 is the console).
const HEAP: u32 = 1;

fn main(arg: u32) {
    let size = heap::init(HEAP).expect("the heap granted in system.toml");
    let numbers: Vec<u32> = (1..=10).collect();
    println!("NAME: started with arg {arg}, {size} bytes of heap, sum {}", numbers.iter().sum::<u32>());
}
"#;

fn system_entry(name: &str, with_console: bool) -> String {
    let console = if with_console {
        "\n[[object]]\nname = \"console\"\nkind = \"console\"\n".to_owned()
    } else {
        String::new()
    };
    format!(
        r#"{console}
[[object]]
name = "{name}-heap"
kind = "memory"
size = 16384

[[service]]
name = "{name}"
crate = "{name}"
priority = 4
stack_size = 8192
memory = 98304
caps = [
  {{ object = "console", rights = "send" }},
  {{ object = "{name}-heap", rights = "read+write", at = 0x50000000 }},
]
"#
    )
}

/// Whether `name` can name a crate and a service.
pub fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= sotto_abi::manifest::MAX_NAME - "-heap".len()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!(
            "`{name}` is not a usable service name: use 1 to {} lowercase letters, digits and '-', starting with a letter",
            sotto_abi::manifest::MAX_NAME - "-heap".len()
        );
    }
    if name == "sotto-rt" {
        bail!("`sotto-rt` is the runtime library");
    }
    Ok(())
}

/// Create `services/NAME` and its `system.toml` entry under `root`.
pub fn create(root: &Path, name: &str) -> Result<()> {
    check_name(name)?;
    let dir = root.join("services").join(name);
    // A test or benchmark service of that name would clash as a crate.
    for taken in crate::pipeline::SERVICE_DIRS.map(|parent| root.join(parent).join(name)) {
        if taken.exists() {
            bail!("{} already exists", taken.display());
        }
    }
    let system_path = root.join("system.toml");
    let system = fs::read_to_string(&system_path)
        .with_context(|| format!("reading {}", system_path.display()))?;
    let parsed: toml::Table = toml::from_str(&system)
        .with_context(|| format!("{} is not valid TOML", system_path.display()))?;
    let declared = |table: &str, wanted: &str| {
        parsed
            .get(table)
            .and_then(|items| items.as_array())
            .is_some_and(|items| {
                items
                    .iter()
                    .any(|item| item.get("name").and_then(|n| n.as_str()) == Some(wanted))
            })
    };
    if declared("service", name) {
        bail!("system.toml already has a service named `{name}`");
    }
    if declared("object", &format!("{name}-heap")) {
        bail!("system.toml already has an object named `{name}-heap`");
    }
    fs::create_dir_all(dir.join("src"))?;
    fs::write(dir.join("Cargo.toml"), CARGO_TOML.replace("NAME", name))?;
    fs::write(dir.join("src/main.rs"), MAIN_RS.replace("NAME", name))?;
    let mut updated = system.clone();
    if !updated.ends_with('\n') {
        updated.push('\n');
    }
    updated.push_str(&system_entry(name, !declared("object", "console")));
    fs::write(&system_path, updated)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{check_name, create};

    #[test]
    fn creates_a_crate_and_a_checked_system_entry() {
        let root = std::env::temp_dir().join(format!("sotto-new-service-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("services")).unwrap();
        std::fs::write(
            root.join("system.toml"),
            "# my system\n[kernel]\ntick_hz = 1000\n",
        )
        .unwrap();
        create(&root, "mixer").unwrap();
        let main = std::fs::read_to_string(root.join("services/mixer/src/main.rs")).unwrap();
        assert!(main.contains("#![forbid(unsafe_code)]") && main.contains("mixer: started"));
        let manifest = std::fs::read_to_string(root.join("services/mixer/Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"mixer\""));
        // The new system file passes every check, console included.
        let exists = |krate: &str| {
            root.join("services")
                .join(krate)
                .join("Cargo.toml")
                .is_file()
        };
        let system = crate::system::load(&root.join("system.toml"), exists, None).unwrap();
        assert_eq!(system.file.services[0].name, "mixer");
        assert_eq!(system.objects.len(), 2);
        assert!(
            std::fs::read_to_string(root.join("system.toml"))
                .unwrap()
                .starts_with("# my system\n")
        );
        // Twice is refused, and nothing changes.
        let before = std::fs::read_to_string(root.join("system.toml")).unwrap();
        assert!(
            create(&root, "mixer")
                .unwrap_err()
                .to_string()
                .contains("already exists")
        );
        assert_eq!(
            std::fs::read_to_string(root.join("system.toml")).unwrap(),
            before
        );
        // A second service reuses the console object.
        create(&root, "gain2").unwrap();
        let system = crate::system::load(&root.join("system.toml"), exists, None).unwrap();
        assert_eq!(system.objects.len(), 3);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn refuses_names_that_cannot_be_crates_or_services() {
        for name in [
            "",
            "Mixer",
            "9lives",
            "a_b",
            "much-too-long-name",
            "sotto-rt",
        ] {
            assert!(check_name(name).is_err(), "{name}");
        }
        assert!(check_name("dp-sched").is_ok());
    }
}
