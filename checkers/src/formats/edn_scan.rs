//! A fast scanner for the usual shape of one EDN op map, as Jepsen, Knossos and Porcupine write
//! them: `{:process 7, :type :invoke, :f :cas, :value [2 3]}`, keys `:type :f :process :value
//! :key :index :time`, values that are keywords, integers, nil, booleans, strings without
//! escapes, or vectors of those.
//!
//! It reads straight from the bytes into an `Op` without building EDN values, several times
//! faster than the general reader. Anything else (another field, a float, an escape, a comment,
//! malformed text) makes it decline, and the caller reads the same map with the general reader,
//! which accepts exactly what it accepted before and words the errors. So the scanner never
//! decides what is valid; it only skips work on what certainly is.

use super::edn::is_delimiter;
use crate::history::{FnName, Op, OpType, Process};
use serde_json::Value;

/// The fields of one op map, as the scanner read them; `V` is the value reader's form.
pub(crate) struct Fields<'a, V> {
    pub kind: OpType,
    pub process: Process,
    pub f: &'a str,
    pub value: Option<V>,
    pub key: Option<V>,
    pub index: Option<u64>,
    pub time: Option<u64>,
}

/// A form the scanner reads `:value` and `:key` into.
pub(crate) trait ScanValue: Sized {
    /// The value at the cursor; `None` declines.
    fn scan(s: &mut Scan<'_>) -> Option<Self>;
    /// Whether fields other than the scanner's own (`:error`, `:node`, ...) are skipped, their
    /// values read and dropped, rather than declined. Only for a reader that needs none of them:
    /// an `Op` keeps `:node` and `:error`.
    const SKIPS_OTHER_FIELDS: bool = false;
}

impl ScanValue for Value {
    #[inline(always)]
    fn scan(s: &mut Scan<'_>) -> Option<Value> {
        s.value(0)
    }
}

impl ScanValue for RegisterValue {
    // Inlined into the scanner's loop: a call returning this through memory costs more than
    // reading the value.
    #[inline(always)]
    fn scan(s: &mut Scan<'_>) -> Option<RegisterValue> {
        s.register_value()
    }
    const SKIPS_OTHER_FIELDS: bool = true;
}

/// Scan the op map starting at `text[start]` (a `{`), reading `:value` and `:key` as `V`.
/// Returns the fields, the byte offset just after the closing `}` and the newlines crossed;
/// `None`: not the usual shape (or `V` declined), read it with the general reader.
// Inlined into its two callers (one per value form): returned through memory, the fields cost a
// store-forwarding stall per op.
#[inline(always)]
pub(crate) fn scan_fields<'a, V: ScanValue>(text: &'a str, start: usize) -> Option<(Fields<'a, V>, usize, usize)> {
    let mut s = Scan { b: text.as_bytes(), text, pos: start, newlines: 0 };
    s.eat(b'{')?;
    let (mut kind, mut process, mut f) = (None, None, None);
    let (mut value, mut key, mut index, mut time) = (None, None, None, None);
    loop {
        s.space();
        if s.eat(b'}').is_some() {
            break;
        }
        s.eat(b':')?;
        let Some(field) = s.field() else {
            if !V::SKIPS_OTHER_FIELDS {
                return None;
            }
            s.skip_field()?;
            continue;
        };
        s.space();
        match field {
            Field::Type => {
                s.eat(b':')?;
                kind = Some(s.op_type()?);
            }
            Field::F => {
                s.eat(b':')?;
                f = Some(s.name()?);
            }
            Field::Process => {
                process = Some(if s.eat(b':').is_some() {
                    (s.name()? == "nemesis").then_some(Process::Nemesis)?
                } else {
                    Process::Client(s.unsigned()?)
                });
            }
            Field::Value => value = Some(V::scan(&mut s)?),
            Field::Key => key = Some(V::scan(&mut s)?),
            Field::Index => index = Some(s.unsigned()?),
            // A negative time (Jepsen's -1) is unknown: the op's position, as if absent.
            Field::Time if s.b.get(s.pos) == Some(&b'-') => {
                s.integer()?;
            }
            Field::Time => time = Some(s.unsigned()?),
        }
    }
    let fields = Fields { kind: kind?, process: process?, f: f?, value, key, index, time };
    Some((fields, s.pos, s.newlines))
}

/// Scan the op map starting at `text[start]` (a `{`) and push it onto `ops` (`position`, its
/// place in the history, is its index and time unless the map says otherwise). Returns the byte
/// offset just after the closing `}` and the newlines crossed; `None`: not the usual shape, read
/// it with the general reader (nothing was pushed).
pub(crate) fn scan_op(text: &str, start: usize, position: u64, ops: &mut Vec<Op>) -> Option<(usize, usize)> {
    let (m, end, newlines) = scan_fields::<Value>(text, start)?;
    ops.push(Op {
        index: m.index.unwrap_or(position),
        time: m.time.unwrap_or(position),
        kind: m.kind,
        process: m.process,
        f: FnName::from(m.f),
        value: m.value.unwrap_or(Value::Null),
        key: m.key.filter(|k| !k.is_null()),
        node: None,
        error: None,
    });
    Some((end, newlines))
}

/// A value in the shapes register histories use, read without building JSON: what
/// `Scan::register_value` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegisterValue {
    Nil,
    Int(i64),
    /// `[old new]`, a cas's value; each nil or an integer.
    Pair(Option<i64>, Option<i64>),
    /// Anything else: a string, a keyword, a map (nemesis ops carry these); not kept.
    Other,
}

/// The fields the scanner reads.
enum Field {
    Type,
    F,
    Process,
    Value,
    Key,
    Index,
    Time,
}

/// A cursor over the text of one op map.
pub(crate) struct Scan<'a> {
    b: &'a [u8],
    text: &'a str,
    pos: usize,
    newlines: usize,
}

/// The bytes of keyword and symbol names the scanner takes (others decline).
const NAME_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'?' | b'!' | b'*' | b'+' | b'.' | b'<' | b'>' | b'=' | b'/');
        c += 1;
    }
    t
};

impl<'a> Scan<'a> {
    #[inline(always)]
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.pos) == Some(&c)).then(|| self.pos += 1)
    }

    /// If the text here is `word` followed by a delimiter, consume it.
    #[inline(always)]
    fn word<const N: usize>(&mut self, word: &[u8; N]) -> bool {
        // A fixed-size comparison compiles to a few integer compares, not a call to memcmp.
        let end = self.pos + N;
        let here: Option<&[u8; N]> = self.b.get(self.pos..end).and_then(|w| w.try_into().ok());
        let hit = here == Some(word) && self.b.get(end).is_none_or(|&c| is_delimiter(c));
        if hit {
            self.pos = end;
        }
        hit
    }

    /// A field name (after its `:`), told apart by its first byte, then checked whole.
    #[inline(always)]
    fn field(&mut self) -> Option<Field> {
        let (hit, field) = match self.b.get(self.pos)? {
            b't' if self.b.get(self.pos + 1) == Some(&b'y') => (self.word(b"type"), Field::Type),
            b't' => (self.word(b"time"), Field::Time),
            b'f' => (self.word(b"f"), Field::F),
            b'p' => (self.word(b"process"), Field::Process),
            b'v' => (self.word(b"value"), Field::Value),
            b'k' => (self.word(b"key"), Field::Key),
            b'i' => (self.word(b"index"), Field::Index),
            _ => return None,
        };
        hit.then_some(field)
    }

    /// An op type keyword's name (after its `:`).
    #[inline(always)]
    fn op_type(&mut self) -> Option<OpType> {
        let (hit, kind) = match self.b.get(self.pos..self.pos + 2)? {
            b"in" if self.b.get(self.pos + 2) == Some(&b'v') => (self.word(b"invoke"), OpType::Invoke),
            b"in" => (self.word(b"info"), OpType::Info),
            b"ok" => (self.word(b"ok"), OpType::Ok),
            b"fa" => (self.word(b"fail"), OpType::Fail),
            _ => return None,
        };
        hit.then_some(kind)
    }

    /// Whitespace and commas; a comment or a discard declines (at the next token).
    #[inline(always)]
    fn space(&mut self) {
        while let Some(&c) = self.b.get(self.pos) {
            match c {
                b' ' | b',' | b'\t' | b'\r' => self.pos += 1,
                b'\n' => {
                    self.newlines += 1;
                    self.pos += 1;
                }
                _ => break,
            }
        }
    }

    /// A keyword or symbol name: letters, digits and `-_?!*+.<>=/`, not empty.
    #[inline(always)]
    fn name(&mut self) -> Option<&'a str> {
        let start = self.pos;
        let len = self.b[start..].iter().position(|&c| !NAME_BYTES[c as usize]).unwrap_or(self.b.len() - start);
        self.pos += len;
        (len > 0 && self.delimited()).then(|| &self.text[start..self.pos])
    }

    /// The token just read ends here (a delimiter or the end of the text follows).
    #[inline(always)]
    fn delimited(&self) -> bool {
        self.b.get(self.pos).is_none_or(|&c| is_delimiter(c))
    }

    /// A plain non-negative integer (no sign, no suffix) that fits in a u64.
    #[inline(always)]
    fn unsigned(&mut self) -> Option<u64> {
        let start = self.pos;
        let mut n: u64 = 0;
        while let Some(&c) = self.b.get(self.pos) {
            if !c.is_ascii_digit() {
                break;
            }
            n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            self.pos += 1;
        }
        (self.pos > start && self.delimited()).then_some(n)
    }

    /// An integer that fits in an i64 (beyond it the general reader makes a float: decline).
    #[inline(always)]
    fn integer(&mut self) -> Option<i64> {
        if self.b.get(self.pos) == Some(&b'-') {
            if !self.b.get(self.pos + 1).is_some_and(u8::is_ascii_digit) {
                return None;
            }
            self.pos += 1;
            return 0i64.checked_sub_unsigned(self.unsigned()?);
        }
        i64::try_from(self.unsigned()?).ok()
    }

    /// A string without escapes or newlines; its text, without the quotes.
    fn string(&mut self) -> Option<&'a str> {
        let start = self.pos + 1;
        let len = self.b.get(start..)?.iter().position(|&c| matches!(c, b'"' | b'\\' | b'\n'))?;
        if self.b[start + len] != b'"' {
            return None;
        }
        self.pos = start + len + 1;
        Some(&self.text[start..start + len])
    }

    /// A value as JSON, as the general reader converts it: keywords become strings.
    fn value(&mut self, depth: usize) -> Option<Value> {
        let c = *self.b.get(self.pos)?;
        match c {
            b'0'..=b'9' | b'-' => Some(Value::from(self.integer()?)),
            b':' => {
                self.pos += 1;
                Some(Value::String(self.name()?.to_string()))
            }
            b'"' => Some(Value::String(self.string()?.to_string())),
            b'[' if depth < 4 => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.space();
                    if self.eat(b']').is_some() {
                        return Some(Value::Array(items));
                    }
                    items.push(self.value(depth + 1)?);
                }
            }
            b'n' | b't' | b'f' => match self.name()? {
                "nil" => Some(Value::Null),
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            _ => None,
        }
    }

    /// A value as a register history has it (nil, an integer, a pair of those, or a string or
    /// keyword to ignore); anything else declines. Integers beyond i64 decline, as in `value`.
    /// A value as a register history has it: nil, an integer, a pair of those, or anything else
    /// as `Other` (a string, a keyword, a map, a float...: read whole and dropped, since a
    /// nemesis op's value is never looked at and a client op with one declines later, in
    /// `quick::convert`). Not valid EDN declines.
    #[inline(always)]
    pub(crate) fn register_value(&mut self) -> Option<RegisterValue> {
        let start = self.pos;
        let usual = match *self.b.get(self.pos)? {
            b'[' => self.pair(),
            b':' => {
                self.pos += 1;
                self.name().map(|_| RegisterValue::Other)
            }
            b'"' => self.string().map(|_| RegisterValue::Other),
            _ => self.nil_or_integer().map(|v| v.map_or(RegisterValue::Nil, RegisterValue::Int)),
        };
        match usual {
            Some(v) => Some(v),
            None => self.skip_form_from(start).map(|_| RegisterValue::Other),
        }
    }

    /// `[old new]`, each nil or an integer.
    #[inline(always)]
    fn pair(&mut self) -> Option<RegisterValue> {
        self.eat(b'[')?;
        self.space();
        let old = self.nil_or_integer()?;
        self.space();
        let new = self.nil_or_integer()?;
        self.space();
        self.eat(b']')?;
        Some(RegisterValue::Pair(old, new))
    }

    /// Another field (after its `:`): its name, then its value, whatever it is. Out of line: the
    /// scanner's loop is faster without it.
    #[cold]
    #[inline(never)]
    fn skip_field(&mut self) -> Option<()> {
        self.name()?;
        self.space();
        self.skip_form()
    }

    /// Any one EDN form, read with the general reader and dropped; `None` if it is not valid EDN
    /// (the general path then words the error).
    #[cold]
    fn skip_form(&mut self) -> Option<()> {
        self.skip_form_from(self.pos)
    }

    /// `skip_form` from `start`, where an attempt to read the form as something else began (it
    /// may have moved the cursor, and counted newlines, since).
    #[cold]
    fn skip_form_from(&mut self, start: usize) -> Option<()> {
        let counted = self.b[start..self.pos].iter().filter(|&&c| c == b'\n').count();
        let mut r = super::edn::Reader::new(self.text);
        r.advance(start, 0);
        r.read().ok()?;
        self.newlines = self.newlines - counted + (r.line() - 1);
        self.pos = r.offset();
        Some(())
    }

    /// `nil` or an integer (see `integer`).
    #[inline(always)]
    fn nil_or_integer(&mut self) -> Option<Option<i64>> {
        if self.word(b"nil") {
            Some(None)
        } else {
            self.integer().map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the scanner accepts, the general reader reads the same way.
    #[test]
    fn scanner_agrees_with_the_general_reader() {
        let maps = [
            "{:process 7, :type :invoke, :f :cas, :value [2 3]}",
            "{:process 1, :type :ok, :f :read, :value nil}",
            "{:type :info, :f :start-partition, :process :nemesis, :value \"cut n1\"}",
            "{:process 0, :type :invoke, :f :append, :key \"0\", :value \"x 0 0 y\"}",
            "{:index 12, :time 3400, :type :ok, :process 3, :f :txn, :value [[:append 5 1] [:r 6 [1 2]]]}",
            "{:process 2, :type :ok, :f :write, :value -4, :key 9}",
            "{:process 2,\n :type :ok,\n :f :write, :value true}",
        ];
        for m in maps {
            let mut ops = Vec::new();
            let (end, newlines) = scan_op(m, 0, 0, &mut ops).unwrap_or_else(|| panic!("declined {m}"));
            assert_eq!(end, m.len(), "{m}");
            let slow = super::super::read_op(&mut super::super::edn::Reader::new(m), None, 0).unwrap();
            assert_eq!(ops[0], slow, "{m}");
            assert_eq!(newlines, m.matches('\n').count());
        }
    }

    #[test]
    fn unusual_shapes_decline() {
        for m in [
            "{:process 1, :type :ok, :f :read, :value 1.5}",
            "{:process 1, :type :ok, :f :read, :value \"a\\nb\"}",
            "{:process 1, :type :ok, :f :read, :node \"n1\"}",
            "{:process 1, :type :ok, :f :read ; comment\n}",
            "{:process 1, :type :weird, :f :read}",
            "{:process -1, :type :ok, :f :read}",
            "{:process 1, :type :ok, :f :read, :value 12N}",
            "{:process 1, :type :ok :f :read",
        ] {
            let mut ops = Vec::new();
            assert!(scan_op(m, 0, 0, &mut ops).is_none(), "{m}");
            assert!(ops.is_empty());
        }
    }
}
