//! `route-server`: placeholder; see the workspace README.
