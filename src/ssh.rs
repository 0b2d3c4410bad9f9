//! SSH control of nodes (control-plane issue).
