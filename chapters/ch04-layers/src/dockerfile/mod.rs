//! The Dockerfile subset this chapter builds: the syntax tree the parser produces, and the
//! modules that produce it.
//!
//! Book page: "Chapter 4: layers". Parsing is syntax only: nothing runs and no variable is
//! expanded here, because `$VAR` in an instruction means the value of `ARG`/`ENV` at that point
//! of the build, which the builder tracks as it goes. Docker's parser (BuildKit's
//! `frontend/dockerfile/parser`) also handles parser directives, heredocs (`RUN <<EOF`),
//! multi-stage builds and instructions this subset leaves out (`ADD`, `VOLUME`, `HEALTHCHECK`...).
//!
//! # Layout
//! - [`parse`] (`parse.rs`): lines, continuations and comments, then one function per instruction.
//! - [`expand`] (`expand.rs`): quote-aware word splitting and `$VAR` substitution.

pub mod expand;
mod parse;

pub use expand::{expand_word, split_words};
pub use parse::parse;

/// A parsed Dockerfile: its instructions in file order, comments and blank lines gone.
#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    pub instructions: Vec<Instruction>,
}

/// One instruction, which may have spanned several lines of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// The 1-based line the instruction starts on, for error messages.
    pub line: usize,
    /// The canonical text: the keyword in upper case, one space, the arguments as written, with
    /// continuation lines joined by single spaces. The image history shows it, and the build
    /// cache keys on it, so reformatting a continuation never changes it but editing a word does.
    pub text: String,
    pub kind: Kind,
}

/// What an instruction says. Strings are raw (quotes and `$VAR` kept as written) except the
/// JSON strings of an exec-form command, which are final, as in docker.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    From {
        image: String,
        alias: Option<String>,
    },
    Run(Command),
    Cmd(Command),
    Entrypoint(Command),
    /// `chown` is the raw `user[:group]` of `--chown=`. Docker expands variables in every COPY
    /// argument, JSON form included, so the caller expands all of these.
    Copy {
        sources: Vec<String>,
        dest: String,
        chown: Option<String>,
    },
    Workdir(String),
    /// `(key, raw value)`; in the legacy form `ENV KEY rest of line` the value is the rest of
    /// the line, still to be expanded as one word.
    Env(Vec<(String, String)>),
    Arg {
        name: String,
        default: Option<String>,
    },
    Label(Vec<(String, String)>),
    /// Each `PORT` or `PORT/proto` as written (a `$VAR` port is only checked after expansion).
    Expose(Vec<String>),
    User(String),
}

/// The two forms of `RUN`, `CMD` and `ENTRYPOINT`.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// The text as written; the caller runs it as `/bin/sh -c TEXT`.
    Shell(String),
    /// A JSON array, run as is with no shell (so no `$VAR` expansion either).
    Exec(Vec<String>),
}

/// A syntax error, printed by the caller as `Dockerfile:LINE: message`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const LECTURE: &str = "\
FROM base
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt \\
    && echo done
COPY src/ ./src/
EXPOSE 8000
RUN adduser -D app
USER app
CMD [\"python\", \"src/main.py\"]
";

    #[test]
    fn parses_the_lecture_dockerfile() {
        let file = parse(LECTURE).unwrap();
        let lines: Vec<usize> = file.instructions.iter().map(|i| i.line).collect();
        assert_eq!(lines, [1, 2, 3, 4, 6, 7, 8, 9, 10]);
        let run = &file.instructions[3];
        assert_eq!(run.text, "RUN pip install -r requirements.txt && echo done");
        assert_eq!(
            run.kind,
            Kind::Run(Command::Shell("pip install -r requirements.txt && echo done".into()))
        );
        let kinds: Vec<Kind> = file.instructions.iter().map(|i| i.kind.clone()).collect();
        assert_eq!(kinds[0], Kind::From { image: "base".into(), alias: None });
        assert_eq!(kinds[4], Kind::Copy { sources: vec!["src/".into()], dest: "./src/".into(), chown: None });
        assert_eq!(kinds[6], Kind::Run(Command::Shell("adduser -D app".into())));
        assert_eq!(kinds[7], Kind::User("app".into()));
        assert_eq!(kinds[8], Kind::Cmd(Command::Exec(vec!["python".into(), "src/main.py".into()])));
        assert_eq!(file.instructions[8].text, "CMD [\"python\", \"src/main.py\"]");
    }

    #[test]
    fn from_must_come_first_after_args() {
        let file = parse("# escape=`\nARG TAG=1\n  from base:$TAG as build\n").unwrap();
        assert_eq!(file.instructions[1].text, "FROM base:$TAG as build");
        assert_eq!(
            file.instructions[1].kind,
            Kind::From { image: "base:$TAG".into(), alias: Some("build".into()) }
        );
        let err = parse("ARG A\nRUN x\nFROM base").unwrap_err();
        assert_eq!(err.to_string(), "line 2: FROM must come first (only ARG may precede it)");
        assert_eq!(parse("ARG A\n").unwrap_err().to_string(), "line 1: no FROM instruction");
        assert_eq!(parse("").unwrap_err().to_string(), "line 1: no FROM instruction");
        let err = parse("FROM a\nRUN x\nFROM b AS c").unwrap_err();
        assert_eq!(err.to_string(), "line 3: multi-stage builds (a second FROM) are not supported");
        let err = parse("FROM a b").unwrap_err().to_string();
        assert_eq!(err, "line 1: FROM requires one argument, or three: FROM image [AS name]");
        assert_eq!(
            parse("FROM --platform=x a").unwrap_err().message,
            "FROM flag --platform is not supported here"
        );
    }
}
