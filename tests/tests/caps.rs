//! The capability graph as a picture: `cargo xtask caps --dot --svg FILE`
//! (the same `sotto_caps::write_svg`) renders the default image's graph as
//! well-formed SVG with a box per service and a line per edge, and the
//! picture the README shows, `docs/caps.svg`, is that image's graph.

use std::path::PathBuf;

use sotto_caps::Report;
use sotto_tests::image;

/// The report of the default image, as `cargo xtask caps` makes it.
fn report() -> Report {
    let bytes = std::fs::read(image()).expect("reading the default image");
    sotto_caps::report(&sotto_image::read_manifest(&bytes).expect("the image's manifest"))
}

/// The graph an SVG from Graphviz draws, one line per node or edge
/// (`node NAME: its text lines` or `edge FROM->TO: its label`), sorted;
/// panics unless `svg` is a well-formed SVG document.
fn drawn(svg: &str, what: &str) -> Vec<String> {
    let options = roxmltree::ParsingOptions {
        // Graphviz starts its SVG with the SVG 1.1 doctype.
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let document = roxmltree::Document::parse_with_options(svg, options)
        .unwrap_or_else(|error| panic!("{what} is not well-formed XML: {error}"));
    let root = document.root_element();
    assert_eq!(
        root.tag_name().name(),
        "svg",
        "{what}: the root element is not <svg>"
    );
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg"),
        "{what}: not in the SVG namespace"
    );
    let mut lines: Vec<String> = root
        .descendants()
        .filter(|node| node.has_tag_name("g"))
        .filter_map(|group| {
            let class = group.attribute("class")?;
            if class != "node" && class != "edge" {
                return None;
            }
            let child_text = |tag: &str| -> Vec<String> {
                group
                    .children()
                    .filter(|child| child.has_tag_name(tag))
                    .map(|child| child.text().unwrap_or_default().to_owned())
                    .collect()
            };
            let title = child_text("title").concat();
            Some(format!(
                "{class} {title}: {}",
                child_text("text").join(" / ")
            ))
        })
        .collect();
    lines.sort();
    lines
}

/// What the graph of `report` must show, in the form of [`drawn`].
fn expected(report: &Report) -> Vec<String> {
    let mut lines: Vec<String> = report
        .services
        .iter()
        .map(|service| {
            let threads = match service.threads.len() {
                1 => String::new(),
                n => format!(" / {n} threads"),
            };
            format!(
                "node {0}: {0} / priority {1}{threads}",
                service.name, service.priority
            )
        })
        .chain(report.edges.iter().map(|edge| {
            format!(
                "edge {}->{}: {} (via {})",
                edge.from, edge.to, edge.how, edge.via
            )
        }))
        .collect();
    lines.sort();
    lines
}

#[test]
fn the_svg_of_the_default_image_shows_every_service_and_edge() {
    let report = report();
    assert!(
        report.services.len() >= 2,
        "the default system has services"
    );
    let out = image().with_file_name("caps-test.svg");
    let _ = std::fs::remove_file(&out);
    sotto_caps::write_svg(&sotto_caps::render_dot(&report), &out)
        .expect("rendering the graph (`cargo xtask setup` installs Graphviz)");
    let svg = std::fs::read_to_string(&out).expect("the SVG was written");
    assert!(
        svg.starts_with("<?xml") || svg.starts_with("<svg"),
        "not an SVG file: {}",
        &svg[..svg.len().min(200)]
    );
    assert_eq!(drawn(&svg, "the rendered SVG"), expected(&report));
}

#[test]
fn the_readme_picture_is_the_default_system_graph() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/caps.svg");
    let svg = std::fs::read_to_string(&path).expect("reading docs/caps.svg");
    assert_eq!(
        drawn(&svg, "docs/caps.svg"),
        expected(&report()),
        "docs/caps.svg is not the default system's graph: regenerate it with \
         `cargo xtask caps --dot --svg docs/caps.svg`"
    );
}
