//! Support shared by the integration tests (`mod common;` in each test file).
#![allow(dead_code)]

pub mod netns;
