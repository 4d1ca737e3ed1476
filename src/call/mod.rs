//! Calls: the B2BUA core (sans-IO).
