//! The layering of src/, enforced: each layer uses only the layers below it
//! (error < format < file < btree < db < compact < capi), by module path; the crate
//! root's re-exports (`crate::Db`...) are for users and capi, so lower layers may not
//! reach through them.

use std::path::Path;

const LAYERS: [&str; 7] = ["error", "format", "file", "btree", "db", "compact", "capi"];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == module)
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::<name>` a file refers to.
fn references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        found.push(name);
        rest = after;
    }
    found
}

#[test]
fn lower_layers_never_use_higher_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut checked = 0;
    let mut violations = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let layer = top.trim_end_matches(".rs");
        let Some(mine) = rank(layer) else {
            continue; // lib.rs, bin/, cxx/: not layers
        };
        checked += 1;
        let text = std::fs::read_to_string(file).unwrap();
        for name in references(&text) {
            match rank(&name) {
                Some(theirs) if theirs > mine => {
                    violations.push(format!("{}: {layer} uses crate::{name}", rel.display()))
                }
                None if layer != "capi" => violations.push(format!(
                    "{}: {layer} uses crate::{name} (a re-export: name the module)",
                    rel.display()
                )),
                _ => {}
            }
        }
    }
    assert!(checked > 40, "found the layers' files ({checked})");
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_check_catches_a_violation() {
    assert_eq!(
        references("use crate::db::Db; crate::Error"),
        ["db", "Error"]
    );
    assert!(rank("db") > rank("btree"));
}
