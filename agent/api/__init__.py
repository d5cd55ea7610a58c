"""HTTP and WebSocket API of the local app."""
