"""The LLM backend: `gateway` (endpoints, breakers, failover), `backend` (the classifier),
`memory` (session memory). Import the modules themselves: this package stays light, so the
offline path never loads the OpenAI SDK."""
