//! The IO shell: sockets, tasks, clock.
