//! The runvm VMM.
