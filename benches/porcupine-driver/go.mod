module faultline/porcupine-driver

go 1.19

require github.com/anishathalye/porcupine v0.0.0

// Porcupine's source is not in this repository: check it out (git clone
// https://github.com/anishathalye/porcupine /tmp/porcupine, measured at 55508eb) and keep
// this replace pointing at it.
replace github.com/anishathalye/porcupine => /tmp/porcupine
