//! The Xtensa toolchain: which Debian packages provide it, how to install
//! them, the target specification, and the exact CPU features of `dc233c`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Features of QEMU's `dc233c` core, for both rustc (target spec) and
/// llvm-mc. Not `+mul32high` (dc233c lacks MULUH/MULSH), not `+windowed`
/// (we use the call0 ABI), no `+bool`/`+fp`.
pub const CPU_FEATURES: &str = "+density,+loop,+nsa,+minmax,+sext,+clamps,+mul16,+mul32,+div32,+mac16,+s32c1i,+threadptr,+exception,+interrupt,+highpriinterrupts,+timers3,+prid,+debug";

/// Extra assembler-only features: TLB instructions, VECBASE, misc SRs.
pub const ASM_EXTRA_FEATURES: &str = "+regprotect,+rvector,+miscsr";

/// Name of the custom target (the JSON file's stem).
pub const TARGET_NAME: &str = "xtensa-dc233c";

/// The Xtensa rustc (Debian `rustc-web`, built on LLVM 22).
pub const RUSTC: &str = "/usr/bin/rustc";
/// The cargo matching that rustc (Debian `cargo-web`).
pub const CARGO: &str = "/usr/bin/cargo";
/// LLVM's assembler.
pub const LLVM_MC: &str = "llvm-mc-22";
/// LLVM's archiver.
pub const LLVM_AR: &str = "llvm-ar-22";
/// LLVM's disassembler (the kernel's instruction check).
pub const LLVM_OBJDUMP: &str = "llvm-objdump-22";
/// GNU ld for Xtensa (ld.lld cannot link Xtensa).
pub const LD: &str = "xtensa-lx106-elf-ld";

/// A Debian package and a file whose presence shows it is installed.
struct Package {
    name: &'static str,
    provides: &'static str,
    why: &'static str,
}

const PACKAGES: [Package; 9] = [
    Package {
        name: "rustc-web",
        provides: "/usr/bin/rustc",
        why: "rustc on LLVM 22, with the Xtensa backend",
    },
    Package {
        name: "cargo-web",
        provides: "/usr/bin/cargo",
        why: "the cargo matching that rustc (rustc-web only recommends it)",
    },
    Package {
        name: "rust-web-src",
        provides: "/usr/lib/rustlib/src/rust/library/core/Cargo.toml",
        why: "the core library sources -Zbuild-std compiles",
    },
    Package {
        name: "llvm-22",
        provides: "/usr/bin/llvm-mc-22",
        why: "assembler and archiver for Xtensa",
    },
    Package {
        name: "binutils-xtensa-lx106",
        provides: "/usr/bin/xtensa-lx106-elf-ld",
        why: "the Xtensa linker",
    },
    Package {
        name: "qemu-system-misc",
        provides: "/usr/bin/qemu-system-xtensa",
        why: "the emulated DSP",
    },
    Package {
        name: "gdb-multiarch",
        provides: "/usr/bin/gdb-multiarch",
        why: "debugging images (`cargo xtask run --gdb`)",
    },
    Package {
        name: "fonts-dejavu-core",
        provides: sotto_audio::PLOT_FONT,
        why: "axis labels in `cargo xtask plot`",
    },
    Package {
        name: "graphviz",
        provides: "/usr/bin/dot",
        why: "the capability graph as SVG (`cargo xtask caps --dot --svg FILE`)",
    },
];

/// Make sure every package is installed: install the missing ones with
/// apt-get when running as root, else stop with the command to run.
pub fn ensure_installed(quiet: bool) -> Result<()> {
    let missing: Vec<&Package> = PACKAGES
        .iter()
        .filter(|p| !Path::new(p.provides).exists())
        .collect();
    if missing.is_empty() {
        if !quiet {
            println!("setup: all packages present");
            for package in &PACKAGES {
                println!("  {:<22} {}", package.name, package.why);
            }
        }
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|p| p.name).collect();
    for package in &missing {
        eprintln!(
            "setup: missing {} ({}): {} not found",
            package.name, package.why, package.provides
        );
    }
    let install = format!("apt-get update && apt-get install -y {}", names.join(" "));
    if !Path::new("/usr/bin/apt-get").exists() {
        bail!(
            "Sotto's toolchain comes from Debian packages ({}), and this machine has no apt-get. \
             Use Debian 12 or newer with those packages.",
            names.join(", ")
        );
    }
    if !is_root() {
        bail!(
            "missing Debian packages. Install them with:\n\n    sudo sh -c '{install}'\n\nthen run this command again."
        );
    }
    eprintln!(
        "setup: installing {} with apt-get (as root)",
        names.join(" ")
    );
    run_apt(&["update"])
        .context("apt-get update failed: check the network and /etc/apt/sources.list")?;
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(&names);
    run_apt(&args).with_context(|| format!("apt-get install {} failed", names.join(" ")))?;
    let still: Vec<&str> = PACKAGES
        .iter()
        .filter(|p| !Path::new(p.provides).exists())
        .map(|p| p.name)
        .collect();
    if !still.is_empty() {
        bail!(
            "apt-get finished but {} still look missing",
            still.join(", ")
        );
    }
    eprintln!("setup: done");
    Ok(())
}

fn run_apt(args: &[&str]) -> Result<()> {
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("could not start apt-get")?;
    if !status.success() {
        bail!("apt-get {} exited with {status}", args.join(" "));
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The custom target specification (upstream LLVM's `xtensa-none-elf`
/// with the data layout it accepts and the `dc233c` features).
pub fn target_spec(linker: &Path) -> String {
    format!(
        r#"{{
  "arch": "xtensa",
  "cpu": "generic",
  "crt-objects-fallback": "false",
  "data-layout": "e-m:e-p:32:32-i8:8:32-i16:16:32-i64:64-n32",
  "emit-debug-gdb-scripts": false,
  "linker": "{}",
  "linker-flavor": "gnu-cc",
  "llvm-target": "xtensa-none-elf",
  "max-atomic-width": 32,
  "panic-strategy": "abort",
  "relocation-model": "static",
  "target-pointer-width": 32,
  "vendor": "unknown",
  "features": "{CPU_FEATURES}"
}}
"#,
        linker.display()
    )
}

/// Run a tool, failing with its output and what to do when it fails.
pub fn run_tool(command: &mut Command, what: &str) -> Result<()> {
    let program = PathBuf::from(command.get_program());
    let output = command.output().with_context(|| {
        format!(
            "could not run `{}` ({what}); `cargo xtask setup` installs it",
            program.display()
        )
    })?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{CPU_FEATURES, target_spec};
    use std::path::Path;

    #[test]
    fn features_match_dc233c() {
        assert!(
            !CPU_FEATURES.contains("mul32high"),
            "dc233c has no MULUH/MULSH"
        );
        assert!(
            !CPU_FEATURES.contains("windowed"),
            "the kernel uses the call0 ABI"
        );
        assert!(CPU_FEATURES.contains("+loop"));
    }

    #[test]
    fn target_spec_is_json_naming_the_linker() {
        let spec = target_spec(Path::new("/x/xtask"));
        assert!(spec.contains("\"linker\": \"/x/xtask\""));
        assert!(spec.contains("\"llvm-target\": \"xtensa-none-elf\""));
    }
}
