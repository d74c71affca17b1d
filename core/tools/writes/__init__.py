"""Write tools: each plans its change as a Draft (a proposal); nothing changes until approval."""
