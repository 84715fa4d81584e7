//! End-to-end tests live in `tests/`: the built bundles loaded by real hosts.
