//! `rib`: placeholder; see the workspace README.
