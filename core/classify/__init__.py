"""Classification: plain-language requests into tool calls."""
