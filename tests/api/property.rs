//! Property test (to be written).
