//! Litmus and property tests of the ladder.
