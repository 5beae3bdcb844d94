"""The fleet inventory's domain core: where each cluster stands."""
