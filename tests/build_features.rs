//! Keeps the builds of one checkout sharing their dependencies. `scripts/setup.sh` and
//! `scripts/test.sh` build fer-rt, fer-rt-torch, the Python package and the tests with and
//! without libtorch, five feature sets over one `target/`. Cargo compiles a crate once per
//! set of features asked of it, and everything above a crate that changed compiles again:
//! when one build asked a shared crate for a feature the others did not, Arrow, Parquet,
//! tch and fer-rt itself compiled up to four times, ~9 minutes of a cold run on two cores
//! (BENCHMARKS.md).
//! Cargo.toml asks every such feature of all builds ("Build time only"); this test fails
//! when a dependency update makes them differ again, naming the crate and the features to
//! add there.
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The builds `scripts/setup.sh` and `scripts/test.sh` run: a name, `cargo tree`'s edge
/// kinds (dev: the tests' own dependencies), and the package and features.
const BUILDS: &[(&str, &str, &[&str])] = &[
    ("fer-rt", "normal", &["-p", "fer-rt"]),
    ("fer-rt-torch", "normal", &["-p", "fer-rt", "--features", "torch"]),
    ("the Python package", "normal", &["-p", "fer-rt-python"]),
    ("the tests with libtorch", "normal,dev", &["-p", "fer-rt", "--features", "torch"]),
    ("the tests", "normal,dev", &["-p", "fer-rt"]),
];

/// Every registry crate of a build's graph ("name version"), with the features it is
/// built with.
fn resolved(edges: &str, args: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(ROOT)
        .args(["tree", "--locked", "--offline", "--prefix", "none", "-f", "{p} {f}", "-e", edges])
        .args(args)
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "cargo tree {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let mut crates = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        // this workspace's own packages ("(/path)") differ by design: fer-rt's torch feature
        if words.len() < 2 || words.iter().any(|w| w.starts_with("(/")) {
            continue;
        }
        // after name and version: "(path)", "(proc-macro)", "(*)" and the features, if any
        let features =
            words[2..].iter().filter(|w| !w.starts_with('(')).flat_map(|w| w.split(',')).map(String::from).collect();
        crates.insert(format!("{} {}", words[0], words[1]), features);
    }
    crates
}

#[test]
fn every_build_asks_the_same_features_of_a_shared_crate() {
    let builds: Vec<(&str, BTreeMap<String, BTreeSet<String>>)> =
        BUILDS.iter().map(|(name, edges, args)| (*name, resolved(edges, args))).collect();
    // sanity: the graphs are read, and a crate every build has is found in each
    for (name, crates) in &builds {
        assert!(crates.keys().any(|k| k.starts_with("serde ")), "{name}: no serde in {} crates", crates.len());
    }
    let mut differ = Vec::new();
    let names: BTreeSet<&String> = builds.iter().flat_map(|(_, c)| c.keys()).collect();
    for krate in names {
        let sets: Vec<(&str, &BTreeSet<String>)> =
            builds.iter().filter_map(|(b, c)| c.get(krate).map(|f| (*b, f))).collect();
        let all: BTreeSet<&String> = sets.iter().flat_map(|(_, f)| f.iter()).collect();
        for (build, features) in &sets {
            let missing: Vec<&str> = all.iter().filter(|f| !features.contains(**f)).map(|f| f.as_str()).collect();
            if !missing.is_empty() {
                differ.push(format!("{krate}: without {} for {build}", missing.join(",")));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "shared crates built with different features (each compiles again, with all above it); \
         add the features under \"Build time only\" in Cargo.toml:\n{}",
        differ.join("\n")
    );
}
