//! `execdeck rsync`: push a directory tree to every gateway of a group at once.

use super::{Connect, open_quiet, parse_specs, wait_for_signal};
use crate::engine::rsync::{RsyncOptions, rsync as push};
use serde_json::json;
use std::time::Duration;

pub struct RsyncArgs {
    pub src: String,
    pub specs: Vec<String>,
    pub dest: String,
    pub delete: bool,
    pub json: bool,
    pub connect: Connect,
}

/// `execdeck rsync`: 0 when every gateway got the tree, 1 otherwise, 130 on Ctrl+C.
pub async fn rsync(args: RsyncArgs) -> Result<i32, String> {
    let specs = parse_specs(&args.specs)?;
    let src = std::path::PathBuf::from(&args.src);
    if !src.is_dir() {
        return Err(format!("{}: not a directory", args.src));
    }
    let mut p = super::Printer::new(false);
    let (mut group, ok, _drain) = open_quiet(specs, args.connect, &mut p).await;
    let opts = RsyncOptions {
        delete: args.delete,
    };
    let outcome = tokio::select! {
        r = push(group.gateways(), &src, &args.dest, &opts) => Some(r),
        _ = wait_for_signal() => None,
    };
    let ids: Vec<String> = group
        .gateways()
        .iter()
        .map(|g| g.id().to_string())
        .collect();
    group.terminate(Duration::from_secs(2)).await;
    let Some(reports) = outcome else {
        eprintln!("execdeck rsync: interrupted; all gateways terminated");
        return Ok(130);
    };
    let reports = reports.map_err(|e| e.to_string())?;
    let mut all_ok = ok;
    for (gw, r) in ids.iter().zip(&reports) {
        match r {
            Ok(r) if args.json => println!(
                "{}",
                json!({"gateway": r.gateway, "entries": r.entries, "files_sent": r.files_sent,
                    "bytes_sent": r.bytes_sent, "files_unchanged": r.files_unchanged,
                    "links_changed": r.links_changed, "deleted": r.deleted})
            ),
            Ok(r) => println!(
                "[{}] {} entries: {} files sent ({} bytes), {} unchanged, {} links changed, {} deleted",
                r.gateway,
                r.entries,
                r.files_sent,
                r.bytes_sent,
                r.files_unchanged,
                r.links_changed,
                r.deleted
            ),
            Err(e) => {
                all_ok = false;
                if args.json {
                    println!("{}", json!({"gateway": gw, "error": e.to_string()}));
                } else {
                    eprintln!("[{gw}] rsync failed: {e}");
                }
            }
        }
    }
    Ok(if all_ok { 0 } else { 1 })
}
