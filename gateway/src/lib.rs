//! Portcullis gateway core.
