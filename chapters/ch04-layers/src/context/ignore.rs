//! `.dockerignore`: which files of the build context a build may not see, and the glob
//! patterns that both it and `COPY` sources are written in.
//!
//! Book page: "Chapter 4: layers". The rules are docker's (its `patternmatcher` package): one
//! pattern per line in Go's `filepath.Match` syntax plus `**`, `!` to re-include, the last
//! matching pattern wins, and a pattern that matches a directory matches everything under it.
//! Docker applies the file before it sends the context to the builder, so an ignored file does
//! not exist as far as `COPY` is concerned; we apply it while resolving and walking sources.

/// One element of a compiled glob.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(char),
    /// `*`: any run of characters except `/`.
    Star,
    /// `?`: one character except `/`.
    Question,
    /// `[a-z]`, `[^x]`: one character (never `/`) in, or with `^` not in, the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `**/` or a `**` inside the pattern: nothing, or any path ending in `/`.
    AnyDirs,
    /// `**` at the end of the pattern: anything at all.
    AnyRest,
}

/// A compiled glob, matched against a whole `/`-separated relative path.
#[derive(Debug, Clone, PartialEq)]
pub struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    /// Compiles `pattern`; the error says what is wrong with it (Go only says "syntax error in
    /// pattern", which leaves the student hunting for the bracket).
    pub fn new(pattern: &str) -> Result<Glob, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' if chars.get(i) == Some(&'*') => {
                    i += 1;
                    // As in docker, `**/` is `**`: both may match no directory at all.
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    tokens.push(if i == chars.len() { Token::AnyRest } else { Token::AnyDirs });
                }
                '*' => tokens.push(Token::Star),
                '?' => tokens.push(Token::Question),
                '[' => {
                    let (token, end) =
                        class(&chars, i).map_err(|e| format!("bad pattern {pattern:?}: {e}"))?;
                    tokens.push(token);
                    i = end;
                }
                '\\' => match chars.get(i) {
                    Some(&next) => {
                        tokens.push(Token::Literal(next));
                        i += 1;
                    }
                    None => return Err(format!("bad pattern {pattern:?}: it ends with a backslash")),
                },
                _ => tokens.push(Token::Literal(c)),
            }
        }
        Ok(Glob { tokens })
    }

    /// The plain name this glob stands for, if it has no wildcard (escapes removed).
    pub fn literal(&self) -> Option<String> {
        self.tokens
            .iter()
            .map(|t| match t {
                Token::Literal(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    pub fn matches(&self, path: &str) -> bool {
        let chars: Vec<char> = path.chars().collect();
        match_tokens(&self.tokens, &chars)
    }
}

/// Parses a class whose `[` is just before `start`; returns it and the index after its `]`.
fn class(chars: &[char], start: usize) -> Result<(Token, usize), String> {
    let mut i = start;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    // Reads one class character; like Go, an unescaped `-` or `]` cannot be a range bound.
    let bound = |i: &mut usize| -> Result<char, String> {
        let c = match chars.get(*i) {
            Some('\\') => {
                *i += 1;
                chars.get(*i).copied()
            }
            Some('-') | Some(']') => return Err("'-' or ']' in the wrong place in [...]".into()),
            other => other.copied(),
        };
        *i += 1;
        c.ok_or_else(|| "missing ']'".to_string())
    };
    loop {
        match chars.get(i) {
            None => return Err("missing ']'".into()),
            Some(']') if !ranges.is_empty() => return Ok((Token::Class { negated, ranges }, i + 1)),
            _ => {}
        }
        let lo = bound(&mut i)?;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            i += 1;
            hi = bound(&mut i)?;
            if hi < lo {
                return Err(format!("range {lo}-{hi} is backwards"));
            }
        }
        ranges.push((lo, hi));
    }
}

/// Backtracking match of a whole path; patterns and paths are short, so this stays cheap.
fn match_tokens(tokens: &[Token], s: &[char]) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return s.is_empty();
    };
    let one = |ok: &dyn Fn(char) -> bool| s.first().is_some_and(|&c| c != '/' && ok(c));
    match first {
        Token::Literal(c) => s.first() == Some(c) && match_tokens(rest, &s[1..]),
        Token::Question => one(&|_| true) && match_tokens(rest, &s[1..]),
        Token::Class { negated, ranges } => {
            one(&|c| ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated)
                && match_tokens(rest, &s[1..])
        }
        Token::Star => {
            let run = s.iter().take_while(|&&c| c != '/').count();
            (0..=run).any(|n| match_tokens(rest, &s[n..]))
        }
        Token::AnyDirs => {
            match_tokens(rest, s) || (0..s.len()).any(|n| s[n] == '/' && match_tokens(rest, &s[n + 1..]))
        }
        Token::AnyRest => true,
    }
}

/// One line of `.dockerignore`.
#[derive(Debug, Clone, PartialEq)]
struct Rule {
    /// A `!pattern`: paths it matches are included again.
    include: bool,
    glob: Glob,
}

/// The parsed `.dockerignore` of a build context; an empty one ignores nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ignore {
    rules: Vec<Rule>,
}

impl Ignore {
    /// Parses the file's text; an error is `(line, message)` for the first bad pattern.
    pub fn parse(text: &str) -> Result<Ignore, (usize, String)> {
        let mut rules = Vec::new();
        for (index, line) in text.lines().enumerate() {
            // As in docker, only a `#` in the first column starts a comment.
            if line.starts_with('#') {
                continue;
            }
            let mut pattern = line.trim();
            if pattern.is_empty() {
                continue;
            }
            let include = pattern.starts_with('!');
            if include {
                pattern = pattern[1..].trim();
                if pattern.is_empty() {
                    return Err((index + 1, "illegal exclusion pattern: \"!\"".into()));
                }
            }
            // Docker cleans each pattern like a path, so `/tmp/`, `./tmp` and `tmp` are the
            // same pattern: paths are always relative to the context root.
            let glob = Glob::new(&clean(pattern)).map_err(|e| (index + 1, e))?;
            rules.push(Rule { include, glob });
        }
        Ok(Ignore { rules })
    }

    /// Whether `rel` (relative to the context root, `/`-separated) is ignored. A rule matches a
    /// path when it matches the path or one of its parent directories, and the last rule that
    /// matches decides. The root itself (`""`) is never ignored.
    pub fn is_ignored(&self, rel: &str) -> bool {
        if rel.is_empty() {
            return false;
        }
        let mut ignored = false;
        for rule in &self.rules {
            // A rule that could only confirm the current verdict need not be tried.
            if rule.include != ignored {
                continue;
            }
            let prefixes = rel.match_indices('/').map(|(i, _)| &rel[..i]);
            if rule.glob.matches(rel) || prefixes.into_iter().any(|p| rule.glob.matches(p)) {
                ignored = !rule.include;
            }
        }
        ignored
    }

    /// Whether some `!` rule exists, in which case an ignored directory may still hold files
    /// that are not ignored, so walkers must look inside it (docker's walker does the same).
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.include)
    }
}

/// Cleans a `/`-separated path lexically like Go's `filepath.Clean`, then drops a leading `/`:
/// `./a//b/../c/` is `a/c`. A `..` that climbs above the start is kept (`../x`), so callers can
/// tell that the path leaves the root; the empty path is `""`.
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let rooted = path.starts_with('/');
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|&p| p != "..") => {
                parts.pop();
            }
            // At the root `/..` is `/`, as in Go.
            ".." if rooted => {}
            _ => parts.push(part),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(pattern: &str, path: &str) -> bool {
        Glob::new(pattern).unwrap().matches(path)
    }

    #[test]
    fn go_match_syntax() {
        assert!(glob("*.log", "a.log") && !glob("*.log", "d/a.log"));
        assert!(glob("a?c", "abc") && !glob("a?c", "a/c"));
        assert!(glob("[a-c]x", "bx") && !glob("[a-c]x", "dx"));
        assert!(glob("[^a]x", "bx") && !glob("[^a]x", "ax") && !glob("[^a]x", "/x"));
        assert!(glob(r"\*", "*") && !glob(r"\*", "a"));
        assert!(glob("**/cache", "cache") && glob("**/cache", "a/b/cache") && !glob("**/cache", "xcache"));
        assert!(glob("a/**", "a/b/c") && glob("a/**/z", "a/z") && glob("a/**/z", "a/b/c/z"));
        assert_eq!(Glob::new("a\\*b").unwrap().literal(), Some("a*b".into()));
        assert_eq!(Glob::new("a*").unwrap().literal(), None);
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        assert_eq!(Glob::new("[ab").unwrap_err(), "bad pattern \"[ab\": missing ']'");
        assert_eq!(
            Glob::new("[]a]").unwrap_err(),
            "bad pattern \"[]a]\": '-' or ']' in the wrong place in [...]"
        );
        assert_eq!(Glob::new("[z-a]").unwrap_err(), "bad pattern \"[z-a]\": range z-a is backwards");
        assert_eq!(Glob::new("a\\").unwrap_err(), "bad pattern \"a\\\\\": it ends with a backslash");
        assert_eq!(Ignore::parse("# ok\n\nx[\n").unwrap_err(), (3, "bad pattern \"x[\": missing ']'".into()));
        assert_eq!(Ignore::parse("!\n").unwrap_err().0, 1);
    }

    #[test]
    fn dockerignore_rules() {
        let ignore =
            Ignore::parse("# logs\n*.log\n!keep.log\n/tmp/\n**/cache\n./build\n!build/out\n").unwrap();
        let ignored = |p: &str| ignore.is_ignored(p);
        assert!(ignored("a.log") && !ignored("keep.log") && !ignored("d/a.log"));
        assert!(ignored("tmp") && ignored("tmp/x/y") && !ignored("tmpx"));
        assert!(ignored("cache") && ignored("src/cache") && ignored("src/cache/f") && !ignored("src/cached"));
        assert!(ignored("build/x") && !ignored("build/out") && !ignored("build/out/a"));
        assert!(!ignored("") && !ignored("src/main.rs"));
        assert!(ignore.has_exceptions() && !Ignore::default().has_exceptions());
    }

    #[test]
    fn clean_is_lexical() {
        assert_eq!(clean("./a//b/../c/"), "a/c");
        assert_eq!(clean("/../x"), "x");
        assert_eq!(clean("a/../../x"), "../x");
        assert_eq!(clean("."), "");
    }
}
