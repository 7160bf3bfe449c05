//! Names of providers and models the catalog does not know, interned so that events can carry an index.

use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;

/// Distinct unknown provider/model pairs a meter remembers; further ones are recorded under
/// [`OVERFLOW_NAMES`].
pub(crate) const MAX_UNKNOWN_MODELS: usize = 10_000;

/// Provider and model recorded for unknown usage past [`MAX_UNKNOWN_MODELS`].
pub(crate) const OVERFLOW_NAMES: (&str, &str) = ("unknown", "too-many-unknown-models");

#[derive(Default)]
struct Inner {
    index: FxHashMap<Box<str>, FxHashMap<Box<str>, u32>>,
    names: Vec<(Arc<str>, Arc<str>)>,
    /// The catalog's nearest names to each, computed once when the pair is first seen.
    suggestions: Vec<Arc<[String]>>,
}

/// The meter's table of unknown provider/model names (a rare path: it locks, and allocates the first
/// time a pair is seen).
pub(crate) struct UnknownModels {
    inner: Mutex<Inner>,
}

impl UnknownModels {
    pub(crate) fn new() -> Self {
        let mut inner = Inner::default();
        inner
            .names
            .push((OVERFLOW_NAMES.0.into(), OVERFLOW_NAMES.1.into()));
        inner.suggestions.push(Arc::from([]));
        UnknownModels {
            inner: Mutex::new(inner),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        crate::base::sync::lock(&self.inner)
    }

    /// The index of `provider`/`model`, and whether it was added now (then without suggestions: see
    /// [`set_suggestions`](Self::set_suggestions)). Holds the lock for a hash lookup, and on first sight
    /// for copying the names; never for computing suggestions.
    pub(crate) fn intern(&self, provider: &str, model: &str) -> (u32, bool) {
        let mut inner = self.lock();
        if let Some(i) = inner.index.get(provider).and_then(|m| m.get(model)) {
            return (*i, false);
        }
        if inner.names.len() > MAX_UNKNOWN_MODELS {
            return (0, false);
        }
        let i = inner.names.len() as u32;
        inner.names.push((provider.into(), model.into()));
        inner.suggestions.push(Arc::from([]));
        inner
            .index
            .entry(provider.into())
            .or_default()
            .insert(model.into(), i);
        (i, true)
    }

    /// Stores the catalog names suggested for an index.
    pub(crate) fn set_suggestions(&self, index: u32, names: Vec<String>) {
        if let Some(slot) = self.lock().suggestions.get_mut(index as usize) {
            *slot = names.into();
        }
    }

    /// The suggestions stored with an index.
    pub(crate) fn suggestions(&self, index: u32) -> Arc<[String]> {
        let inner = self.lock();
        inner
            .suggestions
            .get(index as usize)
            .map_or_else(|| Arc::from([]), Arc::clone)
    }

    /// The names behind an index.
    pub(crate) fn get(&self, index: u32) -> (Arc<str>, Arc<str>) {
        let inner = self.lock();
        let (p, m) = inner.names.get(index as usize).unwrap_or(&inner.names[0]);
        (Arc::clone(p), Arc::clone(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_bounded() {
        let u = UnknownModels::new();
        let (a, new) = u.intern("acme", "x");
        assert!(new);
        assert_eq!(u.intern("acme", "x"), (a, false));
        assert_ne!(u.intern("acme", "y").0, a);
        assert_eq!(&*u.get(a).1, "x");
        u.set_suggestions(a, vec!["acme/z".into()]);
        assert_eq!(&*u.suggestions(a), ["acme/z".to_string()]);
        for i in 0..MAX_UNKNOWN_MODELS + 5 {
            u.intern("p", &i.to_string());
        }
        let (over, _) = u.intern("p", "one-too-many");
        assert_eq!(over, 0);
        assert_eq!(&*u.get(over).1, OVERFLOW_NAMES.1);
    }
}
