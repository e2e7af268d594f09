//! chpst (being written).
use crate::Args;

pub fn main(_args: Args) -> i32 {
    111
}
