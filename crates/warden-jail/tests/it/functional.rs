//! Functional behaviour: streams, exit statuses, runtimes, limits and set-up errors.
