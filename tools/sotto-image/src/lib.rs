//! Host-side access to a built Sotto image (an Xtensa ELF): read and patch
//! the boot configuration section, and measure sections. Shared by `xtask`,
//! the integration tests and the inspection tools, so all of them agree on
//! where things live in an image.

use object::{Object, ObjectSection, ObjectSymbol};
use sotto_abi::BootConfig;
use sotto_abi::boot::BootConfigError;
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
    let all = read_manifest(elf)?;
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
    write_manifest(elf, &manifest)
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
