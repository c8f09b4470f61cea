//! The fixtures the official MCP conformance suite (`@modelcontextprotocol/conformance`)
//! calls by name: `test_*` tools, prompts, resources, a resource template, completions and
//! `subscriptions/listen` streams, as a wrapper around any rmcp [`ServerHandler`].
//!
//! A server under test lists the fixture tools beside its own (register
//! [`Fixtures::tool_definitions`] with handlers that call
//! [`Fixtures::call_without_context`]), then wraps its handler in [`WithFixtures`]: the
//! wrapper answers the fixture tools with the request's context (progress token, log
//! level, client capabilities, MRTR input responses), serves the prompts, resources,
//! completions and listen streams, advertises their capabilities, and hands every other
//! request to the wrapped handler unchanged. Nothing here writes JSON-RPC: rmcp does.
//!
//! baton serves them only with `baton serve --conformance-fixtures`, never by default.
//!
//! # Example
//!
//! ```
//! use baton_conformance::{Fixtures, WithFixtures};
//! use rmcp::{ServerHandler, model::{ServerCapabilities, ServerConfig}};
//!
//! #[derive(Clone)]
//! struct Mine;
//! impl ServerHandler for Mine {
//!     fn get_info(&self) -> ServerConfig {
//!         ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
//!     }
//! }
//!
//! let served = WithFixtures::new(Mine, Fixtures::new());
//! let capabilities = served.get_info().capabilities;
//! // The wrapped server's tools, plus everything the fixtures need.
//! assert!(capabilities.tools.is_some() && capabilities.prompts.is_some());
//! assert!(capabilities.resources.is_some() && capabilities.completions.is_some());
//! assert!(Fixtures::tool_definitions().iter().any(|t| t.name == "test_simple_text"));
//! ```
#![deny(missing_docs)]

mod fixtures;
mod handler;
mod mrtr;
mod primitives;
mod tools;

pub use fixtures::{Fixtures, ListChange};
pub use handler::{TASK_AFTER_INPUT_TOOL, WithFixtures};
pub use mrtr::elicit;

#[doc(no_inline)]
pub use rmcp::ServerHandler;
