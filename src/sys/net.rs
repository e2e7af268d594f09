//! (filled in by the program that needs it)
