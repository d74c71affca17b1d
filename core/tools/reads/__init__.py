"""Read tools: answered at once from the workspace's data."""
