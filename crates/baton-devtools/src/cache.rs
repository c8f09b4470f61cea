//! The cache folder for downloaded tools and clients.

use std::{ffi::OsString, path::PathBuf};

/// The cache folder for everything baton's chores and tests download: `$BATON_CACHE_DIR`,
/// else `$XDG_CACHE_HOME/baton`, else `$HOME/.cache/baton` (empty variables count as unset).
/// Never inside the repository; reruns reuse what is in it.
pub fn cache_dir() -> PathBuf {
    cache_dir_in(|name| std::env::var_os(name))
}

/// [`cache_dir`] reading variables through `lookup` instead of the process environment.
///
/// ```
/// use std::path::Path;
/// use baton_devtools::cache_dir_in;
///
/// let env = |pairs: &'static [(&'static str, &'static str)]| {
///     move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.into())
/// };
/// assert_eq!(cache_dir_in(env(&[("BATON_CACHE_DIR", "/c"), ("HOME", "/h")])), Path::new("/c"));
/// assert_eq!(cache_dir_in(env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")])), Path::new("/x/baton"));
/// assert_eq!(cache_dir_in(env(&[("BATON_CACHE_DIR", ""), ("HOME", "/h")])), Path::new("/h/.cache/baton"));
/// ```
pub fn cache_dir_in(lookup: impl Fn(&str) -> Option<OsString>) -> PathBuf {
    let set = |name: &str| lookup(name).filter(|v| !v.is_empty());
    if let Some(dir) = set("BATON_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = set("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("baton");
    }
    // No home (a bare container): a folder every user can create.
    let home = set("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache/baton")
}
