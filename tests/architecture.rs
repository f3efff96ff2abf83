//! Keeps ARCHITECTURE.md true: every module of `src/lib.rs` sits in exactly one layer of its
//! table, and no file imports a module of a higher layer, or one of its own layer unless
//! the document allows that pair. Test modules (`#[cfg(test)]` to the end of a file) are
//! left out: a test may reach wherever it needs.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Module -> layer number, and the allowed same-layer pairs, from ARCHITECTURE.md.
fn layers() -> (BTreeMap<String, u32>, BTreeSet<(String, String)>) {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).unwrap();
    let mut layer = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(n) = cells.get(1).and_then(|c| c.parse::<u32>().ok()) else { continue };
        for m in ticked(cells[3]) {
            assert!(layer.insert(m.clone(), n).is_none(), "{m} is in two layers");
        }
    }
    let allowed = doc
        .split("Allowed within a layer:")
        .nth(1)
        .expect("the allowed pairs")
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("- "))
        .map(|l| {
            let t = ticked(l);
            (t[0].clone(), t[1].clone())
        })
        .collect();
    (layer, allowed)
}

/// The `backticked` words of a line.
fn ticked(s: &str) -> Vec<String> {
    s.split('`').skip(1).step_by(2).map(String::from).collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The crate modules a file's non-test code names as `crate::<module>`.
fn imports(text: &str, known: &BTreeMap<String, u32>) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    code.split("crate::")
        .skip(1)
        .filter_map(|rest| {
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            known.contains_key(&name).then_some(name)
        })
        .collect()
}

#[test]
fn every_module_has_a_layer() {
    let (layer, _) = layers();
    let lib = std::fs::read_to_string(Path::new(ROOT).join("src/lib.rs")).unwrap();
    let modules: BTreeSet<String> =
        lib.lines().filter_map(|l| l.trim().strip_prefix("pub mod ")).map(|m| m.trim_end_matches(';').into()).collect();
    let documented: BTreeSet<String> = layer.keys().cloned().collect();
    assert_eq!(modules, documented, "src/lib.rs modules vs ARCHITECTURE.md's layer table");
}

#[test]
fn no_file_imports_upward_or_sideways() {
    let (layer, allowed) = layers();
    let mut files = Vec::new();
    rust_files(&Path::new(ROOT).join("src"), &mut files);
    let mut bad = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(Path::new(ROOT).join("src")).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        let Some(&own) = layer.get(&top) else { continue }; // lib.rs, main.rs
        for m in imports(&std::fs::read_to_string(f).unwrap(), &layer) {
            let theirs = layer[&m];
            let sideways = theirs == own && m != top && !allowed.contains(&(top.clone(), m.clone()));
            if theirs > own || sideways {
                bad.push(format!("{} (layer {own}) imports {m} (layer {theirs})", rel.display()));
            }
        }
    }
    assert!(bad.is_empty(), "layer rule broken:\n{}", bad.join("\n"));
}

/// The checker itself: an upward import in a made-up file is found.
#[test]
fn the_check_sees_an_upward_import() {
    let (layer, _) = layers();
    let found = imports(
        "use crate::messages::Face;\nfn f() { crate::pipeline::run(); }\n#[cfg(test)]\nuse crate::cli;",
        &layer,
    );
    assert_eq!(found, ["messages", "pipeline"].map(String::from).into());
    assert!(layer["pipeline"] > layer["messages"]);
}
