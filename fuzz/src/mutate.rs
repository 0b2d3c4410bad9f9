//! The mutator: seeded, structure-blind edits of a valid input, biased towards what breaks readers.
//!
//! Byte flips and interesting bytes find off-by-ones in scanners; truncations and deletions find
//! readers that assume a closing delimiter; splices (from the same or another seed) build inputs
//! that are locally valid but globally wrong (duplicated ops, a completion before its invocation);
//! huge numbers, deep nesting and invalid UTF-8 are the classic hostile values. Line-level swaps
//! and duplicates keep each line valid so that the validators behind the parsers get exercised
//! too, not only the tokenizers.

use rand::{Rng, RngCore};

/// Numbers no field of a history or schedule can hold.
const HUGE_NUMBERS: &[&str] = &[
    "99999999999999999999999999999",
    "-9223372036854775809",
    "18446744073709551616",
    "1e400",
    "-0",
    "NaN",
    "4294967296",
    "0x7fffffffffffffff",
];

/// Tokens that change an op's meaning while keeping the syntax plausible.
const TOKENS: &[&str] = &[
    ":invoke",
    ":ok",
    ":fail",
    ":info",
    ":nemesis",
    "nil",
    "true",
    "\"ok\"",
    "\"invoke\"",
    "null",
    ":txn",
    "[:append 1 2]",
    "[:r 1 nil]",
    "[:w 1 1]",
    ":cas",
    "[0 1]",
    "{}",
    "[]",
    "\"\"",
    "#{}",
    "\\",
    "\"",
    ":process",
    ":value",
    ":f",
    "\"process\":",
    "start = \"kill\"",
    "heal = true",
    "at = \"1s\"",
    "[[step]]",
];

/// Bytes that delimit or escape in EDN, JSON or TOML.
const INTERESTING_BYTES: &[u8] = b"\0\xff[]{}()\"\\:,#;\n\r\t -09e.'=";

/// One mutated copy of `seed`, with 1 to 4 edits; `donors` are other inputs to splice from. Half
/// the cases get a single edit, so that many inputs still read and reach the validators and the
/// checkers behind the parsers.
pub fn mutate(seed: &[u8], donors: &[&[u8]], rng: &mut impl RngCore) -> Vec<u8> {
    let mut out = seed.to_vec();
    let edits = if rng.random_bool(0.5) { 1 } else { rng.random_range(2..=4) };
    for _ in 0..edits {
        edit(&mut out, donors, rng);
    }
    out
}

fn edit(out: &mut Vec<u8>, donors: &[&[u8]], rng: &mut impl RngCore) {
    let at = |out: &Vec<u8>, rng: &mut dyn RngCore| if out.is_empty() { 0 } else { rng.random_range(0..=out.len()) };
    match rng.random_range(0..12u32) {
        // A flipped bit.
        0 if !out.is_empty() => {
            let i = rng.random_range(0..out.len());
            out[i] ^= 1 << rng.random_range(0..8);
        }
        // A byte replaced by a delimiter, an escape or a digit.
        1 if !out.is_empty() => {
            let i = rng.random_range(0..out.len());
            out[i] = INTERESTING_BYTES[rng.random_range(0..INTERESTING_BYTES.len())];
        }
        // A range deleted.
        2 if !out.is_empty() => {
            let i = rng.random_range(0..out.len());
            let n = rng.random_range(1..=64.min(out.len() - i));
            out.drain(i..i + n);
        }
        // Truncated: the file a crash leaves.
        3 => {
            let i = at(out, rng);
            out.truncate(i);
        }
        // A range of the input copied elsewhere in it.
        4 if !out.is_empty() => {
            let i = rng.random_range(0..out.len());
            let n = rng.random_range(1..=256.min(out.len() - i));
            let chunk = out[i..i + n].to_vec();
            let j = at(out, rng);
            out.splice(j..j, chunk);
        }
        // A range of another input spliced in.
        5 if !donors.is_empty() => {
            let donor = donors[rng.random_range(0..donors.len())];
            if !donor.is_empty() {
                let i = rng.random_range(0..donor.len());
                let n = rng.random_range(1..=512.min(donor.len() - i));
                let j = at(out, rng);
                out.splice(j..j, donor[i..i + n].iter().copied());
            }
        }
        // A huge number, replacing a digit run or inserted.
        6 => {
            let huge = HUGE_NUMBERS[rng.random_range(0..HUGE_NUMBERS.len())].as_bytes();
            match out.iter().position(|b| b.is_ascii_digit()).map(|_| rng.random_range(0..out.len())) {
                Some(start) if out[start..].iter().any(u8::is_ascii_digit) => {
                    let i = start + out[start..].iter().position(u8::is_ascii_digit).unwrap();
                    let end = i + out[i..].iter().take_while(|b| b.is_ascii_digit()).count();
                    out.splice(i..end, huge.iter().copied());
                }
                _ => {
                    let j = at(out, rng);
                    out.splice(j..j, huge.iter().copied());
                }
            }
        }
        // Deep nesting: the stack-overflow trap for recursive readers.
        7 => {
            let depth = [10, 200, 300, 5_000, 100_000][rng.random_range(0..5)];
            let open = [b'[', b'{', b'(', b'['][rng.random_range(0..4)];
            let j = at(out, rng);
            out.splice(j..j, std::iter::repeat_n(open, depth));
        }
        // Invalid UTF-8: a stray continuation byte, a truncated sequence, an encoded surrogate.
        8 => {
            let bad: &[u8] =
                [&b"\xff\xfe"[..], b"\xc3\x28", b"\xed\xa0\x80", b"\xe2\x82", b"\x80"][rng.random_range(0..5)];
            let j = at(out, rng);
            out.splice(j..j, bad.iter().copied());
        }
        // A token that changes the meaning.
        9 => {
            let token = TOKENS[rng.random_range(0..TOKENS.len())].as_bytes();
            let j = at(out, rng);
            out.splice(j..j, token.iter().copied());
        }
        // Two lines swapped, or one duplicated: each line stays valid.
        10 | 11 => {
            let mut lines: Vec<Vec<u8>> = out.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
            if lines.len() >= 2 {
                let (a, b) = (rng.random_range(0..lines.len()), rng.random_range(0..lines.len()));
                if rng.random_bool(0.5) {
                    lines.swap(a, b);
                } else {
                    let line = lines[a].clone();
                    lines.insert(b, line);
                }
                *out = lines.join(&b'\n');
            }
        }
        _ => {}
    }
}
