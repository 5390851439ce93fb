//! Unit tests of the state transition.
