//! runit and runit-init (being written).
use crate::Args;

pub fn runit_main(_args: Args) -> i32 {
    111
}

pub fn runit_init_main(_args: Args) -> i32 {
    111
}
