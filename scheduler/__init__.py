"""The scheduler: briefings, reports and follow-ups fired as Tasks by the one leading node."""
