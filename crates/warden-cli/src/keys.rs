//! `warden keys`: API keys and the tenants they belong to, in the server's database.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use warden_engine::tenancy::{new_key, Policy};
use warden_store::{ApiKey, AuditEvent, Store};

#[derive(Args, Debug)]
pub struct KeysArgs {
    /// The server's data directory (its SQLite database lives there).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// The database, as for `warden serve`.
    #[arg(long, global = true, env = "WARDEN_DATABASE_URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Creates a key for a tenant (created if new) and prints it, once.
    Create {
        /// The tenant the key acts for.
        #[arg(long)]
        tenant: String,
        /// Sets the tenant's policy from a JSON file (docs/POLICIES.md).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// The key may also read the audit log.
        #[arg(long)]
        admin: bool,
    },
    /// Lists keys (never their secrets).
    List {
        #[arg(long)]
        tenant: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revokes a key by its id (`wk_...`): requests with it get 401 from then on.
    Revoke { id: String },
}

pub fn main(args: KeysArgs) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warden: {e}");
            return 1;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("warden: {e:#}");
            1
        }
    }
}

fn valid_tenant(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

async fn audit(store: &dyn Store, action: &str, tenant: &str, key_id: &str) {
    let event = AuditEvent {
        seq: 0,
        at: warden_store::now(),
        action: action.into(),
        tenant: Some(tenant.into()),
        key_id: Some(key_id.into()),
        target: Some(key_id.into()),
        detail: Some(r#"{"by":"warden keys"}"#.into()),
    };
    if let Err(e) = store.append_audit(&event).await {
        eprintln!("warden: cannot append to the audit log: {e}");
    }
}

async fn run(args: KeysArgs) -> anyhow::Result<i32> {
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(crate::serve::default_data_dir);
    if args.database_url.is_none() {
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
    }
    let url = crate::serve::database_url(args.database_url.as_deref(), &data_dir);
    let store = warden_store::open(&url)
        .await
        .context("cannot open the database")?;
    match args.command {
        KeysCommand::Create {
            tenant,
            policy,
            admin,
        } => {
            if !valid_tenant(&tenant) {
                anyhow::bail!(
                    "invalid tenant name {tenant:?}: 1 to 64 letters, digits, '-', '_' or '.'"
                );
            }
            let policy_text = match &policy {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    let parsed = Policy::from_json(&text)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    crate::serve::check_policy_tiers(&parsed)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    Some(text)
                }
                None => None,
            };
            store.upsert_tenant(&tenant, policy_text.as_deref()).await?;
            let key = new_key();
            store
                .insert_key(&ApiKey {
                    id: key.id.clone(),
                    tenant: tenant.clone(),
                    secret_hash: key.secret_hash,
                    admin,
                    created_at: warden_store::now(),
                    revoked_at: None,
                })
                .await?;
            audit(store.as_ref(), "key.created", &tenant, &key.id).await;
            println!("{}", key.token);
            eprintln!(
                "warden: key {} for tenant {tenant}{} (shown once; send it as 'Authorization: Bearer KEY')",
                key.id,
                if admin { ", admin" } else { "" }
            );
            Ok(0)
        }
        KeysCommand::List { tenant, json } => {
            let keys = store.list_keys(tenant.as_deref()).await?;
            if json {
                let rows: Vec<serde_json::Value> = keys
                    .iter()
                    .map(|k| {
                        serde_json::json!({"id": k.id, "tenant": k.tenant, "admin": k.admin,
                            "created_at": k.created_at, "revoked_at": k.revoked_at})
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for k in &keys {
                    println!(
                        "{}\t{}\t{}\t{}",
                        k.id,
                        k.tenant,
                        if k.admin { "admin" } else { "-" },
                        if k.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "active"
                        }
                    );
                }
            }
            Ok(0)
        }
        KeysCommand::Revoke { id } => match store.get_key(&id).await? {
            Some(key) if store.revoke_key(&id, warden_store::now()).await? => {
                audit(store.as_ref(), "key.revoked", &key.tenant, &id).await;
                eprintln!("warden: key {id} revoked");
                Ok(0)
            }
            Some(_) => {
                eprintln!("warden: key {id} was already revoked");
                Ok(0)
            }
            None => {
                eprintln!("warden: no key {id}");
                Ok(2)
            }
        },
    }
}
