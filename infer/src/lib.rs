//! Type inference shared by the file connectors: being written (issue 8).
