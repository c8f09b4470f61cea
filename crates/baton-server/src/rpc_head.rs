//! What the HTTP layers read of a JSON-RPC request body, in the one pass that also checks
//! that the body is JSON.
//!
//! The body check (`-32700` for a body that is not JSON), the tool scopes (the tool a
//! `tools/call` names, and the target of a call-through) and the request metrics (method and
//! tool labels) all need a look at the body before rmcp parses it. One lenient pass serves
//! them all: it validates the whole document as `serde_json` does, keeps borrowed slices of
//! the three strings, and never fails on the *shape* of a valid document (a field of an
//! unexpected type reads as absent; rmcp refuses such a request later), so that an error
//! always means "not JSON". Keys that appear twice keep their last value, as
//! `serde_json::Value` does.

use std::{borrow::Cow, fmt, marker::PhantomData};

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The parts of a JSON-RPC request the layers read.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RequestHead<'a> {
    /// `method`, when it is a string.
    pub method: Option<Cow<'a, str>>,
    /// `params.name`, when it is a string.
    pub name: Option<Cow<'a, str>>,
    /// `params.arguments.name`, when it is a string: the tool a call-through names.
    pub target: Option<Cow<'a, str>>,
}

impl<'a> RequestHead<'a> {
    /// Reads `body`. An error means the body is not one JSON value (the error says where).
    pub fn parse(body: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice::<Lenient<Head<'a>>>(body).map(|head| head.0.unwrap_or_default().0)
    }

    /// The tool a `tools/call` names, and the target a call-through names.
    pub fn called_tool(&self) -> Option<(&str, Option<&str>)> {
        if self.method.as_deref() != Some("tools/call") {
            return None;
        }
        Some((self.name.as_deref()?, self.target.as_deref()))
    }
}

/// The top level, `params` and `params.arguments`: objects whose fields of interest are read.
#[derive(Default)]
struct Head<'a>(RequestHead<'a>);

#[derive(Default)]
struct Params<'a> {
    name: Option<Cow<'a, str>>,
    target: Option<Cow<'a, str>>,
}

#[derive(Default)]
struct Arguments<'a> {
    name: Option<Cow<'a, str>>,
}

/// An object whose fields of interest are read; every other field is skipped (and checked).
trait Fields<'de>: Default {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
}

impl<'de> Fields<'de> for Head<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "method" => self.0.method = map.next_value::<LenientStr<'de>>()?.0,
            "params" => {
                let params = map
                    .next_value::<Lenient<Params<'de>>>()?
                    .0
                    .unwrap_or_default();
                self.0.name = params.name;
                self.0.target = params.target;
            }
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de> Fields<'de> for Params<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "name" => self.name = map.next_value::<LenientStr<'de>>()?.0,
            "arguments" => {
                self.target = map
                    .next_value::<Lenient<Arguments<'de>>>()?
                    .0
                    .and_then(|a| a.name)
            }
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de> Fields<'de> for Arguments<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "name" => self.name = map.next_value::<LenientStr<'de>>()?.0,
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// The visitor methods of a value read leniently: every type but the wanted one reads as
/// `None` (its contents still checked).
macro_rules! other_types_are_none {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Default::default())
        }
    };
}

/// An object of `T`'s fields, or `None` for any other JSON value.
struct Lenient<T>(Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

impl<'de, T: Fields<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);
        impl<'de, T: Fields<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            other_types_are_none!();
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = T::default();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    fields.field(&key.0, &mut map)?;
                }
                Ok(Lenient(Some(fields)))
            }
        }
        deserializer.deserialize_any(ObjectVisitor(PhantomData))
    }
}

/// A string (borrowed from the body unless it holds escapes), or `None` for any other value.
#[derive(Default)]
struct LenientStr<'a>(Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for LenientStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = LenientStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            other_types_are_none!();
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(LenientStr(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LenientStr(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LenientStr(None))
            }
        }
        deserializer.deserialize_any(StrVisitor)
    }
}

/// An object key, borrowed unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn head(body: &str) -> RequestHead<'_> {
        RequestHead::parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn reads_method_tool_and_target() {
        let h = head(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"x":[1,{"name":"no"}]},"name":"call_tool","arguments":{"name":"add_findings","arguments":{"name":"deeper"}}}}"#,
        );
        assert_eq!(h.method.as_deref(), Some("tools/call"));
        assert_eq!(h.called_tool(), Some(("call_tool", Some("add_findings"))));
        let h = head(r#"{"method":"tools/list","params":{"name":"x"}}"#);
        assert_eq!(h.called_tool(), None);
        assert_eq!(head(r#"{"method":"tools/call"}"#).called_tool(), None);
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let h = head(r#"{"method":"tools\/call","params":{"name":"a\u0064d"}}"#);
        assert_eq!(h.called_tool(), Some(("add", None)));
        let h = head(r#"{"\u006dethod":"ping"}"#);
        assert_eq!(h.method.as_deref(), Some("ping"));
    }

    /// Valid JSON of another shape reads as absent fields, never as an error.
    #[test]
    fn other_shapes_read_as_absent() {
        for body in [
            "[]",
            r#"[{"method":"tools/call"}]"#,
            "null",
            "17",
            r#""tools/call""#,
            r#"{"method":5,"params":[1,2]}"#,
            r#"{"method":{"a":"tools/call"},"params":"x"}"#,
            r#"{"method":"tools/call","params":{"name":["a"],"arguments":"x"}}"#,
            r#"{"method":"tools/call","params":{"name":null,"arguments":{"name":7}}}"#,
        ] {
            let h = head(body);
            assert_eq!(h.called_tool(), None, "{body}");
        }
        let h = head(r#"{"method":"tools/call","params":{"name":"t","arguments":{"name":7}}}"#);
        assert_eq!(h.called_tool(), Some(("t", None)));
    }

    /// A key given twice keeps its last value, as `serde_json::Value` reads it.
    #[test]
    fn the_last_of_repeated_keys_wins() {
        let h = head(
            r#"{"method":"ping","method":"tools/call","params":{"name":"a","arguments":{"name":"x","name":"y"},"name":"b"}}"#,
        );
        assert_eq!(h.called_tool(), Some(("b", Some("y"))));
        let value: serde_json::Value = serde_json::from_str(
            r#"{"params":{"name":"a","arguments":{"name":"x","name":"y"},"name":"b"}}"#,
        )
        .unwrap();
        assert_eq!(value["params"]["name"], "b");
        assert_eq!(value["params"]["arguments"]["name"], "y");
    }

    /// Whatever `serde_json` refuses as JSON is refused here, deep inside skipped fields too.
    #[test]
    fn invalid_json_is_an_error_wherever_it_is() {
        for body in [
            "",
            "{",
            r#"{"method":"tools/call""#,
            r#"{"method":"tools/call"} x"#,
            r#"{"params":{"_meta":{"a":[1,2,}}}"#,
            r#"{"other":[tru]}"#,
            r#"{"method":"a\qb"}"#,
            "{\"method\":\"\u{1}\"}",
            r#"{"params":{"arguments":{"deep":{"x":01}}}}"#,
        ] {
            assert!(RequestHead::parse(body.as_bytes()).is_err(), "{body:?}");
            assert!(
                serde_json::from_str::<IgnoredAny>(body).is_err(),
                "{body:?} is JSON after all"
            );
        }
        // Deep nesting is judged as the old check (`IgnoredAny`) judged it.
        for depth in [100, 200, 5000] {
            let deep = format!(r#"{{"params":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
            assert_eq!(
                RequestHead::parse(deep.as_bytes()).is_ok(),
                serde_json::from_str::<IgnoredAny>(&deep).is_ok(),
                "depth {depth}"
            );
        }
    }
}
