//! The ruler: evaluates recording and alerting rules and notifies
//! Alertmanager. Not built yet (its own issue).
