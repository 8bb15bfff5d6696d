//! Progress of a long operator command (a dead-letter replay, `verify`, an import, an analytics
//! rebuild): a bar on a terminal, plain lines when stderr is not one (a log file, CI, `kubectl
//! logs`), so the output is readable either way. One type, so every command shows it alike.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a plain line is written when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    label: String,
    total: Option<u64>,
    done: u64,
    started: Instant,
    out: Output,
}

enum Output {
    Bar(ProgressBar),
    Plain { last: Instant },
}

impl Progress {
    /// `total` is the number of items when known (a bar with a percentage and an ETA), or
    /// `None` (a spinner with a count).
    pub fn new(label: &str, total: Option<u64>) -> Self {
        let out = if std::io::stderr().is_terminal() {
            Output::Bar(bar(label, total))
        } else {
            Output::Plain { last: Instant::now() }
        };
        Self { label: label.to_owned(), total, done: 0, started: Instant::now(), out }
    }

    /// Adds `n` items done.
    pub fn inc(&mut self, n: u64) {
        self.done += n;
        match &mut self.out {
            Output::Bar(bar) => bar.inc(n),
            Output::Plain { last } => {
                if last.elapsed() >= PLAIN_EVERY {
                    *last = Instant::now();
                    eprintln!("{}", self.line());
                }
            }
        }
    }

    /// Items done so far.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Ends the bar (or writes the last plain line) with `message`, e.g. "3 replayed, 1 parked".
    pub fn finish(self, message: &str) {
        match &self.out {
            Output::Bar(bar) => bar.finish_with_message(message.to_owned()),
            Output::Plain { .. } => eprintln!("{}: {message}", self.line()),
        }
    }

    fn line(&self) -> String {
        let seconds = self.started.elapsed().as_secs_f64();
        match self.total {
            Some(total) => format!("{}: {}/{} in {seconds:.1} s", self.label, self.done, total),
            None => format!("{}: {} in {seconds:.1} s", self.label, self.done),
        }
    }
}

fn bar(label: &str, total: Option<u64>) -> ProgressBar {
    let (bar, template) = match total {
        Some(total) => (ProgressBar::new(total), "{prefix} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta}) {msg}"),
        None => (ProgressBar::new_spinner(), "{prefix} {spinner} {pos} ({per_sec}) {msg}"),
    };
    // The templates are constants: a bad one is a programming error caught by the test below.
    bar.set_style(ProgressStyle::with_template(template).expect("constant template").progress_chars("=> "));
    bar.set_prefix(label.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_bar_templates_parse() {
        bar("known", Some(10)).finish();
        bar("unknown", None).finish();
    }

    #[test]
    fn counts_what_it_is_told_whatever_the_output() {
        let mut progress = Progress::new("test", Some(5));
        progress.inc(2);
        progress.inc(3);
        assert_eq!(progress.done(), 5);
        assert_eq!(
            Progress { out: Output::Plain { last: Instant::now() }, ..progress }.line().split(" in ").next(),
            Some("test: 5/5")
        );
    }
}
