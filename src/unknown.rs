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
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The index of `provider`/`model`, added if new with the names `suggest` gives for it.
    pub(crate) fn intern(
        &self,
        provider: &str,
        model: &str,
        suggest: impl FnOnce() -> Vec<String>,
    ) -> u32 {
        let mut inner = self.lock();
        if let Some(i) = inner.index.get(provider).and_then(|m| m.get(model)) {
            return *i;
        }
        if inner.names.len() > MAX_UNKNOWN_MODELS {
            return 0;
        }
        let i = inner.names.len() as u32;
        inner.names.push((provider.into(), model.into()));
        inner.suggestions.push(suggest().into());
        inner
            .index
            .entry(provider.into())
            .or_default()
            .insert(model.into(), i);
        i
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
        let a = u.intern("acme", "x", Vec::new);
        assert_eq!(u.intern("acme", "x", Vec::new), a);
        assert_ne!(u.intern("acme", "y", Vec::new), a);
        assert_eq!(&*u.get(a).1, "x");
        for i in 0..MAX_UNKNOWN_MODELS + 5 {
            u.intern("p", &i.to_string(), Vec::new);
        }
        let over = u.intern("p", "one-too-many", Vec::new);
        assert_eq!(over, 0);
        assert_eq!(&*u.get(over).1, OVERFLOW_NAMES.1);
    }
}
