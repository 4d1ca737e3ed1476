//! Safe defaults at start-up: the switch refuses to listen beyond loopback while a shipped lab
//! secret is in use, and creates the first CTI admin once, with a password nobody else knows.
//!
//! The lab secrets (`lab-<extension>-secret`, `lab-admin-secret`) are printed in the README,
//! so on any address but loopback they are an open door: anyone reaching port 8080 would get
//! an admin token, every recording and every secure CAD value. The check looks at the
//! profile, at the extensions stored in the database and at the admins' stored passwords,
//! and its error names each one (never the secret itself).

use anyhow::{Context, bail};
use std::path::Path;

use crate::config::{LAB_ADMIN_PASSWORD, Profile, is_lab_extension_password};
use crate::routing::model::AgentId;
use crate::sip::digest::StoredSecret;
use crate::store::Store;
use crate::store::passwords::random_bytes;

/// Environment variable that gives the first admin's password (a container secret).
pub const ADMIN_PASSWORD_ENV: &str = "SWITCHBOARD_ADMIN_PASSWORD";

/// Fails, naming every lab secret in use, when the profile listens beyond loopback.
pub async fn refuse_lab_secrets_off_loopback(
    profile: &Profile,
    store: &Store,
    admin_password: Option<&str>,
) -> anyhow::Result<()> {
    let public = profile.public_listeners();
    if public.is_empty() {
        return Ok(());
    }
    let mut secrets = profile.lab_secrets();
    if admin_password == Some(LAB_ADMIN_PASSWORD) && profile.cti.admin_password.is_none() {
        secrets.push(format!(
            "{ADMIN_PASSWORD_ENV} or cti.admin_password_file is the lab admin password"
        ));
    }
    let stored = lab_extensions_in_store(profile, store).await?;
    if !stored.is_empty() {
        secrets.push(format!(
            "stored extensions {} have lab passwords",
            stored.join(", ")
        ));
    }
    let admins = store
        .admins_with_password(LAB_ADMIN_PASSWORD)
        .await
        .context("checking the admins' passwords")?;
    for admin in admins {
        secrets.push(format!(
            "CTI admin `{admin}` still has the lab admin password"
        ));
    }
    if secrets.is_empty() {
        return Ok(());
    }
    let listeners: Vec<String> = public
        .iter()
        .map(|(key, addr)| format!("{addr} ({key})"))
        .collect();
    bail!(
        "refusing to listen on {} while shipped lab secrets are in use (they are public and \
         only work on loopback): {}. Remove them, or run a profile without them \
         (sip-profiles/container.toml), or listen on 127.0.0.1",
        listeners.join(" and "),
        secrets.join("; ")
    )
}

/// Stored extensions whose secret is their lab password, in plaintext or as an HA1.
async fn lab_extensions_in_store(profile: &Profile, store: &Store) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    for e in store
        .list_extensions()
        .await
        .context("loading extensions")?
    {
        if !e.enabled {
            continue;
        }
        let lab = format!("lab-{}-secret", e.user);
        let is_lab = match &e.password {
            Some(password) => is_lab_extension_password(password),
            None => match StoredSecret::ha1_from_password(&e.user, &profile.sip.domain, &lab) {
                StoredSecret::Ha1 { md5, sha256 } => {
                    (e.ha1_md5.is_some() && e.ha1_md5 == md5)
                        || (e.ha1_sha256.is_some() && e.ha1_sha256 == sha256)
                }
                StoredSecret::Password(_) => false,
            },
        };
        if is_lab {
            found.push(e.user);
        }
    }
    Ok(found)
}

/// The first admin's password as configured: the environment, then the profile's file, then
/// the profile itself; `None` when none is given (one is generated).
pub fn configured_admin_password(profile: &Profile) -> anyhow::Result<Option<String>> {
    if let Some(password) = std::env::var(ADMIN_PASSWORD_ENV)
        .ok()
        .filter(|p| !p.is_empty())
    {
        return checked(password, ADMIN_PASSWORD_ENV).map(Some);
    }
    if let Some(file) = &profile.cti.admin_password_file {
        let dir = profile.source.parent().unwrap_or(Path::new("."));
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading cti.admin_password_file {}", path.display()))?;
        // Secret files usually end with a newline the password does not have.
        let password = text.trim_end_matches(['\r', '\n']).to_owned();
        return checked(password, "cti.admin_password_file").map(Some);
    }
    Ok(profile.cti.admin_password.clone())
}

fn checked(password: String, source: &str) -> anyhow::Result<String> {
    if password.len() < 8 {
        bail!("{source}: the admin password must be at least 8 bytes");
    }
    Ok(password)
}

/// Creates the first CTI admin at the first start of the database. Without a configured
/// password one is drawn from the OS's CSPRNG and printed once on standard output (not in
/// the log, which may be shipped elsewhere), to be changed after the first login.
pub async fn seed_first_admin(
    profile: &Profile,
    store: &Store,
    configured: Option<String>,
) -> anyhow::Result<()> {
    let Some(id) = &profile.cti.admin_id else {
        return Ok(());
    };
    let id = AgentId(id.clone());
    let generated = configured.is_none();
    let password = configured.unwrap_or_else(|| hex::encode(random_bytes::<16>()));
    if !store
        .seed_admin(&id, &password)
        .await
        .context("seeding the CTI admin")?
    {
        return Ok(());
    }
    if generated {
        println!(
            "First start: created CTI admin `{id}` with the generated password {password} \
             (shown only now; change it with PUT /api/v1/agents/{id})"
        );
        tracing::warn!(admin = %id, "created the first CTI admin with a generated password, printed on standard output");
    } else {
        tracing::info!(admin = %id, "created the first CTI admin");
    }
    Ok(())
}
