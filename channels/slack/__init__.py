"""Slack: slack-bolt behind our aiohttp server at `POST /slack/events`; Block Kit replies."""
