//! `docker-compose.yml` and the `Dockerfile` are checked without a Docker engine:
//! `docker-compose config` must accept the compose file (the README's test command installs
//! the Debian package), and what it resolves must run the switch as the README describes.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn docker_compose_config_accepts_the_compose_file() {
    let out = Command::new("docker-compose")
        .current_dir(root())
        .args(["--file", "docker-compose.yml", "config"])
        .env_remove("SWITCHBOARD_DB_PASSWORD")
        .env_remove("SWITCHBOARD_ADMIN_PASSWORD")
        .output()
        .expect("docker-compose is installed (scripts/test-all installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "docker-compose config failed:\n{stderr}"
    );
    for expected in [
        "switchboard:",
        "postgres:",
        "network_mode: host",
        "condition: service_healthy",
        "SWITCHBOARD_DATABASE_URL: postgres://switchboard:switchboard@127.0.0.1:5432/switchboard",
        "/etc/switchboard/sip-profiles/container.toml",
        "/var/lib/switchboard/recordings",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
    // The lab profile and its secrets never face the network from a container.
    for forbidden in ["default.toml", "0.0.0.0", "lab-"] {
        assert!(
            !stdout.contains(forbidden),
            "{forbidden:?} in the resolved compose file:\n{stdout}"
        );
    }
}

#[test]
fn every_path_the_dockerfile_copies_exists() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let copies: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from="))
        .flat_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words[1..words.len() - 1].to_vec()
        })
        .collect();
    assert!(copies.len() >= 5, "{copies:?}");
    // What `cargo build` reads: a build script left out fails only inside the image.
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
        "src",
        "migrations",
        "benches",
    ] {
        assert!(
            copies.contains(&needed),
            "the Dockerfile must copy {needed}"
        );
    }
    for path in copies {
        assert!(
            root().join(path).exists(),
            "Dockerfile copies missing {path}"
        );
    }
    assert!(
        dockerfile.contains("sip-profiles/container.toml")
            && !dockerfile.contains("sip-profiles/default.toml"),
        "the image runs the container profile, never the lab one"
    );
}
