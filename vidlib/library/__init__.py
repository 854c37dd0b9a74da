"""The library: identity (hashes), probing, metadata sources, scanning and legacy import/export."""
