//! Where log lines go: a shared buffer that a thread of its own writes to stdout.
//!
//! A busy api logs a line per response. Written to stdout as it came (stdout flushes at every
//! newline), each line was a write(2) and a wake-up of whoever reads the pipe; handed one by one
//! to a writer thread over a channel (tracing-appender), each line also woke that thread, which
//! then wrote the one line it found. Under `wrk` that thread and those wake-ups were ~15 % of
//! the api's CPU (`perf`, issue 14). Here a line is appended to a buffer under a mutex; the
//! thread is woken only when the buffer goes from empty to not empty and it is asleep, writes
//! everything there is in one write(2), and then pauses [`PAUSE`] before the next write, so
//! that under load lines gather into one write per pause. A quiet process still writes each
//! line at once.
//!
//! Never lossy: a producer that finds [`MAX_PENDING`] bytes waiting blocks until the thread has
//! taken them. [`Guard`]'s drop writes what is left and stops the thread.

use std::{
    io::{self, Write},
    mem,
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread,
    time::Duration,
};

use tracing_subscriber::fmt::MakeWriter;

/// The thread's pause after a write: how long lines may gather, at most, before the next.
const PAUSE: Duration = Duration::from_millis(5);
/// A producer waits while this much is pending (a stuck stdout must not grow memory forever).
const MAX_PENDING: usize = 8 * 1024 * 1024;

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// The thread waits for lines (so a producer that adds the first must wake it).
    idle: bool,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// The thread waits on it for lines; producers wait on it for room.
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `MakeWriter` for the fmt layer: each line is one `write_all` (the layer formats a line,
/// then writes it whole), appended to the buffer.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Stops the writer thread when dropped, after it has written every line.
pub struct Guard {
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
}

/// Starts the thread that writes to `out`.
pub fn spawn<W: Write + Send + 'static>(out: W) -> (LogWriter, Guard) {
    let shared = Arc::new(Shared::default());
    let thread = thread::Builder::new()
        .name("log-writer".into())
        .spawn({
            let shared = shared.clone();
            move || run(&shared, out)
        })
        .expect("spawn the log writer thread");
    (LogWriter { shared: shared.clone() }, Guard { shared, thread: Some(thread) })
}

fn run<W: Write>(shared: &Shared, mut out: W) {
    let mut spare = Vec::new();
    loop {
        let closed = {
            let mut pending = shared.lock();
            while pending.bytes.is_empty() && !pending.closed {
                pending.idle = true;
                pending = shared.changed.wait(pending).unwrap_or_else(|e| e.into_inner());
            }
            pending.idle = false;
            mem::swap(&mut pending.bytes, &mut spare);
            pending.closed
        };
        // Producers waiting for room may go on.
        shared.changed.notify_all();
        // A failed write (stdout closed) drops the lines: there is nowhere else to put them.
        let _ = out.write_all(&spare).and_then(|()| out.flush());
        spare.clear();
        if closed {
            return;
        }
        thread::sleep(PAUSE);
    }
}

impl Write for LogWriter {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut pending = self.shared.lock();
        while pending.bytes.len() >= MAX_PENDING && !pending.closed {
            pending = self.shared.changed.wait(pending).unwrap_or_else(|e| e.into_inner());
        }
        pending.bytes.extend_from_slice(line);
        if pending.idle {
            pending.idle = false;
            drop(pending);
            self.shared.changed.notify_all();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        self.clone()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` the test can read back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_from_every_thread_is_written_whole_and_once_by_the_time_the_guard_is_dropped() {
        let sink = Sink::default();
        let (writer, guard) = spawn(sink.clone());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut w = writer.clone();
                thread::spawn(move || {
                    for i in 0..5000 {
                        w.write_all(format!("thread {t} line {i}\n").as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 20_000);
        for t in 0..4 {
            let mine: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with(&format!("thread {t} "))).collect();
            let expected: Vec<String> = (0..5000).map(|i| format!("thread {t} line {i}")).collect();
            assert_eq!(mine, expected, "thread {t}'s lines, in its order");
        }
    }

    #[test]
    fn a_line_on_a_quiet_writer_is_written_without_waiting_for_more() {
        let sink = Sink::default();
        let (mut writer, _guard) = spawn(sink.clone());
        writer.write_all(b"alone\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while sink.0.lock().unwrap().as_slice() != b"alone\n" {
            assert!(std::time::Instant::now() < deadline, "the line was not written");
            thread::sleep(Duration::from_millis(1));
        }
    }
}
