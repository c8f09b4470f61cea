//! How the argument and result types describe themselves in JSON Schema.
//!
//! Tool schemas declare JSON Schema 2020-12 (`$schema`), so they use only its vocabulary.
//! `schemars` describes a Rust integer with a `format` of its own (`uint8`, `uint32`), which
//! 2020-12 does not define: strict validators reject it and lenient ones warn on every use.
//! Every integer field therefore drops that `format` and states its range with `minimum` and
//! `maximum` instead, which also tells a model the limits (`depth` 1 to 5).

/// A `#[schemars(transform = …)]` for integer fields: removes the generator's `format`
/// (`uint8`, `uint32`, …), keeping the type and the range (`minimum`, `maximum`).
pub(crate) fn plain_integer(schema: &mut schemars::Schema) {
    if let Some(object) = schema.as_object_mut() {
        object.remove("format");
    }
}

/// [`plain_integer`] for the items of an array of integers.
pub(crate) fn plain_integer_items(schema: &mut schemars::Schema) {
    if let Some(items) = schema
        .as_object_mut()
        .and_then(|object| object.get_mut("items"))
        .and_then(serde_json::Value::as_object_mut)
    {
        items.remove("format");
    }
}

#[cfg(test)]
mod tests {
    use schemars::{JsonSchema, generate::SchemaSettings};
    use serde_json::{Value, json};

    use crate::*;

    /// The schema as a tool publishes it: JSON Schema 2020-12, for what the type accepts
    /// (arguments) or what it writes (results).
    fn schema<T: JsonSchema>(serialized: bool) -> Value {
        let settings = SchemaSettings::draft2020_12();
        let settings = if serialized {
            settings.for_serialize()
        } else {
            settings
        };
        serde_json::to_value(settings.into_generator().into_root_schema_for::<T>()).unwrap()
    }

    fn all_schemas() -> Vec<(&'static str, Value)> {
        vec![
            ("StartResearchTask", schema::<StartResearchTask>(false)),
            ("HandleArgs", schema::<HandleArgs>(false)),
            ("AddFindings", schema::<AddFindings>(false)),
            (
                "CompleteResearchTask",
                schema::<CompleteResearchTask>(false),
            ),
            ("GetTaskResults", schema::<GetTaskResults>(false)),
            ("ListResearchTasks", schema::<ListResearchTasks>(false)),
            ("StartedResearchTask", schema::<StartedResearchTask>(true)),
            ("ResearchTaskView", schema::<ResearchTaskView>(true)),
            ("FindingsAdded", schema::<FindingsAdded>(true)),
            (
                "CompletedResearchTask",
                schema::<CompletedResearchTask>(true),
            ),
            (
                "CancelledResearchTask",
                schema::<CancelledResearchTask>(true),
            ),
            ("ResearchResults", schema::<ResearchResults>(true)),
            ("ResearchTaskList", schema::<ResearchTaskList>(true)),
        ]
    }

    #[test]
    fn every_schema_passes_the_strict_check() {
        for (name, schema) in all_schemas() {
            if let Err(problems) = crate::strict_schema::check(&schema) {
                panic!("{name}:\n{problems}\n{schema:#}");
            }
        }
    }

    #[test]
    fn integer_arguments_state_their_ranges() {
        let start = schema::<StartResearchTask>(false);
        assert_eq!(
            start["properties"]["depth"],
            json!({
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": 5,
                "default": 2,
                "description": "How deep to research, from 1 (skim) to 5 (exhaustive). Defaults to 2."
            })
        );
        let limits = Limits::default();
        for schema in [
            schema::<GetTaskResults>(false),
            schema::<ListResearchTasks>(false),
        ] {
            let limit = &schema["properties"]["limit"];
            assert_eq!(limit["type"], json!(["integer", "null"]));
            assert_eq!(limit["minimum"], 1);
            assert_eq!(limit["maximum"], limits.max_page_size);
        }
    }

    #[test]
    fn integer_results_state_their_ranges() {
        let view = schema::<ResearchTaskView>(true);
        let depth = &view["properties"]["depth"];
        assert_eq!(
            (depth["minimum"].as_u64(), depth["maximum"].as_u64()),
            (Some(1), Some(5))
        );
        assert_eq!(view["properties"]["findings_count"]["minimum"], 0);
        let results = schema::<ResearchResults>(true);
        assert_eq!(
            results["$defs"]["Finding"]["properties"]["index"]["minimum"],
            1
        );
        // The published definition names stay as they were.
        assert!(results["$defs"]["TaskStatus"].is_object(), "{results}");
        let list = schema::<ResearchTaskList>(true);
        assert!(list["$defs"]["TaskSummary"].is_object(), "{list}");
    }
}
