//! `system.toml`: the services of an image, checked before anything is
//! built. Every error names the file, the service and the field.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use sotto_abi::layout::{PAGE_SIZE, USER_POOL_SIZE};
use sotto_abi::manifest::{LOWEST_PRIORITY, MAX_NAME, MAX_SERVICES};

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemFile {
    /// Kernel settings.
    #[serde(default)]
    pub kernel: KernelSection,
    /// The services, in start order.
    #[serde(default, rename = "service")]
    pub services: Vec<ServiceEntry>,
}

/// `[kernel]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelSection {
    /// Tick rate in Hz.
    pub tick_hz: Option<u32>,
    /// Virtual time before shutdown, e.g. "2s"; "0" for none.
    pub time: Option<String>,
    /// How often to print a tick line, e.g. "250ms"; "0" for never.
    pub report_every: Option<String>,
}

/// `[[service]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEntry {
    /// Unique name (console prefix, fault reports).
    pub name: String,
    /// Crate under `services/`.
    #[serde(rename = "crate")]
    pub krate: String,
    /// 0 (most urgent) ..= 7.
    pub priority: u8,
    /// Stack bytes (page multiple).
    pub stack_size: u32,
    /// Memory budget in bytes (page multiple): code, data, stack and page
    /// tables must fit.
    pub memory: u32,
    /// Passed to the service's main function.
    #[serde(default)]
    pub arg: u32,
}

/// A checked system.
#[derive(Debug)]
pub struct System {
    /// Its contents.
    pub file: SystemFile,
}

/// Everything wrong with a system file.
#[derive(Debug)]
pub struct SystemError {
    path: String,
    problems: Vec<String>,
}

impl fmt::Display for SystemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {problem}", self.path)?;
        }
        Ok(())
    }
}

impl std::error::Error for SystemError {}

/// Page-table frames each service costs (L1 + two L2).
pub const PAGE_TABLE_BYTES: u32 = 3 * PAGE_SIZE;

/// Read and check `path`; `crate_exists` says whether a crate name is a
/// service crate.
pub fn load(path: &Path, crate_exists: impl Fn(&str) -> bool) -> Result<System, SystemError> {
    let shown = path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let error = |problems| SystemError {
        path: shown.clone(),
        problems,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| error(vec![format!("cannot read {}: {e}", path.display())]))?;
    let file: SystemFile = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start].matches('\n').count() + 1);
        let message = e.message().to_owned();
        error(vec![match line {
            Some(line) => format!("line {line}: {message}"),
            None => message,
        }])
    })?;
    let problems = check(&file, crate_exists);
    if problems.is_empty() {
        Ok(System { file })
    } else {
        Err(error(problems))
    }
}

fn check(file: &SystemFile, crate_exists: impl Fn(&str) -> bool) -> Vec<String> {
    let mut problems = Vec::new();
    if file.services.len() > MAX_SERVICES {
        problems.push(format!(
            "{} services declared, at most {MAX_SERVICES} fit in an image",
            file.services.len()
        ));
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, service) in file.services.iter().enumerate() {
        let mut problem = |field: &str, what: String| {
            problems.push(format!(
                "service \"{}\" (#{}): {field}: {what}",
                service.name,
                index + 1
            ));
        };
        let name = service.name.as_str();
        if name.is_empty() || name.len() > MAX_NAME {
            problem("name", format!("must be 1 to {MAX_NAME} bytes long"));
        } else if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            problem(
                "name",
                "may use only ASCII letters, digits, '-' and '_'".into(),
            );
        }
        if let Some(first) = seen.insert(name, index) {
            problem(
                "name",
                format!("duplicate: service #{} has the same name", first + 1),
            );
        }
        if !crate_exists(&service.krate) {
            problem(
                "crate",
                format!(
                    "\"{}\" is not a service crate (no services/{}/Cargo.toml)",
                    service.krate, service.krate
                ),
            );
        }
        if service.priority > LOWEST_PRIORITY {
            problem(
                "priority",
                format!(
                    "{} is out of range (0 = most urgent ..= {LOWEST_PRIORITY})",
                    service.priority
                ),
            );
        }
        for (field, value) in [
            ("stack_size", service.stack_size),
            ("memory", service.memory),
        ] {
            if value == 0 {
                problem(field, "must not be 0".into());
            } else if !value.is_multiple_of(PAGE_SIZE) {
                problem(
                    field,
                    format!("{value} is not a multiple of the page size ({PAGE_SIZE})"),
                );
            }
        }
        if service.stack_size > 0
            && service.memory > 0
            && service.stack_size + PAGE_TABLE_BYTES > service.memory
        {
            problem(
                "memory",
                format!(
                    "{} bytes cannot hold the {}-byte stack and {PAGE_TABLE_BYTES} bytes of page tables",
                    service.memory, service.stack_size
                ),
            );
        }
    }
    let total: u64 = file
        .services
        .iter()
        .map(|service| u64::from(service.memory))
        .sum();
    if total > u64::from(USER_POOL_SIZE) {
        problems.push(format!(
            "the services' memory adds up to {} KiB, more than the {} KiB service pool",
            total / 1024,
            USER_POOL_SIZE / 1024
        ));
    }
    problems
}

/// Check that a built service fits its budget: `image_bytes` of segments
/// (page-rounded) plus stack and page tables.
pub fn check_fit(service: &ServiceEntry, image_bytes: u32) -> Result<(), String> {
    let needed = image_bytes + service.stack_size + PAGE_TABLE_BYTES;
    if needed > service.memory {
        return Err(format!(
            "service \"{}\": memory: {} bytes do not fit: code and data take {image_bytes}, the stack {}, page tables {PAGE_TABLE_BYTES} (need {needed})",
            service.name, service.memory, service.stack_size
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{ServiceEntry, check_fit, load};
    use std::path::Path;

    /// Every `fixtures/systems/*.toml` either loads (no `.err` beside it) or
    /// fails with exactly the text of its `.err` file.
    #[test]
    fn fixtures() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/systems");
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|ext| ext != "toml") {
                continue;
            }
            count += 1;
            let expected = std::fs::read_to_string(path.with_extension("err")).ok();
            let result = load(&path, |krate| ["hello", "ticker"].contains(&krate));
            match (result, expected) {
                (Ok(_), None) => {}
                (Ok(_), Some(expected)) => {
                    panic!("{} loaded, expected:\n{expected}", path.display())
                }
                (Err(error), Some(expected)) => {
                    assert_eq!(error.to_string(), expected.trim_end(), "{}", path.display())
                }
                (Err(error), None) => panic!("{} failed:\n{error}", path.display()),
            }
        }
        assert!(count >= 8, "only {count} fixtures");
    }

    #[test]
    fn built_services_must_fit_their_budget() {
        let service = ServiceEntry {
            name: "hello".into(),
            krate: "hello".into(),
            priority: 3,
            stack_size: 8192,
            memory: 32768,
            arg: 0,
        };
        assert_eq!(check_fit(&service, 12288), Ok(()));
        assert_eq!(
            check_fit(&service, 16384),
            Err("service \"hello\": memory: 32768 bytes do not fit: code and data take 16384, the stack 8192, page tables 12288 (need 36864)".into())
        );
    }
}
