//! Who is calling.
//!
//! The principal flows from the request into the tools, into the handle MAC and into the
//! store's owner column. HTTP requests get theirs from the auth layer (with `--auth none`,
//! everyone is [`Principal::anonymous`]); stdio requests get the server's configured one,
//! `--stdio-principal`.

use std::sync::Arc;

use rmcp::{RoleServer, service::RequestContext};

/// The authenticated identity a request acts for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Principal(Arc<str>);

impl Principal {
    /// The principal of unauthenticated callers.
    pub fn anonymous() -> Self {
        Principal(Arc::from("anonymous"))
    }

    /// A named principal.
    pub fn new(name: &str) -> Self {
        Principal(Arc::from(name))
    }

    /// The principal's name, as stored in the owner column.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The principal of a request: the one the HTTP layers put in the request's extensions,
    /// or `fallback` for transports without HTTP (stdio).
    pub fn of_request(ctx: &RequestContext<RoleServer>, fallback: &Principal) -> Principal {
        ctx.extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>())
            .cloned()
            .unwrap_or_else(|| fallback.clone())
    }
}
