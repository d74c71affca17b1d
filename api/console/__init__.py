"""The team console: server-rendered pages under /console/, served by the gateway itself."""
