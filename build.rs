//! Finds the RNNoise model that the `nnnoiseless` dependency ships (`src/weights.rnn` in its
//! package) and copies it into `OUT_DIR`, so `media::rnnoise` runs the very same network
//! through its own inference code (see that module for why) without a second copy of the
//! weights in this repository. The package is located with `cargo metadata`, which knows
//! registry, vendored, git and path sources alike.

use std::path::{Path, PathBuf};
use std::process::Command;

const MODEL_FILE: &str = "rnnoise-weights.rnn";

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=build.rs");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let weights = locate_nnnoiseless_weights().unwrap_or_else(|why| {
        panic!("cannot find the RNNoise weights of the nnnoiseless dependency: {why}")
    });
    std::fs::copy(&weights, out_dir.join(MODEL_FILE)).unwrap_or_else(|e| {
        panic!("cannot copy {}: {e}", weights.display());
    });
}

fn locate_nnnoiseless_weights() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR unset")?;
    let manifest = Path::new(&manifest_dir).join("Cargo.toml");
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
        .arg(&manifest)
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
    // directory holds `src/weights.rnn`. (A string scan keeps serde out of the build script.)
    const KEY: &str = "\"manifest_path\":\"";
    json.match_indices(KEY)
        .filter_map(|(at, _)| {
            let rest = &json[at + KEY.len()..];
            let path = &rest[..rest.find('"')?];
            let dir = Path::new(path).parent()?;
            let name = dir.file_name()?.to_str()?;
            name.starts_with("nnnoiseless")
                .then(|| dir.join("src/weights.rnn"))
        })
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| "no nnnoiseless package with src/weights.rnn in cargo metadata".into())
}
