//! Who hears of a store's events: `std::sync::mpsc` channels and callbacks, shared by the
//! thread-safe handles ([`SharedStore`](crate::SharedStore), and `PgStore`). Events are delivered
//! after the store's lock is released; a channel whose receiver is gone is dropped.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, MutexGuard};

use rewind_core::Event;

type Callback = Box<dyn Fn(&Event) + Send + Sync>;

enum Subscriber {
    Channel(Sender<Event>),
    Callback(Callback),
}

/// The subscribers of one store.
#[derive(Default)]
pub(crate) struct Subscribers(Mutex<Vec<Subscriber>>);

impl Subscribers {
    fn lock(&self) -> MutexGuard<'_, Vec<Subscriber>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A channel that receives every event from now on.
    pub(crate) fn channel(&self) -> Receiver<Event> {
        let (tx, rx) = mpsc::channel();
        self.lock().push(Subscriber::Channel(tx));
        rx
    }

    /// Calls `callback` with every event from now on.
    pub(crate) fn callback(&self, callback: impl Fn(&Event) + Send + Sync + 'static) {
        self.lock().push(Subscriber::Callback(Box::new(callback)));
    }

    /// Hands `events` to every subscriber, in order.
    pub(crate) fn deliver(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        self.lock().retain(|sub| match sub {
            Subscriber::Channel(tx) => events.iter().all(|e| tx.send(e.clone()).is_ok()),
            Subscriber::Callback(f) => {
                events.iter().for_each(f);
                true
            }
        });
    }
}
