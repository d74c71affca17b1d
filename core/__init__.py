"""The shared core: Task model, identity, classification, tools, the pipeline worker."""
