//! pgoutput logical replication messages (protocol versions 1-4), decoded without I/O.
