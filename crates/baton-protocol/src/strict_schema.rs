//! A strict check of published tool schemas (feature `schema-check`): JSON Schema 2020-12
//! with its standard vocabulary only.
//!
//! A schema passes when
//!
//! 1. its `$schema`, if any, is 2020-12 ([`DIALECT`]);
//! 2. it is valid against the 2020-12 meta-schema;
//! 3. it compiles with `jsonschema` in 2020-12 mode with format assertion on and unknown
//!    formats rejected (so `uint32` fails; so do a bad `pattern` and an unresolvable `$ref`);
//! 4. every keyword, in the schema and in every subschema, belongs to a 2020-12 vocabulary
//!    ([`KEYWORDS`]). The meta-schema cannot say this (it allows any other keyword), and
//!    neither can `jsonschema`, so the check walks the schema itself.
//!
//! ```
//! use baton_protocol::strict_schema::check;
//! use serde_json::json;
//!
//! let good = json!({"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}});
//! assert!(check(&good).is_ok());
//!
//! let generated = json!({"type": "object", "properties": {"n": {"type": "integer", "format": "uint8"}}});
//! let problems = check(&generated).unwrap_err();
//! assert!(problems.to_string().contains("Unknown format: 'uint8'"), "{problems}");
//!
//! let extended = json!({"type": "object", "nullable": true});
//! let problems = check(&extended).unwrap_err();
//! assert_eq!(problems.to_string(), "#: unknown keyword `nullable` (not in JSON Schema 2020-12)");
//! ```

use std::fmt;

use serde_json::{Map, Value};

/// The one dialect baton's tool schemas declare.
pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// Every keyword of the JSON Schema 2020-12 vocabularies: core, applicator, unevaluated,
/// validation, meta-data, format-annotation and content. (The meta-schema also mentions
/// `definitions`, `dependencies`, `$recursiveRef` and `$recursiveAnchor`, for compatibility
/// with older drafts only; they are not 2020-12 vocabulary.)
pub const KEYWORDS: &[&str] = &[
    // core
    "$id",
    "$schema",
    "$ref",
    "$anchor",
    "$dynamicRef",
    "$dynamicAnchor",
    "$vocabulary",
    "$comment",
    "$defs",
    // applicator
    "prefixItems",
    "items",
    "contains",
    "additionalProperties",
    "properties",
    "patternProperties",
    "dependentSchemas",
    "propertyNames",
    "if",
    "then",
    "else",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    // unevaluated
    "unevaluatedItems",
    "unevaluatedProperties",
    // validation
    "type",
    "const",
    "enum",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxContains",
    "minContains",
    "maxProperties",
    "minProperties",
    "required",
    "dependentRequired",
    // meta-data
    "title",
    "description",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "examples",
    // format-annotation
    "format",
    // content
    "contentEncoding",
    "contentMediaType",
    "contentSchema",
];

/// Keywords whose value is one subschema.
const ONE_SCHEMA: &[&str] = &[
    "additionalProperties",
    "propertyNames",
    "items",
    "contains",
    "not",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
];
/// Keywords whose value is an array of subschemas.
const SCHEMA_ARRAYS: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems"];
/// Keywords whose value is an object of subschemas.
const SCHEMA_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "dependentSchemas",
];

/// What is wrong with a schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// `$schema` names another dialect.
    OtherDialect(String),
    /// The 2020-12 meta-schema rejects the schema.
    MetaSchema(String),
    /// A strict 2020-12 validator cannot compile it (an unknown `format`, a bad `pattern`,
    /// an unresolvable `$ref`, …).
    DoesNotCompile(String),
    /// A keyword outside the 2020-12 vocabularies.
    UnknownKeyword(String),
    /// A schema position holds neither an object nor a boolean.
    NotASchema,
    /// A tool's `inputSchema` is missing or is not an object schema (`type: "object"`), as
    /// MCP requires.
    NotAnObjectSchema,
}

/// One problem, at a JSON pointer into the schema (`#/properties/depth`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where, as a JSON pointer fragment (`#` is the root).
    pub location: String,
    /// What.
    pub kind: ProblemKind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = &self.location;
        match &self.kind {
            ProblemKind::OtherDialect(d) => write!(
                f,
                "{at}: `$schema` is {d}, not JSON Schema 2020-12 ({DIALECT})"
            ),
            ProblemKind::MetaSchema(e) => {
                write!(f, "{at}: rejected by the 2020-12 meta-schema: {e}")
            }
            ProblemKind::DoesNotCompile(e) => {
                write!(f, "{at}: a strict 2020-12 validator rejects it: {e}")
            }
            ProblemKind::UnknownKeyword(k) => {
                write!(
                    f,
                    "{at}: unknown keyword `{k}` (not in JSON Schema 2020-12)"
                )
            }
            ProblemKind::NotASchema => write!(f, "{at}: not a schema (an object or a boolean)"),
            ProblemKind::NotAnObjectSchema => write!(
                f,
                "{at}: a tool's inputSchema must be a schema with `\"type\": \"object\"`"
            ),
        }
    }
}

/// Everything wrong with one schema (never empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// Checks one schema strictly (see the module documentation).
pub fn check(schema: &Value) -> Result<(), Problems> {
    let mut problems = Vec::new();
    let problem = |kind| Problem {
        location: "#".to_owned(),
        kind,
    };
    if let Some(dialect) = schema.get("$schema")
        && dialect.as_str() != Some(DIALECT)
    {
        problems.push(problem(ProblemKind::OtherDialect(dialect.to_string())));
    }
    for error in jsonschema::draft202012::meta::validator().iter_errors(schema) {
        problems.push(Problem {
            location: format!("#{}", error.instance_path()),
            kind: ProblemKind::MetaSchema(error.to_string()),
        });
    }
    if let Err(error) = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .build(schema)
    {
        problems.push(problem(ProblemKind::DoesNotCompile(error.to_string())));
    }
    walk(schema, "#", &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Problems(problems))
    }
}

/// Checks the schemas of one MCP `Tool` object: `inputSchema` (required, an object schema
/// of `type: "object"`, as MCP requires) and `outputSchema` (if present). Problem locations
/// start with the tool's name and the schema's key.
pub fn check_tool(tool: &Value) -> Result<(), Problems> {
    let name = tool
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>");
    let mut problems = Vec::new();
    let one = |key: &str, schema: &Value, problems: &mut Vec<Problem>| {
        if let Err(Problems(found)) = check(schema) {
            problems.extend(found.into_iter().map(|p| Problem {
                location: format!("{name}.{key}{}", p.location),
                kind: p.kind,
            }));
        }
    };
    match tool.get("inputSchema") {
        Some(schema) if schema.get("type").and_then(Value::as_str) == Some("object") => {
            one("inputSchema", schema, &mut problems)
        }
        _ => problems.push(Problem {
            location: format!("{name}.inputSchema#"),
            kind: ProblemKind::NotAnObjectSchema,
        }),
    }
    if let Some(schema) = tool.get("outputSchema") {
        one("outputSchema", schema, &mut problems);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Problems(problems))
    }
}

fn walk(schema: &Value, at: &str, problems: &mut Vec<Problem>) {
    let map = match schema {
        Value::Bool(_) => return,
        Value::Object(map) => map,
        _ => {
            problems.push(Problem {
                location: at.to_owned(),
                kind: ProblemKind::NotASchema,
            });
            return;
        }
    };
    for (key, value) in map {
        let here = format!("{at}/{}", escape(key));
        if !KEYWORDS.contains(&key.as_str()) {
            problems.push(Problem {
                location: at.to_owned(),
                kind: ProblemKind::UnknownKeyword(key.clone()),
            });
        } else if ONE_SCHEMA.contains(&key.as_str()) {
            walk(value, &here, problems);
        } else if SCHEMA_ARRAYS.contains(&key.as_str()) {
            for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                walk(item, &format!("{here}/{i}"), problems);
            }
        } else if SCHEMA_MAPS.contains(&key.as_str()) {
            walk_map(value.as_object(), &here, problems);
        }
        // Every other keyword holds data (`const`, `enum`, `default`, `examples`, …) or a
        // plain value, not a schema.
    }
}

fn walk_map(map: Option<&Map<String, Value>>, at: &str, problems: &mut Vec<Problem>) {
    for (name, schema) in map.into_iter().flatten() {
        walk(schema, &format!("{at}/{}", escape(name)), problems);
    }
}

/// JSON Pointer escaping (RFC 6901).
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn kinds(schema: Value) -> Vec<ProblemKind> {
        check(&schema)
            .err()
            .map(|p| p.0.into_iter().map(|p| p.kind).collect())
            .unwrap_or_default()
    }

    #[test]
    fn standard_schemas_pass() {
        for schema in [
            json!(true),
            json!({"type": "object"}),
            json!({
                "$schema": DIALECT,
                "type": "object",
                "$defs": {"a": {"$anchor": "addr", "type": "object", "properties": {"s": {"type": "string"}}}},
                "properties": {
                    "a": {"$ref": "#/$defs/a"},
                    "when": {"type": "string", "format": "date-time"},
                    "n": {"type": ["integer", "null"], "minimum": 1, "maximum": 5, "default": 2},
                    "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
                    "data": {"const": {"nullable": true, "format": "anything"}}
                },
                "allOf": [{"anyOf": [{"required": ["a"]}, {"required": ["n"]}]}],
                "if": {"properties": {"n": {"const": 1}}, "required": ["n"]},
                "then": {"required": ["a"]},
                "else": true,
                "additionalProperties": false
            }),
        ] {
            assert_eq!(check(&schema), Ok(()), "{schema}");
        }
    }

    #[test]
    fn generator_formats_fail() {
        let found = kinds(json!({"type": "object", "properties": {
            "depth": {"type": "integer", "format": "uint8", "minimum": 0, "maximum": 255}
        }}));
        assert!(
            matches!(found.as_slice(), [ProblemKind::DoesNotCompile(e)] if e.contains("uint8")),
            "{found:?}"
        );
    }

    #[test]
    fn unknown_keywords_fail_wherever_they_are() {
        let schema = json!({
            "type": "object",
            "nullable": true,
            "properties": {"a": {"type": "string", "x-mcp-header": "A"}},
            "$defs": {"d": {"items": {"type": "integer", "example": 3}}},
            "anyOf": [{"definitions": {}}],
            "default": {"not-a-keyword": "data is not walked"}
        });
        let mut found: Vec<String> = check(&schema)
            .unwrap_err()
            .0
            .iter()
            .filter(|p| matches!(p.kind, ProblemKind::UnknownKeyword(_)))
            .map(ToString::to_string)
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                "#/$defs/d/items: unknown keyword `example` (not in JSON Schema 2020-12)",
                "#/anyOf/0: unknown keyword `definitions` (not in JSON Schema 2020-12)",
                "#/properties/a: unknown keyword `x-mcp-header` (not in JSON Schema 2020-12)",
                "#: unknown keyword `nullable` (not in JSON Schema 2020-12)",
            ]
        );
    }

    #[test]
    fn meta_schema_violations_and_other_dialects_fail() {
        assert!(matches!(
            kinds(json!({"type": "whole number"})).as_slice(),
            [ProblemKind::MetaSchema(_), ..]
        ));
        assert!(matches!(
            kinds(json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}))
                .as_slice(),
            [ProblemKind::OtherDialect(_), ..]
        ));
        assert!(
            kinds(json!({"properties": {"a": 3}}))
                .iter()
                .any(|k| matches!(k, ProblemKind::NotASchema))
        );
    }

    #[test]
    fn tools_need_an_object_input_schema() {
        let tool = json!({"name": "t", "inputSchema": {"type": "string"}});
        assert_eq!(
            check_tool(&tool).unwrap_err().to_string(),
            "t.inputSchema#: a tool's inputSchema must be a schema with `\"type\": \"object\"`"
        );
        let tool = json!({
            "name": "t",
            "inputSchema": {"type": "object"},
            "outputSchema": {"type": "object", "properties": {"n": {"type": "integer", "format": "uint32"}}}
        });
        let problems = check_tool(&tool).unwrap_err().to_string();
        assert!(problems.starts_with("t.outputSchema#: "), "{problems}");
        assert!(check_tool(&json!({"name": "t", "inputSchema": {"type": "object"}})).is_ok());
    }
}
