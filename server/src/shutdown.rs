//! One shutdown signal for every listener: SIGTERM or SIGINT flips it once.

use tokio::sync::watch;

/// Sender side, held by the task that waits for signals.
#[derive(Debug)]
pub struct Trigger(watch::Sender<bool>);

/// Receiver side; clone one per listener.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A connected trigger and signal.
pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Shutdown(rx))
}

impl Trigger {
    /// Tells every listener to stop accepting and drain.
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }
}

impl Shutdown {
    /// Resolves once shutdown has been triggered (at once if it already was).
    pub async fn wait(mut self) {
        // An error means the trigger is gone, which only happens at process exit:
        // treat it as a shutdown too.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// SIGTERM and SIGINT, caught from the moment [`Signals::install`] returns: a signal
/// that arrives before then kills the process with the default action, so install
/// before telling anyone the server is up.
#[derive(Debug)]
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts catching both signals.
    pub fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves on the next SIGTERM or SIGINT.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
