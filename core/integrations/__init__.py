"""Integrations: provider accounts connected with credentials stored encrypted (`vault`), the
providers and their fields (`providers`), help-desk imports and telephony lines."""
