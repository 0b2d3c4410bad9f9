//! faultline-reports (filled by its issue).
