//! `known_hosts` as OpenSSH reads and writes it: entries are matched per line (plain
//! `host` for port 22 only, `[host]:port` otherwise, wildcards, `!` negation, hashed
//! `|1|salt|hash` names), `@revoked` keys are refused, `@cert-authority` lines are
//! ignored, malformed lines are skipped with a warning naming file and line, and a new
//! key is appended under an exclusive `flock` — the file is never rewritten.

use base64::Engine as _;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

/// What the file says about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// An entry for this host holds this key.
    Match,
    /// The key is listed under `@revoked` (line number given).
    Revoked(usize),
    /// The host has entries, none with this key (line numbers of the entries).
    Mismatch(Vec<usize>),
    /// No entry names this host.
    NotFound,
}

/// The name a host is recorded and matched under.
pub fn host_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

fn b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// Checks `key` (the raw key blob) of `host`:`port` against the file's text.
/// `warn` receives one message per malformed line.
pub fn check(
    text: &str,
    file: &Path,
    host: &str,
    port: u16,
    key: &[u8],
    warn: &mut dyn FnMut(String),
) -> Verdict {
    let name = host_name(host, port);
    let mut others = Vec::new();
    let mut matched = false;
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next().unwrap_or("");
        let mut revoked = false;
        if let Some(marker) = first.strip_prefix('@') {
            match marker {
                "revoked" => revoked = true,
                "cert-authority" => continue,
                other => {
                    warn(format!(
                        "{}:{lineno}: unknown marker @{other}; line skipped",
                        file.display()
                    ));
                    continue;
                }
            }
            first = fields.next().unwrap_or("");
        }
        let (Some(_kind), Some(blob)) = (fields.next(), fields.next()) else {
            warn(format!(
                "{}:{lineno}: malformed entry (want: hosts keytype key); line skipped",
                file.display()
            ));
            continue;
        };
        let Some(blob) = b64(blob) else {
            warn(format!(
                "{}:{lineno}: the key is not base64; line skipped",
                file.display()
            ));
            continue;
        };
        if !hosts_match(first, &name) {
            continue;
        }
        if revoked {
            if blob == key {
                return Verdict::Revoked(lineno);
            }
        } else if blob == key {
            matched = true;
        } else {
            others.push(lineno);
        }
    }
    if matched {
        Verdict::Match
    } else if others.is_empty() {
        Verdict::NotFound
    } else {
        Verdict::Mismatch(others)
    }
}

/// OpenSSH's host list: comma-separated patterns, `!` negates (and wins), or one hashed name.
fn hosts_match(patterns: &str, name: &str) -> bool {
    if let Some(hashed) = patterns.strip_prefix("|1|") {
        let mut parts = hashed.split('|');
        let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else {
            return false;
        };
        return match (b64(salt), b64(hash)) {
            (Some(salt), Some(hash)) => hmac_sha1(&salt, name.as_bytes()) == hash.as_slice(),
            _ => false,
        };
    }
    let mut hit = false;
    for p in patterns.split(',') {
        match p.strip_prefix('!') {
            Some(neg) if wildcard(&neg.to_ascii_lowercase(), &name.to_ascii_lowercase()) => {
                return false;
            }
            Some(_) => {}
            None => hit |= wildcard(&p.to_ascii_lowercase(), &name.to_ascii_lowercase()),
        }
    }
    hit
}

/// `*` and `?` globbing.
fn wildcard(pat: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Appends `name keytype key` to the file under an exclusive lock; what is there stays
/// byte for byte (a missing final newline is added first).
pub fn record(file: &Path, name: &str, keytype: &str, key: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(file)?;
    // SAFETY: flock(2) on a descriptor we own; released when `f` is closed.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let len = f.seek(SeekFrom::End(0))?;
    let mut line = String::new();
    if len > 0 {
        f.seek(SeekFrom::End(-1))?;
        let mut last = [0u8; 1];
        f.read_exact(&mut last)?;
        if last[0] != b'\n' {
            line.push('\n');
        }
    }
    let blob = base64::engine::general_purpose::STANDARD.encode(key);
    line.push_str(&format!("{name} {keytype} {blob}\n"));
    f.write_all(line.as_bytes())?;
    f.sync_data()
}

fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6u32),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// HMAC-SHA1, as hashed known_hosts names use it.
fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..20].copy_from_slice(&sha1(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(data);
    let mut outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&sha1(&inner));
    sha1(&outer)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const K2: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIHHyZcM6GkmeLUCo/FmUfrshHRLiCG3eM/ygsaA71HTu";

    fn verdict(text: &str, host: &str, port: u16, key: &str) -> (Verdict, Vec<String>) {
        let mut warnings = Vec::new();
        let v = check(
            text,
            Path::new("/kh"),
            host,
            port,
            &b64(key).expect("key"),
            &mut |w| warnings.push(w),
        );
        (v, warnings)
    }

    #[test]
    fn sha1_and_hashed_names() {
        let hex: String = sha1(b"abc").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
        // the entry `ssh-keygen -H` writes for "example.org"
        let salt = [7u8; 20];
        let hash = hmac_sha1(&salt, b"example.org");
        let enc = base64::engine::general_purpose::STANDARD;
        let line = format!(
            "|1|{}|{} ssh-ed25519 {K1}\n",
            enc.encode(salt),
            enc.encode(hash)
        );
        assert_eq!(verdict(&line, "example.org", 22, K1).0, Verdict::Match);
        assert_eq!(verdict(&line, "example.com", 22, K1).0, Verdict::NotFound);
    }

    #[test]
    fn revoked_keys_are_refused_and_cert_authorities_ignored() {
        let text = format!(
            "@cert-authority *.example.org ssh-ed25519 {K2}\n@revoked * ssh-ed25519 {K1}\nhost ssh-ed25519 {K1}\n"
        );
        assert_eq!(verdict(&text, "host", 22, K1).0, Verdict::Revoked(2));
        assert_eq!(verdict(&text, "a.example.org", 22, K2).0, Verdict::NotFound);
    }

    #[test]
    fn malformed_lines_are_skipped_with_a_warning() {
        let text =
            format!("garbage\nhost ssh-ed25519 !!notbase64\n@bogus x y z\nhost ssh-ed25519 {K1}\n");
        let (v, warnings) = verdict(&text, "host", 22, K1);
        assert_eq!(v, Verdict::Match);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(
            warnings[0].starts_with("/kh:1: malformed entry"),
            "{warnings:?}"
        );
        assert!(warnings[1].starts_with("/kh:2:"), "{warnings:?}");
        assert!(
            warnings[2].starts_with("/kh:3: unknown marker"),
            "{warnings:?}"
        );
    }

    #[test]
    fn plain_names_match_port_22_only() {
        let text = format!("host,other ssh-ed25519 {K1}\n[host]:2222 ssh-ed25519 {K2}\n");
        assert_eq!(verdict(&text, "host", 22, K1).0, Verdict::Match);
        assert_eq!(verdict(&text, "other", 22, K1).0, Verdict::Match);
        assert_eq!(verdict(&text, "host", 22, K2).0, Verdict::Mismatch(vec![1]));
        // a plain entry says nothing about another port
        assert_eq!(verdict(&text, "other", 2200, K2).0, Verdict::NotFound);
        assert_eq!(verdict(&text, "host", 2222, K2).0, Verdict::Match);
        assert_eq!(
            verdict(&text, "host", 2222, K1).0,
            Verdict::Mismatch(vec![2])
        );
        let text = format!("*.example.org,!bad.example.org ssh-ed25519 {K1}\n");
        assert_eq!(verdict(&text, "a.example.org", 22, K1).0, Verdict::Match);
        assert_eq!(
            verdict(&text, "bad.example.org", 22, K1).0,
            Verdict::NotFound
        );
    }

    #[test]
    fn recording_appends_and_keeps_everything_byte_for_byte() {
        let dir = std::env::temp_dir().join(format!("execdeck-kh-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join("known_hosts");
        std::fs::create_dir_all(&dir).expect("dir");
        let before = format!(
            "# my comment\n\na,b ssh-ed25519 {K2}   trailing  comment\n@revoked x ssh-ed25519 {K2}"
        );
        std::fs::write(&file, &before).expect("write");
        let key = b64(K1).expect("key");
        record(&file, "[new]:2222", "ssh-ed25519", &key).expect("record");
        let after = std::fs::read_to_string(&file).expect("read");
        assert_eq!(after, format!("{before}\n[new]:2222 ssh-ed25519 {K1}\n"));
        // concurrent recordings: every one is kept
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let file = file.clone();
                let key = key.clone();
                std::thread::spawn(move || record(&file, &format!("h{i}"), "ssh-ed25519", &key))
            })
            .collect();
        for t in threads {
            t.join().expect("join").expect("record");
        }
        let text = std::fs::read_to_string(&file).expect("read");
        assert!(text.starts_with(&before));
        for i in 0..8 {
            assert_eq!(verdict(&text, &format!("h{i}"), 22, K1).0, Verdict::Match);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
