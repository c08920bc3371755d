//! `bgp-fsm`: placeholder; see the workspace README.
