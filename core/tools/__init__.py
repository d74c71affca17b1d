"""Tools: the registry of everything the classifier may call, and their handlers."""
