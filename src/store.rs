//! The run store: the only writer under store/.
