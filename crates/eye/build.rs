//! Build script: the dashboard's files (`assets/`) become content-hashed, gzip-compressed
//! byte strings in the binary, so Eye serves them from memory with no build step at run time.
//!
//! For each file it: rewrites references to the other files (`'./api.js'` in a module,
//! `/assets/app.js` in `index.html`) to their hashed names, children first, so a file's hash
//! covers the names of everything it loads (a changed module changes the URL of every module
//! that imports it, and `index.html` always names the current set); hashes the rewritten
//! bytes (SHA-256, the first 12 hex digits go into the name: `app.3f2a9c1e0b4d.js`); gzips
//! them at the best level with a zero timestamp and no file name, so the same sources give the
//! same bytes on every machine (flate2 and its miniz_oxide backend are pinned by Cargo.lock);
//! and writes `$OUT_DIR/assets.rs`, the table `src/assets.rs` includes. Why gzip only: the
//! binary has a size budget, so it carries one compressed copy; the rare client that does not
//! accept gzip gets it inflated per request (the inflater is already in the binary for the
//! MySQL driver and ureq).
//!
//! It must not read anything outside `assets/` nor depend on the time or the machine.

use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The kinds of file served, with their media types. Anything else under `assets/` (a
/// README, say) is not embedded.
const TYPES: &[(&str, &str)] = &[
    ("html", "text/html; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("svg", "image/svg+xml"),
];

/// The page itself: served at `/`, never under a hashed name.
const INDEX: &str = "index.html";

struct Built {
    /// `app.3f2a9c1e0b4d.js` (the index keeps its plain name).
    served: String,
    hash: String,
    mime: &'static str,
    bytes: Vec<u8>,
}

fn mime_of(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1;
    TYPES.iter().find(|(e, _)| *e == ext).map(|(_, m)| *m)
}

fn hashed_name(name: &str, hash: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{name}.{hash}"),
    }
}

/// The other files `text` names: `'./x.js'` / `"./x.js"` in a module, `/assets/x` in the page.
fn references<'a>(name: &str, text: &str, files: &'a BTreeMap<String, String>) -> Vec<&'a str> {
    files
        .keys()
        .filter(|other| other.as_str() != name)
        .filter(|other| forms(name, other).iter().any(|f| text.contains(f.as_str())))
        .map(String::as_str)
        .collect()
}

/// How `name` spells a reference to `other`.
fn forms(name: &str, other: &str) -> Vec<String> {
    if name == INDEX {
        vec![format!("\"/assets/{other}\"")]
    } else {
        vec![format!("'./{other}'"), format!("\"./{other}\"")]
    }
}

fn build(
    name: &str,
    files: &BTreeMap<String, String>,
    done: &mut BTreeMap<String, Built>,
    path: &mut Vec<String>,
) -> Result<(), String> {
    if done.contains_key(name) {
        return Ok(());
    }
    if path.iter().any(|p| p == name) {
        return Err(format!(
            "assets: import cycle {} -> {name}",
            path.join(" -> ")
        ));
    }
    let text = files
        .get(name)
        .ok_or_else(|| format!("assets: {name} is referenced but does not exist"))?;
    path.push(name.to_string());
    let mut out = text.clone();
    for other in references(name, text, files) {
        build(other, files, done, path)?;
        let served = done
            .get(other)
            .map(|b| b.served.clone())
            .ok_or_else(|| format!("assets: {other} was not built"))?;
        for form in forms(name, other) {
            let new = form.replace(other, &served);
            out = out.replace(&form, &new);
        }
    }
    path.pop();
    let digest = Sha256::digest(out.as_bytes());
    let hash: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let served = if name == INDEX {
        name.to_string()
    } else {
        hashed_name(name, &hash)
    };
    let mime = mime_of(name).ok_or_else(|| format!("assets: no media type for {name}"))?;
    done.insert(
        name.to_string(),
        Built {
            served,
            hash,
            mime,
            bytes: out.into_bytes(),
        },
    );
    Ok(())
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut enc = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::best());
    enc.write_all(bytes).map_err(|e| e.to_string())?;
    enc.finish().map_err(|e| e.to_string())
}

fn run() -> Result<(), String> {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?)
        .join("assets");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?);
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files = BTreeMap::new();
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if mime_of(&name).is_none() || !entry.path().is_file() {
            continue;
        }
        println!("cargo:rerun-if-changed={}", entry.path().display());
        let text = std::fs::read_to_string(entry.path())
            .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        files.insert(name, text);
    }
    if !files.contains_key(INDEX) {
        return Err(format!("assets: {} has no {INDEX}", dir.display()));
    }
    let mut done = BTreeMap::new();
    for name in files.keys() {
        build(name, &files, &mut done, &mut Vec::new())?;
    }
    let mut table = String::from(
        "// Generated by crates/eye/build.rs from crates/eye/assets/: do not edit.\n\n",
    );
    let mut entries = Vec::new();
    for (name, b) in &done {
        let gz = gzip(&b.bytes)?;
        let gz_file = format!("{}.gz", b.served);
        write(&out_dir.join(&gz_file), &gz)?;
        let entry = format!(
            "Asset {{ name: {name:?}, served: {served:?}, hash: {hash:?}, mime: {mime:?}, \
             len: {len}, gz: include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{gz_file}\")) }}",
            served = b.served,
            hash = b.hash,
            mime = b.mime,
            len = b.bytes.len(),
        );
        if name == INDEX {
            table.push_str(&format!("pub static INDEX: Asset = {entry};\n\n"));
        } else {
            entries.push(entry);
        }
    }
    table.push_str(&format!(
        "pub static ASSETS: [Asset; {}] = [\n    {},\n];\n",
        entries.len(),
        entries.join(",\n    ")
    ));
    write(&out_dir.join("assets.rs"), table.as_bytes())
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    // Unchanged output keeps its mtime, so nothing downstream rebuilds for nothing.
    if std::fs::read(path).ok().as_deref() == Some(bytes) {
        return Ok(());
    }
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn main() {
    if let Err(e) = run() {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
