"""Realtime: the WebSocket endpoint, the per-process hub, and the event backplane."""
