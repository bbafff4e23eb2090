//! `sotto-caps`: what a built image grants, without booting it (also
//! `cargo xtask caps`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "sotto-caps",
    about = "Show the capabilities, memory map and reachability of a Sotto image"
)]
struct Cli {
    /// The image (an ELF built by `cargo xtask build`).
    image: PathBuf,
    /// Show what changed from IMAGE to this image.
    #[arg(long, value_name = "OTHER")]
    diff: Option<PathBuf>,
    /// Print the reachability graph in Graphviz's language.
    #[arg(long, conflicts_with_all = ["json", "diff"])]
    dot: bool,
    /// Also render the graph to this SVG file (needs Graphviz's `dot`: the
    /// Debian package graphviz, which `cargo xtask setup` installs).
    #[arg(long, value_name = "FILE", requires = "dot")]
    svg: Option<PathBuf>,
    /// Print everything as JSON.
    #[arg(long, conflicts_with = "diff")]
    json: bool,
}

fn load(path: &PathBuf) -> Result<sotto_caps::Report> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let manifest = sotto_image::read_manifest(&bytes)
        .with_context(|| format!("reading the manifest of {}", path.display()))?;
    Ok(sotto_caps::report(&manifest))
}

fn run(cli: Cli) -> Result<()> {
    let report = load(&cli.image)?;
    if let Some(other) = &cli.diff {
        print!("{}", sotto_caps::diff(&report, &load(other)?));
    } else if cli.json {
        print!("{}", sotto_caps::render_json(&report));
    } else if cli.dot {
        let dot = sotto_caps::render_dot(&report);
        print!("{dot}");
        if let Some(svg) = &cli.svg {
            sotto_caps::write_svg(&dot, svg)?;
        }
    } else {
        print!("{}", sotto_caps::render_text(&report));
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
