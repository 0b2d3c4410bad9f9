//! A small EDN reader and writer, just enough for Jepsen, Knossos and Porcupine histories.
//!
//! Hand-written rather than a general EDN crate because history errors must name the line an op
//! starts on, and because importing large histories should be fast. The reader knows nil,
//! booleans, integers, floats, strings, characters, keywords, symbols, lists, vectors, maps,
//! sets, `;` comments, `#_` discards and tagged values such as `#jepsen.history.Op{...}` (the tag
//! is kept and otherwise ignored). Commas are whitespace.

use serde_json::Value;

/// An EDN value.
#[derive(Debug, Clone, PartialEq)]
pub enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Char(char),
    /// Without the leading `:`.
    Keyword(String),
    Symbol(String),
    List(Vec<Edn>),
    Vector(Vec<Edn>),
    Set(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
    Tagged(String, Box<Edn>),
}

/// A reading error: the 1-based line where it happened and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct EdnError {
    pub line: usize,
    pub message: String,
}

/// A cursor over EDN text that tracks line numbers.
pub struct Reader<'a> {
    src: &'a str,
    text: &'a [u8],
    pos: usize,
    line: usize,
    /// Nesting depth of the value being read, bounded so hostile input cannot overflow the stack.
    depth: usize,
}

/// Deeper nesting than this is an error (histories nest a few levels).
const MAX_DEPTH: usize = 256;

impl<'a> Reader<'a> {
    pub fn new(text: &'a str) -> Self {
        Reader { src: text, text: text.as_bytes(), pos: 0, line: 1, depth: 0 }
    }

    /// The current 1-based line.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The current byte offset into the text.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Move forward to byte offset `to`, past `newlines` newlines (what a scanner read ahead).
    pub fn advance(&mut self, to: usize, newlines: usize) {
        self.pos = to;
        self.line += newlines;
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, EdnError> {
        Err(EdnError { line: self.line, message: message.into() })
    }

    /// Skip whitespace, commas, `;` comments and `#_` discarded forms.
    pub fn skip_space(&mut self) -> Result<(), EdnError> {
        while self.pos < self.text.len() {
            match self.text[self.pos] {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | b',' => self.pos += 1,
                b';' => {
                    while self.pos < self.text.len() && self.text[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                b'#' if self.text.get(self.pos + 1) == Some(&b'_') => {
                    self.pos += 2;
                    self.read()?;
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// The next significant byte, after skipping space, without consuming it.
    pub fn peek(&mut self) -> Result<Option<u8>, EdnError> {
        self.skip_space()?;
        Ok(self.text.get(self.pos).copied())
    }

    /// If the next value is a keyword, consume it and return its name (without allocating).
    pub fn read_keyword(&mut self) -> Result<Option<&'a str>, EdnError> {
        if self.peek()? != Some(b':') {
            return Ok(None);
        }
        self.pos += 1;
        let tok = self.token();
        if tok.is_empty() {
            return self.err("empty keyword");
        }
        Ok(Some(tok))
    }

    /// If the next value is tagged (`#tag value`), consume the tag and return it.
    pub fn read_tag(&mut self) -> Result<Option<&'a str>, EdnError> {
        if self.peek()? != Some(b'#') || !self.text.get(self.pos + 1).is_some_and(|c| c.is_ascii_alphabetic()) {
            return Ok(None);
        }
        self.pos += 1;
        Ok(Some(self.token()))
    }

    /// Consume one byte (the caller peeked it).
    pub fn bump(&mut self) {
        self.pos += 1;
    }

    /// Read one value. Errors at the end of the input.
    pub fn read(&mut self) -> Result<Edn, EdnError> {
        if self.depth >= MAX_DEPTH {
            return self.err(format!("values nested more than {MAX_DEPTH} deep"));
        }
        self.depth += 1;
        let v = self.read_value();
        self.depth -= 1;
        v
    }

    fn read_value(&mut self) -> Result<Edn, EdnError> {
        self.skip_space()?;
        let Some(&c) = self.text.get(self.pos) else {
            return self.err("unexpected end of input (unclosed bracket?)");
        };
        match c {
            b'(' => {
                self.pos += 1;
                Ok(Edn::List(self.read_seq(b')')?))
            }
            b'[' => {
                self.pos += 1;
                Ok(Edn::Vector(self.read_seq(b']')?))
            }
            b'{' => {
                self.pos += 1;
                self.read_map()
            }
            b')' | b']' | b'}' => self.err(format!("unexpected '{}'", c as char)),
            b'"' => self.read_string().map(Edn::Str),
            b':' => {
                self.pos += 1;
                let tok = self.token();
                if tok.is_empty() {
                    return self.err("empty keyword");
                }
                Ok(Edn::Keyword(tok.to_string()))
            }
            b'\\' => {
                self.pos += 1;
                let tok = self.token();
                let ch = match tok {
                    "newline" => '\n',
                    "space" => ' ',
                    "tab" => '\t',
                    "return" => '\r',
                    t if t.chars().count() == 1 => t.chars().next().unwrap_or(' '),
                    "" if self.pos < self.text.len() => {
                        // A delimiter character such as `\(`.
                        let c = self.text[self.pos] as char;
                        self.pos += 1;
                        c
                    }
                    t => return self.err(format!("unknown character literal \\{t}")),
                };
                Ok(Edn::Char(ch))
            }
            b'#' => {
                self.pos += 1;
                match self.text.get(self.pos) {
                    Some(b'{') => {
                        self.pos += 1;
                        Ok(Edn::Set(self.read_seq(b'}')?))
                    }
                    Some(c) if c.is_ascii_alphabetic() => {
                        let tag = self.token().to_string();
                        let inner = self.read()?;
                        Ok(Edn::Tagged(tag, Box::new(inner)))
                    }
                    _ => self.err("bad '#' dispatch (expected #{, #_ or a tag)"),
                }
            }
            _ => {
                let tok = self.token();
                if tok.is_empty() {
                    return self.err(format!("unexpected character {:?}", c as char));
                }
                atom(tok).or_else(|m| self.err(m))
            }
        }
    }

    fn read_seq(&mut self, close: u8) -> Result<Vec<Edn>, EdnError> {
        self.read_seq_of(close, Self::read)
    }

    /// The items up to `close` (the opener is consumed), each read by `item`.
    fn read_seq_of<T>(
        &mut self,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Result<T, EdnError>,
    ) -> Result<Vec<T>, EdnError> {
        let start = self.line;
        let mut items = Vec::new();
        loop {
            match self.peek()? {
                None => {
                    return Err(EdnError {
                        line: start,
                        message: format!("'{}' opened here is never closed", opener(close)),
                    })
                }
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                Some(_) => items.push(item(self)?),
            }
        }
    }

    fn read_map(&mut self) -> Result<Edn, EdnError> {
        let start = self.line;
        let items = self.read_seq(b'}')?;
        if items.len() % 2 != 0 {
            return Err(EdnError { line: start, message: "map has an odd number of forms".into() });
        }
        let mut it = items.into_iter();
        let mut pairs = Vec::new();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            pairs.push((k, v));
        }
        Ok(Edn::Map(pairs))
    }

    fn read_string(&mut self) -> Result<String, EdnError> {
        let start = self.line;
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            // Copy the plain run up to the next quote, backslash or newline in one go: history
            // values (Porcupine's kv strings) are long.
            let run = self.text[self.pos..].iter().position(|&c| matches!(c, b'"' | b'\\' | b'\n'));
            let Some(run) = run else {
                return Err(EdnError { line: start, message: "string opened here is never closed".into() });
            };
            // The stop bytes are ASCII, so both ends are on char boundaries.
            out.push_str(&self.src[self.pos..self.pos + run]);
            self.pos += run;
            let c = self.text[self.pos];
            self.pos += 1;
            match c {
                b'"' => return Ok(out),
                b'\n' => {
                    self.line += 1;
                    out.push('\n');
                }
                _ => {
                    let Some(&e) = self.text.get(self.pos) else { continue };
                    self.pos += 1;
                    match e {
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'u' => {
                            let hex = self.src.get(self.pos..self.pos + 4);
                            let ch = hex.and_then(|h| u32::from_str_radix(h, 16).ok()).and_then(char::from_u32);
                            let Some(ch) = ch else { return self.err("bad \\u escape in string") };
                            self.pos += 4;
                            out.push(ch);
                        }
                        other => return self.err(format!("unknown escape \\{} in string", other as char)),
                    }
                }
            }
        }
    }

    /// Read one value straight into JSON, as `read()?.to_json()` would give, without building
    /// EDN values for what histories hold: strings, numbers, nil, booleans, keywords and
    /// vectors or lists of them. Anything else goes through `read`.
    pub fn read_json(&mut self) -> Result<Value, EdnError> {
        match self.peek()? {
            Some(b'"') => self.read_string().map(Value::String),
            Some(b':') => Ok(Value::String(self.read_keyword()?.unwrap_or_default().to_string())),
            Some(open @ (b'[' | b'(')) if self.depth < MAX_DEPTH => {
                let close = if open == b'[' { b']' } else { b')' };
                self.pos += 1;
                self.depth += 1;
                let items = self.read_seq_of(close, Self::read_json)?;
                self.depth -= 1;
                Ok(Value::Array(items))
            }
            Some(c) if c.is_ascii_alphanumeric() || c == b'-' || c == b'+' => {
                let tok = self.token();
                match atom(tok) {
                    Ok(Edn::Symbol(_)) => Ok(Value::String(tok.to_string())),
                    Ok(v) => Ok(v.to_json()),
                    Err(m) => self.err(m),
                }
            }
            _ => Ok(self.read()?.to_json()),
        }
    }

    /// If the next value is a non-negative integer literal, consume it and return it.
    pub fn read_unsigned(&mut self) -> Result<Option<u64>, EdnError> {
        if !matches!(self.peek()?, Some(c) if c.is_ascii_digit()) {
            return Ok(None);
        }
        let start = self.pos;
        let tok = self.token();
        match tok.parse::<u64>() {
            Ok(n) => Ok(Some(n)),
            Err(_) => {
                // Not a plain integer (a float, 12N, ...): let the caller read it as EDN.
                self.pos = start;
                Ok(None)
            }
        }
    }

    /// A run of non-delimiter bytes.
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while self.pos < self.text.len() && !is_delimiter(self.text[self.pos]) {
            self.pos += 1;
        }
        // Delimiters are ASCII, so the slice is on char boundaries.
        &self.src[start..self.pos]
    }
}

/// Bytes that end an EDN token.
#[inline(always)]
pub(crate) fn is_delimiter(c: u8) -> bool {
    // A table rather than a `match`, which compiles to a jump table: an indirect jump per token
    // that the scanner's hot loop cannot afford.
    const DELIMITERS: [bool; 256] = {
        let mut t = [false; 256];
        let all = b" \t\r\n,()[]{}\";";
        let mut i = 0;
        while i < all.len() {
            t[all[i] as usize] = true;
            i += 1;
        }
        t
    };
    DELIMITERS[c as usize]
}

fn opener(close: u8) -> char {
    match close {
        b')' => '(',
        b']' => '[',
        _ => '{',
    }
}

/// A bare token: nil, true, false, a number, or a symbol.
fn atom(tok: &str) -> Result<Edn, String> {
    match tok {
        "nil" => return Ok(Edn::Nil),
        "true" => return Ok(Edn::Bool(true)),
        "false" => return Ok(Edn::Bool(false)),
        _ => {}
    }
    let b = tok.as_bytes();
    let numeric = b[0].is_ascii_digit() || (b.len() > 1 && (b[0] == b'-' || b[0] == b'+') && b[1].is_ascii_digit());
    if !numeric {
        return Ok(Edn::Symbol(tok.to_string()));
    }
    let t = tok.trim_end_matches(['N', 'M']);
    if let Ok(i) = t.parse::<i64>() {
        return Ok(Edn::Int(i));
    }
    if let Ok(f) = t.parse::<f64>() {
        return Ok(Edn::Float(f));
    }
    Err(format!("bad number {tok:?}"))
}

impl Edn {
    /// The value under keyword `key` of a map (or of a tagged map).
    pub fn get(&self, key: &str) -> Option<&Edn> {
        match self {
            Edn::Map(pairs) => pairs.iter().find(|(k, _)| matches!(k, Edn::Keyword(s) if s == key)).map(|(_, v)| v),
            Edn::Tagged(_, inner) => inner.get(key),
            _ => None,
        }
    }

    /// A keyword, symbol or string as text.
    pub fn as_name(&self) -> Option<&str> {
        match self {
            Edn::Keyword(s) | Edn::Symbol(s) | Edn::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Convert to JSON: keywords and symbols become strings (without `:`), lists, vectors and
    /// sets become arrays, maps become objects keyed by the key's name (or its EDN text).
    pub fn to_json(&self) -> Value {
        match self {
            Edn::Nil => Value::Null,
            Edn::Bool(b) => Value::Bool(*b),
            Edn::Int(i) => Value::from(*i),
            Edn::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
            Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => Value::String(s.clone()),
            Edn::Char(c) => Value::String(c.to_string()),
            Edn::List(items) | Edn::Vector(items) | Edn::Set(items) => {
                Value::Array(items.iter().map(Edn::to_json).collect())
            }
            Edn::Map(pairs) => Value::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (k.as_name().map(str::to_string).unwrap_or_else(|| k.to_string()), v.to_json()))
                    .collect(),
            ),
            Edn::Tagged(_, inner) => inner.to_json(),
        }
    }
}

impl std::fmt::Display for Edn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn seq(f: &mut std::fmt::Formatter<'_>, open: &str, items: &[Edn], close: &str) -> std::fmt::Result {
            f.write_str(open)?;
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{it}")?;
            }
            f.write_str(close)
        }
        match self {
            Edn::Nil => f.write_str("nil"),
            Edn::Bool(b) => write!(f, "{b}"),
            Edn::Int(i) => write!(f, "{i}"),
            Edn::Float(x) => write!(f, "{x:?}"),
            Edn::Str(s) => write_edn_string(f, s),
            Edn::Char(c) => write!(f, "\\{c}"),
            Edn::Keyword(s) => write!(f, ":{s}"),
            Edn::Symbol(s) => f.write_str(s),
            Edn::List(items) => seq(f, "(", items, ")"),
            Edn::Vector(items) => seq(f, "[", items, "]"),
            Edn::Set(items) => seq(f, "#{", items, "}"),
            Edn::Map(pairs) => {
                f.write_str("{")?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                f.write_str("}")
            }
            Edn::Tagged(tag, inner) => write!(f, "#{tag}{inner}"),
        }
    }
}

fn write_edn_string(out: &mut impl std::fmt::Write, s: &str) -> std::fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\t' => out.write_str("\\t")?,
            '\r' => out.write_str("\\r")?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

/// Whether `s` can be written as a keyword `:s` and read back as the same name.
pub fn is_keyword_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || "*+!-_?<>=".contains(c) => {}
        _ => return false,
    }
    // A leading '-' or '+' followed by a digit would read back as a number-like token; keep it simple.
    if (s.starts_with('-') || s.starts_with('+')) && s[1..].starts_with(|c: char| c.is_ascii_digit()) {
        return false;
    }
    chars.all(|c| c.is_ascii_alphanumeric() || "*+!-_?<>=./".contains(c)) && !s.ends_with('/') && s != "nil"
}

/// Write a JSON value as EDN: null as nil, arrays as vectors, objects as maps (keys as keywords
/// when they can be, strings otherwise). Strings stay strings so that a round trip is exact.
pub fn write_json_as_edn(out: &mut String, v: &Value) {
    use std::fmt::Write;
    match v {
        Value::Null => out.push_str("nil"),
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => {
            let _ = write_edn_string(out, s);
        }
        Value::Array(items) => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_json_as_edn(out, it);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, it)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if is_keyword_name(k) {
                    out.push(':');
                    out.push_str(k);
                } else {
                    let _ = write_edn_string(out, k);
                }
                out.push(' ');
                write_json_as_edn(out, it);
            }
            out.push('}');
        }
    }
}

/// Write a string as an EDN keyword when it is a valid keyword name, else as a string.
pub fn write_name(out: &mut String, s: &str) {
    if is_keyword_name(s) {
        out.push(':');
        out.push_str(s);
    } else {
        let _ = write_edn_string(out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_values_and_lines() {
        let mut r = Reader::new("; c\n[{:a 1, :b [1 2.5 \"x\\ny\"] :c #{:k} :d nil}\n #foo.Bar{:x -3}]");
        let v = r.read().unwrap();
        let Edn::Vector(items) = v else { panic!("not a vector") };
        assert_eq!(items[0].get("a"), Some(&Edn::Int(1)));
        assert_eq!(items[0].get("d"), Some(&Edn::Nil));
        assert_eq!(items[1].get("x"), Some(&Edn::Int(-3)));
        assert_eq!(items[0].get("b").unwrap().to_json(), serde_json::json!([1, 2.5, "x\ny"]));
        assert_eq!(r.line(), 3);
    }

    #[test]
    fn reports_unclosed_with_line() {
        let e = Reader::new("\n\n{:a [1 2}").read().unwrap_err();
        assert_eq!(e.line, 3);
        let e = Reader::new("[\n{:a 1}").read().unwrap_err();
        assert!(e.message.contains("never closed"), "{e:?}");
        assert_eq!(e.line, 1);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = "[".repeat(100_000);
        let e = Reader::new(&text).read().unwrap_err();
        assert!(e.message.contains("nested"), "{e:?}");
    }

    #[test]
    fn keyword_names() {
        assert!(is_keyword_name("read"));
        assert!(is_keyword_name("start-partition"));
        assert!(!is_keyword_name("two words"));
        assert!(!is_keyword_name("7"));
        assert!(!is_keyword_name(""));
    }
}
