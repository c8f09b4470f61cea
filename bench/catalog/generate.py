#!/usr/bin/env python3
"""Generate bench/catalog/tools-500.json: a realistic 500-tool MCP catalog.

Deterministic: hand-written family/resource/verb tables below, no randomness.
Run:  python3 bench/catalog/generate.py  (writes tools-500.json next to this file)

Tables use a compact parameter syntax:  "name:type[!]:description|..."
types: s string, i integer, b boolean, n number, a array of strings, o object,
       e(x,y,z) string enum.  "!" marks the parameter required.
"""
import hashlib
import json
import os
import re
import sys

TARGET = 500
PINNED = {"web_search", "slack_post_message", "gmail_send_email"}

LIMIT = "limit:i:Maximum number of results to return (1-100, default 25)"
CURSOR = "cursor:s:Pagination cursor returned by a previous call; omit for the first page"


def params(spec):
    props, req = {}, []
    if not spec:
        return props, req
    for part in spec.split("|"):
        name, typ, desc = part.split(":", 2)
        required = typ.endswith("!")
        typ = typ.rstrip("!")
        if typ.startswith("e("):
            schema = {"type": "string", "enum": typ[2:-1].split(",")}
        else:
            schema = {
                "s": {"type": "string"},
                "i": {"type": "integer"},
                "b": {"type": "boolean"},
                "n": {"type": "number"},
                "a": {"type": "array", "items": {"type": "string"}},
                "o": {"type": "object"},
            }[typ]
        schema = dict(schema)
        schema["description"] = desc
        props[name] = schema
        if required:
            req.append(name)
    return props, req


def variant(name, options):
    h = int(hashlib.sha256(name.encode()).hexdigest(), 16)
    return options[h % len(options)]


class R:
    """A resource with CRUD-like operations.  ops letters: L list, G get, C create,
    U update, D delete, S search."""

    def __init__(self, singular, plural, gloss, ops, id="", fields="", filters="", scope=None, where=None):
        self.singular, self.plural, self.gloss, self.ops = singular, plural, gloss, ops
        self.id, self.fields, self.filters, self.scope, self.where = id, fields, filters, scope, where


def T(suffix, description, spec="", kind="write", title=None):
    return {"suffix": suffix, "description": description, "spec": spec, "kind": kind, "title": title}


def art(word):
    return "an" if word[0] in "aeiou" else "a"


def human(s):
    return s.replace("_", " ")


def join(*specs):
    return "|".join(s for s in specs if s)


def resource_tools(fam, r):
    scope = fam["scope"] if r.scope is None else r.scope
    where = r.where or fam["where"]
    sing, plur = r.singular, r.plural
    hs, hp = human(sing), human(plur)
    svc = fam["service"]
    out = []
    for op in r.ops:
        if op == "L":
            name = f"{fam['prefix']}_list_{plur}"
            desc = variant(name, [
                f"List {hp} in {where}. Results are paginated; pass the returned cursor to get the next page.",
                f"Return the {hp} of {where}, most recently updated first. Supports filters and cursor pagination.",
                f"Enumerate {hp} in {where}, optionally filtered. Each item includes its ID and a short summary.",
            ])
            out.append(T(f"list_{plur}", f"{desc} {art(hs).capitalize()} {hs} is {r.gloss}.", join(scope, r.filters, LIMIT, CURSOR), "read", f"List {hp} ({svc})"))
        elif op == "G":
            name = f"{fam['prefix']}_get_{sing}"
            desc = variant(name, [
                f"Get a single {hs} by ID with all of its fields.",
                f"Fetch the full details of one {hs}.",
                f"Retrieve one {hs}, including metadata and timestamps.",
            ])
            out.append(T(f"get_{sing}", f"{desc} {art(hs).capitalize()} {hs} is {r.gloss}.", join(scope, r.id), "read", f"Get {hs} ({svc})"))
        elif op == "C":
            name = f"{fam['prefix']}_create_{sing}"
            desc = variant(name, [
                f"Create a new {hs} in {where}.",
                f"Create {art(hs)} {hs} in {where} and return it with its new ID.",
                f"Add a new {hs} to {where}.",
            ])
            out.append(T(f"create_{sing}", f"{desc} {art(hs).capitalize()} {hs} is {r.gloss}.", join(scope, r.fields), "write", f"Create {hs} ({svc})"))
        elif op == "U":
            fields = "|".join(p.replace("!", "") if p.split(":")[1].endswith("!") else p for p in r.fields.split("|")) if r.fields else ""
            out.append(T(f"update_{sing}", f"Update an existing {hs} in {where}; only the fields you pass are changed, others keep their values.",
                         join(scope, r.id, fields), "write", f"Update {hs} ({svc})"))
        elif op == "D":
            out.append(T(f"delete_{sing}", variant(sing + fam["prefix"], [
                f"Permanently delete {art(hs)} {hs} from {where}. This cannot be undone.",
                f"Delete {art(hs)} {hs}. The {hs} and everything attached to it are removed for good.",
            ]), join(scope, r.id), "destructive", f"Delete {hs} ({svc})"))
        elif op == "S":
            out.append(T(f"search_{plur}", f"Search {hp} in {where} by keywords and filters. Matches titles and text; returns the best matches first.",
                         join(scope, f"query:s!:Search text matched against {hp}", r.filters, LIMIT), "read", f"Search {hp} ({svc})"))
    return out


def F(prefix, service, category, tags, where, scope="", resources=(), extra=()):
    return {"prefix": prefix, "service": service, "category": category, "tags": tags, "where": where,
            "scope": scope, "resources": list(resources), "extra": list(extra)}


REPO = "owner:s!:User or organization that owns the repository|repo:s!:Repository name, without the owner"
GL = "project_id:s!:Numeric ID or URL-encoded path of the GitLab project (for example `group/app`)"
JIRA_KEY = "issue_key:s!:Issue key such as `PROJ-123`"
SF_ID = "record_id:s!:18-character Salesforce record ID"
ISO = "ISO 8601 date-time, for example 2026-03-14T09:30:00Z"

FAMILIES = [
    F("github", "GitHub", "source-control", ["git", "code hosting"], "a GitHub repository", REPO, [
        R("repository", "repositories", "a Git repository hosted on GitHub with its code, issues and settings", "LGCD",
          fields="name:s!:Name of the new repository|description:s:Short description shown on the repository page|private:b:Create the repository as private|auto_init:b:Create an initial commit with a README",
          scope="owner:s!:User or organization login", where="a GitHub user or organization"),
        R("branch", "branches", "a named line of development pointing at a commit", "LCD",
          id="branch:s!:Branch name", fields="branch:s!:Name of the new branch|from_ref:s:Branch, tag or commit SHA to start from (default: the default branch)"),
        R("pull_request", "pull_requests", "a proposal to merge commits from one branch into another, with review and discussion", "LGCU",
          id="pull_number:i!:Pull request number",
          fields="title:s!:Title of the pull request|head:s!:Branch containing the changes|base:s!:Branch to merge into|body:s:Description in Markdown|draft:b:Open as a draft pull request",
          filters="state:e(open,closed,all):Filter by state|base:s:Only pull requests targeting this branch"),
        R("issue", "issues", "a tracked bug report, task or feature request in a repository", "LGCUS",
          id="issue_number:i!:Issue number",
          fields="title:s!:Issue title|body:s:Issue body in Markdown|labels:a:Labels to apply|assignees:a:Logins of users to assign",
          filters="state:e(open,closed,all):Filter by state|labels:a:Only issues with all of these labels|assignee:s:Only issues assigned to this login"),
        R("release", "releases", "a published, versioned snapshot of the repository with notes and downloadable assets", "LC",
          fields="tag_name:s!:Git tag for the release, created if missing|name:s:Release title|body:s:Release notes in Markdown|prerelease:b:Mark as a pre-release"),
        R("commit", "commits", "a recorded change to the repository with author, message and diff", "LG",
          id="sha:s!:Commit SHA", filters="sha:s:Branch or SHA to start listing from|path:s:Only commits touching this path|author:s:Only commits by this author"),
    ], [
        T("merge_pull_request", "Merge an open pull request into its base branch using a merge commit, squash or rebase. Fails if checks or reviews block the merge.",
          join(REPO, "pull_number:i!:Pull request number|merge_method:e(merge,squash,rebase):How to merge|commit_title:s:Title for the merge commit")),
        T("request_pull_request_reviewers", "Ask specific users or teams to review a pull request.",
          join(REPO, "pull_number:i!:Pull request number|reviewers:a:Logins of users to request|team_reviewers:a:Slugs of teams to request")),
        T("list_pull_request_files", "List the files changed by a pull request with additions, deletions and patch hunks.", join(REPO, "pull_number:i!:Pull request number", LIMIT), "read"),
        T("add_issue_comment", "Add a comment to an issue or pull request conversation.", join(REPO, "issue_number:i!:Issue or pull request number|body:s!:Comment text in Markdown")),
        T("get_file_contents", "Read a file or directory listing from a repository at a branch, tag or commit.", join(REPO, "path:s!:Path inside the repository|ref:s:Branch, tag or SHA (default: the default branch)"), "read"),
        T("create_or_update_file", "Commit a new or changed file to a branch in one step, with a commit message.",
          join(REPO, "path:s!:Path of the file|content:s!:New file content (UTF-8 text)|message:s!:Commit message|branch:s:Branch to commit to|sha:s:Blob SHA of the file being replaced, required when updating")),
        T("search_code", "Search source code across GitHub with code-search qualifiers such as `repo:`, `language:` and `path:`. Returns matching files with line fragments.",
          join("query:s!:Code search query", LIMIT), "read"),
        T("fork_repository", "Fork a repository into your account or an organization.", join(REPO, "organization:s:Organization to fork into (default: your account)")),
        T("list_workflow_runs", "List GitHub Actions workflow runs for a repository with status, conclusion and triggering event.",
          join(REPO, "workflow:s:Workflow file name or ID|branch:s:Only runs for this branch|status:e(queued,in_progress,completed,failure,success):Filter by status", LIMIT), "read"),
        T("rerun_workflow_run", "Re-run a GitHub Actions workflow run, optionally only its failed jobs.", join(REPO, "run_id:i!:Workflow run ID|failed_only:b:Re-run only the failed jobs")),
        T("list_notifications", "List your unread GitHub notifications: review requests, mentions, assignments and CI results.", "all:b:Include notifications already read|participating:b:Only threads you participate in", "read"),
        T("get_me", "Get the profile of the authenticated GitHub user: login, name, email and organizations.", "", "read"),
    ]),
    F("gitlab", "GitLab", "source-control", ["git", "code hosting"], "a GitLab project", GL, [
        R("project", "projects", "a GitLab repository together with its issues, merge requests and CI/CD settings", "LGC",
          fields="name:s!:Project name|namespace_id:i:Group or user namespace to create it in|visibility:e(private,internal,public):Who can see the project",
          scope="", where="the GitLab instance", id="project_id:s!:Numeric ID or URL-encoded path of the project",
          filters="search:s:Only projects whose name matches|membership:b:Only projects you are a member of"),
        R("merge_request", "merge_requests", "a request to merge a source branch into a target branch, with review, approvals and pipelines", "LGCU",
          id="merge_request_iid:i!:Merge request IID within the project",
          fields="title:s!:Title|source_branch:s!:Branch with the changes|target_branch:s!:Branch to merge into|description:s:Description in Markdown|remove_source_branch:b:Delete the source branch after merging",
          filters="state:e(opened,closed,merged,all):Filter by state|author_username:s:Only merge requests by this user"),
        R("issue", "issues", "a GitLab issue used to track bugs, tasks and ideas in a project", "LGCU",
          id="issue_iid:i!:Issue IID within the project",
          fields="title:s!:Issue title|description:s:Issue description|labels:a:Labels to set|assignee_ids:a:IDs of users to assign|due_date:s:Due date as YYYY-MM-DD",
          filters="state:e(opened,closed,all):Filter by state|labels:a:Only issues with these labels"),
        R("pipeline", "pipelines", "one run of the project's CI/CD jobs for a commit or branch", "LG",
          id="pipeline_id:i!:Pipeline ID", filters="ref:s:Only pipelines for this branch or tag|status:e(running,pending,success,failed,canceled):Filter by status"),
        R("branch", "branches", "a named ref in the project's repository", "LCD", id="branch:s!:Branch name",
          fields="branch:s!:Name of the new branch|ref:s!:Branch name or commit SHA to create it from"),
    ], [
        T("approve_merge_request", "Approve a merge request as the current user.", join(GL, "merge_request_iid:i!:Merge request IID")),
        T("accept_merge_request", "Merge a merge request into its target branch, optionally when the pipeline succeeds.",
          join(GL, "merge_request_iid:i!:Merge request IID|squash:b:Squash commits into one|merge_when_pipeline_succeeds:b:Wait for the pipeline and merge when it passes")),
        T("retry_pipeline", "Retry the failed or canceled jobs of a pipeline.", join(GL, "pipeline_id:i!:Pipeline ID")),
        T("cancel_pipeline", "Cancel a running pipeline and all of its pending jobs.", join(GL, "pipeline_id:i!:Pipeline ID")),
        T("get_job_log", "Get the console log (trace) of one CI/CD job.", join(GL, "job_id:i!:Job ID|tail_lines:i:Only the last N lines"), "read"),
        T("create_merge_request_note", "Post a comment on a merge request discussion.", join(GL, "merge_request_iid:i!:Merge request IID|body:s!:Comment text in Markdown")),
    ]),
    F("jira", "Jira", "issue-tracking", ["project management", "agile"], "a Jira project", "", [
        R("issue", "issues", "a Jira work item (story, bug, task or epic) with a status in a workflow", "GCUD",
          id=JIRA_KEY,
          fields="project_key:s!:Key of the project, for example `PROJ`|summary:s!:One-line summary|issue_type:e(Story,Bug,Task,Epic):Issue type|description:s:Detailed description|priority:e(Highest,High,Medium,Low,Lowest):Priority|labels:a:Labels"),
        R("project", "projects", "a Jira project that groups issues, boards and workflows", "LG", id="project_key:s!:Project key", where="the Jira site"),
        R("sprint", "sprints", "a time-boxed iteration on a Scrum board", "LC", scope="board_id:i!:ID of the Scrum board",
          fields="name:s!:Sprint name|start_date:s:Start date (" + ISO + ")|end_date:s:End date|goal:s:Sprint goal",
          filters="state:e(active,future,closed):Filter by sprint state", where="a Jira board"),
        R("board", "boards", "a Scrum or Kanban board showing issues from one or more projects", "L", where="the Jira site",
          filters="project_key:s:Only boards for this project|type:e(scrum,kanban):Board type"),
    ], [
        T("search_issues", "Find Jira issues with a JQL query, for example `project = PROJ AND status = \"In Progress\" AND assignee = currentUser()`.",
          join("jql:s!:JQL query", "fields:a:Fields to return (default: summary, status, assignee)", LIMIT), "read"),
        T("transition_issue", "Move an issue to another workflow status such as In Progress or Done, using one of its available transitions.",
          join(JIRA_KEY, "transition:s!:Name or ID of the transition|comment:s:Comment to add with the transition")),
        T("assign_issue", "Assign a Jira issue to a user, or unassign it.", join(JIRA_KEY, "account_id:s:Atlassian account ID of the assignee; empty to unassign")),
        T("add_comment", "Add a comment to a Jira issue.", join(JIRA_KEY, "body:s!:Comment text (Atlassian wiki markup or plain text)")),
        T("list_comments", "List the comments on a Jira issue, oldest first.", join(JIRA_KEY, LIMIT), "read"),
        T("add_worklog", "Log time spent working on an issue.", join(JIRA_KEY, "time_spent:s!:Duration such as `2h 30m`|started:s:When the work started (" + ISO + ")|comment:s:What was done")),
        T("link_issues", "Link two Jira issues with a relation such as blocks, relates to or duplicates.",
          join("inward_issue:s!:Key of the first issue|outward_issue:s!:Key of the second issue|link_type:e(Blocks,Relates,Duplicate,Cloners):Kind of link")),
        T("move_issues_to_sprint", "Move one or more issues into a sprint.", join("sprint_id:i!:Target sprint ID|issue_keys:a!:Keys of the issues to move")),
        T("get_board_backlog", "List the issues in a board's backlog that are not in any sprint.", join("board_id:i!:Board ID", LIMIT), "read"),
    ]),
    F("linear", "Linear", "issue-tracking", ["project management"], "a Linear workspace", "", [
        R("issue", "issues", "a Linear issue tracked by a team through its workflow states", "LGCU",
          id="issue_id:s!:Issue identifier such as `ENG-42` or its UUID",
          fields="team_id:s!:Team that owns the issue|title:s!:Issue title|description:s:Markdown description|priority:i:0 none, 1 urgent, 2 high, 3 medium, 4 low|assignee_id:s:User to assign|estimate:i:Point estimate",
          filters="team_id:s:Only issues of this team|state:s:Only issues in this workflow state|assignee_id:s:Only issues assigned to this user"),
        R("project", "projects", "a Linear project: a set of issues toward a goal with a target date", "LGC",
          id="project_id:s!:Project UUID", fields="name:s!:Project name|team_ids:a!:Teams working on it|target_date:s:Target date YYYY-MM-DD|description:s:Summary"),
        R("cycle", "cycles", "a Linear cycle, the team's recurring iteration", "L", filters="team_id:s!:Team UUID"),
        R("team", "teams", "a Linear team with its own issues, workflow and cycles", "L"),
    ], [
        T("add_comment", "Comment on a Linear issue.", "issue_id:s!:Issue identifier|body:s!:Comment in Markdown"),
        T("create_label", "Create an issue label for a team or the whole workspace.", "name:s!:Label name|color:s:Hex color such as #ff0000|team_id:s:Team to scope the label to"),
    ]),
    F("slack", "Slack", "chat", ["messaging", "team chat"], "a Slack workspace", "", [
        R("channel", "channels", "a Slack conversation space, public or private, for a topic or team", "LC",
          fields="name:s!:Channel name, lower case, no spaces|is_private:b:Create a private channel|description:s:Channel purpose",
          filters="types:a:Conversation types: public_channel, private_channel, mpim, im|exclude_archived:b:Leave out archived channels"),
        R("user", "users", "a member of the Slack workspace", "LG", id="user_id:s!:Slack user ID such as U024BE7LH"),
    ], [
        T("post_message", "Send a message to a Slack channel, direct message or thread. Supports Slack mrkdwn formatting and Block Kit blocks.",
          "channel:s!:Channel ID or name, or a user ID for a direct message|text:s!:Message text|thread_ts:s:Timestamp of the parent message to reply in its thread|blocks:o:Block Kit layout"),
        T("update_message", "Edit the text of a message the app posted earlier.", "channel:s!:Channel ID|ts:s!:Timestamp of the message|text:s!:New text"),
        T("delete_message", "Delete a message from a channel.", "channel:s!:Channel ID|ts:s!:Timestamp of the message", "destructive"),
        T("get_channel_history", "Read recent messages from a channel, newest first.", join("channel:s!:Channel ID|oldest:s:Only messages after this timestamp", LIMIT, CURSOR), "read"),
        T("get_thread_replies", "Read all replies in a message thread.", "channel:s!:Channel ID|thread_ts:s!:Timestamp of the thread's parent message", "read"),
        T("search_messages", "Search messages across the workspace with Slack search modifiers like `in:#channel` and `from:@user`.",
          join("query:s!:Search query", "sort:e(score,timestamp):Sort order", LIMIT), "read"),
        T("add_reaction", "Add an emoji reaction to a message.", "channel:s!:Channel ID|timestamp:s!:Message timestamp|name:s!:Emoji name without colons, for example `thumbsup`"),
        T("invite_to_channel", "Invite one or more users to a channel.", "channel:s!:Channel ID|users:a!:User IDs to invite"),
        T("archive_channel", "Archive a channel so no new messages can be posted.", "channel:s!:Channel ID", "destructive"),
        T("set_channel_topic", "Set the topic shown at the top of a channel.", "channel:s!:Channel ID|topic:s!:New topic text"),
        T("lookup_user_by_email", "Find a Slack user from their email address.", "email:s!:Email address", "read"),
        T("set_user_status", "Set your own Slack status text, emoji and expiry.", "status_text:s!:Status text|status_emoji:s:Emoji such as :palm_tree:|expiration:s:When the status clears (" + ISO + ")"),
        T("schedule_message", "Schedule a message to be posted to a channel at a future time.", "channel:s!:Channel ID|text:s!:Message text|post_at:s!:When to post (" + ISO + ")"),
        T("upload_file", "Upload a file to Slack and share it in channels.", "channels:a!:Channel IDs to share to|filename:s!:File name|content:s!:File content as text or base64|initial_comment:s:Message to post with the file"),
        T("pin_message", "Pin a message to a channel so everyone can find it.", "channel:s!:Channel ID|timestamp:s!:Message timestamp"),
    ]),
    F("teams", "Microsoft Teams", "chat", ["messaging", "microsoft 365"], "Microsoft Teams", "", [
        R("team", "teams", "a Microsoft Teams team the signed-in user belongs to", "L"),
        R("channel", "channels", "a channel inside a Microsoft Teams team", "LC", scope="team_id:s!:Team ID",
          fields="display_name:s!:Channel name|description:s:Channel description|membership_type:e(standard,private,shared):Who can join", where="a team"),
    ], [
        T("send_channel_message", "Post a message to a channel in Microsoft Teams. The body may contain HTML.",
          "team_id:s!:Team ID|channel_id:s!:Channel ID|content:s!:Message body|content_type:e(text,html):Body format"),
        T("reply_to_channel_message", "Reply to a message in a Teams channel thread.", "team_id:s!:Team ID|channel_id:s!:Channel ID|message_id:s!:ID of the message to reply to|content:s!:Reply body"),
        T("send_chat_message", "Send a message in a one-on-one or group chat in Teams.", "chat_id:s!:Chat ID|content:s!:Message body"),
        T("list_chats", "List the signed-in user's one-on-one, group and meeting chats.", join(LIMIT), "read"),
        T("list_channel_messages", "Read recent messages from a Teams channel.", join("team_id:s!:Team ID|channel_id:s!:Channel ID", LIMIT), "read"),
    ]),
    F("gmail", "Gmail", "email", ["mail", "google workspace"], "the user's Gmail mailbox", "", [
        R("label", "labels", "a Gmail label used to organize messages like a folder", "LC",
          fields="name:s!:Label name; use / for nesting|label_list_visibility:e(labelShow,labelHide):Show in the label list"),
        R("draft", "drafts", "an unsent email saved in the Drafts folder", "LC",
          fields="to:a!:Recipient addresses|subject:s!:Subject line|body:s!:Plain-text or HTML body|cc:a:Cc addresses"),
    ], [
        T("send_email", "Send an email from the user's Gmail account. Supports cc, bcc, HTML bodies and attachments from Drive.",
          "to:a!:Recipient email addresses|subject:s!:Subject line|body:s!:Message body, plain text or HTML|cc:a:Cc addresses|bcc:a:Bcc addresses|attachment_file_ids:a:Google Drive file IDs to attach"),
        T("search_messages", "Search the mailbox with Gmail search operators such as `from:`, `subject:`, `has:attachment`, `newer_than:7d`.",
          join("query:s!:Gmail search query", LIMIT, CURSOR), "read"),
        T("get_message", "Read one email: headers, body text and attachment list.", "message_id:s!:Message ID|format:e(full,metadata,minimal):How much to return", "read"),
        T("get_thread", "Read a whole email conversation (thread) in order.", "thread_id:s!:Thread ID", "read"),
        T("reply_to_message", "Reply to an email, keeping it in the same thread.", "message_id:s!:ID of the message to answer|body:s!:Reply body|reply_all:b:Reply to all recipients"),
        T("forward_message", "Forward an email with its attachments to other recipients.", "message_id:s!:ID of the message to forward|to:a!:Recipients|note:s:Text added above the forwarded message"),
        T("send_draft", "Send a previously saved draft.", "draft_id:s!:Draft ID"),
        T("modify_message_labels", "Add or remove labels on a message, for example to archive it (remove INBOX), mark read (remove UNREAD) or star it.",
          "message_id:s!:Message ID|add_label_ids:a:Labels to add|remove_label_ids:a:Labels to remove"),
        T("trash_message", "Move an email to the trash; it is deleted for good after 30 days.", "message_id:s!:Message ID", "destructive"),
        T("get_attachment", "Download one attachment of an email as base64 data.", "message_id:s!:Message ID|attachment_id:s!:Attachment ID", "read"),
        T("create_filter", "Create a mailbox filter that labels, archives or forwards matching incoming mail automatically.",
          "from:s:Match sender|subject:s:Match subject words|query:s:Match a Gmail search query|add_label_ids:a:Labels to apply|archive:b:Skip the inbox|forward_to:s:Address to forward to"),
        T("set_vacation_responder", "Turn the out-of-office auto-reply on or off, with its message and dates.",
          "enabled:b!:Turn the auto-reply on or off|subject:s:Auto-reply subject|message:s:Auto-reply text|start_time:s:Start (" + ISO + ")|end_time:s:End"),
    ]),
    F("outlook", "Outlook", "email", ["mail", "microsoft 365"], "the user's Outlook mailbox", "", [
        R("mail_folder", "mail_folders", "a folder in the Outlook mailbox such as Inbox, Archive or a custom folder", "LC",
          fields="display_name:s!:Folder name|parent_folder_id:s:Parent folder (default: top level)"),
    ], [
        T("send_mail", "Send an email through Outlook / Microsoft 365 on behalf of the signed-in user.",
          "to:a!:Recipient addresses|subject:s!:Subject|body:s!:Body text or HTML|importance:e(low,normal,high):Importance flag|save_to_sent_items:b:Keep a copy in Sent Items"),
        T("list_messages", "List messages in an Outlook folder, newest first, with optional OData filter.",
          join("folder:s:Folder name or ID (default: Inbox)|filter:s:OData filter, for example `isRead eq false`", LIMIT), "read"),
        T("move_message", "Move an Outlook message to another folder.", "message_id:s!:Message ID|destination_folder_id:s!:Folder to move it to"),
        T("flag_message", "Flag an Outlook message for follow-up, or clear the flag.", "message_id:s!:Message ID|status:e(flagged,complete,notFlagged):Flag status|due:s:Follow-up due date"),
    ]),
    F("gdrive", "Google Drive", "files", ["storage", "documents", "google workspace"], "Google Drive", "", [
        R("file", "files", "a file or Google Docs/Sheets/Slides document stored in Drive", "LGD",
          id="file_id:s!:Drive file ID", filters="folder_id:s:Only files in this folder|mime_type:s:Only files of this MIME type|trashed:b:Include files in the trash"),
    ], [
        T("search_files", "Find files in Google Drive by name or full-text content, with optional type and owner filters.",
          join("query:s!:Words to look for in file names and contents", "mime_type:s:Restrict to a MIME type, for example application/pdf|owner:s:Owner email", LIMIT), "read"),
        T("download_file", "Download a file's content; Google Docs formats are exported (for example to PDF or DOCX).",
          "file_id:s!:Drive file ID|export_mime_type:s:Target format for Google documents", "read"),
        T("upload_file", "Upload a new file into a Drive folder.", "name:s!:File name|content:s!:File content, text or base64|mime_type:s:MIME type|folder_id:s:Destination folder ID"),
        T("create_folder", "Create a folder in Google Drive.", "name:s!:Folder name|parent_id:s:Parent folder ID (default: My Drive)"),
        T("move_file", "Move a file to another folder.", "file_id:s!:File ID|folder_id:s!:Destination folder ID"),
        T("copy_file", "Make a copy of a file, optionally with a new name or folder.", "file_id:s!:File ID|name:s:Name of the copy|folder_id:s:Folder for the copy"),
        T("share_file", "Share a file or folder with a person, group or domain, as viewer, commenter or editor.",
          "file_id:s!:File ID|email:s:Email of the person or group|role:e(reader,commenter,writer,owner)!:Access level|notify:b:Email the person about the share"),
        T("list_permissions", "List who has access to a file and with which role.", "file_id:s!:File ID", "read"),
        T("remove_permission", "Revoke someone's access to a file.", "file_id:s!:File ID|permission_id:s!:Permission ID", "destructive"),
    ]),
    F("s3", "Amazon S3", "files", ["object storage", "aws", "cloud storage"], "Amazon S3", "", [
        R("bucket", "buckets", "an S3 bucket, a top-level container for objects in one AWS region", "LCD",
          id="bucket:s!:Bucket name", fields="bucket:s!:Globally unique bucket name|region:s:AWS region, for example eu-west-1|versioning:b:Enable object versioning"),
        R("object", "objects", "a stored blob (file) in an S3 bucket addressed by its key", "LGD",
          scope="bucket:s!:Bucket name", id="key:s!:Object key (path)", filters="prefix:s:Only keys starting with this prefix|delimiter:s:Group keys by this delimiter, usually /", where="an S3 bucket"),
    ], [
        T("put_object", "Upload data to an S3 bucket under a key, replacing any object already there.",
          "bucket:s!:Bucket name|key:s!:Object key|content:s!:Data, text or base64|content_type:s:MIME type|storage_class:e(STANDARD,STANDARD_IA,GLACIER,INTELLIGENT_TIERING):Storage class"),
        T("copy_object", "Copy an object to another key or bucket.", "source_bucket:s!:Source bucket|source_key:s!:Source key|bucket:s!:Destination bucket|key:s!:Destination key"),
        T("generate_presigned_url", "Create a temporary URL that lets anyone download (or upload) one object without AWS credentials.",
          "bucket:s!:Bucket name|key:s!:Object key|expires_in:i:Lifetime in seconds (default 3600)|method:e(GET,PUT):Allowed HTTP method"),
        T("get_bucket_policy", "Read the access policy JSON attached to a bucket.", "bucket:s!:Bucket name", "read"),
        T("put_bucket_lifecycle", "Set lifecycle rules that move objects to cheaper storage classes or expire them after N days.",
          "bucket:s!:Bucket name|rules:o!:Lifecycle rules (prefix, transitions, expiration days)"),
    ]),
    F("postgres", "PostgreSQL", "databases", ["sql", "relational database"], "the PostgreSQL database", "", [
        R("table", "tables", "a relational table in a schema, with columns, constraints and indexes", "L",
          filters="schema:s:Schema name (default: public)"),
        R("schema", "schemas", "a namespace in the database that contains tables, views and functions", "L"),
        R("index", "indexes", "a secondary index on table columns that speeds up lookups", "LC",
          fields="table:s!:Table to index|columns:a!:Columns, in order|unique:b:Enforce uniqueness|concurrently:b:Build without locking writes",
          filters="table:s:Only indexes on this table"),
    ], [
        T("run_query", "Run a read-only SQL SELECT against PostgreSQL and return rows as JSON. Statements that modify data are rejected.",
          "sql:s!:A single SELECT statement|params:a:Positional parameters for $1, $2, ...|max_rows:i:Row limit (default 500)", "read"),
        T("execute_statement", "Execute a data-modifying SQL statement (INSERT, UPDATE, DELETE, DDL) in a transaction and return the affected row count.",
          "sql:s!:SQL statement|params:a:Positional parameters|dry_run:b:Roll back instead of committing"),
        T("describe_table", "Show a table's columns with types, nullability, defaults, primary key, foreign keys and indexes.", "table:s!:Table name, optionally schema-qualified", "read"),
        T("explain_query", "Show the query plan PostgreSQL chooses for a statement, optionally with actual timings (EXPLAIN ANALYZE).",
          "sql:s!:Statement to explain|analyze:b:Execute it to get real timings", "read"),
        T("list_active_queries", "List currently running queries with their duration, state and waiting locks (pg_stat_activity).", "min_duration_seconds:n:Only queries running at least this long", "read"),
        T("cancel_query", "Cancel a running query by backend process ID.", "pid:i!:Backend PID from list_active_queries|terminate:b:Terminate the whole connection instead"),
        T("list_slow_queries", "List the statements with the highest total or mean execution time from pg_stat_statements.", join("order_by:e(total_time,mean_time,calls):Sort key", LIMIT), "read"),
        T("get_table_sizes", "Report disk usage of the largest tables including indexes and TOAST.", join("schema:s:Schema name", LIMIT), "read"),
    ]),
    F("mongodb", "MongoDB", "databases", ["nosql", "document database"], "a MongoDB database", "database:s!:Database name", [
        R("collection", "collections", "a MongoDB collection of JSON-like documents", "LC",
          fields="name:s!:Collection name|capped:b:Create a capped collection|size_bytes:i:Maximum size for a capped collection"),
    ], [
        T("find_documents", "Find documents in a collection matching a filter, with projection, sort and limit.",
          join("database:s!:Database name|collection:s!:Collection name|filter:o:MongoDB query filter|projection:o:Fields to include or exclude|sort:o:Sort specification", LIMIT), "read"),
        T("insert_documents", "Insert one or more documents into a collection.", "database:s!:Database name|collection:s!:Collection name|documents:o!:Array of documents to insert"),
        T("update_documents", "Update documents matching a filter with an update expression such as `$set`.",
          "database:s!:Database name|collection:s!:Collection name|filter:o!:Which documents|update:o!:Update operators|upsert:b:Insert if nothing matches|many:b:Update all matches, not just the first"),
        T("delete_documents", "Delete documents matching a filter.", "database:s!:Database name|collection:s!:Collection name|filter:o!:Which documents|many:b:Delete all matches", "destructive"),
        T("aggregate", "Run an aggregation pipeline ($match, $group, $sort, $lookup ...) and return the results.",
          "database:s!:Database name|collection:s!:Collection name|pipeline:o!:Array of pipeline stages", "read"),
        T("count_documents", "Count the documents in a collection that match a filter.", "database:s!:Database name|collection:s!:Collection name|filter:o:Query filter", "read"),
    ]),
    F("redis", "Redis", "databases", ["cache", "key-value store"], "Redis", "", [], [
        T("get_key", "Read the value stored at a Redis key, whatever its type.", "key:s!:Key name", "read"),
        T("set_key", "Store a string value at a key, optionally with an expiry.", "key:s!:Key name|value:s!:Value|ttl_seconds:i:Expire after this many seconds|only_if_absent:b:Only set if the key does not exist"),
        T("delete_keys", "Delete one or more keys.", "keys:a!:Key names", "destructive"),
        T("scan_keys", "Iterate over keys matching a glob pattern without blocking the server.", join("pattern:s!:Glob pattern such as `session:*`", CURSOR, "count:i:Hint for keys per batch"), "read"),
        T("get_ttl", "Show how many seconds remain before a key expires.", "key:s!:Key name", "read"),
    ]),
    F("aws", "AWS", "cloud", ["infrastructure", "amazon web services"], "an AWS account", "region:s:AWS region, for example us-east-1 (default: the configured region)", [
        R("ec2_instance", "ec2_instances", "an EC2 virtual machine", "LG", id="instance_id:s!:Instance ID such as i-0abc123",
          filters="state:e(pending,running,stopping,stopped,terminated):Filter by state|tag:s:Only instances with this tag, as key=value"),
        R("security_group", "security_groups", "a virtual firewall with inbound and outbound rules for EC2 instances", "L",
          filters="vpc_id:s:Only groups in this VPC"),
        R("lambda_function", "lambda_functions", "a serverless AWS Lambda function", "L", filters="runtime:s:Only functions with this runtime"),
        R("rds_instance", "rds_instances", "a managed relational database server in Amazon RDS", "L"),
        R("iam_user", "iam_users", "an IAM identity for a person or service with credentials and policies", "LC",
          fields="user_name:s!:Name of the user|path:s:IAM path|tags:o:Tags as key/value pairs", scope=""),
    ], [
        T("launch_ec2_instance", "Launch a new EC2 virtual machine from an AMI.",
          "region:s:AWS region|image_id:s!:AMI ID|instance_type:s!:Instance type such as t3.micro|key_name:s:SSH key pair name|subnet_id:s:Subnet to launch into|tags:o:Tags as key/value pairs"),
        T("start_ec2_instances", "Start stopped EC2 instances.", "region:s:AWS region|instance_ids:a!:Instance IDs"),
        T("stop_ec2_instances", "Stop running EC2 instances; their EBS volumes are kept.", "region:s:AWS region|instance_ids:a!:Instance IDs|hibernate:b:Hibernate instead of stop"),
        T("reboot_ec2_instances", "Reboot EC2 instances in place.", "region:s:AWS region|instance_ids:a!:Instance IDs"),
        T("terminate_ec2_instances", "Terminate EC2 instances; this cannot be undone and deletes instance-store data.", "region:s:AWS region|instance_ids:a!:Instance IDs", "destructive"),
        T("authorize_security_group_ingress", "Add an inbound rule to a security group, for example to open port 443 to the world.",
          "region:s:AWS region|group_id:s!:Security group ID|protocol:e(tcp,udp,icmp,-1)!:IP protocol|port:i!:Port or start of range|cidr:s!:Source CIDR such as 203.0.113.0/24"),
        T("invoke_lambda_function", "Invoke a Lambda function synchronously or asynchronously with a JSON payload and return its response.",
          "region:s:AWS region|function_name:s!:Function name or ARN|payload:o:JSON event|async:b:Invoke asynchronously (Event invocation type)"),
        T("update_lambda_function_code", "Deploy new code to a Lambda function from an S3 object or an image.", "region:s:AWS region|function_name:s!:Function name|s3_bucket:s:Bucket with the zip|s3_key:s:Key of the zip|image_uri:s:Container image URI"),
        T("create_rds_snapshot", "Take a manual snapshot (backup) of an RDS database instance.", "region:s:AWS region|db_instance_identifier:s!:RDS instance|snapshot_identifier:s!:Name for the snapshot"),
        T("list_route53_hosted_zones", "List Route 53 DNS hosted zones in the account.", join(LIMIT), "read"),
        T("change_route53_record", "Create, update (UPSERT) or delete a DNS record in a Route 53 hosted zone.",
          "hosted_zone_id:s!:Hosted zone ID|action:e(CREATE,UPSERT,DELETE)!:Change type|name:s!:Record name such as api.example.com|type:e(A,AAAA,CNAME,TXT,MX)!:Record type|values:a!:Record values|ttl:i:TTL in seconds"),
        T("get_cost_and_usage", "Report AWS spend for a date range grouped by service, account or tag (Cost Explorer).",
          "start:s!:Start date YYYY-MM-DD|end:s!:End date YYYY-MM-DD|granularity:e(DAILY,MONTHLY):Time granularity|group_by:e(SERVICE,LINKED_ACCOUNT,TAG):Grouping", "read"),
        T("describe_cloudwatch_alarms", "List CloudWatch alarms and their current state (OK, ALARM, INSUFFICIENT_DATA).", "region:s:AWS region|state:e(OK,ALARM,INSUFFICIENT_DATA):Filter by state", "read"),
    ]),
    F("gcp", "Google Cloud", "cloud", ["infrastructure", "gcp"], "a Google Cloud project", "project:s!:Google Cloud project ID", [
        R("compute_instance", "compute_instances", "a Compute Engine virtual machine", "L", filters="zone:s:Zone such as europe-west1-b"),
        R("cloud_run_service", "cloud_run_services", "a containerized service running on Cloud Run", "L", filters="region:s:Region"),
        R("gke_cluster", "gke_clusters", "a Google Kubernetes Engine cluster", "L", filters="location:s:Zone or region, or - for all"),
    ], [
        T("start_compute_instance", "Start a stopped Compute Engine VM.", "project:s!:Project ID|zone:s!:Zone|instance:s!:Instance name"),
        T("stop_compute_instance", "Stop a running Compute Engine VM.", "project:s!:Project ID|zone:s!:Zone|instance:s!:Instance name"),
        T("deploy_cloud_run_service", "Deploy a container image to Cloud Run, creating or updating the service, and return its URL.",
          "project:s!:Project ID|region:s!:Region|service:s!:Service name|image:s!:Container image URL|env:o:Environment variables|allow_unauthenticated:b:Make the service public"),
        T("publish_pubsub_message", "Publish a message to a Pub/Sub topic.", "project:s!:Project ID|topic:s!:Topic name|data:s!:Message data|attributes:o:Message attributes"),
        T("read_cloud_logging", "Read log entries from Cloud Logging with a logging-query filter.", join("project:s!:Project ID|filter:s!:Logging query, for example `severity>=ERROR resource.type=cloud_run_revision`", LIMIT), "read"),
    ]),
    F("k8s", "Kubernetes", "cloud", ["containers", "kubernetes", "orchestration"], "the Kubernetes cluster", "namespace:s:Namespace (default: default)|context:s:kubeconfig context to use", [
        R("pod", "pods", "a Kubernetes pod: one or more containers scheduled together", "LGD", id="name:s!:Pod name",
          filters="label_selector:s:Label selector such as app=web|field_selector:s:Field selector such as status.phase=Running"),
        R("deployment", "deployments", "a Kubernetes Deployment that manages replicated pods", "LG", id="name:s!:Deployment name"),
        R("namespace", "namespaces", "a Kubernetes namespace isolating a group of resources", "L", scope="context:s:kubeconfig context"),
        R("service", "services", "a Kubernetes Service exposing pods on a stable address", "L"),
    ], [
        T("get_pod_logs", "Read container logs from a pod, optionally from the previous (crashed) container.",
          "namespace:s:Namespace|name:s!:Pod name|container:s:Container name|tail_lines:i:Only the last N lines|previous:b:Logs of the previous terminated container|since_seconds:i:Only logs newer than this"),
        T("scale_deployment", "Change the number of replicas of a Deployment.", "namespace:s:Namespace|name:s!:Deployment name|replicas:i!:Desired replica count"),
        T("restart_deployment", "Restart all pods of a Deployment with a rolling restart.", "namespace:s:Namespace|name:s!:Deployment name"),
        T("rollback_deployment", "Roll a Deployment back to its previous revision (or a given one).", "namespace:s:Namespace|name:s!:Deployment name|to_revision:i:Revision number"),
        T("get_rollout_status", "Show the progress of a Deployment rollout: updated, ready and available replicas.", "namespace:s:Namespace|name:s!:Deployment name", "read"),
        T("apply_manifest", "Create or update resources from a YAML manifest (like kubectl apply).", "manifest:s!:YAML with one or more resources|namespace:s:Namespace|dry_run:b:Server-side dry run only"),
        T("list_events", "List recent cluster events such as scheduling failures, image pull errors and OOM kills.", join("namespace:s:Namespace|involved_object:s:Only events about this object", LIMIT), "read"),
        T("exec_in_pod", "Run a command inside a running container and return its output.", "namespace:s:Namespace|name:s!:Pod name|container:s:Container|command:a!:Command and arguments"),
    ]),
    F("cloudflare", "Cloudflare", "cloud", ["cdn", "dns"], "a Cloudflare zone", "zone_id:s!:Cloudflare zone ID", [
        R("dns_record", "dns_records", "a DNS record (A, AAAA, CNAME, TXT, MX ...) served by Cloudflare", "LCD", id="record_id:s!:DNS record ID",
          fields="type:e(A,AAAA,CNAME,TXT,MX)!:Record type|name:s!:Record name|content:s!:Record value|ttl:i:TTL in seconds, 1 for automatic|proxied:b:Proxy traffic through Cloudflare"),
    ], [
        T("purge_cache", "Purge cached content from Cloudflare's CDN, everything or selected URLs.", "zone_id:s!:Zone ID|files:a:URLs to purge|purge_everything:b:Purge the whole zone", "destructive"),
    ]),
    F("gcal", "Google Calendar", "calendar", ["scheduling", "google workspace"], "a Google calendar", "calendar_id:s:Calendar ID (default: primary)", [
        R("event", "events", "a calendar event with a time, attendees, location and video link", "LGCUD",
          id="event_id:s!:Event ID",
          fields="summary:s!:Event title|start:s!:Start time (" + ISO + ")|end:s!:End time|attendees:a:Emails of guests to invite|location:s:Where it happens|description:s:Agenda or notes|add_video_conference:b:Attach a Google Meet link",
          filters="time_min:s:Only events ending after this time|time_max:s:Only events starting before this time|q:s:Free-text filter"),
        R("calendar", "calendars", "a calendar the user owns or has subscribed to", "L", scope=""),
    ], [
        T("find_free_slots", "Find time slots when all given people are free, using their free/busy information.",
          "attendees:a!:Emails of the people who must attend|duration_minutes:i!:Length of the meeting|time_min:s!:Search from (" + ISO + ")|time_max:s!:Search until|working_hours_only:b:Only suggest slots within working hours", "read"),
        T("respond_to_event", "Accept, decline or tentatively accept an invitation.", "calendar_id:s:Calendar ID|event_id:s!:Event ID|response:e(accepted,declined,tentative)!:Your answer|comment:s:Note to the organizer"),
        T("quick_add_event", "Create an event from a short natural-language text such as \"Lunch with Sam tomorrow at noon\".", "calendar_id:s:Calendar ID|text:s!:Event description in plain words"),
    ]),
    F("zoom", "Zoom", "calendar", ["video conferencing", "meetings"], "the user's Zoom account", "", [
        R("meeting", "meetings", "a scheduled or instant Zoom video meeting", "LGCD", id="meeting_id:i!:Zoom meeting ID",
          fields="topic:s!:Meeting topic|start_time:s:Start (" + ISO + "); omit for an instant meeting|duration:i:Length in minutes|password:s:Passcode|waiting_room:b:Enable the waiting room",
          filters="type:e(scheduled,live,upcoming,previous):Which meetings"),
        R("recording", "recordings", "a cloud recording of a past Zoom meeting, with video, audio and transcript files", "L",
          filters="from:s:Start date YYYY-MM-DD|to:s:End date YYYY-MM-DD"),
    ], [
        T("get_recording_transcript", "Get the text transcript of a recorded Zoom meeting, with speakers and timestamps.", "meeting_id:s!:Meeting UUID", "read"),
        T("get_meeting_participants", "List who joined a past meeting, with join and leave times.", "meeting_id:s!:Meeting UUID", "read"),
    ]),
    F("salesforce", "Salesforce", "crm", ["sales", "customer relationship management"], "Salesforce", "", [
        R("contact", "contacts", "a person associated with a customer account in Salesforce", "GCU", id=SF_ID,
          fields="last_name:s!:Last name|first_name:s:First name|email:s:Email|phone:s:Phone|account_id:s:Account the contact belongs to|title:s:Job title"),
        R("lead", "leads", "a prospective customer not yet qualified into an account and opportunity", "LCU", id=SF_ID,
          fields="last_name:s!:Last name|company:s!:Company name|email:s:Email|lead_source:s:Where the lead came from|status:s:Lead status",
          filters="status:s:Only leads with this status|owner_id:s:Only leads owned by this user"),
        R("opportunity", "opportunities", "a potential sale (deal) with an amount, stage and close date", "LGCU", id=SF_ID,
          fields="name:s!:Opportunity name|account_id:s!:Customer account|stage:s!:Sales stage, for example Prospecting or Closed Won|amount:n:Expected amount|close_date:s!:Expected close date YYYY-MM-DD",
          filters="stage:s:Only opportunities in this stage|owner_id:s:Only opportunities owned by this user|close_date_before:s:Closing before this date"),
        R("account", "accounts", "a customer or partner company in Salesforce", "GC", id=SF_ID,
          fields="name:s!:Company name|industry:s:Industry|website:s:Website|billing_country:s:Billing country"),
    ], [
        T("run_soql_query", "Run a SOQL query against Salesforce and return matching records.", "soql:s!:SOQL query, for example `SELECT Id, Name FROM Account WHERE Industry = 'Retail'`", "read"),
        T("search_records", "Full-text search across Salesforce objects (SOSL) for names, emails and phone numbers.", join("text:s!:Text to find|objects:a:Object types to search, for example Account, Contact, Lead", LIMIT), "read"),
        T("convert_lead", "Convert a qualified lead into an account, a contact and optionally an opportunity.", "lead_id:s!:Lead ID|converted_status:s!:Converted lead status|create_opportunity:b:Also create an opportunity"),
        T("log_activity", "Log a call, email or meeting as a completed task on a Salesforce record.", "what_id:s!:Related record ID|subject:s!:Subject|activity_type:e(Call,Email,Meeting)!:Kind of activity|description:s:Notes"),
    ]),
    F("hubspot", "HubSpot", "crm", ["marketing", "sales"], "HubSpot CRM", "", [
        R("company", "companies", "a company record in HubSpot CRM", "GC", id="company_id:s!:HubSpot company ID", fields="name:s!:Company name|domain:s:Company website domain|industry:s:Industry"),
        R("deal", "deals", "a HubSpot deal moving through a sales pipeline", "CU", id="deal_id:s!:Deal ID",
          fields="dealname:s!:Deal name|pipeline:s:Pipeline ID|dealstage:s!:Stage ID|amount:n:Deal value|closedate:s:Expected close date"),
        R("pipeline", "pipelines", "a sequence of deal or ticket stages in HubSpot", "L", filters="object_type:e(deals,tickets)!:Which pipelines"),
    ], [
        T("search_contacts", "Search HubSpot contacts by name, email, company or any property filter.", join("query:s:Free text|filters:o:Property filters", LIMIT), "read"),
        T("create_contact", "Create a contact in HubSpot.", "email:s!:Email address|firstname:s:First name|lastname:s:Last name|company:s:Company|lifecyclestage:s:Lifecycle stage"),
        T("create_note", "Add a note to a HubSpot contact, company or deal timeline.", "body:s!:Note text|contact_ids:a:Contacts to attach to|deal_ids:a:Deals to attach to"),
    ]),
    F("confluence", "Confluence", "docs", ["wiki", "documentation", "knowledge base"], "a Confluence space", "", [
        R("page", "pages", "a Confluence wiki page with rich content, versions and comments", "GCUD", id="page_id:s!:Page ID",
          fields="space_key:s!:Space key|title:s!:Page title|body:s!:Content in Confluence storage format or Markdown|parent_id:s:Parent page"),
        R("space", "spaces", "a Confluence space that groups related pages for a team or project", "LG", id="space_key:s!:Space key"),
    ], [
        T("search_content", "Search Confluence pages and blog posts with CQL or plain text.", join("cql:s!:CQL query or plain text|space_key:s:Limit to one space", LIMIT), "read"),
        T("get_page_children", "List the child pages of a Confluence page.", "page_id:s!:Parent page ID", "read"),
        T("add_page_comment", "Add a footer comment to a Confluence page.", "page_id:s!:Page ID|body:s!:Comment text"),
        T("add_page_labels", "Add labels to a Confluence page.", "page_id:s!:Page ID|labels:a!:Labels to add"),
        T("list_page_attachments", "List the files attached to a Confluence page.", "page_id:s!:Page ID", "read"),
    ]),
    F("notion", "Notion", "docs", ["notes", "wiki"], "a Notion workspace", "", [], [
        T("search", "Search Notion pages and databases the integration can access by title.", join("query:s!:Text to search for|filter_type:e(page,database):Only pages or only databases", LIMIT), "read"),
        T("get_page", "Get a Notion page's properties.", "page_id:s!:Page ID", "read"),
        T("create_page", "Create a Notion page under a page or as a row in a database.", "parent_id:s!:Parent page or database ID|title:s!:Page title|properties:o:Database properties|content_markdown:s:Page content"),
        T("update_page_properties", "Update the properties of a Notion page or database row.", "page_id:s!:Page ID|properties:o!:Properties to change"),
        T("query_database", "Query a Notion database with filters and sorts and return its rows.", join("database_id:s!:Database ID|filter:o:Notion filter object|sorts:o:Sort list", LIMIT, CURSOR), "read"),
        T("append_blocks", "Append content blocks (paragraphs, headings, to-dos, code) to a page.", "block_id:s!:Page or block ID|markdown:s!:Content to append as Markdown"),
        T("get_block_children", "Read the content blocks of a Notion page.", join("block_id:s!:Page or block ID", CURSOR), "read"),
    ]),
    F("jenkins", "Jenkins", "ci-cd", ["continuous integration", "builds"], "the Jenkins server", "", [
        R("job", "jobs", "a Jenkins job (pipeline or freestyle project)", "L", filters="folder:s:Folder path"),
        R("build", "builds", "one execution of a Jenkins job", "L", scope="job:s!:Job name or folder path", where="a Jenkins job"),
    ], [
        T("trigger_build", "Start a build of a Jenkins job, with parameters if the job takes any.", "job:s!:Job name or folder path|parameters:o:Build parameters"),
        T("get_build_status", "Get the result, duration and stages of a Jenkins build.", "job:s!:Job name|build_number:i:Build number (default: last build)", "read"),
        T("get_build_console_log", "Get the console output of a Jenkins build.", "job:s!:Job name|build_number:i!:Build number|tail_lines:i:Only the last N lines", "read"),
        T("abort_build", "Abort a running Jenkins build.", "job:s!:Job name|build_number:i!:Build number"),
    ]),
    F("circleci", "CircleCI", "ci-cd", ["continuous integration", "builds"], "a CircleCI project", "project_slug:s!:Project slug such as gh/acme/api", [
        R("pipeline", "pipelines", "a CircleCI pipeline: the workflows triggered for one commit", "L", filters="branch:s:Only this branch"),
    ], [
        T("trigger_pipeline", "Trigger a new CircleCI pipeline on a branch or tag, with pipeline parameters.", "project_slug:s!:Project slug|branch:s:Branch|tag:s:Tag|parameters:o:Pipeline parameters"),
        T("get_workflow", "Get a CircleCI workflow and the status of its jobs.", "workflow_id:s!:Workflow ID", "read"),
        T("rerun_workflow", "Re-run a CircleCI workflow, from the start or only the failed jobs.", "workflow_id:s!:Workflow ID|from_failed:b:Only re-run failed jobs|enable_ssh:b:Allow SSH into the re-run jobs"),
        T("get_job_artifacts", "List the artifacts a CircleCI job stored, with download URLs.", "project_slug:s!:Project slug|job_number:i!:Job number", "read"),
        T("get_test_results", "Get the test results (passed, failed, flaky) collected from a CircleCI job.", "project_slug:s!:Project slug|job_number:i!:Job number", "read"),
    ]),
    F("argocd", "Argo CD", "ci-cd", ["gitops", "continuous delivery", "kubernetes"], "Argo CD", "", [
        R("application", "applications", "an Argo CD application: a Git source synced to a Kubernetes destination", "LG", id="name:s!:Application name",
          filters="project:s:Argo CD project|sync_status:e(Synced,OutOfSync):Filter by sync status"),
    ], [
        T("sync_application", "Sync an Argo CD application so the cluster matches Git, optionally pruning removed resources.", "name:s!:Application name|revision:s:Git revision to sync to|prune:b:Delete resources no longer in Git|dry_run:b:Preview only"),
        T("rollback_application", "Roll an Argo CD application back to an earlier deployed revision.", "name:s!:Application name|id:i!:History ID of the revision to restore"),
    ]),
    F("datadog", "Datadog", "monitoring", ["observability", "metrics", "apm"], "Datadog", "", [
        R("monitor", "monitors", "a Datadog monitor that alerts when a metric, log or check crosses a threshold", "LGC", id="monitor_id:i!:Monitor ID",
          fields="name:s!:Monitor name|type:e(metric alert,log alert,service check,query alert)!:Monitor type|query:s!:Monitor query, for example `avg(last_5m):avg:system.cpu.user{env:prod} > 90`|message:s!:Notification message with @-mentions|priority:i:Priority 1-5",
          filters="tags:a:Only monitors with these tags|group_states:a:Only monitors in these states, for example Alert, Warn"),
        R("dashboard", "dashboards", "a Datadog dashboard of graphs and widgets", "LG", id="dashboard_id:s!:Dashboard ID"),
        R("host", "hosts", "a server or container host reporting to Datadog", "L", filters="filter:s:Host name or tag filter"),
    ], [
        T("query_metrics", "Query metric time series over a time range, for example `avg:system.cpu.user{service:web}`.", "query:s!:Metrics query|from:s!:Start (" + ISO + " or relative like now-1h)|to:s:End (default: now)", "read"),
        T("search_logs", "Search Datadog logs with the log search syntax, newest first.", join("query:s!:Log query, for example `service:web status:error`|from:s:Start time|to:s:End time", LIMIT), "read"),
        T("mute_monitor", "Mute a monitor (silence its notifications) until a given time.", "monitor_id:i!:Monitor ID|end:s:Unmute at (" + ISO + ")|scope:s:Only mute this scope, for example host:web-1"),
        T("post_event", "Post an event to the Datadog event stream, for example a deploy marker.", "title:s!:Event title|text:s!:Event body|tags:a:Tags|alert_type:e(info,warning,error,success):Severity"),
        T("get_slo", "Get a service level objective with its current status and remaining error budget.", "slo_id:s!:SLO ID", "read"),
        T("search_traces", "Search APM traces and spans by service, resource, status and latency.", join("query:s!:Span query, for example `service:checkout @duration:>2s`|from:s:Start time", LIMIT), "read"),
    ]),
    F("pagerduty", "PagerDuty", "monitoring", ["incident response", "on-call", "alerting"], "PagerDuty", "", [
        R("incident", "incidents", "a PagerDuty incident: a problem that pages the on-call responders until it is resolved", "LGC", id="incident_id:s!:Incident ID",
          fields="title:s!:Incident title|service_id:s!:Affected service|urgency:e(high,low):Urgency|body:s:Details|escalation_policy_id:s:Escalation policy to use",
          filters="statuses:a:Filter by status: triggered, acknowledged, resolved|service_ids:a:Only these services|since:s:Start of the time range"),
        R("service", "services", "a PagerDuty service representing an application or component that can have incidents", "L"),
        R("escalation_policy", "escalation_policies", "an ordered set of rules that decides who is paged and when", "L"),
    ], [
        T("acknowledge_incident", "Acknowledge an incident so responders stop being paged while it is being worked on.", "incident_id:s!:Incident ID"),
        T("resolve_incident", "Mark a PagerDuty incident as resolved.", "incident_id:s!:Incident ID|resolution:s:Resolution note"),
        T("add_incident_note", "Add a timeline note to an incident.", "incident_id:s!:Incident ID|content:s!:Note text"),
        T("list_oncalls", "Show who is on call now (or at a given time) for schedules and escalation policies.", "schedule_ids:a:Only these schedules|escalation_policy_ids:a:Only these policies|at:s:Point in time (" + ISO + ")", "read"),
        T("create_schedule_override", "Put someone on call in place of the scheduled person for a period.", "schedule_id:s!:Schedule ID|user_id:s!:Who takes over|start:s!:Start (" + ISO + ")|end:s!:End"),
    ]),
    F("sentry", "Sentry", "monitoring", ["error tracking", "crash reporting"], "a Sentry project", "organization:s!:Organization slug|project:s:Project slug", [
        R("issue", "issues", "a Sentry issue: a group of similar error events or crashes", "LG", id="issue_id:s!:Sentry issue ID",
          filters="query:s:Sentry search, for example `is:unresolved level:error`|stats_period:e(24h,14d):Period for event counts"),
    ], [
        T("resolve_issue", "Mark a Sentry error issue as resolved, optionally in the next release.", "issue_id:s!:Issue ID|in_next_release:b:Resolve in the next release"),
        T("list_issue_events", "List the individual error events of a Sentry issue with stack traces and tags.", join("issue_id:s!:Issue ID", LIMIT), "read"),
        T("get_release_health", "Show crash-free sessions and users and adoption for a release.", "organization:s!:Organization slug|release:s!:Release version", "read"),
    ]),
    F("prometheus", "Prometheus", "monitoring", ["metrics", "observability"], "Prometheus", "", [], [
        T("query", "Evaluate a PromQL expression at one instant.", "query:s!:PromQL expression such as `rate(http_requests_total[5m])`|time:s:Evaluation time (default: now)", "read"),
        T("query_range", "Evaluate a PromQL expression over a time range and return the series for graphing.", "query:s!:PromQL expression|start:s!:Range start|end:s!:Range end|step:s!:Resolution step such as 30s", "read"),
        T("list_alerts", "List alerts that are currently pending or firing in Prometheus.", "state:e(pending,firing):Filter by state", "read"),
        T("list_targets", "List scrape targets and whether each is up or down.", "state:e(active,dropped,any):Which targets", "read"),
    ]),
    F("stripe", "Stripe", "payments", ["billing", "payments"], "the Stripe account", "", [
        R("customer", "customers", "a Stripe customer with payment methods, subscriptions and invoices", "LGCUD", id="customer_id:s!:Customer ID such as cus_123",
          fields="email:s:Email|name:s:Full name|description:s:Internal note|metadata:o:Key/value metadata",
          filters="email:s:Only customers with this email|created_after:s:Created after this time"),
        R("payment_intent", "payment_intents", "a Stripe PaymentIntent that tracks collecting one payment from a customer", "LGC", id="payment_intent_id:s!:PaymentIntent ID such as pi_123",
          fields="amount:i!:Amount in the smallest currency unit (cents)|currency:s!:Three-letter ISO currency code|customer:s:Customer ID|payment_method:s:Payment method ID|confirm:b:Confirm immediately|description:s:Description",
          filters="customer:s:Only for this customer"),
        R("refund", "refunds", "money returned to a customer for a previous charge or payment", "LC", id="refund_id:s!:Refund ID",
          fields="payment_intent:s!:PaymentIntent to refund|amount:i:Amount to refund in cents (default: the full amount)|reason:e(duplicate,fraudulent,requested_by_customer):Reason",
          filters="payment_intent:s:Only refunds of this payment"),
        R("invoice", "invoices", "a Stripe invoice: a statement of amounts owed by a customer, paid automatically or by link", "LGC", id="invoice_id:s!:Invoice ID such as in_123",
          fields="customer:s!:Customer ID|collection_method:e(charge_automatically,send_invoice):How it is paid|days_until_due:i:Days until due for send_invoice|description:s:Memo",
          filters="customer:s:Only this customer's invoices|status:e(draft,open,paid,uncollectible,void):Filter by status"),
        R("subscription", "subscriptions", "a recurring Stripe subscription that bills a customer for a price every period", "LGCU", id="subscription_id:s!:Subscription ID such as sub_123",
          fields="customer:s!:Customer ID|price:s!:Price ID|quantity:i:Quantity|trial_period_days:i:Free trial length|cancel_at_period_end:b:Cancel at the end of the current period",
          filters="customer:s:Only this customer|status:e(active,past_due,canceled,trialing,all):Filter by status"),
        R("product", "products", "something you sell in Stripe, with one or more prices", "LC", fields="name:s!:Product name|description:s:Description|active:b:Available for purchase"),
        R("price", "prices", "a Stripe price: the amount and billing interval for a product", "C",
          fields="product:s!:Product ID|unit_amount:i!:Amount in cents|currency:s!:Currency code|recurring_interval:e(day,week,month,year):Billing interval for subscriptions"),
        R("dispute", "disputes", "a chargeback a cardholder opened with their bank against a payment", "L", filters="charge:s:Only for this charge"),
        R("payout", "payouts", "a transfer of Stripe balance to the account's bank account", "L", filters="status:e(pending,paid,failed,canceled):Filter by status"),
    ], [
        T("finalize_invoice", "Finalize a draft invoice so it can be paid or sent.", "invoice_id:s!:Invoice ID"),
        T("send_invoice", "Email a finalized invoice to the customer with a link to pay it.", "invoice_id:s!:Invoice ID"),
        T("void_invoice", "Void a finalized invoice that should not be paid.", "invoice_id:s!:Invoice ID", "destructive"),
        T("cancel_subscription", "Cancel a subscription immediately or at the end of the billing period.", "subscription_id:s!:Subscription ID|at_period_end:b:Cancel at period end instead of now|prorate:b:Credit unused time"),
        T("get_balance", "Get the account's available and pending balance per currency.", "", "read"),
        T("create_payment_link", "Create a shareable checkout link for one or more prices.", "price:s!:Price ID|quantity:i:Quantity|after_completion_url:s:Where to send the buyer after paying"),
        T("submit_dispute_evidence", "Submit evidence (receipts, shipping proof, messages) to contest a dispute.", "dispute_id:s!:Dispute ID|evidence:o!:Evidence fields|submit:b:Submit now instead of saving"),
    ]),
    F("quickbooks", "QuickBooks", "payments", ["accounting", "bookkeeping"], "the QuickBooks company", "", [
        R("invoice", "invoices", "a QuickBooks sales invoice sent to a customer", "LC",
          fields="customer_ref:s!:Customer ID|line_items:o!:Lines with item, quantity and amount|due_date:s:Due date YYYY-MM-DD|email_to:s:Send the invoice to this address",
          filters="customer_ref:s:Only this customer|unpaid_only:b:Only invoices with a balance"),
        R("expense", "expenses", "a recorded purchase or expense paid from a bank or credit card account", "LC",
          fields="account_ref:s!:Paying account|vendor_ref:s:Vendor|amount:n!:Total|category:s!:Expense category|txn_date:s:Date",
          filters="from:s:From date|to:s:To date|vendor_ref:s:Only this vendor"),
        R("bill", "bills", "a bill from a vendor that the company has to pay", "LC", fields="vendor_ref:s!:Vendor ID|amount:n!:Amount|due_date:s!:Due date", filters="unpaid_only:b:Only unpaid bills"),
    ], [
        T("record_payment", "Record a customer payment against one or more open QuickBooks invoices.", "customer_ref:s!:Customer ID|amount:n!:Amount received|invoice_ids:a:Invoices the payment applies to|payment_date:s:Date"),
        T("get_profit_and_loss", "Run the profit and loss (income statement) report for a period.", "start_date:s!:From YYYY-MM-DD|end_date:s!:To YYYY-MM-DD|summarize_by:e(Total,Month,Quarter):Columns", "read"),
        T("get_balance_sheet", "Run the balance sheet report as of a date.", "as_of:s!:Date YYYY-MM-DD", "read"),
    ]),
    F("bamboohr", "BambooHR", "hr", ["human resources", "people"], "BambooHR", "", [
        R("employee", "employees", "a person employed by the company with job, department, manager and contact details", "LGCU", id="employee_id:s!:BambooHR employee ID",
          fields="first_name:s!:First name|last_name:s!:Last name|work_email:s:Work email|job_title:s:Job title|department:s:Department|hire_date:s:Hire date YYYY-MM-DD|manager_id:s:Manager's employee ID",
          filters="department:s:Only this department|status:e(active,inactive):Employment status"),
        R("time_off_request", "time_off_requests", "an employee's request for vacation, sick leave or other paid time off", "LC",
          fields="employee_id:s!:Employee|time_off_type:e(vacation,sick,personal,parental)!:Kind of leave|start:s!:First day YYYY-MM-DD|end:s!:Last day YYYY-MM-DD|note:s:Note for the approver",
          filters="employee_id:s:Only this employee|status:e(requested,approved,denied,canceled):Filter by status|start:s:From date|end:s:To date"),
    ], [
        T("approve_time_off_request", "Approve or deny a pending time off request.", "request_id:s!:Request ID|decision:e(approved,denied)!:Decision|note:s:Note to the employee"),
        T("get_time_off_balance", "Show an employee's remaining vacation and sick leave balances.", "employee_id:s!:Employee ID|as_of:s:Date YYYY-MM-DD", "read"),
        T("whos_out", "List who is out of office (on leave or holiday) in a date range.", "start:s:From YYYY-MM-DD (default today)|end:s:To YYYY-MM-DD", "read"),
        T("get_org_chart", "Get the reporting lines under a manager as a tree.", "employee_id:s:Root employee (default: the CEO)|depth:i:Levels to include", "read"),
        T("terminate_employee", "Record an employee's termination with last day and reason.", "employee_id:s!:Employee ID|termination_date:s!:Last day|reason:e(resignation,dismissal,layoff,retirement):Reason", "destructive"),
    ]),
    F("greenhouse", "Greenhouse", "hr", ["recruiting", "hiring", "applicant tracking"], "Greenhouse", "", [
        R("candidate", "candidates", "a job applicant with resume, contact details and applications", "LGC", id="candidate_id:i!:Candidate ID",
          fields="first_name:s!:First name|last_name:s!:Last name|email:s:Email|job_id:i!:Job to apply to|resume_url:s:Link to the resume",
          filters="job_id:i:Only candidates for this job|email:s:Only this email"),
        R("job", "jobs", "an open position (requisition) the company is hiring for", "L", filters="status:e(open,closed,draft):Filter by status|department_id:i:Only this department"),
    ], [
        T("advance_application", "Move a candidate's application to the next interview stage.", "application_id:i!:Application ID|from_stage_id:i!:Current stage"),
        T("reject_application", "Reject a candidate's application with a reason and optional email.", "application_id:i!:Application ID|rejection_reason_id:i!:Reason|send_email:b:Send the rejection email"),
        T("schedule_interview", "Schedule an interview for an application with interviewers and a time.", "application_id:i!:Application ID|interviewer_ids:a!:Interviewers|start:s!:Start (" + ISO + ")|end:s!:End|location:s:Room or video link"),
        T("list_scorecards", "List interview feedback scorecards for an application.", "application_id:i!:Application ID", "read"),
    ]),
    F("gusto", "Gusto", "hr", ["payroll", "benefits"], "the Gusto company", "", [
        R("payroll", "payrolls", "a payroll run that pays employees for a pay period", "LG", id="payroll_id:s!:Payroll ID",
          filters="processed:b:Only processed payrolls|start_date:s:From|end_date:s:To"),
        R("contractor", "contractors", "an independent contractor paid through Gusto", "L"),
    ], [
        T("get_employee_pay_stub", "Get an employee's pay stub for a payroll: gross pay, taxes, deductions and net pay.", "payroll_id:s!:Payroll ID|employee_id:s!:Employee ID", "read"),
    ]),
    F("ga4", "Google Analytics", "analytics", ["web analytics", "traffic"], "a Google Analytics 4 property", "property_id:s!:GA4 property ID", [
        R("property", "properties", "a Google Analytics 4 property that collects data for a website or app", "L", scope="", where="the Google Analytics account"),
    ], [
        T("run_report", "Run a GA4 report with dimensions and metrics over a date range, for example sessions by country or page views by page path.",
          "property_id:s!:Property ID|dimensions:a:Dimensions such as country, pagePath, sessionSource|metrics:a!:Metrics such as sessions, activeUsers, conversions|start_date:s!:Start date or `7daysAgo`|end_date:s!:End date or `today`|limit:i:Row limit", "read"),
        T("run_realtime_report", "Show GA4 realtime data: active users on the site right now by page, country or device.", "property_id:s!:Property ID|dimensions:a:Dimensions|metrics:a:Metrics (default activeUsers)", "read"),
    ]),
    F("mixpanel", "Mixpanel", "analytics", ["product analytics", "events"], "a Mixpanel project", "project_id:i!:Mixpanel project ID", [
        R("cohort", "cohorts", "a saved group of users defined by their properties or behaviour", "L"),
    ], [
        T("query_funnel", "Compute conversion through a sequence of events (a funnel) over a date range.", "project_id:i!:Project ID|steps:a!:Event names in order|from_date:s!:Start date|to_date:s!:End date|conversion_window_days:i:Conversion window", "read"),
        T("query_retention", "Compute how many users come back after a first event, by day, week or month.", "project_id:i!:Project ID|born_event:s!:First event|return_event:s:Returning event|from_date:s!:Start|to_date:s!:End|unit:e(day,week,month):Bucket", "read"),
        T("query_segmentation", "Count an event over time, optionally broken down by a property.", "project_id:i!:Project ID|event:s!:Event name|from_date:s!:Start|to_date:s!:End|on:s:Property to segment by", "read"),
        T("export_events", "Export raw events for a date range as JSON lines.", "project_id:i!:Project ID|from_date:s!:Start|to_date:s!:End|event:a:Only these events", "read"),
        T("track_event", "Send an event for a user to Mixpanel.", "project_id:i!:Project ID|event:s!:Event name|distinct_id:s!:User ID|properties:o:Event properties"),
    ]),
    F("bigquery", "BigQuery", "databases", ["data warehouse", "sql", "gcp"], "a BigQuery project", "project:s!:Google Cloud project ID", [
        R("dataset", "datasets", "a BigQuery dataset that contains tables and views", "L"),
        R("table", "tables", "a BigQuery table with a schema", "L", scope="project:s!:Project ID|dataset:s!:Dataset ID", where="a BigQuery dataset"),
    ], [
        T("run_query", "Run a GoogleSQL query in BigQuery and return the rows and bytes processed.", "project:s!:Project ID|sql:s!:GoogleSQL query|dry_run:b:Only estimate bytes scanned|max_rows:i:Row limit", "read"),
        T("get_table_schema", "Show a BigQuery table's columns, types, partitioning and row count.", "project:s!:Project ID|dataset:s!:Dataset ID|table:s!:Table ID", "read"),
        T("load_table_from_gcs", "Load CSV, JSON or Parquet files from Cloud Storage into a BigQuery table.", "project:s!:Project ID|dataset:s!:Dataset|table:s!:Table|source_uris:a!:gs:// URIs|format:e(CSV,NEWLINE_DELIMITED_JSON,PARQUET)!:File format|write_disposition:e(WRITE_APPEND,WRITE_TRUNCATE):Append or replace"),
    ]),
    F("web", "Web", "search", ["internet", "research"], "the web", "", [], [
        T("search", "Search the web and return result titles, URLs and snippets.", join("query:s!:Search terms|country:s:Two-letter country code for localized results|freshness:e(day,week,month,year):Only recent pages", LIMIT), "read"),
        T("news_search", "Search recent news articles from news publishers.", join("query:s!:Search terms|since:s:Only articles after this date", LIMIT), "read"),
        T("image_search", "Search the web for images and return thumbnail and source URLs.", join("query:s!:Search terms|safe_search:b:Filter explicit results", LIMIT), "read"),
        T("fetch_page", "Fetch a web page and return its main text as Markdown.", "url:s!:Page URL|max_chars:i:Truncate after this many characters", "read"),
        T("scholar_search", "Search academic papers and return titles, authors, venue, year and citation counts.", join("query:s!:Search terms|year_from:i:Earliest publication year", LIMIT), "read"),
    ]),
    F("elasticsearch", "Elasticsearch", "search", ["search engine", "full-text index"], "an Elasticsearch cluster", "", [
        R("index", "indices", "an Elasticsearch index holding searchable documents with a mapping", "LC",
          fields="index:s!:Index name|mappings:o:Field mappings|settings:o:Index settings such as shards and replicas"),
    ], [
        T("search", "Run an Elasticsearch query DSL search against an index and return hits with scores.", "index:s!:Index name or pattern|query:o!:Query DSL|size:i:Number of hits|aggs:o:Aggregations", "read"),
        T("index_document", "Add or replace a document in an Elasticsearch index.", "index:s!:Index|id:s:Document ID (generated if omitted)|document:o!:Document body"),
        T("get_document", "Get a document by ID from an Elasticsearch index.", "index:s!:Index|id:s!:Document ID", "read"),
        T("delete_document", "Delete a document by ID from an Elasticsearch index.", "index:s!:Index|id:s!:Document ID", "destructive"),
        T("cluster_health", "Show Elasticsearch cluster health: status, nodes, shards and unassigned shards.", "", "read"),
    ]),
    F("maps", "Maps", "maps", ["geo", "location"], "the map service", "", [], [
        T("geocode", "Convert a street address or place name into latitude/longitude coordinates.", "address:s!:Address or place name|region:s:Country code to bias results", "read"),
        T("reverse_geocode", "Convert latitude/longitude coordinates into the nearest street address.", "lat:n!:Latitude|lng:n!:Longitude", "read"),
        T("get_directions", "Get turn-by-turn directions between two places by car, transit, bike or on foot, with distance and travel time.",
          "origin:s!:Start address or lat,lng|destination:s!:End address or lat,lng|mode:e(driving,transit,walking,bicycling):Travel mode|departure_time:s:When to leave|avoid:a:Avoid tolls, highways or ferries", "read"),
        T("distance_matrix", "Compute travel distance and time between several origins and destinations at once.", "origins:a!:Start addresses|destinations:a!:End addresses|mode:e(driving,transit,walking,bicycling):Travel mode", "read"),
        T("search_places", "Find places such as restaurants, shops or hotels matching a text query near a location.",
          join("query:s!:What to look for, for example `coffee`|location:s:Center as lat,lng or address|radius_meters:i:Search radius|open_now:b:Only places open now", LIMIT), "read"),
        T("get_place_details", "Get details of a place: address, phone, opening hours, rating and reviews.", "place_id:s!:Place ID", "read"),
        T("get_timezone", "Get the time zone and UTC offset for coordinates.", "lat:n!:Latitude|lng:n!:Longitude|timestamp:i:Unix time for daylight saving", "read"),
        T("get_elevation", "Get the elevation above sea level for points on the map.", "locations:a!:Points as lat,lng", "read"),
    ]),
    F("translate", "Translation", "translation", ["language", "localization"], "the translation service", "", [
        R("glossary", "glossaries", "a list of term pairs the translator must use, for consistent product names", "LC",
          fields="name:s!:Glossary name|source_lang:s!:Source language code|target_lang:s!:Target language code|entries:o!:Term pairs"),
    ], [
        T("translate_text", "Translate text into another language, detecting the source language if not given.", "text:s!:Text to translate|target_lang:s!:Target language code such as de or pt-BR|source_lang:s:Source language code|formality:e(default,more,less):Formal or informal tone|glossary_id:s:Glossary to apply", "read"),
        T("detect_language", "Detect which language a text is written in, with confidence.", "text:s!:Text to analyse", "read"),
        T("list_languages", "List the languages supported for translation.", "", "read"),
        T("translate_document", "Translate a whole document (DOCX, PPTX, PDF, HTML) keeping its formatting.", "file_content:s!:Document as base64|filename:s!:File name with extension|target_lang:s!:Target language code"),
    ]),
    F("zendesk", "Zendesk", "support", ["customer support", "help desk"], "Zendesk Support", "", [
        R("ticket", "tickets", "a customer support request handled by agents in Zendesk", "LGCU", id="ticket_id:i!:Ticket ID",
          fields="subject:s!:Subject|comment_body:s!:First comment (the customer's request)|requester_email:s:Requester email|priority:e(low,normal,high,urgent):Priority|assignee_id:i:Agent to assign|tags:a:Tags",
          filters="status:e(new,open,pending,solved,closed):Filter by status|assignee_id:i:Only this agent"),
    ], [
        T("search_tickets", "Search Zendesk tickets with the Zendesk search syntax, for example `status:open priority:urgent`.", join("query:s!:Search query", LIMIT), "read"),
        T("add_ticket_comment", "Reply to a Zendesk ticket publicly or add an internal note.", "ticket_id:i!:Ticket ID|body:s!:Comment text|public:b:Visible to the customer (false for an internal note)"),
        T("apply_macro", "Apply a Zendesk macro (canned response and field changes) to a ticket.", "ticket_id:i!:Ticket ID|macro_id:i!:Macro ID"),
        T("get_satisfaction_ratings", "List customer satisfaction (CSAT) ratings and comments.", join("score:e(good,bad):Filter by score|start_time:s:From", LIMIT), "read"),
    ]),
    F("intercom", "Intercom", "support", ["customer messaging", "live chat"], "Intercom", "", [
        R("conversation", "conversations", "a live chat conversation between a customer and the support team", "LG", id="conversation_id:s!:Conversation ID",
          filters="state:e(open,closed,snoozed):Filter by state"),
    ], [
        T("reply_to_conversation", "Reply to a customer conversation as an admin, or add a private note.", "conversation_id:s!:Conversation ID|body:s!:Reply text|message_type:e(comment,note):Reply or internal note"),
        T("close_conversation", "Close an Intercom conversation.", "conversation_id:s!:Conversation ID"),
        T("assign_conversation", "Assign a conversation to a teammate or team inbox.", "conversation_id:s!:Conversation ID|assignee_id:s!:Admin or team ID"),
    ]),
    F("twilio", "Twilio", "messaging", ["sms", "telephony"], "the Twilio account", "", [
        R("message", "messages", "an SMS or MMS text message sent or received by a Twilio number", "L", filters="to:s:Only messages to this number|from:s:Only messages from this number|date_sent:s:Only messages sent on this date"),
        R("call", "calls", "an inbound or outbound phone call through Twilio", "L", filters="status:e(queued,ringing,in-progress,completed,failed):Filter by status"),
    ], [
        T("send_sms", "Send an SMS text message to a phone number.", "to:s!:Recipient phone number in E.164 format|body:s!:Message text (up to 1600 characters)|from:s:Twilio number to send from"),
        T("send_whatsapp_message", "Send a WhatsApp message to a phone number through Twilio.", "to:s!:Recipient number in E.164 format|body:s!:Message text|media_url:s:Image or file URL to attach"),
        T("make_call", "Place an outbound phone call that plays a message or runs TwiML.", "to:s!:Number to call|from:s!:Twilio caller ID|twiml:s:TwiML instructions|say:s:Text to speak when answered"),
        T("list_phone_numbers", "List the phone numbers owned by the Twilio account with their SMS and voice capabilities.", join(LIMIT), "read"),
        T("lookup_phone_number", "Look up a phone number's carrier, line type (mobile, landline, VoIP) and caller name.", "phone_number:s!:Number in any format|country_code:s:Country for national formats", "read"),
    ]),
    F("mailchimp", "Mailchimp", "marketing", ["email marketing", "newsletters"], "Mailchimp", "", [
        R("audience", "audiences", "a Mailchimp audience (mailing list) of subscribers", "L"),
        R("campaign", "campaigns", "an email marketing campaign or newsletter sent to an audience", "LC",
          fields="audience_id:s!:Audience to send to|subject_line:s!:Email subject|from_name:s!:Sender name|reply_to:s!:Reply-to address|html:s:Email content",
          filters="status:e(save,paused,schedule,sending,sent):Filter by status"),
    ], [
        T("send_campaign", "Send a Mailchimp campaign now, or schedule it.", "campaign_id:s!:Campaign ID|schedule_time:s:Send later at (" + ISO + ")"),
        T("add_subscriber", "Add or update a subscriber (list member) in an audience.", "audience_id:s!:Audience ID|email:s!:Email address|status:e(subscribed,pending):Opt-in status|merge_fields:o:First name, last name and other fields|tags:a:Tags"),
        T("unsubscribe_member", "Unsubscribe an email address from an audience.", "audience_id:s!:Audience ID|email:s!:Email address"),
        T("get_campaign_report", "Get campaign results: opens, clicks, bounces and unsubscribes.", "campaign_id:s!:Campaign ID", "read"),
    ]),
    F("sheets", "Google Sheets", "files", ["spreadsheets", "google workspace"], "a Google Sheets spreadsheet", "spreadsheet_id:s!:Spreadsheet ID", [], [
        T("get_values", "Read cell values from a range of a spreadsheet in A1 notation.", "spreadsheet_id:s!:Spreadsheet ID|range:s!:Range such as Sheet1!A1:D20", "read"),
        T("update_values", "Write values into a range of cells, overwriting what is there.", "spreadsheet_id:s!:Spreadsheet ID|range:s!:A1 range|values:o!:Rows of cell values|value_input:e(RAW,USER_ENTERED):Parse formulas and formats or store raw"),
        T("append_rows", "Append rows after the last row of data in a sheet.", "spreadsheet_id:s!:Spreadsheet ID|range:s!:Sheet or table range|values:o!:Rows to add"),
        T("create_spreadsheet", "Create a new Google Sheets spreadsheet.", "title:s!:Spreadsheet title|sheet_titles:a:Names of the tabs to create"),
        T("add_sheet", "Add a new tab to a spreadsheet.", "spreadsheet_id:s!:Spreadsheet ID|title:s!:Tab name"),
        T("clear_range", "Clear the values in a range of cells, keeping formatting.", "spreadsheet_id:s!:Spreadsheet ID|range:s!:A1 range", "destructive"),
    ]),
    F("weather", "Weather", "weather", ["forecast", "climate"], "the weather service", "", [], [
        T("get_current_conditions", "Get current weather conditions at a place: temperature, wind, humidity and precipitation.", "location:s!:City name or lat,lng|units:e(metric,imperial):Units", "read"),
        T("get_forecast", "Get an hourly or daily weather forecast for up to 10 days.", "location:s!:City name or lat,lng|days:i:Number of days (1-10)|hourly:b:Hourly instead of daily|units:e(metric,imperial):Units", "read"),
        T("get_alerts", "Get active severe weather warnings (storms, floods, heat) for an area.", "location:s!:City, region or lat,lng", "read"),
        T("get_historical", "Get past weather observations for a place and date.", "location:s!:City name or lat,lng|date:s!:Date YYYY-MM-DD", "read"),
    ]),
    F("shopify", "Shopify", "ecommerce", ["online store", "orders"], "the Shopify store", "", [
        R("order", "orders", "a customer's order in the online store with line items, payment and shipping", "LG", id="order_id:i!:Order ID",
          filters="status:e(open,closed,cancelled,any):Order status|fulfillment_status:e(shipped,partial,unshipped,any):Fulfillment status|created_at_min:s:Created after"),
        R("product", "products", "a product in the store catalog with variants, prices and images", "LCU", id="product_id:i!:Product ID",
          fields="title:s!:Product title|body_html:s:Description|vendor:s:Vendor|product_type:s:Type|tags:a:Tags|price:s:Price of the default variant"),
    ], [
        T("fulfill_order", "Mark an order as fulfilled (shipped) with tracking details and notify the customer.", "order_id:i!:Order ID|tracking_number:s:Tracking number|tracking_company:s:Carrier|notify_customer:b:Email the customer"),
        T("cancel_order", "Cancel an order, optionally refunding and restocking it.", "order_id:i!:Order ID|reason:e(customer,inventory,fraud,declined,other):Reason|refund:b:Refund the payment|restock:b:Return items to stock", "destructive"),
        T("adjust_inventory", "Adjust the available stock of a product variant at a location.", "inventory_item_id:i!:Inventory item ID|location_id:i!:Location ID|delta:i!:Change in available quantity"),
        T("create_discount_code", "Create a discount code, such as 10% off or free shipping, for a price rule.", "code:s!:Code customers type|value_type:e(percentage,fixed_amount)!:Kind of discount|value:n!:Discount value|starts_at:s:Start|ends_at:s:End|usage_limit:i:Maximum uses"),
    ]),
    F("docusign", "DocuSign", "docs", ["e-signature", "contracts"], "DocuSign", "", [
        R("envelope", "envelopes", "a DocuSign envelope: documents sent to recipients for electronic signature", "LG", id="envelope_id:s!:Envelope ID",
          filters="status:e(sent,delivered,completed,declined,voided):Filter by status|from_date:s!:Only envelopes changed since this date"),
    ], [
        T("send_envelope", "Send documents to people for electronic signature.", "documents:o!:Documents as name + base64 content|signers:o!:Signers with name, email and routing order|email_subject:s!:Subject of the signing email|email_blurb:s:Message to signers"),
        T("void_envelope", "Void an in-process envelope so it can no longer be signed.", "envelope_id:s!:Envelope ID|reason:s!:Why it is voided", "destructive"),
        T("download_signed_document", "Download the completed, signed documents of an envelope as a PDF.", "envelope_id:s!:Envelope ID|document_id:s:Document ID or `combined`", "read"),
    ]),
    F("vault", "HashiCorp Vault", "security", ["secrets management", "credentials"], "Vault", "", [], [
        T("read_secret", "Read a secret from Vault's key/value engine.", "path:s!:Secret path such as apps/api/prod|mount:s:KV mount (default secret)|version:i:Version to read", "read"),
        T("write_secret", "Create or update a secret in Vault's key/value engine (creates a new version).", "path:s!:Secret path|data:o!:Key/value pairs|mount:s:KV mount"),
        T("list_secrets", "List secret names under a path (values are not returned).", "path:s!:Folder path|mount:s:KV mount", "read"),
        T("delete_secret", "Delete the latest version of a secret, or destroy all versions.", "path:s!:Secret path|destroy_all_versions:b:Permanently destroy every version", "destructive"),
        T("create_token", "Create a Vault token with given policies and TTL.", "policies:a!:Policies to attach|ttl:s:Lifetime such as 1h|renewable:b:Allow renewal"),
    ]),
    F("asana", "Asana", "project-management", ["tasks", "to-do"], "an Asana workspace", "", [
        R("task", "tasks", "an Asana task with an assignee, due date and subtasks", "LGCU", id="task_gid:s!:Task GID",
          fields="name:s!:Task name|project_gid:s:Project to add it to|assignee:s:Assignee email or `me`|due_on:s:Due date YYYY-MM-DD|notes:s:Description",
          filters="project_gid:s:Only tasks in this project|assignee:s:Only tasks assigned to this user|completed_since:s:Include tasks completed since (default: incomplete only)"),
        R("project", "projects", "an Asana project that organizes tasks into sections", "L", filters="team_gid:s:Only this team's projects|archived:b:Include archived"),
    ], [
        T("complete_task", "Mark an Asana task as done.", "task_gid:s!:Task GID"),
        T("add_subtask", "Add a subtask under an Asana task.", "parent_gid:s!:Parent task GID|name:s!:Subtask name|assignee:s:Assignee"),
    ]),
    F("trello", "Trello", "project-management", ["kanban", "boards"], "Trello", "", [
        R("board", "boards", "a Trello board made of lists of cards", "L"),
        R("card", "cards", "a Trello card representing a task or idea on a list", "LC", scope="",
          fields="list_id:s!:List to add the card to|name:s!:Card title|desc:s:Card description|due:s:Due date|member_ids:a:Members to add",
          filters="board_id:s!:Board ID"),
    ], [
        T("move_card", "Move a Trello card to another list, for example from Doing to Done.", "card_id:s!:Card ID|list_id:s!:Destination list ID|position:e(top,bottom):Position in the list"),
    ]),
]


def build():
    tools = []
    seen = set()
    for fam in FAMILIES:
        specs = []
        for r in fam["resources"]:
            specs.extend(resource_tools(fam, r))
        specs.extend(fam["extra"])
        for t in specs:
            name = f"{fam['prefix']}_{t['suffix']}"
            if name in seen:
                sys.exit(f"duplicate tool name {name}")
            seen.add(name)
            assert re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name), name
            props, req = params(t["spec"])
            schema = {"type": "object", "properties": props}
            if req:
                schema["required"] = req
            schema["additionalProperties"] = False
            title = t["title"] or f"{human(t['suffix']).capitalize()} ({fam['service']})"
            kind = t["kind"]
            annotations = {"title": title, "readOnlyHint": kind == "read"}
            if kind != "read":
                annotations["destructiveHint"] = kind == "destructive"
            meta = {"dev.baton/tags": [fam["category"]] + fam["tags"], "dev.baton/group": fam["prefix"]}
            if name in PINNED:
                meta["dev.baton/pinned"] = True
            tools.append({
                "name": name,
                "title": title,
                "description": t["description"],
                "inputSchema": schema,
                "annotations": annotations,
                "_meta": meta,
            })
    return tools


def main():
    tools = build()
    if len(tools) != TARGET:
        sys.exit(f"generated {len(tools)} tools, expected {TARGET}")
    tools.sort(key=lambda t: t["name"])
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools-500.json")
    with open(out, "w") as f:
        json.dump(tools, f, indent=1, sort_keys=False)
        f.write("\n")
    print(f"wrote {len(tools)} tools to {out}")


if __name__ == "__main__":
    main()
