//! Host-side access to a built Sotto image (an Xtensa ELF): read and patch
//! the boot configuration section, and measure sections. Shared by `xtask`,
//! the integration tests and the inspection tools, so all of them agree on
//! where things live in an image.

use object::{Object, ObjectSection, ObjectSymbol};
use sotto_abi::BootConfig;
use sotto_abi::boot::{BootConfigError, InjectedFault, MAX_INJECTED_FAULTS};
use sotto_abi::layout::{BOOT_CONFIG_SECTION, BOOT_CONFIG_SIZE};
use sotto_abi::manifest::{MANIFEST_SECTION, MANIFEST_SIZE, ManifestError};

/// Environment variable through which `cargo xtask test` tells the
/// integration tests where the built images are (`sotto.elf`, `test.elf`).
pub const IMAGE_DIR_ENV: &str = "SOTTO_IMAGE_DIR";

/// What can go wrong reading or patching an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Not an ELF file we can parse.
    #[error("not a readable ELF image: {0}")]
    Elf(#[from] object::read::Error),
    /// The image lacks a section every Sotto image has.
    #[error("the image has no `{0}` section: was it built by `cargo xtask build`?")]
    MissingSection(&'static str),
    /// A fixed-size section has the wrong size.
    #[error("section `{0}` is {1} bytes, expected {2}")]
    SectionSize(&'static str, u64, usize),
    /// The image carries no service of this name (or the name is too long).
    #[error("the image has no service `{0}` (or the name is longer than 16 bytes)")]
    NoSuchService(String),
    /// The manifest is invalid.
    #[error("service manifest: {0}")]
    Manifest(ManifestError),
    /// The boot configuration is invalid.
    #[error("boot configuration: {0}")]
    BootConfig(BootConfigError),
    /// A fault to inject names no thread of the image, or there are too
    /// many.
    #[error("injected fault: {0}")]
    Fault(String),
}

/// File offsets of section `name`, which must be `size` bytes.
fn section_range(
    elf: &[u8],
    name: &'static str,
    size: usize,
) -> Result<std::ops::Range<usize>, ImageError> {
    let file = object::File::parse(elf)?;
    let section = file
        .section_by_name(name)
        .ok_or(ImageError::MissingSection(name))?;
    let (offset, actual) = section
        .file_range()
        .ok_or(ImageError::MissingSection(name))?;
    if actual != size as u64 {
        return Err(ImageError::SectionSize(name, actual, size));
    }
    Ok(offset as usize..(offset + actual) as usize)
}

fn boot_section_range(elf: &[u8]) -> Result<std::ops::Range<usize>, ImageError> {
    section_range(elf, BOOT_CONFIG_SECTION, BOOT_CONFIG_SIZE)
}

/// Write `config` into the image's boot configuration section.
pub fn write_boot_config(elf: &mut [u8], config: &BootConfig) -> Result<(), ImageError> {
    let range = boot_section_range(elf)?;
    let encoded = config.encode().map_err(ImageError::BootConfig)?;
    elf[range].copy_from_slice(&encoded);
    Ok(())
}

/// Read the boot configuration of an image.
pub fn read_boot_config(elf: &[u8]) -> Result<BootConfig, ImageError> {
    let range = boot_section_range(elf)?;
    BootConfig::decode(&elf[range]).map_err(ImageError::BootConfig)
}

/// Size of a section, if the image has it.
pub fn section_size(elf: &[u8], name: &str) -> Result<Option<u64>, ImageError> {
    let file = object::File::parse(elf)?;
    Ok(file.section_by_name(name).map(|section| section.size()))
}

/// Address of a symbol, if the image defines it.
pub fn symbol_address(elf: &[u8], name: &str) -> Result<Option<u64>, ImageError> {
    let file = object::File::parse(elf)?;
    Ok(file
        .symbols()
        .find(|symbol| symbol.name() == Ok(name))
        .map(|symbol| symbol.address()))
}

pub mod qemu;

/// Write `manifest` into the image's manifest section.
pub fn write_manifest(elf: &mut [u8], manifest: &sotto_abi::Manifest) -> Result<(), ImageError> {
    let range = section_range(elf, MANIFEST_SECTION, MANIFEST_SIZE)?;
    let encoded = manifest.encode().map_err(ImageError::Manifest)?;
    elf[range].copy_from_slice(&encoded);
    Ok(())
}

/// Read the manifest of an image.
pub fn read_manifest(elf: &[u8]) -> Result<sotto_abi::Manifest, ImageError> {
    let range = section_range(elf, MANIFEST_SECTION, MANIFEST_SIZE)?;
    sotto_abi::Manifest::decode(&elf[range]).map_err(ImageError::Manifest)
}

/// File offsets of a section, if the image has it (for tests that damage
/// an image on purpose).
pub fn section_file_range(
    elf: &[u8],
    name: &str,
) -> Result<Option<std::ops::Range<usize>>, ImageError> {
    let file = object::File::parse(elf)?;
    Ok(file
        .section_by_name(name)
        .and_then(|section| section.file_range())
        .map(|(offset, size)| offset as usize..(offset + size) as usize))
}

/// A service to start from an image's manifest: which service (by its
/// name there), under what name, priority and argument.
#[derive(Clone, Copy, Debug)]
pub struct Start<'a> {
    /// Name of the service in `tests/system.toml`.
    pub from: &'a str,
    /// Name to run it under.
    pub name: &'a str,
    /// Priority.
    pub priority: u8,
    /// Argument.
    pub arg: u32,
}

impl<'a> Start<'a> {
    /// Start service `from` under its own name at priority 3.
    pub fn new(from: &'a str, arg: u32) -> Self {
        Start {
            from,
            name: from,
            priority: 3,
            arg,
        }
    }

    /// The same, under another name.
    pub fn named(self, name: &'a str) -> Self {
        Start { name, ..self }
    }

    /// The same, at another priority.
    pub fn priority(self, priority: u8) -> Self {
        Start { priority, ..self }
    }
}

/// Rewrite the image's manifest to start exactly `starts`, each a copy of
/// a service the image already carries (same segments) under a new name,
/// priority and argument. Tests and benchmarks build one image this way.
pub fn start_services(elf: &mut [u8], starts: &[Start<'_>]) -> Result<(), ImageError> {
    let manifest = chosen_services(&read_manifest(elf)?, starts)?;
    write_manifest(elf, &manifest)
}

/// The manifest starting exactly `starts` of the services in `all`.
fn chosen_services(
    all: &sotto_abi::Manifest,
    starts: &[Start<'_>],
) -> Result<sotto_abi::Manifest, ImageError> {
    // Same objects (grants name them by index), chosen services.
    let mut manifest = sotto_abi::Manifest {
        objects: all.objects.clone(),
        ..Default::default()
    };
    for start in starts {
        let mut service = all
            .services
            .iter()
            .find(|service| service.name.as_str() == start.from)
            .ok_or_else(|| ImageError::NoSuchService(start.from.to_owned()))?
            .clone();
        service.name = heapless::String::try_from(start.name)
            .map_err(|_| ImageError::NoSuchService(start.name.to_owned()))?;
        service.priority = start.priority;
        service.arg = start.arg;
        manifest
            .services
            .push(service)
            .map_err(|_| ImageError::Manifest(ManifestError::TooLarge))?;
    }
    // A thread object names its service by number: follow it to the
    // first copy of that service started, or past every thread if none
    // is (its holders then find no thread), so a thread capability never
    // reaches another service's thread; and number the thread again as
    // the kernel will.
    let further: Vec<usize> = manifest.services.iter().map(|s| s.threads.len()).collect();
    let past = further.len() + further.iter().sum::<usize>();
    // The first copy started of the service numbered `index` in `all`.
    let started_as = |index: usize| {
        let name = all.services.get(index).map(|s| s.name.as_str());
        starts.iter().position(|start| Some(start.from) == name)
    };
    // A service object follows its service the same way (past every
    // service if it is not started: its holders then control nothing);
    // so does a supervisor (none if it is not started).
    for object in manifest.objects.iter_mut() {
        if let sotto_abi::manifest::ObjectParams::Service { service } = &mut object.params {
            *service = started_as(usize::from(*service)).unwrap_or(starts.len()) as u16;
        }
    }
    for service in manifest.services.iter_mut() {
        let policy = &mut service.supervision;
        policy.supervisor = policy
            .supervisor
            .and_then(|supervisor| started_as(usize::from(supervisor)))
            .map(|started| started as u8);
    }
    for object in manifest.objects.iter_mut() {
        if let sotto_abi::manifest::ObjectParams::Thread {
            service,
            thread,
            id,
        } = &mut object.params
        {
            let name = all
                .services
                .get(usize::from(*service))
                .map(|s| s.name.as_str());
            let started = starts.iter().position(|start| Some(start.from) == name);
            *service = started.unwrap_or(starts.len()) as u16;
            *id = started
                .and_then(|started| {
                    sotto_abi::manifest::thread_id(&further, started, usize::from(*thread))
                })
                .unwrap_or(past) as u16;
        }
    }
    Ok(manifest)
}

/// The initial contents of the memory object `name` (filled from a
/// pipeline file), if the image has such an object.
pub fn object_contents(elf: &[u8], name: &str) -> Result<Option<Vec<u8>>, ImageError> {
    let manifest = read_manifest(elf)?;
    let Some(object) = manifest
        .objects
        .iter()
        .find(|object| object.name.as_str() == name)
    else {
        return Ok(None);
    };
    let sotto_abi::manifest::ObjectParams::Memory {
        init: Some((offset, len)),
        ..
    } = object.params
    else {
        return Ok(None);
    };
    let section = section_file_range(elf, sotto_abi::manifest::SERVICES_SECTION)?.ok_or(
        ImageError::MissingSection(sotto_abi::manifest::SERVICES_SECTION),
    )?;
    let start = section.start + offset as usize;
    Ok(elf.get(start..start + len as usize).map(<[u8]>::to_vec))
}

/// A service's name and its further threads' names, as
/// [`fault_thread`] takes them.
pub type ServiceThreads<'a> = (&'a str, Vec<&'a str>);

/// The services of `manifest` and their threads' names, in its order.
pub fn service_threads(manifest: &sotto_abi::Manifest) -> Vec<ServiceThreads<'_>> {
    manifest
        .services
        .iter()
        .map(|service| {
            let threads = service.threads.iter().map(|t| t.name.as_str()).collect();
            (service.name.as_str(), threads)
        })
        .collect()
}

/// The kernel's thread number ([`sotto_abi::manifest::thread_id`]) of
/// `target` among `services` (in manifest order): `"service"` its main
/// thread, `"service/thread"` one of its further threads; or why there is
/// none, naming the choices.
pub fn fault_thread(services: &[ServiceThreads<'_>], target: &str) -> Result<u16, String> {
    let (service_name, thread_name) = match target.split_once('/') {
        Some((service, thread)) => (service, Some(thread)),
        None => (target, None),
    };
    let Some(service) = services.iter().position(|(name, _)| *name == service_name) else {
        let names: Vec<&str> = services.iter().map(|(name, _)| *name).collect();
        return Err(format!(
            "no service is named \"{service_name}\" (the services: {})",
            names.join(", ")
        ));
    };
    let threads = &services[service].1;
    let thread = match thread_name {
        None => 0,
        Some(name) => match threads.iter().position(|thread| *thread == name) {
            Some(number) => number + 1,
            None if threads.is_empty() => {
                return Err(format!(
                    "service \"{service_name}\" has no thread named \"{name}\" (it has only its main thread: write \"{service_name}\")"
                ));
            }
            None => {
                return Err(format!(
                    "service \"{service_name}\" has no thread named \"{name}\" (its threads: {}; \"{service_name}\" alone is its main thread)",
                    threads.join(", ")
                ));
            }
        },
    };
    let further: Vec<usize> = services.iter().map(|(_, threads)| threads.len()).collect();
    sotto_abi::manifest::thread_id(&further, service, thread)
        .and_then(|id| u16::try_from(id).ok())
        .ok_or_else(|| format!("\"{target}\" is not a thread"))
}

/// Put `faults` into `config` in tick order (faults of one tick in the
/// order given); at most [`MAX_INJECTED_FAULTS`].
pub fn set_injected_faults(
    config: &mut BootConfig,
    faults: &[InjectedFault],
) -> Result<(), String> {
    if faults.len() > MAX_INJECTED_FAULTS {
        return Err(format!(
            "{} faults, at most {MAX_INJECTED_FAULTS} fit in the boot configuration",
            faults.len()
        ));
    }
    let mut sorted = faults.to_vec();
    sorted.sort_by_key(|fault| fault.tick);
    config.faults = [InjectedFault::default(); MAX_INJECTED_FAULTS];
    config.faults[..sorted.len()].copy_from_slice(&sorted);
    config.fault_count = sorted.len() as u8;
    Ok(())
}

/// Make the image inject `faults` (a service or `service/thread` of its
/// manifest, and the tick): its boot configuration is rewritten with
/// them (replacing any it had). For tests: `inject_faults(&mut bytes,
/// &[("pipeline", 500)])` after choosing the services and the time.
pub fn inject_faults(elf: &mut [u8], faults: &[(&str, u32)]) -> Result<(), ImageError> {
    let manifest = read_manifest(elf)?;
    let services = service_threads(&manifest);
    let mut config = read_boot_config(elf)?;
    let resolved = faults
        .iter()
        .map(|&(target, tick)| {
            fault_thread(&services, target)
                .map(|thread| InjectedFault { thread, tick })
                .map_err(|problem| ImageError::Fault(format!("{target}@tick {tick}: {problem}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    set_injected_faults(&mut config, &resolved).map_err(ImageError::Fault)?;
    write_boot_config(elf, &config)
}

#[cfg(test)]
mod tests {
    use super::{fault_thread, service_threads, set_injected_faults};
    use sotto_abi::BootConfig;
    use sotto_abi::boot::InjectedFault;
    use sotto_abi::manifest::{Manifest, Service, Thread};

    fn service(name: &str, threads: &[&str]) -> Service {
        Service {
            name: heapless::String::try_from(name).unwrap(),
            priority: 3,
            entry: 0,
            stack_size: 4096,
            arg: 0,
            segments: heapless::Vec::new(),
            caps: heapless::Vec::new(),
            threads: threads
                .iter()
                .map(|name| Thread {
                    name: heapless::String::try_from(*name).unwrap(),
                    priority: 4,
                    max_priority: 4,
                    entry: 0,
                    stack_size: 4096,
                    arg: 1,
                })
                .collect(),
            supervision: Default::default(),
        }
    }

    /// Main threads are numbered by their services, further threads after
    /// all of them: as the kernel adds them (and as thread grants name
    /// them).
    #[test]
    fn faults_name_the_kernels_thread() {
        let mut manifest = Manifest::default();
        for (name, threads) in [
            ("ll", &[][..]),
            ("pipeline", &["eq", "fir"]),
            ("worker", &["dp"]),
        ] {
            manifest.services.push(service(name, threads)).unwrap();
        }
        let manifest = service_threads(&manifest);
        assert_eq!(fault_thread(&manifest, "ll"), Ok(0));
        assert_eq!(fault_thread(&manifest, "worker"), Ok(2));
        assert_eq!(fault_thread(&manifest, "pipeline/eq"), Ok(3));
        assert_eq!(fault_thread(&manifest, "pipeline/fir"), Ok(4));
        assert_eq!(fault_thread(&manifest, "worker/dp"), Ok(5));
        assert_eq!(
            fault_thread(&manifest, "echo"),
            Err("no service is named \"echo\" (the services: ll, pipeline, worker)".into())
        );
        assert_eq!(
            fault_thread(&manifest, "pipeline/dp"),
            Err("service \"pipeline\" has no thread named \"dp\" (its threads: eq, fir; \"pipeline\" alone is its main thread)".into())
        );
        assert_eq!(
            fault_thread(&manifest, "ll/main"),
            Err("service \"ll\" has no thread named \"main\" (it has only its main thread: write \"ll\")".into())
        );
    }

    /// A copy of a service keeps its supervisor if that is started too
    /// (under its new number), and a service object follows its service:
    /// neither may name another service than the one meant.
    #[test]
    fn chosen_services_keep_supervisors_and_service_objects_right() {
        use super::{Start, chosen_services};
        use sotto_abi::manifest::{Object, ObjectParams};
        use sotto_abi::supervise::Supervision;
        let mut all = Manifest::default();
        all.objects
            .push(Object {
                name: heapless::String::try_from("worker").unwrap(),
                params: ObjectParams::Service { service: 1 },
            })
            .unwrap();
        all.services.push(service("boss", &[])).unwrap();
        let mut worker = service("worker", &[]);
        worker.supervision = Supervision {
            supervisor: Some(0),
            ..Supervision::default()
        };
        all.services.push(worker).unwrap();
        let chosen = chosen_services(
            &all,
            &[
                Start::new("worker", 0),
                Start::new("boss", 0),
                Start::new("worker", 1).named("w2"),
            ],
        )
        .unwrap();
        assert_eq!(
            chosen.objects[0].params,
            ObjectParams::Service { service: 0 }
        );
        assert_eq!(chosen.services[0].supervision.supervisor, Some(1));
        assert_eq!(chosen.services[2].supervision.supervisor, Some(1));
        assert_eq!(chosen.services[1].supervision.supervisor, None);
        // Without its supervisor a copy is unsupervised; a service object
        // of a service not started names none.
        let alone = chosen_services(&all, &[Start::new("worker", 0)]).unwrap();
        assert_eq!(alone.services[0].supervision.supervisor, None);
        let boss = chosen_services(&all, &[Start::new("boss", 0)]).unwrap();
        assert_eq!(boss.objects[0].params, ObjectParams::Service { service: 1 });
    }

    #[test]
    fn faults_go_in_tick_order_and_at_most_sixteen() {
        let fault = |thread, tick| InjectedFault { thread, tick };
        let mut config = BootConfig::default();
        set_injected_faults(&mut config, &[fault(3, 900), fault(1, 500), fault(2, 900)]).unwrap();
        assert_eq!(
            config.injected(),
            &[fault(1, 500), fault(3, 900), fault(2, 900)]
        );
        assert_eq!(config.encode().map(|_| ()), Ok(()));
        set_injected_faults(&mut config, &[fault(4, 7)]).unwrap();
        assert_eq!(config.injected(), &[fault(4, 7)]);
        assert_eq!(config.faults[1], InjectedFault::default());
        let many = vec![fault(0, 1); 17];
        assert_eq!(
            set_injected_faults(&mut config, &many),
            Err("17 faults, at most 16 fit in the boot configuration".into())
        );
        set_injected_faults(&mut config, &many[..16]).unwrap();
        assert_eq!(config.fault_count, 16);
    }
}
