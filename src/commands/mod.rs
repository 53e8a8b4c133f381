//! One file per verb: parse, load, call the library, add context.

pub mod boot;
