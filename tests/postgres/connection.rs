//! The replication protocol client against a real server: auth, TLS, replication commands.
