//! Profile configuration.
