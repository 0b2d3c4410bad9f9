//! faultline-nemeses (filled by its issue).
