//! faultline-workloads (filled by its issue).
