//! Metric handles registered once per label set.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{PoisonError, RwLock},
};

/// The handles of one metric, by label values, each registered with the recorder the first
/// time its labels are seen. `counter!` and `histogram!` register on every call, and the
/// Prometheus recorder copies the key (name and labels) each time, so a request paid one copy
/// and look-up in the recorder's registry per metric it touched; a look-up here is a hash of
/// the label values. Label sets are bounded (see the module above), so the map is too.
///
/// Creating one installs the recorder first ([`super::handle`]): a handle registered before
/// it would be a no-op for the life of the process.
pub(crate) struct Handles<K, H> {
    by_labels: RwLock<HashMap<K, H>>,
}

impl<K: Hash + Eq + Clone, H: Clone> Handles<K, H> {
    pub(crate) fn new() -> Self {
        super::handle();
        Handles {
            by_labels: RwLock::new(HashMap::new()),
        }
    }

    /// The handle of `labels`, registered with `register` the first time.
    pub(crate) fn get(&self, labels: &K, register: impl FnOnce() -> H) -> H {
        let known = self
            .by_labels
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(labels)
            .cloned();
        if let Some(handle) = known {
            return handle;
        }
        let handle = register();
        self.by_labels
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(labels.clone())
            .or_insert(handle)
            .clone()
    }
}

impl<K: Hash + Eq + Clone, H: Clone> Default for Handles<K, H> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_label_set_is_registered_once() {
        let handles: Handles<(&str, u16), metrics::Counter> = Handles::new();
        let registered = std::cell::Cell::new(0);
        let register = || {
            registered.set(registered.get() + 1);
            metrics::counter!("baton_test_handles_total")
        };
        handles.get(&("a", 1), register).increment(1);
        handles.get(&("a", 1), register).increment(1);
        handles.get(&("a", 2), register).increment(1);
        assert_eq!(registered.get(), 2);
    }
}
