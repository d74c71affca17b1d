"""Live operators: team members who go live and talk to customers in real time.

- `access`: the `operator:read` and `operator:write` scopes (per role and per member) and the
  workspace's `operator` and `presence` feature flags.
- `conversations`: every customer conversation's messages in order, whoever said them.
- `groups`: operator groups, the workflows (AI agents) they handle and their members.
- `presence`: who is live, on which workflows, held by heartbeats or by a chat message.
- `sessions`: routing a new conversation to a live operator (offers, passing on, the AI's
  fallback), and the session itself (messages, transfer, completion).

Functions take the session and never commit; bad input raises the directory's errors
(`DirectoryError` 400, `NotFound` 404, `Conflict` 409) or `Forbidden` (403) and changes
nothing."""
