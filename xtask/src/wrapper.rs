//! xtask acting as rustc wrapper and as linker for the Xtensa build.
//!
//! LLVM's Xtensa object writer misplaces literal pools (unaligned, at the
//! end of the previous function's section). Its assembly printer is right,
//! and llvm-mc places `.literal` correctly. So every Xtensa crate is also
//! emitted as assembly and re-assembled with llvm-mc: the wrapper swaps the
//! object inside each rlib, and the linker role does the same for the final
//! crate's own object before calling GNU ld.
//!
//! Cargo runs the wrapper as `RUSTC_WRAPPER rustc ARGS`; rustc runs the
//! linker named in the target spec. Both are this executable, told apart by
//! [`ROLE_ENV`], which the wrapper switches to "linker" for rustc's children.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

use crate::asm_rewrite;
use crate::toolchain::{CPU_FEATURES, LD, LLVM_AR, LLVM_MC, run_tool};

/// Environment variable naming the role of this executable.
pub const ROLE_ENV: &str = "SOTTO_XTASK_ROLE";
/// Role: wrap rustc.
pub const ROLE_RUSTC: &str = "rustc-wrapper";
/// Role: link.
pub const ROLE_LINKER: &str = "linker";
/// The linker script for binaries that bring none of their own (services).
pub const SERVICE_SCRIPT_ENV: &str = "SOTTO_SERVICE_LINKER_SCRIPT";

/// The role this process was started in, if any.
pub fn role() -> Option<String> {
    std::env::var(ROLE_ENV).ok()
}

/// Run as rustc wrapper: `args` = rustc followed by its arguments.
pub fn run_rustc_wrapper(args: Vec<OsString>) -> ExitCode {
    match rustc_wrapper(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: xtask rustc wrapper: {error:#}");
            ExitCode::FAILURE
        }
    }
}

struct RustcCall {
    rustc: OsString,
    args: Vec<String>,
}

impl RustcCall {
    fn value_of(&self, flag: &str) -> Option<&str> {
        let prefix = format!("{flag}=");
        self.args.iter().enumerate().find_map(|(i, arg)| {
            if arg == flag {
                self.args.get(i + 1).map(String::as_str)
            } else {
                arg.strip_prefix(&prefix)
            }
        })
    }

    fn codegen_option(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}=");
        self.args.windows(2).find_map(|pair| {
            (pair[0] == "-C")
                .then(|| pair[1].strip_prefix(&prefix))
                .flatten()
        })
    }

    fn is_xtensa(&self) -> bool {
        self.value_of("--target")
            .is_some_and(|target| target.contains("xtensa"))
    }
}

fn rustc_wrapper(args: Vec<OsString>) -> Result<ExitCode> {
    let mut args = args.into_iter();
    let rustc = args.next().context("no rustc given to the wrapper")?;
    let args: Vec<String> = args
        .map(|arg| {
            arg.into_string()
                .map_err(|arg| anyhow::anyhow!("non-UTF-8 rustc argument {arg:?}"))
        })
        .collect::<Result<_>>()?;
    let call = RustcCall { rustc, args };
    let emits_link = call
        .value_of("--emit")
        .is_some_and(|emit| emit.contains("link"));
    if !call.is_xtensa() || !emits_link {
        // Host code (build scripts, proc macros) and queries: untouched.
        let status = Command::new(&call.rustc)
            .args(&call.args)
            .env(ROLE_ENV, ROLE_LINKER)
            .status()?;
        return Ok(exit_code(status));
    }
    let mut args: Vec<String> = call
        .args
        .iter()
        .map(|arg| match arg.strip_prefix("--emit=") {
            Some(emit) => format!("--emit={emit},asm"),
            None => arg.clone(),
        })
        .collect();
    args.extend(["-C".into(), "codegen-units=1".into()]);
    let status = Command::new(&call.rustc)
        .args(&args)
        .env(ROLE_ENV, ROLE_LINKER)
        .status()?;
    if !status.success() {
        return Ok(exit_code(status));
    }
    let crate_type = call.value_of("--crate-type").unwrap_or("bin");
    if crate_type == "lib" || crate_type == "rlib" {
        let out_dir = PathBuf::from(
            call.value_of("--out-dir")
                .context("rustc call without --out-dir")?,
        );
        let name = call
            .value_of("--crate-name")
            .context("rustc call without --crate-name")?;
        let extra = call.codegen_option("extra-filename").unwrap_or("");
        swap_rlib_object(&out_dir, &format!("{name}{extra}"))
            .with_context(|| format!("re-assembling crate `{name}`"))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8)
}

/// Assemble `.s` text into an object with llvm-mc.
pub fn assemble(source: &Path, object: &Path, include_dirs: &[&Path]) -> Result<()> {
    let mut command = Command::new(LLVM_MC);
    command.arg("-triple=xtensa").arg(format!(
        "-mattr={CPU_FEATURES},{}",
        crate::toolchain::ASM_EXTRA_FEATURES
    ));
    for dir in include_dirs {
        command.arg("-I").arg(dir);
    }
    command
        .arg("-filetype=obj")
        .arg(source)
        .arg("-o")
        .arg(object);
    run_tool(&mut command, &format!("assembling {}", source.display()))
}

/// Assemble rustc's assembly of a crate after [`asm_rewrite`]'s size
/// rewrites (the rewritten text is kept next to it, `.direct.s`).
fn assemble_rust(assembly: &Path, object: &Path) -> Result<()> {
    let text = std::fs::read_to_string(assembly)
        .with_context(|| format!("reading {}", assembly.display()))?;
    let rewritten = assembly.with_extension("direct.s");
    let mut lines: Vec<String> = asm_rewrite::rewrite(&text)
        .lines()
        .map(str::to_owned)
        .collect();
    // Narrow branches llvm-mc finds out of range go back to their wide
    // form, until it finds none (each round only widens: it ends).
    loop {
        std::fs::write(&rewritten, lines.join("\n") + "\n")
            .with_context(|| format!("writing {}", rewritten.display()))?;
        let Err(error) = assemble(&rewritten, object, &[]) else {
            return Ok(());
        };
        let widened = out_of_range_lines(&format!("{error:#}"), &rewritten)
            .filter_map(|number| {
                let line = lines.get_mut(number.checked_sub(1)?)?;
                *line = asm_rewrite::widen_branch(line)?;
                Some(())
            })
            .count();
        if widened == 0 {
            return Err(error);
        }
    }
}

/// The line numbers llvm-mc's message names with "fixup value out of
/// range" in `source`.
fn out_of_range_lines<'a>(message: &'a str, source: &Path) -> impl Iterator<Item = usize> + 'a {
    let prefix = format!("{}:", source.display());
    message.lines().filter_map(move |line| {
        let rest = line.strip_prefix(prefix.as_str())?;
        if !rest.ends_with("error: fixup value out of range") {
            return None;
        }
        rest.split(':').next()?.parse().ok()
    })
}

fn swap_rlib_object(out_dir: &Path, stem: &str) -> Result<()> {
    let assembly = out_dir.join(format!("{stem}.s"));
    let object = out_dir.join(format!("{stem}.mc.o"));
    let rlib = out_dir.join(format!("lib{stem}.rlib"));
    if !assembly.exists() {
        bail!("rustc wrote no assembly at {}", assembly.display());
    }
    assemble_rust(&assembly, &object)?;
    let listing = Command::new(LLVM_AR)
        .arg("t")
        .arg(&rlib)
        .output()
        .context("could not run llvm-ar-22")?;
    if !listing.status.success() {
        bail!(
            "llvm-ar-22 t {} failed: {}",
            rlib.display(),
            String::from_utf8_lossy(&listing.stderr)
        );
    }
    let objects: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter(|member| member.ends_with(".o"))
        .map(str::to_owned)
        .collect();
    if !objects.is_empty() {
        run_tool(
            Command::new(LLVM_AR).arg("d").arg(&rlib).args(&objects),
            "removing LLVM's objects from the rlib",
        )?;
    }
    run_tool(
        Command::new(LLVM_AR).arg("r").arg(&rlib).arg(&object),
        "adding the re-assembled object",
    )
}

/// Run as linker: translate rustc's gcc-style arguments for GNU ld, swap
/// the final crate's object for its re-assembled twin, explain failures.
pub fn run_linker(args: Vec<OsString>) -> ExitCode {
    match linker(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn linker(args: Vec<OsString>) -> Result<()> {
    let mut ld_args: Vec<String> = Vec::new();
    for arg in args {
        let arg = arg
            .into_string()
            .map_err(|arg| anyhow::anyhow!("non-UTF-8 linker argument {arg:?}"))?;
        if arg.ends_with(".rcgu.o") && arg.contains("-cgu.") {
            ld_args.push(reassembled_object(Path::new(&arg))?);
            continue;
        }
        if let Some(list) = arg.strip_prefix("-Wl,") {
            ld_args.extend(list.split(',').map(str::to_owned));
            continue;
        }
        if matches!(arg.as_str(), "-no-pie" | "-nodefaultlibs" | "-nostartfiles")
            || arg.contains("eh-frame-hdr")
            || arg.contains("noexecstack")
            || arg.starts_with("-fuse-ld")
        {
            continue;
        }
        ld_args.push(arg);
    }
    // The kernel names its script (build.rs); services get the shared one.
    if !ld_args.iter().any(|arg| arg.starts_with("-T"))
        && let Ok(script) = std::env::var(SERVICE_SCRIPT_ENV)
    {
        ld_args.push(format!("-T{script}"));
    }
    let output = Command::new(LD).args(&ld_args).output().context(
        "could not run xtensa-lx106-elf-ld (`cargo xtask setup` installs binutils-xtensa-lx106)",
    )?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    bail!("{}", explain_link_failure(&stderr))
}

/// The final crate's objects are swapped only if rustc left its `.s` next
/// to them (the allocator shim has none and stays as it is).
fn reassembled_object(object: &Path) -> Result<String> {
    let dir = object.parent().unwrap_or(Path::new("."));
    let file = object
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    let stem = file.split('.').next().unwrap_or(file);
    let assembly = dir.join(format!("{stem}.s"));
    if !assembly.exists() {
        return Ok(object.display().to_string());
    }
    let replacement = dir.join(format!("{stem}.mc.o"));
    assemble_rust(&assembly, &replacement)?;
    Ok(replacement.display().to_string())
}

/// Turn GNU ld's complaints into what happened and what to do.
pub fn explain_link_failure(stderr: &str) -> String {
    let mut out_of_reach: Vec<String> = Vec::new();
    let mut after_use: Vec<String> = Vec::new();
    let mut misaligned = false;
    for line in stderr.lines() {
        let list = if line.contains("l32r: literal target out of range") {
            &mut out_of_reach
        } else if let Some((_, pool)) = line.split_once("l32r: literal placed after use: ") {
            let pool = pool
                .trim_start_matches('(')
                .split(['+', ')'])
                .next()
                .unwrap_or(pool)
                .to_owned();
            if !after_use.contains(&pool) {
                after_use.push(pool);
            }
            continue;
        } else {
            misaligned |= line.contains("misaligned literal target");
            continue;
        };
        let culprit = culprit_of(line);
        if !list.contains(&culprit) {
            list.push(culprit);
        }
    }
    let mut message = String::new();
    if !out_of_reach.is_empty() {
        message.push_str(&format!(
            "code lies more than 256 KiB after its literal pool, beyond what `l32r` can reach, in: {}.\n\
             Make the image smaller (opt-level \"s\", fewer dependencies) or split literals and text \
             into separate output sections per crate in the linker script.\n",
            out_of_reach.join(", ")
        ));
    }
    if !after_use.is_empty() {
        message.push_str(&format!(
            "literal pools were placed after the code that loads them (`l32r` only reaches back): {}.\n\
             The linker script must put every literal section before all code.\n",
            after_use.join(", ")
        ));
    }
    if misaligned {
        message.push_str(
            "an object still carries LLVM's misaligned literal pool: it was not re-assembled from \
             assembly text. Build through `cargo xtask build`, not plain cargo.\n",
        );
    }
    message.push_str("xtensa-lx106-elf-ld failed:\n");
    message.push_str(stderr.trim_end());
    message
}

/// "crate `name` (section)" from an ld diagnostic line. ld names the
/// object by its source file (`foo.1a2b-cgu.0:(.text.bar+0x4): ...`, from
/// the assembly's `.file`) or by its path (`.../libfoo-1a2b.rlib(...)`).
fn culprit_of(line: &str) -> String {
    let line = line.strip_prefix("xtensa-lx106-elf-ld: ").unwrap_or(line);
    let location = line.split(": ").next().unwrap_or(line);
    let object = location.split(":(").next().unwrap_or(location);
    let section = location
        .split(":(")
        .nth(1)
        .map(|rest| rest.trim_end_matches(')'));
    let file = object.rsplit('/').next().unwrap_or(object);
    let member = file.split('(').nth(1).unwrap_or(file);
    let crate_name = member.split(['-', '.']).next().unwrap_or(member);
    match section {
        Some(section) => format!("crate `{crate_name}` ({section})"),
        None => format!("crate `{crate_name}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::{explain_link_failure, out_of_range_lines};

    #[test]
    fn finds_the_lines_llvm_mc_found_out_of_range() {
        let message = "assembling /t/k.direct.s failed (exit status: 1):\n\
                       /t/k.direct.s:5:13: error: fixup value out of range\n\
                       \tbnez.n  a3, .L2\n\
                       /t/k.direct.s:9:2: error: unknown instruction\n\
                       /t/k.direct.s:12:13: error: fixup value out of range\n";
        let lines: Vec<usize> =
            out_of_range_lines(message, std::path::Path::new("/t/k.direct.s")).collect();
        assert_eq!(lines, [5, 12]);
    }

    #[test]
    fn names_the_crate_beyond_l32r_reach() {
        // As GNU ld prints it: the object, then each relocation by the
        // source file name the assembly declared.
        let ld = "xtensa-lx106-elf-ld: /w/target/xtensa/xtensa-dc233c/release/deps/libbig_tables-0f1e2d3c.rlib(big_tables-0f1e2d3c.mc.o): in function `big_tables::huge':\n\
                  big_tables.5e1f9a0b2c3d4e5f-cgu.0:(.text._ZN10big_tables4huge17h+0x1a): dangerous relocation: l32r: literal target out of range (try using text-section-literals)\n\
                  big_tables.5e1f9a0b2c3d4e5f-cgu.0:(.text._ZN10big_tables4huge17h+0x1a): dangerous relocation: l32r: literal target out of range (try using text-section-literals)\n";
        let message = explain_link_failure(ld);
        assert!(
            message.starts_with("code lies more than 256 KiB after its literal pool"),
            "{message}"
        );
        assert!(
            message.contains("in: crate `big_tables` (.text._ZN10big_tables4huge17h+0x1a).\n"),
            "{message}"
        );
        assert!(message.contains("xtensa-lx106-elf-ld failed:"));
    }

    #[test]
    fn explains_an_object_that_skipped_the_workaround() {
        let ld = "x.o:(.text.f+0x3): dangerous relocation: l32r: misaligned literal target\n";
        let message = explain_link_failure(ld);
        assert!(
            message.contains("was not re-assembled from assembly text"),
            "{message}"
        );
    }

    #[test]
    fn names_pools_placed_after_their_code() {
        let ld = "k-cgu.0:(.text.f+0x9): dangerous relocation: l32r: literal placed after use: (.rodata.g.literal+0x4)\n";
        let message = explain_link_failure(ld);
        assert!(message.starts_with("literal pools were placed after the code that loads them (`l32r` only reaches back): .rodata.g.literal."), "{message}");
    }

    #[test]
    fn passes_other_errors_through() {
        let message = explain_link_failure("ld: undefined reference to `foo'\n");
        assert_eq!(
            message,
            "xtensa-lx106-elf-ld failed:\nld: undefined reference to `foo'"
        );
    }
}
