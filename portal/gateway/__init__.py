"""The inference gateway: OpenAI-compatible endpoints for issued keys with the `inference` scope."""
