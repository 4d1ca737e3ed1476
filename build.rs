//! Finds the RNNoise model that the `nnnoiseless` dependency ships (`src/weights.rnn` in its
//! package) and copies it into `OUT_DIR`, so `media::rnnoise` runs the very same network
//! through its own inference code (see that module for why) without a second copy of the
//! weights in this repository.
//!
//! The package is found from what the build itself fetched: its version and source come from
//! `Cargo.lock`, and a registry package is unpacked under `$CARGO_HOME/registry/src/<index>/`.
//! `cargo metadata` is only the fallback for other sources (vendored, git, path): it resolves
//! the whole graph, dev-dependencies included, and on a fresh machine a plain `cargo build`
//! has never downloaded those, so asking it first broke the README's first command.

use std::path::{Path, PathBuf};
use std::process::Command;

const MODEL_FILE: &str = "rnnoise-weights.rnn";
const PACKAGE: &str = "nnnoiseless";

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CARGO_HOME");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let weights = locate_in_registry(&manifest_dir)
        .or_else(|registry_why| {
            locate_with_cargo_metadata(&manifest_dir)
                .map_err(|metadata_why| format!("{registry_why}; {metadata_why}"))
        })
        .unwrap_or_else(|why| {
            panic!("cannot find the RNNoise weights of the {PACKAGE} dependency: {why}")
        });
    std::fs::copy(&weights, out_dir.join(MODEL_FILE)).unwrap_or_else(|e| {
        panic!("cannot copy {}: {e}", weights.display());
    });
}

/// The locked version's unpacked source in the cargo registry, when it comes from one.
fn locate_in_registry(manifest_dir: &Path) -> Result<PathBuf, String> {
    let lock = std::fs::read_to_string(manifest_dir.join("Cargo.lock"))
        .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let (version, source) =
        locked_package(&lock, PACKAGE).ok_or_else(|| format!("{PACKAGE} not in Cargo.lock"))?;
    if !source.starts_with("registry+") && !source.starts_with("sparse+") {
        return Err(format!("{PACKAGE} comes from {source}, not a registry"));
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .ok_or("neither CARGO_HOME nor HOME is set")?;
    let registry_src = cargo_home.join("registry").join("src");
    let indexes = std::fs::read_dir(&registry_src)
        .map_err(|e| format!("cannot list {}: {e}", registry_src.display()))?;
    let package_dir = format!("{PACKAGE}-{version}");
    indexes
        .filter_map(Result::ok)
        .map(|index| index.path().join(&package_dir).join("src/weights.rnn"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            format!(
                "no {package_dir}/src/weights.rnn under {}",
                registry_src.display()
            )
        })
}

/// `(version, source)` of the one locked package called `name` (a string scan of the
/// `[[package]]` tables keeps a TOML parser out of the build script).
fn locked_package(lock: &str, name: &str) -> Option<(String, String)> {
    let quoted = |line: &str, key: &str| {
        let rest = line
            .strip_prefix(key)?
            .trim_start()
            .strip_prefix('=')?
            .trim();
        Some(rest.trim_matches('"').to_string())
    };
    lock.split("[[package]]").find_map(|table| {
        let mut lines = table.lines().map(str::trim);
        if lines.clone().find_map(|l| quoted(l, "name"))? != name {
            return None;
        }
        let version = lines.clone().find_map(|l| quoted(l, "version"))?;
        let source = lines.find_map(|l| quoted(l, "source")).unwrap_or_default();
        Some((version, source))
    })
}

fn locate_with_cargo_metadata(manifest_dir: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Only this target's packages: the others (Windows-only crates, say) were never
    // downloaded, and the build may be offline.
    let target = std::env::var("TARGET").map_err(|_| "TARGET unset")?;
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
        ])
        .arg(&target)
        .arg("--manifest-path")
        .arg(manifest_dir.join("Cargo.toml"))
        .output()
        .map_err(|e| format!("cargo metadata did not run: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let json = String::from_utf8_lossy(&output.stdout);
    // Every package's `"manifest_path":"…/Cargo.toml"`; nnnoiseless's is the one whose
    // directory holds `src/weights.rnn`.
    const KEY: &str = "\"manifest_path\":\"";
    json.match_indices(KEY)
        .filter_map(|(at, _)| {
            let rest = &json[at + KEY.len()..];
            let path = &rest[..rest.find('"')?];
            let dir = Path::new(path).parent()?;
            let name = dir.file_name()?.to_str()?;
            name.starts_with(PACKAGE)
                .then(|| dir.join("src/weights.rnn"))
        })
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| format!("no {PACKAGE} package with src/weights.rnn in cargo metadata"))
}
