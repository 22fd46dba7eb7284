//! Route × principal matrix (to be written).
