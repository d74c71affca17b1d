"""Channel adapters: one package per provider, each declared by a `ChannelSpec`
(`channels.base`) and listed in `channels.registry`."""
