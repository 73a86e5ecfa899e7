//! The Dockerfile parser: from text to [`Dockerfile`], checking the syntax of each instruction.
//!
//! Book page: "Chapter 4: layers". It works in two passes, as docker's does: first the file is
//! cut into logical instructions (comments dropped, `\` continuations joined), then each one is
//! parsed by the function for its keyword. Errors carry the line the instruction starts on.

use super::expand::{split_first, split_words};
use super::{Command, Dockerfile, Instruction, Kind, ParseError};

/// Instructions docker knows that this subset does not build, with a hint where one helps.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("ADD", " (use COPY)"),
    ("VOLUME", ""),
    ("SHELL", " (RUN always uses /bin/sh -c)"),
    ("HEALTHCHECK", ""),
    ("ONBUILD", ""),
    ("STOPSIGNAL", ""),
    ("MAINTAINER", " (use LABEL maintainer=...)"),
];

/// Parses a Dockerfile, reporting the first error in file order.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let mut instructions = Vec::new();
    let mut seen_from = false;
    for (line, joined) in logical_lines(text) {
        let err = |message: String| ParseError { line, message };
        let (keyword, args) = match joined.split_once(char::is_whitespace) {
            Some((keyword, args)) => (keyword.to_ascii_uppercase(), args.trim()),
            None => (joined.to_ascii_uppercase(), ""),
        };
        let kind = instruction(&keyword, args).map_err(err)?;
        // Only ARG may come before FROM: such an ARG can parameterise the image name.
        match (&kind, seen_from) {
            (Kind::From { .. }, true) => {
                return Err(err("multi-stage builds (a second FROM) are not supported".into()));
            }
            (Kind::From { .. }, false) => seen_from = true,
            (Kind::Arg { .. }, _) | (_, true) => {}
            (_, false) => return Err(err("FROM must come first (only ARG may precede it)".into())),
        }
        let text = if args.is_empty() { keyword } else { format!("{keyword} {args}") };
        instructions.push(Instruction { line, text, kind });
    }
    if !seen_from {
        return Err(ParseError { line: 1, message: "no FROM instruction".into() });
    }
    Ok(Dockerfile { instructions })
}

/// Cuts the text into `(first line, instruction text)` pairs. A line whose first non-blank
/// character is `#` is a comment, even in the middle of a continuation, where docker skips it
/// too. Docker reads parser directives (`# syntax=`, `# escape=`) from the top of the file; we
/// treat them as the comments they look like, so the escape character is always `\`.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    // `lines` also strips the `\r` of a `\r\n` ending.
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            // An empty line inside a continuation is skipped as well (docker warns that this
            // may become an error one day).
            continue;
        }
        let (body, continues) = match line.strip_suffix('\\') {
            Some(body) => (body.trim_end(), true),
            None => (line, false),
        };
        let (start, mut joined) = pending.take().unwrap_or((index + 1, String::new()));
        if !joined.is_empty() && !body.is_empty() {
            joined.push(' ');
        }
        joined.push_str(body);
        if continues {
            pending = Some((start, joined));
        } else if !joined.is_empty() {
            out.push((start, joined));
        }
    }
    // A continuation on the last line just ends the instruction, as in docker.
    out.extend(pending.filter(|(_, joined)| !joined.is_empty()));
    out
}

fn instruction(keyword: &str, args: &str) -> Result<Kind, String> {
    match keyword {
        "FROM" => from(args),
        "RUN" => command("RUN", args).map(Kind::Run),
        "CMD" => command("CMD", args).map(Kind::Cmd),
        "ENTRYPOINT" => command("ENTRYPOINT", args).map(Kind::Entrypoint),
        "COPY" => copy(args),
        "WORKDIR" => one_word("WORKDIR", args).map(Kind::Workdir),
        "USER" => user(args),
        "ENV" => env(args),
        "LABEL" => pairs("LABEL", &words("LABEL", args)?).map(Kind::Label),
        "ARG" => arg(args),
        "EXPOSE" => expose(args),
        _ => match UNSUPPORTED.iter().find(|(name, _)| *name == keyword) {
            Some((name, hint)) => Err(format!("{name} is not supported here{hint}")),
            None => Err(format!("unknown instruction: {keyword}")),
        },
    }
}

/// Splits the arguments into raw words; a quoting error names the instruction it is in.
fn words(keyword: &str, args: &str) -> Result<Vec<String>, String> {
    split_words(args).map_err(|e| format!("{keyword}: {e}"))
}

fn from(args: &str) -> Result<Kind, String> {
    let words = words("FROM", args)?;
    if let Some(flag) = words.iter().find(|w| w.starts_with("--")) {
        return Err(format!("FROM flag {} is not supported here", flag_name(flag)));
    }
    match words.as_slice() {
        [image] => Ok(Kind::From { image: image.clone(), alias: None }),
        [image, as_, alias] if as_.eq_ignore_ascii_case("as") => {
            Ok(Kind::From { image: image.clone(), alias: Some(alias.clone()) })
        }
        _ => Err("FROM requires one argument, or three: FROM image [AS name]".into()),
    }
}

/// `--from=stage` gives `--from`: the flag without its value.
fn flag_name(flag: &str) -> &str {
    flag.split('=').next().unwrap_or(flag)
}

/// The exec form is tried first; arguments that start with `[` but are not a JSON array of
/// strings are shell text, as in docker (so `RUN [ -f x ] && y` is a shell test).
fn command(keyword: &str, args: &str) -> Result<Command, String> {
    let parsed = match args.starts_with('[') {
        true => serde_json::from_str::<Vec<String>>(args).ok(),
        false => None,
    };
    match parsed {
        // `CMD []` and `ENTRYPOINT []` are meaningful: they clear what the base image set.
        Some(argv) if argv.is_empty() && keyword == "RUN" => {
            Err("RUN requires at least one argument (an empty exec form runs nothing)".into())
        }
        Some(argv) => Ok(Command::Exec(argv)),
        None if args.is_empty() => Err(match keyword {
            "RUN" => "RUN requires at least one argument".to_string(),
            _ => format!("{keyword} requires at least one argument (use {keyword} [] for none)"),
        }),
        None => Ok(Command::Shell(args.to_string())),
    }
}

fn copy(args: &str) -> Result<Kind, String> {
    // Flags come first, as in docker; BuildKit also knows --from, --chmod, --link, --parents,
    // --exclude, none of which this subset builds.
    let mut chown = None;
    let mut rest = args;
    while let Some((word, after)) = split_first(rest).map_err(|e| format!("COPY: {e}"))? {
        if !word.starts_with("--") {
            break;
        }
        match word.strip_prefix("--chown=") {
            Some("") => return Err("COPY --chown needs a value: --chown=user[:group]".into()),
            Some(owner) => chown = Some(owner.to_string()),
            None if word == "--chown" => {
                return Err("COPY --chown needs a value: --chown=user[:group]".into());
            }
            None => return Err(format!("COPY flag {} is not supported here", flag_name(&word))),
        }
        rest = after;
    }
    let rest = rest.trim();
    // The JSON form exists for paths with spaces; if it does not parse, docker splits the text
    // into words instead, and so do we.
    let json = match rest.starts_with('[') {
        true => serde_json::from_str::<Vec<String>>(rest).ok(),
        false => None,
    };
    let mut list = match json {
        Some(list) => list,
        None => words("COPY", rest)?,
    };
    if list.len() < 2 {
        return Err("COPY requires at least two arguments".into());
    }
    let dest = list.pop().unwrap_or_default();
    Ok(Kind::Copy { sources: list, dest, chown })
}

fn one_word(keyword: &str, args: &str) -> Result<String, String> {
    match words(keyword, args)?.as_slice() {
        [word] => Ok(word.clone()),
        _ => Err(format!("{keyword} requires exactly one argument")),
    }
}

fn user(args: &str) -> Result<Kind, String> {
    let user = one_word("USER", args)?;
    let mut parts = user.split(':');
    let valid = parts.next().is_some_and(|name| !name.is_empty())
        && parts.next().is_none_or(|group| !group.is_empty())
        && parts.next().is_none();
    match valid {
        true => Ok(Kind::User(user)),
        false => Err(format!("USER expects user[:group], got {user:?}")),
    }
}

fn env(args: &str) -> Result<Kind, String> {
    let Some((first, rest)) = split_first(args).map_err(|e| format!("ENV: {e}"))? else {
        return Err("ENV requires at least one argument".into());
    };
    if first.contains('=') {
        return pairs("ENV", &words("ENV", args)?).map(Kind::Env);
    }
    // The legacy form: the first word is the name and the whole rest of the line its value.
    let value = rest.trim();
    if value.is_empty() {
        return Err(format!("ENV {first} needs a value: ENV {first}=value or ENV {first} value"));
    }
    Ok(Kind::Env(vec![(first, value.to_string())]))
}

/// `KEY=VALUE` pairs; the key is everything before the first `=`, the value may be empty.
fn pairs(keyword: &str, words: &[String]) -> Result<Vec<(String, String)>, String> {
    if words.is_empty() {
        return Err(format!("{keyword} requires at least one argument"));
    }
    words
        .iter()
        .map(|word| match word.split_once('=') {
            Some(("", _)) => Err(format!("{keyword} names can not be blank: {word}")),
            Some((key, value)) => Ok((key.to_string(), value.to_string())),
            None => Err(format!("{keyword} expects KEY=VALUE pairs, got {word:?}")),
        })
        .collect()
}

fn arg(args: &str) -> Result<Kind, String> {
    // BuildKit accepts several names in one ARG; the subset keeps one, like older docker.
    let word = one_word("ARG", args)?;
    match word.split_once('=') {
        Some(("", _)) => Err(format!("ARG name can not be blank: {word}")),
        Some((name, default)) => Ok(Kind::Arg { name: name.into(), default: Some(default.into()) }),
        None => Ok(Kind::Arg { name: word, default: None }),
    }
}

fn expose(args: &str) -> Result<Kind, String> {
    let words = words("EXPOSE", args)?;
    if words.is_empty() {
        return Err("EXPOSE requires at least one argument".into());
    }
    for word in &words {
        // A port from a variable can only be checked once the builder has expanded it.
        if word.contains('$') {
            continue;
        }
        let (port, proto) = word.split_once('/').unwrap_or((word, "tcp"));
        let port_ok = port.parse::<u16>().is_ok_and(|p| p != 0) && !port.starts_with('+');
        let proto_ok = proto.eq_ignore_ascii_case("tcp") || proto.eq_ignore_ascii_case("udp");
        if !port_ok || !proto_ok {
            return Err(format!(
                "EXPOSE: invalid port {word:?} (expected PORT or PORT/tcp or PORT/udp, PORT from 1 to 65535)"
            ));
        }
    }
    Ok(Kind::Expose(words))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `FROM base` followed by `rest`, returning the kind of the last instruction.
    fn last(rest: &str) -> Result<Kind, ParseError> {
        let file = parse(&format!("FROM base\n{rest}"))?;
        Ok(file.instructions.last().unwrap().kind.clone())
    }

    fn error(rest: &str) -> String {
        last(rest).unwrap_err().to_string()
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn comments_and_blank_lines_inside_continuations_are_skipped() {
        let text = "FROM base\r\nRUN a \\\r\n  # not part of the command\r\n\r\n  b\r\n";
        let file = parse(text).unwrap();
        assert_eq!(file.instructions[1].line, 2);
        assert_eq!(file.instructions[1].text, "RUN a b");
        assert_eq!(file.instructions[1].kind, Kind::Run(Command::Shell("a b".into())));
    }

    #[test]
    fn unknown_and_unsupported_instructions_name_themselves() {
        assert_eq!(error("\nfrobnicate x"), "line 3: unknown instruction: FROBNICATE");
        assert_eq!(error("add a b"), "line 2: ADD is not supported here (use COPY)");
        assert_eq!(error("VOLUME /data"), "line 2: VOLUME is not supported here");
    }

    #[test]
    fn copy_arguments_and_flags() {
        assert_eq!(error("COPY a"), "line 2: COPY requires at least two arguments");
        assert_eq!(error("COPY --from=x a b"), "line 2: COPY flag --from is not supported here");
        let copy = |sources: &[&str], dest: &str, chown: Option<&str>| Kind::Copy {
            sources: sources.iter().map(|s| s.to_string()).collect(),
            dest: dest.into(),
            chown: chown.map(String::from),
        };
        assert_eq!(
            last("COPY --chown=app:app a \"b c\" /d/").unwrap(),
            copy(&["a", "\"b c\""], "/d/", Some("app:app"))
        );
        assert_eq!(last(r#"COPY ["a b", "$X", "/d"]"#).unwrap(), copy(&["a b", "$X"], "/d", None));
        assert_eq!(last("COPY [a b]").unwrap(), copy(&["[a"], "b]", None));
    }

    #[test]
    fn commands_exec_shell_and_fallback() {
        let exec = |argv: &[&str]| Command::Exec(argv.iter().map(|s| s.to_string()).collect());
        assert_eq!(last(r#"RUN ["echo", "$HOME"]"#).unwrap(), Kind::Run(exec(&["echo", "$HOME"])));
        // Not JSON (single quotes), so it is shell text, exactly as docker treats it.
        assert_eq!(last("RUN ['echo', 'hi']").unwrap(), Kind::Run(Command::Shell("['echo', 'hi']".into())));
        assert_eq!(last("RUN [ -f x ] && y").unwrap(), Kind::Run(Command::Shell("[ -f x ] && y".into())));
        assert_eq!(last("CMD []").unwrap(), Kind::Cmd(exec(&[])));
        assert_eq!(last("ENTRYPOINT []").unwrap(), Kind::Entrypoint(exec(&[])));
        assert_eq!(error("RUN"), "line 2: RUN requires at least one argument");
        assert!(error("RUN []").starts_with("line 2: RUN requires at least one argument"));
        assert_eq!(error("CMD"), "line 2: CMD requires at least one argument (use CMD [] for none)");
    }

    #[test]
    fn env_pairs_and_legacy_form() {
        assert_eq!(
            last(r#"ENV A=1 B="x y" C= D=$A"#).unwrap(),
            Kind::Env(vec![pair("A", "1"), pair("B", "\"x y\""), pair("C", ""), pair("D", "$A")])
        );
        assert_eq!(last("ENV PATH  /a b  c").unwrap(), Kind::Env(vec![pair("PATH", "/a b  c")]));
        assert_eq!(error("ENV"), "line 2: ENV requires at least one argument");
        assert_eq!(error("ENV A"), "line 2: ENV A needs a value: ENV A=value or ENV A value");
        assert_eq!(error("ENV A=1 =2"), "line 2: ENV names can not be blank: =2");
        assert_eq!(error("ENV A=1 B"), "line 2: ENV expects KEY=VALUE pairs, got \"B\"");
        assert_eq!(error("ENV A=\"x"), "line 2: ENV: unterminated double quote in A=\"x");
        assert_eq!(error("LABEL a b"), "line 2: LABEL expects KEY=VALUE pairs, got \"a\"");
    }

    #[test]
    fn expose_ports() {
        let ports = ["80", "53/udp", "8080/TCP", "$PORT"].map(String::from).to_vec();
        assert_eq!(last("EXPOSE 80 53/udp 8080/TCP $PORT").unwrap(), Kind::Expose(ports));
        for bad in ["0", "65536", "http", "80/sctp", "-1", "80-90"] {
            let message = error(&format!("EXPOSE {bad}"));
            assert!(message.starts_with(&format!("line 2: EXPOSE: invalid port \"{bad}\"")), "{message}");
        }
        assert_eq!(error("EXPOSE"), "line 2: EXPOSE requires at least one argument");
    }

    #[test]
    fn single_argument_instructions() {
        assert_eq!(last("WORKDIR /a").unwrap(), Kind::Workdir("/a".into()));
        assert_eq!(error("WORKDIR /a /b"), "line 2: WORKDIR requires exactly one argument");
        assert_eq!(last("USER app:staff").unwrap(), Kind::User("app:staff".into()));
        assert_eq!(error("USER :staff"), "line 2: USER expects user[:group], got \":staff\"");
        assert_eq!(last("ARG V=1").unwrap(), Kind::Arg { name: "V".into(), default: Some("1".into()) });
        assert_eq!(error("ARG A B"), "line 2: ARG requires exactly one argument");
        assert_eq!(error("FROM a"), "line 2: multi-stage builds (a second FROM) are not supported");
    }
}
