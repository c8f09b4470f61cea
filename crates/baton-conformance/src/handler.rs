//! [`WithFixtures`]: a server handler with the conformance fixtures added around it.

use std::{borrow::Cow, sync::Arc};

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CancelTaskParams, CancelledNotificationParam,
        CompleteRequestParams, CompleteResult, CustomNotification, CustomRequest, CustomResult,
        DiscoverResult, GetPromptRequestParams, GetPromptResponse, GetSkillRequestParams,
        GetSkillResult, GetTaskParams, GetTaskResult, ListPromptsResult,
        ListResourceTemplatesResult, ListResourcesResult, ListSkillsResult, ListToolsResult,
        MetaObject, PaginatedRequestParams, ProgressNotificationParam, ProtocolVersion,
        ReadResourceDirectoryRequestParams, ReadResourceDirectoryResult, ReadResourceRequestParams,
        ReadResourceResponse, ServerConfig, SubscriptionFilter, Tool, UpdateTaskParams,
    },
    service::{NotificationContext, RequestContext, SubscriptionContext},
};

use crate::{Fixtures, primitives};

/// The fixture that asks for input synchronously, then runs as a task of the wrapped
/// server's (which must serve a tool of this name that requires the Tasks extension).
pub const TASK_AFTER_INPUT_TOOL: &str = "test_tool_with_task";

/// A server handler with the conformance fixtures added: fixture tools (called with their
/// request's context), prompts, resources, completions and listen streams are answered
/// here; everything else goes to the wrapped handler `H` unchanged. Cheap to clone when
/// `H` is.
#[derive(Clone)]
pub struct WithFixtures<H> {
    inner: H,
    fixtures: Arc<Fixtures>,
    result_meta: MetaObject,
}

impl<H: ServerHandler> WithFixtures<H> {
    /// Wraps `inner`.
    pub fn new(inner: H, fixtures: Arc<Fixtures>) -> Self {
        let mut result_meta = MetaObject::default();
        if let Ok(info) = serde_json::to_value(inner.get_info().server_info) {
            result_meta.insert("io.modelcontextprotocol/serverInfo".to_owned(), info);
        }
        WithFixtures {
            inner,
            fixtures,
            result_meta,
        }
    }

    /// The wrapped handler.
    pub fn inner(&self) -> &H {
        &self.inner
    }
}

fn is_modern(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.protocol_version()
        .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
}

// Every method of the trait is written out: the fixture ones are answered here, the rest
// delegate, so that a method the wrapped server implements is never silently replaced by
// rmcp's default.
#[allow(deprecated)] // subscribe/unsubscribe are legacy-only, and still delegated.
impl<H: ServerHandler + Clone> ServerHandler for WithFixtures<H> {
    fn get_info(&self) -> ServerConfig {
        let mut info = self.inner.get_info();
        let fixtures = Fixtures::capabilities();
        let caps = &mut info.capabilities;
        caps.tools = fixtures.tools;
        caps.prompts = fixtures.prompts;
        caps.resources = fixtures.resources;
        caps.completions = fixtures.completions;
        caps.logging = fixtures.logging;
        info
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.inner.supported_protocol_versions()
    }

    async fn ping(&self, ctx: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        self.inner.ping(ctx).await
    }

    async fn discover(&self, ctx: RequestContext<RoleServer>) -> Result<DiscoverResult, ErrorData> {
        let mut result = self.inner.discover(ctx).await?;
        result.capabilities = self.get_info().capabilities;
        Ok(result)
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.inner.list_tools(request, ctx).await
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.get_tool(name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name == TASK_AFTER_INPUT_TOOL {
            // MRTR first, synchronously; then the wrapped server's tool of that name runs
            // as a task with the answer (the Tasks extension's MRTR composition).
            return match crate::mrtr::name_before_task(&request)? {
                Err(input_required) => Ok(input_required),
                Ok(name) => {
                    let mut request = request;
                    request.input_responses = None;
                    request.request_state = None;
                    let mut arguments = rmcp::model::JsonObject::new();
                    arguments.insert("name".to_owned(), name.into());
                    request.arguments = Some(arguments);
                    self.inner.call_tool(request, ctx).await
                }
            };
        }
        if !self.fixtures.has_tool(&request.name) {
            return self.inner.call_tool(request, ctx).await;
        }
        let mut response = self.fixtures.call_tool(request, &ctx).await?;
        if let CallToolResponse::Complete(result) = &mut response
            && is_modern(&ctx)
        {
            result.meta = Some(self.result_meta.clone());
        }
        Ok(response)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(primitives::list_prompts())
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        primitives::get_prompt(request)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(primitives::list_resources())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(primitives::list_resource_templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        primitives::read_resource(request)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        primitives::complete(request)
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(self.fixtures.accepted_subscription_filter(requested))
    }

    async fn listen(&self, subscription: SubscriptionContext) -> Result<(), ErrorData> {
        self.fixtures.listen(subscription).await
    }

    async fn subscribe(
        &self,
        request: rmcp::model::SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.inner.subscribe(request, ctx).await
    }

    async fn unsubscribe(
        &self,
        request: rmcp::model::UnsubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.inner.unsubscribe(request, ctx).await
    }

    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.inner.set_level(request, ctx).await
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        self.inner.on_custom_request(request, ctx).await
    }

    async fn on_cancelled(
        &self,
        notification: CancelledNotificationParam,
        ctx: NotificationContext<RoleServer>,
    ) {
        self.inner.on_cancelled(notification, ctx).await
    }

    async fn on_progress(
        &self,
        notification: ProgressNotificationParam,
        ctx: NotificationContext<RoleServer>,
    ) {
        self.inner.on_progress(notification, ctx).await
    }

    async fn on_initialized(&self, ctx: NotificationContext<RoleServer>) {
        self.inner.on_initialized(ctx).await
    }

    async fn on_roots_list_changed(&self, ctx: NotificationContext<RoleServer>) {
        self.inner.on_roots_list_changed(ctx).await
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        ctx: NotificationContext<RoleServer>,
    ) {
        self.inner.on_custom_notification(notification, ctx).await
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        self.inner.get_task(request, ctx).await
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.inner.update_task(request, ctx).await
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.inner.cancel_task(request, ctx).await
    }

    async fn list_skills(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListSkillsResult, ErrorData> {
        self.inner.list_skills(request, ctx).await
    }

    async fn get_skill(
        &self,
        request: GetSkillRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetSkillResult, ErrorData> {
        self.inner.get_skill(request, ctx).await
    }

    async fn read_resource_directory(
        &self,
        request: ReadResourceDirectoryRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceDirectoryResult, ErrorData> {
        self.inner.read_resource_directory(request, ctx).await
    }
}
