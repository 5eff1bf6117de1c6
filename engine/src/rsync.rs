//! Pushing a directory tree to many gateways at once, through their channels.
//!
//! The local tree is listed (files, directories, symlinks, with their modes); each
//! worker answers with a SHA-256 of every file it already has at the same size; only
//! the files that are missing or differ are sent, in 1 MiB pieces. Modes are set on
//! every entry; `delete` removes what the tree does not have. The receiver is
//! `remote_stub/rsync.py`, sent with the ordinary `remote_exec`.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use execdeck_engine::{Gateway, rsync};
//! let src = std::env::temp_dir().join(format!("rsync-doc-{}", std::process::id()));
//! std::fs::create_dir_all(src.join("pkg")).unwrap();
//! std::fs::write(src.join("pkg/mod.py"), "X = 1\n").unwrap();
//! let dest = format!("{}-dest", src.display());
//! let gw = Gateway::open("popen//python=python3").await.unwrap();
//! let opts = rsync::RsyncOptions::default();
//! let first = rsync::rsync(&[gw.clone()], &src, &dest, &opts).await.unwrap();
//! assert_eq!(first[0].as_ref().unwrap().files_sent, 1);
//! let again = rsync::rsync(&[gw.clone()], &src, &dest, &opts).await.unwrap();
//! assert_eq!(again[0].as_ref().unwrap().bytes_sent, 0);
//! gw.terminate(std::time::Duration::from_secs(5)).await;
//! # let _ = std::fs::remove_dir_all(&src); let _ = std::fs::remove_dir_all(&dest);
//! # });
//! ```

use crate::error::{Error, Result};
use crate::gateway::Gateway;
use crate::value::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The receiver sent to every worker.
pub const RSYNC_SOURCE: &str = include_str!("../remote_stub/rsync.py");

/// Size of one piece of a file on the wire.
const CHUNK: usize = 1 << 20;

#[derive(Debug, Clone, Default)]
pub struct RsyncOptions {
    /// Remove files and directories under the destination that the tree does not have.
    pub delete: bool,
}

/// What one gateway got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RsyncReport {
    pub gateway: String,
    /// Entries in the tree (files, directories, symlinks).
    pub entries: usize,
    /// Files whose content was sent.
    pub files_sent: usize,
    /// File content bytes sent.
    pub bytes_sent: u64,
    /// Files that were already there, same size and checksum.
    pub files_unchanged: usize,
    /// Symlinks created or changed.
    pub links_changed: usize,
    /// Entries removed (with `delete`).
    pub deleted: usize,
}

#[derive(Debug, Clone)]
enum Kind {
    Dir,
    File,
    Link(String),
}

#[derive(Debug, Clone)]
struct Entry {
    rel: String,
    path: PathBuf,
    kind: Kind,
    mode: u32,
    size: u64,
}

/// Lists the tree under `root` (symlinks are not followed), parents before children.
fn walk(root: &Path) -> Result<Vec<Entry>> {
    let io = |p: &Path, e: std::io::Error| Error::Unsupported(format!("{}: {e}", p.display()));
    let meta = std::fs::metadata(root).map_err(|e| io(root, e))?;
    if !meta.is_dir() {
        return Err(Error::Unsupported(format!(
            "{} is not a directory",
            root.display()
        )));
    }
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| io(&dir, e))?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| io(&dir, e))?;
        names.sort_by_key(|e| e.file_name());
        for d in names {
            let path = d.path();
            let name = d.file_name().into_string().map_err(|n| {
                Error::Unsupported(format!("{}: the name {n:?} is not UTF-8", dir.display()))
            })?;
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let m = std::fs::symlink_metadata(&path).map_err(|e| io(&path, e))?;
            let mode = m.permissions().mode() & 0o7777;
            let ft = m.file_type();
            let kind = if ft.is_symlink() {
                let t = std::fs::read_link(&path).map_err(|e| io(&path, e))?;
                let t = t.into_os_string().into_string().map_err(|t| {
                    Error::Unsupported(format!(
                        "{}: link target {t:?} is not UTF-8",
                        path.display()
                    ))
                })?;
                Kind::Link(t)
            } else if ft.is_dir() {
                stack.push((path.clone(), rel.clone()));
                Kind::Dir
            } else if ft.is_file() {
                Kind::File
            } else {
                continue; // sockets, fifos, devices: not pushed
            };
            out.push(Entry {
                rel,
                path,
                kind,
                mode,
                size: m.len(),
            });
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

fn manifest(entries: &[Entry]) -> Value {
    Value::List(
        entries
            .iter()
            .map(|e| {
                let (k, target) = match &e.kind {
                    Kind::Dir => ("d", Value::None),
                    Kind::File => ("f", Value::None),
                    Kind::Link(t) => ("l", Value::Str(t.clone())),
                };
                Value::Tuple(vec![
                    Value::Str(e.rel.clone()),
                    Value::Str(k.into()),
                    Value::Int(e.mode as i64),
                    Value::Int(e.size as i64),
                    target,
                ])
            })
            .collect(),
    )
}

/// SHA-256 of local files, each computed once for all gateways.
#[derive(Default)]
struct Hashes(Mutex<HashMap<String, String>>);

impl Hashes {
    fn get(&self, e: &Entry) -> Result<String> {
        if let Some(h) = self.0.lock().ok().and_then(|m| m.get(&e.rel).cloned()) {
            return Ok(h);
        }
        let data = std::fs::read(&e.path)
            .map_err(|err| Error::Unsupported(format!("{}: {err}", e.path.display())))?;
        let h = hex::encode(Sha256::digest(&data));
        if let Ok(mut m) = self.0.lock() {
            m.insert(e.rel.clone(), h.clone());
        }
        Ok(h)
    }
}

/// Pushes the tree `src` to `dest` on every gateway at once; one report (or error) per
/// gateway, in order. Listing the local tree failing is the only overall error.
pub async fn rsync(
    gateways: &[Gateway],
    src: &Path,
    dest: &str,
    opts: &RsyncOptions,
) -> Result<Vec<Result<RsyncReport>>> {
    let src = src.to_path_buf();
    let entries = Arc::new(
        tokio::task::spawn_blocking(move || walk(&src))
            .await
            .map_err(|e| Error::Protocol(format!("listing the tree failed: {e}")))??,
    );
    let hashes = Arc::new(Hashes::default());
    let mut set = tokio::task::JoinSet::new();
    for (i, gw) in gateways.iter().enumerate() {
        let (gw, entries, hashes) = (gw.clone(), entries.clone(), hashes.clone());
        let (dest, delete) = (dest.to_string(), opts.delete);
        set.spawn(async move { (i, push(&gw, &entries, &hashes, &dest, delete).await) });
    }
    let mut out: Vec<Option<Result<RsyncReport>>> = (0..gateways.len()).map(|_| None).collect();
    while let Some(j) = set.join_next().await {
        if let Ok((i, r)) = j {
            out[i] = Some(r);
        }
    }
    Ok(out
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::Protocol("rsync task failed".into()))))
        .collect())
}

async fn push(
    gw: &Gateway,
    entries: &[Entry],
    hashes: &Hashes,
    dest: &str,
    delete: bool,
) -> Result<RsyncReport> {
    let ch = gw.remote_exec(RSYNC_SOURCE).await?;
    ch.send(&Value::Tuple(vec![
        Value::Str(dest.to_string()),
        Value::Bool(delete),
        manifest(entries),
    ]))
    .await?;
    let have: HashMap<String, String> = match ch.receive().await? {
        Value::Tuple(t) if t.first().and_then(Value::as_str) == Some("have") => match t.get(1) {
            Some(Value::List(items)) => items
                .iter()
                .filter_map(|it| match it {
                    Value::Tuple(p) => Some((
                        p.first()?.as_str()?.to_string(),
                        p.get(1)?.as_str()?.to_string(),
                    )),
                    _ => None,
                })
                .collect(),
            _ => HashMap::new(),
        },
        other => {
            return Err(Error::Protocol(format!(
                "rsync on {}: unexpected reply {other:?}",
                gw.id()
            )));
        }
    };
    let mut report = RsyncReport {
        gateway: gw.id().to_string(),
        entries: entries.len(),
        ..RsyncReport::default()
    };
    for e in entries.iter().filter(|e| matches!(e.kind, Kind::File)) {
        if let Some(theirs) = have.get(&e.rel)
            && *theirs == hashes.get(e)?
        {
            report.files_unchanged += 1;
            continue;
        }
        let path = e.path.clone();
        let data = tokio::task::spawn_blocking(move || std::fs::read(&path))
            .await
            .map_err(|err| Error::Protocol(err.to_string()))?
            .map_err(|err| Error::Unsupported(format!("{}: {err}", e.path.display())))?;
        let mut pieces = data.chunks(CHUNK).peekable();
        if pieces.peek().is_none() {
            ch.send(&piece(&e.rel, &[], true)).await?;
        }
        while let Some(p) = pieces.next() {
            ch.send(&piece(&e.rel, p, pieces.peek().is_none())).await?;
        }
        report.files_sent += 1;
        report.bytes_sent += data.len() as u64;
    }
    ch.send(&Value::Tuple(vec![Value::Str("end".into())]))
        .await?;
    match ch.receive().await? {
        Value::Tuple(t) if t.first().and_then(Value::as_str) == Some("summary") => {
            let get = |k: &str| {
                t.get(1)
                    .and_then(|d| d.get(k))
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
            };
            report.links_changed = get("links") as usize;
            report.deleted = get("deleted") as usize;
            if get("bytes") as u64 != report.bytes_sent {
                return Err(Error::Protocol(format!(
                    "rsync on {}: sent {} bytes, the worker wrote {}",
                    gw.id(),
                    report.bytes_sent,
                    get("bytes")
                )));
            }
        }
        other => {
            return Err(Error::Protocol(format!(
                "rsync on {}: unexpected reply {other:?}",
                gw.id()
            )));
        }
    }
    Ok(report)
}

fn piece(rel: &str, data: &[u8], last: bool) -> Value {
    Value::Tuple(vec![
        Value::Str("file".into()),
        Value::Str(rel.to_string()),
        Value::Bytes(data.to_vec()),
        Value::Bool(last),
    ])
}
