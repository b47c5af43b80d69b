"""Bring your own logs: the versioned log schema, the importer, exports to OBP and SCOPE-RL."""
