"""What outlives a request: the store (memory or SQLite), signing keys, the mock clock and the
journal. Knows no HTTP and no OAuth rule."""
