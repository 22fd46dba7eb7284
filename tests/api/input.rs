//! Bad input: every refusal is a named error in the shared envelope and changes nothing.
