//! Words and variables in Dockerfile arguments: splitting an argument string into quote-aware
//! words, and expanding `$VAR` references the way docker's shell lexer does.
//!
//! Book page: "Chapter 4: layers". The parser only splits (it keeps every word exactly as
//! written, quotes included); the builder calls [`expand_word`] later, once it knows the values
//! of `ARG` and `ENV`, because a variable's value depends on where in the file it is used.
//! BuildKit's lexer (`frontend/dockerfile/shell`) also knows `${VAR?err}`, `${VAR#prefix}`,
//! `${VAR%suffix}` and `${VAR/from/to}`; this subset stops at defaults and alternatives.

/// The escape character. Docker lets a `# escape=` directive change it (to a backtick, for
/// Windows paths); we treat directives as comments, so it is always a backslash.
const ESCAPE: char = '\\';

/// Splits `raw` at unquoted whitespace, keeping every word exactly as written (quotes and
/// backslashes included), so `A="x y" B=1` gives `A="x y"` and `B=1`. This is how docker
/// separates the pairs of `ENV` and `LABEL` before it expands each one.
pub fn split_words(raw: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut rest = raw;
    while let Some((word, after)) = split_first(rest)? {
        words.push(word);
        rest = after;
    }
    Ok(words)
}

/// Takes the first word off `raw` (as [`split_words`] would) and returns it with the rest of the
/// string, which is left untouched; `None` when only whitespace remains. The parser uses it to
/// peel `--flags` off `COPY` and the name off a legacy `ENV NAME value`.
pub(crate) fn split_first(raw: &str) -> Result<Option<(String, &str)>, String> {
    let raw = raw.trim_start();
    if raw.is_empty() {
        return Ok(None);
    }
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in raw.char_indices() {
        if escaped {
            escaped = false;
        } else if quote == Some(c) {
            quote = None;
        } else if quote == Some('\'') {
            // Nothing is special inside single quotes, not even the escape character.
        } else if c == ESCAPE {
            escaped = true;
        } else if quote.is_none() && (c == '\'' || c == '"') {
            quote = Some(c);
        } else if quote.is_none() && c.is_whitespace() {
            return Ok(Some((raw[..i].to_string(), &raw[i..])));
        }
    }
    match quote {
        Some(q) => Err(format!("unterminated {} in {raw}", quote_name(q))),
        None => Ok(Some((raw.to_string(), ""))),
    }
}

fn quote_name(q: char) -> &'static str {
    if q == '\'' { "single quote" } else { "double quote" }
}

/// Expands one word: substitutes `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`,
/// `${NAME:+alt}` and `${NAME+alt}`, removes quotes and escapes, and returns the result as one
/// string (spaces inside it are kept, as docker does for a single word). Unknown variables
/// expand to the empty string, as in a shell; docker does not warn either.
pub fn expand_word(raw: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut lexer = Lexer { chars: raw.chars().collect(), pos: 0, lookup };
    lexer.word(None)
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += 1;
        c
    }

    /// Reads up to the end of the input, or up to `stop` (the `}` closing a `${...}` whose
    /// default we are reading; a quoted or escaped `}` does not count).
    fn word(&mut self, stop: Option<char>) -> Result<String, String> {
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return match stop {
                    Some(_) => Err("missing '}' in variable substitution".to_string()),
                    None => Ok(out),
                };
            };
            if Some(c) == stop {
                self.pos += 1;
                return Ok(out);
            }
            match c {
                '\'' => out.push_str(&self.single_quoted()?),
                '"' => out.push_str(&self.double_quoted()?),
                '$' => out.push_str(&self.dollar()?),
                ESCAPE => {
                    // Outside quotes the escape character makes the next one literal; a
                    // trailing one is dropped, as docker does.
                    self.pos += 1;
                    if let Some(next) = self.next() {
                        out.push(next);
                    }
                }
                _ => {
                    self.pos += 1;
                    out.push(c);
                }
            }
        }
    }

    fn single_quoted(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.next() {
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
                None => return Err("unterminated single quote".to_string()),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err("unterminated double quote".to_string()),
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(ESCAPE) => {
                    // Inside double quotes docker (like sh) only lets the escape character
                    // protect `"`, `$` and itself; any other backslash stays as written.
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ ('"' | '$' | ESCAPE)) => {
                            self.pos += 1;
                            out.push(c);
                        }
                        _ => out.push(ESCAPE),
                    }
                }
                Some(c) => {
                    self.pos += 1;
                    out.push(c);
                }
            }
        }
    }

    /// Expands the reference starting at the `$` under the cursor.
    fn dollar(&mut self) -> Result<String, String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            // A `$` not followed by a name (`$`, `$/`, `$1`) is kept literally, as docker does.
            return Ok(match name.is_empty() {
                true => "$".to_string(),
                false => (self.lookup)(&name).unwrap_or_default(),
            });
        }
        self.pos += 1;
        let name = self.name();
        if name.is_empty() {
            return Err(match self.peek() {
                None => "missing '}' in variable substitution".to_string(),
                Some(c) => format!("bad variable name in substitution: unexpected '{c}' after '${{'"),
            });
        }
        let value = (self.lookup)(&name);
        let colon = self.peek() == Some(':');
        if colon {
            self.pos += 1;
        }
        let modifier = match self.next() {
            Some('}') if !colon => return Ok(value.unwrap_or_default()),
            Some('}') => return Err(format!("missing '-' or '+' after ':' in ${{{name}:}}")),
            None => return Err("missing '}' in variable substitution".to_string()),
            Some(c) => c,
        };
        if modifier != '-' && modifier != '+' {
            return Err(format!(
                "unsupported modifier '{modifier}' in ${{{name}...}} (only :- and :+ are supported)"
            ));
        }
        // The word is expanded even when it is not used, so a syntax error in it is always
        // reported, not only on the day the variable happens to be unset.
        let word = self.word(Some('}'))?;
        // With a colon an empty value counts as unset, as in sh: `${A:-d}` replaces an empty A,
        // `${A-d}` only a missing one.
        let set = match &value {
            Some(v) => !(colon && v.is_empty()),
            None => false,
        };
        Ok(match (modifier, set) {
            ('-', true) => value.unwrap_or_default(),
            ('-', false) => word,
            (_, true) => word,
            (_, false) => String::new(),
        })
    }

    /// Reads a variable name: a letter or underscore, then letters, digits and underscores.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            let ok = c == '_' || c.is_ascii_alphabetic() || (!name.is_empty() && c.is_ascii_digit());
            if !ok {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("a".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn expand(raw: &str) -> Result<String, String> {
        expand_word(raw, &env)
    }

    #[test]
    fn variables_defaults_and_alternatives() {
        assert_eq!(expand("$A ${A} ${A:-d} ${B:-d} ${B:+x} ${A:+x}").unwrap(), "a a a d  x");
        assert_eq!(expand("${EMPTY:-d} ${EMPTY-d}.").unwrap(), "d .");
        assert_eq!(expand("${B:-${A}-$A}").unwrap(), "a-a");
        assert_eq!(expand("$B/$A/x").unwrap(), "/a/x");
        assert_eq!(expand("cost: $5 $").unwrap(), "cost: $5 $");
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(expand("'$A'").unwrap(), "$A");
        assert_eq!(expand("\"$A b\"").unwrap(), "a b");
        assert_eq!(expand("\\$A").unwrap(), "$A");
        assert_eq!(expand(r#""a\"b\$A\n""#).unwrap(), r#"a"b$A\n"#);
        assert_eq!(expand(r"a\ b").unwrap(), "a b");
        assert_eq!(expand("${B:-'x y'}").unwrap(), "x y");
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(expand("${A").unwrap_err(), "missing '}' in variable substitution");
        assert_eq!(expand("${A:-x").unwrap_err(), "missing '}' in variable substitution");
        assert_eq!(expand("${").unwrap_err(), "missing '}' in variable substitution");
        assert!(expand("${}").unwrap_err().starts_with("bad variable name"));
        assert!(expand("${A#x}").unwrap_err().starts_with("unsupported modifier '#'"));
        assert_eq!(expand("\"abc").unwrap_err(), "unterminated double quote");
        assert_eq!(expand("'abc").unwrap_err(), "unterminated single quote");
    }

    #[test]
    fn split_words_keeps_quotes() {
        let words = split_words(r#"  A="x y" B='1 2' C=a\ b D  "#).unwrap();
        assert_eq!(words, [r#"A="x y""#, "B='1 2'", r"C=a\ b", "D"]);
        assert!(split_words("A=\"x").is_err());
        assert_eq!(split_first("--chown=1 a b").unwrap(), Some(("--chown=1".into(), " a b")));
    }
}
