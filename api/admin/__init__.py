"""The admin REST API (`/api/v1/...`, Bearer API key), its OpenAPI document and the CSAT page."""
