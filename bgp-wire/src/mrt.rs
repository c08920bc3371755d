//! MRT records (RFC 6396): BGP4MP / BGP4MP_ET messages and TABLE_DUMP_V2 RIBs.
