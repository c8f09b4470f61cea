//! `--config baton.toml` (or `BATON_CONFIG`): every flag of `baton serve` (and the global
//! ones) in a TOML file, keyed by the flag's long name.
//!
//! ```toml
//! listen = "0.0.0.0:8080"
//! database-url = "postgres://baton@db/baton"
//! auth = ["api-key"]
//! request-timeout = "20s"
//! max-findings-per-call = 50
//! any-host = true
//! ```
//!
//! Precedence, highest first: a flag on the command line, its `BATON_*` variable, the file,
//! the default. A key that is no flag of `baton serve` is an error naming the key; a value
//! the flag refuses is the flag's own error. Commands other than `serve` (`migrate`, `gc`,
//! `keys`, `token`…) take the keys they have (`database-url`, …) and ignore the others.
//!
//! It works on clap's own parse: the command line is parsed once; each key of the file whose
//! flag was neither given nor set from the environment is appended as `--key=value`, and the
//! result parsed again, so every value goes through the flag's own parser and checks.

use std::{
    collections::{BTreeMap, BTreeSet},
    ffi::OsString,
    path::{Path, PathBuf},
};

use clap::{ArgAction, ArgMatches, Command, parser::ValueSource};

/// The id of the `--config` argument.
pub const CONFIG_ARG: &str = "config";

/// The result of a parse with a configuration file.
pub struct Parsed<T> {
    /// The parsed command line.
    pub value: T,
    /// clap's matches (for [`effective`]).
    pub matches: ArgMatches,
    /// The long names whose value came from the file.
    pub from_file: BTreeSet<String>,
    /// The file, if one was given.
    pub file: Option<PathBuf>,
}

/// Why a parse failed.
#[derive(Debug)]
pub enum ParseError {
    /// clap's own error (including `--help` and `--version`): print it as clap does.
    Clap(clap::Error),
    /// The file could not be read, is not TOML, or has a key or value no flag takes.
    File(anyhow::Error),
}

/// The leaf subcommand that was run: its command and matches.
fn leaf<'a>(command: &'a Command, matches: &'a ArgMatches) -> (&'a Command, &'a ArgMatches) {
    let mut command = command;
    let mut matches = matches;
    while let Some((name, sub)) = matches.subcommand() {
        match command.find_subcommand(name) {
            Some(c) => {
                command = c;
                matches = sub;
            }
            None => break,
        }
    }
    (command, matches)
}

/// The long names a configuration file may set: those of `serve_command` (baton serve) and
/// the global flags of `root`, except `--config` itself and `--help`/`--version`.
fn known_keys(root: &Command, serve: &Command) -> BTreeSet<String> {
    root.get_arguments()
        .filter(|a| a.is_global_set())
        .chain(serve.get_arguments())
        .filter_map(|a| a.get_long())
        .filter(|l| *l != CONFIG_ARG && *l != "help" && *l != "version")
        .map(str::to_owned)
        .collect()
}

/// Turns a TOML value into a flag's command-line text (`None`: a `false` switch, left out).
fn flag_text(key: &str, value: &toml::Value, is_switch: bool) -> anyhow::Result<Option<String>> {
    let scalar = |v: &toml::Value| -> anyhow::Result<String> {
        match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(n) => Ok(n.to_string()),
            toml::Value::Float(x) => Ok(x.to_string()),
            toml::Value::Boolean(b) => Ok(b.to_string()),
            other => anyhow::bail!(
                "key `{key}`: expected a string, number or boolean, found {}",
                other.type_str()
            ),
        }
    };
    match value {
        toml::Value::Boolean(b) if is_switch => Ok(b.then(String::new)),
        _ if is_switch => anyhow::bail!(
            "key `{key}`: expected true or false, found {}",
            value.type_str()
        ),
        toml::Value::Array(items) => {
            let texts = items
                .iter()
                .map(scalar)
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok(Some(texts.join(",")))
        }
        other => scalar(other).map(Some),
    }
}

/// Reads a configuration file into its keys and values.
fn read_file(path: &Path) -> anyhow::Result<toml::Table> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!("cannot read the configuration file {}: {e}", path.display())
    })?;
    toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "the configuration file {} is not valid TOML: {e}",
            path.display()
        )
    })
}

/// Parses `argv` as `T`, with the `--config` file's values under the flags and variables.
/// `serve_path` names the subcommand whose flags a file may set (`["serve"]`).
pub fn parse<T: clap::Parser>(
    argv: Vec<OsString>,
    serve_path: &[&str],
) -> Result<Parsed<T>, ParseError> {
    let root = T::command();
    let first = root
        .clone()
        .try_get_matches_from(&argv)
        .map_err(ParseError::Clap)?;
    let file = first.get_one::<PathBuf>(CONFIG_ARG).cloned();
    let Some(path) = file.clone() else {
        let value = T::from_arg_matches(&first).map_err(ParseError::Clap)?;
        return Ok(Parsed {
            value,
            matches: first,
            from_file: BTreeSet::new(),
            file: None,
        });
    };
    let mut serve = &root;
    for name in serve_path {
        serve = serve
            .find_subcommand(name)
            .ok_or_else(|| ParseError::File(anyhow::anyhow!("no `{name}` subcommand")))?;
    }
    let known = known_keys(&root, serve);
    let table = read_file(&path).map_err(ParseError::File)?;
    let (command, matches) = leaf(&root, &first);
    let mut argv = argv;
    let mut from_file = BTreeSet::new();
    for (key, value) in &table {
        if !known.contains(key) {
            return Err(ParseError::File(anyhow::anyhow!(
                "unknown key `{key}` in the configuration file {}: `baton serve` has no --{key} \
                 (keys are the long flag names, e.g. `database-url`)",
                path.display()
            )));
        }
        // A key this command does not take (say `listen` for `baton migrate`) is ignored.
        let by_name = |a: &&clap::Arg| a.get_long() == Some(key.as_str());
        let (arg, matches) = match command.get_arguments().find(by_name) {
            Some(arg) => (arg, matches),
            None => match root
                .get_arguments()
                .filter(|a| a.is_global_set())
                .find(by_name)
            {
                Some(arg) => (arg, &first),
                None => continue,
            },
        };
        if matches!(
            matches.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let is_switch = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
        let text = flag_text(key, value, is_switch)
            .map_err(|e| ParseError::File(anyhow::anyhow!("{}: {e}", path.display())))?;
        match text {
            None => continue,
            Some(_) if is_switch => argv.push(format!("--{key}").into()),
            Some(text) => argv.push(format!("--{key}={text}").into()),
        }
        from_file.insert(key.clone());
    }
    let matches = root.try_get_matches_from(&argv).map_err(|e| {
        ParseError::File(anyhow::anyhow!(
            "in the configuration file {}: {}",
            path.display(),
            e.render()
                .to_string()
                .trim_start_matches("error: ")
                .split("\n\nFor more information")
                .next()
                .unwrap_or_default()
                .trim()
        ))
    })?;
    let value = T::from_arg_matches(&matches).map_err(ParseError::Clap)?;
    Ok(Parsed {
        value,
        matches,
        from_file,
        file: Some(path),
    })
}

/// Long names whose values are secrets: shown as `<redacted>` by [`effective`].
const SECRET_KEYS: &[&str] = &["handle-keys"];

/// The effective configuration of the leaf command of `matches` (say `baton config check`,
/// whose flags are those of `serve`), as a TOML document that `--config` reads back: every
/// flag with its value and, in a comment, where the value came from (`flag`, `env NAME`,
/// `file`, `default`). Flags without a value are listed as comments. Secrets are redacted:
/// handle keys entirely, the password of a database URL.
pub fn effective(
    root: &Command,
    parsed_matches: &ArgMatches,
    from_file: &BTreeSet<String>,
) -> String {
    let (command, leaf_matches) = leaf(root, parsed_matches);
    let globals = root
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| (a, parsed_matches));
    let own = command.get_arguments().map(|a| (a, leaf_matches));
    let mut lines = BTreeMap::new();
    for (arg, matches) in globals.chain(own) {
        let Some(long) = arg.get_long() else { continue };
        if long == CONFIG_ARG || long == "help" || long == "version" {
            continue;
        }
        let id = arg.get_id().as_str();
        let source = match matches.value_source(id) {
            Some(ValueSource::CommandLine) if from_file.contains(long) => "file".to_owned(),
            Some(ValueSource::CommandLine) => "flag".to_owned(),
            Some(ValueSource::EnvVariable) => format!(
                "env {}",
                arg.get_env()
                    .map(|e| e.to_string_lossy())
                    .unwrap_or_default()
            ),
            Some(ValueSource::DefaultValue) => "default".to_owned(),
            _ => {
                lines.insert(long.to_owned(), format!("# {long} (not set)"));
                continue;
            }
        };
        let is_switch = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
        let raw: Vec<String> = matches
            .get_raw(id)
            .map(|values| values.map(|v| v.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let shown = if SECRET_KEYS.contains(&long) {
            toml::Value::String("<redacted>".to_owned())
        } else if is_switch {
            toml::Value::Boolean(matches.get_flag(id))
        } else {
            let one = |s: &str| -> toml::Value {
                // URLs may carry a password (a collector behind basic auth, too).
                let s = if long == "database-url" || long == "otlp-endpoint" {
                    crate::store::redact(s)
                } else {
                    s.to_owned()
                };
                match s.parse::<i64>() {
                    Ok(n) => toml::Value::Integer(n),
                    Err(_) => toml::Value::String(s),
                }
            };
            let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1)
                || arg.get_value_delimiter().is_some()
                || matches!(arg.get_action(), ArgAction::Append);
            if many {
                toml::Value::Array(raw.iter().map(|s| one(s)).collect())
            } else {
                one(raw.first().map_or("", String::as_str))
            }
        };
        lines.insert(long.to_owned(), format!("{long} = {shown}  # {source}"));
    }
    let mut out = String::new();
    for line in lines.values() {
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_flag_texts() {
        let v = |s: &str| -> toml::Value {
            toml::from_str::<toml::Table>(&format!("x = {s}")).unwrap()["x"].clone()
        };
        assert_eq!(
            flag_text("k", &v("\"30s\""), false).unwrap(),
            Some("30s".into())
        );
        assert_eq!(flag_text("k", &v("12"), false).unwrap(), Some("12".into()));
        assert_eq!(
            flag_text("k", &v("[\"a\", \"b\"]"), false).unwrap(),
            Some("a,b".into())
        );
        assert_eq!(
            flag_text("k", &v("true"), true).unwrap(),
            Some(String::new())
        );
        assert_eq!(flag_text("k", &v("false"), true).unwrap(), None);
        let err = flag_text("any-host", &v("\"yes\""), true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`any-host`") && err.contains("true or false"),
            "{err}"
        );
        let err = flag_text("listen", &v("{ a = 1 }"), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`listen`"), "{err}");
    }
}
